//! Tables, CSV, plots and `docs/PERFORMANCE.md` from a results file.
//!
//! `cache-bench report --input FILE.jsonl --out DIR [--docs FILE]` reads the records a run wrote
//! ([`Record`], one JSON object per line) and writes into `DIR`:
//!
//! * `summary.md`: per suite (in [`SUITES`] order, then any other suite), its figures, ratios,
//!   goals and notes ([`markdown`]);
//! * `figures.csv`, `ratios.csv`, `goals.csv` (RFC 4180, [`csv`]);
//! * `{suite}.svg` for every suite with figures: one horizontal bar chart of medians with min-max
//!   whiskers per unit ([`plot`]).
//!
//! With `--docs FILE` it also writes the complete `docs/PERFORMANCE.md` ([`docs`]) and copies
//! the plots next to it (`bench/{suite}.svg`).
//!
//! Nothing here judges a speed: the report shows what the run measured.

mod csv;
mod docs;
mod markdown;
mod plan;
mod plot;
#[cfg(test)]
mod tests;

use std::path::Path;

use anyhow::Context;

use crate::record::{Figure, Goal, Machine, Ratio, Record};
use crate::suites::SUITES;

/// The suite name of notes about the whole run rather than one suite.
pub(crate) const RUN_NOTES: &str = "run";

/// Writes the report of `input` into `out` (and `docs`).
///
/// # Errors
/// Unreadable input, a line that is not a record (named by its number), unwritable output.
pub fn write(input: &Path, out: &Path, docs: Option<&Path>) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(input)
        .with_context(|| format!("cannot read results file {}", input.display()))?;
    let results =
        Results::parse(&text).with_context(|| format!("results file {}", input.display()))?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create report directory {}", out.display()))?;
    let put = |name: &str, content: String| -> anyhow::Result<()> {
        let path = out.join(name);
        std::fs::write(&path, content).with_context(|| format!("cannot write {}", path.display()))
    };
    put("summary.md", markdown::summary(&results))?;
    put("figures.csv", csv::figures(&results))?;
    put("ratios.csv", csv::ratios(&results))?;
    put("goals.csv", csv::goals(&results))?;
    let plots = plot::write_all(&results, out)?;
    if let Some(docs) = docs {
        docs::write(&results, &plots, out, docs)?;
    }
    Ok(())
}

/// Every record of a results file, by kind, in file order.
#[derive(Debug, Default)]
pub(crate) struct Results {
    /// Measured quantities.
    pub figures: Vec<Figure>,
    /// Figures compared.
    pub ratios: Vec<Ratio>,
    /// Goals, met or not.
    pub goals: Vec<Goal>,
    /// Remarks: (suite, text).
    pub notes: Vec<(String, String)>,
    /// The machine of the run (the first machine record, if any).
    pub machine: Option<Machine>,
}

/// The records of one suite.
pub(crate) struct Suite<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its figures, in file order.
    pub figures: Vec<&'a Figure>,
    /// Its ratios.
    pub ratios: Vec<&'a Ratio>,
    /// Its goals.
    pub goals: Vec<&'a Goal>,
    /// Its notes.
    pub notes: Vec<&'a str>,
}

impl Results {
    /// Parses a results file: one record per line, blank lines skipped.
    ///
    /// # Errors
    /// A line that is not a record, named by its number (from 1).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut results = Results::default();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let record: Record = serde_json::from_str(line)
                .with_context(|| format!("line {}: not a result record", index + 1))?;
            match record {
                Record::Figure(f) => results.figures.push(f),
                Record::Ratio(r) => results.ratios.push(r),
                Record::Goal(g) => results.goals.push(g),
                Record::Note { suite, text } => results.notes.push((suite, text)),
                Record::Machine(m) => {
                    results.machine.get_or_insert(m);
                }
            }
        }
        Ok(results)
    }

    /// Notes about the whole run (suite [`RUN_NOTES`]): how it was run, when that matters for
    /// reading it (for example, passes merged from several runs).
    pub fn run_notes(&self) -> Vec<&str> {
        self.notes
            .iter()
            .filter(|(suite, _)| suite == RUN_NOTES)
            .map(|(_, text)| text.as_str())
            .collect()
    }

    /// Names of the suites that have any record: those of [`SUITES`] in its order, then the
    /// others in the order they first appear.
    pub fn suite_names(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        let all = self
            .figures
            .iter()
            .map(|f| f.suite.as_str())
            .chain(self.ratios.iter().map(|r| r.suite.as_str()))
            .chain(self.goals.iter().map(|g| g.suite.as_str()))
            .chain(
                self.notes
                    .iter()
                    .map(|(s, _)| s.as_str())
                    .filter(|s| *s != RUN_NOTES),
            );
        for name in all {
            if !seen.contains(&name) {
                seen.push(name);
            }
        }
        let mut ordered: Vec<&str> = SUITES
            .iter()
            .copied()
            .filter(|s| seen.contains(s))
            .collect();
        ordered.extend(seen.into_iter().filter(|s| !SUITES.contains(s)));
        ordered
    }

    /// The records of suite `name`.
    pub fn suite<'a>(&'a self, name: &'a str) -> Suite<'a> {
        Suite {
            name,
            figures: self.figures.iter().filter(|f| f.suite == name).collect(),
            ratios: self.ratios.iter().filter(|r| r.suite == name).collect(),
            goals: self.goals.iter().filter(|g| g.suite == name).collect(),
            notes: self
                .notes
                .iter()
                .filter(|(s, _)| s == name)
                .map(|(_, t)| t.as_str())
                .collect(),
        }
    }

    /// Every suite with records, in report order.
    pub fn suites(&self) -> Vec<Suite<'_>> {
        self.suite_names()
            .into_iter()
            .map(|name| self.suite(name))
            .collect()
    }
}
