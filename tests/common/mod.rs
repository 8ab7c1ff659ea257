//! Helpers shared by the integration tests: run the real binary and read its typed reports,
//! build configs ([`config::Config`]), and describe endpoints of every kind
//! ([`endpoint::Endpoint`]: `file://`, moto, s3s-fs, Azurite).
#![allow(dead_code)]

pub mod config;
pub mod endpoint;

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

    /// Runs a config command (`<cmd> --config C --cache-dir D <extra>`).
    pub fn run_config(&self, cmd: &str, config: &Path, cache_dir: &Path, extra: &[&str]) -> Output {
        self.command()
            .arg(cmd)
            .arg("--config")
            .arg(config)
            .arg("--cache-dir")
            .arg(cache_dir)
            .args(extra)
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
