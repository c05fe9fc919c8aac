//! The benchmarker's environment, parsed into checked values.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | NODENAME | required | the node's name, from the downward API (`spec.nodeName`) |
//! | BENCHMARK_INTERVAL | `1h` | time between runs (at least 1s) |
//! | BENCHMARK_TIMEOUT | `5m` | a run still going after this is stopped and stored as errored |
//! | KUBE_BENCH_PATH | `kube-bench` | the program; a bare name is looked up in PATH |
//! | KUBE_BENCH_ARGS | `--json` | its arguments, split on blanks (no quoting) |
//! | BENCHMARK_KUBERNETES_VERSION | detected | skips detection (`1.29.3`, `v1.29.3`) |
//!
//! plus the store (COMPLIANCE_DATASTORE, ELASTIC_*), HEALTH_ENABLED / HEALTH_PORT and
//! LOG_LEVEL / LOG_FORMAT, read exactly as the reporter reads them.

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{
    ConfigError, Datastore, LogConfig, RawEnv, health_from_env, non_empty, parse_duration,
};
use crate::model::benchmark::DEFAULT_CLUSTER;

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
const MIN_DURATION: Duration = Duration::from_secs(1);

/// How to start kube-bench.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeBenchCommand {
    /// KUBE_BENCH_PATH as given; a name without `/` is looked up in PATH.
    pub program: String,
    /// KUBE_BENCH_ARGS split on blanks.
    pub args: Vec<String>,
}

impl KubeBenchCommand {
    /// The arguments for one run: the configured ones, plus `--version MAJOR.MINOR` when a
    /// Kubernetes version is known and the arguments do not already choose the benchmark
    /// (`--version` or `--benchmark`; kube-bench refuses both together).
    ///
    /// kube-bench maps `MAJOR.MINOR` to its newest benchmark for that version through its
    /// own `version_mapping`, stepping down the minor version when it has none, so a new
    /// kube-bench release picks new benchmarks without a change here.
    pub fn args_for(&self, kubernetes_version: Option<&str>) -> Vec<String> {
        let mut args = self.args.clone();
        let chosen = args.iter().any(|a| {
            let name = a.split('=').next().unwrap_or(a);
            matches!(name, "--version" | "--benchmark" | "-V" | "-b")
        });
        if let Some(v) = kubernetes_version
            && !chosen
            && let Some(minor) = major_minor(v)
        {
            args.push("--version".to_string());
            args.push(minor);
        }
        args
    }
}

/// `1.29` of `1.29.3`; `None` when the version does not start with two numbers.
fn major_minor(version: &str) -> Option<String> {
    let mut parts = version.split('.');
    let major = parts.next()?;
    let minor = parts.next()?;
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (numeric(major) && numeric(minor)).then(|| format!("{major}.{minor}"))
}

/// Everything the benchmarker needs from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchmarkerConfig {
    /// NODENAME: the `node_name` of every document.
    pub node_name: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub kube_bench: KubeBenchCommand,
    /// BENCHMARK_KUBERNETES_VERSION, normalised (no leading `v`); `None`: detect it.
    pub kubernetes_version: Option<String>,
    pub datastore: Datastore,
    /// The documents' `cluster` (ELASTIC_INDEX_SUFFIX, default `cluster`), as the reporter.
    pub cluster: String,
    pub health: Option<SocketAddr>,
    pub log: LogConfig,
}

impl BenchmarkerConfig {
    pub fn from_env(env: &RawEnv) -> Result<BenchmarkerConfig, ConfigError> {
        let log = LogConfig::from_env(env)?;
        let node_name = non_empty(&env.nodename)
            .ok_or_else(|| {
                ConfigError::new(
                    "NODENAME",
                    env.nodename.as_deref().unwrap_or_default(),
                    "is required: the name of the node this benchmarker runs on; in a pod, \
                     set it from the downward API (valueFrom.fieldRef.fieldPath: \
                     spec.nodeName)",
                )
            })?
            .to_string();
        let interval = duration_var("BENCHMARK_INTERVAL", &env.benchmark_interval)?
            .unwrap_or(DEFAULT_INTERVAL);
        let timeout =
            duration_var("BENCHMARK_TIMEOUT", &env.benchmark_timeout)?.unwrap_or(DEFAULT_TIMEOUT);
        let program = non_empty(&env.kube_bench_path)
            .unwrap_or(DEFAULT_KUBE_BENCH)
            .to_string();
        let args = non_empty(&env.kube_bench_args)
            .unwrap_or(DEFAULT_KUBE_BENCH_ARGS)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let kubernetes_version = match non_empty(&env.benchmark_kubernetes_version) {
            None => None,
            Some(v) => Some(super::version::normalise(v).ok_or_else(|| {
                ConfigError::new(
                    "BENCHMARK_KUBERNETES_VERSION",
                    v,
                    "expected a Kubernetes version such as 1.29.3 or v1.29.3",
                )
            })?),
        };
        Ok(BenchmarkerConfig {
            node_name,
            interval,
            timeout,
            kube_bench: KubeBenchCommand { program, args },
            kubernetes_version,
            datastore: Datastore::from_env(env)?,
            cluster: non_empty(&env.elastic.elastic_index_suffix)
                .unwrap_or(DEFAULT_CLUSTER)
                .to_string(),
            health: health_from_env(env)?,
            log,
        })
    }
}

