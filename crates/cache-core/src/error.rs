//! The one error type of the cache stack.
//!
//! Every variant says *where* (backend, path, keyspace) and *what* went wrong, so a message
//! printed to a user names the file to look at and the action to take. [`Error::kind`] sorts
//! the variants into the few [`ErrorKind`]s a caller decides on: a cache that is in use is
//! waited for, a cache whose data failed verification may be moved aside and rebuilt, and a
//! foreign or other-backend directory stops the run untouched.
//!
//! Messages name no command-line flag: the library does not know how it is invoked; the CLI adds
//! its own advice.
//!
//! ```
//! use cache_core::error::{Error, ErrorKind};
//! let err = Error::in_use("fjall", "/data/sai3-kv-cache".as_ref(), "its lock is held");
//! assert_eq!(err.kind(), ErrorKind::InUse);
//! assert!(err.to_string().contains("wait for it to finish or use another cache directory"));
//! ```

use std::path::PathBuf;

/// Result alias used throughout the cache crates.
///
/// ```
/// use cache_core::{Error, Result};
/// fn positive(n: i64) -> Result<u64> {
///     u64::try_from(n).map_err(|_| Error::InvalidArgument(format!("{n} is negative")))
/// }
/// assert_eq!(positive(3)?, 3);
/// assert_eq!(positive(-1).unwrap_err().to_string(), "invalid argument: -1 is negative");
/// # Ok::<(), Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when opening or using a cache.
///
/// Variants carry the backend name, the database path and the keyspace where they are known,
/// so that a message such as "corrupt value in keyspace `objects` of /data/sai3-kv-cache" can be
/// acted upon without a debugger.
///
/// ```
/// use cache_core::{Error, ErrorKind};
/// let err = Error::corrupt("objects", b"k\x01", "checksum mismatch");
/// assert_eq!(err.kind(), ErrorKind::Corrupt);
/// assert_eq!(
///     err.to_string(),
///     r#"corrupt data in keyspace `objects` at key "k\x01": checksum mismatch"#
/// );
/// assert!(matches!(err, Error::Corrupt { ref keyspace, .. } if keyspace == "objects"));
/// ```
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

    /// The storage engine reported an error that has no more specific variant (kind
    /// [`ErrorKind::Other`]). Backends map lock contention to [`Error::InUse`], damaged engine
    /// files to [`Error::Damaged`] and I/O failures to [`Error::Io`] instead.
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
    #[error("{path} holds a {found} cache, but the {expected} backend was asked to open it")]
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

    /// The cache is open elsewhere: another process (or another open handle in this process)
    /// holds its lock. Nothing is known to be wrong with the cache; it must not be moved aside or
    /// rebuilt. Wait for the other user to finish, or use another directory.
    #[error(
        "{path} is in use by another process ({backend}: {detail}); \
         wait for it to finish or use another cache directory"
    )]
    InUse {
        /// Name of the backend (`fjall`, `redb`).
        backend: &'static str,
        /// Cache directory that is in use.
        path: PathBuf,
        /// What showed it (which lock is held).
        detail: String,
    },

    /// The engine's own files failed the engine's verification: a checksum mismatch, a
    /// truncated or unparsable file, a journal that cannot be recovered. Like [`Error::Corrupt`]
    /// this is data that failed verification (kind [`ErrorKind::Corrupt`]), found by the engine
    /// instead of by the value frames.
    #[error("{path} holds damaged {backend} data{}: {detail}", keyspace_suffix(.keyspace))]
    Damaged {
        /// Name of the backend (`fjall`, `redb`).
        backend: &'static str,
        /// Cache directory.
        path: PathBuf,
        /// Keyspace involved, if the operation was on one.
        keyspace: Option<String>,
        /// What failed verification.
        detail: String,
    },

    /// The backend, or the file system under the cache, lacks something the cache needs (for
    /// example file locks).
    #[error("{path}: {what} is not supported ({backend})")]
    Unsupported {
        /// Name of the backend (`fjall`, `redb`).
        backend: &'static str,
        /// Cache directory.
        path: PathBuf,
        /// What is missing.
        what: String,
    },
}

