//! Where benchmark results and reports live, behind one [`Store`], so the jobs, the CLI
//! and the server never care which backend holds the documents.
//!
//! The embedded default is a SQLite file ([`sqlite`]); Elasticsearch ([`elastic`]) serves
//! production clusters. [`Datastore`] says which one, and [`Store::open`] opens it;
//! reading the environment into a [`Datastore`] is the binaries' job.
//!
//! [`Store`] is async, cheap to clone, `Send + Sync`, and its futures are `Send`, so a
//! server can share one among its requests. Reads are the server's: a filtered, ordered,
//! paged list ([`query`]), the newest report of a GlobalReport, a report's head and pages
//! of its nodes. The batch side (importing benchmark results, the latest result per node,
//! storing a report) is what the jobs use, mostly through [`BlockingStore`]: the same
//! methods, synchronous, on a current-thread runtime of its own, for the one-shot binaries.
//! [`BenchmarkStore`] and [`ReportStore`] are the synchronous seams where code injects
//! fakes.

pub mod elastic;
pub mod findings;
pub mod notifications;
pub mod query;
pub mod retention;
pub mod sqlite;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use compliance_core::error::{Classify, ErrorKind};
use compliance_core::model::{BenchmarkDocument, CisBenchmarkNode, ReportDocument};

pub use compliance_core::report::QueryWindow;
pub use elastic::{ElasticConfig, ElasticStore};
pub use findings::{DEFAULT_LIFECYCLE_REPORTS, FINDINGS_PAGE};
pub use notifications::LedgerEntry;
pub use query::{
    DEFAULT_MAX_ITEMS, NodeRow, OrderColumn, ReportHead, ReportPage, ReportQuery, SortField,
    SortKey,
};
pub use retention::{Pruned, Retention};
pub use sqlite::{OpenMode, SqliteStore};

/// What a benchmark query read, for the reporter's summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Documents handed to the sink.
    pub documents: u64,
    /// Documents that could not be decoded and were skipped (each logged with a warning).
    pub skipped: u64,
    /// Requests sent to a remote store during the query (0 for SQLite). Counted by the
    /// store as a whole, so a store shared with concurrent calls counts theirs too.
    pub requests: u64,
    /// Response bytes read from a remote store, after decompression (0 for SQLite); like
    /// `requests`, counted by the whole store.
    pub bytes_read: u64,
}

/// Why the source of documents handed to [`Store::put_benchmarks`] failed.
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
    /// A write SQLite refused for a reason outside the program: a full disk, a read-only
    /// file or mount, or a write lock another process held past the busy timeout. Said in
    /// words, with what to do, since SQLite's own text ("disk I/O error", error code
    /// 4874) names none of them.
    #[error("database {path}: {blocked}")]
    SqliteBlocked {
        path: PathBuf,
        blocked: sqlite::Blocked,
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
        timestamp: chrono::DateTime<chrono::Utc>,
        detail: String,
    },
    #[error("cannot encode {what}: {detail}")]
    Encode { what: String, detail: String },
    /// A query that cannot be answered as asked (a page number so large that its first
    /// report's position overflows).
    #[error("invalid report query: {0}")]
    Query(String),
    /// The thread a read ran on panicked or was cancelled.
    #[error("a store task failed: {0}")]
    Task(String),
    /// The runtime of a [`BlockingStore`] could not be started.
    #[error("cannot start the store's IO runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The report was deleted (or replaced by a re-run) while it was being read.
    #[error("report {id} is no longer stored (deleted or re-stored while it was read)")]
    Gone { id: String },
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
    /// bad input documents and queries are invalid; a database that is not ours (or is
    /// damaged) and a failed task are internal; everything else may pass when run again:
    /// unavailable. A missing SQLite file counts as unavailable too: the store is not
    /// there (yet), the input is fine.
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Elastic(e) => e.kind(),
            StoreError::Input { .. }
            | StoreError::InvalidDocument { .. }
            | StoreError::Query(_) => ErrorKind::Invalid,
            StoreError::Gone { .. } => ErrorKind::NotFound,
            StoreError::Corrupt { .. } | StoreError::Encode { .. } | StoreError::Task(_) => {
                ErrorKind::Internal
            }
            StoreError::Open { .. }
            | StoreError::Missing { .. }
            | StoreError::Sqlite { .. }
            | StoreError::SqliteBlocked { .. }
            | StoreError::Runtime(_) => ErrorKind::Unavailable,
        }
    }
}

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

