//! # cache-fjall
//!
//! The [fjall](https://docs.rs/fjall) 3.x (LSM-tree) implementation of the `cache-core` storage
//! traits. It owns the mapping of those traits onto fjall: one fjall keyspace per cache
//! keyspace, a cross-keyspace `WriteBatch` per batch, journal persist modes per durability,
//! snapshot-pinned scans, and fjall's sorted ingestion for bulk loads.
//!
//! It must not know anything about sai3-bench, object stores, or the other backend; nothing of
//! fjall appears in its public API beyond [`FjallTuning`].
//!
//! ## Layout on disk
//! ```text
//! <dir>/SAI3-CACHE-FORMAT   backend = fjall, format version (cache-core::marker)
//! <dir>/SAI3-CACHE-LOCK     empty; an open database holds an exclusive lock on it
//! <dir>/fjall/              the fjall database (journals, keyspaces, version, lock)
//! <dir>/fjall.xxh3          checksums of the cleanly closed database (absent while open)
//! ```
//!
//! ## Damage
//! A clean close (the last handle of a database, its keyspaces, batches and scans dropped)
//! writes the checksums of every file of the closed database; the next open verifies them
//! before fjall reads a byte ([`CHECKSUM_FILE`], module `checksum`). fjall panics on some
//! damaged files (its manifests); a panic while opening is caught and reported as
//! [`Error::Damaged`] too.
//!
//! ## A cache in use
//! An open [`FjallDatabase`] holds an exclusive advisory lock (`flock`) on
//! [`LOCK_FILE`] for as long as it or any of its keyspaces lives. It is taken right after the
//! format marker is checked and before fjall reads a file, so a second open (from another
//! process, or a second handle in this one) fails within a quarter second ([`cache_core::lock::GRACE`]) with [`Error::InUse`], never with an
//! error that could be taken for damage: fjall reads its `version` file *before* taking its own
//! lock (`fjall/lock`), so without ours an open racing with a creation could see a half-written
//! `version` file. fjall's own lock (`fjall::Error::Locked`, e.g. a process that does not take
//! ours) is reported as [`Error::InUse`] too. The lock is released by the kernel when the
//! process dies, so a crash leaves no stale lock.
//!
//! ## Errors
//! fjall errors are mapped to kinds callers can act on: `Locked` to [`Error::InUse`], I/O errors
//! to [`Error::Io`], failed verification of fjall's own files (checksums, journal recovery,
//! unparsable blocks or version file) to [`Error::Damaged`], everything else to
//! [`Error::Backend`].
//!
//! ## Engine settings and why
//! * lz4 on every level (`CompressionPolicy::all(Lz4)`): fjall's default leaves L0/L1 and
//!   ingested tables uncompressed.
//! * At least two worker threads: with one, flushes and compactions queue behind each other and
//!   writes stall.
//! * Journal writes are buffered (`manual_journal_persist`); durability comes from the
//!   [`Durability`] of each commit and from [`Database::persist`].
//! * Scans go through `Database::snapshot()`: a plain keyspace range reads the data as of its
//!   first `next()`, not as of its creation, which would break the point-in-time promise of
//!   [`cache_core::KvIter`].
//! * Chunk keyspaces (names with `#`, holding multi-MiB values) use key-value separation so large
//!   values are not rewritten by every compaction.
//! * Journals are sparse 64 MiB files (`set_len`); sizes are reported as allocated blocks.
//!
//! ```
//! use cache_core::{Database, Durability, Keyspace, OpenOptions, WriteBatch};
//! use cache_fjall::FjallDatabase;
//! let dir = tempfile::tempdir()?;
//! let db = FjallDatabase::open(dir.path(), &OpenOptions::default())?;
//! let seeds = db.keyspace("seeds")?;
//! let mut batch = db.batch();
//! batch.insert(&seeds, b"pool-0", b"42");
//! batch.commit(Durability::Flushed)?;
//! assert_eq!(seeds.get(b"pool-0")?, Some(b"42".to_vec()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cache_core::database::{
    SortedKeys, directory_size, is_empty_range, validate_internal_keyspace_name,
};
use cache_core::{
    Database, Direction, Durability, Error, Keyspace, KvIter, KvPair, OpenOptions, Result,
    WriteBatch,
};
use fjall::config::CompressionPolicy;
use fjall::{CompressionType, KeyspaceCreateOptions, KvSeparationOptions, PersistMode, Readable};

/// Backend name written in the format marker.
pub(crate) const BACKEND: &str = "fjall";

