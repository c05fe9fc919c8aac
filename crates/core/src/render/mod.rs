//! The downloads of a CIS benchmark report (docs/spec.md §6): the five of Calico's report
//! type (four CSV files and the UI summary), `node-provenance.csv`, which every report
//! offers whatever its type lists, and the two standard exports (docs/exports.md): JUnit
//! XML and OSCAL assessment results.
//!
//! Every writer streams into an [`std::io::Write`] row by row: a 10,000-node report's
//! `all-tests.csv` is hundreds of megabytes, so nothing here builds a whole file in
//! memory. Files are the caller's business: the binaries write each download to a
//! temporary file and rename it into place, so a reader never sees half a download.

mod csv;
mod findings;
mod junit;
mod oscal;
mod ui_summary;

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use crate::model::global_report::CisParams;
use crate::model::{CisBenchmarkNode, NotObservedAs, ReportDocument, ValidationError};
use crate::time;

pub use self::csv::{
    CsvStream, NodeCsv, guard_cell, write_all_tests, write_failed_tests, write_node_provenance,
    write_node_summary, write_total_summary,
};
pub use self::findings::{
    WaiversCsv, write_diff_csv, write_diff_nodes_csv, write_findings_csv, write_waivers_csv,
};
pub use self::junit::write_junit;
pub use self::oscal::{OSCAL_VERSION, write_oscal};
pub use self::ui_summary::write_ui_summary;

/// Why a download could not be rendered or written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The stored `reportSpec.cis` cannot be resolved, so the effective thresholds the
    /// downloads print are unknown.
    #[error("report {id} has an invalid spec: {source}")]
    InvalidSpec {
        id: String,
        #[source]
        source: ValidationError,
    },
    #[error("cannot write CSV: {0}")]
    Csv(#[from] ::csv::Error),
    #[error("cannot encode the UI summary: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write: {0}")]
    Io(#[from] io::Error),
}

/// A download name that is not one of docs/spec.md §6, `node-provenance.csv` nor an export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{name:?} is not a download of a CIS benchmark report (known: {})",
    known_names()
)]
pub struct UnknownDownload {
    pub name: String,
}

fn known_names() -> String {
    Download::all()
        .iter()
        .chain(Download::always())
        .chain(Download::exports())
        .map(|d| d.file_name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One of the downloads of a `cis-benchmark` report, named by its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Download {
    TotalSummary,
    NodeSummary,
    FailedTests,
    AllTests,
    UiSummary,
    /// `junit.xml`, an export (docs/exports.md), not one of Calico's templates.
    Junit,
    /// `oscal-assessment-results.json`, an export (docs/exports.md).
    OscalAssessmentResults,
    /// `node-provenance.csv`: not one of Calico's templates; see [`Download::always`].
    NodeProvenance,
}

impl Download {
    /// The five of docs/spec.md §6, in its order (the order `GlobalReportType` lists them
    /// in); the exports are [`Download::exports`].
    pub fn all() -> &'static [Download] {
        &[
            Download::TotalSummary,
            Download::NodeSummary,
            Download::FailedTests,
            Download::AllTests,
            Download::UiSummary,
        ]
    }

    /// The standard exports, which every report offers whatever its type's templates.
    pub fn exports() -> &'static [Download] {
        &[Download::Junit, Download::OscalAssessmentResults]
    }

    /// Whether this is one of [`Download::exports`].
    pub fn is_export(self) -> bool {
        Download::exports().contains(&self)
    }

    /// The downloads every report offers whatever its type's templates list: ours, not
    /// Calico's, so a report type written for Calico Enterprise (which may list only
    /// Calico's five, and is validated against them) keeps working unchanged.
    pub fn always() -> &'static [Download] {
        &[Download::NodeProvenance]
    }

    /// What an offer of one of [`Download::always`] says of it (the others are described
    /// by the report type's templates).
    pub fn description(self) -> &'static str {
        match self {
            Download::NodeProvenance => {
                "Where each node's result came from: platform, benchmark, kube-bench and \
                 benchmarker versions, result time"
            }
            _ => "",
        }
    }

    /// The file name, which is also the name the CLI and HTTP API accept.
    pub fn file_name(self) -> &'static str {
        match self {
            Download::TotalSummary => "total-summary.csv",
            Download::NodeSummary => "node-summary.csv",
            Download::FailedTests => "failed-tests.csv",
            Download::AllTests => "all-tests.csv",
            Download::UiSummary => "ui-summary.json",
            Download::Junit => "junit.xml",
            Download::OscalAssessmentResults => "oscal-assessment-results.json",
            Download::NodeProvenance => "node-provenance.csv",
        }
    }

    /// The downloads a report of this type offers: its download templates, then its UI
    /// summary, each once, in that order, then [`Download::always`]. Names the renderers
    /// do not know are skipped (the type was validated before the report was computed).
    pub fn for_type(spec: &crate::model::GlobalReportTypeSpec) -> Vec<Download> {
        let mut out: Vec<Download> = Vec::new();
        let names = spec
            .download_templates
            .iter()
            .chain(spec.ui_summary_template.iter())
            .map(|t| t.name.as_str());
        let always = Download::always().iter().copied();
        for d in names.filter_map(Download::from_name).chain(always) {
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }

    /// The download called `name` exactly (case matters, as it does for file names).
    pub fn from_name(name: &str) -> Option<Download> {
        Download::all()
            .iter()
            .chain(Download::always())
            .chain(Download::exports())
            .copied()
            .find(|d| d.file_name() == name)
    }
}

