//! What every endpoint does, written once and run on every kind of endpoint: `file://` (a
//! local directory), S3 on moto and on s3s-fs (which checks signatures), and Azure Blob on
//! Azurite, each server started by the test on 127.0.0.1 and stopped by PID. Every behaviour
//! runs for every compiled backend; a failure names the endpoint kind and the backend.
//!
//! * [`prepare_twice`]: the first prepare LISTs and creates everything; the second makes no
//!   LIST call and creates nothing; a refresh LISTs and finds every object in place.
//! * [`resume_after_kill`]: a prepare killed mid-way resumes, creating only what is missing
//!   (none written twice); the ledger then matches the endpoint exactly.
//! * [`verify_drift`]: `verify --sample` finds deleted and wrong-size objects, repairs the
//!   ledger, and the next prepare recreates exactly those.
//! * [`push_pull_reattach`] (object stores): caches pushed by one agent are pulled by another
//!   with an empty cache dir, which then looks up, verifies and prepares without a LIST.
//!   A run's changes are pushed by a later run when its own push did not happen
//!   ([`pushed_until_published`]).
//! * [`dataset_record`] (object stores): an expired seal is renewed by one GET of the
//!   endpoint's `DATASET` record, and only when the record matches.
//! * [`foreign_keys`]: the endpoint also holds objects that are not the dataset's (another
//!   dataset's names, near misses of ours, all of our size): a LIST counts them as other keys,
//!   never as objects present; every object of ours is created, the others are left alone.
//! * [`missing_bucket`] (object stores): a bucket or container that does not exist stops the
//!   run at its LIST with the server's reason (exit 2).

mod common;

use std::path::Path;
use std::time::Duration;

use cache_sai3::dataset::Dataset;
use cache_sai3::placement;
use cache_sai3::prepare::{ListingSource, ValidatedBy};
use common::endpoint::{Endpoint, Kind, Place, count_objects, uris};
use common::{Config, each_backend, tool};

