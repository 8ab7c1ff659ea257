//! The repositories of everything sai3-cache stores: the [`CoordinatorCache`] of a cache dir
//! and the [`EndpointCache`] of each endpoint. They are the only code that knows keyspace names
//! and key layouts (`keys` is private to this module); the rest of the crate asks them typed
//! questions (is this dataset sealed here? which objects exist? what did the last LIST find?).
//!
//! Opening follows one rule (`open_checked`): a cache in use by another process is reported
//! as in use (or waited for), never treated as damaged; only data that fails verification is
//! moved aside (never deleted) and rebuilt.
//!
//! ```
//! use cache_sai3::caches::{CoordinatorCache, EndpointCache, cache_location};
//! # let tmp = tempfile::tempdir()?;
//! # let cache_dir = tmp.path();
//! type Db = cache_redb::RedbDatabase;
//! let coordinator = CoordinatorCache::<Db>::open(cache_dir, true)?;
//! assert!(coordinator.datasets()?.is_empty());
//! let location = cache_location("s3://bucket/data/", cache_dir, 0)?;
//! let endpoint = EndpointCache::<Db>::open(&location, true)?;
//! assert!(endpoint.stats()?.iter().any(|k| k.name == "objects"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cache_core::error::ErrorKind;
use cache_core::{Database, FramedKeyspace, OpenOptions};
use serde::{Deserialize, Serialize};

use crate::error::{Result, Sai3Error};

pub mod coordinator;
pub mod endpoint;
mod keys;
pub mod ledger;

/// The layout of the endpoint caches' ledger this build reads and writes (recorded in each
/// cache; see `keys`). 1: a row per object and state change; 2: presence chunks and
/// exceptions.
///
/// ```
/// use cache_sai3::caches::{EndpointCache, LEDGER_LAYOUT};
/// # let tmp = tempfile::tempdir()?;
/// type Db = cache_redb::RedbDatabase;
/// // A new cache records the layout it is written in; opening it again checks it.
/// drop(EndpointCache::<Db>::open(tmp.path(), true)?);
/// assert!(EndpointCache::<Db>::open(tmp.path(), false).is_ok());
/// assert_eq!(LEDGER_LAYOUT, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const LEDGER_LAYOUT: u32 = 2;
pub mod listings;

pub use coordinator::{COORDINATOR_DIR, CoordinatorCache, DatasetSummary, coordinator_location};
pub use endpoint::{EndpointCache, KeyspaceStats, cache_location, namespace_cache_root, shards_in};
pub use ledger::{LedgerWriter, PRESENCE_CHUNK};

/// How long to wait between attempts to open a cache held by another process.
const IN_USE_POLL: Duration = Duration::from_millis(200);

/// How to treat a cache that another process holds.
///
/// ```
/// use cache_sai3::caches::OpenPolicy;
/// use std::time::Duration;
/// assert_eq!(OpenPolicy::default().wait, None); // fail at once
/// let patient = OpenPolicy { wait: Some(Duration::from_secs(30)) };
/// assert_ne!(patient, OpenPolicy::default());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenPolicy {
    /// Wait up to this long for the other process to release it (`None`: fail at once).
    pub wait: Option<Duration>,
}

/// A cache that was opened, what was read from it to check it, and, if its data was damaged
/// and it was rebuilt, why.
pub(crate) struct Opened<C, R> {
    /// The open cache.
    pub(crate) cache: C,
    /// What `load` read.
    pub(crate) loaded: R,
    /// Set when the old cache failed verification: the reason and where it was moved.
    pub(crate) rebuilt: Option<String>,
}

/// Calls `open` until it succeeds, fails with anything but "in use", or `policy.wait` is over.
///
/// # Errors
/// The last error of `open`; an in-use error after the wait names the directory.
///
/// ```
/// use cache_sai3::caches::{EndpointCache, OpenPolicy, open_waiting};
/// # let tmp = tempfile::tempdir()?;
/// type Db = cache_redb::RedbDatabase;
/// let open = || EndpointCache::<Db>::open(tmp.path(), true);
/// let held = open_waiting(OpenPolicy::default(), open)?;
/// // Held: without a wait, the second open fails at once, as in use.
/// assert!(open_waiting(OpenPolicy::default(), open).is_err_and(|e| e.is_in_use()));
/// drop(held);
/// assert!(open_waiting(OpenPolicy::default(), open).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open_waiting<T>(policy: OpenPolicy, open: impl Fn() -> Result<T>) -> Result<T> {
    let started = Instant::now();
    loop {
        match open() {
            Err(e) if e.is_in_use() && policy.wait.is_some_and(|w| started.elapsed() < w) => {
                std::thread::sleep(IN_USE_POLL);
            }
            other => return other,
        }
    }
}

