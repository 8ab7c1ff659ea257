//! Listing an endpoint: what a LIST (or the listing cache) knows of its keys, how the key
//! space is cut into ranges, and how keys are classified. Prepare and verify share all three.
//!
//! A LIST reads the endpoint's top level with a delimiter, then lists each top-level prefix
//! recursively, several at a time (a tree's level-1 directories are natural split points).
//! Objects directly at the root are classified from the delimiter listing itself. Only keys
//! that are exactly the name of an object this endpoint owns, with the size that object must
//! have, count as present; the cache's own `sai3-kv-cache/` is never listed; every other key is
//! kept as "other" for the report.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! # use std::sync::Arc;
//! # use object_store::{ObjectStore, ObjectStoreExt, memory::InMemory, path::Path};
//! # let tmp = tempfile::tempdir()?;
//! # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
//! # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
//! # let sizes = cache_sai3::object_sizes::DatasetSizes::new(&dataset);
//! # let memory = InMemory::new();
//! # for (i, size) in [(0, 64), (2, 64), (4, 3)] {
//! #     let path = dataset.path_of(&dataset.pools[0], i).expect("an object");
//! #     memory.put(&Path::from(path), vec![0u8; size].into()).await?;
//! # }
//! # memory.put(&Path::from("notes.txt"), vec![1u8].into()).await?;
//! # let store: Arc<dyn ObjectStore> = Arc::new(memory);
//! use cache_sai3::listing::{Checkpoints, ListCounters, ListProgress, list_endpoint};
//! // In the store: objects 0 and 2 of endpoint 0 (the even indices), object 4 with a
//! // wrong size, and notes.txt, which is no object of the dataset.
//! let save = |_: &ListProgress| -> cache_sai3::Result<()> { Ok(()) };
//! let checkpoints = Checkpoints { resume: None, ordered: true, started_ms: 0, save: &save };
//! let counters = ListCounters::default();
//! let listed = list_endpoint(store, &dataset, 0, &sizes, checkpoints, &counters).await?;
//! assert_eq!(listed.listing.present[0].iter().collect::<Vec<_>>(), [0, 2]);
//! assert_eq!(listed.listing.wrong_size, 1);
//! assert_eq!(listed.listing.other_key_samples, ["notes.txt"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectMeta, ObjectStore};
use roaring::RoaringTreemap;

use crate::dataset::{Dataset, Pool};
use crate::error::{Result, Sai3Error};
use crate::object_sizes::DatasetSizes;
use crate::placement;
use crate::scheme::ENDPOINT_CACHE_DIR;

/// Top-level prefixes listed at the same time.
///
/// ```
/// use cache_sai3::listing::LIST_CONCURRENCY;
/// assert_eq!(LIST_CONCURRENCY, 8); // a tree of width 8 or more lists 8 prefixes at once
/// ```
pub const LIST_CONCURRENCY: usize = 8;

/// Keys merged between checkpoints of an ordered range (at least; see
/// [`CHECKPOINT_INTERVAL`]).
pub(crate) const CHECKPOINT_KEYS: u64 = 20_000;

/// Least time between checkpoints inside ranges. A checkpoint saves the whole progress, which
/// grows with the keys listed: spacing them in time keeps their total cost proportional to the
/// LIST's duration (at 64M keys, tens of checkpoints instead of thousands), while a kill loses
/// at most this much listing.
pub(crate) const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// What is known of an endpoint's keys, from a LIST or from the listing cache.
///
/// ```
/// use cache_sai3::listing::Listing;
/// let mut listing = Listing::empty(2);
/// listing.present[1].insert(7);
/// listing.listed += 1;
/// assert_eq!(listing.present.iter().map(|p| p.len()).sum::<u64>(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    /// Per pool id: indices present with the expected size.
    pub present: Vec<RoaringTreemap>,
    /// Objects of the dataset found with a wrong size (to be rewritten).
    pub wrong_size: u64,
    /// Keys that are not objects of the dataset.
    pub other_keys: u64,
    /// Some of them, at most `OTHER_KEY_SAMPLES` (16; sorted): a bucket shared with millions of
    /// other objects costs no memory per key.
    pub other_key_samples: Vec<String>,
    /// Keys listed in all.
    pub listed: u64,
}

