//! The controller's metrics: the `## compliance-controller` table of docs/metrics.md.
//!
//! Three kinds of series, each kept where it is cheapest to be right:
//! - process counters (`reconciles_total`) and `build_info`, plain prometheus-client
//!   families;
//! - per-report counts of Jobs created and seen to finish, kept here by report name and
//!   incremented by the reconciler (creates) and by the Jobs watch (finishes);
//! - everything else (`leader`, `jobs_active`, the due and success timestamps) computed at
//!   scrape time from the same caches the planner reads, by [`report_series`].
//!
//! The per-report series are all written by one [`Collector`] at scrape time, and only
//! for the GlobalReports in the controller's cache while this replica leads: a deleted
//! report's series vanish with it, and a follower exports `leader 0` and its process
//! series only. Nothing here talks to the API server.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use chrono::{DateTime, Utc};
use compliance_core::schedule::Schedule;
use compliance_kube::crd::GlobalReportResource;
use futures::FutureExt;
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::api::DynamicObject;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

use crate::jobs::{self, JobState, OwnedJob};
use crate::k8s_time::from_k8s;
use crate::lease::Leadership;
use crate::plan::ReportView;
use crate::settings::Settings;

/// How a reporter Job ended, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Finish {
    Succeeded,
    Failed,
}

impl Finish {
    /// The Job's outcome, `None` while it runs.
    pub fn of(state: JobState) -> Option<Finish> {
        match state {
            JobState::Active => None,
            JobState::Succeeded { .. } => Some(Finish::Succeeded),
            JobState::Failed { .. } => Some(Finish::Failed),
        }
    }
}

/// Decides which Job finishes to count: each Job once per process, and none that had
/// already finished when the Jobs watch first listed them (the process did not see them
/// finish; counting them would make every restart look like a burst of finishes).
///
/// A watch that restarts lists every Job again: a finished Job that this process had not
/// seen before finished while the watch was down, and is counted then.
#[derive(Debug, Default)]
pub struct FinishTracker {
    /// The first listing is complete.
    synced: bool,
    /// The uids of a listing in progress.
    listing: Option<HashSet<String>>,
    /// Finished Jobs already decided on (counted, or finished before the first listing).
    seen: HashSet<String>,
}

impl FinishTracker {
    /// A listing starts (the watch started or restarted).
    pub fn listing_started(&mut self) {
        self.listing = Some(HashSet::new());
    }

    /// A Job of a listing; whether to count its finish.
    pub fn listed(&mut self, uid: &str, finish: Option<Finish>) -> bool {
        if let Some(listing) = &mut self.listing {
            listing.insert(uid.to_string());
        }
        self.decide(uid, finish)
    }

    /// The listing is complete: Jobs it did not list are gone, so forgetting them keeps
    /// the set as small as the Jobs kept.
    pub fn listing_done(&mut self) {
        self.synced = true;
        if let Some(listing) = self.listing.take() {
            self.seen.retain(|uid| listing.contains(uid));
        }
    }

    /// A Job added or changed after a listing; whether to count its finish.
    pub fn changed(&mut self, uid: &str, finish: Option<Finish>) -> bool {
        self.decide(uid, finish)
    }

    /// A Job deleted.
    pub fn deleted(&mut self, uid: &str) {
        self.seen.remove(uid);
    }

    fn decide(&mut self, uid: &str, finish: Option<Finish>) -> bool {
        finish.is_some() && self.seen.insert(uid.to_string()) && self.synced
    }
}

/// The values of one GlobalReport's gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportSeries {
    /// Jobs not finished.
    pub active: u64,
    /// The end of the latest window whose Job should have started by now.
    pub last_due: Option<DateTime<Utc>>,
    /// The end of the latest window whose Job succeeded.
    pub last_success: Option<DateTime<Utc>>,
}

/// The gauges of one GlobalReport from what the planner sees: the report, the Jobs it
/// owns, the settings and `now`.
///
/// `last_due` is the end of the latest window whose Job should have started by now: the
/// schedule's latest fire time at least `start_delay` ago (and after the report's
/// creation, where its first window starts), or the end of the latest window that has a
/// Job if that is later. Windows the controller will not start (too old to catch up,
/// waiting for a Job slot, no PodTemplate) are due all the same: that is what an alert on
/// `last_due - last_success` is for. A suspended, unscheduled, badly scheduled or deleted
/// report has nothing new due, so its `last_due` stays at the latest window with a Job.
///
/// `last_success` is the end of the latest window whose Job succeeded, from the owned
/// Jobs and `status.lastSuccessfulReportJobs` (which keeps them after the Jobs are
/// deleted by the history limit).
pub fn report_series(
    report: &ReportView<'_>,
    jobs: &[OwnedJob],
    settings: &Settings,
    now: DateTime<Utc>,
) -> ReportSeries {
    let active = jobs.iter().filter(|j| j.state == JobState::Active).count() as u64;
    let status = report.status;
    let scheduled = status
        .last_scheduled_report_job
        .as_ref()
        .map(|j| from_k8s(&j.end))
        .into_iter()
        .chain(jobs.iter().map(|j| j.window.end))
        .max();
    let from_schedule = if report.deleting || report.suspend {
        None
    } else {
        report
            .schedule
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| Schedule::parse(s).ok())
            .and_then(|schedule| {
                let first_end = schedule.next_fire(report.created, false)?;
                schedule
                    .previous_fire(now - settings.start_delay, true)
                    .filter(|end| *end >= first_end)
            })
    };
    let last_success = status
        .last_successful_report_jobs
        .iter()
        .map(|j| from_k8s(&j.report_job.end))
        .chain(
            jobs.iter()
                .filter(|j| matches!(j.state, JobState::Succeeded { .. }))
                .map(|j| j.window.end),
        )
        .max();
    ReportSeries {
        active,
        last_due: scheduled.into_iter().chain(from_schedule).max(),
        last_success,
    }
}

