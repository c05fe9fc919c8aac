//! The planner's rules (docs/spec.md §8), one test each, and its invariants as properties.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use compliance_kube::crd::GlobalReportStatus;
use proptest::prelude::*;

use super::*;
use crate::jobs::{JobState, OwnedJob};

fn t(s: &str) -> DateTime<Utc> {
    time::parse(s).unwrap()
}

const OK: Result<(), TemplateProblem> = Ok(());

struct Case {
    created: DateTime<Utc>,
    schedule: Option<&'static str>,
    suspend: bool,
    deleting: bool,
    status: GlobalReportStatus,
    jobs: Vec<OwnedJob>,
    template: Result<(), TemplateProblem>,
    recovered_end: Option<DateTime<Utc>>,
    settings: Settings,
}

impl Case {
    fn daily() -> Case {
        Case {
            created: t("2026-11-20T14:23:00Z"),
            schedule: Some("0 0 * * *"),
            suspend: false,
            deleting: false,
            status: GlobalReportStatus::default(),
            jobs: Vec::new(),
            template: OK,
            recovered_end: None,
            settings: Settings::default(),
        }
    }

    fn plan(&self, now: DateTime<Utc>) -> Plan {
        plan(&Input {
            report: self.view(),
            jobs: &self.jobs,
            template: &self.template,
            recovered_end: self.recovered_end,
            settings: &self.settings,
            now,
        })
    }

    fn view(&self) -> ReportView<'_> {
        ReportView {
            name: "daily",
            created: self.created,
            deleting: self.deleting,
            schedule: self.schedule,
            suspend: self.suspend,
            generation: Some(1),
            status: &self.status,
        }
    }
}

fn job(name: &str, start: &str, end: &str, state: JobState) -> OwnedJob {
    OwnedJob {
        name: name.into(),
        namespace: "tigera-compliance".into(),
        uid: Some(format!("uid-{name}")),
        window: Window {
            start: t(start),
            end: t(end),
        },
        state,
    }
}

fn ends(plan: &Plan) -> Vec<DateTime<Utc>> {
    plan.create.iter().map(|j| j.window.end).collect()
}

#[test]
fn first_window_starts_at_the_creation_timestamp() {
    let plan = Case::daily().plan(t("2026-11-21T00:30:00Z"));
    assert_eq!(
        plan.create,
        [NewJob {
            name: "compliance-reporter.daily-1795219200".into(),
            window: Window {
                start: t("2026-11-20T14:23:00Z"),
                end: t("2026-11-21T00:00:00Z")
            }
        }]
    );
    assert_eq!(plan.condition.status, "True");
    assert_eq!(plan.next_check, Some(t("2026-11-22T00:30:00Z")));
    assert_eq!(plan.events[0].reason, "JobCreated");
}

#[test]
fn next_window_starts_where_the_last_scheduled_one_ended() {
    let mut case = Case::daily();
    case.jobs = vec![job(
        "a",
        "2026-11-20T14:23:00Z",
        "2026-11-21T00:00:00Z",
        JobState::Succeeded { at: None },
    )];
    let plan = case.plan(t("2026-11-22T00:31:00Z"));
    assert_eq!(plan.create[0].window.start, t("2026-11-21T00:00:00Z"));
    assert_eq!(plan.create[0].window.end, t("2026-11-22T00:00:00Z"));
}

#[test]
fn no_window_before_its_end_plus_job_start_delay() {
    let plan = Case::daily().plan(t("2026-11-21T00:29:59Z"));
    assert!(plan.create.is_empty());
    assert_eq!(plan.next_check, Some(t("2026-11-21T00:30:00Z")));
}

#[test]
fn suspend_stops_new_jobs() {
    let mut case = Case::daily();
    case.suspend = true;
    let plan = case.plan(t("2026-11-25T00:31:00Z"));
    assert!(plan.create.is_empty());
    assert_eq!(
        (
            plan.condition.status.as_str(),
            plan.condition.reason.as_str()
        ),
        ("False", "Suspended")
    );
}

