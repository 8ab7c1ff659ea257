//! The crash campaign: a child process is SIGKILLed at a random moment of its run (from before
//! its first write to after its last), and what it left is checked. One file per scenario:
//!
//! * `prepare`: a prepare on local endpoints;
//! * `list`: a prepare that LISTs an S3 endpoint (s3s-fs) and caches the listing;
//! * `push`: a push of a changed shard over an older generation;
//! * `pull`: a pull of a newer generation over an older one;
//! * `agents`: several agent processes prepare one dataset; one is killed.
//!
//! After every kill, each scenario checks what applies of: every state the child logged as
//! durable (`-v`: ledger checkpoints, saved LIST progress, cached listings, published and
//! pulled generations) is there; no cache is damaged; a rerun creates exactly the missing
//! objects, no more (its PUTs are counted against the objects absent before it); a pulled
//! directory is the old or the new generation, never a mix; no shard of another agent changed.
//!
//! `cargo xtask test` runs [`DEFAULT_TRIALS`] trials per scenario and backend; `cargo xtask
//! crash` runs more (`SAI3_CRASH_TRIALS`), and can pick scenarios (`SAI3_CRASH_SCENARIO`, a
//! comma-separated list) and a backend (`SAI3_CRASH_BACKEND`).

#[path = "../common/mod.rs"]
mod common;

mod agents;
mod list;
mod prepare;
mod pull;
mod push;

use std::collections::BTreeMap;
use std::process::Output;
use std::time::{Duration, Instant};

use common::Running;

/// Trials per scenario and backend unless `SAI3_CRASH_TRIALS` says otherwise.
const DEFAULT_TRIALS: u64 = 2;

