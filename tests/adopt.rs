//! A dataset that sai3-bench wrote is adopted: the first prepare lists it, finds every object
//! with the size sai3-bench gave it, and creates nothing.
//!
//! The sizes below were produced by sai3-bench v0.8.97's own code: a scratch crate compiling
//! its `src/size_generator.rs`, `src/size_parser.rs` and `src/serde_helpers.rs` unchanged (with
//! the rand 0.9.4 / rand_distr 0.5.1 its Cargo.lock pins), parsing each `ensure_objects` entry
//! below with serde_yaml 0.9.34 into its `EnsureSpec`, seeding
//! `SizeGenerator::new_with_seed(spec, seed)` with the fold `acc * 31 + byte` (wrapping) over the
//! entry's `base_uri` as `prepare/sequential.rs` does, and calling `generate()` once per index
//! 0..40 (no `-v`, so no extra draws). The names are sequential prepare's flat names,
//! `prepared-{i:08}.dat` under the base URI.

mod common;

use std::path::Path;

use cache_sai3::prepare::ListingSource;
use common::{Sai3, each_backend};

/// sai3-bench's sizes for uniform 100..5000 on `file:///tmp/sai3-cache-adopt/uniform/`.
const UNIFORM: [u64; 40] = [
    456, 2373, 4943, 642, 2783, 4570, 3253, 696, 450, 2748, 2018, 1385, 258, 882, 4535, 2508, 4021,
    4174, 1146, 4445, 1156, 2665, 3119, 4264, 1343, 3326, 2230, 3763, 2179, 654, 1742, 805, 3109,
    2147, 3016, 981, 539, 3632, 3021, 2147,
];

/// sai3-bench's sizes for lognormal mean 4KiB, std_dev 2KiB, 512..64KiB on
/// `file:///tmp/sai3-cache-adopt/lognormal/`.
const LOGNORMAL: [u64; 40] = [
    5331, 5881, 2361, 1299, 4290, 5011, 3436, 3681, 5018, 3476, 3055, 5301, 4336, 3124, 1843, 5705,
    4525, 5759, 3405, 3033, 5275, 3030, 7328, 3351, 3991, 7102, 5109, 9336, 3341, 2329, 4182, 3734,
    3683, 4210, 3900, 7636, 2047, 4727, 4799, 2746,
];

/// Writes the 40 objects sai3-bench would have written under `dir` and a config that defines
/// them; returns the config.
fn sai3_bench_dataset(
    dir: &Path,
    work: &Path,
    size_spec: &str,
    sizes: &[u64],
) -> std::path::PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("dataset dir");
    for (i, &size) in sizes.iter().enumerate() {
        let name = format!("prepared-{i:08}.dat");
        std::fs::write(dir.join(name), vec![7u8; size as usize]).expect("write object");
    }
    let config = work.join("adopt.yaml");
    let yaml = format!(
        "prepare:\n  ensure_objects:\n    - base_uri: \"file://{}/\"\n      count: {}\n      size_spec:\n{size_spec}workload:\n  - {{ op: get, path: \"*\", weight: 1 }}\n",
        dir.display(),
        sizes.len()
    );
    std::fs::write(&config, yaml).expect("config");
    config
}

fn adopts(kind: &str, size_spec: &str, sizes: &[u64]) {
    each_backend(&format!("file:// endpoint, {kind} sizes"), |backend| {
        let work = tempfile::tempdir().expect("tempdir");
        let dir = Path::new("/tmp/sai3-cache-adopt").join(kind);
        let config = sai3_bench_dataset(&dir, work.path(), size_spec, sizes);
        let cache = work.path().join("cache");
        let sai3 = Sai3::new(backend);
        let first = sai3.prepare(&config, &cache, &[]);
        assert_eq!(first.listing_source, ListingSource::List, "{first:?}");
        assert_eq!(
            first.created, 0,
            "sai3-bench's objects are adopted: {first:?}"
        );
        assert_eq!(first.already_present, sizes.len() as u64, "{first:?}");
        assert_eq!(first.endpoints[0].wrong_size, 0, "{first:?}");
        // One object rewritten with another size is not one of sai3-bench's: it is recreated.
        std::fs::write(dir.join("prepared-00000007.dat"), b"short").expect("rewrite");
        let second = sai3.prepare(&config, &cache, &["--refresh-cache"]);
        assert_eq!(second.created, 1, "{second:?}");
        let size = std::fs::metadata(dir.join("prepared-00000007.dat"))
            .expect("stat")
            .len();
        assert_eq!(size, sizes[7], "recreated with sai3-bench's size");
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn a_uniform_dataset_sai3_bench_wrote_is_adopted() {
    let spec = "        type: uniform\n        min: 100\n        max: 5000\n";
    adopts("uniform", spec, &UNIFORM);
}

#[test]
fn a_lognormal_dataset_sai3_bench_wrote_is_adopted() {
    let spec = "        type: lognormal\n        mean: 4KiB\n        std_dev: 2KiB\n        min: 512\n        max: 64KiB\n";
    adopts("lognormal", spec, &LOGNORMAL);
}
