//! A sai3-bench dataset served by the dataset-shaped S3 server of `test-servers`
//! ([`DatasetS3`]): the keys each endpoint of a config holds are generated from indices, in
//! the exact byte order of key, and which of them exist is a bitmap.
//!
//! * [`EndpointObjects`]: one pool on one endpoint, the keys sai3-bench (and sai3-cache) write
//!   there: the endpoint's key prefix in its bucket, then [`Dataset::path_of`].
//! * [`dataset_sets`] / [`dataset_server`]: every pool on every endpoint of a dataset, each
//!   endpoint in its bucket (several endpoints may share one).
//! * [`Present`]: which objects exist at the start (all, none, all but a fraction).
//!
//! # Key order
//!
//! LIST walks [`SyntheticObjects::keys_after`] once per page from the last key returned, so
//! the enumeration starts at any key without walking what comes before it:
//!
//! * a tree is walked depth first, each directory's entries sorted by name: a subdirectory
//!   as `name/` (every key under it starts with that), a file by its name. This is exact
//!   when no sibling's `name/` starts another sibling's name (distinct names without a `/`
//!   always qualify); a dir mask whose sibling names collide or nest (one without a child
//!   `%d`, some with a `/`) is refused. Whole directories before the resume key are skipped,
//!   and so are those holding no index of the pool.
//! * Numbered files (`file_{i:08}.dat`, `prepared-{i:08}.dat`) are ordered by name, not by
//!   index: each digit count (8 digits zero-padded, then 9, 10, ...) ascends with the index,
//!   and the counts are merged (`file_10000000.dat` < `file_100000000.dat` <
//!   `file_10000001.dat`).
//! * Key-prefix shards are directories `{s:02x}/`, sorted by name; shards holding no index of
//!   the endpoint are skipped without a look at their files.
//!
//! Indices not placed on the endpoint are skipped before their key is formatted.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use cache_sai3::dataset::{Dataset, Pool};
use cache_sai3::naming::{Distribution, TreeLayout};
use cache_sai3::placement::{self, Rule, Share};
use cache_sai3::sizes::{CHECKPOINT_INTERVAL, SizeSpec, SizeTable, seed_of};
use cache_sai3::store::{EndpointTarget, parse_endpoint};
use roaring::RoaringTreemap;
use test_servers::{DatasetS3, DatasetS3Builder, SyntheticObjects, full_presence};

/// Most directory (or shard) names a served dataset may have (depth x width).
const MAX_NAMES: u64 = 1 << 22;

/// Size blocks kept for sizes that are drawn (each [`CHECKPOINT_INTERVAL`] sizes).
const CACHED_BLOCKS: usize = 8;

/// Digit counts of numbered names: 8 (zero-padded) up to the 20 of `u64::MAX`.
const DIGIT_COUNTS: std::ops::RangeInclusive<u32> = 8..=20;

/// A directory of the walk: the endpoint root (level 0), a key-prefix shard (level 1,
/// position = shard number), or a tree directory (level and 1-based position in the level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dir {
    level: u32,
    position: u64,
}

/// The endpoint root.
const ROOT: Dir = Dir {
    level: 0,
    position: 1,
};

/// Children of a directory, sorted by key: `(name + "/", child number)`.
type Sorted = Vec<(String, u64)>;

/// How a pool names its objects.
enum Shape {
    /// Numbered files at the endpoint root.
    Flat,
    /// Numbered files in `shards` key-prefix shards.
    Sharded { shards: u64, sorted: Sorted },
    /// A tree: per level, its names sorted; indices below `named` have tree paths, the rest
    /// (a `/` in the dir mask) are flat files at the root.
    Tree {
        tree: Box<TreeLayout>,
        levels: Vec<Sorted>,
        named: u64,
    },
}

/// The indices `first, first + step, ...` below `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Progression {
    first: u64,
    step: u64,
    end: u64,
}

impl Progression {
    /// `first..end`.
    fn range(first: u64, end: u64) -> Self {
        Progression {
            first,
            step: 1,
            end,
        }
    }

    /// Number of indices.
    fn len(&self) -> u64 {
        if self.first >= self.end {
            0
        } else {
            (self.end - self.first).div_ceil(self.step)
        }
    }

    /// Index number `k` (below [`Progression::len`]).
    fn nth(&self, k: u64) -> u64 {
        self.first + k * self.step
    }

    /// The members within `lo..hi`, if any.
    fn within(&self, lo: u64, hi: u64) -> Option<Progression> {
        let start = self.first.max(lo);
        let skipped = (start - self.first).div_ceil(self.step);
        let first = skipped
            .checked_mul(self.step)
            .and_then(|d| self.first.checked_add(d))?;
        let end = self.end.min(hi);
        (first < end).then_some(Progression {
            first,
            step: self.step,
            end,
        })
    }

    /// Removes and returns the first member `placed` accepts.
    fn next_placed(&mut self, placed: impl Fn(u64) -> bool) -> Option<u64> {
        while self.first < self.end {
            let i = self.first;
            self.first = i.checked_add(self.step).unwrap_or(self.end);
            if placed(i) {
                return Some(i);
            }
        }
        None
    }