/// Sub-directory that holds the fjall database.
///
/// ```
/// use cache_core::{Database, OpenOptions};
/// use cache_fjall::{ENGINE_DIR, FjallDatabase};
/// let dir = tempfile::tempdir()?;
/// let _db = FjallDatabase::open(dir.path(), &OpenOptions::default())?;
/// assert!(dir.path().join(ENGINE_DIR).join("version").is_file());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const ENGINE_DIR: &str = "fjall";

mod checksum;
pub use checksum::CHECKSUM_FILE;

use cache_core::lock::DirectoryLock;
pub use cache_core::lock::LOCK_FILE;

/// fjall-specific settings on top of [`OpenOptions`].
///
/// ```
/// use cache_fjall::FjallTuning;
/// let tuning = FjallTuning {
///     max_memtable_bytes: 8 * 1024 * 1024,
///     ..FjallTuning::default()
/// };
/// assert!(tuning.lz4_all_levels, "lz4 on every level unless turned off");
/// assert_eq!(tuning.worker_threads, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FjallTuning {
    /// Background flush/compaction threads; values below 2 are raised to 2.
    pub worker_threads: usize,
    /// Journal size after which memtables are flushed so old journals can be dropped.
    pub max_journal_bytes: u64,
    /// Memtable size per keyspace before it is flushed to a table.
    pub max_memtable_bytes: u64,
    /// lz4-compress data blocks on every level (`false`: fjall's defaults).
    pub lz4_all_levels: bool,
}

impl Default for FjallTuning {
    fn default() -> Self {
        FjallTuning {
            worker_threads: 2,
            max_journal_bytes: 512 * 1024 * 1024,
            max_memtable_bytes: 64 * 1024 * 1024,
            lz4_all_levels: true,
        }
    }
}

/// The open database. Keyspaces, batches and scans hold it (after their fjall handles, which
/// drop first), so it drops last and closes the engine for good.
struct Inner {
    /// Always `Some` until `drop` closes it to checksum the files.
    db: Option<fjall::Database>,
    path: PathBuf,
    tuning: FjallTuning,
    /// Released when the fields drop, after `drop` has closed the engine and checksummed it.
    _lock: DirectoryLock,
}

impl Inner {
    fn db(&self) -> &fjall::Database {
        self.db
            .as_ref()
            .expect("the engine is open until the last handle drops")
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let Some(db) = self.db.take() else { return };
        // Nothing may stay buffered: the journal's own drop would write it after the checksum.
        let clean = db.persist(PersistMode::SyncAll).is_ok();
        // The last engine handle: its workers finish before this returns.
        drop(db);
        if clean && !std::thread::panicking() {
            let _ = checksum::write(&self.path);
        }
    }
}

/// An open fjall-backed cache database. Cheap to clone; clones share one database.
///
/// ```
/// use cache_core::{Database, Durability, Keyspace, OpenOptions};
/// use cache_fjall::{CHECKSUM_FILE, FjallDatabase};
/// let dir = tempfile::tempdir()?;
/// let db = FjallDatabase::open(dir.path(), &OpenOptions::default())?;
/// let clone = db.clone();
/// clone.keyspace("seeds")?.insert(b"pool-0", b"42")?;
/// assert_eq!(db.keyspace_names()?, ["seeds"], "clones share one database");
/// db.persist(Durability::Synced)?;
/// drop((db, clone)); // the last handle closes the database cleanly
/// assert!(dir.path().join(CHECKSUM_FILE).exists());
/// let db = FjallDatabase::open(dir.path(), &OpenOptions::default())?;
/// assert_eq!(db.keyspace("seeds")?.get(b"pool-0")?, Some(b"42".to_vec()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct FjallDatabase {
    inner: Arc<Inner>,
}

/// A keyspace of a [`FjallDatabase`].
///
/// ```
/// use cache_core::{Database, Direction, Keyspace, OpenOptions};
/// use cache_fjall::FjallDatabase;
/// use std::ops::Bound;
/// let dir = tempfile::tempdir()?;
/// let db = FjallDatabase::open(dir.path(), &OpenOptions::default())?;
/// let seeds = db.keyspace("seeds")?;
/// seeds.insert(b"a", b"1")?;
/// seeds.insert(b"b", b"2")?;
/// let keys = seeds
///     .range(Bound::Unbounded, Bound::Unbounded, Direction::Reverse)?
///     .map(|pair| pair.map(|(key, _)| key))
///     .collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(keys, [b"b".to_vec(), b"a".to_vec()]);
/// assert_eq!(seeds.name(), "seeds");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct FjallKeyspace {
    ks: fjall::Keyspace,
    name: Arc<str>,
    /// Keeps the database open (and locked) while the keyspace outlives its database handle;
    /// dropped after `ks`.
    inner: Arc<Inner>,
}

