//! Where a prepare's knowledge of each endpoint came from in time: how old it is, when and how
//! it was last checked against the store, and what not listing saved (LIST calls, and an
//! estimate of the time: the objects known without a LIST at the speed of the endpoint's last
//! LIST, as that LIST measured it; `docs/DECISIONS.md`).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! # let tmp = tempfile::tempdir()?;
//! # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
//! # use cache_sai3::dataset::Dataset;
//! # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
//! # use cache_sai3::ttl::{SystemClock, TtlPolicy};
//! # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
//! # let options = PrepareOptions {
//! #     cache_dir: tmp.path().join("cache"),
//! #     no_cache: false,
//! #     ttl: TtlPolicy::default(),
//! #     populate: Populate::Lazy,
//! #     concurrency: 4,
//! #     checkpoint_objects: CHECKPOINT_OBJECTS,
//! #     test_name: "example".into(),
//! #     pull: false,
//! #     push: false,
//! #     open: Default::default(),
//! #     create: true,
//! # };
//! # let progress = Progress::default();
//! # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
//! // A second run trusts the seals: the two LISTs of the first run are saved.
//! let again = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
//! let p = &again.provenance;
//! assert_eq!((p.endpoints, p.list_calls, p.list_calls_saved), (2, 0, 2));
//! assert!(p.line.starts_with("provenance: 2 endpoints, knowledge from sealed ledger"), "{}", p.line);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::{Deserialize, Serialize};

use super::{EndpointReport, ListingSource};
use crate::records::Validations;

/// How knowledge was last checked against the store.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
/// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
/// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
/// # let options = PrepareOptions {
/// #     cache_dir: tmp.path().join("cache"),
/// #     no_cache: false,
/// #     ttl: TtlPolicy::default(),
/// #     populate: Populate::Lazy,
/// #     concurrency: 4,
/// #     checkpoint_objects: CHECKPOINT_OBJECTS,
/// #     test_name: "example".into(),
/// #     pull: false,
/// #     push: false,
/// #     open: Default::default(),
/// #     create: true,
/// # };
/// # let progress = Progress::default();
/// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// use cache_sai3::prepare::ValidatedBy;
/// let check = report.endpoints[0].provenance.validated.expect("listed");
/// assert_eq!(check.by, ValidatedBy::List);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidatedBy {
    /// A LIST of the endpoint.
    List,
    /// One GET of the endpoint's `DATASET` record (same sealing, complete).
    DatasetRecord,
    /// A sampled verify (`verify --sample K`).
    Verify,
    /// The seal: every object was found by a LIST or written by the sealing prepare.
    Seal,
}

impl ValidatedBy {
    /// How the text report names it.
    ///
    /// ```
    /// use cache_sai3::prepare::ValidatedBy;
    /// assert_eq!(ValidatedBy::DatasetRecord.describe(), "DATASET GET");
    /// assert_eq!(ValidatedBy::Verify.describe(), "sampled verify");
    /// ```
    pub fn describe(self) -> &'static str {
        match self {
            ValidatedBy::List => "LIST",
            ValidatedBy::DatasetRecord => "DATASET GET",
            ValidatedBy::Verify => "sampled verify",
            ValidatedBy::Seal => "seal",
        }
    }
}

/// The last check of an endpoint's knowledge.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
/// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
/// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
/// # let options = PrepareOptions {
/// #     cache_dir: tmp.path().join("cache"),
/// #     no_cache: false,
/// #     ttl: TtlPolicy::default(),
/// #     populate: Populate::Lazy,
/// #     concurrency: 4,
/// #     checkpoint_objects: CHECKPOINT_OBJECTS,
/// #     test_name: "example".into(),
/// #     pull: false,
/// #     push: false,
/// #     open: Default::default(),
/// #     create: true,
/// # };
/// # let progress = Progress::default();
/// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// let e = &report.endpoints[0];
/// let check = e.provenance.validated.expect("listed");
/// assert_eq!(check.at_ms, e.provenance.known_at_ms); // checked by the LIST it comes from
/// assert!(check.age_s >= 0.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// How.
    pub by: ValidatedBy,
    /// When (ms since the Unix epoch).
    pub at_ms: u64,
    /// How long before this report (s).
    pub age_s: f64,
}

