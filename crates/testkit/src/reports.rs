//! Whole reports for the tests of readers (the server, the CLI): computed by the real
//! report rules from real kube-bench outputs, or from a synthetic cluster of any size.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use compliance_core::model::{
    BenchmarkDocument, GlobalReportWaiver, ObjectMeta, ReportDocument, TestText, TextInterner,
    WAIVER_KIND, WaiverSpec,
};
use compliance_core::report::{ReportBuilder, ReportRequest, compute_report};

use crate::fixtures::{KUBE_BENCH_OUTPUTS, cis_benchmark_type, daily_report, kube_bench};
use crate::synth::{ClusterShape, cluster};

/// One benchmark document per real kube-bench output, the node named after the file
/// (without `.json`), run an hour before `end`.
pub fn fixture_documents(end: DateTime<Utc>) -> Vec<BenchmarkDocument> {
    let mut interner = TextInterner::default();
    KUBE_BENCH_OUTPUTS
        .iter()
        .map(|name| {
            let run = kube_bench(name, &mut interner);
            BenchmarkDocument {
                version: run.benchmark_version.clone(),
                kubernetes_version: "1.29.3".to_string(),
                kind: "kube".to_string(),
                node_name: name.trim_end_matches(".json").to_string(),
                timestamp: end - Duration::hours(1),
                error: String::new(),
                tests: run.tests,
                cluster: "cluster".to_string(),
                platform: String::new(),
                kube_bench_version: String::new(),
                benchmarker_version: String::new(),
                benchmark_choice: String::new(),
            }
        })
        .collect()
}

/// `daily-cis-results` for the day that ends at `end`, computed from `docs`.
pub fn report_from(docs: Vec<BenchmarkDocument>, end: DateTime<Utc>) -> ReportDocument {
    let report = daily_report();
    let report_type = cis_benchmark_type();
    let request = ReportRequest {
        report: &report,
        report_type: &report_type,
        start: end - Duration::days(1),
        end,
        generation_time: end + Duration::minutes(30),
        cluster: "cluster",
        reporter_version: "test",
    };
    compute_report(request, docs)
        .expect("daily-cis-results is valid")
        .0
}

/// The daily report over the seven real kube-bench outputs, for the day ending at `end`.
pub fn fixture_report(end: DateTime<Utc>) -> ReportDocument {
    report_from(fixture_documents(end), end)
}

/// The fixture report plus what a hostile node could write: a node named like an HTML
/// tag with an event handler, and test texts that close a script element, open a
/// formula, or carry quotes and ampersands. Readers must show all of it as text.
pub fn hostile_report(end: DateTime<Utc>) -> ReportDocument {
    let mut docs = fixture_documents(end);
    let mut evil = docs[3].clone();
    evil.node_name = HOSTILE_NODE.to_string();
    for t in evil.tests.iter_mut().take(3) {
        let mut text: TestText = (*t.text).clone();
        text.test_desc = HOSTILE_TEXT.to_string();
        text.test_info = format!("{HOSTILE_TEXT} & \"quoted\" 'single' =HYPERLINK(\"x\")");
        t.text = Arc::new(text);
    }
    docs.push(evil);
    report_from(docs, end)
}

/// The node name of [`hostile_report`].
pub const HOSTILE_NODE: &str = "<img src=x onerror=alert(1)>";
/// A test description of [`hostile_report`].
pub const HOSTILE_TEXT: &str = "</script><script>alert(2)</script><b>bold?</b>";

/// The fixture report with three waivers, one of each outcome: every failure of
/// [`WAIVED_NODE`] is accepted by `accepted-cp` (ticket SEC-1, expiry in 2027), which
/// rates it HIGH with waivers and MED without; `old-exception` (SEC-2) covered every
/// node's failures of section 4 but expired before the window ended; `typo` (SEC-3)
/// names a test no node fails. For the readers' waiver views.
pub fn waived_fixture_report(end: DateTime<Utc>) -> ReportDocument {
    let waiver = |name: &str, ticket: &str, tests: &[&str], nodes: &[&str], expires: &str| {
        GlobalReportWaiver {
            api_version: "projectcalico.org/v3".to_string(),
            kind: WAIVER_KIND.to_string(),
            metadata: ObjectMeta {
                name: name.to_string(),
                labels: Default::default(),
            },
            spec: WaiverSpec {
                tests: tests.iter().map(|t| t.to_string()).collect(),
                node_names: nodes.iter().map(|n| n.to_string()).collect(),
                reason: format!("{name}: the distribution sets this up itself"),
                owner: "security@example.com".to_string(),
                ticket: ticket.to_string(),
                expires: expires.to_string(),
                ..WaiverSpec::default()
            },
        }
        .compile()
        .expect("a valid waiver")
    };
    let report = daily_report();
    let report_type = cis_benchmark_type();
    let request = ReportRequest {
        report: &report,
        report_type: &report_type,
        start: end - Duration::days(1),
        end,
        generation_time: end + Duration::minutes(30),
        cluster: "cluster",
        reporter_version: "test",
    };
    let mut builder = ReportBuilder::new(request).expect("daily-cis-results is valid");
    builder.set_waivers([
        waiver(
            "accepted-cp",
            "SEC-1",
            &["1", "2", "3", "4", "5"],
            &[WAIVED_NODE],
            "2027-03-31",
        ),
        waiver("old-exception", "SEC-2", &["4"], &[], "2026-01-01"),
        waiver("typo", "SEC-3", &["9.9.9"], &[], "2027-03-31"),
    ]);
    for doc in fixture_documents(end) {
        builder.offer(doc);
    }
    builder.finish().0
}

/// The node of [`waived_fixture_report`] whose failures are all waived.
pub const WAIVED_NODE: &str = "cis-1.23-master-newrelic";

/// A daily report of `nodes` synthetic nodes that all run the checks of a real
/// kube-bench output (cis-1.23, control plane), for scale tests and benchmarks.
pub fn synthetic_report(nodes: usize, end: DateTime<Utc>, seed: u64) -> ReportDocument {
    let mut interner = TextInterner::default();
    let run = kube_bench("cis-1.23-master-newrelic.json", &mut interner);
    let shape = ClusterShape {
        nodes,
        docs_per_node: 1,
        end,
        seed,
    };
    let docs: Vec<BenchmarkDocument> =
        cluster(&shape, &run.tests, &run.benchmark_version).collect();
    report_from(docs, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::t;

    #[test]
    fn the_fixture_report_has_a_node_per_output() {
        let r = fixture_report(t("2026-11-25T00:00:00Z"));
        assert_eq!(r.cis_benchmark.len(), KUBE_BENCH_OUTPUTS.len());
        assert!(r.cis_benchmark.iter().all(|n| !n.results.is_empty()));
        let h = hostile_report(t("2026-11-25T00:00:00Z"));
        assert!(h.cis_benchmark.iter().any(|n| n.node_name == HOSTILE_NODE));
    }

    #[test]
    fn a_synthetic_report_has_the_nodes_asked_for() {
        let r = synthetic_report(300, t("2026-11-25T00:00:00Z"), 7);
        assert_eq!(r.cis_benchmark.len(), 300);
    }
}
