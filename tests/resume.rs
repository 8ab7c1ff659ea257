//! An aborted prepare (the process killed mid-way) resumes: only missing objects are created,
//! none twice, and afterwards each endpoint's ledger matches its directory exactly and holds
//! only that endpoint's objects.

mod common;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use cache_core::Database;
use cache_sai3::dataset::Dataset;
use cache_sai3::endpoint_cache::{EndpointCache, cache_location};
use cache_sai3::ledger::{load_presence, scan_created};
use common::{backends, dataset_files, prepare, tool, tree_config};

/// (inode, mtime in ns) of every dataset file of every endpoint.
fn identities(root: &Path, endpoints: usize) -> HashMap<String, (u64, i64)> {
    let mut out = HashMap::new();
    for e in 0..endpoints {
        let dir = root.join(format!("ep{e}"));
        for f in dataset_files(&dir) {
            let m = std::fs::metadata(dir.join(&f)).expect("stat");
            out.insert(
                format!("ep{e}/{f}"),
                (m.ino(), m.mtime_nsec() + m.mtime() * 1_000_000_000),
            );
        }
    }
    out
}

fn check_ledger<D: Database>(root: &Path, config: &Path, cache_dir: &Path, endpoints: usize) {
    let dataset = Dataset::load(config).expect("dataset");
    let ds = dataset.hash.dataset_id();
    let pool = &dataset.pools[0];
    for e in 0..endpoints {
        let uri = &dataset.endpoints[e];
        let cache = EndpointCache::<D>::open(&cache_location(uri, cache_dir).expect("loc"), false)
            .expect("open endpoint cache");
        let bitmap = load_presence(&cache, ds, 0).expect("bitmap");
        let scanned = scan_created(&cache, ds, 0).expect("scan");
        assert_eq!(
            bitmap, scanned,
            "bitmap and ledger entries disagree on endpoint {e}"
        );
        let on_disk: Vec<u64> = dataset_files(&root.join(format!("ep{e}")))
            .iter()
            .map(|f| dataset.parse_path(pool, f).expect("a dataset name"))
            .collect();
        assert_eq!(on_disk.len() as u64, scanned.len(), "endpoint {e}");
        for i in &on_disk {
            assert!(
                scanned.contains(*i),
                "file {i} on disk but not Created in the ledger"
            );
        }
        for i in &scanned {
            assert_eq!(
                dataset.endpoint_of(pool, i) as usize,
                e,
                "endpoint {e} holds object {i}"
            );
        }
    }
}

#[test]
fn killed_prepare_resumes_without_recreating() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = tmp.path().join("cache");
        let config = tree_config(tmp.path(), 4, 2, 2500, 2, "4KiB");
        let total = 40_000usize;
        let mut child = tool(backend)
            .args(["prepare", "--json", "--concurrency", "4", "--config"])
            .arg(&config)
            .arg("--cache-dir")
            .arg(&cache)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn prepare");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let n: usize = (0..2)
                .map(|e| dataset_files(&tmp.path().join(format!("ep{e}"))).len())
                .sum();
            if n >= 6_000 {
                break;
            }
            assert!(Instant::now() < deadline, "prepare made no progress");
            assert!(
                child.try_wait().expect("poll").is_none(),
                "prepare finished before it could be killed"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().expect("kill -9 the prepare");
        child.wait().expect("reap");
        let before = identities(tmp.path(), 2);
        assert!(before.len() < total, "{backend}: the kill came too late");

        let resumed = prepare(backend, &config, &cache, &[]);
        assert_eq!(
            resumed["listing_source"], "list",
            "{backend}: an unsealed run must list"
        );
        assert_eq!(
            resumed["already_present"],
            before.len() as u64,
            "{backend}: {resumed}"
        );
        assert_eq!(
            resumed["created"],
            (total - before.len()) as u64,
            "{backend}"
        );
        let after = identities(tmp.path(), 2);
        assert_eq!(after.len(), total);
        for (f, id) in &before {
            assert_eq!(after.get(f), Some(id), "{backend}: {f} was written again");
        }
        let again = prepare(backend, &config, &cache, &[]);
        assert_eq!(again["list_calls"], 0);
        assert_eq!(again["created"], 0);
        match backend {
            #[cfg(feature = "fjall")]
            "fjall" => check_ledger::<cache_fjall::FjallDatabase>(tmp.path(), &config, &cache, 2),
            #[cfg(feature = "redb")]
            "redb" => check_ledger::<cache_redb::RedbDatabase>(tmp.path(), &config, &cache, 2),
            other => panic!("unknown backend {other}"),
        }
    }
}
