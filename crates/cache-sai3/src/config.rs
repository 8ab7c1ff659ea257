//! A sai3-bench v0.8.97 YAML config, read with sai3-bench's own types and rules.
//!
//! The types mirror sai3-bench's `serde` declarations (`src/config.rs`, `size_generator.rs`,
//! `directory_tree.rs`) for everything that defines a dataset or that sai3-bench refuses at
//! parse time: required fields (`workload`, `ensure_objects[].count`, the tree's `width` and
//! `depth`, `distributed`'s `agents`, `shared_filesystem`, `tree_creation_mode`,
//! `path_selection`, `agents[].address`, `multi_endpoint.endpoints`, each workload entry's
//! `weight` and `path`), integer-only fields (`min_size`, `max_size`, `key_prefix_shards`, a
//! fixed `size_spec`), counts with separators and sizes with units ([`crate::numbers`]), and
//! case-sensitive enums (`fill`, `op`, `prepare_strategy`, a distribution's `type`,
//! `tree_creation_mode`, `path_selection`). The serde names are sai3-bench's, so its error
//! texts come out unchanged (`unknown variant `Random`, expected one of `zero`, `random`,
//! `prand``, `data did not match any variant of untagged enum SizeSpec`).
//!
//! Unknown keys are ignored, as sai3-bench ignores them; so are sections that do not define
//! the dataset (duration, perf_log, barrier_sync, ...). A few ignored keys that look
//! meaningful (`ensure_objects[].use_multi_endpoint`, `ensure_objects[].size`,
//! `distributed.path_template`, `agents[].path_template`, `agents[].id`) are kept so that
//! [`crate::dataset::Dataset`] can warn about them. Semantic checks (sizes, trees, endpoints,
//! agents) are the dataset's.
//!
//! ```
//! use cache_sai3::config::Sai3Config;
//! let yaml = r#"
//! prepare:
//!   ensure_objects:
//!     - { base_uri: "s3://bench/data/", count: 1_000, size_spec: 4096, fill: zero }
//! workload:
//!   - { op: get, path: "data/*", weight: 100 }
//! unknown_section: ignored
//! "#;
//! let config = Sai3Config::parse(yaml, "bench.yaml".as_ref())?;
//! assert_eq!(config.prepare.expect("a prepare section").ensure_objects[0].count, 1000);
//! // sai3-bench's own message, naming the field.
//! let bad = yaml.replace("zero", "Zero");
//! let e = Sai3Config::parse(&bad, "bench.yaml".as_ref()).unwrap_err();
//! assert!(
//!     e.to_string().starts_with(
//!         "config bench.yaml: prepare.ensure_objects[0].fill: \
//!          unknown variant `Zero`, expected one of `zero`, `random`, `prand`"
//!     ),
//!     "{e}"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::error::{ConfigError, Sai3Error};
use crate::numbers::separated_count;

/// sai3-bench's `DEFAULT_CONCURRENCY`.
///
/// ```
/// use cache_sai3::config::{DEFAULT_CONCURRENCY, Sai3Config};
/// let config = Sai3Config::parse("workload: []", "c.yaml".as_ref())?;
/// assert_eq!(config.concurrency, DEFAULT_CONCURRENCY);
/// assert_eq!(DEFAULT_CONCURRENCY, 16);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Marks the field a custom deserializer failed on, so that the error names it (serde's path
/// stops at the enclosing map for errors raised after a value was read).
const FIELD_MARK: char = '\u{1f}';

/// A sai3-bench config (sai3-bench's `Config`), the parts that define or refuse a dataset.
///
/// ```
/// use cache_sai3::config::Sai3Config;
/// let yaml = "concurrency: 32\ntarget: file:///data/\nworkload: []\n";
/// let config = Sai3Config::parse(yaml, "c.yaml".as_ref())?;
/// assert_eq!(config.concurrency, 32);
/// assert_eq!(config.target.as_deref(), Some("file:///data/"));
/// assert!(config.prepare.is_none() && config.distributed.is_none());
/// // `workload` is required.
/// let e = Sai3Config::parse("concurrency: 32", "c.yaml".as_ref()).unwrap_err();
/// assert!(e.to_string().contains("workload: missing field `workload`"), "{e}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "struct Config")]
pub struct Sai3Config {
    /// Workers per agent (checked against each agent's endpoint count by the controller).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Base URI of the workload; prefixes agents' `base_uri`s with isolated storage.
    #[serde(default)]
    pub target: Option<String>,
    /// Workload operations (required; `delete`/`rmdir` with `get`/`stat` make two pools).
    pub workload: Vec<WorkloadOp>,
    /// The prepare section.
    #[serde(default)]
    pub prepare: Option<PrepareSection>,
    /// Distributed mode (agents).
    #[serde(default)]
    pub distributed: Option<DistributedSection>,
    /// Top-level endpoint list.
    #[serde(default)]
    pub multi_endpoint: Option<MultiEndpointSection>,
}