/// Benchmark results and reports in one of the backends; clones share it.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Arc<Backend>,
}

#[derive(Debug)]
enum Backend {
    Sqlite(SqliteStore),
    /// Boxed: its clients, caches and limits are far larger than a SQLite handle.
    Elastic(Box<ElasticStore>),
}

impl From<SqliteStore> for Store {
    fn from(s: SqliteStore) -> Store {
        Store {
            backend: Arc::new(Backend::Sqlite(s)),
        }
    }
}

impl From<ElasticStore> for Store {
    fn from(s: ElasticStore) -> Store {
        Store {
            backend: Arc::new(Backend::Elastic(Box::new(s))),
        }
    }
}

impl Store {
    /// Opens the configured store. `Create` makes an empty SQLite database when the file
    /// does not exist (writers); `Existing` refuses to, so a mistyped path in `reports
    /// list` is an error rather than an empty list. Opening a cluster sends nothing (the
    /// first read or write shows whether it is reachable), and `mode` has no meaning
    /// there: readers of a missing index get an empty result, not an error.
    pub fn open(datastore: &Datastore, mode: OpenMode) -> Result<Store, StoreError> {
        match datastore {
            Datastore::Sqlite(path) => Ok(SqliteStore::open(path, mode)?.into()),
            Datastore::Elastic(config) => Ok(ElasticStore::connect(config)?.into()),
        }
    }

    /// The Elasticsearch backend, for what only it does (`elastic setup`, statistics).
    pub fn elastic(&self) -> Option<&ElasticStore> {
        match &*self.backend {
            Backend::Elastic(es) => Some(es),
            Backend::Sqlite(_) => None,
        }
    }

