//! Serving: every request is authenticated, matched against injected failures, routed to
//! its endpoint and recorded with the size of its answer.
//!
//! Errors come in two kinds ([`Reject`]): what a real cluster would answer to a valid
//! request, and requests outside `docs/elasticsearch.md`, which are also recorded as
//! violations for the test to fail on.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::request::Req;
use super::state::{InjectedAction, State};
use super::{LOGGED_BODY_LIMIT, Recorded, es_error};

pub(super) struct Responder {
    pub(super) state: Arc<Mutex<State>>,
}

/// An answer before it becomes a `ResponseTemplate`.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: Vec<u8>,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) delay: Option<Duration>,
}

impl Reply {
    pub(super) fn json(status: u16, body: &Value) -> Reply {
        Reply::raw(status, body.to_string())
    }

    pub(super) fn raw(status: u16, body: String) -> Reply {
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
#[derive(Debug)]
pub(super) struct Reject {
    pub(super) status: u16,
    pub(super) body: Value,
    pub(super) violation: Option<String>,
}

impl Reject {
    /// Outside the documented protocol: 400, and recorded.
    pub(super) fn violation(what: impl Into<String>) -> Reject {
        let what = what.into();
        let reason = format!("[fake-es protocol violation] {what}");
        Reject {
            status: 400,
            body: es_error(400, "illegal_argument_exception", &reason),
            violation: Some(what),
        }
    }

    /// An error a real cluster would answer to a valid request.
    pub(super) fn es(status: u16, error_type: &str, reason: &str) -> Reject {
        Reject {
            status,
            body: es_error(status, error_type, reason),
            violation: None,
        }
    }

    pub(super) fn index_not_found(name: &str) -> Reject {
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
    pub(super) fn search_context_missing(id: &str) -> Reject {
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

pub(super) type Handled = Result<Reply, Reject>;

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

impl State {
    pub(super) fn serve(&mut self, req: &Req) -> Handled {
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
    pub(super) fn check_auth(&self, req: &Req) -> Option<Reply> {
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
                let user = base64::engine::general_purpose::STANDARD
                    .decode(&basic["Basic ".len()..])
                    .ok()
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

    pub(super) fn route(&mut self, req: &Req) -> Handled {
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
            ("DELETE", [index, "_doc", id]) => self.delete_doc(req, index, id),
            ("GET", [index, "_doc", id]) => self.get_doc(req, index, id),
            ("POST", [index, "_delete_by_query"]) => self.delete_by_query(req, index),
            ("GET", ["_index_template", name]) => self.get_template(req, name),
            ("PUT", ["_index_template", name]) => self.put_template(req, name),
            ("PUT", ["_ilm", "policy", name]) => self.put_policy(req, name),
            ("GET", ["_ilm", "policy", name]) => self.get_policy(req, name),
            ("GET", ["_alias", name]) => self.get_alias(req, name),
            ("PUT", [index]) if !index.starts_with('_') => self.create_index_request(req, index),
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
}
