//! What one GlobalReport's latest report says as metric values: a pure function of the
//! report's head, its node rows, its findings index and its previous report's.
//!
//! The refresh ([`super::refresh`]) reads those once per new report and keeps what this
//! returns; a scrape only encodes it ([`super::encode`]). Nothing here reads a store.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use compliance_core::model::{Rating, TestText};
use compliance_core::order::cmp_dotted;
use compliance_core::report::{NodeChangeKind, ReportFindings, diff};
use compliance_store::{NodeRow, ReportHead};

/// A rating as a metric value: 2 HIGH, 1 MED, 0 LOW (docs/metrics.md), so that rules can
/// compare ratings (`< 2`: worse than HIGH).
pub fn rating_value(r: Rating) -> u8 {
    match r {
        Rating::High => 2,
        Rating::Med => 1,
        Rating::Low => 0,
    }
}

/// A rating as a label value: `high`, `med`, `low`.
pub fn rating_label(r: Rating) -> &'static str {
    match r {
        Rating::High => "high",
        Rating::Med => "med",
        Rating::Low => "low",
    }
}

/// Nodes per rating, in the order of [`RATINGS`].
pub type PerRating = [u64; 3];

/// The ratings in label order.
pub const RATINGS: [Rating; 3] = [Rating::High, Rating::Med, Rating::Low];

/// Tests summed over a report's nodes (each node's summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestTotals {
    pub pass: u64,
    pub fail: u64,
    pub info: u64,
    pub waived: u64,
    /// Calico's `total`: the denominator of a node's pass ratio.
    pub counted: u64,
}

/// One node's series.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSeries {
    pub name: Arc<str>,
    pub rating: Rating,
    /// Passed over counted tests; `None` without results (nothing was counted).
    pub pass_ratio: Option<f64>,
    /// Failed tests no waiver accepted (`totalFail`).
    pub failed_tests: u64,
    pub results_missing: bool,
}

/// A node rated worse than in the previous report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingDrop {
    pub node: String,
    pub from: Rating,
    pub to: Rating,
}

/// What changed since the previous report of the GlobalReport.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiffSeries {
    /// New failures no waiver accepts (the diff's `newUnwaived`).
    pub new_failures: u64,
    pub resolved_failures: u64,
    pub rating_drops: u64,
    /// Nodes in both reports, assessed before and not now.
    pub nodes_no_longer_assessed: u64,
    /// Sorted by node.
    pub dropped: Vec<RatingDrop>,
}

/// A test failing on some node without a waiver, and on how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailingTest {
    pub text: Arc<TestText>,
    pub nodes: u64,
}

/// One failed test of one node (the per-test series).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTestFailure {
    pub node: Arc<str>,
    pub text: Arc<TestText>,
    pub waived: bool,
}

/// Every series of one GlobalReport, from its latest report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSeries {
    pub report: String,
    pub report_id: String,
    pub report_type: String,
    pub generated: DateTime<Utc>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub nodes: PerRating,
    pub nodes_without_waivers: PerRating,
    pub nodes_missing_results: u64,
    pub tests: TestTotals,
    /// `None` for the first report of its GlobalReport: nothing to compare with.
    pub diff: Option<DiffSeries>,
    /// In dotted order of test numbers.
    pub failing_tests: Vec<FailingTest>,
    /// In report order.
    pub node_series: Vec<NodeSeries>,
    /// Empty unless per-test series are on; by node, then test number.
    pub node_test_failures: Vec<NodeTestFailure>,
}

/// What the series of one report are made from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub head: &'a ReportHead,
    /// The report's node rows, in report order.
    pub rows: &'a [NodeRow],
    /// The report's findings index.
    pub findings: &'a ReportFindings,
    /// The previous report's findings index, when there is a previous report.
    pub previous: Option<&'a ReportFindings>,
    /// Whether to make the per-node-per-test series (`COMPLIANCE_METRICS_PER_TEST`).
    pub per_test: bool,
}

fn per_rating(high: u64, med: u64, low: u64) -> PerRating {
    [high, med, low]
}