/// Runs `body` on a fresh endpoint of `kind`, once per compiled backend.
fn on(kind: Kind, body: fn(&Endpoint, &'static str)) {
    let endpoint = Endpoint::start(kind);
    each_backend(&format!("{} endpoint", kind.name()), |backend| {
        body(&endpoint, backend)
    });
}

/// One test per endpoint kind for each behaviour: `behaviour::file`, `behaviour::moto`, ...
macro_rules! on_kinds {
    ($kinds:tt: $($name:ident),* $(,)?) => {$(
        mod $name {
            use super::{Kind, on};
            on_kinds!(@tests $name $kinds);
        }
    )*};
    (@tests $name:ident [$($test:ident: $kind:ident),*]) => {$(
        #[test]
        fn $test() {
            on(Kind::$kind, super::$name);
        }
    )*};
}

on_kinds!([file: File, moto: Moto, s3s_fs: S3sFs, azurite: Azurite]:
    prepare_twice, resume_after_kill, verify_drift, foreign_keys);
on_kinds!([file: File, moto: Moto]: quiet_and_progress);
// Object stores only: push, pull, the DATASET record, a missing bucket.
on_kinds!([moto: Moto, s3s_fs: S3sFs, azurite: Azurite]:
    push_pull_reattach, dataset_record, missing_bucket);

/// `--no-pull` where the original tests used it (object stores); no effect on `file://`.
const NO_PULL: &str = "--no-pull";

/// Where object `index` of the first `ensure_objects` entry is (in whichever agent's pool holds
/// it): its endpoint, path relative to it, and URI.
fn locate(config: &Path, index: u64) -> placement::Location {
    let dataset = Dataset::load(config).expect("dataset");
    dataset
        .pools
        .iter()
        .filter(|p| p.ensure_index == 0)
        .find_map(|p| placement::locate(&dataset, p.id, index))
        .expect("index inside the dataset")
}

fn prepare_twice(ep: &Endpoint, backend: &'static str) {
    let sai3 = ep.tool(backend);
    let places = ep.places(3);
    let dir = ep.scratch();
    let config = Config::tree(3, 2, 10)
        .size("1KiB")
        .endpoints(&uris(&places))
        .write(&dir);
    let cache = dir.join("cache");

    let first = sai3.prepare(&config, &cache, &[]);
    assert_eq!(first.total_objects, 90, "{first:?}");
    assert_eq!(first.created, 90, "{first:?}");
    assert_eq!(first.failed, 0, "{first:?}");
    assert_eq!(first.listing_source, ListingSource::List);
    assert!(
        first.list_calls >= 3,
        "one LIST per endpoint at least: {first:?}"
    );
    assert_eq!(count_objects(&places), 90);
    for (e, place) in first.endpoints.iter().zip(&places) {
        assert_eq!(e.uri, place.uri);
        assert!(e.sealed, "{e:?}");
        let location = e.cache_location.as_deref().expect("a cache location");
        match place.local_dir() {
            // A local endpoint holds its cache itself.
            Some(d) => assert_eq!(Path::new(location), d.join("sai3-kv-cache/agents/0")),
            // Object-store endpoint caches live under the cache dir.
            None => assert!(location.starts_with(&common::s(&cache)), "{location}"),
        }
    }

    let second = sai3.prepare(&config, &cache, &[]);
    assert_eq!(second.list_calls, 0, "{second:?}");
    assert!(second.listed_from_cache);
    assert_eq!(second.listing_source, ListingSource::Ledger, "{second:?}");
    assert_eq!(second.created, 0);
    assert_eq!(second.already_present, 90);
    let p = &second.phases;
    for (name, secs) in [
        ("open", p.open_s),
        ("list", p.list_s),
        ("create", p.create_s),
        ("persist", p.persist_s),
        ("total", p.total_s),
    ] {
        assert!(secs.is_finite() && secs >= 0.0, "phase {name}: {secs}");
    }

    // A refresh lists again and finds every object (names, sizes) in place; the endpoint's own
    // cache (local directory or pushed generations) is not counted as foreign keys.
    let refreshed = sai3.prepare(&config, &cache, &["--refresh-cache"]);
    assert_eq!(refreshed.listing_source, ListingSource::List);
    assert!(refreshed.list_calls > 0);
    assert_eq!(refreshed.already_present, 90, "{refreshed:?}");
    assert_eq!(refreshed.created, 0);
    for e in &refreshed.endpoints {
        assert_eq!(e.other_keys, 0, "{e:?}");
        assert_eq!(e.wrong_size, 0, "{e:?}");
        assert_eq!(e.provenance.list_calls_saved, 0, "listed: {e:?}");
    }
    provenance_after_a_list(&sai3, &config, &cache);
}

/// After a LIST that found every object, a prepare from the sealed ledger reports where its
/// knowledge came from, its age, its last check, and the LIST calls and time it saved.
fn provenance_after_a_list(sai3: &common::Sai3, config: &Path, cache: &Path) {
    let trusted = sai3.prepare(config, cache, &[NO_PULL]);
    assert_eq!(trusted.list_calls, 0, "{trusted:?}");
    for e in &trusted.endpoints {
        assert_eq!(e.listing_source, ListingSource::Ledger, "{e:?}");
        let p = &e.provenance;
        assert!(p.age_s >= 0.0 && p.known_at_ms > 0, "{p:?}");
        assert!(p.validated.is_some(), "a seal or a LIST checked it: {p:?}");
        assert!(p.list_calls_saved > 0, "{p:?}");
        assert_eq!(p.objects_not_listed, 30, "{p:?}");
        assert!(p.list_keys_per_s.is_some_and(|r| r > 0.0), "{p:?}");
        assert!(p.est_list_seconds_saved.is_some_and(|s| s > 0.0), "{p:?}");
    }
    let sum = &trusted.provenance;
    assert_eq!(sum.endpoints, 3, "{sum:?}");
    assert!(sum.list_calls_saved >= 3, "{sum:?}");
    assert!(
        sum.est_list_seconds_saved.is_some_and(|s| s > 0.0),
        "{sum:?}"
    );
    assert!(
        sum.line
            .starts_with("provenance: 3 endpoints, knowledge from sealed ledger (age "),
        "{sum:?}"
    );
    assert!(sum.line.contains("0 LIST calls"), "{sum:?}");
    // A sampled verify is a check the next report names.
    sai3.verify(config, cache, 2, &[]);
    let verified = sai3.prepare(config, cache, &[NO_PULL]);
    for e in &verified.endpoints {
        let check = e.provenance.validated.expect("checked");
        assert_eq!(check.by, ValidatedBy::Verify, "{e:?}");
    }
    let text = sai3.run_config("prepare", config, cache, &[NO_PULL]);
    assert!(text.status.success(), "{}", common::stderr(&text));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("provenance: 3 endpoints") && stdout.contains("knowledge age "),
        "{stdout}"
    );
}

