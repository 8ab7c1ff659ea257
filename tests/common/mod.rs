//! Helpers shared by the integration tests: run the real binary and read its typed reports,
//! build configs ([`config::Config`]), and describe endpoints of every kind
//! ([`endpoint::Endpoint`]: `file://`, moto, s3s-fs, Azurite).
#![allow(dead_code)]

pub mod config;
pub mod endpoint;
pub mod files;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use cache_sai3::prepare::PrepareReport;
use cache_sai3::sync::EndpointSync;
use cache_sai3::verify::EndpointDrift;
use serde::de::DeserializeOwned;

#[allow(unused_imports)] // not every test binary builds configs
pub use config::Config;

/// Backends compiled into this test build.
pub fn backends() -> Vec<&'static str> {
    let mut out = Vec::new();
    if cfg!(feature = "fjall") {
        out.push("fjall");
    }
    if cfg!(feature = "redb") {
        out.push("redb");
    }
    out
}

/// The tool, with a backend.
pub fn tool(backend: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sai3-cache"));
    c.args(["--backend", backend]);
    c
}

/// Runs the tool and returns its output.
pub fn run(backend: &str, args: &[&str]) -> Output {
    tool(backend).args(args).output().expect("run sai3-cache")
}

/// Runs `prepare --json` and returns the report; panics with stderr on failure.
pub fn prepare(backend: &str, config: &Path, cache_dir: &Path, extra: &[&str]) -> PrepareReport {
    Sai3::new(backend).prepare(config, cache_dir, extra)
}

/// Text of a path, for argument lists.
pub fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Stderr of an output, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Parses the JSON on stdout of a successful run; panics naming `what` and stderr otherwise.
pub fn parse<T: DeserializeOwned>(what: &str, out: &Output) -> T {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        stderr(out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} printed no valid JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// What `lookup --json` prints per object (the CLI has no library type for it).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Found {
    /// Object number within its pool.
    pub index: u64,
    /// Pool number.
    pub pool: u16,
    /// Path relative to the endpoint.
    pub path: String,
    /// Full URI.
    pub uri: String,
    /// Endpoint number.
    pub endpoint: u16,
    /// Agent number.
    pub agent: u32,
    /// Ledger state, when the ledger knows the object.
    pub state: Option<String>,
    /// Size the ledger recorded.
    pub size: Option<u64>,
}

/// The tool with a backend and an environment (credentials, emulator settings): runs commands
/// and parses their typed reports.
#[derive(Debug, Clone)]
pub struct Sai3 {
    /// The backend passed as `--backend`.
    pub backend: String,
    env: Vec<(String, String)>,
}

impl Sai3 {
    /// The tool with `backend` and the inherited environment.
    pub fn new(backend: &str) -> Self {
        Sai3 {
            backend: backend.to_owned(),
            env: Vec::new(),
        }
    }

    /// Adds environment variables to every command.
    pub fn with_env(mut self, env: &[(String, String)]) -> Self {
        self.env.extend(env.iter().cloned());
        self
    }

    /// A command of the tool with backend and environment set.
    pub fn command(&self) -> Command {
        let mut c = tool(&self.backend);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs the tool with `args` and returns its output.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.command().args(args).output().expect("run sai3-cache")
    }

    /// A config command (`<cmd> --config C --cache-dir D <extra>`), not started.
    pub fn config_command(
        &self,
        cmd: &str,
        config: &Path,
        cache_dir: &Path,
        extra: &[&str],
    ) -> Command {
        let mut c = self.command();
        c.arg(cmd)
            .arg("--config")
            .arg(config)
            .arg("--cache-dir")
            .arg(cache_dir)
            .args(extra);
        c
    }

    /// Runs a config command (`<cmd> --config C --cache-dir D <extra>`).
    pub fn run_config(&self, cmd: &str, config: &Path, cache_dir: &Path, extra: &[&str]) -> Output {
        self.config_command(cmd, config, cache_dir, extra)
            .output()
            .expect("run sai3-cache")
    }

    /// Runs a config command with `--json`; panics with stderr on failure.
    pub fn json<T: DeserializeOwned>(
        &self,
        cmd: &str,
        config: &Path,
        cache_dir: &Path,
        extra: &[&str],
    ) -> T {
        let mut args = vec!["--json"];
        args.extend_from_slice(extra);
        let out = self.run_config(cmd, config, cache_dir, &args);
        parse(&format!("{cmd} {extra:?}"), &out)
    }

    /// `prepare --json`.
    pub fn prepare(&self, config: &Path, cache_dir: &Path, extra: &[&str]) -> PrepareReport {
        self.json("prepare", config, cache_dir, extra)
    }

    /// `verify --json --sample K`.
    pub fn verify(
        &self,
        config: &Path,
        cache_dir: &Path,
        k: usize,
        extra: &[&str],
    ) -> Vec<EndpointDrift> {
        let k = k.to_string();
        let mut args = vec!["--sample", &k];
        args.extend_from_slice(extra);
        self.json("verify", config, cache_dir, &args)
    }

