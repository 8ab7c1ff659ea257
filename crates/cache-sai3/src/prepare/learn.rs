//! Step 2: what exists on one endpoint, and where that knowledge came from.
//!
//! In this order: a seal of this exact dataset that is still trusted (younger than the TTL in
//! force; `file://` without `--cache-ttl` has none) with every owned object in the presence
//! bitmaps; an expired seal that the endpoint's `DATASET` record confirms (one GET); a cached
//! listing younger than the TTL; else a LIST, resumed from an interrupted one when that is
//! recent, and stored in the listing cache when a TTL is in force.

use std::time::Duration;

use roaring::RoaringTreemap;

use cache_core::Database;

use super::{EndpointJob, ListingSource};
use crate::dataset_record::DatasetRecord;
use crate::error::Result;
use crate::listing::{Checkpoints, ListProgress, Listing, list_endpoint};

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
    /// An expired seal was renewed by the endpoint's `DATASET` record.
    pub trusted_by_dataset_record: bool,
    /// When the listing stored in the listing cache was taken (`None`: none is stored).
    pub cached_at_ms: Option<u64>,
}

impl Knowledge {
    fn from_ledger(present: Vec<RoaringTreemap>, by_record: bool) -> Self {
        Knowledge {
            source: ListingSource::Ledger,
            listing: Listing {
                present,
                ..Listing::default()
            },
            resumed_ranges: 0,
            trusted_by_dataset_record: by_record,
            cached_at_ms: None,
        }
    }
}

/// Learns what exists on the job's endpoint.
///
/// # Errors
/// Cache reads that fail verification, a failed `DATASET` GET, a failed LIST.
pub(super) async fn learn<D: Database>(
    job: &EndpointJob<'_, D>,
    owned: &[RoaringTreemap],
) -> Result<Knowledge> {
    if let Some(known) = from_cache(job, owned).await? {
        return Ok(known);
    }
    list(job).await
}

/// Knowledge the cache holds and may be trusted, if any.
async fn from_cache<D: Database>(
    job: &EndpointJob<'_, D>,
    owned: &[RoaringTreemap],
) -> Result<Option<Knowledge>> {
    let policy = &job.options.ttl;
    let Some(cache) = job.cache.as_ref().filter(|_| !policy.force_refresh) else {
        return Ok(None);
    };
    let now = job.clock.now();
    let sealed_at = cache.seal_of(job.dataset)?;
    let complete = owned
        .iter()
        .zip(&job.stored)
        .all(|(want, have)| want.is_subset(have));
    if let Some(at) = sealed_at.filter(|_| complete) {
        let trusted = match policy.effective_ttl(job.scheme) {
            None => true,
            Some(_) => policy.judge(job.scheme, at, now).is_usable(),
        };
        if trusted {
            return Ok(Some(Knowledge::from_ledger(job.stored.clone(), false)));
        }
        if job.scheme.is_object_store() && record_confirms(job, at).await? {
            return Ok(Some(Knowledge::from_ledger(job.stored.clone(), true)));
        }
    }
    if let Some((listing, at)) = cache.cached_listing(job.dataset)? {
        if policy.judge(job.scheme, at, now).is_usable() {
            return Ok(Some(Knowledge {
                source: ListingSource::ListingCache,
                listing,
                resumed_ranges: 0,
                trusted_by_dataset_record: false,
                cached_at_ms: Some(at),
            }));
        }
        cache.remove_listing(job.dataset)?;
    }
    Ok(None)
}

/// The seal is too old to trust alone: true if the endpoint's `DATASET` record names the very
/// same sealing, complete (nothing was prepared there since).
async fn record_confirms<D: Database>(job: &EndpointJob<'_, D>, sealed_at: u64) -> Result<bool> {
    let record = DatasetRecord::read(&*job.store, job.uri).await?;
    Ok(record.is_some_and(|r| {
        r.config_hash == job.dataset.hash.full_hex() && r.sealed_ms == sealed_at && r.is_complete()
    }))
}

/// LISTs the endpoint (resuming a recent interrupted LIST of this dataset).
async fn list<D: Database>(job: &EndpointJob<'_, D>) -> Result<Knowledge> {
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
    let save = |p: &ListProgress| match &job.cache {
        Some(c) => c.save_list_progress(job.dataset, p),
        None => Ok(()),
    };
    let checkpoints = Checkpoints {
        resume,
        ordered: job.scheme.is_object_store(),
        started_ms: now,
        save: &save,
    };
    let listed = list_endpoint(
        job.store.clone(),
        job.dataset,
        job.endpoint,
        job.sizes,
        checkpoints,
    )
    .await?;
    let mut cached_at_ms = None;
    if let Some(cache) = &job.cache {
        cache.clear_list_progress(job.dataset)?;
        if policy.effective_ttl(job.scheme).is_some() {
            let at = job.clock.now();
            cache.store_listing(job.dataset, &listed.listing, at)?;
            cached_at_ms = Some(at);
        }
    }
    Ok(Knowledge {
        source: ListingSource::List,
        listing: listed.listing,
        resumed_ranges: listed.resumed_ranges,
        trusted_by_dataset_record: false,
        cached_at_ms,
    })
}
