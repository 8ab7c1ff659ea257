//! Push: upload a closed cache directory as a new generation.
//!
//! ```
//! use cache_sync::{PushOptions, RemoteCache, push};
//! use object_store::memory::InMemory;
//! use std::sync::Arc;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! # let tmp = tempfile::tempdir()?;
//! let src = tmp.path().join("src");
//! cache_core::marker::claim_directory(&src, "fjall", true)?; // a closed fjall cache
//! std::fs::write(src.join("data"), b"hello")?;
//! let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
//! let first = push(&src, &remote, &PushOptions::default(), 1).await?;
//! assert_eq!((first.generation, first.files_uploaded), (1, 2)); // the marker, `data`
//! let second = push(&src, &remote, &PushOptions::default(), 2).await?;
//! assert_eq!((second.generation, second.files_uploaded), (2, 0), "the content is there already");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutMode, PutOptions, WriteMultipart};

use crate::error::{Result, SyncError, io, store};
use crate::local::scan;
use crate::manifest::{MANIFEST_FORMAT, Manifest};
use crate::remote::RemoteCache;
use crate::transfer::Transfer;

/// Files up to this size are compressed in memory and sent with one PUT; larger ones stream
/// through a multipart upload (memory stays flat whatever the size).
pub(crate) const SINGLE_PUT_LIMIT: u64 = 16 * 1024 * 1024;

/// Multipart part size.
pub(crate) const PART_SIZE: usize = 8 * 1024 * 1024;

/// Parts in flight per file.
pub(crate) const PARTS_IN_FLIGHT: usize = 4;

/// How a push behaves.
///
/// ```
/// use cache_sync::PushOptions;
/// let options = PushOptions {
///     config_hash: "c0ffee".into(),
///     keep_generations: 5,
///     ..PushOptions::default()
/// };
/// assert_eq!(options.max_attempts, PushOptions::default().max_attempts);
/// assert_eq!(PushOptions::default().keep_generations, 3);
/// ```
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Config hash recorded in the manifest.
    pub config_hash: String,
    /// Generations kept (older manifests are deleted); at least 1.
    pub keep_generations: usize,
    /// Unreferenced blobs younger than this are kept (another agent may be about to publish a
    /// manifest that uses them).
    pub gc_grace: Duration,
    /// Attempts at publishing a generation when other agents publish at the same time.
    pub max_attempts: u32,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            config_hash: String::new(),
            keep_generations: 3,
            gc_grace: Duration::from_secs(3600),
            max_attempts: 8,
        }
    }
}

/// What a push did.
///
/// ```
/// use cache_sync::{PushOptions, RemoteCache, push};
/// use object_store::memory::InMemory;
/// use std::sync::Arc;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let src = tmp.path().join("src");
/// # cache_core::marker::claim_directory(&src, "fjall", true)?; // a closed fjall cache
/// # std::fs::write(src.join("data"), b"hello")?;
/// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
/// let report = push(&src, &remote, &PushOptions::default(), 1).await?;
/// assert_eq!((report.generation, report.files, report.files_uploaded), (1, 2, 2));
/// assert_eq!(report.attempts, 1, "no other push raced this one");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PushReport {
    /// Generation published.
    pub generation: u64,
    /// Files in the cache.
    pub files: usize,
    /// Files whose content was not in the store yet.
    pub files_uploaded: usize,
    /// Bytes of the cache.
    pub bytes_total: u64,
    /// Compressed bytes sent.
    pub bytes_sent: u64,
    /// Attempts needed to publish (more than 1: another push won a race).
    pub attempts: u32,
    /// Old manifests deleted.
    pub generations_deleted: usize,
    /// Unreferenced blobs deleted.
    pub blobs_deleted: usize,
}

