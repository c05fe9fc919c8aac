//! Index templates and mappings: `GET`/`PUT /_index_template/<name>`, the mapping a new
//! index takes from the best matching template, and `GET /<patterns>/_mapping/field/..`.

use serde_json::{Map, Value, json};

use super::indices::glob_match;
use super::request::{Req, check_expression, check_keys};
use super::server::{Handled, Reject, Reply};
use super::state::State;

impl State {
    /// The mappings a new index named `index` takes: those of the highest-priority
    /// template whose patterns match it.
    pub(super) fn template_mapping(&self, index: &str) -> Option<Value> {
        self.best_template(index)
            .and_then(|t| t.pointer("/template/mappings").cloned())
    }

    /// The flat settings a new index named `index` takes from its template.
    pub(super) fn template_settings(&self, index: &str) -> serde_json::Map<String, Value> {
        self.best_template(index)
            .and_then(|t| t.pointer("/template/settings"))
            .and_then(|s| super::lifecycle::flat_settings(s).ok())
            .unwrap_or_default()
    }

    /// The highest-priority template whose patterns match `index`.
    fn best_template(&self, index: &str) -> Option<&Value> {
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
    }

    pub(super) fn get_template(&mut self, req: &Req, name: &str) -> Handled {
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

    pub(super) fn put_template(&mut self, req: &Req, name: &str) -> Handled {
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
            if let Some(settings) = template.get("settings") {
                super::lifecycle::flat_settings(settings)?;
            }
        }
        check_expression(name)?;
        self.templates.insert(name.to_owned(), Value::Object(body));
        Ok(Reply::json(200, &json!({"acknowledged": true})))
    }

    pub(super) fn field_mapping(&mut self, req: &Req, patterns: &str, fields: &str) -> Handled {
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

/// (full dotted name, last name, definition) of every non-object field, multi-fields
/// included.
pub(super) fn flatten_fields(
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
