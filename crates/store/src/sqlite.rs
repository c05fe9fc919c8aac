//! The embedded store: benchmark results and reports in one SQLite file.
//!
//! Size drives the layout. Ten thousand nodes storing a document every hour make 240,000
//! documents a day, each repeating the same ~130 descriptions and remediation texts: about
//! 10 GB a day as JSON. Here every distinct test text is stored once, in `test_texts`, and
//! a document's or report node's results are a blob of catalogue ids and status bytes
//! (formats in [`codec`]), about two bytes per test. Readers load the catalogue once per
//! query, so every document of a query shares the same `Arc<TestText>`s.
//!
//! Schema version 1, recorded in `PRAGMA user_version`; `PRAGMA application_id` marks the
//! file as this program's, so that another program's database is refused, never altered:
//!
//! ```sql
//! test_texts     (id INTEGER PRIMARY KEY, section, section_desc, test_number, test_desc,
//!                 test_info, UNIQUE (all five))
//! benchmark_docs (id INTEGER PRIMARY KEY, node_name, timestamp /* unix ms */, errored,
//!                 version, kubernetes_version, type, error, cluster, tests BLOB)
//!                 + UNIQUE INDEX benchmark_docs_node_time (node_name, timestamp)
//! reports        (report_key INTEGER PRIMARY KEY, id UNIQUE, report_name,
//!                 report_type_name, start_time, end_time, generation_time,
//!                 generated_time /* unix ns */, summary_type, high_count, med_count,
//!                 low_count, node_count, head /* JSON: reportSpec, reportTypeSpec,
//!                 uiSummary, cluster */)
//! report_nodes   (report_key, ordinal, node_name, kubernetes_version, benchmarks_version,
//!                 error, status, total_pass, total_fail, total_info, total, results BLOB,
//!                 PRIMARY KEY (report_key, ordinal))
//! ```
//!
//! Report nodes point at their report by an integer key rather than the report id: the id
//! is ~60 characters and would be repeated on each of 10,000 rows and in their index.
//!
//! Connections use WAL journaling, so that `reports list` and the dashboard can read while
//! a reporter or an import writes, and wait up to [`BUSY_TIMEOUT`] for another writer.

mod codec;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::FromSqlError;
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior,
    params,
};
use serde::{Deserialize, Serialize};

use super::{
    BenchmarkStore, InputError, QueryStats, QueryWindow, ReportListing, ReportStore, StoreError,
};
use codec::{DecodeError, StatusInterner};
use compliance_core::model::{
    BenchmarkDocument, BenchmarkTest, CisBenchmarkNode, CisBenchmarkSummary, GlobalReportSpec,
    GlobalReportTypeSpec, NodeSummary, Rating, ReportDocument, TestText,
};

/// Schema version this program writes and reads, kept in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i32 = 1;

/// `PRAGMA application_id` of a compliance database: "CISK" in ASCII.
pub const APPLICATION_ID: i32 = 0x4349_534B;

/// How long a statement waits for another process's write lock before failing: 10 s.
///
/// Long enough to sit out an import of a day of results (a few seconds), short enough
/// that a stuck writer shows up as an error instead of a hung reporter Job.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Page cache of a connection: 32 MiB, against SQLite's default of 2 MiB.
///
/// An import inserts into the (node_name, timestamp) index in node order while documents
/// arrive in time order; with the default cache most of those inserts re-read index pages.
const CACHE_KIB: i64 = 32 * 1024;

/// Size the write-ahead log is cut back to after a checkpoint: 64 MiB.
///
/// One import of a day's results writes ~100 MB of pages through the log; without a limit
/// a long-lived connection would keep a log file of that size next to the database.
const WAL_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

const SCHEMA: &str = "
CREATE TABLE test_texts (
    id           INTEGER PRIMARY KEY,
    section      TEXT NOT NULL,
    section_desc TEXT NOT NULL,
    test_number  TEXT NOT NULL,
    test_desc    TEXT NOT NULL,
    test_info    TEXT NOT NULL,
    UNIQUE (section, section_desc, test_number, test_desc, test_info)
);
CREATE TABLE benchmark_docs (
    id                 INTEGER PRIMARY KEY,
    node_name          TEXT    NOT NULL,
    timestamp          INTEGER NOT NULL,
    errored            INTEGER NOT NULL,
    version            TEXT    NOT NULL,
    kubernetes_version TEXT    NOT NULL,
    type               TEXT    NOT NULL,
    error              TEXT    NOT NULL,
    cluster            TEXT    NOT NULL,
    tests              BLOB    NOT NULL
);
CREATE UNIQUE INDEX benchmark_docs_node_time ON benchmark_docs (node_name, timestamp);
CREATE TABLE reports (
    report_key       INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    report_name      TEXT    NOT NULL,
    report_type_name TEXT    NOT NULL,
    start_time       INTEGER NOT NULL,
    end_time         INTEGER NOT NULL,
    generation_time  INTEGER NOT NULL,
    generated_time   INTEGER NOT NULL,
    summary_type     TEXT    NOT NULL,
    high_count       INTEGER NOT NULL,
    med_count        INTEGER NOT NULL,
    low_count        INTEGER NOT NULL,
    node_count       INTEGER NOT NULL,
    head             TEXT    NOT NULL
);
CREATE TABLE report_nodes (
    report_key         INTEGER NOT NULL,
    ordinal            INTEGER NOT NULL,
    node_name          TEXT    NOT NULL,
    kubernetes_version TEXT    NOT NULL,
    benchmarks_version TEXT    NOT NULL,
    error              TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    total_pass         INTEGER NOT NULL,
    total_fail         INTEGER NOT NULL,
    total_info         INTEGER NOT NULL,
    total              INTEGER NOT NULL,
    results            BLOB    NOT NULL,
    PRIMARY KEY (report_key, ordinal)
);
";

