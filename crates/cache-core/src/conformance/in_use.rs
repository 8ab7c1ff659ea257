//! A cache in use is not a damaged cache: a second open of a directory that is open elsewhere
//! (another process, or another handle in this one) fails with [`ErrorKind::InUse`] naming the
//! directory, touches nothing, and leaves the first user's data and handle working.
//!
//! The other-process behaviour re-runs the test binary as a child (selected by
//! [`CHILD_ENV`](super::CHILD_ENV)) that tries to open the parent's open database and prints
//! what it got on one line of its stdout.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{CHILD_ENV, all_keys, child_command, k, reopen, small_options};
use crate::database::{Database, Durability, Keyspace, OpenOptions, WriteBatch};
use crate::error::{Error, ErrorKind};

/// Keys written before the second open.
const KEPT: u64 = 500;

/// How long the child may take to answer before the test fails (it must not wait for the lock).
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

/// Prefix of the child's report line on its stdout.
const REPORT: &str = "IN-USE-CHILD-REPORT\t";

fn value(i: u64) -> Vec<u8> {
    format!("kept-{i}").into_bytes()
}

/// Writes the data the second open must not disturb.
fn write_kept<D: Database>(db: &D) {
    let ks = db.keyspace("kept").expect("keyspace");
    let mut batch = db.batch();
    for i in 0..KEPT {
        batch.insert(&ks, &k(i), &value(i));
    }
    batch.commit(Durability::Flushed).expect("commit");
}

/// Checks the kept data, plus `extra` written after the second open.
fn check_kept<D: Database>(db: &D, extra: bool) {
    let ks = db.keyspace("kept").expect("keyspace");
    let keys = all_keys(&ks);
    assert_eq!(keys.len() as u64, KEPT + u64::from(extra), "keys of `kept`");
    for i in 0..KEPT {
        assert_eq!(ks.get(&k(i)).expect("get"), Some(value(i)), "key {i}");
    }
    if extra {
        assert_eq!(
            ks.get(b"after").expect("get"),
            Some(b"still writable".to_vec())
        );
    }
}

/// The first handle keeps working after a refused second open: reads its data, writes more.
fn first_handle_still_works<D: Database>(db: &D) {
    check_kept(db, false);
    let ks = db.keyspace("kept").expect("keyspace");
    let mut batch = db.batch();
    batch.insert(&ks, b"after", b"still writable");
    batch
        .commit(Durability::Flushed)
        .expect("the first handle still writes");
    check_kept(db, true);
}

fn assert_in_use(kind: ErrorKind, msg: &str, path: &Path, backend: &str, who: &str) {
    assert_eq!(
        kind,
        ErrorKind::InUse,
        "{who}: {backend} must report an open cache as in use, not as {kind:?}: {msg}"
    );
    assert!(
        msg.contains(&path.display().to_string()),
        "{who}: the message must name the directory {}: {msg}",
        path.display()
    );
}

/// A second open in the same process, while the first handle is open, is refused as in use
/// (with and without `create_if_missing`), never as damage; the first handle keeps its data and
/// keeps writing, and once it is closed the directory opens again with everything in it.
pub fn second_open_in_same_process_is_in_use<D: Database>() {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let path = tmp.path().join("db");
    let db = D::open(&path, &small_options()).expect("open");
    write_kept(&db);
    let no_create = OpenOptions {
        create_if_missing: false,
        ..small_options()
    };
    for options in [small_options(), no_create] {
        let e = match D::open(&path, &options) {
            Ok(_) => panic!(
                "{} opened {} a second time while it was open",
                D::BACKEND,
                path.display()
            ),
            Err(e) => e,
        };
        assert!(matches!(e, Error::InUse { .. }), "{e}");
        assert_in_use(e.kind(), &e.to_string(), &path, D::BACKEND, "same process");
        assert!(!e.is_corruption(), "{e}");
    }
    first_handle_still_works(&db);
    drop(db);
    let db = reopen::<D>(&path);
    check_kept(&db, true);
}

/// A second process that opens a directory this process has open gets an error of kind
/// [`ErrorKind::InUse`] naming the directory, at once (it does not wait for the lock); the
/// parent's data and handle are untouched, and after the parent closes, a fresh open succeeds
/// with the data intact.
///
/// `module_path` and `name` identify the `#[test]` that called this (so the child runs exactly
/// that test); the conformance macro passes them.
pub fn second_process_open_is_in_use<D: Database>(module_path: &str, name: &str) {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let Some((behaviour, dir)) = spec.split_once('=') else {
            panic!("malformed {CHILD_ENV}={spec}");
        };
        if behaviour == name {
            child_reports_open::<D>(&PathBuf::from(dir));
        }
        return;
    }
    let tmp = tempfile::tempdir().expect("temporary directory");
    let path = tmp.path().join("db");
    let db = D::open(&path, &small_options()).expect("open");
    write_kept(&db);

    let report = run_child(module_path, name, &path, tmp.path());
    let line = report
        .lines()
        .find_map(|l| l.split_once(REPORT).map(|(_, report)| report))
        .unwrap_or_else(|| panic!("the child printed no report; its stdout:\n{report}"));
    let (kind, msg) = line.split_once('\t').unwrap_or((line, ""));
    assert_ne!(
        kind,
        "opened",
        "{} let a second process open {} while it was open",
        D::BACKEND,
        path.display()
    );
    let kind = parse_kind(kind).unwrap_or_else(|| panic!("child reported {line}"));
    assert_in_use(kind, msg, &path, D::BACKEND, "second process");

    first_handle_still_works(&db);
    drop(db);
    let db = reopen::<D>(&path);
    check_kept(&db, true);
}

/// In the child: tries to open `path`, prints the outcome and exits without closing anything.
fn child_reports_open<D: Database>(path: &Path) -> ! {
    use std::io::Write;
    let line = match D::open(path, &small_options()) {
        Ok(db) => {
            // Wrongly opened: leave without closing, so the parent's files are not rewritten.
            std::mem::forget(db);
            "opened".to_owned()
        }
        Err(e) => format!(
            "{:?}\t{}",
            e.kind(),
            e.to_string().replace(['\n', '\r'], " ")
        ),
    };
    let mut out = std::io::stdout().lock();
    // On a line of its own: the test harness may have printed `test <name> ... ` already.
    let _ = writeln!(out, "\n{REPORT}{line}");
    let _ = out.flush();
    std::process::exit(0);
}

fn parse_kind(s: &str) -> Option<ErrorKind> {
    use ErrorKind as K;
    [
        K::InUse,
        K::Corrupt,
        K::NotACache,
        K::WrongFormat,
        K::Io,
        K::Unsupported,
        K::InvalidArgument,
        K::Other,
    ]
    .into_iter()
    .find(|kind| format!("{kind:?}") == s)
}

/// Runs the child on `path` and returns its stdout; fails the test if it hangs or fails.
fn run_child(module_path: &str, name: &str, path: &Path, scratch: &Path) -> String {
    let out_path = scratch.join("child-stdout");
    let out = std::fs::File::create(&out_path).expect("child stdout file");
    let mut child = child_command(module_path, name, path)
        .stdout(Stdio::from(out))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child test process");
    let started = Instant::now();
    let status = loop {
        match child.try_wait().expect("wait for the child") {
            Some(status) => break status,
            None if started.elapsed() > CHILD_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the child did not answer within {CHILD_TIMEOUT:?}: an open of a cache in \
                     use must fail at once, not wait"
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let report = std::fs::read_to_string(&out_path).expect("read child stdout");
    assert!(
        status.success(),
        "the child failed ({status}); its stdout:\n{report}"
    );
    report
}
