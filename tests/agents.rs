//! Distributed prepare as several real processes: `--agent K`, per-agent shards of the endpoint
//! caches, and a reader that reattaches the whole dataset from the shards.
//!
//! sai3-bench runs a distributed config on N agents; agent K (its 0-based position in
//! `distributed.agents`) writes its share. `prepare --agent K` acts as agent K: it creates only
//! K's share and records it in K's *shard* of each namespace's cache
//! (`{file endpoint}/sai3-kv-cache/agents/K/`, or `{cache dir}/endpoints/{id}/agents/K/` pushed
//! to `{endpoint}/sai3-kv-cache/agents/K/`). Without `--agent` (the controller's view) a run
//! covers every agent's share: one endpoint report per (agent, namespace) where the agent owns
//! objects (a report of a namespace where it owns none is allowed, not required).
//!
//! * [`four_agents_share_one_dataset_on_two_buckets`]: four agents started at once on shared
//!   S3 storage each write exactly their share (every object once); a controller with an empty
//!   cache dir then knows the whole dataset from the pulled shards, without a LIST.
//! * [`isolated_agents_each_write_their_own_endpoints`]: with isolated storage each agent
//!   writes the whole dataset on its own local endpoints and nothing elsewhere; its shards are
//!   read in place by a rerun and by the controller, without a LIST.
//! * [`killed_agent_resumes_its_share_and_others_are_untouched`]: an agent killed mid-way
//!   resumes its share only; another agent's shard (remote and local) stays byte-identical.
//!
//! Every test runs on each compiled backend; a failure names the endpoint kind and backend.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use cache_sai3::prepare::{ListingSource, PrepareReport};
use common::endpoint::{Endpoint, Kind, Place, count_objects, uris};
use common::{Config, Running, Sai3, dataset_files, each_backend, parse};

/// How long one prepare may take before the test gives up on it.
const LIMIT: Duration = Duration::from_secs(300);

/// The name of object `i` of a flat dataset without key-prefix shards.
fn flat_name(i: u64) -> String {
    format!("prepared-{i:08}.dat")
}

