//! The controller process: watches, leader election, the reconcile loop and shutdown.
//!
//! Every replica keeps warm caches (GlobalReports, their Jobs, the PodTemplates) and is
//! ready as soon as they are synced; only the Lease holder reconciles. A leader that
//! loses its Lease stops at once and [`run`] returns [`RunError::LostLease`], so the
//! process exits and restarts as a follower (what client-go's controllers do too). On
//! shutdown, reconciles in flight finish, then the Lease is released so the other replica
//! takes over without waiting for it to expire.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::PodTemplate;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::watch;

use crate::lease::{Elector, Leadership};
use crate::metrics::{Caches, ControllerMetrics};
use crate::reconcile::{self, Context, Recover, Stats};
use crate::settings::Settings;
use crate::template::{MANAGED_BY, MANAGED_BY_LABEL};

/// The field manager and event reporter name.
pub const CONTROLLER_NAME: &str = "compliance-controller";
/// How long the caches get to sync before the controller gives up (and restarts).
const SYNC_TIMEOUT: StdDuration = StdDuration::from_secs(120);
/// How long a stopping leader tries to hand its Lease back.
const RELEASE_TIMEOUT: StdDuration = StdDuration::from_secs(5);
/// How long reconciles in flight get to finish once the controller is asked to stop:
/// with the Lease release, within the kubelet's default 30 s grace period, so a
/// reconcile stuck on a slow API server never turns a SIGTERM into a SIGKILL that
/// leaves the Lease held.
const SHUTDOWN_GRACE: StdDuration = StdDuration::from_secs(20);

/// Leader election settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseOptions {
    /// The Lease's name, in the Job namespace.
    pub name: String,
    /// This replica's identity (the pod's name).
    pub identity: String,
    pub duration: Duration,
}

/// How to run.
pub struct Options {
    pub settings: Settings,
    /// API group of the GlobalReport CRD (COMPLIANCE_API_GROUP).
    pub group: String,
    /// `None`: no leader election (a single replica).
    pub lease: Option<LeaseOptions>,
    pub recover: Option<Recover>,
    /// Reconciles running at once (default 16).
    pub concurrency: u16,
    /// What `/metrics` exports; fed by the watches, the reconciles and the Lease.
    pub metrics: Arc<ControllerMetrics>,
}

/// Why the controller stopped other than by being asked to.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the watch caches did not sync within {0:?}: {1}")]
    NotSynced(StdDuration, String),
    #[error("lost the Lease {0}: another replica leads now; restarting as a follower")]
    LostLease(String),
    #[error("leader election on Lease {lease}: {source}")]
    Election {
        lease: String,
        #[source]
        source: kube::Error,
    },
}

/// GlobalReport in `group`.
pub fn global_report_resource(group: &str) -> ApiResource {
    let mut resource = ApiResource::erase::<compliance_kube::crd::GlobalReportResource>(&());
    resource.group = group.to_string();
    resource.api_version = format!("{group}/{}", resource.version);
    resource
}

