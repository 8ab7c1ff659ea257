//! [`FramedKeyspace`]: a keyspace whose values are verified frames, large values split into
//! chunks transparently, and records serialized with postcard.
//!
//! A value up to `chunk_size` bytes is one [`FrameKind::Value`] frame under its key. A larger
//! value is a [`FrameKind::ChunkedHeader`] frame under its key (chunk count, total length, xxh3
//! of the whole value) plus `n` [`FrameKind::Chunk`] frames in the companion keyspace
//! `{name}#chunks`, keyed `len_prefixed(key) ++ u32 index`. Header and chunks are written in one
//! atomic batch, and an overwrite or removal deletes the old chunks in that same batch, so the
//! companion keyspace never holds orphans. Scans of the main keyspace see one entry per value;
//! the companion keyspace is invisible to them.
//!
//! Default chunk size: 4 MiB minus 1 KiB, so a chunk plus its frame fits the power-of-two page
//! runs redb allocates for large values without wasting half a run.
//!
//! ```
//! use cache_core::{Database, Durability, FrameSettings, FramedKeyspace};
//! # let db = cache_core::database::memory::MemoryDatabase::default();
//! let small_chunks = FrameSettings { chunk_size: 1000, ..FrameSettings::default() };
//! let listings = FramedKeyspace::open(&db, "listings", small_chunks)?;
//! let listing = b"object-name\n".repeat(500);
//! listings.insert(b"bucket-1", &listing, Durability::Flushed)?;
//! assert_eq!(listings.get(b"bucket-1")?, Some(listing), "reassembled from 6 chunks");
//! assert_eq!(listings.chunk_entries()?, 6);
//! assert_eq!(db.keyspace_names()?, ["listings", "listings#chunks"]);
//! # Ok::<(), cache_core::Error>(())
//! ```

use std::ops::Bound;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::database::{Database, Direction, Durability, Keyspace, WriteBatch};
use crate::error::{Error, Result};
use crate::frame::{self, Compression, FrameKind, MAX_FRAME_PAYLOAD};
use crate::key::{KeyBuilder, KeyReader};

/// Default chunk size: 4 MiB - 1 KiB.
pub(crate) const DEFAULT_CHUNK_SIZE: usize = 4 * 1024 * 1024 - 1024;

/// Suffix of the companion keyspace that stores chunks.
pub(crate) const CHUNKS_SUFFIX: &str = "#chunks";

/// How a [`FramedKeyspace`] encodes values.
///
/// ```
/// use cache_core::{Compression, FrameSettings};
/// let listings = FrameSettings { compression: Compression::Zstd(3), ..FrameSettings::default() };
/// assert_eq!(listings.chunk_size, FrameSettings::default().chunk_size);
/// assert_eq!(FrameSettings::default().compression, Compression::Lz4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSettings {
    /// Codec for values (and each chunk).
    pub compression: Compression,
    /// Values longer than this are split into chunks of this size (1 byte to 64 MiB).
    pub chunk_size: usize,
}

