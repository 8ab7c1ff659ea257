//! Pull: download the newest generation and switch the local directory to it atomically.
//!
//! ```
//! use cache_sync::{PushOptions, RemoteCache, pull, push};
//! use object_store::memory::InMemory;
//! use std::sync::Arc;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! # let tmp = tempfile::tempdir()?;
//! let src = tmp.path().join("src");
//! cache_core::marker::claim_directory(&src, "fjall", true)?; // a closed fjall cache
//! std::fs::write(src.join("data"), b"hello")?;
//! let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
//! push(&src, &remote, &PushOptions::default(), 1).await?;
//! let dst = tmp.path().join("dst");
//! let first = pull(&remote, &dst, "fjall").await?;
//! assert_eq!((first.generation, first.files_downloaded), (Some(1), 2)); // the marker, `data`
//! let again = pull(&remote, &dst, "fjall").await?;
//! assert!(again.up_to_date, "nothing new: nothing fetched");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Write;
use std::path::Path;

use futures::StreamExt;
use object_store::ObjectStoreExt;
use sha2::{Digest, Sha256};

use crate::error::{Result, SyncError, io, store};
use crate::local::{Staging, hash_file, local_generation};
use crate::manifest::{FileEntry, Manifest};
use crate::remote::RemoteCache;
use crate::transfer::Transfer;

/// What a pull did.
///
/// ```
/// use cache_sync::{RemoteCache, pull};
/// use object_store::memory::InMemory;
/// use std::sync::Arc;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
/// let report = pull(&remote, &tmp.path().join("cache"), "fjall").await?;
/// assert_eq!(report.generation, None, "the remote holds no generation yet");
/// assert_eq!(report.files_downloaded, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PullReport {
    /// Generation now held locally (`None`: the remote has none).
    pub generation: Option<u64>,
    /// True when the local copy was already that generation.
    pub up_to_date: bool,
    /// Files in the generation.
    pub files: usize,
    /// Files downloaded.
    pub files_downloaded: usize,
    /// Files taken from the local copy (same content).
    pub files_reused: usize,
    /// Compressed bytes downloaded.
    pub bytes_received: u64,
}

/// Writes decompressed bytes to a file while hashing them, refusing to grow past `limit`.
struct VerifyingWriter {
    file: std::io::BufWriter<std::fs::File>,
    hasher: Sha256,
    written: u64,
    limit: u64,
}

impl Write for VerifyingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written += buf.len() as u64;
        if self.written > self.limit {
            return Err(std::io::Error::other(
                "content is longer than the manifest says",
            ));
        }
        self.hasher.update(buf);
        self.file.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

async fn download(remote: &RemoteCache, entry: &FileEntry, dest: &Path) -> Result<u64> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let location = remote.blob(&entry.sha256);
    let file = std::fs::File::create(dest).map_err(io(dest))?;
    let sink = VerifyingWriter {
        file: std::io::BufWriter::new(file),
        hasher: Sha256::new(),
        written: 0,
        limit: entry.size,
    };
    let mismatch = |reason: String| SyncError::Mismatch {
        path: entry.path.clone(),
        reason,
    };
    let mut decoder = zstd::stream::write::Decoder::new(sink).map_err(io(dest))?;
    let mut stream = remote
        .store()
        .get(&location)
        .await
        .map_err(store(&location))?
        .into_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(store(&location))?;
        received += chunk.len() as u64;
        decoder
            .write_all(&chunk)
            .map_err(|e| mismatch(format!("does not decompress: {e}")))?;
    }
    decoder
        .flush()
        .map_err(|e| mismatch(format!("does not decompress: {e}")))?;
    let sink = decoder.into_inner();
    let VerifyingWriter {
        file,
        hasher,
        written,
        ..
    } = sink;
    // Durable before the generation is recorded and switched in.
    let file = file.into_inner().map_err(|e| io(dest)(e.into_error()))?;
    file.sync_all().map_err(io(dest))?;
    if written != entry.size {
        return Err(mismatch(format!(
            "{written} bytes, expected {}",
            entry.size
        )));
    }
    let actual = format!("{:x}", hasher.finalize());
    if actual != entry.sha256 {
        return Err(mismatch(format!(
            "sha256 {actual}, expected {}",
            entry.sha256
        )));
    }
    Ok(received)
}

