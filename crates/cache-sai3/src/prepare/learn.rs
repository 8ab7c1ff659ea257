//! Step 2: what exists on each endpoint, and where that knowledge came from, per shard.
//!
//! In this order: a seal of this exact dataset that is still trusted (younger than the TTL in
//! force; `file://` without `--cache-ttl` has none) with every owned object in the presence
//! bitmaps; an expired seal that the shard's `DATASET` record confirms (one GET); the ledger of
//! an interrupted prepare whose starting knowledge is still trusted (its resume basis: what it
//! created it recorded, what was in flight is absent and written again); a cached listing
//! younger than the TTL; else a LIST, resumed from an interrupted one when that is recent, and
//! stored in the listing cache when a TTL is in force.
//!
//! Shards of one storage namespace that all need a LIST (a run covering several agents'
//! shares) share one: it is classified as the whole dataset sees the namespace, and each shard
//! keeps the part of its own pools.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;
use roaring::RoaringTreemap;

use cache_core::Database;

use super::{EndpointJob, ListingSource};
use crate::caches::listings::SavedChunks;
use crate::dataset::{Dataset, namespace_of};
use crate::dataset_record::DatasetRecord;
use crate::error::Result;
use crate::listing::{Checkpoints, ListProgress, Listed, Listing, list_endpoint};
use crate::records::ListMeasure;

/// How long an interrupted LIST may be resumed when no TTL is in force.
const RESUME_WINDOW: Duration = Duration::from_secs(3600);

/// What one endpoint holds, and how that is known.
#[derive(Debug, Clone)]
pub(super) struct Knowledge {
    /// Where it came from.
    pub source: ListingSource,
    /// What is present (per pool id), with what else a LIST or cached listing saw.
    pub listing: Listing,
    /// Ranges an interrupted earlier LIST had finished (skipped by this one).
    pub resumed_ranges: u64,
    /// Objects in flight when an interrupted prepare last checkpointed and not recorded
    /// since (resumed ledgers only): each was checked with a HEAD.
    pub resumed_in_flight: u64,
    /// Of those, per pool id, the ones the HEAD found written (with a size sai3-bench writes
    /// for them): present, recorded by reconcile, not written again.
    pub in_flight_found: Vec<RoaringTreemap>,
    /// An expired seal was renewed by the endpoint's `DATASET` record.
    pub trusted_by_dataset_record: bool,
    /// When the listing stored in the listing cache was taken (`None`: none is stored).
    pub cached_at_ms: Option<u64>,
    /// When what it says was true of the endpoint: the LIST, cached listing or seal it comes
    /// from (a resumed ledger keeps the time of the knowledge its prepare started from).
    pub known_at_ms: u64,
}

impl Knowledge {
    fn from_ledger(
        source: ListingSource,
        present: Vec<RoaringTreemap>,
        known_at_ms: u64,
        by_record: bool,
    ) -> Self {
        Knowledge {
            source,
            listing: Listing {
                present,
                ..Listing::default()
            },
            resumed_ranges: 0,
            resumed_in_flight: 0,
            in_flight_found: Vec::new(),
            trusted_by_dataset_record: by_record,
            cached_at_ms: None,
            known_at_ms,
        }
    }

    /// True when it comes from outside the ledger (a LIST or a cached listing), which the
    /// ledger must then follow.
    pub fn changes_ledger(&self) -> bool {
        matches!(
            self.source,
            ListingSource::List | ListingSource::ListingCache
        )
    }
}

