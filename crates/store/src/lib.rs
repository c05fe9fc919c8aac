//! Where benchmark results and reports live, behind two small traits, so the jobs and
//! the CLI never care which backend holds the documents.
//!
//! The embedded default is a SQLite file ([`sqlite`]); Elasticsearch ([`elastic`])
//! implements the same traits for production clusters. [`Datastore`] says which one, and
//! [`open`] opens it; reading the environment into a [`Datastore`] is the binaries' job.

pub mod elastic;
pub mod sqlite;

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use compliance_core::error::{Classify, ErrorKind};
use compliance_core::model::{BenchmarkDocument, CisBenchmarkSummary, ReportDocument};

pub use compliance_core::report::QueryWindow;
pub use elastic::ElasticConfig;
/// What a benchmark query read, for the reporter's summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Documents handed to the sink.
    pub documents: u64,
    /// Documents that could not be decoded and were skipped (each logged with a warning).
    pub skipped: u64,
    /// Requests sent to a remote store (0 for SQLite).
    pub requests: u64,
    /// Response bytes read from a remote store, after decompression (0 for SQLite).
    pub bytes_read: u64,
}

/// A line of `reports list`: everything but the per-node results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportListing {
    pub id: String,
    pub report_name: String,
    pub report_type_name: String,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub generation_time: DateTime<Utc>,
    pub summary: CisBenchmarkSummary,
    pub node_count: u64,
}

/// Why the source of documents handed to [`BenchmarkStore::put_benchmarks`] failed.
pub type InputError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("reading the documents failed after {read} of them; nothing was stored: {source}")]
    Input {
        read: u64,
        #[source]
        source: InputError,
    },
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {path} does not exist (import benchmark results or run a report first)")]
    Missing { path: PathBuf },
    #[error("{path} is not a usable compliance database: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "database {path}: benchmark document {} of the input (node {node:?}, {timestamp}) \
         is invalid: {detail}",
        .index + 1
    )]
    InvalidDocument {
        path: PathBuf,
        /// 0-based position of the document in the input (messages count from 1).
        index: u64,
        node: String,
        timestamp: DateTime<Utc>,
        detail: String,
    },
    #[error("cannot encode {what}: {detail}")]
    Encode { what: String, detail: String },
    /// Boxed: the Elasticsearch errors are large and every store result carries this type.
    #[error("Elasticsearch: {0}")]
    Elastic(Box<elastic::ElasticError>),
}

impl From<elastic::ElasticError> for StoreError {
    fn from(e: elastic::ElasticError) -> Self {
        StoreError::Elastic(Box::new(e))
    }
}

impl Classify for StoreError {
    /// A cluster refusing the credentials, privileges or certificate is configuration;
    /// bad input documents are invalid; a database that is not ours (or is damaged) is
    /// internal; everything else may pass when run again: unavailable. A missing SQLite
    /// file counts as unavailable too: the store is not there (yet), the input is fine.
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Elastic(e) => e.kind(),
            StoreError::Input { .. } | StoreError::InvalidDocument { .. } => ErrorKind::Invalid,
            StoreError::Corrupt { .. } | StoreError::Encode { .. } => ErrorKind::Internal,
            StoreError::Open { .. } | StoreError::Missing { .. } | StoreError::Sqlite { .. } => {
                ErrorKind::Unavailable
            }
        }
    }
}

/// Where benchmark results live.
pub trait BenchmarkStore {
    /// Stores every document in one transaction: all of them or none. A document with
    /// the same node and timestamp as a stored one replaces it, so re-importing a file
    /// does not duplicate it. Returns how many were stored.
    ///
    /// The documents may come from a reader that fails part way (a truncated stream):
    /// an `Err` item aborts the call with [`StoreError::Input`] and stores nothing.
    fn put_benchmarks(
        &mut self,
        docs: &mut dyn Iterator<Item = Result<BenchmarkDocument, InputError>>,
    ) -> Result<u64, StoreError>;

    /// Hands `sink`, for every node with a document whose timestamp lies in `window`,
    /// its latest document without `error`, or its latest errored document when it has
    /// no other (docs/spec.md §4.2). Reads O(nodes) documents, not every document of the window.
    /// The order is the store's (SQLite: by node name; Elasticsearch: good documents by
    /// node name, then errored ones), and a node may be offered twice (a good and an
    /// errored document); the report core sorts and chooses.
    fn latest_per_node(
        &self,
        window: &QueryWindow,
        sink: &mut dyn FnMut(BenchmarkDocument),
    ) -> Result<QueryStats, StoreError>;
}

/// Where reports live.
pub trait ReportStore {
    /// Stores `report` under its id in one transaction, replacing a previous report with
    /// the same id. On failure the previous report is left exactly as it was.
    fn put_report(&mut self, report: &ReportDocument) -> Result<(), StoreError>;

    /// Every stored report, newest window first (then by name).
    fn list_reports(&self) -> Result<Vec<ReportListing>, StoreError>;

    /// The whole report, or `None` when no report has this id.
    fn get_report(&self, id: &str) -> Result<Option<ReportDocument>, StoreError>;
}

/// A store that holds both benchmark documents and reports.
pub trait Store: BenchmarkStore + ReportStore {}
impl<T: BenchmarkStore + ReportStore> Store for T {}

pub use sqlite::OpenMode;

/// Where documents and reports are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datastore {
    /// A SQLite file (`sqlite:PATH`).
    Sqlite(PathBuf),
    /// An Elasticsearch cluster.
    Elastic(Box<ElasticConfig>),
}

impl Datastore {
    /// Where the store is, for log lines (never with credentials).
    pub fn describe(&self) -> String {
        match self {
            Datastore::Sqlite(path) => format!("sqlite:{}", path.display()),
            Datastore::Elastic(c) => format!(
                "elasticsearch {} (index suffix {})",
                c.display_url(),
                c.index_suffix
            ),
        }
    }
}

/// Opens the configured store. `Create` makes an empty SQLite database when the file does
/// not exist (writers); `Existing` refuses to, so a mistyped path in `reports list` is an
/// error rather than an empty list.
pub fn open(datastore: &Datastore, mode: OpenMode) -> Result<Box<dyn Store>, StoreError> {
    match datastore {
        Datastore::Sqlite(path) => Ok(Box::new(sqlite::SqliteStore::open(path, mode)?)),
        // Nothing is sent until the first read or write; `mode` has no meaning for a
        // cluster (readers of a missing index get an empty result, not an error).
        Datastore::Elastic(config) => Ok(Box::new(elastic::ElasticStore::connect(config)?)),
    }
}
