//! Scenarios of the Elasticsearch store that hold for any cluster: run against the fake
//! by `elastic.rs` and against a real Elasticsearch by `elastic_real.rs`.
//!
//! Each scenario gets its own index suffix, so they can share one real cluster and run
//! again without cleanup.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Duration, Utc};
use compliance_core::model::{
    BenchmarkDocument, BenchmarkTest, GlobalReport, GlobalReportType, ReportDocument, TestStatus,
    TestText, time,
};
use compliance_core::report::compute::{ReportBuilder, ReportRequest};
use compliance_store::elastic::config::{ElasticAuth, Secret};
use compliance_store::elastic::{ElasticConfig, ElasticStore, TemplateAction};
use compliance_store::sqlite::{OpenMode, SqliteStore};
use compliance_store::{BenchmarkStore, Datastore, QueryWindow, ReportStore, Store};
use compliance_testkit::fixtures;

pub const START: &str = "2026-11-25T00:00:00Z";
pub const END: &str = "2026-11-26T00:00:00Z";

pub fn t(s: &str) -> DateTime<Utc> {
    time::parse(s).unwrap()
}

/// A fresh index suffix: unique per process and scenario.
pub fn unique_suffix(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        name
    )
}

/// A store config for `url` (which may carry `user:password@`), with quick retries and
/// `extra` settings named by their variables (ELASTIC_PAGE_SIZE=3, ...).
pub fn config(url: &str, suffix: &str, extra: &[(&str, &str)]) -> ElasticConfig {
    let url = url::Url::parse(url).unwrap();
    let auth = (!url.username().is_empty()).then(|| ElasticAuth::Basic {
        user: url.username().to_string(),
        password: Secret::new(url.password().unwrap_or_default()),
    });
    let mut config = ElasticConfig::new(url);
    config.auth = auth;
    config.index_suffix = suffix.to_string();
    config.retries = 3;
    config.retry_delay = std::time::Duration::from_millis(10);
    config.timeout = std::time::Duration::from_secs(30);
    for (name, value) in extra {
        match *name {
            "ELASTIC_PAGE_SIZE" => config.page_size = value.parse().unwrap(),
            "ELASTIC_RETRIES" => config.retries = value.parse().unwrap(),
            "ELASTIC_MAX_REQUEST_BYTES" => {
                let mib = value.strip_suffix("MiB").expect("a size in MiB");
                config.max_request_bytes = mib.parse::<usize>().unwrap() << 20;
            }
            other => panic!("scenarios do not set {other}"),
        }
    }
    config
}

pub fn store(config: &ElasticConfig) -> ElasticStore {
    ElasticStore::connect(config).unwrap()
}

fn texts() -> Vec<Arc<TestText>> {
    let mut out = Vec::new();
    for (section, desc, n) in [
        ("1.1", "Control Plane Node Configuration Files", 4),
        ("1.2", "API Server", 5),
        ("4.2", "Kubelet", 3),
    ] {
        for i in 1..=n {
            let number = format!("{section}.{i}");
            out.push(Arc::new(TestText {
                section: section.into(),
                section_desc: desc.into(),
                test_number: number.clone(),
                test_desc: format!("Ensure that check {number} holds"),
                test_info: format!(
                    "Run the remediation for {number}:\nchmod 600 /etc/kubernetes/{number}"
                ),
            }));
        }
    }
    out
}

/// A node's document: `fails` of its 12 tests FAIL, the rest PASS (one WARN).
pub fn doc(node: &str, at: &str, fails: usize) -> BenchmarkDocument {
    let tests = texts()
        .into_iter()
        .enumerate()
        .map(|(i, text)| BenchmarkTest {
            text,
            status: if i < fails {
                TestStatus::Fail
            } else if i == 11 {
                TestStatus::Warn
            } else {
                TestStatus::Pass
            },
            scored: true,
        })
        .collect();
    BenchmarkDocument {
        version: "cis-1.9".into(),
        kubernetes_version: "1.29.3".into(),
        kind: "kube".into(),
        node_name: node.into(),
        timestamp: t(at),
        error: String::new(),
        tests,
        cluster: "cluster".into(),
    }
}

