//! Query strings into typed requests, refusing bad values by name (docs/spec.md §9).
//!
//! Parameters may repeat (`reportName=a&reportName=b`), so a query is read as its list
//! of pairs, in order. Unknown parameters are ignored, as Calico's server ignored them;
//! a known one with a bad value is a 400 that names it and quotes the value.

use chrono::{DateTime, Utc};

use compliance_store::{DEFAULT_MAX_ITEMS, ReportQuery, SortField, SortKey};

use crate::ApiError;

/// The most reports one page of the list may ask for.
pub const MAX_ITEMS_LIMIT: u64 = 10_000;

/// The pairs of a query string, decoded, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pairs(pub Vec<(String, String)>);

impl Pairs {
    /// Decodes `query` (the part after `?`; `None` when the URL has none).
    pub fn parse(query: Option<&str>) -> Pairs {
        Pairs(
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a parameter that may be given once; empty counts as absent.
    pub fn one<'a>(&'a self, name: &str) -> Result<Option<&'a str>, ApiError> {
        let mut values = self
            .0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if let Some(second) = values.next() {
            return Err(ApiError::bad(name, second, "may be given once"));
        }
        Ok(first)
    }

    /// A whole number of at most `max`, or `default` when absent.
    pub fn number(&self, name: &str, default: u64, max: u64) -> Result<u64, ApiError> {
        match self.one(name)? {
            None => Ok(default),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n <= max => Ok(n),
                Ok(_) => Err(ApiError::bad(name, v, format!("must be at most {max}"))),
                Err(_) => Err(ApiError::bad(name, v, "must be a whole number from 0")),
            },
        }
    }

    /// An RFC 3339 time (`2026-11-25T00:00:00Z`), or `None` when absent.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        match self.one(name)? {
            None => Ok(None),
            Some(v) => DateTime::parse_from_rfc3339(v)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|e| {
                    ApiError::bad(
                        name,
                        v,
                        format!("must be an RFC 3339 time like 2026-11-25T00:00:00Z ({e})"),
                    )
                }),
        }
    }
}

/// `GET /compliance/reports`: filters, order and page (docs/spec.md §9).
pub fn report_query(p: &Pairs) -> Result<ReportQuery, ApiError> {
    let names = |key: &str| -> Vec<String> {
        p.all(key)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    };
    let from = p.time("fromTime")?;
    let to = p.time("toTime")?;
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        return Err(ApiError::bad(
            "toTime",
            compliance_core::time::format(&t),
            "must not be before fromTime",
        ));
    }
    let mut sort = Vec::new();
    for v in p.all("sortBy").filter(|v| !v.is_empty()) {
        sort.push(sort_key(v)?);
    }
    let query = ReportQuery {
        report_names: names("reportName"),
        report_type_names: names("reportTypeName"),
        from,
        to,
        sort,
        page: p.number("page", 0, u64::MAX)?,
        max_items: p.number("maxItems", DEFAULT_MAX_ITEMS, MAX_ITEMS_LIMIT)?,
    };
    if query.offset().is_none() {
        return Err(ApiError::bad(
            "page",
            query.page.to_string(),
            "is beyond any list",
        ));
    }
    Ok(query)
}

/// `field`, `field/ascending` or `field/descending` (default descending, as Calico's).
pub fn sort_key(v: &str) -> Result<SortKey, ApiError> {
    let (field, direction) = v.split_once('/').unwrap_or((v, "descending"));
    let Some(field) = SortField::from_key(field) else {
        let known: Vec<&str> = SortField::ALL.iter().map(|f| f.key()).collect();
        return Err(ApiError::bad(
            "sortBy",
            v,
            format!("the field must be one of {}", known.join(", ")),
        ));
    };
    match direction {
        "descending" => Ok(SortKey::descending(field)),
        "ascending" => Ok(SortKey::ascending(field)),
        _ => Err(ApiError::bad(
            "sortBy",
            v,
            "the direction after '/' must be ascending or descending",
        )),
    }
}

