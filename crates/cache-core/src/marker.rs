//! The format marker: a small text file, `SAI3-CACHE-FORMAT`, at the top of every cache
//! directory, naming the backend and the format version.
//!
//! ```text
//! sai3-cache
//! backend = fjall
//! format = 1
//! ```
//!
//! Backends call [`claim_directory`] before handing the directory to their engine. It refuses a
//! directory of the other backend, one with a newer format, and one that holds files but no
//! marker (garbage, or a bare engine database not made by this tool) with errors that name the
//! backend and the path, so that the engine never sees a directory it might misread or "repair".
//!
//! ```
//! use cache_core::marker::{claim_directory, read_marker};
//! use cache_core::ErrorKind;
//! let tmp = tempfile::tempdir()?;
//! let dir = tmp.path().join("cache");
//! claim_directory(&dir, "fjall", true)?;
//! assert_eq!(read_marker(&dir, "fjall")?.map(|m| m.backend), Some("fjall".to_owned()));
//! let other = claim_directory(&dir, "redb", true).unwrap_err();
//! assert_eq!(other.kind(), ErrorKind::WrongFormat);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// File name of the marker.
///
/// ```
/// use cache_core::marker::{MARKER_FILE, claim_directory};
/// let dir = tempfile::tempdir()?;
/// claim_directory(dir.path(), "redb", true)?;
/// let text = std::fs::read_to_string(dir.path().join(MARKER_FILE))?;
/// assert!(text.starts_with("sai3-cache\nbackend = redb\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MARKER_FILE: &str = "SAI3-CACHE-FORMAT";

/// The on-disk format version this build writes and the newest it reads.
///
/// Version 1: frames of [`crate::frame`] version 1, keys of [`crate::key`].
///
/// ```
/// use cache_core::marker::{FORMAT_VERSION, claim_directory, read_marker};
/// let dir = tempfile::tempdir()?;
/// claim_directory(dir.path(), "fjall", true)?;
/// assert_eq!(read_marker(dir.path(), "fjall")?.map(|m| m.format), Some(FORMAT_VERSION));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const FORMAT_VERSION: u32 = 1;

/// The parsed content of a marker.
///
/// ```
/// use cache_core::marker::FormatMarker;
/// let marker = FormatMarker { backend: "fjall".into(), format: 1 };
/// assert_eq!(FormatMarker::parse(&marker.render()), Some(marker));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatMarker {
    /// Backend that owns the directory.
    pub backend: String,
    /// Format version it was written with.
    pub format: u32,
}

impl FormatMarker {
    /// Renders the marker file's text.
    ///
    /// ```
    /// use cache_core::marker::FormatMarker;
    /// let marker = FormatMarker { backend: "redb".into(), format: 1 };
    /// assert_eq!(marker.render(), "sai3-cache\nbackend = redb\nformat = 1\n");
    /// ```
    pub fn render(&self) -> String {
        format!(
            "sai3-cache\nbackend = {}\nformat = {}\n",
            self.backend, self.format
        )
    }

    /// Parses a marker file's text; `None` if it is not one. Unknown `key = value` lines are
    /// ignored (for forward compatibility).
    ///
    /// ```
    /// use cache_core::marker::FormatMarker;
    /// let text = "sai3-cache\nbackend = fjall\nformat = 2\nnew-key = x\n";
    /// let marker = FormatMarker::parse(text).expect("a marker");
    /// assert_eq!((marker.backend.as_str(), marker.format), ("fjall", 2));
    /// assert_eq!(FormatMarker::parse("hello"), None);
    /// assert_eq!(FormatMarker::parse("sai3-cache\nbackend = fjall\n"), None, "no format");
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()?.trim() != "sai3-cache" {
            return None;
        }
        let (mut backend, mut format) = (None, None);
        for line in lines {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (k, v) = line.split_once('=')?;
            match k.trim() {
                "backend" => backend = Some(v.trim().to_owned()),
                "format" => format = Some(v.trim().parse().ok()?),
                _ => {} // unknown keys are allowed for forward compatibility
            }
        }
        Some(FormatMarker {
            backend: backend.filter(|b| !b.is_empty())?,
            format: format?,
        })
    }
}

