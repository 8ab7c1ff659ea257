//! `cargo xtask fuzz [--seconds S] [TARGET...]`: runs the cargo-fuzz targets of `fuzz/` (every
//! decoder of outside data) for S seconds each (default 60) on the nightly toolchain, installing
//! cargo-fuzz when it is missing. Each target starts from its seeds in `fuzz/corpus/TARGET` (read
//! only) and grows its corpus in `target/fuzz-corpus/TARGET`; a crash stops the task and leaves
//! its input in `fuzz/artifacts/TARGET/` (turn it into a regression test, then fix).

use std::path::Path;
use std::process::Command;

/// The targets, in the order they run.
pub const TARGETS: [&str; 8] = [
    "key",
    "frame",
    "records",
    "manifest",
    "dataset_record",
    "config",
    "listing_key",
    "archive",
];

/// What to run.
#[derive(Debug, PartialEq, Eq)]
pub struct FuzzOptions {
    /// Seconds per target.
    pub seconds: u64,
    /// Targets (all by default).
    pub targets: Vec<String>,
}

/// Reads `[--seconds S] [TARGET...]`.
pub fn parse(args: &[String]) -> Result<FuzzOptions, String> {
    let mut options = FuzzOptions {
        seconds: 60,
        targets: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--seconds" {
            let v = it.next().ok_or("--seconds needs a value")?;
            options.seconds = v
                .parse()
                .map_err(|_| format!("--seconds takes a number of seconds, not {v:?}"))?;
        } else if TARGETS.contains(&a.as_str()) {
            options.targets.push(a.clone());
        } else {
            return Err(format!(
                "unknown fuzz target or flag {a:?}; targets: {}",
                TARGETS.join(", ")
            ));
        }
    }
    if options.targets.is_empty() {
        options.targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    }
    Ok(options)
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    eprintln!("\n==> {what}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed with {status}"))
    }
}

/// Installs cargo-fuzz on the nightly toolchain unless it is there.
fn ensure_cargo_fuzz() -> Result<(), String> {
    let there = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if there {
        return Ok(());
    }
    run(
        Command::new("cargo").args(["+nightly", "install", "cargo-fuzz", "--locked"]),
        "cargo +nightly install cargo-fuzz --locked",
    )
}

/// Runs the fuzz task.
///
/// # Errors
/// Bad arguments, a missing nightly toolchain, or a target that found a crash.
pub fn fuzz(root: &Path, args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    ensure_cargo_fuzz()?;
    for target in &options.targets {
        let grown = root.join("target/fuzz-corpus").join(target);
        std::fs::create_dir_all(&grown)
            .map_err(|e| format!("cannot create {}: {e}", grown.display()))?;
        let seeds = root.join("fuzz/corpus").join(target);
        let mut cmd = Command::new("cargo");
        cmd.current_dir(root)
            .args(["+nightly", "fuzz", "run", target.as_str()])
            .arg(&grown);
        if seeds.is_dir() {
            cmd.arg(&seeds);
        }
        cmd.arg("--")
            .arg(format!("-max_total_time={}", options.seconds))
            .arg("-rss_limit_mb=2048");
        run(
            &mut cmd,
            &format!("fuzz {target} for {} s", options.seconds),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn arguments() {
        let all = parse(&[]).expect("defaults");
        assert_eq!(all.seconds, 60);
        assert_eq!(all.targets.len(), TARGETS.len());
        let some = parse(&strings(&["--seconds", "300", "config"])).expect("valid");
        assert_eq!(
            some,
            FuzzOptions {
                seconds: 300,
                targets: strings(&["config"])
            }
        );
        assert!(parse(&strings(&["--seconds"])).is_err());
        assert!(
            parse(&strings(&["nope"]))
                .expect_err("unknown")
                .contains("targets: key")
        );
    }

    #[test]
    fn every_target_has_a_binary_in_fuzz_cargo_toml() {
        let manifest = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/Cargo.toml"),
        )
        .expect("fuzz/Cargo.toml");
        for t in TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{t}\"")),
                "fuzz/Cargo.toml has no target {t}"
            );
        }
    }
}
