//! Object sizes and fill.
//!
//! # Sizes as sai3-bench draws them
//!
//! sai3-bench (v0.8.97, `src/size_generator.rs`) sizes object `i` of a pool with the
//! `(i+1)`-th `generate()` call on one generator seeded from the pool's base URI: `StdRng`
//! (rand 0.9.4, which is ChaCha12) seeded with `seed_from_u64(`[`seed_of`]`(uri))`, drawn in
//! index order. This module reproduces that arithmetic exactly, so the sizes of a dataset that
//! sai3-bench prepared are known without reading it:
//!
//! * fixed: the value, no draw;
//! * uniform `[min, max]`: one `Uniform::new_inclusive(min, max)` sample per index (Lemire's
//!   method: usually one `u64`, in principle more);
//! * lognormal with linear-space `mean` and `std_dev`: `phi² = ln(1 + std_dev²/mean²)`,
//!   `mu = ln(mean) - phi²/2`, `LogNormal(mu, sqrt(phi²))`; up to 100 samples, each `round()`ed,
//!   until one lies in `[min, max]`; if none does, a 101st sample is drawn and clamped.
//!
//! The crate versions are the ones sai3-bench's `Cargo.lock` pins (rand 0.9.4, rand_distr 0.5.1,
//! rand_chacha 0.9.0, rand_core 0.9.5); a different version may draw a different stream, which is
//! why they are pinned with `=`. `ln`, `sqrt` and `exp` are the platform's `f64` functions, as in
//! sai3-bench's build, so a lognormal size computed on another platform could in principle
//! differ; the golden vectors in `tests/size_vectors.rs` catch that.
//!
//! Lognormal (and, in principle, uniform) draws consume a variable number of random words, so
//! the size of index `i` needs every earlier draw. [`SizeTable`] makes that pass once per pool
//! and keeps the ChaCha12 stream position every [`CHECKPOINT_INTERVAL`] indices; any index is
//! then at most `CHECKPOINT_INTERVAL - 1` draws away. The samplers carry no state between
//! draws (`Uniform<u64>` and `LogNormal<f64>` sample through `&self`), so the word position is
//! the whole state.
//!
//! sai3-bench's *sequential* prepare strategy logs `description()` of the seeded generator at
//! INFO level before drawing; for lognormal specs that consumes 100 `generate()` calls, but only
//! when INFO logging is enabled (`-v`). [`SizeSpec::description_draws`] and
//! [`SizeTable::build_with_skip`] give that second sequence.
//!
//! ```
//! use cache_sai3::sizes::{seed_of, SizeSpec, SizeTable};
//! let spec = SizeSpec::Uniform { min: 1024, max: 4096 };
//! let table = SizeTable::build(&spec, seed_of("s3://bucket/data/"), 3)?;
//! let sizes: Vec<u64> = table.iter().collect();
//! assert_eq!(sizes, [1288, 3079, 1746]);
//! # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
//! ```

use rand::distr::Distribution;
use rand_chacha::ChaCha12Rng;
use rand_core::SeedableRng;
use rand_distr::{LogNormal, Uniform};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The seed sai3-bench derives from a base URI: `acc * 31 + byte` over the URI's bytes
/// (wrapping, starting at 0), exactly as written, so `s3://b/data/` and `s3://b/data` differ.
///
/// ```
/// use cache_sai3::sizes::seed_of;
/// assert_eq!(seed_of("ab"), 97 * 31 + 98);
/// assert_ne!(seed_of("s3://b/data/"), seed_of("s3://b/data"));
/// ```
pub fn seed_of(uri: &str) -> u64 {
    uri.bytes().fold(0u64, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u64::from(b))
    })
}

/// sai3-bench's uniform `min` when the distribution map has none.
///
/// ```
/// assert_eq!(cache_sai3::sizes::UNIFORM_DEFAULT_MIN, 1024);
/// ```
pub const UNIFORM_DEFAULT_MIN: u64 = 1024;
/// sai3-bench's uniform `max` when the distribution map has none.
///
/// ```
/// assert_eq!(cache_sai3::sizes::UNIFORM_DEFAULT_MAX, 1_048_576);
/// ```
pub const UNIFORM_DEFAULT_MAX: u64 = 1_048_576;
/// sai3-bench's lognormal `min` when the distribution map has none.
///
/// ```
/// assert_eq!(cache_sai3::sizes::LOGNORMAL_DEFAULT_MIN, 1);
/// ```
pub const LOGNORMAL_DEFAULT_MIN: u64 = 1;
/// sai3-bench's lognormal `max` when the distribution map has none.
///
/// ```
/// assert_eq!(cache_sai3::sizes::LOGNORMAL_DEFAULT_MAX, u64::MAX);
/// ```
pub const LOGNORMAL_DEFAULT_MAX: u64 = u64::MAX;
/// `generate()` calls sai3-bench's `description()` makes for a lognormal spec (its
/// `expected_mean()` averages 100 draws).
///
/// ```
/// assert_eq!(cache_sai3::sizes::LOGNORMAL_DESCRIPTION_DRAWS, 100);
/// ```
pub const LOGNORMAL_DESCRIPTION_DRAWS: u64 = 100;
/// Indices between two stored stream positions of a [`SizeTable`].
///
/// ```
/// assert_eq!(cache_sai3::sizes::CHECKPOINT_INTERVAL, 65_536);
/// ```
pub const CHECKPOINT_INTERVAL: u64 = 1 << 16;
/// Lognormal samples tried for an in-range size before the next one is clamped.
const LOGNORMAL_ATTEMPTS: u32 = 100;

