//! Step 6: the shards of object-store endpoint caches live under the cache dir and follow
//! their data: a newer remote generation of each shard is pulled before the caches are opened,
//! and a new one is pushed after they are closed, for every shard with changes no pushed
//! generation holds (made by this run, or by one killed before its push). A refused or failed
//! sync is a warning: the local cache (or a LIST) still gives correct answers.

use cache_sync::Transfer;

use super::PrepareOptions;
use crate::dataset::Dataset;
use crate::sync::{EndpointSync, pull_endpoint, push_endpoint, synced_shards, unpublished};

/// Pulls every object-store endpoint's shard of every view whose remote generation is newer.
pub(super) async fn pull_all(
    views: &[Dataset],
    options: &PrepareOptions,
    backend: &str,
    transfer: &Transfer,
    warnings: &mut Vec<String>,
) -> Vec<EndpointSync> {
    if options.no_cache || !options.pull {
        return Vec::new();
    }
    let pulls = synced_shards(views)
        .into_iter()
        .map(|(v, e)| pull_endpoint(v, e, &options.cache_dir, backend, transfer));
    collect(
        futures::future::join_all(pulls).await,
        "pull skipped",
        warnings,
    )
}

/// Pushes every object-store endpoint's (closed) shard marked unpublished as a new generation.
/// Any other shard is not pushed: its last generation already says what it knows.
pub(super) async fn push_all(
    views: &[Dataset],
    options: &PrepareOptions,
    now_ms: u64,
    transfer: &Transfer,
    warnings: &mut Vec<String>,
) -> Vec<EndpointSync> {
    if options.no_cache || !options.push {
        return Vec::new();
    }
    let pushes = synced_shards(views)
        .into_iter()
        .filter(|(v, e)| unpublished(v, *e, &options.cache_dir))
        .map(|(v, e)| push_endpoint(v, e, &options.cache_dir, now_ms, transfer));
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
