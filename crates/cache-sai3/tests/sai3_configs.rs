//! Every config sai3-bench v0.8.97 ships that prepares objects (`tests/data/sai3-bench-configs/`,
//! see its README for source and licence), read as sai3-bench reads it: accepted with the
//! objects, pools, agents and storage namespaces sai3-bench's prepare produces (for the whole
//! dataset and for each agent), or refused with the problem sai3-bench names.
//!
//! The expected outcomes come from sai3-bench's code at v0.8.97 (its own parser run on every
//! file, `apply_directory_tree_counts`, the controller's per-agent config, and the prepare
//! strategies' agent filters): see the comments at the refusals and at the table.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cache_sai3::dataset::{Dataset, namespace_of};
use cache_sai3::error::Sai3Error;
use cache_sai3::placement::{Rule, Share};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sai3-bench-configs")
}

/// What sai3-cache must make of one config.
enum Expect {
    /// Accepted: objects over the dataset, pools, agents, namespaces, and per agent (in
    /// order) the objects it writes and the namespaces it uses.
    Accepted {
        objects: u64,
        pools: usize,
        agents: u32,
        namespaces: usize,
        per_agent: &'static [(u64, usize)],
    },
    /// Refused: the field and a fragment of the reason (sai3-bench's words).
    Refused {
        field: &'static str,
        reason: &'static str,
    },
}

const fn ok(
    path: &'static str,
    objects: u64,
    pools: usize,
    agents: u32,
    namespaces: usize,
    per_agent: &'static [(u64, usize)],
) -> (&'static str, Expect) {
    (
        path,
        Expect::Accepted {
            objects,
            pools,
            agents,
            namespaces,
            per_agent,
        },
    )
}

const fn refused(
    path: &'static str,
    field: &'static str,
    reason: &'static str,
) -> (&'static str, Expect) {
    (path, Expect::Refused { field, reason })
}

