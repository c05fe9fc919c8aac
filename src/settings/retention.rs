//! How long stored data is kept: shared by every binary that writes, and by
//! `compliancectl elastic setup`.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | COMPLIANCE_BENCHMARK_RETENTION | `91d` | benchmark result documents, by timestamp; at least `36h` |
//! | COMPLIANCE_REPORT_RETENTION | `91d` | reports, by endTime |
//!
//! Values are durations such as `91d`, `2160h` or `1y`; `forever` (or `0`) keeps
//! everything. The default is Calico Enterprise's LogStorage default for compliance
//! reports and snapshots (91 days). The rules of what goes are in
//! [`compliance_store::retention`].

use std::time::Duration;

use compliance_store::Retention;
use compliance_store::retention::MIN_BENCHMARK_RETENTION;

use super::{ConfigError, RawEnv, non_empty};

pub const BENCHMARK_RETENTION: &str = "COMPLIANCE_BENCHMARK_RETENTION";
pub const REPORT_RETENTION: &str = "COMPLIANCE_REPORT_RETENTION";

/// The retention from COMPLIANCE_BENCHMARK_RETENTION and COMPLIANCE_REPORT_RETENTION,
/// each defaulting to 91 days.
pub fn from_env(env: &RawEnv) -> Result<Retention, ConfigError> {
    resolve(env, None, None)
}

/// The retention with command-line flags, given as `(flag, value)`, overriding the
/// variables; an error names whichever of the two was used.
pub fn resolve(
    env: &RawEnv,
    benchmarks_flag: Option<(&str, &str)>,
    reports_flag: Option<(&str, &str)>,
) -> Result<Retention, ConfigError> {
    let defaults = Retention::default();
    let benchmarks = match pick(
        benchmarks_flag,
        BENCHMARK_RETENTION,
        &env.compliance_benchmark_retention,
    ) {
        None => defaults.benchmarks,
        Some((name, value)) => parse_benchmark_retention(name, value)?,
    };
    let reports = match pick(
        reports_flag,
        REPORT_RETENTION,
        &env.compliance_report_retention,
    ) {
        None => defaults.reports,
        Some((name, value)) => parse_retention(name, value)?,
    };
    Ok(Retention {
        benchmarks,
        reports,
    })
}

/// A retention as a user writes it: `forever`, `91d`, `36h`, else humantime's form.
pub fn format_retention(d: Option<Duration>) -> String {
    const HOUR: u64 = 3600;
    const DAY: u64 = 24 * HOUR;
    match d {
        None => "forever".to_string(),
        Some(d) if d.subsec_nanos() == 0 && d.as_secs() % DAY == 0 => {
            format!("{}d", d.as_secs() / DAY)
        }
        Some(d) if d.subsec_nanos() == 0 && d.as_secs() % HOUR == 0 => {
            format!("{}h", d.as_secs() / HOUR)
        }
        Some(d) => humantime::format_duration(d).to_string(),
    }
}

/// The flag when given, else the variable when set and not blank.
fn pick<'a>(
    flag: Option<(&'a str, &'a str)>,
    variable: &'a str,
    value: &'a Option<String>,
) -> Option<(&'a str, &'a str)> {
    flag.or_else(|| non_empty(value).map(|v| (variable, v)))
}

/// A retention: a duration such as `91d`, `2160h` or `1y`, or `forever` (also `0`, or any
/// zero duration) for `None`, keep everything.
pub fn parse_retention(variable: &str, value: &str) -> Result<Option<Duration>, ConfigError> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("forever") || v == "0" {
        return Ok(None);
    }
    let d = humantime::parse_duration(v).map_err(|e| {
        ConfigError::new(
            variable,
            value,
            format!("expected a duration such as 91d, 2160h or 1y, or forever: {e}"),
        )
    })?;
    Ok(Some(d).filter(|d| !d.is_zero()))
}

