//! [`Transfer`]: how far a push or pull is, in files and bytes, read by the caller while it
//! runs (a progress display). Counters only; nothing here decides anything.
//!
//! ```
//! use cache_sync::{PushOptions, RemoteCache, Transfer, push_counted};
//! use object_store::memory::InMemory;
//! use std::sync::Arc;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! # let tmp = tempfile::tempdir()?;
//! # let src = tmp.path().join("src");
//! # cache_core::marker::claim_directory(&src, "fjall", true)?; // a closed fjall cache
//! # std::fs::write(src.join("data"), b"hello")?;
//! let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
//! let transfer = Transfer::default();
//! push_counted(&src, &remote, &PushOptions::default(), 1, &transfer).await?;
//! let [files_done, files_total, ..] = transfer.snapshot();
//! assert_eq!(files_done, files_total);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

/// Files and bytes of one push or pull: the totals once known, and what is done so far.
/// Several transfers may share one (their counts add up).
///
/// ```
/// use cache_sync::{PushOptions, RemoteCache, Transfer, push_counted};
/// use object_store::memory::InMemory;
/// use std::sync::Arc;
/// use std::sync::atomic::Ordering;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let src = tmp.path().join("src");
/// # cache_core::marker::claim_directory(&src, "fjall", true)?; // a closed fjall cache
/// # std::fs::write(src.join("data"), b"hello")?;
/// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
/// let shared = Transfer::default();
/// push_counted(&src, &remote, &PushOptions::default(), 1, &shared).await?;
/// push_counted(&src, &remote, &PushOptions::default(), 2, &shared).await?;
/// assert_eq!(shared.files_done.load(Ordering::Relaxed), 4, "two files, twice");
/// assert_eq!(shared.files_total.load(Ordering::Relaxed), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Transfer {
    /// Files the transfer has to look at (every file of the cache or generation).
    pub files_total: AtomicU64,
    /// Files done (sent, downloaded, or found already there).
    pub files_done: AtomicU64,
    /// Bytes of those files, uncompressed.
    pub bytes_total: AtomicU64,
    /// Bytes of the files done, uncompressed.
    pub bytes_done: AtomicU64,
}

impl Transfer {
    /// Adds `files` files of `bytes` bytes to the totals.
    pub(crate) fn add_total(&self, files: u64, bytes: u64) {
        self.files_total.fetch_add(files, Ordering::Relaxed);
        self.bytes_total.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts one file of `bytes` bytes as done.
    pub(crate) fn file_done(&self, bytes: u64) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
    }

    /// `[files done, files total, bytes done, bytes total]` now.
    ///
    /// ```
    /// use cache_sync::{PushOptions, RemoteCache, Transfer, push_counted};
    /// use object_store::memory::InMemory;
    /// use std::sync::Arc;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// # let tmp = tempfile::tempdir()?;
    /// # let src = tmp.path().join("src");
    /// # cache_core::marker::claim_directory(&src, "fjall", true)?; // a closed fjall cache
    /// # std::fs::write(src.join("data"), b"hello")?;
    /// let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
    /// let transfer = Transfer::default();
    /// assert_eq!(transfer.snapshot(), [0, 0, 0, 0]);
    /// push_counted(&src, &remote, &PushOptions::default(), 1, &transfer).await?;
    /// let [files_done, files_total, bytes_done, bytes_total] = transfer.snapshot();
    /// assert_eq!((files_done, files_total), (2, 2)); // the marker, `data`
    /// assert!(bytes_done == bytes_total && bytes_total > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn snapshot(&self) -> [u64; 4] {
        [
            self.files_done.load(Ordering::Relaxed),
            self.files_total.load(Ordering::Relaxed),
            self.bytes_done.load(Ordering::Relaxed),
            self.bytes_total.load(Ordering::Relaxed),
        ]
    }
}
