//! Suite `backends`: fjall vs redb vs SQLite on the same work (replaces the criterion bench
//! `benches/backends.rs`): N = 1M (`--quick` 100k) 24-byte keys with 64-byte values.
//!
//! Each sample loads a fresh store and then measures, in order: the bulk load in batches of
//! 10,000 (each committed `Durability::Flushed`; SQLite: one transaction each, WAL mode,
//! `synchronous=NORMAL`), timed until the store is closed; bytes on disk after close; the open
//! of the loaded, closed store with its first get (fjall replays its journals here); N random
//! point gets; a full prefix scan. Every figure is compared best vs others.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use cache_core::database::{directory_size, prefix_successor};
use cache_core::{Database, Direction, Durability, Keyspace, OpenOptions, WriteBatch};
use rusqlite::Connection;

use super::ledger::count_label;
use super::paths::random_indices;
use crate::backend::Backend;
use crate::record::{Figure, Record, Samples};
use crate::suites::Ctx;

/// Suite name.
const SUITE: &str = "backends";
/// Entries per batch (per transaction for SQLite).
const BATCH: u64 = 10_000;
/// The key prefix every entry shares (a dataset id).
const DATASET: [u8; 8] = *b"\x09\xaf\x2e\x4c\x1b\x7d\x00\x01";
/// Page/block cache of every engine: 256 MiB.
const CACHE_BYTES: u64 = 256 * 1024 * 1024;

/// Reports how many times the best of `figures` beats each of the others.
///
/// # Errors
/// The report cannot be written.
pub(crate) fn rank(ctx: &Ctx, figures: &[Figure]) -> anyhow::Result<()> {
    let beats = |a: &Figure, b: &Figure| {
        if a.lower_is_better {
            a.median < b.median
        } else {
            a.median > b.median
        }
    };
    let Some(best) = figures
        .iter()
        .reduce(|b, f| if beats(f, b) { f } else { b })
    else {
        return Ok(());
    };
    for f in figures.iter().filter(|f| !std::ptr::eq(*f, best)) {
        ctx.ratio(best, f)?;
    }
    Ok(())
}

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
    v[16..].copy_from_slice(b"created:2026-11-25T00:00:00Z size=1048576 ok....");
    v
}

/// An engine of this suite.
#[derive(Debug, Clone, Copy)]
enum Engine {
    /// A cache-core backend.
    Kv(Backend),
    /// SQLite (rusqlite, bundled).
    Sqlite,
}

impl Engine {
    /// Its name in figures.
    fn name(self) -> &'static str {
        match self {
            Engine::Kv(b) => b.name(),
            Engine::Sqlite => "sqlite",
        }
    }
}

/// One sample of every figure.
struct Sample {
    /// Seconds from the first batch until the store is closed.
    load: f64,
    /// Bytes on disk after close.
    bytes: u64,
    /// Seconds to open the closed store and get one key.
    open: f64,
    /// Seconds for the random gets.
    gets: f64,
    /// Seconds for the full scan.
    scan: f64,
}

/// Seconds since `t`.
fn since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

/// The open options of the KV engines.
fn kv_options() -> OpenOptions {
    OpenOptions {
        cache_size_bytes: CACHE_BYTES,
        create_if_missing: true,
    }
}

/// Loads keys `0..n` into `ks` in batches, each committed `Flushed`.
///
/// # Errors
/// Storage failures.
fn kv_load<D: Database>(db: &D, ks: &D::Keyspace, n: u64) -> anyhow::Result<()> {
    let mut start = 0;
    while start < n {
        let mut batch = db.batch();
        for i in start..(start + BATCH).min(n) {
            batch.insert(ks, &key(i), &value(i));
        }
        batch.commit(Durability::Flushed)?;
        start += BATCH;
    }
    Ok(())
}

