//! The reporter's settings: which GlobalReport, which window, where from and where to.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use compliance_core::time;
use compliance_kube::{KubeSettings, REPORTER};
use compliance_store::{Datastore, Retention};

use super::notify::NotifyConfig;
use super::{
    ConfigError, FailOn, LogConfig, RawEnv, cluster, datastore, health_from_env, kube_settings,
    non_empty, parse_duration, parse_fail_on, parse_time,
};

/// Which window the reporter covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowChoice {
    /// START and END were given.
    Explicit {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    /// Neither was given: the last completed window of the schedule whose end plus the
    /// job start delay has passed.
    LastCompleted { now: DateTime<Utc>, delay: Duration },
}

/// Everything the reporter needs from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReporterConfig {
    pub report_name: String,
    pub window: WindowChoice,
    pub datastore: Datastore,
    /// What is pruned after the report is stored (SQLite).
    pub retention: Retention,
    /// Where the GlobalReport comes from.
    pub source: SpecSource,
    /// The liveness endpoint, when enabled.
    pub health: Option<SocketAddr>,
    pub output_dir: Option<PathBuf>,
    /// Exit 3 after storing when a node rates at or below the level, or a failure is new
    /// since the previous report (COMPLIANCE_FAIL_ON: `low`, `med`, `new`, `med,new`).
    pub fail_on: FailOn,
    /// Stored in the report's `cluster` (ELASTIC_INDEX_SUFFIX, default `cluster`).
    pub cluster: String,
    /// Who hears of regressions, and how hard the reporter tries (COMPLIANCE_NOTIFY_*).
    pub notify: NotifyConfig,
    pub log: LogConfig,
}

/// Default TIGERA_COMPLIANCE_JOB_START_DELAY.
pub const DEFAULT_JOB_START_DELAY: Duration = Duration::minutes(30);

impl ReporterConfig {
    pub fn from_env(env: &RawEnv, now: DateTime<Utc>) -> Result<ReporterConfig, ConfigError> {
        let log = LogConfig::from_env(env)?;
        let report_name = non_empty(&env.tigera_compliance_report_name)
            .ok_or_else(|| {
                ConfigError::new(
                    "TIGERA_COMPLIANCE_REPORT_NAME",
                    "",
                    "is required: the name of the GlobalReport to run",
                )
            })?
            .to_string();
        const START: &str = "TIGERA_COMPLIANCE_REPORT_START_TIME";
        const END: &str = "TIGERA_COMPLIANCE_REPORT_END_TIME";
        // Checked even when START/END make it unused: a typo should not wait for the day
        // the variable starts to matter.
        let delay = match non_empty(&env.tigera_compliance_job_start_delay) {
            None => DEFAULT_JOB_START_DELAY,
            Some(d) => parse_duration("TIGERA_COMPLIANCE_JOB_START_DELAY", d)?,
        };
        let start = non_empty(&env.tigera_compliance_report_start_time);
        let end = non_empty(&env.tigera_compliance_report_end_time);
        let window = match (start, end) {
            (Some(s), Some(e)) => {
                let start = parse_time(START, s, now)?;
                let end = parse_time(END, e, now)?;
                if end < start {
                    return Err(ConfigError::new(
                        END,
                        e,
                        format!("is before {START} ({})", time::format(&start)),
                    ));
                }
                WindowChoice::Explicit { start, end }
            }
            (None, None) => WindowChoice::LastCompleted { now, delay },
            (Some(s), None) => {
                return Err(ConfigError::new(
                    START,
                    s,
                    format!(
                        "is set but {END} is not; set both, or neither to report the schedule's last completed window"
                    ),
                ));
            }
            (None, Some(e)) => {
                return Err(ConfigError::new(
                    END,
                    e,
                    format!(
                        "is set but {START} is not; set both, or neither to report the schedule's last completed window"
                    ),
                ));
            }
        };
        let fail_on = match non_empty(&env.compliance_fail_on) {
            None => FailOn::default(),
            Some(v) => parse_fail_on("COMPLIANCE_FAIL_ON", v)?,
        };
        Ok(ReporterConfig {
            report_name,
            window,
            datastore: match datastore(env)? {
                Datastore::Elastic(mut config) => {
                    super::elastic::one_shot(&mut config, &env.elastic);
                    Datastore::Elastic(config)
                }
                other => other,
            },
            retention: super::retention::from_env(env)?,
            source: SpecSource::from_env(env)?,
            health: health_from_env(env)?,
            output_dir: non_empty(&env.compliance_output_dir).map(PathBuf::from),
            fail_on,
            cluster: cluster(env),
            notify: NotifyConfig::from_env(&env.notify)?,
            log,
        })
    }
}

