//! `push`, `pull` and `verify`: object-store endpoint caches to and from their endpoints, and
//! sampled checks of the caches against the stores.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use cache_sai3::sync::{EndpointSync, Transfer, pull_endpoint, push_endpoint, synced_shards};
use cache_sai3::ttl::{Clock, SystemClock};
use cache_sai3::verify::{EndpointDrift, VerifyProgress};

use super::{Session, View, outln};
use crate::progress::{Reporter, Status, Unit};

/// A display of `transfer` in `phase` (dropped: ended).
fn show_transfer(session: &Session, json: bool, phase: &'static str) -> (Arc<Transfer>, Reporter) {
    let transfer = Arc::new(Transfer::default());
    let shown = transfer.clone();
    let reporter = Reporter::start(session.shows_progress(json), move || {
        crate::progress::transfer(phase, &shown)
    });
    (transfer, reporter)
}

/// One line per push or pull.
pub fn print_sync(s: &EndpointSync) -> Result<()> {
    if let Some(p) = &s.pushed {
        outln!(
            "[agent {} endpoint {}] {} pushed generation {}: {} of {} files sent, {} bytes ({:.2} s)",
            s.agent,
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
            None => outln!(
                "[agent {} endpoint {}] {} has no pushed cache of this agent",
                s.agent,
                s.endpoint,
                s.uri
            ),
            Some(g) if p.up_to_date => outln!(
                "[agent {} endpoint {}] {} generation {g}: up to date",
                s.agent,
                s.endpoint,
                s.uri
            ),
            Some(g) => outln!(
                "[agent {} endpoint {}] {} pulled generation {g}: {} files downloaded, {} reused ({:.2} s)",
                s.agent,
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

pub fn push(session: &Session, view: &View<'_>, json: bool) -> Result<ExitCode> {
    let views = super::load_view(view.config, view.agent)?.writer_views();
    let shards = synced_shards(&views);
    if shards.is_empty() {
        session.note(&format!(
            "no object-store endpoints in {}: file:// endpoints hold their caches themselves",
            view.config.display()
        ));
    }
    let now = SystemClock.now();
    let (transfer, reporter) = show_transfer(session, json, "pushing caches");
    let mut done = Vec::new();
    for &(v, e) in &shards {
        let pushed = push_endpoint(v, e, view.cache_dir, now, &transfer);
        done.push(session.runtime.block_on(pushed)?);
    }
    drop(reporter);
    report(&done, json)?;
    Ok(ExitCode::SUCCESS)
}

pub fn pull<D: cache_core::Database>(
    session: &Session,
    view: &View<'_>,
    json: bool,
) -> Result<ExitCode> {
    let views = super::load_view(view.config, view.agent)?.writer_views();
    let (transfer, reporter) = show_transfer(session, json, "pulling caches");
    let mut done = Vec::new();
    for (v, e) in synced_shards(&views) {
        let pulled = pull_endpoint(v, e, view.cache_dir, D::BACKEND, &transfer);
        done.push(session.runtime.block_on(pulled)?);
    }
    drop(reporter);
    report(&done, json)?;
    Ok(ExitCode::SUCCESS)
}

pub fn verify<D: cache_core::Database>(
    session: &Session,
    view: &View<'_>,
    k: usize,
    json: bool,
) -> Result<ExitCode> {
    let dataset = super::load_view(view.config, view.agent)?;
    let rt = &session.runtime;
    let views = dataset.writer_views();
    let shards = synced_shards(&views);
    let (transfer, reporter) = show_transfer(session, json, "pulling caches");
    for &(v, e) in &shards {
        rt.block_on(pull_endpoint(v, e, view.cache_dir, D::BACKEND, &transfer))?;
    }
    drop(reporter);
    let now = SystemClock.now();
    let cache_dir = view.cache_dir;
    let progress = Arc::new(VerifyProgress::default());
    let shown = progress.clone();
    let reporter = Reporter::start(session.shows_progress(json), move || verify_status(&shown));
    let checked =
        cache_sai3::verify::verify::<D>(&dataset, cache_dir, k, now, now, session.open, &progress);
    let drift = rt.block_on(checked);
    drop(reporter);
    let drift = drift.context("verify failed (run prepare first if the caches do not exist)")?;
    let repaired: Vec<(u32, u16)> = drift
        .iter()
        .filter(|d| d.missing + d.extra + d.size_mismatch > 0)
        .map(|d| (d.agent, d.endpoint))
        .collect();
    let (transfer, reporter) = show_transfer(session, json, "pushing caches");
    for &(v, e) in shards
        .iter()
        .filter(|(v, e)| repaired.contains(&(v.shard(), *e)))
    {
        rt.block_on(push_endpoint(v, e, cache_dir, now, &transfer))?;
    }
    drop(reporter);
    if json {
        super::print_json(&drift)?;
    } else {
        drift.iter().try_for_each(print_drift)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Ranges listed again and objects checked with HEAD, as one count.
fn verify_status(p: &VerifyProgress) -> Status {
    let [ranges_done, ranges_total, heads_done, heads_total] = p.snapshot();
    Status {
        detail: format!(
            ", {ranges_done}/{ranges_total} ranges listed, {heads_done}/{heads_total} HEADs"
        ),
        ..Status::of(
            "verifying",
            ranges_done + heads_done,
            ranges_total + heads_total,
            Unit::Checks,
        )
    }
}

fn print_drift(d: &EndpointDrift) -> Result<()> {
    outln!(
        "[agent {} endpoint {}] {}: {}/{} ranges listed, {} differed; {} HEADs; missing {}, extra {}, wrong size {}{}",
        d.agent,
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
