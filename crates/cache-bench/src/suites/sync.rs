//! Suite `sync`: `push` and `pull` of the cache of a dataset on a loopback S3 server, per
//! backend, with the peak RSS of the child process against an idle one.
//!
//! Per size, one dataset (flat, 64 key-prefix shards, 1-byte objects, one endpoint) held by
//! the dataset-shaped S3 server of `test-servers` (in this process: keys generated from the
//! config, every object present, any size in a few MB). Each backend's cache is built by its
//! own first prepare (`--no-push`), which adopts the objects with a LIST. The cache's remote
//! copy lives in the same bucket as real objects (in the server's memory). Then, per backend:
//!
//! * `push --json` (the remote cache directory deleted before each sample, so every push
//!   uploads the whole cache): wall time, bytes sent, peak RSS;
//! * `pull --json` into an empty cache dir: wall time, bytes received, peak RSS;
//!
//! and once, the idle process: `plan --json` of a tiny config. A full run measures 20k objects
//! as well as 1M, so that an RSS independent of the cache size can be seen.

use std::path::{Path, PathBuf};

use anyhow::Context;
use cache_sai3::caches::cache_location;
use cache_sai3::prepare::{ListingSource, PrepareReport};
use cache_sai3::scheme::ENDPOINT_CACHE_DIR;
use cache_sai3::sync::EndpointSync;
use test_servers::DatasetS3;

use crate::backend::Backend;
use crate::dataset_objects::Present;
use crate::record::{Figure, Samples};
use crate::suites::Ctx;
use crate::suites::process::{self, DatasetConfig, Finished, count_label};

/// Suite name.
const SUITE: &str = "sync";

/// Object size in bytes.
const OBJECT_SIZE: u64 = 1;

/// The endpoint's bucket.
const BUCKET: &str = "sync";

/// The endpoint's prefix in its bucket.
const PREFIX: &str = "data";

/// The RSS goal, MiB above the idle process.
const RSS_GOAL_MIB: f64 = 64.0;

/// Bytes per MiB.
const MIB: f64 = 1024.0 * 1024.0;

/// Runs the suite.
///
/// # Errors
/// Any failure of the suite.
pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let root = ctx.scratch("sync-s3")?;
    ctx.note(SUITE, method())?;
    let idle = idle(ctx, &root)?;
    let mut above: Vec<(Backend, Above)> = Vec::new();
    for n in sizes(ctx) {
        let data = SyncData::new(ctx, &root, n)?;
        for &backend in &ctx.backends {
            data.build_cache(backend)?;
        }
        for &backend in &ctx.backends {
            above.push((backend, data.transfers(backend, &idle)?));
        }
        let dir = data.dir.clone();
        drop(data);
        std::fs::remove_dir_all(&dir)?;
    }
    for &backend in &ctx.backends {
        let mine: Vec<&Above> = above
            .iter()
            .filter(|(b, _)| *b == backend)
            .map(|(_, a)| a)
            .collect();
        rss_goal(ctx, backend, &idle, &mine)?;
    }
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

/// How the suite measures (its first note).
fn method() -> String {
    format!(
        "per size one dataset on one endpoint of the dataset-shaped S3 server (test-servers, in \
         the harness's process, no added latency: keys generated from the config, every object \
         present); each backend's first prepare (--concurrency 64 --no-push) adopts it with a \
         LIST. push: the remote cache directory is deleted before each sample (a full upload \
         every time); pull: into an empty cache dir; peak RSS: {}; idle process: `plan --json` \
         of a tiny config; cache size: the shard's allocated bytes on disk",
        if process::rss_is_exact() {
            "ru_maxrss of the child (GNU time, wait4)"
        } else {
            "VmHWM of /proc/PID/status polled every 5 ms (a lower bound)"
        }
    )
}

/// Object counts: 20k and 1M in a full run (so that size independence shows), 5k in a
/// quick one, `--files N` alone.
fn sizes(ctx: &Ctx) -> Vec<u64> {
    if ctx.quick || ctx.files.is_some() {
        vec![ctx.size(1_000_000, 5_000)]
    } else {
        vec![20_000, 1_000_000]
    }
}

/// The peak RSS of the idle process (`plan` of a tiny config, which reaches no endpoint), MiB.
fn idle(ctx: &Ctx, root: &Path) -> anyhow::Result<Figure> {
    let dir = root.join("idle");
    std::fs::create_dir_all(&dir)?;
    let uri = process::s3_uri(test_servers::free_port(), "idle", PREFIX);
    let config = DatasetConfig::flat(100, OBJECT_SIZE, vec![uri]).write(&dir, "idle")?;
    let backend = ctx.backends.first().copied().unwrap_or(Backend::Fjall);
    let samples = Samples::collect(ctx.runs(), || {
        let mut c = process::cli(ctx, backend);
        c.arg("plan").arg("--config").arg(&config).arg("--json");
        process::run_with_rss(&c, &dir)?
            .checked("plan")?
            .peak_rss_mib()
    })?;
    ctx.figure(
        SUITE,
        "idle process (plan of a tiny config): peak RSS",
        "sai3-cache plan",
        None,
        "MiB",
        &samples,
        true,
    )
}

