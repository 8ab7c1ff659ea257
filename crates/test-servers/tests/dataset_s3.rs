//! The dataset-shaped S3 server through `object_store`'s real S3 client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion,
    WriteMultipart,
};
use roaring::RoaringTreemap;
use test_servers::{
    DatasetS3, FlatObjects, S3Server, SyntheticObjects, ascending_keys_after, full_presence,
    presence_with_gaps, synthetic_content,
};

/// Keys `dir{d:03}/obj-{i:08}`: `dirs` directories of `per_dir` objects of `size` bytes.
struct Nested {
    dirs: u64,
    per_dir: u64,
    size: u64,
}

impl SyntheticObjects for Nested {
    fn len(&self) -> u64 {
        self.dirs * self.per_dir
    }
    fn index_of(&self, key: &str) -> Option<u64> {
        let (dir, name) = key.strip_prefix("dir")?.split_once("/obj-")?;
        if dir.len() != 3 || name.len() != 8 {
            return None;
        }
        let (d, i): (u64, u64) = (dir.parse().ok()?, name.parse().ok()?);
        (d < self.dirs && i < self.per_dir).then_some(d * self.per_dir + i)
    }
    fn key_of(&self, index: u64) -> String {
        let (d, i) = (index / self.per_dir, index % self.per_dir);
        format!("dir{d:03}/obj-{i:08}")
    }
    fn size_of(&self, index: u64) -> u64 {
        self.size + index % 3
    }
    fn keys_after(
        &self,
        after: Option<&str>,
    ) -> Box<dyn Iterator<Item = (u64, String)> + Send + '_> {
        ascending_keys_after(self, after)
    }
    fn keys_ascend_with_index(&self) -> bool {
        true
    }
}

/// The same keys without the ordering hint: LIST takes the general path over `keys_after`.
struct Unhinted(FlatObjects);

impl SyntheticObjects for Unhinted {
    fn len(&self) -> u64 {
        self.0.len()
    }
    fn index_of(&self, key: &str) -> Option<u64> {
        self.0.index_of(key)
    }
    fn key_of(&self, index: u64) -> String {
        self.0.key_of(index)
    }
    fn size_of(&self, index: u64) -> u64 {
        self.0.size_of(index)
    }
    fn keys_after(
        &self,
        after: Option<&str>,
    ) -> Box<dyn Iterator<Item = (u64, String)> + Send + '_> {
        self.0.keys_after(after)
    }
}

fn present_keys(objects: &dyn SyntheticObjects, presence: &RoaringTreemap) -> Vec<String> {
    presence.iter().map(|i| objects.key_of(i)).collect()
}

async fn list_all(store: &dyn ObjectStore, prefix: Option<&str>) -> Vec<(String, u64)> {
    let prefix = prefix.map(Path::from);
    store
        .list(prefix.as_ref())
        .map_ok(|m| (m.location.to_string(), m.size))
        .try_collect()
        .await
        .expect("list")
}

#[tokio::test]
async fn lists_a_million_objects_with_gaps_in_pages_of_1000() {
    const N: u64 = 1_000_000;
    let flat = Arc::new(FlatObjects::new("data/", N, 4096));
    let presence = presence_with_gaps(N, 0.01, 42);
    let server = DatasetS3::builder()
        .synthetic("dataset", flat.clone(), presence.clone())
        .start();
    let store = server.store("dataset");

    let started = Instant::now();
    let listed = list_all(&*store, None).await;
    let elapsed = started.elapsed();
    eprintln!("LIST of {} keys: {elapsed:?}", listed.len());

    let expected = present_keys(&*flat, &presence);
    assert!(expected.len() < 995_000 && expected.len() > 985_000);
    assert_eq!(listed.len(), expected.len());
    assert!(listed.iter().zip(&expected).all(|((k, _), e)| k == e));
    assert!(listed.iter().all(|(_, size)| *size == 4096));
    let stats = server.stats();
    assert_eq!(stats.list_pages, expected.len().div_ceil(1000) as u64);
    assert_eq!(stats.list_keys, expected.len() as u64);
}

