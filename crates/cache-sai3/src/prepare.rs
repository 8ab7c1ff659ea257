//! The prepare flow: know what exists on each endpoint (from a sealed ledger, a fresh cached
//! listing, or a LIST), create only what is missing, record every state change, seal.
//!
//! Endpoints are prepared concurrently, each with its own cache and ledger. Where the knowledge
//! of existing objects comes from, per endpoint, in this order:
//!
//! 1. `--no-cache` or `--refresh-cache`: LIST.
//! 2. `ledger`: the endpoint's cache holds a seal for this exact dataset (config hash), every
//!    object of the endpoint is `Created` in the presence bitmaps, and the seal is younger than
//!    the TTL in force (for `file://` without `--cache-ttl` there is no TTL: the seal holds until
//!    the config changes or a refresh is asked for).
//! 3. `listing_cache`: a cached listing of this dataset younger than the TTL.
//! 4. `list`: a LIST (stored in the listing cache when a TTL is in force), reconciled into the
//!    ledger: found objects become `Created`, vanished ones `Deleted`.
//!
//! Creation writes `Creating` then `Created` (or `Failed` after retries) for each object and
//! commits entries and bitmaps together every [`CHECKPOINT_OBJECTS`] objects or
//! [`CHECKPOINT_INTERVAL`], so an aborted run loses at most one checkpoint of records; the next
//! run is not sealed, lists, and recreates only what is really missing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use roaring::RoaringTreemap;
use serde::Serialize;

use cache_core::ttl::{Clock, TtlPolicy, UriScheme};
use cache_core::{Database, Durability, Keyspace, frame};

use crate::coordinator::CoordinatorCache;
use crate::dataset::{Dataset, Pool};
use crate::dataset_record::DatasetRecord;
use crate::endpoint_cache::{EndpointCache, cache_location};
use crate::error::{Result, Sai3Error};
use crate::keys;
use crate::ledger::{LedgerWriter, load_presence};
use crate::listing::{
    EndpointListing, cached_listing, clear_progress, list_endpoint, remove_listing, save_progress,
    saved_progress, store_listing,
};
use crate::records::{AgentMap, EndpointState, LedgerEntry, ObjectState, PoolSeeds};
use crate::store::{CallCounts, CountingStore, open_endpoint};

/// Objects between ledger checkpoints.
pub const CHECKPOINT_OBJECTS: usize = 10_000;
/// Longest time between ledger checkpoints.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(2);
/// Attempts per object before it is recorded `Failed`.
pub const PUT_ATTEMPTS: u32 = 3;

/// How `file_paths` is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Populate {
    /// Every path of the endpoint is stored at the end of prepare.
    Eager,
    /// Paths are stored when `lookup` first computes them.
    Lazy,
}

/// Settings of one prepare.
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
    /// Name recorded in the coordinator (the config's file stem).
    pub test_name: String,
    /// Pull object-store endpoint caches before starting (if the remote is newer).
    pub pull: bool,
    /// Push object-store endpoint caches when done.
    pub push: bool,
}

/// Where the knowledge of existing objects came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingSource {
    /// A LIST of the endpoint.
    List,
    /// A cached listing within its TTL.
    ListingCache,
    /// The sealed object ledger.
    Ledger,
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
}

impl Progress {
    fn set_phase(&self, phase: &str) {
        if let Ok(mut p) = self.phase.lock() {
            *p = phase.to_owned();
        }
    }
}

/// What happened on one endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointReport {
    /// Endpoint number.
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
    /// True when the seal had outlived its TTL and one GET of the endpoint's `DATASET` record
    /// (same sealing, complete) renewed the trust instead of a LIST.
    pub trusted_by_dataset_record: bool,
}

/// Seconds spent per phase.
#[derive(Debug, Clone, Default, Serialize)]
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

