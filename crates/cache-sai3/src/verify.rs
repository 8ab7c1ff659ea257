//! `verify --sample K`: bound the staleness of a cache without a full LIST.
//!
//! Per endpoint, the key space is cut into the same ranges a LIST uses
//! ([`crate::listing::discover`]: a tree's level-1 directories, a flat dataset's shards, the
//! objects at the root, or the whole endpoint), plus the top-level prefixes the dataset's names
//! use that the store no longer lists (all their objects gone). K random ranges are listed
//! again and compared with the ledger, and K random objects the ledger calls `Created` outside
//! those ranges are checked with a HEAD. Keys are classified as a LIST classifies them. Drift
//! is reported as missing (ledger says created, store has none), extra (store has an object of
//! the dataset the ledger does not know) and size mismatch; only the ranges (and objects) that
//! differ are repaired in the ledger, and an endpoint with missing objects loses its seal so
//! that the next prepare recreates them.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! # let tmp = tempfile::tempdir()?;
//! # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
//! use cache_sai3::verify::{VerifyProgress, verify};
//! # use cache_sai3::dataset::Dataset;
//! # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
//! # use cache_sai3::ttl::{SystemClock, TtlPolicy};
//! # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
//! # let options = PrepareOptions {
//! #     cache_dir: tmp.path().join("cache"),
//! #     no_cache: false,
//! #     ttl: TtlPolicy::default(),
//! #     populate: Populate::Lazy,
//! #     concurrency: 4,
//! #     checkpoint_objects: CHECKPOINT_OBJECTS,
//! #     test_name: "example".into(),
//! #     pull: false,
//! #     push: false,
//! #     open: Default::default(),
//! #     create: true,
//! # };
//! # let progress = Progress::default();
//! # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
//! // After a prepare of 8 objects on two endpoints, one object is deleted behind its back.
//! let path = dataset.path_of(&dataset.pools[0], 0).expect("object 0");
//! std::fs::remove_file(tmp.path().join("data/ep0").join(path))?;
//! let checked = VerifyProgress::default();
//! let drift = verify::<cache_fjall::FjallDatabase>(&dataset, &options.cache_dir, 100, 7, 0, Default::default(), &checked).await?;
//! assert_eq!((drift[0].missing, drift[0].extra, drift[0].unsealed), (1, 0, true));
//! assert_eq!((drift[1].missing, drift[1].unsealed), (0, false));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};

use cache_core::{Database, Durability};

use crate::blocking::off_worker;
use crate::caches::{EndpointCache, LedgerWriter, OpenPolicy, cache_location, open_waiting};
use crate::dataset::Dataset;
use crate::error::{Result, Sai3Error};
use crate::listing::{Candidate, Class, Classifier, Range, discover};
use crate::object_sizes::DatasetSizes;
use crate::placement;
use crate::store::open_endpoint;

/// Candidates whose sizes are checked together while a range streams in.
const CHECK_BATCH: usize = 10_000;

/// What one listed range holds of the dataset.
struct RangeFound {
    /// Per pool id: objects present with the dataset's size.
    found: Vec<RoaringTreemap>,
    /// Objects present with another size.
    wrong: Vec<Candidate>,
}

impl RangeFound {
    /// Checks the sizes of `batch` (emptied) into `found` and `wrong`.
    fn check(&mut self, classifier: &Classifier<'_>, batch: &mut Vec<Candidate>) -> Result<()> {
        classifier.check(batch, |c, ok| match ok {
            true => _ = self.found[c.pool as usize].insert(c.index),
            false => self.wrong.push(c),
        })?;
        batch.clear();
        Ok(())
    }
}

