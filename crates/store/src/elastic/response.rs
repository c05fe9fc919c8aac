//! Every response the store reads, parsed by pure functions over the body bytes.
//!
//! Parsers borrow from the body where they can (`RawValue` for document sources), so a
//! 25 MB search page is walked once and each node's document is decoded straight into
//! the model, sharing test texts through the interner.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use compliance_core::model::{CisBenchmarkSummary, GlobalReportSpec, GlobalReportTypeSpec, time};

use super::request::{INNER_HITS, Indices};
use super::texts::{SlimDocument, TextDocument};
use crate::query::ReportHead;

/// A response body that is not what the API documents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected response to {op}: {detail}")]
pub struct ParseError {
    pub op: &'static str,
    pub detail: String,
}

fn parse<'a, T: Deserialize<'a>>(op: &'static str, body: &'a [u8]) -> Result<T, ParseError> {
    serde_json::from_slice(body).map_err(|e| ParseError {
        op,
        detail: e.to_string(),
    })
}

/// Elasticsearch's error object (`{"error":{"type","reason","root_cause","caused_by"},"status"}`),
/// or the start of whatever text a proxy answered instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// The error `type`, e.g. `security_exception`; empty when the body was not JSON.
    pub kind: String,
    pub reason: String,
    /// Every `type` in the error, its root causes and its `caused_by` chain.
    pub types: BTreeSet<String>,
    /// The first root cause (`type: reason`) when it says more than the top level, as
    /// search errors do ("all shards failed" on top, the real reason underneath).
    pub root_cause: Option<String>,
}

impl ErrorBody {
    /// Whether `kind` appears anywhere in the error.
    pub fn mentions(&self, kind: &str) -> bool {
        self.types.contains(kind)
    }

    /// `type: reason`, or the reason alone.
    pub fn summary(&self) -> String {
        let top = match (self.kind.is_empty(), self.reason.is_empty()) {
            (true, true) => "(empty response)".to_string(),
            (true, false) => self.reason.clone(),
            (false, true) => self.kind.clone(),
            (false, false) => format!("{}: {}", self.kind, self.reason),
        };
        match &self.root_cause {
            Some(root) => format!("{top} (root cause {root})"),
            None => top,
        }
    }
}

/// Reads an error response; never fails (an unreadable body becomes the reason).
pub fn parse_error(body: &[u8]) -> ErrorBody {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let reason = match text.char_indices().nth(300) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.to_string(),
        };
        return ErrorBody {
            kind: String::new(),
            reason,
            types: BTreeSet::new(),
            root_cause: None,
        };
    };
    error_from_value(&value["error"])
}

/// Reads an Elasticsearch error object (the value of a response's `error`, or a shard
/// failure's `reason`).
fn error_from_value(error: &Value) -> ErrorBody {
    let mut types = BTreeSet::new();
    if let Some(text) = error.as_str() {
        // Very old clusters and some proxies answer {"error": "text"}.
        return ErrorBody {
            kind: String::new(),
            reason: text.to_string(),
            types,
            root_cause: None,
        };
    }
    collect_types(error, &mut types);
    let kind = error["type"].as_str().unwrap_or_default().to_string();
    let reason = error["reason"].as_str().unwrap_or_default().to_string();
    let root = &error["root_cause"][0];
    let root_cause = match (root["type"].as_str(), root["reason"].as_str()) {
        (Some(t), r) if t != kind || r.is_some_and(|r| r != reason) => {
            Some(format!("{t}: {}", r.unwrap_or("")))
        }
        _ => None,
    };
    ErrorBody {
        kind,
        reason,
        types,
        root_cause,
    }
}

fn collect_types(error: &Value, types: &mut BTreeSet<String>) {
    if let Some(t) = error["type"].as_str() {
        types.insert(t.to_string());
    }
    if let Some(causes) = error["root_cause"].as_array() {
        for c in causes {
            collect_types(c, types);
        }
    }
    if error["caused_by"].is_object() {
        collect_types(&error["caused_by"], types);
    }
    // Search phase failures nest the shard errors here.
    if let Some(failed) = error["failed_shards"].as_array() {
        for f in failed {
            collect_types(&f["reason"], types);
        }
    }
}

