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
//!   shards `{i % S:02x}/prepared-{i:08}.dat` (`{:02x}` is a minimum width: 300 shards name
//!   index 299 `12b/`).
//! * Any dir mask is accepted, as sai3-bench accepts it (empty, without `%d`, with `/`); no
//!   depth limit other than 64-bit overflow. A `/` in the mask makes sai3-bench's manifest name
//!   fewer files than its count check expects ([`TreeLayout::manifest_files`]).
//!
//! ```
//! use cache_sai3::naming::{Distribution, TreeLayout};
//! let tree = TreeLayout::new(2, 2, 3, Distribution::Bottom, "d%d_w%d.dir")?;
//! assert_eq!(tree.file_path(3).as_deref(), Some("d1_w1.dir/d2_w2.dir/file_00000003.dat"));
//! assert_eq!(tree.parse_file_path("d1_w1.dir/d2_w2.dir/file_00000003.dat"), Some(3));
//! assert_eq!(tree.parse_file_path("d1_w2.dir/d2_w2.dir/file_00000003.dat"), None);
//! # Ok::<(), cache_sai3::error::ConfigError>(())
//! ```

use crate::error::ConfigError;

/// The default `dir_mask` of sai3-bench.
///
/// ```
/// use cache_sai3::naming::{Distribution, TreeLayout, DEFAULT_DIR_MASK};
/// let tree = TreeLayout::new(2, 1, 1, Distribution::Bottom, DEFAULT_DIR_MASK)?;
/// assert_eq!(tree.dir_path(1, 2).as_deref(), Some("sai3bench.d1_w2.dir"));
/// # Ok::<(), cache_sai3::ConfigError>(())
/// ```
pub const DEFAULT_DIR_MASK: &str = "sai3bench.d%d_w%d.dir";

/// Where files live in a tree.
///
/// ```
/// use cache_sai3::naming::Distribution;
/// assert_eq!(Distribution::parse("all")?, Distribution::All);
/// assert_eq!(Distribution::Bottom.as_str(), "bottom");
/// # Ok::<(), cache_sai3::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Distribution {
    /// Only in the deepest level.
    Bottom,
    /// In every directory, level 1 first.
    All,
}

impl Distribution {
    /// Parses `bottom` or `all` (case-sensitive, as sai3-bench).
    ///
    /// # Errors
    /// sai3-bench's `Invalid distribution strategy: 'Bottom'. Must be 'bottom' or 'all'`.
    ///
    /// ```
    /// use cache_sai3::naming::Distribution;
    /// assert_eq!(Distribution::parse("bottom")?, Distribution::Bottom);
    /// let e = Distribution::parse("Bottom").unwrap_err();
    /// assert_eq!(e.reason, "Invalid distribution strategy: 'Bottom'. Must be 'bottom' or 'all'");
    /// assert_eq!(e.field, "prepare.directory_structure.distribution");
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        match text {
            "bottom" => Ok(Distribution::Bottom),
            "all" => Ok(Distribution::All),
            other => Err(ConfigError::field(
                "prepare.directory_structure.distribution",
                format!("Invalid distribution strategy: '{other}'. Must be 'bottom' or 'all'"),
            )),
        }
    }

    /// The config spelling.
    ///
    /// ```
    /// use cache_sai3::naming::Distribution;
    /// assert_eq!(Distribution::All.as_str(), "all");
    /// assert_eq!(Distribution::parse(Distribution::Bottom.as_str())?, Distribution::Bottom);
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Distribution::Bottom => "bottom",
            Distribution::All => "all",
        }
    }
}

/// The dir mask split at its first two `%d`: a directory name is `head`, the level, `mid`, the
/// child number, `tail` (exactly `replacen("%d", level, 1)` then `replacen("%d", child, 1)`:
/// digits never form a new `%d` with their neighbours).
#[derive(Debug, Clone, PartialEq, Eq)]
enum MaskParts {
    /// No `%d`: every directory has the mask as its name.
    Literal(String),
    /// One `%d`: the level only.
    Level { head: String, rest: String },
    /// Two or more: level and child number; further `%d` stay literal in `tail`.
    LevelChild {
        head: String,
        mid: String,
        tail: String,
    },
}