const INSERT_TEXT: &str = "INSERT INTO test_texts \
    (section, section_desc, test_number, test_desc, test_info) VALUES (?1, ?2, ?3, ?4, ?5)";

const INSERT_DOC: &str = "INSERT OR REPLACE INTO benchmark_docs \
    (node_name, timestamp, errored, version, kubernetes_version, type, error, cluster, tests) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

const FIRST_NODE: &str = "SELECT node_name FROM benchmark_docs ORDER BY node_name LIMIT 1";

const NEXT_NODE: &str =
    "SELECT node_name FROM benchmark_docs WHERE node_name > ?1 ORDER BY node_name LIMIT 1";

/// One node's documents of one kind in a window, newest first. Served by the
/// (node_name, timestamp) index walked backwards: the first row is usually the answer.
const NODE_DOCS: &str = "SELECT timestamp, version, kubernetes_version, type, error, cluster, tests \
    FROM benchmark_docs \
    WHERE node_name = ?1 AND errored = ?2 AND timestamp BETWEEN ?3 AND ?4 \
    ORDER BY timestamp DESC";

const INSERT_REPORT: &str = "INSERT INTO reports \
    (id, report_name, report_type_name, start_time, end_time, generation_time, generated_time, \
     summary_type, high_count, med_count, low_count, node_count, head) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

const INSERT_NODE: &str = "INSERT INTO report_nodes \
    (report_key, ordinal, node_name, kubernetes_version, benchmarks_version, error, status, \
     total_pass, total_fail, total_info, total, results) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

const LISTING_COLUMNS: &str = "id, report_name, report_type_name, start_time, end_time, \
    generation_time, summary_type, high_count, med_count, low_count, node_count";

/// Whether [`SqliteStore::open`] may create the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file and the schema when missing: the reporter and `import`.
    Create,
    /// Fail with [`StoreError::Missing`] when the file does not exist, creating nothing:
    /// `reports list` and `reports show`, where a missing file means a mistyped path.
    Existing,
}

/// Benchmark results and reports in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

/// What [`SqliteStore::open`] found in the file before touching it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SchemaState {
    /// An empty database (a new or zero-length file): the schema is to be created.
    Empty,
    /// A compliance database of this schema version.
    Current,
}

