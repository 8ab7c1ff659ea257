//! The prepare flow on local endpoints, through the real binary, on every backend compiled in:
//! config changes miss, TTL and refresh list again, pools do not collide, and each endpoint
//! cache holds only its own objects. What every endpoint kind does (second run without LIST,
//! resume, verify, push/pull) is in `endpoints.rs`.

mod common;

use std::time::Duration;

use cache_sai3::prepare::ListingSource;
use common::{Config, Sai3, backends, dataset_files, keyspace_entries, prepare};

#[test]
fn config_change_is_a_new_hash_and_a_miss() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = tmp.path().join("cache");
        let tree = |files| {
            Config::tree(3, 2, files)
                .size("1KiB")
                .local_endpoints(tmp.path(), 2)
                .write(tmp.path())
        };
        let first = prepare(backend, &tree(20), &cache, &[]);
        // One more file per directory: a different dataset over the same names.
        let second = prepare(backend, &tree(21), &cache, &[]);
        assert_ne!(first.config_hash, second.config_hash);
        assert_eq!(
            second.listing_source,
            ListingSource::List,
            "{backend}: {second:?}"
        );
        assert!(second.list_calls > 0);
        // Objects of the first dataset keep their name only where file i stays in the same
        // directory (i / 20 == i / 21); those are found, the rest are created, and the old
        // files at other paths are reported as keys outside the dataset.
        let kept = (0..180u64).filter(|i| i / 20 == i / 21).count() as u64;
        assert!(kept > 0);
        assert_eq!(second.already_present, kept, "{backend}: {second:?}");
        assert_eq!(second.created, 189 - kept);
        let other: u64 = second.endpoints.iter().map(|e| e.other_keys).sum();
        assert_eq!(other, 180 - kept);
    }
}

#[test]
fn expired_ttl_and_refresh_list_again() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = tmp.path().join("cache");
        let config = Config::tree(2, 2, 10)
            .size("512")
            .local_endpoints(tmp.path(), 2)
            .write(tmp.path());
        prepare(backend, &config, &cache, &[]);
        let fresh = prepare(backend, &config, &cache, &["--cache-ttl", "3600"]);
        assert_eq!(fresh.list_calls, 0, "{backend}: {fresh:?}");
        std::thread::sleep(Duration::from_millis(1200));
        let expired = prepare(backend, &config, &cache, &["--cache-ttl", "1"]);
        assert_eq!(
            expired.listing_source,
            ListingSource::List,
            "{backend}: {expired:?}"
        );
        assert!(expired.list_calls > 0);
        assert_eq!(expired.created, 0);
        // That LIST was cached (a TTL was given): within the TTL it is used, without a LIST.
        let cached = prepare(backend, &config, &cache, &["--cache-ttl", "3600"]);
        assert_eq!(cached.list_calls, 0, "{backend}: {cached:?}");
        let refreshed = prepare(backend, &config, &cache, &["--refresh-cache"]);
        assert_eq!(
            refreshed.listing_source,
            ListingSource::List,
            "{backend}: {refreshed:?}"
        );
        assert!(refreshed.list_calls > 0);
        let none = prepare(backend, &config, &cache, &["--no-cache"]);
        assert!(none.list_calls > 0);
        assert_eq!(none.endpoints[0].cache_location, None);
    }
}

#[test]
fn listing_cache_is_used_within_its_ttl_after_a_partial_run() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = tmp.path().join("cache");
        let config = Config::tree(2, 2, 10)
            .size("256")
            .local_endpoints(tmp.path(), 1)
            .write(tmp.path());
        prepare(backend, &config, &cache, &["--cache-ttl", "600"]);
        // A LIST with a TTL in force is stored; a refresh stores a new one.
        let listed = prepare(
            backend,
            &config,
            &cache,
            &["--refresh-cache", "--cache-ttl", "600"],
        );
        assert_eq!(listed.listing_source, ListingSource::List);
        let entries = keyspace_entries(
            backend,
            &tmp.path().join("ep0/sai3-kv-cache/agents/0"),
            "listing_cache",
        );
        assert!(entries >= 1, "{backend}: the LIST was not cached");
    }
}

