//! Top failed tests (docs/spec.md §4.8).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::compute::{Counted, counted_as};
use crate::model::global_report::NotObservedAs;
use crate::model::{CisBenchmarkNode, ReportDocument};
use crate::order::cmp_dotted;

/// A test that failed on `failed_count` nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopFailedTest {
    pub index: String,
    pub description: String,
    #[serde(rename = "failedCount")]
    pub failed_count: u64,
}

/// Counts, per test number, the nodes where it FAILed among the included results, and
/// keeps the `limit` most failed, ties broken by dotted test order. A NOT_OBSERVED test
/// counts as failed when `not_observed_as` says `fail`.
///
/// Works on a report's nodes, which hold only included results, so it gives the same
/// answer when recomputed from a stored report. The description is the one of the first
/// node (in report order) that failed the test.
pub fn top_failed_tests(
    nodes: &[CisBenchmarkNode],
    limit: usize,
    not_observed_as: NotObservedAs,
) -> Vec<TopFailedTest> {
    let mut counts: HashMap<&str, (u64, &str)> = HashMap::new();
    for node in nodes {
        for section in &node.results {
            for t in &section.results {
                if t.waiver.is_none() && counted_as(&t.status, not_observed_as) == Counted::Fail {
                    let e = counts
                        .entry(t.text.test_number.as_str())
                        .or_insert((0, t.text.test_desc.as_str()));
                    e.0 += 1;
                }
            }
        }
    }
    let mut all: Vec<_> = counts.into_iter().collect();
    all.sort_by(|(a, (ca, _)), (b, (cb, _))| cb.cmp(ca).then_with(|| cmp_dotted(a, b)));
    all.into_iter()
        .take(limit)
        .map(|(index, (failed_count, desc))| TopFailedTest {
            index: index.to_string(),
            description: desc.to_string(),
            failed_count,
        })
        .collect()
}

/// The top failed tests of a stored report, as many as its `numFailedTests` asks for.
///
/// A stored spec that no longer validates falls back to the default count (5) rather
/// than hiding the list: the report itself was computed and is still worth reading.
pub fn report_top_failed_tests(doc: &ReportDocument) -> Vec<TopFailedTest> {
    let params = doc.report_spec.cis_params().unwrap_or_default();
    top_failed_tests(
        &doc.cis_benchmark,
        params.num_failed_tests,
        params.not_observed_as,
    )
}