/// How object sizes are chosen.
///
/// ```
/// use cache_sai3::sizes::SizeSpec;
/// let spec = SizeSpec::Lognormal { mean: 1 << 20, std_dev: 1 << 18, min: 1024, max: 1 << 24 };
/// assert!(spec.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizeSpec {
    /// Every object has this size.
    Fixed(u64),
    /// Uniform over `[min, max]`.
    Uniform {
        /// Smallest size.
        min: u64,
        /// Largest size.
        max: u64,
    },
    /// Lognormal with linear-space mean and standard deviation, bounded to `[min, max]`.
    Lognormal {
        /// Mean in bytes.
        mean: u64,
        /// Standard deviation in bytes.
        std_dev: u64,
        /// Smallest size.
        min: u64,
        /// Largest size.
        max: u64,
    },
}

/// A size spec sai3-bench refuses when it builds its generator (same checks, same order, same
/// messages).
///
/// ```
/// use cache_sai3::sizes::{SizeSpec, SizeSpecError};
/// let e = SizeSpec::Uniform { min: 9, max: 3 }.validate().unwrap_err();
/// assert_eq!(e, SizeSpecError::UniformMinAboveMax { min: 9, max: 3 });
/// assert_eq!(e.to_string(), "Uniform distribution: min (9) > max (3)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeSpecError {
    /// `Fixed(0)`.
    #[error("Object size must be greater than 0")]
    ZeroFixed,
    /// Uniform with `min > max`.
    #[error("Uniform distribution: min ({min}) > max ({max})")]
    UniformMinAboveMax {
        /// Lower bound.
        min: u64,
        /// Upper bound.
        max: u64,
    },
    /// Uniform with `min == 0`.
    #[error("Uniform distribution: min must be > 0")]
    UniformZeroMin,
    /// Lognormal with `mean == 0`.
    #[error("Lognormal distribution: mean must be > 0")]
    LognormalZeroMean,
    /// Lognormal with `std_dev == 0`.
    #[error("Lognormal distribution: std_dev must be > 0")]
    LognormalZeroStdDev,
    /// Lognormal with `min > max`.
    #[error("Lognormal distribution: min ({min}) > max ({max})")]
    LognormalMinAboveMax {
        /// Lower bound.
        min: u64,
        /// Upper bound.
        max: u64,
    },
    /// `rand_distr` refused the derived parameters (cannot happen for positive integer mean
    /// and std_dev, whose sigma is always finite).
    #[error("Failed to create lognormal distribution: {0}")]
    Lognormal(String),
}

/// One `generate()` of sai3-bench's `SizeGenerator`, without the RNG.
#[derive(Debug, Clone, Copy)]
enum Sampler {
    Fixed(u64),
    Uniform(Uniform<u64>),
    Lognormal {
        dist: LogNormal<f64>,
        min: u64,
        max: u64,
    },
}

impl Sampler {
    fn new(spec: &SizeSpec) -> Result<Self, SizeSpecError> {
        Ok(match *spec {
            SizeSpec::Fixed(0) => return Err(SizeSpecError::ZeroFixed),
            SizeSpec::Fixed(n) => Sampler::Fixed(n),
            SizeSpec::Uniform { min, max } => {
                if min > max {
                    return Err(SizeSpecError::UniformMinAboveMax { min, max });
                }
                if min == 0 {
                    return Err(SizeSpecError::UniformZeroMin);
                }
                let dist = Uniform::new_inclusive(min, max)
                    .map_err(|_| SizeSpecError::UniformMinAboveMax { min, max })?;
                Sampler::Uniform(dist)
            }
            SizeSpec::Lognormal {
                mean,
                std_dev,
                min,
                max,
            } => {
                if mean == 0 {
                    return Err(SizeSpecError::LognormalZeroMean);
                }
                if std_dev == 0 {
                    return Err(SizeSpecError::LognormalZeroStdDev);
                }
                if min > max {
                    return Err(SizeSpecError::LognormalMinAboveMax { min, max });
                }
                let (mu, sigma) = lognormal_params(mean, std_dev);
                let dist = LogNormal::new(mu, sigma)
                    .map_err(|e| SizeSpecError::Lognormal(e.to_string()))?;
                Sampler::Lognormal { dist, min, max }
            }
        })
    }