impl MaskParts {
    fn new(mask: &str) -> Self {
        match mask.split_once("%d") {
            None => MaskParts::Literal(mask.to_owned()),
            Some((head, rest)) => match rest.split_once("%d") {
                None => MaskParts::Level {
                    head: head.to_owned(),
                    rest: rest.to_owned(),
                },
                Some((mid, tail)) => MaskParts::LevelChild {
                    head: head.to_owned(),
                    mid: mid.to_owned(),
                    tail: tail.to_owned(),
                },
            },
        }
    }

    /// Appends the name of a directory at `level` that is child number `child` (1-based).
    fn push(&self, out: &mut String, level: u32, child: u64) {
        match self {
            MaskParts::Literal(m) => out.push_str(m),
            MaskParts::Level { head, rest } => {
                out.push_str(head);
                push_decimal(out, u64::from(level), 1);
                out.push_str(rest);
            }
            MaskParts::LevelChild { head, mid, tail } => {
                out.push_str(head);
                push_decimal(out, u64::from(level), 1);
                out.push_str(mid);
                push_decimal(out, child, 1);
                out.push_str(tail);
            }
        }
    }
}

/// Most directory names a [`TreeLayout`] keeps precomputed (depth x width).
const NAME_TABLE_LIMIT: u64 = 1 << 16;

/// A sai3-bench directory tree, described by its parameters (and, for the usual sizes, a table
/// of its directory names: depth x width strings).
///
/// Any depth that does not overflow is accepted (sai3-bench has no depth limit): a width of 2 or
/// more overflows 64 bits past depth 63, a width of 1 never does (one directory per level).
///
/// ```
/// use cache_sai3::naming::{Distribution, TreeLayout};
/// let tree = TreeLayout::new(10, 3, 100, Distribution::Bottom, "d%d_w%d.dir")?;
/// assert_eq!(tree.total_dirs(), 1_110);
/// assert_eq!(tree.total_files(), 100_000);
/// assert_eq!(
///     tree.file_path(99_999).as_deref(),
///     Some("d1_w10.dir/d2_w10.dir/d3_w10.dir/file_00099999.dat")
/// );
/// assert!(TreeLayout::new(2, 64, 1, Distribution::Bottom, "d%d").is_err());
/// assert!(TreeLayout::new(1, 1000, 1, Distribution::Bottom, "d%d").is_ok());
/// # Ok::<(), cache_sai3::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeLayout {
    width: u64,
    depth: u32,
    files_per_dir: u64,
    distribution: Distribution,
    dir_mask: String,
    mask: MaskParts,
    /// `W^L` for L = 1..=D (index L-1), for a width of 2 or more (at most 63 levels).
    level_sizes: Vec<u64>,
    /// Number of directories before level L in level-major order (index L-1), likewise.
    level_offsets: Vec<u64>,
    total_dirs: u64,
    total_files: u64,
    /// Every directory name, level-major (`(L-1) * W + (child-1)`), when there are at most
    /// [`NAME_TABLE_LIMIT`] of them (a width of 2 or more): paths are then concatenations.
    names: Vec<String>,
    manifest_files: u64,
}

/// The name of file `i`: `file_{i:08}.dat`.
///
/// ```
/// use cache_sai3::naming::file_name;
/// assert_eq!(file_name(42), "file_00000042.dat");
/// assert_eq!(file_name(123_456_789), "file_123456789.dat");
/// ```
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

/// sai3-bench's overflow error (`validation.rs::estimate_directory_tree_totals`).
fn overflow(what: &str) -> ConfigError {
    ConfigError::field(
        DIRECTORY_STRUCTURE,
        format!("Directory tree size overflow ({what})"),
    )
}

/// Directory counts per level of a tree, checked against overflow exactly as sai3-bench's
/// estimate checks them.
struct LevelSizes {
    sizes: Vec<u64>,
    offsets: Vec<u64>,
    deepest: u64,
    total_dirs: u64,
}

