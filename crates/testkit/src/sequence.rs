//! Sequences of reports of one GlobalReport, computed by the real report core from
//! synthetic benchmark documents: what the tests of diffs, lifecycles and waivers read.
//!
//! [`SequenceBuilder`] describes each report by the failing tests of each node, the
//! nodes without results and the waivers in the cluster; [`Sequence::story`] is the
//! canonical sequence of issue 16 (a failure appears, persists, is fixed and comes back;
//! a node is added and removed; a waiver is added, matches and expires) with its
//! expected outcomes documented as constants, so that the core, the store, the CLI and
//! the server tests check the same facts.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use compliance_core::model::{
    BenchmarkDocument, BenchmarkTest, GlobalReport, GlobalReportWaiver, ObjectMeta, ReportDocument,
    TestStatus, TestText, WAIVER_KIND, WaiverSpec,
};
use compliance_core::report::{ReportBuilder, ReportRequest};

use crate::fixtures::{cis_benchmark_type, daily_report, t};

/// The tests every node of a sequence runs: (section, number, description).
pub const TESTS: [(&str, &str, &str); 6] = [
    (
        "1.1",
        "1.1.1",
        "Ensure that the API server pod specification file permissions are set to 600 or more restrictive (Automated)",
    ),
    (
        "1.1",
        "1.1.12",
        "Ensure that the etcd data directory ownership is set to etcd:etcd (Automated)",
    ),
    (
        "1.2",
        "1.2.6",
        "Ensure that the --kubelet-certificate-authority argument is set as appropriate (Automated)",
    ),
    (
        "4.1",
        "4.1.1",
        "Ensure that the kubelet service file permissions are set to 600 or more restrictive (Automated)",
    ),
    (
        "4.2",
        "4.2.1",
        "Ensure that the --anonymous-auth argument is set to false (Automated)",
    ),
    (
        "4.2",
        "4.2.6",
        "Ensure that the --make-iptables-util-chains argument is set to true (Automated)",
    ),
];

/// A GlobalReportWaiver named `name` accepting failures of `tests` (numbers or sections)
/// on `nodes` (by name; empty: every node) until `expires`, with a reason, an owner and
/// a ticket.
pub fn waiver(name: &str, tests: &[&str], nodes: &[&str], expires: &str) -> GlobalReportWaiver {
    GlobalReportWaiver {
        api_version: "projectcalico.org/v3".to_string(),
        kind: WAIVER_KIND.to_string(),
        metadata: ObjectMeta {
            name: name.to_string(),
            labels: Default::default(),
        },
        spec: WaiverSpec {
            tests: tests.iter().map(|s| s.to_string()).collect(),
            reports: Vec::new(),
            node_names: nodes.iter().map(|s| s.to_string()).collect(),
            node_selector: None,
            reason: format!("{name}: accepted until the platform is upgraded"),
            owner: "security@example.com".to_string(),
            ticket: format!("SEC-{}", name.len()),
            expires: expires.to_string(),
        },
    }
}

/// What one node did in one report.
#[derive(Debug, Clone)]
enum NodeRun {
    /// It ran the [`TESTS`]; these failed, the others passed.
    Results { name: String, failing: Vec<String> },
    /// Its run failed with this error.
    Errored { name: String, error: String },
    /// It is in the cluster but sent no result.
    NoResults { name: String },
}

/// One report of a sequence, being described ([`SequenceBuilder::day`]).
#[derive(Debug, Clone, Default)]
pub struct Day {
    runs: Vec<NodeRun>,
    waivers: Vec<GlobalReportWaiver>,
}

impl Day {
    /// `node` ran every test of [`TESTS`]; those numbered in `failing` failed.
    pub fn node(mut self, node: &str, failing: &[&str]) -> Day {
        self.runs.push(NodeRun::Results {
            name: node.to_string(),
            failing: failing.iter().map(|s| s.to_string()).collect(),
        });
        self
    }

    /// `node`'s benchmark run failed with `error`: it has no results in the report.
    pub fn errored(mut self, node: &str, error: &str) -> Day {
        self.runs.push(NodeRun::Errored {
            name: node.to_string(),
            error: error.to_string(),
        });
        self
    }

    /// `node` is in the cluster (the Node API lists it) but sent no result: `noResults`.
    pub fn no_results(mut self, node: &str) -> Day {
        self.runs.push(NodeRun::NoResults {
            name: node.to_string(),
        });
        self
    }

    /// `w` exists in the cluster when the report is computed.
    pub fn waiver(mut self, w: GlobalReportWaiver) -> Day {
        self.waivers.push(w);
        self
    }
}

