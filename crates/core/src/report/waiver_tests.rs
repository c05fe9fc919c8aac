//! The rules of waivers in a report (docs/waivers.md), one test each, named after it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::compute::*;
use crate::model::global_report::{
    CisBenchmarkParams, GlobalReport, GlobalReportSpec, GlobalReportType, NotObservedAs, ObjectMeta,
};
use crate::model::{
    BenchmarkDocument, BenchmarkTest, CompiledWaiver, GlobalReportWaiver, LabelSelector, Rating,
    RatingCounts, ReportDocument, TestResult, TestStatus, TestText, WaiverOutcome, WaiverSpec,
    WaiverState,
};
use crate::report::top_failed_tests;
use crate::time;

const START: &str = "2026-11-25T00:00:00Z";
const END: &str = "2026-11-26T00:00:00Z";
const REPORT: &str = "daily-cis-results";

fn t(s: &str) -> DateTime<Utc> {
    time::parse(s).unwrap()
}

fn report(cis: CisBenchmarkParams) -> GlobalReport {
    GlobalReport {
        api_version: "projectcalico.org/v3".into(),
        kind: "GlobalReport".into(),
        metadata: ObjectMeta {
            name: REPORT.into(),
            labels: Default::default(),
        },
        spec: GlobalReportSpec {
            report_type: "cis-benchmark".into(),
            schedule: Some("0 0 * * *".into()),
            cis: Some(cis),
            ..Default::default()
        },
        status: None,
    }
}

/// A node's document; each test's section is its number without the last part.
fn doc(node: &str, tests: &[(&str, &str)]) -> BenchmarkDocument {
    BenchmarkDocument {
        version: "cis-1.9".into(),
        kubernetes_version: "1.29.3".into(),
        kind: "kube".into(),
        node_name: node.into(),
        timestamp: t("2026-11-25T10:00:00Z"),
        error: String::new(),
        tests: tests
            .iter()
            .map(|(number, status)| {
                let section = number.rsplit_once('.').map_or(*number, |(s, _)| s);
                BenchmarkTest {
                    text: Arc::new(TestText {
                        section: section.into(),
                        section_desc: format!("Section {section}"),
                        test_number: (*number).into(),
                        test_desc: format!("Ensure check {number} holds"),
                        test_info: String::new(),
                    }),
                    status: TestStatus::parse(status),
                    scored: true,
                }
            })
            .collect(),
        cluster: "cluster".into(),
        platform: String::new(),
        kube_bench_version: String::new(),
        benchmarker_version: String::new(),
        benchmark_choice: String::new(),
    }
}

fn spec(tests: &[&str], expires: &str) -> WaiverSpec {
    WaiverSpec {
        tests: tests.iter().map(|s| s.to_string()).collect(),
        reason: "accepted for the test".into(),
        owner: "security@example.com".into(),
        expires: expires.into(),
        ..Default::default()
    }
}

fn compiled(name: &str, spec: WaiverSpec) -> CompiledWaiver {
    GlobalReportWaiver {
        api_version: "projectcalico.org/v3".into(),
        kind: "GlobalReportWaiver".into(),
        metadata: ObjectMeta {
            name: name.into(),
            labels: Default::default(),
        },
        spec,
    }
    .compile()
    .unwrap()
}

/// One waiver over `tests`, for every node and report, in force in the window.
fn waiver(name: &str, tests: &[&str]) -> CompiledWaiver {
    compiled(name, spec(tests, "2027-03-31"))
}

type Labels = HashMap<String, BTreeMap<String, String>>;

fn labels(pairs: &[(&str, &str, &str)]) -> Labels {
    let mut map = Labels::new();
    for (node, k, v) in pairs {
        map.entry(node.to_string())
            .or_default()
            .insert(k.to_string(), v.to_string());
    }
    map
}

fn run_with(
    cis: CisBenchmarkParams,
    docs: Vec<BenchmarkDocument>,
    waivers: Vec<CompiledWaiver>,
    node_labels: Option<Labels>,
) -> (ReportDocument, ComputeStats) {
    let r = report(cis);
    let rt = GlobalReportType::builtin_cis_benchmark();
    let mut builder = ReportBuilder::new(ReportRequest {
        report: &r,
        report_type: &rt,
        start: t(START),
        end: t(END),
        generation_time: t("2026-11-26T00:31:00Z"),
        cluster: "cluster",
        reporter_version: "test",
    })
    .unwrap();
    builder.set_waivers(waivers);
    if let Some(l) = node_labels {
        builder.set_node_labels(l);
    }
    for d in docs {
        builder.offer(d);
    }
    builder.finish()
}

