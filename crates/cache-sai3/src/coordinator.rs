//! The coordinator cache: small, shared facts about datasets, in
//! `{cache dir}/.sai3-coordinator-cache/`.
//!
//! Keyspaces: `tree_manifests` (tree parameters), `endpoint_registry` (one entry per endpoint),
//! `config_metadata` (hash, name, totals, endpoints, last use, cache format).

use std::path::{Path, PathBuf};

use cache_core::{Database, Durability, FrameSettings, FramedKeyspace, OpenOptions, WriteBatch};

use crate::dataset::Dataset;
use crate::error::Result;
use crate::keys;
use crate::records::{ConfigMetadata, EndpointEntry, TreeManifest, TreeParams};

/// Name of the coordinator cache directory inside the cache dir.
pub const COORDINATOR_DIR: &str = ".sai3-coordinator-cache";

/// Where the coordinator cache of `cache_dir` lives.
pub fn coordinator_location(cache_dir: &Path) -> PathBuf {
    cache_dir.join(COORDINATOR_DIR)
}

/// The coordinator cache of one cache dir.
pub struct CoordinatorCache<D: Database> {
    db: D,
    tree_manifests: FramedKeyspace<D>,
    endpoint_registry: FramedKeyspace<D>,
    config_metadata: FramedKeyspace<D>,
}

impl<D: Database> CoordinatorCache<D> {
    /// Opens (or, with `create`, creates) the coordinator cache of `cache_dir`.
    ///
    /// # Errors
    /// As [`Database::open`].
    pub fn open(cache_dir: &Path, create: bool) -> Result<Self> {
        let options = OpenOptions {
            cache_size_bytes: 16 * 1024 * 1024,
            create_if_missing: create,
        };
        let db = D::open(&coordinator_location(cache_dir), &options)?;
        let fs = FrameSettings::default();
        Ok(CoordinatorCache {
            tree_manifests: FramedKeyspace::open(&db, "tree_manifests", fs)?,
            endpoint_registry: FramedKeyspace::open(&db, "endpoint_registry", fs)?,
            config_metadata: FramedKeyspace::open(&db, "config_metadata", fs)?,
            db,
        })
    }

    /// The database (for stats).
    pub fn database(&self) -> &D {
        &self.db
    }

    /// What the coordinator knows about `dataset`, if anything.
    pub fn metadata(&self, dataset: &Dataset) -> Result<Option<ConfigMetadata>> {
        let key = keys::per_dataset(keys::CONFIG_METADATA, dataset.hash.dataset_id());
        Ok(self.config_metadata.get_record(&key)?)
    }

    /// The stored tree manifest of `dataset`, if any.
    pub fn manifest(&self, dataset: &Dataset) -> Result<Option<TreeManifest>> {
        let key = keys::per_dataset(keys::TREE_MANIFEST, dataset.hash.dataset_id());
        Ok(self.tree_manifests.get_record(&key)?)
    }

    /// The registry entry of endpoint `endpoint` of `dataset`.
    pub fn endpoint(&self, dataset: &Dataset, endpoint: u16) -> Result<Option<EndpointEntry>> {
        let key = keys::per_pool(keys::ENDPOINT_ENTRY, dataset.hash.dataset_id(), endpoint);
        Ok(self.endpoint_registry.get_record(&key)?)
    }

    /// Records `dataset` (manifest, registry, metadata) as used now, in one atomic batch.
    /// `cache_locations[e]` is where endpoint `e`'s cache lives.
    pub fn register(
        &self,
        dataset: &Dataset,
        test_name: &str,
        cache_locations: &[PathBuf],
        now_ms: u64,
    ) -> Result<ConfigMetadata> {
        let id = dataset.hash.dataset_id();
        let created_ms = self
            .metadata(dataset)
            .ok()
            .flatten()
            .map_or(now_ms, |m| m.created_ms);
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
        for (e, uri) in dataset.endpoints.iter().enumerate() {
            let e16 = e as u16;
            let entry = EndpointEntry {
                uri: uri.clone(),
                cache_location: cache_locations
                    .get(e)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                assigned_count: dataset
                    .pools
                    .iter()
                    .map(|p| dataset.count_on_endpoint(p, e16))
                    .sum(),
                strategy: dataset.strategy.as_str().to_owned(),
            };
            self.endpoint_registry.insert_record_into(
                &mut batch,
                &keys::per_pool(keys::ENDPOINT_ENTRY, id, e16),
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
