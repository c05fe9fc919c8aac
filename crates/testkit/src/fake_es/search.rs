//! Searches: the body of a search request, plain searches (filter, sort, `search_after`,
//! source filtering, totals) and how a page of hits is rendered.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value, json};

use super::MAX_RESULT_WINDOW;
use super::collapse::{Collapse, collapse_search, parse_collapse};
use super::indices::glob_match;
use super::query::{Query, parse_query};
use super::request::{Req, check_keys, check_time_value};
use super::server::{Handled, Reject, Reply};
use super::sort::{SortKey, SortSpec, SortValue, cmp_keys, parse_sort};
use super::state::{Index, State};

impl State {
    pub(super) fn index_search(&mut self, req: &Req, patterns: &str) -> Handled {
        req.allow_params(&["ignore_unavailable", "filter_path"])?;
        let body = req.json_body()?;
        let search = parse_search(&body)?;
        if search.pit.is_some() {
            return Err(Reject::violation(
                "[indices] cannot be used with point in time",
            ));
        }
        let names = self.expand(patterns, req.bool_param("ignore_unavailable")?)?;
        let indices = self.snapshot(&names);
        let page = run_search(&indices, &search, false)?;
        let rendered = page.render(None, indices.len());
        Ok(Reply::raw(
            200,
            match req.param("filter_path") {
                Some(paths) => filter_response(&rendered, paths),
                None => rendered,
            },
        ))
    }
}

pub(super) enum SourceFilter {
    All,
    None,
    Fields(Vec<String>),
}

pub(super) fn parse_source(value: &Value) -> Result<SourceFilter, Reject> {
    match value {
        Value::Bool(true) => Ok(SourceFilter::All),
        Value::Bool(false) => Ok(SourceFilter::None),
        Value::String(s) => Ok(SourceFilter::Fields(vec![s.clone()])),
        Value::Array(fields) => fields
            .iter()
            .map(|f| f.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(SourceFilter::Fields)
            .ok_or_else(|| Reject::violation("_source list holds a non-string")),
        other => Err(Reject::violation(format!("_source {other}"))),
    }
}

impl SourceFilter {
    /// The `_source` to send, or `None` to leave it out.
    pub(super) fn apply(&self, raw: &str) -> Option<String> {
        match self {
            SourceFilter::All => Some(raw.to_owned()),
            SourceFilter::None => None,
            SourceFilter::Fields(fields) if fields.iter().any(|f| f.contains('.')) => {
                let kept = filter_paths_raw(raw, fields).unwrap_or_else(|| json!({}));
                Some(kept.to_string())
            }
            SourceFilter::Fields(fields) => {
                let mut de = serde_json::Deserializer::from_str(raw);
                let kept = TopLevelFilter(fields)
                    .deserialize(&mut de)
                    .expect("stored JSON");
                Some(Value::Object(kept).to_string())
            }
        }
    }
}

/// A response cut to the comma-separated dotted `paths` of a `filter_path` parameter, as
/// Elasticsearch cuts it: arrays are walked through, and what no path reaches is left
/// out (`{}` when nothing is left).
pub(super) fn filter_response(raw: &str, paths: &str) -> String {
    let fields: Vec<String> = paths.split(',').map(str::to_owned).collect();
    filter_paths_raw(raw, &fields)
        .unwrap_or_else(|| json!({}))
        .to_string()
}

/// The JSON `raw` with only what the dotted `fields` include, as Elasticsearch's
/// `_source` includes and `filter_path` keep it: a field whose whole path matches is kept
/// whole; objects on the way to a match keep only what matches beneath them; arrays apply
/// this to each element; `None` when nothing is kept. One pass over the text: what no
/// field reaches is skipped unparsed, so a 57 KB document costs what its kept part does.
fn filter_paths_raw(raw: &str, fields: &[String]) -> Option<Value> {
    let mut de = serde_json::Deserializer::from_str(raw);
    PathFilter { fields, path: "" }
        .deserialize(&mut de)
        .expect("stored JSON")
}

/// [`filter_paths_raw`] at one dotted `path` ("" for the document itself).
struct PathFilter<'a> {
    fields: &'a [String],
    path: &'a str,
}

