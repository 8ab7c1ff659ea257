//! Step 3: the ledger follows what a LIST or cached listing found (found objects become
//! present, vanished ones `Deleted` exceptions) and what a resume found written of the objects
//! in flight when the last run was interrupted, and what is missing is computed.

use roaring::RoaringTreemap;

use cache_core::{Database, Durability};

use super::learn::Knowledge;
use crate::blocking::off_worker;
use crate::caches::LedgerWriter;
use crate::dataset::Dataset;
use crate::error::Result;
use crate::object_sizes::DatasetSizes;

/// What the endpoint holds of what it owns.
pub(super) struct Found {
    /// Owned objects present.
    pub already_present: u64,
    /// Owned objects missing.
    pub missing: Missing,
}

/// Owned objects missing, per pool: bitmaps, iterated in pool and index order and never
/// materialized per object (a first prepare of 64M objects would need 1 GiB as pairs).
#[derive(Debug, Default)]
pub(super) struct Missing(Vec<(u16, RoaringTreemap)>);

impl Missing {
    /// How many.
    pub fn len(&self) -> u64 {
        self.0.iter().map(|(_, m)| m.len()).sum()
    }

    /// True when nothing is missing.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|(_, m)| m.is_empty())
    }

    /// Every missing object as (pool, index), in pool and index order.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.0
            .iter()
            .flat_map(|(p, m)| m.iter().map(move |i| (*p, i)))
    }
}

/// Reconciles the ledger (when there is one) with `known` and returns what is present and
/// missing of `owned` (per pool id).
///
/// # Errors
/// Ledger writes.
pub(super) fn reconcile<D: Database>(
    mut writer: Option<&mut LedgerWriter<'_, D>>,
    dataset: &Dataset,
    owned: &[RoaringTreemap],
    known: &Knowledge,
    sizes: &DatasetSizes<'_>,
    now_ms: u64,
) -> Result<Found> {
    let mut found = Found {
        already_present: 0,
        missing: Missing::default(),
    };
    for p in dataset
        .pools
        .iter()
        .filter(|p| !owned[p.id as usize].is_empty())
    {
        let id = p.id as usize;
        let here = &known.listing.present[id] & &owned[id];
        found.already_present += here.len();
        if let Some(w) = writer.as_deref_mut().filter(|_| known.changes_ledger()) {
            let found = &here - w.present(p.id);
            let vanished = w.present(p.id) - &here;
            let mut sizes = sizes.of(p)?.checker();
            for i in &found {
                w.created(p.id, i, now_ms)?;
            }
            for i in &vanished {
                let size = sizes.size_of(i).unwrap_or(0);
                w.deleted(p.id, i, size, now_ms)?;
            }
        }
        if let (Some(w), Some(found)) = (writer.as_deref_mut(), known.in_flight_found.get(id)) {
            for i in &(found & &here) {
                w.created(p.id, i, now_ms)?;
            }
        }
        found.missing.0.push((p.id, &owned[id] - &here));
    }
    if let Some(w) = writer.filter(|w| w.pending() > 0) {
        off_worker(|| w.checkpoint(Durability::Flushed))?;
    }
    Ok(found)
}