/// `_resolve/index`: the names (indices, aliases, data streams) owned by this cluster's
/// `base` (see [`Indices::owns`]).
pub fn parse_resolve(
    body: &[u8],
    indices: &Indices,
    base: &str,
) -> Result<Vec<String>, ParseError> {
    #[derive(Deserialize)]
    struct Named {
        name: String,
    }
    #[derive(Deserialize)]
    struct Resolved {
        #[serde(default)]
        indices: Vec<Named>,
        #[serde(default)]
        aliases: Vec<Named>,
        #[serde(default)]
        data_streams: Vec<Named>,
    }
    let r: Resolved = parse("resolve index names", body)?;
    let mut names: Vec<String> = r
        .indices
        .into_iter()
        .chain(r.aliases)
        .chain(r.data_streams)
        .map(|n| n.name)
        .filter(|n| indices.owns(base, n))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// `_pit`: the point-in-time id.
pub fn parse_open_pit(body: &[u8]) -> Result<String, ParseError> {
    #[derive(Deserialize)]
    struct Opened {
        id: String,
    }
    Ok(parse::<Opened>("open point in time", body)?.id)
}

#[derive(Deserialize)]
struct Shards {
    #[serde(default)]
    failed: u64,
    #[serde(default)]
    failures: Vec<Value>,
}

/// The envelope every search response shares; `H` is the shape of one hit.
#[derive(Deserialize)]
struct SearchPage<H> {
    pit_id: Option<String>,
    #[serde(rename = "_shards")]
    shards: Option<Shards>,
    /// Absent from a response cut by `filter_path` when no hit matched.
    #[serde(default = "SearchHits::empty")]
    hits: SearchHits<H>,
}

#[derive(Deserialize)]
struct SearchHits<H> {
    /// Present unless the search sent `track_total_hits: false`.
    total: Option<Total>,
    hits: Vec<H>,
}

impl<H> SearchHits<H> {
    fn empty() -> SearchHits<H> {
        SearchHits {
            total: None,
            hits: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
struct Total {
    value: u64,
    relation: String,
}

/// Parses a search response and refuses it when shards failed.
fn parse_search<'a, H: Deserialize<'a>>(
    op: &'static str,
    body: &'a [u8],
) -> Result<(Vec<H>, Option<String>), ParseError> {
    let page = parse_search_page(op, body)?;
    Ok((page.hits.hits, page.pit_id))
}

/// The whole search response, refused when shards failed.
fn parse_search_page<'a, H: Deserialize<'a>>(
    op: &'static str,
    body: &'a [u8],
) -> Result<SearchPage<H>, ParseError> {
    let page: SearchPage<H> = parse(op, body)?;
    check_shards(op, &page.shards)?;
    Ok(page)
}

/// Shard failures make a search incomplete: a failed shard would silently drop nodes.
fn check_shards(op: &'static str, shards: &Option<Shards>) -> Result<(), ParseError> {
    match shards {
        Some(s) if s.failed > 0 => {
            let reasons: Vec<String> = s
                .failures
                .iter()
                .take(3)
                .map(|f| {
                    let e = error_from_value(&f["reason"]);
                    format!(
                        "{} (index {})",
                        e.summary(),
                        f["index"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            Err(ParseError {
                op,
                detail: format!(
                    "{} shard(s) failed, so results would be incomplete: {}",
                    s.failed,
                    reasons.join("; ")
                ),
            })
        }
        _ => Ok(()),
    }
}

/// A benchmark document the store could not decode: skipped, counted and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedDocument {
    pub index: String,
    pub id: String,
    pub reason: String,
}

/// What one page of the latest-per-node search held.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodePage {
    /// Collapsed hits on the page (one per node).
    pub hits: usize,
    /// Node name of the last hit: the next page's `search_after`.
    pub last_node: Option<String>,
    /// The point-in-time id to use next (Elasticsearch may change it).
    pub pit_id: Option<String>,
    pub skipped: Vec<SkippedDocument>,
}

/// Parses one page of the latest-per-node search: each node's document as read without
/// its test texts ([`super::texts::STATUS_FIELDS`]). Documents that do not decode are
/// skipped and listed, not fatal.
pub fn parse_latest_page(body: &[u8]) -> Result<(NodePage, Vec<SlimDocument>), ParseError> {
    const OP: &str = "search benchmark results";
    #[derive(Deserialize)]
    struct InnerHit<'a> {
        #[serde(rename = "_index", default)]
        index: String,
        #[serde(rename = "_id", default)]
        id: String,
        #[serde(rename = "_source", borrow)]
        source: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct InnerHits<'a> {
        #[serde(borrow)]
        hits: Vec<InnerHit<'a>>,
    }
    #[derive(Deserialize)]
    struct InnerResult<'a> {
        #[serde(borrow)]
        hits: InnerHits<'a>,
    }
    #[derive(Deserialize)]
    struct Hit<'a> {
        #[serde(default)]
        sort: Vec<Value>,
        #[serde(borrow, default)]
        inner_hits: std::collections::HashMap<String, InnerResult<'a>>,
    }
    let (hits, pit_id) = parse_search::<Hit>(OP, body)?;
    let mut out = NodePage {
        hits: hits.len(),
        pit_id,
        ..NodePage::default()
    };
    let mut docs = Vec::with_capacity(hits.len());
    for hit in hits {
        let node = match hit.sort.first() {
            Some(Value::String(s)) => s.clone(),
            other => {
                return Err(ParseError {
                    op: OP,
                    detail: format!("a hit's sort value is {other:?}, not the node name"),
                });
            }
        };
        out.last_node = Some(node);
        let Some(inner) = hit.inner_hits.get(INNER_HITS) else {
            return Err(ParseError {
                op: OP,
                detail: format!("a hit has no `{INNER_HITS}` inner hits"),
            });
        };
        for doc in &inner.hits.hits {
            let decoded = match doc.source {
                Some(raw) => decode_slim(raw.get()),
                None => Err("the hit has no _source (is _source disabled in the mapping?)".into()),
            };
            match decoded {
                Ok(mut d) => {
                    d.index.clone_from(&doc.index);
                    d.id.clone_from(&doc.id);
                    docs.push(d);
                }
                Err(reason) => out.skipped.push(SkippedDocument {
                    index: doc.index.clone(),
                    id: doc.id.clone(),
                    reason,
                }),
            }
        }
    }
    Ok((out, docs))
}

/// Parses a "last result" search ([`super::request::last_result_times`]): each node
/// name with its newest document's `timestamp`, cut to whole milliseconds as both stores
/// keep benchmark times. A hit without a readable timestamp is an error: a wrong time
/// would say a node reported when it did not.
pub fn parse_last_result_times(body: &[u8]) -> Result<Vec<(String, DateTime<Utc>)>, ParseError> {
    const OP: &str = "find the last result of nodes";
    #[derive(Deserialize)]
    struct Stamp {
        timestamp: DateTime<Utc>,
    }
    #[derive(Deserialize)]
    struct InnerHit {
        #[serde(rename = "_source")]
        source: Option<Stamp>,
    }
    #[derive(Deserialize)]
    struct InnerHits {
        hits: Vec<InnerHit>,
    }
    #[derive(Deserialize)]
    struct InnerResult {
        hits: InnerHits,
    }
    #[derive(Deserialize)]
    struct Hit {
        #[serde(default)]
        sort: Vec<Value>,
        #[serde(default)]
        inner_hits: std::collections::HashMap<String, InnerResult>,
    }
    let (hits, _) = parse_search::<Hit>(OP, body)?;
    let mut out = Vec::with_capacity(hits.len());
    for hit in hits {
        let bad = |detail: String| ParseError { op: OP, detail };
        let node = match hit.sort.first() {
            Some(Value::String(s)) => s.clone(),
            other => {
                return Err(bad(format!(
                    "a hit's sort value is {other:?}, not the node name"
                )));
            }
        };
        let stamp = hit
            .inner_hits
            .get(INNER_HITS)
            .and_then(|i| i.hits.hits.first())
            .and_then(|h| h.source.as_ref())
            .ok_or_else(|| bad(format!("node {node:?} has no newest document timestamp")))?;
        let millis = stamp.timestamp.timestamp_millis();
        let time = DateTime::from_timestamp_millis(millis).unwrap_or(stamp.timestamp);
        out.push((node, time));
    }
    Ok(out)
}

/// A report document read with [`super::request::PREVIOUS_REPORT_FIELDS`]: the names of
/// the nodes it holds itself (none for a split report's head), in report order.
pub fn parse_node_names(source: &str) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Name {
        #[serde(rename = "nodeName")]
        node_name: String,
    }
    #[derive(Deserialize)]
    struct Names {
        #[serde(rename = "cisBenchmark", default)]
        nodes: Vec<Name>,
    }
    let names: Names = serde_json::from_str(source).map_err(|e| e.to_string())?;
    Ok(names.nodes.into_iter().map(|n| n.node_name).collect())
}

/// One part of a split report read with [`super::request::PART_NAME_FIELDS`]: its
/// number and its node names in order, whichever layout holds them.
pub fn parse_part_names(source: &str) -> Result<(u64, Vec<String>), String> {
    // Both layouts name a node `nodeName`: the §5 node, and the compact node.
    #[derive(Deserialize)]
    struct Named {
        #[serde(rename = "nodeName")]
        node_name: String,
    }
    #[derive(Deserialize)]
    struct Compact {
        #[serde(default)]
        nodes: Vec<Named>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Nodes {
        Full(Vec<Named>),
        Compact(Compact),
    }
    #[derive(Deserialize)]
    struct Part {
        part: u64,
        #[serde(rename = "cisBenchmark")]
        nodes: Option<Nodes>,
    }
    let p: Part = serde_json::from_str(source).map_err(|e| e.to_string())?;
    let names = match p.nodes {
        None => Vec::new(),
        Some(Nodes::Full(nodes)) => nodes.into_iter().map(|n| n.node_name).collect(),
        Some(Nodes::Compact(c)) => c.nodes.into_iter().map(|n| n.node_name).collect(),
    };
    Ok((p.part, names))
}

/// A slim document, or why not, naming the offending key as [`BenchmarkDocument::decode`]
/// does.
fn decode_slim(json: &str) -> Result<SlimDocument, String> {
    let mut de = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        if e.path().iter().next().is_some() {
            format!("{}: {}", e.path(), e.inner())
        } else {
            e.inner().to_string()
        }
    })
}

/// A document fetched for its texts: its index, its id, and it or why it does not parse.
pub type FetchedTexts = (String, String, Result<TextDocument, String>);

/// The documents fetched for their texts, one per hit.
pub fn parse_text_documents(body: &[u8]) -> Result<Vec<FetchedTexts>, ParseError> {
    let (hits, _) = parse_hits("read test descriptions", body)?;
    Ok(hits
        .into_iter()
        .map(|h| {
            let doc =
                serde_json::from_str::<TextDocument>(h.source.get()).map_err(|e| e.to_string());
            (h.index, h.id, doc)
        })
        .collect())
}

/// One item of a `_bulk` response that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkFailure {
    /// Position of the item in the request (0-based).
    pub position: usize,
    pub index: String,
    pub id: String,
    pub status: u16,
    pub kind: String,
    pub reason: String,
}

