//! Index names: what a list of names, aliases and `*` patterns reads, where a write goes,
//! and `GET /_resolve/index`.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::request::{Req, check_expression};
use super::server::{Handled, Reject, Reply};
use super::state::{Index, State};

impl State {
    /// The concrete indices a comma-separated list of names, aliases and `*` patterns
    /// reads, sorted. A missing concrete name is a 404 unless `ignore_unavailable`.
    pub(super) fn expand(
        &self,
        patterns: &str,
        ignore_unavailable: bool,
    ) -> Result<Vec<String>, Reject> {
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
    pub(super) fn write_index(&self, name: &str) -> Result<String, Reject> {
        check_expression(name)?;
        if name.contains('*') || name.starts_with(['-', '+', '.']) || name.to_lowercase() != name {
            return Err(Reject::violation(format!(
                "invalid index name [{name}] for a write"
            )));
        }
        if let Some(write) = self.write_aliases.get(name) {
            return Ok(write.clone());
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

    pub(super) fn snapshot(&self, names: &[String]) -> Vec<(String, Arc<Index>)> {
        names
            .iter()
            .filter_map(|n| self.indices.get(n).map(|i| (n.clone(), Arc::clone(i))))
            .collect()
    }

    pub(super) fn resolve_index(&mut self, req: &Req, pattern: &str) -> Handled {
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
}

/// `*` matches any run of characters; everything else matches itself.
pub(super) fn glob_match(pattern: &str, name: &str) -> bool {
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
