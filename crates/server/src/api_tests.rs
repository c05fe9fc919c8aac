//! The JSON API end to end through the router, on SQLite and the fake Elasticsearch:
//! every parameter of docs/spec.md §9, bad ones included, the answers' shape, downloads
//! byte for byte, and the authorization rules with a fixed policy.

use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use compliance_core::model::ReportDocument;
use compliance_core::render::{Download, write_download};
use compliance_store::{ElasticConfig, ElasticStore, OpenMode, SqliteStore, Store};
use compliance_testkit::fake_es::FakeEs;
use compliance_testkit::fixtures::t;
use compliance_testkit::reports::fixture_report;

use crate::auth::{Access, Auth, FixedPolicy};
use crate::clusters::Clusters;
use crate::{Server, router};

/// Keeps the backing store alive for a test.
enum Backing {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Es(#[allow(dead_code)] FakeEs),
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Sqlite,
    Es,
}

/// Reports of three GlobalReports and two types over several days, ids predictable.
fn reports() -> Vec<ReportDocument> {
    let mut out = Vec::new();
    for (i, (name, kind, end)) in [
        ("daily-cis-results", "cis-benchmark", "2026-11-23T00:00:00Z"),
        ("daily-cis-results", "cis-benchmark", "2026-11-24T00:00:00Z"),
        ("daily-cis-results", "cis-benchmark", "2026-11-25T00:00:00Z"),
        ("weekly-cis", "cis-weekly", "2026-11-22T00:00:00Z"),
        ("prod-nodes", "cis-benchmark", "2026-11-24T12:00:00Z"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = fixture_report(t(end));
        r.report_name = name.into();
        r.report_type_name = kind.into();
        r.id = format!("{name}_{kind}_{i}");
        if name == "weekly-cis" {
            r.start_time = t("2026-11-15T00:00:00Z");
        }
        r.generation_time = r.end_time + chrono::Duration::minutes(i as i64);
        out.push(r);
    }
    out
}

async fn store_of(kind: Kind, suffix: &str) -> (Store, Backing) {
    match kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let s = SqliteStore::open(dir.path().join("c.db"), OpenMode::Create).unwrap();
            (s.into(), Backing::Sqlite(dir))
        }
        Kind::Es => {
            let es = FakeEs::start();
            let mut config = ElasticConfig::new(url::Url::parse(&es.url()).unwrap());
            config.index_suffix = suffix.into();
            let s = ElasticStore::connect(&config).unwrap();
            (s.into(), Backing::Es(es))
        }
    }
}

struct Env {
    router: axum::Router,
    reports: Vec<ReportDocument>,
    /// The reports as the store gives them back, which is what the exports render.
    stored: Vec<ReportDocument>,
    _backing: Backing,
}

async fn env(kind: Kind, auth: Auth) -> Env {
    env_with(kind, auth, reports()).await
}

