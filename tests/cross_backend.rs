//! Each backend refuses the other's cache directory with a message naming both and the path.
#![cfg(all(feature = "fjall", feature = "redb"))]

use std::process::Command;

use cache_core::{Database, Error, Keyspace, OpenOptions};
use cache_fjall::FjallDatabase;
use cache_redb::RedbDatabase;

fn made_by<D: Database>(dir: &std::path::Path) {
    let db = D::open(dir, &OpenOptions::default()).expect("create");
    db.keyspace("objects")
        .expect("ks")
        .insert(b"k", b"v")
        .expect("insert");
}

#[test]
fn fjall_refuses_redb_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("c");
    made_by::<RedbDatabase>(&dir);
    let Err(e) = FjallDatabase::open(&dir, &OpenOptions::default()) else {
        panic!("fjall opened a redb cache");
    };
    assert!(matches!(e, Error::WrongBackend { .. }), "{e}");
    let msg = e.to_string();
    // The library names the backend; the CLI (below) adds its flag as the fix.
    assert!(
        msg.contains("holds a redb cache") && msg.contains("the fjall backend"),
        "{msg}"
    );
    assert!(!msg.contains("--"), "core errors name no CLI flag: {msg}");
    assert!(msg.contains(&dir.display().to_string()), "{msg}");
    // And the redb cache is still intact.
    let db = RedbDatabase::open(&dir, &OpenOptions::default()).expect("reopen");
    assert_eq!(
        db.keyspace("objects").expect("ks").get(b"k").expect("get"),
        Some(b"v".to_vec())
    );
}

#[test]
fn redb_refuses_fjall_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("c");
    made_by::<FjallDatabase>(&dir);
    let Err(e) = RedbDatabase::open(&dir, &OpenOptions::default()) else {
        panic!("redb opened a fjall cache");
    };
    assert!(e.to_string().contains("holds a fjall cache"), "{e}");
}

#[test]
fn cli_backend_flag_selects_engine_at_run_time() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("c");
    made_by::<RedbDatabase>(&dir);
    let run = |backend: &str| {
        Command::new(env!("CARGO_BIN_EXE_sai3-cache"))
            .args(["--backend", backend, "stats", "--json", "--cache-dir"])
            .arg(&dir)
            .output()
            .expect("run")
    };
    let ok = run("redb");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("JSON");
    assert_eq!(stats["backend"], "redb");
    let wrong = run("fjall");
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--backend redb"));
}
