//! The controller's decisions, as pure functions of what it observed and the time.
//!
//! [`plan`] takes one GlobalReport, the Jobs it owns, whether its PodTemplate is usable,
//! the settings and `now`, and says which Jobs to create (with their windows), which
//! events to record and when to look again. [`rebuild`] turns the owned Jobs into the new
//! status and says which finished Jobs fall outside the history limits. The reconciler
//! (reconcile.rs) only carries these out, in the order that keeps a crash between any two
//! API calls harmless: create Jobs, write status, then delete (docs/spec.md §8).
//!
//! Why that order converges: a Job's name is a function of (report, window end), so a
//! re-created Job is refused as already existing; the next window always starts after
//! the latest end found in *either* the status or the Jobs, so a Job created just before
//! a crash is never planned again; and a Job is deleted only after a status that records
//! its window was written.

use chrono::{DateTime, Duration, Utc};
use compliance_core::schedule::Schedule;
use compliance_core::time;
use compliance_kube::crd::{CompletedReportJob, GlobalReportStatus, ReportJob};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::jobs::{JobState, OwnedJob};
use crate::k8s_time::{from_k8s, to_k8s};
use crate::name::job_name;
use crate::settings::Settings;
use crate::template::TemplateProblem;
use crate::window::{self, Timing, Window};

/// The condition type the controller keeps on every GlobalReport.
pub const SCHEDULING: &str = "Scheduling";

/// What the planner needs to know about the GlobalReport.
#[derive(Debug, Clone, Copy)]
pub struct ReportView<'a> {
    pub name: &'a str,
    pub created: DateTime<Utc>,
    /// Has a deletionTimestamp: no new Jobs.
    pub deleting: bool,
    pub schedule: Option<&'a str>,
    pub suspend: bool,
    pub generation: Option<i64>,
    pub status: &'a GlobalReportStatus,
}

/// Everything one decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub report: ReportView<'a>,
    /// The Jobs the report owns (a controller owner reference with its uid).
    pub jobs: &'a [OwnedJob],
    /// Whether the report's PodTemplate can make Jobs.
    pub template: &'a Result<(), TemplateProblem>,
    /// End of the newest stored report of this GlobalReport, when [`needs_recovery`].
    pub recovered_end: Option<DateTime<Utc>>,
    pub settings: &'a Settings,
    pub now: DateTime<Utc>,
}

/// A Job to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub name: String,
    pub window: Window,
}

/// An event to record on the GlobalReport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    pub warning: bool,
    /// PascalCase, as `kubectl describe` shows it.
    pub reason: &'static str,
    pub message: String,
    /// The Job it is about, if any.
    pub job: Option<String>,
}

/// What to do for one GlobalReport now.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Jobs to create, oldest window first.
    pub create: Vec<NewJob>,
    /// The `Scheduling` condition to publish.
    pub condition: Condition,
    pub events: Vec<PlannedEvent>,
    /// When a window next comes due; `None` when only a change (a Job finishing, the
    /// report or its template edited) can make a difference.
    pub next_check: Option<DateTime<Utc>>,
}

/// The status to write and what the history limits remove.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuilt {
    pub status: GlobalReportStatus,
    /// Finished Jobs beyond the history limits, oldest first.
    pub delete: Vec<String>,
    pub events: Vec<PlannedEvent>,
}

/// Whether the start of the next window has to come from the store: a restored or
/// migrated GlobalReport that has no scheduled Job in its status and owns no Jobs.
pub fn needs_recovery(report: &ReportView<'_>, jobs: &[OwnedJob]) -> bool {
    report.status.last_scheduled_report_job.is_none() && jobs.is_empty()
}

/// Where the next window starts: the latest end the status or any owned Job knows of,
/// else the end of the newest stored report, else the report's creation.
pub fn last_end(input: &Input<'_>) -> DateTime<Utc> {
    let from_status = input
        .report
        .status
        .last_scheduled_report_job
        .as_ref()
        .map(|j| from_k8s(&j.end));
    let from_jobs = input.jobs.iter().map(|j| j.window.end).max();
    from_status
        .into_iter()
        .chain(from_jobs)
        .max()
        .or(input.recovered_end)
        .unwrap_or(input.report.created)
}

