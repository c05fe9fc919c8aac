//! Rollover aliases and index lifecycle policies: `PUT /<index>` (creating an index with
//! its aliases), `GET /_alias/<name>`, `GET`/`PUT /_ilm/policy/<name>`, and the rollover
//! that Elasticsearch's lifecycle runs by itself (here a test calls [`super::FakeEs::rollover`]).
//!
//! Policies are checked as Elasticsearch 7.17–8.x checks them: the phases and the actions
//! each phase allows, rollover conditions (at least one `max_*`), time values, and phases
//! whose `min_age` never goes back in time. Index settings from templates are checked for
//! the few this project sets.

use serde_json::{Map, Value, json};

use super::request::{Req, check_expression, check_keys};
use super::server::{Handled, Reject, Reply};
use super::state::State;

/// The actions each phase allows (Elasticsearch's `TimeseriesLifecycleType`).
const PHASES: [(&str, &[&str]); 5] = [
    (
        "hot",
        &[
            "set_priority",
            "unfollow",
            "rollover",
            "readonly",
            "downsample",
            "shrink",
            "forcemerge",
            "searchable_snapshot",
        ],
    ),
    (
        "warm",
        &[
            "set_priority",
            "unfollow",
            "readonly",
            "downsample",
            "allocate",
            "migrate",
            "shrink",
            "forcemerge",
        ],
    ),
    (
        "cold",
        &[
            "set_priority",
            "unfollow",
            "readonly",
            "downsample",
            "searchable_snapshot",
            "allocate",
            "migrate",
            "freeze",
        ],
    ),
    ("frozen", &["unfollow", "searchable_snapshot"]),
    ("delete", &["wait_for_snapshot", "delete"]),
];

const ROLLOVER_CONDITIONS: [&str; 10] = [
    "max_age",
    "max_docs",
    "max_size",
    "max_primary_shard_size",
    "max_primary_shard_docs",
    "min_age",
    "min_docs",
    "min_size",
    "min_primary_shard_size",
    "min_primary_shard_docs",
];

/// The index settings this fake understands, by their flat name.
const KNOWN_SETTINGS: [&str; 3] = [
    "index.codec",
    "index.lifecycle.name",
    "index.lifecycle.rollover_alias",
];

/// Milliseconds of an Elasticsearch time value (`0ms`, `7d`, `36h`), or why not.
pub(super) fn time_value_ms(s: &str) -> Result<u64, String> {
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("failed to parse setting [min_age] with value [{s}] as a time value: unit is missing or unrecognized"))?;
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("failed to parse [{s}] as a time value"))?;
    let per = match unit {
        "nanos" | "micros" => return Ok(0),
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "failed to parse [{s}] as a time value: unit is missing or unrecognized"
            ));
        }
    };
    Ok(n * per)
}

/// A byte size value (`50gb`, `10mb`).
fn check_byte_size(key: &str, s: &str) -> Result<(), String> {
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("failed to parse setting [{key}] with value [{s}] as a size in bytes: unit is missing or unrecognized"))?;
    let unit = s[split..].to_ascii_lowercase();
    if matches!(unit.as_str(), "b" | "kb" | "mb" | "gb" | "tb" | "pb") && split > 0 {
        Ok(())
    } else {
        Err(format!(
            "failed to parse setting [{key}] with value [{s}] as a size in bytes"
        ))
    }
}

