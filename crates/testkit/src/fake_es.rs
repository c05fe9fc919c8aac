//! An in-process fake Elasticsearch that speaks exactly the protocol of `docs/elasticsearch.md`.
//!
//! Tests and benchmarks of the Elasticsearch store run against it instead of a cluster. It
//! keeps indices, index templates and points in time in memory and answers in
//! Elasticsearch's response and error shapes, so the store's parsers see what a cluster
//! would send. Every request it does not understand (an unknown path, query parameter, body
//! key or content type) is answered with a 400 and recorded in [`FakeEs::violations`]:
//! tests assert that list is empty, so drift between the store and the documented protocol
//! fails loudly instead of being answered with something plausible.
//!
//! The code under test is synchronous and starts its own tokio runtime, which must not be
//! nested inside another; so the server runs on a runtime of its own in a background thread
//! and the handle is a plain synchronous API.
//!
//! Documents are held as their serialized JSON (shared, never re-serialized) next to the
//! few fields the protocol queries on, with a per-index map from node name to that node's
//! documents by time: a page of "latest document per node" costs the page, not the index.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::ops::Bound;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Bodies up to this size are kept in the request log; larger ones only by length.
const LOGGED_BODY_LIMIT: usize = 64 * 1024;
/// Elasticsearch's default `http.max_content_length` (100mb).
const DEFAULT_MAX_CONTENT_LENGTH: usize = 100 * 1024 * 1024;
/// Elasticsearch's default `index.max_result_window`.
const MAX_RESULT_WINDOW: usize = 10_000;

/// A running fake cluster; the server stops when the handle is dropped.
pub struct FakeEs {
    state: Arc<Mutex<State>>,
    url: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// One request as the fake received it, with the size of its answer.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The path as sent, still percent-encoded.
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub accept_encoding: Option<String>,
    /// `Basic`, `ApiKey`, ...: the scheme only, so logs never hold credentials.
    pub auth_scheme: Option<String>,
    /// The body when it is under 64 KiB (lossy UTF-8).
    pub body: Option<String>,
    pub body_len: usize,
    pub status: u16,
    pub response_len: usize,
}

impl Recorded {
    /// The body parsed as JSON, when it was kept and is JSON.
    pub fn body_json(&self) -> Option<Value> {
        self.body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
    }
}

/// Which requests an injected failure or delay applies to.
#[derive(Clone, Debug)]
pub struct RequestMatcher {
    method: Option<String>,
    path_prefix: String,
}

impl RequestMatcher {
    /// Every request.
    pub fn any() -> RequestMatcher {
        RequestMatcher {
            method: None,
            path_prefix: "/".to_owned(),
        }
    }

    /// Requests with this method whose (percent-encoded) path starts with `path_prefix`.
    pub fn new(method: &str, path_prefix: &str) -> RequestMatcher {
        RequestMatcher {
            method: Some(method.to_ascii_uppercase()),
            path_prefix: path_prefix.to_owned(),
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method) && path.starts_with(&self.path_prefix)
    }
}

/// The error body Elasticsearch sends: `{"error":{"root_cause":[..],"type","reason"},"status"}`.
pub fn es_error(status: u16, error_type: &str, reason: &str) -> Value {
    json!({
        "error": {
            "root_cause": [{"type": error_type, "reason": reason}],
            "type": error_type,
            "reason": reason,
        },
        "status": status,
    })
}

