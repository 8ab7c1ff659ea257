//! The manifest of one generation: which files make up the cache, with sizes and SHA-256.
//!
//! ```
//! use cache_sync::Manifest;
//! let json = br#"{"format": 1, "generation": 7, "backend": "fjall", "cache_format": 1,
//!     "config_hash": "", "pushed_ms": 0, "dirs": ["fjall"], "files": [{"path": "fjall/version",
//!     "size": 2, "sha256": "1111111111111111111111111111111111111111111111111111111111111111"}]}"#;
//! let manifest = Manifest::parse("generations/7.json", json)?;
//! assert_eq!(manifest.files[0].path, "fjall/version");
//! // Published sealed: a damaged copy is refused.
//! let sealed = serde_json::to_string(&manifest.sealed())?;
//! let damaged = sealed.replace("fjall/version", "fjall/versiom");
//! assert!(Manifest::parse("generations/7.json", damaged.as_bytes()).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Result, SyncError};

/// Version of the manifest format.
///
/// ```
/// use cache_sync::Manifest;
/// use cache_sync::manifest::MANIFEST_FORMAT;
/// let json = |format: u32| format!(r#"{{"format": {format}, "generation": 1, "backend": "redb",
///     "cache_format": 1, "config_hash": "", "pushed_ms": 0, "files": []}}"#);
/// let manifest = Manifest::parse("m", json(MANIFEST_FORMAT).as_bytes())?;
/// assert_eq!(manifest.format, MANIFEST_FORMAT);
/// assert!(Manifest::parse("m", json(MANIFEST_FORMAT + 1).as_bytes()).is_err(), "unknown format");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MANIFEST_FORMAT: u32 = 1;

/// Largest single file a manifest may name (1 TiB): a bigger size is corruption or an attack.
pub(crate) const MAX_FILE_SIZE: u64 = 1 << 40;

/// Most files a manifest may name.
pub(crate) const MAX_FILES: usize = 1_000_000;

/// Largest manifest read, in bytes: checked before the body is read.
///
/// ```
/// use cache_sync::manifest::MAX_MANIFEST_BYTES;
/// use cache_sync::{RemoteCache, SyncError};
/// use object_store::ObjectStoreExt;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let remote = RemoteCache::new(std::sync::Arc::new(object_store::memory::InMemory::new()), "c");
/// let too_big = vec![0u8; usize::try_from(MAX_MANIFEST_BYTES)? + 1];
/// remote.store().put(&remote.manifest_path(1), too_big.into()).await?;
/// let refused = remote.manifest(1).await;
/// assert!(matches!(refused, Err(SyncError::BadManifest { .. })), "{refused:?}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// One generation of a cache.
///
/// ```
/// use cache_sync::Manifest;
/// let manifest = Manifest::parse("m", br#"{"format": 1, "generation": 3, "backend": "redb",
///     "cache_format": 1, "config_hash": "", "pushed_ms": 0, "files": []}"#)?;
/// assert_eq!((manifest.generation, manifest.backend.as_str()), (3, "redb"));
/// assert!(manifest.dirs.is_empty() && manifest.digest.is_none(), "optional fields");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// Generation number (1, 2, ...).
    pub generation: u64,
    /// Backend of the cache (`fjall`, `redb`).
    pub backend: String,
    /// Cache format version (`cache_core::marker::FORMAT_VERSION`).
    pub cache_format: u32,
    /// Config hash of the dataset the cache belongs to (may be empty).
    pub config_hash: String,
    /// When it was pushed (ms since the epoch).
    pub pushed_ms: u64,
    /// The files, sorted by path.
    pub files: Vec<FileEntry>,
    /// Every directory (engines need their empty directories too), sorted.
    #[serde(default)]
    pub dirs: Vec<String>,
    /// SHA-256 (lowercase hex) of the manifest's compact JSON without this field
    /// ([`Manifest::content_digest`]): a manifest object damaged in the store is refused instead
    /// of installing what a damaged entry names. Absent in manifests of earlier builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// One file of a generation.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("version"), b"abc")?;
/// let (files, _dirs) = cache_sync::local::scan(dir.path())?;
/// let entry = &files[0];
/// assert_eq!((entry.path.as_str(), entry.size), ("version", 3));
/// assert_eq!(entry.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path inside the cache directory, `/`-separated, relative.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex (also its blob name).
    pub sha256: String,
}

/// True for a relative path of normal components (no `..`, no root, no empty parts).
pub(crate) fn is_safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

