//! The config hash: the identity of a dataset, stable across runs, machines, and Rust and crate
//! versions.
//!
//! It is SHA-256 over a canonical text that this module writes field by field (never a serde or
//! `Debug` rendering, whose format may change). Only dataset-defining fields enter it: the tree,
//! pools with counts, sizes and fill, naming, and the normalized endpoint list. Workload,
//! duration, concurrency, credentials, agent addresses and the agent count never do, so every
//! agent and every rerun computes the same hash. The canonical form is documented in
//! `docs/FORMATS.md`; golden values are pinned in the tests below.
//!
//! ```text
//! sai3-cache dataset v1
//! tree width=24 depth=3 files_per_dir=193 distribution=bottom dir_mask="d%d_w%d.dir"
//! pool 0 ensure=0 kind=prepared count=2668032 size=lognormal:8388608:1048576:1048576:16777216 fill=random dedup=1 compress=1 endpoints=0,1
//! endpoint 0 "file:///mnt/a/"
//! endpoint 1 "file:///mnt/b/"
//! ```
//! (a flat dataset has `flat key_prefix_shards=S` instead of the `tree` line; every line ends
//! with `\n`).

use std::fmt::{self, Write};

use cache_core::DatasetId;
use sha2::{Digest, Sha256};

use crate::dataset::Dataset;

/// SHA-256 of a dataset's canonical form.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConfigHash([u8; 32]);

/// Quotes a string: `"` and `\` are backslash-escaped, control characters become `\u{XX}`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The canonical text of `d` (what the hash covers).
pub fn canonical_form(d: &Dataset) -> String {
    let mut s = String::from("sai3-cache dataset v1\n");
    match &d.tree {
        Some(t) => {
            let _ = writeln!(
                s,
                "tree width={} depth={} files_per_dir={} distribution={} dir_mask={}",
                t.width(),
                t.depth(),
                t.files_per_dir(),
                t.distribution().as_str(),
                quote(t.dir_mask())
            );
        }
        None => {
            let _ = writeln!(s, "flat key_prefix_shards={}", d.key_prefix_shards);
        }
    }
    for p in &d.pools {
        let eps: Vec<String> = p.endpoints.iter().map(u16::to_string).collect();
        let _ = writeln!(
            s,
            "pool {} ensure={} kind={} count={} size={} fill={} dedup={} compress={} endpoints={}",
            p.id,
            p.ensure_index,
            p.kind.prefix(),
            p.count,
            p.size.canonical(),
            p.fill.as_str(),
            p.dedup_factor,
            p.compress_factor,
            eps.join(",")
        );
    }
    for (i, e) in d.endpoints.iter().enumerate() {
        let _ = writeln!(s, "endpoint {i} {}", quote(e));
    }
    s
}

impl ConfigHash {
    /// The hash of a dataset.
    pub fn of(d: &Dataset) -> Self {
        ConfigHash(Sha256::digest(canonical_form(d).as_bytes()).into())
    }

    /// All zeros (only while a dataset is being built).
    pub(crate) fn placeholder() -> Self {
        ConfigHash([0; 32])
    }

    /// The first 8 bytes, used as the dataset id in cache keys.
    pub fn dataset_id(&self) -> DatasetId {
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.0[..8]);
        DatasetId(id)
    }

    /// The full hash as 64 hex digits.
    pub fn full_hex(&self) -> String {
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Parses the 64 hex digits of [`ConfigHash::full_hex`].
    ///
    /// ```
    /// use cache_sai3::config_hash::ConfigHash;
    /// let hex = "ab".repeat(32);
    /// assert_eq!(ConfigHash::from_hex(&hex).map(|h| h.full_hex()), Some(hex));
    /// assert!(ConfigHash::from_hex("abc").is_none());
    /// ```
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let text = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(text, 16).ok()?;
        }
        Some(ConfigHash(out))
    }

    /// The short form users see: 16 hex digits (the dataset id).
    pub fn short(&self) -> String {
        self.full_hex()[..16].to_owned()
    }
}

