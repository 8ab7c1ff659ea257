//! `sai3-cache`: the command-line tool of the sai3-cache metadata cache.
//!
//! Backends are chosen at build time by cargo feature (`fjall`, the default, and `redb`); when
//! both are built in, `--backend` picks one at run time.

mod backend;
mod commands;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use backend::BackendChoice;

/// Persistent metadata cache for storage benchmarks with millions of files and objects.
///
/// sai3-cache reads sai3-bench configs unchanged, computes every file's name and place, and
/// remembers what prepare built (which objects exist, their sizes, listings, seeds) so that
/// the next run does not re-list tens of millions of objects.
///
/// Typical use:
///   sai3-cache plan    --config bench.yaml            # what the config defines
///   sai3-cache prepare --config bench.yaml            # create what is missing, fill the cache
///   sai3-cache prepare --config bench.yaml            # again: no LIST, nothing to create
///   sai3-cache lookup  --config bench.yaml 0 17 42    # where objects are, and their state
///   sai3-cache datasets                               # what this cache dir has prepared
///
/// Exit codes: 0 done; 1 prepare finished but some objects could not be written (the report
/// says why); 2 error; 3 a cache is damaged (lookup; prepare rebuilds it); 75 a cache is in use
/// by another process (retry later, or pass --wait SECS).
#[derive(Debug, Parser)]
#[command(name = "sai3-cache", version, about, long_about, verbatim_doc_comment)]
struct Cli {
    /// Storage engine of the cache (only engines compiled into this build are accepted).
    #[arg(long, global = true, value_enum, default_value_t = BackendChoice::default())]
    backend: BackendChoice,

    /// When a cache is in use by another sai3-cache process, wait up to SECS for it (default:
    /// fail at once with exit code 75).
    #[arg(long, global = true, value_name = "SECS", default_value_t = 0)]
    wait: u64,