fn default_concurrency() -> usize {
    DEFAULT_CONCURRENCY
}

fn one() -> usize {
    1
}

/// One workload entry (`WeightedOp`).
///
/// ```
/// use cache_sai3::config::{OpSpec, Sai3Config};
/// let yaml = r#"workload: [{ op: get, path: "data/*", weight: 70, concurrency: 8 }]"#;
/// let op = &Sai3Config::parse(yaml, "c.yaml".as_ref())?.workload[0];
/// assert_eq!((op.weight, op.concurrency), (70, Some(8)));
/// assert!(matches!(&op.op, OpSpec::Get { path } if path == "data/*"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "struct WeightedOp")]
pub struct WorkloadOp {
    /// Relative weight (required).
    pub weight: u32,
    /// Per-operation concurrency.
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// The operation.
    #[serde(flatten)]
    pub op: OpSpec,
}

/// A workload operation (`OpSpec`, tagged by `op`, lowercase).
///
/// ```
/// use cache_sai3::config::{OpSpec, Sai3Config};
/// let yaml = r#"
/// workload:
///   - { op: put, path: "new/", object_size: 4096, weight: 1 }
///   - { op: rmdir, path: "old/", weight: 1 }
/// "#;
/// let config = Sai3Config::parse(yaml, "c.yaml".as_ref())?;
/// let put = &config.workload[0].op;
/// assert!(matches!(put, OpSpec::Put { object_size: Some(4096), dedup_factor: 1, .. }));
/// let rmdir = &config.workload[1].op;
/// assert!(matches!(rmdir, OpSpec::Rmdir { recursive: false, .. }));
/// let e = Sai3Config::parse("workload: [{ op: GET, path: x, weight: 1 }]", "c.yaml".as_ref());
/// assert!(e.unwrap_err().to_string().contains("unknown variant `GET`"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum OpSpec {
    /// GET.
    Get {
        /// Key, prefix or glob.
        path: String,
    },
    /// PUT.
    Put {
        /// Prefix.
        #[serde(default)]
        path: String,
        /// Fixed size.
        #[serde(default)]
        object_size: Option<u64>,
        /// Size distribution.
        #[serde(default, alias = "size_distribution")]
        size_spec: Option<SizeSpec>,
        /// Dedup factor.
        #[serde(default = "one")]
        dedup_factor: usize,
        /// Compress factor.
        #[serde(default = "one")]
        compress_factor: usize,
    },
    /// LIST.
    List {
        /// Prefix.
        path: String,
    },
    /// STAT.
    Stat {
        /// Key.
        path: String,
    },
    /// DELETE.
    Delete {
        /// Key or glob.
        path: String,
    },
    /// MKDIR.
    Mkdir {
        /// Directory.
        path: String,
    },
    /// RMDIR.
    Rmdir {
        /// Directory.
        path: String,
        /// `rm -r`.
        #[serde(default)]
        recursive: bool,
    },
}

/// `prepare:` (`PrepareConfig`).
///
/// ```
/// use cache_sai3::config::{PrepareStrategy, Sai3Config};
/// let yaml = r#"
/// prepare:
///   prepare_strategy: parallel
///   key_prefix_shards: 16
///   ensure_objects: [{ count: 10 }]
/// workload: []
/// "#;
/// let prepare = Sai3Config::parse(yaml, "c.yaml".as_ref())?.prepare.expect("a prepare section");
/// assert_eq!(prepare.prepare_strategy, PrepareStrategy::Parallel);
/// assert_eq!((prepare.key_prefix_shards, prepare.ensure_objects.len()), (16, 1));
/// assert!(prepare.directory_structure.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(expecting = "struct PrepareConfig")]
pub struct PrepareSection {
    /// `ensure_objects:` entries.
    #[serde(default)]
    pub ensure_objects: Vec<EnsureObjects>,
    /// `directory_structure:`
    #[serde(default)]
    pub directory_structure: Option<DirectoryStructure>,
    /// `prepare_strategy:` (default `sequential`).
    #[serde(default)]
    pub prepare_strategy: PrepareStrategy,
    /// `key_prefix_shards:` (flat names only; 0: none).
    #[serde(default)]
    pub key_prefix_shards: u32,
    /// `cleanup_only:` (sai3-bench's agents then accept an empty workload).
    #[serde(default)]
    pub cleanup_only: Option<bool>,
}

