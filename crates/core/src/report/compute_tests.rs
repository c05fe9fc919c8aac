//! One test per rule of docs/spec.md §4, named after it, plus property tests.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::compute::*;
use crate::model::global_report::{
    BenchmarkSelection, CisBenchmarkParams, GlobalReport, GlobalReportSpec, GlobalReportType,
    NotObservedAs, ObjectMeta, ResultsFilter,
};
use crate::model::{
    BenchmarkDocument, BenchmarkTest, Rating, ReportDocument, TestStatus, TestText,
};
use crate::report::top_failed_tests;
use crate::time;

fn t(s: &str) -> DateTime<Utc> {
    time::parse(s).unwrap()
}

const START: &str = "2026-11-25T00:00:00Z";
const END: &str = "2026-11-26T00:00:00Z";

fn report(cis: CisBenchmarkParams) -> GlobalReport {
    GlobalReport {
        api_version: "projectcalico.org/v3".into(),
        kind: "GlobalReport".into(),
        metadata: ObjectMeta {
            name: "daily-cis-results".into(),
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

fn test(number: &str, status: &str, scored: bool) -> BenchmarkTest {
    let section = number.rsplit_once('.').map(|(s, _)| s).unwrap_or(number);
    BenchmarkTest {
        text: Arc::new(TestText {
            section: section.into(),
            section_desc: format!("Section {section}"),
            test_number: number.into(),
            test_desc: format!("Ensure check {number} holds"),
            test_info: format!("Fix {number}"),
        }),
        status: TestStatus::parse(status),
        scored,
    }
}

fn doc(node: &str, ts: &str, k8s: &str, tests: &[(&str, &str, bool)]) -> BenchmarkDocument {
    BenchmarkDocument {
        version: "cis-1.9".into(),
        kubernetes_version: k8s.into(),
        kind: "kube".into(),
        node_name: node.into(),
        timestamp: t(ts),
        error: String::new(),
        tests: tests.iter().map(|(n, s, sc)| test(n, s, *sc)).collect(),
        cluster: "cluster".into(),
        platform: String::new(),
        kube_bench_version: String::new(),
        benchmarker_version: String::new(),
        benchmark_choice: String::new(),
    }
}

fn errored(node: &str, ts: &str, error: &str) -> BenchmarkDocument {
    BenchmarkDocument {
        error: error.into(),
        version: "cis-1.8".into(),
        ..doc(node, ts, "1.28.1", &[])
    }
}

fn run(cis: CisBenchmarkParams, docs: Vec<BenchmarkDocument>) -> (ReportDocument, ComputeStats) {
    let r = report(cis);
    let rt = GlobalReportType::builtin_cis_benchmark();
    compute_report(
        ReportRequest {
            report: &r,
            report_type: &rt,
            start: t(START),
            end: t(END),
            generation_time: t("2026-11-26T00:31:00Z"),
            cluster: "cluster",
            reporter_version: "test",
        },
        docs,
    )
    .unwrap()
}

fn filter(sel: Option<&str>, include: &[&str], exclude: &[&str]) -> ResultsFilter {
    ResultsFilter {
        benchmark_selection: sel.map(|v| BenchmarkSelection {
            kubernetes_version: Some(v.into()),
        }),
        include: include.iter().map(|s| s.to_string()).collect(),
        exclude: exclude.iter().map(|s| s.to_string()).collect(),
    }
}

fn node_names(r: &ReportDocument) -> Vec<&str> {
    r.cis_benchmark
        .iter()
        .map(|n| n.node_name.as_str())
        .collect()
}

fn numbers(r: &ReportDocument, node: usize) -> Vec<String> {
    r.cis_benchmark[node]
        .results
        .iter()
        .flat_map(|s| s.results.iter().map(|t| t.text.test_number.clone()))
        .collect()
}

#[test]
fn rule_1_documents_from_the_look_back_are_used_and_older_ones_ignored() {
    let (r, stats) = run(
        Default::default(),
        vec![
            doc(
                "a",
                "2026-11-24T12:00:00Z",
                "1.29.3",
                &[("1.1.1", "PASS", true)],
            ),
            doc(
                "b",
                "2026-11-24T11:59:59Z",
                "1.29.3",
                &[("1.1.1", "PASS", true)],
            ),
            doc(
                "c",
                "2026-11-26T00:00:01Z",
                "1.29.3",
                &[("1.1.1", "PASS", true)],
            ),
        ],
    );
    assert_eq!(node_names(&r), ["a"]);
    assert_eq!(stats.outside_window, 2);
}

#[test]
fn rule_2_latest_document_without_error_wins() {
    let (r, _) = run(
        Default::default(),
        vec![
            doc(
                "a",
                "2026-11-25T10:00:00Z",
                "1.29.3",
                &[("1.1.1", "FAIL", true)],
            ),
            doc(
                "a",
                "2026-11-25T11:00:00Z",
                "1.29.3",
                &[("1.1.1", "PASS", true)],
            ),
            errored("a", "2026-11-25T12:00:00Z", "kubelet not found"),
        ],
    );
    let n = &r.cis_benchmark[0];
    assert_eq!(n.summary.total_pass, 1);
    assert_eq!(n.error, "");
}

#[test]
fn rule_2_node_with_only_errored_documents_is_low_with_its_latest_error() {
    let (r, stats) = run(
        Default::default(),
        vec![
            errored("a", "2026-11-25T10:00:00Z", "old error"),
            errored("a", "2026-11-25T12:00:00Z", "kubelet not found"),
        ],
    );
    let n = &r.cis_benchmark[0];
    assert_eq!(n.error, "kubelet not found");
    assert_eq!(n.summary.status, Rating::Low);
    assert_eq!(n.summary.total, 0);
    assert!(n.results.is_empty());
    assert_eq!(n.benchmarks_version, "cis-1.8");
    assert_eq!(r.cis_benchmark_summary.low_count, 1);
    assert_eq!(stats.errored_nodes, 1);
}

#[test]
fn rule_2_node_carries_the_versions_of_the_chosen_document() {
    let mut older = doc(
        "a",
        "2026-11-25T10:00:00Z",
        "1.28.0",
        &[("1.1.1", "PASS", true)],
    );
    older.version = "cis-1.8".into();
    let newer = doc(
        "a",
        "2026-11-25T11:00:00Z",
        "1.29.3",
        &[("1.1.1", "PASS", true)],
    );
    let (r, _) = run(Default::default(), vec![newer, older]);
    assert_eq!(r.cis_benchmark[0].kubernetes_version, "1.29.3");
    assert_eq!(r.cis_benchmark[0].benchmarks_version, "cis-1.9");
}

#[test]
fn rule_3_first_matching_filter_is_applied_per_node() {
    let tests = [("1.1.1", "PASS", true), ("1.1.2", "PASS", true)];
    let (r, _) = run(
        CisBenchmarkParams {
            results_filters: vec![
                filter(Some("1.13"), &[], &["1.1.1"]),
                filter(None, &[], &["1.1.2"]),
            ],
            ..Default::default()
        },
        vec![
            doc("a", "2026-11-25T10:00:00Z", "v1.13.7", &tests),
            doc("b", "2026-11-25T10:00:00Z", "1.130.0", &tests),
        ],
    );
    assert_eq!(numbers(&r, 0), ["1.1.2"]);
    assert_eq!(numbers(&r, 1), ["1.1.1"]);
}

#[test]
fn rule_2_a_node_reads_as_one_version_however_its_results_arrived() {
    // The same node's kubelet version as the benchmarker stores it, as an operator may have
    // imported it before versions had one rule, and with kubectl's leading `v`.
    let tests = [("1.1.1", "PASS", true), ("1.1.2", "PASS", true)];
    for stored in ["1.29.3", "1.29.3-eks-1a2b", "v1.29.3+k3s1"] {
        let (r, _) = run(
            CisBenchmarkParams {
                results_filters: vec![filter(Some("1.29.3"), &[], &["1.1.1"])],
                ..Default::default()
            },
            vec![doc("a", "2026-11-25T10:00:00Z", stored, &tests)],
        );
        assert_eq!(r.cis_benchmark[0].kubernetes_version, "1.29.3", "{stored}");
        assert_eq!(
            numbers(&r, 0),
            ["1.1.2"],
            "{stored}: the 1.29.3 filter applies"
        );
    }
    // An errored document's version is read the same way; an empty one stays empty.
    let mut e = errored("b", "2026-11-25T10:00:00Z", "kubelet not found");
    e.kubernetes_version = "v1.28.1".into();
    let mut unknown = errored("c", "2026-11-25T10:00:00Z", "no version");
    unknown.kubernetes_version = String::new();
    let (r, _) = run(CisBenchmarkParams::default(), vec![e, unknown]);
    assert_eq!(r.cis_benchmark[0].kubernetes_version, "1.28.1");
    assert_eq!(r.cis_benchmark[1].kubernetes_version, "");
}

#[test]
fn rule_4_inclusion_order_in_a_report() {
    let tests = [
        ("1.1.1", "PASS", true),
        ("1.1.2", "FAIL", false),
        ("1.2.1", "FAIL", true),
        ("4.1.1", "PASS", true),
    ];
    // (a): unscored included when nothing is listed.
    let (r, _) = run(
        Default::default(),
        vec![doc("a", "2026-11-25T10:00:00Z", "1.29", &tests)],
    );
    assert_eq!(numbers(&r, 0), ["1.1.1", "1.1.2", "1.2.1", "4.1.1"]);
    // (b): unscored dropped when not including unscored.
    let (r, _) = run(
        CisBenchmarkParams {
            include_unscored_tests: Some(false),
            ..Default::default()
        },
        vec![doc("a", "2026-11-25T10:00:00Z", "1.29", &tests)],
    );
    assert_eq!(numbers(&r, 0), ["1.1.1", "1.2.1", "4.1.1"]);
    // (d), (e), (f): include by test and section, exclude a section, drop the rest
    // (5.1.1 is named by no list, so only (f) decides it).
    let mut with_unlisted = tests.to_vec();
    with_unlisted.push(("5.1.1", "PASS", true));
    let (r, _) = run(
        CisBenchmarkParams {
            results_filters: vec![filter(None, &["1.2.1", "4.1"], &["1.1"])],
            ..Default::default()
        },
        vec![doc("a", "2026-11-25T10:00:00Z", "1.29", &with_unlisted)],
    );
    assert_eq!(numbers(&r, 0), ["1.2.1", "4.1.1"]);
}

#[test]
fn rule_5_counting_pass_fail_total_and_info() {
    let (r, stats) = run(
        Default::default(),
        vec![doc(
            "a",
            "2026-11-25T10:00:00Z",
            "1.29",
            &[
                ("1.1.1", "PASS", true),
                ("1.1.2", "FAIL", true),
                ("1.1.3", "WARN", false),
                ("1.1.4", "INFO", true),
                ("1.1.5", "SKIPPED", true),
            ],
        )],
    );
    let s = &r.cis_benchmark[0].summary;
    assert_eq!(
        (s.total_pass, s.total_fail, s.total_info, s.total),
        (1, 1, 2, 2)
    );
    let sec = &r.cis_benchmark[0].results[0];
    assert_eq!((sec.pass, sec.fail, sec.info), (1, 1, 2));
    assert_eq!(sec.results.len(), 5, "unknown statuses stay listed");
    assert_eq!(stats.unknown_statuses.get("SKIPPED"), Some(&1));
}

#[test]
fn rule_5_percent_is_floored_and_zero_without_total() {
    assert_eq!(percent(2, 3), 66);
    assert_eq!(percent(1, 3), 33);
    assert_eq!(percent(3, 3), 100);
    assert_eq!(percent(0, 0), 0);
}

#[test]
fn rule_6_status_per_section_and_node_against_thresholds() {
    // 9 of 10 pass → 90%: MED with the defaults (100/50); section 4.1 all pass → HIGH.
    let mut tests: Vec<(String, &str, bool)> = (1..=9)
        .map(|i| (format!("4.1.{i}"), "PASS", true))
        .collect();
    tests.push(("4.2.1".into(), "FAIL", true));
    let tests: Vec<(&str, &str, bool)> =
        tests.iter().map(|(n, s, b)| (n.as_str(), *s, *b)).collect();
    let (r, _) = run(
        Default::default(),
        vec![doc("a", "2026-11-25T10:00:00Z", "1.29", &tests)],
    );
    let n = &r.cis_benchmark[0];
    assert_eq!(n.summary.status, Rating::Med);
    assert_eq!(n.results[0].status, Rating::High);
    assert_eq!(n.results[1].status, Rating::Low);
    let (r, _) = run(
        CisBenchmarkParams {
            high_threshold: Some(90),
            med_threshold: Some(10),
            ..Default::default()
        },
        vec![doc("a", "2026-11-25T10:00:00Z", "1.29", &tests)],
    );
    assert_eq!(r.cis_benchmark[0].summary.status, Rating::High);
    assert_eq!(r.cis_benchmark_summary.high_count, 1);
    assert_eq!(r.cis_benchmark_summary.kind, "kube");
}

#[test]
fn rule_7_nodes_by_name_and_sections_and_tests_by_dotted_index() {
    let (r, _) = run(
        Default::default(),
        vec![
            doc(
                "node-b",
                "2026-11-25T10:00:00Z",
                "1.29",
                &[
                    ("1.2.10", "PASS", true),
                    ("1.10.1", "PASS", true),
                    ("1.2.9", "PASS", true),
                ],
            ),
            doc(
                "Node-a",
                "2026-11-25T10:00:00Z",
                "1.29",
                &[("1.1.1", "PASS", true)],
            ),
            doc(
                "node-a",
                "2026-11-25T10:00:00Z",
                "1.29",
                &[("1.1.1", "PASS", true)],
            ),
        ],
    );
    assert_eq!(node_names(&r), ["Node-a", "node-a", "node-b"]);
    let sections: Vec<_> = r.cis_benchmark[2]
        .results
        .iter()
        .map(|s| s.section.as_str())
        .collect();
    assert_eq!(sections, ["1.2", "1.10"]);
    assert_eq!(numbers(&r, 2), ["1.2.9", "1.2.10", "1.10.1"]);
}

#[test]
fn rule_7_duplicate_test_number_counts_once_first_wins() {
    let (r, stats) = run(
        Default::default(),
        vec![doc(
            "a",
            "2026-11-25T10:00:00Z",
            "1.29",
            &[("1.1.1", "FAIL", true), ("1.1.1", "PASS", true)],
        )],
    );
    let s = &r.cis_benchmark[0].summary;
    assert_eq!((s.total_pass, s.total_fail), (0, 1));
    assert_eq!(stats.duplicate_tests, 1);
}

#[test]
fn rule_8_top_failed_tests_count_nodes_and_break_ties_by_index() {
    let d = |n| {
        doc(
            n,
            "2026-11-25T10:00:00Z",
            "1.29",
            &[
                ("1.2.10", "FAIL", true),
                ("1.2.9", if n == "c" { "PASS" } else { "FAIL" }, true),
                ("1.2.2", "FAIL", true),
                ("4.1.1", if n == "a" { "FAIL" } else { "PASS" }, true),
            ],
        )
    };
    let (r, _) = run(
        CisBenchmarkParams {
            num_failed_tests: Some(3),
            results_filters: vec![filter(None, &[], &["1.2.2"])],
            ..Default::default()
        },
        vec![d("a"), d("b"), d("c")],
    );
    let top = top_failed_tests(&r.cis_benchmark, 3, NotObservedAs::Info);
    let got: Vec<_> = top
        .iter()
        .map(|t| (t.index.as_str(), t.failed_count))
        .collect();
    // 1.2.2 failed everywhere but is excluded; 1.2.10 (3) beats 1.2.9 (2) beats 4.1.1 (1).
    assert_eq!(got, [("1.2.10", 3), ("1.2.9", 2), ("4.1.1", 1)]);
    assert_eq!(top[0].description, "Ensure check 1.2.10 holds");
    let top = top_failed_tests(&r.cis_benchmark, 1, NotObservedAs::Info);
    assert_eq!(top.len(), 1);
}

#[test]
fn rule_8_ties_in_count_follow_dotted_order() {
    let (r, _) = run(
        Default::default(),
        vec![doc(
            "a",
            "2026-11-25T10:00:00Z",
            "1.29",
            &[
                ("1.2.10", "FAIL", true),
                ("1.2.9", "FAIL", true),
                ("1.10.1", "FAIL", true),
            ],
        )],
    );
    let top = top_failed_tests(&r.cis_benchmark, 5, NotObservedAs::Info);
    let got: Vec<_> = top.iter().map(|t| t.index.as_str()).collect();
    assert_eq!(got, ["1.2.9", "1.2.10", "1.10.1"]);
}

#[test]
fn rule_9_report_carries_deterministic_id_and_window() {
    let (r, _) = run(Default::default(), vec![]);
    assert_eq!(
        r.id,
        "daily-cis-results_cis-benchmark_c6220b98-9113-5930-a610-83459f316228"
    );
    assert_eq!(r.start_time, t(START));
    assert_eq!(r.end_time, t(END));
    assert_eq!(r.generated_time, r.generation_time);
    assert_eq!(r.cluster, "cluster");
}

#[test]
fn report_document_serialises_with_spec_keys() {
    let (r, _) = run(
        Default::default(),
        vec![
            doc(
                "a",
                "2026-11-25T10:00:00Z",
                "1.29",
                &[("1.1.1", "PASS", true)],
            ),
            errored("b", "2026-11-25T10:00:00Z", "boom"),
        ],
    );
    let v = serde_json::to_value(&r).unwrap();
    for key in [
        "reportName",
        "reportTypeName",
        "reportSpec",
        "reportTypeSpec",
        "startTime",
        "endTime",
        "generationTime",
        "cisBenchmarkSummary",
        "cisBenchmark",
        "uiSummary",
        "id",
        "cluster",
        "generated_time",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["startTime"], "2026-11-25T00:00:00Z");
    let node = &v["cisBenchmark"][0];
    assert_eq!(node["summary"]["totalPass"], 1);
    assert_eq!(node["results"][0]["results"][0]["testNumber"], "1.1.1");
    assert!(
        node.get("error").is_none(),
        "no error key for healthy nodes"
    );
    assert_eq!(v["cisBenchmark"][1]["error"], "boom");
    let back: ReportDocument = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
}

// ---- property tests ----

fn arb_doc() -> impl Strategy<Value = BenchmarkDocument> {
    let arb_test = (
        prop::sample::select(vec!["1.1.1", "1.1.2", "1.2.1", "1.2.10", "4.1.1", "4.2.3"]),
        prop::sample::select(vec!["PASS", "FAIL", "WARN", "INFO", "SKIP"]),
        any::<bool>(),
    );
    (
        prop::sample::select(vec!["n1", "n2", "n3", "n4"]),
        0i64..48 * 3600,
        prop::sample::select(vec!["1.13.7", "1.29.3", "v1.29.0", ""]),
        prop::collection::vec(arb_test, 0..8),
        prop::option::weighted(0.2, "[a-z]{1,8}"),
    )
        .prop_map(|(node, secs, k8s, tests, error)| {
            let ts = t("2026-11-24T00:00:00Z") + Duration::seconds(secs);
            let mut d = doc(node, &time::format(&ts), k8s, &[]);
            d.tests = tests.into_iter().map(|(n, s, sc)| test(n, s, sc)).collect();
            if let Some(e) = error {
                d.error = e;
            }
            d
        })
}

fn arb_params() -> impl Strategy<Value = CisBenchmarkParams> {
    let list = prop::collection::vec(
        prop::sample::select(vec!["1.1.1", "1.2", "4.1.1", "4"]),
        0..3,
    );
    let f = (
        prop::option::of(prop::sample::select(vec!["1.13", "1.29", "1"])),
        list.clone(),
        list,
    )
        .prop_map(|(sel, inc, exc)| filter(sel, &inc, &exc));
    (any::<bool>(), prop::collection::vec(f, 0..3), 1i64..5).prop_map(|(unscored, filters, n)| {
        CisBenchmarkParams {
            include_unscored_tests: Some(unscored),
            results_filters: filters,
            num_failed_tests: Some(n),
            ..Default::default()
        }
    })
}

proptest! {
    #[test]
    fn counts_always_add_up(params in arb_params(), docs in prop::collection::vec(arb_doc(), 0..12)) {
        let (r, _) = run(params, docs);
        let s = &r.cis_benchmark_summary;
        prop_assert_eq!(s.high_count + s.med_count + s.low_count, r.cis_benchmark.len() as u64);
        for n in &r.cis_benchmark {
            prop_assert_eq!(n.summary.total, n.summary.total_pass + n.summary.total_fail);
            let pass: u64 = n.results.iter().map(|x| x.pass).sum();
            let fail: u64 = n.results.iter().map(|x| x.fail).sum();
            let info: u64 = n.results.iter().map(|x| x.info).sum();
            prop_assert_eq!((pass, fail, info), (n.summary.total_pass, n.summary.total_fail, n.summary.total_info));
            for sec in &n.results {
                prop_assert!(!sec.results.is_empty());
                prop_assert!(sec.pass + sec.fail + sec.info <= sec.results.len() as u64);
            }
        }
    }

    #[test]
    fn excluding_a_test_never_raises_its_fail_count(
        docs in prop::collection::vec(arb_doc(), 1..12),
        excluded in prop::sample::select(vec!["1.1.1", "1.2.10", "4.1.1", "1.2", "4.2"]),
    ) {
        let (before, _) = run(Default::default(), docs.clone());
        let (after, _) = run(
            CisBenchmarkParams { results_filters: vec![filter(None, &[], &[excluded])], ..Default::default() },
            docs,
        );
        prop_assert_eq!(before.cis_benchmark.len(), after.cis_benchmark.len());
        for (b, a) in before.cis_benchmark.iter().zip(&after.cis_benchmark) {
            prop_assert!(a.summary.total_fail <= b.summary.total_fail);
            prop_assert!(a.summary.total_pass <= b.summary.total_pass);
        }
        // What was excluded is gone: as a section, and as a test of any section.
        for node in &after.cis_benchmark {
            for sec in &node.results {
                prop_assert_ne!(sec.section.as_str(), excluded);
                prop_assert!(sec.results.iter().all(|t| t.test_number() != excluded));
            }
        }
        let fails = |r: &ReportDocument| top_failed_tests(&r.cis_benchmark, 100, NotObservedAs::Info)
            .into_iter().find(|t| t.index == excluded).map(|t| t.failed_count).unwrap_or(0);
        prop_assert_eq!(fails(&after), 0);
    }

    #[test]
    fn output_is_independent_of_document_order(
        params in arb_params(),
        docs in prop::collection::vec(arb_doc(), 0..12),
        seed in any::<u64>(),
    ) {
        let (a, _) = run(params.clone(), docs.clone());
        let mut shuffled = docs;
        // Deterministic Fisher-Yates driven by the seed.
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let (b, _) = run(params, shuffled);
        prop_assert_eq!(a, b);
    }
}

#[test]
fn ui_summary_is_stored_with_the_report() {
    let (r, _) = run(
        Default::default(),
        vec![
            doc(
                "a",
                "2026-11-25T10:00:00Z",
                "1.29",
                &[("1.1.1", "FAIL", true)],
            ),
            errored("b", "2026-11-25T10:00:00Z", "boom"),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&r.ui_summary).unwrap();
    assert_eq!(v["widgets"][0]["summary"]["total"], 2);
    assert_eq!(v["widgets"][0]["data"][2]["value"], 2);
    assert_eq!(
        v["widgets"][1]["topFailedTests"]["tests"][0]["index"],
        "1.1.1"
    );
}

fn builder_report(
    cis: CisBenchmarkParams,
    docs: Vec<BenchmarkDocument>,
    prepare: impl FnOnce(&mut ReportBuilder<'_>),
) -> (ReportDocument, ComputeStats) {
    let r = report(cis);
    let rt = GlobalReportType::builtin_cis_benchmark();
    let mut b = ReportBuilder::new(ReportRequest {
        report: &r,
        report_type: &rt,
        start: t(START),
        end: t(END),
        generation_time: t("2026-11-26T00:31:00Z"),
        cluster: "cluster",
        reporter_version: "9.9.9",
    })
    .unwrap();
    for d in docs {
        b.offer(d);
    }
    prepare(&mut b);
    b.finish()
}

fn unobserved_docs() -> Vec<BenchmarkDocument> {
    vec![doc(
        "a",
        "2026-11-25T10:00:00Z",
        "1.29.3",
        &[
            ("1.1.1", "PASS", true),
            ("1.1.2", "NOT_OBSERVED", true),
            ("1.1.3", "FAIL", true),
        ],
    )]
}

#[test]
fn rule_5_not_observed_counts_as_info_by_default() {
    let (r, stats) = run(Default::default(), unobserved_docs());
    let s = &r.cis_benchmark[0].summary;
    assert_eq!(
        (s.total_pass, s.total_fail, s.total_info, s.total),
        (1, 1, 1, 2)
    );
    assert_eq!(stats.not_observed, 1);
    assert!(stats.unknown_statuses.is_empty(), "not an unknown status");
    let t = &r.cis_benchmark[0].results[0].results[1];
    assert_eq!(
        t.status,
        TestStatus::NotObserved,
        "shown as such, not as PASS"
    );
    assert_eq!(
        serde_json::to_value(t).unwrap()["status"],
        "NOT_OBSERVED",
        "and so in the stored JSON"
    );
}

#[test]
fn rule_5_not_observed_counts_as_fail_or_pass_when_the_spec_says_so() {
    let cis = |mode: &str| CisBenchmarkParams {
        not_observed_as: Some(mode.into()),
        ..Default::default()
    };
    let (r, _) = run(cis("fail"), unobserved_docs());
    let s = &r.cis_benchmark[0].summary;
    assert_eq!((s.total_pass, s.total_fail, s.total_info), (1, 2, 0));
    let top = top_failed_tests(&r.cis_benchmark, 5, NotObservedAs::Fail);
    assert_eq!(top.len(), 2, "a not observed test is a failed test then");
    let (r, _) = run(cis("PASS"), unobserved_docs());
    let s = &r.cis_benchmark[0].summary;
    assert_eq!((s.total_pass, s.total_fail, s.total_info), (2, 1, 0));
    let bad = report(cis("maybe")).spec.cis_params().unwrap_err();
    assert_eq!(bad.field, "spec.cis.notObservedAs");
    assert!(bad.message.contains("\"maybe\""), "{bad}");
}

#[test]
fn rule_2_an_expected_node_without_results_is_low_and_counted() {
    let docs = vec![
        doc(
            "a",
            "2026-11-25T10:00:00Z",
            "1.29.3",
            &[("1.1.1", "PASS", true)],
        ),
        errored("c", "2026-11-25T10:00:00Z", "kubelet not found"),
    ];
    let (r, stats) = builder_report(Default::default(), docs, |b| {
        b.expect_nodes("nodes", ["a", "b", "c", "d", "(cluster)", ""]);
        b.expect_nodes("previous report", ["d", "e"]);
        assert_eq!(b.missing_nodes(), ["b", "d", "e"]);
        b.set_last_result("b", t("2026-11-20T03:00:00Z"));
        b.set_last_result("b", t("2026-11-19T03:00:00Z"));
        b.set_last_result("zz-not-expected", t("2026-11-19T03:00:00Z"));
    });
    assert_eq!(node_names(&r), ["a", "b", "c", "d", "e"]);
    let b = &r.cis_benchmark[1];
    assert!(b.no_results);
    assert_eq!(b.summary.status, Rating::Low);
    assert_eq!(b.summary.total, 0);
    assert_eq!(
        b.last_result_time,
        Some(t("2026-11-20T03:00:00Z")),
        "the latest"
    );
    assert_eq!(r.cis_benchmark[3].last_result_time, None, "never seen");
    assert!(
        !r.cis_benchmark[2].no_results,
        "an errored node has a result"
    );
    let s = &r.cis_benchmark_summary;
    assert_eq!((s.high_count, s.low_count, s.no_results_count), (1, 4, 3));
    assert_eq!(stats.no_results, 3);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["cisBenchmark"][1]["noResults"], true);
    assert_eq!(
        json["cisBenchmark"][1]["lastResultTime"],
        "2026-11-20T03:00:00Z"
    );
    assert!(json["cisBenchmark"][0].get("noResults").is_none());
    assert_eq!(json["cisBenchmarkSummary"]["noResultsCount"], 3);
    assert_eq!(
        json["provenance"]["expectedNodesFrom"],
        serde_json::json!(["nodes", "previous report"])
    );
}

#[test]
fn provenance_records_the_reporter_the_look_back_and_the_rules_applied() {
    let mut d = unobserved_docs();
    d[0].platform = "eks".into();
    d[0].kube_bench_version = "0.10.1".into();
    d[0].benchmarker_version = "0.1.0".into();
    d[0].benchmark_choice = "platform eks 1.29 → eks-1.7.0".into();
    let (r, _) = builder_report(Default::default(), d, |_| {});
    let p = r.provenance.as_ref().unwrap();
    assert_eq!(p.reporter_version, "9.9.9");
    // A one-day window looks back 36 hours from its end (rule 1).
    assert_eq!(p.query_start, t("2026-11-24T12:00:00Z"));
    assert_eq!(p.query_end, t(END));
    assert_eq!(p.cis.high_threshold, 100);
    assert_eq!(p.cis.not_observed_as, NotObservedAs::Info);
    assert!(p.expected_nodes_from.is_empty());
    let n = &r.cis_benchmark[0];
    assert_eq!(n.platform, "eks");
    assert_eq!(n.kube_bench_version, "0.10.1");
    assert_eq!(n.last_result_time, Some(t("2026-11-25T10:00:00Z")));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["provenance"]["cis"]["notObservedAs"], "info");
    assert_eq!(
        json["cisBenchmark"][0]["benchmarkChoice"],
        "platform eks 1.29 → eks-1.7.0"
    );
    let back: ReportDocument = serde_json::from_value(json).unwrap();
    assert_eq!(back, r, "round trip");
}