fn nested_server() -> (DatasetS3, Arc<Nested>, Arc<FlatObjects>) {
    let nested = Arc::new(Nested {
        dirs: 100,
        per_dir: 1000,
        size: 10,
    });
    let flat = Arc::new(FlatObjects::new("flat/", 2500, 7));
    let server = DatasetS3::builder()
        .synthetic("dataset", nested.clone(), full_presence(100_000))
        .synthetic("dataset", flat.clone(), presence_with_gaps(2500, 0.1, 1))
        .start();
    (server, nested, flat)
}

async fn put_real(store: &dyn ObjectStore, key: &str, data: &'static [u8]) {
    store.put(&Path::from(key), data.into()).await.expect("put");
}

#[tokio::test]
async fn lists_by_prefix_delimiter_and_offset_across_sets_and_real_objects() {
    let (server, nested, flat) = nested_server();
    let store = server.store("dataset");
    put_real(&*store, "top.txt", b"top").await;
    put_real(&*store, "dir005/zz-real", b"real").await;

    let flat_keys = present_keys(&*flat, &server.presence("dataset", 1));
    let listed = list_all(&*store, Some("flat")).await;
    assert_eq!(
        listed.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        flat_keys.iter().collect::<Vec<_>>()
    );

    server.reset_stats();
    let root = store.list_with_delimiter(None).await.expect("list");
    let mut expected: Vec<String> = (0..100).map(|d| format!("dir{d:03}")).collect();
    expected.push("flat".to_owned());
    let prefixes: Vec<String> = root
        .common_prefixes
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(prefixes, expected);
    let objects: Vec<String> = root
        .objects
        .iter()
        .map(|m| m.location.to_string())
        .collect();
    assert_eq!(objects, ["top.txt"]);
    assert_eq!(server.stats().list_pages, 1);
    assert_eq!(server.stats().list_common_prefixes, 101);

    let dir5 = store
        .list_with_delimiter(Some(&Path::from("dir005")))
        .await
        .expect("list");
    assert!(dir5.common_prefixes.is_empty());
    assert_eq!(dir5.objects.len(), 1001);
    assert_eq!(dir5.objects[1000].location.as_ref(), "dir005/zz-real");
    assert_eq!(dir5.objects[7].size, nested.size_of(5007));

    let offset = Path::from("dir005/obj-00000500");
    let after: Vec<String> = store
        .list_with_offset(Some(&Path::from("dir005")), &offset)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .expect("list");
    assert_eq!(after.len(), 500);
    assert_eq!(after[0], "dir005/obj-00000501");
    assert_eq!(after[499], "dir005/zz-real");
}

#[tokio::test]
async fn general_path_lists_like_the_ascending_one() {
    let presence = presence_with_gaps(5000, 0.2, 3);
    let server = DatasetS3::builder()
        .synthetic(
            "set-a",
            Arc::new(FlatObjects::new("p/", 5000, 1)),
            presence.clone(),
        )
        .synthetic(
            "set-b",
            Arc::new(Unhinted(FlatObjects::new("p/", 5000, 1))),
            presence,
        )
        .start();
    let (a, b) = (server.store("set-a"), server.store("set-b"));
    assert_eq!(
        list_all(&*a, Some("p")).await,
        list_all(&*b, Some("p")).await
    );
    let offset = Path::from("p/obj-00004000");
    let count = |s: Arc<dyn ObjectStore>| {
        let offset = offset.clone();
        async move { s.list_with_offset(None, &offset).count().await }
    };
    assert_eq!(count(a).await, count(b).await);
}

#[tokio::test]
async fn gets_and_heads_synthetic_objects() {
    let flat = Arc::new(FlatObjects::new("data/", 100, 200_000));
    let mut presence = full_presence(100);
    presence.remove(13);
    let server = DatasetS3::builder()
        .synthetic("dataset", flat.clone(), presence)
        .start();
    let store = server.store("dataset");
    let key = Path::from("data/obj-00000042");

    let all = store
        .get(&key)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    assert_eq!(&all[..], &synthetic_content(42, 0..200_000)[..]);
    let part = store.get_range(&key, 10..100_000).await.expect("range");
    assert_eq!(&part[..], &synthetic_content(42, 10..100_000)[..]);
    for (range, bytes) in [
        (GetRange::Suffix(1000), 199_000..200_000),
        (GetRange::Offset(150_000), 150_000..200_000),
    ] {
        let opts = GetOptions::new().with_range(Some(range));
        let got = store.get_opts(&key, opts).await.expect("get").bytes().await;
        assert_eq!(&got.expect("body")[..], &synthetic_content(42, bytes)[..]);
    }
    let head = store.head(&key).await.expect("head");
    assert_eq!(head.size, 200_000);
    assert!(head.e_tag.is_some());

    for absent in ["data/obj-00000013", "data/obj-00000100", "nothing"] {
        let err = store.head(&Path::from(absent)).await.expect_err(absent);
        assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");
        let err = store.get(&Path::from(absent)).await.expect_err(absent);
        assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");
    }
}

