//! What the controller is told: where Jobs go, how windows are started, how much is kept.
//!
//! Plain values with Calico's defaults (docs/spec.md §8); the binary reads them from the
//! `TIGERA_COMPLIANCE_*` variables (src/settings/controller.rs), so existing overrides keep
//! working. Nothing here reads the environment.

use chrono::Duration;

/// Namespace the report Jobs run in (`TIGERA_COMPLIANCE_JOB_NAMESPACE`).
pub const DEFAULT_JOB_NAMESPACE: &str = "tigera-compliance";
/// Prefix of every report Job's name (`TIGERA_COMPLIANCE_JOB_NAME_PREFIX`).
pub const DEFAULT_JOB_NAME_PREFIX: &str = "compliance-reporter.";

/// The scheduling rules and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Namespace of the Jobs and their PodTemplates (default `tigera-compliance`).
    pub namespace: String,
    /// Prefix of Job names (default `compliance-reporter.`).
    pub job_name_prefix: String,
    /// How long after a window's end its Job starts (default 30 minutes), so that every
    /// node's benchmarker has stored the window's last hour.
    pub start_delay: Duration,
    /// Windows that ended longer ago than this are never started (default 168 hours).
    pub ignore_unstarted_after: Duration,
    /// Most unfinished Jobs per GlobalReport (default 5).
    pub max_active_jobs: usize,
    /// The Jobs' `backoffLimit` (default 6).
    pub max_job_retries: i32,
    /// Successful Jobs kept, and listed in status (default 2).
    pub max_successful_jobs_history: usize,
    /// Failed Jobs kept, and listed in status (default 3).
    pub max_failed_jobs_history: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            namespace: DEFAULT_JOB_NAMESPACE.to_string(),
            job_name_prefix: DEFAULT_JOB_NAME_PREFIX.to_string(),
            start_delay: Duration::minutes(30),
            ignore_unstarted_after: Duration::hours(168),
            max_active_jobs: 5,
            max_job_retries: 6,
            max_successful_jobs_history: 2,
            max_failed_jobs_history: 3,
        }
    }
}