impl LevelSizes {
    /// The levels of a tree with `width >= 1` and `depth >= 1`.
    fn new(width: u64, depth: u32) -> Result<Self, ConfigError> {
        if width == 1 {
            return Ok(LevelSizes {
                sizes: Vec::new(),
                offsets: Vec::new(),
                deepest: 1,
                total_dirs: u64::from(depth),
            });
        }
        let mut sizes = Vec::new();
        let mut offsets = Vec::new();
        let mut size = 1u64;
        let mut total_dirs = 0u64;
        for _ in 0..depth {
            size = size
                .checked_mul(width)
                .ok_or_else(|| overflow("width/depth too large"))?;
            offsets.push(total_dirs);
            sizes.push(size);
            total_dirs = total_dirs
                .checked_add(size)
                .ok_or_else(|| overflow("too many directories"))?;
        }
        Ok(LevelSizes {
            sizes,
            offsets,
            deepest: size,
            total_dirs,
        })
    }
}

impl TreeLayout {
    /// Validates the parameters (sai3-bench's checks and texts) and precomputes level sizes.
    ///
    /// # Errors
    /// `Directory width must be at least 1`, `Directory depth must be at least 1`,
    /// `Directory tree size overflow (...)`.
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let tree = TreeLayout::new(2, 2, 3, Distribution::All, "d%d_w%d.dir")?;
    /// assert_eq!(tree.total_files(), 18);
    /// let e = TreeLayout::new(0, 2, 3, Distribution::Bottom, "d%d").unwrap_err();
    /// assert_eq!(e.field, "prepare.directory_structure.width");
    /// assert_eq!(e.reason, "Directory width must be at least 1");
    /// let e = TreeLayout::new(1 << 32, 3, 1, Distribution::Bottom, "d%d").unwrap_err();
    /// assert_eq!(e.reason, "Directory tree size overflow (width/depth too large)");
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn new(
        width: u64,
        depth: u32,
        files_per_dir: u64,
        distribution: Distribution,
        dir_mask: &str,
    ) -> Result<Self, ConfigError> {
        if width == 0 {
            return Err(ConfigError::field(
                format!("{DIRECTORY_STRUCTURE}.width"),
                "Directory width must be at least 1",
            ));
        }
        if depth == 0 {
            return Err(ConfigError::field(
                format!("{DIRECTORY_STRUCTURE}.depth"),
                "Directory depth must be at least 1",
            ));
        }
        let levels = LevelSizes::new(width, depth)?;
        let dirs_with_files = match distribution {
            Distribution::Bottom => levels.deepest,
            Distribution::All => levels.total_dirs,
        };
        let total_files = dirs_with_files
            .checked_mul(files_per_dir)
            .ok_or_else(|| overflow("too many files"))?;
        let mut tree = TreeLayout {
            width,
            depth,
            files_per_dir,
            distribution,
            dir_mask: dir_mask.to_owned(),
            mask: MaskParts::new(dir_mask),
            level_sizes: levels.sizes,
            level_offsets: levels.offsets,
            total_dirs: levels.total_dirs,
            total_files,
            manifest_files: total_files,
            names: Vec::new(),
        };
        tree.manifest_files = tree.manifest_total();
        tree.names = tree.name_table();
        Ok(tree)
    }

    /// Every directory name by level and child, if the table is small (see
    /// [`TreeLayout::names`]); empty otherwise.
    fn name_table(&self) -> Vec<String> {
        let entries = u64::from(self.depth).saturating_mul(self.width);
        if self.width < 2 || entries > NAME_TABLE_LIMIT {
            return Vec::new();
        }
        let mut names = Vec::with_capacity(entries as usize);
        for level in 1..=self.depth {
            for child in 1..=self.width {
                let mut name = String::new();
                self.mask.push(&mut name, level, child);
                names.push(name);
            }
        }
        names
    }

