//! The object ledger: per (pool, index) the state, size and time of every object an endpoint
//! owns, plus a compact presence summary per pool (a roaring bitmap of `Created` indices) so
//! that "which indices are missing?" needs no scan.
//!
//! Entries and bitmaps change together: a [`LedgerWriter`] collects entries in one batch and
//! writes the updated bitmaps into the same batch at each checkpoint, so after any crash the
//! stored bitmap equals the set of stored `Created` entries.

use cache_core::{Database, DatasetId, Direction, Durability, WriteBatch};
use roaring::RoaringTreemap;

use super::endpoint::EndpointCache;
use super::keys;
use crate::dataset::Dataset;
use crate::error::Result;
use crate::records::{LedgerEntry, ObjectState};

/// Decodes a bitmap stored by [`encode_bitmap`].
pub(super) fn decode_bitmap(
    keyspace: &str,
    key: &[u8],
    bytes: &[u8],
) -> cache_core::Result<RoaringTreemap> {
    RoaringTreemap::deserialize_from(bytes)
        .map_err(|e| cache_core::Error::corrupt(keyspace, key, format!("presence bitmap: {e}")))
}

/// Serializes a bitmap (roaring's portable format).
pub(super) fn encode_bitmap(map: &RoaringTreemap) -> Vec<u8> {
    let mut out = Vec::with_capacity(map.serialized_size());
    // Writing into a Vec cannot fail.
    let _ = map.serialize_into(&mut out);
    out
}

impl<D: Database> EndpointCache<D> {
    /// The stored presence bitmap of `(dataset, pool)`: every `Created` index (empty if none).
    ///
    /// # Errors
    /// Storage failures; `Corrupt` when the stored bitmap does not decode.
    pub fn presence(&self, dataset: &Dataset, pool: u16) -> Result<RoaringTreemap> {
        let key = keys::per_pool(keys::PRESENCE, dataset.hash.dataset_id(), pool);
        match self.objects.get(&key)? {
            None => Ok(RoaringTreemap::new()),
            Some(bytes) => Ok(decode_bitmap(self.objects.name(), &key, &bytes)?),
        }
    }

    /// The stored presence bitmaps of every pool of `dataset`, indexed by pool id (empty for ids
    /// of pools outside this view).
    ///
    /// # Errors
    /// As [`EndpointCache::presence`].
    pub fn presence_all(&self, dataset: &Dataset) -> Result<Vec<RoaringTreemap>> {
        let mut all = vec![RoaringTreemap::new(); dataset.pool_id_limit()];
        for p in &dataset.pools {
            all[p.id as usize] = self.presence(dataset, p.id)?;
        }
        Ok(all)
    }

    /// The ledger entry of one object, if recorded.
    ///
    /// # Errors
    /// Storage failures, or an entry that fails verification.
    pub fn entry(&self, dataset: &Dataset, pool: u16, index: u64) -> Result<Option<LedgerEntry>> {
        let key = keys::per_object(keys::LEDGER_ENTRY, dataset.hash.dataset_id(), pool, index);
        Ok(self.objects.get_record(&key)?)
    }

    /// Every `Created` index of `(dataset, pool)` found by scanning the entries (the slow path
    /// the bitmap exists to avoid; used to verify it).
    ///
    /// # Errors
    /// Storage failures, or an entry or key that fails verification.
    pub fn scan_created(&self, dataset: &Dataset, pool: u16) -> Result<RoaringTreemap> {
        let prefix = keys::pool_prefix(keys::LEDGER_ENTRY, dataset.hash.dataset_id(), pool);
        let mut out = RoaringTreemap::new();
        for item in self.objects.prefix(&prefix, Direction::Forward)? {
            let (k, v) = item?;
            let (_, _, index) = keys::decode_object(keys::LEDGER_ENTRY, &k)?;
            let e: LedgerEntry = cache_core::record::decode(self.objects.name(), &k, &v)?;
            if e.state == ObjectState::Created {
                out.insert(index);
            }
        }
        Ok(out)
    }

    /// A writer of `dataset`'s ledger whose bitmaps start as `present` (one per pool id, as
    /// read by [`EndpointCache::presence_all`]).
    pub fn ledger_writer(
        &self,
        dataset: &Dataset,
        present: Vec<RoaringTreemap>,
    ) -> LedgerWriter<'_, D> {
        LedgerWriter::new(self, dataset.hash.dataset_id(), present)
    }
}

/// Collects ledger changes of one dataset and commits them with the bitmaps at checkpoints.
pub struct LedgerWriter<'c, D: Database> {
    cache: &'c EndpointCache<D>,
    dataset: DatasetId,
    present: Vec<RoaringTreemap>,
    dirty: Vec<bool>,
    batch: D::Batch,
    pending: usize,
}

impl<'c, D: Database> LedgerWriter<'c, D> {
    fn new(cache: &'c EndpointCache<D>, dataset: DatasetId, present: Vec<RoaringTreemap>) -> Self {
        let pools = present.len();
        LedgerWriter {
            cache,
            dataset,
            present,
            dirty: vec![false; pools],
            batch: cache.db.batch(),
            pending: 0,
        }
    }

    /// Records a state change (uncommitted until the next checkpoint).
    pub fn record(&mut self, pool: u16, index: u64, entry: LedgerEntry) -> Result<()> {
        let key = keys::per_object(keys::LEDGER_ENTRY, self.dataset, pool, index);
        self.cache
            .objects
            .insert_record_into(&mut self.batch, &key, &entry)?;
        let p = pool as usize;
        let changed = if entry.state == ObjectState::Created {
            self.present[p].insert(index)
        } else {
            self.present[p].remove(index)
        };
        self.dirty[p] |= changed;
        self.pending += 1;
        Ok(())
    }

    /// Records that object `index` of `pool` is in `state` with `size`, at `at_ms`.
    pub fn set(
        &mut self,
        pool: u16,
        index: u64,
        state: ObjectState,
        size: u64,
        at_ms: u64,
    ) -> Result<()> {
        self.record(pool, index, LedgerEntry { state, size, at_ms })
    }

    /// The presence bitmap of `pool` including uncommitted changes.
    pub fn present(&self, pool: u16) -> &RoaringTreemap {
        &self.present[pool as usize]
    }

    /// Changes recorded since the last checkpoint.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Commits recorded changes and the changed bitmaps atomically.
    pub fn checkpoint(&mut self, durability: Durability) -> Result<()> {
        for (p, dirty) in self.dirty.iter_mut().enumerate() {
            if *dirty {
                let key = keys::per_pool(keys::PRESENCE, self.dataset, p as u16);
                let bytes = encode_bitmap(&self.present[p]);
                self.cache
                    .objects
                    .insert_into(&mut self.batch, &key, &bytes)?;
                *dirty = false;
            }
        }
        let batch = std::mem::replace(&mut self.batch, self.cache.db.batch());
        batch.commit(durability)?;
        self.pending = 0;
        Ok(())
    }

    /// The final bitmaps.
    pub fn into_present(self) -> Vec<RoaringTreemap> {
        self.present
    }
}
