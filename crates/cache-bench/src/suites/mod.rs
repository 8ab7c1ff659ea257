//! The suites, one file each. Every suite gets a [`Ctx`]: the sizes to use (`--quick` or full,
//! `--files`), the backends, a work directory, the release CLI for suites that run it as a user
//! does, and where to report.

use std::path::PathBuf;

use crate::backend::Backend;
use crate::record::{Emitter, Figure, Goal, Ratio, Record, Samples};

pub mod backends;
pub mod ledger;
pub mod listing;
pub mod paths;
pub mod prepare;
pub mod process;
pub mod resume;
pub mod scale;
pub mod sync;

/// Every suite, in the order `cargo xtask bench` runs them.
pub const SUITES: [&str; 8] = [
    "paths", "ledger", "resume", "listing", "prepare", "sync", "backends", "scale",
];

/// What a suite runs with.
pub struct Ctx {
    /// Small sizes, few runs: a smoke run that every suite produces its figures.
    pub quick: bool,
    /// `--files N`: overrides the suite's main object count, if it has one.
    pub files: Option<u64>,
    /// Backends to measure wherever a KV store is involved.
    pub backends: Vec<Backend>,
    /// The release `sai3-cache` binary (built with both backends).
    pub cli: PathBuf,
    /// A scratch directory on the disk to measure (removed after the run).
    pub work: PathBuf,
    /// Where records go.
    pub out: Emitter,
}

impl Ctx {
    /// Samples per figure: 3 in a quick run, 5 in a full one.
    pub fn runs(&self) -> usize {
        if self.quick { 3 } else { 5 }
    }

    /// `full` in a full run, `quick` in a quick one (unless `--files` says otherwise).
    pub fn size(&self, full: u64, quick: u64) -> u64 {
        self.files.unwrap_or(if self.quick { quick } else { full })
    }

    /// A fresh scratch directory `name` under the work directory.
    ///
    /// # Errors
    /// It cannot be created.
    pub fn scratch(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.work.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Reports a figure and returns it (for ratios).
    ///
    /// # Errors
    /// The report cannot be written.
    #[allow(clippy::too_many_arguments)]
    pub fn figure(
        &self,
        suite: &str,
        name: &str,
        variant: &str,
        backend: Option<Backend>,
        unit: &str,
        samples: &Samples,
        lower_is_better: bool,
    ) -> anyhow::Result<Figure> {
        let f = Figure {
            suite: suite.into(),
            name: name.into(),
            variant: variant.into(),
            backend: backend.map(|b| b.name().to_owned()),
            unit: unit.into(),
            median: samples.median(),
            min: samples.min(),
            max: samples.max(),
            runs: samples.0.len(),
            lower_is_better,
        };
        self.out.emit(&Record::Figure(f.clone()))?;
        Ok(f)
    }

    /// Reports how many times `better` beats `worse` (medians of the same run and variant).
    ///
    /// # Errors
    /// The report cannot be written.
    pub fn ratio(&self, better: &Figure, worse: &Figure) -> anyhow::Result<f64> {
        let ratio = if better.lower_is_better {
            worse.median / better.median
        } else {
            better.median / worse.median
        };
        let label = |f: &Figure| match &f.backend {
            Some(b) => format!("{} ({b})", f.name),
            None => f.name.clone(),
        };
        self.out.emit(&Record::Ratio(Ratio {
            suite: better.suite.clone(),
            variant: better.variant.clone(),
            better: label(better),
            worse: label(worse),
            ratio,
        }))?;
        Ok(ratio)
    }

    /// Reports a goal.
    ///
    /// # Errors
    /// The report cannot be written.
    pub fn goal(&self, suite: &str, goal: &str, measured: String, met: bool) -> anyhow::Result<()> {
        self.out.emit(&Record::Goal(Goal {
            suite: suite.into(),
            goal: goal.into(),
            measured,
            met,
        }))
    }

    /// Reports a remark.
    ///
    /// # Errors
    /// The report cannot be written.
    pub fn note(&self, suite: &str, text: impl Into<String>) -> anyhow::Result<()> {
        self.out.emit(&Record::Note {
            suite: suite.into(),
            text: text.into(),
        })
    }
}

/// Runs suite `name`.
///
/// # Errors
/// An unknown suite, or the suite's own failure.
pub fn run(name: &str, ctx: &Ctx) -> anyhow::Result<()> {
    match name {
        "paths" => paths::run(ctx),
        "ledger" => ledger::run(ctx),
        "resume" => resume::run(ctx),
        "listing" => listing::run(ctx),
        "prepare" => prepare::run(ctx),
        "sync" => sync::run(ctx),
        "backends" => backends::run(ctx),
        "scale" => scale::run(ctx),
        other => anyhow::bail!("unknown suite {other:?} (suites: {})", SUITES.join(", ")),
    }
}
