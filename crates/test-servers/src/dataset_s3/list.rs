//! LIST: the keys of a bucket's synthetic sets and real objects merged in byte order, cut into
//! pages, with common prefixes rolled up under a delimiter.
//!
//! Nothing is collected beyond one page: every source is a lazy iterator positioned by a lower
//! bound, and a common prefix is skipped by seeking past it rather than walking its keys.

use std::ops::Bound;
use std::time::SystemTime;

use super::content::synthetic_etag;
use super::objects::first_index_from;
use super::state::{Bucket, SyntheticSet};

/// A listed object.
pub(crate) struct Listed {
    pub(crate) key: String,
    pub(crate) size: u64,
    pub(crate) etag: String,
    pub(crate) modified: SystemTime,
}

/// One entry of a page.
pub(crate) enum Entry {
    Object(Listed),
    CommonPrefix(String),
}

impl Entry {
    /// Its position in the key space: where the next page resumes after it.
    fn position(&self) -> &str {
        match self {
            Entry::Object(o) => &o.key,
            Entry::CommonPrefix(p) => p,
        }
    }
}

/// What a LIST request asks for.
pub(crate) struct Query {
    pub(crate) prefix: String,
    pub(crate) delimiter: Option<String>,
    /// Only entries strictly after this (start-after or continuation token).
    pub(crate) marker: Option<String>,
    pub(crate) max_keys: usize,
}

/// A page of entries; `resume_after` is set when more follow.
pub(crate) struct Page {
    pub(crate) entries: Vec<Entry>,
    pub(crate) resume_after: Option<String>,
}

/// A lower bound of keys.
struct Lower {
    key: String,
    inclusive: bool,
}

/// The page of `bucket` that `query` asks for.
pub(crate) fn page(bucket: &Bucket, query: &Query) -> Page {
    let mut walker = Walker::new(bucket, query);
    let mut entries = Vec::with_capacity(query.max_keys.min(1000));
    while entries.len() < query.max_keys {
        match walker.next() {
            Some(e) => entries.push(e),
            None => break,
        }
    }
    let more = !entries.is_empty() && walker.next().is_some();
    let resume_after = more
        .then(|| entries.last().map(|e| e.position().to_owned()))
        .flatten();
    Page {
        entries,
        resume_after,
    }
}

/// Entries of a query in order: objects, and common prefixes in place of the keys under them.
struct Walker<'a> {
    bucket: &'a Bucket,
    query: &'a Query,
    merge: Merge<'a>,
}

impl<'a> Walker<'a> {
    fn new(bucket: &'a Bucket, query: &'a Query) -> Self {
        let start = match &query.marker {
            Some(m) if m.as_str() >= query.prefix.as_str() => Lower {
                key: m.clone(),
                inclusive: false,
            },
            _ => Lower {
                key: query.prefix.clone(),
                inclusive: true,
            },
        };
        Walker {
            bucket,
            query,
            merge: Merge::new(bucket, &start),
        }
    }

    /// The common prefix `key` rolls up into, if any.
    fn common_prefix(&self, key: &str) -> Option<String> {
        let delimiter = self.query.delimiter.as_deref()?;
        let rest = &key[self.query.prefix.len()..];
        let at = rest.find(delimiter)?;
        Some(key[..self.query.prefix.len() + at + delimiter.len()].to_owned())
    }

    /// Moves every source past the keys that start with `prefix`.
    fn skip_past(&mut self, prefix: &str) {
        self.merge = match successor(prefix) {
            Some(key) => Merge::new(
                self.bucket,
                &Lower {
                    key,
                    inclusive: true,
                },
            ),
            None => Merge::default(),
        };
    }
}

impl Iterator for Walker<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        loop {
            let item = self.merge.next()?;
            // Sources start at or after the prefix: the first key outside it ends the range.
            if !item.key.starts_with(self.query.prefix.as_str()) {
                return None;
            }
            let Some(cp) = self.common_prefix(&item.key) else {
                return Some(Entry::Object(item));
            };
            self.skip_past(&cp);
            if self.query.marker.as_deref().is_none_or(|m| cp.as_str() > m) {
                return Some(Entry::CommonPrefix(cp));
            }
        }
    }
}

/// The smallest string greater than every string that starts with `prefix`, if any.
fn successor(prefix: &str) -> Option<String> {
    let mut s = prefix.to_owned();
    while let Some(last) = s.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(c as u32 + 1),
        };
        if let Some(n) = next {
            s.push(n);
            return Some(s);
        }
    }
    None
}

type Source<'a> = Box<dyn Iterator<Item = Listed> + 'a>;

/// A k-way merge of sorted sources; each source's head is kept aside for comparing.
#[derive(Default)]
struct Merge<'a> {
    sources: Vec<Source<'a>>,
    heads: Vec<Option<Listed>>,
}