#[tokio::test]
async fn puts_set_bits_and_store_other_keys() {
    let flat = Arc::new(FlatObjects::new("data/", 10, 100));
    let server = DatasetS3::builder()
        .synthetic("dataset", flat.clone(), RoaringTreemap::new())
        .start();
    let store = server.store("dataset");

    let key = Path::from("data/obj-00000003");
    store.put(&key, vec![0u8; 100].into()).await.expect("put");
    assert!(server.presence("dataset", 0).contains(3));
    let back = store
        .get(&key)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    assert_eq!(&back[..], &synthetic_content(3, 0..100)[..]);

    let other = Path::from("sync/manifest.json");
    store
        .put(&other, b"{\"v\":1}".to_vec().into())
        .await
        .expect("put");
    let back = store
        .get(&other)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    assert_eq!(&back[..], b"{\"v\":1}");

    // A synthetic key written with another size is kept for real, its bit cleared.
    let odd = Path::from("data/obj-00000004");
    store
        .put(&odd, b"short".to_vec().into())
        .await
        .expect("put");
    assert!(!server.presence("dataset", 0).contains(4));
    let back = store
        .get(&odd)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    assert_eq!(&back[..], b"short");
    assert_eq!(server.stats().put, 3);
}

#[tokio::test]
async fn conditional_puts_follow_etags() {
    let server = DatasetS3::builder()
        .synthetic(
            "dataset",
            Arc::new(FlatObjects::new("data/", 10, 100)),
            full_presence(5),
        )
        .start();
    let store = server.store("dataset");
    let create = || PutOptions::from(PutMode::Create);

    for existing in ["data/obj-00000001", "sync/lock"] {
        let path = Path::from(existing);
        if existing == "sync/lock" {
            store
                .put_opts(&path, b"1".to_vec().into(), create())
                .await
                .expect("create");
        }
        let err = store.put_opts(&path, vec![0u8; 100].into(), create()).await;
        assert!(
            matches!(err, Err(object_store::Error::AlreadyExists { .. })),
            "{err:?}"
        );
    }
    store
        .put_opts(
            &Path::from("data/obj-00000007"),
            vec![0u8; 100].into(),
            create(),
        )
        .await
        .expect("create a missing synthetic object");
    assert!(server.presence("dataset", 0).contains(7));

    let path = Path::from("sync/lock");
    let meta = store.head(&path).await.expect("head");
    let version = UpdateVersion {
        e_tag: meta.e_tag.clone(),
        version: None,
    };
    let update = PutOptions::from(PutMode::Update(version.clone()));
    store
        .put_opts(&path, b"2".to_vec().into(), update)
        .await
        .expect("update");
    let stale = PutOptions::from(PutMode::Update(version));
    let err = store.put_opts(&path, b"3".to_vec().into(), stale).await;
    assert!(
        matches!(err, Err(object_store::Error::Precondition { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn multipart_upload_round_trips_12_mib() {
    let server = DatasetS3::builder().bucket("dataset").start();
    let store = server.store("dataset");
    let data: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let path = Path::from("big/blob.bin");
    let upload = store.put_multipart(&path).await.expect("create upload");
    let mut writer = WriteMultipart::new(upload);
    for chunk in data.chunks(1024 * 1024) {
        writer.write(chunk);
    }
    writer.finish().await.expect("complete");
    let back = store
        .get(&path)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    assert_eq!(back.len(), data.len());
    assert!(back[..] == data[..]);
    let stats = server.stats();
    assert_eq!(stats.multipart_create, 1);
    assert!(stats.multipart_parts >= 3, "{stats:?}");
    assert_eq!(stats.multipart_complete, 1);
}

#[tokio::test]
async fn deletes_clear_bits_and_objects() {
    let server = DatasetS3::builder()
        .synthetic(
            "dataset",
            Arc::new(FlatObjects::new("data/", 100, 10)),
            full_presence(100),
        )
        .start();
    let store = server.store("dataset");
    put_real(&*store, "notes/a", b"a").await;

    store
        .delete(&Path::from("data/obj-00000009"))
        .await
        .expect("delete");
    store.delete(&Path::from("notes/a")).await.expect("delete");
    assert!(!server.presence("dataset", 0).contains(9));
    let err = store
        .get(&Path::from("notes/a"))
        .await
        .expect_err("deleted");
    assert!(matches!(err, object_store::Error::NotFound { .. }));

    let batch = (20..30).map(|i| Ok(Path::from(format!("data/obj-{i:08}"))));
    let deleted: Vec<Path> = store
        .delete_stream(futures::stream::iter(batch).boxed())
        .try_collect()
        .await
        .expect("batch delete");
    assert_eq!(deleted.len(), 10);
    assert_eq!(server.presence("dataset", 0).len(), 89);
    // object_store sends even a single delete as a DeleteObjects batch.
    let stats = server.stats();
    assert_eq!(stats.delete + stats.delete_batch_keys, 12, "{stats:?}");
    assert!(stats.delete_batch >= 1, "{stats:?}");
    assert_eq!(list_all(&*store, None).await.len(), 89);
}

#[tokio::test]
async fn latency_is_waited_before_each_response() {
    let server = DatasetS3::builder()
        .synthetic(
            "dataset",
            Arc::new(FlatObjects::new("", 10, 1)),
            full_presence(10),
        )
        .latency(Duration::from_millis(50))
        .start();
    let store = server.store("dataset");
    let started = Instant::now();
    for i in 0..5 {
        store
            .head(&Path::from(format!("obj-{i:08}")))
            .await
            .expect("head");
    }
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn holds_64m_objects_in_a_small_bitmap() {
    const N: u64 = 64 * 1024 * 1024;
    let server = DatasetS3::builder()
        .synthetic(
            "dataset",
            Arc::new(FlatObjects::new("data/", N, 1 << 30)),
            full_presence(N),
        )
        .start();
    let presence = server.presence("dataset", 0);
    assert_eq!(presence.len(), N);
    assert!(
        presence.serialized_size() < 1_000_000,
        "{}",
        presence.serialized_size()
    );

    let store = server.store("dataset");
    let last = Path::from(format!("data/obj-{:08}", N - 1));
    assert_eq!(store.head(&last).await.expect("head").size, 1 << 30);
    let tail = store
        .get_range(&last, (1 << 30) - 10..1 << 30)
        .await
        .expect("range");
    assert_eq!(
        &tail[..],
        &synthetic_content(N - 1, (1 << 30) - 10..1 << 30)[..]
    );
    let near_end = Path::from(format!("data/obj-{:08}", N - 5));
    let rest = store.list_with_offset(None, &near_end).count().await;
    assert_eq!(rest, 4);
}

#[tokio::test]
async fn refuses_a_wrong_signature_and_unknown_buckets() {
    let server = DatasetS3::builder()
        .synthetic(
            "dataset",
            Arc::new(FlatObjects::new("", 10, 1)),
            full_presence(10),
        )
        .start();
    let forged =
        server.store_with_credentials("dataset", test_servers::ACCESS_KEY, "not-the-secret");
    let key = Path::from("obj-00000001");
    let err = forged.head(&key).await;
    assert!(
        matches!(err, Err(object_store::Error::PermissionDenied { .. })),
        "{err:?}"
    );
    server
        .store("dataset")
        .head(&key)
        .await
        .expect("signed right");
    let err = forged.list(None).try_collect::<Vec<_>>().await;
    assert!(err.is_err());

    let missing = server.store("nope-bucket");
    assert!(missing.list(None).try_collect::<Vec<_>>().await.is_err());
    S3Server::create_bucket(&server, "nope-bucket");
    put_real(&*missing, "x", b"x").await;
    assert_eq!(list_all(&*missing, None).await, [("x".to_owned(), 1)]);
}

#[test]
fn stops_on_drop() {
    let server = DatasetS3::builder().bucket("dataset").start();
    let port = server.port();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(server);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