/// Without `--quiet` and not on a terminal, a phase that lasts prints plain progress lines on
/// stderr; with `--quiet`, a successful prepare, push and pull print nothing there.
fn quiet_and_progress(ep: &Endpoint, backend: &'static str) {
    let every_ms = [("SAI3_PROGRESS_INTERVAL_MS".to_owned(), "1".to_owned())];
    let sai3 = ep.tool(backend).with_env(&every_ms);
    let places = ep.places(2);
    let dir = ep.scratch();
    let config = Config::flat(2_000)
        .size("256")
        .endpoints(&uris(&places))
        .write(&dir);
    let cache = dir.join("cache");
    let shown = sai3.run_config("prepare", &config, &cache, &[NO_PULL, "--no-push"]);
    assert!(shown.status.success(), "{}", common::stderr(&shown));
    let err = common::stderr(&shown);
    assert!(
        err.contains("  creating: ") && err.contains("/2000 objects"),
        "{err}"
    );
    // A LIST and eager population show their progress too.
    let eager = sai3.run_config(
        "prepare",
        &config,
        &cache,
        &[
            NO_PULL,
            "--no-push",
            "--refresh-cache",
            "--populate",
            "eager",
        ],
    );
    assert!(eager.status.success(), "{}", common::stderr(&eager));
    let err = common::stderr(&eager);
    assert!(err.contains("  listing: "), "{err}");
    assert!(
        err.contains("  storing paths: ") && err.contains("/2000 objects"),
        "{err}"
    );
    let runs: [(&str, &[&str]); 3] = [
        ("prepare", &["--refresh-cache"]),
        ("push", &[]),
        ("pull", &[]),
    ];
    for (cmd, extra) in runs {
        let mut args = vec!["--quiet"];
        args.extend_from_slice(extra);
        let out = sai3.run_config(cmd, &config, &cache, &args);
        assert!(out.status.success(), "{cmd}: {}", common::stderr(&out));
        assert_eq!(common::stderr(&out), "", "{cmd} --quiet");
        if cmd == "prepare" {
            assert!(!out.stdout.is_empty(), "the report is on stdout");
        }
    }
    if !ep.is_object_store() {
        let noted = sai3.run_config("push", &config, &cache, &[]);
        assert!(
            common::stderr(&noted).contains("no object-store endpoints"),
            "without --quiet the note is printed"
        );
    }
}

/// Keys a LIST of the place of `ours` (a path of one of our objects, `d1/d2/file_N.dat`) must
/// never take for our objects: another dataset's names and near misses of ours.
fn foreign_keys_beside(ours: &str) -> Vec<String> {
    let (dirs, file) = ours.rsplit_once('/').expect("a tree path");
    let (top, _) = dirs.split_once('/').expect("two levels");
    [
        format!("{ours}.tmp"),
        format!("copy/{ours}"),
        file.to_owned(),
        format!("{top}/{file}"),
        format!("{dirs}/file_00099999.dat"),
        format!("{dirs}/file_0000000.dat"),
        format!("{dirs}/FILE_00000000.dat"),
        format!("{dirs}x/{file}"),
        "other-dataset/d1_w1.dir/file_00000000.dat".to_owned(),
        "notes.txt".to_owned(),
    ]
    .into()
}

