//! sai3-bench's names for directories and files, byte for byte, in closed form.
//!
//! Nothing here materializes the directory list: a path is computed from an index in O(depth)
//! and parsed back in O(depth), whatever the size of the tree.
//!
//! * Directory at level `L` (1-based) with 1-based global position `G`: write `G-1` in base `W`
//!   as `L` digits `d1..dL`; component `k` is the dir mask with its first `%d` replaced by `k`
//!   and its second by `dk + 1` (a missing `%d` is skipped, further ones stay literal);
//!   components are joined by `/`.
//! * Files are numbered globally: `file_{i:08}.dat`. `bottom`: file `i` is in leaf
//!   `floor(i / F)` (level `D`, position `floor(i / F) + 1`). `all`: directories in level-major
//!   order (level 1, then level 2, ...), each holding `F` consecutive indices.
//! * Flat datasets: `prepared-{i:08}.dat` / `deletable-{i:08}.dat`, or with `S > 0` key prefix
//!   shards `{i % S:02x}/prepared-{i:08}.dat`.
//!
//! ```
//! use cache_sai3::naming::{Distribution, TreeLayout};
//! let tree = TreeLayout::new(2, 2, 3, Distribution::Bottom, "d%d_w%d.dir")?;
//! assert_eq!(tree.file_path(3).as_deref(), Some("d1_w1.dir/d2_w2.dir/file_00000003.dat"));
//! assert_eq!(tree.parse_file_path("d1_w1.dir/d2_w2.dir/file_00000003.dat"), Some(3));
//! assert_eq!(tree.parse_file_path("d1_w2.dir/d2_w2.dir/file_00000003.dat"), None);
//! # Ok::<(), cache_sai3::error::ConfigError>(())
//! ```

use std::fmt::Write;

use crate::error::ConfigError;

/// The default `dir_mask` of sai3-bench.
pub const DEFAULT_DIR_MASK: &str = "sai3bench.d%d_w%d.dir";

/// Where files live in a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Distribution {
    /// Only in the deepest level.
    Bottom,
    /// In every directory, level 1 first.
    All,
}

impl Distribution {
    /// Parses `bottom` or `all`.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        match text {
            "bottom" => Ok(Distribution::Bottom),
            "all" => Ok(Distribution::All),
            other => Err(ConfigError::field(
                "prepare.directory_structure.distribution",
                format!("{other:?} is not a distribution; use \"bottom\" or \"all\""),
            )),
        }
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Distribution::Bottom => "bottom",
            Distribution::All => "all",
        }
    }
}

/// One level's directory-name template: the mask with its first `%d` replaced by the level,
/// split at the next `%d` (where the child number goes), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LevelTemplate {
    before: String,
    after: Option<String>,
}

/// A sai3-bench directory tree, described by its parameters only (tens of bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeLayout {
    width: u64,
    depth: u32,
    files_per_dir: u64,
    distribution: Distribution,
    dir_mask: String,
    /// `W^L` for L = 1..=D (index L-1).
    level_sizes: Vec<u64>,
    /// Number of directories before level L in level-major order (index L-1).
    level_offsets: Vec<u64>,
    total_dirs: u64,
    total_files: u64,
    templates: Vec<LevelTemplate>,
}

/// The name of file `i`: `file_{i:08}.dat`.
pub fn file_name(i: u64) -> String {
    format!("file_{i:08}.dat")
}

fn parse_numbered(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let i: u64 = digits.parse().ok()?;
    // Only the canonical spelling counts: 8 digits zero-padded, more without leading zeros.
    (format!("{i:08}") == digits).then_some(i)
}

/// The config section a tree comes from (the field of its errors).
const DIRECTORY_STRUCTURE: &str = "prepare.directory_structure";

