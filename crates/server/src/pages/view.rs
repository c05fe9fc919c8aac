//! What each page shows, computed from the store's answers: pure functions.
//!
//! The handlers in [`super`] read the store and hand what they read here; everything a
//! page decides (which node rows a filter keeps and in which order, the page of them,
//! the chart's bars, "3 h ago", the links that keep the cluster) is decided here, so it
//! is tested without a server, a store or a template.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use compliance_core::model::{
    CisBenchmarkNode, NotObservedAs, Provenance, Rating, TestStatus, WaiverOutcome,
};
use compliance_core::order::cmp_dotted;
use compliance_store::NodeRow;

use crate::ApiError;
use crate::index::{Cell, TestMatrix};
use crate::params::Pairs;

use super::waivers::{self, WaiverNote};

/// Node rows per page of a report's node table.
pub const NODES_PER_PAGE: usize = 50;
/// Node names per page of a test's lists.
pub const NAMES_PER_PAGE: usize = 100;

/// What a path segment escapes: everything but RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `s` escaped for one path segment (report ids, node names, test numbers).
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// `text` as HTML text or a quoted attribute value: `&`, `<`, `>`, `"` and `'` become
/// character references, so nothing a node wrote can open a tag or end an attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Builds the links of one request's pages: every link keeps the cluster when it is not
/// the default, so a reader who chose a cluster stays in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Links {
    /// The cluster when it is not the default one.
    pub cluster: Option<String>,
}

impl Links {
    /// `path` with `params` (empty values left out) and the cluster, as a link.
    pub fn href(&self, path: &str, params: &[(&str, String)]) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        if let Some(c) = &self.cluster {
            q.append_pair("cluster", c);
        }
        let q = q.finish();
        if q.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{q}")
        }
    }

    pub fn reports(&self) -> String {
        self.href("/reports", &[])
    }

    pub fn report(&self, id: &str) -> String {
        self.href(&format!("/reports/{}", segment(id)), &[])
    }

    pub fn node(&self, id: &str, node: &str) -> String {
        self.href(
            &format!("/reports/{}/nodes/{}", segment(id), segment(node)),
            &[],
        )
    }

    pub fn test(&self, id: &str, number: &str) -> String {
        self.href(
            &format!("/reports/{}/tests/{}", segment(id), segment(number)),
            &[],
        )
    }

    pub fn print(&self, id: &str, all: bool) -> String {
        let detail = if all { "all" } else { "" };
        self.href(
            &format!("/reports/{}/print", segment(id)),
            &[("detail", detail.to_string())],
        )
    }

    /// The diff page of report `id`: against the previous report of its GlobalReport, or
    /// against `against` when not empty.
    pub fn diff(&self, id: &str, against: &str) -> String {
        self.href(
            &format!("/reports/{}/diff", segment(id)),
            &[("against", against.to_string())],
        )
    }

    /// A download of a diff through the JSON API: `format` is `diff.csv` or
    /// `diff-nodes.csv`.
    pub fn diff_download(&self, id: &str, against: &str, format: &str) -> String {
        self.href(
            &format!("/compliance/reports/{}/diff", segment(id)),
            &[
                ("against", against.to_string()),
                ("format", format.to_string()),
            ],
        )
    }

    /// `findings.csv` of GlobalReport `name`, of one node or one test when given.
    pub fn findings_download(&self, name: &str, node: &str, test: &str) -> String {
        self.href(
            "/compliance/findings",
            &[
                ("reportName", name.to_string()),
                ("node", node.to_string()),
                ("test", test.to_string()),
                ("format", crate::api::FINDINGS_CSV.to_string()),
            ],
        )
    }

    /// A download of one or more formats, through the JSON API's path.
    pub fn download(&self, id: &str, formats: &[&str]) -> String {
        let params: Vec<(&str, String)> =
            formats.iter().map(|f| ("format", f.to_string())).collect();
        self.href(&crate::api::download_path(id), &params)
    }
}

/// The cluster selector's choices, the default first, `current` selected (added when a
/// request named a cluster the server does not list); none when there is only one.
pub fn cluster_choices(names: &[String], current: &str) -> Vec<(String, bool)> {
    if names.len() < 2 {
        return Vec::new();
    }
    let mut out: Vec<(String, bool)> = names.iter().map(|n| (n.clone(), n == current)).collect();
    if !names.iter().any(|n| n == current) {
        out.push((current.to_string(), true));
    }
    out
}

/// A time as the report list's form may send it, in RFC 3339 for the §9 parameters:
/// a browser's `datetime-local` value (`2026-11-25T00:00`, seconds optional) or a bare
/// date, both read as UTC; anything else is passed on as written, for
/// [`crate::params`] to accept or refuse by name.
pub fn form_time(v: &str) -> String {
    let v = v.trim();
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, format) {
            return compliance_core::time::format(&t.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return compliance_core::time::format(&t.and_utc());
    }
    v.to_string()
}

/// An RFC 3339 time as a `datetime-local` input's value (UTC, to the second); a value
/// that is not a time is shown as written.
pub fn input_time(v: &str) -> String {
    match DateTime::parse_from_rfc3339(v) {
        Ok(t) => t
            .with_timezone(&Utc)
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string(),
        Err(_) => v.to_string(),
    }
}

/// How long ago `then` was, as people say it: "just now", "5 min ago", "3 h ago",
/// "2 days ago"; a time after `now` (clocks disagree) is "just now".
pub fn age(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds();
    if secs < 60 {
        "just now".to_string()
    } else if secs < 3600 {
        format!("{} min ago", secs / 60)
    } else if secs < 48 * 3600 {
        format!("{} h ago", secs / 3600)
    } else {
        format!("{} days ago", secs / 86_400)
    }
}

/// One page of a list: which items, and where it is among the pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pager {
    /// From 0.
    pub page: u64,
    /// At least 1, even for an empty list.
    pub pages: u64,
    pub total: u64,
    /// The first and last item shown, from 1; both 0 when none is.
    pub first: u64,
    pub last: u64,
}

