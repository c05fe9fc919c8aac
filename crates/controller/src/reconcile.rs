//! Carries out [`plan`](crate::plan) for one GlobalReport against the API server.
//!
//! Reads come from the watch caches (the Jobs and PodTemplates reflectors), so a pass over
//! an unchanged report makes no request at all. Writes happen in the order the planner's
//! module explains: create Jobs, write status, delete Jobs beyond the history limits,
//! then record events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PodTemplate;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use compliance_kube::crd::{GlobalReportResource, GlobalReportStatus};

use crate::jobs::{self, OwnedJob};
use crate::k8s_time::from_k8s;
use crate::lease::Leadership;
use crate::metrics::ControllerMetrics;
use crate::plan::{self, Input, PlannedEvent, ReportView};
use crate::settings::Settings;
use crate::template::{self, Owner, TemplateProblem};

/// Looks up the end of the newest stored report of a GlobalReport (by name).
pub type Recover =
    Arc<dyn Fn(String) -> BoxFuture<'static, Result<Option<DateTime<Utc>>, String>> + Send + Sync>;

/// Longest wait between two passes over a report even when nothing is due: a safety net
/// for a missed watch event. Passes read caches, so this costs no requests.
pub const RESYNC: StdDuration = StdDuration::from_secs(600);
/// How long a Job this process created is assumed to exist before the watch shows it.
const EXPECTATION_TTL: StdDuration = StdDuration::from_secs(60);

/// Counters of one controller process, for logs, metrics and the benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    pub reconciles: AtomicU64,
    /// Requests this process sent outside the watches (creates, patches, deletes, events,
    /// store lookups).
    pub requests: AtomicU64,
    pub jobs_created: AtomicU64,
    pub status_writes: AtomicU64,
    pub jobs_deleted: AtomicU64,
    pub errors: AtomicU64,
}

impl Stats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What every pass shares.
pub struct Context {
    pub settings: Settings,
    /// GlobalReport in the API group in use.
    pub resource: ApiResource,
    pub reports: Api<DynamicObject>,
    pub jobs_api: Api<Job>,
    pub jobs: Store<Job>,
    pub templates: Store<PodTemplate>,
    /// Writes the events (core v1, in `default`).
    pub events: Api<k8s_openapi::api::core::v1::Event>,
    /// This replica's name, in the events it records.
    pub instance: String,
    pub leadership: Leadership,
    pub recover: Option<Recover>,
    pub stats: Arc<Stats>,
    /// The `/metrics` counters this pass adds to.
    pub metrics: Arc<ControllerMetrics>,
    /// Jobs created by this process that the watch may not show yet, by report uid.
    pub expected: Mutex<HashMap<String, Vec<(OwnedJob, Instant)>>>,
    /// Recovered window ends, by report uid, so the store is asked once per report.
    pub recovered: Mutex<HashMap<String, Option<DateTime<Utc>>>>,
}

/// Why a pass failed; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("this replica is not the leader")]
    NotLeader,
    #[error("{action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot read the newest stored report of {report}: {message}")]
    Recovery { report: String, message: String },
}

impl ReconcileError {
    fn conflict(&self) -> bool {
        matches!(self, ReconcileError::Kube { source: kube::Error::Api(e), .. } if e.code == 409)
    }
}

fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> ReconcileError {
    let action = action.into();
    move |source| ReconcileError::Kube { action, source }
}

/// When to try again after a failed pass: at once on a write conflict (someone changed
/// the report: plan again from the new state), later otherwise.
pub fn error_policy(_: Arc<DynamicObject>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    Stats::add(&ctx.stats.errors, 1);
    if error.conflict() {
        tracing::debug!(%error, "conflict; planning again");
        return Action::requeue(StdDuration::from_millis(200));
    }
    tracing::warn!(error = %error, "reconcile failed; retrying in 10s");
    Action::requeue(StdDuration::from_secs(10))
}

/// One pass over one GlobalReport, counted in `compliance_controller_reconciles_total`.
pub async fn reconcile(
    object: Arc<DynamicObject>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let metrics = Arc::clone(&ctx.metrics);
    let result = reconcile_once(object, ctx).await;
    metrics.reconciled(result.is_ok());
    result
}

