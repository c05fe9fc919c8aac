//! The benchmarker's settings.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | NODENAME | required | the node's name, from the downward API (`spec.nodeName`) |
//! | BENCHMARK_INTERVAL | `1h` | time between runs (at least 1s) |
//! | BENCHMARK_TIMEOUT | `5m` | a run still going after this is stopped and stored as errored |
//! | KUBE_BENCH_PATH | `kube-bench` | the program; a bare name is looked up in PATH |
//! | KUBE_BENCH_ARGS | `--json` | its arguments, split on blanks (no quoting) |
//! | BENCHMARK_KUBERNETES_VERSION | detected | skips detection (`1.29.3`, `v1.29.3`) |
//! | BENCHMARK_SCOPE | `node` | `node`: this node's checks (the DaemonSet); `cluster`: the checks of the API, once per cluster (the Deployment) |
//! | KUBE_BENCH_BENCHMARK | per platform | the benchmark of every node (`--benchmark`), unless its label `compliance.tigera.io/cis-benchmark` names one |
//! | KUBE_BENCH_VERSION | per platform | kube-bench's `--version` for every node (`1.29`) |
//! | KUBE_BENCH_CFG_DIR | `cfg` | kube-bench's cfg directory, when KUBE_BENCH_ARGS have no `--config-dir` |
//! | KUBE_BENCH_MAX_OUTPUT | `64MiB` | the most kube-bench output read; more stops the run, stored as errored |
//! | BENCHMARK_HOST_PROC | `/proc` | where the node's processes are listed, to tell a control-plane node (with `hostPID: true`, `/proc`; or the host's `/proc` mounted elsewhere) |
//!
//! plus the store (COMPLIANCE_DATASTORE, ELASTIC_*), its retention
//! (COMPLIANCE_BENCHMARK_RETENTION, COMPLIANCE_REPORT_RETENTION), HEALTH_ENABLED / HEALTH_PORT and
//! LOG_LEVEL / LOG_FORMAT, read exactly as the reporter reads them.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::time::Duration;

use compliance_benchmarker::config::{
    DEFAULT_INTERVAL, DEFAULT_KUBE_BENCH, DEFAULT_KUBE_BENCH_ARGS, DEFAULT_PROC_ROOT,
    DEFAULT_TIMEOUT, KubeBenchCommand, MIN_DURATION, Scope, Settings,
};
use compliance_benchmarker::platform::valid_name;
use compliance_benchmarker::version::{VersionSearch, release_version};
use compliance_store::{Datastore, Retention};

use super::{
    ConfigError, LogConfig, RawEnv, cluster, datastore, health_from_env, non_empty, parse_duration,
};

/// Everything the benchmarker needs from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchmarkerConfig {
    /// What the runs need (node, cadence, kube-bench, labels).
    pub run: Settings,
    /// Where to look for kubelet and kubectl: PATH, then the usual places.
    pub version_search: VersionSearch,
    pub datastore: Datastore,
    /// What is pruned after documents are stored (SQLite).
    pub retention: Retention,
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
            Some(v) => Some(release_version(v).map_err(|why| {
                ConfigError::new(
                    "BENCHMARK_KUBERNETES_VERSION",
                    v,
                    format!("{why}; expected a Kubernetes version such as 1.29.3 or v1.29.3"),
                )
            })?),
        };
        let scope = match non_empty(&env.benchmark_scope).map(str::to_ascii_lowercase) {
            None => Scope::Node,
            Some(s) if s == "node" => Scope::Node,
            Some(s) if s == "cluster" => Scope::Cluster,
            Some(_) => {
                return Err(ConfigError::new(
                    "BENCHMARK_SCOPE",
                    env.benchmark_scope.as_deref().unwrap_or_default(),
                    "must be node (this node's checks, the DaemonSet) or cluster (the checks \
                     of the API, once per cluster)",
                ));
            }
        };
        let benchmark = name_var("KUBE_BENCH_BENCHMARK", &env.kube_bench_benchmark)?;
        let version = name_var("KUBE_BENCH_VERSION", &env.kube_bench_version)?;
        if let (Some(b), Some(v)) = (&benchmark, &version) {
            return Err(ConfigError::new(
                "KUBE_BENCH_VERSION",
                v,
                format!(
                    "is set together with KUBE_BENCH_BENCHMARK={b}; kube-bench takes one of \
                     --version and --benchmark, so set only one"
                ),
            ));
        }
        let cfg_dir = non_empty(&env.kube_bench_cfg_dir).map(str::to_string);
        let proc_root = non_empty(&env.benchmark_host_proc)
            .unwrap_or(DEFAULT_PROC_ROOT)
            .into();
        let datastore = datastore(env)?;
        Ok(BenchmarkerConfig {
            run: Settings {
                node_name,
                interval,
                timeout,
                kube_bench: KubeBenchCommand {
                    program,
                    args,
                    path: env.path.clone().unwrap_or_default(),
                    max_output: super::kube_bench_max_output(env)?,
                },
                kubernetes_version,
                cluster: cluster(env),
                store: datastore.describe(),
                scope,
                benchmark,
                version,
                cfg_dir,
                proc_root,
            },
            datastore,
            retention: super::retention::from_env(env)?,
            version_search: VersionSearch::standard(env.path.as_deref().map(OsStr::new)),
            health: health_from_env(env)?,
            log,
        })
    }
}