    /// sai3-bench's `generate()`.
    #[inline]
    fn draw(&self, rng: &mut ChaCha12Rng) -> u64 {
        match self {
            Sampler::Fixed(n) => *n,
            Sampler::Uniform(dist) => dist.sample(rng),
            Sampler::Lognormal { dist, min, max } => {
                for _ in 0..LOGNORMAL_ATTEMPTS {
                    // `as u64` saturates (and maps NaN to 0), as upstream's cast does.
                    let size = dist.sample(rng).round() as u64;
                    if size >= *min && size <= *max {
                        return size;
                    }
                }
                dist.sample(rng).round().clamp(*min as f64, *max as f64) as u64
            }
        }
    }

    fn is_fixed(&self) -> Option<u64> {
        match self {
            Sampler::Fixed(n) => Some(*n),
            _ => None,
        }
    }
}

/// `(mu, sigma)` of the lognormal with linear-space `mean` and `std_dev`, in sai3-bench's
/// order of operations (every rounding step matters).
fn lognormal_params(mean: u64, std_dev: u64) -> (f64, f64) {
    let mean_f = mean as f64;
    let std_dev_f = std_dev as f64;
    let variance = std_dev_f * std_dev_f;
    let mean_squared = mean_f * mean_f;
    let phi_squared = (1.0 + variance / mean_squared).ln();
    let phi = phi_squared.sqrt();
    let mu = mean_f.ln() - phi_squared / 2.0;
    (mu, phi)
}

impl SizeSpec {
    /// A short description for reports and the config hash, e.g. `uniform:1024:4096`.
    ///
    /// ```
    /// use cache_sai3::sizes::SizeSpec;
    /// assert_eq!(SizeSpec::Uniform { min: 1024, max: 4096 }.canonical(), "uniform:1024:4096");
    /// assert_eq!(SizeSpec::Fixed(100).canonical(), "fixed:100");
    /// ```
    pub fn canonical(&self) -> String {
        match *self {
            SizeSpec::Fixed(n) => format!("fixed:{n}"),
            SizeSpec::Uniform { min, max } => format!("uniform:{min}:{max}"),
            SizeSpec::Lognormal {
                mean,
                std_dev,
                min,
                max,
            } => format!("lognormal:{mean}:{std_dev}:{min}:{max}"),
        }
    }

    /// Whether sai3-bench accepts this spec when it builds its generator.
    ///
    /// # Errors
    /// The [`SizeSpecError`] sai3-bench would report.
    ///
    /// ```
    /// use cache_sai3::sizes::{SizeSpec, SizeSpecError};
    /// assert_eq!(SizeSpec::Fixed(1).validate(), Ok(()));
    /// assert_eq!(SizeSpec::Fixed(0).validate(), Err(SizeSpecError::ZeroFixed));
    /// ```
    pub fn validate(&self) -> Result<(), SizeSpecError> {
        Sampler::new(self).map(|_| ())
    }

    /// How many `generate()` calls sai3-bench's `description()` consumes on the seeded
    /// generator: [`LOGNORMAL_DESCRIPTION_DRAWS`] for lognormal, 0 otherwise. Its sequential
    /// strategy evaluates `description()` only when INFO logging is on (`-v`); pass this to
    /// [`SizeTable::build_with_skip`] for that sequence.
    ///
    /// ```
    /// use cache_sai3::sizes::SizeSpec;
    /// let lognormal = SizeSpec::Lognormal { mean: 4096, std_dev: 1024, min: 1, max: 1 << 20 };
    /// assert_eq!(lognormal.description_draws(), 100);
    /// assert_eq!(SizeSpec::Uniform { min: 1, max: 9 }.description_draws(), 0);
    /// ```
    pub fn description_draws(&self) -> u64 {
        match self {
            SizeSpec::Lognormal { .. } => LOGNORMAL_DESCRIPTION_DRAWS,
            SizeSpec::Fixed(_) | SizeSpec::Uniform { .. } => 0,
        }
    }
}

/// sai3-bench's `SizeGenerator::new_with_seed(spec, seed)`: an endless stream of sizes in index
/// order, the `n`-th item being the size of index `n` (plus any skipped draws).
///
/// Cost per size (release build, one core of a 2-vCPU VM): fixed nothing; uniform one ChaCha12
/// `u64` (≈165-200 M sizes/s); lognormal ≈1.02 `u64`s and an `exp` (≈50-65 M sizes/s) when
/// `[min, max]` keeps nearly all of the distribution, more when it cuts deep (each out-of-range
/// sample is one more: ≈10 M sizes/s for mean 1 MiB, std_dev 4 MiB, `[512 KiB, 2 MiB]`).
///
/// ```
/// use cache_sai3::sizes::{SizeSpec, SizeStream};
/// let stream = SizeStream::new(&SizeSpec::Fixed(512), 7)?;
/// assert_eq!(stream.take(2).collect::<Vec<_>>(), [512, 512]);
/// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SizeStream {
    sampler: Sampler,
    rng: ChaCha12Rng,
}

