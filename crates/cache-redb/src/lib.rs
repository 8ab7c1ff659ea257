//! cache-redb
