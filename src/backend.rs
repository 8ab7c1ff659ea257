//! Runtime choice among the backends compiled into this build.

/// A storage engine compiled into this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// fjall: LSM-tree; records the ledger fastest (the quickest first prepare).
    #[cfg(feature = "fjall")]
    Fjall,
    /// redb: B-tree in one file; smallest caches and fastest reattach (each checkpoint is an fsync).
    #[cfg(feature = "redb")]
    Redb,
}

#[cfg(not(any(feature = "fjall", feature = "redb")))]
compile_error!("build sai3-cache with at least one backend feature: `fjall` or `redb`");

impl Default for BackendChoice {
    /// fjall when it is built in, else redb.
    fn default() -> Self {
        #[cfg(feature = "fjall")]
        return BackendChoice::Fjall;
        #[cfg(not(feature = "fjall"))]
        return BackendChoice::Redb;
    }
}

/// Calls the generic function `f::<D>(args...)` (a path such as `lookup::run`) with `D` the
/// chosen backend's database type.
macro_rules! with_backend {
    ($choice:expr, $($f:ident)::+ ( $($arg:expr),* $(,)? )) => {
        match $choice {
            #[cfg(feature = "fjall")]
            $crate::backend::BackendChoice::Fjall => {
                $($f)::+::<cache_fjall::FjallDatabase>($($arg),*)
            }
            #[cfg(feature = "redb")]
            $crate::backend::BackendChoice::Redb => $($f)::+::<cache_redb::RedbDatabase>($($arg),*),
        }
    };
}
pub(crate) use with_backend;