/// Reads the marker of `dir`, if it has one.
///
/// # Errors
/// [`Error::NotACache`] when the marker exists but cannot be parsed (`expected` is the backend
/// named in that error); [`Error::Io`] when it cannot be read.
///
/// ```
/// use cache_core::marker::{MARKER_FILE, read_marker};
/// use cache_core::ErrorKind;
/// let dir = tempfile::tempdir()?;
/// assert_eq!(read_marker(dir.path(), "fjall")?, None);
/// std::fs::write(dir.path().join(MARKER_FILE), "garbage")?;
/// let err = read_marker(dir.path(), "fjall").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NotACache);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_marker(dir: &Path, expected: &'static str) -> Result<Option<FormatMarker>> {
    let path = dir.join(MARKER_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            FormatMarker::parse(&text)
                .map(Some)
                .ok_or_else(|| Error::NotACache {
                    path: dir.to_owned(),
                    expected,
                    reason: format!("its {MARKER_FILE} file is damaged"),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn write_marker(dir: &Path, marker: &FormatMarker) -> Result<()> {
    let tmp = dir.join(format!("{MARKER_FILE}.tmp"));
    let fin = dir.join(MARKER_FILE);
    let mut f = fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(marker.render().as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, &fin).map_err(|e| Error::io(&fin, e))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn describe_foreign(dir: &Path, entries: &[String]) -> String {
    let has = |n: &str| entries.iter().any(|e| e == n);
    if has("version") && (has("keyspaces") || has("journals")) {
        return "it looks like a bare fjall database that sai3-cache did not create".into();
    }
    if entries.iter().any(|e| e.ends_with(".redb")) {
        return "it holds a bare redb file that sai3-cache did not create".into();
    }
    let mut shown: Vec<&str> = entries.iter().map(String::as_str).take(3).collect();
    shown.sort_unstable();
    format!(
        "it has no {MARKER_FILE} file and is not empty ({} entries, e.g. {}); \
         point the cache at an empty or new directory under {}",
        entries.len(),
        shown.join(", "),
        dir.display()
    )
}

/// Makes sure `dir` is (or becomes) a cache directory of `backend`.
///
/// * missing directory: created with a marker when `create` is true, else [`Error::NotACache`];
/// * a marker of `backend` with format <= [`FORMAT_VERSION`]: accepted;
/// * a marker of another backend: [`Error::WrongBackend`];
/// * a newer format: [`Error::FormatTooNew`];
/// * no marker in an empty directory: marker written when `create` is true;
/// * no marker in a non-empty directory, or a path that is a file: [`Error::NotACache`].
///
/// ```
/// use cache_core::marker::claim_directory;
/// use cache_core::ErrorKind;
/// let tmp = tempfile::tempdir()?;
/// let dir = tmp.path().join("cache");
/// let missing = claim_directory(&dir, "fjall", false).unwrap_err();
/// assert_eq!(missing.kind(), ErrorKind::NotACache);
/// claim_directory(&dir, "fjall", true)?;
/// claim_directory(&dir, "fjall", false)?; // reopening is fine
///
/// let junk = tmp.path().join("junk");
/// std::fs::create_dir(&junk)?;
/// std::fs::write(junk.join("notes.txt"), "hi")?;
/// let err = claim_directory(&junk, "fjall", true).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NotACache);
/// assert!(err.to_string().contains("notes.txt"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn claim_directory(dir: &Path, backend: &'static str, create: bool) -> Result<()> {
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(Error::NotACache {
                path: dir.to_owned(),
                expected: backend,
                reason: "it is a file, not a directory".into(),
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !create {
                return Err(Error::NotACache {
                    path: dir.to_owned(),
                    expected: backend,
                    reason: "it does not exist".into(),
                });
            }
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        Err(e) => return Err(Error::io(dir, e)),
    }
    if let Some(marker) = read_marker(dir, backend)? {
        if marker.backend != backend {
            return Err(Error::WrongBackend {
                path: dir.to_owned(),
                expected: backend,
                found: marker.backend,
            });
        }
        if marker.format > FORMAT_VERSION {
            return Err(Error::FormatTooNew {
                path: dir.to_owned(),
                found: marker.format,
                supported: FORMAT_VERSION,
            });
        }
        return Ok(());
    }
    let entries: Vec<String> = fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != &format!("{MARKER_FILE}.tmp"))
        .collect();
    if !entries.is_empty() {
        return Err(Error::NotACache {
            path: dir.to_owned(),
            expected: backend,
            reason: describe_foreign(dir, &entries),
        });
    }
    if !create {
        return Err(Error::NotACache {
            path: dir.to_owned(),
            expected: backend,
            reason: "it is empty".into(),
        });
    }
    write_marker(
        dir,
        &FormatMarker {
            backend: backend.to_owned(),
            format: FORMAT_VERSION,
        },
    )
}

/// Overwrites the marker of `dir` (tests use it to simulate other backends and newer builds).
///
/// # Errors
/// [`Error::Io`] when the marker cannot be written.
///
/// ```
/// use cache_core::marker::{FORMAT_VERSION, FormatMarker, claim_directory, force_marker};
/// use cache_core::Error;
/// let dir = tempfile::tempdir()?;
/// claim_directory(dir.path(), "fjall", true)?;
/// let newer = FormatMarker { backend: "fjall".into(), format: FORMAT_VERSION + 1 };
/// force_marker(dir.path(), &newer)?;
/// let err = claim_directory(dir.path(), "fjall", true).unwrap_err();
/// assert!(matches!(err, Error::FormatTooNew { .. }), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn force_marker(dir: &Path, marker: &FormatMarker) -> Result<()> {
    write_marker(dir, marker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_render_round_trip() {
        let m = FormatMarker {
            backend: "redb".into(),
            format: 1,
        };
        assert_eq!(FormatMarker::parse(&m.render()), Some(m));
        assert_eq!(FormatMarker::parse("hello"), None);
        assert_eq!(
            FormatMarker::parse("sai3-cache\nbackend = x\nformat = q\n"),
            None
        );
    }

    #[test]
    fn claim_rules() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("c");
        assert!(matches!(
            claim_directory(&dir, "fjall", false),
            Err(Error::NotACache { .. })
        ));
        claim_directory(&dir, "fjall", true).expect("creates");
        claim_directory(&dir, "fjall", false).expect("reopens");
        let e = claim_directory(&dir, "redb", true).expect_err("other backend");
        assert!(e.to_string().contains("holds a fjall cache"), "{e}");

        let junk = tmp.path().join("junk");
        fs::create_dir(&junk).expect("mkdir");
        fs::write(junk.join("notes.txt"), b"hi").expect("write");
        let e = claim_directory(&junk, "redb", true).expect_err("garbage");
        assert!(e.to_string().contains("notes.txt"), "{e}");
        assert!(e.to_string().contains("is not a redb cache"), "{e}");

        force_marker(
            &dir,
            &FormatMarker {
                backend: "fjall".into(),
                format: FORMAT_VERSION + 1,
            },
        )
        .expect("force");
        assert!(matches!(
            claim_directory(&dir, "fjall", true),
            Err(Error::FormatTooNew { found: 2, .. })
        ));
        fs::write(dir.join(MARKER_FILE), b"\xff\xfe").expect("write");
        let e = claim_directory(&dir, "fjall", true).expect_err("damaged");
        assert!(e.to_string().contains("damaged"), "{e}");
    }
}
