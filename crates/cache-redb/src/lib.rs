//! # cache-redb
//!
//! The [redb](https://docs.rs/redb) 4.x (copy-on-write B-tree, one file) implementation of the
//! `cache-core` storage traits. It owns the mapping of those traits onto redb: one table per
//! keyspace, one write transaction per batch, redb durability per [`Durability`], and bounded
//! write transactions for bulk loads.
//!
//! It must not know anything about sai3-bench, object stores, or the other backend; no redb
//! type appears in its public API.
//!
//! ## Layout on disk
//! ```text
//! <dir>/SAI3-CACHE-FORMAT   backend = redb, format version (cache-core::marker)
//! <dir>/SAI3-CACHE-LOCK     empty; an open database holds an exclusive lock on it
//! <dir>/cache.redb          the redb database file
//! <dir>/cache.redb.xxh3     checksum of the cleanly closed file (absent while open)
//! ```
//!
//! ## A cache in use
//! An open [`RedbDatabase`] holds an exclusive advisory lock (`flock`) on [`LOCK_FILE`] from
//! before it looks at `cache.redb` until after it has written the checksum on close. So the
//! checksum is verified, and removed, only by the one process that holds the directory: a file
//! that another process has open (and is changing) is never checksummed, and a second open,
//! from another process or a second handle in this one, fails within a quarter second ([`cache_core::lock::GRACE`]) with [`Error::InUse`],
//! never with an error that could be taken for damage. A process that opened `cache.redb` with
//! redb directly (it does not take ours) is reported as [`Error::InUse`] too: before a checksum
//! is verified, by probing the whole-file `flock` redb holds on local file systems (the checksum
//! is then dropped: it no longer describes the file), and otherwise by redb's own lock
//! (`DatabaseError::DatabaseAlreadyOpen`). The kernel releases the lock when the process dies,
//! so a crash leaves no stale lock.
//!
//! ## Errors
//! redb errors are mapped to kinds callers can act on: lock conflicts to [`Error::InUse`],
//! `Corrupted`, a file that is not a redb file, a checksum mismatch of a closed file and a panic
//! while opening to [`Error::Damaged`], I/O errors to [`Error::Io`], everything else to
//! [`Error::Backend`].
//!
//! ## Verified closed files
//! redb trusts its file: a damaged file can make it panic while opening (seen with redb 4.6:
//! an assertion in its allocator bitmap). So a cleanly closed database leaves a checksum beside
//! it, `cache.redb.xxh3` (length and xxh3-64 of the whole file), and `open` verifies the file
//! against it before redb reads a byte; a mismatch is a clear error, never a panic or wrong data.
//! The checksum file is removed when the database is opened (the file is about to change) and
//! written again on a clean close, so after a crash there is none and redb's own recovery runs.
//! As a second line of defence, a panic inside redb's open is caught and reported as an error.
//!
//! ## Durability mapping
//! redb 4 has two commit levels: `None` (visible, not persistent until a later durable commit)
//! and `Immediate` (fsynced). So [`Durability::Buffered`] is `None`, and both
//! [`Durability::Flushed`] and [`Durability::Synced`] are `Immediate`. Because long runs of
//! `None` commits make the file grow (pages freed by them cannot be reused until a durable
//! commit), every 256th buffered commit in a row (`NONE_COMMITS_BEFORE_DURABLE`) is made durable.
//!
//! ```
//! use cache_core::{Database, Durability, Keyspace, OpenOptions, WriteBatch};
//! use cache_redb::RedbDatabase;
//! let dir = tempfile::tempdir()?;
//! let db = RedbDatabase::open(dir.path(), &OpenOptions::default())?;
//! let seeds = db.keyspace("seeds")?;
//! let mut batch = db.batch();
//! batch.insert(&seeds, b"pool-0", b"42");
//! batch.commit(Durability::Flushed)?;
//! assert_eq!(seeds.get(b"pool-0")?, Some(b"42".to_vec()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

use std::collections::HashMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cache_core::database::{SortedKeys, is_empty_range, validate_internal_keyspace_name};
use cache_core::{
    Database, Direction, Durability, Error, Keyspace, KvIter, KvPair, OpenOptions, Result,
    WriteBatch,
};
use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition, TableHandle};

/// Backend name written in the format marker.
pub(crate) const BACKEND: &str = "redb";

