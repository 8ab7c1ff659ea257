//! `figures.csv`, `ratios.csv`, `goals.csv`: RFC 4180 (a header row, CRLF line ends, a field
//! with a comma, quote or line break in double quotes, quotes doubled). Numbers keep every
//! digit; a number that is not finite is an empty field.

use crate::report::Results;

/// One field, quoted when RFC 4180 requires it.
pub(crate) fn field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// A number with every digit (`f64`'s shortest exact form), empty when not finite.
fn number(v: f64) -> String {
    if v.is_finite() {
        v.to_string()
    } else {
        String::new()
    }
}

/// One row, CRLF-terminated.
fn row(out: &mut String, fields: &[String]) {
    let line: Vec<String> = fields.iter().map(|f| field(f)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

fn header(names: &[&str]) -> String {
    let mut out = String::new();
    row(
        &mut out,
        &names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
    );
    out
}

/// Every figure, one row each.
pub(crate) fn figures(results: &Results) -> String {
    let mut out = header(&[
        "suite",
        "name",
        "variant",
        "backend",
        "unit",
        "median",
        "min",
        "max",
        "runs",
        "lower_is_better",
    ]);
    for f in &results.figures {
        row(
            &mut out,
            &[
                f.suite.clone(),
                f.name.clone(),
                f.variant.clone(),
                f.backend.clone().unwrap_or_default(),
                f.unit.clone(),
                number(f.median),
                number(f.min),
                number(f.max),
                f.runs.to_string(),
                f.lower_is_better.to_string(),
            ],
        );
    }
    out
}

/// Every ratio, one row each.
pub(crate) fn ratios(results: &Results) -> String {
    let mut out = header(&["suite", "variant", "better", "worse", "ratio"]);
    for r in &results.ratios {
        row(
            &mut out,
            &[
                r.suite.clone(),
                r.variant.clone(),
                r.better.clone(),
                r.worse.clone(),
                number(r.ratio),
            ],
        );
    }
    out
}

/// Every goal, one row each.
pub(crate) fn goals(results: &Results) -> String {
    let mut out = header(&["suite", "goal", "measured", "met"]);
    for g in &results.goals {
        row(
            &mut out,
            &[
                g.suite.clone(),
                g.goal.clone(),
                g.measured.clone(),
                g.met.to_string(),
            ],
        );
    }
    out
}