/// How sai3-bench's prepare writes the objects (`prepare.prepare_strategy`).
///
/// ```
/// use cache_sai3::config::{PrepareStrategy, Sai3Config};
/// let yaml = "prepare: { ensure_objects: [] }\nworkload: []\n";
/// let prepare = Sai3Config::parse(yaml, "c.yaml".as_ref())?.prepare.expect("a prepare section");
/// assert_eq!(prepare.prepare_strategy, PrepareStrategy::Sequential); // the default
/// let bad = "prepare: { prepare_strategy: Parallel }\nworkload: []\n";
/// let e = Sai3Config::parse(bad, "c.yaml".as_ref()).unwrap_err();
/// assert!(e.to_string().contains("unknown variant `Parallel`"), "{e}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrepareStrategy {
    /// One entry after the other; with a `multi_endpoint` list, s3dlio picks the endpoint of
    /// every PUT at run time. The default.
    #[default]
    Sequential,
    /// All entries interleaved; object `i` goes to `endpoints[i % E]`.
    Parallel,
}

impl PrepareStrategy {
    /// The config spelling.
    ///
    /// ```
    /// use cache_sai3::config::PrepareStrategy;
    /// assert_eq!(PrepareStrategy::Sequential.as_str(), "sequential");
    /// assert_eq!(PrepareStrategy::Parallel.as_str(), "parallel");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            PrepareStrategy::Sequential => "sequential",
            PrepareStrategy::Parallel => "parallel",
        }
    }
}

/// `prepare.directory_structure:` (`DirectoryStructureConfig`).
///
/// ```
/// use cache_sai3::config::Sai3Config;
/// let yaml = r#"
/// prepare:
///   directory_structure: { width: 2, depth: 3, files_per_dir: 1_000 }
/// workload: []
/// "#;
/// let config = Sai3Config::parse(yaml, "c.yaml".as_ref())?;
/// let tree = config.prepare.and_then(|p| p.directory_structure).expect("a tree");
/// assert_eq!((tree.width, tree.depth, tree.files_per_dir), (2, 3, 1000));
/// assert_eq!(tree.distribution, "bottom");
/// assert_eq!(tree.dir_mask, "sai3bench.d%d_w%d.dir");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "struct DirectoryStructureConfig")]
pub struct DirectoryStructure {
    /// Subdirectories per directory.
    #[serde(deserialize_with = "width")]
    pub width: u64,
    /// Levels.
    #[serde(deserialize_with = "depth")]
    pub depth: u64,
    /// Files per directory that holds files (default 0).
    #[serde(default, deserialize_with = "files_per_dir")]
    pub files_per_dir: u64,
    /// `bottom` (default) or `all`, checked by the dataset.
    #[serde(default = "default_distribution")]
    pub distribution: String,
    /// Directory name mask (default `sai3bench.d%d_w%d.dir`); anything goes.
    #[serde(default = "default_dir_mask")]
    pub dir_mask: String,
}

fn default_distribution() -> String {
    "bottom".to_owned()
}

fn default_dir_mask() -> String {
    crate::naming::DEFAULT_DIR_MASK.to_owned()
}

/// One `prepare.ensure_objects[]` entry (`EnsureSpec`).
///
/// ```
/// use cache_sai3::config::{FillPattern, Sai3Config};
/// let yaml = r#"
/// prepare:
///   ensure_objects:
///     - { base_uri: "file:///data/", count: "1,000", min_size: 4096, max_size: 8192 }
/// workload: []
/// "#;
/// let config = Sai3Config::parse(yaml, "c.yaml".as_ref())?;
/// let entry = &config.prepare.expect("a prepare section").ensure_objects[0];
/// assert_eq!((entry.count, entry.min_size, entry.max_size), (1000, Some(4096), Some(8192)));
/// assert_eq!((entry.fill, entry.dedup_factor), (FillPattern::Random, 1));
/// assert!(entry.size_spec.is_none());
/// // `count` is required.
/// let bad = "prepare: { ensure_objects: [{ size_spec: 1 }] }\nworkload: []\n";
/// let e = Sai3Config::parse(bad, "c.yaml".as_ref()).unwrap_err();
/// assert!(e.to_string().contains("prepare.ensure_objects[0].count: missing field `count`"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "struct EnsureSpec")]
pub struct EnsureObjects {
    /// Where the objects go, used verbatim (never resolved against `target`).
    #[serde(default)]
    pub base_uri: Option<String>,
    /// How many objects (required).
    #[serde(deserialize_with = "count")]
    pub count: u64,
    /// Legacy size bound (integer bytes; default 1 MiB).
    #[serde(default)]
    pub min_size: Option<u64>,
    /// Legacy size bound (integer bytes; default 1 MiB).
    #[serde(default)]
    pub max_size: Option<u64>,
    /// Sizes: an integer, or a distribution map. Wins over `min_size`/`max_size`.
    #[serde(default, alias = "size_distribution")]
    pub size_spec: Option<SizeSpec>,
    /// `zero`, `random` (default) or `prand`.
    #[serde(default)]
    pub fill: FillPattern,
    /// Dedup factor of generated data (default 1; 0 accepted).
    #[serde(default = "one")]
    pub dedup_factor: usize,
    /// Compress factor of generated data (default 1; 0 accepted).
    #[serde(default = "one")]
    pub compress_factor: usize,
    /// Not a sai3-bench field (ignored by it; warned about).
    #[serde(default)]
    pub use_multi_endpoint: Option<IgnoredAny>,
    /// Not a sai3-bench field (ignored by it; warned about).
    #[serde(default)]
    pub size: Option<IgnoredAny>,
}