impl<'a> Merge<'a> {
    fn new(bucket: &'a Bucket, from: &Lower) -> Self {
        let mut sources: Vec<Source<'a>> = bucket
            .sets
            .iter()
            .map(|set| synthetic_source(set, from, bucket.synthetic_time))
            .collect();
        sources.push(real_source(bucket, from));
        let heads = sources.iter_mut().map(Iterator::next).collect();
        Merge { sources, heads }
    }
}

impl Iterator for Merge<'_> {
    type Item = Listed;

    fn next(&mut self) -> Option<Listed> {
        let mut best: Option<usize> = None;
        for (i, head) in self.heads.iter().enumerate() {
            let Some(h) = head else { continue };
            if best.is_none_or(|b| self.heads[b].as_ref().is_some_and(|x| h.key < x.key)) {
                best = Some(i);
            }
        }
        let b = best?;
        let next = self.sources[b].next();
        std::mem::replace(&mut self.heads[b], next)
    }
}

/// Real objects from `from` on.
fn real_source<'a>(bucket: &'a Bucket, from: &Lower) -> Source<'a> {
    let lower = if from.inclusive {
        Bound::Included(from.key.as_str())
    } else {
        Bound::Excluded(from.key.as_str())
    };
    let range = bucket
        .real
        .range::<str, _>((lower, Bound::Unbounded))
        .map(|(key, o)| Listed {
            key: key.clone(),
            size: o.data.len() as u64,
            etag: o.etag.clone(),
            modified: o.modified,
        });
    Box::new(range)
}

/// Present objects of a synthetic set from `from` on.
fn synthetic_source<'a>(set: &'a SyntheticSet, from: &Lower, time: SystemTime) -> Source<'a> {
    let objects = &*set.objects;
    let listed = move |(i, key): (u64, String)| {
        let size = objects.size_of(i);
        Listed {
            key,
            size,
            etag: synthetic_etag(i, size),
            modified: time,
        }
    };
    if objects.keys_ascend_with_index() {
        let first = first_index_from(objects, &from.key, from.inclusive);
        let mut present = set.presence.iter();
        present.advance_to(first);
        let len = objects.len();
        let keys = present
            .take_while(move |&i| i < len)
            .map(move |i| (i, objects.key_of(i)));
        return Box::new(keys.map(listed));
    }
    let exact = from
        .inclusive
        .then(|| objects.index_of(&from.key))
        .flatten()
        .map(|i| (i, from.key.clone()));
    let keys = exact
        .into_iter()
        .chain(objects.keys_after(Some(&from.key)))
        .filter(|(i, _)| set.presence.contains(*i));
    Box::new(keys.map(listed))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::dataset_s3::objects::{FlatObjects, full_presence};
    use crate::dataset_s3::state::{Conditions, Written};

    fn bucket() -> Bucket {
        let set = |p: &str| SyntheticSet {
            objects: Arc::new(FlatObjects::new(p, 5, 1)),
            presence: full_presence(5),
        };
        let mut b = Bucket::new(vec![set("a/"), set("c/")], SystemTime::now());
        for key in ["b", "a/x/1", "a/x/2", "d/y"] {
            let body = Written::bytes(bytes::Bytes::from_static(b"xyz"));
            b.put(key, body, &Conditions::default()).expect("put");
        }
        b
    }

    fn names(page: &Page) -> Vec<&str> {
        page.entries.iter().map(Entry::position).collect()
    }

    fn query(prefix: &str, delimiter: Option<&str>, marker: Option<&str>, max: usize) -> Query {
        Query {
            prefix: prefix.to_owned(),
            delimiter: delimiter.map(str::to_owned),
            marker: marker.map(str::to_owned),
            max_keys: max,
        }
    }

    #[test]
    fn merges_sets_and_real_objects() {
        let b = bucket();
        let p = page(&b, &query("", None, None, 1000));
        assert_eq!(p.entries.len(), 14);
        assert_eq!(
            names(&p)[..3],
            ["a/obj-00000000", "a/obj-00000001", "a/obj-00000002"]
        );
        assert_eq!(names(&p)[5..9], ["a/x/1", "a/x/2", "b", "c/obj-00000000"]);
        assert!(p.resume_after.is_none());
    }

    #[test]
    fn delimiter_rolls_up_across_pages() {
        let b = bucket();
        let p = page(&b, &query("", Some("/"), None, 2));
        assert_eq!(names(&p), ["a/", "b"]);
        let next = page(&b, &query("", Some("/"), p.resume_after.as_deref(), 2));
        assert_eq!(names(&next), ["c/", "d/"]);
        assert!(next.resume_after.is_none());
        let inner = page(&b, &query("a/", Some("/"), Some("a/obj-00000003"), 10));
        assert_eq!(names(&inner), ["a/obj-00000004", "a/x/"]);
    }

    #[test]
    fn successor_skips_a_prefix() {
        assert_eq!(successor("a/").as_deref(), Some("a0"));
        assert_eq!(successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(successor("\u{10FFFF}"), None);
    }
}
