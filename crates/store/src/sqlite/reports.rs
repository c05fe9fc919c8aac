//! Reports in SQLite: storing one, and the reads of the server and the CLI.
//!
//! A report is a row of `reports` (everything but the nodes, the head JSON holding what
//! no query filters on) and a row of `report_nodes` per node. Every read but the node
//! ones touches `reports` alone. Lists are one scan of `reports` with SQLite's own
//! sorting: there is no index on the sort columns (the schema is kept as it is), which a
//! reports table of tens of thousands of rows does not need.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params, params_from_iter};
use serde::{Deserialize, Serialize};

use super::codec::{self, Origin, StatusInterner};
use super::{CatalogueWriter, SqliteStore, corrupt, read_catalogue, sql_error};
use crate::StoreError;
use crate::query::{NodeRow, OrderColumn, ReportHead, ReportPage, ReportQuery, SortField};
use compliance_core::model::{
    CLUSTER_SCOPE_NODE_NAME, CisBenchmarkNode, CisBenchmarkSummary, GlobalReportSpec,
    GlobalReportTypeSpec, NodeSummary, Provenance, Rating, RatingCounts, ReportDocument, TestText,
    WaiverOutcome,
};

const INSERT_REPORT: &str = "INSERT INTO reports \
    (id, report_name, report_type_name, start_time, end_time, generation_time, generated_time, \
     summary_type, high_count, med_count, low_count, node_count, head, no_results_count, \
     waived_count, without_waivers_high, without_waivers_med, without_waivers_low, waivers) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
     ?19)";

const INSERT_NODE: &str = "INSERT INTO report_nodes \
    (report_key, ordinal, node_name, kubernetes_version, benchmarks_version, error, status, \
     total_pass, total_fail, total_info, total, results, no_results, last_result_time, \
     provenance, waived, status_without_waivers) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

/// The columns of a [`ReportHead`], in the order [`head_row`] reads them.
const HEAD_COLUMNS: &str = "id, report_name, report_type_name, start_time, end_time, \
    generation_time, generated_time, summary_type, high_count, med_count, low_count, \
    node_count, head, no_results_count, waived_count, without_waivers_high, \
    without_waivers_med, without_waivers_low, waivers";

/// A page of a report's nodes, each row read by [`node_row`].
const NODE_PAGE: &str = "SELECT node_name, kubernetes_version, benchmarks_version, error, \
    status, total_pass, total_fail, total_info, total, results, no_results, last_result_time, \
    provenance, waived, status_without_waivers \
    FROM report_nodes WHERE report_key = ?1 AND ordinal >= ?2 ORDER BY ordinal LIMIT ?3";

/// Every node of a report without its results blob, in report order.
const NODE_ROWS: &str = "SELECT ordinal, node_name, kubernetes_version, benchmarks_version, \
    error, status, total_pass, total_fail, total_info, total, no_results, last_result_time, \
    provenance, waived, status_without_waivers \
    FROM report_nodes WHERE report_key = ?1 ORDER BY ordinal";

/// The newest report of a GlobalReport whose window ended by a time, as
/// [`SqliteStore::latest_report`] orders them.
const PREVIOUS_REPORT: &str = "SELECT report_key FROM reports \
    WHERE report_name = ?1 AND end_time <= ?2 \
    ORDER BY end_time DESC, generation_time DESC, id LIMIT 1";

/// A report's node names in report order, from the primary key alone.
const NODE_NAMES: &str =
    "SELECT node_name FROM report_nodes WHERE report_key = ?1 ORDER BY ordinal";

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
    #[serde(skip_serializing_if = "Option::is_none")]
    provenance: Option<&'a Provenance>,
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
    /// Absent from version-1 rows and from reports without provenance.
    #[serde(default)]
    provenance: Option<Provenance>,
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

