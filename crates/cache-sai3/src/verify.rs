//! `verify --sample K`: bound the staleness of a cache without a full LIST.
//!
//! Per endpoint, the key space is cut at its top-level prefixes (a tree's level-1 directories,
//! a flat dataset's shards, or the whole endpoint). K random ranges are listed again and
//! compared with the ledger, and K random objects the ledger calls `Created` are checked with a
//! HEAD. Drift is reported as missing (ledger says created, store has none), extra (store has
//! an object of the dataset the ledger does not know) and size mismatch; only the ranges (and
//! objects) that differ are repaired in the ledger, and an endpoint with missing objects loses
//! its seal so that the next prepare recreates them.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use roaring::RoaringTreemap;
use serde::Serialize;

use cache_core::{Database, Durability};

use crate::dataset::Dataset;
use crate::endpoint_cache::{ENDPOINT_CACHE_DIR, EndpointCache, cache_location};
use crate::error::{Result, Sai3Error};
use crate::keys;
use crate::ledger::{LedgerWriter, load_presence};
use crate::prepare::{default_seeds, expected_on};
use crate::records::ObjectState;
use crate::store::open_endpoint;

/// What verify found on one endpoint.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EndpointDrift {
    /// Endpoint number.
    pub endpoint: u16,
    /// Its URI.
    pub uri: String,
    /// Top-level ranges of the endpoint.
    pub ranges_total: usize,
    /// Ranges listed again.
    pub ranges_sampled: usize,
    /// Sampled ranges that differed from the ledger (and were repaired).
    pub ranges_differing: usize,
    /// Objects the ledger had as created that are gone.
    pub missing: u64,
    /// Objects of the dataset present but unknown to the ledger.
    pub extra: u64,
    /// Objects present with another size than the dataset defines.
    pub size_mismatch: u64,
    /// Objects checked with HEAD.
    pub heads: u64,
    /// True when the endpoint lost its seal (the next prepare will list and recreate).
    pub unsealed: bool,
}

/// Picks `k` distinct values below `n`, deterministically from `seed`.
fn sample(n: usize, k: usize, seed: u64) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    let mut x = seed | 1;
    while out.len() < k.min(n) {
        x = xxhash_rust::xxh3::xxh3_64_with_seed(&x.to_le_bytes(), seed);
        out.insert((x % n as u64) as usize);
    }
    out
}

/// The top-level prefixes of an endpoint's key space.
async fn top_level(store: &Arc<dyn ObjectStore>, uri: &str) -> Result<Vec<Option<StorePath>>> {
    let top = store
        .list_with_delimiter(None)
        .await
        .map_err(|e| Sai3Error::Endpoint {
            endpoint: uri.to_owned(),
            reason: format!("LIST failed: {e}"),
        })?;
    let mut ranges: Vec<Option<StorePath>> = top
        .common_prefixes
        .into_iter()
        .filter(|p| p.as_ref() != ENDPOINT_CACHE_DIR)
        .map(Some)
        .collect();
    if !top.objects.is_empty() || ranges.is_empty() {
        ranges.push(None); // objects at the root form one range of their own
    }
    Ok(ranges)
}