/// The provenance of one endpoint's knowledge.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
/// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
/// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
/// # let options = PrepareOptions {
/// #     cache_dir: tmp.path().join("cache"),
/// #     no_cache: false,
/// #     ttl: TtlPolicy::default(),
/// #     populate: Populate::Lazy,
/// #     concurrency: 4,
/// #     checkpoint_objects: CHECKPOINT_OBJECTS,
/// #     test_name: "example".into(),
/// #     pull: false,
/// #     push: false,
/// #     open: Default::default(),
/// #     create: true,
/// # };
/// # let progress = Progress::default();
/// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// let again = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// let p = &again.endpoints[0].provenance;
/// assert_eq!((p.objects_not_listed, p.list_calls_saved), (4, 1));
/// assert_eq!(report.endpoints[0].provenance.objects_not_listed, 0); // the first run listed
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// When what the knowledge says was true of the endpoint (ms since the Unix epoch): the
    /// LIST, cached listing or seal it comes from.
    pub known_at_ms: u64,
    /// Its age at this report (s).
    pub age_s: f64,
    /// The last check against the store, if any is known.
    pub validated: Option<Validation>,
    /// LIST calls not made: as many as the endpoint's last measured LIST made (at least 1).
    pub list_calls_saved: u64,
    /// Objects known present without listing them.
    pub objects_not_listed: u64,
    /// Keys per second of the endpoint's last measured LIST (`None`: none read a key).
    pub list_keys_per_s: Option<f64>,
    /// Estimated LIST time saved (s): objects not listed at that rate (`None`: no rate).
    pub est_list_seconds_saved: Option<f64>,
}

/// What the provenance of one endpoint is judged from.
pub(super) struct Evidence<'a> {
    /// Where the knowledge came from.
    pub source: ListingSource,
    /// When it was true of the endpoint (ms).
    pub known_at_ms: u64,
    /// This run renewed an expired seal with the `DATASET` record.
    pub by_dataset_record: bool,
    /// The endpoint's stored validations.
    pub validations: &'a Validations,
    /// Objects found present.
    pub objects_known: u64,
    /// Now (ms).
    pub now_ms: u64,
}

impl Provenance {
    /// Judges `e`.
    pub(super) fn judge(e: &Evidence<'_>) -> Self {
        let age = |at: u64| seconds_between(at, e.now_ms);
        let listed = e.source == ListingSource::List;
        let last_list = e.validations.last_list;
        let rate = last_list.and_then(|m| m.keys_per_s());
        let objects_not_listed = if listed { 0 } else { e.objects_known };
        let list_calls_saved = match last_list {
            _ if listed => 0,
            Some(m) => m.calls.max(1),
            None => 1,
        };
        Provenance {
            known_at_ms: e.known_at_ms,
            age_s: age(e.known_at_ms),
            validated: last_check(e).map(|(by, at_ms)| Validation {
                by,
                at_ms,
                age_s: age(at_ms),
            }),
            list_calls_saved,
            objects_not_listed,
            list_keys_per_s: rate.map(round_ms),
            est_list_seconds_saved: rate.map(|r| round_ms(objects_not_listed as f64 / r)),
        }
    }
}

/// The most recent check among those `e` knows of (on equal times, the later in this list).
fn last_check(e: &Evidence<'_>) -> Option<(ValidatedBy, u64)> {
    let v = e.validations;
    let sealed = e.source == ListingSource::Ledger;
    let listed_now = e.source == ListingSource::List;
    [
        sealed.then_some((ValidatedBy::Seal, e.known_at_ms)),
        v.last_list.map(|m| (ValidatedBy::List, m.at_ms)),
        listed_now.then_some((ValidatedBy::List, e.known_at_ms)),
        v.verified_at_ms.map(|at| (ValidatedBy::Verify, at)),
        e.by_dataset_record
            .then_some((ValidatedBy::DatasetRecord, e.now_ms)),
    ]
    .into_iter()
    .flatten()
    .max_by_key(|&(_, at)| at)
}

fn seconds_between(earlier_ms: u64, later_ms: u64) -> f64 {
    later_ms.saturating_sub(earlier_ms) as f64 / 1000.0
}

fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// The provenance over every endpoint of a prepare, with one line to quote in results.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # let config = cache_sai3::metadata_cache::example_config(tmp.path(), 8);
/// # use cache_sai3::dataset::Dataset;
/// # use cache_sai3::prepare::{CHECKPOINT_OBJECTS, Populate, PrepareOptions, Progress, prepare};
/// # use cache_sai3::ttl::{SystemClock, TtlPolicy};
/// # let dataset = Dataset::load(&config)?; // 8 objects on two file:// endpoints
/// # let options = PrepareOptions {
/// #     cache_dir: tmp.path().join("cache"),
/// #     no_cache: false,
/// #     ttl: TtlPolicy::default(),
/// #     populate: Populate::Lazy,
/// #     concurrency: 4,
/// #     checkpoint_objects: CHECKPOINT_OBJECTS,
/// #     test_name: "example".into(),
/// #     pull: false,
/// #     push: false,
/// #     open: Default::default(),
/// #     create: true,
/// # };
/// # let progress = Progress::default();
/// # let report = prepare::<cache_fjall::FjallDatabase>(&dataset, &options, &SystemClock, &progress).await?;
/// let p = &report.provenance;
/// assert_eq!((p.endpoints, p.list_calls, p.list_calls_saved), (2, 2, 0));
/// assert!(p.line.ends_with("2 LIST calls (0 saved), nothing saved"), "{}", p.line);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProvenanceSummary {
    /// Endpoints (shards) reported.
    pub endpoints: usize,
    /// Age of the oldest knowledge used (s).
    pub oldest_age_s: f64,
    /// The least recent last check over the endpoints (`None`: an endpoint has none).
    pub least_recently_validated: Option<Validation>,
    /// LIST calls made.
    pub list_calls: u64,
    /// LIST calls not made.
    pub list_calls_saved: u64,
    /// Estimated LIST time saved (s), summed over the endpoints with a measured LIST rate
    /// (`None`: endpoints were not listed and none has one).
    pub est_list_seconds_saved: Option<f64>,
    /// The summary as one line, e.g. `provenance: 4 endpoints, knowledge from sealed ledger
    /// (age 3 d 2 h, validated by DATASET GET 1 h ago), 0 LIST calls (4 saved), ~53 min of
    /// LIST saved`.
    pub line: String,
}

impl ProvenanceSummary {
    /// Sums the endpoints' provenance.
    pub(crate) fn of(endpoints: &[EndpointReport]) -> Self {
        let all = || endpoints.iter().map(|e| &e.provenance);
        let skipped: Vec<&Provenance> = all().filter(|p| p.list_calls_saved > 0).collect();
        let estimates: Vec<f64> = skipped
            .iter()
            .filter_map(|p| p.est_list_seconds_saved)
            .collect();
        let est_list_seconds_saved = match (skipped.is_empty(), estimates.is_empty()) {
            (true, _) => Some(0.0),
            (false, true) => None,
            (false, false) => Some(round_ms(estimates.iter().sum())),
        };
        let mut summary = ProvenanceSummary {
            endpoints: endpoints.len(),
            oldest_age_s: all().map(|p| p.age_s).fold(0.0, f64::max),
            least_recently_validated: least_recent(endpoints),
            list_calls: endpoints.iter().map(|e| e.list_calls).sum(),
            list_calls_saved: all().map(|p| p.list_calls_saved).sum(),
            est_list_seconds_saved,
            line: String::new(),
        };
        summary.line = summary.describe(endpoints);
        summary
    }

    fn describe(&self, endpoints: &[EndpointReport]) -> String {
        let n = self.endpoints;
        let validated = match &self.least_recently_validated {
            Some(v) => format!("validated by {} {} ago", v.by.describe(), human(v.age_s)),
            None => "never validated".to_owned(),
        };
        let saved = match self.est_list_seconds_saved {
            _ if self.list_calls_saved == 0 => "nothing saved".to_owned(),
            Some(s) => format!("~{} of LIST saved", human(s)),
            None => "LIST time saved unknown (no LIST measured)".to_owned(),
        };
        format!(
            "provenance: {n} endpoint{}, knowledge from {} (age {}, {validated}), {} LIST \
             calls ({} saved), {saved}",
            if n == 1 { "" } else { "s" },
            sources(endpoints),
            human(self.oldest_age_s),
            self.list_calls,
            self.list_calls_saved,
        )
    }
}

