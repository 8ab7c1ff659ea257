//! [`MetadataCache`]: the library face of sai3-cache for a benchmark's own prepare and workload
//! code, called from async code on the caller's tokio runtime (no runtime of its own).
//!
//! It opens the shards one process writes (agent K's, or every agent's for a controller or a
//! config without agents) and answers what a prepare loop asks: where object `i` goes and how
//! large it is ([`MetadataCache::locate`]), what the cache knows and since when
//! ([`MetadataCache::knowledge`]), which objects are missing ([`MetadataCache::missing`]); it
//! records what the caller created or failed to create, in batches committed at checkpoints
//! ([`MetadataCache::recorder`]), seals complete endpoints ([`MetadataCache::seal`]), and pulls
//! and pushes object-store shards ([`MetadataCache::pull`], [`MetadataCache::push`]).
//! [`crate::prepare::prepare`] is the whole flow built from the same caches (LIST, resume,
//! listing cache, DATASET records) for callers that want all of it.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use cache_sai3::metadata_cache::MetadataCache;
//! # let tmp = tempfile::tempdir().unwrap();
//! # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
//! # let cache_dir = tmp.path().join("cache");
//! let cache = MetadataCache::<cache_fjall::FjallDatabase>::open(&config, None, &cache_dir).await?;
//! let missing: u64 = cache.missing()?.iter().map(|m| m.indices.len()).sum();
//! assert_eq!(missing, 8); // nothing written yet
//! # Ok::<(), cache_sai3::Sai3Error>(())
//! # }).unwrap();
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use object_store::ObjectStore;
use roaring::RoaringTreemap;

use cache_core::{Database, Durability};

use crate::blocking::off_worker;
use crate::caches::{EndpointCache, LedgerWriter, OpenPolicy, cache_location, open_checked};
use crate::dataset::Dataset;
use crate::dataset_record::DatasetRecord;
use crate::error::{Result, Sai3Error};
use crate::listing::Listing;
use crate::object_sizes::PoolSizes;
use crate::placement::{self, Location};
use crate::records::{EndpointState, LedgerException, ObjectState, PoolSeeds};
use crate::store::open_endpoint;
use crate::sync::{EndpointSync, Transfer};
use crate::ttl::{Clock, SystemClock};

/// One shard this process writes: agent `agent`'s share of one endpoint, its cache open.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use cache_sai3::metadata_cache::MetadataCache;
/// # let tmp = tempfile::tempdir().unwrap();
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let cache_dir = tmp.path().join("cache");
/// # type Db = cache_fjall::FjallDatabase;
/// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
/// let shard = &cache.shards()[0];
/// assert_eq!((shard.agent, shard.endpoint), (0, 0));
/// assert!(shard.uri.ends_with("/ep0/"));
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// # }).unwrap();
/// ```
pub struct Shard<D: Database> {
    /// The agent whose shard it is (0 without agents).
    pub agent: u32,
    /// The endpoint's number in the dataset.
    pub endpoint: u16,
    /// The endpoint URI.
    pub uri: String,
    /// Why the cache was moved aside and rebuilt when it was opened, if it was damaged.
    pub rebuilt: Option<String>,
    view: usize,
    cache: EndpointCache<D>,
    store: Arc<dyn ObjectStore>,
    /// Per pool id, the content seed, read (or stored) on first use.
    fill_seeds: Vec<OnceLock<u64>>,
}

impl<D: Database> Shard<D> {
    /// The directory of the shard's cache (inside a local endpoint, or under the cache dir).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// let shard = &cache.shards()[1];
    /// assert!(shard.location().ends_with("data/ep1/sai3-kv-cache/agents/0"));
    /// assert!(shard.location().is_dir());
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn location(&self) -> &Path {
        self.cache.location()
    }
}

