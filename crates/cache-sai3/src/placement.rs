//! Placement: which endpoint and which agent an object belongs to, and the set of objects an
//! endpoint or an agent owns. The one place these rules live; prepare, verify, plan and lookup
//! call it.
//!
//! The rules follow sai3-bench's prepare. A pool (one `ensure_objects` entry, one kind, one
//! agent) holds the indices of its agent's [`Share`] and places them on its endpoint slots by
//! its [`Rule`]: `parallel` writes index `i` to `slots[i % slots]`; `sequential` with a
//! `multi_endpoint` list lets s3dlio pick the endpoint at run time, so only a LIST tells where an
//! object is (the presence bitmaps of the endpoint caches then record it; nothing is stored per
//! object while the rule holds). Everything computable is computed: nothing about placement is
//! stored.
//!
//! ```
//! use cache_sai3::dataset::Dataset;
//! use cache_sai3::placement;
//! let yaml = "multi_endpoint:\n  endpoints: [\"file:///a/\", \"file:///b/\"]\n\
//!             prepare:\n  prepare_strategy: parallel\n  ensure_objects:\n    - { count: 10, size_spec: 1 }\n\
//!             workload: []\n";
//! let d = Dataset::from_config(&serde_norway::from_str(yaml)?, "x.yaml".as_ref())?;
//! let pool = &d.pools[0];
//! assert_eq!(placement::endpoint_of(pool, 7), Some(1));
//! assert_eq!(placement::owned_by_endpoint(pool, 0).len(), 5);
//! let uri = placement::locate(&d, 0, 7).and_then(|l| l.uri);
//! assert_eq!(uri.as_deref(), Some("file:///b/prepared-00000007.dat"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use roaring::{RoaringBitmap, RoaringTreemap};
use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, Pool};

/// Which indices of `0..count` a pool holds: the share of the agent that writes it.
///
/// sai3-bench's `sequential` strategy keeps `i % agents == agent` whenever there are several
/// agents; `parallel` only when storage is shared (isolated agents each write every index).
///
/// ```
/// use cache_sai3::placement::Share;
/// let second_of_three = Share::Modulo { agents: 3, agent: 1 };
/// assert_eq!(second_of_three.count_of(10), 3); // 1, 4, 7
/// assert_eq!(Share::All.count_of(10), 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Share {
    /// Every index.
    All,
    /// The indices `i` with `i % agents == agent`.
    Modulo {
        /// Number of agents.
        agents: u32,
        /// This agent (0-based position in `distributed.agents`).
        agent: u32,
    },
}

impl Share {
    /// True when the share holds index `i`.
    ///
    /// ```
    /// use cache_sai3::placement::Share;
    /// let share = Share::Modulo { agents: 3, agent: 1 };
    /// assert!(share.contains(4));
    /// assert!(!share.contains(5));
    /// assert!(Share::All.contains(5));
    /// ```
    pub fn contains(self, i: u64) -> bool {
        match self {
            Share::All => true,
            Share::Modulo { agents, agent } => i % u64::from(agents.max(1)) == u64::from(agent),
        }
    }

    /// How many of `0..count` the share holds.
    ///
    /// ```
    /// use cache_sai3::placement::Share;
    /// assert_eq!(Share::Modulo { agents: 3, agent: 0 }.count_of(10), 4); // 0, 3, 6, 9
    /// assert_eq!(Share::Modulo { agents: 3, agent: 2 }.count_of(10), 3); // 2, 5, 8
    /// assert_eq!(Share::All.count_of(10), 10);
    /// ```
    pub fn count_of(self, count: u64) -> u64 {
        match self {
            Share::All => count,
            Share::Modulo { agents, agent } => {
                share(count, u64::from(agents.max(1)), u64::from(agent))
            }
        }
    }

    /// The indices of `0..count` the share holds.
    ///
    /// ```
    /// use cache_sai3::placement::Share;
    /// let odd = Share::Modulo { agents: 2, agent: 1 }.indices(10);
    /// assert_eq!(odd.iter().collect::<Vec<_>>(), [1, 3, 5, 7, 9]);
    /// assert_eq!(Share::All.indices(10).len(), 10);
    /// ```
    pub fn indices(self, count: u64) -> RoaringTreemap {
        match self {
            Share::All => stride(0, 1, count),
            Share::Modulo { agents, agent } => {
                stride(u64::from(agent), u64::from(agents.max(1)), count)
            }
        }
    }
}

