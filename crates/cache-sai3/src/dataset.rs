//! The dataset a sai3-bench v0.8.97 config defines, as sai3-bench's prepare writes it: naming,
//! pools of objects, the agents that write them, the storage namespaces they land in, and the
//! config hash that identifies it.
//!
//! # Views
//!
//! [`Dataset::load`] / [`Dataset::from_config`] give the **controller's view**: every agent's
//! pools. [`Dataset::for_agent`] gives **agent `k`'s view**: only the pools agent `k` writes and
//! the namespaces they use. Both carry the same [`Dataset::hash`] (the whole dataset's), and a
//! pool has the same id in every view: ids are assigned densely in the controller's view, so
//! an agent's view holds a subset of them (gaps allowed). Look pools up with
//! [`Dataset::pool`] and size per-pool-id tables with [`Dataset::pool_id_limit`]; in the
//! controller's view `pools[id]` is pool `id`. A config without `distributed` (or with
//! `agents: []`) is standalone: one agent (index 0, `agents = 1`), whose view is the dataset.
//!
//! # What each agent is told (sai3-bench's controller, `controller.rs`, `config.rs:941-988`)
//!
//! Agent `k` (its position in `distributed.agents`, `N` agents) gets the config with its own
//! `multi_endpoint` replacing the top-level one and its `target_override` replacing `target`.
//! With isolated storage (`shared_filesystem: false`) and a `target`, every entry's explicit
//! `base_uri` gets the prefix `agent-{k+1}/` of sai3-bench's default `--path-template` (inserted
//! where `target` ends when the base starts with it, appended otherwise); `multi_endpoint`
//! endpoints are never prefixed.
//!
//! # Pools
//!
//! One pool per agent per `ensure_objects` entry, twice (`prepared`, `deletable`) for flat names
//! when the workload deletes (`delete`, `rmdir`) and reads (`get`, `stat`):
//!
//! | strategy | share of agent `k` | endpoint of index `i` ([`Rule`]) | size seed |
//! |---|---|---|---|
//! | `sequential` (default) | `i % N == k` when `N > 1` | `multi_endpoint`: picked by s3dlio at run time ([`Rule::Runtime`]; [`Rule::Modulo`] if every slot is one namespace); else `base_uri` | explicit `base_uri`, else `endpoints[0]` |
//! | `parallel` | `i % N == k` when shared storage and `N > 1`, else every index | `endpoints[i % E]` ([`Rule::Modulo`]); `base_uri` ignored with `multi_endpoint` | `endpoints[0]`, else `base_uri` |
//!
//! Sequential with `multi_endpoint` and an explicit `base_uri` writes through s3dlio's
//! `MultiEndpointStore`, which re-roots each object URI on the endpoint it picks: a relative
//! base (`data/`) under every endpoint, an absolute one under the endpoint it starts with (its
//! rest kept) or, matching none, unchanged. Pools of different agents (or entries) that name
//! the same objects on the same namespaces are merged into one pool with a warning.
//!
//! # Namespaces
//!
//! [`Dataset::endpoints`] lists the distinct storage namespaces ([`namespace_of`]) the pools'
//! slots reach, each by the first URI seen for it; [`Dataset::endpoint_uris`] lists every URI
//! seen for it. A pool's [`Pool::endpoints`] are its slots in placement order, as indices into
//! that list (several URIs of one namespace repeat one index).
//!
//! ```
//! use cache_sai3::dataset::Dataset;
//! let yaml = r#"
//! prepare:
//!   ensure_objects:
//!     - { base_uri: "s3://bench/data/", count: 1000, size_spec: 4096 }
//! workload:
//!   - { op: get, path: "*", weight: 100 }
//! "#;
//! let dataset = Dataset::from_yaml(yaml, "inline")?;
//! assert_eq!(dataset.endpoints, ["s3://bench/data/"]);
//! assert_eq!(dataset.total_objects(), 1000);
//! let pool = &dataset.pools[0];
//! let path = dataset.path_of(pool, 7).expect("in the pool");
//! assert_eq!(dataset.parse_path(pool, &path), Some(7));
//! # Ok::<(), cache_sai3::Sai3Error>(())
//! ```

use std::collections::BTreeSet;
use std::path::Path;

pub use crate::config::PrepareStrategy;
use crate::config::{
    DistributedSection, EnsureObjects, FillPattern, MultiEndpointSection, OpSpec, PrepareSection,
    Sai3Config, SizeDistribution, SizeSpec as ConfigSizeSpec, TreeCreationMode,
};
use crate::config_hash::ConfigHash;
use crate::error::{ConfigError, Sai3Error};
use crate::naming::{Distribution, PoolKind, TreeLayout, flat_path, parse_flat_path};
use crate::placement::{Rule, Share};
use crate::sizes::{Fill, SizeSpec};
use crate::store::{EndpointTarget, parse_endpoint};

/// Most endpoints one `multi_endpoint` list may hold (s3dlio's `MAX_ENDPOINTS`).
const MAX_ENDPOINTS: usize = 32;

/// How s3dlio balances a `multi_endpoint` list (`multi_endpoint.strategy`). Recorded only:
/// where objects are follows from [`Rule`].
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// let dataset = Dataset::load(&config)?;
/// use cache_sai3::dataset::Balance;
/// assert_eq!(dataset.balance, Balance::RoundRobin); // no `strategy` in the config
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Balance {
    /// `round_robin` (also `roundrobin`, any case).
    RoundRobin,
    /// `least_connections` (also `leastconnections`, any case).
    LeastConnections,
}

impl Balance {
    /// The canonical spelling.
    ///
    /// ```
    /// use cache_sai3::dataset::Balance;
    /// assert_eq!(Balance::LeastConnections.as_str(), "least_connections");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Balance::RoundRobin => "round_robin",
            Balance::LeastConnections => "least_connections",
        }
    }

    /// Parses a strategy as sai3-bench's `create_multi_endpoint_store` does (case-insensitive).
    ///
    /// # Errors
    /// sai3-bench's `Invalid load_balance_strategy '{}': must be 'round_robin' or
    /// 'least_connections'`, naming `field`.
    pub(crate) fn parse(text: &str, field: &str) -> Result<Self, ConfigError> {
        match text.to_lowercase().as_str() {
            "round_robin" | "roundrobin" => Ok(Balance::RoundRobin),
            "least_connections" | "leastconnections" => Ok(Balance::LeastConnections),
            _ => Err(ConfigError::field(
                field,
                format!(
                    "Invalid load_balance_strategy '{text}': must be 'round_robin' or 'least_connections'"
                ),
            )),
        }
    }
}

/// One set of objects: an `ensure_objects` entry as one agent writes it (a `prepared` or a
/// `deletable` pool).
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// let dataset = Dataset::load(&config)?;
/// let pool = &dataset.pools[0];
/// assert_eq!((pool.id, pool.count, pool.endpoints.as_slice()), (0, 8, &[0, 1][..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// The pool's number in keys; the same in the controller's and every agent's view.
    pub id: u16,
    /// Which `ensure_objects` entry it comes from.
    pub ensure_index: u16,
    /// Prepared or deletable (names flat files; trees use tree names).
    pub kind: PoolKind,
    /// Indices are `0..count` (the pool holds those in its [`Pool::share`]).
    pub count: u64,
    /// Object sizes.
    pub size: SizeSpec,
    /// Object content.
    pub fill: Fill,
    /// sai3-bench dedup factor (part of the data's definition).
    pub dedup_factor: u64,
    /// sai3-bench compress factor (part of the data's definition).
    pub compress_factor: u64,
    /// The agent that writes it (the lowest of [`Pool::writers`]); `None` for a standalone
    /// config.
    pub agent: Option<u32>,
    /// Every agent that writes it: one, unless the identical pools of several agents were
    /// merged; `[0]` for a standalone config.
    pub writers: Vec<u32>,
    /// The indices of `0..count` it holds.
    pub share: Share,
    /// How the endpoint of an index is chosen among [`Pool::endpoints`].
    pub rule: Rule,
    /// The exact string sai3-bench folds into this pool's size seed
    /// ([`crate::sizes::seed_of`]), as written (after the agent's prefix and overrides).
    pub size_seed_uri: String,
    /// The pool's slots in placement order, as indices into [`Dataset::endpoints`].
    pub endpoints: Vec<u16>,
}

impl Pool {
    /// How many objects the pool holds (its share of `0..count`).
    ///
    /// ```
    /// use cache_sai3::dataset::Dataset;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = Dataset::load(&config)?;
    /// assert_eq!(dataset.pools[0].objects(), 8); // one writer: every index
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn objects(&self) -> u64 {
        self.share.count_of(self.count)
    }

    /// True when agent `agent` writes this pool.
    ///
    /// ```
    /// use cache_sai3::dataset::Dataset;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = Dataset::load(&config)?;
    /// let pool = &dataset.pools[0];
    /// assert!(pool.written_by(0) && !pool.written_by(1)); // standalone: agent 0
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn written_by(&self, agent: u32) -> bool {
        self.writers.contains(&agent)
    }
}

/// A validated dataset: the controller's view or one agent's (module docs).
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// let dataset = Dataset::load(&config)?;
/// assert_eq!((dataset.agents, dataset.agent, dataset.pools.len()), (1, None, 1));
/// assert!(dataset.endpoints[1].ends_with("/ep1/"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The tree, or `None` for flat naming.
    pub tree: Option<TreeLayout>,
    /// Flat key-prefix shards (0: none).
    pub key_prefix_shards: u32,
    /// `prepare.prepare_strategy`.
    pub prepare_strategy: PrepareStrategy,
    /// Whether the agents share storage (`distributed.shared_filesystem`; standalone: true).
    pub shared_storage: bool,
    /// Pools of objects, sorted by id (a subset of the ids in an agent's view).
    pub pools: Vec<Pool>,
    /// One URI per storage namespace the pools reach: the first seen for it (normalized:
    /// one trailing `/`).
    pub endpoints: Vec<String>,
    /// Every URI seen for namespace `n` (normalized), first seen first.
    pub endpoint_uris: Vec<Vec<String>>,
    /// The balance of the first agent's `multi_endpoint` list (round robin without one).
    pub balance: Balance,
    /// Number of agents (1 for a standalone config).
    pub agents: u32,
    /// The view: `None` for the whole dataset (the controller's), `Some(k)` for agent `k`.
    pub agent: Option<u32>,
    /// Identity of the whole dataset (the same in every view).
    pub hash: ConfigHash,
    /// Things the user should know (ignored fields that look meaningful, merged pools, ...).
    pub warnings: Vec<String>,
    /// Whether the config has agents (`distributed.agents` not empty).
    distributed: bool,
    /// Per endpoint of this view, its index in the controller's [`Dataset::endpoints`].
    global: Vec<u16>,
    /// Per agent: its pool ids and, per namespace (controller index), the URIs it uses
    /// (controller's view only).
    reach: Vec<AgentReach>,
}

/// What one agent writes and by which URIs it reaches each namespace.
#[derive(Debug, Clone, Default)]
struct AgentReach {
    pools: BTreeSet<u16>,
    /// `(namespace in the controller's view, URIs)`, in namespace order.
    uris: Vec<(u16, Vec<String>)>,
}

impl AgentReach {
    fn saw(&mut self, namespace: u16, uri: &str) {
        let at = self.uris.partition_point(|(n, _)| *n < namespace);
        match self.uris.get_mut(at) {
            Some((n, list)) if *n == namespace => {
                if !list.iter().any(|u| u == uri) {
                    list.push(uri.to_owned());
                }
            }
            _ => self.uris.insert(at, (namespace, vec![uri.to_owned()])),
        }
    }
}