/// Copies the file of `entry` from the current local copy `local` into `dest` when its content
/// is the one wanted (local copies may have been modified since the last pull, so they are
/// hashed, not trusted). True when it was reused.
fn reuse_local(local: &Path, entry: &FileEntry, dest: &Path) -> Result<bool> {
    let current = local.join(&entry.path);
    // `symlink_metadata`: a link in the local copy is never followed out of the tree.
    let same_size =
        std::fs::symlink_metadata(&current).is_ok_and(|m| m.is_file() && m.len() == entry.size);
    if !same_size || hash_file(&current)?.0 != entry.sha256 {
        return Ok(false);
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::copy(&current, dest).map_err(io(dest))?;
    std::fs::File::open(dest)
        .and_then(|f| f.sync_all())
        .map_err(io(dest))?;
    Ok(true)
}

/// Fills `staging` with every directory and file of `manifest`, verified, and records the
/// generation in it last.
async fn assemble(
    remote: &RemoteCache,
    local: &Path,
    manifest: &Manifest,
    staging: &Path,
    report: &mut PullReport,
    transfer: &Transfer,
) -> Result<()> {
    for d in &manifest.dirs {
        let path = staging.join(d);
        std::fs::create_dir_all(&path).map_err(io(&path))?;
    }
    for entry in &manifest.files {
        let dest = staging.join(&entry.path);
        if reuse_local(local, entry, &dest)? {
            report.files_reused += 1;
        } else {
            report.bytes_received += download(remote, entry, &dest).await?;
            report.files_downloaded += 1;
        }
        transfer.file_done(entry.size);
    }
    crate::local::record_generation(staging, manifest)
}

/// Brings `local` to the newest generation under `remote`, if the remote is newer.
///
/// Every file is verified (size and SHA-256) before the switch; files whose content is already
/// in the local copy are reused. The new generation is assembled in a staging directory beside
/// `local` ([`Staging`]) and swapped in atomically, so a crash or a refused file leaves the old
/// copy usable, and a half-assembled generation is never switched in.
///
/// # Errors
/// Store and I/O failures, a manifest that is unsafe or of another backend
/// ([`SyncError::BadManifest`]), or a file that does not verify ([`SyncError::Mismatch`]).
///
/// ```
/// use cache_sync::{PushOptions, RemoteCache, SyncError, pull, push};
/// use object_store::memory::InMemory;
/// use std::sync::Arc;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let src = tmp.path().join("src");
/// # cache_core::marker::claim_directory(&src, "fjall", true)?; // a closed fjall cache
/// # std::fs::write(src.join("data"), b"hello")?;
/// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
/// push(&src, &remote, &PushOptions::default(), 1).await?;
/// let dst = tmp.path().join("dst");
/// let report = pull(&remote, &dst, "fjall").await?;
/// assert_eq!(report.generation, Some(1));
/// assert_eq!(std::fs::read(dst.join("data"))?, b"hello");
/// // A cache of another backend is refused, and nothing is written.
/// let other = tmp.path().join("other");
/// let refused = pull(&remote, &other, "redb").await;
/// assert!(matches!(refused, Err(SyncError::BadManifest { .. })));
/// assert!(!other.exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn pull(
    remote: &RemoteCache,
    local: &Path,
    expected_backend: &str,
) -> Result<PullReport> {
    pull_counted(remote, local, expected_backend, &Transfer::default()).await
}

/// [`pull`], counting the files and bytes of the generation it has assembled in `transfer`
/// as it goes.
///
/// # Errors
/// As [`pull`].
///
/// ```
/// use cache_sync::{PushOptions, RemoteCache, Transfer, pull_counted, push};
/// use object_store::memory::InMemory;
/// use std::sync::Arc;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let src = tmp.path().join("src");
/// # cache_core::marker::claim_directory(&src, "fjall", true)?; // a closed fjall cache
/// # std::fs::write(src.join("data"), b"hello")?;
/// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
/// push(&src, &remote, &PushOptions::default(), 1).await?;
/// let transfer = Transfer::default(); // read by a progress display while the pull runs
/// pull_counted(&remote, &tmp.path().join("dst"), "fjall", &transfer).await?;
/// let [files_done, files_total, bytes_done, bytes_total] = transfer.snapshot();
/// assert_eq!((files_done, files_total), (2, 2)); // the marker, `data`
/// assert_eq!(bytes_done, bytes_total);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn pull_counted(
    remote: &RemoteCache,
    local: &Path,
    expected_backend: &str,
    transfer: &Transfer,
) -> Result<PullReport> {
    // One LIST of the generation numbers answers the common case (already up to date)
    // without fetching the manifest.
    let Some(&latest) = remote.generations().await?.last() else {
        return Ok(PullReport::default());
    };
    if let Some(held) = local_generation(local).filter(|l| l.generation >= latest) {
        return Ok(PullReport {
            generation: Some(held.generation),
            up_to_date: true,
            files: held.files.len(),
            ..PullReport::default()
        });
    }
    let manifest = remote.manifest(latest).await?;
    if manifest.backend != expected_backend {
        return Err(SyncError::BadManifest {
            location: remote.manifest_path(manifest.generation).to_string(),
            reason: format!(
                "it holds a {} cache, this run uses {expected_backend}; pass --backend {}",
                manifest.backend, manifest.backend
            ),
        });
    }
    let mut report = PullReport {
        generation: Some(manifest.generation),
        files: manifest.files.len(),
        ..PullReport::default()
    };
    // Removed when dropped on any error below; switched in only once complete.
    let staging = Staging::beside(local)?;
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    transfer.add_total(manifest.files.len() as u64, bytes);
    assemble(
        remote,
        local,
        &manifest,
        &staging.path(),
        &mut report,
        transfer,
    )
    .await?;
    // The copy being replaced must not be open anywhere.
    let _closed = local
        .exists()
        .then(|| crate::local::lock(local))
        .transpose()?;
    staging.switch(local)?;
    Ok(report)
}
