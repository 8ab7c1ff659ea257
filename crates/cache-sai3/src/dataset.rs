//! The dataset a config defines: tree or flat naming, pools of objects, endpoints, agents,
//! validated, with the config hash that identifies it.
//!
//! Which endpoint and agent an object belongs to is [`crate::placement`]'s job.

use std::path::Path;

use crate::scheme::UriScheme;

use crate::config::{EnsureObjects, PrepareSection, Sai3Config, SizeSpecSection};
use crate::config_hash::ConfigHash;
use crate::error::{ConfigError, Sai3Error};
use crate::naming::{
    DEFAULT_DIR_MASK, Distribution, PoolKind, TreeLayout, flat_path, parse_flat_path,
};
use crate::numbers::Scalar;
use crate::sizes::{Fill, SizeSpec};

/// Most endpoints one dataset may name (sai3-bench's limit).
pub const MAX_ENDPOINTS: usize = 32;

/// How sai3-bench balances workload I/O over endpoints (recorded; placement is `i % N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// `round_robin`.
    RoundRobin,
    /// `least_connections`.
    LeastConnections,
}

impl Strategy {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round_robin",
            Strategy::LeastConnections => "least_connections",
        }
    }
}

/// One set of objects: an `ensure_objects` entry, split into `prepared` and `deletable` pools
/// when the workload needs both.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// Dense id, the pool's number in keys (0, 1, ...).
    pub id: u16,
    /// Which `ensure_objects` entry it comes from.
    pub ensure_index: u16,
    /// Prepared or deletable (names flat files; trees use tree names).
    pub kind: PoolKind,
    /// Number of objects.
    pub count: u64,
    /// Object sizes.
    pub size: SizeSpec,
    /// Object content.
    pub fill: Fill,
    /// sai3-bench dedup factor (part of the data's definition).
    pub dedup_factor: u64,
    /// sai3-bench compress factor (part of the data's definition).
    pub compress_factor: u64,
    /// Indices into [`Dataset::endpoints`] of this pool's endpoints, in placement order.
    pub endpoints: Vec<u16>,
}

/// A validated dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The tree, or `None` for flat naming.
    pub tree: Option<TreeLayout>,
    /// Flat key-prefix shards (0: none).
    pub key_prefix_shards: u32,
    /// Pools of objects.
    pub pools: Vec<Pool>,
    /// Normalized endpoint URIs (scheme lowercase, trailing `/`), in config order.
    pub endpoints: Vec<String>,
    /// The configured load-balancing strategy.
    pub strategy: Strategy,
    /// Number of agents (1 without `distributed`).
    pub agents: u32,
    /// Identity of the dataset.
    pub hash: ConfigHash,
    /// Things the user should know (ignored fields that look meaningful).
    pub warnings: Vec<String>,
}

/// Normalizes an endpoint URI: trimmed, scheme lowercase, one trailing `/`.
///
/// # Errors
/// A missing or unsupported scheme, or an empty location.
pub fn normalize_endpoint(uri: &str, field: &str) -> Result<String, ConfigError> {
    let uri = uri.trim();
    let scheme = UriScheme::of(uri).map_err(|e| ConfigError::field(field, e.to_string()))?;
    let (s, rest) = uri.split_once("://").unwrap_or((uri, ""));
    if rest.trim_matches('/').is_empty() {
        return Err(ConfigError::field(
            field,
            format!("{uri:?} names no location"),
        ));
    }
    if matches!(scheme, UriScheme::File | UriScheme::Direct) && !rest.starts_with('/') {
        return Err(ConfigError::field(
            field,
            format!("{uri:?}: local endpoints need an absolute path, e.g. file:///data/bench/"),
        ));
    }
    let mut out = format!("{}://{}", s.to_ascii_lowercase(), rest);
    if !out.ends_with('/') {
        out.push('/');
    }
    Ok(out)
}

/// The object size of an `ensure_objects` entry (`size_spec`, else `min_size`/`max_size`),
/// validated.
fn size_spec(e: &EnsureObjects, field: &str) -> Result<SizeSpec, ConfigError> {
    let spec = match &e.size_spec {
        Some(SizeSpecSection::Fixed(s)) => SizeSpec::Fixed(s.size(field)?),
        Some(SizeSpecSection::Distribution {
            kind,
            min,
            max,
            mean,
            std_dev,
        }) => distribution_size_spec(field, kind, [min, max, mean, std_dev])?,
        None => min_max_size_spec(e)?,
    };
    checked_size_spec(spec, field)
}