/// The `waivers` column's text of a report's waiver outcomes: `''` when there are none
/// (as every version-2 row reads), else their JSON array.
fn encode_waivers(waivers: &[WaiverOutcome]) -> serde_json::Result<String> {
    if waivers.is_empty() {
        return Ok(String::new());
    }
    serde_json::to_string(waivers)
}

fn decode_waivers(text: &str) -> Result<Vec<WaiverOutcome>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).map_err(|e| format!("waivers: {e}"))
}

/// A report head from a row of [`HEAD_COLUMNS`].
fn head_row(path: &Path, r: &Row<'_>) -> Result<ReportHead, StoreError> {
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
    let without: [Option<i64>; 3] = [r.get(15), r.get(16), r.get(17)]
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?
        .try_into()
        .expect("three columns");
    let without_waivers = match without {
        [None, None, None] => None,
        [Some(high), Some(med), Some(low)] => {
            let c = |what: &str, v| count(path, &format!("report {id}: withoutWaivers.{what}"), v);
            Some(RatingCounts {
                high_count: c("highCount", high)?,
                med_count: c("medCount", med)?,
                low_count: c("lowCount", low)?,
            })
        }
        partial => {
            return Err(corrupt(
                path,
                format!("report {id}: withoutWaivers is partly missing: {partial:?}"),
            ));
        }
    };
    let waivers: String = r.get(18).map_err(err)?;
    let waivers =
        decode_waivers(&waivers).map_err(|e| corrupt(path, format!("report {id}: {e}")))?;
    let head: String = r.get(12).map_err(err)?;
    let head: Head = serde_json::from_str(&head)
        .map_err(|e| corrupt(path, format!("report {id}: head: {e}")))?;
    let head_row = ReportHead {
        report_name: r.get(1).map_err(err)?,
        report_type_name: r.get(2).map_err(err)?,
        report_spec: head.report_spec,
        report_type_spec: head.report_type_spec,
        start_time: time(3)?,
        end_time: time(4)?,
        generation_time: time(5)?,
        generated_time: time(6)?,
        summary: CisBenchmarkSummary {
            kind: r.get(7).map_err(err)?,
            high_count: n(8, "highCount")?,
            med_count: n(9, "medCount")?,
            low_count: n(10, "lowCount")?,
            no_results_count: n(13, "noResultsCount")?,
            waived_count: n(14, "waivedCount")?,
            without_waivers,
        },
        node_count: n(11, "node count")?,
        ui_summary: head.ui_summary,
        cluster: head.cluster,
        id,
        provenance: head.provenance,
        waivers,
    };
    Ok(head_row)
}

/// Every row of `sql` as a head.
fn heads(
    conn: &Connection,
    path: &Path,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<ReportHead>, StoreError> {
    let err = |e| sql_error(path, e);
    let mut stmt = conn.prepare_cached(sql).map_err(err)?;
    let mut rows = stmt.query(params).map_err(err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(err)? {
        out.push(head_row(path, r)?);
    }
    Ok(out)
}

/// A bound of the time filter in the stored unit. Times beyond what nanoseconds hold
/// (before 1677, after 2262) clamp to the widest bound, which no stored time passes.
fn bound_nanos(t: Option<DateTime<Utc>>, lower: bool) -> i64 {
    match t {
        None if lower => i64::MIN,
        None => i64::MAX,
        Some(t) => t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
            i64::MIN
        } else {
            i64::MAX
        }),
    }
}

/// `WHERE` clause and parameters of a query's filters.
fn filter_sql(q: &ReportQuery) -> (String, Vec<SqlValue>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<SqlValue> = Vec::new();
    for (column, values) in [
        ("report_name", &q.report_names),
        ("report_type_name", &q.report_type_names),
    ] {
        if values.is_empty() {
            continue;
        }
        let marks = vec!["?"; values.len()].join(", ");
        clauses.push(format!("{column} IN ({marks})"));
        params.extend(values.iter().map(|v| SqlValue::Text(v.clone())));
    }
    if q.from.is_some() || q.to.is_some() {
        let (from, to) = (bound_nanos(q.from, true), bound_nanos(q.to, false));
        clauses.push("(start_time BETWEEN ? AND ? OR end_time BETWEEN ? AND ?)".to_string());
        for v in [from, to, from, to] {
            params.push(SqlValue::Integer(v));
        }
    }
    if clauses.is_empty() {
        (String::new(), params)
    } else {
        (format!(" WHERE {}", clauses.join(" AND ")), params)
    }
}

