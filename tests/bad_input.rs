//! `docs/BAD-INPUT.md`, run: every row marked `bad_input` is set up here and run, and its exit
//! code and error text must be what the table says; every other row names a test that must
//! exist. A case here without a row, or a row without a case, fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::endpoint::{Endpoint, Kind, Place, count_objects, uris};
use common::{Config, Sai3};
use test_servers::{Fault, FaultPlan, FaultProxy};

/// One row of the table.
#[derive(Debug)]
struct Row {
    id: String,
    exit: String,
    says: String,
    test: String,
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split(" | ")
        .map(|c| c.trim().to_owned())
        .collect()
}

/// The text of a cell: the code spans' content (backticks removed), or the whole cell.
fn unquote(cell: &str) -> String {
    let c = cell.trim();
    if let Some(inner) = c.strip_prefix("`` ").and_then(|c| c.strip_suffix(" ``")) {
        return inner.to_owned();
    }
    c.trim_matches('`').to_owned()
}

fn rows() -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/BAD-INPUT.md");
    let text = std::fs::read_to_string(&path).expect("docs/BAD-INPUT.md");
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let c = cells(l);
            assert_eq!(c.len(), 6, "a row of six cells: {l}");
            Row {
                id: unquote(&c[0]),
                exit: c[3].clone(),
                says: c[4].clone(),
                test: c[5].clone(),
            }
        })
        .collect()
}

/// The first code span of a "the error says" cell: the text the error must contain.
fn expected_text(says: &str) -> String {
    if let Some(inner) = says.strip_prefix("`` ") {
        return inner.split(" ``").next().unwrap_or(inner).to_owned();
    }
    says.split('`').nth(1).unwrap_or(says).to_owned()
}

/// A scratch directory and a config file written in it.
struct Scratch {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Scratch {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        Scratch { _tmp: tmp, dir }
    }

    fn yaml(&self, body: &str) -> String {
        let path = self.dir.join("bad.yaml");
        std::fs::write(&path, body).expect("write config");
        path.display().to_string()
    }

    fn path(&self, rel: &str) -> String {
        self.dir.join(rel).display().to_string()
    }
}

/// A flat dataset of 7 objects at `uri`, with `extra` prepare settings.
fn flat(uri: &str, extra: &str) -> String {
    format!(
        "prepare:\n{extra}  ensure_objects:\n    - base_uri: \"{uri}\"\n      count: 7\n      \
         size_spec: 100\nworkload: []\n"
    )
}

/// A tree dataset with `tree` as its directory_structure and `entry` in its entry.
fn tree(tree: &str, entry: &str) -> String {
    format!(
        "prepare:\n  directory_structure: {{{tree}}}\n  ensure_objects:\n    - base_uri: \
         \"file:///tmp/bad-input/d/\"\n{entry}workload: []\n"
    )
}

const GOOD_TREE: &str =
    "width: 2, depth: 2, files_per_dir: 10, distribution: bottom, dir_mask: \"d%d_w%d.dir\"";