/// What verify found on one endpoint.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// use cache_sai3::verify::{VerifyProgress, verify};
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
/// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
/// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
/// # let options = PrepareOptions {
/// #     cache_dir: tmp.path().join("cache"),
/// #     no_cache: false,
/// #     ttl: TtlPolicy::default(),
/// #     populate: Populate::Lazy,
/// #     concurrency: 4,
/// #     checkpoint_objects: CHECKPOINT_OBJECTS,
/// #     test_name: "example".into(),
/// #     pull: false,
/// #     push: false,
/// #     open: Default::default(),
/// #     create: true,
/// # };
/// # let progress = Progress::default();
/// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// let checked = VerifyProgress::default();
/// let drift = verify::<cache_fjall::FjallDatabase>(&dataset, &options.cache_dir, 100, 7, 0, Default::default(), &checked).await?;
/// let e = &drift[1];
/// assert_eq!((e.agent, e.endpoint, e.missing, e.extra, e.size_mismatch), (0, 1, 0, 0, 0));
/// assert!(e.ranges_sampled == e.ranges_total && e.ranges_differing == 0);
/// assert!(!e.unsealed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EndpointDrift {
    /// The agent whose shard (and share) was verified.
    #[serde(default)]
    pub agent: u32,
    /// Endpoint number (in that agent's view).
    pub endpoint: u16,
    /// Its URI.
    pub uri: String,
    /// Ranges of the endpoint's key space.
    pub ranges_total: usize,
    /// Ranges listed again.
    pub ranges_sampled: usize,
    /// Sampled ranges that differed from the ledger (and were repaired).
    pub ranges_differing: usize,
    /// Objects the ledger had as created that are gone.
    pub missing: u64,
    /// Objects of the dataset present but unknown to the ledger.
    pub extra: u64,
    /// Objects present with another size than the dataset defines.
    pub size_mismatch: u64,
    /// Objects checked with HEAD.
    pub heads: u64,
    /// True when the endpoint lost its seal (the next prepare will list and recreate).
    pub unsealed: bool,
}

impl EndpointDrift {
    fn drifted(&self) -> bool {
        self.missing + self.extra + self.size_mismatch > 0
    }
}

/// How far a verify is, read by the caller while it runs (a progress display).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// use cache_sai3::verify::{VerifyProgress, verify};
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
/// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
/// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
/// # let options = PrepareOptions {
/// #     cache_dir: tmp.path().join("cache"),
/// #     no_cache: false,
/// #     ttl: TtlPolicy::default(),
/// #     populate: Populate::Lazy,
/// #     concurrency: 4,
/// #     checkpoint_objects: CHECKPOINT_OBJECTS,
/// #     test_name: "example".into(),
/// #     pull: false,
/// #     push: false,
/// #     open: Default::default(),
/// #     create: true,
/// # };
/// # let progress = Progress::default();
/// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// let checked = VerifyProgress::default();
/// let drift = verify::<cache_fjall::FjallDatabase>(&dataset, &options.cache_dir, 100, 7, 0, Default::default(), &checked).await?;
/// use std::sync::atomic::Ordering;
/// assert_eq!(checked.ranges_done.load(Ordering::Relaxed), checked.ranges_total.load(Ordering::Relaxed));
/// assert_eq!(checked.heads_done.load(Ordering::Relaxed), drift.iter().map(|d| d.heads).sum::<u64>());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct VerifyProgress {
    /// Ranges to list again, over the endpoints begun so far.
    pub ranges_total: AtomicU64,
    /// Ranges listed again.
    pub ranges_done: AtomicU64,
    /// Objects to HEAD, over the endpoints begun so far.
    pub heads_total: AtomicU64,
    /// Objects checked with HEAD.
    pub heads_done: AtomicU64,
}

impl VerifyProgress {
    /// `(ranges done, ranges total, HEADs done, HEADs total)` now.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// use cache_sai3::verify::{VerifyProgress, verify};
    /// # use cache_sai3::dataset::Dataset;
    /// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
    /// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
    /// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
    /// # let options = PrepareOptions {
    /// #     cache_dir: tmp.path().join("cache"),
    /// #     no_cache: false,
    /// #     ttl: TtlPolicy::default(),
    /// #     populate: Populate::Lazy,
    /// #     concurrency: 4,
    /// #     checkpoint_objects: CHECKPOINT_OBJECTS,
    /// #     test_name: "example".into(),
    /// #     pull: false,
    /// #     push: false,
    /// #     open: Default::default(),
    /// #     create: true,
    /// # };
    /// # let progress = Progress::default();
    /// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
    /// assert_eq!(VerifyProgress::default().snapshot(), [0; 4]);
    /// let checked = VerifyProgress::default();
    /// let drift = verify::<cache_fjall::FjallDatabase>(&dataset, &options.cache_dir, 100, 7, 0, Default::default(), &checked).await?;
    /// let [ranges_done, ranges_total, heads_done, heads_total] = checked.snapshot();
    /// assert!(ranges_done == ranges_total && heads_done == heads_total && ranges_done > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn snapshot(&self) -> [u64; 4] {
        [
            self.ranges_done.load(Ordering::Relaxed),
            self.ranges_total.load(Ordering::Relaxed),
            self.heads_done.load(Ordering::Relaxed),
            self.heads_total.load(Ordering::Relaxed),
        ]
    }
}

