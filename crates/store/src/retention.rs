//! How long benchmark documents and reports are kept, and which of them may go.
//!
//! [`Retention`] is the setting every writer shares (read from the environment by the
//! binaries' settings); the functions here are the pure rules the SQLite store applies
//! after its writes and `compliancectl prune` applies on demand. Elasticsearch applies
//! retention by itself, through index lifecycle policies, and never calls them.
//!
//! The rules (docs/spec.md §10):
//!
//! 1. A benchmark document newer than `now − benchmarks` is kept.
//! 2. Whatever its age, a node keeps its newest document without an error, and every
//!    document after that one; a node that never stored a document without an error
//!    keeps its newest document. So a node whose benchmarker stopped keeps the document a
//!    report would choose for it (§4.2) in any window that reaches its last documents,
//!    and never disappears from the store by pruning alone.
//! 3. A report whose endTime is newer than `now − reports` is kept, with all its nodes; a
//!    report goes as a whole or not at all.
//!
//! Together: a report computed after a prune equals the one computed before it for every
//! window that starts inside the benchmark retention, and, for each node, for every window
//! that ends at or after the node's newest document.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// The default of both retentions: 91 days, Calico Enterprise's LogStorage default for
/// compliance reports and snapshots (`LogStorageSpec.Retention`, "Default: 91").
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(91 * 24 * 3600);

/// The shortest benchmark retention: the reporter's 36-hour look-back (docs/spec.md
/// §4.1), so that the documents of the next report are never pruned before it runs.
pub const MIN_BENCHMARK_RETENTION: Duration = Duration::from_secs(36 * 3600);

/// How often a long-running process prunes after its writes, at most: once an hour.
///
/// Retentions are days long; pruning an hour late keeps a document an hour longer. The
/// benchmarker writes about once an hour per node anyway; one-shot processes (the
/// reporter, `import`) prune once, after their one write.
pub const PRUNE_INTERVAL: TimeDelta = TimeDelta::hours(1);

/// How long benchmark documents and reports are kept; `None` keeps them forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Benchmark result documents, by their `timestamp`.
    pub benchmarks: Option<Duration>,
    /// Reports, by their `endTime`.
    pub reports: Option<Duration>,
}

impl Default for Retention {
    /// [`DEFAULT_RETENTION`] for both.
    fn default() -> Self {
        Retention {
            benchmarks: Some(DEFAULT_RETENTION),
            reports: Some(DEFAULT_RETENTION),
        }
    }
}

impl Retention {
    /// Keeps everything: no pruning at all.
    pub const FOREVER: Retention = Retention {
        benchmarks: None,
        reports: None,
    };

    /// Benchmark documents older than this may be pruned (rule 1); `None` when none may.
    pub fn benchmark_cutoff(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        cutoff(self.benchmarks, now)
    }

    /// Reports whose endTime is older than this are pruned (rule 3); `None` when none are.
    pub fn report_cutoff(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        cutoff(self.reports, now)
    }
}

/// `now − keep`, or `None` when nothing is to be pruned: forever, zero (read as
/// forever: nothing would be kept at all), or a time before any the stores can hold.
fn cutoff(keep: Option<Duration>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let keep = keep.filter(|d| !d.is_zero())?;
    now.checked_sub_signed(TimeDelta::from_std(keep).ok()?)
}

/// One node's documents that pruning removes: those with a timestamp before the returned
/// time (rules 1 and 2), given the benchmark `cutoff`, the node's `newest` document and
/// its newest document without an error (`newest_good`).
pub fn node_prune_before(
    cutoff: DateTime<Utc>,
    newest: DateTime<Utc>,
    newest_good: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    cutoff.min(newest_good.unwrap_or(newest))
}

/// Whether a report ending at `end_time` is pruned (rule 3).
pub fn report_expired(cutoff: DateTime<Utc>, end_time: DateTime<Utc>) -> bool {
    end_time < cutoff
}

/// Whether a process that last pruned at `last` prunes again after a write at `now`:
/// the first time, then once per [`PRUNE_INTERVAL`], and whenever the clock went back.
pub fn prune_due(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    match last {
        None => true,
        Some(last) => now < last || now - last >= PRUNE_INTERVAL,
    }
}

/// What a prune removed (or, on a dry run, would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Benchmark documents.
    pub documents: u64,
    /// Reports.
    pub reports: u64,
    /// The nodes of those reports (rows of their own in SQLite).
    pub report_nodes: u64,
    /// Bytes of database pages that became free for new writes; the file keeps its size
    /// (see docs/operations.md). 0 on a dry run.
    pub freed_bytes: u64,
}

impl Pruned {
    /// Whether nothing was (or would be) removed.
    pub fn is_empty(&self) -> bool {
        self.documents == 0 && self.reports == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn at(hour: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_651_200 + hour * 3600, 0).unwrap()
    }

    fn days(n: u64) -> Duration {
        Duration::from_secs(n * 24 * 3600)
    }

    /// One document: (hour, errored).
    type Doc = (i64, bool);

    /// Rules 1 and 2 over one node's documents, through [`node_prune_before`].
    fn kept(docs: &[Doc], cutoff: DateTime<Utc>) -> Vec<Doc> {
        let Some(newest) = docs.iter().map(|d| d.0).max() else {
            return Vec::new();
        };
        let newest_good = docs.iter().filter(|d| !d.1).map(|d| d.0).max();
        let before = node_prune_before(cutoff, at(newest), newest_good.map(at));
        docs.iter().copied().filter(|d| at(d.0) >= before).collect()
    }

