//! # test-servers
//!
//! Starts real object-store protocol servers on 127.0.0.1 for the tests, each on a free port,
//! and stops them by PID when dropped. Only loopback addresses are ever used.
//!
//! * [`Moto`]: `moto_server` (S3 protocol, in memory; accepts any signature).
//! * [`S3sFs`]: `s3s-fs` 0.14.1 (S3 protocol over a directory; checks signatures, honours
//!   conditional puts; survives a restart, so a server can be killed mid-operation).
//!
//! * [`DatasetS3`]: an S3 protocol server (`s3s` 0.14.1, in this process) holding huge synthetic
//!   datasets in a few MB: keys generated from indices, presence in roaring bitmaps, bytes
//!   synthesized on GET; any other key is stored in memory. Counts requests, can add latency.
//!
//! * [`FaultProxy`]: a TCP proxy in front of one of these S3 servers that fails LIST requests
//!   by plan (500, or a connection closed without an answer), for M requests or for ever.
//!
//! * [`Azurite`]: `azurite-blob` 3.37.0 (Azure Blob protocol; containers are created with a
//!   request signed by its well-known development key).
//!
//! The test command (`cargo xtask test`) installs all three when they are missing.
//!
//! It owns nothing of the cache; tests of every crate use it.

#![deny(missing_docs)]

mod azurite;
mod dataset_s3;
mod fault_proxy;
mod moto;
mod s3s_fs;

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use azurite::{AZURITE_ACCOUNT, AZURITE_KEY, Azurite};
pub use dataset_s3::{
    DatasetS3, DatasetS3Builder, DatasetS3Stats, FlatObjects, SyntheticObjects,
    ascending_keys_after, full_presence, presence_with_gaps, synthetic_content,
};
pub use fault_proxy::{Fault, FaultPlan, FaultProxy, ProxyCounts};
pub use moto::Moto;
pub use s3s_fs::S3sFs;

/// A free TCP port on 127.0.0.1.
///
/// # Panics
/// When the OS gives none.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

pub(crate) fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the tests need of an S3 protocol server, so one test body runs on each.
pub trait S3Server {
    /// Its port on 127.0.0.1.
    fn port(&self) -> u16;
    /// Creates a bucket.
    fn create_bucket(&self, bucket: &str);
    /// An `object_store` client of `bucket`, with [`ACCESS_KEY`] and [`SECRET_KEY`].
    fn store(&self, bucket: &str) -> Arc<dyn object_store::ObjectStore>;
}

impl S3Server for Moto {
    fn port(&self) -> u16 {
        self.port
    }
    fn create_bucket(&self, bucket: &str) {
        Moto::create_bucket(self, bucket);
    }
    fn store(&self, bucket: &str) -> Arc<dyn object_store::ObjectStore> {
        Moto::store(self, bucket)
    }
}

impl S3Server for S3sFs {
    fn port(&self) -> u16 {
        self.port
    }
    fn create_bucket(&self, bucket: &str) {
        S3sFs::create_bucket(self, bucket);
    }
    fn store(&self, bucket: &str) -> Arc<dyn object_store::ObjectStore> {
        S3sFs::store(self, bucket)
    }
}

/// S3 credentials the test servers are started with.
pub const ACCESS_KEY: &str = "sai3test";
/// Secret of [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "sai3testsecret";

pub(crate) fn s3_client(
    url: &str,
    bucket: &str,
    key: &str,
    secret: &str,
) -> Arc<dyn object_store::ObjectStore> {
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(url)
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_access_key_id(key)
        .with_secret_access_key(secret)
        .with_virtual_hosted_style_request(false)
        // Fail fast when a test kills the server.
        .with_retry(object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: std::time::Duration::from_millis(50),
                max_backoff: std::time::Duration::from_millis(200),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: std::time::Duration::from_secs(5),
        })
        .build()
        .expect("S3 client for a test server");
    Arc::new(s3)
}
