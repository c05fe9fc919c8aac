//! The embedded store: benchmark results and reports in one SQLite file.
//!
//! Size drives the layout. Ten thousand nodes storing a document every hour make 240,000
//! documents a day, each repeating the same ~130 descriptions and remediation texts: about
//! 10 GB a day as JSON. Here every distinct test text is stored once, in `test_texts`, and
//! a document's or report node's results are a blob of catalogue ids and status bytes
//! (formats in [`codec`]), about two bytes per test. Readers load the catalogue once per
//! query, so every document of a query shares the same `Arc<TestText>`s.
//!
//! Schema version 4, recorded in `PRAGMA user_version`; `PRAGMA application_id` marks the
//! file as this program's, so that another program's database is refused, never altered.
//! A file of version 1 (the first release's), 2 or 3 is migrated in place when opened:
//! versions 2 and 3 only add columns, with defaults that read as what the old rows meant,
//! and version 4 adds the notification ledger (see [`notifications`]):
//!
//! ```sql
//! test_texts     (id INTEGER PRIMARY KEY, section, section_desc, test_number, test_desc,
//!                 test_info, UNIQUE (all five))
//! benchmark_docs (id INTEGER PRIMARY KEY, node_name, timestamp /* unix ms */, errored,
//!                 version, kubernetes_version, type, error, cluster, tests BLOB,
//!                 provenance /* v2: JSON or '' */)
//!                 + UNIQUE INDEX benchmark_docs_node_time (node_name, timestamp)
//! reports        (report_key INTEGER PRIMARY KEY, id UNIQUE, report_name,
//!                 report_type_name, start_time, end_time, generation_time,
//!                 generated_time /* unix ns */, summary_type, high_count, med_count,
//!                 low_count, node_count, head /* JSON: reportSpec, reportTypeSpec,
//!                 uiSummary, cluster, provenance (v2, when present) */,
//!                 no_results_count /* v2 */, waived_count /* v3 */,
//!                 without_waivers_high, without_waivers_med, without_waivers_low
//!                 /* v3: withoutWaivers, all three NULL when absent */,
//!                 waivers /* v3: JSON array of the waiver outcomes, or '' for none */)
//! report_nodes   (report_key, ordinal, node_name, kubernetes_version, benchmarks_version,
//!                 error, status, total_pass, total_fail, total_info, total, results BLOB,
//!                 no_results /* v2 */, last_result_time /* v2: unix ns or NULL */,
//!                 provenance /* v2: JSON or '' */, waived /* v3 */,
//!                 status_without_waivers /* v3: HIGH, MED, LOW or NULL */,
//!                 PRIMARY KEY (report_key, ordinal))
//! notification_ledger (receiver, report_name, fingerprint, report_id,
//!                 delivered_at /* unix ns */, PRIMARY KEY (receiver, report_name))
//!                 /* v4 */
//! ```
//!
//! Which failures a waiver accepted lives in a report node's `results` blob (format 2,
//! see [`codec`]): per waived test a flag bit and the waiver's name, given once per blob.
//!
//! `provenance` of a document or report node is `''` when all four provenance strings
//! are empty, else a JSON object of the non-empty ones under their document keys
//! (`platform`, `kubeBenchVersion`, `benchmarkerVersion`, `benchmarkChoice`): one short
//! column rather than four mostly empty ones ([`codec::Origin`]).
//!
//! Report nodes point at their report by an integer key rather than the report id: the id
//! is ~60 characters and would be repeated on each of 10,000 rows and in their index.
//!
//! Connections use WAL journaling, so that `reports list` and the dashboard can read while
//! a reporter or an import writes, and wait up to [`BUSY_TIMEOUT`] for another writer.
//!
//! One store is shared by all the tasks of a process: writes go through one connection
//! behind a mutex (SQLite has one writer at a time anyway), while every read runs on
//! tokio's blocking pool with a connection of its own, taken from a small pool of idle
//! ones, so reads neither queue behind each other nor behind a write. Writes run on the
//! caller's thread: their input is a caller's iterator, which need not be `Send`.
//!
//! [`benchmarks`] holds the benchmark documents' side, [`reports`] the reports', [`prune`]
//! the retention that deletes both.

