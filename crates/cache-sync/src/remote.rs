//! The remote layout of a cache under a root path of an object store:
//!
//! ```text
//! {root}/files/{sha256}.zst          file contents, zstd-compressed, content-addressed, immutable
//! {root}/generations/{n:020}.json    manifest of generation n, created with a conditional put
//! ```

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::{Result, store};
use crate::manifest::Manifest;

/// A cache's place in an object store.
#[derive(Debug, Clone)]
pub struct RemoteCache {
    store: Arc<dyn ObjectStore>,
    root: StorePath,
}

impl RemoteCache {
    /// The cache under `root` (e.g. `sai3-kv-cache`) of `store`.
    pub fn new(store: Arc<dyn ObjectStore>, root: &str) -> Self {
        RemoteCache {
            store,
            root: StorePath::from(root),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    fn join(&self, rest: &str) -> StorePath {
        StorePath::from(format!("{}/{rest}", self.root))
    }

    /// Where the blob of content `sha256` lives.
    pub fn blob(&self, sha256: &str) -> StorePath {
        self.join(&format!("files/{sha256}.zst"))
    }

    /// Where the manifest of `generation` lives.
    pub fn manifest_path(&self, generation: u64) -> StorePath {
        self.join(&format!("generations/{generation:020}.json"))
    }

    /// The `files/` prefix.
    pub fn files_prefix(&self) -> StorePath {
        self.join("files")
    }

    /// Generation numbers present, ascending.
    pub async fn generations(&self) -> Result<Vec<u64>> {
        let prefix = self.join("generations");
        let metas: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(store(&prefix))?;
        let mut gens: Vec<u64> = metas
            .iter()
            .filter_map(|m| {
                m.location
                    .filename()
                    .and_then(|f| f.strip_suffix(".json"))
                    .and_then(|n| n.parse().ok())
            })
            .collect();
        gens.sort_unstable();
        Ok(gens)
    }

    /// The manifest of `generation`.
    pub async fn manifest(&self, generation: u64) -> Result<Manifest> {
        let path = self.manifest_path(generation);
        let got = self.store.get(&path).await.map_err(store(&path))?;
        if got.meta.size > crate::manifest::MAX_MANIFEST_BYTES {
            return Err(crate::error::SyncError::BadManifest {
                location: path.to_string(),
                reason: format!(
                    "it is {} bytes, more than a manifest may be ({})",
                    got.meta.size,
                    crate::manifest::MAX_MANIFEST_BYTES
                ),
            });
        }
        let bytes = got.bytes().await.map_err(store(&path))?;
        let m = Manifest::parse(path.as_ref(), &bytes)?;
        if m.generation != generation {
            return Err(crate::error::SyncError::BadManifest {
                location: path.to_string(),
                reason: format!("it says generation {}", m.generation),
            });
        }
        Ok(m)
    }

    /// The newest manifest, if any generation exists.
    pub async fn latest(&self) -> Result<Option<Manifest>> {
        match self.generations().await?.last() {
            None => Ok(None),
            Some(&g) => self.manifest(g).await.map(Some),
        }
    }
}
