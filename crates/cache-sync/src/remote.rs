//! The remote layout of a cache under a root path of an object store:
//!
//! ```text
//! {root}/files/{sha256}.zst          file contents, zstd-compressed, content-addressed, immutable
//! {root}/generations/{n:020}.json    manifest of generation n, created with a conditional put
//! ```
//!
//! ```
//! use cache_sync::{PushOptions, RemoteCache, push};
//! use object_store::memory::InMemory;
//! use std::sync::Arc;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! # let tmp = tempfile::tempdir()?;
//! # let src = tmp.path().join("src");
//! # cache_core::marker::claim_directory(&src, "fjall", true)?; // a closed fjall cache
//! # std::fs::write(src.join("data"), b"hello")?;
//! let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
//! let pushed = push(&src, &remote, &PushOptions::default(), 1).await?;
//! let manifest = remote.manifest(pushed.generation).await?;
//! assert_eq!(remote.manifest_path(1).as_ref(), "sai3-kv-cache/generations/00000000000000000001.json");
//! let blob = remote.blob(&manifest.files[0].sha256);
//! assert!(blob.as_ref().starts_with("sai3-kv-cache/files/") && blob.as_ref().ends_with(".zst"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::{Result, store};
use crate::manifest::Manifest;

/// A cache's place in an object store.
///
/// ```
/// use cache_sync::RemoteCache;
/// use object_store::memory::InMemory;
/// use std::sync::Arc;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
/// assert_eq!(remote.files_prefix().as_ref(), "sai3-kv-cache/files");
/// assert!(remote.latest().await?.is_none(), "nothing pushed yet");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RemoteCache {
    store: Arc<dyn ObjectStore>,
    root: StorePath,
}

impl RemoteCache {
    /// The cache under `root` (e.g. `sai3-kv-cache`) of `store`.
    ///
    /// ```
    /// use cache_sync::RemoteCache;
    /// use object_store::local::LocalFileSystem;
    /// use std::sync::Arc;
    /// let dir = tempfile::tempdir()?;
    /// let store = Arc::new(LocalFileSystem::new_with_prefix(dir.path())?);
    /// let remote = RemoteCache::new(store, "team/sai3-kv-cache");
    /// assert_eq!(remote.manifest_path(2).as_ref(), "team/sai3-kv-cache/generations/00000000000000000002.json");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(store: Arc<dyn ObjectStore>, root: &str) -> Self {
        RemoteCache {
            store,
            root: StorePath::from(root),
        }
    }

    /// The store.
    ///
    /// ```
    /// use cache_sync::RemoteCache;
    /// use object_store::ObjectStoreExt;
    /// use object_store::memory::InMemory;
    /// use std::sync::Arc;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
    /// remote.store().put(&remote.blob("00"), b"not zstd".to_vec().into()).await?;
    /// let got = remote.store().get(&remote.blob("00")).await?.bytes().await?;
    /// assert_eq!(&got[..], b"not zstd");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    fn join(&self, rest: &str) -> StorePath {
        StorePath::from(format!("{}/{rest}", self.root))
    }

    /// Where the blob of content `sha256` lives.
    ///
    /// ```
    /// use cache_sync::RemoteCache;
    /// use object_store::memory::InMemory;
    /// use std::sync::Arc;
    /// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
    /// let sha256 = "ab".repeat(32);
    /// assert_eq!(remote.blob(&sha256).as_ref(), format!("sai3-kv-cache/files/{sha256}.zst"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn blob(&self, sha256: &str) -> StorePath {
        self.join(&format!("files/{sha256}.zst"))
    }

    /// Where the manifest of `generation` lives.
    ///
    /// ```
    /// use cache_sync::RemoteCache;
    /// use object_store::memory::InMemory;
    /// use std::sync::Arc;
    /// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
    /// let path = remote.manifest_path(12);
    /// assert_eq!(path.as_ref(), "sai3-kv-cache/generations/00000000000000000012.json");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn manifest_path(&self, generation: u64) -> StorePath {
        self.join(&format!("generations/{generation:020}.json"))
    }

    /// The `files/` prefix: every blob lives under it.
    ///
    /// ```
    /// use cache_sync::RemoteCache;
    /// use object_store::memory::InMemory;
    /// use std::sync::Arc;
    /// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
    /// let prefix = remote.files_prefix();
    /// assert_eq!(prefix.as_ref(), "sai3-kv-cache/files");
    /// assert!(remote.blob(&"ab".repeat(32)).prefix_matches(&prefix));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn files_prefix(&self) -> StorePath {
        self.join("files")
    }

    /// Generation numbers present, ascending.
    ///
    /// # Errors
    /// Store failures.
    ///
    /// ```
    /// use cache_sync::{PushOptions, RemoteCache, push};
    /// use object_store::memory::InMemory;
    /// use std::sync::Arc;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// # let tmp = tempfile::tempdir()?;
    /// # let src = tmp.path().join("src");
    /// # cache_core::marker::claim_directory(&src, "fjall", true)?; // a closed fjall cache
    /// # std::fs::write(src.join("data"), b"hello")?;
    /// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
    /// assert!(remote.generations().await?.is_empty());
    /// push(&src, &remote, &PushOptions::default(), 1).await?;
    /// push(&src, &remote, &PushOptions::default(), 2).await?;
    /// assert_eq!(remote.generations().await?, [1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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

    /// The manifest of `generation`, validated ([`Manifest::parse`]).
    ///
    /// # Errors
    /// Store failures (a generation that does not exist among them), or
    /// [`SyncError::BadManifest`](crate::SyncError::BadManifest) for a manifest that is too
    /// large, invalid, or names another generation.
    ///
    /// ```
    /// use cache_sync::{PushOptions, RemoteCache, push};
    /// use object_store::memory::InMemory;
    /// use std::sync::Arc;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// # let tmp = tempfile::tempdir()?;
    /// # let src = tmp.path().join("src");
    /// # cache_core::marker::claim_directory(&src, "fjall", true)?; // a closed fjall cache
    /// # std::fs::write(src.join("data"), b"hello")?;
    /// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
    /// push(&src, &remote, &PushOptions::default(), 1).await?;
    /// let manifest = remote.manifest(1).await?;
    /// assert_eq!((manifest.generation, manifest.backend.as_str()), (1, "fjall"));
    /// assert!(manifest.files.iter().any(|f| f.path == "data"));
    /// assert!(remote.manifest(2).await.is_err(), "no such generation");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// # Errors
    /// As [`RemoteCache::manifest`].
    ///
    /// ```
    /// use cache_sync::{PushOptions, RemoteCache, push};
    /// use object_store::memory::InMemory;
    /// use std::sync::Arc;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// # let tmp = tempfile::tempdir()?;
    /// # let src = tmp.path().join("src");
    /// # cache_core::marker::claim_directory(&src, "fjall", true)?; // a closed fjall cache
    /// # std::fs::write(src.join("data"), b"hello")?;
    /// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
    /// assert!(remote.latest().await?.is_none());
    /// push(&src, &remote, &PushOptions::default(), 1).await?;
    /// push(&src, &remote, &PushOptions::default(), 2).await?;
    /// assert_eq!(remote.latest().await?.map(|m| m.generation), Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn latest(&self) -> Result<Option<Manifest>> {
        match self.generations().await?.last() {
            None => Ok(None),
            Some(&g) => self.manifest(g).await.map(Some),
        }
    }
}
