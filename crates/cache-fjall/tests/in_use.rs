//! A fjall cache in use is reported as in use, never as damaged, whichever lock shows it: ours
//! (`SAI3-CACHE-LOCK`, taken before fjall reads anything) or fjall's own (`fjall/lock`).

use std::path::PathBuf;

use cache_core::error::ErrorKind;
use cache_core::{Database, Error, Keyspace, OpenOptions};
use cache_fjall::{ENGINE_DIR, FjallDatabase, LOCK_FILE};

fn made() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("c");
    let db = FjallDatabase::open(&dir, &OpenOptions::default()).expect("create");
    db.keyspace("k")
        .expect("ks")
        .insert(b"a", b"b")
        .expect("insert");
    db.flush().expect("flush");
    drop(db);
    (tmp, dir)
}

fn open_err(dir: &std::path::Path) -> Error {
    match FjallDatabase::open(dir, &OpenOptions::default()) {
        Ok(_) => panic!("{} opened while in use", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn our_lock_is_taken_before_fjall_reads_a_file() {
    let (_tmp, dir) = made();
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .expect("lock file exists after the first open");
    lock.try_lock().expect("take the lock");
    // Another process in the middle of creating the database: a half-written version file.
    let version = dir.join(ENGINE_DIR).join("version");
    let saved = std::fs::read(&version).expect("read version");
    std::fs::write(&version, b"").expect("truncate version");
    let e = open_err(&dir);
    assert!(matches!(e, Error::InUse { .. }), "{e}");
    assert!(!e.is_corruption(), "{e}");
    assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
    std::fs::write(&version, saved).expect("restore version");
    drop(lock);
    let db = FjallDatabase::open(&dir, &OpenOptions::default()).expect("open after release");
    assert_eq!(
        db.keyspace("k").expect("ks").get(b"a").expect("get"),
        Some(b"b".to_vec())
    );
}

#[test]
fn fjall_lock_held_without_ours_is_in_use() {
    let (_tmp, dir) = made();
    // A process that opened the engine directory with fjall itself (not through this crate).
    let bare = fjall::Database::builder(dir.join(ENGINE_DIR))
        .open()
        .expect("bare fjall open");
    let e = open_err(&dir);
    assert!(matches!(e, Error::InUse { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::InUse, "{e}");
    assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
    drop(bare);
    let db = FjallDatabase::open(&dir, &OpenOptions::default()).expect("open after release");
    assert_eq!(
        db.keyspace("k").expect("ks").get(b"a").expect("get"),
        Some(b"b".to_vec())
    );
}

#[test]
fn a_keyspace_keeps_the_directory_locked() {
    let (_tmp, dir) = made();
    let db = FjallDatabase::open(&dir, &OpenOptions::default()).expect("open");
    let ks = db.keyspace("k").expect("ks");
    drop(db);
    assert_eq!(open_err(&dir).kind(), ErrorKind::InUse);
    assert_eq!(ks.get(b"a").expect("get"), Some(b"b".to_vec()));
    drop(ks);
    FjallDatabase::open(&dir, &OpenOptions::default()).expect("open after the keyspace is gone");
}