    /// One page of the reports matching `query`, and how many match in all.
    ///
    /// A report id stored twice in Elasticsearch (see `docs/elasticsearch.md`) is listed
    /// once per copy here; [`Store::all_reports`] keeps the newest copy only.
    pub async fn list_reports(&self, query: &ReportQuery) -> Result<ReportPage, StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.list_reports(query).await,
            Backend::Elastic(es) => Ok(es.list_reports(query).await?),
        }
    }

    /// Every stored report, each id once, in the default order (newest window first, then
    /// by name and id): `reports list`. Elasticsearch reads them through a point in time,
    /// so no result window limits it.
    pub async fn all_reports(&self) -> Result<Vec<ReportHead>, StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.all_reports().await,
            Backend::Elastic(es) => Ok(es.all_reports().await?),
        }
    }

    /// The report of GlobalReport `name` with the latest endTime (of those, the latest
    /// generationTime, then the smallest id), in one query.
    pub async fn latest_report(&self, name: &str) -> Result<Option<ReportHead>, StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.latest_report(name).await,
            Backend::Elastic(es) => Ok(es.latest_report(name).await?),
        }
    }

    /// Everything of report `id` but its nodes, or `None` when no report has this id.
    pub async fn report_head(&self, id: &str) -> Result<Option<ReportHead>, StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.report_head(id).await,
            Backend::Elastic(es) => Ok(es.report_head(id).await?),
        }
    }

    /// Up to `limit` nodes of report `id` from position `offset`, in report order (by node
    /// name); `None` when no report has this id. Past the last node the page is empty.
    pub async fn report_nodes(
        &self,
        id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Option<Vec<CisBenchmarkNode>>, StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.report_nodes(id, offset, limit).await,
            Backend::Elastic(es) => Ok(es.report_nodes(id, offset, limit).await?),
        }
    }

    /// Every node of report `id` without its test results, in report order; `None` when
    /// no report has this id. SQLite reads the summary columns only; Elasticsearch reads
    /// the report's nodes and drops their results as they arrive.
    pub async fn report_node_rows(&self, id: &str) -> Result<Option<Vec<NodeRow>>, StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.report_node_rows(id).await,
            Backend::Elastic(es) => {
                let Some(mut open) = es.open_nodes(id).await? else {
                    return Ok(None);
                };
                let mut rows = Vec::new();
                loop {
                    let page = es.more_nodes(&mut open, 500).await?;
                    if page.is_empty() {
                        return Ok(Some(rows));
                    }
                    for n in &page {
                        rows.push(NodeRow::of(rows.len() as u64, n));
                    }
                }
            }
        }
    }

    /// The names of the GlobalReports with stored reports, each once, sorted: what a
    /// server asks RBAC about, one name at a time.
    pub async fn report_names(&self) -> Result<Vec<String>, StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.report_names().await,
            Backend::Elastic(es) => {
                let mut names: Vec<String> = es
                    .all_reports()
                    .await?
                    .into_iter()
                    .map(|h| h.report_name)
                    .collect();
                names.sort();
                names.dedup();
                Ok(names)
            }
        }
    }

    /// A cursor over the nodes of report `id` in report order, a page at a time: how a
    /// whole report is read without holding it (streamed downloads, the server's
    /// indexes). Each backend reads the report once in all: SQLite seeks each page by
    /// position; Elasticsearch reads the report's document once, then its parts in
    /// order. A report that is missing, on opening or part way, is [`StoreError::Gone`].
    pub async fn nodes(&self, id: &str) -> Result<NodeCursor, StoreError> {
        let state = match &*self.backend {
            Backend::Sqlite(_) => CursorState::Sqlite { next: 0 },
            Backend::Elastic(es) => {
                CursorState::Elastic(Box::new(es.open_nodes(id).await?.ok_or_else(|| gone(id))?))
            }
        };
        Ok(NodeCursor {
            store: self.clone(),
            id: id.to_string(),
            state,
        })
    }

    /// The whole report, or `None` when no report has this id.
    pub async fn get_report(&self, id: &str) -> Result<Option<ReportDocument>, StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.get_report(id).await,
            Backend::Elastic(es) => Ok(es.get_report(id).await?),
        }
    }

    /// Stores every document: all of them or none (SQLite: one transaction;
    /// Elasticsearch: acknowledged batches stay, see `docs/elasticsearch.md`). A document
    /// with the same node and timestamp as a stored one replaces it, so re-importing a
    /// file does not duplicate it. Returns how many were stored.
    ///
    /// The documents may come from a reader that fails part way (a truncated stream): an
    /// `Err` item aborts the call with [`StoreError::Input`]. SQLite writes on the calling
    /// thread, so that `docs` need not be `Send`; a server should not call it from an
    /// async worker.
    pub async fn put_benchmarks<I>(&self, docs: I) -> Result<u64, StoreError>
    where
        I: Iterator<Item = Result<BenchmarkDocument, InputError>>,
    {
        match &*self.backend {
            Backend::Sqlite(s) => s.put_benchmarks(docs),
            Backend::Elastic(es) => es.put_benchmarks(docs).await,
        }
    }

    /// Hands `sink`, for every node with a document whose timestamp lies in `window`,
    /// its latest document without `error`, or its latest errored document when it has
    /// no other (docs/spec.md §4.2). Reads O(nodes) documents, not every document of the window.
    /// The order is the store's (SQLite: by node name; Elasticsearch: good documents by
    /// node name, then errored ones), and a node may be offered twice (a good and an
    /// errored document); the report core sorts and chooses.
    pub async fn latest_per_node<F>(
        &self,
        window: &QueryWindow,
        sink: F,
    ) -> Result<QueryStats, StoreError>
    where
        F: FnMut(BenchmarkDocument),
    {
        match &*self.backend {
            Backend::Sqlite(s) => s.latest_per_node(window, sink).await,
            Backend::Elastic(es) => es.latest_per_node(window, sink).await,
        }
    }

    /// For each of `nodes`, the timestamp of its newest benchmark document of any age,
    /// errored ones included; a node without any document is absent from the map. What a
    /// report shows for a node without a result in its look-back (`lastResultTime`).
    /// SQLite seeks the (node_name, timestamp) index once per node; Elasticsearch asks in
    /// batches of [`elastic::request::LAST_RESULT_BATCH`] names.
    pub async fn last_result_times(
        &self,
        nodes: &[String],
    ) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.last_result_times(nodes).await,
            Backend::Elastic(es) => Ok(es.last_result_times(nodes).await?),
        }
    }

    /// The node names of the newest stored report of GlobalReport `report_name` whose
    /// endTime is at most `end` (an earlier run of the same window included), in report
    /// order, without the cluster-scoped entry
    /// ([`compliance_core::model::CLUSTER_SCOPE_NODE_NAME`]); nodes that report listed
    /// with `noResults` are kept. `None` when there is no such report. "Newest" is as in
    /// [`Store::latest_report`]: latest endTime, then latest generationTime, then the
    /// smallest id. Reads names only, never results.
    pub async fn previous_report_nodes(
        &self,
        report_name: &str,
        end: DateTime<Utc>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.previous_report_nodes(report_name, end).await,
            Backend::Elastic(es) => Ok(es.previous_report_nodes(report_name, end).await?),
        }
    }

    /// Stores `report` under its id, replacing a previous report with the same id. On
    /// failure the previous report is left exactly as it was. SQLite writes on the calling
    /// thread (one transaction).
    pub async fn put_report(&self, report: &ReportDocument) -> Result<(), StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.put_report(report),
            Backend::Elastic(es) => Ok(es.put_report(report).await?),
        }
    }

    /// Deletes report `id` with its nodes: `false` when no report has this id. SQLite
    /// deletes it in one transaction on the calling thread; Elasticsearch deletes every
    /// copy of its document, then its parts, so readers never see part of a report.
    pub async fn delete_report(&self, id: &str) -> Result<bool, StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.delete_report(id),
            Backend::Elastic(es) => Ok(es.delete_report(id).await?),
        }
    }

    /// Deletes the benchmark documents and reports that `retention` lets go at `now`
    /// ([`retention`] has the rules), or only counts them on a `dry_run`. SQLite prunes on
    /// the calling thread, in one transaction. Elasticsearch returns `None` and sends
    /// nothing: its index lifecycle policies, installed by `compliancectl elastic setup`,
    /// delete old indices by themselves.
    pub async fn prune(
        &self,
        retention: &Retention,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Option<Pruned>, StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.prune(retention, now, dry_run).map(Some),
            Backend::Elastic(_) => Ok(None),
        }
    }
}

