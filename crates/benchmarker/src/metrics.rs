//! The benchmarker's metrics: the `## compliance-benchmarker` table of docs/metrics.md.
//!
//! One benchmarker runs per node, so every series carries `node` (NODENAME) and a
//! cluster's series add up across the DaemonSet's pods. All series exist from the start
//! (counters at 0, timestamps at 0), so `increase()` sees the first run and an alert on a
//! node that never succeeded has a series to fire on.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use compliance_core::model::BenchmarkDocument;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::writer::WriterWatch;

/// Upper bounds, in seconds, of `run_duration_seconds`'s buckets (and `+Inf`): a kube-bench
/// run takes seconds on a worker node and up to a minute on a busy control-plane node;
/// the top bound is the default BENCHMARK_TIMEOUT (5 minutes), where a run is stopped.
pub const DURATION_BUCKETS: [f64; 9] = [1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0];

/// How a run ended, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// kube-bench's results: stored, queued for the store, or the same as the results
    /// stored earlier today (not stored again, but the node was checked).
    Success,
    /// No results: kube-bench failed, hung, printed nothing usable, or could not be run
    /// (no Kubernetes version, nothing to check); an errored document says why.
    Failure,
}

impl RunOutcome {
    /// The outcome a run's document stands for.
    pub fn of(doc: &BenchmarkDocument) -> RunOutcome {
        if doc.is_errored() {
            RunOutcome::Failure
        } else {
            RunOutcome::Success
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RunOutcome::Success => "success",
            RunOutcome::Failure => "failure",
        }
    }
}