/// File name of the redb database inside the cache directory.
///
/// ```
/// use cache_core::{Database, OpenOptions};
/// use cache_redb::{DB_FILE, RedbDatabase};
/// let dir = tempfile::tempdir()?;
/// let _db = RedbDatabase::open(dir.path(), &OpenOptions::default())?;
/// assert!(dir.path().join(DB_FILE).is_file());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const DB_FILE: &str = "cache.redb";

/// File name of the checksum of a cleanly closed database file.
///
/// ```
/// use cache_core::{Database, OpenOptions};
/// use cache_redb::{CHECKSUM_FILE, RedbDatabase};
/// let dir = tempfile::tempdir()?;
/// let db = RedbDatabase::open(dir.path(), &OpenOptions::default())?;
/// assert!(!dir.path().join(CHECKSUM_FILE).exists(), "absent while open");
/// drop(db);
/// assert!(dir.path().join(CHECKSUM_FILE).exists(), "written on a clean close");
/// let _db = RedbDatabase::open(dir.path(), &OpenOptions::default())?; // verified, removed
/// assert!(!dir.path().join(CHECKSUM_FILE).exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const CHECKSUM_FILE: &str = "cache.redb.xxh3";

use cache_core::lock::DirectoryLock;
pub use cache_core::lock::LOCK_FILE;

/// Buffered commits in a row after which one is made durable, bounding file growth.
pub(crate) const NONE_COMMITS_BEFORE_DURABLE: u64 = 256;

/// Rows per write transaction in [`Database::ingest_sorted`] (bounds memory of a bulk load).
pub(crate) const INGEST_ROWS_PER_TXN: u64 = 1_000_000;

fn table(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

struct KeyspaceState {
    dropped: AtomicBool,
}

struct Inner {
    /// Always `Some` until `drop` closes it to checksum the file.
    db: Option<redb::Database>,
    path: PathBuf,
    keyspaces: Mutex<HashMap<String, Arc<KeyspaceState>>>,
    buffered_commits: AtomicU64,
    /// Released when the fields drop, after `drop` has closed the file and written its checksum.
    _lock: DirectoryLock,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let Some(db) = self.db.take() else { return };
        // Make buffered commits durable on a clean close.
        if self.buffered_commits.load(Ordering::SeqCst) > 0
            && let Ok(mut tx) = db.begin_write()
            && tx.set_durability(redb::Durability::Immediate).is_ok()
        {
            let _ = tx.commit();
        }
        drop(db);
        // Closed: record what a clean file looks like, for the next open to verify.
        let file = self.path.join(DB_FILE);
        if let Ok(digest) = file_digest(&file) {
            let _ = write_checksum(&self.path, digest);
        }
    }
}

/// Length and xxh3-64 of a file, streamed.
fn file_digest(file: &Path) -> std::io::Result<(u64, u64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(file)?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hasher.digest()))
}

fn write_checksum(dir: &Path, (len, hash): (u64, u64)) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{CHECKSUM_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    writeln!(f, "{len} {hash:016x}")?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(CHECKSUM_FILE))
}

/// Whether another redb handle has `file` open: on local file systems redb 4.6 holds a
/// whole-file `flock` on its file besides its byte-range locks (`lock_legacy_file` in redb's
/// `file_backend/optimized.rs`), which [`cache_core::lock::held_by_another`] sees. Best effort
/// for processes that do not take [`LOCK_FILE`]; redb's own open refuses them in any case.
fn held_by_redb(file: &Path) -> std::io::Result<bool> {
    cache_core::lock::held_by_another(file)
}