fn foreign_keys(ep: &Endpoint, backend: &'static str) {
    let sai3 = ep.tool(backend);
    let places = ep.places(1);
    let dir = ep.scratch();
    let config = Config::tree(3, 2, 10)
        .size("100")
        .endpoints(&uris(&places))
        .write(&dir);
    let cache = dir.join("cache");
    let ours: std::collections::BTreeSet<String> =
        (0..90).map(|i| locate(&config, i).path).collect();
    let zero = locate(&config, 0).path;
    let mut foreign = foreign_keys_beside(&zero);
    // Another object's file name in object 0's directory.
    let (zero_dir, _) = zero.rsplit_once('/').expect("a tree path");
    let moved = ours
        .iter()
        .filter_map(|p| p.rsplit_once('/'))
        .map(|(_, file)| format!("{zero_dir}/{file}"))
        .find(|p| !ours.contains(p));
    foreign.extend(moved);
    assert!(foreign.iter().all(|k| !ours.contains(k)), "{foreign:?}");
    for key in &foreign {
        places[0].put(key, &[7; 100]);
    }

    let first = sai3.prepare(&config, &cache, &[]);
    let e = &first.endpoints[0];
    assert_eq!(e.other_keys, foreign.len() as u64, "{e:?}");
    assert_eq!((e.already_present, e.wrong_size), (0, 0), "{e:?}");
    assert_eq!((first.created, first.failed), (90, 0), "{first:?}");
    for key in &foreign {
        assert_eq!(places[0].get(key), [7; 100], "{key} was changed");
    }

    let listed = sai3.prepare(&config, &cache, &["--refresh-cache"]);
    let e = &listed.endpoints[0];
    assert_eq!(e.other_keys, foreign.len() as u64, "{e:?}");
    assert_eq!((e.already_present, e.created), (90, 0), "{e:?}");
}

/// Dataset objects of every place with their identities, keyed `ep{e}/{path}`.
fn identities(places: &[Place]) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for (e, p) in places.iter().enumerate() {
        for (f, id) in p.objects() {
            out.insert(format!("ep{e}/{f}"), id);
        }
    }
    out
}

