//! Scenario `prepare`: a prepare of 2 x 4,000 local files, killed, then run again. Checked:
//! every checkpoint the child logged (`recorded=N`) is trusted by the rerun; nothing is damaged
//! and no write fails; the rerun creates exactly the files absent before it (objects in flight
//! at the kill are checked, not rewritten); afterwards every file exists with its size, and a
//! third run creates nothing and LISTs nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{Config, Sai3, dataset_files, stderr};
use crate::{assert_exact_rerun, campaign, kill_after, logged_max};

const ENDPOINTS: usize = 2;
const PER_ENDPOINT: usize = 4_000;
const ARGS: [&str; 5] = ["--concurrency", "8", "--checkpoint-every", "300", "-v"];

fn config(dir: &Path) -> std::path::PathBuf {
    Config::tree(4, 2, 500)
        .size("100")
        .local_endpoints(dir, ENDPOINTS)
        .write(dir)
}

fn files_on(dir: &Path) -> Vec<u64> {
    (0..ENDPOINTS)
        .map(|e| dataset_files(&dir.join(format!("ep{e}"))).len() as u64)
        .collect()
}

pub fn run() {
    campaign("prepare", whole, trial);
}

/// One uninterrupted run.
fn whole(backend: &'static str) -> Duration {
    let tmp = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    Sai3::new(backend).prepare(&config(tmp.path()), &tmp.path().join("cache"), &ARGS[..4]);
    started.elapsed()
}

fn trial(backend: &'static str, delay: Duration, what: &str) {
    let sai3 = Sai3::new(backend);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let config = config(dir);
    let cache = dir.join("cache");
    let running = sai3.spawn_config(
        "prepare",
        "prepare",
        &config,
        &cache,
        &ARGS,
        &dir.join("logs"),
    );
    let killed = kill_after(running, delay);
    let durable = logged_max(&stderr(&killed), "ledger checkpoint", "recorded");
    let before = files_on(dir);

    let rerun = sai3.prepare(&config, &cache, &["-v"]);
    assert_eq!(rerun.failed, 0, "{what}: {rerun:?}");
    for (e, r) in rerun.endpoints.iter().enumerate() {
        let logged = durable.get(&r.uri).copied().unwrap_or(0);
        assert_exact_rerun(what, r, logged, r.expected - before[e]);
    }
    for e in 0..ENDPOINTS {
        let ep = dir.join(format!("ep{e}"));
        let files = dataset_files(&ep);
        assert_eq!(files.len(), PER_ENDPOINT, "{what}: endpoint {e}");
        for f in &files {
            let len = std::fs::metadata(ep.join(f)).map(|m| m.len()).unwrap_or(0);
            assert_eq!(len, 100, "{what}: {f} has {len} bytes");
        }
    }
    let third = sai3.prepare(&config, &cache, &[]);
    assert_eq!(third.created, 0, "{what}: {third:?}");
    assert_eq!(third.list_calls, 0, "{what}: {third:?}");
}
