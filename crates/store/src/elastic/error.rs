//! What can go wrong talking to Elasticsearch, phrased for the operator who must fix it.
//!
//! No variant carries credentials: URLs are stored without userinfo and request bodies
//! are never quoted.

use compliance_core::error::{Classify, ErrorKind};

use super::response::{BulkFailure, ErrorBody, ParseError};

/// How many failed bulk items an error lists before summarising the rest.
const LISTED_FAILURES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum ElasticError {
    #[error("cannot build the Elasticsearch client: {0}")]
    Client(String),
    #[error("cannot connect to Elasticsearch at {url} ({op}): {detail}")]
    Unreachable {
        url: String,
        op: &'static str,
        detail: String,
    },
    #[error("Elasticsearch at {url} did not answer {op} within {timeout} (ELASTIC_TIMEOUT)")]
    Timeout {
        url: String,
        op: &'static str,
        timeout: String,
    },
    #[error(
        "TLS connection to Elasticsearch at {url} failed: {detail}; check ELASTIC_CA (the CA \
         that signed the server's certificate), ELASTIC_SCHEME/ELASTIC_URL (http or https) \
         and ELASTIC_SSL_VERIFY"
    )]
    Tls { url: String, detail: String },
    #[error(
        "Elasticsearch rejected the credentials (401) on {op}: {reason}; check ELASTIC_USER \
         and ELASTIC_PASSWORD, or ELASTIC_API_KEY"
    )]
    Authentication { op: &'static str, reason: String },
    #[error("the Elasticsearch user lacks a privilege (403) to {op}: {reason}")]
    Forbidden { op: &'static str, reason: String },
    #[error(
        "{op}: the request body ({bytes} bytes) is larger than the cluster accepts (413, \
         http.max_content_length); lower ELASTIC_MAX_REQUEST_BYTES"
    )]
    TooLarge { op: &'static str, bytes: usize },
    #[error("{op} failed: Elasticsearch answered {status}: {}", .error.summary())]
    Status {
        op: &'static str,
        status: u16,
        error: ErrorBody,
    },
    #[error("{op} still failing after {attempts} attempts (ELASTIC_RETRIES): {last}")]
    Exhausted {
        op: &'static str,
        attempts: u32,
        #[source]
        last: Box<ElasticError>,
    },
    #[error(
        "{op} still failing after {attempts} attempts: this run has spent its retry budget \
         of {budget} (ELASTIC_RETRY_BUDGET): {last}"
    )]
    BudgetSpent {
        op: &'static str,
        attempts: u32,
        /// ELASTIC_RETRY_BUDGET, as a duration.
        budget: String,
        #[source]
        last: Box<ElasticError>,
    },
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("{}", bulk_message(.stored, .failures, .total))]
    Bulk {
        /// Documents acknowledged before the failure (each whole; a re-run replaces them).
        stored: u64,
        total: u64,
        failures: Vec<BulkFailure>,
    },
    #[error(
        "the mapping of {index} conflicts: {field} is mapped as {found}, but the store needs \
         {expected}; {hint}"
    )]
    MappingConflict {
        index: String,
        field: String,
        found: String,
        expected: String,
        hint: String,
    },
    #[error("report {id} is incomplete in Elasticsearch: {detail}")]
    IncompleteReport { id: String, detail: String },
    #[error(
        "page {page} of {max_items} reports lies beyond the first {window} matches, which \
         is as deep as Elasticsearch pages (index.max_result_window); narrow the query by \
         report name, type or time range instead"
    )]
    ResultWindow {
        page: u64,
        max_items: u64,
        window: u64,
    },
    #[error(
        "cannot create the rollover alias {alias}: {detail}; an index named like the alias \
         blocks it: move its documents to the alias's indices (reindex) and delete it"
    )]
    WriteAlias { alias: String, detail: String },
    #[error("cannot serialize {what}: {detail}")]
    Encode { what: String, detail: String },
}

fn bulk_message(stored: &u64, failures: &[BulkFailure], total: &u64) -> String {
    let mut s = format!(
        "{} of {total} documents were not stored ({stored} were; storing again replaces them):",
        failures.len()
    );
    for f in failures.iter().take(LISTED_FAILURES) {
        s.push_str(&format!(
            "\n  {} in {}: {} {}: {}",
            f.id, f.index, f.status, f.kind, f.reason
        ));
    }
    if failures.len() > LISTED_FAILURES {
        s.push_str(&format!(
            "\n  … and {} more",
            failures.len() - LISTED_FAILURES
        ));
    }
    s
}

impl Classify for ElasticError {
    /// Configuration when the cluster itself said our settings are wrong (credentials,
    /// privileges, certificates): retrying or waiting will not help. Unavailable when it
    /// did not answer, or answered with a server error, throttling or a failed bulk item:
    /// running again may succeed. Internal when it answered something this program did
    /// not expect (an answer that does not parse, a 4xx to a request we built, a report
    /// with a part missing, an index mapped in a way the store cannot use). A page too
    /// deep for the cluster to serve is invalid: the request must change.
    fn kind(&self) -> ErrorKind {
        match self {
            ElasticError::ResultWindow { .. } => ErrorKind::Invalid,
            ElasticError::Authentication { .. }
            | ElasticError::Forbidden { .. }
            | ElasticError::Tls { .. }
            | ElasticError::Client(_) => ErrorKind::Configuration,
            ElasticError::Exhausted { last, .. } | ElasticError::BudgetSpent { last, .. } => {
                last.kind()
            }
            ElasticError::Unreachable { .. }
            | ElasticError::Timeout { .. }
            | ElasticError::Bulk { .. } => ErrorKind::Unavailable,
            ElasticError::Status { status, .. } if *status >= 500 || *status == 429 => {
                ErrorKind::Unavailable
            }
            ElasticError::Status { .. }
            | ElasticError::TooLarge { .. }
            | ElasticError::Parse(_)
            | ElasticError::MappingConflict { .. }
            | ElasticError::IncompleteReport { .. }
            | ElasticError::WriteAlias { .. }
            | ElasticError::Encode { .. } => ErrorKind::Internal,
        }
    }
}

impl ElasticError {
    /// True when the cluster itself said our configuration is wrong (credentials,
    /// privileges, certificates): retrying or waiting will not help.
    pub fn is_configuration(&self) -> bool {
        self.kind() == ErrorKind::Configuration
    }

    /// The Elasticsearch error, when the failure was an HTTP status.
    pub fn error_body(&self) -> Option<(u16, &ErrorBody)> {
        match self {
            ElasticError::Status { status, error, .. } => Some((*status, error)),
            _ => None,
        }
    }
}
