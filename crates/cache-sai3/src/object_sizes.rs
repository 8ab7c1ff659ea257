//! The size of every object of a dataset, per pool, exactly as sai3-bench draws it
//! ([`crate::sizes`]): the generator is seeded from the pool's
//! [`size_seed_uri`](crate::dataset::Pool::size_seed_uri) and drawn once per index in order.
//!
//! A pool's table is built on first use (one pass over its indices; nothing for fixed sizes)
//! and shared by every endpoint of a run. sai3-bench's `sequential` strategy draws 100 extra
//! lognormal sizes when it runs with `-v` (its log line describes the generator by sampling
//! it), so for such pools an object of either sequence is accepted as present: which one
//! sai3-bench used cannot be known from the config. sai3-cache writes the first.
//!
//! ```
//! use cache_sai3::dataset::Dataset;
//! use cache_sai3::object_sizes::DatasetSizes;
//! let yaml = "prepare:\n  ensure_objects:\n    - { base_uri: \"file:///d/\", count: 4, size_spec: 100 }\nworkload: []\n";
//! let d = Dataset::from_config(&serde_norway::from_str(yaml)?, "x.yaml".as_ref())?;
//! let sizes = DatasetSizes::new(&d);
//! assert_eq!(sizes.of(&d.pools[0])?.size_of(3), Some(100));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::OnceLock;

use crate::dataset::{Dataset, Pool, PrepareStrategy};
use crate::error::{ConfigError, Result, Sai3Error};
use crate::sizes::{SizeCursor, SizeTable, seed_of};

/// The sizes of one pool: the sequence sai3-cache writes and, where sai3-bench may have used
/// another one, that one too.
///
/// ```
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::object_sizes::{DatasetSizes, PoolSizes};
/// # let yaml = "prepare:\n  ensure_objects:\n    - { base_uri: \"file:///d/\", count: 4, size_spec: 100 }\nworkload: []\n";
/// # let d = Dataset::from_yaml(yaml, "inline")?;
/// let sizes = PoolSizes::for_pool(&d, &d.pools[0])?;
/// assert_eq!(sizes.size_of(0), Some(100));
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// ```
pub struct PoolSizes {
    written: SizeTable,
    alternative: Option<SizeTable>,
}

impl PoolSizes {
    fn build(dataset: &Dataset, pool: &Pool) -> std::result::Result<Self, String> {
        let seed = seed_of(&pool.size_seed_uri);
        let written = SizeTable::build(&pool.size, seed, pool.count).map_err(|e| e.to_string())?;
        let skip = pool.size.description_draws();
        let alternative = (dataset.prepare_strategy == PrepareStrategy::Sequential && skip > 0)
            .then(|| SizeTable::build_with_skip(&pool.size, seed, pool.count, skip))
            .transpose()
            .map_err(|e| e.to_string())?;
        Ok(PoolSizes {
            written,
            alternative,
        })
    }

    /// The size sai3-cache writes for `index` (`None` past the pool's end). Replays up to
    /// 2^16 draws: for many indices use [`PoolSizes::checker`].
    ///
    /// ```
    /// # use cache_sai3::dataset::Dataset;
    /// # use cache_sai3::object_sizes::{DatasetSizes, PoolSizes};
    /// # let yaml = "prepare:\n  ensure_objects:\n    - { base_uri: \"file:///d/\", count: 4, size_spec: 100 }\nworkload: []\n";
    /// # let d = Dataset::from_yaml(yaml, "inline")?;
    /// let sizes = PoolSizes::for_pool(&d, &d.pools[0])?;
    /// assert_eq!(sizes.size_of(3), Some(100));
    /// assert_eq!(sizes.size_of(4), None); // past the pool's 4 objects
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// ```
    pub fn size_of(&self, index: u64) -> Option<u64> {
        self.written.size_of(index)
    }

