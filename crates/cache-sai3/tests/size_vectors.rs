//! Object sizes byte for byte as sai3-bench v0.8.97 writes them: golden vectors from
//! sai3-bench's own code, checked against `cache_sai3::sizes`.
//!
//! # Where `data/sai3-bench-size-vectors.json` comes from
//!
//! * Source: sai3-bench tag `v0.8.97`, commit `d5c99544a8ef3de4fe901c6c95624d57f3ad6afa`
//!   (<https://github.com/russfellows/sai3-bench>).
//! * A scratch crate compiling sai3-bench's `src/size_generator.rs` unchanged, together with
//!   `src/size_parser.rs` and `src/serde_helpers.rs` (also unchanged; the size serde needs
//!   them). From `src/config.rs` it copies only what turns an `ensure_objects` entry into a size
//!   spec: the `EnsureSpec` fields `base_uri`, `count`, `min_size`, `max_size`, `size_spec`
//!   (alias `size_distribution`) with their serde attributes, and `get_size_spec` (legacy
//!   `min_size`/`max_size`, 1 MiB each by default: equal gives fixed, else uniform).
//! * Its `Cargo.lock` started as a copy of sai3-bench's, so every crate resolves to the version
//!   sai3-bench builds with: rand 0.9.4, rand_distr 0.5.1, rand_chacha 0.9.0, rand_core 0.9.5,
//!   ppv-lite86 0.2.21, num-traits 0.2.19 with its `std` feature on (in sai3-bench it is turned
//!   on through hdrhistogram, so rand_distr's `exp` is std's `f64::exp`; a libm-only build gave
//!   identical numbers), libm 0.2.16, serde_yaml 0.9.34. rustc 1.95.0, x86_64 Linux,
//!   `cargo build --release` (sai3-bench has no `[profile]` section).
//! * For each case the program
//!   1. parses the case's `ensure_objects_entry` (YAML as in a sai3-bench config) through those
//!      serde types and takes `get_size_spec()`;
//!   2. computes the seed from the base URI as sai3-bench's prepare does:
//!      `uri.as_bytes().iter().fold(0u64, |acc, &b| acc.wrapping_mul(31).wrapping_add(b as u64))`;
//!   3. builds `SizeGenerator::new_with_seed(&spec, seed)` (the seed-0 variants:
//!      `SizeGenerator::new(&spec)`); for `skipped_draws: 100` it first calls `description()`
//!      once, which is what sequential prepare's `info!` evaluates when INFO logging is on (`-v`);
//!   4. calls `generate()` 2^20 times: `size(i)` is the `(i+1)`-th call. It writes the first 20
//!      sizes, the sizes at the probe indices, and over indices `0..2^20` the sum, the FNV-1a-64
//!      of the sizes' 8-byte little-endian encodings, the minimum and the maximum;
//!   5. replays the same draws on `rand_chacha::ChaCha12Rng::seed_from_u64(seed)` (the type
//!      inside rand 0.9.4's `StdRng`; the two streams were checked equal word for word),
//!      checking every size against `generate()`, and writes `get_word_pos()` before index
//!      `k * 2^16` and after index `2^20 - 1`.
//! * The program prints one JSON document; this file is a subset of it with the same values.
//!   Rebuilding and rerunning gave identical bytes.

use std::collections::BTreeMap;

use cache_sai3::sizes::{
    CHECKPOINT_INTERVAL, LOGNORMAL_DESCRIPTION_DRAWS, SizeSpec, SizeStream, SizeTable,
    UNIFORM_DEFAULT_MAX, UNIFORM_DEFAULT_MIN, seed_of,
};
use serde_json::Value;

const VECTORS: &str = include_str!("data/sai3-bench-size-vectors.json");
/// Indices the checksums cover: `0..CHECKSUM_LEN`.
const CHECKSUM_LEN: u64 = 1 << 20;

struct Variant {
    case: String,
    spec: SizeSpec,
    seed: u64,
    skipped_draws: u64,
    first_20: Vec<u64>,
    at: BTreeMap<u64, u64>,
    sum: u64,
    fnv: u64,
    min: u64,
    max: u64,
    word_pos_before: BTreeMap<u64, u128>,
    word_pos_after: Option<u128>,
}

fn u(v: &Value) -> u64 {
    v.as_u64().expect("an unsigned integer")
}

fn parse_spec(v: &Value) -> SizeSpec {
    let opt = |k: &str| v.get(k).and_then(Value::as_u64);
    match v["type"].as_str().expect("type") {
        "fixed" => SizeSpec::Fixed(u(&v["size"])),
        "uniform" => SizeSpec::Uniform {
            min: opt("min").unwrap_or(UNIFORM_DEFAULT_MIN),
            max: opt("max").unwrap_or(UNIFORM_DEFAULT_MAX),
        },
        "lognormal" => SizeSpec::Lognormal {
            mean: u(&v["mean"]),
            std_dev: u(&v["std_dev"]),
            min: u(&v["min"]),
            max: u(&v["max"]),
        },
        other => panic!("unknown spec type {other}"),
    }
}

