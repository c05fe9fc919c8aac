//! Benchmark documents in SQLite: importing them, and each node's latest one in a window.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::FromSqlError;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::codec::{self, DecodeError, Origin, StatusInterner};
use super::{CatalogueWriter, SqliteStore, read_catalogue, sql_error};
use crate::{InputError, QueryStats, QueryWindow, StoreError};
use compliance_core::model::{BenchmarkDocument, BenchmarkTest, TestText};

const INSERT_DOC: &str = "INSERT OR REPLACE INTO benchmark_docs \
    (node_name, timestamp, errored, version, kubernetes_version, type, error, cluster, tests, \
     provenance) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

const FIRST_NODE: &str = "SELECT node_name FROM benchmark_docs ORDER BY node_name LIMIT 1";

const NEXT_NODE: &str =
    "SELECT node_name FROM benchmark_docs WHERE node_name > ?1 ORDER BY node_name LIMIT 1";

/// One node's documents of one kind in a window, newest first. Served by the
/// (node_name, timestamp) index walked backwards: the first row is usually the answer.
const NODE_DOCS: &str = "SELECT timestamp, version, kubernetes_version, type, error, cluster, tests, \
    provenance \
    FROM benchmark_docs \
    WHERE node_name = ?1 AND errored = ?2 AND timestamp BETWEEN ?3 AND ?4 \
    ORDER BY timestamp DESC";

/// A node's newest document of any age, errored or not: the last entry of the
/// (node_name, timestamp) index for that name, one seek.
const LAST_RESULT: &str = "SELECT max(timestamp) FROM benchmark_docs WHERE node_name = ?1";

/// Documents on their way from the reading thread to the caller's sink: 64. Enough to
/// keep both sides busy; few enough that a slow sink holds a few MB, not the cluster.
const LATEST_QUEUE: usize = 64;

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
    #[error("{0}")]
    Provenance(String),
}

const DOC_COLUMNS: [&str; 8] = [
    "timestamp",
    "version",
    "kubernetes_version",
    "type",
    "error",
    "cluster",
    "tests",
    "provenance",
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
    let origin = Origin::decode(&text_column(row, 7)?).map_err(RowError::Provenance)?;
    Ok(BenchmarkDocument {
        version: text_column(row, 1)?,
        kubernetes_version: text_column(row, 2)?,
        kind: text_column(row, 3)?,
        node_name: node_name.to_owned(),
        timestamp,
        error: text_column(row, 4)?,
        tests,
        cluster: text_column(row, 5)?,
        platform: origin.platform,
        kube_bench_version: origin.kube_bench_version,
        benchmarker_version: origin.benchmarker_version,
        benchmark_choice: origin.benchmark_choice,
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

impl SqliteStore {
    /// Validates and stores every document in one IMMEDIATE transaction.
    ///
    /// Timestamps are stored in whole milliseconds, the precision of Elasticsearch's
    /// `date` type, so both stores agree on which documents are the same run.
    ///
    /// Runs on the calling thread, holding the write connection: see the module
    /// documentation of [`super`].
    pub fn put_benchmarks(
        &self,
        docs: impl Iterator<Item = Result<BenchmarkDocument, InputError>>,
    ) -> Result<u64, StoreError> {
        let path = self.path();
        let err = |e| sql_error(path, e);
        let mut conn = self.writer();
        let tx = conn
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
                    codec::encode_origin(
                        &doc.platform,
                        &doc.kube_bench_version,
                        &doc.benchmarker_version,
                        &doc.benchmark_choice,
                    ),
                ])
                .map_err(err)?;
            stored += 1;
        }
        drop(insert);
        tx.commit().map_err(err)?;
        Ok(stored)
    }

    /// Each node's latest document of `window` ([`crate::Store::latest_per_node`]), by
    /// node name: read on the blocking pool with a read connection of its own, and handed
    /// to `sink` on the caller's task through a queue of [`LATEST_QUEUE`] documents.
    pub async fn latest_per_node<F>(
        &self,
        window: &QueryWindow,
        mut sink: F,
    ) -> Result<QueryStats, StoreError>
    where
        F: FnMut(BenchmarkDocument),
    {
        let (tx, mut rx) = tokio::sync::mpsc::channel(LATEST_QUEUE);
        let window = *window;
        let reading = self.read(move |conn, path| {
            // A send fails only when the caller stopped waiting: stop reading too.
            latest_per_node(conn, path, &window, &mut |doc| {
                tx.blocking_send(doc).is_ok()
            })
        });
        // Polled together: the reading thread waits for room in the queue, so the queue
        // must be drained while it runs, not after.
        let drain = async {
            while let Some(doc) = rx.recv().await {
                sink(doc);
            }
        };
        let (stats, ()) = tokio::join!(reading, drain);
        stats
    }
}

