//! The storage traits every backend implements: a [`Database`] of named [`Keyspace`]s with
//! atomic cross-keyspace [`WriteBatch`]es and explicit [`Durability`].
//!
//! Keys and values are plain bytes here; ordering is bytewise (memcmp). Typed keys come from
//! [`crate::key`], verified values from [`crate::framed`].
//!
//! Code written against these traits runs on every backend:
//!
//! ```
//! use cache_core::database::{Database, Direction, Durability, Keyspace, WriteBatch};
//!
//! /// Stores `n` numbered objects atomically; returns the keys of a prefix scan.
//! fn store<D: Database>(db: &D, n: u8) -> cache_core::Result<Vec<Vec<u8>>> {
//!     let objects = db.keyspace("objects")?;
//!     let mut batch = db.batch();
//!     for i in 0..n {
//!         batch.insert(&objects, &[b'o', i], b"v");
//!     }
//!     batch.commit(Durability::Flushed)?;
//!     objects
//!         .prefix(b"o", Direction::Forward)?
//!         .map(|kv| kv.map(|(k, _)| k))
//!         .collect()
//! }
//! # let db = cache_core::database::memory::MemoryDatabase::default();
//! assert_eq!(store(&db, 2)?, [b"o\x00".to_vec(), b"o\x01".to_vec()]);
//! # Ok::<(), cache_core::Error>(())
//! ```

use std::ops::Bound;
use std::path::Path;

use crate::error::{Error, Result};

#[doc(hidden)]
pub mod memory;

/// How far a write must have travelled before the call that made it returns.
///
/// | mode | survives a clean close | survives the process being killed | survives power loss |
/// |------|------|------|------|
/// | `Buffered` | yes | no guarantee | no |
/// | `Flushed`  | yes | yes | no guarantee |
/// | `Synced`   | yes | yes | yes |
///
/// A backend may implement a mode with a stronger one (redb has no "flushed but not synced"
/// commit, so its `Flushed` is `Synced`), never with a weaker one. Modes order from weakest to
/// strongest.
///
/// ```
/// use cache_core::Durability;
/// assert!(Durability::Buffered < Durability::Flushed);
/// assert_eq!(Durability::Flushed.max(Durability::Synced), Durability::Synced);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Durability {
    /// Kept in process memory until a later `Flushed`/`Synced` commit, `persist`, or close.
    Buffered,
    /// Handed to the operating system: survives a crash of this process.
    Flushed,
    /// On stable storage (`fsync`): survives an OS crash or power loss.
    Synced,
}

/// Order of an iteration.
///
/// ```
/// use cache_core::{Database, Direction, Keyspace};
/// # let db = cache_core::database::memory::MemoryDatabase::default();
/// let ks = db.keyspace("letters")?;
/// for k in [b"a", b"b", b"c"] {
///     ks.insert(k, b"")?;
/// }
/// let newest_first: Vec<Vec<u8>> = ks
///     .prefix(b"", Direction::Reverse)?
///     .map(|kv| kv.map(|(k, _)| k))
///     .collect::<cache_core::Result<_>>()?;
/// assert_eq!(newest_first, [b"c", b"b", b"a"]);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Ascending byte order.
    Forward,
    /// Descending byte order.
    Reverse,
}

/// A key and its value, both owned.
///
/// ```
/// use cache_core::{Database, Direction, Keyspace, KvPair};
/// # let db = cache_core::database::memory::MemoryDatabase::default();
/// let ks = db.keyspace("objects")?;
/// ks.insert(b"k", b"v")?;
/// let first: Option<KvPair> = ks.prefix(b"k", Direction::Forward)?.next().transpose()?;
/// assert_eq!(first, Some((b"k".to_vec(), b"v".to_vec())));
/// # Ok::<(), cache_core::Error>(())
/// ```
pub type KvPair = (Vec<u8>, Vec<u8>);