/// How the endpoint of an index is chosen among a pool's endpoint slots.
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::placement::Rule;
/// # let parallel = Dataset::from_yaml(r#"
/// # prepare: { prepare_strategy: parallel, ensure_objects: [{ count: 10, size_spec: 1 }] }
/// # multi_endpoint: { endpoints: ["file:///a/", "file:///b/"] }
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// # let sequential = Dataset::from_yaml(r#"
/// # prepare: { ensure_objects: [{ count: 10, size_spec: 1 }] }
/// # multi_endpoint: { endpoints: ["file:///a/", "file:///b/"] }
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// // `parallel`: 10 objects, object `i` on `[file:///a/, file:///b/][i % 2]`.
/// assert_eq!(parallel.pools[0].rule, Rule::Modulo);
/// // `sequential` on `[file:///a/, file:///b/]`: s3dlio picks the endpoint of each object.
/// assert_eq!(sequential.pools[0].rule, Rule::Runtime);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Rule {
    /// `slots[i % slots.len()]`: sai3-bench's `parallel` strategy (and any single endpoint).
    Modulo,
    /// Chosen at run time by s3dlio's `MultiEndpointStore` (sai3-bench's `sequential` strategy
    /// with a `multi_endpoint` list): any slot may hold any index. Only a LIST tells where an
    /// object is; sai3-cache's own prepare writes index `i` to `slots[i % slots.len()]`.
    Runtime,
}

/// Where one object is and who works on it.
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::placement::locate;
/// # let parallel = Dataset::from_yaml(r#"
/// # prepare: { prepare_strategy: parallel, ensure_objects: [{ count: 10, size_spec: 1 }] }
/// # multi_endpoint: { endpoints: ["file:///a/", "file:///b/"] }
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// // `parallel`: 10 objects, object `i` on `[file:///a/, file:///b/][i % 2]`.
/// let at = locate(&parallel, 0, 4).expect("object 4 of pool 0");
/// assert_eq!((at.pool, at.index, at.endpoint, at.agent), (0, 4, Some(0), 0));
/// assert_eq!(at.path, "prepared-00000004.dat");
/// assert_eq!(at.uri.as_deref(), Some("file:///a/prepared-00000004.dat"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Pool id.
    pub pool: u16,
    /// Index within the pool.
    pub index: u64,
    /// Index into [`Dataset::endpoints`]; `None` when s3dlio picks the endpoint at run time
    /// ([`Rule::Runtime`]) and no LIST has told yet.
    pub endpoint: Option<u16>,
    /// Path relative to the endpoint.
    pub path: String,
    /// Full URI (endpoint + path), when the endpoint is known.
    pub uri: Option<String>,
    /// The agent that writes it (0-based; 0 without agents).
    pub agent: u32,
}

/// The endpoint sai3-cache's own prepare writes index `index` of `pool` to: `slots[i % slots]`.
/// For [`Rule::Modulo`] it is also the only endpoint that can hold it.
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::placement::{endpoint_of, rule_endpoint};
/// # let sequential = Dataset::from_yaml(r#"
/// # prepare: { ensure_objects: [{ count: 10, size_spec: 1 }] }
/// # multi_endpoint: { endpoints: ["file:///a/", "file:///b/"] }
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// // `sequential` on `[file:///a/, file:///b/]`: s3dlio picks the endpoint of each object.
/// let pool = &sequential.pools[0];
/// assert_eq!(rule_endpoint(pool, 3), 1);
/// assert_eq!(rule_endpoint(pool, 4), 0);
/// assert_eq!(endpoint_of(pool, 3), None); // only a LIST tells where it is
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn rule_endpoint(pool: &Pool, index: u64) -> u16 {
    let slots = pool.endpoints.len().max(1) as u64;
    pool.endpoints
        .get((index % slots) as usize)
        .copied()
        .unwrap_or(0)
}

