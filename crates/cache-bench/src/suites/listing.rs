//! Suite `listing`: a LIST of N keys from a loopback S3 server (`s3s-fs`) against loading the
//! cached listing of the same keys, per backend.
//!
//! The dataset is flat (64 key-prefix shards) over as many buckets as it takes to hold at most
//! [`KEYS_PER_BUCKET`] keys each: `s3s-fs` walks a whole bucket for every page of a LIST, so a
//! LIST of one bucket costs O(keys^2 / 1000) on the server, and 1M keys in one bucket take
//! tens of minutes. Its objects are written straight into the server's directory (one file
//! each; a PUT would leave two more metadata files per object in the server's root), then one
//! `prepare --cache-ttl 86400` LISTs and adopts them, sealing the endpoints and storing the
//! listings. Measured then:
//!
//! * the LIST: `prepare --refresh-cache` (whole process, and its `phases.list_s`);
//! * a prepare that learns from the listing cache (every endpoint unsealed first through the
//!   library, so the listing cache is what the prepare trusts);
//! * the listing cache loaded through the library: `EndpointCache::open` and
//!   `cached_listing` of every endpoint, one after another;
//! * the encoded size of the stored listings (keys plus framed, compressed values).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use cache_core::{Database, Direction, Keyspace, OpenOptions};
use cache_sai3::caches::{EndpointCache, cache_location};
use cache_sai3::dataset::Dataset;
use cache_sai3::prepare::{ListingSource, PrepareReport};

use crate::backend::Backend;
use crate::record::{Figure, Samples};
use crate::suites::Ctx;
use crate::suites::process::{self, DatasetConfig, S3Server, count_label};
use crate::with_db;

/// Suite name.
const SUITE: &str = "listing";

/// At most this many keys per bucket (see the module docs).
const KEYS_PER_BUCKET: u64 = 50_000;

/// TTL of the listing cache for every prepare of the suite (a day).
const TTL: &str = "86400";

/// Object size in bytes.
const OBJECT_SIZE: u64 = 1;

/// Runs the suite.
///
/// # Errors
/// Any failure of the suite.
pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let root = ctx.scratch("listing-s3")?;
    let server = match S3Server::start(&root) {
        Ok(s) => s,
        Err(e) => return ctx.note(SUITE, format!("skipped: {e:#}")),
    };
    ctx.note(SUITE, method())?;
    for n in sizes(ctx) {
        one_size(ctx, &server, n)?;
    }
    drop(server);
    std::fs::remove_dir_all(&root)?;
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

/// Samples per figure: fewer for LISTs of more than 200k keys (a minute or more each).
fn runs_for(ctx: &Ctx, n: u64) -> usize {
    if n > 200_000 {
        ctx.runs().min(3)
    } else {
        ctx.runs()
    }
}

/// How the suite measures (its first note).
fn method() -> String {
    format!(
        "LIST: `prepare --refresh-cache --cache-ttl {TTL} --no-push --no-pull` of a flat dataset \
         (64 key-prefix shards, {OBJECT_SIZE}-byte objects written straight into s3s-fs's \
         directory) over buckets of at most {KEYS_PER_BUCKET} keys (s3s-fs walks the whole \
         bucket for every LIST page: O(keys^2) per bucket); whole-process wall time and the \
         report's phases.list_s. Listing cache: `EndpointCache::open` + `cached_listing` of \
         every endpoint through the library, one after another (closing is not timed), and a \
         whole prepare that learns from the listing cache (each endpoint unsealed through the \
         library first). Bytes per key: the encoded size of the stored listings (keys plus \
         framed, zstd-compressed values, read back from the raw `listing_cache` keyspace): the \
         keyspace cannot be told apart on disk; the whole shard's size on disk is in a note."
    )
}

/// One dataset of `n` keys: its config, its view and where it lives.
struct Setup {
    /// The config file.
    config: PathBuf,
    /// The dataset as the prepare works through it (shard 0).
    view: Dataset,
    /// Its buckets.
    buckets: Vec<String>,
    /// Keys in all.
    n: u64,
    /// The variant of its figures.
    variant: String,
}

