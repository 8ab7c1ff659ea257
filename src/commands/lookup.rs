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
use cache_sai3::dataset::{Dataset, Pool};
use cache_sai3::naming::PoolKind;
use cache_sai3::object_sizes::DatasetSizes;
use cache_sai3::placement::Location;
use cache_sai3::records::LedgerEntry;
use serde::Serialize;

use super::{EXIT_DAMAGED, Session, View, outln};

#[derive(Serialize)]
struct Found {
    index: u64,
    pool: u16,
    agent: u32,
    path: String,
    /// `None` while s3dlio's run-time choice is unknown (no LIST has found the object).
    endpoint: Option<u16>,
    uri: Option<String>,
    /// The size sai3-bench writes for this object.
    expected_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
}

impl Found {
    fn new(loc: Location, expected_size: u64, entry: Option<LedgerEntry>) -> Self {
        Found {
            index: loc.index,
            pool: loc.pool,
            agent: loc.agent,
            path: loc.path,
            endpoint: loc.endpoint,
            uri: loc.uri,
            expected_size,
            state: entry.map(|e| e.state.as_str()),
            size: entry.map(|e| e.size),
        }
    }
}

/// `N` (object N of the first `ensure_objects` entry, in whichever pool holds it) or `POOL:N`.
fn parse_index(text: &str) -> Result<(Option<u16>, u64)> {
    let (pool, index) = match text.split_once(':') {
        Some((p, i)) => {
            let pool = p
                .parse()
                .with_context(|| format!("{text:?}: pool {p:?} is not a number"))?;
            (Some(pool), i)
        }
        None => (None, text),
    };
    let index =
        cache_sai3::numbers::parse_count(index).map_err(|e| anyhow::anyhow!("{text:?}: {e}"))?;
    Ok((pool, index))
}

/// Who is asking, for error messages.
fn whose(d: &Dataset) -> String {
    match d.agent {
        Some(k) => format!("agent {k}"),
        None => "the dataset".into(),
    }
}

/// Where object `index` is: in pool `pool`, or in every pool of the first `ensure_objects`
/// entry (prepared kind) that holds it; an error naming why there is none.
fn locate(d: &Dataset, pool: Option<u16>, index: u64) -> Result<Vec<Location>> {
    let pools: Vec<&Pool> = match pool {
        Some(id) => vec![d.pool(id).with_context(|| {
            let ids: Vec<String> = d.pools.iter().map(|p| p.id.to_string()).collect();
            format!(
                "pool {id} is not a pool of {} (pools: {})",
                whose(d),
                ids.join(", ")
            )
        })?],
        None => d
            .pools
            .iter()
            .filter(|p| p.ensure_index == 0 && p.kind == PoolKind::Prepared)
            .collect(),
    };
    let found: Vec<Location> = pools
        .iter()
        .filter_map(|p| cache_sai3::placement::locate(d, p.id, index))
        .collect();
    if found.is_empty() {
        let count = pools.first().map_or(0, |p| p.count);
        if index >= count {
            bail!("index {index} is past the end: the pool holds indices 0..{count}");
        }
        bail!(
            "{} does not write object {index} (another agent's share)",
            whose(d)
        );
    }
    Ok(found)
}

/// The endpoint cache shards of one lookup, by (endpoint, agent), opened on first use
/// (`None`: no cache there yet).
struct Caches<'a, D: Database> {
    session: &'a Session,
    dataset: &'a Dataset,
    cache_dir: &'a Path,
    open: HashMap<(u16, u32), Option<EndpointCache<D>>>,
}

