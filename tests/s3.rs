//! prepare, push, pull and verify against real S3 protocol servers on 127.0.0.1: every test
//! body runs on moto and on s3s-fs (which checks signatures), each started by the test on a
//! free port and stopped by PID. The test command installs both when they are missing.

mod common;

use common::{backends, tool};
use test_servers::{ACCESS_KEY, Moto, S3Server, S3sFs, SECRET_KEY};

/// Credentials of the test S3 servers.
const AWS_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
    ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
    ("AWS_REGION", "us-east-1"),
];

/// Runs `$body(&dyn S3Server)` as one test per server.
macro_rules! on_each_s3_server {
    ($($name:ident => $body:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn moto() {
                    super::$body(&super::Moto::start());
                }
                #[test]
                fn s3s_fs() {
                    super::$body(&super::S3sFs::start());
                }
            }
        )*
    };
}

on_each_s3_server!(
    lists_once_then_trusts_the_ledger => prepare_on_s3_lists_once_then_trusts_the_ledger,
    reattach => pushed_caches_let_another_agent_reattach_without_listing,
    dataset_record => dataset_record_renews_an_expired_seal_with_one_get,
    verify_drift => verify_finds_drift_on_s3,
);

fn prepare_s3(
    backend: &str,
    config: &std::path::Path,
    cache: &std::path::Path,
    extra: &[&str],
) -> serde_json::Value {
    common::prepare_with_env(backend, config, cache, extra, &AWS_ENV)
}

fn prepare_on_s3_lists_once_then_trusts_the_ledger(moto: &dyn S3Server) {
    for backend in backends() {
        let bucket = format!("sai3-{backend}");
        moto.create_bucket(&bucket);
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = tmp.path().join("s3.yaml");
        std::fs::write(
            &config,
            format!(
                "prepare:\n  directory_structure: {{ width: 3, depth: 2, files_per_dir: 10 }}\n  ensure_objects: [{{ count: 90, size_spec: 512 }}]\nmulti_endpoint:\n  endpoints:\n    - s3://127.0.0.1:{0}/{1}/ep0/\n    - s3://127.0.0.1:{0}/{1}/ep1/\n",
                moto.port(), bucket
            ),
        )
        .expect("write config");
        let cache = tmp.path().join("cache");
        let first = prepare_s3(backend, &config, &cache, &[]);
        assert_eq!(first["created"], 90, "{backend}: {first}");
        assert_eq!(first["listing_source"], "list");
        // Object-store endpoint caches live under the cache dir.
        let loc = first["endpoints"][0]["cache_location"]
            .as_str()
            .expect("location");
        assert!(loc.starts_with(&cache.display().to_string()), "{loc}");

        let second = prepare_s3(backend, &config, &cache, &[]);
        assert_eq!(second["list_calls"], 0, "{backend}: {second}");
        assert_eq!(second["created"], 0);

        // A refresh lists the bucket again and finds every object (names, sizes) in place.
        let refreshed = prepare_s3(backend, &config, &cache, &["--refresh-cache"]);
        assert_eq!(refreshed["listing_source"], "list");
        assert_eq!(refreshed["already_present"], 90, "{backend}: {refreshed}");
        assert_eq!(refreshed["created"], 0);
        assert_eq!(refreshed["endpoints"][0]["other_keys"], 0);
    }
}

