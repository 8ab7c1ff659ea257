//! When a cached listing may be trusted: per-scheme defaults, user override, forced refresh,
//! and clock skew. Pure logic; the clock is injected.
//!
//! | scheme | default TTL | why |
//! |--------|-------------|-----|
//! | `s3://`, `az://`, `gs://` | 24 h | a LIST runs at ~20k objects/s; re-listing 64M objects costs 53 minutes |
//! | `file://`, `direct://` | no listing cache | walking a local tree is fast and always current |
//!
//! A user TTL overrides the default for every scheme (so `file://` listings can be cached when
//! asked); a TTL of zero disables the listing cache.
//!
//! Clock skew: an entry stamped in the future (another agent's clock runs ahead) is treated as
//! written *now* when it is at most [`TtlPolicy::max_clock_skew`] ahead, and as untrustworthy
//! (re-list) when it is further ahead, because its age cannot be known.
//!
//! ```
//! use std::time::Duration;
//! use cache_sai3::scheme::UriScheme;
//! use cache_sai3::ttl::{Freshness, TtlPolicy};
//! let policy = TtlPolicy::default();
//! let written = 1_000_000;
//! let now = written + 3_600_000; // one hour later, in ms
//! assert!(policy.judge(UriScheme::S3, written, now).is_usable());
//! assert_eq!(policy.judge(UriScheme::File, written, now), Freshness::NotCached);
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::scheme::UriScheme;

/// Milliseconds since the Unix epoch.
///
/// ```
/// use cache_sai3::ttl::{Clock, SystemClock, UnixMillis};
/// let now: UnixMillis = SystemClock.now();
/// assert!(now > 1_600_000_000_000); // after September 2020
/// ```
pub type UnixMillis = u64;

/// A source of the current time.
///
/// ```
/// use cache_sai3::ttl::{Clock, FixedClock, SystemClock};
/// fn age(clock: &dyn Clock, written_at: u64) -> u64 {
///     clock.now().saturating_sub(written_at)
/// }
/// assert_eq!(age(&FixedClock::new(5_000), 1_000), 4_000);
/// assert!(age(&SystemClock, 0) > 0);
/// ```
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the Unix epoch.
    fn now(&self) -> UnixMillis;
}

/// The system's wall clock.
///
/// ```
/// use cache_sai3::ttl::{Clock, SystemClock};
/// let (a, b) = (SystemClock.now(), SystemClock.now());
/// assert!(a > 0 && b >= a.saturating_sub(1_000));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixMillis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that returns a fixed, settable time (for tests and replays).
///
/// ```
/// use cache_sai3::ttl::{Clock, FixedClock};
/// assert_eq!(FixedClock::default().now(), 0);
/// ```
#[derive(Debug, Default)]
pub struct FixedClock(std::sync::atomic::AtomicU64);

impl FixedClock {
    /// A clock stopped at `now`.
    ///
    /// ```
    /// use cache_sai3::ttl::{Clock, FixedClock};
    /// let clock = FixedClock::new(42);
    /// assert_eq!((clock.now(), clock.now()), (42, 42));
    /// ```
    pub fn new(now: UnixMillis) -> Self {
        FixedClock(std::sync::atomic::AtomicU64::new(now))
    }

