//! Every key layout of the sai3 caches, in one place. Built with `cache_core::key`, so byte
//! order equals tuple order (dataset, then pool, then index as big-endian integers).
//!
//! | keyspace | key | value ([`crate::records`]) |
//! |----------|-----|-------|
//! | `tree_manifests` | `T dataset` | `TreeManifest` |
//! | `endpoint_registry` | `R dataset u16:endpoint` | `EndpointEntry` |
//! | `config_metadata` | `M dataset` | `ConfigMetadata` |
//! | `objects` | `C dataset u16:pool u64:chunk` | `PresenceChunk` (present indices of one chunk) |
//! | `objects` | `X dataset u16:pool u64:index` | `LedgerException` (failed, deleted) |
//! | `objects` | `I dataset u16:pool` | in-flight bitmap at the last checkpoint (roaring) |
//! | `file_paths` | `F dataset u16:pool u64:index` | path (UTF-8) |
//! | `listing_cache` | `G dataset` | `ListingSnapshot` |
//! | `listing_cache` | `W dataset` | `ListProgressRecord` (an interrupted LIST) |
//! | `listing_cache` | `q dataset u16:pool u64:chunk` | present indices of one chunk found by it (roaring) |
//! | `listing_cache` | `L dataset`, `Q dataset` | the first layout's listing and progress (removed) |
//! | `endpoint_metadata` | `E dataset` | `EndpointState` (seal, counts) |
//! | `seeds` | `S dataset u16:pool` | `PoolSeeds` |
//! | `endpoint_metadata` | `V` | ledger layout version (`u32`) |
//! | `endpoint_metadata` | `B dataset` | `ResumeBasis` (an unsealed ledger a resume may trust) |
//! | `endpoint_metadata` | `K dataset` | `Validations` (last LIST measured, last verify) |
//!
//! Layout 1 (an `O` row per object and state change, one `P` bitmap per pool) is no longer
//! read: such a cache is moved aside and rebuilt ([`super::LEDGER_LAYOUT`]). Listings and LIST
//! progress of the first layout (`L`, `Q`: every other key kept) are not read either, only
//! removed: a LIST replaces them.

use cache_core::{DatasetId, KeyBuilder, KeyReader};

/// Tag of tree manifest keys.
pub(super) const TREE_MANIFEST: u8 = b'T';
/// Tag of endpoint registry keys.
pub(super) const ENDPOINT_ENTRY: u8 = b'R';
/// Tag of config metadata keys.
pub(super) const CONFIG_METADATA: u8 = b'M';
/// Tag of presence chunk keys.
pub(super) const PRESENCE_CHUNK: u8 = b'C';
/// Tag of ledger exception keys.
pub(super) const EXCEPTION: u8 = b'X';
/// Tag of in-flight bitmap keys.
pub(super) const IN_FLIGHT: u8 = b'I';
/// Tag of the resume basis of an unsealed ledger.
pub(super) const RESUME_BASIS: u8 = b'B';
/// Tag of the record of the last LIST and the last verify.
pub(super) const VALIDATIONS: u8 = b'K';
/// Tag of the ledger layout version, whose key is the tag alone.
pub(super) const LAYOUT: u8 = b'V';
/// Tag of stored path keys.
pub(super) const FILE_PATH: u8 = b'F';
/// Tag of listing snapshot keys.
pub(super) const LISTING: u8 = b'G';
/// Tag of the progress record of an interrupted LIST.
pub(super) const LIST_PROGRESS: u8 = b'W';
/// Tag of the first layout's listing snapshot (removed, never read).
pub(super) const OLD_LISTING: u8 = b'L';
/// Tag of the first layout's LIST progress (removed, never read).
pub(super) const OLD_LIST_PROGRESS: u8 = b'Q';
/// Both.
pub(super) const OLD_LISTINGS: [u8; 2] = [OLD_LISTING, OLD_LIST_PROGRESS];
/// Tag of the presence chunks of an interrupted LIST (written when they change).
pub(super) const LIST_PROGRESS_CHUNK: u8 = b'q';
/// Tag of endpoint state keys.
pub(super) const ENDPOINT_STATE: u8 = b'E';
/// Tag of seed keys.
pub(super) const SEEDS: u8 = b'S';

/// A key of one record per dataset.
pub(super) fn per_dataset(tag: u8, dataset: DatasetId) -> Vec<u8> {
    KeyBuilder::new(tag).dataset(dataset).finish()
}

/// A key of one record per (dataset, pool or endpoint number).
pub(super) fn per_pool(tag: u8, dataset: DatasetId, pool: u16) -> Vec<u8> {
    KeyBuilder::new(tag).dataset(dataset).u16(pool).finish()
}

/// A key of one record per object.
pub(super) fn per_object(tag: u8, dataset: DatasetId, pool: u16, index: u64) -> Vec<u8> {
    KeyBuilder::new(tag)
        .dataset(dataset)
        .u16(pool)
        .u64(index)
        .finish()
}

/// The prefix of every per-object key of `(dataset, pool)`.
pub(super) fn pool_prefix(tag: u8, dataset: DatasetId, pool: u16) -> Vec<u8> {
    per_pool(tag, dataset, pool)
}

/// Decodes a per-dataset key.
///
/// # Errors
/// `MalformedKey` when the key is not `tag dataset`.
pub(super) fn decode_dataset(tag: u8, key: &[u8]) -> cache_core::Result<DatasetId> {
    let mut r = KeyReader::new(key);
    r.expect_tag(tag)?;
    let out = r.dataset()?;
    r.finish()?;
    Ok(out)
}

/// Decodes a per-object key.
///
/// # Errors
/// `MalformedKey` when the key is not `tag dataset u16 u64`.
pub(super) fn decode_object(tag: u8, key: &[u8]) -> cache_core::Result<(DatasetId, u16, u64)> {
    let mut r = KeyReader::new(key);
    r.expect_tag(tag)?;
    let out = (r.dataset()?, r.u16()?, r.u64()?);
    r.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_round_trip_and_order_by_index() {
        let d = DatasetId::from_u64(7);
        let a = per_object(EXCEPTION, d, 1, 99_999_999);
        let b = per_object(EXCEPTION, d, 1, 100_000_000);
        assert!(a < b);
        assert!(b.starts_with(&pool_prefix(EXCEPTION, d, 1)));
        assert_eq!(
            decode_object(EXCEPTION, &b).expect("decodes"),
            (d, 1, 100_000_000)
        );
        assert!(decode_object(PRESENCE_CHUNK, &b).is_err());
        assert!(decode_object(EXCEPTION, &b[..b.len() - 1]).is_err());
    }
}
