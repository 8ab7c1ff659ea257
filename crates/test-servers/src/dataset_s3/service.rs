//! The S3 operations (`s3s::S3`) over the server's buckets.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::content::{bytes_body, drain_body, read_body, synthetic_body};
use super::list::{self, Entry, Listed, Query};
use super::multipart::Uploads;
use super::state::{Buckets, Conditions, Found, Source, Written};
use super::stats::{Counters, Op};

/// What the service and its owner share.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) buckets: Buckets,
    pub(crate) counters: Counters,
    pub(crate) uploads: Uploads,
    pub(crate) latency: Duration,
}

/// The `s3s::S3` implementation.
pub(crate) struct DatasetService(pub(crate) Arc<Shared>);

type Reply<T> = S3Result<S3Response<T>>;

fn reply<T>(output: T) -> Reply<T> {
    Ok(S3Response::new(output))
}

impl DatasetService {
    /// Counts `op` and waits the configured latency.
    async fn begin(&self, op: Op) {
        self.0.counters.count(op);
        if !self.0.latency.is_zero() {
            tokio::time::sleep(self.0.latency).await;
        }
    }

    /// The object `key` of `bucket`, or `NoSuchBucket` / `NoSuchKey`.
    fn find(&self, bucket: &str, key: &str) -> S3Result<Found> {
        self.0
            .buckets
            .read(bucket, |b| b.get(key))?
            .ok_or_else(|| S3Error::with_message(S3ErrorCode::NoSuchKey, format!("no key {key}")))
    }

    /// One LIST page of `bucket`; counts what it returns.
    fn page(
        &self,
        bucket: &str,
        query: &Query,
    ) -> S3Result<(Vec<Object>, Vec<CommonPrefix>, Option<String>)> {
        let page = self.0.buckets.read(bucket, |b| list::page(b, query))?;
        let mut objects = Vec::new();
        let mut prefixes = Vec::new();
        for entry in page.entries {
            match entry {
                Entry::Object(o) => objects.push(object_dto(o)),
                Entry::CommonPrefix(p) => prefixes.push(CommonPrefix { prefix: Some(p) }),
            }
        }
        self.0.counters.listed(objects.len(), prefixes.len());
        Ok((objects, prefixes, page.resume_after))
    }

    /// Writes `key` once its body is read, under `conditions`; returns the ETag.
    fn commit(
        &self,
        bucket: &str,
        key: &str,
        body: Written,
        conditions: &Conditions,
    ) -> S3Result<String> {
        self.0
            .buckets
            .write(bucket, |b| b.put(key, body, conditions))?
    }
}

fn object_dto(o: Listed) -> Object {
    Object {
        key: Some(o.key),
        size: Some(to_i64(o.size)),
        e_tag: Some(ETag::Strong(o.etag)),
        last_modified: Some(Timestamp::from(o.modified)),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        ..Default::default()
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `None` when empty (S3 omits empty lists).
fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// Max-keys of a request: 1000 by default and at most.
fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(1000),
        Some(n) => usize::try_from(n)
            .map(|n| n.min(1000))
            .map_err(|_| s3_error!(InvalidArgument, "max-keys must not be negative")),
    }
}

/// The opaque continuation token of a position: its hex.
fn encode_token(position: &str) -> String {
    super::content::hex(position.as_bytes())
}

fn decode_token(token: &str) -> S3Result<String> {
    let invalid = || s3_error!(InvalidArgument, "invalid continuation token");
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return Err(invalid());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| invalid())?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

/// Reads of an object honour `If-Match` (412) and `If-None-Match` (304).
fn check_read(
    found: &Found,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    let matches = |c: &ETagCondition| c.as_etag().is_none_or(|e| e.value() == found.etag);
    if if_match.is_some_and(|c| !matches(c)) {
        return Err(s3_error!(PreconditionFailed));
    }
    if if_none_match.is_some_and(matches) {
        return Err(s3_error!(NotModified));
    }
    Ok(())
}