/// Other keys a listing keeps as examples.
pub(crate) const OTHER_KEY_SAMPLES: usize = 16;

/// Adds `more` samples to `samples`, keeping at most [`OTHER_KEY_SAMPLES`].
fn add_samples(samples: &mut Vec<String>, more: &mut Vec<String>) {
    let room = OTHER_KEY_SAMPLES.saturating_sub(samples.len());
    samples.extend(more.drain(..).take(room));
    more.clear();
}

impl Listing {
    /// An empty listing of a dataset with `pools` pools.
    ///
    /// ```
    /// use cache_sai3::listing::Listing;
    /// let listing = Listing::empty(3);
    /// assert_eq!(listing.present.len(), 3);
    /// assert!(listing.present.iter().all(|p| p.is_empty()));
    /// assert_eq!((listing.listed, listing.other_keys), (0, 0));
    /// ```
    pub fn empty(pools: usize) -> Self {
        Listing {
            present: vec![RoaringTreemap::new(); pools],
            ..Listing::default()
        }
    }

    fn merge(&mut self, mut other: Listing) {
        for (mine, theirs) in self.present.iter_mut().zip(&other.present) {
            *mine |= theirs;
        }
        self.wrong_size += other.wrong_size;
        self.other_keys += other.other_keys;
        add_samples(&mut self.other_key_samples, &mut other.other_key_samples);
        self.listed += other.listed;
    }
}

/// Progress of a LIST, checkpointed in the listing cache so that an interrupted LIST resumes:
/// finished ranges are skipped, and ranges of object stores (which list in key order) continue
/// after the last key seen (`list_with_offset`, i.e. start-after). Ranges of local endpoints,
/// whose listing order is not defined, restart when they were not finished.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # use std::sync::Arc;
/// # use object_store::{ObjectStore, ObjectStoreExt, memory::InMemory, path::Path};
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
/// # let sizes = cache_sai3::object_sizes::DatasetSizes::new(&dataset);
/// # let memory = InMemory::new();
/// # for (i, size) in [(0, 64), (2, 64), (4, 3)] {
/// #     let path = dataset.path_of(&dataset.pools[0], i).expect("an object");
/// #     memory.put(&Path::from(path), vec![0u8; size].into()).await?;
/// # }
/// # memory.put(&Path::from("notes.txt"), vec![1u8].into()).await?;
/// # let store: Arc<dyn ObjectStore> = Arc::new(memory);
/// use cache_sai3::listing::{Checkpoints, ListCounters, ListProgress, list_endpoint};
/// let last = std::sync::Mutex::new(None);
/// let save = |p: &ListProgress| -> cache_sai3::Result<()> {
///     *last.lock().expect("lock") = Some(p.clone());
///     Ok(())
/// };
/// let checkpoints = Checkpoints { resume: None, ordered: true, started_ms: 7, save: &save };
/// list_endpoint(store, &dataset, 0, &sizes, checkpoints, &ListCounters::default()).await?;
/// let progress = last.lock().expect("lock").take().expect("saved as ranges finished");
/// assert!(progress.done.contains("")); // the root
/// assert_eq!(progress.started_ms, 7);
/// assert_eq!(progress.listing.present[0].len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListProgress {
    /// What was found so far.
    pub listing: Listing,
    /// When the LIST started (ms).
    pub started_ms: u64,
    /// Finished ranges by name: their top-level prefix (`""` is the endpoint root).
    pub done: BTreeSet<String>,
    /// Last key merged per unfinished range (ordered stores only).
    pub offsets: BTreeMap<String, String>,
}

