//! Composite keys whose byte order equals the order of the tuples they encode.
//!
//! A key is a sequence of components written by [`KeyBuilder`] and read back, in the same
//! order, by [`KeyReader`]. Encodings:
//!
//! | component | bytes | order |
//! |-----------|-------|-------|
//! | tag `u8` | 1 | numeric |
//! | [`DatasetId`] | 8, fixed | bytewise |
//! | `u16`/`u32`/`u64` | 2/4/8, big-endian | numeric, for every value |
//! | `str` | bytes with `00` escaped as `00 ff`, then `00 01` | lexicographic, like `str::cmp` |
//! | `len_prefixed` | `u32` big-endian length, then bytes | by length, then bytewise |
//!
//! Fixed-width big-endian integers keep `9_999_999_999 < 10_000_000_000` in byte order, which a
//! `{:08}` decimal rendering does not past 1e8. `str` components are terminated rather than
//! length-prefixed so that string order is plain lexicographic; `len_prefixed` exists for byte
//! strings where only equality and prefix grouping matter and the decoder wants the length first.
//!
//! ```
//! use cache_core::key::{DatasetId, KeyBuilder, KeyReader};
//! let id = DatasetId::from_u64(0x09af_2e4c_1b7d_0000);
//! let key = KeyBuilder::new(3).dataset(id).u16(1).u64(123_456_789_012).finish();
//! let mut r = KeyReader::new(&key);
//! assert_eq!(r.tag()?, 3);
//! assert_eq!(r.dataset()?, id);
//! assert_eq!(r.u16()?, 1);
//! assert_eq!(r.u64()?, 123_456_789_012);
//! r.finish()?;
//! # Ok::<(), cache_core::Error>(())
//! ```

use std::fmt;

use crate::error::{Error, Result, render_key};

/// Identifies one dataset (one config hash) inside a cache: the first 8 bytes of its hash.
///
/// ```
/// use cache_core::key::DatasetId;
/// let id = DatasetId::from_u64(0x09af_2e4c_1b7d_0000);
/// assert_eq!(id.0, [0x09, 0xaf, 0x2e, 0x4c, 0x1b, 0x7d, 0, 0]);
/// assert_eq!(id.to_string(), "09af2e4c1b7d0000");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DatasetId(pub [u8; 8]);

impl DatasetId {
    /// Builds an id from a `u64` (big-endian bytes, so ids order like the numbers).
    ///
    /// ```
    /// use cache_core::key::DatasetId;
    /// assert_eq!(DatasetId::from_u64(1).0, [0, 0, 0, 0, 0, 0, 0, 1]);
    /// assert!(DatasetId::from_u64(255) < DatasetId::from_u64(256));
    /// ```
    pub const fn from_u64(v: u64) -> Self {
        DatasetId(v.to_be_bytes())
    }

    /// The id as a `u64`.
    ///
    /// ```
    /// use cache_core::key::DatasetId;
    /// assert_eq!(DatasetId::from_u64(42).as_u64(), 42);
    /// assert_eq!(DatasetId([0, 0, 0, 0, 0, 0, 1, 0]).as_u64(), 256);
    /// ```
    pub const fn as_u64(self) -> u64 {
        u64::from_be_bytes(self.0)
    }
}

impl fmt::Display for DatasetId {
    /// Sixteen lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.as_u64())
    }
}

/// Writes the components of one key, in order.
///
/// ```
/// use cache_core::key::KeyBuilder;
/// let key = KeyBuilder::new(7).u32(1).str("a").finish();
/// assert_eq!(key, [7, 0, 0, 0, 1, b'a', 0, 1]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct KeyBuilder {
    buf: Vec<u8>,
}

impl KeyBuilder {
    /// Starts a key with its tag byte (which names the record type).
    ///
    /// ```
    /// use cache_core::key::KeyBuilder;
    /// assert_eq!(KeyBuilder::new(3).finish(), [3]);
    /// ```
    pub fn new(tag: u8) -> Self {
        let mut buf = Vec::with_capacity(24);
        buf.push(tag);
        KeyBuilder { buf }
    }

    /// Starts a key with no tag (for keyspaces that hold one record type).
    ///
    /// ```
    /// use cache_core::key::KeyBuilder;
    /// assert_eq!(KeyBuilder::untagged().u8(9).finish(), [9]);
    /// assert!(KeyBuilder::untagged().finish().is_empty());
    /// ```
    pub fn untagged() -> Self {
        KeyBuilder::default()
    }

    /// Appends a dataset id (8 bytes).
    ///
    /// ```
    /// use cache_core::key::{DatasetId, KeyBuilder};
    /// let key = KeyBuilder::untagged().dataset(DatasetId::from_u64(5)).finish();
    /// assert_eq!(key, [0, 0, 0, 0, 0, 0, 0, 5]);
    /// ```
    pub fn dataset(mut self, id: DatasetId) -> Self {
        self.buf.extend_from_slice(&id.0);
        self
    }

