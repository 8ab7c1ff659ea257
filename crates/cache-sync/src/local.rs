//! The local side: the files of a cache directory with their hashes, and the atomic switch of
//! a directory to a new generation.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Result, SyncError, io};
use crate::manifest::{FileEntry, Manifest};

/// File in a pulled cache recording which generation it holds (never pushed).
pub const GENERATION_FILE: &str = "SYNC-GENERATION";

/// Files never pushed: engine lock files and sync bookkeeping.
fn skipped(rel: &str) -> bool {
    rel == GENERATION_FILE || rel.ends_with("/lock") || rel == "lock" || rel.ends_with(".tmp")
}

/// SHA-256 (hex) and size of a file, streamed.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&hasher.finalize()), size))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Every pushable file of `dir` with its hash, sorted by path.
pub fn scan(dir: &Path) -> Result<Vec<FileEntry>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<FileEntry>) -> Result<()> {
        for e in std::fs::read_dir(dir).map_err(io(dir))? {
            let e = e.map_err(io(dir))?;
            let p = e.path();
            let ty = e.file_type().map_err(io(&p))?;
            if ty.is_dir() {
                walk(base, &p, out)?;
            } else if ty.is_file() {
                let rel = p
                    .strip_prefix(base)
                    .map_err(|_| SyncError::NotACache {
                        path: p.clone(),
                        reason: "outside the cache".into(),
                    })?
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                if skipped(&rel) {
                    continue;
                }
                let (sha256, size) = hash_file(&p)?;
                out.push(FileEntry {
                    path: rel,
                    size,
                    sha256,
                });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The manifest a pulled directory was switched to, if it records one.
pub fn local_generation(dir: &Path) -> Option<Manifest> {
    let bytes = std::fs::read(dir.join(GENERATION_FILE)).ok()?;
    Manifest::parse("local", &bytes).ok()
}

/// Replaces `dir` by `staging` atomically where the OS allows (Linux `renameat2` exchange: at
/// every instant `dir` is either the old or the new generation, never missing), then removes the
/// old one. Elsewhere, or when `dir` does not exist yet, two renames.
pub fn switch(dir: &Path, staging: &Path) -> Result<()> {
    if dir.exists() {
        let exchanged = rustix::fs::renameat_with(
            rustix::fs::CWD,
            staging,
            rustix::fs::CWD,
            dir,
            rustix::fs::RenameFlags::EXCHANGE,
        );
        if exchanged.is_ok() {
            // `staging` now holds the old generation.
            return std::fs::remove_dir_all(staging).map_err(io(staging));
        }
        let old = aside(dir, "old");
        std::fs::rename(dir, &old).map_err(io(dir))?;
        std::fs::rename(staging, dir).map_err(io(dir))?;
        return std::fs::remove_dir_all(&old).map_err(io(&old));
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::rename(staging, dir).map_err(io(dir))
}

/// A sibling path of `dir` named `{dir}.{what}-{pid}`.
pub fn aside(dir: &Path, what: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!("{name}.{what}-{}", std::process::id()))
}