impl BulkFailure {
    /// Rejected because the cluster was busy: worth sending again.
    pub fn is_retryable(&self) -> bool {
        super::retry::is_transient_status(self.status)
    }
}

/// A `_bulk` response: how many items it had and which failed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkOutcome {
    pub items: usize,
    pub failures: Vec<BulkFailure>,
}

/// Parses a `_bulk` response. The top-level `errors` flag is only a hint; every item's
/// status is checked.
pub fn parse_bulk(body: &[u8]) -> Result<BulkOutcome, ParseError> {
    const OP: &str = "bulk write";
    #[derive(Deserialize)]
    struct ItemError {
        #[serde(rename = "type", default)]
        kind: String,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        caused_by: Option<Value>,
    }
    #[derive(Deserialize)]
    struct ItemResult {
        #[serde(rename = "_index", default)]
        index: String,
        #[serde(rename = "_id", default)]
        id: Option<String>,
        status: u16,
        error: Option<ItemError>,
    }
    #[derive(Deserialize)]
    struct Bulk {
        items: Vec<std::collections::HashMap<String, ItemResult>>,
    }
    let bulk: Bulk = parse(OP, body)?;
    let mut out = BulkOutcome {
        items: bulk.items.len(),
        failures: Vec::new(),
    };
    for (position, item) in bulk.items.into_iter().enumerate() {
        let Some((_, result)) = item.into_iter().next() else {
            return Err(ParseError {
                op: OP,
                detail: format!("item {position} is empty"),
            });
        };
        if (200..300).contains(&result.status) && result.error.is_none() {
            continue;
        }
        let (kind, mut reason) = match result.error {
            Some(e) => {
                let mut reason = e.reason.unwrap_or_default();
                // "failed to parse field [timestamp]" says where; the cause says why.
                if let Some(cause) = e.caused_by
                    && let Some(why) = cause["reason"].as_str()
                {
                    reason = format!("{reason} ({why})");
                }
                (e.kind, reason)
            }
            None => (String::new(), String::new()),
        };
        if reason.is_empty() {
            reason = format!("status {}", result.status);
        }
        out.failures.push(BulkFailure {
            position,
            index: result.index,
            id: result.id.unwrap_or_default(),
            status: result.status,
            kind,
            reason,
        });
    }
    Ok(out)
}

