//! Sync manifests as a pull reads them from a store: parsed and checked, or refused.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cache_sync::Manifest::parse("fuzz", data);
});