/// One sample of backend `D` in the empty directory `dir`.
///
/// # Errors
/// Storage failures, a key missing or a scan of the wrong length.
fn kv_sample<D: Database>(dir: &Path, n: u64, order: &[u64]) -> anyhow::Result<Sample> {
    let db = D::open(dir, &kv_options())?;
    let ks = db.keyspace("objects")?;
    let t = Instant::now();
    kv_load(&db, &ks, n)?;
    drop((ks, db));
    let load = since(t);
    let bytes = directory_size(dir)?;
    let t = Instant::now();
    let db = D::open(dir, &kv_options())?;
    let ks = db.keyspace("objects")?;
    black_box(ks.get(&key(0))?.context("key 0 missing")?);
    let open = since(t);
    let t = Instant::now();
    for &i in order {
        black_box(
            ks.get(&key(i))?
                .with_context(|| format!("key {i} missing"))?,
        );
    }
    let gets = since(t);
    let t = Instant::now();
    let mut count = 0u64;
    for entry in ks.prefix(&DATASET, Direction::Forward)? {
        black_box(entry?);
        count += 1;
    }
    let scan = since(t);
    anyhow::ensure!(count == n, "scan found {count} of {n} keys");
    Ok(Sample {
        load,
        bytes,
        open,
        gets,
        scan,
    })
}

/// Opens (creating) the SQLite store at `path`: WAL, `synchronous=NORMAL`, 256 MiB cache.
///
/// # Errors
/// SQLite failures, or WAL mode refused.
fn sqlite_open(path: &Path) -> anyhow::Result<Connection> {
    let c = Connection::open(path)?;
    let mode: String = c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    anyhow::ensure!(
        mode.eq_ignore_ascii_case("wal"),
        "journal mode {mode}, not WAL"
    );
    c.execute_batch(&format!(
        "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-{};
         CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID;",
        CACHE_BYTES / 1024
    ))?;
    Ok(c)
}

/// Loads keys `0..n` in transactions of [`BATCH`] inserts.
///
/// # Errors
/// SQLite failures.
fn sqlite_load(c: &mut Connection, n: u64) -> anyhow::Result<()> {
    let mut start = 0;
    while start < n {
        let tx = c.transaction()?;
        {
            let mut insert = tx.prepare_cached("INSERT INTO kv (k, v) VALUES (?1, ?2)")?;
            for i in start..(start + BATCH).min(n) {
                insert.execute(rusqlite::params![&key(i)[..], &value(i)[..]])?;
            }
        }
        tx.commit()?;
        start += BATCH;
    }
    Ok(())
}

/// The value of key `i`.
///
/// # Errors
/// SQLite failures, or no such key.
fn sqlite_get(c: &Connection, i: u64) -> anyhow::Result<Vec<u8>> {
    let mut get = c.prepare_cached("SELECT v FROM kv WHERE k = ?1")?;
    get.query_row([&key(i)[..]], |r| r.get(0))
        .with_context(|| format!("key {i}"))
}

/// Every entry under [`DATASET`], in key order, keys and values read; returns the count.
///
/// # Errors
/// SQLite failures.
fn sqlite_scan(c: &Connection) -> anyhow::Result<u64> {
    let upper = prefix_successor(&DATASET).context("prefix has a successor")?;
    let mut scan = c.prepare("SELECT k, v FROM kv WHERE k >= ?1 AND k < ?2 ORDER BY k")?;
    let mut rows = scan.query(rusqlite::params![&DATASET[..], &upper[..]])?;
    let mut count = 0u64;
    while let Some(row) = rows.next()? {
        let k: Vec<u8> = row.get(0)?;
        let v: Vec<u8> = row.get(1)?;
        black_box((k, v));
        count += 1;
    }
    Ok(count)
}

/// One SQLite sample in the empty directory `dir`.
///
/// # Errors
/// SQLite failures, a key missing or a scan of the wrong length.
fn sqlite_sample(dir: &Path, n: u64, order: &[u64]) -> anyhow::Result<Sample> {
    let path = dir.join("kv.sqlite");
    let mut c = sqlite_open(&path)?;
    let t = Instant::now();
    sqlite_load(&mut c, n)?;
    drop(c);
    let load = since(t);
    let bytes = directory_size(dir)?;
    let t = Instant::now();
    let c = sqlite_open(&path)?;
    black_box(sqlite_get(&c, 0)?);
    let open = since(t);
    let t = Instant::now();
    for &i in order {
        black_box(sqlite_get(&c, i)?);
    }
    let gets = since(t);
    let t = Instant::now();
    let count = sqlite_scan(&c)?;
    let scan = since(t);
    anyhow::ensure!(count == n, "scan found {count} of {n} keys");
    Ok(Sample {
        load,
        bytes,
        open,
        gets,
        scan,
    })
}

