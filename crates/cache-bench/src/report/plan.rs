//! The plan for 1B objects in `docs/PERFORMANCE.md`: the `scale` suite's figures, per backend,
//! extrapolated to 10^9 objects, and what has to change before that size, with the arithmetic
//! that says so.

use std::fmt::Write;

use crate::record::Figure;
use crate::report::Results;
use crate::report::markdown::{cell, num};

/// Objects the plan is for.
const TARGET: f64 = 1e9;
/// S3's LIST rate assumed throughout (the proposal's: 64M objects in 53 minutes).
const S3_LIST_RATE: f64 = 20_000.0;
/// Ranges of one endpoint listed at once (`cache_sai3::listing::LIST_CONCURRENCY`).
const LIST_STREAMS: usize = cache_sai3::listing::LIST_CONCURRENCY;
/// Indices per roaring container (and per presence chunk).
const CONTAINER: f64 = 65_536.0;
/// Bytes of a roaring bitmap container holding more than 4,096 indices.
const BITMAP_CONTAINER: f64 = 8_192.0;

/// The count of objects a scale variant names (`"64M objects, ..."`, `"995k objects"`).
fn objects_in(variant: &str) -> Option<f64> {
    let token = variant.split_whitespace().next()?;
    let (digits, scale) = match token.chars().last()? {
        'M' => (&token[..token.len() - 1], 1e6),
        'k' => (&token[..token.len() - 1], 1e3),
        _ => (token, 1.0),
    };
    digits.parse::<f64>().ok().map(|n| n * scale)
}

/// The scale figures of one backend at the largest size of the run.
struct Measured<'a> {
    backend: &'a str,
    objects: f64,
    figures: Vec<&'a Figure>,
}

impl Measured<'_> {
    /// The median of the figure named `prefix...`, if measured.
    fn get(&self, prefix: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.name.starts_with(prefix))
            .map(|f| f.median)
    }

    /// `value`, measured at this size, scaled linearly to [`TARGET`] objects.
    fn at_target(&self, value: f64) -> f64 {
        value * TARGET / self.objects
    }
}

/// Per backend, the scale figures of the largest dataset the run measured.
fn measured(results: &Results) -> Vec<Measured<'_>> {
    let scale: Vec<&Figure> = results
        .figures
        .iter()
        .filter(|f| f.suite == "scale")
        .collect();
    let mut out: Vec<Measured<'_>> = Vec::new();
    for f in scale
        .iter()
        .filter(|f| f.name.starts_with("(a) first prepare"))
    {
        let (Some(backend), Some(objects)) = (f.backend.as_deref(), objects_in(&f.variant)) else {
            continue;
        };
        if out.iter().any(|m| m.backend == backend) {
            continue;
        }
        let figures = scale
            .iter()
            .copied()
            .filter(|g| g.backend.as_deref() == Some(backend) && g.variant == f.variant)
            .collect();
        out.push(Measured {
            backend,
            objects,
            figures,
        });
    }
    out
}

fn hours(seconds: f64) -> String {
    if seconds >= 3600.0 {
        format!("{} h", num(seconds / 3600.0))
    } else if seconds >= 60.0 {
        format!("{} min", num(seconds / 60.0))
    } else {
        format!("{} s", num(seconds))
    }
}

/// One row: what, measured, at 1B, and what it means.
fn row(out: &mut String, what: &str, at: &str, billion: &str, meaning: &str) {
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} |",
        cell(what),
        cell(at),
        cell(billion),
        cell(meaning)
    );
}

/// The table of one backend's figures extrapolated to 1B objects.
fn table(out: &mut String, m: &Measured<'_>) {
    let size = format!("{:.0}M", m.objects / 1e6);
    let _ = writeln!(out, "### {} (measured at {size} objects)\n", m.backend);
    out.push_str("| quantity | measured | at 1B (linear) | what it means |\n|---|---|---|---|\n");
    row(
        out,
        "LIST of every object at S3's 20k objects/s (computed)",
        &hours(m.objects / S3_LIST_RATE),
        &hours(TARGET / S3_LIST_RATE),
        "what every run pays without the cache; with it, the first run only",
    );
    if let Some(rate) = m.get("(a) LIST rate") {
        row(
            out,
            "LIST rate through the S3 client (loopback server)",
            &format!("{} objects/s", num(rate)),
            &hours(TARGET / rate),
            &format!(
                "the client's own ceiling, {}x S3's rate: the store is the limit",
                num(rate / S3_LIST_RATE)
            ),
        );
    }
    if let Some(s) = m.get("(b) second prepare (sealed ledger)") {
        row(
            out,
            "second prepare (reattach)",
            &format!("{} s", num(s)),
            &format!("at most {}", hours(m.at_target(s))),
            "an upper bound: open and the DATASET GET do not grow; loading presence and \
             computing ownership do",
        );
    }
    if let Some(b) = m.get("(a) cache on disk") {
        row(
            out,
            "cache on disk",
            &format!("{} bytes/object", num(b)),
            &format!("{} MiB", num(b * TARGET / 1_048_576.0)),
            "presence chunks, compressed by the engine",
        );
    }
    if let Some(mib) = m.get("(e) pull into an empty cache dir: bytes received") {
        row(
            out,
            "pull of the caches (bytes)",
            &format!("{} MiB", num(mib)),
            &format!("{} MiB", num(m.at_target(mib))),
            "one download per agent host; seconds at LAN speed",
        );
    }
    if let (Some(create_s), Some(gaps)) = (m.get("(c) creating the gaps"), Some(m.objects / 100.0))
    {
        let rate = gaps / create_s.max(1e-9);
        row(
            out,
            "creating 1% gaps (PUT + ledger)",
            &format!("{} objects/s", num(rate)),
            &hours(TARGET / 100.0 / rate),
            "PUTs limit it: the ledger suite records millions of objects per second",
        );
    }
    if let Some(mib) = m.get("(a) first prepare: peak RSS") {
        row(
            out,
            "peak RSS of the first prepare",
            &format!("{} MiB", num(mib)),
            &format!("up to {} MiB", num(m.at_target(mib))),
            "whole bitmaps per endpoint: over the 256 MiB budget at 1B (below)",
        );
    }
    out.push('\n');
}