type NodeLabel = [(&'static str, String); 1];
type OutcomeLabels = [(&'static str, String); 2];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The benchmarker's metrics; register them with [`BenchmarkerMetrics::register`].
pub struct BenchmarkerMetrics {
    node: NodeLabel,
    runs: Family<OutcomeLabels, Counter>,
    duration: Family<NodeLabel, Histogram, fn() -> Histogram>,
    last_run: Family<NodeLabel, Gauge>,
    last_success: Family<NodeLabel, Gauge>,
    writer: Arc<OnceLock<WriterWatch>>,
}

impl std::fmt::Debug for BenchmarkerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchmarkerMetrics")
            .field("node", &self.node[0].1)
            .finish_non_exhaustive()
    }
}

impl BenchmarkerMetrics {
    /// The metrics of the benchmarker on `node`, every series at zero.
    pub fn new(node: &str) -> BenchmarkerMetrics {
        let metrics = BenchmarkerMetrics {
            node: [("node", node.to_string())],
            runs: Family::default(),
            duration: Family::new_with_constructor(duration_histogram as fn() -> Histogram),
            last_run: Family::default(),
            last_success: Family::default(),
            writer: Arc::default(),
        };
        for outcome in [RunOutcome::Success, RunOutcome::Failure] {
            let _ = metrics.runs.get_or_create(&metrics.outcome(outcome));
        }
        let _ = metrics.duration.get_or_create(&metrics.node);
        let _ = metrics.last_run.get_or_create(&metrics.node);
        let _ = metrics.last_success.get_or_create(&metrics.node);
        metrics
    }

    fn outcome(&self, outcome: RunOutcome) -> OutcomeLabels {
        [
            ("node", self.node[0].1.clone()),
            ("outcome", outcome.label().to_string()),
        ]
    }

    /// Adds every series to `registry`, which should have the prefix `compliance`.
    pub fn register(&self, registry: &mut Registry, version: &str) {
        registry.register(
            "benchmarker_runs",
            "kube-bench runs by outcome: success (results stored or queued), failure (an error document written)",
            self.runs.clone(),
        );
        registry.register(
            "benchmarker_run_duration_seconds",
            "How long each run took: finding the Kubernetes version, choosing the benchmark and running kube-bench",
            self.duration.clone(),
        );
        registry.register(
            "benchmarker_last_run_timestamp_seconds",
            "When the latest run finished (Unix seconds); 0 before the first",
            self.last_run.clone(),
        );
        registry.register(
            "benchmarker_last_success_timestamp_seconds",
            "When the latest successful run finished (Unix seconds); 0 before the first",
            self.last_success.clone(),
        );
        let build = Family::<[(&'static str, String); 2], Gauge>::default();
        build
            .get_or_create(&[
                ("node", self.node[0].1.clone()),
                ("version", version.to_string()),
            ])
            .set(1);
        registry.register(
            "benchmarker_build_info",
            "1, labelled with the benchmarker's build",
            build,
        );
        registry.register_collector(Box::new(Pending {
            node: self.node.clone(),
            writer: Arc::clone(&self.writer),
        }));
    }

    /// Reads `pending_documents` from `writer` from now on (0 until then: `--once`
    /// stores directly).
    pub fn watch_writer(&self, writer: WriterWatch) {
        let _ = self.writer.set(writer);
    }

    /// Counts one finished run that produced `doc`, took `took` and ended at `finished`.
    pub fn record_run(&self, doc: &BenchmarkDocument, took: Duration, finished: DateTime<Utc>) {
        let outcome = RunOutcome::of(doc);
        self.duration
            .get_or_create(&self.node)
            .observe(took.as_secs_f64());
        self.last_run
            .get_or_create(&self.node)
            .set(finished.timestamp());
        if outcome == RunOutcome::Success {
            self.last_success
                .get_or_create(&self.node)
                .set(finished.timestamp());
        }
        // Last: a scrape that sees the run counted also sees its duration and times.
        self.runs.get_or_create(&self.outcome(outcome)).inc();
    }
}

/// `pending_documents`, read from the writer at scrape time.
#[derive(Debug)]
struct Pending {
    node: NodeLabel,
    writer: Arc<OnceLock<WriterWatch>>,
}

impl Collector for Pending {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pending = self
            .writer
            .get()
            .map_or(0, |w| i64::try_from(w.stats().pending).unwrap_or(i64::MAX));
        let gauge = ConstGauge::new(pending);
        let mut family = encoder.encode_descriptor(
            "benchmarker_pending_documents",
            "Documents waiting for the store (queued while it is unreachable).",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(family.encode_family(&self.node)?)
    }
}

#[cfg(test)]
mod tests {
    use compliance_testkit::fixtures;

    use super::*;
    use crate::writer::{OpenStore, Writer, WriterSettings};

    fn scrape(metrics: &BenchmarkerMetrics) -> String {
        let mut registry = Registry::with_prefix("compliance");
        metrics.register(&mut registry, "1.2.3");
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    fn t(s: &str) -> DateTime<Utc> {
        compliance_core::time::parse(s).unwrap()
    }

    fn doc(error: &str) -> BenchmarkDocument {
        let mut doc = fixtures::document("node-1", "2026-11-25T10:00:00Z", Vec::new());
        doc.error = error.to_string();
        doc
    }

    #[test]
    fn an_errored_document_is_a_failure_and_any_other_a_success() {
        assert_eq!(RunOutcome::of(&doc("")), RunOutcome::Success);
        assert_eq!(RunOutcome::of(&doc("  ")), RunOutcome::Success);
        assert_eq!(
            RunOutcome::of(&doc("kube-bench exited with status 1")),
            RunOutcome::Failure
        );
    }

    #[test]
    fn every_series_exists_before_the_first_run_at_zero() {
        let text = scrape(&BenchmarkerMetrics::new("node-1"));
        for line in [
            "compliance_benchmarker_runs_total{node=\"node-1\",outcome=\"success\"} 0",
            "compliance_benchmarker_runs_total{node=\"node-1\",outcome=\"failure\"} 0",
            "compliance_benchmarker_run_duration_seconds_count{node=\"node-1\"} 0",
            "compliance_benchmarker_last_run_timestamp_seconds{node=\"node-1\"} 0",
            "compliance_benchmarker_last_success_timestamp_seconds{node=\"node-1\"} 0",
            "compliance_benchmarker_pending_documents{node=\"node-1\"} 0",
            "compliance_benchmarker_build_info{node=\"node-1\",version=\"1.2.3\"} 1",
        ] {
            assert!(text.contains(&format!("{line}\n")), "{line} in\n{text}");
        }
        // Ten buckets, +Inf included.
        assert_eq!(text.matches("_bucket{").count(), 10, "{text}");
    }

    #[test]
    fn a_failure_moves_the_last_run_and_not_the_last_success() {
        let metrics = BenchmarkerMetrics::new("node-1");
        metrics.record_run(
            &doc(""),
            Duration::from_millis(4200),
            t("2026-11-25T10:00:05Z"),
        );
        metrics.record_run(
            &doc("kube-bench was killed by signal 9"),
            Duration::from_secs(400),
            t("2026-11-25T11:00:05Z"),
        );
        let text = scrape(&metrics);
        for line in [
            "compliance_benchmarker_runs_total{node=\"node-1\",outcome=\"success\"} 1",
            "compliance_benchmarker_runs_total{node=\"node-1\",outcome=\"failure\"} 1",
            "compliance_benchmarker_last_run_timestamp_seconds{node=\"node-1\"} 1795604405",
            "compliance_benchmarker_last_success_timestamp_seconds{node=\"node-1\"} 1795600805",
            "compliance_benchmarker_run_duration_seconds_count{node=\"node-1\"} 2",
            "compliance_benchmarker_run_duration_seconds_sum{node=\"node-1\"} 404.2",
            // 4.2 s falls in the 5 s bucket; 400 s only in +Inf.
            "compliance_benchmarker_run_duration_seconds_bucket{le=\"2.5\",node=\"node-1\"} 0",
            "compliance_benchmarker_run_duration_seconds_bucket{le=\"5.0\",node=\"node-1\"} 1",
            "compliance_benchmarker_run_duration_seconds_bucket{le=\"300.0\",node=\"node-1\"} 1",
            "compliance_benchmarker_run_duration_seconds_bucket{le=\"+Inf\",node=\"node-1\"} 2",
        ] {
            assert!(text.contains(&format!("{line}\n")), "{line} in\n{text}");
        }
    }

    #[test]
    fn pending_documents_are_the_writers_queue() {
        let metrics = BenchmarkerMetrics::new("node-1");
        // A store that never opens: every document stays queued.
        let open: OpenStore = Box::new(|| {
            Err(compliance_store::StoreError::Missing {
                path: "/nonexistent/compliance.db".into(),
            })
        });
        let writer = Writer::start(open, WriterSettings::default()).unwrap();
        metrics.watch_writer(writer.watch());
        writer.submit(doc(""));
        writer.submit(doc("x"));
        let text = scrape(&metrics);
        assert!(
            text.contains("compliance_benchmarker_pending_documents{node=\"node-1\"} 2\n"),
            "{text}"
        );
    }
}
