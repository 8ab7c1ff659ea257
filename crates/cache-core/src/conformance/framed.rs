//! The verified, chunked value layer ([`crate::framed::FramedKeyspace`]) on each backend.

use std::ops::Bound::Unbounded;

use super::{fresh, reopen};
use crate::database::{Database, Direction, Durability, Keyspace};
use crate::framed::{FrameSettings, FramedKeyspace};

/// Deterministic, incompressible bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A value of 64 MiB and more is split into chunks, read back whole, and survives reopen.
pub fn large_chunked_value_64mib<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let path = db.path().to_owned();
    let big = noise(64 * 1024 * 1024 + 123, 7);
    let fk = FramedKeyspace::open(&db, "listing_cache", FrameSettings::default()).expect("open");
    fk.insert(b"big", &big, Durability::Flushed)
        .expect("insert");
    fk.insert(b"small", b"s", Durability::Flushed)
        .expect("insert");
    assert_eq!(fk.chunk_entries().expect("chunks"), 17);
    assert!(fk.get(b"big").expect("get").as_deref() == Some(&big[..]));
    // Scans show one entry per value, not the chunks.
    let scanned: Vec<_> = fk
        .range(Unbounded, Unbounded, Direction::Forward)
        .expect("scan")
        .collect::<Result<_, _>>()
        .expect("scan ok");
    assert_eq!(scanned.len(), 2);
    drop((fk, db));
    let db = reopen::<D>(&path);
    let fk = FramedKeyspace::open(&db, "listing_cache", FrameSettings::default()).expect("open");
    let back = fk.get(b"big").expect("get").expect("present");
    assert!(back == big, "64 MiB value differs after reopen");
}

/// Overwriting a chunked value with a small one, or removing it, deletes its chunks.
pub fn chunked_overwrite_and_remove_leave_no_orphans<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let settings = FrameSettings {
        chunk_size: 1000,
        ..FrameSettings::default()
    };
    let fk = FramedKeyspace::open(&db, "v", settings).expect("open");
    fk.insert(b"k", &noise(10_500, 1), Durability::Buffered)
        .expect("insert");
    fk.insert(b"k2", &noise(2_500, 2), Durability::Buffered)
        .expect("insert");
    assert_eq!(fk.chunk_entries().expect("chunks"), 11 + 3);
    fk.insert(b"k", &noise(3_000, 3), Durability::Buffered)
        .expect("insert");
    assert_eq!(fk.chunk_entries().expect("chunks"), 3 + 3);
    assert_eq!(fk.get(b"k").expect("get"), Some(noise(3_000, 3)));
    fk.insert(b"k", b"tiny", Durability::Buffered)
        .expect("insert");
    assert_eq!(fk.chunk_entries().expect("chunks"), 3);
    fk.remove(b"k2", Durability::Buffered).expect("remove");
    assert_eq!(fk.chunk_entries().expect("chunks"), 0);
    assert_eq!(fk.get(b"k2").expect("get"), None);
    assert_eq!(fk.get(b"k").expect("get"), Some(b"tiny".to_vec()));
    // A key that is a prefix of another key does not take the other's chunks with it.
    fk.insert(b"ab", &noise(2_000, 4), Durability::Buffered)
        .expect("insert");
    fk.insert(b"a", &noise(2_000, 5), Durability::Buffered)
        .expect("insert");
    fk.remove(b"a", Durability::Buffered).expect("remove");
    assert_eq!(fk.get(b"ab").expect("get"), Some(noise(2_000, 4)));
}