/// A LIST's result.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # use std::sync::Arc;
/// # use object_store::{ObjectStore, ObjectStoreExt, memory::InMemory, path::Path};
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
/// # let sizes = cache_sai3::object_sizes::DatasetSizes::new(&dataset);
/// # let memory = InMemory::new();
/// # for (i, size) in [(0, 64), (2, 64), (4, 3)] {
/// #     let path = dataset.path_of(&dataset.pools[0], i).expect("an object");
/// #     memory.put(&Path::from(path), vec![0u8; size].into()).await?;
/// # }
/// # memory.put(&Path::from("notes.txt"), vec![1u8].into()).await?;
/// # let store: Arc<dyn ObjectStore> = Arc::new(memory);
/// use cache_sai3::listing::{Checkpoints, ListCounters, ListProgress, list_endpoint};
/// let save = |_: &ListProgress| -> cache_sai3::Result<()> { Ok(()) };
/// let checkpoints = Checkpoints { resume: None, ordered: true, started_ms: 0, save: &save };
/// let listed = list_endpoint(store, &dataset, 0, &sizes, checkpoints, &ListCounters::default())
///     .await?;
/// assert_eq!((listed.keys_read, listed.resumed_ranges), (4, 0));
/// assert_eq!(listed.listing.listed, 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Listed {
    /// What it found.
    pub listing: Listing,
    /// Ranges skipped because an interrupted LIST had finished them.
    pub resumed_ranges: u64,
    /// Keys this LIST read itself (not those of the interrupted LIST it resumed).
    pub keys_read: u64,
}

/// How far LISTs in flight are, read by the caller while they run (a progress display).
/// Several LISTs may share one (their counts add up).
///
/// ```
/// use cache_sai3::listing::ListCounters;
/// use std::sync::atomic::Ordering;
/// let counters = ListCounters::default();
/// counters.keys.fetch_add(1_000, Ordering::Relaxed); // as a LIST does
/// assert_eq!(counters.keys.load(Ordering::Relaxed), 1_000);
/// ```
#[derive(Debug, Default)]
pub struct ListCounters {
    /// Keys read so far.
    pub keys: AtomicU64,
    /// Ranges to list, known once the top level is read (finished ones of a resumed LIST
    /// included).
    pub ranges_total: AtomicU64,
    /// Ranges finished (those of a resumed LIST included).
    pub ranges_done: AtomicU64,
}

impl ListCounters {
    /// `(keys read, ranges done, ranges total)` now.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// # use std::sync::Arc;
    /// # use object_store::{ObjectStore, ObjectStoreExt, memory::InMemory, path::Path};
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// # let sizes = cache_sai3::object_sizes::DatasetSizes::new(&dataset);
    /// # let memory = InMemory::new();
    /// # for (i, size) in [(0, 64), (2, 64), (4, 3)] {
    /// #     let path = dataset.path_of(&dataset.pools[0], i).expect("an object");
    /// #     memory.put(&Path::from(path), vec![0u8; size].into()).await?;
    /// # }
    /// # memory.put(&Path::from("notes.txt"), vec![1u8].into()).await?;
    /// # let store: Arc<dyn ObjectStore> = Arc::new(memory);
    /// use cache_sai3::listing::{Checkpoints, ListCounters, ListProgress, list_endpoint};
    /// let counters = ListCounters::default();
    /// assert_eq!(counters.snapshot(), [0, 0, 0]);
    /// let save = |_: &ListProgress| -> cache_sai3::Result<()> { Ok(()) };
    /// let checkpoints = Checkpoints { resume: None, ordered: true, started_ms: 0, save: &save };
    /// list_endpoint(store, &dataset, 0, &sizes, checkpoints, &counters).await?;
    /// let [keys, done, total] = counters.snapshot();
    /// assert_eq!(keys, 4);
    /// assert!(done == total && total >= 2, "the root and at least one prefix");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn snapshot(&self) -> [u64; 3] {
        [
            self.keys.load(Ordering::Relaxed),
            self.ranges_done.load(Ordering::Relaxed),
            self.ranges_total.load(Ordering::Relaxed),
        ]
    }
}

/// One part of an endpoint's key space, listed on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Range {
    /// The objects directly at the root (known from the delimiter listing).
    Root,
    /// Everything under one top-level prefix.
    Prefix(StorePath),
    /// The whole endpoint (a flat unsharded dataset: streamed, never one delimiter listing).
    Whole,
}

impl Range {
    /// The name progress and samples use: the prefix, or `""` for the root and the whole.
    pub(crate) fn name(&self) -> String {
        match self {
            Range::Prefix(p) => p.to_string(),
            Range::Root | Range::Whole => String::new(),
        }
    }

