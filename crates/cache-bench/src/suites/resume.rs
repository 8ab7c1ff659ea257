//! Suite `resume`: the set of missing indices of a ledger with 1% random gaps, as prepare's
//! reconcile step computes it (the owned range minus what is present: a bitmap, which the
//! create step iterates).
//!
//! * in memory, from the presence bitmap (`RoaringTreemap`), at 10M and 64M objects
//!   (`--quick`: 100k, 1M and 64M: building a 64M bitmap takes a second);
//! * from an `EndpointCache` per backend at 10M (`--quick` 100k), its ledger written once
//!   through the `LedgerWriter` as prepare writes it, then closed: opening the cache, loading
//!   the presence chunks and computing the set; and loading and computing on an open cache.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use cache_core::{Database, Durability};
use cache_sai3::caches::EndpointCache;
use cache_sai3::dataset::Dataset;
use cache_sai3::prepare::CHECKPOINT_OBJECTS;
use roaring::RoaringTreemap;

use super::ledger::{count_label, flat_dataset, pool_of};
use crate::backend::Backend;
use crate::record::{Figure, Samples};
use crate::suites::Ctx;

/// Suite name.
const SUITE: &str = "resume";
/// The 64M dataset (the 64M tree of suite `paths`: 24^4 x 193 objects).
const N64: u64 = 64_032_768;
/// The goal from the issue tracker.
const GOAL: &str = "missing set of a 64M dataset with 1% random gaps: <= 25 ms";

/// Whether index `i` is one of the 1% random gaps (a hash of the index, so fixed per run).
fn is_gap(i: u64) -> bool {
    xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes()).is_multiple_of(100)
}

/// The presence bitmap of `n` objects with 1% random gaps.
///
/// # Errors
/// None in practice (the indices are sorted).
fn gapped_presence(n: u64) -> anyhow::Result<RoaringTreemap> {
    Ok(RoaringTreemap::from_sorted_iter(
        (0..n).filter(|&i| !is_gap(i)),
    )?)
}

/// What prepare's reconcile computes: the owned range `0..n` minus what is present of it, a
/// bitmap that the create step iterates (never a list of `(pool, index)` pairs).
fn missing(present: &RoaringTreemap, _pool: u16, n: u64) -> RoaringTreemap {
    let mut owned = RoaringTreemap::new();
    owned.insert_range(0..n);
    let here = present & &owned;
    &owned - &here
}

/// Checks a computed set's size and keeps it from being optimized away.
///
/// # Errors
/// The set has not the expected size.
fn check(set: RoaringTreemap, expected: u64) -> anyhow::Result<()> {
    anyhow::ensure!(
        set.len() == expected,
        "{} missing found, {expected} expected",
        set.len()
    );
    black_box(set);
    Ok(())
}

/// The variant label of `n` objects.
fn variant(n: u64) -> String {
    format!("{} objects, 1% gaps", count_label(n))
}

/// The in-memory figure at `n` objects (ms).
///
/// # Errors
/// The report.
fn in_memory(ctx: &Ctx, n: u64) -> anyhow::Result<Figure> {
    let t = Instant::now();
    let present = gapped_presence(n)?;
    let expected = n - present.len();
    eprintln!(
        "  resume: presence of {} objects ({expected} gaps) built in {:.1} s",
        count_label(n),
        t.elapsed().as_secs_f64()
    );
    let s = Samples::time(ctx.runs(), || check(missing(&present, 0, n), expected))?;
    let name = "missing set from the presence bitmap (in memory)";
    ctx.figure(SUITE, name, &variant(n), None, "ms", &s.scaled(1e3), true)
}

