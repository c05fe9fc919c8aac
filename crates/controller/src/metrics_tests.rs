//! The metrics' rules: which Job finishes count, the per-report gauges, and which series a
//! scrape exports when.

use chrono::Duration;
use compliance_kube::crd::{CompletedReportJob, GlobalReportStatus, ReportJob};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::runtime::reflector::store::Writer;
use serde_json::json;

use super::*;
use crate::k8s_time::to_k8s;
use crate::template::{Owner, build_job};
use crate::window::Window;

fn t(s: &str) -> DateTime<Utc> {
    compliance_core::time::parse(s).unwrap()
}

// --- which finishes count ---

#[test]
fn a_job_already_finished_at_the_first_listing_is_not_counted() {
    let mut tracker = FinishTracker::default();
    tracker.listing_started();
    assert!(!tracker.listed("old", Some(Finish::Succeeded)));
    assert!(!tracker.listed("running", None));
    tracker.listing_done();
    // The same finished Job seen again (a resync, a label change) is still not counted.
    assert!(!tracker.changed("old", Some(Finish::Succeeded)));
}

#[test]
fn a_job_seen_to_finish_is_counted_once() {
    let mut tracker = FinishTracker::default();
    tracker.listing_started();
    assert!(!tracker.listed("j", None));
    tracker.listing_done();
    assert!(!tracker.changed("j", None));
    assert!(tracker.changed("j", Some(Finish::Failed)));
    assert!(!tracker.changed("j", Some(Finish::Failed)));
    // A Job created and finished after the listing counts too.
    assert!(tracker.changed("k", Some(Finish::Succeeded)));
}

#[test]
fn a_job_that_finished_while_the_watch_was_down_counts_at_the_next_listing() {
    let mut tracker = FinishTracker::default();
    tracker.listing_started();
    tracker.listed("counted", None);
    tracker.listing_done();
    assert!(tracker.changed("counted", Some(Finish::Succeeded)));
    tracker.listing_started();
    assert!(!tracker.listed("counted", Some(Finish::Succeeded)));
    assert!(tracker.listed("new", Some(Finish::Failed)));
    tracker.listing_done();
}

#[test]
fn jobs_gone_are_forgotten() {
    let mut tracker = FinishTracker::default();
    tracker.listing_started();
    tracker.listing_done();
    assert!(tracker.changed("a", Some(Finish::Succeeded)));
    assert!(tracker.changed("b", Some(Finish::Succeeded)));
    tracker.deleted("a");
    // Not listed again after a restart of the watch: deleted while it was down.
    tracker.listing_started();
    tracker.listing_done();
    assert!(tracker.seen.is_empty(), "{:?}", tracker.seen);
}

// --- the per-report gauges ---

fn job(end: &str, state: JobState) -> OwnedJob {
    let end = t(end);
    OwnedJob {
        name: format!("j-{}", end.timestamp()),
        namespace: "tigera-compliance".into(),
        uid: Some(format!("uid-{}", end.timestamp())),
        window: Window {
            start: end - Duration::days(1),
            end,
        },
        state,
    }
}

fn report_job(end: &str) -> ReportJob {
    let end = t(end);
    ReportJob {
        start: to_k8s(end - Duration::days(1)),
        end: to_k8s(end),
        job: None,
    }
}

fn view<'a>(status: &'a GlobalReportStatus, schedule: Option<&'a str>) -> ReportView<'a> {
    ReportView {
        name: "daily",
        created: t("2026-11-20T14:23:00Z"),
        deleting: false,
        schedule,
        suspend: false,
        generation: Some(1),
        status,
    }
}

const DAILY: Option<&str> = Some("0 0 * * *");

#[test]
fn the_last_due_window_ends_at_the_latest_fire_at_least_the_start_delay_ago() {
    let status = GlobalReportStatus::default();
    let settings = Settings::default();
    let at = |now: &str| report_series(&view(&status, DAILY), &[], &settings, t(now)).last_due;
    // 30 minutes after midnight the window ending at midnight is due, not before.
    assert_eq!(at("2026-11-25T10:00:00Z"), Some(t("2026-11-25T00:00:00Z")));
    assert_eq!(at("2026-11-25T00:30:00Z"), Some(t("2026-11-25T00:00:00Z")));
    assert_eq!(at("2026-11-25T00:29:59Z"), Some(t("2026-11-24T00:00:00Z")));
    // The first window ends at the first midnight after the creation.
    assert_eq!(at("2026-11-21T00:30:00Z"), Some(t("2026-11-21T00:00:00Z")));
    assert_eq!(at("2026-11-21T00:10:00Z"), None);
}

