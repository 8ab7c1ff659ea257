//! The local side: the files of a cache directory with their hashes, and the atomic switch of
//! a directory to a new generation.
//!
//! ```
//! use cache_sync::local::{Staging, scan};
//! let tmp = tempfile::tempdir()?;
//! let dir = tmp.path().join("cache");
//! let staging = Staging::beside(&dir)?;
//! std::fs::create_dir(staging.path().join("fjall"))?;
//! std::fs::write(staging.path().join("fjall/version"), b"v3")?;
//! staging.switch(&dir)?;
//! let (files, dirs) = scan(&dir)?;
//! assert_eq!(files[0].path, "fjall/version");
//! assert_eq!(files[0].size, 2);
//! assert_eq!(dirs, ["fjall"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use cache_core::lock::{DirectoryLock, LOCK_FILE};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{Result, SyncError, io};
use crate::manifest::{FileEntry, Manifest};

/// File in a pulled cache recording which generation it holds (never pushed).
///
/// ```
/// use cache_sync::Manifest;
/// use cache_sync::local::{GENERATION_FILE, record_generation};
/// let dir = tempfile::tempdir()?;
/// # let manifest = cache_sync::Manifest::parse("example", br#"{"format": 1, "generation": 7,
/// #     "backend": "fjall", "cache_format": 1, "config_hash": "", "pushed_ms": 0, "files": []}"#)?;
/// record_generation(dir.path(), &manifest)?;
/// let recorded = std::fs::read(dir.path().join(GENERATION_FILE))?;
/// assert_eq!(Manifest::parse("local", &recorded)?.generation, 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const GENERATION_FILE: &str = "SYNC-GENERATION";

/// File in a cache directory whose content has changes that no pushed generation holds
/// (never pushed). Whoever changes a synced cache creates it first ([`mark_unpublished`]); a
/// push removes it once its generation is published, so a run killed between its change and
/// its push leaves a directory that the next run still pushes.
///
/// ```
/// use cache_sync::local::{UNPUBLISHED_FILE, mark_unpublished, record_generation};
/// let dir = tempfile::tempdir()?;
/// mark_unpublished(dir.path())?;
/// assert!(dir.path().join(UNPUBLISHED_FILE).exists());
/// # let manifest = cache_sync::Manifest::parse("example", br#"{"format": 1, "generation": 7,
/// #     "backend": "fjall", "cache_format": 1, "config_hash": "", "pushed_ms": 0, "files": []}"#)?;
/// record_generation(dir.path(), &manifest)?; // what a push does once it has published
/// assert!(!dir.path().join(UNPUBLISHED_FILE).exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const UNPUBLISHED_FILE: &str = "SYNC-UNPUBLISHED";

/// Staging directories of killed pulls older than this are removed by the next pull beside them
/// (younger ones may belong to a pull still running).
///
/// ```
/// use cache_sync::local::{STALE_STAGING, Staging};
/// use std::time::{Duration, SystemTime};
/// let tmp = tempfile::tempdir()?;
/// let (killed, running) = (tmp.path().join("cache.pull-1"), tmp.path().join("cache.pull-2"));
/// std::fs::create_dir(&killed)?;
/// std::fs::create_dir(&running)?;
/// let long_ago = SystemTime::now() - STALE_STAGING - Duration::from_secs(60);
/// std::fs::File::open(&killed)?.set_modified(long_ago)?;
/// let _staging = Staging::beside(&tmp.path().join("cache"))?;
/// assert!(!killed.exists(), "older than STALE_STAGING: removed");
/// assert!(running.exists(), "younger: kept");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const STALE_STAGING: Duration = Duration::from_secs(24 * 3600);

/// Files never pushed: sync bookkeeping and temporary files.
fn skipped(rel: &str) -> bool {
    rel == GENERATION_FILE || rel == UNPUBLISHED_FILE || rel == LOCK_FILE || rel.ends_with(".tmp")
}

/// Takes the directory lock of the cache at `dir` (see [`cache_core::lock`]), so that no
/// process opens it while it is copied or replaced.
///
/// # Errors
/// [`SyncError::InUse`] when a process has the cache open; I/O failures.
pub(crate) fn lock(dir: &Path) -> Result<DirectoryLock> {
    DirectoryLock::acquire(dir, "cache-sync").map_err(|e| match e.kind() {
        cache_core::ErrorKind::InUse => SyncError::InUse(e),
        _ => SyncError::NotACache {
            path: dir.to_owned(),
            reason: e.to_string(),
        },
    })
}

fn relative(base: &Path, p: &Path) -> String {
    p.strip_prefix(base)
        .map(|r| {
            r.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_default()
}

/// SHA-256 (lowercase hex) and size of a file, streamed.
///
/// # Errors
/// I/O failures.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let file = dir.path().join("f");
/// std::fs::write(&file, b"abc")?;
/// let (sha256, size) = cache_sync::local::hash_file(&file)?;
/// assert_eq!(sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// assert_eq!(size, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    let f = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(
        &mut std::io::BufReader::with_capacity(1 << 20, f),
        &mut hasher,
    )
    .map_err(io(path))?;
    Ok((format!("{:x}", hasher.finalize()), size))
}

