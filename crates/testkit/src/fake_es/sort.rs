//! Sorts: parsing `sort` clauses, the sort value of a document, and comparing them as
//! Elasticsearch does (missing values last, keywords by bytes).

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde_json::Value;

use super::query::{Field, Kind};
use super::request::{check_keys, single_entry};
use super::server::Reject;
use super::state::Keys;

#[derive(Clone, Copy, Debug)]
pub(super) enum SortKey {
    Field(Field),
    ShardDoc,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct SortSpec {
    pub(super) key: SortKey,
    pub(super) desc: bool,
}

pub(super) fn parse_sort(value: &Value) -> Result<Vec<SortSpec>, Reject> {
    let entries = match value {
        Value::Array(entries) => entries.as_slice(),
        single => std::slice::from_ref(single),
    };
    entries
        .iter()
        .map(|entry| {
            let (name, order, unmapped_type) = match entry {
                Value::String(name) => (name.as_str(), None, None),
                other => {
                    let (name, spec) = single_entry("sort entry", other)?;
                    match spec {
                        Value::String(o) => (name, Some(o.as_str()), None),
                        Value::Object(m) => {
                            check_keys("sort", m, &["order", "unmapped_type"])?;
                            let order = m.get("order").and_then(Value::as_str);
                            (name, order, m.get("unmapped_type"))
                        }
                        _ => return Err(Reject::violation(format!("sort [{name}]: {spec}"))),
                    }
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
            // What an index without the field sorts it as: it must be the type the
            // templates map the field to, or indices with and without it disagree.
            if let Some(unmapped) = unmapped_type {
                let expected = match key {
                    SortKey::Field(f) => match f.kind() {
                        Kind::Keyword => "keyword",
                        Kind::Date => "date",
                        Kind::Long => "long",
                        Kind::Text => "text",
                    },
                    SortKey::ShardDoc => "",
                };
                if unmapped.as_str() != Some(expected) {
                    return Err(Reject::violation(format!(
                        "sort [{name}]: unmapped_type {unmapped} is not its mapped type [{expected}]"
                    )));
                }
            }
            Ok(SortSpec { key, desc })
        })
        .collect()
}

/// A sort value; numbers for dates (epoch ms), longs and `_shard_doc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum SortValue {
    Number(i64),
    Text(String),
    /// A keyword missing from the document: `null`, sorted last either way.
    Missing,
}

impl SortValue {
    pub(super) fn of(spec: SortSpec, keys: &Keys, shard_doc: i64) -> SortValue {
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

    pub(super) fn from_json(spec: SortSpec, value: &Value) -> Result<SortValue, Reject> {
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

    pub(super) fn cmp(&self, other: &SortValue, desc: bool) -> Ordering {
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

    pub(super) fn write(&self, out: &mut String) {
        match self {
            SortValue::Number(n) => write!(out, "{n}").expect("write to String"),
            SortValue::Text(s) => out.push_str(&Value::from(s.as_str()).to_string()),
            SortValue::Missing => out.push_str("null"),
        }
    }
}

pub(super) fn cmp_keys(specs: &[SortSpec], a: &[SortValue], b: &[SortValue]) -> Ordering {
    specs
        .iter()
        .zip(a.iter().zip(b))
        .map(|(spec, (x, y))| x.cmp(y, spec.desc))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}
