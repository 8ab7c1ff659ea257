//! `summary.md`, and the markdown pieces `docs/PERFORMANCE.md` shares with it.

use std::fmt::Write;

use crate::record::{Machine, Ratio, human};
use crate::report::{Results, Suite};

/// The whole `summary.md`.
pub(crate) fn summary(results: &Results) -> String {
    let mut out = String::from("# Benchmark results\n\n");
    out.push_str(&machine_line(results.machine.as_ref()));
    out.push_str("\n\n");
    let suites = results.suites();
    if suites.is_empty() {
        out.push_str("The results file holds no suite records.\n");
    }
    for suite in &suites {
        let _ = writeln!(out, "## {}\n", suite.name);
        figure_table(&mut out, suite);
        ratio_list(&mut out, suite);
        goal_table(&mut out, suite);
        note_list(&mut out, suite);
    }
    out
}

/// One sentence on the machine and the kind of run.
pub(crate) fn machine_line(machine: Option<&Machine>) -> String {
    match machine {
        None => "Machine: not recorded in this results file.".to_owned(),
        Some(m) => format!(
            "{} run started {} on {} CPUs ({}), {:.1} GiB memory, kernel {}, disk {}.",
            if m.quick { "Quick" } else { "Full" },
            or_unknown(&m.started),
            m.cpus,
            or_unknown(&m.cpu),
            m.memory_gib,
            or_unknown(&m.kernel),
            or_unknown(&m.disk),
        ),
    }
}

/// `s`, or `unknown` when empty.
pub(crate) fn or_unknown(s: &str) -> &str {
    if s.trim().is_empty() { "unknown" } else { s }
}

/// A number for a table: about three significant digits, thousands separated by commas,
/// `n/a` when not finite.
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_owned();
    }
    let text = human(v);
    if v.abs() < 1_000.0 {
        return text;
    }
    // human() prints no decimals from 100 on: group the digits.
    let (sign, digits) = match text.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", text.as_str()),
    };
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}")
}

/// Text safe inside a table cell: no pipe ends the cell, no newline ends the row.
pub(crate) fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// The figure table of a suite (nothing when it has no figures).
pub(crate) fn figure_table(out: &mut String, suite: &Suite<'_>) {
    if suite.figures.is_empty() {
        out.push_str("No figures in this run.\n\n");
        return;
    }
    out.push_str("| name | variant | backend | median | min | max | unit | runs |\n");
    out.push_str("|---|---|---|--:|--:|--:|---|--:|\n");
    for f in &suite.figures {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&f.name),
            cell(&f.variant),
            cell(f.backend.as_deref().unwrap_or("-")),
            num(f.median),
            num(f.min),
            num(f.max),
            cell(&f.unit),
            f.runs
        );
    }
    out.push('\n');
}

/// A ratio as text: two decimals below 10, one below 100, whole (and grouped) from 100 on.
pub(crate) fn times(ratio: f64) -> String {
    if ratio.abs() < 10.0 {
        format!("{ratio:.2}x")
    } else if ratio.abs() < 100.0 {
        format!("{ratio:.1}x")
    } else {
        format!("{}x", num(ratio))
    }
}

/// "X is N.Nx better than Y", or, when the expected winner lost, "X is N.Nx worse than Y".
pub(crate) fn ratio_text(r: &Ratio) -> String {
    if r.ratio.is_finite() && r.ratio > 0.0 && r.ratio < 1.0 {
        format!(
            "{} is {} worse than {} (expected to be better)",
            r.better,
            times(1.0 / r.ratio),
            r.worse
        )
    } else if r.ratio.is_finite() {
        format!("{} is {} better than {}", r.better, times(r.ratio), r.worse)
    } else {
        format!(
            "{} vs {}: no ratio (a median was 0 or missing)",
            r.better, r.worse
        )
    }
}

/// The ratios of a suite, one bullet each (nothing when it has none).
pub(crate) fn ratio_list(out: &mut String, suite: &Suite<'_>) {
    if suite.ratios.is_empty() {
        return;
    }
    out.push_str("Ratios (medians of the same run):\n\n");
    for r in &suite.ratios {
        let _ = writeln!(out, "- {} ({})", ratio_text(r), or_unknown(&r.variant));
    }
    out.push('\n');
}

/// "met" or "**not met**".
pub(crate) fn met(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

/// The goals of a suite as a table (nothing when it has none).
pub(crate) fn goal_table(out: &mut String, suite: &Suite<'_>) {
    if suite.goals.is_empty() {
        return;
    }
    out.push_str("| goal | measured | result |\n|---|---|---|\n");
    for g in &suite.goals {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            cell(&g.goal),
            cell(&g.measured),
            met(g.met)
        );
    }
    out.push('\n');
}

/// The notes of a suite, one bullet each (nothing when it has none).
pub(crate) fn note_list(out: &mut String, suite: &Suite<'_>) {
    if suite.notes.is_empty() {
        return;
    }
    out.push_str("Notes:\n\n");
    for n in &suite.notes {
        let _ = writeln!(out, "- {}", n.replace(['\r', '\n'], " "));
    }
    out.push('\n');
}
