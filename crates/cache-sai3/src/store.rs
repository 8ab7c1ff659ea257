//! Access to endpoints through `object_store`, and (inside the crate) `CountingStore`, which
//! counts the calls a prepare makes (its report says how many LISTs it needed, and tests assert
//! zero).
//!
//! ```
//! use cache_sai3::store::{EndpointTarget, open_endpoint, parse_endpoint};
//! use object_store::ObjectStoreExt;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let dir = tempfile::tempdir()?;
//! let uri = format!("file://{}/ep0/", dir.path().display());
//! assert_eq!(parse_endpoint(&uri)?, EndpointTarget::Local(dir.path().join("ep0")));
//! let store = open_endpoint(&uri)?; // keys are relative to the endpoint
//! store.put(&"a/b.dat".into(), vec![7u8; 3].into()).await?;
//! assert_eq!(std::fs::read(dir.path().join("ep0/a/b.dat"))?, [7, 7, 7]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::RetryConfig;
use object_store::path::Path as StorePath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use crate::scheme::UriScheme;

use crate::error::{Result, Sai3Error};
use crate::scheme::local_path;

/// Calls made through a [`CountingStore`].
#[derive(Debug, Default)]
pub(crate) struct CallCounts {
    /// `list`, `list_with_offset` and `list_with_delimiter` calls.
    pub lists: AtomicU64,
    /// Objects written.
    pub puts: AtomicU64,
    /// Reads and HEADs.
    pub gets: AtomicU64,
}

impl CallCounts {
    /// LIST calls so far.
    pub(crate) fn lists(&self) -> u64 {
        self.lists.load(Ordering::SeqCst)
    }
}

/// An object store that counts the calls made through it.
#[derive(Debug)]
pub(crate) struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    counts: Arc<CallCounts>,
}