/// The nodes of one report, read in order a page at a time ([`Store::nodes`]).
#[derive(Debug)]
pub struct NodeCursor {
    store: Store,
    id: String,
    state: CursorState,
}

#[derive(Debug)]
enum CursorState {
    Sqlite { next: u64 },
    Elastic(Box<elastic::reports::ElasticNodes>),
}

fn gone(id: &str) -> StoreError {
    StoreError::Gone { id: id.to_string() }
}

impl NodeCursor {
    /// The next `limit` nodes (fewer at the end); empty once every node was read.
    pub async fn next(&mut self, limit: u64) -> Result<Vec<CisBenchmarkNode>, StoreError> {
        match (&mut self.state, &*self.store.backend) {
            (CursorState::Sqlite { next }, Backend::Sqlite(s)) => {
                let page = s
                    .report_nodes(&self.id, *next, limit)
                    .await?
                    .ok_or_else(|| gone(&self.id))?;
                *next += page.len() as u64;
                Ok(page)
            }
            (CursorState::Elastic(nodes), Backend::Elastic(es)) => {
                let limit = usize::try_from(limit).unwrap_or(usize::MAX);
                Ok(es.more_nodes(nodes, limit).await?)
            }
            _ => Err(StoreError::Task(
                "a node cursor was used with another store".into(),
            )),
        }
    }
}

/// A [`Store`] with a current-thread runtime of its own: the same methods, synchronous.
///
/// For the one-shot binaries and threads of their own (the benchmarker's writer), never
/// from inside another runtime (tokio refuses to block a thread that drives one).
#[derive(Debug)]
pub struct BlockingStore {
    store: Store,
    runtime: tokio::runtime::Runtime,
    /// Applied after each successful write ([`BlockingStore::with_retention`]).
    retention: Option<Retention>,
    /// When this process last pruned after a write.
    last_pruned: Mutex<Option<DateTime<Utc>>>,
}

impl BlockingStore {
    /// Opens the store as [`Store::open`] does and starts the runtime.
    pub fn open(datastore: &Datastore, mode: OpenMode) -> Result<BlockingStore, StoreError> {
        BlockingStore::new(Store::open(datastore, mode)?)
    }