/// Picks `k` distinct values below `n`, deterministically from `seed`.
fn sample(n: usize, k: usize, seed: u64) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    let mut x = seed | 1;
    while out.len() < k.min(n) {
        x = xxhash_rust::xxh3::xxh3_64_with_seed(&x.to_le_bytes(), seed);
        out.insert((x % n as u64) as usize);
    }
    out
}

/// Verifies `k` sampled ranges and `k` sampled objects (outside those ranges) of every
/// endpoint of `dataset`: of every shard the view writes ([`Dataset::writer_views`]; one
/// agent's, or every agent's), counting what is done in `progress`. Each verified shard records
/// when it was verified.
///
/// # Errors
/// Store failures, or a missing, in-use or unreadable endpoint cache.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// use cache_sai3::verify::{VerifyProgress, verify};
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
/// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
/// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
/// # let options = PrepareOptions {
/// #     cache_dir: tmp.path().join("cache"),
/// #     no_cache: false,
/// #     ttl: TtlPolicy::default(),
/// #     populate: Populate::Lazy,
/// #     concurrency: 4,
/// #     checkpoint_objects: CHECKPOINT_OBJECTS,
/// #     test_name: "example".into(),
/// #     pull: false,
/// #     push: false,
/// #     open: Default::default(),
/// #     create: true,
/// # };
/// # let progress = Progress::default();
/// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// let checked = VerifyProgress::default();
/// let drift = verify::<cache_fjall::FjallDatabase>(&dataset, &options.cache_dir, 100, 7, 0, Default::default(), &checked).await?;
/// assert_eq!(drift.len(), 2); // both endpoints, agent 0's shards
/// assert!(drift.iter().all(|d| d.missing + d.extra + d.size_mismatch == 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn verify<D: Database>(
    dataset: &Dataset,
    cache_dir: &std::path::Path,
    k: usize,
    seed: u64,
    now_ms: u64,
    open: OpenPolicy,
    progress: &VerifyProgress,
) -> Result<Vec<EndpointDrift>> {
    let mut out = Vec::new();
    let sizes = DatasetSizes::new(dataset);
    for view in dataset.writer_views() {
        for e in placement::endpoints_used(&view) {
            let uri = &view.endpoints[e as usize];
            let location = cache_location(uri, cache_dir, view.shard())?;
            let cache = open_waiting(open, || EndpointCache::<D>::open(&location, false))?;
            let check = EndpointCheck::new(&view, e, &cache, &sizes, progress)?;
            out.push(check.run(k, seed, now_ms).await?);
        }
    }
    Ok(out)
}

/// Per sampled range name, the created objects the ledger places there (per pool id).
type KnownByRange = HashMap<String, Vec<RoaringTreemap>>;

/// Verification of one endpoint.
struct EndpointCheck<'a, D: Database> {
    dataset: &'a Dataset,
    endpoint: u16,
    uri: &'a str,
    store: std::sync::Arc<dyn ObjectStore>,
    cache: &'a EndpointCache<D>,
    sizes: &'a DatasetSizes<'a>,
    stored: Vec<RoaringTreemap>,
    progress: &'a VerifyProgress,
}

impl<'a, D: Database> EndpointCheck<'a, D> {
    fn new(
        dataset: &'a Dataset,
        endpoint: u16,
        cache: &'a EndpointCache<D>,
        sizes: &'a DatasetSizes<'a>,
        progress: &'a VerifyProgress,
    ) -> Result<Self> {
        let uri = dataset.endpoints[endpoint as usize].as_str();
        Ok(EndpointCheck {
            dataset,
            endpoint,
            uri,
            store: open_endpoint(uri)?,
            cache,
            sizes,
            stored: cache.presence_all(dataset)?,
            progress,
        })
    }