/// Where the reporter reads GlobalReports from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecSource {
    /// COMPLIANCE_RESOURCES: a YAML file or directory.
    Files(PathBuf),
    /// The Kubernetes API (the default): in-cluster service account or KUBECONFIG.
    Kubernetes(KubeSettings),
}

impl SpecSource {
    /// COMPLIANCE_RESOURCES wins; otherwise the API, with COMPLIANCE_API_GROUP and
    /// COMPLIANCE_API_TIMEOUT checked even though only the API uses them.
    pub fn from_env(env: &RawEnv) -> Result<SpecSource, ConfigError> {
        let settings = kube_settings(env, &REPORTER)?;
        Ok(match non_empty(&env.compliance_resources) {
            Some(path) => SpecSource::Files(PathBuf::from(path)),
            None => SpecSource::Kubernetes(settings),
        })
    }
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

    #[test]
    fn globalreports_come_from_the_api_unless_compliance_resources_is_set() {
        let api = SpecSource::from_env(&env(&[])).unwrap();
        assert_eq!(api, SpecSource::Kubernetes(KubeSettings::new(&REPORTER)));
        let files = SpecSource::from_env(&env(&[("COMPLIANCE_RESOURCES", "m/")])).unwrap();
        assert_eq!(files, SpecSource::Files(PathBuf::from("m/")));
    }

    #[test]
    fn api_group_and_timeout_are_configurable_and_checked() {
        let e = env(&[
            ("COMPLIANCE_API_GROUP", "compliance.example.com"),
            ("COMPLIANCE_API_TIMEOUT", "5s"),
        ]);
        let SpecSource::Kubernetes(k) = SpecSource::from_env(&e).unwrap() else {
            panic!()
        };
        assert_eq!(k.group, "compliance.example.com");
        assert_eq!(k.timeout, std::time::Duration::from_secs(5));
        let err = SpecSource::from_env(&env(&[("COMPLIANCE_API_GROUP", "Calico")])).unwrap_err();
        assert_eq!(err.variable, "COMPLIANCE_API_GROUP");
        assert!(err.to_string().contains("\"Calico\""), "{err}");
        let err = SpecSource::from_env(&env(&[("COMPLIANCE_API_TIMEOUT", "0s")])).unwrap_err();
        assert_eq!(err.variable, "COMPLIANCE_API_TIMEOUT");
        let err = SpecSource::from_env(&env(&[("COMPLIANCE_API_TIMEOUT", "soon")])).unwrap_err();
        assert_eq!(err.variable, "COMPLIANCE_API_TIMEOUT");
    }

    #[test]
    fn explicit_window_and_defaults() {
        let c = ReporterConfig::from_env(
            &env(&[
                ("TIGERA_COMPLIANCE_REPORT_NAME", "daily-cis-results"),
                (
                    "TIGERA_COMPLIANCE_REPORT_START_TIME",
                    "2026-11-25T00:00:00Z",
                ),
                ("TIGERA_COMPLIANCE_REPORT_END_TIME", "2026-11-26T00:00:00Z"),
                ("PATH", "/usr/bin"),
            ]),
            now(),
        )
        .unwrap();
        assert_eq!(c.report_name, "daily-cis-results");
        assert_eq!(c.datastore, Datastore::Sqlite("compliance.db".into()));
        assert_eq!(c.cluster, "cluster");
        assert_eq!(c.log, LogConfig::default());
        assert!(matches!(c.window, WindowChoice::Explicit { .. }));
    }

