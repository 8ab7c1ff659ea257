//! `s3s-fs`: S3 protocol over a directory.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use crate::{ACCESS_KEY, SECRET_KEY, free_port, s3_client, wait_for_port};

/// An `s3s-fs` child on 127.0.0.1 serving a temporary directory, killed (by PID) when dropped.
pub struct S3sFs {
    child: Option<Child>,
    /// Removed when dropped (after the child is killed: fields drop after `Drop::drop`).
    root: tempfile::TempDir,
    /// Its port.
    pub port: u16,
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        self.kill();
    }
}

impl S3sFs {
    /// Starts s3s-fs on a free port over a new temporary directory.
    ///
    /// # Panics
    /// When s3s-fs is not installed or does not start within 30 s.
    pub fn start() -> Self {
        let root = tempfile::Builder::new()
            .prefix("s3s-fs-")
            .tempdir()
            .expect("s3s-fs root");
        let mut s = S3sFs {
            child: None,
            root,
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
            .arg(self.root.path())
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
        std::fs::create_dir_all(self.root.path().join(bucket)).expect("bucket directory");
    }

    /// An `object_store` client of `bucket`, signing with the server's credentials.
    pub fn store(&self, bucket: &str) -> Arc<dyn object_store::ObjectStore> {
        s3_client(&self.url(), bucket, ACCESS_KEY, SECRET_KEY)
    }
}
