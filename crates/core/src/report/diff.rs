//! What changed between two reports of one GlobalReport: which failures are new, which
//! persist, which were fixed, and which nodes came, went or changed rating.
//!
//! Computed from two [`ReportFindings`] by one merge over their sorted nodes and, per
//! node, over its sorted failures: linear in the size of both reports, no hashing of node
//! names, one small set of the test numbers that failed anywhere before.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::findings::{Failure, NodeState, ReportFindings, ReportRef, cmp_failure};
use crate::model::Rating;

/// What became of one (node, test) failure between the old and the new report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Change {
    /// Fails now; the node was assessed before and the test did not fail there, or the
    /// node was not assessed before and no assessed node failed the test before.
    #[serde(rename = "new")]
    New,
    /// Fails in both reports.
    #[serde(rename = "persisting")]
    Persisting,
    /// Failed before; the node is assessed now and the test does not fail.
    #[serde(rename = "resolved")]
    Resolved,
    /// Fails now on a node not assessed before (added, or without results), and the test
    /// already failed on another node before: a known failure spreading.
    #[serde(rename = "newNode")]
    NewNode,
    /// Failed before on a node not assessed now (removed, or without results): unknown,
    /// not fixed.
    #[serde(rename = "gone")]
    Gone,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Persisting => "persisting",
            Change::Resolved => "resolved",
            Change::NewNode => "newNode",
            Change::Gone => "gone",
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failure of either report and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingChange {
    pub node: String,
    #[serde(rename = "testNumber")]
    pub test_number: String,
    pub section: String,
    #[serde(rename = "testDesc")]
    pub test_desc: String,
    pub change: Change,
    /// The waiver that accepted the failure in the old report (none when it did not fail
    /// there or nothing accepted it).
    #[serde(rename = "oldWaiver", default, skip_serializing_if = "Option::is_none")]
    pub old_waiver: Option<String>,
    /// Likewise in the new report.
    #[serde(rename = "newWaiver", default, skip_serializing_if = "Option::is_none")]
    pub new_waiver: Option<String>,
}

/// How a node changed between the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeChangeKind {
    /// In the new report only.
    #[serde(rename = "added")]
    Added,
    /// In the old report only.
    #[serde(rename = "removed")]
    Removed,
    /// In both, assessed in both or in neither, with another rating (with or without
    /// waivers).
    #[serde(rename = "rerated")]
    Rerated,
    /// In both, assessed before, not now (its run failed, or it has no results).
    #[serde(rename = "noLongerAssessed")]
    NoLongerAssessed,
    /// In both, not assessed before, assessed now.
    #[serde(rename = "assessedAgain")]
    AssessedAgain,
}

impl NodeChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeChangeKind::Added => "added",
            NodeChangeKind::Removed => "removed",
            NodeChangeKind::Rerated => "rerated",
            NodeChangeKind::NoLongerAssessed => "noLongerAssessed",
            NodeChangeKind::AssessedAgain => "assessedAgain",
        }
    }
}

impl fmt::Display for NodeChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node that was added or removed, whose assessed-ness changed, or whose rating (with
/// or without waivers) changed. The old values are `None` for an added node, the new ones
/// for a removed node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeChange {
    pub node: String,
    pub kind: NodeChangeKind,
    #[serde(rename = "oldStatus")]
    pub old_status: Option<Rating>,
    #[serde(rename = "newStatus")]
    pub new_status: Option<Rating>,
    #[serde(rename = "oldStatusWithoutWaivers")]
    pub old_status_without_waivers: Option<Rating>,
    #[serde(rename = "newStatusWithoutWaivers")]
    pub new_status_without_waivers: Option<Rating>,
}

/// The numbers of a diff, for a summary line and the CI gate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffCounts {
    pub new: u64,
    pub persisting: u64,
    pub resolved: u64,
    #[serde(rename = "newNode")]
    pub new_node: u64,
    pub gone: u64,
    #[serde(rename = "nodesAdded")]
    pub nodes_added: u64,
    #[serde(rename = "nodesRemoved")]
    pub nodes_removed: u64,
    /// Nodes in both reports whose rating (with waivers) got worse: HIGH → MED → LOW.
    #[serde(rename = "ratingDrops")]
    pub rating_drops: u64,
    /// Nodes in both reports whose rating (with waivers) got better.
    #[serde(rename = "ratingRises")]
    pub rating_rises: u64,
    /// New failures no waiver in the new report accepts: what `--fail-on new` counts.
    /// A failure on an added node that failed elsewhere before (`newNode`) is not new.
    #[serde(rename = "newUnwaived")]
    pub new_unwaived: u64,
}

