//! A request as the handlers see it, and the checks that refuse what the protocol never
//! sends: unknown or repeated parameters, unexpected bodies, content types, keys, index
//! expressions and time values.

use std::collections::BTreeSet;

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};
use wiremock::Request;

use super::server::Reject;

/// The parts of a request the handlers look at.
pub(super) struct Req<'a> {
    pub(super) method: &'a str,
    pub(super) path: &'a str,
    pub(super) query: Option<&'a str>,
    pub(super) segments: Vec<String>,
    pub(super) params: Vec<(String, String)>,
    pub(super) content_type: Option<String>,
    pub(super) content_encoding: Option<String>,
    pub(super) authorization: Option<&'a str>,
    pub(super) body: &'a [u8],
}

impl<'a> Req<'a> {
    pub(super) fn new(request: &'a Request) -> Req<'a> {
        let path = request.url.path();
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        Req {
            method: request.method.as_str(),
            path,
            query: request.url.query(),
            segments: path
                .trim_start_matches('/')
                .split('/')
                .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
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
    pub(super) fn uri(&self) -> String {
        match self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.to_owned(),
        }
    }

    /// Refuses parameters outside `allowed` and repeated ones.
    pub(super) fn allow_params(&self, allowed: &[&str]) -> Result<(), Reject> {
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

    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn bool_param(&self, name: &str) -> Result<bool, Reject> {
        match self.param(name) {
            None | Some("false") => Ok(false),
            Some("true") | Some("") => Ok(true),
            Some(other) => Err(Reject::violation(format!(
                "Failed to parse value [{other}] as only [true] or [false] are allowed (parameter [{name}])"
            ))),
        }
    }

    pub(super) fn check_refresh(&self) -> Result<(), Reject> {
        match self.param("refresh") {
            None | Some("true" | "false" | "wait_for" | "") => Ok(()),
            Some(other) => Err(Reject::violation(format!(
                "Unknown value for refresh: [{other}]."
            ))),
        }
    }

    pub(super) fn no_body(&self) -> Result<(), Reject> {
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
    pub(super) fn json_body(&self) -> Result<Map<String, Value>, Reject> {
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

/// Refuses index expressions the fake does not implement (exclusions, `_all`, empty).
pub(super) fn check_expression(expression: &str) -> Result<(), Reject> {
    if expression.is_empty() || expression.starts_with(['-', '_']) || expression.contains(' ') {
        return Err(Reject::violation(format!(
            "unsupported index expression [{expression}]"
        )));
    }
    Ok(())
}

/// Refuses unknown keys of a request object.
pub(super) fn check_keys(
    what: &str,
    object: &Map<String, Value>,
    allowed: &[&str],
) -> Result<(), Reject> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(Reject::violation(format!("{what}: unknown key [{key}]"))),
        None => Ok(()),
    }
}

/// Accepts Elasticsearch time values such as `5m`, `30s`, `1h`.
pub(super) fn check_time_value(name: &str, value: &str) -> Result<(), Reject> {
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

/// `{"<only key>": value}`, or a violation naming `what`.
pub(super) fn single_entry<'v>(
    what: &str,
    value: &'v Value,
) -> Result<(&'v str, &'v Value), Reject> {
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
