//! `/metrics` through the router: exactly the documented names, promtool's lint, the
//! authorization rule, series that go with their reports, and a failing store.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use compliance_store::{ElasticConfig, ElasticStore, OpenMode, SqliteStore, Store};
use compliance_testkit::fake_es::{FakeEs, RequestMatcher, es_error};
use compliance_testkit::metrics::{
    Sample, documented, exported_names, parse_exposition, promtool, promtool_lint,
};
use compliance_testkit::sequence::Sequence;

use crate::auth::{Access, Auth, FixedPolicy};
use crate::clusters::Clusters;
use crate::{Server, router};

/// A server over `store` holding the story's five reports.
async fn story_server(store: Store, auth: Auth, per_test: bool) -> (axum::Router, Sequence) {
    let story = Sequence::story();
    for r in &story.reports {
        store.put_report(r).await.unwrap();
    }
    let server = Server::new(Clusters::single("cluster", store.clone()), auth)
        .with_metrics_per_test(per_test);
    (router(Arc::new(server)), story)
}

fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("c.db"), OpenMode::Create).unwrap();
    (s.into(), dir)
}

async fn scrape_with(router: &axum::Router, token: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::get("/metrics");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let response = router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::OK {
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
    }
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn scrape(router: &axum::Router) -> String {
    let (status, body) = scrape_with(router, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == *v))
        .map(|s| s.value)
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?}: {found:?}");
    found.first().copied()
}