/// The result of a prepare.
#[derive(Debug, Clone, Serialize)]
pub struct PrepareReport {
    /// Short config hash.
    pub config_hash: String,
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
    pub sync: Vec<crate::sync::EndpointSync>,
    /// Seconds per phase (maximum over endpoints, which run concurrently).
    pub phases: Phases,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

/// The default seeds of a pool: derived from the config hash, so that even a run without a
/// cache sizes objects exactly as a cached run does.
pub fn default_seeds(dataset: &Dataset, pool: u16) -> PoolSeeds {
    let h = dataset.hash.full_hex();
    let base = xxhash_rust::xxh3::xxh3_64_with_seed(h.as_bytes(), u64::from(pool));
    PoolSeeds {
        size_seed: base,
        fill_seed: base.rotate_left(32) ^ 0x5a5a_5a5a_5a5a_5a5a,
    }
}

/// Indices of `pool` that live on `endpoint`.
pub fn expected_on(dataset: &Dataset, pool: &Pool, endpoint: u16) -> RoaringTreemap {
    let n = pool.endpoints.len() as u64;
    let mut out = RoaringTreemap::new();
    for (slot, &e) in pool.endpoints.iter().enumerate() {
        if e == endpoint {
            let slot = slot as u64;
            if slot < pool.count {
                let last = slot + (pool.count - 1 - slot) / n * n;
                if n == 1 {
                    out.insert_range(slot..=last);
                } else {
                    out.extend((0..=(last - slot) / n).map(|k| slot + k * n));
                }
            }
        }
    }
    let _ = dataset;
    out
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Moves a damaged cache directory aside (never deletes it) and returns the new name.
fn move_aside(location: &Path, now_ms: u64) -> Result<PathBuf> {
    let name = location
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = location.with_file_name(format!("{name}.damaged-{now_ms}"));
    std::fs::rename(location, &aside).map_err(|e| Sai3Error::Endpoint {
        endpoint: location.display().to_string(),
        reason: format!("cannot move the damaged cache aside: {e}"),
    })?;
    Ok(aside)
}

/// Errors that mean "this cache's data is damaged" (rebuild), as opposed to "this is not our
/// cache" or "wrong backend" (stop and tell the user).
fn is_damage(e: &Sai3Error) -> bool {
    match e {
        Sai3Error::Cache(c) => matches!(
            c,
            cache_core::Error::Corrupt { .. }
                | cache_core::Error::MalformedKey { .. }
                | cache_core::Error::Backend { .. }
        ),
        _ => false,
    }
}

/// Opens a cache with `open` and reads what the run relies on with `load` (so damage shows up
/// now, not mid-run); if its data is damaged, moves it aside and opens a fresh one. Returns the
/// cache, what `load` read, and, if it was rebuilt, why.
fn open_or_rebuild<T, R>(
    location: &Path,
    now_ms: u64,
    open: impl Fn() -> Result<T>,
    load: impl Fn(&T) -> Result<R>,
) -> Result<(T, R, Option<String>)> {
    let first = open().and_then(|c| load(&c).map(|r| (c, r)));
    match first {
        Ok((c, r)) => Ok((c, r, None)),
        Err(e) if is_damage(&e) => {
            let aside = move_aside(location, now_ms)?;
            let reason = format!("{e}; moved to {} and rebuilt", aside.display());
            let fresh = open()?;
            let r = load(&fresh)?;
            Ok((fresh, r, Some(reason)))
        }
        Err(e) => Err(e),
    }
}

struct EndpointJob<'a, D: Database> {
    dataset: &'a Dataset,
    endpoint: u16,
    options: &'a PrepareOptions,
    clock: &'a dyn Clock,
    progress: &'a Progress,
    cache: Option<EndpointCache<D>>,
    /// The ledger's presence bitmaps as stored when the cache was opened (one per pool).
    stored: Vec<RoaringTreemap>,
    cache_rebuilt: Option<String>,
    store: Arc<dyn ObjectStore>,
    counts: Arc<CallCounts>,
    phases: Phases,
}

/// Runs a prepare of `dataset`.
///
/// # Errors
/// Bad endpoints, caches that belong to another backend or are not caches, and I/O failures.
/// Damaged caches are not errors: they are moved aside and rebuilt (see the report).
pub fn prepare<D: Database>(
    dataset: &Dataset,
    options: &PrepareOptions,
    clock: &dyn Clock,
    progress: &Progress,
) -> Result<PrepareReport> {
    let started = Instant::now();
    let now = clock.now();
    progress.set_phase("opening caches");
    let mut warnings = dataset.warnings.clone();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Sai3Error::Endpoint {
            endpoint: "(all)".into(),
            reason: format!("cannot start the I/O runtime: {e}"),
        })?;
    // Pull object-store endpoint caches that are newer remotely. A refused or failed pull is a
    // warning: the local cache (or a LIST) still gives correct answers.
    let t_sync = Instant::now();
    let mut sync = Vec::new();
    let synced = crate::sync::synced_endpoints(dataset);
    if !options.no_cache && options.pull && !synced.is_empty() {
        let pulls =
            runtime.block_on(futures::future::join_all(synced.iter().map(|&e| {
                crate::sync::pull_endpoint(dataset, e, &options.cache_dir, D::BACKEND)
            })));
        for p in pulls {
            match p {
                Ok(s) => sync.push(s),
                Err(e) => warnings.push(format!("pull skipped: {e}")),
            }
        }
    }
    let pull_s = t_sync.elapsed();

