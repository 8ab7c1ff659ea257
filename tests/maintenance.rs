//! clear, export and import.

mod common;

use common::{backends, prepare, run, tree_config};

fn s(p: &std::path::Path) -> String {
    p.display().to_string()
}

#[test]
fn export_clear_import_round_trip_keeps_the_cache_at_work() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = tmp.path().join("cache");
        let config = tree_config(tmp.path(), 2, 2, 10, 2, "300");
        prepare(backend, &config, &cache, &[]);
        let archive = tmp.path().join("backup.tar.zst");
        let out = run(
            backend,
            &[
                "export",
                "--config",
                &s(&config),
                "--cache-dir",
                &s(&cache),
                "--output",
                &s(&archive),
            ],
        );
        assert!(
            out.status.success(),
            "{backend}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("exported 3 caches"));

        let out = run(
            backend,
            &[
                "clear",
                "--all",
                "--config",
                &s(&config),
                "--cache-dir",
                &s(&cache),
            ],
        );
        assert!(out.status.success());
        assert!(!tmp.path().join("ep0/sai3-kv-cache").exists());
        assert!(!cache.join(".sai3-coordinator-cache").exists());

        let out = run(
            backend,
            &["import", "--input", &s(&archive), "--cache-dir", &s(&cache)],
        );
        assert!(
            out.status.success(),
            "{backend}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let again = prepare(backend, &config, &cache, &[]);
        assert_eq!(again["list_calls"], 0, "{backend}: {again}");
        assert_eq!(again["created"], 0);

        // Importing over existing caches needs --force, which keeps the old ones aside.
        let out = run(
            backend,
            &["import", "--input", &s(&archive), "--cache-dir", &s(&cache)],
        );
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
        let out = run(
            backend,
            &[
                "import",
                "--force",
                "--input",
                &s(&archive),
                "--cache-dir",
                &s(&cache),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // clear --keyspace drops one keyspace everywhere.
        let out = run(
            backend,
            &[
                "clear",
                "--keyspace",
                "objects",
                "--config",
                &s(&config),
                "--cache-dir",
                &s(&cache),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let after = prepare(backend, &config, &cache, &[]);
        assert_eq!(
            after["listing_source"], "list",
            "{backend}: without a ledger it must list"
        );
        assert_eq!(after["created"], 0);
    }
}

#[test]
fn hostile_and_truncated_archives_are_refused() {
    let backend = backends()[0];
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let config = tree_config(tmp.path(), 2, 1, 5, 1, "100");
    prepare(backend, &config, &cache, &[]);
    let archive = tmp.path().join("a.tar.zst");
    let out = run(
        backend,
        &[
            "export",
            "--cache-dir",
            &s(&cache),
            "--output",
            &s(&archive),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Truncated: an error naming the damage, nothing installed.
    let bytes = std::fs::read(&archive).expect("read");
    let cut = tmp.path().join("cut.tar.zst");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let target = tmp.path().join("elsewhere");
    let out = run(
        backend,
        &["import", "--input", &s(&cut), "--cache-dir", &s(&target)],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("damaged")
            || stderr.contains("truncated")
            || stderr.contains("incomplete")
            || stderr.contains("EOF"),
        "{stderr}"
    );
    assert!(!target.join(".sai3-coordinator-cache").exists());

    // An entry that climbs out of the archive.
    let evil = tmp.path().join("evil.tar.zst");
    {
        let f = std::fs::File::create(&evil).expect("create");
        let enc = zstd::Encoder::new(f, 3).expect("zstd");
        let mut tar = tar::Builder::new(enc);
        let manifest = br#"{"format":1,"backend":"fjall","caches":[]}"#;
        let mut h = tar::Header::new_gnu();
        h.set_size(manifest.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, "SAI3-CACHE-EXPORT", &manifest[..])
            .expect("append");
        let mut h = tar::Header::new_old();
        let name = b"../../escaped.txt";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append(&h, &b"hi"[..]).expect("append");
        tar.into_inner().expect("tar").finish().expect("zstd");
    }
    let out = run(
        backend,
        &["import", "--input", &s(&evil), "--cache-dir", &s(&target)],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("outside the archive"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!tmp.path().join("escaped.txt").exists());
}
