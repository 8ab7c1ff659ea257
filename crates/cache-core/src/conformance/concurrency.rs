//! Readers alongside a writer.

use std::ops::Bound::Unbounded;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{fresh, k};
use crate::database::{Database, Direction, Durability, Keyspace, WriteBatch};

/// While one thread commits batches that set ten keys to the same generation, reader threads
/// always see one generation across all ten keys (scans are point-in-time), and point reads
/// never go backwards.
pub fn concurrent_readers_during_writer<D: Database>() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<D>();
    assert_send_sync::<D::Keyspace>();

    let (_dir, db) = fresh::<D>();
    let ks = db.keyspace("a").expect("ks");
    let write = |generation: u64| {
        let mut batch = db.batch();
        for i in 0..10u64 {
            batch.insert(&ks, &k(i), &generation.to_be_bytes());
        }
        batch.commit(Durability::Buffered).expect("commit");
    };
    write(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (ks, done) = (ks.clone(), &done);
                s.spawn(move || {
                    let mut scans = 0u64;
                    let mut last_seen = 0u64;
                    while !done.load(Ordering::SeqCst) || scans < 10 {
                        let values: Vec<u64> = ks
                            .range(Unbounded, Unbounded, Direction::Forward)
                            .expect("scan")
                            .map(|r| {
                                let (_, v) = r.expect("entry");
                                u64::from_be_bytes(v.try_into().expect("8 bytes"))
                            })
                            .collect();
                        assert_eq!(values.len(), 10);
                        assert!(
                            values.iter().all(|&v| v == values[0]),
                            "torn read: {values:?}"
                        );
                        let point = u64::from_be_bytes(
                            ks.get(&k(3))
                                .expect("get")
                                .expect("present")
                                .try_into()
                                .expect("8"),
                        );
                        assert!(point >= last_seen, "went back from {last_seen} to {point}");
                        last_seen = point;
                        scans += 1;
                    }
                    scans
                })
            })
            .collect();
        for generation in 1..=500u64 {
            write(generation);
        }
        done.store(true, Ordering::SeqCst);
        for r in readers {
            assert!(r.join().expect("reader thread") >= 10);
        }
    });
}
