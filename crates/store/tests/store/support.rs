//! What the store tests share: documents and reports with the awkward cases in them,
//! Elasticsearch configurations, and the report a reporter would compute.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Duration, Utc};
use compliance_core::model::{
    AppliedCisParams, BenchmarkDocument, BenchmarkSelection, BenchmarkTest, CisBenchmarkNode,
    CisBenchmarkParams, CisBenchmarkSummary, CompiledWaiver, GlobalReport, GlobalReportSpec,
    GlobalReportType, GlobalReportWaiver, NodeSummary, NotObservedAs, Provenance, Rating,
    RatingCounts, ReportDocument, ResultsFilter, SectionResult, TestResult, TestStatus, TestText,
    WaiverState, time,
};
use compliance_core::report::compute::{ReportBuilder, ReportRequest};
use compliance_store::elastic::config::{ElasticAuth, Secret};
use compliance_store::elastic::{ElasticConfig, ElasticStore};
use compliance_store::{BlockingStore, QueryWindow, Store};
use compliance_testkit::fixtures;

pub const START: &str = "2026-11-25T00:00:00Z";
pub const END: &str = "2026-11-26T00:00:00Z";

pub fn t(s: &str) -> DateTime<Utc> {
    time::parse(s).unwrap()
}

/// A fresh index suffix: unique per process and test, so tests can share one real
/// cluster and run again without cleanup.
pub fn unique_suffix(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "t{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
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
            other => panic!("the tests do not set {other}"),
        }
    }
    config
}

/// The Elasticsearch store of `config`, synchronous.
pub fn blocking(config: &ElasticConfig) -> BlockingStore {
    BlockingStore::new(ElasticStore::connect(config).unwrap().into()).unwrap()
}

/// The Elasticsearch backend of a blocking store.
pub fn es_of(store: &BlockingStore) -> &ElasticStore {
    store.store().elastic().expect("an Elasticsearch store")
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
        platform: "eks".into(),
        kube_bench_version: "0.10.1".into(),
        benchmarker_version: "1.4.0".into(),
        benchmark_choice: "platform eks 1.29 → eks-1.5.0".into(),
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

/// The 36-hour look-back of a daily report (docs/spec.md §4.1).
pub fn window() -> QueryWindow {
    QueryWindow {
        start: t(END) - Duration::hours(36),
        end: t(END),
    }
}

fn builder_for<'a>(
    report: &'a GlobalReport,
    report_type: &'a GlobalReportType,
) -> ReportBuilder<'a> {
    ReportBuilder::new(ReportRequest {
        report,
        report_type,
        start: t(START),
        end: t(END),
        generation_time: t("2026-11-26T00:30:00Z"),
        cluster: "cluster",
        reporter_version: "test",
    })
    .unwrap()
}

/// The report the reporter would compute from what `store` hands back.
pub async fn compute(store: &Store) -> ReportDocument {
    let (report, report_type) = (fixtures::daily_report(), fixtures::cis_benchmark_type());
    let mut builder = builder_for(&report, &report_type);
    let window = builder.query_window();
    store
        .latest_per_node(&window, |d| builder.offer(d))
        .await
        .unwrap();
    builder.finish().0
}

/// The report computed from `docs` by the rules themselves: every document of the window
/// offered, the report core choosing (the stores only narrow what it is offered).
pub fn compute_from(docs: &[BenchmarkDocument]) -> ReportDocument {
    let (report, report_type) = (fixtures::daily_report(), fixtures::cis_benchmark_type());
    let mut builder = builder_for(&report, &report_type);
    let window = builder.query_window();
    for d in docs.iter().filter(|d| window.contains(d.timestamp)) {
        builder.offer(d.clone());
    }
    builder.finish().0
}

