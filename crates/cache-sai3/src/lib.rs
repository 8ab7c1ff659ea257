//! # cache-sai3
//!
//! Everything specific to the sai3-bench benchmark: reading its YAML configs unchanged
//! ([`config`]), its byte-exact file naming in closed form ([`naming`]), the dataset model
//! ([`dataset`]) and its config hash ([`config_hash`]), deterministic object sizes
//! ([`sizes`]), the coordinator and endpoint caches ([`caches`]), the prepare flow
//! ([`prepare`]) and the library face for a benchmark's own prepare code ([`metadata_cache`]).
//!
//! It talks to storage only through the `cache-core` traits, generic over the backend; it must
//! not name fjall or redb types. Moving cache files to object stores belongs to `cache-sync`.
//!
//! Design rule: what can be computed is computed. A path is a function of the index (O(depth)),
//! so it is never looked up in a database; the caches store what cannot be computed: which
//! objects exist and in what state, listings, seeds, and placements of non-deterministic
//! strategies.
//!
//! ```
//! use cache_sai3::dataset::Dataset;
//! let yaml = r#"
//! prepare:
//!   directory_structure: { width: 2, depth: 1, files_per_dir: 3 }
//!   ensure_objects: [{ base_uri: "s3://bench/data/", count: 6, size_spec: 1024 }]
//! workload: [{ op: get, path: "*", weight: 100 }]
//! "#;
//! let dataset = Dataset::from_yaml(yaml, "inline")?;
//! let pool = &dataset.pools[0];
//! // Computed, never looked up: the path of an index, and the index of a path.
//! let path = dataset.path_of(pool, 4).expect("in the pool");
//! assert_eq!(dataset.parse_path(pool, &path), Some(4));
//! assert_eq!((dataset.total_objects(), dataset.total_dirs()), (6, 2));
//! # Ok::<(), cache_sai3::Sai3Error>(())
//! ```

#![deny(missing_docs)]

pub mod archive;
pub mod blocking;
pub mod caches;
pub mod config;
pub mod config_hash;
pub mod dataset;
pub mod dataset_record;
pub mod error;
pub mod listing;
pub mod metadata_cache;
pub mod naming;
pub mod numbers;
pub mod object_sizes;
pub mod placement;
pub mod prepare;
pub mod records;
pub mod scheme;
pub mod sizes;
pub mod store;
pub mod sync;
pub mod ttl;
pub mod verify;

pub use error::{ConfigError, Result, Sai3Error};