/// A `size_spec` with a `type` (uniform or lognormal) and its optional
/// `[min, max, mean, std_dev]`.
fn distribution_size_spec(
    field: &str,
    kind: &str,
    [min, max, mean, std_dev]: [&Option<Scalar>; 4],
) -> Result<SizeSpec, ConfigError> {
    let opt = |v: &Option<Scalar>, name: &str| {
        v.as_ref()
            .map(|s| s.size(&format!("{field}.{name}")))
            .transpose()
    };
    Ok(match kind.to_ascii_lowercase().as_str() {
        "uniform" => SizeSpec::Uniform {
            min: opt(min, "min")?.unwrap_or(1024),
            max: opt(max, "max")?.unwrap_or(1 << 20),
        },
        "lognormal" => SizeSpec::Lognormal {
            mean: opt(mean, "mean")?
                .ok_or_else(|| ConfigError::field(field, "lognormal needs `mean`"))?,
            std_dev: opt(std_dev, "std_dev")?
                .ok_or_else(|| ConfigError::field(field, "lognormal needs `std_dev`"))?,
            min: opt(min, "min")?.unwrap_or(1),
            max: opt(max, "max")?.unwrap_or(u64::MAX),
        },
        other => {
            return Err(ConfigError::field(
                format!("{field}.type"),
                format!("{other:?} is not a distribution; use uniform or lognormal"),
            ));
        }
    })
}

/// The size from the old-style `min_size`/`max_size` (1 MiB each by default): fixed when they
/// agree, uniform otherwise.
fn min_max_size_spec(e: &EnsureObjects) -> Result<SizeSpec, ConfigError> {
    let min = e
        .min_size
        .as_ref()
        .map(|s| s.size("min_size"))
        .transpose()?;
    let max = e
        .max_size
        .as_ref()
        .map(|s| s.size("max_size"))
        .transpose()?;
    let (min, max) = (min.unwrap_or(1 << 20), max.unwrap_or(1 << 20));
    Ok(if min == max {
        SizeSpec::Fixed(min)
    } else {
        SizeSpec::Uniform { min, max }
    })
}

/// Refuses sizes no object can have (zero, `min > max`, zero lognormal parameters).
fn checked_size_spec(spec: SizeSpec, field: &str) -> Result<SizeSpec, ConfigError> {
    match spec {
        SizeSpec::Fixed(0) => Err(ConfigError::field(field, "object size must be at least 1")),
        SizeSpec::Uniform { min, max } | SizeSpec::Lognormal { min, max, .. } if min > max => Err(
            ConfigError::field(field, format!("min {min} is larger than max {max}")),
        ),
        SizeSpec::Uniform { min: 0, .. } => {
            Err(ConfigError::field(field, "uniform min must be at least 1"))
        }
        SizeSpec::Lognormal { mean: 0, .. } | SizeSpec::Lognormal { std_dev: 0, .. } => Err(
            ConfigError::field(field, "lognormal mean and std_dev must be at least 1"),
        ),
        ok => Ok(ok),
    }
}

impl Dataset {
    /// Builds and validates the dataset of `config`; `path` names the file in errors.
    ///
    /// # Errors
    /// [`Sai3Error::Config`] naming the field and the reason.
    pub fn from_config(config: &Sai3Config, path: &Path) -> Result<Self, Sai3Error> {
        Self::build(config).map_err(|error| Sai3Error::Config {
            path: path.to_owned(),
            error,
        })
    }

    /// Loads a config file and builds its dataset.
    ///
    /// # Errors
    /// As [`Sai3Config::load`] and [`Dataset::from_config`].
    pub fn load(path: &Path) -> Result<Self, Sai3Error> {
        Self::from_config(&Sai3Config::load(path)?, path)
    }

