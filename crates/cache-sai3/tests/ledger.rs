//! The compact ledger on both backends: presence in chunks, exceptions cleared by a later
//! create, the in-flight set of a killed run, and caches of another ledger layout.

use std::path::Path;

use cache_core::{Database, Durability};
use cache_sai3::caches::{EndpointCache, LEDGER_LAYOUT, PRESENCE_CHUNK};
use cache_sai3::config::Sai3Config;
use cache_sai3::dataset::Dataset;
use cache_sai3::records::{LedgerException, ObjectState};
use roaring::RoaringTreemap;

/// A flat dataset of `n` objects on one local endpoint.
fn dataset(n: u64) -> Dataset {
    let yaml = format!(
        "prepare:\n  ensure_objects:\n    - base_uri: file:///tmp/ledger-test/\n      count: {n}\n      \
         size_spec: 100\n      fill: zero\nworkload: []\n"
    );
    let config = Sai3Config::parse(&yaml, Path::new("ledger.yaml")).expect("config");
    Dataset::from_config(&config, Path::new("ledger.yaml")).expect("dataset")
}

fn failed(reason: &str) -> LedgerException {
    LedgerException {
        state: ObjectState::Failed,
        size: 100,
        at_ms: 5,
        reason: reason.to_owned(),
    }
}

/// Presence over several chunks survives a reopen; only what changed is rewritten.
fn presence_round_trip<D: Database>() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dataset(3 * PRESENCE_CHUNK);
    let pool = d.pools[0].id;
    let mut expected = RoaringTreemap::new();
    {
        let cache = EndpointCache::<D>::open(dir.path(), true).expect("open");
        let mut w = cache
            .ledger_writer(&d, cache.presence_all(&d).expect("presence"))
            .expect("writer");
        for i in (0..3 * PRESENCE_CHUNK).step_by(7) {
            w.started(pool, i);
            w.created(pool, i, 1_000).expect("created");
            expected.insert(i);
        }
        w.checkpoint(Durability::Flushed).expect("checkpoint");
        // Empty one chunk entirely: its key goes away.
        for i in (PRESENCE_CHUNK..2 * PRESENCE_CHUNK).filter(|i| i % 7 == 0) {
            w.deleted(pool, i, 100, 2_000).expect("deleted");
            expected.remove(i);
        }
        w.checkpoint(Durability::Flushed).expect("checkpoint");
        assert_eq!(w.present(pool), &expected);
    }
    let cache = EndpointCache::<D>::open(dir.path(), false).expect("reopen");
    assert_eq!(cache.presence(&d, pool).expect("presence"), expected);
    assert!(cache.in_flight(&d, pool).expect("in flight").is_empty());
    let e = cache
        .entry(&d, pool, 7, 100)
        .expect("entry")
        .expect("known");
    assert_eq!(
        (e.state, e.size, e.at_ms),
        (ObjectState::Created, 100, 1_000)
    );
    let deleted = (PRESENCE_CHUNK..)
        .find(|i| i % 7 == 0)
        .expect("a multiple of 7");
    let gone = cache.entry(&d, pool, deleted, 100).expect("entry");
    assert_eq!(gone.map(|e| e.state), Some(ObjectState::Deleted));
    assert_eq!(cache.entry(&d, pool, 8, 100).expect("entry"), None);
}

/// A failure is an exception with its reason until a later create clears it.
fn exceptions_cleared_by_create<D: Database>() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dataset(100);
    let pool = d.pools[0].id;
    {
        let cache = EndpointCache::<D>::open(dir.path(), true).expect("open");
        let mut w = cache
            .ledger_writer(&d, vec![RoaringTreemap::new()])
            .expect("w");
        w.absent(pool, 3, &failed("503 Slow Down")).expect("failed");
        w.absent(pool, 4, &failed("timeout")).expect("failed");
        w.checkpoint(Durability::Flushed).expect("checkpoint");
        let stored = cache.exceptions(&d, pool).expect("exceptions");
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[0], (3, failed("503 Slow Down")));
    }
    let cache = EndpointCache::<D>::open(dir.path(), true).expect("reopen");
    let present = cache.presence_all(&d).expect("presence");
    let mut w = cache.ledger_writer(&d, present).expect("writer");
    w.created(pool, 3, 9).expect("created");
    w.checkpoint(Durability::Flushed).expect("checkpoint");
    drop(w);
    let left: Vec<u64> = cache
        .exceptions(&d, pool)
        .expect("exceptions")
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    assert_eq!(left, vec![4]);
    let e = cache
        .entry(&d, pool, 4, 100)
        .expect("entry")
        .expect("known");
    assert_eq!(e.state, ObjectState::Failed);
}

/// What was in flight at the last checkpoint stays recorded until a later checkpoint.
fn in_flight_of_a_killed_run<D: Database>() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dataset(100);
    let pool = d.pools[0].id;
    {
        let cache = EndpointCache::<D>::open(dir.path(), true).expect("open");
        let mut w = cache
            .ledger_writer(&d, vec![RoaringTreemap::new()])
            .expect("w");
        for i in 0..10 {
            w.started(pool, i);
        }
        for i in 0..6 {
            w.created(pool, i, 1).expect("created");
        }
        w.checkpoint(Durability::Flushed).expect("checkpoint");
        // Killed here: the writer is dropped without another checkpoint.
    }
    let cache = EndpointCache::<D>::open(dir.path(), true).expect("reopen");
    let in_flight: Vec<u64> = cache
        .in_flight(&d, pool)
        .expect("in flight")
        .iter()
        .collect();
    assert_eq!(in_flight, vec![6, 7, 8, 9]);
    assert_eq!(cache.presence(&d, pool).expect("presence").len(), 6);
    let present = cache.presence_all(&d).expect("presence");
    let mut w = cache.ledger_writer(&d, present).expect("writer");
    w.checkpoint(Durability::Flushed).expect("checkpoint");
    drop(w);
    assert!(cache.in_flight(&d, pool).expect("in flight").is_empty());
}

/// A cache written before layouts were recorded (ledger data, no layout) is refused as an
/// older layout, which prepare treats as a reason to rebuild.
fn older_layout_refused<D: Database>() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = D::open(dir.path(), &cache_core::OpenOptions::default()).expect("db");
        let objects = db.keyspace("objects").expect("objects");
        let mut key = vec![b'O'];
        key.extend_from_slice(&[0; 18]);
        let frame = cache_core::frame::encode(
            &key,
            cache_core::frame::FrameKind::Value,
            b"old",
            cache_core::Compression::None,
        );
        cache_core::Keyspace::insert(&objects, &key, &frame).expect("insert");
        db.persist(Durability::Flushed).expect("persist");
    }
    let err = EndpointCache::<D>::open(dir.path(), true)
        .err()
        .expect("an older layout is refused");
    assert!(err.is_damage(), "{err}");
    let text = err.to_string();
    assert!(text.contains("ledger layout 1"), "{text}");
    assert!(
        text.contains(&format!("reads layout {LEDGER_LAYOUT}")),
        "{text}"
    );
}

macro_rules! on_both {
    ($($name:ident),*) => {
        mod fjall {
            $(#[test] fn $name() { super::$name::<cache_fjall::FjallDatabase>(); })*
        }
        mod redb {
            $(#[test] fn $name() { super::$name::<cache_redb::RedbDatabase>(); })*
        }
    };
}

on_both!(
    presence_round_trip,
    exceptions_cleared_by_create,
    in_flight_of_a_killed_run,
    older_layout_refused
);