impl Default for FrameSettings {
    /// lz4, 4 MiB - 1 KiB chunks.
    fn default() -> Self {
        FrameSettings {
            compression: Compression::Lz4,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

/// A keyspace of verified, optionally compressed, transparently chunked values.
///
/// Every read verifies the frame: a damaged, truncated, foreign or misplaced value is reported
/// as [`Error::Corrupt`], never returned as data.
///
/// ```
/// use cache_core::{Durability, FrameSettings, FramedKeyspace};
/// # let db = cache_core::database::memory::MemoryDatabase::default();
/// let objects = FramedKeyspace::open(&db, "objects", FrameSettings::default())?;
/// objects.insert(b"k", b"v", Durability::Flushed)?;
/// assert_eq!(objects.get(b"k")?, Some(b"v".to_vec()));
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Clone)]
pub struct FramedKeyspace<D: Database> {
    db: D,
    data: D::Keyspace,
    chunks: D::Keyspace,
    settings: FrameSettings,
    /// False while the chunk store is known to be empty: then writes skip looking for old
    /// chunks to remove (one range scan per write otherwise). Learned at open, set when this
    /// handle writes chunks. If another handle writes chunks meanwhile, the worst outcome is
    /// orphaned chunks (wasted space): reads follow the header, so never wrong data.
    may_have_chunks: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

struct ChunkedHeader {
    count: u32,
    total_len: u64,
    hash: u64,
}

impl ChunkedHeader {
    fn encode(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out[..4].copy_from_slice(&self.count.to_le_bytes());
        out[4..12].copy_from_slice(&self.total_len.to_le_bytes());
        out[12..].copy_from_slice(&self.hash.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 20 {
            return None;
        }
        Some(ChunkedHeader {
            count: u32::from_le_bytes(bytes[..4].try_into().ok()?),
            total_len: u64::from_le_bytes(bytes[4..12].try_into().ok()?),
            hash: u64::from_le_bytes(bytes[12..].try_into().ok()?),
        })
    }
}

fn chunk_prefix(key: &[u8]) -> Vec<u8> {
    KeyBuilder::untagged().len_prefixed(key).finish()
}

fn chunk_key(key: &[u8], index: u32) -> Vec<u8> {
    KeyBuilder::untagged().len_prefixed(key).u32(index).finish()
}

impl<D: Database> FramedKeyspace<D> {
    /// Deletes the framed keyspace `name` of `db` with its chunk companion. Returns whether
    /// either existed.
    ///
    /// # Errors
    /// Engine failures.
    ///
    /// ```
    /// use cache_core::{Database, Durability, FrameSettings, FramedKeyspace};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let objects = FramedKeyspace::open(&db, "objects", FrameSettings::default())?;
    /// objects.insert(b"k", b"v", Durability::Flushed)?;
    /// assert_eq!(db.keyspace_names()?, ["objects", "objects#chunks"]);
    /// assert!(FramedKeyspace::drop_from(&db, "objects")?);
    /// assert!(db.keyspace_names()?.is_empty());
    /// assert!(!FramedKeyspace::drop_from(&db, "objects")?, "nothing left to drop");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn drop_from(db: &D, name: &str) -> Result<bool> {
        let data = db.drop_keyspace(name)?;
        let chunks = db.drop_keyspace(&format!("{name}{CHUNKS_SUFFIX}"))?;
        Ok(data || chunks)
    }

    /// Opens (creating if needed) the keyspace `name` and its chunk store.
    ///
    /// ```
    /// use cache_core::{FrameSettings, FramedKeyspace};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let objects = FramedKeyspace::open(&db, "objects", FrameSettings::default())?;
    /// assert_eq!(objects.name(), "objects");
    /// let zero = FrameSettings { chunk_size: 0, ..FrameSettings::default() };
    /// assert!(FramedKeyspace::open(&db, "objects", zero).is_err());
    /// assert!(FramedKeyspace::open(&db, "bad name", FrameSettings::default()).is_err());
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn open(db: &D, name: &str, settings: FrameSettings) -> Result<Self> {
        crate::database::validate_keyspace_name(name)?;
        if settings.chunk_size == 0 || settings.chunk_size > MAX_FRAME_PAYLOAD {
            return Err(Error::InvalidArgument(format!(
                "chunk size {} must be between 1 and {MAX_FRAME_PAYLOAD} bytes",
                settings.chunk_size
            )));
        }
        let chunks = db.keyspace(&format!("{name}{CHUNKS_SUFFIX}"))?;
        let any_chunk = chunks
            .range(Bound::Unbounded, Bound::Unbounded, Direction::Forward)?
            .next()
            .is_some();
        Ok(FramedKeyspace {
            db: db.clone(),
            data: db.keyspace(name)?,
            chunks,
            settings,
            may_have_chunks: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(any_chunk)),
        })
    }

    /// The keyspace's name.
    ///
    /// ```
    /// use cache_core::{FrameSettings, FramedKeyspace};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let listings = FramedKeyspace::open(&db, "listings", FrameSettings::default())?;
    /// assert_eq!(listings.name(), "listings");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        self.data.name()
    }

