//! `prepare`: the sai3-bench prepare flow with the caches.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use cache_core::Database;
use cache_sai3::prepare::provenance::human;
use cache_sai3::prepare::{Populate, PrepareOptions, PrepareReport, Progress, prepare};
use cache_sai3::ttl::{SystemClock, TtlPolicy};

use super::{EXIT_FAILED_OBJECTS, Session, outln};
use crate::progress::{Reporter, Status, Unit};
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
        create: !flags.no_create,
    };
    if !flags.json && !session.quiet {
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
    let shown = progress.clone();
    let reporter = Reporter::start(session.shows_progress(flags.json), move || status(&shown));
    let result =
        session
            .runtime
            .block_on(prepare::<D>(&dataset, &options, &SystemClock, &progress));
    drop(reporter);
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

/// What the prepare is doing now, for the progress display.
fn status(p: &Progress) -> Status {
    let phase = p.phase();
    match phase.as_str() {
        "listing" => {
            let [keys, ranges_done, ranges_total] = p.listing.snapshot();
            Status {
                detail: format!(", {ranges_done}/{ranges_total} ranges"),
                ..Status::of(&phase, keys, 0, Unit::Keys)
            }
        }
        "pulling caches" => crate::progress::transfer(&phase, &p.pulled),
        "pushing caches" => crate::progress::transfer(&phase, &p.pushed),
        "storing paths" => Status::of(
            &phase,
            p.paths_stored.load(Ordering::Relaxed),
            p.paths_to_store.load(Ordering::Relaxed),
            Unit::Objects,
        ),
        _ => Status::of(
            &phase,
            p.created.load(Ordering::Relaxed),
            p.to_create.load(Ordering::Relaxed),
            Unit::Objects,
        ),
    }
}

fn print_report(r: &PrepareReport) -> Result<()> {
    outln!("config hash      {}", r.config_hash);
    outln!(
        "knowledge from   {} ({} LIST calls)",
        r.listing_source.describe(),
        r.list_calls
    );
    let missing: u64 = r
        .endpoints
        .iter()
        .map(|e| e.expected.saturating_sub(e.already_present + e.created))
        .sum();
    let missing = match missing {
        0 => String::new(),
        n => format!(", {n} missing"),
    };
    outln!(
        "objects          {} total, {} already present, {} created, {} failed{missing}",
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
        print_provenance(e)?;
        print_failures(e)?;
    }
    for s in &r.sync {
        super::sync::print_sync(s)?;
    }
    outln!("{}", r.provenance.line);
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}

/// Where an endpoint's knowledge came from in time, and what not listing saved.
fn print_provenance(e: &cache_sai3::prepare::EndpointReport) -> Result<()> {
    let p = &e.provenance;
    let checked = match &p.validated {
        Some(v) => format!("validated by {} {} ago", v.by.describe(), human(v.age_s)),
        None => "never validated".to_owned(),
    };
    let calls = match p.list_calls_saved {
        1 => "1 LIST call".to_owned(),
        n => format!("{n} LIST calls"),
    };
    let saved = match (p.list_calls_saved, p.est_list_seconds_saved) {
        (0, _) => String::new(),
        (_, Some(s)) => format!(
            "; {calls} and ~{} saved ({} objects not listed)",
            human(s),
            p.objects_not_listed
        ),
        (_, None) => format!("; {calls} saved (no LIST rate measured)"),
    };
    let rate = match p.list_keys_per_s {
        Some(r) => format!("; last LIST {r:.0} keys/s"),
        None => String::new(),
    };
    outln!(
        "      knowledge age {}, {checked}{saved}{rate}",
        human(p.age_s)
    );
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
