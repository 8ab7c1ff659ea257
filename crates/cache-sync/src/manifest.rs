//! The manifest of one generation: which files make up the cache, with sizes and SHA-256.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SyncError};

/// Version of the manifest format.
pub const MANIFEST_FORMAT: u32 = 1;

/// Largest single file a manifest may name (1 TiB): a bigger size is corruption or an attack.
pub const MAX_FILE_SIZE: u64 = 1 << 40;

/// Most files a manifest may name.
pub const MAX_FILES: usize = 1_000_000;

/// Largest manifest read, in bytes: checked before the body is read.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// One generation of a cache.
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
pub fn is_safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

impl Manifest {
    /// SHA-256 (lowercase hex) of the compact JSON of every field but [`Manifest::digest`].
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
    pub fn sealed(self) -> Self {
        let digest = Some(self.content_digest());
        Manifest { digest, ..self }
    }

    /// Parses and validates a manifest read from `location`.
    ///
    /// # Errors
    /// [`SyncError::BadManifest`] for malformed JSON, an unknown format, unsafe paths, absurd
    /// sizes, duplicate paths or bad hashes.
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