impl SqliteStore {
    /// Opens the database at `path`, creating it when `mode` allows.
    ///
    /// The file is only read until it is known to be a compliance database of this
    /// version or an empty one: a text file, random bytes, another program's database or
    /// a newer schema give [`StoreError::Corrupt`] and leave the file byte for byte as it
    /// was. Then the journal is switched to WAL and, for an empty file, the schema created.
    pub fn open(path: impl AsRef<Path>, mode: OpenMode) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        // No URI flag: the path is a file name, never a `file:` URI with options in it.
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        match mode {
            OpenMode::Create => flags |= OpenFlags::SQLITE_OPEN_CREATE,
            OpenMode::Existing if !path.exists() => return Err(StoreError::Missing { path }),
            OpenMode::Existing => {}
        }
        let conn = match Connection::open_with_flags(&path, flags) {
            Ok(conn) => conn,
            // Deleted between the check and the open.
            Err(_) if mode == OpenMode::Existing && !path.exists() => {
                return Err(StoreError::Missing { path });
            }
            Err(source) => return Err(StoreError::Open { path, source }),
        };
        let store = SqliteStore { conn, path };
        store.init()?;
        Ok(store)
    }

    /// The file this store reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(&self) -> Result<(), StoreError> {
        let err = |e| sql_error(&self.path, e);
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        let state = self.schema_state(&self.conn)?;
        // Only now, with the file known to be ours or empty, may anything be written.
        self.enable_wal()?;
        self.conn
            .pragma_update(None, "journal_size_limit", WAL_LIMIT_BYTES)
            .map_err(err)?;
        self.conn
            .pragma_update(None, "cache_size", -CACHE_KIB)
            .map_err(err)?;
        if state == SchemaState::Empty {
            self.create_schema()?;
        }
        Ok(())
    }

    /// Switches the file to WAL journaling (a no-op when it already is).
    ///
    /// Changing the journal mode needs the file to itself, and SQLite reports another
    /// connection in the way as busy at once rather than through the busy handler; that
    /// happens when several reporter Jobs open a new file together, so the switch is
    /// retried every 10 ms for up to [`BUSY_TIMEOUT`].
    fn enable_wal(&self) -> Result<(), StoreError> {
        let deadline = Instant::now() + BUSY_TIMEOUT;
        let mode = loop {
            match self
                .conn
                .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get::<_, String>(0))
            {
                Ok(mode) => break mode,
                Err(e)
                    if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(sql_error(&self.path, e)),
            }
        };
        if !mode.eq_ignore_ascii_case("wal") {
            // Some file systems (network mounts) cannot hold the WAL index; the rollback
            // journal still works there, only readers then wait for writers.
            tracing::warn!(
                path = %self.path.display(),
                journal_mode = %mode,
                "database cannot use WAL journaling"
            );
        }
        Ok(())
    }

    /// Reads the header fields that say whose database this is, without writing.
    fn schema_state(&self, conn: &Connection) -> Result<SchemaState, StoreError> {
        let err = |e| sql_error(&self.path, e);
        // One statement, so one snapshot: read one by one, the three could straddle another
        // process creating the schema and look like a foreign database. Reading the header
        // is also what fails on a file that is not SQLite at all.
        let (app, version, objects): (i32, i32, i64) = conn
            .query_row(
                "SELECT (SELECT application_id FROM pragma_application_id), \
                        (SELECT user_version FROM pragma_user_version), \
                        (SELECT count(*) FROM sqlite_master)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(err)?;
        let corrupt = |detail: String| {
            Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail,
            })
        };
        match (app, version) {
            (APPLICATION_ID, SCHEMA_VERSION) => Ok(SchemaState::Current),
            (APPLICATION_ID, v) if v > SCHEMA_VERSION => corrupt(format!(
                "its schema version {v} is newer than this program's ({SCHEMA_VERSION}); \
                 use a newer release"
            )),
            (APPLICATION_ID, v) => corrupt(format!("unknown schema version {v}")),
            (0, 0) if objects == 0 => Ok(SchemaState::Empty),
            (0, 0) => corrupt(format!(
                "it is an SQLite database of another program ({objects} schema objects, \
                 no compliance schema version)"
            )),
            (other, v) => corrupt(format!(
                "it is an SQLite database of another program (application_id {other:#x}, \
                 user_version {v})"
            )),
        }
    }

    fn create_schema(&self) -> Result<(), StoreError> {
        let err = |e| sql_error(&self.path, e);
        // IMMEDIATE takes the write lock first, so of two processes creating the same new
        // file the second waits, sees the first one's schema, and leaves it alone.
        let tx =
            Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(err)?;
        if self.schema_state(&tx)? == SchemaState::Current {
            return tx.commit().map_err(err);
        }
        tx.execute_batch(SCHEMA).map_err(err)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(err)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(err)?;
        tx.commit().map_err(err)
    }
}

/// Maps SQLite's "this is not a database" answers to [`StoreError::Corrupt`].
fn sql_error(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
        _ => StoreError::Sqlite {
            path: path.to_path_buf(),
            source: e,
        },
    }
}

fn corrupt(path: &Path, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Every catalogue row, for readers (id → text) and writers (text → id).
fn read_catalogue(conn: &Connection) -> rusqlite::Result<Vec<(i64, Arc<TestText>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, section, section_desc, test_number, test_desc, test_info FROM test_texts",
    )?;
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            Arc::new(TestText {
                section: r.get(1)?,
                section_desc: r.get(2)?,
                test_number: r.get(3)?,
                test_desc: r.get(4)?,
                test_info: r.get(5)?,
            }),
        ))
    })?
    .collect()
}

/// Finds or adds the catalogue id of each test text during one write transaction.
///
/// Hashing five strings for each of 31 million tests of a day's import would dominate
/// the import, so the id of the text last seen at the same position of a document is
/// tried first: every node lists the same checks in the same order, and when the input
/// shares its texts (as [`compliance_core::model::TextInterner`] does) that check is a pointer
/// comparison.
struct CatalogueWriter {
    by_text: HashMap<Arc<TestText>, i64>,
    by_position: Vec<Option<(Arc<TestText>, i64)>>,
}

impl CatalogueWriter {
    /// Loads the whole catalogue: it holds a few hundred rows per benchmark version, and
    /// with the write lock held no other process can add to it meanwhile.
    fn load(conn: &Connection) -> rusqlite::Result<Self> {
        Ok(CatalogueWriter {
            by_text: read_catalogue(conn)?
                .into_iter()
                .map(|(id, t)| (t, id))
                .collect(),
            by_position: Vec::new(),
        })
    }