impl CountingStore {
    /// Wraps `inner`; `counts` may be shared by several stores.
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, counts: Arc<CallCounts>) -> Self {
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

/// Where an endpoint URI points, parsed.
///
/// ```
/// use cache_sai3::store::{EndpointTarget, parse_endpoint};
/// assert_eq!(
///     parse_endpoint("az://acct/bench/data/")?,
///     EndpointTarget::Azure { account: "acct".into(), container: "bench".into(), prefix: "data".into() }
/// );
/// assert!(matches!(parse_endpoint("gs://b/")?, EndpointTarget::Gcs { prefix, .. } if prefix.is_empty()));
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointTarget {
    /// A local directory (`file://`, `direct://`).
    Local(std::path::PathBuf),
    /// S3 or an S3-compatible server. `endpoint` is set for sai3-bench's
    /// `s3://host:port/bucket/prefix/` form (`http://`, or `https://` for port 443).
    S3 {
        /// Server URL, when not AWS.
        endpoint: Option<String>,
        /// Bucket.
        bucket: String,
        /// Key prefix inside the bucket (no leading or trailing `/`).
        prefix: String,
    },
    /// Azure Blob Storage: `az://account/container/prefix/`.
    Azure {
        /// Storage account.
        account: String,
        /// Container.
        container: String,
        /// Key prefix.
        prefix: String,
    },
    /// Google Cloud Storage: `gs://bucket/prefix/`.
    Gcs {
        /// Bucket.
        bucket: String,
        /// Key prefix.
        prefix: String,
    },
}

fn bad(uri: &str, reason: impl Into<String>) -> Sai3Error {
    Sai3Error::Endpoint {
        endpoint: uri.to_owned(),
        reason: reason.into(),
    }
}

/// Parses an endpoint URI.
///
/// `s3://` URIs whose first segment holds a `:` (`host:port`) are sai3-bench's per-endpoint
/// form for S3-compatible servers: the bucket is the second segment. Bucket names cannot hold
/// `:`, so the two forms never overlap.
///
/// # Errors
/// Unsupported schemes, and URIs without a bucket, account or container.
///
/// ```
/// use cache_sai3::store::{EndpointTarget, parse_endpoint};
/// assert_eq!(
///     parse_endpoint("s3://10.9.0.17:80/s3-bucket1/data/")?,
///     EndpointTarget::S3 {
///         endpoint: Some("http://10.9.0.17:80".into()),
///         bucket: "s3-bucket1".into(),
///         prefix: "data".into(),
///     }
/// );
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// ```
pub fn parse_endpoint(uri: &str) -> Result<EndpointTarget> {
    let scheme = UriScheme::of(uri)?;
    if !scheme.is_object_store() {
        return local_path(uri)
            .map(EndpointTarget::Local)
            .ok_or_else(|| bad(uri, "not a local path"));
    }
    let rest = uri.split_once("://").map_or("", |(_, r)| r);
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let join = |from: usize| parts.get(from..).map(|p| p.join("/")).unwrap_or_default();
    match scheme {
        UriScheme::S3 => match parts.first() {
            None => Err(bad(uri, "names no bucket (expected s3://bucket/prefix/)")),
            Some(first) if first.contains(':') => {
                let (host, port) = first.rsplit_once(':').unwrap_or((first, ""));
                if host.is_empty() || port.parse::<u16>().is_err() {
                    return Err(bad(uri, format!("{first:?} is not host:port")));
                }
                let bucket = parts.get(1).ok_or_else(|| {
                    bad(
                        uri,
                        "names no bucket (expected s3://host:port/bucket/prefix/)",
                    )
                })?;
                let proto = if port == "443" { "https" } else { "http" };
                Ok(EndpointTarget::S3 {
                    endpoint: Some(format!("{proto}://{first}")),
                    bucket: (*bucket).to_owned(),
                    prefix: join(2),
                })
            }
            Some(bucket) => Ok(EndpointTarget::S3 {
                endpoint: None,
                bucket: (*bucket).to_owned(),
                prefix: join(1),
            }),
        },
        UriScheme::Azure => match (parts.first(), parts.get(1)) {
            (Some(account), Some(container)) => Ok(EndpointTarget::Azure {
                account: (*account).to_owned(),
                container: (*container).to_owned(),
                prefix: join(2),
            }),
            _ => Err(bad(uri, "expected az://account/container/prefix/")),
        },
        UriScheme::Gcs => match parts.first() {
            Some(bucket) => Ok(EndpointTarget::Gcs {
                bucket: (*bucket).to_owned(),
                prefix: join(1),
            }),
            None => Err(bad(uri, "names no bucket (expected gs://bucket/prefix/)")),
        },
        UriScheme::File | UriScheme::Direct => Err(bad(uri, "not an object store")),
    }
}

fn with_prefix(store: Arc<dyn ObjectStore>, prefix: &str) -> Arc<dyn ObjectStore> {
    if prefix.is_empty() {
        store
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
    }
}

/// The one retry layer of every object-store request: `object_store`'s own client retries
/// (server errors, throttling, timeouts, broken connections; exponential backoff with jitter
/// from 100 ms, doubling, at most 15 s apart), at most [`MAX_RETRIES`] times within
/// [`RetryConfig::retry_timeout`]. Our code never retries on top of it: a request that still
/// fails is reported with its reason.
///
/// Five retries, not `object_store`'s ten: an endpoint that refuses connections (a wrong port,
/// a server that is down) then fails in about 3 s instead of 10 to 15 s, while throttling
/// (503 SlowDown) still gets five backed-off attempts, more than the AWS SDKs' default of three
/// attempts. The timeout stays under 5 minutes because retried requests keep their signature.
///
/// ```
/// use cache_sai3::store::{MAX_RETRIES, retry_config};
/// let retry = retry_config();
/// assert_eq!(retry.max_retries, MAX_RETRIES);
/// assert_eq!(retry.retry_timeout.as_secs(), 180);
/// ```
pub fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: object_store::BackoffConfig::default(),
        max_retries: MAX_RETRIES,
        retry_timeout: std::time::Duration::from_secs(180),
    }
}

/// What to check, appended to an object-store error whose cause is commonly a setup mistake
/// or a server in trouble (empty when there is nothing to add). It reads the whole chain of
/// causes: the HTTP client's own message says only "error sending request".
///
/// ```
/// let e = object_store::Error::Generic {
///     store: "S3",
///     source: "Error performing PUT http://169.254.169.254/latest/api/token".into(),
/// };
/// assert!(cache_sai3::store::hint(&e).contains("AWS_ACCESS_KEY_ID"));
/// ```
pub fn hint(e: &object_store::Error) -> &'static str {
    let text = with_causes(e);
    if text.contains("169.254.169.254") {
        // The credential chain fell through to the instance metadata service.
        "; no credentials were found in the environment (set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, or run where an instance role answers)"
    } else if text.contains("connection closed before message completed") {
        // The request was sent: something answered, then hung up.
        "; the server closed the connection without answering (overloaded, restarting, or a \
         proxy in between)"
    } else if text.contains("error sending request") {
        "; nothing answered at the endpoint's address (check host, port, and that the server \
         runs; plain-HTTP servers need s3://host:port/bucket/ with a port other than 443)"
    } else {
        ""
    }
}

