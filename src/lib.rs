//! sai3-cache as a library, for a benchmark that prepares and reads sai3-bench datasets itself
//! (sai3-bench's prepare and workload code): [`MetadataCache`] with the backend this build
//! was compiled with (`fjall` by default, `redb` with `--no-default-features --features redb`),
//! so the caller names one concrete type. Everything else is re-exported from the crates
//! that hold it: [`cache_sai3`] (datasets, placement, the prepare flow) and [`cache_core`]
//! (the storage traits). The command-line tool is the binary of this package.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # let tmp = tempfile::tempdir().unwrap();
//! # let config = sai3_cache::cache_sai3::metadata_cache::example_config(tmp.path(), 8);
//! let cache = sai3_cache::MetadataCache::open(&config, None, &tmp.path().join("cache")).await?;
//! let object = cache.locate(0, 3)?.expect("object 3 of pool 0");
//! assert_eq!(object.size, 64);
//! assert!(object.location.path.ends_with(".dat"));
//! # Ok::<(), sai3_cache::cache_sai3::Sai3Error>(())
//! # }).unwrap();
//! ```

pub use cache_core;
pub use cache_sai3;
pub use cache_sai3::metadata_cache::{Located, Missing, Recorder, Shard, ShardKnowledge};

/// The storage engine of this build: fjall when the `fjall` feature is on (the default), else
/// redb.
///
/// ```
/// use sai3_cache::Engine;
/// use sai3_cache::cache_core::{Database, Keyspace, OpenOptions, marker};
/// let dir = tempfile::tempdir()?;
/// let db = Engine::open(dir.path(), &OpenOptions::default())?;
/// db.keyspace("seeds")?.insert(b"pool-0", b"42")?;
/// assert_eq!(db.keyspace("seeds")?.get(b"pool-0")?, Some(b"42".to_vec()));
/// let marker = marker::read_marker(dir.path(), Engine::BACKEND)?.expect("a cache directory");
/// assert_eq!(marker.backend, Engine::BACKEND);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "fjall")]
pub type Engine = cache_fjall::FjallDatabase;
/// The storage engine of this build: fjall when the `fjall` feature is on (the default), else
/// redb.
///
/// ```
/// use sai3_cache::Engine;
/// use sai3_cache::cache_core::{Database, Keyspace, OpenOptions, marker};
/// let dir = tempfile::tempdir()?;
/// let db = Engine::open(dir.path(), &OpenOptions::default())?;
/// db.keyspace("seeds")?.insert(b"pool-0", b"42")?;
/// assert_eq!(db.keyspace("seeds")?.get(b"pool-0")?, Some(b"42".to_vec()));
/// let marker = marker::read_marker(dir.path(), Engine::BACKEND)?.expect("a cache directory");
/// assert_eq!(marker.backend, Engine::BACKEND);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(all(feature = "redb", not(feature = "fjall")))]
pub type Engine = cache_redb::RedbDatabase;

/// [`cache_sai3::metadata_cache::MetadataCache`] on this build's [`Engine`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = sai3_cache::cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// let cache = sai3_cache::MetadataCache::open(&config, None, &tmp.path().join("cache")).await?;
/// assert_eq!(cache.dataset().total_objects(), 8);
/// assert_eq!(cache.shards().len(), 2, "one shard per endpoint");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type MetadataCache = cache_sai3::metadata_cache::MetadataCache<Engine>;
