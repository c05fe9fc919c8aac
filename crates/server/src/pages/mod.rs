//! The pages for people: server-rendered HTML over the same store and authorization as
//! the JSON API.
//!
//! Every page works without JavaScript (the script only submits a filter when a choice
//! changes) and loads nothing from elsewhere. Report text comes from the nodes, so it is
//! untrusted: templates escape everything ([`minijinja`]'s HTML auto-escaping, never
//! `|safe` on report data), and every response carries a CSP that forbids inline script
//! and style, so even a missed escape could not run. The data of each page is shaped in
//! [`view`]; the handlers here read the store and render.

pub mod assets;
pub mod changes;
mod print;
pub mod view;
pub mod waivers;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use compliance_core::model::{
    CisBenchmarkSummary, NotObservedAs, Provenance, TestStatus, WaiverOutcome,
};
use compliance_core::render::Download;
use compliance_core::time;
use compliance_store::{ReportHead, Store, StoreError};

use crate::auth::{Access, Subject};
use crate::params::{self, Pairs};
use crate::{ApiError, Server, api};
use view::{Links, NodeFilter, NodeLine, Pager};

/// The Content-Security-Policy of every page: only this server's stylesheet and script,
/// no inline script or style, no framing, forms only to this server.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
                       img-src 'self' data:; form-action 'self'; base-uri 'none'; \
                       frame-ancestors 'none'";

/// Reports per page of the list when the query does not say.
pub const REPORTS_PER_PAGE: u64 = 25;

/// The pages and their assets.
pub fn routes() -> axum::Router<Arc<Server>> {
    axum::Router::new()
        .route("/", get(reports))
        .route("/reports", get(reports))
        .route("/reports/{id}", get(report))
        .route("/reports/{id}/nodes/{node}", get(node))
        .route("/reports/{id}/tests/{number}", get(test))
        .route("/reports/{id}/print", get(print::print))
        .route("/reports/{id}/diff", get(diff))
        .route("/assets/{name}", get(assets::serve))
}

/// The templates, parsed once. Undefined variables are errors, so a template that
/// names a field the view does not have fails its test rather than printing nothing.
fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // minijinja's HTML escaping also writes `/` as `&#x2f;`, which makes every link
        // unreadable in the source and gains nothing: `<`, `>`, `&` and both quotes are
        // what can end a text or an attribute, and those are escaped here.
        env.set_formatter(|out, state, value| {
            if matches!(state.auto_escape(), AutoEscape::Html)
                && !value.is_safe()
                && let Some(text) = value.as_str()
            {
                return out
                    .write_str(&view::escape_html(text))
                    .map_err(minijinja::Error::from);
            }
            minijinja::escape_formatter(out, state, value)
        });
        for (name, source) in [
            ("base.html", include_str!("../../templates/base.html")),
            ("macros.html", include_str!("../../templates/macros.html")),
            ("reports.html", include_str!("../../templates/reports.html")),
            ("report.html", include_str!("../../templates/report.html")),
            ("node.html", include_str!("../../templates/node.html")),
            ("test.html", include_str!("../../templates/test.html")),
            ("diff.html", include_str!("../../templates/diff.html")),
            ("error.html", include_str!("../../templates/error.html")),
            (
                "print_head.html",
                include_str!("../../templates/print_head.html"),
            ),
            (
                "print_nodes.html",
                include_str!("../../templates/print_nodes.html"),
            ),
        ] {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name} does not parse: {e}"));
        }
        env
    })
}

/// Renders template `name` over `ctx` (HTML-escaped: every template name ends `.html`).
pub fn render(name: &str, ctx: &impl Serialize) -> Result<String, ApiError> {
    templates()
        .get_template(name)
        .and_then(|t| t.render(Value::from(Serde(ctx))))
        .map_err(|e| ApiError::Page(format!("{name}: {e:#}")))
}

/// What the layout around every page shows.
#[derive(Debug, Serialize)]
struct Layout {
    title: String,
    css: String,
    js: String,
    home: String,
    /// The cluster shown.
    cluster: String,
    /// The selector's choices; empty when there is only one cluster.
    clusters: Vec<Choice>,
}

#[derive(Debug, Serialize)]
struct Choice {
    name: String,
    selected: bool,
}

/// A page: the layout and the page's own data.
#[derive(Debug, Serialize)]
struct Page<'a, T> {
    layout: &'a Layout,
    page: T,
}