    /// A checker for many indices, cheapest in ascending order.
    ///
    /// ```
    /// # use cache_sai3::dataset::Dataset;
    /// # use cache_sai3::object_sizes::{DatasetSizes, PoolSizes};
    /// # let yaml = "prepare:\n  ensure_objects:\n    - { base_uri: \"file:///d/\", count: 4, size_spec: 100 }\nworkload: []\n";
    /// # let d = Dataset::from_yaml(yaml, "inline")?;
    /// let sizes = PoolSizes::for_pool(&d, &d.pools[0])?;
    /// let mut check = sizes.checker();
    /// assert!((0..4).all(|i| check.accepts(i, 100)));
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// ```
    pub fn checker(&self) -> SizeChecker<'_> {
        SizeChecker {
            written: self.written.cursor(),
            alternative: self.alternative.as_ref().map(SizeTable::cursor),
        }
    }
}

/// Checks sizes of a pool's objects, index by index (cheapest in ascending order).
///
/// ```
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::object_sizes::{DatasetSizes, PoolSizes};
/// # let yaml = "prepare:\n  ensure_objects:\n    - { base_uri: \"file:///d/\", count: 4, size_spec: 100 }\nworkload: []\n";
/// # let d = Dataset::from_yaml(yaml, "inline")?;
/// let sizes = PoolSizes::for_pool(&d, &d.pools[0])?;
/// let mut check = sizes.checker();
/// assert_eq!(check.size_of(1), Some(100));
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// ```
pub struct SizeChecker<'a> {
    written: SizeCursor<'a>,
    alternative: Option<SizeCursor<'a>>,
}

impl SizeChecker<'_> {
    /// The size sai3-cache writes for `index`.
    ///
    /// ```
    /// # use cache_sai3::dataset::Dataset;
    /// # use cache_sai3::object_sizes::{DatasetSizes, PoolSizes};
    /// # let yaml = "prepare:\n  ensure_objects:\n    - { base_uri: \"file:///d/\", count: 4, size_spec: 100 }\nworkload: []\n";
    /// # let d = Dataset::from_yaml(yaml, "inline")?;
    /// let sizes = PoolSizes::for_pool(&d, &d.pools[0])?;
    /// let mut check = sizes.checker();
    /// assert_eq!((check.size_of(0), check.size_of(3)), (Some(100), Some(100)));
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// ```
    pub fn size_of(&mut self, index: u64) -> Option<u64> {
        self.written.size_of(index)
    }

    /// True when an object of `size` at `index` is one sai3-bench (or sai3-cache) wrote.
    ///
    /// ```
    /// # use cache_sai3::dataset::Dataset;
    /// # use cache_sai3::object_sizes::{DatasetSizes, PoolSizes};
    /// # let yaml = "prepare:\n  ensure_objects:\n    - { base_uri: \"file:///d/\", count: 4, size_spec: 100 }\nworkload: []\n";
    /// # let d = Dataset::from_yaml(yaml, "inline")?;
    /// let sizes = PoolSizes::for_pool(&d, &d.pools[0])?;
    /// let mut check = sizes.checker();
    /// assert!(check.accepts(2, 100));
    /// assert!(!check.accepts(2, 99)); // a size sai3-bench never wrote there
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// ```
    pub fn accepts(&mut self, index: u64, size: u64) -> bool {
        self.written.size_of(index) == Some(size)
            || self
                .alternative
                .as_mut()
                .is_some_and(|c| c.size_of(index) == Some(size))
    }
}

/// The size tables of a dataset's pools, built on first use.
///
/// ```
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::object_sizes::{DatasetSizes, PoolSizes};
/// # let yaml = "prepare:\n  ensure_objects:\n    - { base_uri: \"file:///d/\", count: 4, size_spec: 100 }\nworkload: []\n";
/// # let d = Dataset::from_yaml(yaml, "inline")?;
/// let sizes = DatasetSizes::new(&d);
/// assert_eq!(sizes.of(&d.pools[0])?.size_of(0), Some(100));
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// ```
pub struct DatasetSizes<'a> {
    dataset: &'a Dataset,
    pools: Vec<OnceLock<std::result::Result<PoolSizes, String>>>,
}

