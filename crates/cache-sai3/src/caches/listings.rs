//! The listing cache of an endpoint: the last complete LIST of a dataset (with its time, for
//! the TTL) and the progress of an interrupted one. Both are [`Listing`]s to callers; the
//! stored records are this module's business.

use cache_core::{Database, Durability};

use super::endpoint::EndpointCache;
use super::keys;
use super::ledger::{decode_bitmap, encode_bitmap};
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
            listed: s.listed,
        };
        Ok(Some((listing, s.listed_at_ms)))
    }

    /// Stores `listing` as the cached listing of `dataset`, taken at `listed_at_ms`.
    ///
    /// # Errors
    /// Storage failures.
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
            other_keys: listing.other_keys.clone(),
            listed: listing.listed,
        };
        let key = keys::per_dataset(keys::LISTING, dataset.hash.dataset_id());
        self.listing_cache
            .insert_record(&key, &snapshot, Durability::Flushed)?;
        Ok(())
    }

    /// Removes the cached listing of `dataset` (expired, superseded or drifted).
    ///
    /// # Errors
    /// Storage failures.
    pub fn remove_listing(&self, dataset: &Dataset) -> Result<()> {
        let key = keys::per_dataset(keys::LISTING, dataset.hash.dataset_id());
        self.listing_cache.remove(&key, Durability::Flushed)?;
        Ok(())
    }

    /// The saved progress of an interrupted LIST of exactly `dataset`, if any.
    ///
    /// # Errors
    /// Storage failures, or stored progress that fails verification.
    pub fn list_progress(&self, dataset: &Dataset) -> Result<Option<ListProgress>> {
        let key = keys::per_dataset(keys::LIST_PROGRESS, dataset.hash.dataset_id());
        let Some(r): Option<ListProgressRecord> = self.listing_cache.get_record(&key)? else {
            return Ok(None);
        };
        if r.config_hash != dataset.hash.full_hex() || r.present.len() < dataset.pool_id_limit() {
            return Ok(None);
        }
        let listing = Listing {
            present: self.bitmaps(&key, &r.present)?,
            wrong_size: r.wrong_size,
            other_keys: r.other_keys,
            listed: r.listed,
        };
        Ok(Some(ListProgress {
            listing,
            started_ms: r.started_ms,
            done: r.done.into_iter().collect(),
            offsets: r.offsets.into_iter().collect(),
        }))
    }

    /// Saves the progress of a LIST of `dataset`.
    ///
    /// # Errors
    /// Storage failures.
    pub fn save_list_progress(&self, dataset: &Dataset, p: &ListProgress) -> Result<()> {
        let record = ListProgressRecord {
            config_hash: dataset.hash.full_hex(),
            started_ms: p.started_ms,
            done: p.done.iter().cloned().collect(),
            offsets: p
                .offsets
                .iter()
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect(),
            present: p.listing.present.iter().map(encode_bitmap).collect(),
            wrong_size: p.listing.wrong_size,
            other_keys: p.listing.other_keys.clone(),
            listed: p.listing.listed,
        };
        let key = keys::per_dataset(keys::LIST_PROGRESS, dataset.hash.dataset_id());
        self.listing_cache
            .insert_record(&key, &record, Durability::Flushed)?;
        Ok(())
    }

    /// Forgets the progress of a finished LIST of `dataset`.
    ///
    /// # Errors
    /// Storage failures.
    pub fn clear_list_progress(&self, dataset: &Dataset) -> Result<()> {
        let key = keys::per_dataset(keys::LIST_PROGRESS, dataset.hash.dataset_id());
        self.listing_cache.remove(&key, Durability::Flushed)?;
        Ok(())
    }
}