/// Opens a cache with `open` and reads what the run relies on with `load` (so damage shows up
/// now, not mid-run). If its data fails verification, moves the directory aside (never deletes
/// it) and opens a fresh one. A cache in use by another process is waited for per `policy` and
/// otherwise reported as in use; a foreign or other-backend cache is an error.
///
/// # Errors
/// In use (after the wait), foreign or other-backend caches, I/O failures.
pub(crate) fn open_checked<T, R>(
    location: &Path,
    policy: OpenPolicy,
    open: impl Fn() -> Result<T>,
    load: impl Fn(&T) -> Result<R>,
) -> Result<Opened<T, R>> {
    let attempt = || open_waiting(policy, &open).and_then(|c| load(&c).map(|r| (c, r)));
    match attempt() {
        Ok((cache, loaded)) => Ok(Opened {
            cache,
            loaded,
            rebuilt: None,
        }),
        Err(e) if e.is_damage() => {
            let aside = move_aside(location)?;
            tracing::info!(
                cache = %location.display(),
                moved_to = %aside.display(),
                "damaged cache moved aside and rebuilt: {e}"
            );
            let reason = format!("{e}; moved to {} and rebuilt", aside.display());
            let (cache, loaded) = attempt()?;
            Ok(Opened {
                cache,
                loaded,
                rebuilt: Some(reason),
            })
        }
        Err(e) => Err(e),
    }
}

/// What one cache directory holds.
///
/// ```
/// use cache_sai3::caches::{DirectoryStats, EndpointCache, OpenPolicy, directory_stats};
/// # let tmp = tempfile::tempdir()?;
/// type Db = cache_redb::RedbDatabase;
/// drop(EndpointCache::<Db>::open(tmp.path(), true)?);
/// let stats: DirectoryStats = directory_stats::<Db>(tmp.path(), OpenPolicy::default())?;
/// assert_eq!(stats.path, tmp.path().display().to_string());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryStats {
    /// Backend of the cache.
    pub backend: String,
    /// The directory.
    pub path: String,
    /// Bytes it occupies.
    pub bytes_on_disk: u64,
    /// Entries per keyspace.
    pub keyspaces: Vec<KeyspaceStats>,
}

/// Opens the existing cache at `dir` (never creating anything), waiting per `policy`.
fn open_existing<D: Database>(dir: &Path, policy: OpenPolicy) -> Result<D> {
    let options = OpenOptions {
        create_if_missing: false,
        ..OpenOptions::default()
    };
    open_waiting(policy, || Ok(D::open(dir, &options)?))
}

/// What the cache at `dir` (coordinator or endpoint) holds.
///
/// # Errors
/// Not a cache of this backend, in use, storage failures.
///
/// ```
/// use cache_sai3::caches::{EndpointCache, OpenPolicy, directory_stats};
/// # let tmp = tempfile::tempdir()?;
/// type Db = cache_redb::RedbDatabase;
/// drop(EndpointCache::<Db>::open(tmp.path(), true)?);
/// let stats = directory_stats::<Db>(tmp.path(), OpenPolicy::default())?;
/// assert_eq!(stats.backend, "redb");
/// assert!(stats.keyspaces.iter().any(|k| k.name == "seeds"));
/// // Never creates a cache.
/// let elsewhere = tmp.path().join("nothing");
/// assert!(directory_stats::<Db>(&elsewhere, OpenPolicy::default()).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn directory_stats<D: Database>(dir: &Path, policy: OpenPolicy) -> Result<DirectoryStats> {
    let db = open_existing::<D>(dir, policy)?;
    Ok(DirectoryStats {
        backend: D::BACKEND.to_owned(),
        path: dir.display().to_string(),
        bytes_on_disk: db.disk_space()?,
        keyspaces: endpoint::keyspace_stats(&db)?,
    })
}

