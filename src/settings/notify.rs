//! The reporter's notification settings: who hears of regressions, and how hard it tries.
//!
//! Receivers come from COMPLIANCE_NOTIFY_WEBHOOK_URL (one JSON webhook, named `webhook`),
//! COMPLIANCE_NOTIFY_SLACK_URL (one Slack incoming webhook, named `slack`) and
//! COMPLIANCE_NOTIFY_RECEIVERS_FILE (a YAML list of receivers, for several or for
//! headers). All are checked at start, so a typo is an exit-2 error before any report is
//! computed; no error message or log line contains a URL beyond its scheme and host, or a
//! header value (docs/notifications.md).

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::{ConfigError, non_empty, parse_duration};
use crate::notify::secret::{SecretUrl, SecretValue, redact_urls};
use compliance_store::elastic::config::Secret;

pub const WEBHOOK_URL: &str = "COMPLIANCE_NOTIFY_WEBHOOK_URL";
pub const SLACK_URL: &str = "COMPLIANCE_NOTIFY_SLACK_URL";
pub const RECEIVERS_FILE: &str = "COMPLIANCE_NOTIFY_RECEIVERS_FILE";
pub const ATTEMPTS: &str = "COMPLIANCE_NOTIFY_ATTEMPTS";
pub const BACKOFF: &str = "COMPLIANCE_NOTIFY_BACKOFF";
pub const TIMEOUT: &str = "COMPLIANCE_NOTIFY_TIMEOUT";
pub const SERVER_URL: &str = "COMPLIANCE_SERVER_URL";

/// Default COMPLIANCE_NOTIFY_ATTEMPTS: 5 requests per receiver, the first included.
pub const DEFAULT_ATTEMPTS: u32 = 5;
/// Most COMPLIANCE_NOTIFY_ATTEMPTS accepts: 20.
pub const MAX_ATTEMPTS: u32 = 20;
/// Default COMPLIANCE_NOTIFY_BACKOFF: 2 s before the second attempt, doubling after.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(2);
/// The longest wait between two attempts, whatever the doubling reached: 30 s.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Default COMPLIANCE_NOTIFY_TIMEOUT: 60 s for all attempts of a receiver, waits
/// included; receivers are notified at the same time, so this bounds the whole step.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// One request's timeout, at most: 10 s (less when less of the budget is left).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The notification variables as strings (see [`super::RawEnv`]); URLs are secrets.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawNotifyEnv {
    pub compliance_notify_webhook_url: Option<Secret>,
    pub compliance_notify_slack_url: Option<Secret>,
    pub compliance_notify_receivers_file: Option<String>,
    pub compliance_notify_attempts: Option<String>,
    pub compliance_notify_backoff: Option<String>,
    pub compliance_notify_timeout: Option<String>,
    pub compliance_server_url: Option<String>,
}

/// Which payload a receiver gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ReceiverKind {
    /// The JSON webhook payload (docs/notification.schema.json).
    #[serde(rename = "webhook")]
    Webhook,
    /// A Slack incoming-webhook message (`text` and `blocks`).
    #[serde(rename = "slack")]
    Slack,
}

impl ReceiverKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiverKind::Webhook => "webhook",
            ReceiverKind::Slack => "slack",
        }
    }
}

/// One place notifications go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    /// Unique; names the receiver in logs and in the notification ledger.
    pub name: String,
    pub kind: ReceiverKind,
    pub url: SecretUrl,
    /// Sent with every request, e.g. `Authorization`.
    pub headers: Vec<(HeaderName, SecretValue)>,
    /// The GlobalReports this receiver hears of; empty: all.
    pub reports: Vec<String>,
}

impl Receiver {
    /// Whether regressions of GlobalReport `report_name` go to this receiver.
    pub fn wants(&self, report_name: &str) -> bool {
        self.reports.is_empty() || self.reports.iter().any(|r| r == report_name)
    }
}

/// How often and how long a receiver is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Requests per receiver, the first included (COMPLIANCE_NOTIFY_ATTEMPTS).
    pub attempts: u32,
    /// The wait before the second attempt, doubled after each (COMPLIANCE_NOTIFY_BACKOFF).
    pub backoff: Duration,
    /// The longest wait ([`MAX_BACKOFF`], or the backoff when longer).
    pub max_backoff: Duration,
    /// All attempts of a receiver, waits included (COMPLIANCE_NOTIFY_TIMEOUT).
    pub budget: Duration,
    /// One request, at most ([`REQUEST_TIMEOUT`], or the budget when shorter).
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: DEFAULT_ATTEMPTS,
            backoff: DEFAULT_BACKOFF,
            max_backoff: MAX_BACKOFF,
            budget: DEFAULT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

