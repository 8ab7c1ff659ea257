//! Suite `scale`: the proposal's headline, 64M files over 4 endpoints ready in seconds instead
//! of 55 minutes, measured end to end through the release CLI (a child process) against the
//! dataset-shaped S3 server of `test-servers` (in this process: keys generated from the
//! config, presence in bitmaps, PUT bodies counted and dropped).
//!
//! The dataset is a sai3-bench tree (width 24, depth 4, 193 files per leaf directory, bottom
//! distribution: 64,032,768 objects of 1 KiB) placed round-robin (`prepare_strategy:
//! parallel`) on 4 endpoints, one bucket each. Per backend:
//!
//! * (a) the first prepare of the existing dataset: a LIST of every object, then the seal and
//!   the push of the caches: wall time, LIST rate, peak RSS, cache bytes on disk per object;
//! * (b) the second prepare: wall time, against (a) and against the LIST it replaces at S3's
//!   rate of about 20,000 objects/s (the proposal's 53 minutes at 64M);
//! * (c) a fresh dataset with 1% gaps: prepare creates exactly the gaps (checked);
//! * (d) the same killed (SIGKILL) once half the gaps exist, and rerun: the rerun resumes from
//!   the ledger without a LIST (checked), and completes the dataset (checked);
//! * (e) `pull` into an empty cache dir and `push` of (a)'s cache (the remote copy deleted
//!   first): time, bytes, peak RSS;
//! * a LIST of a smaller dataset of the same shape with 50 ms per request, extrapolated to the
//!   full size, next to (b).
//!
//! `--quick` runs the same steps on a tree of width 8 and depth 4 (about 1M objects), (d) and
//! the LIST with latency on a quarter of it; `--files N` scales the files per leaf directory
//! to about N objects.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use cache_sai3::dataset::Dataset;
use cache_sai3::listing::LIST_CONCURRENCY;
use cache_sai3::prepare::{ListingSource, Phases, PrepareReport};
use cache_sai3::scheme::ENDPOINT_CACHE_DIR;
use cache_sai3::sync::EndpointSync;
use test_servers::DatasetS3;

use crate::backend::Backend;
use crate::dataset_objects::{self, Present};
use crate::record::{Figure, Samples};
use crate::suites::Ctx;
use crate::suites::process::{self, DatasetConfig, Finished};

/// Suite name.
const SUITE: &str = "scale";

/// Endpoints (one bucket each).
const ENDPOINTS: usize = 4;

/// Object size in bytes.
const OBJECT_SIZE: u64 = 1024;

/// The proposal's LIST rate of S3, objects per second (53 minutes at 64M).
const S3_LIST_RATE: f64 = 20_000.0;

/// Per-request latency of the extrapolated LIST.
const LATENCY: Duration = Duration::from_millis(50);

/// The fraction of objects missing in steps (c) and (d).
const GAPS: f64 = 0.01;

/// Goal: the second prepare, seconds.
const SECOND_GOAL_S: f64 = 1.0;

/// Goal: times faster than the LIST at S3's rate.
const SPEEDUP_GOAL: f64 = 3_000.0;

/// Goal: cache bytes on disk per object.
const BYTES_GOAL: f64 = 1.0;

/// Goal: peak RSS of every step, MiB.
const RSS_GOAL_MIB: f64 = 256.0;

/// The longest a killed prepare may take to create half the gaps.
const KILL_DEADLINE: Duration = Duration::from_secs(1800);

/// How often a long step says how far it got.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// Bytes per MiB.
const MIB: f64 = 1024.0 * 1024.0;

/// A sai3-bench tree (bottom distribution): `width^depth` leaf directories of `files` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tree {
    /// Directories per directory.
    width: u64,
    /// Levels of directories.
    depth: u32,
    /// Files per leaf directory.
    files: u64,
}

/// The full size: 24^4 x 193 = 64,032,768 objects.
const FULL: Tree = Tree {
    width: 24,
    depth: 4,
    files: 193,
};

/// The quick size: 8^4 x 256 = 1,048,576 objects.
const QUICK: Tree = Tree {
    width: 8,
    depth: 4,
    files: 256,
};

impl Tree {
    /// Leaf directories.
    fn leaves(self) -> u64 {
        self.width.pow(self.depth)
    }

    /// Objects.
    fn count(self) -> u64 {
        self.leaves() * self.files
    }

    /// The same directories holding about `n` objects (at least one file each).
    fn holding(self, n: u64) -> Tree {
        let files = (n as f64 / self.leaves() as f64).round().max(1.0) as u64;
        Tree { files, ..self }
    }

