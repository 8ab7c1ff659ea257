//! The export archive of whole caches (`sai3-cache export` and `import`): its manifest, writing
//! it, and reading it back into a staging directory with every entry checked.
//!
//! An archive is a zstd-compressed tar, streamed both ways (memory stays flat whatever the
//! size):
//! ```text
//! SAI3-CACHE-EXPORT     JSON manifest, first entry: format, backend, caches (dir, location)
//! caches/0/...          one directory per cache, as on disk
//! ```
//!
//! Reading trusts nothing in the archive: only plain files and directories whose paths stay
//! inside it are unpacked, only under the staging directory; the manifest must come first and
//! name only safe paths; extension headers (long names, PAX records, sparse maps) are read
//! within [`HEADER_BUDGET`] bytes and the manifest within [`MAX_MANIFEST_BYTES`], so no header
//! size makes the reader allocate without bound. Where an unpacked cache is installed is the
//! importer's choice, never the archive's.
//!
//! ```
//! use cache_sai3::archive::{self, ExportManifest, ExportedCache, Limits};
//!
//! let tmp = tempfile::tempdir()?;
//! let cache = tmp.path().join("cache");
//! std::fs::create_dir(&cache)?;
//! std::fs::write(cache.join("SAI3-CACHE-FORMAT"), "sai3-cache")?;
//! let manifest = ExportManifest::new("fjall", vec![ExportedCache::in_cache_dir(0, "endpoints/x")]);
//! let output = tmp.path().join("caches.tar.zst");
//! let archived = std::sync::atomic::AtomicU64::new(0); // bytes, for a progress display
//! archive::write(&output, &manifest, &[cache.as_path()], &archived)?;
//! assert!(archived.into_inner() > 0);
//!
//! let staging = tmp.path().join("staging");
//! std::fs::create_dir(&staging)?;
//! let read = archive::unpack(std::fs::File::open(&output)?, &staging, Limits::NONE)?;
//! assert_eq!(read, manifest);
//! assert!(staging.join("caches/0/SAI3-CACHE-FORMAT").is_file());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::Cell;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Name of the manifest inside an export archive (its first entry).
///
/// ```
/// use cache_sai3::archive::{self, ExportManifest, ExportedCache, Limits};
/// # let tmp = tempfile::tempdir()?;
/// # let cache = tmp.path().join("cache");
/// # std::fs::create_dir(&cache)?;
/// # std::fs::write(cache.join("SAI3-CACHE-FORMAT"), "sai3-cache")?;
/// let manifest = ExportManifest::new("fjall", vec![ExportedCache::in_cache_dir(0, "endpoints/x")]);
/// let output = tmp.path().join("caches.tar.zst");
/// archive::write(&output, &manifest, &[cache.as_path()], &Default::default())?;
/// // Its first entry, as plain tar: the manifest.
/// let tar = zstd::decode_all(std::fs::File::open(&output)?)?;
/// let mut entries = tar::Archive::new(tar.as_slice());
/// let first = entries.entries()?.next().expect("an entry")?;
/// assert_eq!(first.path()?.to_str(), Some(archive::MANIFEST));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MANIFEST: &str = "SAI3-CACHE-EXPORT";

/// The archive format this build writes and the newest it reads.
///
/// ```
/// use cache_sai3::archive::{ArchiveError, ExportManifest, FORMAT};
/// assert_eq!(ExportManifest::new("redb", vec![]).format, FORMAT);
/// let newer = format!(r#"{{ "format": {}, "backend": "redb", "caches": [] }}"#, FORMAT + 1);
/// assert!(matches!(ExportManifest::parse(newer.as_bytes()), Err(ArchiveError::NewerFormat { .. })));
/// ```
pub const FORMAT: u32 = 1;

/// Largest manifest read (bytes); a larger one is refused before it is read into memory.
///
/// ```
/// use cache_sai3::archive::{ArchiveError, MAX_MANIFEST_BYTES};
/// assert_eq!(MAX_MANIFEST_BYTES, 16 << 20);
/// assert!(ArchiveError::ManifestTooLarge.to_string().contains("16777216 bytes"));
/// ```
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// Most bytes the reader consumes between two entries: the header of the next entry with its
/// extension headers (GNU long names, PAX records, sparse maps, which the tar reader keeps in
/// memory) and the padding of the last one.
///
/// ```
/// use cache_sai3::archive::{ArchiveError, HEADER_BUDGET};
/// assert_eq!(HEADER_BUDGET, 1 << 20);
/// assert!(ArchiveError::HeaderTooLarge.to_string().contains("1048576 bytes"));
/// ```
pub const HEADER_BUDGET: u64 = 1024 * 1024;

