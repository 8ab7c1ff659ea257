//! The sealed dataset record of one shard, `{endpoint}/sai3-kv-cache/agents/K/DATASET`: written
//! when a prepare leaves agent K's share of an object-store endpoint complete, so that one GET
//! tells a later run (on any host) whether the share it knows is the one last sealed there.
//!
//! ```json
//! { "format": 1, "config_hash": "...", "agent": 0, "endpoint": 0, "uri": "s3://...", "sealed_ms": ...,
//!   "pools": [{ "pool": 0, "expected": 25000, "created": 25000 }],
//!   "ranges": [{ "pool": 0, "first": 0, "last": 1048575, "count": 262144, "digest": "..." }] }
//! ```
//!
//! `ranges` cut each pool into spans of [`RANGE_SPAN`] indices; `digest` is the xxh3-64 (hex) of
//! the present indices of the span as little-endian `u64`s, so two records (or a record and a
//! ledger) can be compared span by span to find where they differ.
//!
//! What one GET proves: the last sealing of this endpoint is the one this cache recorded. It
//! cannot see objects deleted behind the tool's back; sampling them is `verify`'s job.
//!
//! ```
//! use cache_sai3::dataset_record::DatasetRecord;
//! use roaring::RoaringTreemap;
//! # let tmp = tempfile::tempdir()?;
//! # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
//! let dataset = cache_sai3::dataset::Dataset::load(&config)?;
//! // Endpoint 1 owns the odd indices of pool 0; 1, 3 and 5 are present.
//! let expected = [RoaringTreemap::from_iter([1u64, 3, 5, 7])];
//! let present = [RoaringTreemap::from_iter([1u64, 3, 5])];
//! let record = DatasetRecord::build(&dataset, 1, &present, &expected, 1_700_000_000_000);
//! assert!(!record.is_complete()); // 3 of 4
//! let json = serde_json::to_string(&record)?;
//! assert_eq!(serde_json::from_str::<DatasetRecord>(&json)?, record);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{Result, Sai3Error};
use crate::scheme::remote_shard_root;

/// Indices per digest range.
///
/// ```
/// use cache_sai3::dataset_record::{RANGE_SPAN, range_digests};
/// let spans = range_digests(0, &roaring::RoaringTreemap::new(), 3 * RANGE_SPAN);
/// assert_eq!(spans.len(), 3);
/// assert_eq!((spans[1].first, spans[1].last), (RANGE_SPAN, 2 * RANGE_SPAN - 1));
/// ```
pub const RANGE_SPAN: u64 = 1 << 20;

/// Name of the record inside the endpoint's cache prefix.
pub(crate) const RECORD_NAME: &str = "DATASET";

/// Largest record read (bytes): a larger object under the record's name is not one of ours and
/// is never read into memory.
pub(crate) const MAX_RECORD_BYTES: u64 = 16 * 1024 * 1024;

/// Objects of one pool on the endpoint.
///
/// ```
/// use cache_sai3::dataset_record::DatasetRecord;
/// use roaring::RoaringTreemap;
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// let dataset = cache_sai3::dataset::Dataset::load(&config)?;
/// // Endpoint 1 owns the odd indices of pool 0; 1, 3 and 5 are present.
/// let expected = [RoaringTreemap::from_iter([1u64, 3, 5, 7])];
/// let present = [RoaringTreemap::from_iter([1u64, 3, 5])];
/// let record = DatasetRecord::build(&dataset, 1, &present, &expected, 1_700_000_000_000);
/// let counts = &record.pools[0];
/// assert_eq!((counts.pool, counts.expected, counts.created), (0, 4, 3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolCount {
    /// Pool id.
    pub pool: u16,
    /// Objects the endpoint owns.
    pub expected: u64,
    /// Objects created.
    pub created: u64,
}

