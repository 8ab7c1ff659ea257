//! The records the sai3 caches store (postcard, inside verified frames). Each type is written
//! under one key layout of the caches' private `keys` module; none changes layout in place
//! (postcard is positional): a new layout gets a new tag.
//!
//! ```
//! use cache_sai3::records::{ObjectState, PoolSeeds};
//! let seeds = PoolSeeds { size_seed: 7, fill_seed: 9 };
//! let bytes = cache_core::record::encode("example", &seeds)?;
//! assert_eq!(bytes, [7, 9]); // postcard: one varint per field, no names
//! assert_eq!(cache_core::record::decode::<PoolSeeds>("example", b"k", &bytes)?, seeds);
//! assert_eq!(ObjectState::Created.as_str(), "created");
//! # Ok::<(), cache_core::Error>(())
//! ```

use serde::{Deserialize, Serialize};

/// Where an object is in its life.
///
/// ```
/// use cache_sai3::records::ObjectState;
/// let bytes = cache_core::record::encode("example", &ObjectState::Failed)?;
/// let back: ObjectState = cache_core::record::decode("example", b"k", &bytes)?;
/// assert_eq!(back, ObjectState::Failed);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ObjectState {
    /// Known to the plan, not started (the state of every object without an entry).
    Planned,
    /// A create was started; the object may be absent or partial.
    Creating,
    /// Created with the recorded size.
    Created,
    /// The create failed after retries.
    Failed,
    /// Deleted (by a workload or a cleanup).
    Deleted,
}

impl ObjectState {
    /// Lowercase name for reports.
    ///
    /// ```
    /// use cache_sai3::records::ObjectState;
    /// assert_eq!(ObjectState::Planned.as_str(), "planned");
    /// assert_eq!(ObjectState::Deleted.as_str(), "deleted");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectState::Planned => "planned",
            ObjectState::Creating => "creating",
            ObjectState::Created => "created",
            ObjectState::Failed => "failed",
            ObjectState::Deleted => "deleted",
        }
    }
}

/// One object in the ledger.
///
/// ```
/// use cache_sai3::records::{LedgerEntry, ObjectState};
/// let e = LedgerEntry { state: ObjectState::Created, size: 64, at_ms: 1_000 };
/// let bytes = cache_core::record::encode("example", &e)?;
/// assert_eq!(cache_core::record::decode::<LedgerEntry>("example", b"k", &bytes)?, e);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// State.
    pub state: ObjectState,
    /// Size in bytes (intended size while `Creating`).
    pub size: u64,
    /// When the state was recorded (ms since the Unix epoch).
    pub at_ms: u64,
}

/// An exception of the ledger: an object that is not present although the dataset's rule
/// says it should be (a failed create, a deletion, a wrong size), with why. A present object
/// needs no row: presence and the size rule describe it.
///
/// ```
/// use cache_sai3::records::{LedgerException, ObjectState};
/// let failed = LedgerException {
///     state: ObjectState::Failed,
///     size: 64,
///     at_ms: 1_000,
///     reason: "503 Slow Down".into(),
/// };
/// let bytes = cache_core::record::encode("example", &failed)?;
/// let back: LedgerException = cache_core::record::decode("example", b"k", &bytes)?;
/// assert_eq!(back, failed);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerException {
    /// `Failed` or `Deleted`.
    pub state: ObjectState,
    /// Size in bytes (the intended size of a failed create, the size found of a wrong one).
    pub size: u64,
    /// When it was recorded (ms since the Unix epoch).
    pub at_ms: u64,
    /// Why (the store's error of a failed create; empty when nothing more is known).
    pub reason: String,
}

impl LedgerException {
    /// The entry `lookup` shows for it.
    ///
    /// ```
    /// use cache_sai3::records::{LedgerException, ObjectState};
    /// let deleted = LedgerException {
    ///     state: ObjectState::Deleted,
    ///     size: 64,
    ///     at_ms: 1_000,
    ///     reason: String::new(),
    /// };
    /// let e = deleted.entry();
    /// assert_eq!((e.state, e.size, e.at_ms), (ObjectState::Deleted, 64, 1_000));
    /// ```
    pub fn entry(&self) -> LedgerEntry {
        LedgerEntry {
            state: self.state,
            size: self.size,
            at_ms: self.at_ms,
        }
    }
}