/// Checks a policy body `{"policy": {"phases": {...}, "_meta": {...}}}`.
pub(super) fn check_policy(body: &Map<String, Value>) -> Result<(), Reject> {
    check_keys("ilm policy request", body, &["policy"])?;
    let policy = body
        .get("policy")
        .and_then(Value::as_object)
        .ok_or_else(|| Reject::violation("[put_lifecycle_request] policy is missing"))?;
    check_keys("policy", policy, &["phases", "_meta"])?;
    let phases = policy
        .get("phases")
        .and_then(Value::as_object)
        .ok_or_else(|| Reject::violation("[lifecycle_policy] phases is missing"))?;
    let mut last_min_age = 0u64;
    for (phase_name, allowed) in PHASES {
        let Some(phase) = phases.get(phase_name) else {
            continue;
        };
        let phase = phase
            .as_object()
            .ok_or_else(|| Reject::violation(format!("phase [{phase_name}] is not an object")))?;
        check_keys(
            &format!("phase [{phase_name}]"),
            phase,
            &["min_age", "actions"],
        )?;
        let min_age = match phase.get("min_age") {
            None => 0,
            Some(Value::String(s)) => time_value_ms(s).map_err(Reject::violation)?,
            Some(other) => {
                return Err(Reject::violation(format!(
                    "phase [{phase_name}] min_age {other} is not a time value string"
                )));
            }
        };
        if min_age < last_min_age {
            return Err(Reject::violation(format!(
                "Your policy is configured to run the {phase_name} phase (min_age: {min_age}ms) before an earlier phase (min_age: {last_min_age}ms)"
            )));
        }
        last_min_age = min_age;
        let actions = phase
            .get("actions")
            .and_then(Value::as_object)
            .ok_or_else(|| Reject::violation(format!("phase [{phase_name}] has no actions")))?;
        for (action, config) in actions {
            if !allowed.contains(&action.as_str()) {
                return Err(Reject::violation(format!(
                    "invalid action [{action}] defined in phase [{phase_name}]"
                )));
            }
            let config = config
                .as_object()
                .ok_or_else(|| Reject::violation(format!("action [{action}] is not an object")))?;
            match action.as_str() {
                "rollover" => check_rollover(config)?,
                "delete" => check_keys("delete", config, &["delete_searchable_snapshot"])?,
                _ => {}
            }
        }
    }
    if let Some(unknown) = phases.keys().find(|k| !PHASES.iter().any(|(p, _)| p == k)) {
        return Err(Reject::violation(format!(
            "Timeseries lifecycle does not support phase [{unknown}]"
        )));
    }
    Ok(())
}

fn check_rollover(config: &Map<String, Value>) -> Result<(), Reject> {
    check_keys("rollover", config, &ROLLOVER_CONDITIONS)?;
    if !config.keys().any(|k| k.starts_with("max_")) {
        return Err(Reject::violation(
            "at least one max_* rollover condition must be set when using min_* conditions",
        ));
    }
    for (key, value) in config {
        let text = value.as_str();
        let ok = match key.as_str() {
            "max_age" | "min_age" => text.is_some_and(|s| time_value_ms(s).is_ok()),
            k if k.ends_with("_size") => text.is_some_and(|s| check_byte_size(k, s).is_ok()),
            _ => value.as_u64().is_some(),
        };
        if !ok {
            return Err(Reject::violation(format!(
                "rollover condition [{key}] has an invalid value {value}"
            )));
        }
    }
    Ok(())
}

/// The settings of a template or index creation body, flattened (`index.codec`), checked.
pub(super) fn flat_settings(settings: &Value) -> Result<Map<String, Value>, Reject> {
    let mut flat = Map::new();
    flatten("", settings, &mut flat)?;
    for (key, value) in &flat {
        if !KNOWN_SETTINGS.contains(&key.as_str()) {
            return Err(Reject::violation(format!(
                "unknown setting [{key}] (not one the protocol sets)"
            )));
        }
        let Some(text) = value.as_str() else {
            return Err(Reject::violation(format!(
                "setting [{key}] must be a string, not {value}"
            )));
        };
        if key == "index.codec" && !matches!(text, "default" | "best_compression") {
            return Err(Reject::violation(format!(
                "unknown value for [index.codec] must be one of [default, best_compression] but was: {text}"
            )));
        }
    }
    Ok(flat)
}

fn flatten(prefix: &str, value: &Value, out: &mut Map<String, Value>) -> Result<(), Reject> {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out)?;
            }
            Ok(())
        }
        other => {
            // Elasticsearch accepts `codec` inside `index` and `index.codec` alike.
            let key = if prefix.starts_with("index.") {
                prefix.to_owned()
            } else {
                format!("index.{prefix}")
            };
            out.insert(key, other.clone());
            Ok(())
        }
    }
}