impl Pager {
    /// Page `page` of `total` items, `per_page` to a page; a page past the end is the
    /// last one.
    pub fn new(total: u64, per_page: u64, page: u64) -> Pager {
        let per_page = per_page.max(1);
        let pages = total.div_ceil(per_page).max(1);
        let page = page.min(pages - 1);
        let first = page * per_page;
        let last = (first + per_page).min(total);
        Pager {
            page,
            pages,
            total,
            first: if last > first { first + 1 } else { 0 },
            last,
        }
    }

    /// The items of this page from all of them.
    pub fn slice<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        if self.first == 0 {
            return &[];
        }
        let start = usize::try_from(self.first - 1).unwrap_or(usize::MAX);
        let end = usize::try_from(self.last).unwrap_or(usize::MAX);
        items.get(start..end).unwrap_or(&[])
    }
}

/// A column the node table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeSort {
    Name,
    Status,
    Pass,
    Fail,
    Total,
}

impl NodeSort {
    pub const ALL: [NodeSort; 5] = [
        NodeSort::Name,
        NodeSort::Status,
        NodeSort::Pass,
        NodeSort::Fail,
        NodeSort::Total,
    ];

    pub fn key(self) -> &'static str {
        match self {
            NodeSort::Name => "name",
            NodeSort::Status => "status",
            NodeSort::Pass => "pass",
            NodeSort::Fail => "fail",
            NodeSort::Total => "total",
        }
    }

    /// The direction of a first click: names A to Z; statuses worst first; numbers
    /// largest first.
    pub fn descending_first(self) -> bool {
        !matches!(self, NodeSort::Name)
    }
}

/// The node table's filter, order and page, as the query string says (`status`
/// repeatable, `q`, `sort`, `dir`, `page`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFilter {
    /// Empty: every rating.
    pub statuses: Vec<Rating>,
    /// Part of the node name, any case; empty: every node.
    pub name: String,
    pub sort: NodeSort,
    pub descending: bool,
    pub page: u64,
}

impl Default for NodeFilter {
    fn default() -> Self {
        NodeFilter {
            statuses: Vec::new(),
            name: String::new(),
            sort: NodeSort::Name,
            descending: false,
            page: 0,
        }
    }
}

impl NodeFilter {
    /// Reads the query; a bad value is a 400 naming the parameter.
    pub fn parse(p: &Pairs) -> Result<NodeFilter, ApiError> {
        let mut statuses = Vec::new();
        for v in p.all("status").filter(|v| !v.is_empty()) {
            let r = match v {
                "HIGH" | "high" => Rating::High,
                "MED" | "med" => Rating::Med,
                "LOW" | "low" => Rating::Low,
                _ => return Err(ApiError::bad("status", v, "must be HIGH, MED or LOW")),
            };
            if !statuses.contains(&r) {
                statuses.push(r);
            }
        }
        statuses.sort();
        let sort = match p.one("sort")? {
            None => NodeSort::Name,
            Some(v) => NodeSort::ALL
                .into_iter()
                .find(|s| s.key() == v)
                .ok_or_else(|| {
                    ApiError::bad("sort", v, "must be one of name, status, pass, fail, total")
                })?,
        };
        let descending = match p.one("dir")? {
            None => sort.descending_first(),
            Some("asc") => false,
            Some("desc") => true,
            Some(v) => return Err(ApiError::bad("dir", v, "must be asc or desc")),
        };
        Ok(NodeFilter {
            statuses,
            name: p.one("q")?.unwrap_or("").trim().to_string(),
            sort,
            descending,
            page: p.number("page", 0, u64::MAX)?,
        })
    }

    /// The query parameters that say this filter (defaults left out), without `page`.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = self
            .statuses
            .iter()
            .map(|s| ("status", s.as_str().to_string()))
            .collect();
        out.push(("q", self.name.clone()));
        if self.sort != NodeSort::Name || self.descending {
            out.push(("sort", self.sort.key().to_string()));
            out.push((
                "dir",
                if self.descending { "desc" } else { "asc" }.to_string(),
            ));
        }
        out
    }

    /// Whether `row` passes the filter.
    pub fn keeps(&self, row: &NodeRow) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&row.summary.status))
            && (self.name.is_empty() || contains_ignoring_case(&row.node_name, &self.name))
    }

    /// How two rows compare in this filter's order; ties by name, then position.
    pub fn compare(&self, a: &NodeRow, b: &NodeRow) -> Ordering {
        let (sa, sb) = (&a.summary, &b.summary);
        let o = match self.sort {
            NodeSort::Name => Ordering::Equal,
            // Rating orders HIGH < MED < LOW: "descending" puts LOW, the worst, first.
            NodeSort::Status => sa.status.cmp(&sb.status),
            NodeSort::Pass => sa.total_pass.cmp(&sb.total_pass),
            NodeSort::Fail => sa.total_fail.cmp(&sb.total_fail),
            NodeSort::Total => sa.total.cmp(&sb.total),
        };
        let o = if self.descending { o.reverse() } else { o };
        let by_name = a.node_name.as_bytes().cmp(b.node_name.as_bytes());
        let by_name = if self.sort == NodeSort::Name && self.descending {
            by_name.reverse()
        } else {
            by_name
        };
        o.then(by_name).then(a.position.cmp(&b.position))
    }

    /// The rows this filter keeps, in its order, and the requested page of them.
    pub fn select<'a>(&self, rows: &'a [NodeRow], per_page: usize) -> (Vec<&'a NodeRow>, Pager) {
        let mut kept: Vec<&NodeRow> = rows.iter().filter(|r| self.keeps(r)).collect();
        if self.sort != NodeSort::Name || self.descending {
            // Rows are stored by name already: only another order needs a sort.
            kept.sort_by(|a, b| self.compare(a, b));
        }
        let pager = Pager::new(kept.len() as u64, per_page as u64, self.page);
        let page = pager.slice(&kept).to_vec();
        (page, pager)
    }
}

/// Whether `hay` contains `needle`, letters compared without case.
fn contains_ignoring_case(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

/// A column header that sorts: its link, and whether (and how) the table is sorted by it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SortHeader {
    pub label: &'static str,
    pub key: &'static str,
    pub href: String,
    /// `ascending`, `descending` or `none`: for `aria-sort`.
    pub aria: &'static str,
}

