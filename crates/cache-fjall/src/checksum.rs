//! Checksums of a cleanly closed fjall database, verified before fjall reads it again.
//!
//! fjall checks its table blocks and journal entries, but not its version files, and it
//! truncates a journal silently at the first entry it cannot read; a damaged manifest can make it
//! panic. So a clean close writes [`CHECKSUM_FILE`] beside the engine directory: length and
//! xxh3-64 of every file in it. The next open verifies it before fjall opens anything and then
//! removes it (the files are about to change).
//!
//! A file that changed is damage, named in the error. A listed file that is gone is not judged
//! here: fjall may still delete a table or an old journal it had retired just after the close
//! (the last handle of a table deletes it), and a file it needs and cannot find is an error of
//! its own at open.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use cache_core::{Error, Result};

use crate::{BACKEND, ENGINE_DIR};

/// File beside the engine directory holding the checksums of a cleanly closed database.
pub const CHECKSUM_FILE: &str = "fjall.xxh3";

/// First line of [`CHECKSUM_FILE`].
const HEADER: &str = "sai3-cache fjall checksums 1";

/// One file of the engine directory: its path (relative, `/`-separated), length and xxh3-64.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    path: String,
    len: u64,
    hash: u64,
}

/// Bytes per block of [`digest`].
const BLOCK: u64 = 64 * 1024;

/// Length and xxh3-64 of a file's content, independent of how it is stored: blocks of
/// [`BLOCK`] bytes that are all zero are skipped, the others hashed with their offset. So a
/// sparse journal (64 MiB, mostly holes) costs what its data costs, and a copy of it written out
/// in full (a pulled cache) has the same digest.
fn digest(file: &Path) -> std::io::Result<(u64, u64)> {
    let mut f = std::fs::File::open(file)?;
    let len = f.metadata()?.len();
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; BLOCK as usize];
    let mut pos = 0u64;
    while pos < len {
        let start = (next_data(&f, pos, len)? / BLOCK * BLOCK).max(pos);
        if start >= len {
            break;
        }
        let n = (len - start).min(BLOCK) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if buf[..n].iter().any(|&b| b != 0) {
            hasher.update(&start.to_le_bytes());
            hasher.update(&buf[..n]);
        }
        pos = start + BLOCK;
    }
    hasher.update(&len.to_le_bytes());
    Ok((len, hasher.digest()))
}

/// Where the next data at or after `pos` starts (`len` when only a hole follows), skipping
/// holes of a sparse file; `pos` where the file system cannot say.
#[cfg(target_os = "linux")]
fn next_data(f: &std::fs::File, pos: u64, len: u64) -> std::io::Result<u64> {
    match rustix::fs::seek(f, rustix::fs::SeekFrom::Data(pos)) {
        Ok(at) => Ok(at),
        Err(rustix::io::Errno::NXIO) => Ok(len),
        Err(_) => Ok(pos),
    }
}

#[cfg(not(target_os = "linux"))]
fn next_data(_: &std::fs::File, pos: u64, _: u64) -> std::io::Result<u64> {
    Ok(pos)
}