/// An ordered iterator over key/value pairs. It owns what it needs (it does not borrow the
/// keyspace) and sees one consistent point-in-time view of the keyspace: writes committed after
/// it was created are not visible through it.
///
/// ```
/// use std::ops::Bound;
/// use cache_core::{Database, Direction, Keyspace, KvIter};
/// # let db = cache_core::database::memory::MemoryDatabase::default();
/// let ks = db.keyspace("objects")?;
/// ks.insert(b"a", b"1")?;
/// let iter: KvIter = ks.range(Bound::Unbounded, Bound::Unbounded, Direction::Forward)?;
/// ks.insert(b"b", b"2")?; // committed after the iterator was made: not seen through it
/// assert_eq!(iter.count(), 1);
/// # Ok::<(), cache_core::Error>(())
/// ```
pub type KvIter = Box<dyn Iterator<Item = Result<KvPair>> + Send + 'static>;

/// Settings common to every backend. Backend crates offer their own tuning on top.
///
/// ```
/// use cache_core::OpenOptions;
/// let options = OpenOptions { cache_size_bytes: 64 << 20, ..OpenOptions::default() };
/// assert!(options.create_if_missing);
/// assert_eq!(OpenOptions::default().cache_size_bytes, 256 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// Block/page cache budget in bytes.
    pub cache_size_bytes: u64,
    /// Create the database if the directory does not hold one yet.
    pub create_if_missing: bool,
}

impl Default for OpenOptions {
    /// 256 MiB of cache, create if missing.
    fn default() -> Self {
        OpenOptions {
            cache_size_bytes: 256 * 1024 * 1024,
            create_if_missing: true,
        }
    }
}

/// An open database: a directory holding named keyspaces.
///
/// # Thread safety
/// Handles are `Send + Sync` and cheap to clone; clones share the same open database. Any
/// number of threads may read while one thread writes. Concurrent writers are allowed and are
/// serialized by the backend, but the crates above this one use one writer per database.
///
/// # Closing
/// The database is closed when the last clone and every [`Keyspace`] handle are dropped. Only a
/// closed database directory may be copied (see `cache-sync`).
///
/// # Example
/// Backends implement this trait (`cache_fjall::FjallDatabase`, `cache_redb::RedbDatabase`);
/// code generic over it runs on each:
///
/// ```
/// use cache_core::{Database, Durability, Keyspace, WriteBatch};
///
/// fn store_one<D: Database>(db: &D) -> cache_core::Result<Option<Vec<u8>>> {
///     let objects = db.keyspace("objects")?;
///     let mut batch = db.batch();
///     batch.insert(&objects, b"k", b"v");
///     batch.commit(Durability::Flushed)?;
///     objects.get(b"k")
/// }
/// # let db = cache_core::database::memory::MemoryDatabase::default();
/// assert_eq!(store_one(&db)?, Some(b"v".to_vec()));
/// assert_eq!(db.keyspace_names()?, ["objects"]);
/// # Ok::<(), cache_core::Error>(())
/// ```
pub trait Database: Clone + Send + Sync + Sized + 'static {
    /// The keyspace handle type.
    type Keyspace: Keyspace;
    /// The write batch type.
    type Batch: WriteBatch<Keyspace = Self::Keyspace>;

    /// Short lowercase backend name (`fjall`, `redb`), as written in the format marker.
    const BACKEND: &'static str;

    /// Opens the database at `path`, creating it when `options.create_if_missing` allows.
    ///
    /// # Errors
    /// [`Error::WrongBackend`] when the directory holds another backend's cache,
    /// [`Error::NotACache`] when it holds something else, [`Error::FormatTooNew`] when a newer
    /// build wrote it, [`Error::Backend`] or [`Error::Io`] when the engine fails.
    fn open(path: &Path, options: &OpenOptions) -> Result<Self>;

    /// The directory this database lives in.
    fn path(&self) -> &Path;

    /// Opens the keyspace `name`, creating it if it does not exist.
    /// Names follow [`validate_keyspace_name`].
    fn keyspace(&self, name: &str) -> Result<Self::Keyspace>;

    /// Names of all keyspaces, sorted.
    fn keyspace_names(&self) -> Result<Vec<String>>;

    /// Deletes the keyspace `name` and all its data. Returns whether it existed.
    /// Handles to it that are still held return errors afterwards.
    fn drop_keyspace(&self, name: &str) -> Result<bool>;

    /// Starts an atomic batch that may span several keyspaces of this database.
    fn batch(&self) -> Self::Batch;

    /// Makes every write committed so far at least as durable as `durability`.
    fn persist(&self, durability: Durability) -> Result<()>;

    /// Bytes the database occupies on disk.
    fn disk_space(&self) -> Result<u64>;

    /// Moves everything written so far into the engine's long-term files and syncs them, so that
    /// the next open has nothing to replay and the directory is consistent once closed (the
    /// step before copying a cache). The default is `persist(Synced)`; LSM engines flush their
    /// memtables too.
    fn flush(&self) -> Result<()> {
        self.persist(Durability::Synced)
    }

    /// Loads `entries`, which must be in strictly ascending key order, into `keyspace` as fast
    /// as the engine allows, then makes them [`Durability::Flushed`]. Returns the number loaded.
    ///
    /// Not atomic: after a crash a prefix of the entries may be present. The default writes
    /// batches of 100 000 entries; engines override it with their bulk-load path.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when a key is not greater than the one before it (nothing
    /// after that key is written).
    fn ingest_sorted(
        &self,
        keyspace: &Self::Keyspace,
        entries: &mut dyn Iterator<Item = KvPair>,
    ) -> Result<u64> {
        let mut order = SortedKeys::default();
        let mut batch = self.batch();
        let mut n = 0u64;
        for (k, v) in entries {
            order.check(keyspace.name(), &k)?;
            batch.insert(keyspace, &k, &v);
            n += 1;
            if batch.len() >= INGEST_BATCH {
                std::mem::replace(&mut batch, self.batch()).commit(Durability::Buffered)?;
            }
        }
        batch.commit(Durability::Buffered)?;
        self.persist(Durability::Flushed)?;
        Ok(n)
    }
}

