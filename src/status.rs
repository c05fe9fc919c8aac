//! `compliancectl reports status NAME`: one GlobalReport's scheduling status, for people
//! without kubectl, and as JSON for scripts.
//!
//! Pure: the GlobalReport as the API server returned it, the controller's timing and the
//! time go in, text comes out. The next window is worked out the way the controller works
//! it out ([`compliance_controller::window::due_windows`]), but from the status alone: the
//! controller also counts the Jobs it owns, and continues a GlobalReport without status
//! after its newest stored report. So the two differ while a Job just created is not yet
//! in the status, for such a report, and when the controller runs with other than the
//! default [`Settings`] (the CLI passes its `--start-delay`).

use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use compliance_controller::Settings;
use compliance_controller::k8s_time::from_k8s;
use compliance_controller::plan::SCHEDULING;
use compliance_controller::window::{self, Timing, Window};
use compliance_core::schedule::Schedule;
use compliance_core::time;
use compliance_kube::crd::{CompletedReportJob, GlobalReportResource, ReportJob};

/// What happens next for a report, as far as its status tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The window's Job is due at `due_at`, which is still to come.
    Upcoming {
        window: Window,
        due_at: DateTime<Utc>,
    },
    /// The window's Job has been due since `due_at`: the controller creates it on its next
    /// pass (a window long overdue means the controller is not running).
    Due {
        window: Window,
        due_at: DateTime<Utc>,
    },
    /// Due since `due_at`, but the report already has `limit` unfinished Jobs.
    WaitingForActive {
        window: Window,
        due_at: DateTime<Utc>,
        limit: usize,
    },
    /// No window will be scheduled; why.
    Never(String),
}

/// The next window, and the windows skipped before it for being too old.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outlook {
    pub next: Next,
    /// Windows that ended more than `ignore_unstarted_after` ago: never reported.
    pub skipped: Option<Window>,
}

/// The next window of `report` at `now`: it starts at the end of the last scheduled window
/// (or at the report's creation when none was), as in the controller.
pub fn outlook(report: &GlobalReportResource, settings: &Settings, now: DateTime<Utc>) -> Outlook {
    let never = |why: String| Outlook {
        next: Next::Never(why),
        skipped: None,
    };
    let spec = &report.spec.spec;
    if report.metadata.deletion_timestamp.is_some() {
        return never("the GlobalReport is being deleted".into());
    }
    if spec.suspend.unwrap_or(false) {
        return never("spec.suspend is true".into());
    }
    let Some(text) = spec.schedule.as_deref().filter(|s| !s.trim().is_empty()) else {
        return never("no schedule: reports are made only when run by hand".into());
    };
    let schedule = match Schedule::parse(text) {
        Ok(schedule) => schedule,
        Err(e) => return never(format!("spec.schedule: {e}")),
    };
    let status = report.status.clone().unwrap_or_default();
    let last_end = status
        .last_scheduled_report_job
        .as_ref()
        .map(|j| from_k8s(&j.end))
        .or_else(|| report.metadata.creation_timestamp.as_ref().map(from_k8s))
        .unwrap_or(now);
    let slots = settings
        .max_active_jobs
        .saturating_sub(status.active_report_jobs.len());
    let timing = Timing {
        start_delay: settings.start_delay,
        ignore_unstarted_after: settings.ignore_unstarted_after,
    };
    let due = window::due_windows(&schedule, last_end, now, timing, slots.min(1));
    let next = match (due.windows.first(), due.next) {
        (Some(w), _) => Next::Due {
            window: *w,
            due_at: w.end + settings.start_delay,
        },
        (None, Some((window, due_at))) if due_at > now => Next::Upcoming { window, due_at },
        (None, Some((window, due_at))) => Next::WaitingForActive {
            window,
            due_at,
            limit: settings.max_active_jobs,
        },
        (None, None) => Next::Never("the schedule never fires again".into()),
    };
    Outlook {
        next,
        skipped: due.skipped,
    }
}

/// The report's name and status as one JSON object: `{"name": ..., "status": {...}}`, the
/// status with the API's field names (empty when the controller has not written one).
pub fn to_json(report: &GlobalReportResource) -> serde_json::Value {
    serde_json::json!({
        "name": report.metadata.name.as_deref().unwrap_or_default(),
        "status": report.status.clone().unwrap_or_default(),
    })
}

