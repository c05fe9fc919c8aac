//! The queries of the protocol, parsed strictly and evaluated on a document's keys.
//!
//! The fake knows the mapped type of each field the protocol queries ([`Field`]); a query
//! on any other field, or of a kind the protocol does not send, is a violation.

use serde_json::Value;

use super::request::{check_keys, single_entry};
use super::server::Reject;
use super::state::{Keys, date_value, keyword_value, long_value};

/// The fields the protocol queries, with their mapped types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Field {
    NodeName,
    Timestamp,
    Error,
    ReportId,
    Generation,
    Part,
    EndTime,
    /// A report's `id` in its source (not `_id`).
    Id,
    ReportName,
    ReportTypeName,
    StartTime,
    GenerationTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Keyword,
    Date,
    Long,
    Text,
}

impl Field {
    pub(super) fn parse(name: &str) -> Result<Field, Reject> {
        Ok(match name {
            "node_name" => Field::NodeName,
            "timestamp" => Field::Timestamp,
            "error" => Field::Error,
            "reportId" => Field::ReportId,
            "generation" => Field::Generation,
            "part" => Field::Part,
            "endTime" => Field::EndTime,
            "id" => Field::Id,
            "reportName" => Field::ReportName,
            "reportTypeName" => Field::ReportTypeName,
            "startTime" => Field::StartTime,
            "generationTime" => Field::GenerationTime,
            other => {
                return Err(Reject::violation(format!(
                    "field [{other}] is not one the protocol queries"
                )));
            }
        })
    }

    pub(super) fn kind(self) -> Kind {
        match self {
            Field::NodeName
            | Field::ReportId
            | Field::Generation
            | Field::Id
            | Field::ReportName
            | Field::ReportTypeName => Kind::Keyword,
            Field::Timestamp | Field::EndTime | Field::StartTime | Field::GenerationTime => {
                Kind::Date
            }
            Field::Part => Kind::Long,
            Field::Error => Kind::Text,
        }
    }

    pub(super) fn keyword(self, keys: &Keys) -> Option<&str> {
        match self {
            Field::NodeName => keys.node_name.as_deref(),
            Field::ReportId => keys.report_id.as_deref(),
            Field::Generation => keys.generation.as_deref(),
            Field::Id => keys.id.as_deref(),
            Field::ReportName => keys.report_name.as_deref(),
            Field::ReportTypeName => keys.report_type_name.as_deref(),
            _ => None,
        }
    }

    pub(super) fn number(self, keys: &Keys) -> Option<i64> {
        match self {
            Field::Timestamp => keys.timestamp,
            Field::EndTime => keys.end_time,
            Field::Part => keys.part,
            Field::StartTime => keys.start_time,
            Field::GenerationTime => keys.generation_time,
            _ => None,
        }
    }

    /// A query or search_after value for this field, as Elasticsearch would read it.
    pub(super) fn number_from(self, value: &Value) -> Option<i64> {
        match self.kind() {
            Kind::Date => date_value(value),
            Kind::Long => long_value(value),
            _ => None,
        }
    }
}

pub(super) enum Query {
    MatchAll,
    Ids(Vec<String>),
    Bool {
        must: Vec<Query>,
        must_not: Vec<Query>,
        /// At least `minimum_should_match` of these must match.
        should: Vec<Query>,
        minimum_should_match: usize,
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
    /// `terms` on a keyword field: any of the values.
    Terms(Field, Vec<String>),
}

impl Query {
    pub(super) fn matches(&self, id: &str, keys: &Keys) -> bool {
        match self {
            Query::MatchAll => true,
            Query::Ids(ids) => ids.iter().any(|i| i == id),
            Query::Bool {
                must,
                must_not,
                should,
                minimum_should_match,
            } => {
                must.iter().all(|q| q.matches(id, keys))
                    && !must_not.iter().any(|q| q.matches(id, keys))
                    && should.iter().filter(|q| q.matches(id, keys)).count()
                        >= *minimum_should_match
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
            Query::Terms(field, values) => field
                .keyword(keys)
                .is_some_and(|v| values.iter().any(|x| x == v)),
        }
    }
}

pub(super) fn parse_query(value: &Value) -> Result<Query, Reject> {
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
            check_keys(
                "[bool]",
                map,
                &[
                    "filter",
                    "must",
                    "must_not",
                    "should",
                    "minimum_should_match",
                ],
            )?;
            let clauses = |key: &str| -> Result<Vec<Query>, Reject> {
                match map.get(key) {
                    None => Ok(Vec::new()),
                    Some(Value::Array(qs)) => qs.iter().map(parse_query).collect(),
                    Some(q) => Ok(vec![parse_query(q)?]),
                }
            };
            let mut must = clauses("must")?;
            must.extend(clauses("filter")?);
            let should = clauses("should")?;
            // Elasticsearch's default: one `should` must match when nothing else must.
            let minimum_should_match = match map.get("minimum_should_match") {
                None if !should.is_empty() && must.is_empty() => 1,
                None => 0,
                Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or(0) as usize,
                Some(Value::String(s)) if s.parse::<usize>().is_ok() => s.parse().unwrap_or(0),
                Some(other) => {
                    return Err(Reject::violation(format!(
                        "[bool] minimum_should_match {other}: the fake implements only counts"
                    )));
                }
            };
            Ok(Query::Bool {
                must,
                must_not: clauses("must_not")?,
                should,
                minimum_should_match,
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
        "terms" => {
            let (name, values) = single_entry("[terms]", body)?;
            let field = Field::parse(name)?;
            if field.kind() != Kind::Keyword {
                return Err(Reject::violation(format!(
                    "[terms] on field [{name}]: the protocol sends it on keywords only"
                )));
            }
            let values = values
                .as_array()
                .and_then(|vs| vs.iter().map(|v| v.as_str().map(str::to_owned)).collect())
                .ok_or_else(|| {
                    Reject::violation(format!("[terms] {name} needs an array of strings"))
                })?;
            Ok(Query::Terms(field, values))
        }
        other => Err(Reject::violation(format!(
            "query [{other}] is not part of the protocol"
        ))),
    }
}
