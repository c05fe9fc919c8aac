//! The report core over structured input: a GlobalReport's `cis` values, documents of
//! several nodes (errored ones, repeats, tests in any order and status), expected nodes,
//! last-result times and waivers, through `ReportBuilder`; then Top Failed Tests and
//! every CSV download.
//!
//! Checked (docs/spec.md §4): never panics; per node and section, pass, fail, info and
//! waived count each included result by its status, total = pass + fail, and the rating
//! is `rating(pass, total, params)`; an errored or result-less node is LOW with nothing
//! counted; the summary's HIGH/MED/LOW counts add up to the nodes and its waived count
//! to theirs; nodes are ordered by name, each once, and they are exactly the nodes with
//! a document in the look-back plus the expected ones; sections and tests are in dotted
//! order; the same documents offered in reverse give the same report; Top Failed Tests
//! holds at most `numFailedTests` entries, counts nodes with an unwaived failure, and is
//! ordered by count then dotted number; every CSV parses back with its header's column
//! count, one row per node or result where it has one.
#![no_main]

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arbitrary::Arbitrary;
use chrono::{DateTime, Duration, TimeZone, Utc};
use compliance_core::model::global_report::API_VERSION;
use compliance_core::model::{
    BenchmarkDocument, BenchmarkSelection, BenchmarkTest, CLUSTER_SCOPE_NODE_NAME,
    CisBenchmarkParams, GlobalReport, GlobalReportSpec, GlobalReportType, GlobalReportWaiver,
    ObjectMeta, Rating, ResultsFilter, TestStatus, TestText, WAIVER_KIND, WaiverSpec,
};
use compliance_core::order::cmp_dotted;
use compliance_core::render::{
    write_all_tests, write_failed_tests, write_node_provenance, write_node_summary,
    write_total_summary,
};
use compliance_core::report::compute::rating;
use compliance_core::report::{
    Counted, ReportBuilder, ReportRequest, counted_as, top_failed_tests,
};
use libfuzzer_sys::fuzz_target;

const NODES: &[&str] = &[
    "node-a",
    "node-b",
    "Node-C",
    "node-10",
    "node-9",
    "ñode",
    CLUSTER_SCOPE_NODE_NAME,
    " ",
];
const NUMBERS: &[&str] = &[
    "1.1.1",
    "1.1.2",
    "1.1.10",
    "1.1.9",
    "1.2.1",
    "1.2",
    "1",
    "2.1.1",
    "4.2.6",
    "5.1.1",
    "1.2.a",
    "a",
    "",
    "1..2",
    "01.1",
    "18446744073709551616.1",
];
const SECTIONS: &[&str] = &["1.1", "1.2", "1", "2.1", "4.2", "5", "", "x"];
const VERSIONS: &[&str] = &["1.29", "v1.29.3", "1.30.0", "", "none", "1.2.3.4"];
const REPORTS: &[&str] = &["daily-cis-results", "other"];

#[derive(Debug, Arbitrary)]
struct Input {
    high: Option<i8>,
    med: Option<i8>,
    include_unscored: Option<bool>,
    num_failed: Option<i8>,
    not_observed: u8,
    filters: Vec<Filter>,
    docs: Vec<Doc>,
    expected: Vec<u8>,
    last_results: Vec<(u8, i16)>,
    waivers: Vec<Waiver>,
}

#[derive(Debug, Arbitrary)]
struct Filter {
    version: Option<u8>,
    include: Vec<u8>,
    exclude: Vec<u8>,
}

#[derive(Debug, Arbitrary)]
struct Doc {
    node: u8,
    /// Minutes from the end of the window.
    minutes: i16,
    error: bool,
    version: u8,
    tests: Vec<Test>,
}

#[derive(Debug, Arbitrary)]
struct Test {
    number: u8,
    section: u8,
    status: u8,
    scored: bool,
}

#[derive(Debug, Arbitrary)]
struct Waiver {
    name: u8,
    tests: Vec<u8>,
    reports: Vec<u8>,
    nodes: Vec<u8>,
    /// Days from the end of the window.
    expires: i8,
}

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[i as usize % list.len()]
}