    /// The range that holds the object at `path`.
    pub(crate) fn name_of(path: &str) -> &str {
        path.split_once('/').map_or("", |(first, _)| first)
    }
}

/// The key space of an endpoint cut into ranges.
#[derive(Debug, Clone)]
pub(crate) struct Ranges {
    /// The ranges (the root range first when there is one).
    pub ranges: Vec<Range>,
    /// The objects at the root, from the delimiter listing.
    pub root_objects: Vec<ObjectMeta>,
}

fn list_failed(uri: &str, e: object_store::Error) -> Sai3Error {
    Sai3Error::Endpoint {
        endpoint: uri.to_owned(),
        reason: format!("LIST failed: {e}{}", crate::store::hint(&e)),
    }
}

/// Cuts the key space of `store` into ranges: with a tree or key-prefix shards, the top-level
/// prefixes (one delimiter LIST finds them), plus the root when objects lie there; a flat
/// unsharded dataset is one range, the whole endpoint.
///
/// # Errors
/// [`Sai3Error::Endpoint`] when the delimiter LIST fails.
pub(crate) async fn discover(
    store: &dyn ObjectStore,
    dataset: &Dataset,
    uri: &str,
) -> Result<Ranges> {
    if !segmented(dataset) {
        return Ok(Ranges {
            ranges: vec![Range::Whole],
            root_objects: Vec::new(),
        });
    }
    let top = store
        .list_with_delimiter(None)
        .await
        .map_err(|e| list_failed(uri, e))?;
    let root = (!top.objects.is_empty()).then_some(Range::Root);
    let prefixes = top
        .common_prefixes
        .into_iter()
        .filter(|p| p.as_ref() != ENDPOINT_CACHE_DIR)
        .map(Range::Prefix);
    Ok(Ranges {
        ranges: root.into_iter().chain(prefixes).collect(),
        root_objects: top.objects,
    })
}

/// True when the dataset's names have a first path component to split a LIST at (a tree, or
/// flat names under key-prefix shards).
fn segmented(dataset: &Dataset) -> bool {
    dataset.tree.is_some() || dataset.key_prefix_shards > 0
}

impl Ranges {
    /// Adds the top-level prefixes the dataset's names use (a tree's level-1 directories, the
    /// key-prefix shards) that the store did not list: a prefix whose objects were all deleted
    /// is gone from a delimiter LIST of an object store, but its objects are still expected.
    pub(crate) fn with_expected_prefixes(mut self, dataset: &Dataset) -> Self {
        let expected: Vec<String> = match (&dataset.tree, dataset.key_prefix_shards) {
            (Some(t), _) => (1..=t.dirs_at_level(1))
                .filter_map(|p| t.dir_path(1, p))
                .collect(),
            (None, 0) => Vec::new(),
            (None, shards) => (0..shards).map(|s| format!("{s:02x}")).collect(),
        };
        for name in expected {
            let range = Range::Prefix(StorePath::from(name.as_str()));
            if !self.ranges.contains(&range) {
                self.ranges.push(range);
            }
        }
        self
    }
}

/// A listed key that is exactly the name of an object this endpoint may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Candidate {
    /// Pool id.
    pub pool: u16,
    /// Index.
    pub index: u64,
    /// Its size as listed.
    pub size: u64,
}

/// What one listed key is to the dataset, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// An object of the dataset this endpoint may hold (its size is checked in batches).
    Candidate(Candidate),
    /// The cache's own files: not counted.
    Cache,
    /// An object of the dataset this endpoint's view does not hold: another agent's share, or
    /// an index placed on another endpoint. Counted as listed, never kept as an "other key".
    Elsewhere,
    /// Anything else.
    Other,
}

/// Keys of a LIST not yet merged: candidates wait for their sizes to be checked together, in
/// index order (a size is the i-th draw of a generator: ascending checks are cheap).
#[derive(Debug, Default)]
pub(crate) struct Batch {
    candidates: Vec<Candidate>,
    other_keys: u64,
    other_key_samples: Vec<String>,
    listed: u64,
}