impl Manifest {
    /// SHA-256 (lowercase hex) of the compact JSON of every field but [`Manifest::digest`].
    ///
    /// ```
    /// use cache_sync::Manifest;
    /// let manifest = Manifest::parse("m", br#"{"format": 1, "generation": 1, "backend": "fjall",
    ///     "cache_format": 1, "config_hash": "", "pushed_ms": 0, "files": []}"#)?;
    /// let digest = manifest.content_digest();
    /// assert_eq!(digest.len(), 64);
    /// assert_eq!(manifest.clone().sealed().content_digest(), digest, "the digest is left out");
    /// let later = Manifest { generation: 2, ..manifest };
    /// assert_ne!(later.content_digest(), digest);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn content_digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let unsealed = Manifest {
            digest: None,
            ..self.clone()
        };
        // Plain strings, numbers and lists: serializing cannot fail.
        let json = serde_json::to_vec(&unsealed).unwrap_or_default();
        format!("{:x}", Sha256::digest(&json))
    }

    /// The manifest with its [`Manifest::digest`] set, as it is published.
    ///
    /// ```
    /// use cache_sync::Manifest;
    /// let manifest = Manifest::parse("m", br#"{"format": 1, "generation": 1, "backend": "fjall",
    ///     "cache_format": 1, "config_hash": "", "pushed_ms": 0, "files": []}"#)?;
    /// let sealed = manifest.sealed();
    /// assert_eq!(sealed.digest, Some(sealed.content_digest()));
    /// let published = serde_json::to_vec(&sealed)?;
    /// assert_eq!(Manifest::parse("m", &published)?, sealed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sealed(self) -> Self {
        let digest = Some(self.content_digest());
        Manifest { digest, ..self }
    }

    /// Parses and validates a manifest read from `location`.
    ///
    /// # Errors
    /// [`SyncError::BadManifest`] for malformed JSON, an unknown format, unsafe paths, absurd
    /// sizes, duplicate paths, bad hashes or a digest that does not match the content.
    ///
    /// ```
    /// use cache_sync::{Manifest, SyncError};
    /// let json = |path: &str| format!(r#"{{"format": 1, "generation": 1, "backend": "fjall",
    ///     "cache_format": 1, "config_hash": "", "pushed_ms": 0, "files": [{{"path": "{path}",
    ///     "size": 2, "sha256": "{}"}}]}}"#, "ab".repeat(32));
    /// let manifest = Manifest::parse("generations/1.json", json("fjall/version").as_bytes())?;
    /// assert_eq!(manifest.files[0].size, 2);
    /// let unsafe_path = Manifest::parse("generations/1.json", json("../../etc/passwd").as_bytes());
    /// assert!(matches!(unsafe_path, Err(SyncError::BadManifest { .. })));
    /// assert!(Manifest::parse("generations/1.json", b"{not json").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(location: &str, bytes: &[u8]) -> Result<Self> {
        let bad = |reason: String| SyncError::BadManifest {
            location: location.to_owned(),
            reason,
        };
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not a manifest: {e}")))?;
        if m.format != MANIFEST_FORMAT {
            return Err(bad(format!("unknown manifest format {}", m.format)));
        }
        if m.files.len() > MAX_FILES {
            return Err(bad(format!(
                "{} files is more than {MAX_FILES}",
                m.files.len()
            )));
        }
        if let Some(d) = m.dirs.iter().find(|d| !is_safe_path(d)) {
            return Err(bad(format!(
                "directory {d:?} points outside the cache directory"
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for f in &m.files {
            if !is_safe_path(&f.path) {
                return Err(bad(format!(
                    "path {:?} points outside the cache directory",
                    f.path
                )));
            }
            if f.size > MAX_FILE_SIZE {
                return Err(bad(format!("file {:?} claims {} bytes", f.path, f.size)));
            }
            if f.sha256.len() != 64
                || !f
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                return Err(bad(format!("file {:?} has a malformed sha256", f.path)));
            }
            if !seen.insert(f.path.as_str()) {
                return Err(bad(format!("file {:?} is listed twice", f.path)));
            }
        }
        if m.digest.as_ref().is_some_and(|d| *d != m.content_digest()) {
            return Err(bad(
                "its digest does not match its content: the manifest is damaged".into(),
            ));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(path: &str, size: u64) -> Vec<u8> {
        serde_json::to_vec(&Manifest {
            format: 1,
            generation: 1,
            backend: "fjall".into(),
            cache_format: 1,
            config_hash: String::new(),
            pushed_ms: 0,
            files: vec![FileEntry {
                path: path.into(),
                size,
                sha256: "ab".repeat(32),
            }],
            dirs: vec!["fjall".into()],
            digest: None,
        })
        .expect("json")
    }

    #[test]
    fn refuses_unsafe_paths_and_sizes() {
        assert!(Manifest::parse("m", &manifest("fjall/version", 10)).is_ok());
        for p in [
            "../../x",
            "/etc/passwd",
            "a/../b",
            "a//b",
            "",
            "./a",
            "a\\\\b",
        ] {
            let e = Manifest::parse("m", &manifest(p, 1))
                .expect_err(p)
                .to_string();
            assert!(e.contains("outside the cache"), "{p}: {e}");
        }
        let e = Manifest::parse("m", &manifest("a", u64::MAX))
            .expect_err("size")
            .to_string();
        assert!(e.contains("claims"), "{e}");
        assert!(Manifest::parse("m", b"{not json").is_err());
    }

    /// Found by the corruption campaign: a byte flipped in a file's path inside a generation
    /// manifest still parsed, and pull installed the file under the damaged name. A sealed
    /// manifest refuses any change to a value, and a manifest of an earlier build (no digest)
    /// is still read.
    #[test]
    fn a_sealed_manifest_refuses_any_changed_value() {
        let plain = manifest("fjall/keyspaces/1/v0", 10);
        let m = Manifest::parse("m", &plain).expect("unsealed manifests are read");
        let sealed = serde_json::to_vec_pretty(&m.sealed()).expect("json");
        assert!(Manifest::parse("m", &sealed).is_ok());
        let text = String::from_utf8(sealed).expect("utf-8");
        for (from, to) in [
            ("v0", "v2"),
            ("\"size\": 10", "\"size\": 11"),
            ("fjall\"", "fjalm\""),
        ] {
            let damaged = text.replacen(from, to, 1);
            assert_ne!(damaged, text, "{from} is in the manifest");
            let e = Manifest::parse("m", damaged.as_bytes())
                .expect_err(to)
                .to_string();
            assert!(e.contains("damaged"), "{to}: {e}");
        }
    }
}
