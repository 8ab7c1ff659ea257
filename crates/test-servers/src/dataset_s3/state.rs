//! What the server holds: buckets of synthetic sets (presence bitmaps) and real objects (bytes
//! in memory), and the rules of reading, writing and deleting them.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

use bytes::Bytes;
use roaring::RoaringTreemap;
use s3s::dto::ETagCondition;
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use super::content::{hex, md5, synthetic_etag};
use super::objects::SyntheticObjects;

/// One synthetic set of a bucket and which of its indices exist.
pub(crate) struct SyntheticSet {
    pub(crate) objects: Arc<dyn SyntheticObjects>,
    pub(crate) presence: RoaringTreemap,
}

/// An object stored for real.
pub(crate) struct RealObject {
    pub(crate) data: Bytes,
    pub(crate) etag: String,
    pub(crate) modified: SystemTime,
}

/// A bucket: synthetic sets plus real objects by key.
pub(crate) struct Bucket {
    pub(crate) sets: Vec<SyntheticSet>,
    pub(crate) real: BTreeMap<String, RealObject>,
    pub(crate) created: SystemTime,
    /// `LastModified` of every synthetic object.
    pub(crate) synthetic_time: SystemTime,
}

/// Where an object's bytes come from.
#[derive(Clone)]
pub(crate) enum Source {
    /// Synthetic object of this index.
    Synthetic(u64),
    /// Stored bytes.
    Real(Bytes),
}

/// An existing object, detached from the bucket (no lock held).
#[derive(Clone)]
pub(crate) struct Found {
    pub(crate) size: u64,
    pub(crate) etag: String,
    pub(crate) modified: SystemTime,
    pub(crate) source: Source,
}

/// The body of a write, once read.
pub(crate) enum Written {
    /// Read and dropped: this many bytes, written to a synthetic key of exactly that size.
    Discarded(u64),
    /// Kept.
    Bytes { data: Bytes, etag: String },
}

impl Written {
    fn len(&self) -> u64 {
        match self {
            Written::Discarded(n) => *n,
            Written::Bytes { data, .. } => data.len() as u64,
        }
    }

    /// Bytes to be stored, with the MD5 ETag.
    pub(crate) fn bytes(data: Bytes) -> Self {
        let etag = hex(&md5(&data));
        Written::Bytes { data, etag }
    }
}

/// Preconditions of a write (`If-Match`, `If-None-Match`).
#[derive(Default)]
pub(crate) struct Conditions {
    pub(crate) if_match: Option<ETagCondition>,
    pub(crate) if_none_match: Option<ETagCondition>,
}

fn matches(condition: &ETagCondition, etag: &str) -> bool {
    match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == etag,
    }
}

impl Conditions {
    /// Fails with `PreconditionFailed` unless the existing object (its ETag) allows the write.
    pub(crate) fn check(&self, existing: Option<&str>) -> S3Result<()> {
        if let (Some(c), Some(etag)) = (&self.if_none_match, existing)
            && matches(c, etag)
        {
            return Err(s3_error!(PreconditionFailed, "the object exists"));
        }
        if let Some(c) = &self.if_match
            && !existing.is_some_and(|etag| matches(c, etag))
        {
            return Err(s3_error!(PreconditionFailed, "the ETag does not match"));
        }
        Ok(())
    }
}

impl Bucket {
    pub(crate) fn new(sets: Vec<SyntheticSet>, now: SystemTime) -> Self {
        Bucket {
            sets,
            real: BTreeMap::new(),
            created: now,
            synthetic_time: now,
        }
    }

    /// `(set, index)` of a synthetic key, present or not.
    fn slot(&self, key: &str) -> Option<(usize, u64)> {
        self.sets
            .iter()
            .enumerate()
            .find_map(|(s, set)| set.objects.index_of(key).map(|i| (s, i)))
    }

    /// The size a write to `key` must have to be kept as a synthetic object.
    pub(crate) fn synthetic_size(&self, key: &str) -> Option<u64> {
        self.slot(key).map(|(s, i)| self.sets[s].objects.size_of(i))
    }

    /// The object `key`, if it exists.
    pub(crate) fn get(&self, key: &str) -> Option<Found> {
        if let Some(o) = self.real.get(key) {
            return Some(Found {
                size: o.data.len() as u64,
                etag: o.etag.clone(),
                modified: o.modified,
                source: Source::Real(o.data.clone()),
            });
        }
        let (s, i) = self.slot(key)?;
        let set = &self.sets[s];
        set.presence.contains(i).then(|| {
            let size = set.objects.size_of(i);
            Found {
                size,
                etag: synthetic_etag(i, size),
                modified: self.synthetic_time,
                source: Source::Synthetic(i),
            }
        })
    }

