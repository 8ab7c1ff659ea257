//! Opening directories that are not this backend's cache.

use std::fs;
use std::path::Path;

use super::{fresh, small_options};
use crate::database::{Database, Durability, OpenOptions};
use crate::error::{Error, ErrorKind};
use crate::framed::{FrameSettings, FramedKeyspace};
use crate::marker::{FORMAT_VERSION, FormatMarker, MARKER_FILE, force_marker};

fn open_err<D: Database>(path: &Path, options: &OpenOptions) -> Error {
    match D::open(path, options) {
        Ok(_) => panic!(
            "{} opened {} but must refuse it",
            D::BACKEND,
            path.display()
        ),
        Err(e) => e,
    }
}

/// A directory marked as another backend's cache is refused, naming both and the path.
pub fn refuses_other_backend_directory<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let path = db.path().to_owned();
    drop(db);
    force_marker(
        &path,
        &FormatMarker {
            backend: "other-engine".into(),
            format: FORMAT_VERSION,
        },
    )
    .expect("marker");
    let e = open_err::<D>(&path, &small_options());
    assert!(matches!(e, Error::WrongBackend { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::WrongFormat, "{e}");
    assert!(
        !e.is_corruption(),
        "another backend's cache is not damage: {e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("other-engine") && msg.contains(D::BACKEND),
        "{msg}"
    );
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

/// A non-empty directory without a marker is refused and left untouched.
pub fn refuses_garbage_directory<D: Database>() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("junk");
    fs::create_dir_all(path.join("sub")).expect("mkdir");
    fs::write(path.join("data.bin"), [0xde, 0xad, 0xbe, 0xef]).expect("write");
    let e = open_err::<D>(&path, &small_options());
    assert!(matches!(e, Error::NotACache { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::NotACache, "{e}");
    assert!(!e.is_corruption(), "a foreign directory is not damage: {e}");
    let msg = e.to_string();
    assert!(
        msg.contains(D::BACKEND) && msg.contains(&path.display().to_string()),
        "{msg}"
    );
    assert!(
        !path.join(MARKER_FILE).exists(),
        "a refused directory must not be claimed"
    );
    assert_eq!(
        fs::read(path.join("data.bin")).expect("read"),
        [0xde, 0xad, 0xbe, 0xef]
    );
    // A plain file where the directory should be.
    let file = tmp.path().join("file");
    fs::write(&file, b"x").expect("write");
    assert!(matches!(
        open_err::<D>(&file, &small_options()),
        Error::NotACache { .. }
    ));
}

/// A cache written by a newer format version is refused.
pub fn refuses_newer_format<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let path = db.path().to_owned();
    drop(db);
    force_marker(
        &path,
        &FormatMarker {
            backend: D::BACKEND.into(),
            format: FORMAT_VERSION + 1,
        },
    )
    .expect("marker");
    let e = open_err::<D>(&path, &small_options());
    assert!(matches!(e, Error::FormatTooNew { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::WrongFormat, "{e}");
}

/// Without `create_if_missing`, a missing or empty directory is an error, not a new cache.
pub fn refuses_missing_database_without_create<D: Database>() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let no_create = OpenOptions {
        create_if_missing: false,
        ..small_options()
    };
    let missing = tmp.path().join("missing");
    assert!(matches!(
        open_err::<D>(&missing, &no_create),
        Error::NotACache { .. }
    ));
    assert!(!missing.exists());
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).expect("mkdir");
    assert!(matches!(
        open_err::<D>(&empty, &no_create),
        Error::NotACache { .. }
    ));
}

fn scribble(dir: &Path, seed: &mut u64) {
    for entry in fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            scribble(&p, seed);
        } else if p.file_name().is_some_and(|n| n != MARKER_FILE) {
            let len = fs::metadata(&p).map(|m| m.len()).unwrap_or(0) as usize;
            let junk = super::framed::noise(len.max(16), *seed);
            *seed += 1;
            fs::write(&p, junk).expect("scribble");
        }
    }
}

/// With every engine file overwritten by garbage, opening fails with an error (no panic) that
/// names the directory and does not claim the cache is in use, or, if the engine opens, reads
/// return the stored values, nothing, or errors, never other data.
pub fn damaged_engine_files_are_errors_not_wrong_data<D: Database>() {
    let (_dir, db) = fresh::<D>();
    let path = db.path().to_owned();
    let fk = FramedKeyspace::open(&db, "objects", FrameSettings::default()).expect("open");
    for i in 0..200u64 {
        fk.insert(
            &i.to_be_bytes(),
            format!("value-{i}").as_bytes(),
            Durability::Buffered,
        )
        .expect("insert");
    }
    db.persist(Durability::Synced).expect("persist");
    drop((fk, db));
    scribble(&path, &mut 99);
    let db = match D::open(&path, &small_options()) {
        Err(e) => {
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            assert_ne!(e.kind(), ErrorKind::InUse, "{e}");
            return;
        }
        Ok(db) => db,
    };
    let Ok(fk) = FramedKeyspace::open(&db, "objects", FrameSettings::default()) else {
        return;
    };
    for i in 0..200u64 {
        if let Ok(Some(v)) = fk.get(&i.to_be_bytes()) {
            assert_eq!(
                v,
                format!("value-{i}").into_bytes(),
                "wrong data for key {i}"
            );
        }
    }
}
