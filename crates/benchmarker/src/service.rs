//! The benchmarker's two ways of running: one run (`--once`), or a run at start and then
//! one per interval until SIGTERM.

use std::time::Duration;

use chrono::Utc;
use compliance_core::model::BenchmarkDocument;
use compliance_core::time;
use tokio::sync::watch;

use crate::config::Settings;
use crate::dedupe::{self, Decision};
use crate::engine::{self, KubeVersion, Labels, Outcome};
use crate::schedule;
use crate::version::{DetectError, VersionSearch};
use crate::writer::Writer;

/// Finds the Kubernetes version (or takes BENCHMARK_KUBERNETES_VERSION) and runs
/// kube-bench once; `None` when `cancel` stopped the run.
pub async fn run_once(
    cfg: &Settings,
    search: &VersionSearch,
    cancel: &mut watch::Receiver<bool>,
) -> Option<Outcome> {
    let labels = Labels {
        node_name: cfg.node_name.clone(),
        cluster: cfg.cluster.clone(),
        started: Utc::now(),
    };
    let version = match &cfg.kubernetes_version {
        Some(v) => KubeVersion::Known {
            version: v.clone(),
            source: "BENCHMARK_KUBERNETES_VERSION".to_string(),
        },
        None => match search.detect(cancel).await {
            Ok(found) => {
                // kubectl may report the API server's version, which can differ from
                // this node's kubelet under version skew: worth knowing why kubelet lost.
                for failed in &found.failed {
                    tracing::warn!(
                        version = %found.version,
                        source = %found.source,
                        "not used for the Kubernetes version: {failed}"
                    );
                }
                KubeVersion::Known {
                    version: found.version,
                    source: found.source,
                }
            }
            Err(DetectError::NotFound(not_found)) => KubeVersion::Unknown(not_found.to_string()),
            Err(DetectError::Cancelled) => return None,
        },
    };
    if let KubeVersion::Known { version, source } = &version {
        // The distribution's build (`eks-1a2b3c`, `k3s1`) is not part of the stored version.
        let build = version.suffix().unwrap_or_default();
        tracing::debug!(%version, build, %source, "Kubernetes version");
    }
    let outcome = engine::run(&cfg.kube_bench, cfg.timeout, &version, &labels, cancel).await?;
    for w in &outcome.warnings {
        tracing::warn!("{w}");
    }
    Some(outcome)
}

/// Runs at start and then at the node's slot of every interval, handing documents worth
/// storing to `writer`, until `cancel` turns true. `ready` is called after every run,
/// so readiness turns on once the first run has finished.
pub async fn run_forever(
    cfg: &Settings,
    search: &VersionSearch,
    writer: &Writer,
    ready: &dyn Fn(),
    mut cancel: watch::Receiver<bool>,
) {
    let offset = schedule::node_offset(&cfg.node_name, cfg.interval);
    tracing::info!(
        node = %cfg.node_name,
        interval = %humantime::format_duration(cfg.interval),
        offset = %humantime::format_duration(Duration::from_secs(offset.as_secs())),
        timeout = %humantime::format_duration(cfg.timeout),
        datastore = %cfg.store,
        "benchmarker started; running now, then every interval at this node's offset"
    );
    let mut last_stored: Option<BenchmarkDocument> = None;
    loop {
        let started = Utc::now();
        let Some(outcome) = run_once(cfg, search, &mut cancel).await else {
            tracing::info!("run stopped by shutdown; nothing stored for it");
            return;
        };
        let doc = outcome.document;
        let now = Utc::now();
        let summary = engine::describe(&doc);
        match dedupe::decide(last_stored.as_ref(), &doc, now) {
            Decision::Store(why) => {
                if doc.is_errored() {
                    tracing::warn!(reason = why.as_str(), "{summary}; storing it");
                } else {
                    tracing::info!(reason = why.as_str(), "{summary}; storing it");
                }
                writer.submit(doc.clone());
                last_stored = Some(doc);
            }
            Decision::Skip { last_stored } => tracing::info!(
                same_as = %time::format(&last_stored),
                "{summary}; not stored: same results as the document stored at the time shown"
            ),
        }
        ready();
        let next = schedule::next_run(started, Utc::now(), cfg.interval, offset);
        tracing::debug!(next = %time::format(&next), "next run");
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.wait_for(|c| *c) => return,
        }
    }
}
