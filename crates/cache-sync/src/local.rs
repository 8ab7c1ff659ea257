//! The local side: the files of a cache directory with their hashes, and the atomic switch of
//! a directory to a new generation.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Result, SyncError, io};
use crate::manifest::{FileEntry, Manifest};

/// File in a pulled cache recording which generation it holds (never pushed).
pub const GENERATION_FILE: &str = "SYNC-GENERATION";

/// Files never pushed: sync bookkeeping and temporary files.
fn skipped(rel: &str) -> bool {
    rel == GENERATION_FILE || rel.ends_with(".tmp")
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

/// Every pushable file of `dir` with its hash, and every directory, both sorted by path.
pub fn scan(dir: &Path) -> Result<(Vec<FileEntry>, Vec<String>)> {
    fn walk(
        base: &Path,
        dir: &Path,
        files: &mut Vec<FileEntry>,
        dirs: &mut Vec<String>,
    ) -> Result<()> {
        for e in std::fs::read_dir(dir).map_err(io(dir))? {
            let e = e.map_err(io(dir))?;
            let p = e.path();
            let ty = e.file_type().map_err(io(&p))?;
            let rel = relative(base, &p);
            if ty.is_dir() {
                dirs.push(rel);
                walk(base, &p, files, dirs)?;
            } else if ty.is_file() && !skipped(&rel) {
                let (sha256, size) = hash_file(&p)?;
                files.push(FileEntry {
                    path: rel,
                    size,
                    sha256,
                });
            }
        }
        Ok(())
    }
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    walk(dir, dir, &mut files, &mut dirs)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    dirs.sort();
    Ok((files, dirs))
}

/// Records in `dir` that it holds the generation of `manifest`.
pub fn record_generation(dir: &Path, manifest: &Manifest) -> Result<()> {
    let path = dir.join(GENERATION_FILE);
    let body = serde_json::to_vec_pretty(manifest).map_err(|e| SyncError::BadManifest {
        location: path.display().to_string(),
        reason: e.to_string(),
    })?;
    std::fs::write(&path, body).map_err(io(&path))
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
