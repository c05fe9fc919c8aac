//! The pure report core: (spec, window, documents) in, report data out.
//!
//! Nothing in this module does IO or reads the clock; the reporter binary and the
//! stores are thin adapters around it.

pub mod compute;
pub mod diff;
pub mod filter;
pub mod findings;
pub mod lifecycle;
pub mod regression;
pub mod top_failed;
pub mod ui_summary;
pub mod window;

pub use compute::{
    ComputeStats, Counted, ReportBuilder, ReportRequest, compute_report, counted_as,
};
pub use diff::{Change, DiffCounts, FindingChange, NodeChange, NodeChangeKind, ReportDiff, diff};
pub use findings::{
    Failure, FindingsBuilder, NodeState, ReportFindings, ReportRef, not_observed_as_of,
};
pub use lifecycle::{FindingLifecycle, FindingState, Lifecycle, LifecycleError};
pub use regression::{
    MissingNode, NewFailure, NotificationContext, RatingDrop, Regression, RegressionCounts,
};
pub use top_failed::{TopFailedTest, report_top_failed_tests, top_failed_tests};
pub use ui_summary::{ui_summary, ui_summary_with};
pub use window::{QueryWindow, query_window, report_id};

#[cfg(test)]
mod compute_tests;
#[cfg(test)]
mod findings_props;
#[cfg(test)]
mod waiver_tests;
