//! `push`, `pull` and `verify`: object-store endpoint caches to and from their endpoints, and
//! sampled checks of the caches against the stores.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cache_sai3::dataset::Dataset;
use cache_sai3::sync::{EndpointSync, pull_endpoint, push_endpoint, synced_endpoints};
use cache_sai3::ttl::{Clock, SystemClock};
use cache_sai3::verify::EndpointDrift;

use super::{Session, outln};

/// One line per push or pull.
pub fn print_sync(s: &EndpointSync) -> Result<()> {
    if let Some(p) = &s.pushed {
        outln!(
            "[{}] {} pushed generation {}: {} of {} files sent, {} bytes ({:.2} s)",
            s.endpoint,
            s.uri,
            p.generation,
            p.files_uploaded,
            p.files,
            p.bytes_sent,
            s.seconds
        );
    }
    if let Some(p) = &s.pulled {
        match p.generation {
            None => outln!("[{}] {} has no pushed cache", s.endpoint, s.uri),
            Some(g) if p.up_to_date => {
                outln!("[{}] {} generation {g}: up to date", s.endpoint, s.uri)
            }
            Some(g) => outln!(
                "[{}] {} pulled generation {g}: {} files downloaded, {} reused ({:.2} s)",
                s.endpoint,
                s.uri,
                p.files_downloaded,
                p.files_reused,
                s.seconds
            ),
        }
    }
    Ok(())
}

fn report(done: &[EndpointSync], json: bool) -> Result<()> {
    if json {
        return super::print_json(&done);
    }
    done.iter().try_for_each(print_sync)
}

pub fn push(session: &Session, config: &Path, cache_dir: &Path, json: bool) -> Result<ExitCode> {
    let dataset = Dataset::load(config)?;
    let endpoints = synced_endpoints(&dataset);
    if endpoints.is_empty() {
        eprintln!(
            "no object-store endpoints in {}: file:// endpoints hold their caches themselves",
            config.display()
        );
    }
    let now = SystemClock.now();
    let mut done = Vec::new();
    for e in endpoints {
        done.push(
            session
                .runtime
                .block_on(push_endpoint(&dataset, e, cache_dir, now))?,
        );
    }
    report(&done, json)?;
    Ok(ExitCode::SUCCESS)
}

pub fn pull<D: cache_core::Database>(
    session: &Session,
    config: &Path,
    cache_dir: &Path,
    json: bool,
) -> Result<ExitCode> {
    let dataset = Dataset::load(config)?;
    let mut done = Vec::new();
    for e in synced_endpoints(&dataset) {
        let pulled = pull_endpoint(&dataset, e, cache_dir, D::BACKEND);
        done.push(session.runtime.block_on(pulled)?);
    }
    report(&done, json)?;
    Ok(ExitCode::SUCCESS)
}

pub fn verify<D: cache_core::Database>(
    session: &Session,
    config: &Path,
    cache_dir: &Path,
    k: usize,
    json: bool,
) -> Result<ExitCode> {
    let dataset = Dataset::load(config)?;
    let rt = &session.runtime;
    for e in synced_endpoints(&dataset) {
        rt.block_on(pull_endpoint(&dataset, e, cache_dir, D::BACKEND))?;
    }
    let now = SystemClock.now();
    let checked = cache_sai3::verify::verify::<D>(&dataset, cache_dir, k, now, now, session.open);
    let drift = rt
        .block_on(checked)
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
        drift.iter().try_for_each(print_drift)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_drift(d: &EndpointDrift) -> Result<()> {
    outln!(
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
    Ok(())
}