/// The least recent last check (an endpoint without one makes it `None`).
fn least_recent(endpoints: &[EndpointReport]) -> Option<Validation> {
    let checks: Option<Vec<Validation>> =
        endpoints.iter().map(|e| e.provenance.validated).collect();
    checks?.into_iter().min_by_key(|v| v.at_ms)
}

/// The sources used, with counts when there are several.
fn sources(endpoints: &[EndpointReport]) -> String {
    let mut counts: Vec<(ListingSource, usize)> = Vec::new();
    for e in endpoints {
        match counts.iter_mut().find(|(s, _)| *s == e.listing_source) {
            Some((_, n)) => *n += 1,
            None => counts.push((e.listing_source, 1)),
        }
    }
    match counts.as_slice() {
        [] => "nothing".to_owned(),
        [(only, _)] => only.describe().to_owned(),
        many => many
            .iter()
            .map(|(s, n)| format!("{} x{n}", s.describe()))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// A duration for people: `0.4 s`, `42 s`, `53 min`, `5 h 3 min`, `3 d 2 h`.
///
/// ```
/// use cache_sai3::prepare::provenance::human;
/// assert_eq!(human(0.42), "0.4 s");
/// assert_eq!(human(42.0), "42 s");
/// assert_eq!(human(3_180.0), "53 min");
/// assert_eq!(human(18_180.0), "5 h 3 min");
/// assert_eq!(human(266_400.0), "3 d 2 h");
/// ```
pub fn human(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        _ if seconds < 9.95 => format!("{:.1} s", seconds.max(0.0)),
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ListMeasure;

    fn evidence(source: ListingSource, validations: &Validations) -> Evidence<'_> {
        Evidence {
            source,
            known_at_ms: 1_000,
            by_dataset_record: false,
            validations,
            objects_known: 50_000,
            now_ms: 3_601_000,
        }
    }

    #[test]
    fn time_saved_is_objects_not_listed_at_the_last_list_rate() {
        let v = Validations {
            last_list: Some(ListMeasure {
                at_ms: 500,
                keys: 10_000,
                micros: 2_000_000,
                calls: 11,
            }),
            ..Validations::default()
        };
        let p = Provenance::judge(&evidence(ListingSource::Ledger, &v));
        assert_eq!(p.list_keys_per_s, Some(5_000.0));
        assert_eq!(p.est_list_seconds_saved, Some(10.0));
        assert_eq!(p.list_calls_saved, 11);
        assert_eq!(p.age_s, 3_600.0);
        let check = p.validated.expect("the seal is a check");
        assert_eq!((check.by, check.at_ms), (ValidatedBy::Seal, 1_000));
        let listed = Provenance::judge(&evidence(ListingSource::List, &v));
        assert_eq!(listed.list_calls_saved, 0);
        assert_eq!(listed.est_list_seconds_saved, Some(0.0));
    }

    #[test]
    fn the_most_recent_check_wins() {
        let v = Validations {
            verified_at_ms: Some(2_000),
            ..Validations::default()
        };
        let mut e = evidence(ListingSource::Ledger, &v);
        let p = Provenance::judge(&e);
        assert_eq!(p.validated.map(|c| c.by), Some(ValidatedBy::Verify));
        assert_eq!(p.list_calls_saved, 1, "a LIST takes one call at least");
        assert_eq!(p.est_list_seconds_saved, None, "no LIST was measured");
        e.by_dataset_record = true;
        let p = Provenance::judge(&e);
        let check = p.validated.expect("checked");
        assert_eq!((check.by, check.age_s), (ValidatedBy::DatasetRecord, 0.0));
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(0.4), "0.4 s");
        assert_eq!(human(12.4), "12 s");
        assert_eq!(human(59.0), "59 s");
        assert_eq!(human(3_180.0), "53 min");
        assert_eq!(human(18_200.0), "5 h 3 min");
        assert_eq!(human(266_400.0), "3 d 2 h");
    }
}