    fn build(config: &Sai3Config) -> Result<Self, ConfigError> {
        let prepare = config.prepare.clone().unwrap_or_default();
        if prepare.ensure_objects.is_empty() {
            return Err(ConfigError::field(
                "prepare.ensure_objects",
                "the config prepares no objects; add at least one ensure_objects entry",
            ));
        }
        let tree = tree_layout(&prepare)?;
        let key_prefix_shards = key_prefix_shards(&prepare)?;
        let mut warnings = Vec::new();
        if tree.is_some() && key_prefix_shards > 0 {
            warnings.push(
                "prepare.key_prefix_shards is ignored with a directory_structure (tree names)"
                    .into(),
            );
        }
        let multi = multi_endpoints(config)?;
        let strategy = strategy(config)?;
        let agents = agent_count(config)?;
        let kinds = pool_kinds(config, &prepare, tree.as_ref())?;
        let sources = EndpointSources {
            multi,
            target: config.target.as_deref(),
            per_agent_endpoints: has_per_agent_endpoints(config),
        };
        let (pools, endpoints) =
            pools_and_endpoints(&prepare, tree.as_ref(), kinds, &sources, &mut warnings)?;
        let mut dataset = Dataset {
            tree,
            key_prefix_shards,
            pools,
            endpoints,
            strategy,
            agents,
            hash: ConfigHash::placeholder(),
            warnings,
        };
        dataset.hash = ConfigHash::of(&dataset);
        Ok(dataset)
    }

    /// Total objects over all pools.
    pub fn total_objects(&self) -> u64 {
        self.pools.iter().map(|p| p.count).sum()
    }

    /// Directories of the tree (0 when flat).
    pub fn total_dirs(&self) -> u64 {
        self.tree.as_ref().map_or(0, TreeLayout::total_dirs)
    }

    /// The pool with id `pool`.
    pub fn pool(&self, pool: u16) -> Option<&Pool> {
        self.pools.get(pool as usize)
    }

    /// Path of object `index` of `pool`, relative to its endpoint.
    pub fn path_of(&self, pool: &Pool, index: u64) -> Option<String> {
        if index >= pool.count {
            return None;
        }
        match &self.tree {
            Some(t) => t.file_path(index),
            None => Some(flat_path(pool.kind, self.key_prefix_shards, index)),
        }
    }

    /// The index of `path` in `pool`, if `path` is exactly one of the pool's names.
    pub fn parse_path(&self, pool: &Pool, path: &str) -> Option<u64> {
        let i = match &self.tree {
            Some(t) => t.parse_file_path(path)?,
            None => parse_flat_path(pool.kind, self.key_prefix_shards, path)?,
        };
        (i < pool.count).then_some(i)
    }
}

/// The tree of `prepare.directory_structure`, or `None` for flat naming.
fn tree_layout(prepare: &PrepareSection) -> Result<Option<TreeLayout>, ConfigError> {
    const F: &str = "prepare.directory_structure";
    let Some(d) = &prepare.directory_structure else {
        return Ok(None);
    };
    let width = d.width.count(&format!("{F}.width"))?;
    let depth = d.depth.count(&format!("{F}.depth"))?;
    let depth = u32::try_from(depth)
        .ok()
        .filter(|&d| d <= 64)
        .ok_or_else(|| ConfigError::field(format!("{F}.depth"), "at most 64"))?;
    let files = match &d.files_per_dir {
        Some(s) => s.count(&format!("{F}.files_per_dir"))?,
        None => 0,
    };
    let dist = Distribution::parse(d.distribution.as_deref().unwrap_or("bottom"))?;
    let mask = d.dir_mask.as_deref().unwrap_or(DEFAULT_DIR_MASK);
    Ok(Some(TreeLayout::new(width, depth, files, dist, mask)?))
}

/// `prepare.key_prefix_shards`, 0 to 256 (0 when absent).
fn key_prefix_shards(prepare: &PrepareSection) -> Result<u32, ConfigError> {
    let Some(s) = &prepare.key_prefix_shards else {
        return Ok(0);
    };
    u32::try_from(s.count("prepare.key_prefix_shards")?)
        .ok()
        .filter(|&n| n <= 256)
        .ok_or_else(|| ConfigError::field("prepare.key_prefix_shards", "must be between 0 and 256"))
}