    /// The number of files sai3-bench's `TreeManifest` names (`compute_file_ranges`).
    ///
    /// It equals [`TreeLayout::total_files`] except for `bottom` with a `/` in the dir mask:
    /// the manifest decides a directory's level by counting the `/` in its path, so with `k`
    /// slashes in the mask a level-`L` directory looks like level `L(k+1)`, and only the real
    /// level `D/(k+1)` (when `k+1` divides `D`) passes for the deepest. The manifest then holds
    /// `W^(D/(k+1)) x F` files, or none; the indices past it have no tree path in sai3-bench
    /// (its `get_file_path` returns `None`), while its count check still wants
    /// [`TreeLayout::total_files`].
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let plain = TreeLayout::new(2, 2, 3, Distribution::Bottom, "d%d_w%d")?;
    /// assert_eq!(plain.manifest_files(), plain.total_files());
    /// // One `/` in the mask: level 1 looks like level 2, the deepest of a 2-level tree.
    /// let slash = TreeLayout::new(2, 2, 3, Distribution::Bottom, "d%d/w%d")?;
    /// assert_eq!((slash.total_files(), slash.manifest_files()), (12, 6));
    /// let odd = TreeLayout::new(2, 3, 3, Distribution::Bottom, "d%d/w%d")?;
    /// assert_eq!(odd.manifest_files(), 0);
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn manifest_files(&self) -> u64 {
        self.manifest_files
    }

    fn manifest_total(&self) -> u64 {
        let slashes = self.dir_mask.matches('/').count() as u64;
        if self.distribution == Distribution::All || slashes == 0 {
            return self.total_files;
        }
        let per_level = slashes + 1;
        if u64::from(self.depth) % per_level != 0 {
            return 0;
        }
        // The real level D/(k+1) has W^(D/(k+1)) directories; smaller than the deepest level,
        // so no overflow.
        let level = (u64::from(self.depth) / per_level) as u32;
        self.dirs_at_level(level) * self.files_per_dir
    }

    /// Subdirectories per directory.
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let tree = TreeLayout::new(3, 2, 5, Distribution::All, "d%d_w%d")?;
    /// assert_eq!(tree.width(), 3);
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn width(&self) -> u64 {
        self.width
    }

    /// Number of levels.
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let tree = TreeLayout::new(3, 2, 5, Distribution::All, "d%d_w%d")?;
    /// assert_eq!(tree.depth(), 2);
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Files per directory that holds files.
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let tree = TreeLayout::new(3, 2, 5, Distribution::All, "d%d_w%d")?;
    /// assert_eq!(tree.files_per_dir(), 5);
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn files_per_dir(&self) -> u64 {
        self.files_per_dir
    }

    /// Where files live.
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let tree = TreeLayout::new(3, 2, 5, Distribution::All, "d%d_w%d")?;
    /// assert_eq!(tree.distribution(), Distribution::All);
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn distribution(&self) -> Distribution {
        self.distribution
    }

    /// The directory name mask.
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let tree = TreeLayout::new(3, 2, 5, Distribution::All, "d%d_w%d")?;
    /// assert_eq!(tree.dir_mask(), "d%d_w%d");
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn dir_mask(&self) -> &str {
        &self.dir_mask
    }

    /// All directories: `W + W^2 + ... + W^D`.
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let tree = TreeLayout::new(3, 2, 5, Distribution::All, "d%d_w%d")?;
    /// assert_eq!(tree.total_dirs(), 3 + 9);
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn total_dirs(&self) -> u64 {
        self.total_dirs
    }

    /// All files, as sai3-bench's count check computes them (`W^D x F` for `bottom`,
    /// directories `x F` for `all`); see [`TreeLayout::manifest_files`] for the names.
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let tree = TreeLayout::new(3, 2, 5, Distribution::All, "d%d_w%d")?;
    /// assert_eq!(tree.total_files(), (3 + 9) * 5);
    /// let bottom = TreeLayout::new(3, 2, 5, Distribution::Bottom, "d%d_w%d")?;
    /// assert_eq!(bottom.total_files(), 9 * 5);
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn total_files(&self) -> u64 {
        self.total_files
    }

    /// Directories at `level` (1-based), `W^level`; 0 outside 1..=D.
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let tree = TreeLayout::new(3, 2, 5, Distribution::All, "d%d_w%d")?;
    /// assert_eq!(tree.dirs_at_level(1), 3);
    /// assert_eq!(tree.dirs_at_level(2), 9);
    /// assert_eq!(tree.dirs_at_level(0), 0);
    /// assert_eq!(tree.dirs_at_level(3), 0);
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn dirs_at_level(&self, level: u32) -> u64 {
        if level == 0 || level > self.depth {
            0
        } else if self.width == 1 {
            1
        } else {
            self.level_sizes[(level - 1) as usize]
        }
    }