    /// `24^4 x 193 = 64,032,768`.
    fn shape(self) -> String {
        format!(
            "{}^{} x {} = {} objects",
            self.width,
            self.depth,
            self.files,
            self.count()
        )
    }

    /// The variant of its figures.
    fn variant(self) -> String {
        format!("{} objects, {ENDPOINTS} S3 endpoints", about(self.count()))
    }
}

/// `n` rounded as people say it: `64M`, `1.0M`, `262k`.
fn about(n: u64) -> String {
    let n = n as f64;
    if n >= 1e7 {
        format!("{:.0}M", n / 1e6)
    } else if n >= 1e6 {
        format!("{:.1}M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.0}k", n / 1e3)
    } else {
        format!("{n}")
    }
}

/// The trees of one run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Steps (a) to (e) (but (d) in a quick run).
    main: Tree,
    /// Step (d): the main tree, or in a quick run the smaller one of the LIST with latency.
    resume: Tree,
    /// The LIST with added latency.
    latency: Tree,
}

impl Plan {
    /// The trees of `ctx`: full, quick, or `--files N` (the full tree's directories when N
    /// fills them, else the quick tree's).
    fn of(ctx: &Ctx) -> Plan {
        let main = match ctx.files {
            Some(n) if n >= FULL.leaves() => FULL.holding(n),
            Some(n) => QUICK.holding(n),
            None if ctx.quick => QUICK,
            None => FULL,
        };
        let target = if ctx.quick {
            main.count() / 4
        } else {
            main.count().min(1_000_000)
        };
        let latency = main.holding(target);
        Plan {
            main,
            resume: if ctx.quick { latency } else { main },
            latency,
        }
    }
}

/// Runs the suite.
///
/// # Errors
/// Any failure of the suite, including a wrong count of created objects or a resume that
/// lists.
pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let plan = Plan::of(ctx);
    ctx.note(SUITE, method(&plan))?;
    for &backend in &ctx.backends {
        let started = Instant::now();
        per_backend(ctx, backend, &plan)?;
        eprintln!(
            "  scale: {} done in {:.1} s",
            backend.name(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// How the suite measures (its first note).
fn method(plan: &Plan) -> String {
    format!(
        "a sai3-bench tree ({}; bottom distribution, dir_mask d%d_w%d.dir, {OBJECT_SIZE}-byte \
         objects) placed round-robin (prepare_strategy: parallel) on {ENDPOINTS} S3 endpoints \
         s3://127.0.0.1:PORT/scaleE/ (one bucket each) of the dataset-shaped S3 server \
         (test-servers, in the harness's process, no added latency unless said); every step \
         runs the release CLI as a child process, whole-process wall time, peak RSS: {}. (a) \
         first prepare of the full dataset (LIST, seal, push; one sample); (b) second prepare, \
         same cache dir; LIST at S3's rate = objects / {S3_LIST_RATE} objects/s (the proposal's \
         53 minutes at 64M, computed, not measured); (c) a fresh dataset with {:.0}% gaps and a \
         fresh cache dir, `prepare --no-push` (checked: created = gaps, server PUTs = gaps + one \
         DATASET record per endpoint); (d) the same on {}, SIGKILLed once the server counted \
         half the gaps as PUTs, then rerun (checked: 0 LIST calls, resumed from the ledger, \
         dataset complete); (e) pull into an empty cache dir, push of (a)'s cache with the remote copy \
         deleted first; LIST with {} ms per request: `prepare --refresh-cache --no-pull \
         --no-push` of the same shape with {} ({} objects), extrapolated to {} objects",
        plan.main.shape(),
        if process::rss_is_exact() {
            "ru_maxrss of the child (GNU time, wait4)"
        } else {
            "VmHWM of /proc/PID/status polled every 5 ms (a lower bound)"
        },
        GAPS * 100.0,
        plan.resume.shape(),
        LATENCY.as_millis(),
        plan.latency.shape(),
        about(plan.latency.count()),
        about(plan.main.count()),
    )
}

/// Bucket of endpoint `e`.
fn bucket(e: usize) -> String {
    format!("scale{e}")
}

/// A dataset on its own server: the config naming the server's port, and what it holds.
struct Served {
    /// The server.
    server: DatasetS3,
    /// The config file.
    config: PathBuf,
    /// Objects of the dataset.
    total: u64,
    /// Objects present at the start.
    present: u64,
}

impl Served {
    /// Writes the config `{dir}/{name}.yaml` of `tree` on a free port and serves it,
    /// `present` at the start, `latency` before every response.
    fn start(
        dir: &Path,
        name: &str,
        tree: Tree,
        present: Present,
        latency: Duration,
    ) -> anyhow::Result<Self> {
        let port = test_servers::free_port();
        let uris = (0..ENDPOINTS)
            .map(|e| format!("s3://127.0.0.1:{port}/{}/", bucket(e)))
            .collect();
        let cfg = DatasetConfig {
            tree: Some((tree.width, tree.depth, tree.files)),
            shards: 0,
            count: tree.count(),
            size: OBJECT_SIZE,
            endpoints: uris,
        };
        let config = cfg.write(dir, name)?;
        let dataset = Dataset::load(&config)?;
        let (server, present) =
            dataset_objects::dataset_server(&dataset, |_, _, o| present.of(o), latency)?;
        Ok(Served {
            server,
            config,
            total: cfg.count,
            present,
        })
    }

    /// Objects missing at the start.
    fn missing(&self) -> u64 {
        self.total - self.present
    }

    /// Objects present now, over every endpoint.
    fn present_now(&self) -> u64 {
        (0..ENDPOINTS)
            .map(|e| self.server.presence(&bucket(e), 0).len())
            .sum()
    }

    /// Fails unless every object of the dataset exists now.
    fn ensure_complete(&self) -> anyhow::Result<()> {
        let now = self.present_now();
        anyhow::ensure!(
            now == self.total,
            "the server holds {now} of the {} objects",
            self.total
        );
        Ok(())
    }
}

/// Runs `f` while a thread prints what the server has seen every [`PROGRESS_EVERY`].
fn with_progress<T>(served: &Served, what: &str, f: impl FnOnce() -> T) -> T {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let started = Instant::now();
            let mut next = PROGRESS_EVERY;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if started.elapsed() >= next {
                    let st = served.server.stats();
                    eprintln!(
                        "  scale: {what}: {:.0} s, server: {} keys listed, {} PUTs",
                        started.elapsed().as_secs_f64(),
                        st.list_keys,
                        st.put
                    );
                    next += PROGRESS_EVERY;
                }
            }
        });
        // Set even when `f` panics, so that the scope's join ends.
        let _stop = StopOnDrop(&done);
        f()
    })
}