impl FakeEs {
    /// Starts an empty cluster listening on 127.0.0.1.
    pub fn start() -> FakeEs {
        let state = Arc::new(Mutex::new(State::new()));
        let responder = Responder {
            state: Arc::clone(&state),
        };
        let (url_tx, url_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fake-es".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("fake ES runtime");
                let server = runtime.block_on(async {
                    let server = MockServer::builder()
                        .disable_request_recording()
                        .start()
                        .await;
                    Mock::given(wiremock::matchers::any())
                        .respond_with(responder)
                        .mount(&server)
                        .await;
                    server
                });
                url_tx.send(server.uri()).expect("fake ES handle gone");
                // Returns when the handle sends or is dropped.
                let _ = stop_rx.recv();
                drop(server);
            })
            .expect("spawn fake ES thread");
        let url = url_rx.recv().expect("fake ES failed to start");
        FakeEs {
            state,
            url,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores a document as an index request would (creating the index).
    pub fn insert(&self, index: &str, id: &str, source: Value) {
        self.insert_raw(index, id, source.to_string());
    }

    /// Stores an already serialized document without re-serializing it; panics on invalid
    /// JSON. Identical sources may share one allocation by passing the same `Arc<str>`.
    pub fn insert_raw(&self, index: &str, id: &str, source_json: impl Into<Arc<str>>) {
        let source = source_json.into();
        let keys = Keys::parse(&source)
            .unwrap_or_else(|e| panic!("fake ES insert {index}/{id}: invalid document: {e}"));
        self.state().index_mut(index).put(id, source, keys);
    }

    /// The documents of an index, by `_id`; empty when the index does not exist.
    pub fn documents(&self, index: &str) -> Vec<(String, Value)> {
        let state = self.state();
        let Some(idx) = state.indices.get(index) else {
            return Vec::new();
        };
        idx.docs
            .iter()
            .map(|(id, doc)| {
                let value = serde_json::from_str(&doc.source).expect("stored JSON");
                (id.clone(), value)
            })
            .collect()
    }

    /// One document, parsed.
    pub fn document(&self, index: &str, id: &str) -> Option<Value> {
        let state = self.state();
        let doc = state.indices.get(index)?.docs.get(id)?;
        Some(serde_json::from_str(&doc.source).expect("stored JSON"))
    }

    /// How many documents an index holds (0 when it does not exist).
    pub fn count(&self, index: &str) -> usize {
        self.state().indices.get(index).map_or(0, |i| i.docs.len())
    }

    /// The names of the existing indices, sorted.
    pub fn indices(&self) -> Vec<String> {
        self.state().indices.keys().cloned().collect()
    }

    /// Creates an empty index (templates apply, as on a first write).
    pub fn create_index(&self, index: &str) {
        self.state().index_mut(index);
    }

    /// Adds `index` to the alias `alias`, as a rollover alias would name its backing indices.
    pub fn add_alias(&self, alias: &str, index: &str) {
        let mut state = self.state();
        state.index_mut(index);
        state
            .aliases
            .entry(alias.to_owned())
            .or_default()
            .insert(index.to_owned());
    }

    /// Sets an index's mappings (what Elasticsearch shows under `mappings`, e.g.
    /// `{"properties":{"node_name":{"type":"keyword"}}}`), creating the index.
    pub fn set_mapping(&self, index: &str, mapping: Value) {
        self.state().index_mut(index).mapping = Some(mapping);
    }

    /// An index's mappings, as set or taken from a template when it was created.
    pub fn mapping(&self, index: &str) -> Option<Value> {
        self.state().indices.get(index)?.mapping.clone()
    }

    /// Stores an index template as `PUT /_index_template/<name>` would.
    pub fn set_template(&self, name: &str, body: Value) {
        self.state().templates.insert(name.to_owned(), body);
    }

    /// A stored index template body.
    pub fn template(&self, name: &str) -> Option<Value> {
        self.state().templates.get(name).cloned()
    }

    /// Every request received since the start or the last [`FakeEs::clear_requests`].
    pub fn requests(&self) -> Vec<Recorded> {
        self.state().log.clone()
    }

    pub fn clear_requests(&self) {
        self.state().log.clear();
    }

    /// Requests the fake did not understand, as `METHOD /path?query: what`.
    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    /// Returns the violations so far and forgets them, for tests that cause some on
    /// purpose (any left when the fake is dropped fail the test).
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut self.state().violations)
    }

    /// Panics listing the violations, if any.
    pub fn assert_no_violations(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "fake Elasticsearch received requests outside docs/elasticsearch.md:\n{}",
            violations.join("\n")
        );
    }

    /// From now on requests need these Basic credentials (or another configured one);
    /// others get Elasticsearch's 401 `security_exception`.
    pub fn require_basic_auth(&self, user: &str, password: &str) {
        let header = format!(
            "Basic {}",
            base64_encode(format!("{user}:{password}").as_bytes())
        );
        self.state().accepted_auth.push(header);
    }

    /// From now on requests need `Authorization: ApiKey <encoded>` (or another configured
    /// credential).
    pub fn require_api_key(&self, encoded: &str) {
        self.state().accepted_auth.push(format!("ApiKey {encoded}"));
    }

    /// The next `times` matching requests get `status` with `body` (see [`es_error`])
    /// instead of being served; they change nothing.
    pub fn fail_next(&self, matcher: RequestMatcher, times: usize, status: u16, body: Value) {
        self.state().injections.push(Injection {
            matcher,
            remaining: times,
            action: InjectedAction::Fail { status, body },
        });
    }

    /// The next `times` matching requests are served (their writes happen) but answered only
    /// after `delay`, like an overloaded cluster: a client timeout does not undo the write.
    pub fn delay_next(&self, matcher: RequestMatcher, times: usize, delay: Duration) {
        self.state().injections.push(Injection {
            matcher,
            remaining: times,
            action: InjectedAction::Delay(delay),
        });
    }

    /// In the next `times` bulk requests containing them (`usize::MAX`: always), the
    /// items with these `_id`s fail with `status` and `{type, reason}` and are not stored.
    /// `times = 1` with 429 models a rejection that a retry gets past.
    pub fn fail_bulk_items(
        &self,
        ids: &[&str],
        status: u16,
        error_type: &str,
        reason: &str,
        times: usize,
    ) {
        let mut state = self.state();
        for id in ids {
            state.item_failures.insert(
                (*id).to_owned(),
                ItemFailure {
                    status,
                    error_type: error_type.to_owned(),
                    reason: reason.to_owned(),
                    remaining: times,
                },
            );
        }
    }

    /// Expires every open point in time: searches with their ids answer 404
    /// `search_context_missing_exception`, as after `keep_alive` has passed.
    pub fn expire_pits(&self) {
        for pit in self.state().pits.values_mut() {
            pit.expired = true;
            pit.indices.clear();
        }
    }

    /// How many points in time are open (not closed, not expired): a reader that closes
    /// what it opens leaves 0.
    pub fn open_pits(&self) -> usize {
        self.state().pits.values().filter(|p| !p.expired).count()
    }

    /// Bodies larger than this get 413, like `http.max_content_length` (default 100mb).
    pub fn set_max_content_length(&self, bytes: usize) {
        self.state().max_content_length = bytes;
    }

    /// Total size of the response bodies sent so far.
    pub fn bytes_served(&self) -> u64 {
        self.state().bytes_served
    }
}

impl Drop for FakeEs {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Every test is checked against the protocol, including those that forget to ask.
        if !std::thread::panicking() {
            self.assert_no_violations();
        }
    }
}

// ---------------------------------------------------------------------------------------
// State

struct State {
    indices: BTreeMap<String, Arc<Index>>,
    aliases: BTreeMap<String, BTreeSet<String>>,
    templates: BTreeMap<String, Value>,
    pits: HashMap<u64, Pit>,
    /// Every id handed out for a PIT (each search answers a new one) → the PIT.
    pit_ids: HashMap<String, u64>,
    next_pit: u64,
    next_ordinal: u64,
    accepted_auth: Vec<String>,
    injections: Vec<Injection>,
    item_failures: HashMap<String, ItemFailure>,
    max_content_length: usize,
    log: Vec<Recorded>,
    violations: Vec<String>,
    bytes_served: u64,
}

/// One index. Shared copy-on-write with the points in time that snapshot it, so opening a
/// PIT copies nothing and a write copies the index only while a PIT still holds it.
#[derive(Clone, Default)]
struct Index {
    /// Creation order, the high half of `_shard_doc` values.
    ordinal: u64,
    docs: BTreeMap<String, Doc>,
    /// node_name → that node's documents, newest first.
    by_node: BTreeMap<String, NodeDocs>,
    /// Next doc number, also the next `_seq_no`.
    next_seq: u64,
    mapping: Option<Value>,
}

/// (timestamp, descending with missing last; doc number) → `_id`.
type NodeDocs = BTreeMap<(Reverse<Option<i64>>, u64), String>;

#[derive(Clone)]
struct Doc {
    source: Arc<str>,
    keys: Keys,
    version: u64,
    seq: u64,
}

/// The fields the protocol filters and sorts on, parsed once when a document is stored.
#[derive(Clone, Debug, Default)]
struct Keys {
    node_name: Option<String>,
    timestamp: Option<i64>,
    /// `regexp {"error": ".+"}` on a text field: the value has at least one word.
    error_has_word: bool,
    report_id: Option<String>,
    generation: Option<String>,
    part: Option<i64>,
    end_time: Option<i64>,
}

struct Pit {
    indices: Vec<(String, Arc<Index>)>,
    expired: bool,
    /// Ids issued so far for this PIT.
    issued: u64,
}

struct Injection {
    matcher: RequestMatcher,
    remaining: usize,
    action: InjectedAction,
}

enum InjectedAction {
    Fail { status: u16, body: Value },
    Delay(Duration),
}

struct ItemFailure {
    status: u16,
    error_type: String,
    reason: String,
    remaining: usize,
}

