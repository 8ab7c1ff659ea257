//! Atomic batches across keyspaces and durability modes (in-process; crashes are in
//! [`super::crash`]).

use super::{all_keys, fresh, k, reopen};
use crate::database::{Database, Durability, Keyspace, WriteBatch};

/// Nothing of a batch is visible before commit; all of it after, in every keyspace.
pub fn batch_is_atomic_across_keyspaces<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let a = db.keyspace("a").expect("ks");
    let b = db.keyspace("b").expect("ks");
    let c = db.keyspace("c").expect("ks");
    c.insert(b"old", b"x").expect("insert");
    let mut batch = db.batch();
    for i in 0..1000u64 {
        batch.insert(&a, &k(i), b"a");
        batch.insert(&b, &k(i), b"b");
    }
    batch.remove(&c, b"old");
    assert_eq!(batch.len(), 2001);
    assert!(all_keys(&a).is_empty() && all_keys(&b).is_empty());
    assert!(c.contains(b"old").expect("contains"));
    batch.commit(Durability::Flushed).expect("commit");
    assert_eq!(all_keys(&a).len(), 1000);
    assert_eq!(all_keys(&b).len(), 1000);
    assert!(!c.contains(b"old").expect("contains"));
}

/// A dropped batch leaves no trace, also after reopening.
pub fn uncommitted_batch_writes_nothing<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let path = db.path().to_owned();
    let a = db.keyspace("a").expect("ks");
    {
        let mut batch = db.batch();
        batch.insert(&a, b"k", b"v");
        assert!(!batch.is_empty());
    }
    assert_eq!(a.get(b"k").expect("get"), None);
    drop((a, db));
    let db = reopen::<D>(&path);
    assert_eq!(db.keyspace("a").expect("ks").get(b"k").expect("get"), None);
}

/// Operations on one key apply in the order they were queued.
pub fn batch_applies_operations_in_order<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let a = db.keyspace("a").expect("ks");
    let mut batch = db.batch();
    batch.insert(&a, b"x", b"1");
    batch.remove(&a, b"x");
    batch.insert(&a, b"y", b"1");
    batch.remove(&a, b"y");
    batch.insert(&a, b"y", b"2");
    batch.commit(Durability::Buffered).expect("commit");
    assert_eq!(a.get(b"x").expect("get"), None);
    assert_eq!(a.get(b"y").expect("get"), Some(b"2".to_vec()));
    db.batch()
        .commit(Durability::Synced)
        .expect("empty batch commits");
}

/// Every durability mode commits, and `persist` accepts every mode, before and after reopen.
pub fn each_durability_mode_commits<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let path = db.path().to_owned();
    let a = db.keyspace("a").expect("ks");
    let modes = [
        Durability::Buffered,
        Durability::Flushed,
        Durability::Synced,
    ];
    for (i, mode) in modes.into_iter().enumerate() {
        let mut batch = db.batch();
        batch.insert(&a, &k(i as u64), format!("{mode:?}").as_bytes());
        batch.commit(mode).expect("commit");
        db.persist(mode).expect("persist");
    }
    drop((a, db));
    let db = reopen::<D>(&path);
    let a = db.keyspace("a").expect("ks");
    for (i, mode) in modes.into_iter().enumerate() {
        assert_eq!(
            a.get(&k(i as u64)).expect("get"),
            Some(format!("{mode:?}").into_bytes())
        );
    }
}