/// `fill:` (`FillPattern`).
///
/// ```
/// use cache_sai3::config::{FillPattern, Sai3Config};
/// let yaml = "prepare: { ensure_objects: [{ count: 1, fill: prand }] }\nworkload: []\n";
/// let prepare = Sai3Config::parse(yaml, "c.yaml".as_ref())?.prepare.expect("a prepare section");
/// assert_eq!(prepare.ensure_objects[0].fill, FillPattern::Prand);
/// assert_eq!(FillPattern::default(), FillPattern::Random);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FillPattern {
    /// Zero bytes.
    Zero,
    /// Random bytes (the default).
    #[default]
    Random,
    /// Same as random.
    Prand,
}

/// `size_spec:` / `size_distribution:` (`SizeSpec`, untagged).
///
/// ```
/// use cache_sai3::config::{Sai3Config, SizeSpec};
/// let yaml = r#"
/// prepare:
///   ensure_objects:
///     - { count: 1, size_spec: 4096 }
///     - { count: 1, size_distribution: { type: uniform, min: 1KiB, max: 1MiB } }
/// workload: []
/// "#;
/// let prepare = Sai3Config::parse(yaml, "c.yaml".as_ref())?.prepare.expect("a prepare section");
/// let sizes: Vec<_> = prepare.ensure_objects.iter().map(|e| e.size_spec.as_ref()).collect();
/// assert!(matches!(sizes[0], Some(SizeSpec::Fixed(4096))));
/// assert!(matches!(sizes[1], Some(SizeSpec::Distribution(d)) if d.max == Some(1 << 20)));
/// // A fixed size is a YAML integer only.
/// let e = Sai3Config::parse(&yaml.replace("4096", "4KiB"), "c.yaml".as_ref()).unwrap_err();
/// assert!(e.to_string().contains("data did not match any variant of untagged enum SizeSpec"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SizeSpec {
    /// A YAML integer only.
    Fixed(u64),
    /// A distribution map.
    Distribution(SizeDistribution),
}

/// A distribution map (`SizeDistribution`).
///
/// ```
/// use cache_sai3::config::{DistributionType, Sai3Config, SizeSpec};
/// let yaml = r#"
/// prepare:
///   ensure_objects:
///     - count: 1
///       size_spec: { type: lognormal, mean: 1MiB, std_dev: 256KiB, min: 4096 }
/// workload: []
/// "#;
/// let prepare = Sai3Config::parse(yaml, "c.yaml".as_ref())?.prepare.expect("a prepare section");
/// let Some(SizeSpec::Distribution(d)) = &prepare.ensure_objects[0].size_spec else {
///     panic!("a distribution")
/// };
/// assert_eq!(d.kind, DistributionType::Lognormal);
/// assert_eq!((d.min, d.max), (Some(4096), None));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
pub struct SizeDistribution {
    /// `uniform` or `lognormal`.
    #[serde(rename = "type")]
    pub kind: DistributionType,
    /// Lower bound.
    #[serde(default, deserialize_with = "crate::numbers::deserialize_size")]
    pub min: Option<u64>,
    /// Upper bound.
    #[serde(default, deserialize_with = "crate::numbers::deserialize_size")]
    pub max: Option<u64>,
    /// Lognormal parameters.
    #[serde(flatten)]
    pub params: DistributionParams,
}

/// `type:` of a distribution (`DistributionType`, lowercase).
///
/// ```
/// use cache_sai3::config::{DistributionType, Sai3Config, SizeSpec};
/// let yaml = r#"
/// prepare:
///   ensure_objects:
///     - count: 1
///       size_spec: { type: lognormal, mean: 1MiB, std_dev: 256KiB, min: 4096 }
/// workload: []
/// "#;
/// let prepare = Sai3Config::parse(yaml, "c.yaml".as_ref())?.prepare.expect("a prepare section");
/// let Some(SizeSpec::Distribution(d)) = &prepare.ensure_objects[0].size_spec else {
///     panic!("a distribution")
/// };
/// assert_eq!(d.kind, DistributionType::Lognormal);
/// // An unknown type fails the untagged `SizeSpec`, as in sai3-bench.
/// let e = Sai3Config::parse(&yaml.replace("lognormal", "normal"), "c.yaml".as_ref()).unwrap_err();
/// let expected = "prepare.ensure_objects[0]: data did not match any variant of untagged enum";
/// assert!(e.to_string().contains(expected), "{e}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DistributionType {
    /// Uniform over `[min, max]`.
    Uniform,
    /// Lognormal with linear-space mean and standard deviation.
    Lognormal,
}

