//! The listing cache of an endpoint: the last complete LIST of a dataset (with its time, for
//! the TTL) and the progress of an interrupted one. Both are [`Listing`]s to callers; the
//! stored records are this module's business.
//!
//! The progress of a LIST is saved incrementally: a small record (ranges done, offsets,
//! counts, a few sample keys) and the found indices in chunks of [`PRESENCE_CHUNK`] indices, of
//! which a save writes only those that grew since the last save ([`SavedChunks`]). A LIST only
//! adds indices, so a chunk changed exactly when its count did.
//!
//! ```
//! # let tmp = tempfile::tempdir()?;
//! # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
//! # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
//! # let dir = tmp.path().join("cache");
//! # type Db = cache_redb::RedbDatabase;
//! # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
//! use cache_sai3::caches::listings::SavedChunks;
//! use cache_sai3::listing::{ListProgress, Listing};
//! let mut progress = ListProgress {
//!     listing: Listing::empty(dataset.pool_id_limit()),
//!     started_ms: 1_000,
//!     ..ListProgress::default()
//! };
//! let mut saved = SavedChunks::default();
//! progress.listing.present[0].insert(3);
//! cache.save_list_progress(&dataset, &progress, &mut saved)?; // writes chunk 0
//! progress.listing.present[0].insert(5);
//! cache.save_list_progress(&dataset, &progress, &mut saved)?; // chunk 0 grew: again
//! assert_eq!(cache.list_progress(&dataset)?, Some(progress.clone()));
//! // The LIST finished: its result becomes the cached listing.
//! cache.store_listing(&dataset, &progress.listing, 2_000)?;
//! cache.clear_list_progress(&dataset)?;
//! assert_eq!(cache.cached_listing(&dataset)?, Some((progress.listing, 2_000)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;

use cache_core::{Database, Direction, Durability, WriteBatch};
use roaring::RoaringTreemap;

use super::endpoint::EndpointCache;
use super::keys;
use super::ledger::{PRESENCE_CHUNK, chunk_bits, chunk_of, decode_bitmap, encode_bitmap};
use crate::dataset::Dataset;
use crate::error::Result;
use crate::listing::{ListProgress, Listing};
use crate::records::{ListProgressRecord, ListingSnapshot};

impl<D: Database> EndpointCache<D> {
    /// Decodes stored per-pool bitmaps read under `key`.
    fn bitmaps(&self, key: &[u8], stored: &[Vec<u8>]) -> Result<Vec<roaring::RoaringTreemap>> {
        let name = self.listing_cache.name();
        Ok(stored
            .iter()
            .map(|b| decode_bitmap(name, key, b))
            .collect::<cache_core::Result<_>>()?)
    }

