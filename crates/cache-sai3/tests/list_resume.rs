//! An interrupted LIST resumes: finished ranges are skipped, an ordered store continues after
//! the last key seen, and nothing is counted twice.

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path as StorePath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use cache_sai3::config::Sai3Config;
use cache_sai3::dataset::Dataset;
use cache_sai3::listing::{Checkpoints, ListCounters, ListProgress, list_endpoint};
use cache_sai3::object_sizes::DatasetSizes;

/// Fails the first LIST of one prefix after 20 keys; counts LIST calls.
#[derive(Debug)]
struct Flaky {
    inner: Arc<dyn ObjectStore>,
    fail_prefix: String,
    armed: AtomicBool,
    lists: AtomicU64,
}

impl fmt::Display for Flaky {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flaky")
    }
}

#[async_trait]
impl ObjectStore for Flaky {
    async fn put_opts(
        &self,
        l: &StorePath,
        p: PutPayload,
        o: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(l, p, o).await
    }
    async fn put_multipart_opts(
        &self,
        l: &StorePath,
        o: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(l, o).await
    }
    async fn get_opts(&self, l: &StorePath, o: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(l, o).await
    }
    async fn get_ranges(
        &self,
        l: &StorePath,
        r: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(l, r).await
    }
    fn delete_stream(
        &self,
        l: BoxStream<'static, object_store::Result<StorePath>>,
    ) -> BoxStream<'static, object_store::Result<StorePath>> {
        self.inner.delete_stream(l)
    }
    fn list(
        &self,
        prefix: Option<&StorePath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        let inner = self.inner.list(prefix);
        let hit = prefix.is_some_and(|p| p.as_ref() == self.fail_prefix);
        if hit && self.armed.swap(false, Ordering::SeqCst) {
            let failure = futures::stream::once(async {
                Err(object_store::Error::Generic {
                    store: "flaky",
                    source: "connection reset".into(),
                })
            });
            return inner.take(20).chain(failure).boxed();
        }
        inner
    }
    fn list_with_offset(
        &self,
        prefix: Option<&StorePath>,
        offset: &StorePath,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list_with_offset(prefix, offset)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&StorePath>,
    ) -> object_store::Result<ListResult> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        f: &StorePath,
        t: &StorePath,
        o: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(f, t, o).await
    }
}

fn dataset() -> Dataset {
    let yaml = "prepare:\n  directory_structure: { width: 4, depth: 1, files_per_dir: 50, dir_mask: \"d%d_w%d.dir\" }\n  ensure_objects: [{ count: 200, size_spec: 10 }]\nmulti_endpoint:\n  endpoints: [\"s3://bucket/x/\"]\nworkload: []\n";
    let cfg = Sai3Config::parse(yaml, Path::new("t.yaml")).expect("config");
    Dataset::from_config(&cfg, Path::new("t.yaml")).expect("dataset")
}

async fn run(ordered: bool) {
    let d = dataset();
    let mem: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    for i in 0..200u64 {
        let path = d.path_of(&d.pools[0], i).expect("path");
        mem.put(&StorePath::from(path.as_str()), vec![0u8; 10].into())
            .await
            .expect("put");
    }
    mem.put(&StorePath::from("sai3-kv-cache/DATASET"), vec![1u8].into())
        .await
        .expect("put");
    mem.put(&StorePath::from("d1_w2.dir/stray.txt"), vec![1u8].into())
        .await
        .expect("put");
    let flaky = Arc::new(Flaky {
        inner: mem,
        fail_prefix: "d1_w3.dir".into(),
        armed: AtomicBool::new(true),
        lists: AtomicU64::new(0),
    });
    let store: Arc<dyn ObjectStore> = flaky.clone();
    let saved: Mutex<Option<ListProgress>> = Mutex::new(None);
    let save = |p: &ListProgress| {
        *saved.lock().expect("lock") = Some(p.clone());
        Ok(())
    };
    // Every object of the dataset is 10 bytes (`size_spec: 10`).
    let seeds = DatasetSizes::new(&d);
    let first = list_endpoint(
        store.clone(),
        &d,
        0,
        &seeds,
        Checkpoints {
            resume: None,
            ordered,
            started_ms: 5,
            save: &save,
        },
        &ListCounters::default(),
    )
    .await;
    assert!(first.is_err(), "the injected failure must surface");
    let progress = saved
        .lock()
        .expect("lock")
        .clone()
        .expect("progress was saved");
    assert!(progress.done.contains(""));
    assert!(!progress.done.contains("d1_w3.dir"));
    if ordered {
        assert!(
            progress.offsets.contains_key("d1_w3.dir"),
            "the interrupted range keeps its last key: {progress:?}"
        );
    }
    // Ranges still running when the failure stopped the LIST are unfinished too.
    let finished_prefixes = progress.done.iter().filter(|r| !r.is_empty()).count() as u64;
    let before = flaky.lists.load(Ordering::SeqCst);
    let counters = ListCounters::default();
    let second = list_endpoint(
        store,
        &d,
        0,
        &seeds,
        Checkpoints {
            resume: Some(progress),
            ordered,
            started_ms: 9,
            save: &save,
        },
        &counters,
    )
    .await
    .expect("resumed LIST");
    let calls = flaky.lists.load(Ordering::SeqCst) - before;
    assert_eq!(
        calls,
        1 + (4 - finished_prefixes),
        "one delimiter LIST and the unfinished ranges only"
    );
    assert_eq!(
        second.resumed_ranges,
        1 + finished_prefixes,
        "root and finished prefixes skipped"
    );
    let [keys, ranges_done, ranges_total] = counters.snapshot();
    assert_eq!(keys, second.keys_read, "the counters follow the keys read");
    assert_eq!(
        (ranges_done, ranges_total),
        (5, 5),
        "the root and four prefixes, the resumed ones included"
    );
    if ordered {
        assert!(
            second.keys_read <= 201 - 20,
            "the 20 keys merged before the failure are not read again: {}",
            second.keys_read
        );
    }
    assert_eq!(second.listing.present[0].len(), 200);
    assert_eq!(
        second.listing.listed, 201,
        "200 objects and one stray key, none counted twice"
    );
    assert_eq!(second.listing.other_keys, 1);
    assert_eq!(
        second.listing.other_key_samples,
        vec!["d1_w2.dir/stray.txt".to_string()]
    );
    assert_eq!(
        saved.lock().expect("lock").as_ref().map(|p| p.started_ms),
        Some(5),
        "a resumed LIST keeps its start"
    );
}

#[tokio::test]
async fn ordered_store_resumes_inside_the_interrupted_range() {
    run(true).await;
}

#[tokio::test]
async fn unordered_store_restarts_only_the_interrupted_range() {
    run(false).await;
}
