//! Credentials never appear in what the tool writes: every command runs with recognizable
//! credentials (on moto, which accepts any), and its output, every file it wrote and every
//! object it put in the store are searched for them. A URI that carries credentials is refused
//! without printing them.

mod common;

use std::path::Path;

use common::endpoint::{Endpoint, Kind, uris};
use common::{Config, Sai3};

const KEY_ID: &str = "AKIDSAI3CANARY7Q2X";
const SECRET: &str = "sai3-canary-secret-9f4e1b";

/// Every file under `dir`, with its bytes.
fn files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p.display().to_string(), bytes));
        }
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn credentials_appear_nowhere() {
    let ep = Endpoint::start(Kind::Moto);
    let env = [
        ("AWS_ACCESS_KEY_ID".to_owned(), KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), SECRET.to_owned()),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
    ];
    let places = ep.places(2);
    let dir = ep.scratch();
    let config = Config::tree(2, 2, 10)
        .size("100")
        .endpoints(&uris(&places))
        .write(&dir);
    let missing = ep.missing_bucket().expect("an object store").0;
    let broken = Config::flat(5)
        .endpoints(&[&missing])
        .write(&dir.join("broken"));
    let cache = dir.join("cache");
    let (c, d) = (
        config.to_str().expect("utf-8"),
        cache.to_str().expect("utf-8"),
    );
    let other = dir.join("other");
    let o = other.to_str().expect("utf-8");
    let archive = dir.join("caches.tar.zst");
    let commands: Vec<Vec<&str>> = vec![
        vec!["plan", "-c", c],
        vec!["-vv", "prepare", "-c", c, "--cache-dir", d],
        vec!["-vv", "prepare", "-c", c, "--cache-dir", d, "--json"],
        vec!["lookup", "-c", c, "--cache-dir", d, "0", "5", "39"],
        vec!["-vv", "verify", "-c", c, "--cache-dir", d, "--sample", "2"],
        vec!["-vv", "push", "-c", c, "--cache-dir", d],
        vec!["-vv", "pull", "-c", c, "--cache-dir", o],
        vec!["datasets", "--cache-dir", d],
        vec![
            "export",
            "-c",
            c,
            "--cache-dir",
            d,
            "--output",
            archive.to_str().expect("utf-8"),
        ],
        vec![
            "-vv",
            "prepare",
            "-c",
            broken.to_str().expect("utf-8"),
            "--cache-dir",
            d,
        ],
    ];
    for backend in common::backends() {
        let sai3 = Sai3::new(backend).with_env(&env);
        // Every log of every crate, the HTTP client's included.
        let mut traced_env = env.to_vec();
        traced_env.push(("RUST_LOG".to_owned(), "trace".to_owned()));
        let traced = Sai3::new(backend).with_env(&traced_env);
        for (sai3, args) in commands
            .iter()
            .map(|a| (&sai3, a))
            .chain([(&traced, &commands[2]), (&traced, &commands[5])])
        {
            let out = sai3.run(args);
            if std::ptr::eq(sai3, &traced) {
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(
                    err.contains("TRACE"),
                    "{backend}: RUST_LOG=trace logged nothing: {err}"
                );
            }
            for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
                for secret in [KEY_ID, SECRET] {
                    assert!(
                        !contains(bytes, secret),
                        "{backend}: `{}` printed a credential on {what}: {}",
                        args.join(" "),
                        String::from_utf8_lossy(bytes)
                    );
                }
            }
        }
        let mut written = Vec::new();
        files(&dir, &mut written);
        for place in &places {
            for (key, bytes) in common::s3_objects(&place.uri, "") {
                written.push((format!("{} {key}", place.uri), bytes));
            }
        }
        assert!(written.len() > 10, "{backend}: expected caches and objects");
        for (what, bytes) in &written {
            for secret in [KEY_ID, SECRET] {
                assert!(
                    !contains(bytes, secret),
                    "{backend}: {what} holds a credential"
                );
            }
        }
        let _ = std::fs::remove_dir_all(&cache);
        let _ = std::fs::remove_dir_all(&other);
    }
}

#[test]
fn a_uri_with_credentials_is_refused_without_printing_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let uri = format!("s3://{KEY_ID}:{SECRET}@127.0.0.1:9000/bucket/data/");
    let config = Config::flat(5).endpoints(&[&uri]).write(tmp.path());
    let cache = tmp.path().join("cache");
    let (c, d) = (
        config.to_str().expect("utf-8"),
        cache.to_str().expect("utf-8"),
    );
    let commands: [&[&str]; 3] = [
        &["plan", "-c", c],
        &["prepare", "-c", c, "--cache-dir", d],
        &["lookup", "-c", c, "--cache-dir", d, "0"],
    ];
    for args in commands {
        let cmd = args[0];
        let out = Sai3::new(common::backends()[0]).run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {stderr}");
        assert!(stderr.contains("carries credentials"), "{cmd}: {stderr}");
        assert!(
            stderr.contains("s3://***@127.0.0.1:9000/bucket/data/"),
            "{cmd}: {stderr}"
        );
        assert!(
            !stderr.contains(SECRET) && !stderr.contains(KEY_ID),
            "{cmd}: {stderr}"
        );
        assert!(!tmp.path().join("cache").exists(), "{cmd}: nothing created");
    }
}
