//! `cargo xtask crash [--trials N] [--scenario S[,S...]] [--backend B]`: the crash campaign of
//! `tests/crash/` (release build): N trials (default 200) of each scenario (`prepare`, `list`,
//! `push`, `pull`, `agents`; all by default) with each backend (both by default). `cargo xtask
//! test` runs the same tests with a few trials each.

/// The scenarios of `tests/crash/`, in the order they are reported.
pub const SCENARIOS: [&str; 5] = ["prepare", "list", "push", "pull", "agents"];

/// The backends a campaign can run.
const BACKENDS: [&str; 2] = ["fjall", "redb"];

/// What to run.
#[derive(Debug, PartialEq, Eq)]
pub struct CrashOptions {
    /// Trials per scenario and backend.
    pub trials: u64,
    /// Scenarios (all when empty).
    pub scenarios: Vec<String>,
    /// One backend, or both.
    pub backend: Option<String>,
}

/// Reads `[--trials N] [--scenario S[,S...]] [--backend B]`.
pub fn parse(args: &[String]) -> Result<CrashOptions, String> {
    let mut options = CrashOptions {
        trials: 200,
        scenarios: Vec::new(),
        backend: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--trials" => {
                options.trials = value
                    .parse()
                    .map_err(|_| format!("--trials takes a number, not {value:?}"))?;
            }
            "--scenario" => {
                for s in value.split(',') {
                    if !SCENARIOS.contains(&s) {
                        return Err(format!(
                            "unknown crash scenario {s:?}; scenarios: {}",
                            SCENARIOS.join(", ")
                        ));
                    }
                    options.scenarios.push(s.to_owned());
                }
            }
            "--backend" if BACKENDS.contains(&value.as_str()) => {
                options.backend = Some(value.clone());
            }
            "--backend" => {
                return Err(format!("unknown backend {value:?}; backends: fjall, redb"));
            }
            other => {
                return Err(format!(
                    "usage: cargo xtask crash [--trials N] [--scenario S[,S...]] [--backend B]; \
                     unknown flag {other:?}"
                ));
            }
        }
    }
    Ok(options)
}

/// Runs the campaign (one test thread: kill moments are drawn from a measured whole run).
pub fn run(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let mut env = vec![("SAI3_CRASH_TRIALS", options.trials.to_string())];
    if !options.scenarios.is_empty() {
        env.push(("SAI3_CRASH_SCENARIO", options.scenarios.join(",")));
    }
    if let Some(b) = &options.backend {
        env.push(("SAI3_CRASH_BACKEND", b.clone()));
    }
    crate::campaign("crash", "crash", &env, &["--test-threads", "1"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn flags_are_read_and_bad_ones_refused() {
        let o = parse(&args(&[
            "--trials",
            "7",
            "--scenario",
            "push,pull",
            "--backend",
            "redb",
        ]));
        assert_eq!(
            o,
            Ok(CrashOptions {
                trials: 7,
                scenarios: vec!["push".into(), "pull".into()],
                backend: Some("redb".into()),
            })
        );
        assert_eq!(parse(&[]).map(|o| o.trials), Ok(200));
        assert!(parse(&args(&["--scenario", "reboot"])).is_err());
        assert!(parse(&args(&["--backend", "sled"])).is_err());
        assert!(parse(&args(&["--trials"])).is_err());
        assert!(parse(&args(&["--trials", "many"])).is_err());
    }
}