/// Keys a batch holds before its sizes are checked.
const BATCH_KEYS: usize = 100_000;

impl Batch {
    fn is_full(&self) -> bool {
        self.candidates.len() >= BATCH_KEYS
    }
}

/// Sorts listed keys of one endpoint into present objects, wrong sizes and other keys.
pub(crate) struct Classifier<'a> {
    dataset: &'a Dataset,
    endpoint: u16,
    pools: Vec<&'a Pool>,
    sizes: &'a DatasetSizes<'a>,
}

impl<'a> Classifier<'a> {
    /// A classifier for `endpoint` of `dataset`, checking sizes against `sizes`.
    pub(crate) fn new(dataset: &'a Dataset, endpoint: u16, sizes: &'a DatasetSizes<'a>) -> Self {
        let pools = placement::pools_on(dataset, endpoint).collect();
        Classifier {
            dataset,
            endpoint,
            pools,
            sizes,
        }
    }

    /// What `meta` is, by its name.
    pub(crate) fn classify(&self, meta: &ObjectMeta) -> Class {
        let key = meta.location.as_ref();
        if key.starts_with(ENDPOINT_CACHE_DIR) && key[ENDPOINT_CACHE_DIR.len()..].starts_with('/') {
            return Class::Cache;
        }
        let found = self.pools.iter().find_map(|p| {
            self.dataset
                .parse_path(p, key)
                .filter(|&i| placement::may_hold(p, i, self.endpoint))
                .map(|index| Candidate {
                    pool: p.id,
                    index,
                    size: meta.size,
                })
        });
        match found {
            Some(c) => Class::Candidate(c),
            None if self
                .pools
                .iter()
                .any(|p| self.dataset.parse_name(p, key).is_some()) =>
            {
                Class::Elsewhere
            }
            None => Class::Other,
        }
    }

    /// Checks the sizes of `candidates` in index order; calls `each` with every candidate and
    /// whether its size is one sai3-bench writes for it. Empties `candidates`.
    ///
    /// # Errors
    /// A pool whose size spec sai3-bench would refuse.
    pub(crate) fn check(
        &self,
        candidates: &mut Vec<Candidate>,
        mut each: impl FnMut(Candidate, bool),
    ) -> Result<()> {
        candidates.sort_unstable();
        for group in candidates.chunk_by(|a, b| a.pool == b.pool) {
            let Some(pool) = self.dataset.pool(group[0].pool) else {
                continue;
            };
            let mut checker = self.sizes.of(pool)?.checker();
            for &c in group {
                each(c, checker.accepts(c.index, c.size));
            }
        }
        candidates.clear();
        Ok(())
    }

    /// Adds `meta` to `batch`.
    pub(crate) fn add(&self, batch: &mut Batch, meta: &ObjectMeta) {
        match self.classify(meta) {
            Class::Cache => return,
            Class::Candidate(c) => batch.candidates.push(c),
            Class::Elsewhere => {}
            Class::Other => {
                batch.other_keys += 1;
                if batch.other_key_samples.len() < OTHER_KEY_SAMPLES {
                    batch.other_key_samples.push(meta.location.to_string());
                }
            }
        }
        batch.listed += 1;
    }

    /// Merges `batch` into `listing` (sizes checked), leaving it empty.
    ///
    /// # Errors
    /// As [`Classifier::check`].
    pub(crate) fn settle(&self, batch: &mut Batch, listing: &mut Listing) -> Result<()> {
        let (present, wrong_size) = (&mut listing.present, &mut listing.wrong_size);
        self.check(&mut batch.candidates, |c, ok| match ok {
            true => {
                if let Some(p) = present.get_mut(c.pool as usize) {
                    p.insert(c.index);
                }
            }
            false => *wrong_size += 1,
        })?;
        listing.other_keys += std::mem::take(&mut batch.other_keys);
        add_samples(&mut listing.other_key_samples, &mut batch.other_key_samples);
        listing.listed += std::mem::take(&mut batch.listed);
        Ok(())
    }
}

