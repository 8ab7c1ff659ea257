//! The one error type of the cache stack.
//!
//! Every variant says *where* (backend, path, keyspace) and *what* went wrong, so a message
//! printed to a user names the file to look at and the action to take.

use std::path::PathBuf;

/// Result alias used throughout the cache crates.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when opening or using a cache.
///
/// Variants carry the backend name, the database path and the keyspace where they are known,
/// so that a message such as "corrupt value in keyspace `objects` of /data/sai3-kv-cache" can be
/// acted upon without a debugger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error on a file or directory the cache owns.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File or directory the operation touched.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The storage engine reported an error.
    #[error("{backend} error in {path}{}: {message}", keyspace_suffix(.keyspace))]
    Backend {
        /// Name of the backend (`fjall`, `redb`).
        backend: &'static str,
        /// Database directory.
        path: PathBuf,
        /// Keyspace involved, if the operation was on one.
        keyspace: Option<String>,
        /// The engine's message.
        message: String,
    },

    /// A stored value (or its key) failed verification: wrong checksum, truncated frame,
    /// unknown format, or a value that does not belong to the key it was read under.
    #[error("corrupt data in keyspace `{keyspace}` at key {key}: {reason}")]
    Corrupt {
        /// Keyspace the value was read from.
        keyspace: String,
        /// The key, rendered as printable hex/ASCII.
        key: String,
        /// What failed.
        reason: String,
    },

    /// A key did not decode with the layout the caller expected.
    #[error("malformed key {key}: {reason}")]
    MalformedKey {
        /// The key, rendered as printable hex/ASCII.
        key: String,
        /// What was wrong with it.
        reason: String,
    },

    /// The directory exists but is not a sai3-cache database of the requested backend.
    #[error("{path} is not a {expected} cache: {reason}")]
    NotACache {
        /// Directory that was opened.
        path: PathBuf,
        /// Backend that tried to open it.
        expected: &'static str,
        /// What was found instead.
        reason: String,
    },

    /// The directory holds a cache written by another backend.
    #[error(
        "{path} holds a {found} cache, but the {expected} backend was asked to open it; \
         reopen it with --backend {found}"
    )]
    WrongBackend {
        /// Directory that was opened.
        path: PathBuf,
        /// Backend that tried to open it.
        expected: &'static str,
        /// Backend named by the directory's format marker.
        found: String,
    },

    /// The cache was written by a newer version of this software.
    #[error(
        "{path} uses cache format {found}, this build reads format {supported} and older; \
         upgrade sai3-cache or clear the cache"
    )]
    FormatTooNew {
        /// Directory that was opened.
        path: PathBuf,
        /// Format version in the directory's marker.
        found: u32,
        /// Newest version this build understands.
        supported: u32,
    },

    /// A caller passed an argument the cache cannot accept (empty keyspace name, zero
    /// endpoints, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A record failed to serialize (this is a bug in the caller's type, not bad data).
    #[error("cannot encode record for keyspace `{keyspace}`: {reason}")]
    Encode {
        /// Keyspace the record was meant for.
        keyspace: String,
        /// Serializer message.
        reason: String,
    },
}

fn keyspace_suffix(keyspace: &Option<String>) -> String {
    match keyspace {
        Some(k) => format!(" (keyspace `{k}`)"),
        None => String::new(),
    }
}

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds an [`Error::Backend`] from an engine error.
    pub fn backend(
        backend: &'static str,
        path: &std::path::Path,
        keyspace: Option<&str>,
        message: impl std::fmt::Display,
    ) -> Self {
        Error::Backend {
            backend,
            path: path.to_owned(),
            keyspace: keyspace.map(str::to_owned),
            message: message.to_string(),
        }
    }

    /// Builds an [`Error::Corrupt`], rendering `key` for humans.
    pub fn corrupt(keyspace: &str, key: &[u8], reason: impl Into<String>) -> Self {
        Error::Corrupt {
            keyspace: keyspace.to_owned(),
            key: render_key(key),
            reason: reason.into(),
        }
    }

    /// True for errors that mean stored data is damaged or foreign (the caller may rebuild).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            Error::Corrupt { .. } | Error::NotACache { .. } | Error::MalformedKey { .. }
        )
    }
}

/// Renders a binary key for error messages: printable ASCII runs stay readable, other bytes
/// become `\xNN`; keys longer than 64 bytes are shortened with their total length.
pub fn render_key(key: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::from("\"");
    for &b in key.iter().take(64) {
        if b.is_ascii_graphic() && b != b'"' && b != b'\\' {
            out.push(b as char);
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    if key.len() > 64 {
        let _ = write!(out, "... ({} bytes)", key.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_key_escapes_binary_and_truncates() {
        assert_eq!(render_key(b"ab\x00\xff"), "\"ab\\x00\\xff\"");
        let long = vec![b'a'; 100];
        assert!(render_key(&long).ends_with("... (100 bytes)"));
    }

    #[test]
    fn messages_name_place_and_cause() {
        let e = Error::corrupt("objects", b"k1", "checksum mismatch");
        assert_eq!(
            e.to_string(),
            "corrupt data in keyspace `objects` at key \"k1\": checksum mismatch"
        );
        assert!(e.is_corruption());
        let e = Error::Backend {
            backend: "redb",
            path: "/x".into(),
            keyspace: Some("seeds".into()),
            message: "boom".into(),
        };
        assert_eq!(e.to_string(), "redb error in /x (keyspace `seeds`): boom");
    }
}
