//! The operations guide, `docs/OPERATIONS.md`, run as written.
//!
//! Each block of the guide marked `<!-- test: NAME -->` is a fenced `sh` block of command
//! lines. A test here reads the block from the guide (never a copy of it), runs each line with
//! `sh -c` in a scratch directory standing for a host (`sai3-cache` on `PATH`, the endpoint's
//! credentials in the environment, every absolute path under `/var/` moved into the scratch
//! directory), checks its exit code (`# exit N` at the end of a line; 0 without one) and what
//! it printed. So the guide's commands cannot drift from the tool's flags and behaviour.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::endpoint::{Endpoint, Kind, uris};
use common::{Config, stderr};

/// The guide.
const GUIDE: &str = include_str!("../docs/OPERATIONS.md");

/// Every block the tests run; the guide must mark exactly these.
const BLOCKS: [&str; 11] = [
    "reattach-check",
    "reattach",
    "move-hash",
    "move-host",
    "move-export",
    "agents",
    "in-use",
    "damage",
    "sizing",
    "clear-export",
    "verify",
];

/// One command line of a block and the exit code the guide gives it.
#[derive(Debug, Clone)]
struct Line {
    cmd: String,
    exit: i32,
}

/// The command lines of the block marked `<!-- test: NAME -->`.
fn block(name: &str) -> Vec<Line> {
    let marker = format!("<!-- test: {name} -->");
    assert!(
        GUIDE.lines().any(|l| l.trim() == marker),
        "docs/OPERATIONS.md has no {marker}"
    );
    let mut rest = GUIDE.lines().skip_while(|l| l.trim() != marker).skip(1);
    assert_eq!(
        rest.next().map(str::trim),
        Some("```sh"),
        "docs/OPERATIONS.md: {marker} must be followed by a ```sh block"
    );
    let lines: Vec<Line> = rest
        .take_while(|l| l.trim() != "```")
        .filter_map(|l| {
            let (cmd, comment) = l.split_once(" #").unwrap_or((l, ""));
            let cmd = cmd.trim();
            if cmd.is_empty() || cmd.starts_with('#') {
                return None;
            }
            let exit = comment
                .trim()
                .strip_prefix("exit ")
                .and_then(|n| n.split_whitespace().next())
                .map(|n| n.parse().expect("`# exit N` names a number"))
                .unwrap_or(0);
            Some(Line {
                cmd: cmd.to_owned(),
                exit,
            })
        })
        .collect();
    assert!(!lines.is_empty(), "docs/OPERATIONS.md: {marker} is empty");
    lines
}

