//! Point operations, keyspace management, persistence.

use super::{all_keys, fresh, k, reopen};
use crate::database::{Database, Durability, Keyspace, WriteBatch};

/// A new database opens, writes, and opens again at the same path.
pub fn open_creates_then_reopens<D: Database>() {
    let (dir, db) = fresh::<D>();
    let path = db.path().to_owned();
    assert!(path.starts_with(dir.path()));
    db.keyspace("a")
        .expect("ks")
        .insert(b"x", b"1")
        .expect("insert");
    drop(db);
    let db = reopen::<D>(&path);
    assert_eq!(
        db.keyspace("a").expect("ks").get(b"x").expect("get"),
        Some(b"1".to_vec())
    );
}

/// Opening a keyspace twice yields the same data; names are listed sorted.
pub fn keyspace_open_is_idempotent_and_listed<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let a1 = db.keyspace("beta").expect("ks");
    a1.insert(b"k", b"v").expect("insert");
    let a2 = db.keyspace("beta").expect("ks");
    assert_eq!(a2.get(b"k").expect("get"), Some(b"v".to_vec()));
    db.keyspace("alpha").expect("ks");
    let names = db.keyspace_names().expect("names");
    assert_eq!(names, vec!["alpha".to_string(), "beta".to_string()]);
    assert_eq!(a1.name(), "beta");
}

/// Bad keyspace names are errors, not panics.
pub fn invalid_keyspace_names_are_rejected<D: Database>() {
    let (_dir, db) = fresh::<D>();
    for bad in ["", "has space", "slash/name", &"x".repeat(300)] {
        let e = db.keyspace(bad).err().expect("rejected");
        assert!(
            matches!(e, crate::Error::InvalidArgument(_)),
            "{bad:?}: {e}"
        );
    }
}

/// A missing key reads as `None`.
pub fn get_missing_is_none<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let ks = db.keyspace("a").expect("ks");
    assert_eq!(ks.get(b"nope").expect("get"), None);
}

/// Insert, read, overwrite, read.
pub fn insert_get_overwrite<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let ks = db.keyspace("a").expect("ks");
    ks.insert(b"k", b"one").expect("insert");
    assert_eq!(ks.get(b"k").expect("get"), Some(b"one".to_vec()));
    ks.insert(b"k", b"two").expect("insert");
    assert_eq!(ks.get(b"k").expect("get"), Some(b"two".to_vec()));
    assert_eq!(all_keys(&ks).len(), 1);
}

/// Removing deletes; removing an absent key is fine.
pub fn remove_and_remove_missing<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let ks = db.keyspace("a").expect("ks");
    ks.insert(b"k", b"v").expect("insert");
    ks.remove(b"k").expect("remove");
    assert_eq!(ks.get(b"k").expect("get"), None);
    ks.remove(b"never-there").expect("remove absent");
    assert!(all_keys(&ks).is_empty());
}

/// `contains` agrees with `get`.
pub fn contains_matches_get<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let ks = db.keyspace("a").expect("ks");
    ks.insert(b"yes", b"").expect("insert");
    assert!(ks.contains(b"yes").expect("contains"));
    assert!(!ks.contains(b"no").expect("contains"));
}

/// An empty value is stored and distinguished from absence; the shortest keys work.
pub fn empty_key_and_empty_value<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let ks = db.keyspace("a").expect("ks");
    ks.insert(b"\x00", b"").expect("insert");
    assert_eq!(ks.get(b"\x00").expect("get"), Some(Vec::new()));
    ks.insert(b"\xff", b"x").expect("insert");
    assert_eq!(all_keys(&ks), vec![b"\x00".to_vec(), b"\xff".to_vec()]);
}

/// The same key in two keyspaces holds two values.
pub fn keyspaces_are_isolated<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let a = db.keyspace("a").expect("ks");
    let b = db.keyspace("b").expect("ks");
    a.insert(b"k", b"in-a").expect("insert");
    b.insert(b"k", b"in-b").expect("insert");
    a.remove(b"k").expect("remove");
    assert_eq!(a.get(b"k").expect("get"), None);
    assert_eq!(b.get(b"k").expect("get"), Some(b"in-b".to_vec()));
}

