//! Step 5: commit the last records, store the cached listing again, up to date (the LIST time
//! stays, so its TTL is unchanged; create removed it before its first PUT), seal the endpoint when
//! every object it owns exists, store paths (`--populate eager`), flush, and publish the
//! sealed `DATASET` record of an object-store endpoint.

use std::sync::atomic::Ordering;

use roaring::RoaringTreemap;

use cache_core::{Database, Durability};

use super::learn::Knowledge;
use super::{EndpointJob, ListingSource, Populate};
use crate::blocking::off_worker;
use crate::caches::{EndpointCache, LedgerWriter};
use crate::dataset_record::DatasetRecord;
use crate::error::Result;
use crate::listing::Listing;
use crate::records::EndpointState;

/// Seals the job's endpoint if it is complete; returns whether it is.
///
/// # Errors
/// Cache writes, the `DATASET` record PUT.
pub(super) async fn seal<D: Database>(
    job: &EndpointJob<'_, D>,
    mut writer: LedgerWriter<'_, D>,
    owned: &[RoaringTreemap],
    known: &Knowledge,
    wrote: bool,
) -> Result<bool> {
    let Some(cache) = job.cache.as_ref() else {
        return Ok(false);
    };
    off_worker(|| writer.checkpoint(Durability::Flushed))?;
    let present = writer.into_present();
    if let Some(listed_at) = known.cached_at_ms.filter(|_| wrote) {
        let listing = Listing {
            present: present.clone(),
            ..known.listing.clone()
        };
        cache.store_listing(job.dataset, &listing, listed_at)?;
    }
    let complete = owned
        .iter()
        .zip(&present)
        .all(|(want, have)| want.is_subset(have));
    let sealed_at_ms = sealed_at(job, cache, complete, known.source, wrote)?;
    let state = EndpointState {
        config_hash: job.dataset.hash.full_hex(),
        endpoint: job.endpoint,
        uri: job.uri.to_owned(),
        sealed_at_ms,
        created: present.iter().map(RoaringTreemap::len).collect(),
    };
    // A run that only trusted the sealed ledger and wrote nothing leaves the cache untouched
    // (no write, no flush, no new `DATASET` record): the next open finds it as it was.
    let untouched = !wrote
        && known.source == ListingSource::Ledger
        && job.options.populate != Populate::Eager
        && cache.state(job.dataset)?.as_ref() == Some(&state);
    if untouched {
        return Ok(complete);
    }
    let eager = job.options.populate == Populate::Eager;
    if eager {
        let paths: u64 = owned.iter().map(RoaringTreemap::len).sum();
        job.progress
            .paths_to_store
            .fetch_add(paths, Ordering::Relaxed);
        job.progress.set_phase("storing paths");
    }
    off_worker(|| -> Result<()> {
        cache.seal(job.dataset, &state)?;
        if complete {
            cache.clear_resume_basis(job.dataset)?;
        }
        if eager {
            let stored = &job.progress.paths_stored;
            cache.populate_paths(job.dataset, &job.pools(), owned, stored)?;
        }
        // Flush into tables: the next open replays no journal (seconds saved per endpoint).
        cache.flush()
    })?;
    if let Some(at) = sealed_at_ms.filter(|_| job.scheme.is_object_store()) {
        let record = DatasetRecord::build(job.dataset, job.endpoint, &present, owned, at);
        record.write(&*job.store).await?;
    }
    Ok(complete)
}

/// The seal time: none when incomplete; the old one when this run only trusted the ledger and
/// created nothing (it verified nothing, so the TTL counts from the last LIST or creation);
/// else now.
fn sealed_at<D: Database>(
    job: &EndpointJob<'_, D>,
    cache: &EndpointCache<D>,
    complete: bool,
    source: ListingSource,
    wrote: bool,
) -> Result<Option<u64>> {
    if !complete {
        return Ok(None);
    }
    let previous = cache.seal_of(job.dataset)?;
    Ok(match previous {
        Some(at) if source == ListingSource::Ledger && !wrote => Some(at),
        _ => Some(job.clock.now()),
    })
}
