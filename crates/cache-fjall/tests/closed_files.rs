//! A cleanly closed fjall cache is verified against its checksums before fjall reads it: a
//! flipped byte in any of its files, including the manifests fjall does not check itself (and
//! panics on), is refused as damage naming the file.

use cache_core::error::ErrorKind;
use cache_core::{Database, Durability, Error, Keyspace, OpenOptions, WriteBatch};
use cache_fjall::{CHECKSUM_FILE, ENGINE_DIR, FjallDatabase};

/// A closed cache with two keyspaces, flushed into tables.
fn made() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("c");
    let db = FjallDatabase::open(&dir, &OpenOptions::default()).expect("create");
    for name in ["objects", "seeds"] {
        let ks = db.keyspace(name).expect("keyspace");
        let mut batch = db.batch();
        for i in 0u32..5_000 {
            batch.insert(&ks, &i.to_be_bytes(), b"value of the key");
        }
        batch.commit(Durability::Flushed).expect("commit");
    }
    db.flush().expect("flush");
    drop(db);
    assert!(
        dir.join(CHECKSUM_FILE).exists(),
        "a clean close writes the checksums"
    );
    (tmp, dir)
}

/// Files of the engine directory, relative, in order.
fn engine_files(dir: &std::path::Path) -> Vec<String> {
    let engine = dir.join(ENGINE_DIR);
    let mut out = Vec::new();
    let mut todo = vec![engine.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let path = e.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let rel = path.strip_prefix(&engine).expect("inside");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

fn flip(file: &std::path::Path, at: usize) {
    let mut bytes = std::fs::read(file).expect("read");
    let at = at.min(bytes.len().saturating_sub(1));
    bytes[at] ^= 1;
    std::fs::write(file, bytes).expect("write");
}

fn refused(dir: &std::path::Path) -> Error {
    match FjallDatabase::open(dir, &OpenOptions::default()) {
        Ok(_) => panic!("a damaged cache must not open"),
        Err(e) => e,
    }
}

#[test]
fn flipped_manifest_byte_is_damage_not_a_panic() {
    let (_tmp, dir) = made();
    let manifests: Vec<String> = engine_files(&dir)
        .into_iter()
        .filter(|f| {
            f.starts_with("keyspaces/") && f.rsplit('/').next().is_some_and(|n| n.starts_with('v'))
        })
        .collect();
    assert!(!manifests.is_empty(), "{:?}", engine_files(&dir));
    flip(&dir.join(ENGINE_DIR).join(&manifests[0]), 9);
    let e = refused(&dir);
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains(&manifests[0]), "names the file: {e}");
}

#[test]
fn every_file_is_covered() {
    let (_tmp, dir) = made();
    let files = engine_files(&dir);
    for f in files.iter().filter(|f| *f != "lock") {
        let sums = std::fs::read(dir.join(CHECKSUM_FILE)).expect("checksums");
        let copy = tempfile::tempdir().expect("tempdir");
        copy_dir(&dir, copy.path());
        let target = copy.path().join(ENGINE_DIR).join(f);
        if std::fs::metadata(&target).expect("stat").len() == 0 {
            continue;
        }
        flip(&target, 0);
        std::fs::write(copy.path().join(CHECKSUM_FILE), sums).expect("same checksums");
        let e = refused(copy.path());
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{f}: {e}");
        assert!(e.to_string().contains(f.as_str()), "{f}: {e}");
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

#[test]
fn truncated_journal_is_refused() {
    let (_tmp, dir) = made();
    let journal = engine_files(&dir)
        .into_iter()
        .find(|f| f.ends_with(".jnl"))
        .expect("a journal");
    let file = dir.join(ENGINE_DIR).join(&journal);
    let len = std::fs::metadata(&file).expect("stat").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_len(len / 2))
        .expect("truncate");
    let e = refused(&dir);
    assert!(e.to_string().contains("bytes"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
}

#[test]
fn intact_cache_reopens_and_the_checksums_are_renewed() {
    let (_tmp, dir) = made();
    let db = FjallDatabase::open(&dir, &OpenOptions::default()).expect("reopen");
    assert!(
        !dir.join(CHECKSUM_FILE).exists(),
        "open removes the checksums"
    );
    let ks = db.keyspace("objects").expect("keyspace");
    assert_eq!(
        ks.get(&7u32.to_be_bytes()).expect("get"),
        Some(b"value of the key".to_vec())
    );
    // A scan that outlives the database handle keeps it open; closing comes after it.
    let scan = ks
        .prefix(b"", cache_core::Direction::Forward)
        .expect("scan");
    drop(ks);
    drop(db);
    assert!(
        !dir.join(CHECKSUM_FILE).exists(),
        "still open while scanned"
    );
    assert_eq!(scan.count(), 5_000);
    assert!(dir.join(CHECKSUM_FILE).exists());
    drop(FjallDatabase::open(&dir, &OpenOptions::default()).expect("a clean reopen"));
}

#[test]
fn unreadable_checksum_file_is_damage() {
    let (_tmp, dir) = made();
    std::fs::write(dir.join(CHECKSUM_FILE), "not checksums").expect("write");
    let e = refused(&dir);
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains(CHECKSUM_FILE), "{e}");
}