/// The body of `found` over `range`.
fn body(found: &Found, range: std::ops::Range<u64>) -> StreamingBlob {
    match &found.source {
        Source::Synthetic(index) => synthetic_body(*index, range),
        // Stored objects are in memory: their sizes fit usize.
        Source::Real(data) => bytes_body(data.slice(range.start as usize..range.end as usize)),
    }
}

/// The byte range a GET asks for, and its `Content-Range` when partial.
fn get_range(range: Option<Range>, size: u64) -> S3Result<(std::ops::Range<u64>, Option<String>)> {
    let Some(r) = range else {
        return Ok((0..size, None));
    };
    let r = r.check(size)?;
    let content_range = format!("bytes {}-{}/{size}", r.start, r.end - 1);
    Ok((r, Some(content_range)))
}

#[async_trait::async_trait]
impl S3 for DatasetService {
    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> Reply<ListObjectsV2Output> {
        self.begin(Op::ListPage).await;
        let input = req.input;
        let token = input
            .continuation_token
            .as_deref()
            .map(decode_token)
            .transpose()?;
        let marker = token.max(input.start_after.clone());
        let query = Query {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            marker,
            max_keys: max_keys(input.max_keys)?,
        };
        let (objects, prefixes, resume) = self.page(&input.bucket, &query)?;
        reply(ListObjectsV2Output {
            key_count: Some(i32::try_from(objects.len() + prefixes.len()).unwrap_or(i32::MAX)),
            max_keys: Some(i32::try_from(query.max_keys).unwrap_or(1000)),
            is_truncated: Some(resume.is_some()),
            next_continuation_token: resume.as_deref().map(encode_token),
            contents: non_empty(objects),
            common_prefixes: non_empty(prefixes),
            continuation_token: input.continuation_token,
            delimiter: input.delimiter,
            name: Some(input.bucket),
            prefix: input.prefix,
            start_after: input.start_after,
            ..Default::default()
        })
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> Reply<ListObjectsOutput> {
        self.begin(Op::ListPage).await;
        let input = req.input;
        let query = Query {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            marker: input.marker.clone(),
            max_keys: max_keys(input.max_keys)?,
        };
        let (objects, prefixes, resume) = self.page(&input.bucket, &query)?;
        reply(ListObjectsOutput {
            max_keys: Some(i32::try_from(query.max_keys).unwrap_or(1000)),
            is_truncated: Some(resume.is_some()),
            next_marker: resume,
            contents: non_empty(objects),
            common_prefixes: non_empty(prefixes),
            marker: input.marker,
            delimiter: input.delimiter,
            name: Some(input.bucket),
            prefix: input.prefix,
            ..Default::default()
        })
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> Reply<GetObjectOutput> {
        self.begin(Op::Get).await;
        let input = req.input;
        let found = self.find(&input.bucket, &input.key)?;
        check_read(
            &found,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
        )?;
        let (range, content_range) = get_range(input.range, found.size)?;
        reply(GetObjectOutput {
            content_length: Some(to_i64(range.end - range.start)),
            body: Some(body(&found, range)),
            content_range,
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(ETag::Strong(found.etag)),
            last_modified: Some(Timestamp::from(found.modified)),
            ..Default::default()
        })
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> Reply<HeadObjectOutput> {
        self.begin(Op::Head).await;
        let input = req.input;
        let found = self.find(&input.bucket, &input.key)?;
        check_read(
            &found,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
        )?;
        reply(HeadObjectOutput {
            content_length: Some(to_i64(found.size)),
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(ETag::Strong(found.etag)),
            last_modified: Some(Timestamp::from(found.modified)),
            ..Default::default()
        })
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> Reply<PutObjectOutput> {
        self.begin(Op::Put).await;
        let input = req.input;
        let synthetic = self
            .0
            .buckets
            .read(&input.bucket, |b| b.synthetic_size(&input.key))?;
        // A synthetic object's bytes are never kept: only its length matters.
        let body = match synthetic {
            Some(size) if input.content_length == Some(to_i64(size)) => {
                Written::Discarded(drain_body(input.body).await?)
            }
            _ => Written::bytes(read_body(input.body).await?),
        };
        let conditions = Conditions {
            if_match: input.if_match,
            if_none_match: input.if_none_match,
        };
        let etag = self.commit(&input.bucket, &input.key, body, &conditions)?;
        reply(PutObjectOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        })
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> Reply<DeleteObjectOutput> {
        self.begin(Op::Delete).await;
        let input = req.input;
        self.0
            .buckets
            .write(&input.bucket, |b| b.delete(&input.key))?;
        reply(DeleteObjectOutput::default())
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> Reply<DeleteObjectsOutput> {
        self.begin(Op::DeleteBatch).await;
        let input = req.input;
        let keys = input.delete.objects;
        self.0.buckets.write(&input.bucket, |b| {
            keys.iter().for_each(|o| b.delete(&o.key))
        })?;
        self.0.counters.deleted_in_batch(keys.len());
        let deleted = keys.into_iter().map(|o| DeletedObject {
            key: Some(o.key),
            ..Default::default()
        });
        let quiet = input.delete.quiet == Some(true);
        reply(DeleteObjectsOutput {
            deleted: (!quiet).then(|| deleted.collect()),
            ..Default::default()
        })
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> Reply<CreateMultipartUploadOutput> {
        self.begin(Op::MultipartCreate).await;
        let input = req.input;
        self.0.buckets.read(&input.bucket, |_| ())?;
        let id = self.0.uploads.create(&input.bucket, &input.key);
        reply(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            ..Default::default()
        })
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> Reply<UploadPartOutput> {
        self.begin(Op::MultipartPart).await;
        let input = req.input;
        let data = read_body(input.body).await?;
        let object = (input.bucket.as_str(), input.key.as_str());
        let etag = self
            .0
            .uploads
            .add_part(&input.upload_id, object, input.part_number, data)?;
        reply(UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        })
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> Reply<CompleteMultipartUploadOutput> {
        self.begin(Op::MultipartComplete).await;
        let input = req.input;
        let listed = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        let object = (input.bucket.as_str(), input.key.as_str());
        let body = self.0.uploads.complete(&input.upload_id, object, &listed)?;
        let conditions = Conditions {
            if_match: input.if_match,
            if_none_match: input.if_none_match,
        };
        let etag = self.commit(&input.bucket, &input.key, body, &conditions)?;
        reply(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        })
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> Reply<AbortMultipartUploadOutput> {
        self.begin(Op::MultipartAbort).await;
        self.0.uploads.abort(&req.input.upload_id)?;
        reply(AbortMultipartUploadOutput::default())
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> Reply<CreateBucketOutput> {
        self.begin(Op::Bucket).await;
        if !self.0.buckets.create(&req.input.bucket, Vec::new()) {
            return Err(s3_error!(BucketAlreadyOwnedByYou));
        }
        reply(CreateBucketOutput::default())
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> Reply<HeadBucketOutput> {
        self.begin(Op::Bucket).await;
        self.0.buckets.read(&req.input.bucket, |_| ())?;
        reply(HeadBucketOutput::default())
    }

    async fn list_buckets(&self, _req: S3Request<ListBucketsInput>) -> Reply<ListBucketsOutput> {
        self.begin(Op::Bucket).await;
        let buckets = self
            .0
            .buckets
            .all()
            .iter()
            .map(|(name, b)| bucket_dto(name, b.created))
            .collect();
        reply(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        })
    }
}

fn bucket_dto(name: &str, created: SystemTime) -> Bucket {
    Bucket {
        name: Some(name.to_owned()),
        creation_date: Some(Timestamp::from(created)),
        ..Default::default()
    }
}