async fn reconcile_once(
    object: Arc<DynamicObject>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    if !ctx.leadership.is_leader() {
        return Err(ReconcileError::NotLeader);
    }
    Stats::add(&ctx.stats.reconciles, 1);
    let name = object.name_any();
    let uid = object.uid().unwrap_or_default();
    let report: GlobalReportResource =
        match serde_json::to_value(&*object).and_then(serde_json::from_value) {
            Ok(report) => report,
            Err(e) => {
                // The CRD schema makes this rare (an object stored before the schema).
                tracing::warn!(report = %name, error = %e, "cannot read the GlobalReport");
                return Ok(Action::await_change());
            }
        };
    let old = report.status.clone().unwrap_or_default();
    let jobs = owned_jobs(&ctx, &uid);
    let template = find_template(&ctx, &name);
    let template_check = template.as_ref().map(|_| ()).map_err(Clone::clone);
    let view = ReportView {
        name: &name,
        created: object
            .meta()
            .creation_timestamp
            .as_ref()
            .map_or_else(Utc::now, from_k8s),
        deleting: object.meta().deletion_timestamp.is_some(),
        schedule: report.spec.spec.schedule.as_deref(),
        suspend: report.spec.spec.suspend.unwrap_or(false),
        generation: object.meta().generation,
        status: &old,
    };
    let recovered_end = if plan::needs_recovery(&view, &jobs) {
        recover(&ctx, &name, &uid).await?
    } else {
        None
    };
    let now = Utc::now();
    let planned = plan::plan(&Input {
        report: view,
        jobs: &jobs,
        template: &template_check,
        recovered_end,
        settings: &ctx.settings,
        now,
    });

    let mut all = jobs;
    // Jobs another replica (or an earlier pass) made first get no JobCreated event here.
    let mut not_created: Vec<&str> = Vec::new();
    if let (Ok(template), false) = (&template, planned.create.is_empty()) {
        let owner = Owner {
            api_version: ctx.resource.api_version.clone(),
            name: name.clone(),
            uid: uid.clone(),
        };
        for new in &planned.create {
            let job = template::build_job(
                template,
                &owner,
                &report.spec.spec.job_node_selector,
                &new.name,
                new.window,
                &ctx.settings,
            )
            .expect("the template was checked");
            Stats::add(&ctx.stats.requests, 1);
            match ctx.jobs_api.create(&PostParams::default(), &job).await {
                Ok(created) => {
                    Stats::add(&ctx.stats.jobs_created, 1);
                    ctx.metrics.job_created(&name);
                    tracing::info!(report = %name, job = %new.name, "created report Job");
                    if let Some(seen) = jobs::observe(&created) {
                        expect(&ctx, &uid, seen.clone());
                        all.push(seen);
                    }
                }
                // The name is the lock: the window already has its Job.
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    tracing::debug!(report = %name, job = %new.name, "Job exists already");
                    not_created.push(&new.name);
                }
                Err(e) => {
                    publish(
                        &ctx,
                        &object,
                        &PlannedEvent {
                            warning: true,
                            reason: "JobCreateFailed",
                            message: format!("cannot create report Job {}: {e}", new.name),
                            job: Some(new.name.clone()),
                        },
                    )
                    .await;
                    return Err(kube(format!("create Job {}", new.name))(e));
                }
            }
        }
    }

    let rebuilt = plan::rebuild(&old, &all, planned.condition.clone(), &ctx.settings);
    if rebuilt.status != old {
        Stats::add(&ctx.stats.requests, 1);
        Stats::add(&ctx.stats.status_writes, 1);
        let patch = status_patch(&rebuilt.status, object.resource_version());
        ctx.reports
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(kube(format!("update the status of GlobalReport {name}")))?;
    }
    for job in &rebuilt.delete {
        Stats::add(&ctx.stats.requests, 1);
        match ctx.jobs_api.delete(job, &DeleteParams::background()).await {
            Ok(_) => Stats::add(&ctx.stats.jobs_deleted, 1),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(kube(format!("delete Job {job}"))(e)),
        }
    }
    let events = planned.events.iter().chain(&rebuilt.events).filter(|e| {
        !(e.reason == "JobCreated" && e.job.as_deref().is_some_and(|j| not_created.contains(&j)))
    });
    for event in events {
        publish(&ctx, &object, event).await;
    }

    let wait = planned
        .next_check
        .map(|at| (at - Utc::now()).to_std().unwrap_or_default() + StdDuration::from_secs(1))
        .map_or(RESYNC, |d| d.min(RESYNC));
    Ok(Action::requeue(wait))
}