/// Lognormal parameters (`DistributionParams`).
///
/// ```
/// use cache_sai3::config::{Sai3Config, SizeSpec};
/// let yaml = r#"
/// prepare:
///   ensure_objects:
///     - count: 1
///       size_spec: { type: lognormal, mean: 1MiB, std_dev: 256KiB, min: 4096 }
/// workload: []
/// "#;
/// let prepare = Sai3Config::parse(yaml, "c.yaml".as_ref())?.prepare.expect("a prepare section");
/// let Some(SizeSpec::Distribution(d)) = &prepare.ensure_objects[0].size_spec else {
///     panic!("a distribution")
/// };
/// assert_eq!((d.params.mean, d.params.std_dev), (Some(1 << 20), Some(256 << 10)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
pub struct DistributionParams {
    /// Mean.
    #[serde(default, deserialize_with = "crate::numbers::deserialize_size")]
    pub mean: Option<u64>,
    /// Standard deviation.
    #[serde(default, deserialize_with = "crate::numbers::deserialize_size")]
    pub std_dev: Option<u64>,
}

/// `multi_endpoint:` (`MultiEndpointConfig`).
///
/// ```
/// use cache_sai3::config::Sai3Config;
/// let yaml = r#"{ multi_endpoint: { endpoints: ["s3://a/", "s3://b/"] }, workload: [] }"#;
/// let list = Sai3Config::parse(yaml, "c.yaml".as_ref())?.multi_endpoint.expect("endpoints");
/// assert_eq!(list.endpoints, ["s3://a/", "s3://b/"]);
/// assert_eq!(list.strategy, "round_robin");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "struct MultiEndpointConfig")]
pub struct MultiEndpointSection {
    /// `round_robin` (default) or `least_connections`, checked when used.
    #[serde(default = "default_strategy")]
    pub strategy: String,
    /// Endpoint URIs (required key).
    pub endpoints: Vec<String>,
}

fn default_strategy() -> String {
    "round_robin".to_owned()
}

/// `distributed:` (`DistributedConfig`).
///
/// ```
/// use cache_sai3::config::Sai3Config;
/// let yaml = r#"
/// distributed:
///   shared_filesystem: false
///   tree_creation_mode: isolated
///   path_selection: partitioned
///   agents:
///     - { address: "host1:7761", concurrency_override: 8 }
///     - { address: "host2:7761", target_override: "file:///other/" }
/// workload: []
/// "#;
/// let d = Sai3Config::parse(yaml, "c.yaml".as_ref())?.distributed.expect("agents");
/// assert_eq!(d.agents.len(), 2);
/// assert!(!d.shared_filesystem);
/// assert!(d.path_template.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "struct DistributedConfig")]
pub struct DistributedSection {
    /// The agents, in order (agent `k` is the `k`-th entry).
    pub agents: Vec<AgentEntry>,
    /// Never read by sai3-bench (its prefix comes from the command line); warned about.
    #[serde(default)]
    pub path_template: Option<String>,
    /// Whether all agents see the same storage (required).
    pub shared_filesystem: bool,
    /// Required; no effect on the dataset.
    pub tree_creation_mode: TreeCreationMode,
    /// Required; no effect on the dataset.
    pub path_selection: PathSelection,
}

/// `tree_creation_mode:` (`TreeCreationMode`).
///
/// ```
/// use cache_sai3::config::{Sai3Config, TreeCreationMode};
/// let yaml = r#"
/// distributed:
///   shared_filesystem: false
///   tree_creation_mode: isolated
///   path_selection: partitioned
///   agents:
///     - { address: "host1:7761", concurrency_override: 8 }
///     - { address: "host2:7761", target_override: "file:///other/" }
/// workload: []
/// "#;
/// let d = Sai3Config::parse(yaml, "c.yaml".as_ref())?.distributed.expect("agents");
/// assert_eq!(d.tree_creation_mode, TreeCreationMode::Isolated);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TreeCreationMode {
    /// `isolated`.
    Isolated,
    /// `coordinator`.
    Coordinator,
    /// `concurrent`.
    Concurrent,
}

