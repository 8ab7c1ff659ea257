//! The saved progress of an interrupted LIST on both backends: saved in steps (only grown
//! chunks are written again), loaded whole, and cleared without leftovers.

use std::path::Path;

use cache_core::Database;
use cache_sai3::caches::listings::SavedChunks;
use cache_sai3::caches::{EndpointCache, PRESENCE_CHUNK};
use cache_sai3::config::Sai3Config;
use cache_sai3::dataset::Dataset;
use cache_sai3::listing::{ListProgress, Listing};
use roaring::RoaringTreemap;

/// A flat dataset of `n` objects on one S3 endpoint.
fn dataset(n: u64) -> Dataset {
    let yaml = format!(
        "prepare:\n  ensure_objects:\n    - base_uri: s3://bucket/progress/\n      count: {n}\n      \
         size_spec: 100\n      fill: zero\nworkload: []\n"
    );
    let config = Sai3Config::parse(&yaml, Path::new("progress.yaml")).expect("config");
    Dataset::from_config(&config, Path::new("progress.yaml")).expect("dataset")
}

/// Progress of a LIST that found `indices` of pool `pool`.
fn progress(d: &Dataset, indices: impl IntoIterator<Item = u64>, done: &[&str]) -> ListProgress {
    let mut listing = Listing::empty(d.pool_id_limit());
    listing.present[d.pools[0].id as usize] = indices.into_iter().collect::<RoaringTreemap>();
    listing.listed = listing.present.iter().map(RoaringTreemap::len).sum();
    listing.other_keys = 3;
    listing.other_key_samples = vec!["not-ours.txt".to_owned()];
    ListProgress {
        listing,
        started_ms: 1_000,
        done: done.iter().map(|s| (*s).to_owned()).collect(),
        offsets: [("02".to_owned(), "02/last-key".to_owned())].into(),
    }
}

fn saved_in_steps_and_loaded_whole<D: Database>() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dataset(5 * PRESENCE_CHUNK);
    let c = PRESENCE_CHUNK;
    let first = progress(&d, (0..100).chain(2 * c..2 * c + 10), &["00"]);
    let second = progress(
        &d,
        (0..100)
            .chain(2 * c..2 * c + 500)
            .chain(4 * c + 3..4 * c + 9),
        &["00", "01"],
    );
    {
        let cache = EndpointCache::<D>::open(dir.path(), true).expect("open");
        assert_eq!(cache.list_progress(&d).expect("read"), None);
        let mut saved = SavedChunks::default();
        cache
            .save_list_progress(&d, &first, &mut saved)
            .expect("save");
        assert_eq!(cache.list_progress(&d).expect("read"), Some(first.clone()));
        cache
            .save_list_progress(&d, &second, &mut saved)
            .expect("save");
    }
    let cache = EndpointCache::<D>::open(dir.path(), false).expect("reopen");
    let loaded = cache.list_progress(&d).expect("read").expect("saved");
    assert_eq!(loaded, second);
    // Resumed: nothing grew, so a save with a fresh record of what is stored keeps it whole.
    let mut saved = SavedChunks::of(&loaded);
    cache
        .save_list_progress(&d, &loaded, &mut saved)
        .expect("save");
    assert_eq!(cache.list_progress(&d).expect("read"), Some(second));
    // Another dataset's progress is not this one's.
    assert_eq!(cache.list_progress(&dataset(7)).expect("read"), None);
}

fn cleared_without_leftovers<D: Database>() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dataset(3 * PRESENCE_CHUNK);
    let cache = EndpointCache::<D>::open(dir.path(), true).expect("open");
    let big = progress(&d, 0..3 * PRESENCE_CHUNK, &[]);
    cache
        .save_list_progress(&d, &big, &mut SavedChunks::default())
        .expect("save");
    cache.clear_list_progress(&d).expect("clear");
    assert_eq!(cache.list_progress(&d).expect("read"), None);
    // A new LIST's progress holds only what it found, none of the cleared chunks.
    let small = progress(&d, [5, PRESENCE_CHUNK + 1], &[]);
    cache
        .save_list_progress(&d, &small, &mut SavedChunks::default())
        .expect("save");
    assert_eq!(cache.list_progress(&d).expect("read"), Some(small));
}

macro_rules! on_both {
    ($($name:ident),*) => {
        mod fjall {
            $(#[test] fn $name() { super::$name::<cache_fjall::FjallDatabase>(); })*
        }
        mod redb {
            $(#[test] fn $name() { super::$name::<cache_redb::RedbDatabase>(); })*
        }
    };
}

on_both!(saved_in_steps_and_loaded_whole, cleared_without_leftovers);
