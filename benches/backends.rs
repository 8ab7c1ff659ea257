//! Backend comparison: bulk insert of 1M 24-byte keys with 64-byte values in batches, 1M random
//! point gets, and a full prefix scan, for fjall and redb in the same run.
//!
//! Run with `cargo xtask bench` (or `cargo bench --bench backends --features redb`). Bytes on
//! disk for the 1M entries are printed once per backend.

use std::hint::black_box;
use std::time::Duration;

use cache_core::{Database, Direction, Durability, Keyspace, OpenOptions, WriteBatch};
use cache_fjall::FjallDatabase;
use cache_redb::RedbDatabase;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const N: u64 = 1_000_000;
const BATCH: u64 = 10_000;
const DATASET: [u8; 8] = *b"\x09\xaf\x2e\x4c\x1b\x7d\x00\x01";

/// 24-byte key: dataset id (8), pool (8), index (8), all big-endian.
fn key(i: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&DATASET);
    k[8..16].copy_from_slice(&1u64.to_be_bytes());
    k[16..].copy_from_slice(&i.to_be_bytes());
    k
}

/// 64-byte value shaped like a ledger record (partly compressible).
fn value(i: u64) -> [u8; 64] {
    let mut v = [0u8; 64];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v[8..16].copy_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes());
    // 48 bytes of record-like text.
    v[16..].copy_from_slice(b"created:2026-11-25T00:00:00Z size=1048576 ok....");
    v
}

fn options() -> OpenOptions {
    OpenOptions {
        cache_size_bytes: 256 * 1024 * 1024,
        create_if_missing: true,
    }
}

fn load<D: Database>(db: &D) -> D::Keyspace {
    let ks = db.keyspace("objects").expect("keyspace");
    let mut start = 0;
    while start < N {
        let mut batch = db.batch();
        for i in start..(start + BATCH).min(N) {
            batch.insert(&ks, &key(i), &value(i));
        }
        batch.commit(Durability::Buffered).expect("commit");
        start += BATCH;
    }
    db.persist(Durability::Flushed).expect("persist");
    ks
}

fn random_indices() -> Vec<u64> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..N)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % N
        })
        .collect()
}

fn report_disk<D: Database>() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("db");
    {
        let db = D::open(&path, &options()).expect("open");
        load(&db);
    }
    let batched = cache_core::database::directory_size(&path).expect("size");
    let path2 = tmp.path().join("db2");
    {
        let db = D::open(&path2, &options()).expect("open");
        let ks = db.keyspace("objects").expect("keyspace");
        let mut rows = (0..N).map(|i| (key(i).to_vec(), value(i).to_vec()));
        db.ingest_sorted(&ks, &mut rows).expect("ingest");
    }
    let ingested = cache_core::database::directory_size(&path2).expect("size");
    println!(
        "disk/{}: 1M entries = {batched} bytes after batched load + close ({:.1} B/entry), \
         {ingested} bytes after sorted ingestion + close ({:.1} B/entry)",
        D::BACKEND,
        batched as f64 / N as f64,
        ingested as f64 / N as f64
    );
}

fn bench_backend<D: Database>(c: &mut Criterion) {
    report_disk::<D>();
    let name = D::BACKEND;
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(N));

    group.bench_function("insert_1m_batched", |b| {
        b.iter_batched(
            || {
                let tmp = tempfile::tempdir().expect("tempdir");
                let db = D::open(&tmp.path().join("db"), &options()).expect("open");
                (tmp, db)
            },
            |(tmp, db)| {
                black_box(load(&db));
                (tmp, db)
            },
            BatchSize::PerIteration,
        );
    });

    let tmp = tempfile::tempdir().expect("tempdir");
    let db = D::open(&tmp.path().join("db"), &options()).expect("open");
    let ks = load(&db);
    let order = random_indices();
    group.bench_function("get_1m_random", |b| {
        b.iter(|| {
            for &i in &order {
                black_box(ks.get(&key(i)).expect("get").expect("present"));
            }
        });
    });
    group.bench_function("prefix_scan_1m", |b| {
        b.iter(|| {
            let n = ks
                .prefix(&DATASET, Direction::Forward)
                .expect("scan")
                .try_fold(0u64, |n, r| r.map(|_| n + 1))
                .expect("scan entries");
            assert_eq!(n, N);
        });
    });
    group.finish();
}

fn backends(c: &mut Criterion) {
    bench_backend::<FjallDatabase>(c);
    bench_backend::<RedbDatabase>(c);
}

criterion_group!(benches, backends);
criterion_main!(benches);
