//! Corruption campaign: the files the tool reads back are damaged one at a time, and the reads
//! a user runs afterwards must give the answers they gave before, refuse naming the damaged
//! cache or file, or (prepare) move the cache aside and rebuild it with a warning.
//!
//! Targets: (a) the closed coordinator and endpoint caches after a local prepare; (b) endpoint
//! caches pulled from an S3 server (s3s-fs); (c) the generation manifest objects of the synced
//! shards in the bucket; (d) an export archive. Mutations of each file: bytes flipped at a
//! seeded sample of offsets (the first bytes, where headers are, always among them); truncation
//! to 0 and to half; a swap with the same file of another cache of the same kind; replacement
//! by the same file of another dataset's cache.
//!
//! Every trial ends one way: `correct` (the same answers), `refused` (exit 2 or 3 naming the
//! damaged cache or file), `quarantined` (prepare moved the cache aside, which still exists,
//! warned, and the answers after it are correct), `WRONG` (an answer that differs, or an error
//! that does not name what is damaged) or `PANIC`. Any WRONG or PANIC fails the test with its
//! reproduction. The table of outcomes is printed (`--nocapture`) and written as JSON lines to
//! `$SAI3_CORRUPTION_REPORT` when set. `SAI3_CORRUPTION_TRIALS=N` flips N bytes per file
//! (default [`DEFAULT_FLIPS`]; `cargo xtask corrupt` sets more).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use cache_sai3::prepare::PrepareReport;
use common::endpoint::{Endpoint, Kind, Place, uris};
use common::files::{copy_dir, files_under};
use common::{Config, Sai3, backends};

/// Bytes flipped per file unless `SAI3_CORRUPTION_TRIALS` says otherwise.
const DEFAULT_FLIPS: u64 = 1;

/// Files damaged per cache unless `SAI3_CORRUPTION_TRIALS` is set (then every file is).
const DEFAULT_FILES_PER_CACHE: usize = 2;

/// Indices looked up in every trial (the dataset has 180 objects).
const LOOKED_UP: [&str; 8] = ["0", "1", "7", "42", "99", "120", "150", "179"];

/// Objects of the datasets of every target.
const OBJECTS: u64 = 180;