impl State {
    fn new() -> State {
        State {
            indices: BTreeMap::new(),
            aliases: BTreeMap::new(),
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
    fn index_mut(&mut self, name: &str) -> &mut Index {
        if !self.indices.contains_key(name) {
            let index = Index {
                ordinal: self.next_ordinal,
                mapping: self.template_mapping(name),
                ..Index::default()
            };
            self.next_ordinal += 1;
            self.indices.insert(name.to_owned(), Arc::new(index));
        }
        Arc::make_mut(self.indices.get_mut(name).expect("just inserted"))
    }

    fn template_mapping(&self, index: &str) -> Option<Value> {
        self.templates
            .values()
            .filter(|t| {
                let patterns = match t.get("index_patterns") {
                    Some(Value::String(p)) => vec![p.as_str()],
                    Some(Value::Array(ps)) => ps.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                patterns.iter().any(|p| glob_match(p, index))
            })
            .max_by_key(|t| t.get("priority").and_then(Value::as_i64).unwrap_or(0))
            .and_then(|t| t.pointer("/template/mappings").cloned())
    }
}

impl Index {
    /// Stores a document; returns (version, created, seq_no).
    fn put(&mut self, id: &str, source: Arc<str>, keys: Keys) -> (u64, bool, u64) {
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

    fn remove(&mut self, id: &str) -> Option<Doc> {
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

    fn shard_doc(&self, doc: &Doc) -> i64 {
        ((self.ordinal << 32) | doc.seq) as i64
    }
}

#[derive(Deserialize)]
struct RawKeys {
    node_name: Option<Value>,
    timestamp: Option<Value>,
    error: Option<Value>,
    #[serde(rename = "reportId")]
    report_id: Option<Value>,
    generation: Option<Value>,
    part: Option<Value>,
    #[serde(rename = "endTime")]
    end_time: Option<Value>,
}

impl Keys {
    /// Validates the whole document as a JSON object and extracts the queried fields.
    fn parse(source: &str) -> Result<Keys, String> {
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
        })
    }
}

fn keyword_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn date_value(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => parse_date(s),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn long_value(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Epoch milliseconds of a `strict_date_optional_time` value (RFC 3339, a local date-time
/// taken as UTC, or a date).
fn parse_date(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc().timestamp_millis());
    }
    let date = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

// ---------------------------------------------------------------------------------------
// Serving

struct Responder {
    state: Arc<Mutex<State>>,
}

/// An answer before it becomes a `ResponseTemplate`.
struct Reply {
    status: u16,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    delay: Option<Duration>,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Reply {
        Reply::raw(status, body.to_string())
    }

    fn raw(status: u16, body: String) -> Reply {
        Reply {
            status,
            body: body.into_bytes(),
            headers: Vec::new(),
            delay: None,
        }
    }
}

/// A request the handler refuses: an Elasticsearch error, and for requests outside the
/// protocol also a recorded violation.
struct Reject {
    status: u16,
    body: Value,
    violation: Option<String>,
}

impl Reject {
    /// Outside the documented protocol: 400, and recorded.
    fn violation(what: impl Into<String>) -> Reject {
        let what = what.into();
        let reason = format!("[fake-es protocol violation] {what}");
        Reject {
            status: 400,
            body: es_error(400, "illegal_argument_exception", &reason),
            violation: Some(what),
        }
    }

    /// An error a real cluster would answer to a valid request.
    fn es(status: u16, error_type: &str, reason: &str) -> Reject {
        Reject {
            status,
            body: es_error(status, error_type, reason),
            violation: None,
        }
    }

    fn index_not_found(name: &str) -> Reject {
        let reason = format!("no such index [{name}]");
        let cause = json!({"type": "index_not_found_exception", "reason": reason,
            "resource.type": "index_or_alias", "resource.id": name, "index_uuid": "_na_", "index": name});
        Reject {
            status: 404,
            body: json!({"error": {"root_cause": [cause.clone()], "type": "index_not_found_exception",
                "reason": reason, "resource.type": "index_or_alias", "resource.id": name,
                "index_uuid": "_na_", "index": name}, "status": 404}),
            violation: None,
        }
    }

    /// What a search with an expired or unknown PIT id answers.
    fn search_context_missing(id: &str) -> Reject {
        let cause = json!({"type": "search_context_missing_exception",
            "reason": format!("No search context found for id [{id}]")});
        Reject {
            status: 404,
            body: json!({"error": {
                "root_cause": [cause.clone()],
                "type": "search_phase_execution_exception",
                "reason": "all shards failed",
                "phase": "query",
                "grouped": true,
                "failed_shards": [{"shard": -1, "index": null, "reason": cause.clone()}],
                "caused_by": cause,
            }, "status": 404}),
            violation: None,
        }
    }
}

type Handled = Result<Reply, Reject>;

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let req = Req::new(request);
        let reply = match state.serve(&req) {
            Ok(reply) => reply,
            Err(reject) => {
                if let Some(what) = reject.violation {
                    let query = req.query.map(|q| format!("?{q}")).unwrap_or_default();
                    state
                        .violations
                        .push(format!("{} {}{query}: {what}", req.method, req.path));
                }
                Reply::json(reject.status, &reject.body)
            }
        };
        state.bytes_served += reply.body.len() as u64;
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        state.log.push(Recorded {
            method: req.method.to_owned(),
            path: req.path.to_owned(),
            query: req.query.map(str::to_owned),
            content_type: header("content-type"),
            content_encoding: header("content-encoding"),
            accept_encoding: header("accept-encoding"),
            auth_scheme: header("authorization")
                .map(|a| a.split(' ').next().unwrap_or_default().to_owned()),
            body: (req.body.len() < LOGGED_BODY_LIMIT)
                .then(|| String::from_utf8_lossy(req.body).into_owned()),
            body_len: req.body.len(),
            status: reply.status,
            response_len: reply.body.len(),
        });
        drop(state);

        let mut template =
            ResponseTemplate::new(reply.status).append_header("x-elastic-product", "Elasticsearch");
        for (name, value) in reply.headers {
            template = template.append_header(name, value.as_str());
        }
        if let Some(delay) = reply.delay {
            template = template.set_delay(delay);
        }
        if reply.body.is_empty() {
            template
        } else {
            template.set_body_raw(reply.body, "application/json")
        }
    }
}

/// The parts of a request the handlers look at.
struct Req<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    segments: Vec<String>,
    params: Vec<(String, String)>,
    content_type: Option<String>,
    content_encoding: Option<String>,
    authorization: Option<&'a str>,
    body: &'a [u8],
}

impl<'a> Req<'a> {
    fn new(request: &'a Request) -> Req<'a> {
        let path = request.url.path();
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        Req {
            method: request.method.as_str(),
            path,
            query: request.url.query(),
            segments: path
                .trim_start_matches('/')
                .split('/')
                .map(percent_decode)
                .collect(),
            params: request
                .url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            content_type: header("content-type").map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            }),
            content_encoding: header("content-encoding").map(str::to_owned),
            authorization: header("authorization"),
            body: &request.body,
        }
    }

    /// The URI as Elasticsearch names it in errors.
    fn uri(&self) -> String {
        match self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.to_owned(),
        }
    }