/// One row per file. Notes on the rows that are not simply `count` (x2 with a delete-and-read
/// workload on flat names):
///
/// * `distributed-*.yaml` (3 examples): `distributed` lacks the required `shared_filesystem`
///   (sai3-bench's parse error, same text).
/// * `test-full-workflow.yaml`: a workload PUT with `size_distribution: {type: fixed}` fails
///   sai3-bench's untagged `SizeSpec`.
/// * `test_size_strings_{binary,decimal}.yaml`: sequential, no `base_uri`, no
///   `multi_endpoint`: sai3-bench's prepare fails `Failed to determine base_uri for prepare
///   phase: base_uri is required when no multi_endpoint configuration is provided`.
/// * `s3dlio_optimization_example.yaml`: sequential without `multi_endpoint` opens the
///   relative `base_uri: data/` as a store: `Unable to infer backend from URI: data/`
///   (`base_uri` is never resolved against `target`).
/// * `distributed_4node_8endpoint_s3_test.yaml`, `stephen_1node_2endpoints_s3.yaml`: parallel
///   with `multi_endpoint` places files at the endpoints (the relative `base_uri: data/` is
///   ignored for them), but with a `directory_structure` sai3-bench then creates the tree's
///   directories on `ensure_objects[0].get_base_uri()` = `data/` (`prepare/mod.rs:373-383`,
///   `finalize_tree_with_mkdir` -> `create_store_for_uri`): `Unable to infer backend from URI:
///   data/`, after every file was written; the run fails.
/// * `4host-test_*.yaml`, `test_4_agents_4-paths.yaml`, `test_barriers_local.yaml`: parallel,
///   isolated storage: each agent writes every index to its own list.
/// * `test_barriers.yaml`: parallel, isolated, but no `target`: no `agent-{k}/` prefix, both
///   agents write the same 20 names: one pool written by both.
/// * `ai-ml/resnet50_1-host.yaml`: `agents: []`: standalone (sai3-bench's controller would
///   time out).
/// * `sai3_put_100k-1k.yaml`, `warp-equivalent-put-4node-16endpoint.yaml`: the top-level list
///   has 64 entries (a standalone run refuses it), but every agent uses its own 16 (one bucket
///   per agent: one namespace per agent).
/// * `multi_endpoint_*.yaml` (sequential): endpoints picked at run time; several hosts of one
///   bucket are one namespace; a relative `base_uri` is re-rooted under every endpoint.
const CONFIGS: &[(&str, Expect)] = &[
    ok("examples/all-operations.yaml", 400, 2, 1, 1, &[(400, 1)]),
    ok(
        "examples/cloud-storage-with-delay.yaml",
        400,
        2,
        1,
        1,
        &[(400, 1)],
    ),
    refused(
        "examples/distributed-manual-containers.yaml",
        "distributed.shared_filesystem",
        "missing field `shared_filesystem` at line 23 column 3",
    ),
    refused(
        "examples/distributed-scale-out.yaml",
        "distributed.shared_filesystem",
        "missing field `shared_filesystem` at line 21 column 3",
    ),
    refused(
        "examples/distributed-scale-up.yaml",
        "distributed.shared_filesystem",
        "missing field `shared_filesystem` at line 20 column 3",
    ),
    ok(
        "examples/distributed-ssh-automated.yaml",
        2000,
        6,
        3,
        1,
        &[(668, 1), (666, 1), (666, 1)],
    ),
    ok(
        "examples/mixed-workload-cloud.yaml",
        4000,
        2,
        1,
        1,
        &[(4000, 1)],
    ),
    ok(
        "prepare-100k-1kb-4endpoint.yaml",
        100000,
        1,
        1,
        1,
        &[(100000, 1)],
    ),
    ok(
        "tests/configs/4host-test_LARGE_with_barriers.yaml",
        256131072,
        4,
        4,
        16,
        &[(64032768, 4), (64032768, 4), (64032768, 4), (64032768, 4)],
    ),
    ok(
        "tests/configs/4host-test_MEDIUM.yaml",
        10672128,
        4,
        4,
        16,
        &[(2668032, 4), (2668032, 4), (2668032, 4), (2668032, 4)],
    ),
    ok(
        "tests/configs/4host-test_SIMPLE.yaml",
        444672,
        4,
        4,
        16,
        &[(111168, 4), (111168, 4), (111168, 4), (111168, 4)],
    ),
    ok(
        "tests/configs/4host-test_config-corrected.yaml",
        256131072,
        4,
        4,
        16,
        &[(64032768, 4), (64032768, 4), (64032768, 4), (64032768, 4)],
    ),
    ok(
        "tests/configs/ai-ml/resnet50_1-host.yaml",
        614400,
        1,
        1,
        1,
        &[(614400, 1)],
    ),
    ok(
        "tests/configs/ai-ml/resnet50_4-hosts.yaml",
        2457600,
        4,
        4,
        1,
        &[(614400, 1), (614400, 1), (614400, 1), (614400, 1)],
    ),
    ok(
        "tests/configs/ai-ml/resnet50_8-hosts.yaml",
        4915200,
        8,
        8,
        1,
        &[
            (614400, 1),
            (614400, 1),
            (614400, 1),
            (614400, 1),
            (614400, 1),
            (614400, 1),
            (614400, 1),
            (614400, 1),
        ],
    ),
    ok(
        "tests/configs/ai-ml/unet3d_1-host-get_gcs-rapid.yaml",
        50176,
        1,
        1,
        1,
        &[(50176, 1)],
    ),
    ok(
        "tests/configs/ai-ml/unet3d_1-host.yaml",
        50176,
        1,
        1,
        1,
        &[(50176, 1)],
    ),
    ok(
        "tests/configs/ai-ml/unet3d_1-host_gcs-rapid.yaml",
        50176,
        1,
        1,
        1,
        &[(50176, 1)],
    ),
    ok(
        "tests/configs/ai-ml/unet3d_2-hosts_quick-test.yaml",
        10192,
        2,
        2,
        1,
        &[(5096, 1), (5096, 1)],
    ),
    ok(
        "tests/configs/ai-ml/unet3d_4-hosts.yaml",
        200704,
        4,
        4,
        1,
        &[(50176, 1), (50176, 1), (50176, 1), (50176, 1)],
    ),
    ok(
        "tests/configs/ai-ml/unet3d_8-hosts.yaml",
        401408,
        8,
        8,
        1,
        &[
            (50176, 1),
            (50176, 1),
            (50176, 1),
            (50176, 1),
            (50176, 1),
            (50176, 1),
            (50176, 1),
            (50176, 1),
        ],
    ),
    ok(
        "tests/configs/cleanup-performance/test-cleanup-2k.yaml",
        2000,
        1,
        1,
        1,
        &[(2000, 1)],
    ),
    ok(
        "tests/configs/cleanup-performance/test-cleanup-5k.yaml",
        5000,
        1,
        1,
        1,
        &[(5000, 1)],
    ),
    ok(
        "tests/configs/comprehensive_test.yaml",
        360,
        8,
        1,
        4,
        &[(360, 4)],
    ),
    ok(
        "tests/configs/dedupe_compress_test.yaml",
        150,
        3,
        1,
        3,
        &[(150, 3)],
    ),
    ok(
        "tests/configs/directory-tree/tree_test_all_levels.yaml",
        1950,
        1,
        1,
        1,
        &[(1950, 1)],
    ),
    ok(
        "tests/configs/directory-tree/tree_test_azure_all_levels.yaml",
        60,
        1,
        1,
        1,
        &[(60, 1)],
    ),
    ok(
        "tests/configs/directory-tree/tree_test_azure_blob.yaml",
        90,
        1,
        1,
        1,
        &[(90, 1)],
    ),
    ok(
        "tests/configs/directory-tree/tree_test_basic.yaml",
        45,
        1,
        1,
        1,
        &[(45, 1)],
    ),
    ok(
        "tests/configs/directory-tree/tree_test_bottom.yaml",
        405,
        1,
        1,
        1,
        &[(405, 1)],
    ),
    ok(
        "tests/configs/directory-tree/tree_test_fixed_size.yaml",
        12,
        1,
        1,
        1,
        &[(12, 1)],
    ),
    ok(
        "tests/configs/directory-tree/tree_test_io_operations.yaml",
        45,
        1,
        1,
        1,
        &[(45, 1)],
    ),
    ok(
        "tests/configs/directory-tree/tree_test_lognormal.yaml",
        840,
        1,
        1,
        1,
        &[(840, 1)],
    ),
    ok(
        "tests/configs/directory-tree/tree_test_s3_example.yaml",
        90,
        1,
        1,
        1,
        &[(90, 1)],
    ),
    refused(
        "tests/configs/distributed_4node_8endpoint_s3_test.yaml",
        "prepare.ensure_objects[0].base_uri",
        "Unable to infer backend from URI: data/ (sai3-bench writes every file, then fails to create the tree",
    ),
    ok(
        "tests/configs/local_1kb_put_test.yaml",
        100000,
        1,
        1,
        1,
        &[(100000, 1)],
    ),
    ok(
        "tests/configs/local_test_2agents.yaml",
        320,
        2,
        2,
        1,
        &[(160, 1), (160, 1)],
    ),
    ok("tests/configs/metadata_simple.yaml", 0, 0, 1, 0, &[(0, 0)]),
    ok(
        "tests/configs/multi_endpoint_azure.yaml",
        150,
        1,
        1,
        3,
        &[(150, 3)],
    ),
    ok(
        "tests/configs/multi_endpoint_direct.yaml",
        200,
        1,
        1,
        4,
        &[(200, 4)],
    ),
    ok(
        "tests/configs/multi_endpoint_distributed_test.yaml",
        100,
        2,
        2,
        1,
        &[(50, 1), (50, 1)],
    ),
    ok(
        "tests/configs/multi_endpoint_file.yaml",
        100,
        1,
        1,
        4,
        &[(100, 4)],
    ),
    ok(
        "tests/configs/multi_endpoint_gcs.yaml",
        100,
        1,
        1,
        3,
        &[(100, 3)],
    ),
    ok(
        "tests/configs/multi_endpoint_global.yaml",
        10000,
        1,
        1,
        1,
        &[(10000, 1)],
    ),
    ok(
        "tests/configs/multi_endpoint_nfs.yaml",
        10000,
        1,
        1,
        8,
        &[(10000, 8)],
    ),
    ok(
        "tests/configs/multi_endpoint_per_agent.yaml",
        40000,
        4,
        4,
        1,
        &[(10000, 1), (10000, 1), (10000, 1), (10000, 1)],
    ),
    ok(
        "tests/configs/multi_endpoint_prepare.yaml",
        100,
        2,
        2,
        4,
        &[(50, 2), (50, 2)],
    ),
    ok(
        "tests/configs/page_cache_auto_test.yaml",
        100,
        1,
        1,
        1,
        &[(100, 1)],
    ),
    ok(
        "tests/configs/per_op_concurrency_test.yaml",
        100,
        1,
        1,
        1,
        &[(100, 1)],
    ),
    ok(
        "tests/configs/preflight_test_dev_null.yaml",
        320,
        1,
        1,
        1,
        &[(320, 1)],
    ),
    ok(
        "tests/configs/preflight_test_nonexistent_dir.yaml",
        320,
        2,
        2,
        1,
        &[(160, 1), (160, 1)],
    ),
    ok(
        "tests/configs/preflight_test_readonly_dir.yaml",
        320,
        2,
        2,
        1,
        &[(160, 1), (160, 1)],
    ),
    ok(
        "tests/configs/preflight_test_s3.yaml",
        4,
        1,
        1,
        1,
        &[(4, 1)],
    ),
    ok(
        "tests/configs/prepare-performance/test-1k.yaml",
        1000,
        1,
        1,
        1,
        &[(1000, 1)],
    ),
    ok(
        "tests/configs/prepare-performance/test-20k-1mb.yaml",
        20000,
        1,
        1,
        1,
        &[(20000, 1)],
    ),
    ok(
        "tests/configs/prepare-performance/test-5k.yaml",
        5000,
        1,
        1,
        1,
        &[(5000, 1)],
    ),
    refused(
        "tests/configs/prepare-performance/test-full-workflow.yaml",
        "workload[1]",
        "data did not match any variant of untagged enum SizeSpec at line 21 column 5",
    ),
    ok(
        "tests/configs/rate-control/rate_1000_exponential.yaml",
        100,
        1,
        1,
        1,
        &[(100, 1)],
    ),
    ok(
        "tests/configs/rate-control/rate_5000_uniform.yaml",
        100,
        1,
        1,
        1,
        &[(100, 1)],
    ),
    ok(
        "tests/configs/rate-control/rate_deterministic.yaml",
        100,
        1,
        1,
        1,
        &[(100, 1)],
    ),
    ok(
        "tests/configs/rate-control/rate_max.yaml",
        100,
        1,
        1,
        1,
        &[(100, 1)],
    ),
    ok("tests/configs/replay_test.yaml", 50, 1, 1, 1, &[(50, 1)]),
    refused(
        "tests/configs/s3dlio_optimization_example.yaml",
        "prepare.ensure_objects[0].base_uri",
        "Unable to infer backend from URI: data/",
    ),
    ok(
        "tests/configs/sai3_put_100k-1k.yaml",
        10000,
        4,
        4,
        4,
        &[(2500, 1), (2500, 1), (2500, 1), (2500, 1)],
    ),
    ok(
        "tests/configs/size_distributions_test.yaml",
        80,
        2,
        1,
        2,
        &[(80, 2)],
    ),
    refused(
        "tests/configs/stephen_1node_2endpoints_s3.yaml",
        "prepare.ensure_objects[0].base_uri",
        "Unable to infer backend from URI: data/ (sai3-bench writes every file, then fails to create the tree",
    ),
    ok(
        "tests/configs/test_4_agents_4-paths.yaml",
        320,
        2,
        2,
        4,
        &[(160, 2), (160, 2)],
    ),
    ok(
        "tests/configs/test_barriers.yaml",
        20,
        1,
        2,
        1,
        &[(20, 1), (20, 1)],
    ),
    ok(
        "tests/configs/test_barriers_local.yaml",
        200,
        2,
        2,
        2,
        &[(100, 1), (100, 1)],
    ),
    ok(
        "tests/configs/test_cleanup_modes.yaml",
        100,
        1,
        1,
        1,
        &[(100, 1)],
    ),
    ok(
        "tests/configs/test_distributed_full_lifecycle.yaml",
        30,
        2,
        2,
        1,
        &[(15, 1), (15, 1)],
    ),
    ok(
        "tests/configs/test_fill_random.yaml",
        20,
        1,
        1,
        1,
        &[(20, 1)],
    ),
    ok(
        "tests/configs/test_multi_endpoint_stats.yaml",
        40,
        1,
        1,
        4,
        &[(40, 4)],
    ),
    ok(
        "tests/configs/test_prepare_local.yaml",
        90,
        1,
        1,
        1,
        &[(90, 1)],
    ),
    ok(
        "tests/configs/test_prepare_no_kvcache.yaml",
        90,
        1,
        1,
        1,
        &[(90, 1)],
    ),
    refused(
        "tests/configs/test_size_strings_binary.yaml",
        "prepare.ensure_objects[0].base_uri",
        "base_uri is required when no multi_endpoint configuration is provided",
    ),
    refused(
        "tests/configs/test_size_strings_decimal.yaml",
        "prepare.ensure_objects[0].base_uri",
        "base_uri is required when no multi_endpoint configuration is provided",
    ),
    ok(
        "tests/configs/warp-equivalent-mixed-4node-8endpoint.yaml",
        10000,
        4,
        4,
        1,
        &[(2500, 1), (2500, 1), (2500, 1), (2500, 1)],
    ),
    ok(
        "unet3d_1-host-get_gcs-rapid.yaml",
        50176,
        1,
        1,
        1,
        &[(50176, 1)],
    ),
    ok(
        "warp-equivalent-put-4node-16endpoint.yaml",
        10000,
        4,
        4,
        4,
        &[(2500, 1), (2500, 1), (2500, 1), (2500, 1)],
    ),
];