/// The node table's headers: a click sorts by the column, a second click reverses.
pub fn node_headers(links: &Links, path: &str, f: &NodeFilter) -> Vec<SortHeader> {
    NodeSort::ALL
        .into_iter()
        .map(|s| {
            let current = f.sort == s;
            let next = NodeFilter {
                sort: s,
                descending: if current {
                    !f.descending
                } else {
                    s.descending_first()
                },
                page: 0,
                ..f.clone()
            };
            let mut params = next.params();
            if s == NodeSort::Name && !next.descending {
                params.push(("sort", "name".into()));
                params.push(("dir", "asc".into()));
            }
            SortHeader {
                label: match s {
                    NodeSort::Name => "Node",
                    NodeSort::Status => "Status",
                    NodeSort::Pass => "Pass",
                    NodeSort::Fail => "Fail",
                    NodeSort::Total => "Total",
                },
                key: s.key(),
                href: links.href(path, &params),
                aria: aria(current, f.descending),
            }
        })
        .collect()
}

fn aria(current: bool, descending: bool) -> &'static str {
    match (current, descending) {
        (false, _) => "none",
        (true, false) => "ascending",
        (true, true) => "descending",
    }
}

/// One row of the node table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeLine {
    pub name: String,
    pub href: String,
    pub status: &'static str,
    pub pass: u64,
    pub fail: u64,
    pub info: u64,
    pub total: u64,
    pub kubernetes_version: String,
    pub benchmarks_version: String,
    pub error: String,
    /// The node is expected but has no result in the look-back (docs/spec.md §4.2).
    pub no_results: bool,
    /// When its result was taken; for a node without results, its last result ever
    /// (empty when it never reported, or when the report did not record it).
    pub last_result: String,
    /// Failures a waiver accepted on the node (left out of `fail`).
    pub waived: u64,
    /// The rating had no waiver applied, when a waiver accepted something on the node;
    /// `None` otherwise.
    pub status_without_waivers: Option<&'static str>,
}

impl NodeLine {
    /// The line of a whole node.
    pub fn of_node(links: &Links, id: &str, position: u64, node: &CisBenchmarkNode) -> NodeLine {
        NodeLine::of(links, id, &NodeRow::of(position, node))
    }

    pub fn of(links: &Links, id: &str, row: &NodeRow) -> NodeLine {
        NodeLine {
            name: row.node_name.clone(),
            href: links.node(id, &row.node_name),
            status: row.summary.status.as_str(),
            pass: row.summary.total_pass,
            fail: row.summary.total_fail,
            info: row.summary.total_info,
            total: row.summary.total,
            kubernetes_version: row.kubernetes_version.clone(),
            benchmarks_version: row.benchmarks_version.clone(),
            error: row.error.clone(),
            no_results: row.no_results,
            last_result: row
                .last_result_time
                .as_ref()
                .map(compliance_core::time::format)
                .unwrap_or_default(),
            waived: row.summary.waived,
            status_without_waivers: row.summary.status_without_waivers.map(|r| r.as_str()),
        }
    }

    /// What the node lists say of a node without results: since when, or that it never
    /// reported. Empty for a node with results.
    pub fn no_results_text(&self) -> String {
        no_results_text(self.no_results, &self.last_result)
    }
}

/// "no results since <time>" or "never reported" for a node without results; empty for
/// a node with results.
pub fn no_results_text(no_results: bool, last_result: &str) -> String {
    match (no_results, last_result.is_empty()) {
        (false, _) => String::new(),
        (true, true) => "never reported".to_string(),
        (true, false) => format!("no results since {last_result}"),
    }
}

/// What the pages say for a provenance value the report did not record.
pub const NOT_RECORDED: &str = "not recorded";

/// One fact of a provenance block: its label, and its value or `None` when the report
/// did not record it (shown as [`NOT_RECORDED`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fact {
    pub key: &'static str,
    pub label: &'static str,
    pub value: Option<String>,
}

fn fact(key: &'static str, label: &'static str, value: &str) -> Fact {
    Fact {
        key,
        label,
        value: (!value.is_empty()).then(|| value.to_string()),
    }
}

/// Where one node's result came from, as the node page and the printable report show it.
pub fn node_provenance(node: &CisBenchmarkNode) -> Vec<Fact> {
    let last = node
        .last_result_time
        .as_ref()
        .map(compliance_core::time::format)
        .unwrap_or_default();
    vec![
        fact("platform", "Platform", &node.platform),
        fact("benchmark", "Benchmark", &node.benchmarks_version),
        fact("kubernetes", "Kubernetes", &node.kubernetes_version),
        fact("kube-bench", "kube-bench version", &node.kube_bench_version),
        fact(
            "benchmarker",
            "Benchmarker version",
            &node.benchmarker_version,
        ),
        fact("choice", "Benchmark chosen by", &node.benchmark_choice),
        fact("result-time", "Result taken", &last),
    ]
}

/// What a report records of how it was made; `None` for a report of an earlier release
/// or of Calico Enterprise, which recorded nothing.
pub fn report_provenance(p: Option<&Provenance>) -> Option<Vec<Fact>> {
    let p = p?;
    let cis = &p.cis;
    let rules = format!(
        "HIGH at {}%, MED at {}%; unscored tests {}; top {} failed tests; not observed counted as {}",
        cis.high_threshold,
        cis.med_threshold,
        if cis.include_unscored_tests {
            "counted"
        } else {
            "not counted"
        },
        cis.num_failed_tests,
        cis.not_observed_as.as_str(),
    );
    Some(vec![
        fact("reporter", "Reporter version", &p.reporter_version),
        fact(
            "look-back",
            "Results read from",
            &format!(
                "{} – {}",
                compliance_core::time::format(&p.query_start),
                compliance_core::time::format(&p.query_end)
            ),
        ),
        fact("rules", "Rules as applied", &rules),
        fact(
            "expected-nodes",
            "Expected nodes from",
            &p.expected_nodes_from.join(", "),
        ),
    ])
}

/// How a report counted NOT_OBSERVED tests, in words for the legend.
pub fn not_observed_counting(a: NotObservedAs) -> &'static str {
    match a {
        NotObservedAs::Info => "as info, like WARN: outside the total and the pass percentage",
        NotObservedAs::Fail => {
            "as failures: in the total, against the pass percentage, and in Top Failed Tests"
        }
        NotObservedAs::Pass => "as passes, kube-bench's own verdict",
    }
}