/// What kind of failure an [`Error`] is: the decision a caller makes on it, without matching
/// every variant. Returned by [`Error::kind`].
///
/// ```
/// use cache_core::{Error, ErrorKind};
/// let err = Error::FormatTooNew { path: "/c".into(), found: 9, supported: 1 };
/// assert_eq!(err.kind(), ErrorKind::WrongFormat);
/// assert_ne!(err.kind(), ErrorKind::Corrupt, "a newer cache is left untouched");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The cache is open in another process or through another handle ([`Error::InUse`]).
    /// Nothing is wrong with it: wait, or use another directory. Never move it aside.
    InUse,
    /// Stored data failed verification ([`Error::Corrupt`], [`Error::MalformedKey`],
    /// [`Error::Damaged`]). The only kind whose cache may be moved aside and rebuilt.
    Corrupt,
    /// The path holds something that is not a sai3-cache cache: foreign files, a plain file, an
    /// unreadable format marker, or nothing where a cache was required ([`Error::NotACache`]).
    /// Leave it untouched.
    NotACache,
    /// A sai3-cache cache that this backend or build must not open: another backend's
    /// ([`Error::WrongBackend`]) or a newer format ([`Error::FormatTooNew`]). Leave it untouched.
    WrongFormat,
    /// An operating-system I/O error ([`Error::Io`]).
    Io,
    /// The backend or the file system lacks something required ([`Error::Unsupported`]).
    Unsupported,
    /// The caller passed an argument the cache cannot accept ([`Error::InvalidArgument`]).
    InvalidArgument,
    /// Anything else: engine errors without a more specific kind ([`Error::Backend`]),
    /// records that fail to encode ([`Error::Encode`]).
    Other,
}

fn keyspace_suffix(keyspace: &Option<String>) -> String {
    match keyspace {
        Some(k) => format!(" (keyspace `{k}`)"),
        None => String::new(),
    }
}

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    ///
    /// ```
    /// use cache_core::{Error, ErrorKind};
    /// let dir = tempfile::tempdir()?;
    /// let missing = dir.path().join("missing");
    /// let err = std::fs::read(&missing).map_err(|e| Error::io(&missing, e)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Io);
    /// assert!(err.to_string().starts_with(&format!("I/O error on {}", missing.display())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds an [`Error::Backend`] from an engine error.
    ///
    /// ```
    /// use cache_core::{Error, ErrorKind};
    /// let err = Error::backend("fjall", "/c".as_ref(), Some("objects"), "journal full");
    /// assert_eq!(err.kind(), ErrorKind::Other);
    /// assert_eq!(err.to_string(), "fjall error in /c (keyspace `objects`): journal full");
    /// ```
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
    ///
    /// ```
    /// use cache_core::Error;
    /// let err = Error::corrupt("objects", b"a\"b\x00", "truncated frame");
    /// assert!(err.is_corruption());
    /// assert!(err.to_string().contains(r#"at key "a\x22b\x00": truncated frame"#), "{err}");
    /// ```
    pub fn corrupt(keyspace: &str, key: &[u8], reason: impl Into<String>) -> Self {
        Error::Corrupt {
            keyspace: keyspace.to_owned(),
            key: render_key(key),
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::InUse`] for the cache directory `path`.
    ///
    /// ```
    /// use cache_core::{Error, ErrorKind};
    /// let err = Error::in_use("redb", "/c".as_ref(), "its lock is held");
    /// assert_eq!(err.kind(), ErrorKind::InUse);
    /// let message = err.to_string();
    /// assert!(message.starts_with("/c is in use by another process (redb: its lock is held)"));
    /// ```
    pub fn in_use(
        backend: &'static str,
        path: &std::path::Path,
        detail: impl Into<String>,
    ) -> Self {
        Error::InUse {
            backend,
            path: path.to_owned(),
            detail: detail.into(),
        }
    }

    /// Builds an [`Error::Damaged`] from an engine's verification failure.
    ///
    /// ```
    /// use cache_core::{Error, ErrorKind};
    /// let err = Error::damaged("redb", "/c".as_ref(), None, "page checksum mismatch");
    /// assert_eq!(err.kind(), ErrorKind::Corrupt);
    /// assert_eq!(err.to_string(), "/c holds damaged redb data: page checksum mismatch");
    /// ```
    pub fn damaged(
        backend: &'static str,
        path: &std::path::Path,
        keyspace: Option<&str>,
        detail: impl std::fmt::Display,
    ) -> Self {
        Error::Damaged {
            backend,
            path: path.to_owned(),
            keyspace: keyspace.map(str::to_owned),
            detail: detail.to_string(),
        }
    }

    /// The kind of this error: what a caller may do about it.
    ///
    /// ```
    /// use cache_core::error::{Error, ErrorKind};
    ///
    /// let busy = Error::in_use("fjall", "/data/sai3-kv-cache".as_ref(), "its lock is held");
    /// assert_eq!(busy.kind(), ErrorKind::InUse);
    /// assert!(!busy.is_corruption(), "a cache in use is not a damaged cache");
    /// assert!(busy.to_string().contains("/data/sai3-kv-cache is in use"));
    ///
    /// let bad = Error::corrupt("objects", b"k1", "checksum mismatch");
    /// assert_eq!(bad.kind(), ErrorKind::Corrupt);
    ///
    /// // What a caller that owns the cache directory does with an error:
    /// let action = |e: &Error| match e.kind() {
    ///     ErrorKind::InUse => "wait or use another directory",
    ///     ErrorKind::Corrupt => "move aside and rebuild",
    ///     _ => "stop and report",
    /// };
    /// assert_eq!(action(&busy), "wait or use another directory");
    /// assert_eq!(action(&bad), "move aside and rebuild");
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InUse { .. } => ErrorKind::InUse,
            Error::Corrupt { .. } | Error::MalformedKey { .. } | Error::Damaged { .. } => {
                ErrorKind::Corrupt
            }
            Error::NotACache { .. } => ErrorKind::NotACache,
            Error::WrongBackend { .. } | Error::FormatTooNew { .. } => ErrorKind::WrongFormat,
            Error::Io { .. } => ErrorKind::Io,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Backend { .. } | Error::Encode { .. } => ErrorKind::Other,
        }
    }

    /// True when stored data failed verification ([`ErrorKind::Corrupt`]: [`Error::Corrupt`],
    /// [`Error::MalformedKey`], [`Error::Damaged`]): the only errors after which a cache may be
    /// moved aside and rebuilt.
    ///
    /// Not for a cache in use ([`ErrorKind::InUse`]), a foreign directory
    /// ([`ErrorKind::NotACache`]), another backend's or a newer cache
    /// ([`ErrorKind::WrongFormat`]), I/O or engine failures: those leave the directory untouched.
    ///
    /// ```
    /// use cache_core::Error;
    /// let damaged = Error::damaged("fjall", "/c".as_ref(), Some("objects"), "bad block");
    /// assert!(damaged.is_corruption());
    /// assert!(!Error::in_use("fjall", "/c".as_ref(), "its lock is held").is_corruption());
    /// assert!(!Error::InvalidArgument("empty name".into()).is_corruption());
    /// ```
    pub fn is_corruption(&self) -> bool {
        self.kind() == ErrorKind::Corrupt
    }
}

