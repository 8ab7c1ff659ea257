//! The frame around every stored value: format version, codec, uncompressed length, payload and
//! a CRC-32C that covers the key as well as the frame.
//!
//! ```text
//! +---------+-------+----------------+-----------------+------------------+
//! | version | flags | raw_len        | payload         | crc32c (LE u32)  |
//! | 1 byte  | 1 byte| LEB128 varint  | raw_len bytes,  | over len(key) as |
//! |  = 1    |       | (<= 10 bytes)  | maybe compressed| u32 LE, key, and |
//! |         |       |                |                 | every byte before|
//! +---------+-------+----------------+-----------------+------------------+
//! flags: bits 0-1 codec (0 none, 1 lz4_flex block, 2 zstd), bits 2-3 kind (0 value,
//!        1 chunked-value header, 2 chunk); bits 4-7 must be zero.
//! ```
//!
//! CRC-32C detects every error burst of up to 32 bits, so any single damaged byte is caught
//! (not merely with high probability). Because the key is inside the checksum, a value that an
//! index hands back under the wrong key fails verification too. The checksum is verified before
//! anything is decompressed, so a damaged length can never drive a large allocation.
//!
//! ```
//! use cache_core::frame::{Compression, FrameKind, decode, encode};
//! let frame = encode(b"key", FrameKind::Value, b"value", Compression::Lz4);
//! assert_eq!(decode("objects", b"key", &frame)?, (FrameKind::Value, b"value".to_vec()));
//! assert!(decode("objects", b"other key", &frame).unwrap_err().is_corruption());
//! # Ok::<(), cache_core::Error>(())
//! ```

use crate::error::{Error, Result};

/// Version byte of the frame format written by this build.
pub(crate) const FRAME_VERSION: u8 = 1;

/// Largest uncompressed payload one frame may carry (larger values are chunked by
/// [`crate::framed::FramedKeyspace`]). Guards decoders against absurd lengths.
///
/// ```
/// use cache_core::frame::MAX_FRAME_PAYLOAD;
/// use cache_core::{FrameSettings, ErrorKind, FramedKeyspace};
/// # let db = cache_core::database::memory::MemoryDatabase::default();
/// assert_eq!(MAX_FRAME_PAYLOAD, 64 << 20);
/// let too_big = FrameSettings { chunk_size: MAX_FRAME_PAYLOAD + 1, ..FrameSettings::default() };
/// let err = FramedKeyspace::open(&db, "objects", too_big).err().expect("over the limit");
/// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
/// ```
pub const MAX_FRAME_PAYLOAD: usize = 64 * 1024 * 1024;

/// Payloads shorter than this are stored uncompressed whatever the codec: compressing them costs
/// more than it saves.
pub(crate) const MIN_COMPRESS_LEN: usize = 128;

/// Compression applied to a payload before framing.
///
/// ```
/// use cache_core::frame::{Compression, FrameKind, decode, encode};
/// let value = b"listing ".repeat(100);
/// let plain = encode(b"k", FrameKind::Value, &value, Compression::None);
/// let zstd = encode(b"k", FrameKind::Value, &value, Compression::Zstd(3));
/// assert!(zstd.len() < plain.len());
/// assert_eq!(decode("objects", b"k", &zstd)?.1, value);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Store as is.
    None,
    /// lz4_flex block format: fast, modest ratio. Good for records.
    Lz4,
    /// zstd at the given level (1-22): slower, much better ratio. Good for listings.
    Zstd(i32),
}

/// What a frame holds.
///
/// ```
/// use cache_core::frame::{Compression, FrameKind, decode, encode};
/// let frame = encode(b"k", FrameKind::Chunk, b"part", Compression::None);
/// assert_eq!(decode("objects", b"k", &frame)?, (FrameKind::Chunk, b"part".to_vec()));
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A whole value.
    Value,
    /// The header of a value split into chunks (see [`crate::framed`]).
    ChunkedHeader,
    /// One chunk of a split value.
    Chunk,
}

impl FrameKind {
    fn bits(self) -> u8 {
        match self {
            FrameKind::Value => 0,
            FrameKind::ChunkedHeader => 1,
            FrameKind::Chunk => 2,
        }
    }
}

const CODEC_NONE: u8 = 0;
const CODEC_LZ4: u8 = 1;
const CODEC_ZSTD: u8 = 2;