/// The waivers of [`waived_report`]: `etcd-perms` (1.1.1 on every node) and `gpu-api`
/// (section 1.2 on nodes labelled `pool: gpu`) in force, `old-kubelet` (1.1.2) expired
/// before the window ends, and `stale` (4.2.9, a test no node has) in force but covering
/// nothing.
pub fn waivers() -> Vec<CompiledWaiver> {
    let waiver = |name: &str, spec: serde_json::Value| {
        let w: GlobalReportWaiver = serde_json::from_value(serde_json::json!({
            "apiVersion": "projectcalico.org/v3",
            "kind": "GlobalReportWaiver",
            "metadata": {"name": name},
            "spec": spec,
        }))
        .unwrap();
        w.compile().unwrap()
    };
    vec![
        waiver(
            "etcd-perms",
            serde_json::json!({
                "tests": ["1.1.1"],
                "reason": "etcd runs as root on this distribution — accepted ✓",
                "owner": "security@example.com",
                "ticket": "SEC-42",
                "expires": "2027-03-31",
            }),
        ),
        waiver(
            "gpu-api",
            serde_json::json!({
                "tests": ["1.2"],
                "reports": ["daily-cis-results"],
                "nodeNames": ["node-z03"],
                "nodeSelector": {
                    "matchLabels": {"pool": "gpu"},
                    "matchExpressions": [
                        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["eu-1a", "eu-1b"]},
                        {"key": "spot", "operator": "DoesNotExist"},
                    ],
                },
                "reason": "the GPU operator needs an open API server flag",
                "owner": "ml-platform",
                "expires": "2027-01-01T12:30:00Z",
            }),
        ),
        waiver(
            "old-kubelet",
            serde_json::json!({
                "tests": ["1.1.2"],
                "reason": "kubelet upgrade pending",
                "owner": "ops",
                "ticket": "https://tickets.example.com/OPS-7",
                "expires": "2026-11-20",
            }),
        ),
        waiver(
            "stale",
            serde_json::json!({
                "tests": ["4.2.9"],
                "reason": "a check this benchmark no longer has",
                "owner": "ops",
                "expires": "2030-01-01",
            }),
        ),
    ]
}