impl SizeStream {
    /// The stream of `spec` under `seed`, at its start.
    ///
    /// # Errors
    /// The [`SizeSpecError`] sai3-bench would report for `spec`.
    ///
    /// ```
    /// use cache_sai3::sizes::{seed_of, SizeSpec, SizeStream};
    /// let spec = SizeSpec::Uniform { min: 1024, max: 4096 };
    /// let mut stream = SizeStream::new(&spec, seed_of("s3://bucket/data/"))?;
    /// assert_eq!(stream.next_size(), 1288);
    /// assert!(SizeStream::new(&SizeSpec::Fixed(0), 1).is_err());
    /// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
    /// ```
    pub fn new(spec: &SizeSpec, seed: u64) -> Result<Self, SizeSpecError> {
        Ok(SizeStream {
            sampler: Sampler::new(spec)?,
            rng: ChaCha12Rng::seed_from_u64(seed),
        })
    }

    /// The next size: one `generate()`.
    ///
    /// ```
    /// use cache_sai3::sizes::{seed_of, SizeSpec, SizeStream};
    /// let spec = SizeSpec::Uniform { min: 1024, max: 4096 };
    /// let mut stream = SizeStream::new(&spec, seed_of("s3://bucket/data/"))?;
    /// assert_eq!([stream.next_size(), stream.next_size()], [1288, 3079]);
    /// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
    /// ```
    #[inline]
    pub fn next_size(&mut self) -> u64 {
        self.sampler.draw(&mut self.rng)
    }

    /// Discards `n` sizes (`n` `generate()` calls; nothing for a fixed spec).
    ///
    /// ```
    /// use cache_sai3::sizes::{seed_of, SizeSpec, SizeStream};
    /// let spec = SizeSpec::Uniform { min: 1024, max: 4096 };
    /// let mut stream = SizeStream::new(&spec, seed_of("s3://bucket/data/"))?;
    /// stream.skip_draws(1);
    /// assert_eq!(stream.next_size(), 3079);
    /// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
    /// ```
    pub fn skip_draws(&mut self, n: u64) {
        if self.sampler.is_fixed().is_none() {
            for _ in 0..n {
                self.next_size();
            }
        }
    }

    /// The ChaCha12 stream position, in 32-bit words from the start (0 for a fixed spec).
    ///
    /// ```
    /// use cache_sai3::sizes::{SizeSpec, SizeStream};
    /// let mut uniform = SizeStream::new(&SizeSpec::Uniform { min: 1024, max: 4096 }, 1)?;
    /// uniform.next_size();
    /// assert_eq!(uniform.word_pos(), 2);
    /// let mut fixed = SizeStream::new(&SizeSpec::Fixed(8), 1)?;
    /// fixed.next_size();
    /// assert_eq!(fixed.word_pos(), 0);
    /// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
    /// ```
    pub fn word_pos(&self) -> u128 {
        self.rng.get_word_pos()
    }
}

impl Iterator for SizeStream {
    type Item = u64;

    #[inline]
    fn next(&mut self) -> Option<u64> {
        Some(self.next_size())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

/// The sizes of indices `0..len` of one pool, by index, in sai3-bench's sequence.
///
/// [`SizeTable::build`] draws the whole sequence once and stores the ChaCha12 word position
/// before every index that is a multiple of [`CHECKPOINT_INTERVAL`] (2^16): 16 bytes per 65,536
/// indices, 16 KiB for 64M. Fixed specs store nothing and draw nothing.
///
/// Costs (one core; see [`SizeStream`] for the per-draw rates):
/// * build: the skipped draws plus one draw per index up to the last checkpoint: ≈0.4 s per
///   64M indices uniform, ≈1.2 s lognormal (≈6.5 s for the deep-cutting example above);
/// * [`SizeTable::size_of`]: a seek (one ChaCha12 4-block refill) plus up to 2^16 draws,
///   ≈0.4 ms uniform and ≈1.1 ms lognormal in the worst case;
/// * [`SizeTable::cursor`]: one draw per index for ascending access (≈125 M/s uniform, ≈49 M/s
///   lognormal), a seek when it moves back or into a later span.
///
/// The table is `Send + Sync`; lookups take `&self`.
///
/// ```
/// use cache_sai3::sizes::{SizeSpec, SizeTable};
/// let table = SizeTable::build(&SizeSpec::Fixed(100), 1, 10)?;
/// assert_eq!(table.size_of(9), Some(100));
/// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SizeTable {
    spec: SizeSpec,
    seed: u64,
    len: u64,
    skipped_draws: u64,
    sampler: Sampler,
    /// The seeded generator at word 0; cloned and positioned for every replay.
    origin: ChaCha12Rng,
    /// Word position before index `k * CHECKPOINT_INTERVAL`, for every such index `< len`.
    checkpoints: Vec<u128>,
}

impl SizeTable {
    /// The sizes of indices `0..len` of `spec` under `seed`, as sai3-bench's parallel strategy
    /// (and its sequential one without `-v`) draws them.
    ///
    /// # Errors
    /// The [`SizeSpecError`] sai3-bench would report for `spec`.
    ///
    /// ```
    /// use cache_sai3::sizes::{seed_of, SizeSpec, SizeTable};
    /// let spec = SizeSpec::Uniform { min: 1024, max: 4096 };
    /// let table = SizeTable::build(&spec, seed_of("s3://bucket/data/"), 1000)?;
    /// assert_eq!(table.size_of(1), Some(3079));
    /// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
    /// ```
    pub fn build(spec: &SizeSpec, seed: u64, len: u64) -> Result<Self, SizeSpecError> {
        Self::build_with_skip(spec, seed, len, 0)
    }

