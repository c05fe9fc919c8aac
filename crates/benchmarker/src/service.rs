//! The benchmarker's two ways of running: one run (`--once`), or a run at start and then
//! one per interval until SIGTERM.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use compliance_core::model::BenchmarkDocument;
use compliance_core::model::benchmark::CLUSTER_SCOPE_NODE_NAME;
use compliance_core::time;
use compliance_core::version::KubernetesVersion;
use tokio::sync::watch;

use crate::config::{Scope, Settings};
use crate::dedupe::{self, Decision};
use crate::engine::{self, KubeVersion, Labels, Outcome};
use crate::facts;
use crate::metrics::BenchmarkerMetrics;
use crate::platform::{self, BundledCfg, NodeFacts, NodeObject, Overrides, Selection};
use crate::schedule;
use crate::version::{DetectError, VersionSearch};
use crate::writer::Writer;

/// Reads this node's Node object from the API server; the error says why it could not.
pub type NodeLookup =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<NodeObject, String>> + Send>> + Send + Sync>;

/// What the choice of benchmark reads besides the settings: found once at start, except
/// the Node and the processes, read before every run.
pub struct Host {
    /// Reads the Node; `None` when there is no API access (not in a pod).
    pub node: Option<NodeLookup>,
    /// Where the processes are listed (`/proc`; with hostPID, the node's).
    pub proc_root: PathBuf,
    /// The bundled kube-bench cfg, or why it could not be read.
    pub cfg: Result<BundledCfg, String>,
    /// Where it was looked for.
    pub cfg_dir: PathBuf,
    /// Arguments that tell kube-bench the cfg directory (from KUBE_BENCH_CFG_DIR).
    pub cfg_args: Vec<String>,
    /// The first line of `kube-bench version` (empty when it could not be run).
    pub kube_bench_version: String,
    /// Whether an unreadable Node was already logged as a warning.
    warned: AtomicBool,
}

