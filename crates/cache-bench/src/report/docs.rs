//! `docs/PERFORMANCE.md`: the machine, the goals, every suite (what it measures, its figures,
//! ratios, notes and plot) and the original proposal's expected performance next to what this
//! run measured. The plots are copied to `bench/` next to the document.

use std::fmt::Write;
use std::path::Path;

use anyhow::Context;

use crate::record::{Figure, Ratio};
use crate::report::markdown::{
    cell, figure_table, met, note_list, num, or_unknown, ratio_list, ratio_text,
};
use crate::report::{Results, plot};
use crate::suites::SUITES;

/// What each suite measures, one paragraph each.
const DESCRIPTIONS: [(&str, &str); 8] = [
    (
        "paths",
        "Index to path of a sai3-bench tree, four ways, in ns per path over random indices, at \
         1M and 64M files: the original proposal's linear scan of the (directory, file range) \
         list (`TreeManifest::get_file_path`); a vector of every leaf directory's path; the \
         closed form sai3-cache uses (`TreeLayout::file_path`, O(depth) arithmetic, nothing \
         stored); and a get of the stored path from a `file_paths` keyspace of each backend \
         (the proposal's design).",
    ),
    (
        "ledger",
        "Recording N objects as created, per backend: what `prepare`'s create step writes \
         (the compact ledger: changed presence chunks and the in-flight set, per checkpoint) \
         against sai3-bench's own pattern of one locked upsert per object; objects per second, \
         and bytes on disk per object once the cache is closed.",
    ),
    (
        "resume",
        "Resuming an interrupted prepare: the set of missing objects of a ledger with 1% random \
         gaps, as prepare's reconcile step computes it: from the presence bitmap in memory, \
         and from a closed cache of each backend (open, load the presence chunks, compute).",
    ),
    (
        "listing",
        "A LIST of N keys from the dataset-shaped S3 server on 127.0.0.1 (S3 protocol, pages \
         of 1,000 keys) against what replaces it on the \
         next run: a prepare that learns from the listing cache, and the listing cache loaded \
         through the library; per backend, with the encoded size of the stored listings. This \
         is the proposal's \"LIST operation\" row at the sizes of this run.",
    ),
    (
        "prepare",
        "The `sai3-cache` CLI end to end, as a user runs it: the first prepare of a dataset \
         (learns what exists, creates what is missing, fills and seals the caches) against the \
         second one, where the sealed ledger proves what exists without a LIST and nothing is \
         created.",
    ),
    (
        "sync",
        "Moving closed cache directories to and from an object store (an S3 server on \
         127.0.0.1): time, bytes and peak memory of a push and of a verified pull.",
    ),
    (
        "backends",
        "fjall against redb against SQLite on the same work (it replaces the former criterion \
         bench): a bulk load of 24-byte keys with 64-byte values in batches of 10,000, bytes on \
         disk after close, the open of the loaded store with its first get, random point gets \
         and a full prefix scan.",
    ),
    (
        "scale",
        "The proposal's headline at its size: 64M files (a sai3-bench tree 24^4 x 193) on 4 S3 \
         endpoints of the dataset-shaped S3 server, through the `sai3-cache` CLI, per backend: \
         the first prepare of an existing dataset (a LIST of every object, then the seal: LIST \
         rate, peak memory, cache bytes per object); the second prepare against that LIST and \
         against the LIST at S3's rate of 20,000 objects/s (53 minutes at 64M); a dataset with \
         1% gaps, where prepare creates exactly the gaps; the same prepare killed halfway and \
         resumed from its ledger without a LIST; push and pull of the caches; and a LIST with \
         50 ms per request, extrapolated to 64M.",
    ),
];

/// Where the measured column of a proposal row comes from.
enum Measure {
    /// Ratios of `suite` whose better label contains one of `better` and whose worse label
    /// contains one of `worse` (lower case; `""` matches any label).
    Ratio {
        suite: &'static str,
        better: &'static [&'static str],
        worse: &'static [&'static str],
    },
    /// Figures of `suite` whose name contains one of `name` (lower case).
    Figure {
        suite: &'static str,
        name: &'static [&'static str],
    },
}

/// One row of the proposal's table, quoted, and where this run's figure comes from (the first
/// source that matches anything).
struct ProposalRow {
    operation: &'static str,
    before: &'static str,
    after: &'static str,
    speedup: &'static str,
    measured: &'static [Measure],
}

const ANY: &[&str] = &[""];

