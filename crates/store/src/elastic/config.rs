//! How to reach one Elasticsearch cluster: the checked settings the store needs.
//!
//! The binaries build an [`ElasticConfig`] from the ELASTIC_* variables (docs/spec.md §7) and
//! check every value before any request is sent; this crate only uses it. Passwords and
//! API keys live in [`Secret`], which never prints its content.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use compliance_core::model::benchmark::DEFAULT_CLUSTER;

/// Default ELASTIC_PORT, as in the published reporter pod manifest.
pub const DEFAULT_PORT: u16 = 9200;
/// Default ELASTIC_SCHEME.
pub const DEFAULT_SCHEME: &str = "https";
/// Default ELASTIC_TIMEOUT: one request, including reading its response.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default ELASTIC_RETRIES: retries after the first attempt of a request. With the
/// default delay doubling to 30 s this rides out about three minutes of unavailability.
pub const DEFAULT_RETRIES: u32 = 10;
/// Default ELASTIC_RETRY_DELAY: the first backoff; it doubles up to [`MAX_RETRY_DELAY`].
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_millis(500);
/// The longest single backoff.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
/// ELASTIC_RETRY_BUDGET of the one-shot programs (`compliance-reporter`, `compliancectl`)
/// when unset: 60 s of retrying per run, in total.
///
/// Why 60 s: it rides out what a healthy cluster does to its clients (a node restarting
/// in a rolling upgrade, a master election, a burst of 429s), and the backoff reaches its
/// 30 s cap just then, so a longer budget would only add 30 s waits. A longer outage is
/// the Job's to ride out: its pod retries (`backoffLimit` 6, with Kubernetes' pod backoff
/// from 10 s doubling) wait some ten minutes between attempts without holding a pod, and
/// a run that gives up after a minute leaves time for all of them. The daemons
/// (`compliance-benchmarker`, `compliance-server`, `compliance-controller`) have no
/// budget unless it is set: they keep retrying as long as `ELASTIC_RETRIES` allows.
pub const ONE_SHOT_RETRY_BUDGET: Duration = Duration::from_secs(60);
/// Default ELASTIC_MAX_REQUEST_BYTES: half of Elasticsearch's default
/// `http.max_content_length` (100 MB), leaving room for clusters that lowered it a bit.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 50 * 1024 * 1024;
/// The smallest accepted ELASTIC_MAX_REQUEST_BYTES: one node's results must fit.
pub const MIN_MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Default ELASTIC_PAGE_SIZE: nodes per search page. A node's document is ~60-130 KB of
/// JSON, so 200 keeps a page near 25 MB before compression.
pub const DEFAULT_PAGE_SIZE: usize = 200;

/// A password or API key. Debug prints `<redacted>` and there is no Display, so it cannot
/// end up in a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElasticAuth {
    /// ELASTIC_USER / ELASTIC_PASSWORD, or `user:password@` in ELASTIC_URL.
    Basic { user: String, password: Secret },
    /// ELASTIC_API_KEY as Kibana shows it (base64 of `id:key`), or `id:key`.
    ApiKey(Secret),
}

/// A CA certificate bundle read from ELASTIC_CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundle {
    pub path: PathBuf,
    pub pem: Vec<u8>,
}

/// Everything needed to talk to one Elasticsearch cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElasticConfig {
    /// Base URL, without credentials; may carry a path prefix (behind a proxy).
    pub url: Url,
    pub auth: Option<ElasticAuth>,
    /// Trusted CA in addition to the system roots (ELASTIC_CA).
    pub ca: Option<CaBundle>,
    /// ELASTIC_SSL_VERIFY; default true. False accepts any certificate.
    pub verify_tls: bool,
    /// ELASTIC_INDEX_SUFFIX, default `cluster`: the cluster name in every index name.
    pub index_suffix: String,
    pub timeout: Duration,
    pub retries: u32,
    pub retry_delay: Duration,
    /// ELASTIC_RETRY_BUDGET: the total time this process may spend on requests that
    /// needed a retry, waits included; `None` (the default here, and the daemons') is no
    /// limit but `retries`. See [`ONE_SHOT_RETRY_BUDGET`].
    pub retry_budget: Option<Duration>,
    pub max_request_bytes: usize,
    pub page_size: usize,
    /// How long documents are kept: the lifecycle policies writers and
    /// `compliancectl elastic setup` install (COMPLIANCE_*_RETENTION; 91 days each).
    pub retention: crate::retention::Retention,
}