    /// Drops the members whose name (which ascends with the index) is at most `after`.
    fn skip_names_upto(&mut self, name: impl Fn(u64) -> String, after: &str) {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if name(self.nth(mid)).as_str() <= after {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        self.first = if lo < self.len() {
            self.nth(lo)
        } else {
            self.end
        };
    }
}

/// `lo..hi` of the indices whose decimal form has `digits` digits (8: every index below
/// 10^8, zero-padded).
fn digit_range(digits: u32) -> (u64, u64) {
    let lo = match digits {
        8 => 0,
        d => 10u64.checked_pow(d - 1).unwrap_or(u64::MAX),
    };
    (lo, 10u64.checked_pow(digits).unwrap_or(u64::MAX))
}

/// A numbered file name: `{prefix}{i:08}.dat`.
fn numbered(prefix: &str, i: u64) -> String {
    format!("{prefix}{i:08}.dat")
}

/// The sizes of a pool's objects, the sequence sai3-cache writes (the one
/// [`cache_sai3::object_sizes::DatasetSizes`] gives): a constant, or drawn sizes kept a few
/// blocks at a time (LIST reads them in key order, mostly close together).
struct Sizes {
    table: SizeTable,
    fixed: Option<u64>,
    recent: Mutex<Vec<(u64, Arc<[u64]>)>>,
}

impl Sizes {
    fn new(pool: &Pool) -> anyhow::Result<Self> {
        let table = SizeTable::build(&pool.size, seed_of(&pool.size_seed_uri), pool.count)
            .with_context(|| format!("the size spec of pool {}", pool.id))?;
        let fixed = match pool.size {
            SizeSpec::Fixed(n) => Some(n),
            _ => None,
        };
        Ok(Sizes {
            table,
            fixed,
            recent: Mutex::new(Vec::new()),
        })
    }

    /// The size of `index` (0 past the pool's end).
    fn size_of(&self, index: u64) -> u64 {
        if let Some(n) = self.fixed {
            return n;
        }
        if index >= self.table.len() {
            return 0;
        }
        let block = self.block(index / CHECKPOINT_INTERVAL);
        let at = usize::try_from(index % CHECKPOINT_INTERVAL).unwrap_or(usize::MAX);
        block.get(at).copied().unwrap_or(0)
    }

    /// The sizes of block `block`, drawn now unless recently used.
    fn block(&self, block: u64) -> Arc<[u64]> {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(at) = recent.iter().position(|(b, _)| *b == block) {
            let hit = recent.remove(at);
            recent.push(hit.clone());
            return hit.1;
        }
        let start = block * CHECKPOINT_INTERVAL;
        let end = start
            .saturating_add(CHECKPOINT_INTERVAL)
            .min(self.table.len());
        let mut cursor = self.table.cursor();
        let sizes: Arc<[u64]> = (start..end)
            .map(|i| cursor.size_of(i).unwrap_or(0))
            .collect();
        if recent.len() >= CACHED_BLOCKS {
            recent.remove(0);
        }
        recent.push((block, sizes.clone()));
        sizes
    }
}

/// The objects of one pool of a sai3-bench dataset on one S3 endpoint, as a synthetic set of
/// the dataset-shaped server: keys are `{key prefix}{path_of(pool, i)}` for the indices the
/// pool places on this endpoint (by rule; every index of the pool's share for a pool placed at
/// run time, [`Rule::Runtime`]), sizes as sai3-bench draws them.
pub struct EndpointObjects {
    dataset: Arc<Dataset>,
    pool: Pool,
    /// Index into [`Dataset::endpoints`].
    endpoint: u16,
    bucket: String,
    /// What every key starts with: the endpoint's prefix in its bucket and a `/` (empty for
    /// an endpoint at the bucket's root).
    key_prefix: String,
    flat_prefix: String,
    shape: Shape,
    sizes: Sizes,
}

impl EndpointObjects {
    /// The objects of pool `pool` on endpoint `endpoint` (an index into
    /// [`Dataset::endpoints`]), which must be an `s3://` URI.
    ///
    /// # Errors
    /// No such pool, a pool that places nothing on the endpoint, an endpoint that is not S3, a
    /// size spec sai3-bench refuses, a tree whose sibling directory names collide or nest, or
    /// more than 4M directory or shard names.
    pub fn new(dataset: Arc<Dataset>, pool: u16, endpoint: u16) -> anyhow::Result<Self> {
        let pool = dataset
            .pool(pool)
            .with_context(|| format!("the dataset has no pool {pool}"))?
            .clone();
        anyhow::ensure!(
            pool.endpoints.contains(&endpoint),
            "pool {} places nothing on endpoint {endpoint}",
            pool.id
        );
        let uri = dataset
            .endpoints
            .get(usize::from(endpoint))
            .with_context(|| format!("the dataset has no endpoint {endpoint}"))?;
        let (bucket, key_prefix) = s3_location(uri)?;
        let shape = Shape::of(&dataset, &pool)?;
        let sizes = Sizes::new(&pool)?;
        Ok(EndpointObjects {
            flat_prefix: format!("{}-", pool.kind.prefix()),
            dataset,
            pool,
            endpoint,
            bucket,
            key_prefix,
            shape,
            sizes,
        })
    }

    /// The endpoint's bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// True when this endpoint may hold index `i`.
    fn placed(&self, i: u64) -> bool {
        placement::may_hold(&self.pool, i, self.endpoint)
    }

    /// Every index this endpoint may hold (the pool's share for [`Rule::Runtime`]).
    pub fn holdable(&self) -> RoaringTreemap {
        match self.pool.rule {
            Rule::Modulo => self.by_rule(),
            Rule::Runtime => self.pool.share.indices(self.pool.count),
        }
    }

    /// The indices the rule places here: where sai3-cache writes them (for [`Rule::Modulo`],
    /// the only place they can be).
    pub fn by_rule(&self) -> RoaringTreemap {
        placement::owned_by_endpoint(&self.pool, self.endpoint)
    }