#[test]
fn an_empty_schedule_or_a_deleted_report_starts_no_jobs() {
    let mut case = Case::daily();
    case.schedule = Some(" ");
    assert_eq!(
        case.plan(t("2026-11-25T00:31:00Z")).condition.reason,
        "NoSchedule"
    );
    case.schedule = Some("0 0 * * *");
    case.deleting = true;
    let plan = case.plan(t("2026-11-25T00:31:00Z"));
    assert!(plan.create.is_empty());
    assert_eq!(plan.condition.reason, "Deleting");
}

#[test]
fn an_invalid_schedule_is_a_condition_and_one_event() {
    let mut case = Case::daily();
    case.schedule = Some("*/5 * * * *");
    let plan = case.plan(t("2026-11-25T00:31:00Z"));
    assert!(plan.create.is_empty());
    assert_eq!(plan.condition.reason, "InvalidSchedule");
    assert!(
        plan.condition.message.contains("spec.schedule"),
        "{}",
        plan.condition.message
    );
    assert_eq!(plan.events.len(), 1);
    // Once the condition says so, the event is not repeated on every pass.
    case.status.conditions = vec![plan.condition];
    assert!(case.plan(t("2026-11-25T00:32:00Z")).events.is_empty());
}

#[test]
fn a_missing_template_is_a_condition_and_an_event_not_a_crash() {
    let mut case = Case::daily();
    case.template = Err(TemplateProblem::NotFound {
        namespace: "tigera-compliance".into(),
        specific: "tigera.io.report.daily".into(),
    });
    let plan = case.plan(t("2026-11-25T00:31:00Z"));
    assert!(plan.create.is_empty());
    assert_eq!(plan.condition.reason, "TemplateNotFound");
    assert!(plan.condition.message.contains("tigera.io.report.daily"));
    assert_eq!(plan.events[0].reason, "TemplateNotFound");
    assert!(plan.events[0].warning);
}

#[test]
fn never_more_active_jobs_than_max_active_jobs() {
    let mut case = Case::daily();
    case.jobs = (0..4)
        .map(|i| {
            let start = t("2026-11-20T14:23:00Z") + Duration::days(i);
            job(
                &format!("j{i}"),
                &time::format(&start),
                &time::format(&(start + Duration::days(1))),
                JobState::Active,
            )
        })
        .collect();
    let plan = case.plan(t("2026-11-28T06:00:00Z"));
    assert_eq!(plan.create.len(), 1, "5 active at most, 4 already are");
    assert!(
        plan.condition.message.contains("waits"),
        "{}",
        plan.condition.message
    );
    assert_eq!(
        plan.next_check, None,
        "a Job finishing triggers the next pass"
    );
}

#[test]
fn catch_up_after_a_week_long_outage_is_bounded_at_168h_oldest_first() {
    let mut case = Case::daily();
    case.settings.max_active_jobs = 100;
    case.status.last_scheduled_report_job = Some(ReportJob {
        start: crate::k8s_time::to_k8s(t("2026-11-01T00:00:00Z")),
        end: crate::k8s_time::to_k8s(t("2026-11-02T00:00:00Z")),
        job: None,
    });
    let now = t("2026-11-20T06:00:00Z");
    let plan = case.plan(now);
    assert_eq!(plan.create.len(), 7);
    assert_eq!(plan.create[0].window.start, t("2026-11-13T00:00:00Z"));
    assert!(ends(&plan).windows(2).all(|w| w[0] < w[1]));
    assert_eq!(plan.events[0].reason, "WindowsSkipped");
    assert!(
        plan.events[0].message.contains("168h"),
        "{}",
        plan.events[0].message
    );
}

#[test]
fn a_job_created_just_before_a_crash_is_not_planned_again() {
    // The Job exists but the status write never happened.
    let mut case = Case::daily();
    let now = t("2026-11-21T00:31:00Z");
    let first = case.plan(now);
    case.jobs = vec![job(
        &first.create[0].name,
        "2026-11-20T14:23:00Z",
        "2026-11-21T00:00:00Z",
        JobState::Active,
    )];
    assert!(case.plan(now).create.is_empty());
}

#[test]
fn restored_report_recovers_its_last_window_from_the_store() {
    let mut case = Case::daily();
    case.created = t("2026-11-25T10:00:00Z");
    assert!(needs_recovery(&case.view(), &case.jobs));
    case.recovered_end = Some(t("2026-11-23T00:00:00Z"));
    let plan = case.plan(t("2026-11-25T11:00:00Z"));
    assert_eq!(
        ends(&plan),
        [t("2026-11-24T00:00:00Z"), t("2026-11-25T00:00:00Z")]
    );
    assert_eq!(plan.create[0].window.start, t("2026-11-23T00:00:00Z"));
}

