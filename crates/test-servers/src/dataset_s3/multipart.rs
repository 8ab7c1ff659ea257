//! Multipart uploads in progress: parts kept in memory until completed or aborted.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};
use s3s::dto::CompletedPart;
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use super::content::{hex, md5};
use super::state::Written;

/// One part received.
struct Part {
    data: Bytes,
    md5: [u8; 16],
}

/// One upload in progress.
struct Upload {
    bucket: String,
    key: String,
    parts: BTreeMap<i32, Part>,
}

impl Upload {
    fn is_of(&self, (bucket, key): (&str, &str)) -> bool {
        self.bucket == bucket && self.key == key
    }
}

/// Every upload in progress, by id.
#[derive(Default)]
pub(crate) struct Uploads {
    next_id: Mutex<u64>,
    open: Mutex<HashMap<String, Upload>>,
}

fn no_such_upload(id: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchUpload, format!("no upload {id}"))
}

impl Uploads {
    fn open(&self) -> MutexGuard<'_, HashMap<String, Upload>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts an upload of `bucket`/`key`; returns its id.
    pub(crate) fn create(&self, bucket: &str, key: &str) -> String {
        let id = {
            let mut next = self.next_id.lock().unwrap_or_else(PoisonError::into_inner);
            *next += 1;
            format!("upload-{:016x}", *next)
        };
        let upload = Upload {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            parts: BTreeMap::new(),
        };
        self.open().insert(id.clone(), upload);
        id
    }

    /// Keeps part `number` of upload `id`; returns its ETag.
    pub(crate) fn add_part(
        &self,
        id: &str,
        object: (&str, &str),
        number: i32,
        data: Bytes,
    ) -> S3Result<String> {
        if !(1..=10_000).contains(&number) {
            return Err(s3_error!(InvalidArgument, "part numbers are 1 to 10000"));
        }
        let mut open = self.open();
        let upload = open
            .get_mut(id)
            .filter(|u| u.is_of(object))
            .ok_or_else(|| no_such_upload(id))?;
        let md5 = md5(&data);
        upload.parts.insert(number, Part { data, md5 });
        Ok(hex(&md5))
    }

    /// Ends upload `id` of `object` (bucket, key) with the `listed` parts, in order; returns
    /// the object's body. The upload is gone afterwards, even when this fails.
    pub(crate) fn complete(
        &self,
        id: &str,
        object: (&str, &str),
        listed: &[CompletedPart],
    ) -> S3Result<Written> {
        let upload = {
            let mut open = self.open();
            match open.get(id) {
                Some(u) if u.is_of(object) => open.remove(id),
                _ => None,
            }
        }
        .ok_or_else(|| no_such_upload(id))?;
        assemble(&upload, listed)
    }

    /// Drops upload `id` and its parts.
    pub(crate) fn abort(&self, id: &str) -> S3Result<()> {
        self.open()
            .remove(id)
            .map(drop)
            .ok_or_else(|| no_such_upload(id))
    }
}

/// The object of `upload` made of the `listed` parts, with the multipart ETag
/// (MD5 of the parts' MD5s, dash, number of parts).
fn assemble(upload: &Upload, listed: &[CompletedPart]) -> S3Result<Written> {
    if listed.is_empty() {
        return Err(s3_error!(InvalidPart, "no parts listed"));
    }
    let mut data = BytesMut::new();
    let mut digests = Vec::with_capacity(listed.len() * 16);
    let mut previous = 0;
    for p in listed {
        let number = p.part_number.unwrap_or(0);
        if number <= previous {
            return Err(s3_error!(InvalidPartOrder));
        }
        previous = number;
        let part = upload
            .parts
            .get(&number)
            .ok_or_else(|| s3_error!(InvalidPart))?;
        if p.e_tag
            .as_ref()
            .is_some_and(|e| e.value() != hex(&part.md5))
        {
            return Err(s3_error!(InvalidPart, "part {number} has another ETag"));
        }
        data.extend_from_slice(&part.data);
        digests.extend_from_slice(&part.md5);
    }
    let etag = format!("{}-{}", hex(&md5(&digests)), listed.len());
    Ok(Written::Bytes {
        data: data.freeze(),
        etag,
    })
}
