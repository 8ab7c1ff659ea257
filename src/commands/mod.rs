//! One module per command; each is generic over the cache backend where it opens a cache.
//!
//! Every command gets a [`Session`]: the one tokio runtime of the process and how to treat a
//! cache that another process holds (`--wait`). Output goes through [`outln!`], so a closed
//! pipe (`stats --json | head`) ends the command quietly instead of panicking.

mod datasets;
mod lookup;
mod maintenance;
mod plan;
mod prepare;
mod stats;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use cache_sai3::caches::OpenPolicy;

use crate::Command;
use crate::backend::{BackendChoice, with_backend};

/// Exit code of a prepare that finished with objects it could not write.
pub const EXIT_FAILED_OBJECTS: u8 = 1;
/// Exit code of any other error.
pub const EXIT_ERROR: u8 = 2;
/// Exit code when a cache is damaged (an answer from it would not be trustworthy).
pub const EXIT_DAMAGED: u8 = 3;
/// Exit code when a cache is in use by another process (BSD `EX_TEMPFAIL`: try again later).
pub const EXIT_IN_USE: u8 = 75;

/// Writes a line to stdout; a write error (a closed pipe) returns from the command.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($t)*)?;
    }};
}
pub(crate) use outln;

/// What every command runs with.
pub struct Session {
    /// The process's one I/O runtime.
    pub runtime: tokio::runtime::Runtime,
    /// How to treat a cache in use by another process.
    pub open: OpenPolicy,
    /// `--quiet`: no progress, no notes on stderr (errors and warnings still).
    pub quiet: bool,
}

impl Session {
    /// True when a command shows progress: not `--quiet`, and its output is not JSON.
    pub fn shows_progress(&self, json: bool) -> bool {
        !self.quiet && !json
    }

    /// Prints a note (not an error, not a warning) on stderr, unless `--quiet`.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    fn new(wait: Option<Duration>, quiet: bool) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the I/O runtime")?;
        Ok(Session {
            runtime,
            open: OpenPolicy { wait },
            quiet,
        })
    }
}

/// Runs `command` with the chosen backend.
pub fn run(
    backend: BackendChoice,
    wait: Option<Duration>,
    quiet: bool,
    command: Command,
) -> Result<ExitCode> {
    let s = Session::new(wait, quiet)?;
    match command {
        Command::Plan {
            config,
            agent,
            json,
        } => plan::run(&config, agent, json),
        Command::Lookup { args, index, json } => {
            let dir = cache_dir(args.cache_dir);
            let view = View::of(&args.config, args.agent, &dir);
            with_backend!(backend, lookup::run(&s, &view, &index, json))
        }
        Command::Prepare(args) => with_backend!(backend, prepare::run(&s, &args)),
        Command::Verify { args, sample, json } => {
            let dir = cache_dir(args.cache_dir);
            let view = View::of(&args.config, args.agent, &dir);
            with_backend!(backend, sync::verify(&s, &view, sample, json))
        }
        Command::Push { args, json } => {
            let dir = cache_dir(args.cache_dir);
            sync::push(&s, &View::of(&args.config, args.agent, &dir), json)
        }
        Command::Pull { args, json } => {
            let dir = cache_dir(args.cache_dir);
            let view = View::of(&args.config, args.agent, &dir);
            with_backend!(backend, sync::pull(&s, &view, json))
        }
        Command::Stats { cache_dir, json } => {
            with_backend!(backend, stats::run(&s, &cache_dir, json))
        }
        Command::Datasets {
            cache_dir: dir,
            json,
        } => {
            with_backend!(backend, datasets::run(&s, &cache_dir(dir), json))
        }
        Command::Clear {
            config,
            cache_dir: dir,
            keyspace,
            all,
            json,
        } => {
            let target = maintenance::Target {
                config,
                cache_dir: cache_dir(dir),
            };
            with_backend!(
                backend,
                maintenance::clear(&s, &target, keyspace.as_deref(), all, json)
            )
        }
        Command::Export {
            config,
            cache_dir: dir,
            output,
            json,
        } => {
            let target = maintenance::Target {
                config,
                cache_dir: cache_dir(dir),
            };
            with_backend!(backend, maintenance::export(&s, &target, &output, json))
        }
        Command::Import {
            input,
            config,
            cache_dir: dir,
            force,
            json,
        } => {
            let target = maintenance::Target {
                config,
                cache_dir: cache_dir(dir),
            };
            with_backend!(
                backend,
                maintenance::import(&s, &input, &target, force, json)
            )
        }
    }
}