/// The storage namespace a URI reaches: URIs that differ only in how the storage is reached
/// (the host of sai3-bench's `s3://host:port/bucket/prefix/` form, `file://` vs `direct://`,
/// redundant `/`) reach the same objects and give the same namespace.
///
/// * `s3`: `s3://BUCKET/PREFIX/` (bucket and key prefix; the host is ignored, so several IPs
///   or names of one S3 cluster are one namespace);
/// * `az`: `az://ACCOUNT/CONTAINER/PREFIX/`;
/// * `gs` (and `gcs`): `gs://BUCKET/PREFIX/`;
/// * `file` and `direct`: `file:///PATH/` (the same files either way).
///
/// Empty path segments are dropped; the URI is parsed as [`crate::store::parse_endpoint`]
/// opens it. A URI it cannot parse is its own namespace.
///
/// sai3-bench's own `endpoints_share_storage` (`metadata_cache.rs`) compares differently: for
/// `s3://` it keeps only the first path segment (for the host-less form that is the *prefix*,
/// so `s3://b/p1/` and `s3://b/p2/` are "independent" while `s3://b1/data/` and
/// `s3://b2/data/` are "shared"), for `az://` the container without the account. It only picks
/// which of sai3-bench's own cache checkpoints to write and never decides where an object
/// goes; this function follows where the objects are, which is what sai3-cache caches.
///
/// ```
/// use cache_sai3::dataset::namespace_of;
/// assert_eq!(namespace_of("s3://10.0.0.1:9000/bench/data"), "s3://bench/data/");
/// assert_eq!(namespace_of("s3://10.0.0.2:9000/bench/data/"), "s3://bench/data/");
/// assert_ne!(namespace_of("s3://bench/p1/"), namespace_of("s3://bench/p2/"));
/// assert_eq!(namespace_of("direct:///mnt//a/"), "file:///mnt/a/");
/// ```
pub fn namespace_of(uri: &str) -> String {
    let with_prefix = |head: String, prefix: &str| {
        if prefix.is_empty() {
            format!("{head}/")
        } else {
            format!("{head}/{prefix}/")
        }
    };
    match parse_endpoint(uri) {
        Ok(EndpointTarget::Local(path)) => {
            let parts: Vec<String> = path
                .components()
                .filter_map(|c| match c {
                    std::path::Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect();
            with_prefix("file://".to_owned(), &parts.join("/"))
        }
        Ok(EndpointTarget::S3 { bucket, prefix, .. }) => {
            with_prefix(format!("s3://{bucket}"), &prefix)
        }
        Ok(EndpointTarget::Azure {
            account,
            container,
            prefix,
        }) => with_prefix(format!("az://{account}/{container}"), &prefix),
        Ok(EndpointTarget::Gcs { bucket, prefix }) => {
            with_prefix(format!("gs://{bucket}"), &prefix)
        }
        Err(_) => uri.to_owned(),
    }
}

/// The scheme prefixes s3dlio recognizes (`infer_scheme`: case-sensitive).
const SCHEMES: [&str; 6] = ["file://", "direct://", "s3://", "az://", "gs://", "gcs://"];

/// Validates an endpoint URI as sai3-bench uses it (verbatim) and returns it normalized: one
/// trailing `/` (`join(uri, name)` of sai3-bench equals `normalized + name`).
///
/// # Errors
/// s3dlio's `Unable to infer backend from URI: {uri}` for a relative URI or an unknown (or
/// upper-case) scheme; sai3-cache's own reasons for what it cannot open (a `file://` path that
/// is not absolute, Azure `https://` URIs, an S3 URI without a bucket).
fn normalize_endpoint(uri: &str, field: &str) -> Result<String, ConfigError> {
    if !SCHEMES.iter().any(|s| uri.starts_with(s)) {
        if uri.contains(".blob.core.windows.net/") {
            return Err(ConfigError::field(
                field,
                format!(
                    "{uri}: sai3-cache does not open Azure https:// URIs; write it as \
                     az://ACCOUNT/CONTAINER/PREFIX/"
                ),
            ));
        }
        return Err(ConfigError::field(
            field,
            format!("Unable to infer backend from URI: {uri}"),
        ));
    }
    let (_, rest) = uri.split_once("://").unwrap_or((uri, ""));
    if (uri.starts_with("file://") || uri.starts_with("direct://")) && !rest.starts_with('/') {
        return Err(ConfigError::field(
            field,
            format!(
                "{uri}: sai3-cache needs an absolute path (file:///data/bench/); sai3-bench \
                 would resolve this one against its working directory"
            ),
        ));
    }
    parse_endpoint(uri).map_err(|e| ConfigError::field(field, e.to_string()))?;
    let mut out = uri.to_owned();
    if !out.ends_with('/') {
        out.push('/');
    }
    Ok(out)
}

/// sai3-bench's `join_uri_path(base, suffix)` (`config.rs:1052-1087`).
fn join_uri_path(base: &str, suffix: &str) -> String {
    if suffix.is_empty() {
        return base.to_owned();
    }
    let suffix = suffix.trim_start_matches('/');
    let (scheme, path) = match base.find("://") {
        Some(at) => base.split_at(at + 3),
        None => ("", base),
    };
    if path.is_empty() || path.ends_with('/') {
        format!("{scheme}{path}{suffix}")
    } else {
        format!("{scheme}{path}/{suffix}")
    }
}

/// `uri` with one trailing `/` added if it has none (sai3-bench's `join(uri, name)` base).
fn slashed(uri: &str) -> String {
    if uri.ends_with('/') {
        uri.to_owned()
    } else {
        format!("{uri}/")
    }
}

// ------------------------------------------------------------------------------------------
// What the config says, per agent.

/// The config one agent receives from the controller (standalone: the config itself).
#[derive(Debug, Clone)]
struct AgentSetup<'a> {
    /// Position in `distributed.agents` (0 standalone).
    index: u32,
    /// Its effective `target` (the override, if any), before the prefix.
    target: Option<&'a str>,
    /// `agent-{k+1}/` with isolated storage, else empty.
    prefix: String,
    /// Its effective `multi_endpoint` list and that list's field path.
    multi: Option<(&'a MultiEndpointSection, String)>,
    /// `distributed.agents[k]` for messages (empty standalone).
    label: String,
}

impl AgentSetup<'_> {
    /// The entry's `base_uri` after `Config::apply_agent_prefix` (only with a prefix and a
    /// `target`, only to explicit base URIs).
    fn base_uri(&self, entry: &EnsureObjects) -> Option<String> {
        let base = entry.base_uri.as_deref()?;
        match self.target {
            Some(target) if !self.prefix.is_empty() => Some(match base.strip_prefix(target) {
                Some(rest) => format!("{}{rest}", join_uri_path(target, &self.prefix)),
                None => join_uri_path(base, &self.prefix),
            }),
            _ => Some(base.to_owned()),
        }
    }

    /// `who` for error messages: ` (agent k, distributed.agents[k])` or nothing.
    fn who(&self) -> String {
        if self.label.is_empty() {
            String::new()
        } else {
            format!(" (agent {}, {})", self.index, self.label)
        }
    }
}

/// Dataset-wide facts.
#[derive(Debug, Clone)]
struct Layout {
    tree: Option<TreeLayout>,
    shards: u32,
    strategy: PrepareStrategy,
    kinds: &'static [PoolKind],
    agents: u32,
    shared: bool,
}

/// What one entry says about its objects (every pool made from it shares it).
#[derive(Debug, Clone)]
struct EntryObjects {
    count: u64,
    size: SizeSpec,
    fill: Fill,
    dedup_factor: u64,
    compress_factor: u64,
}

/// A pool before namespaces are numbered.
#[derive(Debug, Clone)]
struct Draft {
    ensure_index: u16,
    kind: PoolKind,
    objects: EntryObjects,
    agent: u32,
    share: Share,
    rule: Rule,
    seed: String,
    /// Normalized root URI of each slot, in placement order.
    roots: Vec<String>,
}

/// The agents of a config, in order, with what each is told.
fn agent_setups<'a>(
    config: &'a Sai3Config,
    warnings: &mut Vec<String>,
) -> (Vec<AgentSetup<'a>>, Option<&'a DistributedSection>) {
    let global = config
        .multi_endpoint
        .as_ref()
        .map(|m| (m, "multi_endpoint".to_owned()));
    let dist = match &config.distributed {
        Some(d) if d.agents.is_empty() => {
            warnings.push(
                "distributed.agents is empty: read as a standalone config (one agent); \
                 sai3-bench's controller would wait for agents and time out"
                    .into(),
            );
            None
        }
        other => other.as_ref(),
    };
    let Some(d) = dist else {
        let standalone = AgentSetup {
            index: 0,
            target: config.target.as_deref(),
            prefix: String::new(),
            multi: global,
            label: String::new(),
        };
        return (vec![standalone], None);
    };
    let setups = d
        .agents
        .iter()
        .enumerate()
        .map(|(k, a)| AgentSetup {
            index: k as u32,
            target: a.target_override.as_deref().or(config.target.as_deref()),
            prefix: if d.shared_filesystem {
                String::new()
            } else {
                format!("agent-{}/", k + 1)
            },
            multi: match &a.multi_endpoint {
                Some(m) => Some((m, format!("distributed.agents[{k}].multi_endpoint"))),
                None => global.clone(),
            },
            label: format!("distributed.agents[{k}]"),
        })
        .collect();
    (setups, Some(d))
}

/// Warnings for fields sai3-bench ignores that users may think matter (one per field).
fn ignored_field_warnings(config: &Sai3Config, prepare: &PrepareSection) -> Vec<String> {
    let mut out = Vec::new();
    let entries = |pick: fn(&EnsureObjects) -> bool| -> Vec<String> {
        prepare
            .ensure_objects
            .iter()
            .enumerate()
            .filter(|(_, e)| pick(e))
            .map(|(i, _)| i.to_string())
            .collect()
    };
    let list = entries(|e| e.use_multi_endpoint.is_some());
    if !list.is_empty() {
        out.push(format!(
            "prepare.ensure_objects[{}].use_multi_endpoint is not a sai3-bench field and is \
             ignored: prepare uses the (agent's) multi_endpoint list whenever there is one",
            list.join(",")
        ));
    }
    let list = entries(|e| e.size.is_some());
    if !list.is_empty() {
        out.push(format!(
            "prepare.ensure_objects[{}].size is not a sai3-bench field and is ignored: sizes \
             come from size_spec (or min_size/max_size, 1 MiB by default)",
            list.join(",")
        ));
    }
    let Some(d) = &config.distributed else {
        return out;
    };
    if d.path_template.is_some() {
        out.push(
            "distributed.path_template is never read by sai3-bench: the agent prefix comes \
             from the controller's --path-template (default agent-{id}/, agent k gets \
             agent-{k+1}/)"
                .into(),
        );
    }
    let with = |pick: fn(&crate::config::AgentEntry) -> bool| -> Vec<String> {
        d.agents
            .iter()
            .enumerate()
            .filter(|(_, a)| pick(a))
            .map(|(i, _)| i.to_string())
            .collect()
    };
    let list = with(|a| a.path_template.is_some());
    if !list.is_empty() {
        out.push(format!(
            "distributed.agents[{}].path_template is never read by sai3-bench (the prefix is \
             agent-{{k+1}}/ from the controller's --path-template)",
            list.join(",")
        ));
    }
    let list = with(|a| a.id.is_some());
    if !list.is_empty() {
        out.push(format!(
            "distributed.agents[{}].id is only a label in sai3-bench's logs: an agent's \
             number (its share, its prefix agent-{{k+1}}/) is its position in the list",
            list.join(",")
        ));
    }
    out
}

// ------------------------------------------------------------------------------------------
// Endpoint lists.

/// Checks a `multi_endpoint` list as s3dlio builds its store (`create_multi_endpoint_store`,
/// `MultiEndpointStore::from_config`): non-empty, a known strategy, at most
/// [`MAX_ENDPOINTS`], one scheme, every endpoint usable.
fn check_list(m: &MultiEndpointSection, field: &str) -> Result<Balance, ConfigError> {
    let eps = format!("{field}.endpoints");
    if m.endpoints.is_empty() {
        return Err(ConfigError::field(
            &eps,
            "multi_endpoint.endpoints cannot be empty",
        ));
    }
    let balance = Balance::parse(&m.strategy, &format!("{field}.strategy"))?;
    if m.endpoints.len() > MAX_ENDPOINTS {
        return Err(ConfigError::field(
            &eps,
            format!(
                "Too many endpoints: {} exceeds maximum of {MAX_ENDPOINTS} (MAX_ENDPOINTS)",
                m.endpoints.len()
            ),
        ));
    }
    let scheme = |uri: &str, i: usize| {
        uri.find("://")
            .map(|at| uri[..at].to_lowercase())
            .ok_or_else(|| {
                ConfigError::field(
                    format!("{eps}[{i}]"),
                    format!("Invalid URI format (missing scheme): {uri}"),
                )
            })
    };
    let first = scheme(&m.endpoints[0], 0)?;
    for (i, uri) in m.endpoints.iter().enumerate().skip(1) {
        let s = scheme(uri, i)?;
        if s != first {
            return Err(ConfigError::field(
                format!("{eps}[{i}]"),
                format!("All endpoints must use the same URI scheme. Found {first} and {s}"),
            ));
        }
    }
    for (i, uri) in m.endpoints.iter().enumerate() {
        normalize_endpoint(uri, &format!("{eps}[{i}]"))?;
    }
    Ok(balance)
}

