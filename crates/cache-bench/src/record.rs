//! What a suite reports, one JSON object per line: figures (a median of several runs with
//! min and max), ratios (two figures of the same run compared), goals (met or not), notes and
//! the machine. `cache-bench report` turns a file of them into tables, CSV, plots and
//! `docs/PERFORMANCE.md`.

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// One line of a results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// A measured quantity.
    Figure(Figure),
    /// Two figures of one suite and variant compared: `slower / faster` of their medians.
    Ratio(Ratio),
    /// A goal of the issue tracker or the proposal, met or not.
    Goal(Goal),
    /// A remark on a suite (what was measured, what limits it).
    Note {
        /// Suite name.
        suite: String,
        /// The remark.
        text: String,
    },
    /// The machine the run was made on.
    Machine(Machine),
}

/// A measured quantity: the median of `runs` samples, with min and max.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    /// Suite name (`paths`, `ledger`, ...).
    pub suite: String,
    /// What was measured (`closed form`, `KV get`, `first prepare`, ...).
    pub name: String,
    /// The size or setting it was measured at (`64M files`, `1M objects, local`).
    pub variant: String,
    /// Backend, where a KV store is involved.
    pub backend: Option<String>,
    /// Unit of the values (`ns/path`, `s`, `bytes/object`, `MiB`).
    pub unit: String,
    /// Median of the samples.
    pub median: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Number of samples.
    pub runs: usize,
    /// True when a smaller value is better (times, bytes); false for throughputs.
    pub lower_is_better: bool,
}

/// Two figures of one run compared.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ratio {
    /// Suite name.
    pub suite: String,
    /// Variant both figures were measured at.
    pub variant: String,
    /// The better figure's name (and backend, if any).
    pub better: String,
    /// The worse figure's name (and backend, if any).
    pub worse: String,
    /// How many times better (always >= 1 unless the expected winner lost: then < 1).
    pub ratio: f64,
}

/// A goal and whether this run met it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Goal {
    /// Suite name.
    pub suite: String,
    /// The goal as stated (`<= 50 ns per path on one core`).
    pub goal: String,
    /// What was measured, as text.
    pub measured: String,
    /// Whether it was met.
    pub met: bool,
}

/// The machine: what figures are only comparable within.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// CPU model.
    pub cpu: String,
    /// Memory in GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// File system and device of the work directory.
    pub disk: String,
    /// When the run started (RFC 3339, UTC).
    pub started: String,
    /// `--quick` or a full run.
    pub quick: bool,
}

/// Samples of one quantity.
#[derive(Debug, Clone, Default)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    /// Runs `f` `runs` times and keeps what it returns.
    pub fn collect(
        runs: usize,
        mut f: impl FnMut() -> anyhow::Result<f64>,
    ) -> anyhow::Result<Self> {
        let mut out = Vec::with_capacity(runs);
        for _ in 0..runs.max(1) {
            out.push(f()?);
        }
        Ok(Samples(out))
    }

    /// Times `f` `runs` times, in seconds.
    pub fn time(runs: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Self> {
        Self::collect(runs, || {
            let t = Instant::now();
            f()?;
            Ok(t.elapsed().as_secs_f64())
        })
    }

    /// Each sample multiplied by `k` (e.g. seconds to nanoseconds per item).
    pub fn scaled(&self, k: f64) -> Samples {
        Samples(self.0.iter().map(|v| v * k).collect())
    }

    /// The median (the mean of the middle two for an even count).
    pub fn median(&self) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// The smallest sample.
    pub fn min(&self) -> f64 {
        self.0.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// The largest sample.
    pub fn max(&self) -> f64 {
        self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }
}

/// Where records go: JSON lines to a file (or stdout), a readable line to stderr.
pub struct Emitter {
    out: Mutex<Box<dyn Write + Send>>,
}

impl Emitter {
    /// Records written to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Emitter {
            out: Mutex::new(out),
        }
    }

    /// Writes one record.
    ///
    /// # Errors
    /// The output cannot be written.
    pub fn emit(&self, record: &Record) -> anyhow::Result<()> {
        eprintln!("  {}", describe(record));
        let line = serde_json::to_string(record)?;
        let mut out = self
            .out
            .lock()
            .map_err(|_| anyhow::anyhow!("results output poisoned"))?;
        writeln!(out, "{line}")?;
        out.flush()?;
        Ok(())
    }
}

/// One readable line per record (progress on stderr).
pub fn describe(record: &Record) -> String {
    match record {
        Record::Figure(f) => format!(
            "{} / {} [{}]{}: {} {} (min {}, max {}, {} runs)",
            f.suite,
            f.name,
            f.variant,
            f.backend
                .as_deref()
                .map(|b| format!(" {b}"))
                .unwrap_or_default(),
            human(f.median),
            f.unit,
            human(f.min),
            human(f.max),
            f.runs
        ),
        Record::Ratio(r) => format!(
            "{} [{}]: {} is {:.1}x {}",
            r.suite, r.variant, r.better, r.ratio, r.worse
        ),
        Record::Goal(g) => format!(
            "{} goal {}: {} ({})",
            g.suite,
            g.goal,
            if g.met { "met" } else { "NOT met" },
            g.measured
        ),
        Record::Note { suite, text } => format!("{suite}: {text}"),
        Record::Machine(m) => format!(
            "machine: {} CPUs ({}), {:.1} GiB, kernel {}",
            m.cpus, m.cpu, m.memory_gib, m.kernel
        ),
    }
}

/// A number with about three significant digits.
pub fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}
