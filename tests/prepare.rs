//! The prepare flow end to end on local endpoints, through the real binary, on every backend
//! compiled in: the second run makes no LIST call, config changes miss, TTL and refresh list
//! again, pools do not collide, and each endpoint cache holds only its own objects.

mod common;

use std::time::Duration;

use common::{backends, dataset_files, keyspace_entries, prepare, run, tree_config};

#[test]
fn second_prepare_makes_no_list_call_and_creates_nothing() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = tree_config(tmp.path(), 3, 2, 50, 4, "2KiB");
        let cache = tmp.path().join("cache");
        let first = prepare(backend, &config, &cache, &[]);
        assert_eq!(first["created"], 450, "{backend}: {first}");
        assert_eq!(first["listing_source"], "list");
        assert!(first["list_calls"].as_u64().expect("n") >= 4);
        let on_disk: usize = (0..4)
            .map(|e| dataset_files(&tmp.path().join(format!("ep{e}"))).len())
            .sum();
        assert_eq!(on_disk, 450);

        let second = prepare(backend, &config, &cache, &[]);
        assert_eq!(second["list_calls"], 0, "{backend}: {second}");
        assert_eq!(second["listed_from_cache"], true);
        assert_eq!(second["listing_source"], "ledger");
        assert_eq!(second["created"], 0);
        assert_eq!(second["already_present"], 450);
        for key in ["open_s", "list_s", "create_s", "persist_s", "total_s"] {
            assert!(second["phases"][key].is_number(), "phase {key}");
        }
    }
}

#[test]
fn config_change_is_a_new_hash_and_a_miss() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = tmp.path().join("cache");
        let config = tree_config(tmp.path(), 3, 2, 20, 2, "1KiB");
        let first = prepare(backend, &config, &cache, &[]);
        // One more file per directory: a different dataset over the same names.
        let config = tree_config(tmp.path(), 3, 2, 21, 2, "1KiB");
        let second = prepare(backend, &config, &cache, &[]);
        assert_ne!(first["config_hash"], second["config_hash"]);
        assert_eq!(second["listing_source"], "list", "{backend}: {second}");
        assert!(second["list_calls"].as_u64().expect("n") > 0);
        // Objects of the first dataset keep their name only where file i stays in the same
        // directory (i / 20 == i / 21); those are found, the rest are created, and the old
        // files at other paths are reported as keys outside the dataset.
        let kept = (0..180u64).filter(|i| i / 20 == i / 21).count() as u64;
        assert!(kept > 0);
        assert_eq!(second["already_present"], kept, "{backend}: {second}");
        assert_eq!(second["created"], 189 - kept);
        let other: u64 = (0..2)
            .map(|e| second["endpoints"][e]["other_keys"].as_u64().expect("n"))
            .sum();
        assert_eq!(other, 180 - kept);
    }
}

#[test]
fn expired_ttl_and_refresh_list_again() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = tmp.path().join("cache");
        let config = tree_config(tmp.path(), 2, 2, 10, 2, "512");
        prepare(backend, &config, &cache, &[]);
        let fresh = prepare(backend, &config, &cache, &["--cache-ttl", "3600"]);
        assert_eq!(fresh["list_calls"], 0, "{backend}: {fresh}");
        std::thread::sleep(Duration::from_millis(1200));
        let expired = prepare(backend, &config, &cache, &["--cache-ttl", "1"]);
        assert_eq!(expired["listing_source"], "list", "{backend}: {expired}");
        assert!(expired["list_calls"].as_u64().expect("n") > 0);
        assert_eq!(expired["created"], 0);
        // That LIST was cached (a TTL was given): within the TTL it is used, without a LIST.
        let cached = prepare(backend, &config, &cache, &["--cache-ttl", "3600"]);
        assert_eq!(cached["list_calls"], 0, "{backend}: {cached}");
        let refreshed = prepare(backend, &config, &cache, &["--refresh-cache"]);
        assert_eq!(
            refreshed["listing_source"], "list",
            "{backend}: {refreshed}"
        );
        assert!(refreshed["list_calls"].as_u64().expect("n") > 0);
        let none = prepare(backend, &config, &cache, &["--no-cache"]);
        assert!(none["list_calls"].as_u64().expect("n") > 0);
        assert_eq!(
            none["endpoints"][0]["cache_location"],
            serde_json::Value::Null
        );
    }
}

