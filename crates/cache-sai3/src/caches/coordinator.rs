//! The coordinator cache: small, shared facts about datasets, in
//! `{cache dir}/.sai3-coordinator-cache/`.
//!
//! Keyspaces: `tree_manifests` (tree parameters), `endpoint_registry` (one entry per endpoint),
//! `config_metadata` (hash, name, totals, endpoints, last use, cache format).
//!
//! ```
//! # let tmp = tempfile::tempdir()?;
//! # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
//! # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
//! # let cache_dir = tmp.path().join("cache");
//! # let roots: Vec<_> = dataset.endpoints.iter()
//! #     .map(|u| cache_sai3::caches::namespace_cache_root(u, &cache_dir))
//! #     .collect::<Result<_, _>>()?;
//! # type Db = cache_redb::RedbDatabase;
//! use cache_sai3::caches::CoordinatorCache;
//! let coordinator = CoordinatorCache::<Db>::open(&cache_dir, true)?;
//! coordinator.register(&dataset, "example", &roots, 1_000)?;
//! let known = coordinator.datasets()?;
//! assert_eq!(known.len(), 1);
//! assert_eq!(known[0].metadata.config_hash, dataset.hash.full_hex());
//! assert!(cache_dir.join(".sai3-coordinator-cache").exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use cache_core::{
    Database, Direction, Durability, FrameSettings, FramedKeyspace, KeyBuilder, OpenOptions,
    WriteBatch,
};
use serde::{Deserialize, Serialize};

use super::keys;
use crate::dataset::Dataset;
use crate::error::{Result, Sai3Error};
use crate::records::{ConfigMetadata, EndpointEntry, TreeManifest, TreeParams};

/// Name of the coordinator cache directory inside the cache dir.
///
/// ```
/// use cache_sai3::caches::{COORDINATOR_DIR, coordinator_location};
/// let location = coordinator_location(std::path::Path::new("/var/cache/sai3"));
/// assert!(location.ends_with(COORDINATOR_DIR));
/// assert!(COORDINATOR_DIR.starts_with('.'), "hidden in the cache dir");
/// ```
pub const COORDINATOR_DIR: &str = ".sai3-coordinator-cache";

/// Where the coordinator cache of `cache_dir` lives.
///
/// ```
/// use cache_sai3::caches::coordinator_location;
/// let location = coordinator_location(std::path::Path::new("/var/cache/sai3"));
/// assert_eq!(location, std::path::Path::new("/var/cache/sai3/.sai3-coordinator-cache"));
/// ```
pub fn coordinator_location(cache_dir: &Path) -> PathBuf {
    cache_dir.join(COORDINATOR_DIR)
}

/// What the coordinator knows of one dataset.
///
/// ```
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
/// # let cache_dir = tmp.path().join("cache");
/// # let roots: Vec<_> = dataset.endpoints.iter()
/// #     .map(|u| cache_sai3::caches::namespace_cache_root(u, &cache_dir))
/// #     .collect::<Result<_, _>>()?;
/// # type Db = cache_redb::RedbDatabase;
/// use cache_sai3::caches::{CoordinatorCache, DatasetSummary};
/// let coordinator = CoordinatorCache::<Db>::open(&cache_dir, true)?;
/// coordinator.register(&dataset, "example", &roots, 1_000)?;
/// let summary: &DatasetSummary = &coordinator.datasets()?[0];
/// assert_eq!(summary.metadata.test_name, "example");
/// assert!(summary.manifest.as_ref().is_some_and(|m| m.tree.is_some()));
/// assert_eq!(summary.endpoints.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetSummary {
    /// Identity, name, totals, endpoints, first and last use.
    pub metadata: ConfigMetadata,
    /// The layout (tree parameters or flat shards).
    pub manifest: Option<TreeManifest>,
    /// Per endpoint: URI, where its cache lives, objects assigned.
    pub endpoints: Vec<EndpointEntry>,
}

