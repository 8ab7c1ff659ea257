//! `prepare`: the sai3-bench prepare flow with the caches.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use cache_core::Database;
use cache_core::ttl::{SystemClock, TtlPolicy};
use cache_sai3::dataset::Dataset;
use cache_sai3::prepare::{Populate, PrepareOptions, PrepareReport, Progress, prepare};

/// The command's flags.
pub struct Flags {
    pub config: PathBuf,
    pub cache_dir: PathBuf,
    pub no_cache: bool,
    pub refresh_cache: bool,
    pub cache_ttl: Option<u64>,
    pub eager: bool,
    pub concurrency: usize,
    pub pull: bool,
    pub push: bool,
    pub json: bool,
}

pub fn run<D: Database>(flags: &Flags) -> Result<ExitCode> {
    let dataset = Dataset::load(&flags.config)?;
    let options = PrepareOptions {
        cache_dir: flags.cache_dir.clone(),
        no_cache: flags.no_cache,
        ttl: TtlPolicy {
            ttl_override: flags.cache_ttl.map(Duration::from_secs),
            force_refresh: flags.refresh_cache || flags.no_cache,
            ..TtlPolicy::default()
        },
        populate: if flags.eager {
            Populate::Eager
        } else {
            Populate::Lazy
        },
        concurrency: flags.concurrency,
        test_name: flags
            .config
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        pull: flags.pull,
        push: flags.push,
    };
    if !flags.json {
        eprintln!(
            "prepare {} ({} objects, {} endpoints, backend {})",
            dataset.hash,
            dataset.total_objects(),
            dataset.endpoints.len(),
            D::BACKEND
        );
    }
    let progress = Arc::new(Progress::default());
    let done = Arc::new(AtomicBool::new(false));
    let reporter = spawn_progress(progress.clone(), done.clone(), flags.json);
    let result = prepare::<D>(&dataset, &options, &SystemClock, &progress);
    done.store(true, Ordering::SeqCst);
    let _ = reporter.join();
    let report = result?;
    if flags.json {
        super::print_json(&report)?;
    } else {
        print_report(&report);
    }
    Ok(if report.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A progress bar on a terminal, a plain line every 5 s otherwise (never with --json on
/// stdout... the bar goes to stderr either way).
fn spawn_progress(
    progress: Arc<Progress>,
    done: Arc<AtomicBool>,
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
        while !done.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
            ticks += 1;
            let total = progress.to_create.load(Ordering::Relaxed);
            let created = progress.created.load(Ordering::Relaxed);
            let phase = progress.phase.lock().map(|p| p.clone()).unwrap_or_default();
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

fn print_report(r: &PrepareReport) {
    println!("config hash      {}", r.config_hash);
    println!(
        "knowledge from   {} ({} LIST calls)",
        match r.listing_source {
            cache_sai3::prepare::ListingSource::List => "LIST",
            cache_sai3::prepare::ListingSource::ListingCache => "listing cache",
            cache_sai3::prepare::ListingSource::Ledger => "sealed ledger",
        },
        r.list_calls
    );
    println!(
        "objects          {} total, {} already present, {} created, {} failed",
        r.total_objects, r.already_present, r.created, r.failed
    );
    println!(
        "phases (s)       open {:.3}  list {:.3}  create {:.3}  persist {:.3}  total {:.3}",
        r.phases.open_s, r.phases.list_s, r.phases.create_s, r.phases.persist_s, r.phases.total_s
    );
    for e in &r.endpoints {
        println!(
            "  [{}] {:<44} {:?}: {} present, {} created{}",
            e.endpoint,
            e.uri,
            e.listing_source,
            e.already_present,
            e.created,
            if e.sealed { ", sealed" } else { "" }
        );
    }
    for s in &r.sync {
        if let Some(p) = &s.pulled {
            println!(
                "  [{}] pulled generation {:?} ({} files downloaded, {} reused{})",
                s.endpoint,
                p.generation,
                p.files_downloaded,
                p.files_reused,
                if p.up_to_date { ", up to date" } else { "" }
            );
        }
        if let Some(p) = &s.pushed {
            println!(
                "  [{}] pushed generation {} ({} of {} files sent, {} bytes)",
                s.endpoint, p.generation, p.files_uploaded, p.files, p.bytes_sent
            );
        }
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
}