/// Every keyspace a sai3 cache holds (endpoint and coordinator caches).
pub(crate) fn keyspace_names<D: Database>() -> impl Iterator<Item = &'static str> {
    EndpointCache::<D>::KEYSPACES
        .into_iter()
        .chain(CoordinatorCache::<D>::KEYSPACES)
}

/// Empties keyspace `name` of the cache at `dir` (with its chunks). Returns whether it held
/// anything.
///
/// # Errors
/// A name that is not a keyspace of a sai3 cache (the message lists them), not a cache, in use.
///
/// ```
/// use cache_sai3::caches::{EndpointCache, OpenPolicy, clear_keyspace};
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
/// # let dir = tmp.path().join("cache");
/// type Db = cache_redb::RedbDatabase;
/// let cache = EndpointCache::<Db>::open(&dir, true)?;
/// let mut ledger = cache.ledger_writer(&dataset, cache.presence_all(&dataset)?)?;
/// ledger.created(0, 3, 1_000)?;
/// ledger.checkpoint(cache_core::Durability::Flushed)?;
/// drop(ledger);
/// drop(cache);
/// let policy = OpenPolicy::default();
/// assert!(clear_keyspace::<Db>(&dir, "objects", policy)?);
/// assert!(!clear_keyspace::<Db>(&dir, "objects", policy)?); // empty now
/// let wrong = clear_keyspace::<Db>(&dir, "object", policy);
/// assert!(wrong.is_err_and(|e| e.to_string().contains("listing_cache")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn clear_keyspace<D: Database>(dir: &Path, name: &str, policy: OpenPolicy) -> Result<bool> {
    if !keyspace_names::<D>().any(|k| k == name) {
        let known: Vec<&str> = keyspace_names::<D>().collect();
        return Err(cache_core::Error::InvalidArgument(format!(
            "{name:?} is not a keyspace of a sai3 cache; one of: {}",
            known.join(", ")
        ))
        .into());
    }
    let db = open_existing::<D>(dir, policy)?;
    Ok(FramedKeyspace::<D>::drop_from(&db, name)?)
}

/// Moves a damaged cache directory aside as `{name}.damaged-{ms}` and returns the new path.
fn move_aside(location: &Path) -> Result<PathBuf> {
    let name = location
        .file_name()
        .ok_or_else(|| Sai3Error::Endpoint {
            endpoint: location.display().to_string(),
            reason: "a cache directory path must end in a name".into(),
        })?
        .to_string_lossy();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let aside = location.with_file_name(format!("{name}.damaged-{stamp}"));
    std::fs::rename(location, &aside).map_err(|e| Sai3Error::Endpoint {
        endpoint: location.display().to_string(),
        reason: format!("cannot move the damaged cache aside: {e}"),
    })?;
    Ok(aside)
}

impl Sai3Error {
    /// True when a cache is held by another process (not damaged; wait or use another dir).
    ///
    /// ```
    /// use cache_sai3::caches::EndpointCache;
    /// # let tmp = tempfile::tempdir()?;
    /// type Db = cache_redb::RedbDatabase;
    /// let _held = EndpointCache::<Db>::open(tmp.path(), true)?;
    /// let Err(e) = EndpointCache::<Db>::open(tmp.path(), false) else {
    ///     panic!("a held cache opened twice");
    /// };
    /// assert!(e.is_in_use());
    /// assert!(!e.is_damage());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_in_use(&self) -> bool {
        matches!(self, Sai3Error::Cache(e) if e.kind() == ErrorKind::InUse)
    }

    /// True when stored data failed verification: the cache may be moved aside and rebuilt.
    ///
    /// ```
    /// use cache_sai3::Sai3Error;
    /// let old = Sai3Error::LedgerLayout { path: "cache".into(), found: 1, supported: 2 };
    /// assert!(old.is_damage()); // an older layout: moved aside and rebuilt
    /// let newer = Sai3Error::LedgerLayout { path: "cache".into(), found: 3, supported: 2 };
    /// assert!(!newer.is_damage()); // written by a newer build: left alone
    /// ```
    pub fn is_damage(&self) -> bool {
        match self {
            Sai3Error::Cache(e) => e.is_corruption(),
            Sai3Error::LedgerLayout {
                found, supported, ..
            } => found < supported,
            _ => false,
        }
    }
}
