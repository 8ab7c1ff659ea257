//! DATASET records as read from an endpoint: parsed or not a record.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<cache_sai3::dataset_record::DatasetRecord>(data);
});
