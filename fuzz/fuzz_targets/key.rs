//! Key decoding: any bytes read as the key layouts of the caches either decode or fail with an
//! error, never a panic.
#![no_main]

use cache_core::KeyReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // tag dataset u16 u64 (per object), tag dataset u16 (per pool), tag dataset, str, bytes.
    let mut r = KeyReader::new(data);
    let _ = r
        .tag()
        .and_then(|_| r.dataset())
        .and_then(|_| r.u16())
        .and_then(|_| r.u64());
    let _ = r.finish();
    let mut r = KeyReader::new(data);
    let _ = r
        .str()
        .and_then(|_| r.len_prefixed().map(|_| ()))
        .and_then(|_| r.u32());
    let _ = r.rest();
});
