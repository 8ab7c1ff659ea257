//! Child processes of the suites: the release CLI run as a user runs it (wall time, exit
//! status, its typed JSON report, its peak RSS), the S3 server it talks to (the
//! dataset-shaped server of `test-servers`, in this process: keys generated from a config,
//! presence in bitmaps, any size of dataset in a few MB), and the sai3-bench configs they work
//! on.
//!
//! Peak RSS is the kernel's `ru_maxrss` of the child, read by GNU time (`/usr/bin/time -f
//! %M`, which waits for its child with `wait4`): the workspace forbids `unsafe` code, so this
//! crate cannot call `wait4` itself. Without GNU time it polls `VmHWM` of
//! `/proc/PID/status` every few milliseconds (a lower bound, which misses processes shorter
//! than one poll).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use cache_sai3::dataset::Dataset;
use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use test_servers::DatasetS3;

use crate::backend::Backend;
use crate::dataset_objects::{self, Present};
use crate::suites::Ctx;

/// GNU time, which reports the `ru_maxrss` of its child.
const GNU_TIME: &str = "/usr/bin/time";

/// How often `VmHWM` is read when GNU time is missing.
const RSS_POLL: Duration = Duration::from_millis(5);

/// How a child process ended.
#[derive(Debug)]
pub struct Finished {
    /// Wall time from spawn to exit, in seconds.
    pub seconds: f64,
    /// Its exit status.
    pub status: ExitStatus,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
    /// Its peak resident set in KiB, when it was measured.
    pub peak_rss_kib: Option<u64>,
}

impl Finished {
    /// `self` if the child exited with 0, else an error with the end of its stderr.
    ///
    /// # Errors
    /// A non-zero exit or a signal.
    pub fn checked(self, what: &str) -> anyhow::Result<Self> {
        if self.status.success() {
            return Ok(self);
        }
        let tail: String = {
            let lines: Vec<&str> = self.stderr.lines().collect();
            lines[lines.len().saturating_sub(8)..].join("\n")
        };
        anyhow::bail!("{what} failed ({}):\n{tail}", self.status)
    }

    /// Its stdout parsed as a JSON report.
    ///
    /// # Errors
    /// Stdout is not that JSON.
    pub fn json<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_str(&self.stdout).with_context(|| {
            let head: String = self.stdout.chars().take(300).collect();
            format!("the child's report is not the expected JSON: {head:?}")
        })
    }

    /// Peak RSS in MiB.
    ///
    /// # Errors
    /// It was not measured.
    pub fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        let kib = self
            .peak_rss_kib
            .context("the peak RSS of the child was not measured")?;
        Ok(kib as f64 / 1024.0)
    }
}

/// True when peak RSS is exact (GNU time's `wait4`), false when polled.
pub fn rss_is_exact() -> bool {
    Path::new(GNU_TIME).is_file()
}

/// A command of the release CLI with `--backend`, stdin closed.
pub fn cli(ctx: &Ctx, backend: Backend) -> Command {
    let mut c = Command::new(&ctx.cli);
    c.arg("--backend").arg(backend.name());
    c.stdin(Stdio::null());
    c
}

/// Reads a pipe to its end on a thread of its own (so a full pipe never blocks the child).
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut p) = pipe {
            let mut bytes = Vec::new();
            let _ = p.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

/// Joins a [`drain`] thread.
fn joined(handle: std::thread::JoinHandle<String>) -> String {
    handle.join().unwrap_or_default()
}

/// Runs `cmd` to its end: wall time, status and output (no RSS).
///
/// # Errors
/// It cannot be started or waited for.
pub fn run(cmd: &mut Command) -> anyhow::Result<Finished> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = child.wait()?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(Finished {
        seconds,
        status,
        stdout: joined(out),
        stderr: joined(err),
        peak_rss_kib: None,
    })
}

/// Runs `cmd` to its end and measures its peak RSS too (`scratch`: a directory for GNU
/// time's output file).
///
/// # Errors
/// It cannot be started or waited for; GNU time's output is unreadable.
pub fn run_with_rss(cmd: &Command, scratch: &Path) -> anyhow::Result<Finished> {
    if !rss_is_exact() {
        return run_polling_rss(cmd);
    }
    let file = scratch.join("maxrss.txt");
    let mut timed = Command::new(GNU_TIME);
    timed.arg("-f").arg("%M").arg("-o").arg(&file);
    timed.arg(cmd.get_program()).args(cmd.get_args());
    copy_setup(cmd, &mut timed);
    let mut done = run(&mut timed)?;
    let text = std::fs::read_to_string(&file).context("GNU time wrote no peak RSS")?;
    done.peak_rss_kib = text
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .next_back();
    done.peak_rss_kib
        .with_context(|| format!("GNU time's output {text:?} holds no peak RSS"))?;
    Ok(done)
}

/// Environment and working directory of `from`, set on `to`.
fn copy_setup(from: &Command, to: &mut Command) {
    for (k, v) in from.get_envs() {
        match v {
            Some(v) => to.env(k, v),
            None => to.env_remove(k),
        };
    }
    if let Some(dir) = from.get_current_dir() {
        to.current_dir(dir);
    }
    to.stdin(Stdio::null());
}

