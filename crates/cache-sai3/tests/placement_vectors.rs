//! Names and endpoints of objects exactly as sai3-bench v0.8.97 places them.
//!
//! `tests/data/sai3-bench-placement-vectors.json` was produced by a scratch crate that compiles
//! sai3-bench's `src/directory_tree.rs` unchanged (its `TreeManifest::get_file_path`) and the
//! URI code of its parallel prepare verbatim (`prepare/parallel.rs`: the endpoint
//! `endpoints[i % endpoints.len()]`, the flat name `{prefix}-{i:08}.dat`, the sharded name
//! `{i % shards:02x}/{prefix}-{i:08}.dat`, the join of endpoint and key), for the configs the
//! file records (entry, tree and `multi_endpoint` list), printing the URI of a set of indices.
//! A distributed agent of a shared dataset writes the indices `i % N == k` of these
//! (`parallel.rs`: `if shared_storage && num_agents > 1 && idx % num_agents != agent_id`).

use std::path::Path;

use cache_sai3::dataset::Dataset;
use cache_sai3::placement;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    case: String,
    directory_structure: Option<String>,
    ensure_objects_entry: String,
    multi_endpoint: Option<Vec<String>>,
    key_prefix_shards: u32,
    deletable: bool,
    uris: Vec<(u64, String)>,
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}

/// The sai3-bench config of a case (parallel prepare, `agents` agents sharing storage).
fn config(c: &Case, agents: u32) -> String {
    let mut y = String::from("prepare:\n  prepare_strategy: parallel\n");
    if let Some(tree) = &c.directory_structure {
        y += &format!("  directory_structure:\n{}", indent(tree, "    "));
    }
    if c.key_prefix_shards > 0 {
        y += &format!("  key_prefix_shards: {}\n", c.key_prefix_shards);
    }
    let entry = if c.directory_structure.is_some() {
        // The tree defines the count (`count: 0`); the vectors' entries say more.
        let lines: Vec<&str> = c
            .ensure_objects_entry
            .lines()
            .filter(|l| !l.starts_with("count:"))
            .collect();
        format!("count: 0\n{}", lines.join("\n"))
    } else {
        c.ensure_objects_entry.clone()
    };
    y += "  ensure_objects:\n";
    y += &indent(&entry, "      ").replacen("      ", "    - ", 1);
    if let Some(endpoints) = &c.multi_endpoint {
        y += "multi_endpoint:\n  endpoints:\n";
        for e in endpoints {
            y += &format!("    - \"{e}\"\n");
        }
    }
    if agents > 1 {
        y += "distributed:\n  shared_filesystem: true\n  tree_creation_mode: isolated\n  path_selection: random\n  agents:\n";
        for a in 0..agents {
            y += &format!("    - {{ address: \"10.0.0.{a}:7761\" }}\n");
        }
    }
    y += "workload:\n  - { op: get, path: \"*\", weight: 1 }\n";
    if c.deletable {
        y += "  - { op: delete, path: \"*\", weight: 1 }\n";
    }
    y
}

fn dataset(yaml: &str) -> Dataset {
    let parsed = serde_norway::from_str(yaml).expect("yaml");
    Dataset::from_config(&parsed, Path::new("vectors.yaml")).expect("sai3-bench accepts the config")
}

fn cases() -> Vec<Case> {
    let text = include_str!("data/sai3-bench-placement-vectors.json");
    serde_json::from_str(text).expect("vectors")
}

/// The URI sai3-cache computes for index `i` of the pool of `kind` holding it.
fn uri_of(d: &Dataset, deletable: bool, i: u64) -> Option<String> {
    d.pools
        .iter()
        .filter(|p| (p.kind == cache_sai3::naming::PoolKind::Deletable) == deletable)
        .find_map(|p| placement::locate(d, p.id, i))
        .and_then(|l| l.uri)
}

#[test]
fn uris_are_sai3_benchs() {
    let mut checked = 0;
    for c in cases() {
        let d = dataset(&config(&c, 1));
        let tree_total = d.tree.as_ref().map(|t| t.total_files());
        for (i, want) in &c.uris {
            if tree_total.is_some_and(|total| *i >= total) {
                continue; // beyond the tree: sai3-bench refuses such a count
            }
            assert_eq!(
                uri_of(&d, c.deletable, *i).as_deref(),
                Some(want.as_str()),
                "{}: {i}",
                c.case
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} vectors checked");
}

#[test]
fn each_agent_of_a_shared_dataset_writes_its_share_at_the_same_uris() {
    for c in cases() {
        let whole = dataset(&config(&c, 3));
        let tree_total = whole.tree.as_ref().map(|t| t.total_files());
        for k in 0..3u32 {
            let agent = whole.for_agent(k).expect("agent view");
            for (i, want) in &c.uris {
                if tree_total.is_some_and(|total| *i >= total) {
                    continue;
                }
                let got = uri_of(&agent, c.deletable, *i);
                if i % 3 == u64::from(k) {
                    assert_eq!(
                        got.as_deref(),
                        Some(want.as_str()),
                        "{}: agent {k}, {i}",
                        c.case
                    );
                } else {
                    assert_eq!(got, None, "{}: agent {k} does not write {i}", c.case);
                }
            }
        }
    }
}
