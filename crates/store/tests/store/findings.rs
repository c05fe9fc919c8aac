//! Findings over time read from a SQLite file: a stored report's findings equal those of
//! the report in memory (across node pages), and a GlobalReport's lifecycle folds its
//! latest reports oldest first.

use compliance_core::report::{FindingLifecycle, Lifecycle, ReportFindings};
use compliance_store::{BlockingStore, Datastore, FINDINGS_PAGE, OpenMode};
use compliance_testkit::fixtures::t;
use compliance_testkit::reports::synthetic_report;
use compliance_testkit::sequence::{STORY_ENDS, Sequence};
use tempfile::TempDir;

fn store() -> (TempDir, BlockingStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = BlockingStore::open(
        &Datastore::Sqlite(dir.path().join("c.db")),
        OpenMode::Create,
    )
    .unwrap();
    (dir, store)
}

/// Failures as (node, test) and node states without waiver details (persisting waivers
/// is the store branch's business; the core tests check them).
type Shape = (Vec<(String, bool)>, Vec<(String, String)>);

fn shape(f: &ReportFindings) -> Shape {
    (
        f.nodes
            .iter()
            .map(|n| (n.name.clone(), n.assessed))
            .collect(),
        f.failures
            .iter()
            .map(|x| {
                (
                    f.nodes[x.node as usize].name.clone(),
                    x.test_number().to_string(),
                )
            })
            .collect(),
    )
}

fn history(l: &Lifecycle) -> Vec<String> {
    l.findings()
        .iter()
        .map(|f: &FindingLifecycle| {
            format!(
                "{} {} {} first={} since={:?} resolved={:?} last={} reopened={} in={}",
                f.node,
                f.test_number,
                f.state,
                f.first_failed,
                f.failing_since,
                f.resolved_at,
                f.last_failed,
                f.reopened,
                f.reports_failing
            )
        })
        .collect()
}

#[test]
fn a_stored_reports_findings_equal_those_of_the_report_in_memory() {
    let (_dir, store) = store();
    assert_eq!(store.report_findings("no-such-report").unwrap(), None);
    for r in &Sequence::story().reports {
        store.put_report(r).unwrap();
        let stored = store.report_findings(&r.id).unwrap().unwrap();
        assert_eq!(stored.report.id, r.id);
        assert_eq!(stored.report.end_time, r.end_time);
        assert_eq!(shape(&stored), shape(&ReportFindings::of_report(r)));
    }
}

#[test]
fn findings_are_read_across_node_pages() {
    let (_dir, store) = store();
    let nodes = FINDINGS_PAGE as usize * 2 + 7;
    let r = synthetic_report(nodes, t("2026-11-25T00:00:00Z"), 11);
    store.put_report(&r).unwrap();
    let stored = store.report_findings(&r.id).unwrap().unwrap();
    assert_eq!(stored.nodes.len(), nodes);
    assert!(!stored.failures.is_empty());
    assert_eq!(shape(&stored), shape(&ReportFindings::of_report(&r)));
}

#[test]
fn the_lifecycle_folds_the_latest_reports_of_one_global_report_oldest_first() {
    let (_dir, store) = store();
    let story = Sequence::story();
    // Stored newest first, with a report of another GlobalReport in between.
    for r in story.reports.iter().rev() {
        store.put_report(r).unwrap();
    }
    let mut other = story.reports[2].clone();
    other.report_name = "weekly".into();
    other.id = "weekly_cis-benchmark_x".into();
    store.put_report(&other).unwrap();

    let series = store.report_series("daily-cis-results", 30).unwrap();
    let ends: Vec<String> = series
        .iter()
        .map(|h| compliance_core::model::time::format(&h.end_time))
        .collect();
    assert_eq!(ends, STORY_ENDS);

    let stored = store.lifecycle("daily-cis-results", 30).unwrap();
    let mut expected = Lifecycle::new();
    for r in &story.reports {
        expected.observe(&ReportFindings::of_report(r)).unwrap();
    }
    assert_eq!(stored.reports().len(), 5);
    assert_eq!(history(&stored), history(&expected));

    // Only the latest two: w-1's failure starts with them.
    let last_two = store.lifecycle("daily-cis-results", 2).unwrap();
    assert_eq!(last_two.reports()[0].end_time, t(STORY_ENDS[3]));
    let w1 = &last_two.for_node("w-1")[0];
    assert_eq!(w1.first_failed, t(STORY_ENDS[3]));
    assert_eq!(w1.reports_failing, 2);

    assert!(
        store
            .lifecycle("nothing", 30)
            .unwrap()
            .findings()
            .is_empty()
    );
}
