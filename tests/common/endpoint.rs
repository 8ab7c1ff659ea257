//! Endpoints of every kind the tests run on, behind one description: local directories
//! (`file://`), S3 on moto and on s3s-fs (which checks signatures), and Azure Blob on Azurite,
//! each server started on 127.0.0.1 on a free port and stopped by PID when dropped.
//!
//! An [`Endpoint`] hands out fresh [`Place`]s (a URI for a config, and direct access to the
//! same objects behind the tool's back: list, read, write, delete) and the environment the tool
//! needs to reach them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use test_servers::{ACCESS_KEY, Azurite, Moto, S3sFs, SECRET_KEY};

/// The kinds of endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A local directory, `file://`.
    File,
    /// S3 protocol, moto_server.
    Moto,
    /// S3 protocol, s3s-fs (checks signatures).
    S3sFs,
    /// Azure Blob protocol, Azurite.
    Azurite,
}

impl Kind {
    /// Its name in failure messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "file://",
            Kind::Moto => "s3 (moto)",
            Kind::S3sFs => "s3 (s3s-fs)",
            Kind::Azurite => "az (Azurite)",
        }
    }
}

enum Server {
    None,
    Moto(Moto),
    S3sFs(S3sFs),
    Azurite(Azurite),
}

/// One endpoint kind, its server running.
pub struct Endpoint {
    /// Which kind.
    pub kind: Kind,
    server: Server,
    /// Local endpoints and scratch space.
    tmp: tempfile::TempDir,
    rt: Arc<tokio::runtime::Runtime>,
    next: AtomicU32,
}

/// One place objects go: the URI of an endpoint in a config, and a direct client of it.
pub struct Place {
    /// The endpoint URI (ends in `/`).
    pub uri: String,
    access: Access,
    rt: Arc<tokio::runtime::Runtime>,
}

enum Access {
    Local(PathBuf),
    Store(Arc<dyn ObjectStore>, StorePath),
}

/// What identifies one stored version of an object: size, and for local files inode and
/// mtime (ns), for object stores last-modified and ETag.
pub type Identity = String;

impl Endpoint {
    /// Starts the server of `kind` (nothing for `file://`).
    pub fn start(kind: Kind) -> Self {
        let server = match kind {
            Kind::File => Server::None,
            Kind::Moto => Server::Moto(Moto::start()),
            Kind::S3sFs => Server::S3sFs(S3sFs::start()),
            Kind::Azurite => Server::Azurite(Azurite::start()),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Endpoint {
            kind,
            server,
            tmp: tempfile::tempdir().expect("tempdir"),
            rt: Arc::new(rt),
            next: AtomicU32::new(0),
        }
    }

    /// Its name in failure messages.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// True for object stores (their caches live under the cache dir and are pushed/pulled).
    pub fn is_object_store(&self) -> bool {
        self.kind != Kind::File
    }

    /// Environment the tool needs to reach this endpoint (credentials, emulator settings).
    pub fn env(&self) -> Vec<(String, String)> {
        match &self.server {
            Server::None => Vec::new(),
            Server::Moto(_) | Server::S3sFs(_) => vec![
                ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
                ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
                ("AWS_REGION".into(), "us-east-1".into()),
            ],
            Server::Azurite(a) => a.env().into_iter().map(|(k, v)| (k.into(), v)).collect(),
        }
    }

    /// The tool with `backend` and this endpoint's environment.
    pub fn tool(&self, backend: &str) -> super::Sai3 {
        super::Sai3::new(backend).with_env(&self.env())
    }

    /// A fresh scratch directory (configs, cache dirs).
    pub fn scratch(&self) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let dir = self.tmp.path().join(format!("scratch{n}"));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    /// `n` fresh, empty places: in a new bucket or container (object stores; created here),
    /// or under a new local directory (not created: prepare creates endpoint directories).
    pub fn places(&self, n: usize) -> Vec<Place> {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let bucket = format!("sai3-test-{id}");
        match &self.server {
            Server::None => (0..n)
                .map(|e| {
                    let dir = self.tmp.path().join(format!("data{id}/ep{e}"));
                    self.place(format!("file://{}/", dir.display()), Access::Local(dir))
                })
                .collect(),
            Server::Moto(m) => {
                m.create_bucket(&bucket);
                self.prefixes(n, m.store(&bucket), |p| {
                    format!("s3://127.0.0.1:{}/{bucket}/{p}/", m.port)
                })
            }
            Server::S3sFs(s) => {
                s.create_bucket(&bucket);
                self.prefixes(n, s.store(&bucket), |p| {
                    format!("s3://127.0.0.1:{}/{bucket}/{p}/", s.port)
                })
            }
            Server::Azurite(a) => {
                a.create_container(&bucket);
                self.prefixes(n, a.store(&bucket), |p| {
                    format!("az://{}/{bucket}/{p}/", test_servers::AZURITE_ACCOUNT)
                })
            }
        }
    }

    /// The port of its S3 server (moto, s3s-fs), for a proxy in front of it.
    pub fn s3_port(&self) -> Option<u16> {
        match &self.server {
            Server::Moto(m) => Some(m.port),
            Server::S3sFs(s) => Some(s.port),
            Server::None | Server::Azurite(_) => None,
        }
    }

    /// A URI of this object store whose bucket or container does not exist, and the error code
    /// the server answers a request to it with (`None` for `file://`).
    pub fn missing_bucket(&self) -> Option<(String, &'static str)> {
        match &self.server {
            Server::None => None,
            Server::Moto(m) => Some((
                format!("s3://127.0.0.1:{}/no-such-bucket/ep0/", m.port),
                "NoSuchBucket",
            )),
            Server::S3sFs(s) => Some((
                format!("s3://127.0.0.1:{}/no-such-bucket/ep0/", s.port),
                "NoSuchBucket",
            )),
            Server::Azurite(_) => Some((
                format!(
                    "az://{}/no-such-container/ep0/",
                    test_servers::AZURITE_ACCOUNT
                ),
                "ContainerNotFound",
            )),
        }
    }

    fn prefixes(
        &self,
        n: usize,
        store: Arc<dyn ObjectStore>,
        uri: impl Fn(&str) -> String,
    ) -> Vec<Place> {
        (0..n)
            .map(|e| {
                let prefix = format!("ep{e}");
                let access = Access::Store(store.clone(), StorePath::from(prefix.as_str()));
                self.place(uri(&prefix), access)
            })
            .collect()
    }

    fn place(&self, uri: String, access: Access) -> Place {
        Place {
            uri,
            access,
            rt: self.rt.clone(),
        }
    }
}

/// The URIs of `places`.
pub fn uris(places: &[Place]) -> Vec<String> {
    places.iter().map(|p| p.uri.clone()).collect()
}

/// Dataset objects over all `places`.
pub fn count_objects(places: &[Place]) -> usize {
    places.iter().map(|p| p.objects().len()).sum()
}

impl Place {
    /// The local directory of a `file://` place.
    pub fn local_dir(&self) -> Option<&Path> {
        match &self.access {
            Access::Local(d) => Some(d),
            Access::Store(..) => None,
        }
    }

