//! Where endpoint caches meet cache-sync: agent K's shard of an object-store endpoint's cache
//! lives locally under the cache dir and is pushed to, and pulled from,
//! `{endpoint}/sai3-kv-cache/agents/K/`: every shard has its own generations, so agents never
//! publish over each other. `file://` endpoints hold their shards themselves and are not
//! synced.
//!
//! ```
//! use cache_sai3::dataset::Dataset;
//! use cache_sai3::sync::synced_shards;
//! let yaml = r#"
//! prepare:
//!   ensure_objects:
//!     - { base_uri: "s3://bench/a/", count: 100, size_spec: 4096 }
//!     - { base_uri: "file:///mnt/b/", count: 100, size_spec: 4096 }
//! workload: [{ op: get, path: "*", weight: 100 }]
//! "#;
//! let dataset = Dataset::from_yaml(yaml, "inline")?;
//! let views = dataset.writer_views();
//! let synced: Vec<u16> = synced_shards(&views).into_iter().map(|(_, e)| e).collect();
//! assert_eq!(synced, [0]); // the s3:// endpoint; file:// holds its shard itself
//! # Ok::<(), cache_sai3::Sai3Error>(())
//! ```

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
///
/// ```
/// use cache_sai3::sync::EndpointSync;
/// let json = r#"{ "endpoint": 1, "uri": "s3://b/", "pulled": null, "pushed": null, "seconds": 0.5 }"#;
/// let sync: EndpointSync = serde_json::from_str(json)?;
/// assert_eq!((sync.agent, sync.endpoint), (0, 1)); // `agent` defaults to 0
/// assert!(sync.pulled.is_none() && sync.pushed.is_none());
/// # Ok::<(), serde_json::Error>(())
/// ```
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
pub(crate) fn synced_endpoints(dataset: &Dataset) -> Vec<u16> {
    crate::placement::endpoints_used(dataset)
        .into_iter()
        .filter(|&e| {
            UriScheme::of(&dataset.endpoints[e as usize]).is_ok_and(UriScheme::is_object_store)
        })
        .collect()
}

/// Every shard of `views` (one agent's view each, [`Dataset::writer_views`]) that is synced:
/// `(view, object-store endpoint of that view)`.
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::sync::synced_shards;
/// let yaml = r#"
/// prepare:
///   ensure_objects:
///     - { base_uri: "s3://bench/a/", count: 100, size_spec: 4096 }
///     - { base_uri: "file:///mnt/b/", count: 100, size_spec: 4096 }
/// workload: [{ op: get, path: "*", weight: 100 }]
/// "#;
/// let dataset = Dataset::from_yaml(yaml, "inline")?;
/// let views = dataset.writer_views();
/// let shards = synced_shards(&views);
/// assert_eq!(shards.len(), 1);
/// let (view, e) = shards[0];
/// assert_eq!(view.endpoints[e as usize], "s3://bench/a/");
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// ```
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
///
/// ```no_run
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::sync::{Transfer, pull_endpoint, push_endpoint, synced_shards};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// // Needs the S3 server the config names (credentials from AWS_* in the environment).
/// let dataset = Dataset::load("bench.yaml".as_ref())?;
/// let cache_dir = std::path::Path::new("/var/cache/sai3");
/// let transfer = Transfer::default();
/// let views = dataset.writer_views();
/// for (view, e) in synced_shards(&views) {
///     let pulled = pull_endpoint(view, e, cache_dir, "fjall", &transfer).await?;
///     assert!(pulled.pulled.is_some() && pulled.pushed.is_none());
///     // ... a run changes the local shard, closes it ...
///     let pushed = push_endpoint(view, e, cache_dir, 1_700_000_000_000, &transfer).await?;
///     assert!(pushed.pushed.is_some_and(|p| p.generation >= 1));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
pub(crate) fn unpublished(dataset: &Dataset, e: u16, cache_dir: &Path) -> bool {
    let uri = &dataset.endpoints[e as usize];
    cache_location(uri, cache_dir, dataset.shard())
        .is_ok_and(|local| cache_sync::local::is_unpublished(&local))
}

/// Marks the local shard at `location` of endpoint `uri` as changed before it is changed: it
/// stays to be pushed until a push succeeds, even when this run is killed first.
///
/// # Errors
/// I/O failures.
pub(crate) fn mark_unpublished(uri: &str, location: &Path) -> Result<()> {
    cache_sync::local::mark_unpublished(location).map_err(|err| sync_err(uri, err))
}

/// Pushes the view's closed local shard of endpoint `e`'s cache as a new generation, counting
/// files and bytes in `transfer`.
///
/// # Errors
/// A missing local cache, store failures, or lost publication races.
///
/// ```no_run
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::sync::{Transfer, pull_endpoint, push_endpoint, synced_shards};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// // Needs the S3 server the config names (credentials from AWS_* in the environment).
/// let dataset = Dataset::load("bench.yaml".as_ref())?;
/// let cache_dir = std::path::Path::new("/var/cache/sai3");
/// let transfer = Transfer::default();
/// let views = dataset.writer_views();
/// for (view, e) in synced_shards(&views) {
///     let pulled = pull_endpoint(view, e, cache_dir, "fjall", &transfer).await?;
///     assert!(pulled.pulled.is_some() && pulled.pushed.is_none());
///     // ... a run changes the local shard, closes it ...
///     let pushed = push_endpoint(view, e, cache_dir, 1_700_000_000_000, &transfer).await?;
///     assert!(pushed.pushed.is_some_and(|p| p.generation >= 1));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