/// The coordinator cache of one cache dir.
///
/// ```
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
/// # let cache_dir = tmp.path().join("cache");
/// # let roots: Vec<_> = dataset.endpoints.iter()
/// #     .map(|u| cache_sai3::caches::namespace_cache_root(u, &cache_dir))
/// #     .collect::<Result<_, _>>()?;
/// # type Db = cache_redb::RedbDatabase;
/// use cache_sai3::caches::CoordinatorCache;
/// let coordinator = CoordinatorCache::<Db>::open(&cache_dir, true)?;
/// assert_eq!(coordinator.metadata(&dataset)?, None); // never registered
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CoordinatorCache<D: Database> {
    db: D,
    tree_manifests: FramedKeyspace<D>,
    endpoint_registry: FramedKeyspace<D>,
    config_metadata: FramedKeyspace<D>,
}

impl<D: Database> CoordinatorCache<D> {
    /// Every keyspace a coordinator cache holds.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let cache_dir = tmp.path().join("cache");
    /// # let roots: Vec<_> = dataset.endpoints.iter()
    /// #     .map(|u| cache_sai3::caches::namespace_cache_root(u, &cache_dir))
    /// #     .collect::<Result<_, _>>()?;
    /// # type Db = cache_redb::RedbDatabase;
    /// use cache_sai3::caches::CoordinatorCache;
    /// let coordinator = CoordinatorCache::<Db>::open(&cache_dir, true)?;
    /// let names: Vec<String> = coordinator.stats()?.into_iter().map(|k| k.name).collect();
    /// assert!(CoordinatorCache::<Db>::KEYSPACES.iter().all(|k| names.iter().any(|n| n == k)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const KEYSPACES: [&'static str; 3] =
        ["tree_manifests", "endpoint_registry", "config_metadata"];

    /// Opens (or, with `create`, creates) the coordinator cache of `cache_dir`.
    ///
    /// # Errors
    /// As [`Database::open`].
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let cache_dir = tmp.path().join("cache");
    /// # let roots: Vec<_> = dataset.endpoints.iter()
    /// #     .map(|u| cache_sai3::caches::namespace_cache_root(u, &cache_dir))
    /// #     .collect::<Result<_, _>>()?;
    /// # type Db = cache_redb::RedbDatabase;
    /// use cache_sai3::caches::CoordinatorCache;
    /// assert!(CoordinatorCache::<Db>::open(&cache_dir, false).is_err()); // none yet
    /// drop(CoordinatorCache::<Db>::open(&cache_dir, true)?);
    /// assert!(CoordinatorCache::<Db>::open(&cache_dir, false).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(cache_dir: &Path, create: bool) -> Result<Self> {
        let options = OpenOptions {
            cache_size_bytes: 16 * 1024 * 1024,
            create_if_missing: create,
        };
        let db = D::open(&coordinator_location(cache_dir), &options)?;
        let fs = FrameSettings::default();
        Ok(CoordinatorCache {
            tree_manifests: FramedKeyspace::open(&db, Self::KEYSPACES[0], fs)?,
            endpoint_registry: FramedKeyspace::open(&db, Self::KEYSPACES[1], fs)?,
            config_metadata: FramedKeyspace::open(&db, Self::KEYSPACES[2], fs)?,
            db,
        })
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
    /// # let cache_dir = tmp.path().join("cache");
    /// # let roots: Vec<_> = dataset.endpoints.iter()
    /// #     .map(|u| cache_sai3::caches::namespace_cache_root(u, &cache_dir))
    /// #     .collect::<Result<_, _>>()?;
    /// # type Db = cache_redb::RedbDatabase;
    /// use cache_sai3::caches::CoordinatorCache;
    /// let coordinator = CoordinatorCache::<Db>::open(&cache_dir, true)?;
    /// coordinator.register(&dataset, "example", &roots, 1_000)?;
    /// let stats = coordinator.stats()?;
    /// let registry = stats.iter().find(|k| k.name == "endpoint_registry").expect("a keyspace");
    /// assert_eq!(registry.approximate_entries, 2); // one entry per endpoint (exact on redb)
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> Result<Vec<super::KeyspaceStats>> {
        super::endpoint::keyspace_stats(&self.db)
    }

