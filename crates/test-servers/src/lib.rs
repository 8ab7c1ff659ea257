//! # test-servers
//!
//! Starts real object-store protocol servers on 127.0.0.1 for the tests, each on a free port,
//! and stops them by PID when dropped. Only loopback addresses are ever used.
//!
//! * [`Moto`]: `moto_server` (S3 protocol, in memory; accepts any signature).
//! * [`S3sFs`]: `s3s-fs` 0.14.1 (S3 protocol over a directory; checks signatures, honours
//!   conditional puts; survives a restart, so a server can be killed mid-operation).
//!
//! * [`Azurite`]: `azurite-blob` 3.37.0 (Azure Blob protocol; containers are created with a
//!   request signed by its well-known development key).
//!
//! The test command (`cargo xtask test`) installs all three when they are missing.
//!
//! It owns nothing of the cache; tests of every crate use it.

#![deny(missing_docs)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

fn wait_for_port(port: u16, what: &str) {
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

fn s3_client(
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

/// An `s3s-fs` child on 127.0.0.1 serving a temporary directory, killed (by PID) when dropped.
pub struct S3sFs {
    child: Option<Child>,
    root: std::path::PathBuf,
    owned_root: Option<std::path::PathBuf>,
    /// Its port.
    pub port: u16,
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        self.kill();
        if let Some(d) = &self.owned_root {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl S3sFs {
    /// Starts s3s-fs on a free port over a new temporary directory.
    ///
    /// # Panics
    /// When s3s-fs is not installed or does not start within 30 s.
    pub fn start() -> Self {
        let root =
            std::env::temp_dir().join(format!("s3s-fs-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&root).expect("s3s-fs root");
        let mut s = S3sFs {
            child: None,
            root: root.clone(),
            owned_root: Some(root),
            port: free_port(),
        };
        s.restart();
        s
    }

    /// Kills the server now (to test failures mid-operation). Data on disk stays.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port and directory.
    ///
    /// # Panics
    /// When s3s-fs is not installed or does not start.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&self.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs must be installed (cargo install s3s-fs@0.14.1 --features binary --locked); `cargo xtask test` installs it");
        self.child = Some(child);
        wait_for_port(self.port, "s3s-fs");
    }

    /// The `http://127.0.0.1:port` URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` (a directory of the server's root).
    ///
    /// # Panics
    /// When the directory cannot be created.
    pub fn create_bucket(&self, bucket: &str) {
        std::fs::create_dir_all(self.root.join(bucket)).expect("bucket directory");
    }

    /// An `object_store` client of `bucket`, signing with the server's credentials.
    pub fn store(&self, bucket: &str) -> Arc<dyn object_store::ObjectStore> {
        s3_client(&self.url(), bucket, ACCESS_KEY, SECRET_KEY)
    }
}

/// A `moto_server` child on 127.0.0.1, killed (by PID) when dropped.
pub struct Moto {
    child: Child,
    /// Its port.
    pub port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto_server and waits until it accepts connections.
    ///
    /// # Panics
    /// When moto_server is not installed or does not start within 30 s.
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server must be installed (pip install 'moto[server]'); `cargo xtask test` installs it");
        let moto = Moto { child, port };
        wait_for_port(port, "moto_server");
        moto
    }

    /// Kills the server now (to test failures mid-operation).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The `http://127.0.0.1:port` URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` with a plain HTTP PUT (moto accepts unsigned requests).
    ///
    /// # Panics
    /// When the server does not answer 200.
    pub fn create_bucket(&self, bucket: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        write!(
            s,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("send");
        let mut reply = String::new();
        s.read_to_string(&mut reply).expect("reply");
        assert!(
            reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200"),
            "{reply}"
        );
    }

    /// An `object_store` client of `bucket` on this server.
    ///
    /// # Panics
    /// When the client cannot be built.
    pub fn store(&self, bucket: &str) -> Arc<dyn object_store::ObjectStore> {
        s3_client(&self.url(), bucket, ACCESS_KEY, SECRET_KEY)
    }
}

/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development key (public, documented by Microsoft).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// An `azurite-blob` child on 127.0.0.1 over a temporary directory, killed (by PID) when
/// dropped.
pub struct Azurite {
    child: Child,
    dir: std::path::PathBuf,
    /// Its port.
    pub port: u16,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// RFC 1123 date of now, as Azure wants it in `x-ms-date`.
fn http_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        months[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Azurite {
    /// Starts azurite-blob on a free port and waits until it accepts connections.
    ///
    /// # Panics
    /// When azurite-blob is not installed or does not start within 30 s.
    pub fn start() -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("azurite-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("azurite directory");
        let child = Command::new("azurite-blob")
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(&dir)
            .args(["--disableTelemetry", "--skipApiVersionCheck", "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("azurite-blob must be installed (npm install -g azurite@3.37.0); `cargo xtask test` installs it");
        let a = Azurite { child, dir, port };
        wait_for_port(port, "azurite-blob");
        a
    }

    /// The blob endpoint of the development account.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/{AZURITE_ACCOUNT}", self.port)
    }

    /// Environment for a child process using `az://devstoreaccount1/...` URIs against this
    /// server (object_store's emulator mode).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
            (
                "AZURITE_BLOB_STORAGE_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
        ]
    }

    /// Creates `container` with a SharedKey-signed request.
    ///
    /// # Panics
    /// When the server does not answer 201.
    pub fn create_container(&self, container: &str) {
        use base64::Engine;
        use hmac::Mac;
        let date = http_date();
        let version = "2021-08-06";
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{container}\nrestype:container"
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(AZURITE_KEY)
            .expect("development key is base64");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("hmac key");
        mac.update(to_sign.as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to azurite");
        write!(
            s,
            "PUT /{AZURITE_ACCOUNT}/{container}?restype=container HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nx-ms-date: {date}\r\nx-ms-version: {version}\r\nAuthorization: SharedKey {AZURITE_ACCOUNT}:{signature}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("send");
        let mut reply = String::new();
        s.read_to_string(&mut reply).expect("reply");
        assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    }

    /// An `object_store` client of `container` on this server.
    pub fn store(&self, container: &str) -> Arc<dyn object_store::ObjectStore> {
        let az = object_store::azure::MicrosoftAzureBuilder::new()
            .with_account(AZURITE_ACCOUNT)
            .with_access_key(AZURITE_KEY)
            .with_container_name(container)
            .with_endpoint(self.url())
            .with_allow_http(true)
            .build()
            .expect("Azure client for azurite");
        Arc::new(az)
    }
}