/// How a LIST checkpoints and resumes.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # use std::sync::Arc;
/// # use object_store::{ObjectStore, ObjectStoreExt, memory::InMemory, path::Path};
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
/// # let sizes = cache_sai3::object_sizes::DatasetSizes::new(&dataset);
/// # let memory = InMemory::new();
/// # for (i, size) in [(0, 64), (2, 64), (4, 3)] {
/// #     let path = dataset.path_of(&dataset.pools[0], i).expect("an object");
/// #     memory.put(&Path::from(path), vec![0u8; size].into()).await?;
/// # }
/// # memory.put(&Path::from("notes.txt"), vec![1u8].into()).await?;
/// # let store: Arc<dyn ObjectStore> = Arc::new(memory);
/// use cache_sai3::listing::{Checkpoints, ListCounters, ListProgress, list_endpoint};
/// let last = std::sync::Mutex::new(None);
/// let save = |p: &ListProgress| -> cache_sai3::Result<()> {
///     *last.lock().expect("lock") = Some(p.clone());
///     Ok(())
/// };
/// let fresh = Checkpoints { resume: None, ordered: true, started_ms: 0, save: &save };
/// list_endpoint(store.clone(), &dataset, 0, &sizes, fresh, &ListCounters::default()).await?;
/// // Resuming from progress whose every range is done lists nothing again.
/// let progress = last.lock().expect("lock").take();
/// let resumed = Checkpoints { resume: progress, ordered: true, started_ms: 0, save: &save };
/// let listed = list_endpoint(store, &dataset, 0, &sizes, resumed, &ListCounters::default())
///     .await?;
/// assert_eq!(listed.keys_read, 0);
/// assert!(listed.resumed_ranges >= 2);
/// assert_eq!(listed.listing.present[0].len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Checkpoints<'a> {
    /// Progress of an interrupted LIST of the same dataset to continue.
    pub resume: Option<ListProgress>,
    /// The store lists in key order (object stores): resuming inside a range is possible.
    pub ordered: bool,
    /// When this LIST started (ms), kept by a resumed one.
    pub started_ms: u64,
    /// Persists progress.
    pub save: &'a (dyn Fn(&ListProgress) -> Result<()> + Sync),
}

/// One LIST in flight: the shared progress and what every range needs.
struct Run<'a> {
    store: Arc<dyn ObjectStore>,
    uri: &'a str,
    classifier: Classifier<'a>,
    pools: usize,
    ordered: bool,
    progress: Mutex<ListProgress>,
    save: &'a (dyn Fn(&ListProgress) -> Result<()> + Sync),
    /// When progress was last saved.
    saved_at: Mutex<std::time::Instant>,
    /// Keys read and ranges done, for the caller.
    counters: &'a ListCounters,
    /// Keys read by this LIST.
    keys_read: AtomicU64,
}