/// A scratch directory standing for one host's file system (and the shared storage of the
/// examples): `/var/...` in a command is `{root}/var/...`.
struct Host {
    tmp: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Host {
    fn new(env: Vec<(String, String)>) -> Self {
        Host {
            tmp: tempfile::tempdir().expect("tempdir"),
            env,
        }
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// Where the guide's absolute path `path` (`/var/...`) is.
    fn path(&self, path: &str) -> PathBuf {
        self.root().join(path.trim_start_matches('/'))
    }

    /// `file://` URI of the guide's directory `path`.
    fn file_uri(&self, path: &str) -> String {
        format!("file://{}/", self.path(path).display())
    }

    /// The line as this host runs it.
    fn command(&self, line: &Line) -> std::process::Command {
        let root = self.root().display().to_string();
        assert!(!root.contains("/var/"), "scratch dir {root} is under /var/");
        let cmd = line.cmd.replace(" /var/", &format!(" {root}/var/"));
        let bin = Path::new(env!("CARGO_BIN_EXE_sai3-cache"))
            .parent()
            .expect("the binary's directory");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![bin.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        let mut c = std::process::Command::new("sh");
        c.arg("-c")
            .arg(cmd)
            .current_dir(self.root())
            .env("PATH", std::env::join_paths(dirs).expect("PATH"))
            .env_remove("SAI3_CACHE_DIR")
            .env_remove("RUST_LOG")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs the line and checks its exit code; returns its output.
    fn run(&self, line: &Line) -> Output {
        let out = self.command(line).output().expect("run sh");
        assert_eq!(
            out.status.code(),
            Some(line.exit),
            "`{}` exited {:?}, the guide says {}: stdout {} stderr {}",
            line.cmd,
            out.status.code(),
            line.exit,
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
        out
    }

    /// Runs the line and returns its stdout; checks that it contains each of `wanted`.
    fn expect(&self, line: &Line, wanted: &[&str]) -> String {
        let out = self.run(line);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        for w in wanted {
            assert!(
                text.contains(w),
                "`{}` printed no {w:?}: stdout {text} stderr {}",
                line.cmd,
                stderr(&out)
            );
        }
        text
    }

    /// Starts the line without waiting.
    fn spawn(&self, line: &Line) -> Child {
        self.command(line)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh")
    }

    /// Writes `bench.yaml` (or another name) in the host's working directory.
    fn config(&self, config: Config) -> PathBuf {
        config.write(self.root())
    }
}

/// Waits for `child` (up to `limit`) and checks its exit code against `line`.
fn finish(mut child: Child, line: &Line, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("poll").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    assert_eq!(
        out.status.code(),
        Some(line.exit),
        "`{}`: {}",
        line.cmd,
        stderr(&out)
    );
    out
}

/// A small tree on two `file://` endpoints under `/var/data/`.
fn local_tree(host: &Host) -> Config {
    let eps = [
        host.file_uri("/var/data/ep0"),
        host.file_uri("/var/data/ep1"),
    ];
    Config::tree(3, 2, 10).size("100").endpoints(&eps)
}

#[test]
fn every_marked_block_is_run() {
    let marked: Vec<&str> = GUIDE
        .lines()
        .filter_map(|l| l.trim().strip_prefix("<!-- test: ")?.strip_suffix(" -->"))
        .collect();
    let mut sorted = marked.clone();
    sorted.sort_unstable();
    let mut expected = BLOCKS.to_vec();
    expected.sort_unstable();
    assert_eq!(
        sorted, expected,
        "the guide's test markers and BLOCKS differ"
    );
    for name in BLOCKS {
        block(name);
    }
}

/// Task 1: a second prepare trusts the seal; an expired seal is renewed by the `DATASET`
/// record with no LIST; `--refresh-cache` lists.
#[test]
fn reattach() {
    let ep = Endpoint::start(Kind::S3sFs);
    let host = Host::new(ep.env());
    let places = ep.places(2);
    host.config(Config::tree(3, 2, 10).size("100").endpoints(&uris(&places)));
    let lines = block("reattach");
    host.expect(&lines[0], &["90 total, 0 already present, 90 created"]);
    host.expect(&lines[0], &["sealed ledger (0 LIST calls)", " 0 created"]);
    std::thread::sleep(Duration::from_millis(1500));
    host.expect(
        &lines[1],
        &[
            "(0 LIST calls)",
            " 0 created",
            "confirmed by its DATASET record",
        ],
    );
    host.expect(&lines[2], &["knowledge from   LIST", " 0 created"]);

    let check = block("reattach-check");
    let datasets = host.expect(&check[0], &["sealed"]);
    let plan = host.expect(&check[1], &[]);
    let short = datasets.split_whitespace().next().expect("a dataset line");
    assert!(plan.contains(short), "plan {plan} does not show {short}");
}

/// Task 2: the config hash changes with the namespace; a copy of a fixed-size dataset is
/// adopted at its new place.
#[test]
fn move_to_a_new_place() {
    let host = Host::new(Vec::new());
    host.config(local_tree(&host));
    let moved = [
        host.file_uri("/var/data-moved/ep0"),
        host.file_uri("/var/data-moved/ep1"),
    ];
    host.config(
        Config::tree(3, 2, 10)
            .size("100")
            .endpoints(&moved)
            .name("bench-moved"),
    );
    let prepare = Line {
        cmd: "sai3-cache prepare --config bench.yaml --cache-dir /var/cache/sai3".into(),
        exit: 0,
    };
    assert!(GUIDE.contains(&prepare.cmd));
    host.expect(&prepare, &[" 90 created"]);
    let lines = block("move-hash");
    let hash = |line: &Line| {
        let out = host.run(line);
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
        plan["config_hash_full"].as_str().expect("hash").to_owned()
    };
    assert_ne!(hash(&lines[0]), hash(&lines[1]));
    host.run(&lines[2]);
    host.expect(&lines[3], &["90 already present, 0 created"]);
}

/// Task 2: object-store caches follow their data to another host.
#[test]
fn move_to_another_host() {
    let ep = Endpoint::start(Kind::S3sFs);
    let host = Host::new(ep.env());
    host.config(
        Config::tree(3, 2, 10)
            .size("100")
            .endpoints(&uris(&ep.places(2))),
    );
    let prepare = Line {
        cmd: "sai3-cache prepare --config bench.yaml --cache-dir /var/cache/sai3".into(),
        exit: 0,
    };
    host.expect(&prepare, &[" 90 created"]);
    let lines = block("move-host");
    host.run(&lines[0]);
    host.expect(&lines[1], &["pulled generation"]);
    host.expect(&lines[2], &["(0 LIST calls)", " 0 created"]);
}

/// Task 2: `file://` endpoint caches through export and import.
#[test]
fn move_caches_by_archive() {
    let host = Host::new(Vec::new());
    host.config(local_tree(&host));
    let lines = block("move-export");
    host.expect(&lines[3], &[" 90 created"]);
    host.run(&lines[0]);
    host.expect(&lines[1], &["exported 3 caches"]);
    // The other host: the data, without any cache.
    for dir in [
        "/var/data/ep0/sai3-kv-cache",
        "/var/data/ep1/sai3-kv-cache",
        "/var/cache/sai3",
    ] {
        std::fs::remove_dir_all(host.path(dir)).expect("remove a cache");
    }
    host.expect(&lines[2], &["imported"]);
    host.expect(&lines[3], &["sealed ledger (0 LIST calls)", " 0 created"]);
}

/// Task 3: two agents prepare their shares; the controller pulls both and lists nothing.
#[test]
fn agents_and_controller() {
    let ep = Endpoint::start(Kind::S3sFs);
    let host = Host::new(ep.env());
    host.config(
        Config::flat(40)
            .size("100")
            .agents(2)
            .endpoints(&uris(&ep.places(2))),
    );
    let lines = block("agents");
    host.expect(&lines[0], &[]);
    host.expect(&lines[1], &[" 20 created", "agent            0"]);
    host.expect(&lines[2], &[" 20 created", "agent            1"]);
    host.run(&lines[3]);
    host.expect(&lines[4], &["pulled generation"]);
    host.expect(
        &lines[5],
        &["(0 LIST calls)", "40 already present, 0 created"],
    );
    let found = host.expect(&lines[6], &["agent 0", "agent 1"]);
    assert_eq!(found.matches("created").count(), 2, "{found}");
}

/// Task 4: a cache in use is exit 75 at once, `--wait` waits.
#[test]
fn cache_in_use() {
    let host = Host::new(Vec::new());
    let ep0 = host.path("/var/data/ep0");
    host.config(
        Config::tree(20, 2, 200)
            .size("1")
            .endpoints(&[host.file_uri("/var/data/ep0")]),
    );
    let lines = block("in-use");
    let first = host.spawn(&lines[0]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::fs::read_dir(&ep0).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("sai3bench."))
    }) {
        assert!(Instant::now() < deadline, "the prepare created nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    let refused = host.run(&lines[1]);
    assert!(stderr(&refused).contains("in use by another process"));
    let waiting = host.spawn(&lines[2]);
    finish(first, &lines[0], Duration::from_secs(600));
    let out = finish(waiting, &lines[2], Duration::from_secs(600));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created"));
}

/// Flips a byte in the largest file under `dir`.
fn damage(dir: &Path) {
    let mut largest: Option<(u64, PathBuf)> = None;
    for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
        let len = e.metadata().map(|m| m.len()).unwrap_or(0);
        if e.file_type().is_file() && largest.as_ref().is_none_or(|(l, _)| len > *l) {
            largest = Some((len, e.path().to_path_buf()));
        }
    }
    let (len, file) = largest.expect("a file to damage");
    let mut bytes = std::fs::read(&file).expect("read");
    bytes[(len / 2) as usize] ^= 0x5a;
    std::fs::write(&file, bytes).expect("write");
}

/// Task 5: lookup exits 3 on a damaged cache; prepare moves it aside and rebuilds it.
#[test]
fn damaged_cache() {
    let host = Host::new(Vec::new());
    host.config(local_tree(&host));
    let lines = block("damage");
    host.expect(&lines[1], &[" 90 created"]);
    let baseline = host.expect(&lines[2], &["created"]);
    damage(&host.path("/var/data/ep0/sai3-kv-cache/agents/0"));
    let out = host.run(&lines[0]);
    assert!(
        stderr(&out).contains("cannot be trusted"),
        "{}",
        stderr(&out)
    );
    let out = host.run(&lines[1]);
    assert!(stderr(&out).contains("cache damaged"), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(" 0 created"));
    assert_eq!(host.expect(&lines[2], &[]), baseline);
    host.expect(&lines[3], &["agents/0.damaged-"]);
}

/// Task 6: stats and du of the caches.
#[test]
fn sizing() {
    let host = Host::new(Vec::new());
    host.config(local_tree(&host));
    host.expect(
        &Line {
            cmd: "sai3-cache prepare --config bench.yaml --cache-dir /var/cache/sai3".into(),
            exit: 0,
        },
        &[" 90 created"],
    );
    let lines = block("sizing");
    host.expect(&lines[0], &["on disk", "dataset", "bench"]);
    host.expect(&lines[1], &["on disk", "keyspace"]);
    host.expect(&lines[2], &["sai3-kv-cache"]);
}

/// Task 7: export, clear a keyspace, import refused then forced, clear all, rebuild.
#[test]
fn clear_and_export() {
    let host = Host::new(Vec::new());
    host.config(local_tree(&host));
    let lines = block("clear-export");
    host.expect(&lines[6], &[" 90 created"]);
    host.run(&lines[0]);
    host.expect(&lines[1], &["exported 3 caches"]);
    host.expect(&lines[2], &["cleared keyspace listing_cache"]);
    let out = host.run(&lines[3]);
    assert!(stderr(&out).contains("already exists; pass --force"));
    host.expect(&lines[4], &["imported"]);
    let replaced = std::fs::read_dir(host.path("/var/cache/sai3"))
        .expect("cache dir")
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains(".replaced-"));
    assert!(replaced, "import --force kept nothing aside");
    host.expect(&lines[5], &["removed"]);
    assert!(!host.path("/var/data/ep0/sai3-kv-cache/agents/0").exists());
    host.expect(&lines[6], &["90 already present, 0 created"]);
}

/// Task 8: verify finds an object deleted behind the tool's back; the next prepare recreates
/// exactly it.
#[test]
fn verify_finds_what_a_seal_cannot() {
    let host = Host::new(Vec::new());
    host.config(local_tree(&host));
    let lines = block("verify");
    host.expect(&lines[1], &[" 90 created"]);
    let victim = common::dataset_files(&host.path("/var/data/ep0"))
        .into_iter()
        .next()
        .expect("a file");
    std::fs::remove_file(host.path("/var/data/ep0").join(&victim)).expect("delete");
    host.expect(&lines[0], &["missing 1", "unsealed"]);
    host.expect(&lines[1], &["89 already present, 1 created"]);
}
