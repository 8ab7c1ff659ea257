//! Keys a LIST returns, read back as object indices of a tree dataset and of a flat sharded
//! one: an index, or not an object of the dataset; never a panic. A key that parses must be the
//! name of that index.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use cache_sai3::dataset::Dataset;
use libfuzzer_sys::fuzz_target;

const TREE: &str = "prepare:\n  directory_structure: {width: 3, depth: 3, files_per_dir: 7, \
                    distribution: bottom, dir_mask: \"d%d_w%d.dir\"}\n  ensure_objects:\n    - \
                    base_uri: \"file:///fuzz/\"\n      count: 0\n      size_spec: 1\nworkload: []\n";
const FLAT: &str = "prepare:\n  key_prefix_shards: 16\n  ensure_objects:\n    - base_uri: \
                    \"file:///fuzz/\"\n      count: 1000000\n      size_spec: 1\nworkload: []\n";

fn dataset(yaml: &str) -> Dataset {
    let path = Path::new("fuzz.yaml");
    let config = cache_sai3::config::Sai3Config::parse(yaml, path).expect("a config");
    Dataset::from_config(&config, path).expect("a dataset")
}

fuzz_target!(|data: &[u8]| {
    static SETS: OnceLock<[Dataset; 2]> = OnceLock::new();
    let sets = SETS.get_or_init(|| [dataset(TREE), dataset(FLAT)]);
    let Ok(key) = std::str::from_utf8(data) else {
        return;
    };
    for d in sets {
        for pool in &d.pools {
            if let Some(i) = d.parse_path(pool, key) {
                assert_eq!(
                    d.path_of(pool, i).as_deref(),
                    Some(key),
                    "{key} parsed as {i}"
                );
            }
        }
    }
});
