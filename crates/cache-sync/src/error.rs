//! Errors of cache-sync.

use std::path::PathBuf;

/// What can go wrong while pushing or pulling a cache.
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