/// zstd level of the archives written.
const ZSTD_LEVEL: i32 = 3;

/// The manifest: which caches the archive holds and where they lived.
///
/// ```
/// use cache_sai3::archive::{ExportManifest, ExportedCache, FORMAT};
/// let manifest = ExportManifest::new("fjall", vec![ExportedCache::in_cache_dir(0, "coordinator")]);
/// let json = serde_json::to_vec(&manifest)?;
/// assert_eq!(ExportManifest::parse(&json)?, manifest);
/// assert_eq!((manifest.format, manifest.caches.len()), (FORMAT, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportManifest {
    /// Archive format ([`FORMAT`]).
    pub format: u32,
    /// The backend whose caches these are (`fjall`, `redb`).
    pub backend: String,
    /// The caches, in archive order.
    pub caches: Vec<ExportedCache>,
}

/// One cache in an archive.
///
/// ```
/// use cache_sai3::archive::{ExportManifest, ExportedCache};
/// // A `file://` endpoint's cache: its absolute location is for information only.
/// let cache = ExportedCache {
///     endpoint: Some("file:///data/ep0/".into()),
///     agent: Some(0),
///     ..ExportedCache::in_cache_dir(1, "/data/ep0/sai3-kv-cache/agents/0")
/// };
/// let json = serde_json::to_vec(&ExportManifest::new("fjall", vec![cache.clone()]))?;
/// assert_eq!(ExportManifest::parse(&json)?.caches, [cache]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedCache {
    /// Directory inside the archive (`caches/N`).
    pub dir: String,
    /// Where it lived: relative paths are relative to the cache dir (installed there again),
    /// absolute ones are `file://` endpoint caches (for information only: `import` installs
    /// them where its own config puts that endpoint's cache, never at a path the archive names).
    pub location: PathBuf,
    /// The `file://` endpoint whose cache it is (absolute locations only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Its agent shard (absolute locations only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<u32>,
}

impl ExportManifest {
    /// A manifest of this build's [`FORMAT`].
    ///
    /// ```
    /// use cache_sai3::archive::{ExportManifest, FORMAT};
    /// let manifest = ExportManifest::new("fjall", vec![]);
    /// assert_eq!((manifest.format, manifest.backend.as_str()), (FORMAT, "fjall"));
    /// ```
    pub fn new(backend: impl Into<String>, caches: Vec<ExportedCache>) -> Self {
        ExportManifest {
            format: FORMAT,
            backend: backend.into(),
            caches,
        }
    }