    fn failed(&self, what: &str, e: object_store::Error) -> Sai3Error {
        Sai3Error::Endpoint {
            endpoint: self.uri.to_owned(),
            reason: format!("{what} failed: {e}"),
        }
    }

    async fn run(&self, k: usize, seed: u64, now_ms: u64) -> Result<EndpointDrift> {
        let mut drift = EndpointDrift {
            agent: self.dataset.shard(),
            endpoint: self.endpoint,
            uri: self.uri.to_owned(),
            ..EndpointDrift::default()
        };
        let ranges = discover(&*self.store, self.dataset, self.uri)
            .await?
            .with_expected_prefixes(self.dataset);
        drift.ranges_total = ranges.ranges.len();
        let sampled: Vec<&Range> = sample(ranges.ranges.len(), k, seed ^ u64::from(self.endpoint))
            .into_iter()
            .map(|r| &ranges.ranges[r])
            .collect();
        let (known, unlisted) = self.known_by_range(&sampled);
        let progress = self.progress;
        progress
            .ranges_total
            .fetch_add(sampled.len() as u64, Ordering::Relaxed);
        let mut writer = self
            .cache
            .ledger_writer(self.dataset, self.stored.clone())?;
        for range in sampled {
            let listed = self.list_range(range, &ranges.root_objects).await?;
            let known = known.get(&range.name()).cloned().unwrap_or_default();
            drift.ranges_sampled += 1;
            let differs = self.compare(listed, &known, &mut writer, &mut drift, now_ms)?;
            drift.ranges_differing += usize::from(differs);
            progress.ranges_done.fetch_add(1, Ordering::Relaxed);
        }
        let picks = sample(
            unlisted.len(),
            k,
            seed.rotate_left(17) ^ u64::from(self.endpoint),
        );
        progress
            .heads_total
            .fetch_add(picks.len() as u64, Ordering::Relaxed);
        for n in picks {
            let (pool, i) = unlisted[n];
            self.head(pool, i, &mut writer, &mut drift, now_ms).await?;
            progress.heads_done.fetch_add(1, Ordering::Relaxed);
        }
        self.finish(writer, &mut drift, now_ms)?;
        Ok(drift)
    }

    /// Lists one range (the root's objects are known from discovery), classifying keys as they
    /// stream in: memory holds bitmaps and wrong-size objects, never the range's listing.
    async fn list_range(&self, range: &Range, root: &[ObjectMeta]) -> Result<RangeFound> {
        let classifier = Classifier::new(self.dataset, self.endpoint, self.sizes);
        let mut out = RangeFound {
            found: vec![RoaringTreemap::new(); self.dataset.pool_id_limit()],
            wrong: Vec::new(),
        };
        let mut stream = match range {
            Range::Root => futures::stream::iter(root.iter().cloned().map(Ok)).boxed(),
            Range::Prefix(p) => self.store.list(Some(p)),
            Range::Whole => self.store.list(None),
        };
        let mut batch = Vec::new();
        while let Some(meta) = stream
            .try_next()
            .await
            .map_err(|e| self.failed("LIST", e))?
        {
            if let Class::Candidate(c) = classifier.classify(&meta) {
                batch.push(c);
            }
            if batch.len() >= CHECK_BATCH {
                out.check(&classifier, &mut batch)?;
            }
        }
        out.check(&classifier, &mut batch)?;
        Ok(out)
    }