/// Describes a sequence of daily reports of `daily-cis-results`
/// ([`crate::fixtures::daily_report`]: HIGH at 100 %, MED from 50 %), one per
/// [`SequenceBuilder::day`], the first window ending at `first_end`, each next one a day
/// later.
#[derive(Debug, Clone)]
pub struct SequenceBuilder {
    report: GlobalReport,
    first_end: DateTime<Utc>,
    days: Vec<Day>,
}

impl SequenceBuilder {
    /// A sequence whose first report's window ends at `first_end` (RFC 3339).
    pub fn new(first_end: &str) -> SequenceBuilder {
        SequenceBuilder {
            report: daily_report(),
            first_end: t(first_end),
            days: Vec::new(),
        }
    }

    /// Adds the next report, described by `describe` from an empty [`Day`].
    pub fn day(mut self, describe: impl FnOnce(Day) -> Day) -> SequenceBuilder {
        self.days.push(describe(Day::default()));
        self
    }

    /// Computes every report with the real core: each node's document is taken an hour
    /// before the window's end, the nodes of [`Day::no_results`] are expected from the
    /// Node API, and the day's waivers are compiled and applied.
    pub fn build(self) -> Sequence {
        let texts: Vec<Arc<TestText>> = TESTS
            .iter()
            .map(|(section, number, desc)| {
                Arc::new(TestText {
                    section: section.to_string(),
                    section_desc: format!("Section {section}"),
                    test_number: number.to_string(),
                    test_desc: desc.to_string(),
                    test_info: format!("Remediate {number}"),
                })
            })
            .collect();
        let report_type = cis_benchmark_type();
        let mut reports = Vec::with_capacity(self.days.len());
        let mut documents = Vec::with_capacity(self.days.len());
        for (i, day) in self.days.into_iter().enumerate() {
            let end = self.first_end + Duration::days(i as i64);
            let docs: Vec<BenchmarkDocument> = day
                .runs
                .iter()
                .filter_map(|run| document(run, &texts, end))
                .collect();
            let request = ReportRequest {
                report: &self.report,
                report_type: &report_type,
                start: end - Duration::days(1),
                end,
                generation_time: end + Duration::minutes(30),
                cluster: "cluster",
                reporter_version: "test",
            };
            let mut builder = ReportBuilder::new(request).expect("daily-cis-results is valid");
            builder.set_waivers(day.waivers.iter().map(|w| {
                w.compile()
                    .unwrap_or_else(|e| panic!("waiver {} is invalid: {e:?}", w.metadata.name))
            }));
            let expected: Vec<&str> = day
                .runs
                .iter()
                .map(|r| match r {
                    NodeRun::Results { name, .. }
                    | NodeRun::Errored { name, .. }
                    | NodeRun::NoResults { name } => name.as_str(),
                })
                .collect();
            builder.expect_nodes("nodes", expected);
            for d in &docs {
                builder.offer(d.clone());
            }
            reports.push(builder.finish().0);
            documents.push(docs);
        }
        Sequence { reports, documents }
    }
}

fn document(
    run: &NodeRun,
    texts: &[Arc<TestText>],
    end: DateTime<Utc>,
) -> Option<BenchmarkDocument> {
    let at = end - Duration::hours(1);
    let base = |name: &str| BenchmarkDocument {
        version: "cis-1.9".to_string(),
        kubernetes_version: "1.29.3".to_string(),
        kind: "kube".to_string(),
        node_name: name.to_string(),
        timestamp: at,
        error: String::new(),
        tests: Vec::new(),
        cluster: "cluster".to_string(),
        platform: String::new(),
        kube_bench_version: String::new(),
        benchmarker_version: String::new(),
        benchmark_choice: String::new(),
    };
    match run {
        NodeRun::Results { name, failing } => {
            for f in failing {
                assert!(
                    texts.iter().any(|t| &t.test_number == f),
                    "{f} is not one of the sequence's TESTS"
                );
            }
            let tests = texts
                .iter()
                .map(|t| BenchmarkTest {
                    text: t.clone(),
                    status: if failing.contains(&t.test_number) {
                        TestStatus::Fail
                    } else {
                        TestStatus::Pass
                    },
                    scored: true,
                })
                .collect();
            Some(BenchmarkDocument {
                tests,
                ..base(name)
            })
        }
        NodeRun::Errored { name, error } => Some(BenchmarkDocument {
            error: error.clone(),
            ..base(name)
        }),
        NodeRun::NoResults { .. } => None,
    }
}

