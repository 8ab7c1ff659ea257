//! Errors of cache-sync.
//!
//! ```
//! use cache_sync::{Manifest, SyncError};
//! let err = Manifest::parse("generations/1.json", b"{}").unwrap_err();
//! assert!(matches!(err, SyncError::BadManifest { .. }));
//! assert!(err.to_string().starts_with("remote manifest generations/1.json refused"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;

/// What can go wrong while pushing or pulling a cache.
///
/// ```
/// use cache_sync::{PushOptions, RemoteCache, SyncError, push};
/// use object_store::memory::InMemory;
/// use std::sync::Arc;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
/// let plain = tempfile::tempdir()?; // holds no cache marker
/// match push(plain.path(), &remote, &PushOptions::default(), 1).await {
///     Err(SyncError::NotACache { path, .. }) => assert_eq!(path, plain.path()),
///     other => panic!("expected NotACache, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// Local file system.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The object store failed.
    #[error("object store error at {location}: {source}")]
    Store {
        /// Remote path.
        location: String,
        /// The cause.
        #[source]
        source: object_store::Error,
    },
    /// A remote manifest is malformed or unsafe (paths outside the cache, absurd sizes).
    #[error("remote manifest {location} refused: {reason}")]
    BadManifest {
        /// Remote path of the manifest.
        location: String,
        /// Why.
        reason: String,
    },
    /// A downloaded file does not match its manifest entry.
    #[error(
        "downloaded {path} does not match the manifest: {reason}; the local cache is unchanged"
    )]
    Mismatch {
        /// Path inside the cache.
        path: String,
        /// What differed.
        reason: String,
    },
    /// Other pushes kept winning the race for the next generation.
    #[error("could not publish a generation after {attempts} attempts: other agents kept pushing")]
    Conflict {
        /// Attempts made.
        attempts: u32,
    },
    /// The local directory is not a closed cache that can be pushed.
    #[error("{path} cannot be pushed: {reason}")]
    NotACache {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The cache is open in another process (it would change while copied): wait for it.
    #[error(transparent)]
    InUse(cache_core::Error),
}

/// Result alias of cache-sync.
///
/// ```
/// fn newest(manifests: &[&[u8]]) -> cache_sync::Result<u64> {
///     let mut newest = 0;
///     for bytes in manifests {
///         newest = newest.max(cache_sync::Manifest::parse("m", bytes)?.generation);
///     }
///     Ok(newest)
/// }
/// let m = br#"{"format": 1, "generation": 4, "backend": "fjall", "cache_format": 1,
///     "config_hash": "", "pushed_ms": 0, "files": []}"#;
/// assert_eq!(newest(&[m])?, 4);
/// assert!(newest(&[m, b"garbage"]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type Result<T, E = SyncError> = std::result::Result<T, E>;

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SyncError {
    let path = path.into();
    move |source| SyncError::Io { path, source }
}

pub(crate) fn store(
    location: impl std::fmt::Display,
) -> impl FnOnce(object_store::Error) -> SyncError {
    let location = location.to_string();
    move |source| SyncError::Store { location, source }
}