    #[test]
    fn missing_name_is_named() {
        let e = ReporterConfig::from_env(&env(&[]), now()).unwrap_err();
        assert_eq!(e.variable, "TIGERA_COMPLIANCE_REPORT_NAME");
    }

    #[test]
    fn malformed_start_names_variable_and_value() {
        let e = ReporterConfig::from_env(
            &env(&[
                ("TIGERA_COMPLIANCE_REPORT_NAME", "r"),
                ("TIGERA_COMPLIANCE_REPORT_START_TIME", "25/11/2026"),
                ("TIGERA_COMPLIANCE_REPORT_END_TIME", "now"),
            ]),
            now(),
        )
        .unwrap_err();
        assert_eq!(e.variable, "TIGERA_COMPLIANCE_REPORT_START_TIME");
        assert!(e.to_string().contains("\"25/11/2026\""), "{e}");
    }

    #[test]
    fn end_before_start_is_refused() {
        let e = ReporterConfig::from_env(
            &env(&[
                ("TIGERA_COMPLIANCE_REPORT_NAME", "r"),
                ("TIGERA_COMPLIANCE_REPORT_START_TIME", "now"),
                ("TIGERA_COMPLIANCE_REPORT_END_TIME", "now-1h"),
            ]),
            now(),
        )
        .unwrap_err();
        assert_eq!(e.variable, "TIGERA_COMPLIANCE_REPORT_END_TIME");
    }

    #[test]
    fn only_one_of_start_and_end_is_refused() {
        let e = ReporterConfig::from_env(
            &env(&[
                ("TIGERA_COMPLIANCE_REPORT_NAME", "r"),
                ("TIGERA_COMPLIANCE_REPORT_END_TIME", "now"),
            ]),
            now(),
        )
        .unwrap_err();
        assert_eq!(e.variable, "TIGERA_COMPLIANCE_REPORT_END_TIME");
    }

    #[test]
    fn schedule_window_uses_start_delay() {
        let c = ReporterConfig::from_env(
            &env(&[
                ("TIGERA_COMPLIANCE_REPORT_NAME", "r"),
                ("TIGERA_COMPLIANCE_JOB_START_DELAY", "1h 30m"),
            ]),
            now(),
        )
        .unwrap();
        assert_eq!(
            c.window,
            WindowChoice::LastCompleted {
                now: now(),
                delay: Duration::minutes(90)
            }
        );
        let e = ReporterConfig::from_env(
            &env(&[
                ("TIGERA_COMPLIANCE_REPORT_NAME", "r"),
                ("TIGERA_COMPLIANCE_JOB_START_DELAY", "soon"),
            ]),
            now(),
        )
        .unwrap_err();
        assert_eq!(e.variable, "TIGERA_COMPLIANCE_JOB_START_DELAY");
    }

    #[test]
    fn bad_start_delay_is_refused_even_with_an_explicit_window() {
        let e = ReporterConfig::from_env(
            &env(&[
                ("TIGERA_COMPLIANCE_REPORT_NAME", "r"),
                ("TIGERA_COMPLIANCE_REPORT_START_TIME", "now-1h"),
                ("TIGERA_COMPLIANCE_REPORT_END_TIME", "now"),
                ("TIGERA_COMPLIANCE_JOB_START_DELAY", "-5m"),
            ]),
            now(),
        )
        .unwrap_err();
        assert_eq!(e.variable, "TIGERA_COMPLIANCE_JOB_START_DELAY");
    }
}
