//! Project automation (the cargo-xtask pattern): `cargo xtask <task>`.
//!
//! * `test`: everything CI checks, in order: formatting, `tidy`, clippy (`-D warnings`, all
//!   targets) for each backend feature set, the tests of the library crates, the root package's
//!   tests with both backends, and its CLI tests and the library example
//!   (`examples/bench_prepare.rs`) in the fjall-only and redb-only builds. It installs the protocol servers the tests start on
//!   127.0.0.1 when they are missing (moto and s3s-fs for S3, Azurite for Azure Blob). Last, a
//!   smoke run of the benchmark harness: `bench --quick` of every suite into
//!   `target/bench-smoke/`, which fails when a suite reports no figure (no speed is asserted).
//!   `.ci/run` calls exactly this.
//! * `tidy`: the docs agree with the code (module tables of `docs/ARCHITECTURE.md`, key tags and
//!   keyspaces of `docs/FORMATS.md`, keyspace names only in the cache repository); see
//!   `xtask/src/tidy.rs` for the exact formats. `cargo xtask tidy DIR` checks another checkout.
//! * `bench [SUITE...] [--quick] [--files N] [--backend fjall,redb] [--write-docs]`: builds the
//!   release CLI with both backends and the harness `cache-bench` (`crates/cache-bench`), runs the
//!   suites (all by default, in their order) into `target/bench-report/results.jsonl` (progress on
//!   stderr), writes the report next to it (`summary.md`, `figures.csv`, `ratios.csv`,
//!   `goals.csv`, one SVG plot per suite) and prints the summary. `--write-docs` also writes
//!   `docs/PERFORMANCE.md` and its plots (`docs/bench/`).
//! * `demo`: the main job on a fresh machine: builds the tool (release, default backend fjall),
//!   prepares `examples/local-100k.yaml` (100,000 files on 4 local endpoints under
//!   `/tmp/sai3-cache-demo`) twice, so the second run shows the cache at work, then looks up a
//!   few objects and lists the datasets the cache dir knows. Pass another config as argument to
//!   use it instead.
//!
//! * `crash [--trials N] [--scenario S[,S...]] [--backend B]`: the crash campaign of
//!   `tests/crash/` (release build): N trials (default 200) per scenario and backend; see
//!   `xtask/src/crash.rs`. `test` runs a few of each.
//! * `corrupt [--trials N]`: the corruption campaign of `tests/corruption.rs` (release build,
//!   both backends): N bytes flipped per file of every target, besides the truncations, swaps
//!   and replacements (default 16; `test` flips fewer); the table of outcomes is printed and
//!   written to `target/corruption-report.jsonl`.
//! * `fuzz [--seconds S] [TARGET...]`: the cargo-fuzz targets of `fuzz/` (nightly), S seconds
//!   each; see `xtask/src/fuzz.rs`.
//!
//! Every step prints what it runs; the first failure stops the task with a non-zero exit.

mod crash;
mod examples;
mod fuzz;
mod tidy;

use std::path::{Path, PathBuf};
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
    // Clippy: the whole workspace with default features (fjall), then the root package with
    // redb alone and with both backends (cross-backend and runtime --backend code).
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
    // Tests: the library crates (and xtask) once; the root package's tests with both backends
    // built in (every behaviour runs on each backend, plus the cross-backend ones); and for each
    // single-backend build only what differs there, the CLI (its default backend, --help).
    // Running every root test again per single-backend build repeated the same behaviours and
    // took a quarter of CI's time.
    cargo(&["test", "--workspace", "--exclude", "sai3-cache"])?;
    cargo(&["test", "--package", "sai3-cache", "--all-features"])?;
    let single_backend: [&[&str]; 2] = [&[], &["--no-default-features", "--features", "redb"]];
    for features in single_backend {
        let mut args = vec!["test", "--package", "sai3-cache", "--bins", "--test", "cli"];
        args.extend_from_slice(features);
        cargo(&args)?;
        // The library example: a benchmark's prepare loop on the public API, run twice.
        let mut args = vec![
            "run",
            "--package",
            "sai3-cache",
            "--example",
            "bench_prepare",
        ];
        args.extend_from_slice(features);
        cargo(&args)?;
    }
    bench_smoke()
}

/// The usage line of `cargo xtask bench`.
const BENCH_USAGE: &str =
    "cargo xtask bench [SUITE...] [--quick] [--files N] [--backend fjall,redb] [--write-docs]";

