//! Whether a run's document is worth storing.
//!
//! A node's results rarely change from one hour to the next, and 10,000 nodes storing the
//! same document every hour is 240,000 documents a day of nothing new. But the reporter
//! looks back 36 hours for each node's latest document, so an unchanged node must still
//! store one at least once a day, or it would vanish from reports. Hence: a document equal
//! to the last one stored (apart from its timestamp) is skipped, unless that one is
//! [`REFRESH_AFTER`] old or older.

use chrono::{DateTime, Duration, Utc};

use compliance_core::model::BenchmarkDocument;

/// How old the last stored document may get before an identical one is stored anyway:
/// with hourly runs the gap between stored documents is then at most 25 hours, well
/// inside the reporter's 36-hour look-back.
pub const REFRESH_AFTER: Duration = Duration::hours(24);

/// What to do with a new document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Store it, for this reason.
    Store(Why),
    /// Skip it: the document stored at `last_stored` says the same and is recent.
    Skip { last_stored: DateTime<Utc> },
}

/// Why a document is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// No earlier document of this node is known: none was stored by this process, and
    /// none stored before it was found in the store when its first run ended.
    First,
    /// The results differ from the last stored document.
    Changed,
    /// Same results, but the last stored document is [`REFRESH_AFTER`] old.
    Refresh,
    /// The clock reads earlier than the last stored document (it was set back): storing
    /// is the safe choice, since a skip could leave the node without a recent document.
    ClockBehind,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::First => "first run",
            Why::Changed => "results changed",
            Why::Refresh => "daily refresh",
            Why::ClockBehind => "clock set back",
        }
    }
}

/// Decides whether `new` is stored, given the last document stored (`previous`) and the
/// time now.
pub fn decide(
    previous: Option<&BenchmarkDocument>,
    new: &BenchmarkDocument,
    now: DateTime<Utc>,
) -> Decision {
    let Some(previous) = previous else {
        return Decision::Store(Why::First);
    };
    if !same_results(previous, new) {
        return Decision::Store(Why::Changed);
    }
    if now < previous.timestamp {
        return Decision::Store(Why::ClockBehind);
    }
    if now - previous.timestamp >= REFRESH_AFTER {
        return Decision::Store(Why::Refresh);
    }
    Decision::Skip {
        last_stored: previous.timestamp,
    }
}

/// The newest stored document of `node`, among `candidates`: the documents stored at the
/// node's newest document time (a read of that instant may find other nodes' too).
///
/// A restarted daemon compares its first run with this, so that a restart is not a
/// reason to store the same results again; `None` (nothing stored for the node) makes
/// the first run [`Why::First`].
pub fn last_stored_of(
    node: &str,
    candidates: impl IntoIterator<Item = BenchmarkDocument>,
) -> Option<BenchmarkDocument> {
    candidates.into_iter().find(|d| d.node_name == node)
}