    /// Directories before `level` (1-based, within 1..=D) in level-major order.
    fn level_offset(&self, level: u32) -> u64 {
        if self.width == 1 {
            u64::from(level - 1)
        } else {
            self.level_offsets[(level - 1) as usize]
        }
    }

    /// A size hint for a path of `level` components.
    fn path_capacity(&self, level: u32) -> usize {
        (level as usize)
            .saturating_mul(self.dir_mask.len() + 8)
            .min(4096)
    }

    fn write_dir_path(&self, out: &mut String, level: u32, position: u64) {
        if self.width == 1 {
            for k in 1..=level {
                if k > 1 {
                    out.push('/');
                }
                self.mask.push(out, k, 1);
            }
            return;
        }
        // Digits of position-1 in base W (a width of 2 or more has at most 63 levels), least
        // significant first: one division per level (quotient and remainder together).
        let mut children = [0u64; 64];
        let children = &mut children[..level as usize];
        let mut rest = position - 1;
        for child in children.iter_mut().rev() {
            (rest, *child) = div_rem(rest, self.width);
        }
        for (k, &child) in (0u64..).zip(children.iter()) {
            if k > 0 {
                out.push('/');
            }
            match self.names.get((k * self.width + child) as usize) {
                Some(name) => out.push_str(name),
                None => self.mask.push(out, k as u32 + 1, child + 1),
            }
        }
    }

    /// Path of the directory at `level` with 1-based global `position`, or `None` when out of
    /// range.
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let tree = TreeLayout::new(2, 2, 3, Distribution::Bottom, "d%d_w%d.dir")?;
    /// assert_eq!(tree.dir_path(1, 2).as_deref(), Some("d1_w2.dir"));
    /// assert_eq!(tree.dir_path(2, 3).as_deref(), Some("d1_w2.dir/d2_w1.dir"));
    /// assert_eq!(tree.dir_path(2, 5), None);
    /// assert_eq!(tree.dir_path(2, 0), None);
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn dir_path(&self, level: u32, position: u64) -> Option<String> {
        if position == 0 || position > self.dirs_at_level(level) {
            return None;
        }
        let mut out = String::with_capacity(self.path_capacity(level));
        self.write_dir_path(&mut out, level, position);
        Some(out)
    }

    /// 0-based level-major index of a directory (the order sai3-bench assigns agents by).
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let tree = TreeLayout::new(2, 2, 3, Distribution::Bottom, "d%d_w%d.dir")?;
    /// assert_eq!(tree.dir_index(1, 1), Some(0));
    /// assert_eq!(tree.dir_index(2, 3), Some(4));
    /// assert_eq!(tree.dir_index(2, 5), None);
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn dir_index(&self, level: u32, position: u64) -> Option<u64> {
        (position >= 1 && position <= self.dirs_at_level(level))
            .then(|| self.level_offset(level) + position - 1)
    }

    /// The directory (level, 1-based position) that holds file `i`.
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let bottom = TreeLayout::new(2, 2, 3, Distribution::Bottom, "d%d_w%d.dir")?;
    /// assert_eq!(bottom.dir_of_file(3), Some((2, 2)));
    /// assert_eq!(bottom.dir_of_file(12), None);
    /// let all = TreeLayout::new(2, 2, 1, Distribution::All, "d%d_w%d.dir")?;
    /// assert_eq!(all.dir_of_file(1), Some((1, 2)));
    /// assert_eq!(all.dir_of_file(2), Some((2, 1)));
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn dir_of_file(&self, i: u64) -> Option<(u32, u64)> {
        if i >= self.total_files {
            return None;
        }
        let dir = i / self.files_per_dir;
        match self.distribution {
            Distribution::Bottom => Some((self.depth, dir + 1)),
            Distribution::All if self.width == 1 => Some((dir as u32 + 1, 1)),
            Distribution::All => {
                let level = self.level_offsets.partition_point(|&off| off <= dir) as u32;
                Some((level, dir - self.level_offset(level) + 1))
            }
        }
    }

