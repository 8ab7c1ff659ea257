//! [`Transfer`]: how far a push or pull is, in files and bytes, read by the caller while it
//! runs (a progress display). Counters only; nothing here decides anything.

use std::sync::atomic::{AtomicU64, Ordering};

/// Files and bytes of one push or pull: the totals once known, and what is done so far.
/// Several transfers may share one (their counts add up).
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
    pub fn add_total(&self, files: u64, bytes: u64) {
        self.files_total.fetch_add(files, Ordering::Relaxed);
        self.bytes_total.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts one file of `bytes` bytes as done.
    pub fn file_done(&self, bytes: u64) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
    }

    /// `(files done, files total, bytes done, bytes total)` now.
    pub fn snapshot(&self) -> [u64; 4] {
        [
            self.files_done.load(Ordering::Relaxed),
            self.files_total.load(Ordering::Relaxed),
            self.bytes_done.load(Ordering::Relaxed),
            self.bytes_total.load(Ordering::Relaxed),
        ]
    }
}
