//! What a prepare reports: per endpoint and in sum, typed (tests and callers deserialize it).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! # let tmp = tempfile::tempdir()?;
//! # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
//! use cache_sai3::prepare::PrepareReport;
//! # use cache_sai3::dataset::Dataset;
//! # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
//! # use cache_sai3::ttl::{SystemClock, TtlPolicy};
//! # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
//! # let options = PrepareOptions {
//! #     cache_dir: tmp.path().join("cache"),
//! #     no_cache: false,
//! #     ttl: TtlPolicy::default(),
//! #     populate: Populate::Lazy,
//! #     concurrency: 4,
//! #     checkpoint_objects: CHECKPOINT_OBJECTS,
//! #     test_name: "example".into(),
//! #     pull: false,
//! #     push: false,
//! #     open: Default::default(),
//! #     create: true,
//! # };
//! # let progress = Progress::default();
//! # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
//! let json = serde_json::to_string(&report)?; // a run of 8 objects on two endpoints
//! let read: PrepareReport = serde_json::from_str(&json)?;
//! assert_eq!((read.total_objects, read.created, read.endpoints.len()), (8, 8, 2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use cache_sync::Transfer;
use serde::{Deserialize, Serialize};

use crate::listing::ListCounters;
use crate::sync::EndpointSync;

pub use super::provenance::{Provenance, ProvenanceSummary, ValidatedBy, Validation};

/// How many write failures a report keeps the text of, per endpoint.
///
/// ```
/// assert_eq!(cache_sai3::prepare::report::FAILURE_SAMPLES, 5);
/// ```
pub const FAILURE_SAMPLES: usize = 5;

/// Where the knowledge of existing objects came from.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// use cache_sai3::prepare::ListingSource;
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
/// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
/// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
/// # let options = PrepareOptions {
/// #     cache_dir: tmp.path().join("cache"),
/// #     no_cache: false,
/// #     ttl: TtlPolicy::default(),
/// #     populate: Populate::Lazy,
/// #     concurrency: 4,
/// #     checkpoint_objects: CHECKPOINT_OBJECTS,
/// #     test_name: "example".into(),
/// #     pull: false,
/// #     push: false,
/// #     open: Default::default(),
/// #     create: true,
/// # };
/// # let progress = Progress::default();
/// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// assert_eq!(report.listing_source, ListingSource::List); // a first run lists
/// let again = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// assert_eq!(again.listing_source, ListingSource::Ledger); // then the seals answer
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingSource {
    /// A LIST of the endpoint.
    List,
    /// A cached listing within its TTL.
    ListingCache,
    /// The sealed object ledger.
    Ledger,
    /// The unsealed ledger of an interrupted prepare: what it started from (a LIST, a cached
    /// listing or a seal, within the TTL) plus what it recorded as created.
    Resumed,
}

impl ListingSource {
    /// How the text report names it.
    ///
    /// ```
    /// use cache_sai3::prepare::ListingSource;
    /// assert_eq!(ListingSource::Ledger.describe(), "sealed ledger");
    /// assert_eq!(ListingSource::List.describe(), "LIST");
    /// ```
    pub fn describe(self) -> &'static str {
        match self {
            ListingSource::List => "LIST",
            ListingSource::ListingCache => "listing cache",
            ListingSource::Ledger => "sealed ledger",
            ListingSource::Resumed => "ledger of the interrupted prepare",
        }
    }
}

/// Live progress, read by the caller (progress bar) while prepare runs.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
/// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
/// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
/// # let options = PrepareOptions {
/// #     cache_dir: tmp.path().join("cache"),
/// #     no_cache: false,
/// #     ttl: TtlPolicy::default(),
/// #     populate: Populate::Lazy,
/// #     concurrency: 4,
/// #     checkpoint_objects: CHECKPOINT_OBJECTS,
/// #     test_name: "example".into(),
/// #     pull: false,
/// #     push: false,
/// #     open: Default::default(),
/// #     create: true,
/// # };
/// # let progress = Progress::default();
/// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// use std::sync::atomic::Ordering;
/// assert_eq!(progress.created.load(Ordering::Relaxed), 8);
/// assert_eq!(progress.phase(), "done");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Progress {
    /// Objects to create in all.
    pub to_create: AtomicU64,
    /// Objects created so far.
    pub created: AtomicU64,
    /// Current phase.
    pub phase: Mutex<String>,
    /// Keys and ranges of the LISTs in flight.
    pub listing: ListCounters,
    /// Files and bytes of the pulls before the caches open.
    pub pulled: Transfer,
    /// Files and bytes of the pushes at the end.
    pub pushed: Transfer,
    /// Paths to store at the seal (`--populate eager`), in all.
    pub paths_to_store: AtomicU64,
    /// Paths stored so far.
    pub paths_stored: AtomicU64,
}