    /// Wraps an open store.
    pub fn new(store: Store) -> Result<BlockingStore, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StoreError::Runtime)?;
        Ok(BlockingStore {
            store,
            runtime,
            retention: None,
            last_pruned: Mutex::new(None),
        })
    }

    /// Prunes by `retention` after successful writes: after the first, then at most once
    /// per [`retention::PRUNE_INTERVAL`] ([`retention::prune_due`]). What was pruned is
    /// logged; a prune that fails is logged as a warning and leaves the write that
    /// preceded it stored and successful. Elasticsearch prunes by itself: nothing is done.
    pub fn with_retention(mut self, retention: Retention) -> BlockingStore {
        self.retention = Some(retention);
        self
    }

    /// The pruning after a write, when one is due.
    fn after_write(&self) {
        let Some(retention) = &self.retention else {
            return;
        };
        if self.store.elastic().is_some() {
            return;
        }
        let now = Utc::now();
        {
            let mut last = self
                .last_pruned
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !retention::prune_due(*last, now) {
                return;
            }
            *last = Some(now);
        }
        let started = std::time::Instant::now();
        match self.block_on(self.store.prune(retention, now, false)) {
            Ok(Some(p)) if !p.is_empty() => tracing::info!(
                documents = p.documents,
                reports = p.reports,
                report_nodes = p.report_nodes,
                freed_bytes = p.freed_bytes,
                ms = started.elapsed().as_millis() as u64,
                "pruned what the retention lets go"
            ),
            Ok(_) => tracing::debug!(
                ms = started.elapsed().as_millis() as u64,
                "nothing to prune"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "pruning by retention failed; the write succeeded, and a write after the prune interval tries again"
            ),
        }
    }

    /// The async store inside, e.g. for [`Store::elastic`].
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs `future` (usually a call on [`BlockingStore::store`]) to completion.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// [`Store::list_reports`].
    pub fn list_reports(&self, query: &ReportQuery) -> Result<ReportPage, StoreError> {
        self.block_on(self.store.list_reports(query))
    }

    /// [`Store::all_reports`].
    pub fn all_reports(&self) -> Result<Vec<ReportHead>, StoreError> {
        self.block_on(self.store.all_reports())
    }

    /// [`Store::latest_report`].
    pub fn latest_report(&self, name: &str) -> Result<Option<ReportHead>, StoreError> {
        self.block_on(self.store.latest_report(name))
    }

    /// [`Store::report_head`].
    pub fn report_head(&self, id: &str) -> Result<Option<ReportHead>, StoreError> {
        self.block_on(self.store.report_head(id))
    }

    /// [`Store::report_nodes`].
    pub fn report_nodes(
        &self,
        id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Option<Vec<CisBenchmarkNode>>, StoreError> {
        self.block_on(self.store.report_nodes(id, offset, limit))
    }

    /// [`Store::get_report`].
    pub fn get_report(&self, id: &str) -> Result<Option<ReportDocument>, StoreError> {
        self.block_on(self.store.get_report(id))
    }

    /// [`Store::put_benchmarks`], then a prune when one is due
    /// ([`BlockingStore::with_retention`]).
    pub fn put_benchmarks(
        &self,
        docs: impl Iterator<Item = Result<BenchmarkDocument, InputError>>,
    ) -> Result<u64, StoreError> {
        let stored = self.block_on(self.store.put_benchmarks(docs))?;
        self.after_write();
        Ok(stored)
    }

    /// [`Store::latest_per_node`]. SQLite reads on this thread rather than tokio's
    /// blocking pool (see [`SqliteStore::latest_per_node_here`]): nothing else runs here
    /// meanwhile.
    pub fn latest_per_node(
        &self,
        window: &QueryWindow,
        mut sink: impl FnMut(BenchmarkDocument),
    ) -> Result<QueryStats, StoreError> {
        match &*self.store.backend {
            Backend::Sqlite(s) => s.latest_per_node_here(window, &mut sink),
            Backend::Elastic(_) => self.block_on(self.store.latest_per_node(window, sink)),
        }
    }

    /// [`Store::last_result_times`].
    pub fn last_result_times(
        &self,
        nodes: &[String],
    ) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
        self.block_on(self.store.last_result_times(nodes))
    }

    /// [`Store::previous_report_nodes`].
    pub fn previous_report_nodes(
        &self,
        report_name: &str,
        end: DateTime<Utc>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        self.block_on(self.store.previous_report_nodes(report_name, end))
    }

    /// [`Store::put_report`], then a prune when one is due
    /// ([`BlockingStore::with_retention`]).
    pub fn put_report(&self, report: &ReportDocument) -> Result<(), StoreError> {
        self.block_on(self.store.put_report(report))?;
        self.after_write();
        Ok(())
    }

    /// [`Store::delete_report`].
    pub fn delete_report(&self, id: &str) -> Result<bool, StoreError> {
        self.block_on(self.store.delete_report(id))
    }

    /// [`Store::prune`].
    pub fn prune(
        &self,
        retention: &Retention,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Option<Pruned>, StoreError> {
        self.block_on(self.store.prune(retention, now, dry_run))
    }
}