impl<'de> DeserializeSeed<'de> for PathFilter<'_> {
    type Value = Option<Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PathFilter<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kept = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if self.fields.iter().any(|f| glob_match(f, &child)) {
                kept.insert(key, map.next_value::<Value>()?);
            } else if self.fields.iter().any(|f| {
                f.len() > child.len() && f.starts_with(&child) && f.as_bytes()[child.len()] == b'.'
            }) {
                let seed = PathFilter {
                    fields: self.fields,
                    path: &child,
                };
                if let Some(v) = map.next_value_seed(seed)? {
                    kept.insert(key, v);
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok((self.path.is_empty() || !kept.is_empty()).then_some(Value::Object(kept)))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut kept = Vec::new();
        while let Some(item) = seq.next_element_seed(PathFilter {
            fields: self.fields,
            path: self.path,
        })? {
            if let Some(v) = item {
                kept.push(v);
            }
        }
        Ok((!kept.is_empty()).then_some(Value::Array(kept)))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Deserializes only the wanted top-level keys of an object, skipping the rest unparsed.
pub(super) struct TopLevelFilter<'a>(&'a [String]);

impl<'de> DeserializeSeed<'de> for TopLevelFilter<'_> {
    type Value = Map<String, Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevelFilter<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kept = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.0.iter().any(|f| glob_match(f, &key)) {
                kept.insert(key, map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(kept)
    }
}

pub(super) struct PitRef {
    pub(super) id: String,
}

pub(super) struct Search {
    /// Hits skipped before the page (`from`).
    pub(super) from: usize,
    pub(super) size: usize,
    /// `None`: `track_total_hits: false`; otherwise the count up to which totals are exact.
    pub(super) track_total: Option<u64>,
    pub(super) source: SourceFilter,
    pub(super) query: Query,
    pub(super) collapse: Option<Collapse>,
    pub(super) sort: Vec<SortSpec>,
    pub(super) pit: Option<PitRef>,
    pub(super) search_after: Option<Vec<Value>>,
}

pub(super) fn parse_search(body: &Map<String, Value>) -> Result<Search, Reject> {
    check_keys(
        "search body",
        body,
        &[
            "from",
            "size",
            "track_total_hits",
            "_source",
            "query",
            "collapse",
            "sort",
            "pit",
            "search_after",
        ],
    )?;
    let size = match body.get("size") {
        None => 10,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| Reject::violation(format!("size {v}")))? as usize,
    };
    let from = match body.get("from") {
        None => 0,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| Reject::violation(format!("from {v}")))? as usize,
    };
    if from.saturating_add(size) > MAX_RESULT_WINDOW {
        return Err(Reject::es(
            400,
            "illegal_argument_exception",
            &format!(
                "Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] but was [{}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.",
                from.saturating_add(size)
            ),
        ));
    }
    if from > 0 && body.contains_key("search_after") {
        return Err(Reject::es(
            400,
            "illegal_argument_exception",
            "`from` parameter must be set to 0 when `search_after` is used.",
        ));
    }
    let track_total = match body.get("track_total_hits") {
        None => Some(MAX_RESULT_WINDOW as u64),
        Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(u64::MAX),
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| Reject::violation(format!("track_total_hits {v}")))?,
        ),
    };
    let source = body
        .get("_source")
        .map_or(Ok(SourceFilter::All), parse_source)?;
    let query = body.get("query").map_or(Ok(Query::MatchAll), parse_query)?;
    let sort = body.get("sort").map_or(Ok(Vec::new()), parse_sort)?;
    let pit = match body.get("pit") {
        None => None,
        Some(Value::Object(p)) => {
            check_keys("pit", p, &["id", "keep_alive"])?;
            if let Some(keep_alive) = p.get("keep_alive") {
                check_time_value("keep_alive", keep_alive.as_str().unwrap_or_default())?;
            }
            let id = p
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| Reject::violation("pit without an id"))?;
            Some(PitRef { id: id.to_owned() })
        }
        Some(other) => return Err(Reject::violation(format!("pit {other}"))),
    };
    let search_after = match body.get("search_after") {
        None => None,
        Some(Value::Array(values)) => Some(values.clone()),
        Some(other) => return Err(Reject::violation(format!("search_after {other}"))),
    };
    let collapse = body.get("collapse").map(parse_collapse).transpose()?;
    if from > 0 && collapse.is_some() {
        return Err(Reject::violation(
            "the protocol pages collapsed searches with search_after, never from",
        ));
    }
    Ok(Search {
        from,
        size,
        track_total,
        source,
        query,
        collapse,
        sort,
        pit,
        search_after,
    })
}

/// A page of results, ready to render.
pub(super) struct Page {
    pub(super) hits: String,
    pub(super) total: Option<(u64, u64)>,
}