/// The series of one report.
pub fn report_series(i: Inputs<'_>) -> ReportSeries {
    let head = i.head;
    let summary = &head.summary;
    let nodes = per_rating(summary.high_count, summary.med_count, summary.low_count);
    let nodes_without_waivers = summary
        .without_waivers
        .map(|w| per_rating(w.high_count, w.med_count, w.low_count))
        .unwrap_or(nodes);
    let mut tests = TestTotals::default();
    let mut node_series = Vec::with_capacity(i.rows.len());
    for row in i.rows {
        let s = &row.summary;
        tests.pass += s.total_pass;
        tests.fail += s.total_fail;
        tests.info += s.total_info;
        tests.waived += s.waived;
        tests.counted += s.total;
        node_series.push(NodeSeries {
            name: Arc::from(row.node_name.as_str()),
            rating: s.status,
            pass_ratio: (!row.no_results && s.total > 0)
                .then(|| s.total_pass as f64 / s.total as f64),
            failed_tests: s.total_fail,
            results_missing: row.no_results,
        });
    }
    let mut failing: BTreeMap<&str, (Arc<TestText>, u64)> = BTreeMap::new();
    for f in i.findings.failures.iter().filter(|f| f.waiver.is_none()) {
        failing
            .entry(f.test_number())
            .or_insert_with(|| (f.text.clone(), 0))
            .1 += 1;
    }
    let mut failing_tests: Vec<FailingTest> = failing
        .into_values()
        .map(|(text, nodes)| FailingTest { text, nodes })
        .collect();
    failing_tests.sort_by(|a, b| cmp_dotted(&a.text.test_number, &b.text.test_number));
    let node_test_failures = if i.per_test {
        let names: Vec<Arc<str>> = i
            .findings
            .nodes
            .iter()
            .map(|n| Arc::from(n.name.as_str()))
            .collect();
        i.findings
            .failures
            .iter()
            .map(|f| NodeTestFailure {
                node: names[f.node as usize].clone(),
                text: f.text.clone(),
                waived: f.waiver.is_some(),
            })
            .collect()
    } else {
        Vec::new()
    };
    ReportSeries {
        report: head.report_name.clone(),
        report_id: head.id.clone(),
        report_type: head.report_type_name.clone(),
        generated: head.generation_time,
        window_start: head.start_time,
        window_end: head.end_time,
        nodes,
        nodes_without_waivers,
        nodes_missing_results: summary.no_results_count,
        tests,
        diff: i.previous.map(|p| diff_series(p, i.findings)),
        failing_tests,
        node_series,
        node_test_failures,
    }
}