    /// Moves the clock to `now`.
    ///
    /// ```
    /// use cache_sai3::ttl::{Clock, FixedClock};
    /// let clock = FixedClock::new(42);
    /// clock.set(7);
    /// assert_eq!(clock.now(), 7);
    /// ```
    pub fn set(&self, now: UnixMillis) {
        self.0.store(now, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> UnixMillis {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Default TTL of object-store listings.
///
/// ```
/// use cache_sai3::scheme::UriScheme;
/// use cache_sai3::ttl::{OBJECT_STORE_TTL, TtlPolicy};
/// assert_eq!(OBJECT_STORE_TTL.as_secs(), 24 * 3600);
/// assert_eq!(TtlPolicy::default_ttl(UriScheme::Gcs), Some(OBJECT_STORE_TTL));
/// ```
pub const OBJECT_STORE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Default tolerated clock skew.
///
/// ```
/// use cache_sai3::ttl::{DEFAULT_MAX_CLOCK_SKEW, TtlPolicy};
/// assert_eq!(DEFAULT_MAX_CLOCK_SKEW.as_secs(), 300);
/// assert_eq!(TtlPolicy::default().max_clock_skew, DEFAULT_MAX_CLOCK_SKEW);
/// ```
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// How much a cached listing is trusted.
///
/// ```
/// use cache_sai3::scheme::UriScheme;
/// use cache_sai3::ttl::{Freshness, TtlPolicy};
/// let policy = TtlPolicy { force_refresh: true, ..TtlPolicy::default() };
/// assert_eq!(policy.judge(UriScheme::S3, 0, 1), Freshness::ForcedRefresh);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtlPolicy {
    /// User TTL for every scheme; `Some(ZERO)` disables the listing cache.
    pub ttl_override: Option<Duration>,
    /// Ignore cached listings (re-list and overwrite).
    pub force_refresh: bool,
    /// How far in the future an entry's timestamp may be and still count as "now".
    pub max_clock_skew: Duration,
}

impl Default for TtlPolicy {
    fn default() -> Self {
        TtlPolicy {
            ttl_override: None,
            force_refresh: false,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
        }
    }
}

/// The verdict on one cached entry.
///
/// ```
/// use std::time::Duration;
/// use cache_sai3::scheme::UriScheme;
/// use cache_sai3::ttl::{Freshness, TtlPolicy};
/// let policy = TtlPolicy::default();
/// let hour = 3_600_000;
/// assert_eq!(
///     policy.judge(UriScheme::S3, 0, 25 * hour),
///     Freshness::Expired { age: Duration::from_secs(25 * 3600) }
/// );
/// // Written an hour "in the future": further ahead than the 5 minutes tolerated.
/// assert_eq!(
///     policy.judge(UriScheme::S3, 2 * hour, hour),
///     Freshness::FromFuture { ahead: Duration::from_secs(3600) }
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Within its TTL.
    Fresh {
        /// How old it is.
        age: Duration,
        /// How long it stays fresh.
        remaining: Duration,
    },
    /// Older than its TTL: re-list and remove it.
    Expired {
        /// How old it is.
        age: Duration,
    },
    /// No listing cache for this scheme (or TTL zero): always list.
    NotCached,
    /// The user asked for a refresh.
    ForcedRefresh,
    /// Stamped further in the future than the tolerated skew: age unknown, re-list.
    FromFuture {
        /// How far ahead of this clock it is.
        ahead: Duration,
    },
}

impl Freshness {
    /// Whether the cached entry may be used instead of listing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_sai3::ttl::Freshness;
    /// let fresh = Freshness::Fresh { age: Duration::ZERO, remaining: Duration::from_secs(1) };
    /// assert!(fresh.is_usable());
    /// assert!(!Freshness::NotCached.is_usable());
    /// ```
    pub fn is_usable(&self) -> bool {
        matches!(self, Freshness::Fresh { .. })
    }
}

impl TtlPolicy {
    /// The built-in TTL of `scheme`; `None` means no listing cache.
    ///
    /// ```
    /// use cache_sai3::scheme::UriScheme;
    /// use cache_sai3::ttl::{OBJECT_STORE_TTL, TtlPolicy};
    /// assert_eq!(TtlPolicy::default_ttl(UriScheme::S3), Some(OBJECT_STORE_TTL));
    /// assert_eq!(TtlPolicy::default_ttl(UriScheme::File), None);
    /// ```
    pub fn default_ttl(scheme: UriScheme) -> Option<Duration> {
        scheme.is_object_store().then_some(OBJECT_STORE_TTL)
    }

    /// The TTL in force for `scheme`; `None` means no listing cache.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_sai3::scheme::UriScheme;
    /// use cache_sai3::ttl::TtlPolicy;
    /// let hour = Duration::from_secs(3600);
    /// let policy = TtlPolicy { ttl_override: Some(hour), ..TtlPolicy::default() };
    /// assert_eq!(policy.effective_ttl(UriScheme::File), Some(hour)); // cached when asked
    /// let off = TtlPolicy { ttl_override: Some(Duration::ZERO), ..TtlPolicy::default() };
    /// assert_eq!(off.effective_ttl(UriScheme::S3), None);
    /// ```
    pub fn effective_ttl(&self, scheme: UriScheme) -> Option<Duration> {
        match self.ttl_override {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
            None => Self::default_ttl(scheme),
        }
    }

    /// Judges an entry of `scheme` written at `written_at`, at time `now` (both ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_sai3::scheme::UriScheme;
    /// use cache_sai3::ttl::{Freshness, TtlPolicy};
    /// let hour = 3_600_000;
    /// assert_eq!(
    ///     TtlPolicy::default().judge(UriScheme::Azure, 0, hour),
    ///     Freshness::Fresh { age: Duration::from_secs(3600), remaining: Duration::from_secs(23 * 3600) }
    /// );
    /// ```
    pub fn judge(&self, scheme: UriScheme, written_at: UnixMillis, now: UnixMillis) -> Freshness {
        let Some(ttl) = self.effective_ttl(scheme) else {
            return Freshness::NotCached;
        };
        if self.force_refresh {
            return Freshness::ForcedRefresh;
        }
        let age = if written_at > now {
            let ahead = Duration::from_millis(written_at - now);
            if ahead > self.max_clock_skew {
                return Freshness::FromFuture { ahead };
            }
            Duration::ZERO
        } else {
            Duration::from_millis(now - written_at)
        };
        if age < ttl {
            Freshness::Fresh {
                age,
                remaining: ttl - age,
            }
        } else {
            Freshness::Expired { age }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: u64 = 3_600_000;

    #[test]
    fn scheme_defaults() {
        let p = TtlPolicy::default();
        for s in ["s3://b/p/", "az://a/c/", "gs://b/"] {
            let scheme = UriScheme::of(s).expect("scheme");
            assert!(p.judge(scheme, 0, 23 * H).is_usable());
            assert_eq!(
                p.judge(scheme, 0, 24 * H),
                Freshness::Expired {
                    age: Duration::from_secs(86_400)
                }
            );
        }
        for s in ["file:///x", "direct:///x"] {
            let scheme = UriScheme::of(s).expect("scheme");
            assert_eq!(p.judge(scheme, 0, 1), Freshness::NotCached);
        }
        assert!(UriScheme::of("ftp://x").is_err());
        assert!(UriScheme::of("/plain/path").is_err());
    }

    #[test]
    fn override_refresh_and_zero() {
        let p = TtlPolicy {
            ttl_override: Some(Duration::from_secs(60)),
            ..TtlPolicy::default()
        };
        assert!(p.judge(UriScheme::File, 0, 59_000).is_usable());
        assert!(!p.judge(UriScheme::S3, 0, 60_000).is_usable());
        let zero = TtlPolicy {
            ttl_override: Some(Duration::ZERO),
            ..TtlPolicy::default()
        };
        assert_eq!(zero.judge(UriScheme::S3, 0, 0), Freshness::NotCached);
        let refresh = TtlPolicy {
            force_refresh: true,
            ..TtlPolicy::default()
        };
        assert_eq!(refresh.judge(UriScheme::S3, 0, 0), Freshness::ForcedRefresh);
    }

    #[test]
    fn clock_skew() {
        let p = TtlPolicy::default();
        let clock = FixedClock::new(10 * H);
        // One minute ahead: tolerated, counts as age zero.
        assert_eq!(
            p.judge(UriScheme::S3, clock.now() + 60_000, clock.now()),
            Freshness::Fresh {
                age: Duration::ZERO,
                remaining: OBJECT_STORE_TTL
            }
        );
        // Two hours ahead: not trusted.
        assert_eq!(
            p.judge(UriScheme::S3, clock.now() + 2 * H, clock.now()),
            Freshness::FromFuture {
                ahead: Duration::from_secs(7200)
            }
        );
        clock.set(0);
        assert_eq!(clock.now(), 0);
        assert!(SystemClock.now() > 1_700_000_000_000);
    }

    proptest! {
        #[test]
        fn fresh_exactly_within_ttl(written in 0u64..1u64 << 50, age in 0u64..(48 * H), ttl_s in 1u64..200_000) {
            let p = TtlPolicy { ttl_override: Some(Duration::from_secs(ttl_s)), ..TtlPolicy::default() };
            let v = p.judge(UriScheme::S3, written, written + age);
            prop_assert_eq!(v.is_usable(), age < ttl_s * 1000);
        }
    }
}
