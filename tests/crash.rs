//! Crash campaign, scenario (a): a prepare on local endpoints is SIGKILLed at a random moment
//! (from before its first write to after its last), then run again. After every kill:
//!
//! * every checkpoint the child logged as durable (`-v`: `recorded=N` per endpoint) is there:
//!   the rerun trusts at least that many objects of the endpoint;
//! * nothing fails verification: the rerun rebuilds no cache and fails no write;
//! * the rerun creates every missing object, and rewrites only objects its ledger had not
//!   recorded (a PUT of the same content is idempotent): `created - missing <= present before
//!   - trusted`;
//! * afterwards every object exists with its size, and a third run creates nothing.
//!
//! `cargo xtask test` runs a few trials per backend; `SAI3_CRASH_TRIALS=N` (as `cargo xtask
//! crash` sets it) runs N.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Config, Sai3, dataset_files};

/// Trials per backend unless `SAI3_CRASH_TRIALS` says otherwise.
const DEFAULT_TRIALS: u64 = 4;

fn trials() -> u64 {
    std::env::var("SAI3_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_TRIALS)
}

/// A small deterministic generator (xorshift64*), seeded per trial.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// The largest `recorded=N` each endpoint logged, by endpoint URI.
fn logged_durable(stderr: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in stderr.lines().filter(|l| l.contains("ledger checkpoint")) {
        let endpoint = line
            .split("endpoint=\"")
            .nth(1)
            .and_then(|r| r.split('"').next());
        let recorded = line
            .rsplit("recorded=")
            .next()
            .and_then(|r| r.trim().parse::<u64>().ok());
        if let (Some(e), Some(n)) = (endpoint, recorded) {
            let slot = out.entry(e.to_owned()).or_insert(0);
            *slot = (*slot).max(n);
        }
    }
    out
}

const ARGS: [&str; 5] = ["--concurrency", "8", "--checkpoint-every", "300", "-v"];

/// One trial: kill after `delay`, then check the rerun.
fn trial(sai3: &Sai3, dir: &Path, delay: Duration, what: &str) {
    let config = Config::tree(4, 2, 500)
        .size("100")
        .local_endpoints(dir, 2)
        .write(dir);
    let cache = dir.join("cache");
    let mut running = sai3.spawn_config(
        "prepare",
        "prepare",
        &config,
        &cache,
        &ARGS,
        &dir.join("logs"),
    );
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline && !running.has_exited() {
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed = if running.has_exited() {
        running.finish(Duration::from_secs(5))
    } else {
        running.kill()
    };
    let durable = logged_durable(&common::stderr(&killed));
    let before: Vec<u64> = (0..2)
        .map(|e| dataset_files(&dir.join(format!("ep{e}"))).len() as u64)
        .collect();

    let rerun = sai3.prepare(&config, &cache, &["-v"]);
    assert_eq!(rerun.failed, 0, "{what}: {rerun:?}");
    for (e, r) in rerun.endpoints.iter().enumerate() {
        assert!(
            r.cache_rebuilt.is_none(),
            "{what}: a cache was damaged: {r:?}"
        );
        let logged = durable.get(&r.uri).copied().unwrap_or(0);
        assert!(
            r.already_present >= logged,
            "{what}: endpoint {e} logged {logged} objects as recorded, the rerun trusted {}",
            r.already_present
        );
        assert_eq!(r.already_present + r.created, r.expected, "{what}: {r:?}");
        let missing = r.expected - before[e];
        assert!(
            r.created >= missing,
            "{what}: {missing} missing, {} created",
            r.created
        );
        let untrusted = before[e].saturating_sub(r.already_present);
        assert!(
            r.created - missing <= untrusted,
            "{what}: endpoint {e} rewrote {} objects its ledger had recorded",
            r.created - missing - untrusted
        );
        assert!(r.sealed, "{what}: {r:?}");
    }
    for e in 0..2 {
        let ep = dir.join(format!("ep{e}"));
        let files = dataset_files(&ep);
        assert_eq!(files.len(), 4_000, "{what}: endpoint {e}");
        for f in &files {
            let len = std::fs::metadata(ep.join(f)).map(|m| m.len()).unwrap_or(0);
            assert_eq!(len, 100, "{what}: {f} has {len} bytes");
        }
    }
    let third = sai3.prepare(&config, &cache, &[]);
    assert_eq!(third.created, 0, "{what}: {third:?}");
    assert_eq!(third.list_calls, 0, "{what}: {third:?}");
}

#[test]
fn prepare_killed_at_random_moments() {
    for backend in common::backends() {
        let sai3 = Sai3::new(backend);
        // How long a whole run takes here: kills fall anywhere in it, and a little after.
        let tmp = tempfile::tempdir().expect("tempdir");
        let started = Instant::now();
        let config = Config::tree(4, 2, 500)
            .size("100")
            .local_endpoints(tmp.path(), 2)
            .write(tmp.path());
        sai3.prepare(&config, &tmp.path().join("cache"), &ARGS[..4]);
        let whole = started.elapsed().as_millis() as u64;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ whole);
        for t in 0..trials() {
            let delay = Duration::from_millis(rng.below(whole + whole / 5));
            let tmp = tempfile::tempdir().expect("tempdir");
            let what = format!("{backend}, trial {t}, killed after {delay:?} of about {whole} ms");
            eprintln!("{what}");
            trial(&sai3, tmp.path(), delay, &what);
        }
    }
}