/// The normalized `multi_endpoint.endpoints` (1 to [`MAX_ENDPOINTS`]), or `None` without a
/// `multi_endpoint` section.
fn multi_endpoints(config: &Sai3Config) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(m) = &config.multi_endpoint else {
        return Ok(None);
    };
    if m.endpoints.is_empty() || m.endpoints.len() > MAX_ENDPOINTS {
        return Err(ConfigError::field(
            "multi_endpoint.endpoints",
            format!(
                "needs 1 to {MAX_ENDPOINTS} endpoints, found {}",
                m.endpoints.len()
            ),
        ));
    }
    let eps = m
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, u)| normalize_endpoint(u, &format!("multi_endpoint.endpoints[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(eps))
}

/// `multi_endpoint.strategy` (`round_robin` when absent).
fn strategy(config: &Sai3Config) -> Result<Strategy, ConfigError> {
    match config
        .multi_endpoint
        .as_ref()
        .and_then(|m| m.strategy.as_deref())
        .unwrap_or("round_robin")
    {
        "round_robin" => Ok(Strategy::RoundRobin),
        "least_connections" => Ok(Strategy::LeastConnections),
        other => Err(ConfigError::field(
            "multi_endpoint.strategy",
            format!("{other:?} is not a strategy; use round_robin or least_connections"),
        )),
    }
}

/// The number of agents: the length of `distributed.agents`, 1 without `distributed`.
fn agent_count(config: &Sai3Config) -> Result<u32, ConfigError> {
    match config.distributed.as_ref().map(|d| d.agents.as_slice()) {
        None => Ok(1),
        Some([]) => Err(ConfigError::field("distributed.agents", "lists no agent")),
        Some(list) => u32::try_from(list.len())
            .map_err(|_| ConfigError::field("distributed.agents", "too many agents")),
    }
}

/// Whether some agent has its own `multi_endpoint` list.
fn has_per_agent_endpoints(config: &Sai3Config) -> bool {
    config
        .distributed
        .as_ref()
        .is_some_and(|d| d.agents.iter().any(|a| a.multi_endpoint.is_some()))
}

/// The pool kinds each `ensure_objects` entry becomes: a separate deletable pool when the
/// workload deletes and names are flat. A tree takes exactly one entry.
fn pool_kinds(
    config: &Sai3Config,
    prepare: &PrepareSection,
    tree: Option<&TreeLayout>,
) -> Result<&'static [PoolKind], ConfigError> {
    let kinds: &[PoolKind] = if config.needs_separate_pools() && tree.is_none() {
        &[PoolKind::Prepared, PoolKind::Deletable]
    } else {
        &[PoolKind::Prepared]
    };
    if tree.is_some() && prepare.ensure_objects.len() > 1 {
        return Err(ConfigError::field(
            "prepare.ensure_objects",
            "a directory_structure names files by index, so it takes exactly one \
             ensure_objects entry (several would write the same paths)",
        ));
    }
    Ok(kinds)
}

/// The pools of all `ensure_objects` entries and the endpoints they use, in first-use order.
fn pools_and_endpoints(
    prepare: &PrepareSection,
    tree: Option<&TreeLayout>,
    kinds: &[PoolKind],
    sources: &EndpointSources<'_>,
    warnings: &mut Vec<String>,
) -> Result<(Vec<Pool>, Vec<String>), ConfigError> {
    let mut endpoints: Vec<String> = Vec::new();
    let mut pools = Vec::new();
    for (e_idx, e) in prepare.ensure_objects.iter().enumerate() {
        let field = format!("prepare.ensure_objects[{e_idx}]");
        let objects = entry_objects(e, &field, tree)?;
        let uris = sources.uris_of(e, &field, warnings)?;
        let idx = endpoint_indices(&mut endpoints, uris, &field)?;
        for &kind in kinds {
            check_no_collision(&pools, kind, &idx, &field)?;
            let id = u16::try_from(pools.len())
                .map_err(|_| ConfigError::field("prepare.ensure_objects", "too many pools"))?;
            pools.push(Pool {
                id,
                ensure_index: e_idx as u16,
                kind,
                count: objects.count,
                size: objects.size,
                fill: objects.fill,
                dedup_factor: objects.dedup_factor,
                compress_factor: objects.compress_factor,
                endpoints: idx.clone(),
            });
        }
    }
    Ok((pools, endpoints))
}

