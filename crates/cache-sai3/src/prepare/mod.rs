//! The prepare flow: know what exists on each endpoint (from a sealed ledger, a fresh cached
//! listing, or a LIST), create only what is missing, record every state change, seal.
//!
//! One step per file, in the order they run:
//!
//! 1. [`open`]: every endpoint store and cache, and the coordinator (bad URIs, foreign caches
//!    and caches in use by another process stop the run before any work);
//! 2. [`learn`]: where the knowledge of existing objects comes from, per endpoint (all
//!    endpoints learn before any creates: where s3dlio placed objects at run time, what exists
//!    is the union over the pool's endpoints, see [`placement::owned_given`]):
//!    `--no-cache`/`--refresh-cache` LIST; a seal of this exact dataset younger than the TTL
//!    (for `file://` without `--cache-ttl`, no TTL) with every object in the presence bitmaps;
//!    a cached listing younger than the TTL; else a LIST (resumable, stored in the listing
//!    cache when a TTL is in force);
//! 3. [`reconcile`]: the ledger follows what a LIST or cached listing found;
//! 4. [`create`]: missing objects are written, `Creating` then `Created`/`Failed` recorded and
//!    committed with the bitmaps every [`CHECKPOINT_OBJECTS`] objects or
//!    [`CHECKPOINT_INTERVAL`], so an aborted run loses at most one checkpoint of records;
//! 5. [`seal`]: an endpoint with every object present is sealed; caches are flushed;
//! 6. [`sync`]: object-store endpoint caches are pulled before step 1 and pushed after step 5;
//! 7. [`report`]: what happened, typed.
//!
//! Endpoints run concurrently, each with its own cache and ledger, on the caller's runtime.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! # let tmp = tempfile::tempdir()?;
//! # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
//! use cache_sai3::prepare::ListingSource;
//! use cache_sai3::dataset::Dataset;
//! use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
//! use cache_sai3::ttl::{SystemClock, TtlPolicy};
//! let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
//! let options = PrepareOptions {
//!     cache_dir: tmp.path().join("cache"),
//!     no_cache: false,
//!     ttl: TtlPolicy::default(),
//!     populate: Populate::Lazy,
//!     concurrency: 4,
//!     checkpoint_objects: CHECKPOINT_OBJECTS,
//!     test_name: "example".into(),
//!     pull: false,
//!     push: false,
//!     open: Default::default(),
//!     create: true,
//! };
//! let progress = Progress::default();
//! let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
//! assert_eq!((report.created, report.failed, report.listing_source), (8, 0, ListingSource::List));
//! assert!(report.endpoints.iter().all(|e| e.sealed));
//! // A second run knows everything from the sealed ledgers: no LIST, nothing written.
//! let again = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
//! assert_eq!((again.created, again.already_present, again.list_calls), (0, 8, 0));
//! assert_eq!(again.listing_source, ListingSource::Ledger);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::ObjectStore;
use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};

use cache_core::Database;

use crate::caches::{EndpointCache, OpenPolicy};
use crate::dataset::{Dataset, Pool};
use crate::error::Result;
use crate::object_sizes::DatasetSizes;
use crate::placement;
use crate::records::PoolSeeds;
use crate::scheme::UriScheme;
use crate::store::CallCounts;
use crate::ttl::{Clock, TtlPolicy};

mod create;
mod learn;
mod open;
pub mod provenance;
mod reconcile;
pub mod report;
mod seal;
mod sync;

pub use report::{
    EndpointReport, ListingSource, Phases, PrepareReport, Progress, Provenance, ProvenanceSummary,
    ValidatedBy, Validation, WriteFailures,
};