#[test]
fn status_is_rebuilt_from_owned_jobs_sorted_and_within_history_limits() {
    let jobs = vec![
        job(
            "s3",
            "2026-11-23T00:00:00Z",
            "2026-11-24T00:00:00Z",
            JobState::Succeeded {
                at: Some(t("2026-11-24T00:40:00Z")),
            },
        ),
        job(
            "s1",
            "2026-11-21T00:00:00Z",
            "2026-11-22T00:00:00Z",
            JobState::Succeeded { at: None },
        ),
        job(
            "s2",
            "2026-11-22T00:00:00Z",
            "2026-11-23T00:00:00Z",
            JobState::Succeeded { at: None },
        ),
        job(
            "f1",
            "2026-11-20T00:00:00Z",
            "2026-11-21T00:00:00Z",
            JobState::Failed { at: None },
        ),
        job(
            "a1",
            "2026-11-24T00:00:00Z",
            "2026-11-25T00:00:00Z",
            JobState::Active,
        ),
    ];
    let condition = Case::daily().plan(t("2026-11-25T00:00:00Z")).condition;
    let rebuilt = rebuild(
        &GlobalReportStatus::default(),
        &jobs,
        condition,
        &Settings::default(),
    );
    let names = |list: &[CompletedReportJob]| -> Vec<String> {
        list.iter()
            .map(|j| job_ref_name(&j.report_job).to_string())
            .collect()
    };
    assert_eq!(
        names(&rebuilt.status.last_successful_report_jobs),
        ["s2", "s3"]
    );
    assert_eq!(names(&rebuilt.status.last_failed_report_jobs), ["f1"]);
    assert_eq!(rebuilt.delete, ["s1"], "beyond the 2 successful kept");
    assert_eq!(rebuilt.status.active_report_jobs.len(), 1);
    assert_eq!(
        job_ref_name(rebuilt.status.last_scheduled_report_job.as_ref().unwrap()),
        "a1"
    );
    let s3 = &rebuilt.status.last_successful_report_jobs[1];
    assert_eq!(
        s3.job_completion_time
            .as_ref()
            .map(crate::k8s_time::from_k8s),
        Some(t("2026-11-24T00:40:00Z"))
    );
    let reasons: Vec<_> = rebuilt.events.iter().map(|e| e.reason).collect();
    assert_eq!(reasons, ["JobSucceeded", "JobSucceeded", "JobFailed"]);
    // Rebuilt again from the status it wrote: no repeated events.
    let again = rebuild(
        &rebuilt.status,
        &jobs,
        rebuilt.status.conditions[0].clone(),
        &Settings::default(),
    );
    assert!(again.events.is_empty());
    assert_eq!(again.status, rebuilt.status);
}

#[test]
fn last_scheduled_report_job_outlives_the_deletion_of_its_job() {
    let mut old = GlobalReportStatus::default();
    let j = job(
        "late",
        "2026-11-24T00:00:00Z",
        "2026-11-25T00:00:00Z",
        JobState::Active,
    );
    old.last_scheduled_report_job = Some(report_job(&j));
    let condition = Case::daily().plan(t("2026-11-25T00:00:00Z")).condition;
    let rebuilt = rebuild(&old, &[], condition, &Settings::default());
    assert_eq!(
        rebuilt.status.last_scheduled_report_job,
        old.last_scheduled_report_job
    );
}

// --- the controller as a state machine, crashing anywhere ------------------------------

/// The cluster as the planner's reconciler would leave it.
#[derive(Debug, Clone, Default, PartialEq)]
struct World {
    jobs: BTreeMap<String, OwnedJob>,
    status: GlobalReportStatus,
    /// Every window end a Job was ever created for, and how often.
    created: BTreeMap<DateTime<Utc>, usize>,
}

