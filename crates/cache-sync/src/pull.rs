//! Pull: download the newest generation and switch the local directory to it atomically.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use futures::StreamExt;
use object_store::ObjectStoreExt;
use sha2::{Digest, Sha256};

use crate::error::{Result, SyncError, io, store};
use crate::local::{aside, hash_file, hex, local_generation, switch};
use crate::manifest::FileEntry;
use crate::remote::RemoteCache;

/// What a pull did.
#[derive(Debug, Clone, Default, serde::Serialize)]
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
        mut file,
        hasher,
        written,
        ..
    } = sink;
    file.flush().map_err(io(dest))?;
    if written != entry.size {
        return Err(mismatch(format!(
            "{written} bytes, expected {}",
            entry.size
        )));
    }
    let actual = hex(&hasher.finalize());
    if actual != entry.sha256 {
        return Err(mismatch(format!(
            "sha256 {actual}, expected {}",
            entry.sha256
        )));
    }
    Ok(received)
}

/// Brings `local` to the newest generation under `remote`, if the remote is newer.
///
/// Every file is verified (size and SHA-256) before the switch; files whose content is already
/// in the local copy are reused. The new generation is assembled in a sibling directory and
/// swapped in atomically, so a crash or a refused file leaves the old copy usable.
///
/// # Errors
/// Store and I/O failures, a manifest that is unsafe or of another backend
/// ([`SyncError::BadManifest`]), or a file that does not verify ([`SyncError::Mismatch`]).
pub async fn pull(
    remote: &RemoteCache,
    local: &Path,
    expected_backend: &str,
) -> Result<PullReport> {
    let Some(manifest) = remote.latest().await? else {
        return Ok(PullReport::default());
    };
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
    if local.exists()
        && local_generation(local).is_some_and(|l| l.generation >= manifest.generation)
    {
        report.up_to_date = true;
        return Ok(report);
    }
    let staging = aside(local, "pull");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    let result: Result<()> = async {
        for d in &manifest.dirs {
            let path = staging.join(d);
            std::fs::create_dir_all(&path).map_err(io(&path))?;
        }
        let mut local_files: HashMap<String, String> = HashMap::new();
        for entry in &manifest.files {
            let dest = staging.join(&entry.path);
            let current = local.join(&entry.path);
            // Reuse local content that hashes the same (local copies may have been modified
            // since the last pull, so they are hashed, not trusted).
            if current.is_file()
                && std::fs::metadata(&current).map(|m| m.len()).ok() == Some(entry.size)
            {
                let sha = match local_files.get(&entry.path) {
                    Some(s) => s.clone(),
                    None => hash_file(&current)?.0,
                };
                local_files.insert(entry.path.clone(), sha.clone());
                if sha == entry.sha256 {
                    if let Some(parent) = dest.parent() {
                        std::fs::create_dir_all(parent).map_err(io(parent))?;
                    }
                    std::fs::copy(&current, &dest).map_err(io(&dest))?;
                    report.files_reused += 1;
                    continue;
                }
            }
            report.bytes_received += download(remote, entry, &dest).await?;
            report.files_downloaded += 1;
        }
        crate::local::record_generation(&staging, &manifest)
    }
    .await;
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    switch(local, &staging)?;
    Ok(report)
}
