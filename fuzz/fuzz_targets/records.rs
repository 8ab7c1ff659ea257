//! Records (postcard) and presence bitmaps (roaring): every record type of the caches decodes or
//! fails with an error.
#![no_main]

use cache_sai3::records::{
    ConfigMetadata, EndpointEntry, EndpointState, LedgerEntry, LedgerException, ListProgressRecord,
    ListingSnapshot, PoolSeeds, PresenceChunk, ResumeBasis, TreeManifest, Validations,
};
use libfuzzer_sys::fuzz_target;

fn decode<T: serde::de::DeserializeOwned>(data: &[u8]) {
    let _ = cache_core::record::decode::<T>("fuzz", b"key", data);
}

fuzz_target!(|data: &[u8]| {
    decode::<LedgerEntry>(data);
    decode::<LedgerException>(data);
    decode::<PresenceChunk>(data);
    decode::<TreeManifest>(data);
    decode::<EndpointEntry>(data);
    decode::<ConfigMetadata>(data);
    decode::<EndpointState>(data);
    decode::<ResumeBasis>(data);
    decode::<PoolSeeds>(data);
    decode::<ListingSnapshot>(data);
    decode::<ListProgressRecord>(data);
    decode::<Validations>(data);
    let _ = roaring::RoaringTreemap::deserialize_from(data);
});