/// Where an object goes, and how large it is.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use cache_sai3::metadata_cache::MetadataCache;
/// # let tmp = tempfile::tempdir().unwrap();
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let cache_dir = tmp.path().join("cache");
/// # type Db = cache_fjall::FjallDatabase;
/// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
/// let object = cache.locate(0, 6)?.expect("in the dataset");
/// assert_eq!((object.location.pool, object.location.index, object.size), (0, 6, 64));
/// assert_eq!(object.location.endpoint, Some(0)); // even indices on endpoint 0
/// assert!(object.location.uri.is_some_and(|u| u.ends_with(&object.location.path)));
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Pool, index, endpoint, path, URI and writing agent.
    pub location: Location,
    /// Its size in bytes, as sai3-bench writes it.
    pub size: u64,
}

/// What one shard knows of the dataset, and since when.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use cache_sai3::metadata_cache::MetadataCache;
/// # let tmp = tempfile::tempdir().unwrap();
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let cache_dir = tmp.path().join("cache");
/// # type Db = cache_fjall::FjallDatabase;
/// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
/// let k = &cache.knowledge()?[1];
/// assert_eq!((k.shard, k.expected, k.present), (1, 4, 0));
/// assert_eq!((k.sealed_at_ms, k.listed_at_ms), (None, None)); // nothing written or listed yet
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardKnowledge {
    /// Index into [`MetadataCache::shards`].
    pub shard: usize,
    /// Objects the shard owns.
    pub expected: u64,
    /// Objects its ledger records present.
    pub present: u64,
    /// When it was sealed (every owned object present), ms since the epoch.
    pub sealed_at_ms: Option<u64>,
    /// When the listing in its listing cache was taken, if one is stored.
    pub listed_at_ms: Option<u64>,
}

/// Objects of one pool that one shard owns and its ledger does not record present.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use cache_sai3::metadata_cache::MetadataCache;
/// # let tmp = tempfile::tempdir().unwrap();
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let cache_dir = tmp.path().join("cache");
/// # type Db = cache_fjall::FjallDatabase;
/// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
/// let mut recorder = cache.recorder(1)?;
/// recorder.created(0, 1)?;
/// recorder.checkpoint()?;
/// drop(recorder);
/// let m = &cache.missing()?[1];
/// assert_eq!((m.shard, m.pool), (1, 0));
/// assert_eq!(m.indices.iter().collect::<Vec<_>>(), [3, 5, 7]);
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    /// Index into [`MetadataCache::shards`].
    pub shard: usize,
    /// Pool id.
    pub pool: u16,
    /// The missing indices.
    pub indices: RoaringTreemap,
}

/// The shards one process writes, open, with what a prepare loop asks of them.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use cache_sai3::metadata_cache::MetadataCache;
/// # let tmp = tempfile::tempdir().unwrap();
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let cache_dir = tmp.path().join("cache");
/// # type Db = cache_fjall::FjallDatabase;
/// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
/// assert_eq!(cache.dataset().total_objects(), 8);
/// assert_eq!(cache.shards().len(), 2);
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// # }).unwrap();
/// ```
pub struct MetadataCache<D: Database> {
    dataset: Dataset,
    views: Vec<Dataset>,
    shards: Vec<Shard<D>>,
    sizes: Vec<OnceLock<PoolSizes>>,
    cache_dir: PathBuf,
}

impl<D: Database> MetadataCache<D> {
    /// Opens the shards of `config` that agent `agent` writes (every agent's with `None`),
    /// under `cache_dir` (object-store endpoints) or in the endpoints (`file://`). A damaged
    /// cache is moved aside and rebuilt ([`Shard::rebuilt`] says so).
    ///
    /// # Errors
    /// A config sai3-bench would refuse, an agent the config does not have, bad endpoint URIs,
    /// a cache in use by another process, of another backend, or not a cache.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// assert_eq!(cache.shards().len(), 2); // two local endpoints, no agents
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn open(config: &Path, agent: Option<u32>, cache_dir: &Path) -> Result<Self> {
        Self::open_view(view_of(config, agent)?, cache_dir).await
    }