/// One chunk of a pool's presence bitmap: the present indices of one range of
/// [`crate::caches::PRESENCE_CHUNK`] indices, and when the chunk last changed.
///
/// ```
/// use cache_sai3::records::PresenceChunk;
/// let present: roaring::RoaringTreemap = (0..10).collect();
/// let mut bitmap = Vec::new();
/// present.serialize_into(&mut bitmap)?;
/// let chunk = PresenceChunk { at_ms: 1_000, bitmap };
/// let bytes = cache_core::record::encode("example", &chunk)?;
/// let back: PresenceChunk = cache_core::record::decode("example", b"k", &bytes)?;
/// assert_eq!(roaring::RoaringTreemap::deserialize_from(&back.bitmap[..])?, present);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceChunk {
    /// Last change (ms since the Unix epoch): the time of the objects created in this chunk.
    pub at_ms: u64,
    /// The present indices (roaring's portable format, whole 64-bit indices).
    pub bitmap: Vec<u8>,
}

/// The tree parameters (tens of bytes, not a list of directories).
///
/// ```
/// use cache_sai3::records::{TreeManifest, TreeParams};
/// let tree = TreeParams {
///     width: 2,
///     depth: 2,
///     files_per_dir: 2,
///     distribution: "bottom".into(),
///     dir_mask: "d%d_w%d.dir".into(),
/// };
/// let m = TreeManifest {
///     config_hash: "ab".repeat(32),
///     tree: Some(tree),
///     key_prefix_shards: 0,
///     total_objects: 8,
///     total_dirs: 6,
/// };
/// let bytes = cache_core::record::encode("example", &m)?;
/// assert!(bytes.len() < 100, "tens of bytes, not a list of directories");
/// let back: TreeManifest = cache_core::record::decode("example", b"k", &bytes)?;
/// assert_eq!(back, m);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeManifest {
    /// Full config hash (hex).
    pub config_hash: String,
    /// `None` for flat datasets.
    pub tree: Option<TreeParams>,
    /// Key prefix shards of flat datasets.
    pub key_prefix_shards: u32,
    /// Objects over all pools.
    pub total_objects: u64,
    /// Directories.
    pub total_dirs: u64,
}

/// Parameters of a sai3-bench tree.
///
/// ```
/// use cache_sai3::records::TreeParams;
/// let tree = TreeParams {
///     width: 2,
///     depth: 2,
///     files_per_dir: 2,
///     distribution: "bottom".into(),
///     dir_mask: "d%d_w%d.dir".into(),
/// };
/// let bytes = cache_core::record::encode("example", &tree)?;
/// let back: TreeParams = cache_core::record::decode("example", b"k", &bytes)?;
/// assert_eq!(back, tree);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeParams {
    /// Width.
    pub width: u64,
    /// Depth.
    pub depth: u32,
    /// Files per directory.
    pub files_per_dir: u64,
    /// `bottom` or `all`.
    pub distribution: String,
    /// Directory mask.
    pub dir_mask: String,
}

/// One endpoint in the coordinator's registry.
///
/// ```
/// use cache_sai3::records::EndpointEntry;
/// let e = EndpointEntry {
///     uri: "s3://bucket/data/".into(),
///     cache_location: "/var/cache/sai3/endpoints/0123456789abcdef".into(),
///     assigned_count: 1_000,
///     strategy: "round_robin".into(),
/// };
/// let bytes = cache_core::record::encode("example", &e)?;
/// let back: EndpointEntry = cache_core::record::decode("example", b"k", &bytes)?;
/// assert_eq!(back, e);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointEntry {
    /// Normalized URI.
    pub uri: String,
    /// Where its cache lives (a local directory).
    pub cache_location: String,
    /// Objects placed on it over all pools.
    pub assigned_count: u64,
    /// Configured strategy.
    pub strategy: String,
}

