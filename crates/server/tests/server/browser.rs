//! The pages in a real headless Chromium, used as a person uses them: each page loads
//! with a clean console (no Content-Security-Policy violation, failed load or script
//! error), links, sorting, filters and pagers lead where they say, downloads arrive with
//! the names and bytes of the API, and hostile report text stays text. Each test starts a
//! browser of its own, takes screenshots for a person to look at, and skips (passing)
//! where Chromium or ChromeDriver is not installed.

use std::io::{Cursor, Read as _};

use compliance_core::model::ReportDocument;
use compliance_core::render::{Download, write_download};
use compliance_core::report::report_id;
use compliance_testkit::browser::Browser;
use compliance_testkit::browser::fantoccini::wd::WebDriverCompatibleCommand;
use compliance_testkit::fixtures::t;
use compliance_testkit::reports::{
    HOSTILE_NODE, HOSTILE_TEXT, WAIVED_NODE, fixture_report, hostile_report, synthetic_report,
    waived_fixture_report,
};
use compliance_testkit::sequence::{STORY_ENDS, Sequence};
use serde_json::json;

use crate::support::server_with;

fn day(n: u32) -> chrono::DateTime<chrono::Utc> {
    t(&format!("2026-11-{n:02}T00:00:00Z"))
}

/// Serves the pages over `reports` on a free 127.0.0.1 port, on the calling test's
/// runtime. Returns the store's directory (keep it alive) and the base URL.
async fn serve(reports: &[ReportDocument]) -> (tempfile::TempDir, String) {
    let (dir, app) = server_with(reports).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a port for the pages");
    let address = listener.local_addr().expect("the pages' address");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve the pages");
    });
    (dir, format!("http://{address}"))
}

/// Waits until the page shows `css`, then until the console has caught up with the page
/// (an entry logged now has arrived, so everything the page logged before has too), and
/// fails on any error or warning there.
async fn assert_clean(browser: &Browser, css: &str) {
    browser.wait_for_element(css).await;
    let marker = format!("checked {css} at {}", browser.current_url().await);
    browser
        .execute("console.info(arguments[0]);", vec![json!(marker)])
        .await;
    browser
        .wait_for_console("marking the check", |e| e.message.contains(&marker))
        .await;
    browser.assert_no_console_errors().await;
}

/// The `data-id` of each report row, top to bottom.
async fn report_ids(browser: &Browser) -> Vec<String> {
    let mut ids = Vec::new();
    for row in browser.find_all("tr.report-row").await {
        ids.push(
            row.attr("data-id")
                .await
                .expect("read data-id")
                .expect("a report row has data-id"),
        );
    }
    ids
}

/// `doc` as another GlobalReport, `name`, of the same window.
fn renamed(mut doc: ReportDocument, name: &str) -> ReportDocument {
    doc.report_name = name.to_string();
    doc.id = report_id(name, &doc.report_type_name, doc.start_time, doc.end_time);
    doc
}

#[tokio::test]
async fn the_report_list_sorts_filters_and_leads_to_a_report() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let reports = vec![
        fixture_report(day(23)),
        fixture_report(day(24)),
        renamed(fixture_report(day(25)), "weekly-cis-results"),
    ];
    let (_dir, base) = serve(&reports).await;
    browser.goto(&format!("{base}/reports")).await;
    assert_clean(&browser, "#reports").await;
    browser.screenshot("server-reports-list").await;
    // Newest window first.
    let newest_first: Vec<String> = reports.iter().rev().map(|r| r.id.clone()).collect();
    assert_eq!(report_ids(&browser).await, newest_first);

    // The end time's header reverses the order.
    browser.click("th.sortable[data-key=endTime] a").await;
    browser
        .wait_for_url("sorted by end time", |u| {
            u.query().unwrap_or_default().contains("endTime")
        })
        .await;
    browser.wait_for_element("#reports").await;
    let oldest_first: Vec<String> = reports.iter().map(|r| r.id.clone()).collect();
    assert_eq!(report_ids(&browser).await, oldest_first);
    assert_eq!(
        browser
            .attr("th.sortable[data-key=endTime]", "aria-sort")
            .await
            .as_deref(),
        Some("ascending")
    );

    // The filter form narrows the list to one GlobalReport.
    browser.fill("#f-report-name", "weekly-cis-results").await;
    browser.submit("#report-filter").await;
    browser
        .wait_for_url("filtered by report name", |u| {
            u.query_pairs()
                .any(|(k, v)| k == "reportName" && v == "weekly-cis-results")
        })
        .await;
    browser.wait_for_element("#reports").await;
    assert_eq!(report_ids(&browser).await, [reports[2].id.clone()]);
    assert_eq!(browser.texts("a.report-link").await, ["weekly-cis-results"]);
    assert_clean(&browser, "#reports").await;

    // A report's name leads to its page.
    browser.click("a.report-link").await;
    let path = format!("/reports/{}", reports[2].id);
    browser
        .wait_for_url("on the report's page", |u| u.path() == path)
        .await;
    assert_eq!(
        browser.text("#report-title").await,
        "weekly-cis-results cis-benchmark"
    );
    assert_clean(&browser, "#summary-chart").await;
}

