//! `lookup`: where objects are and, when the ledger knows, their state.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cache_core::{Database, Durability};
use cache_sai3::dataset::Dataset;
use cache_sai3::endpoint_cache::{EndpointCache, cache_location};
use cache_sai3::{keys, ledger};
use serde::Serialize;

#[derive(Serialize)]
struct Found {
    index: u64,
    pool: u16,
    path: String,
    uri: String,
    endpoint: u16,
    agent: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
}

fn parse_index(text: &str) -> Result<(u16, u64)> {
    let (pool, index) = match text.split_once(':') {
        Some((p, i)) => (p, i),
        None => ("0", text),
    };
    let pool = pool
        .parse()
        .with_context(|| format!("{text:?}: pool {pool:?} is not a number"))?;
    let index =
        cache_sai3::numbers::parse_count(index).map_err(|e| anyhow::anyhow!("{text:?}: {e}"))?;
    Ok((pool, index))
}

/// Exit code when a cache is damaged (the answer would not be trustworthy).
const DAMAGED: u8 = 3;

pub fn run<D: Database>(
    config: &Path,
    cache_dir: &Path,
    indices: &[String],
    json: bool,
) -> Result<ExitCode> {
    let d = Dataset::load(config)?;
    let ds = d.hash.dataset_id();
    let wanted = indices
        .iter()
        .map(|t| parse_index(t))
        .collect::<Result<Vec<_>>>()?;
    let mut caches: HashMap<u16, Option<EndpointCache<D>>> = HashMap::new();
    let mut out = Vec::new();
    for (pool, index) in wanted {
        let Some(p) = d.pool(pool) else {
            bail!(
                "pool {pool} does not exist; the config defines pools 0..{}",
                d.pools.len()
            );
        };
        let Some(loc) = d.locate(pool, index) else {
            bail!(
                "index {index} is past the end of pool {pool}, which holds {} objects",
                p.count
            );
        };
        let cache = match caches.entry(loc.endpoint) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let location = cache_location(&d.endpoints[loc.endpoint as usize], cache_dir)?;
                let opened = if location.exists() {
                    match EndpointCache::<D>::open(&location, false) {
                        Ok(c) => Some(c),
                        Err(e) => return damaged(&location, &e),
                    }
                } else {
                    None
                };
                v.insert(opened)
            }
        };
        let (mut state, mut size) = (None, None);
        if let Some(c) = cache.as_ref() {
            match check_and_store_path(c, ds, pool, index, &loc.path)
                .and_then(|()| ledger::entry(c, ds, pool, index))
            {
                Ok(Some(e)) => {
                    state = Some(e.state.as_str());
                    size = Some(e.size);
                }
                Ok(None) => {}
                Err(e) => return damaged(c.location(), &e),
            }
        }
        out.push(Found {
            index,
            pool,
            path: loc.path,
            uri: loc.uri,
            endpoint: loc.endpoint,
            agent: loc.agent,
            state,
            size,
        });
    }
    for c in caches.values().flatten() {
        c.database().persist(Durability::Flushed)?;
    }
    if json {
        super::print_json(&out)?;
    } else {
        for f in &out {
            println!(
                "{}:{}\tendpoint {}\tagent {}\t{}\t{}",
                f.pool,
                f.index,
                f.endpoint,
                f.agent,
                f.state.unwrap_or("-"),
                f.uri
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `file_paths` is filled lazily here; a stored path that disagrees with the naming rules means
/// the cache is damaged.
fn check_and_store_path<D: Database>(
    c: &EndpointCache<D>,
    ds: cache_core::DatasetId,
    pool: u16,
    index: u64,
    path: &str,
) -> cache_sai3::Result<()> {
    let key = keys::per_object(keys::FILE_PATH, ds, pool, index);
    match c.file_paths.get(&key)? {
        Some(stored) if stored == path.as_bytes() => Ok(()),
        Some(_) => Err(cache_core::Error::corrupt(
            c.file_paths.name(),
            &key,
            "stored path disagrees with the naming rules",
        )
        .into()),
        None => Ok(c
            .file_paths
            .insert(&key, path.as_bytes(), Durability::Buffered)?),
    }
}

fn damaged(location: &Path, e: &dyn std::fmt::Display) -> Result<ExitCode> {
    eprintln!(
        "sai3-cache: the endpoint cache at {} cannot be trusted: {e}\n\
         run `sai3-cache prepare` with the same config to rebuild it",
        location.display()
    );
    Ok(ExitCode::from(DAMAGED))
}
