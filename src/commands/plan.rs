//! `plan`: what a config defines, computed from the config alone.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use cache_sai3::dataset::Dataset;
use cache_sai3::placement::{Rule, Share};
use serde::Serialize;

use super::outln;

#[derive(Serialize)]
struct PoolPlan {
    pool: u16,
    ensure_index: u16,
    kind: &'static str,
    /// Indices are `0..count`; the pool holds `objects` of them (its agent's share).
    count: u64,
    objects: u64,
    /// The agent that writes it (`null` without agents).
    agent: Option<u32>,
    /// `i % agents == agent`, or `all`.
    share: String,
    /// `modulo` (`slots[i % slots]`) or `runtime` (s3dlio picks the endpoint).
    placement: &'static str,
    size: String,
    /// The URI sai3-bench folds into the size seed.
    size_seed_uri: String,
    fill: &'static str,
}

#[derive(Serialize)]
struct EndpointPlan {
    index: u16,
    uri: String,
    /// Every configured URI that reaches this storage namespace.
    uris: Vec<String>,
    /// Objects the placement rule puts here (for run-time placement: where sai3-cache writes
    /// them; sai3-bench may have put them on another endpoint of the pool).
    file_count: u64,
}

#[derive(Serialize)]
struct AgentPlan {
    agent: u32,
    file_count: u64,
}

#[derive(Serialize)]
struct Plan {
    config_hash: String,
    config_hash_full: String,
    total_files: u64,
    total_dirs: u64,
    layout: String,
    /// `sequential` or `parallel`.
    prepare_strategy: &'static str,
    /// `multi_endpoint.strategy`.
    strategy: &'static str,
    /// The view: `null` for the whole dataset, else the agent.
    agent: Option<u32>,
    shared_storage: bool,
    pools: Vec<PoolPlan>,
    endpoints: Vec<EndpointPlan>,
    agents: Vec<AgentPlan>,
    warnings: Vec<String>,
}

pub fn run(config: &Path, agent: Option<u32>, json: bool) -> Result<ExitCode> {
    let plan = plan_of(&super::load_view(config, agent)?);
    if json {
        super::print_json(&plan)?;
    } else {
        print_text(&plan)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The plan of dataset `d`: everything `plan` reports.
fn plan_of(d: &Dataset) -> Plan {
    Plan {
        config_hash: d.hash.short(),
        config_hash_full: d.hash.full_hex(),
        total_files: d.total_objects(),
        total_dirs: d.total_dirs(),
        layout: layout_of(d),
        prepare_strategy: match d.prepare_strategy {
            cache_sai3::dataset::PrepareStrategy::Sequential => "sequential",
            cache_sai3::dataset::PrepareStrategy::Parallel => "parallel",
        },
        strategy: d.balance.as_str(),
        agent: d.agent,
        shared_storage: d.shared_storage,
        pools: d
            .pools
            .iter()
            .map(|p| PoolPlan {
                pool: p.id,
                ensure_index: p.ensure_index,
                kind: p.kind.prefix(),
                count: p.count,
                objects: p.objects(),
                agent: p.agent,
                share: match p.share {
                    Share::All => "all".into(),
                    Share::Modulo { agents, agent } => format!("i % {agents} == {agent}"),
                },
                placement: match p.rule {
                    Rule::Modulo => "modulo",
                    Rule::Runtime => "runtime",
                },
                size: p.size.canonical(),
                size_seed_uri: p.size_seed_uri.clone(),
                fill: p.fill.as_str(),
            })
            .collect(),
        endpoints: d
            .endpoints
            .iter()
            .enumerate()
            .map(|(e, uri)| EndpointPlan {
                index: e as u16,
                uri: uri.clone(),
                uris: d.endpoint_uris.get(e).cloned().unwrap_or_default(),
                file_count: d
                    .pools
                    .iter()
                    .map(|p| cache_sai3::placement::count_on_endpoint(p, e as u16))
                    .sum(),
            })
            .collect(),
        agents: (0..d.agents)
            .map(|a| AgentPlan {
                agent: a,
                file_count: d
                    .pools
                    .iter()
                    .map(|p| cache_sai3::placement::count_for_agent(p, a))
                    .sum(),
            })
            .collect(),
        warnings: d.warnings.clone(),
    }
}

/// One line describing the naming: the tree's parameters, or flat with its shards.
fn layout_of(d: &Dataset) -> String {
    match &d.tree {
        Some(t) => format!(
            "tree width={} depth={} files_per_dir={} distribution={} dir_mask={}",
            t.width(),
            t.depth(),
            t.files_per_dir(),
            t.distribution().as_str(),
            t.dir_mask()
        ),
        None => format!("flat key_prefix_shards={}", d.key_prefix_shards),
    }
}

/// Prints `plan` for a person: the table on stdout, warnings on stderr.
fn print_text(plan: &Plan) -> Result<()> {
    outln!(
        "config hash  {} ({})",
        plan.config_hash,
        plan.config_hash_full
    );
    outln!("layout       {}", plan.layout);
    outln!("files        {}", plan.total_files);
    outln!("directories  {}", plan.total_dirs);
    let view = plan
        .agent
        .map_or("whole dataset".into(), |k| format!("agent {k}"));
    outln!(
        "prepare      {} ({view}, {} storage)",
        plan.prepare_strategy,
        if plan.shared_storage {
            "shared"
        } else {
            "isolated"
        }
    );
    for p in &plan.pools {
        let agent = p
            .agent
            .map_or(String::new(), |a| format!(", agent {a}, {}", p.share));
        outln!(
            "pool {:<7} {} of {} x {} ({}, fill {}, {} placement{agent}) from ensure_objects[{}]",
            p.pool,
            p.objects,
            p.count,
            p.kind,
            p.size,
            p.fill,
            p.placement,
            p.ensure_index
        );
    }
    outln!("endpoints    ({})", plan.strategy);
    for e in &plan.endpoints {
        outln!("  [{}] {:<50} {:>14} files", e.index, e.uri, e.file_count);
        for other in e.uris.iter().filter(|u| **u != e.uri) {
            outln!("      also as {other}");
        }
    }
    outln!("agents");
    for a in &plan.agents {
        outln!("  [{}] {:>14} files", a.agent, a.file_count);
    }
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}
