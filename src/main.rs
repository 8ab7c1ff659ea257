//! `sai3-cache`: the command-line tool of the sai3-cache metadata cache.
//!
//! Backends are chosen at build time by cargo feature (`fjall`, the default, and `redb`); when
//! both are built in, `--backend` picks one at run time.

mod backend;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use backend::BackendChoice;

/// Persistent metadata cache for storage benchmarks with millions of files and objects.
///
/// sai3-cache remembers what a benchmark's prepare step built (tree layout, object states,
/// listings) so that the next run does not re-list tens of millions of objects.
#[derive(Debug, Parser)]
#[command(name = "sai3-cache", version, about, long_about)]
struct Cli {
    /// Storage engine of the cache (only engines compiled into this build are accepted).
    #[arg(long, global = true, value_enum, default_value_t = BackendChoice::default())]
    backend: BackendChoice,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what a cache directory holds: keyspaces, approximate entry counts, bytes on disk.
    ///
    /// Opens the cache read-only in spirit (nothing is created or changed); a directory that is
    /// not a cache of the chosen backend is reported as such.
    Stats {
        /// The cache directory (the one holding SAI3-CACHE-FORMAT).
        #[arg(long)]
        cache_dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Stats { cache_dir, json } => backend::stats(cli.backend, cache_dir, *json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sai3-cache: {e:#}");
            ExitCode::from(2)
        }
    }
}
