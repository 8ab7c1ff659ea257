//! cache-sai3
