//! The history of each finding (node × test) over a GlobalReport's reports: when it first
//! failed, since when it fails, when it was resolved, how often it came back.
//!
//! [`Lifecycle`] folds [`ReportFindings`] one report at a time, oldest first, so thirty
//! 10,000-node reports are read one after the other and only the per-finding state is
//! kept: a few dozen bytes per (node, test) that ever failed. Test numbers are numbered
//! once (`u32`); within one report, a test text is recognised by its pointer, so the hot
//! loop hashes no strings but node names.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::findings::{ReportFindings, ReportRef};
use crate::model::TestText;
use crate::order::cmp_dotted;
use crate::time;

/// Where a finding stands in the latest report observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FindingState {
    /// It failed in the latest report that assessed its node.
    #[serde(rename = "failing")]
    Failing,
    /// It failed before, and the latest report that assessed its node did not fail it.
    #[serde(rename = "resolved")]
    Resolved,
    /// Its node is not assessed in the latest report (absent, errored or without
    /// results); the other fields keep what the reports before said.
    #[serde(rename = "unknown")]
    Unknown,
}

impl FindingState {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingState::Failing => "failing",
            FindingState::Resolved => "resolved",
            FindingState::Unknown => "unknown",
        }
    }
}

impl fmt::Display for FindingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The history of one (node, test) that failed at least once.
///
/// Times are the `endTime` of the reports concerned. A report in which the node is not
/// assessed changes nothing: a streak of failures is not broken by it, and a resolution
/// is not undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingLifecycle {
    pub node: String,
    #[serde(rename = "testNumber")]
    pub test_number: String,
    pub section: String,
    #[serde(rename = "testDesc")]
    pub test_desc: String,
    pub state: FindingState,
    /// The first report in which it failed.
    #[serde(rename = "firstFailed", with = "time::seconds")]
    pub first_failed: DateTime<Utc>,
    #[serde(rename = "firstFailedReport")]
    pub first_failed_report: String,
    /// The first report of the current streak of failures: set while it fails (also
    /// while its state is `unknown` after failing).
    #[serde(
        rename = "failingSince",
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::optional_seconds"
    )]
    pub failing_since: Option<DateTime<Utc>>,
    /// The report in which it last stopped failing: set while it is resolved (also while
    /// its state is `unknown` after being resolved).
    #[serde(
        rename = "resolvedAt",
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::optional_seconds"
    )]
    pub resolved_at: Option<DateTime<Utc>>,
    /// The last report in which it failed.
    #[serde(rename = "lastFailed", with = "time::seconds")]
    pub last_failed: DateTime<Utc>,
    /// Times it failed again after being resolved.
    pub reopened: u32,
    /// Reports in which it failed.
    #[serde(rename = "reportsFailing")]
    pub reports_failing: u32,
    /// The waiver that accepted it in the last report in which it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<String>,
}

/// Why a report could not be added to a [`Lifecycle`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error(
        "report {id} (endTime {end}) is not newer than report {last_id} (endTime {last_end}): \
         reports must be observed in ascending endTime"
    )]
    OutOfOrder {
        id: String,
        end: String,
        last_id: String,
        last_end: String,
    },
}

/// One finding's state between reports.
#[derive(Debug, Clone)]
struct Entry {
    test: u32,
    /// The text of the last report in which it failed.
    text: Arc<TestText>,
    failing: bool,
    first_failed: u32,
    streak_start: u32,
    resolved_at: Option<u32>,
    last_failed: u32,
    reopened: u32,
    reports_failing: u32,
    waiver: Option<Arc<str>>,
}

#[derive(Debug)]
struct NodeHistory {
    name: Box<str>,
    /// Sorted by test id.
    entries: Vec<Entry>,
    /// Not assessed in the latest report observed.
    unknown: bool,
}

/// The lifecycle of every finding over a sequence of reports of one GlobalReport.
#[derive(Debug, Default)]
pub struct Lifecycle {
    reports: Vec<ReportRef>,
    node_ids: HashMap<Box<str>, u32>,
    nodes: Vec<NodeHistory>,
    test_ids: HashMap<Box<str>, u32>,
}