    /// Parses and checks a manifest: a format this build reads, and for every cache a
    /// directory inside the archive and a location that is absolute or stays inside the cache
    /// dir.
    ///
    /// # Errors
    /// [`ArchiveError::ManifestDamaged`], [`ArchiveError::NewerFormat`],
    /// [`ArchiveError::UnsafeManifestPath`].
    ///
    /// ```
    /// use cache_sai3::archive::{ArchiveError, ExportManifest};
    /// let ok = br#"{ "format": 1, "backend": "fjall", "caches": [{ "dir": "caches/0", "location": "endpoints/x" }] }"#;
    /// assert_eq!(ExportManifest::parse(ok)?.caches[0].dir, "caches/0");
    /// let escapes = br#"{ "format": 1, "backend": "fjall", "caches": [{ "dir": "caches/0", "location": "../../etc" }] }"#;
    /// assert!(matches!(ExportManifest::parse(escapes), Err(ArchiveError::UnsafeManifestPath { .. })));
    /// assert!(matches!(ExportManifest::parse(b"{"), Err(ArchiveError::ManifestDamaged { .. })));
    /// # Ok::<(), ArchiveError>(())
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<Self, ArchiveError> {
        let manifest: ExportManifest =
            serde_json::from_slice(bytes).map_err(|e| ArchiveError::ManifestDamaged {
                reason: e.to_string(),
            })?;
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> Result<(), ArchiveError> {
        if self.format > FORMAT {
            return Err(ArchiveError::NewerFormat { found: self.format });
        }
        for c in &self.caches {
            let location_ok = c.location.is_absolute() || safe_relative(&c.location);
            if !safe_relative(Path::new(&c.dir)) || !location_ok {
                return Err(ArchiveError::UnsafeManifestPath {
                    dir: c.dir.clone(),
                    location: c.location.clone(),
                });
            }
        }
        Ok(())
    }
}

impl ExportedCache {
    /// Cache number `n` of an archive, which lived at `location` under the cache dir.
    ///
    /// ```
    /// use cache_sai3::archive::ExportedCache;
    /// let cache = ExportedCache::in_cache_dir(3, "endpoints/0123456789abcdef");
    /// assert_eq!(cache.dir, "caches/3");
    /// assert!(cache.location.is_relative() && cache.endpoint.is_none() && cache.agent.is_none());
    /// ```
    pub fn in_cache_dir(n: usize, location: impl Into<PathBuf>) -> Self {
        ExportedCache {
            dir: format!("caches/{n}"),
            location: location.into(),
            endpoint: None,
            agent: None,
        }
    }
}

/// Bounds of one unpacking beyond the fixed header bounds.
///
/// ```
/// use cache_sai3::archive::{self, ExportManifest, ExportedCache, Limits};
/// # let tmp = tempfile::tempdir()?;
/// # let cache = tmp.path().join("cache");
/// # std::fs::create_dir(&cache)?;
/// # std::fs::write(cache.join("SAI3-CACHE-FORMAT"), "sai3-cache")?;
/// let manifest = ExportManifest::new("fjall", vec![ExportedCache::in_cache_dir(0, "endpoints/x")]);
/// let output = tmp.path().join("caches.tar.zst");
/// archive::write(&output, &manifest, &[cache.as_path()], &Default::default())?;
/// let staging = tmp.path().join("staging");
/// std::fs::create_dir(&staging)?;
/// let tight = Limits { max_archive_bytes: 1024 }; // smaller than the archive
/// let err = archive::unpack(std::fs::File::open(&output)?, &staging, tight).unwrap_err();
/// assert!(matches!(err, archive::ArchiveError::TooLarge { limit: 1024 }), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of uncompressed archive read (headers and contents).
    pub max_archive_bytes: u64,
}

impl Limits {
    /// No bound beyond the header bounds: an import of caches of any size.
    ///
    /// ```
    /// use cache_sai3::archive::Limits;
    /// assert_eq!(Limits::NONE.max_archive_bytes, u64::MAX);
    /// ```
    pub const NONE: Limits = Limits {
        max_archive_bytes: u64::MAX,
    };
}

