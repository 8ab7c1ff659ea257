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
    CoordinatorCache, EndpointCache, OpenPolicy, Opened, cache_location, coordinator_location,
    namespace_cache_root, open_checked,
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
    /// The dataset as the run was asked for (the controller's or one agent's view).
    pub dataset: &'a Dataset,
    /// The views it works through, one per shard writer ([`Dataset::writer_views`]).
    pub views: &'a [Dataset],
    pub options: &'a PrepareOptions,
    pub clock: &'a dyn Clock,
    pub progress: &'a Progress,
    pub sizes: &'a DatasetSizes<'a>,
}

/// Opens endpoint `e` of `dataset` (one of the run's views): its store (counting LIST calls)
/// and, unless `--no-cache`, the view's shard of its cache.
fn open_one<'a, D: Database>(
    run: &Run<'a>,
    dataset: &'a Dataset,
    e: u16,
) -> Result<EndpointJob<'a, D>> {
    let Run {
        options,
        clock,
        progress,
        sizes,
        ..
    } = *run;
    let t0 = Instant::now();
    let uri = dataset.endpoints[e as usize].as_str();
    let counts = Arc::new(CallCounts::default());
    let store: Arc<dyn ObjectStore> =
        Arc::new(CountingStore::new(open_endpoint(uri)?, counts.clone()));
    let location = cache_location(uri, &options.cache_dir, dataset.shard())?;
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
    Ok(job)
}

/// Opens every endpoint of every view in parallel (an LSM open may replay a journal), then
/// records the dataset in the coordinator. Returns one job per view and endpoint.
pub(super) fn open_all<'a, D: Database>(
    run: &Run<'a>,
    warnings: &mut Vec<String>,
) -> Result<Vec<EndpointJob<'a, D>>> {
    let (dataset, options, clock) = (run.dataset, run.options, run.clock);
    let targets: Vec<(&'a Dataset, u16)> = run
        .views
        .iter()
        .flat_map(|v| {
            let used = crate::placement::endpoints_used(v);
            used.into_iter().map(move |e| (v, e))
        })
        .collect();
    let opened: Vec<Result<EndpointJob<'a, D>>> = off_worker(|| {
        std::thread::scope(|scope| {
            let handles: Vec<_> = targets
                .iter()
                .map(|&(v, e)| scope.spawn(move || open_one::<D>(run, v, e)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(panicked())))
                .collect()
        })
    });
    let mut jobs = Vec::with_capacity(opened.len());
    for r in opened {
        let job = r?;
        if let Some(why) = &job.cache_rebuilt {
            warnings.push(format!(
                "agent {}'s shard of endpoint {} cache damaged: {why}",
                job.dataset.shard(),
                job.uri
            ));
        }
        jobs.push(job);
    }
    if !options.no_cache {
        let roots = dataset
            .endpoints
            .iter()
            .map(|u| namespace_cache_root(u, &options.cache_dir))
            .collect::<Result<Vec<PathBuf>>>()?;
        off_worker(|| register::<D>(dataset, options, &roots, clock.now(), warnings))?;
    }
    Ok(jobs)
}

fn panicked() -> Sai3Error {
    Sai3Error::Endpoint {
        endpoint: "(open)".into(),
        reason: "a thread opening an endpoint cache panicked".into(),
    }
}

/// How long a prepare waits at least for a coordinator cache another process holds.
const COORDINATOR_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Records manifest, registry and metadata of `dataset` in the coordinator (one synced batch);
/// `roots[e]` holds the shards of endpoint `e`'s cache.
fn register<D: Database>(
    dataset: &Dataset,
    options: &PrepareOptions,
    roots: &[PathBuf],
    now: u64,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let location = coordinator_location(&options.cache_dir);
    // Agents sharing a cache dir on one host each hold the coordinator for one batch: waiting
    // for it is always right (a process holding it for longer is another run's lookup).
    let policy = OpenPolicy {
        wait: Some(options.open.wait.unwrap_or_default().max(COORDINATOR_WAIT)),
    };
    let opened = open_checked(
        &location,
        policy,
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
        .register(dataset, &options.test_name, roots, now)?;
    Ok(())
}