/// Refuses zero width or depth and an empty dir mask.
fn check_parameters(width: u64, depth: u32, dir_mask: &str) -> Result<(), ConfigError> {
    const F: &str = DIRECTORY_STRUCTURE;
    if width == 0 {
        return Err(ConfigError::field(
            format!("{F}.width"),
            "must be at least 1",
        ));
    }
    if depth == 0 {
        return Err(ConfigError::field(
            format!("{F}.depth"),
            "must be at least 1",
        ));
    }
    if dir_mask.is_empty() {
        return Err(ConfigError::field(
            format!("{F}.dir_mask"),
            "must not be empty",
        ));
    }
    Ok(())
}

/// The error of a tree with more directories or files (`what`) than a `u64` counts.
fn overflow(width: u64, depth: u32, what: &str) -> ConfigError {
    ConfigError::field(
        DIRECTORY_STRUCTURE.to_string(),
        format!("width {width} and depth {depth} give more {what} than fit in 64 bits"),
    )
}

/// Directory counts per level of a tree, checked against overflow.
struct LevelSizes {
    /// `W^L` for L = 1..=D (index L-1).
    sizes: Vec<u64>,
    /// Number of directories before level L in level-major order (index L-1).
    offsets: Vec<u64>,
    total_dirs: u64,
}

impl LevelSizes {
    /// The levels of a tree with `width` and `depth >= 1`.
    fn new(width: u64, depth: u32) -> Result<Self, ConfigError> {
        let mut sizes = Vec::with_capacity(depth as usize);
        let mut offsets = Vec::with_capacity(depth as usize);
        let mut size = 1u64;
        let mut total_dirs = 0u64;
        for _ in 0..depth {
            size = size
                .checked_mul(width)
                .ok_or_else(|| overflow(width, depth, "directories"))?;
            offsets.push(total_dirs);
            sizes.push(size);
            total_dirs = total_dirs
                .checked_add(size)
                .ok_or_else(|| overflow(width, depth, "directories"))?;
        }
        Ok(LevelSizes {
            sizes,
            offsets,
            total_dirs,
        })
    }

    /// Directories in the deepest level (1 for a tree without levels).
    fn deepest(&self) -> u64 {
        self.sizes.last().copied().unwrap_or(1)
    }
}

/// The directory-name template of each level 1..=`depth`.
fn level_templates(dir_mask: &str, depth: u32) -> Vec<LevelTemplate> {
    (1..=depth)
        .map(|level| {
            let first = dir_mask.replacen("%d", &level.to_string(), 1);
            match first.split_once("%d") {
                Some((before, after)) => LevelTemplate {
                    before: before.to_owned(),
                    after: Some(after.to_owned()),
                },
                None => LevelTemplate {
                    before: first,
                    after: None,
                },
            }
        })
        .collect()
}

impl TreeLayout {
    /// Validates the parameters and precomputes level sizes.
    ///
    /// # Errors
    /// Zero width or depth, or totals (directories, files) that overflow 64 bits.
    pub fn new(
        width: u64,
        depth: u32,
        files_per_dir: u64,
        distribution: Distribution,
        dir_mask: &str,
    ) -> Result<Self, ConfigError> {
        check_parameters(width, depth, dir_mask)?;
        let levels = LevelSizes::new(width, depth)?;
        let dirs_with_files = match distribution {
            Distribution::Bottom => levels.deepest(),
            Distribution::All => levels.total_dirs,
        };
        let total_files = dirs_with_files
            .checked_mul(files_per_dir)
            .ok_or_else(|| overflow(width, depth, "files"))?;
        Ok(TreeLayout {
            width,
            depth,
            files_per_dir,
            distribution,
            dir_mask: dir_mask.to_owned(),
            level_sizes: levels.sizes,
            level_offsets: levels.offsets,
            total_dirs: levels.total_dirs,
            total_files,
            templates: level_templates(dir_mask, depth),
        })
    }

    /// Subdirectories per directory.
    pub fn width(&self) -> u64 {
        self.width
    }

    /// Number of levels.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Files per directory that holds files.
    pub fn files_per_dir(&self) -> u64 {
        self.files_per_dir
    }

    /// Where files live.
    pub fn distribution(&self) -> Distribution {
        self.distribution
    }

    /// The directory name mask.
    pub fn dir_mask(&self) -> &str {
        &self.dir_mask
    }

