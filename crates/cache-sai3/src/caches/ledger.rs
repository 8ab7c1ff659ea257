//! The object ledger, compact: for a regular dataset the config says what every object is
//! (name, size, placement), so the ledger stores only *which indices exist* and the
//! *exceptions*.
//!
//! * Presence: per pool a roaring bitmap of the present indices, stored in chunks of
//!   [`PRESENCE_CHUNK`] indices (one roaring container each), so a checkpoint rewrites only the
//!   chunks that changed. Each chunk carries the time of its last change (times per checkpoint,
//!   not per object). Sizes come from the seeds.
//! * Exceptions: a row per object that should exist but does not: a failed create with the
//!   store's reason, a deletion or a wrong size found by a LIST or verify.
//! * In flight: the indices whose create had started at the last checkpoint (a small bitmap
//!   per pool). They are absent from the presence bitmap, so a resume writes them again (a PUT
//!   is idempotent); the bitmap only lets a report say how many were interrupted.
//!
//! A [`LedgerWriter`] collects changes in one batch and commits them with the changed chunks at
//! each checkpoint, so after any crash the stored chunks, exceptions and in-flight set are one
//! checkpoint's state.
//!
//! ```
//! # let tmp = tempfile::tempdir()?;
//! # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
//! # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
//! # let dir = tmp.path().join("cache");
//! # type Db = cache_redb::RedbDatabase;
//! # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
//! use cache_core::Durability;
//! let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
//! for i in 0..4 {
//!     ledger.started(0, i);
//! }
//! ledger.created(0, 0, 1_000)?;
//! ledger.created(0, 1, 1_000)?;
//! ledger.deleted(0, 2, 64, 1_000)?;
//! ledger.checkpoint(Durability::Flushed)?; // one atomic batch
//! drop(ledger);
//! assert_eq!(cache.presence(&dataset, 0)?.iter().collect::<Vec<_>>(), [0, 1]);
//! assert_eq!(cache.exceptions(&dataset, 0)?.len(), 1); // index 2, deleted
//! assert_eq!(cache.in_flight(&dataset, 0)?.iter().collect::<Vec<_>>(), [3]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeSet;

use cache_core::{Database, DatasetId, Direction, Durability, WriteBatch};
use roaring::RoaringTreemap;

use super::endpoint::EndpointCache;
use super::keys;
use crate::dataset::Dataset;
use crate::error::Result;
use crate::records::{LedgerEntry, LedgerException, ObjectState, PresenceChunk};

/// Indices per presence chunk (a power of two: one roaring container, at most 8 KiB).
///
/// ```
/// use cache_sai3::caches::PRESENCE_CHUNK;
/// assert!(PRESENCE_CHUNK.is_power_of_two());
/// assert_eq!(PRESENCE_CHUNK, 65_536); // one roaring container
/// ```
pub const PRESENCE_CHUNK: u64 = 1 << 16;

/// The chunk holding index `i`.
pub(super) fn chunk_of(i: u64) -> u64 {
    i / PRESENCE_CHUNK
}

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

/// The indices of `map` in chunk `chunk`.
pub(super) fn chunk_bits(map: &RoaringTreemap, chunk: u64) -> RoaringTreemap {
    let start = chunk * PRESENCE_CHUNK;
    let mut range = RoaringTreemap::new();
    range.insert_range(start..start + PRESENCE_CHUNK);
    range & map
}

