//! Damaged caches: with bytes flipped in the files of the coordinator or an endpoint cache,
//! `lookup` and `prepare` either answer exactly as before, or say the cache is damaged (and
//! prepare rebuilds it). Never a wrong path, state or listing, never a panic.

mod common;

use std::path::{Path, PathBuf};

use cache_sai3::prepare::PrepareReport;

use common::files::{copy_dir, files_under};
use common::{Config, backends, dataset_files, prepare, run};

/// Flips bytes in every file of `dir`: within the first 64 KiB (where data is) and anywhere.
fn damage(dir: &Path, seed: u64) {
    for f in files_under(dir, |name| name != "SAI3-CACHE-FORMAT") {
        let mut bytes = std::fs::read(&f).expect("read");
        if bytes.is_empty() {
            continue;
        }
        let len = bytes.len() as u64;
        let dense = len.min(64 * 1024);
        for k in 0..4u64 {
            let at = (seed.wrapping_mul(7919) + k * 104_729) % if k % 2 == 0 { dense } else { len };
            bytes[at as usize] ^= 0x5a;
        }
        std::fs::write(&f, bytes).expect("write");
    }
}

fn lookup(backend: &str, config: &Path, cache: &Path) -> std::process::Output {
    let mut args = vec![
        "lookup".to_string(),
        "--json".into(),
        "--config".into(),
        config.display().to_string(),
        "--cache-dir".into(),
        cache.display().to_string(),
    ];
    args.extend((0..60).step_by(7).map(|i| i.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(backend, &args)
}

#[test]
fn damaged_caches_never_give_wrong_answers() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = tmp.path().join("cache");
        let config = Config::tree(3, 2, 20)
            .size("700")
            .local_endpoints(tmp.path(), 2)
            .write(tmp.path());
        prepare(backend, &config, &cache, &[]);
        let baseline = lookup(backend, &config, &cache);
        assert!(baseline.status.success());
        let targets = [
            cache.join(".sai3-coordinator-cache"),
            tmp.path().join("ep0/sai3-kv-cache/agents/0"),
        ];
        let pristine = tmp.path().join("pristine");
        for t in &targets {
            copy_dir(
                t,
                &pristine.join(t.strip_prefix(tmp.path()).expect("inside")),
            );
        }
        for target in &targets {
            for seed in 1..=4u64 {
                // Restore every cache, then damage one.
                for t in &targets {
                    let _ = std::fs::remove_dir_all(t);
                    copy_dir(
                        &pristine.join(t.strip_prefix(tmp.path()).expect("inside")),
                        t,
                    );
                }
                damage(target, seed);
                let what = format!("{backend}, {} damaged with seed {seed}", target.display());

                let out = lookup(backend, &config, &cache);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    !stderr.contains("panicked"),
                    "{what}: lookup panicked: {stderr}"
                );
                match out.status.code() {
                    Some(0) => assert_eq!(
                        out.stdout, baseline.stdout,
                        "{what}: lookup answered differently"
                    ),
                    Some(3) => assert!(stderr.contains("cannot be trusted"), "{what}: {stderr}"),
                    other => panic!("{what}: lookup exited {other:?}: {stderr}"),
                }

                let out = common::tool(backend)
                    .args(["prepare", "--json", "--config"])
                    .arg(&config)
                    .arg("--cache-dir")
                    .arg(&cache)
                    .output()
                    .expect("run prepare");
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    !stderr.contains("panicked"),
                    "{what}: prepare panicked: {stderr}"
                );
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{what}: prepare failed: {stderr}"
                );
                let report: PrepareReport = common::parse(&what, &out);
                assert_eq!(
                    report.created + report.already_present,
                    180,
                    "{what}: {report:?}"
                );
                let files: usize = (0..2)
                    .map(|e| dataset_files(&tmp.path().join(format!("ep{e}"))).len())
                    .sum();
                assert_eq!(files, 180, "{what}");
                // After prepare, the caches answer exactly as before the damage.
                let again = lookup(backend, &config, &cache);
                assert!(
                    again.status.success(),
                    "{what}: {}",
                    String::from_utf8_lossy(&again.stderr)
                );
                assert_eq!(
                    again.stdout, baseline.stdout,
                    "{what}: answers changed after rebuild"
                );
            }
        }
    }
}

/// The case that once made `lookup` panic inside fjall: one bit flipped at offset 9 of a
/// keyspace manifest of an endpoint cache (fjall checks no checksum of its own there). Now the
/// checksums of the closed cache refuse it before fjall reads it.
#[test]
fn flipped_fjall_manifest_bit_is_damage_not_a_panic() {
    if !backends().contains(&"fjall") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let config = Config::tree(5, 2, 200)
        .size("100")
        .local_endpoints(tmp.path(), 1)
        .write(tmp.path());
    prepare("fjall", &config, &cache, &[]);
    let baseline = lookup("fjall", &config, &cache);
    assert!(baseline.status.success());
    let engine = tmp.path().join("ep0/sai3-kv-cache/agents/0/fjall");
    let files = files_under(&engine.join("keyspaces"), |name| {
        name != "SAI3-CACHE-FORMAT"
    });
    let manifests: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "v0"))
        .collect();
    assert!(!manifests.is_empty(), "no keyspace manifest in {files:?}");
    for manifest in manifests {
        let pristine = std::fs::read(manifest).expect("read");
        let mut bytes = pristine.clone();
        if bytes.len() <= 9 {
            continue;
        }
        bytes[9] ^= 1;
        std::fs::write(manifest, &bytes).expect("write");
        let what = format!("{} flipped at offset 9", manifest.display());
        let out = lookup("fjall", &config, &cache);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        assert_eq!(out.status.code(), Some(3), "{what}: {stderr}");
        assert!(stderr.contains("cannot be trusted"), "{what}: {stderr}");
        std::fs::write(manifest, &pristine).expect("restore");
    }
    // Restored byte for byte: the same answers.
    let again = lookup("fjall", &config, &cache);
    assert_eq!(again.stdout, baseline.stdout);
}