pub fn errored(node: &str, at: &str) -> BenchmarkDocument {
    BenchmarkDocument {
        error: "kube-bench: cannot find the kubelet binary".into(),
        tests: Vec::new(),
        ..doc(node, at, 0)
    }
}

/// Nodes with the cases of docs/spec.md §4.2: several runs, a failed latest run, only failed
/// runs, a run outside the window, and enough nodes to need several pages.
pub fn cluster_docs() -> Vec<BenchmarkDocument> {
    let mut docs = vec![
        doc("node-a", "2026-11-25T01:00:00Z", 5),
        doc("node-a", "2026-11-25T23:00:00Z", 1),
        doc("node-b", "2026-11-25T10:00:00Z", 0),
        errored("node-b", "2026-11-25T22:00:00Z"),
        errored("node-c", "2026-11-25T05:00:00Z"),
        errored("node-c", "2026-11-25T06:00:00Z"),
        doc("node-d", "2026-11-27T00:00:00Z", 9),
        doc("node-d", "2026-11-24T13:00:00Z", 7),
    ];
    for i in 0..9 {
        docs.push(doc(&format!("node-z{i:02}"), "2026-11-25T12:00:00Z", i % 6));
    }
    docs
}

pub fn window() -> QueryWindow {
    // The 36-hour look-back of a daily report (docs/spec.md §4.1).
    QueryWindow {
        start: t(END) - Duration::hours(36),
        end: t(END),
    }
}

fn report_spec() -> (GlobalReport, GlobalReportType) {
    (fixtures::daily_report(), fixtures::cis_benchmark_type())
}

/// The report the reporter would compute from what `store` hands back.
pub fn compute(store: &dyn Store) -> ReportDocument {
    let (report, report_type) = report_spec();
    let mut builder = ReportBuilder::new(ReportRequest {
        report: &report,
        report_type: &report_type,
        start: t(START),
        end: t(END),
        generation_time: t("2026-11-26T00:30:00Z"),
        cluster: "cluster",
    })
    .unwrap();
    let window = builder.query_window();
    store
        .latest_per_node(&window, &mut |d| builder.offer(d))
        .unwrap();
    builder.finish().0
}

/// The same documents give the same report from Elasticsearch as from SQLite.
pub fn same_report_as_sqlite(config: &ElasticConfig) {
    let mut es = store(config);
    let docs = cluster_docs();
    let stored = es
        .put_benchmarks(&mut docs.clone().into_iter().map(Ok))
        .unwrap();
    assert_eq!(stored, docs.len() as u64);
    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = SqliteStore::open(dir.path().join("c.db"), OpenMode::Create).unwrap();
    sqlite
        .put_benchmarks(&mut docs.into_iter().map(Ok))
        .unwrap();
    let from_es = compute(&es);
    let from_sqlite = compute(&sqlite);
    assert_eq!(from_es, from_sqlite);
    let names: Vec<&str> = from_es
        .cis_benchmark
        .iter()
        .map(|n| n.node_name.as_str())
        .collect();
    assert_eq!(names.len(), 13, "{names:?}");
    let d = from_es
        .cis_benchmark
        .iter()
        .find(|n| n.node_name == "node-d")
        .unwrap();
    assert_eq!(
        d.summary.total_fail, 7,
        "node-d's run after the window is not used"
    );
    let c = from_es
        .cis_benchmark
        .iter()
        .find(|n| n.node_name == "node-c")
        .unwrap();
    assert_eq!(c.error, "kube-bench: cannot find the kubelet binary");
    let b = from_es
        .cis_benchmark
        .iter()
        .find(|n| n.node_name == "node-b")
        .unwrap();
    assert!(
        b.error.is_empty(),
        "node-b keeps its good run over the later failure"
    );
    let a = from_es
        .cis_benchmark
        .iter()
        .find(|n| n.node_name == "node-a")
        .unwrap();
    assert_eq!(a.summary.total_fail, 1, "node-a's latest run");
}