#[tokio::test]
async fn the_empty_list_and_an_error_page_load_cleanly() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (_dir, base) = serve(&[]).await;
    browser.goto(&format!("{base}/")).await;
    assert_clean(&browser, "#empty-state").await;
    assert!(
        browser
            .text("#empty-state")
            .await
            .contains("No reports yet")
    );
    assert_eq!(browser.count("#reports").await, 0);
    browser.screenshot("server-empty-state").await;

    browser
        .goto(&format!("{base}/reports/no-such-report"))
        .await;
    browser.wait_for_element("#error").await;
    assert!(browser.text("#error h1").await.starts_with("404"));
    assert!(
        browser
            .text("#error-message")
            .await
            .contains("no report with id")
    );
    // The document's own 404 is on the console as a failed load; nothing else may be.
    let marker = "checked the error page";
    browser
        .execute("console.info(arguments[0]);", vec![json!(marker)])
        .await;
    browser
        .wait_for_console("marking the check", |e| e.message.contains(marker))
        .await;
    let problems: Vec<String> = browser
        .console_problems()
        .await
        .iter()
        .filter(|e| !(e.source == "network" && e.message.contains("/reports/no-such-report")))
        .map(ToString::to_string)
        .collect();
    assert!(problems.is_empty(), "console problems: {problems:#?}");
    browser.screenshot("server-error-404").await;

    // The error page leads back to the (empty) list.
    browser.click("#error a").await;
    browser
        .wait_for_url("on the list", |u| u.path() == "/reports" || u.path() == "/")
        .await;
    browser.wait_for_element("#empty-state").await;
}

#[tokio::test]
async fn a_reports_nodes_filter_by_status_and_name_and_page() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let report = synthetic_report(120, day(25), 11);
    let (_dir, base) = serve(std::slice::from_ref(&report)).await;
    let page = format!("/reports/{}", report.id);
    browser.goto(&format!("{base}{page}")).await;
    assert_clean(&browser, "#nodes").await;
    browser.screenshot("server-report").await;
    let s = &report.cis_benchmark_summary;
    assert_eq!(browser.text("#count-high").await, s.high_count.to_string());
    assert_eq!(browser.text("#count-med").await, s.med_count.to_string());
    assert_eq!(browser.text("#count-low").await, s.low_count.to_string());
    assert_eq!(browser.text("#count-total").await, "120");
    let nonzero = [s.high_count, s.med_count, s.low_count]
        .iter()
        .filter(|&&c| c > 0)
        .count();
    assert_eq!(browser.count("#summary-chart rect.bar").await, nonzero);
    assert_eq!(browser.count("tr.node-row").await, 50);
    scroll_to(&browser, "#nodes-pager").await;
    browser.screenshot("server-report-pager").await;

    // The pager's next link shows the second page.
    browser.click("#nodes-pager a.pager-next").await;
    browser
        .wait_for_url("on the second page", |u| {
            u.query_pairs().any(|(k, v)| k == "page" && v == "1")
        })
        .await;
    browser.wait_for_element("#nodes-pager").await;
    assert!(browser.text("#nodes-pager").await.contains("51–100 of 120"));
    assert_eq!(browser.count("tr.node-row").await, 50);
    assert_clean(&browser, "#nodes").await;

    // Ticking a status submits the filter at once (the page's script does).
    let status = [
        ("HIGH", s.high_count),
        ("MED", s.med_count),
        ("LOW", s.low_count),
    ]
    .into_iter()
    .filter(|(_, c)| *c > 0)
    .min_by_key(|(_, c)| *c)
    .map(|(name, _)| name)
    .expect("a rating with nodes");
    let expected = match status {
        "HIGH" => s.high_count,
        "MED" => s.med_count,
        _ => s.low_count,
    };
    browser.goto(&format!("{base}{page}")).await;
    browser.wait_for_element("#node-filter").await;
    browser
        .click(&format!("#node-filter input[name=status][value={status}]"))
        .await;
    browser
        .wait_for_url("filtered by status", |u| {
            u.query_pairs().any(|(k, v)| k == "status" && v == status)
        })
        .await;
    browser.wait_for_element("#nodes").await;
    let statuses = browser_statuses(&browser).await;
    assert_eq!(statuses.len() as u64, expected.min(50));
    assert!(statuses.iter().all(|st| st == status), "{statuses:?}");
    assert_clean(&browser, "#nodes").await;

    // Typing part of a name and submitting narrows by name.
    browser.goto(&format!("{base}{page}")).await;
    let wanted = &report.cis_benchmark[7].node_name;
    browser.fill("#node-q", wanted).await;
    browser.submit("#node-filter").await;
    browser
        .wait_for_url("filtered by name", |u| {
            u.query_pairs()
                .any(|(k, v)| k == "q" && v == wanted.as_str())
        })
        .await;
    browser.wait_for_element("#nodes").await;
    let names = browser.texts("tr.node-row a.node-link").await;
    assert_eq!(names, std::slice::from_ref(wanted));
    assert_clean(&browser, "#nodes").await;
}

