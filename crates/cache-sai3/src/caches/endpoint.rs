//! The cache of one endpoint, holding only the objects that endpoint owns: the seal, the ledger
//! and its presence bitmaps ([`super::ledger`]), the listing cache and LIST progress
//! ([`super::listings`]), stored paths, seeds and the agent layout.
//!
//! One cache per *shard*: agent K's knowledge of one storage namespace, written only by agent K
//! (0 for a standalone config). Location: `{endpoint}/sai3-kv-cache/agents/K/` for `file://`
//! and `direct://` endpoints (the cache travels with the data, and every agent of a shared file
//! system finds every shard in place); `{cache dir}/endpoints/{id}/agents/K/` for object
//! stores, where `id` is a hash of the storage namespace (synced to
//! `{endpoint}/sai3-kv-cache/agents/K/` by cache-sync).
//!
//! Keyspaces (private: callers use the methods): `objects` (ledger and presence),
//! `file_paths`, `listing_cache`, `endpoint_metadata`, `seeds`.
//!
//! ```
//! use cache_sai3::caches::{EndpointCache, cache_location};
//! # let tmp = tempfile::tempdir()?;
//! # let cache_dir = tmp.path().join("cache");
//! let local = cache_location("file:///data/ep0/", &cache_dir, 0)?;
//! assert_eq!(local, std::path::Path::new("/data/ep0/sai3-kv-cache/agents/0"));
//! let remote = cache_location("s3://bucket/data/", &cache_dir, 3)?;
//! assert!(remote.starts_with(cache_dir.join("endpoints")) && remote.ends_with("agents/3"));
//! let cache = EndpointCache::<cache_redb::RedbDatabase>::open(&remote, true)?;
//! assert!(cache.stats()?.iter().any(|k| k.name == "listing_cache"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cache_core::{
    Compression, Database, Direction, Durability, FrameSettings, FramedKeyspace, Keyspace,
    OpenOptions, frame,
};
use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};

use super::{LEDGER_LAYOUT, keys};
use crate::config_hash::ConfigHash;
use crate::dataset::{Dataset, Pool};
use crate::error::{Result, Sai3Error};
use crate::records::{EndpointState, ListMeasure, PoolSeeds, ResumeBasis, Validations};
use crate::scheme::{ENDPOINT_CACHE_DIR, UriScheme, local_path};

/// The cache of one endpoint.
///
/// ```
/// use cache_sai3::caches::EndpointCache;
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
/// let cache = EndpointCache::<cache_redb::RedbDatabase>::open(&tmp.path().join("cache"), true)?;
/// assert!(cache.presence(&dataset, 0)?.is_empty()); // nothing recorded yet
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EndpointCache<D: Database> {
    pub(super) db: D,
    pub(super) objects: FramedKeyspace<D>,
    file_paths: FramedKeyspace<D>,
    pub(super) listing_cache: FramedKeyspace<D>,
    endpoint_metadata: FramedKeyspace<D>,
    seeds: FramedKeyspace<D>,
    location: PathBuf,
}

/// Entries of one keyspace of a cache (for `stats`).
///
/// ```
/// use cache_sai3::caches::{EndpointCache, KeyspaceStats};
/// # let tmp = tempfile::tempdir()?;
/// let cache = EndpointCache::<cache_redb::RedbDatabase>::open(tmp.path(), true)?;
/// let stats: Vec<KeyspaceStats> = cache.stats()?;
/// let seeds = stats.iter().find(|k| k.name == "seeds").expect("a keyspace of every cache");
/// assert_eq!(seeds.approximate_entries, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyspaceStats {
    /// Keyspace name.
    pub name: String,
    /// Approximate number of entries.
    pub approximate_entries: u64,
}

/// Where agent `agent`'s shard of the cache of endpoint `uri` lives (module docs).
///
/// # Errors
/// An unsupported scheme.
///
/// ```
/// use cache_sai3::caches::cache_location;
/// use std::path::Path;
/// let cache_dir = Path::new("/var/cache/sai3");
/// let local = cache_location("file:///data/ep0/", cache_dir, 1)?;
/// assert_eq!(local, Path::new("/data/ep0/sai3-kv-cache/agents/1"));
/// let remote = cache_location("s3://bucket/data/", cache_dir, 0)?;
/// assert!(remote.starts_with("/var/cache/sai3/endpoints") && remote.ends_with("agents/0"));
/// assert!(cache_location("ftp://host/data/", cache_dir, 0).is_err());
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// ```
pub fn cache_location(uri: &str, cache_dir: &Path, agent: u32) -> Result<PathBuf> {
    Ok(namespace_cache_root(uri, cache_dir)?.join(crate::scheme::shard_dir(agent)))
}

