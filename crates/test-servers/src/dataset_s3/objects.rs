//! Synthetic objects: keys generated from indices, presence kept in a bitmap.

use roaring::RoaringTreemap;

/// Objects whose keys are generated, never stored: a dataset's names.
///
/// Several sets may share a bucket; their keys must be disjoint.
pub trait SyntheticObjects: Send + Sync + 'static {
    /// Number of indices (`0..len`); presence bitmaps cover this range.
    fn len(&self) -> u64;

    /// Whether there are no indices at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The index whose key is exactly `key`, if any (present or not).
    fn index_of(&self, key: &str) -> Option<u64>;

    /// The key of `index`.
    fn key_of(&self, index: u64) -> String;

    /// Size in bytes of object `index`.
    fn size_of(&self, index: u64) -> u64;

    /// `(index, key)` of every index whose key is strictly greater than `after` (all when
    /// `None`), in ascending byte order of key. Lazy: a set may hold tens of millions of keys.
    fn keys_after(
        &self,
        after: Option<&str>,
    ) -> Box<dyn Iterator<Item = (u64, String)> + Send + '_>;

    /// True when key order is index order (`key_of` ascends with the index). LIST then walks
    /// only the present indices of the bitmap instead of every key.
    fn keys_ascend_with_index(&self) -> bool {
        false
    }
}

/// The first index whose key is greater than `bound` (or equal to it, when `inclusive`), for a
/// set whose keys ascend with the index: a binary search over `key_of`.
pub(crate) fn first_index_from<T: SyntheticObjects + ?Sized>(
    objects: &T,
    bound: &str,
    inclusive: bool,
) -> u64 {
    let (mut lo, mut hi) = (0, objects.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let key = objects.key_of(mid);
        let before = if inclusive {
            key.as_str() < bound
        } else {
            key.as_str() <= bound
        };
        if before {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// [`SyntheticObjects::keys_after`] for a set whose keys ascend with the index: a binary search
/// for the first index, then every index up to `len`.
pub fn ascending_keys_after<'a, T: SyntheticObjects + ?Sized>(
    objects: &'a T,
    after: Option<&str>,
) -> Box<dyn Iterator<Item = (u64, String)> + Send + 'a> {
    let first = after.map_or(0, |a| first_index_from(objects, a, false));
    Box::new((first..objects.len()).map(move |i| (i, objects.key_of(i))))
}

/// The simplest dataset: `len` objects of `size` bytes named `{prefix}obj-{i:08}`.
///
/// Eight zero-padded digits keep numeric order equal to key order, so `len` is at most
/// [`FlatObjects::MAX_LEN`].
#[derive(Debug, Clone)]
pub struct FlatObjects {
    prefix: String,
    len: u64,
    size: u64,
}

impl FlatObjects {
    /// The largest `len`: indices must fit in eight digits.
    pub const MAX_LEN: u64 = 100_000_000;

    /// `len` objects of `size` bytes under `prefix` (e.g. `"data/"`).
    ///
    /// # Panics
    /// When `len` exceeds [`FlatObjects::MAX_LEN`].
    pub fn new(prefix: impl Into<String>, len: u64, size: u64) -> Self {
        assert!(
            len <= Self::MAX_LEN,
            "FlatObjects holds at most {} objects",
            Self::MAX_LEN
        );
        FlatObjects {
            prefix: prefix.into(),
            len,
            size,
        }
    }

    /// The prefix of every key.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl SyntheticObjects for FlatObjects {
    fn len(&self) -> u64 {
        self.len
    }

    fn index_of(&self, key: &str) -> Option<u64> {
        let digits = key
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix("obj-")?;
        if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().filter(|&i| i < self.len)
    }

    fn key_of(&self, index: u64) -> String {
        format!("{}obj-{index:08}", self.prefix)
    }

    fn size_of(&self, _index: u64) -> u64 {
        self.size
    }

    fn keys_after(
        &self,
        after: Option<&str>,
    ) -> Box<dyn Iterator<Item = (u64, String)> + Send + '_> {
        ascending_keys_after(self, after)
    }

    fn keys_ascend_with_index(&self) -> bool {
        true
    }
}

/// Every index of `0..len` present.
pub fn full_presence(len: u64) -> RoaringTreemap {
    let mut presence = RoaringTreemap::new();
    presence.insert_range(0..len);
    presence.optimize();
    presence
}

/// Indices of `0..len` present except a fraction `missing` (0.0..=1.0) of them, chosen by a
/// xorshift generator seeded with `seed`: the same arguments give the same bitmap.
pub fn presence_with_gaps(len: u64, missing: f64, seed: u64) -> RoaringTreemap {
    let mut rng = XorShift::new(seed);
    // Compare in integers: a missing index is one whose draw falls under the threshold.
    let threshold = (missing.clamp(0.0, 1.0) * (1u64 << 53) as f64) as u64;
    let kept = (0..len).filter(|_| rng.next_u64() >> 11 >= threshold);
    let mut presence =
        RoaringTreemap::from_sorted_iter(kept).unwrap_or_else(|_| full_presence(len));
    presence.optimize();
    presence
}

/// xorshift64*: deterministic, tiny, good enough to scatter gaps.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // A zero state would stay zero.
        XorShift(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keys_round_trip_and_ascend() {
        let f = FlatObjects::new("d/", 1000, 7);
        assert_eq!(f.key_of(42), "d/obj-00000042");
        assert_eq!(f.index_of("d/obj-00000042"), Some(42));
        assert_eq!(f.index_of("d/obj-00001000"), None);
        assert_eq!(f.index_of("d/obj-0000042"), None);
        let after: Vec<_> = f.keys_after(Some("d/obj-00000997")).collect();
        assert_eq!(after.len(), 2);
        assert_eq!(after[0], (998, "d/obj-00000998".to_owned()));
        assert_eq!(
            f.keys_after(Some("d/obj-0000099")).next().map(|k| k.0),
            Some(990)
        );
        assert_eq!(f.keys_after(None).count(), 1000);
        assert_eq!(f.keys_after(Some("e")).count(), 0);
    }

    #[test]
    fn gaps_are_deterministic() {
        let a = presence_with_gaps(100_000, 0.01, 7);
        assert_eq!(a, presence_with_gaps(100_000, 0.01, 7));
        assert_ne!(a, presence_with_gaps(100_000, 0.01, 8));
        let missing = 100_000 - a.len();
        assert!((700..1300).contains(&missing), "{missing}");
        assert_eq!(presence_with_gaps(10, 0.0, 1).len(), 10);
        assert_eq!(presence_with_gaps(10, 1.0, 1).len(), 0);
    }
}