/// Measures `n` keys with every backend.
fn one_size(ctx: &Ctx, server: &S3Server, n: u64) -> anyhow::Result<()> {
    let setup = create(ctx, server, n)?;
    if runs_for(ctx, n) < ctx.runs() {
        ctx.note(
            SUITE,
            format!(
                "{}: {} samples per figure (each LIST of s3s-fs takes a minute or more)",
                setup.variant,
                runs_for(ctx, n)
            ),
        )?;
    }
    for &backend in &ctx.backends {
        with_db!(backend, per_backend(ctx, server, &setup, backend))?;
    }
    for b in &setup.buckets {
        server.remove_bucket(b)?;
    }
    Ok(())
}

/// Writes the config and the `n` objects of a dataset.
fn create(ctx: &Ctx, server: &S3Server, n: u64) -> anyhow::Result<Setup> {
    let buckets: Vec<String> = (0..n.div_ceil(KEYS_PER_BUCKET).max(1))
        .map(|b| format!("list-{}-{b}", count_label(n).to_lowercase()))
        .collect();
    let uris: Vec<String> = buckets.iter().map(|b| server.uri(b, "data")).collect();
    let dir = ctx.scratch(&format!("listing-config-{n}"))?;
    let config = DatasetConfig::flat(n, OBJECT_SIZE, uris).write(&dir, "listing")?;
    let view = Dataset::load(&config)?
        .writer_views()
        .into_iter()
        .next()
        .context("the dataset has no view")?;
    let started = Instant::now();
    eprintln!(
        "  listing: writing {n} objects into {} buckets",
        buckets.len()
    );
    let dirs: Vec<PathBuf> = buckets
        .iter()
        .map(|b| Ok(server.bucket(b)?.join("data")))
        .collect::<anyhow::Result<_>>()?;
    write_objects(&view, &dirs)?;
    eprintln!(
        "  listing: objects written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let variant = format!(
        "{} keys, {} s3s-fs bucket{}",
        count_label(n),
        buckets.len(),
        if buckets.len() == 1 { "" } else { "s" }
    );
    Ok(Setup {
        config,
        view,
        buckets,
        n,
        variant,
    })
}

/// Writes every object of `view`'s first pool into the directory of its endpoint (`dirs[e]`),
/// two endpoints at a time.
fn write_objects(view: &Dataset, dirs: &[PathBuf]) -> anyhow::Result<()> {
    let pool = view.pools.first().context("the dataset has no pool")?;
    let size = usize::try_from(OBJECT_SIZE)?;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..2usize)
            .map(|w| {
                s.spawn(move || -> anyhow::Result<()> {
                    for (e, dir) in dirs.iter().enumerate().skip(w).step_by(2) {
                        let owned =
                            cache_sai3::placement::owned_by_endpoint(pool, u16::try_from(e)?);
                        write_endpoint(view, pool, owned.iter(), dir, size)?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| anyhow::anyhow!("a writer panicked"))?)
    })
}

/// Writes objects `indices` of `pool` under `dir`, `size` zero bytes each.
fn write_endpoint(
    view: &Dataset,
    pool: &cache_sai3::dataset::Pool,
    indices: impl Iterator<Item = u64>,
    dir: &Path,
    size: usize,
) -> anyhow::Result<()> {
    let content = vec![0u8; size];
    let mut made: HashSet<PathBuf> = HashSet::new();
    for i in indices {
        let name = view
            .path_of(pool, i)
            .with_context(|| format!("object {i} has no name"))?;
        let path = dir.join(name);
        let parent = path.parent().context("an object path has no parent")?;
        if !made.contains(parent) {
            std::fs::create_dir_all(parent)?;
            made.insert(parent.to_owned());
        }
        std::fs::write(&path, &content)?;
    }
    Ok(())
}

/// The samples of one backend.
fn per_backend<D: Database>(
    ctx: &Ctx,
    server: &S3Server,
    setup: &Setup,
    backend: Backend,
) -> anyhow::Result<()> {
    let cache_dir = ctx.scratch(&format!("listing-cache-{}-{}", setup.n, backend.name()))?;
    let p = Prepare {
        ctx,
        server,
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
    let runs = runs_for(ctx, setup.n);
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
    server: &'a S3Server,
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
            .envs(self.server.env());
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
    let n = p.setup.n as f64;
    let whole = p.figure("LIST: prepare --refresh-cache", "s", &Samples(whole), true)?;
    let rate = Samples(phase.iter().map(|s| n / s).collect());
    let phase = p.figure("LIST (list phase)", "s", &Samples(phase), true)?;
    p.figure("LIST rate (list phase)", "keys/s", &rate, false)?;
    Ok(ListFigures { whole, phase })
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