    /// `pull --json`.
    pub fn pull(&self, config: &Path, cache_dir: &Path) -> Vec<EndpointSync> {
        self.json("pull", config, cache_dir, &[])
    }

    /// `push --json`.
    pub fn push(&self, config: &Path, cache_dir: &Path) -> Vec<EndpointSync> {
        self.json("push", config, cache_dir, &[])
    }

    /// `lookup --json INDEX...`.
    pub fn lookup(&self, config: &Path, cache_dir: &Path, indices: &[&str]) -> Vec<Found> {
        self.json("lookup", config, cache_dir, indices)
    }
}

/// Every dataset file (`*.dat`) under `dir`, relative, skipping the endpoint cache directory.
pub fn dataset_files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("sai3-kv-cache"))
            {
                continue;
            }
            if p.is_dir() {
                walk(base, &p, out);
            } else if let Ok(rel) = p.strip_prefix(base) {
                let rel = rel.to_string_lossy().into_owned();
                if rel.ends_with(".dat") {
                    out.push(rel);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `approximate_entries` of keyspace `name` in the cache at `dir`, from `stats --json`.
pub fn keyspace_entries(backend: &str, dir: &Path, name: &str) -> u64 {
    let out = run(backend, &["stats", "--json", "--cache-dir", &s(dir)]);
    let stats: serde_json::Value = parse("stats", &out);
    stats["keyspaces"]
        .as_array()
        .expect("keyspaces")
        .iter()
        .find(|k| k["name"] == name)
        .and_then(|k| k["approximate_entries"].as_u64())
        .unwrap_or_else(|| panic!("no keyspace {name} in {stats}"))
}

/// Runs `body` once per compiled backend; a failure names `what` (the endpoint kind) and the
/// backend, whatever panicked (an assertion or a helper).
pub fn each_backend(what: &str, body: impl Fn(&'static str)) {
    for backend in backends() {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(backend)));
        if let Err(panic) = result {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("[{what}, backend {backend}] {msg}");
        }
    }
}

/// A command of the tool running in the background. Its stdout and stderr go to files, not
/// pipes, so that several can run at once and be waited for in any order; it is killed (by its
/// own handle) if dropped while still running.
pub struct Running {
    /// What it is, in failure messages.
    pub what: String,
    child: std::process::Child,
    stdout: std::path::PathBuf,
    stderr: std::path::PathBuf,
}

/// Numbers the output files of [`Sai3::spawn_config`].
static SPAWNED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Sai3 {
    /// Starts a config command (`<cmd> --config C --cache-dir D <extra>`) without waiting for
    /// it; its stdout and stderr go to files in `logs`.
    pub fn spawn_config(
        &self,
        what: &str,
        cmd: &str,
        config: &Path,
        cache_dir: &Path,
        extra: &[&str],
        logs: &Path,
    ) -> Running {
        std::fs::create_dir_all(logs).expect("log directory");
        let n = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let stdout = logs.join(format!("run{n}.stdout"));
        let stderr = logs.join(format!("run{n}.stderr"));
        let child = self
            .config_command(cmd, config, cache_dir, extra)
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("spawn sai3-cache");
        Running {
            what: what.to_owned(),
            child,
            stdout,
            stderr,
        }
    }
}

impl Running {
    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// True once the process has ended.
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("poll the child").is_some()
    }

    /// Waits up to `limit` for the process to end and returns its output; kills it and fails
    /// (with its stderr so far) when it does not end in time.
    pub fn finish(mut self, limit: std::time::Duration) -> Output {
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not end within {limit:?}; its stderr: {}",
                    self.what,
                    String::from_utf8_lossy(&std::fs::read(&self.stderr).unwrap_or_default())
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        self.output(status)
    }

    /// Waits (up to `limit`) until the process, run with `-v`, has logged a ledger checkpoint
    /// that recorded at least one created object, and returns that count: from then on a kill
    /// leaves a ledger that a resume trusts. Fails when the process ends first.
    pub fn wait_for_checkpoint(&mut self, limit: std::time::Duration) -> u64 {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
            let recorded = stderr
                .lines()
                .filter(|l| l.contains("ledger checkpoint"))
                .filter_map(|l| l.rsplit("recorded=").next()?.trim().parse::<u64>().ok())
                .max();
            if let Some(n) = recorded.filter(|&n| n > 0) {
                return n;
            }
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                panic!(
                    "expected {} still running after its first ledger checkpoint, found it \
                     ended ({status}) without one: make the dataset larger; its stderr: {stderr}",
                    self.what
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "expected {} to log a ledger checkpoint within {limit:?}; its stderr: {stderr}",
                self.what
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Kills the process (SIGKILL), reaps it and returns what it had printed.
    pub fn kill(mut self) -> Output {
        self.child.kill().expect("kill the child");
        let status = self.child.wait().expect("reap the child");
        self.output(status)
    }

    fn output(&self, status: std::process::ExitStatus) -> Output {
        Output {
            status,
            stdout: std::fs::read(&self.stdout).unwrap_or_default(),
            stderr: std::fs::read(&self.stderr).unwrap_or_default(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A client of the S3 endpoint `uri` of a local test server (`s3://127.0.0.1:PORT/bucket/prefix/`,
/// with the test servers' credentials), and the endpoint's key prefix (`""` or ending in `/`).
pub fn s3_store(uri: &str) -> (std::sync::Arc<dyn object_store::ObjectStore>, String) {
    let rest = uri
        .strip_prefix("s3://")
        .unwrap_or_else(|| panic!("not an s3:// URI: {uri}"));
    let mut parts = rest.splitn(3, '/');
    let host = parts.next().expect("host:port");
    let bucket = parts
        .next()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| panic!("no bucket in {uri}"));
    let prefix = parts.next().unwrap_or("").trim_matches('/');
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(format!("http://{host}"))
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_access_key_id(test_servers::ACCESS_KEY)
        .with_secret_access_key(test_servers::SECRET_KEY)
        .with_virtual_hosted_style_request(false)
        .build()
        .expect("S3 client of a test server");
    (std::sync::Arc::new(store), prefix)
}

/// Every object of the S3 endpoint `uri` (a local test server) whose key, relative to the
/// endpoint, is under the directory `under` (e.g. `sai3-kv-cache/agents/0`), with its bytes,
/// by key relative to the endpoint.
pub fn s3_objects(uri: &str, under: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    use futures::{StreamExt, TryStreamExt};
    use object_store::ObjectStoreExt;
    let (store, prefix) = s3_store(uri);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = object_store::path::Path::from(format!("{prefix}{}", under.trim_matches('/')));
    rt.block_on(async {
        let listed: Vec<object_store::ObjectMeta> = store
            .list(Some(&dir))
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("list {uri} under {under}: {e}"));
        // Fetched 16 at a time: a test server's GETs are slow one by one.
        futures::stream::iter(listed)
            .map(|m| {
                let store = store.clone();
                let prefix = prefix.clone();
                async move {
                    let key = m.location.as_ref();
                    let rel = key.strip_prefix(prefix.as_str()).unwrap_or(key).to_owned();
                    let got = store
                        .get(&m.location)
                        .await
                        .unwrap_or_else(|e| panic!("get {key} of {uri}: {e}"));
                    let bytes = got.bytes().await.expect("object bytes").to_vec();
                    (rel, bytes)
                }
            })
            .buffer_unordered(16)
            .collect()
            .await
    })
}

/// Every file under `dir` (recursively), by path relative to `dir`, with its length and a hash
/// of its bytes.
pub fn file_digests(dir: &Path) -> std::collections::BTreeMap<String, (u64, u64)> {
    fn walk(base: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, (u64, u64)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if let Ok(bytes) = std::fs::read(&p) {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                let rel = p.strip_prefix(base).unwrap_or(&p).display().to_string();
                out.insert(rel, (bytes.len() as u64, h.finish()));
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The agents that have a shard under `{dir}/agents/` (numeric names), e.g. of
/// `{file endpoint}/sai3-kv-cache` or `{cache dir}/endpoints/{id}`.
pub fn shard_agents(dir: &Path) -> std::collections::BTreeSet<u32> {
    std::fs::read_dir(dir.join("agents"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The local shards of object-store endpoint caches in a cache dir:
/// `{cache dir}/endpoints/{16 hex}/agents/{K}/`, as (namespace id, K).
pub fn local_shards(cache_dir: &Path) -> std::collections::BTreeSet<(String, u32)> {
    let mut out = std::collections::BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(cache_dir.join("endpoints")) else {
        return out;
    };
    for e in entries.flatten() {
        let id = e.file_name().to_string_lossy().into_owned();
        if id.len() != 16 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            continue;
        }
        for k in shard_agents(&e.path()) {
            out.insert((id.clone(), k));
        }
    }
    out
}

/// Every object of the S3 endpoint `uri` (a local test server) under the directory `under`
/// (relative to the endpoint; `""`: all), by key relative to the endpoint, with what identifies
/// its stored version (size, last-modified, ETag). One LIST of that prefix only: cheaper than
/// [`endpoint::Place::objects`] on a server whose LIST cost grows with the whole prefix.
pub fn s3_listing(uri: &str, under: &str) -> std::collections::BTreeMap<String, String> {
    use futures::TryStreamExt;
    let (store, prefix) = s3_store(uri);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = object_store::path::Path::from(format!("{prefix}{}", under.trim_matches('/')));
    let listed: Vec<object_store::ObjectMeta> = rt
        .block_on(store.list(Some(&dir)).try_collect())
        .unwrap_or_else(|e| panic!("list {uri} under {under:?}: {e}"));
    listed
        .into_iter()
        .map(|m| {
            let key = m.location.as_ref();
            let rel = key.strip_prefix(prefix.as_str()).unwrap_or(key).to_owned();
            let id = format!("{} {} {:?}", m.size, m.last_modified, m.e_tag);
            (rel, id)
        })
        .collect()
}