mod benchmarks;
mod codec;
mod delete;
mod notifications;
mod prune;
mod reports;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior, params};

use super::StoreError;
use compliance_core::model::TestText;

/// Schema version this program writes and reads, kept in `PRAGMA user_version`.
///
/// Version 2 added the provenance of benchmark documents and report nodes, a report
/// node's `noResults` and `lastResultTime`, and a report's `noResultsCount` (its
/// `provenance` lives in the `head` JSON, which needs no new column). Version 3 added
/// what waivers did: a report's `waivedCount`, `withoutWaivers` and `waivers`, a node's
/// `waived` and `statusWithoutWaivers`, and (node blob format 2) each test's waiver and
/// each section's `waived`. An older file is migrated when a store opens it
/// ([`MIGRATE_TO_2`], [`MIGRATE_TO_3`]); an older program then refuses the file as newer
/// than itself, rather than reading reports without their waivers. Version 4 added the
/// notification ledger ([`MIGRATE_TO_4`]), so that a release that does not know it
/// cannot resend what a newer one recorded as delivered.
pub const SCHEMA_VERSION: i32 = 4;

/// The columns version 2 adds to version 1, in one transaction with the new
/// `user_version`. Every column has a default that reads as the value the version-1 rows
/// stood for: no provenance (`''`), results (`no_results` 0), no known result time
/// (`NULL`), no nodes without results (0). New files are created as version 1 and
/// migrated, so both have the same columns in the same order.
const MIGRATE_TO_2: &str = "
ALTER TABLE benchmark_docs ADD COLUMN provenance TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN no_results_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE report_nodes ADD COLUMN no_results INTEGER NOT NULL DEFAULT 0;
ALTER TABLE report_nodes ADD COLUMN last_result_time INTEGER;
ALTER TABLE report_nodes ADD COLUMN provenance TEXT NOT NULL DEFAULT '';
";

/// The columns version 3 adds to version 2, in the same transaction as the earlier steps
/// and the new `user_version`. The defaults read as what a version-2 report was: nothing
/// waived (0), no `withoutWaivers` (NULL), no waivers (`''`), no node rating without
/// waivers (NULL). Version-2 node blobs stay in format 1, which the reader still takes.
const MIGRATE_TO_3: &str = "
ALTER TABLE reports ADD COLUMN waived_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE reports ADD COLUMN without_waivers_high INTEGER;
ALTER TABLE reports ADD COLUMN without_waivers_med INTEGER;
ALTER TABLE reports ADD COLUMN without_waivers_low INTEGER;
ALTER TABLE reports ADD COLUMN waivers TEXT NOT NULL DEFAULT '';
ALTER TABLE report_nodes ADD COLUMN waived INTEGER NOT NULL DEFAULT 0;
ALTER TABLE report_nodes ADD COLUMN status_without_waivers TEXT;
";

/// The table version 4 adds: the reporter's notification ledger, one row per receiver
/// and GlobalReport. `IF NOT EXISTS`, so that a migration that meets the table (a file
/// another process is migrating) leaves it be.
const MIGRATE_TO_4: &str = "
CREATE TABLE IF NOT EXISTS notification_ledger (
    receiver TEXT NOT NULL,
    report_name TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    report_id TEXT NOT NULL,
    delivered_at INTEGER NOT NULL,
    PRIMARY KEY (receiver, report_name)
) WITHOUT ROWID;
";

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

/// Page cache of a read connection: 8 MiB.
///
/// Reads are scans of a report's rows or of one node's documents, which the operating
/// system's file cache serves as well; a server keeps several read connections busy at
/// once (the benchmark's 20 concurrent downloads held 300 MB with 32 MiB each), so each
/// keeps a small cache of its own.
const READER_CACHE_KIB: i64 = 8 * 1024;

/// Size the write-ahead log is cut back to after a checkpoint: 64 MiB.
///
/// One import of a day's results writes ~100 MB of pages through the log; without a limit
/// a long-lived connection would keep a log file of that size next to the database.
const WAL_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