#[test]
fn windows_the_controller_cannot_start_are_due_all_the_same() {
    // Windows older than ignore_unstarted_after are skipped, not caught up, and a missing
    // template starts nothing: the due time keeps moving so that an alert can fire.
    let status = GlobalReportStatus {
        last_scheduled_report_job: Some(report_job("2026-11-21T00:00:00Z")),
        ..Default::default()
    };
    let series = report_series(
        &view(&status, DAILY),
        &[],
        &Settings::default(),
        t("2026-12-04T12:00:00Z"),
    );
    assert_eq!(series.last_due, Some(t("2026-12-04T00:00:00Z")));
}

#[test]
fn a_suspended_or_unscheduled_report_has_nothing_new_due() {
    let status = GlobalReportStatus {
        last_scheduled_report_job: Some(report_job("2026-11-23T00:00:00Z")),
        ..Default::default()
    };
    let jobs = [job("2026-11-24T00:00:00Z", JobState::Active)];
    let now = t("2026-12-04T12:00:00Z");
    let settings = Settings::default();
    let mut suspended = view(&status, DAILY);
    suspended.suspend = true;
    let mut deleting = view(&status, DAILY);
    deleting.deleting = true;
    for (what, v) in [
        ("suspended", suspended),
        ("deleting", deleting),
        ("no schedule", view(&status, None)),
        ("empty schedule", view(&status, Some(" "))),
        ("bad schedule", view(&status, Some("every day"))),
    ] {
        assert_eq!(
            report_series(&v, &jobs, &settings, now).last_due,
            Some(t("2026-11-24T00:00:00Z")),
            "{what}"
        );
        assert_eq!(
            report_series(&v, &[], &settings, now).last_due,
            Some(t("2026-11-23T00:00:00Z")),
            "{what}"
        );
    }
    assert_eq!(
        report_series(
            &view(&GlobalReportStatus::default(), None),
            &[],
            &settings,
            now
        )
        .last_due,
        None
    );
}

#[test]
fn the_last_success_is_the_latest_succeeded_window_from_jobs_or_status() {
    let settings = Settings::default();
    let now = t("2026-11-26T12:00:00Z");
    let none = GlobalReportStatus::default();
    let failed_and_running = [
        job("2026-11-24T00:00:00Z", JobState::Failed { at: None }),
        job("2026-11-25T00:00:00Z", JobState::Active),
        job("2026-11-26T00:00:00Z", JobState::Active),
    ];
    let series = report_series(&view(&none, DAILY), &failed_and_running, &settings, now);
    assert_eq!(series.last_success, None);
    assert_eq!(series.active, 2);

    // A success the history limit deleted is still in status.
    let status = GlobalReportStatus {
        last_successful_report_jobs: vec![CompletedReportJob {
            report_job: report_job("2026-11-23T00:00:00Z"),
            job_completion_time: None,
        }],
        ..Default::default()
    };
    let series = report_series(&view(&status, DAILY), &failed_and_running, &settings, now);
    assert_eq!(series.last_success, Some(t("2026-11-23T00:00:00Z")));

    // A Job that succeeded since, not yet in status.
    let mut jobs = failed_and_running.to_vec();
    jobs[1].state = JobState::Succeeded { at: Some(now) };
    let series = report_series(&view(&status, DAILY), &jobs, &settings, now);
    assert_eq!(series.last_success, Some(t("2026-11-25T00:00:00Z")));
    assert_eq!(series.active, 1);
}

// --- what a scrape exports ---

const GROUP: &str = "projectcalico.org";

fn report_object(name: &str, uid: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/v3"), "kind": "GlobalReport",
        "metadata": {"name": name, "uid": uid, "creationTimestamp": "2026-11-20T14:23:00Z"},
        "spec": {"reportType": "cis-benchmark", "schedule": "0 0 * * *"},
        "status": {"lastSuccessfulReportJobs": [
            {"start": "2026-11-22T00:00:00Z", "end": "2026-11-23T00:00:00Z"}]},
    }))
    .unwrap()
}

