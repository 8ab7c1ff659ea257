//! `prepare`: the sai3-bench prepare flow with the caches.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use anyhow::{Context, Result};
use cache_core::Database;
use cache_sai3::prepare::{Populate, PrepareOptions, PrepareReport, Progress, prepare};
use cache_sai3::ttl::{SystemClock, TtlPolicy};

use super::{EXIT_FAILED_OBJECTS, Session, outln};
use crate::{PopulateArg, PrepareArgs};

pub fn run<D: Database>(session: &Session, flags: &PrepareArgs) -> Result<ExitCode> {
    let config = &flags.args.config;
    let dataset = super::load_view(config, flags.args.agent)?;
    let options = PrepareOptions {
        cache_dir: super::cache_dir(flags.args.cache_dir.clone()),
        no_cache: flags.no_cache,
        ttl: TtlPolicy {
            ttl_override: flags.cache_ttl.map(Duration::from_secs),
            force_refresh: flags.refresh_cache || flags.no_cache,
            ..TtlPolicy::default()
        },
        populate: match flags.populate {
            PopulateArg::Eager => Populate::Eager,
            PopulateArg::Lazy => Populate::Lazy,
        },
        concurrency: flags.concurrency,
        checkpoint_objects: flags.checkpoint_every,
        test_name: config
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .with_context(|| format!("{} names no file", config.display()))?,
        pull: !flags.no_pull,
        push: !flags.no_push,
        open: session.open,
    };
    if !flags.json {
        let whose = match dataset.agent {
            Some(k) => format!("agent {k}'s share: "),
            None => String::new(),
        };
        let n = dataset.endpoints.len();
        eprintln!(
            "prepare {} ({whose}{} objects, {n} endpoint{}, backend {})",
            dataset.hash,
            dataset.total_objects(),
            if n == 1 { "" } else { "s" },
            D::BACKEND
        );
    }
    let progress = Arc::new(Progress::default());
    // Dropping `done` ends the progress thread at once (it never delays the exit).
    let (done, finished) = channel::<()>();
    let reporter = spawn_progress(progress.clone(), finished, flags.json);
    let result =
        session
            .runtime
            .block_on(prepare::<D>(&dataset, &options, &SystemClock, &progress));
    drop(done);
    let _ = reporter.join();
    let report = result?;
    if flags.json {
        super::print_json(&report)?;
    } else {
        print_report(&report)?;
    }
    Ok(if report.failed > 0 {
        ExitCode::from(EXIT_FAILED_OBJECTS)
    } else {
        ExitCode::SUCCESS
    })
}

/// A progress bar on a terminal, a plain line every 5 s otherwise (never with --json on
/// stdout... the bar goes to stderr either way).
fn spawn_progress(
    progress: Arc<Progress>,
    finished: Receiver<()>,
    quiet: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let terminal = std::io::stderr().is_terminal();
        let bar = (terminal && !quiet).then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:>10} [{bar:40}] {pos}/{len} objects {per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
        let mut ticks = 0u32;
        while let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(Duration::from_millis(200))
        {
            ticks += 1;
            let total = progress.to_create.load(Ordering::Relaxed);
            let created = progress.created.load(Ordering::Relaxed);
            let phase = progress.phase();
            match &bar {
                Some(b) => {
                    b.set_length(total);
                    b.set_position(created);
                    b.set_message(phase);
                }
                None if !quiet && ticks.is_multiple_of(25) => {
                    eprintln!("  {phase}: {created}/{total} objects created");
                }
                None => {}
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    })
}

fn print_report(r: &PrepareReport) -> Result<()> {
    outln!("config hash      {}", r.config_hash);
    outln!(
        "knowledge from   {} ({} LIST calls)",
        r.listing_source.describe(),
        r.list_calls
    );
    outln!(
        "objects          {} total, {} already present, {} created, {} failed",
        r.total_objects,
        r.already_present,
        r.created,
        r.failed
    );
    outln!(
        "phases (s)       open {:.3}  list {:.3}  create {:.3}  persist {:.3}  total {:.3}",
        r.phases.open_s,
        r.phases.list_s,
        r.phases.create_s,
        r.phases.persist_s,
        r.phases.total_s
    );
    if let Some(k) = r.agent {
        outln!("agent            {k} (its share, its shards)");
    }
    for e in &r.endpoints {
        outln!(
            "  [agent {} endpoint {}] {:<44} {}{}: {} present, {} created{}{}",
            e.agent,
            e.endpoint,
            e.uri,
            e.listing_source.describe(),
            if e.trusted_by_dataset_record {
                ", confirmed by its DATASET record"
            } else {
                ""
            },
            e.already_present,
            e.created,
            if e.resumed_in_flight > 0 {
                format!(
                    " ({} in flight when interrupted: {} found written, the rest written again)",
                    e.resumed_in_flight, e.in_flight_found
                )
            } else {
                String::new()
            },
            if e.sealed { ", sealed" } else { "" }
        );
        print_failures(e)?;
    }
    for s in &r.sync {
        super::sync::print_sync(s)?;
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}

/// The reasons of failed writes: a count per kind and the first messages.
fn print_failures(e: &cache_sai3::prepare::EndpointReport) -> Result<()> {
    if e.write_failures.is_empty() {
        return Ok(());
    }
    let kinds: Vec<String> = e
        .write_failures
        .by_kind
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    outln!("      {} failed writes: {}", e.failed, kinds.join(", "));
    for reason in &e.write_failures.first {
        outln!("      failed: {reason}");
    }
    Ok(())
}
