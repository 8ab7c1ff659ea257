//! Scenario `pull`: a cache dir holding generation 1 of a shard pulls generation 2 and the
//! pull is killed. Checked: the shard is generation 1 or 2, file for file, never a mix, and
//! generation 2 once the child logged it pulled; it answers a prepare without a LIST or a PUT;
//! a second pull brings generation 2.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::endpoint::{Endpoint, Kind};
use crate::common::files::copy_dir;
use crate::common::{Sai3, stderr};
use crate::{Files, TwoGenerations, campaign, generation_of, kill_after, logged_max, shard_files};

/// Two generations pushed, and a cache dir holding the first.
struct Generations {
    config: PathBuf,
    held_first: PathBuf,
    first: Files,
    second: Files,
}

fn setup(ep: &Endpoint, backend: &'static str) -> Generations {
    let pulled_first = |sai3: &Sai3, config: &Path, dir: &Path, first: &Files| {
        sai3.pull(config, &dir.join("held-first"));
        assert_eq!(
            shard_files(&dir.join("held-first")),
            *first,
            "a pull of generation 1"
        );
    };
    let g = TwoGenerations::new(ep, backend, &[], pulled_first);
    Generations {
        held_first: g.dir.join("held-first"),
        config: g.config,
        first: g.first,
        second: g.second,
    }
}

pub fn run() {
    if !crate::selected("pull") {
        return;
    }
    let ep = Endpoint::start(Kind::S3sFs);
    let mut setups: BTreeMap<&'static str, Generations> = BTreeMap::new();
    for backend in crate::backends() {
        setups.insert(backend, setup(&ep, backend));
    }
    campaign(
        "pull",
        |b| whole(&ep, b, &setups[b]),
        |b, d, w| trial(&ep, b, &setups[b], d, w),
    );
}

/// One uninterrupted pull of generation 2 over generation 1.
fn whole(ep: &Endpoint, backend: &'static str, g: &Generations) -> Duration {
    let cache = ep.scratch().join("cache");
    copy_dir(&g.held_first, &cache);
    let started = Instant::now();
    ep.tool(backend).pull(&g.config, &cache);
    started.elapsed()
}

fn trial(ep: &Endpoint, backend: &'static str, g: &Generations, delay: Duration, what: &str) {
    let sai3 = ep.tool(backend);
    let dir = ep.scratch();
    let cache = dir.join("cache");
    copy_dir(&g.held_first, &cache);
    let running = sai3.spawn_config("pull", "pull", &g.config, &cache, &["-v"], &dir);
    let log = stderr(&kill_after(running, delay));
    let logged = logged_max(&log, "pulled generation", "generation");

    let generation = generation_of(&shard_files(&cache), &[&g.first, &g.second], what);
    if let Some(&n) = logged.values().max() {
        assert_eq!(n, 2, "{what}: the child logged generation {n} pulled");
        assert_eq!(
            generation, 2,
            "{what}: logged generation 2 pulled, holds generation 1"
        );
    }
    let held = dir.join("held");
    copy_dir(&cache, &held);
    let lookup = sai3.run_config("lookup", &g.config, &held, &["0", "1999"]);
    assert!(
        lookup.status.success(),
        "{what}: generation {generation} does not answer a lookup: {}",
        stderr(&lookup)
    );

    sai3.pull(&g.config, &cache);
    assert_eq!(
        generation_of(&shard_files(&cache), &[&g.first, &g.second], what),
        2,
        "{what}: after a second pull"
    );
    let answered = sai3.prepare(&g.config, &cache, &["--no-push"]);
    assert_eq!(answered.list_calls, 0, "{what}: {answered:?}");
    assert_eq!(answered.created, 0, "{what}: {answered:?}");
}