/// Bytes allocated on disk by the files under `dir` (what the cache really costs).
///
/// Counts allocated blocks, not apparent lengths: fjall preallocates each journal as a sparse
/// 64 MiB file, whose apparent length says nothing about the space it uses.
///
/// # Errors
/// [`Error::Io`] naming the entry that could not be read.
///
/// ```
/// use cache_core::database::directory_size;
/// use cache_core::ErrorKind;
/// let dir = tempfile::tempdir()?;
/// std::fs::create_dir(dir.path().join("empty"))?;
/// assert_eq!(directory_size(dir.path())?, 0, "directories themselves are not counted");
/// let missing = directory_size(&dir.path().join("missing")).unwrap_err();
/// assert_eq!(missing.kind(), ErrorKind::Io);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn directory_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let meta = entry.metadata().map_err(|e| Error::io(entry.path(), e))?;
        total += if meta.is_dir() {
            directory_size(&entry.path())?
        } else {
            allocated_bytes(&meta)
        };
    }
    Ok(total)
}

#[cfg(unix)]
fn allocated_bytes(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.blocks() * 512
}

#[cfg(not(unix))]
fn allocated_bytes(meta: &std::fs::Metadata) -> u64 {
    meta.len()
}

/// Entries per batch in the default [`Database::ingest_sorted`].
pub(crate) const INGEST_BATCH: usize = 100_000;

/// Checks that keys arrive in strictly ascending order (for bulk loads).
///
/// ```
/// use cache_core::database::SortedKeys;
/// let mut order = SortedKeys::default();
/// order.check("objects", b"a")?;
/// order.check("objects", b"b")?;
/// assert!(order.check("objects", b"b").is_err(), "equal keys are out of order");
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct SortedKeys {
    last: Option<Vec<u8>>,
}

impl SortedKeys {
    /// Accepts `key` if it is greater than every key seen before.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the keyspace and the out-of-order key.
    ///
    /// ```
    /// use cache_core::database::SortedKeys;
    /// let mut order = SortedKeys::default();
    /// order.check("objects", b"k2")?;
    /// let err = order.check("objects", b"k1").unwrap_err();
    /// assert_eq!(err.kind(), cache_core::ErrorKind::InvalidArgument);
    /// assert!(err.to_string().contains("`objects`: key \"k1\""), "{err}");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn check(&mut self, keyspace: &str, key: &[u8]) -> Result<()> {
        if let Some(last) = &self.last
            && key <= last.as_slice()
        {
            return Err(Error::InvalidArgument(format!(
                "bulk load into `{keyspace}`: key {} is not greater than the key before it",
                crate::error::render_key(key)
            )));
        }
        match &mut self.last {
            Some(last) => {
                last.clear();
                last.extend_from_slice(key);
            }
            None => self.last = Some(key.to_vec()),
        }
        Ok(())
    }
}