    /// The cached listing of `dataset` and when it was taken, if one is stored and was made
    /// for exactly this dataset.
    ///
    /// # Errors
    /// Storage failures, or a stored listing that fails verification.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// use cache_sai3::listing::Listing;
    /// assert_eq!(cache.cached_listing(&dataset)?, None);
    /// let mut listing = Listing::empty(dataset.pool_id_limit());
    /// listing.present[0].extend([0, 2, 4]);
    /// listing.listed = 3;
    /// cache.store_listing(&dataset, &listing, 1_000)?;
    /// let (cached, listed_at_ms) = cache.cached_listing(&dataset)?.expect("stored");
    /// assert_eq!((cached.present[0].len(), listed_at_ms), (3, 1_000));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cached_listing(&self, dataset: &Dataset) -> Result<Option<(Listing, u64)>> {
        let key = keys::per_dataset(keys::LISTING, dataset.hash.dataset_id());
        let Some(s): Option<ListingSnapshot> = self.listing_cache.get_record(&key)? else {
            return Ok(None);
        };
        if s.config_hash != dataset.hash.full_hex() || s.present.len() < dataset.pool_id_limit() {
            return Ok(None);
        }
        let listing = Listing {
            present: self.bitmaps(&key, &s.present)?,
            wrong_size: 0,
            other_keys: s.other_keys,
            other_key_samples: s.other_key_samples,
            listed: s.listed,
        };
        Ok(Some((listing, s.listed_at_ms)))
    }

    /// Stores `listing` as the cached listing of `dataset`, taken at `listed_at_ms`.
    ///
    /// # Errors
    /// Storage failures.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// use cache_sai3::listing::Listing;
    /// let mut listing = Listing::empty(dataset.pool_id_limit());
    /// listing.present[0].insert(6);
    /// listing.other_keys = 1;
    /// listing.other_key_samples = vec!["notes.txt".into()];
    /// listing.listed = 2;
    /// cache.store_listing(&dataset, &listing, 1_000)?;
    /// cache.store_listing(&dataset, &listing, 2_000)?; // replaces it
    /// assert_eq!(cache.cached_listing(&dataset)?, Some((listing, 2_000)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn store_listing(
        &self,
        dataset: &Dataset,
        listing: &Listing,
        listed_at_ms: u64,
    ) -> Result<()> {
        let snapshot = ListingSnapshot {
            config_hash: dataset.hash.full_hex(),
            listed_at_ms,
            present: listing.present.iter().map(encode_bitmap).collect(),
            other_keys: listing.other_keys,
            other_key_samples: listing.other_key_samples.clone(),
            listed: listing.listed,
        };
        let key = keys::per_dataset(keys::LISTING, dataset.hash.dataset_id());
        let mut batch = self.db.batch();
        self.remove_old_listings(&mut batch, dataset)?;
        self.listing_cache
            .insert_record_into(&mut batch, &key, &snapshot)?;
        batch.commit(Durability::Flushed)?;
        Ok(())
    }

    /// Queues the removal of `dataset`'s listing and LIST progress of the first layout (no
    /// read: removing an absent key is a no-op of the batch).
    fn remove_old_listings(&self, batch: &mut D::Batch, dataset: &Dataset) -> Result<()> {
        for tag in keys::OLD_LISTINGS {
            let key = keys::per_dataset(tag, dataset.hash.dataset_id());
            self.listing_cache.remove_into(batch, &key)?;
        }
        Ok(())
    }

    /// Removes the cached listing of `dataset` (expired, superseded or drifted).
    ///
    /// # Errors
    /// Storage failures.
    pub(crate) fn remove_listing(&self, dataset: &Dataset) -> Result<()> {
        let key = keys::per_dataset(keys::LISTING, dataset.hash.dataset_id());
        let mut batch = self.db.batch();
        self.remove_old_listings(&mut batch, dataset)?;
        self.listing_cache.remove_into(&mut batch, &key)?;
        batch.commit(Durability::Flushed)?;
        Ok(())
    }

    /// The saved progress of an interrupted LIST of exactly `dataset`, if any.
    ///
    /// # Errors
    /// Storage failures, or stored progress that fails verification.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// use cache_sai3::caches::listings::SavedChunks;
    /// use cache_sai3::listing::{ListProgress, Listing};
    /// assert_eq!(cache.list_progress(&dataset)?, None);
    /// let mut progress = ListProgress {
    ///     listing: Listing::empty(dataset.pool_id_limit()),
    ///     started_ms: 1_000,
    ///     ..ListProgress::default()
    /// };
    /// progress.done.insert("d1_w1.dir".into());
    /// progress.listing.present[0].extend([0, 2]);
    /// cache.save_list_progress(&dataset, &progress, &mut SavedChunks::default())?;
    /// assert_eq!(cache.list_progress(&dataset)?, Some(progress));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn list_progress(&self, dataset: &Dataset) -> Result<Option<ListProgress>> {
        let key = keys::per_dataset(keys::LIST_PROGRESS, dataset.hash.dataset_id());
        let Some(r): Option<ListProgressRecord> = self.listing_cache.get_record(&key)? else {
            return Ok(None);
        };
        if r.config_hash != dataset.hash.full_hex() {
            return Ok(None);
        }
        let mut present = vec![RoaringTreemap::new(); dataset.pool_id_limit()];
        self.progress_chunks(dataset, &mut present)?;
        let listing = Listing {
            present,
            wrong_size: r.wrong_size,
            other_keys: r.other_keys,
            other_key_samples: r.other_key_samples,
            listed: r.listed,
        };
        Ok(Some(ListProgress {
            listing,
            started_ms: r.started_ms,
            done: r.done.into_iter().collect(),
            offsets: r.offsets.into_iter().collect(),
        }))
    }

    /// Adds the stored progress chunks of `dataset` to `present` (one bitmap per pool id).
    fn progress_chunks(&self, dataset: &Dataset, present: &mut [RoaringTreemap]) -> Result<()> {
        let name = self.listing_cache.name();
        let prefix = keys::per_dataset(keys::LIST_PROGRESS_CHUNK, dataset.hash.dataset_id());
        for item in self.listing_cache.prefix(&prefix, Direction::Forward)? {
            let (k, v) = item?;
            let (_, pool, chunk) = keys::decode_object(keys::LIST_PROGRESS_CHUNK, &k)?;
            let bits = decode_bitmap(name, &k, &v)?;
            let inside = |i: Option<u64>| i.is_none_or(|i| chunk_of(i) == chunk);
            let slot = present.get_mut(pool as usize);
            match slot {
                Some(slot) if inside(bits.min()) && inside(bits.max()) => *slot |= bits,
                _ => {
                    let why = format!("LIST progress chunk {chunk} of pool {pool} does not fit");
                    return Err(cache_core::Error::corrupt(name, &k, why).into());
                }
            }
        }
        Ok(())
    }

    /// Saves the progress of a LIST of `dataset`: its record and the chunks of found indices
    /// that grew since the last save (`saved`, updated), in one atomic batch.
    ///
    /// # Errors
    /// Storage failures.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// use cache_sai3::caches::listings::SavedChunks;
    /// use cache_sai3::listing::{ListProgress, Listing};
    /// let mut progress = ListProgress {
    ///     listing: Listing::empty(dataset.pool_id_limit()),
    ///     ..ListProgress::default()
    /// };
    /// let mut saved = SavedChunks::default();
    /// for i in [1, 3, 5] {
    ///     progress.listing.present[0].insert(i);
    ///     progress.listing.listed += 1;
    ///     cache.save_list_progress(&dataset, &progress, &mut saved)?;
    /// }
    /// let loaded = cache.list_progress(&dataset)?.expect("saved");
    /// assert_eq!(loaded.listing.present[0].iter().collect::<Vec<_>>(), [1, 3, 5]);
    /// assert_eq!(loaded.listing.listed, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn save_list_progress(
        &self,
        dataset: &Dataset,
        p: &ListProgress,
        saved: &mut SavedChunks,
    ) -> Result<()> {
        let ds = dataset.hash.dataset_id();
        let record = ListProgressRecord {
            config_hash: dataset.hash.full_hex(),
            started_ms: p.started_ms,
            done: p.done.iter().cloned().collect(),
            offsets: p
                .offsets
                .iter()
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect(),
            wrong_size: p.listing.wrong_size,
            other_keys: p.listing.other_keys,
            other_key_samples: p.listing.other_key_samples.clone(),
            listed: p.listing.listed,
        };
        let mut batch = self.db.batch();
        for (pool, map) in p.listing.present.iter().enumerate() {
            let pool = u16::try_from(pool).unwrap_or(u16::MAX);
            for chunk in saved.grown(pool, map) {
                let key = keys::per_object(keys::LIST_PROGRESS_CHUNK, ds, pool, chunk);
                let bytes = encode_bitmap(&chunk_bits(map, chunk));
                self.listing_cache.insert_into(&mut batch, &key, &bytes)?;
            }
        }
        let key = keys::per_dataset(keys::LIST_PROGRESS, ds);
        self.listing_cache
            .insert_record_into(&mut batch, &key, &record)?;
        batch.commit(Durability::Flushed)?;
        Ok(())
    }

    /// Forgets the progress of a finished LIST of `dataset`.
    ///
    /// # Errors
    /// Storage failures.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// use cache_sai3::caches::listings::SavedChunks;
    /// use cache_sai3::listing::{ListProgress, Listing};
    /// let mut progress = ListProgress {
    ///     listing: Listing::empty(dataset.pool_id_limit()),
    ///     ..ListProgress::default()
    /// };
    /// progress.listing.present[0].insert(4);
    /// cache.save_list_progress(&dataset, &progress, &mut SavedChunks::default())?;
    /// cache.clear_list_progress(&dataset)?;
    /// assert_eq!(cache.list_progress(&dataset)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear_list_progress(&self, dataset: &Dataset) -> Result<()> {
        let ds = dataset.hash.dataset_id();
        let prefix = keys::per_dataset(keys::LIST_PROGRESS_CHUNK, ds);
        let mut batch = self.db.batch();
        for item in self.listing_cache.prefix(&prefix, Direction::Forward)? {
            let (k, _) = item?;
            self.listing_cache.remove_into(&mut batch, &k)?;
        }
        let key = keys::per_dataset(keys::LIST_PROGRESS, ds);
        self.listing_cache.remove_into(&mut batch, &key)?;
        self.remove_old_listings(&mut batch, dataset)?;
        batch.commit(Durability::Flushed)?;
        Ok(())
    }
}