/// The top-level list as a standalone `sai3-bench run` validates it first
/// (`MultiEndpointConfig::validate()`, never called by the controller or the agents).
fn check_standalone_list(config: &Sai3Config) -> Result<(), ConfigError> {
    if let Some(m) = &config.multi_endpoint {
        if m.endpoints.is_empty() {
            return Err(ConfigError::field(
                "multi_endpoint.endpoints",
                "multi_endpoint.endpoints must contain at least 1 entry",
            ));
        }
        if m.endpoints.len() > MAX_ENDPOINTS {
            return Err(ConfigError::field(
                "multi_endpoint.endpoints",
                format!(
                    "multi_endpoint.endpoints has {} entries; maximum allowed is {MAX_ENDPOINTS} \
                     (s3dlio::constants::MAX_ENDPOINTS)",
                    m.endpoints.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Validates every effective `multi_endpoint` list once, as prepare builds its stores (only
/// when there is something to prepare); returns the first one's balance.
fn check_lists(setups: &[AgentSetup<'_>], prepares: bool) -> Result<Balance, ConfigError> {
    let mut balance = None;
    let mut checked: Vec<&str> = Vec::new();
    for s in setups {
        let Some((m, field)) = &s.multi else { continue };
        if !prepares || checked.contains(&field.as_str()) {
            continue;
        }
        checked.push(field.as_str());
        let b = check_list(m, field)?;
        balance.get_or_insert(b);
    }
    Ok(balance.unwrap_or(Balance::RoundRobin))
}

/// sai3-bench's controller-side refusals (`preflight/distributed.rs`, `controller.rs:3110`).
fn check_controller(
    config: &Sai3Config,
    d: &DistributedSection,
    prepare: &PrepareSection,
) -> Result<(), ConfigError> {
    let agent_lists = d.agents.iter().any(|a| a.multi_endpoint.is_some());
    for (i, e) in prepare.ensure_objects.iter().enumerate() {
        let field = format!("prepare.ensure_objects[{i}].base_uri");
        if !d.shared_filesystem
            && agent_lists
            && e.base_uri.is_some()
            && d.tree_creation_mode == TreeCreationMode::Isolated
        {
            return Err(ConfigError::field(
                field,
                "base_uri should not be specified in isolated mode with per-agent storage \
                 (sai3-bench's controller refuses it: remove base_uri, or set \
                 shared_filesystem: true, or tree_creation_mode: coordinator/concurrent)",
            ));
        }
        if !agent_lists && config.multi_endpoint.is_none() && e.base_uri.is_none() {
            return Err(ConfigError::field(
                field,
                "base_uri is required when no multi_endpoint configuration is present",
            ));
        }
    }
    for (k, a) in d.agents.iter().enumerate() {
        let concurrency = a.concurrency_override.unwrap_or(config.concurrency);
        let endpoints = a.multi_endpoint.as_ref().map_or(1, |m| m.endpoints.len());
        if concurrency < endpoints {
            let field = if a.concurrency_override.is_some() {
                format!("distributed.agents[{k}].concurrency_override")
            } else {
                "concurrency".to_owned()
            };
            return Err(ConfigError::field(
                field,
                format!(
                    "Agent '{}' has insufficient concurrency ({concurrency}) for {endpoints} \
                     endpoints. Minimum required: {endpoints}",
                    a.id.as_deref().unwrap_or("unknown")
                ),
            ));
        }
    }
    Ok(())
}

/// What sai3-bench's agents refuse before they prepare anything (`agent.rs`
/// `validate_workload_config`, the checks that depend on the config alone).
fn check_agent_workload(config: &Sai3Config, prepare: &PrepareSection) -> Result<(), ConfigError> {
    if config.workload.is_empty() && !prepare.cleanup_only.unwrap_or(false) {
        return Err(ConfigError::field(
            "workload",
            "No operations configured in workload (sai3-bench's agents refuse the config)",
        ));
    }
    for (i, w) in config.workload.iter().enumerate() {
        let problem = match &w.op {
            OpSpec::Put {
                path,
                object_size: None,
                size_spec: None,
                ..
            } => format!("PUT operation at '{path}' requires either 'object_size' or 'size_spec'"),
            OpSpec::Delete { path } if path.is_empty() => {
                "DELETE operation requires non-empty path".to_owned()
            }
            OpSpec::List { path } if path.is_empty() => {
                "LIST operation requires non-empty path".to_owned()
            }
            OpSpec::Stat { path } if path.is_empty() => {
                "STAT operation requires non-empty path".to_owned()
            }
            _ => continue,
        };
        return Err(ConfigError::field(format!("workload[{i}]"), problem));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Trees, counts and sizes.

/// The tree of `prepare.directory_structure`, or `None` for flat naming.
fn tree_layout(prepare: &PrepareSection) -> Result<Option<TreeLayout>, ConfigError> {
    let Some(d) = &prepare.directory_structure else {
        return Ok(None);
    };
    let Ok(depth) = u32::try_from(d.depth) else {
        // A width other than 1 is refused by sai3-bench's own checks long before.
        return Err(TreeLayout::new(d.width, 64, 0, Distribution::Bottom, "")
            .err()
            .unwrap_or_else(|| {
                ConfigError::field(
                    "prepare.directory_structure.depth",
                    format!(
                        "depth {} would give paths of more components than any storage \
                         names; sai3-cache reads depths up to {}",
                        d.depth,
                        u32::MAX
                    ),
                )
            }));
    };
    // sai3-bench checks width, depth and the directory count before the distribution, and the
    // file count after it.
    TreeLayout::new(d.width, depth, 0, Distribution::Bottom, &d.dir_mask)?;
    let dist = Distribution::parse(&d.distribution)?;
    let tree = TreeLayout::new(d.width, depth, d.files_per_dir, dist, &d.dir_mask)?;
    if prepare.ensure_objects.is_empty() {
        return Err(ConfigError::field(
            "prepare.ensure_objects",
            "directory_structure requires at least one ensure_objects entry",
        ));
    }
    Ok(Some(tree))
}

/// The pool kinds of each entry: `prepared` and `deletable` for flat names when the workload
/// deletes and reads; one for a tree (both passes of sai3-bench write the same tree paths).
fn pool_kinds(config: &Sai3Config, tree: Option<&TreeLayout>) -> &'static [PoolKind] {
    if config.needs_separate_pools() && tree.is_none() {
        &[PoolKind::Prepared, PoolKind::Deletable]
    } else {
        &[PoolKind::Prepared]
    }
}

/// With a `/` in a `bottom` tree's dir mask, sai3-bench names fewer files than its count check
/// wants (`TreeLayout::manifest_files`): sequential skips the rest, parallel writes them under
/// flat names at the endpoint root. Returns the warning, or refuses what cannot be modelled.
fn manifest_gap(config: &Sai3Config, layout: &Layout) -> Result<Option<String>, ConfigError> {
    let Some(t) = &layout.tree else {
        return Ok(None);
    };
    let (total, named) = (t.total_files(), t.manifest_files());
    if named == total {
        return Ok(None);
    }
    let field = "prepare.directory_structure.dir_mask";
    match layout.strategy {
        PrepareStrategy::Sequential => Ok(Some(format!(
            "{field} {:?} holds a '/': sai3-bench's manifest names only {named} of the {total} \
             files its count check wants, and its sequential prepare skips the rest; the \
             dataset has {named} objects per entry",
            t.dir_mask()
        ))),
        PrepareStrategy::Parallel if config.needs_separate_pools() => Err(ConfigError::field(
            field,
            format!(
                "{:?} holds a '/': sai3-bench's manifest disagrees with its own count ({named} \
                 named of {total}), and with separate prepared/deletable pools its parallel \
                 prepare writes the missing ones as both prepared-* and deletable-* while the \
                 named ones are shared; sai3-cache cannot model that; use a dir_mask without '/'",
                t.dir_mask()
            ),
        )),
        PrepareStrategy::Parallel => Ok(Some(format!(
            "{field} {:?} holds a '/': sai3-bench's manifest names only {named} of the {total} \
             files its count check wants; its parallel prepare writes indices {named}.. as flat \
             prepared-NNNNNNNN.dat at the endpoint root, and so does sai3-cache",
            t.dir_mask()
        ))),
    }
}

/// The `count` of an entry (tree: 0 means all files; anything else must equal them), the
/// count of its pools (sequential trees: only the files sai3-bench's manifest names).
fn entry_count(e: &EnsureObjects, field: &str, layout: &Layout) -> Result<u64, ConfigError> {
    let Some(t) = &layout.tree else {
        return Ok(e.count);
    };
    let total = t.total_files();
    if e.count != 0 && e.count != total {
        return Err(ConfigError::field(
            format!("{field}.count"),
            format!(
                "ensure_objects.count ({}) does not match directory tree total files ({total}). \
                 Set count to {total} or 0 to auto-calculate",
                e.count
            ),
        ));
    }
    Ok(match layout.strategy {
        PrepareStrategy::Sequential => t.manifest_files(),
        PrepareStrategy::Parallel => total,
    })
}

/// The sizes of a distribution map, with sai3-bench's defaults.
fn distribution_size(d: &SizeDistribution) -> Result<SizeSpec, String> {
    use crate::config::DistributionType;
    use crate::sizes::{
        LOGNORMAL_DEFAULT_MAX, LOGNORMAL_DEFAULT_MIN, UNIFORM_DEFAULT_MAX, UNIFORM_DEFAULT_MIN,
    };
    Ok(match d.kind {
        DistributionType::Uniform => SizeSpec::Uniform {
            min: d.min.unwrap_or(UNIFORM_DEFAULT_MIN),
            max: d.max.unwrap_or(UNIFORM_DEFAULT_MAX),
        },
        DistributionType::Lognormal => SizeSpec::Lognormal {
            mean: d
                .params
                .mean
                .ok_or("Lognormal distribution requires 'mean' parameter")?,
            std_dev: d
                .params
                .std_dev
                .ok_or("Lognormal distribution requires 'std_dev' parameter")?,
            min: d.min.unwrap_or(LOGNORMAL_DEFAULT_MIN),
            max: d.max.unwrap_or(LOGNORMAL_DEFAULT_MAX),
        },
    })
}

/// sai3-bench's default `min_size` and `max_size` (`DEFAULT_MIN_SIZE`, `DEFAULT_MAX_SIZE`).
const DEFAULT_SIZE: u64 = 1 << 20;

/// Reads and validates the objects of entry `e` (`field` is its path).
fn entry_objects(
    e: &EnsureObjects,
    field: &str,
    layout: &Layout,
) -> Result<EntryObjects, ConfigError> {
    let count = entry_count(e, field, layout)?;
    let (size, size_field) = match &e.size_spec {
        Some(ConfigSizeSpec::Fixed(n)) => (Ok(SizeSpec::Fixed(*n)), "size_spec"),
        Some(ConfigSizeSpec::Distribution(d)) => (distribution_size(d), "size_spec"),
        None => {
            let min = e.min_size.unwrap_or(DEFAULT_SIZE);
            let max = e.max_size.unwrap_or(DEFAULT_SIZE);
            let spec = if min == max {
                SizeSpec::Fixed(min)
            } else {
                SizeSpec::Uniform { min, max }
            };
            (Ok(spec), "min_size")
        }
    };
    let size_field = format!("{field}.{size_field}");
    let size = size.map_err(|reason| ConfigError::field(&size_field, reason))?;
    // sai3-bench builds the generator (and so checks the spec) only for objects to write.
    if count > 0 {
        size.validate()
            .map_err(|e| ConfigError::field(&size_field, e.to_string()))?;
    }
    let fill = match e.fill {
        FillPattern::Zero => Fill::Zero,
        FillPattern::Random => Fill::Random,
        FillPattern::Prand => Fill::Prand,
    };
    Ok(EntryObjects {
        count,
        size,
        fill,
        dedup_factor: e.dedup_factor as u64,
        compress_factor: e.compress_factor as u64,
    })
}

// ------------------------------------------------------------------------------------------
// Slots: where each agent's pool writes.

/// s3dlio's `rewrite_uri_for_endpoint` of an object URI (here: of its base, `uri` ending in
/// `/`) for `endpoint`, given the list's `prefixes`.
fn rewrite_for_endpoint(uri: &str, endpoint: &str, prefixes: &[String]) -> Option<String> {
    let onto = |path: &str| {
        if endpoint.ends_with('/') {
            format!("{endpoint}{path}")
        } else {
            format!("{endpoint}/{path}")
        }
    };
    if !uri.contains("://") {
        return Some(if endpoint.ends_with('/') {
            format!("{endpoint}{}", uri.trim_start_matches('/'))
        } else {
            format!("{endpoint}/{uri}")
        });
    }
    for p in prefixes {
        if let Some(path) = uri.strip_prefix(p.as_str()) {
            return Some(onto(path));
        }
        let bare = p.trim_end_matches('/');
        if let Some(path) = uri.strip_prefix(bare).and_then(|r| r.strip_prefix('/')) {
            return Some(onto(path));
        }
    }
    None
}

/// The slot roots (normalized) and the size seed of one entry's pool on one agent.
fn slots(
    setup: &AgentSetup<'_>,
    entry: &EnsureObjects,
    field: &str,
    strategy: PrepareStrategy,
) -> Result<(Vec<String>, String), ConfigError> {
    let base = setup.base_uri(entry);
    let base_field = format!("{field}.base_uri");
    let list = setup.multi.as_ref().map(|(m, _)| &m.endpoints);
    let list_field = setup
        .multi
        .as_ref()
        .map_or(String::new(), |(_, f)| format!("{f}.endpoints"));
    let normalized = |uris: &[String], field: &str| -> Result<Vec<String>, ConfigError> {
        uris.iter().map(|u| normalize_endpoint(u, field)).collect()
    };
    match (strategy, list, base) {
        (PrepareStrategy::Parallel, Some(eps), _) => {
            Ok((normalized(eps, &list_field)?, eps[0].clone()))
        }
        (_, None, Some(b)) => Ok((vec![normalize_endpoint(&b, &base_field)?], b)),
        (_, None, None) => Err(ConfigError::field(
            base_field,
            format!(
                "Failed to determine base_uri for prepare phase: base_uri is required when no \
                 multi_endpoint configuration is provided{}",
                setup.who()
            ),
        )),
        (PrepareStrategy::Sequential, Some(eps), None) => {
            Ok((normalized(eps, &list_field)?, eps[0].clone()))
        }
        (PrepareStrategy::Sequential, Some(eps), Some(b)) => {
            let prefixes: Vec<String> = eps.iter().map(|e| slashed(e)).collect();
            let roots: Option<Vec<String>> = eps
                .iter()
                .map(|ep| rewrite_for_endpoint(&slashed(&b), ep, &prefixes))
                .collect();
            match roots {
                Some(roots) => Ok((normalized(&roots, &base_field)?, b)),
                None => {
                    let root = normalize_endpoint(&b, &base_field)?;
                    if !eps[0].starts_with(&b[..b.find("://").map_or(0, |at| at + 3)]) {
                        return Err(ConfigError::field(
                            base_field,
                            format!(
                                "{b}: sai3-bench's sequential prepare sends this entry's PUTs \
                                 through the multi_endpoint stores ({}), which cannot write \
                                 another scheme{}",
                                eps[0],
                                setup.who()
                            ),
                        ));
                    }
                    Ok((vec![root], b))
                }
            }
        }
    }
}

/// sai3-bench's finalize step creates the tree's directories on `ensure_objects[0]`'s base
/// (`get_base_uri(multi)`), after every file is written: a base it cannot open fails the run.
fn check_tree_base(
    prepare: &PrepareSection,
    setups: &[AgentSetup<'_>],
    layout: &Layout,
) -> Result<(), ConfigError> {
    if layout.tree.is_none() {
        return Ok(());
    }
    let Some(first) = prepare.ensure_objects.first() else {
        return Ok(());
    };
    for s in setups {
        if let Some(b) = s.base_uri(first) {
            normalize_endpoint(&b, "prepare.ensure_objects[0].base_uri").map_err(|mut e| {
                e.reason.push_str(&format!(
                    " (sai3-bench writes every file, then fails to create the tree's \
                     directories under ensure_objects[0].base_uri{})",
                    s.who()
                ));
                e
            })?;
        }
    }
    Ok(())
}

/// Agent `setup`'s pool of entry `e` and `kind`.
fn draft(
    setup: &AgentSetup<'_>,
    (e_idx, entry): (usize, &EnsureObjects),
    objects: &EntryObjects,
    kind: PoolKind,
    layout: &Layout,
) -> Result<Draft, ConfigError> {
    let field = format!("prepare.ensure_objects[{e_idx}]");
    let (roots, seed) = slots(setup, entry, &field, layout.strategy)?;
    let modulo = Share::Modulo {
        agents: layout.agents,
        agent: setup.index,
    };
    let (share, rule) = match layout.strategy {
        PrepareStrategy::Sequential => (
            if layout.agents > 1 {
                modulo
            } else {
                Share::All
            },
            if setup.multi.is_some() {
                Rule::Runtime
            } else {
                Rule::Modulo
            },
        ),
        PrepareStrategy::Parallel => (
            if layout.shared && layout.agents > 1 {
                modulo
            } else {
                Share::All
            },
            Rule::Modulo,
        ),
    };
    Ok(Draft {
        ensure_index: e_idx as u16,
        kind,
        objects: objects.clone(),
        agent: setup.index,
        share,
        rule,
        seed,
        roots,
    })
}

// ------------------------------------------------------------------------------------------
// Assembly: namespaces, merging, collisions.

/// The namespaces seen so far.
#[derive(Default)]
struct Namespaces {
    keys: Vec<String>,
    uris: Vec<Vec<String>>,
}

impl Namespaces {
    fn index_of(&mut self, uri: &str) -> Result<u16, ConfigError> {
        let key = namespace_of(uri);
        let n = match self.keys.iter().position(|k| *k == key) {
            Some(n) => n,
            None => {
                self.keys.push(key);
                self.uris.push(Vec::new());
                self.keys.len() - 1
            }
        };
        if !self.uris[n].iter().any(|u| u == uri) {
            self.uris[n].push(uri.to_owned());
        }
        u16::try_from(n)
            .map_err(|_| ConfigError::field("multi_endpoint", "more than 65535 storage namespaces"))
    }
}

/// True when pools `a` and `b` (slots `sa`, `sb`) may write the same name to the same place.
fn overlaps(a: &Pool, b: &Draft, slots_b: &[u16], tree: bool) -> bool {
    let names = tree || a.kind == b.kind;
    let shares = match (a.share, b.share) {
        (Share::All, _) | (_, Share::All) => true,
        (x, y) => x == y,
    };
    let places = a.endpoints.iter().any(|s| slots_b.contains(s));
    names && shares && places && a.count > 0 && b.objects.count > 0
}

/// True when `b` names exactly `a`'s objects (it may differ in agent, share and seed).
fn same_objects(a: &Pool, b: &Draft, slots_b: &[u16]) -> bool {
    a.endpoints == slots_b
        && a.rule == b.rule
        && a.count == b.objects.count
        && a.size == b.objects.size
        && a.fill == b.objects.fill
        && a.dedup_factor == b.objects.dedup_factor
        && a.compress_factor == b.objects.compress_factor
}

/// The pools (merged where identical), the namespaces and every agent's reach.
struct Assembled {
    pools: Vec<Pool>,
    namespaces: Namespaces,
    reach: Vec<AgentReach>,
    warnings: Vec<String>,
}

fn assemble(
    drafts: Vec<Draft>,
    layout: &Layout,
    distributed: bool,
) -> Result<Assembled, ConfigError> {
    let mut out = Assembled {
        pools: Vec::new(),
        namespaces: Namespaces::default(),
        reach: vec![AgentReach::default(); layout.agents as usize],
        warnings: Vec::new(),
    };
    for d in drafts {
        let slots = d
            .roots
            .iter()
            .map(|r| out.namespaces.index_of(r))
            .collect::<Result<Vec<u16>, _>>()?;
        let reach = &mut out.reach[d.agent as usize];
        for (s, r) in slots.iter().zip(&d.roots) {
            reach.saw(*s, r);
        }
        let mut d = d;
        if d.rule == Rule::Runtime && slots.iter().all(|s| *s == slots[0]) {
            d.rule = Rule::Modulo;
        }
        let tree = layout.tree.is_some();
        let id = match out.pools.iter().position(|p| overlaps(p, &d, &slots, tree)) {
            Some(at) if same_objects(&out.pools[at], &d, &slots) => {
                merge(&mut out.pools[at], &d, &mut out.warnings);
                out.pools[at].id
            }
            Some(at) => return Err(collision(&out.pools[at], &d)),
            None => {
                let id = u16::try_from(out.pools.len()).map_err(|_| {
                    ConfigError::field("prepare.ensure_objects", "more than 65535 pools")
                })?;
                out.pools.push(Pool {
                    id,
                    ensure_index: d.ensure_index,
                    kind: d.kind,
                    count: d.objects.count,
                    size: d.objects.size,
                    fill: d.objects.fill,
                    dedup_factor: d.objects.dedup_factor,
                    compress_factor: d.objects.compress_factor,
                    agent: distributed.then_some(d.agent),
                    writers: vec![d.agent],
                    share: d.share,
                    rule: d.rule,
                    size_seed_uri: d.seed,
                    endpoints: slots,
                });
                id
            }
        };
        out.reach[d.agent as usize].pools.insert(id);
    }
    Ok(out)
}

/// Folds `d` into the identical pool `p` (another agent, or another entry, writing the same
/// objects), with a warning.
fn merge(p: &mut Pool, d: &Draft, warnings: &mut Vec<String>) {
    let what = format!(
        "prepare.ensure_objects[{}] ({} pool {})",
        p.ensure_index,
        p.kind.prefix(),
        p.id
    );
    let seeds = if p.size_seed_uri == d.seed {
        String::new()
    } else {
        format!(
            "; their size seeds differ ({:?} vs {:?}), sai3-cache keeps the first",
            p.size_seed_uri, d.seed
        )
    };
    if d.ensure_index != p.ensure_index {
        warnings.push(format!(
            "prepare.ensure_objects[{}] names the same objects on the same storage as {what}: \
             sai3-bench writes them again (or skips them); counted once{seeds}",
            d.ensure_index
        ));
    } else if !p.writers.contains(&d.agent) {
        warnings.push(format!(
            "agents {} and {} both write {what} to the same storage with the same names (with \
             isolated storage sai3-bench prefixes agent-{{k+1}}/ only to explicit base_uris, \
             and only when `target` is set); counted once{seeds}",
            p.writers
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            d.agent
        ));
        p.writers.push(d.agent);
        p.writers.sort_unstable();
    }
    if p.share != d.share {
        p.share = Share::All;
    }
}

/// The error of a pool that would write some of another pool's names to the same storage.
fn collision(p: &Pool, d: &Draft) -> ConfigError {
    ConfigError::field(
        format!("prepare.ensure_objects[{}]", d.ensure_index),
        format!(
            "writes the same {} names to the same storage as prepare.ensure_objects[{}] (pool \
             {}) but with other objects (count, size, fill or endpoints differ): sai3-bench \
             would overwrite or skip them depending on order; give each entry its own base_uri",
            d.kind.prefix(),
            p.ensure_index,
            p.id
        ),
    )
}

impl Dataset {
    /// Builds and validates the controller's view of `config`; `path` names the file in
    /// errors.
    ///
    /// # Errors
    /// [`Sai3Error::Config`] naming the field and the reason (sai3-bench's words).
    ///
    /// ```
    /// use std::path::Path;
    /// use cache_sai3::config::Sai3Config;
    /// use cache_sai3::dataset::Dataset;
    /// # let tmp = tempfile::tempdir()?;
    /// # let path = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let config = Sai3Config::load(&path)?;
    /// let dataset = Dataset::from_config(&config, &path)?;
    /// assert_eq!(dataset.total_objects(), 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_config(config: &Sai3Config, path: &Path) -> Result<Self, Sai3Error> {
        let dataset = Self::build(config).map_err(|error| Sai3Error::Config {
            path: path.to_owned(),
            error,
        })?;
        for uri in dataset.endpoint_uris.iter().flatten() {
            crate::scheme::refuse_credentials(uri)?;
        }
        Ok(dataset)
    }

    /// Loads a config file and builds the controller's view.
    ///
    /// # Errors
    /// As [`Sai3Config::load`] and [`Dataset::from_config`].
    ///
    /// ```
    /// use cache_sai3::dataset::Dataset;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = Dataset::load(&config)?;
    /// assert_eq!(dataset.endpoints.len(), 2);
    /// assert!(Dataset::load(&tmp.path().join("absent.yaml")).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load(path: &Path) -> Result<Self, Sai3Error> {
        Self::from_config(&Sai3Config::load(path)?, path)
    }

    /// Builds the controller's view from the text of a config (`origin` names it in errors,
    /// e.g. the file it came from or "sent by the controller").
    ///
    /// # Errors
    /// As [`Sai3Config::parse`] and [`Dataset::from_config`].
    ///
    /// ```
    /// use cache_sai3::dataset::Dataset;
    /// let yaml = "prepare:\n  ensure_objects:\n    - { base_uri: \"file:///data/\", count: 4, size_spec: 1 }\n\
    ///             workload:\n  - { op: get, path: \"*\", weight: 100 }\n";
    /// let dataset = Dataset::from_yaml(yaml, "sent by the controller")?;
    /// assert_eq!(dataset.endpoints, ["file:///data/"]);
    /// let err = Dataset::from_yaml("workload: 3", "sent by the controller").unwrap_err();
    /// assert!(err.to_string().contains("sent by the controller"), "{err}");
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// ```
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, Sai3Error> {
        let origin = Path::new(origin);
        Self::from_config(&Sai3Config::parse(text, origin)?, origin)
    }

    /// Loads a config file and builds agent `agent`'s view.
    ///
    /// # Errors
    /// As [`Dataset::load`] and [`Dataset::for_agent`].
    ///
    /// ```
    /// use cache_sai3::dataset::Dataset;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let view = Dataset::load_for_agent(&config, 0)?; // standalone: agent 0's view is the whole
    /// assert_eq!((view.agent, view.total_objects()), (None, 8));
    /// assert!(Dataset::load_for_agent(&config, 1).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_for_agent(path: &Path, agent: u32) -> Result<Self, Sai3Error> {
        Self::load(path)?
            .for_agent(agent)
            .map_err(|error| Sai3Error::Config {
                path: path.to_owned(),
                error,
            })
    }

    /// Agent `agent`'s view: the pools it writes (same ids as in the controller's view) and
    /// the namespaces they use, each by the first URI this agent uses for it. For a standalone
    /// config agent 0 is the whole dataset.
    ///
    /// # Errors
    /// An agent number outside `0..agents`, naming the valid range.
    ///
    /// ```
    /// use cache_sai3::dataset::Dataset;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = Dataset::load(&config)?;
    /// let view = dataset.for_agent(0)?;
    /// assert_eq!(view.hash, dataset.hash); // the whole dataset's identity
    /// let err = dataset.for_agent(3).unwrap_err();
    /// assert_eq!(err.field, "distributed.agents");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_agent(&self, agent: u32) -> Result<Dataset, ConfigError> {
        let range = |why: String| ConfigError::field("distributed.agents", why);
        if agent >= self.agents {
            return Err(range(if self.agents == 1 {
                format!("agent {agent} does not exist: the config has one agent, 0")
            } else {
                format!(
                    "agent {agent} does not exist: distributed.agents lists {} agents, 0 to {}",
                    self.agents,
                    self.agents - 1
                )
            }));
        }
        match self.agent {
            Some(k) if k == agent => return Ok(self.clone()),
            Some(k) => {
                return Err(range(format!(
                    "this is agent {k}'s view, not agent {agent}'s"
                )));
            }
            None if !self.distributed => return Ok(self.clone()),
            None => {}
        }
        Ok(self.view(agent, |p| self.reach[agent as usize].pools.contains(&p.id)))
    }

    /// The views one prepare, verify or sync works through, one per writer of a shard: this
    /// view when it is an agent's (or a standalone config's); for the controller's view of a
    /// distributed config, every agent's view holding the pools that agent leads
    /// ([`Pool::agent`]: a pool several agents write is worked once, by the lowest of them).
    /// Agents without pools are left out.
    ///
    /// ```
    /// use cache_sai3::dataset::Dataset;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = Dataset::load(&config)?;
    /// let views = dataset.writer_views(); // a standalone config: itself
    /// assert_eq!(views.len(), 1);
    /// assert_eq!(views[0].total_objects(), dataset.total_objects());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn writer_views(&self) -> Vec<Dataset> {
        if self.agent.is_some() || !self.distributed {
            return vec![self.clone()];
        }
        (0..self.agents)
            .map(|k| {
                self.view(k, |p| {
                    self.reach[k as usize].pools.contains(&p.id) && p.agent == Some(k)
                })
            })
            .filter(|v| !v.pools.is_empty())
            .collect()
    }

    /// The agent whose shard of each endpoint's cache this view reads and writes: its agent,
    /// 0 for a standalone config. (Meaningful for agent views and [`Dataset::writer_views`].)
    ///
    /// ```
    /// use cache_sai3::dataset::Dataset;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = Dataset::load(&config)?;
    /// assert_eq!(dataset.shard(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shard(&self) -> u32 {
        self.agent.unwrap_or(0)
    }

    /// The agent whose shard holds what is known of `pool` in this view: the view's agent; in
    /// the controller's view the pool's (lowest) writer; 0 for a standalone config.
    ///
    /// ```
    /// use cache_sai3::dataset::Dataset;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = Dataset::load(&config)?;
    /// assert_eq!(dataset.shard_of(&dataset.pools[0]), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shard_of(&self, pool: &Pool) -> u32 {
        self.agent.or(pool.agent).unwrap_or(0)
    }

    /// The index in the controller's view of this view's endpoint `e`.
    pub(crate) fn global_endpoint(&self, e: u16) -> u16 {
        self.global.get(e as usize).copied().unwrap_or(e)
    }

    /// Agent `agent`'s view holding the controller's pools that `keep` selects (the
    /// controller's view of a distributed config only).
    fn view(&self, agent: u32, keep: impl Fn(&Pool) -> bool) -> Dataset {
        let reach = &self.reach[agent as usize];
        let mut pools: Vec<Pool> = self.pools.iter().filter(|p| keep(p)).cloned().collect();
        let used: BTreeSet<u16> = pools.iter().flat_map(|p| p.endpoints.clone()).collect();
        let used: Vec<u16> = used.into_iter().collect();
        let uris_of = |n: u16| {
            reach
                .uris
                .iter()
                .find(|(m, _)| *m == n)
                .map(|(_, u)| u.clone())
                .unwrap_or_else(|| self.endpoint_uris[n as usize].clone())
        };
        for p in &mut pools {
            for s in &mut p.endpoints {
                *s = used.partition_point(|&n| n < *s) as u16;
            }
        }
        let endpoint_uris: Vec<Vec<String>> = used.iter().map(|&n| uris_of(n)).collect();
        Dataset {
            tree: self.tree.clone(),
            key_prefix_shards: self.key_prefix_shards,
            prepare_strategy: self.prepare_strategy,
            shared_storage: self.shared_storage,
            pools,
            endpoints: endpoint_uris.iter().map(|u| u[0].clone()).collect(),
            endpoint_uris,
            balance: self.balance,
            agents: self.agents,
            agent: Some(agent),
            hash: self.hash,
            warnings: self.warnings.clone(),
            distributed: self.distributed,
            global: used,
            reach: Vec::new(),
        }
    }

    fn build(config: &Sai3Config) -> Result<Self, ConfigError> {
        let prepare = config.prepare.clone().unwrap_or_default();
        let mut warnings = ignored_field_warnings(config, &prepare);
        let (setups, dist) = agent_setups(config, &mut warnings);
        // sai3-bench's order: the standalone list check, the tree counts, the controller's
        // checks, then what prepare meets (stores, base URIs, sizes, the tree's directories).
        if dist.is_none() {
            check_standalone_list(config)?;
        }
        let tree = tree_layout(&prepare)?;
        if let Some(d) = dist {
            check_controller(config, d, &prepare)?;
            check_agent_workload(config, &prepare)?;
        }
        let balance = check_lists(&setups, !prepare.ensure_objects.is_empty())?;
        let layout = Layout {
            kinds: pool_kinds(config, tree.as_ref()),
            tree,
            shards: prepare.key_prefix_shards,
            strategy: prepare.prepare_strategy,
            agents: setups.len() as u32,
            shared: dist.is_none_or(|d| d.shared_filesystem),
        };
        warnings.extend(layout_warnings(config, &prepare, &layout, &setups)?);
        let mut drafts = Vec::new();
        for (e_idx, e) in prepare.ensure_objects.iter().enumerate() {
            let field = format!("prepare.ensure_objects[{e_idx}]");
            let objects = entry_objects(e, &field, &layout)?;
            for &kind in layout.kinds {
                for s in &setups {
                    drafts.push(draft(s, (e_idx, e), &objects, kind, &layout)?);
                }
            }
        }
        check_tree_base(&prepare, &setups, &layout)?;
        let assembled = assemble(drafts, &layout, dist.is_some())?;
        warnings.extend(assembled.warnings);
        let endpoints = assembled
            .namespaces
            .uris
            .iter()
            .map(|u| u[0].clone())
            .collect();
        let mut dataset = Dataset {
            tree: layout.tree,
            key_prefix_shards: layout.shards,
            prepare_strategy: layout.strategy,
            shared_storage: layout.shared,
            pools: assembled.pools,
            endpoints,
            endpoint_uris: assembled.namespaces.uris,
            balance,
            agents: layout.agents,
            agent: None,
            hash: ConfigHash::placeholder(),
            warnings,
            distributed: dist.is_some(),
            global: Vec::new(),
            reach: assembled.reach,
        };
        dataset.hash = ConfigHash::of(&dataset);
        Ok(dataset)
    }

    /// Objects over all pools of this view (each pool's share).
    ///
    /// ```
    /// use cache_sai3::dataset::Dataset;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = Dataset::load(&config)?;
    /// assert_eq!(dataset.total_objects(), 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn total_objects(&self) -> u64 {
        self.pools.iter().map(Pool::objects).sum()
    }

    /// Directories of the tree (0 when flat).
    ///
    /// ```
    /// use cache_sai3::dataset::Dataset;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = Dataset::load(&config)?;
    /// assert_eq!(dataset.total_dirs(), 6); // width 2, depth 2: 2 + 4
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn total_dirs(&self) -> u64 {
        self.tree.as_ref().map_or(0, TreeLayout::total_dirs)
    }

    /// The pool with id `pool`, if this view holds it.
    ///
    /// ```
    /// use cache_sai3::dataset::Dataset;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = Dataset::load(&config)?;
    /// assert_eq!(dataset.pool(0).map(|p| p.count), Some(8));
    /// assert!(dataset.pool(1).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pool(&self, pool: u16) -> Option<&Pool> {
        self.pools
            .binary_search_by_key(&pool, |p| p.id)
            .ok()
            .map(|at| &self.pools[at])
    }

    /// One past the largest pool id of this view: the length of a table indexed by pool id
    /// (in the controller's view, `pools.len()`).
    ///
    /// ```
    /// use cache_sai3::dataset::Dataset;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = Dataset::load(&config)?;
    /// let sizes_by_pool = vec![0u64; dataset.pool_id_limit()];
    /// assert_eq!(sizes_by_pool.len(), dataset.pools.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pool_id_limit(&self) -> usize {
        self.pools.last().map_or(0, |p| usize::from(p.id) + 1)
    }

    /// Path of object `index` of `pool`, relative to its endpoint; `None` outside the pool
    /// (past its count, or not in its share).
    ///
    /// ```
    /// use cache_sai3::dataset::Dataset;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = Dataset::load(&config)?;
    /// let pool = &dataset.pools[0];
    /// assert_eq!(dataset.path_of(pool, 0).as_deref(), Some("sai3bench.d1_w1.dir/sai3bench.d2_w1.dir/file_00000000.dat"));
    /// assert_eq!(dataset.path_of(pool, 8), None); // past the pool's count
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path_of(&self, pool: &Pool, index: u64) -> Option<String> {
        if index >= pool.count || !pool.share.contains(index) {
            return None;
        }
        match &self.tree {
            Some(t) if index < t.manifest_files() => t.file_path(index),
            // Parallel's fallback for indices sai3-bench's manifest does not name.
            Some(_) => Some(flat_path(pool.kind, 0, index)),
            None => Some(flat_path(pool.kind, self.key_prefix_shards, index)),
        }
    }

    /// The index of `path` in `pool`, if `path` is exactly the name of one of its objects
    /// (within its count and its share).
    ///
    /// ```
    /// use cache_sai3::dataset::Dataset;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = Dataset::load(&config)?;
    /// let pool = &dataset.pools[0];
    /// let path = dataset.path_of(pool, 5).expect("in the pool");
    /// assert_eq!(dataset.parse_path(pool, &path), Some(5));
    /// assert_eq!(dataset.parse_path(pool, "not/an/object"), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse_path(&self, pool: &Pool, path: &str) -> Option<u64> {
        self.parse_name(pool, path)
            .filter(|&i| pool.share.contains(i))
    }

    /// The index of `path` if it is exactly the name of an object of `pool`'s entry, in this
    /// pool's share or another agent's (within the pool's count).
    pub(crate) fn parse_name(&self, pool: &Pool, path: &str) -> Option<u64> {
        let i = match &self.tree {
            Some(t) => match t.parse_file_path(path) {
                Some(i) => (i < t.manifest_files()).then_some(i)?,
                None => parse_flat_path(pool.kind, 0, path).filter(|&i| i >= t.manifest_files())?,
            },
            None => parse_flat_path(pool.kind, self.key_prefix_shards, path)?,
        };
        (i < pool.count).then_some(i)
    }
}

