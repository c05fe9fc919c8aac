//! The pure report core: (spec, window, documents) in, report data out.
//!
//! Nothing in this module does IO or reads the clock; the reporter binary and the
//! stores are thin adapters around it.

pub mod compute;
pub mod filter;
pub mod top_failed;
pub mod ui_summary;
pub mod window;

pub use compute::{
    ComputeStats, Counted, ReportBuilder, ReportRequest, compute_report, counted_as,
};
pub use top_failed::{TopFailedTest, report_top_failed_tests, top_failed_tests};
pub use ui_summary::{ui_summary, ui_summary_with};
pub use window::{QueryWindow, query_window, report_id};

#[cfg(test)]
mod compute_tests;
#[cfg(test)]
mod waiver_tests;