/// Digest of one span of indices.
///
/// ```
/// use cache_sai3::dataset_record::DatasetRecord;
/// use roaring::RoaringTreemap;
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// let dataset = cache_sai3::dataset::Dataset::load(&config)?;
/// // Endpoint 1 owns the odd indices of pool 0; 1, 3 and 5 are present.
/// let expected = [RoaringTreemap::from_iter([1u64, 3, 5, 7])];
/// let present = [RoaringTreemap::from_iter([1u64, 3, 5])];
/// let record = DatasetRecord::build(&dataset, 1, &present, &expected, 1_700_000_000_000);
/// let span = &record.ranges[0]; // 8 objects: one span
/// assert_eq!((span.pool, span.first, span.last, span.count), (0, 0, 7, 3));
/// assert_eq!(span.digest.len(), 16);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeDigest {
    /// Pool id.
    pub pool: u16,
    /// First index of the span.
    pub first: u64,
    /// Last index of the span.
    pub last: u64,
    /// Present indices in the span.
    pub count: u64,
    /// xxh3-64 of those indices (little-endian `u64`s), hex.
    pub digest: String,
}

/// The record.
///
/// ```
/// use cache_sai3::dataset_record::DatasetRecord;
/// use roaring::RoaringTreemap;
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// let dataset = cache_sai3::dataset::Dataset::load(&config)?;
/// // Endpoint 1 owns the odd indices of pool 0; 1, 3 and 5 are present.
/// let expected = [RoaringTreemap::from_iter([1u64, 3, 5, 7])];
/// let present = [RoaringTreemap::from_iter([1u64, 3, 5])];
/// let record = DatasetRecord::build(&dataset, 1, &present, &expected, 1_700_000_000_000);
/// assert_eq!((record.format, record.agent, record.endpoint), (1, 0, 1));
/// assert_eq!(record.config_hash, dataset.hash.full_hex());
/// assert!(record.uri.ends_with("/ep1/"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetRecord {
    /// Record format (1).
    pub format: u32,
    /// Full config hash.
    pub config_hash: String,
    /// The agent whose share (and shard) this is.
    #[serde(default)]
    pub agent: u32,
    /// Endpoint number (in that agent's view).
    pub endpoint: u16,
    /// Endpoint URI.
    pub uri: String,
    /// When the endpoint was sealed (ms).
    pub sealed_ms: u64,
    /// Counts per pool.
    pub pools: Vec<PoolCount>,
    /// Digests per span.
    pub ranges: Vec<RangeDigest>,
}

/// Digests of `present` per span of [`RANGE_SPAN`] indices up to `count`.
///
/// ```
/// use cache_sai3::dataset_record::range_digests;
/// use roaring::RoaringTreemap;
/// let a = range_digests(0, &RoaringTreemap::from_iter([1u64, 2]), 10);
/// let b = range_digests(0, &RoaringTreemap::from_iter([1u64, 3]), 10);
/// assert_eq!((a.len(), a[0].count), (1, 2));
/// assert_ne!(a[0].digest, b[0].digest); // same count, other indices
/// ```
pub fn range_digests(pool: u16, present: &RoaringTreemap, count: u64) -> Vec<RangeDigest> {
    let mut out = Vec::new();
    let mut first = 0u64;
    while first < count {
        let last = (first + RANGE_SPAN - 1).min(count - 1);
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut n = 0u64;
        let mut span = RoaringTreemap::new();
        span.insert_range(first..=last);
        for i in &(present & &span) {
            hasher.update(&i.to_le_bytes());
            n += 1;
        }
        out.push(RangeDigest {
            pool,
            first,
            last,
            count: n,
            digest: format!("{:016x}", hasher.digest()),
        });
        first = last + 1;
    }
    out
}