async fn browser_statuses(browser: &Browser) -> Vec<String> {
    let mut statuses = Vec::new();
    for row in browser.find_all("tr.node-row").await {
        statuses.push(
            row.attr("data-status")
                .await
                .expect("read data-status")
                .unwrap_or_default(),
        );
    }
    statuses
}

#[tokio::test]
async fn a_report_leads_to_its_tests_nodes_and_printable_form() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let report = fixture_report(day(25));
    let (_dir, base) = serve(std::slice::from_ref(&report)).await;
    let page = format!("{base}/reports/{}", report.id);

    // The most failed test lists its failing nodes.
    browser.goto(&page).await;
    assert_clean(&browser, "#top-failed-table").await;
    assert_eq!(browser.count("#summary-chart rect.bar").await, 3);
    browser.screenshot("server-report-fixture").await;
    let number = browser
        .attr("tr.top-failed-row", "data-test")
        .await
        .expect("a top failed test has its number");
    let failing: usize = browser
        .text("tr.top-failed-row td.fail-count")
        .await
        .parse()
        .expect("a count of failing nodes");
    browser.click("tr.top-failed-row a").await;
    let test_path = format!("/reports/{}/tests/{number}", report.id);
    browser
        .wait_for_url("on the test's page", |u| u.path() == test_path)
        .await;
    assert_clean(&browser, "#test-node-list").await;
    assert!(browser.text("#test-title").await.starts_with(&number));
    assert_eq!(browser.count("#test-node-list tr.node-row").await, failing);
    assert_eq!(
        browser.attr("#tab-fail", "aria-current").await.as_deref(),
        Some("page")
    );
    browser.screenshot("server-test").await;

    // Each tab shows its own nodes, as many as it says.
    for tab in ["pass", "info", "missing", "fail"] {
        if browser.count(&format!("#tab-{tab}")).await == 0 {
            continue;
        }
        let count: usize = browser
            .text(&format!("#tab-{tab} .count"))
            .await
            .parse()
            .expect("a tab's count");
        browser.click(&format!("#tab-{tab}")).await;
        let selector = format!("#tab-{tab}[aria-current=page]");
        browser.wait_for_element(&selector).await;
        if count == 0 {
            assert_eq!(browser.count("#test-node-list").await, 0);
            assert_eq!(browser.count("#test-nodes-empty").await, 1);
        } else {
            assert_eq!(
                browser.count("#test-node-list tr.node-row").await,
                count.min(50),
                "tab {tab}"
            );
        }
        assert_clean(&browser, "#test-tabs").await;
    }

    // A failing node's page lists its FAIL tests first.
    browser.click("#test-node-list a.node-link").await;
    browser
        .wait_for_url("on a node's page", |u| u.path().contains("/nodes/"))
        .await;
    assert_clean(&browser, "#node-title").await;
    let groups: Vec<String> = {
        let mut ids = Vec::new();
        for g in browser.find_all("#tests > section.test-group").await {
            ids.push(g.attr("id").await.expect("read id").unwrap_or_default());
        }
        ids
    };
    assert_eq!(
        groups.first().map(String::as_str),
        Some("tests-fail"),
        "{groups:?}"
    );
    assert!(browser.count("#tests-fail article.test[data-test]").await > 0);
    browser.screenshot("server-node").await;

    // From the report, a node's link, then the printable report.
    browser.goto(&page).await;
    browser.wait_for_element("#nodes").await;
    let name = browser.text("a.node-link").await;
    browser.click("a.node-link").await;
    browser
        .wait_for_url("on the node's page", |u| u.path().contains("/nodes/"))
        .await;
    assert!(browser.text("#node-title").await.starts_with(&name));
    browser.goto(&page).await;
    browser.click("#print-link").await;
    let print_path = format!("/reports/{}/print", report.id);
    browser
        .wait_for_url("on the printable report", |u| u.path() == print_path)
        .await;
    assert_clean(&browser, "#report-title").await;
    browser.screenshot("server-print").await;
}

