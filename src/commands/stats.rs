//! `stats`: what a cache directory holds; for a coordinator cache, also which datasets.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cache_core::Database;
use cache_sai3::caches::{
    COORDINATOR_DIR, CoordinatorCache, DirectoryStats, directory_stats, open_waiting,
};
use serde::Serialize;

use super::{Session, outln};

/// `stats` output: the directory, and the datasets a coordinator cache knows.
#[derive(Serialize)]
struct Stats {
    #[serde(flatten)]
    directory: DirectoryStats,
    /// `{short hash} {name}` of each dataset (coordinator caches only).
    #[serde(skip_serializing_if = "Option::is_none")]
    datasets: Option<Vec<String>>,
}

/// The datasets of the coordinator cache at `dir`, if it is one.
fn datasets_of<D: Database>(session: &Session, dir: &Path) -> Result<Option<Vec<String>>> {
    let cache_dir = match dir.parent() {
        Some(parent) if dir.file_name().is_some_and(|n| n == COORDINATOR_DIR) => parent,
        _ => return Ok(None),
    };
    let open = || CoordinatorCache::<D>::open(cache_dir, false);
    let names = open_waiting(session.open, open)?
        .datasets()?
        .into_iter()
        .map(|d| {
            let short = d
                .metadata
                .config_hash
                .get(..16)
                .unwrap_or_default()
                .to_owned();
            format!("{short} {}", d.metadata.test_name)
        })
        .collect();
    Ok(Some(names))
}

pub fn run<D: Database>(session: &Session, dir: &Path, json: bool) -> Result<ExitCode> {
    let directory = directory_stats::<D>(dir, session.open)
        .with_context(|| format!("cannot open the cache at {}", dir.display()))?;
    let stats = Stats {
        datasets: datasets_of::<D>(session, dir)?,
        directory,
    };
    if json {
        super::print_json(&stats)?;
        return Ok(ExitCode::SUCCESS);
    }
    let d = &stats.directory;
    outln!("cache      {}", d.path);
    outln!("backend    {}", d.backend);
    outln!("on disk    {} bytes", d.bytes_on_disk);
    for name in stats.datasets.iter().flatten() {
        outln!("dataset    {name}");
    }
    outln!("{:<32} {:>16}", "keyspace", "~entries");
    for k in &d.keyspaces {
        outln!("{:<32} {:>16}", k.name, k.approximate_entries);
    }
    Ok(ExitCode::SUCCESS)
}
