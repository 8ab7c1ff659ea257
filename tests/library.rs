//! The library ([`sai3_cache::MetadataCache`]) and the CLI share one cache: what one prepared,
//! the other trusts, with no LIST and nothing written. Both directions, on local endpoints, with
//! this build's engine (`sai3_cache::Engine`).

mod common;

use std::path::Path;

use common::{Config, Sai3};
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;
use sai3_cache::MetadataCache;
use sai3_cache::cache_sai3::sync::Transfer;

/// The backend name of this build's engine, for the CLI's `--backend`.
fn engine() -> &'static str {
    <sai3_cache::Engine as cache_core::Database>::BACKEND
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Writes every missing object through the library, records and seals; returns how many.
async fn library_prepare(config: &Path, cache_dir: &Path) -> u64 {
    let cache = MetadataCache::open(config, None, cache_dir)
        .await
        .expect("open the cache");
    let mut written = 0;
    for m in cache.missing().expect("missing objects") {
        let store = cache.store(m.shard).expect("store");
        let mut recorder = cache.recorder(m.shard).expect("recorder");
        for i in &m.indices {
            let object = cache
                .locate(m.pool, i)
                .expect("locate")
                .expect("in the dataset");
            let body = cache.content(m.shard, m.pool, i).expect("content");
            assert_eq!(body.len() as u64, object.size, "object {i}");
            let path = StorePath::from(object.location.path.as_str());
            store.put(&path, body.into()).await.expect("put");
            recorder.created(m.pool, i).expect("record");
            written += 1;
        }
        recorder.checkpoint().expect("checkpoint");
    }
    let sealed = cache.seal().await.expect("seal");
    assert!(
        sealed.iter().all(|s| *s),
        "not every shard sealed: {sealed:?}"
    );
    written
}

fn config(dir: &Path) -> std::path::PathBuf {
    Config::tree(2, 2, 50)
        .size("100")
        .local_endpoints(dir, 2)
        .write(dir)
}

#[test]
fn the_cli_trusts_what_the_library_prepared() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = config(tmp.path());
    let cache = tmp.path().join("cache");
    assert_eq!(runtime().block_on(library_prepare(&config, &cache)), 200);
    let files: usize = (0..2)
        .map(|e| common::dataset_files(&tmp.path().join(format!("ep{e}"))).len())
        .sum();
    assert_eq!(files, 200, "files written by the library");
    let cli = Sai3::new(engine()).prepare(&config, &cache, &[]);
    assert_eq!(cli.created, 0, "{cli:?}");
    assert_eq!(cli.list_calls, 0, "{cli:?}");
    assert_eq!(cli.already_present, 200, "{cli:?}");
}

#[test]
fn the_library_trusts_what_the_cli_prepared() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = config(tmp.path());
    let cache = tmp.path().join("cache");
    let cli = Sai3::new(engine()).prepare(&config, &cache, &[]);
    assert_eq!(cli.created, 200, "{cli:?}");
    let rt = runtime();
    let opened = rt.block_on(MetadataCache::open(&config, None, &cache));
    let opened = opened.expect("open the cache");
    assert!(opened.missing().expect("missing").is_empty());
    for k in opened.knowledge().expect("knowledge") {
        assert_eq!(k.present, k.expected, "{k:?}");
        assert!(k.sealed_at_ms.is_some(), "{k:?}");
    }
    drop(opened);
    assert_eq!(rt.block_on(library_prepare(&config, &cache)), 0);
}