/// Verifies `cache.redb` against its checksum file, if there is one, then removes that file
/// (the database is about to change). The caller holds the directory lock, so no other process
/// of ours has the file open.
fn verify_closed_file(dir: &Path) -> Result<()> {
    let sum_path = dir.join(CHECKSUM_FILE);
    // Bytes that are not text are a damaged checksum file, not an I/O error: the cache is
    // rebuilt, not refused.
    let text = match std::fs::read(&sum_path) {
        Ok(bytes) => String::from_utf8(bytes).unwrap_or_default(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(sum_path, e)),
    };
    let damaged = |why: String| {
        Error::damaged(
            BACKEND,
            dir,
            None,
            format!("{DB_FILE} is damaged: {why}; it was not opened"),
        )
    };
    let expected = text
        .split_once(' ')
        .and_then(|(l, h)| {
            Some((
                l.parse::<u64>().ok()?,
                u64::from_str_radix(h.trim(), 16).ok()?,
            ))
        })
        .ok_or_else(|| damaged(format!("its checksum file {CHECKSUM_FILE} is unreadable")))?;
    let file = dir.join(DB_FILE);
    // Our processes are kept out by the directory lock; a process that opened the file with
    // redb directly may be changing it, and a changed file is not a damaged one. The checksum no
    // longer describes the file then: it goes, as on any open (best effort; the error says why
    // the open failed).
    if held_by_redb(&file).map_err(|e| Error::io(&file, e))? {
        let _ = std::fs::remove_file(&sum_path);
        return Err(Error::in_use(
            BACKEND,
            dir,
            format!("{DB_FILE} is open in another process that does not take {LOCK_FILE}"),
        ));
    }
    let actual = file_digest(&file).map_err(|e| Error::io(&file, e))?;
    if actual.0 != expected.0 {
        return Err(damaged(format!(
            "it is {} bytes, {} when it was last closed",
            actual.0, expected.0
        )));
    }
    if actual.1 != expected.1 {
        return Err(damaged(
            "its content does not match the checksum written when it was last closed".into(),
        ));
    }
    std::fs::remove_file(&sum_path).map_err(|e| Error::io(&sum_path, e))?;
    Ok(())
}

/// An open redb-backed cache database. Cheap to clone; clones share one database.
///
/// ```
/// use cache_core::{Database, Durability, Keyspace, OpenOptions};
/// use cache_redb::RedbDatabase;
/// let dir = tempfile::tempdir()?;
/// let db = RedbDatabase::open(dir.path(), &OpenOptions::default())?;
/// let clone = db.clone();
/// clone.keyspace("seeds")?.insert(b"pool-0", b"42")?;
/// assert_eq!(db.keyspace_names()?, ["seeds"], "clones share one database");
/// db.persist(Durability::Synced)?;
/// drop((db, clone)); // the last handle closes the file
/// let db = RedbDatabase::open(dir.path(), &OpenOptions::default())?;
/// assert_eq!(db.keyspace("seeds")?.get(b"pool-0")?, Some(b"42".to_vec()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RedbDatabase {
    inner: Arc<Inner>,
}

/// A keyspace (redb table) of a [`RedbDatabase`].
///
/// ```
/// use cache_core::{Database, Direction, Keyspace, OpenOptions};
/// use cache_redb::RedbDatabase;
/// use std::ops::Bound;
/// let dir = tempfile::tempdir()?;
/// let db = RedbDatabase::open(dir.path(), &OpenOptions::default())?;
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
pub struct RedbKeyspace {
    inner: Arc<Inner>,
    name: Arc<str>,
    state: Arc<KeyspaceState>,
}

enum Op {
    Insert(Vec<u8>),
    Remove,
}

/// An atomic batch of a [`RedbDatabase`]: buffered in memory, applied in one write transaction.
///
/// ```
/// use cache_core::{Database, Durability, Keyspace, OpenOptions, WriteBatch};
/// use cache_redb::RedbDatabase;
/// let dir = tempfile::tempdir()?;
/// let db = RedbDatabase::open(dir.path(), &OpenOptions::default())?;
/// let (seeds, sizes) = (db.keyspace("seeds")?, db.keyspace("sizes")?);
/// sizes.insert(b"stale", b"0")?;
/// let mut batch = db.batch();
/// batch.insert(&seeds, b"pool-0", b"42");
/// batch.insert(&sizes, b"pool-0", b"4096");
/// batch.remove(&sizes, b"stale");
/// assert_eq!(batch.len(), 3);
/// assert_eq!(seeds.get(b"pool-0")?, None, "nothing applied before the commit");
/// batch.commit(Durability::Flushed)?; // one write transaction, across keyspaces
/// assert_eq!(seeds.get(b"pool-0")?, Some(b"42".to_vec()));
/// assert_eq!(sizes.get(b"pool-0")?, Some(b"4096".to_vec()));
/// assert!(!sizes.contains(b"stale")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedbBatch {
    inner: Arc<Inner>,
    ops: Vec<(RedbKeyspace, Vec<u8>, Op)>,
}

