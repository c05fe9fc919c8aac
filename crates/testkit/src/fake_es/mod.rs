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
//! The code under test may start its own tokio runtime (the blocking store does), which
//! must not be nested inside another; so the server runs on a runtime of its own in a
//! background thread and the handle is a plain synchronous API.
//!
//! One file per concern: [`server`] (authentication, injected failures, routing, the
//! request log), [`request`] (what a request may hold), [`state`] (indices and documents),
//! [`indices`] (names, aliases, patterns), [`writes`], [`pit`], [`search`], [`collapse`],
//! [`query`], [`sort`] and [`templates`].

mod collapse;
mod indices;
mod lifecycle;
mod pit;
mod query;
mod request;
mod search;
mod server;
mod sort;
mod state;
mod templates;
mod writes;

use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer};

use server::Responder;
use state::{InjectedAction, Injection, ItemFailure, Keys, State};

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

    /// The documents of an index, or of every index behind an alias or `*` pattern, by
    /// `_id` (in index order); empty when nothing matches.
    pub fn documents(&self, name: &str) -> Vec<(String, Value)> {
        let state = self.state();
        let names = state.expand(name, true).unwrap_or_default();
        names
            .iter()
            .filter_map(|n| state.indices.get(n))
            .flat_map(|idx| idx.docs.iter())
            .map(|(id, doc)| {
                let value = serde_json::from_str(&doc.source).expect("stored JSON");
                (id.clone(), value)
            })
            .collect()
    }

    /// One document, parsed, from an index or the indices behind an alias.
    pub fn document(&self, name: &str, id: &str) -> Option<Value> {
        let state = self.state();
        let names = state.expand(name, true).unwrap_or_default();
        let doc = names
            .iter()
            .filter_map(|n| state.indices.get(n)?.docs.get(id))
            .next()?;
        Some(serde_json::from_str(&doc.source).expect("stored JSON"))
    }

    /// How many documents an index, alias or pattern holds (0 when nothing matches).
    pub fn count(&self, name: &str) -> usize {
        let state = self.state();
        let names = state.expand(name, true).unwrap_or_default();
        names
            .iter()
            .filter_map(|n| state.indices.get(n))
            .map(|i| i.docs.len())
            .sum()
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

    /// Rolls the alias over to a new write index, as the lifecycle's rollover action does,
    /// and returns the new index's name; panics when Elasticsearch would refuse (no write
    /// index, or its `index.lifecycle.rollover_alias` does not name `alias`).
    pub fn rollover(&self, alias: &str) -> String {
        self.state()
            .rollover(alias)
            .unwrap_or_else(|e| panic!("fake ES rollover of {alias}: {e}"))
    }

    /// Deletes an index, as the lifecycle's delete phase does; false when it did not exist.
    pub fn delete_index(&self, index: &str) -> bool {
        self.state().delete_index(index)
    }

    /// The write index of an alias, if it names one.
    pub fn write_index_of(&self, alias: &str) -> Option<String> {
        self.state().write_aliases.get(alias).cloned()
    }

    /// The indices behind an alias, sorted (empty when there is no such alias).
    pub fn alias_members(&self, alias: &str) -> Vec<String> {
        self.state()
            .aliases
            .get(alias)
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// An index's flat settings (`index.codec`, `index.lifecycle.name`), as its template
    /// and creation request gave them.
    pub fn index_settings(&self, index: &str) -> Option<serde_json::Map<String, Value>> {
        Some(self.state().indices.get(index)?.settings.clone())
    }

    /// A stored lifecycle policy (the `policy` object), as `PUT /_ilm/policy/<name>` gave it.
    pub fn ilm_policy(&self, name: &str) -> Option<Value> {
        self.state().policies.get(name).map(|(_, p)| p.clone())
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
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
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
