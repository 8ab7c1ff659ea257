//! A creation killed before fjall wrote its `version` file (found by the crash campaign: the
//! next open failed with "File exists" on fjall's first journal) is cleared and created again;
//! a folder without `version` that holds more than a creation leaves is damage, never cleared.

use cache_core::error::ErrorKind;
use cache_core::{Database, Durability, Keyspace, OpenOptions, WriteBatch};
use cache_fjall::{CHECKSUM_FILE, ENGINE_DIR, FjallDatabase};

/// A cache directory as a creation killed before fjall's `version` file leaves it: our marker,
/// and in the engine folder fjall's lock, its first journal (preallocated, empty) and an empty
/// keyspaces folder.
fn interrupted() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("c");
    drop(FjallDatabase::open(&dir, &OpenOptions::default()).expect("create"));
    let engine = dir.join(ENGINE_DIR);
    std::fs::remove_dir_all(&engine).expect("remove the engine folder");
    let _ = std::fs::remove_file(dir.join(CHECKSUM_FILE));
    std::fs::create_dir_all(engine.join("keyspaces")).expect("keyspaces folder");
    std::fs::write(engine.join("lock"), b"").expect("lock file");
    std::fs::write(engine.join("0.jnl"), vec![0u8; 4096]).expect("journal");
    (tmp, dir)
}

#[test]
fn a_creation_killed_before_the_version_file_is_created_again() {
    let (_tmp, dir) = interrupted();
    let db = FjallDatabase::open(&dir, &OpenOptions::default()).expect("open after the kill");
    let ks = db.keyspace("objects").expect("keyspace");
    let mut batch = db.batch();
    batch.insert(&ks, b"k", b"v");
    batch.commit(Durability::Flushed).expect("commit");
    drop((ks, db));
    let db = FjallDatabase::open(&dir, &OpenOptions::default()).expect("reopen");
    let ks = db.keyspace("objects").expect("keyspace");
    assert_eq!(ks.get(b"k").expect("get").as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_folder_without_version_holding_more_is_damage() {
    let (_tmp, dir) = interrupted();
    let table = dir.join(ENGINE_DIR).join("keyspaces").join("5");
    std::fs::create_dir_all(&table).expect("a keyspace folder");
    let err = FjallDatabase::open(&dir, &OpenOptions::default())
        .err()
        .expect("a folder with data but no version file must not open");
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(table.exists(), "damage is never cleared: {err}");
}