/// The version-1 schema, which [`MIGRATE_TO_2`] and [`MIGRATE_TO_3`] complete.
const SCHEMA_1: &str = "
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

/// Whether [`SqliteStore::open`] may create the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file and the schema when missing: the reporter and `import`.
    Create,
    /// Fail with [`StoreError::Missing`] when the file does not exist, creating nothing:
    /// `reports list` and `reports show`, where a missing file means a mistyped path.
    Existing,
}

/// Idle read connections kept for the next reads: 4. More reads than that at once open
/// connections of their own (a few hundred microseconds each) and close them after.
const IDLE_READERS: usize = 4;

/// Reads running at once, at most: 8. More wait for a turn.
///
/// Each read holds a connection with its own page cache; a server under load (the
/// benchmark's 20 concurrent clients) would otherwise open one per request and hold
/// hundreds of megabytes. Two cores gain nothing from more parallel scans than this.
const MAX_READS: usize = 8;

/// Benchmark results and reports in one SQLite file; clones share the connections.
#[derive(Clone)]
pub struct SqliteStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

/// The file and its connections.
struct Shared {
    path: PathBuf,
    /// The one connection that writes.
    writer: Mutex<Connection>,
    /// Read connections not in use.
    readers: Mutex<Vec<Connection>>,
    /// Turns to read ([`MAX_READS`]).
    reads: tokio::sync::Semaphore,
}

/// What [`SqliteStore::open`] found in the file before touching it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SchemaState {
    /// An empty database (a new or zero-length file): the schema is to be created.
    Empty,
    /// A compliance database of this schema version.
    Current,
    /// A compliance database of an earlier schema version, to be migrated.
    Earlier(i32),
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
        init(&conn, &path)?;
        Ok(SqliteStore {
            shared: Arc::new(Shared {
                path,
                writer: Mutex::new(conn),
                readers: Mutex::new(Vec::new()),
                reads: tokio::sync::Semaphore::new(MAX_READS),
            }),
        })
    }

    /// The file this store reads and writes.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The write connection, for one write at a time.
    fn writer(&self) -> MutexGuard<'_, Connection> {
        // A panic during a write leaves the connection usable: its transaction was rolled
        // back when the panic dropped it.
        self.shared
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `read` on tokio's blocking pool with a read connection of its own.
    async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Path) -> Result<T, StoreError> + Send + 'static,
    {
        let _turn = self
            .shared
            .reads
            .acquire()
            .await
            .map_err(|e| StoreError::Task(format!("a database read failed: {e}")))?;
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || shared.with_reader(read))
            .await
            .map_err(|e| StoreError::Task(format!("a database read failed: {e}")))?
    }
}

impl Shared {
    /// Runs `read` with an idle read connection, or a new one, and keeps the connection
    /// for the next read.
    fn with_reader<T>(
        &self,
        read: impl FnOnce(&Connection, &Path) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.path)?,
        };
        let result = read(&conn, &self.path);
        // A read that failed half way may leave its transaction open; such a connection
        // is closed rather than kept.
        if conn.is_autocommit() {
            let mut idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }
}

/// A connection for reads: the file must exist and be ours already (the store opened
/// it), and `query_only` makes sure a read never writes.
fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let err = |e| sql_error(path, e);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)
        .map_err(err)?;
    conn.pragma_update(None, "query_only", true).map_err(err)?;
    Ok(conn)
}

/// Checks whose file this is, then switches it to WAL and creates the schema if empty.
fn init(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let err = |e| sql_error(path, e);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    let state = schema_state(conn, path)?;
    // Only now, with the file known to be ours or empty, may anything be written.
    enable_wal(conn, path)?;
    conn.pragma_update(None, "journal_size_limit", WAL_LIMIT_BYTES)
        .map_err(err)?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)
        .map_err(err)?;
    match state {
        SchemaState::Empty => create_schema(conn, path)?,
        SchemaState::Earlier(_) => migrate(conn, path)?,
        SchemaState::Current => {}
    }
    Ok(())
}