/// The security headers of an HTML response, with `csp` as its policy.
pub fn secure(mut response: Response, csp: &str) -> Response {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Pages show what RBAC allowed this user: no shared cache may keep them.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An HTML page with every security header.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(response, CSP)
}

/// A failed page request: the API's status policy, shown as an HTML page.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError(ApiError::from(e))
    }
}

#[derive(Serialize)]
struct ErrorView {
    status: u16,
    reason: &'static str,
    message: String,
    home: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = e.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), "{e}");
        }
        let layout = Layout {
            title: format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
            css: assets::css_href(),
            js: assets::js_href(),
            home: "/reports".into(),
            cluster: String::new(),
            clusters: Vec::new(),
        };
        let view = ErrorView {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message: e.to_string(),
            home: "/reports".into(),
        };
        let body = render(
            "error.html",
            &Page {
                layout: &layout,
                page: view,
            },
        )
        .unwrap_or_else(|r| {
            tracing::error!("{r}");
            format!("{status}\n")
        });
        let mut response = html(status, body);
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"compliance\""),
            );
        }
        response
    }
}

/// Who asks, in which cluster, and how this request's pages link to each other.
pub(crate) struct Reader {
    pub who: Subject,
    pub cluster: String,
    pub store: Store,
    pub links: Links,
    layout_clusters: Vec<String>,
}

impl Reader {
    /// Authenticates the request and picks its cluster (`x-cluster-id`, else `cluster=`).
    pub async fn open(server: &Server, headers: &HeaderMap, p: &Pairs) -> Result<Reader, ApiError> {
        let (who, cluster, store) = api::reader(server, headers, p.one("cluster")?).await?;
        let links = Links {
            cluster: (cluster != server.clusters.default_name()).then(|| cluster.clone()),
        };
        Ok(Reader {
            who,
            cluster,
            store,
            links,
            layout_clusters: server.clusters.names(),
        })
    }

    fn layout(&self, title: impl Into<String>) -> Layout {
        let clusters = view::cluster_choices(&self.layout_clusters, &self.cluster)
            .into_iter()
            .map(|(name, selected)| Choice { name, selected })
            .collect();
        Layout {
            title: title.into(),
            css: assets::css_href(),
            js: assets::js_href(),
            home: self.links.reports(),
            cluster: self.cluster.clone(),
            clusters,
        }
    }

    /// Renders `template` as the page titled `title`.
    fn page(
        &self,
        title: &str,
        template: &str,
        page: impl Serialize,
    ) -> Result<Response, PageError> {
        let layout = self.layout(title);
        let body = render(
            template,
            &Page {
                layout: &layout,
                page,
            },
        )?;
        Ok(html(StatusCode::OK, body))
    }
}

/// A report as a row of the list.
#[derive(Debug, Serialize)]
struct ReportRow {
    id: String,
    href: String,
    name: String,
    kind: String,
    start: String,
    end: String,
    generated: String,
    age: String,
    nodes: u64,
    high: u64,
    med: u64,
    low: u64,
    downloads: Vec<DownloadLink>,
    zip: Option<String>,
    /// False when RBAC does not let this user download the report's type: the links
    /// are left out rather than shown to fail.
    may_download: bool,
    print: String,
}

#[derive(Debug, Serialize)]
struct DownloadLink {
    name: String,
    description: String,
    href: String,
}

/// The report type's downloads, then those every report offers ([`Download::always`]).
fn downloads(links: &Links, head: &ReportHead) -> (Vec<DownloadLink>, Option<String>) {
    let templates = head
        .report_type_spec
        .download_templates
        .iter()
        .map(|t| (t.name.as_str(), t.description.as_str()));
    let always = Download::always()
        .iter()
        .map(|d| (d.file_name(), d.description()));
    let waivers = crate::download::offers_waivers(head).then_some((
        crate::download::WAIVERS_CSV,
        "every waived failure, with its waiver's reason, owner, ticket and expiry",
    ));
    let mut offered: Vec<(&str, &str)> = Vec::new();
    for (name, description) in templates.chain(always).chain(waivers) {
        if !offered.iter().any(|(n, _)| *n == name) {
            offered.push((name, description));
        }
    }
    let names: Vec<&str> = offered.iter().map(|(n, _)| *n).collect();
    let each = offered
        .iter()
        .map(|(name, description)| DownloadLink {
            name: name.to_string(),
            description: description.to_string(),
            href: links.download(&head.id, &[name]),
        })
        .collect();
    let zip = (names.len() > 1).then(|| links.download(&head.id, &names));
    (each, zip)
}