/// What changed from `previous` to `latest`, as the diff of the API says it.
fn diff_series(previous: &ReportFindings, latest: &ReportFindings) -> DiffSeries {
    let d = diff(previous, latest);
    let mut out = DiffSeries {
        new_failures: d.counts.new_unwaived,
        resolved_failures: d.counts.resolved,
        rating_drops: d.counts.rating_drops,
        ..DiffSeries::default()
    };
    for n in &d.nodes {
        if n.kind == NodeChangeKind::NoLongerAssessed {
            out.nodes_no_longer_assessed += 1;
        }
        // Rating::High < Med < Low: a greater rating is a worse one.
        if let (Some(from), Some(to)) = (n.old_status, n.new_status)
            && to > from
        {
            out.dropped.push(RatingDrop {
                node: n.node.clone(),
                from,
                to,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use compliance_core::model::ReportDocument;
    use compliance_testkit::sequence::{Sequence, SequenceBuilder};

    fn rows(doc: &ReportDocument) -> Vec<NodeRow> {
        doc.cis_benchmark
            .iter()
            .enumerate()
            .map(|(i, n)| NodeRow::of(i as u64, n))
            .collect()
    }

    /// The series of `docs[i]` against `docs[i - 1]`.
    fn series_of(docs: &[ReportDocument], i: usize, per_test: bool) -> ReportSeries {
        let head = ReportHead::of(&docs[i]);
        let rows = rows(&docs[i]);
        let findings = ReportFindings::of_report(&docs[i]);
        let previous = (i > 0).then(|| ReportFindings::of_report(&docs[i - 1]));
        report_series(Inputs {
            head: &head,
            rows: &rows,
            findings: &findings,
            previous: previous.as_ref(),
            per_test,
        })
    }

    fn node<'a>(s: &'a ReportSeries, name: &str) -> &'a NodeSeries {
        s.node_series
            .iter()
            .find(|n| &*n.name == name)
            .unwrap_or_else(|| panic!("no node {name} in {:?}", s.node_series))
    }

    #[test]
    fn ratings_are_numbers_two_high_one_med_zero_low_and_labels_lower_case() {
        assert_eq!(
            RATINGS.map(rating_value),
            [2, 1, 0],
            "HIGH, MED, LOW as numbers"
        );
        assert_eq!(RATINGS.map(rating_label), ["high", "med", "low"]);
        // Story report 5: cp-1 and w-1 fail one test of six (MED), w-2 passes (HIGH).
        let s = series_of(&Sequence::story().reports, 4, false);
        assert_eq!(node(&s, "cp-1").rating, Rating::Med);
        assert_eq!(node(&s, "w-2").rating, Rating::High);
        assert_eq!(s.nodes, [1, 2, 0]);
        assert_eq!(node(&s, "w-2").pass_ratio, Some(1.0));
        assert_eq!(node(&s, "cp-1").failed_tests, 1);
        assert_eq!(s.tests.fail, 2);
        assert_eq!(s.tests.pass, 16);
        assert_eq!(s.tests.counted, 18);
    }

    #[test]
    fn a_node_missing_results_has_no_pass_ratio_and_is_counted_missing() {
        let docs = SequenceBuilder::new("2026-11-02T00:00:00Z")
            .day(|d| d.node("a", &["1.1.1"]).no_results("b"))
            .build()
            .reports;
        let s = series_of(&docs, 0, false);
        assert_eq!(s.nodes_missing_results, 1);
        let b = node(&s, "b");
        assert!(b.results_missing);
        assert_eq!(b.pass_ratio, None);
        assert_eq!(b.rating, Rating::Low, "a node without results is rated LOW");
        let a = node(&s, "a");
        assert!(!a.results_missing);
        assert_eq!(a.pass_ratio, Some(5.0 / 6.0));
    }

    #[test]
    fn a_report_with_no_previous_report_has_no_diff_series() {
        let s = series_of(&Sequence::story().reports, 0, false);
        assert_eq!(s.diff, None);
    }

    #[test]
    fn dropped_nodes_carry_their_old_and_new_rating() {
        // Report 4 → 5: cp-1 fails 1.2.6 again (HIGH → MED, a new failure); w-1's waiver
        // expired (HIGH → MED); w-3 was removed (not a drop, not "no longer assessed").
        let s = series_of(&Sequence::story().reports, 4, false);
        let d = s.diff.expect("report 5 has a previous report");
        assert_eq!(
            d.dropped,
            [
                RatingDrop {
                    node: "cp-1".into(),
                    from: Rating::High,
                    to: Rating::Med
                },
                RatingDrop {
                    node: "w-1".into(),
                    from: Rating::High,
                    to: Rating::Med
                },
            ]
        );
        assert_eq!(d.rating_drops, 2);
        assert_eq!(d.new_failures, 1);
        assert_eq!(d.resolved_failures, 0);
        assert_eq!(d.nodes_no_longer_assessed, 0);
        // Report 3 → 4: cp-1 1.2.6 resolved, cp-1 rated better: no drop.
        let s = series_of(&Sequence::story().reports, 3, false);
        let d = s.diff.unwrap();
        assert_eq!((d.resolved_failures, d.dropped.len()), (1, 0));
    }

    #[test]
    fn a_node_assessed_before_and_without_results_now_is_no_longer_assessed() {
        let docs = SequenceBuilder::new("2026-11-02T00:00:00Z")
            .day(|d| d.node("a", &[]).node("b", &[]))
            .day(|d| d.node("a", &[]).no_results("b"))
            .build()
            .reports;
        let d = series_of(&docs, 1, false).diff.unwrap();
        assert_eq!(d.nodes_no_longer_assessed, 1);
        assert_eq!(d.dropped[0].node, "b");
        assert_eq!(
            (d.dropped[0].from, d.dropped[0].to),
            (Rating::High, Rating::Low)
        );
    }

    #[test]
    fn failing_tests_count_unwaived_failures_only() {
        // Report 4: w-1 4.2.6 is waived, w-3 4.2.6 is not; nothing else fails.
        let s = series_of(&Sequence::story().reports, 3, false);
        let failing: Vec<(&str, u64)> = s
            .failing_tests
            .iter()
            .map(|t| (t.text.test_number.as_str(), t.nodes))
            .collect();
        assert_eq!(failing, [("4.2.6", 1)]);
        assert_eq!(s.tests.waived, 1);
        // The waiver keeps w-1 HIGH; without it w-1 is MED like w-3.
        assert_eq!(s.nodes, [3, 1, 0]);
        assert_eq!(s.nodes_without_waivers, [2, 2, 0]);
    }

    #[test]
    fn per_test_series_are_off_by_default_and_list_every_failure_when_on() {
        let docs = Sequence::story().reports;
        assert!(series_of(&docs, 3, false).node_test_failures.is_empty());
        let on = series_of(&docs, 3, true);
        let listed: Vec<(&str, &str, bool)> = on
            .node_test_failures
            .iter()
            .map(|f| (&*f.node, f.text.test_number.as_str(), f.waived))
            .collect();
        assert_eq!(listed, [("w-1", "4.2.6", true), ("w-3", "4.2.6", false)]);
    }
}