/// The directory holding every shard of the cache of endpoint `uri`: inside a local endpoint,
/// or under the cache dir named by the xxh3 of the endpoint's storage namespace
/// ([`crate::dataset::namespace_of`]).
///
/// # Errors
/// An unsupported scheme.
///
/// ```
/// use cache_sai3::caches::namespace_cache_root;
/// use std::path::Path;
/// let cache_dir = Path::new("/var/cache/sai3");
/// let local = namespace_cache_root("direct:///mnt/nvme/data/", cache_dir)?;
/// assert_eq!(local, Path::new("/mnt/nvme/data/sai3-kv-cache"));
/// // Two hosts of one S3 cluster (same bucket and prefix) share one cache.
/// let a = namespace_cache_root("s3://10.0.0.1:9000/bucket/data/", cache_dir)?;
/// let b = namespace_cache_root("s3://10.0.0.2:9000/bucket/data/", cache_dir)?;
/// assert_eq!(a, b);
/// assert_ne!(a, namespace_cache_root("s3://bucket/other/", cache_dir)?);
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// ```
pub fn namespace_cache_root(uri: &str, cache_dir: &Path) -> Result<PathBuf> {
    let scheme = UriScheme::of(uri)?;
    if scheme.is_object_store() {
        // Named by the storage namespace, not the URI: every host of one S3 cluster (same
        // bucket and prefix) shares one cache, and a reordered endpoint list finds it again.
        let namespace = crate::dataset::namespace_of(uri);
        let id = xxhash_rust::xxh3::xxh3_64(namespace.as_bytes());
        return Ok(cache_dir.join("endpoints").join(format!("{id:016x}")));
    }
    local_path(uri)
        .map(|p| p.join(ENDPOINT_CACHE_DIR))
        .ok_or_else(|| Sai3Error::Endpoint {
            endpoint: uri.to_owned(),
            reason: "not a local path".into(),
        })
}

/// The shards under a namespace's cache directory `root` (see [`namespace_cache_root`]), as
/// `(agent, directory)` in agent order. Directories moved aside (`*.damaged-*`) and pull
/// staging directories are not shards.
///
/// ```
/// use cache_sai3::caches::shards_in;
/// # let tmp = tempfile::tempdir()?;
/// let root = tmp.path();
/// for dir in ["agents/2", "agents/0", "agents/1.damaged-1700000000000"] {
///     std::fs::create_dir_all(root.join(dir))?;
/// }
/// let agents: Vec<u32> = shards_in(root).into_iter().map(|(agent, _)| agent).collect();
/// assert_eq!(agents, [0, 2]);
/// assert!(shards_in(&root.join("missing")).is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn shards_in(root: &Path) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(root.join("agents")) else {
        return Vec::new();
    };
    let mut shards: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let agent = name.to_str()?.parse::<u32>().ok()?;
            e.path().is_dir().then(|| (agent, e.path()))
        })
        .collect();
    shards.sort();
    shards
}