/// Trials per scenario and backend.
fn trials() -> u64 {
    std::env::var("SAI3_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_TRIALS)
}

/// True when `scenario` is to run (`SAI3_CRASH_SCENARIO` unset, or naming it).
fn selected(scenario: &str) -> bool {
    std::env::var("SAI3_CRASH_SCENARIO")
        .map(|list| list.split(',').any(|s| s.trim() == scenario))
        .unwrap_or(true)
}

/// The backends to run (`SAI3_CRASH_BACKEND` narrows the compiled-in ones).
fn backends() -> Vec<&'static str> {
    let only = std::env::var("SAI3_CRASH_BACKEND").ok();
    common::backends()
        .into_iter()
        .filter(|b| only.as_deref().is_none_or(|o| o == *b))
        .collect()
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// Kill moments for one scenario: uniform over a whole run (`whole`, measured) and a fifth
/// more, so that some kills find the child already done.
struct Moments {
    rng: Rng,
    whole_ms: u64,
}

impl Moments {
    fn new(scenario: &str, whole: Duration) -> Self {
        let whole_ms = whole.as_millis().max(1) as u64;
        let seed = scenario.bytes().fold(0x9e37_79b9_7f4a_7c15_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Moments {
            rng: Rng(seed ^ whole_ms),
            whole_ms,
        }
    }

    fn next(&mut self) -> Duration {
        Duration::from_millis(self.rng.below(self.whole_ms + self.whole_ms / 5))
    }
}

/// Lets `running` run for `delay`, then SIGKILLs it (or collects it, if it ended first).
fn kill_after(mut running: Running, delay: Duration) -> Output {
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline && !running.has_exited() {
        std::thread::sleep(Duration::from_millis(2));
    }
    if running.has_exited() {
        running.finish(Duration::from_secs(5))
    } else {
        running.kill()
    }
}

/// Per endpoint URI, the largest `field=N` of the log lines containing `marker`.
fn logged_max(stderr: &str, marker: &str, field: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let tag = format!("{field}=");
    for line in stderr.lines().filter(|l| l.contains(marker)) {
        let endpoint = line
            .split("endpoint=\"")
            .nth(1)
            .and_then(|r| r.split('"').next());
        let value = line
            .split(tag.as_str())
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<u64>().ok());
        if let (Some(e), Some(n)) = (endpoint, value) {
            let slot = out.entry(e.to_owned()).or_insert(0);
            *slot = (*slot).max(n);
        }
    }
    out
}

/// Checks one endpoint of a rerun after a kill: no damage, everything `logged` as recorded
/// trusted, and exactly the `missing` objects written (one PUT each), then sealed.
fn assert_exact_rerun(
    what: &str,
    r: &cache_sai3::prepare::EndpointReport,
    logged: u64,
    missing: u64,
) {
    assert!(
        r.cache_rebuilt.is_none(),
        "{what}: a cache was damaged: {r:?}"
    );
    assert!(
        r.already_present >= logged,
        "{what}: {} logged {logged} objects as recorded, the rerun trusted {}",
        r.uri,
        r.already_present
    );
    assert_eq!(r.already_present + r.created, r.expected, "{what}: {r:?}");
    assert_eq!(
        r.created, missing,
        "{what}: {}: expected exactly the {missing} missing files created, found {} PUTs ({} in \
         flight at the kill, {} of them found written): {r:?}",
        r.uri, r.created, r.resumed_in_flight, r.in_flight_found
    );
    assert!(r.sealed, "{what}: {r:?}");
}

/// Endpoint URIs of the log lines containing `marker`.
fn logged_endpoints(stderr: &str, marker: &str) -> Vec<String> {
    let mut out: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains(marker))
        .filter_map(|l| l.split("endpoint=\"").nth(1)?.split('"').next())
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Runs `trial(backend, delay, what)` for every selected backend and trial of `scenario`;
/// `whole(backend)` measures one uninterrupted run first.
fn campaign(
    scenario: &str,
    whole: impl Fn(&'static str) -> Duration,
    trial: impl Fn(&'static str, Duration, &str),
) {
    if !selected(scenario) {
        eprintln!("crash scenario {scenario}: not selected");
        return;
    }
    for backend in backends() {
        let mut moments = Moments::new(scenario, whole(backend));
        let n = trials();
        for t in 0..n {
            let delay = moments.next();
            let what = format!(
                "crash scenario {scenario}, {backend}, trial {} of {n}, killed after {delay:?} \
                 of about {} ms",
                t + 1,
                moments.whole_ms
            );
            eprintln!("{what}");
            trial(backend, delay, &what);
        }
        eprintln!("crash scenario {scenario}, {backend}: {n} trials passed");
    }
}

#[test]
fn prepare_killed_at_random_moments() {
    prepare::run();
}

#[test]
fn list_and_listing_cache_killed_at_random_moments() {
    list::run();
}

#[test]
fn push_killed_at_random_moments() {
    push::run();
}

#[test]
fn pull_killed_at_random_moments() {
    pull::run();
}

#[test]
fn agent_killed_at_random_moments() {
    agents::run();
}

/// Files of the one shard (agent 0) of the one object-store endpoint cached in `cache_dir`,
/// by path inside the shard, with their digests; sync bookkeeping (generation record,
/// unpublished mark, lock, temporary files) left out.
fn shard_files(cache_dir: &std::path::Path) -> BTreeMap<String, (u64, u64)> {
    let endpoints = cache_dir.join("endpoints");
    let mut roots: Vec<std::path::PathBuf> = std::fs::read_dir(&endpoints)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    roots.sort();
    let Some(root) = roots.first() else {
        return BTreeMap::new();
    };
    let bookkeeping = ["SYNC-GENERATION", "SYNC-UNPUBLISHED", "SAI3-CACHE-LOCK"];
    common::file_digests(&root.join("agents").join("0"))
        .into_iter()
        .filter(|(path, _)| {
            let name = path.rsplit('/').next().unwrap_or(path);
            !bookkeeping.contains(&name) && !name.ends_with(".tmp")
        })
        .collect()
}

/// Which of `generations` (oldest first) `files` is: its 1-based number, or a failure naming
/// the files that differ from the newest.
fn generation_of(
    files: &BTreeMap<String, (u64, u64)>,
    generations: &[&BTreeMap<String, (u64, u64)>],
    what: &str,
) -> usize {
    if let Some(n) = generations.iter().position(|g| *g == files) {
        return n + 1;
    }
    let newest = generations.last().copied().cloned().unwrap_or_default();
    let differ: Vec<&String> = files
        .keys()
        .chain(newest.keys())
        .filter(|k| files.get(*k) != newest.get(*k))
        .collect();
    panic!("{what}: the shard is no generation but a mix; differs from the newest in {differ:?}")
}

/// Files of a shard by path, with their digests ([`shard_files`]).
type Files = BTreeMap<String, (u64, u64)>;

/// A 2,000-object dataset on a fresh bucket, prepared from `{dir}/cache` (generation 1
/// pushed), then changed (40 objects deleted behind its back and written again by a prepare
/// with `--refresh-cache` and `change_flags`); `after_first` runs between the two.
struct TwoGenerations {
    config: std::path::PathBuf,
    dir: std::path::PathBuf,
    cache: std::path::PathBuf,
    first: Files,
    second: Files,
}

impl TwoGenerations {
    fn new(
        ep: &common::endpoint::Endpoint,
        backend: &'static str,
        change_flags: &[&str],
        after_first: impl FnOnce(&common::Sai3, &std::path::Path, &std::path::Path, &Files),
    ) -> Self {
        let sai3 = ep.tool(backend);
        let place = ep.places(1).remove(0);
        let dir = ep.scratch();
        let config = common::Config::tree(4, 2, 125)
            .size("10")
            .endpoints(&[&place.uri])
            .write(&dir);
        let cache = dir.join("cache");
        let created = sai3.prepare(&config, &cache, &[]);
        assert_eq!(created.created, 2_000, "{created:?}");
        let first = shard_files(&cache);
        after_first(&sai3, &config, &dir, &first);
        for key in place.objects().into_keys().step_by(50) {
            place.delete(&key);
        }
        let mut flags = vec!["--refresh-cache"];
        flags.extend_from_slice(change_flags);
        let changed = sai3.prepare(&config, &cache, &flags);
        assert_eq!(changed.created, 40, "{changed:?}");
        let second = shard_files(&cache);
        assert_ne!(first, second, "the change left the shard as it was");
        TwoGenerations {
            config,
            dir,
            cache,
            first,
            second,
        }
    }
}