fn run(docs: Vec<BenchmarkDocument>, waivers: Vec<CompiledWaiver>) -> ReportDocument {
    run_with(Default::default(), docs, waivers, None).0
}

fn result<'a>(r: &'a ReportDocument, node: &str, test: &str) -> &'a TestResult {
    r.cis_benchmark
        .iter()
        .find(|n| n.node_name == node)
        .unwrap_or_else(|| panic!("no node {node}"))
        .results
        .iter()
        .flat_map(|s| &s.results)
        .find(|t| t.text.test_number == test)
        .unwrap_or_else(|| panic!("no test {test} on {node}"))
}

fn waived_by<'a>(r: &'a ReportDocument, node: &str, test: &str) -> Option<&'a str> {
    result(r, node, test).waiver.as_deref()
}

fn outcome<'a>(r: &'a ReportDocument, name: &str) -> &'a WaiverOutcome {
    r.waivers
        .iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("waiver {name} not listed: {:?}", r.waivers))
}

/// Two nodes: `a` fails 1.1.2 and 1.2.1, `b` fails 1.1.2.
fn two_nodes() -> Vec<BenchmarkDocument> {
    vec![
        doc(
            "a",
            &[
                ("1.1.1", "PASS"),
                ("1.1.2", "FAIL"),
                ("1.2.1", "FAIL"),
                ("1.2.2", "PASS"),
            ],
        ),
        doc("b", &[("1.1.1", "PASS"), ("1.1.2", "FAIL")]),
    ]
}

#[test]
fn waiver_a_waived_fail_stays_fail_and_names_its_waiver() {
    let r = run(two_nodes(), vec![waiver("etcd", &["1.1.2"])]);
    let t = result(&r, "a", "1.1.2");
    assert_eq!(t.status, TestStatus::Fail);
    assert_eq!(t.waiver.as_deref(), Some("etcd"));
    assert_eq!(waived_by(&r, "a", "1.2.1"), None);
    assert_eq!(waived_by(&r, "a", "1.1.1"), None, "a PASS is never marked");
    let json = serde_json::to_value(t).unwrap();
    assert_eq!(json["status"], "FAIL");
    assert_eq!(json["waiver"], "etcd");
    let unwaived = serde_json::to_value(result(&r, "a", "1.2.1")).unwrap();
    assert!(unwaived.get("waiver").is_none(), "{unwaived}");
}

#[test]
fn waiver_counts_and_ratings_leave_waived_failures_out_and_keep_the_unwaived_rating() {
    let r = run(two_nodes(), vec![waiver("etcd", &["1.1.2"])]);
    let a = &r.cis_benchmark[0];
    assert_eq!(
        (
            a.summary.total_pass,
            a.summary.total_fail,
            a.summary.total,
            a.summary.waived
        ),
        (2, 1, 3, 1)
    );
    // 2 of 3 = 66 %: MED; without the waiver 2 of 4 = 50 %: MED still.
    assert_eq!(a.summary.status, Rating::Med);
    assert_eq!(a.summary.status_without_waivers, Some(Rating::Med));
    let s11 = &a.results[0];
    assert_eq!(
        (s11.section.as_str(), s11.pass, s11.fail, s11.waived),
        ("1.1", 1, 0, 1)
    );
    assert_eq!(s11.status, Rating::High, "the section rates without it");
    let s12 = &a.results[1];
    assert_eq!((s12.pass, s12.fail, s12.waived), (1, 1, 0));

    let b = &r.cis_benchmark[1];
    assert_eq!((b.summary.total_fail, b.summary.waived), (0, 1));
    assert_eq!(b.summary.status, Rating::High);
    assert_eq!(b.summary.status_without_waivers, Some(Rating::Med));

    let s = &r.cis_benchmark_summary;
    assert_eq!((s.high_count, s.med_count, s.low_count), (1, 1, 0));
    assert_eq!(s.waived_count, 2);
    assert_eq!(
        s.without_waivers,
        Some(RatingCounts {
            high_count: 0,
            med_count: 2,
            low_count: 0
        })
    );
    let json = serde_json::to_value(s).unwrap();
    assert_eq!(json["waivedCount"], 2);
    assert_eq!(json["withoutWaivers"]["medCount"], 2);
    let node_json = serde_json::to_value(&b.summary).unwrap();
    assert_eq!(node_json["statusWithoutWaivers"], "MED");
    assert_eq!(node_json["waived"], 1);
}

