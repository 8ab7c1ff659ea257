//! A cleanly closed redb cache is verified against its checksum before redb reads it.

use cache_core::error::ErrorKind;
use cache_core::{Database, Error, Keyspace, OpenOptions};
use cache_redb::{CHECKSUM_FILE, DB_FILE, RedbDatabase};

fn made() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("c");
    let db = RedbDatabase::open(&dir, &OpenOptions::default()).expect("create");
    db.keyspace("k")
        .expect("ks")
        .insert(b"a", b"b")
        .expect("insert");
    drop(db);
    assert!(
        dir.join(CHECKSUM_FILE).exists(),
        "a clean close writes the checksum"
    );
    (tmp, dir)
}

#[test]
fn flipped_byte_is_refused_before_redb_reads_it() {
    let (_tmp, dir) = made();
    let file = dir.join(DB_FILE);
    let mut bytes = std::fs::read(&file).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&file, bytes).expect("write");
    let Err(e) = RedbDatabase::open(&dir, &OpenOptions::default()) else {
        panic!("a damaged file must not open");
    };
    assert!(matches!(e, Error::Damaged { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.is_corruption(), "{e}");
    assert!(e.to_string().contains("does not match the checksum"), "{e}");
}

#[test]
fn truncated_file_is_refused() {
    let (_tmp, dir) = made();
    let file = dir.join(DB_FILE);
    let len = std::fs::metadata(&file).expect("stat").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_len(len / 2))
        .expect("truncate");
    let Err(e) = RedbDatabase::open(&dir, &OpenOptions::default()) else {
        panic!("a truncated file must not open");
    };
    assert!(e.to_string().contains("bytes"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
}

#[test]
fn intact_file_reopens_and_the_checksum_is_renewed() {
    let (_tmp, dir) = made();
    let db = RedbDatabase::open(&dir, &OpenOptions::default()).expect("reopen");
    assert!(
        !dir.join(CHECKSUM_FILE).exists(),
        "open removes the checksum"
    );
    assert_eq!(
        db.keyspace("k").expect("ks").get(b"a").expect("get"),
        Some(b"b".to_vec())
    );
    drop(db);
    assert!(dir.join(CHECKSUM_FILE).exists());
}