    fn id(
        &mut self,
        conn: &Connection,
        position: usize,
        text: &Arc<TestText>,
    ) -> rusqlite::Result<i64> {
        if let Some(Some((seen, id))) = self.by_position.get(position)
            && (Arc::ptr_eq(seen, text) || **seen == **text)
        {
            return Ok(*id);
        }
        let id = match self.by_text.get(&**text) {
            Some(&id) => id,
            None => {
                conn.prepare_cached(INSERT_TEXT)?.execute(params![
                    text.section,
                    text.section_desc,
                    text.test_number,
                    text.test_desc,
                    text.test_info
                ])?;
                let id = conn.last_insert_rowid();
                self.by_text.insert(text.clone(), id);
                id
            }
        };
        if self.by_position.len() <= position {
            self.by_position.resize(position + 1, None);
        }
        self.by_position[position] = Some((text.clone(), id));
        Ok(id)
    }
}

/// The window in the stored unit, milliseconds, keeping both ends inclusive: a start
/// with a fraction of a millisecond rounds up, an end rounds down.
fn window_millis(w: &QueryWindow) -> (i64, i64) {
    let start_fraction = !w.start.timestamp_subsec_nanos().is_multiple_of(1_000_000);
    (
        w.start.timestamp_millis() + i64::from(start_fraction),
        w.end.timestamp_millis(),
    )
}