/// A flipped byte, a truncated frame, or foreign bytes read back as `Corrupt`, never as data.
pub fn damaged_value_is_reported_corrupt<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let fk = FramedKeyspace::open(&db, "objects", FrameSettings::default()).expect("open");
    let value = b"d1_w3.dir/d2_w7.dir/file_00000042.dat".repeat(10);
    fk.insert(b"k", &value, Durability::Buffered)
        .expect("insert");
    let raw = fk.raw().get(b"k").expect("get").expect("present");
    for i in 0..raw.len() {
        let mut bad = raw.clone();
        bad[i] ^= 0x20;
        fk.raw().insert(b"k", &bad).expect("raw insert");
        let e = fk.get(b"k").expect_err("damage must be detected");
        assert!(e.is_corruption(), "byte {i}: {e}");
        assert!(e.to_string().contains("objects"), "{e}");
    }
    fk.raw()
        .insert(b"k", &raw[..raw.len() / 2])
        .expect("raw insert");
    assert!(fk.get(b"k").expect_err("truncated").is_corruption());
    fk.raw()
        .insert(b"k", b"{\"path\": \"json from elsewhere\"}")
        .expect("raw insert");
    assert!(fk.get(b"k").expect_err("foreign").is_corruption());
    // Scans report the damage too instead of skipping or returning it.
    let results: Vec<_> = fk.prefix(b"", Direction::Forward).expect("scan").collect();
    assert!(results.len() == 1 && results[0].is_err());
}

/// An intact value stored under another key (a damaged index) is caught.
pub fn value_under_wrong_key_is_reported_corrupt<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let fk = FramedKeyspace::open(&db, "objects", FrameSettings::default()).expect("open");
    fk.insert(b"index-1", b"state=created", Durability::Buffered)
        .expect("insert");
    fk.insert(b"index-2", b"state=failed", Durability::Buffered)
        .expect("insert");
    let raw1 = fk.raw().get(b"index-1").expect("get").expect("present");
    fk.raw().insert(b"index-2", &raw1).expect("raw insert");
    let e = fk.get(b"index-2").expect_err("misplaced value");
    assert!(e.to_string().contains("another key"), "{e}");
    // Chunks moved between values are caught as well.
    let settings = FrameSettings {
        chunk_size: 100,
        ..FrameSettings::default()
    };
    let ch = FramedKeyspace::open(&db, "chunky", settings).expect("open");
    ch.insert(b"x", &noise(250, 1), Durability::Buffered)
        .expect("insert");
    ch.insert(b"y", &noise(250, 2), Durability::Buffered)
        .expect("insert");
    let hx = ch.raw().get(b"x").expect("get").expect("present");
    ch.raw().insert(b"y", &hx).expect("raw insert");
    assert!(
        ch.get(b"y")
            .expect_err("header under wrong key")
            .is_corruption()
    );
}

/// Typed records round-trip, and framed scans return decoded values in key order.
pub fn records_round_trip_and_scan<D: Database>() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Entry {
        size: u64,
        state: u8,
        note: String,
    }
    let (_dir, db) = fresh::<D>();
    let fk = FramedKeyspace::open(&db, "objects", FrameSettings::default()).expect("open");
    for i in (0..50u64).rev() {
        let e = Entry {
            size: i * 1000,
            state: (i % 5) as u8,
            note: "x".repeat(i as usize * 10),
        };
        fk.insert_record(&i.to_be_bytes(), &e, Durability::Buffered)
            .expect("insert");
    }
    let got: Entry = fk
        .get_record(&7u64.to_be_bytes())
        .expect("get")
        .expect("present");
    assert_eq!(got.size, 7000);
    let sizes: Vec<u64> = fk
        .prefix(b"", Direction::Forward)
        .expect("scan")
        .map(|r| {
            let (k, v) = r.expect("entry");
            crate::record::decode::<Entry>("objects", &k, &v)
                .expect("record")
                .size
        })
        .collect();
    assert_eq!(sizes, (0..50).map(|i| i * 1000).collect::<Vec<_>>());
    // A record of the wrong shape is an error, not garbage.
    fk.insert(b"odd", b"\xff\xff\xff", Durability::Buffered)
        .expect("insert");
    assert!(
        fk.get_record::<Entry>(b"odd")
            .expect_err("bad record")
            .is_corruption()
    );
}