/// `<type>_<name>_<start>-<end>`, as SPEC §9 names downloads.
fn base_name(r: &ReportDocument) -> String {
    format!(
        "{}_{}_{}-{}",
        r.report_type_name,
        r.report_name,
        r.start_time.format("%Y%m%d%H%M%S"),
        r.end_time.format("%Y%m%d%H%M%S")
    )
}

fn rendered(download: Download, r: &ReportDocument) -> Vec<u8> {
    let mut bytes = Vec::new();
    write_download(download, r, &mut bytes).expect("render the download");
    bytes
}

#[tokio::test]
async fn downloads_arrive_named_as_the_spec_says() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let report = fixture_report(day(25));
    let older = fixture_report(day(24));
    let (_dir, base) = serve(&[report.clone(), older.clone()]).await;
    let expected = |d: Download| rendered(d, &report);
    browser.goto(&format!("{base}/reports/{}", report.id)).await;
    browser.wait_for_element("#downloads").await;

    // The files the report's type asks for (its UI summary is the API's, not a file's),
    // and the provenance every report offers.
    let links = browser
        .texts("#downloads a.download:not(.download-zip)")
        .await;
    let offered: Vec<Download> = links
        .iter()
        .map(|name| Download::from_name(name).unwrap_or_else(|| panic!("offered {name:?}")))
        .collect();
    assert_eq!(
        offered,
        [
            Download::TotalSummary,
            Download::NodeSummary,
            Download::FailedTests,
            Download::AllTests,
            Download::NodeProvenance
        ]
    );
    for d in &offered {
        browser
            .click(&format!(
                "#downloads a.download[href$=\"format={}\"]",
                d.file_name()
            ))
            .await;
        let path = browser.wait_for_download().await;
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some(format!("{}-{}", base_name(&report), d.file_name()).as_str())
        );
        let bytes = std::fs::read(&path).expect("read the download");
        assert!(
            bytes == expected(*d),
            "{} differs from the rendered download",
            d.file_name()
        );
    }

    browser.click("#download-all").await;
    let path = browser.wait_for_download().await;
    assert_eq!(
        path.file_name().and_then(|n| n.to_str()),
        Some(format!("{}.zip", base_name(&report)).as_str())
    );
    let mut zip = zip::ZipArchive::new(Cursor::new(std::fs::read(&path).expect("read the zip")))
        .expect("a zip");
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.expect("a zip entry name").into_owned())
        .collect();
    assert_eq!(names.len(), offered.len(), "{names:?}");
    for d in &offered {
        let name = format!("{}-{}", base_name(&report), d.file_name());
        let mut bytes = Vec::new();
        zip.by_name(&name)
            .unwrap_or_else(|e| panic!("{name} in the zip ({names:?}): {e}"))
            .read_to_end(&mut bytes)
            .expect("read from the zip");
        assert!(bytes == expected(*d), "{name} in the zip differs");
    }
    // The page stayed where it was, and nothing went wrong on it.
    assert_clean(&browser, "#downloads").await;

    // The list offers the same files, each report's its own.
    browser.goto(&format!("{base}/reports")).await;
    let row = format!("tr.report-row[data-id=\"{}\"]", older.id);
    browser.click(&format!("{row} a.download")).await;
    let path = browser.wait_for_download().await;
    let first = offered[0];
    assert_eq!(
        path.file_name().and_then(|n| n.to_str()),
        Some(format!("{}-{}", base_name(&older), first.file_name()).as_str())
    );
    assert!(std::fs::read(&path).expect("read the download") == rendered(first, &older));
    assert_clean(&browser, "#reports").await;
}