fn resume_after_kill(ep: &Endpoint, backend: &'static str) {
    let sai3 = ep.tool(backend);
    let places = ep.places(2);
    let dir = ep.scratch();
    // Killed right after its first ledger checkpoint (every 500 objects here) is logged. Local
    // files are fast: 40,000 of 4 KiB. Object stores (servers on this machine) are slower:
    // 4,000 of 1 KiB.
    let config = if ep.is_object_store() {
        Config::tree(4, 2, 250).size("1KiB")
    } else {
        Config::tree(4, 2, 2500).size("4KiB")
    };
    let total = config.total() as usize;
    let config = config.endpoints(&uris(&places)).write(&dir);
    let cache = dir.join("cache");
    let mut running = sai3.spawn_config(
        "prepare",
        "prepare",
        &config,
        &cache,
        &[
            "--json",
            "--concurrency",
            "4",
            "--checkpoint-every",
            "500",
            "-v",
        ],
        &dir.join("logs"),
    );
    running.wait_for_checkpoint(Duration::from_secs(120));
    running.kill();
    // A server may still finish PUTs it had fully received: wait until the store is quiet.
    let mut before = identities(&places);
    while ep.is_object_store() {
        std::thread::sleep(Duration::from_millis(300));
        let now = identities(&places);
        if now == before {
            break;
        }
        before = now;
    }
    assert!(before.len() < total, "the kill came too late");

    // The rerun trusts the killed run's ledger (no LIST): what it recorded as created stays,
    // objects in flight at its last checkpoint are checked with HEADs, and exactly the absent
    // ones are written.
    let resumed = sai3.prepare(&config, &cache, &[]);
    assert_eq!(
        resumed.listing_source,
        ListingSource::Resumed,
        "an interrupted run resumes from its ledger: {resumed:?}"
    );
    assert_eq!(resumed.list_calls, 0, "{resumed:?}");
    assert_eq!(resumed.failed, 0);
    assert_eq!(
        resumed.already_present + resumed.created,
        total as u64,
        "{resumed:?}"
    );
    let missing = (total - before.len()) as u64;
    assert_eq!(resumed.created, missing, "{resumed:?}");
    assert!(
        resumed.already_present > 0,
        "the killed run checkpointed nothing: {resumed:?}"
    );
    // Objects in flight at the last checkpoint were checked, those found are not rewritten.
    let in_flight: u64 = resumed.endpoints.iter().map(|e| e.resumed_in_flight).sum();
    let found: u64 = resumed.endpoints.iter().map(|e| e.in_flight_found).sum();
    assert!(
        found <= in_flight && in_flight - found <= resumed.created,
        "{in_flight} objects reported in flight, {found} found, {} created: {resumed:?}",
        resumed.created
    );
    let after = identities(&places);
    assert_eq!(after.len(), total);
    let rewritten: Vec<&String> = before
        .iter()
        .filter(|(f, id)| after.get(*f) != Some(*id))
        .map(|(f, _)| f)
        .collect();
    assert!(
        rewritten.is_empty(),
        "objects present before the resume were written again: {rewritten:?}"
    );
    let again = sai3.prepare(&config, &cache, &[]);
    assert_eq!(again.list_calls, 0, "{again:?}");
    assert_eq!(again.created, 0);
    match backend {
        #[cfg(feature = "fjall")]
        "fjall" => check_ledger::<cache_fjall::FjallDatabase>(&places, &config, &cache),
        #[cfg(feature = "redb")]
        "redb" => check_ledger::<cache_redb::RedbDatabase>(&places, &config, &cache),
        other => panic!("unknown backend {other}"),
    }
}

/// Each endpoint's ledger: its presence bitmap holds exactly the objects on the endpoint, all
/// of them placed on that endpoint; no exception and nothing in flight after a clean run.
fn check_ledger<D: cache_core::Database>(places: &[Place], config: &Path, cache_dir: &Path) {
    use cache_sai3::caches::{EndpointCache, cache_location};
    let dataset = Dataset::load(config).expect("dataset");
    let pool = &dataset.pools[0];
    for (e, place) in places.iter().enumerate() {
        let location = cache_location(&dataset.endpoints[e], cache_dir, 0).expect("location");
        let cache = EndpointCache::<D>::open(&location, false).expect("open endpoint cache");
        let present = cache.presence(&dataset, 0).expect("bitmap");
        let exceptions = cache.exceptions(&dataset, 0).expect("exceptions");
        assert!(exceptions.is_empty(), "endpoint {e}: {exceptions:?}");
        let in_flight = cache.in_flight(&dataset, 0).expect("in flight");
        assert!(
            in_flight.is_empty(),
            "endpoint {e}: in flight {in_flight:?}"
        );
        let stored: Vec<u64> = place
            .objects()
            .keys()
            .map(|f| dataset.parse_path(pool, f).expect("a dataset name"))
            .collect();
        assert_eq!(stored.len() as u64, present.len(), "endpoint {e}");
        for i in &stored {
            assert!(
                present.contains(*i),
                "object {i} stored but not present in the ledger of endpoint {e}"
            );
        }
        for i in &present {
            assert_eq!(
                placement::endpoint_of(pool, i).map(usize::from),
                Some(e),
                "endpoint {e} holds object {i}"
            );
        }
    }
}