/// An optional duration of at least [`MIN_DURATION`].
fn duration_var(variable: &str, value: &Option<String>) -> Result<Option<Duration>, ConfigError> {
    let Some(v) = non_empty(value) else {
        return Ok(None);
    };
    let d = parse_duration(variable, v)?
        .to_std()
        .map_err(|_| ConfigError::new(variable, v, "must not be negative"))?;
    if d < MIN_DURATION {
        return Err(ConfigError::new(variable, v, "must be at least 1s"));
    }
    Ok(Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> RawEnv {
        RawEnv::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<BenchmarkerConfig, ConfigError> {
        BenchmarkerConfig::from_env(&env(pairs))
    }

    #[test]
    fn defaults_need_only_the_node_name() {
        let cfg = parse(&[("NODENAME", "node-1")]).unwrap();
        assert_eq!(cfg.node_name, "node-1");
        assert_eq!(cfg.interval, Duration::from_secs(3600));
        assert_eq!(cfg.timeout, Duration::from_secs(300));
        assert_eq!(
            cfg.kube_bench,
            KubeBenchCommand {
                program: "kube-bench".into(),
                args: vec!["--json".into()]
            }
        );
        assert_eq!(cfg.kubernetes_version, None);
        assert_eq!(cfg.cluster, "cluster");
        assert_eq!(cfg.health, None);
        assert!(matches!(cfg.datastore, Datastore::Sqlite(_)));
    }

    #[test]
    fn a_missing_or_blank_node_name_names_nodename() {
        for pairs in [&[][..], &[("NODENAME", "  ")][..]] {
            let err = parse(pairs).unwrap_err();
            assert_eq!(err.variable, "NODENAME");
            assert!(err.message.contains("spec.nodeName"), "{err}");
        }
    }

    #[test]
    fn durations_are_checked_and_named() {
        let cfg = parse(&[
            ("NODENAME", "n"),
            ("BENCHMARK_INTERVAL", "30m"),
            ("BENCHMARK_TIMEOUT", "1m 30s"),
        ])
        .unwrap();
        assert_eq!(cfg.interval, Duration::from_secs(1800));
        assert_eq!(cfg.timeout, Duration::from_secs(90));
        for (var, value) in [
            ("BENCHMARK_INTERVAL", "hourly"),
            ("BENCHMARK_INTERVAL", "0s"),
            ("BENCHMARK_TIMEOUT", "500ms"),
            ("BENCHMARK_TIMEOUT", "5 parsecs"),
        ] {
            let err = parse(&[("NODENAME", "n"), (var, value)]).unwrap_err();
            assert_eq!((err.variable.as_str(), err.value.as_str()), (var, value));
        }
    }

    #[test]
    fn kube_bench_path_and_args_are_taken_as_given() {
        let cfg = parse(&[
            ("NODENAME", "n"),
            ("KUBE_BENCH_PATH", "/opt/kb/kube-bench"),
            ("KUBE_BENCH_ARGS", " --json  --config-dir /opt/kb/cfg "),
        ])
        .unwrap();
        assert_eq!(cfg.kube_bench.program, "/opt/kb/kube-bench");
        assert_eq!(
            cfg.kube_bench.args,
            ["--json", "--config-dir", "/opt/kb/cfg"]
        );
    }

    #[test]
    fn the_benchmark_is_chosen_by_the_detected_minor_version() {
        let cmd = KubeBenchCommand {
            program: "kube-bench".into(),
            args: vec!["--json".into()],
        };
        assert_eq!(
            cmd.args_for(Some("1.29.3")),
            ["--json", "--version", "1.29"]
        );
        assert_eq!(cmd.args_for(None), ["--json"]);
        for given in ["--benchmark", "--benchmark=cis-1.9", "--version=1.27", "-b"] {
            let cmd = KubeBenchCommand {
                program: "kube-bench".into(),
                args: vec!["--json".into(), given.into()],
            };
            assert_eq!(cmd.args_for(Some("1.29.3")), ["--json", given], "{given}");
        }
    }

    #[test]
    fn a_kubernetes_version_override_is_normalised_or_refused() {
        let cfg = parse(&[
            ("NODENAME", "n"),
            ("BENCHMARK_KUBERNETES_VERSION", "v1.30.2"),
        ])
        .unwrap();
        assert_eq!(cfg.kubernetes_version.as_deref(), Some("1.30.2"));
        let err = parse(&[
            ("NODENAME", "n"),
            ("BENCHMARK_KUBERNETES_VERSION", "latest"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "BENCHMARK_KUBERNETES_VERSION");
    }

    #[test]
    fn store_health_and_cluster_are_read_as_the_reporter_reads_them() {
        let cfg = parse(&[
            ("NODENAME", "n"),
            ("COMPLIANCE_DATASTORE", "sqlite:/data/c.db"),
            ("ELASTIC_INDEX_SUFFIX", "prod"),
            ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
        ])
        .unwrap();
        assert_eq!(
            cfg.datastore,
            Datastore::Sqlite(std::path::PathBuf::from("/data/c.db"))
        );
        assert_eq!(cfg.cluster, "prod");
        assert_eq!(cfg.health.map(|a| a.port()), Some(9099));
        let err = parse(&[("NODENAME", "n"), ("HEALTH_PORT", "99999")]).unwrap_err();
        assert_eq!(err.variable, "HEALTH_PORT");
    }
}