impl Lifecycle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds in the next report. Reports must come in ascending endTime; one not newer
    /// than the last observed is refused and changes nothing.
    pub fn observe(&mut self, r: &ReportFindings) -> Result<(), LifecycleError> {
        if let Some(last) = self.reports.last()
            && r.report.end_time <= last.end_time
        {
            return Err(LifecycleError::OutOfOrder {
                id: r.report.id.clone(),
                end: time::format(&r.report.end_time),
                last_id: last.id.clone(),
                last_end: time::format(&last.end_time),
            });
        }
        let k = self.reports.len() as u32;
        self.reports.push(r.report.clone());
        for n in &mut self.nodes {
            n.unknown = true;
        }
        // Test ids of this report's texts, by pointer: the report shares one text per test.
        let mut by_ptr: HashMap<*const TestText, u32> = HashMap::new();
        let mut failing: Vec<(u32, usize)> = Vec::new();
        let mut at = 0usize;
        for (i, state) in r.nodes.iter().enumerate() {
            let start = at;
            while at < r.failures.len() && r.failures[at].node as usize == i {
                at += 1;
            }
            let id = match self.node_ids.get(state.name.as_str()) {
                Some(&id) => id,
                None => {
                    let id = self.nodes.len() as u32;
                    self.node_ids.insert(state.name.as_str().into(), id);
                    self.nodes.push(NodeHistory {
                        name: state.name.as_str().into(),
                        entries: Vec::new(),
                        unknown: true,
                    });
                    id
                }
            };
            if !state.assessed {
                continue;
            }
            failing.clear();
            for (j, f) in r.failures[start..at].iter().enumerate() {
                let ptr = Arc::as_ptr(&f.text);
                let test = match by_ptr.get(&ptr) {
                    Some(&t) => t,
                    None => {
                        let next = self.test_ids.len() as u32;
                        let t = *self
                            .test_ids
                            .entry(f.text.test_number.as_str().into())
                            .or_insert(next);
                        by_ptr.insert(ptr, t);
                        t
                    }
                };
                failing.push((test, start + j));
            }
            failing.sort_unstable();
            let node = &mut self.nodes[id as usize];
            node.unknown = false;
            let mut added = false;
            let mut e = 0usize;
            let old_len = node.entries.len();
            let mut fi = 0usize;
            while e < old_len || fi < failing.len() {
                let order = match (node.entries.get(e).filter(|_| e < old_len), failing.get(fi)) {
                    (Some(x), Some(&(t, _))) => x.test.cmp(&t),
                    (Some(_), None) => Ordering::Less,
                    _ => Ordering::Greater,
                };
                match order {
                    Ordering::Less => {
                        let x = &mut node.entries[e];
                        if x.failing {
                            x.failing = false;
                            x.resolved_at = Some(k);
                        }
                        e += 1;
                    }
                    Ordering::Equal => {
                        let f = &r.failures[failing[fi].1];
                        let x = &mut node.entries[e];
                        if !x.failing {
                            x.failing = true;
                            x.reopened += 1;
                            x.streak_start = k;
                        }
                        x.last_failed = k;
                        x.reports_failing += 1;
                        x.waiver.clone_from(&f.waiver);
                        if !Arc::ptr_eq(&x.text, &f.text) {
                            x.text = f.text.clone();
                        }
                        e += 1;
                        fi += 1;
                    }
                    Ordering::Greater => {
                        let (test, index) = failing[fi];
                        let f = &r.failures[index];
                        node.entries.push(Entry {
                            test,
                            text: f.text.clone(),
                            failing: true,
                            first_failed: k,
                            streak_start: k,
                            resolved_at: None,
                            last_failed: k,
                            reopened: 0,
                            reports_failing: 1,
                            waiver: f.waiver.clone(),
                        });
                        added = true;
                        fi += 1;
                    }
                }
            }
            if added {
                node.entries.sort_unstable_by_key(|x| x.test);
            }
        }
        Ok(())
    }

    /// The reports observed, oldest first.
    pub fn reports(&self) -> &[ReportRef] {
        &self.reports
    }

    /// Every finding that ever failed, sorted by node, then test number (dotted order).
    pub fn findings(&self) -> Vec<FindingLifecycle> {
        let mut order: Vec<&NodeHistory> = self.nodes.iter().collect();
        order.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        order.into_iter().flat_map(|n| self.of_node(n)).collect()
    }

    /// The findings of the node called `node` (none when it never failed anything).
    pub fn for_node(&self, node: &str) -> Vec<FindingLifecycle> {
        self.node_ids
            .get(node)
            .map(|&id| self.of_node(&self.nodes[id as usize]))
            .unwrap_or_default()
    }

    /// The findings of test `test_number` on every node, sorted by node.
    pub fn for_test(&self, test_number: &str) -> Vec<FindingLifecycle> {
        let Some(&test) = self.test_ids.get(test_number) else {
            return Vec::new();
        };
        let mut order: Vec<&NodeHistory> = self.nodes.iter().collect();
        order.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        order
            .into_iter()
            .filter_map(|n| {
                let i = n.entries.binary_search_by_key(&test, |x| x.test).ok()?;
                Some(self.finding(n, &n.entries[i]))
            })
            .collect()
    }

    fn of_node(&self, n: &NodeHistory) -> Vec<FindingLifecycle> {
        let mut out: Vec<FindingLifecycle> = n.entries.iter().map(|x| self.finding(n, x)).collect();
        out.sort_by(|a, b| cmp_dotted(&a.test_number, &b.test_number));
        out
    }

    fn finding(&self, n: &NodeHistory, x: &Entry) -> FindingLifecycle {
        let end = |k: u32| self.reports[k as usize].end_time;
        let state = match (n.unknown, x.failing) {
            (true, _) => FindingState::Unknown,
            (false, true) => FindingState::Failing,
            (false, false) => FindingState::Resolved,
        };
        FindingLifecycle {
            node: n.name.to_string(),
            test_number: x.text.test_number.clone(),
            section: x.text.section.clone(),
            test_desc: x.text.test_desc.clone(),
            state,
            first_failed: end(x.first_failed),
            first_failed_report: self.reports[x.first_failed as usize].id.clone(),
            failing_since: x.failing.then(|| end(x.streak_start)),
            resolved_at: if x.failing {
                None
            } else {
                x.resolved_at.map(end)
            },
            last_failed: end(x.last_failed),
            reopened: x.reopened,
            reports_failing: x.reports_failing,
            waiver: x.waiver.as_deref().map(str::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CisBenchmarkNode;
    use crate::model::TestStatus::{Fail, Pass};
    use crate::report::findings::tests::{findings, no_results, node};

    fn day(d: u32) -> String {
        format!("2026-11-{d:02}T00:00:00Z")
    }

    fn fold(days: &[Vec<CisBenchmarkNode>]) -> Lifecycle {
        let mut l = Lifecycle::new();
        for (i, nodes) in days.iter().enumerate() {
            let d = i as u32 + 1;
            l.observe(&findings(&format!("r{d}"), &day(d), nodes))
                .unwrap();
        }
        l
    }

    fn at(d: u32) -> DateTime<Utc> {
        time::parse(&day(d)).unwrap()
    }

    #[test]
    fn a_failure_that_appears_persists_is_fixed_and_comes_back_is_reopened_once() {
        let fail = || vec![node("a", &[("1.1", Fail, None)])];
        let pass = || vec![node("a", &[("1.1", Pass, None)])];
        let l = fold(&[pass(), fail(), fail(), pass(), fail()]);
        let f = &l.findings()[0];
        assert_eq!(f.state, FindingState::Failing);
        assert_eq!(f.first_failed, at(2));
        assert_eq!(f.first_failed_report, "r2");
        assert_eq!(f.failing_since, Some(at(5)));
        assert_eq!(f.resolved_at, None);
        assert_eq!(f.last_failed, at(5));
        assert_eq!((f.reopened, f.reports_failing), (1, 3));
    }

    #[test]
    fn a_fixed_failure_is_resolved_at_the_report_that_stopped_it() {
        let l = fold(&[
            vec![node("a", &[("1.1", Fail, None)])],
            vec![node("a", &[("1.1", Pass, None)])],
            vec![node("a", &[("1.1", Pass, None)])],
        ]);
        let f = &l.findings()[0];
        assert_eq!(f.state, FindingState::Resolved);
        assert_eq!(f.resolved_at, Some(at(2)));
        assert_eq!(f.failing_since, None);
        assert_eq!(f.last_failed, at(1));
    }

    #[test]
    fn a_report_without_the_node_neither_breaks_a_streak_nor_resolves() {
        let l = fold(&[
            vec![node("a", &[("1.1", Fail, None)])],
            vec![no_results("a")],
            vec![],
        ]);
        let f = &l.findings()[0];
        assert_eq!(f.state, FindingState::Unknown);
        assert_eq!(f.failing_since, Some(at(1)));
        // Back, still failing: the streak started on day 1, nothing reopened.
        let l = fold(&[
            vec![node("a", &[("1.1", Fail, None)])],
            vec![no_results("a")],
            vec![node("a", &[("1.1", Fail, None)])],
        ]);
        let f = &l.findings()[0];
        assert_eq!(f.state, FindingState::Failing);
        assert_eq!(f.failing_since, Some(at(1)));
        assert_eq!((f.reopened, f.reports_failing), (0, 2));
    }

    #[test]
    fn the_waiver_is_the_one_of_the_last_report_that_failed_it() {
        let l = fold(&[
            vec![node("a", &[("1.1", Fail, None)])],
            vec![node("a", &[("1.1", Fail, Some("w"))])],
            vec![node("a", &[("1.1", Pass, None)])],
        ]);
        assert_eq!(l.findings()[0].waiver.as_deref(), Some("w"));
    }

    #[test]
    fn findings_are_sorted_by_node_then_dotted_test_and_filter_by_node_or_test() {
        let l = fold(&[vec![
            node("b", &[("1.2.10", Fail, None), ("1.2.9", Fail, None)]),
            node("a", &[("1.2.10", Fail, None)]),
            node("c", &[("1.1", Pass, None)]),
        ]]);
        let all: Vec<(String, String)> = l
            .findings()
            .into_iter()
            .map(|f| (f.node, f.test_number))
            .collect();
        let pairs: Vec<(&str, &str)> = all.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(pairs, [("a", "1.2.10"), ("b", "1.2.9"), ("b", "1.2.10")]);
        assert_eq!(l.for_node("b").len(), 2);
        assert!(l.for_node("c").is_empty());
        assert!(l.for_node("zz").is_empty());
        let nodes: Vec<String> = l.for_test("1.2.10").into_iter().map(|f| f.node).collect();
        assert_eq!(nodes, ["a", "b"]);
        assert!(l.for_test("9.9").is_empty());
    }

    #[test]
    fn an_older_or_equal_report_is_refused_and_changes_nothing() {
        let mut l = Lifecycle::new();
        l.observe(&findings(
            "r2",
            &day(2),
            &[node("a", &[("1.1", Fail, None)])],
        ))
        .unwrap();
        for d in [1, 2] {
            let e = l
                .observe(&findings(
                    "old",
                    &day(d),
                    &[node("a", &[("1.1", Pass, None)])],
                ))
                .unwrap_err();
            assert!(e.to_string().contains("report old"), "{e}");
            assert!(e.to_string().contains("ascending endTime"), "{e}");
        }
        assert_eq!(l.reports().len(), 1);
        assert_eq!(l.findings()[0].state, FindingState::Failing);
    }

    #[test]
    fn the_json_uses_the_contract_keys() {
        let l = fold(&[
            vec![node("a", &[("1.1", Fail, None)])],
            vec![node("a", &[("1.1", Pass, None)])],
        ]);
        let v = serde_json::to_value(&l.findings()[0]).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"node": "a", "testNumber": "1.1", "section": "1",
                "testDesc": "Ensure 1.1", "state": "resolved",
                "firstFailed": "2026-11-01T00:00:00Z", "firstFailedReport": "r1",
                "resolvedAt": "2026-11-02T00:00:00Z", "lastFailed": "2026-11-01T00:00:00Z",
                "reopened": 0, "reportsFailing": 1})
        );
    }
}