/// The endpoint that holds object `index` of `pool` by rule, or `None` when it is chosen at
/// run time ([`Rule::Runtime`]: only a LIST tells).
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::placement::endpoint_of;
/// # let parallel = Dataset::from_yaml(r#"
/// # prepare: { prepare_strategy: parallel, ensure_objects: [{ count: 10, size_spec: 1 }] }
/// # multi_endpoint: { endpoints: ["file:///a/", "file:///b/"] }
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// # let sequential = Dataset::from_yaml(r#"
/// # prepare: { ensure_objects: [{ count: 10, size_spec: 1 }] }
/// # multi_endpoint: { endpoints: ["file:///a/", "file:///b/"] }
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// // `parallel`: 10 objects, object `i` on `[file:///a/, file:///b/][i % 2]`.
/// assert_eq!(endpoint_of(&parallel.pools[0], 3), Some(1));
/// assert_eq!(endpoint_of(&parallel.pools[0], 4), Some(0));
/// // `sequential` on `[file:///a/, file:///b/]`: s3dlio picks the endpoint of each object.
/// assert_eq!(endpoint_of(&sequential.pools[0], 3), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn endpoint_of(pool: &Pool, index: u64) -> Option<u16> {
    match pool.rule {
        Rule::Modulo => Some(rule_endpoint(pool, index)),
        Rule::Runtime => None,
    }
}

/// True when dataset endpoint `endpoint` may hold object `index` of `pool`: the index is in the
/// pool's share, and the endpoint is the rule's ([`Rule::Modulo`]) or any slot ([`Rule::Runtime`]).
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::placement::may_hold;
/// # let parallel = Dataset::from_yaml(r#"
/// # prepare: { prepare_strategy: parallel, ensure_objects: [{ count: 10, size_spec: 1 }] }
/// # multi_endpoint: { endpoints: ["file:///a/", "file:///b/"] }
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// # let sequential = Dataset::from_yaml(r#"
/// # prepare: { ensure_objects: [{ count: 10, size_spec: 1 }] }
/// # multi_endpoint: { endpoints: ["file:///a/", "file:///b/"] }
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// # let two_agents = Dataset::from_yaml(r#"
/// # prepare: { ensure_objects: [{ base_uri: "file:///a/", count: 10, size_spec: 1 }] }
/// # distributed:
/// #   shared_filesystem: true
/// #   tree_creation_mode: coordinator
/// #   path_selection: random
/// #   agents: [{ address: "h1:7761" }, { address: "h2:7761" }]
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// // `parallel`: 10 objects, object `i` on `[file:///a/, file:///b/][i % 2]`.
/// assert!(may_hold(&parallel.pools[0], 3, 1));
/// assert!(!may_hold(&parallel.pools[0], 3, 0));
/// // `sequential` on `[file:///a/, file:///b/]`: s3dlio picks the endpoint of each object.
/// assert!(may_hold(&sequential.pools[0], 3, 0) && may_hold(&sequential.pools[0], 3, 1));
/// // Two agents on shared storage, 10 objects on `file:///a/`: one pool per agent.
/// assert!(may_hold(&two_agents.pools[1], 3, 0)); // agent 1 writes the odd indices
/// assert!(!may_hold(&two_agents.pools[1], 4, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn may_hold(pool: &Pool, index: u64, endpoint: u16) -> bool {
    pool.share.contains(index)
        && match pool.rule {
            Rule::Modulo => rule_endpoint(pool, index) == endpoint,
            Rule::Runtime => pool.endpoints.contains(&endpoint),
        }
}

/// The agent that writes `pool` (0 without agents).
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::placement::agent_of;
/// # let parallel = Dataset::from_yaml(r#"
/// # prepare: { prepare_strategy: parallel, ensure_objects: [{ count: 10, size_spec: 1 }] }
/// # multi_endpoint: { endpoints: ["file:///a/", "file:///b/"] }
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// # let two_agents = Dataset::from_yaml(r#"
/// # prepare: { ensure_objects: [{ base_uri: "file:///a/", count: 10, size_spec: 1 }] }
/// # distributed:
/// #   shared_filesystem: true
/// #   tree_creation_mode: coordinator
/// #   path_selection: random
/// #   agents: [{ address: "h1:7761" }, { address: "h2:7761" }]
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// // `parallel`: 10 objects, object `i` on `[file:///a/, file:///b/][i % 2]`.
/// assert_eq!(agent_of(&parallel.pools[0]), 0);
/// // Two agents on shared storage, 10 objects on `file:///a/`: one pool per agent.
/// assert_eq!(agent_of(&two_agents.pools[0]), 0);
/// assert_eq!(agent_of(&two_agents.pools[1]), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn agent_of(pool: &Pool) -> u32 {
    pool.agent.unwrap_or(0)
}