    /// Log what happens on stderr: -v for steps such as each ledger checkpoint, -vv for
    /// more.
    /// RUST_LOG (e.g. `RUST_LOG=cache_sai3=debug`) overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Print no progress and no notes on stderr (errors and warnings still are). Progress is
    /// a bar on a terminal, else a line every 5 s (SAI3_PROGRESS_INTERVAL_MS sets the
    /// milliseconds); never on stdout, never with --json.
    #[arg(short, long, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

/// The config and the cache dir a command works on.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// sai3-bench YAML config (read unchanged; only dataset-defining fields are used).
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// Directory of the coordinator cache and of object-store endpoint caches
    /// [default: $SAI3_CACHE_DIR, else the current directory].
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Act as agent K (0-based position in `distributed.agents`): its share of the dataset and
    /// its shard of every endpoint's cache [default: the whole dataset, every agent's share
    /// and shard].
    #[arg(long, value_name = "K")]
    pub agent: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what a config defines: config hash, totals, per-endpoint and per-agent counts.
    ///
    /// Computed from the config alone; touches no cache and no endpoint.
    Plan {
        /// sai3-bench YAML config.
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// Act as agent K (0-based position in `distributed.agents`), with the config the
        /// controller would send it [default: the whole dataset, every agent's share].
        #[arg(long, value_name = "K")]
        agent: Option<u32>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Where objects are (path, URI, endpoint, agent) and, when the ledger knows, their state.
    ///
    /// INDEX is an object number of the first pool, or POOL:INDEX (pools are numbered as
    /// `plan` lists them). Paths are computed in closed form; the endpoint caches supply states.
    Lookup {
        #[command(flatten)]
        args: ConfigArgs,
        /// Object numbers (N or POOL:N).
        #[arg(required = true)]
        index: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create missing objects on the configured endpoints, recording everything in the caches.
    ///
    /// Knowledge of existing objects comes from the sealed ledger, a fresh cached listing, or a
    /// LIST, in that order (see --refresh-cache and --cache-ttl). Only missing objects are
    /// created; an aborted prepare resumes where it stopped.
    Prepare(PrepareArgs),
    /// Upload the caches of the config's object-store endpoints as new generations.
    ///
    /// Agent K's shard of each cache goes to `{endpoint}/sai3-kv-cache/agents/K/`:
    /// content-addressed, compressed, incremental; published with a conditional put so
    /// concurrent pushes never overwrite each other. `file://` endpoints hold their caches
    /// themselves and are skipped.
    Push {
        #[command(flatten)]
        args: ConfigArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download the newest generation of the config's object-store endpoint caches, if newer.
    ///
    /// Every file is verified (size, SHA-256) before the local copy is switched atomically;
    /// `lookup` and `stats` then work from the pulled caches alone.
    Pull {
        #[command(flatten)]
        args: ConfigArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove one keyspace, or whole caches, of a config (or of the cache dir).
    Clear {
        /// sai3-bench config whose endpoint caches are concerned (without it: the coordinator
        /// cache and object-store endpoint caches in the cache dir).
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// Cache dir [default: $SAI3_CACHE_DIR, else the current directory].
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Keyspace to empty in every cache (e.g. listing_cache, file_paths).
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        keyspace: Option<String>,
        /// Remove the caches entirely.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the caches of a config (or of the cache dir) to one .tar.zst archive.
    Export {
        /// sai3-bench config whose file:// endpoint caches are included.
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// Cache dir [default: $SAI3_CACHE_DIR, else the current directory].
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Archive to write.
        #[arg(long, short = 'o')]
        output: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Install the caches of an archive made by export (each is verified first).
    Import {
        /// Archive to read.
        #[arg(long, short = 'i')]
        input: PathBuf,
        /// The config whose file:// endpoints receive their caches (needed when the archive
        /// holds file:// endpoint caches: they go where this config puts them, never to a path
        /// the archive names).
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// Cache dir to install the coordinator and object-store endpoint caches into.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Replace caches that exist (they are kept aside, not deleted).
        #[arg(long)]
        force: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a sample of the dataset against the caches and repair the ledger where it drifted.
    ///
    /// Lists K random top-level key ranges of every endpoint again and checks K random objects
    /// with HEAD; reports missing, extra and wrong-size objects; repairs only the ranges that
    /// differ. An endpoint with missing objects loses its seal: the next prepare recreates them.
    Verify {
        #[command(flatten)]
        args: ConfigArgs,
        /// Ranges to list and objects to HEAD per endpoint.
        #[arg(long, value_name = "K")]
        sample: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what a cache directory holds: keyspaces, approximate entry counts, bytes on disk.
    ///
    /// Opens the cache without creating or changing anything; a directory that is not a cache
    /// of the chosen backend is reported as such.
    Stats {
        /// The cache directory (the one holding SAI3-CACHE-FORMAT).
        #[arg(long)]
        cache_dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The datasets a cache dir has prepared (from its coordinator cache): config hash, name,
    /// endpoints, totals, last prepared, and per endpoint whether it is sealed.
    Datasets {
        /// Cache dir (default `$SAI3_CACHE_DIR`, else the current directory).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The flags of `prepare`.
#[derive(Debug, clap::Args)]
pub struct PrepareArgs {
    /// The config and cache dir.
    #[command(flatten)]
    pub args: ConfigArgs,
    /// Use no cache: LIST every endpoint, create what is missing, record nothing.
    #[arg(long)]
    pub no_cache: bool,
    /// Ignore cached knowledge: LIST every endpoint and refresh the caches.
    #[arg(long)]
    pub refresh_cache: bool,
    /// Trust cached listings and seals for this many seconds [default: 86400 for object
    /// stores; file:// listings are not cached, seals hold until the config changes].
    /// 0 disables the listing cache.
    #[arg(long, value_name = "SECS")]
    pub cache_ttl: Option<u64>,
    /// Fill `file_paths` with every path now (eager) or on first lookup (lazy).
    #[arg(long, value_enum, default_value = "lazy")]
    pub populate: PopulateArg,
    /// Objects created at the same time per endpoint.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Commit the ledger after at most N objects created per endpoint (and at least once a
    /// second): a killed run writes at most that many again when resumed. Lower values cost a
    /// durable commit (an fsync) each.
    #[arg(long, value_name = "N", default_value_t = cache_sai3::prepare::CHECKPOINT_OBJECTS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub checkpoint_every: usize,
    /// Do not pull object-store endpoint caches before starting.
    #[arg(long)]
    pub no_pull: bool,
    /// Do not push object-store endpoint caches when done.
    #[arg(long)]
    pub no_push: bool,
    /// Learn and record what exists (LIST, or trust a seal, ledger or cached listing), but
    /// write nothing to the endpoints: the report counts what is missing.
    #[arg(long)]
    pub no_create: bool,
    /// Print a JSON report.
    #[arg(long)]
    pub json: bool,
}

/// `--populate`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PopulateArg {
    /// Store every path at the end of prepare.
    Eager,
    /// Store paths when lookup first computes them.
    Lazy,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let wait = (cli.wait > 0).then(|| std::time::Duration::from_secs(cli.wait));
    let result = commands::run(cli.backend, wait, cli.quiet, cli.command);
    match result {
        Ok(code) => code,
        Err(e) => commands::exit_code_of(&e),
    }
}

/// Logs through `tracing` on stderr: warnings by default, more with `-v`; `RUST_LOG` wins.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // `-v` speaks for this tool's crates; other crates (HTTP clients) only warn unless
    // RUST_LOG asks for more.
    // object_store logs each retry of a failed request (LIST, PUT, GET) at info.
    let retries = format!(",object_store::client::retry={level}");
    let ours = [
        "sai3_cache",
        "cache_sai3",
        "cache_sync",
        "cache_core",
        "cache_fjall",
        "cache_redb",
    ]
    .map(|c| format!(",{c}={level}"))
    .concat()
        + &retries;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("warn{ours}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
