//! Ordered range and prefix iteration.

use std::ops::Bound::{Excluded, Included, Unbounded};

use super::{collect, fresh, k, keys};
use crate::database::{Database, Direction, Durability, Keyspace, WriteBatch};

fn fill<D: Database>(db: &D, ks: &D::Keyspace, ks_keys: &[Vec<u8>]) {
    let mut batch = db.batch();
    for key in ks_keys {
        batch.insert(ks, key, key);
    }
    batch.commit(Durability::Buffered).expect("commit");
}

/// Big-endian u64 keys iterate in numeric order well past 1e8 (where `{:08}` keys break).
pub fn order_of_keys_past_1e8<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let ks = db.keyspace("a").expect("ks");
    let nums = [
        u64::MAX,
        1_000_000_000_000,
        100_000_000,
        99_999_999,
        0,
        123_456_789,
        10_000_000_000,
        1,
    ];
    fill(&db, &ks, &nums.iter().map(|&n| k(n)).collect::<Vec<_>>());
    let mut sorted = nums.to_vec();
    sorted.sort_unstable();
    let got = keys(&collect(
        ks.range(Unbounded, Unbounded, Direction::Forward)
            .expect("scan"),
    ));
    assert_eq!(got, sorted.iter().map(|&n| k(n)).collect::<Vec<_>>());
}

/// Inclusive and exclusive bounds are honoured at both ends; inverted ranges are empty.
pub fn range_bounds<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let ks = db.keyspace("a").expect("ks");
    fill(&db, &ks, &(0..10u64).map(k).collect::<Vec<_>>());
    let scan = |s, e| keys(&collect(ks.range(s, e, Direction::Forward).expect("scan")));
    let (k3, k7) = (k(3), k(7));
    assert_eq!(
        scan(Included(&k3[..]), Excluded(&k7[..])),
        (3..7).map(k).collect::<Vec<_>>()
    );
    assert_eq!(
        scan(Excluded(&k3[..]), Included(&k7[..])),
        (4..8).map(k).collect::<Vec<_>>()
    );
    assert_eq!(
        scan(Unbounded, Excluded(&k3[..])),
        (0..3).map(k).collect::<Vec<_>>()
    );
    assert_eq!(
        scan(Included(&k7[..]), Unbounded),
        (7..10).map(k).collect::<Vec<_>>()
    );
    assert!(scan(Included(&k7[..]), Excluded(&k3[..])).is_empty());
    assert!(scan(Excluded(&k3[..]), Excluded(&k3[..])).is_empty());
    assert_eq!(scan(Included(&k3[..]), Included(&k3[..])), vec![k(3)]);
}

/// Reverse iteration yields the same keys in descending order, with bounds honoured.
pub fn reverse_range<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let ks = db.keyspace("a").expect("ks");
    fill(
        &db,
        &ks,
        &(0..1000u64).map(|i| k(i * 1_000_000)).collect::<Vec<_>>(),
    );
    let (lo, hi) = (k(100_000_000), k(200_000_000));
    let fwd = keys(&collect(
        ks.range(Included(&lo[..]), Excluded(&hi[..]), Direction::Forward)
            .expect("scan"),
    ));
    let mut rev = keys(&collect(
        ks.range(Included(&lo[..]), Excluded(&hi[..]), Direction::Reverse)
            .expect("scan"),
    ));
    assert_eq!(fwd.len(), 100);
    rev.reverse();
    assert_eq!(fwd, rev);
    let last = collect(
        ks.range(Unbounded, Unbounded, Direction::Reverse)
            .expect("scan"),
    )
    .into_iter()
    .next()
    .expect("one entry");
    assert_eq!(last.0, k(999_000_000));
}

fn prefix_fixture<D: Database>(db: &D, ks: &D::Keyspace) {
    let entries: Vec<Vec<u8>> = vec![
        b"a".to_vec(),
        b"ab".to_vec(),
        b"ab\x00".to_vec(),
        b"ab\xff".to_vec(),
        b"ab\xff\xff".to_vec(),
        b"ac".to_vec(),
        b"b".to_vec(),
        b"\xff".to_vec(),
        b"\xff\xff".to_vec(),
        b"\xff\xff\x01".to_vec(),
    ];
    fill(db, ks, &entries);
}

/// A prefix scan returns exactly the keys with that prefix, also when the prefix ends in 0xff.
pub fn prefix_scan_stops_at_boundary<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let ks = db.keyspace("a").expect("ks");
    prefix_fixture(&db, &ks);
    let scan = |p: &[u8]| keys(&collect(ks.prefix(p, Direction::Forward).expect("scan")));
    assert_eq!(
        scan(b"ab"),
        vec![
            b"ab".to_vec(),
            b"ab\x00".to_vec(),
            b"ab\xff".to_vec(),
            b"ab\xff\xff".to_vec()
        ]
    );
    assert_eq!(
        scan(b"ab\xff"),
        vec![b"ab\xff".to_vec(), b"ab\xff\xff".to_vec()]
    );
    assert_eq!(
        scan(b"\xff\xff"),
        vec![b"\xff\xff".to_vec(), b"\xff\xff\x01".to_vec()]
    );
    assert!(scan(b"abc").is_empty());
    assert_eq!(scan(b"b"), vec![b"b".to_vec()]);
}

/// Prefix scans run in reverse too.
pub fn prefix_scan_reverse<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let ks = db.keyspace("a").expect("ks");
    prefix_fixture(&db, &ks);
    let got = keys(&collect(
        ks.prefix(b"ab", Direction::Reverse).expect("scan"),
    ));
    assert_eq!(
        got,
        vec![
            b"ab\xff\xff".to_vec(),
            b"ab\xff".to_vec(),
            b"ab\x00".to_vec(),
            b"ab".to_vec()
        ]
    );
    let got = keys(&collect(
        ks.prefix(b"\xff", Direction::Reverse).expect("scan"),
    ));
    assert_eq!(got.first(), Some(&b"\xff\xff\x01".to_vec()));
    assert_eq!(got.len(), 3);
}

/// The empty prefix is the whole keyspace, and only that keyspace.
pub fn empty_prefix_scans_everything<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let ks = db.keyspace("a").expect("ks");
    let other = db.keyspace("b").expect("ks");
    prefix_fixture(&db, &ks);
    other.insert(b"zzz", b"").expect("insert");
    assert_eq!(
        collect(ks.prefix(b"", Direction::Forward).expect("scan")).len(),
        10
    );
}

/// An iterator sees the keyspace as it was when the iterator was created.
pub fn iterator_is_point_in_time<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let ks = db.keyspace("a").expect("ks");
    fill(&db, &ks, &(0..100u64).map(k).collect::<Vec<_>>());
    let iter = ks
        .range(Unbounded, Unbounded, Direction::Forward)
        .expect("scan");
    let mut batch = db.batch();
    for i in 100..200u64 {
        batch.insert(&ks, &k(i), b"late");
    }
    batch.remove(&ks, &k(5));
    batch.commit(Durability::Flushed).expect("commit");
    let seen = collect(iter);
    assert_eq!(seen.len(), 100);
    assert!(seen.iter().all(|(_, v)| v != b"late"));
    assert_eq!(
        collect(ks.prefix(b"", Direction::Forward).expect("scan")).len(),
        199
    );
}
