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

use std::ops::Bound;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::database::{Database, Direction, Durability, Keyspace, WriteBatch};
use crate::error::{Error, Result};
use crate::frame::{self, Compression, FrameKind, MAX_FRAME_PAYLOAD};
use crate::key::{KeyBuilder, KeyReader};

/// Default chunk size: 4 MiB - 1 KiB.
pub const DEFAULT_CHUNK_SIZE: usize = 4 * 1024 * 1024 - 1024;

/// Suffix of the companion keyspace that stores chunks.
pub const CHUNKS_SUFFIX: &str = "#chunks";

/// How a [`FramedKeyspace`] encodes values.
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
    pub fn drop_from(db: &D, name: &str) -> Result<bool> {
        let data = db.drop_keyspace(name)?;
        let chunks = db.drop_keyspace(&format!("{name}{CHUNKS_SUFFIX}"))?;
        Ok(data || chunks)
    }

    /// Opens (creating if needed) the keyspace `name` and its chunk store.
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
    pub fn name(&self) -> &str {
        self.data.name()
    }

    /// The underlying raw keyspace (frames as stored).
    pub fn raw(&self) -> &D::Keyspace {
        &self.data
    }

    /// The database this keyspace belongs to.
    pub fn database(&self) -> &D {
        &self.db
    }

    /// Reads and verifies the value under `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.data.get(key)? {
            None => Ok(None),
            Some(frame) => self.open_frame(key, &frame, true).map(Some),
        }
    }

    /// Whether `key` is present (does not verify the value).
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
    pub fn remove_into(&self, batch: &mut D::Batch, key: &[u8]) -> Result<()> {
        self.queue_chunk_removal(batch, key)?;
        batch.remove(&self.data, key);
        Ok(())
    }

    /// Stores `value` under `key` in its own batch, committed with `durability`.
    pub fn insert(&self, key: &[u8], value: &[u8], durability: Durability) -> Result<()> {
        let mut batch = self.db.batch();
        self.insert_into(&mut batch, key, value)?;
        batch.commit(durability)
    }

    /// Removes `key` in its own batch, committed with `durability`.
    pub fn remove(&self, key: &[u8], durability: Durability) -> Result<()> {
        let mut batch = self.db.batch();
        self.remove_into(&mut batch, key)?;
        batch.commit(durability)
    }

    /// Iterates verified values within `(start, end)`.
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
    pub fn approximate_len(&self) -> Result<u64> {
        self.data.approximate_len()
    }

    /// Reads and deserializes the record under `key`.
    pub fn get_record<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        match self.get(key)? {
            None => Ok(None),
            Some(bytes) => crate::record::decode(self.name(), key, &bytes).map(Some),
        }
    }

    /// Queues a serialized record into `batch`.
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