/// The outcome of one config, as a comparable text (`Err` for a refusal).
fn load(path: &str) -> Result<Dataset, (String, String)> {
    match Dataset::load(&root().join(path)) {
        Ok(d) => Ok(d),
        Err(Sai3Error::Config { error, .. }) => Err((error.field, error.reason)),
        Err(other) => Err((String::new(), other.to_string())),
    }
}

#[test]
fn the_table_covers_every_shipped_config() {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).expect("directory") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(&p, base, out);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                let rel = p.strip_prefix(base).expect("inside");
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut files = BTreeSet::new();
    walk(&root(), &root(), &mut files);
    let listed: BTreeSet<String> = CONFIGS.iter().map(|(p, _)| (*p).to_owned()).collect();
    assert_eq!(files, listed);
    assert_eq!(files.len(), 80);
}

/// Checks an accepted config against its row and the invariants that hold between the
/// controller's view and the agents' views.
fn check_accepted(path: &str, d: &Dataset, expect: &Expect) {
    let Expect::Accepted {
        objects,
        pools,
        agents,
        namespaces,
        per_agent,
    } = expect
    else {
        panic!("{path}: accepted, expected a refusal");
    };
    let got = (
        d.total_objects(),
        d.pools.len(),
        d.agents,
        d.endpoints.len(),
    );
    assert_eq!(got, (*objects, *pools, *agents, *namespaces), "{path}");
    assert_eq!(per_agent.len(), *agents as usize, "{path}");
    let mut written = 0;
    for (k, &(objects, namespaces)) in per_agent.iter().enumerate() {
        let v = d.for_agent(k as u32).expect("agent view");
        assert_eq!(
            (v.total_objects(), v.endpoints.len()),
            (objects, namespaces),
            "{path} agent {k}"
        );
        assert_eq!(v.hash, d.hash, "{path}");
        written += v.total_objects();
        check_view(path, d, &v);
    }
    // Each object is written by one agent, unless identical pools of several were merged.
    let expected: u64 = d
        .pools
        .iter()
        .map(|p| p.objects() * p.writers.len() as u64)
        .sum();
    assert_eq!(written, expected, "{path}");
    assert!(d.for_agent(*agents).is_err(), "{path}");
    // Pool ids are dense in the controller's view; every namespace is used.
    for (i, p) in d.pools.iter().enumerate() {
        assert_eq!(usize::from(p.id), i, "{path}");
    }
    let used: BTreeSet<u16> = d.pools.iter().flat_map(|p| p.endpoints.clone()).collect();
    assert_eq!(used.len(), d.endpoints.len(), "{path}");
    let keys: BTreeSet<String> = d.endpoints.iter().map(|e| namespace_of(e)).collect();
    assert_eq!(
        keys.len(),
        d.endpoints.len(),
        "{path}: namespaces are distinct"
    );
}