/// Objects between ledger checkpoints. A checkpoint writes only the presence chunks it changed
/// (one or two of at most 8 KiB while objects are created in index order), but it is a durable
/// commit (an `fsync` for redb), so it is spaced: what a kill loses is what was created since
/// the last one, written again by the resume.
///
/// ```
/// use cache_sai3::prepare::{CHECKPOINT_INTERVAL, CHECKPOINT_OBJECTS};
/// assert_eq!(CHECKPOINT_OBJECTS, 10_000);
/// assert!(CHECKPOINT_INTERVAL.as_millis() <= 1_000);
/// ```
pub const CHECKPOINT_OBJECTS: usize = 10_000;
/// Longest time between ledger checkpoints.
///
/// ```
/// assert_eq!(cache_sai3::prepare::CHECKPOINT_INTERVAL, std::time::Duration::from_secs(1));
/// ```
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// How `file_paths` is filled.
///
/// ```
/// use cache_sai3::prepare::Populate;
/// assert_eq!(serde_json::to_string(&Populate::Lazy)?, r#""lazy""#);
/// assert_eq!(serde_json::from_str::<Populate>(r#""eager""#)?, Populate::Eager);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Populate {
    /// Every path of the endpoint is stored at the end of prepare.
    Eager,
    /// Paths are stored when `lookup` first computes them.
    Lazy,
}

/// Settings of one prepare.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
/// use cache_sai3::ttl::{SystemClock, TtlPolicy};
/// let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
/// let options = PrepareOptions {
///     cache_dir: tmp.path().join("cache"),
///     no_cache: false,
///     ttl: TtlPolicy::default(),
///     populate: Populate::Lazy,
///     concurrency: 4,
///     checkpoint_objects: CHECKPOINT_OBJECTS,
///     test_name: "example".into(),
///     pull: false,
///     push: false,
///     open: Default::default(),
///     create: true,
/// };
/// let progress = Progress::default();
/// let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// assert_eq!(report.created, 8);
/// assert!(report.endpoints.iter().all(|e| e.cache_location.is_some())); // caches were used
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// Where the coordinator cache and object-store endpoint caches live.
    pub cache_dir: PathBuf,
    /// Use no cache at all (LIST, create, record nothing).
    pub no_cache: bool,
    /// TTL policy (`force_refresh` is `--refresh-cache`).
    pub ttl: TtlPolicy,
    /// How `file_paths` is filled.
    pub populate: Populate,
    /// Objects created at the same time per endpoint.
    pub concurrency: usize,
    /// Objects created per endpoint between ledger checkpoints (at most; also every
    /// [`CHECKPOINT_INTERVAL`]); [`CHECKPOINT_OBJECTS`] unless the user chose otherwise.
    pub checkpoint_objects: usize,
    /// Name recorded in the coordinator (the config's file stem).
    pub test_name: String,
    /// Pull object-store endpoint caches before starting (if the remote is newer).
    pub pull: bool,
    /// Push object-store endpoint caches when done.
    pub push: bool,
    /// What to do when a cache is in use by another process.
    pub open: OpenPolicy,
    /// Create the objects found missing. `false` learns only: the endpoints are listed (or
    /// their seal, ledger or cached listing trusted) and what exists is recorded, but nothing is
    /// written to them; the missing objects are left to the caller (sai3-bench writing its own
    /// bytes through [`crate::metadata_cache::MetadataCache::missing`]).
    pub create: bool,
}

/// The default seeds of a pool: the content seed derived from the config hash, so that even a
/// run without a cache fills objects exactly as a cached run does.
pub(crate) fn default_seeds(dataset: &Dataset, pool: &Pool) -> PoolSeeds {
    let h = dataset.hash.full_hex();
    let base = xxhash_rust::xxh3::xxh3_64_with_seed(h.as_bytes(), u64::from(pool.id));
    PoolSeeds {
        // Recorded for reference: sizes follow sai3-bench's seed (`object_sizes`).
        size_seed: crate::sizes::seed_of(&pool.size_seed_uri),
        fill_seed: base.rotate_left(32) ^ 0x5a5a_5a5a_5a5a_5a5a,
    }
}

/// Rounds to milliseconds, for reports.
fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Everything one endpoint's part of a prepare works with.
struct EndpointJob<'a, D: Database> {
    dataset: &'a Dataset,
    endpoint: u16,
    uri: &'a str,
    scheme: UriScheme,
    options: &'a PrepareOptions,
    clock: &'a dyn Clock,
    progress: &'a Progress,
    sizes: &'a DatasetSizes<'a>,
    cache: Option<EndpointCache<D>>,
    /// The ledger's presence bitmaps as stored when the cache was opened (one per pool id).
    stored: Vec<RoaringTreemap>,
    cache_rebuilt: Option<String>,
    store: Arc<dyn ObjectStore>,
    counts: Arc<CallCounts>,
    phases: Phases,
}