fn fake_credentials() -> Vec<(String, String)> {
    [
        ("AWS_ACCESS_KEY_ID", "a"),
        ("AWS_SECRET_ACCESS_KEY", "b"),
        ("AWS_REGION", "us-east-1"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec()
}

/// Sets up and runs the case `id`.
fn run_case(id: &str, sai3: &Sai3, s: &Scratch) -> Output {
    let cache = s.path("cache");
    let plan = |yaml: &str| sai3.run(&["plan", "-c", &s.yaml(yaml)]);
    let prepare = |config: &str| sai3.run(&["prepare", "-c", config, "--cache-dir", &cache]);
    match id {
        "malformed-yaml" => plan("prepare:\n  ensure_objects:\n    - count: 10\n   bad: [\n"),
        "unknown-strategy" => plan(&flat(
            "file:///tmp/bad-input/d/",
            "  prepare_strategy: diagonal\n",
        )),
        "unknown-tree-distribution" => plan(&tree(
            "width: 2, depth: 2, files_per_dir: 10, distribution: diagonal, dir_mask: \"d%d_w%d.dir\"",
            "      count: 40\n",
        )),
        "unknown-size-distribution" => plan(&flat("file:///tmp/bad-input/d/", "").replace(
            "size_spec: 100",
            "size_spec: { type: zipf, min: 1, max: 10 }",
        )),
        "size-min-above-max" => plan(&flat("file:///tmp/bad-input/d/", "").replace(
            "size_spec: 100",
            "size_spec: { type: uniform, min: 10, max: 1 }",
        )),
        "zero-width" => plan(&tree(
            &GOOD_TREE.replace("width: 2", "width: 0"),
            "      count: 0\n",
        )),
        "tree-overflow" => plan(&tree(
            &GOOD_TREE.replace("width: 2, depth: 2", "width: 4294967295, depth: 8"),
            "      count: 0\n",
        )),
        "count-disagrees" => plan(&tree(GOOD_TREE, "      count: 7\n")),
        "unknown-scheme" => plan(&flat("ftp://host/d/", "")),
        "no-container" => plan(&flat("az://account/", "")),
        "unreachable-endpoint" => Sai3::new(&sai3.backend)
            .with_env(&fake_credentials())
            .run(&[
                "prepare",
                "-c",
                &s.yaml(&flat("s3://127.0.0.1:1/bucket/d/", "")),
                "--cache-dir",
                &cache,
            ]),
        "no-credentials" => {
            let mut c = sai3.command();
            for var in [
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_PROFILE",
                "AWS_SESSION_TOKEN",
            ] {
                c.env_remove(var);
            }
            c.args([
                "prepare",
                "-c",
                &s.yaml(&flat("s3://127.0.0.1:1/bucket/d/", "")),
                "--cache-dir",
                &cache,
            ])
            .output()
            .expect("run sai3-cache")
        }
        "wrong-credentials" => {
            let ep = Endpoint::start(Kind::S3sFs);
            let places = ep.places(1);
            let config = Config::flat(5).endpoints(&uris(&places)).write(&s.dir);
            let wrong = ep
                .env()
                .into_iter()
                .map(|(k, v)| match k.as_str() {
                    "AWS_SECRET_ACCESS_KEY" => (k, "not-the-secret".to_owned()),
                    _ => (k, v),
                })
                .collect::<Vec<_>>();
            Sai3::new(&sai3.backend).with_env(&wrong).run(&[
                "prepare",
                "-c",
                config.to_str().expect("utf-8"),
                "--cache-dir",
                &cache,
            ])
        }
        "cache-dir-is-a-file" => {
            std::fs::write(s.dir.join("a-file"), b"x").expect("write");
            let config = s.yaml(&flat(&format!("file://{}/", s.path("data")), ""));
            sai3.run(&[
                "prepare",
                "-c",
                &config,
                "--cache-dir",
                &s.path("a-file/sub"),
            ])
        }
        "cache-dir-full" => {
            let config = s.yaml(&flat(&format!("file://{}/", s.path("data")), ""));
            let c = sai3.command();
            let program = c.get_program().to_owned();
            let args: Vec<String> = c
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .chain(["prepare", "-c", &config, "--cache-dir", &cache].map(str::to_owned))
                .collect();
            // SIGXFSZ ignored: writes past the limit fail with EFBIG instead of killing.
            let script = format!(
                "trap '' XFSZ; ulimit -f 64; exec \"$0\" {}",
                args.iter()
                    .map(|a| format!("'{a}'"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            std::process::Command::new("sh")
                .args(["-c", &script])
                .arg(program)
                .output()
                .expect("run under ulimit")
        }
        "newer-cache-format" => {
            let config = s.yaml(&flat(&format!("file://{}/", s.path("data")), ""));
            let first = prepare(&config);
            assert!(first.status.success(), "{}", common::stderr(&first));
            let marker = s
                .dir
                .join("cache/.sai3-coordinator-cache/SAI3-CACHE-FORMAT");
            let text = std::fs::read_to_string(&marker).expect("marker");
            std::fs::write(&marker, text.replace("format = 1", "format = 9")).expect("write");
            let looked = sai3.run(&["lookup", "-c", &config, "--cache-dir", &cache, "0"]);
            assert_eq!(looked.status.code(), Some(2), "{}", common::stderr(&looked));
            prepare(&config)
        }
        "missing-config" => sai3.run(&["plan", "-c", &s.path("nowhere.yaml")]),
        "list-server-error" => list_fails_midway(sai3, s, Fault::ServerError),
        "list-connection-dropped" => list_fails_midway(sai3, s, Fault::Drop),
        other => panic!("no case {other} in tests/bad_input.rs"),
    }
}

/// Cases this file runs (each must have a row marked `bad_input`).
const CASES: [&str; 19] = [
    "malformed-yaml",
    "unknown-strategy",
    "unknown-tree-distribution",
    "unknown-size-distribution",
    "size-min-above-max",
    "zero-width",
    "tree-overflow",
    "count-disagrees",
    "unknown-scheme",
    "no-container",
    "unreachable-endpoint",
    "no-credentials",
    "wrong-credentials",
    "cache-dir-is-a-file",
    "cache-dir-full",
    "newer-cache-format",
    "missing-config",
    "list-server-error",
    "list-connection-dropped",
];

/// An S3 endpoint (s3s-fs) reached through a [`FaultProxy`], holding a dataset of three
/// top-level ranges of two LIST pages each (1,100 objects: pages of 1,000 keys).
struct FaultyS3 {
    _ep: Endpoint,
    places: Vec<Place>,
    /// The endpoint URI in the config (through the proxy).
    uri: String,
    proxy: FaultProxy,
    tool: Sai3,
    config: PathBuf,
    cache: PathBuf,
}

/// Objects of [`FaultyS3`]'s dataset.
const FAULTY_OBJECTS: u64 = 3 * 1100;

impl FaultyS3 {
    /// Starts the server and the proxy and prepares the dataset through it (no fault).
    fn prepared(backend: &str, dir: &Path) -> Self {
        let ep = Endpoint::start(Kind::S3sFs);
        let places = ep.places(1);
        let server = ep.s3_port().expect("an S3 server");
        let proxy = FaultProxy::start(server, FaultPlan::NONE);
        let uri = places[0]
            .uri
            .replace(&format!(":{server}/"), &format!(":{}/", proxy.port));
        let config = Config::tree(3, 1, 1100)
            .size("100")
            .endpoints(std::slice::from_ref(&uri))
            .write(dir);
        let s3 = FaultyS3 {
            tool: Sai3::new(backend).with_env(&ep.env()),
            cache: dir.join("cache"),
            _ep: ep,
            uri,
            places,
            proxy,
            config,
        };
        let first = s3.tool.prepare(&s3.config, &s3.cache, &[]);
        assert_eq!(first.created, FAULTY_OBJECTS, "{first:?}");
        s3
    }

    /// `prepare --refresh-cache` (a LIST) with `extra` flags, its output. Without pull and push,
    /// whose LISTs of the cache's generations would count in the proxy's plan.
    fn list(&self, extra: &[&str]) -> Output {
        let mut args = vec!["--refresh-cache", "--no-pull", "--no-push"];
        args.extend_from_slice(extra);
        self.tool
            .run_config("prepare", &self.config, &self.cache, &args)
    }

    /// [`FaultyS3::list`] with `--json`, its report.
    fn list_report(&self) -> cache_sai3::prepare::PrepareReport {
        common::parse("prepare", &self.list(&["--json"]))
    }
}

/// A LIST that fails for good after its first pages: the prepare stops with the endpoint and
/// the failure after the retries (returned for the row's check); the next run, without faults,
/// resumes the LIST from its checkpoint (fewer LISTs than a fresh one) and finds every object.
fn list_fails_midway(sai3: &Sai3, s: &Scratch, fault: Fault) -> Output {
    let s3 = FaultyS3::prepared(&sai3.backend, &s.dir);
    s3.proxy.set_plan(FaultPlan::NONE);
    let fresh = s3.list_report();
    let fresh_pages = s3.proxy.counts().lists;
    assert_eq!(fresh_pages, 7, "one delimiter LIST, two pages per range");
    // The delimiter LIST and four of the six pages of the ranges pass: one range at least is
    // finished, the others are part-way.
    s3.proxy.set_plan(FaultPlan::forever_after(5, fault));
    let failed = s3.list(&[]);
    let stderr = common::stderr(&failed);
    let retries = cache_sai3::store::MAX_RETRIES;
    assert!(s3.proxy.counts().failed > retries as u64, "{stderr}");
    assert!(stderr.contains(&s3.uri), "{stderr}");
    assert!(
        stderr.contains(&format!("after {retries} retries")),
        "{stderr}"
    );
    let reason = match fault {
        Fault::ServerError => "500 Internal Server Error",
        Fault::Drop => "the server closed the connection without answering",
    };
    assert!(stderr.contains(reason), "{stderr}");

    s3.proxy.set_plan(FaultPlan::NONE);
    let resumed = s3.list_report();
    let e = &resumed.endpoints[0];
    // The root (known from the delimiter LIST) and one range at least were finished.
    assert!(e.list_resumed_ranges >= 2, "{e:?}");
    assert!(
        resumed.list_calls < fresh.list_calls,
        "{resumed:?} {fresh:?}"
    );
    assert!(
        s3.proxy.counts().lists < fresh_pages,
        "{:?}",
        s3.proxy.counts()
    );
    assert_eq!(
        (e.already_present, e.created, e.other_keys, e.wrong_size),
        (FAULTY_OBJECTS, 0, 0, 0),
        "{e:?}"
    );
    assert_eq!(count_objects(&s3.places), FAULTY_OBJECTS as usize);
    failed
}

/// A LIST failed fewer times than the retries, with a 500 or a dropped connection: retried,
/// no error, every object found.
#[test]
fn transient_list_faults_are_retried() {
    let backend = common::backends()[0];
    for fault in [Fault::ServerError, Fault::Drop] {
        let s = Scratch::new();
        let s3 = FaultyS3::prepared(backend, &s.dir);
        let fails = cache_sai3::store::MAX_RETRIES as u64 - 1;
        s3.proxy.set_plan(FaultPlan::transient(2, fails, fault));
        let report = s3.list_report();
        assert_eq!(s3.proxy.counts().failed, fails, "{fault:?}");
        assert_eq!(
            (report.already_present, report.created, report.failed),
            (FAULTY_OBJECTS, 0, 0),
            "{fault:?}: {report:?}"
        );
    }
}

#[test]
fn every_row_of_bad_input_md_holds() {
    let rows = rows();
    assert!(rows.len() >= CASES.len(), "{rows:?}");
    let here: Vec<&Row> = rows.iter().filter(|r| r.test == "bad_input").collect();
    let mut ids: Vec<&str> = here.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    let mut cases = CASES.to_vec();
    cases.sort_unstable();
    assert_eq!(
        ids, cases,
        "rows marked bad_input and the cases of this file differ"
    );
    let backend = common::backends()[0];
    let sai3 = Sai3::new(backend);
    for row in here {
        let s = Scratch::new();
        let out = run_case(&row.id, &sai3, &s);
        let stderr = common::stderr(&out);
        assert!(!stderr.contains("panicked"), "{}: {stderr}", row.id);
        let exit: i32 = row.exit.parse().expect("an exit code");
        assert_eq!(out.status.code(), Some(exit), "{}: {stderr}", row.id);
        let text = expected_text(&row.says);
        assert!(
            stderr.contains(&text),
            "{}: expected the error to say {text:?}, it says: {stderr}",
            row.id
        );
    }
}

#[test]
fn every_other_row_names_a_test_that_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for row in rows().iter().filter(|r| r.test != "bad_input") {
        let (file, name) = row
            .test
            .split_once(": ")
            .unwrap_or_else(|| panic!("{}: test cell {:?} is not FILE: NAME", row.id, row.test));
        let source = std::fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("{}: cannot read {file}: {e}", row.id));
        assert!(
            source.contains(&format!("fn {name}(")),
            "{}: {file} has no test {name}",
            row.id
        );
    }
}

#[test]
fn a_missing_config_is_reported_once() {
    let s = Scratch::new();
    let out = Sai3::new(common::backends()[0]).run(&["plan", "-c", &s.path("nowhere.yaml")]);
    let stderr = common::stderr(&out);
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}