impl Run<'_> {
    fn lock(&self) -> MutexGuard<'_, ListProgress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Merges `batch` into the shared progress and, in the same step, records `last` (the last
    /// key of the batch) as the range's offset: a checkpoint, whichever range takes it, never
    /// holds an offset past keys it does not hold, so a resumed LIST skips none.
    fn settle(&self, range: &str, batch: &mut Batch, last: Option<String>) -> Result<()> {
        let mut p = self.lock();
        self.classifier.settle(batch, &mut p.listing)?;
        if let Some(key) = last {
            p.offsets.insert(range.to_owned(), key);
        }
        Ok(())
    }

    /// Saves the progress under its lock (no copy of the bitmaps; an incremental save writes
    /// only what grew since the last one).
    fn checkpoint(&self) -> Result<()> {
        let ranges_done = {
            let progress = self.lock();
            (self.save)(&progress)?;
            progress.done.len()
        };
        tracing::info!(
            endpoint = self.uri,
            ranges_done,
            "LIST progress saved: a resumed LIST skips {ranges_done} finished ranges"
        );
        *self.saved_at.lock().unwrap_or_else(|p| p.into_inner()) = std::time::Instant::now();
        Ok(())
    }

    /// True when the last checkpoint is [`CHECKPOINT_INTERVAL`] old.
    fn checkpoint_due(&self) -> bool {
        let saved_at = *self.saved_at.lock().unwrap_or_else(|p| p.into_inner());
        saved_at.elapsed() >= CHECKPOINT_INTERVAL
    }

    /// Lists one range to its end, merging as it goes (ordered stores, checkpointed every
    /// [`CHECKPOINT_KEYS`] keys once [`CHECKPOINT_INTERVAL`] passed, and when a LIST fails) or
    /// when it is complete (unordered stores).
    async fn list_range(&self, range: Range) -> Result<()> {
        let name = range.name();
        let prefix = match &range {
            Range::Prefix(p) => Some(p),
            Range::Root | Range::Whole => None,
        };
        let offset = self.lock().offsets.get(&name).cloned();
        let mut stream = match &offset {
            Some(o) => self
                .store
                .list_with_offset(prefix, &StorePath::from(o.as_str())),
            None => self.store.list(prefix),
        };
        let mut local = Listing::empty(self.pools);
        let mut batch = Batch::default();
        let mut last = None;
        let mut since = 0u64;
        while let Some(meta) = stream.next().await {
            let meta = match meta {
                Ok(m) => m,
                Err(e) => {
                    // Keep what was merged so far: the next LIST resumes from it.
                    if self.ordered {
                        self.settle(&name, &mut batch, last)?;
                    }
                    self.checkpoint()?;
                    return Err(list_failed(self.uri, e));
                }
            };
            self.classifier.add(&mut batch, &meta);
            self.count_key();
            if !self.ordered {
                if batch.is_full() {
                    self.classifier.settle(&mut batch, &mut local)?;
                }
                continue;
            }
            last = Some(meta.location.to_string());
            since += 1;
            if since >= CHECKPOINT_KEYS {
                self.settle(&name, &mut batch, last.take())?;
                since = 0;
                if self.checkpoint_due() {
                    self.checkpoint()?;
                }
            }
        }
        self.classifier.settle(&mut batch, &mut local)?;
        {
            let mut p = self.lock();
            p.listing.merge(local);
            p.offsets.remove(&name);
            p.done.insert(name);
        }
        self.counters.ranges_done.fetch_add(1, Ordering::Relaxed);
        self.checkpoint()
    }

    /// Counts one key read.
    fn count_key(&self) {
        self.keys_read.fetch_add(1, Ordering::Relaxed);
        self.counters.keys.fetch_add(1, Ordering::Relaxed);
    }
}

/// The progress to start from: `resume` if it fits this dataset, else a fresh one.
fn starting_point(checkpoints: &mut Checkpoints<'_>, pools: usize) -> ListProgress {
    match checkpoints.resume.take() {
        Some(mut r) if r.listing.present.len() == pools => {
            if !checkpoints.ordered {
                r.offsets.clear();
            }
            r
        }
        _ => ListProgress {
            listing: Listing::empty(pools),
            started_ms: checkpoints.started_ms,
            ..ListProgress::default()
        },
    }
}