    /// The children of `dir`, sorted by key.
    fn children(&self, dir: Dir) -> &[(String, u64)] {
        match &self.shape {
            Shape::Sharded { sorted, .. } if dir == ROOT => sorted,
            Shape::Tree { tree, levels, .. } if dir.level < tree.depth() => {
                levels.get(dir.level as usize).map_or(&[], Vec::as_slice)
            }
            _ => &[],
        }
    }

    /// Child number `n` of `dir`.
    fn child(&self, dir: Dir, n: u64) -> Dir {
        let position = match &self.shape {
            Shape::Tree { tree, .. } => (dir.position - 1) * tree.width() + n,
            _ => n,
        };
        Dir {
            level: dir.level + 1,
            position,
        }
    }

    /// The numbered files directly in `dir`: their name prefix and indices.
    fn files(&self, dir: Dir) -> Option<(&str, Progression)> {
        let count = self.pool.count;
        let flat = self.flat_prefix.as_str();
        match &self.shape {
            Shape::Flat => Some((flat, Progression::range(0, count))),
            Shape::Sharded { shards, .. } => (dir != ROOT).then_some((
                flat,
                Progression {
                    first: dir.position,
                    step: *shards,
                    end: count,
                },
            )),
            Shape::Tree { named, .. } if dir == ROOT => {
                Some((flat, Progression::range(*named, count)))
            }
            Shape::Tree { tree, named, .. } => {
                tree_files(tree, dir, *named).map(|files| ("file_", files))
            }
        }
    }

    /// False when `dir` surely holds no index of this endpoint (then it is not walked).
    fn holds_any(&self, dir: Dir) -> bool {
        match &self.shape {
            Shape::Flat => true,
            Shape::Sharded { shards, .. } => dir == ROOT || self.shard_holds_any(dir, *shards),
            Shape::Tree { tree, named, .. } => {
                dir == ROOT || subtree_first(tree, dir).is_some_and(|first| first < *named)
            }
        }
    }

    /// Whether shard `dir` holds an index placed here. Placement repeats with a period of
    /// (slots x agents) indices, so that many members of the shard tell.
    fn shard_holds_any(&self, dir: Dir, shards: u64) -> bool {
        let agents = match self.pool.share {
            Share::All => 1,
            Share::Modulo { agents, .. } => u64::from(agents.max(1)),
        };
        let period = (self.pool.endpoints.len() as u64).max(1) * agents;
        if period > 1 << 16 {
            return true;
        }
        (0..period)
            .map_while(|k| k.checked_mul(shards)?.checked_add(dir.position))
            .take_while(|&i| i < self.pool.count)
            .any(|i| self.placed(i))
    }
}

/// Bucket and key prefix (`""` or ending in `/`) of an `s3://` endpoint URI.
fn s3_location(uri: &str) -> anyhow::Result<(String, String)> {
    match parse_endpoint(uri)? {
        EndpointTarget::S3 { bucket, prefix, .. } => {
            let key_prefix = if prefix.is_empty() {
                prefix
            } else {
                format!("{prefix}/")
            };
            Ok((bucket, key_prefix))
        }
        _ => anyhow::bail!("{uri} is not an s3:// endpoint"),
    }
}

/// The files directly in tree directory `dir` (level 1 or deeper), below `named`.
fn tree_files(tree: &TreeLayout, dir: Dir, named: u64) -> Option<Progression> {
    let leaf = match tree.distribution() {
        Distribution::Bottom if dir.level == tree.depth() => dir.position - 1,
        Distribution::Bottom => return None,
        Distribution::All => tree.dir_index(dir.level, dir.position)?,
    };
    let first = leaf.checked_mul(tree.files_per_dir())?;
    let end = first.saturating_add(tree.files_per_dir()).min(named);
    Some(Progression::range(first, end))
}

/// The smallest file index under tree directory `dir` (level 1 or deeper), if any.
fn subtree_first(tree: &TreeLayout, dir: Dir) -> Option<u64> {
    if tree.files_per_dir() == 0 {
        return None;
    }
    let first_dir = match tree.distribution() {
        Distribution::Bottom => {
            let below = tree.width().checked_pow(tree.depth() - dir.level)?;
            (dir.position - 1).checked_mul(below)?
        }
        Distribution::All => tree.dir_index(dir.level, dir.position)?,
    };
    first_dir.checked_mul(tree.files_per_dir())
}

impl Shape {
    /// The shape of `pool`'s names in `dataset`.
    fn of(dataset: &Dataset, pool: &Pool) -> anyhow::Result<Shape> {
        if let Some(tree) = &dataset.tree {
            return Ok(Shape::Tree {
                levels: tree_levels(tree)?,
                named: tree.manifest_files().min(pool.count),
                tree: Box::new(tree.clone()),
            });
        }
        let shards = u64::from(dataset.key_prefix_shards);
        if shards == 0 {
            return Ok(Shape::Flat);
        }
        // Shards past the last index hold nothing.
        let used = shards.min(pool.count);
        anyhow::ensure!(
            used <= MAX_NAMES,
            "{used} key-prefix shards hold objects: more than the {MAX_NAMES} served"
        );
        let names = (0..used).map(|s| (format!("{s:02x}"), s));
        Ok(Shape::Sharded {
            shards,
            sorted: sorted_keys(names)?,
        })
    }
}

/// Per level (1..=depth), the directory names of a tree sorted by key.
fn tree_levels(tree: &TreeLayout) -> anyhow::Result<Vec<Sorted>> {
    let names = u64::from(tree.depth()).saturating_mul(tree.width());
    anyhow::ensure!(
        names <= MAX_NAMES,
        "the tree has {names} directory names (depth x width): more than the {MAX_NAMES} served"
    );
    (1..=tree.depth())
        .map(|level| sorted_keys(level_names(tree, level)?.into_iter()))
        .collect()
}

/// `(name, c)` of every child `c` (1-based) of a directory at `level - 1`: the last component
/// of its path (which may hold a `/` of the dir mask). Names depend on the level and `c` alone.
fn level_names(tree: &TreeLayout, level: u32) -> anyhow::Result<Vec<(String, u64)>> {
    // Children `1..=width` of `level` are those of the first directory of the level above.
    let parent = match level {
        1 => String::new(),
        _ => {
            let path = tree.dir_path(level - 1, 1);
            path.with_context(|| format!("no directory at level {}", level - 1))? + "/"
        }
    };
    (1..=tree.width())
        .map(|c| {
            let path = tree
                .dir_path(level, c)
                .with_context(|| format!("no directory {c} at level {level}"))?;
            let name = path
                .strip_prefix(&parent)
                .with_context(|| format!("{path:?} is not under {parent:?}"))?;
            Ok((name.to_owned(), c))
        })
        .collect()
}

/// Sibling directories `(name, number)` as `(name + "/", number)` sorted by key, refused when
/// one key starts another (then their keys would interleave).
fn sorted_keys(names: impl Iterator<Item = (String, u64)>) -> anyhow::Result<Sorted> {
    let mut keys: Sorted = names.map(|(name, n)| (name + "/", n)).collect();
    keys.sort_unstable();
    if let Some(pair) = keys
        .windows(2)
        .find(|w| w[1].0.starts_with(w[0].0.as_str()))
    {
        anyhow::bail!(
            "sibling directories {:?} and {:?} collide or nest, so their keys would interleave \
             (a dir mask without a child %d names all siblings alike): not served",
            pair[0].0,
            pair[1].0
        );
    }
    Ok(keys)
}

/// The numbered files of one directory in byte order of name, placed ones only: one
/// progression per digit count, merged.
struct FileOrder<'a> {
    objects: &'a EndpointObjects,
    prefix: &'a str,
    groups: Vec<Progression>,
    heads: Vec<Option<(u64, String)>>,
}

