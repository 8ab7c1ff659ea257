//! Suite `prepare`: the release CLI's `prepare` run as a user runs it, per backend, on two
//! datasets of tiny objects: a tree (width 32, depth 2, the shape of
//! `examples/local-1m.yaml`) on 4 local endpoints, and a flat dataset (64 key-prefix shards)
//! on 4 buckets of the dataset-shaped S3 server of `test-servers` (in this process; it keeps
//! presence bitmaps, not bytes, so 100k objects cost nothing to hold). Per dataset and
//! backend, on a fresh dataset: the first prepare (it creates every object: one sample), then
//! second (reattach), `--refresh-cache` and `--no-cache` runs. Figures are whole-process wall
//! times; the second run's `phases.open_s` is the reattach (open) time.
//!
//! [`resume_after_kill`] (reported under suite `resume`): a first prepare killed when about
//! half its objects exist, and the rerun that finishes it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use cache_sai3::dataset::Dataset;
use cache_sai3::prepare::{ListingSource, PrepareReport};

use crate::backend::Backend;
use crate::dataset_objects::Present;
use crate::record::{Figure, Samples};
use crate::suites::Ctx;
use crate::suites::process::{self, DatasetConfig, count_label};

/// Suite name.
const SUITE: &str = "prepare";

/// Suite name of [`resume_after_kill`].
const RESUME: &str = "resume";

/// Object size in bytes.
const OBJECT_SIZE: u64 = 64;

/// Endpoints of both datasets.
const ENDPOINTS: usize = 4;

/// The goal of the second prepare on local endpoints.
const REATTACH_GOAL_S: f64 = 1.0;

/// The longest a first prepare may take to reach half its objects before it is given up.
const KILL_DEADLINE: Duration = Duration::from_secs(1800);

/// Runs the suite.
///
/// # Errors
/// Any failure of the suite.
pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    ctx.note(SUITE, method())?;
    local(ctx)?;
    s3(ctx)
}

/// How the suite measures (its first note).
fn method() -> String {
    format!(
        "whole-process wall time of `sai3-cache prepare --json` with default flags (object \
         stores: pull at the start, push at the end when the shard changed), {OBJECT_SIZE}-byte \
         objects; per backend a fresh dataset: first = the run that creates every object (one \
         sample), then second, --refresh-cache and --no-cache runs; open (reattach) = \
         phases.open_s of the second runs. phases.total_s of the second runs is the in-process \
         time (the rest of the whole-process time is starting the process and parsing the \
         config)"
    )
}

/// Samples per figure: fewer at more than 200k objects (each LIST run takes many seconds).
fn runs_for(ctx: &Ctx, n: u64) -> usize {
    if n > 200_000 {
        ctx.runs().min(3)
    } else {
        ctx.runs()
    }
}

/// One dataset of one backend: its config, environment and cache dir.
struct Target<'a> {
    ctx: &'a Ctx,
    backend: Backend,
    config: PathBuf,
    cache_dir: PathBuf,
    env: Vec<(&'static str, &'static str)>,
    objects: u64,
    variant: String,
}

impl Target<'_> {
    /// `prepare --json` with `extra` flags: wall time and report.
    fn prepare(&self, extra: &[&str]) -> anyhow::Result<(f64, PrepareReport)> {
        let mut c = prepare_command(self.ctx, self.backend, &self.config, &self.cache_dir);
        c.arg("--json").args(extra).envs(self.env.iter().copied());
        let done = process::run(&mut c)?.checked("prepare")?;
        Ok((done.seconds, done.json()?))
    }

    /// A figure of this backend and variant.
    fn figure(&self, name: &str, unit: &str, s: &Samples) -> anyhow::Result<Figure> {
        self.ctx.figure(
            SUITE,
            name,
            &self.variant,
            Some(self.backend),
            unit,
            s,
            true,
        )
    }
}

/// `sai3-cache --backend B prepare --config C --cache-dir D`.
fn prepare_command(ctx: &Ctx, backend: Backend, config: &Path, cache_dir: &Path) -> Command {
    let mut c = process::cli(ctx, backend);
    c.arg("prepare")
        .arg("--config")
        .arg(config)
        .arg("--cache-dir")
        .arg(cache_dir);
    c
}

