//! The config hash: the identity of a dataset, stable across runs, machines, and Rust and crate
//! versions.
//!
//! It is SHA-256 over a canonical text that this module writes field by field (never a serde or
//! `Debug` rendering, whose format may change). Only what defines which object is where with
//! which size enters it: the prepare strategy, the naming (tree or flat), every pool of the
//! controller's view (count, sizes and their seed string, fill, which agents write it, its
//! share, its placement rule, its slots) and the storage namespaces the slots reach. Workload
//! weights, durations, concurrency, credentials, agent addresses and ids, and the URIs by which
//! a namespace is reached never do, so every rerun, and every agent's view
//! ([`crate::dataset::Dataset::for_agent`]), has the same hash. The canonical form is
//! documented in `docs/FORMATS.md`; golden values are pinned in the tests below.
//!
//! ```text
//! sai3-cache dataset v2
//! prepare_strategy=parallel
//! tree width=24 depth=3 files_per_dir=193 distribution=bottom dir_mask="d%d_w%d.dir"
//! pool 0 ensure=0 kind=prepared agent=- writers=0 share=all rule=modulo count=2668032 size=lognormal:8388608:1048576:1048576:16777216 fill=random dedup=1 compress=1 seed="file:///mnt/a" endpoints=0,1
//! namespace 0 "file:///mnt/a/"
//! namespace 1 "file:///mnt/b/"
//! ```
//! (a flat dataset has `flat key_prefix_shards=S` instead of the `tree` line; `agent=K` names
//! the writing agent of a distributed config, `share=modulo:N:K` holds the indices `i % N == K`,
//! `rule=runtime` means s3dlio picks the slot at run time; every line ends with `\n`).
//!
//! ```
//! use cache_sai3::dataset::Dataset;
//! let yaml = |weight: u32| format!(
//!     "prepare:\n  ensure_objects:\n    - {{ base_uri: \"s3://bench/data/\", count: 1000, size_spec: 4096 }}\n\
//!      workload:\n  - {{ op: get, path: \"*\", weight: {weight} }}\n");
//! let a = Dataset::from_yaml(&yaml(100), "a")?;
//! let b = Dataset::from_yaml(&yaml(50), "b")?; // only the workload differs
//! assert_eq!(a.hash, b.hash);
//! # Ok::<(), cache_sai3::Sai3Error>(())
//! ```

use std::fmt::{self, Write};

use cache_core::DatasetId;
use sha2::{Digest, Sha256};

use crate::dataset::{Dataset, namespace_of};
use crate::placement::{Rule, Share};

/// SHA-256 of a dataset's canonical form.
///
/// ```
/// # let yaml = r#"
/// # prepare:
/// #   ensure_objects:
/// #     - { base_uri: "s3://bench/data/", count: 1000, size_spec: 4096 }
/// # workload:
/// #   - { op: get, path: "*", weight: 100 }
/// # "#;
/// # let dataset = cache_sai3::dataset::Dataset::from_yaml(yaml, "inline")?;
/// use cache_sai3::config_hash::ConfigHash;
/// assert_eq!(ConfigHash::of(&dataset), dataset.hash);
/// assert_eq!(dataset.hash.to_string(), dataset.hash.short());
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// ```
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

