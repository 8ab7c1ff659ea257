//! Export archives as `import` reads them: the first byte picks the layer (even: the bytes are
//! a `.tar.zst` archive; odd: an uncompressed tar, so that mutations reach the tar structure),
//! the rest is unpacked into a fresh staging directory. Never a panic, never a byte written
//! outside the staging directory, never anything there but plain files and directories, never
//! an allocation sized by a header (libFuzzer's malloc and RSS limits catch those).
#![no_main]

use std::fs;
use std::path::Path;

use cache_sai3::archive::{self, Limits};
use libfuzzer_sys::fuzz_target;

/// Bounds the bytes one input may unpack (a small archive can expand without bound).
const LIMITS: Limits = Limits {
    max_archive_bytes: 64 * 1024 * 1024,
};

fuzz_target!(|data: &[u8]| {
    let Some((&layer, bytes)) = data.split_first() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let staging = tmp.path().join("staging");
    fs::create_dir(&staging).expect("staging dir");
    let _ = if layer % 2 == 0 {
        archive::unpack(bytes, &staging, LIMITS)
    } else {
        archive::unpack_tar(bytes, &staging, LIMITS)
    };
    let beside: Vec<_> = fs::read_dir(tmp.path())
        .expect("read tmp")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        beside,
        ["staging"],
        "something was written beside the staging dir"
    );
    assert_only_files_and_dirs(&staging);
});

fn assert_only_files_and_dirs(dir: &Path) {
    for entry in fs::read_dir(dir).expect("read staging") {
        let entry = entry.expect("entry");
        let kind = entry.file_type().expect("file type");
        assert!(
            kind.is_file() || kind.is_dir(),
            "{} is neither a file nor a directory",
            entry.path().display()
        );
        if kind.is_dir() {
            assert_only_files_and_dirs(&entry.path());
        }
    }
}