    fn key(&self, rel: &str) -> StorePath {
        match &self.access {
            Access::Local(_) => StorePath::from(rel),
            Access::Store(_, prefix) => StorePath::from(format!("{prefix}/{rel}")),
        }
    }

    /// Every dataset object (`*.dat`, outside `sai3-kv-cache`), by path relative to the place,
    /// with its [`Identity`].
    pub fn objects(&self) -> BTreeMap<String, Identity> {
        match &self.access {
            Access::Local(dir) => {
                use std::os::unix::fs::MetadataExt;
                super::dataset_files(dir)
                    .into_iter()
                    .filter_map(|f| {
                        // A file can vanish while a prepare still runs (temp file renamed).
                        let m = std::fs::metadata(dir.join(&f)).ok()?;
                        let mtime = m.mtime() * 1_000_000_000 + m.mtime_nsec();
                        Some((f, format!("{} {} {mtime}", m.len(), m.ino())))
                    })
                    .collect()
            }
            Access::Store(store, prefix) => {
                let listed: Vec<object_store::ObjectMeta> = self
                    .rt
                    .block_on(store.list(Some(prefix)).try_collect())
                    .expect("list objects");
                let base = format!("{prefix}/");
                listed
                    .into_iter()
                    .filter_map(|m| {
                        let rel = m.location.as_ref().strip_prefix(&base)?.to_owned();
                        let ours = rel.ends_with(".dat")
                            && !rel.split('/').any(|c| c.starts_with("sai3-kv-cache"));
                        ours.then(|| {
                            let id = format!("{} {} {:?}", m.size, m.last_modified, m.e_tag);
                            (rel, id)
                        })
                    })
                    .collect()
            }
        }
    }

    /// Deletes the object at `rel`.
    pub fn delete(&self, rel: &str) {
        match &self.access {
            Access::Local(dir) => std::fs::remove_file(dir.join(rel)).expect("remove file"),
            Access::Store(store, _) => self
                .rt
                .block_on(store.delete(&self.key(rel)))
                .expect("delete object"),
        }
    }

    /// Writes `bytes` at `rel` (replacing what is there; local directories are created).
    pub fn put(&self, rel: &str, bytes: &[u8]) {
        match &self.access {
            Access::Local(dir) => {
                let path = dir.join(rel);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).expect("create directories");
                }
                std::fs::write(path, bytes).expect("write file")
            }
            Access::Store(store, _) => {
                self.rt
                    .block_on(store.put(&self.key(rel), bytes.to_vec().into()))
                    .expect("put object");
            }
        }
    }

    /// Reads the object at `rel`.
    pub fn get(&self, rel: &str) -> Vec<u8> {
        match &self.access {
            Access::Local(dir) => std::fs::read(dir.join(rel)).expect("read file"),
            Access::Store(store, _) => self.rt.block_on(async {
                let got = store.get(&self.key(rel)).await.expect("get object");
                got.bytes().await.expect("object bytes").to_vec()
            }),
        }
    }
}
