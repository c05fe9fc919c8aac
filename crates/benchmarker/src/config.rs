//! What a benchmarker run needs to know, already checked: the binary reads it from the
//! environment (NODENAME, BENCHMARK_*, KUBE_BENCH_*), this crate only uses it.

use std::time::Duration;

use compliance_core::version::KubernetesVersion;

pub use crate::platform::Scope;

/// Default BENCHMARK_INTERVAL: the hourly cadence the reporter's windows assume.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
/// Default BENCHMARK_TIMEOUT. A full kube-bench run takes seconds; minutes mean it hangs.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Default KUBE_BENCH_PATH: found in PATH (the benchmarker image installs it in
/// /usr/local/bin).
pub const DEFAULT_KUBE_BENCH: &str = "kube-bench";
/// Default KUBE_BENCH_ARGS. `run`, the targets and the benchmark are added to them
/// (see [`crate::platform`]).
pub const DEFAULT_KUBE_BENCH_ARGS: &str = "--json";

/// Default BENCHMARK_HOST_PROC: the pod's `/proc`, which is the node's with `hostPID`.
pub const DEFAULT_PROC_ROOT: &str = "/proc";

/// The smallest interval and timeout accepted: zero would spin.
pub const MIN_DURATION: Duration = Duration::from_secs(1);

/// How to start kube-bench.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeBenchCommand {
    /// KUBE_BENCH_PATH as given; a name without `/` is looked up in PATH.
    pub program: String,
    /// KUBE_BENCH_ARGS split on blanks.
    pub args: Vec<String>,
    /// PATH as the benchmarker started with it, where a bare `program` is looked up;
    /// quoted in the error when it is not found there.
    pub path: String,
    /// The most output read (KUBE_BENCH_MAX_OUTPUT, default
    /// [`compliance_core::import::DEFAULT_MAX_SIZE`], 64 MiB): a run that prints more is
    /// stopped and stored as errored, so a runaway program cannot exhaust the memory.
    pub max_output: u64,
}

/// What the runs need: the node, the cadence, kube-bench and the labels of the documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// NODENAME: the node this runs on, and the `node_name` of its documents (those of
    /// the cluster scope are named `compliance_core::model::CLUSTER_SCOPE_NODE_NAME`).
    pub node_name: String,
    /// Time between runs (BENCHMARK_INTERVAL, default [`DEFAULT_INTERVAL`]).
    pub interval: Duration,
    /// A run still going after this is stopped (BENCHMARK_TIMEOUT, [`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
    pub kube_bench: KubeBenchCommand,
    /// BENCHMARK_KUBERNETES_VERSION; `None`: detect it.
    pub kubernetes_version: Option<KubernetesVersion>,
    /// The documents' `cluster` (ELASTIC_INDEX_SUFFIX, default `cluster`), as the reporter.
    pub cluster: String,
    /// Where the documents go, for the log line at start (never with credentials).
    pub store: String,
    /// BENCHMARK_SCOPE: this node's checks, or the cluster's (default: node).
    pub scope: Scope,
    /// KUBE_BENCH_BENCHMARK: the benchmark for every node, unless a node label says
    /// otherwise.
    pub benchmark: Option<String>,
    /// KUBE_BENCH_VERSION: kube-bench's `--version` for every node.
    pub version: Option<String>,
    /// KUBE_BENCH_CFG_DIR: where the kube-bench cfg is, when KUBE_BENCH_ARGS do not say
    /// (`--config-dir`).
    pub cfg_dir: Option<String>,
    /// BENCHMARK_HOST_PROC: where the node's processes are listed (default
    /// [`DEFAULT_PROC_ROOT`]).
    pub proc_root: std::path::PathBuf,
}
