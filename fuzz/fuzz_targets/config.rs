//! sai3-bench YAML configs: parsed and turned into a dataset (trees, sizes, placement, agents),
//! or refused with an error; never a panic, an overflow or an allocation sized by a count.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.yaml");
    if let Ok(config) = cache_sai3::config::Sai3Config::parse(text, path)
        && let Ok(dataset) = cache_sai3::dataset::Dataset::from_config(&config, path)
    {
        // A few names of each pool, first and last.
        for pool in &dataset.pools {
            for i in [0, pool.count.saturating_sub(1)] {
                let _ = dataset.path_of(pool, i);
            }
        }
    }
});
