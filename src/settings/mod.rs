//! The environment (docs/spec.md §7), parsed into checked settings: the one place that reads it.
//!
//! Every binary reads the process environment once, into [`RawEnv`], and turns it into
//! its own settings ([`reporter::ReporterConfig`], [`benchmarker::BenchmarkerConfig`],
//! the CLI's flags) built from the shared pieces here: logging ([`LogConfig`]), the store
//! ([`datastore`], [`elastic`]), how long it keeps data ([`retention`]), the health
//! endpoint ([`health_from_env`]) and the value parsers. The libraries below never see
//! a variable.
//!
//! Parsing takes the variables and the current time as arguments, so every rule is
//! testable without touching the process environment or the clock.

pub mod benchmarker;
pub mod controller;
pub mod elastic;
pub mod notify;
pub mod reporter;
pub mod retention;
pub mod server;

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use compliance_core::error::{Classify, ErrorKind};
use compliance_core::model::Rating;
use compliance_core::model::benchmark::DEFAULT_CLUSTER;
use compliance_core::time;
use compliance_kube::{Caller, KubeSettings};
use compliance_store::Datastore;
use serde::Deserialize;

use self::elastic::RawElasticEnv;
use crate::health::DEFAULT_HEALTH_PORT;

/// The default embedded store: a SQLite file in the working directory.
pub const DEFAULT_DATASTORE: &str = "sqlite:compliance.db";

/// A configuration value that cannot be used; always names the variable and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?}: {message}")]
pub struct ConfigError {
    pub variable: String,
    pub value: String,
    pub message: String,
}

impl Classify for ConfigError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Configuration
    }
}

impl ConfigError {
    pub fn new(variable: &str, value: &str, message: impl Into<String>) -> Self {
        ConfigError {
            variable: variable.to_string(),
            value: value.to_string(),
            message: message.into(),
        }
    }
}

/// `sqlite:PATH`, the only scheme of the embedded store.
pub fn parse_datastore(variable: &str, value: &str) -> Result<Datastore, ConfigError> {
    match value.trim().split_once(':') {
        Some(("sqlite", path)) if !path.trim().is_empty() => {
            Ok(Datastore::Sqlite(PathBuf::from(path.trim())))
        }
        Some(("sqlite", _)) => Err(ConfigError::new(
            variable,
            value,
            "the sqlite: URL needs a file path, e.g. sqlite:./compliance.db",
        )),
        _ => Err(ConfigError::new(
            variable,
            value,
            "expected sqlite:PATH, e.g. sqlite:./compliance.db",
        )),
    }
}

/// Picks the store: Elasticsearch whenever ELASTIC_HOST or ELASTIC_URL is set (docs/spec.md §7),
/// otherwise COMPLIANCE_DATASTORE (default `sqlite:compliance.db`).
pub fn datastore(env: &RawEnv) -> Result<Datastore, ConfigError> {
    if let Some(mut config) = elastic::from_env(&env.elastic)? {
        // The lifecycle policies a writer or `elastic setup` installs keep what the
        // SQLite store's retention would (docs/spec.md §10).
        config.retention = retention::from_env(env)?;
        return Ok(Datastore::Elastic(Box::new(config)));
    }
    parse_datastore(
        "COMPLIANCE_DATASTORE",
        env.compliance_datastore
            .as_deref()
            .unwrap_or(DEFAULT_DATASTORE),
    )
}

/// The `cluster` of stored documents and reports: ELASTIC_INDEX_SUFFIX, default `cluster`.
pub fn cluster(env: &RawEnv) -> String {
    non_empty(&env.elastic.elastic_index_suffix)
        .unwrap_or(DEFAULT_CLUSTER)
        .to_string()
}

/// The smallest KUBE_BENCH_MAX_OUTPUT accepted: a node run of kube-bench prints tens of
/// kilobytes, so anything under 1 KiB would refuse every real output.
pub const MIN_KUBE_BENCH_MAX_OUTPUT: u64 = 1 << 10;