impl SqliteStore {
    /// Each named node's newest document time ([`crate::Store::last_result_times`]):
    /// one index seek per name, all in one read transaction.
    pub async fn last_result_times(
        &self,
        nodes: &[String],
    ) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
        let nodes = nodes.to_vec();
        self.read(move |conn, path| {
            let err = |e| sql_error(path, e);
            let tx = conn.unchecked_transaction().map_err(err)?;
            let mut stmt = tx.prepare_cached(LAST_RESULT).map_err(err)?;
            let mut out = HashMap::with_capacity(nodes.len());
            for name in nodes {
                let millis: Option<i64> = stmt.query_row([&name], |r| r.get(0)).map_err(err)?;
                let Some(millis) = millis else { continue };
                let time = DateTime::from_timestamp_millis(millis).ok_or_else(|| {
                    super::corrupt(
                        path,
                        format!("node {name}: document timestamp {millis} ms is out of range"),
                    )
                })?;
                out.insert(name, time);
            }
            drop(stmt);
            tx.commit().map_err(err)?;
            Ok(out)
        })
        .await
    }
}

impl SqliteStore {
    /// [`SqliteStore::latest_per_node`] on the calling thread, which it blocks: for a
    /// caller with nothing else to run meanwhile ([`crate::BlockingStore`]). Documents
    /// are then decoded on the thread that keeps them, so a one-shot reporter's
    /// allocations stay in one malloc arena; through the blocking pool, glibc gives the
    /// reading thread an arena of its own (5 MB more peak memory at 1,000 nodes).
    pub fn latest_per_node_here(
        &self,
        window: &QueryWindow,
        sink: &mut dyn FnMut(BenchmarkDocument),
    ) -> Result<QueryStats, StoreError> {
        self.shared.with_reader(|conn, path| {
            latest_per_node(conn, path, window, &mut |doc| {
                sink(doc);
                true
            })
        })
    }
}

/// Walks the node names through the (node_name, timestamp) index and, per node, hands
/// `sink` its newest non-errored document of the window, else its newest errored one;
/// stops early when `sink` returns false.
///
/// The cost is two index seeks per node name ever stored, whatever the retention: a
/// `GROUP BY node_name` over the window would instead visit every document in it.
/// A document that cannot be decoded is logged, counted in [`QueryStats::skipped`] and
/// passed over for the node's next newest one, so that one damaged row costs the
/// report a stale result, not the node.
fn latest_per_node(
    conn: &Connection,
    path: &Path,
    window: &QueryWindow,
    sink: &mut dyn FnMut(BenchmarkDocument) -> bool,
) -> Result<QueryStats, StoreError> {
    let err = |e| sql_error(path, e);
    // One read transaction: every node comes from the same snapshot, even while an
    // import commits in between.
    let tx = conn.unchecked_transaction().map_err(err)?;
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
                        stats.documents += 1;
                        if !sink(doc) {
                            return Ok(stats);
                        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::OpenMode;
    use compliance_core::model::TestStatus;
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

    #[test]
    fn a_failure_while_storing_benchmarks_stores_none_of_them() {
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path().join("c.db"), OpenMode::Create).unwrap();
        store
            .writer()
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
            platform: String::new(),
            kube_bench_version: String::new(),
            benchmarker_version: String::new(),
            benchmark_choice: String::new(),
        };
        let err = store.put_benchmarks((1..=4).map(doc).map(Ok)).unwrap_err();
        assert!(matches!(err, StoreError::Sqlite { .. }), "{err}");
        let rows: i64 = store
            .writer()
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
        for sql in [FIRST_NODE, NEXT_NODE, NODE_DOCS, LAST_RESULT] {
            let conn = store.writer();
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
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