/// A named, ordered map from byte keys to byte values inside a [`Database`].
///
/// Single `insert`/`remove` calls commit with [`Durability::Buffered`]; use a
/// [`WriteBatch`] or [`Database::persist`] for more.
///
/// ```
/// use cache_core::{Database, Direction, Durability, Keyspace};
/// # let db = cache_core::database::memory::MemoryDatabase::default();
/// let seeds = db.keyspace("seeds")?;
/// seeds.insert(b"pool-1", b"42")?;
/// seeds.insert(b"pool-2", b"43")?;
/// db.persist(Durability::Flushed)?;
/// assert_eq!(seeds.get(b"pool-1")?, Some(b"42".to_vec()));
/// seeds.remove(b"pool-1")?;
/// assert!(!seeds.contains(b"pool-1")?);
/// assert_eq!(seeds.prefix(b"pool-", Direction::Forward)?.count(), 1);
/// # Ok::<(), cache_core::Error>(())
/// ```
pub trait Keyspace: Clone + Send + Sync + 'static {
    /// The keyspace's name.
    fn name(&self) -> &str;

    /// The value stored under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Whether `key` is present.
    fn contains(&self, key: &[u8]) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }

    /// Stores `value` under `key`, replacing any previous value.
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()>;

    /// Removes `key`; removing an absent key is not an error.
    fn remove(&self, key: &[u8]) -> Result<()>;

    /// Iterates the keys within `(start, end)` in `direction`.
    fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>, direction: Direction)
    -> Result<KvIter>;

    /// Iterates every key that starts with `prefix`, and nothing else, in `direction`.
    fn prefix(&self, prefix: &[u8], direction: Direction) -> Result<KvIter> {
        let upper = prefix_successor(prefix);
        let end = match &upper {
            Some(u) => Bound::Excluded(u.as_slice()),
            None => Bound::Unbounded,
        };
        self.range(Bound::Included(prefix), end, direction)
    }

    /// An estimate of the number of entries (exact for some backends; may count overwritten or
    /// deleted entries not yet compacted away for others).
    fn approximate_len(&self) -> Result<u64>;
}

/// An atomic set of inserts and removals across keyspaces of one database: after `commit`,
/// readers see all of it or (if the commit failed or the process died first) none of it.
/// Dropping a batch without committing discards it.
///
/// ```
/// use cache_core::{Database, Durability, Keyspace, WriteBatch};
/// # let db = cache_core::database::memory::MemoryDatabase::default();
/// let (objects, index) = (db.keyspace("objects")?, db.keyspace("index")?);
/// let mut batch = db.batch();
/// batch.insert(&objects, b"o1", b"4096");
/// batch.insert(&index, b"size/4096/o1", b"");
/// assert_eq!(batch.len(), 2);
/// batch.commit(Durability::Synced)?;
/// assert!(objects.contains(b"o1")? && index.contains(b"size/4096/o1")?);
///
/// let mut discarded = db.batch();
/// discarded.remove(&objects, b"o1");
/// drop(discarded);
/// assert!(objects.contains(b"o1")?);
/// # Ok::<(), cache_core::Error>(())
/// ```
pub trait WriteBatch: Send {
    /// Keyspace handle type of the owning database.
    type Keyspace;

    /// Queues an insert.
    fn insert(&mut self, keyspace: &Self::Keyspace, key: &[u8], value: &[u8]);

    /// Queues a removal.
    fn remove(&mut self, keyspace: &Self::Keyspace, key: &[u8]);

    /// Number of queued operations.
    fn len(&self) -> usize;

    /// True when nothing is queued.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies every queued operation atomically with the given durability.
    fn commit(self, durability: Durability) -> Result<()>;
}

/// Longest keyspace name accepted.
///
/// ```
/// use cache_core::database::{MAX_KEYSPACE_NAME_LEN, validate_keyspace_name};
/// assert!(validate_keyspace_name(&"a".repeat(MAX_KEYSPACE_NAME_LEN)).is_ok());
/// assert!(validate_keyspace_name(&"a".repeat(MAX_KEYSPACE_NAME_LEN + 1)).is_err());
/// ```
pub const MAX_KEYSPACE_NAME_LEN: usize = 64;

