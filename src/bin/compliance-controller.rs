//! compliance-controller: turns every GlobalReport's schedule into one-shot reporter Jobs
//! and keeps the GlobalReport's status (docs/spec.md §8, docs/controller.md).
//!
//! Configured by the environment (`compliance::settings::controller`). Runs until SIGTERM
//! or SIGINT, letting reconciles in flight finish and releasing its Lease. Exit codes: 0
//! stopped, 1 runtime failure (including a lost Lease: restart as a follower), 2
//! configuration error.

use std::process::ExitCode;
use std::sync::Arc;

use compliance::failure::{self, Failure};
use compliance::health::{HealthServer, HealthState};
use compliance::settings::controller::ControllerConfig;
use compliance::settings::{LogConfig, RawEnv};
use compliance::{logging, signals};
use compliance_controller::metrics::ControllerMetrics;
use compliance_controller::reconcile::{Recover, Stats};
use compliance_controller::run::{self, Options};
use compliance_core::error::ErrorKind;
use compliance_store::{OpenMode, Store};

fn main() -> ExitCode {
    failure::exit("compliance-controller", "controller failed", run())
}

fn run() -> Result<u8, Failure> {
    let env = RawEnv::from_os_vars(std::env::vars_os())?;
    logging::init(LogConfig::from_env(&env)?);
    let cfg = ControllerConfig::from_env(&env)?;
    let metrics = ControllerMetrics::new();
    let health = match cfg.health {
        Some(addr) => {
            let mut registry = prometheus_client::registry::Registry::with_prefix("compliance");
            metrics.register(
                &mut registry,
                env!("CARGO_PKG_VERSION"),
                option_env!("COMPLIANCE_GIT_COMMIT").unwrap_or("unknown"),
            );
            Some(HealthServer::start_with_metrics(
                addr,
                HealthState::new(),
                Arc::new(registry),
            )?)
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::unavailable(e).context("cannot start the async runtime"))?;
    let recover: Option<Recover> = match &cfg.datastore {
        None => None,
        Some(datastore) => {
            let store = Store::open(datastore, OpenMode::Existing).map_err(|e| {
                Failure::new(ErrorKind::Unavailable, e)
                    .context(format!("cannot open {}", datastore.describe()))
            })?;
            Some(Arc::new(move |name: String| {
                let store = store.clone();
                Box::pin(async move {
                    store
                        .latest_report(&name)
                        .await
                        .map(|head| head.map(|h| h.end_time))
                        .map_err(|e| e.to_string())
                }) as _
            }))
        }
    };
    let stats = Arc::new(Stats::default());
    let options = Options {
        settings: cfg.settings.clone(),
        group: cfg.group.clone(),
        lease: cfg.lease.clone(),
        recover,
        concurrency: 16,
        metrics,
    };
    tracing::info!(
        namespace = %cfg.settings.namespace,
        group = %cfg.group,
        leader_election = cfg.lease.is_some(),
        "compliance-controller starting"
    );
    let result = runtime.block_on(async {
        let config = kube::Config::infer().await.map_err(|e| {
            Failure::new(ErrorKind::Configuration, e)
                .context("no Kubernetes configuration (in-cluster or KUBECONFIG)")
        })?;
        let client = kube::Client::try_from(config)
            .map_err(|e| Failure::unavailable(e).context("cannot build a Kubernetes client"))?;
        let ready = || {
            if let Some(h) = &health {
                h.state().set_ready(true);
            }
        };
        run::run(client, options, stats.clone(), ready, stop_on_signal())
            .await
            .map_err(Failure::unavailable)
    });
    tracing::info!(
        reconciles = Stats::get(&stats.reconciles),
        requests = Stats::get(&stats.requests),
        jobs_created = Stats::get(&stats.jobs_created),
        status_writes = Stats::get(&stats.status_writes),
        jobs_deleted = Stats::get(&stats.jobs_deleted),
        "compliance-controller stopped"
    );
    result.map(|()| 0)
}

/// Resolves on SIGTERM (the kubelet stopping the pod) or SIGINT.
async fn stop_on_signal() {
    let name = signals::terminated("the controller").await;
    tracing::info!("{name}: stopping after the reconciles in flight");
}