impl<'a> FileOrder<'a> {
    /// The files `files` (if any) whose names are greater than `after` (all when `None`).
    fn new(
        objects: &'a EndpointObjects,
        files: Option<(&'a str, Progression)>,
        after: Option<&str>,
    ) -> Self {
        let (prefix, files) = files.unwrap_or(("", Progression::range(0, 0)));
        let mut order = FileOrder {
            objects,
            prefix,
            groups: Vec::new(),
            heads: Vec::new(),
        };
        for digits in DIGIT_COUNTS {
            let (lo, hi) = digit_range(digits);
            if files.end <= lo {
                break;
            }
            let Some(mut group) = files.within(lo, hi) else {
                continue;
            };
            if let Some(after) = after {
                group.skip_names_upto(|i| numbered(prefix, i), after);
            }
            order.groups.push(group);
            order.heads.push(None);
            order.refill(order.groups.len() - 1);
        }
        order
    }

    /// Puts the next placed file of group `g` in its head.
    fn refill(&mut self, g: usize) {
        let objects = self.objects;
        let next = self.groups[g].next_placed(|i| objects.placed(i));
        self.heads[g] = next.map(|i| (i, numbered(self.prefix, i)));
    }

    /// The group whose head comes first.
    fn first(&self) -> Option<usize> {
        let mut best: Option<(usize, &str)> = None;
        for (g, head) in self.heads.iter().enumerate() {
            if let Some((_, name)) = head
                && best.is_none_or(|(_, b)| name.as_str() < b)
            {
                best = Some((g, name));
            }
        }
        best.map(|(g, _)| g)
    }

    /// The next file's name, without taking it.
    fn peek(&self) -> Option<&str> {
        let g = self.first()?;
        self.heads[g].as_ref().map(|(_, name)| name.as_str())
    }

    /// Takes the next file.
    fn pop(&mut self) -> Option<(u64, String)> {
        let g = self.first()?;
        let head = self.heads[g].take();
        self.refill(g);
        head
    }
}

/// A directory being walked: its path (empty or ending in `/`), its next child, its files.
struct Frame<'a> {
    dir: Dir,
    path: String,
    next_child: usize,
    files: FileOrder<'a>,
}

/// The keys of an [`EndpointObjects`] in byte order, from a resume point on.
struct Walk<'a> {
    objects: &'a EndpointObjects,
    stack: Vec<Frame<'a>>,
}

impl<'a> Walk<'a> {
    /// Positioned after `after`, a key relative to the key prefix (the start when `None`):
    /// the directories on the way to it are opened, each past the entries before it.
    fn new(objects: &'a EndpointObjects, after: Option<&str>) -> Self {
        let mut walk = Walk {
            objects,
            stack: Vec::new(),
        };
        let (mut dir, mut path, mut rest) = (ROOT, String::new(), after);
        loop {
            let children = objects.children(dir);
            let next_child = rest.map_or(0, |r| children.partition_point(|(k, _)| k.as_str() <= r));
            // The one child the resume point is inside, if any: the last key not after it.
            let inside = next_child
                .checked_sub(1)
                .filter(|&c| rest.is_some_and(|r| r.starts_with(children[c].0.as_str())));
            let files = FileOrder::new(objects, objects.files(dir), rest);
            walk.stack.push(Frame {
                dir,
                path: path.clone(),
                next_child,
                files,
            });
            let Some(c) = inside else { break };
            let (key, n) = &children[c];
            dir = objects.child(dir, *n);
            if !objects.holds_any(dir) {
                break;
            }
            path.push_str(key);
            rest = rest.map(|r| &r[key.len()..]);
        }
        walk
    }
}

