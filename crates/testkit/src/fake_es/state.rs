//! What the fake cluster holds: indices and their documents, aliases, templates, points
//! in time, and the failures tests inject; plus the few document fields the protocol
//! queries, parsed once when a document is stored.
//!
//! Documents are held as their serialized JSON (shared, never re-serialized) next to
//! those fields, with a per-index map from node name to that node's documents by time: a
//! page of "latest document per node" costs the page, not the index.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{DEFAULT_MAX_CONTENT_LENGTH, Recorded, RequestMatcher};

pub(super) struct State {
    pub(super) indices: BTreeMap<String, Arc<Index>>,
    pub(super) aliases: BTreeMap<String, BTreeSet<String>>,
    /// Alias → its write index (`is_write_index: true`), for aliases that name one.
    pub(super) write_aliases: BTreeMap<String, String>,
    /// Lifecycle policies: name → (version, policy).
    pub(super) policies: BTreeMap<String, (u64, Value)>,
    pub(super) templates: BTreeMap<String, Value>,
    pub(super) pits: HashMap<u64, Pit>,
    /// Every id handed out for a PIT (each search answers a new one) → the PIT.
    pub(super) pit_ids: HashMap<String, u64>,
    pub(super) next_pit: u64,
    pub(super) next_ordinal: u64,
    pub(super) accepted_auth: Vec<String>,
    pub(super) injections: Vec<Injection>,
    pub(super) item_failures: HashMap<String, ItemFailure>,
    pub(super) max_content_length: usize,
    pub(super) log: Vec<Recorded>,
    pub(super) violations: Vec<String>,
    pub(super) bytes_served: u64,
}

/// One index. Shared copy-on-write with the points in time that snapshot it, so opening a
/// PIT copies nothing and a write copies the index only while a PIT still holds it.
#[derive(Clone, Default)]
pub(super) struct Index {
    /// Creation order, the high half of `_shard_doc` values.
    pub(super) ordinal: u64,
    pub(super) docs: BTreeMap<String, Doc>,
    /// node_name → that node's documents, newest first.
    pub(super) by_node: BTreeMap<String, NodeDocs>,
    /// Next doc number, also the next `_seq_no`.
    pub(super) next_seq: u64,
    pub(super) mapping: Option<Value>,
    /// Flat index settings (`index.codec`), from the template and the creation request.
    pub(super) settings: serde_json::Map<String, Value>,
}

/// (timestamp, descending with missing last; doc number) → `_id`.
pub(super) type NodeDocs = BTreeMap<(Reverse<Option<i64>>, u64), String>;

#[derive(Clone)]
pub(super) struct Doc {
    pub(super) source: Arc<str>,
    pub(super) keys: Keys,
    pub(super) version: u64,
    pub(super) seq: u64,
}

/// The fields the protocol filters and sorts on, parsed once when a document is stored.
#[derive(Clone, Debug, Default)]
pub(super) struct Keys {
    pub(super) node_name: Option<String>,
    pub(super) timestamp: Option<i64>,
    /// `regexp {"error": ".+"}` on a text field: the value has at least one word.
    pub(super) error_has_word: bool,
    pub(super) report_id: Option<String>,
    pub(super) generation: Option<String>,
    pub(super) part: Option<i64>,
    pub(super) end_time: Option<i64>,
    /// A report's `id` key (its `_id` is apart).
    pub(super) id: Option<String>,
    pub(super) report_name: Option<String>,
    pub(super) report_type_name: Option<String>,
    pub(super) start_time: Option<i64>,
    pub(super) generation_time: Option<i64>,
}

pub(super) struct Pit {
    pub(super) indices: Vec<(String, Arc<Index>)>,
    pub(super) expired: bool,
    /// Ids issued so far for this PIT.
    pub(super) issued: u64,
}

pub(super) struct Injection {
    pub(super) matcher: RequestMatcher,
    pub(super) remaining: usize,
    pub(super) action: InjectedAction,
}

pub(super) enum InjectedAction {
    Fail { status: u16, body: Value },
    Delay(Duration),
}

pub(super) struct ItemFailure {
    pub(super) status: u16,
    pub(super) error_type: String,
    pub(super) reason: String,
    pub(super) remaining: usize,
}

