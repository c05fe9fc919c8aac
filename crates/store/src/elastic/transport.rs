//! Sends an [`EsRequest`] with the official client's transport, retrying transient
//! failures: the only code here that does IO.
//!
//! Async, on whatever runtime the caller runs (the blocking store brings its own), and
//! shareable: the counters are atomics, so one transport serves concurrent requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use elasticsearch::auth::Credentials;
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::headers::{CONTENT_TYPE, HeaderMap, HeaderValue};
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};

use super::config::{ElasticAuth, ElasticConfig};
use super::error::ElasticError;
use super::request::{Body, EsRequest, Method};
use super::retry::{
    RetryDecision, TransportFailure, classify_transport, delays, is_retryable, retry_decision,
    status_error,
};

/// Counters for the reporter's summary and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Retries among them.
    pub retries: u64,
    /// Response bytes after decompression.
    pub bytes_received: u64,
    /// Time spent on requests that needed a retry (first attempt to last, waits
    /// included): what ELASTIC_RETRY_BUDGET bounds.
    pub retrying: Duration,
}

/// A response: status and the whole body.
#[derive(Debug, Clone)]
pub struct EsResponse {
    pub status: u16,
    pub body: Bytes,
}

/// [`TransportStats`] as they are counted, by concurrent requests.
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    bytes_received: AtomicU64,
    /// [`TransportStats::retrying`] of the requests that have finished, in nanoseconds.
    retrying_nanos: AtomicU64,
}

pub struct Transport {
    client: elasticsearch::http::transport::Transport,
    url: String,
    timeout: Duration,
    retries: u32,
    retry_delay: Duration,
    retry_budget: Option<Duration>,
    counters: Counters,
}

impl Transport {
    pub fn new(config: &ElasticConfig) -> Result<Transport, ElasticError> {
        let pool = SingleNodeConnectionPool::new(config.url.clone());
        let mut builder = TransportBuilder::new(pool).timeout(config.timeout);
        if let Some(auth) = &config.auth {
            builder = builder.auth(match auth {
                ElasticAuth::Basic { user, password } => {
                    Credentials::Basic(user.clone(), password.expose().to_string())
                }
                ElasticAuth::ApiKey(key) => match key.expose().split_once(':') {
                    Some((id, secret)) => Credentials::ApiKey(id.to_string(), secret.to_string()),
                    None => Credentials::EncodedApiKey(key.expose().to_string()),
                },
            });
        }
        if !config.verify_tls {
            builder = builder.cert_validation(CertificateValidation::None);
        } else if let Some(ca) = &config.ca {
            let cert = Certificate::from_pem(&ca.pem).map_err(|e| {
                ElasticError::Client(format!("ELASTIC_CA {}: {e}", ca.path.display()))
            })?;
            builder = builder.cert_validation(CertificateValidation::Full(cert));
        }
        let client = builder
            .build()
            .map_err(|e| ElasticError::Client(e.to_string()))?;
        Ok(Transport {
            client,
            url: config.display_url(),
            timeout: config.timeout,
            retries: config.retries,
            retry_delay: config.retry_delay,
            retry_budget: config.retry_budget,
            counters: Counters::default(),
        })
    }

