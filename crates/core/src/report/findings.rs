//! The compact index of one report that diffs and lifecycles work on.
//!
//! A stored 10,000-node report is hundreds of megabytes of JSON; comparing two of them, or
//! following a finding through thirty, needs only which node failed which test, whether a
//! waiver accepted it, and each node's ratings. [`FindingsBuilder`] takes a report node by
//! node (as the stores page them), keeps that and drops the rest, so a whole report is
//! never held. Test texts are kept as the report's shared `Arc<TestText>` (one per
//! distinct test, not one per node) and nodes are referred to by a `u32` index.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::global_report::GlobalReportSpec;
use crate::model::{CisBenchmarkNode, NotObservedAs, Provenance, Rating, ReportDocument, TestText};
use crate::order::cmp_dotted;
use crate::report::{Counted, counted_as};
use crate::time;

/// A stored report reduced to what names it in a diff or a lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRef {
    pub id: String,
    #[serde(rename = "reportName")]
    pub report_name: String,
    #[serde(rename = "startTime", with = "time::seconds")]
    pub start_time: DateTime<Utc>,
    #[serde(rename = "endTime", with = "time::seconds")]
    pub end_time: DateTime<Utc>,
    #[serde(rename = "generationTime", with = "time::seconds")]
    pub generation_time: DateTime<Utc>,
}

impl ReportRef {
    /// The reference of a whole report in memory. (The stores make one from a report
    /// head: a head is theirs, not the core's.)
    pub fn of_report(doc: &ReportDocument) -> ReportRef {
        ReportRef {
            id: doc.id.clone(),
            report_name: doc.report_name.clone(),
            start_time: doc.start_time,
            end_time: doc.end_time,
            generation_time: doc.generation_time,
        }
    }
}

/// How a report counted NOT_OBSERVED tests, from what its head holds: the provenance's
/// applied rules, else the stored spec, else the default (`info`), as the downloads do.
pub fn not_observed_as_of(
    provenance: Option<&Provenance>,
    spec: &GlobalReportSpec,
) -> NotObservedAs {
    match provenance {
        Some(p) => p.cis.not_observed_as,
        None => spec
            .cis_params()
            .map(|p| p.not_observed_as)
            .unwrap_or_default(),
    }
}

/// One node of a report, as a diff compares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    pub name: String,
    /// The node has test results in this report: its run did not fail, it is not marked
    /// `noResults`, and it has at least one test. Only an assessed node can fail or pass
    /// a test; the findings of a node that is not assessed are unknown, not resolved.
    pub assessed: bool,
    pub status: Rating,
    /// The rating had no waiver applied; equal to `status` when nothing was waived.
    #[serde(rename = "statusWithoutWaivers")]
    pub status_without_waivers: Rating,
    #[serde(rename = "noResults")]
    pub no_results: bool,
    pub error: String,
}

impl NodeState {
    /// The state of `node` as the report stored it.
    pub fn of(node: &CisBenchmarkNode) -> NodeState {
        let has_tests = node.results.iter().any(|s| !s.results.is_empty());
        NodeState {
            name: node.node_name.clone(),
            assessed: node.error.is_empty() && !node.no_results && has_tests,
            status: node.summary.status,
            status_without_waivers: node
                .summary
                .status_without_waivers
                .unwrap_or(node.summary.status),
            no_results: node.no_results,
            error: node.error.clone(),
        }
    }
}

/// One failed test of one node: a test whose status counted as a failure in the report
/// (FAIL, and NOT_OBSERVED under `notObservedAs: fail`), waived or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Index into [`ReportFindings::nodes`].
    pub node: u32,
    /// The test's number, section and descriptions, shared by every node failing it.
    pub text: Arc<TestText>,
    /// The GlobalReportWaiver that accepted the failure, if one did.
    pub waiver: Option<Arc<str>>,
}

impl Failure {
    pub fn test_number(&self) -> &str {
        &self.text.test_number
    }
}

