//! One module per command; each is generic over the cache backend where it opens a cache.

mod lookup;
mod maintenance;
mod plan;
mod prepare;
mod stats;
mod sync;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use crate::Command;
use crate::backend::{BackendChoice, with_backend};

/// Runs `command` with the chosen backend.
pub fn run(backend: BackendChoice, command: Command) -> Result<ExitCode> {
    match command {
        Command::Plan { config, json } => plan::run(&config, json),
        Command::Lookup { args, index, json } => {
            let cache_dir = cache_dir(args.cache_dir);
            with_backend!(backend, lookup_run(&args.config, &cache_dir, &index, json))
        }
        Command::Prepare {
            args,
            no_cache,
            refresh_cache,
            cache_ttl,
            populate,
            concurrency,
            no_pull,
            no_push,
            json,
        } => {
            let opts = prepare::Flags {
                config: args.config,
                cache_dir: cache_dir(args.cache_dir),
                no_cache,
                refresh_cache,
                cache_ttl,
                eager: matches!(populate, crate::PopulateArg::Eager),
                concurrency,
                pull: !no_pull,
                push: !no_push,
                json,
            };
            with_backend!(backend, prepare_run(&opts))
        }
        Command::Verify { args, sample, json } => {
            let dir = cache_dir(args.cache_dir);
            with_backend!(backend, verify_run(&args.config, &dir, sample, json))
        }
        Command::Push { args, json } => {
            let dir = cache_dir(args.cache_dir);
            sync::push(&args.config, &dir, json)
        }
        Command::Pull { args, json } => {
            let dir = cache_dir(args.cache_dir);
            with_backend!(backend, pull_run(&args.config, &dir, json))
        }
        Command::Stats { cache_dir, json } => with_backend!(backend, stats_run(&cache_dir, json)),
        Command::Clear {
            config,
            cache_dir: dir,
            keyspace,
            all,
        } => {
            let dir = cache_dir(dir);
            with_backend!(
                backend,
                clear_run(config.as_deref(), &dir, keyspace.as_deref(), all)
            )
        }
        Command::Export {
            config,
            cache_dir: dir,
            output,
        } => {
            let dir = cache_dir(dir);
            with_backend!(backend, export_run(config.as_deref(), &dir, &output))
        }
        Command::Import {
            input,
            cache_dir: dir,
            force,
        } => {
            let dir = cache_dir(dir);
            with_backend!(backend, import_run(&input, &dir, force))
        }
    }
}

fn lookup_run<D: cache_core::Database>(
    config: &Path,
    cache_dir: &Path,
    index: &[String],
    json: bool,
) -> Result<ExitCode> {
    lookup::run::<D>(config, cache_dir, index, json)
}

fn prepare_run<D: cache_core::Database>(flags: &prepare::Flags) -> Result<ExitCode> {
    prepare::run::<D>(flags)
}

fn verify_run<D: cache_core::Database>(
    config: &Path,
    dir: &Path,
    sample: usize,
    json: bool,
) -> Result<ExitCode> {
    sync::verify::<D>(config, dir, sample, json)
}

fn pull_run<D: cache_core::Database>(config: &Path, dir: &Path, json: bool) -> Result<ExitCode> {
    sync::pull(config, dir, D::BACKEND, json)
}

fn stats_run<D: cache_core::Database>(cache_dir: &Path, json: bool) -> Result<ExitCode> {
    stats::run::<D>(cache_dir, json)
}

fn clear_run<D: cache_core::Database>(
    config: Option<&Path>,
    dir: &Path,
    keyspace: Option<&str>,
    all: bool,
) -> Result<ExitCode> {
    maintenance::clear::<D>(config, dir, keyspace, all)
}

fn export_run<D: cache_core::Database>(
    config: Option<&Path>,
    dir: &Path,
    output: &Path,
) -> Result<ExitCode> {
    maintenance::export::<D>(config, dir, output)
}

fn import_run<D: cache_core::Database>(input: &Path, dir: &Path, force: bool) -> Result<ExitCode> {
    maintenance::import::<D>(input, dir, force)
}

/// `--cache-dir`, else `$SAI3_CACHE_DIR`, else the current directory.
fn cache_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os("SAI3_CACHE_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Prints `value` as pretty JSON.
fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