/// Why an archive could not be written or read.
///
/// ```
/// use cache_sai3::archive::{self, ArchiveError, Limits};
/// let staging = tempfile::tempdir()?;
/// let err = archive::unpack(&b"not an archive"[..], staging.path(), Limits::NONE).unwrap_err();
/// assert!(matches!(err, ArchiveError::NotZstd(_) | ArchiveError::Damaged(_)), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// A file or directory could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was done (`cannot create`, `cannot archive`, ...).
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The bytes are not a zstd stream.
    #[error("not a zstd archive: {0}")]
    NotZstd(#[source] io::Error),
    /// The archive ends early or its tar structure is broken.
    #[error("the archive is damaged or truncated: {0}")]
    Damaged(#[source] io::Error),
    /// An entry's path leaves the archive (`..`, an absolute path).
    #[error("entry {} points outside the archive: refused", .0.display())]
    OutsideArchive(PathBuf),
    /// A link, device, FIFO or other entry that is not a plain file or directory.
    #[error("the archive holds a link or special file ({}): refused", .0.display())]
    SpecialEntry(PathBuf),
    /// A directory entry that carries data.
    #[error("directory entry {} carries data: refused", .0.display())]
    DirectoryWithData(PathBuf),
    /// The first entry is not the manifest, or there is none.
    #[error("not a sai3-cache export (no {MANIFEST} first)")]
    NotAnExport,
    /// A second manifest after the first.
    #[error("the archive holds a second {MANIFEST}: refused")]
    SecondManifest,
    /// The manifest is larger than [`MAX_MANIFEST_BYTES`].
    #[error("export manifest is larger than {MAX_MANIFEST_BYTES} bytes: refused")]
    ManifestTooLarge,
    /// The manifest does not parse.
    #[error("export manifest is damaged: {reason}")]
    ManifestDamaged {
        /// The parser's message.
        reason: String,
    },
    /// The manifest is of a newer format.
    #[error("export format {found}: this build reads format {FORMAT} and older")]
    NewerFormat {
        /// The format found.
        found: u32,
    },
    /// The manifest names a directory or location that leaves the archive or the cache dir.
    #[error("export manifest names an unsafe path ({dir} -> {})", location.display())]
    UnsafeManifestPath {
        /// The directory inside the archive.
        dir: String,
        /// The recorded location.
        location: PathBuf,
    },
    /// The header of an entry, with its extension headers, exceeds [`HEADER_BUDGET`].
    #[error("an entry header larger than {HEADER_BUDGET} bytes: refused")]
    HeaderTooLarge,
    /// The archive is larger than [`Limits::max_archive_bytes`].
    #[error("the archive is larger than {limit} bytes: refused")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// An entry could not be unpacked into the staging directory.
    #[error("cannot unpack {}: {source}", entry.display())]
    Unpack {
        /// The entry.
        entry: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// A path inside the archive that stays inside it and names something there: one or more
/// plain names, no `..`, `.`, root or prefix.
///
/// ```
/// use std::path::Path;
/// use cache_sai3::archive::safe_relative;
///
/// assert!(safe_relative(Path::new("caches/0/fjall")));
/// assert!(!safe_relative(Path::new("caches/../../etc")));
/// assert!(!safe_relative(Path::new("/etc")));
/// assert!(!safe_relative(Path::new("")));
/// ```
pub fn safe_relative(p: &Path) -> bool {
    let mut components = p.components().peekable();
    components.peek().is_some() && components.all(|c| matches!(c, Component::Normal(_)))
}

/// Writes `manifest` and the cache directories `sources` (one per manifest cache, in order) to
/// `output`, via a `.partial` file renamed when complete and synced. Links are stored as links
/// (and refused on reading), never followed. `archived` counts the bytes archived so far, before
/// compression (for a progress display).
///
/// # Errors
/// [`ArchiveError::Io`] naming the file or cache that could not be read or written.
///
/// ```
/// use cache_sai3::archive::{self, ExportManifest, ExportedCache, Limits};
/// # let tmp = tempfile::tempdir()?;
/// # let cache = tmp.path().join("cache");
/// # std::fs::create_dir(&cache)?;
/// # std::fs::write(cache.join("SAI3-CACHE-FORMAT"), "sai3-cache")?;
/// let manifest = ExportManifest::new("fjall", vec![ExportedCache::in_cache_dir(0, "endpoints/x")]);
/// let output = tmp.path().join("caches.tar.zst");
/// archive::write(&output, &manifest, &[cache.as_path()], &Default::default())?;
/// assert!(output.is_file() && !output.with_extension("partial").exists());
/// let missing = tmp.path().join("no-such-cache");
/// let err = archive::write(&output, &manifest, &[missing.as_path()], &Default::default()).unwrap_err();
/// assert!(err.to_string().contains("no-such-cache"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write(
    output: &Path,
    manifest: &ExportManifest,
    sources: &[&Path],
    archived: &AtomicU64,
) -> Result<(), ArchiveError> {
    let tmp = output.with_extension("partial");
    let io_error = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io { what, path, source }
    };
    let file = fs::File::create(&tmp).map_err(io_error("cannot create", &tmp))?;
    let mut encoder = zstd::Encoder::new(BufWriter::new(file), ZSTD_LEVEL)
        .map_err(io_error("cannot write", &tmp))?;
    // A checksum of the content: a reader detects any damage to the archive, also where it
    // would still decompress (the manifest names where each cache goes).
    encoder
        .include_checksum(true)
        .map_err(io_error("cannot write", &tmp))?;
    let mut tar = tar::Builder::new(Counting {
        inner: encoder,
        count: archived,
    });
    tar.follow_symlinks(false);
    append_manifest(&mut tar, manifest).map_err(io_error("cannot write", &tmp))?;
    for (entry, source) in manifest.caches.iter().zip(sources) {
        tar.append_dir_all(&entry.dir, source)
            .map_err(io_error("cannot archive", source))?;
    }
    finish(tar).map_err(io_error("cannot write", &tmp))?;
    fs::rename(&tmp, output).map_err(io_error("cannot write", output))
}

type ArchiveWriter<'a> = tar::Builder<Counting<'a, zstd::Encoder<'static, BufWriter<fs::File>>>>;

/// A writer that adds the bytes written through it to `count`.
struct Counting<'a, W> {
    inner: W,
    count: &'a AtomicU64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn append_manifest(tar: &mut ArchiveWriter<'_>, manifest: &ExportManifest) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, MANIFEST, json.as_slice())
}