/// What the coordinator knows about a dataset.
///
/// ```
/// use cache_sai3::records::ConfigMetadata;
/// let m = ConfigMetadata {
///     config_hash: "ab".repeat(32),
///     test_name: "example".into(),
///     total_objects: 8,
///     total_dirs: 6,
///     endpoints: vec!["file:///data/ep0/".into()],
///     created_ms: 1_000,
///     last_used_ms: 2_000,
///     cache_format: cache_core::marker::FORMAT_VERSION,
/// };
/// let bytes = cache_core::record::encode("example", &m)?;
/// let back: ConfigMetadata = cache_core::record::decode("example", b"k", &bytes)?;
/// assert_eq!(back, m);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigMetadata {
    /// Full config hash (hex).
    pub config_hash: String,
    /// Name of the config (file stem).
    pub test_name: String,
    /// Objects over all pools.
    pub total_objects: u64,
    /// Directories.
    pub total_dirs: u64,
    /// Normalized endpoints.
    pub endpoints: Vec<String>,
    /// First prepare (ms).
    pub created_ms: u64,
    /// Last use (ms).
    pub last_used_ms: u64,
    /// Cache format version that wrote it.
    pub cache_format: u32,
}

/// Per-endpoint state of a dataset: the seal written when a prepare completed.
///
/// ```
/// use cache_sai3::records::EndpointState;
/// let sealed = EndpointState {
///     config_hash: "ab".repeat(32),
///     endpoint: 0,
///     uri: "file:///data/ep0/".into(),
///     sealed_at_ms: Some(2_000),
///     created: vec![4],
/// };
/// let bytes = cache_core::record::encode("example", &sealed)?;
/// let back: EndpointState = cache_core::record::decode("example", b"k", &bytes)?;
/// assert_eq!(back.sealed_at_ms, Some(2_000));
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointState {
    /// Full config hash (hex).
    pub config_hash: String,
    /// Endpoint number in the dataset.
    pub endpoint: u16,
    /// Normalized URI.
    pub uri: String,
    /// Set when a prepare finished with every object of this endpoint created.
    pub sealed_at_ms: Option<u64>,
    /// Created objects per pool at the seal.
    pub created: Vec<u64>,
}

/// What an unsealed ledger is worth: it describes the endpoint as known at `known_at_ms` (a
/// LIST, a cached listing or a seal) plus everything the prepare that wrote it recorded since.
/// Written before a prepare's first PUT, removed by its seal; a killed prepare's successor
/// trusts the ledger instead of listing again while `known_at_ms` is within the TTL.
///
/// ```
/// use cache_sai3::records::ResumeBasis;
/// let basis = ResumeBasis { config_hash: "ab".repeat(32), known_at_ms: 1_000 };
/// let bytes = cache_core::record::encode("example", &basis)?;
/// let back: ResumeBasis = cache_core::record::decode("example", b"k", &bytes)?;
/// assert_eq!(back, basis);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeBasis {
    /// Full config hash (hex) of the dataset.
    pub config_hash: String,
    /// When the knowledge the prepare started from was taken (ms since the Unix epoch).
    pub known_at_ms: u64,
}

/// How an endpoint's knowledge of a dataset was last checked against the store: its last LIST
/// (with what it cost, the measure of a LIST's speed there) and its last sampled verify.
/// Written by the LIST and by `verify`; read by a prepare's report (provenance).
///
/// ```
/// use cache_sai3::records::{ListMeasure, Validations};
/// let v = Validations {
///     config_hash: "ab".repeat(32),
///     last_list: Some(ListMeasure { at_ms: 1_000, keys: 8, micros: 250, calls: 1 }),
///     verified_at_ms: None,
/// };
/// let bytes = cache_core::record::encode("example", &v)?;
/// let back: Validations = cache_core::record::decode("example", b"k", &bytes)?;
/// assert_eq!(back, v);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validations {
    /// Full config hash (hex) of the dataset.
    pub config_hash: String,
    /// The last LIST that ran to its end.
    pub last_list: Option<ListMeasure>,
    /// When a sampled verify last checked the endpoint (ms since the Unix epoch).
    pub verified_at_ms: Option<u64>,
}