/// An agent's view holds the controller's pools of that agent, same ids, same objects, the
/// same namespaces (renumbered).
fn check_view(path: &str, d: &Dataset, v: &Dataset) {
    // A standalone config has no agents: agent 0's view is the dataset.
    let k = v.agent.unwrap_or(0);
    let mine: Vec<u16> = d
        .pools
        .iter()
        .filter(|p| p.written_by(k))
        .map(|p| p.id)
        .collect();
    assert_eq!(
        v.pools.iter().map(|p| p.id).collect::<Vec<_>>(),
        mine,
        "{path} agent {k}"
    );
    for p in &v.pools {
        let c = d.pool(p.id).expect("same id");
        assert_eq!(
            (p.count, p.share, p.rule, &p.size_seed_uri),
            (c.count, c.share, c.rule, &c.size_seed_uri)
        );
        let ns = |ds: &Dataset, slots: &[u16]| -> Vec<String> {
            slots
                .iter()
                .map(|&s| namespace_of(&ds.endpoints[s as usize]))
                .collect()
        };
        assert_eq!(
            ns(v, &p.endpoints),
            ns(d, &c.endpoints),
            "{path} pool {}",
            p.id
        );
        for i in [0, 1, 2, 3, p.count.saturating_sub(1)] {
            let held = i < p.count && p.share.contains(i);
            let name = v.path_of(p, i);
            assert_eq!(name.is_some(), held, "{path} pool {} index {i}", p.id);
            if let Some(name) = name {
                assert_eq!(v.parse_path(p, &name), Some(i), "{path} {name}");
            }
        }
    }
}

