//! # cache-sync
//!
//! Moves closed sai3-cache directories to and from any `object_store` backend (S3, Azure Blob,
//! GCS, local, in-memory), consistent and verified.
//!
//! * [`push()`]: every distinct file content is uploaded once, zstd-compressed and named by its
//!   SHA-256 (incremental: content already in the store is not sent again; large files stream
//!   through multipart uploads, so memory stays flat); then a manifest of the new generation is
//!   published with a conditional put, so two agents pushing at once never overwrite each other
//!   (the loser retries on top of the winner). The last K generations are kept.
//! * [`pull()`]: finds the newest generation, refuses unsafe or foreign manifests, downloads only
//!   content not already present locally, verifies size and SHA-256 of every file, and swaps the
//!   directory atomically (a crash leaves the old copy usable).
//!
//! It owns the remote layout ([`remote`]) and the manifest format ([`manifest`]). It must not
//! open a cache database or interpret keys and values: it sees files of a closed cache
//! directory and its format marker only. It knows nothing of sai3-bench; callers decide when
//! to push and pull.
//!
//! ```
//! use cache_sync::{PushOptions, RemoteCache, pull, push};
//! use object_store::memory::InMemory;
//! use std::sync::Arc;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! # let tmp = tempfile::tempdir()?;
//! let src = tmp.path().join("src");
//! cache_core::marker::claim_directory(&src, "fjall", true)?; // a closed fjall cache
//! std::fs::write(src.join("data"), b"hello")?;
//! let remote = RemoteCache::new(Arc::new(InMemory::new()), "sai3-kv-cache");
//! let pushed = push(&src, &remote, &PushOptions::default(), 1).await?;
//! assert_eq!(pushed.generation, 1);
//! let dst = tmp.path().join("dst");
//! let pulled = pull(&remote, &dst, "fjall").await?;
//! assert_eq!(pulled.generation, Some(1));
//! assert_eq!(std::fs::read(dst.join("data"))?, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod error;
pub mod local;
pub mod manifest;
pub mod pull;
pub mod push;
pub mod remote;
pub mod transfer;

pub use error::{Result, SyncError};
pub use manifest::{FileEntry, Manifest};
pub use pull::{PullReport, pull, pull_counted};
pub use push::{PushOptions, PushReport, push, push_counted};
pub use remote::RemoteCache;
pub use transfer::Transfer;
