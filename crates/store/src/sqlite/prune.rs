//! Retention in SQLite: deleting what [`crate::retention`] says may go, in one transaction.
//!
//! The documents are pruned node by node through the (node_name, timestamp) index, the
//! walk the reporter's read uses: per node a seek for its oldest document, and, only for
//! a node with a document older than the cutoff, two more for its newest documents and a
//! range delete. A prune that finds nothing costs two seeks per node (a few milliseconds
//! per thousand nodes), never a scan of the documents. Reports are found by a scan of the
//! `reports` table, one small row per report (a few thousand in a retention period), and
//! their nodes deleted by their primary key prefix.
//!
//! Deleted pages go on SQLite's free list and are reused by the next writes, so a store
//! whose writes and prunes balance stops growing; the file is never shrunk here (that
//! needs a `VACUUM`, which rewrites the whole file; see docs/operations.md).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{SqliteStore, sql_error};
use crate::StoreError;
use crate::retention::{Pruned, Retention, node_prune_before};

const FIRST_NODE: &str = "SELECT node_name FROM benchmark_docs ORDER BY node_name LIMIT 1";

const NEXT_NODE: &str =
    "SELECT node_name FROM benchmark_docs WHERE node_name > ?1 ORDER BY node_name LIMIT 1";

const OLDEST: &str = "SELECT min(timestamp) FROM benchmark_docs WHERE node_name = ?1";

const NEWEST: &str = "SELECT max(timestamp) FROM benchmark_docs WHERE node_name = ?1";

/// The node's newest document without an error: the index walked backwards, stopping at
/// the first such row (usually the first row).
const NEWEST_GOOD: &str = "SELECT timestamp FROM benchmark_docs \
    WHERE node_name = ?1 AND errored = 0 ORDER BY timestamp DESC LIMIT 1";

const DELETE_DOCS: &str = "DELETE FROM benchmark_docs WHERE node_name = ?1 AND timestamp < ?2";

const COUNT_DOCS: &str =
    "SELECT count(*) FROM benchmark_docs WHERE node_name = ?1 AND timestamp < ?2";

const DELETE_REPORT_NODES: &str = "DELETE FROM report_nodes WHERE report_key IN \
    (SELECT report_key FROM reports WHERE end_time < ?1)";

const DELETE_REPORTS: &str = "DELETE FROM reports WHERE end_time < ?1";

const COUNT_REPORTS: &str = "SELECT count(*), coalesce(sum(node_count), 0) \
    FROM reports WHERE end_time < ?1";

/// A time in the documents' unit, milliseconds.
fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A time in the reports' unit, nanoseconds; times beyond what a report can carry
/// (years 1677 to 2262) clamp, which keeps the comparison with every stored time right.
fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

