//! The one-shot reporter: load the GlobalReport, query, compute, store, exit.
//!
//! The binary is a thin shell around [`run`]; everything here takes its inputs (config,
//! resources, store, clock reading) as arguments so the whole run is testable in-process.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use compliance_core::error::{Classify, ErrorKind};
use compliance_core::model::{GlobalReport, Rating, ReportDocument, TestStatus};
use compliance_core::render::Download;
use compliance_core::report::{
    ComputeStats, ReportBuilder, ReportRequest, report_top_failed_tests,
};
use compliance_core::schedule::{MAX_FIRES_PER_HOUR, Schedule};
use compliance_core::time;
use compliance_kube::nodes::LINUX_NODES;
use compliance_kube::{ClusterNodes, ReportSource, ResourceError};
pub use compliance_store::BatchStore;
use compliance_store::retention::report_expired;
use compliance_store::{Datastore, QueryStats, StoreError};

use crate::output;
use crate::settings::reporter::{ReporterConfig, WindowChoice};

#[derive(Debug, thiserror::Error)]
pub enum ReporterError {
    #[error(transparent)]
    Resource(Box<ResourceError>),
    /// The GlobalReport cannot be run as configured (no schedule to derive a window from,
    /// or values the core refuses).
    #[error("GlobalReport {report:?}: {message}")]
    Spec { report: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the report {id} is stored, but writing its downloads to {dir} failed: {detail} (re-create them with `compliancectl reports download {id} --output {dir}`)"
    )]
    Downloads {
        id: String,
        dir: PathBuf,
        detail: String,
    },
}

impl From<ResourceError> for ReporterError {
    fn from(e: ResourceError) -> Self {
        ReporterError::Resource(Box::new(e))
    }
}

impl Classify for ReporterError {
    /// The GlobalReport's source and the store keep their own kinds; a spec the core
    /// refuses is invalid; downloads that cannot be written (after the report was
    /// stored) are unavailable: writing them again may succeed.
    fn kind(&self) -> ErrorKind {
        match self {
            ReporterError::Resource(e) => e.kind(),
            ReporterError::Spec { .. } => ErrorKind::Invalid,
            ReporterError::Store(e) => e.kind(),
            ReporterError::Downloads { .. } => ErrorKind::Unavailable,
        }
    }
}

/// What a successful run produced.
#[derive(Debug)]
pub struct Outcome {
    pub report: ReportDocument,
    pub query: QueryStats,
    pub compute: ComputeStats,
    pub coverage: Coverage,
    pub downloads: Vec<PathBuf>,
}

/// Where the report's expected nodes came from (docs/spec.md §4.2), as
/// `provenance.expectedNodesFrom` names the sources.
pub const FROM_NODES: &str = "nodes";
pub const FROM_PREVIOUS_REPORT: &str = "previous report";

/// How the run accounted for nodes without results: what it asked, and what it left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// The sources used, in the order asked: [`FROM_NODES`], [`FROM_PREVIOUS_REPORT`].
    pub sources: Vec<&'static str>,
    /// The Node API refused the list (warned once, with what to grant).
    pub nodes_not_permitted: bool,
    /// Nodes listed by the Node API that joined after the window's end: not expected.
    pub joined_after_window: u64,
    /// Nodes of the previous report no longer expected: no result since before the
    /// benchmark retention (COMPLIANCE_BENCHMARK_RETENTION) reaches back from the end.
    pub forgotten: u64,
}