impl Page {
    pub(super) fn render(&self, pit_id: Option<&str>, shards: usize) -> String {
        let mut out = String::with_capacity(self.hits.len() + 256);
        out.push('{');
        if let Some(id) = pit_id {
            write!(out, r#""pit_id":{},"#, Value::from(id)).expect("write to String");
        }
        write!(
            out,
            r#""took":1,"timed_out":false,"_shards":{{"total":{shards},"successful":{shards},"skipped":0,"failed":0}},"hits":{{"#
        )
        .expect("write to String");
        if let Some((count, limit)) = self.total {
            let (value, relation) = if count > limit {
                (limit, "gte")
            } else {
                (count, "eq")
            };
            write!(
                out,
                r#""total":{{"value":{value},"relation":"{relation}"}},"#
            )
            .expect("write to String");
        }
        out.push_str(r#""max_score":null,"hits":["#);
        out.push_str(&self.hits);
        out.push_str("]}}");
        out
    }
}

/// One document hit as JSON: `_index`, `_id`, `_score`, `_source` (if any), `sort`.
pub(super) fn write_hit(
    out: &mut String,
    index: &str,
    id: &str,
    source: Option<&str>,
    sort: Option<&[SortValue]>,
) {
    write!(
        out,
        r#"{{"_index":{},"_id":{},"_score":{}"#,
        Value::from(index),
        Value::from(id),
        if sort.is_some() { "null" } else { "1.0" }
    )
    .expect("write to String");
    if let Some(source) = source {
        out.push_str(r#","_source":"#);
        out.push_str(source);
    }
    if let Some(values) = sort {
        out.push_str(r#","sort":["#);
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            value.write(out);
        }
        out.push(']');
    }
}

pub(super) fn run_search(
    indices: &[(String, Arc<Index>)],
    search: &Search,
    tiebreak: bool,
) -> Result<Page, Reject> {
    match &search.collapse {
        Some(collapse) => collapse_search(indices, search, collapse, tiebreak),
        None => plain_search(indices, search, tiebreak),
    }
}

pub(super) fn count_matches(indices: &[(String, Arc<Index>)], query: &Query) -> u64 {
    indices
        .iter()
        .flat_map(|(_, index)| index.docs.iter())
        .filter(|(id, doc)| query.matches(id, &doc.keys))
        .count() as u64
}

pub(super) fn plain_search(
    indices: &[(String, Arc<Index>)],
    search: &Search,
    tiebreak: bool,
) -> Result<Page, Reject> {
    let mut specs = search.sort.clone();
    if tiebreak {
        specs.push(SortSpec {
            key: SortKey::ShardDoc,
            desc: false,
        });
    }
    let after = match &search.search_after {
        None => None,
        Some(_) if specs.is_empty() => {
            return Err(Reject::violation("search_after without a sort"));
        }
        Some(values) if values.len() != specs.len() => {
            return Err(Reject::violation(format!(
                "search_after has {} value(s) but sort has {}.",
                values.len(),
                specs.len()
            )));
        }
        Some(values) => Some(
            specs
                .iter()
                .zip(values)
                .map(|(spec, v)| SortValue::from_json(*spec, v))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let mut matches = Vec::new();
    for (name, index) in indices {
        for (id, doc) in &index.docs {
            if search.query.matches(id, &doc.keys) {
                let shard_doc = index.shard_doc(doc);
                let key: Vec<SortValue> = specs
                    .iter()
                    .map(|s| SortValue::of(*s, &doc.keys, shard_doc))
                    .collect();
                matches.push((name.as_str(), id.as_str(), doc, shard_doc, key));
            }
        }
    }
    let total = search
        .track_total
        .map(|limit| (matches.len() as u64, limit));
    matches.sort_by(|a, b| cmp_keys(&specs, &a.4, &b.4).then(a.3.cmp(&b.3)));
    let mut hits = String::new();
    let page = matches
        .iter()
        .filter(|m| {
            after
                .as_ref()
                .is_none_or(|after| cmp_keys(&specs, &m.4, after).is_gt())
        })
        .skip(search.from)
        .take(search.size);
    for (i, (index, id, doc, _, key)) in page.enumerate() {
        if i > 0 {
            hits.push(',');
        }
        let source = search.source.apply(&doc.source);
        write_hit(
            &mut hits,
            index,
            id,
            source.as_deref(),
            (!specs.is_empty()).then_some(key.as_slice()),
        );
        hits.push('}');
    }
    Ok(Page { hits, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_source_fields_keep_the_array_shape_and_drop_the_rest() {
        let doc = json!({"version": "cis-1.23", "node_name": "n1", "error": "",
            "tests": [
                {"test_number": "1.1.1", "status": "PASS", "test_desc": "long", "scored": true},
                {"test_number": "1.1.2", "status": "FAIL", "test_info": "longer"}]});
        let filter = SourceFilter::Fields(
            ["version", "tests.test_number", "tests.status"]
                .map(String::from)
                .to_vec(),
        );
        let kept: Value = serde_json::from_str(&filter.apply(&doc.to_string()).unwrap()).unwrap();
        assert_eq!(
            kept,
            json!({"version": "cis-1.23", "tests": [
                {"test_number": "1.1.1", "status": "PASS"},
                {"test_number": "1.1.2", "status": "FAIL"}]})
        );
        let whole = SourceFilter::Fields(["tests"].map(String::from).to_vec());
        let kept: Value = serde_json::from_str(&whole.apply(&doc.to_string()).unwrap()).unwrap();
        assert_eq!(kept["tests"], doc["tests"]);
    }
}
