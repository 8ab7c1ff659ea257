//! `cache-bench`: the benchmark harness behind `cargo xtask bench`.
//!
//! * `cache-bench run [SUITE...] --cli PATH [--quick] [--files N] [--backend fjall,redb]
//!   [--work DIR] --out FILE.jsonl` runs suites and writes their records
//!   ([`record::Record`]), one JSON object per line; progress goes to stderr.
//! * `cache-bench report --input FILE.jsonl --out DIR [--docs FILE]` writes the markdown
//!   table, CSV and SVG plots of a results file, and, with `--docs`, `docs/PERFORMANCE.md`.
//! * `cache-bench serve-dataset --config FILE [--present full|empty|gaps:FRACTION[:SEED]]
//!   [--latency-ms N] [--port P]` serves the S3 endpoints of a sai3-bench config
//!   (`s3://127.0.0.1:PORT/bucket/prefix/`) from the dataset-shaped server
//!   ([`dataset_objects`]) until killed.
//!
//! Every figure is the median of several runs with min and max; every ratio compares two
//! figures of the same run. Nothing here asserts a speed: a run fails only when a suite fails.

mod backend;
mod dataset_objects;
mod machine;
mod record;
mod report;
mod suites;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use backend::Backend;
use record::{Emitter, Record};

#[derive(Debug, Parser)]
#[command(
    name = "cache-bench",
    version,
    about = "sai3-cache's benchmark harness"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs suites and writes their records as JSON lines.
    Run {
        /// Suites to run [default: all, in order].
        suites: Vec<String>,
        /// The release `sai3-cache` binary, built with both backends.
        #[arg(long)]
        cli: PathBuf,
        /// Small sizes and few runs (a smoke run that every suite produces its figures).
        #[arg(long)]
        quick: bool,
        /// The main object count of the suites that have one.
        #[arg(long)]
        files: Option<u64>,
        /// Backends, comma separated.
        #[arg(long, default_value = "fjall,redb")]
        backend: String,
        /// Scratch directory (on the disk to measure) [default: a temporary directory].
        #[arg(long)]
        work: Option<PathBuf>,
        /// Results file (JSON lines).
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes tables, CSV, plots (and docs/PERFORMANCE.md) from a results file.
    Report {
        /// Results file (JSON lines).
        #[arg(long)]
        input: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Also write this markdown document (docs/PERFORMANCE.md).
        #[arg(long)]
        docs: Option<PathBuf>,
    },
    /// Serves the S3 endpoints of a sai3-bench config from the dataset-shaped server until
    /// killed.
    ServeDataset {
        /// The sai3-bench config; every endpoint `s3://127.0.0.1:PORT/bucket/prefix/`, one port.
        #[arg(long)]
        config: PathBuf,
        /// Which objects exist at the start: full, empty or gaps:FRACTION[:SEED].
        #[arg(long, default_value = "full")]
        present: String,
        /// Milliseconds waited before every response.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// The port to listen on [default: the endpoints' port].
        #[arg(long)]
        port: Option<u16>,
    },
}

fn run_suites(
    suites: Vec<String>,
    cli: PathBuf,
    quick: bool,
    files: Option<u64>,
    backend: &str,
    work: Option<PathBuf>,
    out: PathBuf,
) -> anyhow::Result<()> {
    let backends = backend
        .split(',')
        .map(Backend::parse)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let suites = if suites.is_empty() {
        suites::SUITES.iter().map(|s| (*s).to_owned()).collect()
    } else {
        suites
    };
    let temp = tempfile::Builder::new()
        .prefix("cache-bench-")
        .tempdir_in(work.as_deref().unwrap_or(&std::env::temp_dir()))?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let file = std::fs::File::create(&out)?;
    let ctx = suites::Ctx {
        quick,
        files,
        backends,
        cli,
        work: temp.path().to_owned(),
        out: Emitter::new(Box::new(std::io::BufWriter::new(file))),
    };
    ctx.out
        .emit(&Record::Machine(machine::describe(&ctx.work, quick)))?;
    for suite in &suites {
        let started = std::time::Instant::now();
        eprintln!("\n==> suite {suite}");
        suites::run(suite, &ctx).map_err(|e| e.context(format!("suite {suite}")))?;
        eprintln!(
            "<== suite {suite} ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// `serve-dataset`: starts the server, says what it serves, then waits to be killed.
fn serve_dataset(
    config: &Path,
    present: &str,
    latency_ms: u64,
    port: Option<u16>,
) -> anyhow::Result<()> {
    let present = dataset_objects::Present::parse(present)?;
    let dataset = cache_sai3::dataset::Dataset::load(config)?;
    let port = port.unwrap_or(dataset_objects::dataset_port(&dataset)?);
    dataset_objects::check_port(port)?;
    let latency = Duration::from_millis(latency_ms);
    let sets = dataset_objects::dataset_sets(&dataset, |_, _, o| present.of(o))?;
    let server = sets.builder.latency(latency).port(port).start();
    eprintln!(
        "serving {} objects of {} on {} (latency {latency_ms} ms)",
        sets.present,
        config.display(),
        server.url()
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            suites,
            cli,
            quick,
            files,
            backend,
            work,
            out,
        } => run_suites(suites, cli, quick, files, &backend, work, out),
        Command::Report { input, out, docs } => report::write(&input, &out, docs.as_deref()),
        Command::ServeDataset {
            config,
            present,
            latency_ms,
            port,
        } => serve_dataset(&config, &present, latency_ms, port),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cache-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
