//! Access to endpoints through `object_store`, and [`CountingStore`], which counts the calls
//! a prepare makes (its report says how many LISTs it needed, and tests assert zero).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path as StorePath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use cache_core::ttl::UriScheme;

use crate::endpoint_cache::local_path;
use crate::error::{Result, Sai3Error};

/// Calls made through a [`CountingStore`].
#[derive(Debug, Default)]
pub struct CallCounts {
    /// `list`, `list_with_offset` and `list_with_delimiter` calls.
    pub lists: AtomicU64,
    /// Objects written.
    pub puts: AtomicU64,
    /// Reads and HEADs.
    pub gets: AtomicU64,
}

impl CallCounts {
    /// LIST calls so far.
    pub fn lists(&self) -> u64 {
        self.lists.load(Ordering::SeqCst)
    }

    /// PUTs so far.
    pub fn puts(&self) -> u64 {
        self.puts.load(Ordering::SeqCst)
    }
}

/// An object store that counts the calls made through it.
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    counts: Arc<CallCounts>,
}

impl CountingStore {
    /// Wraps `inner`; `counts` may be shared by several stores.
    pub fn new(inner: Arc<dyn ObjectStore>, counts: Arc<CallCounts>) -> Self {
        CountingStore { inner, counts }
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &StorePath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.counts.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &StorePath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.counts.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &StorePath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.counts.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &StorePath,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.counts.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<StorePath>>,
    ) -> BoxStream<'static, object_store::Result<StorePath>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&StorePath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.counts.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&StorePath>,
        offset: &StorePath,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.counts.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&StorePath>,
    ) -> object_store::Result<ListResult> {
        self.counts.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &StorePath,
        to: &StorePath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Opens the object store of endpoint `uri`, rooted at the endpoint (keys are relative to it).
///
/// # Errors
/// Unsupported schemes (object stores come with the object-store work), or a local directory
/// that cannot be created.
pub fn open_endpoint(uri: &str) -> Result<Arc<dyn ObjectStore>> {
    let scheme = UriScheme::of(uri)?;
    if scheme.is_object_store() {
        return Err(Sai3Error::Endpoint {
            endpoint: uri.to_owned(),
            reason: "object-store endpoints (s3://, az://, gs://) are not supported by this \
                     build yet; use file:// endpoints"
                .into(),
        });
    }
    let path = local_path(uri).ok_or_else(|| Sai3Error::Endpoint {
        endpoint: uri.to_owned(),
        reason: "not a local path".into(),
    })?;
    std::fs::create_dir_all(&path).map_err(|e| Sai3Error::Endpoint {
        endpoint: uri.to_owned(),
        reason: format!("cannot create {}: {e}", path.display()),
    })?;
    let fs = object_store::local::LocalFileSystem::new_with_prefix(&path).map_err(|e| {
        Sai3Error::Endpoint {
            endpoint: uri.to_owned(),
            reason: e.to_string(),
        }
    })?;
    Ok(Arc::new(fs))
}
