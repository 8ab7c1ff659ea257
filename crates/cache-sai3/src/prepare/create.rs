//! Step 4: write the missing objects, a chunk at a time. A chunk's objects are recorded in
//! flight, durably, before any of their PUTs starts (so after a kill every object that may have
//! been written is either recorded present or in the stored in-flight set, which a resume
//! checks with HEADs instead of writing again), and present or failed (with the store's
//! reason) after it; the ledger's changes are committed every
//! `--checkpoint-every` objects ([`super::CHECKPOINT_OBJECTS`] by default) or
//! [`CHECKPOINT_INTERVAL`]. A failed PUT keeps the store's
//! reason for the report. Retries of transient errors are object_store's own (its client
//! retries with backoff); a PUT that still fails is recorded, never retried here on top.

use std::sync::atomic::Ordering;
use std::time::Instant;

use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;

use cache_core::{Database, Durability};

use super::reconcile::Missing;
use super::{CHECKPOINT_INTERVAL, EndpointJob, WriteFailures};
use crate::blocking::off_worker;
use crate::caches::LedgerWriter;
use crate::error::{Result, Sai3Error};
use crate::object_sizes::SizeChecker;
use crate::records::{LedgerException, ObjectState, PoolSeeds};
use crate::sizes::Fill;

/// The most objects recorded in flight at once (the most a resume checks with HEADs).
const MAX_CHUNK: usize = 65_536;

/// What creation did.
pub(super) struct Created {
    /// Objects written.
    pub created: u64,
    /// Objects that could not be written.
    pub failed: u64,
    /// Why.
    pub failures: WriteFailures,
}

/// One object to write: where, how large, and its content.
struct Put {
    pool: u16,
    index: u64,
    path: String,
    size: u64,
    fill: Fill,
    fill_seed: u64,
}

/// The PUT of one object, planned: its path and size must exist (the index is one the endpoint
/// owns). `checkers` keeps one size checker per pool (missing objects come in index order).
fn plan<'s, D: Database>(
    job: &EndpointJob<'s, D>,
    seeds: &[PoolSeeds],
    checkers: &mut [Option<SizeChecker<'s>>],
    pool: u16,
    index: u64,
) -> Result<Put> {
    let no_name = |what: &str| Sai3Error::Endpoint {
        endpoint: job.uri.to_owned(),
        reason: format!("object {index} of pool {pool} has no {what}: past the pool's end"),
    };
    let p = job.dataset.pool(pool).ok_or_else(|| no_name("pool"))?;
    let path = job
        .dataset
        .path_of(p, index)
        .ok_or_else(|| no_name("name"))?;
    let slot = checkers
        .get_mut(pool as usize)
        .ok_or_else(|| no_name("size"))?;
    if slot.is_none() {
        *slot = Some(job.sizes.of(p)?.checker());
    }
    let size = slot
        .as_mut()
        .and_then(|c| c.size_of(index))
        .ok_or_else(|| no_name("size"))?;
    let fill_seed = seeds
        .get(pool as usize)
        .ok_or_else(|| no_name("seed"))?
        .fill_seed;
    Ok(Put {
        pool,
        index,
        path,
        size,
        fill: p.fill,
        fill_seed,
    })
}

/// Writes `missing` (pool, index) objects, recording every state change in `writer`.
///
/// # Errors
/// Ledger writes; an object without a name (a bug). Failed PUTs are counted, not errors.
pub(super) async fn create<D: Database>(
    job: &EndpointJob<'_, D>,
    mut writer: Option<&mut LedgerWriter<'_, D>>,
    missing: &Missing,
    seeds: &[PoolSeeds],
) -> Result<Created> {
    let progress = job.progress;
    progress
        .to_create
        .fetch_add(missing.len(), Ordering::SeqCst);
    progress.set_phase("creating");
    let concurrency = job.options.concurrency.max(1);
    let mut out = Created {
        created: 0,
        failed: 0,
        failures: WriteFailures::default(),
    };
    let mut last_checkpoint = Instant::now();
    let mut checkers: Vec<Option<SizeChecker<'_>>> =
        (0..job.dataset.pool_id_limit()).map(|_| None).collect();
    // A chunk is about a checkpoint's worth of objects: recording it in flight then costs no
    // commit beyond the checkpoints, and a resume HEADs at most one chunk.
    let per_chunk = job
        .options
        .checkpoint_objects
        .min(MAX_CHUNK)
        .max(concurrency * 8);
    let mut todo = missing.iter();
    loop {
        let chunk: Vec<(u16, u64)> = todo.by_ref().take(per_chunk).collect();
        if chunk.is_empty() {
            break;
        }
        let puts: Vec<Put> = chunk
            .iter()
            .map(|&(pool, i)| plan(job, seeds, &mut checkers, pool, i))
            .collect::<Result<_>>()?;
        if let Some(w) = writer.as_deref_mut() {
            for put in &puts {
                w.started(put.pool, put.index);
            }
            off_worker(|| w.checkpoint(Durability::Flushed))?;
            checkpointed(job, out.created);
        }
        let mut results = futures::stream::iter(puts)
            .map(|put| write_one(job, put))
            .buffer_unordered(concurrency);
        while let Some((put, outcome)) = results.next().await {
            let failure = match outcome {
                Ok(()) => {
                    out.created += 1;
                    progress.created.fetch_add(1, Ordering::Relaxed);
                    None
                }
                Err(e) => {
                    out.failed += 1;
                    out.failures.add(&put.path, &e);
                    Some(e.to_string())
                }
            };
            let Some(w) = writer.as_deref_mut() else {
                continue;
            };
            record(w, &put, failure, job.clock.now())?;
            if w.pending() >= job.options.checkpoint_objects.max(1)
                || last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL
            {
                off_worker(|| w.checkpoint(Durability::Flushed))?;
                last_checkpoint = Instant::now();
                checkpointed(job, out.created);
            }
        }
    }
    Ok(out)
}

/// Says that every object created so far on this endpoint (`durable` of them) is recorded
/// durably: a killed run will not write them again.
fn checkpointed<D: Database>(job: &EndpointJob<'_, D>, durable: u64) {
    tracing::info!(
        endpoint = job.uri,
        recorded = durable,
        "ledger checkpoint: {durable} objects created on this endpoint are recorded"
    );
}

/// Records the outcome of one PUT: present, or failed with the store's reason.
fn record<D: Database>(
    w: &mut LedgerWriter<'_, D>,
    put: &Put,
    failure: Option<String>,
    now: u64,
) -> Result<()> {
    match failure {
        None => w.created(put.pool, put.index, now),
        Some(reason) => {
            let exception = LedgerException {
                state: ObjectState::Failed,
                size: put.size,
                at_ms: now,
                reason,
            };
            w.absent(put.pool, put.index, &exception)
        }
    }
}

/// PUTs one object with its deterministic content.
async fn write_one<D: Database>(
    job: &EndpointJob<'_, D>,
    put: Put,
) -> (Put, object_store::Result<()>) {
    let body = put
        .fill
        .content(put.fill_seed, put.index, put.size as usize);
    let location = StorePath::from(put.path.as_str());
    let outcome = job.store.put(&location, body.into()).await.map(|_| ());
    (put, outcome)
}