/// An optional benchmark or version name: letters, digits, dots and dashes.
fn name_var(variable: &str, value: &Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(v) = non_empty(value) else {
        return Ok(None);
    };
    if !valid_name(v) {
        return Err(ConfigError::new(
            variable,
            v,
            "is not a kube-bench benchmark or version name (letters, digits, dots and dashes, \
             such as eks-1.7.0 or 1.29)",
        ));
    }
    Ok(Some(v.to_string()))
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
        assert_eq!(cfg.run.node_name, "node-1");
        assert_eq!(cfg.run.interval, Duration::from_secs(3600));
        assert_eq!(cfg.run.timeout, Duration::from_secs(300));
        assert_eq!(
            cfg.run.kube_bench,
            KubeBenchCommand {
                program: "kube-bench".into(),
                args: vec!["--json".into()],
                path: String::new(),
                max_output: 64 << 20,
            }
        );
        assert_eq!(cfg.run.kubernetes_version, None);
        assert_eq!(cfg.run.cluster, "cluster");
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
        assert_eq!(cfg.run.interval, Duration::from_secs(1800));
        assert_eq!(cfg.run.timeout, Duration::from_secs(90));
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
        assert_eq!(cfg.run.kube_bench.program, "/opt/kb/kube-bench");
        assert_eq!(
            cfg.run.kube_bench.args,
            ["--json", "--config-dir", "/opt/kb/cfg"]
        );
    }

    #[test]
    fn a_kubernetes_version_override_is_normalised_or_refused() {
        let cfg = parse(&[
            ("NODENAME", "n"),
            ("BENCHMARK_KUBERNETES_VERSION", "v1.30.2"),
        ])
        .unwrap();
        let v = cfg.run.kubernetes_version.unwrap();
        assert_eq!((v.to_string(), v.suffix()), ("1.30.2".to_string(), None));
        let cfg = parse(&[
            ("NODENAME", "n"),
            ("BENCHMARK_KUBERNETES_VERSION", "1.30.2-eks-1a2b"),
        ])
        .unwrap();
        let v = cfg.run.kubernetes_version.unwrap();
        assert_eq!(
            (v.to_string(), v.suffix()),
            ("1.30.2".into(), Some("eks-1a2b"))
        );
        let err = parse(&[
            ("NODENAME", "n"),
            ("BENCHMARK_KUBERNETES_VERSION", "latest"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "BENCHMARK_KUBERNETES_VERSION");
    }

    #[test]
    fn scope_and_benchmark_overrides_are_checked_and_named() {
        let cfg = parse(&[("NODENAME", "n")]).unwrap();
        assert_eq!(
            (
                cfg.run.scope,
                cfg.run.benchmark,
                cfg.run.version,
                cfg.run.cfg_dir
            ),
            (Scope::Node, None, None, None)
        );
        let cfg = parse(&[
            ("NODENAME", "n"),
            ("BENCHMARK_SCOPE", "Cluster"),
            ("KUBE_BENCH_BENCHMARK", "eks-1.7.0"),
            ("KUBE_BENCH_CFG_DIR", "/etc/kube-bench/cfg"),
        ])
        .unwrap();
        assert_eq!(cfg.run.scope, Scope::Cluster);
        assert_eq!(cfg.run.benchmark.as_deref(), Some("eks-1.7.0"));
        assert_eq!(cfg.run.cfg_dir.as_deref(), Some("/etc/kube-bench/cfg"));
        let cfg = parse(&[("NODENAME", "n"), ("KUBE_BENCH_VERSION", "1.29")]).unwrap();
        assert_eq!(cfg.run.version.as_deref(), Some("1.29"));
        for (pairs, var, value) in [
            (&[("BENCHMARK_SCOPE", "pod")][..], "BENCHMARK_SCOPE", "pod"),
            (
                &[("KUBE_BENCH_BENCHMARK", "eks 1.7")][..],
                "KUBE_BENCH_BENCHMARK",
                "eks 1.7",
            ),
            (
                &[("KUBE_BENCH_VERSION", "../1.29")][..],
                "KUBE_BENCH_VERSION",
                "../1.29",
            ),
            (
                &[
                    ("KUBE_BENCH_VERSION", "1.29"),
                    ("KUBE_BENCH_BENCHMARK", "cis-1.9"),
                ][..],
                "KUBE_BENCH_VERSION",
                "1.29",
            ),
        ] {
            let mut all = vec![("NODENAME", "n")];
            all.extend_from_slice(pairs);
            let err = parse(&all).unwrap_err();
            assert_eq!(
                (err.variable.as_str(), err.value.as_str()),
                (var, value),
                "{err}"
            );
        }
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
        assert_eq!(cfg.run.cluster, "prod");
        assert_eq!(cfg.health.map(|a| a.port()), Some(9099));
        let err = parse(&[("NODENAME", "n"), ("HEALTH_PORT", "99999")]).unwrap_err();
        assert_eq!(err.variable, "HEALTH_PORT");
    }
}
