//! Numbers as sai3-bench configs write them: counts with `_`, `,` or spaces as thousands
//! separators ("64_032_768"), sizes with decimal or binary units ("8MiB", "1.5GB").

use crate::error::ConfigError;

/// Parses a count: digits with optional `_`, `,` or space separators.
///
/// ```
/// use cache_sai3::numbers::parse_count;
/// assert_eq!(parse_count("64_032_768").ok(), Some(64_032_768));
/// assert_eq!(parse_count("1,000").ok(), Some(1000));
/// assert!(parse_count("12x").is_err());
/// ```
pub fn parse_count(text: &str) -> Result<u64, String> {
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| !matches!(c, '_' | ',' | ' '))
        .collect();
    if cleaned.is_empty() || !cleaned.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a whole number"));
    }
    cleaned
        .parse::<u64>()
        .map_err(|_| format!("{text:?} does not fit in 64 bits"))
}

/// Parses a size in bytes: a whole number, or a number (may be fractional) with a unit
/// `K`/`KB`, `M`/`MB`, `G`/`GB`, `T`/`TB` (powers of 1000) or `Ki`/`KiB`, `Mi`/`MiB`, `Gi`/`GiB`,
/// `Ti`/`TiB` (powers of 1024), case-insensitive, optionally separated by a space.
///
/// ```
/// use cache_sai3::numbers::parse_size;
/// assert_eq!(parse_size("8MiB").ok(), Some(8 * 1024 * 1024));
/// assert_eq!(parse_size("1.5 GB").ok(), Some(1_500_000_000));
/// assert_eq!(parse_size("4096").ok(), Some(4096));
/// ```
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if let Ok(n) = parse_count(t) {
        return Ok(n);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{text:?} is not a size"))?;
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size: bad number {number:?}"))?;
    let multiplier: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "B" => 1,
        "K" | "KB" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        "T" | "TB" => 1_000_000_000_000,
        "KI" | "KIB" => 1 << 10,
        "MI" | "MIB" => 1 << 20,
        "GI" | "GIB" => 1 << 30,
        "TI" | "TIB" => 1 << 40,
        other => {
            return Err(format!(
                "{text:?} has unknown unit {other:?} (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            ));
        }
    };
    let bytes = (value * multiplier as f64).round();
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(bytes as u64)
}

/// A YAML scalar that may be a number or a string (sai3-bench accepts both).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// An unquoted integer.
    Int(u64),
    /// A float (only meaningful for sizes).
    Float(f64),
    /// Text such as "64_032_768" or "8MiB".
    Text(String),
}

impl Scalar {
    /// As a count, naming `field` in the error.
    pub fn count(&self, field: &str) -> Result<u64, ConfigError> {
        match self {
            Scalar::Int(n) => Ok(*n),
            Scalar::Float(f) if f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64 => {
                Ok(*f as u64)
            }
            Scalar::Float(f) => Err(ConfigError::field(
                field,
                format!("{f} is not a whole number"),
            )),
            Scalar::Text(t) => parse_count(t).map_err(|e| ConfigError::field(field, e)),
        }
    }

    /// As a size in bytes, naming `field` in the error.
    pub fn size(&self, field: &str) -> Result<u64, ConfigError> {
        match self {
            Scalar::Int(n) => Ok(*n),
            Scalar::Float(f) => {
                parse_size(&f.to_string()).map_err(|e| ConfigError::field(field, e))
            }
            Scalar::Text(t) => parse_size(t).map_err(|e| ConfigError::field(field, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(parse_count("64 032 768"), Ok(64_032_768));
        assert_eq!(parse_count(" 7 "), Ok(7));
        assert!(parse_count("").is_err());
        assert!(parse_count("-1").is_err());
        assert!(parse_count("99999999999999999999999").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1k"), Ok(1000));
        assert_eq!(parse_size("1Ki"), Ok(1024));
        assert_eq!(parse_size("2.5MiB"), Ok(2_621_440));
        assert_eq!(parse_size("16 mib"), Ok(16 << 20));
        assert!(parse_size("MB").is_err());
        assert!(
            parse_size("5 parsecs")
                .expect_err("unit")
                .contains("unknown unit")
        );
    }
}