/// The label a test status is shown with: kube-bench's words, and "not observed" for
/// ours, which is not one of kube-bench's (docs/spec.md §3).
pub fn status_label(s: &TestStatus) -> String {
    match s {
        TestStatus::NotObserved => "not observed".to_string(),
        s => s.as_str().to_string(),
    }
}

/// The links to the other pages of a paged list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageLinks {
    pub pager: Pager,
    pub first: Option<String>,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub last: Option<String>,
}

/// Links to the first, previous, next and last page; `params` are the list's other
/// parameters, `page` is added.
pub fn page_links(
    links: &Links,
    path: &str,
    params: &[(&str, String)],
    pager: &Pager,
) -> PageLinks {
    let to = |page: u64| {
        let mut p = params.to_vec();
        if page > 0 {
            p.push(("page", page.to_string()));
        }
        links.href(path, &p)
    };
    let last = pager.pages - 1;
    PageLinks {
        pager: pager.clone(),
        first: (pager.page > 0).then(|| to(0)),
        prev: (pager.page > 0).then(|| to(pager.page - 1)),
        next: (pager.page < last).then(|| to(pager.page + 1)),
        last: (pager.page < last).then(|| to(last)),
    }
}

/// One bar of the rating chart, in the SVG's own units (100 wide).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    pub label: &'static str,
    /// The CSS class that colours it.
    pub class: &'static str,
    pub count: u64,
    /// Whole percent of all nodes, rounded down.
    pub percent: u64,
    pub x: f64,
    pub width: f64,
}

/// The rating chart: one stacked bar of HIGH, MED and LOW nodes across 100 units; bars
/// of no nodes have no width. All zero: no bars.
pub fn rating_bars(high: u64, med: u64, low: u64) -> Vec<Bar> {
    let total = high + med + low;
    let mut x = 0.0;
    let mut out = Vec::new();
    for (label, class, count) in [
        ("HIGH", "high", high),
        ("MED", "med", med),
        ("LOW", "low", low),
    ] {
        if total == 0 {
            break;
        }
        let width = 100.0 * count as f64 / total as f64;
        out.push(Bar {
            label,
            class,
            count,
            percent: 100 * count / total,
            x: round2(x),
            width: round2(width),
        });
        x += width;
    }
    out
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// A test of the Top-Failed-Tests list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopFailed {
    pub number: String,
    pub description: String,
    pub failed: u64,
    pub href: String,
}

/// The top failed tests as the stored uiSummary lists them (docs/spec.md §6); `None`
/// when the summary is not that shape (a report stored without one).
pub fn top_failed_from_ui_summary(ui_summary: &str) -> Option<Vec<(String, String, u64)>> {
    let v: serde_json::Value = serde_json::from_str(ui_summary).ok()?;
    let widgets = v.get("widgets")?.as_array()?;
    let tests = widgets
        .iter()
        .find(|w| w.get("type").and_then(|t| t.as_str()) == Some("cis-benchmark-tests"))?
        .get("topFailedTests")?
        .get("tests")?
        .as_array()?;
    tests
        .iter()
        .map(|t| {
            let number = t.get("index")?.as_str()?.to_string();
            let desc = t
                .get("description")
                .and_then(|d| d.as_str())
                .unwrap_or("")
                .to_string();
            // Calico's template quoted the count; ours writes a number.
            let failed = match t.get("failedCount")? {
                serde_json::Value::Number(n) => n.as_u64()?,
                serde_json::Value::String(s) => s.parse().ok()?,
                _ => return None,
            };
            Some((number, desc, failed))
        })
        .collect()
}

/// The top failed tests counted from the matrix (§4.8: most failing nodes first, then
/// dotted order), for reports whose uiSummary says nothing usable; NOT_OBSERVED counts as
/// failed when the report counted it so.
pub fn top_failed_from_matrix(
    m: &TestMatrix,
    limit: usize,
    not_observed_as: NotObservedAs,
) -> Vec<(String, String, u64)> {
    let failed = |c: &Cell| {
        *c == Cell::Fail || (*c == Cell::NotObserved && not_observed_as == NotObservedAs::Fail)
    };
    let mut counted: Vec<(String, String, u64)> = m
        .tests
        .iter()
        .zip(&m.cells)
        .map(|(t, cells)| {
            let fails = cells.iter().filter(|c| failed(c)).count() as u64;
            (t.number.clone(), t.desc.clone(), fails)
        })
        .filter(|(_, _, n)| *n > 0)
        .collect();
    counted.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| cmp_dotted(&a.0, &b.0)));
    counted.truncate(limit);
    counted
}

/// The benchmark and Kubernetes versions of a report's nodes, with how many nodes run
/// each pair: what an auditor reads first ("what was measured").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionCount {
    pub benchmarks_version: String,
    pub kubernetes_version: String,
    pub nodes: u64,
}

pub fn versions(rows: &[NodeRow]) -> Vec<VersionCount> {
    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for r in rows {
        *counts
            .entry((&r.benchmarks_version, &r.kubernetes_version))
            .or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((b, k), nodes)| VersionCount {
            benchmarks_version: b.to_string(),
            kubernetes_version: k.to_string(),
            nodes,
        })
        .collect()
}

/// A test of one node, for the node page and the printable report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestLine {
    pub number: String,
    pub section: String,
    pub section_desc: String,
    pub desc: String,
    /// Remediation: shown with its line breaks kept.
    pub info: String,
    pub scored: bool,
    pub status: String,
    pub href: String,
    /// The waiver that accepted this FAIL, with its decision; `None` when not waived.
    pub waiver: Option<WaiverNote>,
}

/// A node's tests of one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusGroup {
    pub status: String,
    /// What the page calls the status ([`status_label`]).
    pub label: String,
    /// The CSS class of the status: `fail`, `warn`, `info`, `pass`, `unobserved` or
    /// `other`.
    pub class: &'static str,
    pub tests: Vec<TestLine>,
}

