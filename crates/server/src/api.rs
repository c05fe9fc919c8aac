//! The JSON API of docs/spec.md §9, with Calico's paths and answers.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use compliance_core::report::{FindingLifecycle, ReportDiff, ReportRef};
use compliance_core::time;
use compliance_store::{DEFAULT_LIFECYCLE_REPORTS, ReportHead, ReportQuery, Store};

use crate::auth::{self, Access, Subject, Visible};
use crate::params::{self, Pairs};
use crate::{ApiError, Server, clusters, download, findings};

/// The API's routes.
pub fn routes() -> axum::Router<Arc<Server>> {
    axum::Router::new()
        .route("/compliance/version", get(version))
        .route("/compliance/reports", get(list))
        .route("/compliance/reports/{id}/download", get(download))
        .route("/compliance/reports/{id}/diff", get(report_diff))
        .route("/compliance/findings", get(findings))
        .route("/metrics", get(crate::metrics::handler))
}

/// `GET /compliance/version`: no authentication.
async fn version(State(server): State<Arc<Server>>) -> Json<crate::BuildInfo> {
    Json(server.build.clone())
}

/// One report in the list.
#[derive(Debug, Serialize, PartialEq)]
pub struct ReportItem {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "startTime")]
    pub start_time: String,
    #[serde(rename = "endTime")]
    pub end_time: String,
    /// The stored UI summary, parsed; `null` when it is not JSON (logged).
    #[serde(rename = "uiSummary")]
    pub ui_summary: serde_json::Value,
    #[serde(rename = "downloadUrl")]
    pub download_url: String,
    #[serde(rename = "downloadFormats")]
    pub download_formats: Vec<DownloadFormat>,
    #[serde(rename = "generationTime")]
    pub generation_time: String,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct DownloadFormat {
    pub name: String,
    pub description: String,
}

/// The list's answer.
#[derive(Debug, Serialize, PartialEq)]
pub struct ReportList {
    pub reports: Vec<ReportItem>,
    pub page: u64,
    /// Every report matching the filters (that the caller may see), on any page.
    pub count: u64,
}

/// The path of a report's downloads.
pub fn download_path(id: &str) -> String {
    format!(
        "/compliance/reports/{}/download",
        percent_encoding::utf8_percent_encode(id, SEGMENT)
    )
}

/// What a path segment escapes: everything but RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl ReportItem {
    pub fn of(head: &ReportHead) -> ReportItem {
        let ui_summary = serde_json::from_str(&head.ui_summary).unwrap_or_else(|e| {
            tracing::warn!(report = %head.id, "the stored uiSummary is not JSON: {e}");
            serde_json::Value::Null
        });
        ReportItem {
            id: head.id.clone(),
            name: head.report_name.clone(),
            kind: head.report_type_name.clone(),
            start_time: time::format(&head.start_time),
            end_time: time::format(&head.end_time),
            ui_summary,
            download_url: download_path(&head.id),
            download_formats: head
                .report_type_spec
                .download_templates
                .iter()
                .map(|t| DownloadFormat {
                    name: t.name.clone(),
                    description: t.description.clone(),
                })
                .chain(
                    compliance_core::render::Download::always()
                        .iter()
                        .filter(|d| {
                            !head
                                .report_type_spec
                                .download_templates
                                .iter()
                                .any(|t| t.name == d.file_name())
                        })
                        .map(|d| DownloadFormat {
                            name: d.file_name().to_string(),
                            description: d.description().to_string(),
                        }),
                )
                .collect(),
            generation_time: time::format(&head.generation_time),
        }
    }
}

/// The query limited to what the caller may see: `None` when that is nothing at all.
pub fn restrict(mut query: ReportQuery, visible: &Visible) -> Option<ReportQuery> {
    let Visible::Only(names) = visible else {
        return Some(query);
    };
    if query.report_names.is_empty() {
        query.report_names = names.iter().cloned().collect();
    } else {
        query.report_names.retain(|n| names.contains(n));
    }
    (!query.report_names.is_empty()).then_some(query)
}

/// The caller, the cluster's store and the reports the caller may see: what every read
/// of the report list starts with.
pub async fn reader(
    server: &Server,
    headers: &HeaderMap,
    cluster_param: Option<&str>,
) -> Result<(Subject, String, Store), ApiError> {
    let who = server.auth.authenticate(headers).await?;
    let (cluster, store) = server
        .clusters
        .store(clusters::requested(headers, cluster_param)?.as_deref())?;
    Ok((who, cluster, store))
}

/// Which reports `who` may see in `store`.
pub async fn visible(server: &Server, who: &Subject, store: &Store) -> Result<Visible, ApiError> {
    let store = store.clone();
    auth::visible_reports(&server.auth, who, move || {
        Box::pin(async move { Ok(store.report_names().await?) })
    })
    .await
}

