//! Listing an endpoint, and the listing cache.
//!
//! A LIST reads the endpoint's top level with a delimiter, then lists each top-level prefix
//! recursively, several at a time (a tree's level-1 directories are natural split points). Only
//! keys that are exactly the name of an object this endpoint owns, with the size that object
//! must have, count as present; the cache's own `sai3-kv-cache/` is never listed; every other
//! key is kept as "other" for the report.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path as StorePath;
use roaring::RoaringTreemap;

use cache_core::{Database, DatasetId, Durability};

use crate::dataset::Dataset;
use crate::endpoint_cache::{ENDPOINT_CACHE_DIR, EndpointCache};
use crate::error::{Result, Sai3Error};
use crate::keys;
use crate::ledger::{bitmap_from, encode_bitmap};
use crate::records::ListingSnapshot;

/// Top-level prefixes listed at the same time.
pub const LIST_CONCURRENCY: usize = 8;

/// What a LIST of one endpoint found.
#[derive(Debug, Clone, Default)]
pub struct EndpointListing {
    /// Per pool id: indices present with the expected size.
    pub present: Vec<RoaringTreemap>,
    /// Objects of the dataset found with a wrong size (to be rewritten).
    pub wrong_size: u64,
    /// Keys that are not objects of the dataset.
    pub other_keys: Vec<String>,
    /// Keys listed in all.
    pub listed: u64,
}

/// Lists endpoint `endpoint` of `dataset`; `expected_size(pool, index)` gives each object's
/// size.
///
/// # Errors
/// [`Sai3Error::Endpoint`] when a LIST fails.
pub async fn list_endpoint(
    store: Arc<dyn ObjectStore>,
    dataset: &Dataset,
    endpoint: u16,
    expected_size: &(dyn Fn(u16, u64) -> u64 + Sync),
) -> Result<EndpointListing> {
    let uri = &dataset.endpoints[endpoint as usize];
    let fail = |e: object_store::Error| Sai3Error::Endpoint {
        endpoint: uri.clone(),
        reason: format!("LIST failed: {e}"),
    };
    let top = store.list_with_delimiter(None).await.map_err(fail)?;
    let mut metas = top.objects;
    let prefixes: Vec<StorePath> = top
        .common_prefixes
        .into_iter()
        .filter(|p| p.as_ref() != ENDPOINT_CACHE_DIR)
        .collect();
    let nested: Vec<Vec<object_store::ObjectMeta>> = futures::stream::iter(prefixes)
        .map(|p| {
            let store = store.clone();
            async move { store.list(Some(&p)).try_collect::<Vec<_>>().await }
        })
        .buffer_unordered(LIST_CONCURRENCY)
        .try_collect()
        .await
        .map_err(fail)?;
    metas.extend(nested.into_iter().flatten());

    let pools: Vec<_> = dataset
        .pools
        .iter()
        .filter(|p| p.endpoints.contains(&endpoint))
        .collect();
    let mut out = EndpointListing {
        present: vec![RoaringTreemap::new(); dataset.pools.len()],
        ..EndpointListing::default()
    };
    for meta in metas {
        out.listed += 1;
        let key = meta.location.as_ref();
        let found = pools.iter().find_map(|p| {
            dataset
                .parse_path(p, key)
                .filter(|&i| dataset.endpoint_of(p, i) == endpoint)
                .map(|i| (p.id, i))
        });
        match found {
            Some((pool, index)) if meta.size == expected_size(pool, index) => {
                out.present[pool as usize].insert(index);
            }
            Some(_) => out.wrong_size += 1,
            None => out.other_keys.push(key.to_owned()),
        }
    }
    out.other_keys.sort_unstable();
    Ok(out)
}

/// Stores `listing` as the cached listing of `dataset` on this endpoint.
pub fn store_listing<D: Database>(
    cache: &EndpointCache<D>,
    dataset: &Dataset,
    listing: &EndpointListing,
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
    cache
        .listing_cache
        .insert_record(&key, &snapshot, Durability::Flushed)?;
    Ok(())
}

/// The cached listing of `dataset`, with its time, if one is stored and was made for exactly
/// this dataset.
pub fn cached_listing<D: Database>(
    cache: &EndpointCache<D>,
    dataset: &Dataset,
) -> Result<Option<(EndpointListing, u64)>> {
    let id: DatasetId = dataset.hash.dataset_id();
    let key = keys::per_dataset(keys::LISTING, id);
    let Some(s): Option<ListingSnapshot> = cache.listing_cache.get_record(&key)? else {
        return Ok(None);
    };
    if s.config_hash != dataset.hash.full_hex() || s.present.len() != dataset.pools.len() {
        return Ok(None);
    }
    let present = s
        .present
        .iter()
        .map(|b| bitmap_from(cache.listing_cache.name(), &key, b))
        .collect::<cache_core::Result<Vec<_>>>()?;
    Ok(Some((
        EndpointListing {
            present,
            wrong_size: 0,
            other_keys: s.other_keys,
            listed: s.listed,
        },
        s.listed_at_ms,
    )))
}

/// Removes the cached listing of `dataset` (expired or superseded).
pub fn remove_listing<D: Database>(cache: &EndpointCache<D>, dataset: &Dataset) -> Result<()> {
    let key = keys::per_dataset(keys::LISTING, dataset.hash.dataset_id());
    cache.listing_cache.remove(&key, Durability::Flushed)?;
    Ok(())
}