fn status(i: u8) -> TestStatus {
    match i % 6 {
        0 => TestStatus::Pass,
        1 => TestStatus::Fail,
        2 => TestStatus::Warn,
        3 => TestStatus::Info,
        4 => TestStatus::NotObserved,
        _ => TestStatus::Other(Arc::from("SKIPPED")),
    }
}

fuzz_target!(|input: Input| {
    let start = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
    let report = GlobalReport {
        api_version: API_VERSION.to_string(),
        kind: "GlobalReport".to_string(),
        metadata: ObjectMeta {
            name: REPORTS[0].to_string(),
            labels: Default::default(),
        },
        spec: GlobalReportSpec {
            report_type: "cis-benchmark".to_string(),
            schedule: Some("0 0 * * *".to_string()),
            cis: Some(CisBenchmarkParams {
                high_threshold: input.high.map(i64::from),
                med_threshold: input.med.map(i64::from),
                include_unscored_tests: input.include_unscored,
                num_failed_tests: input.num_failed.map(i64::from),
                results_filters: input
                    .filters
                    .iter()
                    .map(|f| ResultsFilter {
                        benchmark_selection: f.version.map(|v| BenchmarkSelection {
                            kubernetes_version: Some(pick(VERSIONS, v).to_string()),
                        }),
                        include: f
                            .include
                            .iter()
                            .map(|i| pick(NUMBERS, *i).to_string())
                            .collect(),
                        exclude: f
                            .exclude
                            .iter()
                            .map(|i| pick(SECTIONS, *i).to_string())
                            .collect(),
                    })
                    .collect(),
                not_observed_as: match input.not_observed % 5 {
                    0 => None,
                    1 => Some("info".into()),
                    2 => Some("fail".into()),
                    3 => Some("pass".into()),
                    _ => Some("maybe".into()),
                },
            }),
            ..Default::default()
        },
        status: None,
    };
    let report_type = GlobalReportType::builtin_cis_benchmark();
    let request = ReportRequest {
        report: &report,
        report_type: &report_type,
        start,
        end,
        generation_time: end + Duration::minutes(31),
        cluster: "cluster",
        reporter_version: "fuzz",
    };
    let params = report.spec.cis_params();
    let Ok(mut builder) = ReportBuilder::new(request.clone()) else {
        assert!(params.is_err(), "the builder refused valid cis values");
        return;
    };
    let params = params.expect("the builder accepted the cis values");
    let docs: Vec<BenchmarkDocument> = input.docs.iter().map(|d| document(d, end)).collect();
    let waivers: Vec<_> = input
        .waivers
        .iter()
        .filter_map(|w| waiver(w, end).compile().ok())
        .collect();
    let window = builder.query_window();

    let mut expected_names = BTreeSet::new();
    let build = |builder: &mut ReportBuilder, docs: &mut dyn Iterator<Item = BenchmarkDocument>| {
        builder.set_waivers(waivers.clone());
        builder.expect_nodes("nodes", input.expected.iter().map(|i| pick(NODES, *i)));
        for (node, minutes) in &input.last_results {
            builder.set_last_result(
                pick(NODES, *node),
                end - Duration::days(2) + Duration::minutes((*minutes).into()),
            );
        }
        for d in docs {
            builder.offer(d);
        }
    };
    build(&mut builder, &mut docs.clone().into_iter());
    let (doc, _stats) = builder.finish();
    let mut again = ReportBuilder::new(request).expect("valid cis values");
    build(&mut again, &mut docs.clone().into_iter().rev());
    let (reversed, _) = again.finish();
    assert_eq!(
        doc, reversed,
        "the report depends on the order of the documents"
    );

    for i in &input.expected {
        let n = pick(NODES, *i);
        if !n.trim().is_empty() && n != CLUSTER_SCOPE_NODE_NAME {
            expected_names.insert(n.to_string());
        }
    }
    let mut names: BTreeSet<String> = docs
        .iter()
        .filter(|d| window.contains(d.timestamp))
        .map(|d| d.node_name.clone())
        .collect();
    names.extend(expected_names);
    let got: Vec<&str> = doc
        .cis_benchmark
        .iter()
        .map(|n| n.node_name.as_str())
        .collect();
    assert!(
        got.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()),
        "node order {got:?}"
    );
    assert_eq!(got, names.iter().map(String::as_str).collect::<Vec<_>>());

    let s = &doc.cis_benchmark_summary;
    let mut ratings = [0u64; 3];
    let mut waived = 0;
    let mut no_results = 0;
    for node in &doc.cis_benchmark {
        let n = &node.summary;
        ratings[match n.status {
            Rating::High => 0,
            Rating::Med => 1,
            Rating::Low => 2,
        }] += 1;
        waived += n.waived;
        no_results += u64::from(node.no_results);
        assert_eq!(n.total, n.total_pass + n.total_fail, "{}", node.node_name);
        if node.no_results || !node.error.is_empty() {
            // Rated LOW whatever the thresholds (docs/spec.md §4.2), even medThreshold 0.
            assert!(node.results.is_empty() && n.total == 0 && n.total_info == 0 && n.waived == 0);
            assert_eq!(n.status, Rating::Low);
        } else {
            assert_eq!(
                n.status,
                rating(n.total_pass, n.total, &params),
                "{}",
                node.node_name
            );
            assert_eq!(
                n.status_without_waivers,
                (n.waived > 0).then(|| rating(n.total_pass, n.total + n.waived, &params))
            );
        }
        let sections: Vec<&str> = node.results.iter().map(|s| s.section.as_str()).collect();
        assert!(
            sections.windows(2).all(|w| cmp_dotted(w[0], w[1]).is_le()),
            "section order {sections:?}"
        );
        let mut sum = [0u64; 4];
        let mut numbers = BTreeSet::new();
        for section in &node.results {
            let mut c = [0u64; 4];
            for t in &section.results {
                assert!(
                    numbers.insert(t.text.test_number.clone()),
                    "a test twice on a node"
                );
                match (counted_as(&t.status, params.not_observed_as), &t.waiver) {
                    (Counted::Pass, None) => c[0] += 1,
                    (Counted::Fail, None) => c[1] += 1,
                    (Counted::Info, None) => c[2] += 1,
                    (Counted::Fail, Some(_)) => c[3] += 1,
                    (Counted::Nowhere, None) => {}
                    (other, Some(w)) => panic!("{other:?} waived by {w}"),
                }
            }
            assert_eq!(
                c,
                [section.pass, section.fail, section.info, section.waived],
                "section {} of {}",
                section.section,
                node.node_name
            );
            assert_eq!(
                section.status,
                rating(section.pass, section.pass + section.fail, &params)
            );
            let tests: Vec<&str> = section
                .results
                .iter()
                .map(|t| t.text.test_number.as_str())
                .collect();
            assert!(
                tests.windows(2).all(|w| cmp_dotted(w[0], w[1]).is_le()),
                "{tests:?}"
            );
            for i in 0..4 {
                sum[i] += c[i];
            }
        }
        assert_eq!(
            sum,
            [n.total_pass, n.total_fail, n.total_info, n.waived],
            "{}",
            node.node_name
        );
    }
    assert_eq!(ratings, [s.high_count, s.med_count, s.low_count]);
    assert_eq!(waived, s.waived_count);
    assert_eq!(no_results, s.no_results_count);
    serde_json::from_str::<serde_json::Value>(&doc.ui_summary).expect("the UI summary is JSON");

    let top = top_failed_tests(
        &doc.cis_benchmark,
        params.num_failed_tests,
        params.not_observed_as,
    );
    assert!(top.len() <= params.num_failed_tests);
    let mut failed: HashMap<&str, u64> = HashMap::new();
    for node in &doc.cis_benchmark {
        for t in node.results.iter().flat_map(|s| &s.results) {
            if t.waiver.is_none() && counted_as(&t.status, params.not_observed_as) == Counted::Fail
            {
                *failed.entry(t.text.test_number.as_str()).or_default() += 1;
            }
        }
    }
    assert_eq!(top.len(), failed.len().min(params.num_failed_tests));
    for t in &top {
        assert_eq!(Some(&t.failed_count), failed.get(t.index.as_str()), "{t:?}");
    }
    assert!(
        top.windows(2).all(|w| w[0].failed_count > w[1].failed_count
            || (w[0].failed_count == w[1].failed_count
                && cmp_dotted(&w[0].index, &w[1].index).is_lt())),
        "{top:?}"
    );

    let results: usize = doc
        .cis_benchmark
        .iter()
        .flat_map(|n| &n.results)
        .map(|s| s.results.len())
        .sum();
    let nodes = doc.cis_benchmark.len();
    let csv = |write: &dyn Fn(&mut Vec<u8>)| -> usize {
        let mut out = Vec::new();
        write(&mut out);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(out.as_slice());
        let columns = reader.headers().expect("a header").len();
        let mut rows = 0;
        for record in reader.records() {
            let record = record.expect("a CSV record");
            assert_eq!(record.len(), columns, "{record:?}");
            rows += 1;
        }
        rows
    };
    assert_eq!(csv(&|w| write_total_summary(&doc, w).expect("written")), 1);
    assert_eq!(
        csv(&|w| write_node_summary(&doc, w).expect("written")),
        nodes
    );
    assert_eq!(
        csv(&|w| write_node_provenance(&doc, w).expect("written")),
        nodes
    );
    assert_eq!(
        csv(&|w| write_all_tests(&doc, w).expect("written")),
        results
    );
    assert!(csv(&|w| write_failed_tests(&doc, w).expect("written")) <= results);
});