impl DatasetRecord {
    /// The record of endpoint `endpoint`, sealed at `sealed_ms`, with `present`/`expected`
    /// bitmaps per pool id.
    ///
    /// ```
    /// use cache_sai3::dataset_record::DatasetRecord;
    /// use roaring::RoaringTreemap;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// // Endpoint 1 owns the odd indices of pool 0; 1, 3 and 5 are present.
    /// let expected = [RoaringTreemap::from_iter([1u64, 3, 5, 7])];
    /// let present = [RoaringTreemap::from_iter([1u64, 3, 5])];
    /// let record = DatasetRecord::build(&dataset, 1, &present, &expected, 1_700_000_000_000);
    /// assert_eq!(record.sealed_ms, 1_700_000_000_000);
    /// assert_eq!(record.pools.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(
        dataset: &Dataset,
        endpoint: u16,
        present: &[RoaringTreemap],
        expected: &[RoaringTreemap],
        sealed_ms: u64,
    ) -> Self {
        let mut pools = Vec::new();
        let mut ranges = Vec::new();
        for p in dataset
            .pools
            .iter()
            .filter(|p| p.endpoints.contains(&endpoint))
        {
            let id = p.id as usize;
            let here = &present[id] & &expected[id];
            pools.push(PoolCount {
                pool: p.id,
                expected: expected[id].len(),
                created: here.len(),
            });
            ranges.extend(range_digests(p.id, &here, p.count));
        }
        DatasetRecord {
            format: 1,
            config_hash: dataset.hash.full_hex(),
            agent: dataset.shard(),
            endpoint,
            uri: dataset.endpoints[endpoint as usize].clone(),
            sealed_ms,
            pools,
            ranges,
        }
    }

    /// True when every pool is complete.
    ///
    /// ```
    /// use cache_sai3::dataset_record::DatasetRecord;
    /// use roaring::RoaringTreemap;
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// // Endpoint 1 owns the odd indices of pool 0; 1, 3 and 5 are present.
    /// let expected = [RoaringTreemap::from_iter([1u64, 3, 5, 7])];
    /// let present = [RoaringTreemap::from_iter([1u64, 3, 5])];
    /// let record = DatasetRecord::build(&dataset, 1, &present, &expected, 1_700_000_000_000);
    /// assert!(!record.is_complete());
    /// let all = [RoaringTreemap::from_iter([1u64, 3, 5, 7])];
    /// assert!(DatasetRecord::build(&dataset, 1, &all, &expected, 0).is_complete());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_complete(&self) -> bool {
        self.pools.iter().all(|p| p.created == p.expected)
    }

    fn location(agent: u32) -> StorePath {
        StorePath::from(format!("{}/{RECORD_NAME}", remote_shard_root(agent)))
    }

    /// Writes the record to the endpoint store.
    ///
    /// # Errors
    /// Store failures.
    ///
    /// ```
    /// use cache_sai3::dataset_record::DatasetRecord;
    /// use roaring::RoaringTreemap;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// // Endpoint 1 owns the odd indices of pool 0; 1, 3 and 5 are present.
    /// let expected = [RoaringTreemap::from_iter([1u64, 3, 5, 7])];
    /// let present = [RoaringTreemap::from_iter([1u64, 3, 5])];
    /// let record = DatasetRecord::build(&dataset, 1, &present, &expected, 1_700_000_000_000);
    /// let store = object_store::memory::InMemory::new();
    /// record.write(&store).await?;
    /// assert_eq!(DatasetRecord::read(&store, &record.uri, 0).await?, Some(record));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn write(&self, store: &dyn ObjectStore) -> Result<()> {
        let body = serde_json::to_vec_pretty(self).map_err(|e| Sai3Error::Endpoint {
            endpoint: self.uri.clone(),
            reason: format!("cannot encode the dataset record: {e}"),
        })?;
        store
            .put(&Self::location(self.agent), body.into())
            .await
            .map_err(|e| Sai3Error::Endpoint {
                endpoint: self.uri.clone(),
                reason: format!("cannot write {RECORD_NAME}: {e}"),
            })?;
        Ok(())
    }

    /// Reads agent `agent`'s record of the endpoint store at `uri`: `None` when there is none, or when
    /// what is stored is not a record of this format (a damaged or foreign record is never
    /// trusted; the caller lists instead).
    ///
    /// # Errors
    /// Store failures other than "not found" (authentication, network): they are not "no
    /// record".
    ///
    /// ```
    /// use cache_sai3::dataset_record::DatasetRecord;
    /// use roaring::RoaringTreemap;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// # let tmp = tempfile::tempdir()?;
    /// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
    /// let dataset = cache_sai3::dataset::Dataset::load(&config)?;
    /// // Endpoint 1 owns the odd indices of pool 0; 1, 3 and 5 are present.
    /// let expected = [RoaringTreemap::from_iter([1u64, 3, 5, 7])];
    /// let present = [RoaringTreemap::from_iter([1u64, 3, 5])];
    /// let record = DatasetRecord::build(&dataset, 1, &present, &expected, 1_700_000_000_000);
    /// let store = object_store::memory::InMemory::new();
    /// assert_eq!(DatasetRecord::read(&store, &record.uri, 0).await?, None); // none yet
    /// record.write(&store).await?;
    /// let read = DatasetRecord::read(&store, &record.uri, 0).await?.expect("written");
    /// assert_eq!(read.ranges, record.ranges);
    /// assert_eq!(DatasetRecord::read(&store, &record.uri, 1).await?, None); // agent 1's: none
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn read(store: &dyn ObjectStore, uri: &str, agent: u32) -> Result<Option<Self>> {
        let failed = |e: object_store::Error| Sai3Error::Endpoint {
            endpoint: uri.to_owned(),
            reason: format!("cannot read {RECORD_NAME}: {e}"),
        };
        let bytes = match store.get(&Self::location(agent)).await {
            // Larger than any record we write: not one (and not read into memory).
            Ok(got) if got.meta.size > MAX_RECORD_BYTES => return Ok(None),
            Ok(got) => got.bytes().await.map_err(failed)?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(failed(e)),
        };
        Ok(serde_json::from_slice::<DatasetRecord>(&bytes)
            .ok()
            .filter(|r| r.format == 1 && r.agent == agent))
    }
}