/// An atomic batch of a [`FjallDatabase`].
///
/// ```
/// use cache_core::{Database, Durability, Keyspace, OpenOptions, WriteBatch};
/// use cache_fjall::FjallDatabase;
/// let dir = tempfile::tempdir()?;
/// let db = FjallDatabase::open(dir.path(), &OpenOptions::default())?;
/// let (seeds, sizes) = (db.keyspace("seeds")?, db.keyspace("sizes")?);
/// sizes.insert(b"stale", b"0")?;
/// let mut batch = db.batch();
/// batch.insert(&seeds, b"pool-0", b"42");
/// batch.insert(&sizes, b"pool-0", b"4096");
/// batch.remove(&sizes, b"stale");
/// assert_eq!(batch.len(), 3);
/// batch.commit(Durability::Flushed)?; // all or nothing, across keyspaces
/// assert_eq!(seeds.get(b"pool-0")?, Some(b"42".to_vec()));
/// assert_eq!(sizes.get(b"pool-0")?, Some(b"4096".to_vec()));
/// assert!(!sizes.contains(b"stale")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FjallBatch {
    batch: fjall::OwnedWriteBatch,
    /// Dropped after `batch`.
    inner: Arc<Inner>,
}

/// Runs an engine call that may panic on damaged files, turning a panic into
/// [`Error::Damaged`].
fn unless_panics<T>(
    path: &Path,
    keyspace: Option<&str>,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        Err(Error::damaged(
            BACKEND,
            path,
            keyspace,
            format!("fjall panicked reading its files ({why})"),
        ))
    })
}

/// Maps a fjall error to the [`Error`] a caller can act on (see the crate docs).
fn fjall_err(path: &Path, keyspace: Option<&str>, e: fjall::Error) -> Error {
    use fjall::{Error as F, LsmError as L};
    let damaged = |what: &dyn std::fmt::Display| Error::damaged(BACKEND, path, keyspace, what);
    match e {
        F::Locked => Error::in_use(
            BACKEND,
            path,
            format!("fjall's lock {ENGINE_DIR}/lock is held by another process or handle"),
        ),
        F::Io(e) | F::Storage(L::Io(e)) => io_err(path, e),
        e @ (F::JournalRecovery(_)
        | F::InvalidVersion(None)
        | F::Decompress(_)
        | F::InvalidTrailer
        | F::InvalidTag(_)
        | F::Unrecoverable) => damaged(&e),
        F::Storage(
            e @ (L::ChecksumMismatch { .. }
            | L::Decompress(_)
            | L::InvalidTrailer
            | L::InvalidHeader(_)
            | L::InvalidTag(_)
            | L::Unrecoverable
            | L::Utf8(_)),
        ) => damaged(&e),
        e => backend_err(path, keyspace, e),
    }
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::Unsupported {
        return Error::Unsupported {
            backend: BACKEND,
            path: path.to_owned(),
            what: e.to_string(),
        };
    }
    Error::io(path, e)
}

fn backend_err(path: &Path, keyspace: Option<&str>, e: impl std::fmt::Display) -> Error {
    Error::backend(BACKEND, path, keyspace, e)
}

fn persist_mode(d: Durability) -> Option<PersistMode> {
    match d {
        Durability::Buffered => None,
        Durability::Flushed => Some(PersistMode::Buffer),
        Durability::Synced => Some(PersistMode::SyncAll),
    }
}

/// What fjall writes when it creates a database before its `version` file, which it writes
/// last: its lock, the first journal (empty) and the keyspaces folder (empty).
const CREATED_BEFORE_VERSION: [&str; 3] = ["lock", "0.jnl", "keyspaces"];

