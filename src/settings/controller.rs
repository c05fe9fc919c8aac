//! The controller's settings (docs/spec.md §8, docs/controller.md).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | TIGERA_COMPLIANCE_JOB_NAMESPACE | `tigera-compliance` | namespace of the Jobs, PodTemplates and Lease |
//! | TIGERA_COMPLIANCE_JOB_NAME_PREFIX | `compliance-reporter.` | prefix of Job names |
//! | TIGERA_COMPLIANCE_JOB_START_DELAY | `30m` | a window's Job starts this long after its end |
//! | TIGERA_COMPLIANCE_IGNORE_UNSTARTED_REPORT_AFTER | `168h` | older windows are skipped |
//! | TIGERA_COMPLIANCE_MAX_ACTIVE_JOBS | `5` | unfinished Jobs per report |
//! | TIGERA_COMPLIANCE_MAX_JOB_RETRIES | `6` | each Job's backoffLimit |
//! | TIGERA_COMPLIANCE_MAX_SUCCESSFUL_JOBS_HISTORY | `2` | successful Jobs kept |
//! | TIGERA_COMPLIANCE_MAX_FAILED_JOBS_HISTORY | `3` | failed Jobs kept |
//! | COMPLIANCE_API_GROUP | `projectcalico.org` | API group of the GlobalReport CRD |
//! | COMPLIANCE_LEADER_ELECTION | `true` | elect a leader on the Lease `compliance-controller` |
//! | COMPLIANCE_LEASE_DURATION | `15s` | how long a Lease lasts unrenewed (at least 3s) |
//! | POD_NAME | the host name | this replica's identity in the Lease |
//!
//! plus HEALTH_ENABLED / HEALTH_PORT, LOG_LEVEL / LOG_FORMAT, and the store (ELASTIC_* or
//! COMPLIANCE_DATASTORE), which is only read to recover a restored report's last window
//! and is optional: with neither set, there is no recovery.

use std::net::SocketAddr;

use chrono::Duration;
use compliance_controller::Settings;
use compliance_controller::run::LeaseOptions;
use compliance_kube::crd::{DEFAULT_GROUP, validate_group};
use compliance_store::Datastore;

use super::{
    ConfigError, LogConfig, RawEnv, datastore, health_from_env, non_empty, parse_bool,
    parse_duration,
};

/// The Lease replicas elect a leader on.
pub const LEASE_NAME: &str = "compliance-controller";

/// Everything the controller needs from its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerConfig {
    pub settings: Settings,
    pub group: String,
    pub lease: Option<LeaseOptions>,
    /// Where stored reports are, for recovery; `None` when no store is configured.
    pub datastore: Option<Datastore>,
    pub health: Option<SocketAddr>,
    pub log: LogConfig,
}

impl ControllerConfig {
    pub fn from_env(env: &RawEnv) -> Result<ControllerConfig, ConfigError> {
        let defaults = Settings::default();
        let namespace = match non_empty(&env.tigera_compliance_job_namespace) {
            None => defaults.namespace.clone(),
            Some(ns) => dns_label("TIGERA_COMPLIANCE_JOB_NAMESPACE", ns)?,
        };
        let job_name_prefix = match env.tigera_compliance_job_name_prefix.as_deref() {
            None => defaults.job_name_prefix.clone(),
            Some(prefix) => name_prefix(prefix)?,
        };
        let duration = |var: &str, value: &Option<String>, default: Duration| match non_empty(value)
        {
            None => Ok(default),
            Some(v) => parse_duration(var, v),
        };
        let count = |var: &str, value: &Option<String>, default: usize, min: usize| match non_empty(
            value,
        ) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= min && *n <= 1000)
                .ok_or_else(|| {
                    ConfigError::new(
                        var,
                        v,
                        format!("expected a whole number from {min} to 1000"),
                    )
                }),
        };
        let settings = Settings {
            namespace,
            job_name_prefix,
            start_delay: duration(
                "TIGERA_COMPLIANCE_JOB_START_DELAY",
                &env.tigera_compliance_job_start_delay,
                defaults.start_delay,
            )?,
            ignore_unstarted_after: duration(
                "TIGERA_COMPLIANCE_IGNORE_UNSTARTED_REPORT_AFTER",
                &env.tigera_compliance_ignore_unstarted_report_after,
                defaults.ignore_unstarted_after,
            )?,
            max_active_jobs: count(
                "TIGERA_COMPLIANCE_MAX_ACTIVE_JOBS",
                &env.tigera_compliance_max_active_jobs,
                defaults.max_active_jobs,
                1,
            )?,
            max_job_retries: count(
                "TIGERA_COMPLIANCE_MAX_JOB_RETRIES",
                &env.tigera_compliance_max_job_retries,
                defaults.max_job_retries as usize,
                0,
            )? as i32,
            max_successful_jobs_history: count(
                "TIGERA_COMPLIANCE_MAX_SUCCESSFUL_JOBS_HISTORY",
                &env.tigera_compliance_max_successful_jobs_history,
                defaults.max_successful_jobs_history,
                0,
            )?,
            max_failed_jobs_history: count(
                "TIGERA_COMPLIANCE_MAX_FAILED_JOBS_HISTORY",
                &env.tigera_compliance_max_failed_jobs_history,
                defaults.max_failed_jobs_history,
                0,
            )?,
        };
        let group = match non_empty(&env.compliance_api_group) {
            None => DEFAULT_GROUP.to_string(),
            Some(group) => {
                validate_group(group)
                    .map_err(|m| ConfigError::new("COMPLIANCE_API_GROUP", group, m))?;
                group.to_string()
            }
        };
        let elect = match non_empty(&env.compliance_leader_election) {
            None => true,
            Some(v) => parse_bool("COMPLIANCE_LEADER_ELECTION", v)?,
        };
        let lease = if elect {
            let duration = duration(
                "COMPLIANCE_LEASE_DURATION",
                &env.compliance_lease_duration,
                Duration::seconds(15),
            )?;
            if duration < Duration::seconds(3) {
                return Err(ConfigError::new(
                    "COMPLIANCE_LEASE_DURATION",
                    env.compliance_lease_duration.as_deref().unwrap_or_default(),
                    "must be at least 3s (the Lease is renewed every third of it)",
                ));
            }
            let identity = non_empty(&env.pod_name)
                .or_else(|| non_empty(&env.hostname))
                .map(str::to_string)
                .unwrap_or_else(|| format!("compliance-controller-{}", std::process::id()));
            Some(LeaseOptions {
                name: LEASE_NAME.to_string(),
                identity,
                duration,
            })
        } else {
            None
        };
        let store_configured = non_empty(&env.compliance_datastore).is_some()
            || non_empty(&env.elastic.elastic_host).is_some()
            || non_empty(&env.elastic.elastic_url).is_some();
        Ok(ControllerConfig {
            settings,
            group,
            lease,
            datastore: if store_configured {
                Some(datastore(env)?)
            } else {
                None
            },
            health: health_from_env(env)?,
            log: LogConfig::from_env(env)?,
        })
    }
}

