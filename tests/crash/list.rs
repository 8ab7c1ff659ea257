//! Scenario `list`: a bucket on s3s-fs holds a 4,000-object dataset with gaps; a prepare with
//! an empty cache dir LISTs it (resumable, progress saved as ranges finish), caches the listing
//! and creates the gaps, and is killed. Checked on the rerun: progress the child logged as saved
//! is resumed, not listed again; once the child logged its listing cached, the rerun LISTs
//! nothing; nothing is damaged; exactly the absent objects are created; afterwards the dataset
//! is whole and a third run creates and LISTs nothing.
//!
//! Every run passes `--no-push`, so that each trial's empty cache dir starts from a LIST rather
//! than from a generation pushed by an earlier trial.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::endpoint::{Endpoint, Kind, Place};
use crate::common::{Config, stderr};
use crate::{campaign, kill_after, logged_endpoints, logged_max};

const OBJECTS: usize = 4_000;
/// Every `GAP`-th object is missing when a trial starts.
const GAP: usize = 37;
const ARGS: [&str; 6] = [
    "--no-push",
    "--concurrency",
    "4",
    "--checkpoint-every",
    "20",
    "-v",
];

struct Bucket {
    ep: Endpoint,
    place: Place,
    config: PathBuf,
    gaps: BTreeSet<String>,
}

impl Bucket {
    /// A bucket holding the whole dataset (written by a first prepare), and its gaps.
    fn new() -> Self {
        let ep = Endpoint::start(Kind::S3sFs);
        let place = ep.places(1).remove(0);
        let dir = ep.scratch();
        let config = Config::tree(4, 2, 250)
            .size("10")
            .endpoints(&[&place.uri])
            .write(&dir);
        let first = ep
            .tool("fjall")
            .prepare(&config, &dir.join("populate"), &["--no-push"]);
        assert_eq!(first.created, OBJECTS as u64, "populating: {first:?}");
        let gaps = place.objects().into_keys().step_by(GAP).collect();
        Bucket {
            ep,
            place,
            config,
            gaps,
        }
    }

    /// Deletes the gaps a previous trial filled.
    fn open_gaps(&self) {
        let present = self.place.objects();
        for g in self.gaps.iter().filter(|g| present.contains_key(*g)) {
            self.place.delete(g);
        }
    }

    /// Dataset objects on the server once it has finished the PUTs it had received from a
    /// killed client.
    fn settled_count(&self) -> u64 {
        let mut before = self.place.objects();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let now = self.place.objects();
            if now == before {
                return now.len() as u64;
            }
            assert!(Instant::now() < deadline, "the server kept changing");
            before = now;
        }
    }
}

pub fn run() {
    if !crate::selected("list") {
        return;
    }
    let bucket = Bucket::new();
    campaign(
        "list",
        |b| whole(&bucket, b),
        |b, d, w| trial(&bucket, b, d, w),
    );
}

/// One uninterrupted run from an empty cache dir.
fn whole(bucket: &Bucket, backend: &'static str) -> Duration {
    bucket.open_gaps();
    let cache = bucket.ep.scratch().join("cache");
    let started = Instant::now();
    bucket
        .ep
        .tool(backend)
        .prepare(&bucket.config, &cache, &ARGS[..5]);
    started.elapsed()
}

fn trial(bucket: &Bucket, backend: &'static str, delay: Duration, what: &str) {
    bucket.open_gaps();
    let sai3 = bucket.ep.tool(backend);
    let dir = bucket.ep.scratch();
    let cache = dir.join("cache");
    let running = sai3.spawn_config("prepare", "prepare", &bucket.config, &cache, &ARGS, &dir);
    let log = stderr(&kill_after(running, delay));
    let saved_ranges = logged_max(&log, "LIST progress saved", "ranges_done");
    let cached = logged_endpoints(&log, "LIST finished: its listing is cached");
    let missing = OBJECTS as u64 - bucket.settled_count();

    let rerun = sai3.prepare(&bucket.config, &cache, &["--no-push", "-v"]);
    assert_eq!(rerun.failed, 0, "{what}: {rerun:?}");
    let r = &rerun.endpoints[0];
    assert!(
        r.cache_rebuilt.is_none(),
        "{what}: a cache was damaged: {r:?}"
    );
    if cached.contains(&r.uri) {
        assert_eq!(
            r.list_calls, 0,
            "{what}: the child logged its listing cached, the rerun LISTed: {r:?}"
        );
    } else if let Some(&saved) = saved_ranges.get(&r.uri).filter(|_| r.list_calls > 0) {
        assert!(
            r.list_resumed_ranges >= saved,
            "{what}: the child logged {saved} ranges saved, the rerun resumed {}: {r:?}",
            r.list_resumed_ranges
        );
    }
    assert_eq!(r.already_present + r.created, r.expected, "{what}: {r:?}");
    assert_eq!(
        r.created, missing,
        "{what}: expected exactly the {missing} absent objects created, found {} PUTs: {r:?}",
        r.created
    );
    assert!(r.sealed, "{what}: {r:?}");
    let objects = bucket.place.objects();
    assert_eq!(objects.len(), OBJECTS, "{what}: objects after the rerun");
    let wrong: Vec<&String> = objects
        .iter()
        .filter(|(_, id)| !id.starts_with("10 "))
        .map(|(k, _)| k)
        .collect();
    assert!(
        wrong.is_empty(),
        "{what}: objects of a wrong size: {wrong:?}"
    );
    let third = sai3.prepare(&bucket.config, &cache, &["--no-push"]);
    assert_eq!(third.created, 0, "{what}: {third:?}");
    assert_eq!(third.list_calls, 0, "{what}: {third:?}");
}