    /// [`MetadataCache::open`] for a dataset already loaded (from YAML text with
    /// [`Dataset::from_yaml`], as an agent receives it, and narrowed to one agent with
    /// [`Dataset::for_agent`]).
    ///
    /// # Errors
    /// As [`MetadataCache::open`], but for the config.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # type Db = cache_fjall::FjallDatabase;
    /// let yaml = std::fs::read_to_string(&config).expect("config text");
    /// let dataset = cache_sai3::dataset::Dataset::from_yaml(&yaml, "sent by the controller")?;
    /// let cache = MetadataCache::<Db>::open_view(dataset, &tmp.path().join("cache")).await?;
    /// assert_eq!(cache.shards().len(), 2);
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn open_view(dataset: Dataset, cache_dir: &Path) -> Result<Self> {
        let views = dataset.writer_views();
        let mut shards = Vec::new();
        for (v, view) in views.iter().enumerate() {
            for e in placement::endpoints_used(view) {
                shards.push(off_worker(|| open_shard::<D>(view, v, e, cache_dir))?);
            }
        }
        let sizes = (0..dataset.pool_id_limit())
            .map(|_| OnceLock::new())
            .collect();
        Ok(MetadataCache {
            dataset,
            views,
            shards,
            sizes,
            cache_dir: cache_dir.to_owned(),
        })
    }

    /// Pulls the newest pushed generation of every object-store shard agent `agent` writes
    /// (every agent's with `None`) into `cache_dir`, before [`MetadataCache::open`]; shards
    /// without a newer generation are left as they are. `progress` counts the files and bytes
    /// (several transfers may share one; a display reads it from another task).
    ///
    /// # Errors
    /// As [`MetadataCache::open`] for the config; store failures; refused generations.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// use cache_sai3::sync::Transfer;
    /// // Local endpoints keep their caches in the endpoint: nothing to pull.
    /// let progress = Transfer::default();
    /// let pulled = MetadataCache::<Db>::pull(&config, None, &cache_dir, &progress).await?;
    /// assert!(pulled.is_empty());
    /// assert_eq!(progress.snapshot(), [0; 4]);
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn pull(
        config: &Path,
        agent: Option<u32>,
        cache_dir: &Path,
        progress: &Transfer,
    ) -> Result<Vec<EndpointSync>> {
        let views = view_of(config, agent)?.writer_views();
        let mut out = Vec::new();
        for (view, e) in crate::sync::synced_shards(&views) {
            out.push(crate::sync::pull_endpoint(view, e, cache_dir, D::BACKEND, progress).await?);
        }
        Ok(out)
    }

    /// The dataset as this process sees it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// assert_eq!(cache.dataset().total_objects(), 8);
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// The shards, in view and endpoint order.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// let shard = &cache.shards()[1];
    /// assert_eq!((shard.agent, shard.endpoint), (0, 1));
    /// assert!(shard.uri.ends_with("/ep1/") && shard.rebuilt.is_none());
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn shards(&self) -> &[Shard<D>] {
        &self.shards
    }

    /// Where object `index` of pool `pool` goes and its size; `None` when the pool does not
    /// hold it (past its end, or outside this process's share).
    ///
    /// # Errors
    /// A size spec sai3-bench would refuse.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// let object = cache.locate(0, 5)?.expect("in the dataset");
    /// assert_eq!((object.location.endpoint, object.size), (Some(1), 64));
    /// assert!(cache.locate(0, 8)?.is_none()); // past the pool's end
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn locate(&self, pool: u16, index: u64) -> Result<Option<Located>> {
        let Some(location) = placement::locate(&self.dataset, pool, index) else {
            return Ok(None);
        };
        let size = self.sizes_of(pool)?.size_of(index);
        Ok(size.map(|size| Located { location, size }))
    }