    /// docs/spec.md §4.2 for one node in [start, end]: its newest good document, else its
    /// newest errored one.
    fn choice(docs: &[Doc], start: i64, end: i64) -> Option<Doc> {
        let inside = || {
            docs.iter()
                .copied()
                .filter(|d| (start..=end).contains(&d.0))
        };
        inside()
            .filter(|d| !d.1)
            .max()
            .or_else(|| inside().filter(|d| d.1).max())
    }

    #[test]
    fn the_default_is_91_days_for_both() {
        let r = Retention::default();
        assert_eq!(r.benchmarks, Some(days(91)));
        assert_eq!(r.reports, Some(days(91)));
    }

    #[test]
    fn rule_1_documents_newer_than_the_cutoff_are_kept() {
        let r = Retention {
            benchmarks: Some(days(2)),
            reports: None,
        };
        let cutoff = r.benchmark_cutoff(at(100)).unwrap();
        assert_eq!(cutoff, at(52));
        let docs = [
            (10, false),
            (51, false),
            (52, false),
            (60, false),
            (99, false),
        ];
        assert_eq!(kept(&docs, cutoff), [(52, false), (60, false), (99, false)]);
    }

    #[test]
    fn rule_2_a_node_whose_documents_are_all_old_keeps_its_newest() {
        let docs = [(1, false), (2, false), (3, false)];
        assert_eq!(kept(&docs, at(100)), [(3, false)]);
        let errored_only = [(1, true), (2, true)];
        assert_eq!(kept(&errored_only, at(100)), [(2, true)]);
    }

    #[test]
    fn rule_2_a_node_ending_in_errors_keeps_its_newest_good_document_and_what_follows() {
        let docs = [
            (1, false),
            (2, false),
            (3, true),
            (4, false),
            (5, true),
            (6, true),
        ];
        assert_eq!(kept(&docs, at(100)), [(4, false), (5, true), (6, true)]);
    }

    #[test]
    fn rule_3_reports_ending_before_the_cutoff_are_pruned() {
        let cutoff = Retention::default().report_cutoff(at(24 * 100)).unwrap();
        assert_eq!(cutoff, at(24 * 9));
        assert!(report_expired(cutoff, at(24 * 9 - 1)));
        assert!(!report_expired(cutoff, at(24 * 9)));
        assert!(!report_expired(cutoff, at(24 * 50)));
    }

    #[test]
    fn forever_and_zero_prune_nothing() {
        assert_eq!(Retention::FOREVER.benchmark_cutoff(at(0)), None);
        assert_eq!(Retention::FOREVER.report_cutoff(at(0)), None);
        let zero = Retention {
            benchmarks: Some(Duration::ZERO),
            reports: Some(Duration::ZERO),
        };
        assert_eq!(zero.benchmark_cutoff(at(0)), None);
        assert_eq!(zero.report_cutoff(at(0)), None);
    }

    #[test]
    fn a_retention_longer_than_the_calendar_prunes_nothing() {
        let huge = Retention {
            benchmarks: Some(Duration::from_secs(u64::MAX)),
            reports: Some(days(365 * 1_000_000)),
        };
        assert_eq!(huge.benchmark_cutoff(at(0)), None);
        assert_eq!(huge.report_cutoff(at(0)), None);
    }

    #[test]
    fn a_process_prunes_after_its_first_write_then_once_an_hour() {
        assert!(prune_due(None, at(0)));
        assert!(!prune_due(Some(at(0)), at(0)));
        assert!(!prune_due(Some(at(0)), at(1) - TimeDelta::seconds(1)));
        assert!(prune_due(Some(at(0)), at(1)));
        // A clock set back must not stop pruning until it catches up again.
        assert!(prune_due(Some(at(5)), at(4)));
    }

    fn node_docs() -> impl Strategy<Value = Vec<Doc>> {
        // Distinct hours, as the store's (node, timestamp) key makes them.
        proptest::collection::btree_map(0i64..400, any::<bool>(), 0..40)
            .prop_map(|m: BTreeMap<i64, bool>| m.into_iter().collect())
    }

    proptest! {
        /// The "never prune early" guarantee on one node: whatever the documents, the
        /// report's choice for the node is the same after a prune for every window that
        /// starts at or after the cutoff, and for every window that ends at or after the
        /// node's newest document; and a node with documents keeps at least one.
        #[test]
        fn pruning_never_changes_a_report_whose_window_it_may_reach(
            docs in node_docs(),
            cutoff in 0i64..450,
            start in 0i64..450,
            len in 0i64..100,
        ) {
            let after = kept(&docs, at(cutoff));
            prop_assert_eq!(after.is_empty(), docs.is_empty());
            for d in &after {
                prop_assert!(docs.contains(d));
            }
            // Only documents older than the cutoff go.
            for d in docs.iter().filter(|d| d.0 >= cutoff) {
                prop_assert!(after.contains(d));
            }
            let end = start + len;
            let newest = docs.iter().map(|d| d.0).max().unwrap_or(0);
            if start >= cutoff || end >= newest {
                prop_assert_eq!(choice(&after, start, end), choice(&docs, start, end));
            }
        }
    }
}