impl Progress {
    /// Sets the current phase.
    pub(crate) fn set_phase(&self, phase: &str) {
        if let Ok(mut p) = self.phase.lock() {
            *p = phase.to_owned();
        }
    }

    /// The current phase.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # use cache_sai3::dataset::Dataset;
    /// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
    /// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
    /// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
    /// # let options = PrepareOptions {
    /// #     cache_dir: tmp.path().join("cache"),
    /// #     no_cache: false,
    /// #     ttl: TtlPolicy::default(),
    /// #     populate: Populate::Lazy,
    /// #     concurrency: 4,
    /// #     checkpoint_objects: CHECKPOINT_OBJECTS,
    /// #     test_name: "example".into(),
    /// #     pull: false,
    /// #     push: false,
    /// #     open: Default::default(),
    /// #     create: true,
    /// # };
    /// # let progress = Progress::default();
    /// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
    /// assert_eq!(Progress::default().phase(), ""); // before a prepare starts
    /// assert_eq!(progress.phase(), "done"); // after `prepare` returned
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn phase(&self) -> String {
        self.phase.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// Why objects could not be written: a count per kind of error and the first few messages.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
/// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
/// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
/// # let options = PrepareOptions {
/// #     cache_dir: tmp.path().join("cache"),
/// #     no_cache: false,
/// #     ttl: TtlPolicy::default(),
/// #     populate: Populate::Lazy,
/// #     concurrency: 4,
/// #     checkpoint_objects: CHECKPOINT_OBJECTS,
/// #     test_name: "example".into(),
/// #     pull: false,
/// #     push: false,
/// #     open: Default::default(),
/// #     create: true,
/// # };
/// # let progress = Progress::default();
/// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// let failures = &report.endpoints[0].write_failures;
/// assert!(failures.by_kind.is_empty() && failures.first.is_empty()); // every write succeeded
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFailures {
    /// Failed writes per kind (`not_found`, `permission_denied`, `generic`, ...).
    pub by_kind: BTreeMap<String, u64>,
    /// The first [`FAILURE_SAMPLES`] failures: object path and the store's message.
    pub first: Vec<String>,
}

impl WriteFailures {
    /// Records a failed write of `path`.
    pub(crate) fn add(&mut self, path: &str, error: &object_store::Error) {
        *self
            .by_kind
            .entry(error_kind(error).to_owned())
            .or_default() += 1;
        if self.first.len() < FAILURE_SAMPLES {
            self.first.push(format!("{path}: {error}"));
        }
    }

    /// True when nothing failed.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # use cache_sai3::dataset::Dataset;
    /// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
    /// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
    /// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
    /// # let options = PrepareOptions {
    /// #     cache_dir: tmp.path().join("cache"),
    /// #     no_cache: false,
    /// #     ttl: TtlPolicy::default(),
    /// #     populate: Populate::Lazy,
    /// #     concurrency: 4,
    /// #     checkpoint_objects: CHECKPOINT_OBJECTS,
    /// #     test_name: "example".into(),
    /// #     pull: false,
    /// #     push: false,
    /// #     open: Default::default(),
    /// #     create: true,
    /// # };
    /// # let progress = Progress::default();
    /// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
    /// assert!(report.endpoints.iter().all(|e| e.write_failures.is_empty()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.by_kind.is_empty()
    }
}

/// The kind of an object-store error, for counting.
fn error_kind(error: &object_store::Error) -> &'static str {
    use object_store::Error as E;
    match error {
        E::NotFound { .. } => "not_found",
        E::AlreadyExists { .. } => "already_exists",
        E::Precondition { .. } => "precondition",
        E::NotModified { .. } => "not_modified",
        E::PermissionDenied { .. } => "permission_denied",
        E::Unauthenticated { .. } => "unauthenticated",
        E::NotSupported { .. } | E::NotImplemented { .. } => "not_supported",
        E::InvalidPath { .. } => "invalid_path",
        _ => "generic",
    }
}

