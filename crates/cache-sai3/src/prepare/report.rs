//! What a prepare reports: per endpoint and in sum, typed (tests and callers deserialize it).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use cache_sync::Transfer;
use serde::{Deserialize, Serialize};

use crate::listing::ListCounters;
use crate::sync::EndpointSync;

pub use super::provenance::{Provenance, ProvenanceSummary, ValidatedBy, Validation};

/// How many write failures a report keeps the text of, per endpoint.
pub const FAILURE_SAMPLES: usize = 5;

/// Where the knowledge of existing objects came from.
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
}

impl Progress {
    /// Sets the current phase.
    pub fn set_phase(&self, phase: &str) {
        if let Ok(mut p) = self.phase.lock() {
            *p = phase.to_owned();
        }
    }

    /// The current phase.
    pub fn phase(&self) -> String {
        self.phase.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// Why objects could not be written: a count per kind of error and the first few messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFailures {
    /// Failed writes per kind (`not_found`, `permission_denied`, `generic`, ...).
    pub by_kind: BTreeMap<String, u64>,
    /// The first [`FAILURE_SAMPLES`] failures: object path and the store's message.
    pub first: Vec<String>,
}

impl WriteFailures {
    /// Records a failed write of `path`.
    pub fn add(&mut self, path: &str, error: &object_store::Error) {
        *self
            .by_kind
            .entry(error_kind(error).to_owned())
            .or_default() += 1;
        if self.first.len() < FAILURE_SAMPLES {
            self.first.push(format!("{path}: {error}"));
        }
    }

    /// True when nothing failed.
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
    pub fn slowest(&mut self, other: &Phases) {
        self.open_s = self.open_s.max(other.open_s);
        self.list_s = self.list_s.max(other.list_s);
        self.create_s = self.create_s.max(other.create_s);
        self.persist_s = self.persist_s.max(other.persist_s);
    }
}

/// The result of a prepare.
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
    pub fn summarize(
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
