//! Data shapes shared by every part of the product, with the exact JSON keys of docs/spec.md.
//!
//! Field names here are compatibility facts (existing Calico data and dashboards read
//! them), so every struct spells its keys out with `serde(rename)` rather than relying on
//! a blanket case conversion.

pub mod benchmark;
pub mod global_report;
pub mod report;
pub mod waiver;

/// Kept here too: report times are part of the documents' format.
pub use crate::time;

pub use benchmark::{
    BenchmarkDocument, BenchmarkTest, CLUSTER_SCOPE_NODE_NAME, NOT_OBSERVED, TestStatus, TestText,
    TextInterner,
};
pub use global_report::{
    BenchmarkSelection, CisBenchmarkParams, GlobalReport, GlobalReportSpec, GlobalReportType,
    GlobalReportTypeSpec, NotObservedAs, ObjectMeta, ReportTemplate, ResultsFilter,
    ValidationError,
};
/// `null` read as the empty value: Go's encoder writes a nil slice or map as `null`, and
/// Calico's stored documents carry them (docs/spec.md §5).
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

pub use report::{
    AppliedCisParams, CisBenchmarkNode, CisBenchmarkSummary, NodeSummary, Provenance, Rating,
    RatingCounts, ReportDocument, SectionResult, TestResult,
};
pub use waiver::{
    CompiledWaiver, GlobalReportWaiver, LabelSelector, WAIVER_KIND, WaiverOutcome, WaiverSpec,
    WaiverState,
};
