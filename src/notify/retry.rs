//! What to do after each attempt to deliver a notification: done, wait and try again, or
//! give up. Pure: the delivery loop feeds it what happened and how long it has taken.

use std::time::Duration;

use crate::settings::notify::RetryPolicy;

/// What one request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered with this status; `retry_after` is its Retry-After header in
    /// seconds, when it sent one.
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: the connection was refused or reset, or DNS failed.
    Connection(String),
    /// No answer within the request timeout.
    Timeout,
}

/// What the loop does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Sleep this long, then send again.
    Retry(Duration),
    /// Stop; the reason says why, for the ERROR line.
    GiveUp(String),
}

impl Attempt {
    /// How the attempt reads in a log line: `HTTP 503`, `connection failed: …`, `timed out`.
    pub fn describe(&self) -> String {
        match self {
            Attempt::Status { code, .. } => format!("HTTP {code}"),
            Attempt::Connection(e) => format!("connection failed: {e}"),
            Attempt::Timeout => "timed out".to_string(),
        }
    }
}

/// The wait before attempt `next` (2 for the first retry): the backoff doubled for each
/// attempt before, capped at `max_backoff`, then scaled by `jitter` (from 0.5 to 1.0, so
/// that reporters of several GlobalReports that failed together do not retry together).
pub fn backoff(policy: &RetryPolicy, next: u32, jitter: f64) -> Duration {
    let doublings = next.saturating_sub(2).min(16);
    let base = policy
        .backoff
        .saturating_mul(1u32 << doublings)
        .min(policy.max_backoff);
    base.mul_f64(jitter.clamp(0.5, 1.0))
}

/// What follows attempt number `attempt` (1 for the first) whose result was `result`,
/// `elapsed` after the first one started. 2xx is delivered; 408, 429 and 5xx, a failed
/// connection and a timeout are retried (429 and 503 after their Retry-After, when given);
/// every other status (a wrong URL, a revoked token, a payload the receiver refuses) is
/// given up at once, since sending it again cannot help. A retry that would run past
/// the attempts or the time budget is given up too.
pub fn decide(
    policy: &RetryPolicy,
    attempt: u32,
    result: &Attempt,
    elapsed: Duration,
    jitter: f64,
) -> Verdict {
    let retry_after = match result {
        Attempt::Status { code, .. } if (200..300).contains(code) => return Verdict::Delivered,
        Attempt::Status { code, retry_after } if *code == 408 || *code == 429 || *code >= 500 => {
            *retry_after
        }
        Attempt::Status { code, .. } => {
            return Verdict::GiveUp(format!(
                "HTTP {code}, which a retry cannot change{}",
                match code {
                    300..=399 => ": the URL redirects; configure the final URL",
                    401 | 403 => ": check the token in the URL or the Authorization header",
                    404 | 410 => ": check the URL (a deleted Slack webhook answers 404 or 410)",
                    _ => "",
                }
            ));
        }
        Attempt::Connection(_) | Attempt::Timeout => None,
    };
    if attempt >= policy.attempts {
        return Verdict::GiveUp(format!(
            "{} after {attempt} attempts (COMPLIANCE_NOTIFY_ATTEMPTS)",
            result.describe()
        ));
    }
    let wait = retry_after.unwrap_or_else(|| backoff(policy, attempt + 1, jitter));
    if elapsed + wait >= policy.budget {
        return Verdict::GiveUp(format!(
            "{} after {attempt} attempts; waiting {} more would pass COMPLIANCE_NOTIFY_TIMEOUT ({})",
            result.describe(),
            humantime::format_duration(round_ms(wait)),
            humantime::format_duration(policy.budget)
        ));
    }
    Verdict::Retry(wait)
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// A Retry-After header in seconds (the HTTP-date form is not used by webhook
/// receivers; it is ignored, and the backoff applies).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 5,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(30),
            budget: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
        }
    }

    fn status(code: u16) -> Attempt {
        Attempt::Status {
            code,
            retry_after: None,
        }
    }

    const NO_TIME: Duration = Duration::ZERO;

    #[test]
    fn success_statuses_are_delivered() {
        for code in [200, 201, 202, 204] {
            assert_eq!(
                decide(&policy(), 1, &status(code), NO_TIME, 1.0),
                Verdict::Delivered
            );
        }
    }

    #[test]
    fn server_errors_rate_limits_connections_and_timeouts_are_retried_with_doubling_waits() {
        for result in [
            status(500),
            status(502),
            status(503),
            status(408),
            status(429),
            Attempt::Connection("connection refused".into()),
            Attempt::Timeout,
        ] {
            assert_eq!(
                decide(&policy(), 1, &result, NO_TIME, 1.0),
                Verdict::Retry(Duration::from_secs(2)),
                "{result:?}"
            );
            assert_eq!(
                decide(&policy(), 3, &result, NO_TIME, 1.0),
                Verdict::Retry(Duration::from_secs(8))
            );
        }
    }

    #[test]
    fn retry_after_is_honoured() {
        let r = Attempt::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(
            decide(&policy(), 1, &r, NO_TIME, 1.0),
            Verdict::Retry(Duration::from_secs(7))
        );
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn other_client_errors_give_up_at_once() {
        for code in [400, 401, 403, 404, 410, 413, 301] {
            let v = decide(&policy(), 1, &status(code), NO_TIME, 1.0);
            assert!(
                matches!(&v, Verdict::GiveUp(m) if m.starts_with(&format!("HTTP {code}"))),
                "{v:?}"
            );
        }
    }

    #[test]
    fn the_last_attempt_gives_up() {
        let v = decide(&policy(), 5, &status(500), NO_TIME, 1.0);
        assert_eq!(
            v,
            Verdict::GiveUp("HTTP 500 after 5 attempts (COMPLIANCE_NOTIFY_ATTEMPTS)".into())
        );
    }

    #[test]
    fn a_wait_past_the_budget_gives_up_instead() {
        let v = decide(&policy(), 2, &status(503), Duration::from_secs(57), 1.0);
        assert!(
            matches!(&v, Verdict::GiveUp(m) if m.contains("COMPLIANCE_NOTIFY_TIMEOUT (1m)")),
            "{v:?}"
        );
        let r = Attempt::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(3600)),
        };
        assert!(matches!(
            decide(&policy(), 1, &r, NO_TIME, 1.0),
            Verdict::GiveUp(_)
        ));
    }

    #[test]
    fn waits_are_capped_and_jittered_down_to_half() {
        assert_eq!(backoff(&policy(), 2, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(&policy(), 2, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(&policy(), 2, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(&policy(), 6, 1.0), Duration::from_secs(30));
        assert_eq!(backoff(&policy(), 40, 1.0), Duration::from_secs(30));
    }
}