    /// Path of file `i` relative to the endpoint, or `None` past the last file (of
    /// [`TreeLayout::total_files`]; sai3-bench itself names only the first
    /// [`TreeLayout::manifest_files`] of them).
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let tree = TreeLayout::new(2, 2, 3, Distribution::Bottom, "d%d_w%d.dir")?;
    /// assert_eq!(tree.file_path(0).as_deref(), Some("d1_w1.dir/d2_w1.dir/file_00000000.dat"));
    /// assert_eq!(tree.file_path(11).as_deref(), Some("d1_w2.dir/d2_w2.dir/file_00000011.dat"));
    /// assert_eq!(tree.file_path(12), None);
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn file_path(&self, i: u64) -> Option<String> {
        let mut out = String::new();
        self.write_file_path(i, &mut out).then_some(out)
    }

    /// [`TreeLayout::file_path`] into `out` (cleared first), reusing its allocation: for loops
    /// over many indices. Returns false (and leaves `out` empty) past the last file.
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let t = TreeLayout::new(2, 2, 3, Distribution::Bottom, "d%d_w%d")?;
    /// let mut path = String::new();
    /// assert!(t.write_file_path(5, &mut path));
    /// assert_eq!(path, "d1_w1/d2_w2/file_00000005.dat");
    /// assert!(!t.write_file_path(12, &mut path));
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn write_file_path(&self, i: u64, out: &mut String) -> bool {
        out.clear();
        let Some((level, position)) = self.dir_of_file(i) else {
            return false;
        };
        out.reserve(self.path_capacity(level) + 18);
        self.write_dir_path(out, level, position);
        out.push_str("/file_");
        push_decimal(out, i, 8);
        out.push_str(".dat");
        true
    }

    /// The index of the file at `path` (relative to the endpoint), if `path` is exactly the
    /// name this tree gives to a file; `None` for every other key.
    ///
    /// ```
    /// use cache_sai3::naming::{Distribution, TreeLayout};
    /// let tree = TreeLayout::new(2, 2, 3, Distribution::Bottom, "d%d_w%d.dir")?;
    /// assert_eq!(tree.parse_file_path("d1_w2.dir/d2_w2.dir/file_00000011.dat"), Some(11));
    /// // A file in the wrong directory, or a non-canonical number, is no file of the tree.
    /// assert_eq!(tree.parse_file_path("d1_w1.dir/d2_w1.dir/file_00000011.dat"), None);
    /// assert_eq!(tree.parse_file_path("d1_w1.dir/d2_w1.dir/file_0000000.dat"), None);
    /// # Ok::<(), cache_sai3::ConfigError>(())
    /// ```
    pub fn parse_file_path(&self, path: &str) -> Option<u64> {
        let (_, name) = path.rsplit_once('/')?;
        let i = parse_numbered(name, "file_", ".dat")?;
        (self.file_path(i)? == path).then_some(i)
    }
}

/// `(n / d, n % d)` in one division, a 32-bit one when both fit (several times faster than a
/// 64-bit one on common x86 cores; tree positions below 4G are the usual case).
fn div_rem(n: u64, d: u64) -> (u64, u64) {
    match (u32::try_from(n), u32::try_from(d)) {
        (Ok(n), Ok(d)) => (u64::from(n / d), u64::from(n % d)),
        _ => (n / d, n % d),
    }
}