/// `ORDER BY` clause of a query's order.
fn order_sql(q: &ReportQuery) -> String {
    let mut out = String::from(" ORDER BY ");
    for (i, (column, descending)) in q.order().into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(match column {
            OrderColumn::Id => "id",
            OrderColumn::Field(SortField::ReportName) => "report_name",
            OrderColumn::Field(SortField::ReportTypeName) => "report_type_name",
            OrderColumn::Field(SortField::GenerationTime) => "generation_time",
            OrderColumn::Field(SortField::StartTime) => "start_time",
            OrderColumn::Field(SortField::EndTime) => "end_time",
        });
        if descending {
            out.push_str(" DESC");
        }
    }
    out
}

/// One page and the total, from one snapshot.
fn list(conn: &Connection, path: &Path, q: &ReportQuery) -> Result<ReportPage, StoreError> {
    let err = |e| sql_error(path, e);
    let offset = q.offset().ok_or_else(|| {
        StoreError::Query(format!(
            "page {} of {} reports starts beyond the last position a store can count",
            q.page, q.max_items
        ))
    })?;
    let (filter, mut params) = filter_sql(q);
    let tx = conn.unchecked_transaction().map_err(err)?;
    let total: i64 = tx
        .prepare_cached(&format!("SELECT count(*) FROM reports{filter}"))
        .and_then(|mut s| s.query_row(params_from_iter(&params), |r| r.get(0)))
        .map_err(err)?;
    let clamp = |v: u64| SqlValue::Integer(i64::try_from(v).unwrap_or(i64::MAX));
    params.push(clamp(q.max_items));
    params.push(clamp(offset));
    let sql = format!(
        "SELECT {HEAD_COLUMNS} FROM reports{filter}{} LIMIT ? OFFSET ?",
        order_sql(q)
    );
    let reports = heads(&tx, path, &sql, params_from_iter(&params))?;
    tx.commit().map_err(err)?;
    Ok(ReportPage {
        reports,
        total: count(path, "the number of reports", total)?,
    })
}