fn document() -> Value {
    serde_json::from_str(VECTORS).expect("valid JSON")
}

fn variants() -> Vec<Variant> {
    let doc = document();
    let mut out = Vec::new();
    for case in doc["cases"].as_array().expect("cases") {
        let spec = parse_spec(&case["spec"]);
        for v in case["variants"].as_array().expect("variants") {
            let map = |key: &str| -> BTreeMap<u64, u64> {
                v.get(key)
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, x)| (k.parse().expect("index"), u(x)))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            out.push(Variant {
                case: case["name"].as_str().expect("name").to_owned(),
                spec,
                seed: u(&v["seed"]),
                skipped_draws: u(&v["skipped_draws"]),
                first_20: v["first_20"]
                    .as_array()
                    .expect("first_20")
                    .iter()
                    .map(u)
                    .collect(),
                at: map("at"),
                sum: u(&v["sum_0_to_1048575"]),
                fnv: u64::from_str_radix(v["fnv1a64_0_to_1048575"].as_str().expect("fnv"), 16)
                    .expect("hex"),
                min: u(&v["min_0_to_1048575"]),
                max: u(&v["max_0_to_1048575"]),
                word_pos_before: map("word_pos_before")
                    .into_iter()
                    .map(|(i, w)| (i, u128::from(w)))
                    .collect(),
                word_pos_after: v
                    .get("word_pos_after_index_1048575")
                    .map(|w| u128::from(u(w))),
            });
        }
    }
    assert_eq!(out.len(), 13, "variants in the vector file");
    out
}

fn stream(v: &Variant) -> SizeStream {
    let mut s = SizeStream::new(&v.spec, v.seed).expect("valid spec");
    s.skip_draws(v.skipped_draws);
    s
}

#[test]
fn seeds_are_sai3_bench_seeds() {
    let doc = document();
    for (uri, seed) in doc["seeds"].as_object().expect("seeds") {
        assert_eq!(seed_of(uri), u(seed), "seed of {uri:?}");
    }
    for case in doc["cases"].as_array().expect("cases") {
        let uri = case["seed_uri"].as_str().expect("seed_uri");
        assert_eq!(seed_of(uri), u(&case["seed"]), "seed of {uri:?}");
        let yaml = case["ensure_objects_entry"].as_str().expect("entry");
        assert!(yaml.contains(&format!("base_uri: {uri}\n")), "{yaml}");
    }
    // The URI is hashed exactly as written: a trailing slash changes every size.
    assert_ne!(seed_of("s3://bucket/data/"), seed_of("s3://bucket/data"));
}

/// Every listed size, each looked up alone through the table (random access).
#[test]
fn table_random_access_matches_vectors() {
    for v in variants() {
        let len = v.at.keys().max().copied().unwrap_or(0) + 1;
        let table =
            SizeTable::build_with_skip(&v.spec, v.seed, len, v.skipped_draws).expect("valid spec");
        assert_eq!(table.len(), len);
        for (i, &want) in v.first_20.iter().enumerate() {
            assert_eq!(table.size_of(i as u64), Some(want), "{} #{i}", v.case);
        }
        for (&i, &want) in &v.at {
            assert_eq!(table.size_of(i), Some(want), "{} @{i}", v.case);
        }
        assert_eq!(table.size_of(len), None, "{} past the end", v.case);
    }
}

