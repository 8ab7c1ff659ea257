//! `azurite-blob`: Azure Blob protocol.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use crate::{free_port, wait_for_port};

/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development key (public, documented by Microsoft).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// An `azurite-blob` child on 127.0.0.1 over a temporary directory, killed (by PID) when
/// dropped.
pub struct Azurite {
    child: Child,
    /// Removed when dropped (after the child is killed: fields drop after `Drop::drop`).
    _dir: tempfile::TempDir,
    /// Its port.
    pub port: u16,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Azurite {
    /// Starts azurite-blob on a free port and waits until it accepts connections.
    ///
    /// # Panics
    /// When azurite-blob is not installed or does not start within 30 s.
    pub fn start() -> Self {
        let port = free_port();
        let dir = tempfile::Builder::new()
            .prefix("azurite-")
            .tempdir()
            .expect("azurite directory");
        let child = Command::new("azurite-blob")
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(dir.path())
            .args(["--disableTelemetry", "--skipApiVersionCheck", "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("azurite-blob must be installed (npm install -g azurite@3.37.0); `cargo xtask test` installs it");
        let a = Azurite {
            child,
            _dir: dir,
            port,
        };
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
        // RFC 1123 date of now, as Azure wants it in `x-ms-date`.
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
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