/// The failures and node states of one report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFindings {
    pub report: ReportRef,
    /// Sorted by name, each name once.
    pub nodes: Vec<NodeState>,
    /// Sorted by node, then by test number ([`cmp_dotted`]), each (node, test) once.
    pub failures: Vec<Failure>,
}

impl ReportFindings {
    /// The findings of a whole report in memory (tests, small reports).
    pub fn of_report(doc: &ReportDocument) -> ReportFindings {
        let not_observed = not_observed_as_of(doc.provenance.as_ref(), &doc.report_spec);
        let mut b = FindingsBuilder::new(ReportRef::of_report(doc), not_observed);
        for node in &doc.cis_benchmark {
            b.add_node(node);
        }
        b.finish()
    }

    /// The failures of the node at `index`: a slice of [`ReportFindings::failures`].
    pub fn failures_of(&self, index: u32) -> &[Failure] {
        let start = self.failures.partition_point(|f| f.node < index);
        let end = self.failures.partition_point(|f| f.node <= index);
        &self.failures[start..end]
    }

    /// The node called `name`, by binary search.
    pub fn node_index(&self, name: &str) -> Option<u32> {
        self.nodes
            .binary_search_by(|n| n.name.as_str().cmp(name))
            .ok()
            .map(|i| i as u32)
    }
}

/// Builds [`ReportFindings`] from a report's nodes, fed one at a time (in any order), so
/// a 10,000-node report is read a page at a time and never held whole.
#[derive(Debug)]
pub struct FindingsBuilder {
    report: ReportRef,
    not_observed_as: NotObservedAs,
    texts: Texts,
    nodes: Vec<NodeState>,
    /// Failures with the node's index in arrival order; renumbered in `finish`.
    failures: Vec<Failure>,
}