async fn upload_blob(remote: &RemoteCache, file: &Path, sha256: &str, size: u64) -> Result<u64> {
    let location = remote.blob(sha256);
    let mut f = std::fs::File::open(file).map_err(io(file))?;
    if size <= SINGLE_PUT_LIMIT {
        let mut raw = Vec::with_capacity(size as usize);
        f.read_to_end(&mut raw).map_err(io(file))?;
        let packed = zstd::bulk::compress(&raw, 3).map_err(io(file))?;
        let sent = packed.len() as u64;
        remote
            .store()
            .put(&location, packed.into())
            .await
            .map_err(store(&location))?;
        return Ok(sent);
    }
    let upload = remote
        .store()
        .put_multipart(&location)
        .await
        .map_err(store(&location))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).map_err(io(file))?;
    let mut buf = vec![0u8; 4 << 20];
    let mut sent = 0u64;
    let result: Result<()> = async {
        loop {
            let n = f.read(&mut buf).map_err(io(file))?;
            if n == 0 {
                break;
            }
            encoder.write_all(&buf[..n]).map_err(io(file))?;
            let out = std::mem::take(encoder.get_mut());
            if !out.is_empty() {
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(store(&location))?;
                sent += out.len() as u64;
                writer.write(&out);
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        let _ = writer.abort().await;
        return Err(e);
    }
    let tail = encoder.finish().map_err(io(file))?;
    sent += tail.len() as u64;
    writer.write(&tail);
    writer.finish().await.map_err(store(&location))?;
    Ok(sent)
}

/// Names (SHA-256) of the blobs already in the store.
async fn existing_blobs(remote: &RemoteCache) -> Result<HashSet<String>> {
    let files_prefix = remote.files_prefix();
    remote
        .store()
        .list(Some(&files_prefix))
        .map_ok(|m| {
            m.location
                .filename()
                .unwrap_or_default()
                .trim_end_matches(".zst")
                .to_owned()
        })
        .try_collect()
        .await
        .map_err(store(&files_prefix))
}

/// Publishes `manifest` as the next generation; returns the attempts it took.
///
/// The loop is not a retry of failed requests: transient errors (5xx, throttling, dropped
/// connections, timeouts) are retried inside `object_store` by the `RetryConfig` its store was
/// built with, and end the push when that gives up. What loops here is the publication race:
/// a conditional put (create-if-absent) that finds the generation taken by another agent is
/// repeated on top of the newest generation, so no push overwrites another.
async fn publish(remote: &RemoteCache, manifest: &mut Manifest, max_attempts: u32) -> Result<u32> {
    for attempt in 1..=max_attempts.max(1) {
        manifest.generation = remote.generations().await?.last().map_or(1, |g| g + 1);
        *manifest = manifest.clone().sealed();
        let path = remote.manifest_path(manifest.generation);
        let body = serde_json::to_vec_pretty(&*manifest).map_err(|e| SyncError::BadManifest {
            location: path.to_string(),
            reason: e.to_string(),
        })?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match remote.store().put_opts(&path, body.into(), opts).await {
            Ok(_) => return Ok(attempt),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => continue,
            Err(e) => return Err(store(&path)(e)),
        }
    }
    Err(SyncError::Conflict {
        attempts: max_attempts,
    })
}

/// Uploads the closed cache directory `local` as the next generation under `remote`.
///
/// Each distinct file content is uploaded once (blobs already in the store are not sent again),
/// then a manifest is published with a conditional put (create-if-absent): if another agent
/// published the same generation first, the push retries on top of it, so no push overwrites
/// another. Finally old generations beyond `keep_generations`, and blobs no kept generation
/// references (older than `gc_grace`), are deleted.
///
/// The directory lock is held while the cache is read: a cache that a process has open is
/// refused ([`SyncError::InUse`]), never pushed half-written.
///
/// # Errors
/// A directory without a cache marker ([`SyncError::NotACache`]), a cache in use
/// ([`SyncError::InUse`]), I/O and store failures, or [`SyncError::Conflict`].
///
/// ```
/// use cache_sync::{PushOptions, RemoteCache, SyncError, push};
/// use object_store::memory::InMemory;
/// use std::sync::Arc;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let src = tmp.path().join("src");
/// # cache_core::marker::claim_directory(&src, "fjall", true)?; // a closed fjall cache
/// # std::fs::write(src.join("data"), b"hello")?;
/// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
/// let options = PushOptions { keep_generations: 2, ..PushOptions::default() };
/// for now_ms in 1..=3 {
///     push(&src, &remote, &options, now_ms).await?;
/// }
/// assert_eq!(remote.generations().await?, [2, 3], "older generations are deleted");
/// let plain = tempfile::tempdir()?; // no cache marker
/// let refused = push(plain.path(), &remote, &options, 4).await;
/// assert!(matches!(refused, Err(SyncError::NotACache { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn push(
    local: &Path,
    remote: &RemoteCache,
    options: &PushOptions,
    now_ms: u64,
) -> Result<PushReport> {
    push_counted(local, remote, options, now_ms, &Transfer::default()).await
}