/// The most kube-bench output read, by `compliancectl import kube-bench` (per file) and
/// by the benchmarker: KUBE_BENCH_MAX_OUTPUT, a size such as `64MiB`, `512KiB` or bytes;
/// default [`compliance_core::import::DEFAULT_MAX_SIZE`] (64 MiB), at least 1 KiB.
pub fn kube_bench_max_output(env: &RawEnv) -> Result<u64, ConfigError> {
    match non_empty(&env.kube_bench_max_output) {
        Some(v) => parse_max_output(v),
        None => Ok(compliance_core::import::DEFAULT_MAX_SIZE),
    }
}

fn parse_max_output(value: &str) -> Result<u64, ConfigError> {
    const VARIABLE: &str = compliance_core::import::MAX_SIZE_VARIABLE;
    let bytes = parse_size(VARIABLE, value)?;
    if bytes < MIN_KUBE_BENCH_MAX_OUTPUT {
        return Err(ConfigError::new(
            VARIABLE,
            value,
            "must be at least 1KiB (a node run of kube-bench prints tens of kilobytes)",
        ));
    }
    Ok(bytes)
}

/// A byte count, for every size variable: digits with an optional unit, decimal (B, KB,
/// MB, GB) or binary (KiB, MiB, GiB, or K, M, G), in any case.
pub fn parse_size(variable: &str, value: &str) -> Result<u64, ConfigError> {
    let invalid = || {
        ConfigError::new(
            variable,
            value,
            "expected a size such as 64MiB, 512KiB or 1048576",
        )
    };
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        _ => return Err(invalid()),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(invalid)
}

/// The variables as strings, read with `envy` (names are the lower-cased variables).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawEnv {
    pub tigera_compliance_report_name: Option<String>,
    pub tigera_compliance_report_start_time: Option<String>,
    pub tigera_compliance_report_end_time: Option<String>,
    pub tigera_compliance_job_start_delay: Option<String>,
    /// The controller's variables (see [`controller`]).
    pub tigera_compliance_job_namespace: Option<String>,
    pub tigera_compliance_job_name_prefix: Option<String>,
    pub tigera_compliance_ignore_unstarted_report_after: Option<String>,
    pub tigera_compliance_max_active_jobs: Option<String>,
    pub tigera_compliance_max_job_retries: Option<String>,
    pub tigera_compliance_max_successful_jobs_history: Option<String>,
    pub tigera_compliance_max_failed_jobs_history: Option<String>,
    pub compliance_leader_election: Option<String>,
    pub compliance_lease_duration: Option<String>,
    pub pod_name: Option<String>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
    pub compliance_datastore: Option<String>,
    pub compliance_resources: Option<String>,
    pub compliance_output_dir: Option<String>,
    pub compliance_fail_on: Option<String>,
    /// How long stored data is kept (see [`retention`]).
    pub compliance_benchmark_retention: Option<String>,
    pub compliance_report_retention: Option<String>,
    pub compliance_api_group: Option<String>,
    pub compliance_api_timeout: Option<String>,
    pub health_enabled: Option<String>,
    pub health_port: Option<String>,
    /// Set by the kubelet in every pod; decides HEALTH_ENABLED's default.
    pub kubernetes_service_host: Option<String>,
    /// PATH: where the benchmarker looks for kubelet and kubectl first.
    pub path: Option<String>,
    /// HOSTNAME: the CLI's default node name when /proc has none.
    pub hostname: Option<String>,
    /// The benchmarker's variables (see [`benchmarker`]).
    pub nodename: Option<String>,
    pub benchmark_interval: Option<String>,
    pub benchmark_timeout: Option<String>,
    pub kube_bench_path: Option<String>,
    pub kube_bench_args: Option<String>,
    pub benchmark_kubernetes_version: Option<String>,
    pub benchmark_scope: Option<String>,
    pub kube_bench_version: Option<String>,
    pub kube_bench_benchmark: Option<String>,
    pub kube_bench_cfg_dir: Option<String>,
    /// KUBE_BENCH_MAX_OUTPUT: see [`kube_bench_max_output`].
    pub kube_bench_max_output: Option<String>,
    pub benchmark_host_proc: Option<String>,
    /// compliance-server's variables (see [`server`]); the first three are Calico's names.
    pub listen_addr: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub compliance_server_auth: Option<String>,
    pub compliance_server_allow_unauthenticated: Option<String>,
    pub compliance_server_clusters: Option<String>,
    pub compliance_server_shutdown_timeout: Option<String>,
    pub compliance_metrics_per_test: Option<String>,
    /// The ELASTIC_* variables (passwords and keys redacted in Debug).
    #[serde(flatten)]
    pub elastic: RawElasticEnv,
    /// The reporter's COMPLIANCE_NOTIFY_* variables (URLs redacted in Debug).
    #[serde(flatten)]
    pub notify: self::notify::RawNotifyEnv,
}