#[tokio::test]
async fn hostile_report_text_stays_text() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let report = hostile_report(day(25));
    let (_dir, base) = serve(std::slice::from_ref(&report)).await;
    browser.goto(&format!("{base}/reports/{}", report.id)).await;
    assert_clean(&browser, "#nodes").await;
    let names = browser.texts("a.node-link").await;
    assert!(names.iter().any(|n| n == HOSTILE_NODE), "{names:?}");
    assert_eq!(browser.count("img").await, 0);
    assert_no_dialog(&browser).await;
    scroll_to(&browser, "#node-table").await;
    browser.screenshot("server-hostile-report").await;

    let link = browser
        .client()
        .find(compliance_testkit::browser::fantoccini::Locator::LinkText(
            HOSTILE_NODE,
        ))
        .await
        .expect("a link named like the hostile node");
    link.click().await.expect("click the hostile node's link");
    browser
        .wait_for_url("on the hostile node's page", |u| {
            u.path().contains("/nodes/")
        })
        .await;
    assert_clean(&browser, "#node-title").await;
    assert!(browser.text("#node-title").await.starts_with(HOSTILE_NODE));
    assert_eq!(browser.count("img").await, 0);
    // Only the page's own script element: none came from the test texts.
    assert_eq!(browser.count("script").await, 1);
    assert_eq!(browser.count("main b").await, 0);
    let headings = browser.texts("article.test h3").await;
    assert!(
        headings.iter().any(|h| h.contains(HOSTILE_TEXT)),
        "{headings:#?}"
    );
    let remediations = browser.texts("article.test .remediation").await;
    assert!(
        remediations
            .iter()
            .any(|r| r.contains(&format!("{HOSTILE_TEXT} & \"quoted\""))),
        "{remediations:#?}"
    );
    assert_no_dialog(&browser).await;
    // A test whose texts are hostile: on screen, then on its own page.
    let mut number = None;
    for article in browser.find_all("article.test").await {
        let text = article.text().await.expect("read a test");
        if text.contains(HOSTILE_TEXT) {
            number = article.attr("data-test").await.expect("read data-test");
            break;
        }
    }
    let number = number.expect("a test of the hostile node with the hostile text");
    scroll_to(&browser, &format!("article.test[data-test=\"{number}\"]")).await;
    browser.screenshot("server-hostile-node").await;
    browser
        .goto(&format!("{base}/reports/{}/tests/{number}", report.id))
        .await;
    assert_clean(&browser, "#test-title").await;
    assert!(browser.text("#test-title").await.contains(HOSTILE_TEXT));
    assert_eq!(browser.count("img").await, 0);
    assert_eq!(browser.count("main b").await, 0);
    assert_no_dialog(&browser).await;
    browser.screenshot("server-hostile-test").await;

    // And so does the printable report, every test of every node.
    browser
        .goto(&format!("{base}/reports/{}/print?detail=all", report.id))
        .await;
    assert_clean(&browser, "#report-title").await;
    let body = browser.text("body").await;
    assert!(body.contains(HOSTILE_NODE));
    assert!(body.contains(HOSTILE_TEXT));
    assert_eq!(browser.count("img").await, 0);
    assert_eq!(browser.count("script").await, 0);
    assert_eq!(browser.count("main b").await, 0);
    assert_no_dialog(&browser).await;
}

/// Scrolls the page so that `css` is at the top of the window, for a screenshot of it.
async fn scroll_to(browser: &Browser, css: &str) {
    browser
        .execute(
            "document.querySelector(arguments[0]).scrollIntoView(true);",
            vec![json!(css)],
        )
        .await;
}

/// No `alert` (or other dialog) is open.
async fn assert_no_dialog(browser: &Browser) {
    if let Ok(text) = browser.client().get_alert_text().await {
        panic!("a dialog is open: {text:?}");
    }
}