    /// The created objects of each sampled range (per pool id), and those of no sampled range
    /// (left for the HEAD sample), in one pass over the presence bitmaps.
    fn known_by_range(&self, sampled: &[&Range]) -> (KnownByRange, Vec<(u16, u64)>) {
        let names: BTreeSet<String> = sampled.iter().map(|r| r.name()).collect();
        let pools = self.dataset.pool_id_limit();
        let mut known = KnownByRange::new();
        let mut unlisted = Vec::new();
        for p in placement::pools_on(self.dataset, self.endpoint) {
            for i in &self.stored[p.id as usize] {
                let Some(path) = self.dataset.path_of(p, i) else {
                    continue;
                };
                let name = Range::name_of(&path);
                if names.contains(name) {
                    let sets = known
                        .entry(name.to_owned())
                        .or_insert_with(|| vec![RoaringTreemap::new(); pools]);
                    sets[p.id as usize].insert(i);
                } else {
                    unlisted.push((p.id, i));
                }
            }
        }
        (known, unlisted)
    }

    /// Compares one listed range with what the ledger knows of it; repairs the ledger. Returns
    /// whether they differed.
    fn compare(
        &self,
        listed: RangeFound,
        known: &[RoaringTreemap],
        writer: &mut LedgerWriter<'_, D>,
        drift: &mut EndpointDrift,
        now_ms: u64,
    ) -> Result<bool> {
        let RangeFound {
            found,
            wrong: wrong_sizes,
        } = listed;
        let mut wrong = vec![RoaringTreemap::new(); self.dataset.pool_id_limit()];
        for c in wrong_sizes {
            wrong[c.pool as usize].insert(c.index);
            writer.deleted(c.pool, c.index, c.size, now_ms)?;
        }
        let before = (drift.missing, drift.extra);
        for p in placement::pools_on(self.dataset, self.endpoint) {
            let id = p.id as usize;
            let mut sizes = self.sizes.of(p)?.checker();
            let empty = RoaringTreemap::new();
            let known = known.get(id).unwrap_or(&empty);
            drift.size_mismatch += wrong[id].len();
            for i in &(&(known - &found[id]) - &wrong[id]) {
                drift.missing += 1;
                let size = sizes.size_of(i).unwrap_or(0);
                writer.deleted(p.id, i, size, now_ms)?;
            }
            for i in &found[id] - known {
                drift.extra += 1;
                writer.created(p.id, i, now_ms)?;
            }
        }
        let wrong_sizes: u64 = wrong.iter().map(RoaringTreemap::len).sum();
        Ok(wrong_sizes > 0 || (drift.missing, drift.extra) != before)
    }

    /// HEADs one object the ledger calls created.
    async fn head(
        &self,
        pool: u16,
        i: u64,
        writer: &mut LedgerWriter<'_, D>,
        drift: &mut EndpointDrift,
        now_ms: u64,
    ) -> Result<()> {
        let Some(p) = self.dataset.pool(pool) else {
            return Ok(());
        };
        let Some(path) = self.dataset.path_of(p, i) else {
            return Ok(());
        };
        drift.heads += 1;
        let mut sizes = self.sizes.of(p)?.checker();
        let expected = sizes.size_of(i).unwrap_or(0);
        match self.store.head(&StorePath::from(path.as_str())).await {
            Ok(meta) if sizes.accepts(i, meta.size) => Ok(()),
            Ok(meta) => {
                drift.size_mismatch += 1;
                writer.deleted(pool, i, meta.size, now_ms)
            }
            Err(object_store::Error::NotFound { .. }) => {
                drift.missing += 1;
                writer.deleted(pool, i, expected, now_ms)
            }
            Err(e) => Err(self.failed("HEAD", e)),
        }
    }

    /// Commits the repairs; drops a cached listing that no longer describes the endpoint;
    /// unseals an endpoint that lost objects; records when it was verified.
    fn finish(
        &self,
        mut writer: LedgerWriter<'_, D>,
        drift: &mut EndpointDrift,
        now_ms: u64,
    ) -> Result<()> {
        off_worker(|| writer.checkpoint(Durability::Flushed))?;
        if drift.drifted() {
            self.cache.remove_listing(self.dataset)?;
        }
        // Objects the seal counted are gone (or no longer sai3-bench's size): the endpoint is
        // no longer complete. Decided by what was lost, not by the placement rule, which does
        // not say where objects placed at run time are.
        if drift.missing + drift.size_mismatch > 0 {
            drift.unsealed = self.cache.unseal(self.dataset)?;
        }
        self.cache.record_verify(self.dataset, now_ms)?;
        off_worker(|| self.cache.flush())
    }
}