/// Whether `who` may download reports of type `kind` (`get globalreporttypes/<kind>`).
async fn may_download(server: &Server, who: &Subject, kind: &str) -> Result<bool, ApiError> {
    if server.auth.is_open() {
        return Ok(true);
    }
    server
        .auth
        .allowed(who, &Access::GetReportType(kind.to_string()))
        .await
}

impl ReportRow {
    fn of(links: &Links, head: &ReportHead, now: DateTime<Utc>) -> ReportRow {
        let (downloads, zip) = downloads(links, head);
        ReportRow {
            id: head.id.clone(),
            href: links.report(&head.id),
            name: head.report_name.clone(),
            kind: head.report_type_name.clone(),
            start: time::format(&head.start_time),
            end: time::format(&head.end_time),
            generated: time::format(&head.generation_time),
            age: view::age(head.generation_time, now),
            nodes: head.node_count,
            high: head.summary.high_count,
            med: head.summary.med_count,
            low: head.summary.low_count,
            downloads,
            zip,
            may_download: true,
            print: links.print(&head.id, false),
        }
    }
}

#[derive(Debug, Serialize)]
struct ReportsView {
    rows: Vec<ReportRow>,
    headers: Vec<view::SortHeader>,
    pages: view::PageLinks,
    form: ReportsForm,
    /// Whether any filter is set: an empty list then means "nothing matches", not "no
    /// reports yet".
    filtered: bool,
    clear: String,
}

#[derive(Debug, Serialize)]
struct ReportsForm {
    report_name: String,
    report_type_name: String,
    from_time: String,
    to_time: String,
    /// Kept as hidden fields so that filtering keeps the order and page size.
    hidden: Vec<(String, String)>,
}

/// The list's parameters a link to another page or order keeps.
const LIST_PARAMS: [&str; 6] = [
    "reportName",
    "reportTypeName",
    "fromTime",
    "toTime",
    "maxItems",
    "sortBy",
];

/// `GET /` and `GET /reports`: the reports, filtered, sorted and paged with the
/// parameters of the JSON list (docs/spec.md §9).
async fn reports(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let mut p = Pairs::parse(raw.as_deref());
    for (k, v) in &mut p.0 {
        if (k == "fromTime" || k == "toTime") && !v.is_empty() {
            *v = view::form_time(v);
        }
    }
    let r = Reader::open(&server, &headers, &p).await?;
    let mut query = params::report_query(&p)?;
    if p.one("maxItems")?.is_none() {
        query.max_items = REPORTS_PER_PAGE;
    }
    let (query, page) = api::list_visible(&server, &r.who, &r.store, query).await?;
    let now = Utc::now();
    let kept: Vec<(&str, String)> =
        p.0.iter()
            .filter(|(k, v)| LIST_PARAMS.contains(&k.as_str()) && !v.is_empty())
            .map(|(k, v)| {
                let k = LIST_PARAMS.iter().find(|n| **n == k).copied().unwrap_or("");
                (k, v.clone())
            })
            .collect();
    let current = query
        .sort
        .first()
        .map(|k| (k.field.key(), k.descending))
        .unwrap_or(("endTime", true));
    let pager = Pager::new(page.total, query.max_items, query.page);
    let first = |name: &str| {
        p.all(name)
            .find(|v| !v.is_empty())
            .unwrap_or("")
            .to_string()
    };
    let mut allowed: BTreeMap<&str, bool> = BTreeMap::new();
    for h in &page.reports {
        if !allowed.contains_key(h.report_type_name.as_str()) {
            let may = may_download(&server, &r.who, &h.report_type_name).await?;
            allowed.insert(&h.report_type_name, may);
        }
    }
    let rows = page
        .reports
        .iter()
        .map(|h| {
            let mut row = ReportRow::of(&r.links, h, now);
            if allowed.get(h.report_type_name.as_str()) == Some(&false) {
                row.downloads.clear();
                row.zip = None;
                row.may_download = false;
            }
            row
        })
        .collect();
    let view = ReportsView {
        rows,
        headers: view::report_headers(&r.links, &kept, current),
        pages: view::page_links(&r.links, "/reports", &kept, &pager),
        form: ReportsForm {
            report_name: first("reportName"),
            report_type_name: first("reportTypeName"),
            from_time: view::input_time(&first("fromTime")),
            to_time: view::input_time(&first("toTime")),
            hidden: kept
                .iter()
                .filter(|(k, _)| matches!(*k, "maxItems" | "sortBy"))
                .map(|(k, v)| (k.to_string(), v.clone()))
                .chain(
                    r.links
                        .cluster
                        .iter()
                        .map(|c| ("cluster".into(), c.clone())),
                )
                .collect(),
        },
        filtered: kept
            .iter()
            .any(|(k, _)| !matches!(*k, "maxItems" | "sortBy")),
        clear: r.links.reports(),
    };
    r.page("Reports", "reports.html", view)
}