/// Where the harness declares its suites, in the order it runs them.
const SUITES_RS: &str = "crates/cache-bench/src/suites/mod.rs";

/// The workspace root (xtask lives in `xtask/`).
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if set, else `target/` of the workspace.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                std::env::current_dir().map_or(dir.clone(), |cwd| cwd.join(&dir))
            }
        }
        None => root.join("target"),
    }
}

/// The suites of the harness, in order: the strings of `pub const SUITES` in [`SUITES_RS`]
/// (read from the source, so that the list lives in one place).
fn bench_suites(root: &Path) -> Result<Vec<String>, String> {
    let path = root.join(SUITES_RS);
    let src = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let list = src
        .find("pub const SUITES")
        .and_then(|at| {
            let rest = &src[at..];
            let open = rest.find('=')?;
            let close = rest[open..].find("];")?;
            Some(&rest[open..open + close])
        })
        .ok_or_else(|| {
            format!(
                "no `pub const SUITES: [&str; N] = [...];` in {}",
                path.display()
            )
        })?;
    let suites: Vec<String> = list
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    if suites.is_empty() {
        return Err(format!("`SUITES` in {} names no suite", path.display()));
    }
    Ok(suites)
}

/// What `cargo xtask bench` runs.
#[derive(Debug, Default, PartialEq)]
struct BenchOptions {
    /// Suites to run; empty: all.
    suites: Vec<String>,
    /// Small sizes, few runs.
    quick: bool,
    /// `--files N`.
    files: Option<u64>,
    /// `--backend LIST`.
    backend: Option<String>,
    /// Also write `docs/PERFORMANCE.md`.
    write_docs: bool,
}

/// Parses the arguments of `cargo xtask bench` (suites are checked against `known`).
fn parse_bench(args: &[String], known: &[String]) -> Result<BenchOptions, String> {
    let mut options = BenchOptions::default();
    let mut unknown = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if arg.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next().cloned())
                .ok_or_else(|| format!("{name} needs a value (usage: {BENCH_USAGE})"))
        };
        match flag {
            "--quick" if inline.is_none() => options.quick = true,
            "--write-docs" if inline.is_none() => options.write_docs = true,
            "--files" => {
                let n = value("--files")?;
                options.files = Some(
                    n.replace('_', "")
                        .parse()
                        .map_err(|_| format!("--files takes a number of files, not {n:?}"))?,
                );
            }
            "--backend" => options.backend = Some(value("--backend")?),
            _ if arg.starts_with('-') => unknown.push(arg.clone()),
            suite => options.suites.push(suite.to_owned()),
        }
    }
    if !unknown.is_empty() {
        return Err(format!(
            "unknown flag{} {} (usage: {BENCH_USAGE})",
            if unknown.len() > 1 { "s" } else { "" },
            unknown.join(", ")
        ));
    }
    if let Some(suite) = options.suites.iter().find(|s| !known.contains(s)) {
        return Err(format!(
            "unknown suite {suite:?} (suites: {})",
            known.join(", ")
        ));
    }
    Ok(options)
}