impl<'a> DatasetSizes<'a> {
    /// Empty tables for `dataset` (nothing is drawn yet).
    ///
    /// ```
    /// # use cache_sai3::dataset::Dataset;
    /// # use cache_sai3::object_sizes::{DatasetSizes, PoolSizes};
    /// # let yaml = "prepare:\n  ensure_objects:\n    - { base_uri: \"file:///d/\", count: 4, size_spec: 100 }\nworkload: []\n";
    /// # let d = Dataset::from_yaml(yaml, "inline")?;
    /// let sizes = DatasetSizes::new(&d); // draws nothing yet
    /// assert_eq!(sizes.of(&d.pools[0])?.size_of(2), Some(100));
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// ```
    pub fn new(dataset: &'a Dataset) -> Self {
        DatasetSizes {
            dataset,
            pools: (0..dataset.pool_id_limit())
                .map(|_| OnceLock::new())
                .collect(),
        }
    }

    /// The sizes of `pool`, built now if they were not.
    ///
    /// # Errors
    /// A size spec sai3-bench would refuse when it builds its generator (the message names
    /// the pool's `ensure_objects` entry).
    ///
    /// ```
    /// # use cache_sai3::dataset::Dataset;
    /// # use cache_sai3::object_sizes::{DatasetSizes, PoolSizes};
    /// # let yaml = "prepare:\n  ensure_objects:\n    - { base_uri: \"file:///d/\", count: 4, size_spec: 100 }\nworkload: []\n";
    /// # let d = Dataset::from_yaml(yaml, "inline")?;
    /// let sizes = DatasetSizes::new(&d);
    /// let first = sizes.of(&d.pools[0])?;
    /// assert!(std::ptr::eq(first, sizes.of(&d.pools[0])?)); // built once
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// ```
    pub fn of(&self, pool: &Pool) -> Result<&PoolSizes> {
        let slot = self
            .pools
            .get(pool.id as usize)
            .ok_or_else(|| Sai3Error::Endpoint {
                endpoint: "(sizes)".into(),
                reason: format!("pool {} is not a pool of this dataset", pool.id),
            })?;
        slot.get_or_init(|| PoolSizes::build(self.dataset, pool))
            .as_ref()
            .map_err(|reason| refused(pool, reason))
    }
}

/// A size spec sai3-bench would refuse, named by its `ensure_objects` entry.
fn refused(pool: &Pool, reason: &str) -> Sai3Error {
    let field = format!("prepare.ensure_objects[{}].size_spec", pool.ensure_index);
    Sai3Error::Config {
        path: "(config)".into(),
        error: ConfigError::field(field, reason.to_owned()),
    }
}

impl PoolSizes {
    /// The sizes of `pool` of `dataset`, built now (for one pool outside a [`DatasetSizes`]).
    ///
    /// # Errors
    /// A size spec sai3-bench would refuse when it builds its generator.
    ///
    /// ```
    /// # use cache_sai3::dataset::Dataset;
    /// # use cache_sai3::object_sizes::{DatasetSizes, PoolSizes};
    /// # let yaml = "prepare:\n  ensure_objects:\n    - { base_uri: \"file:///d/\", count: 4, size_spec: 100 }\nworkload: []\n";
    /// # let d = Dataset::from_yaml(yaml, "inline")?;
    /// let sizes = PoolSizes::for_pool(&d, &d.pools[0])?;
    /// assert_eq!(sizes.size_of(1), Some(100));
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// ```
    pub fn for_pool(dataset: &Dataset, pool: &Pool) -> Result<PoolSizes> {
        PoolSizes::build(dataset, pool).map_err(|reason| refused(pool, &reason))
    }
}