    /// All directories: `W + W^2 + ... + W^D`.
    pub fn total_dirs(&self) -> u64 {
        self.total_dirs
    }

    /// All files.
    pub fn total_files(&self) -> u64 {
        self.total_files
    }

    /// Directories at `level` (1-based), `W^level`; 0 outside 1..=D.
    pub fn dirs_at_level(&self, level: u32) -> u64 {
        level
            .checked_sub(1)
            .and_then(|l| self.level_sizes.get(l as usize).copied())
            .unwrap_or(0)
    }

    fn push_component(&self, out: &mut String, level: u32, child: u64) {
        let t = &self.templates[(level - 1) as usize];
        out.push_str(&t.before);
        if let Some(after) = &t.after {
            let _ = write!(out, "{child}");
            out.push_str(after);
        }
    }

    fn write_dir_path(&self, out: &mut String, level: u32, position: u64) {
        // Digits of position-1 in base W, most significant first, exactly `level` of them.
        let mut digits = [0u64; 64];
        let mut rest = position - 1;
        for slot in digits[..level as usize].iter_mut().rev() {
            *slot = rest % self.width;
            rest /= self.width;
        }
        for (k, d) in digits[..level as usize].iter().enumerate() {
            if k > 0 {
                out.push('/');
            }
            self.push_component(out, k as u32 + 1, d + 1);
        }
    }

    /// Path of the directory at `level` with 1-based global `position`, or `None` when out of
    /// range.
    pub fn dir_path(&self, level: u32, position: u64) -> Option<String> {
        if position == 0 || position > self.dirs_at_level(level) {
            return None;
        }
        let mut out = String::with_capacity(level as usize * (self.dir_mask.len() + 4));
        self.write_dir_path(&mut out, level, position);
        Some(out)
    }

    /// 0-based level-major index of a directory (the order sai3-bench assigns agents by).
    pub fn dir_index(&self, level: u32, position: u64) -> Option<u64> {
        (position >= 1 && position <= self.dirs_at_level(level))
            .then(|| self.level_offsets[(level - 1) as usize] + position - 1)
    }

    /// The directory (level, 1-based position) that holds file `i`.
    pub fn dir_of_file(&self, i: u64) -> Option<(u32, u64)> {
        if i >= self.total_files {
            return None;
        }
        let dir = i / self.files_per_dir;
        match self.distribution {
            Distribution::Bottom => Some((self.depth, dir + 1)),
            Distribution::All => {
                let level = self.level_offsets.partition_point(|&off| off <= dir) as u32;
                Some((level, dir - self.level_offsets[(level - 1) as usize] + 1))
            }
        }
    }

    /// Path of file `i` relative to the endpoint, or `None` past the last file.
    pub fn file_path(&self, i: u64) -> Option<String> {
        let (level, position) = self.dir_of_file(i)?;
        let mut out = String::with_capacity(level as usize * (self.dir_mask.len() + 4) + 18);
        self.write_dir_path(&mut out, level, position);
        let _ = write!(out, "/file_{i:08}.dat");
        Some(out)
    }

    /// The index of the file at `path` (relative to the endpoint), if `path` is exactly the
    /// name this tree gives to a file; `None` for every other key.
    pub fn parse_file_path(&self, path: &str) -> Option<u64> {
        let (_, name) = path.rsplit_once('/')?;
        let i = parse_numbered(name, "file_", ".dat")?;
        (self.file_path(i)? == path).then_some(i)
    }
}

/// The kind of flat pool, which names its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PoolKind {
    /// `prepared-*`: read-only objects for GET/STAT.
    Prepared,
    /// `deletable-*`: objects a DELETE workload consumes.
    Deletable,
}

impl PoolKind {
    /// The file-name prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            PoolKind::Prepared => "prepared",
            PoolKind::Deletable => "deletable",
        }
    }
}