impl Iterator for Walk<'_> {
    type Item = (u64, String);

    fn next(&mut self) -> Option<(u64, String)> {
        let objects = self.objects;
        loop {
            let frame = self.stack.last_mut()?;
            let child = objects.children(frame.dir).get(frame.next_child);
            let take_file = match (child, frame.files.peek()) {
                (None, None) => {
                    self.stack.pop();
                    continue;
                }
                (Some((key, _)), Some(name)) => name < key.as_str(),
                (None, Some(_)) => true,
                (Some(_), None) => false,
            };
            if take_file {
                let (i, name) = frame.files.pop()?;
                let key = format!("{}{}{name}", objects.key_prefix, frame.path);
                return Some((i, key));
            }
            let Some((key, n)) = child else { continue };
            frame.next_child += 1;
            let dir = objects.child(frame.dir, *n);
            if objects.holds_any(dir) {
                let path = format!("{}{key}", frame.path);
                let files = FileOrder::new(objects, objects.files(dir), None);
                self.stack.push(Frame {
                    dir,
                    path,
                    next_child: 0,
                    files,
                });
            }
        }
    }
}

impl SyntheticObjects for EndpointObjects {
    fn len(&self) -> u64 {
        self.pool.count
    }

    fn index_of(&self, key: &str) -> Option<u64> {
        let path = key.strip_prefix(self.key_prefix.as_str())?;
        let i = self.dataset.parse_path(&self.pool, path)?;
        self.placed(i).then_some(i)
    }

    /// The key of `index` (the endpoint's key prefix alone for an index outside the pool's
    /// share, which is never listed).
    fn key_of(&self, index: u64) -> String {
        let path = self.dataset.path_of(&self.pool, index).unwrap_or_default();
        format!("{}{path}", self.key_prefix)
    }

    fn size_of(&self, index: u64) -> u64 {
        self.sizes.size_of(index)
    }

    fn keys_after(
        &self,
        after: Option<&str>,
    ) -> Box<dyn Iterator<Item = (u64, String)> + Send + '_> {
        let rest = match after {
            None => None,
            Some(a) => match a.strip_prefix(self.key_prefix.as_str()) {
                Some(rest) => Some(rest),
                // Every key starts with the prefix: all are after `a`, or none is.
                None if a < self.key_prefix.as_str() => None,
                None => return Box::new(std::iter::empty()),
            },
        };
        Box::new(Walk::new(self, rest))
    }
}

/// Which objects of a served dataset exist at the start. Indices are placed where sai3-cache
/// writes them ([`EndpointObjects::by_rule`]): for a pool placed at run time, each on one
/// endpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Present {
    /// Every object.
    Full,
    /// None.
    Empty,
    /// All but a fraction `missing` (0.0..=1.0), chosen by `seed` (the same index misses on
    /// whichever endpoint it is placed).
    Gaps {
        /// The fraction missing.
        missing: f64,
        /// The generator's seed.
        seed: u64,
    },
}

impl Present {
    /// The seed of `gaps:FRACTION` without one.
    pub const DEFAULT_SEED: u64 = 1;

    /// Parses `full`, `empty` or `gaps:FRACTION[:SEED]`.
    ///
    /// # Errors
    /// Anything else, or a fraction outside 0.0..=1.0.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text {
            "full" => return Ok(Present::Full),
            "empty" => return Ok(Present::Empty),
            _ => {}
        }
        let gaps = text
            .strip_prefix("gaps:")
            .with_context(|| format!("{text:?} is not full, empty or gaps:FRACTION[:SEED]"))?;
        let (fraction, seed) = gaps.split_once(':').unwrap_or((gaps, ""));
        let missing: f64 = fraction
            .parse()
            .with_context(|| format!("{fraction:?} is not a fraction"))?;
        anyhow::ensure!(
            (0.0..=1.0).contains(&missing),
            "the fraction missing {missing} is not within 0.0..=1.0"
        );
        let seed = match seed {
            "" => Self::DEFAULT_SEED,
            s => s.parse().with_context(|| format!("{s:?} is not a seed"))?,
        };
        Ok(Present::Gaps { missing, seed })
    }

    /// The indices of `objects` present at the start.
    pub fn of(&self, objects: &EndpointObjects) -> RoaringTreemap {
        let count = objects.len();
        let pattern = match *self {
            Present::Full => full_presence(count),
            Present::Empty => return RoaringTreemap::new(),
            Present::Gaps { missing, seed } => {
                test_servers::presence_with_gaps(count, missing, seed)
            }
        };
        pattern & objects.by_rule()
    }
}

/// A dataset's synthetic sets, ready to start.
pub struct DatasetSets {
    /// The server's builder, one bucket per endpoint bucket, a set per pool and endpoint.
    pub builder: DatasetS3Builder,
    /// Objects present at the start, over every set.
    pub present: u64,
}