    // Open every endpoint first (in parallel: an LSM open may replay a journal): bad URIs and
    // foreign caches fail before any work starts.
    let open_one = |e: usize, uri: &String| -> Result<(EndpointJob<'_, D>, PathBuf)> {
        let t0 = Instant::now();
        let counts = Arc::new(CallCounts::default());
        let store: Arc<dyn ObjectStore> =
            Arc::new(CountingStore::new(open_endpoint(uri)?, counts.clone()));
        let location = cache_location(uri, &options.cache_dir)?;
        let (cache, stored, cache_rebuilt) = if options.no_cache {
            (None, Vec::new(), None)
        } else {
            let ds = dataset.hash.dataset_id();
            let (c, stored, r) = open_or_rebuild(
                &location,
                now,
                || EndpointCache::<D>::open(&location, true),
                |c: &EndpointCache<D>| {
                    c.state(ds)?;
                    let mut stored = Vec::with_capacity(dataset.pools.len());
                    for p in &dataset.pools {
                        stored.push(load_presence(c, ds, p.id)?);
                        c.seeds.get(&keys::per_pool(keys::SEEDS, ds, p.id))?;
                    }
                    Ok(stored)
                },
            )?;
            (Some(c), stored, r)
        };
        let job = EndpointJob::<D> {
            dataset,
            endpoint: e as u16,
            options,
            clock,
            progress,
            cache,
            stored,
            cache_rebuilt,
            store,
            counts,
            phases: Phases {
                open_s: secs(t0.elapsed()),
                ..Phases::default()
            },
        };
        Ok((job, location))
    };
    let opened: Vec<Result<(EndpointJob<'_, D>, PathBuf)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = dataset
            .endpoints
            .iter()
            .enumerate()
            .map(|(e, uri)| scope.spawn(move || open_one(e, uri)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Sai3Error::Endpoint {
                        endpoint: "(open)".into(),
                        reason: "a thread opening an endpoint cache panicked".into(),
                    })
                })
            })
            .collect()
    });
    let mut jobs = Vec::with_capacity(opened.len());
    let mut locations = Vec::with_capacity(opened.len());
    for r in opened {
        let (job, location) = r?;
        if let Some(why) = &job.cache_rebuilt {
            warnings.push(format!("endpoint {} cache damaged: {why}", job.endpoint));
        }
        jobs.push(job);
        locations.push(location);
    }
    if !options.no_cache {
        let coord_location = crate::coordinator::coordinator_location(&options.cache_dir);
        let (coord, (), rebuilt) = open_or_rebuild(
            &coord_location,
            now,
            || CoordinatorCache::<D>::open(&options.cache_dir, true),
            |c: &CoordinatorCache<D>| {
                c.metadata(dataset)?;
                c.manifest(dataset)?;
                Ok(())
            },
        )?;
        if let Some(r) = rebuilt {
            warnings.push(format!("coordinator cache damaged: {r}"));
        }
        coord.register(dataset, &options.test_name, &locations, now)?;
    }

    let results: Vec<Result<(EndpointReport, Phases)>> = runtime
        .block_on(async { futures::future::join_all(jobs.into_iter().map(|job| job.run())).await });
    let mut endpoints = Vec::new();
    let mut phases = Phases::default();
    for r in results {
        let (report, p) = r?;
        phases.open_s = phases.open_s.max(p.open_s);
        phases.list_s = phases.list_s.max(p.list_s);
        phases.create_s = phases.create_s.max(p.create_s);
        phases.persist_s = phases.persist_s.max(p.persist_s);
        endpoints.push(report);
    }
    // Push the (now closed) object-store endpoint caches.
    let t_push = Instant::now();
    if !options.no_cache && options.push && !synced.is_empty() {
        let now = clock.now();
        let pushes =
            runtime.block_on(futures::future::join_all(synced.iter().map(|&e| {
                crate::sync::push_endpoint(dataset, e, &options.cache_dir, now)
            })));
        for p in pushes {
            match p {
                Ok(s) => sync.push(s),
                Err(e) => warnings.push(format!("push failed: {e}")),
            }
        }
    }
    phases.sync_s = secs(pull_s + t_push.elapsed());
    phases.total_s = secs(started.elapsed());
    let sum = |f: fn(&EndpointReport) -> u64| endpoints.iter().map(f).sum::<u64>();
    let listing_source = if endpoints
        .iter()
        .any(|e| e.listing_source == ListingSource::List)
    {
        ListingSource::List
    } else if endpoints
        .iter()
        .any(|e| e.listing_source == ListingSource::ListingCache)
    {
        ListingSource::ListingCache
    } else {
        ListingSource::Ledger
    };
    let list_calls = sum(|e| e.list_calls);
    progress.set_phase("done");
    Ok(PrepareReport {
        config_hash: dataset.hash.short(),
        total_objects: dataset.total_objects(),
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
    })
}