    /// Every dataset this cache dir has prepared, newest use first, with its endpoints.
    ///
    /// # Errors
    /// Storage failures, or a record that fails verification.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let cache_dir = tmp.path().join("cache");
    /// # let roots: Vec<_> = dataset.endpoints.iter()
    /// #     .map(|u| cache_sai3::caches::namespace_cache_root(u, &cache_dir))
    /// #     .collect::<Result<_, _>>()?;
    /// # type Db = cache_redb::RedbDatabase;
    /// use cache_sai3::caches::CoordinatorCache;
    /// # let other_config = tmp.path().join("other.yaml");
    /// # let yaml = std::fs::read_to_string(&config)?;
    /// # std::fs::write(&other_config, yaml.replace("size_spec: 64", "size_spec: 65"))?;
    /// let other = cache_sai3::dataset::Dataset::load(&other_config)?;
    /// let coordinator = CoordinatorCache::<Db>::open(&cache_dir, true)?;
    /// coordinator.register(&dataset, "example", &roots, 1_000)?;
    /// coordinator.register(&other, "other", &roots, 2_000)?;
    /// let names: Vec<String> =
    ///     coordinator.datasets()?.into_iter().map(|d| d.metadata.test_name).collect();
    /// assert_eq!(names, ["other", "example"]); // newest use first
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn datasets(&self) -> Result<Vec<DatasetSummary>> {
        let prefix = KeyBuilder::new(keys::CONFIG_METADATA).finish();
        let mut out = Vec::new();
        for item in self.config_metadata.prefix(&prefix, Direction::Forward)? {
            let (key, value) = item?;
            let metadata: ConfigMetadata =
                cache_core::record::decode(self.config_metadata.name(), &key, &value)?;
            let id = keys::decode_dataset(keys::CONFIG_METADATA, &key)?;
            let endpoints = (0..metadata.endpoints.len() as u16)
                .map(|e| {
                    let key = keys::per_pool(keys::ENDPOINT_ENTRY, id, e);
                    self.endpoint_registry.get_record(&key)
                })
                .collect::<cache_core::Result<Vec<Option<EndpointEntry>>>>()?
                .into_iter()
                .flatten()
                .collect();
            let manifest = self
                .tree_manifests
                .get_record(&keys::per_dataset(keys::TREE_MANIFEST, id))?;
            out.push(DatasetSummary {
                metadata,
                manifest,
                endpoints,
            });
        }
        out.sort_by_key(|d| std::cmp::Reverse(d.metadata.last_used_ms));
        Ok(out)
    }