/// Sets its flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// One backend's steps: runs the CLI, reports figures, keeps every step's peak RSS.
struct Runner<'a> {
    ctx: &'a Ctx,
    backend: Backend,
    plan: Plan,
    /// Scratch directory of this backend.
    root: PathBuf,
    /// `(step, peak RSS in MiB)` of every step run so far.
    peaks: std::cell::RefCell<Vec<(String, f64)>>,
}

impl Runner<'_> {
    /// `sai3-cache --backend B WHAT --config C --cache-dir D --json EXTRA` with the
    /// server's credentials.
    fn command(&self, what: &str, served: &Served, cache_dir: &Path, extra: &[&str]) -> Command {
        let mut c = process::cli(self.ctx, self.backend);
        c.arg(what)
            .arg("--config")
            .arg(&served.config)
            .arg("--cache-dir")
            .arg(cache_dir)
            .arg("--json")
            .args(extra)
            .envs(process::s3_env());
        c
    }

    /// Runs `cmd` to a successful end, its peak RSS kept as `step`'s.
    fn run(&self, step: &str, served: &Served, cmd: &Command) -> anyhow::Result<Finished> {
        let label = format!("{} {step}", self.backend.name());
        let done = with_progress(served, &label, || process::run_with_rss(cmd, &self.root))?;
        let done = done.checked(step)?;
        self.keep_peak(step, done.peak_rss_mib()?);
        Ok(done)
    }

    /// Keeps the peak RSS of `step`.
    fn keep_peak(&self, step: &str, mib: f64) {
        self.peaks.borrow_mut().push((step.to_owned(), mib));
    }

    /// A prepare with `extra` flags: how it ran and its report.
    fn prepare(
        &self,
        step: &str,
        served: &Served,
        cache_dir: &Path,
        extra: &[&str],
    ) -> anyhow::Result<(Finished, PrepareReport)> {
        let cmd = self.command("prepare", served, cache_dir, extra);
        let done = self.run(step, served, &cmd)?;
        let report = done.json()?;
        Ok((done, report))
    }

    /// A figure of this backend at `tree`'s size.
    fn figure_at(
        &self,
        tree: Tree,
        name: &str,
        unit: &str,
        samples: &Samples,
        lower_is_better: bool,
    ) -> anyhow::Result<Figure> {
        let variant = tree.variant();
        self.ctx.figure(
            SUITE,
            name,
            &variant,
            Some(self.backend),
            unit,
            samples,
            lower_is_better,
        )
    }

    /// A figure of this backend at the main size, lower is better.
    fn figure(&self, name: &str, unit: &str, samples: &Samples) -> anyhow::Result<Figure> {
        self.figure_at(self.plan.main, name, unit, samples, true)
    }

    /// A note on this backend at the main size.
    fn note(&self, text: impl std::fmt::Display) -> anyhow::Result<()> {
        let (variant, b) = (self.plan.main.variant(), self.backend.name());
        self.ctx.note(SUITE, format!("{variant} {b}: {text}"))
    }

    /// Says what starts now (stderr).
    fn say(&self, what: impl std::fmt::Display) {
        eprintln!("  scale: {} {what}", self.backend.name());
    }
}