/// The table "Expected Performance Improvements" (64M files, 4 endpoints, mixed S3 and local,
/// 8 agents) and the "Example Performance (64M files, 4 endpoints)" lines of the original
/// proposal, mapped to this run's suites.
const PROPOSAL: [ProposalRow; 8] = [
    ProposalRow {
        operation: "Tree generation",
        before: "45s",
        after: "0.5s (load from cache)",
        speedup: "90x",
        measured: &[
            Measure::Ratio {
                suite: "paths",
                better: ANY,
                worse: &["generat"],
            },
            Measure::Figure {
                suite: "paths",
                name: &["generat"],
            },
        ],
    },
    ProposalRow {
        operation: "LIST operation",
        before: "3200s (53 min)",
        after: "8s (4 parallel loads)",
        speedup: "400x",
        measured: &[
            Measure::Ratio {
                suite: "listing",
                better: &["cache"],
                worse: &["list"],
            },
            Measure::Ratio {
                suite: "listing",
                better: ANY,
                worse: ANY,
            },
        ],
    },
    ProposalRow {
        operation: "File path lookups",
        before: "64M × O(n)",
        after: "64M × O(1) distributed",
        speedup: "10000x",
        measured: &[
            Measure::Ratio {
                suite: "paths",
                better: &["closed form"],
                worse: &["linear", "scan"],
            },
            Measure::Ratio {
                suite: "paths",
                better: ANY,
                worse: &["linear", "scan"],
            },
        ],
    },
    ProposalRow {
        operation: "Endpoint routing",
        before: "64M × modulo",
        after: "Implicit in cache key",
        speedup: "Instant",
        measured: &[Measure::Figure {
            suite: "paths",
            name: &["placement", "endpoint", "routing", "agent"],
        }],
    },
    ProposalRow {
        operation: "Total prepare time",
        before: "~55 minutes",
        after: "~10 seconds",
        speedup: "330x",
        measured: &[Measure::Ratio {
            suite: "prepare",
            better: &["second"],
            worse: &["first"],
        }],
    },
    ProposalRow {
        operation: "Second run (example performance)",
        before: "55 minutes (first run: LIST + cache creation)",
        after: "10 seconds (parallel cache loads)",
        speedup: "-",
        measured: &[Measure::Ratio {
            suite: "prepare",
            better: &["second"],
            worse: &["first"],
        }],
    },
    ProposalRow {
        operation: "Reattach after 6 months (example performance)",
        before: "55 minutes (first run)",
        after: "3 seconds (auto-discovery)",
        speedup: "-",
        // Every prepare is a new process that reopens the caches and checks the config hash:
        // the second prepare is a reattach, unless a suite measures one by name.
        measured: &[
            Measure::Ratio {
                suite: "prepare",
                better: &["reattach"],
                worse: ANY,
            },
            Measure::Figure {
                suite: "prepare",
                name: &["reattach"],
            },
            Measure::Ratio {
                suite: "prepare",
                better: &["second"],
                worse: &["first"],
            },
        ],
    },
    ProposalRow {
        operation: "Missing set after an aborted prepare (not in the proposal's table: its \
                    problem 5, \"lost metadata when tests abort mid-flight\")",
        before: "-",
        after: "-",
        speedup: "-",
        measured: &[
            Measure::Ratio {
                suite: "resume",
                better: ANY,
                worse: &["scan"],
            },
            Measure::Figure {
                suite: "resume",
                name: &["bitmap"],
            },
            Measure::Figure {
                suite: "resume",
                name: ANY,
            },
        ],
    },
];

/// At most this many matches are shown in one measured cell.
const MAX_MATCHES: usize = 4;

/// The description of a suite.
fn description(suite: &str) -> &'static str {
    DESCRIPTIONS
        .iter()
        .find(|(name, _)| *name == suite)
        .map_or("A suite this report has no description of.", |(_, d)| d)
}

fn contains_any(label: &str, alternatives: &[&str]) -> bool {
    let label = label.to_lowercase();
    alternatives.iter().any(|a| label.contains(a))
}

fn ratio_cell(r: &Ratio) -> String {
    format!("{} ({})", ratio_text(r), or_unknown(&r.variant))
}

fn figure_cell(f: &Figure) -> String {
    let mut at = vec![or_unknown(&f.variant)];
    if let Some(b) = &f.backend {
        at.push(b);
    }
    format!(
        "{}: {} {} ({})",
        f.name,
        num(f.median),
        f.unit,
        at.join(", ")
    )
}

/// The measured cell of a proposal row: the first source with matches, or "not measured".
fn measured(results: &Results, row: &ProposalRow) -> String {
    for source in row.measured {
        let found: Vec<String> = match source {
            Measure::Ratio {
                suite,
                better,
                worse,
            } => results
                .ratios
                .iter()
                .filter(|r| {
                    r.suite == *suite
                        && contains_any(&r.better, better)
                        && contains_any(&r.worse, worse)
                })
                .map(ratio_cell)
                .collect(),
            Measure::Figure { suite, name } => results
                .figures
                .iter()
                .filter(|f| f.suite == *suite && contains_any(&f.name, name))
                .map(figure_cell)
                .collect(),
        };
        if found.is_empty() {
            continue;
        }
        let mut shown: Vec<String> = found.iter().take(MAX_MATCHES).map(|s| cell(s)).collect();
        if found.len() > MAX_MATCHES {
            shown.push(format!(
                "and {} more (see the suite)",
                found.len() - MAX_MATCHES
            ));
        }
        return shown.join("<br>");
    }
    "not measured in this run".to_owned()
}

