//! sai3-bench configs for the tests, built instead of written by hand.
//!
//! ```ignore
//! let config = Config::tree(3, 2, 10).size("1KiB").local_endpoints(root, 2).write(root);
//! let config = Config::flat(200).uniform(100, 2000).shards(4).endpoints(&uris).write(dir);
//! ```
//!
//! The YAML has the shape of `examples/local-100k.yaml`: `prepare.directory_structure`,
//! `prepare.key_prefix_shards`, `prepare.ensure_objects`, `multi_endpoint.endpoints`,
//! `distributed.agents` and `workload`.

use std::path::{Path, PathBuf};

/// A sai3-bench config of one pool (plus a deletable pool when the workload deletes).
#[derive(Debug, Clone)]
pub struct Config {
    /// `(width, depth, files_per_dir)` of a tree; `None`: a flat dataset.
    tree: Option<(u64, u32, u64)>,
    dir_mask: Option<String>,
    count: u64,
    /// YAML of `size_spec` (`None`: sai3-bench's default, 1 MiB).
    size: Option<String>,
    fill: Option<String>,
    shards: Option<u64>,
    endpoints: Vec<String>,
    agents: u32,
    ops: Vec<(String, u32)>,
    name: String,
    sequential: bool,
    /// `distributed.shared_filesystem` (default true).
    shared: bool,
    /// Per-agent `multi_endpoint` lists (`distributed.agents[k].multi_endpoint`); empty: none.
    agent_endpoints: Vec<Vec<String>>,
}

/// `1KiB`, `4 MiB`, `100` as bytes: a fixed `size_spec` must be a bare integer for sai3-bench.
fn bytes(text: &str) -> u64 {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .expect("a size in the test starts with a number");
    let unit = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => panic!("unknown size unit {other:?} in a test config"),
    };
    number * unit
}

impl Config {
    fn new(tree: Option<(u64, u32, u64)>, count: u64) -> Self {
        Config {
            tree,
            dir_mask: None,
            count,
            size: None,
            fill: None,
            shards: None,
            endpoints: Vec::new(),
            agents: 0,
            ops: vec![("get".into(), 1)],
            name: "bench".into(),
            sequential: false,
            shared: true,
            agent_endpoints: Vec::new(),
        }
    }

    /// A directory tree: `width` subdirectories per level, `depth` levels, `files` files per
    /// leaf directory (`width^depth * files` objects).
    pub fn tree(width: u64, depth: u32, files: u64) -> Self {
        Self::new(Some((width, depth, files)), width.pow(depth) * files)
    }

    /// A flat dataset of `count` objects (`prepared-NNNNNNNN.dat`).
    pub fn flat(count: u64) -> Self {
        Self::new(None, count)
    }

    /// Objects in the dataset (of the first pool).
    pub fn total(&self) -> u64 {
        self.count
    }

    /// A fixed size: `"1KiB"`, `"512"`, ...
    pub fn size(mut self, size: &str) -> Self {
        self.size = Some(bytes(size).to_string());
        self
    }

    /// sai3-bench's `sequential` prepare strategy (its default: with several endpoints, s3dlio
    /// picks each object's endpoint at run time). Without it the config says `parallel`: object
    /// `i` on endpoint `i % E`, which the tests predict.
    pub fn sequential(mut self) -> Self {
        self.sequential = true;
        self
    }

    /// Sizes uniformly distributed in `min..=max`.
    pub fn uniform(mut self, min: u64, max: u64) -> Self {
        self.size = Some(format!("{{ type: uniform, min: {min}, max: {max} }}"));
        self
    }

    /// `fill:` (`zero`, `random`, `prand`).
    pub fn fill(mut self, fill: &str) -> Self {
        self.fill = Some(fill.to_owned());
        self
    }

    /// The tree's directory name mask (default sai3-bench's `sai3bench.d%d_w%d.dir`).
    pub fn dir_mask(mut self, mask: &str) -> Self {
        self.dir_mask = Some(mask.to_owned());
        self
    }

    /// `key_prefix_shards:` (flat datasets).
    pub fn shards(mut self, shards: u64) -> Self {
        self.shards = Some(shards);
        self
    }

    /// The endpoint URIs.
    pub fn endpoints<S: AsRef<str>>(mut self, uris: &[S]) -> Self {
        self.endpoints = uris.iter().map(|u| u.as_ref().to_owned()).collect();
        self
    }

    /// `n` local endpoints `file://{root}/ep{e}/`.
    pub fn local_endpoints(self, root: &Path, n: usize) -> Self {
        let uris: Vec<String> = (0..n)
            .map(|e| format!("file://{}/ep{e}/", root.display()))
            .collect();
        self.endpoints(&uris)
    }

