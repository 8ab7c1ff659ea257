//! Step 1: open every endpoint store and cache, and the coordinator. Bad URIs, foreign caches
//! and caches in use by another process stop the run here, before any work. A cache whose data
//! fails verification is moved aside and rebuilt (a warning says where it went).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use object_store::ObjectStore;
use roaring::RoaringTreemap;

use cache_core::Database;

use super::{EndpointJob, Phases, PrepareOptions, Progress, secs};
use crate::blocking::off_worker;
use crate::caches::{
    CoordinatorCache, EndpointCache, Opened, cache_location, coordinator_location, open_checked,
};
use crate::dataset::Dataset;
use crate::error::{Result, Sai3Error};
use crate::object_sizes::DatasetSizes;
use crate::scheme::UriScheme;
use crate::store::{CallCounts, CountingStore, open_endpoint};
use crate::ttl::Clock;

/// Opens an endpoint cache and reads what the run relies on (seal, presence, seeds), so
/// damage shows up now, not mid-run.
fn open_endpoint_cache<D: Database>(
    dataset: &Dataset,
    location: &std::path::Path,
    options: &PrepareOptions,
) -> Result<Opened<EndpointCache<D>, Vec<RoaringTreemap>>> {
    open_checked(
        location,
        options.open,
        || EndpointCache::<D>::open(location, true),
        |c: &EndpointCache<D>| {
            c.state(dataset)?;
            for p in &dataset.pools {
                c.stored_seeds(dataset, p.id)?;
            }
            c.presence_all(dataset)
        },
    )
}

/// What every endpoint job of one prepare shares.
pub(super) struct Run<'a> {
    pub dataset: &'a Dataset,
    pub options: &'a PrepareOptions,
    pub clock: &'a dyn Clock,
    pub progress: &'a Progress,
    pub sizes: &'a DatasetSizes<'a>,
}

/// Opens endpoint `e`: its store (counting LIST calls) and, unless `--no-cache`, its cache.
fn open_one<'a, D: Database>(run: &Run<'a>, e: u16) -> Result<(EndpointJob<'a, D>, PathBuf)> {
    let Run {
        dataset,
        options,
        clock,
        progress,
        sizes,
    } = *run;
    let t0 = Instant::now();
    let uri = dataset.endpoints[e as usize].as_str();
    let counts = Arc::new(CallCounts::default());
    let store: Arc<dyn ObjectStore> =
        Arc::new(CountingStore::new(open_endpoint(uri)?, counts.clone()));
    let location = cache_location(uri, &options.cache_dir)?;
    let opened = if options.no_cache {
        None
    } else {
        Some(open_endpoint_cache::<D>(dataset, &location, options)?)
    };
    let (cache, stored, cache_rebuilt) = match opened {
        Some(o) => (Some(o.cache), o.loaded, o.rebuilt),
        None => (None, Vec::new(), None),
    };
    let job = EndpointJob {
        dataset,
        endpoint: e,
        uri,
        scheme: UriScheme::of(uri)?,
        options,
        clock,
        progress,
        sizes,
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
}

/// Opens every endpoint in parallel (an LSM open may replay a journal), then records the
/// dataset in the coordinator. Returns one job per endpoint.
pub(super) fn open_all<'a, D: Database>(
    run: &Run<'a>,
    warnings: &mut Vec<String>,
) -> Result<Vec<EndpointJob<'a, D>>> {
    let (dataset, options, clock) = (run.dataset, run.options, run.clock);
    let opened: Vec<Result<(EndpointJob<'a, D>, PathBuf)>> = off_worker(|| {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..dataset.endpoints.len() as u16)
                .map(|e| scope.spawn(move || open_one::<D>(run, e)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(panicked())))
                .collect()
        })
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
        off_worker(|| register::<D>(dataset, options, &locations, clock.now(), warnings))?;
    }
    Ok(jobs)
}

fn panicked() -> Sai3Error {
    Sai3Error::Endpoint {
        endpoint: "(open)".into(),
        reason: "a thread opening an endpoint cache panicked".into(),
    }
}

/// Records manifest, registry and metadata of `dataset` in the coordinator (one synced batch).
fn register<D: Database>(
    dataset: &Dataset,
    options: &PrepareOptions,
    locations: &[PathBuf],
    now: u64,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let location = coordinator_location(&options.cache_dir);
    let opened = open_checked(
        &location,
        options.open,
        || CoordinatorCache::<D>::open(&options.cache_dir, true),
        |c: &CoordinatorCache<D>| {
            c.metadata(dataset)?;
            c.manifest(dataset).map(|_| ())
        },
    )?;
    if let Some(r) = opened.rebuilt {
        warnings.push(format!("coordinator cache damaged: {r}"));
    }
    opened
        .cache
        .register(dataset, &options.test_name, locations, now)?;
    Ok(())
}
