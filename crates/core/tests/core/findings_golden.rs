//! The CSV files of findings over time (`diff.csv`, `diff-nodes.csv`, `findings.csv`,
//! `waivers.csv`) of a small hand-built sequence, compared with their golden files
//! (`UPDATE_GOLDEN=1` rewrites them, as for the report downloads).

use std::sync::Arc;

use compliance_core::model::{
    CisBenchmarkNode, CisBenchmarkSummary, GlobalReportSpec, GlobalReportType, NodeSummary, Rating,
    ReportDocument, SectionResult, TestResult, TestStatus, TestText, WaiverOutcome, WaiverSpec,
    WaiverState, time,
};
use compliance_core::render;
use compliance_core::report::{Lifecycle, ReportFindings, diff};

use super::render_golden::check_golden;

fn text(number: &str, desc: &str) -> Arc<TestText> {
    let section = number.rsplit_once('.').map_or(number, |(s, _)| s);
    Arc::new(TestText {
        section: section.into(),
        section_desc: format!("Section {section}"),
        test_number: number.into(),
        test_desc: desc.into(),
        test_info: "remediate".into(),
    })
}

/// A node rated `status` (and `without` with no waiver applied) with `tests`:
/// (number, description, status, waiver).
fn node(
    name: &str,
    status: Rating,
    without: Option<Rating>,
    tests: &[(&str, &str, TestStatus, Option<&str>)],
) -> CisBenchmarkNode {
    CisBenchmarkNode {
        node_name: name.into(),
        kubernetes_version: "1.29.3".into(),
        benchmarks_version: "cis-1.9".into(),
        summary: NodeSummary {
            status,
            total_pass: 0,
            total_fail: 0,
            total_info: 0,
            total: 0,
            waived: tests.iter().filter(|t| t.3.is_some()).count() as u64,
            status_without_waivers: without,
        },
        results: vec![SectionResult {
            status,
            section: "1".into(),
            desc: "All".into(),
            pass: 0,
            fail: 0,
            info: 0,
            waived: 0,
            results: tests
                .iter()
                .map(|(n, d, s, w)| TestResult {
                    text: text(n, d),
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

fn report(id: &str, end: &str, nodes: Vec<CisBenchmarkNode>) -> ReportDocument {
    let end = time::parse(end).unwrap();
    ReportDocument {
        id: id.into(),
        report_name: "daily-cis-results".into(),
        report_type_name: "cis-benchmark".into(),
        report_spec: GlobalReportSpec {
            report_type: "cis-benchmark".into(),
            ..Default::default()
        },
        report_type_spec: GlobalReportType::builtin_cis_benchmark().spec,
        start_time: end - chrono::Duration::days(1),
        end_time: end,
        generation_time: end,
        cis_benchmark_summary: CisBenchmarkSummary {
            kind: "kube".into(),
            high_count: 0,
            med_count: 0,
            low_count: 0,
            no_results_count: 0,
            waived_count: 0,
            without_waivers: None,
        },
        cis_benchmark: nodes,
        ui_summary: String::new(),
        cluster: "cluster".into(),
        generated_time: end,
        provenance: None,
        waivers: Vec::new(),
    }
}

const D1112: &str = "Ensure that the etcd data directory ownership is set to etcd:etcd (Automated)";
const D1210: &str = "=HYPERLINK(\"https://attacker.example\",\"Ensure that the admission control plugin EventRateLimit is set, (Manual)\")";
const D411: &str = "Ensure that the kubelet service file permissions are set to 600 or more restrictive (Automated)";
const D426: &str =
    "Ensure that the --make-iptables-util-chains argument is set to true (Automated)";

/// Three daily reports:
/// - day 1: cp-1 fails 1.1.12 (waived by etcd-perms) and 1.2.10; w-1 fails 4.2.6; w-2
///   passes;
/// - day 2: cp-1 passes 1.1.12 and fails 1.2.10; w-1 fails 4.1.1 too; w-2 is gone; w-3
///   arrives failing 4.2.6;
/// - day 3: cp-1 fails 1.1.12 again, unwaived; w-1 has no results; w-3 passes.
fn sequence() -> Vec<ReportDocument> {
    use Rating::{High, Low, Med};
    use TestStatus::{Fail, Pass};
    let mut day1 = report(
        "daily-cis-results_day1",
        "2026-11-02T00:00:00Z",
        vec![
            node(
                "cp-1",
                Med,
                Some(Low),
                &[
                    ("1.1.12", D1112, Fail, Some("etcd-perms")),
                    ("1.2.10", D1210, Fail, None),
                ],
            ),
            node(
                "w-1",
                Med,
                None,
                &[("4.1.1", D411, Pass, None), ("4.2.6", D426, Fail, None)],
            ),
            node("w-2", High, None, &[("4.2.6", D426, Pass, None)]),
        ],
    );
    day1.waivers = vec![WaiverOutcome {
        name: "etcd-perms".into(),
        spec: WaiverSpec {
            tests: vec!["1.1.12".into()],
            reports: vec![],
            node_names: vec!["cp-1".into()],
            node_selector: None,
            reason: "etcd runs as root on this distro, \"by design\"".into(),
            owner: "security@example.com".into(),
            ticket: "-SEC-42".into(),
            expires: "2026-11-02T12:00:00Z".into(),
        },
        state: WaiverState::Applied,
        waived: 1,
        nodes: 1,
        note: String::new(),
    }];
    let day2 = report(
        "daily-cis-results_day2",
        "2026-11-03T00:00:00Z",
        vec![
            node(
                "cp-1",
                Med,
                None,
                &[("1.1.12", D1112, Pass, None), ("1.2.10", D1210, Fail, None)],
            ),
            node(
                "w-1",
                Low,
                None,
                &[("4.1.1", D411, Fail, None), ("4.2.6", D426, Fail, None)],
            ),
            node("w-3", Med, None, &[("4.2.6", D426, Fail, None)]),
        ],
    );
    let mut w1 = node("w-1", Low, None, &[]);
    w1.no_results = true;
    let day3 = report(
        "daily-cis-results_day3",
        "2026-11-04T00:00:00Z",
        vec![
            node(
                "cp-1",
                Low,
                None,
                &[("1.1.12", D1112, Fail, None), ("1.2.10", D1210, Fail, None)],
            ),
            w1,
            node("w-3", High, None, &[("4.2.6", D426, Pass, None)]),
        ],
    );
    vec![day1, day2, day3]
}

fn rendered(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut buf = Vec::new();
    f(&mut buf);
    String::from_utf8(buf).unwrap()
}

#[test]
fn findings_files_match_golden_files() {
    let days = sequence();
    let found: Vec<ReportFindings> = days.iter().map(ReportFindings::of_report).collect();
    let d = diff(&found[0], &found[1]);
    check_golden(
        "diff.csv",
        &rendered(|b| render::write_diff_csv(&d, b).unwrap()),
    );
    check_golden(
        "diff-nodes.csv",
        &rendered(|b| render::write_diff_nodes_csv(&d, b).unwrap()),
    );
    let mut l = Lifecycle::new();
    for f in &found {
        l.observe(f).unwrap();
    }
    check_golden(
        "findings.csv",
        &rendered(|b| render::write_findings_csv(&l.findings(), b).unwrap()),
    );
    check_golden(
        "waivers.csv",
        &rendered(|b| render::write_waivers_csv(&days[0], b).unwrap()),
    );
}

#[test]
fn the_waivers_file_streamed_by_pages_equals_the_whole() {
    let days = sequence();
    let whole = rendered(|b| render::write_waivers_csv(&days[0], b).unwrap());
    let paged = rendered(|b| {
        let mut out = render::WaiversCsv::new(&days[0].waivers, b).unwrap();
        for page in days[0].cis_benchmark.chunks(1) {
            out.nodes(page).unwrap();
        }
        out.finish().unwrap();
    });
    assert_eq!(paged, whole);
}