impl<D: Database> EndpointCache<D> {
    /// The stored presence bitmap of `(dataset, pool)`: every present index (empty if none).
    ///
    /// # Errors
    /// Storage failures; `Corrupt` when a chunk does not decode or holds indices outside its
    /// range.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// # let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
    /// ledger.created(0, 1, 1_000)?;
    /// ledger.created(0, 6, 1_000)?;
    /// assert!(cache.presence(&dataset, 0)?.is_empty(), "nothing committed yet");
    /// ledger.checkpoint(cache_core::Durability::Flushed)?;
    /// assert_eq!(cache.presence(&dataset, 0)?.iter().collect::<Vec<_>>(), [1, 6]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn presence(&self, dataset: &Dataset, pool: u16) -> Result<RoaringTreemap> {
        let prefix = keys::pool_prefix(keys::PRESENCE_CHUNK, dataset.hash.dataset_id(), pool);
        let mut out = RoaringTreemap::new();
        for item in self.objects.prefix(&prefix, Direction::Forward)? {
            let (k, v) = item?;
            let (_, _, chunk) = keys::decode_object(keys::PRESENCE_CHUNK, &k)?;
            let c: PresenceChunk = cache_core::record::decode(self.objects.name(), &k, &v)?;
            let bits = decode_bitmap(self.objects.name(), &k, &c.bitmap)?;
            let inside = |i: Option<u64>| i.is_none_or(|i| chunk_of(i) == chunk);
            if !inside(bits.min()) || !inside(bits.max()) {
                let why = format!("presence chunk {chunk} holds indices of another chunk");
                return Err(cache_core::Error::corrupt(self.objects.name(), &k, why).into());
            }
            out |= bits;
        }
        Ok(out)
    }

    /// The stored presence bitmaps of every pool of `dataset`, indexed by pool id (empty for ids
    /// of pools outside this view).
    ///
    /// # Errors
    /// As [`EndpointCache::presence`].
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// # let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
    /// ledger.created(0, 2, 1_000)?;
    /// ledger.checkpoint(cache_core::Durability::Flushed)?;
    /// let all = cache.presence_all(&dataset)?;
    /// assert_eq!(all.len(), dataset.pool_id_limit());
    /// assert!(all[0].contains(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn presence_all(&self, dataset: &Dataset) -> Result<Vec<RoaringTreemap>> {
        let mut all = vec![RoaringTreemap::new(); dataset.pool_id_limit()];
        for p in &dataset.pools {
            all[p.id as usize] = self.presence(dataset, p.id)?;
        }
        Ok(all)
    }

    /// What the ledger says of one object: its exception if it has one, else `Created` with
    /// `rule_size` (the size the dataset's rule gives it) at its chunk's time when present,
    /// else nothing (planned).
    ///
    /// # Errors
    /// Storage failures, or a record that fails verification.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// # let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
    /// use cache_sai3::records::{LedgerEntry, ObjectState};
    /// ledger.created(0, 3, 1_000)?;
    /// ledger.deleted(0, 5, 64, 2_000)?;
    /// ledger.checkpoint(cache_core::Durability::Flushed)?;
    /// // Times are per chunk: the time of its last change.
    /// let created = LedgerEntry { state: ObjectState::Created, size: 64, at_ms: 2_000 };
    /// assert_eq!(cache.entry(&dataset, 0, 3, 64)?, Some(created));
    /// let deleted = cache.entry(&dataset, 0, 5, 64)?.expect("an exception");
    /// assert_eq!(deleted.state, ObjectState::Deleted);
    /// assert_eq!(cache.entry(&dataset, 0, 7, 64)?, None); // planned
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn entry(
        &self,
        dataset: &Dataset,
        pool: u16,
        index: u64,
        rule_size: u64,
    ) -> Result<Option<LedgerEntry>> {
        let ds = dataset.hash.dataset_id();
        let key = keys::per_object(keys::EXCEPTION, ds, pool, index);
        if let Some(e) = self.objects.get_record::<LedgerException>(&key)? {
            return Ok(Some(e.entry()));
        }
        let key = keys::per_object(keys::PRESENCE_CHUNK, ds, pool, chunk_of(index));
        let Some(c) = self.objects.get_record::<PresenceChunk>(&key)? else {
            return Ok(None);
        };
        let bits = decode_bitmap(self.objects.name(), &key, &c.bitmap)?;
        Ok(bits.contains(index).then_some(LedgerEntry {
            state: ObjectState::Created,
            size: rule_size,
            at_ms: c.at_ms,
        }))
    }

    /// Every exception of `(dataset, pool)`, in index order.
    ///
    /// # Errors
    /// Storage failures, or a key or record that fails verification.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// # let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
    /// use cache_sai3::records::{LedgerException, ObjectState};
    /// let failed = LedgerException {
    ///     state: ObjectState::Failed,
    ///     size: 64,
    ///     at_ms: 1_000,
    ///     reason: "503 Slow Down".into(),
    /// };
    /// ledger.absent(0, 4, &failed)?;
    /// ledger.deleted(0, 1, 64, 1_000)?;
    /// ledger.checkpoint(cache_core::Durability::Flushed)?;
    /// let found = cache.exceptions(&dataset, 0)?;
    /// assert_eq!(found.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1, 4]); // index order
    /// assert_eq!(found[1].1, failed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exceptions(&self, dataset: &Dataset, pool: u16) -> Result<Vec<(u64, LedgerException)>> {
        let prefix = keys::pool_prefix(keys::EXCEPTION, dataset.hash.dataset_id(), pool);
        let mut out = Vec::new();
        for item in self.objects.prefix(&prefix, Direction::Forward)? {
            let (k, v) = item?;
            let (_, _, index) = keys::decode_object(keys::EXCEPTION, &k)?;
            out.push((
                index,
                cache_core::record::decode(self.objects.name(), &k, &v)?,
            ));
        }
        Ok(out)
    }

    /// The indices of `(dataset, pool)` whose create had started but not ended at the last
    /// checkpoint (non-empty after a prepare was killed).
    ///
    /// # Errors
    /// Storage failures; `Corrupt` when the stored bitmap does not decode.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// # let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
    /// ledger.started(0, 6);
    /// ledger.started(0, 7);
    /// ledger.created(0, 7, 1_000)?;
    /// ledger.checkpoint(cache_core::Durability::Flushed)?;
    /// // As a killed prepare leaves it: 6 had started, not ended.
    /// assert_eq!(cache.in_flight(&dataset, 0)?.iter().collect::<Vec<_>>(), [6]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_flight(&self, dataset: &Dataset, pool: u16) -> Result<RoaringTreemap> {
        let key = keys::per_pool(keys::IN_FLIGHT, dataset.hash.dataset_id(), pool);
        match self.objects.get(&key)? {
            None => Ok(RoaringTreemap::new()),
            Some(bytes) => Ok(decode_bitmap(self.objects.name(), &key, &bytes)?),
        }
    }

    /// A writer of `dataset`'s ledger whose bitmaps start as `present` (one per pool id, as
    /// read by [`EndpointCache::presence_all`]).
    ///
    /// # Errors
    /// Reading the stored exceptions (a writer clears those of objects it records present).
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// # {
    /// #     let mut first = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
    /// #     first.created(0, 0, 1_000)?;
    /// #     first.checkpoint(cache_core::Durability::Flushed)?;
    /// # }
    /// let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
    /// assert!(ledger.present(0).contains(0), "starts from what is stored");
    /// ledger.created(0, 1, 2_000)?;
    /// ledger.checkpoint(cache_core::Durability::Flushed)?;
    /// assert_eq!(cache.presence(&dataset, 0)?.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ledger_writer(
        &self,
        dataset: &Dataset,
        present: Vec<RoaringTreemap>,
    ) -> Result<LedgerWriter<'_, D>> {
        let mut excepted = vec![RoaringTreemap::new(); present.len()];
        let mut stale_in_flight = vec![false; present.len()];
        for p in dataset
            .pools
            .iter()
            .filter(|p| (p.id as usize) < present.len())
        {
            excepted[p.id as usize] = self
                .exceptions(dataset, p.id)?
                .into_iter()
                .map(|(i, _)| i)
                .collect();
            stale_in_flight[p.id as usize] = !self.in_flight(dataset, p.id)?.is_empty();
        }
        let mut writer = LedgerWriter::new(self, dataset.hash.dataset_id(), present, excepted);
        for (pool, stale) in writer.pools.iter_mut().zip(stale_in_flight) {
            // A killed run's in-flight set is cleared at the first checkpoint.
            pool.in_flight_dirty = stale;
        }
        Ok(writer)
    }
}