impl<D: Database> EndpointJob<'_, D> {
    /// The pools with objects on this endpoint.
    fn pools(&self) -> Vec<&Pool> {
        placement::pools_on(self.dataset, self.endpoint).collect()
    }

    /// Per pool id, what this endpoint owns as far as its cache knows before learning: the
    /// rule's indices of [`Rule::Modulo`](placement::Rule) pools; for pools placed at run time,
    /// the stored presence (a seal proves it complete).
    fn owned_before(&self) -> Vec<RoaringTreemap> {
        let mut owned = vec![RoaringTreemap::new(); self.dataset.pool_id_limit()];
        for p in self.pools() {
            owned[p.id as usize] = match p.rule {
                placement::Rule::Modulo => placement::owned_by_endpoint(p, self.endpoint),
                placement::Rule::Runtime => self
                    .stored
                    .get(p.id as usize)
                    .map(|held| held & p.share.indices(p.count))
                    .unwrap_or_default(),
            };
        }
        owned
    }

    /// Per pool id, the seeds (stored ones win; new ones are stored).
    fn seeds(&self) -> Result<Vec<PoolSeeds>> {
        let mut seeds = vec![PoolSeeds::default(); self.dataset.pool_id_limit()];
        for p in &self.dataset.pools {
            let default = default_seeds(self.dataset, p);
            seeds[p.id as usize] = match &self.cache {
                None => default,
                Some(c) => c.seeds(self.dataset, p.id, default)?,
            };
        }
        Ok(seeds)
    }

    /// Steps 3 to 5 on this endpoint (reconcile, create, seal), given what it owns.
    async fn finish(
        mut self,
        knowledge: learn::Knowledge,
        owned: Vec<RoaringTreemap>,
        seeds: Vec<PoolSeeds>,
    ) -> Result<(EndpointReport, Phases)> {
        let mut report = self.new_report(&owned, &knowledge);
        let stored = std::mem::take(&mut self.stored);
        let mut writer = self
            .cache
            .as_ref()
            .map(|c| c.ledger_writer(self.dataset, stored))
            .transpose()?;
        let now = self.clock.now();
        let found = reconcile::reconcile(
            writer.as_mut(),
            self.dataset,
            &owned,
            &knowledge,
            self.sizes,
            now,
        )?;
        report.already_present = found.already_present;
        let changes = knowledge.source != ListingSource::Ledger
            || self.cache_rebuilt.is_some()
            || !found.missing.is_empty();
        self.mark_unpublished(changes)?;
        // A cached listing stops describing the endpoint at the first PUT: it is removed
        // now, and stored again, up to date, when creation ends (`seal`). From here on the
        // ledger is the knowledge: a run killed while creating is resumed from it, as far as
        // the knowledge this run started from is trusted (its resume basis). The basis is set
        // before the listing goes: a kill in between leaves both, never neither.
        let nothing = reconcile::Missing::default();
        let to_create = if self.options.create {
            &found.missing
        } else {
            &nothing
        };
        let creates = !to_create.is_empty();
        if let Some(cache) = self.cache.as_ref().filter(|_| creates) {
            cache.set_resume_basis(self.dataset, knowledge.known_at_ms)?;
            cache.remove_listing(self.dataset)?;
        }
        let t_create = Instant::now();
        let created = create::create(&self, writer.as_mut(), to_create, &seeds).await?;
        self.phases.create_s = secs(t_create.elapsed());
        report.created = created.created;
        report.failed = created.failed;
        report.write_failures = created.failures;
        let t_persist = Instant::now();
        if let Some(writer) = writer {
            report.sealed = seal::seal(&self, writer, &owned, &knowledge, creates).await?;
        }
        self.phases.persist_s = secs(t_persist.elapsed());
        report.list_calls = self.counts.lists();
        report.provenance = self.provenance(&knowledge, report.already_present)?;
        Ok((report, self.phases))
    }

    /// Where `knowledge` came from in time, and what not listing saved.
    fn provenance(&self, knowledge: &learn::Knowledge, found: u64) -> Result<Provenance> {
        let validations = match &self.cache {
            Some(c) => c.validations(self.dataset)?,
            None => Default::default(),
        };
        Ok(Provenance::judge(&provenance::Evidence {
            source: knowledge.source,
            known_at_ms: knowledge.known_at_ms,
            by_dataset_record: knowledge.trusted_by_dataset_record,
            validations: &validations,
            objects_known: found,
            now_ms: self.clock.now(),
        }))
    }

    /// Before a synced shard learns or records anything new, marks it to be pushed (until a
    /// push succeeds, even if this run is killed first). A shard that only trusted its sealed
    /// ledger is left as it is.
    fn mark_unpublished(&self, changes: bool) -> Result<()> {
        match &self.cache {
            Some(c) if changes && self.scheme.is_object_store() => {
                crate::sync::mark_unpublished(self.uri, c.location())
            }
            _ => Ok(()),
        }
    }

    fn new_report(&mut self, owned: &[RoaringTreemap], k: &learn::Knowledge) -> EndpointReport {
        EndpointReport {
            agent: self.dataset.shard(),
            endpoint: self.endpoint,
            uri: self.uri.to_owned(),
            cache_location: self
                .cache
                .as_ref()
                .map(|c| c.location().display().to_string()),
            listing_source: k.source,
            list_calls: 0,
            expected: owned.iter().map(RoaringTreemap::len).sum(),
            already_present: 0,
            created: 0,
            failed: 0,
            write_failures: WriteFailures::default(),
            wrong_size: k.listing.wrong_size,
            other_keys: k.listing.other_keys,
            cache_rebuilt: self.cache_rebuilt.take(),
            sealed: false,
            list_resumed_ranges: k.resumed_ranges,
            resumed_in_flight: k.resumed_in_flight,
            in_flight_found: k.in_flight_found.iter().map(RoaringTreemap::len).sum(),
            trusted_by_dataset_record: k.trusted_by_dataset_record,
            provenance: Provenance::default(),
        }
    }
}