/// Warnings about the layout as a whole (may refuse the `/`-in-mask case sai3-cache cannot
/// model).
fn layout_warnings(
    config: &Sai3Config,
    prepare: &PrepareSection,
    layout: &Layout,
    setups: &[AgentSetup<'_>],
) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    if layout.tree.is_some() && layout.shards > 0 {
        out.push(
            "prepare.key_prefix_shards is ignored with a directory_structure (tree names)".into(),
        );
    }
    out.extend(manifest_gap(config, layout)?);
    let has_multi = setups.iter().any(|s| s.multi.is_some());
    let with_base: Vec<String> = prepare
        .ensure_objects
        .iter()
        .enumerate()
        .filter(|(_, e)| e.base_uri.is_some())
        .map(|(i, _)| i.to_string())
        .collect();
    if layout.strategy == PrepareStrategy::Parallel && has_multi && !with_base.is_empty() {
        out.push(format!(
            "prepare.ensure_objects[{}].base_uri is ignored where a multi_endpoint list \
             applies: sai3-bench's parallel prepare places objects at the endpoints' roots",
            with_base.join(",")
        ));
    }
    if layout.strategy == PrepareStrategy::Sequential && has_multi {
        out.push(
            "sequential prepare with multi_endpoint: s3dlio picks each object's endpoint at \
             run time, so where an object is can only be listed; sai3-cache writes a missing \
             object i to endpoint i % E of its list"
                .into(),
        );
    }
    if !layout.shared
        && layout.agents > 1
        && !with_base.is_empty()
        && setups.iter().any(|s| s.target.is_none())
    {
        out.push(
            "distributed.shared_filesystem is false, but agents without a `target` get no \
             agent-{k+1}/ prefix (sai3-bench prefixes base_uri only when target is set)"
                .into(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(yaml: &str) -> Result<Dataset, Sai3Error> {
        let cfg = Sai3Config::parse(yaml, Path::new("c.yaml"))?;
        Dataset::from_config(&cfg, Path::new("c.yaml"))
    }

    fn ok(yaml: &str) -> Dataset {
        build(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    /// `(field, reason)` of a refused config.
    fn refused(yaml: &str) -> (String, String) {
        match build(yaml) {
            Err(Sai3Error::Config { error, .. }) => (error.field, error.reason),
            other => panic!("expected a refusal, got {other:?}\n{yaml}"),
        }
    }

    fn uri(d: &Dataset, pool: u16, i: u64) -> String {
        let p = d.pool(pool).expect("pool");
        let e = p.endpoints[(i % p.endpoints.len() as u64) as usize];
        format!(
            "{}{}",
            d.endpoints[e as usize],
            d.path_of(p, i).expect("in pool")
        )
    }

    const ME4: &str = "multi_endpoint:\n  endpoints: [\"file:///e0\", \"file:///e1\", \"file:///e2\", \"file:///e3\"]\n";
    const GET: &str = "workload:\n  - { op: get, path: x, weight: 1 }\n";

    fn agents(shared: bool, n: usize, extra: &str) -> String {
        let mut y = format!(
            "distributed:\n  shared_filesystem: {shared}\n  tree_creation_mode: concurrent\n  path_selection: random\n  agents:\n"
        );
        for k in 0..n {
            y += &format!("    - {{ address: \"h{k}:7167\"{extra} }}\n");
        }
        y
    }

    #[test]
    fn standalone_parallel_tree_places_index_modulo() {
        let d = ok(&format!(
            "prepare:\n  prepare_strategy: parallel\n  directory_structure: {{ width: 2, depth: 2, files_per_dir: 3 }}\n  ensure_objects: [{{ count: 0, size_spec: 1024 }}]\n{ME4}{GET}"
        ));
        assert_eq!((d.total_objects(), d.total_dirs(), d.agents), (12, 6, 1));
        let p = &d.pools[0];
        assert_eq!(
            (p.agent, &p.writers, p.share, p.rule),
            (None, &vec![0], Share::All, Rule::Modulo)
        );
        assert_eq!(p.size_seed_uri, "file:///e0");
        assert_eq!(
            uri(&d, 0, 5),
            "file:///e1/sai3bench.d1_w1.dir/sai3bench.d2_w2.dir/file_00000005.dat"
        );
        assert_eq!(
            d.parse_path(
                p,
                "sai3bench.d1_w1.dir/sai3bench.d2_w2.dir/file_00000005.dat"
            ),
            Some(5)
        );
        assert_eq!(d.path_of(p, 12), None);
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    }

    #[test]
    fn delete_or_rmdir_with_get_or_stat_makes_two_flat_pools() {
        for ops in [("delete", "get"), ("rmdir", "stat")] {
            let d = ok(&format!(
                "prepare:\n  key_prefix_shards: 4\n  ensure_objects: [{{ base_uri: \"s3://b/p\", count: \"1,000\", min_size: 10, max_size: 20 }}]\nworkload:\n  - {{op: {}, path: x, weight: 0}}\n  - {{op: {}, path: y, weight: 1}}\n",
                ops.0, ops.1
            ));
            assert_eq!(d.pools.len(), 2);
            assert_eq!(d.pools[1].kind, PoolKind::Deletable);
            assert_eq!(d.pools[0].size, SizeSpec::Uniform { min: 10, max: 20 });
            assert_eq!(uri(&d, 0, 7), "s3://b/p/03/prepared-00000007.dat");
            assert_eq!(uri(&d, 1, 7), "s3://b/p/03/deletable-00000007.dat");
            assert_eq!(d.parse_path(&d.pools[0], "03/deletable-00000007.dat"), None);
            assert_eq!(d.total_objects(), 2000);
        }
    }

    #[test]
    fn base_uri_is_verbatim_and_never_joined_to_target() {
        let d = ok(&format!(
            "target: \"s3://10.0.0.1:9000/bucket\"\nprepare:\n  ensure_objects:\n    - {{ base_uri: \"az://acct/cont/x\", count: 5 }}\n{GET}"
        ));
        assert_eq!(d.endpoints, ["az://acct/cont/x/"]);
        assert_eq!(d.pools[0].size_seed_uri, "az://acct/cont/x");
        assert_eq!(d.pools[0].size, SizeSpec::Fixed(1 << 20));
        for strategy in ["sequential", "parallel"] {
            let (field, reason) = refused(&format!(
                "target: \"s3://bucket/\"\nprepare:\n  prepare_strategy: {strategy}\n  ensure_objects: [{{ base_uri: data/, count: 10 }}]\n{GET}"
            ));
            assert_eq!(field, "prepare.ensure_objects[0].base_uri");
            assert_eq!(reason, "Unable to infer backend from URI: data/");
        }
        let (_, reason) = refused(&format!(
            "prepare:\n  ensure_objects: [{{ base_uri: \"FILE:///x\", count: 1 }}]\n{GET}"
        ));
        assert_eq!(reason, "Unable to infer backend from URI: FILE:///x");
        let (_, reason) = refused(&format!(
            "prepare:\n  ensure_objects: [{{ base_uri: \"file://relative/dir\", count: 1 }}]\n{GET}"
        ));
        assert!(reason.contains("absolute path"), "{reason}");
        let (field, reason) = refused(&format!(
            "prepare:\n  ensure_objects: [{{count: 1}}]\n{GET}"
        ));
        assert_eq!(field, "prepare.ensure_objects[0].base_uri");
        assert_eq!(
            reason,
            "Failed to determine base_uri for prepare phase: base_uri is required when no \
             multi_endpoint configuration is provided"
        );
    }

    #[test]
    fn sequential_multi_endpoint_is_runtime_and_reroots_base_uri() {
        // No base_uri: every endpoint's root, seed endpoints[0].
        let d = ok(&format!(
            "prepare:\n  ensure_objects: [{{count: 8}}]\n{ME4}{GET}"
        ));
        let p = &d.pools[0];
        assert_eq!(
            (p.rule, p.endpoints.clone()),
            (Rule::Runtime, vec![0, 1, 2, 3])
        );
        assert_eq!(p.size_seed_uri, "file:///e0");
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
        // A relative base_uri is re-rooted under every endpoint; the seed is the base as written.
        let d = ok(&format!(
            "prepare:\n  ensure_objects: [{{count: 8, base_uri: data}}]\n{ME4}{GET}"
        ));
        assert_eq!(d.endpoints[2], "file:///e2/data/");
        assert_eq!(d.pools[0].size_seed_uri, "data");
        // An absolute base under one endpoint keeps its rest under every endpoint.
        let d = ok(&format!(
            "prepare:\n  ensure_objects: [{{count: 8, base_uri: \"file:///e1/sub/\"}}]\n{ME4}{GET}"
        ));
        assert_eq!(d.endpoints[0], "file:///e0/sub/");
        assert_eq!(d.endpoint_uris.len(), 4);
        // Matching none, it is written where it says (one namespace: computable).
        let d = ok(&format!(
            "prepare:\n  ensure_objects: [{{count: 8, base_uri: \"file:///other\"}}]\n{ME4}{GET}"
        ));
        assert_eq!(d.endpoints, ["file:///other/"]);
        assert_eq!(d.pools[0].rule, Rule::Modulo);
        let (_, reason) = refused(&format!(
            "prepare:\n  ensure_objects: [{{count: 8, base_uri: \"s3://b/x\"}}]\n{ME4}{GET}"
        ));
        assert!(reason.contains("cannot write another scheme"), "{reason}");
    }

    #[test]
    fn parallel_ignores_base_uri_with_multi_endpoint() {
        let d = ok(&format!(
            "prepare:\n  prepare_strategy: parallel\n  ensure_objects: [{{ base_uri: data/, count: 10 }}]\n{ME4}{GET}"
        ));
        assert_eq!(d.endpoints.len(), 4);
        assert_eq!(d.pools[0].size_seed_uri, "file:///e0");
        assert!(
            d.warnings.iter().any(|w| w.contains("base_uri is ignored")),
            "{:?}",
            d.warnings
        );
        // ... except a tree's ensure_objects[0] base, where sai3-bench creates the directories.
        let (field, reason) = refused(&format!(
            "prepare:\n  prepare_strategy: parallel\n  directory_structure: {{width: 2, depth: 1, files_per_dir: 1}}\n  ensure_objects: [{{ base_uri: data/, count: 2 }}]\n{ME4}{GET}"
        ));
        assert_eq!(field, "prepare.ensure_objects[0].base_uri");
        assert!(
            reason.starts_with(
                "Unable to infer backend from URI: data/ (sai3-bench writes every file"
            ),
            "{reason}"
        );
    }

    #[test]
    fn tree_counts_zero_means_all_for_every_entry() {
        let tree = |counts: &str| {
            format!(
                "prepare:\n  directory_structure: {{ width: 2, depth: 2, files_per_dir: 2 }}\n  ensure_objects: [{counts}]\n{GET}"
            )
        };
        let d = ok(&tree(
            "{count: 0, base_uri: \"file:///a\"}, {count: 8, base_uri: \"file:///b\"}",
        ));
        assert_eq!(d.pools.iter().map(|p| p.count).collect::<Vec<_>>(), [8, 8]);
        let (field, reason) = refused(&tree(
            "{count: 0, base_uri: \"file:///a\"}, {count: 9, base_uri: \"file:///b\"}",
        ));
        assert_eq!(field, "prepare.ensure_objects[1].count");
        assert_eq!(
            reason,
            "ensure_objects.count (9) does not match directory tree total files (8). Set count to 8 or 0 to auto-calculate"
        );
        let (field, reason) = refused(&tree(""));
        assert_eq!(
            (field.as_str(), reason.as_str()),
            (
                "prepare.ensure_objects",
                "directory_structure requires at least one ensure_objects entry"
            )
        );
        // Two identical entries on one place name the same objects: merged, with a warning.
        let d = ok(&tree(
            "{count: 0, base_uri: \"file:///a\"}, {count: 0, base_uri: \"file:///a/\"}",
        ));
        assert_eq!(d.pools.len(), 1);
        assert!(
            d.warnings.iter().any(|w| w.contains("counted once")),
            "{:?}",
            d.warnings
        );
        // Different objects on one place are refused.
        let (field, reason) = refused(&tree(
            "{count: 0, base_uri: \"file:///a\"}, {count: 0, base_uri: \"file:///a\", fill: zero}",
        ));
        assert_eq!(field, "prepare.ensure_objects[1]");
        assert!(reason.contains("same prepared names"), "{reason}");
    }

    #[test]
    fn sai3_bench_value_rules() {
        let d = ok(&format!(
            "prepare:\n  key_prefix_shards: 300\n  ensure_objects: [{{ base_uri: \"file:///a\", count: 300, dedup_factor: 0, compress_factor: 0 }}]\n{GET}"
        ));
        assert_eq!(uri(&d, 0, 299), "file:///a/12b/prepared-00000299.dat");
        assert_eq!(
            (d.pools[0].dedup_factor, d.pools[0].compress_factor),
            (0, 0)
        );
        let d = ok(&format!(
            "prepare:\n  directory_structure: {{ width: 1, depth: 100, files_per_dir: 1, dir_mask: \"\" }}\n  ensure_objects: [{{ base_uri: \"file:///a\", count: 0 }}]\n{GET}"
        ));
        assert_eq!(
            d.path_of(&d.pools[0], 0).expect("path"),
            format!("{}/file_00000000.dat", "/".repeat(99))
        );
        let (field, reason) = refused(&format!(
            "prepare:\n  directory_structure: {{ width: 2, depth: 64, files_per_dir: 1, distribution: Bottom }}\n  ensure_objects: [{{ base_uri: \"file:///a\", count: 0 }}]\n{GET}"
        ));
        assert_eq!(
            (field.as_str(), reason.as_str()),
            (
                "prepare.directory_structure",
                "Directory tree size overflow (width/depth too large)"
            )
        );
        let (field, reason) = refused(&format!(
            "prepare:\n  directory_structure: {{ width: 2, depth: 6, distribution: Bottom }}\n  ensure_objects: [{{ base_uri: \"file:///a\", count: 0 }}]\n{GET}"
        ));
        assert_eq!(
            (field.as_str(), reason.as_str()),
            (
                "prepare.directory_structure.distribution",
                "Invalid distribution strategy: 'Bottom'. Must be 'bottom' or 'all'"
            )
        );
    }

    #[test]
    fn size_specs_are_checked_as_sai3_bench_builds_its_generator() {
        let entry = |e: &str| {
            format!("prepare:\n  ensure_objects: [{{ base_uri: \"file:///a\", {e} }}]\n{GET}")
        };
        let (field, reason) = refused(&entry("count: 5, min_size: 9, max_size: 3"));
        assert_eq!(
            (field.as_str(), reason.as_str()),
            (
                "prepare.ensure_objects[0].min_size",
                "Uniform distribution: min (9) > max (3)"
            )
        );
        let (field, reason) = refused(&entry("count: 5, max_size: 10"));
        assert_eq!(field, "prepare.ensure_objects[0].min_size");
        assert_eq!(reason, "Uniform distribution: min (1048576) > max (10)");
        let (field, reason) = refused(&entry("count: 5, size_spec: {type: lognormal, mean: 1MiB}"));
        assert_eq!(
            (field.as_str(), reason.as_str()),
            (
                "prepare.ensure_objects[0].size_spec",
                "Lognormal distribution requires 'std_dev' parameter"
            )
        );
        let (_, reason) = refused(&entry("count: 5, size_spec: 0"));
        assert_eq!(reason, "Object size must be greater than 0");
        // Nothing to write, no generator: sai3-bench does not check.
        ok(&entry("count: 0, size_spec: 0"));
        let d = ok(&entry("count: 5, size_spec: {type: uniform}"));
        assert_eq!(
            d.pools[0].size,
            SizeSpec::Uniform {
                min: 1024,
                max: 1_048_576
            }
        );
    }

    #[test]
    fn multi_endpoint_lists() {
        let list = |n: usize, scheme: &str| {
            (0..n)
                .map(|i| format!("\"{scheme}://h{i}:80/b{i}/\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (field, reason) = refused(&format!(
            "prepare:\n  ensure_objects: [{{count: 1}}]\nmulti_endpoint:\n  endpoints: [{}]\n{GET}",
            list(33, "s3")
        ));
        assert_eq!(field, "multi_endpoint.endpoints");
        assert_eq!(
            reason,
            "multi_endpoint.endpoints has 33 entries; maximum allowed is 32 (s3dlio::constants::MAX_ENDPOINTS)"
        );
        // Distributed: the global list is only what agents without their own use.
        let own = format!(", multi_endpoint: {{ endpoints: [{}] }}", list(16, "s3"));
        let d = ok(&format!(
            "prepare:\n  prepare_strategy: parallel\n  ensure_objects: [{{count: 64}}]\nmulti_endpoint:\n  endpoints: [{}]\n{GET}{}",
            list(64, "s3"),
            agents(true, 4, &own)
        ));
        assert_eq!(d.pools.len(), 4);
        assert_eq!(d.total_objects(), 64);
        let (field, reason) = refused(&format!(
            "prepare:\n  prepare_strategy: parallel\n  ensure_objects: [{{count: 64}}]\nmulti_endpoint:\n  endpoints: [{}]\n{GET}{}",
            list(64, "s3"),
            agents(true, 2, "")
        ));
        assert_eq!(field, "multi_endpoint.endpoints");
        assert_eq!(
            reason,
            "Too many endpoints: 64 exceeds maximum of 32 (MAX_ENDPOINTS)"
        );
        let (field, reason) = refused(&format!(
            "prepare:\n  ensure_objects: [{{count: 1}}]\nmulti_endpoint:\n  endpoints: [\"gs://a/\", \"gcs://b/\"]\n{GET}"
        ));
        assert_eq!(field, "multi_endpoint.endpoints[1]");
        assert_eq!(
            reason,
            "All endpoints must use the same URI scheme. Found gs and gcs"
        );
        for (strategy, balance) in [
            ("LeastConnections", Balance::LeastConnections),
            ("ROUND_ROBIN", Balance::RoundRobin),
            ("roundrobin", Balance::RoundRobin),
        ] {
            let d = ok(&format!(
                "prepare:\n  ensure_objects: [{{count: 1}}]\nmulti_endpoint:\n  strategy: {strategy}\n  endpoints: [\"gs://a/\"]\n{GET}"
            ));
            assert_eq!(d.balance, balance);
        }
        let (field, reason) = refused(&format!(
            "prepare:\n  ensure_objects: [{{count: 1}}]\nmulti_endpoint:\n  strategy: random\n  endpoints: [\"gs://a/\"]\n{GET}"
        ));
        assert_eq!(field, "multi_endpoint.strategy");
        assert_eq!(
            reason,
            "Invalid load_balance_strategy 'random': must be 'round_robin' or 'least_connections'"
        );
    }

    #[test]
    fn namespaces_ignore_how_storage_is_reached() {
        assert_eq!(
            namespace_of("s3://10.0.0.1:9000/bk/"),
            namespace_of("s3://10.0.0.2:9000/bk")
        );
        assert_eq!(namespace_of("s3://bk/p/"), "s3://bk/p/");
        assert_ne!(namespace_of("s3://bk/p1/"), namespace_of("s3://bk/p2/"));
        assert_ne!(namespace_of("s3://b1/data/"), namespace_of("s3://b2/data/"));
        assert_eq!(namespace_of("az://acct/cont/x"), "az://acct/cont/x/");
        assert_ne!(
            namespace_of("az://acct/cont/x/"),
            namespace_of("az://acct2/cont/x/")
        );
        assert_eq!(namespace_of("gcs://bk/a"), namespace_of("gs://bk/a/"));
        assert_eq!(
            namespace_of("file:///mnt/a/"),
            namespace_of("direct:///mnt//a")
        );
        assert_eq!(namespace_of("file:///"), "file:///");
        assert_eq!(namespace_of("nonsense"), "nonsense");
        // Several hosts of one bucket: one namespace, its slots repeat one index, and a
        // sequential pool over them is computable after all.
        let d = ok(&format!(
            "prepare:\n  ensure_objects: [{{count: 4}}]\nmulti_endpoint:\n  endpoints: [\"s3://10.0.0.1:80/bk/\", \"s3://10.0.0.2:80/bk/\"]\n{GET}"
        ));
        assert_eq!(d.endpoints, ["s3://10.0.0.1:80/bk/"]);
        assert_eq!(
            d.endpoint_uris,
            [vec![
                "s3://10.0.0.1:80/bk/".to_owned(),
                "s3://10.0.0.2:80/bk/".to_owned()
            ]]
        );
        assert_eq!(
            (d.pools[0].rule, d.pools[0].endpoints.clone()),
            (Rule::Modulo, vec![0, 0])
        );
    }

    #[test]
    fn shares_follow_strategy_and_storage() {
        let flat = |strategy: &str, shared: bool| {
            ok(&format!(
                "target: \"file:///t/\"\nprepare:\n  prepare_strategy: {strategy}\n  ensure_objects: [{{ base_uri: \"file:///t/d/\", count: 10 }}]\n{GET}{}",
                agents(shared, 3, "")
            ))
        };
        // Sequential: i % N == k, even with isolated storage.
        for shared in [true, false] {
            let d = flat("sequential", shared);
            assert_eq!(d.pools.len(), 3);
            assert!(
                d.pools
                    .iter()
                    .all(|p| matches!(p.share, Share::Modulo { agents: 3, .. }))
            );
            assert_eq!(d.total_objects(), 10);
        }
        // Parallel: modulo only with shared storage; isolated agents each write all.
        let d = flat("parallel", true);
        assert_eq!((d.total_objects(), d.endpoints.len()), (10, 1));
        let d = flat("parallel", false);
        assert!(d.pools.iter().all(|p| p.share == Share::All));
        assert_eq!((d.total_objects(), d.endpoints.len()), (30, 3));
        assert_eq!(d.endpoints[2], "file:///t/agent-3/d/");
        assert_eq!(d.pools[2].size_seed_uri, "file:///t/agent-3/d/");
        let a1 = d.for_agent(1).expect("agent 1");
        assert_eq!((a1.total_objects(), a1.agent), (10, Some(1)));
        assert_eq!(a1.pools[0].id, 1);
        assert_eq!(a1.endpoints, ["file:///t/agent-2/d/"]);
        assert_eq!(a1.pools[0].endpoints, [0]);
        assert_eq!(a1.pool(1).map(|p| p.agent), Some(Some(1)));
        assert_eq!((a1.pool(0), a1.pool_id_limit()), (None, 2));
    }

    #[test]
    fn agent_prefix_as_apply_agent_prefix() {
        let d = ok(&format!(
            "target: \"file:///data\"\nprepare:\n  ensure_objects:\n    - {{ base_uri: \"file:///data2/x\", count: 2 }}\n    - {{ base_uri: \"file:///other/y\", count: 2 }}\n{GET}{}",
            agents(false, 2, "")
        ));
        // The raw string test: `file:///data2/x` starts with `file:///data`.
        assert_eq!(
            d.pool(1).map(|p| p.size_seed_uri.as_str()),
            Some("file:///data/agent-2/2/x")
        );
        assert_eq!(
            d.pool(3).map(|p| p.size_seed_uri.as_str()),
            Some("file:///other/y/agent-2/")
        );
        // target_override replaces target first.
        let d = ok(&format!(
            "target: \"file:///data/\"\nprepare:\n  ensure_objects: [{{ base_uri: \"file:///o1/b/\", count: 2 }}]\n{GET}{}",
            agents(false, 1, ", target_override: \"file:///o1/\"")
        ));
        assert_eq!(d.pools[0].size_seed_uri, "file:///o1/agent-1/b/");
        // multi_endpoint endpoints are never prefixed.
        let d = ok(&format!(
            "target: \"file:///e0/\"\nprepare:\n  prepare_strategy: parallel\n  ensure_objects: [{{count: 4}}]\n{ME4}{GET}{}",
            agents(false, 2, "")
        ));
        assert_eq!(d.pools.len(), 1, "both agents write the same names: merged");
        assert_eq!(d.pools[0].writers, [0, 1]);
        assert!(
            d.warnings
                .iter()
                .any(|w| w.contains("agents 0 and 1 both write")),
            "{:?}",
            d.warnings
        );
        for k in 0..2 {
            assert_eq!(d.for_agent(k).expect("view").total_objects(), 4);
        }
    }

    #[test]
    fn writer_views_give_each_share_to_its_agent_once() {
        // Shared storage: four agents, four disjoint shares on two namespaces.
        let d = ok(&format!(
            "prepare:\n  prepare_strategy: parallel\n  ensure_objects: [{{ count: 40 }}]\n{ME4}{GET}{}",
            agents(true, 4, "")
        ));
        let views = d.writer_views();
        assert_eq!(views.len(), 4);
        for (k, v) in views.iter().enumerate() {
            assert_eq!((v.agent, v.shard()), (Some(k as u32), k as u32));
            assert_eq!(v.total_objects(), 10);
            assert_eq!(v.pools[0].writers, [k as u32]);
            // Endpoint numbers of the view map back to the controller's.
            for e in 0..v.endpoints.len() as u16 {
                let g = v.global_endpoint(e);
                assert_eq!(
                    namespace_of(&v.endpoints[e as usize]),
                    namespace_of(&d.endpoints[g as usize])
                );
            }
        }
        assert_eq!(
            views.iter().map(Dataset::total_objects).sum::<u64>(),
            d.total_objects()
        );
        // An agent's view works only through itself.
        let one = d.for_agent(2).expect("agent 2");
        let again = one.writer_views();
        assert_eq!((again.len(), again[0].shard()), (1, 2));
        // A merged pool (isolated agents writing the same names) is worked once, by agent 0.
        let merged = ok(&format!(
            "prepare:\n  prepare_strategy: parallel\n  ensure_objects: [{{ base_uri: \"file:///b/\", count: 20 }}]\n{GET}{}",
            agents(false, 2, "")
        ));
        let views = merged.writer_views();
        assert_eq!(views.len(), 1, "agent 1 leads no pool");
        assert_eq!((views[0].shard(), views[0].total_objects()), (0, 20));
        assert_eq!(merged.shard_of(&merged.pools[0]), 0);
        // A standalone config is its own (and only) writer: shard 0.
        let alone = ok(&format!(
            "prepare:\n  ensure_objects: [{{ count: 4 }}]\n{ME4}{GET}"
        ));
        let views = alone.writer_views();
        assert_eq!(
            (views.len(), views[0].agent, views[0].shard()),
            (1, None, 0)
        );
    }

    #[test]
    fn names_of_other_shares_parse_as_names_not_as_objects_of_this_pool() {
        let d = ok(&format!(
            "prepare:\n  prepare_strategy: parallel\n  key_prefix_shards: 2\n  ensure_objects: [{{ count: 8 }}]\n{ME4}{GET}{}",
            agents(true, 2, "")
        ));
        let a1 = d.for_agent(1).expect("agent 1");
        let p = &a1.pools[0];
        let name = a1.path_of(&d.pools[0], 2).expect("agent 0's object 2");
        assert_eq!(a1.parse_path(p, &name), None);
        assert_eq!(a1.parse_name(p, &name), Some(2));
        assert_eq!(
            a1.parse_name(p, "00/prepared-00000099.dat"),
            None,
            "past the count"
        );
    }

    #[test]
    fn isolated_without_target_writes_the_same_names() {
        // test_barriers.yaml: parallel, isolated, base_uri, no target.
        let d = ok(&format!(
            "prepare:\n  prepare_strategy: parallel\n  ensure_objects: [{{ base_uri: \"file:///b/\", count: 20 }}]\n{GET}{}",
            agents(false, 2, "")
        ));
        assert_eq!((d.pools.len(), d.total_objects()), (1, 20));
        assert_eq!(d.pools[0].agent, Some(0));
        assert!(
            d.warnings.iter().any(|w| w.contains("without a `target`")),
            "{:?}",
            d.warnings
        );
    }

    #[test]
    fn views_and_paths_respect_shares() {
        let own = |k: usize| {
            format!(
                "    - {{ address: a{k}, multi_endpoint: {{ endpoints: [\"s3://10.0.0.{k}:80/b/\", \"s3://10.0.1.{k}:80/c/\"] }} }}\n"
            )
        };
        let d = ok(&format!(
            "prepare:\n  prepare_strategy: parallel\n  ensure_objects: [{{count: 10}}]\n{GET}{}{}{}",
            agents(true, 0, ""),
            own(1),
            own(2)
        ));
        assert_eq!(d.endpoints, ["s3://10.0.0.1:80/b/", "s3://10.0.1.1:80/c/"]);
        assert_eq!(
            d.endpoint_uris[0],
            ["s3://10.0.0.1:80/b/", "s3://10.0.0.2:80/b/"]
        );
        let a1 = d.for_agent(1).expect("agent 1");
        assert_eq!(a1.endpoints, ["s3://10.0.0.2:80/b/", "s3://10.0.1.2:80/c/"]);
        let p = a1.pool(1).expect("pool 1");
        assert_eq!(
            p.share,
            Share::Modulo {
                agents: 2,
                agent: 1
            }
        );
        assert_eq!(a1.path_of(p, 4), None);
        assert_eq!(a1.path_of(p, 5).as_deref(), Some("prepared-00000005.dat"));
        assert_eq!(a1.parse_path(p, "prepared-00000004.dat"), None);
        assert_eq!(a1.parse_path(p, "prepared-00000005.dat"), Some(5));
        assert_eq!(uri(&a1, 1, 5), "s3://10.0.1.2:80/c/prepared-00000005.dat");
        let e = d.for_agent(2).expect_err("no agent 2");
        assert_eq!(
            e.reason,
            "agent 2 does not exist: distributed.agents lists 2 agents, 0 to 1"
        );
        assert!(a1.for_agent(0).is_err());
        // Standalone: agent 0 is the dataset.
        let s = ok(&format!(
            "prepare:\n  ensure_objects: [{{count: 3}}]\n{ME4}{GET}"
        ));
        assert_eq!(s.for_agent(0).expect("whole").pools, s.pools);
        assert_eq!(
            s.for_agent(1).expect_err("one agent").reason,
            "agent 1 does not exist: the config has one agent, 0"
        );
    }

    #[test]
    fn controller_refusals() {
        let (field, reason) = refused(&format!(
            "prepare:\n  ensure_objects: [{{count: 1}}]\n{GET}{}",
            agents(true, 2, "")
        ));
        assert_eq!(
            (field.as_str(), reason.as_str()),
            (
                "prepare.ensure_objects[0].base_uri",
                "base_uri is required when no multi_endpoint configuration is present"
            )
        );
        let isolated = agents(
            false,
            1,
            ", multi_endpoint: { endpoints: [\"file:///m/\"] }",
        )
        .replace("concurrent", "isolated");
        let (field, reason) = refused(&format!(
            "prepare:\n  ensure_objects: [{{count: 1, base_uri: \"file:///x/\"}}]\n{GET}{isolated}"
        ));
        assert_eq!(field, "prepare.ensure_objects[0].base_uri");
        assert!(
            reason.starts_with(
                "base_uri should not be specified in isolated mode with per-agent storage"
            ),
            "{reason}"
        );
        let (field, reason) = refused(&format!(
            "prepare:\n  ensure_objects: [{{count: 1}}]\n{GET}{}",
            agents(
                true,
                1,
                ", id: a1, concurrency_override: 1, multi_endpoint: { endpoints: [\"file:///m/\", \"file:///n/\"] }"
            )
        ));
        assert_eq!(
            (field.as_str(), reason.as_str()),
            (
                "distributed.agents[0].concurrency_override",
                "Agent 'a1' has insufficient concurrency (1) for 2 endpoints. Minimum required: 2"
            )
        );
    }

    #[test]
    fn agents_refuse_workloads_they_cannot_run() {
        let dist = agents(true, 1, "");
        let prepare = "prepare:\n  ensure_objects: [{count: 1, base_uri: \"file:///a/\"}]\n";
        let (field, reason) = refused(&format!("{prepare}workload: []\n{dist}"));
        assert_eq!(field, "workload");
        assert!(
            reason.starts_with("No operations configured in workload"),
            "{reason}"
        );
        let (field, reason) = refused(&format!(
            "{prepare}workload:\n  - {{op: get, path: x, weight: 1}}\n  - {{op: put, path: up/, weight: 1}}\n{dist}"
        ));
        assert_eq!(
            (field.as_str(), reason.as_str()),
            (
                "workload[1]",
                "PUT operation at 'up/' requires either 'object_size' or 'size_spec'"
            )
        );
        let (_, reason) = refused(&format!(
            "{prepare}workload:\n  - {{op: stat, path: \"\", weight: 1}}\n{dist}"
        ));
        assert_eq!(reason, "STAT operation requires non-empty path");
        // Standalone runs do not check; cleanup-only agents accept an empty workload.
        ok(&format!("{prepare}workload: []\n"));
        ok(&format!(
            "{}  cleanup_only: true\nworkload: []\n{dist}",
            prepare
        ));
    }

    #[test]
    fn ignored_fields_warn_once_each() {
        let d = ok(&format!(
            "prepare:\n  ensure_objects:\n    - {{count: 1, base_uri: \"file:///a/\", use_multi_endpoint: true, size: 1MiB}}\n    - {{count: 1, base_uri: \"file:///b/\", use_multi_endpoint: true}}\n{GET}{}",
            agents(true, 2, ", id: x, path_template: \"p/\"")
                .replace("agents:\n", "path_template: \"q/\"\n  agents:\n")
        ));
        for needle in [
            "ensure_objects[0,1].use_multi_endpoint",
            "ensure_objects[0].size is not",
            "distributed.path_template",
            "agents[0,1].path_template",
            "agents[0,1].id",
        ] {
            assert_eq!(
                d.warnings.iter().filter(|w| w.contains(needle)).count(),
                1,
                "{needle}: {:?}",
                d.warnings
            );
        }
        let d = ok(&format!(
            "prepare:\n  ensure_objects: [{{count: 3, base_uri: \"file:///a\"}}]\n{GET}distributed:\n  shared_filesystem: false\n  tree_creation_mode: isolated\n  path_selection: random\n  agents: []\n"
        ));
        assert_eq!((d.agents, d.pools[0].agent), (1, None));
        assert!(d.warnings[0].contains("time out"), "{:?}", d.warnings);
    }

    #[test]
    fn slash_in_dir_mask_follows_sai3_bench_manifest() {
        let tree = |strategy: &str, ops: &str| {
            format!(
                "prepare:\n  prepare_strategy: {strategy}\n  directory_structure: {{ width: 2, depth: 2, files_per_dir: 2, dir_mask: \"a/d%d_w%d\" }}\n  ensure_objects: [{{ base_uri: \"file:///t/\", count: 8 }}]\n{ops}"
            )
        };
        let d = ok(&tree("sequential", GET));
        assert_eq!(d.total_objects(), 4);
        assert!(
            d.warnings[0].contains("only 4 of the 8"),
            "{:?}",
            d.warnings
        );
        let d = ok(&tree("parallel", GET));
        let p = &d.pools[0];
        assert_eq!(d.total_objects(), 8);
        assert_eq!(
            d.path_of(p, 3).as_deref(),
            Some("a/d1_w1/a/d2_w2/file_00000003.dat")
        );
        assert_eq!(d.path_of(p, 4).as_deref(), Some("prepared-00000004.dat"));
        assert_eq!(d.parse_path(p, "prepared-00000004.dat"), Some(4));
        assert_eq!(d.parse_path(p, "prepared-00000003.dat"), None);
        assert_eq!(d.parse_path(p, "a/d1_w2/a/d2_w2/file_00000007.dat"), None);
        let (field, reason) = refused(&tree(
            "parallel",
            "workload:\n  - {op: get, path: x, weight: 1}\n  - {op: delete, path: x, weight: 1}\n",
        ));
        assert_eq!(field, "prepare.directory_structure.dir_mask");
        assert!(
            reason.contains("manifest disagrees with its own count"),
            "{reason}"
        );
    }

    #[test]
    fn nothing_to_prepare() {
        for yaml in [
            "workload: []\n",
            "prepare:\n  ensure_objects: []\nworkload: []\n",
        ] {
            let d = ok(yaml);
            assert_eq!(
                (d.pools.len(), d.endpoints.len(), d.total_objects()),
                (0, 0, 0)
            );
        }
    }
}