/// The tree on 4 local endpoints, per backend; the reattach goal.
fn local(ctx: &Ctx) -> anyhow::Result<()> {
    let n = ctx.size(1_000_000, 10_000);
    let shape = DatasetConfig::tree(n, OBJECT_SIZE, Vec::new());
    if let Some((w, d, f)) = shape.tree {
        ctx.note(
            SUITE,
            format!(
                "{} objects on local endpoints: a tree {w}^{d} x {f} = {} objects",
                count_label(n),
                shape.count
            ),
        )?;
    }
    let mut seconds = Vec::new();
    for &backend in &ctx.backends {
        let root = ctx.scratch(&format!("prepare-local-{}", backend.name()))?;
        let uris = local_uris(&root);
        let cfg = DatasetConfig::tree(n, OBJECT_SIZE, uris);
        let t = Target {
            ctx,
            backend,
            config: cfg.write(&root, "local")?,
            cache_dir: root.join("cache"),
            env: Vec::new(),
            objects: cfg.count,
            variant: format!("{} objects, {ENDPOINTS} file:// endpoints", count_label(n)),
        };
        let second = measure(&t)?;
        let met = second.median <= REATTACH_GOAL_S;
        ctx.goal(
            SUITE,
            &format!(
                "second prepare (reattach) of {} on local endpoints <= 1 s ({})",
                count_label(n),
                backend.name()
            ),
            format!("{:.3} s (median of {} runs)", second.median, second.runs),
            met,
        )?;
        seconds.push(second);
        remove_dataset(&root)?;
    }
    backend_ratio(ctx, &seconds)
}

/// `file://{root}/ep{e}/` for every endpoint.
fn local_uris(root: &Path) -> Vec<String> {
    (0..ENDPOINTS)
        .map(|e| format!("file://{}/ep{e}/", root.display()))
        .collect()
}