/// Everything that changed from `old` to `new`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportDiff {
    pub old: ReportRef,
    pub new: ReportRef,
    pub counts: DiffCounts,
    /// Every failure of either report, `persisting` ones included, sorted by node, then
    /// test number (dotted order).
    pub findings: Vec<FindingChange>,
    /// Sorted by node.
    pub nodes: Vec<NodeChange>,
}

/// Compares two reports' findings. Which is older is the caller's business: the diff says
/// what changed from `old` to `new`.
pub fn diff(old: &ReportFindings, new: &ReportFindings) -> ReportDiff {
    let failed_before: HashSet<&str> = old.failures.iter().map(Failure::test_number).collect();
    let mut out = Out {
        counts: DiffCounts::default(),
        findings: Vec::new(),
        nodes: Vec::new(),
    };
    let (mut i, mut j) = (0usize, 0usize);
    // Failures are grouped by node in node order: walk them alongside.
    let (mut fo, mut fnew) = (0usize, 0usize);
    loop {
        let o = old.nodes.get(i);
        let n = new.nodes.get(j);
        let order = match (o, n) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(o), Some(n)) => o.name.cmp(&n.name),
        };
        match order {
            Ordering::Less => {
                let o = o.expect("present");
                let (a, b) = take(&old.failures, &mut fo, i);
                out.removed(o, &old.failures[a..b]);
                i += 1;
            }
            Ordering::Greater => {
                let n = n.expect("present");
                let (a, b) = take(&new.failures, &mut fnew, j);
                out.added(n, &new.failures[a..b], &failed_before);
                j += 1;
            }
            Ordering::Equal => {
                let (o, n) = (o.expect("present"), n.expect("present"));
                let (a, b) = take(&old.failures, &mut fo, i);
                let (c, d) = take(&new.failures, &mut fnew, j);
                out.both(
                    o,
                    n,
                    &old.failures[a..b],
                    &new.failures[c..d],
                    &failed_before,
                );
                i += 1;
                j += 1;
            }
        }
    }
    ReportDiff {
        old: old.report.clone(),
        new: new.report.clone(),
        counts: out.counts,
        findings: out.findings,
        nodes: out.nodes,
    }
}

/// The bounds of the failures of node `node`, which start at `*at`; moves `*at` past them.
fn take(failures: &[Failure], at: &mut usize, node: usize) -> (usize, usize) {
    let start = *at;
    while *at < failures.len() && failures[*at].node as usize == node {
        *at += 1;
    }
    (start, *at)
}

struct Out {
    counts: DiffCounts,
    findings: Vec<FindingChange>,
    nodes: Vec<NodeChange>,
}

fn waiver(f: Option<&Failure>) -> Option<String> {
    f.and_then(|f| f.waiver.as_deref()).map(str::to_string)
}

impl Out {
    fn finding(
        &mut self,
        node: &str,
        old: Option<&Failure>,
        new: Option<&Failure>,
        change: Change,
    ) {
        let text = &new.or(old).expect("a failure on one side").text;
        match change {
            Change::New => {
                self.counts.new += 1;
                if new.is_some_and(|f| f.waiver.is_none()) {
                    self.counts.new_unwaived += 1;
                }
            }
            Change::Persisting => self.counts.persisting += 1,
            Change::Resolved => self.counts.resolved += 1,
            Change::NewNode => self.counts.new_node += 1,
            Change::Gone => self.counts.gone += 1,
        }
        self.findings.push(FindingChange {
            node: node.to_string(),
            test_number: text.test_number.clone(),
            section: text.section.clone(),
            test_desc: text.test_desc.clone(),
            change,
            old_waiver: waiver(old),
            new_waiver: waiver(new),
        });
    }

