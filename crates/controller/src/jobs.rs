//! Report Jobs as the planner sees them: a window and how the Job is doing.
//!
//! The window is read back from the Job's own `reporter` container environment, the one
//! thing the reporter acts on, so what status says a Job reports is what it reports.

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;

use crate::k8s_time::from_k8s;
use crate::template::{END_TIME, REPORT_CONTAINER, START_TIME};
use crate::window::Window;

/// How far a Job has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Not finished (including not started yet).
    Active,
    /// Its `Complete` condition is true; finished at `at`.
    Succeeded { at: Option<DateTime<Utc>> },
    /// Its `Failed` condition is true (retries used up, or a deadline passed).
    Failed { at: Option<DateTime<Utc>> },
}

impl JobState {
    pub fn is_finished(self) -> bool {
        !matches!(self, JobState::Active)
    }
}

/// One report Job of a GlobalReport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedJob {
    pub name: String,
    pub namespace: String,
    /// Absent only for a Job this pass is about to create.
    pub uid: Option<String>,
    pub window: Window,
    pub state: JobState,
}

/// Reads a Job the controller made; `None` when it has no readable window (a Job some
/// other tool made, or one edited by hand), which the planner then ignores.
pub fn observe(job: &Job) -> Option<OwnedJob> {
    let env = job
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == REPORT_CONTAINER)?
        .env
        .as_ref()?;
    let time = |name: &str| {
        env.iter()
            .rev()
            .find(|e| e.name == name)
            .and_then(|e| e.value.as_deref())
            .and_then(|v| compliance_core::time::parse(v).ok())
    };
    let window = Window {
        start: time(START_TIME)?,
        end: time(END_TIME)?,
    };
    Some(OwnedJob {
        name: job.metadata.name.clone()?,
        namespace: job.metadata.namespace.clone().unwrap_or_default(),
        uid: job.metadata.uid.clone(),
        window,
        state: state(job),
    })
}

/// The Job's state from its conditions, as the Job controller sets them.
pub fn state(job: &Job) -> JobState {
    let Some(status) = job.status.as_ref() else {
        return JobState::Active;
    };
    for condition in status.conditions.iter().flatten() {
        if condition.status != "True" {
            continue;
        }
        let at = condition.last_transition_time.as_ref().map(from_k8s);
        match condition.type_.as_str() {
            "Complete" => {
                return JobState::Succeeded {
                    at: status.completion_time.as_ref().map(from_k8s).or(at),
                };
            }
            "Failed" => return JobState::Failed { at },
            _ => {}
        }
    }
    JobState::Active
}