/// The two-digit strings "00" to "99", concatenated.
const DIGIT_PAIRS: [u8; 200] = {
    let mut pairs = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        pairs[2 * i] = b'0' + (i / 10) as u8;
        pairs[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    pairs
};

/// Appends `n` in decimal, zero-padded to at least `width` digits (what `{n:0width$}` writes,
/// without the formatting machinery: paths are built millions of times per second). Two digits
/// per step from a table.
fn push_decimal(out: &mut String, n: u64, width: usize) {
    if n < 10 && width <= 1 {
        out.push(char::from(b'0' + n as u8));
        return;
    }
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    let mut rest = n;
    while rest >= 100 {
        let pair = (rest % 100) as usize * 2;
        rest /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if rest >= 10 {
        at -= 2;
        digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[rest as usize * 2..rest as usize * 2 + 2]);
    } else {
        at -= 1;
        digits[at] = b'0' + rest as u8;
    }
    // Zero padding comes from the array's initial zeros (a width above 20 pads first).
    for _ in digits.len()..width {
        out.push('0');
    }
    let start = at.min(digits.len().saturating_sub(width));
    // ASCII digits: always UTF-8.
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
}

/// The kind of flat pool, which names its files.
///
/// ```
/// use cache_sai3::naming::{flat_path, PoolKind};
/// assert_eq!(flat_path(PoolKind::Deletable, 0, 3), "deletable-00000003.dat");
/// assert!(PoolKind::Prepared < PoolKind::Deletable);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PoolKind {
    /// `prepared-*`: read-only objects for GET/STAT.
    Prepared,
    /// `deletable-*`: objects a DELETE workload consumes.
    Deletable,
}

impl PoolKind {
    /// The file-name prefix.
    ///
    /// ```
    /// use cache_sai3::naming::PoolKind;
    /// assert_eq!(PoolKind::Prepared.prefix(), "prepared");
    /// assert_eq!(PoolKind::Deletable.prefix(), "deletable");
    /// ```
    pub fn prefix(self) -> &'static str {
        match self {
            PoolKind::Prepared => "prepared",
            PoolKind::Deletable => "deletable",
        }
    }
}

/// The name of file `i` of a flat pool, with `shards` key-prefix shards (0: none).
///
/// ```
/// use cache_sai3::naming::{flat_path, PoolKind};
/// assert_eq!(flat_path(PoolKind::Prepared, 0, 7), "prepared-00000007.dat");
/// assert_eq!(flat_path(PoolKind::Prepared, 16, 31), "0f/prepared-00000031.dat");
/// assert_eq!(flat_path(PoolKind::Deletable, 300, 299), "12b/deletable-00000299.dat");
/// ```
pub fn flat_path(kind: PoolKind, shards: u32, i: u64) -> String {
    let prefix = kind.prefix();
    if shards > 0 {
        format!("{:02x}/{prefix}-{i:08}.dat", i % u64::from(shards))
    } else {
        format!("{prefix}-{i:08}.dat")
    }
}

