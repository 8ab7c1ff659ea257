//! The server: its own thread and tokio runtime on a port of 127.0.0.1 (a free one unless told),
//! stopped on drop.

use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use roaring::RoaringTreemap;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::sync::oneshot;

use super::objects::SyntheticObjects;
use super::service::{DatasetService, Shared};
use super::state::SyntheticSet;
use super::stats::DatasetS3Stats;
use crate::{ACCESS_KEY, S3Server, SECRET_KEY, s3_client};

/// Configures a [`DatasetS3`]: its buckets and their synthetic sets, latency, credentials.
pub struct DatasetS3Builder {
    buckets: Vec<(String, Vec<SyntheticSet>)>,
    latency: Duration,
    port: u16,
    access_key: String,
    secret_key: String,
}

impl Default for DatasetS3Builder {
    fn default() -> Self {
        DatasetS3Builder {
            buckets: Vec::new(),
            latency: Duration::ZERO,
            port: 0,
            access_key: ACCESS_KEY.to_owned(),
            secret_key: SECRET_KEY.to_owned(),
        }
    }
}

impl DatasetS3Builder {
    /// Adds an empty bucket (no effect when it is already there).
    ///
    /// # Panics
    /// When `name` is not a valid S3 bucket name (3 to 63 lowercase letters, digits, dots,
    /// hyphens): the server would refuse every request to it.
    pub fn bucket(mut self, name: impl Into<String>) -> Self {
        self.bucket_sets(name.into());
        self
    }

    /// Adds a synthetic set to `bucket` (creating the bucket): `objects` whose indices in
    /// `presence` exist (indices past `objects.len()` are ignored). Sets of one bucket must
    /// have disjoint keys; LIST merges them. Sets are numbered from 0 in the order added.
    ///
    /// # Panics
    /// When `bucket` is not a valid S3 bucket name.
    pub fn synthetic(
        mut self,
        bucket: impl Into<String>,
        objects: Arc<dyn SyntheticObjects>,
        mut presence: RoaringTreemap,
    ) -> Self {
        presence.remove_range(objects.len()..);
        let set = SyntheticSet { objects, presence };
        self.bucket_sets(bucket.into()).push(set);
        self
    }

    /// Waits `latency` before every response.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Listens on `port` of 127.0.0.1 (default 0: a free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Accepts requests signed with this key pair only (default: [`ACCESS_KEY`], [`SECRET_KEY`]).
    pub fn credentials(
        mut self,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        self.access_key = access_key.into();
        self.secret_key = secret_key.into();
        self
    }

    fn bucket_sets(&mut self, name: String) -> &mut Vec<SyntheticSet> {
        assert_bucket_name(&name);
        let at = match self.buckets.iter().position(|(n, _)| *n == name) {
            Some(at) => at,
            None => {
                self.buckets.push((name, Vec::new()));
                self.buckets.len() - 1
            }
        };
        &mut self.buckets[at].1
    }

    /// Starts the server.
    ///
    /// # Panics
    /// When the port of 127.0.0.1 cannot be bound or the thread cannot start.
    pub fn start(self) -> DatasetS3 {
        let shared = Arc::new(Shared {
            latency: self.latency,
            ..Shared::default()
        });
        for (name, sets) in self.buckets {
            shared.buckets.create(&name, sets);
        }
        let mut service = S3ServiceBuilder::new(DatasetService(Arc::clone(&shared)));
        service.set_auth(SimpleAuth::from_single(
            self.access_key.clone(),
            self.secret_key.clone(),
        ));
        let listener = StdListener::bind(("127.0.0.1", self.port)).expect("a port of 127.0.0.1");
        let port = listener.local_addr().expect("the bound address").port();
        let (stop, stopped) = oneshot::channel();
        let service = service.build();
        let thread = std::thread::Builder::new()
            .name(format!("dataset-s3-{port}"))
            .spawn(move || run(listener, service, stopped))
            .expect("the server thread");
        DatasetS3 {
            port,
            shared,
            access_key: self.access_key,
            secret_key: self.secret_key,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

fn assert_bucket_name(name: &str) {
    assert!(
        s3s::path::check_bucket_name(name),
        "{name:?} is not a valid S3 bucket name"
    );
}

/// The thread's body: a runtime serving until told to stop.
fn run(listener: StdListener, service: S3Service, stopped: oneshot::Receiver<()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("dataset-s3-worker")
        .enable_all()
        .build()
        .expect("the server's runtime");
    runtime.block_on(serve(listener, service, stopped));
    // Dropping the runtime ends the open connections.
    runtime.shutdown_timeout(Duration::from_secs(1));
}

async fn serve(listener: StdListener, service: S3Service, mut stopped: oneshot::Receiver<()>) {
    let listener = listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
        .expect("the listener in the runtime");
    let http = ConnBuilder::new(TokioExecutor::new());
    loop {
        let socket = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(_) => continue,
            },
        };
        let connection = http
            .serve_connection(TokioIo::new(socket), service.clone())
            .into_owned();
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}

/// A dataset-shaped S3 server on 127.0.0.1: synthetic sets of generated keys (presence in
/// bitmaps, bytes synthesized on GET) and real objects in memory. Stopped when dropped.
pub struct DatasetS3 {
    port: u16,
    shared: Arc<Shared>,
    access_key: String,
    secret_key: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for DatasetS3 {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl DatasetS3 {
    /// A builder with no bucket, no latency and the crate's credentials.
    pub fn builder() -> DatasetS3Builder {
        DatasetS3Builder::default()
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `http://127.0.0.1:port` URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An `object_store` client of `bucket` with the server's credentials.
    pub fn store(&self, bucket: &str) -> Arc<dyn object_store::ObjectStore> {
        s3_client(&self.url(), bucket, &self.access_key, &self.secret_key)
    }

    /// An `object_store` client of `bucket` with other credentials (to test refusals).
    pub fn store_with_credentials(
        &self,
        bucket: &str,
        access_key: &str,
        secret_key: &str,
    ) -> Arc<dyn object_store::ObjectStore> {
        s3_client(&self.url(), bucket, access_key, secret_key)
    }

    /// Adds an empty bucket while running (no effect when it is already there).
    ///
    /// # Panics
    /// When `bucket` is not a valid S3 bucket name.
    pub fn create_bucket(&self, bucket: &str) {
        assert_bucket_name(bucket);
        self.shared.buckets.create(bucket, Vec::new());
    }

    /// Request counts so far.
    pub fn stats(&self) -> DatasetS3Stats {
        self.shared.counters.snapshot()
    }

    /// Sets every count back to zero.
    pub fn reset_stats(&self) {
        self.shared.counters.reset();
    }

    /// A copy of the presence bitmap of synthetic set `set` (in the order added) of `bucket`.
    ///
    /// # Panics
    /// When the bucket or the set does not exist.
    pub fn presence(&self, bucket: &str, set: usize) -> RoaringTreemap {
        self.shared
            .buckets
            .read(bucket, |b| b.sets.get(set).map(|s| s.presence.clone()))
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no synthetic set {set} in bucket {bucket}"))
    }
}

impl S3Server for DatasetS3 {
    fn port(&self) -> u16 {
        self.port
    }
    fn create_bucket(&self, bucket: &str) {
        DatasetS3::create_bucket(self, bucket);
    }
    fn store(&self, bucket: &str) -> Arc<dyn object_store::ObjectStore> {
        DatasetS3::store(self, bucket)
    }
}