/// Everything about object `index` of pool `pool`, or `None` when the pool does not hold it
/// (past its end, or outside its agent's share).
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::placement::locate;
/// # let sequential = Dataset::from_yaml(r#"
/// # prepare: { ensure_objects: [{ count: 10, size_spec: 1 }] }
/// # multi_endpoint: { endpoints: ["file:///a/", "file:///b/"] }
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// # let two_agents = Dataset::from_yaml(r#"
/// # prepare: { ensure_objects: [{ base_uri: "file:///a/", count: 10, size_spec: 1 }] }
/// # distributed:
/// #   shared_filesystem: true
/// #   tree_creation_mode: coordinator
/// #   path_selection: random
/// #   agents: [{ address: "h1:7761" }, { address: "h2:7761" }]
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// // `sequential` on `[file:///a/, file:///b/]`: s3dlio picks the endpoint of each object.
/// let at = locate(&sequential, 0, 7).expect("object 7 of pool 0");
/// assert_eq!((at.endpoint, at.uri), (None, None));
/// assert_eq!(at.path, "prepared-00000007.dat");
/// assert!(locate(&sequential, 0, 10).is_none()); // past the end
/// // Two agents on shared storage, 10 objects on `file:///a/`: one pool per agent.
/// let at = locate(&two_agents, 1, 7).expect("agent 1 writes odd indices");
/// assert_eq!(at.agent, 1);
/// assert_eq!(at.uri.as_deref(), Some("file:///a/prepared-00000007.dat"));
/// assert!(locate(&two_agents, 1, 6).is_none()); // agent 0's
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn locate(dataset: &Dataset, pool: u16, index: u64) -> Option<Location> {
    let p = dataset.pool(pool)?;
    let path = dataset.path_of(p, index)?;
    let endpoint = endpoint_of(p, index);
    let uri = match endpoint {
        Some(e) => Some(format!("{}{}", dataset.endpoints.get(e as usize)?, path)),
        None => None,
    };
    Some(Location {
        pool,
        index,
        endpoint,
        uri,
        path,
        agent: agent_of(p),
    })
}

/// The pools that may place objects on dataset endpoint `endpoint`.
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::placement::pools_on;
/// let yaml = r#"
/// prepare:
///   ensure_objects:
///     - { base_uri: "file:///a/", count: 3 }
///     - { base_uri: "file:///b/", count: 5 }
/// workload: [{ op: get, path: "*", weight: 1 }]
/// "#;
/// let two_entries = Dataset::from_yaml(yaml, "inline")?;
/// assert_eq!(two_entries.endpoints, ["file:///a/", "file:///b/"]);
/// let on_b: Vec<u64> = pools_on(&two_entries, 1).map(|p| p.count).collect();
/// assert_eq!(on_b, [5]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn pools_on(dataset: &Dataset, endpoint: u16) -> impl Iterator<Item = &Pool> {
    dataset
        .pools
        .iter()
        .filter(move |p| p.endpoints.contains(&endpoint))
}

/// Bits of one block of [`stride`]'s bitset (2 MiB; a divisor of 2^32, so a block never
/// straddles two 32-bit halves of a treemap).
const STRIDE_BLOCK_BITS: u64 = 1 << 24;

/// The indices `first, first + step, ...` below `count`. Built as bitsets of
/// [`STRIDE_BLOCK_BITS`] turned into containers at once: an insert per index costs seconds at
/// 64M objects, and every prepare computes these sets.
fn stride(first: u64, step: u64, count: u64) -> RoaringTreemap {
    let mut out = RoaringTreemap::new();
    if first >= count {
        return out;
    }
    if step == 1 {
        out.insert_range(first..count);
        return out;
    }
    let mut start = first - first % STRIDE_BLOCK_BITS;
    let mut bits = vec![0u8; (count - start).min(STRIDE_BLOCK_BITS).div_ceil(8) as usize];
    let mut next = Some(first);
    while let Some(i) = next.filter(|&i| i < count) {
        let end = count.min(start.saturating_add(STRIDE_BLOCK_BITS));
        bits.fill(0);
        next = Some(i);
        while let Some(i) = next.filter(|&i| i < end) {
            let bit = i - start;
            bits[(bit / 8) as usize] |= 1 << (bit % 8);
            next = i.checked_add(step);
        }
        let used = (end - start).div_ceil(8) as usize;
        let low =
            RoaringBitmap::from_lsb0_bytes((start & u64::from(u32::MAX)) as u32, &bits[..used]);
        out |= RoaringTreemap::from_bitmaps([((start >> 32) as u32, low)]);
        start = end;
    }
    out
}