/// [`run_with_rss`] without GNU time: `VmHWM` polled while the child runs.
fn run_polling_rss(cmd: &Command) -> anyhow::Result<Finished> {
    let mut c = Command::new(cmd.get_program());
    c.args(cmd.get_args());
    copy_setup(cmd, &mut c);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = c
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let mut peak = None;
    let status = loop {
        // Read before reaping: until `try_wait` reaps it, the PID is this child's.
        peak = peak.max(vm_hwm_kib(child.id()));
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(RSS_POLL);
    };
    Ok(Finished {
        seconds: started.elapsed().as_secs_f64(),
        status,
        stdout: joined(out),
        stderr: joined(err),
        peak_rss_kib: peak,
    })
}

/// `VmHWM` (peak resident set, KiB) of process `pid`, while it runs.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Starts `cmd` with its output discarded (to be killed by its PID later).
///
/// # Errors
/// It cannot be started.
pub fn spawn_quiet(cmd: &mut Command) -> anyhow::Result<Child> {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd.spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))
}

/// The environment the CLI needs to reach the dataset-shaped S3 server (its credentials).
pub fn s3_env() -> [(&'static str, &'static str); 3] {
    [
        ("AWS_ACCESS_KEY_ID", test_servers::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", test_servers::SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
    ]
}

/// The endpoint URI of `prefix` in `bucket` on port `port` of 127.0.0.1, in sai3-bench's
/// `s3://host:port/...` form.
pub fn s3_uri(port: u16, bucket: &str, prefix: &str) -> String {
    format!("s3://127.0.0.1:{port}/{bucket}/{prefix}/")
}

/// The dataset-shaped S3 server (in this process, on the port of the config's endpoints)
/// holding the dataset of the config at `config`, `present` at the start.
///
/// # Errors
/// The config cannot be loaded or served (see [`dataset_objects::dataset_server`]).
pub fn serve(config: &Path, present: Present) -> anyhow::Result<DatasetS3> {
    let dataset = Dataset::load(config)?;
    let (server, _) =
        dataset_objects::dataset_server(&dataset, |_, _, o| present.of(o), Duration::ZERO)?;
    Ok(server)
}

/// Deletes every object under `prefix` (a directory, without trailing `/`) of `bucket` through
/// the S3 protocol; returns how many there were.
///
/// # Errors
/// A LIST or DELETE fails.
pub fn remove_prefix(server: &DatasetS3, bucket: &str, prefix: &str) -> anyhow::Result<usize> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let store = server.store(bucket);
    let prefix = object_store::path::Path::from(prefix);
    let locations = store.list(Some(&prefix)).map_ok(|o| o.location).boxed();
    let deleted: Vec<_> = runtime.block_on(store.delete_stream(locations).try_collect())?;
    Ok(deleted.len())
}

/// The shape of a sai3-bench dataset config of one pool of tiny objects.
#[derive(Debug, Clone)]
pub struct DatasetConfig {
    /// `(width, depth, files per leaf)` of a tree; `None`: flat names.
    pub tree: Option<(u64, u32, u64)>,
    /// Flat key-prefix shards (0: none).
    pub shards: u32,
    /// Objects (for a tree: `width^depth * files`).
    pub count: u64,
    /// Fixed object size in bytes.
    pub size: u64,
    /// Endpoint URIs (object `i` on endpoint `i % E`: `parallel` prepare).
    pub endpoints: Vec<String>,
}

impl DatasetConfig {
    /// A tree of width 32 and depth 2 (1,024 leaf directories, as `examples/local-1m.yaml`)
    /// holding at least `count` objects.
    pub fn tree(count: u64, size: u64, endpoints: Vec<String>) -> Self {
        let files = count.div_ceil(1024).max(1);
        DatasetConfig {
            tree: Some((32, 2, files)),
            shards: 0,
            count: 1024 * files,
            size,
            endpoints,
        }
    }

    /// `count` flat objects under 64 key-prefix shards (a LIST per shard prefix).
    pub fn flat(count: u64, size: u64, endpoints: Vec<String>) -> Self {
        DatasetConfig {
            tree: None,
            shards: 64,
            count,
            size,
            endpoints,
        }
    }

    /// The YAML text.
    pub fn yaml(&self) -> String {
        let mut y = String::from("duration: 10s\nprepare:\n  prepare_strategy: parallel\n");
        if let Some((w, d, f)) = self.tree {
            y += &format!(
                "  directory_structure: {{ width: {w}, depth: {d}, files_per_dir: {f}, \
                 distribution: bottom, dir_mask: \"d%d_w%d.dir\" }}\n"
            );
        }
        if self.shards > 0 {
            y += &format!("  key_prefix_shards: {}\n", self.shards);
        }
        y += &format!(
            "  ensure_objects:\n    - {{ count: {}, size_spec: {}, fill: zero }}\n",
            self.count, self.size
        );
        y += "multi_endpoint:\n  endpoints:\n";
        for uri in &self.endpoints {
            y += &format!("    - \"{uri}\"\n");
        }
        y += "workload:\n  - { op: get, path: \"*\", weight: 100 }\n";
        y
    }

    /// Writes the config to `{dir}/{name}.yaml` and returns its path.
    ///
    /// # Errors
    /// It cannot be written.
    pub fn write(&self, dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, self.yaml())?;
        Ok(path)
    }
}

/// `n` as people write it: `1M`, `100k`, `20480`.
pub fn count_label(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n.is_multiple_of(1_000_000) => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n.is_multiple_of(1_000) => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}