/// `path_selection:` (`PathSelectionStrategy`).
///
/// ```
/// use cache_sai3::config::{PathSelection, Sai3Config};
/// let yaml = r#"
/// distributed:
///   shared_filesystem: false
///   tree_creation_mode: isolated
///   path_selection: partitioned
///   agents:
///     - { address: "host1:7761", concurrency_override: 8 }
///     - { address: "host2:7761", target_override: "file:///other/" }
/// workload: []
/// "#;
/// let d = Sai3Config::parse(yaml, "c.yaml".as_ref())?.distributed.expect("agents");
/// assert_eq!(d.path_selection, PathSelection::Partitioned);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathSelection {
    /// `random`.
    Random,
    /// `partitioned`.
    Partitioned,
    /// `exclusive`.
    Exclusive,
    /// `weighted`.
    Weighted,
}

/// One agent (`AgentConfig`); its address is never part of the dataset.
///
/// ```
/// use cache_sai3::config::Sai3Config;
/// let yaml = r#"
/// distributed:
///   shared_filesystem: false
///   tree_creation_mode: isolated
///   path_selection: partitioned
///   agents:
///     - { address: "host1:7761", concurrency_override: 8 }
///     - { address: "host2:7761", target_override: "file:///other/" }
/// workload: []
/// "#;
/// let d = Sai3Config::parse(yaml, "c.yaml".as_ref())?.distributed.expect("agents");
/// assert_eq!(d.agents[0].address, "host1:7761");
/// assert_eq!(d.agents[0].concurrency_override, Some(8));
/// assert_eq!(d.agents[1].target_override.as_deref(), Some("file:///other/"));
/// assert!(d.agents[1].multi_endpoint.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "struct AgentConfig")]
pub struct AgentEntry {
    /// `host:port` (required).
    pub address: String,
    /// A label in sai3-bench's logs only; warned about.
    #[serde(default)]
    pub id: Option<String>,
    /// Replaces `target` for this agent.
    #[serde(default)]
    pub target_override: Option<String>,
    /// Replaces `concurrency` for this agent.
    #[serde(default)]
    pub concurrency_override: Option<usize>,
    /// Never read by sai3-bench; warned about.
    #[serde(default)]
    pub path_template: Option<String>,
    /// Replaces the top-level `multi_endpoint` for this agent.
    #[serde(default)]
    pub multi_endpoint: Option<MultiEndpointSection>,
}

/// Reads a count with separators; `field` names it in the error.
fn separated<'de, D>(deserializer: D, field: &str, what: &str) -> Result<u64, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = serde_norway::Value::deserialize(deserializer)?;
    separated_count(&value, what)
        .map_err(|e| serde::de::Error::custom(format!("{FIELD_MARK}{field}{FIELD_MARK}{e}")))
}

fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    separated(d, "count", "u64")
}

fn width<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    separated(d, "width", "usize")
}

fn depth<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    separated(d, "depth", "usize")
}

fn files_per_dir<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    separated(d, "files_per_dir", "usize")
}

/// Turns a parser message into an error naming the field: `path: message` (serde's path), a
/// missing field appended to the path, a field marked by a custom deserializer appended too.
fn parse_error(message: &str, path: &Path) -> Sai3Error {
    let config = |field: String, reason: String| Sai3Error::Config {
        path: path.to_owned(),
        error: ConfigError { field, reason },
    };
    let (prefix, rest) = match message.split_once(": ") {
        Some((p, r)) if is_field_path(p) => (Some(p), r),
        _ => (None, message),
    };
    if let Some((marked, reason)) = rest
        .strip_prefix(FIELD_MARK)
        .and_then(|r| r.split_once(FIELD_MARK))
    {
        let field = prefix.map_or(marked.to_owned(), |p| format!("{p}.{marked}"));
        return config(field, reason.to_owned());
    }
    let missing = rest
        .strip_prefix("missing field `")
        .and_then(|r| r.split_once('`'))
        .map(|(name, _)| name);
    match (prefix, missing) {
        (Some(p), Some(name)) => config(format!("{p}.{name}"), rest.to_owned()),
        (None, Some(name)) => config(name.to_owned(), rest.to_owned()),
        (Some(p), None) => config(p.to_owned(), rest.to_owned()),
        (None, None) => Sai3Error::ParseConfig {
            path: path.to_owned(),
            reason: message.replace(FIELD_MARK, ""),
        },
    }
}

/// True for serde's field paths (`prepare.ensure_objects[0].min_size`).
fn is_field_path(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '-'))
}

