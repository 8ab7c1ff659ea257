//! Object sizes and fill, computed per index from a stored seed.
//!
//! sai3-bench draws sizes from `StdRng` in index order, a stream that `rand` does not promise to
//! keep across versions, and that must be replayed from index 0 to learn the size of index `i`.
//! Here the size of index `i` is a pure function of `(spec, seed, i)` built on xxh3, so any
//! index can be sized alone (lookups, resume) and the same seed gives the same sizes on every
//! run. The seed is stored in the endpoint caches' `seeds` keyspace.
//!
//! * uniform `[min, max]`: `min + (h * (max - min + 1) >> 64)`, exact integers;
//! * lognormal with linear-space `mean` and `std_dev` (as sai3-bench: `phi^2 = ln(1 +
//!   sd^2/mean^2)`, `mu = ln(mean) - phi^2/2`), Box-Muller from two hashed uniforms, up to 100
//!   draws until one falls in `[min, max]`, then clamped. Floating point goes through the
//!   platform's `ln`/`exp`, so results are stable on one platform; across platforms a size can
//!   in principle differ by one byte, which is why the ledger records the size actually written.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// How object sizes are chosen.
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

fn unit(seed: u64, index: u64, draw: u64) -> f64 {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&index.to_le_bytes());
    bytes[8..].copy_from_slice(&draw.to_le_bytes());
    // 53 random bits -> [0, 1)
    (xxh3_64_with_seed(&bytes, seed) >> 11) as f64 / (1u64 << 53) as f64
}

impl SizeSpec {
    /// The size of object `index` under `seed`.
    pub fn size_of(&self, seed: u64, index: u64) -> u64 {
        match *self {
            SizeSpec::Fixed(n) => n,
            SizeSpec::Uniform { min, max } => {
                let span = u128::from(max - min) + 1;
                let h = u128::from(xxh3_64_with_seed(&index.to_le_bytes(), seed));
                min + ((h * span) >> 64) as u64
            }
            SizeSpec::Lognormal {
                mean,
                std_dev,
                min,
                max,
            } => {
                let (mean, sd) = (mean as f64, std_dev as f64);
                let phi2 = (1.0 + sd * sd / (mean * mean)).ln();
                let (mu, phi) = (mean.ln() - phi2 / 2.0, phi2.sqrt());
                let mut last = 0.0;
                for draw in 0..100u64 {
                    let u1 = unit(seed, index, 2 * draw).max(f64::MIN_POSITIVE);
                    let u2 = unit(seed, index, 2 * draw + 1);
                    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                    last = (mu + phi * z).exp().round();
                    if last >= min as f64 && last <= max as f64 {
                        return last as u64;
                    }
                }
                last.clamp(min as f64, max as f64) as u64
            }
        }
    }

    /// A short description for reports and the config hash, e.g. `uniform:1024:4096`.
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
}

/// Object content.
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
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "zero" => Some(Fill::Zero),
            "random" => Some(Fill::Random),
            "prand" => Some(Fill::Prand),
            _ => None,
        }
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Fill::Zero => "zero",
            Fill::Random => "random",
            Fill::Prand => "prand",
        }
    }

    /// The `len` bytes of object `index` under `seed`.
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
    fn golden_sizes() {
        let u = SizeSpec::Uniform {
            min: 1024,
            max: 4096,
        };
        let got: Vec<u64> = (0..4).map(|i| u.size_of(42, i)).collect();
        assert_eq!(got, GOLDEN_UNIFORM);
        assert_eq!(SizeSpec::Fixed(7).size_of(1, 2), 7);
    }

    const GOLDEN_UNIFORM: [u64; 4] = [1859, 3756, 3097, 3339];

    #[test]
    fn lognormal_mean_is_close() {
        let l = SizeSpec::Lognormal {
            mean: 8 << 20,
            std_dev: 1 << 20,
            min: 1 << 20,
            max: 16 << 20,
        };
        let n = 20_000u64;
        let avg = (0..n).map(|i| l.size_of(9, i)).sum::<u64>() as f64 / n as f64;
        assert!((avg / (8 << 20) as f64 - 1.0).abs() < 0.02, "mean {avg}");
    }

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

    proptest! {
        #[test]
        fn sizes_within_bounds(seed: u64, i: u64, min in 1u64..1000, span in 0u64..10_000) {
            let max = min + span;
            let u = SizeSpec::Uniform { min, max };
            prop_assert!((min..=max).contains(&u.size_of(seed, i)));
            let l = SizeSpec::Lognormal { mean: min + span / 2 + 1, std_dev: span / 4 + 1, min, max };
            prop_assert!((min..=max).contains(&l.size_of(seed, i)));
        }
    }
}
