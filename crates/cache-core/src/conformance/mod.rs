//! The conformance suite: the behaviours every backend must show, written once.
//!
//! A backend runs the whole suite by invoking [`conformance_suite!`](crate::conformance_suite)
//! in one of its test files; each behaviour becomes one `#[test]`. A backend is done when it
//! passes all of them.
//!
//! Crash behaviours re-run the test binary as a child process (selected by the environment
//! variable [`CHILD_ENV`]) that writes, then aborts without unwinding or closing anything, and
//! the parent reopens the database to check what survived. The in-use behaviour
//! ([`in_use`]) re-runs it the same way as a second process that opens a database the parent
//! holds open, and must be told it is in use (not damaged).
//!
//! Each behaviour is a generic function, which a test may also call on its own; the helpers
//! below serve the behaviours and a backend's own tests:
//!
//! ```
//! use cache_core::conformance::{all_keys, basics, fresh, k, scans};
//! use cache_core::{Database, Keyspace};
//! # type MyDatabase = cache_core::database::memory::MemoryDatabase;
//! // Each behaviour panics, naming what broke, when the backend fails it.
//! basics::insert_get_overwrite::<MyDatabase>();
//! scans::order_of_keys_past_1e8::<MyDatabase>();
//!
//! let (_dir, db) = fresh::<MyDatabase>();
//! let ks = db.keyspace("numbers")?;
//! ks.insert(&k(300), b"")?;
//! ks.insert(&k(7), b"")?;
//! assert_eq!(all_keys(&ks), [k(7), k(300)], "big-endian keys sort numerically");
//! # Ok::<(), cache_core::Error>(())
//! ```

use std::path::Path;
use std::process::Command;

use crate::database::{Database, Direction, KvPair, OpenOptions};
use crate::error::Result;

pub mod basics;
pub mod batches;
pub mod concurrency;
pub mod crash;
pub mod framed;
pub mod in_use;
pub mod opening;
pub mod scans;

/// Environment variable that turns a test process into the child of a crash or in-use behaviour:
/// `"<behaviour>=<directory>"`.
pub const CHILD_ENV: &str = "CACHE_CORE_CONFORMANCE_CHILD";

/// The command that re-runs this test binary as the child of behaviour `name` on `dir`: exactly
/// the `#[test]` named `name` in `module_path` (the conformance macro passes both), one thread,
/// with [`CHILD_ENV`] set to `"<name>=<dir>"`.
pub fn child_command(module_path: &str, name: &str, dir: &Path) -> Command {
    let test_name = match module_path.split_once("::") {
        Some((_, rest)) => format!("{rest}::{name}"),
        None => name.to_owned(),
    };
    let exe = std::env::current_exe().expect("test binary path");
    let mut command = Command::new(exe);
    command
        .args([
            test_name.as_str(),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{name}={}", dir.display()));
    command
}

/// A fresh database in a new temporary directory.
pub fn fresh<D: Database>() -> (tempfile::TempDir, D) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = D::open(&dir.path().join("db"), &small_options()).expect("open a fresh database");
    (dir, db)
}

/// Options with a small cache, suitable for tests.
pub fn small_options() -> OpenOptions {
    OpenOptions {
        cache_size_bytes: 16 * 1024 * 1024,
        create_if_missing: true,
    }
}

/// Opens the database at `path` again.
pub fn reopen<D: Database>(path: &Path) -> D {
    D::open(path, &small_options()).expect("reopen the database")
}

/// Collects an iterator of results, failing the test on the first error.
pub fn collect(iter: impl Iterator<Item = Result<KvPair>>) -> Vec<KvPair> {
    iter.collect::<Result<Vec<_>>>()
        .expect("iteration succeeds")
}

/// Keys of a collected scan.
pub fn keys(pairs: &[KvPair]) -> Vec<Vec<u8>> {
    pairs.iter().map(|(k, _)| k.clone()).collect()
}

/// Big-endian key of `n`.
pub fn k(n: u64) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

/// Every key of `ks`, forward.
pub fn all_keys<K: crate::database::Keyspace>(ks: &K) -> Vec<Vec<u8>> {
    keys(&collect(
        ks.range(
            std::ops::Bound::Unbounded,
            std::ops::Bound::Unbounded,
            Direction::Forward,
        )
        .expect("scan"),
    ))
}

/// Instantiates every conformance behaviour as a `#[test]` for the backend type `$db`.
///
/// ```ignore
/// cache_core::conformance_suite!(cache_fjall::FjallDatabase);
/// ```
#[macro_export]
macro_rules! conformance_suite {
    ($db:ty) => {
        $crate::conformance_suite!(@tests $db;
            basics::open_creates_then_reopens,
            basics::keyspace_open_is_idempotent_and_listed,
            basics::invalid_keyspace_names_are_rejected,
            basics::get_missing_is_none,
            basics::insert_get_overwrite,
            basics::remove_and_remove_missing,
            basics::contains_matches_get,
            basics::empty_key_and_empty_value,
            basics::keyspaces_are_isolated,
            basics::persistence_across_reopen,
            basics::buffered_writes_survive_clean_close,
            basics::drop_keyspace_removes_data_and_name,
            basics::disk_space_and_len_grow,
            basics::ingest_sorted_loads_and_refuses_unsorted,
            scans::order_of_keys_past_1e8,
            scans::range_bounds,
            scans::reverse_range,
            scans::prefix_scan_stops_at_boundary,
            scans::prefix_scan_reverse,
            scans::empty_prefix_scans_everything,
            scans::iterator_is_point_in_time,
            batches::batch_is_atomic_across_keyspaces,
            batches::uncommitted_batch_writes_nothing,
            batches::batch_applies_operations_in_order,
            batches::each_durability_mode_commits,
            framed::large_chunked_value_64mib,
            framed::chunked_overwrite_and_remove_leave_no_orphans,
            framed::damaged_value_is_reported_corrupt,
            framed::value_under_wrong_key_is_reported_corrupt,
            framed::records_round_trip_and_scan,
            concurrency::concurrent_readers_during_writer,
            opening::refuses_other_backend_directory,
            opening::refuses_garbage_directory,
            opening::refuses_newer_format,
            opening::refuses_missing_database_without_create,
            opening::damaged_engine_files_are_errors_not_wrong_data,
            in_use::second_open_in_same_process_is_in_use,
        );
        $crate::conformance_suite!(@child $db;
            in_use::second_process_open_is_in_use,
        );
        $crate::conformance_suite!(@crash $db;
            crash_before_commit_loses_whole_batch,
            torn_buffered_batches_stay_atomic,
            flushed_commit_survives_kill,
            synced_commit_survives_kill,
            persist_makes_buffered_writes_survive_kill,
        );
    };
    (@tests $db:ty; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::$module::$name::<$db>();
            }
        )*
    };
    (@child $db:ty; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::$module::$name::<$db>(module_path!(), stringify!($name));
            }
        )*
    };
    (@crash $db:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::crash::$name::<$db>(module_path!(), stringify!($name));
            }
        )*
    };
}