/// The index of a flat object name (`prepared-NNNNNNNN.dat`).
fn index_of(name: &str) -> u64 {
    name.strip_prefix("prepared-")
        .and_then(|n| n.strip_suffix(".dat"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected a flat dataset name, found {name:?}"))
}

/// Indices `i` in `0..count` with `keep(i)`.
fn indices(count: u64, keep: impl Fn(u64) -> bool) -> Vec<u64> {
    (0..count).filter(|&i| keep(i)).collect()
}

/// Names of indices `i` in `0..count` with `keep(i)`, sorted.
fn names(count: u64, keep: impl Fn(u64) -> bool) -> Vec<String> {
    let mut out: Vec<String> = indices(count, keep).into_iter().map(flat_name).collect();
    out.sort();
    out
}

/// Starts `prepare --json` (as agent `agent`, or the controller's view for `None`), with its
/// output in files under `logs`.
fn spawn_prepare(
    sai3: &Sai3,
    config: &Path,
    cache: &Path,
    agent: Option<u32>,
    extra: &[&str],
    logs: &Path,
) -> Running {
    let k = agent.map(|k| k.to_string());
    let mut args = vec!["--json"];
    if let Some(k) = &k {
        args.extend(["--agent", k.as_str()]);
    }
    args.extend_from_slice(extra);
    let what = match agent {
        Some(k) => format!("prepare --agent {k}"),
        None => "prepare (controller view)".to_owned(),
    };
    sai3.spawn_config(&what, "prepare", config, cache, &args, logs)
}

/// Waits for a prepare and parses its report; fails with its stderr when it did not succeed.
fn report_of(running: Running) -> PrepareReport {
    let what = running.what.clone();
    parse(&what, &running.finish(LIMIT))
}

/// `prepare --json --agent K` to completion.
fn prepare_agent(
    sai3: &Sai3,
    config: &Path,
    cache: &Path,
    k: u32,
    extra: &[&str],
) -> PrepareReport {
    let k = k.to_string();
    let mut args = vec!["--agent", k.as_str()];
    args.extend_from_slice(extra);
    sai3.prepare(config, cache, &args)
}

/// A report of agent `k`: it says so, and so does every endpoint report and every sync.
fn assert_acted_as(r: &PrepareReport, k: u32, what: &str) {
    assert_eq!(
        r.agent,
        Some(k),
        "{what}: expected the report of agent {k}, found agent {:?}: {r:?}",
        r.agent
    );
    for e in &r.endpoints {
        assert_eq!(
            e.agent, k,
            "{what}: expected every endpoint report to describe agent {k}'s share, found agent {} for {}",
            e.agent, e.uri
        );
    }
    for s in &r.sync {
        assert_eq!(
            s.agent, k,
            "{what}: expected every cache sync to concern agent {k}'s shard, found agent {} for {}",
            s.agent, s.uri
        );
    }
}

/// Nothing was listed or created: every endpoint report (one per agent and namespace, covering
/// agents `0..agents`) came from its sealed ledger, and every object was already present.
fn assert_known_from_ledgers(r: &PrepareReport, total: u64, agents: u32, what: &str) {
    assert_eq!(
        r.agent, None,
        "{what}: expected the controller's view (agent None), found {:?}",
        r.agent
    );
    assert_eq!(
        r.total_objects, total,
        "{what}: expected {total} objects in the dataset, found {}",
        r.total_objects
    );
    assert_eq!(
        r.list_calls, 0,
        "{what}: expected no LIST call, found {}: {r:?}",
        r.list_calls
    );
    assert_eq!(
        r.listing_source,
        ListingSource::Ledger,
        "{what}: expected knowledge from the ledgers, found {:?}",
        r.listing_source
    );
    assert_eq!(
        r.created, 0,
        "{what}: expected nothing created, found {} created: {r:?}",
        r.created
    );
    assert_eq!(r.failed, 0, "{what}: expected no failed write: {r:?}");
    assert_eq!(
        r.already_present, total,
        "{what}: expected all {total} objects already present, found {}: {r:?}",
        r.already_present
    );
    for e in &r.endpoints {
        assert_eq!(
            e.listing_source,
            ListingSource::Ledger,
            "{what}: expected agent {}'s share on {} known from its ledger, found {:?}: {e:?}",
            e.agent,
            e.uri,
            e.listing_source
        );
        assert_eq!(
            e.list_calls, 0,
            "{what}: expected no LIST of {} (agent {}), found {}",
            e.uri, e.agent, e.list_calls
        );
        assert_eq!(
            e.created, 0,
            "{what}: expected nothing created on {} (agent {}), found {}",
            e.uri, e.agent, e.created
        );
    }
    let covered: BTreeSet<u32> = r.endpoints.iter().map(|e| e.agent).collect();
    let expected: BTreeSet<u32> = (0..agents).collect();
    assert_eq!(
        covered, expected,
        "{what}: expected endpoint reports of agents {expected:?}, found agents {covered:?}"
    );
}

/// The report of `uri` among `r`'s endpoint reports of agent `k`, checked against `share`, the
/// objects agent `k` owns there: it must exist when `share > 0` (and say so in `expected`);
/// where the agent owns nothing, a report may be left out (`None`) or say `expected == 0`.
fn endpoint_of<'a>(
    r: &'a PrepareReport,
    k: u32,
    uri: &str,
    share: u64,
    what: &str,
) -> Option<&'a cache_sai3::prepare::EndpointReport> {
    let found: Vec<_> = r
        .endpoints
        .iter()
        .filter(|e| e.agent == k && e.uri == uri)
        .collect();
    let listed = || {
        r.endpoints
            .iter()
            .map(|e| (e.agent, e.uri.as_str(), e.expected))
            .collect::<Vec<_>>()
    };
    assert!(
        found.len() == 1 || (share == 0 && found.is_empty()),
        "{what}: expected one endpoint report of agent {k} for {uri} (where it owns {share} \
         objects), found {} among (agent, uri, expected) {:?}",
        found.len(),
        listed()
    );
    let report = found.first().copied()?;
    assert_eq!(
        report.expected, share,
        "{what}: expected agent {k} to own {share} objects on {uri}, found {}",
        report.expected
    );
    Some(report)
}