impl Coverage {
    /// "Node API", "previous report", or "none" (only nodes with results are reported).
    pub fn describe_sources(&self) -> String {
        if self.sources.is_empty() {
            return "none".to_string();
        }
        self.sources
            .iter()
            .map(|s| match *s {
                FROM_NODES => "Node API",
                other => other,
            })
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

/// The report window: the configured one, or the schedule's last completed window.
pub fn resolve_window(
    choice: WindowChoice,
    report: &GlobalReport,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ReporterError> {
    match choice {
        WindowChoice::Explicit { start, end } => {
            warn_if_too_frequent(report);
            Ok((start, end))
        }
        WindowChoice::LastCompleted { now, delay } => {
            let err = |message: String| ReporterError::Spec {
                report: report.metadata.name.clone(),
                message,
            };
            let text = report.spec.schedule.as_deref().ok_or_else(|| {
                err("spec.schedule is not set, so there is no last completed window: set TIGERA_COMPLIANCE_REPORT_START_TIME and TIGERA_COMPLIANCE_REPORT_END_TIME".into())
            })?;
            let schedule = Schedule::parse(text).map_err(|e| err(format!("spec.schedule: {e}")))?;
            schedule.last_completed_window(now, delay).ok_or_else(|| {
                err(format!(
                    "spec.schedule {text:?} has no completed window before {now}"
                ))
            })
        }
    }
}

/// The limit on how often a schedule fires bounds scheduling only (docs/spec.md §2): a
/// run with an explicit window does not use the schedule, so it runs and says that the
/// controller would not schedule this report.
fn warn_if_too_frequent(report: &GlobalReport) {
    let Some(text) = report.spec.schedule.as_deref() else {
        return;
    };
    let Ok(schedule) = Schedule::parse_any_frequency(text) else {
        return;
    };
    let fires = schedule.fires_per_hour();
    if fires > MAX_FIRES_PER_HOUR {
        tracing::warn!(
            report = %report.metadata.name,
            "spec.schedule {text:?} fires {fires} times an hour, more than the {MAX_FIRES_PER_HOUR} the controller schedules; running the explicit window anyway"
        );
    }
}

/// Runs one report: everything but logging setup and printing.
///
/// Writes happen last and at most once: the report is stored in one transaction, then
/// the downloads are written (each file atomically), so a failure never leaves a partial
/// report behind.
pub fn run(
    cfg: &ReporterConfig,
    source: &dyn ReportSource,
    store: &mut dyn BatchStore,
    generation_time: DateTime<Utc>,
) -> Result<Outcome, ReporterError> {
    let (report, report_type) = source.load_report(&cfg.report_name)?;
    let (start, end) = resolve_window(cfg.window, &report)?;
    let mut builder = ReportBuilder::new(ReportRequest {
        report: &report,
        report_type: &report_type,
        start,
        end,
        generation_time,
        cluster: &cfg.cluster,
        reporter_version: env!("CARGO_PKG_VERSION"),
    })
    .map_err(|e| ReporterError::Spec {
        report: report.metadata.name.clone(),
        message: e.to_string(),
    })?;
    let query_window = builder.query_window();
    tracing::info!(
        report = %report.metadata.name,
        start = %time::format(&start),
        end = %time::format(&end),
        query_start = %time::format(&query_window.start),
        "computing report"
    );
    // Before the documents are read: a list that fails fails the run early.
    let cluster = source.cluster_nodes()?;
    crate::waivers::prepare(source, &cluster, &mut builder)?;
    // The nodes with a document in the look-back, for the previous report's check below.
    let mut seen: HashSet<String> = HashSet::new();
    let query = store.latest_per_node(&query_window, &mut |doc| {
        if query_window.contains(doc.timestamp) && !seen.contains(&doc.node_name) {
            seen.insert(doc.node_name.clone());
        }
        builder.offer(doc)
    })?;
    let coverage = account_for_nodes(
        cluster,
        &*store,
        &mut builder,
        &AccountFor {
            report: &report.metadata.name,
            end,
            forget_before: cfg.retention.benchmark_cutoff(end),
            seen: &seen,
        },
    )?;
    drop(seen);
    let (doc, compute) = builder.finish();
    crate::waivers::log_outcomes(&doc);
    if compute.no_results > 0 {
        tracing::warn!(
            nodes = compute.no_results,
            expected_from = %coverage.describe_sources(),
            "expected nodes have no result in the look-back: listed without results and rated LOW"
        );
    }
    if compute.duplicate_tests > 0 {
        tracing::warn!(
            tests = compute.duplicate_tests,
            "test numbers that appear twice in a node's document were counted once (LOG_LEVEL=debug names them)"
        );
    }
    for (status, count) in &compute.unknown_statuses {
        tracing::warn!(status = %status, tests = count, "tests with an unknown status were listed but not counted");
    }
    store.put_report(&doc)?;
    tracing::info!(
        id = %doc.id,
        nodes = doc.cis_benchmark.len(),
        without_results = compute.no_results,
        expected_from = %coverage.describe_sources(),
        "report stored"
    );
    if matches!(cfg.datastore, Datastore::Sqlite(_))
        && let Some(cutoff) = cfg.retention.report_cutoff(generation_time)
        && report_expired(cutoff, doc.end_time)
    {
        tracing::warn!(
            id = %doc.id,
            end = %time::format(&doc.end_time),
            "the report ends before the report retention (COMPLIANCE_REPORT_RETENTION) \
             reaches back: the prune after storing it deleted it again"
        );
    }
    let downloads =
        match &cfg.output_dir {
            None => Vec::new(),
            Some(dir) => output::write_all(&doc, dir, &Download::for_type(&report_type.spec))
                .map_err(|e| ReporterError::Downloads {
                    id: doc.id.clone(),
                    dir: dir.clone(),
                    detail: e.to_string(),
                })?,
        };
    for path in &downloads {
        tracing::info!(path = %path.display(), "download written");
    }
    Ok(Outcome {
        report: doc,
        query,
        compute,
        coverage,
        downloads,
    })
}

/// What [`account_for_nodes`] needs to know about the run.
pub struct AccountFor<'a> {
    /// The GlobalReport, whose previous report is asked.
    pub report: &'a str,
    /// The window's end: nodes that joined later are not expected, and the previous
    /// report is the newest ending at or before it.
    pub end: DateTime<Utc>,
    /// A node only the previous report names is forgotten when its newest result is older
    /// than this (the benchmark retention counted back from `end`); `None`: never.
    pub forget_before: Option<DateTime<Utc>>,
    /// The nodes with a document in the look-back.
    pub seen: &'a HashSet<String>,
}

/// Tells `builder` which nodes the report must account for, and when the missing ones
/// last had a result (docs/spec.md §4.2). `cluster` is the source's answer
/// ([`ReportSource::cluster_nodes`]).
///
/// The Node API, when the source has one and may list nodes, is the cluster as it is:
/// its Linux nodes that existed at the window's end are expected, and the previous report
/// is not asked (its other nodes have left the cluster). Without the list (YAML files, or
/// RBAC refused it: warned once), the nodes of the previous report are expected, except
/// those without any result since before the benchmark retention, so a node that left the
/// cluster is not carried from report to report for ever. Then the missing nodes' last
/// results are looked up.
pub fn account_for_nodes(
    cluster: ClusterNodes,
    store: &dyn BatchStore,
    builder: &mut ReportBuilder<'_>,
    run: &AccountFor<'_>,
) -> Result<Coverage, ReporterError> {
    let mut coverage = Coverage::default();
    match cluster {
        ClusterNodes::Listed(nodes) => {
            let listed = nodes.len();
            let names: Vec<String> = nodes
                .into_iter()
                .filter(|n| n.created.is_none_or(|created| created <= run.end))
                .map(|n| n.name)
                .collect();
            coverage.joined_after_window = (listed - names.len()) as u64;
            tracing::info!(
                nodes = listed,
                joined_after_window = coverage.joined_after_window,
                selector = LINUX_NODES,
                "expected nodes listed from the Kubernetes API"
            );
            builder.expect_nodes(FROM_NODES, names);
            coverage.sources.push(FROM_NODES);
        }
        ClusterNodes::NotPermitted(advice) => {
            tracing::warn!("{advice}");
            coverage.nodes_not_permitted = true;
        }
        ClusterNodes::Unknown => {
            tracing::debug!("no Kubernetes API to list nodes from (COMPLIANCE_RESOURCES)");
        }
    }
    let mut last_results = std::collections::HashMap::new();
    if coverage.sources.is_empty() {
        match store.previous_report_nodes(run.report, run.end)? {
            None => tracing::info!(
                "no previous report and no node list: only nodes with results are reported"
            ),
            Some(previous) => {
                let absent: Vec<String> = previous
                    .iter()
                    .filter(|n| !run.seen.contains(n.as_str()))
                    .cloned()
                    .collect();
                last_results = if absent.is_empty() {
                    Default::default()
                } else {
                    store.last_result_times(&absent)?
                };
                let forgotten: HashSet<&str> = absent
                    .iter()
                    .filter(
                        |n| match (last_results.get(n.as_str()), run.forget_before) {
                            (None, _) => true,
                            (Some(last), Some(cutoff)) => *last < cutoff,
                            (Some(_), None) => false,
                        },
                    )
                    .map(String::as_str)
                    .collect();
                coverage.forgotten = forgotten.len() as u64;
                tracing::info!(
                    nodes = previous.len(),
                    forgotten = coverage.forgotten,
                    "expected nodes taken from the previous report"
                );
                builder.expect_nodes(
                    FROM_PREVIOUS_REPORT,
                    previous.iter().filter(|n| !forgotten.contains(n.as_str())),
                );
                coverage.sources.push(FROM_PREVIOUS_REPORT);
            }
        }
    }
    let unknown: Vec<String> = builder
        .missing_nodes()
        .into_iter()
        .filter(|n| !last_results.contains_key(*n))
        .map(str::to_string)
        .collect();
    if !unknown.is_empty() {
        last_results.extend(store.last_result_times(&unknown)?);
    }
    for (node, time) in &last_results {
        builder.set_last_result(node, *time);
    }
    Ok(coverage)
}

/// The one-line summary printed on success.
pub fn summary_line(o: &Outcome) -> String {
    let r = &o.report;
    let s = &r.cis_benchmark_summary;
    let mut line = format!(
        "report {} stored: {} nodes (HIGH {}, MED {}, LOW {}; {} errored, {} without results; expected nodes: {}), window {} – {}, {} documents read, {} skipped",
        r.id,
        r.cis_benchmark.len(),
        s.high_count,
        s.med_count,
        s.low_count,
        o.compute.errored_nodes,
        o.compute.no_results,
        o.coverage.describe_sources(),
        time::format(&r.start_time),
        time::format(&r.end_time),
        o.query.documents,
        o.query.skipped,
    );
    if o.query.requests > 0 {
        let _ = write!(
            line,
            " ({} requests, {:.1} MB read)",
            o.query.requests,
            o.query.bytes_read as f64 / 1e6
        );
    }
    line.push_str(&crate::waivers::summary(r));
    let top = report_top_failed_tests(r);
    if !top.is_empty() {
        let list: Vec<String> = top
            .iter()
            .map(|t| format!("{} ({})", t.index, t.failed_count))
            .collect();
        let _ = write!(line, "; top failed: {}", list.join(", "));
    }
    line
}

/// Nodes rated `level` or worse with their failed tests, for CI output. Empty when none.
pub fn fail_on_report(r: &ReportDocument, level: Rating) -> Option<String> {
    let nodes: Vec<_> = r.nodes_at_or_below(level).collect();
    if nodes.is_empty() {
        return None;
    }
    let mut out = format!(
        "{} of {} nodes rate {} or below:\n",
        nodes.len(),
        r.cis_benchmark.len(),
        level
    );
    for n in nodes {
        let s = &n.summary;
        let _ = writeln!(
            out,
            "  {} {} ({} of {} passing){}",
            n.node_name,
            s.status,
            s.total_pass,
            s.total,
            if n.error.is_empty() {
                String::new()
            } else {
                format!(": run failed: {}", n.error)
            }
        );
        for t in n.results.iter().flat_map(|sec| &sec.results) {
            if t.status == TestStatus::Fail {
                let _ = writeln!(out, "    FAIL {} {}", t.text.test_number, t.text.test_desc);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use compliance_core::error::Classify;
    use compliance_core::model::{BenchmarkDocument, GlobalReportType};
    use compliance_core::report::QueryWindow;
    use compliance_kube::{ClusterNode, KubeError};
    use compliance_store::{BenchmarkStore, ReportStore};
    use compliance_testkit::fixtures::{cis_benchmark_type, daily_report, document, t};

    use super::*;
    use crate::settings::RawEnv;

    const START: &str = "2026-11-25T00:00:00Z";
    const END: &str = "2026-11-26T00:00:00Z";

    /// GlobalReports from memory, and a canned answer about the cluster's nodes.
    struct FakeSource {
        nodes: RefCell<Option<Result<ClusterNodes, ResourceError>>>,
    }

    impl FakeSource {
        fn new(nodes: Result<ClusterNodes, ResourceError>) -> Self {
            FakeSource {
                nodes: RefCell::new(Some(nodes)),
            }
        }
    }

    impl ReportSource for FakeSource {
        fn load_report(
            &self,
            name: &str,
        ) -> Result<(GlobalReport, GlobalReportType), ResourceError> {
            assert_eq!(name, "daily-cis-results");
            Ok((daily_report(), cis_benchmark_type()))
        }

        fn cluster_nodes(&self) -> Result<ClusterNodes, ResourceError> {
            self.nodes.borrow_mut().take().expect("asked once")
        }

        /// No waivers: src/waivers.rs tests them.
        fn waivers(&self) -> Result<compliance_kube::ClusterWaivers, ResourceError> {
            Ok(compliance_kube::ClusterWaivers::Listed {
                waivers: Vec::new(),
                invalid: Vec::new(),
            })
        }
    }

    /// Documents, the last result of each node, the previous report's nodes; records
    /// what is asked and stored.
    #[derive(Default)]
    struct FakeStore {
        documents: Vec<BenchmarkDocument>,
        last: HashMap<String, DateTime<Utc>>,
        previous: Option<Vec<String>>,
        asked_previous: RefCell<u32>,
        asked_last: RefCell<Vec<String>>,
        stored: Vec<ReportDocument>,
    }

    impl BenchmarkStore for FakeStore {
        fn put_benchmarks(
            &mut self,
            _: &mut dyn Iterator<Item = Result<BenchmarkDocument, compliance_store::InputError>>,
        ) -> Result<u64, StoreError> {
            unreachable!("the reporter does not import")
        }

        fn latest_per_node(
            &self,
            window: &QueryWindow,
            sink: &mut dyn FnMut(BenchmarkDocument),
        ) -> Result<QueryStats, StoreError> {
            let mut stats = QueryStats::default();
            for d in self
                .documents
                .iter()
                .filter(|d| window.contains(d.timestamp))
            {
                stats.documents += 1;
                sink(d.clone());
            }
            Ok(stats)
        }

        fn last_result_times(
            &self,
            nodes: &[String],
        ) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
            self.asked_last.borrow_mut().extend(nodes.iter().cloned());
            Ok(nodes
                .iter()
                .filter_map(|n| self.last.get(n).map(|t| (n.clone(), *t)))
                .collect())
        }
    }

    impl ReportStore for FakeStore {
        fn put_report(&mut self, report: &ReportDocument) -> Result<(), StoreError> {
            self.stored.push(report.clone());
            Ok(())
        }

        fn get_report(&self, _: &str) -> Result<Option<ReportDocument>, StoreError> {
            Ok(None)
        }

        fn previous_report_nodes(
            &self,
            report_name: &str,
            end: DateTime<Utc>,
        ) -> Result<Option<Vec<String>>, StoreError> {
            assert_eq!((report_name, end), ("daily-cis-results", t(END)));
            *self.asked_previous.borrow_mut() += 1;
            Ok(self.previous.clone())
        }
    }

    fn config(retention: &str) -> ReporterConfig {
        let vars = [
            ("TIGERA_COMPLIANCE_REPORT_NAME", "daily-cis-results"),
            ("TIGERA_COMPLIANCE_REPORT_START_TIME", START),
            ("TIGERA_COMPLIANCE_REPORT_END_TIME", END),
            ("COMPLIANCE_RESOURCES", "unused.yaml"),
            ("COMPLIANCE_BENCHMARK_RETENTION", retention),
            ("COMPLIANCE_REPORT_RETENTION", "forever"),
        ];
        let env = RawEnv::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        ReporterConfig::from_env(&env, t("2026-11-26T01:00:00Z")).unwrap()
    }

    fn node(name: &str, created: Option<&str>) -> ClusterNode {
        ClusterNode {
            name: name.into(),
            created: created.map(t),
            labels: Default::default(),
        }
    }

    fn by_name<'a>(
        r: &'a ReportDocument,
        name: &str,
    ) -> &'a compliance_core::model::CisBenchmarkNode {
        r.cis_benchmark
            .iter()
            .find(|n| n.node_name == name)
            .unwrap_or_else(|| panic!("{name} not in the report"))
    }

    fn names(r: &ReportDocument) -> Vec<&str> {
        r.cis_benchmark
            .iter()
            .map(|n| n.node_name.as_str())
            .collect()
    }

    fn expected_from(r: &ReportDocument) -> Vec<String> {
        r.provenance.as_ref().unwrap().expected_nodes_from.clone()
    }

    #[test]
    fn spec_4_2_listed_nodes_without_results_are_low_with_their_last_result() {
        let source = FakeSource::new(Ok(ClusterNodes::Listed(vec![
            node("a", Some("2026-10-01T00:00:00Z")),
            node("b", None),
            node("late", Some("2026-11-26T00:00:01Z")),
        ])));
        let mut store = FakeStore {
            documents: vec![document("a", "2026-11-25T10:00:00Z", Vec::new())],
            last: [("b".to_string(), t("2026-11-20T03:00:00Z"))].into(),
            previous: Some(vec!["gone".into()]),
            ..FakeStore::default()
        };
        let o = run(
            &config("forever"),
            &source,
            &mut store,
            t("2026-11-26T01:00:00Z"),
        )
        .unwrap();
        let r = &o.report;
        assert_eq!(
            names(r),
            ["a", "b"],
            "a node that joined after the window is not expected"
        );
        let b = by_name(r, "b");
        assert!(b.no_results && b.summary.status == Rating::Low);
        assert_eq!(b.last_result_time, Some(t("2026-11-20T03:00:00Z")));
        assert_eq!(r.cis_benchmark_summary.no_results_count, 1);
        assert_eq!(expected_from(r), ["nodes"]);
        assert_eq!(
            *store.asked_previous.borrow(),
            0,
            "the Node API is the cluster as it is"
        );
        assert_eq!(
            *store.asked_last.borrow(),
            ["b"],
            "only the missing nodes are looked up"
        );
        assert_eq!(
            o.coverage,
            Coverage {
                sources: vec![FROM_NODES],
                joined_after_window: 1,
                ..Coverage::default()
            }
        );
        assert_eq!(store.stored.len(), 1);
        let line = summary_line(&o);
        assert!(
            line.contains("2 nodes (HIGH 0, MED 0, LOW 2; 0 errored, 1 without results; expected nodes: Node API)"),
            "{line}"
        );
    }

    #[test]
    fn spec_4_2_without_a_node_list_the_previous_reports_nodes_are_expected() {
        for refused in [false, true] {
            let answer = if refused {
                ClusterNodes::NotPermitted("not allowed to list nodes".into())
            } else {
                ClusterNodes::Unknown
            };
            let mut store = FakeStore {
                documents: vec![document("a", "2026-11-25T10:00:00Z", Vec::new())],
                last: [
                    ("a".to_string(), t("2026-11-25T10:00:00Z")),
                    ("b".to_string(), t("2026-11-20T03:00:00Z")),
                    ("old".to_string(), t("2026-07-01T00:00:00Z")),
                ]
                .into(),
                previous: Some(vec!["a".into(), "b".into(), "old".into(), "never".into()]),
                ..FakeStore::default()
            };
            // 91 days back from the window's end: 2026-08-27.
            let o = run(
                &config("91d"),
                &FakeSource::new(Ok(answer)),
                &mut store,
                t("2026-11-26T01:00:00Z"),
            )
            .unwrap();
            let r = &o.report;
            assert_eq!(
                names(r),
                ["a", "b"],
                "a node silent for longer than the retention, or without any result, is forgotten"
            );
            assert_eq!(
                by_name(r, "b").last_result_time,
                Some(t("2026-11-20T03:00:00Z"))
            );
            assert_eq!(expected_from(r), ["previous report"]);
            assert_eq!(o.coverage.forgotten, 2);
            assert_eq!(o.coverage.nodes_not_permitted, refused);
            let asked = store.asked_last.borrow();
            assert!(
                !asked.contains(&"a".to_string()),
                "a has a result: {asked:?}"
            );
            assert!(
                summary_line(&o).contains("1 without results; expected nodes: previous report)")
            );
        }
    }

    #[test]
    fn spec_4_2_with_retention_forever_the_previous_reports_nodes_are_kept() {
        let mut store = FakeStore {
            last: [("old".to_string(), t("2020-01-01T00:00:00Z"))].into(),
            previous: Some(vec!["old".into()]),
            ..FakeStore::default()
        };
        let o = run(
            &config("forever"),
            &FakeSource::new(Ok(ClusterNodes::Unknown)),
            &mut store,
            t("2026-11-26T01:00:00Z"),
        )
        .unwrap();
        assert_eq!(names(&o.report), ["old"]);
        assert!(o.report.cis_benchmark[0].no_results);
    }

    #[test]
    fn spec_4_2_a_first_report_without_a_node_list_expects_nothing() {
        let mut store = FakeStore {
            documents: vec![document("a", "2026-11-25T10:00:00Z", Vec::new())],
            ..FakeStore::default()
        };
        let o = run(
            &config("forever"),
            &FakeSource::new(Ok(ClusterNodes::Unknown)),
            &mut store,
            t("2026-11-26T01:00:00Z"),
        )
        .unwrap();
        assert_eq!(names(&o.report), ["a"]);
        assert!(expected_from(&o.report).is_empty());
        assert!(store.asked_last.borrow().is_empty());
        assert!(summary_line(&o).contains("0 without results; expected nodes: none)"));
    }

    #[test]
    fn a_node_list_that_fails_fails_the_run_and_stores_nothing() {
        let failure = ResourceError::from(KubeError::NodeList {
            server: "https://10.96.0.1/".into(),
            selector: LINUX_NODES,
            reason: "503 unavailable".into(),
        });
        let mut store = FakeStore::default();
        let err = run(
            &config("forever"),
            &FakeSource::new(Err(failure)),
            &mut store,
            t("2026-11-26T01:00:00Z"),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(store.stored.is_empty());
    }
}