/// Everything the reporter needs to notify of regressions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Empty: nothing is sent (and no diff is computed for it).
    pub receivers: Vec<Receiver>,
    pub retry: RetryPolicy,
    /// compliance-server's external base URL, without a trailing slash, for links.
    pub server_url: Option<String>,
}

impl NotifyConfig {
    pub fn from_env(env: &RawNotifyEnv) -> Result<NotifyConfig, ConfigError> {
        let mut receivers = Vec::new();
        for (variable, value, kind) in [
            (
                WEBHOOK_URL,
                &env.compliance_notify_webhook_url,
                ReceiverKind::Webhook,
            ),
            (
                SLACK_URL,
                &env.compliance_notify_slack_url,
                ReceiverKind::Slack,
            ),
        ] {
            let Some(secret) = value.as_ref().filter(|s| !s.is_blank()) else {
                continue;
            };
            let url = SecretUrl::parse(secret.expose())
                .map_err(|m| ConfigError::new(variable, "<redacted>", m))?;
            receivers.push(Receiver {
                name: kind.as_str().to_string(),
                kind,
                url,
                headers: Vec::new(),
                reports: Vec::new(),
            });
        }
        if let Some(path) = non_empty(&env.compliance_notify_receivers_file) {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(RECEIVERS_FILE, path, format!("cannot be read: {e}"))
            })?;
            for r in
                parse_receivers(&text).map_err(|m| ConfigError::new(RECEIVERS_FILE, path, m))?
            {
                if receivers.iter().any(|e: &Receiver| e.name == r.name) {
                    return Err(ConfigError::new(
                        RECEIVERS_FILE,
                        path,
                        format!(
                            "receiver {:?} is also configured by {}; give it another name",
                            r.name,
                            if r.name == "slack" {
                                SLACK_URL
                            } else {
                                WEBHOOK_URL
                            }
                        ),
                    ));
                }
                receivers.push(r);
            }
        }
        let attempts = match non_empty(&env.compliance_notify_attempts) {
            None => DEFAULT_ATTEMPTS,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_ATTEMPTS).contains(n))
                .ok_or_else(|| {
                    ConfigError::new(
                        ATTEMPTS,
                        v,
                        format!("expected a whole number from 1 to {MAX_ATTEMPTS}"),
                    )
                })?,
        };
        let backoff = positive(BACKOFF, &env.compliance_notify_backoff, DEFAULT_BACKOFF)?;
        let budget = positive(TIMEOUT, &env.compliance_notify_timeout, DEFAULT_TIMEOUT)?;
        let server_url = match non_empty(&env.compliance_server_url) {
            None => None,
            Some(v) => Some(parse_server_url(v)?),
        };
        Ok(NotifyConfig {
            receivers,
            retry: RetryPolicy {
                attempts,
                backoff,
                max_backoff: MAX_BACKOFF.max(backoff),
                budget,
                request_timeout: REQUEST_TIMEOUT.min(budget),
            },
            server_url,
        })
    }
}

fn positive(
    variable: &str,
    value: &Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let Some(v) = non_empty(value) else {
        return Ok(default);
    };
    parse_duration(variable, v)?
        .to_std()
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| ConfigError::new(variable, v, "must be longer than 0s"))
}