/// Every pushable file of `dir` with its hash, and every directory, both sorted by path.
///
/// Symbolic links are neither followed nor pushed (a cache holds none; one pointing out of the
/// tree must not pull foreign files in). Sync bookkeeping ([`GENERATION_FILE`],
/// [`UNPUBLISHED_FILE`]), the lock file and `*.tmp` files are left out.
///
/// # Errors
/// I/O failures.
///
/// ```
/// use cache_sync::local::{UNPUBLISHED_FILE, scan};
/// let dir = tempfile::tempdir()?;
/// std::fs::create_dir_all(dir.path().join("fjall/keyspaces"))?;
/// std::fs::write(dir.path().join("fjall/version"), b"v3")?;
/// std::fs::write(dir.path().join(UNPUBLISHED_FILE), b"")?;
/// let (files, dirs) = scan(dir.path())?;
/// let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
/// assert_eq!(paths, ["fjall/version"]);
/// assert_eq!(dirs, ["fjall", "fjall/keyspaces"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn scan(dir: &Path) -> Result<(Vec<FileEntry>, Vec<String>)> {
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    let walk = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name();
    for e in walk {
        let e = e.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_owned();
            io(path)(e.into())
        })?;
        let rel = relative(dir, e.path());
        if e.file_type().is_dir() {
            dirs.push(rel);
        } else if e.file_type().is_file() && !skipped(&rel) {
            let (sha256, size) = hash_file(e.path())?;
            files.push(FileEntry {
                path: rel,
                size,
                sha256,
            });
        }
    }
    // Manifests list `/`-joined paths in string order (not the walk's per-component order).
    files.sort_by(|a, b| a.path.cmp(&b.path));
    dirs.sort();
    Ok((files, dirs))
}

/// Records in `dir` that it holds the generation of `manifest`: written to a temporary file
/// (`*.tmp`, never pushed), synced, then renamed, so the record is whole or absent. It also
/// removes the [`UNPUBLISHED_FILE`] mark: `dir` now holds that generation.
///
/// # Errors
/// I/O failures.
///
/// ```
/// use cache_sync::Manifest;
/// use cache_sync::local::{GENERATION_FILE, record_generation};
/// let dir = tempfile::tempdir()?;
/// # let manifest = cache_sync::Manifest::parse("example", br#"{"format": 1, "generation": 7,
/// #     "backend": "fjall", "cache_format": 1, "config_hash": "", "pushed_ms": 0, "files": []}"#)?;
/// record_generation(dir.path(), &manifest)?;
/// let recorded = Manifest::parse("local", &std::fs::read(dir.path().join(GENERATION_FILE))?)?;
/// assert_eq!(recorded, manifest);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn record_generation(dir: &Path, manifest: &Manifest) -> Result<()> {
    let path = dir.join(GENERATION_FILE);
    let body = serde_json::to_vec_pretty(manifest).map_err(|e| SyncError::BadManifest {
        location: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{GENERATION_FILE}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    tmp.write_all(&body).map_err(io(tmp.path()))?;
    tmp.as_file().sync_all().map_err(io(tmp.path()))?;
    tmp.persist(&path).map_err(|e| io(&path)(e.error))?;
    let unpublished = dir.join(UNPUBLISHED_FILE);
    match std::fs::remove_file(&unpublished) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&unpublished)(e)),
        _ => Ok(()),
    }
}

/// Marks `dir` (an existing cache directory) as holding changes that no pushed generation
/// holds, durably (the file and its directory entry are synced), before the changes are made.
///
/// # Errors
/// I/O failures.
///
/// ```
/// use cache_sync::local::{is_unpublished, mark_unpublished};
/// let dir = tempfile::tempdir()?;
/// mark_unpublished(dir.path())?;
/// mark_unpublished(dir.path())?; // marking twice is fine
/// assert!(is_unpublished(dir.path()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn mark_unpublished(dir: &Path) -> Result<()> {
    let path = dir.join(UNPUBLISHED_FILE);
    if path.exists() {
        return Ok(());
    }
    let file = std::fs::File::create(&path).map_err(io(&path))?;
    file.sync_all().map_err(io(&path))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// True when `dir` holds changes that no pushed generation holds ([`mark_unpublished`]).
///
/// ```
/// use cache_sync::local::{is_unpublished, mark_unpublished};
/// let dir = tempfile::tempdir()?;
/// assert!(!is_unpublished(dir.path()), "a new directory carries no mark");
/// mark_unpublished(dir.path())?;
/// assert!(is_unpublished(dir.path()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn is_unpublished(dir: &Path) -> bool {
    dir.join(UNPUBLISHED_FILE).exists()
}

/// The manifest a pulled directory was switched to, if it records one.
pub(crate) fn local_generation(dir: &Path) -> Option<Manifest> {
    let bytes = std::fs::read(dir.join(GENERATION_FILE)).ok()?;
    Manifest::parse("local", &bytes).ok()
}