/// What one `ensure_objects` entry says about its objects (every pool made from it shares it).
struct EntryObjects {
    count: u64,
    size: SizeSpec,
    fill: Fill,
    dedup_factor: u64,
    compress_factor: u64,
}

/// Reads and validates the objects of entry `e`; `field` is its path in the config.
fn entry_objects(
    e: &EnsureObjects,
    field: &str,
    tree: Option<&TreeLayout>,
) -> Result<EntryObjects, ConfigError> {
    let count = e.count.count(&format!("{field}.count"))?;
    if let Some(t) = tree
        && count != t.total_files()
    {
        return Err(tree_count_mismatch(t, count, field));
    }
    let size = size_spec(e, &format!("{field}.size_spec"))?;
    let fill = match e.fill.as_deref() {
        None => Fill::Random,
        Some(f) => Fill::parse(f).ok_or_else(|| {
            ConfigError::field(
                format!("{field}.fill"),
                format!("{f:?} is not a fill; use zero, random or prand"),
            )
        })?,
    };
    Ok(EntryObjects {
        count,
        size,
        fill,
        dedup_factor: factor(&e.dedup_factor, field, "dedup_factor")?,
        compress_factor: factor(&e.compress_factor, field, "compress_factor")?,
    })
}

/// The error of an entry whose `count` is not the number of files in the tree.
fn tree_count_mismatch(t: &TreeLayout, count: u64, field: &str) -> ConfigError {
    ConfigError::field(
        format!("{field}.count"),
        format!(
            "is {count}, but the directory_structure holds {} files \
             ({} {} directories x {} files); make them agree",
            t.total_files(),
            match t.distribution() {
                Distribution::Bottom => t.dirs_at_level(t.depth()),
                Distribution::All => t.total_dirs(),
            },
            if t.distribution() == Distribution::Bottom {
                "leaf"
            } else {
                ""
            },
            t.files_per_dir()
        ),
    )
}

/// A dedup or compress factor (`name`) of entry `field`: at least 1, 1 when absent.
fn factor(v: &Option<Scalar>, field: &str, name: &str) -> Result<u64, ConfigError> {
    let n = match v {
        Some(s) => s.count(&format!("{field}.{name}"))?,
        None => 1,
    };
    if n == 0 {
        return Err(ConfigError::field(
            format!("{field}.{name}"),
            "must be at least 1",
        ));
    }
    Ok(n)
}

/// What the config says about where objects go, shared by all `ensure_objects` entries.
struct EndpointSources<'a> {
    /// The normalized `multi_endpoint.endpoints`.
    multi: Option<Vec<String>>,
    /// `target`, which resolves relative `base_uri`s.
    target: Option<&'a str>,
    /// Whether some agent lists its own endpoints (not supported).
    per_agent_endpoints: bool,
}

impl EndpointSources<'_> {
    /// The normalized endpoint URIs of entry `e` (`field` is its path), in placement order.
    fn uris_of(
        &self,
        e: &EnsureObjects,
        field: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<String>, ConfigError> {
        match (&self.multi, &e.base_uri) {
            (Some(eps), base) => {
                if let Some(b) = base {
                    warnings.push(format!(
                        "{field}.base_uri {b:?} is ignored: with multi_endpoint, objects are \
                         placed at the endpoints' roots (as sai3-bench's prepare does)"
                    ));
                }
                Ok(eps.clone())
            }
            (None, Some(b)) if b.contains("://") => {
                Ok(vec![normalize_endpoint(b, &format!("{field}.base_uri"))?])
            }
            (None, Some(b)) => match self.target {
                Some(t) => {
                    let joined =
                        format!("{}/{}", t.trim_end_matches('/'), b.trim_start_matches('/'));
                    Ok(vec![normalize_endpoint(
                        &joined,
                        &format!("{field}.base_uri"),
                    )?])
                }
                None => Err(ConfigError::field(
                    format!("{field}.base_uri"),
                    format!("{b:?} is relative and the config has no `target` to resolve it"),
                )),
            },
            (None, None) if self.per_agent_endpoints => Err(ConfigError::field(
                "distributed.agents[].multi_endpoint",
                "per-agent endpoint lists are not supported yet; list the endpoints under \
                 the top-level multi_endpoint, or give ensure_objects a base_uri",
            )),
            (None, None) => Err(ConfigError::field(
                format!("{field}.base_uri"),
                "no endpoint: set multi_endpoint.endpoints or this entry's base_uri",
            )),
        }
    }
}

