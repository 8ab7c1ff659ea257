//! `lookup`: where objects are and, when the ledger knows, their state.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cache_core::Database;
use cache_sai3::Sai3Error;
use cache_sai3::caches::{
    CoordinatorCache, EndpointCache, cache_location, coordinator_location, open_waiting,
};
use cache_sai3::dataset::Dataset;
use cache_sai3::placement::Location;
use cache_sai3::records::LedgerEntry;
use serde::Serialize;

use super::{EXIT_DAMAGED, Session, outln};

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

impl Found {
    fn new(loc: Location, entry: Option<LedgerEntry>) -> Self {
        Found {
            index: loc.index,
            pool: loc.pool,
            path: loc.path,
            uri: loc.uri,
            endpoint: loc.endpoint,
            agent: loc.agent,
            state: entry.map(|e| e.state.as_str()),
            size: entry.map(|e| e.size),
        }
    }
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

/// Where object `(pool, index)` is, or an error naming what does not exist.
fn locate(d: &Dataset, pool: u16, index: u64) -> Result<Location> {
    let Some(p) = d.pool(pool) else {
        bail!(
            "pool {pool} does not exist; the config defines pools 0..{}",
            d.pools.len()
        );
    };
    let Some(loc) = cache_sai3::placement::locate(d, pool, index) else {
        bail!(
            "index {index} is past the end of pool {pool}, which holds {} objects",
            p.count
        );
    };
    Ok(loc)
}

/// The endpoint caches of one lookup, opened on first use (`None`: no cache there yet).
struct Caches<'a, D: Database> {
    session: &'a Session,
    dataset: &'a Dataset,
    cache_dir: &'a Path,
    open: HashMap<u16, Option<EndpointCache<D>>>,
}

impl<D: Database> Caches<'_, D> {
    fn get(&mut self, endpoint: u16) -> cache_sai3::Result<Option<&EndpointCache<D>>> {
        if !self.open.contains_key(&endpoint) {
            let uri = &self.dataset.endpoints[endpoint as usize];
            let location = cache_location(uri, self.cache_dir)?;
            let cache = match location.exists() {
                true => Some(open_waiting(self.session.open, || {
                    EndpointCache::<D>::open(&location, false)
                })?),
                false => None,
            };
            self.open.insert(endpoint, cache);
        }
        Ok(self.open.get(&endpoint).and_then(Option::as_ref))
    }

    /// The ledger's state and size of the object at `loc` (checking a stored path against
    /// the naming rules, and storing it if none is: lazy population).
    fn state(&mut self, loc: &Location) -> cache_sai3::Result<Option<LedgerEntry>> {
        let d = self.dataset;
        let Some(c) = self.get(loc.endpoint)? else {
            return Ok(None);
        };
        c.check_path(d, loc.pool, loc.index, &loc.path)?;
        c.entry(d, loc.pool, loc.index)
    }
}

/// Warns when the coordinator of `cache_dir` never prepared this dataset (a wrong
/// `--cache-dir` or config shows here, not as "no state"), or cannot be read: the answer comes
/// from the endpoint caches, so a damaged coordinator is a warning (prepare rebuilds it).
fn warn_if_unknown<D: Database>(session: &Session, d: &Dataset, cache_dir: &Path) -> Result<()> {
    let known = match coordinator_location(cache_dir).exists() {
        true => {
            let open = || CoordinatorCache::<D>::open(cache_dir, false);
            open_waiting(session.open, open).and_then(|c| c.metadata(d))
        }
        false => Ok(None),
    };
    match known {
        Ok(Some(_)) => {}
        Ok(None) => eprintln!(
            "note: the coordinator of cache dir {} has no record of dataset {} (another \
             --cache-dir, or not prepared yet)",
            cache_dir.display(),
            d.hash.short()
        ),
        Err(e) if e.is_damage() => eprintln!(
            "warning: the coordinator cache of {} is damaged ({e}); the next prepare rebuilds it",
            cache_dir.display()
        ),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

pub fn run<D: Database>(
    session: &Session,
    config: &Path,
    cache_dir: &Path,
    indices: &[String],
    json: bool,
) -> Result<ExitCode> {
    let d = Dataset::load(config)?;
    let wanted = indices
        .iter()
        .map(|t| parse_index(t).and_then(|(pool, index)| locate(&d, pool, index)))
        .collect::<Result<Vec<_>>>()?;
    warn_if_unknown::<D>(session, &d, cache_dir)?;
    let mut caches = Caches::<D> {
        session,
        dataset: &d,
        cache_dir,
        open: HashMap::new(),
    };
    let mut out = Vec::with_capacity(wanted.len());
    for loc in wanted {
        let entry = match caches.state(&loc) {
            Ok(entry) => entry,
            Err(e) if e.is_damage() => {
                let uri = &d.endpoints[loc.endpoint as usize];
                return damaged(&cache_location(uri, cache_dir)?, &e);
            }
            Err(e) => return Err(e.into()),
        };
        out.push(Found::new(loc, entry));
    }
    for c in caches.open.values().flatten() {
        c.persist()?;
    }
    print(&out, json)?;
    Ok(ExitCode::SUCCESS)
}

fn print(out: &[Found], json: bool) -> Result<()> {
    if json {
        return super::print_json(&out);
    }
    for f in out {
        outln!(
            "{}:{}\tendpoint {}\tagent {}\t{}\t{}",
            f.pool,
            f.index,
            f.endpoint,
            f.agent,
            f.state.unwrap_or("-"),
            f.uri
        );
    }
    Ok(())
}

fn damaged(location: &Path, e: &Sai3Error) -> Result<ExitCode> {
    eprintln!(
        "sai3-cache: the endpoint cache at {} cannot be trusted: {e}\n\
         run `sai3-cache prepare` with the same config to rebuild it",
        location.display()
    );
    Ok(ExitCode::from(EXIT_DAMAGED))
}