    /// Appends a `u8`.
    ///
    /// ```
    /// use cache_core::key::KeyBuilder;
    /// assert_eq!(KeyBuilder::new(1).u8(0xab).finish(), [1, 0xab]);
    /// ```
    pub fn u8(mut self, v: u8) -> Self {
        self.buf.push(v);
        self
    }

    /// Appends a big-endian `u16`.
    ///
    /// ```
    /// use cache_core::key::KeyBuilder;
    /// assert_eq!(KeyBuilder::untagged().u16(0x0102).finish(), [1, 2]);
    /// ```
    pub fn u16(mut self, v: u16) -> Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a big-endian `u32`.
    ///
    /// ```
    /// use cache_core::key::KeyBuilder;
    /// assert_eq!(KeyBuilder::untagged().u32(0x0102_0304).finish(), [1, 2, 3, 4]);
    /// ```
    pub fn u32(mut self, v: u32) -> Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a big-endian `u64`.
    ///
    /// ```
    /// use cache_core::key::KeyBuilder;
    /// let key = |v| KeyBuilder::untagged().u64(v).finish();
    /// assert!(key(9_999_999_999) < key(10_000_000_000), "byte order is numeric order");
    /// assert_eq!(KeyBuilder::untagged().u64(1).finish(), [0, 0, 0, 0, 0, 0, 0, 1]);
    /// ```
    pub fn u64(mut self, v: u64) -> Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a string that orders lexicographically (escaped `00`, terminated by `00 01`).
    ///
    /// ```
    /// use cache_core::key::KeyBuilder;
    /// assert_eq!(KeyBuilder::untagged().str("a\0b").finish(), b"a\0\xffb\0\x01");
    /// let key = |s| KeyBuilder::untagged().str(s).u8(0).finish();
    /// assert!(key("a") < key("a\0") && key("a\0") < key("ab"), "orders like str::cmp");
    /// ```
    pub fn str(mut self, s: &str) -> Self {
        for &b in s.as_bytes() {
            self.buf.push(b);
            if b == 0 {
                self.buf.push(0xff);
            }
        }
        self.buf.extend_from_slice(&[0x00, 0x01]);
        self
    }

    /// Appends a byte string preceded by its `u32` big-endian length.
    ///
    /// # Panics
    /// If `bytes` is 4 GiB or longer (no key comes near that).
    ///
    /// ```
    /// use cache_core::key::KeyBuilder;
    /// assert_eq!(KeyBuilder::untagged().len_prefixed(b"xy").finish(), [0, 0, 0, 2, b'x', b'y']);
    /// ```
    pub fn len_prefixed(mut self, bytes: &[u8]) -> Self {
        let len = u32::try_from(bytes.len()).expect("key component shorter than 4 GiB");
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Appends raw bytes with no framing (only as the last component, e.g. a scan prefix).
    ///
    /// ```
    /// use cache_core::key::KeyBuilder;
    /// assert_eq!(KeyBuilder::new(2).raw(b"pre").finish(), b"\x02pre");
    /// ```
    pub fn raw(mut self, bytes: &[u8]) -> Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// The bytes written so far (usable as a scan prefix).
    ///
    /// ```
    /// use cache_core::key::KeyBuilder;
    /// let prefix = KeyBuilder::new(1).u16(7);
    /// let key = prefix.clone().u64(42).finish();
    /// assert!(key.starts_with(prefix.as_bytes()));
    /// assert_eq!(prefix.as_bytes(), [1, 0, 7]);
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Finishes the key.
    ///
    /// ```
    /// use cache_core::key::KeyBuilder;
    /// let key: Vec<u8> = KeyBuilder::new(4).u8(5).finish();
    /// assert_eq!(key, [4, 5]);
    /// ```
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads the components of a key in the order they were written. Every method fails with
/// [`Error::MalformedKey`] instead of panicking when the key is too short or malformed.
///
/// ```
/// use cache_core::key::{KeyBuilder, KeyReader};
/// use cache_core::ErrorKind;
/// let key = KeyBuilder::new(1).u32(7).finish();
/// let mut r = KeyReader::new(&key);
/// assert_eq!((r.tag()?, r.u32()?), (1, 7));
/// assert_eq!(r.u8().unwrap_err().kind(), ErrorKind::Corrupt, "read past the end");
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeyReader<'a> {
    key: &'a [u8],
    pos: usize,
}

impl<'a> KeyReader<'a> {
    /// Starts reading `key` from its first byte.
    ///
    /// ```
    /// use cache_core::key::KeyReader;
    /// let mut r = KeyReader::new(&[5, 6]);
    /// assert_eq!(r.u8()?, 5);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn new(key: &'a [u8]) -> Self {
        KeyReader { key, pos: 0 }
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::MalformedKey {
            key: render_key(self.key),
            reason: format!("{} (at byte {})", reason.into(), self.pos),
        }
    }

