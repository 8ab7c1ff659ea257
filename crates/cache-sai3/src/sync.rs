//! Where endpoint caches meet cache-sync: the cache of an object-store endpoint lives locally
//! under the cache dir and is pushed to, and pulled from, `{endpoint}/sai3-kv-cache/`.
//! `file://` endpoints hold their cache themselves and are not synced.

use std::path::Path;

use crate::scheme::UriScheme;
use cache_sync::{PullReport, PushOptions, PushReport, RemoteCache};
use serde::Serialize;

use crate::caches::cache_location;
use crate::dataset::Dataset;
use crate::error::{Result, Sai3Error};
use crate::scheme::ENDPOINT_CACHE_DIR;
use crate::store::open_endpoint;

/// What syncing did for one endpoint.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct EndpointSync {
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

/// Endpoints whose caches are synced (object stores).
pub fn synced_endpoints(dataset: &Dataset) -> Vec<u16> {
    dataset
        .endpoints
        .iter()
        .enumerate()
        .filter(|(_, u)| UriScheme::of(u).is_ok_and(UriScheme::is_object_store))
        .map(|(e, _)| e as u16)
        .collect()
}

/// Pulls the newest remote generation of endpoint `e`'s cache, if it is newer than the local one.
///
/// # Errors
/// Store failures and refused (damaged, unsafe or foreign) generations.
pub async fn pull_endpoint(
    dataset: &Dataset,
    e: u16,
    cache_dir: &Path,
    backend: &str,
) -> Result<EndpointSync> {
    let uri = &dataset.endpoints[e as usize];
    let t0 = std::time::Instant::now();
    let remote = RemoteCache::new(open_endpoint(uri)?, ENDPOINT_CACHE_DIR);
    let local = cache_location(uri, cache_dir)?;
    let pulled = cache_sync::pull(&remote, &local, backend)
        .await
        .map_err(|err| sync_err(uri, err))?;
    Ok(EndpointSync {
        endpoint: e,
        uri: uri.clone(),
        pulled: Some(pulled),
        pushed: None,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Pushes endpoint `e`'s closed local cache as a new generation.
///
/// # Errors
/// A missing local cache, store failures, or lost publication races.
pub async fn push_endpoint(
    dataset: &Dataset,
    e: u16,
    cache_dir: &Path,
    now_ms: u64,
) -> Result<EndpointSync> {
    let uri = &dataset.endpoints[e as usize];
    let t0 = std::time::Instant::now();
    let remote = RemoteCache::new(open_endpoint(uri)?, ENDPOINT_CACHE_DIR);
    let local = cache_location(uri, cache_dir)?;
    let options = PushOptions {
        config_hash: dataset.hash.full_hex(),
        ..PushOptions::default()
    };
    let pushed = cache_sync::push(&local, &remote, &options, now_ms)
        .await
        .map_err(|err| sync_err(uri, err))?;
    Ok(EndpointSync {
        endpoint: e,
        uri: uri.clone(),
        pulled: None,
        pushed: Some(pushed),
        seconds: t0.elapsed().as_secs_f64(),
    })
}