/// Runs until `shutdown` resolves (then returns `Ok`) or the Lease is lost.
/// `ready` is called once the caches are synced.
pub async fn run(
    client: Client,
    options: Options,
    stats: Arc<Stats>,
    ready: impl FnOnce(),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let settings = options.settings;
    let namespace = settings.namespace.clone();
    let resource = global_report_resource(&options.group);
    let reports: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let jobs_api: Api<Job> = Api::namespaced(client.clone(), &namespace);
    let templates_api: Api<PodTemplate> = Api::namespaced(client.clone(), &namespace);
    let managed = format!("{MANAGED_BY_LABEL}={MANAGED_BY}");
    let metrics = options.metrics;
    // Known before the election, so that the `leader` gauge reads 0 while following.
    let leadership = match options.lease {
        None => Leadership::always(),
        Some(_) => Leadership::default(),
    };
    metrics.follow(leadership.clone());

    // The Jobs cache: only Jobs this controller made, trimmed to what the planner reads.
    let (jobs, jobs_writer) = reflector::store::<Job>();
    // Trimmed before the reflector stores them (a `modify` after it would only change
    // the stream's copies).
    // A Job's change re-plans its report, triggered from this same stream: the reflector
    // has stored the change before it passes it on, so the pass it triggers sees it. (A
    // second watch, as `Controller::owns` or `watches` keep, can deliver the change
    // before this cache has it; the pass then plans from the old state and nothing
    // triggers another.)
    let (job_tx, job_changes) = futures::channel::mpsc::unbounded::<ObjectRef<DynamicObject>>();
    let owner_resource = resource.clone();
    let finish_resource = resource.clone();
    let finish_metrics = Arc::clone(&metrics);
    let jobs_stream = reflector::reflector(
        jobs_writer,
        watcher(
            jobs_api.clone(),
            watcher::Config::default().labels(&managed),
        )
        .modify(crate::jobs::trim),
    )
    // Every replica counts the Jobs it sees finish, so a new leader's counts go on from
    // what it saw while following.
    .inspect(move |event| {
        if let Ok(event) = event {
            finish_metrics.on_job_event(event, |job| {
                owner_of(job, &finish_resource).map(|owner| owner.name)
            });
        }
    })
    .default_backoff()
    .touched_objects()
    .for_each(move |job| {
        if let Some(owner) = job.ok().and_then(|job| owner_of(&job, &owner_resource)) {
            let _ = job_tx.unbounded_send(owner);
        }
        async {}
    });
    let jobs_task = tokio::spawn(jobs_stream);

    // The PodTemplates cache; any change re-plans every report (templates change rarely,
    // and a fixed template should start the waiting windows at once). Its own task, so
    // that it syncs before the first reconcile; changes reach the controller by channel.
    let (templates, templates_writer) = reflector::store::<PodTemplate>();
    let (template_tx, template_changes) = futures::channel::mpsc::unbounded::<()>();
    let templates_task = tokio::spawn(
        reflector::reflector(
            templates_writer,
            watcher(templates_api, watcher::Config::default()),
        )
        .default_backoff()
        .touched_objects()
        .for_each(move |r| {
            if r.is_ok() {
                let _ = template_tx.unbounded_send(());
            }
            async {}
        }),
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let shared_stop = stop_tx.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = shared_stop.send(true);
    });

    let synced = async {
        jobs.wait_until_ready().await.map_err(|e| e.to_string())?;
        templates
            .wait_until_ready()
            .await
            .map_err(|e| e.to_string())?;
        Ok::<(), String>(())
    };
    match tokio::time::timeout(SYNC_TIMEOUT, synced).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(RunError::NotSynced(SYNC_TIMEOUT, e)),
        Err(_) => {
            return Err(RunError::NotSynced(
                SYNC_TIMEOUT,
                "no answer to the Job or PodTemplate watch (check the controller's RBAC: list \
                 and watch jobs and podtemplates)"
                    .into(),
            ));
        }
    }
    ready();

    // Leader election: wait to lead, then keep renewing in the background.
    let elector = match &options.lease {
        None => None,
        Some(lease) => {
            let elector = Arc::new(Elector {
                api: Api::<Lease>::namespaced(client.clone(), &namespace),
                name: lease.name.clone(),
                identity: lease.identity.clone(),
                duration: lease.duration,
                leadership: leadership.clone(),
            });
            let mut stop = stop_rx.clone();
            loop {
                if *stop.borrow() {
                    jobs_task.abort();
                    templates_task.abort();
                    return Ok(());
                }
                match elector.round().await {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(lease = %lease.name, error = %e, "leader election failed; trying again")
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(elector.period()) => {}
                    _ = stop.changed() => {}
                }
            }
            tracing::info!(lease = %lease.name, identity = %lease.identity, "leading: scheduling report Jobs");
            Some(elector)
        }
    };
    let (lost_tx, mut lost_rx) = watch::channel(false);
    let renewer = elector.clone().map(|elector| {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(elector.period()).await;
                match elector.round().await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) if elector.leadership.is_leader() => {
                        tracing::warn!(error = %e, "cannot renew the Lease; still leading until it runs out");
                        continue;
                    }
                    Err(e) => tracing::error!(error = %e, "cannot renew the Lease"),
                }
                let _ = lost_tx.send(true);
                let _ = stop_tx.send(true);
                return;
            }
        })
    });

    let ctx = Arc::new(Context {
        settings,
        resource: resource.clone(),
        reports: reports.clone(),
        jobs_api: jobs_api.clone(),
        jobs,
        templates,
        events: Api::namespaced(client.clone(), crate::events::EVENT_NAMESPACE),
        instance: options
            .lease
            .as_ref()
            .map_or_else(|| CONTROLLER_NAME.to_string(), |l| l.identity.clone()),
        leadership,
        recover: options.recover,
        stats,
        metrics: Arc::clone(&metrics),
        expected: Default::default(),
        recovered: Default::default(),
    });
    let mut stopping = stop_rx.clone();
    let mut grace_stop = stop_rx.clone();
    let grace = async move {
        let _ = grace_stop.wait_for(|stop| *stop).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let controller = Controller::new_with(reports, watcher::Config::default(), resource)
        // Not `owns`: besides the second watch, it would key the cluster-scoped report by
        // the Job's namespace, so one report could be reconciled twice at once.
        .reconcile_on(job_changes)
        .reconcile_all_on(template_changes)
        .with_config(controller::Config::default().concurrency(options.concurrency.max(1)))
        .graceful_shutdown_on(async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        });
    // The per-report series read the caches this controller plans from.
    metrics.watch(Caches {
        reports: controller.store(),
        jobs: ctx.jobs.clone(),
        settings: ctx.settings.clone(),
    });
    let controller = controller
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile");
            }
        });
    tokio::select! {
        () = controller => {}
        () = grace => {
            tracing::warn!(
                "reconciles still running {SHUTDOWN_GRACE:?} after the stop; stopping without them"
            );
        }
    }
    jobs_task.abort();
    templates_task.abort();
    if let Some(renewer) = renewer {
        renewer.abort();
    }
    if *lost_rx.borrow_and_update() {
        let name = options.lease.map(|l| l.name).unwrap_or_default();
        return Err(RunError::LostLease(name));
    }
    if let (Some(elector), Some(lease)) = (elector, &options.lease) {
        // Bounded: an API server too slow to answer must not hold up the exit; the
        // Lease then simply runs out and the other replica takes it a little later.
        match tokio::time::timeout(RELEASE_TIMEOUT, elector.release()).await {
            Ok(result) => result.map_err(|source| RunError::Election {
                lease: lease.name.clone(),
                source,
            })?,
            Err(_) => {
                tracing::warn!(lease = %lease.name, "the Lease was not released within {RELEASE_TIMEOUT:?}; it will expire");
                return Ok(());
            }
        }
        tracing::info!(lease = %lease.name, "released the Lease");
    }
    Ok(())
}

/// The GlobalReport that controls `job`, as a cluster-scoped reference.
fn owner_of(job: &Job, resource: &ApiResource) -> Option<ObjectRef<DynamicObject>> {
    job.owner_references()
        .iter()
        .find(|o| {
            o.controller == Some(true)
                && o.kind == resource.kind
                && o.api_version == resource.api_version
        })
        .map(|o| ObjectRef::new_with(&o.name, resource.clone()))
}