/// ChromeDriver's door to the DevTools protocol, to switch the page's scripts off.
#[derive(Debug)]
struct Cdp(serde_json::Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.0.to_string()))
    }
}

#[tokio::test]
async fn without_javascript_the_node_filter_still_works() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let report = synthetic_report(60, day(25), 5);
    let (_dir, base) = serve(std::slice::from_ref(&report)).await;
    let page = format!("/reports/{}", report.id);
    browser
        .client()
        .issue_cmd(Cdp(json!({
            "cmd": "Emulation.setScriptExecutionDisabled",
            "params": {"value": true}
        })))
        .await
        .expect("switch scripts off");
    browser.goto(&format!("{base}{page}")).await;
    browser.wait_for_element("#node-filter").await;
    let button = browser.find("#node-filter button[type=submit]").await;
    assert!(button.is_displayed().await.expect("read whether shown"));

    let status = report
        .cis_benchmark
        .iter()
        .map(|n| format!("{:?}", n.summary.status).to_uppercase())
        .next()
        .expect("a node");
    browser
        .click(&format!("#node-filter input[name=status][value={status}]"))
        .await;
    // Without the script, ticking changes nothing until the button is pressed.
    assert_eq!(browser.current_url().await.path(), page);
    assert_eq!(browser.current_url().await.query(), None);
    browser.submit("#node-filter").await;
    browser
        .wait_for_url("filtered by status", |u| {
            u.query_pairs().any(|(k, v)| k == "status" && v == status)
        })
        .await;
    browser.wait_for_element("#nodes").await;
    let statuses = browser_statuses(&browser).await;
    assert!(!statuses.is_empty());
    assert!(statuses.iter().all(|st| *st == status), "{statuses:?}");
}

/// A test from `report`'s first node as NOT_OBSERVED, with provenance on that node, and
/// a node without results since 2026-11-20T06:00:00Z; returns the first node's name and
/// the test's number.
fn with_unobserved_and_no_results(report: &mut ReportDocument) -> (String, String) {
    let first = &mut report.cis_benchmark[0];
    first.platform = "eks".into();
    first.kube_bench_version = "0.10.1".into();
    first.benchmarker_version = "1.4.0".into();
    first.benchmark_choice = "platform eks 1.29 → eks-1.5.0".into();
    let unobserved = first.results[0].results[0].text.test_number.clone();
    first.results[0].results[0].status = compliance_core::model::TestStatus::NotObserved;
    let node = first.node_name.clone();
    let mut stale = report.cis_benchmark[1].clone();
    stale.node_name = "zz-no-results".into();
    stale.results.clear();
    stale.error.clear();
    stale.no_results = true;
    stale.last_result_time = Some(t("2026-11-20T06:00:00Z"));
    stale.summary = compliance_core::model::NodeSummary {
        status: compliance_core::model::Rating::Low,
        total_pass: 0,
        total_fail: 0,
        total_info: 0,
        total: 0,
        waived: 0,
        status_without_waivers: None,
    };
    report.cis_benchmark.push(stale);
    report.cis_benchmark_summary.low_count += 1;
    report.cis_benchmark_summary.no_results_count = 1;
    (node, unobserved)
}

/// A NOT_OBSERVED test is shown with its own label, class, tab and legend, and the report
/// has a Provenance section ("not recorded" for a report without one).
#[tokio::test]
async fn not_observed_tests_and_the_provenance_section_are_shown() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut report = fixture_report(day(25));
    report.provenance = None;
    let (node, unobserved) = with_unobserved_and_no_results(&mut report);
    let (_dir, base) = serve(std::slice::from_ref(&report)).await;

    // The report: the legend says how this report counted them; the provenance section.
    browser.goto(&format!("{base}/reports/{}", report.id)).await;
    assert_clean(&browser, "#provenance").await;
    let legend = browser.text("#unobserved-legend").await;
    assert!(legend.contains("counted these tests as info"), "{legend}");
    assert!(
        browser
            .text("#report-provenance-none")
            .await
            .starts_with("not recorded")
    );
    browser.screenshot("server-report-provenance").await;

    // The node: the test under its own label, and the legend.
    browser
        .goto(&format!("{base}/reports/{}/nodes/{node}", report.id))
        .await;
    assert_clean(&browser, "#tests-unobserved").await;
    assert_eq!(
        browser.text("#tests-unobserved .test-status").await,
        "not observed"
    );
    assert_eq!(browser.count("#unobserved-legend").await, 1);
    assert_eq!(browser.count("#node-provenance").await, 1);
    browser.screenshot("server-node-not-observed").await;

    // The test: its own tab, which lists the node.
    browser
        .goto(&format!(
            "{base}/reports/{}/tests/{unobserved}?show=unobserved",
            report.id
        ))
        .await;
    assert_clean(&browser, "#tab-unobserved").await;
    assert!(
        browser
            .text("#tab-unobserved")
            .await
            .starts_with("Not observed")
    );
    assert_eq!(browser.count("#test-node-list tr.node-row").await, 1);
    assert_eq!(browser.count("#unobserved-legend").await, 1);
}