/// A new generation of a directory being assembled beside it.
///
/// It lives in `{dir}.pull-XXXXXX/new`, a directory made by `tempfile` in the parent of `dir`
/// (same file system, so the switch is a rename). The parent of `new` carries no cache marker,
/// so nothing takes a leftover for a cache. Dropping a `Staging` (error, panic) removes it; one
/// left by a killed process is never switched in and is removed by a later pull once older than
/// [`STALE_STAGING`].
///
/// ```
/// use cache_sync::local::Staging;
/// let tmp = tempfile::tempdir()?;
/// let dir = tmp.path().join("cache");
/// std::fs::create_dir(&dir)?;
/// std::fs::write(dir.join("f"), b"old")?;
/// let staging = Staging::beside(&dir)?;
/// std::fs::write(staging.path().join("f"), b"half-assembled")?;
/// drop(staging); // e.g. a file did not verify
/// assert_eq!(std::fs::read(dir.join("f"))?, b"old", "the old copy is untouched");
/// assert_eq!(std::fs::read_dir(tmp.path())?.count(), 1, "and nothing is left beside it");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Staging {
    work: tempfile::TempDir,
}

const NEW: &str = "new";
const OLD: &str = "old";

fn parent_and_name(dir: &Path) -> (&Path, String) {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (parent, name)
}

/// Removes staging directories of `{name}` in `parent` older than [`STALE_STAGING`]
/// (`{name}.pull-*`, and `{name}.old-*` of earlier versions). Best effort.
fn sweep_stale(parent: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let (pull, old) = (format!("{name}.pull-"), format!("{name}.old-"));
    for e in entries.flatten() {
        let file_name = e.file_name().to_string_lossy().into_owned();
        let ours = file_name.starts_with(&pull) || file_name.starts_with(&old);
        // `DirEntry::metadata` does not follow symbolic links: a link is never removed through.
        let stale = e.metadata().is_ok_and(|m| {
            m.is_dir()
                && m.modified()
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= STALE_STAGING)
        });
        if ours && stale {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Staging {
    /// A new, empty staging directory for `dir` (its parent is created if missing).
    ///
    /// # Errors
    /// When the parent or the staging directory cannot be created.
    ///
    /// ```
    /// use cache_sync::local::Staging;
    /// let tmp = tempfile::tempdir()?;
    /// let staging = Staging::beside(&tmp.path().join("sub/cache"))?;
    /// assert!(staging.path().starts_with(tmp.path().join("sub")));
    /// assert_eq!(std::fs::read_dir(staging.path())?.count(), 0, "empty");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn beside(dir: &Path) -> Result<Self> {
        let (parent, name) = parent_and_name(dir);
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        sweep_stale(parent, &name);
        let work = tempfile::Builder::new()
            .prefix(&format!("{name}.pull-"))
            .tempdir_in(parent)
            .map_err(io(parent))?;
        let new = work.path().join(NEW);
        std::fs::create_dir(&new).map_err(io(&new))?;
        Ok(Staging { work })
    }

    /// Where the new generation is assembled.
    ///
    /// ```
    /// use cache_sync::local::Staging;
    /// let tmp = tempfile::tempdir()?;
    /// let staging = Staging::beside(&tmp.path().join("cache"))?;
    /// assert!(staging.path().is_dir());
    /// assert_eq!(staging.path().file_name(), Some("new".as_ref()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> PathBuf {
        self.work.path().join(NEW)
    }

    /// Replaces `dir` by the assembled directory atomically where the OS allows (Linux
    /// `renameat2` exchange: at every instant `dir` is either the old or the new generation,
    /// never missing), then removes the old one. Elsewhere two renames (the old generation is put
    /// back if the second fails); when `dir` does not exist yet, one.
    ///
    /// # Errors
    /// When a rename fails, or the old generation cannot be removed.
    ///
    /// ```
    /// use cache_sync::local::Staging;
    /// let tmp = tempfile::tempdir()?;
    /// let dir = tmp.path().join("cache");
    /// for generation in [b"one", b"two"] {
    ///     let staging = Staging::beside(&dir)?;
    ///     std::fs::write(staging.path().join("f"), generation)?;
    ///     staging.switch(&dir)?;
    ///     assert_eq!(std::fs::read(dir.join("f"))?, generation);
    /// }
    /// assert_eq!(std::fs::read_dir(tmp.path())?.count(), 1, "no staging directory is left");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn switch(self, dir: &Path) -> Result<()> {
        let new = self.path();
        if dir.exists() {
            let exchanged = rustix::fs::renameat_with(
                rustix::fs::CWD,
                &new,
                rustix::fs::CWD,
                dir,
                rustix::fs::RenameFlags::EXCHANGE,
            );
            // On success `new` now holds the old generation, removed with the staging dir.
            if exchanged.is_err() {
                let old = self.work.path().join(OLD);
                std::fs::rename(dir, &old).map_err(io(dir))?;
                if let Err(e) = std::fs::rename(&new, dir) {
                    let _ = std::fs::rename(&old, dir);
                    return Err(io(dir)(e));
                }
            }
        } else {
            std::fs::rename(&new, dir).map_err(io(dir))?;
        }
        let work = self.work.path().to_owned();
        self.work.close().map_err(io(work))
    }
}
