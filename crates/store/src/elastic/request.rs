//! Every request the store sends, built as plain data without sending anything.
//!
//! The shapes are documented in `docs/elasticsearch.md`; keeping them here as pure
//! functions lets tests compare them to that contract and lets the transport stay a few
//! lines long.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::QueryWindow;
use crate::query::{OrderColumn, ReportQuery, SortField};
use compliance_core::time;

/// Base name of the benchmark result indices (docs/spec.md §3).
pub const BENCHMARK_INDEX: &str = "tigera_secure_ee_benchmark_results";
/// Base name of the report indices (docs/spec.md §5).
pub const REPORT_INDEX: &str = "tigera_secure_ee_compliance_reports";
/// Base name of the indices holding the node results of split reports (our addition).
pub const REPORT_PARTS_INDEX: &str = "tigera_secure_ee_compliance_report_parts";

/// How long a point in time stays open between two pages of the benchmark read.
pub const PIT_KEEP_ALIVE: &str = "5m";
/// Point-in-time keep-alive for listing reports (small pages, quick).
pub const LIST_PIT_KEEP_ALIVE: &str = "1m";
/// Report heads per page of the whole list; a head without node results is ~2 KB.
pub const LIST_PAGE_SIZE: usize = 1000;
/// Elasticsearch's default `index.max_result_window`: `from + size` of a search may not
/// exceed it, which bounds how deep a paged list can go.
pub const RESULT_WINDOW: u64 = 10_000;
/// Report parts per page when reading a split report (each at most [`PART_BYTES`]): one.
///
/// A reader holds a page's JSON and its decoded nodes at once; a server streaming a
/// 10,000-node report to 20 clients held 2.2 GB with four parts a page. One part a page
/// costs a request per 8 MiB, which is nothing beside moving the 8 MiB.
pub const PARTS_PAGE_SIZE: usize = 1;
/// Largest JSON of one report part: small enough for Elasticsearch to index comfortably
/// and for several to share a bulk request.
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// Name of the collapse inner hit holding each node's latest document.
pub const INNER_HITS: &str = "latest";

/// HTTP method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

/// A request body, already serialized: reports can be tens of megabytes, and building a
/// `serde_json::Value` of them first would double the memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    None,
    /// Shared bytes: a retry re-sends the same buffer instead of copying it.
    Json(Bytes),
    /// `_bulk` lines (`application/x-ndjson`).
    Ndjson(Bytes),
}

impl Body {
    fn json(value: &Value) -> Body {
        Body::Json(
            serde_json::to_vec(value)
                .expect("a JSON value always serializes")
                .into(),
        )
    }

    pub fn len(&self) -> usize {
        match self {
            Body::None => 0,
            Body::Json(b) | Body::Ndjson(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The body as JSON, for tests and logs of small requests.
    pub fn as_json(&self) -> Option<Value> {
        match self {
            Body::Json(b) => serde_json::from_slice(b).ok(),
            _ => None,
        }
    }
}

/// One HTTP request to Elasticsearch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsRequest {
    /// What the request does, for log lines and errors ("open point in time").
    pub op: &'static str,
    pub method: Method,
    /// Path from the base URL, starting with `/`, already percent-encoded.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Body,
}

impl EsRequest {
    fn new(op: &'static str, method: Method, path: String) -> EsRequest {
        EsRequest {
            op,
            method,
            path,
            query: Vec::new(),
            body: Body::None,
        }
    }

    fn param(mut self, name: &'static str, value: &str) -> EsRequest {
        self.query.push((name, value.to_string()));
        self
    }

    fn body(mut self, body: Body) -> EsRequest {
        self.body = body;
        self
    }

    /// `METHOD /path?query` for messages.
    pub fn describe(&self) -> String {
        let method = match self.method {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        };
        if self.query.is_empty() {
            format!("{method} {}", self.path)
        } else {
            let q: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{method} {}?{}", self.path, q.join("&"))
        }
    }
}

/// The index names of one cluster (ELASTIC_INDEX_SUFFIX).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indices {
    suffix: String,
}

impl Indices {
    pub fn new(suffix: &str) -> Indices {
        Indices {
            suffix: suffix.to_string(),
        }
    }

    /// The cluster name (ELASTIC_INDEX_SUFFIX); what a report without `cluster` belongs to.
    pub fn cluster(&self) -> &str {
        &self.suffix
    }

    /// The rollover alias every write of `base` goes through: `X.S.` (trailing dot),
    /// as Calico Enterprise named it (docs/spec.md §5).
    pub fn write_alias(&self, base: &str) -> String {
        format!("{base}.{}.", self.suffix)
    }

    /// The first index behind `base`'s write alias, created on `date`:
    /// `X.S.lma-YYYYMMDD-000000`. Rollovers count up its last number.
    pub fn bootstrap_index(&self, base: &str, date: chrono::NaiveDate) -> String {
        format!(
            "{base}.{}.lma-{}-000000",
            self.suffix,
            date.format("%Y%m%d")
        )
    }

    /// The plain index earlier releases wrote `base` to (`X.S`): still read, never
    /// written.
    pub fn legacy(&self, base: &str) -> String {
        format!("{base}.{}", self.suffix)
    }

    /// Where benchmark documents are written: the alias `tigera_secure_ee_benchmark_results.S.`.
    pub fn benchmark_write(&self) -> String {
        self.write_alias(BENCHMARK_INDEX)
    }

    /// Where reports are written: the alias `tigera_secure_ee_compliance_reports.S.`.
    pub fn report_write(&self) -> String {
        self.write_alias(REPORT_INDEX)
    }

