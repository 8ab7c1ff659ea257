//! The shared cache-core conformance suite, run on the redb backend.

cache_core::conformance_suite!(cache_redb::RedbDatabase);