    /// Like [`SizeTable::build`], but the generator first makes `skipped_draws` `generate()`
    /// calls whose sizes belong to no index, so index `i` gets the `(skipped_draws + i + 1)`-th
    /// size. With [`SizeSpec::description_draws`] this is sai3-bench's sequential strategy at
    /// INFO logging (`-v`). Skipping costs as many draws as it skips.
    ///
    /// # Errors
    /// The [`SizeSpecError`] sai3-bench would report for `spec`.
    ///
    /// ```
    /// use cache_sai3::sizes::{seed_of, SizeSpec, SizeTable};
    /// let spec = SizeSpec::Uniform { min: 1024, max: 4096 };
    /// let skipped = SizeTable::build_with_skip(&spec, seed_of("s3://bucket/data/"), 10, 1)?;
    /// assert_eq!(skipped.size_of(0), Some(3079));
    /// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
    /// ```
    pub fn build_with_skip(
        spec: &SizeSpec,
        seed: u64,
        len: u64,
        skipped_draws: u64,
    ) -> Result<Self, SizeSpecError> {
        let sampler = Sampler::new(spec)?;
        let origin = ChaCha12Rng::seed_from_u64(seed);
        let mut checkpoints = Vec::new();
        if sampler.is_fixed().is_none() && len > 0 {
            let blocks = len.div_ceil(CHECKPOINT_INTERVAL);
            checkpoints.reserve_exact(usize::try_from(blocks).unwrap_or(0));
            let mut rng = origin.clone();
            for _ in 0..skipped_draws {
                sampler.draw(&mut rng);
            }
            for block in 0..blocks {
                checkpoints.push(rng.get_word_pos());
                if block + 1 < blocks {
                    for _ in 0..CHECKPOINT_INTERVAL {
                        sampler.draw(&mut rng);
                    }
                }
            }
        }
        Ok(SizeTable {
            spec: *spec,
            seed,
            len,
            skipped_draws,
            sampler,
            origin,
            checkpoints,
        })
    }

    /// The spec the sizes follow.
    ///
    /// ```
    /// use cache_sai3::sizes::{SizeSpec, SizeTable};
    /// let table = SizeTable::build(&SizeSpec::Uniform { min: 1, max: 9 }, 42, 10)?;
    /// assert_eq!(*table.spec(), SizeSpec::Uniform { min: 1, max: 9 });
    /// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
    /// ```
    pub fn spec(&self) -> &SizeSpec {
        &self.spec
    }

    /// The generator seed (see [`seed_of`]).
    ///
    /// ```
    /// use cache_sai3::sizes::{SizeSpec, SizeTable};
    /// let table = SizeTable::build(&SizeSpec::Uniform { min: 1, max: 9 }, 42, 10)?;
    /// assert_eq!(table.seed(), 42);
    /// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
    /// ```
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many indices the table covers.
    ///
    /// ```
    /// use cache_sai3::sizes::{SizeSpec, SizeTable};
    /// let table = SizeTable::build(&SizeSpec::Uniform { min: 1, max: 9 }, 42, 10)?;
    /// assert_eq!(table.len(), 10);
    /// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
    /// ```
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the table covers no index.
    ///
    /// ```
    /// use cache_sai3::sizes::{SizeSpec, SizeTable};
    /// let table = SizeTable::build(&SizeSpec::Uniform { min: 1, max: 9 }, 42, 10)?;
    /// assert!(!table.is_empty());
    /// assert!(SizeTable::build(&SizeSpec::Fixed(1), 42, 0)?.is_empty());
    /// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The draws made before index 0 (see [`SizeTable::build_with_skip`]).
    ///
    /// ```
    /// use cache_sai3::sizes::{SizeSpec, SizeTable};
    /// let table = SizeTable::build(&SizeSpec::Uniform { min: 1, max: 9 }, 42, 10)?;
    /// assert_eq!(table.skipped_draws(), 0);
    /// let skipped = SizeTable::build_with_skip(&SizeSpec::Fixed(1), 42, 10, 100)?;
    /// assert_eq!(skipped.skipped_draws(), 100);
    /// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
    /// ```
    pub fn skipped_draws(&self) -> u64 {
        self.skipped_draws
    }