    /// Writes `key` if `conditions` allow it; returns the new ETag.
    ///
    /// A synthetic key written with its exact size sets its presence bit; with any other
    /// size it becomes a real object (and its bit is cleared).
    pub(crate) fn put(
        &mut self,
        key: &str,
        body: Written,
        conditions: &Conditions,
    ) -> S3Result<String> {
        conditions.check(self.get(key).as_ref().map(|f| f.etag.as_str()))?;
        let slot = self.slot(key);
        if let Some((s, i)) = slot
            && body.len() == self.sets[s].objects.size_of(i)
        {
            self.real.remove(key);
            self.sets[s].presence.insert(i);
            return Ok(synthetic_etag(i, body.len()));
        }
        let Written::Bytes { data, etag } = body else {
            return Err(s3_error!(
                IncompleteBody,
                "the body has not the announced length"
            ));
        };
        if let Some((s, i)) = slot {
            self.sets[s].presence.remove(i);
        }
        let object = RealObject {
            data,
            etag: etag.clone(),
            modified: SystemTime::now(),
        };
        self.real.insert(key.to_owned(), object);
        Ok(etag)
    }

    /// Deletes `key` (clears its bit, drops its bytes); deleting nothing is no error.
    pub(crate) fn delete(&mut self, key: &str) {
        self.real.remove(key);
        if let Some((s, i)) = self.slot(key) {
            self.sets[s].presence.remove(i);
        }
    }
}

/// Every bucket, by name.
#[derive(Default)]
pub(crate) struct Buckets(RwLock<BTreeMap<String, Bucket>>);

fn no_such_bucket(name: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchBucket, format!("no bucket {name}"))
}

impl Buckets {
    /// Every bucket, for reading.
    pub(crate) fn all(&self) -> RwLockReadGuard<'_, BTreeMap<String, Bucket>> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn all_mut(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Bucket>> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on bucket `name` (read lock held meanwhile).
    pub(crate) fn read<R>(&self, name: &str, f: impl FnOnce(&Bucket) -> R) -> S3Result<R> {
        self.all()
            .get(name)
            .map(f)
            .ok_or_else(|| no_such_bucket(name))
    }

    /// Runs `f` on bucket `name` (write lock held meanwhile).
    pub(crate) fn write<R>(&self, name: &str, f: impl FnOnce(&mut Bucket) -> R) -> S3Result<R> {
        self.all_mut()
            .get_mut(name)
            .map(f)
            .ok_or_else(|| no_such_bucket(name))
    }

    /// Adds bucket `name` unless it exists; true when added.
    pub(crate) fn create(&self, name: &str, sets: Vec<SyntheticSet>) -> bool {
        let mut all = self.all_mut();
        if all.contains_key(name) {
            return false;
        }
        all.insert(name.to_owned(), Bucket::new(sets, SystemTime::now()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset_s3::objects::{FlatObjects, full_presence};

    fn bucket() -> Bucket {
        let set = SyntheticSet {
            objects: Arc::new(FlatObjects::new("d/", 10, 4)),
            presence: full_presence(5),
        };
        Bucket::new(vec![set], SystemTime::now())
    }

    #[test]
    fn writes_follow_the_size_rule() {
        let mut b = bucket();
        assert!(b.get("d/obj-00000007").is_none());
        b.put(
            "d/obj-00000007",
            Written::Discarded(4),
            &Conditions::default(),
        )
        .expect("put");
        assert!(b.sets[0].presence.contains(7));
        let data = Bytes::from_static(b"longer");
        b.put(
            "d/obj-00000007",
            Written::bytes(data),
            &Conditions::default(),
        )
        .expect("put");
        assert!(!b.sets[0].presence.contains(7));
        assert_eq!(b.get("d/obj-00000007").map(|f| f.size), Some(6));
        b.delete("d/obj-00000007");
        assert!(b.get("d/obj-00000007").is_none());
    }

    #[test]
    fn conditions_guard_writes() {
        let mut b = bucket();
        let create = Conditions {
            if_none_match: Some(ETagCondition::Any),
            ..Conditions::default()
        };
        let err = b.put("d/obj-00000001", Written::Discarded(4), &create);
        assert_eq!(
            err.map_err(|e| e.code().clone()),
            Err(S3ErrorCode::PreconditionFailed)
        );
        assert!(b.put("x", Written::bytes(Bytes::new()), &create).is_ok());
        assert!(b.put("x", Written::bytes(Bytes::new()), &create).is_err());
    }
}