    /// Failures on a node not assessed before (absent or without results).
    fn arrived(&mut self, node: &str, failures: &[Failure], failed_before: &HashSet<&str>) {
        for f in failures {
            let change = if failed_before.contains(f.test_number()) {
                Change::NewNode
            } else {
                Change::New
            };
            self.finding(node, None, Some(f), change);
        }
    }

    /// Failures on a node not assessed now (absent or without results).
    fn departed(&mut self, node: &str, failures: &[Failure]) {
        for f in failures {
            self.finding(node, Some(f), None, Change::Gone);
        }
    }

    fn removed(&mut self, o: &NodeState, failures: &[Failure]) {
        self.counts.nodes_removed += 1;
        self.nodes.push(NodeChange {
            node: o.name.clone(),
            kind: NodeChangeKind::Removed,
            old_status: Some(o.status),
            new_status: None,
            old_status_without_waivers: Some(o.status_without_waivers),
            new_status_without_waivers: None,
        });
        self.departed(&o.name, failures);
    }

    fn added(&mut self, n: &NodeState, failures: &[Failure], failed_before: &HashSet<&str>) {
        self.counts.nodes_added += 1;
        self.nodes.push(NodeChange {
            node: n.name.clone(),
            kind: NodeChangeKind::Added,
            old_status: None,
            new_status: Some(n.status),
            old_status_without_waivers: None,
            new_status_without_waivers: Some(n.status_without_waivers),
        });
        self.arrived(&n.name, failures, failed_before);
    }

    fn both(
        &mut self,
        o: &NodeState,
        n: &NodeState,
        old: &[Failure],
        new: &[Failure],
        failed_before: &HashSet<&str>,
    ) {
        // Rating::High < Med < Low: a greater rating is a worse one.
        match n.status.cmp(&o.status) {
            Ordering::Greater => self.counts.rating_drops += 1,
            Ordering::Less => self.counts.rating_rises += 1,
            Ordering::Equal => {}
        }
        let kind = match (o.assessed, n.assessed) {
            (true, false) => Some(NodeChangeKind::NoLongerAssessed),
            (false, true) => Some(NodeChangeKind::AssessedAgain),
            _ if o.status != n.status || o.status_without_waivers != n.status_without_waivers => {
                Some(NodeChangeKind::Rerated)
            }
            _ => None,
        };
        if let Some(kind) = kind {
            self.nodes.push(NodeChange {
                node: n.name.clone(),
                kind,
                old_status: Some(o.status),
                new_status: Some(n.status),
                old_status_without_waivers: Some(o.status_without_waivers),
                new_status_without_waivers: Some(n.status_without_waivers),
            });
        }
        match (o.assessed, n.assessed) {
            (true, true) => self.merge(&n.name, old, new),
            (false, true) => self.arrived(&n.name, new, failed_before),
            (true, false) => self.departed(&n.name, old),
            (false, false) => {}
        }
    }