/// Switches the file to WAL journaling (a no-op when it already is).
///
/// Changing the journal mode needs the file to itself, and SQLite reports another
/// connection in the way as busy at once rather than through the busy handler; that
/// happens when several reporter Jobs open a new file together, so the switch is
/// retried every 10 ms for up to [`BUSY_TIMEOUT`].
fn enable_wal(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mode = loop {
        match conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get::<_, String>(0)) {
            Ok(mode) => break mode,
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(sql_error(path, e)),
        }
    };
    if !mode.eq_ignore_ascii_case("wal") {
        // Some file systems (network mounts) cannot hold the WAL index; the rollback
        // journal still works there, only readers then wait for writers.
        tracing::warn!(
            path = %path.display(),
            journal_mode = %mode,
            "database cannot use WAL journaling"
        );
    }
    Ok(())
}

/// Reads the header fields that say whose database this is, without writing.
fn schema_state(conn: &Connection, path: &Path) -> Result<SchemaState, StoreError> {
    let err = |e| sql_error(path, e);
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
            path: path.to_path_buf(),
            detail,
        })
    };
    match (app, version) {
        (APPLICATION_ID, SCHEMA_VERSION) => Ok(SchemaState::Current),
        (APPLICATION_ID, v) if v > SCHEMA_VERSION => corrupt(format!(
            "its schema version {v} is newer than this program's ({SCHEMA_VERSION}); \
                 use a newer release"
        )),
        (APPLICATION_ID, v @ 1..SCHEMA_VERSION) => Ok(SchemaState::Earlier(v)),
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

fn create_schema(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let err = |e| sql_error(path, e);
    // IMMEDIATE takes the write lock first, so of two processes creating the same new
    // file the second waits, sees the first one's schema, and leaves it alone.
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate).map_err(err)?;
    match schema_state(&tx, path)? {
        SchemaState::Current => return tx.commit().map_err(err),
        SchemaState::Earlier(v) => {
            migrate_in(&tx, path, v)?;
            return tx.commit().map_err(err);
        }
        SchemaState::Empty => {}
    }
    tx.execute_batch(SCHEMA_1).map_err(err)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(err)?;
    migrate_in(&tx, path, 1)?;
    tx.commit().map_err(err)
}

/// Brings a file of an earlier schema version to [`SCHEMA_VERSION`] in one IMMEDIATE
/// transaction: a failure (a full disk) leaves it exactly as it was, still readable by
/// the release that wrote it, and of two processes migrating the same file the second
/// waits and finds it done.
fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let err = |e| sql_error(path, e);
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate).map_err(err)?;
    match schema_state(&tx, path)? {
        SchemaState::Earlier(v) => {
            migrate_in(&tx, path, v)?;
            tracing::info!(
                path = %path.display(),
                from = v,
                to = SCHEMA_VERSION,
                "migrated the database schema"
            );
        }
        SchemaState::Current => {}
        SchemaState::Empty => {
            return Err(corrupt(
                path,
                "the schema disappeared while it was migrated",
            ));
        }
    }
    tx.commit().map_err(err)
}

/// The migrations from version `from` on, and the new `user_version`, inside the
/// caller's transaction.
fn migrate_in(tx: &Connection, path: &Path, from: i32) -> Result<(), StoreError> {
    let err = |e| sql_error(path, e);
    if from < 2 {
        tx.execute_batch(MIGRATE_TO_2).map_err(err)?;
    }
    if from < 3 {
        tx.execute_batch(MIGRATE_TO_3).map_err(err)?;
    }
    if from < 4 {
        tx.execute_batch(MIGRATE_TO_4).map_err(err)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(err)
}

/// Why SQLite could not write, when the reason lies outside the program
/// ([`StoreError::SqliteBlocked`]). All three are runtime failures (exit 1): the
/// configuration names a usable file, and the same run succeeds once the disk has room,
/// the mount is writable again or the other writer is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// No space left on the file system that holds the database or its journal.
    DiskFull,
    /// The file, its journal or the file system refuses writes (for root too: an
    /// immutable file, `chattr +i`, or a read-only mount).
    ReadOnly,
    /// Another connection held the write lock for longer than [`BUSY_TIMEOUT`].
    Locked,
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blocked::DiskFull => f.write_str(
                "the disk is full (no space left for the database or its -wal/-shm files); \
                 free space on its file system and run again; nothing was changed",
            ),
            Blocked::ReadOnly => f.write_str(
                "the database is read-only (the file, its -wal/-shm files or the file system \
                 refuse writes: file mode, an immutable file or a read-only mount); \
                 nothing was changed",
            ),
            Blocked::Locked => write!(
                f,
                "the database is locked: another process held its write lock for more than \
                 the {} s busy timeout; nothing was changed",
                BUSY_TIMEOUT.as_secs()
            ),
        }
    }
}