/// What the scrape reads once the controller leads: the caches the planner reads.
#[derive(Clone)]
pub struct Caches {
    pub reports: Store<DynamicObject>,
    pub jobs: Store<Job>,
    pub settings: Settings,
}

/// Per-report counts kept by this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct JobCounts {
    created: u64,
    succeeded: u64,
    failed: u64,
}

type ResultLabel = [(&'static str, &'static str); 1];

/// The controller's metrics; register them with [`ControllerMetrics::register`].
pub struct ControllerMetrics {
    reconciles: Family<ResultLabel, Counter>,
    counts: Mutex<HashMap<String, JobCounts>>,
    finishes: Mutex<FinishTracker>,
    leadership: OnceLock<Leadership>,
    caches: OnceLock<Caches>,
}

impl std::fmt::Debug for ControllerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerMetrics").finish_non_exhaustive()
    }
}

impl ControllerMetrics {
    /// New metrics, with `reconciles_total` at 0 for both results.
    pub fn new() -> Arc<ControllerMetrics> {
        let reconciles = Family::default();
        for result in ["ok", "error"] {
            let _ = reconciles.get_or_create(&[("result", result)]);
        }
        Arc::new(ControllerMetrics {
            reconciles,
            counts: Mutex::default(),
            finishes: Mutex::default(),
            leadership: OnceLock::new(),
            caches: OnceLock::new(),
        })
    }

