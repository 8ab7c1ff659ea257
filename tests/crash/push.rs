//! Scenario `push`: a shard pushed as generation 1, then changed (a prepare with
//! `--refresh-cache --no-push` recreates deleted objects), is pushed again and the push is
//! killed. Checked: a pull into an empty cache dir finds generation 1 or 2, file for file, never
//! a mix, and generation 2 once the child logged it pushed; the pulled cache answers a prepare
//! without a LIST or a PUT; a second push publishes the change.

use std::time::{Duration, Instant};

use crate::common::endpoint::{Endpoint, Kind};
use crate::common::stderr;
use crate::{TwoGenerations, campaign, generation_of, kill_after, logged_max, shard_files};

pub fn run() {
    if !crate::selected("push") {
        return;
    }
    let ep = Endpoint::start(Kind::S3sFs);
    campaign("push", |b| whole(&ep, b), |b, d, w| trial(&ep, b, d, w));
}

/// Generation 1 pushed, and a change not pushed.
fn setup(ep: &Endpoint, backend: &'static str) -> TwoGenerations {
    TwoGenerations::new(ep, backend, &["--no-push"], |_, _, _, _| {})
}

/// One uninterrupted push.
fn whole(ep: &Endpoint, backend: &'static str) -> Duration {
    let p = setup(ep, backend);
    let started = Instant::now();
    ep.tool(backend).push(&p.config, &p.cache);
    started.elapsed()
}

fn trial(ep: &Endpoint, backend: &'static str, delay: Duration, what: &str) {
    let sai3 = ep.tool(backend);
    let p = setup(ep, backend);
    let running = sai3.spawn_config("push", "push", &p.config, &p.cache, &["-v"], &p.dir);
    let log = stderr(&kill_after(running, delay));
    let logged = logged_max(&log, "pushed generation", "generation");

    let fresh = p.dir.join("fresh");
    sai3.pull(&p.config, &fresh);
    let generation = generation_of(&shard_files(&fresh), &[&p.first, &p.second], what);
    if let Some(&g) = logged.values().max() {
        assert_eq!(g, 2, "{what}: the child logged generation {g} pushed");
        assert_eq!(
            generation, 2,
            "{what}: logged generation 2 pushed, pulled generation 1"
        );
    }
    let answered = sai3.prepare(&p.config, &fresh, &["--no-push"]);
    assert_eq!(
        answered.list_calls, 0,
        "{what}: generation {generation}: {answered:?}"
    );
    assert_eq!(
        answered.created, 0,
        "{what}: generation {generation}: {answered:?}"
    );

    sai3.push(&p.config, &p.cache);
    let again = p.dir.join("again");
    sai3.pull(&p.config, &again);
    assert_eq!(
        generation_of(&shard_files(&again), &[&p.first, &p.second], what),
        2,
        "{what}: after a second push"
    );
}