/// Several keyspaces and thousands of keys survive close and reopen.
pub fn persistence_across_reopen<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let path = db.path().to_owned();
    for name in ["objects", "seeds", "listing_cache"] {
        let ks = db.keyspace(name).expect("ks");
        let mut batch = db.batch();
        for i in 0..5_000u64 {
            batch.insert(&ks, &k(i), name.as_bytes());
        }
        batch.commit(Durability::Flushed).expect("commit");
    }
    drop(db);
    let db = reopen::<D>(&path);
    assert_eq!(
        db.keyspace_names().expect("names"),
        vec!["listing_cache", "objects", "seeds"]
    );
    for name in ["objects", "seeds", "listing_cache"] {
        let ks = db.keyspace(name).expect("ks");
        assert_eq!(all_keys(&ks).len(), 5_000);
        assert_eq!(
            ks.get(&k(4_999)).expect("get"),
            Some(name.as_bytes().to_vec())
        );
    }
}

/// Writes committed with `Buffered` are on disk after the handles are dropped.
pub fn buffered_writes_survive_clean_close<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let path = db.path().to_owned();
    let ks = db.keyspace("a").expect("ks");
    for i in 0..300u64 {
        let mut batch = db.batch();
        batch.insert(&ks, &k(i), b"v");
        batch.commit(Durability::Buffered).expect("commit");
    }
    ks.insert(b"single", b"v").expect("insert");
    drop(ks);
    drop(db);
    let db = reopen::<D>(&path);
    let ks = db.keyspace("a").expect("ks");
    assert_eq!(all_keys(&ks).len(), 301);
}

/// Dropping a keyspace removes its data and its name; old handles fail; reopening starts empty.
pub fn drop_keyspace_removes_data_and_name<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let path = db.path().to_owned();
    let gone = db.keyspace("gone").expect("ks");
    let kept = db.keyspace("kept").expect("ks");
    gone.insert(b"k", b"v").expect("insert");
    kept.insert(b"k", b"v").expect("insert");
    assert!(db.drop_keyspace("gone").expect("drop"));
    assert!(!db.drop_keyspace("gone").expect("drop again"));
    assert!(!db.drop_keyspace("never").expect("drop missing"));
    assert_eq!(db.keyspace_names().expect("names"), vec!["kept"]);
    assert!(gone.insert(b"k2", b"v").is_err(), "stale handle must fail");
    drop(gone);
    let again = db.keyspace("gone").expect("recreate");
    assert_eq!(again.get(b"k").expect("get"), None);
    drop((again, kept, db));
    let db = reopen::<D>(&path);
    assert_eq!(
        db.keyspace("gone").expect("ks").get(b"k").expect("get"),
        None
    );
    assert_eq!(
        db.keyspace("kept").expect("ks").get(b"k").expect("get"),
        Some(b"v".to_vec())
    );
}

/// Size on disk and the approximate count grow with data.
pub fn disk_space_and_len_grow<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let ks = db.keyspace("a").expect("ks");
    assert_eq!(ks.approximate_len().expect("len"), 0);
    let before = db.disk_space().expect("space");
    let mut batch = db.batch();
    for i in 0..20_000u64 {
        batch.insert(&ks, &k(i), &[i as u8; 100]);
    }
    batch.commit(Durability::Synced).expect("commit");
    db.persist(Durability::Synced).expect("persist");
    let n = ks.approximate_len().expect("len");
    assert!((20_000..=40_000).contains(&n), "approximate_len {n}");
    let after = db.disk_space().expect("space");
    assert!(after > before, "disk space {before} -> {after}");
}

/// Sorted bulk loads land in order; unsorted input is an error, not a panic.
pub fn ingest_sorted_loads_and_refuses_unsorted<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let ks = db.keyspace("bulk").expect("ks");
    let mut rows = (0..50_000u64).map(|i| (k(i), vec![1u8; 16]));
    assert_eq!(db.ingest_sorted(&ks, &mut rows).expect("ingest"), 50_000);
    assert_eq!(ks.get(&k(49_999)).expect("get"), Some(vec![1u8; 16]));
    assert_eq!(all_keys(&ks).len(), 50_000);

    let other = db.keyspace("bulk2").expect("ks");
    let mut bad = [k(1), k(3), k(2)].into_iter().map(|k| (k, vec![0u8]));
    let e = db.ingest_sorted(&other, &mut bad).expect_err("unsorted");
    assert!(e.to_string().contains("not greater"), "{e}");
}
