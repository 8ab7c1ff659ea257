//! One set of push/pull behaviours, run against every store: object_store's in-memory and
//! local file system stores, and a real S3 protocol server (moto) on 127.0.0.1.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use cache_core::conformance::framed::noise;
use cache_core::marker::{FORMAT_VERSION, FormatMarker, force_marker};
use cache_sync::{
    PushOptions, RemoteCache, SyncError, Transfer, pull, pull_counted, push, push_counted,
};
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

fn cache_dir(root: &Path, name: &str, files: &[(&str, Vec<u8>)]) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let marker = FormatMarker {
        backend: "fjall".into(),
        format: FORMAT_VERSION,
    };
    force_marker(&dir, &marker).expect("marker");
    for (p, content) in files {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        std::fs::write(f, content).expect("write");
    }
    dir
}

/// Every file under `dir` with its content (the sync bookkeeping file excluded).
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| !e.file_type().is_dir())
        .filter_map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .expect("inside")
                .to_string_lossy()
                .into_owned();
            // Bookkeeping of this machine, never synced: the generation record and the lock.
            let local_only = [
                cache_sync::local::GENERATION_FILE,
                cache_core::lock::LOCK_FILE,
            ];
            (!local_only.contains(&rel.as_str()))
                .then(|| (rel, std::fs::read(e.path()).expect("read")))
        })
        .collect()
}

fn options(keep: usize) -> PushOptions {
    PushOptions {
        keep_generations: keep,
        gc_grace: std::time::Duration::ZERO,
        ..PushOptions::default()
    }
}

async fn round_trip_and_incremental(store: Arc<dyn ObjectStore>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote = RemoteCache::new(store, "sai3-kv-cache");
    let src = cache_dir(
        tmp.path(),
        "src",
        &[
            ("fjall/version", b"v3".to_vec()),
            ("fjall/keyspaces/1/tables/7", noise(300_000, 1)),
            ("fjall/0.jnl", vec![0u8; 2_000_000]),
            ("fjall/dup", noise(300_000, 1)),
        ],
    );
    std::fs::create_dir_all(src.join("fjall/keyspaces/2/blobs")).expect("empty dir");
    let first = push(&src, &remote, &options(3), 1).await.expect("push");
    assert_eq!(first.generation, 1);
    assert_eq!(first.files, 5);
    assert_eq!(
        first.files_uploaded, 4,
        "identical contents are uploaded once"
    );
    assert!(
        first.bytes_sent < 700_000,
        "zeros compress: {}",
        first.bytes_sent
    );

    let dst = tmp.path().join("dst");
    let pulled = pull(&remote, &dst, "fjall").await.expect("pull");
    assert_eq!(pulled.generation, Some(1));
    assert_eq!(contents(&dst), contents(&src));
    assert!(
        dst.join("fjall/keyspaces/2/blobs").is_dir(),
        "empty directories are restored"
    );
    let again = pull(&remote, &dst, "fjall").await.expect("pull");
    assert!(again.up_to_date);
    assert_eq!(again.files_downloaded, 0);

    let second = push(&src, &remote, &options(3), 2).await.expect("push");
    assert_eq!(
        (second.generation, second.files_uploaded),
        (2, 0),
        "nothing new to send"
    );
    std::fs::write(src.join("fjall/version"), b"v4").expect("write");
    let sent = Transfer::default();
    let third = push_counted(&src, &remote, &options(3), 3, &sent)
        .await
        .expect("push");
    assert_eq!((third.generation, third.files_uploaded), (3, 1));
    let all = [5, 5, third.bytes_total, third.bytes_total];
    assert_eq!(sent.snapshot(), all, "every file counted, sent or not");
    let received = Transfer::default();
    let pulled = pull_counted(&remote, &dst, "fjall", &received)
        .await
        .expect("pull");
    assert_eq!((pulled.files_downloaded, pulled.files_reused), (1, 4));
    assert_eq!(
        received.snapshot(),
        all,
        "every file counted, downloaded or reused"
    );
    assert_eq!(contents(&dst), contents(&src));

    let e = pull(&remote, &tmp.path().join("other"), "redb")
        .await
        .expect_err("backend");
    assert!(e.to_string().contains("--backend fjall"), "{e}");
}