/// One straight pass over 2^20 indices per variant: checksums and word positions.
#[test]
fn straight_pass_matches_checksums_and_word_positions() {
    for v in variants() {
        let mut s = stream(&v);
        let (mut sum, mut fnv, mut min, mut max) = (0u64, 0xcbf2_9ce4_8422_2325u64, u64::MAX, 0);
        for i in 0..CHECKSUM_LEN {
            if let Some(&want) = v.word_pos_before.get(&i) {
                assert_eq!(s.word_pos(), want, "{} word position before {i}", v.case);
            }
            let size = s.next_size();
            if let Some(&want) = v.first_20.get(i as usize) {
                assert_eq!(size, want, "{} #{i}", v.case);
            }
            if let Some(&want) = v.at.get(&i) {
                assert_eq!(size, want, "{} @{i}", v.case);
            }
            sum += size;
            for b in size.to_le_bytes() {
                fnv = (fnv ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            min = min.min(size);
            max = max.max(size);
        }
        assert_eq!(
            (sum, fnv, min, max),
            (v.sum, v.fnv, v.min, v.max),
            "{}",
            v.case
        );
        if let Some(want) = v.word_pos_after {
            assert_eq!(s.word_pos(), want, "{} word position at the end", v.case);
        }
    }
}

/// Sequential prepare with `-v` draws 100 sizes for `description()` first (lognormal only).
#[test]
fn verbose_sequential_variant_is_the_skipped_sequence() {
    let all = variants();
    let mut seen = 0;
    for v in all.iter().filter(|v| v.skipped_draws > 0) {
        assert_eq!(v.skipped_draws, LOGNORMAL_DESCRIPTION_DRAWS);
        assert_eq!(v.spec.description_draws(), v.skipped_draws, "{}", v.case);
        let plain = all
            .iter()
            .find(|p| p.case == v.case && p.seed == v.seed && p.skipped_draws == 0)
            .expect("the variant without -v");
        let verbose = SizeTable::build_with_skip(&v.spec, v.seed, 20, v.spec.description_draws())
            .expect("valid spec");
        let quiet = SizeTable::build(&v.spec, v.seed, 20).expect("valid spec");
        assert_eq!(verbose.iter().collect::<Vec<_>>(), v.first_20, "{}", v.case);
        assert_eq!(
            quiet.iter().collect::<Vec<_>>(),
            plain.first_20,
            "{}",
            v.case
        );
        // The -v sequence is the plain one shifted by 100 draws.
        let shifted: Vec<u64> = stream(plain).skip(100).take(20).collect();
        assert_eq!(shifted, v.first_20, "{}", v.case);
        seen += 1;
    }
    assert_eq!(seen, 3);
    for v in &all {
        if !matches!(v.spec, SizeSpec::Lognormal { .. }) {
            assert_eq!(v.spec.description_draws(), 0, "{}", v.case);
        }
    }
}

/// A small deterministic index generator for access patterns.
fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

/// `iter`, `size_of` and the cursor (ascending, descending, jumping) all equal one straight
/// pass, across several checkpoint spans.
#[test]
fn cursor_and_random_access_equal_a_straight_pass() {
    let picks = [
        "uniform_1KiB_1MiB",
        "lognormal_mean1MiB_std512KiB_min4KiB_max10MiB",
        "lognormal_heavy_rejection",
        "legacy_min_eq_max_fixed",
    ];
    let len = 3 * CHECKPOINT_INTERVAL + 777;
    let all = variants();
    // The seed-0 variants add nothing here; this keeps the (unoptimized) test quick.
    for v in all
        .iter()
        .filter(|v| picks.contains(&v.case.as_str()) && v.seed != 0)
    {
        let what = format!("{} skip {}", v.case, v.skipped_draws);
        let straight: Vec<u64> = stream(v).take(len as usize).collect();
        let table =
            SizeTable::build_with_skip(&v.spec, v.seed, len, v.skipped_draws).expect("valid spec");
        assert_eq!(table.iter().collect::<Vec<_>>(), straight, "{what}: iter");

        let mut cursor = table.cursor();
        for (i, &want) in straight.iter().enumerate() {
            assert_eq!(
                cursor.size_of(i as u64),
                Some(want),
                "{what}: ascending {i}"
            );
        }
        assert_eq!(cursor.size_of(len), None);

        // Descending: every span boundary and its neighbours, then a stride.
        let mut cursor = table.cursor();
        let mut down: Vec<u64> = (0..=3)
            .flat_map(|k| {
                let b = k * CHECKPOINT_INTERVAL;
                [b.saturating_sub(1), b, b + 1]
            })
            .chain((0..len).step_by(29_989))
            .chain([len - 1])
            .collect();
        down.sort_unstable();
        down.dedup();
        for &i in down.iter().rev() {
            assert_eq!(
                cursor.size_of(i),
                Some(straight[i as usize]),
                "{what}: down {i}"
            );
        }

        // Ascending with gaps that cross spans, then random jumps both ways.
        let mut cursor = table.cursor();
        let mut i = 5;
        while i < len {
            assert_eq!(
                cursor.size_of(i),
                Some(straight[i as usize]),
                "{what}: gap {i}"
            );
            i += 12_345;
        }
        let mut state = v.seed;
        for _ in 0..40 {
            let i = lcg(&mut state) % len;
            assert_eq!(
                cursor.size_of(i),
                Some(straight[i as usize]),
                "{what}: jump {i}"
            );
        }
        for _ in 0..8 {
            let i = lcg(&mut state) % len;
            assert_eq!(
                table.size_of(i),
                Some(straight[i as usize]),
                "{what}: size_of {i}"
            );
        }
    }
}

#[test]
fn defaults_are_sai3_bench_defaults() {
    // `size_distribution: {type: uniform}` draws from [1024, 1048576].
    let v = variants()
        .into_iter()
        .find(|v| v.case == "uniform_defaults_no_min_max")
        .expect("case");
    assert_eq!(
        v.spec,
        SizeSpec::Uniform {
            min: 1024,
            max: 1_048_576
        }
    );
    let table = SizeTable::build(&v.spec, v.seed, 20).expect("valid spec");
    assert_eq!(table.iter().collect::<Vec<_>>(), v.first_20);
}