/// Peak RSS above the idle process, MiB (medians), at one size.
struct Above {
    /// Objects.
    n: u64,
    /// Of the pushes.
    push: f64,
    /// Of the pulls.
    pull: f64,
}

/// The dataset of one size: its server, config and scratch directory.
struct SyncData<'a> {
    ctx: &'a Ctx,
    /// The server holding the dataset (and the remote cache).
    server: DatasetS3,
    /// Objects.
    n: u64,
    /// The endpoint URI.
    uri: String,
    /// Config and cache dirs.
    dir: PathBuf,
    /// The config file.
    config: PathBuf,
    /// The variant of its figures.
    variant: String,
}

impl<'a> SyncData<'a> {
    /// The config of `n` objects and the server holding them all.
    fn new(ctx: &'a Ctx, root: &Path, n: u64) -> anyhow::Result<Self> {
        let dir = root.join(format!("sync-{}", count_label(n).to_lowercase()));
        std::fs::create_dir_all(&dir)?;
        let uri = process::s3_uri(test_servers::free_port(), BUCKET, PREFIX);
        let config = DatasetConfig::flat(n, OBJECT_SIZE, vec![uri.clone()]).write(&dir, "sync")?;
        let server = process::serve(&config, Present::Full)?;
        Ok(SyncData {
            ctx,
            server,
            n,
            uri,
            dir,
            config,
            variant: format!("{} objects, 1 S3 endpoint", count_label(n)),
        })
    }

    /// The cache dir of `backend`.
    fn cache_dir(&self, backend: Backend) -> PathBuf {
        self.dir.join(format!("cache-{}", backend.name()))
    }

    /// A figure of `backend` at this size.
    fn figure(
        &self,
        backend: Backend,
        name: &str,
        unit: &str,
        s: &Samples,
    ) -> anyhow::Result<Figure> {
        self.ctx
            .figure(SUITE, name, &self.variant, Some(backend), unit, s, true)
    }

    /// A CLI command of `backend` on this config and `cache_dir`, `--json`.
    fn command(&self, backend: Backend, what: &str, cache_dir: &Path) -> std::process::Command {
        let mut c = process::cli(self.ctx, backend);
        c.arg(what)
            .arg("--config")
            .arg(&self.config)
            .arg("--cache-dir")
            .arg(cache_dir)
            .arg("--json")
            .envs(process::s3_env());
        c
    }

    /// Builds `backend`'s cache with its first prepare, which adopts every object with a
    /// LIST. One sample, reported.
    fn build_cache(&self, backend: Backend) -> anyhow::Result<()> {
        eprintln!(
            "  sync: {} adopting {} objects (LIST)",
            backend.name(),
            self.n
        );
        let mut c = self.command(backend, "prepare", &self.cache_dir(backend));
        c.args(["--concurrency", "64", "--no-push"]);
        let finished = process::run(&mut c)?.checked("prepare")?;
        let report: PrepareReport = finished.json()?;
        anyhow::ensure!(
            report.already_present == self.n
                && report.created == 0
                && report.failed == 0
                && report.listing_source == ListingSource::List,
            "the first prepare found {} of {} objects by {:?} ({} created, {} failed)",
            report.already_present,
            self.n,
            report.listing_source,
            report.created,
            report.failed
        );
        eprintln!("  sync: adopting took {:.1} s", finished.seconds);
        let name = "build the cache: first prepare adopting the dataset (LIST)";
        self.figure(backend, name, "s", &Samples(vec![finished.seconds]))?;
        Ok(())
    }

    /// Cache size, pushes and pulls of `backend`; returns the RSS above idle.
    fn transfers(&self, backend: Backend, idle: &Figure) -> anyhow::Result<Above> {
        let cache_dir = self.cache_dir(backend);
        let shard = cache_location(&self.uri, &cache_dir, 0)?;
        let disk = cache_core::database::directory_size(&shard)?;
        let per_object = Samples(vec![disk as f64 / self.n as f64]);
        self.figure(backend, "cache size on disk", "bytes/object", &per_object)?;
        let push = self.pushes(backend, &cache_dir, idle)?;
        let pull = self.pulls(backend, idle)?;
        std::fs::remove_dir_all(&cache_dir)?;
        Ok(Above {
            n: self.n,
            push,
            pull,
        })
    }