/// Learns what exists on every job's endpoint (`whole`: the dataset the run was asked for,
/// which classifies a LIST shared by several shards).
///
/// # Errors
/// Cache reads that fail verification, a failed `DATASET` GET, a failed LIST.
pub(super) async fn learn_all<D: Database>(
    jobs: &[EndpointJob<'_, D>],
    whole: &Dataset,
) -> Result<Vec<Knowledge>> {
    let trusted = jobs.iter().map(|j| async move {
        let before = j.owned_before();
        from_cache(j, &before).await
    });
    let mut known = futures::future::try_join_all(trusted).await?;
    let mut unknown: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (j, k) in known.iter().enumerate() {
        if k.is_none() {
            unknown
                .entry(namespace_of(jobs[j].uri))
                .or_default()
                .push(j);
        }
    }
    let lists = unknown.values().map(|group| list_group(jobs, group, whole));
    for (group, listed) in unknown
        .values()
        .zip(futures::future::try_join_all(lists).await?)
    {
        for (&j, k) in group.iter().zip(listed) {
            known[j] = Some(k);
        }
    }
    Ok(known.into_iter().flatten().collect())
}

/// One LIST for the shards `group` (indices into `jobs`) of one namespace: by the first of
/// them, classified as `whole` sees the namespace when there are several.
async fn list_group<D: Database>(
    jobs: &[EndpointJob<'_, D>],
    group: &[usize],
    whole: &Dataset,
) -> Result<Vec<Knowledge>> {
    let lead = &jobs[group[0]];
    if group.len() == 1 {
        let (listed, measure) = list(lead, lead.dataset, lead.endpoint).await?;
        return Ok(vec![settle(
            lead,
            listed.listing,
            listed.resumed_ranges,
            measure,
        )?]);
    }
    let at = lead.dataset.global_endpoint(lead.endpoint);
    let (listed, measure) = list(lead, whole, at).await?;
    let mut out = Vec::with_capacity(group.len());
    for (n, &j) in group.iter().enumerate() {
        let job = &jobs[j];
        let mut part = Listing {
            present: listed.listing.present.clone(),
            ..Listing::default()
        };
        for (id, present) in part.present.iter_mut().enumerate() {
            if u16::try_from(id)
                .ok()
                .and_then(|id| job.dataset.pool(id))
                .is_none()
            {
                present.clear();
            }
        }
        part.present
            .resize(job.dataset.pool_id_limit(), RoaringTreemap::new());
        if n == 0 {
            part.wrong_size = listed.listing.wrong_size;
            part.other_keys = listed.listing.other_keys;
            part.other_key_samples = listed.listing.other_key_samples.clone();
            part.listed = listed.listing.listed;
        }
        out.push(settle(job, part, listed.resumed_ranges, measure)?);
    }
    Ok(out)
}

/// Knowledge the job's shard holds and may be trusted, if any.
async fn from_cache<D: Database>(
    job: &EndpointJob<'_, D>,
    owned: &[RoaringTreemap],
) -> Result<Option<Knowledge>> {
    let policy = &job.options.ttl;
    let Some(cache) = job.cache.as_ref().filter(|_| !policy.force_refresh) else {
        let why = match job.cache {
            None => "no cache is used (--no-cache)",
            Some(_) => "cached knowledge is ignored (--refresh-cache)",
        };
        chose(job, "LIST", why);
        return Ok(None);
    };
    let now = job.clock.now();
    let age = |at: u64| super::provenance::human(now.saturating_sub(at) as f64 / 1000.0);
    let sealed_at = cache.seal_of(job.dataset)?;
    let complete = owned
        .iter()
        .zip(&job.stored)
        .all(|(want, have)| want.is_subset(have));
    if let Some(at) = sealed_at.filter(|_| complete) {
        let sealed = |by_record| {
            let present = job.stored.clone();
            Knowledge::from_ledger(ListingSource::Ledger, present, at, by_record)
        };
        if trusts(job, at, now) {
            chose(
                job,
                "sealed ledger",
                &format!("sealed {} ago, trusted", age(at)),
            );
            return Ok(Some(sealed(false)));
        }
        if job.scheme.is_object_store() && record_confirms(job, at).await? {
            let why = format!(
                "sealed {} ago, past the TTL; the DATASET record names the same sealing",
                age(at)
            );
            chose(job, "sealed ledger", &why);
            return Ok(Some(sealed(true)));
        }
        tracing::info!(
            endpoint = job.uri,
            agent = job.dataset.shard(),
            "the seal ({} old) is past the TTL and no DATASET record confirms it",
            age(at)
        );
    }
    if let Some(at) = cache
        .resume_basis(job.dataset)?
        .filter(|&at| trusts(job, at, now))
    {
        let why = format!(
            "an interrupted prepare's knowledge, {} old, trusted",
            age(at)
        );
        chose(job, "resumed ledger", &why);
        let present = job.stored.clone();
        let mut resumed = Knowledge::from_ledger(ListingSource::Resumed, present, at, false);
        let interrupted = in_flight_not_present(job, cache)?;
        resumed.resumed_in_flight = interrupted.iter().map(RoaringTreemap::len).sum();
        resumed.in_flight_found = written_before_the_kill(job, interrupted).await?;
        for (present, found) in resumed
            .listing
            .present
            .iter_mut()
            .zip(&resumed.in_flight_found)
        {
            *present |= found;
        }
        return Ok(Some(resumed));
    }
    if let Some((listing, at)) = cache.cached_listing(job.dataset)? {
        if policy.judge(job.scheme, at, now).is_usable() {
            chose(
                job,
                "listing cache",
                &format!("listed {} ago, trusted", age(at)),
            );
            return Ok(Some(Knowledge {
                source: ListingSource::ListingCache,
                listing,
                resumed_ranges: 0,
                resumed_in_flight: 0,
                in_flight_found: Vec::new(),
                trusted_by_dataset_record: false,
                cached_at_ms: Some(at),
                known_at_ms: at,
            }));
        }
        tracing::info!(
            endpoint = job.uri,
            agent = job.dataset.shard(),
            "the cached listing ({} old) is past the TTL: removed",
            age(at)
        );
        cache.remove_listing(job.dataset)?;
    }
    chose(
        job,
        "LIST",
        "the cache holds no trusted knowledge of this dataset",
    );
    Ok(None)
}

/// Logs where the job's knowledge comes from, and why.
fn chose<D: Database>(job: &EndpointJob<'_, D>, source: &str, why: &str) {
    tracing::info!(
        endpoint = job.uri,
        agent = job.dataset.shard(),
        "knowledge from {source}: {why}"
    );
}

/// Per pool id, the objects of the job's ledger that were in flight at its last checkpoint
/// and are not present.
fn in_flight_not_present<D: Database>(
    job: &EndpointJob<'_, D>,
    cache: &crate::caches::EndpointCache<D>,
) -> Result<Vec<RoaringTreemap>> {
    let mut out = vec![RoaringTreemap::new(); job.dataset.pool_id_limit()];
    for p in &job.dataset.pools {
        let mut in_flight = cache.in_flight(job.dataset, p.id)?;
        if let Some(present) = job.stored.get(p.id as usize) {
            in_flight -= present;
        }
        out[p.id as usize] = in_flight;
    }
    Ok(out)
}

/// Of `interrupted` (per pool id), the objects a HEAD finds with a size sai3-bench writes for
/// them: their PUT ended before the kill (a PUT is atomic, so an object that exists is whole).
/// An object whose HEAD fails for another reason than "not found" is taken as missing and
/// written again (a PUT of the same content is idempotent).
///
/// # Errors
/// A pool whose size spec sai3-bench would refuse.
async fn written_before_the_kill<D: Database>(
    job: &EndpointJob<'_, D>,
    interrupted: Vec<RoaringTreemap>,
) -> Result<Vec<RoaringTreemap>> {
    let mut found = vec![RoaringTreemap::new(); interrupted.len()];
    for (id, indices) in interrupted.into_iter().enumerate() {
        let Some(pool) = u16::try_from(id).ok().and_then(|id| job.dataset.pool(id)) else {
            continue;
        };
        let heads = indices.into_iter().filter_map(|i| {
            let path = job.dataset.path_of(pool, i)?;
            Some(async move { (i, job.store.head(&StorePath::from(path.as_str())).await) })
        });
        let concurrency = job.options.concurrency.max(1);
        let mut heads = futures::stream::iter(heads).buffer_unordered(concurrency);
        let mut written = Vec::new();
        while let Some((i, head)) = heads.next().await {
            match head {
                Ok(meta) => written.push((i, meta.size)),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => tracing::warn!(
                    endpoint = job.uri,
                    index = i,
                    "HEAD of an object in flight when the last run was interrupted failed \
                     ({e}): it is written again"
                ),
            }
        }
        written.sort_unstable();
        let mut sizes = job.sizes.of(pool)?.checker();
        for (i, size) in written {
            if sizes.accepts(i, size) {
                found[id].insert(i);
            }
        }
    }
    Ok(found)
}

/// True when knowledge taken at `at` is still trusted: always without a TTL (`file://`: until
/// the config changes), else while younger than the TTL.
fn trusts<D: Database>(job: &EndpointJob<'_, D>, at: u64, now: u64) -> bool {
    let policy = &job.options.ttl;
    match policy.effective_ttl(job.scheme) {
        None => true,
        Some(_) => policy.judge(job.scheme, at, now).is_usable(),
    }
}

/// The seal is too old to trust alone: true if the endpoint's `DATASET` record names the very
/// same sealing, complete (nothing was prepared there since).
async fn record_confirms<D: Database>(job: &EndpointJob<'_, D>, sealed_at: u64) -> Result<bool> {
    let record = DatasetRecord::read(&*job.store, job.uri, job.dataset.shard()).await?;
    Ok(record.is_some_and(|r| {
        r.config_hash == job.dataset.hash.full_hex() && r.sealed_ms == sealed_at && r.is_complete()
    }))
}

/// LISTs the job's endpoint, classified as endpoint `endpoint` of `classify_as` (the job's
/// own view, or the whole dataset for a LIST shared by several shards), resuming a recent
/// interrupted LIST saved in the job's shard; measures it.
async fn list<D: Database>(
    job: &EndpointJob<'_, D>,
    classify_as: &Dataset,
    endpoint: u16,
) -> Result<(Listed, ListMeasure)> {
    job.progress.set_phase("listing");
    let policy = &job.options.ttl;
    let now = job.clock.now();
    let window = policy.effective_ttl(job.scheme).unwrap_or(RESUME_WINDOW);
    let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
    let resume = match &job.cache {
        Some(c) => c
            .list_progress(job.dataset)?
            .filter(|p| now.saturating_sub(p.started_ms) < window_ms),
        None => None,
    };
    let saved = std::sync::Mutex::new(resume.as_ref().map(SavedChunks::of).unwrap_or_default());
    let save = |p: &ListProgress| match &job.cache {
        Some(c) => {
            let mut saved = saved.lock().unwrap_or_else(|e| e.into_inner());
            c.save_list_progress(job.dataset, p, &mut saved)
        }
        None => Ok(()),
    };
    let checkpoints = Checkpoints {
        resume,
        ordered: job.scheme.is_object_store(),
        started_ms: now,
        save: &save,
    };
    let (calls_before, started) = (job.counts.lists(), Instant::now());
    let listed = list_endpoint(
        job.store.clone(),
        classify_as,
        endpoint,
        job.sizes,
        checkpoints,
        &job.progress.listing,
    )
    .await?;
    let measure = ListMeasure {
        at_ms: job.clock.now(),
        keys: listed.keys_read,
        micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        calls: job.counts.lists().saturating_sub(calls_before),
    };
    tracing::info!(
        endpoint = job.uri,
        keys = measure.keys,
        seconds = measure.micros as f64 / 1e6,
        list_calls = measure.calls,
        resumed_ranges = listed.resumed_ranges,
        "listed {} keys in {:.3} s",
        measure.keys,
        measure.micros as f64 / 1e6
    );
    Ok((listed, measure))
}

/// What a finished LIST tells the job's shard: its progress is dropped, the listing is stored
/// in the listing cache when a TTL is in force, and its `measure` is recorded.
fn settle<D: Database>(
    job: &EndpointJob<'_, D>,
    listing: Listing,
    resumed_ranges: u64,
    measure: ListMeasure,
) -> Result<Knowledge> {
    let mut cached_at_ms = None;
    let known_at_ms = job.clock.now();
    if let Some(cache) = &job.cache {
        // The listing is stored before the progress it ends is dropped: a kill in between
        // leaves both, never neither.
        if job.options.ttl.effective_ttl(job.scheme).is_some() {
            let at = job.clock.now();
            cache.store_listing(job.dataset, &listing, at)?;
            tracing::info!(endpoint = job.uri, "LIST finished: its listing is cached");
            cached_at_ms = Some(at);
        }
        cache.clear_list_progress(job.dataset)?;
        cache.record_list(job.dataset, measure)?;
    }
    Ok(Knowledge {
        source: ListingSource::List,
        listing,
        resumed_ranges,
        resumed_in_flight: 0,
        in_flight_found: Vec::new(),
        trusted_by_dataset_record: false,
        cached_at_ms,
        known_at_ms,
    })
}
