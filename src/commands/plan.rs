//! `plan`: what a config defines, computed from the config alone.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use cache_sai3::dataset::Dataset;
use serde::Serialize;

use super::outln;

#[derive(Serialize)]
struct PoolPlan {
    pool: u16,
    ensure_index: u16,
    kind: &'static str,
    count: u64,
    size: String,
    fill: &'static str,
}

#[derive(Serialize)]
struct EndpointPlan {
    index: u16,
    uri: String,
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
    strategy: &'static str,
    pools: Vec<PoolPlan>,
    endpoints: Vec<EndpointPlan>,
    agents: Vec<AgentPlan>,
    warnings: Vec<String>,
}

pub fn run(config: &Path, json: bool) -> Result<ExitCode> {
    let plan = plan_of(&Dataset::load(config)?);
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
        strategy: d.strategy.as_str(),
        pools: d
            .pools
            .iter()
            .map(|p| PoolPlan {
                pool: p.id,
                ensure_index: p.ensure_index,
                kind: p.kind.prefix(),
                count: p.count,
                size: p.size.canonical(),
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
                    .map(|p| cache_sai3::placement::count_for_agent(p, d.agents, a))
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
    for p in &plan.pools {
        outln!(
            "pool {}       {} x {} ({}, fill {}) from ensure_objects[{}]",
            p.pool,
            p.count,
            p.kind,
            p.size,
            p.fill,
            p.ensure_index
        );
    }
    outln!("endpoints    ({})", plan.strategy);
    for e in &plan.endpoints {
        outln!("  [{}] {:<50} {:>14} files", e.index, e.uri, e.file_count);
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