#[derive(Debug, Serialize)]
struct Thresholds {
    high: u32,
    med: u32,
    include_unscored: bool,
    num_failed_tests: usize,
    filters: Vec<FilterLine>,
}

/// The report-level provenance of `head` (docs/spec.md §5 `provenance`): `None` for
/// Calico's reports and those of earlier releases, for which the pages say "not
/// recorded". Node provenance comes with each node and is shown where a page reads whole
/// nodes.
fn recorded_provenance(head: &ReportHead) -> Option<&Provenance> {
    head.provenance.as_ref()
}

/// How `head`'s report counted NOT_OBSERVED tests: as its provenance recorded, else as
/// its stored spec says, else the default.
pub(crate) fn not_observed_as(head: &ReportHead) -> NotObservedAs {
    match recorded_provenance(head) {
        Some(p) => p.cis.not_observed_as,
        None => head
            .report_spec
            .cis_params()
            .map(|c| c.not_observed_as)
            .unwrap_or_default(),
    }
}

#[derive(Debug, Serialize)]
struct FilterLine {
    selection: String,
    include: String,
    exclude: String,
}

#[derive(Debug, Serialize)]
struct ReportSummary {
    /// What the list shows of the report (flattened: the template reads `report.name`).
    #[serde(flatten)]
    row: ReportRow,
    cluster: String,
    bars: Vec<view::Bar>,
    /// The effective `spec.cis`, or why the stored spec does not resolve.
    thresholds: Option<Thresholds>,
    thresholds_error: String,
    print_all: String,
    /// Nodes expected but without a result in the look-back (counted in `low`).
    no_results: u64,
    /// `info`, `fail` or `pass`, and what that means, for the NOT_OBSERVED legend.
    not_observed_as: &'static str,
    not_observed_counting: &'static str,
    /// The report-level provenance; `None`: not recorded.
    provenance: Option<Vec<view::Fact>>,
    /// Failures a waiver accepted, on every node (left out of the ratings).
    waived: u64,
    /// The ratings had no waiver applied; `None` when no waiver changed any.
    without_waivers: Option<waivers::WithoutWaivers>,
    /// Every waiver that concerned the report, with what it did.
    waivers: Vec<waivers::WaiverLine>,
    waiver_counts: waivers::WaiverCounts,
}

impl ReportSummary {
    /// The summary of `head`'s report, whose waiver outcomes are `outcomes`.
    fn of(
        links: &Links,
        head: &ReportHead,
        outcomes: &[WaiverOutcome],
        now: DateTime<Utc>,
    ) -> ReportSummary {
        let CisBenchmarkSummary {
            high_count,
            med_count,
            low_count,
            ..
        } = head.summary;
        let (thresholds, thresholds_error) = match head.report_spec.cis_params() {
            Ok(c) => (
                Some(Thresholds {
                    high: c.high_threshold,
                    med: c.med_threshold,
                    include_unscored: c.include_unscored_tests,
                    num_failed_tests: c.num_failed_tests,
                    filters: c
                        .results_filters
                        .iter()
                        .map(|f| FilterLine {
                            selection: f
                                .benchmark_selection
                                .as_ref()
                                .and_then(|s| s.kubernetes_version.clone())
                                .map(|v| format!("Kubernetes {v}"))
                                .unwrap_or_else(|| "every node".into()),
                            include: f.include.join(", "),
                            exclude: f.exclude.join(", "),
                        })
                        .collect(),
                }),
                String::new(),
            ),
            Err(e) => (None, e.to_string()),
        };
        ReportSummary {
            row: ReportRow::of(links, head, now),
            cluster: head.cluster.clone(),
            bars: view::rating_bars(high_count, med_count, low_count),
            thresholds,
            thresholds_error,
            print_all: links.print(&head.id, true),
            no_results: head.summary.no_results_count,
            not_observed_as: not_observed_as(head).as_str(),
            not_observed_counting: view::not_observed_counting(not_observed_as(head)),
            provenance: view::report_provenance(recorded_provenance(head)),
            waived: head.summary.waived_count,
            without_waivers: waivers::without_waivers(&head.summary),
            waivers: waivers::lines(outcomes),
            waiver_counts: waivers::counts(outcomes),
        }
    }
}