/// What happened on one endpoint.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
/// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
/// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
/// # let options = PrepareOptions {
/// #     cache_dir: tmp.path().join("cache"),
/// #     no_cache: false,
/// #     ttl: TtlPolicy::default(),
/// #     populate: Populate::Lazy,
/// #     concurrency: 4,
/// #     checkpoint_objects: CHECKPOINT_OBJECTS,
/// #     test_name: "example".into(),
/// #     pull: false,
/// #     push: false,
/// #     open: Default::default(),
/// #     create: true,
/// # };
/// # let progress = Progress::default();
/// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// let e = &report.endpoints[1];
/// assert_eq!((e.endpoint, e.expected, e.created, e.list_calls), (1, 4, 4, 1));
/// assert!(e.sealed && e.uri.ends_with("/ep1/"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointReport {
    /// The agent whose share this is, and whose shard of the endpoint's cache holds it (0 for
    /// a standalone config).
    #[serde(default)]
    pub agent: u32,
    /// Endpoint number (in the view of that agent).
    pub endpoint: u16,
    /// Normalized URI.
    pub uri: String,
    /// Where its cache lives (`null` with `--no-cache`).
    pub cache_location: Option<String>,
    /// Where the knowledge of existing objects came from.
    pub listing_source: ListingSource,
    /// LIST calls made.
    pub list_calls: u64,
    /// Objects this endpoint owns.
    pub expected: u64,
    /// Objects found already present.
    pub already_present: u64,
    /// Objects created by this run.
    pub created: u64,
    /// Objects that could not be created.
    pub failed: u64,
    /// Why they could not be created.
    #[serde(default)]
    pub write_failures: WriteFailures,
    /// Present objects with a wrong size (rewritten).
    pub wrong_size: u64,
    /// Keys on the endpoint that are not objects of the dataset.
    pub other_keys: u64,
    /// Set when the cache was found damaged and rebuilt (the reason).
    pub cache_rebuilt: Option<String>,
    /// Whether the endpoint is sealed (all objects created) after this run.
    pub sealed: bool,
    /// Ranges of this LIST that an interrupted earlier LIST had finished (skipped).
    pub list_resumed_ranges: u64,
    /// Resumed from the ledger of an interrupted prepare: objects it had in flight at its
    /// last checkpoint and did not record since (each checked with a HEAD).
    #[serde(default)]
    pub resumed_in_flight: u64,
    /// Of those, objects the HEAD found written: recorded present, not written again (the
    /// rest were written again).
    #[serde(default)]
    pub in_flight_found: u64,
    /// True when the seal had outlived its TTL and one GET of the endpoint's `DATASET` record
    /// (same sealing, complete) renewed the trust instead of a LIST.
    pub trusted_by_dataset_record: bool,
    /// Where the knowledge came from in time: its age, when and how it was last checked, and
    /// what not listing saved.
    #[serde(default)]
    pub provenance: Provenance,
}

/// Seconds spent per phase.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
/// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
/// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
/// # let options = PrepareOptions {
/// #     cache_dir: tmp.path().join("cache"),
/// #     no_cache: false,
/// #     ttl: TtlPolicy::default(),
/// #     populate: Populate::Lazy,
/// #     concurrency: 4,
/// #     checkpoint_objects: CHECKPOINT_OBJECTS,
/// #     test_name: "example".into(),
/// #     pull: false,
/// #     push: false,
/// #     open: Default::default(),
/// #     create: true,
/// # };
/// # let progress = Progress::default();
/// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// let p = &report.phases;
/// assert!(p.total_s >= p.open_s && p.total_s >= p.create_s);
/// assert_eq!(p.sync_s, 0.0); // file:// endpoints are not synced
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Phases {
    /// Opening caches, loading seeds and bitmaps.
    pub open_s: f64,
    /// Learning what exists (ledger, listing cache or LIST).
    pub list_s: f64,
    /// Creating missing objects.
    pub create_s: f64,
    /// Sealing and persisting caches.
    pub persist_s: f64,
    /// Pulling and pushing object-store endpoint caches.
    pub sync_s: f64,
    /// Wall time of the whole prepare.
    pub total_s: f64,
}

