//! Suite `ledger`: recording N objects as created (1M and 10M; `--quick` 100k), per backend.
//!
//! * `prepare's ledger`: what `prepare`'s create step does through the public API: per chunk of
//!   1,000 objects, each marked in flight, then each recorded present, committed (changed
//!   presence chunks and the in-flight set) whenever 10,000 records are pending or 1 s passed
//!   (`Durability::Flushed`); then the last checkpoint and the flush of `seal`.
//! * `one upsert per object`: sai3-bench's pattern: a `std::sync::Mutex` around the keyspace and
//!   one `Keyspace::insert` of a 64-byte record per object, then persist and flush.
//!
//! Objects/s of both, and bytes on disk per object after the cache is closed (allocated
//! blocks of every file).

use std::path::Path;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use cache_core::{Database, Durability, Keyspace, OpenOptions};
use cache_sai3::caches::EndpointCache;
use cache_sai3::config::{DEFAULT_CONCURRENCY, Sai3Config};
use cache_sai3::dataset::Dataset;
use cache_sai3::prepare::{CHECKPOINT_INTERVAL, CHECKPOINT_OBJECTS};

use crate::backend::Backend;
use crate::record::{Figure, Samples};
use crate::suites::Ctx;

/// Suite name.
const SUITE: &str = "ledger";
/// The object size recorded (any constant: it only fills the entry).
const SIZE: u64 = 4096;
/// A sample longer than this ends a figure after one sample.
const LONG_SAMPLE_SECS: f64 = 30.0;

/// A short label for an object count (`100k`, `1M`, `10M`, `64M`).
pub(crate) fn count_label(n: u64) -> String {
    if n >= 1_000_000 {
        let m = n as f64 / 1e6;
        if (m - m.round()).abs() < 0.05 {
            format!("{:.0}M", m)
        } else {
            format!("{m:.1}M")
        }
    } else if n >= 1000 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// A standalone dataset of one flat pool of `n` objects (what a ledger is recorded for).
///
/// # Errors
/// The config does not validate (a bug here).
pub(crate) fn flat_dataset(n: u64) -> anyhow::Result<Dataset> {
    let yaml = format!(
        "prepare:\n  ensure_objects:\n    - {{ base_uri: \"file:///cache-bench/data/\", \
         count: {n}, size_spec: {SIZE}, fill: zero }}\nworkload: []\n"
    );
    let path = Path::new("cache-bench.yaml");
    let config = Sai3Config::parse(&yaml, path)?;
    Ok(Dataset::from_config(&config, path)?)
}

/// The pool id of a [`flat_dataset`].
///
/// # Errors
/// The dataset has no pool.
pub(crate) fn pool_of(dataset: &Dataset) -> anyhow::Result<u16> {
    Ok(dataset.pools.first().context("the dataset has no pool")?.id)
}

/// Milliseconds since the Unix epoch (the ledger's clock).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Records `n` objects the way prepare's create step does; returns the seconds it took.
///
/// # Errors
/// Storage failures.
fn prepare_pattern<D: Database>(dir: &Path, dataset: &Dataset, n: u64) -> anyhow::Result<f64> {
    let cache = EndpointCache::<D>::open(dir, true)?;
    let pool = pool_of(dataset)?;
    let t = Instant::now();
    let mut w = cache.ledger_writer(dataset, cache.presence_all(dataset)?)?;
    let chunk = (DEFAULT_CONCURRENCY * 8).max(1000) as u64;
    let mut last_checkpoint = Instant::now();
    let mut start = 0;
    while start < n {
        let end = (start + chunk).min(n);
        for i in start..end {
            w.started(pool, i);
        }
        for i in start..end {
            w.created(pool, i, now_ms())?;
            if w.pending() >= CHECKPOINT_OBJECTS || last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL
            {
                w.checkpoint(Durability::Flushed)?;
                last_checkpoint = Instant::now();
            }
        }
        start = end;
    }
    w.checkpoint(Durability::Flushed)?;
    drop(w);
    cache.flush()?;
    Ok(t.elapsed().as_secs_f64())
}

/// A ledger key: tag, dataset id, pool, index (19 bytes, as the cache's).
fn ledger_key(i: u64) -> [u8; 19] {
    let mut k = [0u8; 19];
    k[0] = b'O';
    k[1..9].copy_from_slice(&0x09af_2e4c_1b7d_0001u64.to_be_bytes());
    k[11..].copy_from_slice(&i.to_be_bytes());
    k
}

/// A 64-byte object record: index, size, time, state and padding text.
fn record(i: u64, at_ms: u64) -> [u8; 64] {
    let mut v = [0u8; 64];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v[8..16].copy_from_slice(&SIZE.to_le_bytes());
    v[16..24].copy_from_slice(&at_ms.to_le_bytes());
    v[24..].copy_from_slice(b"state=created endpoint=0 agent=0 ok.....");
    v
}

/// Records `n` objects with one upsert each behind a mutex (sai3-bench's pattern); returns
/// the seconds it took.
///
/// # Errors
/// Storage failures.
fn upsert_pattern<D: Database>(dir: &Path, n: u64) -> anyhow::Result<f64> {
    let options = OpenOptions {
        cache_size_bytes: 64 * 1024 * 1024,
        create_if_missing: true,
    };
    let db = D::open(dir, &options)?;
    let objects = Mutex::new(db.keyspace("objects")?);
    let t = Instant::now();
    for i in 0..n {
        let value = record(i, now_ms());
        let ks = objects
            .lock()
            .map_err(|_| anyhow::anyhow!("keyspace mutex poisoned"))?;
        ks.insert(&ledger_key(i), &value)?;
    }
    db.persist(Durability::Flushed)?;
    db.flush()?;
    Ok(t.elapsed().as_secs_f64())
}

/// The two ways of recording.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    /// Prepare's ledger writer.
    Prepare,
    /// One upsert per object behind a mutex.
    Upsert,
}