fn checksum(key: &[u8], body: &[u8]) -> u32 {
    // Key length first, so (key, body) boundaries cannot be shifted without changing the sum.
    let len = u32::try_from(key.len()).unwrap_or(u32::MAX).to_le_bytes();
    let crc = crc32c::crc32c(&len);
    let crc = crc32c::crc32c_append(crc, key);
    crc32c::crc32c_append(crc, body)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Frames `payload` for storage under `key`.
///
/// # Panics
/// If `payload` is longer than [`MAX_FRAME_PAYLOAD`] (callers chunk first).
///
/// ```
/// use cache_core::frame::{Compression, FrameKind, encode};
/// let frame = encode(b"k", FrameKind::Value, b"abc", Compression::Lz4);
/// // version, flags, length 3, the payload (too short to compress), CRC-32C:
/// assert_eq!(frame.len(), 1 + 1 + 1 + 3 + 4);
/// assert_eq!(&frame[..6], b"\x01\x00\x03abc");
/// let long = vec![7u8; 4096];
/// assert!(encode(b"k", FrameKind::Value, &long, Compression::Lz4).len() < 100);
/// ```
pub fn encode(key: &[u8], kind: FrameKind, payload: &[u8], compression: Compression) -> Vec<u8> {
    assert!(
        payload.len() <= MAX_FRAME_PAYLOAD,
        "payload of {} bytes must be chunked before framing",
        payload.len()
    );
    let compressed = if payload.len() < MIN_COMPRESS_LEN {
        None
    } else {
        match compression {
            Compression::None => None,
            Compression::Lz4 => Some((CODEC_LZ4, lz4_flex::block::compress(payload))),
            Compression::Zstd(level) => zstd::bulk::compress(payload, level)
                .ok()
                .map(|c| (CODEC_ZSTD, c)),
        }
    };
    let (codec, body) = match compressed {
        Some((codec, c)) if c.len() < payload.len() => (codec, std::borrow::Cow::Owned(c)),
        _ => (CODEC_NONE, std::borrow::Cow::Borrowed(payload)),
    };
    let mut out = Vec::with_capacity(body.len() + 16);
    out.push(FRAME_VERSION);
    out.push(codec | (kind.bits() << 2));
    put_varint(&mut out, payload.len() as u64);
    out.extend_from_slice(&body);
    let crc = checksum(key, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Verifies and opens a frame read under `key` from `keyspace`.
///
/// # Errors
/// [`Error::Corrupt`] when the frame is truncated, has a bad checksum (including a frame that
/// belongs to another key), an unknown version, codec or kind, or does not decompress to its
/// declared length.
///
/// ```
/// use cache_core::frame::{Compression, FrameKind, decode, encode};
/// use cache_core::ErrorKind;
/// let frame = encode(b"k1", FrameKind::Value, b"v", Compression::None);
/// assert_eq!(decode("objects", b"k1", &frame)?, (FrameKind::Value, b"v".to_vec()));
///
/// let err = decode("objects", b"k2", &frame).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Corrupt, "a frame read under another key");
/// assert!(err.to_string().contains("checksum mismatch"), "{err}");
/// let mut damaged = frame.clone();
/// damaged[2] ^= 1;
/// assert!(decode("objects", b"k1", &damaged).is_err());
/// # Ok::<(), cache_core::Error>(())
/// ```
pub fn decode(keyspace: &str, key: &[u8], frame: &[u8]) -> Result<(FrameKind, Vec<u8>)> {
    let corrupt = |reason: String| Error::corrupt(keyspace, key, reason);
    if frame.len() < 7 {
        return Err(corrupt(format!(
            "value of {} bytes is too short to be a frame",
            frame.len()
        )));
    }
    let (body, crc_bytes) = frame.split_at(frame.len() - 4);
    let stored = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
    if body[0] != FRAME_VERSION {
        return Err(corrupt(format!(
            "unknown frame version {} (this build writes {FRAME_VERSION}); foreign or newer data",
            body[0]
        )));
    }
    if checksum(key, body) != stored {
        return Err(corrupt(
            "checksum mismatch: the value is damaged or belongs to another key".into(),
        ));
    }
    let flags = body[1];
    if flags & 0xf0 != 0 {
        return Err(corrupt(format!("unknown frame flags {flags:#04x}")));
    }
    let kind = match (flags >> 2) & 0b11 {
        0 => FrameKind::Value,
        1 => FrameKind::ChunkedHeader,
        2 => FrameKind::Chunk,
        k => return Err(corrupt(format!("unknown frame kind {k}"))),
    };
    let (raw_len, used) =
        get_varint(&body[2..]).ok_or_else(|| corrupt("bad length field".into()))?;
    let raw_len = usize::try_from(raw_len)
        .ok()
        .filter(|&l| l <= MAX_FRAME_PAYLOAD)
        .ok_or_else(|| corrupt(format!("declared length {raw_len} exceeds the frame limit")))?;
    let payload = &body[2 + used..];
    let data = match flags & 0b11 {
        CODEC_NONE => payload.to_vec(),
        CODEC_LZ4 => lz4_flex::block::decompress(payload, raw_len)
            .map_err(|e| corrupt(format!("lz4 payload does not decompress: {e}")))?,
        CODEC_ZSTD => zstd::bulk::decompress(payload, raw_len)
            .map_err(|e| corrupt(format!("zstd payload does not decompress: {e}")))?,
        c => return Err(corrupt(format!("unknown codec {c}"))),
    };
    if data.len() != raw_len {
        return Err(corrupt(format!(
            "payload is {} bytes, the frame declares {raw_len}",
            data.len()
        )));
    }
    Ok((kind, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn codec() -> impl Strategy<Value = Compression> {
        prop_oneof![
            Just(Compression::None),
            Just(Compression::Lz4),
            (1i32..6).prop_map(Compression::Zstd)
        ]
    }

    fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600),
            // Compressible payloads, so the lz4 and zstd paths are really taken.
            (any::<u8>(), 0usize..2000).prop_map(|(b, n)| vec![b; n]),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(key in proptest::collection::vec(any::<u8>(), 0..40), p in payload(), c in codec()) {
            let f = encode(&key, FrameKind::Value, &p, c);
            let (kind, out) = decode("t", &key, &f).expect("decodes");
            prop_assert_eq!(kind, FrameKind::Value);
            prop_assert_eq!(out, p);
        }

        #[test]
        fn any_single_flipped_byte_is_caught(
            key in proptest::collection::vec(any::<u8>(), 1..40),
            p in payload(),
            c in codec(),
            pos in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let mut f = encode(&key, FrameKind::Value, &p, c);
            let i = pos.index(f.len());
            f[i] ^= flip;
            let err = decode("t", &key, &f).expect_err("flipped byte must be detected");
            prop_assert!(err.is_corruption());
        }

        #[test]
        fn value_under_another_key_is_caught(
            key in proptest::collection::vec(any::<u8>(), 0..40),
            other in proptest::collection::vec(any::<u8>(), 0..40),
            p in payload(),
        ) {
            prop_assume!(key != other);
            let f = encode(&key, FrameKind::Value, &p, Compression::Lz4);
            prop_assert!(decode("t", &other, &f).is_err());
        }

        #[test]
        fn truncation_is_caught(p in payload(), cut in 1usize..20) {
            let f = encode(b"k", FrameKind::Value, &p, Compression::Zstd(3));
            let short = &f[..f.len().saturating_sub(cut)];
            prop_assert!(decode("t", b"k", short).is_err());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = decode("t", b"k", &bytes);
        }
    }

    #[test]
    fn compressible_values_shrink() {
        let p = vec![7u8; 10_000];
        assert!(encode(b"k", FrameKind::Value, &p, Compression::Lz4).len() < 200);
        assert!(encode(b"k", FrameKind::Value, &p, Compression::Zstd(3)).len() < 100);
        // Incompressible or tiny payloads are stored raw with 7 bytes of overhead.
        assert_eq!(
            encode(b"k", FrameKind::Value, b"abc", Compression::Zstd(3)).len(),
            3 + 7
        );
    }

    #[test]
    fn foreign_version_is_named() {
        let mut f = encode(b"k", FrameKind::Value, b"v", Compression::None);
        f[0] = 9;
        let e = decode("objects", b"k", &f).expect_err("foreign");
        assert!(e.to_string().contains("unknown frame version 9"), "{e}");
        assert!(e.to_string().contains("objects"), "{e}");
    }
}
