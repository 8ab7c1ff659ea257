//! Suite `listing`: a LIST of N keys from a loopback S3 server against loading the cached
//! listing of the same keys, per backend.
//!
//! The server is the dataset-shaped S3 server of `test-servers`, in this process: it holds the
//! dataset of the config (flat, 64 key-prefix shards, one endpoint) as keys generated from
//! indices and a presence bitmap, every object present, and answers LIST pages in key order
//! at any size (a page costs the same at 1M keys as at 10k). One
//! `prepare --cache-ttl 86400` LISTs and adopts them, sealing the endpoint and storing its
//! listing. Measured then:
//!
//! * the LIST: `prepare --refresh-cache` (whole process, and its `phases.list_s`);
//! * a prepare that learns from the listing cache (the endpoint unsealed first through the
//!   library, so the listing cache is what the prepare trusts);
//! * the listing cache loaded through the library: `EndpointCache::open` and
//!   `cached_listing` of the endpoint;
//! * the encoded size of the stored listing (keys plus framed, compressed values).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use cache_core::{Database, Direction, Keyspace, OpenOptions};
use cache_sai3::caches::{EndpointCache, cache_location};
use cache_sai3::dataset::Dataset;
use cache_sai3::prepare::{ListingSource, PrepareReport};
use test_servers::DatasetS3;

use crate::backend::Backend;
use crate::dataset_objects::Present;
use crate::record::{Figure, Samples};
use crate::suites::Ctx;
use crate::suites::process::{self, DatasetConfig, count_label};
use crate::with_db;

/// Suite name.
const SUITE: &str = "listing";

/// The endpoint's bucket.
const BUCKET: &str = "listing";

/// TTL of the listing cache for every prepare of the suite (a day).
const TTL: &str = "86400";

/// Object size in bytes.
const OBJECT_SIZE: u64 = 1;

/// Runs the suite.
///
/// # Errors
/// Any failure of the suite.
pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    ctx.note(SUITE, method())?;
    for n in sizes(ctx) {
        one_size(ctx, n)?;
    }
    Ok(())
}

/// Key counts: 100k and 1M in a full run, 10k in a quick one, `--files N` alone.
fn sizes(ctx: &Ctx) -> Vec<u64> {
    if ctx.quick || ctx.files.is_some() {
        vec![ctx.size(1_000_000, 10_000)]
    } else {
        vec![100_000, 1_000_000]
    }
}

/// How the suite measures (its first note).
fn method() -> String {
    format!(
        "LIST: `prepare --refresh-cache --cache-ttl {TTL} --no-push --no-pull` of a flat dataset \
         (64 key-prefix shards, {OBJECT_SIZE}-byte objects) on one endpoint of the \
         dataset-shaped S3 server (test-servers, in the harness's process, no added latency: \
         keys generated from the config in key order, every object present, pages of 1000 \
         keys); whole-process wall time and the report's phases.list_s. Listing cache: \
         `EndpointCache::open` + `cached_listing` of the endpoint through the library (closing \
         is not timed), and a whole prepare that learns from the listing cache (the endpoint \
         unsealed through the library first). Bytes per key: the encoded size of the stored \
         listing (keys plus framed, zstd-compressed values, read back from the raw \
         `listing_cache` keyspace): the keyspace cannot be told apart on disk; the whole \
         shard's size on disk is in a note."
    )
}

/// One dataset of `n` keys: its config, its view, its server.
struct Setup {
    /// The config file.
    config: PathBuf,
    /// The dataset as the prepare works through it (shard 0).
    view: Dataset,
    /// The server holding it.
    server: DatasetS3,
    /// Keys in all.
    n: u64,
    /// The variant of its figures.
    variant: String,
}

/// Measures `n` keys with every backend.
fn one_size(ctx: &Ctx, n: u64) -> anyhow::Result<()> {
    let setup = create(ctx, n)?;
    for &backend in &ctx.backends {
        with_db!(backend, per_backend(ctx, &setup, backend))?;
    }
    Ok(())
}

/// Writes the config of `n` objects and starts the server holding them all.
fn create(ctx: &Ctx, n: u64) -> anyhow::Result<Setup> {
    let port = test_servers::free_port();
    let uri = process::s3_uri(port, BUCKET, "data");
    let dir = ctx.scratch(&format!("listing-config-{n}"))?;
    let config = DatasetConfig::flat(n, OBJECT_SIZE, vec![uri]).write(&dir, "listing")?;
    let view = Dataset::load(&config)?
        .writer_views()
        .into_iter()
        .next()
        .context("the dataset has no view")?;
    let server = process::serve(&config, Present::Full)?;
    Ok(Setup {
        config,
        view,
        server,
        n,
        variant: format!("{} keys, 1 S3 endpoint", count_label(n)),
    })
}

