//! cache-sync