/// A dataset that exists without any cache (made by a run that recorded nothing, then 30
/// objects lost) is adopted by the whole flow without creating (`create: false`: it LISTs and
/// records what exists), and the library writes exactly the missing objects.
#[test]
fn the_flow_learns_without_creating_and_the_library_writes_the_rest() {
    use cache_sai3::dataset::Dataset;
    use cache_sai3::prepare::{self, CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress};
    use cache_sai3::ttl::{SystemClock, TtlPolicy};
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = config(tmp.path());
    let cache = tmp.path().join("cache");
    let made = Sai3::new(engine()).prepare(&config, &cache, &["--no-cache"]);
    assert_eq!(made.created, 200, "{made:?}");
    let ep1 = tmp.path().join("ep1");
    let lost: Vec<String> = common::dataset_files(&ep1).into_iter().take(30).collect();
    for f in &lost {
        std::fs::remove_file(ep1.join(f)).expect("remove an object");
    }
    let options = PrepareOptions {
        cache_dir: cache.clone(),
        no_cache: false,
        ttl: TtlPolicy::default(),
        populate: Populate::Lazy,
        concurrency: 8,
        checkpoint_objects: CHECKPOINT_OBJECTS,
        test_name: "adopt".into(),
        pull: false,
        push: false,
        open: Default::default(),
        create: false,
    };
    let dataset = Dataset::load(&config).expect("config");
    let rt = runtime();
    let learned = rt
        .block_on(prepare::prepare::<sai3_cache::Engine>(
            &dataset,
            &options,
            &SystemClock,
            &Progress::default(),
        ))
        .expect("learn");
    assert_eq!(learned.created, 0, "{learned:?}");
    assert_eq!(learned.already_present, 170, "{learned:?}");
    assert!(learned.list_calls > 0, "{learned:?}");
    assert_eq!(common::dataset_files(&ep1).len(), 70, "nothing written");
    assert!(!learned.endpoints[1].sealed, "{learned:?}");
    assert_eq!(rt.block_on(library_prepare(&config, &cache)), 30);
    let mut restored = common::dataset_files(&ep1);
    restored.retain(|f| lost.contains(f));
    assert_eq!(restored.len(), 30, "exactly the lost objects written");
    let cli = Sai3::new(engine()).prepare(&config, &cache, &[]);
    assert_eq!((cli.created, cli.list_calls), (0, 0), "{cli:?}");
}

/// The environment variable that makes [`library_host`] act (it is this test binary run again
/// as a child, with the server's credentials in its environment).
const CHILD: &str = "SAI3_LIBRARY_HOST_CACHE";

/// Host A, as a child process: prepares through the library and pushes twice (the second push
/// finds nothing changed). Does nothing unless run as that child.
#[test]
fn library_host() {
    let (Ok(cache), Ok(config)) = (
        std::env::var(CHILD),
        std::env::var("SAI3_LIBRARY_HOST_CONFIG"),
    ) else {
        return;
    };
    let (cache, config) = (Path::new(&cache), Path::new(&config));
    let rt = runtime();
    assert_eq!(rt.block_on(library_prepare(config, cache)), 200);
    let opened = rt
        .block_on(MetadataCache::open(config, None, cache))
        .expect("open");
    let progress = Transfer::default();
    let pushed = rt.block_on(opened.push(&progress)).expect("push");
    assert_eq!(pushed.len(), 1, "the changed shard is pushed: {pushed:?}");
    let [files_done, files_total, bytes_done, bytes_total] = progress.snapshot();
    assert!(
        files_done == files_total && files_done > 0 && bytes_done == bytes_total && bytes_done > 0,
        "the push counted every file and byte: {:?}",
        progress.snapshot()
    );
    let opened = rt
        .block_on(MetadataCache::open(config, None, cache))
        .expect("open");
    let again = rt
        .block_on(opened.push(&Transfer::default()))
        .expect("push");
    assert!(
        again.is_empty(),
        "an unchanged shard is not pushed again: {again:?}"
    );
    println!("library host done");
}

#[test]
fn a_shard_the_library_pushed_is_trusted_by_another_host() {
    use common::endpoint::{Endpoint, Kind, uris};
    let ep = Endpoint::start(Kind::Moto);
    let places = ep.places(1);
    let dir = ep.scratch();
    let config = Config::tree(2, 2, 50)
        .size("100")
        .endpoints(&uris(&places))
        .write(&dir);
    let host_a = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", "library_host", "--nocapture"])
        .env(CHILD, dir.join("host-a"))
        .env("SAI3_LIBRARY_HOST_CONFIG", &config)
        .envs(ep.env())
        .output()
        .expect("run host A");
    let said = String::from_utf8_lossy(&host_a.stdout);
    assert!(
        host_a.status.success() && said.contains("library host done"),
        "host A failed: {said}{}",
        String::from_utf8_lossy(&host_a.stderr)
    );
    let other = ep.tool(engine()).prepare(&config, &dir.join("host-b"), &[]);
    assert_eq!(other.created, 0, "{other:?}");
    assert_eq!(other.list_calls, 0, "{other:?}");
    assert_eq!(other.already_present, 200, "{other:?}");
}