    /// `distributed.agents` with `n` agents.
    pub fn agents(mut self, n: u32) -> Self {
        self.agents = n;
        self
    }

    /// `distributed.shared_filesystem: false`: every agent has storage of its own (with the
    /// `parallel` strategy, each agent writes the whole dataset in its own namespaces).
    pub fn isolated(mut self) -> Self {
        self.shared = false;
        self
    }

    /// A `multi_endpoint` list of its own for each agent (`distributed.agents[k].multi_endpoint`,
    /// replacing the global list for agent `k`). Sets the number of agents to `lists.len()` when
    /// fewer were asked for, and the global list to agent 0's when none was given.
    pub fn agent_endpoints<S: AsRef<str>>(mut self, lists: &[Vec<S>]) -> Self {
        self.agent_endpoints = lists
            .iter()
            .map(|l| l.iter().map(|u| u.as_ref().to_owned()).collect())
            .collect();
        self.agents = self.agents.max(lists.len() as u32);
        if self.endpoints.is_empty()
            && let Some(first) = self.agent_endpoints.first()
        {
            self.endpoints = first.clone();
        }
        self
    }

    /// `n` local endpoints per agent for `agents` agents: agent `k`'s are
    /// `file://{root}/a{k}/ep{e}/` (see [`Config::agent_endpoints`]).
    pub fn local_agent_endpoints(self, root: &Path, agents: u32, n: usize) -> Self {
        let lists: Vec<Vec<String>> = (0..agents)
            .map(|k| {
                (0..n)
                    .map(|e| format!("file://{}/a{k}/ep{e}/", root.display()))
                    .collect()
            })
            .collect();
        self.agent_endpoints(&lists)
    }

    /// The per-agent endpoint lists given to [`Config::agent_endpoints`] (empty: none).
    pub fn agent_endpoint_lists(&self) -> &[Vec<String>] {
        &self.agent_endpoints
    }

    /// The workload's operations and weights (a `delete` adds a deletable pool).
    pub fn ops(mut self, ops: &[(&str, u32)]) -> Self {
        self.ops = ops.iter().map(|&(o, w)| (o.to_owned(), w)).collect();
        self
    }

    /// The file stem of the written config (the dataset's test name); default `bench`.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// The YAML text.
    pub fn yaml(&self) -> String {
        let mut y = String::from("duration: 10s\nprepare:\n");
        let strategy = if self.sequential {
            "sequential"
        } else {
            "parallel"
        };
        y += &format!("  prepare_strategy: {strategy}\n");
        if let Some((w, d, f)) = self.tree {
            y += &format!("  directory_structure: {{ width: {w}, depth: {d}, files_per_dir: {f}");
            if let Some(mask) = &self.dir_mask {
                y += &format!(", dir_mask: \"{mask}\"");
            }
            y += " }\n";
        }
        if let Some(s) = self.shards {
            y += &format!("  key_prefix_shards: {s}\n");
        }
        y += &format!("  ensure_objects:\n    - {{ count: {}", self.count);
        if let Some(size) = &self.size {
            y += &format!(", size_spec: {size}");
        }
        if let Some(fill) = &self.fill {
            y += &format!(", fill: {fill}");
        }
        y += " }\n";
        y += "multi_endpoint:\n  endpoints:\n";
        for uri in &self.endpoints {
            y += &format!("    - \"{uri}\"\n");
        }
        if self.agents > 0 {
            y += &format!(
                "distributed:\n  shared_filesystem: {}\n  tree_creation_mode: isolated\n  path_selection: random\n  agents:\n",
                self.shared
            );
            for a in 0..self.agents {
                y += &format!("    - {{ address: \"127.0.0.1:{}\"", 7761 + a);
                if let Some(list) = self.agent_endpoints.get(a as usize) {
                    let quoted: Vec<String> = list.iter().map(|u| format!("\"{u}\"")).collect();
                    y += &format!(", multi_endpoint: {{ endpoints: [{}] }}", quoted.join(", "));
                }
                y += " }\n";
            }
        }
        y += "workload:\n";
        for (op, weight) in &self.ops {
            // Every operation names a path (sai3-bench requires it; `put` may omit it).
            y += &format!("  - {{ op: {op}, path: \"*\", weight: {weight} }}\n");
        }
        y
    }

    /// Writes the config to `{dir}/{name}.yaml` and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).expect("config directory");
        let path = dir.join(format!("{}.yaml", self.name));
        std::fs::write(&path, self.yaml()).expect("write config");
        path
    }
}