/// What differs between two snapshots (keys added, removed, changed), briefly.
fn diff<V: PartialEq>(before: &BTreeMap<String, V>, after: &BTreeMap<String, V>) -> String {
    let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let changed: Vec<&String> = before
        .iter()
        .filter(|(k, v)| after.get(*k).is_some_and(|a| a != *v))
        .map(|(k, _)| k)
        .collect();
    format!("removed {removed:?}, added {added:?}, changed {changed:?}")
}

// ---------------------------------------------------------------------------------------------
// Four agents, shared storage, one S3 server with two buckets.

#[test]
fn four_agents_share_one_dataset_on_two_buckets() {
    let ep = Endpoint::start(Kind::S3sFs);
    each_backend(&format!("{} endpoint", ep.name()), |backend| {
        four_agents(&ep, backend)
    });
}

fn four_agents(ep: &Endpoint, backend: &'static str) {
    const COUNT: u64 = 2_000;
    const AGENTS: u64 = 4;
    let sai3 = ep.tool(backend);
    // Two buckets of one server, one endpoint each.
    let places: Vec<Place> = (0..2).flat_map(|_| ep.places(1)).collect();
    let endpoints = places.len() as u64;
    let dir = ep.scratch();
    let config = Config::flat(COUNT)
        .size("256")
        .agents(AGENTS as u32)
        .endpoints(&uris(&places))
        .write(&dir);
    // Shared storage, parallel: agent k writes i % 4 == k, object i goes to endpoint i % 2.
    let share = |k: u64| indices(COUNT, |i| i % AGENTS == k).len() as u64;
    let share_on =
        |k: u64, e: u64| indices(COUNT, |i| i % AGENTS == k && i % endpoints == e).len() as u64;

    // All four agents at once, each with a cache dir of its own.
    let caches: Vec<_> = (0..AGENTS).map(|k| dir.join(format!("agent{k}"))).collect();
    let running: Vec<Running> = (0..AGENTS)
        .map(|k| {
            spawn_prepare(
                &sai3,
                &config,
                &caches[k as usize],
                Some(k as u32),
                &[],
                &dir.join("logs"),
            )
        })
        .collect();
    let reports: Vec<PrepareReport> = running.into_iter().map(report_of).collect();

    // What is on the servers: exactly the dataset, object i on endpoint i % 2, once.
    let stored: Vec<BTreeMap<String, String>> = places.iter().map(Place::objects).collect();
    for (k, r) in reports.iter().enumerate() {
        let k64 = k as u64;
        let on_server = stored
            .iter()
            .flat_map(|objects| objects.keys())
            .filter(|name| index_of(name) % AGENTS == k64)
            .count();
        eprintln!(
            "[{backend}] agent {k}: {on_server} objects of its share on the servers, {} PUTs \
             (created), {} already present, share {}",
            r.created,
            r.already_present,
            share(k64)
        );
    }
    for (k, r) in reports.iter().enumerate() {
        let what = format!("agent {k}");
        let k64 = k as u64;
        assert_acted_as(r, k as u32, &what);
        assert_eq!(r.failed, 0, "{what}: expected no failed write: {r:?}");
        let created: u64 = r.endpoints.iter().map(|e| e.created).sum();
        assert_eq!(
            created,
            share(k64),
            "{what}: expected its endpoints to create its share of {} objects (i % 4 == {k}), \
             found {created}: {r:?}",
            share(k64)
        );
        assert_eq!(
            r.created, created,
            "{what}: expected the total created to be the endpoints' sum"
        );
        for (e, place) in places.iter().enumerate() {
            let mine = share_on(k64, e as u64);
            if let Some(report) = endpoint_of(r, k as u32, &place.uri, mine, &what) {
                assert_eq!(
                    report.created, mine,
                    "{what}: expected {mine} objects created on endpoint {e} ({}), found {}",
                    place.uri, report.created
                );
            }
        }
        for e in &r.endpoints {
            assert!(
                places.iter().any(|p| p.uri == e.uri),
                "{what}: expected reports of the config's endpoints only, found {}",
                e.uri
            );
        }
        // Its shards: local ones of its own only, and remote ones where it wrote.
        let shards = common::local_shards(&caches[k]);
        let owners: BTreeSet<u32> = shards.iter().map(|(_, a)| *a).collect();
        assert_eq!(
            owners,
            BTreeSet::from([k as u32]),
            "{what}: expected only shards of agent {k} in its cache dir \
             (endpoints/{{id}}/agents/{k}/), found {shards:?}"
        );
        for (e, place) in places.iter().enumerate() {
            if share_on(k64, e as u64) == 0 {
                continue;
            }
            let shard = format!("sai3-kv-cache/agents/{k}");
            let keys: Vec<String> = common::s3_objects(&place.uri, &shard).into_keys().collect();
            let generation = keys.iter().any(|key| {
                key.strip_prefix(&format!("{shard}/generations/"))
                    .and_then(|n| n.strip_suffix(".json"))
                    .is_some_and(|n| n.len() == 20 && n.chars().all(|c| c.is_ascii_digit()))
            });
            assert!(
                generation,
                "{what}: expected a pushed generation {shard}/generations/{{n:020}}.json on \
                 endpoint {e} ({}), found keys {keys:?}",
                place.uri
            );
            assert!(
                keys.iter()
                    .any(|key| key.starts_with(&format!("{shard}/files/"))),
                "{what}: expected cache files under {shard}/files/ on endpoint {e}, found {keys:?}"
            );
            assert!(
                keys.contains(&format!("{shard}/DATASET")),
                "{what}: expected the sealed record {shard}/DATASET on endpoint {e}, found {keys:?}"
            );
        }
    }
    let total_created: u64 = reports.iter().map(|r| r.created).sum();
    assert_eq!(
        total_created, COUNT,
        "expected the agents' creations to add up to the dataset ({COUNT}), found {total_created}"
    );
    for (e, objects) in stored.iter().enumerate() {
        let found: Vec<String> = objects.keys().cloned().collect();
        let expected = names(COUNT, |i| i % endpoints == e as u64);
        assert!(
            found == expected,
            "expected endpoint {e} to hold exactly the {} objects i % 2 == {e}, found {} ({})",
            expected.len(),
            found.len(),
            diff(
                &expected.iter().map(|n| (n.clone(), ())).collect(),
                &found.iter().map(|n| (n.clone(), ())).collect()
            )
        );
    }
    let on_servers = count_objects(&places) as u64;
    assert_eq!(
        on_servers, COUNT,
        "expected every object written exactly once ({COUNT} on the servers), found {on_servers}"
    );

    // The controller's view with an empty cache dir: every shard pulled, nothing listed.
    let what = "the controller's view with an empty cache dir";
    let all = sai3.prepare(&config, &dir.join("controller"), &[]);
    assert_known_from_ledgers(&all, COUNT, AGENTS as u32, what);
    // One report per (agent, endpoint) where the agent owns objects (and at most one elsewhere).
    for r in &all.endpoints {
        assert!(
            places.iter().any(|p| p.uri == r.uri),
            "{what}: expected reports of the config's endpoints only, found {}",
            r.uri
        );
    }
    for k in 0..AGENTS {
        for (e, place) in places.iter().enumerate() {
            let mine = share_on(k, e as u64);
            if let Some(report) = endpoint_of(&all, k as u32, &place.uri, mine, what) {
                assert_eq!(
                    report.already_present, mine,
                    "{what}: expected agent {k}'s {mine} objects on endpoint {e} present, found {}",
                    report.already_present
                );
            }
            if mine == 0 {
                continue;
            }
            let pulled = all.sync.iter().any(|s| {
                s.agent == k as u32
                    && s.uri == place.uri
                    && s.pulled.as_ref().is_some_and(|p| p.generation.is_some())
            });
            assert!(
                pulled,
                "{what}: expected agent {k}'s shard of endpoint {e} ({}) pulled, found syncs {:?}",
                place.uri,
                all.sync
                    .iter()
                    .map(|s| (
                        s.agent,
                        s.uri.as_str(),
                        s.pulled.as_ref().map(|p| p.generation)
                    ))
                    .collect::<Vec<_>>()
            );
        }
    }
    let after = count_objects(&places) as u64;
    assert_eq!(
        after, COUNT,
        "{what}: expected the servers to still hold {COUNT} objects, found {after}"
    );
    one_missing_shard_is_named_and_listed_alone(&sai3, &config, &dir, &places, COUNT);
}