/// A setting the bundled cfg refutes: (variable, value, what is wrong).
pub type Refused = (&'static str, String, String);

impl Host {
    /// Reads the cfg and kube-bench's version, for `cfg`'s kube-bench.
    pub async fn discover(cfg: &Settings, node: Option<NodeLookup>) -> Host {
        let (cfg_dir, cfg_args) = facts::cfg_dir(&cfg.kube_bench.args, cfg.cfg_dir.as_deref());
        let bundled = facts::load_cfg(&cfg_dir);
        let kube_bench_version = match facts::kube_bench_version(&cfg.kube_bench).await {
            Ok(v) => v,
            Err(why) => {
                tracing::warn!("kube-bench's version is not known: {why}");
                String::new()
            }
        };
        Host::new(
            node,
            cfg.proc_root.clone(),
            bundled,
            cfg_dir,
            cfg_args,
            kube_bench_version,
        )
    }

    pub fn new(
        node: Option<NodeLookup>,
        proc_root: PathBuf,
        cfg: Result<BundledCfg, String>,
        cfg_dir: PathBuf,
        cfg_args: Vec<String>,
        kube_bench_version: String,
    ) -> Host {
        Host {
            node,
            proc_root,
            cfg,
            cfg_dir,
            cfg_args,
            kube_bench_version,
            warned: AtomicBool::new(false),
        }
    }

    /// Checks KUBE_BENCH_BENCHMARK and KUBE_BENCH_VERSION against the bundled cfg, when
    /// it could be read: a value it does not have would fail every run.
    pub fn check(&self, settings: &Settings) -> Result<(), Refused> {
        let Ok(cfg) = &self.cfg else {
            return Ok(());
        };
        if let Some(b) = &settings.benchmark
            && !cfg.has(b)
        {
            return Err((
                "KUBE_BENCH_BENCHMARK",
                b.clone(),
                format!(
                    "is not a benchmark of the kube-bench cfg in {} (it has {})",
                    self.cfg_dir.display(),
                    cfg.targets
                        .keys()
                        .filter(|b| cfg.has(b))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if let Some(v) = &settings.version
            && cfg.benchmark_for_version(v).is_none()
        {
            return Err((
                "KUBE_BENCH_VERSION",
                v.clone(),
                format!(
                    "has no benchmark in the version_mapping of {}",
                    self.cfg_dir.join("config.yaml").display()
                ),
            ));
        }
        Ok(())
    }

    /// The Node, or `None` (logged: a warning the first time, then at debug level).
    async fn node(&self) -> Option<NodeObject> {
        let lookup = self.node.as_ref()?;
        match lookup().await {
            Ok(node) => Some(node),
            Err(why) => {
                if self.warned.swap(true, Ordering::Relaxed) {
                    tracing::debug!("Node not read: {why}");
                } else {
                    tracing::warn!(
                        "cannot read this node's Node object, so the platform is decided from \
                         the kubelet version alone (logged once): {why}"
                    );
                }
                None
            }
        }
    }
}

/// The facts of this node, and the decision they lead to.
pub async fn select(cfg: &Settings, host: &Host, version: &KubernetesVersion) -> Selection {
    let node = host.node().await;
    let control_plane = match cfg.scope {
        Scope::Node => facts::control_plane(&facts::read_processes(&host.proc_root)),
        // The Deployment's pod sees only its own processes; no node targets run anyway.
        Scope::Cluster => facts::ControlPlane::default(),
    };
    let node_facts = NodeFacts {
        kubelet_version: version.clone(),
        node,
        runs_apiserver: control_plane.apiserver,
        runs_etcd: control_plane.etcd,
    };
    let overrides = overrides(cfg);
    if let Err(why) = &host.cfg {
        tracing::debug!("bundled kube-bench cfg not read: {why}");
    }
    platform::decide(&node_facts, host.cfg.as_ref().ok(), &overrides, cfg.scope)
}

fn overrides(cfg: &Settings) -> Overrides {
    let (in_args, targets_in_args) = platform::from_args(&cfg.kube_bench.args);
    Overrides {
        in_args,
        targets_in_args,
        benchmark: cfg.benchmark.clone(),
        version: cfg.version.clone(),
    }
}

/// Finds the Kubernetes version (or takes BENCHMARK_KUBERNETES_VERSION), decides the
/// benchmark and runs kube-bench once; `None` when `cancel` stopped the run.
pub async fn run_once(
    cfg: &Settings,
    search: &VersionSearch,
    host: &Host,
    cancel: &mut watch::Receiver<bool>,
) -> Option<Outcome> {
    let labels = Labels {
        node_name: match cfg.scope {
            Scope::Node => cfg.node_name.clone(),
            Scope::Cluster => CLUSTER_SCOPE_NODE_NAME.to_string(),
        },
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
    let known = match &version {
        KubeVersion::Known { version, source } => {
            // The distribution's build (`eks-1a2b3c`, `k3s1`) is not part of the stored
            // version, but it tells the platform.
            let build = version.suffix().unwrap_or_default();
            tracing::debug!(%version, build, %source, "Kubernetes version");
            version
        }
        KubeVersion::Unknown(_) => {
            let mut outcome =
                engine::run(&cfg.kube_bench, &[], cfg.timeout, &version, &labels, cancel).await?;
            stamp(&mut outcome.document, None, host);
            return Some(outcome);
        }
    };
    let selection = select(cfg, host, known).await;
    tracing::info!(
        platform = selection.platform.as_str(),
        scope = cfg.scope.as_str(),
        targets = %selection.targets.join(","),
        "benchmark: {}",
        selection.reason
    );
    let (_, targets_in_args) = platform::from_args(&cfg.kube_bench.args);
    let mut outcome = if cfg.scope == Scope::Cluster
        && selection.targets.is_empty()
        && !targets_in_args
    {
        let benchmark = selection
            .benchmark
            .as_deref()
            .unwrap_or("the chosen benchmark");
        Outcome {
            document: engine::errored(
                &labels,
                &known.to_string(),
                format!(
                    "{benchmark} has neither a policies nor a managedservices target: nothing to \
                     check once per cluster ({})",
                    selection.reason
                ),
            ),
            warnings: Vec::new(),
        }
    } else {
        let mut configured = cfg.kube_bench.args.clone();
        configured.extend(host.cfg_args.iter().cloned());
        let args = selection.args(&configured, targets_in_args);
        engine::run(
            &cfg.kube_bench,
            &args,
            cfg.timeout,
            &version,
            &labels,
            cancel,
        )
        .await?
    };
    stamp(&mut outcome.document, Some(&selection), host);
    for w in &outcome.warnings {
        tracing::warn!("{w}");
    }
    Some(outcome)
}

/// Writes where the document came from into it: the platform, kube-bench's version, the
/// benchmarker's, and why the benchmark was chosen.
fn stamp(doc: &mut BenchmarkDocument, selection: Option<&Selection>, host: &Host) {
    if let Some(selection) = selection {
        doc.platform = selection.platform.as_str().to_string();
        doc.benchmark_choice = selection.reason.clone();
    }
    doc.kube_bench_version = host.kube_bench_version.clone();
    doc.benchmarker_version = env!("CARGO_PKG_VERSION").to_string();
}

/// How long a daemon's first run waits for the lookup of what an earlier process
/// stored, once the run is done: 10 s. The lookup is two reads (SQLite: two index seeks);
/// a store that takes longer is likely down, and the run is then stored (queued) anyway.
pub const STORED_BEFORE_WAIT: Duration = Duration::from_secs(10);

/// The node name this daemon's documents carry: the node's, or the cluster-scope name.
pub fn stored_node_name(cfg: &Settings) -> &str {
    match cfg.scope {
        Scope::Node => &cfg.node_name,
        Scope::Cluster => CLUSTER_SCOPE_NODE_NAME,
    }
}

/// Runs at start and then at the node's slot of every interval, handing documents worth
/// storing to `writer`, until `cancel` turns true. `ready` is called after every run,
/// so readiness turns on once the first run has finished. Every finished run is counted
/// in `metrics`; a run stopped by shutdown is not.
///
/// `stored_before` gives, once, the newest document of this node an earlier process
/// stored (see [`stored_node_name`] and [`dedupe::last_stored_of`]); the first run waits
/// up to [`STORED_BEFORE_WAIT`] for it, so that a daemon restarted (an upgrade, an
/// eviction, a kill) does not store the same results again. Nothing found, or no answer
/// by then (a store that is down), and the first run is stored, as it always was.
#[allow(clippy::too_many_arguments)]
pub async fn run_forever(
    cfg: &Settings,
    search: &VersionSearch,
    host: &Host,
    writer: &Writer,
    metrics: &BenchmarkerMetrics,
    ready: &dyn Fn(),
    stored_before: std::sync::mpsc::Receiver<BenchmarkDocument>,
    mut cancel: watch::Receiver<bool>,
) {
    let mut stored_before = Some(stored_before);
    let offset = schedule::node_offset(&cfg.node_name, cfg.interval);
    tracing::info!(
        node = %cfg.node_name,
        scope = cfg.scope.as_str(),
        kube_bench = %host.kube_bench_version,
        interval = %humantime::format_duration(cfg.interval),
        offset = %humantime::format_duration(Duration::from_secs(offset.as_secs())),
        timeout = %humantime::format_duration(cfg.timeout),
        datastore = %cfg.store,
        "benchmarker started; running now, then every interval at this node's offset"
    );
    let mut last_stored: Option<BenchmarkDocument> = None;
    loop {
        let started = Utc::now();
        let clock = std::time::Instant::now();
        let Some(outcome) = run_once(cfg, search, host, &mut cancel).await else {
            tracing::info!("run stopped by shutdown; nothing stored for it");
            return;
        };
        let doc = outcome.document;
        let now = Utc::now();
        metrics.record_run(&doc, clock.elapsed(), now);
        let summary = engine::describe(&doc);
        // The first run only: what an earlier process stored.
        if let Some(rx) = stored_before.take() {
            let wait =
                tokio::task::spawn_blocking(move || rx.recv_timeout(STORED_BEFORE_WAIT).ok());
            last_stored = tokio::select! {
                found = wait => found.ok().flatten(),
                // Shutting down: the finished run is stored rather than lost.
                _ = cancel.wait_for(|c| *c) => None,
            };
        }
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