#[cfg(test)]
mod tests {

    #[tokio::test]
    async fn an_oversized_object_under_the_record_name_is_no_record() {
        use object_store::ObjectStoreExt;
        let store = object_store::memory::InMemory::new();
        let record = DatasetRecord {
            format: 1,
            config_hash: "00".repeat(32),
            agent: 0,
            endpoint: 0,
            uri: "s3://b/".into(),
            sealed_ms: 1,
            pools: Vec::new(),
            ranges: Vec::new(),
        };
        let mut body = serde_json::to_vec(&record).expect("json");
        store
            .put(&DatasetRecord::location(0), body.clone().into())
            .await
            .expect("put");
        let read = DatasetRecord::read(&store, "s3://b/", 0)
            .await
            .expect("read");
        assert!(read.is_some(), "a record of normal size is read");
        // The same record padded with whitespace (still valid JSON) past the limit.
        body.resize(usize::try_from(MAX_RECORD_BYTES).expect("usize") + 1, b' ');
        store
            .put(&DatasetRecord::location(0), body.into())
            .await
            .expect("put");
        let read = DatasetRecord::read(&store, "s3://b/", 0)
            .await
            .expect("read");
        assert!(read.is_none());
    }
    use super::*;

    #[test]
    fn digests_split_at_span_and_change_with_content() {
        let mut present = RoaringTreemap::new();
        present.insert_range(0..3 * RANGE_SPAN / 2);
        let d = range_digests(0, &present, 3 * RANGE_SPAN / 2 + 10);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].count, RANGE_SPAN);
        assert_eq!(d[1].first, RANGE_SPAN);
        assert_eq!(d[1].count, RANGE_SPAN / 2);
        present.remove(RANGE_SPAN + 5);
        let e = range_digests(0, &present, 3 * RANGE_SPAN / 2 + 10);
        assert_eq!(d[0], e[0]);
        assert_ne!(d[1].digest, e[1].digest);
        assert!(range_digests(0, &present, 0).is_empty());
    }
}
