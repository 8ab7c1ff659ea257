//! `stats`: what a cache directory holds.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cache_core::{Database, Keyspace, OpenOptions};
use serde::Serialize;

#[derive(Serialize)]
struct KeyspaceStats {
    name: String,
    approximate_entries: u64,
}

#[derive(Serialize)]
struct Stats {
    backend: &'static str,
    path: String,
    bytes_on_disk: u64,
    keyspaces: Vec<KeyspaceStats>,
}

pub fn run<D: Database>(dir: &Path, json: bool) -> Result<ExitCode> {
    let options = OpenOptions {
        create_if_missing: false,
        ..OpenOptions::default()
    };
    let db = D::open(dir, &options)
        .with_context(|| format!("cannot open the cache at {}", dir.display()))?;
    let mut keyspaces = Vec::new();
    for name in db.keyspace_names()? {
        let approximate_entries = db.keyspace(&name)?.approximate_len()?;
        keyspaces.push(KeyspaceStats {
            name,
            approximate_entries,
        });
    }
    let stats = Stats {
        backend: D::BACKEND,
        path: dir.display().to_string(),
        bytes_on_disk: db.disk_space()?,
        keyspaces,
    };
    if json {
        super::print_json(&stats)?;
    } else {
        println!("cache      {}", stats.path);
        println!("backend    {}", stats.backend);
        println!("on disk    {} bytes", stats.bytes_on_disk);
        println!("{:<32} {:>16}", "keyspace", "~entries");
        for k in &stats.keyspaces {
            println!("{:<32} {:>16}", k.name, k.approximate_entries);
        }
    }
    Ok(ExitCode::SUCCESS)
}