fn finish(tar: ArchiveWriter<'_>) -> io::Result<()> {
    let writer = tar.into_inner()?.inner.finish()?;
    writer.into_inner().map_err(|e| e.into_error())?.sync_all()
}

/// Reads an archive (zstd-compressed tar) into `staging`, an empty directory: the manifest
/// first, then only plain files and directories that stay inside the archive, nothing outside
/// `staging`. Returns the checked manifest.
///
/// # Errors
/// [`ArchiveError::NotZstd`] and every error of [`unpack_tar`].
///
/// ```
/// use cache_sai3::archive::{self, ExportManifest, ExportedCache, Limits};
/// # let tmp = tempfile::tempdir()?;
/// # let cache = tmp.path().join("cache");
/// # std::fs::create_dir(&cache)?;
/// # std::fs::write(cache.join("SAI3-CACHE-FORMAT"), "sai3-cache")?;
/// let manifest = ExportManifest::new("fjall", vec![ExportedCache::in_cache_dir(0, "endpoints/x")]);
/// let output = tmp.path().join("caches.tar.zst");
/// archive::write(&output, &manifest, &[cache.as_path()], &Default::default())?;
/// let staging = tmp.path().join("staging");
/// std::fs::create_dir(&staging)?;
/// let read = archive::unpack(std::fs::File::open(&output)?, &staging, Limits::NONE)?;
/// assert_eq!(read, manifest);
/// assert!(staging.join("caches/0/SAI3-CACHE-FORMAT").is_file());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn unpack(
    archive: impl Read,
    staging: &Path,
    limits: Limits,
) -> Result<ExportManifest, ArchiveError> {
    let tar = zstd::Decoder::new(archive).map_err(ArchiveError::NotZstd)?;
    unpack_tar(tar, staging, limits)
}

/// [`unpack`] of an uncompressed tar stream.
///
/// # Errors
/// [`ArchiveError::Damaged`] for a broken or truncated stream, and the refusals: an entry
/// outside the archive or not a plain file or directory, no manifest first, a manifest that is
/// damaged, too large or unsafe, a header over [`HEADER_BUDGET`], more than
/// [`Limits::max_archive_bytes`].
///
/// ```
/// use cache_sai3::archive::{self, ExportManifest, ExportedCache, Limits};
/// # let tmp = tempfile::tempdir()?;
/// # let cache = tmp.path().join("cache");
/// # std::fs::create_dir(&cache)?;
/// # std::fs::write(cache.join("SAI3-CACHE-FORMAT"), "sai3-cache")?;
/// let manifest = ExportManifest::new("fjall", vec![ExportedCache::in_cache_dir(0, "endpoints/x")]);
/// let output = tmp.path().join("caches.tar.zst");
/// archive::write(&output, &manifest, &[cache.as_path()], &Default::default())?;
/// let staging = tmp.path().join("staging");
/// std::fs::create_dir(&staging)?;
/// let tar = zstd::decode_all(std::fs::File::open(&output)?)?;
/// let read = archive::unpack_tar(tar.as_slice(), &staging, Limits::NONE)?;
/// assert_eq!(read.caches[0].location, std::path::Path::new("endpoints/x"));
/// // Truncated inside the manifest's data: refused, nothing trusted.
/// let cut = tempfile::tempdir()?;
/// assert!(archive::unpack_tar(&tar[..600], cut.path(), Limits::NONE).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn unpack_tar(
    tar: impl Read,
    staging: &Path,
    limits: Limits,
) -> Result<ExportManifest, ArchiveError> {
    let meter = SharedMeter::new(limits.max_archive_bytes);
    let mut archive = tar::Archive::new(Metered {
        inner: tar,
        meter: meter.clone(),
    });
    let mut entries = archive
        .entries()
        .map_err(|e| meter.classify(e, ArchiveError::Damaged))?;
    let mut manifest = None;
    loop {
        meter.open_header_window();
        let next = entries
            .next()
            .map(|entry| entry.map_err(|e| meter.classify(e, ArchiveError::Damaged)));
        meter.close_header_window();
        let Some(entry) = next else { break };
        let entry = entry?;
        read_entry(entry, staging, &mut manifest).map_err(|e| meter.reclassify(e))?;
    }
    // The rest of the stream: a zstd frame's checksum is verified only when the frame is read
    // to its end, and tar stops reading at its end-of-archive blocks.
    io::copy(&mut archive.into_inner(), &mut io::sink())
        .map_err(|e| meter.classify(e, ArchiveError::Damaged))?;
    manifest.ok_or(ArchiveError::NotAnExport)
}