#[test]
fn waiver_none_given_leaves_counts_and_ratings_as_without_waivers() {
    let (r, stats) = run_with(Default::default(), two_nodes(), Vec::new(), None);
    let s = &r.cis_benchmark_summary;
    assert_eq!((s.high_count, s.med_count, s.low_count), (0, 2, 0));
    assert_eq!(s.waived_count, 0);
    assert_eq!(s.without_waivers, None);
    assert_eq!(stats.waived, 0);
    for n in &r.cis_benchmark {
        assert_eq!(n.summary.waived, 0);
        assert_eq!(n.summary.status_without_waivers, None);
    }
    assert_eq!(r.cis_benchmark[0].summary.total_fail, 2);
    assert!(r.waivers.is_empty());
    let json = serde_json::to_value(&r).unwrap();
    assert!(
        json["cisBenchmarkSummary"].get("withoutWaivers").is_none(),
        "{}",
        json["cisBenchmarkSummary"]
    );
}

#[test]
fn waiver_in_force_that_changes_no_rating_still_counts_as_waived() {
    // a's rating is MED with and without it: withoutWaivers is still given, equal.
    let r = run(two_nodes(), vec![waiver("one", &["1.2.1"])]);
    let s = &r.cis_benchmark_summary;
    assert_eq!(s.waived_count, 1);
    assert_eq!(
        s.without_waivers,
        Some(RatingCounts {
            high_count: 0,
            med_count: 2,
            low_count: 0
        })
    );
    assert_eq!((s.high_count, s.med_count), (0, 2));
    let o = outcome(&r, "one");
    assert_eq!((o.state, o.waived, o.nodes), (WaiverState::Applied, 1, 1));
}

#[test]
fn waiver_expired_at_the_window_end_waives_nothing_and_counts_what_it_would_have() {
    let expired = compiled("old", spec(&["1.1.2"], END));
    let just_in_force = compiled("new", spec(&["1.2.1"], "2026-11-26T00:00:01Z"));
    let r = run(two_nodes(), vec![expired, just_in_force]);
    assert_eq!(waived_by(&r, "a", "1.1.2"), None);
    assert_eq!(waived_by(&r, "b", "1.1.2"), None);
    assert_eq!(waived_by(&r, "a", "1.2.1"), Some("new"));
    let old = outcome(&r, "old");
    assert_eq!(
        (old.state, old.waived, old.nodes),
        (WaiverState::Expired, 2, 2)
    );
    let new = outcome(&r, "new");
    assert_eq!(
        (new.state, new.waived, new.nodes),
        (WaiverState::Applied, 1, 1)
    );
    assert_eq!(r.cis_benchmark_summary.waived_count, 1);
    assert_eq!(r.cis_benchmark[1].summary.total_fail, 1);
    let json = serde_json::to_value(old).unwrap();
    assert_eq!(json["state"], "expired");
}

#[test]
fn waiver_expired_counts_what_it_would_have_covered_whatever_its_name() {
    // A renewal: the expired waiver sorts after the one replacing it, and still tells how
    // much it would have covered.
    let renewal = waiver("a-renewed", &["1.1.2"]);
    let expired = compiled("z-old", spec(&["1.1"], "2026-01-01"));
    let r = run(two_nodes(), vec![expired, renewal]);
    assert_eq!(waived_by(&r, "a", "1.1.2"), Some("a-renewed"));
    let old = outcome(&r, "z-old");
    assert_eq!(
        (old.state, old.waived, old.nodes),
        (WaiverState::Expired, 2, 2)
    );
    let renewed = outcome(&r, "a-renewed");
    assert_eq!(
        (renewed.state, renewed.waived, renewed.nodes),
        (WaiverState::Applied, 2, 2)
    );
}