/// The index of a flat pool's file at `path`, if `path` is exactly that name.
///
/// ```
/// use cache_sai3::naming::{parse_flat_path, PoolKind};
/// assert_eq!(parse_flat_path(PoolKind::Prepared, 0, "prepared-00000007.dat"), Some(7));
/// assert_eq!(parse_flat_path(PoolKind::Prepared, 16, "0f/prepared-00000031.dat"), Some(31));
/// // Wrong shard, wrong kind, non-canonical number: not a file of the pool.
/// assert_eq!(parse_flat_path(PoolKind::Prepared, 16, "00/prepared-00000031.dat"), None);
/// assert_eq!(parse_flat_path(PoolKind::Deletable, 0, "prepared-00000007.dat"), None);
/// assert_eq!(parse_flat_path(PoolKind::Prepared, 0, "prepared-7.dat"), None);
/// ```
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
    fn invalid_trees_with_sai3_bench_texts() {
        let reason = |w, d, f| {
            TreeLayout::new(w, d, f, Distribution::Bottom, "m")
                .expect_err("refused")
                .reason
        };
        assert_eq!(reason(0, 2, 1), "Directory width must be at least 1");
        assert_eq!(reason(2, 0, 1), "Directory depth must be at least 1");
        assert_eq!(
            reason(1 << 20, 4, 1),
            "Directory tree size overflow (width/depth too large)"
        );
        assert_eq!(
            reason(1 << 16, 3, 1 << 16),
            "Directory tree size overflow (too many files)"
        );
        assert_eq!(
            reason(2, 64, 1),
            "Directory tree size overflow (width/depth too large)"
        );
        assert_eq!(
            Distribution::parse("Bottom").expect_err("case").reason,
            "Invalid distribution strategy: 'Bottom'. Must be 'bottom' or 'all'"
        );
    }

    #[test]
    fn no_depth_limit_only_overflow() {
        let t = TreeLayout::new(2, 63, 0, Distribution::Bottom, "d%d_w%d").expect("tree");
        assert_eq!(t.total_dirs(), u64::MAX - 1);
        let p = t.dir_path(63, 1 << 62).expect("in range");
        assert_eq!(p.matches('/').count(), 62);
        assert!(p.ends_with("d62_w2/d63_w2"), "{p}");
        // A width of 1 never overflows: one directory per level.
        let deep = TreeLayout::new(1, 1000, 3, Distribution::All, "l%d").expect("tree");
        assert_eq!((deep.total_dirs(), deep.total_files()), (1000, 3000));
        let p = deep.file_path(2999).expect("in range");
        assert!(
            p.starts_with("l1/l2/l3/") && p.ends_with("/l1000/file_00002999.dat"),
            "{p}"
        );
        assert_eq!(deep.parse_file_path(&p), Some(2999));
        assert_eq!(deep.dir_index(1000, 1), Some(999));
        assert_eq!(deep.dir_of_file(3), Some((2, 1)));
        let huge = TreeLayout::new(1, u32::MAX, 7, Distribution::Bottom, "x").expect("tree");
        assert_eq!(huge.total_files(), 7);
    }

    #[test]
    fn any_mask_byte_exact() {
        // Verified against sai3-bench's DirectoryTree/TreeManifest (research harness).
        let empty = TreeLayout::new(2, 2, 1, Distribution::Bottom, "").expect("tree");
        assert_eq!(empty.file_path(0).as_deref(), Some("//file_00000000.dat"));
        assert_eq!(empty.parse_file_path("//file_00000003.dat"), Some(3));
        assert_eq!(empty.manifest_files(), 4);
        let literal = TreeLayout::new(2, 2, 1, Distribution::Bottom, "nomask").expect("tree");
        assert_eq!(
            literal.file_path(3).as_deref(),
            Some("nomask/nomask/file_00000003.dat")
        );
        let slash = TreeLayout::new(2, 2, 2, Distribution::Bottom, "a/d%d_w%d").expect("tree");
        assert_eq!((slash.total_files(), slash.manifest_files()), (8, 4));
        assert_eq!(
            slash.file_path(3).as_deref(),
            Some("a/d1_w1/a/d2_w2/file_00000003.dat")
        );
        let none = TreeLayout::new(2, 1, 2, Distribution::Bottom, "x/d%d_w%d").expect("tree");
        assert_eq!((none.total_files(), none.manifest_files()), (4, 0));
        let two = TreeLayout::new(3, 6, 1, Distribution::Bottom, "p/q/%d").expect("tree");
        assert_eq!(two.manifest_files(), 9);
        let all = TreeLayout::new(2, 2, 2, Distribution::All, "a/d%d_w%d").expect("tree");
        assert_eq!(all.manifest_files(), all.total_files());
    }

    #[test]
    fn flat_names() {
        assert_eq!(flat_path(PoolKind::Prepared, 0, 7), "prepared-00000007.dat");
        // `{:02x}` is a minimum width: 300 shards name index 299 with three digits.
        assert_eq!(
            flat_path(PoolKind::Prepared, 300, 299),
            "12b/prepared-00000299.dat"
        );
        assert_eq!(
            parse_flat_path(PoolKind::Prepared, 300, "12b/prepared-00000299.dat"),
            Some(299)
        );
        assert_eq!(
            flat_path(PoolKind::Prepared, u32::MAX, 4_294_967_294),
            "fffffffe/prepared-4294967294.dat"
        );
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
        fn decimals_are_what_format_writes(n in any::<u64>(), width in 1usize..=22) {
            let mut out = String::from("x");
            push_decimal(&mut out, n, width);
            prop_assert_eq!(out, format!("x{n:0width$}"));
        }

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
        fn flat_round_trip(i in 0u64..u64::MAX / 2, shards in prop_oneof![0u32..300, Just(u32::MAX)]) {
            for kind in [PoolKind::Prepared, PoolKind::Deletable] {
                prop_assert_eq!(parse_flat_path(kind, shards, &flat_path(kind, shards, i)), Some(i));
            }
        }
    }
}
