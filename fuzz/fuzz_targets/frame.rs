//! Value frames: any bytes under any key decode to the value that was framed, or fail with a
//! corruption error, never a panic or an allocation sized by the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (key, frame) = data.split_at(data.len().min(8));
    let _ = cache_core::frame::decode("fuzz", key, frame);
});