    /// What this transport has done so far, all requests of all callers.
    pub fn stats(&self) -> TransportStats {
        let c = &self.counters;
        TransportStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            bytes_received: c.bytes_received.load(Ordering::Relaxed),
            retrying: Duration::from_nanos(c.retrying_nanos.load(Ordering::Relaxed)),
        }
    }

    /// The retry decision for a request (or a batch of `_bulk` items) that started at
    /// `started` and just failed: [`retry_decision`] with the time this process has
    /// spent retrying so far, this request's time included.
    pub(crate) fn decide(
        &self,
        retryable: bool,
        next_delay: Option<Duration>,
        started: Instant,
    ) -> RetryDecision {
        let spent = self.stats().retrying + started.elapsed();
        retry_decision(retryable, next_delay, spent, self.retry_budget)
    }

    /// Counts a request that needed a retry, from `started` to now, against the budget.
    pub(crate) fn record_retrying(&self, started: Instant) {
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.counters
            .retrying_nanos
            .fetch_add(nanos, Ordering::Relaxed);
    }

    /// The error for a request given up on after `attempts` attempts.
    pub(crate) fn given_up(
        &self,
        decision: RetryDecision,
        op: &'static str,
        attempts: u32,
        last: ElasticError,
    ) -> ElasticError {
        match decision {
            RetryDecision::BudgetSpent => ElasticError::BudgetSpent {
                op,
                attempts,
                budget: self
                    .retry_budget
                    .map(|b| humantime::format_duration(b).to_string())
                    .unwrap_or_default(),
                last: Box::new(last),
            },
            RetryDecision::RetriesSpent if attempts > 1 => ElasticError::Exhausted {
                op,
                attempts,
                last: Box::new(last),
            },
            _ => last,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// ELASTIC_RETRIES, for callers that retry parts of a response (bulk items).
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// ELASTIC_RETRY_DELAY.
    pub fn retry_delay(&self) -> Duration {
        self.retry_delay
    }

    /// Sends `req`, retrying transient failures; any status outside 2xx is an error.
    pub async fn send(&self, req: &EsRequest) -> Result<EsResponse, ElasticError> {
        self.send_accepting(req, &[]).await
    }

    /// Like [`Transport::send`], but the statuses in `accept` (e.g. 404 for "does this
    /// template exist") are returned as responses rather than errors.
    pub async fn send_accepting(
        &self,
        req: &EsRequest,
        accept: &[u16],
    ) -> Result<EsResponse, ElasticError> {
        let body: Option<Bytes> = match &req.body {
            Body::None => None,
            Body::Json(b) | Body::Ndjson(b) => Some(b.clone()),
        };
        let mut headers = HeaderMap::new();
        if matches!(req.body, Body::Ndjson(_)) {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            );
        }
        let mut delays = delays(self.retry_delay, self.retries);
        let started = Instant::now();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let e = match self
                .attempt(req, headers.clone(), body.clone(), accept)
                .await
            {
                Ok(response) => {
                    if attempts > 1 {
                        self.record_retrying(started);
                    }
                    return Ok(response);
                }
                Err(e) => e,
            };
            let decision = self.decide(is_retryable(&e), delays.next(), started);
            let RetryDecision::RetryAfter(wait) = decision else {
                if is_retryable(&e) {
                    self.record_retrying(started);
                }
                return Err(self.given_up(decision, req.op, attempts, e));
            };
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                op = req.op,
                retry_in = ?wait,
                "Elasticsearch request failed, retrying: {e}"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(
        &self,
        req: &EsRequest,
        headers: HeaderMap,
        body: Option<Bytes>,
        accept: &[u16],
    ) -> Result<EsResponse, ElasticError> {
        let method = match req.method {
            Method::Get => elasticsearch::http::Method::Get,
            Method::Post => elasticsearch::http::Method::Post,
            Method::Put => elasticsearch::http::Method::Put,
            Method::Delete => elasticsearch::http::Method::Delete,
        };
        let query = (!req.query.is_empty()).then_some(req.query.as_slice());
        let started = Instant::now();
        let sent = self
            .client
            .send(method, &req.path, headers, query, body, Some(self.timeout))
            .await;
        let response = sent.map_err(|e| self.transport_error(req, &e))?;
        let status = response.status_code().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(req, &e))?;
        self.counters
            .bytes_received
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        tracing::debug!(
            op = req.op,
            request = %req.describe(),
            status,
            bytes = bytes.len(),
            ms = started.elapsed().as_millis() as u64,
            "Elasticsearch request"
        );
        if (200..300).contains(&status) || accept.contains(&status) {
            Ok(EsResponse {
                status,
                body: bytes,
            })
        } else {
            Err(status_error(req.op, status, &bytes, req.body.len()))
        }
    }

    fn transport_error(&self, req: &EsRequest, e: &elasticsearch::Error) -> ElasticError {
        let mut chain = vec![e.to_string()];
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            chain.push(s.to_string());
            source = s.source();
        }
        chain.dedup();
        let detail = chain.join(": ");
        match classify_transport(e.is_timeout(), &chain) {
            TransportFailure::Timeout => ElasticError::Timeout {
                url: self.url.clone(),
                op: req.op,
                timeout: humantime::format_duration(self.timeout).to_string(),
            },
            TransportFailure::Tls => ElasticError::Tls {
                url: self.url.clone(),
                detail,
            },
            TransportFailure::Connect => ElasticError::Unreachable {
                url: self.url.clone(),
                op: req.op,
                detail,
            },
        }
    }
}