/// The `format` values of a download request, each once, in the order given; at least
/// one. Whether the report offers them is the handler's question.
pub fn formats(p: &Pairs) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for v in p.all("format") {
        if v.is_empty() {
            return Err(ApiError::bad("format", v, "must name a download format"));
        }
        if !out.iter().any(|f| f == v) {
            out.push(v.to_string());
        }
    }
    if out.is_empty() {
        return Err(ApiError::bad(
            "format",
            "",
            "is required: name one or more download formats",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use compliance_testkit::fixtures::t;

    fn q(s: &str) -> Result<ReportQuery, ApiError> {
        report_query(&Pairs::parse(Some(s)))
    }

    fn bad(s: &str) -> String {
        let e = q(s).unwrap_err();
        assert_eq!(e.status(), 400, "{s}");
        e.to_string()
    }

    #[test]
    fn no_parameters_is_the_default_query() {
        assert_eq!(q("").unwrap(), ReportQuery::default());
        assert_eq!(
            report_query(&Pairs::parse(None)).unwrap(),
            ReportQuery::default()
        );
    }

    #[test]
    fn every_parameter_of_spec_9_is_read() {
        let got = q("reportTypeName=cis-benchmark&reportName=a&reportName=b%20c\
                     &fromTime=2026-11-24T00:00:00Z&toTime=2026-11-25T01:00:00%2B01:00\
                     &page=2&maxItems=7&sortBy=reportName/ascending&sortBy=endTime")
        .unwrap();
        assert_eq!(
            got,
            ReportQuery {
                report_names: vec!["a".into(), "b c".into()],
                report_type_names: vec!["cis-benchmark".into()],
                from: Some(t("2026-11-24T00:00:00Z")),
                to: Some(t("2026-11-25T00:00:00Z")),
                sort: vec![
                    SortKey::ascending(SortField::ReportName),
                    SortKey::descending(SortField::EndTime)
                ],
                page: 2,
                max_items: 7,
            }
        );
    }

    #[test]
    fn sort_direction_defaults_to_descending() {
        for f in SortField::ALL {
            assert_eq!(sort_key(f.key()).unwrap(), SortKey::descending(f));
            assert_eq!(
                sort_key(&format!("{}/ascending", f.key())).unwrap(),
                SortKey::ascending(f)
            );
        }
    }

    #[test]
    fn a_bad_parameter_is_refused_by_name() {
        assert!(bad("page=-1").starts_with("invalid page \"-1\""));
        assert!(bad("page=x").starts_with("invalid page \"x\""));
        assert!(bad("maxItems=1.5").starts_with("invalid maxItems \"1.5\""));
        assert!(bad("maxItems=10001").contains("at most 10000"));
        assert!(bad("fromTime=yesterday").starts_with("invalid fromTime \"yesterday\""));
        assert!(bad("toTime=2026-13-01T00:00:00Z").starts_with("invalid toTime"));
        assert!(bad("sortBy=size").starts_with("invalid sortBy \"size\""));
        assert!(bad("sortBy=endTime/up").contains("ascending or descending"));
        assert!(bad("page=1&page=2").contains("may be given once"));
        assert!(
            bad("fromTime=2026-11-25T00:00:00Z&toTime=2026-11-24T00:00:00Z")
                .starts_with("invalid toTime")
        );
        assert!(bad(&format!("page={}&maxItems=2", u64::MAX)).starts_with("invalid page"));
    }

    #[test]
    fn unknown_and_empty_parameters_are_ignored() {
        assert_eq!(
            q("colour=red&reportName=&page=").unwrap(),
            ReportQuery::default()
        );
    }

    #[test]
    fn formats_are_required_and_kept_once_in_order() {
        let f = |s: &str| formats(&Pairs::parse(Some(s)));
        assert_eq!(
            f("format=b.csv&format=a.csv&format=b.csv").unwrap(),
            ["b.csv", "a.csv"]
        );
        assert!(f("").unwrap_err().to_string().starts_with("invalid format"));
        assert!(
            f("format=")
                .unwrap_err()
                .to_string()
                .starts_with("invalid format")
        );
    }
}
