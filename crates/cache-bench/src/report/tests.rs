//! The report of a small hand-written results file.

use std::path::Path;

use crate::report::{Results, csv, write};

/// Two figures (one with a comma in its name), a ratio, a goal, a note, a machine, and a
/// blank line.
const RESULTS: &str = r#"{"kind":"machine","cpus":2,"cpu":"Test CPU @ 2.0GHz","memory_gib":7.7,"kernel":"6.1.0-test","disk":"ext4 on /dev/sda1","started":"2026-11-27T17:00:00Z","quick":true}
{"kind":"figure","suite":"paths","name":"closed form","variant":"1M files","backend":null,"unit":"ns/path","median":31.5,"min":30.25,"max":40.0,"runs":3,"lower_is_better":true}

{"kind":"figure","suite":"paths","name":"linear scan, per path","variant":"1M files","backend":null,"unit":"ns/path","median":125000.0,"min":120000.0,"max":131000.0,"runs":3,"lower_is_better":true}
{"kind":"ratio","suite":"paths","variant":"1M files","better":"closed form","worse":"linear scan, per path","ratio":3968.25}
{"kind":"goal","suite":"paths","goal":"<= 50 ns per path on one core","measured":"31.5 ns/path","met":true}
{"kind":"note","suite":"paths","text":"one core, warm caches"}
{"kind":"note","suite":"sync","text":"not yet written"}
"#;

fn report(dir: &Path) -> (String, String) {
    let input = dir.join("results.jsonl");
    std::fs::write(&input, RESULTS).expect("write results");
    let out = dir.join("report");
    let docs = dir.join("docs").join("PERFORMANCE.md");
    write(&input, &out, Some(&docs)).expect("report");
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    let doc = std::fs::read_to_string(&docs).expect("PERFORMANCE.md");
    (summary, doc)
}

#[test]
fn summary_has_the_table_rows_ratio_goal_and_notes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (summary, _) = report(dir.path());
    assert!(
        summary.contains("| closed form | 1M files | - | 31.5 | 30.2 | 40.0 | ns/path | 3 |"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "| linear scan, per path | 1M files | - | 125,000 | 120,000 | 131,000 | ns/path | 3 |"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("closed form is 3,968x better than linear scan, per path (1M files)"),
        "{summary}"
    );
    assert!(
        summary.contains("| <= 50 ns per path on one core | 31.5 ns/path | met |"),
        "{summary}"
    );
    assert!(summary.contains("- one core, warm caches"), "{summary}");
    // Suites in SUITES order: paths before sync.
    let paths = summary.find("## paths").expect("paths section");
    let sync = summary.find("## sync").expect("sync section");
    assert!(paths < sync);
    assert!(summary.contains("Quick run started 2026-11-27T17:00:00Z on 2 CPUs"));
}

#[test]
fn csv_quotes_a_comma() {
    let dir = tempfile::tempdir().expect("tempdir");
    report(dir.path());
    let figures =
        std::fs::read_to_string(dir.path().join("report/figures.csv")).expect("figures.csv");
    let mut lines = figures.split("\r\n");
    assert_eq!(
        lines.next(),
        Some("suite,name,variant,backend,unit,median,min,max,runs,lower_is_better")
    );
    assert_eq!(
        lines.next(),
        Some("paths,closed form,1M files,,ns/path,31.5,30.25,40,3,true")
    );
    assert_eq!(
        lines.next(),
        Some("paths,\"linear scan, per path\",1M files,,ns/path,125000,120000,131000,3,true")
    );
    let ratios = std::fs::read_to_string(dir.path().join("report/ratios.csv")).expect("ratios");
    assert!(ratios.contains("paths,1M files,closed form,\"linear scan, per path\",3968.25\r\n"));
    let goals = std::fs::read_to_string(dir.path().join("report/goals.csv")).expect("goals");
    assert!(goals.contains("paths,<= 50 ns per path on one core,31.5 ns/path,true\r\n"));
    assert_eq!(csv::field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv::field("two\nlines"), "\"two\nlines\"");
}

#[test]
fn svg_is_written_for_suites_with_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    report(dir.path());
    let svg = std::fs::read_to_string(dir.path().join("report/paths.svg")).expect("paths.svg");
    assert!(svg.contains("<svg"), "{svg}");
    // The variant both bars share is in the title, not in every bar label.
    let texts: Vec<&str> = svg
        .split("</text>")
        .filter_map(|part| part.rsplit_once('>').map(|(_, t)| t.trim()))
        .collect();
    assert!(texts.contains(&"paths: ns/path (1M files)"), "{texts:?}");
    assert!(texts.contains(&"closed form"), "{texts:?}");
    assert!(texts.contains(&"linear scan, per path"), "{texts:?}");
    // A suite with only notes has no plot.
    assert!(!dir.path().join("report/sync.svg").exists());
    // The plot is copied next to the docs.
    let copied = std::fs::metadata(dir.path().join("docs/bench/paths.svg")).expect("copied");
    assert!(copied.len() > 0);
}

#[test]
fn docs_have_the_goal_row_machine_and_proposal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, doc) = report(dir.path());
    assert!(doc.contains("cargo xtask bench --write-docs"));
    assert!(
        doc.contains("| paths | <= 50 ns per path on one core | 31.5 ns/path | met |"),
        "{doc}"
    );
    assert!(doc.contains("2 CPUs (Test CPU @ 2.0GHz), 7.7 GiB memory, kernel 6.1.0-test"));
    assert!(doc.contains("disk ext4 on /dev/sda1"));
    assert!(doc.contains("* Run: quick"));
    assert!(doc.contains("![paths](bench/paths.svg)"));
    assert!(!doc.contains("![sync]"));
    // The proposal's path lookup row is filled from the paths ratio ...
    let lookups = doc
        .lines()
        .find(|l| l.starts_with("| File path lookups |"))
        .expect("path lookup row");
    assert!(lookups.contains("| 10000x |"), "{lookups}");
    assert!(lookups.contains("3,968x better"), "{lookups}");
    // ... and the LIST row, with no listing suite in the run, is not measured.
    let list = doc
        .lines()
        .find(|l| l.starts_with("| LIST operation |"))
        .expect("LIST row");
    assert!(list.ends_with("| not measured in this run |"), "{list}");
}

#[test]
fn a_malformed_line_is_named() {
    let text = format!("{}\n\n{{\"kind\":\"figure\",\"suite\":", RESULTS.trim_end());
    let err = Results::parse(&text).expect_err("malformed");
    let lines = RESULTS.trim_end().lines().count();
    assert!(
        format!("{err:#}").contains(&format!("line {}:", lines + 2)),
        "{err:#}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("bad.jsonl");
    std::fs::write(
        &input,
        "{\"kind\":\"note\",\"suite\":\"x\",\"text\":\"ok\"}\nnot json\n",
    )
    .expect("write");
    let err = write(&input, &dir.path().join("out"), None).expect_err("malformed");
    let message = format!("{err:#}");
    assert!(message.contains("line 2:"), "{message}");
    assert!(message.contains("bad.jsonl"), "{message}");
}