impl FindingsBuilder {
    /// Starts the index of `report`, whose NOT_OBSERVED tests counted as `not_observed_as`
    /// ([`not_observed_as_of`]).
    pub fn new(report: ReportRef, not_observed_as: NotObservedAs) -> Self {
        FindingsBuilder {
            report,
            not_observed_as,
            texts: Texts::default(),
            nodes: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Adds one node of the report. A node name given twice (which a report never holds)
    /// keeps the first.
    pub fn add_node(&mut self, node: &CisBenchmarkNode) {
        let index = self.nodes.len() as u32;
        let state = NodeState::of(node);
        let assessed = state.assessed;
        self.nodes.push(state);
        if !assessed {
            // Whatever a node without results carries is not a finding of this report.
            return;
        }
        let as_ = self.not_observed_as;
        for t in node.results.iter().flat_map(|s| &s.results) {
            if counted_as(&t.status, as_) == Counted::Fail {
                self.failures.push(Failure {
                    node: index,
                    // Texts read back from JSON are one copy per node: shared here.
                    text: self.texts.share(&t.text),
                    waiver: t.waiver.clone(),
                });
            }
        }
    }

    /// Sorts nodes and failures and gives the index.
    pub fn finish(self) -> ReportFindings {
        let FindingsBuilder {
            report,
            nodes,
            mut failures,
            ..
        } = self;
        // Sort nodes by name; `renumber[arrival] = sorted position`, or u32::MAX for a
        // duplicate name dropped.
        let mut order: Vec<u32> = (0..nodes.len() as u32).collect();
        order.sort_by(|&a, &b| {
            nodes[a as usize]
                .name
                .cmp(&nodes[b as usize].name)
                .then(a.cmp(&b))
        });
        let mut renumber = vec![u32::MAX; nodes.len()];
        let mut slots: Vec<Option<NodeState>> = nodes.into_iter().map(Some).collect();
        let mut sorted: Vec<NodeState> = Vec::with_capacity(slots.len());
        for &i in &order {
            let node = slots[i as usize].take().expect("each index once");
            if sorted.last().is_some_and(|last| last.name == node.name) {
                continue;
            }
            renumber[i as usize] = sorted.len() as u32;
            sorted.push(node);
        }
        failures.retain_mut(|f| {
            f.node = renumber[f.node as usize];
            f.node != u32::MAX
        });
        failures.sort_by(|a, b| a.node.cmp(&b.node).then_with(|| cmp_failure(a, b)));
        failures.dedup_by(|b, a| a.node == b.node && a.text.test_number == b.text.test_number);
        ReportFindings {
            report,
            nodes: sorted,
            failures,
        }
    }
}

/// One shared copy of each distinct test text, looked up by test number: hashing the
/// number alone (not the descriptions and remediation) keeps the lookup cheap, and a text
/// already shared is recognised by its pointer.
#[derive(Debug, Default)]
pub(crate) struct Texts {
    by_number: HashMap<Box<str>, Vec<Arc<TestText>>>,
}

impl Texts {
    pub(crate) fn share(&mut self, text: &Arc<TestText>) -> Arc<TestText> {
        let variants = match self.by_number.get_mut(text.test_number.as_str()) {
            Some(v) => v,
            None => self
                .by_number
                .entry(text.test_number.as_str().into())
                .or_default(),
        };
        if let Some(known) = variants
            .iter()
            .find(|k| Arc::ptr_eq(k, text) || ***k == **text)
        {
            return known.clone();
        }
        variants.push(text.clone());
        text.clone()
    }
}

/// Orders two failures of one node by test number; pointer-equal texts are equal without
/// comparing strings.
pub(crate) fn cmp_failure(a: &Failure, b: &Failure) -> Ordering {
    if Arc::ptr_eq(&a.text, &b.text) {
        return Ordering::Equal;
    }
    cmp_dotted(&a.text.test_number, &b.text.test_number)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{NodeSummary, SectionResult, TestResult, TestStatus};

    pub fn text(number: &str) -> Arc<TestText> {
        let section = number.rsplit_once('.').map_or(number, |(s, _)| s);
        Arc::new(TestText {
            section: section.into(),
            section_desc: format!("Section {section}"),
            test_number: number.into(),
            test_desc: format!("Ensure {number}"),
            test_info: String::new(),
        })
    }

    /// A node with the given tests: `(number, status, waiver)`.
    pub fn node(name: &str, tests: &[(&str, TestStatus, Option<&str>)]) -> CisBenchmarkNode {
        let fails = tests
            .iter()
            .filter(|t| t.1 == TestStatus::Fail && t.2.is_none())
            .count() as u64;
        CisBenchmarkNode {
            node_name: name.into(),
            kubernetes_version: "1.29".into(),
            benchmarks_version: "cis-1.9".into(),
            summary: NodeSummary {
                status: if fails == 0 {
                    Rating::High
                } else {
                    Rating::Low
                },
                total_pass: tests.len() as u64 - fails,
                total_fail: fails,
                total_info: 0,
                total: tests.len() as u64,
                waived: 0,
                status_without_waivers: None,
            },
            results: vec![SectionResult {
                status: Rating::High,
                section: "1.1".into(),
                desc: "Section".into(),
                pass: 0,
                fail: fails,
                info: 0,
                waived: 0,
                results: tests
                    .iter()
                    .map(|(n, s, w)| TestResult {
                        text: text(n),
                        status: s.clone(),
                        scored: true,
                        waiver: w.map(Arc::from),
                    })
                    .collect(),
            }],
            error: String::new(),
            no_results: false,
            last_result_time: None,
            platform: String::new(),
            kube_bench_version: String::new(),
            benchmarker_version: String::new(),
            benchmark_choice: String::new(),
        }
    }

    pub fn no_results(name: &str) -> CisBenchmarkNode {
        let mut n = node(name, &[]);
        n.no_results = true;
        n.summary.status = Rating::Low;
        n
    }

    pub fn reference(id: &str, end: &str) -> ReportRef {
        let end = time::parse(end).unwrap();
        ReportRef {
            id: id.into(),
            report_name: "daily".into(),
            start_time: end - chrono::Duration::days(1),
            end_time: end,
            generation_time: end,
        }
    }

    pub fn findings(id: &str, end: &str, nodes: &[CisBenchmarkNode]) -> ReportFindings {
        let mut b = FindingsBuilder::new(reference(id, end), NotObservedAs::Info);
        for n in nodes {
            b.add_node(n);
        }
        b.finish()
    }

    use TestStatus::{Fail, NotObserved, Pass};

    #[test]
    fn nodes_are_sorted_by_name_and_failures_by_node_then_dotted_test_number() {
        let f = findings(
            "r",
            "2026-11-26T00:00:00Z",
            &[
                node("b", &[("1.2.10", Fail, None), ("1.2.9", Fail, None)]),
                node("a", &[("1.1.1", Pass, None), ("4.1", Fail, Some("w"))]),
            ],
        );
        let names: Vec<&str> = f.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let fails: Vec<(u32, &str, Option<&str>)> = f
            .failures
            .iter()
            .map(|x| (x.node, x.test_number(), x.waiver.as_deref()))
            .collect();
        assert_eq!(
            fails,
            [
                (0, "4.1", Some("w")),
                (1, "1.2.9", None),
                (1, "1.2.10", None)
            ]
        );
        assert_eq!(f.failures_of(1).len(), 2);
        assert_eq!(f.node_index("b"), Some(1));
        assert_eq!(f.node_index("c"), None);
    }

    #[test]
    fn a_node_that_errored_or_has_no_results_is_not_assessed() {
        let mut errored = node("e", &[]);
        errored.error = "kubelet not found".into();
        let f = findings(
            "r",
            "2026-11-26T00:00:00Z",
            &[
                errored,
                no_results("n"),
                node("empty", &[]),
                node("ok", &[("1", Pass, None)]),
            ],
        );
        let assessed: Vec<(&str, bool)> = f
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.assessed))
            .collect();
        assert_eq!(
            assessed,
            [("e", false), ("empty", false), ("n", false), ("ok", true)]
        );
    }

