//! Records (structs) as bytes: serde with postcard.
//!
//! postcard has a documented, stable wire format (varint integers, no field names), is small
//! and fast, and is maintained. bincode was rejected: its latest release (3.0.0) is a tombstone
//! that does not compile and the project is unmaintained. JSON was rejected for size: a record
//! of the object ledger is about 10 bytes in postcard and 60+ in JSON. See `docs/FORMATS.md`.
//!
//! Schema evolution rule: postcard is positional, so a record type never changes in place; a new
//! layout gets a new key tag or a new cache format version.
//!
//! ```
//! #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
//! struct Seed { pool: u16, seed: u64 }
//! let bytes = cache_core::record::encode("seeds", &Seed { pool: 1, seed: 42 })?;
//! let back: Seed = cache_core::record::decode("seeds", b"k", &bytes)?;
//! assert_eq!(back, Seed { pool: 1, seed: 42 });
//! # Ok::<(), cache_core::Error>(())
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Serializes `record` for `keyspace` (named in the error if it fails).
///
/// # Errors
/// [`Error::Encode`] when the serializer rejects the record.
///
/// ```
/// let bytes = cache_core::record::encode("seeds", &(300u64, "x"))?;
/// assert_eq!(bytes, [0xac, 0x02, 1, b'x'], "varint 300, then a length-prefixed string");
/// # Ok::<(), cache_core::Error>(())
/// ```
pub fn encode<T: Serialize>(keyspace: &str, record: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(record).map_err(|e| Error::Encode {
        keyspace: keyspace.to_owned(),
        reason: e.to_string(),
    })
}

/// Deserializes a record read under `key`; trailing bytes are an error.
///
/// # Errors
/// [`Error::Corrupt`] naming `keyspace` and `key` when the bytes do not deserialize to `T`
/// or bytes follow the record.
///
/// ```
/// use cache_core::record::decode;
/// let pair: (u64, String) = decode("seeds", b"k", &[0xac, 0x02, 1, b'x'])?;
/// assert_eq!(pair, (300, "x".to_owned()));
/// let trailing = decode::<(u64, String)>("seeds", b"k", &[0xac, 0x02, 1, b'x', 0]);
/// assert!(trailing.unwrap_err().is_corruption());
/// # Ok::<(), cache_core::Error>(())
/// ```
pub fn decode<T: DeserializeOwned>(keyspace: &str, key: &[u8], bytes: &[u8]) -> Result<T> {
    let (value, rest) = postcard::take_from_bytes(bytes)
        .map_err(|e| Error::corrupt(keyspace, key, format!("record does not deserialize: {e}")))?;
    if !rest.is_empty() {
        return Err(Error::corrupt(
            keyspace,
            key,
            format!("{} bytes after the record", rest.len()),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct R {
        a: u64,
        b: String,
    }

    #[test]
    fn round_trip_and_errors() {
        let bytes = encode(
            "k",
            &R {
                a: 300,
                b: "x".into(),
            },
        )
        .expect("encodes");
        assert_eq!(bytes, [0xac, 0x02, 1, b'x']);
        let r: R = decode("k", b"key", &bytes).expect("decodes");
        assert_eq!(r.a, 300);
        assert!(decode::<R>("k", b"key", &bytes[..2]).is_err());
        let mut long = bytes.clone();
        long.push(0);
        let e = decode::<R>("k", b"key", &long).expect_err("trailing");
        assert!(e.to_string().contains("1 bytes after the record"), "{e}");
    }
}