    /// Full pushes: time, bytes sent, peak RSS; returns the median RSS above idle.
    fn pushes(&self, backend: Backend, cache_dir: &Path, idle: &Figure) -> anyhow::Result<f64> {
        let runs = self.ctx.runs();
        eprintln!("  sync: {} push x{runs}", backend.name());
        let remote = format!("{PREFIX}/{ENDPOINT_CACHE_DIR}");
        let mut done = Vec::new();
        let mut sent = Vec::new();
        let mut total = 0;
        for _ in 0..runs {
            process::remove_prefix(&self.server, BUCKET, &remote)?;
            let c = self.command(backend, "push", cache_dir);
            let f = process::run_with_rss(&c, &self.dir)?.checked("push")?;
            let pushed = one_report(&f)?.pushed.context("a push reported no push")?;
            anyhow::ensure!(pushed.bytes_sent > 0, "a push sent nothing");
            sent.push(pushed.bytes_sent as f64 / MIB);
            total = pushed.bytes_total;
            done.push(f);
        }
        self.ctx.note(
            SUITE,
            format!(
                "{} {}: push bytes_total (apparent size of the cache files) {total} bytes",
                self.variant,
                backend.name()
            ),
        )?;
        let t = Transfers {
            data: self,
            backend,
            what: "push",
        };
        t.figures(&done, Samples(sent), "bytes sent", idle)
    }

    /// Pulls into empty cache dirs: time, bytes received, peak RSS; returns the median RSS
    /// above idle.
    fn pulls(&self, backend: Backend, idle: &Figure) -> anyhow::Result<f64> {
        let runs = self.ctx.runs();
        eprintln!("  sync: {} pull x{runs}", backend.name());
        let mut done = Vec::new();
        let mut received = Vec::new();
        for r in 0..runs {
            let empty = self.dir.join(format!("pulled-{}-{r}", backend.name()));
            std::fs::create_dir_all(&empty)?;
            let c = self.command(backend, "pull", &empty);
            let f = process::run_with_rss(&c, &self.dir)?.checked("pull")?;
            let pulled = one_report(&f)?.pulled.context("a pull reported no pull")?;
            anyhow::ensure!(pulled.bytes_received > 0, "a pull received nothing");
            received.push(pulled.bytes_received as f64 / MIB);
            done.push(f);
            std::fs::remove_dir_all(&empty)?;
        }
        let t = Transfers {
            data: self,
            backend,
            what: "pull",
        };
        t.figures(&done, Samples(received), "bytes received", idle)
    }
}

/// The samples of pushes or pulls of one backend.
struct Transfers<'a> {
    data: &'a SyncData<'a>,
    backend: Backend,
    what: &'static str,
}

impl Transfers<'_> {
    /// Time, bytes and RSS figures; returns the median RSS above idle.
    fn figures(
        &self,
        done: &[Finished],
        bytes: Samples,
        bytes_name: &str,
        idle: &Figure,
    ) -> anyhow::Result<f64> {
        let (d, b, what) = (self.data, self.backend, self.what);
        let secs = Samples(done.iter().map(|f| f.seconds).collect());
        d.figure(b, what, "s", &secs)?;
        d.figure(b, &format!("{what}: {bytes_name}"), "MiB", &bytes)?;
        let rss = Samples(
            done.iter()
                .map(Finished::peak_rss_mib)
                .collect::<anyhow::Result<_>>()?,
        );
        d.figure(b, &format!("{what}: peak RSS"), "MiB", &rss)?;
        let above = Samples(rss.0.iter().map(|r| r - idle.median).collect());
        let name = format!("{what}: peak RSS above idle");
        Ok(d.figure(b, &name, "MiB", &above)?.median)
    }
}

/// The one endpoint's sync report of a push or pull.
fn one_report(f: &Finished) -> anyhow::Result<EndpointSync> {
    let mut all: Vec<EndpointSync> = f.json()?;
    anyhow::ensure!(all.len() == 1, "{} endpoint reports, expected 1", all.len());
    all.pop().context("no endpoint report")
}

/// The goal: push and pull peaks at most 64 MiB above idle, at every size.
fn rss_goal(ctx: &Ctx, backend: Backend, idle: &Figure, above: &[&Above]) -> anyhow::Result<()> {
    let met = above
        .iter()
        .all(|a| a.push <= RSS_GOAL_MIB && a.pull <= RSS_GOAL_MIB);
    let sizes: Vec<String> = above
        .iter()
        .map(|a| {
            format!(
                "{}: push +{:.1}, pull +{:.1} MiB",
                count_label(a.n),
                a.push,
                a.pull
            )
        })
        .collect();
    ctx.goal(
        SUITE,
        &format!(
            "peak RSS <= 64 MiB above the idle process, independent of cache size ({})",
            backend.name()
        ),
        format!("{} (idle {:.1} MiB)", sizes.join("; "), idle.median),
        met,
    )
}