impl Sai3Config {
    /// Parses YAML text; `path` only names the source in errors.
    ///
    /// # Errors
    /// [`Sai3Error::Config`] naming the field with sai3-bench's (serde's) message and the line
    /// and column; [`Sai3Error::ParseConfig`] for YAML that is not a mapping of fields at all.
    ///
    /// ```
    /// use cache_sai3::{config::Sai3Config, Sai3Error};
    /// let yaml = "workload: [{ op: stat, path: x, weight: 1 }]";
    /// assert_eq!(Sai3Config::parse(yaml, "a.yaml".as_ref())?.workload.len(), 1);
    /// let no_depth = "prepare: { directory_structure: { width: 2 } }\nworkload: []\n";
    /// match Sai3Config::parse(no_depth, "a.yaml".as_ref()).unwrap_err() {
    ///     Sai3Error::Config { error, .. } => {
    ///         assert_eq!(error.field, "prepare.directory_structure.depth")
    ///     }
    ///     other => panic!("{other}"),
    /// }
    /// let e = Sai3Config::parse("just text", "a.yaml".as_ref()).unwrap_err();
    /// assert!(matches!(e, Sai3Error::ParseConfig { .. }), "{e}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(text: &str, path: &Path) -> Result<Self, Sai3Error> {
        serde_norway::from_str(text).map_err(|e| parse_error(&e.to_string(), path))
    }

    /// Reads and parses a config file.
    ///
    /// # Errors
    /// [`Sai3Error::ReadConfig`], or as [`Sai3Config::parse`].
    ///
    /// ```
    /// use cache_sai3::{config::Sai3Config, Sai3Error};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("bench.yaml");
    /// std::fs::write(&path, "concurrency: 4\nworkload: []\n")?;
    /// assert_eq!(Sai3Config::load(&path)?.concurrency, 4);
    /// let e = Sai3Config::load(&dir.path().join("missing.yaml")).unwrap_err();
    /// assert!(matches!(e, Sai3Error::ReadConfig { .. }), "{e}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load(path: &Path) -> Result<Self, Sai3Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Sai3Error::ReadConfig {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// True when the workload deletes (`delete` or `rmdir`) and reads (`get` or `stat`):
    /// sai3-bench then prepares every flat entry twice, as `prepared-` and `deletable-` pools.
    /// Weights do not matter (a weight-0 operation counts).
    ///
    /// ```
    /// use cache_sai3::config::Sai3Config;
    /// let parse = |ops: &str| Sai3Config::parse(&format!("workload: [{ops}]"), "c.yaml".as_ref());
    /// let mixed = parse("{ op: get, path: x, weight: 100 }, { op: delete, path: x, weight: 0 }")?;
    /// assert!(mixed.needs_separate_pools());
    /// let reads = parse("{ op: get, path: x, weight: 100 }, { op: stat, path: x, weight: 1 }")?;
    /// assert!(!reads.needs_separate_pools());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn needs_separate_pools(&self) -> bool {
        let deletes = self
            .workload
            .iter()
            .any(|w| matches!(w.op, OpSpec::Delete { .. } | OpSpec::Rmdir { .. }));
        let reads = self
            .workload
            .iter()
            .any(|w| matches!(w.op, OpSpec::Get { .. } | OpSpec::Stat { .. }));
        deletes && reads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Sai3Config, Sai3Error> {
        Sai3Config::parse(yaml, Path::new("c.yaml"))
    }

    /// `(field, reason)` of a refused config.
    fn refused(yaml: &str) -> (String, String) {
        match parse(yaml) {
            Err(Sai3Error::Config { error, .. }) => (error.field, error.reason),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    const OK: &str = "workload: []\nprepare:\n  ensure_objects:\n    - count: 5\n";

    #[test]
    fn minimal_config_and_defaults() {
        let c = parse(OK).expect("valid");
        assert!(!c.needs_separate_pools());
        assert_eq!(c.concurrency, DEFAULT_CONCURRENCY);
        let p = c.prepare.expect("prepare");
        assert_eq!(p.prepare_strategy, PrepareStrategy::Sequential);
        assert_eq!(p.key_prefix_shards, 0);
        let e = &p.ensure_objects[0];
        assert_eq!(
            (e.count, e.fill, e.dedup_factor),
            (5, FillPattern::Random, 1)
        );
    }

    /// Texts checked against sai3-bench's own parser (the research harness).
    #[test]
    fn refusals_name_the_field_with_sai3_bench_wording() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "prepare:\n  ensure_objects: [{count: 5}]\n",
                "workload",
                "missing field `workload`",
            ),
            (
                "workload: []\nprepare:\n  ensure_objects:\n    - count: 5\n      min_size: 1KiB\n",
                "prepare.ensure_objects[0].min_size",
                "invalid type: string \"1KiB\", expected u64 at line 5 column 17",
            ),
            (
                "workload: []\nprepare:\n  ensure_objects:\n    - count: 5\n      size_spec: 8MiB\n",
                "prepare.ensure_objects[0]",
                "data did not match any variant of untagged enum SizeSpec at line 4 column 7",
            ),
            (
                "workload: []\nprepare:\n  ensure_objects:\n    - count: 1.5\n",
                "prepare.ensure_objects[0].count",
                "Expected u64 at line 4 column 7",
            ),
            (
                "workload: []\nprepare:\n  ensure_objects:\n    - min_size: 5\n",
                "prepare.ensure_objects[0].count",
                "missing field `count` at line 4 column 7",
            ),
            (
                "workload:\n  - {op: GET, path: x, weight: 1}\n",
                "workload[0]",
                "unknown variant `GET`, expected one of `get`, `put`, `list`, `stat`, `delete`, `mkdir`, `rmdir` at line 2 column 5",
            ),
            (
                "workload: []\nprepare:\n  ensure_objects: [{count: 1, fill: Random}]\n",
                "prepare.ensure_objects[0].fill",
                "unknown variant `Random`, expected one of `zero`, `random`, `prand` at line 3 column 37",
            ),
            (
                "workload: []\nprepare:\n  prepare_strategy: Parallel\n",
                "prepare.prepare_strategy",
                "unknown variant `Parallel`, expected `sequential` or `parallel` at line 3 column 21",
            ),
            (
                "workload: []\nprepare:\n  key_prefix_shards: '16'\n",
                "prepare.key_prefix_shards",
                "invalid type: string \"16\", expected u32 at line 3 column 22",
            ),
            (
                "workload: []\ndistributed:\n  agents: []\n  tree_creation_mode: isolated\n  path_selection: random\n",
                "distributed.shared_filesystem",
                "missing field `shared_filesystem` at line 3 column 3",
            ),
            (
                "workload: []\ndistributed:\n  shared_filesystem: true\n  tree_creation_mode: isolated\n  path_selection: random\n  agents: [{id: a}]\n",
                "distributed.agents[0].address",
                "missing field `address` at line 6 column 12",
            ),
            (
                "workload: []\nmulti_endpoint:\n  strategy: round_robin\n",
                "multi_endpoint.endpoints",
                "missing field `endpoints` at line 3 column 3",
            ),
            (
                "workload: []\nprepare:\n  directory_structure: {width: 2.5, depth: 1}\n",
                "prepare.directory_structure.width",
                "Expected usize at line 3 column 24",
            ),
        ];
        for (yaml, field, reason) in cases {
            assert_eq!(
                refused(yaml),
                ((*field).to_owned(), (*reason).to_owned()),
                "{yaml}"
            );
        }
        assert_eq!(
            refused("prepare: 5\nworkload: []\n"),
            (
                "prepare".to_owned(),
                "invalid type: integer `5`, expected struct PrepareConfig at line 1 column 10"
                    .to_owned()
            )
        );
        assert!(matches!(parse("- a\n"), Err(Sai3Error::ParseConfig { .. })));
        assert!(matches!(
            parse("a: [b\n"),
            Err(Sai3Error::ParseConfig { .. })
        ));
    }

    #[test]
    fn counts_sizes_and_aliases() {
        let c = parse(
            "workload: []\nprepare:\n  directory_structure: {width: \"1_0\", depth: 2, files_per_dir: \"1,000\"}\n  ensure_objects:\n    - count: \"64 032 768\"\n      size_distribution: {type: lognormal, mean: 8MiB, std_dev: 1.5MB, min: 1k, max: 16777216}\n",
        )
        .expect("valid");
        let p = c.prepare.expect("prepare");
        let t = p.directory_structure.expect("tree");
        assert_eq!((t.width, t.depth, t.files_per_dir), (10, 2, 1000));
        assert_eq!(t.dir_mask, "sai3bench.d%d_w%d.dir");
        assert_eq!(p.ensure_objects[0].count, 64_032_768);
        match &p.ensure_objects[0].size_spec {
            Some(SizeSpec::Distribution(d)) => {
                assert_eq!(d.kind, DistributionType::Lognormal);
                assert_eq!((d.min, d.max), (Some(1000), Some(16_777_216)));
                assert_eq!(
                    (d.params.mean, d.params.std_dev),
                    (Some(8 << 20), Some(1_500_000))
                );
            }
            other => panic!("{other:?}"),
        }
        for bad in ["\"8 MiB\"", "100B", "\"1,000\"", "Uniform"] {
            let yaml = format!(
                "workload: []\nprepare:\n  ensure_objects:\n    - count: 1\n      size_spec: {{type: uniform, min: {bad}}}\n"
            );
            let (field, reason) = refused(&yaml);
            assert_eq!(field, "prepare.ensure_objects[0]", "{bad}");
            assert!(reason.contains("untagged enum SizeSpec"), "{bad}: {reason}");
        }
    }

    #[test]
    fn rmdir_counts_as_delete_and_weights_do_not_matter() {
        let c = parse(
            "workload:\n  - {op: rmdir, path: d, weight: 0}\n  - {op: stat, path: x, weight: 1}\n",
        )
        .expect("valid");
        assert!(c.needs_separate_pools());
        let c = parse(
            "workload:\n  - {op: delete, path: d, weight: 1}\n  - {op: list, path: x, weight: 1}\n",
        )
        .expect("valid");
        assert!(!c.needs_separate_pools());
    }
}
