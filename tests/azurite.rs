//! prepare, push and pull against a real Azure Blob protocol server (Azurite) on 127.0.0.1,
//! through object_store's emulator mode as a user would configure it (environment variables).

mod common;

use common::{backends, tool};
use test_servers::Azurite;

fn run_json(
    backend: &str,
    az: &Azurite,
    args: &[&str],
    config: &std::path::Path,
    cache: &std::path::Path,
) -> serde_json::Value {
    let out = tool(backend)
        .args(args)
        .args(["--json", "--config"])
        .arg(config)
        .arg("--cache-dir")
        .arg(cache)
        .envs(az.env())
        .output()
        .expect("run sai3-cache");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn prepare_push_and_reattach_on_azure_blob() {
    let az = Azurite::start();
    for backend in backends() {
        let container = format!("c-{backend}");
        az.create_container(&container);
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = tmp.path().join("az.yaml");
        std::fs::write(
            &config,
            format!(
                "prepare:\n  directory_structure: {{ width: 2, depth: 2, files_per_dir: 15 }}\n  ensure_objects: [{{ count: 60, size_spec: 300 }}]\nmulti_endpoint:\n  endpoints: [\"az://devstoreaccount1/{container}/bench/\"]\n"
            ),
        )
        .expect("write config");
        let agent1 = tmp.path().join("agent1");
        let first = run_json(backend, &az, &["prepare"], &config, &agent1);
        assert_eq!(first["created"], 60, "{backend}: {first}");
        assert_eq!(first["listing_source"], "list");
        let second = run_json(backend, &az, &["prepare"], &config, &agent1);
        assert_eq!(second["list_calls"], 0, "{backend}: {second}");

        let agent2 = tmp.path().join("agent2");
        let pulled = run_json(backend, &az, &["pull"], &config, &agent2);
        assert!(
            pulled[0]["pulled"]["generation"]
                .as_u64()
                .expect("generation")
                >= 1,
            "{pulled}"
        );
        let third = run_json(backend, &az, &["prepare", "--no-pull"], &config, &agent2);
        assert_eq!(third["list_calls"], 0, "{backend}: {third}");
        assert_eq!(third["already_present"], 60);

        // verify on Azure Blob: an object deleted behind the tool's back is found and restored.
        let verify = |cache: &std::path::Path| {
            run_json(backend, &az, &["verify", "--sample", "8"], &config, cache)
        };
        assert_eq!(verify(&agent2)[0]["missing"], 0);
        let store = az.store(&container);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let victim = object_store::path::Path::from(
            "bench/sai3bench.d1_w2.dir/sai3bench.d2_w1.dir/file_00000030.dat",
        );
        rt.block_on(object_store::ObjectStoreExt::delete(&store, &victim))
            .expect("delete");
        let drift = verify(&agent2);
        assert_eq!(drift[0]["missing"], 1, "{backend}: {drift}");
        let restored = run_json(backend, &az, &["prepare", "--no-pull"], &config, &agent2);
        assert_eq!(restored["created"], 1, "{backend}: {restored}");
    }
}
