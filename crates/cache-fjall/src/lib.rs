//! cache-fjall
