//! The command-line tool as a user runs it.

mod common;

use std::io::Read;
use std::process::{Command, Output, Stdio};

use cache_core::{Database, OpenOptions};

fn sai3_cache() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sai3-cache"))
}

#[test]
fn version_and_help() {
    let out = sai3_cache().arg("--version").output().expect("run");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("sai3-cache {}", env!("CARGO_PKG_VERSION"))
    );
    let out = sai3_cache().arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        help.contains("stats") && help.contains("--backend"),
        "{help}"
    );
}

#[cfg(feature = "fjall")]
type Default = cache_fjall::FjallDatabase;
#[cfg(not(feature = "fjall"))]
type Default = cache_redb::RedbDatabase;

#[test]
fn stats_reports_keyspaces_and_refuses_non_caches() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    {
        let db = Default::open(&dir, &OpenOptions::default()).expect("open");
        let ks = cache_core::Database::keyspace(&db, "objects").expect("ks");
        cache_core::Keyspace::insert(&ks, b"k", b"v").expect("insert");
    }
    let out = sai3_cache()
        .args(["stats", "--json", "--cache-dir"])
        .arg(&dir)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let objects = stats["keyspaces"]
        .as_array()
        .expect("keyspaces")
        .iter()
        .find(|k| k["name"] == "objects")
        .expect("objects keyspace");
    assert_eq!(objects["approximate_entries"], 1, "{stats}");

    let missing = tmp.path().join("nope");
    let out = sai3_cache()
        .args(["stats", "--cache-dir"])
        .arg(&missing)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not exist") && stderr.contains("nope"),
        "{stderr}"
    );
    assert!(!missing.exists(), "stats must not create a cache");
}

/// A run whose stdout was closed early must end without a panic.
fn no_panic(what: &str, out: &Output) {
    let stderr = common::stderr(out);
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert_ne!(out.status.code(), Some(101), "{what}: {stderr}");
}