#[test]
fn bad_object_store_uris_fail_before_any_work() {
    let backend = backends()[0];
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("bad.yaml");
    std::fs::write(
        &config,
        "prepare:\n  ensure_objects: [{ count: 3 }]\nmulti_endpoint:\n  endpoints: [\"s3://127.0.0.1:notaport/b/\"]\n",
    )
    .expect("write");
    let out = tool(backend)
        .args(["prepare", "--config"])
        .arg(&config)
        .arg("--cache-dir")
        .arg(tmp.path().join("cache"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not host:port"), "{stderr}");
    assert!(
        !tmp.path().join("cache").exists(),
        "nothing may be created before the error"
    );
}

fn pushed_caches_let_another_agent_reattach_without_listing(moto: &dyn S3Server) {
    for backend in backends() {
        let bucket = format!("reattach-{backend}");
        moto.create_bucket(&bucket);
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = tmp.path().join("s3.yaml");
        std::fs::write(
            &config,
            format!(
                "prepare:\n  ensure_objects: [{{ count: 200, size_spec: {{ type: uniform, min: 100, max: 2000 }} }}]\nmulti_endpoint:\n  endpoints:\n    - s3://127.0.0.1:{0}/{1}/a/\n    - s3://127.0.0.1:{0}/{1}/b/\n",
                moto.port(), bucket
            ),
        )
        .expect("write config");
        let first_agent = tmp.path().join("agent1");
        let first = prepare_s3(backend, &config, &first_agent, &[]);
        assert_eq!(first["created"], 200, "{backend}: {first}");
        let pushed: Vec<u64> = first["sync"]
            .as_array()
            .expect("sync")
            .iter()
            .filter_map(|s| s["pushed"]["generation"].as_u64())
            .collect();
        assert_eq!(pushed, [1, 1], "{backend}: {first}");

        // A second agent with an empty cache dir pulls, then looks up and prepares.
        let second_agent = tmp.path().join("agent2");
        let env = AWS_ENV;
        let pull = tool(backend)
            .args(["pull", "--json", "--config"])
            .arg(&config)
            .arg("--cache-dir")
            .arg(&second_agent)
            .envs(env)
            .output()
            .expect("run pull");
        assert!(
            pull.status.success(),
            "{}",
            String::from_utf8_lossy(&pull.stderr)
        );
        let pulled: serde_json::Value = serde_json::from_slice(&pull.stdout).expect("json");
        assert_eq!(pulled[0]["pulled"]["generation"], 1);
        let lookup = tool(backend)
            .args(["lookup", "--json", "--config"])
            .arg(&config)
            .arg("--cache-dir")
            .arg(&second_agent)
            .args(["3", "4"])
            .output()
            .expect("run lookup");
        assert!(
            lookup.status.success(),
            "{}",
            String::from_utf8_lossy(&lookup.stderr)
        );
        let found: serde_json::Value = serde_json::from_slice(&lookup.stdout).expect("json");
        assert_eq!(found[0]["state"], "created", "{backend}: {found}");
        assert_eq!(
            found[0]["uri"],
            format!(
                "s3://127.0.0.1:{}/{bucket}/b/prepared-00000003.dat",
                moto.port()
            )
        );
        let again = prepare_s3(backend, &config, &second_agent, &["--no-pull"]);
        assert_eq!(
            again["list_calls"], 0,
            "{backend}: the pulled ledger proves what exists: {again}"
        );
        assert_eq!(again["created"], 0);
    }
}

fn dataset_record_renews_an_expired_seal_with_one_get(moto: &dyn S3Server) {
    use object_store::ObjectStoreExt;
    let backend = backends()[0];
    moto.create_bucket("record");
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("s3.yaml");
    std::fs::write(
        &config,
        format!(
            "prepare:\n  ensure_objects: [{{ count: 30, size_spec: 100 }}]\nmulti_endpoint:\n  endpoints: [\"s3://127.0.0.1:{}/record/ep0/\"]\n",
            moto.port()
        ),
    )
    .expect("write config");
    let cache = tmp.path().join("cache");
    prepare_s3(backend, &config, &cache, &["--cache-ttl", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let renewed = prepare_s3(backend, &config, &cache, &["--cache-ttl", "1", "--no-pull"]);
    assert_eq!(renewed["list_calls"], 0, "{renewed}");
    assert_eq!(
        renewed["endpoints"][0]["trusted_by_dataset_record"], true,
        "{renewed}"
    );

    // Another sealing happened there (its record differs): the expired seal must not be trusted.
    let store = moto.store("record");
    let path = object_store::path::Path::from("ep0/sai3-kv-cache/DATASET");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut record: serde_json::Value = serde_json::from_slice(&rt.block_on(async {
        store
            .get(&path)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes")
    }))
    .expect("record JSON");
    record["sealed_ms"] = serde_json::json!(1);
    rt.block_on(store.put(&path, serde_json::to_vec(&record).expect("json").into()))
        .expect("put");
    let listed = prepare_s3(backend, &config, &cache, &["--cache-ttl", "1", "--no-pull"]);
    assert_eq!(listed["listing_source"], "list", "{listed}");
    assert!(listed["list_calls"].as_u64().expect("n") > 0);
}

fn verify_finds_drift_on_s3(server: &dyn S3Server) {
    use object_store::ObjectStoreExt;
    let backend = backends()[0];
    server.create_bucket("verify");
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("s3.yaml");
    std::fs::write(
        &config,
        format!(
            "prepare:\n  key_prefix_shards: 4\n  ensure_objects: [{{ count: 40, size_spec: 64 }}]\nmulti_endpoint:\n  endpoints: [\"s3://127.0.0.1:{}/verify/ep/\"]\n",
            server.port()
        ),
    )
    .expect("write config");
    let cache = tmp.path().join("cache");
    prepare_s3(backend, &config, &cache, &[]);
    let verify = || {
        let out = tool(backend)
            .args(["verify", "--json", "--sample", "10", "--config"])
            .arg(&config)
            .arg("--cache-dir")
            .arg(&cache)
            .envs(AWS_ENV)
            .output()
            .expect("run verify");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let clean = verify();
    assert_eq!(clean[0]["ranges_total"], 4, "{clean}");
    assert_eq!(clean[0]["missing"], 0, "{clean}");
    let store = server.store("verify");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(store.delete(&object_store::path::Path::from(
        "ep/01/prepared-00000005.dat",
    )))
    .expect("delete");
    let drift = verify();
    assert_eq!(drift[0]["missing"], 1, "{drift}");
    assert_eq!(drift[0]["unsealed"], true);
    let restored = prepare_s3(backend, &config, &cache, &["--no-pull"]);
    assert_eq!(restored["created"], 1, "{restored}");
}
