//! The shared cache-core conformance suite, run on the fjall backend.

cache_core::conformance_suite!(cache_fjall::FjallDatabase);