fn documented_names(per_test: bool) -> BTreeSet<String> {
    documented("compliance-server")
        .into_iter()
        .map(|m| m.name)
        .filter(|n| per_test || n != "compliance_node_test_failed")
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_exports_exactly_the_documented_names_with_per_test_on() {
    let (store, _dir) = sqlite();
    let (router, _) = story_server(store, Auth::Open, true).await;
    let text = scrape(&router).await;
    assert_eq!(exported_names(&text), documented_names(true), "{text}");
    // Every sample has exactly the labels its row lists.
    let rows = documented("compliance-server");
    for s in parse_exposition(&text) {
        let row = rows.iter().find(|m| m.name == s.name).unwrap();
        let labels: BTreeSet<&str> = s.labels.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = row.labels.iter().map(String::as_str).collect();
        assert_eq!(labels, want, "{}", s.name);
    }
    if let Some(promtool) = promtool() {
        let lint = promtool_lint(&promtool, &text);
        assert!(lint.is_empty(), "promtool check metrics: {lint}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_exports_no_per_test_series_unless_asked() {
    let (store, _dir) = sqlite();
    let (router, _) = story_server(store, Auth::Open, false).await;
    let text = scrape(&router).await;
    assert_eq!(exported_names(&text), documented_names(false), "{text}");
    assert!(!text.contains("compliance_node_test_failed"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_describe_the_latest_report_of_each_global_report() {
    let (store, _dir) = sqlite();
    let (router, story) = story_server(store, Auth::Open, true).await;
    let samples = parse_exposition(&scrape(&router).await);
    let latest = story.reports.last().unwrap();
    let r = [("cluster", "cluster"), ("report", "daily-cis-results")];
    assert_eq!(
        value(
            &samples,
            "compliance_report_info",
            &[("report_id", latest.id.as_str())]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "compliance_report_window_end_timestamp_seconds",
            &r
        ),
        Some(latest.end_time.timestamp() as f64)
    );
    for (rating, n) in [("high", 1.0), ("med", 2.0), ("low", 0.0)] {
        let labels = [r[0], r[1], ("rating", rating)];
        assert_eq!(value(&samples, "compliance_report_nodes", &labels), Some(n));
    }
    let node = |n: &'static str| [r[0], r[1], ("node", n)];
    assert_eq!(
        value(&samples, "compliance_node_rating", &node("w-2")),
        Some(2.0)
    );
    assert_eq!(
        value(&samples, "compliance_node_rating", &node("cp-1")),
        Some(1.0)
    );
    // w-3 is in report 4 only: the latest report does not list it.
    assert_eq!(
        value(&samples, "compliance_node_rating", &node("w-3")),
        None
    );
    assert_eq!(
        value(&samples, "compliance_report_new_failures", &r),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "compliance_node_rating_dropped",
            &[r[0], r[1], ("node", "w-1"), ("from", "high"), ("to", "med")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "compliance_node_test_failed",
            &[
                r[0],
                r[1],
                ("node", "cp-1"),
                ("test", "1.2.6"),
                ("waived", "false")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "compliance_server_store_up",
            &[("cluster", "cluster")]
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_global_reports_series_vanish_and_a_deleted_latest_report_is_replaced() {
    let (store, _dir) = sqlite();
    let (router, story) = story_server(store.clone(), Auth::Open, false).await;
    let ids = story.ids();
    let info = |text: &str| -> Vec<String> {
        parse_exposition(text)
            .into_iter()
            .filter(|s| s.name == "compliance_report_info")
            .map(|s| s.label("report_id").to_string())
            .collect()
    };
    assert_eq!(info(&scrape(&router).await), [ids[4].clone()]);
    // The latest report deleted: the one before stands for the GlobalReport, and its
    // nodes are back (w-3 is in report 4).
    assert!(store.delete_report(&ids[4]).await.unwrap());
    let text = scrape(&router).await;
    assert_eq!(info(&text), [ids[3].clone()]);
    assert!(text.contains("node=\"w-3\""), "{text}");
    // Every report deleted: nothing of the GlobalReport is left.
    for id in &ids[..4] {
        assert!(store.delete_report(id).await.unwrap());
    }
    let text = scrape(&router).await;
    assert!(!text.contains("daily-cis-results"), "{text}");
    assert_eq!(
        exported_names(&text),
        BTreeSet::from([
            "compliance_server_store_up".to_string(),
            "compliance_server_metrics_refresh_seconds".to_string(),
            "compliance_server_build_info".to_string(),
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_does_not_serve_a_deleted_report_from_its_caches() {
    let (store, _dir) = sqlite();
    let (router, story) = story_server(store.clone(), Auth::Open, false).await;
    let ids = story.ids();
    let get = |path: String| {
        let router = router.clone();
        async move {
            router
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap()
                .status()
        }
    };
    // Fill the index and lifecycle caches, and the metrics'.
    scrape(&router).await;
    let diff = format!("/compliance/reports/{}/diff", ids[4]);
    let findings = "/compliance/findings?reportName=daily-cis-results".to_string();
    assert_eq!(get(diff.clone()).await, 200);
    assert_eq!(get(findings.clone()).await, 200);
    assert!(store.delete_report(&ids[4]).await.unwrap());
    assert_eq!(get(diff).await, 404);
    let download = format!("/compliance/reports/{}/download?format=json", ids[4]);
    assert_eq!(get(download).await, 404);
    // The lifecycle is made from the four reports left.
    let answer = router
        .clone()
        .oneshot(Request::get(findings).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let reports: Vec<&str> = v["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        reports,
        ids[..4].iter().map(String::as_str).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn scraping_needs_a_token_and_the_get_metrics_grant() {
    let (store, _dir) = sqlite();
    let policy = FixedPolicy::default()
        .user("scraper-token", "prometheus", [Access::GetMetrics])
        .user(
            "reader-token",
            "alice",
            [Access::ListReports, Access::GetAllReports],
        );
    let (router, _) = story_server(store, Auth::Fixed(policy), false).await;
    let (status, body) = scrape_with(&router, None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = scrape_with(&router, Some("not-a-token")).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = scrape_with(&router, Some("reader-token")).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("/metrics") && body.contains("alice"),
        "{body}"
    );
    let (status, body) = scrape_with(&router, Some("scraper-token")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("compliance_report_info"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_store_keeps_the_last_series_and_says_store_up_zero() {
    let fake = FakeEs::start();
    let mut config = ElasticConfig::new(url::Url::parse(&fake.url()).unwrap());
    config.index_suffix = "cluster".into();
    let store: Store = ElasticStore::connect(&config).unwrap().into();
    let (router, story) = story_server(store, Auth::Open, false).await;
    let latest = story.reports.last().unwrap().id.clone();
    let up = |text: &str| value(&parse_exposition(text), "compliance_server_store_up", &[]);
    let first = scrape(&router).await;
    assert_eq!(up(&first), Some(1.0));
    fake.fail_next(
        RequestMatcher::any(),
        2,
        400,
        es_error(400, "illegal_argument_exception", "injected"),
    );
    for _ in 0..2 {
        let text = scrape(&router).await;
        assert_eq!(up(&text), Some(0.0), "{text}");
        assert!(text.contains(&latest), "the last series stay: {text}");
        assert!(text.contains("node=\"cp-1\""), "{text}");
    }
    let again = scrape(&router).await;
    assert_eq!(up(&again), Some(1.0), "{again}");
    assert!(again.contains(&latest), "{again}");
}
