//! The local side without a store: the scan of a cache directory and the staging directory a
//! pull assembles a generation in.

use std::path::Path;
use std::time::{Duration, SystemTime};

use cache_sync::Manifest;
use cache_sync::local::{
    GENERATION_FILE, STALE_STAGING, Staging, UNPUBLISHED_FILE, is_unpublished, mark_unpublished,
    record_generation, scan,
};

fn write(path: &Path, content: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

/// Names of the entries of `dir` other than `keep`.
fn siblings(dir: &Path, keep: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != keep)
        .collect();
    names.sort();
    names
}

#[test]
fn scan_lists_files_and_dirs_in_path_order_without_bookkeeping() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    write(&dir.join("a/b"), b"1");
    write(&dir.join("a.b"), b"2");
    write(&dir.join(GENERATION_FILE), b"{}");
    write(&dir.join(UNPUBLISHED_FILE), b"");
    write(&dir.join("x.tmp"), b"3");
    std::fs::create_dir_all(dir.join("empty")).expect("mkdir");
    let (files, dirs) = scan(&dir).expect("scan");
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["a.b", "a/b"], "string order of `/`-joined paths");
    assert_eq!(dirs, ["a", "empty"]);
}

#[test]
fn unpublished_mark_lasts_until_a_generation_is_recorded() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    write(&dir.join("data"), b"1");
    assert!(!is_unpublished(&dir), "a new directory carries no mark");
    mark_unpublished(&dir).expect("mark");
    mark_unpublished(&dir).expect("marking twice is fine");
    assert!(is_unpublished(&dir));
    let manifest = Manifest {
        format: 1,
        generation: 3,
        backend: "redb".to_owned(),
        cache_format: 1,
        config_hash: String::new(),
        pushed_ms: 0,
        files: Vec::new(),
        dirs: Vec::new(),
        digest: None,
    };
    record_generation(&dir, &manifest).expect("record");
    assert!(
        !is_unpublished(&dir),
        "a recorded generation clears the mark"
    );
    assert!(dir.join(GENERATION_FILE).exists());
}

#[cfg(unix)]
#[test]
fn scan_never_follows_symbolic_links() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let outside = tmp.path().join("outside");
    write(&outside.join("secret"), b"s");
    let dir = tmp.path().join("cache");
    write(&dir.join("f"), b"1");
    std::os::unix::fs::symlink(&outside, dir.join("linked-dir")).expect("symlink");
    std::os::unix::fs::symlink(outside.join("secret"), dir.join("linked-file")).expect("symlink");
    let (files, dirs) = scan(&dir).expect("scan");
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(dirs.is_empty(), "{dirs:?}");
}

#[test]
fn staging_switches_in_and_leaves_nothing_beside() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("sub/cache");
    for generation in [b"one", b"two"] {
        let staging = Staging::beside(&dir).expect("staging");
        write(&staging.path().join("f"), generation);
        staging.switch(&dir).expect("switch");
        assert_eq!(std::fs::read(dir.join("f")).expect("read"), generation);
        assert!(siblings(dir.parent().expect("parent"), "cache").is_empty());
    }
}

#[test]
fn dropped_staging_is_removed_and_the_old_copy_kept() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    write(&dir.join("f"), b"old");
    let staging = Staging::beside(&dir).expect("staging");
    write(&staging.path().join("f"), b"half");
    drop(staging);
    assert!(siblings(tmp.path(), "cache").is_empty());
    assert_eq!(std::fs::read(dir.join("f")).expect("read"), b"old");
}

#[test]
fn stale_staging_of_killed_pulls_is_swept() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    // Left by killed runs: the current layout, the pid-named one of earlier versions, and one
    // that may belong to a pull still running (fresh).
    for name in ["cache.pull-AbC123", "cache.pull-4242", "cache.old-4242"] {
        write(&tmp.path().join(name).join("new/f"), b"x");
        let old = SystemTime::now() - STALE_STAGING - Duration::from_secs(60);
        std::fs::File::open(tmp.path().join(name))
            .and_then(|f| f.set_modified(old))
            .expect("age it");
    }
    write(&tmp.path().join("cache.pull-fresh/new/f"), b"x");
    write(&tmp.path().join("other.pull-4242/f"), b"x");
    let staging = Staging::beside(&dir).expect("staging");
    let ours = staging.path();
    let ours = ours.parent().expect("work").file_name().expect("name");
    let mut left = siblings(tmp.path(), &ours.to_string_lossy());
    left.sort();
    assert_eq!(left, ["cache.pull-fresh", "other.pull-4242"]);
}

/// A cache that a process has open is never pushed (it would change while read) nor replaced
/// by a pull: both fail with `InUse`, and the lock file itself is never pushed.
#[tokio::test]
async fn caches_in_use_are_neither_pushed_nor_replaced() {
    use cache_sync::{PushOptions, RemoteCache, SyncError, pull, push};
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    cache_core::marker::claim_directory(&dir, "fjall", true).expect("marker");
    write(&dir.join("fjall/data"), b"rows");
    let store = std::sync::Arc::new(object_store::memory::InMemory::new());
    let remote = RemoteCache::new(store, "sai3-kv-cache");
    let held = cache_core::lock::DirectoryLock::acquire(&dir, "test").expect("lock");
    let refused = push(&dir, &remote, &PushOptions::default(), 1).await;
    assert!(matches!(refused, Err(SyncError::InUse(_))), "{refused:?}");
    drop(held);
    let pushed = push(&dir, &remote, &PushOptions::default(), 2)
        .await
        .expect("push once closed");
    assert_eq!(pushed.generation, 1);
    let other = tmp.path().join("other");
    pull(&remote, &other, "fjall").await.expect("pull");
    assert!(
        !other.join(cache_core::lock::LOCK_FILE).exists(),
        "the lock is local"
    );
    write(&other.join("fjall/extra"), b"local change");
    std::fs::remove_file(other.join(GENERATION_FILE)).expect("forget the generation");
    let _held = cache_core::lock::DirectoryLock::acquire(&other, "test").expect("lock");
    let refused = pull(&remote, &other, "fjall").await;
    assert!(matches!(refused, Err(SyncError::InUse(_))), "{refused:?}");
    assert!(
        other.join("fjall/extra").exists(),
        "the open copy is untouched"
    );
}