/// What the goals are judged on.
struct Outcome {
    /// (b), the second prepare.
    second: Figure,
    /// (b) against the LIST at S3's rate.
    speedup: f64,
    /// (a) the LIST it replaces at S3's rate, seconds.
    s3_list_s: f64,
    /// Cache bytes on disk per object after (a).
    bytes_per_object: f64,
    /// (d) the rerun's report.
    resumed: PrepareReport,
}

/// Every step of one backend, then its goals.
fn per_backend(ctx: &Ctx, backend: Backend, plan: &Plan) -> anyhow::Result<()> {
    let root = ctx.scratch(&format!("scale-{}", backend.name()))?;
    let r = Runner {
        ctx,
        backend,
        plan: *plan,
        root: root.clone(),
        peaks: std::cell::RefCell::new(Vec::new()),
    };
    r.say(format!(
        "serving {} (every object present)",
        plan.main.shape()
    ));
    let full = Served::start(&root, "full", plan.main, Present::Full, Duration::ZERO)?;
    let cache = root.join("cache");
    let (first, bytes_per_object) = first_prepare(&r, &full, &cache)?;
    let (second, s3_list) = second_prepare(&r, &full, &cache, &first)?;
    let speedup = ctx.ratio(&second, &s3_list)?;
    transfers(&r, &full, &cache)?;
    drop(full);
    with_gaps(&r)?;
    let resumed = kill_and_resume(&r)?;
    let list = latency_list(&r)?;
    ctx.ratio(&second, &list)?;
    let outcome = Outcome {
        second,
        speedup,
        s3_list_s: s3_list.median,
        bytes_per_object,
        resumed,
    };
    goals(&r, &outcome)?;
    std::fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))
}

/// (a) The first prepare of the full dataset: LIST, seal, push. Returns its wall-time figure
/// and the cache bytes on disk per object.
fn first_prepare(r: &Runner<'_>, full: &Served, cache: &Path) -> anyhow::Result<(Figure, f64)> {
    r.say(format!("(a) first prepare: LIST of {} objects", full.total));
    let (done, report) = r.prepare("(a) first prepare", full, cache, &[])?;
    check_first(&report, full.total)?;
    r.say(format!("(a) took {:.1} s", done.seconds));
    let wall = one(done.seconds);
    let wall = r.figure("(a) first prepare (LIST + seal + push)", "s", &wall)?;
    let rate = one(full.total as f64 / report.phases.list_s.max(1e-3));
    let name = "(a) LIST rate (objects / phases.list_s)";
    r.figure_at(r.plan.main, name, "objects/s", &rate, false)?;
    let rss = one(done.peak_rss_mib()?);
    r.figure("(a) first prepare: peak RSS", "MiB", &rss)?;
    let disk = cache_core::database::directory_size(cache)?;
    let per_object = disk as f64 / full.total as f64;
    let name = "(a) cache on disk (allocated)";
    r.figure(name, "bytes/object", &one(per_object))?;
    let st = full.server.stats();
    let pushed = pushes(&report.sync);
    r.note(format_args!(
        "(a) {} LIST calls ({} LIST pages, {} keys on the server), phases.list_s {:.1} s, \
         pushed {} caches ({} bytes sent), cache dir {disk} bytes allocated",
        report.list_calls,
        st.list_pages,
        st.list_keys,
        report.phases.list_s,
        pushed.len(),
        pushed.iter().map(|p| p.1).sum::<u64>()
    ))?;
    Ok((wall, per_object))
}