impl State {
    pub(super) fn put_policy(&mut self, req: &Req, name: &str) -> Handled {
        req.allow_params(&[])?;
        check_expression(name)?;
        let body = req.json_body()?;
        check_policy(&body)?;
        let policy = body["policy"].clone();
        let version = self.policies.get(name).map_or(1, |(v, _)| v + 1);
        self.policies.insert(name.to_owned(), (version, policy));
        Ok(Reply::json(200, &json!({"acknowledged": true})))
    }

    pub(super) fn get_policy(&mut self, req: &Req, name: &str) -> Handled {
        req.allow_params(&[])?;
        req.no_body()?;
        match self.policies.get(name) {
            None => Err(Reject::es(
                404,
                "resource_not_found_exception",
                &format!("Lifecycle policy not found: {name}"),
            )),
            Some((version, policy)) => Ok(Reply::json(
                200,
                &json!({ name: {
                    "version": version,
                    "modified_date": "2026-01-01T00:00:00.000Z",
                    "policy": policy,
                    "in_use_by": {"indices": [], "data_streams": [], "composable_templates": []},
                }}),
            )),
        }
    }

    /// `PUT /<index>` with `{"aliases": {..}, "settings"?: {..}}`.
    pub(super) fn create_index_request(&mut self, req: &Req, name: &str) -> Handled {
        req.allow_params(&[])?;
        check_expression(name)?;
        let body = req.json_body()?;
        check_keys("create index", &body, &["aliases", "settings", "mappings"])?;
        if self.indices.contains_key(name) {
            return Err(Reject::es(
                400,
                "resource_already_exists_exception",
                &format!("index [{name}/_na_] already exists"),
            ));
        }
        if self.aliases.contains_key(name) {
            return Err(Reject::es(
                400,
                "invalid_index_name_exception",
                &format!("Invalid index name [{name}], already exists as alias"),
            ));
        }
        let mut aliases = Vec::new();
        if let Some(given) = body.get("aliases") {
            let given = given
                .as_object()
                .ok_or_else(|| Reject::violation("[aliases] is not an object"))?;
            for (alias, config) in given {
                let config = config.as_object().ok_or_else(|| {
                    Reject::violation(format!("alias [{alias}] is not an object"))
                })?;
                check_keys(&format!("alias [{alias}]"), config, &["is_write_index"])?;
                if self.indices.contains_key(alias) {
                    return Err(Reject::es(
                        400,
                        "invalid_alias_name_exception",
                        &format!(
                            "Invalid alias name [{alias}]: an index or data stream exists with the same name as the alias"
                        ),
                    ));
                }
                let write = config
                    .get("is_write_index")
                    .map(|v| {
                        v.as_bool()
                            .ok_or_else(|| Reject::violation("is_write_index is not a boolean"))
                    })
                    .transpose()?
                    .unwrap_or(false);
                if write && self.write_aliases.contains_key(alias) {
                    return Err(Reject::es(
                        400,
                        "illegal_state_exception",
                        &format!("alias [{alias}] has more than one write index"),
                    ));
                }
                aliases.push((alias.clone(), write));
            }
        }
        let explicit = body
            .get("settings")
            .map(flat_settings)
            .transpose()?
            .unwrap_or_default();
        self.index_mut(name);
        if !explicit.is_empty() {
            let index = std::sync::Arc::make_mut(self.indices.get_mut(name).expect("created"));
            index.settings.extend(explicit);
        }
        for (alias, write) in aliases {
            self.aliases
                .entry(alias.clone())
                .or_default()
                .insert(name.to_owned());
            if write {
                self.write_aliases.insert(alias, name.to_owned());
            }
        }
        Ok(Reply::json(
            200,
            &json!({"acknowledged": true, "shards_acknowledged": true, "index": name}),
        ))
    }

    /// `GET /_alias/<name>`: the indices behind an alias, or a 404.
    pub(super) fn get_alias(&mut self, req: &Req, name: &str) -> Handled {
        req.allow_params(&[])?;
        req.no_body()?;
        let Some(members) = self.aliases.get(name) else {
            return Ok(Reply::json(
                404,
                &json!({"error": format!("alias [{name}] missing"), "status": 404}),
            ));
        };
        let mut out = Map::new();
        for index in members {
            let mut config = Map::new();
            if let Some(write) = self.write_aliases.get(name) {
                config.insert("is_write_index".into(), json!(write == index));
            }
            out.insert(
                index.clone(),
                json!({"aliases": { name: Value::Object(config) }}),
            );
        }
        Ok(Reply::json(200, &Value::Object(out)))
    }