/// Clears the leftovers of a creation killed before fjall wrote its `version` file (fjall would
/// otherwise refuse to create over its own first journal). Nothing was ever stored in such a
/// database. A folder without `version` that holds anything else is damage.
///
/// # Errors
/// [`Error::Damaged`] for a folder without `version` holding more than a creation leaves; I/O
/// failures.
fn clear_interrupted_creation(path: &Path, engine: &Path) -> Result<()> {
    if !engine.exists() || engine.join("version").exists() {
        return Ok(());
    }
    let entries: Vec<String> = std::fs::read_dir(engine)
        .map_err(|e| Error::io(engine, e))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let keyspaces_empty = std::fs::read_dir(engine.join("keyspaces"))
        .map(|mut d| d.next().is_none())
        .unwrap_or(true);
    let leftovers = entries
        .iter()
        .all(|e| CREATED_BEFORE_VERSION.contains(&e.as_str()));
    if !(leftovers && keyspaces_empty) {
        let why = format!(
            "{} has no fjall version file but holds {}",
            engine.display(),
            entries.join(", ")
        );
        return Err(Error::damaged(BACKEND, path, None, why));
    }
    std::fs::remove_dir_all(engine).map_err(|e| Error::io(engine, e))
}

impl FjallDatabase {
    /// Opens with explicit fjall tuning.
    ///
    /// # Errors
    /// As [`Database::open`].
    ///
    /// ```
    /// use cache_core::{Database, Keyspace, OpenOptions};
    /// use cache_fjall::{FjallDatabase, FjallTuning};
    /// let dir = tempfile::tempdir()?;
    /// let tuning = FjallTuning {
    ///     worker_threads: 1, // raised to 2
    ///     lz4_all_levels: false,
    ///     ..FjallTuning::default()
    /// };
    /// let db = FjallDatabase::open_tuned(dir.path(), &OpenOptions::default(), &tuning)?;
    /// let seeds = db.keyspace("seeds")?;
    /// seeds.insert(b"pool-0", b"42")?;
    /// assert_eq!(seeds.get(b"pool-0")?, Some(b"42".to_vec()));
    /// assert_eq!(db.path(), dir.path());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_tuned(path: &Path, options: &OpenOptions, tuning: &FjallTuning) -> Result<Self> {
        cache_core::marker::claim_directory(path, BACKEND, options.create_if_missing)?;
        // Locked before fjall reads anything, so a cache in use is never mistaken for damage.
        let lock = DirectoryLock::acquire(path, BACKEND)?;
        checksum::verify_and_forget(path)?;
        let engine = path.join(ENGINE_DIR);
        clear_interrupted_creation(path, &engine)?;
        if !engine.join("version").exists() && !options.create_if_missing {
            return Err(Error::NotACache {
                path: path.to_owned(),
                expected: BACKEND,
                reason: format!("{} holds no fjall database", engine.display()),
            });
        }
        let builder = fjall::Database::builder(&engine)
            .cache_size(options.cache_size_bytes)
            .worker_threads(tuning.worker_threads.max(2))
            .max_journaling_size(tuning.max_journal_bytes)
            .manual_journal_persist(true);
        let db = unless_panics(path, None, || {
            builder.open().map_err(|e| fjall_err(path, None, e))
        })?;
        Ok(FjallDatabase {
            inner: Arc::new(Inner {
                db: Some(db),
                path: path.to_owned(),
                tuning: tuning.clone(),
                _lock: lock,
            }),
        })
    }

    fn create_options(&self, name: &str) -> KeyspaceCreateOptions {
        let t = &self.inner.tuning;
        let mut opts = KeyspaceCreateOptions::default().max_memtable_size(t.max_memtable_bytes);
        if t.lz4_all_levels {
            opts = opts.data_block_compression_policy(CompressionPolicy::all(CompressionType::Lz4));
        }
        if name.contains('#') {
            opts = opts.with_kv_separation(Some(KvSeparationOptions::default()));
        }
        opts
    }

    fn err(&self, keyspace: Option<&str>, e: fjall::Error) -> Error {
        fjall_err(&self.inner.path, keyspace, e)
    }
}

impl Database for FjallDatabase {
    type Keyspace = FjallKeyspace;
    type Batch = FjallBatch;
    const BACKEND: &'static str = BACKEND;

    fn open(path: &Path, options: &OpenOptions) -> Result<Self> {
        Self::open_tuned(path, options, &FjallTuning::default())
    }

    fn path(&self) -> &Path {
        &self.inner.path
    }

    fn keyspace(&self, name: &str) -> Result<FjallKeyspace> {
        validate_internal_keyspace_name(name)?;
        let ks = unless_panics(&self.inner.path, Some(name), || {
            self.inner
                .db()
                .keyspace(name, || self.create_options(name))
                .map_err(|e| self.err(Some(name), e))
        })?;
        Ok(FjallKeyspace {
            ks,
            name: Arc::from(name),
            inner: self.inner.clone(),
        })
    }