    /// The size of index `index`, or `None` at or past [`SizeTable::len`]. Replays from the
    /// nearest checkpoint: up to 2^16 draws. For many indices in ascending order use
    /// [`SizeTable::cursor`] or [`SizeTable::iter`].
    ///
    /// ```
    /// use cache_sai3::sizes::{SizeSpec, SizeTable};
    /// let table = SizeTable::build(&SizeSpec::Uniform { min: 1, max: 9 }, 42, 10)?;
    /// let all: Vec<u64> = table.iter().collect();
    /// assert_eq!(table.size_of(7), Some(all[7]));
    /// assert_eq!(table.size_of(10), None);
    /// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
    /// ```
    pub fn size_of(&self, index: u64) -> Option<u64> {
        if index >= self.len {
            return None;
        }
        if let Some(n) = self.sampler.is_fixed() {
            return Some(n);
        }
        let mut rng = self.rng_at_block(index / CHECKPOINT_INTERVAL);
        for _ in 0..index % CHECKPOINT_INTERVAL {
            self.sampler.draw(&mut rng);
        }
        Some(self.sampler.draw(&mut rng))
    }

    /// A cursor for lookups that are mostly ascending (O(1) amortized per index).
    ///
    /// ```
    /// use cache_sai3::sizes::{SizeSpec, SizeTable};
    /// let table = SizeTable::build(&SizeSpec::Uniform { min: 1, max: 9 }, 42, 10)?;
    /// let mut cursor = table.cursor();
    /// assert!((0..10).all(|i| cursor.size_of(i) == table.size_of(i)));
    /// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
    /// ```
    pub fn cursor(&self) -> SizeCursor<'_> {
        SizeCursor {
            table: self,
            rng: None,
            next: 0,
        }
    }

    /// The sizes of indices `0..len` in order, one draw each.
    ///
    /// ```
    /// use cache_sai3::sizes::{SizeSpec, SizeTable};
    /// let table = SizeTable::build(&SizeSpec::Uniform { min: 1, max: 9 }, 42, 10)?;
    /// let sizes: Vec<u64> = table.iter().collect();
    /// assert_eq!(sizes.len(), 10);
    /// assert!(sizes.iter().all(|s| (1..=9).contains(s)));
    /// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
    /// ```
    pub fn iter(&self) -> std::iter::Take<SizeStream> {
        let rng = match self.checkpoints.is_empty() {
            true => self.origin.clone(), // fixed (nothing is drawn) or no index
            false => self.rng_at_block(0),
        };
        let stream = SizeStream {
            sampler: self.sampler,
            rng,
        };
        stream.take(usize::try_from(self.len).unwrap_or(usize::MAX))
    }

    /// A generator positioned before index `block * CHECKPOINT_INTERVAL` (which is `< len`).
    fn rng_at_block(&self, block: u64) -> ChaCha12Rng {
        let mut rng = self.origin.clone();
        rng.set_word_pos(self.checkpoints[block as usize]);
        rng
    }
}

/// Sizes of a [`SizeTable`] by index, keeping the live generator between lookups: ascending
/// indices in the same 2^16 span cost one draw per index stepped over; a later span, or a
/// smaller index, seeks to that span's checkpoint first (then at most 2^16 draws).
///
/// ```
/// use cache_sai3::sizes::{SizeSpec, SizeTable};
/// let table = SizeTable::build(&SizeSpec::Uniform { min: 1, max: 9 }, 42, 10)?;
/// let mut cursor = table.cursor();
/// assert_eq!(cursor.size_of(3), table.size_of(3));
/// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SizeCursor<'a> {
    table: &'a SizeTable,
    /// The generator positioned before index `next`; `None` until the first lookup.
    rng: Option<ChaCha12Rng>,
    next: u64,
}

impl SizeCursor<'_> {
    /// The size of index `index`, or `None` at or past the table's length.
    ///
    /// ```
    /// use cache_sai3::sizes::{SizeSpec, SizeTable};
    /// let table = SizeTable::build(&SizeSpec::Uniform { min: 1, max: 9 }, 42, 10)?;
    /// let mut cursor = table.cursor();
    /// assert_eq!(cursor.size_of(9), table.size_of(9));
    /// assert_eq!(cursor.size_of(2), table.size_of(2));
    /// assert_eq!(cursor.size_of(10), None);
    /// # Ok::<(), cache_sai3::sizes::SizeSpecError>(())
    /// ```
    pub fn size_of(&mut self, index: u64) -> Option<u64> {
        let table = self.table;
        if index >= table.len {
            return None;
        }
        if let Some(n) = table.sampler.is_fixed() {
            return Some(n);
        }
        let block = index / CHECKPOINT_INTERVAL;
        let rng = match &mut self.rng {
            Some(rng) if index >= self.next && block == self.next / CHECKPOINT_INTERVAL => rng,
            slot => {
                self.next = block * CHECKPOINT_INTERVAL;
                slot.insert(table.rng_at_block(block))
            }
        };
        while self.next < index {
            table.sampler.draw(rng);
            self.next += 1;
        }
        self.next = index + 1;
        Some(table.sampler.draw(rng))
    }
}