impl<D: Database> EndpointCache<D> {
    /// Every keyspace an endpoint cache holds (what `clear --keyspace` accepts).
    ///
    /// ```
    /// use cache_sai3::caches::EndpointCache;
    /// # let tmp = tempfile::tempdir()?;
    /// type Db = cache_redb::RedbDatabase;
    /// let cache = EndpointCache::<Db>::open(tmp.path(), true)?;
    /// let names: Vec<String> = cache.stats()?.into_iter().map(|k| k.name).collect();
    /// assert!(EndpointCache::<Db>::KEYSPACES.iter().all(|k| names.iter().any(|n| n == k)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const KEYSPACES: [&'static str; 5] = [
        "objects",
        "file_paths",
        "listing_cache",
        "endpoint_metadata",
        "seeds",
    ];

    /// Opens (or, with `create`, creates) the endpoint cache at `location`.
    ///
    /// # Errors
    /// As [`Database::open`]: in use by another process, not a cache, another backend's cache.
    ///
    /// ```
    /// use cache_sai3::caches::EndpointCache;
    /// # let tmp = tempfile::tempdir()?;
    /// type Db = cache_redb::RedbDatabase;
    /// let location = tmp.path().join("cache");
    /// assert!(EndpointCache::<Db>::open(&location, false).is_err()); // nothing there yet
    /// drop(EndpointCache::<Db>::open(&location, true)?);
    /// assert!(EndpointCache::<Db>::open(&location, false).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(location: &Path, create: bool) -> Result<Self> {
        let options = OpenOptions {
            cache_size_bytes: 64 * 1024 * 1024,
            create_if_missing: create,
        };
        let db = D::open(location, &options)?;
        let fs = FrameSettings::default();
        let zstd = FrameSettings {
            compression: Compression::Zstd(3),
            ..fs
        };
        let cache = EndpointCache {
            objects: FramedKeyspace::open(&db, Self::KEYSPACES[0], fs)?,
            file_paths: FramedKeyspace::open(&db, Self::KEYSPACES[1], fs)?,
            listing_cache: FramedKeyspace::open(&db, Self::KEYSPACES[2], zstd)?,
            endpoint_metadata: FramedKeyspace::open(&db, Self::KEYSPACES[3], fs)?,
            seeds: FramedKeyspace::open(&db, Self::KEYSPACES[4], fs)?,
            location: location.to_owned(),
            db,
        };
        cache.check_layout(create)?;
        Ok(cache)
    }

    /// Checks the ledger layout recorded in the cache against [`LEDGER_LAYOUT`]; records it
    /// in a new cache (when `create`). A cache with ledger data but no layout is layout 1.
    fn check_layout(&self, create: bool) -> Result<()> {
        let found = match self.endpoint_metadata.get_record::<u32>(&[keys::LAYOUT])? {
            Some(found) => found,
            None if self
                .objects
                .prefix(&[], Direction::Forward)?
                .next()
                .is_some() =>
            {
                1
            }
            None if create => {
                self.endpoint_metadata.insert_record(
                    &[keys::LAYOUT],
                    &LEDGER_LAYOUT,
                    Durability::Flushed,
                )?;
                LEDGER_LAYOUT
            }
            None => LEDGER_LAYOUT,
        };
        if found != LEDGER_LAYOUT {
            return Err(Sai3Error::LedgerLayout {
                path: self.location.clone(),
                found,
                supported: LEDGER_LAYOUT,
            });
        }
        Ok(())
    }

    /// Where this cache lives.
    pub(crate) fn location(&self) -> &Path {
        &self.location
    }

    /// Moves memtables into tables, so that the next open replays no journal.
    ///
    /// # Errors
    /// Engine or I/O failures.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
    /// ledger.created(0, 5, 1_000)?;
    /// ledger.checkpoint(cache_core::Durability::Buffered)?;
    /// drop(ledger);
    /// cache.flush()?;
    /// drop(cache);
    /// let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, false)?;
    /// assert!(cache.presence(&dataset, 0)?.contains(5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&self) -> Result<()> {
        Ok(self.db.flush()?)
    }

    /// Makes every `Buffered` write durable.
    ///
    /// # Errors
    /// Engine or I/O failures.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// let path = dataset.path_of(&dataset.pools[0], 3).expect("object 3 exists");
    /// cache.check_path(&dataset, 0, 3, &path)?; // stored, buffered
    /// cache.persist()?; // now durable
    /// drop(cache);
    /// let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, false)?;
    /// assert!(cache.check_path(&dataset, 0, 3, "elsewhere.dat").is_err(), "the path was kept");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn persist(&self) -> Result<()> {
        Ok(self.db.persist(Durability::Flushed)?)
    }

    /// The seeds of `(dataset, pool)`, created from `default` (and stored) on first use.
    ///
    /// # Errors
    /// Storage failures, or a stored record that fails verification.
    pub(crate) fn seeds(
        &self,
        dataset: &Dataset,
        pool: u16,
        default: PoolSeeds,
    ) -> Result<PoolSeeds> {
        if let Some(s) = self.stored_seeds(dataset, pool)? {
            return Ok(s);
        }
        let key = keys::per_pool(keys::SEEDS, dataset.hash.dataset_id(), pool);
        self.seeds
            .insert_record(&key, &default, Durability::Flushed)?;
        Ok(default)
    }

    /// The stored seeds of `(dataset, pool)`, if a prepare stored them.
    ///
    /// # Errors
    /// Storage failures, or a stored record that fails verification.
    pub(crate) fn stored_seeds(&self, dataset: &Dataset, pool: u16) -> Result<Option<PoolSeeds>> {
        let key = keys::per_pool(keys::SEEDS, dataset.hash.dataset_id(), pool);
        Ok(self.seeds.get_record(&key)?)
    }

    /// The stored state of `dataset` on this endpoint (sealed or not), if it was written for
    /// exactly this dataset (same full config hash).
    ///
    /// # Errors
    /// Storage failures, or a stored record that fails verification.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// use cache_sai3::records::EndpointState;
    /// assert_eq!(cache.state(&dataset)?, None);
    /// let state = EndpointState {
    ///     config_hash: dataset.hash.full_hex(),
    ///     endpoint: 0,
    ///     uri: dataset.endpoints[0].clone(),
    ///     sealed_at_ms: Some(2_000),
    ///     created: vec![4],
    /// };
    /// cache.seal(&dataset, &state)?;
    /// assert_eq!(cache.state(&dataset)?, Some(state));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state(&self, dataset: &Dataset) -> Result<Option<EndpointState>> {
        self.state_for(&dataset.hash)
    }

    /// [`EndpointCache::state`] of the dataset whose config hash is `hash`.
    ///
    /// # Errors
    /// As [`EndpointCache::state`].
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// use cache_sai3::records::EndpointState;
    /// let state = EndpointState {
    ///     config_hash: dataset.hash.full_hex(),
    ///     endpoint: 0,
    ///     uri: dataset.endpoints[0].clone(),
    ///     sealed_at_ms: None,
    ///     created: vec![2],
    /// };
    /// cache.seal(&dataset, &state)?;
    /// assert_eq!(cache.state_for(&dataset.hash)?, Some(state));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state_for(&self, hash: &ConfigHash) -> Result<Option<EndpointState>> {
        let key = keys::per_dataset(keys::ENDPOINT_STATE, hash.dataset_id());
        let state: Option<EndpointState> = self.endpoint_metadata.get_record(&key)?;
        Ok(state.filter(|s| s.config_hash == hash.full_hex()))
    }

    /// When `dataset` was sealed on this endpoint (every object created), if it is.
    ///
    /// # Errors
    /// As [`EndpointCache::state`].
    pub(crate) fn seal_of(&self, dataset: &Dataset) -> Result<Option<u64>> {
        Ok(self.state(dataset)?.and_then(|s| s.sealed_at_ms))
    }

    /// Writes the state of `dataset` on this endpoint: sealed at `state.sealed_at_ms`, or not.
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
    /// use cache_sai3::records::EndpointState;
    /// let sealed = EndpointState {
    ///     config_hash: dataset.hash.full_hex(),
    ///     endpoint: 0,
    ///     uri: dataset.endpoints[0].clone(),
    ///     sealed_at_ms: Some(2_000),
    ///     created: vec![4],
    /// };
    /// cache.seal(&dataset, &sealed)?;
    /// assert_eq!(cache.state(&dataset)?.and_then(|s| s.sealed_at_ms), Some(2_000));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seal(&self, dataset: &Dataset, state: &EndpointState) -> Result<()> {
        let key = keys::per_dataset(keys::ENDPOINT_STATE, dataset.hash.dataset_id());
        self.endpoint_metadata
            .insert_record(&key, state, Durability::Flushed)?;
        Ok(())
    }

    /// When the knowledge behind `dataset`'s unsealed ledger was taken, if a prepare that
    /// created objects left one (see [`ResumeBasis`]).
    ///
    /// # Errors
    /// Storage failures, or a record that fails verification.
    pub(crate) fn resume_basis(&self, dataset: &Dataset) -> Result<Option<u64>> {
        let key = keys::per_dataset(keys::RESUME_BASIS, dataset.hash.dataset_id());
        let basis: Option<ResumeBasis> = self.endpoint_metadata.get_record(&key)?;
        Ok(basis
            .filter(|b| b.config_hash == dataset.hash.full_hex())
            .map(|b| b.known_at_ms))
    }

    /// Records that `dataset`'s ledger describes the endpoint as known at `known_at_ms` plus
    /// what is recorded from now on (before the first PUT of a prepare).
    ///
    /// # Errors
    /// Storage failures.
    pub(crate) fn set_resume_basis(&self, dataset: &Dataset, known_at_ms: u64) -> Result<()> {
        let key = keys::per_dataset(keys::RESUME_BASIS, dataset.hash.dataset_id());
        let basis = ResumeBasis {
            config_hash: dataset.hash.full_hex(),
            known_at_ms,
        };
        self.endpoint_metadata
            .insert_record(&key, &basis, Durability::Flushed)?;
        Ok(())
    }

    /// How `dataset`'s knowledge on this endpoint was last checked against the store (empty
    /// when never, or for another dataset).
    ///
    /// # Errors
    /// Storage failures, or a record that fails verification.
    pub(crate) fn validations(&self, dataset: &Dataset) -> Result<Validations> {
        let key = keys::per_dataset(keys::VALIDATIONS, dataset.hash.dataset_id());
        let stored: Option<Validations> = self.endpoint_metadata.get_record(&key)?;
        let full = dataset.hash.full_hex();
        Ok(stored
            .filter(|v| v.config_hash == full)
            .unwrap_or(Validations {
                config_hash: full,
                ..Validations::default()
            }))
    }

    /// Records the LIST `measure` of `dataset` (it finished) as its last.
    ///
    /// # Errors
    /// Storage failures.
    pub(crate) fn record_list(&self, dataset: &Dataset, measure: ListMeasure) -> Result<()> {
        let mut v = self.validations(dataset)?;
        v.last_list = Some(measure);
        self.store_validations(dataset, &v)
    }

    /// Records that a sampled verify checked `dataset` on this endpoint at `at_ms`.
    ///
    /// # Errors
    /// Storage failures.
    pub(crate) fn record_verify(&self, dataset: &Dataset, at_ms: u64) -> Result<()> {
        let mut v = self.validations(dataset)?;
        v.verified_at_ms = Some(at_ms);
        self.store_validations(dataset, &v)
    }

    fn store_validations(&self, dataset: &Dataset, v: &Validations) -> Result<()> {
        let key = keys::per_dataset(keys::VALIDATIONS, dataset.hash.dataset_id());
        self.endpoint_metadata
            .insert_record(&key, v, Durability::Flushed)?;
        Ok(())
    }

    /// Removes `dataset`'s resume basis (its seal supersedes it).
    ///
    /// # Errors
    /// Storage failures.
    pub(crate) fn clear_resume_basis(&self, dataset: &Dataset) -> Result<()> {
        let key = keys::per_dataset(keys::RESUME_BASIS, dataset.hash.dataset_id());
        self.endpoint_metadata.remove(&key, Durability::Flushed)?;
        Ok(())
    }

    /// Removes the seal of `dataset` (the next prepare lists and recreates). Returns whether
    /// there was one.
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
    /// # use cache_sai3::records::EndpointState;
    /// # let sealed = EndpointState {
    /// #     config_hash: dataset.hash.full_hex(),
    /// #     endpoint: 0,
    /// #     uri: dataset.endpoints[0].clone(),
    /// #     sealed_at_ms: Some(2_000),
    /// #     created: vec![4],
    /// # };
    /// cache.seal(&dataset, &sealed)?;
    /// assert!(cache.unseal(&dataset)?);
    /// assert!(!cache.unseal(&dataset)?); // no seal left
    /// let state = cache.state(&dataset)?.expect("the state stays");
    /// assert_eq!((state.sealed_at_ms, state.created), (None, vec![4]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unseal(&self, dataset: &Dataset) -> Result<bool> {
        let Some(mut state) = self.state(dataset)? else {
            return Ok(false);
        };
        if state.sealed_at_ms.take().is_none() {
            return Ok(false);
        }
        let key = keys::per_dataset(keys::ENDPOINT_STATE, dataset.hash.dataset_id());
        self.endpoint_metadata
            .insert_record(&key, &state, Durability::Flushed)?;
        Ok(true)
    }

    /// Checks the stored path of object `index` of `pool` against `path` (computed from the
    /// naming rules) and stores it if none is stored (lazy population, durable at the next
    /// [`EndpointCache::persist`]).
    ///
    /// # Errors
    /// `Corrupt` when a stored path disagrees with the naming rules; storage failures.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let dir = tmp.path().join("cache");
    /// # type Db = cache_redb::RedbDatabase;
    /// # let cache = cache_sai3::caches::EndpointCache::<Db>::open(&dir, true)?;
    /// let path = dataset.path_of(&dataset.pools[0], 3).expect("object 3 exists");
    /// cache.check_path(&dataset, 0, 3, &path)?; // stored
    /// cache.check_path(&dataset, 0, 3, &path)?; // agrees
    /// let other = cache.check_path(&dataset, 0, 3, "elsewhere/file.dat");
    /// assert!(other.is_err_and(|e| e.is_damage()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_path(&self, dataset: &Dataset, pool: u16, index: u64, path: &str) -> Result<()> {
        let key = keys::per_object(keys::FILE_PATH, dataset.hash.dataset_id(), pool, index);
        match self.file_paths.get(&key)? {
            Some(stored) if stored == path.as_bytes() => Ok(()),
            Some(_) => Err(cache_core::Error::corrupt(
                self.file_paths.name(),
                &key,
                "stored path disagrees with the naming rules",
            )
            .into()),
            None => Ok(self
                .file_paths
                .insert(&key, path.as_bytes(), Durability::Buffered)?),
        }
    }

    /// Stores the path of every index in `owned[pool.id]` for each of `pools` (eager
    /// population, one sorted bulk load), counting the paths stored in `stored`; does nothing
    /// when an earlier run stored them.
    ///
    /// # Errors
    /// Storage failures; an index without a path (past its pool's end) is a caller bug,
    /// reported as an invalid argument.
    pub(crate) fn populate_paths(
        &self,
        dataset: &Dataset,
        pools: &[&Pool],
        owned: &[RoaringTreemap],
        stored: &AtomicU64,
    ) -> Result<()> {
        let ds = dataset.hash.dataset_id();
        let raw = self.file_paths.raw();
        // A sorted load writes the last key last: if every pool's last path is stored, an earlier
        // prepare populated this dataset already.
        let mut done = true;
        for p in pools {
            if let Some(last) = owned[p.id as usize].max() {
                done &= raw.contains(&keys::per_object(keys::FILE_PATH, ds, p.id, last))?;
            }
        }
        if done {
            return Ok(());
        }
        let mut failure = None;
        let mut rows = pools
            .iter()
            .flat_map(|p| owned[p.id as usize].iter().map(move |i| (*p, i)))
            .map_while(|(p, i)| {
                let key = keys::per_object(keys::FILE_PATH, ds, p.id, i);
                let Some(path) = dataset.path_of(p, i) else {
                    failure = Some((p.id, i));
                    return None;
                };
                let value = frame::encode(
                    &key,
                    frame::FrameKind::Value,
                    path.as_bytes(),
                    Compression::Lz4,
                );
                stored.fetch_add(1, Ordering::Relaxed);
                Some((key, value))
            });
        self.db.ingest_sorted(raw, &mut rows)?;
        drop(rows);
        match failure {
            None => Ok(()),
            Some((pool, i)) => Err(cache_core::Error::InvalidArgument(format!(
                "object {i} of pool {pool} has no path: it is past the pool's end"
            ))
            .into()),
        }
    }

    /// Entries per keyspace.
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
    /// let path = dataset.path_of(&dataset.pools[0], 3).expect("object 3 exists");
    /// cache.check_path(&dataset, 0, 3, &path)?;
    /// cache.persist()?;
    /// let stats = cache.stats()?;
    /// let paths = stats.iter().find(|k| k.name == "file_paths").expect("a keyspace");
    /// assert_eq!(paths.approximate_entries, 1); // exact on redb
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> Result<Vec<KeyspaceStats>> {
        keyspace_stats(&self.db)
    }
}

/// Entries per keyspace of any cache database.
pub(super) fn keyspace_stats<D: Database>(db: &D) -> Result<Vec<KeyspaceStats>> {
    let mut out = Vec::new();
    for name in db.keyspace_names()? {
        let approximate_entries = db.keyspace(&name)?.approximate_len()?;
        out.push(KeyspaceStats {
            name,
            approximate_entries,
        });
    }
    Ok(out)
}