    fn keyspace_names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .inner
            .db()
            .list_keyspace_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        names.sort();
        Ok(names)
    }

    fn drop_keyspace(&self, name: &str) -> Result<bool> {
        validate_internal_keyspace_name(name)?;
        if !self.inner.db().keyspace_exists(name) {
            return Ok(false);
        }
        let handle = self
            .inner
            .db()
            .keyspace(name, KeyspaceCreateOptions::default)
            .map_err(|e| self.err(Some(name), e))?;
        self.inner
            .db()
            .delete_keyspace(handle)
            .map_err(|e| self.err(Some(name), e))?;
        Ok(true)
    }

    fn batch(&self) -> FjallBatch {
        FjallBatch {
            batch: self.inner.db().batch(),
            inner: self.inner.clone(),
        }
    }

    fn persist(&self, durability: Durability) -> Result<()> {
        match persist_mode(durability) {
            None => Ok(()),
            Some(mode) => self.inner.db().persist(mode).map_err(|e| self.err(None, e)),
        }
    }

    fn disk_space(&self) -> Result<u64> {
        directory_size(&self.inner.path)
    }

    fn flush(&self) -> Result<()> {
        self.persist(Durability::Synced)?;
        for name in self.inner.db().list_keyspace_names() {
            let ks = self
                .inner
                .db()
                .keyspace(&name, KeyspaceCreateOptions::default)
                .map_err(|e| self.err(Some(&name), e))?;
            ks.rotate_memtable_and_wait()
                .map_err(|e| self.err(Some(&name), e))?;
        }
        self.persist(Durability::Synced)
    }

    fn ingest_sorted(
        &self,
        keyspace: &FjallKeyspace,
        entries: &mut dyn Iterator<Item = KvPair>,
    ) -> Result<u64> {
        let err = |e: fjall::Error| self.err(Some(&keyspace.name), e);
        let mut order = SortedKeys::default();
        let mut ingestion = keyspace.ks.start_ingestion().map_err(err)?;
        let mut n = 0u64;
        for (k, v) in entries {
            // fjall panics on unsorted input; refuse it with an error instead.
            order.check(&keyspace.name, &k)?;
            ingestion.write(k, v).map_err(err)?;
            n += 1;
        }
        ingestion.finish().map_err(err)?;
        Ok(n)
    }
}

impl FjallKeyspace {
    fn err(&self, e: fjall::Error) -> Error {
        fjall_err(&self.inner.path, Some(&self.name), e)
    }
}

impl Keyspace for FjallKeyspace {
    fn name(&self) -> &str {
        &self.name
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.ks
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| self.err(e))
    }

    fn contains(&self, key: &[u8]) -> Result<bool> {
        self.ks.contains_key(key).map_err(|e| self.err(e))
    }

    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.ks.insert(key, value).map_err(|e| self.err(e))
    }

    fn remove(&self, key: &[u8]) -> Result<()> {
        self.ks.remove(key).map_err(|e| self.err(e))
    }

    fn range(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        direction: Direction,
    ) -> Result<KvIter> {
        if is_empty_range(start, end) {
            return Ok(Box::new(std::iter::empty()));
        }
        // A plain keyspace range reads at its first `next()`; a snapshot pins the view now.
        let iter = self
            .inner
            .db()
            .snapshot()
            .range::<&[u8], _>(&self.ks, (start, end));
        // The scan holds the database open (the closure drops after the iterator).
        let (inner, name) = (self.inner.clone(), self.name.clone());
        let map = move |g: fjall::Guard| {
            g.into_inner()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(|e| fjall_err(&inner.path, Some(&name), e))
        };
        Ok(match direction {
            Direction::Forward => Box::new(iter.map(map)),
            Direction::Reverse => Box::new(iter.rev().map(map)),
        })
    }

    fn approximate_len(&self) -> Result<u64> {
        Ok(self.ks.approximate_len() as u64)
    }
}

impl WriteBatch for FjallBatch {
    type Keyspace = FjallKeyspace;

    fn insert(&mut self, keyspace: &FjallKeyspace, key: &[u8], value: &[u8]) {
        self.batch.insert(&keyspace.ks, key, value);
    }

    fn remove(&mut self, keyspace: &FjallKeyspace, key: &[u8]) {
        self.batch.remove(&keyspace.ks, key);
    }

    fn len(&self) -> usize {
        self.batch.len()
    }

    fn commit(self, durability: Durability) -> Result<()> {
        let FjallBatch { batch, inner } = self;
        let done = batch.durability(persist_mode(durability)).commit();
        done.map_err(|e| fjall_err(&inner.path, None, e))
    }
}