/// Every sample of `engine`.
///
/// # Errors
/// A failing sample.
fn samples(ctx: &Ctx, engine: Engine, n: u64, order: &[u64]) -> anyhow::Result<Vec<Sample>> {
    let mut out = Vec::new();
    for run in 0..ctx.runs() {
        let dir = ctx.scratch(&format!("backends-{}", engine.name()))?;
        let s = match engine {
            Engine::Kv(b) => crate::with_db!(b, kv_sample(&dir, n, order))?,
            Engine::Sqlite => sqlite_sample(&dir, n, order)?,
        };
        std::fs::remove_dir_all(&dir)?;
        eprintln!(
            "  backends: {} sample {}: load {:.2} s, open {:.3} s, gets {:.2} s, scan {:.2} s",
            engine.name(),
            run + 1,
            s.load,
            s.open,
            s.gets,
            s.scan
        );
        out.push(s);
    }
    Ok(out)
}

/// Reports a figure of `engine` (SQLite is no [`Backend`], so its figure is built here).
///
/// # Errors
/// The report cannot be written.
fn emit(
    ctx: &Ctx,
    engine: Engine,
    what: (&str, &str),
    variant: &str,
    s: &Samples,
    lower: bool,
) -> anyhow::Result<Figure> {
    let (name, unit) = what;
    match engine {
        Engine::Kv(b) => ctx.figure(SUITE, name, variant, Some(b), unit, s, lower),
        Engine::Sqlite => {
            let f = Figure {
                suite: SUITE.into(),
                name: name.into(),
                variant: variant.into(),
                backend: Some(engine.name().into()),
                unit: unit.into(),
                median: s.median(),
                min: s.min(),
                max: s.max(),
                runs: s.0.len(),
                lower_is_better: lower,
            };
            ctx.out.emit(&Record::Figure(f.clone()))?;
            Ok(f)
        }
    }
}

/// The figures of one engine, in the order of [`FIGURES`].
///
/// # Errors
/// The report cannot be written.
fn engine_figures(ctx: &Ctx, engine: Engine, n: u64, s: &[Sample]) -> anyhow::Result<Vec<Figure>> {
    let nf = n as f64;
    let col = |f: &dyn Fn(&Sample) -> f64| Samples(s.iter().map(f).collect());
    let values = [
        col(&|x| nf / x.load),
        col(&|x| nf / x.gets),
        col(&|x| nf / x.scan),
        col(&|x| x.open * 1e3),
        col(&|x| x.bytes as f64 / nf),
    ];
    let variant = format!("{} entries", count_label(n));
    let mut out = Vec::new();
    for ((name, unit, lower), v) in FIGURES.iter().zip(values) {
        out.push(emit(ctx, engine, (name, unit), &variant, &v, *lower)?);
    }
    Ok(out)
}

/// Name, unit and whether lower is better, of every figure of an engine.
const FIGURES: [(&str, &str, bool); 5] = [
    (
        "bulk load (batches of 10,000, until closed)",
        "keys/s",
        false,
    ),
    ("random point gets", "gets/s", false),
    ("full prefix scan", "keys/s", false),
    ("open of the loaded, closed store (+ first get)", "ms", true),
    ("bytes on disk after close", "bytes/entry", true),
];

/// Runs the suite.
///
/// # Errors
/// Any failure of the suite.
pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let n = ctx.size(1_000_000, 100_000);
    ctx.note(
        SUITE,
        "KV batches commit Durability::Flushed (redb: fsynced, it has no flushed-only commit); \
         SQLite: WAL, synchronous=NORMAL, one transaction per batch; 256 MiB cache each; \
         each sample loads a fresh store",
    )?;
    let order = random_indices(n as usize, n, 0x2545_f491_4f6c_dd1d);
    let mut engines: Vec<Engine> = ctx.backends.iter().map(|&b| Engine::Kv(b)).collect();
    engines.push(Engine::Sqlite);
    let mut table = Vec::new();
    for &engine in &engines {
        let s = samples(ctx, engine, n, &order)?;
        table.push(engine_figures(ctx, engine, n, &s)?);
    }
    for k in 0..FIGURES.len() {
        let column: Vec<Figure> = table.iter().filter_map(|row| row.get(k).cloned()).collect();
        rank(ctx, &column)?;
    }
    ctx.note(
        SUITE,
        "what limits fjall's open (perf and strace of an open of a flushed 100k-entry store): \
         fjall 3.1.13 rotates its journal only once it passes 64 MB (worker_pool.rs), so a \
         closed cache keeps every write in its journal and each open replays it \
         (JournalReader::next, one llseek per entry: about 100,000 syscalls per open here); \
         flushing the memtables does not shorten the journal",
    )
}