/// Fails unless the first prepare listed all `total` objects, created none and pushed every
/// endpoint's cache.
fn check_first(report: &PrepareReport, total: u64) -> anyhow::Result<()> {
    anyhow::ensure!(
        report.listing_source == ListingSource::List
            && report.already_present == total
            && report.created == 0
            && report.failed == 0,
        "the first prepare found {} of {total} objects by {:?} ({} created, {} failed)",
        report.already_present,
        report.listing_source,
        report.created,
        report.failed
    );
    let pushed = pushes(&report.sync);
    anyhow::ensure!(
        pushed.len() == ENDPOINTS && pushed.iter().all(|p| p.1 > 0),
        "the first prepare pushed {} of {ENDPOINTS} caches: {pushed:?}",
        pushed.len()
    );
    Ok(())
}

/// One sample.
fn one(v: f64) -> Samples {
    Samples(vec![v])
}

/// `(endpoint, bytes sent)` of every push of a report's sync section.
fn pushes(sync: &[EndpointSync]) -> Vec<(u16, u64)> {
    sync.iter()
        .filter_map(|s| s.pushed.as_ref().map(|p| (s.endpoint, p.bytes_sent)))
        .collect()
}

/// (b) Second prepares on (a)'s cache: the ledger, no LIST, nothing created, nothing pushed.
/// Returns their figure and the LIST at S3's rate (computed).
fn second_prepare(
    r: &Runner<'_>,
    full: &Served,
    cache: &Path,
    first: &Figure,
) -> anyhow::Result<(Figure, Figure)> {
    let runs = r.ctx.runs();
    r.say(format!("(b) second prepare x{runs}"));
    let puts_before = full.server.stats().put;
    let (mut wall, mut in_process) = (Samples::default(), Samples::default());
    let mut phases = Phases::default();
    for _ in 0..runs {
        let (done, report) = r.prepare("(b) second prepare", full, cache, &[])?;
        check_second(&report)?;
        wall.0.push(done.seconds);
        in_process.0.push(report.phases.total_s);
        phases = report.phases;
    }
    let puts = full.server.stats().put - puts_before;
    let second = r.figure("(b) second prepare (sealed ledger)", "s", &wall)?;
    r.figure(
        "(b) second prepare, in process (phases.total_s)",
        "s",
        &in_process,
    )?;
    r.ctx.ratio(&second, first)?;
    let s3 = one(full.total as f64 / S3_LIST_RATE);
    let s3_list = r.figure("LIST at S3's rate (20,000 objects/s, computed)", "s", &s3)?;
    r.note(format_args!(
        "(b) {runs} second prepares: no LIST, nothing created, nothing pushed; the server \
         counted {puts} PUTs in all (DATASET records rewritten at each seal); phases of the \
         last: {}",
        describe_phases(&phases)
    ))?;
    Ok((second, s3_list))
}

/// `open 0.01 s, ...`, and the part of the total no phase accounts for.
fn describe_phases(p: &Phases) -> String {
    let parts = [
        ("open", p.open_s),
        ("learn (list_s)", p.list_s),
        ("create", p.create_s),
        ("persist", p.persist_s),
        ("sync", p.sync_s),
    ];
    let timed: f64 = parts.iter().map(|(_, s)| s).sum();
    let text: Vec<String> = parts
        .iter()
        .map(|(name, s)| format!("{name} {s:.3} s"))
        .collect();
    format!(
        "{}, total {:.3} s ({:.3} s in no phase)",
        text.join(", "),
        p.total_s,
        (p.total_s - timed).max(0.0)
    )
}

/// Fails unless a second prepare learned from the seal alone and changed nothing.
fn check_second(report: &PrepareReport) -> anyhow::Result<()> {
    anyhow::ensure!(
        report.listing_source == ListingSource::Ledger
            && report.list_calls == 0
            && report.created == 0
            && report.failed == 0,
        "a second prepare learned from {:?} with {} LIST calls and created {}",
        report.listing_source,
        report.list_calls,
        report.created
    );
    let pushed = pushes(&report.sync);
    anyhow::ensure!(
        pushed.iter().all(|p| p.1 == 0),
        "a second prepare that changed nothing pushed: {pushed:?}"
    );
    Ok(())
}