/// Lists endpoint `endpoint` of `dataset`; `sizes` gives each object's size.
/// `checkpoints.resume` continues an interrupted LIST of the same dataset; `save` is called
/// with the progress as ranges finish, when a LIST fails, and inside an ordered range every
/// `CHECKPOINT_KEYS` (20 000) keys once `CHECKPOINT_INTERVAL` (5 s) has passed since the last
/// save; `counters` follows keys and ranges as they go.
///
/// # Errors
/// [`Sai3Error::Endpoint`] when a LIST fails (the progress saved so far stays usable), or an
/// error of `save`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # use std::sync::Arc;
/// # use object_store::{ObjectStore, ObjectStoreExt, memory::InMemory, path::Path};
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # let dataset = cache_sai3::dataset::Dataset::load(&config)?;
/// # let sizes = cache_sai3::object_sizes::DatasetSizes::new(&dataset);
/// # let memory = InMemory::new();
/// # for (i, size) in [(0, 64), (2, 64), (4, 3)] {
/// #     let path = dataset.path_of(&dataset.pools[0], i).expect("an object");
/// #     memory.put(&Path::from(path), vec![0u8; size].into()).await?;
/// # }
/// # memory.put(&Path::from("notes.txt"), vec![1u8].into()).await?;
/// # let store: Arc<dyn ObjectStore> = Arc::new(memory);
/// use cache_sai3::listing::{Checkpoints, ListCounters, ListProgress, list_endpoint};
/// let save = |_: &ListProgress| -> cache_sai3::Result<()> { Ok(()) };
/// let checkpoints = Checkpoints { resume: None, ordered: true, started_ms: 0, save: &save };
/// let counters = ListCounters::default();
/// let listed = list_endpoint(store.clone(), &dataset, 0, &sizes, checkpoints, &counters).await?;
/// assert_eq!(listed.listing.present[0].iter().collect::<Vec<_>>(), [0, 2]);
/// assert_eq!((listed.listing.wrong_size, listed.listing.other_keys), (1, 1));
/// // Endpoint 1 holds the odd indices: none was written.
/// let checkpoints = Checkpoints { resume: None, ordered: true, started_ms: 0, save: &save };
/// let listed = list_endpoint(store, &dataset, 1, &sizes, checkpoints, &counters).await?;
/// assert!(listed.listing.present[0].is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn list_endpoint(
    store: Arc<dyn ObjectStore>,
    dataset: &Dataset,
    endpoint: u16,
    sizes: &DatasetSizes<'_>,
    mut checkpoints: Checkpoints<'_>,
    counters: &ListCounters,
) -> Result<Listed> {
    let uri = dataset
        .endpoints
        .get(endpoint as usize)
        .ok_or_else(|| Sai3Error::Endpoint {
            endpoint: format!("#{endpoint}"),
            reason: "no such endpoint in the dataset".into(),
        })?;
    let progress = starting_point(&mut checkpoints, dataset.pool_id_limit());
    let resumed_ranges = progress.done.len() as u64;
    let run = Run {
        classifier: Classifier::new(dataset, endpoint, sizes),
        uri,
        pools: dataset.pool_id_limit(),
        ordered: checkpoints.ordered,
        progress: Mutex::new(progress),
        save: checkpoints.save,
        saved_at: Mutex::new(std::time::Instant::now()),
        store,
        counters,
        keys_read: AtomicU64::new(0),
    };
    let ranges = discover(&*run.store, dataset, uri).await?;
    // The root of a segmented endpoint is known from the delimiter LIST: done at once.
    if segmented(dataset) && !run.lock().done.contains("") {
        let mut batch = Batch::default();
        for meta in &ranges.root_objects {
            run.classifier.add(&mut batch, meta);
            run.count_key();
        }
        run.settle("", &mut batch, None)?;
        run.lock().done.insert(String::new());
    }
    let todo: Vec<Range> = {
        let p = run.lock();
        let unfinished = |r: &Range| !p.done.contains(&r.name());
        ranges.ranges.into_iter().filter(unfinished).collect()
    };
    let finished = run.lock().done.len() as u64;
    counters
        .ranges_total
        .fetch_add(finished + todo.len() as u64, Ordering::Relaxed);
    counters.ranges_done.fetch_add(finished, Ordering::Relaxed);
    futures::stream::iter(todo)
        .map(|range| run.list_range(range))
        .buffer_unordered(LIST_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    let mut listing = run
        .progress
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .listing;
    listing.other_key_samples.sort_unstable();
    Ok(Listed {
        listing,
        resumed_ranges,
        keys_read: run.keys_read.into_inner(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_keys_are_counted_and_only_sampled() {
        let mut a = Listing::empty(1);
        let mut b = Listing::empty(1);
        a.other_keys = 10;
        a.other_key_samples = (0..10).map(|i| format!("a{i}")).collect();
        b.other_keys = 1_000_000;
        b.other_key_samples = (0..OTHER_KEY_SAMPLES).map(|i| format!("b{i}")).collect();
        a.merge(b);
        assert_eq!(a.other_keys, 1_000_010);
        assert_eq!(a.other_key_samples.len(), OTHER_KEY_SAMPLES);
        assert_eq!(
            a.other_key_samples[..10],
            (0..10).map(|i| format!("a{i}")).collect::<Vec<_>>()
        );
    }
}