/// The samples of one backend.
fn per_backend<D: Database>(ctx: &Ctx, setup: &Setup, backend: Backend) -> anyhow::Result<()> {
    let cache_dir = ctx.scratch(&format!("listing-cache-{}-{}", setup.n, backend.name()))?;
    let p = Prepare {
        ctx,
        setup,
        backend,
        cache_dir: &cache_dir,
    };
    eprintln!(
        "  listing: {} first prepare (LIST, adopt, seal)",
        backend.name()
    );
    let (_, first) = p.run(&[])?;
    anyhow::ensure!(
        first.already_present == setup.n && first.created == 0,
        "the first prepare found {} of {} objects and created {}",
        first.already_present,
        setup.n,
        first.created
    );
    let runs = ctx.runs();
    let list = list_figures(&p, runs)?;
    let cached = cached_prepare_figure::<D>(&p, runs)?;
    ctx.ratio(&cached, &list.whole)?;
    let load = load_figures::<D>(ctx, setup, &cache_dir, backend, runs)?;
    ctx.ratio(&load, &list.phase)?;
    bytes_figure::<D>(ctx, setup, &cache_dir, backend)?;
    std::fs::remove_dir_all(&cache_dir)?;
    Ok(())
}

/// The prepare runs of one backend.
struct Prepare<'a> {
    ctx: &'a Ctx,
    setup: &'a Setup,
    backend: Backend,
    cache_dir: &'a Path,
}

impl Prepare<'_> {
    /// Runs `prepare --cache-ttl 86400 --no-push --no-pull --json` with `extra` flags: wall
    /// time and report.
    fn run(&self, extra: &[&str]) -> anyhow::Result<(f64, PrepareReport)> {
        let mut c = process::cli(self.ctx, self.backend);
        c.arg("prepare")
            .arg("--config")
            .arg(&self.setup.config)
            .arg("--cache-dir")
            .arg(self.cache_dir)
            .args(["--cache-ttl", TTL, "--no-push", "--no-pull", "--json"])
            .args(extra)
            .envs(process::s3_env());
        let done = process::run(&mut c)?.checked("prepare")?;
        Ok((done.seconds, done.json()?))
    }

    /// A figure of this backend and variant.
    fn figure(&self, name: &str, unit: &str, s: &Samples, lower: bool) -> anyhow::Result<Figure> {
        self.ctx.figure(
            SUITE,
            name,
            &self.setup.variant,
            Some(self.backend),
            unit,
            s,
            lower,
        )
    }
}

/// The LIST figures: whole process and LIST phase.
struct ListFigures {
    whole: Figure,
    phase: Figure,
}

/// `runs` LISTs (`prepare --refresh-cache`).
fn list_figures(p: &Prepare<'_>, runs: usize) -> anyhow::Result<ListFigures> {
    eprintln!("  listing: {} LIST x{runs}", p.backend.name());
    let mut whole = Vec::new();
    let mut phase = Vec::new();
    p.setup.server.reset_stats();
    for _ in 0..runs.max(1) {
        let (secs, report) = p.run(&["--refresh-cache"])?;
        anyhow::ensure!(
            report.listing_source == ListingSource::List && report.already_present == p.setup.n,
            "a refresh did not LIST every object: {:?}, {} present",
            report.listing_source,
            report.already_present
        );
        whole.push(secs);
        phase.push(report.phases.list_s);
    }
    requests_note(p, runs.max(1) as u64)?;
    let n = p.setup.n as f64;
    let whole = p.figure("LIST: prepare --refresh-cache", "s", &Samples(whole), true)?;
    let rate = Samples(phase.iter().map(|s| n / s).collect());
    let phase = p.figure("LIST (list phase)", "s", &Samples(phase), true)?;
    p.figure("LIST rate (list phase)", "keys/s", &rate, false)?;
    Ok(ListFigures { whole, phase })
}

/// A note with what the server saw of one LIST (of `runs`): LIST requests and keys listed.
fn requests_note(p: &Prepare<'_>, runs: u64) -> anyhow::Result<()> {
    let stats = p.setup.server.stats();
    p.ctx.note(
        SUITE,
        format!(
            "{} {}: one LIST made {} LIST requests returning {} keys",
            p.setup.variant,
            p.backend.name(),
            stats.list_pages / runs,
            stats.list_keys / runs
        ),
    )
}

