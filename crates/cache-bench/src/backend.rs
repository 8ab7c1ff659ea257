//! The engines a suite measures, chosen at run time.

/// A KV engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// fjall (LSM tree).
    Fjall,
    /// redb (copy-on-write B-tree).
    Redb,
}

impl Backend {
    /// Its name, as `--backend` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Fjall => "fjall",
            Backend::Redb => "redb",
        }
    }

    /// Parses a name.
    ///
    /// # Errors
    /// Not `fjall` or `redb`.
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        match name.trim() {
            "fjall" => Ok(Backend::Fjall),
            "redb" => Ok(Backend::Redb),
            other => anyhow::bail!("unknown backend {other:?} (fjall, redb)"),
        }
    }
}

/// Calls the generic function `$f::<D>(args)` with the database type of `$backend`.
#[macro_export]
macro_rules! with_db {
    ($backend:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        match $backend {
            $crate::backend::Backend::Fjall => $f::<cache_fjall::FjallDatabase>($($arg),*),
            $crate::backend::Backend::Redb => $f::<cache_redb::RedbDatabase>($($arg),*),
        }
    };
}