/// Where a status sorts on a node's page: FAIL first, then WARN, NOT_OBSERVED, INFO,
/// PASS, others.
fn status_rank(s: &TestStatus) -> u8 {
    match s {
        TestStatus::Fail => 0,
        TestStatus::Warn => 1,
        TestStatus::NotObserved => 2,
        TestStatus::Info => 3,
        TestStatus::Pass => 4,
        TestStatus::Other(_) => 5,
    }
}

pub fn status_class(s: &TestStatus) -> &'static str {
    match s {
        TestStatus::Fail => "fail",
        TestStatus::Warn => "warn",
        TestStatus::Info => "info",
        TestStatus::Pass => "pass",
        TestStatus::NotObserved => "unobserved",
        TestStatus::Other(_) => "other",
    }
}

/// A node's tests grouped by status, FAIL first (then WARN, NOT_OBSERVED, INFO, PASS, any
/// other), each group in dotted order; `keep` chooses the statuses shown. A waived FAIL
/// stays in the FAIL group, with its waiver's decision from `waivers` (the report's
/// outcomes).
pub fn status_groups(
    links: &Links,
    id: &str,
    node: &CisBenchmarkNode,
    waivers: &[WaiverOutcome],
    keep: impl Fn(&TestStatus) -> bool,
) -> Vec<StatusGroup> {
    let mut tests: Vec<(&TestStatus, TestLine)> = Vec::new();
    for section in &node.results {
        for t in &section.results {
            if !keep(&t.status) {
                continue;
            }
            tests.push((
                &t.status,
                TestLine {
                    number: t.text.test_number.clone(),
                    section: section.section.clone(),
                    section_desc: section.desc.clone(),
                    desc: t.text.test_desc.clone(),
                    info: t.text.test_info.clone(),
                    scored: t.scored,
                    status: t.status.as_str().to_string(),
                    href: links.test(id, &t.text.test_number),
                    waiver: t.waiver.as_deref().map(|w| waivers::note(waivers, w)),
                },
            ));
        }
    }
    tests.sort_by(|a, b| {
        status_rank(a.0)
            .cmp(&status_rank(b.0))
            .then_with(|| a.0.cmp(b.0))
            .then_with(|| cmp_dotted(&a.1.number, &b.1.number))
    });
    let mut groups: Vec<StatusGroup> = Vec::new();
    for (status, line) in tests {
        match groups.last_mut() {
            Some(g) if g.status == status.as_str() => g.tests.push(line),
            _ => groups.push(StatusGroup {
                status: status.as_str().to_string(),
                label: status_label(status),
                class: status_class(status),
                tests: vec![line],
            }),
        }
    }
    groups
}

/// A section of a node, for the node page's section table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionLine {
    pub section: String,
    pub desc: String,
    pub status: &'static str,
    pub pass: u64,
    pub fail: u64,
    pub info: u64,
}

pub fn sections(node: &CisBenchmarkNode) -> Vec<SectionLine> {
    node.results
        .iter()
        .map(|s| SectionLine {
            section: s.section.clone(),
            desc: s.desc.clone(),
            status: s.status.as_str(),
            pass: s.pass,
            fail: s.fail,
            info: s.info,
        })
        .collect()
}

/// Which list of a test's nodes a test page shows.
pub const CELL_TABS: [Cell; 7] = [
    Cell::Fail,
    Cell::Warn,
    Cell::NotObserved,
    Cell::Info,
    Cell::Pass,
    Cell::Other,
    Cell::Missing,
];

/// The query value and CSS class of a list of a test's nodes.
pub fn cell_key(c: Cell) -> &'static str {
    match c {
        Cell::Fail => "fail",
        Cell::Warn => "warn",
        Cell::Info => "info",
        Cell::Pass => "pass",
        Cell::NotObserved => "unobserved",
        Cell::Other => "other",
        Cell::Missing => "missing",
    }
}

/// The cell a `show` value names; 400 naming it otherwise.
pub fn parse_cell(v: Option<&str>) -> Result<Cell, ApiError> {
    match v {
        None => Ok(Cell::Fail),
        Some(v) => CELL_TABS
            .into_iter()
            .find(|c| cell_key(*c) == v)
            .ok_or_else(|| {
                ApiError::bad(
                    "show",
                    v,
                    "must be fail, warn, unobserved, info, pass, other or missing",
                )
            }),
    }
}

/// How many nodes are in each cell of one test's row, in [`CELL_TABS`] order.
pub fn cell_counts(cells: &[Cell]) -> Vec<(Cell, u64)> {
    CELL_TABS
        .into_iter()
        .map(|c| (c, cells.iter().filter(|x| **x == c).count() as u64))
        .collect()
}

/// The positions of the nodes whose cell is `show`, in report order.
pub fn nodes_in(cells: &[Cell], show: Cell) -> Vec<usize> {
    cells
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == show)
        .map(|(p, _)| p)
        .collect()
}

/// The position of node `name` among `rows` (report order is byte order of names, so a
/// binary search; a report stored in another order is searched through).
pub fn find_node(rows: &[NodeRow], name: &str) -> Option<usize> {
    match rows.binary_search_by(|r| r.node_name.as_bytes().cmp(name.as_bytes())) {
        Ok(i) => Some(i),
        Err(_) => rows.iter().position(|r| r.node_name == name),
    }
}

/// A report list column that sorts, by its §9 field key.
pub const REPORT_COLUMNS: [(&str, &str); 5] = [
    ("reportName", "Report"),
    ("reportTypeName", "Type"),
    ("startTime", "Start"),
    ("endTime", "End"),
    ("generationTime", "Generated"),
];