/// (c) A fresh dataset with 1% gaps and a fresh cache dir: prepare creates exactly the gaps.
fn with_gaps(r: &Runner<'_>) -> anyhow::Result<()> {
    let gaps = Present::Gaps {
        missing: GAPS,
        seed: Present::DEFAULT_SEED,
    };
    let served = Served::start(&r.root, "gaps", r.plan.main, gaps, Duration::ZERO)?;
    let missing = served.missing();
    r.say(format!("(c) prepare with {missing} gaps: LIST, create"));
    let cache = r.root.join("cache-gaps");
    let (done, report) = r.prepare("(c) prepare with gaps", &served, &cache, &["--no-push"])?;
    anyhow::ensure!(
        report.created == missing && report.failed == 0,
        "the prepare created {} objects ({} failed) of {missing} gaps",
        report.created,
        report.failed
    );
    let records = report.endpoints.iter().filter(|e| e.sealed).count() as u64;
    let puts = served.server.stats().put;
    anyhow::ensure!(
        puts == missing + records,
        "the server counted {puts} PUTs for {missing} gaps and {records} DATASET records"
    );
    served.ensure_complete()?;
    r.say(format!("(c) took {:.1} s", done.seconds));
    r.figure(
        "(c) prepare with 1% gaps (LIST + create)",
        "s",
        &one(done.seconds),
    )?;
    let create = one(report.phases.create_s);
    r.figure("(c) creating the gaps (phases.create_s)", "s", &create)?;
    r.note(format_args!(
        "(c) {missing} gaps: {} created, {puts} PUTs on the server ({records} of them DATASET \
         records), phases.list_s {:.1} s, create_s {:.1} s",
        report.created, report.phases.list_s, report.phases.create_s
    ))
}

/// (d) A fresh dataset with 1% gaps: a prepare killed once half the gaps exist, then the
/// rerun, which must resume from the ledger without a LIST. Returns the rerun's report.
fn kill_and_resume(r: &Runner<'_>) -> anyhow::Result<PrepareReport> {
    let gaps = Present::Gaps {
        missing: GAPS,
        seed: Present::DEFAULT_SEED + 1,
    };
    let tree = r.plan.resume;
    let served = Served::start(&r.root, "kill", tree, gaps, Duration::ZERO)?;
    let missing = served.missing();
    let cache = r.root.join("cache-kill");
    r.say(format!(
        "(d) prepare with {missing} gaps, killed at {} PUTs",
        missing / 2
    ));
    let killed = start_and_kill(r, &served, &cache)?;
    r.keep_peak("(d) killed prepare (VmHWM polled)", killed.peak_mib);
    r.say(format!("(d) killed after {:.1} s; rerun", killed.seconds));
    let (done, report) = r.prepare("(d) resume", &served, &cache, &["--no-push"])?;
    check_resume(&report, killed.puts, missing)?;
    served.ensure_complete()?;
    let rerun = one(done.seconds);
    r.figure_at(tree, "(d) resume after a kill (rerun)", "s", &rerun, true)?;
    let learn = one(report.phases.list_s);
    let name = "(d) resume: learn phase (phases.list_s)";
    r.figure_at(tree, name, "s", &learn, true)?;
    r.note(format_args!(
        "(d) {}, {missing} gaps; the first prepare was killed after {:.1} s with {} PUTs made, \
         {} of them recorded in the ledger (checkpoints); the rerun learned from the {} with {} LIST calls, created {} in {:.1} s (phases: {}; the \
         missing set is computed between learn and create, in no phase)",
        tree.shape(),
        killed.seconds,
        killed.puts,
        missing.saturating_sub(report.created),
        report.listing_source.describe(),
        report.list_calls,
        report.created,
        done.seconds,
        describe_phases(&report.phases)
    ))?;
    Ok(report)
}

/// A prepare killed on purpose.
struct Killed {
    /// Seconds from its start to the kill.
    seconds: f64,
    /// PUTs the server counted until then.
    puts: u64,
    /// Its peak RSS (polled), MiB.
    peak_mib: f64,
}

