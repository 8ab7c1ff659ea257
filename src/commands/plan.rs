//! `plan`: what a config defines, computed from the config alone.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use cache_core::routing::round_robin_share;
use cache_sai3::dataset::Dataset;
use serde::Serialize;

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
    let d = Dataset::load(config)?;
    let plan = Plan {
        config_hash: d.hash.short(),
        config_hash_full: d.hash.full_hex(),
        total_files: d.total_objects(),
        total_dirs: d.total_dirs(),
        layout: match &d.tree {
            Some(t) => format!(
                "tree width={} depth={} files_per_dir={} distribution={} dir_mask={}",
                t.width(),
                t.depth(),
                t.files_per_dir(),
                t.distribution().as_str(),
                t.dir_mask()
            ),
            None => format!("flat key_prefix_shards={}", d.key_prefix_shards),
        },
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
                    .map(|p| d.count_on_endpoint(p, e as u16))
                    .sum(),
            })
            .collect(),
        agents: (0..d.agents)
            .map(|a| AgentPlan {
                agent: a,
                file_count: d
                    .pools
                    .iter()
                    .map(|p| round_robin_share(p.count, d.agents, a))
                    .sum(),
            })
            .collect(),
        warnings: d.warnings.clone(),
    };
    if json {
        super::print_json(&plan)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "config hash  {} ({})",
        plan.config_hash, plan.config_hash_full
    );
    println!("layout       {}", plan.layout);
    println!("files        {}", plan.total_files);
    println!("directories  {}", plan.total_dirs);
    for p in &plan.pools {
        println!(
            "pool {}       {} x {} ({}, fill {}) from ensure_objects[{}]",
            p.pool, p.count, p.kind, p.size, p.fill, p.ensure_index
        );
    }
    println!("endpoints    ({})", plan.strategy);
    for e in &plan.endpoints {
        println!("  [{}] {:<50} {:>14} files", e.index, e.uri, e.file_count);
    }
    println!("agents");
    for a in &plan.agents {
        println!("  [{}] {:>14} files", a.agent, a.file_count);
    }
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}
