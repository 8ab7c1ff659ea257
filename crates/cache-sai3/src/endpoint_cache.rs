//! The cache of one endpoint, holding only the objects that endpoint owns.
//!
//! Location: `{endpoint}/sai3-kv-cache/` for `file://` and `direct://` endpoints (the cache
//! travels with the data); `{cache dir}/endpoints/{id}/` for object stores, where `id` is a
//! hash of the normalized endpoint URI (synced to `{endpoint}/sai3-kv-cache/` by cache-sync).
//!
//! Keyspaces: `objects` (the ledger and its presence bitmaps), `file_paths`, `listing_cache`,
//! `endpoint_metadata`, `agent_map`, `seeds`.

use std::path::{Path, PathBuf};

use cache_core::ttl::UriScheme;
use cache_core::{
    Compression, Database, DatasetId, Durability, FrameSettings, FramedKeyspace, OpenOptions,
};

use crate::error::{Result, Sai3Error};
use crate::keys;
use crate::records::{AgentMap, EndpointState, PoolSeeds};

/// Name of the cache directory inside a file endpoint (and in object stores).
pub const ENDPOINT_CACHE_DIR: &str = "sai3-kv-cache";

/// The cache of one endpoint.
pub struct EndpointCache<D: Database> {
    db: D,
    /// The object ledger and presence bitmaps.
    pub objects: FramedKeyspace<D>,
    /// Stored paths (eager or lazy population).
    pub file_paths: FramedKeyspace<D>,
    /// Listing snapshots (zstd).
    pub listing_cache: FramedKeyspace<D>,
    /// Per-dataset endpoint state (the seal).
    pub endpoint_metadata: FramedKeyspace<D>,
    /// Agent layout per dataset.
    pub agent_map: FramedKeyspace<D>,
    /// Seeds per dataset and pool.
    pub seeds: FramedKeyspace<D>,
    location: PathBuf,
}

/// The local path of a `file://` or `direct://` endpoint URI.
pub fn local_path(uri: &str) -> Option<PathBuf> {
    let rest = uri
        .strip_prefix("file://")
        .or_else(|| uri.strip_prefix("direct://"))?;
    Some(PathBuf::from(rest))
}

/// Where the cache of endpoint `uri` lives.
///
/// # Errors
/// An unsupported scheme.
pub fn cache_location(uri: &str, cache_dir: &Path) -> Result<PathBuf> {
    let scheme = UriScheme::of(uri)?;
    if scheme.is_object_store() {
        let id = xxhash_rust::xxh3::xxh3_64(uri.as_bytes());
        return Ok(cache_dir.join("endpoints").join(format!("{id:016x}")));
    }
    local_path(uri)
        .map(|p| p.join(ENDPOINT_CACHE_DIR))
        .ok_or_else(|| Sai3Error::Endpoint {
            endpoint: uri.to_owned(),
            reason: "not a local path".into(),
        })
}

impl<D: Database> EndpointCache<D> {
    /// Opens (or, with `create`, creates) the endpoint cache at `location`.
    ///
    /// # Errors
    /// As [`Database::open`].
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
        Ok(EndpointCache {
            objects: FramedKeyspace::open(&db, "objects", fs)?,
            file_paths: FramedKeyspace::open(&db, "file_paths", fs)?,
            listing_cache: FramedKeyspace::open(&db, "listing_cache", zstd)?,
            endpoint_metadata: FramedKeyspace::open(&db, "endpoint_metadata", fs)?,
            agent_map: FramedKeyspace::open(&db, "agent_map", fs)?,
            seeds: FramedKeyspace::open(&db, "seeds", fs)?,
            location: location.to_owned(),
            db,
        })
    }

    /// The database.
    pub fn database(&self) -> &D {
        &self.db
    }

    /// Where this cache lives.
    pub fn location(&self) -> &Path {
        &self.location
    }

    /// The seeds of `(dataset, pool)`, created from `default` (and stored) on first use.
    pub fn seeds(&self, dataset: DatasetId, pool: u16, default: PoolSeeds) -> Result<PoolSeeds> {
        let key = keys::per_pool(keys::SEEDS, dataset, pool);
        if let Some(s) = self.seeds.get_record(&key)? {
            return Ok(s);
        }
        self.seeds
            .insert_record(&key, &default, Durability::Flushed)?;
        Ok(default)
    }

    /// The stored state (seal) of `dataset` on this endpoint.
    pub fn state(&self, dataset: DatasetId) -> Result<Option<EndpointState>> {
        let key = keys::per_dataset(keys::ENDPOINT_STATE, dataset);
        Ok(self.endpoint_metadata.get_record(&key)?)
    }

    /// The agent layout `dataset` was prepared with.
    pub fn agent_map(&self, dataset: DatasetId) -> Result<Option<AgentMap>> {
        let key = keys::per_dataset(keys::AGENT_MAP, dataset);
        Ok(self.agent_map.get_record(&key)?)
    }
}