/// The Jobs `uid` owns (controller owner reference), not being deleted, plus those this
/// process created that the watch does not show yet.
fn owned_jobs(ctx: &Context, uid: &str) -> Vec<OwnedJob> {
    let mut jobs: Vec<OwnedJob> = ctx
        .jobs
        .state()
        .iter()
        .filter(|job| job.metadata.deletion_timestamp.is_none())
        .filter(|job| {
            job.owner_references()
                .iter()
                .any(|o| o.controller == Some(true) && o.uid == uid)
        })
        .filter_map(|job| jobs::observe(job))
        .collect();
    let mut expected = ctx.expected.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(list) = expected.get_mut(uid) {
        list.retain(|(job, at)| {
            at.elapsed() < EXPECTATION_TTL && !jobs.iter().any(|j| j.name == job.name)
        });
        jobs.extend(list.iter().map(|(job, _)| job.clone()));
        if list.is_empty() {
            expected.remove(uid);
        }
    }
    jobs
}

fn expect(ctx: &Context, uid: &str, job: OwnedJob) {
    ctx.expected
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(uid.to_string())
        .or_default()
        .push((job, Instant::now()));
}

/// The report's own PodTemplate, else the shared one, from the cache.
fn find_template(ctx: &Context, report: &str) -> Result<Arc<PodTemplate>, TemplateProblem> {
    let names = template::template_names(report);
    let template = names.iter().find_map(|n| {
        ctx.templates
            .get(&ObjectRef::new(n).within(&ctx.settings.namespace))
    });
    let template = template.ok_or_else(|| TemplateProblem::NotFound {
        namespace: ctx.settings.namespace.clone(),
        specific: names[0].clone(),
    })?;
    template::check(&template)?;
    Ok(template)
}

async fn recover(
    ctx: &Context,
    name: &str,
    uid: &str,
) -> Result<Option<DateTime<Utc>>, ReconcileError> {
    let Some(lookup) = &ctx.recover else {
        return Ok(None);
    };
    if let Some(known) = ctx
        .recovered
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(uid)
    {
        return Ok(*known);
    }
    Stats::add(&ctx.stats.requests, 1);
    let end = lookup(name.to_string())
        .await
        .map_err(|message| ReconcileError::Recovery {
            report: name.to_string(),
            message,
        })?;
    if let Some(end) = end {
        tracing::info!(report = %name, end = %compliance_core::time::format(&end),
            "no scheduled Job in status: the next window starts where the newest stored report ended");
    }
    ctx.recovered
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(uid.to_string(), end);
    Ok(end)
}

/// A JSON merge patch that makes the status exactly `status`: lists that became empty
/// are sent as null (a merge patch keeps keys it does not mention), and the
/// resourceVersion makes the write fail with a conflict if the report changed since it
/// was read.
pub fn status_patch(status: &GlobalReportStatus, resource_version: Option<String>) -> Value {
    let mut value = serde_json::to_value(status).expect("a status always serialises");
    if let Value::Object(map) = &mut value {
        for key in [
            "lastScheduledReportJob",
            "activeReportJobs",
            "lastSuccessfulReportJobs",
            "lastFailedReportJobs",
            "conditions",
        ] {
            map.entry(key).or_insert(Value::Null);
        }
    }
    let mut patch = json!({ "status": value });
    if let Some(rv) = resource_version {
        patch["metadata"] = json!({ "resourceVersion": rv });
    }
    patch
}

async fn publish(ctx: &Context, object: &DynamicObject, event: &PlannedEvent) {
    let reference = object.object_ref(&ctx.resource);
    let k8s_event = crate::events::build(
        &reference,
        event,
        crate::run::CONTROLLER_NAME,
        &ctx.instance,
        Utc::now(),
    );
    Stats::add(&ctx.stats.requests, 1);
    if let Err(e) = ctx.events.create(&PostParams::default(), &k8s_event).await {
        // Events are for people; failing to record one must not stop scheduling.
        tracing::warn!(error = %e, reason = event.reason, "cannot record an event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_patch_clears_emptied_lists_and_carries_the_resource_version() {
        let patch = status_patch(&GlobalReportStatus::default(), Some("42".into()));
        assert_eq!(patch["status"]["activeReportJobs"], Value::Null);
        assert!(
            patch["status"]
                .as_object()
                .unwrap()
                .contains_key("activeReportJobs")
        );
        assert_eq!(patch["metadata"]["resourceVersion"], "42");
    }
}