/// The bitmap arithmetic behind the memory item: every 4th index (round-robin on 4 endpoints)
/// fills every container with 16,384 of 65,536 indices, stored as an 8 KiB bitmap.
fn bitmap_mib(objects: f64) -> f64 {
    (objects / CONTAINER).ceil() * BITMAP_CONTAINER / 1_048_576.0
}

/// The section: figures of every backend measured, then the plan.
pub(crate) fn section(results: &Results) -> String {
    let mut out = String::from("## 1B objects: a plan from these measurements\n\n");
    let all = measured(results);
    if all.is_empty() {
        out.push_str(
            "The `scale` suite did not run here, so there is nothing to extrapolate from: run \
             `cargo xtask bench scale`.\n\n",
        );
    } else {
        out.push_str(
            "The `scale` suite's figures above, extrapolated linearly to 10^9 objects (a \
             sai3-bench tree such as 32^4 x 954 on 4 endpoints). Linear is an upper bound for \
             what does not grow with the object count.\n\n",
        );
    }
    for m in &all {
        table(&mut out, m);
    }
    let per_endpoint = bitmap_mib(TARGET);
    let _ = write!(
        out,
        "What has to change before 1B objects, and why:\n\n\
         1. **Memory: stream ownership and presence by chunk.** A prepare holds, per endpoint, \
         the indices it owns, those present and those missing as whole roaring bitmaps. With \
         round-robin placement on 4 endpoints every container holds every 4th index, an 8 KiB \
         bitmap per 65,536 indices: {} MiB per bitmap per endpoint at 1B ({} MiB at 64M), so \
         three of them on 4 endpoints take about {} MiB, against a budget of 256 MiB. Ownership \
         is a rule (the placement stride), presence is stored in chunks of 65,536: the missing \
         set can be produced chunk by chunk (owned minus present per chunk), holding a few \
         chunks at a time. Several agents divide the load (each owns its share), one host does \
         not.\n\
         2. **The first LIST: parallel by prefix, resumable.** A LIST of 1B objects at S3's \
         rate takes {} in one stream. Each top-level directory of a sai3-bench tree (24 or 32 \
         of them) is a range of its own, and {} ranges per endpoint are listed at once today: \
         where the store serves each request stream at 20k objects/s, 4 endpoints with {} \
         streams each take {}. Its progress is saved incrementally (only \
         the presence chunks that grew since the last save), so a kill after hours loses at \
         most a few seconds of listing.\n\
         3. **Reattach stays seconds.** The second prepare reads the presence chunks (about \
         15,000 per pool at 1B, 8 KiB each in memory, compressed on disk) and the seal; it \
         does not grow with history because the engines are flushed and compacted at the end of \
         each run. The linear bound above is what remains if nothing else is done; streaming \
         (item 1) removes most of it.\n\
         4. **What does not change.** Paths are computed (tens of ns each, no table), sizes \
         are drawn from the seeds in blocks of 65,536, the ledger records presence per chunk and \
         only exceptions per object, and a run that changes nothing writes and publishes \
         nothing.\n\n",
        num(per_endpoint),
        num(bitmap_mib(64e6)),
        num(per_endpoint * 3.0 * 4.0),
        hours(TARGET / S3_LIST_RATE),
        LIST_STREAMS,
        LIST_STREAMS,
        hours(TARGET / S3_LIST_RATE / 4.0 / LIST_STREAMS as f64),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_counts_are_read() {
        assert_eq!(objects_in("64M objects, 4 S3 endpoints"), Some(64e6));
        assert_eq!(objects_in("995k objects"), Some(995e3));
        assert_eq!(objects_in("4.2M objects"), Some(4.2e6));
        assert_eq!(objects_in("1000 objects"), Some(1000.0));
        assert_eq!(objects_in("objects"), None);
    }

    #[test]
    fn bitmap_arithmetic() {
        // 15,259 containers of 8 KiB at 1B.
        assert!((bitmap_mib(1e9) - 119.2).abs() < 0.1, "{}", bitmap_mib(1e9));
    }
}
