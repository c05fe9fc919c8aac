//! Hostile report text through every page, the JSON API and the downloads
//! (docs/hostile-input.md): markup, template syntax, formulas and control characters in
//! node names and test texts. Pages must show them as text (HTML-escaped; a real
//! Chromium confirms no injected script runs and `window.__pwned` stays undefined),
//! the API must answer valid JSON carrying them unchanged.

use std::sync::Arc;

use compliance_core::model::{ReportDocument, TestText};
use compliance_core::render::encode_path_segment;
use compliance_testkit::browser::Browser;
use compliance_testkit::fixtures::t;
use compliance_testkit::reports::{fixture_documents, report_from};
use serde_json::json;

use crate::support::{get, server_with};

/// A node name a browser would run if it were pasted into a page.
const NODE: &str = "\"><img src=x onerror=\"window.__pwned=1\">{{ 'ev' ~ 'aluated' }}";

/// Test texts of the hostile node, one per test.
const TEXTS: &[&str] = &[
    "<script>window.__pwned=2</script>",
    "</textarea></title><svg onload=\"window.__pwned=3\">",
    "{{ 'ev' ~ 'aluated' }}{% for x in range(3) %}loop{% endfor %}",
    "=HYPERLINK(\"http://evil.example/\",\"x\")",
    "javascript:window.__pwned=4",
    "esc \u{1b}[31mred nul\0 bidi \u{202e}txt",
];

fn report() -> ReportDocument {
    let end = t("2026-11-25T00:00:00Z");
    let mut docs = fixture_documents(end);
    let mut evil = docs[3].clone();
    evil.node_name = NODE.to_string();
    for (test, text) in evil.tests.iter_mut().zip(TEXTS) {
        let mut changed: TestText = (*test.text).clone();
        changed.test_desc = text.to_string();
        changed.test_info = format!("remediation: {text}");
        changed.section_desc = text.to_string();
        test.text = Arc::new(changed);
    }
    docs.push(evil);
    report_from(docs, end)
}

/// The pages that show the hostile node or its tests.
fn pages(r: &ReportDocument) -> Vec<String> {
    let node = encode_path_segment(NODE);
    let evil = r
        .cis_benchmark
        .iter()
        .find(|n| n.node_name == NODE)
        .expect("the hostile node is in the report");
    let first = evil.results[0].results[0].test_number();
    vec![
        "/reports".to_string(),
        format!("/reports/{}", r.id),
        format!("/reports/{}/nodes/{node}", r.id),
        format!("/reports/{}/tests/{}", r.id, encode_path_segment(first)),
        format!("/reports/{}/print?detail=all", r.id),
    ]
}

#[tokio::test]
async fn every_page_escapes_hostile_text_and_never_evaluates_template_syntax() {
    let r = report();
    let (_dir, app) = server_with(std::slice::from_ref(&r)).await;
    for path in pages(&r) {
        let page = get(&app, &path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text());
        let html = page.text();
        for raw in [
            "<script>window.__pwned",
            "<img src=x",
            "<svg onload",
            "</textarea>",
        ] {
            assert!(!html.contains(raw), "{path}: raw {raw:?} in the page");
        }
        // minijinja renders data, never data as a template: the expression and the
        // loop in the texts stay as written.
        assert!(
            !html.contains("looploop") && !html.contains("evaluated"),
            "{path}: template syntax in data was run"
        );
        if path.contains("/tests/") {
            assert!(
                html.contains("&lt;script&gt;window.__pwned=2&lt;/script&gt;"),
                "{path}: the literal text is missing"
            );
        } else if path != "/reports" {
            assert!(
                html.contains("{{ &#x27;ev&#x27; ~ &#x27;aluated&#x27; }}"),
                "{path}: the literal text is missing"
            );
            assert!(html.contains("&quot;&gt;&lt;img src=x onerror="), "{path}");
        }
        // And should an escape ever be missed, no inline script may run.
        let csp = page.header("content-security-policy");
        assert!(
            !csp.is_empty() && !csp.contains("'unsafe-inline'") && !csp.contains("'unsafe-eval'"),
            "{path}: {csp}"
        );
    }
}

#[tokio::test]
async fn the_json_api_answers_valid_json_with_hostile_text_unchanged() {
    let r = report();
    let (_dir, app) = server_with(std::slice::from_ref(&r)).await;
    let list = get(&app, "/compliance/reports").await;
    assert_eq!(list.status, 200, "{}", list.text());
    let v = list.json();
    assert!(v["reports"][0]["uiSummary"].is_object(), "{v}");

    let download = get(
        &app,
        &format!("/compliance/reports/{}/download?format=all-tests.csv", r.id),
    )
    .await;
    assert_eq!(download.status, 200, "{}", download.text());
    assert!(
        download
            .body
            .contains("\"'=HYPERLINK(\"\"http://evil.example/\"\"")
    );
    let oscal = get(
        &app,
        &format!(
            "/compliance/reports/{}/download?format=oscal-assessment-results.json",
            r.id
        ),
    )
    .await;
    assert_eq!(oscal.status, 200, "{}", oscal.text());
    let text = oscal.json().to_string();
    assert!(text.contains("\\u001b[31mred"), "ESC is escaped in JSON");
    assert!(!oscal.body.contains('\u{1b}'));
    let junit = get(
        &app,
        &format!("/compliance/reports/{}/download?format=junit.xml", r.id),
    )
    .await;
    assert_eq!(junit.status, 200, "{}", junit.text());
    assert!(
        junit
            .body
            .contains("&lt;script&gt;window.__pwned=2&lt;/script&gt;")
    );
    assert!(!junit.body.contains("<script>") && !junit.body.contains('\u{1b}'));
}

#[tokio::test]
async fn no_injected_script_runs_in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        eprintln!("SKIPPED no_injected_script_runs_in_a_real_browser: no Chromium/ChromeDriver");
        return;
    };
    let r = report();
    let (_dir, app) = server_with(std::slice::from_ref(&r)).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve the pages");
    });
    for path in pages(&r) {
        browser.goto(&format!("{base}{path}")).await;
        browser.wait_for_element("main").await;
        let pwned = browser
            .execute("return typeof window.__pwned;", Vec::new())
            .await;
        assert_eq!(pwned, json!("undefined"), "{path}: an injected script ran");
        assert_eq!(browser.count("img[onerror]").await, 0, "{path}");
        assert_eq!(browser.count("svg[onload]").await, 0, "{path}");
        if let Ok(text) = browser.client().get_alert_text().await {
            panic!("{path}: a dialog is open: {text:?}");
        }
        if path != "/reports" {
            // Shown as the text it is: the node's name, or on a test's page its text.
            let body = browser.text("main").await;
            let shown = if path.contains("/tests/") {
                TEXTS[0]
            } else {
                "{{ 'ev' ~ 'aluated' }}"
            };
            assert!(body.contains(shown), "{path}: {body}");
        }
    }
    browser.screenshot("server-hostile-input-node").await;
}