/// A report's nodes in order from `offset` on, at most `limit` of them, decoded with the
/// catalogue, and the node count the report records; `None` when no report has this id.
/// Ordinals are the nodes' positions, 0 to n-1 (`put_report` writes them so), so a page
/// is one seek of the (report_key, ordinal) key to `offset` and the rows after it,
/// where `OFFSET` would step over every row before the page.
fn nodes(
    conn: &Connection,
    path: &Path,
    id: &str,
    offset: u64,
    limit: u64,
) -> Result<Option<(u64, Vec<CisBenchmarkNode>)>, StoreError> {
    let err = |e| sql_error(path, e);
    let found: Option<(i64, i64)> = conn
        .prepare_cached("SELECT report_key, node_count FROM reports WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(err)?;
    let Some((key, node_count)) = found else {
        return Ok(None);
    };
    let node_count = count(path, &format!("report {id}: node count"), node_count)?;
    let texts: HashMap<i64, Arc<TestText>> =
        read_catalogue(conn).map_err(err)?.into_iter().collect();
    let mut statuses = StatusInterner::default();
    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let wanted = node_count.saturating_sub(offset).min(limit);
    let mut out = Vec::with_capacity(usize::try_from(wanted).unwrap_or(0));
    let mut stmt = conn.prepare_cached(NODE_PAGE).map_err(err)?;
    let mut rows = stmt
        .query(params![key, clamp(offset), clamp(limit)])
        .map_err(err)?;
    while let Some(r) = rows.next().map_err(err)? {
        out.push(node_row(path, id, r, &texts, &mut statuses)?);
    }
    Ok(Some((node_count, out)))
}

/// A node's columns of schema versions 2 and 3 from `first` on: `no_results`,
/// `last_result_time` (unix ns or NULL), `provenance`, `waived` and
/// `status_without_waivers` (NULL when absent). `bad` names the node in the error.
fn node_extras(
    path: &Path,
    r: &Row<'_>,
    first: usize,
    bad: &dyn Fn(&dyn std::fmt::Display) -> StoreError,
) -> Result<NodeExtras, StoreError> {
    let err = |e| sql_error(path, e);
    let no_results: bool = r.get(first).map_err(err)?;
    let last: Option<i64> = r.get(first + 1).map_err(err)?;
    let origin: String = r.get(first + 2).map_err(err)?;
    let origin = Origin::decode(&origin).map_err(|e| bad(&e))?;
    let waived: i64 = r.get(first + 3).map_err(err)?;
    let waived =
        u64::try_from(waived).map_err(|_| bad(&format_args!("negative waived {waived}")))?;
    let without: Option<String> = r.get(first + 4).map_err(err)?;
    let status_without_waivers = without
        .map(|s| s.parse::<Rating>())
        .transpose()
        .map_err(|e| bad(&format_args!("statusWithoutWaivers: {e}")))?;
    Ok(NodeExtras {
        no_results,
        last_result_time: last.map(DateTime::from_timestamp_nanos),
        origin,
        waived,
        status_without_waivers,
    })
}

/// What [`node_extras`] reads.
struct NodeExtras {
    no_results: bool,
    last_result_time: Option<DateTime<Utc>>,
    origin: Origin,
    waived: u64,
    status_without_waivers: Option<Rating>,
}

/// A report node from a row of [`NODE_PAGE`]. A node that cannot be decoded is
/// [`StoreError::Corrupt`]: a report silently missing a node would misstate the cluster's
/// compliance.
fn node_row(
    path: &Path,
    id: &str,
    r: &Row<'_>,
    texts: &HashMap<i64, Arc<TestText>>,
    statuses: &mut StatusInterner,
) -> Result<CisBenchmarkNode, StoreError> {
    let err = |e| sql_error(path, e);
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
    let results = codec::decode_sections(blob, texts, statuses).map_err(|e| bad(&e))?;
    let NodeExtras {
        no_results,
        last_result_time,
        origin,
        waived,
        status_without_waivers,
    } = node_extras(path, r, 10, &bad)?;
    Ok(CisBenchmarkNode {
        kubernetes_version: r.get(1).map_err(err)?,
        benchmarks_version: r.get(2).map_err(err)?,
        error: r.get(3).map_err(err)?,
        summary: NodeSummary {
            status,
            total_pass: n(5)?,
            total_fail: n(6)?,
            total_info: n(7)?,
            total: n(8)?,
            waived,
            status_without_waivers,
        },
        results,
        node_name,
        no_results,
        last_result_time,
        platform: origin.platform,
        kube_bench_version: origin.kube_bench_version,
        benchmarker_version: origin.benchmarker_version,
        benchmark_choice: origin.benchmark_choice,
    })
}

/// The whole report, rebuilt exactly, from one snapshot.
fn get(conn: &Connection, path: &Path, id: &str) -> Result<Option<ReportDocument>, StoreError> {
    let err = |e| sql_error(path, e);
    // The report row and its nodes from one snapshot, even if a reporter re-stores the
    // same id meanwhile.
    let tx = conn.unchecked_transaction().map_err(err)?;
    let found = tx
        .prepare_cached(&format!("SELECT {HEAD_COLUMNS} FROM reports WHERE id = ?1"))
        .map_err(err)?
        .query([id])
        .map_err(err)?
        .next()
        .map_err(err)?
        .map(|r| head_row(path, r))
        .transpose()?;
    let Some(head) = found else {
        return Ok(None);
    };
    let Some((node_count, nodes)) = nodes(&tx, path, id, 0, u64::MAX)? else {
        return Ok(None);
    };
    // A whole report must never miss a node.
    if nodes.len() as u64 != node_count {
        return Err(corrupt(
            path,
            format!(
                "report {id} has {} node rows but records {node_count} nodes",
                nodes.len()
            ),
        ));
    }
    tx.commit().map_err(err)?;
    Ok(Some(ReportDocument {
        id: head.id,
        report_name: head.report_name,
        report_type_name: head.report_type_name,
        report_spec: head.report_spec,
        report_type_spec: head.report_type_spec,
        start_time: head.start_time,
        end_time: head.end_time,
        generation_time: head.generation_time,
        cis_benchmark_summary: head.summary,
        cis_benchmark: nodes,
        ui_summary: head.ui_summary,
        cluster: head.cluster,
        generated_time: head.generated_time,
        provenance: head.provenance,
        waivers: head.waivers,
    }))
}

impl SqliteStore {
    /// Deletes the report's old rows and writes the new ones in one IMMEDIATE
    /// transaction; any failure rolls it back, leaving the previous report as it was.
    ///
    /// Runs on the calling thread, holding the write connection.
    pub fn put_report(&self, report: &ReportDocument) -> Result<(), StoreError> {
        let path = self.path();
        let err = |e| sql_error(path, e);
        let head = serde_json::to_string(&HeadRef {
            report_spec: &report.report_spec,
            report_type_spec: &report.report_type_spec,
            ui_summary: &report.ui_summary,
            cluster: &report.cluster,
            provenance: report.provenance.as_ref(),
        })
        .map_err(|e| StoreError::Encode {
            what: format!("report {} for database {}", report.id, path.display()),
            detail: e.to_string(),
        })?;
        let waivers = encode_waivers(&report.waivers).map_err(|e| StoreError::Encode {
            what: format!("report {} for database {}", report.id, path.display()),
            detail: format!("waivers: {e}"),
        })?;
        let summary = &report.cis_benchmark_summary;
        let report_what = || format!("report {}", report.id);
        let without = summary
            .without_waivers
            .map(|w| -> Result<[i64; 3], StoreError> {
                Ok([
                    int(path, report_what, w.high_count)?,
                    int(path, report_what, w.med_count)?,
                    int(path, report_what, w.low_count)?,
                ])
            })
            .transpose()?;
        let mut conn = self.writer();
        let tx = conn
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
                int(path, report_what, summary.no_results_count)?,
                int(path, report_what, summary.waived_count)?,
                without.map(|w| w[0]),
                without.map(|w| w[1]),
                without.map(|w| w[2]),
                waivers,
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
            let last_result_time = node
                .last_result_time
                .as_ref()
                .map(|t| {
                    let field = format!("node {} lastResultTime", node.node_name);
                    nanos(path, report, &field, t)
                })
                .transpose()?;
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
                    node.no_results,
                    last_result_time,
                    codec::encode_origin(
                        &node.platform,
                        &node.kube_bench_version,
                        &node.benchmarker_version,
                        &node.benchmark_choice,
                    ),
                    int(path, node_what, s.waived)?,
                    s.status_without_waivers.map(Rating::as_str),
                ])
                .map_err(err)?;
        }
        drop(insert);
        tx.commit().map_err(err)
    }

    /// One page of the reports matching `query`, and how many match ([`crate::Store::list_reports`]).
    pub async fn list_reports(&self, query: &ReportQuery) -> Result<ReportPage, StoreError> {
        let query = query.clone();
        self.read(move |conn, path| list(conn, path, &query)).await
    }

    /// Every report in the default order: one pass over `reports`.
    pub async fn all_reports(&self) -> Result<Vec<ReportHead>, StoreError> {
        self.read(|conn, path| {
            let sql = format!(
                "SELECT {HEAD_COLUMNS} FROM reports{}",
                order_sql(&ReportQuery::default())
            );
            heads(conn, path, &sql, [])
        })
        .await
    }

    /// The newest report of GlobalReport `name` ([`crate::Store::latest_report`]).
    pub async fn latest_report(&self, name: &str) -> Result<Option<ReportHead>, StoreError> {
        let name = name.to_string();
        self.read(move |conn, path| {
            let sql = format!(
                "SELECT {HEAD_COLUMNS} FROM reports WHERE report_name = ?1 \
                 ORDER BY end_time DESC, generation_time DESC, id LIMIT 1"
            );
            Ok(heads(conn, path, &sql, [&name])?.pop())
        })
        .await
    }

    /// Everything of a report but its nodes; reads `reports` only.
    pub async fn report_head(&self, id: &str) -> Result<Option<ReportHead>, StoreError> {
        let id = id.to_string();
        self.read(move |conn, path| {
            let sql = format!("SELECT {HEAD_COLUMNS} FROM reports WHERE id = ?1");
            Ok(heads(conn, path, &sql, [&id])?.pop())
        })
        .await
    }

    /// A page of a report's nodes: one seek by (report_key, ordinal), `LIMIT`/`OFFSET`.
    pub async fn report_nodes(
        &self,
        id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Option<Vec<CisBenchmarkNode>>, StoreError> {
        let id = id.to_string();
        self.read(move |conn, path| {
            let err = |e| sql_error(path, e);
            let tx = conn.unchecked_transaction().map_err(err)?;
            let found = nodes(&tx, path, &id, offset, limit)?;
            tx.commit().map_err(err)?;
            Ok(found.map(|(_, nodes)| nodes))
        })
        .await
    }

    /// Every node of a report without its results ([`crate::Store::report_node_rows`]):
    /// the summary columns of `report_nodes`, never the result blobs.
    pub async fn report_node_rows(&self, id: &str) -> Result<Option<Vec<NodeRow>>, StoreError> {
        let id = id.to_string();
        self.read(move |conn, path| {
            let err = |e| sql_error(path, e);
            let tx = conn.unchecked_transaction().map_err(err)?;
            let key: Option<i64> = tx
                .prepare_cached("SELECT report_key FROM reports WHERE id = ?1")
                .and_then(|mut s| s.query_row([&id], |r| r.get(0)).optional())
                .map_err(err)?;
            let Some(key) = key else {
                return Ok(None);
            };
            let mut stmt = tx.prepare_cached(NODE_ROWS).map_err(err)?;
            let mut rows = stmt.query([key]).map_err(err)?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(err)? {
                let node_name: String = r.get(1).map_err(err)?;
                let bad = |detail: &dyn std::fmt::Display| {
                    corrupt(path, format!("report {id}, node {node_name}: {detail}"))
                };
                let n = |i: usize| -> Result<u64, StoreError> {
                    let v: i64 = r.get(i).map_err(err)?;
                    u64::try_from(v).map_err(|_| bad(&format_args!("negative value {v}")))
                };
                let status: String = r.get(5).map_err(err)?;
                let status: Rating = status.parse().map_err(|e: String| bad(&e))?;
                let NodeExtras {
                    no_results,
                    last_result_time,
                    origin,
                    waived,
                    status_without_waivers,
                } = node_extras(path, r, 10, &bad)?;
                out.push(NodeRow {
                    position: n(0)?,
                    kubernetes_version: r.get(2).map_err(err)?,
                    benchmarks_version: r.get(3).map_err(err)?,
                    error: r.get(4).map_err(err)?,
                    summary: NodeSummary {
                        status,
                        total_pass: n(6)?,
                        total_fail: n(7)?,
                        total_info: n(8)?,
                        total: n(9)?,
                        waived,
                        status_without_waivers,
                    },
                    no_results,
                    last_result_time,
                    platform: origin.platform,
                    kube_bench_version: origin.kube_bench_version,
                    benchmarker_version: origin.benchmarker_version,
                    benchmark_choice: origin.benchmark_choice,
                    node_name,
                });
            }
            drop(rows);
            drop(stmt);
            tx.commit().map_err(err)?;
            Ok(Some(out))
        })
        .await
    }

    /// The node names of the newest report of `report_name` that ended by `end`
    /// ([`crate::Store::previous_report_nodes`]): its key from `reports`, then the names
    /// of its `report_nodes` rows, never their results.
    pub async fn previous_report_nodes(
        &self,
        report_name: &str,
        end: DateTime<Utc>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let report_name = report_name.to_string();
        self.read(move |conn, path| {
            let err = |e| sql_error(path, e);
            let tx = conn.unchecked_transaction().map_err(err)?;
            let key: Option<i64> = tx
                .prepare_cached(PREVIOUS_REPORT)
                .and_then(|mut s| {
                    s.query_row(params![report_name, bound_nanos(Some(end), false)], |r| {
                        r.get(0)
                    })
                    .optional()
                })
                .map_err(err)?;
            let Some(key) = key else {
                return Ok(None);
            };
            let names = tx
                .prepare_cached(NODE_NAMES)
                .and_then(|mut s| {
                    s.query_map([key], |r| r.get::<_, String>(0))?
                        .filter(|n| !matches!(n, Ok(n) if n == CLUSTER_SCOPE_NODE_NAME))
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(err)?;
            tx.commit().map_err(err)?;
            Ok(Some(names))
        })
        .await
    }

    /// The distinct GlobalReport names of the stored reports ([`crate::Store::report_names`]).
    pub async fn report_names(&self) -> Result<Vec<String>, StoreError> {
        self.read(|conn, path| {
            let err = |e| sql_error(path, e);
            let mut stmt = conn
                .prepare_cached("SELECT DISTINCT report_name FROM reports ORDER BY report_name")
                .map_err(err)?;
            let names = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            Ok(names)
        })
        .await
    }

    /// The whole report ([`crate::Store::get_report`]); a node row that cannot be
    /// decoded fails the read as [`StoreError::Corrupt`].
    pub async fn get_report(&self, id: &str) -> Result<Option<ReportDocument>, StoreError> {
        let id = id.to_string();
        self.read(move |conn, path| get(conn, path, &id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::OpenMode;
    use compliance_core::model::{GlobalReportType, SectionResult, TestResult, TestStatus};
    use tempfile::TempDir;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

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
                no_results_count: 0,
                waived_count: 0,
                without_waivers: None,
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
                        waived: 0,
                        status_without_waivers: None,
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
                                waiver: None,
                            })
                            .collect(),
                        waived: 0,
                    }],
                    error: String::new(),
                    no_results: false,
                    last_result_time: None,
                    platform: String::new(),
                    kube_bench_version: String::new(),
                    benchmarker_version: String::new(),
                    benchmark_choice: String::new(),
                })
                .collect(),
            ui_summary: "{}".into(),
            cluster: "cluster".into(),
            generated_time: t,
            provenance: None,
            waivers: Vec::new(),
        }
    }

    #[test]
    fn a_failure_while_storing_a_report_keeps_the_previous_one() {
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path().join("c.db"), OpenMode::Create).unwrap();
        let old = report(10, TestStatus::Pass);
        store.put_report(&old).unwrap();
        // Abort on the 8th node row of the next write, after its report row, the deletion
        // of the old rows and seven new node rows.
        store
            .writer()
            .execute_batch(
                "CREATE TEMP TRIGGER fail_late BEFORE INSERT ON report_nodes \
                 WHEN NEW.ordinal = 7 BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;",
            )
            .unwrap();
        let new = report(12, TestStatus::Fail);
        let err = store.put_report(&new).unwrap_err();
        assert!(err.to_string().contains("disk on fire"), "{err}");
        assert!(err.to_string().contains("c.db"), "{err}");
        assert_eq!(
            block_on(store.get_report(&old.id)).unwrap(),
            Some(old.clone())
        );
        assert_eq!(block_on(store.all_reports()).unwrap().len(), 1);

        store
            .writer()
            .execute_batch("DROP TRIGGER fail_late")
            .unwrap();
        store.put_report(&new).unwrap();
        assert_eq!(block_on(store.get_report(&old.id)).unwrap(), Some(new));
    }

    /// The list's SQL is built from the query alone: no value is ever spliced into it.
    #[test]
    fn list_sql_binds_every_value() {
        let t = |s: &str| compliance_core::model::time::parse(s).unwrap();
        let q = ReportQuery {
            report_names: vec!["a'; DROP TABLE reports; --".into(), "b".into()],
            report_type_names: vec!["cis-benchmark".into()],
            from: Some(t("2026-11-25T00:00:00Z")),
            to: None,
            sort: vec![crate::SortKey::ascending(SortField::StartTime)],
            ..ReportQuery::default()
        };
        let (filter, params) = filter_sql(&q);
        assert_eq!(
            filter,
            " WHERE report_name IN (?, ?) AND report_type_name IN (?) AND \
             (start_time BETWEEN ? AND ? OR end_time BETWEEN ? AND ?)"
        );
        assert_eq!(params.len(), 7);
        assert_eq!(params[5], SqlValue::Integer(1_795_564_800_000_000_000));
        assert_eq!(params[6], SqlValue::Integer(i64::MAX));
        assert_eq!(order_sql(&q), " ORDER BY start_time, id");
        assert_eq!(
            order_sql(&ReportQuery::default()),
            " ORDER BY end_time DESC, report_name, id"
        );
        assert_eq!(filter_sql(&ReportQuery::default()).0, "");
    }

    #[test]
    fn time_bounds_beyond_nanoseconds_clamp_outwards() {
        let far = DateTime::from_timestamp(400_000_000_000, 0).unwrap();
        let early = DateTime::from_timestamp(-400_000_000_000, 0).unwrap();
        assert_eq!(bound_nanos(Some(far), false), i64::MAX);
        assert_eq!(bound_nanos(Some(early), true), i64::MIN);
        assert_eq!(bound_nanos(None, true), i64::MIN);
        assert_eq!(bound_nanos(None, false), i64::MAX);
    }

    /// A page of nodes seeks the primary key: no scan of the report's rows, no sort.
    #[test]
    fn a_page_of_nodes_seeks_the_primary_key() {
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path().join("c.db"), OpenMode::Create).unwrap();
        let conn = store.writer();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {NODE_PAGE}"))
            .unwrap()
            .query_map(params![1, 100, 10], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("; ");
        assert!(
            plan.starts_with("SEARCH report_nodes USING") && plan.contains("ordinal>?"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    /// A read does not wait for a write in progress: it sees the last committed state.
    #[test]
    fn reads_go_on_while_a_write_transaction_is_open() {
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path().join("c.db"), OpenMode::Create).unwrap();
        let old = report(3, TestStatus::Pass);
        store.put_report(&old).unwrap();
        let writer = store.writer();
        writer
            .execute_batch("BEGIN IMMEDIATE; DELETE FROM report_nodes; DELETE FROM reports;")
            .unwrap();
        // Were the read to wait for the write lock, it would fail with SQLITE_BUSY after
        // BUSY_TIMEOUT, the writer holding it throughout.
        assert_eq!(
            block_on(store.get_report(&old.id)).unwrap(),
            Some(old.clone())
        );
        writer.execute_batch("ROLLBACK").unwrap();
    }
}
