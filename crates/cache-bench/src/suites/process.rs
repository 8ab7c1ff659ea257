//! Child processes of the suites: the release CLI run as a user runs it (wall time, exit
//! status, its typed JSON report, its peak RSS), a loopback S3 server (`s3s-fs` over a
//! directory of the work dir), and the sai3-bench configs they work on.
//!
//! Peak RSS is the kernel's `ru_maxrss` of the child, read by GNU time (`/usr/bin/time -f
//! %M`, which waits for its child with `wait4`): the workspace forbids `unsafe` code, so this
//! crate cannot call `wait4` itself. Without GNU time it polls `VmHWM` of
//! `/proc/PID/status` every few milliseconds (a lower bound, which misses processes shorter
//! than one poll).

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::de::DeserializeOwned;

use crate::backend::Backend;
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

/// A loopback S3 server: `s3s-fs` (the binary the tests use, from `test-servers`) serving a
/// directory of the work dir on 127.0.0.1, killed by its PID when dropped. Its objects are
/// plain files under `{root}/{bucket}/`, so a suite can also write a dataset's objects
/// straight into that directory, or remove them, behind the server's back.
pub struct S3Server {
    child: Child,
    root: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3Server {
    /// Starts `s3s-fs` over `root` and waits until it accepts connections.
    ///
    /// # Errors
    /// `root` cannot be created, `s3s-fs` is not installed or does not start within 30 s.
    pub fn start(root: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)?;
        let port = test_servers::free_port();
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", test_servers::ACCESS_KEY])
            .args(["--secret-key", test_servers::SECRET_KEY])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("s3s-fs is not installed (cargo xtask test installs it)")?;
        let mut server = S3Server {
            child,
            root: root.to_owned(),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!("s3s-fs exited at once ({status})");
            }
            anyhow::ensure!(Instant::now() < deadline, "s3s-fs did not start in 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// The directory it serves (`{root}/{bucket}/{key}` holds each object).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The environment the CLI needs to reach it.
    pub fn env(&self) -> [(&'static str, &'static str); 3] {
        [
            ("AWS_ACCESS_KEY_ID", test_servers::ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", test_servers::SECRET_KEY),
            ("AWS_REGION", "us-east-1"),
        ]
    }

    /// Creates `bucket` (at least 3 characters) and returns its directory.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn bucket(&self, bucket: &str) -> anyhow::Result<PathBuf> {
        let dir = self.root.join(bucket);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Removes `bucket` and everything in it (files only the server reads, behind its back).
    ///
    /// # Errors
    /// The directory cannot be removed.
    pub fn remove_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        let dir = self.root.join(bucket);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        Ok(())
    }

    /// The endpoint URI of `prefix` in `bucket`, in sai3-bench's `s3://host:port/...` form.
    pub fn uri(&self, bucket: &str, prefix: &str) -> String {
        format!("s3://127.0.0.1:{}/{bucket}/{prefix}/", self.port)
    }

    /// The two metadata files `s3s-fs` keeps in its root for an object it received by PUT
    /// (`.bucket-B.object-K.metadata.json` and `.internal.json`, base64url-named).
    pub fn metadata_files(&self, bucket: &str, key: &str) -> [PathBuf; 2] {
        let stem = format!(
            ".bucket-{}.object-{}",
            base64url(bucket.as_bytes()),
            base64url(key.as_bytes())
        );
        [
            self.root.join(format!("{stem}.metadata.json")),
            self.root.join(format!("{stem}.internal.json")),
        ]
    }
}

/// Base64url without padding (how `s3s-fs` names metadata files).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
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