/// The indices of `pool` that the rule places on dataset endpoint `endpoint` (within the
/// pool's share): where sai3-cache writes them, and for [`Rule::Modulo`] where they are.
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::placement::owned_by_endpoint;
/// # let parallel = Dataset::from_yaml(r#"
/// # prepare: { prepare_strategy: parallel, ensure_objects: [{ count: 10, size_spec: 1 }] }
/// # multi_endpoint: { endpoints: ["file:///a/", "file:///b/"] }
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// # let two_agents = Dataset::from_yaml(r#"
/// # prepare: { ensure_objects: [{ base_uri: "file:///a/", count: 10, size_spec: 1 }] }
/// # distributed:
/// #   shared_filesystem: true
/// #   tree_creation_mode: coordinator
/// #   path_selection: random
/// #   agents: [{ address: "h1:7761" }, { address: "h2:7761" }]
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// // `parallel`: 10 objects, object `i` on `[file:///a/, file:///b/][i % 2]`.
/// let on_b = owned_by_endpoint(&parallel.pools[0], 1);
/// assert_eq!(on_b.iter().collect::<Vec<_>>(), [1, 3, 5, 7, 9]);
/// // Two agents on shared storage, 10 objects on `file:///a/`: one pool per agent.
/// let agent_0 = owned_by_endpoint(&two_agents.pools[0], 0);
/// assert_eq!(agent_0.iter().collect::<Vec<_>>(), [0, 2, 4, 6, 8]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn owned_by_endpoint(pool: &Pool, endpoint: u16) -> RoaringTreemap {
    let slots = pool.endpoints.len() as u64;
    let mut out = RoaringTreemap::new();
    for (slot, _) in pool
        .endpoints
        .iter()
        .enumerate()
        .filter(|(_, e)| **e == endpoint)
    {
        out |= stride(slot as u64, slots, pool.count);
    }
    match pool.share {
        Share::All => out,
        share => out & share.indices(pool.count),
    }
}

/// What each endpoint owns, per endpoint and pool id, given what each holds (`present[e][pool]`):
/// [`Rule::Modulo`] pools by the rule; [`Rule::Runtime`] pools what the endpoint holds of the
/// pool's share, plus the missing indices (held by none of the pool's endpoints) that the rule
/// assigns to it for creation.
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::placement::owned_given;
/// use roaring::RoaringTreemap;
/// # let sequential = Dataset::from_yaml(r#"
/// # prepare: { ensure_objects: [{ count: 10, size_spec: 1 }] }
/// # multi_endpoint: { endpoints: ["file:///a/", "file:///b/"] }
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// // `sequential` on `[file:///a/, file:///b/]`: s3dlio picks the endpoint of each object.
/// // A LIST found objects 0, 1, 2 on endpoint 0 and object 5 on endpoint 1.
/// let present = [
///     vec![RoaringTreemap::from_iter([0u64, 1, 2])],
///     vec![RoaringTreemap::from_iter([5u64])],
/// ];
/// let owned = owned_given(&sequential, &present);
/// // What each holds, plus the missing ones the rule (`i % 2`) assigns to it.
/// assert_eq!(owned[0][0].iter().collect::<Vec<_>>(), [0, 1, 2, 4, 6, 8]);
/// assert_eq!(owned[1][0].iter().collect::<Vec<_>>(), [3, 5, 7, 9]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn owned_given(dataset: &Dataset, present: &[Vec<RoaringTreemap>]) -> Vec<Vec<RoaringTreemap>> {
    let endpoints = dataset.endpoints.len();
    let mut owned = vec![vec![RoaringTreemap::new(); dataset.pool_id_limit()]; endpoints];
    for p in &dataset.pools {
        let id = p.id as usize;
        for (e, per) in owned_for_pool(p, id, endpoints, present)
            .into_iter()
            .enumerate()
        {
            owned[e][id] = per;
        }
    }
    owned
}