async fn keeps_k_generations_and_collects_garbage(store: Arc<dyn ObjectStore>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote = RemoteCache::new(store, "gc");
    let src = cache_dir(tmp.path(), "src", &[("a", b"1".to_vec())]);
    for i in 0..5u8 {
        std::fs::write(src.join("a"), [i]).expect("write");
        push(&src, &remote, &options(2), 10 + u64::from(i))
            .await
            .expect("push");
    }
    assert_eq!(remote.generations().await.expect("gens"), vec![4, 5]);
    // Blobs left: the marker and the two kept versions of `a`.
    let blobs: Vec<_> = remote
        .store()
        .list(Some(&remote.files_prefix()))
        .try_collect()
        .await
        .expect("list");
    assert_eq!(blobs.len(), 3, "{blobs:?}");
    let dst = tmp.path().join("dst");
    pull(&remote, &dst, "fjall").await.expect("pull");
    assert_eq!(std::fs::read(dst.join("a")).expect("read"), [4]);
}

async fn damaged_blob_is_refused_and_local_copy_kept(store: Arc<dyn ObjectStore>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote = RemoteCache::new(store.clone(), "damage");
    let src = cache_dir(tmp.path(), "src", &[("data", noise(50_000, 3))]);
    push(&src, &remote, &options(3), 1).await.expect("push");
    let dst = tmp.path().join("dst");
    pull(&remote, &dst, "fjall").await.expect("pull");
    let before = contents(&dst);

    std::fs::write(src.join("data"), noise(50_000, 4)).expect("write");
    let report = push(&src, &remote, &options(3), 2).await.expect("push");
    let m = remote.manifest(report.generation).await.expect("manifest");
    let entry = m.files.iter().find(|f| f.path == "data").expect("entry");
    // Flip one byte of the stored (compressed) blob.
    let blob = remote.blob(&entry.sha256);
    let mut bytes = store
        .get(&blob)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes")
        .to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    store.put(&blob, bytes.into()).await.expect("put");
    let e = pull(&remote, &dst, "fjall").await.expect_err("damage");
    assert!(matches!(e, SyncError::Mismatch { .. }), "{e}");
    assert_eq!(contents(&dst), before, "the old generation stays in place");
    let staging_left = std::fs::read_dir(tmp.path())
        .expect("read dir")
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("dst.pull-"));
    assert!(!staging_left, "the refused generation's staging is removed");
}

async fn unsafe_manifest_is_refused(store: Arc<dyn ObjectStore>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote = RemoteCache::new(store.clone(), "evil");
    let manifest = serde_json::json!({
        "format": 1, "generation": 1, "backend": "fjall", "cache_format": 1,
        "config_hash": "", "pushed_ms": 0,
        "files": [{ "path": "../../x", "size": 1, "sha256": "ab".repeat(32) }]
    });
    let body = serde_json::to_vec(&manifest).expect("json");
    store
        .put(&remote.manifest_path(1), body.into())
        .await
        .expect("put");
    let dst = tmp.path().join("a/b/dst");
    let e = pull(&remote, &dst, "fjall").await.expect_err("unsafe");
    assert!(e.to_string().contains("outside the cache directory"), "{e}");
    assert!(!tmp.path().join("x").exists() && !tmp.path().join("a/x").exists());
}

async fn racing_pushes_lose_nothing(store: Arc<dyn ObjectStore>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote = RemoteCache::new(store, "race");
    let a = cache_dir(tmp.path(), "a", &[("f", b"from a".to_vec())]);
    let b = cache_dir(tmp.path(), "b", &[("f", b"from b".to_vec())]);
    // The default grace period: blobs another agent uploaded a moment ago are never collected.
    let opts = PushOptions {
        keep_generations: 10,
        ..PushOptions::default()
    };
    let (ra, rb) = tokio::join!(push(&a, &remote, &opts, 1), push(&b, &remote, &opts, 1));
    let (ra, rb) = (ra.expect("push a"), rb.expect("push b"));
    assert_ne!(
        ra.generation, rb.generation,
        "both published, neither overwrote the other"
    );
    assert_eq!(remote.generations().await.expect("gens"), vec![1, 2]);
    // Each generation is complete and names its own content.
    for (g, dir) in [(ra.generation, &a), (rb.generation, &b)] {
        let m = remote.manifest(g).await.expect("manifest");
        let f = m.files.iter().find(|f| f.path == "f").expect("entry");
        let (sha, _) = cache_sync::local::hash_file(&dir.join("f")).expect("hash");
        assert_eq!(f.sha256, sha);
    }
    let dst = tmp.path().join("dst");
    pull(&remote, &dst, "fjall").await.expect("pull");
    let newest: &[u8] = if ra.generation > rb.generation {
        b"from a"
    } else {
        b"from b"
    };
    assert_eq!(std::fs::read(dst.join("f")).expect("read"), newest);
}