fn document(d: &Doc, end: DateTime<Utc>) -> BenchmarkDocument {
    BenchmarkDocument {
        version: "cis-1.8".to_string(),
        kubernetes_version: pick(VERSIONS, d.version).to_string(),
        kind: "kube".to_string(),
        node_name: pick(NODES, d.node).to_string(),
        timestamp: end + Duration::minutes(d.minutes.into()),
        error: if d.error {
            "kube-bench failed".to_string()
        } else {
            String::new()
        },
        tests: d
            .tests
            .iter()
            .map(|t| BenchmarkTest {
                text: Arc::new(TestText {
                    section: pick(SECTIONS, t.section).to_string(),
                    section_desc: "section".to_string(),
                    test_number: pick(NUMBERS, t.number).to_string(),
                    test_desc: format!("test {}", t.number),
                    test_info: "=cmd|' /C calc'!A0".to_string(),
                }),
                status: status(t.status),
                scored: t.scored,
            })
            .collect(),
        cluster: "cluster".to_string(),
        platform: String::new(),
        kube_bench_version: String::new(),
        benchmarker_version: String::new(),
        benchmark_choice: String::new(),
    }
}

fn waiver(w: &Waiver, end: DateTime<Utc>) -> GlobalReportWaiver {
    GlobalReportWaiver {
        api_version: API_VERSION.to_string(),
        kind: WAIVER_KIND.to_string(),
        metadata: ObjectMeta {
            name: format!("waiver-{}", w.name % 4),
            labels: Default::default(),
        },
        spec: WaiverSpec {
            tests: w
                .tests
                .iter()
                .map(|i| pick(NUMBERS, *i).to_string())
                .collect(),
            reports: w
                .reports
                .iter()
                .map(|i| pick(REPORTS, *i).to_string())
                .collect(),
            node_names: w
                .nodes
                .iter()
                .map(|i| pick(NODES, *i).to_string())
                .collect(),
            node_selector: None,
            reason: "accepted".to_string(),
            owner: "security".to_string(),
            ticket: String::new(),
            expires: compliance_core::time::format(&(end + Duration::days(w.expires.into()))),
        },
    }
}
