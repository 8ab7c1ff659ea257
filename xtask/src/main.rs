//! Project automation (the cargo-xtask pattern): `cargo xtask <task>`.
//!
//! * `test`: everything CI checks, in order: formatting, `tidy`, clippy (`-D warnings`, all
//!   targets) for each backend feature set, and the test suites of the default feature set
//!   (fjall), of `redb` alone, and of both together. It installs the protocol servers the tests start on
//!   127.0.0.1 when they are missing (moto and s3s-fs for S3, Azurite for Azure Blob). `.ci/run` calls exactly this.
//! * `tidy`: the docs agree with the code (module tables of `docs/ARCHITECTURE.md`, key tags and
//!   keyspaces of `docs/FORMATS.md`, keyspace names only in the cache repository); see
//!   `xtask/src/tidy.rs` for the exact formats. `cargo xtask tidy DIR` checks another checkout.
//! * `bench`: the criterion backend comparison (`benches/backends.rs`) with both backends.
//! * `demo`: the main job on a fresh machine: builds the tool (release, default backend fjall),
//!   prepares `examples/local-100k.yaml` (100,000 files on 4 local endpoints under
//!   `/tmp/sai3-cache-demo`) twice, so the second run shows the cache at work, then looks up a
//!   few objects and lists the datasets the cache dir knows. Pass another config as argument to
//!   use it instead.
//!
//! Every step prints what it runs; the first failure stops the task with a non-zero exit.

mod tidy;

use std::process::{Command, ExitCode};
use std::time::Instant;

fn cargo(args: &[&str]) -> Result<(), String> {
    let started = Instant::now();
    eprintln!("\n==> cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    eprintln!(
        "<== cargo {} ({:.1} s)",
        args.first().copied().unwrap_or(""),
        started.elapsed().as_secs_f64()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed with {status}", args.join(" ")))
    }
}

/// True when `program arg` runs and succeeds.
fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn install(what: &str, program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!(
        "\n==> installing {what} for the tests: {program} {}",
        args.join(" ")
    );
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("installing {what} failed ({status})"))
    }
}

/// Installs the protocol servers the tests start on 127.0.0.1, when missing: moto (S3, in
/// memory), s3s-fs 0.14.1 (S3 over a directory; later versions need a newer rustc) and
/// Azurite 3.37.0 (Azure Blob).
fn ensure_test_servers() -> Result<(), String> {
    if !runs("moto_server", "--help") {
        install(
            "moto",
            "python3",
            &["-m", "pip", "install", "--quiet", "moto[server]"],
        )?;
    }
    if !runs("s3s-fs", "--version") {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        install(
            "s3s-fs",
            &cargo,
            &[
                "install",
                "s3s-fs@0.14.1",
                "--features",
                "binary",
                "--locked",
            ],
        )?;
    }
    if !runs("azurite-blob", "--version") {
        install(
            "azurite",
            "npm",
            &[
                "install",
                "--global",
                "--no-fund",
                "--no-audit",
                "azurite@3.37.0",
            ],
        )?;
    }
    Ok(())
}

fn test() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    tidy::tidy(None)?;
    ensure_test_servers()?;
    // The whole workspace with default features (fjall), then the root package with redb alone
    // and with both backends (cross-backend and runtime --backend code).
    let feature_sets: [&[&str]; 3] = [
        &["--workspace"],
        &[
            "--package",
            "sai3-cache",
            "--no-default-features",
            "--features",
            "redb",
        ],
        &["--package", "sai3-cache", "--all-features"],
    ];
    for features in feature_sets {
        let mut args = vec!["clippy", "--all-targets"];
        args.extend_from_slice(features);
        args.extend(["--", "-D", "warnings"]);
        cargo(&args)?;
    }
    for features in feature_sets {
        let mut args = vec!["test"];
        args.extend_from_slice(features);
        cargo(&args)?;
    }
    Ok(())
}

fn bench(extra: &[String]) -> Result<(), String> {
    let mut args = vec!["bench", "--bench", "backends", "--features", "redb", "--"];
    args.extend(extra.iter().map(String::as_str));
    cargo(&args)
}

fn demo(extra: &[String]) -> Result<(), String> {
    let config = extra
        .first()
        .cloned()
        .unwrap_or_else(|| "examples/local-100k.yaml".into());
    let cache_dir = "/tmp/sai3-cache-demo";
    cargo(&["build", "--release", "--package", "sai3-cache"])?;
    let tool = std::path::Path::new("target/release/sai3-cache");
    let run = |args: &[&str]| -> Result<(), String> {
        eprintln!("\n==> sai3-cache {}", args.join(" "));
        let status = Command::new(tool)
            .args(args)
            .status()
            .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "sai3-cache {} failed with {status}",
                args.join(" ")
            ))
        }
    };
    run(&["plan", "--config", &config])?;
    eprintln!("\nfirst prepare: learns what exists, creates what is missing, fills the caches");
    run(&["prepare", "--config", &config, "--cache-dir", cache_dir])?;
    eprintln!("\nsecond prepare: the sealed ledger proves what exists; no LIST, nothing to create");
    run(&["prepare", "--config", &config, "--cache-dir", cache_dir])?;
    run(&[
        "lookup",
        "--config",
        &config,
        "--cache-dir",
        cache_dir,
        "0",
        "1",
        "99999",
    ])?;
    eprintln!("\nwhat the cache dir knows: every dataset it prepared, sealed per endpoint");
    run(&["datasets", "--cache-dir", cache_dir])
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("tidy") => tidy::tidy(args.get(1).map(std::path::Path::new)),
        Some("bench") => bench(&args[1..]),
        Some("demo") => demo(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 test    fmt check, tidy, clippy -D warnings, tests for fjall, redb, and both\n  \
                 tidy    the docs agree with the code (module tables, key tags, keyspace names)\n          \
                 [workspace dir, default: this one]\n  \
                 bench   criterion comparison of the fjall and redb backends [criterion args]\n  \
                 demo    prepare examples/local-100k.yaml twice (or the config given) and look up objects"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
