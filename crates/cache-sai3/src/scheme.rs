//! What an endpoint URI means: its storage kind (as sai3-bench spells it), the local path of a
//! file system endpoint, and the one name sai3-cache reserves inside every endpoint.
//!
//! ```
//! use cache_sai3::scheme::UriScheme;
//! assert_eq!(UriScheme::of("s3://bucket/prefix/")?, UriScheme::S3);
//! assert!(UriScheme::of("direct:///mnt/nvme/")?.is_local());
//! assert!(UriScheme::of("ftp://host/").is_err());
//! # Ok::<(), cache_sai3::Sai3Error>(())
//! ```

use std::path::PathBuf;

use crate::error::{Result, Sai3Error};

/// The directory sai3-cache keeps inside every endpoint (never listed as data): the endpoint
/// cache of a `file://` endpoint, the synced caches and `DATASET` record of an object store.
///
/// ```
/// use cache_sai3::scheme::{remote_shard_root, ENDPOINT_CACHE_DIR};
/// assert_eq!(ENDPOINT_CACHE_DIR, "sai3-kv-cache");
/// assert!(remote_shard_root(1).starts_with(ENDPOINT_CACHE_DIR));
/// ```
pub const ENDPOINT_CACHE_DIR: &str = "sai3-kv-cache";

/// Where agent `agent`'s shard lives inside a namespace's cache directory (locally and under
/// [`ENDPOINT_CACHE_DIR`] remotely): each agent writes only its own shard.
///
/// ```
/// assert_eq!(cache_sai3::scheme::shard_dir(3), "agents/3");
/// ```
pub fn shard_dir(agent: u32) -> String {
    format!("agents/{agent}")
}

/// The remote root of agent `agent`'s shard inside an object-store endpoint.
///
/// ```
/// assert_eq!(cache_sai3::scheme::remote_shard_root(0), "sai3-kv-cache/agents/0");
/// ```
pub fn remote_shard_root(agent: u32) -> String {
    format!("{ENDPOINT_CACHE_DIR}/{}", shard_dir(agent))
}

/// The local path of a `file://` or `direct://` endpoint URI; `None` for any other scheme.
///
/// ```
/// use cache_sai3::scheme::local_path;
/// use std::path::Path;
/// assert_eq!(local_path("file:///mnt/data/").as_deref(), Some(Path::new("/mnt/data/")));
/// assert_eq!(local_path("direct:///mnt/nvme/").as_deref(), Some(Path::new("/mnt/nvme/")));
/// assert_eq!(local_path("s3://bucket/prefix/"), None);
/// ```
pub fn local_path(uri: &str) -> Option<PathBuf> {
    let rest = uri
        .strip_prefix("file://")
        .or_else(|| uri.strip_prefix("direct://"))?;
    Some(PathBuf::from(rest))
}

/// The storage kinds an endpoint URI can name.
///
/// ```
/// use cache_sai3::scheme::UriScheme;
/// assert_eq!(UriScheme::of("gs://bucket/")?, UriScheme::Gcs);
/// assert_ne!(UriScheme::File, UriScheme::Direct);
/// # Ok::<(), cache_sai3::Sai3Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UriScheme {
    /// `file://` local or network file system.
    File,
    /// `direct://` file system with O_DIRECT I/O.
    Direct,
    /// `s3://` Amazon S3 or a compatible store.
    S3,
    /// `az://` Azure Blob Storage.
    Azure,
    /// `gs://` Google Cloud Storage.
    Gcs,
}

impl UriScheme {
    /// The scheme of `uri`.
    ///
    /// # Errors
    /// [`Sai3Error::Endpoint`] naming the URI when its scheme is missing or unsupported.
    ///
    /// ```
    /// use cache_sai3::scheme::UriScheme;
    /// assert_eq!(UriScheme::of("file:///data/")?, UriScheme::File);
    /// assert_eq!(UriScheme::of("S3://bucket/")?, UriScheme::S3);
    /// assert_eq!(UriScheme::of("azure://account/container/")?, UriScheme::Azure);
    /// assert_eq!(UriScheme::of("gcs://bucket/")?, UriScheme::Gcs);
    /// let e = UriScheme::of("/data/").unwrap_err();
    /// assert!(e.to_string().contains("/data/"));
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// ```
    pub fn of(uri: &str) -> Result<Self> {
        let (scheme, _) = uri.split_once("://").ok_or_else(|| Sai3Error::Endpoint {
            endpoint: uri.to_owned(),
            reason: "no scheme; expected file://, direct://, s3://, az:// or gs://".into(),
        })?;
        match scheme.to_ascii_lowercase().as_str() {
            "file" => Ok(UriScheme::File),
            "direct" => Ok(UriScheme::Direct),
            "s3" => Ok(UriScheme::S3),
            "az" | "azure" => Ok(UriScheme::Azure),
            "gs" | "gcs" => Ok(UriScheme::Gcs),
            other => Err(Sai3Error::Endpoint {
                endpoint: uri.to_owned(),
                reason: format!(
                    "unsupported scheme {other:?}; expected file://, direct://, s3://, az:// or gs://"
                ),
            }),
        }
    }

    /// True for object stores (listing is slow and paged).
    ///
    /// ```
    /// use cache_sai3::scheme::UriScheme;
    /// assert!(UriScheme::of("az://account/container/")?.is_object_store());
    /// assert!(!UriScheme::of("file:///data/")?.is_object_store());
    /// # Ok::<(), cache_sai3::Sai3Error>(())
    /// ```
    pub fn is_object_store(self) -> bool {
        matches!(self, UriScheme::S3 | UriScheme::Azure | UriScheme::Gcs)
    }
}

/// Refuses a URI that carries credentials (`s3://KEY:SECRET@host/...`): they would be stored
/// in caches and printed in reports. The error shows the URI with them masked.
///
/// # Errors
/// [`Sai3Error::Endpoint`] when the URI's authority holds a `@`.
///
/// ```
/// use cache_sai3::scheme::refuse_credentials;
/// assert!(refuse_credentials("s3://10.0.0.1:9000/bucket/data/").is_ok());
/// let e = refuse_credentials("s3://AKID:s3cr3t@10.0.0.1:9000/bucket/").unwrap_err();
/// assert!(!e.to_string().contains("s3cr3t"));
/// assert!(e.to_string().contains("s3://***@10.0.0.1:9000/bucket/"));
/// ```
pub fn refuse_credentials(uri: &str) -> Result<()> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Ok(());
    };
    let authority = rest.split('/').next().unwrap_or("");
    let Some((_, host)) = authority.rsplit_once('@') else {
        return Ok(());
    };
    let path = &rest[authority.len()..];
    Err(Sai3Error::Endpoint {
        endpoint: format!("{scheme}://***@{host}{path}"),
        reason: "carries credentials in the URI; remove them and give them the usual way \
                 (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AZURE_STORAGE_ACCOUNT_KEY, \
                 GOOGLE_APPLICATION_CREDENTIALS)"
            .into(),
    })
}

impl UriScheme {
    /// True for local file systems (`file://`, `direct://`): the cache lives beside the data.
    ///
    /// ```
    /// use cache_sai3::scheme::UriScheme;
    /// assert!(UriScheme::Direct.is_local());
    /// assert!(!UriScheme::S3.is_local());
    /// ```
    pub fn is_local(self) -> bool {
        !self.is_object_store()
    }
}
