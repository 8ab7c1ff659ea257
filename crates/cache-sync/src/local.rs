//! The local side: the files of a cache directory with their hashes, and the atomic switch of
//! a directory to a new generation.

use cache_core::lock::{DirectoryLock, LOCK_FILE};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{Result, SyncError, io};
use crate::manifest::{FileEntry, Manifest};

/// File in a pulled cache recording which generation it holds (never pushed).
pub const GENERATION_FILE: &str = "SYNC-GENERATION";

/// File in a cache directory whose content has changes that no pushed generation holds
/// (never pushed). Whoever changes a synced cache creates it first ([`mark_unpublished`]); a
/// push removes it once its generation is published, so a run killed between its change and
/// its push leaves a directory that the next run still pushes.
pub const UNPUBLISHED_FILE: &str = "SYNC-UNPUBLISHED";

/// Staging directories of killed pulls older than this are removed by the next pull beside them
/// (younger ones may belong to a pull still running).
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
pub fn lock(dir: &Path) -> Result<DirectoryLock> {
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

/// SHA-256 (hex) and size of a file, streamed.
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
/// tree must not pull foreign files in).
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
/// (`*.tmp`, never pushed), synced, then renamed, so the record is whole or absent.
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
pub fn is_unpublished(dir: &Path) -> bool {
    dir.join(UNPUBLISHED_FILE).exists()
}

/// The manifest a pulled directory was switched to, if it records one.
pub fn local_generation(dir: &Path) -> Option<Manifest> {
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