impl Method {
    /// Figure name.
    fn name(self) -> &'static str {
        match self {
            Method::Prepare => "prepare's ledger (checkpoint every 10,000)",
            Method::Upsert => "one upsert per object (Mutex)",
        }
    }
}

/// Records `n` objects with `method` and backend `D` in `dir`; returns the seconds.
///
/// # Errors
/// Storage failures.
fn record_with<D: Database>(
    method: Method,
    dir: &Path,
    dataset: &Dataset,
    n: u64,
) -> anyhow::Result<f64> {
    match method {
        Method::Prepare => prepare_pattern::<D>(dir, dataset, n),
        Method::Upsert => upsert_pattern::<D>(dir, n),
    }
}

/// Seconds and bytes on disk per object of each sample of one method on one backend.
///
/// # Errors
/// Storage failures.
fn measure(
    ctx: &Ctx,
    backend: Backend,
    method: Method,
    dataset: &Dataset,
    n: u64,
) -> anyhow::Result<(Samples, Samples)> {
    let (mut secs, mut bytes) = (Vec::new(), Vec::new());
    for run in 0..ctx.runs() {
        let dir = ctx.scratch(&format!("ledger-{}", backend.name()))?;
        let s = crate::with_db!(backend, record_with(method, &dir, dataset, n))?;
        // Closed by now: the size is what a closed cache costs.
        let size = cache_core::database::directory_size(&dir)?;
        std::fs::remove_dir_all(&dir)?;
        eprintln!(
            "  ledger: {} {} {}: sample {} {:.1} s",
            count_label(n),
            backend.name(),
            method.name(),
            run + 1,
            s
        );
        secs.push(s);
        bytes.push(size as f64 / n as f64);
        if s > LONG_SAMPLE_SECS {
            ctx.note(
                SUITE,
                format!(
                    "{} {} at {}: one sample (it took {s:.0} s)",
                    method.name(),
                    backend.name(),
                    count_label(n)
                ),
            )?;
            break;
        }
    }
    Ok((Samples(secs), Samples(bytes)))
}

/// Figures of one backend at one size: objects/s and bytes/object of both methods.
struct BackendFigures {
    /// Objects/s of prepare's ledger.
    prepare: Figure,
    /// Bytes/object of prepare's ledger.
    prepare_bytes: Figure,
    /// Bytes/object of one upsert per object.
    upsert_bytes: Figure,
}

/// Measures both methods on `backend` at `n` objects and compares them.
///
/// # Errors
/// Storage failures or the report.
fn backend_figures(
    ctx: &Ctx,
    backend: Backend,
    dataset: &Dataset,
    n: u64,
) -> anyhow::Result<BackendFigures> {
    let variant = format!("{} objects", count_label(n));
    let mut rate = Vec::new();
    let mut bytes = Vec::new();
    for method in [Method::Prepare, Method::Upsert] {
        let (secs, b) = measure(ctx, backend, method, dataset, n)?;
        let per_s = Samples(secs.0.iter().map(|s| n as f64 / s).collect());
        let name = method.name();
        rate.push(ctx.figure(
            SUITE,
            name,
            &variant,
            Some(backend),
            "objects/s",
            &per_s,
            false,
        )?);
        let name = format!("bytes on disk, {name}");
        bytes.push(ctx.figure(
            SUITE,
            &name,
            &variant,
            Some(backend),
            "bytes/object",
            &b,
            true,
        )?);
    }
    ctx.ratio(&rate[0], &rate[1])?;
    let mut bytes = bytes.into_iter();
    let mut rate = rate.into_iter();
    Ok(BackendFigures {
        prepare: rate.next().context("figure")?,
        prepare_bytes: bytes.next().context("figure")?,
        upsert_bytes: bytes.next().context("figure")?,
    })
}

/// Runs the suite.
///
/// # Errors
/// Any failure of the suite.
pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let sizes = if ctx.quick || ctx.files.is_some() {
        vec![ctx.size(1_000_000, 100_000)]
    } else {
        vec![1_000_000, 10_000_000]
    };
    for n in sizes {
        let dataset = flat_dataset(n)?;
        let mut all = Vec::new();
        for &backend in &ctx.backends {
            all.push(backend_figures(ctx, backend, &dataset, n)?);
        }
        let pick =
            |f: fn(&BackendFigures) -> &Figure| all.iter().map(f).cloned().collect::<Vec<_>>();
        super::backends::rank(ctx, &pick(|b| &b.prepare))?;
        super::backends::rank(ctx, &pick(|b| &b.prepare_bytes))?;
        super::backends::rank(ctx, &pick(|b| &b.upsert_bytes))?;
        for (backend, figures) in ctx.backends.iter().zip(&all) {
            bytes_goal(ctx, *backend, &figures.prepare_bytes, n)?;
        }
    }
    Ok(())
}

/// The compact ledger's goal: at most one byte on disk per object of a regular dataset.
///
/// # Errors
/// The report.
fn bytes_goal(ctx: &Ctx, backend: Backend, bytes: &Figure, n: u64) -> anyhow::Result<()> {
    let per_object = bytes.median;
    ctx.goal(
        SUITE,
        &format!(
            "<= 1 byte on disk per object of a regular dataset, closed cache ({})",
            backend.name()
        ),
        format!("{per_object:.2} bytes/object at {} objects", count_label(n)),
        per_object <= 1.0,
    )
}