/// Runs a prepare of `dataset` on the caller's tokio runtime: as one agent (an agent's view:
/// its share, its shards) or as every agent (the controller's view: each agent's share in that
/// agent's shards, see [`Dataset::writer_views`]).
///
/// # Errors
/// Bad endpoints, caches in use by another process (after `options.open.wait`), caches that
/// belong to another backend or are not caches, and I/O failures. Damaged caches are not
/// errors: they are moved aside and rebuilt (see the report). Objects that cannot be written
/// are counted as failed, with their reasons, in the report.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
/// use cache_sai3::ttl::{SystemClock, TtlPolicy};
/// let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
/// let options = PrepareOptions {
///     cache_dir: tmp.path().join("cache"),
///     no_cache: false,
///     ttl: TtlPolicy::default(),
///     populate: Populate::Lazy,
///     concurrency: 4,
///     checkpoint_objects: CHECKPOINT_OBJECTS,
///     test_name: "example".into(),
///     pull: false,
///     push: false,
///     open: Default::default(),
///     create: true,
/// };
/// let progress = Progress::default();
/// let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// assert_eq!((report.total_objects, report.created, report.failed), (8, 8, 0));
/// assert_eq!(progress.phase(), "done");
/// let again = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// assert_eq!((again.created, again.list_calls), (0, 0)); // the sealed ledgers answered
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn prepare<D: Database>(
    dataset: &Dataset,
    options: &PrepareOptions,
    clock: &dyn Clock,
    progress: &Progress,
) -> Result<PrepareReport> {
    let started = Instant::now();
    let views = dataset.writer_views();
    let mut warnings = dataset.warnings.clone();
    let t_pull = Instant::now();
    progress.set_phase("pulling caches");
    let pulled = &progress.pulled;
    let mut syncs = sync::pull_all(&views, options, D::BACKEND, pulled, &mut warnings).await;
    let pull_s = t_pull.elapsed();
    progress.set_phase("opening caches");
    let sizes = DatasetSizes::new(dataset);
    let run = open::Run {
        dataset,
        views: &views,
        options,
        clock,
        progress,
        sizes: &sizes,
    };
    let mut jobs = open::open_all::<D>(&run, &mut warnings)?;
    let seeds = jobs
        .iter()
        .map(EndpointJob::seeds)
        .collect::<Result<Vec<_>>>()?;
    let t_list = Instant::now();
    progress.set_phase("learning");
    let knowledge = learn::learn_all(&jobs, dataset).await?;
    for job in &mut jobs {
        job.phases.list_s = secs(t_list.elapsed());
    }
    warnings.extend(unknown_shares(dataset, &jobs, &knowledge));
    let owned = owned_per_job(&views, &jobs, &knowledge);
    let finishing = jobs.into_iter().zip(knowledge).zip(owned).zip(seeds);
    let results = futures::future::join_all(
        finishing.map(|(((job, known), owned), seeds)| job.finish(known, owned, seeds)),
    )
    .await;
    let mut endpoints = Vec::with_capacity(results.len());
    let mut phases = Phases::default();
    for r in results {
        let (report, p) = r?;
        phases.slowest(&p);
        endpoints.push(report);
    }
    let t_push = Instant::now();
    progress.set_phase("pushing caches");
    let to_push = &progress.pushed;
    let pushed = sync::push_all(&views, options, clock.now(), to_push, &mut warnings).await;
    syncs.extend(pushed);
    phases.sync_s = secs(pull_s + t_push.elapsed());
    phases.total_s = secs(started.elapsed());
    progress.set_phase("done");
    let mut report = PrepareReport::summarize(
        dataset.hash.short(),
        dataset.total_objects(),
        endpoints,
        syncs,
        phases,
        warnings,
    );
    report.agent = dataset.agent;
    Ok(report)
}