/// Reports `e` and picks the exit code: a closed stdout ends quietly; a cache in use by
/// another process is [`EXIT_IN_USE`]; everything else [`EXIT_ERROR`].
pub fn exit_code_of(e: &anyhow::Error) -> ExitCode {
    let closed_pipe = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if closed_pipe {
        return ExitCode::SUCCESS;
    }
    let other_backend = e.chain().find_map(|c| match cache_error(c) {
        Some(cache_core::Error::WrongBackend { found, .. }) => Some(found.clone()),
        _ => None,
    });
    let message = render(e);
    match other_backend {
        Some(found) => eprintln!("sai3-cache: {message}; reopen it with --backend {found}"),
        None => eprintln!("sai3-cache: {message}"),
    }
    let in_use = e.chain().any(|c| {
        c.downcast_ref::<cache_sai3::Sai3Error>()
            .is_some_and(|s| s.is_in_use())
            || c.downcast_ref::<cache_core::Error>()
                .is_some_and(|c| c.kind() == cache_core::error::ErrorKind::InUse)
    });
    if in_use {
        ExitCode::from(EXIT_IN_USE)
    } else {
        ExitCode::from(EXIT_ERROR)
    }
}

/// The cache error `e` is, directly or as the sai3 layer's wrapper of one.
fn cache_error<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e cache_core::Error> {
    match e.downcast_ref::<cache_sai3::Sai3Error>() {
        Some(cache_sai3::Sai3Error::Cache(inner)) => Some(inner),
        _ => e.downcast_ref::<cache_core::Error>(),
    }
}

/// What a command looks at: a config, as a whole or as one agent sees it, and a cache dir.
pub struct View<'a> {
    /// The sai3-bench config.
    pub config: &'a std::path::Path,
    /// The agent, if one (`--agent K`).
    pub agent: Option<u32>,
    /// The cache dir.
    pub cache_dir: &'a std::path::Path,
}

impl<'a> View<'a> {
    fn of(config: &'a std::path::Path, agent: Option<u32>, cache_dir: &'a std::path::Path) -> Self {
        View {
            config,
            agent,
            cache_dir,
        }
    }
}

/// The dataset of `config` as agent `agent` sees it, or the whole dataset.
fn load_view(config: &std::path::Path, agent: Option<u32>) -> Result<cache_sai3::dataset::Dataset> {
    let whole = cache_sai3::dataset::Dataset::load(config)?;
    Ok(match agent {
        Some(k) => whole.for_agent(k)?,
        None => whole,
    })
}

/// `--cache-dir`, else `$SAI3_CACHE_DIR`, else the current directory.
fn cache_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os("SAI3_CACHE_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Prints `value` as pretty JSON.
fn print_json(value: &impl serde::Serialize) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// An error and its causes on one line, `: `-separated, without repeating a cause that a
/// message already quotes (many errors name their cause in their own text).
fn render(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn causes_quoted_by_a_message_are_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let quoted = anyhow::Error::new(cache_sai3::Sai3Error::ReadConfig {
            path: "x.yaml".into(),
            source: io,
        });
        assert_eq!(render(&quoted), "cannot read config x.yaml: no such file");
        let wrapped = anyhow::anyhow!("disk full").context("cannot write cache");
        assert_eq!(render(&wrapped), "cannot write cache: disk full");
    }
}