/// Checks a user keyspace name: 1 to 64 characters from `[A-Za-z0-9_.-]`.
///
/// Names containing `#` are reserved for keyspaces the cache crates create for their own use
/// (such as the chunk store of a [`crate::framed::FramedKeyspace`]); backends accept those through
/// [`validate_internal_keyspace_name`].
///
/// # Errors
/// [`Error::InvalidArgument`] naming the problem.
///
/// ```
/// use cache_core::database::validate_keyspace_name;
/// assert!(validate_keyspace_name("file_paths.v2").is_ok());
/// assert!(validate_keyspace_name("").is_err());
/// assert!(validate_keyspace_name("has space").is_err());
/// assert!(validate_keyspace_name("objects#chunks").is_err(), "`#` is reserved");
/// ```
pub fn validate_keyspace_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_KEYSPACE_NAME_LEN {
        return Err(Error::InvalidArgument(format!(
            "keyspace name {name:?} must be 1 to {MAX_KEYSPACE_NAME_LEN} characters long"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(Error::InvalidArgument(format!(
            "keyspace name {name:?} contains {c:?}; use letters, digits, '_', '.', '-'"
        )));
    }
    Ok(())
}

/// Like [`validate_keyspace_name`], but also accepts one `#` (reserved internal names such as
/// `objects#chunks`): each side of the `#` must be a valid name.
///
/// # Errors
/// [`Error::InvalidArgument`] naming the problem.
///
/// ```
/// use cache_core::database::validate_internal_keyspace_name;
/// assert!(validate_internal_keyspace_name("objects#chunks").is_ok());
/// assert!(validate_internal_keyspace_name("objects").is_ok());
/// assert!(validate_internal_keyspace_name("#chunks").is_err());
/// assert!(validate_internal_keyspace_name("a#b#c").is_err());
/// ```
pub fn validate_internal_keyspace_name(name: &str) -> Result<()> {
    match name.split_once('#') {
        Some((base, suffix)) => {
            validate_keyspace_name(base)?;
            validate_keyspace_name(suffix)
        }
        None => validate_keyspace_name(name),
    }
}

/// True when no key can lie within `(start, end)` (start after end, or an empty half-open
/// interval). Engines differ on such ranges (some panic); backends return an empty iterator.
///
/// ```
/// use std::ops::Bound::{Excluded, Included, Unbounded};
/// use cache_core::database::is_empty_range;
/// assert!(is_empty_range(Included(b"b"), Excluded(b"a")));
/// assert!(is_empty_range(Excluded(b"a"), Excluded(b"a")));
/// assert!(!is_empty_range(Included(b"a"), Included(b"a")));
/// assert!(!is_empty_range(Unbounded, Excluded(b"a")));
/// ```
pub fn is_empty_range(start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s), Bound::Excluded(e))
        | (Bound::Excluded(s), Bound::Included(e))
        | (Bound::Excluded(s), Bound::Excluded(e)) => s >= e,
        _ => false,
    }
}

/// The smallest byte string greater than every string starting with `prefix`, or `None` when
/// no such bound exists (empty prefix, or a prefix of only `0xff` bytes).
///
/// ```
/// use cache_core::database::prefix_successor;
/// assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
/// assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
/// assert_eq!(prefix_successor(b"\xff\xff"), None);
/// ```
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < u8::MAX {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_names() {
        assert!(validate_keyspace_name("file_paths").is_ok());
        assert!(validate_keyspace_name("a.b-c").is_ok());
        assert!(validate_keyspace_name("").is_err());
        assert!(validate_keyspace_name("has space").is_err());
        assert!(validate_keyspace_name("x#chunks").is_err());
        assert!(validate_internal_keyspace_name("x#chunks").is_ok());
        assert!(validate_internal_keyspace_name("#chunks").is_err());
        assert!(validate_keyspace_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn successor_bounds_prefix() {
        assert_eq!(prefix_successor(b""), None);
        assert_eq!(prefix_successor(b"\x01\xff\xff"), Some(vec![2]));
    }
}