/// Agent 2's pushed shard is deleted: a reader with an empty cache dir names agent 2's share as
/// unknown, lists for it alone (the other shards come from their ledgers), and creates nothing.
fn one_missing_shard_is_named_and_listed_alone(
    sai3: &Sai3,
    config: &Path,
    dir: &Path,
    places: &[Place],
    count: u64,
) {
    const LOST: u32 = 2;
    for place in places {
        for key in common::s3_objects(&place.uri, &format!("sai3-kv-cache/agents/{LOST}")).keys() {
            place.delete(key);
        }
    }
    let what = "a reader after agent 2's shard was deleted";
    let r = sai3.prepare(config, &dir.join("reader"), &[]);
    assert_eq!(
        r.created, 0,
        "{what}: expected nothing created, found {r:?}"
    );
    assert_eq!(r.already_present, count, "{what}: {r:?}");
    for e in &r.endpoints {
        let (want, calls) = match e.agent == LOST {
            true => (ListingSource::List, e.list_calls > 0),
            false => (ListingSource::Ledger, e.list_calls == 0),
        };
        assert!(
            e.listing_source == want && calls,
            "{what}: expected agent {}'s knowledge of {} from {want:?} (LIST calls only for agent \
             {LOST}), found {:?} with {} LIST calls",
            e.agent,
            e.uri,
            e.listing_source,
            e.list_calls
        );
    }
    let named = r.warnings.iter().any(|w| w.contains("agent 2's share"));
    assert!(
        named,
        "{what}: expected a warning naming agent 2's share, found {:?}",
        r.warnings
    );
}

