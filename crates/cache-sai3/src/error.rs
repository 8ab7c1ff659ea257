//! Errors of the sai3 layer.
//!
//! ```
//! use cache_sai3::{ConfigError, Sai3Error};
//! let err = Sai3Error::Config {
//!     path: "bench.yaml".into(),
//!     error: ConfigError::field("prepare.directory_structure.width", "must be at least 1"),
//! };
//! assert_eq!(
//!     err.to_string(),
//!     "config bench.yaml: prepare.directory_structure.width: must be at least 1"
//! );
//! ```

use std::path::PathBuf;

/// A problem with a sai3-bench config: the field and the reason.
///
/// ```
/// use cache_sai3::ConfigError;
/// let err = ConfigError { field: "workload".into(), reason: "is empty".into() };
/// assert_eq!(err.to_string(), "workload: is empty");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// Dotted path of the field, e.g. `prepare.directory_structure.width`.
    pub field: String,
    /// What is wrong and, where possible, what to write instead.
    pub reason: String,
}

impl ConfigError {
    /// A problem with `field`.
    ///
    /// ```
    /// use cache_sai3::ConfigError;
    /// let err = ConfigError::field("prepare", "missing");
    /// assert_eq!((err.field.as_str(), err.reason.as_str()), ("prepare", "missing"));
    /// ```
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Everything the sai3 layer can fail with.
///
/// ```
/// use cache_sai3::Sai3Error;
/// let err = cache_sai3::dataset::Dataset::from_yaml("prepare: [", "inline").unwrap_err();
/// assert!(matches!(&err, Sai3Error::Config { error, .. } if error.field == "prepare"), "{err}");
/// let err = Sai3Error::Endpoint { endpoint: "s3://b/".into(), reason: "HEAD failed".into() };
/// assert_eq!(err.to_string(), "endpoint s3://b/: HEAD failed");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Sai3Error {
    /// The config file could not be read.
    #[error("cannot read config {path}: {source}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid YAML or not a sai3-bench config.
    #[error("config {path} is not a valid sai3-bench config: {reason}")]
    ParseConfig {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        reason: String,
    },
    /// A field of the config is invalid.
    #[error("config {path}: {error}")]
    Config {
        /// The file.
        path: PathBuf,
        /// The field and reason.
        error: ConfigError,
    },
    /// A storage error from the cache stores.
    #[error(transparent)]
    Cache(#[from] cache_core::Error),
    /// An endpoint cache whose ledger layout this build does not read: an older one is moved
    /// aside and rebuilt (like damage), a newer one is left alone.
    #[error(
        "{path}: ledger layout {found} ({}), this build reads layout {supported}",
        if .found < .supported { "written by an older sai3-cache" } else { "written by a newer sai3-cache: upgrade, or clear this cache" }
    )]
    LedgerLayout {
        /// The endpoint cache.
        path: PathBuf,
        /// Layout found (1 for caches written before layouts were recorded).
        found: u32,
        /// The layout this build reads and writes.
        supported: u32,
    },
    /// An endpoint operation failed.
    #[error("endpoint {endpoint}: {reason}")]
    Endpoint {
        /// The endpoint URI.
        endpoint: String,
        /// What failed.
        reason: String,
    },
}

/// Result alias of the sai3 layer.
///
/// ```
/// fn workers(text: &str) -> cache_sai3::Result<u32> {
///     text.parse().map_err(|_| cache_sai3::Sai3Error::Endpoint {
///         endpoint: "(none)".into(),
///         reason: format!("{text:?} is not a number"),
///     })
/// }
/// assert_eq!(workers("8")?, 8);
/// assert!(workers("eight").is_err());
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// ```
pub type Result<T, E = Sai3Error> = std::result::Result<T, E>;