#[test]
fn every_config_as_sai3_bench_reads_it() {
    let mut failures = Vec::new();
    for (path, expect) in CONFIGS {
        match (load(path), expect) {
            (Ok(d), _) => check_accepted(path, &d, expect),
            (
                Err((field, reason)),
                Expect::Refused {
                    field: f,
                    reason: r,
                },
            ) => {
                if field != *f || !reason.contains(r) {
                    failures.push(format!(
                        "{path}: refused with {field}: {reason}; expected {f}: ...{r}..."
                    ));
                }
            }
            (Err((field, reason)), _) => {
                failures.push(format!("{path}: refused: {field}: {reason}"))
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The object `index` of `pool` in view `v`: the URI of the slot the rule picks (for
/// [`Rule::Modulo`]) and the path.
fn uri(v: &Dataset, pool: u16, index: u64) -> Option<String> {
    let p = v.pool(pool)?;
    assert_eq!(p.rule, Rule::Modulo);
    let slot = p.endpoints[(index % p.endpoints.len() as u64) as usize];
    Some(format!(
        "{}{}",
        v.endpoints[slot as usize],
        v.path_of(p, index)?
    ))
}

fn agent(path: &str, k: u32) -> Dataset {
    load(path).expect("accepted").for_agent(k).expect("agent")
}

#[test]
fn exact_uris_per_agent() {
    // Parallel, isolated: agent 2 writes every index to its own four file systems.
    let a2 = agent("tests/configs/4host-test_SIMPLE.yaml", 2);
    assert_eq!(a2.pools[0].id, 2);
    assert_eq!(
        uri(&a2, 2, 5).as_deref(),
        Some("file:///mnt/filesys10/benchmark/d1_w1.dir/d2_w1.dir/file_00000005.dat")
    );
    assert_eq!(
        uri(&a2, 2, 111_167).as_deref(),
        Some("file:///mnt/filesys12/benchmark/d1_w24.dir/d2_w24.dir/file_00111167.dat")
    );
    // target_override + own list, isolated: no base_uri, so nothing to prefix.
    let a1 = agent("tests/configs/test_barriers_local.yaml", 1);
    assert_eq!(
        uri(&a1, 1, 7).as_deref(),
        Some("file:///mnt/scratch/agent2-test/prepared-00000007.dat")
    );
    // Parallel, shared: agent 3 of 4 writes i % 4 == 3.
    let a3 = agent("tests/configs/ai-ml/resnet50_4-hosts.yaml", 3);
    assert_eq!(
        a3.pools[0].share,
        Share::Modulo {
            agents: 4,
            agent: 3
        }
    );
    assert_eq!(uri(&a3, 3, 6), None);
    assert_eq!(
        uri(&a3, 3, 7).as_deref(),
        Some("gs://signal65-ai-ac/resnet50/scan.d1_w1.dir/scan.d2_w1.dir/file_00000007.dat")
    );
    // Sequential, shared, two pools per agent; the target_override does not move base_uri.
    let a2 = agent("examples/distributed-ssh-automated.yaml", 2);
    assert_eq!(a2.pools.iter().map(|p| p.id).collect::<Vec<_>>(), [2, 5]);
    assert_eq!(
        uri(&a2, 2, 5).as_deref(),
        Some("s3://my-benchmark-bucket/data/prepared-00000005.dat")
    );
    assert_eq!(
        uri(&a2, 5, 5).as_deref(),
        Some("s3://my-benchmark-bucket/data/deletable-00000005.dat")
    );
    // Agent 1 uses its own 16 hosts of s3-bucket2 (one namespace), endpoint 5 % 16 for 5.
    let a1 = agent("tests/configs/sai3_put_100k-1k.yaml", 1);
    assert_eq!(a1.endpoints, ["s3://10.9.0.17:80/s3-bucket2/"]);
    assert_eq!(a1.endpoint_uris[0][5], "s3://10.9.0.22:80/s3-bucket2/");
    assert_eq!(a1.pools[0].endpoints, [0; 16]);
    assert_eq!(a1.pools[0].size_seed_uri, "s3://10.9.0.17:80/s3-bucket2/");
    assert_eq!(
        uri(&a1, 1, 5).as_deref(),
        Some("s3://10.9.0.17:80/s3-bucket2/prepared-00000005.dat")
    );
    assert_eq!(uri(&a1, 1, 4), None);
    // Isolated without target: both agents write the same names; one pool, both views.
    for k in 0..2 {
        let v = agent("tests/configs/test_barriers.yaml", k);
        assert_eq!(v.pools[0].writers, [0, 1]);
        assert_eq!(
            uri(&v, 0, 3).as_deref(),
            Some("file:///tmp/sai3-test/prepared-00000003.dat")
        );
    }
    // Sequential with own lists: s3dlio picks the endpoint; the relative base is re-rooted.
    let a1 = agent("tests/configs/multi_endpoint_prepare.yaml", 1);
    let p = &a1.pools[0];
    assert_eq!(
        (p.id, p.rule, p.size_seed_uri.as_str()),
        (1, Rule::Runtime, "testdata/")
    );
    assert_eq!(
        a1.endpoints,
        [
            "file:///tmp/sai3-multi-ep-test/endpoint-c/testdata/",
            "file:///tmp/sai3-multi-ep-test/endpoint-d/testdata/"
        ]
    );
    assert_eq!(a1.path_of(p, 0), None);
    assert_eq!(a1.path_of(p, 1).as_deref(), Some("prepared-00000001.dat"));
}
