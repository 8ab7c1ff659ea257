//! NEW (the issue: a second `prepare` started while one was running found the caches locked,
//! took them for damaged and moved the live `sai3-kv-cache` aside). These tests fail until the
//! CLI work lands (exit code 75 for "in use", the global `--wait SECS` flag).
//!
//! A cache held by another process is *in use*, never damaged: the second command exits with
//! code 75 (EX_TEMPFAIL) at once and names the directory, or with `--wait SECS` waits for it;
//! nothing is renamed, and the first prepare finishes as if alone. The dataset is 80,000 tiny
//! files on one `file://` endpoint, so that the first prepare runs long enough.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use cache_sai3::prepare::{ListingSource, PrepareReport};
use common::{Config, Sai3, parse, stderr};

/// Exit code of a command that found a cache in use (EX_TEMPFAIL).
const IN_USE: i32 = 75;
/// Objects of the dataset: 20 x 20 directories of 200 files.
const TOTAL: u64 = 80_000;

struct Setup {
    _tmp: tempfile::TempDir,
    config: PathBuf,
    cache: PathBuf,
    endpoint: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tempdir");
    let endpoint = tmp.path().join("ep0");
    let config = Config::tree(20, 2, 200)
        .size("1")
        .endpoints(&[format!("file://{}/", endpoint.display())])
        .write(tmp.path());
    let cache = tmp.path().join("cache");
    Setup {
        config,
        cache,
        endpoint,
        _tmp: tmp,
    }
}

/// Spawns the tool with `args` (the flags before `--config`), the setup's config and cache
/// dir, then `tail`, with piped output.
fn spawn(sai3: &Sai3, s: &Setup, args: &[&str], tail: &[&str]) -> Child {
    sai3.command()
        .args(args)
        .arg("--config")
        .arg(&s.config)
        .arg("--cache-dir")
        .arg(&s.cache)
        .args(tail)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sai3-cache")
}

/// Starts `prepare --json` and returns once it is creating objects (its caches are open).
fn start_prepare(sai3: &Sai3, s: &Setup) -> Child {
    let mut child = spawn(sai3, s, &["prepare", "--json"], &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    // A directory of the tree appears with the first object written.
    while !entries(&s.endpoint)
        .iter()
        .any(|n| n.starts_with("sai3bench."))
    {
        assert!(
            child.try_wait().expect("poll").is_none(),
            "the first prepare ended before creating anything"
        );
        assert!(
            Instant::now() < deadline,
            "the first prepare created nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Names in `dir` (none if it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Fails if a cache was moved aside as damaged, or the live endpoint cache is gone.
fn nothing_moved_aside(s: &Setup, when: &str) {
    let endpoint = entries(&s.endpoint);
    assert!(
        endpoint.iter().any(|n| n == "sai3-kv-cache"),
        "{when}: the live endpoint cache is gone: {endpoint:?}"
    );
    for (dir, names) in [(&s.endpoint, endpoint), (&s.cache, entries(&s.cache))] {
        let aside: Vec<&String> = names.iter().filter(|n| n.contains(".damaged-")).collect();
        assert!(
            aside.is_empty(),
            "{when}: a cache in use was moved aside as damaged in {}: {aside:?}",
            dir.display()
        );
    }
}

/// Waits up to `limit` for `child`, then kills it and fails.
fn finish(mut child: Child, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("poll").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("reap");
            panic!("{what} did not end within {limit:?}: {}", stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// The first prepare ends well and creates everything.
fn first_succeeds(first: Child) -> PrepareReport {
    let out = finish(first, Duration::from_secs(600), "the first prepare");
    let report: PrepareReport = parse("the first prepare", &out);
    assert_eq!(report.created, TOTAL, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    report
}

/// An in-use refusal: exit 75, a message saying the cache is in use and naming its directory,
/// never one calling it damaged.
fn refused_as_in_use(what: &str, out: &Output) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(IN_USE), "{what}: {err}");
    let lower = err.to_lowercase();
    assert!(lower.contains("in use"), "{what}: {err}");
    assert!(
        err.contains("sai3-kv-cache") || err.contains(".sai3-coordinator-cache"),
        "{what} must name the directory in use: {err}"
    );
    for wrong in ["damaged", "cannot be trusted", "corrupt", "panicked"] {
        assert!(!lower.contains(wrong), "{what}: {err}");
    }
}

#[test]
fn second_prepare_lookup_and_clear_are_refused_while_a_prepare_runs() {
    common::each_backend("file:// endpoint", |backend| {
        let sai3 = Sai3::new(backend);
        let s = setup();
        let mut first = start_prepare(&sai3, &s);

        let started = Instant::now();
        let second = sai3.run_config("prepare", &s.config, &s.cache, &["--json"]);
        let took = started.elapsed();
        assert!(
            first.try_wait().expect("poll").is_none(),
            "the first prepare ended before the second was refused: make the dataset larger"
        );
        refused_as_in_use("a second prepare", &second);
        assert!(
            took < Duration::from_secs(10),
            "refused only after {took:?}"
        );
        nothing_moved_aside(&s, "after the second prepare");

        let lookup = sai3.run_config("lookup", &s.config, &s.cache, &["--json", "0", "1", "2"]);
        assert!(
            first.try_wait().expect("poll").is_none(),
            "the first prepare ended before lookup ran: make the dataset larger"
        );
        refused_as_in_use("lookup during a prepare", &lookup);
        nothing_moved_aside(&s, "after lookup");

        // `clear --all` removes nothing a running prepare holds.
        let clear = sai3.run_config("clear", &s.config, &s.cache, &["--all"]);
        assert!(
            first.try_wait().expect("poll").is_none(),
            "the first prepare ended before clear ran: make the dataset larger"
        );
        refused_as_in_use("clear --all during a prepare", &clear);
        nothing_moved_aside(&s, "after clear --all");

        first_succeeds(first);
        nothing_moved_aside(&s, "after the first prepare");
        let third = sai3.prepare(&s.config, &s.cache, &[]);
        assert_eq!(third.listing_source, ListingSource::Ledger, "{third:?}");
        assert_eq!(third.list_calls, 0, "{third:?}");
        assert_eq!(third.created, 0, "{third:?}");
        assert_eq!(third.already_present, TOTAL, "{third:?}");
    });
}

#[test]
fn wait_flag_waits_for_the_running_prepare() {
    common::each_backend("file:// endpoint", |backend| {
        let sai3 = Sai3::new(backend);
        let s = setup();
        let first = start_prepare(&sai3, &s);
        // `--wait` is global: after the subcommand here, before it for lookup.
        let second = spawn(&sai3, &s, &["prepare", "--wait", "600", "--json"], &[]);
        let lookup = spawn(&sai3, &s, &["--wait", "600", "lookup", "--json"], &["0"]);

        first_succeeds(first);
        let out = finish(second, Duration::from_secs(300), "the waiting prepare");
        let report: PrepareReport = parse("the waiting prepare", &out);
        assert_eq!(report.created, 0, "{report:?}");
        assert_eq!(report.already_present, TOTAL, "{report:?}");
        assert_eq!(report.list_calls, 0, "{report:?}");
        let out = finish(lookup, Duration::from_secs(300), "the waiting lookup");
        let found: Vec<common::Found> = parse("the waiting lookup", &out);
        assert_eq!(found[0].state.as_deref(), Some("created"), "{found:?}");
        nothing_moved_aside(&s, "after waiting");
    });
}