fn verify_drift(ep: &Endpoint, backend: &'static str) {
    let sai3 = ep.tool(backend);
    let places = ep.places(2);
    let dir = ep.scratch();
    let config = Config::tree(3, 2, 10)
        .size("200")
        .endpoints(&uris(&places))
        .write(&dir);
    let cache = dir.join("cache");
    sai3.prepare(&config, &cache, &[]);
    let verify = |k: usize| sai3.verify(&config, &cache, k, &[]);
    let clean = verify(100);
    assert_eq!(clean.len(), 2);
    for d in &clean {
        assert_eq!(d.ranges_total, 3, "one range per level-1 directory: {d:?}");
        assert_eq!(d.missing, 0, "{d:?}");
        assert!(!d.unsealed, "{d:?}");
    }

    // Out-of-band damage on endpoint 0: one object deleted, one rewritten with a wrong size, in
    // two different level-1 directories.
    let (gone, short) = (locate(&config, 0), locate(&config, 30));
    assert_eq!((gone.endpoint, short.endpoint), (Some(0), Some(0)));
    places[0].delete(&gone.path);
    places[0].put(&short.path, b"short");
    let drift = verify(100);
    assert_eq!(
        drift[0].heads, 0,
        "every range was listed: nothing left to HEAD: {drift:?}"
    );
    assert_eq!(drift[0].missing, 1, "{drift:?}");
    assert_eq!(drift[0].size_mismatch, 1, "{drift:?}");
    assert_eq!(drift[0].ranges_differing, 2, "{drift:?}");
    assert!(drift[0].unsealed, "{drift:?}");
    assert_eq!(drift[1].missing, 0, "endpoint 1 is intact: {drift:?}");
    assert!(!drift[1].unsealed, "{drift:?}");

    // The repaired ledger makes the next prepare restore exactly those two objects.
    let restored = sai3.prepare(&config, &cache, &[NO_PULL]);
    assert_eq!(restored.created, 2, "{restored:?}");
    assert_eq!(places[0].get(&short.path).len(), 200);
    assert_eq!(verify(100)[0].missing, 0);

    // A sample of 2: two of the three ranges are listed, and 2 objects of the third are HEADed.
    // With every object of endpoint 0 gone, each of them finds drift. (A tree's ranges are its
    // level-1 directories, known from the config, also where an object store has no key left.)
    for f in places[0].objects().keys() {
        places[0].delete(f);
    }
    let sampled = verify(2);
    assert_eq!(sampled[0].ranges_sampled, 2, "{sampled:?}");
    assert_eq!(sampled[0].heads, 2, "{sampled:?}");
    assert_eq!(sampled[0].missing, 2 * 15 + 2, "{sampled:?}");
    let rebuilt = sai3.prepare(&config, &cache, &[NO_PULL]);
    assert_eq!(
        rebuilt.listing_source,
        ListingSource::List,
        "an unsealed endpoint is listed"
    );
    assert_eq!(rebuilt.created, 45, "{rebuilt:?}");

    // A flat dataset with key-prefix shards: one range per shard.
    let places = ep.places(1);
    let config = Config::flat(40)
        .size("64")
        .shards(4)
        .endpoints(&uris(&places))
        .name("sharded")
        .write(&dir);
    let cache = dir.join("cache-sharded");
    sai3.prepare(&config, &cache, &[]);
    let verify = |k: usize| sai3.verify(&config, &cache, k, &[]);
    let clean = verify(10);
    assert_eq!(clean[0].ranges_total, 4, "one range per shard: {clean:?}");
    assert_eq!(clean[0].missing, 0, "{clean:?}");
    let gone = locate(&config, 5);
    assert_eq!(gone.path, "01/prepared-00000005.dat");
    places[0].delete(&gone.path);
    let drift = verify(10);
    assert_eq!(drift[0].missing, 1, "{drift:?}");
    assert!(drift[0].unsealed, "{drift:?}");
    let restored = sai3.prepare(&config, &cache, &[NO_PULL]);
    assert_eq!(restored.created, 1, "{restored:?}");
}