    fn take<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let end = self.pos + N;
        let bytes = self
            .key
            .get(self.pos..end)
            .ok_or_else(|| self.error(format!("too short for {what}")))?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        self.pos = end;
        Ok(out)
    }

    /// Reads the tag byte.
    ///
    /// ```
    /// use cache_core::key::{KeyBuilder, KeyReader};
    /// let key = KeyBuilder::new(9).u64(1).finish();
    /// assert_eq!(KeyReader::new(&key).tag()?, 9);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn tag(&mut self) -> Result<u8> {
        self.u8()
    }

    /// Reads the tag byte and fails unless it equals `expected`.
    ///
    /// ```
    /// use cache_core::key::{KeyBuilder, KeyReader};
    /// let key = KeyBuilder::new(2).u8(1).finish();
    /// KeyReader::new(&key).expect_tag(2)?;
    /// let err = KeyReader::new(&key).expect_tag(3).unwrap_err();
    /// assert!(err.to_string().contains("tag 0x02, expected 0x03"), "{err}");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn expect_tag(&mut self, expected: u8) -> Result<()> {
        let found = self.u8()?;
        if found != expected {
            return Err(self.error(format!("tag {found:#04x}, expected {expected:#04x}")));
        }
        Ok(())
    }

    /// Reads a dataset id.
    ///
    /// ```
    /// use cache_core::key::{DatasetId, KeyBuilder, KeyReader};
    /// let key = KeyBuilder::untagged().dataset(DatasetId::from_u64(77)).finish();
    /// assert_eq!(KeyReader::new(&key).dataset()?, DatasetId::from_u64(77));
    /// assert!(KeyReader::new(&key[..7]).dataset().is_err(), "too short");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn dataset(&mut self) -> Result<DatasetId> {
        Ok(DatasetId(self.take::<8>("dataset id")?))
    }

    /// Reads a `u8`.
    ///
    /// ```
    /// use cache_core::key::KeyReader;
    /// let mut r = KeyReader::new(&[1, 2]);
    /// assert_eq!((r.u8()?, r.u8()?), (1, 2));
    /// assert!(r.u8().is_err());
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take::<1>("u8")?[0])
    }

    /// Reads a big-endian `u16`.
    ///
    /// ```
    /// use cache_core::key::KeyReader;
    /// assert_eq!(KeyReader::new(&[1, 2]).u16()?, 0x0102);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.take("u16")?))
    }

    /// Reads a big-endian `u32`.
    ///
    /// ```
    /// use cache_core::key::KeyReader;
    /// assert_eq!(KeyReader::new(&[0, 0, 1, 0]).u32()?, 256);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.take("u32")?))
    }

    /// Reads a big-endian `u64`.
    ///
    /// ```
    /// use cache_core::key::{KeyBuilder, KeyReader};
    /// let key = KeyBuilder::untagged().u64(u64::MAX - 1).finish();
    /// assert_eq!(KeyReader::new(&key).u64()?, u64::MAX - 1);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.take("u64")?))
    }

    /// Reads a string written by [`KeyBuilder::str`].
    ///
    /// ```
    /// use cache_core::key::{KeyBuilder, KeyReader};
    /// let key = KeyBuilder::untagged().str("a\0b").u8(1).finish();
    /// let mut r = KeyReader::new(&key);
    /// assert_eq!(r.str()?, "a\0b");
    /// assert_eq!(r.u8()?, 1);
    /// assert!(KeyReader::new(b"abc").str().is_err(), "unterminated");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn str(&mut self) -> Result<String> {
        let mut out = Vec::new();
        loop {
            let b = *self
                .key
                .get(self.pos)
                .ok_or_else(|| self.error("unterminated string"))?;
            self.pos += 1;
            if b != 0 {
                out.push(b);
                continue;
            }
            match self.key.get(self.pos) {
                Some(0xff) => out.push(0),
                Some(0x01) => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.error("bad escape in string")),
            }
            self.pos += 1;
        }
        String::from_utf8(out).map_err(|_| self.error("string is not UTF-8"))
    }

    /// Reads a byte string written by [`KeyBuilder::len_prefixed`].
    ///
    /// ```
    /// use cache_core::key::{KeyBuilder, KeyReader};
    /// let key = KeyBuilder::untagged().len_prefixed(b"xyz").finish();
    /// assert_eq!(KeyReader::new(&key).len_prefixed()?, b"xyz");
    /// assert!(KeyReader::new(&key[..5]).len_prefixed().is_err(), "length runs past the end");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn len_prefixed(&mut self) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.key.len())
            .ok_or_else(|| self.error(format!("length {len} runs past the end")))?;
        let out = &self.key[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// The bytes not read yet.
    ///
    /// ```
    /// use cache_core::key::KeyReader;
    /// let mut r = KeyReader::new(b"\x01tail");
    /// r.tag()?;
    /// assert_eq!(r.rest(), b"tail");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn rest(&self) -> &'a [u8] {
        &self.key[self.pos..]
    }

    /// Fails unless every byte was read.
    ///
    /// ```
    /// use cache_core::key::KeyReader;
    /// let mut r = KeyReader::new(&[1, 2]);
    /// r.u8()?;
    /// assert!(r.clone().finish().is_err(), "one byte left");
    /// r.u8()?;
    /// r.finish()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn finish(self) -> Result<()> {
        if self.pos != self.key.len() {
            return Err(self.error(format!("{} trailing bytes", self.key.len() - self.pos)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Tuple = (u8, u64, u16, u32, u64, String, Vec<u8>);

    fn encode(t: &Tuple) -> Vec<u8> {
        KeyBuilder::new(t.0)
            .dataset(DatasetId::from_u64(t.1))
            .u16(t.2)
            .u32(t.3)
            .u64(t.4)
            .str(&t.5)
            .len_prefixed(&t.6)
            .finish()
    }

    fn decode(k: &[u8]) -> Result<Tuple> {
        let mut r = KeyReader::new(k);
        let t = (
            r.tag()?,
            r.dataset()?.as_u64(),
            r.u16()?,
            r.u32()?,
            r.u64()?,
            r.str()?,
            r.len_prefixed()?.to_vec(),
        );
        r.finish()?;
        Ok(t)
    }

    /// Small alphabets so that generated tuples often share prefixes and collide on fields.
    fn tuple() -> impl Strategy<Value = Tuple> {
        (
            0u8..3,
            prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
            0u16..3,
            prop_oneof![
                Just(0u32),
                Just(99_999_999),
                Just(100_000_000),
                any::<u32>()
            ],
            prop_oneof![
                Just(0u64),
                Just(99_999_999),
                Just(100_000_000),
                Just(u64::MAX),
                any::<u64>()
            ],
            "[\\x00\\x01a\\xffb]{0,4}",
            proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(255)], 0..4),
        )
    }

    /// The order the encoding promises: lexicographic for `str`, (length, bytes) for
    /// `len_prefixed`, numeric for the rest.
    fn tuple_cmp(a: &Tuple, b: &Tuple) -> std::cmp::Ordering {
        (a.0, a.1, a.2, a.3, a.4, &a.5)
            .cmp(&(b.0, b.1, b.2, b.3, b.4, &b.5))
            .then_with(|| (a.6.len(), &a.6).cmp(&(b.6.len(), &b.6)))
    }

    proptest! {
        #[test]
        fn round_trip(t in tuple()) {
            prop_assert_eq!(decode(&encode(&t)).expect("decodes"), t);
        }

        #[test]
        fn byte_order_is_tuple_order(a in tuple(), b in tuple()) {
            prop_assert_eq!(encode(&a).cmp(&encode(&b)), tuple_cmp(&a, &b));
        }

        #[test]
        fn u64_order_for_every_value(a: u64, b: u64) {
            let ka = KeyBuilder::untagged().u64(a).finish();
            let kb = KeyBuilder::untagged().u64(b).finish();
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            // Either decodes to a tuple that re-encodes to the same bytes, or is an error.
            if let Ok(t) = decode(&bytes) {
                prop_assert_eq!(encode(&t), bytes);
            }
        }

        #[test]
        fn truncated_keys_are_errors(t in tuple(), cut in 1usize..8) {
            let k = encode(&t);
            let short = &k[..k.len().saturating_sub(cut)];
            prop_assert!(decode(short).is_err());
        }
    }

    #[test]
    fn past_1e8_orders_numerically() {
        let a = KeyBuilder::new(1).u64(99_999_999).finish();
        let b = KeyBuilder::new(1).u64(100_000_000).finish();
        let c = KeyBuilder::new(1).u64(1_000_000_000_000).finish();
        assert!(a < b && b < c);
    }

    #[test]
    fn malformed_keys_name_the_problem() {
        let err = decode(b"\x01\x02").expect_err("too short");
        assert!(
            err.to_string().contains("too short for dataset id"),
            "{err}"
        );
        let mut r = KeyReader::new(b"ab\x00\x07");
        assert!(
            r.str()
                .expect_err("bad escape")
                .to_string()
                .contains("bad escape")
        );
        let mut r = KeyReader::new(b"\x05");
        assert!(r.expect_tag(4).is_err());
        let r = KeyReader::new(b"x");
        assert!(
            r.finish()
                .expect_err("trailing")
                .to_string()
                .contains("1 trailing bytes")
        );
    }
}