/// The synthetic sets of every pool on every endpoint of `dataset` (all must be `s3://`),
/// present as `presence(pool, endpoint, objects)` says (restricted to
/// [`EndpointObjects::holdable`]).
///
/// Keys of different sets in one bucket must be disjoint: true for a standalone config and
/// for agents' views (one agent's pools never name the same object twice).
///
/// # Errors
/// As [`EndpointObjects::new`]; a bucket name S3 would refuse.
pub fn dataset_sets(
    dataset: &Dataset,
    presence: impl Fn(&Pool, u16, &EndpointObjects) -> RoaringTreemap,
) -> anyhow::Result<DatasetSets> {
    let shared = Arc::new(dataset.clone());
    let mut builder = DatasetS3::builder();
    let mut present = 0;
    for e in 0..dataset.endpoints.len() {
        let e = u16::try_from(e)?;
        for pool in placement::pools_on(dataset, e) {
            let objects = EndpointObjects::new(Arc::clone(&shared), pool.id, e)?;
            check_bucket_name(objects.bucket())?;
            let bits = presence(pool, e, &objects) & objects.holdable();
            present += bits.len();
            let bucket = objects.bucket().to_owned();
            builder = builder.synthetic(bucket, Arc::new(objects), bits);
        }
    }
    Ok(DatasetSets { builder, present })
}

/// S3's bucket naming rules (3 to 63 lowercase letters, digits, dots and hyphens, a letter or
/// digit at both ends): the server refuses to hold any other name.
fn check_bucket_name(name: &str) -> anyhow::Result<()> {
    let edge = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let inner = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ok = (3..=63).contains(&name.len())
        && inner
        && edge(name.bytes().next())
        && edge(name.bytes().last());
    anyhow::ensure!(ok, "{name:?} is not a valid S3 bucket name");
    Ok(())
}

/// The one port of `dataset`'s endpoints, which must all be `s3://127.0.0.1:PORT/...`.
///
/// # Errors
/// Another scheme or host, no port, or several ports.
pub fn dataset_port(dataset: &Dataset) -> anyhow::Result<u16> {
    let mut port = None;
    for uri in dataset.endpoint_uris.iter().flatten() {
        let p = uri
            .strip_prefix("s3://127.0.0.1:")
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse::<u16>().ok())
            .with_context(|| format!("{uri} is not s3://127.0.0.1:PORT/bucket/..."))?;
        anyhow::ensure!(
            port.is_none_or(|q| q == p),
            "the endpoints name several ports"
        );
        port = Some(p);
    }
    port.context("the dataset has no endpoint")
}

/// Fails unless `port` of 127.0.0.1 can be listened on now. (The server binds its port
/// itself and panics when it cannot: this tells first, in words.)
///
/// # Errors
/// The port is taken or not allowed.
pub fn check_port(port: u16) -> anyhow::Result<()> {
    std::net::TcpListener::bind(("127.0.0.1", port))
        .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    Ok(())
}