    /// Refuses parameters outside `allowed` and repeated ones.
    fn allow_params(&self, allowed: &[&str]) -> Result<(), Reject> {
        let mut seen = BTreeSet::new();
        for (key, _) in &self.params {
            if !allowed.contains(&key.as_str()) {
                return Err(Reject::violation(format!(
                    "request [{}] contains unrecognized parameter: [{key}]",
                    self.path
                )));
            }
            if !seen.insert(key) {
                return Err(Reject::violation(format!("parameter [{key}] given twice")));
            }
        }
        Ok(())
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn bool_param(&self, name: &str) -> Result<bool, Reject> {
        match self.param(name) {
            None | Some("false") => Ok(false),
            Some("true") | Some("") => Ok(true),
            Some(other) => Err(Reject::violation(format!(
                "Failed to parse value [{other}] as only [true] or [false] are allowed (parameter [{name}])"
            ))),
        }
    }

    fn check_refresh(&self) -> Result<(), Reject> {
        match self.param("refresh") {
            None | Some("true" | "false" | "wait_for" | "") => Ok(()),
            Some(other) => Err(Reject::violation(format!(
                "Unknown value for refresh: [{other}]."
            ))),
        }
    }

    fn no_body(&self) -> Result<(), Reject> {
        if self.body.is_empty() {
            Ok(())
        } else {
            Err(Reject::violation(format!(
                "request body is not expected here ({} bytes)",
                self.body.len()
            )))
        }
    }

    /// The body as a JSON object, sent as `application/json`.
    fn json_body(&self) -> Result<Map<String, Value>, Reject> {
        match self.content_type.as_deref() {
            Some("application/json" | "application/vnd.elasticsearch+json") => {}
            other => {
                return Err(Reject::violation(format!(
                    "Content-Type header [{}] is not supported here (expected application/json)",
                    other.unwrap_or("")
                )));
            }
        }
        if self.body.is_empty() {
            return Err(Reject::violation("request body is required"));
        }
        match serde_json::from_slice::<Value>(self.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(Reject::violation("request body is not a JSON object")),
            Err(e) => Err(Reject::violation(format!("request body is not JSON: {e}"))),
        }
    }
}

impl State {
    fn serve(&mut self, req: &Req) -> Handled {
        if let Some(refused) = self.check_auth(req) {
            return Ok(refused);
        }
        if let Some(position) = self
            .injections
            .iter()
            .position(|i| i.remaining > 0 && i.matcher.matches(req.method, req.path))
        {
            let injection = &mut self.injections[position];
            injection.remaining -= 1;
            match &injection.action {
                InjectedAction::Fail { status, body } => return Ok(Reply::json(*status, body)),
                InjectedAction::Delay(delay) => {
                    let delay = *delay;
                    let mut reply = self.route(req)?;
                    reply.delay = Some(delay);
                    return Ok(reply);
                }
            }
        }
        if req.body.len() > self.max_content_length {
            // Netty refuses the body before Elasticsearch sees it: no JSON.
            return Ok(Reply::raw(413, String::new()));
        }
        self.route(req)
    }

    /// The 401 for a request without accepted credentials, when credentials are required.
    fn check_auth(&self, req: &Req) -> Option<Reply> {
        if self.accepted_auth.is_empty() {
            return None;
        }
        let given = req.authorization;
        if given.is_some_and(|g| self.accepted_auth.iter().any(|a| a == g)) {
            return None;
        }
        let reason = match given {
            None => format!("missing authentication credentials for REST request [{}]", req.uri()),
            Some(basic) if basic.starts_with("Basic ") => {
                let user = base64_decode(&basic["Basic ".len()..])
                    .and_then(|raw| String::from_utf8(raw).ok())
                    .and_then(|s| s.split_once(':').map(|(u, _)| u.to_owned()))
                    .unwrap_or_default();
                format!("unable to authenticate user [{user}] for REST request [{}]", req.uri())
            }
            Some(_) => "unable to authenticate with provided credentials and anonymous access is not allowed for this request".to_owned(),
        };
        let challenges = [
            "Basic realm=\"security\", charset=\"UTF-8\"",
            "Bearer realm=\"security\"",
            "ApiKey",
        ];
        let cause = json!({"type": "security_exception", "reason": reason,
            "header": {"WWW-Authenticate": challenges}});
        let body = json!({"error": {"root_cause": [cause], "type": "security_exception",
            "reason": reason, "header": {"WWW-Authenticate": challenges}}, "status": 401});
        let mut reply = Reply::json(401, &body);
        reply.headers = challenges
            .iter()
            .map(|c| ("www-authenticate", (*c).to_owned()))
            .collect();
        Some(reply)
    }

    fn route(&mut self, req: &Req) -> Handled {
        if let Some(encoding) = &req.content_encoding {
            return Err(Reject::violation(format!(
                "Content-Encoding [{encoding}]: the protocol sends request bodies uncompressed"
            )));
        }
        let segments: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        match (req.method, segments.as_slice()) {
            ("GET", ["_resolve", "index", pattern]) => self.resolve_index(req, pattern),
            ("POST", ["_search"]) => self.pit_search(req),
            ("POST", [patterns, "_search"]) => self.index_search(req, patterns),
            ("POST", [patterns, "_pit"]) => self.open_pit(req, patterns),
            ("DELETE", ["_pit"]) => self.close_pit(req),
            ("POST", ["_bulk"]) => self.bulk(req),
            ("PUT", [index, "_doc", id]) => self.put_doc(req, index, id),
            ("POST", [index, "_delete_by_query"]) => self.delete_by_query(req, index),
            ("GET", ["_index_template", name]) => self.get_template(req, name),
            ("PUT", ["_index_template", name]) => self.put_template(req, name),
            ("GET", [patterns, "_mapping", "field", fields]) => {
                self.field_mapping(req, patterns, fields)
            }
            _ => Err(Reject::violation(format!(
                "no handler found for uri [{}] and method [{}]",
                req.uri(),
                req.method
            ))),
        }
    }

    // -- index names --------------------------------------------------------------------