/// What a writer holds of one pool.
struct PoolLedger {
    present: RoaringTreemap,
    /// Chunks of `present` changed since the last checkpoint.
    dirty: BTreeSet<u64>,
    /// Indices with a stored exception row.
    excepted: RoaringTreemap,
    in_flight: RoaringTreemap,
    in_flight_dirty: bool,
}

/// Collects ledger changes of one dataset and commits them with the changed presence chunks at
/// checkpoints.
///
/// ```
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
/// # let dir = tmp.path().join("cache");
/// # type Db = cache_redb::RedbDatabase;
/// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
/// use cache_sai3::caches::LedgerWriter;
/// let present = cache.presence_all(&dataset)?;
/// let mut ledger: LedgerWriter<'_, _> = cache.ledger_writer(&dataset, present)?;
/// ledger.created(0, 0, 1_000)?;
/// assert_eq!(ledger.pending(), 1);
/// ledger.checkpoint(cache_core::Durability::Flushed)?;
/// assert_eq!(ledger.pending(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LedgerWriter<'c, D: Database> {
    cache: &'c EndpointCache<D>,
    dataset: DatasetId,
    pools: Vec<PoolLedger>,
    batch: D::Batch,
    pending: usize,
    /// Time of the latest change (the time of the chunks written at the next checkpoint).
    at_ms: u64,
}