#[test]
fn waiver_matching_no_failure_is_listed_as_matched_nothing() {
    let r = run(
        two_nodes(),
        vec![waiver("typo", &["9.9.9"]), waiver("passing", &["1.1.1"])],
    );
    for name in ["typo", "passing"] {
        let o = outcome(&r, name);
        assert_eq!(
            (o.state, o.waived, o.nodes),
            (WaiverState::MatchedNothing, 0, 0)
        );
        assert_eq!(o.note, "");
    }
    assert_eq!(
        serde_json::to_value(outcome(&r, "typo")).unwrap()["state"],
        "matchedNothing"
    );
    assert_eq!(r.cis_benchmark_summary.waived_count, 0);
    assert_eq!(r.cis_benchmark_summary.without_waivers, None);
}

#[test]
fn waiver_reports_limit_which_reports_apply_and_list_it() {
    let mut other = spec(&["1.1.2"], "2027-03-31");
    other.reports = vec!["weekly".into()];
    let mut this = spec(&["1.2.1"], "2027-03-31");
    this.reports = vec!["weekly".into(), REPORT.into()];
    let r = run(
        two_nodes(),
        vec![compiled("weekly-only", other), compiled("both", this)],
    );
    assert_eq!(waived_by(&r, "a", "1.1.2"), None);
    assert_eq!(waived_by(&r, "a", "1.2.1"), Some("both"));
    let names: Vec<&str> = r.waivers.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(
        names,
        ["both"],
        "a waiver for other reports is not this report's"
    );
}

#[test]
fn waiver_node_names_cover_only_the_nodes_named() {
    let mut s = spec(&["1.1.2"], "2027-03-31");
    s.node_names = vec!["b".into()];
    let r = run(two_nodes(), vec![compiled("b-only", s)]);
    assert_eq!(waived_by(&r, "a", "1.1.2"), None);
    assert_eq!(waived_by(&r, "b", "1.1.2"), Some("b-only"));
    let o = outcome(&r, "b-only");
    assert_eq!((o.state, o.waived, o.nodes), (WaiverState::Applied, 1, 1));
    assert_eq!(o.note, "", "no selector: nothing left unevaluated");
}

fn gpu_selector() -> LabelSelector {
    LabelSelector {
        match_labels: [("pool".to_string(), "gpu".to_string())].into(),
        match_expressions: Vec::new(),
    }
}

#[test]
fn waiver_node_selector_covers_the_labelled_nodes_when_labels_are_given() {
    let mut s = spec(&["1.1.2"], "2027-03-31");
    s.node_selector = Some(gpu_selector());
    let (r, _) = run_with(
        Default::default(),
        two_nodes(),
        vec![compiled("gpu", s)],
        Some(labels(&[("a", "pool", "gpu"), ("b", "pool", "cpu")])),
    );
    assert_eq!(waived_by(&r, "a", "1.1.2"), Some("gpu"));
    assert_eq!(waived_by(&r, "b", "1.1.2"), None);
    let o = outcome(&r, "gpu");
    assert_eq!((o.state, o.waived, o.nodes), (WaiverState::Applied, 1, 1));
    assert_eq!(o.note, "", "the selector was evaluated");
}

#[test]
fn waiver_node_selector_without_labels_selects_nothing_and_carries_a_note() {
    let mut selector_only = spec(&["1.1.2"], "2027-03-31");
    selector_only.node_selector = Some(gpu_selector());
    let mut with_names = selector_only.clone();
    with_names.node_names = vec!["b".into()];
    let r = run(
        two_nodes(),
        vec![
            compiled("selector-only", selector_only),
            compiled("with-names", with_names),
        ],
    );
    let o = outcome(&r, "selector-only");
    assert_eq!(o.state, WaiverState::MatchedNothing);
    assert!(o.note.contains("nodeSelector not evaluated"), "{}", o.note);
    let o = outcome(&r, "with-names");
    assert_eq!((o.state, o.waived), (WaiverState::Applied, 1));
    assert!(o.note.contains("only nodeNames matched"), "{}", o.note);
    assert_eq!(waived_by(&r, "a", "1.1.2"), None);
    assert_eq!(waived_by(&r, "b", "1.1.2"), Some("with-names"));
}