impl Phases {
    /// Endpoints run concurrently: each phase takes as long as its slowest endpoint.
    pub(crate) fn slowest(&mut self, other: &Phases) {
        self.open_s = self.open_s.max(other.open_s);
        self.list_s = self.list_s.max(other.list_s);
        self.create_s = self.create_s.max(other.create_s);
        self.persist_s = self.persist_s.max(other.persist_s);
    }
}

/// The result of a prepare.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
/// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
/// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
/// # let options = PrepareOptions {
/// #     cache_dir: tmp.path().join("cache"),
/// #     no_cache: false,
/// #     ttl: TtlPolicy::default(),
/// #     populate: Populate::Lazy,
/// #     concurrency: 4,
/// #     checkpoint_objects: CHECKPOINT_OBJECTS,
/// #     test_name: "example".into(),
/// #     pull: false,
/// #     push: false,
/// #     open: Default::default(),
/// #     create: true,
/// # };
/// # let progress = Progress::default();
/// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// assert_eq!((report.total_objects, report.created, report.failed), (8, 8, 0));
/// assert_eq!((report.list_calls, report.listed_from_cache), (2, false)); // one LIST per endpoint
/// assert_eq!(report.config_hash, dataset.hash.short());
/// assert!(report.warnings.is_empty() && report.sync.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrepareReport {
    /// Short config hash.
    pub config_hash: String,
    /// The agent this run acted as (`--agent K`); `None`: the whole dataset, every agent's
    /// share.
    #[serde(default)]
    pub agent: Option<u32>,
    /// Objects in the dataset.
    pub total_objects: u64,
    /// `list` if any endpoint was listed, else `listing_cache` if any used one, else `ledger`.
    pub listing_source: ListingSource,
    /// True when no LIST call was made.
    pub listed_from_cache: bool,
    /// LIST calls over all endpoints.
    pub list_calls: u64,
    /// Objects created by this run.
    pub created: u64,
    /// Objects found already present.
    pub already_present: u64,
    /// Objects that could not be created.
    pub failed: u64,
    /// Per endpoint.
    pub endpoints: Vec<EndpointReport>,
    /// Cache syncs of object-store endpoints (pulls at the start, pushes at the end).
    pub sync: Vec<EndpointSync>,
    /// Seconds per phase (maximum over endpoints, which run concurrently).
    pub phases: Phases,
    /// Things the user should know.
    pub warnings: Vec<String>,
    /// The provenance of the knowledge over every endpoint, with one summary line.
    #[serde(default)]
    pub provenance: ProvenanceSummary,
}

impl PrepareReport {
    /// Sums the endpoint reports.
    pub(crate) fn summarize(
        config_hash: String,
        total_objects: u64,
        endpoints: Vec<EndpointReport>,
        sync: Vec<EndpointSync>,
        phases: Phases,
        warnings: Vec<String>,
    ) -> Self {
        let sum = |f: fn(&EndpointReport) -> u64| endpoints.iter().map(f).sum::<u64>();
        let used = |s: ListingSource| endpoints.iter().any(|e| e.listing_source == s);
        let listing_source = [
            ListingSource::List,
            ListingSource::ListingCache,
            ListingSource::Resumed,
        ]
        .into_iter()
        .find(|&s| used(s))
        .unwrap_or(ListingSource::Ledger);
        let list_calls = sum(|e| e.list_calls);
        let provenance = ProvenanceSummary::of(&endpoints);
        PrepareReport {
            config_hash,
            agent: None,
            total_objects,
            listing_source,
            listed_from_cache: list_calls == 0,
            list_calls,
            created: sum(|e| e.created),
            already_present: sum(|e| e.already_present),
            failed: sum(|e| e.failed),
            endpoints,
            sync,
            phases,
            warnings,
            provenance,
        }
    }
}