/// Why a stored benchmark document row could not be read back.
#[derive(Debug, thiserror::Error)]
enum RowError {
    #[error("column {column}: {source}")]
    Column {
        column: &'static str,
        #[source]
        source: FromSqlError,
    },
    #[error("column {0}: {1}")]
    Sqlite(&'static str, #[source] rusqlite::Error),
    #[error("timestamp {0} ms is out of range")]
    Timestamp(i64),
    #[error("tests: {0}")]
    Tests(#[from] DecodeError),
}

const DOC_COLUMNS: [&str; 7] = [
    "timestamp",
    "version",
    "kubernetes_version",
    "type",
    "error",
    "cluster",
    "tests",
];

fn column<'r>(row: &'r Row<'_>, i: usize) -> Result<rusqlite::types::ValueRef<'r>, RowError> {
    row.get_ref(i)
        .map_err(|e| RowError::Sqlite(DOC_COLUMNS[i], e))
}

fn text_column(row: &Row<'_>, i: usize) -> Result<String, RowError> {
    column(row, i)?
        .as_str()
        .map(str::to_owned)
        .map_err(|source| RowError::Column {
            column: DOC_COLUMNS[i],
            source,
        })
}

fn decode_doc(
    node_name: &str,
    row: &Row<'_>,
    texts: &HashMap<i64, Arc<TestText>>,
    statuses: &mut StatusInterner,
) -> Result<BenchmarkDocument, RowError> {
    let column_error = |i: usize| {
        move |source| RowError::Column {
            column: DOC_COLUMNS[i],
            source,
        }
    };
    let millis = column(row, 0)?.as_i64().map_err(column_error(0))?;
    let timestamp = DateTime::from_timestamp_millis(millis).ok_or(RowError::Timestamp(millis))?;
    let blob = column(row, 6)?.as_blob().map_err(column_error(6))?;
    let tests = codec::decode_tests(blob, texts, statuses)?
        .into_iter()
        .map(|(text, status, scored)| BenchmarkTest {
            text,
            status,
            scored,
        })
        .collect();
    Ok(BenchmarkDocument {
        version: text_column(row, 1)?,
        kubernetes_version: text_column(row, 2)?,
        kind: text_column(row, 3)?,
        node_name: node_name.to_owned(),
        timestamp,
        error: text_column(row, 4)?,
        tests,
        cluster: text_column(row, 5)?,
    })
}

/// A stored timestamp for a log line, readable when it is a valid time.
fn describe_millis(millis: Option<i64>) -> String {
    match millis.map(|m| (m, DateTime::from_timestamp_millis(m))) {
        Some((_, Some(t))) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        Some((m, None)) => format!("{m} ms"),
        None => "unreadable".to_owned(),
    }
}

impl BenchmarkStore for SqliteStore {
    /// Validates and stores every document in one IMMEDIATE transaction.
    ///
    /// Timestamps are stored in whole milliseconds, the precision of Elasticsearch's
    /// `date` type, so both stores agree on which documents are the same run.
    fn put_benchmarks(
        &mut self,
        docs: &mut dyn Iterator<Item = Result<BenchmarkDocument, InputError>>,
    ) -> Result<u64, StoreError> {
        let path = self.path.as_path();
        let err = |e| sql_error(path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut catalogue = CatalogueWriter::load(&tx).map_err(err)?;
        let mut insert = tx.prepare_cached(INSERT_DOC).map_err(err)?;
        let mut ids = Vec::new();
        let mut blob = Vec::new();
        let mut stored = 0u64;
        for doc in docs {
            // Returning drops the transaction, which rolls back everything inserted so far.
            let doc = doc.map_err(|source| StoreError::Input {
                read: stored,
                source,
            })?;
            doc.validate()
                .map_err(|detail| StoreError::InvalidDocument {
                    path: path.to_path_buf(),
                    index: stored,
                    node: doc.node_name.clone(),
                    timestamp: doc.timestamp,
                    detail,
                })?;
            ids.clear();
            for (position, t) in doc.tests.iter().enumerate() {
                ids.push(catalogue.id(&tx, position, &t.text).map_err(err)?);
            }
            blob.clear();
            codec::encode_tests(
                &mut blob,
                doc.tests.len(),
                ids.iter()
                    .zip(&doc.tests)
                    .map(|(&id, t)| (id, &t.status, t.scored)),
            );
            insert
                .execute(params![
                    doc.node_name,
                    doc.timestamp.timestamp_millis(),
                    doc.is_errored(),
                    doc.version,
                    doc.kubernetes_version,
                    doc.kind,
                    doc.error,
                    doc.cluster,
                    blob,
                ])
                .map_err(err)?;
            stored += 1;
        }
        drop(insert);
        tx.commit().map_err(err)?;
        Ok(stored)
    }

    /// Walks the node names through the (node_name, timestamp) index and, per node, reads
    /// its newest non-errored document of the window, else its newest errored one.
    ///
    /// The cost is two index seeks per node name ever stored, whatever the retention: a
    /// `GROUP BY node_name` over the window would instead visit every document in it.
    /// A document that cannot be decoded is logged, counted in [`QueryStats::skipped`] and
    /// passed over for the node's next newest one, so that one damaged row costs the
    /// report a stale result, not the node.
    fn latest_per_node(
        &self,
        window: &QueryWindow,
        sink: &mut dyn FnMut(BenchmarkDocument),
    ) -> Result<QueryStats, StoreError> {
        let path = self.path.as_path();
        let err = |e| sql_error(path, e);
        // One read transaction: every node comes from the same snapshot, even while an
        // import commits in between.
        let tx = self.conn.unchecked_transaction().map_err(err)?;
        let texts: HashMap<i64, Arc<TestText>> =
            read_catalogue(&tx).map_err(err)?.into_iter().collect();
        let mut statuses = StatusInterner::default();
        let (start, end) = window_millis(window);
        let mut next_node = tx.prepare_cached(NEXT_NODE).map_err(err)?;
        let mut node_docs = tx.prepare_cached(NODE_DOCS).map_err(err)?;
        let mut stats = QueryStats::default();
        let mut node: Option<String> = tx
            .prepare_cached(FIRST_NODE)
            .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
            .map_err(err)?;
        while let Some(name) = node {
            'pick: for errored in [false, true] {
                let mut rows = node_docs
                    .query(params![name, errored, start, end])
                    .map_err(err)?;
                while let Some(row) = rows.next().map_err(err)? {
                    match decode_doc(&name, row, &texts, &mut statuses) {
                        Ok(doc) => {
                            sink(doc);
                            stats.documents += 1;
                            break 'pick;
                        }
                        Err(e) => {
                            let millis = row.get_ref(0).ok().and_then(|v| v.as_i64().ok());
                            tracing::warn!(
                                path = %path.display(),
                                node = %name,
                                timestamp = %describe_millis(millis),
                                error = %e,
                                "skipping a benchmark document that cannot be decoded"
                            );
                            stats.skipped += 1;
                        }
                    }
                }
            }
            node = next_node
                .query_row([&name], |r| r.get(0))
                .optional()
                .map_err(err)?;
        }
        drop((next_node, node_docs));
        tx.commit().map_err(err)?;
        Ok(stats)
    }
}

/// The report fields that no query filters on, stored as one JSON `head` column.
#[derive(Serialize)]
struct HeadRef<'a> {
    #[serde(rename = "reportSpec")]
    report_spec: &'a GlobalReportSpec,
    #[serde(rename = "reportTypeSpec")]
    report_type_spec: &'a GlobalReportTypeSpec,
    #[serde(rename = "uiSummary")]
    ui_summary: &'a str,
    cluster: &'a str,
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "reportSpec")]
    report_spec: GlobalReportSpec,
    #[serde(rename = "reportTypeSpec")]
    report_type_spec: GlobalReportTypeSpec,
    #[serde(rename = "uiSummary")]
    ui_summary: String,
    cluster: String,
}

/// Report times as integer nanoseconds: exact for every time a report carries, and
/// ordered as integers, which RFC 3339 text with optional fractions is not.
fn nanos(
    path: &Path,
    report: &ReportDocument,
    field: &str,
    t: &DateTime<Utc>,
) -> Result<i64, StoreError> {
    t.timestamp_nanos_opt().ok_or_else(|| StoreError::Encode {
        what: format!("report {} for database {}", report.id, path.display()),
        detail: format!("{field} {t} lies outside the years 1677 to 2262 that can be stored"),
    })
}

/// A count as SQLite's signed integer.
fn int(path: &Path, what: impl FnOnce() -> String, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Encode {
        what: format!("{} for database {}", what(), path.display()),
        detail: format!("count {v} exceeds {}", i64::MAX),
    })
}