/// `SAI3_CORRUPTION_TRIALS`, if set: bytes flipped per file of the full campaign.
fn full_campaign() -> Option<u64> {
    std::env::var("SAI3_CORRUPTION_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
}

fn flips_per_file() -> u64 {
    full_campaign().unwrap_or(DEFAULT_FLIPS)
}

/// The files of a cache a campaign damages: all of them in the full campaign, a seeded sample
/// of [`DEFAULT_FILES_PER_CACHE`] in the short one.
fn sample_files(mut files: Vec<PathBuf>, seed: &str) -> Vec<PathBuf> {
    if full_campaign().is_some() {
        return files;
    }
    let mut rng = Rng::seeded(seed);
    let mut out = Vec::new();
    while out.len() < DEFAULT_FILES_PER_CACHE && !files.is_empty() {
        let at = rng.below(files.len() as u64) as usize;
        out.push(files.remove(at));
    }
    out.sort();
    out
}

/// The dataset of every target: 180 objects on two endpoints (`size` differs per dataset).
fn dataset(size: &str) -> Config {
    Config::tree(3, 2, 20).size(size)
}

/// A small deterministic generator (xorshift64*), seeded per file.
struct Rng(u64);

impl Rng {
    fn seeded(text: &str) -> Self {
        let seed = text.bytes().fold(0x9e37_79b9_7f4a_7c15u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Rng(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// One damage done to one file.
#[derive(Debug, Clone)]
enum Mutation {
    /// The byte at `offset` XORed with `mask`.
    Flip { offset: u64, mask: u8 },
    /// Cut to `len` bytes (0 or half).
    Truncate { len: u64 },
    /// Contents exchanged with the same file of another cache of the same kind.
    Swap { with: PathBuf },
    /// Overwritten with the same file of another dataset's cache.
    Replace { from: PathBuf },
}

impl Mutation {
    /// Its column in the table.
    fn kind(&self) -> &'static str {
        match self {
            Mutation::Flip { .. } => "flip",
            Mutation::Truncate { len: 0 } => "truncate-0",
            Mutation::Truncate { .. } => "truncate-half",
            Mutation::Swap { .. } => "swap",
            Mutation::Replace { .. } => "replace",
        }
    }

    fn describe(&self) -> String {
        match self {
            Mutation::Flip { offset, mask } => format!("byte {offset} XOR {mask:#04x}"),
            Mutation::Truncate { len } => format!("truncated to {len} bytes"),
            Mutation::Swap { with } => format!("swapped with {}", with.display()),
            Mutation::Replace { from } => format!("replaced by {}", from.display()),
        }
    }

    /// Applied to the bytes of a file; for a swap, also returns the partner's new bytes.
    fn apply(&self, bytes: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
        match self {
            Mutation::Flip { offset, mask } => {
                let mut out = bytes.to_vec();
                out[*offset as usize] ^= mask;
                (out, None)
            }
            Mutation::Truncate { len } => (bytes[..*len as usize].to_vec(), None),
            Mutation::Swap { with } => (read(with), Some(bytes.to_vec())),
            Mutation::Replace { from } => (read(from), None),
        }
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Damages the local file `file` (flips and truncations in place: a fjall journal is a sparse
/// 64 MiB file).
fn mutate_file(file: &Path, mutation: &Mutation) {
    use std::os::unix::fs::FileExt;
    let opened = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(file)
    };
    match mutation {
        Mutation::Flip { offset, mask } => {
            let f = opened().expect("open the file to damage");
            let mut byte = [0u8];
            f.read_exact_at(&mut byte, *offset).expect("read the byte");
            byte[0] ^= mask;
            return f.write_all_at(&byte, *offset).expect("write the byte");
        }
        Mutation::Truncate { len } => {
            return opened().and_then(|f| f.set_len(*len)).expect("truncate");
        }
        _ => {}
    }
    let (bytes, partner) = mutation.apply(&read(file));
    std::fs::write(file, bytes).expect("write the damaged file");
    if let (Mutation::Swap { with }, Some(old)) = (mutation, partner) {
        std::fs::write(with, old).expect("write the swapped file");
    }
}

/// The mutations of a file of `len` bytes: flips at seeded offsets (offset 0 and one in the
/// first 16 bytes always), truncations, and a swap and a replacement when there is a partner.
fn mutations(
    name: &str,
    len: u64,
    swap: Option<PathBuf>,
    replace: Option<PathBuf>,
) -> Vec<Mutation> {
    let mut rng = Rng::seeded(name);
    let mut out = Vec::new();
    if len > 0 {
        for k in 0..flips_per_file() {
            let offset = match k {
                0 => 0,
                1 => rng.below(len.min(16)),
                2 => rng.below(len.min(4096)),
                _ => rng.below(len),
            };
            let mask = 1 + rng.below(255) as u8;
            out.push(Mutation::Flip { offset, mask });
        }
        out.push(Mutation::Truncate { len: 0 });
        if len > 1 {
            out.push(Mutation::Truncate { len: len / 2 });
        }
    }
    out.extend(swap.map(|with| Mutation::Swap { with }));
    out.extend(replace.map(|from| Mutation::Replace { from }));
    out
}

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Correct,
    Refused,
    Quarantined,
    Wrong,
    Panic,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Correct => "correct",
            Outcome::Refused => "refused",
            Outcome::Quarantined => "quarantined",
            Outcome::Wrong => "WRONG",
            Outcome::Panic => "PANIC",
        }
    }
}

/// The outcome of a trial and, unless correct, what showed it.
#[derive(Debug)]
struct Verdict {
    outcome: Outcome,
    why: String,
}

impl Verdict {
    fn correct() -> Self {
        Verdict {
            outcome: Outcome::Correct,
            why: String::new(),
        }
    }

    fn of(outcome: Outcome, why: impl Into<String>) -> Self {
        Verdict {
            outcome,
            why: why.into(),
        }
    }

    /// The worse of two verdicts (PANIC > WRONG > quarantined > refused > correct).
    fn and(self, other: Verdict) -> Verdict {
        if other.outcome > self.outcome {
            other
        } else {
            self
        }
    }
}

/// Outcome counts per (target, mutation, outcome), and the reproductions of failures.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<(String, &'static str, Outcome), u64>,
    failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, target: &str, file: &str, mutation: &Mutation, verdict: Verdict) {
        if std::env::var_os("SAI3_CORRUPTION_VERBOSE").is_some() {
            let shown = format!("{} {}", mutation.describe(), verdict.why);
            eprintln!("{target} {file}: {} ({shown})", verdict.outcome.name());
        }
        let key = (target.to_owned(), mutation.kind(), verdict.outcome);
        *self.counts.entry(key).or_default() += 1;
        if verdict.outcome >= Outcome::Wrong {
            self.failures.push(format!(
                "{} [{target}] {file}: {}: {}",
                verdict.outcome.name(),
                mutation.describe(),
                verdict.why
            ));
        }
    }

    /// Prints the table, writes the JSON lines, and fails on any WRONG or PANIC.
    fn finish(self) {
        eprintln!("\ncorruption campaign: trials per target x mutation x outcome");
        eprintln!(
            "{:<28} {:<14} {:<12} {:>6}",
            "target", "mutation", "outcome", "trials"
        );
        let mut lines = String::new();
        for ((target, mutation, outcome), n) in &self.counts {
            eprintln!("{target:<28} {mutation:<14} {:<12} {n:>6}", outcome.name());
            lines += &serde_json::json!({
                "target": target, "mutation": mutation, "outcome": outcome.name(), "trials": n,
            })
            .to_string();
            lines.push('\n');
        }
        let total: u64 = self.counts.values().sum();
        eprintln!("{total} trials, {} failed", self.failures.len());
        if let Ok(path) = std::env::var("SAI3_CORRUPTION_REPORT") {
            std::fs::write(&path, lines).unwrap_or_else(|e| panic!("write {path}: {e}"));
        }
        assert!(
            self.failures.is_empty(),
            "{} trials ended WRONG or in a PANIC:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

/// True when a run panicked.
fn panicked(out: &Output) -> bool {
    out.status.code() == Some(101) || common::stderr(out).contains("panicked")
}

/// Judges a run that reads: `answer` is what a correct run prints on stdout; a refusal must
/// exit 2 or 3 and name one of `names` (the damaged cache or file).
fn judge_read(what: &str, out: &Output, answer: &[u8], names: &[String]) -> Verdict {
    let stderr = common::stderr(out);
    if panicked(out) {
        return Verdict::of(Outcome::Panic, format!("{what} panicked: {stderr}"));
    }
    match out.status.code() {
        Some(0) if out.stdout == answer => Verdict::correct(),
        Some(0) => Verdict::of(
            Outcome::Wrong,
            format!(
                "{what} answered {} instead of {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(answer)
            ),
        ),
        Some(2 | 3) if names.iter().any(|n| stderr.contains(n.as_str())) => {
            Verdict::of(Outcome::Refused, format!("{what}: {}", stderr.trim()))
        }
        code => Verdict::of(
            Outcome::Wrong,
            format!("{what} exited {code:?} without naming any of {names:?}: {stderr}"),
        ),
    }
}

/// The directories named `moved to X and rebuilt` in prepare's warnings.
fn moved_aside(report: &PrepareReport) -> Vec<PathBuf> {
    report
        .warnings
        .iter()
        .filter_map(|w| w.split("moved to ").nth(1))
        .filter_map(|rest| rest.split(" and rebuilt").next())
        .map(PathBuf::from)
        .collect()
}

/// Judges a prepare after damage: it succeeds with every object accounted for (quarantining
/// a damaged cache: moved aside, still there, with a warning), or refuses naming the damage.
fn judge_prepare(out: &Output, names: &[String]) -> Verdict {
    if out.status.code() != Some(0) {
        return judge_read("prepare", out, b"", names);
    }
    let report: PrepareReport = match serde_json::from_slice(&out.stdout) {
        Ok(r) => r,
        Err(e) => return Verdict::of(Outcome::Wrong, format!("prepare printed no report: {e}")),
    };
    if report.created + report.already_present != OBJECTS || report.failed != 0 {
        return Verdict::of(Outcome::Wrong, format!("prepare miscounted: {report:?}"));
    }
    let aside = moved_aside(&report);
    if let Some(gone) = aside.iter().find(|p| !p.is_dir()) {
        return Verdict::of(
            Outcome::Wrong,
            format!("{} was moved aside and is gone", gone.display()),
        );
    }
    let rebuilt = report.endpoints.iter().any(|e| e.cache_rebuilt.is_some());
    match (aside.is_empty(), rebuilt) {
        (true, false) => Verdict::correct(),
        (false, _) => Verdict::of(Outcome::Quarantined, report.warnings.join("; ")),
        (true, true) => Verdict::of(
            Outcome::Wrong,
            format!("rebuilt without a warning: {report:?}"),
        ),
    }
}

/// A dataset prepared, with the caches a trial damages and how to restore them.
struct Scene {
    sai3: Sai3,
    config: PathBuf,
    cache_dir: PathBuf,
    /// Extra arguments of every prepare.
    prepare_args: Vec<&'static str>,
    /// Directories holding every cache (and what is moved aside): wiped and restored per trial.
    roots: Vec<PathBuf>,
    /// Copies of `roots`, in order.
    pristine: Vec<PathBuf>,
    /// What `lookup --json` printed before any damage.
    answer: Vec<u8>,
}

impl Scene {
    fn new(sai3: Sai3, config: PathBuf, cache_dir: PathBuf, roots: Vec<PathBuf>) -> Self {
        let mut scene = Scene {
            sai3,
            config,
            cache_dir,
            prepare_args: Vec::new(),
            roots,
            pristine: Vec::new(),
            answer: Vec::new(),
        };
        scene.answer = scene.lookup().stdout;
        let saved = scene.cache_dir.with_file_name("pristine");
        for (i, root) in scene.roots.iter().enumerate() {
            let copy = saved.join(i.to_string());
            copy_dir(root, &copy);
            scene.pristine.push(copy);
        }
        scene
    }

    fn lookup(&self) -> Output {
        let mut args = vec!["--json"];
        args.extend(LOOKED_UP);
        self.sai3
            .run_config("lookup", &self.config, &self.cache_dir, &args)
    }

    fn prepare(&self) -> Output {
        let mut args = vec!["--json"];
        args.extend(&self.prepare_args);
        self.sai3
            .run_config("prepare", &self.config, &self.cache_dir, &args)
    }

    /// Puts every cache back as it was before any damage (and drops what was moved aside).
    fn restore(&self) {
        for (root, copy) in self.roots.iter().zip(&self.pristine) {
            let _ = std::fs::remove_dir_all(root);
            copy_dir(copy, root);
        }
    }

    /// lookup, prepare, lookup: how the caches as they are now answer.
    fn reads(&self, names: &[String]) -> Verdict {
        let first = judge_read("lookup", &self.lookup(), &self.answer, names);
        let prepared = judge_prepare(&self.prepare(), names);
        let after = match prepared.outcome {
            Outcome::Correct | Outcome::Quarantined => {
                let out = self.lookup();
                let v = judge_read("lookup after prepare", &out, &self.answer, &[]);
                match v.outcome {
                    Outcome::Refused => Verdict::of(Outcome::Wrong, v.why),
                    _ => v,
                }
            }
            _ => Verdict::correct(),
        };
        first.and(prepared).and(after)
    }
}

/// The cache directory `file` belongs to: the nearest ancestor holding a cache marker.
fn cache_of(file: &Path) -> PathBuf {
    file.ancestors()
        .skip(1)
        .find(|d| d.join("SAI3-CACHE-FORMAT").exists())
        .unwrap_or_else(|| panic!("{} is in no cache", file.display()))
        .to_path_buf()
}

/// What a refusal may name for damage to `file`: the file, or its cache.
fn names_of(file: &Path) -> Vec<String> {
    vec![
        file.display().to_string(),
        cache_of(file).display().to_string(),
    ]
}

/// Runs every mutation of every file of `caches` (directories of `scene`'s caches):
/// `partner(cache)` is the cache of the same kind a file is swapped with, `other(cache)` the
/// same cache of another dataset.
fn damage_caches(
    tally: &mut Tally,
    target: &str,
    scene: &Scene,
    caches: &[(PathBuf, Option<PathBuf>, Option<PathBuf>)],
) {
    let base = scene.cache_dir.parent().expect("cache dir has a parent");
    for (cache, partner, other) in caches {
        let seed = cache
            .strip_prefix(base)
            .unwrap_or(cache)
            .display()
            .to_string();
        for file in sample_files(files_under(cache, |name| name != "SAI3-CACHE-LOCK"), &seed) {
            let rel = file.strip_prefix(cache).expect("inside its cache");
            let counterpart =
                |dir: &Option<PathBuf>| dir.as_ref().map(|d| d.join(rel)).filter(|p| p.is_file());
            let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            let shown = file
                .strip_prefix(base)
                .unwrap_or(&file)
                .display()
                .to_string();
            for m in mutations(&shown, len, counterpart(partner), counterpart(other)) {
                scene.restore();
                mutate_file(&file, &m);
                let mut names = names_of(&file);
                if let Mutation::Swap { with } = &m {
                    names.extend(names_of(with));
                }
                tally.record(target, &shown, &m, scene.reads(&names));
            }
        }
    }
    scene.restore();
}

/// Target (a): a local prepare's coordinator and endpoint caches, closed.
fn local_caches(tally: &mut Tally, backend: &'static str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let other = tempfile::tempdir().expect("tempdir");
    let sai3 = Sai3::new(backend);
    let setup = |dir: &Path, size: &str| {
        let config = dataset(size).local_endpoints(dir, 2).write(dir);
        let cache_dir = dir.join("cache");
        sai3.prepare(&config, &cache_dir, &[]);
        (config, cache_dir)
    };
    let (config, cache_dir) = setup(tmp.path(), "700");
    setup(other.path(), "900");
    let shard = |root: &Path, e: u32| root.join(format!("ep{e}/sai3-kv-cache/agents/0"));
    let coordinator = |root: &Path| root.join("cache/.sai3-coordinator-cache");
    let roots = vec![
        cache_dir.clone(),
        tmp.path().join("ep0/sai3-kv-cache"),
        tmp.path().join("ep1/sai3-kv-cache"),
    ];
    let scene = Scene::new(sai3.clone(), config, cache_dir, roots);
    let (t, o) = (tmp.path(), other.path());
    let caches = [
        (coordinator(t), None, Some(coordinator(o))),
        (shard(t, 0), Some(shard(t, 1)), Some(shard(o, 0))),
        (shard(t, 1), Some(shard(t, 0)), Some(shard(o, 1))),
    ];
    damage_caches(tally, &format!("local caches ({backend})"), &scene, &caches);
}

/// The local shards of a cache dir's object-store endpoints, in endpoint order.
fn pulled_shards(cache_dir: &Path, places: &[Place]) -> Vec<PathBuf> {
    places
        .iter()
        .map(|p| {
            cache_sai3::caches::cache_location(&p.uri, cache_dir, 0).expect("a cache location")
        })
        .collect()
}

/// Targets (b) and (c): caches pushed to s3s-fs by one cache dir and pulled by another.
fn synced_caches(tally: &mut Tally, backend: &'static str, server: &Endpoint) {
    let sai3 = server.tool(backend);
    let dir = server.scratch();
    let places = server.places(2);
    let other_places = server.places(2);
    let config = dataset("700").endpoints(&uris(&places)).write(&dir);
    let other_config = dataset("900")
        .name("other")
        .endpoints(&uris(&other_places))
        .write(&dir);
    let (writer, reader) = (dir.join("writer"), dir.join("cache"));
    sai3.prepare(&config, &writer, &[]);
    sai3.prepare(&other_config, &dir.join("other"), &[]);
    sai3.pull(&config, &reader);
    let shards = pulled_shards(&reader, &places);
    let other_shards = pulled_shards(&dir.join("other"), &other_places);
    let mut scene = Scene::new(sai3.clone(), config.clone(), reader.clone(), vec![reader]);
    scene.prepare_args = vec!["--no-pull", "--no-push"];
    let caches = [
        (
            shards[0].clone(),
            Some(shards[1].clone()),
            Some(other_shards[0].clone()),
        ),
        (
            shards[1].clone(),
            Some(shards[0].clone()),
            Some(other_shards[1].clone()),
        ),
    ];
    damage_caches(
        tally,
        &format!("pulled caches ({backend})"),
        &scene,
        &caches,
    );
    // (c): a second generation is published; the reader holds the first.
    sai3.push(&config, &writer);
    sai3.push(&other_config, &dir.join("other"));
    manifests(
        tally,
        &format!("sync manifests ({backend})"),
        &scene,
        &places,
        &other_places,
    );
}

/// The remote manifest of generation 2 of agent 0's shard, relative to its endpoint.
const GENERATION_2: &str = "sai3-kv-cache/agents/0/generations/00000000000000000002.json";

/// Target (c): each generation-2 manifest damaged in the bucket; `pull` into a cache dir that
/// holds generation 1 must refuse naming it, or install what it held (never a mix), and the
/// reads after it answer correctly.
fn manifests(tally: &mut Tally, target: &str, scene: &Scene, places: &[Place], others: &[Place]) {
    let shards = pulled_shards(&scene.cache_dir, places);
    let held: Vec<_> = shards.iter().map(|s| installed(s)).collect();
    // What a clean pull of generation 2 installs.
    let pulled = scene
        .sai3
        .run_config("pull", &scene.config, &scene.cache_dir, &[]);
    assert!(pulled.status.success(), "{}", common::stderr(&pulled));
    let published: Vec<_> = shards.iter().map(|s| installed(s)).collect();
    let originals: Vec<Vec<u8>> = places.iter().map(|p| p.get(GENERATION_2)).collect();
    for (e, place) in places.iter().enumerate() {
        let name = format!("{}{GENERATION_2}", place.uri);
        let partner = &places[1 - e];
        let swap = Some(PathBuf::from(format!("{}{GENERATION_2}", partner.uri)));
        let replace = Some(PathBuf::from(format!("{}{GENERATION_2}", others[e].uri)));
        let len = originals[e].len() as u64;
        let seed = format!("ep{e}/{GENERATION_2}");
        for m in mutations(&seed, len, swap, replace) {
            scene.restore();
            let (bytes, swapped) = match &m {
                Mutation::Swap { .. } => (originals[1 - e].clone(), Some(originals[e].clone())),
                Mutation::Replace { .. } => (others[e].get(GENERATION_2), None),
                _ => m.apply(&originals[e]),
            };
            place.put(GENERATION_2, &bytes);
            if let Some(old) = &swapped {
                partner.put(GENERATION_2, old);
            }
            let verdict = pull_damaged(scene, &shards, &held, &published);
            place.put(GENERATION_2, &originals[e]);
            partner.put(GENERATION_2, &originals[1 - e]);
            tally.record(target, &name, &m, verdict);
        }
    }
    scene.restore();
}

/// The files of an installed cache with their lengths and digests (without its record of the
/// generation).
fn installed(shard: &Path) -> BTreeMap<String, (u64, u64)> {
    files_under(shard, |name| name != "SAI3-CACHE-LOCK")
        .into_iter()
        .filter(|f| !f.ends_with("SYNC-GENERATION"))
        .map(|f| {
            let bytes = read(&f);
            let rel = f.strip_prefix(shard).expect("inside").display().to_string();
            (
                rel,
                (bytes.len() as u64, xxhash_rust::xxh3::xxh3_64(&bytes)),
            )
        })
        .collect()
}

/// `pull` after a manifest was damaged, then the reads.
fn pull_damaged(
    scene: &Scene,
    shards: &[PathBuf],
    held: &[BTreeMap<String, (u64, u64)>],
    published: &[BTreeMap<String, (u64, u64)>],
) -> Verdict {
    let out = scene
        .sai3
        .run_config("pull", &scene.config, &scene.cache_dir, &["--json"]);
    let names = [
        GENERATION_2.to_owned(),
        "sai3-kv-cache/agents/0/files/".to_owned(),
    ];
    let pulled = match out.status.code() {
        Some(0) => Verdict::correct(),
        _ => judge_read("pull", &out, b"", &names),
    };
    for (s, shard) in shards.iter().enumerate() {
        let now = installed(shard);
        if now != held[s] && now != published[s] {
            let why = format!("pull installed a mix in {}: {now:?}", shard.display());
            return pulled.and(Verdict::of(Outcome::Wrong, why));
        }
    }
    let names: Vec<String> = shards.iter().map(|s| s.display().to_string()).collect();
    pulled.and(scene.reads(&names))
}

/// Target (d): an export archive damaged, then imported into a cache dir without caches.
fn archives(tally: &mut Tally, backend: &'static str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let other = tempfile::tempdir().expect("tempdir");
    let sai3 = Sai3::new(backend);
    let export = |dir: &Path, size: &str| {
        let config = dataset(size).local_endpoints(dir, 2).write(dir);
        let cache_dir = dir.join("cache");
        sai3.prepare(&config, &cache_dir, &[]);
        let archive = dir.join("caches.tar.zst");
        let out = sai3.run_config(
            "export",
            &config,
            &cache_dir,
            &["--output", &common::s(&archive)],
        );
        assert!(out.status.success(), "export: {}", common::stderr(&out));
        (config, cache_dir, archive)
    };
    let (config, cache_dir, archive) = export(tmp.path(), "700");
    let (_, _, other_archive) = export(other.path(), "900");
    let roots = vec![
        cache_dir.clone(),
        tmp.path().join("ep0/sai3-kv-cache"),
        tmp.path().join("ep1/sai3-kv-cache"),
    ];
    let scene = Scene::new(sai3.clone(), config, cache_dir, roots);
    let pristine = read(&archive);
    let damaged = tmp.path().join("damaged.tar.zst");
    let swapped = swap_members(&pristine);
    let target = format!("export archive ({backend})");
    let mut trials = mutations("archive", pristine.len() as u64, None, Some(other_archive));
    trials.push(Mutation::Swap {
        with: PathBuf::from("two members of the archive"),
    });
    for m in trials {
        let bytes = match &m {
            Mutation::Swap { .. } => swapped.clone(),
            _ => m.apply(&pristine).0,
        };
        std::fs::write(&damaged, bytes).expect("write the damaged archive");
        let verdict = import_damaged(&scene, &damaged);
        tally.record(&target, "caches.tar.zst", &m, verdict);
    }
    scene.restore();
}

/// The archive with the contents of two same-named files of different caches exchanged.
fn swap_members(archive: &[u8]) -> Vec<u8> {
    let decoded = zstd::decode_all(archive).expect("the exported archive decodes");
    let mut members: Vec<(tar::Header, Vec<u8>)> = tar::Archive::new(decoded.as_slice())
        .entries()
        .expect("tar entries")
        .map(|e| {
            let mut e = e.expect("tar entry");
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).expect("entry data");
            (e.header().clone(), data)
        })
        .collect();
    let name = |h: &tar::Header| h.path().expect("path").into_owned();
    let files: Vec<usize> = (0..members.len())
        .filter(|&i| {
            members[i].0.entry_type().is_file() && name(&members[i].0).starts_with("caches/1/")
        })
        .collect();
    let (a, b) = files
        .iter()
        .find_map(|&a| {
            let rel = name(&members[a].0)
                .strip_prefix("caches/1/")
                .expect("prefix")
                .to_owned();
            let twin = Path::new("caches/2").join(&rel);
            let b = (0..members.len()).find(|&b| name(&members[b].0) == twin)?;
            (members[a].1 != members[b].1).then_some((a, b))
        })
        .expect("two caches of the archive with a same-named file that differs");
    let (data_a, data_b) = (members[a].1.clone(), members[b].1.clone());
    members[a].1 = data_b;
    members[b].1 = data_a;
    let mut builder = tar::Builder::new(Vec::new());
    for (mut header, data) in members {
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data.as_slice()).expect("append");
    }
    zstd::encode_all(builder.into_inner().expect("tar").as_slice(), 3).expect("zstd")
}

/// `import` of a damaged archive into the scene with its caches removed, then the reads.
fn import_damaged(scene: &Scene, archive: &Path) -> Verdict {
    scene.restore();
    for root in &scene.roots {
        std::fs::remove_dir_all(root).expect("remove the caches");
    }
    let out = scene.sai3.run(&[
        "import",
        "--input",
        &common::s(archive),
        "--config",
        &common::s(&scene.config),
        "--cache-dir",
        &common::s(&scene.cache_dir),
    ]);
    if out.status.code() != Some(0) {
        return judge_read("import", &out, b"", &[common::s(archive)]);
    }
    let names: Vec<String> = scene.roots.iter().map(|r| common::s(r)).collect();
    scene.reads(&names)
}

#[test]
fn damaged_files_never_give_wrong_answers() {
    let started = std::time::Instant::now();
    let mut tally = Tally::default();
    let server = Endpoint::start(Kind::S3sFs);
    // `SAI3_CORRUPTION_ONLY=TEXT`: only the runs whose name contains it (`redb synced`).
    let only = std::env::var("SAI3_CORRUPTION_ONLY").unwrap_or_default();
    let timed = |what: &str, tally: &mut Tally, run: &dyn Fn(&mut Tally)| {
        if !what.contains(only.as_str()) {
            return;
        }
        let at = std::time::Instant::now();
        let before: u64 = tally.counts.values().sum();
        run(tally);
        let trials = tally.counts.values().sum::<u64>() - before;
        eprintln!(
            "{what}: {trials} trials in {:.1} s",
            at.elapsed().as_secs_f64()
        );
    };
    for backend in backends() {
        timed(&format!("{backend} local"), &mut tally, &|t| {
            local_caches(t, backend)
        });
        timed(&format!("{backend} synced"), &mut tally, &|t| {
            synced_caches(t, backend, &server)
        });
        timed(&format!("{backend} archive"), &mut tally, &|t| {
            archives(t, backend)
        });
    }
    eprintln!("campaign took {:.1} s", started.elapsed().as_secs_f64());
    tally.finish();
}

/// Found by the campaign: a checksum file that is not text (a flipped byte) was an I/O error,
/// and prepare stopped instead of moving the cache aside and rebuilding it.
#[test]
fn a_checksum_file_that_is_not_text_is_damage() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let sai3 = Sai3::new(backend);
        let config = dataset("700")
            .local_endpoints(tmp.path(), 2)
            .write(tmp.path());
        let cache_dir = tmp.path().join("cache");
        sai3.prepare(&config, &cache_dir, &[]);
        let shard = tmp.path().join("ep0/sai3-kv-cache/agents/0");
        let sums = ["cache.redb.xxh3", "fjall.xxh3"].map(|f| shard.join(f));
        let sums = sums.iter().find(|f| f.is_file()).expect("a checksum file");
        std::fs::write(sums, [0xff, 0xfe, 0x00]).expect("damage the checksum file");
        let report = sai3.prepare(&config, &cache_dir, &[]);
        let aside = moved_aside(&report);
        assert_eq!(aside.len(), 1, "{backend}: {report:?}");
        assert!(aside[0].is_dir(), "{backend}: {}", aside[0].display());
        assert_eq!(report.already_present, OBJECTS, "{backend}: {report:?}");
    }
}

/// Export archives carry zstd's content checksum (frame header descriptor, bit 2), so import
/// detects any damage, also where zstd still decompresses.
#[test]
fn export_archives_carry_a_content_checksum() {
    let backend = backends()[0];
    let tmp = tempfile::tempdir().expect("tempdir");
    let sai3 = Sai3::new(backend);
    let config = dataset("700")
        .local_endpoints(tmp.path(), 1)
        .write(tmp.path());
    let cache_dir = tmp.path().join("cache");
    sai3.prepare(&config, &cache_dir, &[]);
    let archive = tmp.path().join("caches.tar.zst");
    let out = sai3.run_config(
        "export",
        &config,
        &cache_dir,
        &["--output", &common::s(&archive)],
    );
    assert!(out.status.success(), "export: {}", common::stderr(&out));
    let bytes = read(&archive);
    assert_eq!(bytes[..4], [0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
    assert_ne!(bytes[4] & 0b100, 0, "the frame declares a content checksum");
}