/// The report list's headers: a click sorts by the column (names A to Z, times newest
/// first), a second click reverses. `current` is the first `sortBy` (field, descending).
pub fn report_headers(
    links: &Links,
    params: &[(&str, String)],
    current: (&str, bool),
) -> Vec<SortHeader> {
    REPORT_COLUMNS
        .into_iter()
        .map(|(key, label)| {
            let is_current = current.0 == key;
            let descending = if is_current {
                !current.1
            } else {
                !key.starts_with("report")
            };
            let mut p: Vec<(&str, String)> = params
                .iter()
                .filter(|(k, _)| *k != "sortBy")
                .cloned()
                .collect();
            let dir = if descending {
                "descending"
            } else {
                "ascending"
            };
            p.push(("sortBy", format!("{key}/{dir}")));
            SortHeader {
                label,
                key,
                href: links.href("/reports", &p),
                aria: aria(is_current, current.1),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use compliance_core::model::NodeSummary;
    use compliance_testkit::fixtures::t;
    use compliance_testkit::reports::{fixture_report, synthetic_report};

    fn row(position: u64, name: &str, status: Rating, pass: u64, fail: u64) -> NodeRow {
        NodeRow {
            position,
            node_name: name.into(),
            kubernetes_version: "1.29.3".into(),
            benchmarks_version: "cis-1.23".into(),
            error: String::new(),
            summary: NodeSummary {
                status,
                total_pass: pass,
                total_fail: fail,
                total_info: 0,
                total: pass + fail,
                waived: 0,
                status_without_waivers: None,
            },
            no_results: false,
            last_result_time: None,
            platform: String::new(),
            kube_bench_version: String::new(),
            benchmarker_version: String::new(),
            benchmark_choice: String::new(),
        }
    }

    fn rows() -> Vec<NodeRow> {
        vec![
            row(0, "alpha", Rating::High, 10, 0),
            row(1, "beta", Rating::Low, 2, 8),
            row(2, "Gamma-worker", Rating::Med, 6, 4),
            row(3, "delta-worker", Rating::Low, 1, 9),
        ]
    }

    fn names(v: &[&NodeRow]) -> Vec<String> {
        v.iter().map(|r| r.node_name.clone()).collect()
    }

    fn filter(q: &str) -> NodeFilter {
        NodeFilter::parse(&Pairs::parse(Some(q))).unwrap()
    }

    #[test]
    fn a_selector_is_offered_only_between_clusters() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(cluster_choices(&names(&["cluster"]), "cluster").is_empty());
        assert_eq!(
            cluster_choices(&names(&["a", "b"]), "b"),
            [("a".to_string(), false), ("b".to_string(), true)]
        );
        assert_eq!(
            cluster_choices(&names(&["a", "b"]), "c")[2],
            ("c".to_string(), true)
        );
    }

    #[test]
    fn form_times_become_rfc_3339_in_utc() {
        assert_eq!(form_time("2026-11-25T06:30"), "2026-11-25T06:30:00Z");
        assert_eq!(form_time("2026-11-25T06:30:05"), "2026-11-25T06:30:05Z");
        assert_eq!(form_time("2026-11-25"), "2026-11-25T00:00:00Z");
        assert_eq!(form_time("2026-11-25T00:00:00Z"), "2026-11-25T00:00:00Z");
        assert_eq!(form_time("yesterday"), "yesterday");
        assert_eq!(
            input_time("2026-11-25T01:00:00+01:00"),
            "2026-11-25T00:00:00"
        );
        assert_eq!(input_time("yesterday"), "yesterday");
    }

    #[test]
    fn html_escaping_leaves_no_markup() {
        assert_eq!(
            escape_html("<img src=x onerror='a(1)'> & \"q\" /"),
            "&lt;img src=x onerror=&#x27;a(1)&#x27;&gt; &amp; &quot;q&quot; /"
        );
        assert_eq!(escape_html("plain"), "plain");
    }

    #[test]
    fn ages_read_as_people_say_them() {
        let now = t("2026-11-25T12:00:00Z");
        assert_eq!(age(t("2026-11-25T12:00:30Z"), now), "just now");
        assert_eq!(age(t("2026-11-25T11:59:30Z"), now), "just now");
        assert_eq!(age(t("2026-11-25T11:55:00Z"), now), "5 min ago");
        assert_eq!(age(t("2026-11-25T09:00:00Z"), now), "3 h ago");
        assert_eq!(age(t("2026-11-23T13:00:00Z"), now), "47 h ago");
        assert_eq!(age(t("2026-11-20T12:00:00Z"), now), "5 days ago");
    }

    #[test]
    fn a_pager_clamps_and_counts_from_one() {
        let p = Pager::new(120, 50, 0);
        assert_eq!((p.pages, p.first, p.last), (3, 1, 50));
        let p = Pager::new(120, 50, 9);
        assert_eq!((p.page, p.first, p.last), (2, 101, 120));
        let p = Pager::new(0, 50, 3);
        assert_eq!((p.page, p.pages, p.first, p.last), (0, 1, 0, 0));
        let items: Vec<u32> = (0..120).collect();
        assert_eq!(Pager::new(120, 50, 2).slice(&items), &items[100..120]);
        assert!(Pager::new(0, 50, 0).slice(&items[..0]).is_empty());
    }

    #[test]
    fn nodes_filter_by_status_and_name_in_any_case() {
        let r = rows();
        assert_eq!(names(&filter("").select(&r, 50).0).len(), 4);
        assert_eq!(
            names(&filter("status=LOW").select(&r, 50).0),
            ["beta", "delta-worker"]
        );
        assert_eq!(
            names(&filter("q=WORKER").select(&r, 50).0),
            ["Gamma-worker", "delta-worker"]
        );
        assert_eq!(
            names(&filter("q=worker&status=MED&status=HIGH").select(&r, 50).0),
            ["Gamma-worker"]
        );
    }

    #[test]
    fn nodes_sort_by_each_column_with_ties_by_name() {
        let r = rows();
        assert_eq!(
            names(&filter("sort=status").select(&r, 50).0),
            ["beta", "delta-worker", "Gamma-worker", "alpha"]
        );
        assert_eq!(
            names(&filter("sort=status&dir=asc").select(&r, 50).0),
            ["alpha", "Gamma-worker", "beta", "delta-worker"]
        );
        assert_eq!(
            names(&filter("sort=fail").select(&r, 50).0),
            ["delta-worker", "beta", "Gamma-worker", "alpha"]
        );
        assert_eq!(
            names(&filter("sort=pass&dir=asc").select(&r, 50).0),
            ["delta-worker", "beta", "Gamma-worker", "alpha"]
        );
        assert_eq!(
            names(&filter("sort=name&dir=desc").select(&r, 50).0),
            ["delta-worker", "beta", "alpha", "Gamma-worker"]
        );
        assert_eq!(
            names(&filter("sort=total&page=1").select(&r, 3).0),
            ["delta-worker"]
        );
    }

    #[test]
    fn bad_node_parameters_are_refused_by_name() {
        let e = |q: &str| {
            NodeFilter::parse(&Pairs::parse(Some(q)))
                .unwrap_err()
                .to_string()
        };
        assert!(e("status=GOOD").starts_with("invalid status \"GOOD\""));
        assert!(e("sort=size").starts_with("invalid sort \"size\""));
        assert!(e("dir=up").starts_with("invalid dir \"up\""));
        assert!(e("page=x").starts_with("invalid page \"x\""));
    }

    #[test]
    fn a_filter_round_trips_through_its_parameters() {
        for q in [
            "",
            "status=LOW&q=w",
            "sort=fail&dir=asc",
            "sort=name&dir=desc",
            "sort=status",
        ] {
            let f = filter(q);
            let again = Links::default().href("/x", &f.params());
            let query = again.split_once('?').map(|(_, q)| q);
            assert_eq!(NodeFilter::parse(&Pairs::parse(query)).unwrap(), f, "{q}");
        }
    }

    #[test]
    fn headers_reverse_the_current_column_and_start_the_others_fresh() {
        let f = filter("sort=fail&status=LOW");
        let h = node_headers(&Links::default(), "/reports/r", &f);
        let fail = h.iter().find(|h| h.key == "fail").unwrap();
        assert_eq!(fail.aria, "descending");
        assert_eq!(fail.href, "/reports/r?status=LOW&sort=fail&dir=asc");
        let name = h.iter().find(|h| h.key == "name").unwrap();
        assert_eq!(name.aria, "none");
        assert_eq!(name.href, "/reports/r?status=LOW&sort=name&dir=asc");
    }

    #[test]
    fn links_escape_and_keep_a_chosen_cluster() {
        let plain = Links::default();
        assert_eq!(plain.node("r 1", "<img>"), "/reports/r%201/nodes/%3Cimg%3E");
        assert_eq!(plain.test("r", "1.2.10"), "/reports/r/tests/1.2.10");
        let other = Links {
            cluster: Some("managed-1".into()),
        };
        assert_eq!(other.reports(), "/reports?cluster=managed-1");
        assert_eq!(
            other.download("r", &["a.csv", "b.csv"]),
            "/compliance/reports/r/download?format=a.csv&format=b.csv&cluster=managed-1"
        );
        assert_eq!(
            other.print("r", true),
            "/reports/r/print?detail=all&cluster=managed-1"
        );
    }

    #[test]
    fn page_links_exist_only_where_there_is_a_page() {
        let l = Links::default();
        let p = page_links(&l, "/x", &[("q", "a".into())], &Pager::new(120, 50, 1));
        assert_eq!(p.first.as_deref(), Some("/x?q=a"));
        assert_eq!(p.prev.as_deref(), Some("/x?q=a"));
        assert_eq!(p.next.as_deref(), Some("/x?q=a&page=2"));
        let p = page_links(&l, "/x", &[], &Pager::new(10, 50, 0));
        assert_eq!((p.first, p.prev, p.next, p.last), (None, None, None, None));
    }

    #[test]
    fn bars_cover_the_width_in_order() {
        let b = rating_bars(1, 1, 2);
        assert_eq!(b.len(), 3);
        assert_eq!((b[0].x, b[0].width, b[0].percent), (0.0, 25.0, 25));
        assert_eq!((b[2].x, b[2].width, b[2].percent), (50.0, 50.0, 50));
        assert!(rating_bars(0, 0, 0).is_empty());
        let b = rating_bars(0, 0, 3);
        assert_eq!((b[2].x, b[2].width), (0.0, 100.0));
    }

    #[test]
    fn top_failed_tests_read_from_the_stored_summary_match_the_matrix() {
        let report = fixture_report(t("2026-11-25T00:00:00Z"));
        let stored = top_failed_from_ui_summary(&report.ui_summary).unwrap();
        assert!(!stored.is_empty());
        let mut b = TestMatrix::builder();
        b.add(&report.cis_benchmark);
        let counted = top_failed_from_matrix(&b.finish(), stored.len(), NotObservedAs::Info);
        // Descriptions may differ (kube-bench versions word a number differently): the
        // matrix keeps the first node's, the summary the first failing node's.
        let key = |v: &[(String, String, u64)]| -> Vec<(String, u64)> {
            v.iter().map(|(n, _, c)| (n.clone(), *c)).collect()
        };
        assert_eq!(key(&stored), key(&counted));
        assert_eq!(
            top_failed_from_ui_summary(
                r#"{"widgets":[{"type":"cis-benchmark-tests","topFailedTests":{"tests":[{"index":"1.1","description":"d","failedCount":"3"}]}}]}"#
            ),
            Some(vec![("1.1".into(), "d".into(), 3)])
        );
        assert_eq!(top_failed_from_ui_summary(""), None);
        assert_eq!(top_failed_from_ui_summary("{}"), None);
    }

    #[test]
    fn a_nodes_tests_come_fail_first_each_group_in_dotted_order() {
        let report = fixture_report(t("2026-11-25T00:00:00Z"));
        let node = report
            .cis_benchmark
            .iter()
            .find(|n| n.summary.total_fail > 0)
            .unwrap();
        let groups = status_groups(&Links::default(), "r", node, &[], |_| true);
        assert_eq!(groups[0].status, "FAIL");
        assert_eq!(groups[0].tests.len() as u64, node.summary.total_fail);
        let order = ["FAIL", "WARN", "INFO", "PASS"];
        let ranks: Vec<usize> = groups
            .iter()
            .map(|g| order.iter().position(|s| *s == g.status).unwrap_or(9))
            .collect();
        assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{ranks:?}");
        for g in &groups {
            assert!(
                g.tests
                    .windows(2)
                    .all(|w| cmp_dotted(&w[0].number, &w[1].number).is_le())
            );
        }
        let only_fail = status_groups(&Links::default(), "r", node, &[], |s| {
            *s == TestStatus::Fail
        });
        assert_eq!(only_fail.len(), 1);
    }

    #[test]
    fn a_node_is_found_by_name_in_report_order() {
        let report = synthetic_report(300, t("2026-11-25T00:00:00Z"), 3);
        let rows: Vec<NodeRow> = report
            .cis_benchmark
            .iter()
            .enumerate()
            .map(|(i, n)| NodeRow::of(i as u64, n))
            .collect();
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(find_node(&rows, &r.node_name), Some(i));
        }
        assert_eq!(find_node(&rows, "no-such-node"), None);
        let v = versions(&rows);
        assert_eq!(v.iter().map(|v| v.nodes).sum::<u64>(), 300);
    }

    #[test]
    fn a_tests_nodes_are_counted_per_cell() {
        let cells = [Cell::Fail, Cell::Pass, Cell::Fail, Cell::Missing];
        let counts = cell_counts(&cells);
        assert_eq!(counts[0], (Cell::Fail, 2));
        assert_eq!(counts[4], (Cell::Pass, 1));
        assert_eq!(counts[6], (Cell::Missing, 1));
        assert_eq!(nodes_in(&cells, Cell::Fail), [0, 2]);
        assert_eq!(parse_cell(Some("missing")).unwrap(), Cell::Missing);
        assert_eq!(parse_cell(None).unwrap(), Cell::Fail);
        assert_eq!(parse_cell(Some("x")).unwrap_err().status(), 400);
    }

    #[test]
    fn report_headers_start_names_ascending_and_times_descending() {
        let l = Links::default();
        let h = report_headers(&l, &[("reportName", "a".into())], ("endTime", true));
        let end = h.iter().find(|h| h.key == "endTime").unwrap();
        assert_eq!(end.aria, "descending");
        assert_eq!(end.href, "/reports?reportName=a&sortBy=endTime%2Fascending");
        let name = h.iter().find(|h| h.key == "reportName").unwrap();
        assert_eq!(
            name.href,
            "/reports?reportName=a&sortBy=reportName%2Fascending"
        );
        let start = h.iter().find(|h| h.key == "startTime").unwrap();
        assert_eq!(
            start.href,
            "/reports?reportName=a&sortBy=startTime%2Fdescending"
        );
    }

    #[test]
    fn not_observed_tests_fail_in_the_matrix_only_when_counted_as_failures() {
        let report = fixture_report(t("2026-11-25T00:00:00Z"));
        let mut node = report.cis_benchmark[0].clone();
        for s in &mut node.results {
            for t in &mut s.results {
                t.status = TestStatus::NotObserved;
            }
        }
        let mut b = TestMatrix::builder();
        b.add(std::slice::from_ref(&node));
        let m = b.finish();
        assert!(top_failed_from_matrix(&m, 5, NotObservedAs::Info).is_empty());
        assert!(top_failed_from_matrix(&m, 5, NotObservedAs::Pass).is_empty());
        let failed = top_failed_from_matrix(&m, 5, NotObservedAs::Fail);
        assert_eq!(failed.len(), 5);
        assert!(failed.iter().all(|(_, _, n)| *n == 1));
    }

    #[test]
    fn not_observed_has_its_own_label_class_and_tab() {
        let s = TestStatus::NotObserved;
        assert_eq!(status_label(&s), "not observed");
        assert_eq!(status_class(&s), "unobserved");
        assert_eq!(status_label(&TestStatus::Fail), "FAIL");
        assert_eq!(parse_cell(Some("unobserved")).unwrap(), Cell::NotObserved);
        let e = parse_cell(Some("nope")).unwrap_err();
        assert!(e.to_string().contains("unobserved"), "{e}");
        for a in [
            NotObservedAs::Info,
            NotObservedAs::Fail,
            NotObservedAs::Pass,
        ] {
            assert!(!not_observed_counting(a).is_empty());
        }
    }

    #[test]
    fn nodes_without_results_say_since_when() {
        assert_eq!(no_results_text(false, "2026-11-20T00:00:00Z"), "");
        assert_eq!(
            no_results_text(true, "2026-11-20T00:00:00Z"),
            "no results since 2026-11-20T00:00:00Z"
        );
        assert_eq!(no_results_text(true, ""), "never reported");
        let report = fixture_report(t("2026-11-25T00:00:00Z"));
        let mut node = report.cis_benchmark[0].clone();
        node.no_results = true;
        node.results.clear();
        node.last_result_time = Some(t("2026-11-20T06:00:00Z"));
        let line = NodeLine::of_node(&Links::default(), "r", 0, &node);
        assert_eq!(
            line.no_results_text(),
            "no results since 2026-11-20T06:00:00Z"
        );
    }

    #[test]
    fn provenance_not_recorded_is_none_never_an_error() {
        assert_eq!(report_provenance(None), None);
        let report = fixture_report(t("2026-11-25T00:00:00Z"));
        let mut node = report.cis_benchmark[0].clone();
        node.platform.clear();
        node.kube_bench_version.clear();
        let facts = node_provenance(&node);
        let platform = facts.iter().find(|f| f.key == "platform").unwrap();
        assert_eq!(platform.value, None);
        node.platform = "eks".into();
        assert_eq!(node_provenance(&node)[0].value.as_deref(), Some("eks"));
        let p = Provenance {
            reporter_version: "1.4.0".into(),
            query_start: t("2026-11-23T12:00:00Z"),
            query_end: t("2026-11-25T00:00:00Z"),
            cis: compliance_core::model::AppliedCisParams {
                high_threshold: 100,
                med_threshold: 50,
                include_unscored_tests: true,
                num_failed_tests: 5,
                not_observed_as: NotObservedAs::Fail,
            },
            expected_nodes_from: vec![],
        };
        let facts = report_provenance(Some(&p)).unwrap();
        let value = |k: &str| facts.iter().find(|f| f.key == k).unwrap().value.clone();
        assert_eq!(value("reporter").as_deref(), Some("1.4.0"));
        assert_eq!(
            value("look-back").as_deref(),
            Some("2026-11-23T12:00:00Z – 2026-11-25T00:00:00Z")
        );
        assert!(
            value("rules")
                .unwrap()
                .contains("not observed counted as fail")
        );
        assert_eq!(value("expected-nodes"), None);
    }
}
