//! # cache-sai3
//!
//! Will own everything specific to the sai3-bench benchmark: reading its YAML configs, the
//! dataset model and its byte-exact file naming, the config hash, the coordinator cache
//! (tree manifests, endpoint registry, config metadata) and the per-endpoint caches (object
//! ledger, listing cache, seeds, agent and endpoint maps), and the prepare flow that uses them.
//!
//! It talks to storage only through the `cache-core` traits, generic over the backend; it must
//! not name fjall or redb types. Object-store transfer of cache files belongs to `cache-sync`.
//!
//! Status: empty until the sai3 issue; nothing here is used yet.