/// A node without results says since when, on the report and on its own page, and a
/// node's page shows its provenance.
#[tokio::test]
async fn nodes_without_results_and_node_provenance_are_shown() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut report = fixture_report(day(25));
    let (node, _) = with_unobserved_and_no_results(&mut report);
    let (_dir, base) = serve(std::slice::from_ref(&report)).await;

    browser.goto(&format!("{base}/reports/{}", report.id)).await;
    assert_clean(&browser, "#node-table").await;
    assert_eq!(browser.text("#no-results-count strong").await, "1");
    let row = browser.text("tr.node-row:last-child td:first-child").await;
    assert!(
        row.contains("zz-no-results") && row.contains("no results since 2026-11-20T06:00:00Z"),
        "{row}"
    );

    browser
        .goto(&format!("{base}/reports/{}/nodes/{node}", report.id))
        .await;
    assert_clean(&browser, "#node-provenance").await;
    assert_eq!(
        browser.text("#node-provenance [data-fact=platform]").await,
        "eks"
    );
    assert_eq!(
        browser
            .text("#node-provenance [data-fact=kube-bench]")
            .await,
        "0.10.1"
    );

    browser
        .goto(&format!("{base}/reports/{}/nodes/zz-no-results", report.id))
        .await;
    assert_clean(&browser, "#node-no-results").await;
    assert!(
        browser
            .text("#node-no-results")
            .await
            .contains("no results since 2026-11-20T06:00:00Z")
    );
    assert_eq!(
        browser.text("#node-provenance [data-fact=platform]").await,
        "not recorded"
    );
}

#[tokio::test]
async fn waivers_are_listed_and_waived_fails_marked_from_report_to_test() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let report = waived_fixture_report(day(25));
    let (_dir, base) = serve(std::slice::from_ref(&report)).await;
    browser.goto(&format!("{base}/reports/{}", report.id)).await;
    assert_clean(&browser, "#waiver-table").await;
    browser.screenshot("server-report-waivers").await;
    let mut states = Vec::new();
    for row in browser.find_all("#waiver-table tr.waiver-row").await {
        let name = row.attr("data-waiver").await.expect("data-waiver");
        let state = row.attr("data-state").await.expect("data-state");
        states.push((name.unwrap_or_default(), state.unwrap_or_default()));
    }
    assert_eq!(
        states,
        [
            ("accepted-cp".to_string(), "applied".to_string()),
            ("old-exception".to_string(), "expired".to_string()),
            ("typo".to_string(), "matchedNothing".to_string()),
        ]
    );
    assert_eq!(
        browser.text("#waiver-table-counts").await.split('.').next(),
        Some("1 applied, 1 expired, 1 matched nothing")
    );
    assert_eq!(
        browser.text("#ratings-without-waivers").await,
        "With waivers: 2 nodes HIGH, 2 MED, 3 LOW. Without waivers: 1 HIGH, 3 MED, 3 LOW."
    );
    assert!(
        browser
            .text("#waived-count")
            .await
            .contains("12 failures accepted")
    );
    assert_eq!(
        browser.texts("#nodes .without-waivers").await,
        ["MED without waivers"]
    );

    // The waived node's page: its FAILs are still FAILs, each marked with its waiver.
    browser
        .click(&format!("#nodes a.node-link[href$='/nodes/{WAIVED_NODE}']"))
        .await;
    let node_path = format!("/reports/{}/nodes/{WAIVED_NODE}", report.id);
    browser
        .wait_for_url("on the waived node's page", |u| u.path() == node_path)
        .await;
    assert_clean(&browser, "#tests-fail article.test.waived").await;
    browser.screenshot("server-node-waived").await;
    assert_eq!(browser.count("#tests-fail article.test.waived").await, 12);
    assert_eq!(browser.count("article.test.waived").await, 12);
    assert_eq!(
        browser
            .text("#tests-fail article.test.waived .waiver-note")
            .await,
        "waived by accepted-cp: accepted-cp: the distribution sets this up itself; owner security@example.com; ticket SEC-1; until 2027-03-31T00:00:00Z"
    );
    assert_eq!(
        browser.text("#node-title .without-waivers").await,
        "MED without waivers"
    );

    // Its first waived test: the node is in the FAIL list, marked waived.
    browser
        .click("#tests-fail article.test.waived a.test-number")
        .await;
    browser
        .wait_for_url("on the waived test's page", |u| {
            u.path().contains("/tests/")
        })
        .await;
    assert_clean(&browser, "#test-waivers").await;
    assert_eq!(browser.count("#test-node-list tr.node-row.waived").await, 1);
    assert_eq!(
        browser
            .text("#test-node-list tr.node-row.waived a.node-link")
            .await,
        WAIVED_NODE
    );
    assert_eq!(browser.text("#tab-fail-waived").await, "1 waived");
    browser.screenshot("server-test-waived").await;
}