#[test]
fn pools_do_not_collide_and_lookup_reports_state() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = tmp.path().join("cache");
        let root = tmp.path().display();
        let config = Config::flat(40)
            .uniform(100, 900)
            .shards(3)
            .endpoints(&[format!("file://{root}/a"), format!("file://{root}/b")])
            .ops(&[("get", 5), ("delete", 1)])
            .name("pools")
            .write(tmp.path());
        let r = prepare(backend, &config, &cache, &[]);
        assert_eq!(r.created, 80, "{backend}: {r:?}");
        let a = dataset_files(&tmp.path().join("a"));
        assert_eq!(a.len(), 40);
        assert!(a.contains(&"00/prepared-00000000.dat".to_string()), "{a:?}");
        assert!(
            a.contains(&"00/deletable-00000000.dat".to_string()),
            "{a:?}"
        );
        let found = Sai3::new(backend).lookup(&config, &cache, &["1:7", "7"]);
        assert_eq!(found[0].path, "01/deletable-00000007.dat");
        assert_eq!(found[1].path, "01/prepared-00000007.dat");
        assert_eq!(found[0].endpoint, 1);
        assert_eq!(found[0].state.as_deref(), Some("created"));
        let size = found[1].size.expect("size");
        let on_disk = std::fs::metadata(tmp.path().join("b/01/prepared-00000007.dat"))
            .expect("file")
            .len();
        assert_eq!(size, on_disk);
        assert!((100..=900).contains(&size));
    }
}

#[test]
fn eager_population_stores_every_path_of_the_endpoint() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = tmp.path().join("cache");
        let config = Config::tree(2, 2, 5)
            .size("64")
            .dir_mask("d%d_w%d.dir")
            .local_endpoints(tmp.path(), 2)
            .write(tmp.path());
        prepare(backend, &config, &cache, &["--populate", "eager"]);
        for e in 0..2 {
            let dir = tmp.path().join(format!("ep{e}/sai3-kv-cache/agents/0"));
            let entries = keyspace_entries(backend, &dir, "file_paths");
            assert_eq!(entries, 10, "{backend} endpoint {e}");
        }
        // A lookup verifies the stored path against the naming rules and agrees.
        let found = Sai3::new(backend).lookup(&config, &cache, &["19"]);
        assert_eq!(found[0].path, "d1_w2.dir/d2_w2.dir/file_00000019.dat");
    }
}

/// sai3-bench's default (`sequential`) prepare with several independent endpoints lets s3dlio
/// pick each object's endpoint at run time. A dataset it spread its own way is adopted: the LIST
/// finds every object wherever it is, nothing is created, and `lookup` says where each one is
/// once listed (and that it is unknown before, instead of guessing).
#[test]
fn objects_placed_at_run_time_are_found_where_they_are() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = Config::flat(10)
            .size("16")
            .local_endpoints(tmp.path(), 2)
            .sequential()
            .write(tmp.path());
        // Where s3dlio put them: everything on endpoint 1 except 0 and 7 on endpoint 0 (the
        // computed rule would say even indices on 0).
        for i in 0..10u64 {
            let ep = if i == 0 || i == 7 { "ep0" } else { "ep1" };
            let dir = tmp.path().join(ep);
            std::fs::create_dir_all(&dir).expect("endpoint dir");
            std::fs::write(dir.join(format!("prepared-{i:08}.dat")), [1u8; 16]).expect("object");
        }
        let cache = tmp.path().join("cache");
        let sai3 = Sai3::new(backend);
        let raw = sai3.run_config("lookup", &config, &cache, &["--json", "7"]);
        let json: serde_json::Value = common::parse("lookup", &raw);
        assert_eq!(
            json[0]["endpoint"],
            serde_json::Value::Null,
            "{backend}: {json}"
        );
        assert_eq!(json[0]["uri"], serde_json::Value::Null, "{backend}: {json}");
        let report = prepare(backend, &config, &cache, &[]);
        assert_eq!(
            report.created, 0,
            "{backend}: adopted where it is: {report:?}"
        );
        assert_eq!(report.already_present, 10, "{backend}: {report:?}");
        let found = sai3.lookup(&config, &cache, &["7", "8"]);
        assert_eq!(found[0].endpoint, 0, "{backend}: {}", found[0].uri);
        assert!(
            found[0].uri.ends_with("/ep0/prepared-00000007.dat"),
            "{backend}"
        );
        assert_eq!(found[1].endpoint, 1, "{backend}: {}", found[1].uri);
        assert_eq!(found[0].state.as_deref(), Some("created"), "{backend}");
        // Nothing was written twice: each endpoint still holds exactly its objects.
        assert_eq!(dataset_files(&tmp.path().join("ep0")).len(), 2, "{backend}");
        assert_eq!(dataset_files(&tmp.path().join("ep1")).len(), 8, "{backend}");
        let again = prepare(backend, &config, &cache, &[]);
        assert_eq!(
            again.listing_source,
            ListingSource::Ledger,
            "{backend}: {again:?}"
        );
        assert_eq!(again.list_calls, 0, "{backend}: {again:?}");
    }
}
