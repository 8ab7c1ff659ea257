//! `push`, `pull` and `verify`: object-store endpoint caches to and from their endpoints, and
//! sampled checks of the caches against the stores.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cache_core::ttl::{Clock, SystemClock};
use cache_sai3::dataset::Dataset;
use cache_sai3::sync::{EndpointSync, pull_endpoint, push_endpoint, synced_endpoints};

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the I/O runtime")
}

fn report(done: &[EndpointSync], json: bool) -> Result<()> {
    if json {
        return super::print_json(&done);
    }
    for s in done {
        if let Some(p) = &s.pushed {
            println!(
                "[{}] {} pushed generation {}: {} of {} files sent, {} bytes ({:.2} s)",
                s.endpoint, s.uri, p.generation, p.files_uploaded, p.files, p.bytes_sent, s.seconds
            );
        }
        if let Some(p) = &s.pulled {
            match p.generation {
                None => println!("[{}] {} has no pushed cache", s.endpoint, s.uri),
                Some(g) if p.up_to_date => {
                    println!("[{}] {} generation {g}: up to date", s.endpoint, s.uri)
                }
                Some(g) => println!(
                    "[{}] {} pulled generation {g}: {} files downloaded, {} reused ({:.2} s)",
                    s.endpoint, s.uri, p.files_downloaded, p.files_reused, s.seconds
                ),
            }
        }
    }
    Ok(())
}

pub fn push(config: &Path, cache_dir: &Path, json: bool) -> Result<ExitCode> {
    let dataset = Dataset::load(config)?;
    let endpoints = synced_endpoints(&dataset);
    if endpoints.is_empty() {
        eprintln!(
            "no object-store endpoints in {}: file:// endpoints hold their caches themselves",
            config.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let now = SystemClock.now();
    let rt = runtime()?;
    let mut done = Vec::new();
    for e in endpoints {
        done.push(rt.block_on(push_endpoint(&dataset, e, cache_dir, now))?);
    }
    report(&done, json)?;
    Ok(ExitCode::SUCCESS)
}

pub fn pull(config: &Path, cache_dir: &Path, backend: &str, json: bool) -> Result<ExitCode> {
    let dataset = Dataset::load(config)?;
    let rt = runtime()?;
    let mut done = Vec::new();
    for e in synced_endpoints(&dataset) {
        done.push(rt.block_on(pull_endpoint(&dataset, e, cache_dir, backend))?);
    }
    report(&done, json)?;
    Ok(ExitCode::SUCCESS)
}

pub fn verify<D: cache_core::Database>(
    config: &Path,
    cache_dir: &Path,
    k: usize,
    json: bool,
) -> Result<ExitCode> {
    let dataset = Dataset::load(config)?;
    let rt = runtime()?;
    for e in synced_endpoints(&dataset) {
        rt.block_on(pull_endpoint(&dataset, e, cache_dir, D::BACKEND))?;
    }
    let now = SystemClock.now();
    let drift = rt
        .block_on(cache_sai3::verify::verify::<D>(
            &dataset, cache_dir, k, now, now,
        ))
        .context("verify failed (run prepare first if the caches do not exist)")?;
    let repaired: Vec<u16> = drift
        .iter()
        .filter(|d| d.missing + d.extra + d.size_mismatch > 0)
        .map(|d| d.endpoint)
        .collect();
    for e in synced_endpoints(&dataset)
        .into_iter()
        .filter(|e| repaired.contains(e))
    {
        rt.block_on(push_endpoint(&dataset, e, cache_dir, now))?;
    }
    if json {
        super::print_json(&drift)?;
    } else {
        for d in &drift {
            println!(
                "[{}] {}: {}/{} ranges listed, {} differed; {} HEADs; missing {}, extra {}, wrong size {}{}",
                d.endpoint,
                d.uri,
                d.ranges_sampled,
                d.ranges_total,
                d.ranges_differing,
                d.heads,
                d.missing,
                d.extra,
                d.size_mismatch,
                if d.unsealed { "; unsealed" } else { "" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
