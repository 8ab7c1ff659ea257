//! The directory lock every backend takes before its engine reads anything: an exclusive
//! advisory lock (`flock`) on [`LOCK_FILE`] in the cache directory, held for as long as the
//! database is open and released by the kernel when the process ends (also on a crash). A
//! second open, from another process or another handle in this one, fails at once with
//! [`Error::InUse`]; it never waits and is never mistaken for damage.
//!
//! Whatever copies a whole cache directory (cache-sync's push and pull) takes the same lock,
//! so it never reads or replaces a cache that a running process is changing.
//!
//! ```
//! use cache_core::lock::DirectoryLock;
//! use cache_core::error::ErrorKind;
//! let dir = tempfile::tempdir()?;
//! let held = DirectoryLock::acquire(dir.path(), "example")?;
//! let again = DirectoryLock::acquire(dir.path(), "example");
//! assert_eq!(again.err().map(|e| e.kind()), Some(ErrorKind::InUse));
//! drop(held);
//! assert!(DirectoryLock::acquire(dir.path(), "example").is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::{File, OpenOptions, TryLockError};
use std::io::ErrorKind as IoKind;
use std::path::Path;

use crate::error::{Error, Result};

/// File in a cache directory that an open database holds an exclusive lock on.
pub const LOCK_FILE: &str = "SAI3-CACHE-LOCK";

/// The exclusive lock on a cache directory's [`LOCK_FILE`]; dropping it releases the lock.
#[derive(Debug)]
pub struct DirectoryLock {
    _file: File,
}

impl DirectoryLock {
    /// Takes the lock of the cache directory `dir` for `backend` (named in errors), or fails
    /// with [`Error::InUse`] if another process or handle holds it. Never waits.
    ///
    /// # Errors
    /// [`Error::InUse`] when held elsewhere; [`Error::Unsupported`] on file systems without
    /// locks; [`Error::Io`] when the lock file cannot be opened.
    pub fn acquire(dir: &Path, backend: &'static str) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(DirectoryLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(Error::in_use(
                backend,
                dir,
                format!("{LOCK_FILE} is locked by another process or another open handle"),
            )),
            Err(TryLockError::Error(e)) if e.kind() == IoKind::Unsupported => {
                Err(Error::Unsupported {
                    backend,
                    path: dir.to_owned(),
                    what: format!("locking {} ({e})", path.display()),
                })
            }
            Err(TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }
}
