//! Invariants of diffs and lifecycles over random sequences of small reports.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::diff::{Change, diff};
use super::findings::ReportFindings;
use super::findings::tests::{findings, no_results, node};
use super::lifecycle::Lifecycle;
use crate::model::{CisBenchmarkNode, TestStatus};

const NODES: [&str; 4] = ["a", "b", "c", "d"];
const TESTS: [&str; 4] = ["1.1", "1.2", "1.10", "2.1"];

/// A node in one report: absent (0), without results (1), or assessed with each test
/// failing or passing (2, with the bits of the mask).
fn report_strategy() -> impl Strategy<Value = Vec<(u8, u8)>> {
    proptest::collection::vec((0u8..3, 0u8..16), NODES.len())
}

fn build(id: &str, day: usize, shape: &[(u8, u8)]) -> ReportFindings {
    let nodes: Vec<CisBenchmarkNode> = NODES
        .iter()
        .zip(shape)
        .filter_map(|(name, &(kind, mask))| match kind {
            0 => None,
            1 => Some(no_results(name)),
            _ => {
                let tests: Vec<(&str, TestStatus, Option<&str>)> = TESTS
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let status = if mask & (1 << i) != 0 {
                            TestStatus::Fail
                        } else {
                            TestStatus::Pass
                        };
                        (*t, status, None)
                    })
                    .collect();
                Some(node(name, &tests))
            }
        })
        .collect();
    findings(id, &format!("2026-11-{:02}T00:00:00Z", day + 1), &nodes)
}

fn failures(r: &ReportFindings) -> BTreeSet<(String, String)> {
    r.failures
        .iter()
        .map(|f| {
            (
                r.nodes[f.node as usize].name.clone(),
                f.test_number().to_string(),
            )
        })
        .collect()
}

proptest! {
    #[test]
    fn every_failure_of_either_report_is_classified_exactly_once(
        old in report_strategy(), new in report_strategy()
    ) {
        let (o, n) = (build("o", 0, &old), build("n", 1, &new));
        let d = diff(&o, &n);
        let of = |changes: &[Change]| -> Vec<(String, String)> {
            d.findings
                .iter()
                .filter(|f| changes.contains(&f.change))
                .map(|f| (f.node.clone(), f.test_number.clone()))
                .collect()
        };
        let before = of(&[Change::Persisting, Change::Resolved, Change::Gone]);
        let now = of(&[Change::New, Change::Persisting, Change::NewNode]);
        // Exactly once: no duplicates, and the same set as the report's failures.
        prop_assert_eq!(before.len(), o.failures.len());
        prop_assert_eq!(before.into_iter().collect::<BTreeSet<_>>(), failures(&o));
        prop_assert_eq!(now.len(), n.failures.len());
        prop_assert_eq!(now.into_iter().collect::<BTreeSet<_>>(), failures(&n));
        // Counts equal the lists.
        let count = |c: Change| d.findings.iter().filter(|f| f.change == c).count() as u64;
        prop_assert_eq!(d.counts.new, count(Change::New));
        prop_assert_eq!(d.counts.persisting, count(Change::Persisting));
        prop_assert_eq!(d.counts.resolved, count(Change::Resolved));
        prop_assert_eq!(d.counts.new_node, count(Change::NewNode));
        prop_assert_eq!(d.counts.gone, count(Change::Gone));
        prop_assert_eq!(d.counts.new_unwaived, d.counts.new);
        let kinds = |k: super::diff::NodeChangeKind| d.nodes.iter().filter(|n| n.kind == k).count() as u64;
        prop_assert_eq!(d.counts.nodes_added, kinds(super::diff::NodeChangeKind::Added));
        prop_assert_eq!(d.counts.nodes_removed, kinds(super::diff::NodeChangeKind::Removed));
        // Sorted by node, then test.
        let keys: Vec<(&str, &str)> = d.findings.iter().map(|f| (f.node.as_str(), f.test_number.as_str())).collect();
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| a.0.cmp(b.0).then_with(|| crate::order::cmp_dotted(a.1, b.1)));
        prop_assert_eq!(keys, sorted);
    }

    #[test]
    fn lifecycle_counts_follow_a_naive_replay(
        seq in proptest::collection::vec(report_strategy(), 1..8)
    ) {
        let reports: Vec<ReportFindings> = seq
            .iter()
            .enumerate()
            .map(|(i, s)| build(&format!("r{i}"), i, s))
            .collect();
        let mut l = Lifecycle::new();
        for r in &reports {
            l.observe(r).unwrap();
        }
        // Naive replay per (node, test): F failing, P assessed and passing, skip otherwise.
        let mut expected: BTreeMap<(String, String), (u32, u32, bool)> = BTreeMap::new();
        for r in &reports {
            let failing = failures(r);
            for n in r.nodes.iter().filter(|n| n.assessed) {
                for t in TESTS {
                    let key = (n.name.clone(), t.to_string());
                    let fails = failing.contains(&key);
                    match expected.get_mut(&key) {
                        None if fails => {
                            expected.insert(key, (0, 1, true));
                        }
                        None => {}
                        Some((reopened, count, was_failing)) => {
                            if fails {
                                if !*was_failing {
                                    *reopened += 1;
                                }
                                *count += 1;
                            }
                            *was_failing = fails;
                        }
                    }
                }
            }
        }
        let got: BTreeMap<(String, String), (u32, u32, bool)> = l
            .findings()
            .into_iter()
            .map(|f| {
                let failing = f.failing_since.is_some();
                ((f.node, f.test_number), (f.reopened, f.reports_failing, failing))
            })
            .collect();
        prop_assert_eq!(got, expected);
    }
}