/// Removes a dataset directory, saying so when it takes a while.
fn remove_dataset(root: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::remove_dir_all(root).with_context(|| format!("removing {}", root.display()))?;
    if started.elapsed() > Duration::from_secs(3) {
        eprintln!(
            "  removed {} in {:.1} s",
            root.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The flat dataset on 4 buckets of the dataset-shaped S3 server, per backend (a fresh
/// server, empty at the start, for each).
fn s3(ctx: &Ctx) -> anyhow::Result<()> {
    let root = ctx.scratch("prepare-s3")?;
    let n = ctx.size(100_000, 2_000);
    ctx.note(
        SUITE,
        format!(
            "{} objects on S3: a flat dataset (64 key-prefix shards) on {ENDPOINTS} buckets of \
             the dataset-shaped S3 server (test-servers, in the harness's process, no added \
             latency: keys generated from the config, presence in a bitmap, PUT bodies \
             counted and dropped), empty at the start of each backend",
            count_label(n)
        ),
    )?;
    let mut seconds = Vec::new();
    for &backend in &ctx.backends {
        let port = test_servers::free_port();
        let uris = (0..ENDPOINTS)
            .map(|e| process::s3_uri(port, &format!("prep-{}-{e}", backend.name()), "data"))
            .collect();
        let cfg = DatasetConfig::flat(n, OBJECT_SIZE, uris);
        let config = cfg.write(&root, &format!("s3-{}", backend.name()))?;
        let server = process::serve(&config, Present::Empty)?;
        let t = Target {
            ctx,
            backend,
            config,
            cache_dir: root.join(format!("cache-{}", backend.name())),
            env: process::s3_env().to_vec(),
            objects: cfg.count,
            variant: format!("{} objects, {ENDPOINTS} S3 buckets", count_label(n)),
        };
        seconds.push(measure(&t)?);
        drop(server);
    }
    backend_ratio(ctx, &seconds)?;
    remove_dataset(&root)
}

/// fjall against redb on the second run (the faster one first), when both ran.
fn backend_ratio(ctx: &Ctx, second: &[Figure]) -> anyhow::Result<()> {
    if let [a, b] = second {
        let (better, worse) = if a.median <= b.median { (a, b) } else { (b, a) };
        ctx.ratio(better, worse)?;
    }
    Ok(())
}

/// First, second, refresh and no-cache runs of one target; returns the second runs' figure.
fn measure(t: &Target<'_>) -> anyhow::Result<Figure> {
    let name = t.backend.name();
    let started = Instant::now();
    eprintln!("  prepare: {name} first prepare of {}", t.variant);
    let (first_s, first) = t.prepare(&[])?;
    anyhow::ensure!(
        first.created == t.objects && first.failed == 0,
        "the first prepare created {} of {} objects ({} failed)",
        first.created,
        t.objects,
        first.failed
    );
    eprintln!("  prepare: {name} first prepare took {first_s:.1} s");
    let first = t.figure("first prepare (creates all)", "s", &Samples(vec![first_s]))?;
    let runs = runs_for(t.ctx, t.objects);
    eprintln!("  prepare: {name} second, --refresh-cache and --no-cache x{runs}");
    let second = repeat(t, runs, &[], ListingSource::Ledger)?;
    let refresh = repeat(t, runs, &["--refresh-cache"], ListingSource::List)?;
    let no_cache = repeat(t, runs, &["--no-cache"], ListingSource::List)?;
    t.figure("open (reattach), phases.open_s", "s", &second.open)?;
    t.figure(
        "second prepare, in process (phases.total_s)",
        "s",
        &second.total,
    )?;
    let second = t.figure("second prepare (reattach)", "s", &second.wall)?;
    let refresh = t.figure("prepare --refresh-cache", "s", &refresh.wall)?;
    let no_cache = t.figure("prepare --no-cache", "s", &no_cache.wall)?;
    for worse in [&first, &refresh, &no_cache] {
        t.ctx.ratio(&second, worse)?;
    }
    eprintln!(
        "  prepare: {name} {} done in {:.1} s",
        t.variant,
        started.elapsed().as_secs_f64()
    );
    Ok(second)
}

/// Samples of repeated prepares.
struct Runs {
    /// Whole-process wall times.
    wall: Samples,
    /// `phases.open_s`.
    open: Samples,
    /// `phases.total_s` (in process).
    total: Samples,
}

/// `runs` prepares with `extra` flags that must learn from `source` and create nothing.
fn repeat(
    t: &Target<'_>,
    runs: usize,
    extra: &[&str],
    source: ListingSource,
) -> anyhow::Result<Runs> {
    let mut out = Runs {
        wall: Samples::default(),
        open: Samples::default(),
        total: Samples::default(),
    };
    for _ in 0..runs.max(1) {
        let (s, r) = t.prepare(extra)?;
        anyhow::ensure!(
            r.listing_source == source && r.created == 0 && r.failed == 0,
            "prepare {extra:?} learned from {:?} (expected {source:?}) and created {}",
            r.listing_source,
            r.created
        );
        out.wall.0.push(s);
        out.open.0.push(r.phases.open_s);
        out.total.0.push(r.phases.total_s);
    }
    Ok(out)
}

/// Suite `resume`: a first prepare of a fresh tree on 4 local endpoints (1M objects, quick
/// 20k), started as a child process and killed (SIGKILL, by its PID) once about half its
/// objects exist; then the rerun that finishes the dataset, timed. Reports the rerun's wall
/// time per backend, and in a note what the reruns found (created, LIST calls).
///
/// # Errors
/// Any failure: a child that cannot run, a first prepare that ends before it is killed, a
/// rerun that does not finish the dataset.
pub fn resume_after_kill(ctx: &Ctx) -> anyhow::Result<()> {
    let n = ctx.size(1_000_000, 5_000);
    // Each sample creates a fresh dataset: one per backend in a quick run or at 1M.
    let runs = if ctx.quick || n > 200_000 {
        1
    } else {
        runs_for(ctx, n)
    };
    ctx.note(
        RESUME,
        format!(
            "prepare resume after a kill: a fresh tree of {} {OBJECT_SIZE}-byte objects on \
             {ENDPOINTS} local endpoints per sample; the first prepare is SIGKILLed when the \
             object at index N/2 (endpoint 0; objects are created in index order) exists, then \
             `prepare --json` is rerun and timed (whole process); {runs} samples per backend",
            count_label(n)
        ),
    )?;
    for &backend in &ctx.backends {
        let mut secs = Vec::new();
        let mut seen = Vec::new();
        for _ in 0..runs {
            let r = kill_and_resume(ctx, backend, n)?;
            secs.push(r.seconds);
            seen.push(r.describe());
        }
        let variant = format!("{} objects, {ENDPOINTS} file:// endpoints", count_label(n));
        let samples = Samples(secs);
        let name = "prepare resume after a kill";
        ctx.figure(RESUME, name, &variant, Some(backend), "s", &samples, true)?;
        ctx.note(
            RESUME,
            format!("{variant} {}: reruns {}", backend.name(), seen.join("; ")),
        )?;
    }
    Ok(())
}

/// One killed first prepare and its rerun.
struct Resumed {
    /// Wall time of the rerun.
    seconds: f64,
    /// Seconds from the start of the first prepare to its kill.
    killed_after: f64,
    /// The rerun's report.
    report: PrepareReport,
}

impl Resumed {
    /// What the rerun did, in a few words.
    fn describe(&self) -> String {
        format!(
            "killed after {:.1} s: {} present, {} created, {} LIST calls, from {}",
            self.killed_after,
            self.report.already_present,
            self.report.created,
            self.report.list_calls,
            self.report.listing_source.describe()
        )
    }
}

/// A fresh dataset, its first prepare killed at about half, the rerun timed.
fn kill_and_resume(ctx: &Ctx, backend: Backend, n: u64) -> anyhow::Result<Resumed> {
    let root = ctx.scratch(&format!("resume-{}", backend.name()))?;
    let cfg = DatasetConfig::tree(n, OBJECT_SIZE, local_uris(&root));
    let config = cfg.write(&root, "resume")?;
    let cache_dir = root.join("cache");
    let marker = half_marker(&config, &root)?;
    eprintln!(
        "  resume: {} first prepare of {} objects, to be killed at half",
        backend.name(),
        cfg.count
    );
    let killed_after = start_and_kill(ctx, backend, &config, &cache_dir, &marker)?;
    let mut c = prepare_command(ctx, backend, &config, &cache_dir);
    c.arg("--json");
    let done = process::run(&mut c)?.checked("prepare after a kill")?;
    let report: PrepareReport = done.json()?;
    anyhow::ensure!(
        report.already_present + report.created == cfg.count && report.failed == 0,
        "the rerun left the dataset incomplete: {} present, {} created, {} failed",
        report.already_present,
        report.created,
        report.failed
    );
    anyhow::ensure!(
        report.created > 0,
        "the rerun created nothing: the kill came too late"
    );
    remove_dataset(&root)?;
    Ok(Resumed {
        seconds: done.seconds,
        killed_after,
        report,
    })
}

/// The file of the object at index N/2 on endpoint 0 (of the tree's single pool).
fn half_marker(config: &Path, root: &Path) -> anyhow::Result<PathBuf> {
    let view = Dataset::load(config)?
        .writer_views()
        .into_iter()
        .next()
        .context("the dataset has no view")?;
    let pool = view.pools.first().context("the dataset has no pool")?;
    let owned = cache_sai3::placement::owned_by_endpoint(pool, 0);
    let half = owned
        .iter()
        .find(|&i| i >= pool.count / 2)
        .context("endpoint 0 owns nothing past the middle")?;
    let name = view
        .path_of(pool, half)
        .context("the middle object has no name")?;
    Ok(root.join("ep0").join(name))
}

/// Starts a first prepare and SIGKILLs it when `marker` exists; returns the seconds it ran.
fn start_and_kill(
    ctx: &Ctx,
    backend: Backend,
    config: &Path,
    cache_dir: &Path,
    marker: &Path,
) -> anyhow::Result<f64> {
    let mut c = prepare_command(ctx, backend, config, cache_dir);
    let started = Instant::now();
    let mut child = process::spawn_quiet(&mut c)?;
    loop {
        if marker.exists() {
            child.kill()?;
            child.wait()?;
            return Ok(started.elapsed().as_secs_f64());
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the first prepare ended ({status}) before half its objects existed");
        }
        if started.elapsed() > KILL_DEADLINE {
            child.kill()?;
            child.wait()?;
            anyhow::bail!("the first prepare did not reach half its objects in time");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