/// The reports of a sequence, oldest first, and the documents each was computed from.
#[derive(Debug, Clone)]
pub struct Sequence {
    pub reports: Vec<ReportDocument>,
    /// Per report, the benchmark documents offered to it (none for nodes without results).
    pub documents: Vec<Vec<BenchmarkDocument>>,
}

/// The window ends of [`Sequence::story`]'s five reports.
pub const STORY_ENDS: [&str; 5] = [
    "2026-11-02T00:00:00Z",
    "2026-11-03T00:00:00Z",
    "2026-11-04T00:00:00Z",
    "2026-11-05T00:00:00Z",
    "2026-11-06T00:00:00Z",
];

/// The waiver of [`Sequence::story`]: `4.2.6` on `w-1`, expiring between the fourth and
/// the fifth report.
pub const STORY_WAIVER: &str = "iptables-chains";
/// When [`STORY_WAIVER`] expires.
pub const STORY_WAIVER_EXPIRES: &str = "2026-11-05T12:00:00Z";

impl Sequence {
    /// The canonical sequence, five daily reports ending at [`STORY_ENDS`]; every node runs
    /// the six [`TESTS`], so one failure rates a node MED (5 of 6 pass, 83 %) and none HIGH:
    ///
    /// | report | cp-1          | w-1                          | w-2  | w-3            |
    /// |--------|---------------|------------------------------|------|----------------|
    /// | 1      | passes        | fails 4.2.6                  | pass | —              |
    /// | 2      | fails 1.2.6   | fails 4.2.6                  | pass | —              |
    /// | 3      | fails 1.2.6   | fails 4.2.6, waived          | pass | added, 4.2.6   |
    /// | 4      | passes        | fails 4.2.6, waived          | pass | fails 4.2.6    |
    /// | 5      | fails 1.2.6   | fails 4.2.6, waiver expired  | pass | removed        |
    ///
    /// [`STORY_WAIVER`] exists from report 3 on (covering 4.2.6 on w-1 only) and expires
    /// at [`STORY_WAIVER_EXPIRES`], after report 4's window and before report 5's ends.
    ///
    /// So, between reports 4 and 5: cp-1 1.2.6 is `new` (and unwaived), w-1 4.2.6
    /// `persisting` (old waiver iptables-chains, new none), w-3 4.2.6 `gone`; w-3 removed;
    /// cp-1 rerated HIGH → MED and w-1 HIGH → MED (MED → MED without waivers). Between 2
    /// and 3: w-3 4.2.6 is `newNode`. Between 3 and 4: cp-1 1.2.6 `resolved`.
    ///
    /// The lifecycle after report 5: cp-1 1.2.6 failing, first failed at report 2, failing
    /// since report 5, reopened once, in 3 reports; w-1 4.2.6 failing since report 1, in 5
    /// reports, no waiver (its last failure was not waived); w-3 4.2.6 unknown (w-3 is not
    /// in report 5), first failed and failing since report 3, last failed at report 4, in 2.
    pub fn story() -> Sequence {
        let waived = || waiver(STORY_WAIVER, &["4.2.6"], &["w-1"], STORY_WAIVER_EXPIRES);
        SequenceBuilder::new(STORY_ENDS[0])
            .day(|d| d.node("cp-1", &[]).node("w-1", &["4.2.6"]).node("w-2", &[]))
            .day(|d| {
                d.node("cp-1", &["1.2.6"])
                    .node("w-1", &["4.2.6"])
                    .node("w-2", &[])
            })
            .day(|d| {
                d.node("cp-1", &["1.2.6"])
                    .node("w-1", &["4.2.6"])
                    .node("w-2", &[])
                    .node("w-3", &["4.2.6"])
                    .waiver(waived())
            })
            .day(|d| {
                d.node("cp-1", &[])
                    .node("w-1", &["4.2.6"])
                    .node("w-2", &[])
                    .node("w-3", &["4.2.6"])
                    .waiver(waived())
            })
            .day(|d| {
                d.node("cp-1", &["1.2.6"])
                    .node("w-1", &["4.2.6"])
                    .node("w-2", &[])
                    .waiver(waived())
            })
            .build()
    }

    /// The report ids, oldest first.
    pub fn ids(&self) -> Vec<String> {
        self.reports.iter().map(|r| r.id.clone()).collect()
    }
}