/// Whether two documents say the same apart from when they were made: every field but
/// `timestamp`, with the tests in the same order (kube-bench prints them in a fixed order,
/// so a different order means a different configuration or kube-bench version).
pub fn same_results(a: &BenchmarkDocument, b: &BenchmarkDocument) -> bool {
    a.version == b.version
        && a.kubernetes_version == b.kubernetes_version
        && a.kind == b.kind
        && a.node_name == b.node_name
        && a.error == b.error
        && a.cluster == b.cluster
        && a.tests == b.tests
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use compliance_core::model::{BenchmarkTest, TestStatus, TestText};

    fn at(hour: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap() + Duration::hours(hour)
    }

    fn test(number: &str, status: TestStatus) -> BenchmarkTest {
        BenchmarkTest {
            text: Arc::new(TestText {
                section: "1.1".into(),
                section_desc: "Control Plane Node Configuration Files".into(),
                test_number: number.into(),
                test_desc: format!("check {number}"),
                test_info: "fix it".into(),
            }),
            status,
            scored: true,
        }
    }

    fn doc(timestamp: DateTime<Utc>) -> BenchmarkDocument {
        BenchmarkDocument {
            version: "cis-1.9".into(),
            kubernetes_version: "1.29.3".into(),
            kind: "kube".into(),
            node_name: "node-1".into(),
            timestamp,
            error: String::new(),
            tests: vec![
                test("1.1.1", TestStatus::Pass),
                test("1.1.2", TestStatus::Fail),
            ],
            cluster: "cluster".into(),
            platform: String::new(),
            kube_bench_version: String::new(),
            benchmarker_version: String::new(),
            benchmark_choice: String::new(),
        }
    }

    /// Found by the restart campaign (tests/e2e/crash.rs): every restart of the daemon
    /// stored the same results once more, its first run having nothing to compare with.
    #[test]
    fn a_restarted_daemon_compares_with_what_an_earlier_process_stored() {
        let mut other = doc(at(0));
        other.node_name = "node-2".into();
        let stored = last_stored_of("node-1", [other.clone(), doc(at(0))]);
        assert_eq!(
            stored.as_ref().map(|d| d.node_name.as_str()),
            Some("node-1")
        );
        assert!(matches!(
            decide(stored.as_ref(), &doc(at(1)), at(1)),
            Decision::Skip { .. }
        ));
        assert_eq!(last_stored_of("node-1", [other]), None);
    }

    #[test]
    fn the_first_document_is_stored() {
        assert_eq!(
            decide(None, &doc(at(0)), at(0)),
            Decision::Store(Why::First)
        );
    }

    #[test]
    fn an_identical_document_within_a_day_is_skipped() {
        let stored = doc(at(0));
        for hour in [1, 12, 23] {
            assert_eq!(
                decide(Some(&stored), &doc(at(hour)), at(hour)),
                Decision::Skip { last_stored: at(0) }
            );
        }
    }

    #[test]
    fn an_identical_document_is_stored_again_after_24_hours() {
        let stored = doc(at(0));
        let new = doc(at(24));
        assert_eq!(
            decide(Some(&stored), &new, at(24)),
            Decision::Store(Why::Refresh)
        );
        // One second short of the day is still a skip.
        let now = at(24) - Duration::seconds(1);
        assert!(matches!(
            decide(Some(&stored), &doc(now), now),
            Decision::Skip { .. }
        ));
    }

    #[test]
    fn any_changed_field_but_the_timestamp_is_stored() {
        let stored = doc(at(0));
        let changes: Vec<fn(&mut BenchmarkDocument)> = vec![
            |d| d.version = "cis-1.10".into(),
            |d| d.kubernetes_version = "1.30.0".into(),
            |d| d.error = "kube-bench timed out".into(),
            |d| d.cluster = "other".into(),
            |d| d.node_name = "node-2".into(),
            |d| d.kind = "other".into(),
            |d| d.tests[1].status = TestStatus::Pass,
            |d| d.tests[0].scored = false,
            |d| d.tests.pop().map(drop).unwrap_or_default(),
            |d| d.tests.reverse(),
        ];
        for (i, change) in changes.into_iter().enumerate() {
            let mut new = doc(at(1));
            change(&mut new);
            assert_eq!(
                decide(Some(&stored), &new, at(1)),
                Decision::Store(Why::Changed),
                "change {i}"
            );
        }
    }

    #[test]
    fn an_errored_run_repeating_the_same_error_is_skipped_like_any_other() {
        let mut stored = doc(at(0));
        stored.tests.clear();
        stored.error = "kube-bench: not found".into();
        let mut new = stored.clone();
        new.timestamp = at(5);
        assert!(matches!(
            decide(Some(&stored), &new, at(5)),
            Decision::Skip { .. }
        ));
    }

    #[test]
    fn a_clock_set_back_stores() {
        let stored = doc(at(10));
        assert_eq!(
            decide(Some(&stored), &doc(at(9)), at(9)),
            Decision::Store(Why::ClockBehind)
        );
    }

    proptest! {
        /// Whatever the run times, an unchanged node never goes more than a day plus one
        /// interval without a stored document, and stores at most one a day otherwise.
        #[test]
        fn hourly_runs_of_unchanged_results_store_one_document_a_day(
            start in 0i64..1_000_000,
            jitter in proptest::collection::vec(0i64..600, 1..200),
        ) {
            let base = Utc.timestamp_opt(1_700_000_000 + start, 0).unwrap();
            let mut now = base;
            let mut stored: Option<BenchmarkDocument> = None;
            let mut stores = Vec::new();
            for j in jitter {
                now += Duration::hours(1) + Duration::seconds(j);
                let new = doc(now);
                if let Decision::Store(_) = decide(stored.as_ref(), &new, now) {
                    stores.push(now);
                    stored = Some(new);
                }
            }
            for pair in stores.windows(2) {
                let gap = pair[1] - pair[0];
                prop_assert!(gap >= REFRESH_AFTER);
                prop_assert!(gap <= REFRESH_AFTER + Duration::hours(1) + Duration::seconds(600));
            }
            prop_assert!(!stores.is_empty());
        }
    }
}