/// What the last saves of a LIST's progress wrote: the count of found indices per (pool,
/// chunk). A LIST only adds indices, so a chunk whose count grew is one to write again.
///
/// ```
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
/// # let dir = tmp.path().join("cache");
/// # type Db = cache_redb::RedbDatabase;
/// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
/// use cache_sai3::caches::listings::SavedChunks;
/// use cache_sai3::listing::{ListProgress, Listing};
/// let mut progress = ListProgress {
///     listing: Listing::empty(dataset.pool_id_limit()),
///     ..ListProgress::default()
/// };
/// let mut saved = SavedChunks::default(); // a new LIST: nothing stored
/// progress.listing.present[0].insert(2);
/// cache.save_list_progress(&dataset, &progress, &mut saved)?;
/// assert!(cache.list_progress(&dataset)?.is_some_and(|p| p.listing.present[0].contains(2)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct SavedChunks {
    counts: HashMap<(u16, u64), u64>,
}

impl SavedChunks {
    /// What is already stored of `progress` (loaded to be resumed).
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// use cache_sai3::caches::listings::SavedChunks;
    /// # use cache_sai3::listing::{ListProgress, Listing};
    /// # let mut first = ListProgress {
    /// #     listing: Listing::empty(dataset.pool_id_limit()),
    /// #     ..ListProgress::default()
    /// # };
    /// # first.listing.present[0].insert(1);
    /// # cache.save_list_progress(&dataset, &first, &mut SavedChunks::default())?;
    /// // A resumed LIST continues from the stored progress.
    /// let mut progress = cache.list_progress(&dataset)?.expect("an interrupted LIST");
    /// let mut saved = SavedChunks::of(&progress);
    /// progress.listing.present[0].insert(6);
    /// cache.save_list_progress(&dataset, &progress, &mut saved)?;
    /// let loaded = cache.list_progress(&dataset)?.expect("saved");
    /// assert_eq!(loaded.listing.present[0].iter().collect::<Vec<_>>(), [1, 6]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn of(progress: &ListProgress) -> Self {
        let mut saved = SavedChunks::default();
        for (pool, map) in progress.listing.present.iter().enumerate() {
            let pool = u16::try_from(pool).unwrap_or(u16::MAX);
            saved.grown(pool, map);
        }
        saved
    }

    /// The chunks of `pool` whose count in `map` differs from the last save, now recorded.
    fn grown(&mut self, pool: u16, map: &RoaringTreemap) -> Vec<u64> {
        let mut out = Vec::new();
        let (Some(min), Some(max)) = (map.min(), map.max()) else {
            return out;
        };
        for chunk in chunk_of(min)..=chunk_of(max) {
            let start = chunk * PRESENCE_CHUNK;
            let count = map.range_cardinality(start..start + PRESENCE_CHUNK);
            let before = self.counts.insert((pool, chunk), count).unwrap_or(0);
            if count != before {
                out.push(chunk);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_grown_chunks_are_written_again() {
        let c = PRESENCE_CHUNK;
        let mut saved = SavedChunks::default();
        let mut map: RoaringTreemap = (0..10).chain(3 * c..3 * c + 5).collect();
        assert_eq!(saved.grown(0, &map), [0, 3]);
        assert_eq!(saved.grown(0, &map), [] as [u64; 0], "nothing grew");
        map.insert(3 * c + 100);
        map.insert(5 * c);
        assert_eq!(saved.grown(0, &map), [3, 5]);
        assert_eq!(saved.grown(1, &map), [0, 3, 5], "pools are counted apart");
        assert_eq!(saved.grown(0, &RoaringTreemap::new()), [] as [u64; 0]);
    }
}