/// Width of the labels of the first block.
const LABEL: usize = 17;

/// The status as text for a terminal: the spec's scheduling fields, the Scheduling
/// condition, the last scheduled and the next window, then the Jobs.
pub fn render(report: &GlobalReportResource, settings: &Settings, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let status = report.status.clone().unwrap_or_default();
    let spec = &report.spec.spec;
    let line = |out: &mut String, label: &str, value: &str| {
        let _ = writeln!(out, "{label:<LABEL$}{value}");
    };
    line(
        &mut out,
        "GlobalReport",
        report.metadata.name.as_deref().unwrap_or_default(),
    );
    line(
        &mut out,
        "Schedule",
        spec.schedule
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or("(none)"),
    );
    line(
        &mut out,
        "Suspend",
        if spec.suspend.unwrap_or(false) {
            "true"
        } else {
            "false"
        },
    );
    match status.conditions.iter().find(|c| c.type_ == SCHEDULING) {
        Some(c) => {
            let since = time::format(&from_k8s(&c.last_transition_time));
            line(
                &mut out,
                "Scheduling",
                &format!("{} (reason {}, since {since})", c.status, c.reason),
            );
            if !c.message.is_empty() {
                line(&mut out, "", &c.message);
            }
        }
        None => line(
            &mut out,
            "Scheduling",
            "unknown: the controller has not written a Scheduling condition yet",
        ),
    }
    line(
        &mut out,
        "Last scheduled",
        &match &status.last_scheduled_report_job {
            Some(job) => job_line(job),
            None => "none yet".to_string(),
        },
    );
    let outlook = outlook(report, settings, now);
    line(&mut out, "Next window", &next_line(&outlook.next, now));
    if let Some(skipped) = outlook.skipped {
        line(
            &mut out,
            "",
            &format!(
                "{} skipped: those windows ended more than {} ago",
                span(&skipped),
                approx(settings.ignore_unstarted_after)
            ),
        );
    }
    section(
        &mut out,
        "Active Jobs",
        status.active_report_jobs.iter().map(job_line),
    );
    section(
        &mut out,
        "Last successes",
        status
            .last_successful_report_jobs
            .iter()
            .map(|j| completed_line(j, "completed")),
    );
    section(
        &mut out,
        "Last failures",
        status
            .last_failed_report_jobs
            .iter()
            .map(|j| completed_line(j, "failed")),
    );
    out
}

/// A blank line, the title, then one indented line per entry (or `none`).
fn section(out: &mut String, title: &str, lines: impl Iterator<Item = String>) {
    let _ = writeln!(out, "\n{title}");
    let mut any = false;
    for l in lines {
        any = true;
        let _ = writeln!(out, "  {l}");
    }
    if !any {
        let _ = writeln!(out, "  none");
    }
}

fn span(w: &Window) -> String {
    format!("{} → {}", time::format(&w.start), time::format(&w.end))
}

/// `START → END  JOB`.
fn job_line(job: &ReportJob) -> String {
    let window = Window {
        start: from_k8s(&job.start),
        end: from_k8s(&job.end),
    };
    let name = job
        .job
        .as_ref()
        .and_then(|r| r.name.as_deref())
        .unwrap_or("(no Job named)");
    format!("{}  {name}", span(&window))
}

/// `START → END  JOB  completed AT`.
fn completed_line(job: &CompletedReportJob, verb: &str) -> String {
    let at = job.job_completion_time.as_ref().map_or_else(
        || "at an unknown time".to_string(),
        |t| time::format(&from_k8s(t)),
    );
    format!("{}  {verb} {at}", job_line(&job.report_job))
}

fn next_line(next: &Next, now: DateTime<Utc>) -> String {
    match next {
        Next::Upcoming { window, due_at } => format!(
            "{}, its Job due at {} (in {})",
            span(window),
            time::format(due_at),
            approx(*due_at - now)
        ),
        Next::Due { window, due_at } => format!(
            "{}, its Job already due since {} ({} ago): the controller creates it on its next pass",
            span(window),
            time::format(due_at),
            approx(now - *due_at)
        ),
        Next::WaitingForActive {
            window,
            due_at,
            limit,
        } => format!(
            "{}, due since {} ({} ago), waits for one of the {limit} active Jobs to finish",
            span(window),
            time::format(due_at),
            approx(now - *due_at)
        ),
        Next::Never(why) => format!("none: {why}"),
    }
}