/// The dataset-shaped server of `dataset`, started on the port of its endpoints
/// ([`dataset_port`]), `latency` before every response; and how many objects it holds.
///
/// # Errors
/// As [`dataset_port`], [`check_port`] and [`dataset_sets`].
///
/// # Panics
/// When the port, free when checked, is taken before the server binds it.
pub fn dataset_server(
    dataset: &Dataset,
    presence: impl Fn(&Pool, u16, &EndpointObjects) -> RoaringTreemap,
    latency: Duration,
) -> anyhow::Result<(DatasetS3, u64)> {
    let port = dataset_port(dataset)?;
    check_port(port)?;
    let sets = dataset_sets(dataset, presence)?;
    let server = sets.builder.latency(latency).port(port).start();
    Ok((server, sets.present))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_sai3::object_sizes::DatasetSizes;

    const GET: &str = "workload:\n  - { op: get, path: \"*\", weight: 100 }\n";

    /// The dataset of a `prepare` section on `endpoints` prefixes of bucket `bench`.
    fn dataset(prepare: &str, endpoints: usize, workload: &str) -> Dataset {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut yaml = format!("prepare:\n{prepare}multi_endpoint:\n  endpoints:\n");
        for e in 0..endpoints {
            yaml += &format!("    - \"s3://127.0.0.1:9000/bench/ep{e}/\"\n");
        }
        yaml += workload;
        let path = dir.path().join("dataset.yaml");
        std::fs::write(&path, yaml).expect("the config written");
        Dataset::load(&path).expect("a valid dataset")
    }

    fn tree(width: u64, depth: u32, files: u64, distribution: &str, count: u64) -> String {
        format!(
            "  prepare_strategy: parallel\n  directory_structure: {{ width: {width}, depth: \
             {depth}, files_per_dir: {files}, distribution: {distribution}, dir_mask: \
             \"d%d_w%d.dir\" }}\n  ensure_objects:\n    - {{ count: {count}, size_spec: 7 }}\n"
        )
    }

    fn flat(shards: u32, count: u64, strategy: &str) -> String {
        format!(
            "  prepare_strategy: {strategy}\n  key_prefix_shards: {shards}\n  ensure_objects:\n    \
             - {{ count: {count}, size_spec: 3 }}\n"
        )
    }

    /// Every set of `dataset`, one per pool and endpoint.
    fn sets(dataset: &Dataset) -> Vec<EndpointObjects> {
        let shared = Arc::new(dataset.clone());
        let mut out = Vec::new();
        for e in 0..dataset.endpoints.len() as u16 {
            for pool in placement::pools_on(dataset, e) {
                let objects = EndpointObjects::new(Arc::clone(&shared), pool.id, e);
                out.push(objects.expect("served"));
            }
        }
        out
    }

    /// `(index, key)` of every index placed on the set's endpoint, sorted by key.
    fn expected(objects: &EndpointObjects) -> Vec<(u64, String)> {
        let (dataset, pool) = (&objects.dataset, &objects.pool);
        let mut keys: Vec<(u64, String)> = (0..pool.count)
            .filter(|&i| placement::may_hold(pool, i, objects.endpoint))
            .map(|i| {
                let path = dataset.path_of(pool, i).expect("a path");
                (i, format!("{}{path}", objects.key_prefix))
            })
            .collect();
        keys.sort_by(|a, b| a.1.cmp(&b.1));
        keys
    }

    fn check_after(objects: &EndpointObjects, all: &[(u64, String)], after: &str) {
        let want: Vec<(u64, String)> = all
            .iter()
            .filter(|(_, k)| k.as_str() > after)
            .cloned()
            .collect();
        let got: Vec<(u64, String)> = objects.keys_after(Some(after)).collect();
        assert_eq!(got, want, "after {after:?}");
    }

    /// Keys that are not in the set around `key`: its prefixes and neighbours.
    fn probes(key: &str) -> Vec<String> {
        let mut out: Vec<String> = (0..key.len()).map(|n| key[..n].to_owned()).collect();
        out.extend([format!("{key}0"), format!("{key}/"), format!("{key}~")]);
        out.extend(key.rfind('/').map(|at| format!("{}~", &key[..=at])));
        out
    }

    /// The whole contract of `keys_after`, `index_of` and `key_of` on every set of `dataset`.
    fn check_dataset(dataset: &Dataset) {
        for objects in sets(dataset) {
            let all = expected(&objects);
            assert!(!all.is_empty());
            let got: Vec<(u64, String)> = objects.keys_after(None).collect();
            assert_eq!(got, all, "pool {} on {}", objects.pool.id, objects.endpoint);
            for (i, key) in &all {
                assert_eq!(objects.index_of(key), Some(*i));
                assert_eq!(&objects.key_of(*i), key);
                check_after(&objects, &all, key);
                for probe in probes(key) {
                    check_after(&objects, &all, &probe);
                    assert_eq!(objects.index_of(&probe), None, "{probe:?}");
                }
            }
            for probe in ["", "a", "bench", "ep", "ep0", "ep0/", "ep1/", "ep9/", "zzz"] {
                check_after(&objects, &all, probe);
            }
            check_foreign(&objects, &all);
        }
    }

    /// Indices of the pool placed elsewhere are not keys of this set.
    fn check_foreign(objects: &EndpointObjects, all: &[(u64, String)]) {
        let pool = &objects.pool;
        for i in (0..pool.count).filter(|i| !all.iter().any(|(j, _)| j == i)) {
            let path = objects.dataset.path_of(pool, i).expect("a path");
            let key = format!("{}{path}", objects.key_prefix);
            assert_eq!(objects.index_of(&key), None, "{key}");
        }
    }

    #[test]
    fn trees_in_key_order() {
        for endpoints in 1..=4 {
            check_dataset(&dataset(&tree(3, 2, 5, "bottom", 45), endpoints, GET));
            check_dataset(&dataset(&tree(3, 2, 5, "all", 60), endpoints, GET));
        }
        check_dataset(&dataset(&tree(12, 1, 3, "bottom", 36), 2, GET));
        check_dataset(&dataset(&tree(1, 3, 4, "all", 12), 3, GET));
    }

    #[test]
    fn a_slash_in_the_mask_and_flat_names_past_the_manifest() {
        let prepare = "  prepare_strategy: parallel\n  directory_structure: { width: 2, depth: 2, \
                       files_per_dir: 2, distribution: bottom, dir_mask: \"a/d%d_w%d\" }\n  \
                       ensure_objects:\n    - { count: 8, size_spec: 7 }\n";
        let d = dataset(prepare, 2, GET);
        assert_eq!(d.tree.as_ref().map(TreeLayout::manifest_files), Some(4));
        check_dataset(&d);
    }

    #[test]
    fn colliding_directory_names_are_refused() {
        let prepare = tree(3, 2, 5, "bottom", 45).replace("d%d_w%d.dir", "lvl%d");
        let d = Arc::new(dataset(&prepare, 1, GET));
        let refused = EndpointObjects::new(d, 0, 0).err().expect("refused");
        assert!(refused.to_string().contains("collide"), "{refused}");
    }

    #[test]
    fn flat_and_sharded_pools_in_key_order() {
        for endpoints in 1..=4 {
            check_dataset(&dataset(&flat(0, 30, "parallel"), endpoints, GET));
            check_dataset(&dataset(&flat(3, 40, "parallel"), endpoints, GET));
            check_dataset(&dataset(&flat(20, 100, "parallel"), endpoints, GET));
        }
        // 300 shards: names of three hex digits past 255 ("100/" sorts after "10/").
        check_dataset(&dataset(&flat(300, 700, "parallel"), 3, GET));
        // Prepared and deletable pools share every endpoint.
        let both = format!("{GET}  - {{ op: delete, path: \"*\", weight: 1 }}\n");
        let d = dataset(&flat(4, 50, "parallel"), 2, &both);
        assert_eq!(d.pools.len(), 2);
        check_dataset(&d);
    }

    #[test]
    fn pools_placed_at_run_time_hold_every_index_everywhere() {
        let d = dataset(&flat(5, 40, "sequential"), 3, GET);
        assert_eq!(d.pools[0].rule, Rule::Runtime);
        for objects in sets(&d) {
            assert_eq!(objects.keys_after(None).count(), 40);
            assert_eq!(objects.holdable().len(), 40);
            assert_eq!(Present::Full.of(&objects), objects.by_rule());
        }
        check_dataset(&d);
    }

    /// Keys of `objects` strictly between `lo` and `hi` (relative to the key prefix), against
    /// `candidates` that hold every index whose name can lie between them.
    fn check_window(objects: &EndpointObjects, lo: &str, hi: &str, candidates: &[u64]) {
        let prefix = &objects.key_prefix;
        let (lo, hi) = (format!("{prefix}{lo}"), format!("{prefix}{hi}"));
        let mut want: Vec<(u64, String)> = candidates
            .iter()
            .filter(|&&i| objects.placed(i))
            .map(|&i| (i, objects.key_of(i)))
            .filter(|(_, k)| lo < *k && *k < hi)
            .collect();
        want.sort_by(|a, b| a.1.cmp(&b.1));
        assert!(want.len() > 4, "{want:?}");
        let got: Vec<(u64, String)> = objects
            .keys_after(Some(&lo))
            .take_while(|(_, k)| *k < hi)
            .collect();
        assert_eq!(got, want);
    }

    /// Indices whose names can lie between `..._10000000.dat` and `..._10000003.dat`.
    fn near_ten_to_the_eighth() -> Vec<u64> {
        (9_999_990..10_000_010)
            .chain(99_999_990..100_000_100)
            .collect()
    }

    #[test]
    fn names_past_ten_to_the_eighth_interleave() {
        let count = 120_000_000;
        let d = dataset(&flat(0, count, "parallel"), 2, GET);
        let near = near_ten_to_the_eighth();
        for objects in sets(&d) {
            let lo = "prepared-10000000.dat";
            check_window(&objects, lo, "prepared-10000003.dat", &near);
            let last = format!("{}prepared-99999999.dat", objects.key_prefix);
            assert_eq!(objects.keys_after(Some(&last)).count(), 0);
            let first: Vec<u64> = objects.keys_after(None).take(2).map(|k| k.0).collect();
            let e = u64::from(objects.endpoint);
            assert_eq!(first, [e, e + 2]);
        }
        let objects = sets(&d).swap_remove(0);
        let after = "ep0/prepared-119999998.dat";
        let next = objects.keys_after(Some(after)).next();
        assert_eq!(
            next,
            Some((12_000_000, "ep0/prepared-12000000.dat".to_owned()))
        );
    }

    #[test]
    fn a_tree_past_ten_to_the_eighth() {
        let d = dataset(&tree(1, 1, 120_000_000, "bottom", 120_000_000), 2, GET);
        let near = near_ten_to_the_eighth();
        for objects in sets(&d) {
            let (lo, hi) = ("d1_w1.dir/file_10000000.dat", "d1_w1.dir/file_10000003.dat");
            check_window(&objects, lo, hi, &near);
        }
    }

    #[test]
    fn drawn_sizes_are_the_datasets() {
        let prepare = "  prepare_strategy: parallel\n  ensure_objects:\n    - { count: 70000, \
                       size_distribution: { type: uniform, min: 1, max: 1000 } }\n";
        let d = dataset(prepare, 1, GET);
        let sizes = DatasetSizes::new(&d);
        let table = sizes.of(&d.pools[0]).expect("sizes");
        let objects = sets(&d).swap_remove(0);
        for i in [0, 1, 2, 65_535, 65_536, 65_537, 69_999, 3, 40_000] {
            assert_eq!(Some(objects.size_of(i)), table.size_of(i), "{i}");
        }
        assert_eq!(objects.size_of(70_000), 0);
    }

    #[test]
    fn presence_parses() {
        assert_eq!(Present::parse("full").ok(), Some(Present::Full));
        assert_eq!(Present::parse("empty").ok(), Some(Present::Empty));
        let gaps = |missing, seed| Some(Present::Gaps { missing, seed });
        assert_eq!(Present::parse("gaps:0.25").ok(), gaps(0.25, 1));
        assert_eq!(Present::parse("gaps:0.5:9").ok(), gaps(0.5, 9));
        for bad in ["", "gaps", "gaps:x", "gaps:1.5", "gaps:0.1:y", "most"] {
            assert!(Present::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ports_and_buckets() {
        let d = dataset(&flat(0, 10, "parallel"), 2, GET);
        assert_eq!(dataset_port(&d).ok(), Some(9000));
        assert!(check_bucket_name("bench").is_ok());
        for bad in ["ab", "Bench", "-bench", "bench_1", &"b".repeat(64)] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }

    /// Every key of bucket `bench` through the S3 protocol, in the order listed.
    fn list_bucket(server: &DatasetS3) -> Vec<String> {
        use futures::TryStreamExt;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let store = server.store("bench");
        let listed: Vec<object_store::ObjectMeta> = runtime
            .block_on(store.list(None).try_collect())
            .expect("a LIST");
        listed.into_iter().map(|o| o.location.to_string()).collect()
    }

    #[test]
    fn the_server_lists_every_endpoint_in_pages() {
        let d = dataset(&tree(10, 2, 30, "bottom", 3000), 3, GET);
        let gaps = Present::Gaps {
            missing: 0.1,
            seed: 3,
        };
        let sets = dataset_sets(&d, |_, _, o| gaps.of(o)).expect("sets");
        let mut want: Vec<String> = Vec::new();
        for objects in self::sets(&d) {
            let present = gaps.of(&objects);
            want.extend(present.iter().map(|i| objects.key_of(i)));
        }
        want.sort();
        assert_eq!(sets.present, want.len() as u64);
        assert!((2500..2900).contains(&want.len()), "{}", want.len());
        let server = sets.builder.start();
        assert_eq!(list_bucket(&server), want);
        assert!(server.stats().list_pages >= 3);
    }
}
