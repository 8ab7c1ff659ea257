//! Request counters, readable while the server runs.

use std::sync::atomic::{AtomicU64, Ordering};

/// Operations the server counts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    ListPage,
    Get,
    Head,
    Put,
    Delete,
    DeleteBatch,
    MultipartCreate,
    MultipartPart,
    MultipartComplete,
    MultipartAbort,
    Bucket,
}

const OPS: usize = Op::Bucket as usize + 1;

/// Counts of requests by operation since the start (or the last reset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatasetS3Stats {
    /// LIST requests (v1 or v2), one per page.
    pub list_pages: u64,
    /// Objects returned by LIST, over every page.
    pub list_keys: u64,
    /// Common prefixes returned by LIST, over every page.
    pub list_common_prefixes: u64,
    /// GetObject requests.
    pub get: u64,
    /// HeadObject requests.
    pub head: u64,
    /// PutObject requests.
    pub put: u64,
    /// DeleteObject requests.
    pub delete: u64,
    /// DeleteObjects (batch) requests.
    pub delete_batch: u64,
    /// Keys deleted by DeleteObjects requests.
    pub delete_batch_keys: u64,
    /// CreateMultipartUpload requests.
    pub multipart_create: u64,
    /// UploadPart requests.
    pub multipart_parts: u64,
    /// CompleteMultipartUpload requests.
    pub multipart_complete: u64,
    /// AbortMultipartUpload requests.
    pub multipart_abort: u64,
    /// Bucket requests (create, head, list buckets).
    pub bucket: u64,
}

/// The live counters.
#[derive(Default)]
pub(crate) struct Counters {
    ops: [AtomicU64; OPS],
    list_keys: AtomicU64,
    list_common_prefixes: AtomicU64,
    delete_batch_keys: AtomicU64,
}

impl Counters {
    pub(crate) fn count(&self, op: Op) {
        self.ops[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn listed(&self, keys: usize, common_prefixes: usize) {
        self.list_keys.fetch_add(keys as u64, Ordering::Relaxed);
        self.list_common_prefixes
            .fetch_add(common_prefixes as u64, Ordering::Relaxed);
    }

    pub(crate) fn deleted_in_batch(&self, keys: usize) {
        self.delete_batch_keys
            .fetch_add(keys as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> DatasetS3Stats {
        let op = |o: Op| self.ops[o as usize].load(Ordering::Relaxed);
        DatasetS3Stats {
            list_pages: op(Op::ListPage),
            list_keys: self.list_keys.load(Ordering::Relaxed),
            list_common_prefixes: self.list_common_prefixes.load(Ordering::Relaxed),
            get: op(Op::Get),
            head: op(Op::Head),
            put: op(Op::Put),
            delete: op(Op::Delete),
            delete_batch: op(Op::DeleteBatch),
            delete_batch_keys: self.delete_batch_keys.load(Ordering::Relaxed),
            multipart_create: op(Op::MultipartCreate),
            multipart_parts: op(Op::MultipartPart),
            multipart_complete: op(Op::MultipartComplete),
            multipart_abort: op(Op::MultipartAbort),
            bucket: op(Op::Bucket),
        }
    }

    pub(crate) fn reset(&self) {
        let all = self.ops.iter().chain([
            &self.list_keys,
            &self.list_common_prefixes,
            &self.delete_batch_keys,
        ]);
        for c in all {
            c.store(0, Ordering::Relaxed);
        }
    }
}
