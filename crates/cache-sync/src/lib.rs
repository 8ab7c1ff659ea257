//! # cache-sync
//!
//! Will own moving a cache's on-disk files to and from any `object_store` backend (S3, Azure
//! Blob, GCS, local): consistent snapshots of a closed or quiesced cache directory,
//! content-addressed incremental uploads, a generation manifest published with a conditional
//! put, verified downloads, and an atomic switch of the local directory to a new generation.
//!
//! It must not open a cache database or interpret keys and values: it sees only files of a
//! closed cache directory and the format marker (`cache_core::marker`). It must not know about
//! sai3-bench datasets; `cache-sai3` decides when to push and pull.
//!
//! Status: empty until the object-store issue; nothing here is used yet.