// ---------------------------------------------------------------------------------------------
// Isolated storage: each agent its own local endpoints.

#[test]
fn isolated_agents_each_write_their_own_endpoints() {
    each_backend("file:// endpoints", isolated_agents);
}

fn isolated_agents(backend: &'static str) {
    const COUNT: u64 = 600;
    const AGENTS: u32 = 3;
    const PER_AGENT: usize = 2;
    let sai3 = Sai3::new(backend);
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let builder = Config::flat(COUNT)
        .size("64")
        .isolated()
        .local_agent_endpoints(&data, AGENTS, PER_AGENT);
    let lists = builder.agent_endpoint_lists().to_vec();
    let config = builder.write(tmp.path());
    let dir_of = |k: u32, e: usize| data.join(format!("a{k}/ep{e}"));
    let caches: Vec<_> = (0..AGENTS)
        .map(|k| tmp.path().join(format!("cache{k}")))
        .collect();

    // All agents at once.
    let running: Vec<Running> = (0..AGENTS)
        .map(|k| {
            spawn_prepare(
                &sai3,
                &config,
                &caches[k as usize],
                Some(k),
                &[],
                &tmp.path().join("logs"),
            )
        })
        .collect();
    let reports: Vec<PrepareReport> = running.into_iter().map(report_of).collect();

    for (k, r) in (0..AGENTS).zip(&reports) {
        let what = format!("agent {k} (isolated storage)");
        assert_acted_as(r, k, &what);
        assert_eq!(r.failed, 0, "{what}: expected no failed write: {r:?}");
        assert_eq!(
            r.created, COUNT,
            "{what}: expected the whole dataset ({COUNT}) created on its own endpoints, found {}: {r:?}",
            r.created
        );
        for e in &r.endpoints {
            assert!(
                lists[k as usize].contains(&e.uri),
                "{what}: expected reports of its own endpoints {:?} only, found {}",
                lists[k as usize],
                e.uri
            );
        }
        for (e, uri) in lists[k as usize].iter().enumerate() {
            let expected = indices(COUNT, |i| i % PER_AGENT as u64 == e as u64).len() as u64;
            let report = endpoint_of(r, k, uri, expected, &what).expect("checked: share > 0");
            assert_eq!(
                report.created, expected,
                "{what}: expected {expected} objects created on {uri}, found {}",
                report.created
            );
        }
    }

    // On disk: each agent's endpoints hold the whole dataset (object i on its endpoint i % 2),
    // and nothing of any agent is anywhere else.
    let on_disk = |when: &str| {
        for k in 0..AGENTS {
            let mut held = 0;
            for e in 0..PER_AGENT {
                let found = dataset_files(&dir_of(k, e));
                let expected = names(COUNT, |i| i % PER_AGENT as u64 == e as u64);
                assert!(
                    found == expected,
                    "{when}: expected agent {k}'s endpoint {e} to hold exactly {} objects \
                     (i % 2 == {e}), found {} ({})",
                    expected.len(),
                    found.len(),
                    diff(
                        &expected.iter().map(|n| (n.clone(), ())).collect(),
                        &found.iter().map(|n| (n.clone(), ())).collect()
                    )
                );
                held += found.len() as u64;
            }
            eprintln!(
                "[{backend}] {when}: agent {k}: {held} objects on its endpoints, {} PUTs (created)",
                reports[k as usize].created
            );
        }
        let everywhere = dataset_files(&data).len() as u64;
        assert_eq!(
            everywhere,
            COUNT * u64::from(AGENTS),
            "{when}: expected {} dataset files in all ({COUNT} per agent), found {everywhere}",
            COUNT * u64::from(AGENTS)
        );
    };
    on_disk("after the agents");

    // Shards in place: agent k's shard in each of its endpoints, no other agent's there.
    for k in 0..AGENTS {
        for e in 0..PER_AGENT {
            let cache = dir_of(k, e).join("sai3-kv-cache");
            let agents = common::shard_agents(&cache);
            assert_eq!(
                agents,
                BTreeSet::from([k]),
                "expected only agent {k}'s shard in {}/agents/, found shards of {agents:?}",
                cache.display()
            );
            let marker = cache.join(format!("agents/{k}/SAI3-CACHE-FORMAT"));
            assert!(
                marker.is_file(),
                "expected a cache (its SAI3-CACHE-FORMAT marker) at {}, found none",
                marker.display()
            );
        }
    }

    // Agent 1 again: its shards say everything is there.
    let what = "agent 1 run again";
    let again = prepare_agent(&sai3, &config, &caches[1], 1, &[]);
    assert_acted_as(&again, 1, what);
    assert_eq!(
        again.created, 0,
        "{what}: expected nothing created, found {}: {again:?}",
        again.created
    );
    assert_eq!(
        again.list_calls, 0,
        "{what}: expected no LIST call, found {}: {again:?}",
        again.list_calls
    );
    for e in &again.endpoints {
        assert_eq!(
            e.list_calls, 0,
            "{what}: expected no LIST of {}, found {}",
            e.uri, e.list_calls
        );
    }
    assert_eq!(
        again.listing_source,
        ListingSource::Ledger,
        "{what}: expected knowledge from its ledgers, found {:?}",
        again.listing_source
    );
    assert_eq!(
        again.already_present, COUNT,
        "{what}: expected all {COUNT} of its objects present, found {}",
        again.already_present
    );

    // The controller's view with a fresh cache dir reads every shard in place.
    let what = "the controller's view with a fresh cache dir";
    let all = sai3.prepare(&config, &tmp.path().join("controller"), &[]);
    assert_known_from_ledgers(&all, COUNT * u64::from(AGENTS), AGENTS, what);
    let pairs: BTreeSet<(u32, String)> = all
        .endpoints
        .iter()
        .map(|e| (e.agent, e.uri.clone()))
        .collect();
    let expected: BTreeSet<(u32, String)> = (0..AGENTS)
        .flat_map(|k| lists[k as usize].iter().map(move |u| (k, u.clone())))
        .collect();
    assert_eq!(
        pairs, expected,
        "{what}: expected one endpoint report per agent and own endpoint, found {pairs:?}"
    );
    assert_eq!(
        all.endpoints.len(),
        expected.len(),
        "{what}: expected {} endpoint reports (one per agent and own endpoint), found {}",
        expected.len(),
        all.endpoints.len()
    );
    on_disk("after the controller's view");
}