    /// What the ledger says of object `index` of pool `pool`: `Created` when a shard that may
    /// hold it records it present, `Failed` or `Deleted` with an exception, `None` when no
    /// shard knows it (planned, or outside this process's shards).
    ///
    /// # Errors
    /// Cache reads that fail verification; a size spec sai3-bench would refuse.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # type Db = cache_fjall::FjallDatabase;
    /// use cache_sai3::records::ObjectState;
    /// let cache = MetadataCache::<Db>::open(&config, None, &tmp.path().join("cache")).await?;
    /// let mut recorder = cache.recorder(1)?; // endpoint 1 holds the odd indices
    /// recorder.created(0, 3)?;
    /// recorder.checkpoint()?;
    /// drop(recorder);
    /// assert_eq!(cache.state(0, 3)?, Some(ObjectState::Created));
    /// assert_eq!(cache.state(0, 5)?, None);
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn state(&self, pool: u16, index: u64) -> Result<Option<ObjectState>> {
        let Some(p) = self.dataset.pool(pool) else {
            return Ok(None);
        };
        let Some(size) = self.sizes_of(pool)?.size_of(index) else {
            return Ok(None);
        };
        for s in &self.shards {
            let view = &self.views[s.view];
            let holds = view
                .pool(pool)
                .is_some_and(|vp| placement::may_hold(vp, index, s.endpoint));
            if !holds || !placement::may_hold(p, index, s.endpoint) {
                continue;
            }
            if let Some(entry) = s.cache.entry(view, pool, index, size)? {
                return Ok(Some(entry.state));
            }
        }
        Ok(None)
    }

    /// What each shard knows: owned and present objects, its seal and cached listing.
    ///
    /// # Errors
    /// Cache reads that fail verification.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// let k = &cache.knowledge()?[0];
    /// assert_eq!((k.expected, k.present, k.sealed_at_ms), (4, 0, None));
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn knowledge(&self) -> Result<Vec<ShardKnowledge>> {
        let owned = self.owned()?;
        let mut out = Vec::with_capacity(self.shards.len());
        for (s, shard) in self.shards.iter().enumerate() {
            let view = &self.views[shard.view];
            let present = shard.cache.presence_all(view)?;
            out.push(ShardKnowledge {
                shard: s,
                expected: owned[s].iter().map(RoaringTreemap::len).sum(),
                present: present.iter().map(RoaringTreemap::len).sum(),
                sealed_at_ms: shard.cache.seal_of(view)?,
                listed_at_ms: shard.cache.cached_listing(view)?.map(|(_, at)| at),
            });
        }
        Ok(out)
    }