/// Checks one entry and unpacks it (or reads it as the manifest).
fn read_entry(
    mut entry: tar::Entry<'_, impl Read>,
    staging: &Path,
    manifest: &mut Option<ExportManifest>,
) -> Result<(), ArchiveError> {
    let path = entry.path().map_err(ArchiveError::Damaged)?.into_owned();
    if !safe_relative(&path) {
        return Err(ArchiveError::OutsideArchive(path));
    }
    let kind = entry.header().entry_type();
    if !(kind.is_file() || kind.is_dir() || kind.is_gnu_sparse()) {
        return Err(ArchiveError::SpecialEntry(path));
    }
    if path == Path::new(MANIFEST) {
        if manifest.is_some() {
            return Err(ArchiveError::SecondManifest);
        }
        *manifest = Some(read_manifest(&mut entry)?);
        return Ok(());
    }
    if manifest.is_none() {
        return Err(ArchiveError::NotAnExport);
    }
    // A name ending in `/` is a directory too (the tar reader would give it the archive's mode).
    if kind.is_dir() || entry.path_bytes().ends_with(b"/") {
        return make_dir(&entry, staging, path);
    }
    let unpack_error = |source| ArchiveError::Unpack {
        entry: path.clone(),
        source,
    };
    match entry.unpack_in(staging).map_err(unpack_error)? {
        true => Ok(()),
        false => Err(ArchiveError::OutsideArchive(path)),
    }
}

/// A directory entry: created with the default mode (an archive's mode never locks the staging
/// directory against its own cleanup).
fn make_dir(
    entry: &tar::Entry<'_, impl Read>,
    staging: &Path,
    path: PathBuf,
) -> Result<(), ArchiveError> {
    if entry.size() != 0 {
        return Err(ArchiveError::DirectoryWithData(path));
    }
    fs::create_dir_all(staging.join(&path)).map_err(|source| ArchiveError::Unpack {
        entry: path,
        source,
    })
}

fn read_manifest(entry: &mut impl Read) -> Result<ExportManifest, ArchiveError> {
    let mut bytes = Vec::new();
    entry
        .take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ArchiveError::Damaged)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(ArchiveError::ManifestTooLarge);
    }
    ExportManifest::parse(&bytes)
}

/// How much of the uncompressed archive was read, against the limits.
#[derive(Debug, Clone, Copy)]
struct Meter {
    read: u64,
    limit: u64,
    /// While a header is read: the position it must end before.
    header_end: Option<u64>,
}

impl Meter {
    /// Bytes that may still be read.
    fn allowed(&self) -> u64 {
        let end = self.header_end.map_or(self.limit, |h| h.min(self.limit));
        end.saturating_sub(self.read)
    }

    /// The limit that stopped reading, if one did.
    fn exhausted(&self) -> Option<ArchiveError> {
        if self.read >= self.limit {
            return Some(ArchiveError::TooLarge { limit: self.limit });
        }
        let header_spent = self.header_end.is_some_and(|end| self.read >= end);
        header_spent.then_some(ArchiveError::HeaderTooLarge)
    }
}

/// The meter of one unpacking, shared by the reader (which the tar reader owns) and the loop
/// that opens and closes header windows.
#[derive(Debug, Clone)]
struct SharedMeter(Rc<Cell<Meter>>);

impl SharedMeter {
    fn new(limit: u64) -> Self {
        SharedMeter(Rc::new(Cell::new(Meter {
            read: 0,
            limit,
            header_end: None,
        })))
    }

    fn update(&self, change: impl FnOnce(&mut Meter)) {
        let mut m = self.0.get();
        change(&mut m);
        self.0.set(m);
    }

