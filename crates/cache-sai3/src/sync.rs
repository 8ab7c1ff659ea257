//! Where endpoint caches meet cache-sync: agent K's shard of an object-store endpoint's cache
//! lives locally under the cache dir and is pushed to, and pulled from,
//! `{endpoint}/sai3-kv-cache/agents/K/`: every shard has its own generations, so agents never
//! publish over each other. `file://` endpoints hold their shards themselves and are not
//! synced.

use std::path::Path;

use crate::scheme::UriScheme;
use cache_sync::{PullReport, PushOptions, PushReport, RemoteCache};

/// Files and bytes of pushes and pulls in flight (cache-sync's counters).
pub use cache_sync::Transfer;
use serde::Serialize;

use crate::caches::cache_location;
use crate::dataset::Dataset;
use crate::error::{Result, Sai3Error};
use crate::scheme::remote_shard_root;
use crate::store::open_endpoint;

/// What syncing did for one endpoint.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct EndpointSync {
    /// The agent whose shard of the endpoint's cache this is (0 for a standalone config).
    #[serde(default)]
    pub agent: u32,
    /// Endpoint number.
    pub endpoint: u16,
    /// Its URI.
    pub uri: String,
    /// The pull, if one ran.
    pub pulled: Option<PullReport>,
    /// The push, if one ran.
    pub pushed: Option<PushReport>,
    /// Seconds spent.
    pub seconds: f64,
}

fn sync_err(uri: &str, e: cache_sync::SyncError) -> Sai3Error {
    match e {
        cache_sync::SyncError::InUse(held) => Sai3Error::Cache(held),
        e => Sai3Error::Endpoint {
            endpoint: uri.to_owned(),
            reason: format!("cache sync: {e}"),
        },
    }
}

/// Endpoints of the view whose caches are synced: object stores the view places objects on
/// ([`crate::placement::endpoints_used`]).
pub fn synced_endpoints(dataset: &Dataset) -> Vec<u16> {
    crate::placement::endpoints_used(dataset)
        .into_iter()
        .filter(|&e| {
            UriScheme::of(&dataset.endpoints[e as usize]).is_ok_and(UriScheme::is_object_store)
        })
        .collect()
}

/// Every shard of `views` (one agent's view each, [`Dataset::writer_views`]) that is synced:
/// `(view, object-store endpoint of that view)`.
pub fn synced_shards(views: &[Dataset]) -> Vec<(&Dataset, u16)> {
    views
        .iter()
        .flat_map(|v| synced_endpoints(v).into_iter().map(move |e| (v, e)))
        .collect()
}

/// Pulls the newest remote generation of the view's shard of endpoint `e`'s cache, if it is
/// newer than the local one (the view is an agent's: [`Dataset::writer_views`]), counting
/// files and bytes in `transfer`.
///
/// # Errors
/// Store failures and refused (damaged, unsafe or foreign) generations.
pub async fn pull_endpoint(
    dataset: &Dataset,
    e: u16,
    cache_dir: &Path,
    backend: &str,
    transfer: &Transfer,
) -> Result<EndpointSync> {
    let uri = &dataset.endpoints[e as usize];
    let t0 = std::time::Instant::now();
    let agent = dataset.shard();
    let remote = RemoteCache::new(open_endpoint(uri)?, &remote_shard_root(agent));
    let local = cache_location(uri, cache_dir, agent)?;
    let pulled = cache_sync::pull_counted(&remote, &local, backend, transfer)
        .await
        .map_err(|err| sync_err(uri, err))?;
    log_pull(uri, agent, &pulled, t0.elapsed());
    Ok(EndpointSync {
        agent,
        endpoint: e,
        uri: uri.clone(),
        pulled: Some(pulled),
        pushed: None,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

fn log_pull(uri: &str, agent: u32, pulled: &PullReport, took: std::time::Duration) {
    let seconds = took.as_secs_f64();
    match pulled.generation {
        None => tracing::info!(endpoint = uri, agent, "no pushed cache to pull"),
        Some(g) if pulled.up_to_date => {
            tracing::info!(endpoint = uri, agent, generation = g, "cache up to date")
        }
        Some(g) => tracing::info!(
            endpoint = uri,
            agent,
            generation = g,
            files_downloaded = pulled.files_downloaded,
            files_reused = pulled.files_reused,
            bytes_received = pulled.bytes_received,
            seconds,
            "pulled generation {g}"
        ),
    }
}

/// True when the view's local shard of endpoint `e` holds changes no pushed generation holds
/// (a run changed it and its push has not succeeded yet).
pub fn unpublished(dataset: &Dataset, e: u16, cache_dir: &Path) -> bool {
    let uri = &dataset.endpoints[e as usize];
    cache_location(uri, cache_dir, dataset.shard())
        .is_ok_and(|local| cache_sync::local::is_unpublished(&local))
}

/// Marks the local shard at `location` of endpoint `uri` as changed before it is changed: it
/// stays to be pushed until a push succeeds, even when this run is killed first.
///
/// # Errors
/// I/O failures.
pub fn mark_unpublished(uri: &str, location: &Path) -> Result<()> {
    cache_sync::local::mark_unpublished(location).map_err(|err| sync_err(uri, err))
}

/// Pushes the view's closed local shard of endpoint `e`'s cache as a new generation, counting
/// files and bytes in `transfer`.
///
/// # Errors
/// A missing local cache, store failures, or lost publication races.
pub async fn push_endpoint(
    dataset: &Dataset,
    e: u16,
    cache_dir: &Path,
    now_ms: u64,
    transfer: &Transfer,
) -> Result<EndpointSync> {
    let uri = &dataset.endpoints[e as usize];
    let t0 = std::time::Instant::now();
    let agent = dataset.shard();
    let remote = RemoteCache::new(open_endpoint(uri)?, &remote_shard_root(agent));
    let local = cache_location(uri, cache_dir, agent)?;
    let options = PushOptions {
        config_hash: dataset.hash.full_hex(),
        ..PushOptions::default()
    };
    let pushed = cache_sync::push_counted(&local, &remote, &options, now_ms, transfer)
        .await
        .map_err(|err| sync_err(uri, err))?;
    let g = pushed.generation;
    tracing::info!(
        endpoint = uri,
        agent,
        generation = g,
        files_uploaded = pushed.files_uploaded,
        files = pushed.files,
        bytes_sent = pushed.bytes_sent,
        attempts = pushed.attempts,
        seconds = t0.elapsed().as_secs_f64(),
        "pushed generation {g}"
    );
    Ok(EndpointSync {
        agent,
        endpoint: e,
        uri: uri.clone(),
        pulled: None,
        pushed: Some(pushed),
        seconds: t0.elapsed().as_secs_f64(),
    })
}