/// The canonical text of `d` (what the hash covers). Meant for the controller's view: an
/// agent's view carries the controller's hash.
///
/// ```
/// # let yaml = r#"
/// # prepare:
/// #   ensure_objects:
/// #     - { base_uri: "s3://bench/data/", count: 1000, size_spec: 4096 }
/// # workload:
/// #   - { op: get, path: "*", weight: 100 }
/// # "#;
/// # let dataset = cache_sai3::dataset::Dataset::from_yaml(yaml, "inline")?;
/// let text = cache_sai3::config_hash::canonical_form(&dataset);
/// assert!(text.starts_with("sai3-cache dataset v2\nprepare_strategy="));
/// assert!(text.ends_with("namespace 0 \"s3://bench/data/\"\n"), "{text}");
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// ```
pub fn canonical_form(d: &Dataset) -> String {
    let mut s = String::from("sai3-cache dataset v2\n");
    let _ = writeln!(s, "prepare_strategy={}", d.prepare_strategy.as_str());
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
    let list = |items: &mut dyn Iterator<Item = String>| items.collect::<Vec<_>>().join(",");
    for p in &d.pools {
        let share = match p.share {
            Share::All => "all".to_owned(),
            Share::Modulo { agents, agent } => format!("modulo:{agents}:{agent}"),
        };
        let rule = match p.rule {
            Rule::Modulo => "modulo",
            Rule::Runtime => "runtime",
        };
        let _ = writeln!(
            s,
            "pool {} ensure={} kind={} agent={} writers={} share={share} rule={rule} count={} \
             size={} fill={} dedup={} compress={} seed={} endpoints={}",
            p.id,
            p.ensure_index,
            p.kind.prefix(),
            p.agent.map_or("-".to_owned(), |a| a.to_string()),
            list(&mut p.writers.iter().map(u32::to_string)),
            p.count,
            p.size.canonical(),
            p.fill.as_str(),
            p.dedup_factor,
            p.compress_factor,
            quote(&p.size_seed_uri),
            list(&mut p.endpoints.iter().map(u16::to_string)),
        );
    }
    for (i, e) in d.endpoints.iter().enumerate() {
        let _ = writeln!(s, "namespace {i} {}", quote(&namespace_of(e)));
    }
    s
}

impl ConfigHash {
    /// The hash of a dataset.
    ///
    /// ```
    /// # let yaml = r#"
    /// # prepare:
    /// #   ensure_objects:
    /// #     - { base_uri: "s3://bench/data/", count: 1000, size_spec: 4096 }
    /// # workload:
    /// #   - { op: get, path: "*", weight: 100 }
    /// # "#;
    /// # let dataset = cache_sai3::dataset::Dataset::from_yaml(yaml, "inline")?;
    /// use cache_sai3::config_hash::{ConfigHash, canonical_form};
    /// use sha2::{Digest, Sha256};
    /// let digest = Sha256::digest(canonical_form(&dataset).as_bytes());
    /// let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    /// assert_eq!(ConfigHash::of(&dataset).full_hex(), hex);
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// ```
    pub fn of(d: &Dataset) -> Self {
        ConfigHash(Sha256::digest(canonical_form(d).as_bytes()).into())
    }

    /// All zeros (only while a dataset is being built).
    pub(crate) fn placeholder() -> Self {
        ConfigHash([0; 32])
    }

    /// The first 8 bytes, used as the dataset id in cache keys.
    ///
    /// ```
    /// # let yaml = r#"
    /// # prepare:
    /// #   ensure_objects:
    /// #     - { base_uri: "s3://bench/data/", count: 1000, size_spec: 4096 }
    /// # workload:
    /// #   - { op: get, path: "*", weight: 100 }
    /// # "#;
    /// # let dataset = cache_sai3::dataset::Dataset::from_yaml(yaml, "inline")?;
    /// let id = dataset.hash.dataset_id();
    /// let hex: String = id.0.iter().map(|b| format!("{b:02x}")).collect();
    /// assert_eq!(hex, dataset.hash.short());
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// ```
    pub fn dataset_id(&self) -> DatasetId {
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.0[..8]);
        DatasetId(id)
    }

    /// The full hash as 64 hex digits.
    ///
    /// ```
    /// # let yaml = r#"
    /// # prepare:
    /// #   ensure_objects:
    /// #     - { base_uri: "s3://bench/data/", count: 1000, size_spec: 4096 }
    /// # workload:
    /// #   - { op: get, path: "*", weight: 100 }
    /// # "#;
    /// # let dataset = cache_sai3::dataset::Dataset::from_yaml(yaml, "inline")?;
    /// let hex = dataset.hash.full_hex();
    /// assert_eq!(hex.len(), 64);
    /// assert!(hex.starts_with(&dataset.hash.short()));
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// ```
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
    ///
    /// ```
    /// # let yaml = r#"
    /// # prepare:
    /// #   ensure_objects:
    /// #     - { base_uri: "s3://bench/data/", count: 1000, size_spec: 4096 }
    /// # workload:
    /// #   - { op: get, path: "*", weight: 100 }
    /// # "#;
    /// # let dataset = cache_sai3::dataset::Dataset::from_yaml(yaml, "inline")?;
    /// assert_eq!(dataset.hash.short().len(), 16);
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// ```
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
  prepare_strategy: parallel
  directory_structure: { width: 24, depth: 3, files_per_dir: 193, distribution: bottom, dir_mask: "d%d_w%d.dir" }
  ensure_objects:
    - count: "2_668_032"
      fill: random
      size_distribution: { type: lognormal, mean: 8MiB, std_dev: 1MiB, min: 1MiB, max: 16MiB }