/// [`owned_given`] for one pool with id `id`: per endpoint.
fn owned_for_pool(
    p: &Pool,
    id: usize,
    endpoints: usize,
    present: &[Vec<RoaringTreemap>],
) -> Vec<RoaringTreemap> {
    if p.rule == Rule::Modulo {
        return (0..endpoints)
            .map(|e| owned_by_endpoint(p, e as u16))
            .collect();
    }
    let held = |e: u16| present.get(e as usize).and_then(|per| per.get(id));
    let share = p.share.indices(p.count);
    let mut union = RoaringTreemap::new();
    for &e in &p.endpoints {
        if let Some(h) = held(e) {
            union |= h & &share;
        }
    }
    let missing = &share - &union;
    let mut owned = vec![RoaringTreemap::new(); endpoints];
    for &e in &p.endpoints {
        let here = held(e).map(|h| h & &share).unwrap_or_default();
        if let Some(slot) = owned.get_mut(e as usize) {
            *slot = here | (&missing & &owned_by_endpoint(p, e));
        }
    }
    owned
}

/// How many of `0..total` fall in residue class `slot` modulo `slots`.
fn share(total: u64, slots: u64, slot: u64) -> u64 {
    if slots == 0 || slot >= slots {
        return 0;
    }
    total / slots + u64::from(total % slots > slot)
}

/// How many objects of `pool` the rule places on dataset endpoint `endpoint`.
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::placement::count_on_endpoint;
/// # let parallel = Dataset::from_yaml(r#"
/// # prepare: { prepare_strategy: parallel, ensure_objects: [{ count: 10, size_spec: 1 }] }
/// # multi_endpoint: { endpoints: ["file:///a/", "file:///b/"] }
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// # let two_agents = Dataset::from_yaml(r#"
/// # prepare: { ensure_objects: [{ base_uri: "file:///a/", count: 10, size_spec: 1 }] }
/// # distributed:
/// #   shared_filesystem: true
/// #   tree_creation_mode: coordinator
/// #   path_selection: random
/// #   agents: [{ address: "h1:7761" }, { address: "h2:7761" }]
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// // `parallel`: 10 objects, object `i` on `[file:///a/, file:///b/][i % 2]`.
/// assert_eq!(count_on_endpoint(&parallel.pools[0], 0), 5);
/// assert_eq!(count_on_endpoint(&parallel.pools[0], 1), 5);
/// // Two agents on shared storage, 10 objects on `file:///a/`: one pool per agent.
/// assert_eq!(count_on_endpoint(&two_agents.pools[1], 0), 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn count_on_endpoint(pool: &Pool, endpoint: u16) -> u64 {
    if pool.share != Share::All {
        return owned_by_endpoint(pool, endpoint).len();
    }
    let slots = pool.endpoints.len() as u64;
    pool.endpoints
        .iter()
        .enumerate()
        .filter(|&(_, &e)| e == endpoint)
        .map(|(slot, _)| share(pool.count, slots, slot as u64))
        .sum()
}

/// The endpoints of `dataset` that may hold objects of its pools: an endpoint that only
/// appears in a pool's slot list but receives none of the view's share (agent 0 of two on
/// two endpoints writes the even indices, all on endpoint 0) has no cache, no LIST and no
/// shard of this view.
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::placement::endpoints_used;
/// let yaml = r#"
/// prepare: { prepare_strategy: parallel, ensure_objects: [{ count: 10, size_spec: 1 }] }
/// distributed:
///   shared_filesystem: true
///   tree_creation_mode: coordinator
///   path_selection: random
///   agents: [{ address: "h1:7761" }, { address: "h2:7761" }]
/// multi_endpoint: { endpoints: ["file:///a/", "file:///b/"] }
/// workload: [{ op: get, path: "*", weight: 1 }]
/// "#;
/// let dataset = Dataset::from_yaml(yaml, "inline")?;
/// assert_eq!(endpoints_used(&dataset), [0, 1]);
/// // Agent 0 writes the even indices, all on `file:///a/`.
/// let agent_0 = dataset.for_agent(0)?;
/// assert_eq!(agent_0.endpoints, ["file:///a/", "file:///b/"]);
/// assert_eq!(endpoints_used(&agent_0), [0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn endpoints_used(dataset: &Dataset) -> Vec<u16> {
    (0..dataset.endpoints.len() as u16)
        .filter(|&e| {
            pools_on(dataset, e).any(|p| p.rule == Rule::Runtime || count_on_endpoint(p, e) > 0)
        })
        .collect()
}