fn push_pull_reattach(ep: &Endpoint, backend: &'static str) {
    let sai3 = ep.tool(backend);
    let places = ep.places(2);
    let dir = ep.scratch();
    let config = Config::flat(200)
        .uniform(100, 2000)
        .shards(4)
        .agents(2)
        .endpoints(&uris(&places))
        .write(&dir);
    let first_agent = dir.join("agent1");
    let first = sai3.prepare(&config, &first_agent, &[]);
    assert_eq!(first.created, 200, "{first:?}");
    let pushed: Vec<u64> = first
        .sync
        .iter()
        .filter_map(|s| s.pushed.as_ref().map(|p| p.generation))
        .collect();
    assert_eq!(pushed, [1, 1], "{first:?}");

    // A second agent with an empty cache dir pulls, then looks up, verifies and prepares.
    let second_agent = dir.join("agent2");
    let pulled = sai3.pull(&config, &second_agent);
    assert_eq!(pulled.len(), 2, "{pulled:?}");
    for s in &pulled {
        let p = s.pulled.as_ref().expect("a pull");
        assert_eq!(p.generation, Some(1), "{pulled:?}");
        assert!(p.files_downloaded > 0, "{pulled:?}");
    }
    let found = sai3.lookup(&config, &second_agent, &["3", "4"]);
    assert_eq!(found[0].state.as_deref(), Some("created"), "{found:?}");
    assert_eq!(found[1].state.as_deref(), Some("created"), "{found:?}");
    assert_eq!(found[0].endpoint, 1);
    assert_eq!(found[0].agent, 1);
    assert_eq!(
        found[0].uri,
        format!("{}03/prepared-00000003.dat", places[1].uri)
    );
    assert_eq!(Some(&found[0].uri), locate(&config, 3).uri.as_ref());
    let sizes = places[1].get("03/prepared-00000003.dat").len() as u64;
    assert_eq!(found[0].size, Some(sizes));
    for d in sai3.verify(&config, &second_agent, 10, &[]) {
        assert_eq!(d.missing, 0, "verify works from a pulled cache: {d:?}");
        assert!(!d.unsealed, "{d:?}");
    }
    let again = sai3.prepare(&config, &second_agent, &[NO_PULL]);
    assert_eq!(
        again.list_calls, 0,
        "the pulled ledger proves what exists: {again:?}"
    );
    assert_eq!(again.created, 0);
    assert_eq!(again.already_present, 200);

    // An explicit push from the first agent; the second pulls what it published.
    let pushed = sai3.push(&config, &first_agent);
    assert_eq!(pushed.len(), 2, "{pushed:?}");
    let pulled = sai3.pull(&config, &second_agent);
    for (push, pull) in pushed.iter().zip(&pulled) {
        let generation = push.pushed.as_ref().expect("a push").generation;
        assert!(generation >= 1, "{pushed:?}");
        let p = pull.pulled.as_ref().expect("a pull");
        assert_eq!(p.generation, Some(generation), "{pulled:?}");
    }
    pushed_until_published(ep, backend);
}

/// Generations pushed by a prepare, per endpoint.
fn pushes(r: &cache_sai3::prepare::PrepareReport) -> Vec<u64> {
    r.sync
        .iter()
        .filter_map(|s| s.pushed.as_ref().map(|p| p.generation))
        .collect()
}

