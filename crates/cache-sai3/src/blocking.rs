//! Blocking storage work (commits, flushes, bulk loads) called from async code.
//!
//! The engines are synchronous. On a multi-threaded tokio runtime, [`off_worker`] runs such
//! work with `block_in_place`, so the worker thread hands its other tasks (LISTs and PUTs of
//! other endpoints) to the other workers instead of stalling them. `spawn_blocking` would need
//! `'static` data; the caches and ledger writers are borrowed by the endpoint jobs. On a
//! current-thread runtime (tests) or outside a runtime, the work runs inline.
//!
//! ```
//! let sum = cache_sai3::blocking::off_worker(|| (1..=4).sum::<u32>());
//! assert_eq!(sum, 10);
//! ```

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `work`, letting the runtime move other tasks off this thread while it blocks.
///
/// ```
/// use cache_sai3::blocking::off_worker;
/// let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build()?;
/// let n = runtime.block_on(async { off_worker(|| std::fs::read_dir(".").map(|d| d.count())) })?;
/// assert!(n > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn off_worker<R>(work: impl FnOnce() -> R) -> R {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