    /// The failures of a node assessed in both reports, both sorted by test number.
    fn merge(&mut self, node: &str, old: &[Failure], new: &[Failure]) {
        let (mut a, mut b) = (0, 0);
        while a < old.len() || b < new.len() {
            let order = match (old.get(a), new.get(b)) {
                (Some(x), Some(y)) => cmp_failure(x, y),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match order {
                Ordering::Less => {
                    self.finding(node, Some(&old[a]), None, Change::Resolved);
                    a += 1;
                }
                Ordering::Greater => {
                    self.finding(node, None, Some(&new[b]), Change::New);
                    b += 1;
                }
                Ordering::Equal => {
                    self.finding(node, Some(&old[a]), Some(&new[b]), Change::Persisting);
                    a += 1;
                    b += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TestStatus::{Fail, Pass};
    use crate::report::findings::tests::{findings, no_results, node};

    const OLD: &str = "2026-11-25T00:00:00Z";
    const NEW: &str = "2026-11-26T00:00:00Z";

    fn changes(d: &ReportDiff) -> Vec<(&str, &str, Change)> {
        d.findings
            .iter()
            .map(|f| (f.node.as_str(), f.test_number.as_str(), f.change))
            .collect()
    }

    #[test]
    fn a_test_failing_now_that_passed_before_on_the_same_node_is_new() {
        let old = findings("o", OLD, &[node("a", &[("1.1", Pass, None)])]);
        let new = findings("n", NEW, &[node("a", &[("1.1", Fail, None)])]);
        let d = diff(&old, &new);
        assert_eq!(changes(&d), [("a", "1.1", Change::New)]);
        assert_eq!((d.counts.new, d.counts.new_unwaived), (1, 1));
    }

    #[test]
    fn a_test_failing_in_both_persists_and_one_fixed_is_resolved() {
        let old = findings(
            "o",
            OLD,
            &[node("a", &[("1.2.9", Fail, None), ("1.2.10", Fail, None)])],
        );
        let new = findings(
            "n",
            NEW,
            &[node("a", &[("1.2.9", Pass, None), ("1.2.10", Fail, None)])],
        );
        let d = diff(&old, &new);
        assert_eq!(
            changes(&d),
            [
                ("a", "1.2.9", Change::Resolved),
                ("a", "1.2.10", Change::Persisting)
            ]
        );
        assert_eq!((d.counts.resolved, d.counts.persisting), (1, 1));
    }

    #[test]
    fn a_test_absent_from_the_new_report_of_an_assessed_node_is_resolved() {
        let old = findings("o", OLD, &[node("a", &[("1.1", Fail, None)])]);
        let new = findings("n", NEW, &[node("a", &[("1.2", Pass, None)])]);
        assert_eq!(changes(&diff(&old, &new)), [("a", "1.1", Change::Resolved)]);
    }

    #[test]
    fn a_failure_on_an_added_node_that_failed_elsewhere_is_new_node() {
        let old = findings("o", OLD, &[node("a", &[("1.1", Fail, None)])]);
        let new = findings(
            "n",
            NEW,
            &[
                node("a", &[("1.1", Fail, None)]),
                node("b", &[("1.1", Fail, None), ("1.2", Fail, None)]),
            ],
        );
        let d = diff(&old, &new);
        assert_eq!(
            changes(&d),
            [
                ("a", "1.1", Change::Persisting),
                ("b", "1.1", Change::NewNode),
                ("b", "1.2", Change::New)
            ]
        );
        assert_eq!(d.counts.nodes_added, 1);
        assert_eq!(d.nodes[0].kind, NodeChangeKind::Added);
        assert_eq!(d.nodes[0].old_status, None);
        assert_eq!(d.nodes[0].new_status, Some(Rating::Low));
    }

    #[test]
    fn a_failure_on_a_node_without_results_before_is_judged_like_an_added_node() {
        let old = findings(
            "o",
            OLD,
            &[no_results("a"), node("b", &[("1.1", Fail, None)])],
        );
        let new = findings(
            "n",
            NEW,
            &[
                node("a", &[("1.1", Fail, None), ("1.3", Fail, None)]),
                node("b", &[("1.1", Fail, None)]),
            ],
        );
        let d = diff(&old, &new);
        assert_eq!(
            changes(&d),
            [
                ("a", "1.1", Change::NewNode),
                ("a", "1.3", Change::New),
                ("b", "1.1", Change::Persisting)
            ]
        );
        assert_eq!(d.nodes[0].kind, NodeChangeKind::AssessedAgain);
        assert_eq!(d.counts.nodes_added, 0);
    }

    #[test]
    fn failures_of_a_removed_or_unassessed_node_are_gone_not_resolved() {
        let old = findings(
            "o",
            OLD,
            &[
                node("a", &[("1.1", Fail, None)]),
                node("b", &[("1.2", Fail, None)]),
            ],
        );
        let mut errored = node("b", &[]);
        errored.error = "kubelet not found".into();
        let new = findings("n", NEW, &[errored]);
        let d = diff(&old, &new);
        assert_eq!(
            changes(&d),
            [("a", "1.1", Change::Gone), ("b", "1.2", Change::Gone)]
        );
        let kinds: Vec<NodeChangeKind> = d.nodes.iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds,
            [NodeChangeKind::Removed, NodeChangeKind::NoLongerAssessed]
        );
        assert_eq!((d.counts.gone, d.counts.nodes_removed), (2, 1));
    }

    #[test]
    fn a_waived_new_failure_is_new_but_does_not_count_for_the_gate() {
        let old = findings("o", OLD, &[node("a", &[("1.1", Pass, None)])]);
        let new = findings("n", NEW, &[node("a", &[("1.1", Fail, Some("accepted"))])]);
        let d = diff(&old, &new);
        assert_eq!((d.counts.new, d.counts.new_unwaived), (1, 0));
        assert_eq!(d.findings[0].new_waiver.as_deref(), Some("accepted"));
        assert_eq!(d.findings[0].old_waiver, None);
    }

    #[test]
    fn a_waiver_that_expired_shows_on_the_persisting_failure() {
        let old = findings("o", OLD, &[node("a", &[("1.1", Fail, Some("w"))])]);
        let new = findings("n", NEW, &[node("a", &[("1.1", Fail, None)])]);
        let d = diff(&old, &new);
        assert_eq!(d.findings[0].change, Change::Persisting);
        assert_eq!(d.findings[0].old_waiver.as_deref(), Some("w"));
        assert_eq!(d.findings[0].new_waiver, None);
    }

    #[test]
    fn a_node_is_listed_when_either_rating_changes_and_drops_and_rises_are_counted() {
        let old = findings(
            "o",
            OLD,
            &[
                node("a", &[("1.1", Pass, None)]),
                node("b", &[("1.1", Fail, None)]),
                node("c", &[("1.1", Pass, None)]),
            ],
        );
        let mut c = node("c", &[("1.1", Fail, Some("w"))]);
        c.summary.status_without_waivers = Some(Rating::Low);
        let new = findings(
            "n",
            NEW,
            &[
                node("a", &[("1.1", Fail, None)]),
                node("b", &[("1.1", Pass, None)]),
                c,
            ],
        );
        let d = diff(&old, &new);
        let nodes: Vec<(&str, NodeChangeKind, Option<Rating>, Option<Rating>)> = d
            .nodes
            .iter()
            .map(|n| (n.node.as_str(), n.kind, n.old_status, n.new_status))
            .collect();
        assert_eq!(
            nodes,
            [
                (
                    "a",
                    NodeChangeKind::Rerated,
                    Some(Rating::High),
                    Some(Rating::Low)
                ),
                (
                    "b",
                    NodeChangeKind::Rerated,
                    Some(Rating::Low),
                    Some(Rating::High)
                ),
                (
                    "c",
                    NodeChangeKind::Rerated,
                    Some(Rating::High),
                    Some(Rating::High)
                ),
            ]
        );
        assert_eq!(d.nodes[2].new_status_without_waivers, Some(Rating::Low));
        assert_eq!((d.counts.rating_drops, d.counts.rating_rises), (1, 1));
    }

    #[test]
    fn an_unchanged_report_has_only_persisting_failures_and_no_node_changes() {
        let nodes = [node("a", &[("1.1", Fail, None)]), no_results("b")];
        let d = diff(&findings("o", OLD, &nodes), &findings("n", NEW, &nodes));
        assert_eq!(changes(&d), [("a", "1.1", Change::Persisting)]);
        assert!(d.nodes.is_empty());
    }

    #[test]
    fn the_json_uses_the_contract_keys() {
        let old = findings(
            "o",
            OLD,
            &[
                node("a", &[("1.1", Pass, None)]),
                node("b", &[("1.1", Pass, None)]),
            ],
        );
        let new = findings("n", NEW, &[node("a", &[("1.1", Fail, Some("w"))])]);
        let v = serde_json::to_value(diff(&old, &new)).unwrap();
        assert_eq!(v["old"]["endTime"], "2026-11-25T00:00:00Z");
        assert_eq!(v["counts"]["newUnwaived"], 0);
        assert_eq!(
            v["findings"][0],
            serde_json::json!({"node": "a", "testNumber": "1.1", "section": "1",
                "testDesc": "Ensure 1.1", "change": "new", "newWaiver": "w"})
        );
        assert_eq!(
            v["nodes"][0],
            serde_json::json!({"node": "b", "kind": "removed", "oldStatus": "HIGH",
                "newStatus": null, "oldStatusWithoutWaivers": "HIGH",
                "newStatusWithoutWaivers": null})
        );
    }
}