impl fmt::Display for ConfigHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

impl fmt::Debug for ConfigHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigHash({})", self.short())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Sai3Config;
    use crate::dataset::Dataset;

    fn dataset(yaml: &str) -> Dataset {
        let cfg = Sai3Config::parse(yaml, Path::new("t.yaml")).expect("parses");
        Dataset::from_config(&cfg, Path::new("t.yaml")).expect("valid")
    }

    const TREE: &str = r#"
duration: 60s
concurrency: 64
prepare:
  directory_structure: { width: 24, depth: 3, files_per_dir: 193, distribution: bottom, dir_mask: "d%d_w%d.dir" }
  ensure_objects:
    - count: "2_668_032"
      fill: random
      size_distribution: { type: lognormal, mean: 8MiB, std_dev: 1MiB, min: 1MiB, max: 16MiB }
multi_endpoint:
  strategy: round_robin
  endpoints: ["file:///mnt/a", "FILE:///mnt/b/"]
workload:
  - { op: get, path: "d*/**/*", weight: 100 }
"#;

    #[test]
    fn canonical_form_is_exact() {
        let d = dataset(TREE);
        assert_eq!(
            super::canonical_form(&d),
            "sai3-cache dataset v1\n\
             tree width=24 depth=3 files_per_dir=193 distribution=bottom dir_mask=\"d%d_w%d.dir\"\n\
             pool 0 ensure=0 kind=prepared count=2668032 size=lognormal:8388608:1048576:1048576:16777216 fill=random dedup=1 compress=1 endpoints=0,1\n\
             endpoint 0 \"file:///mnt/a/\"\n\
             endpoint 1 \"file:///mnt/b/\"\n"
        );
    }

    /// Pinned: a change here orphans every cache written before it.
    #[test]
    fn golden_hashes() {
        assert_eq!(dataset(TREE).hash.full_hex(), GOLDEN_TREE);
        let flat = "prepare:\n  key_prefix_shards: 16\n  ensure_objects:\n    - { base_uri: \"s3://bucket/data\", count: 1000, size_spec: 4096, fill: zero }\n";
        assert_eq!(dataset(flat).hash.full_hex(), GOLDEN_FLAT);
    }

    const GOLDEN_TREE: &str = "1b56d07d58ccee51b13087e621eed80c318c8417bfb992b4722ee1bb185d4807";
    const GOLDEN_FLAT: &str = "7fda8b3db91f03109987efb1224d16037f9eaec4f0d28ea5a09f3d6d87f75df7";

    #[test]
    fn hash_ignores_workload_credentials_and_agents() {
        let base = dataset(TREE).hash;
        let other = TREE
            .replace(
                "duration: 60s",
                "duration: 5m\ncredentials: { key: secret }",
            )
            .replace("concurrency: 64", "concurrency: 8")
            .replace("weight: 100", "weight: 50")
            + "distributed:\n  agents:\n    - { address: \"10.0.0.1:7167\" }\n    - { address: \"10.0.0.2:7167\" }\n";
        assert_eq!(dataset(&other).hash, base);
    }

    #[test]
    fn hash_changes_with_the_dataset() {
        let base = dataset(TREE).hash;
        for (from, to) in [
            ("width: 24", "width: 25"),
            ("files_per_dir: 193", "files_per_dir: 194"),
            ("fill: random", "fill: zero"),
            ("max: 16MiB", "max: 17MiB"),
            ("\"file:///mnt/a\", ", ""),
        ] {
            let changed = TREE.replace(from, to).replace("2_668_032", &{
                let w: u64 = if to == "width: 25" { 25 } else { 24 };
                let f: u64 = if to == "files_per_dir: 194" { 194 } else { 193 };
                (w * w * w * f).to_string()
            });
            assert_ne!(dataset(&changed).hash, base, "{from} -> {to}");
        }
    }
}
