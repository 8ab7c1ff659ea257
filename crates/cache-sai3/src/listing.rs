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
    /// Ranges skipped because an interrupted LIST had finished them.
    pub resumed_ranges: u64,
}

/// Progress of a LIST, checkpointed in the listing cache so that an interrupted LIST resumes:
/// finished ranges are skipped, and ranges of object stores (which list in key order) continue
/// after the last key seen (`list_with_offset`, i.e. start-after). Ranges of local endpoints,
/// whose listing order is not defined, restart when they were not finished.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListProgress {
    /// Full config hash the LIST was interpreting for.
    pub config_hash: String,
    /// When the LIST started (ms).
    pub started_ms: u64,
    /// Finished ranges (`""` is the endpoint root).
    pub done: Vec<String>,
    /// Last key merged per unfinished range (ordered stores only).
    pub offsets: Vec<(String, String)>,
    /// Per pool: present bitmap so far.
    pub present: Vec<Vec<u8>>,
    /// Wrong-size objects so far.
    pub wrong_size: u64,
    /// Other keys so far.
    pub other_keys: Vec<String>,
    /// Keys listed so far.
    pub listed: u64,
}

/// Keys merged between checkpoints of an ordered range.
pub const CHECKPOINT_KEYS: u64 = 20_000;

struct Accumulated {
    present: Vec<RoaringTreemap>,
    wrong_size: u64,
    other_keys: Vec<String>,
    listed: u64,
    done: std::collections::BTreeSet<String>,
    offsets: std::collections::BTreeMap<String, String>,
}

impl Accumulated {
    fn snapshot(&self, config_hash: &str, started_ms: u64) -> ListProgress {
        ListProgress {
            config_hash: config_hash.to_owned(),
            started_ms,
            done: self.done.iter().cloned().collect(),
            offsets: self
                .offsets
                .iter()
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect(),
            present: self.present.iter().map(encode_bitmap).collect(),
            wrong_size: self.wrong_size,
            other_keys: self.other_keys.clone(),
            listed: self.listed,
        }
    }
}

/// Sorts listed keys into present objects, wrong sizes and other keys.
struct Classifier<'a> {
    dataset: &'a Dataset,
    endpoint: u16,
    pools: Vec<&'a crate::dataset::Pool>,
    expected_size: &'a (dyn Fn(u16, u64) -> u64 + Sync),
}

impl Classifier<'_> {
    fn add(&self, acc: &mut Accumulated, meta: &object_store::ObjectMeta) {
        let key = meta.location.as_ref();
        if key.starts_with(&format!("{ENDPOINT_CACHE_DIR}/")) {
            return;
        }
        acc.listed += 1;
        let found = self.pools.iter().find_map(|p| {
            self.dataset
                .parse_path(p, key)
                .filter(|&i| self.dataset.endpoint_of(p, i) == self.endpoint)
                .map(|i| (p.id, i))
        });
        match found {
            Some((pool, index)) if meta.size == (self.expected_size)(pool, index) => {
                acc.present[pool as usize].insert(index);
            }
            Some(_) => acc.wrong_size += 1,
            None => acc.other_keys.push(key.to_owned()),
        }
    }
}

fn empty(pools: usize) -> Accumulated {
    Accumulated {
        present: vec![RoaringTreemap::new(); pools],
        wrong_size: 0,
        other_keys: Vec::new(),
        listed: 0,
        done: Default::default(),
        offsets: Default::default(),
    }
}

/// How a LIST checkpoints and resumes.
pub struct Checkpoints<'a> {
    /// Progress of an interrupted LIST of the same dataset to continue.
    pub resume: Option<ListProgress>,
    /// The store lists in key order (object stores): resuming inside a range is possible.
    pub ordered: bool,
    /// When this LIST started (ms), kept by a resumed one.
    pub started_ms: u64,
    /// Persists progress.
    pub save: &'a (dyn Fn(&ListProgress) -> Result<()> + Sync),
}