/// `runs` prepares that learn from the listing cache (every endpoint unsealed before each).
fn cached_prepare_figure<D: Database>(p: &Prepare<'_>, runs: usize) -> anyhow::Result<Figure> {
    eprintln!(
        "  listing: {} prepare from the listing cache x{runs}",
        p.backend.name()
    );
    let mut secs = Vec::new();
    for _ in 0..runs.max(1) {
        unseal_all::<D>(p.setup, p.cache_dir)?;
        let (s, report) = p.run(&[])?;
        anyhow::ensure!(
            report.listing_source == ListingSource::ListingCache && report.list_calls == 0,
            "an unsealed prepare did not use the listing cache: {:?}, {} LIST calls",
            report.listing_source,
            report.list_calls
        );
        secs.push(s);
    }
    p.figure("prepare from the listing cache", "s", &Samples(secs), true)
}

/// Removes the seal of every endpoint (so a prepare trusts the listing cache).
fn unseal_all<D: Database>(setup: &Setup, cache_dir: &Path) -> anyhow::Result<()> {
    for uri in &setup.view.endpoints {
        let cache = EndpointCache::<D>::open(&cache_location(uri, cache_dir, 0)?, false)?;
        cache.unseal(&setup.view)?;
    }
    Ok(())
}

/// `runs` loads of every endpoint's cached listing through the library.
fn load_figures<D: Database>(
    ctx: &Ctx,
    setup: &Setup,
    cache_dir: &Path,
    backend: Backend,
    runs: usize,
) -> anyhow::Result<Figure> {
    let secs = Samples::collect(runs, || load_listings::<D>(setup, cache_dir))?;
    let n = setup.n as f64;
    let rate = Samples(secs.0.iter().map(|s| n / s).collect());
    let (v, b) = (&setup.variant, Some(backend));
    let fig = ctx.figure(
        SUITE,
        "listing cache load (open + read)",
        v,
        b,
        "s",
        &secs,
        true,
    )?;
    ctx.figure(
        SUITE,
        "listing cache load rate",
        v,
        b,
        "keys/s",
        &rate,
        false,
    )?;
    Ok(fig)
}

/// Seconds to open every endpoint cache and read its cached listing (closing not timed).
fn load_listings<D: Database>(setup: &Setup, cache_dir: &Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut open = Vec::new();
    let mut keys = 0;
    for uri in &setup.view.endpoints {
        let cache = EndpointCache::<D>::open(&cache_location(uri, cache_dir, 0)?, false)?;
        let (listing, _) = cache
            .cached_listing(&setup.view)?
            .with_context(|| format!("no cached listing of {uri}"))?;
        keys += listing.present.iter().map(|b| b.len()).sum::<u64>();
        open.push(cache);
    }
    let secs = started.elapsed().as_secs_f64();
    drop(open);
    anyhow::ensure!(
        keys == setup.n,
        "cached listings hold {keys} of {} keys",
        setup.n
    );
    Ok(secs)
}

/// Bytes per key of the stored listings (encoded), and a note with the shards' disk size.
fn bytes_figure<D: Database>(
    ctx: &Ctx,
    setup: &Setup,
    cache_dir: &Path,
    backend: Backend,
) -> anyhow::Result<()> {
    let mut encoded = 0u64;
    let mut disk = 0u64;
    for uri in &setup.view.endpoints {
        let location = cache_location(uri, cache_dir, 0)?;
        encoded += listing_bytes::<D>(&location)?;
        disk += cache_core::database::directory_size(&location)?;
    }
    let n = setup.n as f64;
    let per_key = Samples(vec![encoded as f64 / n]);
    ctx.figure(
        SUITE,
        "stored listing (encoded)",
        &setup.variant,
        Some(backend),
        "bytes/key",
        &per_key,
        true,
    )?;
    ctx.note(
        SUITE,
        format!(
            "{} {}: stored listings {encoded} bytes encoded; whole shards (ledger, listing, \
             seeds, engine files) {:.1} bytes/key on disk",
            setup.variant,
            backend.name(),
            disk as f64 / n
        ),
    )
}

/// Keys plus values of the listing keyspace (and its chunks) of the cache at `location`.
fn listing_bytes<D: Database>(location: &Path) -> anyhow::Result<u64> {
    let name = EndpointCache::<D>::KEYSPACES[2];
    let options = OpenOptions {
        create_if_missing: false,
        ..OpenOptions::default()
    };
    let db = D::open(location, &options)?;
    let mut total = 0u64;
    for ks in db.keyspace_names()? {
        if ks != name && !ks.starts_with(&format!("{name}#")) {
            continue;
        }
        for kv in db.keyspace(&ks)?.prefix(&[], Direction::Forward)? {
            let (k, v) = kv?;
            total += (k.len() + v.len()) as u64;
        }
    }
    Ok(total)
}