    /// The concrete indices a comma-separated list of names, aliases and `*` patterns
    /// reads, sorted. A missing concrete name is a 404 unless `ignore_unavailable`.
    fn expand(&self, patterns: &str, ignore_unavailable: bool) -> Result<Vec<String>, Reject> {
        let mut out = BTreeSet::new();
        for expression in patterns.split(',') {
            check_expression(expression)?;
            if expression.contains('*') {
                out.extend(
                    self.indices
                        .keys()
                        .filter(|name| glob_match(expression, name))
                        .cloned(),
                );
                for (alias, members) in &self.aliases {
                    if glob_match(expression, alias) {
                        out.extend(members.iter().cloned());
                    }
                }
            } else if self.indices.contains_key(expression) {
                out.insert(expression.to_owned());
            } else if let Some(members) = self.aliases.get(expression) {
                out.extend(members.iter().cloned());
            } else if !ignore_unavailable {
                return Err(Reject::index_not_found(expression));
            }
        }
        Ok(out.into_iter().collect())
    }

    /// The index a write to `name` goes to: the name itself, or an alias's only index.
    fn write_index(&self, name: &str) -> Result<String, Reject> {
        check_expression(name)?;
        if name.contains('*') || name.starts_with(['-', '+', '.']) || name.to_lowercase() != name {
            return Err(Reject::violation(format!(
                "invalid index name [{name}] for a write"
            )));
        }
        match self.aliases.get(name) {
            None => Ok(name.to_owned()),
            Some(members) if members.len() == 1 => {
                Ok(members.iter().next().expect("one member").clone())
            }
            Some(_) => Err(Reject::es(
                400,
                "illegal_argument_exception",
                &format!(
                    "no write index is defined for alias [{name}]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index"
                ),
            )),
        }
    }

    fn snapshot(&self, names: &[String]) -> Vec<(String, Arc<Index>)> {
        names
            .iter()
            .filter_map(|n| self.indices.get(n).map(|i| (n.clone(), Arc::clone(i))))
            .collect()
    }

    // -- endpoints ----------------------------------------------------------------------

    fn resolve_index(&mut self, req: &Req, pattern: &str) -> Handled {
        req.allow_params(&[])?;
        req.no_body()?;
        let mut indices = BTreeSet::new();
        let mut aliases = BTreeSet::new();
        for expression in pattern.split(',') {
            check_expression(expression)?;
            if expression.contains('*') {
                indices.extend(self.indices.keys().filter(|n| glob_match(expression, n)));
                aliases.extend(self.aliases.keys().filter(|n| glob_match(expression, n)));
            } else if self.indices.contains_key(expression) {
                indices.insert(self.indices.get_key_value(expression).expect("present").0);
            } else if let Some((alias, _)) = self.aliases.get_key_value(expression) {
                aliases.insert(alias);
            } else {
                return Err(Reject::index_not_found(expression));
            }
        }
        let indices: Vec<Value> = indices
            .into_iter()
            .map(|name| {
                let mut entry = Map::new();
                entry.insert("name".into(), json!(name));
                let of: Vec<&String> = self
                    .aliases
                    .iter()
                    .filter(|(_, members)| members.contains(name))
                    .map(|(alias, _)| alias)
                    .collect();
                // Elasticsearch leaves `aliases` out when an index has none.
                if !of.is_empty() {
                    entry.insert("aliases".into(), json!(of));
                }
                entry.insert("attributes".into(), json!(["open"]));
                Value::Object(entry)
            })
            .collect();
        let aliases: Vec<Value> = aliases
            .into_iter()
            .map(|a| json!({"name": a, "indices": self.aliases[a]}))
            .collect();
        Ok(Reply::json(
            200,
            &json!({"indices": indices, "aliases": aliases, "data_streams": []}),
        ))
    }

    fn open_pit(&mut self, req: &Req, patterns: &str) -> Handled {
        req.allow_params(&["keep_alive", "ignore_unavailable"])?;
        req.no_body()?;
        let Some(keep_alive) = req.param("keep_alive") else {
            return Err(Reject::violation(
                "Validation Failed: 1: [keep_alive] is not specified;",
            ));
        };
        check_time_value("keep_alive", keep_alive)?;
        let names = self.expand(patterns, req.bool_param("ignore_unavailable")?)?;
        let indices = self.snapshot(&names);
        let number = self.next_pit;
        self.next_pit += 1;
        let id = pit_id(number, 0);
        self.pit_ids.insert(id.clone(), number);
        self.pits.insert(
            number,
            Pit {
                indices,
                expired: false,
                issued: 1,
            },
        );
        let n = names.len();
        Ok(Reply::json(
            200,
            &json!({"id": id, "_shards": {"total": n, "successful": n, "skipped": 0, "failed": 0}}),
        ))
    }

    fn close_pit(&mut self, req: &Req) -> Handled {
        req.allow_params(&[])?;
        let body = req.json_body()?;
        check_keys("DELETE /_pit body", &body, &["id"])?;
        let Some(id) = body.get("id").and_then(Value::as_str) else {
            return Err(Reject::violation("DELETE /_pit needs {\"id\": \"<pit>\"}"));
        };
        let open = self
            .pit_ids
            .get(id)
            .copied()
            .filter(|n| self.pits.get(n).is_some_and(|p| !p.expired));
        match open {
            Some(number) => {
                self.pits.remove(&number);
                self.pit_ids.retain(|_, n| *n != number);
                Ok(Reply::json(
                    200,
                    &json!({"succeeded": true, "num_freed": 1}),
                ))
            }
            None => Ok(Reply::json(
                404,
                &json!({"succeeded": true, "num_freed": 0}),
            )),
        }
    }

    fn pit_search(&mut self, req: &Req) -> Handled {
        req.allow_params(&[])?;
        let body = req.json_body()?;
        let search = parse_search(&body)?;
        let Some(pit) = &search.pit else {
            return Err(Reject::violation(
                "POST /_search without a pit: the protocol always names its indices or a PIT",
            ));
        };
        let number = self
            .pit_ids
            .get(&pit.id)
            .copied()
            .filter(|n| self.pits.get(n).is_some_and(|p| !p.expired))
            .ok_or_else(|| Reject::search_context_missing(&pit.id))?;
        let pit_state = self.pits.get_mut(&number).expect("open PIT");
        let next_id = pit_id(number, pit_state.issued);
        pit_state.issued += 1;
        let indices = pit_state.indices.clone();
        self.pit_ids.insert(next_id.clone(), number);
        // Elasticsearch sorts every PIT search by `_shard_doc` last, unless search_after
        // already gives a value for each sort field.
        let tiebreak = search
            .search_after
            .as_ref()
            .is_none_or(|after| after.len() != search.sort.len());
        let page = run_search(&indices, &search, tiebreak)?;
        Ok(Reply::raw(200, page.render(Some(&next_id), indices.len())))
    }

