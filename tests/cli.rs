//! The command-line tool as a user runs it.

use std::process::Command;

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