/// One reconcile pass; stops after `budget` API calls (a crash) when given one.
fn pass(world: &mut World, case: &Case, now: DateTime<Utc>, budget: Option<usize>) {
    let jobs: Vec<OwnedJob> = world.jobs.values().cloned().collect();
    let status = world.status.clone();
    let input = Input {
        report: ReportView {
            status: &status,
            ..case.view()
        },
        jobs: &jobs,
        template: &case.template,
        recovered_end: None,
        settings: &case.settings,
        now,
    };
    let plan = plan(&input);
    let mut calls = 0;
    let mut spend = || {
        calls += 1;
        budget.is_none_or(|b| calls <= b)
    };
    for new in &plan.create {
        if !spend() {
            return;
        }
        if !world.jobs.contains_key(&new.name) {
            *world.created.entry(new.window.end).or_default() += 1;
            world.jobs.insert(
                new.name.clone(),
                OwnedJob {
                    name: new.name.clone(),
                    namespace: case.settings.namespace.clone(),
                    uid: Some(format!("uid-{}", new.name)),
                    window: new.window,
                    state: JobState::Active,
                },
            );
        }
    }
    let jobs: Vec<OwnedJob> = world.jobs.values().cloned().collect();
    let rebuilt = rebuild(&status, &jobs, plan.condition, &case.settings);
    if !spend() {
        return;
    }
    world.status = rebuilt.status;
    for name in rebuilt.delete {
        if !spend() {
            return;
        }
        world.jobs.remove(&name);
    }
}

#[derive(Debug, Clone)]
struct Step {
    advance_minutes: i64,
    finish: Vec<(usize, bool)>,
    crash_after: Option<usize>,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            prop_oneof![0i64..90, 0i64..3000, Just(7 * 24 * 60 + 600)],
            prop::collection::vec((0usize..8, any::<bool>()), 0..3),
            prop::option::of(0usize..8),
        )
            .prop_map(|(advance_minutes, finish, crash_after)| Step {
                advance_minutes,
                finish,
                crash_after,
            }),
        1..25,
    )
}

fn finish(world: &mut World, which: &[(usize, bool)], now: DateTime<Utc>) {
    for &(index, ok) in which {
        let active: Vec<String> = world
            .jobs
            .values()
            .filter(|j| j.state == JobState::Active)
            .map(|j| j.name.clone())
            .collect();
        if let Some(name) = active.get(index % active.len().max(1)) {
            let job = world.jobs.get_mut(name).unwrap();
            job.state = if ok {
                JobState::Succeeded { at: Some(now) }
            } else {
                JobState::Failed { at: Some(now) }
            };
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A controller that crashes between any two API calls and then runs again ends in
    /// the same state as one that never crashed; no window ever gets a second Job; the
    /// active limit holds; the windows of all Jobs ever created tile time.
    #[test]
    fn replanning_after_a_crash_converges_and_never_runs_a_window_twice(
        steps in steps(),
        schedule in prop_oneof![Just("0 0 * * *"), Just("0,30 * * * *"), Just("0 */6 * * *")],
        max_active in 1usize..6,
        keep_ok in 0usize..3,
        keep_failed in 0usize..3,
    ) {
        let mut case = Case::daily();
        case.schedule = Some(schedule);
        case.settings.max_active_jobs = max_active;
        case.settings.max_successful_jobs_history = keep_ok;
        case.settings.max_failed_jobs_history = keep_failed;
        let mut crashing = World::default();
        let mut steady = World::default();
        let mut now = case.created;
        for step in &steps {
            now += Duration::minutes(step.advance_minutes);
            finish(&mut crashing, &step.finish, now);
            finish(&mut steady, &step.finish, now);
            pass(&mut crashing, &case, now, step.crash_after);
            pass(&mut crashing, &case, now, None);
            pass(&mut steady, &case, now, None);
            prop_assert_eq!(&crashing.jobs, &steady.jobs);
            prop_assert_eq!(&crashing.status, &steady.status);
            prop_assert!(crashing.created.values().all(|&n| n == 1), "a window ran twice");
            let active = crashing.jobs.values().filter(|j| j.state == JobState::Active).count();
            prop_assert!(active <= max_active);
        }
        // Created windows, in order, start where the one before ended, unless windows
        // were skipped for being too old.
        let created: BTreeSet<_> = crashing.created.keys().collect();
        prop_assert_eq!(created.len(), crashing.created.len());
    }
}