    fn index_search(&mut self, req: &Req, patterns: &str) -> Handled {
        req.allow_params(&["ignore_unavailable"])?;
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
        Ok(Reply::raw(200, page.render(None, indices.len())))
    }

    fn bulk(&mut self, req: &Req) -> Handled {
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

    fn put_doc(&mut self, req: &Req, index: &str, id: &str) -> Handled {
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

    fn delete_by_query(&mut self, req: &Req, patterns: &str) -> Handled {
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

    fn get_template(&mut self, req: &Req, name: &str) -> Handled {
        req.allow_params(&[])?;
        req.no_body()?;
        let found: Vec<Value> = self
            .templates
            .iter()
            .filter(|(n, _)| glob_match(name, n))
            .map(|(n, t)| json!({"name": n, "index_template": t}))
            .collect();
        if found.is_empty() && !name.contains('*') {
            return Err(Reject::es(
                404,
                "resource_not_found_exception",
                &format!("index template matching [{name}] not found"),
            ));
        }
        Ok(Reply::json(200, &json!({"index_templates": found})))
    }

    fn put_template(&mut self, req: &Req, name: &str) -> Handled {
        req.allow_params(&[])?;
        let body = req.json_body()?;
        check_keys(
            "index template",
            &body,
            &[
                "index_patterns",
                "template",
                "priority",
                "version",
                "_meta",
                "composed_of",
                "data_stream",
                "allow_auto_create",
            ],
        )?;
        if !matches!(
            body.get("index_patterns"),
            Some(Value::String(_) | Value::Array(_))
        ) {
            return Err(Reject::violation(
                "Validation Failed: 1: index patterns are missing;",
            ));
        }
        if let Some(template) = body.get("template") {
            let template = template
                .as_object()
                .ok_or_else(|| Reject::violation("[template] is not an object"))?;
            check_keys(
                "index template [template]",
                template,
                &["settings", "mappings", "aliases"],
            )?;
        }
        check_expression(name)?;
        self.templates.insert(name.to_owned(), Value::Object(body));
        Ok(Reply::json(200, &json!({"acknowledged": true})))
    }

    fn field_mapping(&mut self, req: &Req, patterns: &str, fields: &str) -> Handled {
        req.allow_params(&["ignore_unavailable"])?;
        req.no_body()?;
        let names = self.expand(patterns, req.bool_param("ignore_unavailable")?)?;
        let wanted: Vec<&str> = fields.split(',').collect();
        let mut out = Map::new();
        for name in names {
            let mut found = Map::new();
            if let Some(props) = self.indices[&name]
                .mapping
                .as_ref()
                .and_then(|m| m.get("properties"))
                .and_then(Value::as_object)
            {
                let mut flat = Vec::new();
                flatten_fields(props, "", &mut flat);
                for (full, leaf, def) in flat {
                    if wanted.iter().any(|w| glob_match(w, &full)) {
                        found.insert(
                            full.clone(),
                            json!({"full_name": full, "mapping": {leaf: def}}),
                        );
                    }
                }
            }
            out.insert(name, json!({"mappings": found}));
        }
        Ok(Reply::json(200, &Value::Object(out)))
    }
}

fn pit_id(number: u64, issued: u64) -> String {
    format!("fake-pit-{number}-{issued}")
}

fn parse_bulk_action(line_number: usize, line: &str) -> Result<(String, String), Reject> {
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

/// Refuses index expressions the fake does not implement (exclusions, `_all`, empty).
fn check_expression(expression: &str) -> Result<(), Reject> {
    if expression.is_empty() || expression.starts_with(['-', '_']) || expression.contains(' ') {
        return Err(Reject::violation(format!(
            "unsupported index expression [{expression}]"
        )));
    }
    Ok(())
}

/// Refuses unknown keys of a request object.
fn check_keys(what: &str, object: &Map<String, Value>, allowed: &[&str]) -> Result<(), Reject> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(Reject::violation(format!("{what}: unknown key [{key}]"))),
        None => Ok(()),
    }
}

/// Accepts Elasticsearch time values such as `5m`, `30s`, `1h`.
fn check_time_value(name: &str, value: &str) -> Result<(), Reject> {
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &value[digits.len()..];
    let units = ["nanos", "micros", "ms", "s", "m", "h", "d"];
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && units.contains(&unit) {
        Ok(())
    } else {
        Err(Reject::violation(format!(
            "failed to parse setting [{name}] with value [{value}] as a time value"
        )))
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// (full dotted name, last name, definition) of every non-object field, multi-fields
/// included.
fn flatten_fields(
    props: &Map<String, Value>,
    prefix: &str,
    out: &mut Vec<(String, String, Value)>,
) {
    for (name, def) in props {
        let full = format!("{prefix}{name}");
        if let Some(sub) = def.get("properties").and_then(Value::as_object) {
            flatten_fields(sub, &format!("{full}."), out);
            continue;
        }
        out.push((full.clone(), name.clone(), def.clone()));
        if let Some(multi) = def.get("fields").and_then(Value::as_object) {
            for (sub, sub_def) in multi {
                out.push((format!("{full}.{sub}"), sub.clone(), sub_def.clone()));
            }
        }
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in input.trim_end_matches('=').bytes() {
        let v = BASE64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------
// Searches

/// The fields the protocol queries, with their mapped types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    NodeName,
    Timestamp,
    Error,
    ReportId,
    Generation,
    Part,
    EndTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Keyword,
    Date,
    Long,
    Text,
}

impl Field {
    fn parse(name: &str) -> Result<Field, Reject> {
        Ok(match name {
            "node_name" => Field::NodeName,
            "timestamp" => Field::Timestamp,
            "error" => Field::Error,
            "reportId" => Field::ReportId,
            "generation" => Field::Generation,
            "part" => Field::Part,
            "endTime" => Field::EndTime,
            other => {
                return Err(Reject::violation(format!(
                    "field [{other}] is not one the protocol queries"
                )));
            }
        })
    }

    fn kind(self) -> Kind {
        match self {
            Field::NodeName | Field::ReportId | Field::Generation => Kind::Keyword,
            Field::Timestamp | Field::EndTime => Kind::Date,
            Field::Part => Kind::Long,
            Field::Error => Kind::Text,
        }
    }

    fn keyword(self, keys: &Keys) -> Option<&str> {
        match self {
            Field::NodeName => keys.node_name.as_deref(),
            Field::ReportId => keys.report_id.as_deref(),
            Field::Generation => keys.generation.as_deref(),
            _ => None,
        }
    }

    fn number(self, keys: &Keys) -> Option<i64> {
        match self {
            Field::Timestamp => keys.timestamp,
            Field::EndTime => keys.end_time,
            Field::Part => keys.part,
            _ => None,
        }
    }

    /// A query or search_after value for this field, as Elasticsearch would read it.
    fn number_from(self, value: &Value) -> Option<i64> {
        match self.kind() {
            Kind::Date => date_value(value),
            Kind::Long => long_value(value),
            _ => None,
        }
    }
}

enum Query {
    MatchAll,
    Ids(Vec<String>),
    Bool {
        must: Vec<Query>,
        must_not: Vec<Query>,
    },
    Range {
        field: Field,
        lower: Option<(i64, bool)>,
        upper: Option<(i64, bool)>,
    },
    /// `regexp ".+"`: the field has a non-empty term.
    HasTerm(Field),
    TermKeyword(Field, String),
    TermNumber(Field, i64),
}

impl Query {
    fn matches(&self, id: &str, keys: &Keys) -> bool {
        match self {
            Query::MatchAll => true,
            Query::Ids(ids) => ids.iter().any(|i| i == id),
            Query::Bool { must, must_not } => {
                must.iter().all(|q| q.matches(id, keys))
                    && !must_not.iter().any(|q| q.matches(id, keys))
            }
            Query::Range {
                field,
                lower,
                upper,
            } => field.number(keys).is_some_and(|v| {
                lower.is_none_or(|(b, incl)| if incl { v >= b } else { v > b })
                    && upper.is_none_or(|(b, incl)| if incl { v <= b } else { v < b })
            }),
            Query::HasTerm(Field::Error) => keys.error_has_word,
            Query::HasTerm(field) => field.keyword(keys).is_some_and(|s| !s.is_empty()),
            Query::TermKeyword(field, value) => field.keyword(keys) == Some(value.as_str()),
            Query::TermNumber(field, value) => field.number(keys) == Some(*value),
        }
    }
}

/// `{"<only key>": value}`, or a violation naming `what`.
fn single_entry<'v>(what: &str, value: &'v Value) -> Result<(&'v str, &'v Value), Reject> {
    match value.as_object() {
        Some(map) if map.len() == 1 => {
            let (k, v) = map.iter().next().expect("one entry");
            Ok((k.as_str(), v))
        }
        _ => Err(Reject::violation(format!(
            "{what} must be an object with exactly one key, got {value}"
        ))),
    }
}

fn parse_query(value: &Value) -> Result<Query, Reject> {
    let (kind, body) = single_entry("query", value)?;
    match kind {
        "match_all" => match body.as_object() {
            Some(m) if m.is_empty() => Ok(Query::MatchAll),
            _ => Err(Reject::violation("[match_all] takes no parameters here")),
        },
        "ids" => {
            let map = body
                .as_object()
                .ok_or_else(|| Reject::violation("[ids] must be an object"))?;
            check_keys("[ids]", map, &["values"])?;
            let values = map
                .get("values")
                .and_then(Value::as_array)
                .and_then(|vs| vs.iter().map(|v| v.as_str().map(str::to_owned)).collect())
                .ok_or_else(|| Reject::violation("[ids] needs values: [strings]"))?;
            Ok(Query::Ids(values))
        }
        "bool" => {
            let map = body
                .as_object()
                .ok_or_else(|| Reject::violation("[bool] must be an object"))?;
            check_keys("[bool]", map, &["filter", "must", "must_not"])?;
            let clauses = |key: &str| -> Result<Vec<Query>, Reject> {
                match map.get(key) {
                    None => Ok(Vec::new()),
                    Some(Value::Array(qs)) => qs.iter().map(parse_query).collect(),
                    Some(q) => Ok(vec![parse_query(q)?]),
                }
            };
            let mut must = clauses("must")?;
            must.extend(clauses("filter")?);
            Ok(Query::Bool {
                must,
                must_not: clauses("must_not")?,
            })
        }
        "range" => {
            let (name, spec) = single_entry("[range]", body)?;
            let field = Field::parse(name)?;
            let spec = spec
                .as_object()
                .ok_or_else(|| Reject::violation("[range] field must be an object"))?;
            check_keys("[range]", spec, &["gte", "gt", "lte", "lt", "format"])?;
            if !matches!(field.kind(), Kind::Date | Kind::Long) {
                return Err(Reject::violation(format!("[range] on field [{name}]")));
            }
            if let Some(format) = spec.get("format")
                && format != "strict_date_optional_time"
            {
                return Err(Reject::violation(format!("[range] format {format}")));
            }
            let bound = |key: &str| -> Result<Option<i64>, Reject> {
                spec.get(key)
                    .map(|v| {
                        field.number_from(v).ok_or_else(|| {
                            Reject::es(
                                400,
                                "parse_exception",
                                &format!("failed to parse date field [{v}] with format [strict_date_optional_time]"),
                            )
                        })
                    })
                    .transpose()
            };
            let lower = match (bound("gte")?, bound("gt")?) {
                (Some(v), None) => Some((v, true)),
                (None, Some(v)) => Some((v, false)),
                (None, None) => None,
                _ => return Err(Reject::violation("[range] has both gte and gt")),
            };
            let upper = match (bound("lte")?, bound("lt")?) {
                (Some(v), None) => Some((v, true)),
                (None, Some(v)) => Some((v, false)),
                (None, None) => None,
                _ => return Err(Reject::violation("[range] has both lte and lt")),
            };
            Ok(Query::Range {
                field,
                lower,
                upper,
            })
        }
        "regexp" => {
            let (name, spec) = single_entry("[regexp]", body)?;
            let field = Field::parse(name)?;
            let pattern = match spec {
                Value::String(p) => Some(p.as_str()),
                Value::Object(m) if m.len() == 1 => m.get("value").and_then(Value::as_str),
                _ => None,
            };
            if pattern != Some(".+") {
                return Err(Reject::violation(format!(
                    "[regexp] {spec}: the fake implements only \".+\""
                )));
            }
            Ok(Query::HasTerm(field))
        }
        "term" => {
            let (name, spec) = single_entry("[term]", body)?;
            let field = Field::parse(name)?;
            let value = match spec {
                Value::Object(m) if m.len() == 1 && m.contains_key("value") => &m["value"],
                other => other,
            };
            match field.kind() {
                Kind::Keyword => keyword_value(value)
                    .map(|v| Query::TermKeyword(field, v))
                    .ok_or_else(|| Reject::violation(format!("[term] {name}: {value}"))),
                Kind::Date | Kind::Long => field
                    .number_from(value)
                    .map(|v| Query::TermNumber(field, v))
                    .ok_or_else(|| Reject::violation(format!("[term] {name}: {value}"))),
                Kind::Text => Err(Reject::violation(format!("[term] on text field [{name}]"))),
            }
        }
        other => Err(Reject::violation(format!(
            "query [{other}] is not part of the protocol"
        ))),
    }
}

#[derive(Clone, Copy, Debug)]
enum SortKey {
    Field(Field),
    ShardDoc,
}

#[derive(Clone, Copy, Debug)]
struct SortSpec {
    key: SortKey,
    desc: bool,
}

fn parse_sort(value: &Value) -> Result<Vec<SortSpec>, Reject> {
    let entries = match value {
        Value::Array(entries) => entries.as_slice(),
        single => std::slice::from_ref(single),
    };
    entries
        .iter()
        .map(|entry| {
            let (name, order) = match entry {
                Value::String(name) => (name.as_str(), None),
                other => {
                    let (name, spec) = single_entry("sort entry", other)?;
                    let order = match spec {
                        Value::String(o) => Some(o.as_str()),
                        Value::Object(m) => {
                            check_keys("sort", m, &["order", "unmapped_type"])?;
                            m.get("order").and_then(Value::as_str)
                        }
                        _ => return Err(Reject::violation(format!("sort [{name}]: {spec}"))),
                    };
                    (name, order)
                }
            };
            let desc = match order {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(o) => return Err(Reject::violation(format!("sort order [{o}]"))),
            };
            let key = if name == "_shard_doc" {
                SortKey::ShardDoc
            } else {
                let field = Field::parse(name)?;
                if field.kind() == Kind::Text {
                    return Err(Reject::violation(format!(
                        "sort on text field [{name}] (fielddata is disabled)"
                    )));
                }
                SortKey::Field(field)
            };
            Ok(SortSpec { key, desc })
        })
        .collect()
}

/// A sort value; numbers for dates (epoch ms), longs and `_shard_doc`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum SortValue {
    Number(i64),
    Text(String),
    /// A keyword missing from the document: `null`, sorted last either way.
    Missing,
}

impl SortValue {
    fn of(spec: SortSpec, keys: &Keys, shard_doc: i64) -> SortValue {
        match spec.key {
            SortKey::ShardDoc => SortValue::Number(shard_doc),
            SortKey::Field(field) if field.kind() == Kind::Keyword => field
                .keyword(keys)
                .map_or(SortValue::Missing, |s| SortValue::Text(s.to_owned())),
            // Missing numbers sort last: Elasticsearch substitutes the extreme value.
            SortKey::Field(field) => {
                SortValue::Number(field.number(keys).unwrap_or(if spec.desc {
                    i64::MIN
                } else {
                    i64::MAX
                }))
            }
        }
    }

    fn from_json(spec: SortSpec, value: &Value) -> Result<SortValue, Reject> {
        let bad = || Reject::violation(format!("search_after value {value} does not fit the sort"));
        match (spec.key, value) {
            (_, Value::Null) => Ok(SortValue::Missing),
            (SortKey::ShardDoc, v) => v.as_i64().map(SortValue::Number).ok_or_else(bad),
            (SortKey::Field(f), v) if f.kind() == Kind::Keyword => v
                .as_str()
                .map(|s| SortValue::Text(s.to_owned()))
                .ok_or_else(bad),
            (SortKey::Field(f), v) => f.number_from(v).map(SortValue::Number).ok_or_else(bad),
        }
    }

    fn cmp(&self, other: &SortValue, desc: bool) -> Ordering {
        let ordering = match (self, other) {
            (SortValue::Missing, SortValue::Missing) => return Ordering::Equal,
            (SortValue::Missing, _) => return Ordering::Greater,
            (_, SortValue::Missing) => return Ordering::Less,
            (SortValue::Number(a), SortValue::Number(b)) => a.cmp(b),
            (SortValue::Text(a), SortValue::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (SortValue::Number(_), SortValue::Text(_)) => Ordering::Less,
            (SortValue::Text(_), SortValue::Number(_)) => Ordering::Greater,
        };
        if desc { ordering.reverse() } else { ordering }
    }

    fn write(&self, out: &mut String) {
        match self {
            SortValue::Number(n) => write!(out, "{n}").expect("write to String"),
            SortValue::Text(s) => out.push_str(&Value::from(s.as_str()).to_string()),
            SortValue::Missing => out.push_str("null"),
        }
    }
}

fn cmp_keys(specs: &[SortSpec], a: &[SortValue], b: &[SortValue]) -> Ordering {
    specs
        .iter()
        .zip(a.iter().zip(b))
        .map(|(spec, (x, y))| x.cmp(y, spec.desc))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

enum SourceFilter {
    All,
    None,
    Fields(Vec<String>),
}

fn parse_source(value: &Value) -> Result<SourceFilter, Reject> {
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
    fn apply(&self, raw: &str) -> Option<String> {
        match self {
            SourceFilter::All => Some(raw.to_owned()),
            SourceFilter::None => None,
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

/// Deserializes only the wanted top-level keys of an object, skipping the rest unparsed.
struct TopLevelFilter<'a>(&'a [String]);

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

struct Collapse {
    field: Field,
    inner_name: String,
    inner_size: usize,
    inner_source: SourceFilter,
}

struct PitRef {
    id: String,
}

struct Search {
    size: usize,
    /// `None`: `track_total_hits: false`; otherwise the count up to which totals are exact.
    track_total: Option<u64>,
    source: SourceFilter,
    query: Query,
    collapse: Option<Collapse>,
    sort: Vec<SortSpec>,
    pit: Option<PitRef>,
    search_after: Option<Vec<Value>>,
}

fn parse_search(body: &Map<String, Value>) -> Result<Search, Reject> {
    check_keys(
        "search body",
        body,
        &[
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
    if size > MAX_RESULT_WINDOW {
        return Err(Reject::es(
            400,
            "illegal_argument_exception",
            &format!(
                "Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] but was [{size}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting."
            ),
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
    Ok(Search {
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

fn parse_collapse(value: &Value) -> Result<Collapse, Reject> {
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

/// A page of results, ready to render.
struct Page {
    hits: String,
    total: Option<(u64, u64)>,
}

impl Page {
    fn render(&self, pit_id: Option<&str>, shards: usize) -> String {
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
fn write_hit(
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

fn run_search(
    indices: &[(String, Arc<Index>)],
    search: &Search,
    tiebreak: bool,
) -> Result<Page, Reject> {
    match &search.collapse {
        Some(collapse) => collapse_search(indices, search, collapse, tiebreak),
        None => plain_search(indices, search, tiebreak),
    }
}

fn count_matches(indices: &[(String, Arc<Index>)], query: &Query) -> u64 {
    indices
        .iter()
        .flat_map(|(_, index)| index.docs.iter())
        .filter(|(id, doc)| query.matches(id, &doc.keys))
        .count() as u64
}

fn plain_search(
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

/// Latest documents per node: groups in node name order after `search_after`, each with
/// its matching documents newest first, from the per-node maps.
fn collapse_search(
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