/// A stored count, refusing the negative values this program never writes.
fn count(path: &Path, what: &str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| corrupt(path, format!("{what} is negative ({v})")))
}

fn listing(path: &Path, r: &Row<'_>) -> Result<ReportListing, StoreError> {
    let err = |e| sql_error(path, e);
    let id: String = r.get(0).map_err(err)?;
    let n = |i: usize, what: &str| -> Result<u64, StoreError> {
        count(
            path,
            &format!("report {id}: {what}"),
            r.get(i).map_err(err)?,
        )
    };
    let time = |i: usize| r.get(i).map(DateTime::from_timestamp_nanos).map_err(err);
    Ok(ReportListing {
        report_name: r.get(1).map_err(err)?,
        report_type_name: r.get(2).map_err(err)?,
        start_time: time(3)?,
        end_time: time(4)?,
        generation_time: time(5)?,
        summary: CisBenchmarkSummary {
            kind: r.get(6).map_err(err)?,
            high_count: n(7, "highCount")?,
            med_count: n(8, "medCount")?,
            low_count: n(9, "lowCount")?,
        },
        node_count: n(10, "node count")?,
        id,
    })
}

impl ReportStore for SqliteStore {
    /// Deletes the report's old rows and writes the new ones in one IMMEDIATE
    /// transaction; any failure rolls it back, leaving the previous report as it was.
    fn put_report(&mut self, report: &ReportDocument) -> Result<(), StoreError> {
        let path = self.path.as_path();
        let err = |e| sql_error(path, e);
        let head = serde_json::to_string(&HeadRef {
            report_spec: &report.report_spec,
            report_type_spec: &report.report_type_spec,
            ui_summary: &report.ui_summary,
            cluster: &report.cluster,
        })
        .map_err(|e| StoreError::Encode {
            what: format!("report {} for database {}", report.id, path.display()),
            detail: e.to_string(),
        })?;
        let summary = &report.cis_benchmark_summary;
        let report_what = || format!("report {}", report.id);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute(
            "DELETE FROM report_nodes WHERE report_key IN \
             (SELECT report_key FROM reports WHERE id = ?1)",
            [&report.id],
        )
        .map_err(err)?;
        tx.execute("DELETE FROM reports WHERE id = ?1", [&report.id])
            .map_err(err)?;
        tx.execute(
            INSERT_REPORT,
            params![
                report.id,
                report.report_name,
                report.report_type_name,
                nanos(path, report, "startTime", &report.start_time)?,
                nanos(path, report, "endTime", &report.end_time)?,
                nanos(path, report, "generationTime", &report.generation_time)?,
                nanos(path, report, "generated_time", &report.generated_time)?,
                summary.kind,
                int(path, report_what, summary.high_count)?,
                int(path, report_what, summary.med_count)?,
                int(path, report_what, summary.low_count)?,
                int(path, report_what, report.cis_benchmark.len() as u64)?,
                head,
            ],
        )
        .map_err(err)?;
        let key = tx.last_insert_rowid();
        let mut catalogue = CatalogueWriter::load(&tx).map_err(err)?;
        let mut insert = tx.prepare_cached(INSERT_NODE).map_err(err)?;
        let mut blob = Vec::new();
        for (ordinal, node) in report.cis_benchmark.iter().enumerate() {
            blob.clear();
            let mut position = 0;
            codec::encode_sections(&mut blob, &node.results, |text| {
                let id = catalogue.id(&tx, position, text);
                position += 1;
                id
            })
            .map_err(err)?;
            let node_what = || format!("report {} node {}", report.id, node.node_name);
            let s = &node.summary;
            insert
                .execute(params![
                    key,
                    int(path, node_what, ordinal as u64)?,
                    node.node_name,
                    node.kubernetes_version,
                    node.benchmarks_version,
                    node.error,
                    s.status.as_str(),
                    int(path, node_what, s.total_pass)?,
                    int(path, node_what, s.total_fail)?,
                    int(path, node_what, s.total_info)?,
                    int(path, node_what, s.total)?,
                    blob,
                ])
                .map_err(err)?;
        }
        drop(insert);
        tx.commit().map_err(err)
    }