/// Every regular file under `dir`, relative and `/`-separated, in path order.
fn files(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                todo.push(path);
            } else if kind.is_file()
                && let Ok(rel) = path.strip_prefix(dir)
            {
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push((rel.join("/"), path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Writes the checksums of the closed database in `dir` (temporary file, synced, renamed).
///
/// # Errors
/// I/O failures (the caller ignores them: without the file the next open is not verified).
pub(crate) fn write(dir: &Path) -> std::io::Result<()> {
    let mut text = format!("{HEADER}\n");
    for (rel, path) in files(&dir.join(ENGINE_DIR))? {
        let (len, hash) = digest(&path)?;
        text.push_str(&format!("{len} {hash:016x} {rel}\n"));
    }
    let tmp = dir.join(format!("{CHECKSUM_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(CHECKSUM_FILE))
}

/// Parses [`CHECKSUM_FILE`]; `None` when it is not one.
fn parse(text: &str) -> Option<Vec<Entry>> {
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    lines
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let len = parts.next()?.parse().ok()?;
            let hash = u64::from_str_radix(parts.next()?, 16).ok()?;
            let path = parts.next()?.to_owned();
            let safe = !path.is_empty()
                && !path.starts_with('/')
                && path
                    .split('/')
                    .all(|c| !c.is_empty() && c != "." && c != "..");
            safe.then_some(Entry { path, len, hash })
        })
        .collect()
}

/// Verifies the database in `dir` against its checksums, if a clean close left them, then
/// removes them. The caller holds the directory lock.
///
/// # Errors
/// [`Error::Damaged`] naming the file that changed (or an unreadable checksum file);
/// [`Error::InUse`] when a process holds fjall's own lock; I/O failures.
pub(crate) fn verify_and_forget(dir: &Path) -> Result<()> {
    let sums = dir.join(CHECKSUM_FILE);
    // Bytes that are not text are a damaged checksum file, not an I/O error: the cache is
    // rebuilt, not refused.
    let text = match std::fs::read(&sums) {
        Ok(bytes) => String::from_utf8(bytes).unwrap_or_default(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(sums, e)),
    };
    let damaged = |why: String| {
        Error::damaged(
            BACKEND,
            dir,
            None,
            format!("{why}; the database was not opened"),
        )
    };
    let entries = parse(&text)
        .ok_or_else(|| damaged(format!("its checksum file {CHECKSUM_FILE} is unreadable")))?;
    let engine = dir.join(ENGINE_DIR);
    // A process that does not take our lock may be changing the files under fjall's own lock,
    // and a changed file is not a damaged one.
    let fjall_lock = engine.join("lock");
    if cache_core::lock::held_by_another(&fjall_lock).map_err(|e| Error::io(&fjall_lock, e))? {
        let _ = std::fs::remove_file(&sums);
        return Err(Error::in_use(
            BACKEND,
            dir,
            format!("{ENGINE_DIR}/lock is held by a process that does not take our lock"),
        ));
    }
    for e in &entries {
        let file = engine.join(&e.path);
        let (len, hash) = match digest(&file) {
            Ok(d) => d,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(Error::io(file, err)),
        };
        if len != e.len {
            let why = format!(
                "{ENGINE_DIR}/{} is {len} bytes, {} when it was last closed",
                e.path, e.len
            );
            return Err(damaged(why));
        }
        if hash != e.hash {
            let why = format!(
                "{ENGINE_DIR}/{} does not match the checksum written when it was last closed",
                e.path
            );
            return Err(damaged(why));
        }
    }
    std::fs::remove_file(&sums).map_err(|e| Error::io(sums, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_ignores_how_zeros_are_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sparse = dir.path().join("sparse");
        let full = dir.path().join("full");
        let mut content = vec![0u8; 3 * BLOCK as usize + 100];
        content[5] = 1;
        content[2 * BLOCK as usize + 7] = 2;
        std::fs::write(&full, &content).expect("write");
        // The same content with holes: data written only where it is not zero.
        let f = std::fs::File::create(&sparse).expect("create");
        f.set_len(content.len() as u64).expect("set_len");
        drop(f);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&sparse)
            .expect("open");
        for (at, b) in [(5u64, 1u8), (2 * BLOCK + 7, 2)] {
            f.seek(SeekFrom::Start(at)).expect("seek");
            f.write_all(&[b]).expect("write");
        }
        drop(f);
        assert_eq!(
            digest(&full).expect("digest"),
            digest(&sparse).expect("digest")
        );
        content[3 * BLOCK as usize + 99] = 3;
        std::fs::write(&full, &content).expect("write");
        assert_ne!(
            digest(&full).expect("digest"),
            digest(&sparse).expect("digest")
        );
        // A zero block moved is a different file.
        let mut moved = vec![0u8; content.len()];
        moved[BLOCK as usize + 5] = 1;
        moved[2 * BLOCK as usize + 7] = 2;
        moved[3 * BLOCK as usize + 99] = 3;
        std::fs::write(&sparse, &moved).expect("write");
        assert_ne!(
            digest(&full).expect("digest"),
            digest(&sparse).expect("digest")
        );
    }

    #[test]
    fn parse_refuses_foreign_text_and_unsafe_paths() {
        let good = format!("{HEADER}\n3 00000000000000ff keyspaces/1/v0\n");
        assert_eq!(
            parse(&good),
            Some(vec![Entry {
                path: "keyspaces/1/v0".into(),
                len: 3,
                hash: 255
            }])
        );
        assert_eq!(parse("something else\n"), None);
        for bad in [
            "3 ff ../x",
            "3 ff /etc/passwd",
            "3 zz a",
            "x ff a",
            "3 ff a//b",
            "3 ff",
        ] {
            assert_eq!(parse(&format!("{HEADER}\n{bad}\n")), None, "{bad}");
        }
    }
}