/// Decides which Jobs to create for one GlobalReport now.
pub fn plan(input: &Input<'_>) -> Plan {
    let report = &input.report;
    let blocked = |reason: &'static str, message: String| Plan {
        create: Vec::new(),
        condition: condition(report, false, reason, message, input.now),
        events: Vec::new(),
        next_check: None,
    };
    // Blocked by something the operator must fix: also a warning, once, when it appears.
    let problem = |reason: &'static str, message: String| {
        let mut plan = blocked(reason, message);
        plan.events
            .extend(on_transition(report, &plan.condition, reason));
        plan
    };
    if report.deleting {
        return blocked("Deleting", "the GlobalReport is being deleted".into());
    }
    if report.suspend {
        return blocked(
            "Suspended",
            "spec.suspend is true: no new report Jobs; running ones finish".into(),
        );
    }
    let Some(text) = report.schedule.filter(|s| !s.trim().is_empty()) else {
        return blocked(
            "NoSchedule",
            "spec.schedule is empty: reports are only made when run by hand".into(),
        );
    };
    let schedule = match Schedule::parse(text) {
        Ok(schedule) => schedule,
        Err(e) => return problem("InvalidSchedule", format!("spec.schedule: {e}")),
    };
    if let Err(e) = input.template {
        return problem(e.reason(), e.to_string());
    }

    let settings = input.settings;
    let active = input
        .jobs
        .iter()
        .filter(|j| j.state == JobState::Active)
        .count();
    let slots = settings.max_active_jobs.saturating_sub(active);
    let timing = Timing {
        start_delay: settings.start_delay,
        ignore_unstarted_after: settings.ignore_unstarted_after,
    };
    let due = window::due_windows(&schedule, last_end(input), input.now, timing, slots);

    let mut events = Vec::new();
    if let (Some(skipped), false) = (due.skipped, due.windows.is_empty()) {
        events.push(PlannedEvent {
            warning: true,
            reason: "WindowsSkipped",
            message: format!(
                "not reporting {} to {}: those windows ended more than {} ago (TIGERA_COMPLIANCE_IGNORE_UNSTARTED_REPORT_AFTER)",
                time::format(&skipped.start),
                time::format(&skipped.end),
                humanize(settings.ignore_unstarted_after)
            ),
            job: None,
        });
    }
    let create: Vec<NewJob> = due
        .windows
        .iter()
        .map(|w| NewJob {
            name: job_name(&settings.job_name_prefix, report.name, w.end),
            window: *w,
        })
        .collect();
    for job in &create {
        events.push(PlannedEvent {
            warning: false,
            reason: "JobCreated",
            message: format!(
                "created report Job {} for {} to {}",
                job.name,
                time::format(&job.window.start),
                time::format(&job.window.end)
            ),
            job: Some(job.name.clone()),
        });
    }
    let (message, next_check) = match due.next {
        Some((next, due_at)) if due_at > input.now => (
            format!(
                "the next window ends at {}; its Job starts at {}",
                time::format(&next.end),
                time::format(&due_at)
            ),
            Some(due_at),
        ),
        Some((next, _)) => (
            format!(
                "the window ending at {} waits for one of the {} active Jobs to finish (TIGERA_COMPLIANCE_MAX_ACTIVE_JOBS)",
                time::format(&next.end),
                settings.max_active_jobs
            ),
            None,
        ),
        None => ("the schedule never fires again".to_string(), None),
    };
    // The message names the next window, so it changes with every window; only a change
    // of status or reason moves lastTransitionTime (see `condition`).
    let condition = condition(report, true, "Scheduling", message, input.now);
    Plan {
        create,
        condition,
        events,
        next_check,
    }
}