/// Per job, what its endpoint owns once every endpoint of its view has learned: where s3dlio
/// placed objects at run time, what exists is the union of what every endpoint of the pool
/// holds ([`placement::owned_given`]), within one agent's view.
fn owned_per_job<D: Database>(
    views: &[Dataset],
    jobs: &[EndpointJob<'_, D>],
    knowledge: &[learn::Knowledge],
) -> Vec<Vec<RoaringTreemap>> {
    let mut owned: Vec<Vec<RoaringTreemap>> = vec![Vec::new(); jobs.len()];
    for view in views {
        let of_view = || (0..jobs.len()).filter(|&j| std::ptr::eq(jobs[j].dataset, view));
        // Indexed by the view's endpoint numbers (an endpoint without a job holds nothing).
        let mut present = vec![Vec::new(); view.endpoints.len()];
        for j in of_view() {
            present[jobs[j].endpoint as usize] = knowledge[j].listing.present.clone();
        }
        let mut by_endpoint = placement::owned_given(view, &present);
        for j in of_view() {
            owned[j] = std::mem::take(&mut by_endpoint[jobs[j].endpoint as usize]);
        }
    }
    owned
}

/// In a run that covers several agents' shares and found some of their shards trusted, names
/// each share whose shard could not say what exists (none pulled, stale, or of another
/// dataset) and was listed instead. (When no shard knew anything, nothing is singled out.)
fn unknown_shares<D: Database>(
    dataset: &Dataset,
    jobs: &[EndpointJob<'_, D>],
    knowledge: &[learn::Knowledge],
) -> Vec<String> {
    let agents: std::collections::BTreeSet<u32> = jobs.iter().map(|j| j.dataset.shard()).collect();
    let some_known = knowledge.iter().any(|k| k.source != ListingSource::List);
    if dataset.agent.is_some() || agents.len() < 2 || !some_known {
        return Vec::new();
    }
    jobs.iter()
        .zip(knowledge)
        .filter(|(_, k)| k.source == ListingSource::List)
        .map(|(j, _)| {
            format!(
                "agent {}'s share of {} was unknown (its shard holds no trusted knowledge of \
                 this dataset): listed",
                j.dataset.shard(),
                j.uri
            )
        })
        .collect()
}
