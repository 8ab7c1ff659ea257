//! # cache-core
//!
//! The ground every sai3-cache crate stands on. It owns:
//!
//! * [`database`]: the traits a storage backend implements: a [`Database`] of named
//!   [`Keyspace`]s with ordered range/prefix scans, atomic cross-keyspace [`WriteBatch`]es and
//!   explicit [`Durability`];
//! * [`key`]: composite keys whose byte order equals tuple order;
//! * [`frame`] and [`framed`]: the verified value format (version, codec, length, CRC-32C over
//!   key and value) and transparent chunking of large values;
//! * [`record`]: structs as postcard bytes;
//! * [`marker`]: the format marker that names a cache directory's backend and version;
//! * [`lock`]: the directory lock that makes a cache in use an error of its own kind;
//! * [`conformance`] (feature `conformance`): the one behaviour suite every backend runs.
//!
//! It must not touch any storage engine, object store, or sai3-bench concept: backends
//! (`cache-fjall`, `cache-redb`) depend on it, never the reverse, and `cache-sai3` talks to
//! backends only through these traits.
//!
//! ## Design decisions
//! * **Synchronous API.** Both engines are synchronous, and a point read costs microseconds;
//!   an async facade would add a runtime hop per lookup. Async callers use `spawn_blocking`.
//! * **Order-preserving byte keys.** Range and prefix scans are the main access path (all
//!   objects of a dataset, of a pool, of an index range), so keys sort as their tuples do.
//! * **Framed values.** A cache that may be copied between machines, synced through object
//!   stores and damaged by crashes must never hand back wrong data: every value carries a
//!   checksum that covers its key, and every read verifies it.
//!
//! ## Example
//! Typed keys and verified values in a keyspace of any backend (here an in-memory stand-in; a
//! program opens `cache_fjall::FjallDatabase` or `cache_redb::RedbDatabase`):
//!
//! ```
//! use cache_core::{DatasetId, Durability, FrameSettings, FramedKeyspace, KeyBuilder, KeyReader};
//! # let db = cache_core::database::memory::MemoryDatabase::default();
//! let objects = FramedKeyspace::open(&db, "objects", FrameSettings::default())?;
//! let key = KeyBuilder::new(1).dataset(DatasetId::from_u64(7)).u64(42).finish();
//! objects.insert(&key, b"size=4096", Durability::Flushed)?;
//! assert_eq!(objects.get(&key)?, Some(b"size=4096".to_vec()));
//!
//! let mut reader = KeyReader::new(&key);
//! reader.expect_tag(1)?;
//! assert_eq!(reader.dataset()?, DatasetId::from_u64(7));
//! # Ok::<(), cache_core::Error>(())
//! ```

#![deny(missing_docs)]

pub mod database;
pub mod error;
pub mod frame;
pub mod framed;
pub mod key;
pub mod lock;
pub mod marker;
pub mod record;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use database::{
    Database, Direction, Durability, Keyspace, KvIter, KvPair, OpenOptions, WriteBatch,
};
pub use error::{Error, ErrorKind, Result};
pub use frame::Compression;
pub use framed::{FrameSettings, FramedKeyspace};
pub use key::{DatasetId, KeyBuilder, KeyReader};