/// [`push`], counting the files and bytes it has looked at in `transfer` as it goes.
///
/// # Errors
/// As [`push`].
///
/// ```
/// use cache_sync::{PushOptions, RemoteCache, Transfer, push_counted};
/// use object_store::memory::InMemory;
/// use std::sync::Arc;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let src = tmp.path().join("src");
/// # cache_core::marker::claim_directory(&src, "fjall", true)?; // a closed fjall cache
/// # std::fs::write(src.join("data"), b"hello")?;
/// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
/// let transfer = Transfer::default(); // read by a progress display while the push runs
/// push_counted(&src, &remote, &PushOptions::default(), 1, &transfer).await?;
/// let [files_done, files_total, bytes_done, bytes_total] = transfer.snapshot();
/// assert_eq!((files_done, files_total), (2, 2)); // the marker, `data`
/// assert_eq!(bytes_done, bytes_total);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn push_counted(
    local: &Path,
    remote: &RemoteCache,
    options: &PushOptions,
    now_ms: u64,
    transfer: &Transfer,
) -> Result<PushReport> {
    let marker = cache_core::marker::read_marker(local, "any")
        .map_err(|e| SyncError::NotACache {
            path: local.to_owned(),
            reason: e.to_string(),
        })?
        .ok_or_else(|| SyncError::NotACache {
            path: local.to_owned(),
            reason: "it has no SAI3-CACHE-FORMAT marker".into(),
        })?;
    let _closed = crate::local::lock(local)?;
    let (files, dirs) = scan(local)?;
    let existing = existing_blobs(remote).await?;
    let mut report = PushReport {
        files: files.len(),
        bytes_total: files.iter().map(|f| f.size).sum(),
        ..PushReport::default()
    };
    transfer.add_total(files.len() as u64, report.bytes_total);
    let mut uploaded: HashSet<&str> = HashSet::new();
    for f in &files {
        if !existing.contains(&f.sha256) && uploaded.insert(&f.sha256) {
            let file = local.join(&f.path);
            report.bytes_sent += upload_blob(remote, &file, &f.sha256, f.size).await?;
            report.files_uploaded += 1;
        }
        transfer.file_done(f.size);
    }

    let mut manifest = Manifest {
        format: MANIFEST_FORMAT,
        generation: 0,
        backend: marker.backend,
        cache_format: marker.format,
        config_hash: options.config_hash.clone(),
        pushed_ms: now_ms,
        files,
        dirs,
        digest: None,
    };
    report.attempts = publish(remote, &mut manifest, options.max_attempts).await?;
    report.generation = manifest.generation;
    // The local directory now is that generation: a later pull of it has nothing to do.
    crate::local::record_generation(local, &manifest)?;
    collect_garbage(remote, options, now_ms, &mut report).await?;
    Ok(report)
}

async fn collect_garbage(
    remote: &RemoteCache,
    options: &PushOptions,
    now_ms: u64,
    report: &mut PushReport,
) -> Result<()> {
    let gens = remote.generations().await?;
    let keep = options.keep_generations.max(1);
    let cut = gens.len().saturating_sub(keep);
    let mut referenced = HashSet::new();
    for &g in &gens[cut..] {
        for f in remote.manifest(g).await?.files {
            referenced.insert(f.sha256);
        }
    }
    for &g in &gens[..cut] {
        let path = remote.manifest_path(g);
        remote.store().delete(&path).await.map_err(store(&path))?;
        report.generations_deleted += 1;
    }
    let grace_ms = u64::try_from(options.gc_grace.as_millis()).unwrap_or(u64::MAX);
    let files_prefix = remote.files_prefix();
    let blobs: Vec<_> = remote
        .store()
        .list(Some(&files_prefix))
        .try_collect()
        .await
        .map_err(store(&files_prefix))?;
    for b in blobs {
        let sha = b
            .location
            .filename()
            .unwrap_or_default()
            .trim_end_matches(".zst")
            .to_owned();
        let age_ms =
            now_ms.saturating_sub(u64::try_from(b.last_modified.timestamp_millis()).unwrap_or(0));
        if !referenced.contains(&sha) && age_ms >= grace_ms {
            remote
                .store()
                .delete(&b.location)
                .await
                .map_err(store(&b.location))?;
            report.blobs_deleted += 1;
        }
    }
    Ok(())
}