    /// Adds every series to `registry`, which should have the prefix `compliance`.
    pub fn register(self: &Arc<Self>, registry: &mut Registry, version: &str, git_commit: &str) {
        registry.register(
            "controller_reconciles",
            "Reconciles of a GlobalReport by result: ok, or error (retried)",
            self.reconciles.clone(),
        );
        let build = Family::<[(&'static str, String); 2], Gauge>::default();
        build
            .get_or_create(&[
                ("version", version.to_string()),
                ("git_commit", git_commit.to_string()),
            ])
            .set(1);
        registry.register(
            "controller_build_info",
            "1, labelled with the controller's build",
            build,
        );
        registry.register_collector(Box::new(Scrape(Arc::clone(self))));
    }

    /// Counts one reconcile pass.
    pub fn reconciled(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reconciles.get_or_create(&[("result", result)]).inc();
    }

    /// Counts a Job created for `report`.
    pub fn job_created(&self, report: &str) {
        self.counts().entry(report.to_string()).or_default().created += 1;
    }

    /// Follows the Lease: the `leader` gauge and whether per-report series are exported.
    pub fn follow(&self, leadership: Leadership) {
        let _ = self.leadership.set(leadership);
    }

    /// The caches to compute per-report series from, once this replica leads.
    pub fn watch(&self, caches: Caches) {
        let _ = self.caches.set(caches);
    }

    /// Reads one event of the Jobs watch; `report_of` names the GlobalReport that
    /// controls a Job.
    pub fn on_job_event(
        &self,
        event: &watcher::Event<Job>,
        report_of: impl Fn(&Job) -> Option<String>,
    ) {
        let mut tracker = self.finishes.lock().unwrap_or_else(PoisonError::into_inner);
        let (job, count) = match event {
            watcher::Event::Init => {
                tracker.listing_started();
                return;
            }
            watcher::Event::InitDone => {
                tracker.listing_done();
                return;
            }
            watcher::Event::Delete(job) => {
                tracker.deleted(&job.uid().unwrap_or_default());
                return;
            }
            watcher::Event::InitApply(job) => (
                job,
                tracker.listed(&job.uid().unwrap_or_default(), Finish::of(jobs::state(job))),
            ),
            watcher::Event::Apply(job) => (
                job,
                tracker.changed(&job.uid().unwrap_or_default(), Finish::of(jobs::state(job))),
            ),
        };
        drop(tracker);
        let (true, Some(report), Some(finish)) =
            (count, report_of(job), Finish::of(jobs::state(job)))
        else {
            return;
        };
        let mut counts = self.counts();
        let entry = counts.entry(report).or_default();
        match finish {
            Finish::Succeeded => entry.succeeded += 1,
            Finish::Failed => entry.failed += 1,
        }
    }

    fn counts(&self) -> MutexGuard<'_, HashMap<String, JobCounts>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_leader(&self) -> bool {
        self.leadership.get().is_some_and(Leadership::is_leader)
    }

    /// The per-report values to export now, by report name: none unless this replica
    /// leads and the reports cache has been listed.
    fn snapshot(&self, now: DateTime<Utc>) -> BTreeMap<String, (JobCounts, ReportSeries)> {
        let mut out = BTreeMap::new();
        let Some(caches) = self.caches.get().filter(|_| self.is_leader()) else {
            return out;
        };
        // Not listed yet: no series rather than series that vanish and come back.
        if caches
            .reports
            .wait_until_ready()
            .now_or_never()
            .is_none_or(|r| r.is_err())
        {
            return out;
        }
        let mut owned: HashMap<String, Vec<OwnedJob>> = HashMap::new();
        for job in caches.jobs.state() {
            if job.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let Some(owner) = job
                .owner_references()
                .iter()
                .find(|o| o.controller == Some(true))
                .map(|o| o.uid.clone())
            else {
                continue;
            };
            if let Some(seen) = jobs::observe(&job) {
                owned.entry(owner).or_default().push(seen);
            }
        }
        let mut counts = self.counts();
        for object in caches.reports.state() {
            let name = object.name_any();
            let Some(report) = serde_json::to_value(&*object)
                .and_then(serde_json::from_value::<GlobalReportResource>)
                .ok()
            else {
                continue;
            };
            let status = report.status.clone().unwrap_or_default();
            let view = ReportView {
                name: &name,
                created: object
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map_or(now, from_k8s),
                deleting: object.metadata.deletion_timestamp.is_some(),
                schedule: report.spec.spec.schedule.as_deref(),
                suspend: report.spec.spec.suspend.unwrap_or(false),
                generation: object.metadata.generation,
                status: &status,
            };
            let jobs = owned
                .get(&object.uid().unwrap_or_default())
                .map_or(&[][..], Vec::as_slice);
            let series = report_series(&view, jobs, &caches.settings, now);
            let count = counts.get(&name).copied().unwrap_or_default();
            out.insert(name, (count, series));
        }
        // Counts of deleted reports go with their series: a report created again under
        // the same name starts from zero.
        counts.retain(|name, _| out.contains_key(name));
        out
    }
}

/// One gauge's value from a report's series.
type GaugeOf = fn(&ReportSeries) -> i64;

/// Unix seconds, 0 for none.
fn seconds(t: Option<DateTime<Utc>>) -> i64 {
    t.map_or(0, |t| t.timestamp())
}

/// The scrape-time half of [`ControllerMetrics`].
#[derive(Debug)]
struct Scrape(Arc<ControllerMetrics>);

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let metrics = &self.0;
        let leader = ConstGauge::new(i64::from(metrics.is_leader()));
        leader.encode(encoder.encode_descriptor(
            "controller_leader",
            "1 while this replica holds the Lease and schedules reporter Jobs.",
            None,
            leader.metric_type(),
        )?)?;
        let reports = metrics.snapshot(Utc::now());
        if reports.is_empty() {
            return Ok(());
        }
        {
            let mut family = encoder.encode_descriptor(
                "controller_jobs_created",
                "Reporter Jobs this process created.",
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for (name, (counts, _)) in &reports {
                ConstCounter::new(counts.created)
                    .encode(family.encode_family(&[("report", name.as_str())])?)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "controller_jobs_finished",
                "Reporter Jobs this process saw finish, by outcome: succeeded, failed.",
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for (name, (counts, _)) in &reports {
                for (outcome, n) in [("succeeded", counts.succeeded), ("failed", counts.failed)] {
                    ConstCounter::new(n).encode(
                        family.encode_family(&[("report", name.as_str()), ("outcome", outcome)])?,
                    )?;
                }
            }
        }
        let gauges: [(&str, &str, GaugeOf); 3] = [
            (
                "controller_jobs_active",
                "Reporter Jobs of the GlobalReport not finished yet.",
                |s| s.active as i64,
            ),
            (
                "controller_report_last_due_timestamp_seconds",
                "End of the latest window whose reporter Job should have started by now.",
                |s| seconds(s.last_due),
            ),
            (
                "controller_report_last_success_timestamp_seconds",
                "End of the latest window whose reporter Job succeeded; 0 when none has.",
                |s| seconds(s.last_success),
            ),
        ];
        for (name, help, value) in gauges {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (report, (_, series)) in &reports {
                ConstGauge::new(value(series))
                    .encode(family.encode_family(&[("report", report.as_str())])?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