// ---------------------------------------------------------------------------------------------
// An agent killed mid-way resumes; another agent's shard is untouched.

#[test]
fn killed_agent_resumes_its_share_and_others_are_untouched() {
    let ep = Endpoint::start(Kind::S3sFs);
    each_backend(&format!("{} endpoint", ep.name()), |backend| {
        killed_agent(&ep, backend)
    });
}

/// Agent `k`'s shard on every place: keys under `sai3-kv-cache/agents/{k}/` (prefixed with the
/// endpoint number) and their bytes.
fn remote_shard(places: &[Place], k: u32) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (e, place) in places.iter().enumerate() {
        for (key, bytes) in common::s3_objects(&place.uri, &format!("sai3-kv-cache/agents/{k}")) {
            out.insert(format!("ep{e}/{key}"), bytes);
        }
    }
    out
}

/// Agents of the killed-agent test.
const KILLED_AGENTS: u64 = 2;
/// Its endpoints.
const KILLED_ENDPOINTS: u64 = 3;
/// Its key-prefix shards: a multiple of agents x endpoints, so that each shard directory holds
/// objects of one agent on one endpoint (shard `s`: agent `s % 2`, endpoint `s % 3`), and the
/// test lists small directories (s3s-fs's LIST cost grows with the whole prefix listed).
const KILLED_SHARDS: u64 = 24;