/// A prepare whose push did not happen (here `--no-push`; a kill after sealing is the same)
/// leaves its shards marked unpublished: the next run pushes them although it changes
/// nothing, and the run after that pushes nothing.
fn pushed_until_published(ep: &Endpoint, backend: &'static str) {
    let sai3 = ep.tool(backend);
    let places = ep.places(2);
    let dir = ep.scratch();
    let config = Config::flat(40)
        .size("1")
        .endpoints(&uris(&places))
        .write(&dir);
    let cache = dir.join("cache");
    let first = sai3.prepare(&config, &cache, &["--no-push"]);
    assert_eq!(first.created, 40, "{first:?}");
    assert_eq!(pushes(&first), [] as [u64; 0], "{first:?}");
    let second = sai3.prepare(&config, &cache, &[]);
    assert_eq!(second.created, 0, "{second:?}");
    assert_eq!(second.listing_source, ListingSource::Ledger, "{second:?}");
    assert_eq!(
        pushes(&second),
        [1, 1],
        "expected the first run's unpublished changes pushed: {second:?}"
    );
    let third = sai3.prepare(&config, &cache, &[]);
    assert_eq!(
        pushes(&third),
        [] as [u64; 0],
        "expected a run that changed nothing, after a push, to push nothing: {third:?}"
    );
    // Another cache dir pulls what the second run published.
    let pulled = sai3.pull(&config, &dir.join("other"));
    for s in &pulled {
        assert_eq!(
            s.pulled.as_ref().and_then(|p| p.generation),
            Some(1),
            "{pulled:?}"
        );
    }
}

fn dataset_record(ep: &Endpoint, backend: &'static str) {
    let sai3 = ep.tool(backend);
    let places = ep.places(1);
    let dir = ep.scratch();
    let config = Config::flat(30)
        .size("100")
        .endpoints(&uris(&places))
        .write(&dir);
    let cache = dir.join("cache");
    sai3.prepare(&config, &cache, &["--cache-ttl", "1"]);
    std::thread::sleep(Duration::from_millis(1200));
    let renewed = sai3.prepare(&config, &cache, &["--cache-ttl", "1", NO_PULL]);
    assert_eq!(renewed.list_calls, 0, "{renewed:?}");
    assert!(
        renewed.endpoints[0].trusted_by_dataset_record,
        "{renewed:?}"
    );

    // Another sealing happened there (its record differs): the expired seal must not be trusted.
    let record = "sai3-kv-cache/agents/0/DATASET";
    let mut json: serde_json::Value =
        serde_json::from_slice(&places[0].get(record)).expect("record JSON");
    json["sealed_ms"] = serde_json::json!(1);
    places[0].put(record, &serde_json::to_vec(&json).expect("json"));
    let listed = sai3.prepare(&config, &cache, &["--cache-ttl", "1", NO_PULL]);
    assert_eq!(listed.listing_source, ListingSource::List, "{listed:?}");
    assert!(listed.list_calls > 0);
    assert!(!listed.endpoints[0].trusted_by_dataset_record);
}

fn missing_bucket(ep: &Endpoint, backend: &'static str) {
    let (uri, code) = ep.missing_bucket().expect("an object store");
    let dir = ep.scratch();
    let config = Config::tree(2, 2, 5)
        .size("64")
        .endpoints(&[&uri])
        .write(&dir);
    let cache = dir.join("cache");
    let out = ep
        .tool(backend)
        .run_config("prepare", &config, &cache, &["--json"]);
    let stderr = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("LIST failed"), "{stderr}");
    assert!(
        stderr.contains(&uri),
        "the error names the endpoint: {stderr}"
    );
    assert!(stderr.contains(code), "the server's reason: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty(), "no report after an error");
}

#[test]
fn bad_object_store_uris_fail_before_any_work() {
    let backend = common::backends()[0];
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = Config::flat(3)
        .endpoints(&["s3://127.0.0.1:notaport/b/"])
        .write(tmp.path());
    let out = tool(backend)
        .args(["prepare", "--config"])
        .arg(&config)
        .arg("--cache-dir")
        .arg(tmp.path().join("cache"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = common::stderr(&out);
    assert!(stderr.contains("is not host:port"), "{stderr}");
    assert!(
        !tmp.path().join("cache").exists(),
        "nothing may be created before the error"
    );
}