/// One item of a redb range over byte keys and values.
type RangeItem = std::result::Result<
    (
        redb::AccessGuard<'static, &'static [u8]>,
        redb::AccessGuard<'static, &'static [u8]>,
    ),
    redb::StorageError,
>;

fn backend_err(path: &Path, keyspace: Option<&str>, e: impl std::fmt::Display) -> Error {
    Error::backend(BACKEND, path, keyspace, e)
}

/// Maps a redb error to the [`Error`] a caller can act on (see the crate docs).
fn redb_err(path: &Path, keyspace: Option<&str>, e: impl Into<redb::Error>) -> Error {
    use redb::Error as R;
    match e.into() {
        R::DatabaseAlreadyOpen => Error::in_use(
            BACKEND,
            path,
            format!("redb's lock on {DB_FILE} is held by another process or handle"),
        ),
        R::LockProtocolMismatch => Error::in_use(
            BACKEND,
            path,
            format!("{DB_FILE} is open in a process that runs another version of redb"),
        ),
        R::Corrupted(msg) => Error::damaged(BACKEND, path, keyspace, format!("{DB_FILE}: {msg}")),
        // What redb reports for a file that does not hold a redb database.
        R::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => Error::damaged(
            BACKEND,
            path,
            keyspace,
            format!("{DB_FILE} is not a valid redb file: {e}"),
        ),
        R::Io(e) if e.kind() == std::io::ErrorKind::Unsupported => Error::Unsupported {
            backend: BACKEND,
            path: path.to_owned(),
            what: format!("an operation on {DB_FILE} ({e})"),
        },
        R::Io(e) => Error::io(path.join(DB_FILE), e),
        R::Unsupported => Error::Unsupported {
            backend: BACKEND,
            path: path.to_owned(),
            what: format!("an operation redb needs on {DB_FILE} (such as file locks)"),
        },
        e => backend_err(path, keyspace, e),
    }
}

impl Inner {
    fn db(&self) -> &redb::Database {
        // Invariant: `db` is `Some` for the whole life of `Inner`; only `drop` takes it.
        self.db
            .as_ref()
            .expect("database is open until Inner is dropped")
    }

    fn err(&self, keyspace: Option<&str>, e: impl Into<redb::Error>) -> Error {
        redb_err(&self.path, keyspace, e)
    }

    fn begin_write(&self, durability: Durability) -> Result<redb::WriteTransaction> {
        let mut tx = self.db().begin_write().map_err(|e| self.err(None, e))?;
        let durable = match durability {
            Durability::Buffered => {
                let n = self.buffered_commits.fetch_add(1, Ordering::SeqCst) + 1;
                n >= NONE_COMMITS_BEFORE_DURABLE
            }
            Durability::Flushed | Durability::Synced => true,
        };
        let level = if durable {
            self.buffered_commits.store(0, Ordering::SeqCst);
            redb::Durability::Immediate
        } else {
            redb::Durability::None
        };
        tx.set_durability(level).map_err(|e| self.err(None, e))?;
        Ok(tx)
    }

    fn commit(&self, tx: redb::WriteTransaction) -> Result<()> {
        tx.commit().map_err(|e| self.err(None, e))
    }
}

impl RedbDatabase {
    fn state_of(&self, name: &str) -> Arc<KeyspaceState> {
        let mut map = self
            .inner
            .keyspaces
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(KeyspaceState {
                    dropped: AtomicBool::new(false),
                })
            })
            .clone()
    }
}

impl Database for RedbDatabase {
    type Keyspace = RedbKeyspace;
    type Batch = RedbBatch;
    const BACKEND: &'static str = BACKEND;