/// A benchmark retention: as [`parse_retention`], and at least the reporter's 36-hour
/// look-back, or the next report would miss documents pruned before it ran.
pub fn parse_benchmark_retention(
    variable: &str,
    value: &str,
) -> Result<Option<Duration>, ConfigError> {
    let d = parse_retention(variable, value)?;
    if let Some(d) = d
        && d < MIN_BENCHMARK_RETENTION
    {
        return Err(ConfigError::new(
            variable,
            value,
            "must be at least 36h, the reporter's look-back (docs/spec.md §4.1), or forever",
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> RawEnv {
        RawEnv::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn days(n: u64) -> Option<Duration> {
        Some(Duration::from_secs(n * 24 * 3600))
    }

    #[test]
    fn both_default_to_91_days() {
        assert_eq!(from_env(&env(&[])).unwrap(), Retention::default());
        assert_eq!(from_env(&env(&[])).unwrap().benchmarks, days(91));
        let blank = env(&[(BENCHMARK_RETENTION, " "), (REPORT_RETENTION, "")]);
        assert_eq!(from_env(&blank).unwrap(), Retention::default());
    }

    #[test]
    fn durations_in_days_hours_and_years() {
        let r = from_env(&env(&[
            (BENCHMARK_RETENTION, "2160h"),
            (REPORT_RETENTION, "1y"),
        ]))
        .unwrap();
        assert_eq!(r.benchmarks, days(90));
        assert_eq!(r.reports, Some(Duration::from_secs(31_557_600)));
        let r = from_env(&env(&[
            (BENCHMARK_RETENTION, "36h"),
            (REPORT_RETENTION, "1h"),
        ]))
        .unwrap();
        assert_eq!(r.benchmarks, Some(Duration::from_secs(36 * 3600)));
        assert_eq!(r.reports, Some(Duration::from_secs(3600)));
    }

    #[test]
    fn forever_or_zero_keeps_everything() {
        for v in ["forever", "Forever", "0", "0s", "0d"] {
            let r = from_env(&env(&[(BENCHMARK_RETENTION, v), (REPORT_RETENTION, v)])).unwrap();
            assert_eq!(r, Retention::FOREVER, "{v}");
        }
    }

    #[test]
    fn a_benchmark_retention_shorter_than_the_look_back_is_refused() {
        for v in ["35h", "1d", "90m"] {
            let e = from_env(&env(&[(BENCHMARK_RETENTION, v)])).unwrap_err();
            assert_eq!(e.variable, BENCHMARK_RETENTION);
            assert_eq!(e.value, v);
            assert!(e.message.contains("36h"), "{e}");
        }
    }

    #[test]
    fn bad_values_name_the_variable_and_the_value() {
        for (var, v) in [
            (BENCHMARK_RETENTION, "ninety days"),
            (REPORT_RETENTION, "-1d"),
            (REPORT_RETENTION, "never"),
        ] {
            let e = from_env(&env(&[(var, v)])).unwrap_err();
            assert_eq!((e.variable.as_str(), e.value.as_str()), (var, v));
            assert!(e.to_string().starts_with(&format!("{var}=")), "{e}");
        }
    }

    #[test]
    fn retentions_print_as_they_are_written() {
        assert_eq!(format_retention(None), "forever");
        assert_eq!(format_retention(days(91)), "91d");
        assert_eq!(
            format_retention(Some(Duration::from_secs(36 * 3600))),
            "36h"
        );
        assert_eq!(format_retention(Some(Duration::from_secs(5400))), "1h 30m");
    }

    #[test]
    fn flags_override_the_variables_and_are_named_in_errors() {
        let vars = env(&[(BENCHMARK_RETENTION, "10d"), (REPORT_RETENTION, "nonsense")]);
        let r = resolve(
            &vars,
            Some(("--benchmark-retention", "forever")),
            Some(("--report-retention", "30d")),
        )
        .unwrap();
        assert_eq!(r.benchmarks, None);
        assert_eq!(r.reports, days(30));
        let e = resolve(&vars, Some(("--benchmark-retention", "1h")), None).unwrap_err();
        assert_eq!(e.variable, "--benchmark-retention");
        let e = resolve(&vars, None, None).unwrap_err();
        assert_eq!(e.variable, REPORT_RETENTION);
    }
}
