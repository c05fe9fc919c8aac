//! Collapsed searches: the latest document of each node, groups in node name order after
//! `search_after`, each with its matching documents newest first, from the per-node maps.

use std::fmt::Write as _;
use std::ops::Bound;
use std::sync::Arc;

use serde_json::Value;

use super::query::Field;
use super::request::check_keys;
use super::search::{Page, Search, SourceFilter, count_matches, parse_source, write_hit};
use super::server::Reject;
use super::sort::{SortKey, SortSpec, SortValue, parse_sort};
use super::state::Index;

pub(super) struct Collapse {
    pub(super) field: Field,
    pub(super) inner_name: String,
    pub(super) inner_size: usize,
    pub(super) inner_source: SourceFilter,
}

pub(super) fn parse_collapse(value: &Value) -> Result<Collapse, Reject> {
    let map = value
        .as_object()
        .ok_or_else(|| Reject::violation("collapse must be an object"))?;
    check_keys("collapse", map, &["field", "inner_hits"])?;
    let field = Field::parse(map.get("field").and_then(Value::as_str).unwrap_or_default())?;
    if field != Field::NodeName {
        return Err(Reject::violation("the fake collapses on node_name only"));
    }
    let inner = match map.get("inner_hits") {
        Some(Value::Object(inner)) => inner,
        _ => {
            return Err(Reject::violation("collapse without one inner_hits object"));
        }
    };
    check_keys("inner_hits", inner, &["name", "size", "_source", "sort"])?;
    let inner_name = inner
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Reject::violation("inner_hits without a name"))?
        .to_owned();
    let inner_size = match inner.get("size") {
        None => 3,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| Reject::violation(format!("inner_hits size {v}")))?
            as usize,
    };
    let inner_source = inner
        .get("_source")
        .map_or(Ok(SourceFilter::All), parse_source)?;
    let sort = inner.get("sort").map(parse_sort).transpose()?;
    match sort.as_deref() {
        Some(
            [
                SortSpec {
                    key: SortKey::Field(Field::Timestamp),
                    desc: true,
                },
            ],
        ) => {}
        _ => {
            return Err(Reject::violation(
                "inner_hits sort must be [{\"timestamp\": {\"order\": \"desc\"}}]",
            ));
        }
    }
    Ok(Collapse {
        field,
        inner_name,
        inner_size,
        inner_source,
    })
}

/// Latest documents per node: groups in node name order after `search_after`, each with
/// its matching documents newest first, from the per-node maps.
pub(super) fn collapse_search(
    indices: &[(String, Arc<Index>)],
    search: &Search,
    collapse: &Collapse,
    tiebreak: bool,
) -> Result<Page, Reject> {
    match search.sort.as_slice() {
        [
            SortSpec {
                key: SortKey::Field(f),
                desc: false,
            },
        ] if *f == collapse.field => {}
        _ => {
            return Err(Reject::violation(
                "collapse needs sort [{\"node_name\": {\"order\": \"asc\"}}] (the collapse field alone)",
            ));
        }
    }
    let after = match search.search_after.as_deref() {
        None => None,
        Some([Value::String(name)]) => Some(name.as_str()),
        Some(_) => {
            return Err(Reject::violation(
                "Cannot use [collapse] in conjunction with [search_after] unless the search is sorted on the same field. Multiple sort fields are not allowed.",
            ));
        }
    };
    let bound = match after {
        Some(name) => Bound::Excluded(name),
        None => Bound::Unbounded,
    };
    let mut groups: Vec<_> = indices
        .iter()
        .map(|(name, index)| {
            let range = index
                .by_node
                .range::<str, _>((bound, Bound::Unbounded))
                .peekable();
            (name.as_str(), index, range)
        })
        .collect();
    let mut hits = String::new();
    let mut count = 0;
    while count < search.size {
        let Some(node) = groups
            .iter_mut()
            .filter_map(|(_, _, range)| range.peek().map(|(node, _)| node.as_str()))
            .min()
            .map(str::to_owned)
        else {
            break;
        };
        // (timestamp, shard_doc, index, id, doc) of the node's matching documents.
        let mut matching = Vec::new();
        for (name, index, range) in groups.iter_mut() {
            if range.peek().is_none_or(|(n, _)| **n != node) {
                continue;
            }
            let (_, group) = range.next().expect("peeked");
            for id in group.values() {
                let doc = &index.docs[id];
                if search.query.matches(id, &doc.keys) {
                    matching.push((doc.keys.timestamp, index.shard_doc(doc), *name, id, doc));
                }
            }
        }
        if matching.is_empty() {
            continue;
        }
        matching.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        // The collapsed hit is the group's first by the search sort: all tie on the node
        // name, so the lowest `_shard_doc`.
        let top = matching.iter().min_by_key(|m| m.1).expect("non-empty");
        if count > 0 {
            hits.push(',');
        }
        count += 1;
        let mut sort = vec![SortValue::Text(node.clone())];
        if tiebreak {
            sort.push(SortValue::Number(top.1));
        }
        let top_source = search.source.apply(&top.4.source);
        write_hit(&mut hits, top.2, top.3, top_source.as_deref(), Some(&sort));
        write!(
            hits,
            r#","fields":{{"node_name":[{}]}},"inner_hits":{{{}:{{"hits":{{"total":{{"value":{},"relation":"eq"}},"max_score":null,"hits":["#,
            Value::from(node.as_str()),
            Value::from(collapse.inner_name.as_str()),
            matching.len()
        )
        .expect("write to String");
        for (i, (timestamp, _, index, id, doc)) in
            matching.iter().take(collapse.inner_size).enumerate()
        {
            if i > 0 {
                hits.push(',');
            }
            let source = collapse.inner_source.apply(&doc.source);
            let ts = SortValue::Number(timestamp.unwrap_or(i64::MIN));
            write_hit(
                &mut hits,
                index,
                id,
                source.as_deref(),
                Some(std::slice::from_ref(&ts)),
            );
            hits.push('}');
        }
        hits.push_str("]}}}}");
    }
    let total = search
        .track_total
        .map(|limit| (count_matches(indices, &search.query), limit));
    Ok(Page { hits, total })
}