/// A search hit whose source is kept raw, for report heads and parts.
#[derive(Debug)]
pub struct RawHit<'a> {
    pub index: String,
    pub id: String,
    pub source: &'a RawValue,
    pub sort: Vec<Value>,
}

#[derive(Deserialize)]
struct PlainHit<'a> {
    #[serde(rename = "_index", default)]
    index: String,
    #[serde(rename = "_id", default)]
    id: String,
    #[serde(rename = "_source", borrow)]
    source: Option<&'a RawValue>,
    #[serde(default)]
    sort: Vec<Value>,
}

fn raw_hits<'a>(op: &'static str, hits: Vec<PlainHit<'a>>) -> Result<Vec<RawHit<'a>>, ParseError> {
    let mut out = Vec::with_capacity(hits.len());
    for h in hits {
        let Some(source) = h.source else {
            return Err(ParseError {
                op,
                detail: format!("hit {} in {} has no _source", h.id, h.index),
            });
        };
        out.push(RawHit {
            index: h.index,
            id: h.id,
            source,
            sort: h.sort,
        });
    }
    Ok(out)
}

/// Hits of a plain search (no collapse), sources unparsed.
pub fn parse_hits<'a>(
    op: &'static str,
    body: &'a [u8],
) -> Result<(Vec<RawHit<'a>>, Option<String>), ParseError> {
    let (hits, pit_id) = parse_search::<PlainHit>(op, body)?;
    Ok((raw_hits(op, hits)?, pit_id))
}

/// Hits of a search sent with `track_total_hits: true`, and the exact number of matches.
pub fn parse_counted_hits<'a>(
    op: &'static str,
    body: &'a [u8],
) -> Result<(Vec<RawHit<'a>>, u64), ParseError> {
    let page = parse_search_page::<PlainHit>(op, body)?;
    let (hits, total) = (page.hits.hits, page.hits.total);
    let total = match total {
        Some(Total { value, relation }) if relation == "eq" => value,
        Some(Total { value, relation }) => {
            return Err(ParseError {
                op,
                detail: format!("the total is a bound ({relation} {value}), not a count"),
            });
        }
        None => {
            return Err(ParseError {
                op,
                detail: "the response has no hits.total".into(),
            });
        }
    };
    Ok((raw_hits(op, hits)?, total))
}

/// A report head from a hit's `_source` (the fields of
/// [`super::request::HEAD_FIELDS`], or a whole report), and its split keys.
///
/// Accepts what Calico Enterprise wrote (docs/spec.md §5): no `id` (the hit's `_id` is the id),
/// no `cluster` (`cluster`, the store's cluster name, stands in) or `generated_time` (the
/// generationTime stands in), and keys of its own, ignored. The node count is the split
/// head's `cisBenchmarkNodeCount`, else the summary's counts, which rate every node once.
pub fn parse_head(
    hit_id: &str,
    cluster: &str,
    source: &str,
) -> Result<(ReportHead, SplitMarker), String> {
    #[derive(Deserialize)]
    struct Wire {
        id: Option<String>,
        #[serde(rename = "reportName")]
        report_name: String,
        #[serde(rename = "reportTypeName")]
        report_type_name: String,
        #[serde(rename = "reportSpec")]
        report_spec: GlobalReportSpec,
        #[serde(rename = "reportTypeSpec")]
        report_type_spec: GlobalReportTypeSpec,
        #[serde(rename = "startTime")]
        start_time: String,
        #[serde(rename = "endTime")]
        end_time: String,
        #[serde(rename = "generationTime")]
        generation_time: String,
        generated_time: Option<String>,
        #[serde(rename = "cisBenchmarkSummary")]
        summary: CisBenchmarkSummary,
        #[serde(rename = "uiSummary", default)]
        ui_summary: String,
        #[serde(default)]
        cluster: String,
        #[serde(default)]
        provenance: Option<compliance_core::model::Provenance>,
        /// Absent (or `null`) in Calico's reports and in those without waivers.
        #[serde(default)]
        waivers: Option<Vec<compliance_core::model::WaiverOutcome>>,
    }
    let w: Wire = serde_json::from_str(source).map_err(|e| e.to_string())?;
    let marker: SplitMarker = serde_json::from_str(source).map_err(|e| e.to_string())?;
    let t = |name: &str, v: &str| time::parse(v).map_err(|e| format!("{name} {v:?}: {e}"));
    let generation_time = t("generationTime", &w.generation_time)?;
    let generated_time = match &w.generated_time {
        Some(g) => t("generated_time", g)?,
        None => generation_time,
    };
    let node_count = marker
        .node_count
        .unwrap_or(w.summary.high_count + w.summary.med_count + w.summary.low_count);
    let head = ReportHead {
        id: w
            .id
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| hit_id.to_string()),
        report_name: w.report_name,
        report_type_name: w.report_type_name,
        report_spec: w.report_spec,
        report_type_spec: w.report_type_spec,
        start_time: t("startTime", &w.start_time)?,
        end_time: t("endTime", &w.end_time)?,
        generation_time,
        generated_time,
        summary: w.summary,
        ui_summary: w.ui_summary,
        cluster: if w.cluster.is_empty() {
            cluster.to_string()
        } else {
            w.cluster
        },
        node_count,
        provenance: w.provenance,
        waivers: w.waivers.unwrap_or_default(),
    };
    Ok((head, marker))
}

/// Of the copies of report `id` a search found (one per index holding it: a rollover
/// alias may leave one in an old backing index), the one with the latest
/// `generated_time`, and its split keys; `None` when there is none. A copy whose split
/// keys do not parse is an error, never a report with no nodes.
pub fn newest_copy<'h, 'a>(
    id: &str,
    hits: &'h [RawHit<'a>],
) -> Result<Option<(SplitMarker, &'h RawHit<'a>)>, String> {
    let mut best: Option<(SplitMarker, &RawHit)> = None;
    for h in hits {
        let marker: SplitMarker = serde_json::from_str(h.source.get())
            .map_err(|e| format!("the stored head of {id} in {} does not parse: {e}", h.index))?;
        if best
            .as_ref()
            .is_none_or(|(b, _)| marker.generated_time > b.generated_time)
        {
            best = Some((marker, h));
        }
    }
    Ok(best)
}

