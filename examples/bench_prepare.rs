//! A benchmark's prepare loop on the public API of sai3-cache, as sai3-bench's would use it:
//! open the cache for a config, ask which objects are missing, write them through
//! `object_store`, record each (in flight before its PUT, created or failed after), checkpoint,
//! seal; then a second run that finds everything present without writing or listing anything.
//!
//! `cargo run --example bench_prepare [DIR]` (default: a temporary directory). It exits
//! non-zero when the second run finds anything missing.

use std::path::Path;

use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;
use sai3_cache::MetadataCache;
use sai3_cache::cache_sai3::Sai3Error;

/// Objects written at the same time.
const CONCURRENCY: usize = 16;
/// Objects per checkpoint (recorded in flight together before their PUTs start).
const CHUNK: usize = 500;

/// A sai3-bench config: 2,000 objects of 1 KiB in a 4 x 2 tree on two local endpoints.
fn write_config(dir: &Path) -> std::io::Result<std::path::PathBuf> {
    let data = dir.join("data");
    let yaml = format!(
        "prepare:
  prepare_strategy: parallel
  directory_structure: {{ width: 4, depth: 2, files_per_dir: 125 }}
  ensure_objects:
    - {{ count: 2000, size_spec: 1024, fill: random }}
multi_endpoint:
  endpoints:
    - \"file://{d}/ep0/\"
    - \"file://{d}/ep1/\"
workload:
  - {{ op: get, path: \"*\", weight: 100 }}
",
        d = data.display()
    );
    let path = dir.join("bench.yaml");
    std::fs::create_dir_all(dir)?;
    std::fs::write(&path, yaml)?;
    Ok(path)
}

/// One prepare: returns (objects written, objects found present).
async fn prepare(config: &Path, cache_dir: &Path) -> Result<(u64, u64), Sai3Error> {
    let cache = MetadataCache::open(config, None, cache_dir).await?;
    let known: u64 = cache.knowledge()?.iter().map(|k| k.present).sum();
    let mut written = 0;
    for missing in cache.missing()? {
        let store = cache.store(missing.shard)?;
        let mut recorder = cache.recorder(missing.shard)?;
        let indices: Vec<u64> = missing.indices.iter().collect();
        for chunk in indices.chunks(CHUNK) {
            for &i in chunk {
                recorder.started(missing.pool, i);
            }
            recorder.checkpoint()?;
            let mut puts = futures::stream::iter(chunk.iter().map(|&i| {
                let cache = &cache;
                let store = store.clone();
                async move {
                    let object = cache.locate(missing.pool, i)?.ok_or_else(|| gone(i))?;
                    let body = cache.content(missing.shard, missing.pool, i)?;
                    let path = StorePath::from(object.location.path.as_str());
                    let put = store.put(&path, body.into()).await;
                    Ok::<_, Sai3Error>((i, object.size, put))
                }
            }))
            .buffer_unordered(CONCURRENCY);
            while let Some(done) = puts.next().await {
                match done? {
                    (i, _, Ok(_)) => {
                        recorder.created(missing.pool, i)?;
                        written += 1;
                    }
                    (i, size, Err(e)) => recorder.failed(missing.pool, i, size, &e.to_string())?,
                }
            }
        }
        recorder.checkpoint()?;
    }
    let sealed = cache.seal().await?;
    println!(
        "prepare: {known} objects known present, {written} written, {} of {} shards sealed",
        sealed.iter().filter(|s| **s).count(),
        sealed.len()
    );
    Ok((written, known))
}

fn gone(index: u64) -> Sai3Error {
    Sai3Error::Endpoint {
        endpoint: "(example)".into(),
        reason: format!("object {index} is not in the dataset"),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = match std::env::args_os().nth(1) {
        Some(d) => std::path::PathBuf::from(d),
        None => tmp.path().to_owned(),
    };
    let config = write_config(&dir)?;
    let cache_dir = dir.join("cache");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (written, _) = runtime.block_on(prepare(&config, &cache_dir))?;
    let (again, present) = runtime.block_on(prepare(&config, &cache_dir))?;
    if again != 0 || present != 2_000 {
        return Err(format!(
            "the second run wrote {again} objects and found {present} present (wrote {written} \
             the first time): expected 0 and 2000"
        )
        .into());
    }
    println!("second run: all 2000 objects known present, nothing written");
    Ok(())
}