/// A duration to the two largest units: `9h 30m`, `2d 3h`, `45s`.
fn approx(d: Duration) -> String {
    let mut secs = d.num_seconds().max(0);
    let mut parts = Vec::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            parts.push(format!("{}{unit}", secs / size));
            secs %= size;
        } else if !parts.is_empty() {
            // The second unit is the one right after the first, even when zero: `2d`, not
            // `2d 5m`.
            break;
        }
        if parts.len() == 2 {
            break;
        }
    }
    if parts.is_empty() {
        "0s".to_string()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn t(s: &str) -> DateTime<Utc> {
        time::parse(s).unwrap()
    }

    const NOW: &str = "2026-11-26T15:00:00Z";

    fn report(created: &str, spec: Value, status: Option<Value>) -> GlobalReportResource {
        let mut object = json!({
            "apiVersion": "projectcalico.org/v3", "kind": "GlobalReport",
            "metadata": {"name": "daily-cis-results", "creationTimestamp": created},
            "spec": spec,
        });
        if let Some(status) = status {
            object["status"] = status;
        }
        serde_json::from_value(object).unwrap()
    }

    fn daily() -> Value {
        json!({"reportType": "cis-benchmark", "schedule": "0 0 * * *"})
    }

    fn job(start: &str, end: &str, name: &str) -> Value {
        json!({"start": start, "end": end,
            "job": {"apiVersion": "batch/v1", "kind": "Job", "namespace": "tigera-compliance", "name": name}})
    }

    fn finished(start: &str, end: &str, name: &str, at: &str) -> Value {
        let mut j = job(start, end, name);
        j["jobCompletionTime"] = json!(at);
        j
    }

    /// A week-old daily report: one Job running, two succeeded, one failed.
    fn busy() -> GlobalReportResource {
        let running = job(
            "2026-11-25T00:00:00Z",
            "2026-11-26T00:00:00Z",
            "compliance-reporter.daily-cis-results-1764115200",
        );
        report(
            "2026-11-20T08:00:00Z",
            daily(),
            Some(json!({
                "lastScheduledReportJob": running,
                "activeReportJobs": [running],
                "lastSuccessfulReportJobs": [
                    finished("2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z",
                        "compliance-reporter.daily-cis-results-1763856000", "2026-11-23T00:31:40Z"),
                    finished("2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z",
                        "compliance-reporter.daily-cis-results-1764028800", "2026-11-25T00:32:10Z"),
                ],
                "lastFailedReportJobs": [
                    finished("2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z",
                        "compliance-reporter.daily-cis-results-1763942400", "2026-11-24T00:41:02Z"),
                ],
                "conditions": [{"type": "Scheduling", "status": "True", "reason": "Scheduling",
                    "message": "the next window ends at 2026-11-27T00:00:00Z; its Job starts at 2026-11-27T00:30:00Z",
                    "lastTransitionTime": "2026-11-20T08:00:03Z", "observedGeneration": 1}],
            })),
        )
    }

    #[test]
    fn every_section_of_a_busy_report() {
        let text = render(&busy(), &Settings::default(), t(NOW));
        assert_eq!(
            text,
            "\
GlobalReport     daily-cis-results
Schedule         0 0 * * *
Suspend          false
Scheduling       True (reason Scheduling, since 2026-11-20T08:00:03Z)
                 the next window ends at 2026-11-27T00:00:00Z; its Job starts at 2026-11-27T00:30:00Z
Last scheduled   2026-11-25T00:00:00Z → 2026-11-26T00:00:00Z  compliance-reporter.daily-cis-results-1764115200
Next window      2026-11-26T00:00:00Z → 2026-11-27T00:00:00Z, its Job due at 2026-11-27T00:30:00Z (in 9h 30m)

Active Jobs
  2026-11-25T00:00:00Z → 2026-11-26T00:00:00Z  compliance-reporter.daily-cis-results-1764115200

Last successes
  2026-11-22T00:00:00Z → 2026-11-23T00:00:00Z  compliance-reporter.daily-cis-results-1763856000  completed 2026-11-23T00:31:40Z
  2026-11-24T00:00:00Z → 2026-11-25T00:00:00Z  compliance-reporter.daily-cis-results-1764028800  completed 2026-11-25T00:32:10Z

Last failures
  2026-11-23T00:00:00Z → 2026-11-24T00:00:00Z  compliance-reporter.daily-cis-results-1763942400  failed 2026-11-24T00:41:02Z
"
        );
    }

    #[test]
    fn a_report_the_controller_has_not_handled_yet() {
        // No status at all: the first window starts at the report's creation.
        let fresh = report("2026-11-26T14:23:00Z", daily(), None);
        assert_eq!(
            render(&fresh, &Settings::default(), t(NOW)),
            "\
GlobalReport     daily-cis-results
Schedule         0 0 * * *
Suspend          false
Scheduling       unknown: the controller has not written a Scheduling condition yet
Last scheduled   none yet
Next window      2026-11-26T14:23:00Z → 2026-11-27T00:00:00Z, its Job due at 2026-11-27T00:30:00Z (in 9h 30m)

Active Jobs
  none

Last successes
  none

Last failures
  none
"
        );
        assert_eq!(
            to_json(&fresh),
            json!({"name": "daily-cis-results", "status": {}})
        );
    }

    #[test]
    fn a_false_condition_shows_its_reason_and_message() {
        let suspended = report(
            "2026-11-20T08:00:00Z",
            json!({"reportType": "cis-benchmark", "schedule": "0 0 * * *", "suspend": true}),
            Some(json!({
                "lastScheduledReportJob": job("2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z",
                    "compliance-reporter.daily-cis-results-1764028800"),
                "conditions": [{"type": "Scheduling", "status": "False", "reason": "Suspended",
                    "message": "spec.suspend is true: no new report Jobs; running ones finish",
                    "lastTransitionTime": "2026-11-25T09:12:44Z"}],
            })),
        );
        assert_eq!(
            render(&suspended, &Settings::default(), t(NOW)),
            "\
GlobalReport     daily-cis-results
Schedule         0 0 * * *
Suspend          true
Scheduling       False (reason Suspended, since 2026-11-25T09:12:44Z)
                 spec.suspend is true: no new report Jobs; running ones finish
Last scheduled   2026-11-24T00:00:00Z → 2026-11-25T00:00:00Z  compliance-reporter.daily-cis-results-1764028800
Next window      none: spec.suspend is true

Active Jobs
  none

Last successes
  none

Last failures
  none
"
        );
    }

    #[test]
    fn the_json_is_the_status_object_with_the_api_field_names() {
        let v = to_json(&busy());
        assert_eq!(v["name"], "daily-cis-results");
        assert_eq!(
            v["status"]["lastScheduledReportJob"]["job"]["name"],
            "compliance-reporter.daily-cis-results-1764115200"
        );
        assert_eq!(
            v["status"]["lastSuccessfulReportJobs"][1]["jobCompletionTime"],
            "2026-11-25T00:32:10Z"
        );
        assert_eq!(v["status"]["conditions"][0]["status"], "True");
        assert_eq!(
            v["status"]["lastFailedReportJobs"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    fn next_of(report: &GlobalReportResource, now: &str) -> Next {
        outlook(report, &Settings::default(), t(now)).next
    }

    fn scheduled_until(end: &str, active: usize) -> GlobalReportResource {
        let last = job("2026-11-01T00:00:00Z", end, "compliance-reporter.x");
        report(
            "2026-11-01T00:00:00Z",
            daily(),
            Some(json!({
                "lastScheduledReportJob": last,
                "activeReportJobs": vec![last.clone(); active],
            })),
        )
    }

    fn window(start: &str, end: &str) -> Window {
        Window {
            start: t(start),
            end: t(end),
        }
    }

    #[test]
    fn a_window_past_its_start_delay_is_due() {
        // The window ending at midnight was due at 00:30; at 01:10 the controller has not
        // created its Job (yet).
        let report = scheduled_until("2026-11-25T00:00:00Z", 0);
        let at = "2026-11-26T01:10:00Z";
        assert_eq!(
            next_of(&report, at),
            Next::Due {
                window: window("2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z"),
                due_at: t("2026-11-26T00:30:00Z"),
            }
        );
        let text = render(&report, &Settings::default(), t(at));
        assert!(
            text.contains("Next window      2026-11-25T00:00:00Z → 2026-11-26T00:00:00Z, its Job already due since 2026-11-26T00:30:00Z (40m ago): the controller creates it on its next pass\n"),
            "{text}"
        );
    }

    #[test]
    fn a_due_window_waits_while_the_active_limit_is_reached() {
        let report = scheduled_until("2026-11-25T00:00:00Z", 5);
        let at = "2026-11-26T03:00:00Z";
        assert_eq!(
            next_of(&report, at),
            Next::WaitingForActive {
                window: window("2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z"),
                due_at: t("2026-11-26T00:30:00Z"),
                limit: 5,
            }
        );
        let text = render(&report, &Settings::default(), t(at));
        assert!(
            text.contains("due since 2026-11-26T00:30:00Z (2h 30m ago), waits for one of the 5 active Jobs to finish\n"),
            "{text}"
        );
        // One slot free: due again.
        let report = scheduled_until("2026-11-25T00:00:00Z", 4);
        assert!(matches!(next_of(&report, at), Next::Due { .. }));
    }

    #[test]
    fn the_start_delay_moves_when_a_job_is_due() {
        let report = scheduled_until("2026-11-26T00:00:00Z", 0);
        let settings = Settings {
            start_delay: Duration::hours(2),
            ..Settings::default()
        };
        assert_eq!(
            outlook(&report, &settings, t(NOW)).next,
            Next::Upcoming {
                window: window("2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z"),
                due_at: t("2026-11-27T02:00:00Z"),
            }
        );
    }

    #[test]
    fn windows_too_old_to_start_are_said_to_be_skipped() {
        // Nothing scheduled for a month: only the last week is caught up.
        let report = scheduled_until("2026-10-27T00:00:00Z", 0);
        let out = outlook(&report, &Settings::default(), t(NOW));
        assert_eq!(
            out.skipped,
            Some(window("2026-10-27T00:00:00Z", "2026-11-19T00:00:00Z"))
        );
        assert!(
            matches!(out.next, Next::Due { window, .. } if window.start == t("2026-11-19T00:00:00Z"))
        );
        let text = render(&report, &Settings::default(), t(NOW));
        assert!(
            text.contains("\n                 2026-10-27T00:00:00Z → 2026-11-19T00:00:00Z skipped: those windows ended more than 7d ago\n"),
            "{text}"
        );
    }

    #[test]
    fn no_window_without_a_usable_schedule() {
        let none = |spec: Value| match next_of(&report("2026-11-20T08:00:00Z", spec, None), NOW) {
            Next::Never(why) => why,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            none(json!({"reportType": "cis-benchmark"})),
            "no schedule: reports are made only when run by hand"
        );
        assert_eq!(
            none(json!({"reportType": "cis-benchmark", "schedule": " "})),
            "no schedule: reports are made only when run by hand"
        );
        let why = none(json!({"reportType": "cis-benchmark", "schedule": "*/5 * * * *"}));
        assert!(why.starts_with("spec.schedule: "), "{why}");
        // February 30th never comes.
        let why = none(json!({"reportType": "cis-benchmark", "schedule": "0 0 30 2 *"}));
        assert!(why.ends_with("never fires"), "{why}");
    }

    #[test]
    fn durations_read_to_the_two_largest_units() {
        for (secs, text) in [
            (0, "0s"),
            (-5, "0s"),
            (45, "45s"),
            (60, "1m"),
            (2_430, "40m 30s"),
            (9 * 3_600 + 1_800, "9h 30m"),
            (3_600 + 59, "1h"),
            (2 * 86_400 + 300, "2d"),
            (7 * 86_400, "7d"),
            (86_400 + 3 * 3_600 + 59, "1d 3h"),
        ] {
            assert_eq!(approx(Duration::seconds(secs)), text, "{secs}");
        }
    }
}