    fn open_header_window(&self) {
        self.update(|m| m.header_end = Some(m.read.saturating_add(HEADER_BUDGET)));
    }

    fn close_header_window(&self) {
        self.update(|m| m.header_end = None);
    }

    /// The limit that stopped reading if `e` comes from one, else `otherwise(e)`.
    fn classify(
        &self,
        e: io::Error,
        otherwise: impl FnOnce(io::Error) -> ArchiveError,
    ) -> ArchiveError {
        match self.0.get().exhausted() {
            Some(limit) if caused_by_limit(&e) => limit,
            _ => otherwise(e),
        }
    }

    /// An entry's error caused by a limit becomes that limit's error.
    fn reclassify(&self, e: ArchiveError) -> ArchiveError {
        match e {
            ArchiveError::Damaged(io) => self.classify(io, ArchiveError::Damaged),
            ArchiveError::Unpack { entry, source } => {
                self.classify(source, |source| ArchiveError::Unpack { entry, source })
            }
            other => other,
        }
    }
}

/// Whether a [`LimitReached`] is in `e`'s chain (through the tar reader's wrapping errors).
fn caused_by_limit(e: &io::Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = e
        .get_ref()
        .map(|inner| inner as &(dyn std::error::Error + 'static));
    while let Some(err) = next {
        if err.is::<LimitReached>() {
            return true;
        }
        next = match err.downcast_ref::<io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

/// The error a [`Metered`] reader returns at a limit.
#[derive(Debug, thiserror::Error)]
#[error("archive read limit reached")]
struct LimitReached;

/// The uncompressed stream, counted and cut at the meter's limits.
struct Metered<R> {
    inner: R,
    meter: SharedMeter,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let allowed = usize::try_from(self.meter.0.get().allowed()).unwrap_or(usize::MAX);
        if allowed == 0 && !buf.is_empty() {
            return Err(io::Error::other(LimitReached));
        }
        let len = buf.len().min(allowed);
        let n = self.inner.read(&mut buf[..len])?;
        self.meter.update(|m| m.read += n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST_JSON: &[u8] = br#"{"format":1,"backend":"fjall","caches":[]}"#;

    fn header(kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h
    }

    /// A tar of `entries` (path, kind, data), without the end-of-archive blocks.
    fn tar_of(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for &(path, kind, data) in entries {
            let mut h = header(kind, data.len() as u64);
            tar.append_data(&mut h, path, data).expect("append");
        }
        let mut bytes = tar.into_inner().expect("tar");
        // `into_inner` ends the archive with two zero blocks.
        bytes.truncate(bytes.len() - 1024);
        bytes
    }

    fn with_manifest(rest: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut entries = vec![(MANIFEST, tar::EntryType::Regular, MANIFEST_JSON)];
        entries.extend_from_slice(rest);
        tar_of(&entries)
    }

    /// Unpacks `tar` into a fresh staging directory; returns the result and the directory.
    fn unpack_in_tmp(
        tar: impl Read,
        limits: Limits,
    ) -> (Result<ExportManifest, ArchiveError>, tempfile::TempDir) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let staging = tmp.path().join("staging");
        fs::create_dir(&staging).expect("staging");
        (unpack_tar(tar, &staging, limits), tmp)
    }

    /// Counts the bytes read through it.
    struct Counted<R> {
        inner: R,
        read: Rc<Cell<u64>>,
    }

    impl<R: Read> Read for Counted<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read.set(self.read.get() + n as u64);
            Ok(n)
        }
    }

    #[test]
    fn plain_files_and_directories_are_unpacked() {
        let tar = with_manifest(&[
            ("caches/0", tar::EntryType::Directory, b""),
            ("caches/0/a", tar::EntryType::Regular, b"abc"),
        ]);
        let (read, tmp) = unpack_in_tmp(tar.as_slice(), Limits::NONE);
        assert_eq!(
            read.expect("unpacked"),
            ExportManifest::new("fjall", vec![])
        );
        let a = tmp.path().join("staging/caches/0/a");
        assert_eq!(fs::read(a).expect("unpacked file"), b"abc");
    }

    #[test]
    fn a_long_name_beyond_the_header_budget_is_refused_without_reading_it() {
        let mut stream = with_manifest(&[]);
        let mut long = header(tar::EntryType::GNULongName, 1 << 30);
        long.set_path("././@LongLink").expect("path");
        long.set_cksum();
        stream.extend_from_slice(long.as_bytes());
        let read = Rc::new(Cell::new(0));
        let input = Counted {
            inner: stream.as_slice().chain(io::repeat(b'a')),
            read: Rc::clone(&read),
        };
        let (result, _tmp) = unpack_in_tmp(input, Limits::NONE);
        assert!(
            matches!(result, Err(ArchiveError::HeaderTooLarge)),
            "{result:?}"
        );
        assert!(read.get() < 2 * HEADER_BUDGET, "read {} bytes", read.get());
    }

    #[test]
    fn an_archive_beyond_the_limit_is_refused() {
        let tar = with_manifest(&[("caches/0/a", tar::EntryType::Regular, &[7; 4096])]);
        let limits = Limits {
            max_archive_bytes: 2048,
        };
        let (result, _tmp) = unpack_in_tmp(tar.as_slice(), limits);
        assert!(
            matches!(result, Err(ArchiveError::TooLarge { limit: 2048 })),
            "{result:?}"
        );
    }

    /// Regression: an old-style entry named `d/` of type file became a directory with the
    /// archive's mode (000: nothing could be unpacked into it or removed from it but by root).
    #[test]
    fn a_name_ending_in_a_slash_is_a_directory_of_the_default_mode() {
        use std::os::unix::fs::PermissionsExt;
        let mut tar = with_manifest(&[]);
        let mut h = tar::Header::new_old();
        let name = b"caches/0/d/";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_mode(0);
        h.set_size(0);
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        let (result, tmp) = unpack_in_tmp(tar.as_slice(), Limits::NONE);
        result.expect("unpacked");
        let d = fs::metadata(tmp.path().join("staging/caches/0/d")).expect("a directory");
        assert!(d.is_dir());
        assert_eq!(d.permissions().mode() & 0o700, 0o700);
    }

    /// Regression: an empty path passed as safe, so a manifest could name the cache dir itself
    /// as a cache's location (`import --force` then moved the whole cache dir aside).
    #[test]
    fn an_empty_path_is_not_safe() {
        let manifest =
            br#"{"format":1,"backend":"fjall","caches":[{"dir":"caches/0","location":""}]}"#;
        assert!(matches!(
            ExportManifest::parse(manifest),
            Err(ArchiveError::UnsafeManifestPath { .. })
        ));
        let mut tar = with_manifest(&[]);
        let mut nameless = header(tar::EntryType::Regular, 1);
        nameless.set_cksum();
        tar.extend_from_slice(nameless.as_bytes());
        tar.extend_from_slice(&[b'x'; 512]);
        let (result, _tmp) = unpack_in_tmp(tar.as_slice(), Limits::NONE);
        assert!(
            matches!(result, Err(ArchiveError::OutsideArchive(_))),
            "{result:?}"
        );
    }

    #[test]
    fn refusals() {
        type Expected = fn(&ArchiveError) -> bool;
        let cases: [(Vec<u8>, Expected); 5] = [
            (
                tar_of(&[("caches/0/a", tar::EntryType::Regular, b"x")]),
                |e| matches!(e, ArchiveError::NotAnExport),
            ),
            (
                with_manifest(&[(MANIFEST, tar::EntryType::Regular, MANIFEST_JSON)]),
                |e| matches!(e, ArchiveError::SecondManifest),
            ),
            (
                with_manifest(&[("caches/0/l", tar::EntryType::Symlink, b"")]),
                |e| matches!(e, ArchiveError::SpecialEntry(_)),
            ),
            (
                with_manifest(&[("caches/0", tar::EntryType::Directory, b"data")]),
                |e| matches!(e, ArchiveError::DirectoryWithData(_)),
            ),
            (
                tar_of(&[(
                    MANIFEST,
                    tar::EntryType::Regular,
                    br#"{"format":1,"backend":"fjall","caches":[{"dir":"../x","location":"c"}]}"#,
                )]),
                |e| matches!(e, ArchiveError::UnsafeManifestPath { .. }),
            ),
        ];
        for (i, (tar, expected)) in cases.into_iter().enumerate() {
            let (result, _tmp) = unpack_in_tmp(tar.as_slice(), Limits::NONE);
            match result {
                Err(e) => assert!(expected(&e), "case {i}: {e}"),
                Ok(m) => panic!("case {i}: accepted {m:?}"),
            }
        }
    }
}