/// Writes the ledger of `present` into a new cache at `dir` as prepare does (entries and
/// bitmap committed every 10,000 records, flushed at the end), then closes it.
///
/// # Errors
/// Storage failures.
fn write_ledger<D: Database>(
    dir: &Path,
    dataset: &Dataset,
    present: &RoaringTreemap,
) -> anyhow::Result<()> {
    let cache = EndpointCache::<D>::open(dir, true)?;
    let pool = pool_of(dataset)?;
    let mut w = cache.ledger_writer(dataset, cache.presence_all(dataset)?)?;
    let at = super::ledger::now_ms();
    for i in present {
        w.created(pool, i, at)?;
        if w.pending() >= CHECKPOINT_OBJECTS {
            w.checkpoint(Durability::Buffered)?;
        }
    }
    w.checkpoint(Durability::Flushed)?;
    drop(w);
    cache.flush()?;
    Ok(())
}

/// Samples of the two ways to the missing set from a closed cache of backend `D` (open +
/// load, load on an open cache), in ms.
///
/// # Errors
/// Storage failures or a wrong set.
fn from_cache<D: Database>(
    ctx: &Ctx,
    dir: &Path,
    dataset: &Dataset,
    n: u64,
    expected: u64,
) -> anyhow::Result<[Samples; 2]> {
    let pool = pool_of(dataset)?;
    let opened = Samples::time(ctx.runs(), || {
        let cache = EndpointCache::<D>::open(dir, false)?;
        check(missing(&cache.presence(dataset, pool)?, pool, n), expected)
    })?;
    let cache = EndpointCache::<D>::open(dir, false)?;
    let loaded = Samples::time(ctx.runs(), || {
        check(missing(&cache.presence(dataset, pool)?, pool, n), expected)
    })?;
    Ok([opened, loaded].map(|s| s.scaled(1e3)))
}

/// The cache figures of every backend at `n` objects, compared with `memory` (the in-memory
/// figure at `n`).
///
/// # Errors
/// Storage failures or the report.
fn cache_figures(ctx: &Ctx, n: u64, memory: &Figure) -> anyhow::Result<()> {
    let dataset = flat_dataset(n)?;
    let present = gapped_presence(n)?;
    let expected = n - present.len();
    let names = [
        "open cache, load presence, missing set",
        "load presence, missing set (cache open)",
    ];
    for &backend in &ctx.backends {
        let dir = ctx.scratch(&format!("resume-{}", backend.name()))?;
        let t = Instant::now();
        crate::with_db!(backend, write_ledger(&dir, &dataset, &present))?;
        eprintln!(
            "  resume: ledger of {} objects written to {} in {:.1} s",
            count_label(n),
            backend.name(),
            t.elapsed().as_secs_f64()
        );
        let samples = crate::with_db!(backend, from_cache(ctx, &dir, &dataset, n, expected))?;
        let mut figures = Vec::new();
        for (name, s) in names.iter().zip(&samples) {
            figures.push(figure(ctx, name, n, backend, s)?);
        }
        ctx.ratio(memory, &figures[1])?;
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

/// Reports one cache figure (ms).
///
/// # Errors
/// The report.
fn figure(ctx: &Ctx, name: &str, n: u64, backend: Backend, s: &Samples) -> anyhow::Result<Figure> {
    ctx.figure(SUITE, name, &variant(n), Some(backend), "ms", s, true)
}

/// Runs the suite.
///
/// # Errors
/// Any failure of the suite.
pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let cache_n = ctx.size(10_000_000, 100_000);
    let mut sizes = vec![cache_n, N64];
    if ctx.quick {
        sizes.push(1_000_000);
    }
    sizes.sort_unstable();
    sizes.dedup();
    let mut memory = Vec::new();
    for &n in &sizes {
        memory.push((n, in_memory(ctx, n)?));
    }
    if let Some((_, f)) = memory.iter().find(|(n, _)| *n == N64) {
        ctx.goal(
            SUITE,
            GOAL,
            format!("{:.1} ms (median)", f.median),
            f.median <= 25.0,
        )?;
    }
    if let Some((_, f)) = memory.iter().find(|(n, _)| *n == cache_n) {
        cache_figures(ctx, cache_n, f)?;
    }
    super::prepare::resume_after_kill(ctx)
}