/// The status that `jobs` (the owned Jobs, plus any just created) and `condition` give,
/// and the finished Jobs beyond the history limits.
pub fn rebuild(
    old: &GlobalReportStatus,
    jobs: &[OwnedJob],
    condition: Condition,
    settings: &Settings,
) -> Rebuilt {
    let mut sorted: Vec<&OwnedJob> = jobs.iter().collect();
    sorted.sort_by(|a, b| (a.window.end, &a.name).cmp(&(b.window.end, &b.name)));

    let last_scheduled = sorted
        .last()
        .map(|j| report_job(j))
        .into_iter()
        .chain(old.last_scheduled_report_job.clone())
        .max_by(|a, b| {
            (from_k8s(&a.end), job_ref_name(a)).cmp(&(from_k8s(&b.end), job_ref_name(b)))
        });

    let active: Vec<ReportJob> = sorted
        .iter()
        .filter(|j| j.state == JobState::Active)
        .map(|j| report_job(j))
        .collect();
    let mut delete = Vec::new();
    let mut events = Vec::new();
    let mut finished =
        |want_success: bool, keep: usize| -> Vec<CompletedReportJob> {
            let all: Vec<&&OwnedJob> = sorted
                .iter()
                .filter(|j| match j.state {
                    JobState::Succeeded { .. } => want_success,
                    JobState::Failed { .. } => !want_success,
                    JobState::Active => false,
                })
                .collect();
            let cut = all.len().saturating_sub(keep);
            delete.extend(all[..cut].iter().map(|j| j.name.clone()));
            let previously = if want_success {
                &old.last_successful_report_jobs
            } else {
                &old.last_failed_report_jobs
            };
            all[cut..]
                .iter()
                .map(|j| {
                    let at = match j.state {
                        JobState::Succeeded { at } | JobState::Failed { at } => at,
                        JobState::Active => None,
                    };
                    if !previously
                        .iter()
                        .any(|p| job_ref_name(&p.report_job) == j.name)
                    {
                        events.push(PlannedEvent {
                        warning: !want_success,
                        reason: if want_success { "JobSucceeded" } else { "JobFailed" },
                        message: format!(
                            "report Job {} for {} to {} {}",
                            j.name,
                            time::format(&j.window.start),
                            time::format(&j.window.end),
                            if want_success {
                                "succeeded".to_string()
                            } else {
                                format!(
                                    "failed after its retries (see `kubectl logs -n {} job/{}`)",
                                    j.namespace, j.name
                                )
                            }
                        ),
                        job: Some(j.name.clone()),
                    });
                    }
                    CompletedReportJob {
                        report_job: report_job(j),
                        job_completion_time: at.map(to_k8s),
                    }
                })
                .collect()
        };
    let successful = finished(true, settings.max_successful_jobs_history);
    let failed = finished(false, settings.max_failed_jobs_history);
    Rebuilt {
        status: GlobalReportStatus {
            last_scheduled_report_job: last_scheduled,
            active_report_jobs: active,
            last_successful_report_jobs: successful,
            last_failed_report_jobs: failed,
            conditions: vec![condition],
        },
        delete,
        events,
    }
}

fn report_job(job: &OwnedJob) -> ReportJob {
    ReportJob {
        start: to_k8s(job.window.start),
        end: to_k8s(job.window.end),
        job: Some(ObjectReference {
            api_version: Some("batch/v1".into()),
            kind: Some("Job".into()),
            name: Some(job.name.clone()),
            namespace: Some(job.namespace.clone()),
            uid: job.uid.clone(),
            ..Default::default()
        }),
    }
}

fn job_ref_name(job: &ReportJob) -> &str {
    job.job
        .as_ref()
        .and_then(|r| r.name.as_deref())
        .unwrap_or_default()
}

fn old_condition<'a>(report: &ReportView<'a>) -> Option<&'a Condition> {
    report
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == SCHEDULING)
}

fn condition(
    report: &ReportView<'_>,
    ok: bool,
    reason: &str,
    message: String,
    now: DateTime<Utc>,
) -> Condition {
    let status = if ok { "True" } else { "False" };
    let since = old_condition(report)
        .filter(|c| c.status == status && c.reason == reason)
        .map_or(to_k8s(now), |c| c.last_transition_time.clone());
    Condition {
        type_: SCHEDULING.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message,
        last_transition_time: since,
        observed_generation: report.generation,
    }
}

/// A warning event named `reason` when the condition newly turned to this problem.
fn on_transition(
    report: &ReportView<'_>,
    new: &Condition,
    reason: &'static str,
) -> Option<PlannedEvent> {
    let same = old_condition(report).is_some_and(|old| {
        old.status == new.status && old.reason == new.reason && old.message == new.message
    });
    (!same).then(|| PlannedEvent {
        warning: true,
        reason,
        message: new.message.clone(),
        job: None,
    })
}

/// `168h`, `30m`, `90s`: the largest whole unit, as the variables are usually written.
fn humanize(d: Duration) -> String {
    let s = d.num_seconds();
    if s > 0 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s > 0 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