/// Runs a built program, stderr and stdout passed through.
fn run_program(program: &Path, args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    eprintln!("\n==> {} {}", program.display(), args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    eprintln!(
        "<== {} ({:.1} s)",
        program.file_name().map_or_else(
            || program.display().to_string(),
            |n| n.to_string_lossy().into_owned()
        ),
        started.elapsed().as_secs_f64()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{} {}` failed with {status}",
            program.display(),
            args.join(" ")
        ))
    }
}

/// Builds the release CLI (both backends) and the harness, runs the suites of `options` into
/// `report_dir/results.jsonl` and writes the report into `report_dir` (and `docs`). Returns the
/// results file.
fn run_bench(
    options: &BenchOptions,
    target: &Path,
    report_dir: &Path,
    docs: Option<&Path>,
) -> Result<PathBuf, String> {
    cargo(&[
        "build",
        "--release",
        "--package",
        "sai3-cache",
        "--all-features",
    ])?;
    cargo(&["build", "--release", "--package", "cache-bench"])?;
    let release = target.join("release");
    let harness = release.join("cache-bench");
    let results = report_dir.join("results.jsonl");
    let path = |p: &Path| p.display().to_string();
    let mut run = vec!["run".to_owned()];
    run.extend(options.suites.iter().cloned());
    if options.quick {
        run.push("--quick".into());
    }
    if let Some(n) = options.files {
        run.extend(["--files".into(), n.to_string()]);
    }
    if let Some(b) = &options.backend {
        run.extend(["--backend".into(), b.clone()]);
    }
    run.extend([
        "--cli".into(),
        path(&release.join("sai3-cache")),
        "--out".into(),
        path(&results),
    ]);
    run_program(&harness, &run)?;
    let mut report = vec![
        "report".to_owned(),
        "--input".into(),
        path(&results),
        "--out".into(),
        path(report_dir),
    ];
    if let Some(docs) = docs {
        report.extend(["--docs".into(), path(docs)]);
    }
    run_program(&harness, &report)?;
    Ok(results)
}

fn bench(args: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let options = parse_bench(args, &bench_suites(&root)?)?;
    let target = target_dir(&root);
    let report_dir = target.join("bench-report");
    let docs = options
        .write_docs
        .then(|| root.join("docs").join("PERFORMANCE.md"));
    run_bench(&options, &target, &report_dir, docs.as_deref())?;
    let summary_path = report_dir.join("summary.md");
    let summary = std::fs::read_to_string(&summary_path)
        .map_err(|e| format!("cannot read {}: {e}", summary_path.display()))?;
    println!("{summary}");
    eprintln!(
        "\nreport in {}: summary.md, figures.csv, ratios.csv, goals.csv, one SVG plot per suite; \
         records in results.jsonl",
        report_dir.display()
    );
    if let Some(docs) = docs {
        eprintln!(
            "wrote {} (plots in {})",
            docs.display(),
            root.join("docs").join("bench").display()
        );
    }
    Ok(())
}

/// The suites of `known` without a figure record in `results` (JSON lines as `cache-bench`
/// writes them: `"kind":"figure"` and `"suite":"NAME"`, with or without a space after colons).
fn suites_without_figures(results: &str, known: &[String]) -> Vec<String> {
    let figures: Vec<String> = results
        .lines()
        .map(|line| line.replace("\": ", "\":"))
        .filter(|line| line.contains("\"kind\":\"figure\""))
        .collect();
    known
        .iter()
        .filter(|suite| {
            let field = format!("\"suite\":\"{suite}\"");
            !figures.iter().any(|line| line.contains(&field))
        })
        .cloned()
        .collect()
}

/// The smoke run of `test`: every suite, quick, into `target/bench-smoke/`; fails when a suite
/// reports no figure. No speed is asserted.
fn bench_smoke() -> Result<(), String> {
    let root = workspace_root();
    let suites = bench_suites(&root)?;
    let target = target_dir(&root);
    let report_dir = target.join("bench-smoke");
    let options = BenchOptions {
        quick: true,
        ..BenchOptions::default()
    };
    let results = run_bench(&options, &target, &report_dir, None)?;
    let text = std::fs::read_to_string(&results)
        .map_err(|e| format!("cannot read {}: {e}", results.display()))?;
    let missing = suites_without_figures(&text, &suites);
    if missing.is_empty() {
        eprintln!(
            "\nbench smoke run: every suite reported figures ({})",
            report_dir.display()
        );
        Ok(())
    } else {
        Err(format!(
            "bench smoke run: no figure from suite{} {} (see {})",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            results.display()
        ))
    }
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

/// `--trials N` of a campaign (`default` without it).
fn parse_trials(task: &str, args: &[String], default: u64) -> Result<u64, String> {
    match args {
        [] => Ok(default),
        [flag, n] if flag == "--trials" => n
            .parse::<u64>()
            .map_err(|_| format!("--trials takes a number, not {n:?}")),
        other => Err(format!(
            "usage: cargo xtask {task} [--trials N]; got {other:?}"
        )),
    }
}

/// Runs the root package's test `test` in release with both backends, `--nocapture`, with
/// `env` set.
fn campaign(name: &str, test: &str, env: &[(&str, String)], extra: &[&str]) -> Result<(), String> {
    let started = Instant::now();
    let shown: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    eprintln!(
        "\n==> {} cargo test --release --all-features --test {test}",
        shown.join(" ")
    );
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args([
            "test",
            "--release",
            "--package",
            "sai3-cache",
            "--all-features",
            "--test",
            test,
            "--",
            "--nocapture",
        ])
        .args(extra)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    eprintln!(
        "<== {name} campaign ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("the {name} campaign failed: {status}"))
    }
}

/// `corrupt [--trials N]`: `tests/corruption.rs` in release with both backends, N bytes flipped
/// per file; the outcome table in `target/corruption-report.jsonl`.
fn corrupt(args: &[String]) -> Result<(), String> {
    let trials = parse_trials("corrupt", args, 16)?;
    let report = target_dir(&workspace_root()).join("corruption-report.jsonl");
    let env = [
        ("SAI3_CORRUPTION_TRIALS", trials.to_string()),
        ("SAI3_CORRUPTION_REPORT", report.display().to_string()),
    ];
    campaign("corruption", "corruption", &env, &[])?;
    eprintln!("outcome table in {}", report.display());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("tidy") => tidy::tidy(args.get(1).map(std::path::Path::new)),
        Some("bench") => bench(&args[1..]),
        Some("demo") => demo(&args[1..]),
        Some("fuzz") => fuzz::fuzz(&workspace_root(), &args[1..]),
        Some("crash") => crash::run(&args[1..]),
        Some("corrupt") => corrupt(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 test    fmt check, tidy, clippy -D warnings, tests for fjall, redb, and both,\n          \
                 a quick smoke run of every benchmark suite (target/bench-smoke/)\n  \
                 tidy    the docs agree with the code (module tables, key tags, keyspace names)\n          \
                 [workspace dir, default: this one]\n  \
                 bench   the benchmark suites (crates/cache-bench); report in target/bench-report/\n          \
                 [SUITE...] [--quick] [--files N] [--backend fjall,redb] [--write-docs]\n          \
                 (--write-docs also writes docs/PERFORMANCE.md)\n  \
                 demo    prepare examples/local-100k.yaml twice (or the config given) and look up objects\n  \
                 fuzz    the cargo-fuzz targets of fuzz/ on nightly [--seconds S, default 60] [TARGET...]\n  \
                 crash   children SIGKILLed at random moments, checked after each (tests/crash/)\n          \
                 [--trials N, default 200] [--scenario prepare,list,push,pull,agents] [--backend B]\n  \
                 corrupt files of caches, sync manifests and archives damaged, reads checked after\n          \
                 each (tests/corruption.rs) [--trials N bytes flipped per file, default 16]"
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

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn suites_are_read_from_the_harness() {
        let suites = bench_suites(&workspace_root()).expect("suites");
        assert_eq!(suites.first().map(String::as_str), Some("paths"));
        assert!(suites.iter().any(|s| s == "backends"), "{suites:?}");
    }

    #[test]
    fn bench_arguments() {
        let known = strings(&["paths", "ledger"]);
        let options = parse_bench(
            &strings(&[
                "ledger",
                "--quick",
                "--files",
                "1_000",
                "--backend=redb",
                "--write-docs",
            ]),
            &known,
        )
        .expect("valid");
        assert_eq!(
            options,
            BenchOptions {
                suites: strings(&["ledger"]),
                quick: true,
                files: Some(1000),
                backend: Some("redb".into()),
                write_docs: true,
            }
        );
        assert_eq!(
            parse_bench(&[], &known).expect("valid"),
            BenchOptions::default()
        );
        let err = parse_bench(&strings(&["--fast", "--quick", "-x"]), &known).expect_err("flags");
        assert!(err.contains("unknown flags --fast, -x"), "{err}");
        let err = parse_bench(&strings(&["listing"]), &known).expect_err("suite");
        assert!(err.contains("unknown suite \"listing\""), "{err}");
        let err = parse_bench(&strings(&["--files"]), &known).expect_err("value");
        assert!(err.contains("--files needs a value"), "{err}");
        let err = parse_bench(&strings(&["--files", "many"]), &known).expect_err("number");
        assert!(err.contains("not \"many\""), "{err}");
    }

    #[test]
    fn suites_without_figures_are_named() {
        let known = strings(&["paths", "ledger", "sync"]);
        let results = concat!(
            r#"{"kind":"machine","cpus":2}"#,
            "\n",
            r#"{"kind":"figure","suite":"paths","name":"closed form"}"#,
            "\n",
            r#"{"kind": "figure", "suite": "sync", "name": "push"}"#,
            "\n",
            r#"{"kind":"note","suite":"ledger","text":"not yet written"}"#,
            "\n",
        );
        assert_eq!(
            suites_without_figures(results, &known),
            strings(&["ledger"])
        );
    }
}