multi_endpoint:
  strategy: round_robin
  endpoints: ["file:///mnt/a", "file:///mnt/b/"]
workload:
  - { op: get, path: "d*/**/*", weight: 100 }
"#;

    const FLAT: &str = "prepare:\n  key_prefix_shards: 16\n  ensure_objects:\n    - { base_uri: \"s3://bucket/data\", count: 1000, size_spec: 4096, fill: zero }\nworkload: []\n";

    /// Two agents, isolated storage (prefixes `agent-1/`, `agent-2/`), agent 1 with its own list
    /// (sequential: its PUTs are re-rooted on either endpoint), a delete workload (two pools each).
    const AGENTS: &str = r#"
target: "file:///data/"
prepare:
  ensure_objects:
    - { base_uri: "file:///data/bench/", count: 10, min_size: 100, max_size: 200 }
workload:
  - { op: get, path: "bench/*", weight: 9 }
  - { op: delete, path: "bench/*", weight: 1 }
distributed:
  shared_filesystem: false
  tree_creation_mode: concurrent
  path_selection: random
  agents:
    - { address: "10.0.0.1:7167", id: one }
    - { address: "10.0.0.2:7167", multi_endpoint: { endpoints: ["file:///data/", "file:///data2"] } }
"#;

    #[test]
    fn canonical_form_is_exact() {
        assert_eq!(
            super::canonical_form(&dataset(TREE)),
            "sai3-cache dataset v2\n\
             prepare_strategy=parallel\n\
             tree width=24 depth=3 files_per_dir=193 distribution=bottom dir_mask=\"d%d_w%d.dir\"\n\
             pool 0 ensure=0 kind=prepared agent=- writers=0 share=all rule=modulo count=2668032 size=lognormal:8388608:1048576:1048576:16777216 fill=random dedup=1 compress=1 seed=\"file:///mnt/a\" endpoints=0,1\n\
             namespace 0 \"file:///mnt/a/\"\n\
             namespace 1 \"file:///mnt/b/\"\n"
        );
        assert_eq!(
            super::canonical_form(&dataset(AGENTS)),
            "sai3-cache dataset v2\n\
             prepare_strategy=sequential\n\
             flat key_prefix_shards=0\n\
             pool 0 ensure=0 kind=prepared agent=0 writers=0 share=modulo:2:0 rule=modulo count=10 size=uniform:100:200 fill=random dedup=1 compress=1 seed=\"file:///data/agent-1/bench/\" endpoints=0\n\
             pool 1 ensure=0 kind=prepared agent=1 writers=1 share=modulo:2:1 rule=runtime count=10 size=uniform:100:200 fill=random dedup=1 compress=1 seed=\"file:///data/agent-2/bench/\" endpoints=1,2\n\
             pool 2 ensure=0 kind=deletable agent=0 writers=0 share=modulo:2:0 rule=modulo count=10 size=uniform:100:200 fill=random dedup=1 compress=1 seed=\"file:///data/agent-1/bench/\" endpoints=0\n\
             pool 3 ensure=0 kind=deletable agent=1 writers=1 share=modulo:2:1 rule=runtime count=10 size=uniform:100:200 fill=random dedup=1 compress=1 seed=\"file:///data/agent-2/bench/\" endpoints=1,2\n\
             namespace 0 \"file:///data/agent-1/bench/\"\n\
             namespace 1 \"file:///data/agent-2/bench/\"\n\
             namespace 2 \"file:///data2/agent-2/bench/\"\n"
        );
    }

    /// Pinned: a change here orphans every cache written before it. Each value is the SHA-256
    /// of the canonical form above (cross-checked with Python's `hashlib.sha256`).
    #[test]
    fn golden_hashes() {
        assert_eq!(dataset(TREE).hash.full_hex(), GOLDEN_TREE);
        assert_eq!(dataset(FLAT).hash.full_hex(), GOLDEN_FLAT);
        assert_eq!(dataset(AGENTS).hash.full_hex(), GOLDEN_AGENTS);
    }

    const GOLDEN_TREE: &str = "89309d6e27edf40a7751fafa3b71f8af27de88d5d163461a4972c04a38b64b89";
    const GOLDEN_FLAT: &str = "731c91e71e8af465ffbaf99d26eaabacd506c620d6b1a9949400e5dc84141798";
    const GOLDEN_AGENTS: &str = "96bcd0c24045deecb9bfbc0d3b1736b96cc0720269aacac94928cbcc892369ab";

    #[test]
    fn every_view_has_the_whole_dataset_hash() {
        let d = dataset(AGENTS);
        for k in 0..2 {
            assert_eq!(d.for_agent(k).expect("agent").hash, d.hash);
        }
    }

    #[test]
    fn hash_ignores_workload_credentials_and_agent_addresses() {
        let base = dataset(AGENTS).hash;
        let other = AGENTS
            .replace("weight: 9", "weight: 50")
            .replace(
                "target:",
                "duration: 5m\ncredentials: { key: secret }\nconcurrency: 3\ntarget:",
            )
            .replace("10.0.0.1:7167\", id: one", "node7:7167\", id: seven")
            .replace("10.0.0.2:7167", "node8:7000");
        assert_eq!(dataset(&other).hash, base);
        // Another host of the same bucket, in a slot other than the first (whose URI seeds the
        // sizes), reaches the same namespace.
        let flat = "prepare:\n  prepare_strategy: parallel\n  ensure_objects: [{count: 10}]\nmulti_endpoint:\n  endpoints: [\"s3://h1:80/b/\", \"s3://h2:80/b/\"]\nworkload: []\n";
        assert_eq!(
            dataset(flat).hash,
            dataset(&flat.replace("h2:80", "h3:9000")).hash
        );
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
            ("\"file:///mnt/a\"", "\"file:///mnt/a/\""),
            ("prepare_strategy: parallel", "prepare_strategy: sequential"),
        ] {
            let changed = TREE.replace(from, to).replace("2_668_032", &{
                let w: u64 = if to == "width: 25" { 25 } else { 24 };
                let f: u64 = if to == "files_per_dir: 194" { 194 } else { 193 };
                (w * w * w * f).to_string()
            });
            assert_ne!(dataset(&changed).hash, base, "{from} -> {to}");
        }
        let base = dataset(AGENTS).hash;
        for (from, to) in [
            ("shared_filesystem: false", "shared_filesystem: true"),
            ("target: \"file:///data/\"", ""),
            ("    - { address: \"10.0.0.1:7167\", id: one }\n", ""),
        ] {
            assert_ne!(
                dataset(&AGENTS.replace(from, to)).hash,
                base,
                "{from} -> {to}"
            );
        }
    }
}
