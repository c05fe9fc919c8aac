//! Every environment value parser, alone and through each binary's `from_env`.
//!
//! The input is text: its first line is the value given to each single parser, its
//! `NAME=value` lines set the variables the programs read (docs/operations.md) for the
//! `from_env` calls, and the whole text is also read as a receivers file. Not fuzzed: ELASTIC_CA and
//! COMPLIANCE_NOTIFY_RECEIVERS_FILE, which name files to read (the receivers file's
//! content goes through `parse_receivers` instead).
//!
//! Checked: never panics; every error names a variable the program reads, and carries
//! the value it refuses; a single parser's error names the variable it was given.
#![no_main]

use std::path::Path;

use chrono::{TimeZone, Utc};
use compliance::notify::secret::SecretUrl;
use compliance::settings::benchmarker::BenchmarkerConfig;
use compliance::settings::controller::ControllerConfig;
use compliance::settings::notify::{NotifyConfig, parse_receivers};
use compliance::settings::reporter::{ReporterConfig, SpecSource};
use compliance::settings::server::{ServerConfig, parse_listen};
use compliance::settings::{
    ConfigError, LogConfig, RawEnv, datastore, elastic, health_from_env, kube_settings, parse_bool,
    parse_datastore, parse_duration, parse_fail_on, parse_port, parse_time, retention,
};
use compliance_kube::REPORTER;
use libfuzzer_sys::fuzz_target;

