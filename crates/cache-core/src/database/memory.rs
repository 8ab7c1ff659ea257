//! An in-memory [`Database`] for the examples in this crate's documentation, which cannot
//! depend on a real backend (`cache-fjall` and `cache-redb` depend on this crate). Not a cache
//! backend: nothing is written to disk, every open starts empty, and durability is ignored.
//! Not public API (hidden from the documentation).
//!
//! ```
//! use cache_core::database::memory::MemoryDatabase;
//! use cache_core::{Database, Keyspace};
//! let db = MemoryDatabase::default();
//! db.keyspace("objects")?.insert(b"k", b"v")?;
//! assert_eq!(db.keyspace("objects")?.get(b"k")?, Some(b"v".to_vec()));
//! # Ok::<(), cache_core::Error>(())
//! ```

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use super::{
    Database, Direction, Durability, Keyspace, KvIter, KvPair, OpenOptions, WriteBatch,
    is_empty_range, validate_internal_keyspace_name,
};
use crate::error::{Error, Result};

type Spaces = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

struct Inner {
    path: PathBuf,
    spaces: RwLock<Spaces>,
}

impl Inner {
    fn read<T>(&self, name: &str, f: impl FnOnce(&BTreeMap<Vec<u8>, Vec<u8>>) -> T) -> Result<T> {
        let spaces = self.spaces.read().unwrap_or_else(PoisonError::into_inner);
        spaces.get(name).map(f).ok_or_else(|| self.dropped(name))
    }

    fn dropped(&self, name: &str) -> Error {
        Error::backend("memory", &self.path, Some(name), "the keyspace was dropped")
    }
}

/// A database held in process memory (see the module doc).
///
/// ```
/// use cache_core::database::memory::MemoryDatabase;
/// use cache_core::Database;
/// let db = MemoryDatabase::default();
/// db.keyspace("objects")?;
/// assert_eq!(db.keyspace_names()?, ["objects"]);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Clone)]
pub struct MemoryDatabase {
    inner: Arc<Inner>,
}

impl Default for MemoryDatabase {
    /// An empty database whose path is `memory`.
    fn default() -> Self {
        MemoryDatabase {
            inner: Arc::new(Inner {
                path: PathBuf::from("memory"),
                spaces: RwLock::new(BTreeMap::new()),
            }),
        }
    }
}

/// A keyspace of a [`MemoryDatabase`].
///
/// ```
/// use cache_core::database::memory::MemoryDatabase;
/// use cache_core::{Database, Keyspace};
/// let objects = MemoryDatabase::default().keyspace("objects")?;
/// assert_eq!(objects.name(), "objects");
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Clone)]
pub struct MemoryKeyspace {
    name: String,
    inner: Arc<Inner>,
}

/// A write batch of a [`MemoryDatabase`]: applied under one lock, so readers see all of it or
/// none of it.
///
/// ```
/// use cache_core::database::memory::MemoryDatabase;
/// use cache_core::{Database, Durability, Keyspace, WriteBatch};
/// let db = MemoryDatabase::default();
/// let objects = db.keyspace("objects")?;
/// let mut batch = db.batch();
/// batch.insert(&objects, b"k", b"v");
/// assert_eq!(objects.get(b"k")?, None, "nothing is visible before the commit");
/// batch.commit(Durability::Buffered)?;
/// assert_eq!(objects.get(b"k")?, Some(b"v".to_vec()));
/// # Ok::<(), cache_core::Error>(())
/// ```
pub struct MemoryBatch {
    inner: Arc<Inner>,
    ops: Vec<(String, Vec<u8>, Option<Vec<u8>>)>,
}

impl Database for MemoryDatabase {
    type Keyspace = MemoryKeyspace;
    type Batch = MemoryBatch;
    const BACKEND: &'static str = "memory";

    /// A new, empty database that only remembers `path`.
    fn open(path: &Path, _options: &OpenOptions) -> Result<Self> {
        Ok(MemoryDatabase {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                spaces: RwLock::new(BTreeMap::new()),
            }),
        })
    }

    fn path(&self) -> &Path {
        &self.inner.path
    }

    fn keyspace(&self, name: &str) -> Result<MemoryKeyspace> {
        validate_internal_keyspace_name(name)?;
        self.inner
            .spaces
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_owned())
            .or_default();
        Ok(MemoryKeyspace {
            name: name.to_owned(),
            inner: self.inner.clone(),
        })
    }

    fn keyspace_names(&self) -> Result<Vec<String>> {
        let spaces = self
            .inner
            .spaces
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(spaces.keys().cloned().collect())
    }

    fn drop_keyspace(&self, name: &str) -> Result<bool> {
        let mut spaces = self
            .inner
            .spaces
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(spaces.remove(name).is_some())
    }

    fn batch(&self) -> MemoryBatch {
        MemoryBatch {
            inner: self.inner.clone(),
            ops: Vec::new(),
        }
    }

    fn persist(&self, _durability: Durability) -> Result<()> {
        Ok(())
    }

    /// Always 0: nothing is on disk.
    fn disk_space(&self) -> Result<u64> {
        Ok(0)
    }
}

impl Keyspace for MemoryKeyspace {
    fn name(&self) -> &str {
        &self.name
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.read(&self.name, |map| map.get(key).cloned())
    }

    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut batch = MemoryBatch {
            inner: self.inner.clone(),
            ops: Vec::new(),
        };
        batch.insert(self, key, value);
        batch.commit(Durability::Buffered)
    }

    fn remove(&self, key: &[u8]) -> Result<()> {
        let mut batch = MemoryBatch {
            inner: self.inner.clone(),
            ops: Vec::new(),
        };
        batch.remove(self, key);
        batch.commit(Durability::Buffered)
    }

    fn range(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        direction: Direction,
    ) -> Result<KvIter> {
        let mut pairs: Vec<KvPair> = self.inner.read(&self.name, |map| {
            if is_empty_range(start, end) {
                return Vec::new();
            }
            map.range::<[u8], _>((start, end))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })?;
        if direction == Direction::Reverse {
            pairs.reverse();
        }
        Ok(Box::new(pairs.into_iter().map(Ok)))
    }

    fn approximate_len(&self) -> Result<u64> {
        self.inner.read(&self.name, |map| map.len() as u64)
    }
}

impl WriteBatch for MemoryBatch {
    type Keyspace = MemoryKeyspace;

    fn insert(&mut self, keyspace: &MemoryKeyspace, key: &[u8], value: &[u8]) {
        self.ops
            .push((keyspace.name.clone(), key.to_vec(), Some(value.to_vec())));
    }

    fn remove(&mut self, keyspace: &MemoryKeyspace, key: &[u8]) {
        self.ops.push((keyspace.name.clone(), key.to_vec(), None));
    }

    fn len(&self) -> usize {
        self.ops.len()
    }

    /// Applies every operation under the database's lock; fails, applying nothing, when one of
    /// the keyspaces was dropped.
    fn commit(self, _durability: Durability) -> Result<()> {
        let mut spaces = self
            .inner
            .spaces
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((name, _, _)) = self.ops.iter().find(|(n, _, _)| !spaces.contains_key(n)) {
            return Err(self.inner.dropped(name));
        }
        for (name, key, value) in self.ops {
            let map = spaces.entry(name).or_default();
            match value {
                Some(v) => map.insert(key, v),
                None => map.remove(&key),
            };
        }
        Ok(())
    }
}