/// The indices of `uris` in `endpoints`, adding the new ones (at most [`MAX_ENDPOINTS`] in all).
fn endpoint_indices(
    endpoints: &mut Vec<String>,
    uris: Vec<String>,
    field: &str,
) -> Result<Vec<u16>, ConfigError> {
    let mut idx = Vec::with_capacity(uris.len());
    for uri in uris {
        let i = match endpoints.iter().position(|u| *u == uri) {
            Some(i) => i,
            None => {
                if endpoints.len() == MAX_ENDPOINTS {
                    return Err(ConfigError::field(
                        field,
                        format!("the dataset would use more than {MAX_ENDPOINTS} endpoints"),
                    ));
                }
                endpoints.push(uri);
                endpoints.len() - 1
            }
        };
        idx.push(i as u16);
    }
    Ok(idx)
}

/// Refuses a pool of `kind` on endpoints `idx` when an earlier entry already wrote the same
/// names there.
fn check_no_collision(
    pools: &[Pool],
    kind: PoolKind,
    idx: &[u16],
    field: &str,
) -> Result<(), ConfigError> {
    match pools.iter().find(|p| p.kind == kind && p.endpoints == idx) {
        Some(other) => Err(ConfigError::field(
            field,
            format!(
                "writes the same {} names on the same endpoints as \
                 prepare.ensure_objects[{}]; give each entry its own base_uri",
                kind.prefix(),
                other.ensure_index
            ),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(yaml: &str) -> Result<Dataset, Sai3Error> {
        let cfg = Sai3Config::parse(yaml, Path::new("c.yaml"))?;
        Dataset::from_config(&cfg, Path::new("c.yaml"))
    }

    fn err(yaml: &str) -> String {
        build(yaml).expect_err("must be refused").to_string()
    }

    const ME: &str = "multi_endpoint:\n  endpoints: [\"file:///e0\", \"file:///e1\", \"file:///e2\", \"file:///e3\"]\n";

    #[test]
    fn tree_dataset_locates_objects() {
        let d = build(&format!(
            "prepare:\n  directory_structure: {{ width: 2, depth: 2, files_per_dir: 3 }}\n  ensure_objects: [{{ count: 12, size_spec: 1KiB }}]\n{ME}distributed:\n  agents: [{{address: a}}, {{address: b}}, {{address: c}}]\n"
        ))
        .expect("valid");
        assert_eq!((d.total_objects(), d.total_dirs(), d.agents), (12, 6, 3));
        let loc = crate::placement::locate(&d, 0, 5).expect("in range");
        assert_eq!(
            loc.path,
            "sai3bench.d1_w1.dir/sai3bench.d2_w2.dir/file_00000005.dat"
        );
        assert_eq!(loc.endpoint, 1);
        assert_eq!(loc.agent, 2);
        assert_eq!(loc.uri, format!("file:///e1/{}", loc.path));
        assert_eq!(crate::placement::locate(&d, 0, 12), None);
        let p = &d.pools[0];
        assert_eq!(
            (0..4)
                .map(|e| crate::placement::count_on_endpoint(p, e))
                .collect::<Vec<_>>(),
            [3, 3, 3, 3]
        );
        assert_eq!(d.parse_path(p, &loc.path), Some(5));
    }

    #[test]
    fn delete_workload_makes_two_flat_pools_that_do_not_collide() {
        let d = build(&format!(
            "prepare:\n  key_prefix_shards: 4\n  ensure_objects: [{{ count: \"1,000\", min_size: 10, max_size: 20 }}]\n{ME}workload:\n  - {{op: get, weight: 1}}\n  - {{op: delete, weight: 1}}\n"
        ))
        .expect("valid");
        assert_eq!(d.pools.len(), 2);
        assert_eq!(d.pools[1].kind, PoolKind::Deletable);
        assert_eq!(d.pools[0].size, SizeSpec::Uniform { min: 10, max: 20 });
        let a = crate::placement::locate(&d, 0, 7).expect("in range");
        let b = crate::placement::locate(&d, 1, 7).expect("in range");
        assert_eq!(a.path, "03/prepared-00000007.dat");
        assert_eq!(b.path, "03/deletable-00000007.dat");
        assert_eq!(d.parse_path(&d.pools[0], &b.path), None);
    }

    #[test]
    fn base_uri_target_and_multi_endpoint_rules() {
        let d = build("target: \"s3://10.0.0.1:9000/bucket\"\nprepare:\n  ensure_objects:\n    - { base_uri: data/, count: 10 }\n    - { base_uri: \"az://acct/cont/x\", count: 5 }\n").expect("valid");
        assert_eq!(
            d.endpoints,
            ["s3://10.0.0.1:9000/bucket/data/", "az://acct/cont/x/"]
        );
        assert_eq!(d.pools[0].size, SizeSpec::Fixed(1 << 20));
        let d = build(&format!(
            "prepare:\n  ensure_objects: [{{ base_uri: data/, count: 10 }}]\n{ME}"
        ))
        .expect("valid");
        assert_eq!(d.endpoints.len(), 4);
        assert!(d.warnings[0].contains("ignored"), "{:?}", d.warnings);
    }

    #[test]
    fn errors_name_field_and_reason() {
        let tree = |w: &str, d: &str, count: &str| {
            format!(
                "prepare:\n  directory_structure: {{ width: {w}, depth: {d}, files_per_dir: 2 }}\n  ensure_objects: [{{ count: {count} }}]\n{ME}"
            )
        };
        assert!(
            err(&tree("0", "2", "0"))
                .contains("prepare.directory_structure.width: must be at least 1")
        );
        assert!(err(&tree("2", "0", "0")).contains("depth: must be at least 1"));
        assert!(err(&tree("100000", "5", "1")).contains("64 bits"));
        let e = err(&tree("2", "2", "9"));
        assert!(
            e.contains("ensure_objects[0].count") && e.contains("holds 8 files"),
            "{e}"
        );
        let e = err(&format!(
            "prepare:\n  directory_structure: {{ width: 2, depth: 2, distribution: sideways }}\n  ensure_objects: [{{count: 0}}]\n{ME}"
        ));
        assert!(e.contains("distribution") && e.contains("sideways"), "{e}");
        let e = err("prepare:\n  ensure_objects: [{ base_uri: \"ftp://x/y\", count: 1 }]\n");
        assert!(
            e.contains("base_uri") && e.contains("unsupported scheme"),
            "{e}"
        );
        let e =
            err("prepare:\n  ensure_objects: [{ base_uri: \"file://relative/dir\", count: 1 }]\n");
        assert!(e.contains("absolute path"), "{e}");
        let e = err(&format!(
            "prepare:\n  ensure_objects: [{{count: 1}}, {{count: 2}}]\n{ME}"
        ));
        assert!(e.contains("same prepared names"), "{e}");
        let e = err(
            "prepare:\n  ensure_objects: [{count: 1}]\ndistributed:\n  agents:\n    - address: a\n      multi_endpoint: { endpoints: [\"file:///x\"] }\n",
        );
        assert!(e.contains("per-agent endpoint lists"), "{e}");
        let e = err(&format!(
            "prepare:\n  ensure_objects: [{{count: 5, size_spec: {{type: lognormal, mean: 1MiB}}}}]\n{ME}"
        ));
        assert!(e.contains("needs `std_dev`"), "{e}");
        let e = err(&format!(
            "prepare:\n  ensure_objects: [{{count: 5, size_spec: 8 parsecs}}]\n{ME}"
        ));
        assert!(e.contains("unknown unit"), "{e}");
        let e = err(&format!(
            "prepare:\n  ensure_objects: [{{count: 5, min_size: 9, max_size: 3}}]\n{ME}"
        ));
        assert!(e.contains("min 9 is larger than max 3"), "{e}");
        let e = err("prepare: [oops\n");
        assert!(e.contains("not a valid sai3-bench config"), "{e}");
        let many: Vec<String> = (0..33).map(|i| format!("\"file:///m{i}\"")).collect();
        let e = err(&format!(
            "prepare:\n  ensure_objects: [{{count: 1}}]\nmulti_endpoint:\n  endpoints: [{}]\n",
            many.join(",")
        ));
        assert!(e.contains("1 to 32 endpoints"), "{e}");
    }
}