/// Verifies `k` sampled ranges and `k` sampled objects of every endpoint of `dataset`.
///
/// # Errors
/// Store failures, or a missing or unreadable endpoint cache.
pub async fn verify<D: Database>(
    dataset: &Dataset,
    cache_dir: &std::path::Path,
    k: usize,
    seed: u64,
    now_ms: u64,
) -> Result<Vec<EndpointDrift>> {
    let ds = dataset.hash.dataset_id();
    let mut out = Vec::new();
    for (e, uri) in dataset.endpoints.iter().enumerate() {
        let e = e as u16;
        let store = open_endpoint(uri)?;
        let cache = EndpointCache::<D>::open(&cache_location(uri, cache_dir)?, false)?;
        let mut drift = EndpointDrift {
            endpoint: e,
            uri: uri.clone(),
            ..EndpointDrift::default()
        };
        let ranges = top_level(&store, uri).await?;
        drift.ranges_total = ranges.len();
        let pools: Vec<_> = dataset
            .pools
            .iter()
            .filter(|p| p.endpoints.contains(&e))
            .collect();
        let stored: Vec<RoaringTreemap> = dataset
            .pools
            .iter()
            .map(|p| load_presence(&cache, ds, p.id))
            .collect::<Result<_>>()?;
        let seeds: Vec<_> = dataset
            .pools
            .iter()
            .map(|p| {
                cache
                    .seeds
                    .get_record(&keys::per_pool(keys::SEEDS, ds, p.id))
                    .map(|s| s.unwrap_or_else(|| default_seeds(dataset, p.id)))
            })
            .collect::<cache_core::Result<_>>()?;
        let mut writer = LedgerWriter::new(&cache, ds, stored.clone());
        let sampled = sample(ranges.len(), k, seed ^ u64::from(e));
        // One pass over the created objects: which sampled range holds each (by the first
        // component of its path), and which are left for the HEAD sample.
        let range_of_name: std::collections::HashMap<String, usize> = ranges
            .iter()
            .enumerate()
            .filter(|(r, _)| sampled.contains(r))
            .map(|(r, p)| (p.as_ref().map_or(String::new(), |p| p.to_string()), r))
            .collect();
        let mut known: std::collections::HashMap<(usize, u16), RoaringTreemap> =
            std::collections::HashMap::new();
        let mut unlisted: Vec<(u16, u64)> = Vec::new();
        for p in &pools {
            for i in &stored[p.id as usize] {
                let Some(path) = dataset.path_of(p, i) else {
                    continue;
                };
                let top = path.split_once('/').map_or("", |(first, _)| first);
                match range_of_name.get(top) {
                    Some(&r) => {
                        known.entry((r, p.id)).or_default().insert(i);
                    }
                    None => unlisted.push((p.id, i)),
                }
            }
        }
        for &r in &sampled {
            let prefix = &ranges[r];
            drift.ranges_sampled += 1;
            let listed: Vec<_> =
                store
                    .list(prefix.as_ref())
                    .try_collect()
                    .await
                    .map_err(|err| Sai3Error::Endpoint {
                        endpoint: uri.clone(),
                        reason: format!("LIST failed: {err}"),
                    })?;
            let mut differs = false;
            for p in &pools {
                let id = p.id as usize;
                let size_of = |i: u64| p.size.size_of(seeds[id].size_seed, i);
                let mut found = RoaringTreemap::new();
                let mut wrong = RoaringTreemap::new();
                for m in &listed {
                    if let Some(i) = dataset
                        .parse_path(p, m.location.as_ref())
                        .filter(|&i| dataset.endpoint_of(p, i) == e)
                    {
                        if m.size == size_of(i) {
                            found.insert(i);
                        } else {
                            wrong.insert(i);
                            drift.size_mismatch += 1;
                            differs = true;
                            writer.set(p.id, i, ObjectState::Deleted, m.size, now_ms)?;
                        }
                    }
                }
                let known = known.get(&(r, p.id)).cloned().unwrap_or_default();
                for i in &(&(&known - &found) - &wrong) {
                    drift.missing += 1;
                    differs = true;
                    writer.set(p.id, i, ObjectState::Deleted, size_of(i), now_ms)?;
                }
                for i in &(&found - &known) {
                    drift.extra += 1;
                    differs = true;
                    writer.set(p.id, i, ObjectState::Created, size_of(i), now_ms)?;
                }
            }
            drift.ranges_differing += usize::from(differs);
        }
        // HEAD k random created objects outside the ranges just listed.
        for n in sample(unlisted.len(), k, seed.rotate_left(17) ^ u64::from(e)) {
            let (pool, i) = unlisted[n];
            let p = &dataset.pools[pool as usize];
            let Some(path) = dataset.path_of(p, i) else {
                continue;
            };
            drift.heads += 1;
            let expected = p.size.size_of(seeds[pool as usize].size_seed, i);
            match store.head(&StorePath::from(path.as_str())).await {
                Ok(meta) if meta.size == expected => {}
                Ok(meta) => {
                    drift.size_mismatch += 1;
                    writer.set(pool, i, ObjectState::Deleted, meta.size, now_ms)?;
                }
                Err(object_store::Error::NotFound { .. }) => {
                    drift.missing += 1;
                    writer.set(pool, i, ObjectState::Deleted, expected, now_ms)?;
                }
                Err(err) => {
                    return Err(Sai3Error::Endpoint {
                        endpoint: uri.clone(),
                        reason: format!("HEAD failed: {err}"),
                    });
                }
            }
        }
        writer.checkpoint(Durability::Flushed)?;
        if drift.missing + drift.extra + drift.size_mismatch > 0 {
            // A cached listing of this endpoint no longer describes it.
            crate::listing::remove_listing(&cache, dataset)?;
        }
        let complete = pools
            .iter()
            .all(|p| expected_on(dataset, p, e).is_subset(writer.present(p.id)));
        if !complete
            && let Some(mut state) = cache.state(ds)?
            && state.sealed_at_ms.is_some()
        {
            state.sealed_at_ms = None;
            cache.endpoint_metadata.insert_record(
                &keys::per_dataset(keys::ENDPOINT_STATE, ds),
                &state,
                Durability::Flushed,
            )?;
            drift.unsealed = true;
        }
        cache.database().flush()?;
        out.push(drift);
    }
    Ok(out)
}