/// Where benchmark results live, synchronously: the seam the benchmarker's writer and the
/// reporter take, so tests can give them a fake. [`BlockingStore`] is the real one; the
/// methods mean what [`Store`]'s do.
pub trait BenchmarkStore {
    fn put_benchmarks(
        &mut self,
        docs: &mut dyn Iterator<Item = Result<BenchmarkDocument, InputError>>,
    ) -> Result<u64, StoreError>;

    fn latest_per_node(
        &self,
        window: &QueryWindow,
        sink: &mut dyn FnMut(BenchmarkDocument),
    ) -> Result<QueryStats, StoreError>;

    /// [`Store::last_result_times`]. The default, for stores that keep no history (test
    /// fakes), knows of no document: an empty map.
    fn last_result_times(
        &self,
        nodes: &[String],
    ) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
        let _ = nodes;
        Ok(HashMap::new())
    }
}

/// Where reports are written and read back, synchronously (see [`BenchmarkStore`]).
pub trait ReportStore {
    fn put_report(&mut self, report: &ReportDocument) -> Result<(), StoreError>;

    fn get_report(&self, id: &str) -> Result<Option<ReportDocument>, StoreError>;

    /// [`Store::previous_report_nodes`]. The default, for stores that keep no history
    /// (test fakes), knows of no previous report: `None`.
    fn previous_report_nodes(
        &self,
        report_name: &str,
        end: DateTime<Utc>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let _ = (report_name, end);
        Ok(None)
    }
}

/// What a report job needs: benchmark results in, a report out.
pub trait BatchStore: BenchmarkStore + ReportStore {}
impl<T: BenchmarkStore + ReportStore> BatchStore for T {}

impl BenchmarkStore for BlockingStore {
    fn put_benchmarks(
        &mut self,
        docs: &mut dyn Iterator<Item = Result<BenchmarkDocument, InputError>>,
    ) -> Result<u64, StoreError> {
        BlockingStore::put_benchmarks(self, docs)
    }

    fn latest_per_node(
        &self,
        window: &QueryWindow,
        sink: &mut dyn FnMut(BenchmarkDocument),
    ) -> Result<QueryStats, StoreError> {
        BlockingStore::latest_per_node(self, window, sink)
    }

    fn last_result_times(
        &self,
        nodes: &[String],
    ) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
        BlockingStore::last_result_times(self, nodes)
    }
}

impl ReportStore for BlockingStore {
    fn put_report(&mut self, report: &ReportDocument) -> Result<(), StoreError> {
        BlockingStore::put_report(self, report)
    }

    fn get_report(&self, id: &str) -> Result<Option<ReportDocument>, StoreError> {
        BlockingStore::get_report(self, id)
    }