    /// The underlying raw keyspace (frames as stored).
    ///
    /// ```
    /// use cache_core::frame::{FrameKind, decode};
    /// use cache_core::{Durability, FrameSettings, FramedKeyspace, Keyspace};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let objects = FramedKeyspace::open(&db, "objects", FrameSettings::default())?;
    /// objects.insert(b"k", b"v", Durability::Flushed)?;
    /// let stored = objects.raw().get(b"k")?.expect("present");
    /// assert_ne!(stored, b"v", "the raw keyspace holds the frame");
    /// assert_eq!(decode("objects", b"k", &stored)?, (FrameKind::Value, b"v".to_vec()));
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn raw(&self) -> &D::Keyspace {
        &self.data
    }

    /// The database this keyspace belongs to.
    ///
    /// ```
    /// use cache_core::{Database, FrameSettings, FramedKeyspace};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let objects = FramedKeyspace::open(&db, "objects", FrameSettings::default())?;
    /// assert_eq!(objects.database().path(), db.path());
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn database(&self) -> &D {
        &self.db
    }

    /// Reads and verifies the value under `key`.
    ///
    /// ```
    /// use cache_core::{Durability, ErrorKind, FrameSettings, FramedKeyspace, Keyspace};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let objects = FramedKeyspace::open(&db, "objects", FrameSettings::default())?;
    /// objects.insert(b"k", b"v", Durability::Flushed)?;
    /// assert_eq!(objects.get(b"k")?, Some(b"v".to_vec()));
    /// assert_eq!(objects.get(b"missing")?, None);
    /// objects.raw().insert(b"bad", b"not a frame")?;
    /// assert_eq!(objects.get(b"bad").unwrap_err().kind(), ErrorKind::Corrupt);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.data.get(key)? {
            None => Ok(None),
            Some(frame) => self.open_frame(key, &frame, true).map(Some),
        }
    }

    /// Whether `key` is present (does not verify the value).
    ///
    /// ```
    /// use cache_core::{Durability, FrameSettings, FramedKeyspace};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let objects = FramedKeyspace::open(&db, "objects", FrameSettings::default())?;
    /// objects.insert(b"k", b"v", Durability::Flushed)?;
    /// assert!(objects.contains(b"k")?);
    /// assert!(!objects.contains(b"other")?);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn contains(&self, key: &[u8]) -> Result<bool> {
        self.data.contains(key)
    }

    fn open_frame(&self, key: &[u8], frame: &[u8], may_retry: bool) -> Result<Vec<u8>> {
        let (kind, payload) = frame::decode(self.name(), key, frame)?;
        match kind {
            FrameKind::Value => Ok(payload),
            FrameKind::Chunk => Err(Error::corrupt(
                self.name(),
                key,
                "a chunk frame is stored where a value belongs",
            )),
            FrameKind::ChunkedHeader => {
                let header = ChunkedHeader::decode(&payload).ok_or_else(|| {
                    Error::corrupt(self.name(), key, "chunked-value header is malformed")
                })?;
                match self.assemble(key, &header) {
                    // A concurrent overwrite may replace the chunks between reading the header
                    // and reading them; re-read the header once before calling it corruption.
                    Err(e) if may_retry && e.is_corruption() => match self.data.get(key)? {
                        Some(again) if again != frame => self.open_frame(key, &again, false),
                        _ => Err(e),
                    },
                    other => other,
                }
            }
        }
    }

    fn assemble(&self, key: &[u8], header: &ChunkedHeader) -> Result<Vec<u8>> {
        let total = usize::try_from(header.total_len).map_err(|_| {
            Error::corrupt(self.name(), key, "chunked value larger than this platform")
        })?;
        let max_total = (header.count as u64).saturating_mul(MAX_FRAME_PAYLOAD as u64);
        if header.total_len > max_total {
            return Err(Error::corrupt(
                self.name(),
                key,
                format!(
                    "header declares {} bytes in {} chunks",
                    header.total_len, header.count
                ),
            ));
        }
        let mut out = Vec::with_capacity(total.min(1 << 30));
        for i in 0..header.count {
            let ck = chunk_key(key, i);
            let frame = self.chunks.get(&ck)?.ok_or_else(|| {
                Error::corrupt(
                    self.name(),
                    key,
                    format!("chunk {i} of {} is missing", header.count),
                )
            })?;
            let (kind, part) = frame::decode(self.chunks.name(), &ck, &frame)?;
            if kind != FrameKind::Chunk {
                return Err(Error::corrupt(
                    self.name(),
                    key,
                    format!("chunk {i} has the wrong frame kind"),
                ));
            }
            out.extend_from_slice(&part);
        }
        if out.len() != total || xxhash_rust::xxh3::xxh3_64(&out) != header.hash {
            return Err(Error::corrupt(
                self.name(),
                key,
                "reassembled chunks do not match the header (length or hash)",
            ));
        }
        Ok(out)
    }

    /// Queues the removal of any chunks stored for `key`.
    fn queue_chunk_removal(&self, batch: &mut D::Batch, key: &[u8]) -> Result<()> {
        if !self
            .may_have_chunks
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return Ok(());
        }
        for entry in self.chunks.prefix(&chunk_prefix(key), Direction::Forward)? {
            let (ck, _) = entry?;
            batch.remove(&self.chunks, &ck);
        }
        Ok(())
    }

    /// Queues `value` under `key` into `batch` (which may hold writes to other keyspaces of the
    /// same database; all of it commits atomically).
    ///
    /// ```
    /// use cache_core::{Database, Durability, FrameSettings, FramedKeyspace, WriteBatch};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let objects = FramedKeyspace::open(&db, "objects", FrameSettings::default())?;
    /// let sizes = FramedKeyspace::open(&db, "sizes", FrameSettings::default())?;
    /// let mut batch = db.batch();
    /// objects.insert_into(&mut batch, b"o1", b"meta")?;
    /// sizes.insert_into(&mut batch, b"o1", b"4096")?;
    /// assert_eq!(objects.get(b"o1")?, None, "nothing is visible before the commit");
    /// batch.commit(Durability::Flushed)?;
    /// assert_eq!(sizes.get(b"o1")?, Some(b"4096".to_vec()));
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn insert_into(&self, batch: &mut D::Batch, key: &[u8], value: &[u8]) -> Result<()> {
        self.queue_chunk_removal(batch, key)?;
        let compression = self.settings.compression;
        if value.len() <= self.settings.chunk_size {
            batch.insert(
                &self.data,
                key,
                &frame::encode(key, FrameKind::Value, value, compression),
            );
            return Ok(());
        }
        self.may_have_chunks
            .store(true, std::sync::atomic::Ordering::Release);
        let mut count = 0u32;
        for (i, part) in value.chunks(self.settings.chunk_size).enumerate() {
            let index = u32::try_from(i)
                .map_err(|_| Error::InvalidArgument("value needs more than 2^32 chunks".into()))?;
            let ck = chunk_key(key, index);
            batch.insert(
                &self.chunks,
                &ck,
                &frame::encode(&ck, FrameKind::Chunk, part, compression),
            );
            count = index + 1;
        }
        let header = ChunkedHeader {
            count,
            total_len: value.len() as u64,
            hash: xxhash_rust::xxh3::xxh3_64(value),
        };
        batch.insert(
            &self.data,
            key,
            &frame::encode(
                key,
                FrameKind::ChunkedHeader,
                &header.encode(),
                Compression::None,
            ),
        );
        Ok(())
    }

    /// Queues the removal of `key` (and its chunks) into `batch`.
    ///
    /// ```
    /// use cache_core::{Database, Durability, FrameSettings, FramedKeyspace, WriteBatch};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let small = FrameSettings { chunk_size: 4, ..FrameSettings::default() };
    /// let objects = FramedKeyspace::open(&db, "objects", small)?;
    /// objects.insert(b"big", b"split into chunks", Durability::Flushed)?;
    /// let mut batch = db.batch();
    /// objects.remove_into(&mut batch, b"big")?;
    /// batch.commit(Durability::Flushed)?;
    /// assert_eq!(objects.get(b"big")?, None);
    /// assert_eq!(objects.chunk_entries()?, 0, "its chunks went in the same batch");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn remove_into(&self, batch: &mut D::Batch, key: &[u8]) -> Result<()> {
        self.queue_chunk_removal(batch, key)?;
        batch.remove(&self.data, key);
        Ok(())
    }

    /// Stores `value` under `key` in its own batch, committed with `durability`.
    ///
    /// ```
    /// use cache_core::{Durability, FrameSettings, FramedKeyspace};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let small = FrameSettings { chunk_size: 4, ..FrameSettings::default() };
    /// let objects = FramedKeyspace::open(&db, "objects", small)?;
    /// objects.insert(b"k", b"0123456789", Durability::Flushed)?;
    /// assert_eq!(objects.chunk_entries()?, 3, "10 bytes in chunks of 4");
    /// assert_eq!(objects.get(b"k")?, Some(b"0123456789".to_vec()));
    /// objects.insert(b"k", b"abc", Durability::Flushed)?;
    /// assert_eq!(objects.chunk_entries()?, 0, "an overwrite removes the old chunks");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn insert(&self, key: &[u8], value: &[u8], durability: Durability) -> Result<()> {
        let mut batch = self.db.batch();
        self.insert_into(&mut batch, key, value)?;
        batch.commit(durability)
    }

    /// Removes `key` in its own batch, committed with `durability`.
    ///
    /// ```
    /// use cache_core::{Durability, FrameSettings, FramedKeyspace};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let objects = FramedKeyspace::open(&db, "objects", FrameSettings::default())?;
    /// objects.insert(b"k", b"v", Durability::Buffered)?;
    /// objects.remove(b"k", Durability::Flushed)?;
    /// assert!(!objects.contains(b"k")?);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn remove(&self, key: &[u8], durability: Durability) -> Result<()> {
        let mut batch = self.db.batch();
        self.remove_into(&mut batch, key)?;
        batch.commit(durability)
    }

    /// Iterates verified values within `(start, end)`.
    ///
    /// ```
    /// use std::ops::Bound::{Excluded, Included};
    /// use cache_core::{Direction, Durability, FrameSettings, FramedKeyspace};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let objects = FramedKeyspace::open(&db, "objects", FrameSettings::default())?;
    /// for k in [b"a", b"b", b"c"] {
    ///     objects.insert(k, k, Durability::Buffered)?;
    /// }
    /// let values: Vec<Vec<u8>> = objects
    ///     .range(Included(b"a"), Excluded(b"c"), Direction::Reverse)?
    ///     .map(|kv| kv.map(|(_, v)| v))
    ///     .collect::<cache_core::Result<_>>()?;
    /// assert_eq!(values, [b"b", b"a"]);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn range(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        direction: Direction,
    ) -> Result<impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + '_> {
        let inner = self.data.range(start, end, direction)?;
        Ok(inner.map(move |entry| {
            let (k, frame) = entry?;
            let v = self.open_frame(&k, &frame, true)?;
            Ok((k, v))
        }))
    }

    /// Iterates verified values whose keys start with `prefix`.
    ///
    /// ```
    /// use cache_core::{Direction, Durability, FrameSettings, FramedKeyspace, KeyBuilder};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let objects = FramedKeyspace::open(&db, "objects", FrameSettings::default())?;
    /// for (pool, n) in [(1u16, 10u64), (1, 11), (2, 10)] {
    ///     let key = KeyBuilder::new(1).u16(pool).u64(n).finish();
    ///     objects.insert(&key, b"", Durability::Buffered)?;
    /// }
    /// let pool_1 = KeyBuilder::new(1).u16(1);
    /// assert_eq!(objects.prefix(pool_1.as_bytes(), Direction::Forward)?.count(), 2);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn prefix(
        &self,
        prefix: &[u8],
        direction: Direction,
    ) -> Result<impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + '_> {
        let inner = self.data.prefix(prefix, direction)?;
        Ok(inner.map(move |entry| {
            let (k, frame) = entry?;
            let v = self.open_frame(&k, &frame, true)?;
            Ok((k, v))
        }))
    }

    /// Approximate number of values (chunks not counted).
    ///
    /// ```
    /// use cache_core::{Durability, FrameSettings, FramedKeyspace};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let small = FrameSettings { chunk_size: 2, ..FrameSettings::default() };
    /// let objects = FramedKeyspace::open(&db, "objects", small)?;
    /// objects.insert(b"k1", b"v", Durability::Buffered)?;
    /// objects.insert(b"k2", b"chunked", Durability::Buffered)?;
    /// assert!(objects.approximate_len()? <= 2, "chunks are not counted");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn approximate_len(&self) -> Result<u64> {
        self.data.approximate_len()
    }

    /// Reads and deserializes the record under `key`.
    ///
    /// ```
    /// use cache_core::{Durability, FrameSettings, FramedKeyspace};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let seeds = FramedKeyspace::open(&db, "seeds", FrameSettings::default())?;
    /// seeds.insert_record(b"pool-1", &(42u64, "zipf"), Durability::Flushed)?;
    /// let seed: Option<(u64, String)> = seeds.get_record(b"pool-1")?;
    /// assert_eq!(seed, Some((42, "zipf".to_owned())));
    /// assert_eq!(seeds.get_record::<(u64, String)>(b"pool-2")?, None);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn get_record<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        match self.get(key)? {
            None => Ok(None),
            Some(bytes) => crate::record::decode(self.name(), key, &bytes).map(Some),
        }
    }

    /// Queues a serialized record into `batch`.
    ///
    /// ```
    /// use cache_core::{Database, Durability, FrameSettings, FramedKeyspace, WriteBatch};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let seeds = FramedKeyspace::open(&db, "seeds", FrameSettings::default())?;
    /// let mut batch = db.batch();
    /// seeds.insert_record_into(&mut batch, b"pool-1", &7u32)?;
    /// seeds.insert_record_into(&mut batch, b"pool-2", &8u32)?;
    /// batch.commit(Durability::Flushed)?;
    /// assert_eq!(seeds.get_record::<u32>(b"pool-2")?, Some(8));
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn insert_record_into<T: Serialize>(
        &self,
        batch: &mut D::Batch,
        key: &[u8],
        record: &T,
    ) -> Result<()> {
        let bytes = crate::record::encode(self.name(), record)?;
        self.insert_into(batch, key, &bytes)
    }

    /// Stores a serialized record in its own batch.
    ///
    /// ```
    /// use cache_core::{Durability, FrameSettings, FramedKeyspace};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let seeds = FramedKeyspace::open(&db, "seeds", FrameSettings::default())?;
    /// seeds.insert_record(b"pool-1", &vec![1u64, 2, 3], Durability::Flushed)?;
    /// assert_eq!(seeds.get_record::<Vec<u64>>(b"pool-1")?, Some(vec![1, 2, 3]));
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn insert_record<T: Serialize>(
        &self,
        key: &[u8],
        record: &T,
        durability: Durability,
    ) -> Result<()> {
        let bytes = crate::record::encode(self.name(), record)?;
        self.insert(key, &bytes, durability)
    }

    /// Number of chunk entries in the companion keyspace (for diagnostics and tests).
    ///
    /// ```
    /// use cache_core::{Durability, FrameSettings, FramedKeyspace};
    /// # let db = cache_core::database::memory::MemoryDatabase::default();
    /// let small = FrameSettings { chunk_size: 1024, ..FrameSettings::default() };
    /// let objects = FramedKeyspace::open(&db, "objects", small)?;
    /// objects.insert(b"small", &[0; 1024], Durability::Flushed)?;
    /// assert_eq!(objects.chunk_entries()?, 0, "a value of one chunk size is not split");
    /// objects.insert(b"large", &[0; 1025], Durability::Flushed)?;
    /// assert_eq!(objects.chunk_entries()?, 2);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn chunk_entries(&self) -> Result<u64> {
        let mut n = 0;
        for entry in self
            .chunks
            .range(Bound::Unbounded, Bound::Unbounded, Direction::Forward)?
        {
            let (k, _) = entry?;
            // Keys must decode as len_prefixed ++ u32; anything else is foreign.
            let mut r = KeyReader::new(&k);
            r.len_prefixed()?;
            r.u32()?;
            r.finish()?;
            n += 1;
        }
        Ok(n)
    }
}