impl RawEnv {
    /// Reads the variables from `(name, value)` pairs, e.g. `std::env::vars()`.
    ///
    /// Names match whatever their case, as envy matches them; when one variable comes in
    /// several spellings (`LOG_LEVEL` and `log_level`, both legal in one environment) or
    /// twice, the documented upper-case spelling wins, else the last one given.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> RawEnv {
        // envy refuses a field given twice ("duplicate field"): one value per name.
        let mut chosen: std::collections::HashMap<String, (bool, String, String)> =
            std::collections::HashMap::new();
        for (name, value) in vars {
            let upper = name.bytes().all(|b| !b.is_ascii_lowercase());
            let key = name.to_lowercase();
            match chosen.get(&key) {
                Some((true, _, _)) if !upper => {}
                _ => {
                    chosen.insert(key, (upper, name, value));
                }
            }
        }
        // Every field is an optional string, so envy cannot fail on values; unknown
        // variables are ignored.
        envy::from_iter(chosen.into_values().map(|(_, name, value)| (name, value)))
            .expect("every variable is an optional string, each given once")
    }

    /// Reads the process's variables as the operating system gives them,
    /// `std::env::vars_os()`.
    ///
    /// A variable the programs read whose value is not UTF-8 text is refused by name
    /// (`std::env::vars()` would panic on it); any other variable that is not text, a name
    /// included, belongs to something else and is ignored.
    pub fn from_os_vars(
        vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Result<RawEnv, ConfigError> {
        let mut text = Vec::new();
        let mut refused: Option<ConfigError> = None;
        for (name, value) in vars {
            // Every name the programs read is ASCII, so a name that is not text is not ours.
            let Ok(name) = name.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => text.push((name, value)),
                Err(value) if refused.is_none() && RawEnv::reads(&name) => {
                    refused = Some(ConfigError::new(
                        &name,
                        &value.to_string_lossy(),
                        "not UTF-8 text (the bytes that are not are shown as \u{fffd})",
                    ));
                }
                Err(_) => {}
            }
        }
        match refused {
            Some(e) => Err(e),
            None => Ok(RawEnv::from_vars(text)),
        }
    }

    /// Whether the programs read the variable `name` (in any case, as envy matches).
    fn reads(name: &str) -> bool {
        let set = RawEnv::from_vars([(name.to_string(), String::new())]);
        format!("{set:?}") != format!("{:?}", RawEnv::default())
    }
}

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// A tracing filter directive: error, warn, info or debug. Default info.
    pub level: &'static str,
    /// JSON lines instead of human-readable text (LOG_FORMAT=json).
    pub json: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info",
            json: false,
        }
    }
}

impl LogConfig {
    pub fn from_env(env: &RawEnv) -> Result<LogConfig, ConfigError> {
        let level = match env
            .log_level
            .as_deref()
            .map(|s| s.trim().to_ascii_lowercase())
        {
            None => "info",
            Some(l) => match l.as_str() {
                "" | "info" => "info",
                "error" | "fatal" | "panic" => "error",
                "warning" | "warn" => "warn",
                "debug" => "debug",
                "trace" => "trace",
                _ => {
                    return Err(ConfigError::new(
                        "LOG_LEVEL",
                        env.log_level.as_deref().unwrap_or_default(),
                        "expected one of error, warning, info, debug",
                    ));
                }
            },
        };
        let json = match env.log_format.as_deref().map(str::trim) {
            None | Some("") | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    other,
                    "expected text or json",
                ));
            }
        };
        Ok(LogConfig { level, json })
    }
}