/// The name of file `i` of a flat pool, with `shards` key-prefix shards (0: none).
pub fn flat_path(kind: PoolKind, shards: u32, i: u64) -> String {
    let prefix = kind.prefix();
    if shards > 0 {
        format!("{:02x}/{prefix}-{i:08}.dat", i % u64::from(shards))
    } else {
        format!("{prefix}-{i:08}.dat")
    }
}

/// The index of a flat pool's file at `path`, if `path` is exactly that name.
pub fn parse_flat_path(kind: PoolKind, shards: u32, path: &str) -> Option<u64> {
    let name = if shards > 0 {
        path.rsplit_once('/')?.1
    } else {
        path
    };
    let i = parse_numbered(name, &format!("{}-", kind.prefix()), ".dat")?;
    (flat_path(kind, shards, i) == path).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_bottom() {
        // sai3-bench test_get_file_path_bottom_distribution_o1.
        let t = TreeLayout::new(2, 2, 3, Distribution::Bottom, "d%d_w%d.dir").expect("tree");
        assert_eq!(t.total_files(), 12);
        assert_eq!(
            t.file_path(0).as_deref(),
            Some("d1_w1.dir/d2_w1.dir/file_00000000.dat")
        );
        assert_eq!(
            t.file_path(3).as_deref(),
            Some("d1_w1.dir/d2_w2.dir/file_00000003.dat")
        );
        assert_eq!(
            t.file_path(11).as_deref(),
            Some("d1_w2.dir/d2_w2.dir/file_00000011.dat")
        );
        assert_eq!(t.file_path(12), None);
    }

    #[test]
    fn golden_all() {
        // sai3-bench test_get_file_path_all_distribution_o1.
        let t = TreeLayout::new(2, 2, 2, Distribution::All, "d%d_w%d.dir").expect("tree");
        assert_eq!(t.total_dirs(), 6);
        assert_eq!(t.total_files(), 12);
        assert_eq!(
            t.file_path(0).as_deref(),
            Some("d1_w1.dir/file_00000000.dat")
        );
        assert_eq!(
            t.file_path(2).as_deref(),
            Some("d1_w2.dir/file_00000002.dat")
        );
        assert_eq!(
            t.file_path(4).as_deref(),
            Some("d1_w1.dir/d2_w1.dir/file_00000004.dat")
        );
        assert_eq!(
            t.file_path(11).as_deref(),
            Some("d1_w2.dir/d2_w2.dir/file_00000011.dat")
        );
    }

    #[test]
    fn golden_dirs_and_masks() {
        let t = TreeLayout::new(2, 2, 0, Distribution::Bottom, DEFAULT_DIR_MASK).expect("tree");
        assert_eq!(t.dir_path(1, 2).as_deref(), Some("sai3bench.d1_w2.dir"));
        assert_eq!(
            t.dir_path(2, 3).as_deref(),
            Some("sai3bench.d1_w2.dir/sai3bench.d2_w1.dir")
        );
        assert_eq!(t.dir_path(2, 5), None);
        assert_eq!(t.dir_index(2, 1), Some(2));
        // One %d: only the level; no %d: a constant name; three: the third stays literal.
        let one = TreeLayout::new(3, 2, 1, Distribution::Bottom, "lvl%d").expect("tree");
        assert_eq!(one.dir_path(2, 4).as_deref(), Some("lvl1/lvl2"));
        let none = TreeLayout::new(3, 1, 1, Distribution::Bottom, "x").expect("tree");
        assert_eq!(none.dir_path(1, 3).as_deref(), Some("x"));
        let three = TreeLayout::new(10, 2, 1, Distribution::Bottom, "a%d_%d_%d").expect("tree");
        assert_eq!(three.dir_path(2, 37).as_deref(), Some("a1_4_%d/a2_7_%d"));
        // Past 1e8 the file name simply grows.
        let big = TreeLayout::new(1000, 3, 200, Distribution::Bottom, "d%d_w%d.dir").expect("tree");
        let p = big.file_path(123_456_789_012).expect("path");
        assert!(p.ends_with("/file_123456789012.dat"), "{p}");
        assert_eq!(big.parse_file_path(&p), Some(123_456_789_012));
    }

    #[test]
    fn invalid_trees() {
        assert!(TreeLayout::new(0, 2, 1, Distribution::Bottom, "m").is_err());
        assert!(TreeLayout::new(2, 0, 1, Distribution::Bottom, "m").is_err());
        let e = TreeLayout::new(1 << 20, 4, 1, Distribution::Bottom, "m").expect_err("overflow");
        assert!(e.reason.contains("64 bits"), "{e}");
        assert!(TreeLayout::new(1 << 16, 4, 1 << 8, Distribution::Bottom, "m").is_err());
        assert!(Distribution::parse("top").is_err());
    }

    #[test]
    fn flat_names() {
        assert_eq!(flat_path(PoolKind::Prepared, 0, 7), "prepared-00000007.dat");
        assert_eq!(
            flat_path(PoolKind::Deletable, 16, 33),
            "01/deletable-00000033.dat"
        );
        assert_eq!(
            parse_flat_path(PoolKind::Deletable, 16, "01/deletable-00000033.dat"),
            Some(33)
        );
        assert_eq!(
            parse_flat_path(PoolKind::Deletable, 16, "02/deletable-00000033.dat"),
            None
        );
        assert_eq!(
            parse_flat_path(PoolKind::Prepared, 0, "prepared-0000007.dat"),
            None
        );
        assert_eq!(
            parse_flat_path(PoolKind::Prepared, 0, "prepared-000000007.dat"),
            None
        );
        assert_eq!(
            parse_flat_path(PoolKind::Prepared, 0, "deletable-00000007.dat"),
            None
        );
        assert_eq!(
            parse_flat_path(PoolKind::Prepared, 0, "prepared-123456789.dat"),
            Some(123_456_789)
        );
    }

    fn layout() -> impl Strategy<Value = TreeLayout> {
        (
            1u64..6,
            1u32..5,
            1u64..5,
            any::<bool>(),
            prop_oneof![
                Just("d%d_w%d.dir"),
                Just("sai3bench.d%d_w%d.dir"),
                Just("x%d"),
                Just("%d%d")
            ],
        )
            .prop_map(|(w, d, f, all, mask)| {
                let dist = if all {
                    Distribution::All
                } else {
                    Distribution::Bottom
                };
                TreeLayout::new(w, d, f, dist, mask).expect("valid tree")
            })
    }

    proptest! {
        #[test]
        fn path_index_round_trip(t in layout(), pick in any::<prop::sample::Index>()) {
            let i = pick.index(t.total_files() as usize) as u64;
            let p = t.file_path(i).expect("in range");
            prop_assert_eq!(t.parse_file_path(&p), Some(i));
        }

        #[test]
        fn distinct_indices_distinct_paths(t in layout()) {
            prop_assume!(t.dir_mask() != "%d%d"); // "%d%d" is ambiguous (1,11 vs 11,1) by design
            let n = t.total_files().min(500);
            let paths: std::collections::HashSet<String> =
                (0..n).map(|i| t.file_path(i).expect("in range")).collect();
            prop_assert_eq!(paths.len() as u64, n);
        }

        #[test]
        fn every_directory_gets_exactly_files_per_dir(t in layout()) {
            let mut counts = std::collections::HashMap::new();
            for i in 0..t.total_files() {
                *counts.entry(t.dir_of_file(i).expect("in range")).or_insert(0u64) += 1;
            }
            prop_assert!(counts.values().all(|&c| c == t.files_per_dir()));
        }

        #[test]
        fn foreign_keys_do_not_parse(t in layout(), junk in "[a-z0-9_./]{0,40}") {
            if let Some(i) = t.parse_file_path(&junk) {
                prop_assert_eq!(t.file_path(i), Some(junk.clone()));
            }
        }

        #[test]
        fn flat_round_trip(i in 0u64..u64::MAX / 2, shards in 0u32..300) {
            for kind in [PoolKind::Prepared, PoolKind::Deletable] {
                prop_assert_eq!(parse_flat_path(kind, shards, &flat_path(kind, shards, i)), Some(i));
            }
        }
    }
}
