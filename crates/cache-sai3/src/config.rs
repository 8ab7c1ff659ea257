//! The parts of a sai3-bench YAML config that define a dataset, read as sai3-bench writes them.
//!
//! Only `prepare`, `multi_endpoint`, `target`, `distributed.agents` and the `op` of each
//! `workload` entry are read; every other section and field (duration, concurrency,
//! credentials, perf_log, ...) is accepted and ignored. Validation happens in
//! [`crate::dataset::Dataset::from_config`], which names the field of every error.

use std::path::Path;

use serde::Deserialize;

use crate::error::Sai3Error;
use crate::numbers::Scalar;

/// A sai3-bench config, dataset-defining parts only.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Sai3Config {
    /// Base URI that relative paths resolve against.
    #[serde(default)]
    pub target: Option<String>,
    /// The prepare section.
    #[serde(default)]
    pub prepare: Option<PrepareSection>,
    /// Top-level endpoint list.
    #[serde(default)]
    pub multi_endpoint: Option<MultiEndpointSection>,
    /// Distributed mode (agents).
    #[serde(default)]
    pub distributed: Option<DistributedSection>,
    /// Workload operations (only `op` is read: DELETE plus GET/STAT means two pools).
    #[serde(default)]
    pub workload: Vec<WorkloadOp>,
}

/// `prepare:`
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PrepareSection {
    /// `ensure_objects:` entries.
    #[serde(default)]
    pub ensure_objects: Vec<EnsureObjects>,
    /// `directory_structure:`
    #[serde(default)]
    pub directory_structure: Option<DirectoryStructure>,
    /// `key_prefix_shards:` (flat datasets only).
    #[serde(default)]
    pub key_prefix_shards: Option<Scalar>,
}

/// `prepare.directory_structure:`
#[derive(Debug, Clone, Deserialize)]
pub struct DirectoryStructure {
    /// Subdirectories per directory.
    pub width: Scalar,
    /// Levels.
    pub depth: Scalar,
    /// Files per directory (default 0).
    #[serde(default)]
    pub files_per_dir: Option<Scalar>,
    /// `bottom` (default) or `all`.
    #[serde(default)]
    pub distribution: Option<String>,
    /// Directory name mask (default `sai3bench.d%d_w%d.dir`).
    #[serde(default)]
    pub dir_mask: Option<String>,
}

/// One `prepare.ensure_objects[]` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct EnsureObjects {
    /// Where the objects go (default: the first `multi_endpoint` endpoint).
    #[serde(default)]
    pub base_uri: Option<String>,
    /// How many objects.
    pub count: Scalar,
    /// Legacy fixed/uniform size bounds (sai3-bench default 1 MiB each).
    #[serde(default)]
    pub min_size: Option<Scalar>,
    /// Legacy fixed/uniform size bounds.
    #[serde(default)]
    pub max_size: Option<Scalar>,
    /// Sizes: a number, or a distribution.
    #[serde(default, alias = "size_distribution")]
    pub size_spec: Option<SizeSpecSection>,
    /// `zero`, `random` (default) or `prand`.
    #[serde(default)]
    pub fill: Option<String>,
    /// Dedup factor of generated data (default 1).
    #[serde(default)]
    pub dedup_factor: Option<Scalar>,
    /// Compress factor of generated data (default 1).
    #[serde(default)]
    pub compress_factor: Option<Scalar>,
}

/// `size_spec:` / `size_distribution:`
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SizeSpecSection {
    /// A fixed size ("8MiB" or 8388608).
    Fixed(Scalar),
    /// A distribution.
    Distribution {
        /// `uniform` or `lognormal`.
        #[serde(rename = "type")]
        kind: String,
        /// Lower bound.
        #[serde(default)]
        min: Option<Scalar>,
        /// Upper bound.
        #[serde(default)]
        max: Option<Scalar>,
        /// Lognormal mean (linear space).
        #[serde(default)]
        mean: Option<Scalar>,
        /// Lognormal standard deviation (linear space).
        #[serde(default)]
        std_dev: Option<Scalar>,
    },
}

/// `multi_endpoint:`
#[derive(Debug, Clone, Deserialize)]
pub struct MultiEndpointSection {
    /// `round_robin` (default) or `least_connections`.
    #[serde(default)]
    pub strategy: Option<String>,
    /// Endpoint URIs (1 to 32).
    #[serde(default)]
    pub endpoints: Vec<String>,
}

/// `distributed:`
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DistributedSection {
    /// The agents, in order (file `i` goes to agent `i % agents`).
    #[serde(default)]
    pub agents: Vec<AgentEntry>,
}

/// One agent (its address is not part of the dataset and is never hashed).
#[derive(Debug, Clone, Deserialize)]
pub struct AgentEntry {
    /// `host:port`.
    #[serde(default)]
    pub address: Option<String>,
    /// Per-agent endpoint list.
    #[serde(default)]
    pub multi_endpoint: Option<MultiEndpointSection>,
}

/// One workload entry; only the operation matters here.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkloadOp {
    /// `get`, `put`, `delete`, `stat`, `list`, ...
    #[serde(default)]
    pub op: Option<String>,
}

impl Sai3Config {
    /// Parses YAML text; `path` only names the source in errors.
    ///
    /// # Errors
    /// [`Sai3Error::ParseConfig`] with the parser's line and column.
    pub fn parse(text: &str, path: &Path) -> Result<Self, Sai3Error> {
        serde_norway::from_str(text).map_err(|e| Sai3Error::ParseConfig {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Reads and parses a config file.
    ///
    /// # Errors
    /// [`Sai3Error::ReadConfig`] or [`Sai3Error::ParseConfig`].
    pub fn load(path: &Path) -> Result<Self, Sai3Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Sai3Error::ReadConfig {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// True when the workload deletes objects and also reads them (sai3-bench then prepares a
    /// separate `deletable` pool next to the read-only `prepared` one).
    pub fn needs_separate_pools(&self) -> bool {
        let has = |names: &[&str]| {
            self.workload.iter().any(|w| {
                w.op.as_deref()
                    .is_some_and(|op| names.contains(&op.to_ascii_lowercase().as_str()))
            })
        };
        has(&["delete"]) && has(&["get", "stat"])
    }
}
