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
    pub fn contains(self, i: u64) -> bool {
        match self {
            Share::All => true,
            Share::Modulo { agents, agent } => i % u64::from(agents.max(1)) == u64::from(agent),
        }
    }

    /// How many of `0..count` the share holds.
    pub fn count_of(self, count: u64) -> u64 {
        match self {
            Share::All => count,
            Share::Modulo { agents, agent } => {
                share(count, u64::from(agents.max(1)), u64::from(agent))
            }
        }
    }

    /// The indices of `0..count` the share holds.
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
pub fn rule_endpoint(pool: &Pool, index: u64) -> u16 {
    let slots = pool.endpoints.len().max(1) as u64;
    pool.endpoints
        .get((index % slots) as usize)
        .copied()
        .unwrap_or(0)
}

/// The endpoint that holds object `index` of `pool` by rule, or `None` when it is chosen at
/// run time ([`Rule::Runtime`]: only a LIST tells).
pub fn endpoint_of(pool: &Pool, index: u64) -> Option<u16> {
    match pool.rule {
        Rule::Modulo => Some(rule_endpoint(pool, index)),
        Rule::Runtime => None,
    }
}

/// True when dataset endpoint `endpoint` may hold object `index` of `pool`: the index is in the
/// pool's share, and the endpoint is the rule's ([`Rule::Modulo`]) or any slot ([`Rule::Runtime`]).
pub fn may_hold(pool: &Pool, index: u64, endpoint: u16) -> bool {
    pool.share.contains(index)
        && match pool.rule {
            Rule::Modulo => rule_endpoint(pool, index) == endpoint,
            Rule::Runtime => pool.endpoints.contains(&endpoint),
        }
}

/// The agent that writes `pool` (0 without agents).
pub fn agent_of(pool: &Pool) -> u32 {
    pool.agent.unwrap_or(0)
}

/// Everything about object `index` of pool `pool`, or `None` when the pool does not hold it
/// (past its end, or outside its agent's share).
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
pub fn endpoints_used(dataset: &Dataset) -> Vec<u16> {
    (0..dataset.endpoints.len() as u16)
        .filter(|&e| {
            pools_on(dataset, e).any(|p| p.rule == Rule::Runtime || count_on_endpoint(p, e) > 0)
        })
        .collect()
}

/// How many objects of `pool` agent `agent` writes.
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