/// The keys a split report's head adds to the §5 document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct SplitMarker {
    #[serde(rename = "cisBenchmarkParts")]
    pub parts: Option<u64>,
    #[serde(rename = "cisBenchmarkGeneration")]
    pub generation: Option<String>,
    #[serde(rename = "cisBenchmarkNodeCount")]
    pub node_count: Option<u64>,
    /// How the parts hold their nodes: absent for whole nodes, `"compact"` for the
    /// payload of `elastic::compact`.
    #[serde(rename = "cisBenchmarkLayout")]
    pub layout: Option<String>,
    #[serde(default)]
    pub generated_time: Option<String>,
}

/// One stored part of a split report; its nodes are left as JSON, to be read as the
/// head's layout says (whole nodes, or a compact payload).
#[derive(Debug, Clone, Deserialize)]
pub struct ReportPart<'a> {
    #[serde(rename = "reportId")]
    pub report_id: String,
    pub generation: String,
    pub part: u64,
    #[serde(rename = "cisBenchmark", borrow)]
    pub nodes: &'a RawValue,
}

/// `_index_template/<name>`: the stored template body, if any.
pub fn parse_index_template(body: &[u8]) -> Result<Option<Value>, ParseError> {
    #[derive(Deserialize)]
    struct Named {
        index_template: Value,
    }
    #[derive(Deserialize)]
    struct Templates {
        #[serde(default)]
        index_templates: Vec<Named>,
    }
    let t: Templates = parse("read index template", body)?;
    Ok(t.index_templates
        .into_iter()
        .next()
        .map(|n| n.index_template))
}

/// The concrete index a document write went to (`_index` of its answer): the alias's
/// write index when written through an alias.
pub fn parse_written_index(body: &[u8]) -> Result<String, ParseError> {
    #[derive(Deserialize)]
    struct Written {
        #[serde(rename = "_index")]
        index: String,
    }
    Ok(parse::<Written>("store document", body)?.index)
}

/// The `policy` of `GET /_ilm/policy/<name>`'s answer
/// (`{"<name>": {"version", "modified_date", "policy": {..}}}`), if it names `name`.
pub fn parse_lifecycle_policy(body: &[u8], name: &str) -> Result<Option<Value>, ParseError> {
    #[derive(Deserialize)]
    struct Stored {
        policy: Value,
    }
    let mut all: std::collections::HashMap<String, Stored> = parse("read lifecycle policy", body)?;
    Ok(all.remove(name).map(|s| s.policy))
}

/// One field of one existing index and the type it is mapped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMapping {
    pub index: String,
    pub field: String,
    /// The mapping type, or `object` when the field maps to an object.
    pub kind: String,
}