#[test]
fn waiver_node_selector_with_labels_given_but_none_for_the_node_selects_nothing() {
    let mut s = spec(&["1.1.2"], "2027-03-31");
    s.node_selector = Some(gpu_selector());
    let (r, _) = run_with(
        Default::default(),
        two_nodes(),
        vec![compiled("gpu", s)],
        Some(Labels::new()),
    );
    let o = outcome(&r, "gpu");
    assert_eq!(o.state, WaiverState::MatchedNothing);
    assert_eq!(o.note, "", "the labels were read: nothing unevaluated");
}

#[test]
fn waiver_section_entry_covers_its_tests_not_a_longer_section() {
    let docs = vec![doc(
        "a",
        &[
            ("1.1.12", "FAIL"),
            ("1.1.2", "FAIL"),
            ("1.10.1", "FAIL"),
            ("1.2.1", "FAIL"),
        ],
    )];
    let r = run(docs, vec![waiver("section", &["1.1"])]);
    assert_eq!(waived_by(&r, "a", "1.1.12"), Some("section"));
    assert_eq!(waived_by(&r, "a", "1.1.2"), Some("section"));
    assert_eq!(waived_by(&r, "a", "1.10.1"), None);
    assert_eq!(waived_by(&r, "a", "1.2.1"), None);
    assert_eq!(outcome(&r, "section").waived, 2);
}

#[test]
fn waiver_not_observed_counted_as_fail_can_be_waived_warn_and_info_never_are() {
    let docs = || {
        vec![doc(
            "a",
            &[
                ("1.1.1", "PASS"),
                ("1.1.2", "NOT_OBSERVED"),
                ("1.1.3", "WARN"),
                ("1.1.4", "INFO"),
            ],
        )]
    };
    let as_fail = CisBenchmarkParams {
        not_observed_as: Some("fail".into()),
        ..Default::default()
    };
    let (r, _) = run_with(as_fail, docs(), vec![waiver("all", &["1"])], None);
    assert_eq!(waived_by(&r, "a", "1.1.2"), Some("all"));
    assert_eq!(
        result(&r, "a", "1.1.2").status,
        TestStatus::NotObserved,
        "the status is kept"
    );
    assert_eq!(waived_by(&r, "a", "1.1.3"), None);
    assert_eq!(waived_by(&r, "a", "1.1.4"), None);
    let n = &r.cis_benchmark[0].summary;
    assert_eq!(
        (n.total_pass, n.total_fail, n.total_info, n.waived),
        (1, 0, 2, 1)
    );
    assert_eq!(n.status, Rating::High);
    assert_eq!(n.status_without_waivers, Some(Rating::Med));
    assert_eq!(outcome(&r, "all").waived, 1);

    // Counted as info (the default), a NOT_OBSERVED is no failure to waive.
    let (r, _) = run_with(
        Default::default(),
        docs(),
        vec![waiver("all", &["1"])],
        None,
    );
    assert_eq!(waived_by(&r, "a", "1.1.2"), None);
    assert_eq!(outcome(&r, "all").state, WaiverState::MatchedNothing);
}

#[test]
fn waiver_first_by_name_wins_and_the_other_matched_nothing() {
    let r = run(
        two_nodes(),
        vec![waiver("b-second", &["1.1.2"]), waiver("a-first", &["1.1"])],
    );
    assert_eq!(waived_by(&r, "a", "1.1.2"), Some("a-first"));
    assert_eq!(waived_by(&r, "b", "1.1.2"), Some("a-first"));
    let names: Vec<&str> = r.waivers.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["a-first", "b-second"], "listed in name order");
    assert_eq!(outcome(&r, "a-first").waived, 2);
    assert_eq!(outcome(&r, "b-second").state, WaiverState::MatchedNothing);
    assert_eq!(r.cis_benchmark_summary.waived_count, 2, "each failure once");
}

#[test]
fn waiver_top_failed_tests_leave_waived_failures_out() {
    let r = run(two_nodes(), vec![waiver("etcd", &["1.1.2"])]);
    let top = top_failed_tests(&r.cis_benchmark, 5, NotObservedAs::Info);
    let listed: Vec<(&str, u64)> = top
        .iter()
        .map(|t| (t.index.as_str(), t.failed_count))
        .collect();
    assert_eq!(listed, [("1.2.1", 1)]);
    let without = run(two_nodes(), Vec::new());
    let top = top_failed_tests(&without.cis_benchmark, 5, NotObservedAs::Info);
    assert_eq!(top[0].index, "1.1.2");
    assert_eq!(top[0].failed_count, 2);
}