/// `e` and every error in its chain of causes, as one text.
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Retries of one object-store request ([`retry_config`]).
///
/// ```
/// assert_eq!(cache_sai3::store::MAX_RETRIES, 5);
/// ```
pub const MAX_RETRIES: usize = 5;

/// Opens the object store of endpoint `uri`, rooted at the endpoint (keys are relative to it).
///
/// Credentials and options come from the environment as `object_store`'s builders read them
/// (`AWS_*`, `AZURE_*`, `GOOGLE_*`; `AWS_ALLOW_HTTP=true` for plain-HTTP S3 servers;
/// `AZURE_STORAGE_USE_EMULATOR=true` for Azurite). `gs://` goes through the same generic
/// `object_store` code path as S3 and Azure; no GCS server is available to test it here.
///
/// # Errors
/// Bad URIs, builder errors (missing credentials, bad options), or a local directory that cannot
/// be created; all name the endpoint.
///
/// ```
/// use cache_sai3::store::open_endpoint;
/// use object_store::ObjectStoreExt;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let dir = tempfile::tempdir()?;
/// let store = open_endpoint(&format!("file://{}/new/", dir.path().display()))?;
/// assert!(dir.path().join("new").is_dir()); // created
/// store.put(&"x".into(), b"hi".to_vec().into()).await?;
/// assert_eq!(store.get(&"x".into()).await?.bytes().await?.as_ref(), b"hi");
/// let err = open_endpoint("ftp://host/").err().expect("an unknown scheme");
/// assert!(err.to_string().contains("ftp://host/"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open_endpoint(uri: &str) -> Result<Arc<dyn ObjectStore>> {
    let built = |e: object_store::Error| bad(uri, format!("cannot open: {e}"));
    match parse_endpoint(uri)? {
        EndpointTarget::Local(path) => {
            std::fs::create_dir_all(&path)
                .map_err(|e| bad(uri, format!("cannot create {}: {e}", path.display())))?;
            let fs = object_store::local::LocalFileSystem::new_with_prefix(&path)
                .map_err(|e| bad(uri, e.to_string()))?;
            Ok(Arc::new(fs))
        }
        EndpointTarget::S3 {
            endpoint,
            bucket,
            prefix,
        } => {
            let mut b = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry_config());
            if let Some(url) = endpoint {
                if url.starts_with("http://") {
                    b = b.with_allow_http(true);
                }
                b = b
                    .with_endpoint(url)
                    .with_virtual_hosted_style_request(false);
            }
            Ok(with_prefix(Arc::new(b.build().map_err(built)?), &prefix))
        }
        EndpointTarget::Azure {
            account,
            container,
            prefix,
        } => {
            let b = object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_account(account)
                .with_container_name(container)
                .with_retry(retry_config());
            Ok(with_prefix(Arc::new(b.build().map_err(built)?), &prefix))
        }
        EndpointTarget::Gcs { bucket, prefix } => {
            let b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry_config());
            Ok(with_prefix(Arc::new(b.build().map_err(built)?), &prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_forms() {
        assert_eq!(
            parse_endpoint("s3://bucket/a/b/").expect("s3"),
            EndpointTarget::S3 {
                endpoint: None,
                bucket: "bucket".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(
            parse_endpoint("s3://minio.local:443/b/").expect("s3"),
            EndpointTarget::S3 {
                endpoint: Some("https://minio.local:443".into()),
                bucket: "b".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            parse_endpoint("az://acct/cont/x/y/").expect("az"),
            EndpointTarget::Azure {
                account: "acct".into(),
                container: "cont".into(),
                prefix: "x/y".into()
            }
        );
        assert_eq!(
            parse_endpoint("gs://b/p/").expect("gs"),
            EndpointTarget::Gcs {
                bucket: "b".into(),
                prefix: "p".into()
            }
        );
        assert_eq!(
            parse_endpoint("file:///mnt/x/").expect("file"),
            EndpointTarget::Local("/mnt/x/".into())
        );
        for bad in [
            "s3://",
            "s3://host:port/b/",
            "s3://host:80/",
            "az://acct/",
            "gs://",
            "ftp://x/",
        ] {
            let e = parse_endpoint(bad).expect_err(bad).to_string();
            assert!(!e.is_empty(), "{bad}");
        }
    }
}