/// A namespace name: a DNS label.
fn dns_label(variable: &str, value: &str) -> Result<String, ConfigError> {
    let ok = value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(value.to_string())
    } else {
        Err(ConfigError::new(
            variable,
            value,
            "not a namespace name (lower-case letters, digits and '-', at most 63)",
        ))
    }
}

/// A Job name prefix: what may start a DNS subdomain, short enough to leave room.
fn name_prefix(value: &str) -> Result<String, ConfigError> {
    let ok = value.len() <= 40
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && value
            .bytes()
            .next()
            .is_none_or(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(value.to_string())
    } else {
        Err(ConfigError::new(
            "TIGERA_COMPLIANCE_JOB_NAME_PREFIX",
            value,
            "expected at most 40 lower-case letters, digits, '-' and '.', starting with a letter or digit",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> RawEnv {
        RawEnv::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_are_calicos() {
        let cfg = ControllerConfig::from_env(&env(&[("HOSTNAME", "pod-a")])).unwrap();
        assert_eq!(cfg.settings, Settings::default());
        assert_eq!(cfg.group, "projectcalico.org");
        let lease = cfg.lease.unwrap();
        assert_eq!(
            (lease.name.as_str(), lease.identity.as_str()),
            ("compliance-controller", "pod-a")
        );
        assert_eq!(lease.duration, Duration::seconds(15));
        assert_eq!(cfg.datastore, None, "no store unless one is configured");
    }

    #[test]
    fn every_variable_is_read() {
        let cfg = ControllerConfig::from_env(&env(&[
            ("TIGERA_COMPLIANCE_JOB_NAMESPACE", "reports"),
            ("TIGERA_COMPLIANCE_JOB_NAME_PREFIX", "r-"),
            ("TIGERA_COMPLIANCE_JOB_START_DELAY", "5m"),
            ("TIGERA_COMPLIANCE_IGNORE_UNSTARTED_REPORT_AFTER", "24h"),
            ("TIGERA_COMPLIANCE_MAX_ACTIVE_JOBS", "2"),
            ("TIGERA_COMPLIANCE_MAX_JOB_RETRIES", "0"),
            ("TIGERA_COMPLIANCE_MAX_SUCCESSFUL_JOBS_HISTORY", "1"),
            ("TIGERA_COMPLIANCE_MAX_FAILED_JOBS_HISTORY", "4"),
            ("COMPLIANCE_LEADER_ELECTION", "false"),
            ("COMPLIANCE_DATASTORE", "sqlite:/data/c.db"),
        ]))
        .unwrap();
        let s = cfg.settings;
        assert_eq!(s.namespace, "reports");
        assert_eq!(s.job_name_prefix, "r-");
        assert_eq!(s.start_delay, Duration::minutes(5));
        assert_eq!(s.ignore_unstarted_after, Duration::hours(24));
        assert_eq!(
            (
                s.max_active_jobs,
                s.max_job_retries,
                s.max_successful_jobs_history,
                s.max_failed_jobs_history
            ),
            (2, 0, 1, 4)
        );
        assert_eq!(cfg.lease, None);
        assert!(cfg.datastore.is_some());
    }

    #[test]
    fn bad_values_name_the_variable_and_the_value() {
        for (var, value) in [
            ("TIGERA_COMPLIANCE_MAX_ACTIVE_JOBS", "0"),
            ("TIGERA_COMPLIANCE_MAX_ACTIVE_JOBS", "five"),
            ("TIGERA_COMPLIANCE_JOB_START_DELAY", "soon"),
            ("TIGERA_COMPLIANCE_JOB_NAMESPACE", "Tigera_Compliance"),
            ("TIGERA_COMPLIANCE_JOB_NAME_PREFIX", "-bad"),
            ("COMPLIANCE_LEASE_DURATION", "1s"),
            ("COMPLIANCE_LEADER_ELECTION", "maybe"),
            ("COMPLIANCE_API_GROUP", "Calico"),
        ] {
            let err = ControllerConfig::from_env(&env(&[(var, value)])).unwrap_err();
            assert_eq!(
                (err.variable.as_str(), err.value.as_str()),
                (var, value),
                "{err}"
            );
        }
    }
}