/// Re-importing the same documents replaces them.
pub fn reimport_replaces(config: &ElasticConfig) {
    let mut es = store(config);
    let docs = cluster_docs();
    es.put_benchmarks(&mut docs.clone().into_iter().map(Ok))
        .unwrap();
    es.put_benchmarks(&mut docs.into_iter().map(Ok)).unwrap();
    let mut seen = 0;
    let stats = es.latest_per_node(&window(), &mut |_| seen += 1).unwrap();
    assert_eq!(stats.documents, seen);
    // 12 nodes with good documents in the window + node-b's and node-c's errored ones.
    assert_eq!(seen, 14);
}

/// A cluster without any benchmark index: zero nodes, not an error.
pub fn missing_index_means_no_nodes(config: &ElasticConfig) {
    let es = store(config);
    let stats = es
        .latest_per_node(&window(), &mut |_| panic!("no documents"))
        .unwrap();
    assert_eq!(stats.documents, 0);
    assert!(es.list_reports().unwrap().is_empty());
    assert_eq!(es.get_report("nope").unwrap(), None);
}

/// A report round-trips, re-storing the same window replaces it, and it is listed at once.
pub fn report_round_trip(config: &ElasticConfig) {
    let mut es = store(config);
    es.put_benchmarks(&mut cluster_docs().into_iter().map(Ok))
        .unwrap();
    let report = compute(&es);
    es.put_report(&report).unwrap();
    assert_eq!(es.get_report(&report.id).unwrap().as_ref(), Some(&report));
    let mut again = report.clone();
    again.generation_time = t("2026-11-26T01:00:00Z");
    es.put_report(&again).unwrap();
    let list = es.list_reports().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].id, report.id);
    assert_eq!(list[0].generation_time, again.generation_time);
    assert_eq!(list[0].node_count, 13);
    assert_eq!(es.get_report(&report.id).unwrap(), Some(again));
}

/// A report larger than ELASTIC_MAX_REQUEST_BYTES is stored in parts and read back whole;
/// a later small run of the same window leaves no parts behind.
pub fn large_report_is_split_and_read_back(config_small_limit: &ElasticConfig) -> ReportDocument {
    let mut es = store(config_small_limit);
    es.put_benchmarks(&mut cluster_docs().into_iter().map(Ok))
        .unwrap();
    let mut report = compute(&es);
    // Grow it past 1 MiB with many nodes (each ~6 KB of JSON).
    let template = report.cis_benchmark[0].clone();
    for i in 0..400 {
        let mut n = template.clone();
        n.node_name = format!("big-{i:04}");
        report.cis_benchmark.push(n);
    }
    report
        .cis_benchmark
        .sort_by(|a, b| a.node_name.cmp(&b.node_name));
    assert!(serde_json::to_vec(&report).unwrap().len() > 1 << 20);
    es.put_report(&report).unwrap();
    assert_eq!(es.get_report(&report.id).unwrap().as_ref(), Some(&report));
    let list = es.list_reports().unwrap();
    assert_eq!(list[0].node_count, report.cis_benchmark.len() as u64);
    report
}

/// Setup installs the three templates once, then finds them unchanged.
pub fn setup_is_idempotent(config: &ElasticConfig) {
    let es = store(config);
    let first = es.setup().unwrap();
    assert_eq!(first.templates.len(), 3);
    assert!(first.conflicts.is_empty(), "{:?}", first.conflicts);
    let second = es.setup().unwrap();
    assert!(
        second
            .templates
            .iter()
            .all(|(_, a)| *a == TemplateAction::Unchanged),
        "{:?}",
        second.templates
    );
}

/// Datastore selection and `store::open` work from the environment alone.
pub fn opens_from_env(config: &ElasticConfig) {
    let d = Datastore::Elastic(Box::new(config.clone()));
    let s = compliance_store::open(&d, OpenMode::Existing).unwrap();
    assert!(s.list_reports().unwrap().is_empty());
}