#[test]
fn listing_cache_is_used_within_its_ttl_after_a_partial_run() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = tmp.path().join("cache");
        let config = tree_config(tmp.path(), 2, 2, 10, 1, "256");
        prepare(backend, &config, &cache, &["--cache-ttl", "600"]);
        // A LIST with a TTL in force is stored; a refresh stores a new one.
        let listed = prepare(
            backend,
            &config,
            &cache,
            &["--refresh-cache", "--cache-ttl", "600"],
        );
        assert_eq!(listed["listing_source"], "list");
        let entries = keyspace_entries(
            backend,
            &tmp.path().join("ep0/sai3-kv-cache"),
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
        let config = tmp.path().join("pools.yaml");
        std::fs::write(
            &config,
            format!(
                "prepare:\n  key_prefix_shards: 3\n  ensure_objects:\n    - {{ count: 40, size_spec: {{ type: uniform, min: 100, max: 900 }} }}\nmulti_endpoint:\n  endpoints: [\"file://{0}/a\", \"file://{0}/b\"]\nworkload:\n  - {{ op: get, weight: 5 }}\n  - {{ op: delete, weight: 1 }}\n",
                tmp.path().display()
            ),
        )
        .expect("write");
        let r = prepare(backend, &config, &cache, &[]);
        assert_eq!(r["created"], 80, "{backend}: {r}");
        let a = dataset_files(&tmp.path().join("a"));
        assert_eq!(a.len(), 40);
        assert!(a.contains(&"00/prepared-00000000.dat".to_string()), "{a:?}");
        assert!(
            a.contains(&"00/deletable-00000000.dat".to_string()),
            "{a:?}"
        );
        let out = run(
            backend,
            &[
                "lookup",
                "--json",
                "--config",
                &config.display().to_string(),
                "--cache-dir",
                &cache.display().to_string(),
                "1:7",
                "7",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let found: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(found[0]["path"], "01/deletable-00000007.dat");
        assert_eq!(found[1]["path"], "01/prepared-00000007.dat");
        assert_eq!(found[0]["endpoint"], 1);
        assert_eq!(found[0]["state"], "created");
        let size = found[1]["size"].as_u64().expect("size");
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
        let config = tree_config(tmp.path(), 2, 2, 5, 2, "64");
        prepare(backend, &config, &cache, &["--populate", "eager"]);
        for e in 0..2 {
            let dir = tmp.path().join(format!("ep{e}/sai3-kv-cache"));
            let entries = keyspace_entries(backend, &dir, "file_paths");
            assert_eq!(entries, 10, "{backend} endpoint {e}");
        }
        // A lookup verifies the stored path against the naming rules and agrees.
        let out = run(
            backend,
            &[
                "lookup",
                "--json",
                "--config",
                &config.display().to_string(),
                "--cache-dir",
                &cache.display().to_string(),
                "19",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let found: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(found[0]["path"], "d1_w2.dir/d2_w2.dir/file_00000019.dat");
    }
}

#[test]
fn verify_finds_drift_repairs_the_ledger_and_prepare_restores() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = tmp.path().join("cache");
        let config = tree_config(tmp.path(), 3, 2, 10, 2, "200");
        prepare(backend, &config, &cache, &[]);
        let verify = |k: &str| {
            let out = run(
                backend,
                &[
                    "verify",
                    "--json",
                    "--sample",
                    k,
                    "--config",
                    &config.display().to_string(),
                    "--cache-dir",
                    &cache.display().to_string(),
                ],
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
        };
        let clean = verify("100");
        assert_eq!(clean[0]["ranges_total"], 3, "{clean}");
        assert_eq!(clean[0]["missing"], 0);
        // Out-of-band damage on endpoint 0: one object deleted, one rewritten with a wrong size.
        let ep0 = tmp.path().join("ep0");
        std::fs::remove_file(ep0.join("d1_w1.dir/d2_w1.dir/file_00000000.dat")).expect("rm");
        std::fs::write(ep0.join("d1_w2.dir/d2_w1.dir/file_00000030.dat"), b"short").expect("write");
        let drift = verify("100");
        assert_eq!(
            drift[0]["heads"], 0,
            "every range was listed: nothing left to HEAD"
        );
        assert_eq!(drift[0]["missing"], 1, "{drift}");
        assert_eq!(drift[0]["size_mismatch"], 1, "{drift}");
        assert_eq!(drift[0]["ranges_differing"], 2);
        assert_eq!(drift[0]["unsealed"], true);
        assert_eq!(drift[1]["missing"], 0, "endpoint 1 is intact");
        // The repaired ledger makes the next prepare restore exactly those two objects.
        let restored = prepare(backend, &config, &cache, &[]);
        assert_eq!(restored["created"], 2, "{backend}: {restored}");
        assert_eq!(verify("100")[0]["missing"], 0);

        // A sample of 2: two of the three ranges are listed, and 2 objects of the third are
        // HEADed. With every file of endpoint 0 gone, each of them finds drift.
        for f in dataset_files(&ep0) {
            std::fs::remove_file(ep0.join(f)).expect("rm");
        }
        let sampled = verify("2");
        assert_eq!(sampled[0]["ranges_sampled"], 2, "{sampled}");
        assert_eq!(sampled[0]["heads"], 2);
        assert_eq!(sampled[0]["missing"], 2 * 15 + 2, "{sampled}");
        let rebuilt = prepare(backend, &config, &cache, &[]);
        assert_eq!(
            rebuilt["listing_source"], "list",
            "an unsealed endpoint is listed"
        );
        assert_eq!(rebuilt["created"], 45, "{backend}: {rebuilt}");
    }
}
