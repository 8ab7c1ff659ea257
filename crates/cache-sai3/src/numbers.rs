//! Numbers as sai3-bench v0.8.97 reads them, with its grammar and its error texts.
//!
//! * Counts (`ensure_objects[].count`, and as `usize` the tree's `width`, `depth`,
//!   `files_per_dir`): a YAML integer, or a string from which every `,`, `_` and space is removed
//!   before it is parsed (`"64_032_768"`, `"1,000"`). Floats (`1000.0`, `1e6`) and negative
//!   numbers are refused (`Expected u64`). sai3-bench's `serde_helpers.rs`.
//! * Sizes (`min`, `max`, `mean`, `std_dev` inside a `size_spec` distribution map only): a YAML
//!   integer, or a string: trimmed; a plain `u64`; else digits and dots, then a unit matched
//!   case-insensitively against `K KB M MB G GB T TB` (powers of 1000) and `Ki KiB Mi MiB Gi GiB
//!   Ti TiB` (powers of 1024), the product rounded. No space before the unit, no `B` unit, no
//!   separators. sai3-bench's `size_parser.rs`.
//! * [`parse_count`] is sai3-cache's own, for command-line indices.
//!
//! ```
//! use cache_sai3::numbers::{parse_count, parse_size};
//! assert_eq!(parse_size("1MiB"), Ok(1 << 20));
//! assert_eq!(parse_size("1.5k"), Ok(1500));
//! assert_eq!(parse_count("64_032_768"), Ok(64_032_768));
//! ```

use serde::Deserialize;

/// Parses a count given on sai3-cache's command line: digits with optional `_`, `,` or space
/// separators.
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

/// A count as sai3-bench's `deserialize_u64_with_separators` reads it from a YAML value
/// (`what` is `u64` or `usize`, as in its messages).
///
/// ```
/// use cache_sai3::numbers::separated_count;
/// let v = |s: &str| serde_norway::from_str::<serde_norway::Value>(s).unwrap();
/// assert_eq!(separated_count(&v("\"64 032 768\""), "u64"), Ok(64_032_768));
/// assert_eq!(separated_count(&v("1000.0"), "u64"), Err("Expected u64".to_string()));
/// ```
///
/// # Errors
/// sai3-bench's texts: `Expected u64` (a float, a negative number), `Invalid u64: {why} (from
/// '{text}')`, `Expected number or string`.
pub fn separated_count(value: &serde_norway::Value, what: &str) -> Result<u64, String> {
    match value {
        serde_norway::Value::Number(n) => n.as_u64().ok_or_else(|| format!("Expected {what}")),
        serde_norway::Value::String(s) => {
            let cleaned = s.replace([',', '_', ' '], "");
            cleaned
                .parse::<u64>()
                .map_err(|e| format!("Invalid {what}: {e} (from '{s}')"))
        }
        _ => Err("Expected number or string".to_owned()),
    }
}

/// Parses a size string as sai3-bench's `parse_size` does.
///
/// ```
/// use cache_sai3::numbers::parse_size;
/// assert_eq!(parse_size("8MiB").ok(), Some(8 * 1024 * 1024));
/// assert_eq!(parse_size("1.5GB").ok(), Some(1_500_000_000));
/// assert_eq!(parse_size("4096").ok(), Some(4096));
/// assert!(parse_size("8 MiB").is_err()); // no space before the unit
/// assert!(parse_size("100B").is_err()); // no B unit
/// ```
///
/// # Errors
/// sai3-bench's texts: `No suffix found in: {s}`, `No number found in: {s}`,
/// `Invalid number: {n}`, `Unknown size suffix: {u}. Supported: k/KB/KiB, m/MB/MiB, g/GB/GiB,
/// t/TB/TiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let input = text.trim();
    if let Ok(n) = input.parse::<u64>() {
        return Ok(n);
    }
    let start = input
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("No suffix found in: {input}"))?;
    let (number, suffix) = input.split_at(start);
    if number.is_empty() {
        return Err(format!("No number found in: {input}"));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("Invalid number: {number}"))?;
    let multiplier: u64 = match suffix.to_uppercase().as_str() {
        "K" | "KB" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        "T" | "TB" => 1_000_000_000_000,
        "KI" | "KIB" => 1 << 10,
        "MI" | "MIB" => 1 << 20,
        "GI" | "GIB" => 1 << 30,
        "TI" | "TIB" => 1 << 40,
        _ => {
            return Err(format!(
                "Unknown size suffix: {suffix}. Supported: k/KB/KiB, m/MB/MiB, g/GB/GiB, t/TB/TiB"
            ));
        }
    };
    // `as` saturates, exactly as sai3-bench's `(value * multiplier as f64).round() as u64`.
    Ok((value * multiplier as f64).round() as u64)
}

