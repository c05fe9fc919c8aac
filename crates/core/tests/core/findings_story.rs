//! The canonical sequence of issue 16 ([`Sequence::story`]) through the real core: the
//! exact diffs, ratings and lifecycle its documentation promises.

use compliance_core::model::{Rating, WaiverState};
use compliance_core::report::{
    Change, DiffCounts, FindingState, Lifecycle, NodeChangeKind, ReportFindings, diff,
};
use compliance_testkit::fixtures::t;
use compliance_testkit::sequence::{STORY_ENDS, STORY_WAIVER, Sequence};

fn findings() -> Vec<ReportFindings> {
    Sequence::story()
        .reports
        .iter()
        .map(ReportFindings::of_report)
        .collect()
}

fn changes(f: &[ReportFindings], old: usize, new: usize) -> Vec<(String, String, Change)> {
    diff(&f[old], &f[new])
        .findings
        .into_iter()
        .map(|c| (c.node, c.test_number, c.change))
        .collect()
}

fn c(node: &str, test: &str, change: Change) -> (String, String, Change) {
    (node.to_string(), test.to_string(), change)
}

#[test]
fn the_story_rates_waived_nodes_with_and_without_their_waivers() {
    let s = Sequence::story();
    let w1 = |r: usize| {
        let n = s.reports[r]
            .cis_benchmark
            .iter()
            .find(|n| n.node_name == "w-1")
            .unwrap();
        (n.summary.status, n.summary.status_without_waivers)
    };
    assert_eq!(w1(1), (Rating::Med, None));
    assert_eq!(w1(2), (Rating::High, Some(Rating::Med)));
    assert_eq!(w1(3), (Rating::High, Some(Rating::Med)));
    assert_eq!(w1(4), (Rating::Med, None));
    let states: Vec<WaiverState> = s.reports[2..]
        .iter()
        .map(|r| {
            assert_eq!(r.waivers.len(), 1);
            assert_eq!(r.waivers[0].name, STORY_WAIVER);
            r.waivers[0].state
        })
        .collect();
    assert_eq!(
        states,
        [
            WaiverState::Applied,
            WaiverState::Applied,
            WaiverState::Expired
        ]
    );
}

#[test]
fn the_story_diffs_give_new_persisting_resolved_new_node_and_gone() {
    let f = findings();
    assert_eq!(
        changes(&f, 0, 1),
        [
            c("cp-1", "1.2.6", Change::New),
            c("w-1", "4.2.6", Change::Persisting)
        ]
    );
    assert_eq!(
        changes(&f, 1, 2),
        [
            c("cp-1", "1.2.6", Change::Persisting),
            c("w-1", "4.2.6", Change::Persisting),
            c("w-3", "4.2.6", Change::NewNode)
        ]
    );
    assert_eq!(
        changes(&f, 2, 3),
        [
            c("cp-1", "1.2.6", Change::Resolved),
            c("w-1", "4.2.6", Change::Persisting),
            c("w-3", "4.2.6", Change::Persisting)
        ]
    );
    let d = diff(&f[3], &f[4]);
    assert_eq!(
        changes(&f, 3, 4),
        [
            c("cp-1", "1.2.6", Change::New),
            c("w-1", "4.2.6", Change::Persisting),
            c("w-3", "4.2.6", Change::Gone)
        ]
    );
    assert_eq!(d.findings[1].old_waiver.as_deref(), Some(STORY_WAIVER));
    assert_eq!(d.findings[1].new_waiver, None);
    assert_eq!(
        d.counts,
        DiffCounts {
            new: 1,
            persisting: 1,
            resolved: 0,
            new_node: 0,
            gone: 1,
            nodes_added: 0,
            nodes_removed: 1,
            rating_drops: 2,
            rating_rises: 0,
            new_unwaived: 1,
        }
    );
    let nodes: Vec<(&str, NodeChangeKind, Option<Rating>, Option<Rating>)> = d
        .nodes
        .iter()
        .map(|n| (n.node.as_str(), n.kind, n.old_status, n.new_status))
        .collect();
    assert_eq!(
        nodes,
        [
            (
                "cp-1",
                NodeChangeKind::Rerated,
                Some(Rating::High),
                Some(Rating::Med)
            ),
            (
                "w-1",
                NodeChangeKind::Rerated,
                Some(Rating::High),
                Some(Rating::Med)
            ),
            ("w-3", NodeChangeKind::Removed, Some(Rating::Med), None),
        ]
    );
    assert_eq!(d.nodes[1].old_status_without_waivers, Some(Rating::Med));
    assert_eq!(d.nodes[1].new_status_without_waivers, Some(Rating::Med));
}

#[test]
fn the_story_lifecycle_has_first_failed_failing_since_and_reopened() {
    let mut l = Lifecycle::new();
    for f in findings() {
        l.observe(&f).unwrap();
    }
    let all = l.findings();
    let keys: Vec<(&str, &str, FindingState)> = all
        .iter()
        .map(|f| (f.node.as_str(), f.test_number.as_str(), f.state))
        .collect();
    assert_eq!(
        keys,
        [
            ("cp-1", "1.2.6", FindingState::Failing),
            ("w-1", "4.2.6", FindingState::Failing),
            ("w-3", "4.2.6", FindingState::Unknown),
        ]
    );
    let day = |i: usize| t(STORY_ENDS[i]);
    let cp = &all[0];
    assert_eq!(cp.first_failed, day(1));
    assert_eq!(cp.failing_since, Some(day(4)));
    assert_eq!(cp.last_failed, day(4));
    assert_eq!((cp.reopened, cp.reports_failing), (1, 3));
    let w1 = &all[1];
    assert_eq!((w1.first_failed, w1.failing_since), (day(0), Some(day(0))));
    assert_eq!((w1.reopened, w1.reports_failing), (0, 5));
    assert_eq!(w1.waiver, None);
    let w3 = &all[2];
    assert_eq!((w3.first_failed, w3.last_failed), (day(2), day(3)));
    assert_eq!(w3.failing_since, Some(day(2)));
    assert_eq!(w3.reports_failing, 2);
    // The lifecycle up to report 4 shows the waiver and the resolution.
    let mut l = Lifecycle::new();
    for f in &findings()[..4] {
        l.observe(f).unwrap();
    }
    let cp = &l.for_node("cp-1")[0];
    assert_eq!(cp.state, FindingState::Resolved);
    assert_eq!(cp.resolved_at, Some(day(3)));
    assert_eq!(l.for_node("w-1")[0].waiver.as_deref(), Some(STORY_WAIVER));
}