/// The trimmed value, or `None` when unset or blank: a blank variable counts as unset.
pub fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// How `caller` reaches the GlobalReports: COMPLIANCE_API_GROUP (default
/// `projectcalico.org`) and COMPLIANCE_API_TIMEOUT (default 30s), checked.
pub fn kube_settings(env: &RawEnv, caller: &'static Caller) -> Result<KubeSettings, ConfigError> {
    let mut settings = KubeSettings::new(caller);
    if let Some(group) = non_empty(&env.compliance_api_group) {
        compliance_kube::crd::validate_group(group)
            .map_err(|m| ConfigError::new("COMPLIANCE_API_GROUP", group, m))?;
        settings.group = group.to_string();
    }
    if let Some(t) = non_empty(&env.compliance_api_timeout) {
        let d = parse_duration("COMPLIANCE_API_TIMEOUT", t)?;
        settings.timeout = d.to_std().ok().filter(|d| !d.is_zero()).ok_or_else(|| {
            ConfigError::new("COMPLIANCE_API_TIMEOUT", t, "must be longer than 0s")
        })?;
    }
    Ok(settings)
}

/// What fails a run with exit code 3 (COMPLIANCE_FAIL_ON, `--fail-on`): nodes rated at
/// or below a level, failures new since the previous report, or either. Nothing set:
/// nothing fails the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailOn {
    /// A node rated this or worse fails the run (`low` or `med`).
    pub level: Option<Rating>,
    /// A failure new since the previous report of the same GlobalReport, and accepted by
    /// no waiver, fails the run (`new`).
    pub new: bool,
}

impl FailOn {
    /// Only failures new since the previous report.
    pub const NEW: FailOn = FailOn {
        level: None,
        new: true,
    };

    /// The value as it would be written: `med,new`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        if let Some(level) = self.level {
            parts.push(if level == Rating::Low { "low" } else { "med" });
        }
        if self.new {
            parts.push("new");
        }
        parts.join(",")
    }
}