/// serde: an optional size (`min`, `max`, `mean`, `std_dev` of a distribution map), an integer
/// or a [`parse_size`] string (sai3-bench's `deserialize_size`).
///
/// # Errors
/// The [`parse_size`] message; any other YAML type fails its untagged `SizeValue`.
pub(crate) fn deserialize_size<'de, D>(deserializer: D) -> Result<Option<u64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum SizeValue {
        Number(u64),
        String(String),
    }
    match Option::<SizeValue>::deserialize(deserializer)? {
        None => Ok(None),
        Some(SizeValue::Number(n)) => Ok(Some(n)),
        Some(SizeValue::String(s)) => parse_size(&s).map(Some).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_counts() {
        assert_eq!(parse_count("64 032 768"), Ok(64_032_768));
        assert_eq!(parse_count(" 7 "), Ok(7));
        assert!(parse_count("").is_err());
        assert!(parse_count("-1").is_err());
        assert!(parse_count("99999999999999999999999").is_err());
    }

    fn value(yaml: &str) -> serde_norway::Value {
        serde_norway::from_str(yaml).expect("yaml")
    }

    #[test]
    fn counts_as_sai3_bench_reads_them() {
        assert_eq!(separated_count(&value("64032768"), "u64"), Ok(64_032_768));
        assert_eq!(separated_count(&value("\"1,000\""), "u64"), Ok(1000));
        assert_eq!(separated_count(&value("\"1_000\""), "u64"), Ok(1000));
        assert_eq!(separated_count(&value("\"1 0 0\""), "u64"), Ok(100));
        assert_eq!(separated_count(&value("\"+5\""), "u64"), Ok(5));
        for refused in ["1000.0", "1e6", "-1"] {
            assert_eq!(
                separated_count(&value(refused), "u64"),
                Err("Expected u64".into()),
                "{refused}"
            );
        }
        assert_eq!(
            separated_count(&value("\"12x\""), "usize"),
            Err("Invalid usize: invalid digit found in string (from '12x')".into())
        );
        assert_eq!(
            separated_count(&value("\"\""), "u64"),
            Err("Invalid u64: cannot parse integer from empty string (from '')".into())
        );
        assert_eq!(
            separated_count(&value("[1]"), "u64"),
            Err("Expected number or string".into())
        );
        assert_eq!(
            separated_count(&value("null"), "u64"),
            Err("Expected number or string".into())
        );
    }

    #[test]
    fn sizes_as_sai3_bench_reads_them() {
        assert_eq!(parse_size("1k"), Ok(1000));
        assert_eq!(parse_size("1Ki"), Ok(1024));
        assert_eq!(parse_size("2.5MiB"), Ok(2_621_440));
        assert_eq!(parse_size("16mib"), Ok(16 << 20));
        assert_eq!(parse_size(" 8MiB "), Ok(8 << 20));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("99999999999TiB"), Ok(u64::MAX));
        assert_eq!(parse_size("MB"), Err("No number found in: MB".into()));
        assert_eq!(parse_size("1.5"), Err("No suffix found in: 1.5".into()));
        assert_eq!(parse_size("1.2.3K"), Err("Invalid number: 1.2.3".into()));
        assert_eq!(
            parse_size("2 KiB"),
            Err(
                "Unknown size suffix:  KiB. Supported: k/KB/KiB, m/MB/MiB, g/GB/GiB, t/TB/TiB"
                    .into()
            )
        );
        assert!(parse_size("100B").is_err());
        assert!(parse_size("1,000").is_err());
        assert!(parse_size("-5K").is_err());
    }
}