    fn previous_report_nodes(
        &self,
        report_name: &str,
        end: DateTime<Utc>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        BlockingStore::previous_report_nodes(self, report_name, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a server needs to share one store among its requests, checked at compile time.
    #[test]
    fn stores_and_their_futures_can_be_shared_between_threads() {
        fn shared<T: Send + Sync + Clone + 'static>() {}
        fn sent<T: Send>(_: &T) {}
        shared::<Store>();
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(dir.path().join("c.db"), OpenMode::Create).unwrap();
        // Nothing is sent until a future is polled, and none is.
        let url = url::Url::parse("http://127.0.0.1:9").unwrap();
        let es = ElasticStore::connect(&ElasticConfig::new(url)).unwrap();
        let window = QueryWindow {
            start: chrono::DateTime::UNIX_EPOCH,
            end: chrono::DateTime::UNIX_EPOCH,
        };
        let query = ReportQuery::default();
        for store in [Store::from(sqlite), Store::from(es)] {
            sent(&store.list_reports(&query));
            sent(&store.latest_report("daily"));
            sent(&store.report_head("id"));
            sent(&store.report_nodes("id", 0, 10));
            sent(&store.get_report("id"));
            sent(&store.all_reports());
            sent(&store.latest_per_node(&window, |_| {}));
            sent(&store.put_benchmarks(std::iter::empty()));
            sent(&store.prune(&Retention::default(), window.end, true));
            sent(&store.last_result_times(&[]));
            sent(&store.previous_report_nodes("daily", window.end));
        }
    }

    /// A deleted report is gone whole, head and nodes, on both backends (Elasticsearch
    /// with the report stored in parts too); the other reports stay; deleting it again
    /// says there was nothing to delete.
    #[tokio::test(flavor = "multi_thread")]
    async fn deleting_a_report_removes_it_whole_and_nothing_else() {
        use compliance_testkit::reports::{fixture_report, synthetic_report};
        let end = |d: u32| chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, d, 0, 0, 0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let fake = compliance_testkit::fake_es::FakeEs::start();
        let sqlite: Store = SqliteStore::open(dir.path().join("c.db"), OpenMode::Create)
            .unwrap()
            .into();
        let mut config = ElasticConfig::new(url::Url::parse(&fake.url()).unwrap());
        // Small requests: the 40-node report is stored in parts.
        config.max_request_bytes = 64 << 10;
        let es: Store = ElasticStore::connect(&config).unwrap().into();
        let parts_of = |id: &str| {
            fake.indices()
                .iter()
                .flat_map(|i| fake.documents(i))
                .filter(|(_, doc)| doc["reportId"] == serde_json::json!(id))
                .count()
        };
        for (store, parts) in [(sqlite, false), (es, true)] {
            let kept = fixture_report(end(1));
            let mut gone = synthetic_report(40, end(2), 7);
            gone.report_name = kept.report_name.clone();
            gone.id = format!("{}-gone", kept.id);
            store.put_report(&kept).await.unwrap();
            store.put_report(&gone).await.unwrap();
            if parts {
                assert!(parts_of(&gone.id) > 1, "the report is stored in parts");
            }
            assert!(store.delete_report(&gone.id).await.unwrap());
            assert_eq!(parts_of(&gone.id), 0, "no part is left behind");
            assert!(store.report_head(&gone.id).await.unwrap().is_none());
            assert!(store.get_report(&gone.id).await.unwrap().is_none());
            assert!(store.report_nodes(&gone.id, 0, 10).await.unwrap().is_none());
            assert!(store.report_node_rows(&gone.id).await.unwrap().is_none());
            let ids: Vec<String> = store
                .all_reports()
                .await
                .unwrap()
                .into_iter()
                .map(|h| h.id)
                .collect();
            assert_eq!(ids, std::slice::from_ref(&kept.id));
            assert_eq!(
                store
                    .latest_report(&kept.report_name)
                    .await
                    .unwrap()
                    .unwrap()
                    .id,
                kept.id
            );
            assert_eq!(
                store.get_report(&kept.id).await.unwrap().unwrap().id,
                kept.id
            );
            assert!(!store.delete_report(&gone.id).await.unwrap());
        }
        fake.assert_no_violations();
    }

    /// Elasticsearch deletes old indices by its lifecycle policies: a prune there is
    /// `None` and sends nothing (nothing listens on the port).
    #[test]
    fn elasticsearch_prunes_by_itself_and_prune_sends_nothing() {
        let url = url::Url::parse("http://127.0.0.1:9").unwrap();
        let store = BlockingStore::new(
            ElasticStore::connect(&ElasticConfig::new(url))
                .unwrap()
                .into(),
        )
        .unwrap()
        .with_retention(Retention::default());
        let now = chrono::DateTime::UNIX_EPOCH;
        assert_eq!(
            store.prune(&Retention::default(), now, false).unwrap(),
            None
        );
        assert_eq!(store.prune(&Retention::default(), now, true).unwrap(), None);
    }

    /// New failures keep to the kinds: a query the store cannot answer as asked is the
    /// caller's to change (HTTP 400, exit 2), a failed task a bug, no runtime a resource
    /// shortage that may pass.
    #[test]
    fn every_error_has_a_kind() {
        let kind = |e: StoreError| e.kind();
        assert_eq!(kind(StoreError::Query("x".into())), ErrorKind::Invalid);
        assert_eq!(kind(StoreError::Task("x".into())), ErrorKind::Internal);
        assert_eq!(
            kind(StoreError::Runtime(std::io::Error::other("x"))),
            ErrorKind::Unavailable
        );
        let deep = elastic::ElasticError::ResultWindow {
            page: 100,
            max_items: 100,
            window: 10_000,
        };
        assert_eq!(kind(deep.into()), ErrorKind::Invalid);
        assert_eq!(ErrorKind::Invalid.http_status(), 400);
    }
}
