//! The repositories of everything sai3-cache stores: the [`CoordinatorCache`] of a cache dir
//! and the [`EndpointCache`] of each endpoint. They are the only code that knows keyspace names
//! and key layouts ([`keys`] is private to this module); the rest of the crate asks them typed
//! questions (is this dataset sealed here? which objects exist? what did the last LIST find?).
//!
//! Opening follows one rule ([`open_checked`]): a cache in use by another process is reported
//! as in use (or waited for), never treated as damaged; only data that fails verification is
//! moved aside (never deleted) and rebuilt.

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
pub const LEDGER_LAYOUT: u32 = 2;
pub mod listings;

pub use coordinator::{COORDINATOR_DIR, CoordinatorCache, DatasetSummary, coordinator_location};
pub use endpoint::{EndpointCache, KeyspaceStats, cache_location, namespace_cache_root, shards_in};
pub use ledger::{LedgerWriter, PRESENCE_CHUNK};

/// How long to wait between attempts to open a cache held by another process.
const IN_USE_POLL: Duration = Duration::from_millis(200);

/// How to treat a cache that another process holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenPolicy {
    /// Wait up to this long for the other process to release it (`None`: fail at once).
    pub wait: Option<Duration>,
}

/// A cache that was opened, what was read from it to check it, and, if its data was damaged
/// and it was rebuilt, why.
pub struct Opened<C, R> {
    /// The open cache.
    pub cache: C,
    /// What `load` read.
    pub loaded: R,
    /// Set when the old cache failed verification: the reason and where it was moved.
    pub rebuilt: Option<String>,
}

/// Calls `open` until it succeeds, fails with anything but "in use", or `policy.wait` is over.
///
/// # Errors
/// The last error of `open`; an in-use error after the wait names the directory.
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
pub fn open_checked<T, R>(
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
pub fn keyspace_names<D: Database>() -> impl Iterator<Item = &'static str> {
    EndpointCache::<D>::KEYSPACES
        .into_iter()
        .chain(CoordinatorCache::<D>::KEYSPACES)
}

/// Empties keyspace `name` of the cache at `dir` (with its chunks). Returns whether it held
/// anything.
///
/// # Errors
/// A name that is not a keyspace of a sai3 cache (the message lists them), not a cache, in use.
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
    pub fn is_in_use(&self) -> bool {
        matches!(self, Sai3Error::Cache(e) if e.kind() == ErrorKind::InUse)
    }

    /// True when stored data failed verification: the cache may be moved aside and rebuilt.
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