/// A page of reports `who` may see.
pub async fn list_visible(
    server: &Server,
    who: &Subject,
    store: &Store,
    query: ReportQuery,
) -> Result<(ReportQuery, compliance_store::ReportPage), ApiError> {
    let visible = visible(server, who, store).await?;
    match restrict(query.clone(), &visible) {
        Some(q) => {
            let page = store.list_reports(&q).await?;
            Ok((query, page))
        }
        None => Ok((query, compliance_store::ReportPage::default())),
    }
}

/// `GET /compliance/reports`.
async fn list(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<ReportList>, ApiError> {
    let (who, _, store) = reader(&server, &headers, None).await?;
    let query = params::report_query(&Pairs::parse(raw.as_deref()))?;
    let (query, page) = list_visible(&server, &who, &store, query).await?;
    Ok(Json(ReportList {
        reports: page.reports.iter().map(ReportItem::of).collect(),
        page: query.page,
        count: page.total,
    }))
}

/// The head of report `id` if `who` may see it: 404 when there is no such report, 403
/// when RBAC does not allow `get` on its GlobalReport.
pub async fn readable_head(
    server: &Server,
    who: &Subject,
    store: &Store,
    id: &str,
) -> Result<ReportHead, ApiError> {
    let head = store
        .report_head(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no report with id {id:?}")))?;
    may_read(server, who, &head.report_name).await?;
    Ok(head)
}

/// Refuses unless `who` may read the reports of GlobalReport `name`: `get` on it (or on
/// every GlobalReport).
pub async fn may_read(server: &Server, who: &Subject, name: &str) -> Result<(), ApiError> {
    if !server.auth.is_open() && !server.auth.allowed(who, &Access::GetAllReports).await? {
        auth::require(&server.auth, who, Access::GetReport(name.to_string())).await?;
    }
    Ok(())
}

/// The two reports a diff compares, the one asked for (`id`) and the other: `against`
/// when given (a report of the same GlobalReport), else the previous report of its
/// GlobalReport by `endTime`. 404 for an unknown id (naming `against` for that one), 400
/// for a report of another GlobalReport, 404 when `id` is the first of its GlobalReport
/// and nothing was named.
pub async fn diff_pair(
    server: &Server,
    who: &Subject,
    store: &Store,
    id: &str,
    against: Option<&str>,
) -> Result<(ReportHead, ReportHead), ApiError> {
    let head = readable_head(server, who, store, id).await?;
    let other = match against {
        Some(a) => {
            let other = store
                .report_head(a)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("against: no report with id {a:?}")))?;
            findings::check_against(&head, &other)?;
            other
        }
        None => {
            let heads = findings::heads_of(store, &head.report_name).await?;
            findings::previous(&heads, &head).cloned().ok_or_else(|| {
                ApiError::NotFound(format!(
                    "report {id:?} is the first of GlobalReport {:?}: there is no previous \
                     report to compare it with (name one with against=ID)",
                    head.report_name
                ))
            })?
        }
    };
    Ok((head, other))
}