/// The report the reporter computes from [`cluster_docs`] with [`waivers`]: failures
/// waived on several nodes (ratings with and without waivers differ), an `applied`, an
/// `expired` and a `matchedNothing` waiver outcome. Checked to have each, so that a
/// change of the report core cannot quietly make the round trips below test less.
pub fn waived_report() -> ReportDocument {
    let (report, report_type) = (fixtures::daily_report(), fixtures::cis_benchmark_type());
    let mut builder = builder_for(&report, &report_type);
    builder.set_waivers(waivers());
    let gpu = |zone: &str| -> BTreeMap<String, String> {
        [("pool", "gpu"), ("topology.kubernetes.io/zone", zone)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    builder.set_node_labels(
        [
            ("node-d".to_string(), gpu("eu-1a")),
            ("node-z04".to_string(), gpu("eu-1b")),
            ("node-z05".to_string(), gpu("eu-1c")),
        ]
        .into(),
    );
    let window = builder.query_window();
    for d in cluster_docs()
        .into_iter()
        .filter(|d| window.contains(d.timestamp))
    {
        builder.offer(d);
    }
    let r = builder.finish().0;
    let s = &r.cis_benchmark_summary;
    assert!(s.waived_count > 0 && s.without_waivers.is_some(), "{s:?}");
    let states: Vec<WaiverState> = r.waivers.iter().map(|w| w.state).collect();
    for state in [
        WaiverState::Applied,
        WaiverState::Expired,
        WaiverState::MatchedNothing,
    ] {
        assert!(states.contains(&state), "{state:?} missing from {states:?}");
    }
    let waived_tests: Vec<&str> = r
        .cis_benchmark
        .iter()
        .flat_map(|n| &n.results)
        .flat_map(|s| &s.results)
        .filter_map(|t| t.waiver.as_deref())
        .collect();
    assert!(waived_tests.contains(&"etcd-perms") && waived_tests.contains(&"gpu-api"));
    assert!(
        r.cis_benchmark
            .iter()
            .any(|n| n.summary.status_without_waivers.is_some()
                && n.summary.status_without_waivers != Some(n.summary.status))
    );
    assert!(
        r.cis_benchmark
            .iter()
            .flat_map(|n| &n.results)
            .any(|s| s.waived > 0)
    );
    r
}

/// [`large_report`] with waivers: on every other node its first test, when a FAIL,
/// accepted by `etcd-perms` (the rating unchanged by it), and the outcomes of
/// [`waived_report`]. Large enough to be split into
/// parts on Elasticsearch.
pub fn large_waived_report(name: &str, end: &str, nodes: usize) -> ReportDocument {
    let mut r = large_report(name, end, nodes);
    let mut waived = 0;
    for n in r.cis_benchmark.iter_mut().step_by(2) {
        let Some(section) = n.results.first_mut() else {
            continue;
        };
        let Some(test) = section.results.first_mut() else {
            continue;
        };
        if test.status != TestStatus::Fail {
            continue;
        }
        test.waiver = Some(Arc::from("etcd-perms"));
        section.fail -= 1;
        section.waived += 1;
        n.summary.total_fail -= 1;
        n.summary.waived += 1;
        n.summary.status_without_waivers = Some(n.summary.status);
        waived += 1;
    }
    r.cis_benchmark_summary.waived_count = waived;
    r.cis_benchmark_summary.without_waivers = Some(RatingCounts {
        high_count: r.cis_benchmark_summary.high_count,
        med_count: r.cis_benchmark_summary.med_count,
        low_count: r.cis_benchmark_summary.low_count,
    });
    r.waivers = waived_report().waivers;
    r
}

/// The same computation over a blocking store.
pub fn compute_blocking(store: &BlockingStore) -> ReportDocument {
    store.block_on(compute(store.store()))
}

fn section(
    texts: &[Arc<TestText>],
    name: &str,
    status: Rating,
    tests: &[(usize, TestStatus, bool)],
) -> SectionResult {
    let results: Vec<TestResult> = tests
        .iter()
        .map(|(i, status, scored)| TestResult {
            text: texts[*i].clone(),
            status: status.clone(),
            scored: *scored,
            waiver: None,
        })
        .collect();
    let desc = results.first().map_or_else(
        || "Empty section".to_string(),
        |t| t.text.section_desc.clone(),
    );
    SectionResult {
        status,
        section: name.into(),
        desc,
        pass: tests.iter().filter(|t| t.1 == TestStatus::Pass).count() as u64,
        fail: tests.iter().filter(|t| t.1 == TestStatus::Fail).count() as u64,
        info: tests
            .iter()
            .filter(|t| matches!(t.1, TestStatus::Warn | TestStatus::Info))
            .count() as u64,
        results,
        waived: 0,
    }
}

/// A report with the awkward cases: an errored node, a node without sections, a section
/// without tests, odd statuses, unicode and counts beyond 32 bits. Times are whole
/// seconds, as reports carry them (Elasticsearch keeps no more), and each section's
/// description is its tests' (the JSON of docs/spec.md §5 keeps it once per section).
pub fn report(name: &str, end: &str) -> ReportDocument {
    let texts = texts();
    let end = t(end);
    let spec = GlobalReportSpec {
        report_type: "cis-benchmark".into(),
        schedule: Some("0 0 * * *".into()),
        job_node_selector: [("pool".to_string(), "système".to_string())].into(),
        suspend: Some(false),
        cis: Some(CisBenchmarkParams {
            high_threshold: Some(90),
            med_threshold: Some(50),
            include_unscored_tests: Some(false),
            num_failed_tests: Some(3),
            results_filters: vec![ResultsFilter {
                benchmark_selection: Some(BenchmarkSelection {
                    kubernetes_version: Some("1.29".into()),
                }),
                include: vec!["1.1.1".into()],
                exclude: vec!["1.2".into()],
            }],
            not_observed_as: None,
        }),
    };
    let odd = section(
        &texts,
        "1.2",
        Rating::Med,
        &[
            (4, TestStatus::Pass, true),
            (5, TestStatus::Other(Arc::from("SKIP")), true),
            (6, TestStatus::Other(Arc::from("ÉCHEC ✗")), false),
        ],
    );
    let mut unicode_text = (*texts[0]).clone();
    unicode_text.test_info =
        "chmod 600 /etc/kubernetes/manifests/kube-apiserver.yaml → ✓ 完了".into();
    let mut first = section(
        &texts,
        "1.1",
        Rating::Low,
        &[
            (0, TestStatus::Fail, true),
            (1, TestStatus::Warn, false),
            (2, TestStatus::Info, true),
        ],
    );
    first.results[0].text = Arc::new(unicode_text);
    ReportDocument {
        id: format!("{name}_cis-benchmark_{}", time::format(&end)),
        report_name: name.into(),
        report_type_name: "cis-benchmark".into(),
        report_spec: spec,
        report_type_spec: GlobalReportType::builtin_cis_benchmark().spec,
        start_time: end - Duration::days(1),
        end_time: end,
        generation_time: end + Duration::minutes(30),
        cis_benchmark_summary: CisBenchmarkSummary {
            kind: "kube".into(),
            high_count: 1,
            med_count: 0,
            low_count: 3,
            no_results_count: 1,
            waived_count: 0,
            without_waivers: None,
        },
        cis_benchmark: vec![
            CisBenchmarkNode {
                node_name: "ip-10-0-1-7".into(),
                kubernetes_version: "1.29.3".into(),
                benchmarks_version: "cis-1.9".into(),
                summary: NodeSummary {
                    status: Rating::Low,
                    total_pass: 1,
                    total_fail: 1,
                    total_info: 2,
                    total: 2,
                    waived: 0,
                    status_without_waivers: None,
                },
                results: vec![
                    first,
                    odd,
                    section(&texts, "5.9", Rating::High, &[]),
                    section(&texts, "4.2", Rating::High, &[(10, TestStatus::Pass, true)]),
                ],
                error: String::new(),
                no_results: false,
                last_result_time: Some(end - Duration::hours(2)),
                platform: "eks".into(),
                kube_bench_version: "0.10.1".into(),
                benchmarker_version: "1.4.0".into(),
                benchmark_choice: "platform eks 1.29 → eks-1.5.0 \"fallback\"".into(),
            },
            CisBenchmarkNode {
                node_name: "ip-10-0-1-8".into(),
                kubernetes_version: String::new(),
                benchmarks_version: String::new(),
                summary: NodeSummary {
                    status: Rating::Low,
                    total_pass: 0,
                    total_fail: 0,
                    total_info: 0,
                    total: 0,
                    waived: 0,
                    status_without_waivers: None,
                },
                results: Vec::new(),
                error: "kubelet not found: exec: \"kubelet\": executable file not found".into(),
                no_results: false,
                last_result_time: None,
                platform: String::new(),
                kube_bench_version: String::new(),
                benchmarker_version: String::new(),
                benchmark_choice: String::new(),
            },
            CisBenchmarkNode {
                node_name: "nœud-3".into(),
                kubernetes_version: "v1.29.3".into(),
                benchmarks_version: "cis-1.9".into(),
                summary: NodeSummary {
                    status: Rating::High,
                    total_pass: u64::from(u32::MAX) + 7,
                    total_fail: 0,
                    total_info: 0,
                    total: u64::from(u32::MAX) + 7,
                    waived: 0,
                    status_without_waivers: None,
                },
                results: vec![section(
                    &texts,
                    "1.1",
                    Rating::High,
                    &[(0, TestStatus::Pass, true)],
                )],
                error: String::new(),
                no_results: false,
                last_result_time: None,
                platform: String::new(),
                kube_bench_version: String::new(),
                benchmarker_version: String::new(),
                benchmark_choice: String::new(),
            },
            // Expected but silent in the look-back: LOW, nothing counted, and when its
            // last result was (provenance of that result left empty).
            CisBenchmarkNode {
                node_name: "zz-silent".into(),
                kubernetes_version: String::new(),
                benchmarks_version: String::new(),
                summary: NodeSummary {
                    status: Rating::Low,
                    total_pass: 0,
                    total_fail: 0,
                    total_info: 0,
                    total: 0,
                    waived: 0,
                    status_without_waivers: None,
                },
                results: Vec::new(),
                error: String::new(),
                no_results: true,
                last_result_time: Some(end - Duration::days(4)),
                platform: String::new(),
                kube_bench_version: String::new(),
                benchmarker_version: "1.3.9".into(),
                benchmark_choice: String::new(),
            },
        ],
        ui_summary: r#"{"heading":"Kubernetes CIS Benchmark","type":"row","widgets":[]}"#.into(),
        cluster: "prod-eu".into(),
        generated_time: end + Duration::minutes(31),
        provenance: Some(Provenance {
            reporter_version: "1.4.0-rc.1".into(),
            query_start: end - Duration::hours(36),
            query_end: end,
            cis: AppliedCisParams {
                high_threshold: 90,
                med_threshold: 50,
                include_unscored_tests: false,
                num_failed_tests: 3,
                not_observed_as: NotObservedAs::Fail,
            },
            expected_nodes_from: vec!["nodes".into(), "previous report".into()],
        }),
        waivers: Vec::new(),
    }
}

/// How many nodes [`large_report`] needs to pass 1 MiB of JSON, the request limit the
/// Elasticsearch tests set to have reports split into parts: a few more than fill it.
pub fn nodes_over_one_mib() -> usize {
    let node = serde_json::to_vec(&report("size", END).cis_benchmark[0]).unwrap();
    (1 << 20) / node.len() + 20
}

/// `report` grown to `nodes` nodes, in node order.
pub fn large_report(name: &str, end: &str, nodes: usize) -> ReportDocument {
    let mut r = report(name, end);
    let template = r.cis_benchmark[0].clone();
    let mut by_name: BTreeMap<String, CisBenchmarkNode> = r
        .cis_benchmark
        .drain(..)
        .map(|n| (n.node_name.clone(), n))
        .collect();
    for i in 0..nodes.saturating_sub(by_name.len()) {
        let mut n = template.clone();
        n.node_name = format!("big-{i:04}");
        n.summary.total_pass = i as u64;
        by_name.insert(n.node_name.clone(), n);
    }
    r.cis_benchmark = by_name.into_values().collect();
    r.cis_benchmark_summary.low_count = r.cis_benchmark.len() as u64 - 1;
    r
}

/// The document of each node the report core keeps of those a store offered: the latest
/// good one, else the latest errored one (docs/spec.md §4.2). Stores may offer a node twice.
pub fn chosen(offered: Vec<BenchmarkDocument>) -> BTreeMap<String, BenchmarkDocument> {
    let mut out: BTreeMap<String, BenchmarkDocument> = BTreeMap::new();
    for d in offered {
        let better = match out.get(&d.node_name) {
            None => true,
            Some(kept) => match (kept.is_errored(), d.is_errored()) {
                (true, false) => true,
                (false, true) => false,
                _ => d.timestamp > kept.timestamp,
            },
        };
        if better {
            out.insert(d.node_name.clone(), d);
        }
    }
    out
}