/// Dataset objects of the killed-agent test with their identities, keyed `ep{e}/{path}`: each
/// shard directory listed on the endpoint that holds it.
fn identities(places: &[Place]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for shard in 0..KILLED_SHARDS {
        let e = (shard % KILLED_ENDPOINTS) as usize;
        for (key, id) in common::s3_listing(&places[e].uri, &format!("{shard:02x}")) {
            if key.ends_with(".dat") {
                out.insert(format!("ep{e}/{key}"), id);
            }
        }
    }
    out
}

/// The index of `ep{e}/{shard}/prepared-NNNNNNNN.dat`.
fn index_in(key: &str) -> u64 {
    index_of(key.rsplit('/').next().unwrap_or(key))
}

fn killed_agent(ep: &Endpoint, backend: &'static str) {
    // Agent 1's share: 4,000 objects of 1 byte, 4 PUTs at a time per endpoint, a ledger
    // checkpoint every 100 objects per endpoint. It is killed right after it logs its first
    // checkpoint, so the resume has something to trust, whatever the machine's speed.
    const COUNT: u64 = 8_000;
    const AGENTS: u64 = KILLED_AGENTS;
    const SLOW: [&str; 2] = ["--concurrency", "4"];
    let sai3 = ep.tool(backend);
    // Three endpoints: each agent writes on every one (i % 2 and i % 3 differ).
    let places = ep.places(KILLED_ENDPOINTS as usize);
    let dir = ep.scratch();
    let config = Config::flat(COUNT)
        .size("1")
        .shards(KILLED_SHARDS)
        .agents(AGENTS as u32)
        .endpoints(&uris(&places))
        .write(&dir);
    let share = |k: u64| indices(COUNT, |i| i % AGENTS == k).len() as u64;
    let caches = [dir.join("agent0"), dir.join("agent1")];

    // Agent 0 to completion; its shard as it left it.
    let first = prepare_agent(&sai3, &config, &caches[0], 0, &SLOW);
    assert_acted_as(&first, 0, "agent 0");
    assert_eq!(
        first.created,
        share(0),
        "agent 0: expected its share of {} created, found {}: {first:?}",
        share(0),
        first.created
    );
    assert_eq!(
        first.failed, 0,
        "agent 0: expected no failed write: {first:?}"
    );
    let remote0 = remote_shard(&places, 0);
    assert!(
        !remote0.is_empty(),
        "expected agent 0's shard pushed under sai3-kv-cache/agents/0/ of its endpoints, found none"
    );
    let local0 = common::file_digests(&caches[0]);
    assert!(
        !local0.is_empty(),
        "expected agent 0's cache dir {} to hold its caches, found it empty",
        caches[0].display()
    );

    // Agent 1, killed after its first ledger checkpoint.
    let mut running = spawn_prepare(
        &sai3,
        &config,
        &caches[1],
        Some(1),
        &[SLOW[0], SLOW[1], "--checkpoint-every", "100", "-v"],
        &dir.join("logs"),
    );
    let recorded = running.wait_for_checkpoint(Duration::from_secs(120));
    eprintln!("[{backend}] agent 1 killed after a checkpoint of {recorded} objects");
    running.kill();
    // The server may still finish PUTs it had fully received: wait until it is quiet.
    let mut before = identities(&places);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = identities(&places);
        if now == before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expected the server to settle within 30 s after the kill, found it still changing"
        );
        before = now;
    }
    let present1 = before.keys().filter(|k| index_in(k) % AGENTS == 1).count() as u64;
    eprintln!(
        "[{backend}] agent 1 killed with {present1} of its {} objects on the server",
        share(1)
    );
    assert!(
        present1 < share(1),
        "expected agent 1 killed before finishing, found all {present1} of its objects written: \
         make the dataset larger"
    );

    // Agent 1 again: it resumes its share, creating only what is missing.
    let what = "agent 1 resumed";
    let resumed = prepare_agent(&sai3, &config, &caches[1], 1, &SLOW);
    eprintln!(
        "[{backend}] {what}: {} PUTs (created), {} already present, share {}",
        resumed.created,
        resumed.already_present,
        share(1)
    );
    assert_acted_as(&resumed, 1, what);
    assert_eq!(
        resumed.failed, 0,
        "{what}: expected no failed write: {resumed:?}"
    );
    assert_eq!(
        resumed.created + resumed.already_present,
        share(1),
        "{what}: expected created + already present to be its share of {}, found {} + {}",
        share(1),
        resumed.created,
        resumed.already_present
    );
    assert!(
        resumed.created < share(1),
        "{what}: expected fewer than its {} objects created (a resume), found {}",
        share(1),
        resumed.created
    );
    // Its ledger is trusted (no LIST): what it recorded before the kill is present; objects
    // in flight at its last checkpoint are checked with HEADs, so exactly the objects absent
    // from the server are written.
    assert_eq!(
        resumed.list_calls, 0,
        "{what}: expected a resume from its ledger without LIST: {resumed:?}"
    );
    assert!(
        resumed.already_present <= present1,
        "{what}: expected at most the {present1} objects written before the kill found present, \
         found {}",
        resumed.already_present
    );
    assert_eq!(
        resumed.created,
        share(1) - present1,
        "{what}: expected exactly the {} objects absent from the server created, found {}",
        share(1) - present1,
        resumed.created
    );
    let after = identities(&places);
    assert_eq!(
        after.len() as u64,
        COUNT,
        "{what}: expected the whole dataset ({COUNT}) in its shard directories, found {}",
        after.len()
    );
    let everywhere = count_objects(&places) as u64;
    assert_eq!(
        everywhere, COUNT,
        "{what}: expected {COUNT} dataset objects on the endpoints in all, found {everywhere}"
    );
    let rewritten: Vec<&String> = before
        .iter()
        .filter(|(f, id)| after.get(*f) != Some(*id))
        .map(|(f, _)| f)
        .collect();
    let unrecorded = resumed.created - (share(1) - present1);
    assert!(
        rewritten.len() as u64 <= unrecorded,
        "{what}: expected only the {unrecorded} objects its ledger had not recorded written \
         again, found {} rewritten: {:?}",
        rewritten.len(),
        rewritten.iter().take(5).collect::<Vec<_>>()
    );

    // Agent 0's shard, remote and local, is exactly as agent 0 left it.
    let remote0_now = remote_shard(&places, 0);
    assert!(
        remote0_now == remote0,
        "expected agent 0's remote shard byte-identical after agent 1's runs, found {}",
        diff(&remote0, &remote0_now)
    );
    let local0_now = common::file_digests(&caches[0]);
    assert!(
        local0_now == local0,
        "expected agent 0's cache dir byte-identical after agent 1's runs, found {}",
        diff(&local0, &local0_now)
    );

    // The controller's view with an empty cache dir knows everything from the shards.
    let all = sai3.prepare(&config, &dir.join("controller"), &[]);
    assert_known_from_ledgers(
        &all,
        COUNT,
        AGENTS as u32,
        "the controller's view with an empty cache dir",
    );
}