/// How many objects of `pool` agent `agent` writes.
///
/// ```
/// use cache_sai3::dataset::Dataset;
/// use cache_sai3::placement::count_for_agent;
/// # let two_agents = Dataset::from_yaml(r#"
/// # prepare: { ensure_objects: [{ base_uri: "file:///a/", count: 10, size_spec: 1 }] }
/// # distributed:
/// #   shared_filesystem: true
/// #   tree_creation_mode: coordinator
/// #   path_selection: random
/// #   agents: [{ address: "h1:7761" }, { address: "h2:7761" }]
/// # workload: [{ op: get, path: "*", weight: 1 }]
/// # "#, "inline")?;
/// // Two agents on shared storage, 10 objects on `file:///a/`: one pool per agent.
/// let pool = &two_agents.pools[0];
/// assert_eq!(count_for_agent(pool, 0), 5);
/// assert_eq!(count_for_agent(pool, 1), 0); // pool 1 is agent 1's
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn count_for_agent(pool: &Pool, agent: u32) -> u64 {
    if pool.written_by(agent) {
        pool.share.count_of(pool.count)
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::PoolKind;
    use crate::sizes::{Fill, SizeSpec};
    use proptest::prelude::*;

    /// What [`stride`] must equal: one insert per index.
    fn naive_stride(first: u64, step: u64, count: u64) -> RoaringTreemap {
        let mut out = RoaringTreemap::new();
        let mut i = first;
        while i < count {
            out.insert(i);
            i += step;
        }
        out
    }

    #[test]
    fn stride_across_blocks_and_the_32_bit_boundary() {
        let cases = [
            (0, 4, 3 * STRIDE_BLOCK_BITS + 17),
            (3, 4, 1_000),
            (7, 193, 2 * STRIDE_BLOCK_BITS),
            (STRIDE_BLOCK_BITS - 1, 2, STRIDE_BLOCK_BITS + 5),
            ((1 << 32) - 5, 3, (1 << 32) + STRIDE_BLOCK_BITS + 9),
            (5, 7, 5),
            (0, 1, 100),
        ];
        for (first, step, count) in cases {
            assert_eq!(
                stride(first, step, count),
                naive_stride(first, step, count),
                "stride({first}, {step}, {count})"
            );
        }
    }

    proptest! {
        #[test]
        fn stride_is_every_step_th_index(first in 0u64..5_000, step in 1u64..300, count in 0u64..200_000) {
            prop_assert_eq!(stride(first, step, count), naive_stride(first, step, count));
        }
    }

    fn pool(count: u64, endpoints: Vec<u16>, share: Share, rule: Rule) -> Pool {
        Pool {
            id: 0,
            ensure_index: 0,
            kind: PoolKind::Prepared,
            count,
            size: SizeSpec::Fixed(1),
            fill: Fill::Zero,
            dedup_factor: 1,
            compress_factor: 1,
            agent: None,
            writers: vec![0],
            share,
            rule,
            size_seed_uri: "file:///x/".into(),
            endpoints,
        }
    }

    #[test]
    fn round_robin_over_the_pool_endpoints() {
        let p = pool(10, vec![2, 0, 1], Share::All, Rule::Modulo);
        let on: Vec<Option<u16>> = (0..6).map(|i| endpoint_of(&p, i)).collect();
        assert_eq!(on, [2, 0, 1, 2, 0, 1].map(Some));
        let owned: Vec<u64> = owned_by_endpoint(&p, 2).iter().collect();
        assert_eq!(owned, [0, 3, 6, 9]);
        assert_eq!(count_on_endpoint(&p, 2), 4);
        assert_eq!(count_on_endpoint(&p, 7), 0);
        let shared = pool(
            10,
            vec![0],
            Share::Modulo {
                agents: 4,
                agent: 1,
            },
            Rule::Modulo,
        );
        let owned: Vec<u64> = owned_by_endpoint(&shared, 0).iter().collect();
        assert_eq!(owned, [1, 5, 9]);
        assert_eq!(count_on_endpoint(&shared, 0), 3);
        assert!(!may_hold(&shared, 2, 0), "outside the share");
    }

    #[test]
    fn runtime_placement_is_unknown_until_listed_and_owned_by_where_it_is() {
        let p = pool(6, vec![0, 1], Share::All, Rule::Runtime);
        let d_present = vec![
            vec![RoaringTreemap::from_iter([0u64, 1, 2])],
            vec![RoaringTreemap::from_iter([2u64, 5])],
        ];
        assert_eq!(endpoint_of(&p, 1), None);
        assert!(may_hold(&p, 1, 1) && may_hold(&p, 1, 0));
        let owned = owned_given_pools(&[p], 2, &d_present);
        // 3 and 4 are missing: the rule assigns 3 to endpoint 1 and 4 to endpoint 0.
        assert_eq!(owned[0][0].iter().collect::<Vec<_>>(), [0, 1, 2, 4]);
        assert_eq!(owned[1][0].iter().collect::<Vec<_>>(), [2, 3, 5]);
    }

    /// [`owned_given`] on bare pools (ids 0..).
    fn owned_given_pools(
        pools: &[Pool],
        endpoints: usize,
        present: &[Vec<RoaringTreemap>],
    ) -> Vec<Vec<RoaringTreemap>> {
        let mut owned = vec![vec![RoaringTreemap::new(); pools.len()]; endpoints];
        for (id, p) in pools.iter().enumerate() {
            for (e, per) in owned_for_pool(p, id, endpoints, present)
                .into_iter()
                .enumerate()
            {
                owned[e][id] = per;
            }
        }
        owned
    }

    proptest! {
        #[test]
        fn every_index_has_one_endpoint_and_the_owned_sets_partition_the_share(
            count in 0u64..2_000, slots in 1usize..9, endpoints in 1u16..9,
            agents in 1u32..5, agent_pick in 0u32..5,
        ) {
            let agent = agent_pick % agents;
            let share = Share::Modulo { agents, agent };
            let p = pool(count, (0..slots).map(|s| s as u16 % endpoints).collect(), share, Rule::Modulo);
            let sets: Vec<RoaringTreemap> =
                (0..endpoints).map(|e| owned_by_endpoint(&p, e)).collect();
            prop_assert_eq!(sets.iter().map(RoaringTreemap::len).sum::<u64>(), share.count_of(count));
            for i in 0..count {
                let e = endpoint_of(&p, i);
                for (other, set) in sets.iter().enumerate() {
                    prop_assert_eq!(set.contains(i), share.contains(i) && e == Some(other as u16));
                    prop_assert_eq!(set.contains(i), may_hold(&p, i, other as u16));
                }
            }
            for (e, set) in sets.iter().enumerate() {
                prop_assert_eq!(set.len(), count_on_endpoint(&p, e as u16));
            }
        }

        #[test]
        fn agent_shares_partition_the_pool_and_differ_by_at_most_one(
            count in 0u64..5_000, agents in 1u32..17,
        ) {
            let sets: Vec<RoaringTreemap> = (0..agents)
                .map(|a| Share::Modulo { agents, agent: a }.indices(count))
                .collect();
            let mut union = RoaringTreemap::new();
            for (a, set) in sets.iter().enumerate() {
                let share = Share::Modulo { agents, agent: a as u32 };
                prop_assert!((&union & set).is_empty());
                union |= set;
                prop_assert_eq!(set.len(), share.count_of(count));
                prop_assert!(set.iter().all(|i| share.contains(i)));
            }
            prop_assert_eq!(union.len(), count);
            let max = sets.iter().map(RoaringTreemap::len).max().unwrap_or(0);
            let min = sets.iter().map(RoaringTreemap::len).min().unwrap_or(0);
            prop_assert!(max - min <= 1);
        }

        #[test]
        fn runtime_ownership_covers_the_share_and_keeps_what_is_held(
            count in 0u64..500, slots in 1u16..5, held in proptest::collection::vec(0u64..500, 0..200),
        ) {
            let p = pool(count, (0..slots).collect(), Share::All, Rule::Runtime);
            let present: Vec<Vec<RoaringTreemap>> = (0..slots)
                .map(|e| vec![held.iter().copied().filter(|i| i % u64::from(slots) == u64::from(e) || i % 7 == 0).collect()])
                .collect();
            let owned = owned_given_pools(std::slice::from_ref(&p), slots as usize, &present);
            let mut union = RoaringTreemap::new();
            for (e, per) in owned.iter().enumerate() {
                let kept = &present[e][0] & &Share::All.indices(count);
                prop_assert!(kept.is_subset(&per[0]));
                union |= &per[0];
            }
            prop_assert_eq!(union, Share::All.indices(count));
        }
    }
}