/// The waiver outcomes of `head`'s report: every GlobalReportWaiver that concerned it,
/// as it was when the report was made.
pub(crate) fn report_waivers(head: &ReportHead) -> &[WaiverOutcome] {
    &head.waivers
}

/// The top failed tests of a report, as links: from the stored uiSummary, or counted
/// from the test matrix when the report has none.
async fn top_failed(
    server: &Server,
    r: &Reader,
    head: &ReportHead,
) -> Result<Vec<view::TopFailed>, ApiError> {
    let listed = match view::top_failed_from_ui_summary(&head.ui_summary) {
        Some(t) => t,
        None => {
            let limit = head
                .report_spec
                .cis_params()
                .map(|c| c.num_failed_tests)
                .unwrap_or(5);
            let m = server.indexes.matrix(&r.cluster, &r.store, head).await?;
            view::top_failed_from_matrix(&m, limit, not_observed_as(head))
        }
    };
    Ok(listed
        .into_iter()
        .map(|(number, description, failed)| view::TopFailed {
            href: r.links.test(&head.id, &number),
            number,
            description,
            failed,
        })
        .collect())
}

#[derive(Debug, Serialize)]
struct ReportView {
    report: ReportSummary,
    top_failed: Vec<view::TopFailed>,
    nodes: Vec<NodeLine>,
    headers: Vec<view::SortHeader>,
    pages: view::PageLinks,
    filter: NodeFilterForm,
    /// Nodes in the whole report (the filter may show fewer).
    all_nodes: u64,
    /// The diff page against the previous report of the GlobalReport; `None` for its
    /// first report.
    changes: Option<ChangesLink>,
}

/// "What changed since <previous>": the link, and the previous report.
#[derive(Debug, Serialize)]
struct ChangesLink {
    href: String,
    previous_id: String,
    previous_href: String,
    previous_end: String,
}

impl ChangesLink {
    fn of(links: &Links, head: &ReportHead, previous: &ReportHead) -> ChangesLink {
        ChangesLink {
            href: links.diff(&head.id, ""),
            previous_id: previous.id.clone(),
            previous_href: links.report(&previous.id),
            previous_end: time::format(&previous.end_time),
        }
    }
}

#[derive(Debug, Serialize)]
struct NodeFilterForm {
    action: String,
    q: String,
    statuses: Vec<Choice>,
    hidden: Vec<(String, String)>,
    clear: String,
}

/// `GET /reports/{id}`: the summary, top failed tests and the node table.
async fn report(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let p = Pairs::parse(raw.as_deref());
    let r = Reader::open(&server, &headers, &p).await?;
    let filter = NodeFilter::parse(&p)?;
    let head = api::readable_head(&server, &r.who, &r.store, &id).await?;
    let rows = server.indexes.rows(&r.cluster, &r.store, &head).await?;
    let (shown, pager) = filter.select(&rows, view::NODES_PER_PAGE);
    let path = format!("/reports/{}", view::segment(&head.id));
    let params = filter.params();
    let mut hidden: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| matches!(*k, "sort" | "dir"))
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    if let Some(c) = &r.links.cluster {
        hidden.push(("cluster".into(), c.clone()));
    }
    let mut summary = ReportSummary::of(&r.links, &head, report_waivers(&head), Utc::now());
    if !may_download(&server, &r.who, &head.report_type_name).await? {
        summary.row.downloads.clear();
        summary.row.zip = None;
        summary.row.may_download = false;
    }
    let view = ReportView {
        report: summary,
        top_failed: top_failed(&server, &r, &head).await?,
        nodes: shown
            .iter()
            .map(|row| NodeLine::of(&r.links, &head.id, row))
            .collect(),
        headers: view::node_headers(&r.links, &path, &filter),
        pages: view::page_links(&r.links, &path, &params, &pager),
        filter: NodeFilterForm {
            action: path.clone(),
            q: filter.name.clone(),
            statuses: ["HIGH", "MED", "LOW"]
                .into_iter()
                .map(|s| Choice {
                    name: s.to_string(),
                    selected: filter.statuses.iter().any(|f| f.as_str() == s),
                })
                .collect(),
            hidden,
            clear: r.links.report(&head.id),
        },
        all_nodes: rows.len() as u64,
        changes: {
            let heads = crate::findings::heads_of(&r.store, &head.report_name).await?;
            crate::findings::previous(&heads, &head).map(|p| ChangesLink::of(&r.links, &head, p))
        },
    };
    r.page(&head.report_name, "report.html", view)
}