#[tokio::test]
async fn the_changes_since_the_previous_report_lead_to_each_findings_history() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let seq = Sequence::story();
    let ids = seq.ids();
    let (_dir, base) = serve(&seq.reports).await;
    browser.goto(&format!("{base}/reports/{}", ids[4])).await;
    assert_clean(&browser, "#changes-link").await;
    browser.click("#changes-link").await;
    let diff_path = format!("/reports/{}/diff", ids[4]);
    browser
        .wait_for_url("on the diff page", |u| u.path() == diff_path)
        .await;
    assert_clean(&browser, "#diff-finding-list").await;
    browser.screenshot("server-diff").await;
    assert_eq!(
        browser.texts("#diff-tabs .count").await,
        ["1", "0", "1", "0", "1", "3"]
    );
    assert_eq!(
        browser
            .texts("#diff-finding-list tr.diff-row a.node-link")
            .await,
        ["cp-1"]
    );

    // Still failing: w-1, whose waiver expired.
    browser.click("#tab-persisting").await;
    browser
        .wait_for_url("on the persisting list", |u| {
            u.query_pairs()
                .any(|(k, v)| k == "show" && v == "persisting")
        })
        .await;
    assert_clean(&browser, "#diff-finding-list").await;
    assert_eq!(
        browser
            .text("#diff-finding-list tr.diff-row td:last-child")
            .await,
        "was waived iptables-chains"
    );

    // The node changes, then w-1's page and its history.
    browser.click("#tab-nodes").await;
    browser
        .wait_for_url("on the node changes", |u| {
            u.query_pairs().any(|(k, v)| k == "show" && v == "nodes")
        })
        .await;
    assert_clean(&browser, "#diff-node-list").await;
    let mut kinds = Vec::new();
    for row in browser.find_all("#diff-node-list tr.diff-node-row").await {
        kinds.push(format!(
            "{} {}",
            row.attr("data-node").await.unwrap().unwrap_or_default(),
            row.attr("data-kind").await.unwrap().unwrap_or_default()
        ));
    }
    assert_eq!(kinds, ["cp-1 rerated", "w-1 rerated", "w-3 removed"]);
    browser
        .click("#diff-node-list tr[data-node='w-1'] a.node-link")
        .await;
    let node_path = format!("/reports/{}/nodes/w-1", ids[4]);
    browser
        .wait_for_url("on w-1's page", |u| u.path() == node_path)
        .await;
    assert_clean(&browser, "#history-table").await;
    browser.screenshot("server-node-history").await;
    let cells = browser.texts("#history-table tr.history-row td").await;
    assert_eq!(
        cells,
        [
            "4.2.6",
            "Ensure that the --make-iptables-util-chains argument is set to true (Automated)",
            "failing",
            STORY_ENDS[0],
            STORY_ENDS[0],
            "",
            "0",
            "5",
            "",
        ]
    );
}