impl<D: Database> EndpointJob<'_, D> {
    fn seeds(&self, pool: u16) -> Result<PoolSeeds> {
        let default = default_seeds(self.dataset, pool);
        match &self.cache {
            None => Ok(default),
            Some(c) => c.seeds(self.dataset.hash.dataset_id(), pool, default),
        }
    }

    fn uri(&self) -> &str {
        &self.dataset.endpoints[self.endpoint as usize]
    }

    /// Decides where knowledge comes from and returns the present bitmaps per pool id.
    async fn learn(
        &self,
        expected: &[RoaringTreemap],
        seeds: &[PoolSeeds],
    ) -> Result<(
        ListingSource,
        Vec<RoaringTreemap>,
        Option<EndpointListing>,
        bool,
    )> {
        let ds = self.dataset.hash.dataset_id();
        let scheme = UriScheme::of(self.uri())?;
        let now = self.clock.now();
        let policy = &self.options.ttl;
        if let Some(cache) = self.cache.as_ref().filter(|_| !policy.force_refresh) {
            let present = self.stored.clone();
            let sealed_at = cache
                .state(ds)?
                .filter(|s| s.config_hash == self.dataset.hash.full_hex())
                .and_then(|s| s.sealed_at_ms);
            let seal_trusted = sealed_at.is_some_and(|at| match policy.effective_ttl(scheme) {
                None => true,
                Some(_) => policy.judge(scheme, at, now).is_usable(),
            });
            let complete = expected
                .iter()
                .zip(&present)
                .all(|(want, have)| want.is_subset(have));
            if seal_trusted && complete {
                return Ok((ListingSource::Ledger, present, None, false));
            }
            // The seal is too old to trust alone: if the endpoint's DATASET record names the
            // very same sealing (and it is complete), nothing was prepared there since.
            if let Some(at) = sealed_at.filter(|_| complete && scheme.is_object_store())
                && let Some(record) = DatasetRecord::read(&*self.store).await
                && record.config_hash == self.dataset.hash.full_hex()
                && record.sealed_ms == at
                && record.is_complete()
            {
                return Ok((ListingSource::Ledger, present, None, true));
            }
            if let Some((listing, at)) = cached_listing(cache, self.dataset)? {
                if policy.judge(scheme, at, now).is_usable() {
                    let present = listing.present.clone();
                    return Ok((ListingSource::ListingCache, present, Some(listing), false));
                }
                remove_listing(cache, self.dataset)?;
            }
        }
        self.progress.set_phase("listing");
        let sizes: Vec<(crate::sizes::SizeSpec, u64)> = self
            .dataset
            .pools
            .iter()
            .map(|p| (p.size, seeds[p.id as usize].size_seed))
            .collect();
        let expected_size = move |pool: u16, index: u64| {
            let (spec, seed) = sizes[pool as usize];
            spec.size_of(seed, index)
        };
        // Resume an interrupted LIST of this dataset if it is recent enough to be combined with
        // a fresh one (younger than the TTL in force, or an hour without one).
        let window = policy
            .effective_ttl(scheme)
            .unwrap_or(std::time::Duration::from_secs(3600));
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let resume = match &self.cache {
            Some(c) => saved_progress(c, self.dataset)?
                .filter(|p| now.saturating_sub(p.started_ms) < window_ms),
            None => None,
        };
        let save = |p: &crate::listing::ListProgress| match &self.cache {
            Some(c) => save_progress(c, self.dataset, p),
            None => Ok(()),
        };
        let listing = list_endpoint(
            self.store.clone(),
            self.dataset,
            self.endpoint,
            &expected_size,
            crate::listing::Checkpoints {
                resume,
                ordered: scheme.is_object_store(),
                started_ms: now,
                save: &save,
            },
        )
        .await?;
        if let Some(cache) = &self.cache {
            clear_progress(cache, self.dataset)?;
            if policy.effective_ttl(scheme).is_some() {
                store_listing(cache, self.dataset, &listing, self.clock.now())?;
            }
        }
        let present = listing.present.clone();
        Ok((ListingSource::List, present, Some(listing), false))
    }

    async fn run(mut self) -> Result<(EndpointReport, Phases)> {
        let ds = self.dataset.hash.dataset_id();
        let dataset: &Dataset = self.dataset;
        let endpoint = self.endpoint;
        let pools: Vec<&Pool> = dataset
            .pools
            .iter()
            .filter(|p| p.endpoints.contains(&endpoint))
            .collect();
        let mut expected = vec![RoaringTreemap::new(); self.dataset.pools.len()];
        for p in &pools {
            expected[p.id as usize] = expected_on(self.dataset, p, self.endpoint);
        }
        let seeds: Vec<PoolSeeds> = (0..self.dataset.pools.len() as u16)
            .map(|p| self.seeds(p))
            .collect::<Result<_>>()?;
        let t_list = Instant::now();
        let (source, present, listing, by_record) = self.learn(&expected, &seeds).await?;
        self.phases.list_s = secs(t_list.elapsed());

        let expected_total: u64 = expected.iter().map(RoaringTreemap::len).sum();
        let mut report = EndpointReport {
            endpoint: self.endpoint,
            uri: self.uri().to_owned(),
            cache_location: self
                .cache
                .as_ref()
                .map(|c| c.location().display().to_string()),
            listing_source: source,
            list_calls: 0,
            expected: expected_total,
            already_present: 0,
            created: 0,
            failed: 0,
            wrong_size: listing.as_ref().map_or(0, |l| l.wrong_size),
            other_keys: listing.as_ref().map_or(0, |l| l.other_keys.len() as u64),
            cache_rebuilt: self.cache_rebuilt.take(),
            sealed: false,
            trusted_by_dataset_record: by_record,
            list_resumed_ranges: listing.as_ref().map_or(0, |l| l.resumed_ranges),
        };

        // Reconcile the ledger with what a LIST or cached listing found.
        let now = self.clock.now();
        let stored = std::mem::take(&mut self.stored);
        let mut writer = self
            .cache
            .as_ref()
            .map(|c| LedgerWriter::new(c, ds, stored));
        let mut missing: Vec<(u16, u64)> = Vec::new();
        for p in &pools {
            let id = p.id as usize;
            let here = &present[id] & &expected[id];
            report.already_present += here.len();
            if let Some(w) = writer.as_mut() {
                if source != ListingSource::Ledger {
                    let newly_found = &here - w.present(p.id);
                    let vanished = w.present(p.id) - &here;
                    let seed = seeds[id].size_seed;
                    for i in &newly_found {
                        w.record(
                            p.id,
                            i,
                            LedgerEntry {
                                state: ObjectState::Created,
                                size: p.size.size_of(seed, i),
                                at_ms: now,
                            },
                        )?;
                    }
                    for i in &vanished {
                        let size = p.size.size_of(seed, i);
                        w.record(
                            p.id,
                            i,
                            LedgerEntry {
                                state: ObjectState::Deleted,
                                size,
                                at_ms: now,
                            },
                        )?;
                    }
                }
                if w.pending() > 0 {
                    w.checkpoint(Durability::Flushed)?;
                }
            }
            missing.extend((&expected[id] - &here).iter().map(|i| (p.id, i)));
        }

        // Create what is missing.
        let t_create = Instant::now();
        self.progress
            .to_create
            .fetch_add(missing.len() as u64, Ordering::SeqCst);
        self.progress.set_phase("creating");
        let concurrency = self.options.concurrency.max(1);
        let mut last_checkpoint = Instant::now();
        for chunk in missing.chunks((concurrency * 8).max(1000)) {
            if let Some(w) = writer.as_mut() {
                for &(pool, i) in chunk {
                    let p = &self.dataset.pools[pool as usize];
                    let size = p.size.size_of(seeds[pool as usize].size_seed, i);
                    w.record(
                        pool,
                        i,
                        LedgerEntry {
                            state: ObjectState::Creating,
                            size,
                            at_ms: self.clock.now(),
                        },
                    )?;
                }
            }
            let store = &self.store;
            let dataset = self.dataset;
            let seeds = &seeds;
            let mut results = futures::stream::iter(chunk.iter().copied())
                .map(|(pool, i)| async move {
                    let p = &dataset.pools[pool as usize];
                    let s = seeds[pool as usize];
                    let size = p.size.size_of(s.size_seed, i);
                    let path = dataset.path_of(p, i).unwrap_or_default();
                    let location = StorePath::from(path.as_str());
                    let mut outcome = Err(String::new());
                    for attempt in 0..PUT_ATTEMPTS {
                        let body = p.fill.content(s.fill_seed, i, size as usize);
                        match store.put(&location, body.into()).await {
                            Ok(_) => {
                                outcome = Ok(());
                                break;
                            }
                            Err(e) => {
                                outcome = Err(e.to_string());
                                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                            }
                        }
                    }
                    (pool, i, size, outcome)
                })
                .buffer_unordered(concurrency);
            while let Some((pool, i, size, outcome)) = results.next().await {
                let state = match outcome {
                    Ok(()) => {
                        report.created += 1;
                        self.progress.created.fetch_add(1, Ordering::Relaxed);
                        ObjectState::Created
                    }
                    Err(_) => {
                        report.failed += 1;
                        ObjectState::Failed
                    }
                };
                if let Some(w) = writer.as_mut() {
                    w.record(
                        pool,
                        i,
                        LedgerEntry {
                            state,
                            size,
                            at_ms: self.clock.now(),
                        },
                    )?;
                    if w.pending() >= CHECKPOINT_OBJECTS
                        || last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL
                    {
                        w.checkpoint(Durability::Flushed)?;
                        last_checkpoint = Instant::now();
                    }
                }
            }
        }
        self.phases.create_s = secs(t_create.elapsed());

        // Seal and persist.
        let t_persist = Instant::now();
        if let (Some(cache), Some(mut w)) = (self.cache.as_ref(), writer) {
            w.checkpoint(Durability::Flushed)?;
            // A cached listing taken before this run's creations would claim they are missing:
            // bring it up to what exists now (its LIST time stays, so its TTL is unchanged).
            if report.created > 0
                && let Some((mut cached, listed_at)) = cached_listing(cache, self.dataset)?
            {
                cached.present = self
                    .dataset
                    .pools
                    .iter()
                    .map(|p| w.present(p.id).clone())
                    .collect();
                store_listing(cache, self.dataset, &cached, listed_at)?;
            }
            let complete = pools
                .iter()
                .all(|p| expected[p.id as usize].is_subset(w.present(p.id)));
            let created: Vec<u64> = self
                .dataset
                .pools
                .iter()
                .map(|p| w.present(p.id).len())
                .collect();
            // A run that only trusted the ledger verified nothing: it keeps the old seal time, so
            // the TTL counts from the last LIST or creation, not from the last run.
            let previous = cache
                .state(ds)?
                .filter(|s| s.config_hash == self.dataset.hash.full_hex())
                .and_then(|s| s.sealed_at_ms);
            let sealed_at_ms = match (complete, previous) {
                (false, _) => None,
                (true, Some(at)) if source == ListingSource::Ledger && report.created == 0 => {
                    Some(at)
                }
                (true, _) => Some(self.clock.now()),
            };
            let state = EndpointState {
                config_hash: self.dataset.hash.full_hex(),
                endpoint: self.endpoint,
                uri: self.uri().to_owned(),
                sealed_at_ms,
                created,
            };
            cache.endpoint_metadata.insert_record(
                &keys::per_dataset(keys::ENDPOINT_STATE, ds),
                &state,
                Durability::Flushed,
            )?;
            cache.agent_map.insert_record(
                &keys::per_dataset(keys::AGENT_MAP, ds),
                &AgentMap {
                    agents: self.dataset.agents,
                },
                Durability::Flushed,
            )?;
            if self.options.populate == Populate::Eager {
                self.populate_paths(cache, &pools, &expected)?;
            }
            // Flush into tables: the next open replays no journal (seconds saved per endpoint).
            cache.database().flush()?;
            report.sealed = complete;
            if let Some(at) = sealed_at_ms
                && UriScheme::of(self.uri()).is_ok_and(UriScheme::is_object_store)
            {
                let present: Vec<RoaringTreemap> = self
                    .dataset
                    .pools
                    .iter()
                    .map(|p| w.present(p.id).clone())
                    .collect();
                DatasetRecord::build(self.dataset, self.endpoint, &present, &expected, at)
                    .write(&*self.store)
                    .await?;
            }
        }
        self.phases.persist_s = secs(t_persist.elapsed());
        report.list_calls = self.counts.lists();
        Ok((report, self.phases))
    }

    /// Stores every path of this endpoint in `file_paths` (sorted bulk load).
    fn populate_paths(
        &self,
        cache: &EndpointCache<D>,
        pools: &[&Pool],
        expected: &[RoaringTreemap],
    ) -> Result<()> {
        let ds = self.dataset.hash.dataset_id();
        let raw = cache.file_paths.raw();
        // A sorted load writes the last key last: if every pool's last path is stored, an earlier
        // prepare populated this dataset already.
        let mut done = true;
        for p in pools {
            if let Some(last) = expected[p.id as usize].max() {
                done &= raw.contains(&keys::per_object(keys::FILE_PATH, ds, p.id, last))?;
            }
        }
        if done {
            return Ok(());
        }
        let mut rows = pools.iter().flat_map(|p| {
            expected[p.id as usize].iter().filter_map(move |i| {
                let key = keys::per_object(keys::FILE_PATH, ds, p.id, i);
                let path = self.dataset.path_of(p, i)?;
                let value = frame::encode(
                    &key,
                    frame::FrameKind::Value,
                    path.as_bytes(),
                    cache_core::Compression::Lz4,
                );
                Some((key, value))
            })
        });
        cache.database().ingest_sorted(raw, &mut rows)?;
        Ok(())
    }
}