#[derive(Debug, Serialize)]
struct NodeView {
    report: ReportSummary,
    node: NodeLine,
    /// "no results since …" or "never reported"; empty for a node with results.
    no_results: String,
    provenance: Vec<view::Fact>,
    sections: Vec<view::SectionLine>,
    groups: Vec<view::StatusGroup>,
    /// Whether any test of the node is NOT_OBSERVED: the page then explains it.
    any_unobserved: bool,
    history: History,
}

/// The lifecycle of findings over a GlobalReport's reports, as of its newest report.
#[derive(Debug, Serialize)]
struct History {
    lines: Vec<changes::HistoryLine>,
    failing: u64,
    resolved: u64,
    unknown: u64,
    /// The reports it was derived from.
    reports: usize,
    /// The newest of them: the lifecycle's "now".
    as_of_id: String,
    as_of_href: String,
    as_of_end: String,
    /// Whether the page shows an older report than that.
    older_page: bool,
    csv: String,
}

impl History {
    /// The history of `head`'s GlobalReport, `findings` of it shown.
    fn of(
        r: &Reader,
        head: &ReportHead,
        lifecycle: &compliance_core::report::Lifecycle,
        findings: &[compliance_core::report::FindingLifecycle],
        node: &str,
        test: &str,
    ) -> History {
        let (failing, resolved, unknown) = changes::state_counts(findings);
        let newest = lifecycle.reports().last();
        History {
            lines: changes::history_lines(&r.links, &head.id, findings),
            failing,
            resolved,
            unknown,
            reports: lifecycle.reports().len(),
            as_of_id: newest.map(|n| n.id.clone()).unwrap_or_default(),
            as_of_href: newest.map(|n| r.links.report(&n.id)).unwrap_or_default(),
            as_of_end: newest
                .map(|n| time::format(&n.end_time))
                .unwrap_or_default(),
            older_page: newest.is_some_and(|n| n.id != head.id),
            csv: r.links.findings_download(&head.report_name, node, test),
        }
    }
}

/// The lifecycle of `head`'s GlobalReport over every stored report of it.
async fn lifecycle_of(
    server: &Server,
    r: &Reader,
    head: &ReportHead,
) -> Result<Arc<compliance_core::report::Lifecycle>, ApiError> {
    let heads = r
        .store
        .report_series(
            &head.report_name,
            compliance_store::DEFAULT_LIFECYCLE_REPORTS,
        )
        .await?;
    server
        .lifecycles
        .lifecycle(&r.cluster, &r.store, &head.report_name, &heads)
        .await
}

/// `GET /reports/{id}/nodes/{node}`: one node's results, FAIL first.
async fn node(
    State(server): State<Arc<Server>>,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let p = Pairs::parse(raw.as_deref());
    let r = Reader::open(&server, &headers, &p).await?;
    let head = api::readable_head(&server, &r.who, &r.store, &id).await?;
    let rows = server.indexes.rows(&r.cluster, &r.store, &head).await?;
    let no_node = || ApiError::NotFound(format!("report {id:?} has no node {name:?}"));
    let row = view::find_node(&rows, &name)
        .map(|i| &rows[i])
        .ok_or_else(no_node)?;
    let node = r
        .store
        .report_nodes(&head.id, row.position, 1)
        .await?
        .and_then(|mut v| v.pop())
        .filter(|n| n.node_name == name)
        .ok_or_else(no_node)?;
    let line = NodeLine::of_node(&r.links, &head.id, row.position, &node);
    let outcomes = report_waivers(&head);
    let view = NodeView {
        report: ReportSummary::of(&r.links, &head, outcomes, Utc::now()),
        no_results: line.no_results_text(),
        node: line,
        provenance: view::node_provenance(&node),
        sections: view::sections(&node),
        groups: view::status_groups(&r.links, &head.id, &node, outcomes, |_| true),
        any_unobserved: node
            .results
            .iter()
            .flat_map(|s| &s.results)
            .any(|t| t.status == TestStatus::NotObserved),
        history: {
            let lifecycle = lifecycle_of(&server, &r, &head).await?;
            History::of(&r, &head, &lifecycle, &lifecycle.for_node(&name), &name, "")
        },
    };
    r.page(&format!("{name} — {}", head.report_name), "node.html", view)
}