/// NEW (the issue: `sai3-cache stats --json | head -c 10` panicked). Fails until the CLI work
/// lands: output into a pipe whose reader is gone ends the command quietly, never in a panic.
#[test]
fn closed_stdout_pipe_is_not_a_panic() {
    for backend in common::backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = tmp.path().join("cache");
        let config = common::Config::tree(2, 1, 10)
            .size("16")
            .local_endpoints(tmp.path(), 1)
            .write(tmp.path());
        common::prepare(backend, &config, &cache, &[]);
        let coordinator = cache.join(".sai3-coordinator-cache");

        // The reader is gone before the tool writes anything.
        let mut child = common::tool(backend)
            .args(["stats", "--json", "--cache-dir"])
            .arg(&coordinator)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn stats");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        no_panic(&format!("{backend}: stats --json, stdout closed"), &out);

        // `head -c 10` on an output far larger than a pipe holds: 5,000 lookups.
        let mut child = common::tool(backend)
            .args(["lookup", "--json", "--config"])
            .arg(&config)
            .arg("--cache-dir")
            .arg(&cache)
            .args((0..5000).map(|i| (i % 20).to_string()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lookup");
        let mut head = [0u8; 10];
        child
            .stdout
            .take()
            .expect("stdout")
            .read_exact(&mut head)
            .expect("10 bytes");
        let out = child.wait_with_output().expect("wait");
        no_panic(&format!("{backend}: lookup --json | head -c 10"), &out);

        // As a user types it.
        let out = Command::new("bash")
            .args([
                "-c",
                r#""$@" | head -c 10 >/dev/null; exit "${PIPESTATUS[0]}""#,
                "sh",
                env!("CARGO_BIN_EXE_sai3-cache"),
                "--backend",
                backend,
                "stats",
                "--json",
                "--cache-dir",
            ])
            .arg(&coordinator)
            .output()
            .expect("run bash");
        no_panic(&format!("{backend}: stats --json | head -c 10"), &out);
    }
}

/// NEW (the issue: which datasets does a cache dir hold?). Fails until the CLI work lands:
/// `datasets --cache-dir D [--json]` lists each prepared dataset with its config hash, name (the
/// config's file stem), total objects, and per endpoint whether it is sealed. The JSON shape is
/// the lead's: only `config_hash`, `test_name`, `total_objects` and `endpoints[].sealed` are
/// asserted here.
#[test]
fn datasets_lists_what_the_cache_dir_prepared() {
    for backend in common::backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = tmp.path().join("cache");
        let nightly = common::Config::tree(2, 2, 5)
            .size("32")
            .local_endpoints(&tmp.path().join("nightly"), 2)
            .name("nightly")
            .write(tmp.path());
        let smoke = common::Config::flat(7)
            .size("32")
            .local_endpoints(&tmp.path().join("smoke"), 1)
            .name("smoke")
            .write(tmp.path());
        let first = common::prepare(backend, &nightly, &cache, &[]);
        let second = common::prepare(backend, &smoke, &cache, &[]);

        let out = common::run(
            backend,
            &["datasets", "--json", "--cache-dir", &common::s(&cache)],
        );
        let listed: serde_json::Value = common::parse(&format!("{backend}: datasets --json"), &out);
        let all = listed
            .as_array()
            .or_else(|| listed["datasets"].as_array())
            .unwrap_or_else(|| panic!("{backend}: no list of datasets in {listed}"));
        assert_eq!(all.len(), 2, "{backend}: {listed}");
        for (report, name, total, endpoints) in
            [(&first, "nightly", 20, 2), (&second, "smoke", 7, 1)]
        {
            let d = all
                .iter()
                .find(|d| {
                    d["config_hash"].as_str().is_some_and(|h| {
                        h.starts_with(&report.config_hash) || report.config_hash.starts_with(h)
                    })
                })
                .unwrap_or_else(|| {
                    panic!("{backend}: {name} ({}) not in {listed}", report.config_hash)
                });
            assert_eq!(d["test_name"], name, "{backend}: {d}");
            assert_eq!(d["total_objects"], total, "{backend}: {d}");
            let eps = d["endpoints"].as_array().expect("endpoints");
            assert_eq!(eps.len(), endpoints, "{backend}: {d}");
            for e in eps {
                assert_eq!(e["sealed"], true, "{backend}: {d}");
            }
        }

        let out = common::run(backend, &["datasets", "--cache-dir", &common::s(&cache)]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        for (report, name) in [(&first, "nightly"), (&second, "smoke")] {
            assert!(text.contains(name), "{backend}: {text}");
            assert!(text.contains(&report.config_hash), "{backend}: {text}");
        }
    }
}

/// `plan --agent K` and `lookup --agent K` act as agent K of a distributed config: its share
/// (`i % N == K` with shared storage), and a clear answer for an index another agent writes.
#[test]
fn plan_and_lookup_act_as_one_agent() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = common::config::Config::flat(10)
        .size("16")
        .local_endpoints(tmp.path(), 2)
        .agents(2)
        .write(tmp.path());
    let config = config.to_str().expect("utf-8 path");
    let plan = |extra: &[&str]| -> serde_json::Value {
        let out = sai3_cache()
            .args(["plan", "--json", "--config", config])
            .args(extra)
            .output()
            .expect("plan");
        common::parse("plan", &out)
    };
    let whole = plan(&[]);
    assert_eq!(whole["total_files"], 10, "{whole}");
    assert_eq!(whole["agent"], serde_json::Value::Null);
    let one = plan(&["--agent", "1"]);
    assert_eq!(
        one["total_files"], 5,
        "agent 1 writes the odd indices: {one}"
    );
    assert_eq!(one["agent"], 1);
    assert!(
        one["pools"]
            .as_array()
            .is_some_and(|p| p.iter().all(|p| p["agent"] == 1)),
        "{one}"
    );
    let out = sai3_cache()
        .args(["plan", "--config", config, "--agent", "2"])
        .output()
        .expect("plan");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("agent 2 does not exist"),
        "{}",
        common::stderr(&out)
    );

    let cache = tmp.path().join("cache");
    let cache = cache.to_str().expect("utf-8 path");
    let lookup = |index: &str| {
        sai3_cache()
            .args([
                "lookup",
                "--json",
                "--agent",
                "1",
                "--config",
                config,
                "--cache-dir",
                cache,
                index,
            ])
            .output()
            .expect("lookup")
    };
    let found: Vec<common::Found> = common::parse("lookup", &lookup("3"));
    assert_eq!(found[0].agent, 1);
    assert_eq!(found[0].endpoint, 1, "parallel: object 3 on endpoint 3 % 2");
    assert!(
        found[0].uri.ends_with("/ep1/prepared-00000003.dat"),
        "{}",
        found[0].uri
    );
    let other = lookup("2");
    assert_eq!(other.status.code(), Some(2));
    assert!(
        common::stderr(&other).contains("agent 1 does not write object 2"),
        "{}",
        common::stderr(&other)
    );
}

/// `prepare --no-create` records what exists and reports what is missing, writing nothing;
/// the next prepare creates exactly the missing objects.
#[test]
fn no_create_reports_what_is_missing_and_writes_nothing() {
    let backend = common::backends()[0];
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let config = common::Config::flat(40)
        .size("32")
        .local_endpoints(tmp.path(), 1)
        .write(tmp.path());
    common::prepare(backend, &config, &cache, &["--no-cache"]);
    let ep = tmp.path().join("ep0");
    for f in common::dataset_files(&ep).iter().take(5) {
        std::fs::remove_file(ep.join(f)).expect("remove an object");
    }
    let learned = common::prepare(backend, &config, &cache, &["--no-create"]);
    assert_eq!(
        (learned.already_present, learned.created),
        (35, 0),
        "{learned:?}"
    );
    assert_eq!(common::dataset_files(&ep).len(), 35, "nothing written");
    let text = common::run(
        backend,
        &[
            "prepare",
            "--no-create",
            "-c",
            &common::s(&config),
            "--cache-dir",
            &common::s(&cache),
        ],
    );
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains(", 5 missing"), "{stdout}");
    let rest = common::prepare(backend, &config, &cache, &[]);
    assert_eq!((rest.already_present, rest.created), (35, 5), "{rest:?}");
}