impl fmt::Display for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

impl FromStr for Download {
    type Err = UnknownDownload;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Download::from_name(s).ok_or_else(|| UnknownDownload {
            name: s.to_string(),
        })
    }
}

/// Writes one download of `doc` into `w` and flushes it.
pub fn write_download<W: Write>(
    download: Download,
    doc: &ReportDocument,
    w: W,
) -> Result<(), RenderError> {
    match download {
        Download::TotalSummary => write_total_summary(doc, w),
        Download::NodeSummary => write_node_summary(doc, w),
        Download::FailedTests => write_failed_tests(doc, w),
        Download::AllTests => write_all_tests(doc, w),
        Download::UiSummary => write_ui_summary(doc, w),
        Download::Junit => write_junit(doc, w),
        Download::OscalAssessmentResults => write_oscal(doc, w),
        Download::NodeProvenance => write_node_provenance(doc, w),
    }
}

/// How `doc` counted NOT_OBSERVED tests: as recorded in its provenance (the rules as
/// applied), else as its stored spec says, else the default (`info`). A stored spec that
/// no longer resolves falls back to the default rather than hiding the downloads, as Top
/// Failed Tests does.
pub fn not_observed_as(doc: &ReportDocument) -> NotObservedAs {
    match &doc.provenance {
        Some(p) => p.cis.not_observed_as,
        None => doc
            .report_spec
            .cis_params()
            .map(|p| p.not_observed_as)
            .unwrap_or_default(),
    }
}

/// Why `node` has no results to show, if it has none.
fn not_assessed(node: &CisBenchmarkNode) -> Option<String> {
    if !node.error.is_empty() {
        return Some(format!("the benchmark run failed: {}", node.error));
    }
    if node.no_results || node.results.iter().all(|s| s.results.is_empty()) {
        return Some(match (node.no_results, node.last_result_time) {
            (true, Some(at)) => format!(
                "no result in the report's look-back; the last result was taken at {}",
                time::format(&at)
            ),
            (true, None) => "no result in the report's look-back, nor ever".to_string(),
            (false, _) => "the node has no results in the report".to_string(),
        });
    }
    None
}

/// The effective thresholds of `doc`, as an error naming the report when its stored spec
/// cannot be resolved.
fn effective_params(doc: &ReportDocument) -> Result<CisParams, RenderError> {
    doc.report_spec
        .cis_params()
        .map_err(|source| RenderError::InvalidSpec {
            id: doc.id.clone(),
            source,
        })
}

/// Percent-encodes one URL path segment: every byte but RFC 3986's unreserved characters.
///
/// Report ids, index names and node names are usually safe already; a link or request
/// path must still not break, or point elsewhere, on one that is not.
pub fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::global_report::{CIS_DOWNLOADS, UI_SUMMARY};

    #[test]
    fn downloads_follow_the_report_type() {
        use crate::model::{GlobalReportType, ReportTemplate};
        let builtin = GlobalReportType::builtin_cis_benchmark();
        let mut every: Vec<Download> = Download::all().to_vec();
        every.push(Download::NodeProvenance);
        assert_eq!(Download::for_type(&builtin.spec), every);
        let template = |name: &str| ReportTemplate {
            name: name.into(),
            ..Default::default()
        };
        let mut custom = builtin.spec.clone();
        custom.ui_summary_template = None;
        custom.download_templates = vec![
            template("failed-tests.csv"),
            template("node-summary.csv"),
            template("failed-tests.csv"),
        ];
        // A type that lists only some of Calico's still gets the provenance.
        assert_eq!(
            Download::for_type(&custom),
            [
                Download::FailedTests,
                Download::NodeSummary,
                Download::NodeProvenance
            ]
        );
    }

    #[test]
    fn names_match_the_builtin_report_type() {
        let mut expected: Vec<&str> = CIS_DOWNLOADS.iter().map(|(n, _)| *n).collect();
        expected.push(UI_SUMMARY);
        let names: Vec<&str> = Download::all().iter().map(|d| d.file_name()).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn parses_names_exactly() {
        for &d in Download::all()
            .iter()
            .chain(Download::always())
            .chain(Download::exports())
        {
            assert_eq!(Download::from_name(d.file_name()), Some(d));
            assert_eq!(d.to_string().parse::<Download>(), Ok(d));
        }
        assert_eq!(Download::from_name("ALL-TESTS.CSV"), None);
        let err = "all-tests".parse::<Download>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"all-tests\" is not a download of a CIS benchmark report (known: \
             total-summary.csv, node-summary.csv, failed-tests.csv, all-tests.csv, ui-summary.json, \
             node-provenance.csv, junit.xml, oscal-assessment-results.json)"
        );
    }
}
