//! The directory lock every backend takes before its engine reads anything: an exclusive
//! advisory lock (`flock`) on [`LOCK_FILE`] in the cache directory, held for as long as the
//! database is open and released by the kernel when the process ends (also on a crash). A
//! second open, from another process or another handle in this one, fails with
//! [`Error::InUse`] after a grace of [`GRACE`]; it never waits longer and is never mistaken
//! for damage.
//!
//! Why a grace: a lock belongs to the open file, and a process that starts a child (any
//! thread, any library) lends the child a copy of every descriptor until the child calls
//! `exec`. A cache closed in that instant stays locked for a moment after its handle is gone,
//! so a reopen right after a close would be refused although nobody uses the cache.
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
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// File in a cache directory that an open database holds an exclusive lock on.
///
/// ```
/// use cache_core::lock::{DirectoryLock, LOCK_FILE};
/// let dir = tempfile::tempdir()?;
/// let _held = DirectoryLock::acquire(dir.path(), "example")?;
/// assert!(dir.path().join(LOCK_FILE).is_file());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const LOCK_FILE: &str = "SAI3-CACHE-LOCK";

/// How long [`DirectoryLock::acquire`] retries a lock that is held before it reports the
/// directory in use: enough for a child process that briefly inherited the descriptor to
/// reach `exec`, far below anything a person would notice.
///
/// ```
/// use std::time::Duration;
/// assert!(cache_core::lock::GRACE <= Duration::from_secs(1), "a person would notice more");
/// ```
pub const GRACE: Duration = Duration::from_millis(250);

/// Whether some process holds a whole-file `flock` on `file` (an engine's own lock, taken by a
/// process that does not take ours): probed with a non-blocking exclusive lock, released at
/// once. A file that does not exist, or a file system without `flock`, is not held.
///
/// # Errors
/// I/O failures other than those.
///
/// ```
/// use cache_core::lock::{DirectoryLock, LOCK_FILE, held_by_another};
/// let dir = tempfile::tempdir()?;
/// let file = dir.path().join(LOCK_FILE);
/// assert!(!held_by_another(&file)?, "a missing file is not held");
/// let held = DirectoryLock::acquire(dir.path(), "example")?;
/// assert!(held_by_another(&file)?);
/// drop(held);
/// assert!(!held_by_another(&file)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn held_by_another(file: &Path) -> std::io::Result<bool> {
    let probe = match File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match probe.try_lock() {
        // Dropping the probe releases the lock again.
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) if e.kind() == IoKind::Unsupported => Ok(false),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// The exclusive lock on a cache directory's [`LOCK_FILE`]; dropping it releases the lock.
///
/// ```
/// use cache_core::lock::DirectoryLock;
/// let dir = tempfile::tempdir()?;
/// let first = DirectoryLock::acquire(dir.path(), "example")?;
/// drop(first);
/// assert!(DirectoryLock::acquire(dir.path(), "example").is_ok(), "released on drop");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DirectoryLock {
    _file: File,
}

impl DirectoryLock {
    /// Takes the lock of the cache directory `dir` for `backend` (named in errors), or fails
    /// with [`Error::InUse`] if another process or handle still holds it after [`GRACE`].
    ///
    /// # Errors
    /// [`Error::InUse`] when held elsewhere; [`Error::Unsupported`] on file systems without
    /// locks; [`Error::Io`] when the lock file cannot be opened.
    ///
    /// ```
    /// use cache_core::lock::{DirectoryLock, LOCK_FILE, held_by_another};
    /// let dir = tempfile::tempdir()?;
    /// let lock = DirectoryLock::acquire(dir.path(), "fjall")?;
    /// assert!(held_by_another(&dir.path().join(LOCK_FILE))?);
    /// let missing = DirectoryLock::acquire(&dir.path().join("missing"), "fjall");
    /// assert_eq!(missing.unwrap_err().kind(), cache_core::ErrorKind::Io);
    /// # drop(lock);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire(dir: &Path, backend: &'static str) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let give_up = Instant::now() + GRACE;
        let mut pause = Duration::from_millis(2);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(DirectoryLock { _file: file }),
                Err(TryLockError::WouldBlock) if Instant::now() < give_up => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::in_use(
                        backend,
                        dir,
                        format!("{LOCK_FILE} is locked by another process or another open handle"),
                    ));
                }
                Err(TryLockError::Error(e)) if e.kind() == IoKind::Unsupported => {
                    return Err(Error::Unsupported {
                        backend,
                        path: dir.to_owned(),
                        what: format!("locking {} ({e})", path.display()),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A cache closed while another thread starts child processes can be reopened at once.
    /// Without the grace about one reopen in fifteen failed here (the child still held the
    /// descriptor), which is how a test of ours failed on a loaded machine.
    #[test]
    fn reopen_after_close_survives_children_being_started() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stop = Arc::new(AtomicBool::new(false));
        let spawner = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::process::Command::new("true").status();
                }
            })
        };
        let mut refused = 0;
        for _ in 0..400 {
            let held = DirectoryLock::acquire(dir.path(), "test").expect("first");
            drop(held);
            if DirectoryLock::acquire(dir.path(), "test").is_err() {
                refused += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        spawner.join().expect("spawner");
        assert_eq!(refused, 0, "reopens refused although nobody held the lock");
    }

    #[test]
    fn a_held_lock_is_reported_in_use_after_the_grace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _held = DirectoryLock::acquire(dir.path(), "test").expect("first");
        let started = Instant::now();
        let err = DirectoryLock::acquire(dir.path(), "test").expect_err("second");
        assert_eq!(err.kind(), crate::error::ErrorKind::InUse);
        assert!(started.elapsed() >= GRACE);
    }
}
