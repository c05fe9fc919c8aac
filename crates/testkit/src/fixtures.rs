//! The repository's real inputs and the builders every test shares.
//!
//! The seven kube-bench outputs in `tests/fixtures/` (provenance in its SOURCES.md) are the
//! realistic inputs; the builders make the small hand-made documents and reports that
//! tests need, the same way in every crate.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use compliance_core::import::kube_bench::{KubeBenchRun, parse_kube_bench};
use compliance_core::model::global_report::{
    CisBenchmarkParams, GlobalReportSpec, GlobalReportType, ObjectMeta, ResultsFilter,
};
use compliance_core::model::{
    BenchmarkDocument, BenchmarkTest, GlobalReport, TestStatus, TestText, TextInterner,
};
use compliance_core::time;

/// The real kube-bench outputs, by file name.
pub const KUBE_BENCH_OUTPUTS: [&str; 7] = [
    "cis-1.12-node-mogamal.json",
    "cis-1.20-node-apxd.json",
    "cis-1.20-node-oakleysecurity.json",
    "cis-1.23-master-newrelic.json",
    "cis-1.5-node-defectdojo.json",
    "cis-1.6-master-defectdojo.json",
    "eks-1.0-node-valancej.json",
];

/// The output with the most checks (125, control plane), for benchmarks and scale tests.
pub const LARGEST_OUTPUT: &str = "cis-1.23-master-newrelic.json";

/// The start and end of the window most tests report on.
pub const START: &str = "2026-11-25T00:00:00Z";
pub const END: &str = "2026-11-26T00:00:00Z";

/// The workspace root: where `Cargo.toml`, `manifests/` and `examples/` are.
pub fn root() -> &'static Path {
    // This crate lives in `crates/testkit`.
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A file of `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// Reports as Calico Enterprise stored them, one Elasticsearch hit (`_index`, `_id`,
/// `_source`) per file of `tests/fixtures/calico-reports/` (docs/spec.md §5: no `id`,
/// no `cisBenchmark`, `results: null`, no `cluster` / `generated_time`, empty versions,
/// the empty `*Summary` objects).
pub const CALICO_REPORTS: [&str; 3] = [
    "daily-2022.json",
    "hourly-2024-no-nodes.json",
    "weekly-2024-with-id.json",
];

/// One stored Calico report: the index and `_id` it lives under, and its `_source`.
#[derive(Debug, Clone)]
pub struct CalicoReportHit {
    pub file: &'static str,
    pub index: String,
    pub id: String,
    pub source: String,
}

/// The hits of [`CALICO_REPORTS`], in that order.
pub fn calico_report_hits() -> Vec<CalicoReportHit> {
    CALICO_REPORTS
        .iter()
        .map(|&file| {
            let path = fixture(&format!("calico-reports/{file}"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let hit: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            CalicoReportHit {
                file,
                index: hit["_index"].as_str().expect("_index").to_string(),
                id: hit["_id"].as_str().expect("_id").to_string(),
                source: hit["_source"].to_string(),
            }
        })
        .collect()
}

/// Stores every [`calico_report_hits`] document in `fake` under its index and `_id`.
pub fn insert_calico_reports(fake: &crate::fake_es::FakeEs) -> Vec<CalicoReportHit> {
    let hits = calico_report_hits();
    for h in &hits {
        fake.insert_raw(&h.index, &h.id, h.source.clone());
    }
    hits
}

/// A real kube-bench output, parsed, its texts shared through `interner`.
pub fn kube_bench(name: &str, interner: &mut TextInterner) -> KubeBenchRun {
    let path = fixture(name);
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_kube_bench(&path, &bytes, interner)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()))
}

/// An RFC 3339 time (test input is always valid).
pub fn t(s: &str) -> DateTime<Utc> {
    time::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// One test's texts; the section description is `Section <section>`.
pub fn text(section: &str, number: &str, desc: &str, info: &str) -> Arc<TestText> {
    Arc::new(TestText {
        section: section.to_string(),
        section_desc: format!("Section {section}"),
        test_number: number.to_string(),
        test_desc: desc.to_string(),
        test_info: info.to_string(),
    })
}

/// A scored result of `text`.
pub fn result(text: &Arc<TestText>, status: TestStatus) -> BenchmarkTest {
    BenchmarkTest {
        text: Arc::clone(text),
        status,
        scored: true,
    }
}

/// A good document of `node` at `at` (RFC 3339) with these results, for Kubernetes 1.29.3
/// and benchmark cis-1.9 in cluster `cluster`.
pub fn document(node: &str, at: &str, tests: Vec<BenchmarkTest>) -> BenchmarkDocument {
    BenchmarkDocument {
        version: "cis-1.9".to_string(),
        kubernetes_version: "1.29.3".to_string(),
        kind: "kube".to_string(),
        node_name: node.to_string(),
        timestamp: t(at),
        error: String::new(),
        tests,
        cluster: "cluster".to_string(),
        platform: String::new(),
        kube_bench_version: String::new(),
        benchmarker_version: String::new(),
        benchmark_choice: String::new(),
    }
}

/// A failed run of `node` at `at`: no results, only the reason.
pub fn errored(node: &str, at: &str, error: &str) -> BenchmarkDocument {
    BenchmarkDocument {
        error: error.to_string(),
        ..document(node, at, Vec::new())
    }
}

/// `daily-cis-results` exactly as `examples/reports.yaml` declares it (a test in
/// `tests/e2e` holds the two together): daily at midnight, the product's default
/// thresholds, and a filter that drops two checks on 1.13 nodes.
pub fn daily_report() -> GlobalReport {
    GlobalReport {
        api_version: "projectcalico.org/v3".to_string(),
        kind: "GlobalReport".to_string(),
        metadata: ObjectMeta {
            name: "daily-cis-results".to_string(),
            labels: [("deployment".to_string(), "production".to_string())].into(),
        },
        spec: GlobalReportSpec {
            report_type: "cis-benchmark".to_string(),
            schedule: Some("0 0 * * *".to_string()),
            cis: Some(CisBenchmarkParams {
                high_threshold: Some(100),
                med_threshold: Some(50),
                include_unscored_tests: Some(true),
                num_failed_tests: Some(5),
                results_filters: vec![ResultsFilter {
                    benchmark_selection: Some(compliance_core::model::BenchmarkSelection {
                        kubernetes_version: Some("1.13".to_string()),
                    }),
                    include: Vec::new(),
                    exclude: vec!["1.1.4".to_string(), "1.2.5".to_string()],
                }],
                not_observed_as: None,
            }),
            ..GlobalReportSpec::default()
        },
        status: None,
    }
}

/// The built-in `cis-benchmark` report type.
pub fn cis_benchmark_type() -> GlobalReportType {
    GlobalReportType::builtin_cis_benchmark()
}

/// A process's standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A process's standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Polls `done` every 20 ms until it holds; panics naming `what` after `limit`.
///
/// Tests wait for what they need, never for a fixed time: on a loaded machine a sleep
/// that is usually long enough is sometimes not, and then CI fails at random.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