/// The variables the programs read, except the two that name files to read.
const NAMES: &[&str] = &[
    "TIGERA_COMPLIANCE_REPORT_NAME",
    "TIGERA_COMPLIANCE_REPORT_START_TIME",
    "TIGERA_COMPLIANCE_REPORT_END_TIME",
    "TIGERA_COMPLIANCE_JOB_START_DELAY",
    "TIGERA_COMPLIANCE_JOB_NAMESPACE",
    "TIGERA_COMPLIANCE_JOB_NAME_PREFIX",
    "TIGERA_COMPLIANCE_IGNORE_UNSTARTED_REPORT_AFTER",
    "TIGERA_COMPLIANCE_MAX_ACTIVE_JOBS",
    "TIGERA_COMPLIANCE_MAX_JOB_RETRIES",
    "TIGERA_COMPLIANCE_MAX_SUCCESSFUL_JOBS_HISTORY",
    "TIGERA_COMPLIANCE_MAX_FAILED_JOBS_HISTORY",
    "COMPLIANCE_LEADER_ELECTION",
    "COMPLIANCE_LEASE_DURATION",
    "POD_NAME",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "COMPLIANCE_DATASTORE",
    "COMPLIANCE_RESOURCES",
    "COMPLIANCE_OUTPUT_DIR",
    "COMPLIANCE_FAIL_ON",
    "COMPLIANCE_BENCHMARK_RETENTION",
    "COMPLIANCE_REPORT_RETENTION",
    "COMPLIANCE_API_GROUP",
    "COMPLIANCE_API_TIMEOUT",
    "HEALTH_ENABLED",
    "HEALTH_PORT",
    "KUBERNETES_SERVICE_HOST",
    "PATH",
    "HOSTNAME",
    "NODENAME",
    "BENCHMARK_INTERVAL",
    "BENCHMARK_TIMEOUT",
    "KUBE_BENCH_PATH",
    "KUBE_BENCH_ARGS",
    "BENCHMARK_KUBERNETES_VERSION",
    "BENCHMARK_SCOPE",
    "KUBE_BENCH_VERSION",
    "KUBE_BENCH_BENCHMARK",
    "KUBE_BENCH_CFG_DIR",
    "BENCHMARK_HOST_PROC",
    "LISTEN_ADDR",
    "TLS_CERT",
    "TLS_KEY",
    "COMPLIANCE_SERVER_AUTH",
    "COMPLIANCE_SERVER_ALLOW_UNAUTHENTICATED",
    "COMPLIANCE_SERVER_CLUSTERS",
    "COMPLIANCE_SERVER_SHUTDOWN_TIMEOUT",
    "COMPLIANCE_METRICS_PER_TEST",
    "ELASTIC_SCHEME",
    "ELASTIC_HOST",
    "ELASTIC_PORT",
    "ELASTIC_URL",
    "ELASTIC_USER",
    "ELASTIC_PASSWORD",
    "ELASTIC_API_KEY",
    "ELASTIC_SSL_VERIFY",
    "ELASTIC_INDEX_SUFFIX",
    "ELASTIC_TIMEOUT",
    "ELASTIC_RETRIES",
    "ELASTIC_RETRY_DELAY",
    "ELASTIC_MAX_REQUEST_BYTES",
    "ELASTIC_PAGE_SIZE",
    "COMPLIANCE_NOTIFY_WEBHOOK_URL",
    "COMPLIANCE_NOTIFY_SLACK_URL",
    "COMPLIANCE_NOTIFY_ATTEMPTS",
    "COMPLIANCE_NOTIFY_BACKOFF",
    "COMPLIANCE_NOTIFY_TIMEOUT",
    "COMPLIANCE_SERVER_URL",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 17, 40, 0).unwrap();
    // The first line is a value for each single-value parser.
    let v = text.lines().next().unwrap_or("");
    single(parse_duration("X_DURATION", v), "X_DURATION", v);
    single(parse_time("X_TIME", v, now), "X_TIME", v);
    single(parse_bool("X_BOOL", v), "X_BOOL", v);
    single(parse_port("X_PORT", v), "X_PORT", v);
    single(parse_datastore("X_DATASTORE", v), "X_DATASTORE", v);
    single(parse_fail_on("X_FAIL_ON", v), "X_FAIL_ON", v);
    single(parse_listen("X_LISTEN", v), "X_LISTEN", v);
    single(
        retention::parse_retention("X_RETENTION", v),
        "X_RETENTION",
        v,
    );
    single(
        retention::parse_benchmark_retention("X_RETENTION", v),
        "X_RETENTION",
        v,
    );
    if let Ok(url) = SecretUrl::parse(v) {
        assert!(!url.redacted().is_empty());
    }
    // The whole text as a receivers file.
    let _ = parse_receivers(text);

    // Every `NAME=value` line naming a variable the programs read sets it.
    let pairs = text.lines().filter_map(|line| {
        let (name, value) = line.split_once('=')?;
        NAMES
            .contains(&name)
            .then(|| (name.to_string(), value.to_string()))
    });
    let env = RawEnv::from_vars(pairs);
    let set = checked;
    let _ = LogConfig::from_env(&env).map_err(set);
    let _ = datastore(&env).map_err(set);
    let _ = elastic::from_env(&env.elastic).map_err(set);
    let _ = retention::from_env(&env).map_err(set);
    let _ = health_from_env(&env).map_err(set);
    let _ = kube_settings(&env, &REPORTER).map_err(set);
    let _ = ReporterConfig::from_env(&env, now).map_err(set);
    let _ = SpecSource::from_env(&env).map_err(set);
    let _ = ControllerConfig::from_env(&env).map_err(set);
    let _ = BenchmarkerConfig::from_env(&env).map_err(set);
    let _ = ServerConfig::from_env(&env, |p: &Path| p.as_os_str().len() % 2 == 0).map_err(set);
    let _ = NotifyConfig::from_env(&env.notify).map_err(set);
});

/// A single parser's error names the variable it was given.
fn single<T>(r: Result<T, ConfigError>, variable: &str, value: &str) {
    if let Err(e) = r {
        assert_eq!(e.variable, variable, "{e}");
        assert!(
            value.contains(e.value.trim()),
            "{e} quotes another value than {value:?}"
        );
        assert!(!e.message.is_empty(), "{e}");
    }
}

/// An error from a `from_env` names a variable the programs read, and says why.
fn checked(e: ConfigError) {
    assert!(
        NAMES.contains(&e.variable.as_str())
            || e.variable == "ELASTIC_CA"
            || e.variable == "COMPLIANCE_NOTIFY_RECEIVERS_FILE",
        "the error names no variable the programs read: {e:?}"
    );
    assert!(!e.message.is_empty(), "{e:?}");
}