/// The whole document; `plots` are the suites with a plot in `bench/`.
pub(crate) fn document(results: &Results, plots: &[String]) -> String {
    let mut out = String::from("# Performance\n\n");
    out.push_str(
        "<!-- Generated by `cargo xtask bench --write-docs`. Do not edit by hand: run it again. -->\n\n",
    );
    out.push_str(
        "This file is generated by `cargo xtask bench --write-docs` from the records of one \
         benchmark run (`crates/cache-bench`); do not edit it by hand.\n\n",
    );
    let machine = results.machine.as_ref();
    let _ = writeln!(
        out,
        "* Date: {}",
        machine.map_or("unknown", |m| or_unknown(&m.started))
    );
    match machine {
        Some(m) => {
            let _ = writeln!(
                out,
                "* Machine: {} CPUs ({}), {:.1} GiB memory, kernel {}, disk {}",
                m.cpus,
                or_unknown(&m.cpu),
                m.memory_gib,
                or_unknown(&m.kernel),
                or_unknown(&m.disk)
            );
            let _ = writeln!(
                out,
                "* Run: {}{}",
                if m.quick {
                    "quick (`--quick`: small sizes and few runs; a smoke run, not representative)"
                } else {
                    "full"
                },
                results
                    .run_notes()
                    .iter()
                    .map(|n| format!(". {n}"))
                    .collect::<String>()
            );
        }
        None => out.push_str("* Machine: not recorded\n"),
    }
    let run = results.suite_names();
    let missing: Vec<&str> = SUITES
        .iter()
        .copied()
        .filter(|s| !run.contains(s))
        .collect();
    let _ = writeln!(
        out,
        "* Suites: {}{}",
        if run.is_empty() {
            "none".to_owned()
        } else {
            run.join(", ")
        },
        if missing.is_empty() {
            String::new()
        } else {
            format!(" (not run: {})", missing.join(", "))
        }
    );
    out.push_str(
        "\nTo reproduce: `cargo xtask bench --write-docs` on an otherwise idle machine (all \
         suites, both backends). `cargo xtask bench [SUITE...] [--quick] [--files N] \
         [--backend fjall,redb]` runs a selection into `target/bench-report/` without touching \
         this file. Every figure is the median of several runs, with min and max; every ratio \
         compares two figures of the same run. Figures compare within one run on one machine, \
         not across machines.\n\n",
    );

    out.push_str("## Goals\n\n");
    if results.goals.is_empty() {
        out.push_str("No goals were checked in this run.\n\n");
    } else {
        out.push_str("| suite | goal | measured | result |\n|---|---|---|---|\n");
        for g in &results.goals {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&g.suite),
                cell(&g.goal),
                cell(&g.measured),
                met(g.met)
            );
        }
        out.push('\n');
    }

    for suite in results.suites() {
        let _ = writeln!(out, "## {}\n\n{}\n", suite.name, description(suite.name));
        figure_table(&mut out, &suite);
        ratio_list(&mut out, &suite);
        note_list(&mut out, &suite);
        if plots.iter().any(|p| p == suite.name) {
            let _ = writeln!(
                out,
                "![{}](bench/{})\n",
                suite.name,
                plot::file_name(suite.name)
            );
        }
    }

    out.push_str(&super::plan::section(results));

    out.push_str("## The proposal's expected performance, measured\n\n");
    out.push_str(
        "The original proposal expected these figures for 64M files on 4 endpoints (mixed S3 \
         and local) with 8 agents (its \"Expected Performance Improvements\" table and its \
         \"Example Performance\" lines): *before* is without the cache (or the first run), \
         *after* with it on a subsequent run. The last column is what this run measured, at \
         this run's sizes (the variant in parentheses), on this machine.\n\n",
    );
    out.push_str(
        "| operation | proposal: before | proposal: after | proposal: speed-up | measured here \
         |\n|---|---|---|---|---|\n",
    );
    for row in &PROPOSAL {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            cell(row.operation),
            cell(row.before),
            cell(row.after),
            cell(row.speedup),
            measured(results, row)
        );
    }
    out
}

/// Writes `docs` and copies the plots of `plots` from `report_dir` to `bench/` next to it
/// (removing plots there of suites in [`SUITES`] that have none in this run).
///
/// # Errors
/// A file cannot be written or copied.
pub(crate) fn write(
    results: &Results,
    plots: &[String],
    report_dir: &Path,
    docs: &Path,
) -> anyhow::Result<()> {
    let dir = docs
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let bench = dir.join("bench");
    std::fs::create_dir_all(&bench)
        .with_context(|| format!("cannot create {}", bench.display()))?;
    for suite in SUITES {
        let stale = bench.join(plot::file_name(suite));
        if !plots.iter().any(|p| p == suite) && stale.exists() {
            std::fs::remove_file(&stale)
                .with_context(|| format!("cannot remove the old plot {}", stale.display()))?;
        }
    }
    for suite in plots {
        let name = plot::file_name(suite);
        let (from, to) = (report_dir.join(&name), bench.join(&name));
        std::fs::copy(&from, &to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    }
    std::fs::write(docs, document(results, plots))
        .with_context(|| format!("cannot write {}", docs.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suite_has_a_description() {
        for suite in SUITES {
            assert!(
                DESCRIPTIONS.iter().any(|(name, _)| *name == suite),
                "{suite} has no description"
            );
        }
    }
}
