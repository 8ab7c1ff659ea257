//! `cache-bench`: the benchmark harness behind `cargo xtask bench`.
//!
//! * `cache-bench run [SUITE...] --cli PATH [--quick] [--files N] [--backend fjall,redb]
//!   [--work DIR] --out FILE.jsonl` runs suites and writes their records
//!   ([`record::Record`]), one JSON object per line; progress goes to stderr.
//! * `cache-bench report --input FILE.jsonl --out DIR [--docs FILE]` writes the markdown
//!   table, CSV and SVG plots of a results file, and, with `--docs`, `docs/PERFORMANCE.md`.
//!
//! Every figure is the median of several runs with min and max; every ratio compares two
//! figures of the same run. Nothing here asserts a speed: a run fails only when a suite fails.

mod backend;
mod machine;
mod record;
mod report;
mod suites;

use std::path::PathBuf;
use std::process::ExitCode;

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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cache-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
