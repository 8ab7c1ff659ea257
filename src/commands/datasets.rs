//! `datasets`: what a cache dir has prepared, read from its coordinator cache, with the seal of
//! each endpoint read from the endpoint's own cache.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cache_core::Database;
use cache_sai3::caches::OpenPolicy;
use cache_sai3::caches::{
    CoordinatorCache, DatasetSummary, EndpointCache, coordinator_location, open_waiting, shards_in,
};
use cache_sai3::config_hash::ConfigHash;
use serde::Serialize;

use super::{Session, outln};

/// One endpoint of a dataset, as `datasets` shows it.
#[derive(Debug, Serialize)]
struct EndpointView {
    endpoint: u16,
    uri: String,
    cache_location: String,
    assigned: u64,
    /// Every object of the endpoint exists (as of `sealed_at_ms`).
    sealed: bool,
    sealed_at_ms: Option<u64>,
    /// Why the seal could not be read (no cache there, in use, damaged), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    unknown: Option<String>,
}

/// One dataset, as `datasets` shows it.
#[derive(Debug, Serialize)]
struct DatasetView {
    config_hash: String,
    test_name: String,
    layout: String,
    total_objects: u64,
    total_dirs: u64,
    first_prepared_ms: u64,
    last_prepared_ms: u64,
    /// Every endpoint is sealed.
    sealed: bool,
    endpoints: Vec<EndpointView>,
}

fn layout(s: &DatasetSummary) -> String {
    match s.manifest.as_ref().map(|m| (&m.tree, m.key_prefix_shards)) {
        Some((Some(t), _)) => format!(
            "tree width={} depth={} files_per_dir={} distribution={}",
            t.width, t.depth, t.files_per_dir, t.distribution
        ),
        Some((None, shards)) => format!("flat key_prefix_shards={shards}"),
        None => "unknown".into(),
    }
}

/// The seal of `hash` in the cache at `location`, or why it cannot be known.
/// When every shard under `root` (the registry's cache location of one endpoint) that knows
/// the dataset `hash` is sealed for it: the oldest seal; `None` if one is not sealed or no
/// shard knows the dataset.
fn seal_at<D: Database>(
    root: &Path,
    hash: &ConfigHash,
    open: OpenPolicy,
) -> Result<Option<u64>, String> {
    let shards = shards_in(root);
    if shards.is_empty() {
        return Err("no cache there".into());
    }
    let mut oldest: Option<u64> = None;
    for (_, location) in shards {
        let cache = open_waiting(open, || EndpointCache::<D>::open(&location, false))
            .map_err(|e| e.to_string())?;
        let Some(state) = cache.state_for(hash).map_err(|e| e.to_string())? else {
            continue;
        };
        let Some(at) = state.sealed_at_ms else {
            return Ok(None);
        };
        oldest = Some(oldest.map_or(at, |o| o.min(at)));
    }
    Ok(oldest)
}

fn view<D: Database>(s: DatasetSummary, open: OpenPolicy) -> DatasetView {
    let hash = ConfigHash::from_hex(&s.metadata.config_hash);
    let endpoints: Vec<EndpointView> = s
        .endpoints
        .iter()
        .enumerate()
        .map(|(e, entry)| {
            let seal = match &hash {
                Some(h) => seal_at::<D>(Path::new(&entry.cache_location), h, open),
                None => Err("the coordinator holds a malformed config hash".into()),
            };
            EndpointView {
                endpoint: e as u16,
                uri: entry.uri.clone(),
                cache_location: entry.cache_location.clone(),
                assigned: entry.assigned_count,
                sealed: matches!(seal, Ok(Some(_))),
                sealed_at_ms: seal.as_ref().ok().copied().flatten(),
                unknown: seal.err(),
            }
        })
        .collect();
    DatasetView {
        layout: layout(&s),
        config_hash: s.metadata.config_hash,
        test_name: s.metadata.test_name,
        total_objects: s.metadata.total_objects,
        total_dirs: s.metadata.total_dirs,
        first_prepared_ms: s.metadata.created_ms,
        last_prepared_ms: s.metadata.last_used_ms,
        sealed: !endpoints.is_empty() && endpoints.iter().all(|e| e.sealed),
        endpoints,
    }
}

pub fn run<D: Database>(session: &Session, cache_dir: &Path, json: bool) -> Result<ExitCode> {
    let datasets = if coordinator_location(cache_dir).exists() {
        let open = || CoordinatorCache::<D>::open(cache_dir, false);
        let coordinator = open_waiting(session.open, open).with_context(|| {
            format!(
                "cannot read the coordinator cache of {}",
                cache_dir.display()
            )
        })?;
        coordinator.datasets()?
    } else {
        Vec::new()
    };
    let views: Vec<DatasetView> = datasets
        .into_iter()
        .map(|s| view::<D>(s, session.open))
        .collect();
    if json {
        super::print_json(&views)?;
        return Ok(ExitCode::SUCCESS);
    }
    if views.is_empty() {
        session.note(&format!(
            "no dataset prepared with cache dir {}",
            cache_dir.display()
        ));
    }
    for v in &views {
        outln!(
            "{} {:<24} {} objects, {}; last prepared {}{}",
            &v.config_hash[..16.min(v.config_hash.len())],
            v.test_name,
            v.total_objects,
            v.layout,
            httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(v.last_prepared_ms)
            ),
            if v.sealed { ", sealed" } else { "" }
        );
        for e in &v.endpoints {
            let state = match (&e.unknown, e.sealed) {
                (Some(why), _) => format!("unknown ({why})"),
                (None, true) => "sealed".into(),
                (None, false) => "not sealed".into(),
            };
            outln!(
                "  [{}] {:<44} {} objects, {state}",
                e.endpoint,
                e.uri,
                e.assigned
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