/// What `format` a diff or findings request asks for: JSON (the default) or one CSV.
fn csv_format(p: &Pairs, csvs: &[&'static str]) -> Result<Option<&'static str>, ApiError> {
    match p.one("format")? {
        None | Some("json") => Ok(None),
        Some(f) => csvs
            .iter()
            .find(|c| **c == f)
            .map(|c| Some(*c))
            .ok_or_else(|| {
                ApiError::bad(
                    "format",
                    f,
                    format!("must be json or {}", csvs.join(" or ")),
                )
            }),
    }
}

/// `GET /compliance/reports/{id}/diff[?against=OTHER][&format=json|diff.csv|diff-nodes.csv]`:
/// what changed from the older of the two reports to the newer ([`ReportDiff`]).
async fn report_diff(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = Pairs::parse(raw.as_deref());
    let (who, cluster, store) = reader(&server, &headers, pairs.one("cluster")?).await?;
    let format = csv_format(&pairs, &[DIFF_CSV, DIFF_NODES_CSV])?;
    let (head, other) = diff_pair(&server, &who, &store, &id, pairs.one("against")?).await?;
    let a = server.indexes.findings(&cluster, &store, &head).await?;
    let b = server.indexes.findings(&cluster, &store, &other).await?;
    let d = findings::diff_forward(&a, &b);
    match format {
        None => Ok(Json(d).into_response()),
        Some(f) => {
            may_download(&server, &who, &head).await?;
            let mut body = Vec::new();
            if f == DIFF_CSV {
                compliance_core::render::write_diff_csv(&d, &mut body)?;
            } else {
                compliance_core::render::write_diff_nodes_csv(&d, &mut body)?;
            }
            let name = download::file_name(&head, &diff_file(&d, f));
            Ok(download::whole(name, f, body))
        }
    }
}

/// `diff.csv` downloads name the older report's end: `diff-since-<end>.csv`.
pub fn diff_file(d: &ReportDiff, format: &str) -> String {
    format!(
        "{}-since-{}.csv",
        format.trim_end_matches(".csv"),
        download::stamp(&d.old.end_time)
    )
}

/// The diff's downloads.
pub const DIFF_CSV: &str = "diff.csv";
pub const DIFF_NODES_CSV: &str = "diff-nodes.csv";
/// The lifecycle download of a GlobalReport.
pub const FINDINGS_CSV: &str = "findings.csv";

/// The answer of `GET /compliance/findings`.
#[derive(Debug, Serialize)]
pub struct FindingsAnswer {
    #[serde(rename = "reportName")]
    pub report_name: String,
    /// The reports the lifecycle was derived from, oldest first.
    pub reports: Vec<ReportRef>,
    /// Sorted by node, then test number.
    pub findings: Vec<FindingLifecycle>,
}

/// `GET /compliance/findings?reportName=NAME[&node=N][&test=T][&reports=N][&format=json|findings.csv]`:
/// the lifecycle of every finding over the latest `reports` (default 30, like
/// `compliancectl`) reports of a GlobalReport, or of one node's or one test's.
async fn findings(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = Pairs::parse(raw.as_deref());
    let (who, cluster, store) = reader(&server, &headers, pairs.one("cluster")?).await?;
    let format = csv_format(&pairs, &[FINDINGS_CSV])?;
    let name = pairs
        .one("reportName")?
        .ok_or_else(|| ApiError::bad("reportName", "", "is required: the GlobalReport's name"))?;
    let node = pairs.one("node")?;
    let test = pairs.one("test")?;
    let reports = pairs.number(
        "reports",
        DEFAULT_LIFECYCLE_REPORTS,
        findings::MAX_LIFECYCLE_REPORTS,
    )?;
    if reports == 0 {
        return Err(ApiError::bad("reports", "0", "must be at least 1"));
    }
    may_read(&server, &who, name).await?;
    let heads = store.report_series(name, reports).await?;
    let Some(newest) = heads.last() else {
        return Err(ApiError::NotFound(format!(
            "reportName: GlobalReport {name:?} has no stored report"
        )));
    };
    let lifecycle = server
        .lifecycles
        .lifecycle(&cluster, &store, name, &heads)
        .await?;
    let mut list = match (node, test) {
        (Some(n), _) => lifecycle.for_node(n),
        (None, Some(t)) => lifecycle.for_test(t),
        (None, None) => lifecycle.findings(),
    };
    if let (Some(_), Some(t)) = (node, test) {
        list.retain(|f| f.test_number == t);
    }
    match format {
        None => Ok(Json(FindingsAnswer {
            report_name: name.to_string(),
            reports: lifecycle.reports().to_vec(),
            findings: list,
        })
        .into_response()),
        Some(_) => {
            may_download(&server, &who, newest).await?;
            let mut body = Vec::new();
            compliance_core::render::write_findings_csv(&list, &mut body)?;
            let name = format!("{}-{FINDINGS_CSV}", download::lifecycle_base_name(newest));
            Ok(download::whole(name, FINDINGS_CSV, body))
        }
    }
}

/// Refuses a download unless `who` may `get` the report's type.
pub async fn may_download(
    server: &Server,
    who: &Subject,
    head: &ReportHead,
) -> Result<(), ApiError> {
    auth::require(
        &server.auth,
        who,
        Access::GetReportType(head.report_type_name.clone()),
    )
    .await
}

/// `GET /compliance/reports/{id}/download?format=F[&format=G…][&cluster=C]`.
async fn download(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = Pairs::parse(raw.as_deref());
    // The pages link here with `cluster=` when they show another cluster than the
    // default: a report of the same name and window has the same id in every cluster.
    let (who, _, store) = reader(&server, &headers, pairs.one("cluster")?).await?;
    let formats = params::formats(&pairs)?;
    let head = readable_head(&server, &who, &store, &id).await?;
    may_download(&server, &who, &head).await?;
    let downloads = download::resolve(&head, &formats)?;
    Ok(download::respond(store, head, downloads).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn restricting_keeps_only_visible_names() {
        let only = |names: &[&str]| {
            Visible::Only(names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>())
        };
        let q = ReportQuery::default();
        assert_eq!(restrict(q.clone(), &Visible::All), Some(q.clone()));
        assert_eq!(restrict(q.clone(), &only(&[])), None);
        assert_eq!(
            restrict(q.clone(), &only(&["a", "b"]))
                .unwrap()
                .report_names,
            ["a", "b"]
        );
        let asked = ReportQuery {
            report_names: vec!["b".into(), "c".into()],
            ..ReportQuery::default()
        };
        assert_eq!(
            restrict(asked.clone(), &only(&["a", "b"]))
                .unwrap()
                .report_names,
            ["b"]
        );
        assert_eq!(restrict(asked, &only(&["a"])), None);
    }

    #[test]
    fn download_paths_escape_the_id() {
        assert_eq!(
            download_path("daily_cis-benchmark_1a2b"),
            "/compliance/reports/daily_cis-benchmark_1a2b/download"
        );
        assert_eq!(
            download_path("a/b c"),
            "/compliance/reports/a%2Fb%20c/download"
        );
    }
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod api_tests;