    /// What the coordinator knows about `dataset`, if anything.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let cache_dir = tmp.path().join("cache");
    /// # let roots: Vec<_> = dataset.endpoints.iter()
    /// #     .map(|u| cache_sai3::caches::namespace_cache_root(u, &cache_dir))
    /// #     .collect::<Result<_, _>>()?;
    /// # type Db = cache_redb::RedbDatabase;
    /// use cache_sai3::caches::CoordinatorCache;
    /// let coordinator = CoordinatorCache::<Db>::open(&cache_dir, true)?;
    /// coordinator.register(&dataset, "example", &roots, 1_000)?;
    /// coordinator.register(&dataset, "example", &roots, 5_000)?;
    /// let meta = coordinator.metadata(&dataset)?.expect("registered");
    /// assert_eq!((meta.created_ms, meta.last_used_ms), (1_000, 5_000));
    /// assert_eq!(meta.total_objects, 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metadata(&self, dataset: &Dataset) -> Result<Option<ConfigMetadata>> {
        let key = keys::per_dataset(keys::CONFIG_METADATA, dataset.hash.dataset_id());
        Ok(self.config_metadata.get_record(&key)?)
    }

    /// The stored tree manifest of `dataset`, if any.
    pub(crate) fn manifest(&self, dataset: &Dataset) -> Result<Option<TreeManifest>> {
        let key = keys::per_dataset(keys::TREE_MANIFEST, dataset.hash.dataset_id());
        Ok(self.tree_manifests.get_record(&key)?)
    }

    /// The registry entry of endpoint `endpoint` (its number in the whole dataset) of `dataset`.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let cache_dir = tmp.path().join("cache");
    /// # let roots: Vec<_> = dataset.endpoints.iter()
    /// #     .map(|u| cache_sai3::caches::namespace_cache_root(u, &cache_dir))
    /// #     .collect::<Result<_, _>>()?;
    /// # type Db = cache_redb::RedbDatabase;
    /// use cache_sai3::caches::CoordinatorCache;
    /// let coordinator = CoordinatorCache::<Db>::open(&cache_dir, true)?;
    /// coordinator.register(&dataset, "example", &roots, 1_000)?;
    /// let entry = coordinator.endpoint(&dataset, 1)?.expect("registered");
    /// assert_eq!(entry.uri, dataset.endpoints[1]);
    /// assert_eq!(entry.assigned_count, 4); // object i on endpoint i % 2
    /// assert_eq!(coordinator.endpoint(&dataset, 2)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn endpoint(&self, dataset: &Dataset, endpoint: u16) -> Result<Option<EndpointEntry>> {
        let key = keys::per_pool(keys::ENDPOINT_ENTRY, dataset.hash.dataset_id(), endpoint);
        Ok(self.endpoint_registry.get_record(&key)?)
    }

    /// Records `dataset` (manifest, registry, metadata) as used now, in one atomic batch.
    /// `cache_locations[e]` is the directory holding the shards of endpoint `e`'s cache. An
    /// agent's view registers its endpoints under their numbers in the whole dataset, so the
    /// registry of a cache dir used by several views stays one list.
    ///
    /// ```
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let cache_dir = tmp.path().join("cache");
    /// # let roots: Vec<_> = dataset.endpoints.iter()
    /// #     .map(|u| cache_sai3::caches::namespace_cache_root(u, &cache_dir))
    /// #     .collect::<Result<_, _>>()?;
    /// # type Db = cache_redb::RedbDatabase;
    /// use cache_sai3::caches::CoordinatorCache;
    /// let coordinator = CoordinatorCache::<Db>::open(&cache_dir, true)?;
    /// let meta = coordinator.register(&dataset, "example", &roots, 1_000)?;
    /// assert_eq!((meta.total_objects, meta.last_used_ms), (8, 1_000));
    /// assert_eq!(coordinator.metadata(&dataset)?, Some(meta));
    /// assert!(coordinator.register(&dataset, "example", &roots[..1], 2_000).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register(
        &self,
        dataset: &Dataset,
        test_name: &str,
        cache_locations: &[PathBuf],
        now_ms: u64,
    ) -> Result<ConfigMetadata> {
        let id = dataset.hash.dataset_id();
        if cache_locations.len() != dataset.endpoints.len() {
            return Err(Sai3Error::Endpoint {
                endpoint: "(all)".into(),
                reason: format!(
                    "{} cache locations for {} endpoints",
                    cache_locations.len(),
                    dataset.endpoints.len()
                ),
            });
        }
        let created_ms = self.metadata(dataset)?.map_or(now_ms, |m| m.created_ms);
        let meta = ConfigMetadata {
            config_hash: dataset.hash.full_hex(),
            test_name: test_name.to_owned(),
            total_objects: dataset.total_objects(),
            total_dirs: dataset.total_dirs(),
            endpoints: dataset.endpoints.clone(),
            created_ms,
            last_used_ms: now_ms,
            cache_format: cache_core::marker::FORMAT_VERSION,
        };
        let manifest = TreeManifest {
            config_hash: dataset.hash.full_hex(),
            tree: dataset.tree.as_ref().map(|t| TreeParams {
                width: t.width(),
                depth: t.depth(),
                files_per_dir: t.files_per_dir(),
                distribution: t.distribution().as_str().to_owned(),
                dir_mask: t.dir_mask().to_owned(),
            }),
            key_prefix_shards: dataset.key_prefix_shards,
            total_objects: dataset.total_objects(),
            total_dirs: dataset.total_dirs(),
        };
        let mut batch = self.db.batch();
        self.tree_manifests.insert_record_into(
            &mut batch,
            &keys::per_dataset(keys::TREE_MANIFEST, id),
            &manifest,
        )?;
        for (e, (uri, location)) in dataset.endpoints.iter().zip(cache_locations).enumerate() {
            let e16 = e as u16;
            let entry = EndpointEntry {
                uri: uri.clone(),
                cache_location: location.display().to_string(),
                assigned_count: dataset
                    .pools
                    .iter()
                    .map(|p| crate::placement::count_on_endpoint(p, e16))
                    .sum(),
                strategy: dataset.balance.as_str().to_owned(),
            };
            self.endpoint_registry.insert_record_into(
                &mut batch,
                &keys::per_pool(keys::ENDPOINT_ENTRY, id, dataset.global_endpoint(e16)),
                &entry,
            )?;
        }
        self.config_metadata.insert_record_into(
            &mut batch,
            &keys::per_dataset(keys::CONFIG_METADATA, id),
            &meta,
        )?;
        batch.commit(Durability::Synced)?;
        Ok(meta)
    }
}
