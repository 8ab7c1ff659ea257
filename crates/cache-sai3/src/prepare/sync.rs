//! Step 6: the caches of object-store endpoints live under the cache dir and follow their
//! data: a newer remote generation is pulled before the caches are opened, and a new one is
//! pushed after they are closed. A refused or failed sync is a warning: the local cache (or a
//! LIST) still gives correct answers.

use super::PrepareOptions;
use crate::dataset::Dataset;
use crate::sync::{EndpointSync, pull_endpoint, push_endpoint, synced_endpoints};

/// Pulls every object-store endpoint's cache that is newer remotely.
pub(super) async fn pull_all(
    dataset: &Dataset,
    options: &PrepareOptions,
    backend: &str,
    warnings: &mut Vec<String>,
) -> Vec<EndpointSync> {
    if options.no_cache || !options.pull {
        return Vec::new();
    }
    let pulls = synced_endpoints(dataset)
        .into_iter()
        .map(|e| pull_endpoint(dataset, e, &options.cache_dir, backend));
    collect(
        futures::future::join_all(pulls).await,
        "pull skipped",
        warnings,
    )
}

/// Pushes every object-store endpoint's (closed) cache as a new generation.
pub(super) async fn push_all(
    dataset: &Dataset,
    options: &PrepareOptions,
    now_ms: u64,
    warnings: &mut Vec<String>,
) -> Vec<EndpointSync> {
    if options.no_cache || !options.push {
        return Vec::new();
    }
    let pushes = synced_endpoints(dataset)
        .into_iter()
        .map(|e| push_endpoint(dataset, e, &options.cache_dir, now_ms));
    collect(
        futures::future::join_all(pushes).await,
        "push failed",
        warnings,
    )
}

fn collect(
    results: Vec<crate::Result<EndpointSync>>,
    what: &str,
    warnings: &mut Vec<String>,
) -> Vec<EndpointSync> {
    let mut done = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(s) => done.push(s),
            Err(e) => warnings.push(format!("{what}: {e}")),
        }
    }
    done
}