/// `low`, `med`, `new`, or a comma-separated list of them (`med,new`): what fails a run.
/// Of `low` and `med` together, `med` holds (a node rated LOW is also at or below MED).
pub fn parse_fail_on(variable: &str, value: &str) -> Result<FailOn, ConfigError> {
    let mut out = FailOn::default();
    for part in value.split(',').map(str::trim) {
        match part.to_ascii_lowercase().as_str() {
            "new" => out.new = true,
            // Every node rates HIGH or below, so `high` would fail every run: refused.
            "low" | "med" | "medium" => {
                let level: Rating = part
                    .parse()
                    .map_err(|m: String| ConfigError::new(variable, value, m))?;
                out.level = Some(out.level.map_or(level, |l| l.min(level)));
            }
            _ => {
                return Err(ConfigError::new(
                    variable,
                    value,
                    format!(
                        "{part:?} is not one of low, med, new (a comma-separated list of them, e.g. med,new)"
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// The liveness endpoint's address: HEALTH_ENABLED (default: on in a pod, where
/// KUBERNETES_SERVICE_HOST is set, so Calico's published pod manifest with its liveness
/// probe works unchanged; off elsewhere, so local runs open no port) and HEALTH_PORT.
pub fn health_from_env(env: &RawEnv) -> Result<Option<std::net::SocketAddr>, ConfigError> {
    let in_pod = non_empty(&env.kubernetes_service_host).is_some();
    let enabled = match non_empty(&env.health_enabled) {
        None => in_pod,
        Some(v) => parse_bool("HEALTH_ENABLED", v)?,
    };
    let port = match non_empty(&env.health_port) {
        None => DEFAULT_HEALTH_PORT,
        Some(p) => parse_port("HEALTH_PORT", p)?,
    };
    // All interfaces: the kubelet probes the pod's IP, not its loopback.
    Ok(enabled.then(|| std::net::SocketAddr::from(([0, 0, 0, 0], port))))
}

/// A TCP port, 1 to 65535.
pub fn parse_port(variable: &str, value: &str) -> Result<u16, ConfigError> {
    value
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ConfigError::new(variable, value, "expected a port number from 1 to 65535"))
}

/// `true`/`false` (also 1/0, yes/no, on/off), any case.
pub fn parse_bool(variable: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::new(variable, value, "expected true or false")),
    }
}

/// A duration such as `30m` or `1h 30m`.
pub fn parse_duration(variable: &str, value: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(value.trim()).map_err(|e| {
        ConfigError::new(
            variable,
            value,
            format!("not a duration such as 30m or 1h 30m: {e}"),
        )
    })?;
    Duration::from_std(d).map_err(|_| ConfigError::new(variable, value, "duration is too long"))
}

/// An RFC 3339 time, `now`, or `now-2h` / `now+30m` style relative time. Fractions of a
/// second are dropped: report times and ids are whole seconds.
pub fn parse_time(
    variable: &str,
    value: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ConfigError> {
    let v = value.trim();
    let parsed = if let Some(rest) = v.strip_prefix("now") {
        let rest = rest.trim();
        if rest.is_empty() {
            now
        } else {
            // By character, not byte: a pasted dash such as `now—1h` is refused, not a crash.
            let Some(sign) = rest.chars().next().filter(|c| matches!(c, '-' | '+')) else {
                return Err(ConfigError::new(
                    variable,
                    value,
                    "expected now, now-DURATION or now+DURATION",
                ));
            };
            let d = humantime::parse_duration(rest[1..].trim()).map_err(|e| {
                ConfigError::new(
                    variable,
                    value,
                    format!("bad relative time, expected e.g. now-2h: {e}"),
                )
            })?;
            let d = Duration::from_std(d)
                .map_err(|_| ConfigError::new(variable, value, "duration is too long"))?;
            let moved = if sign == '-' {
                now.checked_sub_signed(d)
            } else {
                now.checked_add_signed(d)
            };
            moved.ok_or_else(|| {
                ConfigError::new(
                    variable,
                    value,
                    "the time is outside the calendar (about 262,000 years either way)",
                )
            })?
        }
    } else {
        time::parse(v).map_err(|e| {
            ConfigError::new(
                variable,
                value,
                format!(
                    "not an RFC 3339 time (e.g. 2026-11-25T00:00:00Z) or now-2h style time: {e}"
                ),
            )
        })?
    };
    Ok(time::truncate_to_seconds(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> RawEnv {
        RawEnv::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn now() -> DateTime<Utc> {
        time::parse("2026-11-26T17:40:12.5Z").unwrap()
    }

    /// Found while writing the reliability campaign's closing note: every program read its
    /// environment with `std::env::vars()`, which panics on a value that is not UTF-8, so
    /// `LOG_LEVEL` set to Latin-1 bytes crashed the pod instead of naming the variable.
    #[test]
    fn a_variable_that_is_not_utf8_is_refused_by_name_and_others_are_ignored() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt;
        let latin1 = || OsString::from_vec(b"d\xe9bug".to_vec());
        let os = |k: &str, v: &str| (OsString::from(k), OsString::from(v));

        for name in [
            "LOG_LEVEL",
            "log_level",
            "ELASTIC_PASSWORD",
            "COMPLIANCE_RESOURCES",
        ] {
            let e = RawEnv::from_os_vars([os("LOG_FORMAT", "json"), (name.into(), latin1())])
                .unwrap_err();
            assert_eq!(e.variable, name);
            assert_eq!(e.value, "d\u{fffd}bug");
            assert!(e.to_string().contains("not UTF-8 text"), "{e}");
        }

        // Not ours: a value or a name that is not text belongs to something else.
        let env = RawEnv::from_os_vars([
            os("LOG_LEVEL", "debug"),
            (OsString::from("SOMETHING_ELSE"), latin1()),
            (latin1(), OsString::from("x")),
        ])
        .unwrap();
        assert_eq!(env.log_level.as_deref(), Some("debug"));
    }

    /// Found while fuzzing the environment parsers (by reading what the env_values target
    /// drives, not within its run): `now-1000000y` is a valid duration but no valid time,
    /// and the subtraction panicked, so TIGERA_COMPLIANCE_REPORT_START_TIME crashed the
    /// reporter instead of naming the variable.
    #[test]
    fn relative_time_beyond_the_calendar_is_refused_by_name_not_a_panic() {
        for value in ["now-1000000y", "now+1000000y"] {
            let e = parse_time("TIGERA_COMPLIANCE_REPORT_START_TIME", value, now()).unwrap_err();
            assert_eq!(e.variable, "TIGERA_COMPLIANCE_REPORT_START_TIME");
            assert_eq!(e.value, value);
            assert!(e.message.contains("outside"), "{e}");
        }
    }

    /// Found by the env_values fuzz target: envy refused the second value with "duplicate
    /// field" and `from_vars` panicked, so a pod whose environment had `LOG_LEVEL` and
    /// `log_level` (or one name twice) crashed at start.
    #[test]
    fn raw_env_with_a_variable_given_twice_or_in_two_cases_is_read_not_a_panic() {
        let e = env(&[
            ("ELASTIC_MAX_REQUEST_BYTES", "10mb"),
            ("ELASTIC_MAX_REQUEST_BYTES", "20mb"),
            ("LOG_LEVEL", "debug"),
            ("log_level", "trace"),
            ("Log_Format", "json"),
            ("log_format", "text"),
        ]);
        assert_eq!(e.elastic.elastic_max_request_bytes.as_deref(), Some("20mb"));
        // The documented upper-case spelling wins over another, in either order.
        assert_eq!(e.log_level.as_deref(), Some("debug"));
        let e = env(&[("log_level", "trace"), ("LOG_LEVEL", "debug")]);
        assert_eq!(e.log_level.as_deref(), Some("debug"));
        // Among spellings that are not the documented one, the last given.
        let e = env(&[("Log_Format", "json"), ("log_format", "text")]);
        assert_eq!(e.log_format.as_deref(), Some("text"));
    }

    #[test]
    fn health_endpoint_defaults_on_in_a_pod_and_off_elsewhere() {
        assert_eq!(health_from_env(&env(&[])).unwrap(), None);
        let pod = env(&[("KUBERNETES_SERVICE_HOST", "10.96.0.1")]);
        assert_eq!(
            health_from_env(&pod).unwrap(),
            Some("0.0.0.0:9099".parse().unwrap())
        );
        let off = env(&[
            ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
            ("HEALTH_ENABLED", "false"),
        ]);
        assert_eq!(health_from_env(&off).unwrap(), None);
        let on = env(&[("HEALTH_ENABLED", "true"), ("HEALTH_PORT", "8080")]);
        assert_eq!(
            health_from_env(&on).unwrap(),
            Some("0.0.0.0:8080".parse().unwrap())
        );
    }

    #[test]
    fn health_variables_name_themselves_when_wrong() {
        for (var, value) in [
            ("HEALTH_ENABLED", "maybe"),
            ("HEALTH_PORT", "0"),
            ("HEALTH_PORT", "70000"),
            ("HEALTH_PORT", "http"),
        ] {
            let err = health_from_env(&env(&[(var, value)])).unwrap_err();
            assert_eq!(err.variable, var);
            assert!(err.to_string().contains(value), "{err}");
        }
    }

    #[test]
    fn relative_times_with_a_foreign_dash_are_refused_not_a_crash() {
        for v in ["now—1h", "now×2h", "now2h", "now 2h"] {
            let err = parse_time("TIGERA_COMPLIANCE_REPORT_START_TIME", v, now()).unwrap_err();
            assert_eq!(err.value, v);
        }
    }

    #[test]
    fn relative_times_are_resolved_against_now_in_whole_seconds() {
        let t = parse_time("X", "now-2h", now()).unwrap();
        assert_eq!(time::format(&t), "2026-11-26T15:40:12Z");
        let t = parse_time("X", "now - 1h 30m", now()).unwrap();
        assert_eq!(time::format(&t), "2026-11-26T16:10:12Z");
        assert_eq!(
            time::format(&parse_time("X", "now", now()).unwrap()),
            "2026-11-26T17:40:12Z"
        );
        assert!(parse_time("X", "now*2h", now()).is_err());
        assert!(parse_time("X", "yesterday", now()).is_err());
    }

    #[test]
    fn datastore_url_must_be_sqlite_path() {
        assert_eq!(
            parse_datastore("V", "sqlite:/tmp/x.db").unwrap(),
            Datastore::Sqlite("/tmp/x.db".into())
        );
        for bad in ["postgres://x", "/tmp/x.db", "sqlite:", "sqlite:  "] {
            let e = parse_datastore("COMPLIANCE_DATASTORE", bad).unwrap_err();
            assert_eq!(e.value, bad);
        }
    }

    #[test]
    fn elasticsearch_is_chosen_whenever_a_host_or_url_is_set() {
        let d = datastore(&env(&[
            ("ELASTIC_HOST", "es.local"),
            ("COMPLIANCE_DATASTORE", "sqlite:x.db"),
        ]))
        .unwrap();
        let Datastore::Elastic(c) = d else {
            panic!("expected Elasticsearch, got {d:?}")
        };
        assert_eq!(c.url.as_str(), "https://es.local:9200/");
        let d = datastore(&env(&[("ELASTIC_URL", "http://127.0.0.1:9200")])).unwrap();
        assert_eq!(
            d.describe(),
            "elasticsearch http://127.0.0.1:9200 (index suffix cluster)"
        );
        let e = datastore(&env(&[("ELASTIC_HOST", "es"), ("ELASTIC_PORT", "x")])).unwrap_err();
        assert_eq!(e.variable, "ELASTIC_PORT");
    }

    #[test]
    fn log_level_and_format() {
        let l =
            LogConfig::from_env(&env(&[("LOG_LEVEL", "warning"), ("LOG_FORMAT", "json")])).unwrap();
        assert_eq!(
            l,
            LogConfig {
                level: "warn",
                json: true
            }
        );
        assert_eq!(
            LogConfig::from_env(&env(&[("LOG_LEVEL", "loud")]))
                .unwrap_err()
                .variable,
            "LOG_LEVEL"
        );
        assert_eq!(
            LogConfig::from_env(&env(&[("LOG_FORMAT", "xml")]))
                .unwrap_err()
                .variable,
            "LOG_FORMAT"
        );
    }

    #[test]
    fn fail_on_accepts_low_med_new_and_lists_of_them() {
        let level = |v| parse_fail_on("V", v).unwrap().level;
        assert_eq!(level("LOW"), Some(Rating::Low));
        assert_eq!(level("med"), Some(Rating::Med));
        assert_eq!(parse_fail_on("V", "new").unwrap(), FailOn::NEW);
        let both = parse_fail_on("V", " med , new").unwrap();
        assert_eq!((both.level, both.new), (Some(Rating::Med), true));
        assert_eq!(both.describe(), "med,new");
        // med covers low.
        assert_eq!(level("low,med"), Some(Rating::Med));
        assert_eq!(level("med,low"), Some(Rating::Med));
    }

    #[test]
    fn fail_on_refuses_high_and_unknown_words_naming_variable_and_value() {
        for bad in ["high", "new,high", "", "med,", "news"] {
            let e = parse_fail_on("COMPLIANCE_FAIL_ON", bad).unwrap_err();
            assert_eq!(e.variable, "COMPLIANCE_FAIL_ON");
            assert_eq!(e.value, bad);
            assert!(e.message.contains("low, med, new"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn kube_bench_max_output_defaults_to_64_mib_and_reads_sizes() {
        assert_eq!(kube_bench_max_output(&env(&[])).unwrap(), 64 << 20);
        for (value, bytes) in [
            ("1048576", 1 << 20),
            ("512KiB", 512 << 10),
            ("2mib", 2 << 20),
            ("1G", 1 << 30),
            ("1024", 1024),
        ] {
            let got = kube_bench_max_output(&env(&[("KUBE_BENCH_MAX_OUTPUT", value)])).unwrap();
            assert_eq!(got, bytes, "{value}");
        }
    }

    #[test]
    fn kube_bench_max_output_refuses_bad_or_tiny_sizes_naming_the_variable() {
        for bad in [
            "lots",
            "-1",
            "12 parsecs",
            "1023",
            "0",
            "99999999999999999999",
        ] {
            let e = kube_bench_max_output(&env(&[("KUBE_BENCH_MAX_OUTPUT", bad)])).unwrap_err();
            assert_eq!(e.variable, "KUBE_BENCH_MAX_OUTPUT");
            assert_eq!(e.value, bad);
        }
    }
}