    #[test]
    fn not_observed_is_a_failure_only_when_the_report_counted_it_as_one() {
        let nodes = [node(
            "a",
            &[("1.1", NotObserved, None), ("1.2", Fail, None)],
        )];
        let info = findings("r", "2026-11-26T00:00:00Z", &nodes);
        assert_eq!(info.failures.len(), 1);
        let mut b =
            FindingsBuilder::new(reference("r", "2026-11-26T00:00:00Z"), NotObservedAs::Fail);
        b.add_node(&nodes[0]);
        assert_eq!(b.finish().failures.len(), 2);
    }

    #[test]
    fn equal_texts_of_different_nodes_are_shared() {
        let f = findings(
            "r",
            "2026-11-26T00:00:00Z",
            &[
                node("a", &[("1.1", Fail, None)]),
                node("b", &[("1.1", Fail, None)]),
            ],
        );
        assert!(Arc::ptr_eq(&f.failures[0].text, &f.failures[1].text));
    }

    #[test]
    fn a_duplicate_node_name_keeps_the_first() {
        let f = findings(
            "r",
            "2026-11-26T00:00:00Z",
            &[
                node("a", &[("1.1", Fail, None)]),
                node("a", &[("1.2", Fail, None)]),
            ],
        );
        assert_eq!(f.nodes.len(), 1);
        assert_eq!(f.failures.len(), 1);
        assert_eq!(f.failures[0].test_number(), "1.1");
    }

    #[test]
    fn the_status_without_waivers_defaults_to_the_status() {
        let mut n = node("a", &[("1.1", Fail, Some("w"))]);
        n.summary.status_without_waivers = Some(Rating::Low);
        n.summary.status = Rating::High;
        let f = findings("r", "2026-11-26T00:00:00Z", &[n, node("b", &[])]);
        assert_eq!(f.nodes[0].status_without_waivers, Rating::Low);
        assert_eq!(f.nodes[1].status_without_waivers, f.nodes[1].status);
    }
}