impl State {
    pub(super) fn new() -> State {
        State {
            indices: BTreeMap::new(),
            aliases: BTreeMap::new(),
            write_aliases: BTreeMap::new(),
            policies: BTreeMap::new(),
            templates: BTreeMap::new(),
            pits: HashMap::new(),
            pit_ids: HashMap::new(),
            next_pit: 1,
            next_ordinal: 0,
            accepted_auth: Vec::new(),
            injections: Vec::new(),
            item_failures: HashMap::new(),
            max_content_length: DEFAULT_MAX_CONTENT_LENGTH,
            log: Vec::new(),
            violations: Vec::new(),
            bytes_served: 0,
        }
    }

    /// The index for writing, created (with the mappings of the highest-priority matching
    /// template) when missing.
    pub(super) fn index_mut(&mut self, name: &str) -> &mut Index {
        if !self.indices.contains_key(name) {
            let index = Index {
                ordinal: self.next_ordinal,
                mapping: self.template_mapping(name),
                settings: self.template_settings(name),
                ..Index::default()
            };
            self.next_ordinal += 1;
            self.indices.insert(name.to_owned(), Arc::new(index));
        }
        Arc::make_mut(self.indices.get_mut(name).expect("just inserted"))
    }
}

impl Index {
    /// Stores a document; returns (version, created, seq_no).
    pub(super) fn put(&mut self, id: &str, source: Arc<str>, keys: Keys) -> (u64, bool, u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let version = self.remove(id).map_or(1, |old| old.version + 1);
        if let Some(node) = &keys.node_name {
            self.by_node
                .entry(node.clone())
                .or_default()
                .insert((Reverse(keys.timestamp), seq), id.to_owned());
        }
        self.docs.insert(
            id.to_owned(),
            Doc {
                source,
                keys,
                version,
                seq,
            },
        );
        (version, version == 1, seq)
    }

    pub(super) fn remove(&mut self, id: &str) -> Option<Doc> {
        let doc = self.docs.remove(id)?;
        if let Some(node) = &doc.keys.node_name
            && let Some(group) = self.by_node.get_mut(node)
        {
            group.remove(&(Reverse(doc.keys.timestamp), doc.seq));
            if group.is_empty() {
                self.by_node.remove(node);
            }
        }
        Some(doc)
    }

    pub(super) fn shard_doc(&self, doc: &Doc) -> i64 {
        ((self.ordinal << 32) | doc.seq) as i64
    }
}

#[derive(Deserialize)]
pub(super) struct RawKeys {
    pub(super) node_name: Option<Value>,
    pub(super) timestamp: Option<Value>,
    pub(super) error: Option<Value>,
    #[serde(rename = "reportId")]
    pub(super) report_id: Option<Value>,
    pub(super) generation: Option<Value>,
    pub(super) part: Option<Value>,
    #[serde(rename = "endTime")]
    pub(super) end_time: Option<Value>,
    pub(super) id: Option<Value>,
    #[serde(rename = "reportName")]
    pub(super) report_name: Option<Value>,
    #[serde(rename = "reportTypeName")]
    pub(super) report_type_name: Option<Value>,
    #[serde(rename = "startTime")]
    pub(super) start_time: Option<Value>,
    #[serde(rename = "generationTime")]
    pub(super) generation_time: Option<Value>,
}

impl Keys {
    /// Validates the whole document as a JSON object and extracts the queried fields.
    pub(super) fn parse(source: &str) -> Result<Keys, String> {
        let raw: RawKeys = serde_json::from_str(source).map_err(|e| e.to_string())?;
        let error_has_word =
            matches!(&raw.error, Some(Value::String(s)) if s.chars().any(char::is_alphanumeric));
        Ok(Keys {
            node_name: raw.node_name.as_ref().and_then(keyword_value),
            timestamp: raw.timestamp.as_ref().and_then(date_value),
            error_has_word,
            report_id: raw.report_id.as_ref().and_then(keyword_value),
            generation: raw.generation.as_ref().and_then(keyword_value),
            part: raw.part.as_ref().and_then(long_value),
            end_time: raw.end_time.as_ref().and_then(date_value),
            id: raw.id.as_ref().and_then(keyword_value),
            report_name: raw.report_name.as_ref().and_then(keyword_value),
            report_type_name: raw.report_type_name.as_ref().and_then(keyword_value),
            start_time: raw.start_time.as_ref().and_then(date_value),
            generation_time: raw.generation_time.as_ref().and_then(date_value),
        })
    }
}

pub(super) fn keyword_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn date_value(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => parse_date(s),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

pub(super) fn long_value(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Epoch milliseconds of a `strict_date_optional_time` value (RFC 3339, a local date-time
/// taken as UTC, or a date).
pub(super) fn parse_date(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc().timestamp_millis());
    }
    let date = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}
