//! `moto_server`: S3 protocol, in memory.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use crate::{ACCESS_KEY, SECRET_KEY, free_port, s3_client, wait_for_port};

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