    fn open(path: &Path, options: &OpenOptions) -> Result<Self> {
        cache_core::marker::claim_directory(path, BACKEND, options.create_if_missing)?;
        // Locked before the file is checksummed or read, so a cache in use is never checksummed
        // while it changes, nor mistaken for damage.
        let lock = DirectoryLock::acquire(path, BACKEND)?;
        let file = path.join(DB_FILE);
        let mut builder = redb::Builder::new();
        builder.set_cache_size(usize::try_from(options.cache_size_bytes).unwrap_or(usize::MAX));
        let db = if file.exists() {
            verify_closed_file(path)?;
            let opened =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.open(&file)))
                    .map_err(|_| {
                        Error::damaged(
                            BACKEND,
                            path,
                            None,
                            format!("{DB_FILE} is damaged: redb failed while opening it"),
                        )
                    })?;
            opened.map_err(|e| redb_err(path, None, e))?
        } else if options.create_if_missing {
            builder.create(&file).map_err(|e| redb_err(path, None, e))?
        } else {
            return Err(Error::NotACache {
                path: path.to_owned(),
                expected: BACKEND,
                reason: format!("{} does not exist", file.display()),
            });
        };
        Ok(RedbDatabase {
            inner: Arc::new(Inner {
                db: Some(db),
                path: path.to_owned(),
                keyspaces: Mutex::new(HashMap::new()),
                buffered_commits: AtomicU64::new(0),
                _lock: lock,
            }),
        })
    }

    fn path(&self) -> &Path {
        &self.inner.path
    }

    fn keyspace(&self, name: &str) -> Result<RedbKeyspace> {
        validate_internal_keyspace_name(name)?;
        let exists = {
            let tx = self
                .inner
                .db()
                .begin_read()
                .map_err(|e| self.inner.err(Some(name), e))?;
            match tx.open_table(table(name)) {
                Ok(_) => true,
                Err(redb::TableError::TableDoesNotExist(_)) => false,
                Err(e) => return Err(self.inner.err(Some(name), e)),
            }
        };
        if !exists {
            let tx = self.inner.begin_write(Durability::Buffered)?;
            tx.open_table(table(name))
                .map_err(|e| self.inner.err(Some(name), e))?;
            self.inner.commit(tx)?;
        }
        let state = self.state_of(name);
        state.dropped.store(false, Ordering::SeqCst);
        Ok(RedbKeyspace {
            inner: self.inner.clone(),
            name: Arc::from(name),
            state,
        })
    }

    fn keyspace_names(&self) -> Result<Vec<String>> {
        let tx = self
            .inner
            .db()
            .begin_read()
            .map_err(|e| self.inner.err(None, e))?;
        let mut names: Vec<String> = tx
            .list_tables()
            .map_err(|e| self.inner.err(None, e))?
            .map(|t| t.name().to_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    fn drop_keyspace(&self, name: &str) -> Result<bool> {
        validate_internal_keyspace_name(name)?;
        let tx = self.inner.begin_write(Durability::Flushed)?;
        let existed = tx
            .delete_table(table(name))
            .map_err(|e| self.inner.err(Some(name), e))?;
        self.inner.commit(tx)?;
        let removed = self
            .inner
            .keyspaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        if let Some(state) = removed {
            state.dropped.store(true, Ordering::SeqCst);
        }
        Ok(existed)
    }

    fn batch(&self) -> RedbBatch {
        RedbBatch {
            inner: self.inner.clone(),
            ops: Vec::new(),
        }
    }

    fn persist(&self, durability: Durability) -> Result<()> {
        if durability == Durability::Buffered
            || self.inner.buffered_commits.load(Ordering::SeqCst) == 0
        {
            return Ok(());
        }
        let tx = self.inner.begin_write(durability)?;
        self.inner.commit(tx)
    }

    fn disk_space(&self) -> Result<u64> {
        cache_core::database::directory_size(&self.inner.path)
    }

    fn ingest_sorted(
        &self,
        keyspace: &RedbKeyspace,
        entries: &mut dyn Iterator<Item = KvPair>,
    ) -> Result<u64> {
        keyspace.check_live()?;
        let mut order = SortedKeys::default();
        let mut n = 0u64;
        let mut entries = entries.peekable();
        while entries.peek().is_some() {
            let tx = self.inner.begin_write(Durability::Buffered)?;
            {
                let mut t = tx
                    .open_table(table(&keyspace.name))
                    .map_err(|e| keyspace.err(e))?;
                for (k, v) in entries.by_ref().take(INGEST_ROWS_PER_TXN as usize) {
                    order.check(&keyspace.name, &k)?;
                    t.insert(k.as_slice(), v.as_slice())
                        .map_err(|e| keyspace.err(e))?;
                    n += 1;
                }
            }
            self.inner.commit(tx)?;
        }
        self.persist(Durability::Flushed)?;
        Ok(n)
    }
}

impl RedbKeyspace {
    fn err(&self, e: impl Into<redb::Error>) -> Error {
        self.inner.err(Some(&self.name), e)
    }

    /// An error of using this keyspace wrongly (not an engine failure).
    fn misuse(&self, message: &str) -> Error {
        backend_err(&self.inner.path, Some(&self.name), message)
    }

    fn check_live(&self) -> Result<()> {
        if self.state.dropped.load(Ordering::SeqCst) {
            return Err(self.misuse("the keyspace was dropped; open it again to recreate it"));
        }
        Ok(())
    }

    fn read_table(&self) -> Result<Option<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>> {
        self.check_live()?;
        let tx = self.inner.db().begin_read().map_err(|e| self.err(e))?;
        match tx.open_table(table(&self.name)) {
            Ok(t) => Ok(Some(t)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    fn write_one(&self, key: &[u8], op: Op) -> Result<()> {
        self.check_live()?;
        let tx = self.inner.begin_write(Durability::Buffered)?;
        {
            let mut t = tx.open_table(table(&self.name)).map_err(|e| self.err(e))?;
            match op {
                Op::Insert(v) => t.insert(key, v.as_slice()).map(drop),
                Op::Remove => t.remove(key).map(drop),
            }
            .map_err(|e| self.err(e))?;
        }
        self.inner.commit(tx)
    }
}

impl Keyspace for RedbKeyspace {
    fn name(&self) -> &str {
        &self.name
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(t) = self.read_table()? else {
            return Ok(None);
        };
        let v = t.get(key).map_err(|e| self.err(e))?;
        Ok(v.map(|g| g.value().to_vec()))
    }

    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write_one(key, Op::Insert(value.to_vec()))
    }

    fn remove(&self, key: &[u8]) -> Result<()> {
        self.write_one(key, Op::Remove)
    }

    fn range(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        direction: Direction,
    ) -> Result<KvIter> {
        let Some(t) = self.read_table()? else {
            return Ok(Box::new(std::iter::empty()));
        };
        if is_empty_range(start, end) {
            return Ok(Box::new(std::iter::empty()));
        }
        let range = t.range::<&[u8]>((start, end)).map_err(|e| self.err(e))?;
        let (path, name) = (self.inner.path.clone(), self.name.clone());
        let map = move |item: RangeItem| {
            item.map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
                .map_err(|e| redb_err(&path, Some(&name), e))
        };
        Ok(match direction {
            Direction::Forward => Box::new(range.map(map)),
            Direction::Reverse => Box::new(range.rev().map(map)),
        })
    }

    fn approximate_len(&self) -> Result<u64> {
        match self.read_table()? {
            None => Ok(0),
            Some(t) => t.len().map_err(|e| self.err(e)),
        }
    }
}

impl WriteBatch for RedbBatch {
    type Keyspace = RedbKeyspace;

    fn insert(&mut self, keyspace: &RedbKeyspace, key: &[u8], value: &[u8]) {
        self.ops
            .push((keyspace.clone(), key.to_vec(), Op::Insert(value.to_vec())));
    }

    fn remove(&mut self, keyspace: &RedbKeyspace, key: &[u8]) {
        self.ops.push((keyspace.clone(), key.to_vec(), Op::Remove));
    }

    fn len(&self) -> usize {
        self.ops.len()
    }

    fn commit(self, durability: Durability) -> Result<()> {
        if self.ops.is_empty() {
            return Ok(());
        }
        for (ks, _, _) in &self.ops {
            if !Arc::ptr_eq(&ks.inner, &self.inner) {
                return Err(ks.misuse("batch mixes keyspaces of different databases"));
            }
            ks.check_live()?;
        }
        let tx = self.inner.begin_write(durability)?;
        {
            let mut slots: HashMap<&str, usize> = HashMap::new();
            let mut tables = Vec::new();
            for (ks, key, op) in &self.ops {
                let slot = match slots.get(&*ks.name) {
                    Some(&i) => i,
                    None => {
                        let t = tx.open_table(table(&ks.name)).map_err(|e| ks.err(e))?;
                        tables.push(t);
                        slots.insert(&ks.name, tables.len() - 1);
                        tables.len() - 1
                    }
                };
                let t = &mut tables[slot];
                match op {
                    Op::Insert(v) => t.insert(key.as_slice(), v.as_slice()).map(drop),
                    Op::Remove => t.remove(key.as_slice()).map(drop),
                }
                .map_err(|e| ks.err(e))?;
            }
        }
        self.inner.commit(tx)
    }
}