/// Which [`Blocked`] reason, if any, SQLite's error `e` stands for.
pub fn blocked_reason(e: &rusqlite::Error) -> Option<Blocked> {
    let code = e.sqlite_error()?;
    match code.code {
        ErrorCode::DiskFull => Some(Blocked::DiskFull),
        // The shared-memory file (`-shm`) could not be grown: what a WAL database
        // meets first on a full disk, before any write.
        ErrorCode::SystemIoFailure if code.extended_code == rusqlite::ffi::SQLITE_IOERR_SHMSIZE => {
            Some(Blocked::DiskFull)
        }
        ErrorCode::ReadOnly => Some(Blocked::ReadOnly),
        ErrorCode::DatabaseBusy => Some(Blocked::Locked),
        _ => None,
    }
}

/// Maps SQLite's "this is not a database" answers to [`StoreError::Corrupt`] and a full
/// disk, a read-only file and a lock held too long to [`StoreError::SqliteBlocked`].
fn sql_error(path: &Path, e: rusqlite::Error) -> StoreError {
    if let Some(blocked) = blocked_reason(&e) {
        return StoreError::SqliteBlocked {
            path: path.to_path_buf(),
            blocked,
            source: e,
        };
    }
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

#[cfg(test)]
mod blocked_tests {
    use super::*;
    use rusqlite::ffi;

    fn failure(extended_code: std::ffi::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(extended_code), None)
    }

    #[test]
    fn a_full_disk_is_named_whether_a_write_or_the_shm_file_met_it() {
        assert_eq!(
            blocked_reason(&failure(ffi::SQLITE_FULL)),
            Some(Blocked::DiskFull)
        );
        assert_eq!(
            blocked_reason(&failure(ffi::SQLITE_IOERR_SHMSIZE)),
            Some(Blocked::DiskFull)
        );
        // Other I/O errors are not guessed to be a full disk.
        assert_eq!(blocked_reason(&failure(ffi::SQLITE_IOERR_READ)), None);
        assert_eq!(blocked_reason(&failure(ffi::SQLITE_CONSTRAINT)), None);
    }

    #[test]
    fn a_write_to_a_read_only_connection_is_named_read_only() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("c.db");
        SqliteStore::open(&path, OpenMode::Create).unwrap();
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let e = conn
            .execute("DELETE FROM reports", [])
            .expect_err("a read-only connection wrote");
        let err = sql_error(&path, e);
        assert!(
            matches!(
                err,
                StoreError::SqliteBlocked {
                    blocked: Blocked::ReadOnly,
                    ..
                }
            ),
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("read-only"), "{text}");
    }

    #[test]
    fn a_lock_held_past_the_busy_timeout_is_named_locked() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("c.db");
        SqliteStore::open(&path, OpenMode::Create).unwrap();
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let waiter = Connection::open(&path).unwrap();
        waiter.busy_timeout(Duration::from_millis(50)).unwrap();
        let e = waiter
            .execute_batch("BEGIN IMMEDIATE")
            .expect_err("took a lock another connection holds");
        let text = sql_error(&path, e).to_string();
        assert!(text.contains("is locked"), "{text}");
        assert!(text.contains("10 s busy timeout"), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
    }
}