/// Starts a prepare and SIGKILLs it once the server has counted half the gaps as PUTs.
fn start_and_kill(r: &Runner<'_>, served: &Served, cache: &Path) -> anyhow::Result<Killed> {
    let half = served.missing() / 2;
    let mut cmd = r.command("prepare", served, cache, &["--no-push"]);
    let started = Instant::now();
    let mut child = process::spawn_quiet(&mut cmd)?;
    let mut peak_kib = 0;
    let mut polls: u64 = 0;
    loop {
        if served.server.stats().put >= half {
            child.kill()?;
            child.wait()?;
            break;
        }
        if polls.is_multiple_of(20) {
            peak_kib = peak_kib.max(process::vm_hwm_kib(child.id()).unwrap_or(0));
        }
        polls += 1;
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the prepare ended ({status}) before half the gaps existed");
        }
        if started.elapsed() > KILL_DEADLINE {
            child.kill()?;
            child.wait()?;
            anyhow::bail!("the prepare did not create half the gaps in time");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(Killed {
        seconds: started.elapsed().as_secs_f64(),
        puts: served.server.stats().put,
        peak_mib: peak_kib as f64 / 1024.0,
    })
}

/// Fails unless the rerun resumed from the ledger without LIST and created what was left.
fn check_resume(report: &PrepareReport, puts_before: u64, missing: u64) -> anyhow::Result<()> {
    anyhow::ensure!(
        report.list_calls == 0 && report.listing_source == ListingSource::Resumed,
        "the rerun after a kill made {} LIST calls and learned from {:?} (expected 0, resumed)",
        report.list_calls,
        report.listing_source
    );
    anyhow::ensure!(
        report.failed == 0 && report.created + puts_before >= missing,
        "the rerun created {} ({} failed) after {puts_before} PUTs, of {missing} gaps",
        report.created,
        report.failed
    );
    anyhow::ensure!(
        puts_before < missing && report.created > 0,
        "the kill came too late: {puts_before} PUTs of {missing} gaps before it, {} created after",
        report.created
    );
    Ok(())
}

/// (e) Pulls into empty cache dirs and pushes of (a)'s cache (remote copy deleted first).
fn transfers(r: &Runner<'_>, full: &Served, cache: &Path) -> anyhow::Result<()> {
    let runs = r.ctx.runs();
    r.say(format!("(e) pull and push x{runs}"));
    let mut pulls = Vec::new();
    for k in 0..runs {
        let empty = r.root.join(format!("pulled-{k}"));
        std::fs::create_dir_all(&empty)?;
        let cmd = r.command("pull", full, &empty, &[]);
        let done = r.run("(e) pull", full, &cmd)?;
        let bytes = synced_bytes(&done, |s| s.pulled.as_ref().map(|p| p.bytes_received))?;
        pulls.push((done, bytes));
        std::fs::remove_dir_all(&empty)?;
    }
    let mut pushes = Vec::new();
    for _ in 0..runs {
        for e in 0..ENDPOINTS {
            process::remove_prefix(&full.server, &bucket(e), ENDPOINT_CACHE_DIR)?;
        }
        let cmd = r.command("push", full, cache, &[]);
        let done = r.run("(e) push", full, &cmd)?;
        let bytes = synced_bytes(&done, |s| s.pushed.as_ref().map(|p| p.bytes_sent))?;
        pushes.push((done, bytes));
    }
    transfer_figures(r, "(e) pull into an empty cache dir", "received", &pulls)?;
    transfer_figures(r, "(e) push (remote cache deleted)", "sent", &pushes)
}

/// Bytes moved over every endpoint of a push or pull (`bytes` of one endpoint's report);
/// fails unless every endpoint moved some.
fn synced_bytes(
    done: &Finished,
    bytes: impl Fn(&EndpointSync) -> Option<u64>,
) -> anyhow::Result<u64> {
    let all: Vec<EndpointSync> = done.json()?;
    anyhow::ensure!(
        all.len() == ENDPOINTS,
        "{} endpoint reports, expected {ENDPOINTS}",
        all.len()
    );
    let moved: Vec<u64> = all.iter().filter_map(&bytes).collect();
    anyhow::ensure!(
        moved.len() == ENDPOINTS && moved.iter().all(|&b| b > 0),
        "an endpoint moved nothing: {moved:?}"
    );
    Ok(moved.iter().sum())
}

/// Time, MiB and peak RSS figures of pushes or pulls.
fn transfer_figures(
    r: &Runner<'_>,
    name: &str,
    moved: &str,
    done: &[(Finished, u64)],
) -> anyhow::Result<()> {
    let secs = Samples(done.iter().map(|(f, _)| f.seconds).collect());
    r.figure(name, "s", &secs)?;
    let mib = Samples(done.iter().map(|(_, b)| *b as f64 / MIB).collect());
    r.figure(&format!("{name}: bytes {moved}"), "MiB", &mib)?;
    let rss = done
        .iter()
        .map(|(f, _)| f.peak_rss_mib())
        .collect::<anyhow::Result<Vec<_>>>()?;
    r.figure(&format!("{name}: peak RSS"), "MiB", &Samples(rss))?;
    Ok(())
}

/// A LIST of the smaller tree with [`LATENCY`] per request, measured and extrapolated to the
/// main size. Returns the extrapolation by measured time.
fn latency_list(r: &Runner<'_>) -> anyhow::Result<Figure> {
    let (small, main) = (r.plan.latency, r.plan.main);
    let served = Served::start(&r.root, "latency", small, Present::Full, LATENCY)?;
    let cache = r.root.join("cache-latency");
    r.say(format!(
        "LIST of {} objects, {} ms per request",
        small.count(),
        LATENCY.as_millis()
    ));
    let flags = ["--refresh-cache", "--no-pull", "--no-push"];
    let (done, report) = r.prepare("LIST with latency", &served, &cache, &flags)?;
    anyhow::ensure!(
        report.listing_source == ListingSource::List && report.already_present == small.count(),
        "the LIST found {} of {} objects",
        report.already_present,
        small.count()
    );
    let ms = LATENCY.as_millis();
    let list_s = report.phases.list_s;
    let name = format!("LIST, {ms} ms per request (phases.list_s)");
    r.figure_at(small, &name, "s", &one(list_s), true)?;
    let scale = main.count() as f64 / small.count() as f64;
    let pages = served.server.stats().list_pages;
    let ranges = ENDPOINTS as f64 * (main.width as f64).min(LIST_CONCURRENCY as f64);
    let by_pages = pages as f64 * scale * LATENCY.as_secs_f64() / ranges;
    let name = format!("LIST, {ms} ms per request, extrapolated: pages x latency / ranges");
    r.figure(&name, "s", &one(by_pages))?;
    let name = format!("LIST, {ms} ms per request, extrapolated: measured x {scale:.1}");
    let measured = r.figure(&name, "s", &one(list_s * scale))?;
    r.note(format_args!(
        "LIST with {ms} ms per request of {} ({} LIST pages, {ranges} ranges listed at once, \
         whole process {:.1} s): list phase {list_s:.1} s; at {} objects {:.0} s by measured \
         time, {by_pages:.0} s by pages",
        small.shape(),
        pages,
        done.seconds,
        about(main.count()),
        list_s * scale
    ))?;
    Ok(measured)
}

/// The suite's goals for one backend.
fn goals(r: &Runner<'_>, o: &Outcome) -> anyhow::Result<()> {
    let (ctx, b) = (r.ctx, r.backend.name());
    let n = about(r.plan.main.count());
    ctx.goal(
        SUITE,
        &format!("second prepare of {n} objects on {ENDPOINTS} S3 endpoints <= 1 s ({b})"),
        format!("{:.3} s (median of {})", o.second.median, o.second.runs),
        o.second.median <= SECOND_GOAL_S,
    )?;
    ctx.goal(
        SUITE,
        &format!(">= 3,000x the LIST it replaces at S3's rate of 20,000 objects/s ({b})"),
        format!(
            "{:.0}x ({:.0} s of LIST against {:.3} s, {n} objects)",
            o.speedup, o.s3_list_s, o.second.median
        ),
        o.speedup >= SPEEDUP_GOAL,
    )?;
    ctx.goal(
        SUITE,
        &format!("resume after a kill: 0 LIST calls ({b})"),
        format!(
            "{} LIST calls, from the {}",
            o.resumed.list_calls,
            o.resumed.listing_source.describe()
        ),
        o.resumed.list_calls == 0,
    )?;
    ctx.goal(
        SUITE,
        &format!("cache bytes on disk per object <= 1 ({b})"),
        format!("{:.3} bytes/object ({n} objects)", o.bytes_per_object),
        o.bytes_per_object <= BYTES_GOAL,
    )?;
    rss_goal(r)
}

/// The goal: every step's peak RSS at most 256 MiB.
fn rss_goal(r: &Runner<'_>) -> anyhow::Result<()> {
    let peaks = r.peaks.borrow();
    let mut worst: Vec<(String, f64)> = Vec::new();
    for (step, mib) in peaks.iter() {
        match worst.iter_mut().find(|(s, _)| s == step) {
            Some(w) => w.1 = w.1.max(*mib),
            None => worst.push((step.clone(), *mib)),
        }
    }
    let text: Vec<String> = worst
        .iter()
        .map(|(s, m)| format!("{s} {m:.0} MiB"))
        .collect();
    r.ctx.goal(
        SUITE,
        &format!("peak RSS <= 256 MiB in every step ({})", r.backend.name()),
        text.join("; "),
        worst.iter().all(|(_, m)| *m <= RSS_GOAL_MIB),
    )
}