/// A large cluster reported daily, for benchmarks of diffs and lifecycles: `nodes` nodes
/// that each run 130 tests, of which about `failing` fail, with a little churn from day
/// to day (a few failures fixed, a few new, a few back; about one node in a thousand
/// replaced). Nodes are generated one at a time ([`DailyCluster::node`]) so a
/// benchmark holds only what it indexes.
#[derive(Debug, Clone)]
pub struct DailyCluster {
    pub nodes: usize,
    pub failing: usize,
    texts: Vec<Arc<TestText>>,
}

/// Tests per node of a [`DailyCluster`], as in a CIS 1.9 control-plane run.
pub const DAILY_CLUSTER_TESTS: usize = 130;

impl DailyCluster {
    /// A cluster of `nodes` nodes with about `failing` failures each.
    pub fn new(nodes: usize, failing: usize) -> DailyCluster {
        let texts = (0..DAILY_CLUSTER_TESTS)
            .map(|i| {
                let section = format!("{}.{}", 1 + i / 40, 1 + (i / 10) % 4);
                let number = format!("{section}.{}", 1 + i % 10);
                Arc::new(TestText {
                    section: section.clone(),
                    section_desc: format!("Section {section}"),
                    test_number: number.clone(),
                    test_desc: format!(
                        "Ensure that the {number} configuration file permissions are set to 600 or more restrictive (Automated)"
                    ),
                    test_info: format!(
                        "Run the below command (based on the file location on your system) on the control plane node. For example, chmod 600 /etc/kubernetes/manifests/{number}.yaml"
                    ),
                })
            })
            .collect();
        DailyCluster {
            nodes,
            failing,
            texts,
        }
    }

    /// The window end of day `day` (day 0 ends 2026-11-02T00:00:00Z).
    pub fn end(&self, day: usize) -> DateTime<Utc> {
        t(STORY_ENDS[0]) + Duration::days(day as i64)
    }

    /// Node `i` on day `day`. One node in a thousand is replaced every ten days (it
    /// comes back under a new name), so reports gain and lose a few nodes.
    pub fn node(&self, day: usize, i: usize) -> compliance_core::model::CisBenchmarkNode {
        use compliance_core::model::{
            CisBenchmarkNode, NodeSummary, Rating, SectionResult, TestResult,
        };
        let generation = if i % 1000 == 7 { day / 10 } else { 0 };
        let h = |x: u64| {
            let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let n = DAILY_CLUSTER_TESTS as u64;
        let results: Vec<TestResult> = self
            .texts
            .iter()
            .enumerate()
            .map(|(k, text)| {
                // A stable set of failures per node; a test or two flips from day to day.
                let base = (h(i as u64) + k as u64 * 7) % n < self.failing as u64;
                let flip = k % 13 == (i + day) % 13 && h(i as u64 ^ k as u64) % 4 == 0;
                let fails = base ^ flip;
                TestResult {
                    text: text.clone(),
                    status: if fails {
                        compliance_core::model::TestStatus::Fail
                    } else {
                        compliance_core::model::TestStatus::Pass
                    },
                    scored: true,
                    waiver: None,
                }
            })
            .collect();
        let fail = results
            .iter()
            .filter(|r| r.status == compliance_core::model::TestStatus::Fail)
            .count() as u64;
        let status = if fail == 0 { Rating::High } else { Rating::Med };
        CisBenchmarkNode {
            node_name: if generation == 0 {
                format!("node-{i:05}")
            } else {
                format!("node-{i:05}-g{generation}")
            },
            kubernetes_version: "1.29.3".into(),
            benchmarks_version: "cis-1.9".into(),
            summary: NodeSummary {
                status,
                total_pass: n - fail,
                total_fail: fail,
                total_info: 0,
                total: n,
                waived: 0,
                status_without_waivers: None,
            },
            results: vec![SectionResult {
                status,
                section: "1".into(),
                desc: "All".into(),
                pass: n - fail,
                fail,
                info: 0,
                waived: 0,
                results,
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

    /// The findings of day `day`'s report, its nodes generated and indexed one at a time.
    pub fn findings(&self, day: usize) -> compliance_core::report::ReportFindings {
        use compliance_core::report::{FindingsBuilder, ReportRef};
        let end = self.end(day);
        let reference = ReportRef {
            id: format!("daily_cis-benchmark_day{day}"),
            report_name: "daily".into(),
            start_time: end - Duration::days(1),
            end_time: end,
            generation_time: end,
        };
        let mut b = FindingsBuilder::new(reference, Default::default());
        for i in 0..self.nodes {
            b.add_node(&self.node(day, i));
        }
        b.finish()
    }
}
