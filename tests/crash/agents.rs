//! Scenario `agents`: three agent processes (`prepare --agent K`, each with its own cache dir,
//! as on three hosts) prepare one dataset on two shared local endpoints, whose directories hold
//! every agent's shard side by side; one of them is killed, the others run to their end. Checked
//! on the killed agent's rerun: every checkpoint it logged is trusted; nothing is damaged;
//! exactly the files absent from its share are created; no shard of another agent changed;
//! afterwards the dataset is whole and the controller's view creates nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{Config, Running, Sai3, dataset_files, file_digests, stderr};
use crate::{assert_exact_rerun, campaign, kill_after, logged_max};

const AGENTS: u32 = 3;
const ENDPOINTS: usize = 2;
const PER_ENDPOINT: u64 = 4_000;
const ARGS: [&str; 5] = ["--concurrency", "4", "--checkpoint-every", "100", "-v"];

fn config(dir: &Path) -> PathBuf {
    Config::tree(4, 2, 500)
        .size("100")
        .agents(AGENTS)
        .local_endpoints(dir, ENDPOINTS)
        .write(dir)
}

fn spawn(sai3: &Sai3, config: &Path, dir: &Path, k: u32) -> Running {
    let k = k.to_string();
    let mut args = vec!["--agent", k.as_str()];
    args.extend(ARGS);
    let cache = dir.join(format!("agent{k}"));
    sai3.spawn_config(&format!("agent {k}"), "prepare", config, &cache, &args, dir)
}

/// The shards of every agent but `except`, on every endpoint, file by file.
fn other_shards(dir: &Path, except: u32) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    for e in 0..ENDPOINTS {
        for k in (0..AGENTS).filter(|&k| k != except) {
            let shard = dir.join(format!("ep{e}/sai3-kv-cache/agents/{k}"));
            for (f, digest) in file_digests(&shard) {
                out.insert(format!("ep{e}/agents/{k}/{f}"), digest);
            }
        }
    }
    out
}

pub fn run() {
    campaign("agents", whole, trial);
}

/// Three agents to their end.
fn whole(backend: &'static str) -> Duration {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = config(tmp.path());
    let sai3 = Sai3::new(backend);
    let started = Instant::now();
    let running: Vec<Running> = (0..AGENTS)
        .map(|k| spawn(&sai3, &config, tmp.path(), k))
        .collect();
    for r in running {
        let out = r.finish(Duration::from_secs(300));
        assert!(out.status.success(), "{}", stderr(&out));
    }
    started.elapsed()
}

fn trial(backend: &'static str, delay: Duration, what: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let config = config(dir);
    let sai3 = Sai3::new(backend);
    let victim = (delay.as_millis() % u128::from(AGENTS)) as u32;
    let mut running: Vec<Running> = (0..AGENTS).map(|k| spawn(&sai3, &config, dir, k)).collect();
    let killed = kill_after(running.remove(victim as usize), delay);
    for r in running {
        let what_r = r.what.clone();
        let out = r.finish(Duration::from_secs(300));
        assert!(out.status.success(), "{what}: {what_r}: {}", stderr(&out));
    }
    let durable = logged_max(&stderr(&killed), "ledger checkpoint", "recorded");
    let others = other_shards(dir, victim);
    let before: Vec<u64> = (0..ENDPOINTS)
        .map(|e| dataset_files(&dir.join(format!("ep{e}"))).len() as u64)
        .collect();

    let k = victim.to_string();
    let cache = dir.join(format!("agent{victim}"));
    let rerun = sai3.prepare(&config, &cache, &["--agent", &k, "-v"]);
    assert_eq!(rerun.failed, 0, "{what}: agent {victim}: {rerun:?}");
    for r in &rerun.endpoints {
        let logged = durable.get(&r.uri).copied().unwrap_or(0);
        let what = format!("{what}: agent {victim}");
        assert_exact_rerun(&what, r, logged, PER_ENDPOINT - before[r.endpoint as usize]);
    }
    let others_after = other_shards(dir, victim);
    let changed: Vec<&String> = others
        .keys()
        .chain(others_after.keys())
        .filter(|f| others.get(*f) != others_after.get(*f))
        .collect();
    assert!(
        changed.is_empty(),
        "{what}: agent {victim}'s runs changed other agents' shards: {changed:?}"
    );
    for e in 0..ENDPOINTS {
        let files = dataset_files(&dir.join(format!("ep{e}"))).len() as u64;
        assert_eq!(files, PER_ENDPOINT, "{what}: endpoint {e}");
    }
    let all = sai3.prepare(&config, &dir.join("controller"), &[]);
    assert_eq!(all.created, 0, "{what}: the controller's view: {all:?}");
    assert_eq!(all.list_calls, 0, "{what}: the controller's view: {all:?}");
}