/// `_mapping/field/<fields>`: `{index: {mappings: {field: {full_name, mapping: {leaf: {type}}}}}}`.
pub fn parse_field_mappings(body: &[u8]) -> Result<Vec<FieldMapping>, ParseError> {
    let value: Value = parse("read field mappings", body)?;
    let mut out = Vec::new();
    let Some(indices) = value.as_object() else {
        return Ok(out);
    };
    for (index, v) in indices {
        let Some(fields) = v["mappings"].as_object() else {
            continue;
        };
        for (field, m) in fields {
            let leaf = m["mapping"].as_object().and_then(|o| o.values().next());
            let kind = leaf
                .and_then(|l| l["type"].as_str())
                .unwrap_or("object")
                .to_string();
            out.push(FieldMapping {
                index: index.clone(),
                field: field.clone(),
                kind,
            });
        }
    }
    out.sort_by(|a, b| (&a.index, &a.field).cmp(&(&b.index, &b.field)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A realistic collapse page, its inner hits' `_source` filtered to the status
    /// fields: two nodes, one of them with a broken document.
    const PAGE: &str = r#"{
      "pit_id": "46ToAwMDaWR5BXV1aWQy",
      "took": 12, "timed_out": false,
      "_shards": {"total": 2, "successful": 2, "skipped": 0, "failed": 0},
      "hits": {"max_score": null, "hits": [
        {"_index": "tigera_secure_ee_benchmark_results.cluster", "_id": "ip-10-0-1-7@2026-11-25T10:00:00.000Z",
         "_score": null, "sort": ["ip-10-0-1-7"],
         "fields": {"node_name": ["ip-10-0-1-7"]},
         "inner_hits": {"latest": {"hits": {"total": {"value": 24, "relation": "eq"}, "max_score": null, "hits": [
           {"_index": "tigera_secure_ee_benchmark_results.cluster", "_id": "ip-10-0-1-7@2026-11-25T23:00:00.000Z",
            "_score": null, "sort": [1764111600000],
            "_source": {"version": "cis-1.9", "kubernetesVersion": "1.29.3", "type": "kube",
              "node_name": "ip-10-0-1-7", "timestamp": "2026-11-25T23:00:00Z", "error": "",
              "tests": [{"test_number": "1.1.1", "status": "PASS"}],
              "cluster": "cluster"}}]}}}},
        {"_index": "tigera_secure_ee_benchmark_results.cluster", "_id": "x", "_score": null,
         "sort": ["ip-10-0-1-8", 4],
         "inner_hits": {"latest": {"hits": {"total": {"value": 1, "relation": "eq"}, "max_score": null, "hits": [
           {"_index": "tigera_secure_ee_benchmark_results.cluster", "_id": "bad-1", "_score": null,
            "_source": {"version": "cis-1.9", "node_name": "ip-10-0-1-8", "timestamp": "yesterday"}}]}}}}
      ]}
    }"#;

    #[test]
    fn a_collapse_page_yields_each_nodes_document_and_skips_broken_ones() {
        let (page, docs) = parse_latest_page(PAGE.as_bytes()).unwrap();
        assert_eq!(page.hits, 2);
        assert_eq!(page.last_node.as_deref(), Some("ip-10-0-1-8"));
        assert_eq!(page.pit_id.as_deref(), Some("46ToAwMDaWR5BXV1aWQy"));
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].node_name, "ip-10-0-1-7");
        assert_eq!(docs[0].id, "ip-10-0-1-7@2026-11-25T23:00:00.000Z");
        assert_eq!(docs[0].tests[0].test_number, "1.1.1");
        assert_eq!(page.skipped.len(), 1);
        assert_eq!(page.skipped[0].id, "bad-1");
        assert!(
            page.skipped[0].reason.contains("timestamp"),
            "{:?}",
            page.skipped[0]
        );
    }

    #[test]
    fn an_empty_page_ends_the_read() {
        let body = br#"{"pit_id":"p","took":1,"timed_out":false,"_shards":{"total":0,"successful":0,"skipped":0,"failed":0},"hits":{"max_score":null,"hits":[]}}"#;
        let (page, docs) = parse_latest_page(body).unwrap();
        assert_eq!((page.hits, page.last_node), (0, None));
        assert!(docs.is_empty());
    }

    #[test]
    fn shard_failures_are_errors_not_missing_nodes() {
        let body = br#"{"took":3,"timed_out":false,
          "_shards":{"total":2,"successful":1,"skipped":0,"failed":1,
            "failures":[{"shard":0,"index":"tigera_secure_ee_benchmark_results.cluster","node":"n1",
              "reason":{"type":"illegal_argument_exception","reason":"Text fields are not optimised for operations that require per-document field data"}}]},
          "hits":{"max_score":null,"hits":[]}}"#;
        let e = parse_latest_page(body).unwrap_err();
        assert!(e.detail.contains("1 shard(s) failed"), "{e}");
        assert!(e.detail.contains("Text fields are not optimised"), "{e}");
    }

    #[test]
    fn error_bodies_collect_every_type() {
        // An expired point in time, as Elasticsearch 8 answers it.
        let body = br#"{"error":{"root_cause":[{"type":"search_context_missing_exception","reason":"No search context found for id [91]"}],
          "type":"search_phase_execution_exception","reason":"all shards failed","phase":"query","grouped":true,
          "failed_shards":[{"shard":-1,"index":null,"reason":{"type":"search_context_missing_exception","reason":"No search context found for id [91]"}}],
          "caused_by":{"type":"search_context_missing_exception","reason":"No search context found for id [91]"}},"status":404}"#;
        let e = parse_error(body);
        assert_eq!(e.kind, "search_phase_execution_exception");
        assert!(e.mentions("search_context_missing_exception"));
        assert_eq!(
            e.summary(),
            "search_phase_execution_exception: all shards failed (root cause \
             search_context_missing_exception: No search context found for id [91])"
        );
    }

    #[test]
    fn non_json_errors_keep_their_text() {
        let e = parse_error(b"<html><body>502 Bad Gateway</body></html>");
        assert_eq!(e.kind, "");
        assert!(e.reason.contains("502 Bad Gateway"));
        assert_eq!(parse_error(b"").summary(), "(empty response)");
        assert_eq!(
            parse_error(br#"{"error":"Incorrect HTTP method"}"#).reason,
            "Incorrect HTTP method"
        );
    }

    #[test]
    fn bulk_with_mixed_item_results() {
        let body = br#"{"took":30,"errors":true,"items":[
          {"index":{"_index":"b.cluster","_id":"n1@t","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},
          {"index":{"_index":"b.cluster","_id":"n2@t","status":400,"error":{"type":"document_parsing_exception","reason":"[1:120] failed to parse field [timestamp] of type [date] in document with id 'n2@t'","caused_by":{"type":"illegal_argument_exception","reason":"failed to parse date field [yesterday]"}}}},
          {"index":{"_index":"b.cluster","_id":"n3@t","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}},
          {"index":{"_index":"b.cluster","_id":"n4@t","_version":2,"result":"updated","status":200}}]}"#;
        let out = parse_bulk(body).unwrap();
        assert_eq!(out.items, 4);
        assert_eq!(out.failures.len(), 2);
        assert_eq!((out.failures[0].position, out.failures[0].status), (1, 400));
        assert_eq!(out.failures[0].kind, "document_parsing_exception");
        assert!(
            out.failures[0]
                .reason
                .ends_with("(failed to parse date field [yesterday])")
        );
        assert!(!out.failures[0].is_retryable());
        assert_eq!(out.failures[1].id, "n3@t");
        assert!(out.failures[1].is_retryable());
    }

    #[test]
    fn bulk_without_errors() {
        let body = br#"{"took":3,"errors":false,"items":[{"index":{"_index":"b","_id":"1","status":201,"result":"created"}}]}"#;
        assert_eq!(
            parse_bulk(body).unwrap(),
            BulkOutcome {
                items: 1,
                failures: vec![]
            }
        );
        assert!(parse_bulk(b"{}").is_err());
    }

    #[test]
    fn resolve_keeps_only_this_clusters_names() {
        let body = br#"{"indices":[
            {"name":"tigera_secure_ee_benchmark_results.cluster.lma-000001","aliases":["tigera_secure_ee_benchmark_results.cluster."],"attributes":["open"]},
            {"name":"tigera_secure_ee_benchmark_results.cluster2","attributes":["open"]}],
          "aliases":[{"name":"tigera_secure_ee_benchmark_results.cluster.","indices":["tigera_secure_ee_benchmark_results.cluster.lma-000001"]}],
          "data_streams":[]}"#;
        let names = parse_resolve(
            body,
            &Indices::new("cluster"),
            super::super::request::BENCHMARK_INDEX,
        )
        .unwrap();
        assert_eq!(
            names,
            vec![
                "tigera_secure_ee_benchmark_results.cluster.".to_string(),
                "tigera_secure_ee_benchmark_results.cluster.lma-000001".to_string()
            ]
        );
        let none = parse_resolve(
            br#"{"indices":[],"aliases":[],"data_streams":[]}"#,
            &Indices::new("cluster"),
            "x",
        )
        .unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn pit_and_templates() {
        assert_eq!(
            parse_open_pit(
                br#"{"id":"abc","_shards":{"total":1,"successful":1,"skipped":0,"failed":0}}"#
            )
            .unwrap(),
            "abc"
        );
        assert!(parse_open_pit(b"{}").is_err());
        let t = parse_index_template(br#"{"index_templates":[{"name":"t","index_template":{"index_patterns":["t.*"],"priority":100}}]}"#).unwrap();
        assert_eq!(t, Some(json!({"index_patterns":["t.*"],"priority":100})));
        assert_eq!(
            parse_index_template(br#"{"index_templates":[]}"#).unwrap(),
            None
        );
    }

    #[test]
    fn field_mappings_name_each_index_and_type() {
        let body = br#"{"tigera_secure_ee_benchmark_results.cluster":{"mappings":{
            "node_name":{"full_name":"node_name","mapping":{"node_name":{"type":"text","fields":{"keyword":{"type":"keyword","ignore_above":256}}}}},
            "timestamp":{"full_name":"timestamp","mapping":{"timestamp":{"type":"date"}}}}},
          "other":{"mappings":{}}}"#;
        let m = parse_field_mappings(body).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].field.as_str(), m[0].kind.as_str()),
            ("node_name", "text")
        );
        assert_eq!(
            (m[1].field.as_str(), m[1].kind.as_str()),
            ("timestamp", "date")
        );
    }

    #[test]
    fn plain_hits_keep_sources_raw() {
        let body = br#"{"took":1,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},
          "hits":{"total":{"value":1,"relation":"eq"},"max_score":1.0,"hits":[
            {"_index":"r.cluster","_id":"R1","_score":1.0,"_source":{"reportName":"daily"},"sort":[1764115200000,3]}]}}"#;
        let (hits, pit) = parse_hits("get report", body).unwrap();
        assert_eq!(pit, None);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].id, "R1");
        assert_eq!(hits[0].source.get(), r#"{"reportName":"daily"}"#);
        assert_eq!(hits[0].sort, vec![json!(1764115200000_i64), json!(3)]);
    }

    /// A page of the paged report list as Elasticsearch 8 answers it: an exact total,
    /// head fields only, and the sort values of each hit.
    const LIST_PAGE: &str = r#"{
      "took": 4, "timed_out": false,
      "_shards": {"total": 2, "successful": 2, "skipped": 0, "failed": 0},
      "hits": {"total": {"value": 37, "relation": "eq"}, "max_score": null, "hits": [
        {"_index": "tigera_secure_ee_compliance_reports.cluster",
         "_id": "daily-cis-results_cis-benchmark_6f1c",
         "_score": null,
         "_source": {"id": "daily-cis-results_cis-benchmark_6f1c", "reportName": "daily-cis-results",
           "reportTypeName": "cis-benchmark",
           "reportSpec": {"reportType": "cis-benchmark", "schedule": "0 0 * * *"},
           "reportTypeSpec": {"includeCISBenchmarkData": true},
           "startTime": "2026-11-25T00:00:00Z", "endTime": "2026-11-26T00:00:00Z",
           "generationTime": "2026-11-26T00:30:00Z", "generated_time": "2026-11-26T00:30:02Z",
           "cisBenchmarkSummary": {"type": "kube", "highCount": 8, "medCount": 1, "lowCount": 1},
           "uiSummary": "{\"heading\":\"CIS\"}", "cluster": "cluster"},
         "sort": [1764115200000, "daily-cis-results", "daily-cis-results_cis-benchmark_6f1c"]},
        {"_index": "tigera_secure_ee_compliance_reports.cluster.lma-20240101-000000",
         "_id": "weekly_cis-benchmark_0a9e",
         "_score": null,
         "_source": {"reportName": "weekly", "reportTypeName": "cis-benchmark",
           "reportSpec": {"reportType": "cis-benchmark"}, "reportTypeSpec": {},
           "startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-08T00:00:00Z",
           "generationTime": "2024-01-08T00:30:00Z",
           "cisBenchmarkSummary": {"type": "kube", "highCount": 3, "medCount": 0, "lowCount": 0},
           "uiSummary": "{}"},
         "sort": [1704672000000, "weekly", null]}
      ]}
    }"#;

    #[test]
    fn a_list_page_counts_every_match_and_reads_calico_heads() {
        let (hits, total) = parse_counted_hits("list reports", LIST_PAGE.as_bytes()).unwrap();
        assert_eq!((hits.len(), total), (2, 37));
        let (ours, marker) = parse_head(&hits[0].id, "cluster", hits[0].source.get()).unwrap();
        assert_eq!(ours.id, "daily-cis-results_cis-benchmark_6f1c");
        assert_eq!(ours.node_count, 10);
        assert_eq!(time::format(&ours.generated_time), "2026-11-26T00:30:02Z");
        assert_eq!(ours.ui_summary, r#"{"heading":"CIS"}"#);
        assert_eq!(
            marker,
            SplitMarker {
                generated_time: Some("2026-11-26T00:30:02Z".into()),
                ..SplitMarker::default()
            }
        );
        // Calico's: no id (the _id is), no cluster, no generated_time.
        let (calico, _) = parse_head(&hits[1].id, "east", hits[1].source.get()).unwrap();
        assert_eq!(calico.id, "weekly_cis-benchmark_0a9e");
        assert_eq!(calico.cluster, "east");
        assert_eq!(calico.generated_time, calico.generation_time);
        assert_eq!(calico.node_count, 3);
    }

    #[test]
    fn a_list_without_an_exact_total_is_refused() {
        let bound = LIST_PAGE.replace(r#""relation": "eq""#, r#""relation": "gte""#);
        let e = parse_counted_hits("list reports", bound.as_bytes()).unwrap_err();
        assert!(e.detail.contains("gte 37"), "{e}");
        let none = br#"{"took":1,"timed_out":false,"hits":{"hits":[]}}"#;
        assert!(parse_counted_hits("list reports", none).is_err());
    }

    #[test]
    fn a_split_head_counts_its_nodes_from_the_head() {
        let source = r#"{"id":"R","reportName":"daily","reportTypeName":"cis-benchmark",
            "reportSpec":{"reportType":"cis-benchmark"},"reportTypeSpec":{},
            "startTime":"2026-11-25T00:00:00Z",
            "endTime":"2026-11-26T00:00:00Z","generationTime":"2026-11-26T00:30:00Z",
            "generated_time":"2026-11-26T00:30:00Z",
            "cisBenchmarkSummary":{"type":"kube","highCount":1,"medCount":0,"lowCount":0},
            "uiSummary":"{}","cluster":"cluster","cisBenchmark":[],
            "cisBenchmarkParts":3,"cisBenchmarkGeneration":"g1","cisBenchmarkNodeCount":10000}"#;
        let (head, marker) = parse_head("R", "cluster", source).unwrap();
        assert_eq!(head.node_count, 10000);
        assert_eq!(
            (marker.parts, marker.generation.as_deref()),
            (Some(3), Some("g1"))
        );
        let bad = source.replace("2026-11-25T00:00:00Z", "yesterday");
        assert!(
            parse_head("R", "cluster", &bad)
                .unwrap_err()
                .contains("startTime")
        );
    }

    #[test]
    fn of_two_copies_of_a_report_the_newest_is_read() {
        let body = br#"{"took":1,"timed_out":false,
          "_shards":{"total":2,"successful":2,"skipped":0,"failed":0},
          "hits":{"total":{"value":2,"relation":"eq"},"max_score":1.0,"hits":[
            {"_index":"r.cluster.lma-1","_id":"R","_score":1.0,"_source":{"generationTime":"2026-11-26T00:30:00Z","generated_time":"2026-11-26T00:30:00Z"}},
            {"_index":"r.cluster","_id":"R","_score":1.0,"_source":{"generated_time":"2026-11-26T02:00:00Z","cisBenchmarkParts":2,"cisBenchmarkGeneration":"g"}}]}}"#;
        let (hits, _) = parse_hits("get report", body).unwrap();
        let (marker, hit) = newest_copy("R", &hits).unwrap().unwrap();
        assert_eq!(hit.index, "r.cluster");
        assert_eq!(marker.parts, Some(2));
        assert!(newest_copy("R", &[]).unwrap().is_none());
        let broken = br#"{"hits":{"hits":[{"_index":"r","_id":"R","_source":{"cisBenchmarkParts":"two"}}]}}"#;
        let (hits, _) = parse_hits("get report", broken).unwrap();
        assert!(
            newest_copy("R", &hits)
                .unwrap_err()
                .contains("does not parse")
        );
    }

    /// A "last result" answer as Elasticsearch 8 gives it under the request's
    /// `filter_path`: one collapsed hit per node that has a document, its newest
    /// document's timestamp (with a fraction, as a benchmarker writes it) in the inner hit.
    const LAST_RESULTS: &str = r#"{
      "_shards": {"total": 3, "successful": 3, "skipped": 0, "failed": 0},
      "hits": {"hits": [
        {"sort": ["ip-10-0-1-7"],
         "inner_hits": {"latest": {"hits": {"hits": [
           {"_source": {"timestamp": "2026-11-25T23:00:00.123456789Z"}}]}}}},
        {"sort": ["ip-10-0-1-8"],
         "inner_hits": {"latest": {"hits": {"hits": [
           {"_source": {"timestamp": "2026-11-20T04:00:00+02:00"}}]}}}}
      ]}
    }"#;

    #[test]
    fn last_results_are_each_nodes_newest_timestamp_to_the_millisecond() {
        let got = parse_last_result_times(LAST_RESULTS.as_bytes()).unwrap();
        assert_eq!(
            got,
            vec![
                (
                    "ip-10-0-1-7".to_string(),
                    time::parse("2026-11-25T23:00:00.123Z").unwrap()
                ),
                (
                    "ip-10-0-1-8".to_string(),
                    time::parse("2026-11-20T02:00:00Z").unwrap()
                ),
            ]
        );
        // No node had a document: filter_path leaves no `hits` at all.
        let none = br#"{"_shards":{"total":3,"successful":3,"skipped":0,"failed":0}}"#;
        assert!(parse_last_result_times(none).unwrap().is_empty());
        let broken = LAST_RESULTS.replace("2026-11-20T04:00:00+02:00", "last week");
        assert!(parse_last_result_times(broken.as_bytes()).is_err());
        let failed = br#"{"_shards":{"total":2,"successful":1,"skipped":0,"failed":1,"failures":[]},"hits":{"hits":[]}}"#;
        assert!(parse_last_result_times(failed).is_err());
    }

    #[test]
    fn node_names_come_from_either_part_layout_and_the_document() {
        let whole = r#"{"id":"daily_x","generated_time":"2026-11-26T00:31:00Z",
            "cisBenchmark":[{"nodeName":"(cluster)"},{"nodeName":"ip-10-0-1-7"}]}"#;
        assert_eq!(
            parse_node_names(whole).unwrap(),
            ["(cluster)", "ip-10-0-1-7"]
        );
        let head = r#"{"id":"big_x","cisBenchmarkParts":2,"cisBenchmarkGeneration":"g"}"#;
        assert!(parse_node_names(head).unwrap().is_empty());
        let compact = r#"{"part":1,"cisBenchmark":{"nodes":[{"nodeName":"a"},{"nodeName":"b"}]}}"#;
        assert_eq!(
            parse_part_names(compact).unwrap(),
            (1, vec!["a".to_string(), "b".to_string()])
        );
        let full = r#"{"part":0,"cisBenchmark":[{"nodeName":"c"}]}"#;
        assert_eq!(parse_part_names(full).unwrap(), (0, vec!["c".to_string()]));
        assert!(parse_part_names(r#"{"cisBenchmark":[]}"#).is_err());
    }
}