impl ElasticConfig {
    /// A configuration for `url` with every default and no credentials: tests and tools.
    /// Userinfo in the URL is dropped (the binaries turn it into [`ElasticAuth::Basic`]).
    pub fn new(mut url: Url) -> ElasticConfig {
        let _ = url.set_username("");
        let _ = url.set_password(None);
        ElasticConfig {
            url,
            auth: None,
            ca: None,
            verify_tls: true,
            index_suffix: DEFAULT_CLUSTER.to_string(),
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            retry_delay: DEFAULT_RETRY_DELAY,
            retry_budget: None,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            page_size: DEFAULT_PAGE_SIZE,
            retention: crate::retention::Retention::default(),
        }
    }

    /// The URL for messages: never contains credentials (they are stripped on parsing).
    pub fn display_url(&self) -> String {
        self.url.as_str().trim_end_matches('/').to_string()
    }
}

impl CaBundle {
    /// Checks `pem` as the TLS client will read it: at least one PEM certificate whose
    /// base64 decodes to a whole DER SEQUENCE, which the client's parser accepts. The TLS
    /// library parses certificates only at the first connection; checking here turns a
    /// truncated or mangled file into an error naming the file, not a failed handshake.
    pub fn from_pem(path: PathBuf, pem: Vec<u8>) -> Result<CaBundle, String> {
        let text = String::from_utf8_lossy(&pem);
        check_pem_certificates(&text)?;
        elasticsearch::cert::Certificate::from_pem(&pem)
            .map_err(|e| format!("the PEM certificate does not parse: {e}"))?;
        Ok(CaBundle { path, pem })
    }
}

/// Checks that `text` holds at least one PEM certificate whose base64 decodes to a DER
/// SEQUENCE of the right length.
fn check_pem_certificates(text: &str) -> Result<(), String> {
    use base64::Engine as _;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut rest = text;
    let mut count = 0;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let end = after
            .find(END)
            .ok_or_else(|| format!("certificate {} has no {END} line", count + 1))?;
        let b64: String = after[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| format!("certificate {} is not valid base64: {e}", count + 1))?;
        if !der_sequence_fits(&der) {
            return Err(format!(
                "certificate {} is not a DER certificate (truncated or corrupted)",
                count + 1
            ));
        }
        count += 1;
        rest = &after[end + END.len()..];
    }
    if count == 0 {
        return Err(format!("is not a PEM certificate (no {BEGIN} block)"));
    }
    Ok(())
}

/// A DER SEQUENCE whose declared length is exactly the rest of the bytes.
fn der_sequence_fits(der: &[u8]) -> bool {
    let [0x30, first, rest @ ..] = der else {
        return false;
    };
    let (len, body) = if first & 0x80 == 0 {
        (*first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return false;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    len == body.len() && len > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        assert!(der_sequence_fits(&[0x30, 0x02, 0x05, 0x00]));
        assert!(!der_sequence_fits(&[0x30, 0x03, 0x05, 0x00]));
        let mut long = vec![0x30, 0x82, 0x01, 0x00];
        long.extend(std::iter::repeat_n(0u8, 256));
        assert!(der_sequence_fits(&long));
        long.pop();
        assert!(!der_sequence_fits(&long));
        assert!(!der_sequence_fits(&[0x31, 0x00]));
    }
}
