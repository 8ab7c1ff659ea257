//! A redb cache in use is reported as in use, never as damaged: the directory lock is taken
//! before the closed-file checksum is verified, and redb's own lock maps to `InUse` as well.

use std::fs::File;
use std::path::{Path, PathBuf};

use cache_core::error::ErrorKind;
use cache_core::{Database, Error, Keyspace, OpenOptions};
use cache_redb::{CHECKSUM_FILE, DB_FILE, LOCK_FILE, RedbDatabase};

fn made() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("c");
    let db = RedbDatabase::open(&dir, &OpenOptions::default()).expect("create");
    db.keyspace("k")
        .expect("ks")
        .insert(b"a", b"b")
        .expect("insert");
    drop(db);
    assert!(dir.join(CHECKSUM_FILE).exists(), "closed cleanly");
    (tmp, dir)
}

fn open_err(dir: &Path) -> Error {
    match RedbDatabase::open(dir, &OpenOptions::default()) {
        Ok(_) => panic!("{} opened while in use", dir.display()),
        Err(e) => e,
    }
}

/// Holds the directory lock the way another sai3-cache process would.
fn hold_directory_lock(dir: &Path) -> File {
    let f = File::options()
        .read(true)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .expect("lock file exists after the first open");
    f.try_lock().expect("take the lock");
    f
}

#[test]
fn a_locked_directory_is_not_checksummed_or_called_damaged() {
    let (_tmp, dir) = made();
    // Another process holds the cache and is changing the file: its bytes no longer match the
    // checksum of the last close.
    let lock = hold_directory_lock(&dir);
    let file = dir.join(DB_FILE);
    let mut bytes = std::fs::read(&file).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&file, &bytes).expect("write");

    let e = open_err(&dir);
    assert!(matches!(e, Error::InUse { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::InUse, "{e}");
    assert!(!e.is_corruption(), "{e}");
    assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
    assert!(
        dir.join(CHECKSUM_FILE).exists(),
        "a refused open must not touch the checksum"
    );
    assert_eq!(std::fs::read(&file).expect("read"), bytes, "nor the file");

    // Once the holder is gone, the (here really changed) file is checked as before.
    drop(lock);
    let e = open_err(&dir);
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
}

/// A process that opened `cache.redb` with redb itself (not through this crate) is found before
/// the checksum is verified.
#[test]
fn redb_lock_held_without_ours_is_in_use() {
    let (_tmp, dir) = made();
    let bare = redb::Database::open(dir.join(DB_FILE)).expect("bare redb open");
    let e = open_err(&dir);
    assert!(matches!(e, Error::InUse { .. }), "{e}");
    assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
    assert!(
        !dir.join(CHECKSUM_FILE).exists(),
        "the checksum of the last close no longer describes a file another process has open"
    );
    drop(bare);
    // The other process changed the file; that is not damage.
    let db = RedbDatabase::open(&dir, &OpenOptions::default()).expect("open after release");
    assert_eq!(
        db.keyspace("k").expect("ks").get(b"a").expect("get"),
        Some(b"b".to_vec())
    );
}

#[test]
fn the_lock_is_held_until_the_checksum_is_written() {
    let (_tmp, dir) = made();
    let db = RedbDatabase::open(&dir, &OpenOptions::default()).expect("open");
    let ks = db.keyspace("k").expect("ks");
    drop(db);
    // The keyspace still holds the database open: still locked, no checksum yet.
    assert!(!dir.join(CHECKSUM_FILE).exists());
    assert_eq!(open_err(&dir).kind(), ErrorKind::InUse);
    drop(ks);
    assert!(dir.join(CHECKSUM_FILE).exists());
    let db = RedbDatabase::open(&dir, &OpenOptions::default()).expect("reopen");
    assert_eq!(
        db.keyspace("k").expect("ks").get(b"a").expect("get"),
        Some(b"b".to_vec())
    );
}
