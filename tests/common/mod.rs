//! Helpers shared by the integration tests: run the real binary, write configs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
pub fn prepare(
    backend: &str,
    config: &Path,
    cache_dir: &Path,
    extra: &[&str],
) -> serde_json::Value {
    prepare_with_env(backend, config, cache_dir, extra, &[])
}

/// [`prepare`] with extra environment variables (credentials, emulator settings).
pub fn prepare_with_env(
    backend: &str,
    config: &Path,
    cache_dir: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> serde_json::Value {
    let out = tool(backend)
        .envs(env.iter().copied())
        .args(["prepare", "--json", "--config"])
        .arg(config)
        .arg("--cache-dir")
        .arg(cache_dir)
        .args(extra)
        .output()
        .expect("run prepare");
    assert!(
        out.status.success(),
        "prepare failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("prepare prints JSON")
}

/// A tree config over `n` local endpoints under `root`.
pub fn tree_config(
    root: &Path,
    width: u64,
    depth: u32,
    files: u64,
    endpoints: usize,
    size: &str,
) -> PathBuf {
    let total = width.pow(depth) * files;
    let eps: Vec<String> = (0..endpoints)
        .map(|e| format!("    - file://{}/ep{e}/", root.display()))
        .collect();
    let yaml = format!(
        "duration: 10s\nprepare:\n  directory_structure: {{ width: {width}, depth: {depth}, files_per_dir: {files}, dir_mask: \"d%d_w%d.dir\" }}\n  ensure_objects:\n    - {{ count: {total}, size_spec: {size}, fill: random }}\nmulti_endpoint:\n  endpoints:\n{}\nworkload:\n  - {{ op: get, weight: 1 }}\n",
        eps.join("\n")
    );
    let path = root.join("bench.yaml");
    std::fs::write(&path, yaml).expect("write config");
    path
}

/// Every regular file under `dir`, relative, skipping the endpoint cache directory.
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
    let out = run(
        backend,
        &["stats", "--json", "--cache-dir", &dir.display().to_string()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stats prints JSON");
    stats["keyspaces"]
        .as_array()
        .expect("keyspaces")
        .iter()
        .find(|k| k["name"] == name)
        .and_then(|k| k["approximate_entries"].as_u64())
        .unwrap_or_else(|| panic!("no keyspace {name} in {stats}"))
}
