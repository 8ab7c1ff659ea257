//! Placement: which endpoint and which agent an object belongs to, and the set of objects an
//! endpoint or an agent owns. The one place these rules live; prepare, verify, plan and lookup
//! call it.
//!
//! The rules follow sai3-bench's prepare: object `i` of a pool lives on the pool's endpoint
//! `endpoints[i % N]` (whatever the `multi_endpoint.strategy`, which only steers workload I/O),
//! and is worked on by agent `i % agents`. Both are pure functions of the index: nothing about
//! placement is stored.
//!
//! ```
//! use cache_sai3::dataset::Dataset;
//! use cache_sai3::placement;
//! let yaml = "multi_endpoint:\n  endpoints: [\"file:///a/\", \"file:///b/\"]\n\
//!             prepare:\n  ensure_objects:\n    - { count: 10, size: 1 }\n";
//! let d = Dataset::from_config(&serde_norway::from_str(yaml)?, "x.yaml".as_ref())?;
//! let pool = &d.pools[0];
//! assert_eq!(placement::endpoint_of(pool, 7), 1);
//! assert_eq!(placement::owned_by_endpoint(pool, 0).len(), 5);
//! let uri = placement::locate(&d, 0, 7).map(|l| l.uri);
//! assert_eq!(uri.as_deref(), Some("file:///b/prepared-00000007.dat"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, Pool};

/// Where one object is and who works on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Pool id.
    pub pool: u16,
    /// Index within the pool.
    pub index: u64,
    /// Index into [`Dataset::endpoints`].
    pub endpoint: u16,
    /// Path relative to the endpoint.
    pub path: String,
    /// Full URI (endpoint + path).
    pub uri: String,
    /// Agent (0-based).
    pub agent: u32,
}

/// The dataset-wide endpoint number of object `index` of `pool`.
pub fn endpoint_of(pool: &Pool, index: u64) -> u16 {
    let slots = pool.endpoints.len().max(1) as u64;
    pool.endpoints
        .get((index % slots) as usize)
        .copied()
        .unwrap_or(0)
}

/// The agent (0-based) that works on object `index` of a dataset with `agents` agents.
pub fn agent_of(agents: u32, index: u64) -> u32 {
    (index % u64::from(agents.max(1))) as u32
}

/// Everything about object `index` of pool `pool`, or `None` past the pool's end.
pub fn locate(dataset: &Dataset, pool: u16, index: u64) -> Option<Location> {
    let p = dataset.pool(pool)?;
    let path = dataset.path_of(p, index)?;
    let endpoint = endpoint_of(p, index);
    let uri = format!("{}{}", dataset.endpoints.get(endpoint as usize)?, path);
    Some(Location {
        pool,
        index,
        endpoint,
        uri,
        path,
        agent: agent_of(dataset.agents, index),
    })
}

/// The pools that place objects on dataset endpoint `endpoint`.
pub fn pools_on(dataset: &Dataset, endpoint: u16) -> impl Iterator<Item = &Pool> {
    dataset
        .pools
        .iter()
        .filter(move |p| p.endpoints.contains(&endpoint))
}

/// The indices `first, first + step, ...` below `count`.
fn stride(first: u64, step: u64, count: u64) -> RoaringTreemap {
    let mut out = RoaringTreemap::new();
    if first >= count {
        return out;
    }
    if step == 1 {
        out.insert_range(first..count);
    } else {
        let last = first + (count - 1 - first) / step * step;
        out.extend((first..=last).step_by(step as usize));
    }
    out
}

/// The indices of `pool` that live on dataset endpoint `endpoint`.
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
    out
}

/// The indices of `pool` that agent `agent` of `agents` works on.
pub fn owned_by_agent(pool: &Pool, agents: u32, agent: u32) -> RoaringTreemap {
    stride(u64::from(agent), u64::from(agents.max(1)), pool.count)
}

/// How many of `0..total` fall in residue class `slot` modulo `slots`.
fn share(total: u64, slots: u64, slot: u64) -> u64 {
    if slots == 0 || slot >= slots {
        return 0;
    }
    total / slots + u64::from(total % slots > slot)
}

/// How many objects of `pool` live on dataset endpoint `endpoint`.
pub fn count_on_endpoint(pool: &Pool, endpoint: u16) -> u64 {
    let slots = pool.endpoints.len() as u64;
    pool.endpoints
        .iter()
        .enumerate()
        .filter(|&(_, &e)| e == endpoint)
        .map(|(slot, _)| share(pool.count, slots, slot as u64))
        .sum()
}

/// How many objects of `pool` agent `agent` of `agents` works on.
pub fn count_for_agent(pool: &Pool, agents: u32, agent: u32) -> u64 {
    share(pool.count, u64::from(agents.max(1)), u64::from(agent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::PoolKind;
    use crate::sizes::{Fill, SizeSpec};
    use proptest::prelude::*;

    fn pool(count: u64, endpoints: Vec<u16>) -> Pool {
        Pool {
            id: 0,
            ensure_index: 0,
            kind: PoolKind::Prepared,
            count,
            size: SizeSpec::Fixed(1),
            fill: Fill::Zero,
            dedup_factor: 1,
            compress_factor: 1,
            endpoints,
        }
    }

    #[test]
    fn round_robin_over_the_pool_endpoints() {
        let p = pool(10, vec![2, 0, 1]);
        let on: Vec<u16> = (0..6).map(|i| endpoint_of(&p, i)).collect();
        assert_eq!(on, [2, 0, 1, 2, 0, 1]);
        assert_eq!(
            owned_by_endpoint(&p, 2).iter().collect::<Vec<_>>(),
            [0, 3, 6, 9]
        );
        assert_eq!(count_on_endpoint(&p, 2), 4);
        assert_eq!(count_on_endpoint(&p, 7), 0);
        assert_eq!(
            owned_by_agent(&p, 4, 1).iter().collect::<Vec<_>>(),
            [1, 5, 9]
        );
        assert_eq!(agent_of(4, 9), 1);
    }

    proptest! {
        #[test]
        fn every_index_has_one_endpoint_and_the_owned_sets_partition_the_pool(
            count in 0u64..2_000, slots in 1usize..9, endpoints in 1u16..9,
        ) {
            let p = pool(count, (0..slots).map(|s| s as u16 % endpoints).collect());
            let sets: Vec<RoaringTreemap> =
                (0..endpoints).map(|e| owned_by_endpoint(&p, e)).collect();
            prop_assert_eq!(sets.iter().map(RoaringTreemap::len).sum::<u64>(), count);
            for i in 0..count {
                let e = endpoint_of(&p, i);
                for (other, set) in sets.iter().enumerate() {
                    prop_assert_eq!(set.contains(i), other == e as usize);
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
            let p = pool(count, vec![0]);
            let sets: Vec<RoaringTreemap> = (0..agents).map(|a| owned_by_agent(&p, agents, a)).collect();
            let mut union = RoaringTreemap::new();
            for (a, set) in sets.iter().enumerate() {
                prop_assert!((&union & set).is_empty());
                union |= set;
                prop_assert_eq!(set.len(), count_for_agent(&p, agents, a as u32));
                prop_assert!(set.iter().all(|i| agent_of(agents, i) == a as u32));
            }
            prop_assert_eq!(union.len(), count);
            let max = sets.iter().map(RoaringTreemap::len).max().unwrap_or(0);
            let min = sets.iter().map(RoaringTreemap::len).min().unwrap_or(0);
            prop_assert!(max - min <= 1);
        }
    }
}