/// One LIST of an endpoint, measured.
///
/// ```
/// use cache_sai3::records::ListMeasure;
/// let m = ListMeasure { at_ms: 1_000, keys: 20_000, micros: 500_000, calls: 20 };
/// let bytes = cache_core::record::encode("example", &m)?;
/// let back: ListMeasure = cache_core::record::decode("example", b"k", &bytes)?;
/// assert_eq!(back, m);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListMeasure {
    /// When it finished (ms since the Unix epoch).
    pub at_ms: u64,
    /// Keys it read.
    pub keys: u64,
    /// How long it took (µs: a LIST of a small local endpoint takes less than a millisecond).
    pub micros: u64,
    /// LIST calls it made.
    pub calls: u64,
}

impl ListMeasure {
    /// Keys per second, when it read any keys in a measurable time.
    pub(crate) fn keys_per_s(&self) -> Option<f64> {
        (self.keys > 0 && self.micros > 0).then(|| self.keys as f64 * 1e6 / self.micros as f64)
    }
}

/// Seeds of one pool.
///
/// ```
/// use cache_sai3::records::PoolSeeds;
/// let seeds = PoolSeeds { size_seed: 1, fill_seed: 2 };
/// let bytes = cache_core::record::encode("example", &seeds)?;
/// assert_eq!(cache_core::record::decode::<PoolSeeds>("example", b"k", &bytes)?, seeds);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSeeds {
    /// Seed of object sizes.
    pub size_seed: u64,
    /// Seed of object content.
    pub fill_seed: u64,
}

/// A cached listing of one endpoint: which indices of each pool exist (as roaring bitmaps)
/// and every other key found (not part of the dataset).
///
/// ```
/// use cache_sai3::records::ListingSnapshot;
/// let s = ListingSnapshot {
///     config_hash: "ab".repeat(32),
///     listed_at_ms: 1_000,
///     present: vec![Vec::new()],
///     other_keys: 1,
///     other_key_samples: vec!["notes.txt".into()],
///     listed: 1,
/// };
/// let bytes = cache_core::record::encode("example", &s)?;
/// let back: ListingSnapshot = cache_core::record::decode("example", b"k", &bytes)?;
/// assert_eq!(back, s);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingSnapshot {
    /// Full config hash (hex) of the dataset it was interpreted for.
    pub config_hash: String,
    /// When the LIST finished (ms).
    pub listed_at_ms: u64,
    /// Per pool: serialized roaring treemap of present indices with the expected size.
    pub present: Vec<Vec<u8>>,
    /// Keys that are not objects of the dataset (the cache's own files excluded).
    pub other_keys: u64,
    /// The first of them in key order, at most `OTHER_KEY_SAMPLES` (16).
    pub other_key_samples: Vec<String>,
    /// Objects listed in all.
    pub listed: u64,
}

/// The progress of an interrupted LIST (see [`crate::listing::ListProgress`]), as stored.
///
/// ```
/// use cache_sai3::records::ListProgressRecord;
/// let r = ListProgressRecord {
///     started_ms: 1_000,
///     done: vec!["d1_w1.dir".into()],
///     offsets: vec![("d1_w2.dir".into(), "d1_w2.dir/d2_w3.dir/f.dat".into())],
///     listed: 4,
///     ..ListProgressRecord::default()
/// };
/// let bytes = cache_core::record::encode("example", &r)?;
/// let back: ListProgressRecord = cache_core::record::decode("example", b"k", &bytes)?;
/// assert_eq!(back, r);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListProgressRecord {
    /// Full config hash the LIST was interpreting for.
    pub config_hash: String,
    /// When the LIST started (ms).
    pub started_ms: u64,
    /// Finished ranges (`""` is the endpoint root).
    pub done: Vec<String>,
    /// Last key merged per unfinished range (ordered stores only).
    pub offsets: Vec<(String, String)>,
    /// Wrong-size objects so far.
    pub wrong_size: u64,
    /// Other keys so far.
    pub other_keys: u64,
    /// Some of them, at most `OTHER_KEY_SAMPLES` (16).
    pub other_key_samples: Vec<String>,
    /// Keys listed so far.
    pub listed: u64,
}
