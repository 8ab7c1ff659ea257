//! A dataset-shaped S3 server: huge synthetic datasets (tens of millions of objects) in a few
//! MB, served over the real S3 protocol by `s3s` on 127.0.0.1.
//!
//! * Keys of a synthetic set are generated from indices ([`SyntheticObjects`]); which exist is a
//!   roaring bitmap; GET returns synthesized bytes of the right size ([`synthetic_content`]).
//! * Every other key (e.g. small files a client PUTs) is stored for real, in memory.
//! * LIST merges both in byte order, page by page; PUT of a synthetic key sets its bit, DELETE
//!   clears it. Signatures are checked; conditional writes are honoured.

mod content;
mod list;
mod multipart;
mod objects;
mod server;
mod service;
mod state;
mod stats;

pub use content::synthetic_content;
pub use objects::{
    FlatObjects, SyntheticObjects, ascending_keys_after, full_presence, presence_with_gaps,
};
pub use server::{DatasetS3, DatasetS3Builder};
pub use stats::DatasetS3Stats;