/// Object content.
///
/// ```
/// use cache_sai3::sizes::Fill;
/// assert_eq!(Fill::Zero.content(1, 0, 3), [0, 0, 0]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fill {
    /// All zero bytes.
    Zero,
    /// Pseudo-random bytes, deterministic per (seed, index).
    Random,
    /// Alias of `Random` kept for sai3-bench configs.
    Prand,
}

impl Fill {
    /// Parses `zero`, `random` or `prand`.
    ///
    /// ```
    /// use cache_sai3::sizes::Fill;
    /// assert_eq!(Fill::parse("prand"), Some(Fill::Prand));
    /// assert_eq!(Fill::parse("Zero"), Some(Fill::Zero));
    /// assert_eq!(Fill::parse("ones"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "zero" => Some(Fill::Zero),
            "random" => Some(Fill::Random),
            "prand" => Some(Fill::Prand),
            _ => None,
        }
    }

    /// The config spelling.
    ///
    /// ```
    /// use cache_sai3::sizes::Fill;
    /// assert_eq!(Fill::Random.as_str(), "random");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Fill::Zero => "zero",
            Fill::Random => "random",
            Fill::Prand => "prand",
        }
    }

    /// The `len` bytes of object `index` under `seed`.
    ///
    /// ```
    /// use cache_sai3::sizes::Fill;
    /// let bytes = Fill::Random.content(7, 3, 100);
    /// assert_eq!(bytes.len(), 100);
    /// assert_eq!(bytes, Fill::Prand.content(7, 3, 100));
    /// assert_ne!(bytes, Fill::Random.content(7, 4, 100));
    /// ```
    pub fn content(self, seed: u64, index: u64, len: usize) -> Vec<u8> {
        match self {
            Fill::Zero => vec![0u8; len],
            Fill::Random | Fill::Prand => {
                let mut out = Vec::with_capacity(len + 8);
                let mut x = xxh3_64_with_seed(&index.to_le_bytes(), seed) | 1;
                while out.len() < len {
                    // xorshift64*: fast, and fully determined by (seed, index).
                    x ^= x >> 12;
                    x ^= x << 25;
                    x ^= x >> 27;
                    out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
                }
                out.truncate(len);
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn content_is_deterministic() {
        assert_eq!(
            Fill::Random.content(1, 2, 100),
            Fill::Random.content(1, 2, 100)
        );
        assert_ne!(
            Fill::Random.content(1, 2, 100),
            Fill::Random.content(1, 3, 100)
        );
        assert!(Fill::Zero.content(1, 2, 10).iter().all(|&b| b == 0));
        assert_eq!(Fill::parse("PRAND"), Some(Fill::Prand));
        assert_eq!(Fill::parse("ones"), None);
    }

    #[test]
    fn seed_of_folds_the_bytes() {
        assert_eq!(seed_of(""), 0);
        assert_eq!(seed_of("a"), 97);
        assert_eq!(seed_of("ab"), 97 * 31 + 98);
        assert_eq!(seed_of("s3://bucket/data/"), 895_401_336_532_546_522);
        assert_eq!(seed_of("s3://bucket/data"), 15_500_346_685_580_028_661);
    }

    #[test]
    fn specs_sai3_bench_refuses() {
        let refused = [
            (SizeSpec::Fixed(0), "Object size must be greater than 0"),
            (
                SizeSpec::Uniform { min: 9, max: 8 },
                "Uniform distribution: min (9) > max (8)",
            ),
            (
                SizeSpec::Uniform { min: 0, max: 8 },
                "Uniform distribution: min must be > 0",
            ),
            (
                SizeSpec::Lognormal {
                    mean: 0,
                    std_dev: 0,
                    min: 9,
                    max: 8,
                },
                "Lognormal distribution: mean must be > 0",
            ),
            (
                SizeSpec::Lognormal {
                    mean: 1,
                    std_dev: 0,
                    min: 9,
                    max: 8,
                },
                "Lognormal distribution: std_dev must be > 0",
            ),
            (
                SizeSpec::Lognormal {
                    mean: 1,
                    std_dev: 1,
                    min: 9,
                    max: 8,
                },
                "Lognormal distribution: min (9) > max (8)",
            ),
        ];
        for (spec, message) in refused {
            let err = spec.validate().expect_err("refused");
            assert_eq!(err.to_string(), message);
            assert!(SizeTable::build(&spec, 1, 10).is_err());
            assert!(SizeStream::new(&spec, 1).is_err());
        }
        // Accepted by sai3-bench: a lognormal min of 0, a one-value uniform, the widest bounds.
        for spec in [
            SizeSpec::Lognormal {
                mean: 1,
                std_dev: 1,
                min: 0,
                max: 0,
            },
            SizeSpec::Uniform { min: 5, max: 5 },
            SizeSpec::Uniform {
                min: 1,
                max: u64::MAX,
            },
            SizeSpec::Lognormal {
                mean: u64::MAX,
                std_dev: u64::MAX,
                min: LOGNORMAL_DEFAULT_MIN,
                max: LOGNORMAL_DEFAULT_MAX,
            },
        ] {
            assert_eq!(spec.validate(), Ok(()), "{spec:?}");
        }
    }

    #[test]
    fn lognormal_parameters_are_sai3_benchs() {
        // mean 1 MiB, std_dev 512 KiB: mu and sigma as sai3-bench computes them (f64 bits).
        let (mu, sigma) = lognormal_params(1 << 20, 512 << 10);
        assert_eq!(mu.to_bits(), 0x402b_80b3_cf29_9337);
        assert_eq!(sigma.to_bits(), 0x3fde_3b7c_5f83_bb36);
    }

    #[test]
    fn fixed_draws_nothing() {
        let t =
            SizeTable::build_with_skip(&SizeSpec::Fixed(7), 1, u64::MAX, u64::MAX).expect("valid");
        assert!(t.checkpoints.is_empty());
        assert_eq!(t.size_of(u64::MAX - 1), Some(7));
        assert_eq!(t.size_of(u64::MAX), None);
        assert_eq!(t.cursor().size_of(3), Some(7));
        let mut s = SizeStream::new(&SizeSpec::Fixed(7), 1).expect("valid");
        s.skip_draws(u64::MAX);
        assert_eq!((s.next_size(), s.word_pos()), (7, 0));
    }

    #[test]
    fn tables_of_no_index_and_one_span() {
        let spec = SizeSpec::Uniform { min: 1, max: 10 };
        let empty = SizeTable::build(&spec, 3, 0).expect("valid");
        assert!(empty.is_empty());
        assert_eq!(empty.size_of(0), None);
        assert_eq!(empty.cursor().size_of(0), None);
        assert_eq!(empty.iter().count(), 0);
        let one = SizeTable::build(&spec, 3, 1).expect("valid");
        assert_eq!(one.checkpoints, vec![0]);
        let first = SizeStream::new(&spec, 3).expect("valid").next_size();
        assert_eq!(one.size_of(0), Some(first));
        // Checkpoints are stored only for spans that hold an index.
        let t = SizeTable::build(&spec, 3, CHECKPOINT_INTERVAL + 1).expect("valid");
        assert_eq!(t.checkpoints.len(), 2);
        let t = SizeTable::build(&spec, 3, CHECKPOINT_INTERVAL).expect("valid");
        assert_eq!(t.checkpoints.len(), 1);
    }

    /// Straight passes shared by the property tests (3 spans and a bit).
    fn passes() -> &'static [(SizeTable, Vec<u64>)] {
        static PASSES: std::sync::OnceLock<Vec<(SizeTable, Vec<u64>)>> = std::sync::OnceLock::new();
        PASSES.get_or_init(|| {
            let len = 3 * CHECKPOINT_INTERVAL + 99;
            [
                (SizeSpec::Uniform { min: 1, max: 3 }, 0),
                (
                    SizeSpec::Lognormal {
                        mean: 4096,
                        std_dev: 8192,
                        min: 1024,
                        max: 8192,
                    },
                    7,
                ),
            ]
            .iter()
            .map(|&(spec, skip)| {
                let mut s = SizeStream::new(&spec, 42).expect("valid");
                s.skip_draws(skip);
                let straight = s.take(len as usize).collect();
                let t = SizeTable::build_with_skip(&spec, 42, len, skip).expect("valid");
                (t, straight)
            })
            .collect()
        })
    }

    proptest! {
        #[test]
        fn stream_sizes_within_bounds(seed: u64, min in 1u64..1000, span in 0u64..10_000, sd in 1u64..100_000) {
            let max = min + span;
            let mut u = SizeStream::new(&SizeSpec::Uniform { min, max }, seed).expect("valid");
            let l = SizeSpec::Lognormal { mean: min + span / 2 + 1, std_dev: sd, min, max };
            let mut l = SizeStream::new(&l, seed).expect("valid");
            for _ in 0..64 {
                prop_assert!((min..=max).contains(&u.next_size()));
                prop_assert!((min..=max).contains(&l.next_size()));
            }
        }

    }

    proptest! {
        // Each case replays up to 2^16 draws (unoptimized in test builds): fewer cases.
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn size_of_is_the_ith_draw(which in 0usize..2, i in 0u64..(3 * CHECKPOINT_INTERVAL + 99)) {
            let (table, straight) = &passes()[which];
            prop_assert_eq!(table.size_of(i), Some(straight[i as usize]));
            let mut cursor = table.cursor();
            prop_assert_eq!(cursor.size_of(i), Some(straight[i as usize]));
            let j = i / 2;
            prop_assert_eq!(cursor.size_of(j), Some(straight[j as usize]));
            prop_assert_eq!(cursor.size_of(i), Some(straight[i as usize]));
        }
    }
}
