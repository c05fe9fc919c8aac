//! The pages for people, through the router: what each shows, that report text is
//! always escaped, and the headers every HTML answer carries.

use base64::Engine;
use sha2::{Digest, Sha256};

use compliance_core::model::{Rating, ReportDocument};
use compliance_server::auth::{Access, Auth, FixedPolicy};
use compliance_testkit::fixtures::t;
use compliance_testkit::reports::{
    HOSTILE_NODE, HOSTILE_TEXT, WAIVED_NODE, fixture_report, hostile_report, report_from,
    synthetic_report, waived_fixture_report,
};

use compliance_testkit::sequence::{STORY_ENDS, Sequence};

use crate::support::{Answer, get, get_with, server_with, server_with_auth};

const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn day(n: u32) -> chrono::DateTime<chrono::Utc> {
    t(&format!("2026-11-{n:02}T00:00:00Z"))
}

/// An HTML page with the pages' security headers.
fn assert_page(a: &Answer, status: u16) {
    assert_eq!(a.status.as_u16(), status, "{}", a.body);
    assert_eq!(a.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(a.header("content-security-policy"), CSP);
    assert_eq!(a.header("x-content-type-options"), "nosniff");
    assert_eq!(a.header("referrer-policy"), "no-referrer");
    assert!(
        a.body.starts_with("<!doctype html>"),
        "{}",
        &a.body[..80.min(a.body.len())]
    );
    // The CSP forbids inline script and style: the pages must not need them.
    assert!(!a.body.contains("style=\""), "an inline style attribute");
    assert!(!a.body.contains("<style"), "an inline stylesheet");
    for tag in a.body.match_indices("<script").map(|(i, _)| &a.body[i..]) {
        assert!(
            tag.starts_with("<script src=\"/assets/app.js?v="),
            "an inline script"
        );
    }
}

fn id(r: &ReportDocument) -> String {
    r.id.clone()
}

#[tokio::test]
async fn without_reports_the_list_says_how_to_get_a_first_one() {
    let (_dir, app) = server_with(&[]).await;
    for path in ["/", "/reports"] {
        let a = get(&app, path).await;
        assert_page(&a, 200);
        assert!(a.body.contains("id=\"empty-state\""));
        assert!(a.body.contains("No reports yet"));
        assert!(a.body.contains("make run"));
        assert!(a.body.contains(
            "<code>compliancectl import kube-bench &lt;kube-bench.json&gt;…</code>, then run"
        ));
        assert!(a.body.contains("GlobalReport"));
        assert!(!a.body.contains("id=\"reports\""));
    }
}

#[tokio::test]
async fn the_list_shows_each_report_with_counts_age_and_downloads() {
    let older = fixture_report(day(24));
    let newer = fixture_report(day(25));
    let (_dir, app) = server_with(&[older.clone(), newer.clone()]).await;
    let a = get(&app, "/reports").await;
    assert_page(&a, 200);
    assert!(a.body.contains("id=\"reports\""));
    assert_eq!(a.body.matches("class=\"report-row\"").count(), 2);
    // Newest window first, as the API's default order.
    let first = a.body.find(&newer.id).unwrap();
    let second = a.body.find(&older.id).unwrap();
    assert!(first < second);
    let s = &newer.cis_benchmark_summary;
    assert!(
        a.body
            .contains(&format!("<td class=\"num high\">{}</td>", s.high_count))
    );
    assert!(
        a.body
            .contains(&format!("<td class=\"num low\">{}</td>", s.low_count))
    );
    assert!(a.body.contains(" days ago"));
    assert!(a.body.contains(&format!(
        "href=\"/compliance/reports/{}/download?format=all-tests.csv\"",
        id(&newer)
    )));
    assert!(a.body.contains("all (zip)"));
    assert!(
        a.body
            .contains(&format!("href=\"/reports/{}\"", id(&newer)))
    );
    assert!(a.body.contains("id=\"report-filter\""));
}

#[tokio::test]
async fn the_list_filters_sorts_and_pages_with_the_api_parameters() {
    let reports: Vec<ReportDocument> = (20..26).map(|d| fixture_report(day(d))).collect();
    let (_dir, app) = server_with(&reports).await;
    let a = get(&app, "/reports?maxItems=2&sortBy=endTime/ascending").await;
    assert_page(&a, 200);
    assert_eq!(a.body.matches("class=\"report-row\"").count(), 2);
    assert!(a.body.contains(&reports[0].id));
    assert!(a.body.contains("1–2 of 6"));
    // The next page keeps the order and the page size.
    assert!(
        a.body
            .contains("maxItems=2&amp;sortBy=endTime%2Fascending&amp;page=1")
    );
    // The current column's header reverses it.
    assert!(a.body.contains("aria-sort=\"ascending\""));
    assert!(a.body.contains("sortBy=endTime%2Fdescending"));
    let a = get(&app, "/reports?fromTime=2026-11-25T00:00:00Z").await;
    assert_eq!(a.body.matches("class=\"report-row\"").count(), 1);
    assert!(a.body.contains("value=\"2026-11-25T00:00:00\""));
    // A browser's datetime-local value is read as UTC.
    let b = get(&app, "/reports?fromTime=2026-11-25T00%3A00").await;
    assert_page(&b, 200);
    assert_eq!(b.body.matches("class=\"report-row\"").count(), 1);
    let a = get(&app, "/reports?reportName=nobody").await;
    assert_page(&a, 200);
    assert!(a.body.contains("No report matches these filters"));
}

#[tokio::test]
async fn a_bad_parameter_is_an_html_page_naming_it() {
    let (_dir, app) = server_with(&[fixture_report(day(25))]).await;
    let a = get(&app, "/reports?fromTime=yesterday").await;
    assert_page(&a, 400);
    assert!(a.body.contains("id=\"error-message\""));
    assert!(a.body.contains("invalid fromTime &quot;yesterday&quot;"));
    let a = get(&app, "/reports/nope").await;
    assert_page(&a, 404);
    assert!(a.body.contains("no report with id"));
    let a = get(&app, "/reports?cluster=other").await;
    assert_page(&a, 404);
    let a = get(&app, "/reports?cluster=Bad*").await;
    assert_page(&a, 400);
    let a = get(&app, "/reports?cluster=cluster").await;
    assert_page(&a, 200);
}

#[tokio::test]
async fn a_report_shows_its_ratings_top_failed_tests_and_nodes() {
    let report = fixture_report(day(25));
    let (_dir, app) = server_with(std::slice::from_ref(&report)).await;
    let a = get(&app, &format!("/reports/{}", report.id)).await;
    assert_page(&a, 200);
    for id in [
        "summary-chart",
        "top-failed",
        "nodes",
        "node-filter",
        "downloads",
        "thresholds",
        "download-all",
        "print-link",
    ] {
        assert!(a.body.contains(&format!("id=\"{id}\"")), "{id}");
    }
    let s = &report.cis_benchmark_summary;
    assert!(a.body.contains(&format!(
        "<strong id=\"count-high\">{}</strong>",
        s.high_count
    )));
    assert!(a.body.contains(&format!(
        "<strong id=\"count-low\">{}</strong>",
        s.low_count
    )));
    assert!(a.body.contains("class=\"bar bar-low\""));
    assert!(a.body.contains("HIGH at 100% or more tests passing"));
    assert_eq!(
        a.body.matches("class=\"node-row\"").count(),
        report.cis_benchmark.len()
    );
    for n in &report.cis_benchmark {
        assert!(
            a.body
                .contains(&format!("/reports/{}/nodes/{}", report.id, n.node_name))
        );
    }
    assert!(a.body.contains("class=\"top-failed-row\""));
    assert!(
        a.body
            .contains(&format!("href=\"/reports/{}/tests/", report.id))
    );
}

#[tokio::test]
async fn a_reports_nodes_filter_sort_and_page() {
    let report = synthetic_report(120, day(25), 11);
    let (_dir, app) = server_with(std::slice::from_ref(&report)).await;
    let base = format!("/reports/{}", report.id);
    let a = get(&app, &base).await;
    assert_eq!(a.body.matches("class=\"node-row\"").count(), 50);
    assert!(a.body.contains("1–50 of 120"));
    assert!(a.body.contains("page 1 of 3"));
    let a = get(&app, &format!("{base}?page=2")).await;
    assert_eq!(a.body.matches("class=\"node-row\"").count(), 20);
    let low = report
        .cis_benchmark
        .iter()
        .filter(|n| n.summary.status == Rating::Low)
        .count();
    let a = get(&app, &format!("{base}?status=LOW")).await;
    assert_page(&a, 200);
    assert_eq!(
        a.body
            .matches("class=\"node-row\" data-status=\"LOW\"")
            .count(),
        low.min(50)
    );
    assert_eq!(
        a.body.matches("class=\"node-row\" data-status=").count(),
        low.min(50)
    );
    let one = &report.cis_benchmark[77].node_name;
    let a = get(&app, &format!("{base}?q={one}")).await;
    assert!(a.body.contains(one.as_str()));
    let a = get(&app, &format!("{base}?sort=fail")).await;
    let most = report
        .cis_benchmark
        .iter()
        .map(|n| n.summary.total_fail)
        .max()
        .unwrap();
    let first_row = a.body.split("class=\"node-row\"").nth(1).unwrap();
    assert!(first_row.contains(&format!("<td class=\"num\">{most}</td>")));
    let a = get(&app, &format!("{base}?sort=size")).await;
    assert_page(&a, 400);
}

#[tokio::test]
async fn a_node_page_lists_failed_tests_first_with_remediation() {
    let report = fixture_report(day(25));
    let node = report
        .cis_benchmark
        .iter()
        .find(|n| n.summary.total_fail > 0)
        .unwrap();
    let (_dir, app) = server_with(std::slice::from_ref(&report)).await;
    let a = get(
        &app,
        &format!("/reports/{}/nodes/{}", report.id, node.node_name),
    )
    .await;
    assert_page(&a, 200);
    assert!(a.body.contains("id=\"node-summary\""));
    assert!(a.body.contains("id=\"sections\""));
    let fail = a.body.find("id=\"tests-fail\"").unwrap();
    if let Some(pass) = a.body.find("id=\"tests-pass\"") {
        assert!(fail < pass);
    }
    assert_eq!(
        a.body.matches("<article class=\"test\"").count(),
        node.results.iter().map(|s| s.results.len()).sum::<usize>()
    );
    assert!(a.body.contains("class=\"remediation\""));
    let a = get(&app, &format!("/reports/{}/nodes/no-such-node", report.id)).await;
    assert_page(&a, 404);
}

#[tokio::test]
async fn a_test_page_says_which_nodes_fail_pass_or_do_not_report_it() {
    let report = fixture_report(day(25));
    let (_dir, app) = server_with(std::slice::from_ref(&report)).await;
    // The most failed test, as the report's page links it.
    let page = get(&app, &format!("/reports/{}", report.id)).await;
    let marker = format!("href=\"/reports/{}/tests/", report.id);
    let start = page.body.find(&marker).unwrap() + marker.len();
    let number = &page.body[start..start + page.body[start..].find('"').unwrap()];
    let failing: Vec<&str> = report
        .cis_benchmark
        .iter()
        .filter(|n| {
            n.results.iter().any(|s| {
                s.results.iter().any(|t| {
                    t.test_number() == number
                        && t.status == compliance_core::model::TestStatus::Fail
                })
            })
        })
        .map(|n| n.node_name.as_str())
        .collect();
    assert!(!failing.is_empty());
    let a = get(&app, &format!("/reports/{}/tests/{number}", report.id)).await;
    assert_page(&a, 200);
    assert!(a.body.contains("id=\"test-tabs\""));
    assert!(a.body.contains("id=\"test-node-list\""));
    assert_eq!(a.body.matches("class=\"node-row\"").count(), failing.len());
    for n in &failing {
        assert!(a.body.contains(n));
    }
    let a = get(
        &app,
        &format!("/reports/{}/tests/{number}?show=missing", report.id),
    )
    .await;
    assert_page(&a, 200);
    let a = get(&app, &format!("/reports/{}/tests/99.99.99", report.id)).await;
    assert_page(&a, 404);
    let a = get(
        &app,
        &format!("/reports/{}/tests/{number}?show=x", report.id),
    )
    .await;
    assert_page(&a, 400);
}

/// Everything a hostile node wrote appears as text on every page, never as markup.
#[tokio::test]
async fn hostile_report_text_is_always_escaped() {
    let report = hostile_report(day(25));
    let (_dir, app) = server_with(std::slice::from_ref(&report)).await;
    let evil = report
        .cis_benchmark
        .iter()
        .find(|n| n.node_name == HOSTILE_NODE)
        .unwrap();
    let number = evil.results[0].results[0].test_number().to_string();
    let node_path = format!(
        "/reports/{}/nodes/{}",
        report.id,
        percent_encoding::utf8_percent_encode(HOSTILE_NODE, percent_encoding::NON_ALPHANUMERIC)
    );
    let paths = [
        "/reports".to_string(),
        format!("/reports/{}", report.id),
        format!("/reports/{}?q=img", report.id),
        node_path,
        format!("/reports/{}/tests/{number}", report.id),
        format!("/reports/{}/print?detail=all", report.id),
    ];
    let mut saw_node = false;
    let mut saw_text = false;
    for path in &paths {
        let a = get(&app, path).await;
        assert_eq!(a.status.as_u16(), 200, "{path}: {}", a.body);
        assert!(
            !a.body.contains(HOSTILE_NODE),
            "{path}: the node name unescaped"
        );
        assert!(
            !a.body.contains(HOSTILE_TEXT),
            "{path}: the test text unescaped"
        );
        assert!(!a.body.contains("<img"), "{path}");
        assert!(!a.body.contains("</script><script>"), "{path}");
        assert!(!a.body.contains("<b>bold?</b>"), "{path}");
        saw_node |= a.body.contains("&lt;img src=x onerror=alert(1)&gt;");
        saw_text |= a.body.contains("&lt;/script&gt;&lt;script&gt;alert(2)");
    }
    assert!(saw_node, "the node name is shown, as text");
    assert!(saw_text, "the test text is shown, as text");
}

#[tokio::test]
async fn the_printable_report_is_one_file_styled_only_by_its_own_stylesheet() {
    let report = synthetic_report(130, day(25), 5);
    let (_dir, app) = server_with(std::slice::from_ref(&report)).await;
    let a = get(&app, &format!("/reports/{}/print", report.id)).await;
    assert_eq!(a.status.as_u16(), 200);
    assert_eq!(a.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(a.header("x-content-type-options"), "nosniff");
    assert_eq!(a.header("content-disposition"), "");
    // The CSP allows exactly the embedded stylesheet, and no script at all.
    let open = a.body.find("<style>").unwrap() + "<style>".len();
    let close = a.body.find("</style>").unwrap();
    let hash = base64::engine::general_purpose::STANDARD
        .encode(Sha256::digest(&a.body.as_bytes()[open..close]));
    let csp = a.header("content-security-policy");
    assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");
    assert!(csp.starts_with("default-src 'none'"));
    assert!(!csp.contains("script-src"));
    assert!(!a.body.contains("<script"));
    // Nothing from elsewhere: the only link is the icon, inside the file.
    for link in a.body.match_indices("<link").map(|(i, _)| &a.body[i..]) {
        assert!(
            link.starts_with("<link rel=\"icon\" type=\"image/svg+xml\" href=\"data:"),
            "{}",
            &link[..80.min(link.len())]
        );
    }
    // Summary first, then every node (streamed in pages), and the document ends.
    let summary = a.body.find("id=\"summary\"").unwrap();
    let detail = a.body.find("id=\"node-detail\"").unwrap();
    assert!(summary < detail);
    assert!(a.body.contains("id=\"versions\""));
    assert!(a.body.contains("id=\"top-failed\""));
    assert_eq!(a.body.matches("<article class=\"print-node").count(), 130);
    assert!(a.body.trim_end().ends_with("</html>"));
    let fails: u64 = report
        .cis_benchmark
        .iter()
        .map(|n| n.summary.total_fail)
        .sum();
    assert_eq!(a.body.matches("<div class=\"test\">").count() as u64, fails);
    let all = get(
        &app,
        &format!("/reports/{}/print?detail=all&download=1", report.id),
    )
    .await;
    assert!(all.body.matches("<div class=\"test\">").count() as u64 > fails);
    assert!(
        all.header("content-disposition")
            .starts_with("attachment; filename=\"cis-benchmark_daily-cis-results_")
    );
    assert!(
        all.header("content-disposition")
            .ends_with("-report.html\"")
    );
    let bad = get(&app, &format!("/reports/{}/print?detail=some", report.id)).await;
    assert_page(&bad, 400);
}

#[tokio::test]
async fn assets_are_embedded_cached_and_revalidated() {
    let (_dir, app) = server_with(&[]).await;
    let page = get(&app, "/reports").await;
    let start = page.body.find("/assets/app.css?v=").unwrap();
    let href = &page.body[start..start + page.body[start..].find('"').unwrap()];
    let css = get(&app, href).await;
    assert_eq!(css.status.as_u16(), 200);
    assert_eq!(css.header("content-type"), "text/css; charset=utf-8");
    assert!(css.header("cache-control").contains("max-age=31536000"));
    let etag = css.header("etag").to_string();
    assert!(!etag.is_empty());
    let again = get_with(&app, "/assets/app.css", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status.as_u16(), 304);
    let js = get(&app, "/assets/app.js").await;
    assert_eq!(js.header("content-type"), "text/javascript; charset=utf-8");
    assert_eq!(get(&app, "/assets/nope.css").await.status.as_u16(), 404);
}

#[tokio::test]
async fn pages_ask_the_same_questions_as_the_api() {
    let report = fixture_report(day(25));
    let policy = FixedPolicy::default()
        .user(
            "reader",
            "alice",
            [Access::ListReports, Access::GetAllReports],
        )
        .user("lister", "bob", [Access::ListReports])
        .user(
            "auditor",
            "carol",
            [
                Access::ListReports,
                Access::GetAllReports,
                Access::GetReportType("cis-benchmark".into()),
            ],
        );
    let (_dir, app) = server_with_auth(std::slice::from_ref(&report), Auth::Fixed(policy)).await;
    let a = get(&app, "/reports").await;
    assert_page(&a, 401);
    assert_eq!(a.header("www-authenticate"), "Bearer realm=\"compliance\"");
    let a = get_with(&app, "/reports", &[("authorization", "Bearer reader")]).await;
    assert_page(&a, 200);
    assert!(a.body.contains(&report.id));
    let a = get_with(&app, "/reports", &[("authorization", "Bearer lister")]).await;
    assert_page(&a, 200);
    assert!(!a.body.contains(&report.id));
    let path = format!("/reports/{}", report.id);
    let a = get_with(&app, &path, &[("authorization", "Bearer lister")]).await;
    assert_page(&a, 403);
    let a = get_with(&app, &path, &[("authorization", "Bearer reader")]).await;
    assert_page(&a, 200);
    // Alice may read but not download: the page offers no download that would fail.
    assert!(a.body.contains("id=\"no-download\""));
    assert!(!a.body.contains("/download?format="));
    let a = get_with(&app, &path, &[("authorization", "Bearer auditor")]).await;
    assert_page(&a, 200);
    assert!(!a.body.contains("id=\"no-download\""));
    assert!(a.body.contains("/download?format="));
}

#[tokio::test]
async fn a_report_without_nodes_says_so_everywhere() {
    let empty = report_from(Vec::new(), day(25));
    let (_dir, app) = server_with(std::slice::from_ref(&empty)).await;
    let a = get(&app, &format!("/reports/{}", empty.id)).await;
    assert_page(&a, 200);
    assert!(a.body.contains("class=\"bar bar-empty\""));
    assert!(a.body.contains("id=\"nodes-empty\""));
    assert!(a.body.contains("This report has no nodes"));
    assert!(a.body.contains("No test failed on any node."));
    let p = get(&app, &format!("/reports/{}/print", empty.id)).await;
    assert_eq!(p.status.as_u16(), 200);
    assert!(p.body.contains("no nodes"));
    assert!(p.body.trim_end().ends_with("</html>"));
}

#[tokio::test]
async fn a_report_stored_without_a_ui_summary_counts_its_top_failed_tests() {
    let mut report = fixture_report(day(25));
    let stored = get_top(&report);
    report.ui_summary = String::new();
    let (_dir, app) = server_with(std::slice::from_ref(&report)).await;
    let a = get(&app, &format!("/reports/{}", report.id)).await;
    assert_page(&a, 200);
    assert_eq!(top_rows(&a.body), stored);
}

/// The (test, failing nodes) pairs the stored uiSummary lists.
fn get_top(report: &ReportDocument) -> Vec<(String, u64)> {
    let v: serde_json::Value = serde_json::from_str(&report.ui_summary).unwrap();
    v["widgets"][1]["topFailedTests"]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["index"].as_str().unwrap().to_string(),
                t["failedCount"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The (test, failing nodes) pairs of a report page's Top-Failed-Tests table.
fn top_rows(body: &str) -> Vec<(String, u64)> {
    body.split("<tr class=\"top-failed-row\" data-test=\"")
        .skip(1)
        .map(|row| {
            let number = row[..row.find('"').unwrap()].to_string();
            let cell = "<td class=\"num fail-count\">";
            let at = row.find(cell).unwrap() + cell.len();
            let count = row[at..at + row[at..].find('<').unwrap()].parse().unwrap();
            (number, count)
        })
        .collect()
}

#[tokio::test]
async fn download_links_name_the_cluster_they_were_made_in() {
    let report = fixture_report(day(25));
    let (_dir, app) = server_with(std::slice::from_ref(&report)).await;
    let path = format!(
        "/compliance/reports/{}/download?format=node-summary.csv",
        report.id
    );
    assert_eq!(get(&app, &path).await.status.as_u16(), 200);
    let here = get(&app, &format!("{path}&cluster=cluster")).await;
    assert_eq!(here.status.as_u16(), 200);
    assert!(here.body.starts_with("node,version,status"));
    let elsewhere = get(&app, &format!("{path}&cluster=other")).await;
    assert_eq!(elsewhere.status.as_u16(), 404);
}

/// The waived tests of `node` in `report`: (test number, waiver name).
fn waived_tests(report: &ReportDocument, node: &str) -> Vec<(String, String)> {
    report
        .cis_benchmark
        .iter()
        .filter(|n| n.node_name == node)
        .flat_map(|n| n.results.iter().flat_map(|s| &s.results))
        .filter_map(|t| {
            t.waiver
                .as_ref()
                .map(|w| (t.test_number().to_string(), w.to_string()))
        })
        .collect()
}

#[tokio::test]
async fn the_report_page_lists_every_waiver_and_the_ratings_without_them() {
    let report = waived_fixture_report(day(25));
    let (_dir, app) = server_with(std::slice::from_ref(&report)).await;
    let a = get(&app, &format!("/reports/{}", report.id)).await;
    assert_page(&a, 200);
    assert!(a.body.contains("id=\"waivers\""), "{}", a.body);
    assert!(a.body.contains(
        "<p class=\"waiver-counts\" id=\"waiver-table-counts\">1 applied, 1 expired, 1 matched nothing."
    ));
    for (name, state) in [
        ("accepted-cp", "applied"),
        ("old-exception", "expired"),
        ("typo", "matchedNothing"),
    ] {
        assert!(
            a.body.contains(&format!(
                "<tr class=\"waiver-row waiver-{state}\" data-waiver=\"{name}\" data-state=\"{state}\">"
            )),
            "{name} {state}"
        );
    }
    // The applied waiver's row: what it names, who accepted it, why, until when, and what
    // it did.
    assert!(a.body.contains(
        "<td>accepted-cp</td><td><span class=\"waiver-state state-applied\">applied</span></td><td>1, 2, 3, 4, 5</td><td>cis-1.23-master-newrelic</td><td>accepted-cp: the distribution sets this up itself</td><td>security@example.com</td><td>SEC-1</td><td><time datetime=\"2027-03-31T00:00:00Z\">2027-03-31T00:00:00Z</time></td><td class=\"num waiver-waived\">12</td><td class=\"num waiver-nodes\">1</td>"
    ));
    // The legend counts the waived failures; the summary gives both ratings.
    assert!(a.body.contains("id=\"waived-count\""));
    assert!(
        a.body
            .contains("<strong>12</strong> failures accepted by a waiver")
    );
    assert!(a.body.contains(
        "With waivers: <strong>2</strong> nodes HIGH, 2 MED, 3 LOW. Without waivers: <strong>1</strong> HIGH, 3 MED, 3 LOW."
    ));
    // The waived node's row: HIGH, MED without waivers, 12 more failures waived.
    let row = a
        .body
        .split("<tr class=\"node-row\"")
        .find(|r| r.contains(&format!(">{WAIVED_NODE}</a>")))
        .unwrap();
    assert!(
        row.contains("rating-high\">HIGH</span> <span class=\"without-waivers\""),
        "{row}"
    );
    assert!(row.contains(">MED without waivers</span>"), "{row}");
    assert!(
        row.contains("<td class=\"num\">0 <span class=\"waived-count\">+12 waived</span></td>"),
        "{row}"
    );
    // No other node says anything of waivers.
    assert_eq!(a.body.matches("without waivers</span>").count(), 1);

    // A report without waivers has no such section, legend or badge.
    let plain = fixture_report(day(24));
    let (_dir2, app2) = server_with(std::slice::from_ref(&plain)).await;
    let a = get(&app2, &format!("/reports/{}", plain.id)).await;
    assert_page(&a, 200);
    for absent in [
        "id=\"waivers\"",
        "waived-count",
        "without-waivers",
        "waived",
    ] {
        assert!(!a.body.contains(absent), "{absent}");
    }
}

#[tokio::test]
async fn a_waived_fail_stays_fail_on_the_node_page_with_its_waiver() {
    let report = waived_fixture_report(day(25));
    let waived = waived_tests(&report, WAIVED_NODE);
    assert_eq!(waived.len(), 12);
    let (_dir, app) = server_with(std::slice::from_ref(&report)).await;
    let a = get(&app, &format!("/reports/{}/nodes/{WAIVED_NODE}", report.id)).await;
    assert_page(&a, 200);
    assert!(a.body.contains(
        "rating-high\">HIGH</span> <span class=\"without-waivers\" title=\"the rating if no waiver applied\">MED without waivers</span></h1>"
    ));
    assert!(a.body.contains("<strong id=\"node-waived\">12</strong> more accepted by a waiver (rated MED without waivers)"));
    // Every waived test is in the FAIL group, marked, with the waiver's decision.
    let fail_group = a.body.split("id=\"tests-fail\"").nth(1).unwrap();
    let fail_group = fail_group.split("</section>").next().unwrap();
    assert_eq!(
        fail_group.matches("<article class=\"test waived\"").count(),
        12
    );
    for (number, waiver) in &waived {
        assert_eq!(waiver, "accepted-cp");
        assert!(fail_group.contains(&format!(
            "<article class=\"test waived\" data-test=\"{number}\" data-waiver=\"accepted-cp\">"
        )));
    }
    assert_eq!(
        fail_group.matches(
            "<p class=\"waiver-note\"><span class=\"waived-mark\">waived</span> by <strong class=\"waiver-name\">accepted-cp</strong>: <span class=\"waiver-reason\">accepted-cp: the distribution sets this up itself</span>; owner <span class=\"waiver-owner\">security@example.com</span>; ticket <span class=\"waiver-ticket\">SEC-1</span>; until <time class=\"waiver-expires\" datetime=\"2027-03-31T00:00:00Z\">2027-03-31T00:00:00Z</time></p>"
        ).count(),
        12
    );
    // Another node, whose section 4 failures only the expired waiver named: not waived.
    let other = report
        .cis_benchmark
        .iter()
        .find(|n| n.node_name != WAIVED_NODE && n.summary.total_fail > 0)
        .unwrap();
    let a = get(
        &app,
        &format!("/reports/{}/nodes/{}", report.id, other.node_name),
    )
    .await;
    assert_page(&a, 200);
    assert!(!a.body.contains("waived"), "{}", other.node_name);
}

#[tokio::test]
async fn a_test_page_marks_the_nodes_whose_fail_is_waived() {
    let report = waived_fixture_report(day(25));
    let (number, _) = waived_tests(&report, WAIVED_NODE).remove(0);
    let (_dir, app) = server_with(std::slice::from_ref(&report)).await;
    let a = get(&app, &format!("/reports/{}/tests/{number}", report.id)).await;
    assert_page(&a, 200);
    assert!(
        a.body
            .contains("<p id=\"test-waived\">1 node's FAIL of this test is accepted by a waiver")
    );
    assert!(
        a.body
            .contains("<span class=\"waived-count\" id=\"tab-fail-waived\">1 waived</span>")
    );
    assert!(a.body.contains("<ul class=\"waiver-notes\" id=\"test-waivers\"><li><p class=\"waiver-note\"><span class=\"waived-mark\">waived</span> by <strong class=\"waiver-name\">accepted-cp</strong>"));
    assert_eq!(
        a.body
            .matches("<tr class=\"node-row waived\" data-waiver=\"accepted-cp\">")
            .count(),
        1
    );
    let row = a
        .body
        .split("<tr class=\"node-row waived\"")
        .nth(1)
        .unwrap();
    assert!(row.contains(&format!(">{WAIVED_NODE}</a>")));
    assert!(row.contains("waived: accepted-cp</span>"));
    let fails = report
        .cis_benchmark
        .iter()
        .filter(|n| {
            n.results.iter().flat_map(|s| &s.results).any(|t| {
                t.test_number() == number && t.status == compliance_core::model::TestStatus::Fail
            })
        })
        .count();
    assert_eq!(a.body.matches("<tr class=\"node-row").count(), fails);
}

#[tokio::test]
async fn the_printable_report_lists_waivers_and_marks_waived_fails() {
    let report = waived_fixture_report(day(25));
    let (_dir, app) = server_with(std::slice::from_ref(&report)).await;
    let a = get(&app, &format!("/reports/{}/print", report.id)).await;
    assert_eq!(a.status.as_u16(), 200);
    assert!(a.body.contains("<h3>Waivers</h3>"));
    assert!(a.body.contains("id=\"print-waivers\""));
    assert!(a.body.contains("id=\"ratings-without-waivers\""));
    assert_eq!(a.body.matches("<tr class=\"waiver-row").count(), 3);
    // Waived FAILs are printed with the failures, each marked.
    let fails: u64 = report
        .cis_benchmark
        .iter()
        .map(|n| n.summary.total_fail)
        .sum();
    assert_eq!(
        a.body.matches("<div class=\"test\">").count() as u64,
        fails + 12
    );
    assert_eq!(
        a.body
            .matches("<p class=\"waiver-note\"><span class=\"waived-mark\">waived</span> by <strong>accepted-cp</strong>: accepted-cp: the distribution sets this up itself; owner security@example.com; ticket SEC-1; until 2027-03-31T00:00:00Z</p>")
            .count(),
        12
    );
    assert!(
        a.body
            .contains("<span class=\"without-waivers\">MED without waivers</span></h3>")
    );
}

#[tokio::test]
async fn the_diff_page_lists_each_change_linked_to_its_report() {
    let seq = Sequence::story();
    let ids = seq.ids();
    let (_dir, app) = server_with(&seq.reports).await;
    // The report page leads to the changes since the previous report.
    let a = get(&app, &format!("/reports/{}", ids[4])).await;
    assert_page(&a, 200);
    assert!(a.body.contains(&format!(
        "<a id=\"changes-link\" href=\"/reports/{}/diff\">What changed since <time datetime=\"{}\">",
        ids[4], STORY_ENDS[3]
    )));
    let first = get(&app, &format!("/reports/{}", ids[0])).await;
    assert!(!first.body.contains("changes-link"));

    let a = get(&app, &format!("/reports/{}/diff", ids[4])).await;
    assert_page(&a, 200);
    for (key, count) in [
        ("new", 1),
        ("resolved", 0),
        ("persisting", 1),
        ("newNode", 0),
        ("gone", 1),
    ] {
        assert!(
            a.body
                .contains(&format!("<dd data-count=\"{key}\">{count}</dd>")),
            "{key}"
        );
    }
    assert!(
        a.body
            .contains("<dd data-count=\"nodes\">0 added, 1 removed</dd>")
    );
    assert!(
        a.body
            .contains("<dd data-count=\"ratings\">2 worse, 0 better</dd>")
    );
    // New failures first: cp-1 1.2.6, linked to the newer report.
    assert_eq!(a.body.matches("<tr class=\"diff-row\"").count(), 1);
    assert!(a.body.contains(&format!(
        "<tr class=\"diff-row\" data-node=\"cp-1\" data-test=\"1.2.6\" data-change=\"new\"><td><a class=\"node-link\" href=\"/reports/{0}/nodes/cp-1\">cp-1</a></td><td><a class=\"test-link\" href=\"/reports/{0}/tests/1.2.6\">1.2.6</a></td>",
        ids[4]
    )));
    assert!(a.body.contains(&format!(
        "href=\"/compliance/reports/{}/diff?against={}&amp;format=diff.csv\"",
        ids[4], ids[3]
    )));
    // Persisting: w-1's failure was waived before, not now.
    let a = get(&app, &format!("/reports/{}/diff?show=persisting", ids[4])).await;
    assert_page(&a, 200);
    assert!(
        a.body
            .contains("data-node=\"w-1\" data-test=\"4.2.6\" data-change=\"persisting\"")
    );
    assert!(
        a.body
            .contains("was <span class=\"waived-mark\">waived</span> iptables-chains")
    );
    // Gone with its node: linked to the older report, where the node is.
    let a = get(&app, &format!("/reports/{}/diff?show=gone", ids[4])).await;
    assert!(
        a.body
            .contains(&format!("href=\"/reports/{}/nodes/w-3\"", ids[3]))
    );
    // Node changes, with both ratings where a waiver made a difference.
    let a = get(&app, &format!("/reports/{}/diff?show=nodes", ids[4])).await;
    assert_page(&a, 200);
    assert_eq!(a.body.matches("<tr class=\"diff-node-row\"").count(), 3);
    assert!(a.body.contains("data-node=\"w-1\" data-kind=\"rerated\""));
    let w1 = a.body.split("data-node=\"w-1\"").nth(1).unwrap();
    let w1 = w1.split("</tr>").next().unwrap();
    assert!(
        w1.contains("HIGH</span> <span class=\"without-waivers\">MED without waivers</span>"),
        "{w1}"
    );
    // Against any report of the GlobalReport; bad parameters are named.
    let a = get(
        &app,
        &format!("/reports/{}/diff?against={}&show=resolved", ids[4], ids[2]),
    )
    .await;
    assert_page(&a, 200);
    assert!(a.body.contains("<dd data-count=\"resolved\">0</dd>"));
    let a = get(&app, &format!("/reports/{}/diff?show=everything", ids[4])).await;
    assert_page(&a, 400);
    assert!(a.body.contains("invalid show"));
    let a = get(&app, &format!("/reports/{}/diff", ids[0])).await;
    assert_page(&a, 404);
}

#[tokio::test]
async fn node_and_test_pages_show_each_findings_lifecycle() {
    let seq = Sequence::story();
    let ids = seq.ids();
    let (_dir, app) = server_with(&seq.reports).await;
    let a = get(&app, &format!("/reports/{}/nodes/cp-1", ids[4])).await;
    assert_page(&a, 200);
    assert!(a.body.contains("id=\"history\""));
    assert!(
        a.body
            .contains("Over the latest 5 reports of this GlobalReport")
    );
    assert!(a.body.contains(": 1 failing, 0 resolved."));
    let row = a.body.split("<tr class=\"history-row\"").nth(1).unwrap();
    let row = row.split("</tr>").next().unwrap();
    assert_eq!(
        row,
        format!(
            " data-test=\"1.2.6\" data-state=\"failing\"><td><a href=\"/reports/{0}/tests/1.2.6\">1.2.6</a></td><td>Ensure that the --kubelet-certificate-authority argument is set as appropriate (Automated)</td><td><span class=\"history-state state-failing\">failing</span></td><td><time datetime=\"{1}\">{1}</time></td><td><time datetime=\"{2}\">{2}</time></td><td></td><td class=\"num\">1</td><td class=\"num\">3</td><td></td>",
            ids[4], STORY_ENDS[1], STORY_ENDS[4]
        )
    );
    assert!(a.body.contains(
        "href=\"/compliance/findings?reportName=daily-cis-results&amp;node=cp-1&amp;format=findings.csv\""
    ));
    // Report 4's page of cp-1: the history is the GlobalReport's as of its newest report.
    let a = get(&app, &format!("/reports/{}/nodes/cp-1", ids[3])).await;
    assert!(a.body.contains("(newer than the report shown)"));
    // A node that never failed.
    let a = get(&app, &format!("/reports/{}/nodes/w-2", ids[4])).await;
    assert!(a.body.contains("id=\"history-empty\""));
    // The test page: each failing node with its streak.
    let a = get(&app, &format!("/reports/{}/tests/4.2.6", ids[4])).await;
    assert_page(&a, 200);
    assert!(
        a.body
            .contains(": 1 failing, 0 resolved, 1 on nodes not assessed lately.")
    );
    let w1 = a.body.split("<tr class=\"node-row\"").nth(1).unwrap();
    assert!(w1.contains(&format!(
        "<span class=\"history-note history-failing\">failing since <time datetime=\"{0}\">{0}</time>; first failed <time datetime=\"{0}\">{0}</time></span>",
        STORY_ENDS[0]
    )), "{w1}");
    let a = get(&app, &format!("/reports/{}/tests/1.2.6", ids[4])).await;
    assert!(a.body.contains("; reopened 1 time</span>"));
}
