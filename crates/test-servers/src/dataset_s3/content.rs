//! Object bytes: the synthesized pattern of synthetic objects, streamed in chunks, and the
//! reading of request bodies.

use std::convert::Infallible;
use std::ops::Range;
use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use s3s::crypto::{Checksum, Md5};
use s3s::dto::StreamingBlob;
use s3s::{S3Error, S3ErrorCode, S3Result};

/// The pattern repeats every `PERIOD` bytes (a prime, so objects of round sizes differ).
const PERIOD: u64 = 251;
/// Bytes per streamed chunk.
const CHUNK: u64 = 64 * 1024;

/// `PERIOD + CHUNK` bytes of the pattern from phase 0: any chunk is a slice of it.
fn table() -> &'static Bytes {
    static TABLE: OnceLock<Bytes> = OnceLock::new();
    TABLE.get_or_init(|| (0..PERIOD + CHUNK).map(|i| (i % PERIOD) as u8).collect())
}

/// Phase of the pattern of object `index` at `offset`.
fn phase(index: u64, offset: u64) -> u64 {
    (offset % PERIOD + (index % PERIOD) * 7) % PERIOD
}

/// One chunk (at most 64 KiB) of object `index` from `offset`: a slice of a shared table.
fn chunk(index: u64, offset: u64, len: u64) -> Bytes {
    let start = phase(index, offset) as usize;
    table().slice(start..start + len.min(CHUNK) as usize)
}

/// The bytes of synthetic object `index` in `range`: what the server returns for it.
pub fn synthetic_content(index: u64, range: Range<u64>) -> Vec<u8> {
    range.map(|o| phase(index, o) as u8).collect()
}

/// A response body of object `index` over `range`, produced chunk by chunk.
pub(crate) fn synthetic_body(index: u64, range: Range<u64>) -> StreamingBlob {
    let chunks = range.clone().step_by(CHUNK as usize).map(move |at| {
        let len = (range.end - at).min(CHUNK);
        Ok::<_, Infallible>(chunk(index, at, len))
    });
    StreamingBlob::wrap(futures::stream::iter(chunks))
}

/// A response body of stored bytes.
pub(crate) fn bytes_body(data: Bytes) -> StreamingBlob {
    StreamingBlob::wrap(futures::stream::once(
        async move { Ok::<_, Infallible>(data) },
    ))
}

/// The ETag of synthetic object `index` of `size` bytes: deterministic, MD5-shaped.
pub(crate) fn synthetic_etag(index: u64, size: u64) -> String {
    format!("{index:016x}{size:016x}")
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// MD5 of `data`.
pub(crate) fn md5(data: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(data);
    h.finalize()
}

fn body_error(e: &dyn std::error::Error) -> S3Error {
    S3Error::with_message(S3ErrorCode::IncompleteBody, e.to_string())
}

/// Reads a whole request body into memory.
pub(crate) async fn read_body(body: Option<StreamingBlob>) -> S3Result<Bytes> {
    let mut body = body.ok_or_else(|| S3Error::new(S3ErrorCode::IncompleteBody))?;
    let mut data = BytesMut::new();
    while let Some(chunk) = body.next().await {
        data.extend_from_slice(&chunk.map_err(|e| body_error(&*e))?);
    }
    Ok(data.freeze())
}

/// Reads a request body to its end, keeping nothing; returns its length.
pub(crate) async fn drain_body(body: Option<StreamingBlob>) -> S3Result<u64> {
    let mut body = body.ok_or_else(|| S3Error::new(S3ErrorCode::IncompleteBody))?;
    let mut len = 0;
    while let Some(chunk) = body.next().await {
        len += chunk.map_err(|e| body_error(&*e))?.len() as u64;
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_follow_the_pattern() {
        for (index, offset, len) in [(0, 0, 10), (3, 250, 600), (1_000_003, 77_777, CHUNK)] {
            let got = chunk(index, offset, len);
            assert_eq!(
                &got[..],
                &synthetic_content(index, offset..offset + len)[..]
            );
        }
        assert_ne!(synthetic_content(1, 0..16), synthetic_content(2, 0..16));
    }
}