impl<D: Database> Caches<'_, D> {
    /// The shard of `endpoint`'s cache that holds what is known of pool `pool`.
    fn get(&mut self, endpoint: u16, pool: u16) -> cache_sai3::Result<Option<&EndpointCache<D>>> {
        let d = self.dataset;
        let agent = d.pool(pool).map_or(d.shard(), |p| d.shard_of(p));
        let key = (endpoint, agent);
        if !self.open.contains_key(&key) {
            let uri = &d.endpoints[endpoint as usize];
            let location = cache_location(uri, self.cache_dir, agent)?;
            let cache = match location.exists() {
                true => Some(open_waiting(self.session.open, || {
                    EndpointCache::<D>::open(&location, false)
                })?),
                false => None,
            };
            self.open.insert(key, cache);
        }
        Ok(self.open.get(&key).and_then(Option::as_ref))
    }

    /// Where s3dlio put the object at `loc` when it chose at run time: the first of the pool's
    /// endpoints whose cache has it present (known after a LIST or a prepare).
    fn find(&mut self, loc: &mut Location) -> cache_sai3::Result<()> {
        let d = self.dataset;
        let Some(pool) = d.pool(loc.pool) else {
            return Ok(());
        };
        for &e in &pool.endpoints {
            if let Some(c) = self.get(e, loc.pool)?
                && c.presence(d, loc.pool)?.contains(loc.index)
            {
                loc.endpoint = Some(e);
                loc.uri = Some(format!("{}{}", d.endpoints[e as usize], loc.path));
                break;
            }
        }
        Ok(())
    }

    /// The ledger's state and size of the object at `loc` (checking a stored path against
    /// the naming rules, and storing it if none is: lazy population).
    fn state(
        &mut self,
        loc: &mut Location,
        rule_size: u64,
    ) -> cache_sai3::Result<Option<LedgerEntry>> {
        if loc.endpoint.is_none() {
            self.find(loc)?;
        }
        let d = self.dataset;
        let pool = loc.pool;
        let Some(c) = loc
            .endpoint
            .map(|e| self.get(e, pool))
            .transpose()?
            .flatten()
        else {
            return Ok(None);
        };
        c.check_path(d, loc.pool, loc.index, &loc.path)?;
        c.entry(d, loc.pool, loc.index, rule_size)
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
        Ok(None) => session.note(&format!(
            "note: the coordinator of cache dir {} has no record of dataset {} (another \
             --cache-dir, or not prepared yet)",
            cache_dir.display(),
            d.hash.short()
        )),
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
    view: &View<'_>,
    indices: &[String],
    json: bool,
) -> Result<ExitCode> {
    let d = super::load_view(view.config, view.agent)?;
    let cache_dir = view.cache_dir;
    let wanted = indices
        .iter()
        .map(|t| parse_index(t).and_then(|(pool, index)| locate(&d, pool, index)))
        .collect::<Result<Vec<_>>>()?;
    let sizes = DatasetSizes::new(&d);
    warn_if_unknown::<D>(session, &d, cache_dir)?;
    let mut caches = Caches::<D> {
        session,
        dataset: &d,
        cache_dir,
        open: HashMap::new(),
    };
    let mut out = Vec::with_capacity(wanted.len());
    for mut loc in wanted.into_iter().flatten() {
        let pool = d.pool(loc.pool).context("a located pool exists")?;
        let expected = sizes.of(pool)?.size_of(loc.index).unwrap_or(0);
        let entry = match caches.state(&mut loc, expected) {
            Ok(entry) => entry,
            Err(e) if e.is_damage() => return damaged(cache_dir, &e),
            Err(e) => return Err(e.into()),
        };
        out.push(Found::new(loc, expected, entry));
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
        let endpoint = f.endpoint.map_or("?".into(), |e| e.to_string());
        let uri = f
            .uri
            .as_deref()
            .unwrap_or("(endpoint chosen at run time; unknown until listed)");
        outln!(
            "{}:{}\tendpoint {}\tagent {}\t{} bytes\t{}\t{}",
            f.pool,
            f.index,
            endpoint,
            f.agent,
            f.expected_size,
            f.state.unwrap_or("-"),
            uri
        );
    }
    Ok(())
}

fn damaged(cache_dir: &Path, e: &Sai3Error) -> Result<ExitCode> {
    eprintln!(
        "sai3-cache: an endpoint cache of this dataset (cache dir {}) cannot be trusted: {e}\n\
         run `sai3-cache prepare` with the same config to rebuild it",
        cache_dir.display()
    );
    Ok(ExitCode::from(EXIT_DAMAGED))
}
