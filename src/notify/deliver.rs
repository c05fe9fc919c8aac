//! Sending one notification to one receiver: POSTs of JSON until [`retry::decide`] says
//! stop. The only IO of notifications besides the ledger.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use std::sync::Arc;

use super::retry::{self, Attempt, Verdict};
use super::secret::redact_urls;
use crate::settings::notify::{Receiver, RetryPolicy};

/// Characters of a refusing receiver's answer kept for the log line: 200 (Slack says
/// `invalid_payload` or `no_service` there).
const ANSWER_CHARS: usize = 200;

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Requests sent.
    pub attempts: u32,
    /// `Err` holds why it was given up.
    pub outcome: Result<(), String>,
}

/// The HTTP client of notifications: no redirects (a webhook URL that redirects is a
/// wrong one, and a POST must not turn into a GET), rustls.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("compliance-reporter/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A factor from 0.5 to 1.0, different in every call and process.
fn jitter() -> f64 {
    let r = RandomState::new().hash_one(Instant::now());
    0.5 + (r as f64 / u64::MAX as f64) * 0.5
}

/// POSTs `body` to `receiver` until it is accepted or [`retry::decide`] gives up.
pub async fn deliver(
    client: &reqwest::Client,
    receiver: &Receiver,
    body: Arc<[u8]>,
    policy: RetryPolicy,
) -> Delivery {
    let start = Instant::now();
    let mut attempt = 1;
    loop {
        let remaining = policy.budget.saturating_sub(start.elapsed());
        let timeout = policy
            .request_timeout
            .min(remaining)
            .max(Duration::from_millis(1));
        let (result, answer) = send_once(client, receiver, &body, timeout).await;
        tracing::debug!(
            receiver = %receiver.name,
            attempt,
            result = %result.describe(),
            "notification attempt"
        );
        match retry::decide(&policy, attempt, &result, start.elapsed(), jitter()) {
            Verdict::Delivered => {
                return Delivery {
                    attempts: attempt,
                    outcome: Ok(()),
                };
            }
            Verdict::Retry(wait) => {
                tracing::warn!(
                    receiver = %receiver.name,
                    attempt,
                    result = %result.describe(),
                    retry_in_ms = wait.as_millis() as u64,
                    "notification not accepted; retrying"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Verdict::GiveUp(reason) => {
                let outcome = match answer.filter(|a| !a.is_empty()) {
                    Some(a) => Err(format!("{reason} (the receiver answered: {a})")),
                    None => Err(reason),
                };
                return Delivery {
                    attempts: attempt,
                    outcome,
                };
            }
        }
    }
}

/// One POST, and the start of the answer's body for a status outside 2xx.
async fn send_once(
    client: &reqwest::Client,
    receiver: &Receiver,
    body: &[u8],
    timeout: Duration,
) -> (Attempt, Option<String>) {
    let mut req = client
        .post(receiver.url.expose().clone())
        .timeout(timeout)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_vec());
    for (name, value) in &receiver.headers {
        // Checked when the receivers were read.
        if let Ok(mut v) = HeaderValue::from_str(value.expose()) {
            v.set_sensitive(true);
            req = req.header(name.clone(), v);
        }
    }
    match req.send().await {
        Ok(resp) => {
            let code = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(retry::parse_retry_after);
            let answer = if (200..300).contains(&code) {
                None
            } else {
                resp.text().await.ok().map(|t| {
                    redact_urls(&t.chars().take(ANSWER_CHARS).collect::<String>())
                        .trim()
                        .to_string()
                })
            };
            (Attempt::Status { code, retry_after }, answer)
        }
        Err(e) if e.is_timeout() => (Attempt::Timeout, None),
        Err(e) => (Attempt::Connection(error_chain(e.without_url())), None),
    }
}

/// An error and its causes, `: `-separated, with any URL in them cut to its host.
fn error_chain(e: reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    redact_urls(&text)
}