#[derive(Debug, Serialize)]
struct Tab {
    key: &'static str,
    label: &'static str,
    count: u64,
    href: String,
    current: bool,
}

#[derive(Debug, Serialize)]
struct TestView {
    report: ReportSummary,
    number: String,
    section: String,
    section_desc: String,
    desc: String,
    info: String,
    scored: bool,
    tabs: Vec<Tab>,
    show: &'static str,
    show_label: &'static str,
    nodes: Vec<TestNode>,
    pages: view::PageLinks,
    /// FAILs of this test a waiver accepted (among the FAIL tab's nodes).
    waived: u64,
    /// The waivers that accepted a FAIL of this test, each once, by name.
    waivers: Vec<waivers::WaiverNote>,
    /// The test's findings over time, on every node; the list's rows carry theirs.
    history: History,
}

/// A node of a test's list, and the waiver that accepted its FAIL of the test.
#[derive(Debug, Serialize)]
struct TestNode {
    #[serde(flatten)]
    line: NodeLine,
    waiver: Option<String>,
    /// The node's finding of this test over time; `None` when it never failed.
    history: Option<changes::HistoryLine>,
}

/// `GET /reports/{id}/tests/{number}?show=fail|warn|unobserved|info|pass|other|missing`: which
/// nodes fail, pass or do not report one test.
async fn test(
    State(server): State<Arc<Server>>,
    Path((id, number)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let p = Pairs::parse(raw.as_deref());
    let r = Reader::open(&server, &headers, &p).await?;
    let show = view::parse_cell(p.one("show")?)?;
    let page = p.number("page", 0, u64::MAX)?;
    let head = api::readable_head(&server, &r.who, &r.store, &id).await?;
    let rows = server.indexes.rows(&r.cluster, &r.store, &head).await?;
    let matrix = server.indexes.matrix(&r.cluster, &r.store, &head).await?;
    let i = matrix.find(&number).ok_or_else(|| {
        ApiError::NotFound(format!("no node of report {id:?} reports test {number:?}"))
    })?;
    let entry = &matrix.tests[i];
    let cells = &matrix.cells[i];
    let path = format!(
        "/reports/{}/tests/{}",
        view::segment(&head.id),
        view::segment(&number)
    );
    let label = |c: crate::index::Cell| match c {
        crate::index::Cell::Missing => "Not reported",
        crate::index::Cell::Other => "Other",
        crate::index::Cell::NotObserved => "Not observed",
        c => c.as_str(),
    };
    let tabs = view::cell_counts(cells)
        .into_iter()
        .map(|(c, count)| Tab {
            key: view::cell_key(c),
            label: label(c),
            count,
            href: r
                .links
                .href(&path, &[("show", view::cell_key(c).to_string())]),
            current: c == show,
        })
        .collect();
    let positions = view::nodes_in(cells, show);
    let pager = Pager::new(positions.len() as u64, view::NAMES_PER_PAGE as u64, page);
    let lifecycle = lifecycle_of(&server, &r, &head).await?;
    let of_test = lifecycle.for_test(&number);
    let mut history = History::of(&r, &head, &lifecycle, &of_test, "", &number);
    let mut by_node: BTreeMap<String, changes::HistoryLine> = std::mem::take(&mut history.lines)
        .into_iter()
        .map(|l| (l.node.clone(), l))
        .collect();
    let nodes = pager
        .slice(&positions)
        .iter()
        .filter_map(|p| {
            rows.get(*p).map(|row| TestNode {
                line: NodeLine::of(&r.links, &head.id, row),
                waiver: matrix.waiver(i, *p).map(str::to_string),
                history: by_node.remove(&row.node_name),
            })
        })
        .collect();
    let outcomes = report_waivers(&head);
    let mut names: Vec<&str> = matrix.waivers[i].iter().map(|(_, w)| &**w).collect();
    names.sort_unstable();
    names.dedup();
    let view = TestView {
        report: ReportSummary::of(&r.links, &head, outcomes, Utc::now()),
        waived: matrix.waivers[i].len() as u64,
        history,
        waivers: names
            .into_iter()
            .map(|n| waivers::note(outcomes, n))
            .collect(),
        number: entry.number.clone(),
        section: entry.section.clone(),
        section_desc: entry.section_desc.clone(),
        desc: entry.desc.clone(),
        info: entry.info.clone(),
        scored: entry.scored,
        tabs,
        show: view::cell_key(show),
        show_label: label(show),
        nodes,
        pages: view::page_links(
            &r.links,
            &path,
            &[("show", view::cell_key(show).to_string())],
            &pager,
        ),
    };
    r.page(
        &format!("{number} — {}", head.report_name),
        "test.html",
        view,
    )
}

/// Whether a test status is one the printable report shows by default: what the report
/// counted as failed (FAIL, and NOT_OBSERVED when counted as failures).
fn is_fail(s: &TestStatus, not_observed_as: NotObservedAs) -> bool {
    compliance_core::report::counted_as(s, not_observed_as)
        == compliance_core::report::Counted::Fail
}

/// One side of a diff, as the diff page names it.
#[derive(Debug, Serialize)]
struct DiffSide {
    id: String,
    href: String,
    start: String,
    end: String,
}

impl DiffSide {
    fn of(links: &Links, r: &compliance_core::report::ReportRef) -> DiffSide {
        DiffSide {
            id: r.id.clone(),
            href: links.report(&r.id),
            start: time::format(&r.start_time),
            end: time::format(&r.end_time),
        }
    }
}

#[derive(Debug, Serialize)]
struct DiffView {
    report: ReportSummary,
    old: DiffSide,
    new: DiffSide,
    counts: compliance_core::report::DiffCounts,
    tabs: Vec<changes::Tab>,
    show: &'static str,
    show_label: &'static str,
    explain: &'static str,
    /// The failures of the list shown (empty when it shows node changes).
    findings: Vec<changes::ChangeLine>,
    /// The node changes (when it shows them).
    nodes: Vec<changes::NodeChangeLine>,
    pages: view::PageLinks,
    csv: String,
    nodes_csv: String,
    may_download: bool,
}

/// `GET /reports/{id}/diff[?against=OTHER][&show=new|resolved|persisting|newNode|gone|nodes][&page=N]`:
/// what changed between a report and the previous one of its GlobalReport (or `against`).
async fn diff(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let p = Pairs::parse(raw.as_deref());
    let r = Reader::open(&server, &headers, &p).await?;
    let show = changes::parse_show(p.one("show")?)?;
    let page = p.number("page", 0, u64::MAX)?;
    let against = p.one("against")?.unwrap_or("").to_string();
    let (head, other) = api::diff_pair(
        &server,
        &r.who,
        &r.store,
        &id,
        (!against.is_empty()).then_some(against.as_str()),
    )
    .await?;
    let a = server.indexes.findings(&r.cluster, &r.store, &head).await?;
    let b = server
        .indexes
        .findings(&r.cluster, &r.store, &other)
        .await?;
    let d = crate::findings::diff_forward(&a, &b);
    let path = format!("/reports/{}/diff", view::segment(&head.id));
    let (findings, nodes, pager) = match show {
        changes::Show::Findings(c) => {
            let (lines, pager) = changes::change_lines(&d, &r.links, c, page);
            (lines, Vec::new(), pager)
        }
        changes::Show::Nodes => {
            let (lines, pager) = changes::node_lines(&d, &r.links, page);
            (Vec::new(), lines, pager)
        }
    };
    let view = DiffView {
        report: ReportSummary::of(&r.links, &head, report_waivers(&head), Utc::now()),
        old: DiffSide::of(&r.links, &d.old),
        new: DiffSide::of(&r.links, &d.new),
        counts: d.counts,
        tabs: changes::tabs(&d, &r.links, &path, &against, show),
        show: show.key(),
        show_label: show.label(),
        explain: show.explain(),
        findings,
        nodes,
        pages: changes::pages(&r.links, &path, &against, show, &pager),
        csv: r.links.diff_download(&head.id, &other.id, api::DIFF_CSV),
        nodes_csv: r
            .links
            .diff_download(&head.id, &other.id, api::DIFF_NODES_CSV),
        may_download: may_download(&server, &r.who, &head.report_type_name).await?,
    };
    r.page(
        &format!("Changes — {}", head.report_name),
        "diff.html",
        view,
    )
}