fn report_job_object(report: &str, report_uid: &str, end: &str) -> Job {
    let template = k8s_openapi::api::core::v1::PodTemplate {
        template: Some(k8s_openapi::api::core::v1::PodTemplateSpec {
            metadata: None,
            spec: Some(k8s_openapi::api::core::v1::PodSpec {
                containers: vec![k8s_openapi::api::core::v1::Container {
                    name: crate::template::REPORT_CONTAINER.into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    let owner = Owner {
        api_version: format!("{GROUP}/v3"),
        name: report.into(),
        uid: report_uid.into(),
    };
    let end = t(end);
    let window = Window {
        start: end - Duration::days(1),
        end,
    };
    let mut job = build_job(
        &template,
        &owner,
        &Default::default(),
        "j",
        window,
        &Settings::default(),
    )
    .unwrap();
    job.metadata.uid = Some(format!("job-{report}"));
    job
}

fn finish(job: &mut Job, condition: &str) {
    job.status = Some(k8s_openapi::api::batch::v1::JobStatus {
        conditions: Some(vec![k8s_openapi::api::batch::v1::JobCondition {
            type_: condition.into(),
            status: "True".into(),
            ..Default::default()
        }]),
        ..Default::default()
    });
}

fn report_name(job: &Job) -> Option<String> {
    job.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o: &&OwnerReference| o.controller == Some(true))
        .map(|o| o.name.clone())
}

fn scrape(metrics: &Arc<ControllerMetrics>) -> String {
    let mut registry = Registry::with_prefix("compliance");
    metrics.register(&mut registry, "1.2.3", "abc");
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
    out
}

/// The sample lines of `text` that start with `prefix`.
fn lines<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

struct Cluster {
    reports: Writer<DynamicObject>,
    jobs: Writer<Job>,
}

impl Cluster {
    fn new() -> Cluster {
        let mut reports = Writer::new(crate::run::global_report_resource(GROUP));
        let mut jobs = Writer::new(());
        for writer_init in [watcher::Event::Init, watcher::Event::InitDone] {
            reports.apply_watcher_event(&writer_init);
        }
        for writer_init in [watcher::Event::Init, watcher::Event::InitDone] {
            jobs.apply_watcher_event(&writer_init);
        }
        Cluster { reports, jobs }
    }

    fn caches(&self) -> Caches {
        Caches {
            reports: self.reports.as_reader(),
            jobs: self.jobs.as_reader(),
            settings: Settings::default(),
        }
    }
}

#[test]
fn a_follower_exports_leader_0_and_its_process_series_only() {
    let metrics = ControllerMetrics::new();
    let mut cluster = Cluster::new();
    cluster
        .reports
        .apply_watcher_event(&watcher::Event::Apply(report_object("daily", "r1")));
    metrics.follow(Leadership::default());
    metrics.watch(cluster.caches());
    let text = scrape(&metrics);
    assert_eq!(
        lines(&text, "compliance_controller_leader"),
        ["compliance_controller_leader 0"]
    );
    assert!(!text.contains("report="), "{text}");
    assert!(
        text.contains("compliance_controller_reconciles_total{result=\"ok\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("compliance_controller_build_info{version=\"1.2.3\",git_commit=\"abc\"} 1"),
        "{text}"
    );
}

#[test]
fn the_leader_exports_each_reports_series_until_the_report_is_deleted() {
    let metrics = ControllerMetrics::new();
    let mut cluster = Cluster::new();
    let report = report_object("daily", "r1");
    cluster
        .reports
        .apply_watcher_event(&watcher::Event::Apply(report.clone()));
    metrics.follow(Leadership::always());
    metrics.watch(cluster.caches());

    // The Jobs watch lists one running Job, which then fails.
    let mut job = report_job_object("daily", "r1", "2026-11-24T00:00:00Z");
    for event in [
        watcher::Event::Init,
        watcher::Event::InitApply(job.clone()),
        watcher::Event::InitDone,
    ] {
        cluster.jobs.apply_watcher_event(&event);
        metrics.on_job_event(&event, report_name);
    }
    metrics.job_created("daily");
    let text = scrape(&metrics);
    assert_eq!(
        lines(&text, "compliance_controller_leader"),
        ["compliance_controller_leader 1"]
    );
    assert!(
        text.contains("compliance_controller_jobs_active{report=\"daily\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("compliance_controller_jobs_created_total{report=\"daily\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "compliance_controller_report_last_success_timestamp_seconds{report=\"daily\"} 1795392000"
        ),
        "{text}"
    );

    finish(&mut job, "Failed");
    let event = watcher::Event::Apply(job);
    cluster.jobs.apply_watcher_event(&event);
    metrics.on_job_event(&event, report_name);
    metrics.on_job_event(&event, report_name);
    let text = scrape(&metrics);
    assert_eq!(
        lines(&text, "compliance_controller_jobs_finished_total"),
        [
            "compliance_controller_jobs_finished_total{report=\"daily\",outcome=\"succeeded\"} 0",
            "compliance_controller_jobs_finished_total{report=\"daily\",outcome=\"failed\"} 1",
        ]
    );
    assert!(
        text.contains("compliance_controller_jobs_active{report=\"daily\"} 0"),
        "{text}"
    );
    let due = lines(
        &text,
        "compliance_controller_report_last_due_timestamp_seconds",
    );
    assert_eq!(due.len(), 1, "{text}");

    cluster
        .reports
        .apply_watcher_event(&watcher::Event::Delete(report));
    let text = scrape(&metrics);
    assert!(!text.contains("report="), "{text}");
    assert_eq!(
        lines(&text, "compliance_controller_leader"),
        ["compliance_controller_leader 1"]
    );
    // Created again under the same name, it starts from zero.
    cluster
        .reports
        .apply_watcher_event(&watcher::Event::Apply(report_object("daily", "r2")));
    let text = scrape(&metrics);
    assert!(
        text.contains("compliance_controller_jobs_created_total{report=\"daily\"} 0"),
        "{text}"
    );
}