/// Renders a binary key for error messages, in double quotes: visible ASCII characters other
/// than `"` and `\` stay readable, every other byte (space included) becomes `\xNN`; keys longer
/// than 64 bytes are shortened to their first 64 bytes and their total length.
pub(crate) fn render_key(key: &[u8]) -> String {
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
        assert_eq!(e.kind(), ErrorKind::Other);
        assert!(
            !e.is_corruption(),
            "an engine error is not by itself damage"
        );
    }

    fn one_of_each() -> Vec<Error> {
        let p = std::path::Path::new("/data/c");
        vec![
            Error::io(p, std::io::Error::other("disk gone")),
            Error::backend("redb", p, None, "boom"),
            Error::corrupt("objects", b"k", "checksum mismatch"),
            Error::MalformedKey {
                key: "\"k\"".into(),
                reason: "too short".into(),
            },
            Error::NotACache {
                path: p.into(),
                expected: "fjall",
                reason: "it is a file".into(),
            },
            Error::WrongBackend {
                path: p.into(),
                expected: "fjall",
                found: "redb".into(),
            },
            Error::FormatTooNew {
                path: p.into(),
                found: 9,
                supported: 1,
            },
            Error::InvalidArgument("empty name".into()),
            Error::Encode {
                keyspace: "objects".into(),
                reason: "bad".into(),
            },
            Error::in_use("fjall", p, "its lock file is held"),
            Error::damaged("redb", p, Some("objects"), "page checksum mismatch"),
            Error::Unsupported {
                backend: "redb",
                path: p.into(),
                what: "file locking".into(),
            },
        ]
    }

    #[test]
    fn kinds_decide_what_a_caller_may_do() {
        use ErrorKind as K;
        let kinds: Vec<ErrorKind> = one_of_each().iter().map(Error::kind).collect();
        assert_eq!(
            kinds,
            [
                K::Io,
                K::Other,
                K::Corrupt,
                K::Corrupt,
                K::NotACache,
                K::WrongFormat,
                K::WrongFormat,
                K::InvalidArgument,
                K::Other,
                K::InUse,
                K::Corrupt,
                K::Unsupported,
            ]
        );
        for e in one_of_each() {
            assert_eq!(e.is_corruption(), e.kind() == K::Corrupt, "{e}");
        }
    }

    #[test]
    fn in_use_and_wrong_backend_messages() {
        let e = Error::in_use("redb", "/data/c".as_ref(), "its lock file is held");
        assert_eq!(
            e.to_string(),
            "/data/c is in use by another process (redb: its lock file is held); \
             wait for it to finish or use another cache directory"
        );
        let e = Error::WrongBackend {
            path: "/data/c".into(),
            expected: "fjall",
            found: "redb".into(),
        };
        assert_eq!(
            e.to_string(),
            "/data/c holds a redb cache, but the fjall backend was asked to open it"
        );
    }

    #[test]
    fn messages_name_no_command_line_flags() {
        for e in one_of_each() {
            let msg = e.to_string();
            assert!(!msg.contains("--"), "core error names a CLI flag: {msg}");
        }
    }
}
