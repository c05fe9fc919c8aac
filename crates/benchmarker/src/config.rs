//! What a benchmarker run needs to know, already checked: the binary reads it from the
//! environment (NODENAME, BENCHMARK_*, KUBE_BENCH_*), this crate only uses it.

use std::time::Duration;

use compliance_core::version::KubernetesVersion;

/// Default BENCHMARK_INTERVAL: the hourly cadence the reporter's windows assume.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
/// Default BENCHMARK_TIMEOUT. A full kube-bench run takes seconds; minutes mean it hangs.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Default KUBE_BENCH_PATH: found in PATH (the benchmarker image installs it in
/// /usr/local/bin).
pub const DEFAULT_KUBE_BENCH: &str = "kube-bench";
/// Default KUBE_BENCH_ARGS. The benchmark is chosen by adding `--version MAJOR.MINOR`
/// of the detected Kubernetes version (see [`KubeBenchCommand::args_for`]).
pub const DEFAULT_KUBE_BENCH_ARGS: &str = "--json";

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
}

impl KubeBenchCommand {
    /// The arguments for one run: the configured ones, plus `--version MAJOR.MINOR` when a
    /// Kubernetes version is known and the arguments do not already choose the benchmark
    /// (`--version` or `--benchmark`; kube-bench refuses both together).
    ///
    /// kube-bench maps `MAJOR.MINOR` to its newest benchmark for that version through its
    /// own `version_mapping`, stepping down the minor version when it has none, so a new
    /// kube-bench release picks new benchmarks without a change here.
    pub fn args_for(&self, kubernetes_version: Option<&KubernetesVersion>) -> Vec<String> {
        let mut args = self.args.clone();
        let chosen = args.iter().any(|a| {
            let name = a.split('=').next().unwrap_or(a);
            matches!(name, "--version" | "--benchmark" | "-V" | "-b")
        });
        if let Some(v) = kubernetes_version
            && !chosen
        {
            args.push("--version".to_string());
            args.push(v.minor_version());
        }
        args
    }
}

/// What the runs need: the node, the cadence, kube-bench and the labels of the documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// NODENAME: the `node_name` of every document.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_benchmark_is_chosen_by_the_detected_minor_version() {
        let cmd = KubeBenchCommand {
            program: "kube-bench".into(),
            args: vec!["--json".into()],
            path: "/usr/bin".into(),
        };
        let v: KubernetesVersion = "v1.29.3-eks-1a2b".parse().unwrap();
        assert_eq!(cmd.args_for(Some(&v)), ["--json", "--version", "1.29"]);
        assert_eq!(cmd.args_for(None), ["--json"]);
        for given in ["--benchmark", "--benchmark=cis-1.9", "--version=1.27", "-b"] {
            let cmd = KubeBenchCommand {
                program: "kube-bench".into(),
                args: vec!["--json".into(), given.into()],
                path: "/usr/bin".into(),
            };
            assert_eq!(cmd.args_for(Some(&v)), ["--json", given], "{given}");
        }
    }
}