async fn env_with(kind: Kind, auth: Auth, reports: Vec<ReportDocument>) -> Env {
    let (store, backing) = store_of(kind, "cluster").await;
    let mut stored = Vec::new();
    for r in &reports {
        store.put_report(r).await.unwrap();
        stored.push(store.get_report(&r.id).await.unwrap().unwrap());
    }
    let server = Server::new(Clusters::single("cluster", store), auth);
    Env {
        router: router(Arc::new(server)),
        reports,
        stored,
        _backing: backing,
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn get_with(router: &axum::Router, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(router: &axum::Router, path: &str) -> Answer {
    get_with(router, path, &[]).await
}

fn ids(answer: &Answer) -> Vec<String> {
    answer.json()["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

const BOTH: [Kind; 2] = [Kind::Sqlite, Kind::Es];

#[tokio::test(flavor = "multi_thread")]
async fn version_answers_without_authentication() {
    let e = env(Kind::Sqlite, Auth::Fixed(FixedPolicy::default())).await;
    let a = get(&e.router, "/compliance/version").await;
    assert_eq!(a.status, 200);
    let v = a.json();
    for key in ["version", "buildDate", "gitTagRef", "gitCommit"] {
        assert!(v[key].is_string(), "{key} in {v}");
    }
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test(flavor = "multi_thread")]
async fn list_items_have_the_shape_of_spec_9() {
    for kind in BOTH {
        let e = env(kind, Auth::Open).await;
        let a = get(&e.router, "/compliance/reports?reportName=weekly-cis").await;
        assert_eq!(a.status, 200, "{kind:?}: {}", a.text());
        assert_eq!(a.headers[header::CONTENT_TYPE], "application/json");
        let v = a.json();
        assert_eq!(v["page"], 0);
        assert_eq!(v["count"], 1);
        let item = &v["reports"][0];
        let r = &e.reports[3];
        assert_eq!(item["id"], r.id.as_str());
        assert_eq!(item["name"], "weekly-cis");
        assert_eq!(item["type"], "cis-weekly");
        assert_eq!(item["startTime"], "2026-11-15T00:00:00Z");
        assert_eq!(item["endTime"], "2026-11-22T00:00:00Z");
        assert_eq!(item["generationTime"], "2026-11-22T00:03:00Z");
        assert_eq!(
            item["uiSummary"],
            serde_json::from_str::<Value>(&r.ui_summary).unwrap(),
            "uiSummary is the stored JSON, parsed"
        );
        assert_eq!(
            item["downloadUrl"],
            format!("/compliance/reports/{}/download", r.id)
        );
        let formats: Vec<&str> = item["downloadFormats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            formats,
            [
                "total-summary.csv",
                "node-summary.csv",
                "failed-tests.csv",
                "all-tests.csv",
                "node-provenance.csv"
            ]
        );
        assert!(item["downloadFormats"][0]["description"].is_string());
        let keys: Vec<&String> = item.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 9, "{keys:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn list_filters_by_name_type_and_time() {
    for kind in BOTH {
        let e = env(kind, Auth::Open).await;
        let q = |s: &'static str| {
            let router = e.router.clone();
            async move { get(&router, s).await }
        };
        let a = q("/compliance/reports?reportName=weekly-cis&reportName=prod-nodes").await;
        assert_eq!(
            ids(&a),
            ["prod-nodes_cis-benchmark_4", "weekly-cis_cis-weekly_3"],
            "{kind:?}"
        );
        let a = q("/compliance/reports?reportTypeName=cis-weekly").await;
        assert_eq!(ids(&a), ["weekly-cis_cis-weekly_3"]);
        // A report matches when its start or its end lies in the range (both ends
        // inclusive), not when its window merely spans the range: the day of
        // 24T00-25T00 is not listed.
        let a = q("/compliance/reports?fromTime=2026-11-24T06:00:00Z&toTime=2026-11-24T12:00:00Z")
            .await;
        assert_eq!(ids(&a), ["prod-nodes_cis-benchmark_4"]);
        let a = q("/compliance/reports?fromTime=2026-11-24T12:00:00Z&toTime=2026-11-25T00:00:00Z")
            .await;
        assert_eq!(
            ids(&a),
            [
                "daily-cis-results_cis-benchmark_2",
                "prod-nodes_cis-benchmark_4"
            ]
        );
        let a = q("/compliance/reports?toTime=2026-11-16T00:00:00Z").await;
        assert_eq!(ids(&a), ["weekly-cis_cis-weekly_3"]);
        assert_eq!(a.json()["count"], 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn list_pages_and_counts_every_match() {
    for kind in BOTH {
        let e = env(kind, Auth::Open).await;
        let mut seen = Vec::new();
        for page in 0..3 {
            let a = get(
                &e.router,
                &format!("/compliance/reports?maxItems=2&page={page}&sortBy=endTime/ascending"),
            )
            .await;
            assert_eq!(a.json()["count"], 5, "{kind:?}");
            assert_eq!(a.json()["page"], page);
            seen.extend(ids(&a));
        }
        assert_eq!(
            seen,
            [
                "weekly-cis_cis-weekly_3",
                "daily-cis-results_cis-benchmark_0",
                "daily-cis-results_cis-benchmark_1",
                "prod-nodes_cis-benchmark_4",
                "daily-cis-results_cis-benchmark_2",
            ]
        );
        let none = get(&e.router, "/compliance/reports?maxItems=0").await;
        assert_eq!(
            (ids(&none).len(), none.json()["count"].clone()),
            (0, Value::from(5))
        );
        let beyond = get(&e.router, "/compliance/reports?page=9").await;
        assert_eq!(
            (ids(&beyond).len(), beyond.json()["count"].clone()),
            (0, Value::from(5))
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn list_sorts_by_every_field_both_ways_descending_by_default() {
    for kind in BOTH {
        let e = env(kind, Auth::Open).await;
        let default = ids(&get(&e.router, "/compliance/reports").await);
        assert_eq!(
            default[0], "daily-cis-results_cis-benchmark_2",
            "newest window first"
        );
        for field in [
            "reportName",
            "reportTypeName",
            "generationTime",
            "startTime",
            "endTime",
        ] {
            let desc = ids(&get(&e.router, &format!("/compliance/reports?sortBy={field}")).await);
            let explicit = ids(&get(
                &e.router,
                &format!("/compliance/reports?sortBy={field}/descending"),
            )
            .await);
            assert_eq!(desc, explicit, "{kind:?} {field}");
            let asc = ids(&get(
                &e.router,
                &format!("/compliance/reports?sortBy={field}/ascending"),
            )
            .await);
            let key = |id: &String| {
                let r = e.reports.iter().find(|r| &r.id == id).unwrap();
                match field {
                    "reportName" => r.report_name.clone(),
                    "reportTypeName" => r.report_type_name.clone(),
                    "generationTime" => r.generation_time.to_rfc3339(),
                    "startTime" => r.start_time.to_rfc3339(),
                    _ => r.end_time.to_rfc3339(),
                }
            };
            let asc_keys: Vec<String> = asc.iter().map(key).collect();
            let mut sorted = asc_keys.clone();
            sorted.sort();
            assert_eq!(asc_keys, sorted, "{kind:?} {field} ascending");
            let desc_keys: Vec<String> = desc.iter().map(key).collect();
            sorted.reverse();
            assert_eq!(desc_keys, sorted, "{kind:?} {field} descending");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_parameter_is_a_400_naming_it() {
    let e = env(Kind::Sqlite, Auth::Open).await;
    for (query, name) in [
        ("page=x", "page"),
        ("maxItems=-3", "maxItems"),
        ("maxItems=99999", "maxItems"),
        ("fromTime=monday", "fromTime"),
        ("toTime=2026-11-24", "toTime"),
        ("sortBy=colour", "sortBy"),
        ("sortBy=endTime/sideways", "sortBy"),
    ] {
        let a = get(&e.router, &format!("/compliance/reports?{query}")).await;
        assert_eq!(a.status, 400, "{query}");
        assert!(
            a.text().starts_with(&format!("invalid {name} ")),
            "{query}: {}",
            a.text()
        );
    }
    let id = &e.reports[0].id;
    for (query, starts) in [
        ("", "invalid format \"\""),
        ("format=report.pdf", "invalid format \"report.pdf\""),
        // The CLI's short names are not download names.
        ("format=junit", "invalid format \"junit\""),
        (
            "format=node-summary.csv&format=nope",
            "invalid format \"nope\"",
        ),
    ] {
        let a = get(
            &e.router,
            &format!("/compliance/reports/{id}/download?{query}"),
        )
        .await;
        assert_eq!(a.status, 400, "{query}");
        assert!(a.text().starts_with(starts), "{query}: {}", a.text());
    }
    let a = get(
        &e.router,
        "/compliance/reports/no-such-id/download?format=all-tests.csv",
    )
    .await;
    assert_eq!(a.status, 404);
    assert!(a.text().contains("no-such-id"));
}

fn rendered(r: &ReportDocument, d: Download) -> Vec<u8> {
    let mut out = Vec::new();
    write_download(d, r, &mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn one_format_downloads_the_file_exactly_as_rendered() {
    for kind in BOTH {
        let e = env(kind, Auth::Open).await;
        let r = &e.reports[2];
        for d in Download::all()
            .iter()
            .chain(Download::always())
            .chain(Download::exports())
        {
            let a = get(
                &e.router,
                &format!(
                    "/compliance/reports/{}/download?format={}",
                    r.id,
                    d.file_name()
                ),
            )
            .await;
            assert_eq!(a.status, 200, "{kind:?} {d}: {}", a.text());
            assert_eq!(
                a.headers[header::CONTENT_DISPOSITION],
                format!(
                    "attachment; filename=\"cis-benchmark_daily-cis-results_20261124000000-20261125000000-{}\"",
                    d.file_name()
                )
            );
            let expected_type = if d.file_name().ends_with(".csv") {
                "text/csv; charset=utf-8"
            } else if d.file_name().ends_with(".xml") {
                "application/xml"
            } else {
                "application/json"
            };
            assert_eq!(a.headers[header::CONTENT_TYPE], expected_type);
            // The exports render the whole report as read back from the store.
            let source = if d.is_export() { &e.stored[2] } else { r };
            let expected = String::from_utf8(rendered(source, *d)).unwrap();
            if let Some((i, (got, want))) = a
                .text()
                .lines()
                .zip(expected.lines())
                .enumerate()
                .find(|(_, (g, w))| g != w)
            {
                panic!("{kind:?} {d}: line {}\n got: {got}\nwant: {want}", i + 1);
            }
            assert_eq!(a.text(), expected, "{kind:?} {d}");
        }
    }
}

/// `node-provenance.csv` is offered by every report, also by one whose type (Calico's)
/// lists only some of the five, and it is a row per node in report order.
#[tokio::test(flavor = "multi_thread")]
async fn every_report_offers_its_node_provenance() {
    for kind in BOTH {
        let e = env(kind, Auth::Open).await;
        let r = &e.reports[2];
        let a = get(
            &e.router,
            &format!(
                "/compliance/reports/{}/download?format=node-provenance.csv",
                r.id
            ),
        )
        .await;
        assert_eq!(a.status, 200, "{kind:?}: {}", a.text());
        assert_eq!(a.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
        let text = a.text();
        let mut lines = text.split("\r\n");
        assert_eq!(
            lines.next(),
            Some(
                "node,platform,benchmark,kubernetesVersion,kubeBenchVersion,benchmarkerVersion,benchmarkChoice,lastResultTime,noResults"
            )
        );
        let names: Vec<&str> = lines
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').next().unwrap())
            .collect();
        let expected: Vec<&str> = r
            .cis_benchmark
            .iter()
            .map(|n| n.node_name.as_str())
            .collect();
        assert_eq!(names, expected, "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn several_formats_download_as_one_zip() {
    for kind in BOTH {
        let e = env(kind, Auth::Open).await;
        let r = &e.reports[1];
        let a = get(
            &e.router,
            &format!(
                "/compliance/reports/{}/download?format=failed-tests.csv&format=total-summary.csv&format=failed-tests.csv",
                r.id
            ),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.headers[header::CONTENT_TYPE], "application/zip");
        assert_eq!(
            a.headers[header::CONTENT_DISPOSITION],
            "attachment; filename=\"cis-benchmark_daily-cis-results_20261123000000-20261124000000.zip\""
        );
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(a.body)).unwrap();
        let names: Vec<String> = (0..zip.len())
            .map(|i| zip.by_index(i).unwrap().name().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "cis-benchmark_daily-cis-results_20261123000000-20261124000000-failed-tests.csv",
                "cis-benchmark_daily-cis-results_20261123000000-20261124000000-total-summary.csv"
            ]
        );
        for (i, d) in [Download::FailedTests, Download::TotalSummary]
            .into_iter()
            .enumerate()
        {
            let mut content = Vec::new();
            zip.by_index(i).unwrap().read_to_end(&mut content).unwrap();
            assert_eq!(content, rendered(r, d), "{kind:?} {d}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_report_streams_every_node() {
    let r = compliance_testkit::reports::synthetic_report(777, t("2026-11-25T00:00:00Z"), 3);
    // In Elasticsearch, 777 nodes (~40 MB of JSON) are stored in compact parts.
    for kind in [Kind::Sqlite, Kind::Es] {
        let (store, _b) = store_of(kind, "cluster").await;
        store.put_report(&r).await.unwrap();
        let router = router(Arc::new(Server::new(
            Clusters::single("cluster", store),
            Auth::Open,
        )));
        for d in [Download::AllTests, Download::NodeSummary] {
            let a = get(
                &router,
                &format!(
                    "/compliance/reports/{}/download?format={}",
                    r.id,
                    d.file_name()
                ),
            )
            .await;
            assert_eq!(a.status, 200);
            if d == Download::AllTests {
                assert!(
                    a.body.len() > 10 * crate::download::CHUNK,
                    "spans many chunks"
                );
            }
            assert_eq!(a.body, rendered(&r, d), "{kind:?} {d}");
        }
    }
}

fn policy() -> FixedPolicy {
    FixedPolicy::default()
        .user(
            "t-all",
            "all",
            [
                Access::ListReports,
                Access::GetAllReports,
                Access::GetReportType("cis-benchmark".into()),
            ],
        )
        .user(
            "t-one",
            "one",
            [Access::ListReports, Access::GetReport("prod-nodes".into())],
        )
        .user("t-listonly", "listonly", [Access::ListReports])
        .user("t-nolist", "nolist", [Access::GetAllReports])
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_token_the_answer_is_401() {
    let e = env(Kind::Sqlite, Auth::Fixed(policy())).await;
    let id = e.reports[0].id.clone();
    for path in [
        "/compliance/reports".to_string(),
        format!("/compliance/reports/{id}/download?format=all-tests.csv"),
    ] {
        let a = get(&e.router, &path).await;
        assert_eq!(a.status, 401, "{path}");
        assert_eq!(
            a.headers[header::WWW_AUTHENTICATE],
            "Bearer realm=\"compliance\""
        );
        for auth in ["Bearer wrong", "Basic dXNlcjpwYXNz", "Bearer "] {
            let a = get_with(&e.router, &path, &[("authorization", auth)]).await;
            assert_eq!(a.status, 401, "{path} {auth}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn users_see_only_the_reports_rbac_lets_them_get() {
    let e = env(Kind::Sqlite, Auth::Fixed(policy())).await;
    let list = |token: &'static str| {
        let router = e.router.clone();
        async move {
            get_with(
                &router,
                "/compliance/reports",
                &[("authorization", &bearer(token))],
            )
            .await
        }
    };
    let all = list("t-all").await;
    assert_eq!(all.json()["count"], 5);
    let one = list("t-one").await;
    assert_eq!(ids(&one), ["prod-nodes_cis-benchmark_4"]);
    assert_eq!(one.json()["count"], 1);
    // Asking for more than one may see narrows to what one may see.
    let a = get_with(
        &e.router,
        "/compliance/reports?reportName=weekly-cis&reportName=prod-nodes",
        &[("authorization", &bearer("t-one"))],
    )
    .await;
    assert_eq!(ids(&a), ["prod-nodes_cis-benchmark_4"]);
    let a = get_with(
        &e.router,
        "/compliance/reports?reportName=weekly-cis",
        &[("authorization", &bearer("t-one"))],
    )
    .await;
    assert_eq!(
        (a.status, a.json()["count"].clone()),
        (StatusCode::OK, Value::from(0))
    );
    let none = list("t-listonly").await;
    assert_eq!(none.status, 200);
    assert_eq!(
        (ids(&none).len(), none.json()["count"].clone()),
        (0, Value::from(0))
    );
    let refused = list("t-nolist").await;
    assert_eq!(refused.status, 403);
    assert!(
        refused
            .text()
            .contains("list globalreports.projectcalico.org"),
        "{}",
        refused.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_need_get_on_the_report_and_its_type() {
    let e = env(Kind::Sqlite, Auth::Fixed(policy())).await;
    let dl = |token: &'static str, id: String| {
        let router = e.router.clone();
        async move {
            get_with(
                &router,
                &format!("/compliance/reports/{id}/download?format=node-summary.csv"),
                &[("authorization", &bearer(token))],
            )
            .await
        }
    };
    let prod = e.reports[4].id.clone();
    let weekly = e.reports[3].id.clone();
    assert_eq!(dl("t-all", prod.clone()).await.status, 200);
    // `all` may get every GlobalReport but only the cis-benchmark type.
    let a = dl("t-all", weekly.clone()).await;
    assert_eq!(a.status, 403);
    assert!(
        a.text()
            .contains("get globalreporttypes.projectcalico.org \"cis-weekly\""),
        "{}",
        a.text()
    );
    // `one` may see prod-nodes but no type: no downloads.
    let a = dl("t-one", prod).await;
    assert_eq!(a.status, 403);
    assert!(a.text().contains("globalreporttypes"));
    let a = dl("t-one", weekly).await;
    assert_eq!(a.status, 403);
    assert!(
        a.text()
            .contains("get globalreports.projectcalico.org \"weekly-cis\""),
        "{}",
        a.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cluster_header_chooses_the_elasticsearch_indices() {
    let es = FakeEs::start();
    let url = url::Url::parse(&es.url()).unwrap();
    let mut managed = ElasticConfig::new(url.clone());
    managed.index_suffix = "managed-1".into();
    let managed_store: Store = ElasticStore::connect(&managed).unwrap().into();
    let mut r = fixture_report(t("2026-11-25T00:00:00Z"));
    r.report_name = "managed-daily".into();
    r.id = "managed-daily_cis-benchmark_x".into();
    managed_store.put_report(&r).await.unwrap();
    let home: Store = ElasticStore::connect(&ElasticConfig::new(url.clone()))
        .unwrap()
        .into();
    home.put_report(&fixture_report(t("2026-11-25T00:00:00Z")))
        .await
        .unwrap();
    let server = Server::new(
        Clusters::elastic(ElasticConfig::new(url), vec![]),
        Auth::Open,
    );
    let router = router(Arc::new(server));
    let a = get(&router, "/compliance/reports").await;
    assert_eq!(a.json()["reports"][0]["name"], "daily-cis-results");
    assert_eq!(a.json()["count"], 1);
    let a = get_with(
        &router,
        "/compliance/reports",
        &[("x-cluster-id", "managed-1")],
    )
    .await;
    assert_eq!(ids(&a), ["managed-daily_cis-benchmark_x"]);
    let a = get_with(
        &router,
        "/compliance/reports/managed-daily_cis-benchmark_x/download?format=total-summary.csv",
        &[("x-cluster-id", "managed-1")],
    )
    .await;
    assert_eq!(a.status, 200);
    let a = get_with(
        &router,
        "/compliance/reports",
        &[("x-cluster-id", "Bad/Id")],
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(a.text().starts_with("invalid x-cluster-id"), "{}", a.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sqlite_store_has_one_cluster() {
    let e = env(Kind::Sqlite, Auth::Open).await;
    let a = get_with(
        &e.router,
        "/compliance/reports",
        &[("x-cluster-id", "cluster")],
    )
    .await;
    assert_eq!(a.status, 200);
    let a = get_with(
        &e.router,
        "/compliance/reports",
        &[("x-cluster-id", "managed-1")],
    )
    .await;
    assert_eq!(a.status, 404);
    assert!(a.text().contains("managed-1"));
}

/// The story of issue 16 (`Sequence::story`) in a store of `kind`, with `auth`.
async fn story(kind: Kind, auth: Auth) -> (Env, Vec<String>) {
    let seq = compliance_testkit::sequence::Sequence::story();
    let ids = seq.ids();
    (env_with(kind, auth, seq.reports).await, ids)
}

/// A diff's failures of one change kind: (node, test, oldWaiver, newWaiver).
fn changes(diff: &Value, change: &str) -> Vec<(String, String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    diff["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["change"] == change)
        .map(|f| {
            (
                s(&f["node"]),
                s(&f["testNumber"]),
                s(&f["oldWaiver"]),
                s(&f["newWaiver"]),
            )
        })
        .collect()
}

fn four(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
    (a.into(), b.into(), c.into(), d.into())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_diff_against_the_previous_report_says_exactly_what_changed() {
    use compliance_testkit::sequence::STORY_ENDS;
    for kind in BOTH {
        let (e, ids) = story(kind, Auth::Open).await;
        // Report 5 against report 4, the previous one by endTime.
        let a = get(&e.router, &format!("/compliance/reports/{}/diff", ids[4])).await;
        assert_eq!(a.status, 200, "{kind:?} {}", a.text());
        let d = a.json();
        assert_eq!(d["old"]["id"], ids[3].as_str());
        assert_eq!(d["old"]["endTime"], STORY_ENDS[3]);
        assert_eq!(d["new"]["id"], ids[4].as_str());
        assert_eq!(
            d["counts"],
            serde_json::json!({"new": 1, "persisting": 1, "resolved": 0, "newNode": 0,
                "gone": 1, "nodesAdded": 0, "nodesRemoved": 1, "ratingDrops": 2,
                "ratingRises": 0, "newUnwaived": 1}),
            "{kind:?}"
        );
        assert_eq!(changes(&d, "new"), [four("cp-1", "1.2.6", "", "")]);
        assert_eq!(
            changes(&d, "persisting"),
            [four("w-1", "4.2.6", "iptables-chains", "")]
        );
        assert_eq!(changes(&d, "gone"), [four("w-3", "4.2.6", "", "")]);
        assert_eq!(
            d["nodes"],
            serde_json::json!([
                {"node": "cp-1", "kind": "rerated", "oldStatus": "HIGH", "newStatus": "MED",
                 "oldStatusWithoutWaivers": "HIGH", "newStatusWithoutWaivers": "MED"},
                {"node": "w-1", "kind": "rerated", "oldStatus": "HIGH", "newStatus": "MED",
                 "oldStatusWithoutWaivers": "MED", "newStatusWithoutWaivers": "MED"},
                {"node": "w-3", "kind": "removed", "oldStatus": "MED", "newStatus": null,
                 "oldStatusWithoutWaivers": "MED", "newStatusWithoutWaivers": null},
            ]),
            "{kind:?}"
        );
        // 2 → 3: a known failure on an added node; 3 → 4: a fixed one.
        let d = get(&e.router, &format!("/compliance/reports/{}/diff", ids[2]))
            .await
            .json();
        assert_eq!(changes(&d, "newNode"), [four("w-3", "4.2.6", "", "")]);
        assert_eq!(d["counts"]["nodesAdded"], 1);
        let d = get(&e.router, &format!("/compliance/reports/{}/diff", ids[3]))
            .await
            .json();
        assert_eq!(
            changes(&d, "resolved"),
            [four("cp-1", "1.2.6", "", "")],
            "{kind:?}"
        );
        // Any two reports of the GlobalReport, always from the older to the newer.
        for (id, against) in [(&ids[4], &ids[0]), (&ids[0], &ids[4])] {
            let d = get(
                &e.router,
                &format!("/compliance/reports/{id}/diff?against={against}"),
            )
            .await
            .json();
            assert_eq!(d["old"]["id"], ids[0].as_str());
            assert_eq!(d["new"]["id"], ids[4].as_str());
            assert_eq!(changes(&d, "new"), [four("cp-1", "1.2.6", "", "")]);
            assert_eq!(changes(&d, "persisting"), [four("w-1", "4.2.6", "", "")]);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_diff_refuses_what_it_cannot_compare_naming_the_parameter() {
    let (e, ids) = story(Kind::Sqlite, Auth::Open).await;
    let mut other = fixture_report(t("2026-11-25T00:00:00Z"));
    other.report_name = "weekly-cis".into();
    other.id = compliance_core::report::report_id(
        "weekly-cis",
        &other.report_type_name,
        other.start_time,
        other.end_time,
    );
    // The same story beside a report of another GlobalReport.
    let e2 = env_with(
        Kind::Sqlite,
        Auth::Open,
        [
            compliance_testkit::sequence::Sequence::story().reports,
            vec![other.clone()],
        ]
        .concat(),
    )
    .await;
    let cases: Vec<(&axum::Router, String, u16, String)> = vec![
        (
            &e.router,
            "/compliance/reports/no-such-report/diff".into(),
            404,
            "no report with id \"no-such-report\"".into(),
        ),
        (
            &e.router,
            format!("/compliance/reports/{}/diff?against=nope", ids[4]),
            404,
            "against: no report with id \"nope\"".into(),
        ),
        (
            &e.router,
            format!("/compliance/reports/{}/diff?against={}", ids[4], ids[4]),
            400,
            format!("invalid against {:?}: is the report itself", ids[4]),
        ),
        (
            &e2.router,
            format!("/compliance/reports/{}/diff?against={}", ids[4], other.id),
            400,
            format!(
                "invalid against {:?}: is a report of GlobalReport \"weekly-cis\"",
                other.id
            ),
        ),
        (
            &e.router,
            format!("/compliance/reports/{}/diff", ids[0]),
            404,
            "is the first of GlobalReport \"daily-cis-results\"".into(),
        ),
        (
            &e.router,
            format!("/compliance/reports/{}/diff?format=xml", ids[4]),
            400,
            "invalid format \"xml\": must be json or diff.csv or diff-nodes.csv".into(),
        ),
        (
            &e.router,
            format!(
                "/compliance/reports/{}/diff?against={}&against={}",
                ids[4], ids[1], ids[2]
            ),
            400,
            "invalid against".into(),
        ),
    ];
    for (router, path, status, message) in cases {
        let a = get(router, &path).await;
        assert_eq!(a.status.as_u16(), status, "{path}: {}", a.text());
        assert!(a.text().contains(&message), "{path}: {}", a.text());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn findings_give_each_lifecycle_over_the_latest_reports() {
    use compliance_testkit::sequence::STORY_ENDS;
    for kind in BOTH {
        let (e, ids) = story(kind, Auth::Open).await;
        let a = get(
            &e.router,
            "/compliance/findings?reportName=daily-cis-results",
        )
        .await;
        assert_eq!(a.status, 200, "{kind:?} {}", a.text());
        let all = a.json();
        assert_eq!(all["reportName"], "daily-cis-results");
        let reports: Vec<&str> = all["reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(reports, ids.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            all["findings"],
            serde_json::json!([
                {"node": "cp-1", "testNumber": "1.2.6", "section": "1.2",
                 "testDesc": "Ensure that the --kubelet-certificate-authority argument is set as appropriate (Automated)",
                 "state": "failing", "firstFailed": STORY_ENDS[1], "firstFailedReport": ids[1],
                 "failingSince": STORY_ENDS[4], "lastFailed": STORY_ENDS[4], "reopened": 1,
                 "reportsFailing": 3},
                {"node": "w-1", "testNumber": "4.2.6", "section": "4.2",
                 "testDesc": "Ensure that the --make-iptables-util-chains argument is set to true (Automated)",
                 "state": "failing", "firstFailed": STORY_ENDS[0], "firstFailedReport": ids[0],
                 "failingSince": STORY_ENDS[0], "lastFailed": STORY_ENDS[4], "reopened": 0,
                 "reportsFailing": 5},
                {"node": "w-3", "testNumber": "4.2.6", "section": "4.2",
                 "testDesc": "Ensure that the --make-iptables-util-chains argument is set to true (Automated)",
                 "state": "unknown", "firstFailed": STORY_ENDS[2], "firstFailedReport": ids[2],
                 "failingSince": STORY_ENDS[2], "lastFailed": STORY_ENDS[3], "reopened": 0,
                 "reportsFailing": 2},
            ]),
            "{kind:?}"
        );
        let of = |q: &'static str| {
            let router = e.router.clone();
            async move {
                get(
                    &router,
                    &format!("/compliance/findings?reportName=daily-cis-results&{q}"),
                )
                .await
                .json()["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| {
                        format!(
                            "{} {}",
                            f["node"].as_str().unwrap(),
                            f["testNumber"].as_str().unwrap()
                        )
                    })
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(of("node=cp-1").await, ["cp-1 1.2.6"]);
        assert_eq!(of("test=4.2.6").await, ["w-1 4.2.6", "w-3 4.2.6"]);
        assert_eq!(of("node=w-3&test=4.2.6").await, ["w-3 4.2.6"]);
        assert!(of("node=w-2").await.is_empty());
        // The latest two reports only: cp-1's failure is new in the last one.
        let two = get(
            &e.router,
            "/compliance/findings?reportName=daily-cis-results&node=cp-1&reports=2",
        )
        .await
        .json();
        assert_eq!(two["reports"].as_array().unwrap().len(), 2);
        assert_eq!(two["findings"][0]["firstFailed"], STORY_ENDS[4]);
        assert_eq!(two["findings"][0]["reopened"], 0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn findings_refuse_a_missing_or_unknown_report_name() {
    let (e, _) = story(Kind::Sqlite, Auth::Open).await;
    for (path, status, message) in [
        (
            "/compliance/findings",
            400,
            "invalid reportName \"\": is required",
        ),
        (
            "/compliance/findings?reportName=nope",
            404,
            "reportName: GlobalReport \"nope\" has no stored report",
        ),
        (
            "/compliance/findings?reportName=daily-cis-results&reports=0",
            400,
            "invalid reports \"0\"",
        ),
        (
            "/compliance/findings?reportName=daily-cis-results&format=findings.xml",
            400,
            "invalid format \"findings.xml\": must be json or findings.csv",
        ),
    ] {
        let a = get(&e.router, path).await;
        assert_eq!(a.status.as_u16(), status, "{path}: {}", a.text());
        assert!(a.text().contains(message), "{path}: {}", a.text());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_and_findings_csv_are_the_core_renderers_bytes() {
    let (e, ids) = story(Kind::Sqlite, Auth::Open).await;
    let seq = compliance_testkit::sequence::Sequence::story();
    let old = compliance_core::report::ReportFindings::of_report(&seq.reports[3]);
    let new = compliance_core::report::ReportFindings::of_report(&seq.reports[4]);
    let d = compliance_core::report::diff(&old, &new);
    for (format, expected) in [
        ("diff.csv", {
            let mut b = Vec::new();
            compliance_core::render::write_diff_csv(&d, &mut b).unwrap();
            b
        }),
        ("diff-nodes.csv", {
            let mut b = Vec::new();
            compliance_core::render::write_diff_nodes_csv(&d, &mut b).unwrap();
            b
        }),
    ] {
        let a = get(
            &e.router,
            &format!("/compliance/reports/{}/diff?format={format}", ids[4]),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
        let stem = format.trim_end_matches(".csv");
        assert_eq!(
            a.headers[header::CONTENT_DISPOSITION],
            format!(
                "attachment; filename=\"cis-benchmark_daily-cis-results_20261105000000-20261106000000-{stem}-since-20261105000000.csv\""
            )
            .as_str()
        );
        assert_eq!(a.text(), String::from_utf8(expected).unwrap());
    }
    let a = get(
        &e.router,
        &format!("/compliance/reports/{}/diff?format=diff.csv", ids[4]),
    )
    .await;
    assert_eq!(
        a.text().lines().collect::<Vec<_>>(),
        [
            "node,testNumber,section,testDesc,change,oldWaiver,newWaiver",
            "cp-1,1.2.6,1.2,Ensure that the --kubelet-certificate-authority argument is set as appropriate (Automated),new,,",
            "w-1,4.2.6,4.2,Ensure that the --make-iptables-util-chains argument is set to true (Automated),persisting,iptables-chains,",
            "w-3,4.2.6,4.2,Ensure that the --make-iptables-util-chains argument is set to true (Automated),gone,,",
        ]
    );
    let a = get(
        &e.router,
        "/compliance/findings?reportName=daily-cis-results&format=findings.csv",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        a.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"cis-benchmark_daily-cis-results-findings.csv\""
    );
    assert_eq!(
        a.text().lines().collect::<Vec<_>>(),
        [
            "node,testNumber,section,testDesc,state,firstFailed,failingSince,resolvedAt,lastFailed,reopened,reportsFailing,waiver",
            "cp-1,1.2.6,1.2,Ensure that the --kubelet-certificate-authority argument is set as appropriate (Automated),failing,2026-11-03T00:00:00Z,2026-11-06T00:00:00Z,,2026-11-06T00:00:00Z,1,3,",
            "w-1,4.2.6,4.2,Ensure that the --make-iptables-util-chains argument is set to true (Automated),failing,2026-11-02T00:00:00Z,2026-11-02T00:00:00Z,,2026-11-06T00:00:00Z,0,5,",
            "w-3,4.2.6,4.2,Ensure that the --make-iptables-util-chains argument is set to true (Automated),unknown,2026-11-04T00:00:00Z,2026-11-04T00:00:00Z,,2026-11-05T00:00:00Z,0,2,",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn waivers_csv_lists_each_waived_failure_of_a_report_with_waivers() {
    let (e, ids) = story(Kind::Sqlite, Auth::Open).await;
    let a = get(
        &e.router,
        &format!("/compliance/reports/{}/download?format=waivers.csv", ids[3]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(
        a.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .ends_with("-waivers.csv\"")
    );
    let seq = compliance_testkit::sequence::Sequence::story();
    let mut expected = Vec::new();
    compliance_core::render::write_waivers_csv(&seq.reports[3], &mut expected).unwrap();
    assert_eq!(a.text(), String::from_utf8(expected).unwrap());
    assert_eq!(a.text().lines().count(), 2, "{}", a.text());
    assert!(
        a.text()
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("w-1,4.2.6,4.2,")
    );
    // Report 1 had no waiver: it offers no waivers.csv.
    let a = get(
        &e.router,
        &format!("/compliance/reports/{}/download?format=waivers.csv", ids[0]),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_and_findings_need_what_reading_the_reports_needs() {
    let (e, ids) = story(Kind::Sqlite, Auth::Fixed(policy())).await;
    let ask = |token: &'static str, path: String| {
        let router = e.router.clone();
        async move { get_with(&router, &path, &[("authorization", &bearer(token))]).await }
    };
    let diff = format!("/compliance/reports/{}/diff", ids[4]);
    let findings = "/compliance/findings?reportName=daily-cis-results".to_string();
    assert_eq!(ask("t-all", diff.clone()).await.status, 200);
    assert_eq!(ask("t-all", findings.clone()).await.status, 200);
    for path in [diff.clone(), findings.clone()] {
        let a = ask("t-one", path.clone()).await;
        assert_eq!(a.status, 403, "{path}");
        assert!(
            a.text()
                .contains("get globalreports.projectcalico.org \"daily-cis-results\""),
            "{}",
            a.text()
        );
        assert_eq!(get(&e.router, &path).await.status, 401, "{path}");
    }
    // The CSVs are downloads: they also need the report's type.
    assert_eq!(
        ask("t-all", format!("{diff}?format=diff.csv")).await.status,
        200
    );
    let a = ask("t-nolist", format!("{findings}&format=findings.csv")).await;
    assert_eq!(a.status, 403, "{}", a.text());
    assert!(a.text().contains("globalreporttypes"), "{}", a.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newly_stored_report_rebuilds_the_cached_lifecycle() {
    use compliance_testkit::sequence::STORY_ENDS;
    let seq = compliance_testkit::sequence::Sequence::story();
    let (store, _backing) = store_of(Kind::Sqlite, "cluster").await;
    for r in &seq.reports[..4] {
        store.put_report(r).await.unwrap();
    }
    let server = Server::new(Clusters::single("cluster", store.clone()), Auth::Open);
    let router = router(Arc::new(server));
    let path = "/compliance/findings?reportName=daily-cis-results&node=cp-1";
    let before = get(&router, path).await.json();
    assert_eq!(before["findings"][0]["state"], "resolved");
    assert_eq!(before["findings"][0]["resolvedAt"], STORY_ENDS[3]);
    // Asked again, from the cache: the same answer.
    assert_eq!(get(&router, path).await.json(), before);
    store.put_report(&seq.reports[4]).await.unwrap();
    let after = get(&router, path).await.json();
    assert_eq!(after["reports"].as_array().unwrap().len(), 5);
    assert_eq!(after["findings"][0]["state"], "failing");
    assert_eq!(after["findings"][0]["failingSince"], STORY_ENDS[4]);
    assert_eq!(after["findings"][0]["reopened"], 1);
}