impl<'c, D: Database> LedgerWriter<'c, D> {
    fn new(
        cache: &'c EndpointCache<D>,
        dataset: DatasetId,
        present: Vec<RoaringTreemap>,
        excepted: Vec<RoaringTreemap>,
    ) -> Self {
        let pools = present
            .into_iter()
            .zip(excepted)
            .map(|(present, excepted)| PoolLedger {
                present,
                dirty: BTreeSet::new(),
                excepted,
                in_flight: RoaringTreemap::new(),
                in_flight_dirty: false,
            })
            .collect();
        LedgerWriter {
            cache,
            dataset,
            pools,
            batch: cache.db.batch(),
            pending: 0,
            at_ms: 0,
        }
    }

    fn pool(&mut self, pool: u16) -> &mut PoolLedger {
        &mut self.pools[pool as usize]
    }

    /// Records that the create of `index` started (in flight until created or failed).
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// # let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
    /// ledger.started(0, 2);
    /// ledger.checkpoint(cache_core::Durability::Flushed)?;
    /// assert!(cache.in_flight(&dataset, 0)?.contains(2));
    /// assert!(!ledger.present(0).contains(2), "in flight is not present");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn started(&mut self, pool: u16, index: u64) {
        let p = self.pool(pool);
        p.in_flight_dirty |= p.in_flight.insert(index);
    }

    /// Records `index` as present, at `at_ms`; clears its exception, if any.
    ///
    /// # Errors
    /// Encoding into the batch.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// # let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
    /// ledger.deleted(0, 3, 64, 1_000)?;
    /// ledger.created(0, 3, 2_000)?; // written again: the exception goes
    /// ledger.checkpoint(cache_core::Durability::Flushed)?;
    /// assert!(cache.presence(&dataset, 0)?.contains(3));
    /// assert!(cache.exceptions(&dataset, 0)?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn created(&mut self, pool: u16, index: u64, at_ms: u64) -> Result<()> {
        self.at_ms = self.at_ms.max(at_ms);
        let p = self.pool(pool);
        p.in_flight_dirty |= p.in_flight.remove(index);
        if p.present.insert(index) {
            p.dirty.insert(chunk_of(index));
        }
        if p.excepted.remove(index) {
            let key = keys::per_object(keys::EXCEPTION, self.dataset, pool, index);
            self.cache.objects.remove_into(&mut self.batch, &key)?;
        }
        self.pending += 1;
        Ok(())
    }

    /// Records `index` as absent: `Failed` (a create failed) or `Deleted` (found missing or of
    /// the wrong size), with its size and why.
    ///
    /// # Errors
    /// Encoding into the batch.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// # let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
    /// use cache_sai3::records::{LedgerException, ObjectState};
    /// ledger.created(0, 4, 1_000)?;
    /// let wrong_size = LedgerException {
    ///     state: ObjectState::Deleted,
    ///     size: 3,
    ///     at_ms: 2_000,
    ///     reason: "size 3, expected 64".into(),
    /// };
    /// ledger.absent(0, 4, &wrong_size)?;
    /// ledger.checkpoint(cache_core::Durability::Flushed)?;
    /// assert!(!cache.presence(&dataset, 0)?.contains(4));
    /// assert_eq!(cache.exceptions(&dataset, 0)?, [(4, wrong_size)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn absent(&mut self, pool: u16, index: u64, exception: &LedgerException) -> Result<()> {
        self.at_ms = self.at_ms.max(exception.at_ms);
        let p = self.pool(pool);
        p.in_flight_dirty |= p.in_flight.remove(index);
        if p.present.remove(index) {
            p.dirty.insert(chunk_of(index));
        }
        p.excepted.insert(index);
        let key = keys::per_object(keys::EXCEPTION, self.dataset, pool, index);
        self.cache
            .objects
            .insert_record_into(&mut self.batch, &key, exception)?;
        self.pending += 1;
        Ok(())
    }

    /// [`LedgerWriter::absent`] as `Deleted` with no reason.
    ///
    /// # Errors
    /// Encoding into the batch.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// # let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
    /// use cache_sai3::records::ObjectState;
    /// ledger.deleted(0, 5, 64, 1_000)?;
    /// ledger.checkpoint(cache_core::Durability::Flushed)?;
    /// let (index, e) = &cache.exceptions(&dataset, 0)?[0];
    /// assert_eq!((*index, e.state, e.reason.as_str()), (5, ObjectState::Deleted, ""));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn deleted(&mut self, pool: u16, index: u64, size: u64, at_ms: u64) -> Result<()> {
        let exception = LedgerException {
            state: ObjectState::Deleted,
            size,
            at_ms,
            reason: String::new(),
        };
        self.absent(pool, index, &exception)
    }

    /// The presence bitmap of `pool` including uncommitted changes.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// # let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
    /// ledger.created(0, 7, 1_000)?;
    /// assert!(ledger.present(0).contains(7)); // before any checkpoint
    /// assert!(!cache.presence(&dataset, 0)?.contains(7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn present(&self, pool: u16) -> &RoaringTreemap {
        &self.pools[pool as usize].present
    }

    /// Changes recorded since the last checkpoint.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// # let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
    /// ledger.started(0, 1); // not a change of state
    /// ledger.created(0, 1, 1_000)?;
    /// ledger.deleted(0, 2, 64, 1_000)?;
    /// assert_eq!(ledger.pending(), 2);
    /// ledger.checkpoint(cache_core::Durability::Flushed)?;
    /// assert_eq!(ledger.pending(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Commits recorded changes, the changed presence chunks and in-flight sets atomically
    /// (nothing at all when nothing changed).
    ///
    /// # Errors
    /// Encoding or committing the batch.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// # let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
    /// use cache_core::Durability;
    /// ledger.created(0, 0, 1_000)?;
    /// ledger.created(0, 1, 1_000)?;
    /// ledger.checkpoint(Durability::Flushed)?;
    /// assert_eq!(cache.presence(&dataset, 0)?.len(), 2);
    /// ledger.checkpoint(Durability::Flushed)?; // nothing changed: writes nothing
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn checkpoint(&mut self, durability: Durability) -> Result<()> {
        let unchanged = |p: &PoolLedger| p.dirty.is_empty() && !p.in_flight_dirty;
        if self.pending == 0 && self.pools.iter().all(unchanged) {
            return Ok(());
        }
        for id in 0..self.pools.len() {
            self.write_chunks(id as u16)?;
            self.write_in_flight(id as u16)?;
        }
        let batch = std::mem::replace(&mut self.batch, self.cache.db.batch());
        batch.commit(durability)?;
        self.pending = 0;
        Ok(())
    }

    /// Puts the changed chunks of `pool` into the batch (an emptied chunk is removed).
    fn write_chunks(&mut self, pool: u16) -> Result<()> {
        let dirty = std::mem::take(&mut self.pools[pool as usize].dirty);
        for chunk in dirty {
            let key = keys::per_object(keys::PRESENCE_CHUNK, self.dataset, pool, chunk);
            let bits = chunk_bits(&self.pools[pool as usize].present, chunk);
            if bits.is_empty() {
                self.cache.objects.remove_into(&mut self.batch, &key)?;
                continue;
            }
            let record = PresenceChunk {
                at_ms: self.at_ms,
                bitmap: encode_bitmap(&bits),
            };
            self.cache
                .objects
                .insert_record_into(&mut self.batch, &key, &record)?;
        }
        Ok(())
    }

    /// Puts the in-flight set of `pool` into the batch when it changed (removed when empty).
    fn write_in_flight(&mut self, pool: u16) -> Result<()> {
        let p = &mut self.pools[pool as usize];
        if !std::mem::take(&mut p.in_flight_dirty) {
            return Ok(());
        }
        let key = keys::per_pool(keys::IN_FLIGHT, self.dataset, pool);
        if p.in_flight.is_empty() {
            self.cache.objects.remove_into(&mut self.batch, &key)?;
        } else {
            let bytes = encode_bitmap(&p.in_flight);
            self.cache
                .objects
                .insert_into(&mut self.batch, &key, &bytes)?;
        }
        Ok(())
    }

    /// The final bitmaps.
    pub(crate) fn into_present(self) -> Vec<RoaringTreemap> {
        self.pools.into_iter().map(|p| p.present).collect()
    }
}