    /// The objects each shard owns and its ledger does not record present, per pool.
    ///
    /// # Errors
    /// Cache reads that fail verification.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// let missing = cache.missing()?;
    /// assert_eq!(missing.len(), 2); // pool 0 on each shard
    /// assert_eq!(missing[0].indices.iter().collect::<Vec<_>>(), [0, 2, 4, 6]);
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn missing(&self) -> Result<Vec<Missing>> {
        let owned = self.owned()?;
        let mut out = Vec::new();
        for (s, shard) in self.shards.iter().enumerate() {
            let present = shard.cache.presence_all(&self.views[shard.view])?;
            for (pool, want) in owned[s].iter().enumerate() {
                let have = present.get(pool).cloned().unwrap_or_default();
                let indices = want - &have;
                if !indices.is_empty() {
                    let pool = u16::try_from(pool).unwrap_or(u16::MAX);
                    out.push(Missing {
                        shard: s,
                        pool,
                        indices,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The content `sai3-cache prepare` writes for object `index` of pool `pool`: the pool's
    /// fill (`zero` or `random`) from a seed stored in the shard's cache on first use,
    /// deterministic. It is not sai3-bench's own data generator (no dedup or compress
    /// factors): a caller that writes with its own generator only needs the sizes
    /// ([`MetadataCache::locate`]).
    ///
    /// # Errors
    /// An object outside the dataset; cache reads and writes.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// let body = cache.content(0, 0, 2)?;
    /// assert_eq!(body.len(), 64);
    /// assert_eq!(body, cache.content(0, 0, 2)?); // deterministic
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn content(&self, shard: usize, pool: u16, index: u64) -> Result<Vec<u8>> {
        let s = self.shard(shard)?;
        let view = &self.views[s.view];
        let p = view.pool(pool).ok_or_else(|| no_object(pool, index))?;
        let size = self
            .sizes_of(pool)?
            .size_of(index)
            .ok_or_else(|| no_object(pool, index))?;
        let fill_seed = match s.fill_seeds.get(pool as usize).and_then(OnceLock::get) {
            Some(&seed) => seed,
            None => {
                let default: PoolSeeds = crate::prepare::default_seeds(view, p);
                let seed = s.cache.seeds(view, pool, default)?.fill_seed;
                s.fill_seeds
                    .get(pool as usize)
                    .map_or(seed, |slot| *slot.get_or_init(|| seed))
            }
        };
        Ok(p.fill.content(fill_seed, index, size as usize))
    }

    /// The object store of a shard's endpoint (writes go through it).
    ///
    /// # Errors
    /// No such shard.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// use object_store::ObjectStoreExt;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// let object = cache.locate(0, 0)?.expect("in the dataset");
    /// let path = object_store::path::Path::from(object.location.path.as_str());
    /// cache.store(0)?.put(&path, cache.content(0, 0, 0)?.into()).await.expect("put");
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn store(&self, shard: usize) -> Result<Arc<dyn ObjectStore>> {
        Ok(self.shard(shard)?.store.clone())
    }

    /// A recorder of what the caller creates on shard `shard`: changes are kept in one batch
    /// and committed at [`Recorder::checkpoint`] (atomically, with the changed presence
    /// chunks), so a crash loses at most what was recorded since. Taking one marks an
    /// object-store shard to be pushed ([`MetadataCache::push`]) and drops the shard's stored
    /// listing, which writes make stale.
    ///
    /// # Errors
    /// No such shard; cache reads that fail verification.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// let mut recorder = cache.recorder(0)?;
    /// recorder.created(0, 0)?;
    /// recorder.failed(0, 2, 64, "503 Slow Down")?;
    /// recorder.checkpoint()?;
    /// drop(recorder);
    /// assert_eq!(cache.knowledge()?[0].present, 1);
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn recorder(&self, shard: usize) -> Result<Recorder<'_, D>> {
        let s = self.shard(shard)?;
        let view = &self.views[s.view];
        // What follows changes the shard: it is to be pushed (until a push succeeds), and a
        // stored listing stops describing the endpoint.
        if crate::scheme::UriScheme::of(&s.uri)?.is_object_store() {
            crate::sync::mark_unpublished(&s.uri, s.cache.location())?;
        }
        s.cache.remove_listing(view)?;
        let present = s.cache.presence_all(view)?;
        Ok(Recorder {
            writer: s.cache.ledger_writer(view, present)?,
            clock: SystemClock,
        })
    }

    /// Seals every shard whose owned objects are all recorded present (a later prepare then
    /// trusts it without a LIST) and writes the `DATASET` record of object-store endpoints;
    /// returns, per shard, whether it is sealed.
    ///
    /// # Errors
    /// Cache reads and writes; the `DATASET` record PUT.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// for m in cache.missing()? {
    ///     let mut recorder = cache.recorder(m.shard)?;
    ///     for i in &m.indices {
    ///         recorder.created(m.pool, i)?; // (after writing the object)
    ///     }
    ///     recorder.checkpoint()?;
    /// }
    /// assert_eq!(cache.seal().await?, [true, true]);
    /// assert!(cache.knowledge()?[0].sealed_at_ms.is_some());
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn seal(&self) -> Result<Vec<bool>> {
        let owned = self.owned()?;
        let now = SystemClock.now();
        let mut sealed = Vec::with_capacity(self.shards.len());
        for (s, shard) in self.shards.iter().enumerate() {
            let view = &self.views[shard.view];
            let present = shard.cache.presence_all(view)?;
            let complete = owned[s]
                .iter()
                .zip(
                    present
                        .iter()
                        .chain(std::iter::repeat(&RoaringTreemap::new())),
                )
                .all(|(want, have)| want.is_subset(have));
            if complete {
                seal_shard(shard, view, &present, &owned[s], now).await?;
            }
            sealed.push(complete);
        }
        Ok(sealed)
    }

    /// The listing stored in shard `shard`'s listing cache and when it was taken.
    ///
    /// # Errors
    /// No such shard; a stored listing that fails verification.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// assert!(cache.listing(0)?.is_none());
    /// let listing = cache_sai3::listing::Listing::empty(1);
    /// cache.put_listing(0, &listing, 1_700_000_000_000)?;
    /// assert_eq!(cache.listing(0)?.map(|(_, at)| at), Some(1_700_000_000_000));
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn listing(&self, shard: usize) -> Result<Option<(Listing, u64)>> {
        let s = self.shard(shard)?;
        s.cache.cached_listing(&self.views[s.view])
    }

    /// Stores `listing`, taken at `listed_at_ms`, in shard `shard`'s listing cache.
    ///
    /// # Errors
    /// No such shard; cache writes.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// cache.put_listing(1, &cache_sai3::listing::Listing::empty(1), 42)?;
    /// assert!(cache.listing(1)?.is_some());
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn put_listing(&self, shard: usize, listing: &Listing, listed_at_ms: u64) -> Result<()> {
        let s = self.shard(shard)?;
        s.cache
            .store_listing(&self.views[s.view], listing, listed_at_ms)
    }

    /// Closes the caches and pushes every object-store shard changed since its last push (a
    /// [`MetadataCache::recorder`] was taken, or a prepare changed it) as a new generation.
    /// `progress` counts the files and bytes sent.
    ///
    /// # Errors
    /// Flushing the caches; store failures; lost publication races.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// // Local endpoints are not pushed; object-store shards become a new generation each.
    /// assert!(cache.push(&cache_sai3::sync::Transfer::default()).await?.is_empty());
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn push(self, progress: &Transfer) -> Result<Vec<EndpointSync>> {
        let MetadataCache {
            views,
            shards,
            cache_dir,
            ..
        } = self;
        for s in &shards {
            off_worker(|| s.cache.flush())?;
        }
        drop(shards);
        let now = SystemClock.now();
        let mut out = Vec::new();
        for (view, e) in crate::sync::synced_shards(&views) {
            if crate::sync::unpublished(view, e, &cache_dir) {
                out.push(crate::sync::push_endpoint(view, e, &cache_dir, now, progress).await?);
            }
        }
        Ok(out)
    }

    fn shard(&self, shard: usize) -> Result<&Shard<D>> {
        self.shards.get(shard).ok_or_else(|| Sai3Error::Endpoint {
            endpoint: format!("shard #{shard}"),
            reason: format!("no such shard: this cache has {}", self.shards.len()),
        })
    }

    fn sizes_of(&self, pool: u16) -> Result<&PoolSizes> {
        let p = self.dataset.pool(pool).ok_or_else(|| no_object(pool, 0))?;
        let slot = &self.sizes[pool as usize];
        if let Some(sizes) = slot.get() {
            return Ok(sizes);
        }
        let built = PoolSizes::for_pool(&self.dataset, p)?;
        Ok(slot.get_or_init(|| built))
    }

    /// Per shard and pool id, what the shard owns: by placement rule, or for pools whose
    /// endpoint s3dlio picks at run time, what its view's shards hold plus the rest of the
    /// share by sai3-cache's own rule.
    fn owned(&self) -> Result<Vec<Vec<RoaringTreemap>>> {
        let mut owned = vec![Vec::new(); self.shards.len()];
        for (v, view) in self.views.iter().enumerate() {
            let mut present = vec![Vec::new(); view.endpoints.len()];
            for s in self.shards.iter().filter(|s| s.view == v) {
                present[s.endpoint as usize] = s.cache.presence_all(view)?;
            }
            let mut by_endpoint = placement::owned_given(view, &present);
            for (i, s) in self.shards.iter().enumerate().filter(|(_, s)| s.view == v) {
                owned[i] = std::mem::take(&mut by_endpoint[s.endpoint as usize]);
            }
        }
        Ok(owned)
    }
}

/// Records what a caller created, failed to create, or has in flight on one shard.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use cache_sai3::metadata_cache::MetadataCache;
/// # let tmp = tempfile::tempdir().unwrap();
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let cache_dir = tmp.path().join("cache");
/// # type Db = cache_fjall::FjallDatabase;
/// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
/// let mut recorder = cache.recorder(0)?; // endpoint 0 holds the even indices
/// for i in [0, 2, 4, 6] {
///     recorder.created(0, i)?; // (after writing the object)
/// }
/// recorder.checkpoint()?;
/// drop(recorder);
/// assert_eq!(cache.knowledge()?[0].present, 4);
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// # }).unwrap();
/// ```
pub struct Recorder<'c, D: Database> {
    writer: LedgerWriter<'c, D>,
    clock: SystemClock,
}

impl<D: Database> Recorder<'_, D> {
    /// The PUT of object `index` of `pool` is about to start: until it is recorded created or
    /// failed, a resume checks it with a HEAD (commit with [`Recorder::checkpoint`] before
    /// the PUT starts for that to hold after a crash).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// let mut recorder = cache.recorder(0)?;
    /// recorder.started(0, 2);
    /// recorder.checkpoint()?; // now a crash leaves object 2 to be checked with a HEAD
    /// recorder.created(0, 2)?;
    /// recorder.checkpoint()?;
    /// drop(recorder);
    /// assert_eq!(cache.knowledge()?[0].present, 1);
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn started(&mut self, pool: u16, index: u64) {
        self.writer.started(pool, index);
    }

    /// Object `index` of `pool` was written.
    ///
    /// # Errors
    /// Encoding into the batch.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// use cache_sai3::records::ObjectState;
    /// let mut recorder = cache.recorder(0)?;
    /// recorder.created(0, 4)?;
    /// recorder.checkpoint()?;
    /// drop(recorder);
    /// assert_eq!(cache.state(0, 4)?, Some(ObjectState::Created));
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn created(&mut self, pool: u16, index: u64) -> Result<()> {
        self.writer.created(pool, index, self.clock.now())
    }

    /// The write of object `index` of `pool` (`size` bytes) failed, and why.
    ///
    /// # Errors
    /// Encoding into the batch.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// use cache_sai3::records::ObjectState;
    /// let mut recorder = cache.recorder(0)?;
    /// recorder.failed(0, 2, 64, "503 Slow Down")?;
    /// recorder.checkpoint()?;
    /// drop(recorder);
    /// assert_eq!(cache.state(0, 2)?, Some(ObjectState::Failed));
    /// assert_eq!(cache.knowledge()?[0].present, 0);
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn failed(&mut self, pool: u16, index: u64, size: u64, reason: &str) -> Result<()> {
        let exception = LedgerException {
            state: ObjectState::Failed,
            size,
            at_ms: self.clock.now(),
            reason: reason.to_owned(),
        };
        self.writer.absent(pool, index, &exception)
    }

    /// Object `index` of `pool` (`size` bytes) was deleted (by a workload or a cleanup): it no
    /// longer counts as present, and a later seal needs it written again.
    ///
    /// # Errors
    /// Encoding into the batch.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// use cache_sai3::records::ObjectState;
    /// let mut recorder = cache.recorder(0)?;
    /// recorder.created(0, 0)?;
    /// recorder.checkpoint()?;
    /// recorder.deleted(0, 0, 64)?;
    /// recorder.checkpoint()?;
    /// drop(recorder);
    /// assert_eq!(cache.state(0, 0)?, Some(ObjectState::Deleted));
    /// assert_eq!(cache.knowledge()?[0].present, 0);
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn deleted(&mut self, pool: u16, index: u64, size: u64) -> Result<()> {
        self.writer.deleted(pool, index, size, self.clock.now())
    }

    /// Changes recorded since the last checkpoint.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// let mut recorder = cache.recorder(0)?;
    /// recorder.created(0, 0)?;
    /// recorder.created(0, 2)?;
    /// assert_eq!(recorder.pending(), 2);
    /// recorder.checkpoint()?;
    /// assert_eq!(recorder.pending(), 0);
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn pending(&self) -> usize {
        self.writer.pending()
    }

    /// Commits what was recorded (survives a crash of this process).
    ///
    /// # Errors
    /// Committing the batch.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use cache_sai3::metadata_cache::MetadataCache;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let cache_dir = tmp.path().join("cache");
    /// # type Db = cache_fjall::FjallDatabase;
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// let mut recorder = cache.recorder(1)?;
    /// recorder.created(0, 1)?;
    /// recorder.checkpoint()?;
    /// drop(recorder);
    /// drop(cache); // reopened, the record is there
    /// let cache = MetadataCache::<Db>::open(&config, None, &cache_dir).await?;
    /// assert_eq!(cache.knowledge()?[1].present, 1);
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// # }).unwrap();
    /// ```
    pub fn checkpoint(&mut self) -> Result<()> {
        let writer = &mut self.writer;
        off_worker(|| writer.checkpoint(Durability::Flushed))
    }
}

fn view_of(config: &Path, agent: Option<u32>) -> Result<Dataset> {
    let whole = Dataset::load(config)?;
    Ok(match agent {
        Some(k) => whole.for_agent(k).map_err(|error| Sai3Error::Config {
            path: config.to_owned(),
            error,
        })?,
        None => whole,
    })
}

fn no_object(pool: u16, index: u64) -> Sai3Error {
    Sai3Error::Endpoint {
        endpoint: "(dataset)".into(),
        reason: format!("object {index} of pool {pool} is not in this dataset"),
    }
}

/// Opens endpoint `e` of `view` (view number `v`): its store and its cache shard.
fn open_shard<D: Database>(view: &Dataset, v: usize, e: u16, cache_dir: &Path) -> Result<Shard<D>> {
    let uri = view.endpoints[e as usize].clone();
    let store = open_endpoint(&uri)?;
    let location = cache_location(&uri, cache_dir, view.shard())?;
    let opened = open_checked(
        &location,
        OpenPolicy::default(),
        || EndpointCache::<D>::open(&location, true),
        |c: &EndpointCache<D>| c.presence_all(view).map(|_| ()),
    )?;
    Ok(Shard {
        agent: view.shard(),
        endpoint: e,
        uri,
        rebuilt: opened.rebuilt,
        view: v,
        cache: opened.cache,
        store,
        fill_seeds: (0..view.pool_id_limit()).map(|_| OnceLock::new()).collect(),
    })
}

/// Seals one complete shard: its state, flushed, and the `DATASET` record of an object store.
async fn seal_shard<D: Database>(
    shard: &Shard<D>,
    view: &Dataset,
    present: &[RoaringTreemap],
    owned: &[RoaringTreemap],
    now: u64,
) -> Result<()> {
    let state = EndpointState {
        config_hash: view.hash.full_hex(),
        endpoint: shard.endpoint,
        uri: shard.uri.clone(),
        sealed_at_ms: Some(now),
        created: present.iter().map(RoaringTreemap::len).collect(),
    };
    off_worker(|| -> Result<()> {
        shard.cache.seal(view, &state)?;
        shard.cache.clear_resume_basis(view)?;
        shard.cache.flush()
    })?;
    if crate::scheme::UriScheme::of(&shard.uri)?.is_object_store() {
        let record = DatasetRecord::build(view, shard.endpoint, present, owned, now);
        record.write(&*shard.store).await?;
    }
    Ok(())
}

/// Writes a small sai3-bench config for the examples: `count` objects (rounded up to a multiple
/// of 4) of 64 bytes in a tree of 2 x 2 directories on two local endpoints under `dir`, object
/// `i` on endpoint `i % 2` (parallel prepare); returns its path.
#[doc(hidden)]
pub fn example_config(dir: &Path, count: u64) -> PathBuf {
    let per_dir = count.div_ceil(4);
    let data = dir.join("data");
    let yaml = format!(
        "prepare:\n  prepare_strategy: parallel\n  directory_structure: {{ width: 2, depth: 2, files_per_dir: {per_dir} }}\n  \
         ensure_objects:\n    - {{ count: {}, size_spec: 64 }}\nmulti_endpoint:\n  endpoints:\n    \
         - \"file://{}/ep0/\"\n    - \"file://{}/ep1/\"\nworkload:\n  \
         - {{ op: get, path: \"*\", weight: 100 }}\n",
        per_dir * 4,
        data.display(),
        data.display()
    );
    let path = dir.join("example.yaml");
    // Examples only: a failure to write shows as the config missing.
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(&path, yaml);
    path
}