/// Lists endpoint `endpoint` of `dataset`; `expected_size(pool, index)` gives each object's
/// size. `resume` continues an interrupted LIST of the same dataset; `ordered` says the store
/// lists in key order (object stores), which allows resuming inside a range; `save` is called
/// with the progress as ranges finish and every [`CHECKPOINT_KEYS`] keys of an ordered range.
///
/// Ranges: with a tree or key-prefix shards, the endpoint's top-level prefixes (one delimiter
/// LIST finds them) plus the objects at its root; a flat unsharded dataset is one range, the
/// whole endpoint, streamed (never collected in one delimiter listing).
///
/// # Errors
/// [`Sai3Error::Endpoint`] when a LIST fails (the progress saved so far stays usable), or an
/// error of `save`.
pub async fn list_endpoint(
    store: Arc<dyn ObjectStore>,
    dataset: &Dataset,
    endpoint: u16,
    expected_size: &(dyn Fn(u16, u64) -> u64 + Sync),
    checkpoints: Checkpoints<'_>,
) -> Result<EndpointListing> {
    let Checkpoints {
        resume,
        ordered,
        started_ms,
        save,
    } = checkpoints;
    let uri = &dataset.endpoints[endpoint as usize];
    let fail = |e: object_store::Error| Sai3Error::Endpoint {
        endpoint: uri.clone(),
        reason: format!("LIST failed: {e}"),
    };
    let hash = dataset.hash.full_hex();
    let classifier = Classifier {
        dataset,
        endpoint,
        pools: dataset
            .pools
            .iter()
            .filter(|p| p.endpoints.contains(&endpoint))
            .collect(),
        expected_size,
    };
    let mut acc = empty(dataset.pools.len());
    let mut started = started_ms;
    if let Some(r) =
        resume.filter(|r| r.config_hash == hash && r.present.len() == dataset.pools.len())
    {
        let mut present = Vec::with_capacity(r.present.len());
        for b in &r.present {
            match RoaringTreemap::deserialize_from(b.as_slice()) {
                Ok(m) => present.push(m),
                Err(_) => {
                    present.clear();
                    break;
                }
            }
        }
        if present.len() == dataset.pools.len() {
            acc = Accumulated {
                present,
                wrong_size: r.wrong_size,
                other_keys: r.other_keys,
                listed: r.listed,
                done: r.done.into_iter().collect(),
                offsets: if ordered {
                    r.offsets.into_iter().collect()
                } else {
                    Default::default()
                },
            };
            started = r.started_ms;
        }
    }
    let resumed_ranges = acc.done.len() as u64;
    let acc = std::sync::Mutex::new(acc);
    let lock = || acc.lock().unwrap_or_else(|p| p.into_inner());
    let checkpoint = || save(&lock().snapshot(&hash, started));

    let segmented = dataset.tree.is_some() || dataset.key_prefix_shards > 0;
    let ranges: Vec<Option<StorePath>> = if segmented {
        let top = store.list_with_delimiter(None).await.map_err(fail)?;
        if !lock().done.contains("") {
            let mut a = lock();
            for m in &top.objects {
                classifier.add(&mut a, m);
            }
            a.done.insert(String::new());
        }
        top.common_prefixes
            .into_iter()
            .filter(|p| p.as_ref() != ENDPOINT_CACHE_DIR)
            .map(Some)
            .collect()
    } else {
        vec![None]
    };
    let name = |r: &Option<StorePath>| r.as_ref().map_or(String::new(), |p| p.to_string());
    let todo: Vec<Option<StorePath>> = ranges
        .into_iter()
        .filter(|r| !lock().done.contains(&name(r)))
        .collect();
    futures::stream::iter(todo)
        .map(|range| {
            let store = store.clone();
            let (classifier, lock, checkpoint, fail) = (&classifier, &lock, &checkpoint, &fail);
            async move {
                let key = name(&range);
                let offset = lock().offsets.get(&key).cloned();
                let mut stream = match &offset {
                    Some(o) => store.list_with_offset(range.as_ref(), &StorePath::from(o.as_str())),
                    None => store.list(range.as_ref()),
                };
                // Unordered stores: merge the range only when it is complete.
                let mut local = empty(dataset.pools.len());
                let mut since = 0u64;
                while let Some(meta) = stream.next().await {
                    let meta = match meta {
                        Ok(m) => m,
                        Err(e) => {
                            // Keep what was merged so far: the next LIST resumes from it.
                            checkpoint()?;
                            return Err(fail(e));
                        }
                    };
                    if ordered {
                        let mut a = lock();
                        classifier.add(&mut a, &meta);
                        a.offsets.insert(key.clone(), meta.location.to_string());
                        drop(a);
                        since += 1;
                        if since >= CHECKPOINT_KEYS {
                            checkpoint()?;
                            since = 0;
                        }
                    } else {
                        classifier.add(&mut local, &meta);
                    }
                }
                {
                    let mut a = lock();
                    if !ordered {
                        for (mine, theirs) in a.present.iter_mut().zip(&local.present) {
                            *mine |= theirs;
                        }
                        a.wrong_size += local.wrong_size;
                        a.other_keys.append(&mut local.other_keys);
                        a.listed += local.listed;
                    }
                    a.offsets.remove(&key);
                    a.done.insert(key);
                }
                checkpoint()
            }
        })
        .buffer_unordered(LIST_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    let mut a = acc.into_inner().unwrap_or_else(|p| p.into_inner());
    a.other_keys.sort_unstable();
    Ok(EndpointListing {
        present: a.present,
        wrong_size: a.wrong_size,
        other_keys: a.other_keys,
        listed: a.listed,
        resumed_ranges,
    })
}

/// The saved progress of an interrupted LIST of `dataset`, if any.
pub fn saved_progress<D: Database>(
    cache: &EndpointCache<D>,
    dataset: &Dataset,
) -> Result<Option<ListProgress>> {
    let key = keys::per_dataset(keys::LIST_PROGRESS, dataset.hash.dataset_id());
    Ok(cache.listing_cache.get_record(&key)?)
}

/// Saves the progress of a LIST of `dataset`.
pub fn save_progress<D: Database>(
    cache: &EndpointCache<D>,
    dataset: &Dataset,
    p: &ListProgress,
) -> Result<()> {
    let key = keys::per_dataset(keys::LIST_PROGRESS, dataset.hash.dataset_id());
    cache
        .listing_cache
        .insert_record(&key, p, Durability::Flushed)?;
    Ok(())
}

/// Forgets the progress of a finished LIST of `dataset`.
pub fn clear_progress<D: Database>(cache: &EndpointCache<D>, dataset: &Dataset) -> Result<()> {
    let key = keys::per_dataset(keys::LIST_PROGRESS, dataset.hash.dataset_id());
    cache.listing_cache.remove(&key, Durability::Flushed)?;
    Ok(())
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
            resumed_ranges: 0,
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