    /// Where the parts of split reports are written.
    pub fn report_parts(&self) -> String {
        self.write_alias(REPORT_PARTS_INDEX)
    }

    /// The name of `base`'s index template and lifecycle policy for this cluster: `X.S`.
    pub fn managed_name(&self, base: &str) -> String {
        format!("{base}.{}", self.suffix)
    }

    /// The read patterns of a base: `X.S` and Calico's rollover indices `X.S.*`.
    pub fn read_patterns(&self, base: &str) -> String {
        format!("{base}.{s},{base}.{s}.*", s = self.suffix)
    }

    /// The pattern resolved to learn whether any index of `base` exists. Wider than the
    /// read patterns; [`Indices::owns`] filters what it returns.
    pub fn resolve_pattern(&self, base: &str) -> String {
        format!("{base}.{}*", self.suffix)
    }

    /// Whether an index, alias or data stream name belongs to this cluster's `base`:
    /// `X.S` itself or `X.S.<anything>`, but not `X.S2` (another cluster).
    pub fn owns(&self, base: &str, name: &str) -> bool {
        let own = format!("{base}.{}", self.suffix);
        name == own
            || name
                .strip_prefix(&own)
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub use compliance_core::render::encode_path_segment as encode_segment;

/// `GET /_resolve/index/<pattern>`: which indices, aliases and data streams match.
pub fn resolve_index(pattern: &str) -> EsRequest {
    EsRequest::new(
        "resolve index names",
        Method::Get,
        format!("/_resolve/index/{pattern}"),
    )
}

/// `POST /<patterns>/_pit`: opens a point in time; missing concrete names are ignored.
pub fn open_pit(patterns: &str, keep_alive: &str) -> EsRequest {
    EsRequest::new(
        "open point in time",
        Method::Post,
        format!("/{patterns}/_pit"),
    )
    .param("keep_alive", keep_alive)
    .param("ignore_unavailable", "true")
}

/// `DELETE /_pit`: releases a point in time.
pub fn close_pit(pit: &str) -> EsRequest {
    EsRequest::new("close point in time", Method::Delete, "/_pit".into())
        .body(Body::json(&json!({ "id": pit })))
}

/// The window as an Elasticsearch range: both ends inclusive (docs/spec.md §4.1).
fn window_range(window: &QueryWindow) -> Value {
    json!({ "range": { "timestamp": {
        "gte": time::format(&window.start),
        "lte": time::format(&window.end),
        "format": "strict_date_optional_time",
    }}})
}

/// True for documents whose `error` has a word in it. `error` is `text`, where `exists`
/// also matches `""`; a regexp over the indexed terms does not.
fn has_error() -> Value {
    json!({ "regexp": { "error": ".+" } })
}

/// What a latest-per-node page answers with (`filter_path`): the PIT id, the shard
/// counts (failures are errors), each hit's sort value (the node name) and its inner
/// hit's index, id and filtered `_source`. Scores, totals, the collapse `fields` and the
/// outer hit's index and id are left out: 200 bytes a node that nothing reads.
pub const LATEST_PAGE_FILTER: &str = "pit_id,_shards,hits.hits.sort,\
hits.hits.inner_hits.latest.hits.hits._index,hits.hits.inner_hits.latest.hits.hits._id,\
hits.hits.inner_hits.latest.hits.hits._source";

/// One page of "each node's latest document in the window": good documents when
/// `errored` is false, errored ones when true. `after` is the last node name of the
/// previous page. Only the node name goes into `search_after`: Elasticsearch then skips
/// its implicit `_shard_doc` tiebreaker, which collapse with `search_after` forbids.
pub fn latest_per_node_page(
    window: &QueryWindow,
    pit: &str,
    after: Option<&str>,
    errored: bool,
    size: usize,
) -> EsRequest {
    let query = if errored {
        json!({ "bool": { "filter": [window_range(window), has_error()] } })
    } else {
        json!({ "bool": { "filter": [window_range(window)], "must_not": [has_error()] } })
    };
    let mut body = json!({
        "size": size,
        "track_total_hits": false,
        "_source": false,
        "query": query,
        "collapse": {
            "field": "node_name",
            "inner_hits": {
                "name": INNER_HITS,
                "size": 1,
                "_source": super::texts::STATUS_FIELDS,
                "sort": [{ "timestamp": { "order": "desc" } }],
            },
        },
        "sort": [{ "node_name": { "order": "asc" } }],
        "pit": { "id": pit, "keep_alive": PIT_KEEP_ALIVE },
    });
    if let Some(after) = after {
        body["search_after"] = json!([after]);
    }
    EsRequest::new(
        if errored {
            "search errored benchmark results"
        } else {
            "search benchmark results"
        },
        Method::Post,
        "/_search".into(),
    )
    .param("filter_path", LATEST_PAGE_FILTER)
    .body(Body::json(&body))
}

/// Node names per "last result" search, at most: 1,000. Each name is one collapsed hit
/// of about 150 bytes, and the terms filter stays far below `index.max_terms_count`
/// (65,536) and the result window (10,000).
pub const LAST_RESULT_BATCH: usize = 1000;

/// What a "last result" search answers with: the shard counts, each hit's sort value
/// (the node name) and its newest document's `timestamp`.
pub const LAST_RESULT_FILTER: &str =
    "_shards,hits.hits.sort,hits.hits.inner_hits.latest.hits.hits._source";

/// For each of `nodes` (at most [`LAST_RESULT_BATCH`]), its newest benchmark document of
/// any age, errored or not: a terms filter on `node_name`, collapsed on it, the newest
/// document's `timestamp` alone in the inner hit. One hit per node that has a document.
pub fn last_result_times(patterns: &str, nodes: &[String]) -> EsRequest {
    EsRequest::new(
        "find the last result of nodes",
        Method::Post,
        format!("/{patterns}/_search"),
    )
    .param("ignore_unavailable", "true")
    .param("filter_path", LAST_RESULT_FILTER)
    .body(Body::json(&json!({
        "size": nodes.len(),
        "track_total_hits": false,
        "_source": false,
        "query": { "bool": { "filter": [{ "terms": { "node_name": nodes } }] } },
        "collapse": {
            "field": "node_name",
            "inner_hits": {
                "name": INNER_HITS,
                "size": 1,
                "_source": ["timestamp"],
                "sort": [{ "timestamp": { "order": "desc" } }],
            },
        },
        "sort": [{ "node_name": { "order": "asc" } }],
    })))
}

/// The documents `ids` whole but for their top-level keys other than `version` and
/// `tests`, under the read's point in time: where the test texts come from
/// ([`super::texts`]). An id may be in two indices (a document imported again after a
/// rollover); the caller keeps the copy it asked for.
pub fn text_documents(pit: &str, ids: &[&str]) -> EsRequest {
    EsRequest::new("read test descriptions", Method::Post, "/_search".into()).body(Body::json(
        &json!({
            "size": ids.len() * 2,
            "track_total_hits": false,
            "_source": super::texts::TEXT_FIELDS,
            "query": { "ids": { "values": ids } },
            "pit": { "id": pit, "keep_alive": PIT_KEEP_ALIVE },
        }),
    ))
}

/// The `_id` of a benchmark document: node and time, so a re-import replaces it.
pub fn benchmark_doc_id(node_name: &str, timestamp: &DateTime<Utc>) -> String {
    format!(
        "{node_name}@{}",
        timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

/// Appends one `index` action and its source to a `_bulk` body.
pub fn push_bulk_index(out: &mut Vec<u8>, index: &str, id: &str, source: &[u8]) {
    let action = json!({ "index": { "_index": index, "_id": id } });
    serde_json::to_writer(&mut *out, &action).expect("a JSON value always serializes");
    out.push(b'\n');
    out.extend_from_slice(source);
    out.push(b'\n');
}

/// `POST /_bulk`; `refresh` waits until the documents are searchable.
pub fn bulk(op: &'static str, body: impl Into<Bytes>, refresh: bool) -> EsRequest {
    let req = EsRequest::new(op, Method::Post, "/_bulk".into()).body(Body::Ndjson(body.into()));
    if refresh {
        req.param("refresh", "wait_for")
    } else {
        req
    }
}

/// `PUT /<index>/_doc/<id>?refresh=wait_for`: creates or replaces one document.
pub fn put_document(op: &'static str, index: &str, id: &str, body: Vec<u8>) -> EsRequest {
    EsRequest::new(
        op,
        Method::Put,
        format!("/{index}/_doc/{}", encode_segment(id)),
    )
    .param("refresh", "wait_for")
    .body(Body::Json(body.into()))
}

/// Which parts of a report to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartsToDelete<'a> {
    /// Every generation but this one: leftovers of earlier runs of the window.
    AllBut(&'a str),
    /// Only this generation: a write that failed before its head was stored.
    Only(&'a str),
    /// All of them: the report is now a single document.
    All,
}

/// Deletes parts of report `id` (`_delete_by_query`; a missing index is not an error).
pub fn delete_parts(parts_index: &str, id: &str, which: PartsToDelete<'_>) -> EsRequest {
    let mut query = json!({ "bool": { "filter": [{ "term": { "reportId": id } }] } });
    match which {
        PartsToDelete::AllBut(g) => {
            query["bool"]["must_not"] = json!([{ "term": { "generation": g } }]);
        }
        PartsToDelete::Only(g) => {
            query["bool"]["filter"]
                .as_array_mut()
                .expect("filter is an array")
                .push(json!({ "term": { "generation": g } }));
        }
        PartsToDelete::All => {}
    }
    EsRequest::new(
        "delete report parts",
        Method::Post,
        format!("/{parts_index}/_delete_by_query"),
    )
    .param("ignore_unavailable", "true")
    .param("conflicts", "proceed")
    .param("refresh", "true")
    .body(Body::json(&json!({ "query": query })))
}

/// `DELETE /<index>/_doc/<id>?refresh=true`: removes one copy of a document.
pub fn delete_document(op: &'static str, index: &str, id: &str) -> EsRequest {
    EsRequest::new(
        op,
        Method::Delete,
        format!("/{}/_doc/{}", encode_segment(index), encode_segment(id)),
    )
    .param("refresh", "true")
}

/// `GET /_alias/<name>`: the indices behind an alias; 404 when there is no such alias.
pub fn get_alias(name: &str) -> EsRequest {
    EsRequest::new(
        "read write alias",
        Method::Get,
        format!("/_alias/{}", encode_segment(name)),
    )
}

/// `PUT /<index>` with `alias` on it as the write index: bootstraps a rollover alias.
/// The index takes its mappings, codec and lifecycle from the cluster's template.
pub fn create_write_index(index: &str, alias: &str) -> EsRequest {
    EsRequest::new(
        "create write index",
        Method::Put,
        format!("/{}", encode_segment(index)),
    )
    .body(Body::json(
        &json!({ "aliases": { alias: { "is_write_index": true } } }),
    ))
}

/// `GET /_ilm/policy/<name>`.
pub fn get_lifecycle_policy(name: &str) -> EsRequest {
    EsRequest::new(
        "read lifecycle policy",
        Method::Get,
        format!("/_ilm/policy/{}", encode_segment(name)),
    )
}

/// `PUT /_ilm/policy/<name>` with `{"policy": ..}`.
pub fn put_lifecycle_policy(name: &str, policy: &Value) -> EsRequest {
    EsRequest::new(
        "install lifecycle policy",
        Method::Put,
        format!("/_ilm/policy/{}", encode_segment(name)),
    )
    .body(Body::json(&json!({ "policy": policy })))
}

/// Finds a report head by id in every report index of the cluster.
pub fn report_by_id(patterns: &str, id: &str) -> EsRequest {
    EsRequest::new("get report", Method::Post, format!("/{patterns}/_search"))
        .param("ignore_unavailable", "true")
        .body(Body::json(&json!({
            "size": 10,
            "query": { "ids": { "values": [id] } },
        })))
}

/// One page of the parts of a split report, in part order.
pub fn report_parts_page(
    parts_index: &str,
    id: &str,
    generation: &str,
    after: Option<u64>,
) -> EsRequest {
    let mut body = json!({
        "size": PARTS_PAGE_SIZE,
        "query": { "bool": { "filter": [
            { "term": { "reportId": id } },
            { "term": { "generation": generation } },
        ] } },
        "sort": [{ "part": { "order": "asc" } }],
    });
    if let Some(after) = after {
        body["search_after"] = json!([after]);
    }
    EsRequest::new(
        "read report parts",
        Method::Post,
        format!("/{parts_index}/_search"),
    )
    .param("ignore_unavailable", "true")
    .body(Body::json(&body))
}

/// The `_source` of a previous report's document ([`previous_report`]): its id and
/// split keys, and, when its nodes are in it, their names only.
pub const PREVIOUS_REPORT_FIELDS: [&str; 7] = [
    "id",
    "generated_time",
    "cisBenchmarkParts",
    "cisBenchmarkGeneration",
    "cisBenchmarkNodeCount",
    "cisBenchmarkLayout",
    "cisBenchmark.nodeName",
];

/// The newest report of GlobalReport `name` whose window ended by `end`, ordered as
/// [`latest_report`] orders them; a few hits, so that a copy of the same id in another
/// index can be told apart ([`PREVIOUS_REPORT_FIELDS`]).
pub fn previous_report(patterns: &str, name: &str, end: &DateTime<Utc>) -> EsRequest {
    EsRequest::new(
        "find the previous report",
        Method::Post,
        format!("/{patterns}/_search"),
    )
    .param("ignore_unavailable", "true")
    .body(Body::json(&json!({
        "size": 10,
        "track_total_hits": false,
        "_source": PREVIOUS_REPORT_FIELDS,
        "query": { "bool": { "filter": [
            { "term": { "reportName": name } },
            { "range": { "endTime": {
                "lte": time::format(end),
                "format": "strict_date_optional_time",
            } } },
        ] } },
        "sort": [
            report_sort(OrderColumn::Field(SortField::EndTime), true),
            report_sort(OrderColumn::Field(SortField::GenerationTime), true),
            report_sort(OrderColumn::Id, false),
        ],
    })))
}

/// Parts per page when only their node names are read: 100 (each part holds at most
/// [`PART_BYTES`], its names a small fraction of that).
pub const PART_NAMES_PAGE_SIZE: usize = 100;

/// The `_source` of a part read for its node names: the part number, and the names in
/// either layout (`cisBenchmark` an array of whole nodes, or a compact payload).
pub const PART_NAME_FIELDS: [&str; 3] = [
    "part",
    "cisBenchmark.nodeName",
    "cisBenchmark.nodes.nodeName",
];

/// One page of a split report's parts, in part order, with their node names only.
pub fn report_part_names_page(
    parts_index: &str,
    id: &str,
    generation: &str,
    after: Option<u64>,
) -> EsRequest {
    let mut body = json!({
        "size": PART_NAMES_PAGE_SIZE,
        "_source": PART_NAME_FIELDS,
        "query": { "bool": { "filter": [
            { "term": { "reportId": id } },
            { "term": { "generation": generation } },
        ] } },
        "sort": [{ "part": { "order": "asc" } }],
    });
    if let Some(after) = after {
        body["search_after"] = json!([after]);
    }
    EsRequest::new(
        "read report node names",
        Method::Post,
        format!("/{parts_index}/_search"),
    )
    .param("ignore_unavailable", "true")
    .body(Body::json(&body))
}

/// The `_source` fields of a report head: every docs/spec.md §5 key but the node results, and
/// the keys a split report's head adds.
pub const HEAD_FIELDS: [&str; 17] = [
    "id",
    "reportName",
    "reportTypeName",
    "reportSpec",
    "reportTypeSpec",
    "startTime",
    "endTime",
    "generationTime",
    "generated_time",
    "cisBenchmarkSummary",
    "uiSummary",
    "cluster",
    "cisBenchmarkParts",
    "cisBenchmarkGeneration",
    "cisBenchmarkNodeCount",
    "provenance",
    "waivers",
];

/// Where copies of report `id` are: one hit per index holding it, with a one-key
/// `_source` (a hit without one would not parse as a hit of ours).
pub fn report_copies(patterns: &str, id: &str) -> EsRequest {
    EsRequest::new(
        "find report copies",
        Method::Post,
        format!("/{patterns}/_search"),
    )
    .param("ignore_unavailable", "true")
    .body(Body::json(&json!({
        "size": 100,
        "_source": ["reportName"],
        "query": { "ids": { "values": [id] } },
    })))
}

/// Finds the heads of report `id` (one per index holding it) without the node results.
pub fn report_head(patterns: &str, id: &str) -> EsRequest {
    EsRequest::new(
        "get report head",
        Method::Post,
        format!("/{patterns}/_search"),
    )
    .param("ignore_unavailable", "true")
    .body(Body::json(&json!({
        "size": 10,
        "_source": HEAD_FIELDS,
        "query": { "ids": { "values": [id] } },
    })))
}

/// A sort clause on a report field. `unmapped_type` makes an index that has never seen
/// the field (no report yet, or one of Calico's without `id`) sort it as missing instead
/// of failing the search.
fn report_sort(column: OrderColumn, descending: bool) -> Value {
    let (field, kind) = match column {
        OrderColumn::Id => ("id", "keyword"),
        OrderColumn::Field(f) => (
            f.key(),
            match f {
                SortField::ReportName | SortField::ReportTypeName => "keyword",
                SortField::GenerationTime | SortField::StartTime | SortField::EndTime => "date",
            },
        ),
    };
    let order = if descending { "desc" } else { "asc" };
    json!({ field: { "order": order, "unmapped_type": kind } })
}

/// A range on a report time; both ends inclusive, either open. Report times are whole
/// seconds, so the ends are rounded inwards to whole seconds (a start with a fraction up,
/// an end down), which keeps exactly the reports the exact ends would.
fn report_time_range(
    field: &str,
    from: Option<&DateTime<Utc>>,
    to: Option<&DateTime<Utc>>,
) -> Value {
    let mut range = json!({ "format": "strict_date_optional_time" });
    if let Some(from) = from {
        let up = match from.timestamp_subsec_nanos() {
            0 => *from,
            _ => time::truncate_to_seconds(*from) + chrono::Duration::seconds(1),
        };
        range["gte"] = json!(time::format(&up));
    }
    if let Some(to) = to {
        range["lte"] = json!(time::format(to));
    }
    json!({ "range": { field: range } })
}

/// The filters of a report query: names and types as `terms` (OR within, AND between),
/// and "startTime or endTime in [from, to]" as a `should` of two ranges of which one must
/// match.
fn report_filters(q: &ReportQuery) -> Value {
    let mut filters = Vec::new();
    if !q.report_names.is_empty() {
        filters.push(json!({ "terms": { "reportName": q.report_names } }));
    }
    if !q.report_type_names.is_empty() {
        filters.push(json!({ "terms": { "reportTypeName": q.report_type_names } }));
    }
    if q.from.is_some() || q.to.is_some() {
        let (from, to) = (q.from.as_ref(), q.to.as_ref());
        filters.push(json!({ "bool": {
            "should": [
                report_time_range("startTime", from, to),
                report_time_range("endTime", from, to),
            ],
            "minimum_should_match": 1,
        } }));
    }
    json!({ "bool": { "filter": filters } })
}

/// One page of the reports matching `q`: report heads from position `from`, sorted by
/// [`ReportQuery::order`], with the exact number of matches (`track_total_hits`).
/// `from + size` must stay within [`RESULT_WINDOW`]; the caller checks.
pub fn list_reports(patterns: &str, q: &ReportQuery, from: u64) -> EsRequest {
    let sort: Vec<Value> = q
        .order()
        .into_iter()
        .map(|(column, descending)| report_sort(column, descending))
        .collect();
    EsRequest::new("list reports", Method::Post, format!("/{patterns}/_search"))
        .param("ignore_unavailable", "true")
        .body(Body::json(&json!({
            "from": from,
            "size": q.max_items,
            "track_total_hits": true,
            "_source": HEAD_FIELDS,
            "query": report_filters(q),
            "sort": sort,
        })))
}

/// The newest report of GlobalReport `name`: latest endTime, then latest
/// generationTime, then the smallest id; one hit, no total.
pub fn latest_report(patterns: &str, name: &str) -> EsRequest {
    EsRequest::new(
        "find the latest report",
        Method::Post,
        format!("/{patterns}/_search"),
    )
    .param("ignore_unavailable", "true")
    .body(Body::json(&json!({
        "size": 1,
        "track_total_hits": false,
        "_source": HEAD_FIELDS,
        "query": { "bool": { "filter": [{ "term": { "reportName": name } }] } },
        "sort": [
            report_sort(OrderColumn::Field(SortField::EndTime), true),
            report_sort(OrderColumn::Field(SortField::GenerationTime), true),
            report_sort(OrderColumn::Id, false),
        ],
    })))
}

/// One page of every report head, newest window first, under a point in time: the whole
/// list of `reports list`. `after` is every sort value of the previous page's last hit
/// (the implicit tiebreaker included).
pub fn all_reports_page(pit: &str, after: Option<&[Value]>) -> EsRequest {
    let mut body = json!({
        "size": LIST_PAGE_SIZE,
        "track_total_hits": false,
        "_source": HEAD_FIELDS,
        "sort": [{ "endTime": { "order": "desc", "unmapped_type": "date" } }],
        "pit": { "id": pit, "keep_alive": LIST_PIT_KEEP_ALIVE },
    });
    if let Some(after) = after {
        body["search_after"] = Value::Array(after.to_vec());
    }
    EsRequest::new("list reports", Method::Post, "/_search".into()).body(Body::json(&body))
}

/// `GET /_index_template/<name>`.
pub fn get_index_template(name: &str) -> EsRequest {
    EsRequest::new(
        "read index template",
        Method::Get,
        format!("/_index_template/{}", encode_segment(name)),
    )
}

/// `PUT /_index_template/<name>`.
pub fn put_index_template(name: &str, body: &Value) -> EsRequest {
    EsRequest::new(
        "install index template",
        Method::Put,
        format!("/_index_template/{}", encode_segment(name)),
    )
    .body(Body::json(body))
}

/// `GET /<patterns>/_mapping/field/<fields>`: how existing indices map some fields.
pub fn field_mappings(patterns: &str, fields: &[&str]) -> EsRequest {
    EsRequest::new(
        "read field mappings",
        Method::Get,
        format!("/{patterns}/_mapping/field/{}", fields.join(",")),
    )
    .param("ignore_unavailable", "true")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> QueryWindow {
        QueryWindow {
            start: time::parse("2026-11-24T12:00:00Z").unwrap(),
            end: time::parse("2026-11-26T00:00:00Z").unwrap(),
        }
    }

    #[test]
    fn index_names_follow_the_spec_and_calico() {
        let i = Indices::new("cluster");
        // Writes go through Calico's rollover aliases, with the trailing dot.
        assert_eq!(
            i.benchmark_write(),
            "tigera_secure_ee_benchmark_results.cluster."
        );
        assert_eq!(
            i.report_write(),
            "tigera_secure_ee_compliance_reports.cluster."
        );
        assert_eq!(
            i.bootstrap_index(
                REPORT_INDEX,
                chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()
            ),
            "tigera_secure_ee_compliance_reports.cluster.lma-20261204-000000"
        );
        assert_eq!(
            i.legacy(REPORT_INDEX),
            "tigera_secure_ee_compliance_reports.cluster"
        );
        assert_eq!(
            i.read_patterns(BENCHMARK_INDEX),
            "tigera_secure_ee_benchmark_results.cluster,tigera_secure_ee_benchmark_results.cluster.*"
        );
        assert_eq!(
            i.resolve_pattern(REPORT_INDEX),
            "tigera_secure_ee_compliance_reports.cluster*"
        );
    }

    #[test]
    fn another_clusters_indices_are_not_ours() {
        let i = Indices::new("prod");
        assert!(i.owns(BENCHMARK_INDEX, "tigera_secure_ee_benchmark_results.prod"));
        assert!(i.owns(BENCHMARK_INDEX, "tigera_secure_ee_benchmark_results.prod."));
        assert!(i.owns(
            BENCHMARK_INDEX,
            "tigera_secure_ee_benchmark_results.prod.lma-000001"
        ));
        assert!(!i.owns(
            BENCHMARK_INDEX,
            "tigera_secure_ee_benchmark_results.prod-eu"
        ));
        assert!(!i.owns(
            BENCHMARK_INDEX,
            "tigera_secure_ee_benchmark_results.production"
        ));
        assert!(!i.owns(REPORT_INDEX, "tigera_secure_ee_benchmark_results.prod"));
    }

    #[test]
    fn texts_are_read_under_the_point_in_time_by_id() {
        let req = text_documents("PIT1", &["n1@2026-11-25T23:00:00.000Z", "n2@x"]);
        assert_eq!(req.describe(), "POST /_search");
        assert_eq!(
            req.body.as_json().unwrap(),
            json!({"size": 4, "track_total_hits": false, "_source": ["version", "tests"],
                   "query": {"ids": {"values": ["n1@2026-11-25T23:00:00.000Z", "n2@x"]}},
                   "pit": {"id": "PIT1", "keep_alive": "5m"}})
        );
    }

    #[test]
    fn rollover_aliases_are_bootstrapped_with_their_write_index() {
        let req = create_write_index(
            "tigera_secure_ee_compliance_reports.cluster.lma-20261204-000000",
            "tigera_secure_ee_compliance_reports.cluster.",
        );
        assert_eq!(
            req.describe(),
            "PUT /tigera_secure_ee_compliance_reports.cluster.lma-20261204-000000"
        );
        assert_eq!(
            req.body.as_json().unwrap(),
            json!({"aliases": {"tigera_secure_ee_compliance_reports.cluster.": {"is_write_index": true}}})
        );
        assert_eq!(
            get_alias("tigera_secure_ee_compliance_reports.cluster.").describe(),
            "GET /_alias/tigera_secure_ee_compliance_reports.cluster."
        );
        assert_eq!(
            put_lifecycle_policy("p.c", &json!({"phases": {}})).describe(),
            "PUT /_ilm/policy/p.c"
        );
    }

    #[test]
    fn first_page_collapses_on_node_name_and_keeps_the_latest() {
        let req = latest_per_node_page(&window(), "PIT1", None, false, 200);
        assert_eq!(
            req.describe(),
            format!("POST /_search?filter_path={LATEST_PAGE_FILTER}")
        );
        assert_eq!(
            req.body.as_json().unwrap(),
            json!({
                "size": 200,
                "track_total_hits": false,
                "_source": false,
                "query": { "bool": {
                    "filter": [{ "range": { "timestamp": {
                        "gte": "2026-11-24T12:00:00Z", "lte": "2026-11-26T00:00:00Z",
                        "format": "strict_date_optional_time" } } }],
                    "must_not": [{ "regexp": { "error": ".+" } }],
                } },
                "collapse": { "field": "node_name", "inner_hits": {
                    "name": "latest", "size": 1, "_source": ["version", "kubernetesVersion", "type", "node_name",
                                    "timestamp", "error", "cluster",
                                    "platform", "kubeBenchVersion", "benchmarkerVersion",
                                    "benchmarkChoice",
                                    "tests.test_number", "tests.status"],
                    "sort": [{ "timestamp": { "order": "desc" } }] } },
                "sort": [{ "node_name": { "order": "asc" } }],
                "pit": { "id": "PIT1", "keep_alive": "5m" },
            })
        );
    }

    #[test]
    fn later_pages_search_after_the_node_name_only() {
        let body = latest_per_node_page(&window(), "PIT2", Some("node-0199"), true, 50)
            .body
            .as_json()
            .unwrap();
        assert_eq!(body["search_after"], json!(["node-0199"]));
        assert_eq!(body["size"], json!(50));
        assert_eq!(
            body["query"]["bool"]["filter"][1],
            json!({ "regexp": { "error": ".+" } })
        );
        assert!(body["query"]["bool"].get("must_not").is_none());
    }

    #[test]
    fn pit_requests() {
        let open = open_pit("a.cluster,a.cluster.*", PIT_KEEP_ALIVE);
        assert_eq!(
            open.describe(),
            "POST /a.cluster,a.cluster.*/_pit?keep_alive=5m&ignore_unavailable=true"
        );
        assert!(open.body.is_empty());
        let close = close_pit("P");
        assert_eq!(close.describe(), "DELETE /_pit");
        assert_eq!(close.body.as_json().unwrap(), json!({ "id": "P" }));
    }

    #[test]
    fn bulk_lines_pair_an_action_with_its_source() {
        let mut body = Vec::new();
        push_bulk_index(
            &mut body,
            "idx",
            "n1@2026-11-26T10:00:00.000Z",
            br#"{"a":1}"#,
        );
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            "{\"index\":{\"_id\":\"n1@2026-11-26T10:00:00.000Z\",\"_index\":\"idx\"}}\n{\"a\":1}\n"
        );
        let req = bulk("store benchmark results", body, true);
        assert_eq!(req.describe(), "POST /_bulk?refresh=wait_for");
        assert!(matches!(req.body, Body::Ndjson(_)));
    }

    #[test]
    fn benchmark_ids_are_node_and_millisecond_time() {
        let t = time::parse("2026-11-26T10:00:00Z").unwrap();
        assert_eq!(
            benchmark_doc_id("ip-10-0-1-7", &t),
            "ip-10-0-1-7@2026-11-26T10:00:00.000Z"
        );
    }

    #[test]
    fn report_ids_are_encoded_in_paths() {
        let req = put_document(
            "store report",
            "r.cluster",
            "daily_cis-benchmark_1/2 x",
            b"{}".to_vec(),
        );
        assert_eq!(
            req.describe(),
            "PUT /r.cluster/_doc/daily_cis-benchmark_1%2F2%20x?refresh=wait_for"
        );
    }

    #[test]
    fn stale_parts_keep_the_current_generation() {
        let req = delete_parts("p.cluster", "R", PartsToDelete::AllBut("G"));
        assert_eq!(
            req.describe(),
            "POST /p.cluster/_delete_by_query?ignore_unavailable=true&conflicts=proceed&refresh=true"
        );
        assert_eq!(
            req.body.as_json().unwrap(),
            json!({ "query": { "bool": {
                "filter": [{ "term": { "reportId": "R" } }],
                "must_not": [{ "term": { "generation": "G" } }] } } })
        );
        let all = delete_parts("p.cluster", "R", PartsToDelete::All)
            .body
            .as_json()
            .unwrap();
        assert!(all["query"]["bool"].get("must_not").is_none());
        let only = delete_parts("p.cluster", "R", PartsToDelete::Only("G"))
            .body
            .as_json()
            .unwrap();
        assert_eq!(
            only["query"]["bool"]["filter"][1],
            json!({ "term": { "generation": "G" } })
        );
    }

    #[test]
    fn report_reads() {
        let get = report_by_id("r.c,r.c.*", "ID");
        assert_eq!(
            get.describe(),
            "POST /r.c,r.c.*/_search?ignore_unavailable=true"
        );
        assert_eq!(
            get.body.as_json().unwrap()["query"],
            json!({ "ids": { "values": ["ID"] } })
        );
        let parts = report_parts_page("p.c", "ID", "G", Some(3))
            .body
            .as_json()
            .unwrap();
        assert_eq!(parts["search_after"], json!([3]));
        assert_eq!(parts["sort"], json!([{ "part": { "order": "asc" } }]));
        let list = all_reports_page("P", Some(&[json!(1764115200000_i64), json!(17)]))
            .body
            .as_json()
            .unwrap();
        assert_eq!(list["search_after"], json!([1764115200000_i64, 17]));
        assert_eq!(list["pit"]["keep_alive"], json!("1m"));
    }

    #[test]
    fn the_default_list_is_the_newest_windows_with_a_total() {
        let req = list_reports("r.c,r.c.*", &ReportQuery::default(), 0);
        assert_eq!(
            req.describe(),
            "POST /r.c,r.c.*/_search?ignore_unavailable=true"
        );
        let body = req.body.as_json().unwrap();
        assert_eq!(
            body,
            json!({
                "from": 0,
                "size": 100,
                "track_total_hits": true,
                "_source": HEAD_FIELDS,
                "query": { "bool": { "filter": [] } },
                "sort": [
                    { "endTime": { "order": "desc", "unmapped_type": "date" } },
                    { "reportName": { "order": "asc", "unmapped_type": "keyword" } },
                    { "id": { "order": "asc", "unmapped_type": "keyword" } },
                ],
            })
        );
        assert!(!HEAD_FIELDS.contains(&"cisBenchmark"));
    }

    #[test]
    fn list_filters_are_terms_and_a_start_or_end_range() {
        let q = ReportQuery {
            report_names: vec!["daily".into(), "weekly".into()],
            report_type_names: vec!["cis-benchmark".into()],
            from: Some(time::parse("2026-11-25T00:00:00Z").unwrap()),
            to: None,
            sort: vec![crate::SortKey::ascending(SortField::StartTime)],
            page: 3,
            max_items: 20,
        };
        let body = list_reports("r.c", &q, 60).body.as_json().unwrap();
        assert_eq!(
            (body["from"].clone(), body["size"].clone()),
            (json!(60), json!(20))
        );
        assert_eq!(
            body["query"],
            json!({ "bool": { "filter": [
                { "terms": { "reportName": ["daily", "weekly"] } },
                { "terms": { "reportTypeName": ["cis-benchmark"] } },
                { "bool": {
                    "should": [
                        { "range": { "startTime": {
                            "gte": "2026-11-25T00:00:00Z", "format": "strict_date_optional_time" } } },
                        { "range": { "endTime": {
                            "gte": "2026-11-25T00:00:00Z", "format": "strict_date_optional_time" } } },
                    ],
                    "minimum_should_match": 1,
                } },
            ] } })
        );
        assert_eq!(
            body["sort"],
            json!([
                { "startTime": { "order": "asc", "unmapped_type": "date" } },
                { "id": { "order": "asc", "unmapped_type": "keyword" } },
            ])
        );
    }

    #[test]
    fn the_latest_report_is_one_hit_sorted_by_end_then_generation() {
        let body = latest_report("r.c", "daily").body.as_json().unwrap();
        assert_eq!(body["size"], json!(1));
        assert_eq!(
            body["query"],
            json!({ "bool": { "filter": [{ "term": { "reportName": "daily" } }] } })
        );
        assert_eq!(
            body["sort"],
            json!([
                { "endTime": { "order": "desc", "unmapped_type": "date" } },
                { "generationTime": { "order": "desc", "unmapped_type": "date" } },
                { "id": { "order": "asc", "unmapped_type": "keyword" } },
            ])
        );
        let head = report_head("r.c", "ID").body.as_json().unwrap();
        assert_eq!(head["_source"], json!(HEAD_FIELDS));
        assert_eq!(head["query"], json!({ "ids": { "values": ["ID"] } }));
    }

    #[test]
    fn time_bounds_with_fractions_round_inwards_to_whole_seconds() {
        let t = |s: &str| Some(time::parse(s).unwrap());
        let q = ReportQuery {
            from: t("2026-11-25T00:00:00.250Z"),
            to: t("2026-11-26T00:00:00.750Z"),
            ..ReportQuery::default()
        };
        let body = list_reports("r.c", &q, 0).body.as_json().unwrap();
        let range = &body["query"]["bool"]["filter"][0]["bool"]["should"][0]["range"]["startTime"];
        assert_eq!(range["gte"], json!("2026-11-25T00:00:01Z"));
        assert_eq!(range["lte"], json!("2026-11-26T00:00:00Z"));
    }

    #[test]
    fn last_result_times_collapse_the_named_nodes_on_their_newest_document() {
        let nodes = vec!["ip-10-0-1-7".to_string(), "ip-10-0-1-8".to_string()];
        let req = last_result_times("tigera_secure_ee_benchmark_results.cluster.*", &nodes);
        assert_eq!(
            req.describe(),
            format!(
                "POST /tigera_secure_ee_benchmark_results.cluster.*/_search\
                 ?ignore_unavailable=true&filter_path={LAST_RESULT_FILTER}"
            )
        );
        assert_eq!(
            req.body.as_json().unwrap(),
            json!({
                "size": 2,
                "track_total_hits": false,
                "_source": false,
                "query": { "bool": { "filter": [
                    { "terms": { "node_name": ["ip-10-0-1-7", "ip-10-0-1-8"] } },
                ] } },
                "collapse": { "field": "node_name", "inner_hits": {
                    "name": "latest", "size": 1, "_source": ["timestamp"],
                    "sort": [{ "timestamp": { "order": "desc" } }],
                } },
                "sort": [{ "node_name": { "order": "asc" } }],
            })
        );
    }

    #[test]
    fn the_previous_report_is_the_newest_ending_by_the_time_with_names_only() {
        let end = time::parse("2026-11-26T00:00:00Z").unwrap();
        let req = previous_report(
            "tigera_secure_ee_compliance_reports.cluster.*",
            "daily",
            &end,
        );
        let body = req.body.as_json().unwrap();
        assert_eq!(
            body["query"],
            json!({ "bool": { "filter": [
                { "term": { "reportName": "daily" } },
                { "range": { "endTime": { "lte": "2026-11-26T00:00:00Z",
                                           "format": "strict_date_optional_time" } } },
            ] } })
        );
        assert_eq!(body["_source"], json!(PREVIOUS_REPORT_FIELDS));
        assert_eq!(
            body["sort"],
            latest_report("p", "daily").body.as_json().unwrap()["sort"]
        );
        let parts = report_part_names_page("parts.*", "daily_x", "g1", Some(99));
        let body = parts.body.as_json().unwrap();
        assert_eq!(body["_source"], json!(PART_NAME_FIELDS));
        assert_eq!(body["search_after"], json!([99]));
        assert_eq!(body["size"], json!(PART_NAMES_PAGE_SIZE));
    }
}