    /// Reads only the `reports` table: no node rows, no blobs.
    fn list_reports(&self) -> Result<Vec<ReportListing>, StoreError> {
        let path = self.path.as_path();
        let err = |e| sql_error(path, e);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {LISTING_COLUMNS} FROM reports ORDER BY end_time DESC, report_name, id"
            ))
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(err)? {
            out.push(listing(path, r)?);
        }
        Ok(out)
    }

    /// Rebuilds the stored document exactly; a node row that cannot be decoded makes the
    /// whole read fail as [`StoreError::Corrupt`], since a report silently missing a node
    /// would misstate the cluster's compliance.
    fn get_report(&self, id: &str) -> Result<Option<ReportDocument>, StoreError> {
        let path = self.path.as_path();
        let err = |e| sql_error(path, e);
        // The report row and its nodes from one snapshot, even if a reporter re-stores
        // the same id meanwhile.
        let tx = self.conn.unchecked_transaction().map_err(err)?;
        let found = tx
            .prepare_cached(&format!(
                "SELECT {LISTING_COLUMNS}, report_key, generated_time, head \
                 FROM reports WHERE id = ?1"
            ))
            .map_err(err)?
            .query_row([id], |r| {
                Ok((
                    listing(path, r),
                    r.get::<_, i64>(11)?,
                    r.get::<_, i64>(12)?,
                    r.get::<_, String>(13)?,
                ))
            })
            .optional()
            .map_err(err)?;
        let Some((listing, key, generated, head)) = found else {
            return Ok(None);
        };
        let listing = listing?;
        let head: Head = serde_json::from_str(&head)
            .map_err(|e| corrupt(path, format!("report {id}: head: {e}")))?;
        let texts: HashMap<i64, Arc<TestText>> =
            read_catalogue(&tx).map_err(err)?.into_iter().collect();
        let mut statuses = StatusInterner::default();
        let mut nodes = Vec::with_capacity(usize::try_from(listing.node_count).unwrap_or(0));
        let mut stmt = tx
            .prepare_cached(
                "SELECT node_name, kubernetes_version, benchmarks_version, error, status, \
                 total_pass, total_fail, total_info, total, results \
                 FROM report_nodes WHERE report_key = ?1 ORDER BY ordinal",
            )
            .map_err(err)?;
        let mut rows = stmt.query([key]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            let node_name: String = r.get(0).map_err(err)?;
            let bad = |detail: &dyn std::fmt::Display| {
                corrupt(path, format!("report {id}, node {node_name}: {detail}"))
            };
            let n = |i: usize| -> Result<u64, StoreError> {
                let v: i64 = r.get(i).map_err(err)?;
                u64::try_from(v).map_err(|_| bad(&format_args!("negative count {v}")))
            };
            let status: String = r.get(4).map_err(err)?;
            let status: Rating = status.parse().map_err(|e: String| bad(&e))?;
            let blob = r.get_ref(9).map_err(err)?.as_blob().map_err(|e| bad(&e))?;
            let results =
                codec::decode_sections(blob, &texts, &mut statuses).map_err(|e| bad(&e))?;
            nodes.push(CisBenchmarkNode {
                kubernetes_version: r.get(1).map_err(err)?,
                benchmarks_version: r.get(2).map_err(err)?,
                error: r.get(3).map_err(err)?,
                summary: NodeSummary {
                    status,
                    total_pass: n(5)?,
                    total_fail: n(6)?,
                    total_info: n(7)?,
                    total: n(8)?,
                },
                results,
                node_name,
            });
        }
        if nodes.len() as u64 != listing.node_count {
            return Err(corrupt(
                path,
                format!(
                    "report {id} has {} node rows but records {} nodes",
                    nodes.len(),
                    listing.node_count
                ),
            ));
        }
        drop(rows);
        drop(stmt);
        tx.commit().map_err(err)?;
        Ok(Some(ReportDocument {
            id: listing.id,
            report_name: listing.report_name,
            report_type_name: listing.report_type_name,
            report_spec: head.report_spec,
            report_type_spec: head.report_type_spec,
            start_time: listing.start_time,
            end_time: listing.end_time,
            generation_time: listing.generation_time,
            cis_benchmark_summary: listing.summary,
            cis_benchmark: nodes,
            ui_summary: head.ui_summary,
            cluster: head.cluster,
            generated_time: DateTime::from_timestamp_nanos(generated),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compliance_core::model::{GlobalReportType, SectionResult, TestResult, TestStatus};
    use tempfile::TempDir;

    fn text(n: usize) -> Arc<TestText> {
        Arc::new(TestText {
            section: "1.1".into(),
            section_desc: "Control Plane Node Configuration Files".into(),
            test_number: format!("1.1.{n}"),
            test_desc: format!("Ensure that file {n} has permissions of 600"),
            test_info: format!("chmod 600 /etc/kubernetes/{n}"),
        })
    }

    fn report(nodes: usize, status: TestStatus) -> ReportDocument {
        let t = DateTime::from_timestamp(1_795_651_200, 0).unwrap();
        ReportDocument {
            id: "daily_cis-benchmark_x".into(),
            report_name: "daily".into(),
            report_type_name: "cis-benchmark".into(),
            report_spec: GlobalReportSpec::default(),
            report_type_spec: GlobalReportType::builtin_cis_benchmark().spec,
            start_time: t,
            end_time: t,
            generation_time: t,
            cis_benchmark_summary: CisBenchmarkSummary {
                kind: "kube".into(),
                high_count: nodes as u64,
                med_count: 0,
                low_count: 0,
            },
            cis_benchmark: (0..nodes)
                .map(|i| CisBenchmarkNode {
                    node_name: format!("node-{i:02}"),
                    kubernetes_version: "1.29.3".into(),
                    benchmarks_version: "cis-1.9".into(),
                    summary: NodeSummary {
                        status: Rating::High,
                        total_pass: 2,
                        total_fail: 0,
                        total_info: 0,
                        total: 2,
                    },
                    results: vec![SectionResult {
                        status: Rating::High,
                        section: "1.1".into(),
                        desc: "Control Plane Node Configuration Files".into(),
                        pass: 2,
                        fail: 0,
                        info: 0,
                        results: (1..=2)
                            .map(|n| TestResult {
                                text: text(n),
                                status: status.clone(),
                                scored: true,
                            })
                            .collect(),
                    }],
                    error: String::new(),
                })
                .collect(),
            ui_summary: "{}".into(),
            cluster: "cluster".into(),
            generated_time: t,
        }
    }

    #[test]
    fn a_failure_while_storing_a_report_keeps_the_previous_one() {
        let dir = TempDir::new().unwrap();
        let mut store = SqliteStore::open(dir.path().join("c.db"), OpenMode::Create).unwrap();
        let old = report(10, TestStatus::Pass);
        store.put_report(&old).unwrap();
        // Abort on the 8th node row of the next write, after its report row, the deletion
        // of the old rows and seven new node rows.
        store
            .conn
            .execute_batch(
                "CREATE TEMP TRIGGER fail_late BEFORE INSERT ON report_nodes \
                 WHEN NEW.ordinal = 7 BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;",
            )
            .unwrap();
        let new = report(12, TestStatus::Fail);
        let err = store.put_report(&new).unwrap_err();
        assert!(err.to_string().contains("disk on fire"), "{err}");
        assert!(err.to_string().contains("c.db"), "{err}");
        assert_eq!(store.get_report(&old.id).unwrap(), Some(old.clone()));
        assert_eq!(store.list_reports().unwrap().len(), 1);

        store.conn.execute_batch("DROP TRIGGER fail_late").unwrap();
        store.put_report(&new).unwrap();
        assert_eq!(store.get_report(&old.id).unwrap(), Some(new));
    }

    #[test]
    fn a_failure_while_storing_benchmarks_stores_none_of_them() {
        let dir = TempDir::new().unwrap();
        let mut store = SqliteStore::open(dir.path().join("c.db"), OpenMode::Create).unwrap();
        store
            .conn
            .execute_batch(
                "CREATE TEMP TRIGGER fail_third BEFORE INSERT ON benchmark_docs \
                 WHEN NEW.node_name = 'n3' BEGIN SELECT RAISE(ABORT, 'no space'); END;",
            )
            .unwrap();
        let doc = |n: usize| BenchmarkDocument {
            version: "cis-1.9".into(),
            kubernetes_version: "1.29.3".into(),
            kind: "kube".into(),
            node_name: format!("n{n}"),
            timestamp: DateTime::from_timestamp(1_795_651_200, 0).unwrap(),
            error: String::new(),
            tests: vec![BenchmarkTest {
                text: text(n),
                status: TestStatus::Pass,
                scored: true,
            }],
            cluster: "cluster".into(),
        };
        let err = store
            .put_benchmarks(&mut (1..=4).map(doc).map(Ok))
            .unwrap_err();
        assert!(matches!(err, StoreError::Sqlite { .. }), "{err}");
        let rows: i64 = store
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM benchmark_docs) + (SELECT count(*) FROM test_texts)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 0);
    }

    /// The per-node read must seek the (node_name, timestamp) index, never scan the table
    /// or sort: that is what keeps it O(nodes) however many documents are kept.
    #[test]
    fn the_latest_per_node_statements_seek_the_index() {
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path().join("c.db"), OpenMode::Create).unwrap();
        for sql in [FIRST_NODE, NEXT_NODE, NODE_DOCS] {
            let mut stmt = store
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let params = rusqlite::params_from_iter(std::iter::repeat_n(1, stmt.parameter_count()));
            let plan: Vec<String> = stmt
                .query_map(params, |r| r.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(plan.contains("benchmark_docs_node_time"), "{sql}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
            assert!(
                plan.starts_with("SEARCH") || plan.contains("COVERING INDEX"),
                "{sql}: {plan}"
            );
        }
    }

    #[test]
    fn window_ends_round_inwards_to_whole_milliseconds() {
        let t = |nanos: i64| DateTime::from_timestamp_nanos(nanos);
        let w = QueryWindow {
            start: t(1_500_000),
            end: t(2_500_000),
        };
        assert_eq!(window_millis(&w), (2, 2));
        let w = QueryWindow {
            start: t(-1_500_000),
            end: t(-1_500_000),
        };
        assert_eq!(window_millis(&w), (-1, -2));
        let w = QueryWindow {
            start: t(3_000_000),
            end: t(3_000_000),
        };
        assert_eq!(window_millis(&w), (3, 3));
    }
}