async fn large_file_streams_through_multipart(store: Arc<dyn ObjectStore>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote = RemoteCache::new(store, "large");
    let src = cache_dir(
        tmp.path(),
        "src",
        &[("big", noise(40 * 1024 * 1024 + 7, 9))],
    );
    let r = push(&src, &remote, &options(3), 1).await.expect("push");
    assert_eq!(r.files_uploaded, 2);
    let dst = tmp.path().join("dst");
    pull(&remote, &dst, "fjall").await.expect("pull");
    assert!(
        contents(&dst) == contents(&src),
        "40 MiB file differs after the round trip"
    );
}

async fn not_a_cache_is_refused(store: Arc<dyn ObjectStore>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("x"), b"1").expect("write");
    let e = push(tmp.path(), &RemoteCache::new(store, "n"), &options(1), 1)
        .await
        .expect_err("no marker");
    assert!(matches!(e, SyncError::NotACache { .. }), "{e}");
}

/// Every behaviour; the publication race only where the store's create-if-absent is atomic
/// (`atomic_create`): s3s-fs 0.14.1 checks `If-None-Match: *` and then writes (its `s3.rs`,
/// `put_object`), so two racing creates can both succeed there, which no real S3 allows.
async fn all_behaviours(store: Arc<dyn ObjectStore>, atomic_create: bool) {
    round_trip_and_incremental(store.clone()).await;
    keeps_k_generations_and_collects_garbage(store.clone()).await;
    damaged_blob_is_refused_and_local_copy_kept(store.clone()).await;
    unsafe_manifest_is_refused(store.clone()).await;
    if atomic_create {
        racing_pushes_lose_nothing(store.clone()).await;
    }
    large_file_streams_through_multipart(store.clone()).await;
    not_a_cache_is_refused(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_store() {
    all_behaviours(Arc::new(object_store::memory::InMemory::new()), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_file_system_store() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fs =
        object_store::local::LocalFileSystem::new_with_prefix(tmp.path()).expect("local store");
    all_behaviours(Arc::new(fs), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_protocol_moto() {
    let moto = test_servers::Moto::start();
    moto.create_bucket("sync");
    all_behaviours(moto.store("sync"), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_protocol_s3s_fs() {
    let server = test_servers::S3sFs::start();
    server.create_bucket("sync");
    all_behaviours(server.store("sync"), false).await;
}

/// The server dies in the middle of a push: the previous generation stays intact and usable,
/// and the push succeeds when retried against the restarted server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_during_push() {
    let mut server = test_servers::S3sFs::start();
    server.create_bucket("kill");
    let remote = RemoteCache::new(server.store("kill"), "sai3-kv-cache");
    let tmp = tempfile::tempdir().expect("tempdir");
    let old = cache_dir(tmp.path(), "old", &[("data", noise(100_000, 1))]);
    push(&old, &remote, &options(3), 1)
        .await
        .expect("first push");

    let new = cache_dir(tmp.path(), "new", &[("data", noise(200 * 1024 * 1024, 2))]);
    let task = {
        let (remote, new) = (remote.clone(), new.clone());
        tokio::spawn(async move { push(&new, &remote, &options(3), 2).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.kill();
    let failed = task.await.expect("join");
    assert!(
        failed.is_err(),
        "the push must fail while the server is down"
    );

    server.restart();
    assert_eq!(remote.generations().await.expect("gens"), vec![1]);
    let dst = tmp.path().join("dst");
    pull(&remote, &dst, "fjall")
        .await
        .expect("the old generation still pulls");
    assert_eq!(contents(&dst), contents(&old));

    let retried = push(&new, &remote, &options(3), 3).await.expect("retry");
    assert_eq!(retried.generation, 2);
    pull(&remote, &dst, "fjall").await.expect("pull");
    assert!(contents(&dst) == contents(&new));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_blob_protocol_azurite() {
    let server = test_servers::Azurite::start();
    server.create_container("sync");
    all_behaviours(server.store("sync"), true).await;
}

/// A manifest larger than any we write is refused by its size, before its body is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_manifest_is_refused_unread() {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote = RemoteCache::new(store.clone(), "huge");
    let too_big = usize::try_from(cache_sync::manifest::MAX_MANIFEST_BYTES).expect("usize") + 1;
    store
        .put(&remote.manifest_path(1), vec![b' '; too_big].into())
        .await
        .expect("put");
    let e = pull(&remote, &tmp.path().join("dst"), "fjall")
        .await
        .expect_err("too big");
    assert!(e.to_string().contains("more than a manifest may be"), "{e}");
    assert!(!tmp.path().join("dst").exists());
}