    /// What Elasticsearch's lifecycle does at a rollover: a new index named after the
    /// write index with its number increased, which becomes the alias's write index.
    /// Refused, as by Elasticsearch, when the write index lacks the
    /// `index.lifecycle.rollover_alias` setting naming this alias.
    pub(super) fn rollover(&mut self, alias: &str) -> Result<String, String> {
        let current = self
            .write_aliases
            .get(alias)
            .cloned()
            .ok_or_else(|| format!("alias [{alias}] has no write index"))?;
        let setting = self.indices[&current]
            .settings
            .get("index.lifecycle.rollover_alias")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if setting.as_deref() != Some(alias) {
            return Err(format!(
                "setting [index.lifecycle.rollover_alias] for index [{current}] is {setting:?}, not [{alias}]"
            ));
        }
        let (stem, number) = current
            .rsplit_once('-')
            .and_then(|(stem, n)| Some((stem, n.parse::<u64>().ok()?)))
            .ok_or_else(|| format!("index name [{current}] does not match pattern '^.*-\\d+$'"))?;
        let next = format!("{stem}-{:06}", number + 1);
        self.index_mut(&next);
        self.aliases
            .entry(alias.to_owned())
            .or_default()
            .insert(next.clone());
        self.write_aliases.insert(alias.to_owned(), next.clone());
        Ok(next)
    }

    /// Deletes an index as the lifecycle's delete phase does.
    pub(super) fn delete_index(&mut self, name: &str) -> bool {
        let existed = self.indices.remove(name).is_some();
        for members in self.aliases.values_mut() {
            members.remove(name);
        }
        self.aliases.retain(|_, m| !m.is_empty());
        self.write_aliases.retain(|_, i| i != name);
        existed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(v: Value) -> Result<(), Reject> {
        check_policy(v.as_object().unwrap())
    }

    #[test]
    fn a_rollover_and_delete_policy_is_accepted() {
        policy(json!({"policy": {"phases": {
            "hot": {"min_age": "0ms", "actions": {"rollover": {"max_age": "7d", "max_primary_shard_size": "50gb"}}},
            "delete": {"min_age": "91d", "actions": {"delete": {}}}},
            "_meta": {"managed_by": "x"}}}))
        .unwrap();
    }

    #[test]
    fn policies_elasticsearch_refuses_are_refused() {
        for bad in [
            json!({"policy": {"phases": {"hot": {"actions": {"delete": {}}}}}}),
            json!({"policy": {"phases": {"hot": {"actions": {"rollover": {"min_docs": 1}}}}}}),
            json!({"policy": {"phases": {"hot": {"actions": {"rollover": {"max_age": "7 days"}}}}}}),
            json!({"policy": {"phases": {"hot": {"actions": {"rollover": {"max_size": "lots"}}}}}}),
            json!({"policy": {"phases": {"hot": {"min_age": "2d", "actions": {}},
                                         "delete": {"min_age": "1d", "actions": {"delete": {}}}}}}),
            json!({"policy": {"phases": {"later": {"actions": {}}}}}),
            json!({"phases": {}}),
        ] {
            assert!(policy(bad.clone()).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn time_values_have_units() {
        assert_eq!(time_value_ms("0ms"), Ok(0));
        assert_eq!(time_value_ms("91d"), Ok(91 * 86_400_000));
        assert!(time_value_ms("91").is_err());
        assert!(time_value_ms("d").is_err());
    }

    #[test]
    fn settings_are_flattened_and_checked() {
        let flat = flat_settings(&json!({"index": {"codec": "best_compression",
            "lifecycle": {"name": "p", "rollover_alias": "a."}}}))
        .unwrap();
        assert_eq!(flat["index.codec"], "best_compression");
        assert_eq!(flat["index.lifecycle.rollover_alias"], "a.");
        assert!(flat_settings(&json!({"index.codec": "zstd9"})).is_err());
        assert!(flat_settings(&json!({"index.number_of_shards": "1"})).is_err());
    }
}