impl SqliteStore {
    /// Deletes what `retention` lets go at `now` (or only counts it, on a `dry_run`), in
    /// one IMMEDIATE transaction: a failure deletes nothing, and a report never loses its
    /// nodes without itself. Runs on the calling thread, holding the write connection.
    pub fn prune(
        &self,
        retention: &Retention,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Pruned, StoreError> {
        let path = self.path();
        let err = |e| sql_error(path, e);
        let mut conn = self.writer();
        let before = free_bytes(&conn).map_err(err)?;
        let tx = conn
            .transaction_with_behavior(if dry_run {
                TransactionBehavior::Deferred
            } else {
                TransactionBehavior::Immediate
            })
            .map_err(err)?;
        let mut pruned = Pruned::default();
        if let Some(cutoff) = retention.benchmark_cutoff(now) {
            pruned.documents = prune_documents(&tx, cutoff, dry_run).map_err(err)?;
        }
        if let Some(cutoff) = retention.report_cutoff(now) {
            let cutoff = nanos(cutoff);
            if dry_run {
                let (reports, nodes): (i64, i64) = tx
                    .query_row(COUNT_REPORTS, [cutoff], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(err)?;
                pruned.reports = reports.max(0) as u64;
                pruned.report_nodes = nodes.max(0) as u64;
            } else {
                pruned.report_nodes =
                    tx.execute(DELETE_REPORT_NODES, [cutoff]).map_err(err)? as u64;
                pruned.reports = tx.execute(DELETE_REPORTS, [cutoff]).map_err(err)? as u64;
            }
        }
        tx.commit().map_err(err)?;
        if !dry_run {
            let after = free_bytes(&conn).map_err(err)?;
            pruned.freed_bytes = after.saturating_sub(before);
        }
        Ok(pruned)
    }
}

/// Rules 1 and 2 of [`crate::retention`], node by node; returns the documents deleted (or
/// that would be).
fn prune_documents(
    conn: &Connection,
    cutoff: DateTime<Utc>,
    dry_run: bool,
) -> rusqlite::Result<u64> {
    let cutoff_ms = millis(cutoff);
    let mut next_node = conn.prepare_cached(NEXT_NODE)?;
    let mut oldest = conn.prepare_cached(OLDEST)?;
    let mut newest = conn.prepare_cached(NEWEST)?;
    let mut newest_good = conn.prepare_cached(NEWEST_GOOD)?;
    let mut apply = conn.prepare_cached(if dry_run { COUNT_DOCS } else { DELETE_DOCS })?;
    let mut removed = 0u64;
    let mut node: Option<String> = conn
        .prepare_cached(FIRST_NODE)?
        .query_row([], |r| r.get(0))
        .optional()?;
    while let Some(name) = node {
        let first: i64 = oldest.query_row([&name], |r| r.get(0))?;
        if first < cutoff_ms {
            let last: i64 = newest.query_row([&name], |r| r.get(0))?;
            let good: Option<i64> = newest_good.query_row([&name], |r| r.get(0)).optional()?;
            let before = node_prune_before(cutoff, from_millis(last), good.map(from_millis));
            let before = millis(before);
            removed += if dry_run {
                apply
                    .query_row(params![name, before], |r| r.get::<_, i64>(0))?
                    .max(0) as u64
            } else {
                apply.execute(params![name, before])? as u64
            };
        }
        node = next_node.query_row([&name], |r| r.get(0)).optional()?;
    }
    Ok(removed)
}

/// A stored timestamp as a time; one out of range (never written by this program)
/// counts as the earliest time, so it can only make a node keep more.
fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Bytes of the file's pages on the free list, ready for reuse.
fn free_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let (pages, size): (i64, i64) = conn.query_row(
        "SELECT (SELECT freelist_count FROM pragma_freelist_count), \
                (SELECT page_size FROM pragma_page_size)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((pages.max(0) as u64).saturating_mul(size.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::OpenMode;
    use tempfile::TempDir;

    /// Pruning must seek the (node_name, timestamp) index, never scan the documents: it
    /// runs after every write.
    #[test]
    fn the_prune_statements_seek_the_index() {
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path().join("c.db"), OpenMode::Create).unwrap();
        let conn = store.writer();
        for sql in [
            FIRST_NODE,
            NEXT_NODE,
            OLDEST,
            NEWEST,
            NEWEST_GOOD,
            DELETE_DOCS,
            COUNT_DOCS,
        ] {
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
        }
        // The report nodes go by their primary key.
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {DELETE_REPORT_NODES}"))
            .unwrap();
        let plan: Vec<String> = stmt
            .query_map([1], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("; ");
        assert!(plan.contains("SEARCH report_nodes"), "{plan}");
    }

    #[test]
    fn report_times_beyond_nanoseconds_clamp_outwards() {
        assert_eq!(nanos(DateTime::<Utc>::MAX_UTC), i64::MAX);
        assert_eq!(nanos(DateTime::<Utc>::MIN_UTC), i64::MIN);
        assert_eq!(nanos(DateTime::UNIX_EPOCH), 0);
    }
}
