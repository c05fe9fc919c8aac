//! Every request that changes documents: `_bulk` index actions, `PUT _doc` and
//! `_delete_by_query`, with the per-item failures tests inject into bulk requests; and
//! `GET _doc`, the one read of a single document (the notification ledger's).

use serde_json::{Map, Value, json};

use super::query::parse_query;
use super::request::{Req, check_expression, check_keys};
use super::server::{Handled, Reject, Reply};
use super::state::{Keys, State};

impl State {
    pub(super) fn bulk(&mut self, req: &Req) -> Handled {
        req.allow_params(&["refresh"])?;
        req.check_refresh()?;
        match req.content_type.as_deref() {
            Some("application/x-ndjson" | "application/vnd.elasticsearch+x-ndjson") => {}
            other => {
                return Err(Reject::violation(format!(
                    "_bulk with Content-Type [{}]; the protocol sends application/x-ndjson",
                    other.unwrap_or("")
                )));
            }
        }
        let text = std::str::from_utf8(req.body)
            .map_err(|_| Reject::violation("_bulk body is not UTF-8"))?;
        if text.is_empty() {
            return Err(Reject::violation(
                "Validation Failed: 1: no requests added;",
            ));
        }
        if !text.ends_with('\n') {
            return Err(Reject::violation(
                "The bulk request must be terminated by a newline [\\n]",
            ));
        }
        // Parse everything first: a malformed request stores nothing.
        let mut actions = Vec::new();
        let mut lines = text[..text.len() - 1].split('\n').enumerate();
        while let Some((n, line)) = lines.next() {
            let (index, id) = parse_bulk_action(n + 1, line)?;
            let Some((_, source)) = lines.next() else {
                return Err(Reject::violation(format!(
                    "action on line [{}] has no document line",
                    n + 1
                )));
            };
            let target = self.write_index(&index)?;
            actions.push((index, target, id, source.trim_end_matches('\r')));
        }
        let mut items = String::with_capacity(actions.len() * 160);
        let mut errors = false;
        for (i, (index, target, id, source)) in actions.into_iter().enumerate() {
            if i > 0 {
                items.push(',');
            }
            if let Some(failure) = self.item_failures.get_mut(&id)
                && failure.remaining > 0
            {
                failure.remaining -= 1;
                errors = true;
                let item = json!({"index": {"_index": index, "_id": id, "status": failure.status,
                    "error": {"type": failure.error_type, "reason": failure.reason}}});
                items.push_str(&item.to_string());
                continue;
            }
            let keys = match Keys::parse(source) {
                Ok(keys) => keys,
                Err(e) => {
                    errors = true;
                    self.violations.push(format!(
                        "POST /_bulk: document {id} is not a JSON object: {e}"
                    ));
                    let item = json!({"index": {"_index": index, "_id": id, "status": 400,
                        "error": {"type": "document_parsing_exception",
                                  "reason": format!("failed to parse: {e}")}}});
                    items.push_str(&item.to_string());
                    continue;
                }
            };
            let (version, created, seq_no) = self.index_mut(&target).put(&id, source.into(), keys);
            let item = json!({"index": {"_index": target, "_id": id, "_version": version,
                "result": if created { "created" } else { "updated" },
                "_shards": {"total": 2, "successful": 1, "failed": 0},
                "_seq_no": seq_no, "_primary_term": 1,
                "status": if created { 201 } else { 200 }}});
            items.push_str(&item.to_string());
        }
        Ok(Reply::raw(
            200,
            format!(r#"{{"took":1,"errors":{errors},"items":[{items}]}}"#),
        ))
    }

    pub(super) fn put_doc(&mut self, req: &Req, index: &str, id: &str) -> Handled {
        req.allow_params(&["refresh"])?;
        req.check_refresh()?;
        // Validates the content type and that the body is an object; the source itself is
        // kept as sent.
        match req.content_type.as_deref() {
            Some("application/json" | "application/vnd.elasticsearch+json") => {}
            other => {
                return Err(Reject::violation(format!(
                    "Content-Type header [{}] is not supported here (expected application/json)",
                    other.unwrap_or("")
                )));
            }
        }
        let source = std::str::from_utf8(req.body)
            .map_err(|_| Reject::violation("document is not UTF-8"))?;
        let keys = Keys::parse(source)
            .map_err(|e| Reject::violation(format!("document is not a JSON object: {e}")))?;
        if id.is_empty() {
            return Err(Reject::violation("empty document id"));
        }
        let target = self.write_index(index)?;
        let (version, created, seq_no) = self.index_mut(&target).put(id, source.into(), keys);
        Ok(Reply::json(
            if created { 201 } else { 200 },
            &json!({"_index": target, "_id": id, "_version": version,
                "result": if created { "created" } else { "updated" },
                "_shards": {"total": 2, "successful": 1, "failed": 0},
                "_seq_no": seq_no, "_primary_term": 1}),
        ))
    }

    /// `DELETE /<index>/_doc/<id>`: a concrete index only, as the store sends it.
    /// `GET /<index>/_doc/<id>`: 200 with `found: true` and `_source`, 404 with `found:
    /// false` for a missing document, 404 `index_not_found_exception` for a missing index.
    /// The name must be a concrete index (Elasticsearch refuses patterns here).
    pub(super) fn get_doc(&self, req: &Req, index: &str, id: &str) -> Handled {
        req.allow_params(&[])?;
        req.no_body()?;
        check_expression(index)?;
        if index.contains(['*', ',']) {
            return Err(Reject::violation(format!(
                "GET _doc takes one concrete index, not [{index}]"
            )));
        }
        let Some(idx) = self.indices.get(index) else {
            return Err(Reject::index_not_found(index));
        };
        match idx.docs.get(id) {
            Some(doc) => Ok(Reply::raw(
                200,
                format!(
                    r#"{{"_index":{},"_id":{},"_version":{},"_seq_no":{},"_primary_term":1,"found":true,"_source":{}}}"#,
                    Value::from(index),
                    Value::from(id),
                    doc.version,
                    doc.seq,
                    doc.source
                ),
            )),
            None => Ok(Reply::json(
                404,
                &json!({"_index": index, "_id": id, "found": false}),
            )),
        }
    }

    pub(super) fn delete_doc(&mut self, req: &Req, index: &str, id: &str) -> Handled {
        req.allow_params(&["refresh"])?;
        req.check_refresh()?;
        req.no_body()?;
        check_expression(index)?;
        if !self.indices.contains_key(index) {
            return Err(Reject::index_not_found(index));
        }
        let removed = self.index_mut(index).remove(id);
        let status = if removed.is_some() { 200 } else { 404 };
        Ok(Reply::json(
            status,
            &json!({"_index": index, "_id": id,
                "_version": removed.as_ref().map_or(1, |d| d.version + 1),
                "result": if removed.is_some() { "deleted" } else { "not_found" },
                "_shards": {"total": 2, "successful": 1, "failed": 0},
                "_seq_no": 0, "_primary_term": 1}),
        ))
    }

    pub(super) fn delete_by_query(&mut self, req: &Req, patterns: &str) -> Handled {
        req.allow_params(&["ignore_unavailable", "conflicts", "refresh"])?;
        match req.param("conflicts") {
            None | Some("proceed" | "abort") => {}
            Some(other) => {
                return Err(Reject::violation(format!(
                    "conflicts may only be \"proceed\" or \"abort\" but was [{other}]"
                )));
            }
        }
        req.bool_param("refresh")?;
        let body = req.json_body()?;
        check_keys("delete_by_query body", &body, &["query"])?;
        let query = parse_query(
            body.get("query")
                .ok_or_else(|| Reject::violation("delete_by_query without a query"))?,
        )?;
        let names = self.expand(patterns, req.bool_param("ignore_unavailable")?)?;
        let mut deleted = 0;
        for name in names {
            let doomed: Vec<String> = self.indices[&name]
                .docs
                .iter()
                .filter(|(id, doc)| query.matches(id, &doc.keys))
                .map(|(id, _)| id.clone())
                .collect();
            if doomed.is_empty() {
                continue;
            }
            let index = self.index_mut(&name);
            for id in &doomed {
                index.remove(id);
            }
            deleted += doomed.len();
        }
        Ok(Reply::json(
            200,
            &json!({"took": 1, "timed_out": false, "total": deleted, "deleted": deleted,
                "batches": if deleted > 0 { 1 } else { 0 }, "version_conflicts": 0, "noops": 0,
                "retries": {"bulk": 0, "search": 0}, "throttled_millis": 0,
                "requests_per_second": -1.0, "throttled_until_millis": 0, "failures": []}),
        ))
    }
}

pub(super) fn parse_bulk_action(
    line_number: usize,
    line: &str,
) -> Result<(String, String), Reject> {
    let malformed = |what: &str| {
        Reject::violation(format!(
            "Malformed action/metadata line [{line_number}]: {what}"
        ))
    };
    let action: Map<String, Value> =
        serde_json::from_str(line).map_err(|e| malformed(&format!("not a JSON object: {e}")))?;
    if action.len() != 1 {
        return Err(malformed("expected exactly one action"));
    }
    let Some(Value::Object(meta)) = action.get("index") else {
        return Err(malformed(
            "the protocol only sends [index] actions with an object of metadata",
        ));
    };
    check_keys("bulk action metadata", meta, &["_index", "_id"])?;
    let index = meta.get("_index").and_then(Value::as_str);
    let id = meta.get("_id").and_then(Value::as_str);
    match (index, id) {
        (Some(index), Some(id)) if !id.is_empty() => Ok((index.to_owned(), id.to_owned())),
        _ => Err(malformed(
            "[index] needs a string _index and a non-empty _id",
        )),
    }
}
