//! What survives when the process dies: each behaviour runs its writes in a child process
//! (this same test binary, re-run with [`CHILD_ENV`](super::CHILD_ENV) set) that aborts without
//! unwinding, closing or flushing anything, then reopens the database in the parent.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::{CHILD_ENV, all_keys, child_command, k, reopen, small_options};
use crate::database::{Database, Durability, Keyspace, WriteBatch};

/// Runs `child` in a child process that then aborts, and `verify` on the reopened database.
///
/// `module_path` and `name` identify the `#[test]` that called this (so the child runs exactly
/// that test); the conformance macro passes them.
pub fn crash_test<D: Database>(
    module_path: &str,
    name: &str,
    child: impl FnOnce(&D),
    verify: impl FnOnce(&D),
) {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let Some((behaviour, dir)) = spec.split_once('=') else {
            panic!("malformed {CHILD_ENV}={spec}");
        };
        if behaviour == name {
            let path = PathBuf::from(dir);
            let db = D::open(&path, &small_options()).expect("child opens the database");
            child(&db);
            std::fs::write(reached_marker(&path), b"").expect("write reached marker");
            // Die like `kill -9` would: no destructors, no flush, no close.
            std::process::abort();
        }
        return;
    }
    let tmp = tempfile::tempdir().expect("temporary directory");
    let path = tmp.path().join("db");
    let status = child_command(module_path, name, &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn child test process");
    assert!(
        !status.success(),
        "the child must die, it exited with {status}"
    );
    assert!(
        reached_marker(&path).exists(),
        "the child died before reaching its crash point (test {name})"
    );
    let db = reopen::<D>(&path);
    verify(&db);
}

fn reached_marker(path: &Path) -> PathBuf {
    path.with_extension("reached")
}

/// A batch that was queued but not committed leaves nothing; earlier commits stay.
pub fn crash_before_commit_loses_whole_batch<D: Database>(module_path: &str, name: &str) {
    crash_test::<D>(
        module_path,
        name,
        |db| {
            let (a, b) = (db.keyspace("a").expect("ks"), db.keyspace("b").expect("ks"));
            let mut first = db.batch();
            first.insert(&a, b"committed", b"1");
            first.insert(&b, b"committed", b"1");
            first.commit(Durability::Flushed).expect("commit");
            let mut second = db.batch();
            for i in 0..10_000u64 {
                second.insert(&a, &k(i), b"never");
                second.insert(&b, &k(i), b"never");
            }
            second.remove(&a, b"committed");
            std::mem::forget(second);
        },
        |db| {
            for name in ["a", "b"] {
                let ks = db.keyspace(name).expect("ks");
                assert_eq!(
                    all_keys(&ks),
                    vec![b"committed".to_vec()],
                    "keyspace {name}"
                );
            }
        },
    );
}

/// After a crash, buffered batches (which may be lost) are each present whole or absent whole.
pub fn torn_buffered_batches_stay_atomic<D: Database>(module_path: &str, name: &str) {
    const KEYS: u64 = 50;
    crash_test::<D>(
        module_path,
        name,
        |db| {
            let (a, b) = (db.keyspace("a").expect("ks"), db.keyspace("b").expect("ks"));
            for generation in 1..=300u64 {
                let mut value = generation.to_be_bytes().to_vec();
                value.resize(700, 0xab); // large enough to spill journal buffers mid-batch
                let mut batch = db.batch();
                for i in 0..KEYS {
                    batch.insert(&a, &k(i), &value);
                    batch.insert(&b, &k(i), &value);
                }
                batch.commit(Durability::Buffered).expect("commit");
            }
        },
        |db| {
            let (a, b) = (db.keyspace("a").expect("ks"), db.keyspace("b").expect("ks"));
            let first = a.get(&k(0)).expect("get");
            for i in 0..KEYS {
                let va = a.get(&k(i)).expect("get");
                let vb = b.get(&k(i)).expect("get");
                assert_eq!(va, first, "key {i} of `a` is from another batch");
                assert_eq!(vb, first, "key {i} of `b` is from another batch");
            }
            if let Some(v) = first {
                let generation = u64::from_be_bytes(v[..8].try_into().expect("8 bytes"));
                assert!((1..=300).contains(&generation));
            }
        },
    );
}

fn committed_survives<D: Database>(module_path: &str, name: &str, mode: Durability) {
    crash_test::<D>(
        module_path,
        name,
        |db| {
            let (a, b) = (db.keyspace("a").expect("ks"), db.keyspace("b").expect("ks"));
            let mut batch = db.batch();
            for i in 0..1_000u64 {
                batch.insert(&a, &k(i), b"a");
                batch.insert(&b, &k(i), b"b");
            }
            batch.commit(mode).expect("commit");
        },
        |db| {
            let (a, b) = (db.keyspace("a").expect("ks"), db.keyspace("b").expect("ks"));
            assert_eq!(all_keys(&a).len(), 1_000);
            assert_eq!(all_keys(&b).len(), 1_000);
            assert_eq!(b.get(&k(999)).expect("get"), Some(b"b".to_vec()));
        },
    );
}

/// A `Flushed` commit survives the process being killed right after it.
pub fn flushed_commit_survives_kill<D: Database>(module_path: &str, name: &str) {
    committed_survives::<D>(module_path, name, Durability::Flushed);
}

/// A `Synced` commit survives the process being killed right after it.
pub fn synced_commit_survives_kill<D: Database>(module_path: &str, name: &str) {
    committed_survives::<D>(module_path, name, Durability::Synced);
}

/// `persist(Flushed)` makes earlier buffered batches and single inserts survive a kill.
pub fn persist_makes_buffered_writes_survive_kill<D: Database>(module_path: &str, name: &str) {
    crash_test::<D>(
        module_path,
        name,
        |db| {
            let a = db.keyspace("a").expect("ks");
            for i in 0..100u64 {
                let mut batch = db.batch();
                batch.insert(&a, &k(i), b"batched");
                batch.commit(Durability::Buffered).expect("commit");
            }
            a.insert(b"single", b"v").expect("insert");
            db.persist(Durability::Flushed).expect("persist");
        },
        |db| {
            let a = db.keyspace("a").expect("ks");
            assert_eq!(all_keys(&a).len(), 101);
            assert_eq!(a.get(b"single").expect("get"), Some(b"v".to_vec()));
        },
    );
}
