//! The one-shot reporter: load the GlobalReport, query, compute, store, exit.
//!
//! The binary is a thin shell around [`run`]; everything here takes its inputs (config,
//! resources, store, clock reading) as arguments so the whole run is testable in-process.

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
use compliance_kube::{ReportSource, ResourceError};
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
    pub downloads: Vec<PathBuf>,
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
    let query = store.latest_per_node(&query_window, &mut |doc| builder.offer(doc))?;
    let (doc, compute) = builder.finish();
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
    tracing::info!(id = %doc.id, nodes = doc.cis_benchmark.len(), "report stored");
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
        downloads,
    })
}

/// The one-line summary printed on success.
pub fn summary_line(o: &Outcome) -> String {
    let r = &o.report;
    let s = &r.cis_benchmark_summary;
    let mut line = format!(
        "report {} stored: {} nodes (HIGH {}, MED {}, LOW {}; {} errored), window {} – {}, {} documents read, {} skipped",
        r.id,
        r.cis_benchmark.len(),
        s.high_count,
        s.med_count,
        s.low_count,
        o.compute.errored_nodes,
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