/// COMPLIANCE_SERVER_URL: where users open compliance-server's pages, for links. Not a
/// secret (it is printed in every notification).
fn parse_server_url(value: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(value).map_err(|e| {
        ConfigError::new(
            SERVER_URL,
            value,
            format!("is not a URL ({e}); expected e.g. https://compliance.example.com"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new(
            SERVER_URL,
            value,
            "expected an http or https URL with a host, e.g. https://compliance.example.com",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            SERVER_URL,
            value,
            "must not have a query or fragment: links append /reports/<id> to it",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// One entry of COMPLIANCE_NOTIFY_RECEIVERS_FILE as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceiver {
    name: String,
    #[serde(rename = "type")]
    kind: ReceiverKind,
    url: String,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    reports: Vec<String>,
}

/// Whether `name` may name a receiver: 1 to 63 of `a-z`, `0-9` and `-`, starting and
/// ending with a letter or digit (a Kubernetes label value, so a ledger key needs no
/// escaping).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// The receivers of a COMPLIANCE_NOTIFY_RECEIVERS_FILE: a YAML list of `{name, type,
/// url, headers, reports}`. The error names the receiver and the field, never the URL
/// or a header value.
pub fn parse_receivers(text: &str) -> Result<Vec<Receiver>, String> {
    let mut path = String::new();
    let parsed: Result<Vec<RawReceiver>, _> =
        serde_saphyr::with_deserializer_from_str(text, |de| {
            let mut track = serde_path_to_error::Track::new();
            let value = Vec::<RawReceiver>::deserialize(serde_path_to_error::Deserializer::new(
                de, &mut track,
            ));
            if value.is_err() {
                path = track.path().to_string();
            }
            value
        });
    let raw = parsed.map_err(|e| {
        let at = if path.is_empty() || path == "." {
            String::new()
        } else {
            format!("at {path}: ")
        };
        redact_urls(&format!(
            "{at}{e}; expected a YAML list of receivers with name, type (webhook or slack) and url"
        ))
    })?;
    let mut out: Vec<Receiver> = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let which = format!("receiver {} ({:?})", i + 1, r.name);
        if !valid_name(&r.name) {
            return Err(format!(
                "{which}: name must be 1 to 63 of a-z, 0-9 and '-', starting and ending with a letter or digit"
            ));
        }
        if out.iter().any(|o| o.name == r.name) {
            return Err(format!("{which}: name is used twice"));
        }
        let url = SecretUrl::parse(&r.url).map_err(|m| format!("{which}: url {m}"))?;
        let mut headers = Vec::with_capacity(r.headers.len());
        for (name, value) in r.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("{which}: headers: {name:?} is not a header name"))?;
            if HeaderValue::from_str(&value).is_err() {
                return Err(format!(
                    "{which}: headers: the value of {name} is not a valid header value (printable ASCII)"
                ));
            }
            headers.push((header, SecretValue::new(value)));
        }
        if let Some(bad) = r.reports.iter().find(|n| n.trim().is_empty()) {
            return Err(format!(
                "{which}: reports: {bad:?} is not a GlobalReport name"
            ));
        }
        out.push(Receiver {
            name: r.name,
            kind: r.kind,
            url,
            headers,
            reports: r.reports,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::RawEnv;

    const HOOK: &str = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";

    fn env(pairs: &[(&str, &str)]) -> RawNotifyEnv {
        RawEnv::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).notify
    }

    #[test]
    fn nothing_configured_means_no_receivers_and_the_documented_defaults() {
        let c = NotifyConfig::from_env(&env(&[])).unwrap();
        assert!(c.receivers.is_empty());
        assert_eq!(c.retry, RetryPolicy::default());
        assert_eq!(c.retry.attempts, 5);
        assert_eq!(c.retry.backoff, Duration::from_secs(2));
        assert_eq!(c.retry.budget, Duration::from_secs(60));
        assert_eq!(c.server_url, None);
    }

    #[test]
    fn the_two_url_variables_make_receivers_named_webhook_and_slack() {
        let c = NotifyConfig::from_env(&env(&[
            (WEBHOOK_URL, "http://10.0.0.1:8080/hook"),
            (SLACK_URL, HOOK),
            (SERVER_URL, "https://compliance.example.com/"),
        ]))
        .unwrap();
        let names: Vec<(&str, ReceiverKind)> = c
            .receivers
            .iter()
            .map(|r| (r.name.as_str(), r.kind))
            .collect();
        assert_eq!(
            names,
            [
                ("webhook", ReceiverKind::Webhook),
                ("slack", ReceiverKind::Slack)
            ]
        );
        assert_eq!(c.receivers[1].url.expose().as_str(), HOOK);
        assert_eq!(
            c.server_url.as_deref(),
            Some("https://compliance.example.com")
        );
    }

    #[test]
    fn a_bad_url_names_the_variable_and_not_the_url() {
        let e = NotifyConfig::from_env(&env(&[(SLACK_URL, "hooks.slack.com/services/SECRET")]))
            .unwrap_err();
        assert_eq!(e.variable, SLACK_URL);
        assert!(!e.to_string().contains("SECRET"), "{e}");
        let e = NotifyConfig::from_env(&env(&[(WEBHOOK_URL, "ftp://h/SECRET")])).unwrap_err();
        assert_eq!(e.variable, WEBHOOK_URL);
        assert!(!e.to_string().contains("SECRET"), "{e}");
    }

    #[test]
    fn the_debug_form_of_the_settings_holds_no_secret() {
        let raw = env(&[(SLACK_URL, HOOK)]);
        assert!(!format!("{raw:?}").contains("SECRET"), "{raw:?}");
        let c = NotifyConfig::from_env(&raw).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("https://hooks.slack.com/…"), "{shown}");
    }

    #[test]
    fn retry_variables_are_checked_and_named() {
        let c =
            NotifyConfig::from_env(&env(&[(ATTEMPTS, "3"), (BACKOFF, "10ms"), (TIMEOUT, "2s")]))
                .unwrap();
        assert_eq!(c.retry.attempts, 3);
        assert_eq!(c.retry.backoff, Duration::from_millis(10));
        assert_eq!(c.retry.budget, Duration::from_secs(2));
        assert_eq!(c.retry.request_timeout, Duration::from_secs(2));
        for (var, bad) in [
            (ATTEMPTS, "0"),
            (ATTEMPTS, "21"),
            (ATTEMPTS, "many"),
            (BACKOFF, "0s"),
            (BACKOFF, "soon"),
            (TIMEOUT, "0s"),
            (SERVER_URL, "compliance.example.com"),
            (SERVER_URL, "https://c.example.com/?x=1"),
        ] {
            let e = NotifyConfig::from_env(&env(&[(var, bad)])).unwrap_err();
            assert_eq!(e.variable, var, "{bad}");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn a_receivers_file_gives_names_types_headers_and_reports() {
        let yaml = format!(
            "- name: security\n  type: slack\n  url: {HOOK}\n  reports: [daily-cis-results]\n\
             - name: siem\n  type: webhook\n  url: https://siem.example.com/in\n  headers:\n    Authorization: Bearer TOKEN\n"
        );
        let r = parse_receivers(&yaml).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].name.as_str(), r[0].kind),
            ("security", ReceiverKind::Slack)
        );
        assert!(r[0].wants("daily-cis-results") && !r[0].wants("weekly"));
        assert!(r[1].wants("weekly"));
        assert_eq!(r[1].headers[0].0.as_str(), "authorization");
        assert_eq!(r[1].headers[0].1.expose(), "Bearer TOKEN");
        assert!(!format!("{r:?}").contains("TOKEN"));
    }

    #[test]
    fn a_bad_receiver_is_named_by_position_and_field_without_its_secrets() {
        for (yaml, expect) in [
            (
                "- name: a\n  type: email\n  url: https://h/SECRET\n".to_string(),
                "[0].type",
            ),
            (
                "- name: a\n  type: slack\n  url: ftp://h/SECRET\n".to_string(),
                "receiver 1 (\"a\"): url has scheme \"ftp\"",
            ),
            (
                "- name: A b\n  type: slack\n  url: https://h/SECRET\n".to_string(),
                "receiver 1 (\"A b\"): name must be",
            ),
            (
                "- name: a\n  type: slack\n  url: https://h/SECRET\n- name: a\n  type: webhook\n  url: https://h/SECRET\n".to_string(),
                "receiver 2 (\"a\"): name is used twice",
            ),
            (
                "- name: a\n  type: slack\n  url: https://h/SECRET\n  headers:\n    Authorization: \"SECRET\\n\"\n".to_string(),
                "receiver 1 (\"a\"): headers: the value of Authorization",
            ),
            (
                "- name: a\n  type: slack\n  uri: https://h/SECRET\n".to_string(),
                "uri",
            ),
            (format!("name: a\nurl: {HOOK}\n"), "expected a YAML list"),
        ] {
            let e = parse_receivers(&yaml).unwrap_err();
            assert!(e.contains(expect), "{expect:?} in {e}");
            assert!(!e.contains("SECRET"), "{e}");
        }
    }

    #[test]
    fn a_file_receiver_may_not_take_a_variable_receivers_name() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("receivers.yaml");
        std::fs::write(&file, "- name: slack\n  type: slack\n  url: https://h/x\n").unwrap();
        let path = file.to_str().unwrap();
        let e =
            NotifyConfig::from_env(&env(&[(SLACK_URL, HOOK), (RECEIVERS_FILE, path)])).unwrap_err();
        assert_eq!(e.variable, RECEIVERS_FILE);
        assert!(e.message.contains(SLACK_URL), "{e}");
        let c = NotifyConfig::from_env(&env(&[(RECEIVERS_FILE, path)])).unwrap();
        assert_eq!(c.receivers.len(), 1);
        let e =
            NotifyConfig::from_env(&env(&[(RECEIVERS_FILE, "/nonexistent/r.yaml")])).unwrap_err();
        assert_eq!(e.variable, RECEIVERS_FILE);
    }
}
