//! NEW (the issue: a prepare whose writes failed said only "N failed", never why). Fails until
//! the CLI work lands: failed writes are counted, the run exits with code 1, and the report
//! (JSON and text) carries the store's own reason for the first failures.
//!
//! The refusing endpoint is a real one: a local endpoint where a regular file sits where the
//! tree's first level-1 directory must be, so every object under it fails with the operating
//! system's "Not a directory" (a read-only directory would not do: the tests run as root).

mod common;

use cache_sai3::dataset::Dataset;
use cache_sai3::placement;
use cache_sai3::prepare::PrepareReport;
use common::{Config, Sai3, each_backend, stderr};

/// The operating system's reason for writing below a regular file (ENOTDIR).
const REASON: &str = "Not a directory";

#[test]
fn failed_writes_have_reasons() {
    each_backend("file:// endpoint", |backend| {
        let tmp = tempfile::tempdir().expect("tempdir");
        let endpoint = tmp.path().join("ep0");
        let config = Config::tree(2, 2, 5)
            .size("64")
            .endpoints(&[format!("file://{}/", endpoint.display())])
            .write(tmp.path());
        let cache = tmp.path().join("cache");
        // A file named like the first level-1 directory: the 10 objects under it cannot be written.
        let dataset = Dataset::load(&config).expect("dataset");
        let first = placement::locate(&dataset, 0, 0).expect("object 0").path;
        let blocker = first.split('/').next().expect("a level-1 directory");
        std::fs::create_dir_all(&endpoint).expect("endpoint dir");
        std::fs::write(endpoint.join(blocker), b"in the way").expect("blocking file");

        let sai3 = Sai3::new(backend);
        let out = sai3.run_config("prepare", &config, &cache, &["--json"]);
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            out.status.code(),
            Some(1),
            "failed writes exit with 1: {err}"
        );
        let report: PrepareReport = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON report ({e}): {}\n{err}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        assert!(report.failed > 0, "{report:?}");
        assert_eq!(report.failed, 10, "every object below the file: {report:?}");
        assert_eq!(report.created + report.failed, 20, "{report:?}");
        let e = &report.endpoints[0];
        assert!(
            !e.sealed,
            "an endpoint with failed writes is not sealed: {e:?}"
        );
        assert_eq!(
            e.write_failures.by_kind.values().sum::<u64>(),
            e.failed,
            "{e:?}"
        );
        let reason = e
            .write_failures
            .first
            .first()
            .unwrap_or_else(|| panic!("no failure text: {e:?}"));
        assert!(reason.contains(REASON), "{reason}");
        assert!(
            reason.contains(blocker),
            "the reason names the path: {reason}"
        );

        // The text report prints the reasons too (the failed objects are tried again).
        let out = sai3.run_config("prepare", &config, &cache, &[]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(text.contains(REASON), "{text}");

        // Once the obstacle is gone, the next prepare creates exactly what failed.
        std::fs::remove_file(endpoint.join(blocker)).expect("remove the blocking file");
        let fixed = sai3.prepare(&config, &cache, &[]);
        assert_eq!(fixed.created, 10, "{fixed:?}");
        assert_eq!(fixed.failed, 0, "{fixed:?}");
        assert!(fixed.endpoints[0].sealed, "{fixed:?}");
    });
}
