//! The browser harness of `compliance_testkit::browser`, checked against pages served here:
//! what it reports of the console (explicit errors, Content-Security-Policy violations,
//! failed loads, and nothing for a clean page), forms and links, downloads, screenshots,
//! and that dropping it leaves no process behind. Each test skips (and passes) where
//! Chromium or ChromeDriver is not installed.

use compliance_testkit::browser::{Browser, ConsoleEntry, Level};

use std::fs;
use std::path::Path;

use axum::Router;
use axum::extract::RawQuery;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

/// The strict policy the compliance pages are meant to be served with.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'";

/// The bytes of the download: CSV text, then bytes no text decoding would keep as they are.
const DOWNLOAD: &[u8] = b"node,rating\nworker-1,HIGH\nworker-2,LOW\n\x00\xff\xfe\x80 end\n";

/// A page with the policy, an icon of its own (or Chromium asks for `/favicon.ico`, and its
/// 404 is an error on the console) and `body`.
fn page(title: &str, body: &str) -> impl IntoResponse + use<> {
    (
        [(header::CONTENT_SECURITY_POLICY, CSP)],
        Html(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
             <link rel=\"icon\" href=\"/icon.svg\"></head><body>{body}</body></html>"
        )),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Serves the test pages on a free 127.0.0.1 port, on the calling test's runtime, and
/// returns their base URL (`http://127.0.0.1:<port>`).
async fn serve() -> String {
    let app = Router::new()
        .route(
            "/clean",
            get(|| async {
                page(
                    "Clean",
                    "<h1>Clean page</h1>\
                     <a id=\"next\" href=\"/second\">Second page</a>\
                     <form id=\"search\" action=\"/results\" method=\"get\">\
                     <input name=\"q\" type=\"text\"><button type=\"submit\">Search</button>\
                     </form><script src=\"/app.js\"></script>",
                )
            }),
        )
        .route(
            "/icon.svg",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "image/svg+xml")],
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\">\
                     <rect width=\"16\" height=\"16\" fill=\"#2a7\"/></svg>",
                )
            }),
        )
        .route(
            "/app.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript")],
                    "console.info('clean page ready');",
                )
            }),
        )
        .route(
            "/second",
            get(|| async { page("Second", "<h1>Second page</h1>") }),
        )
        .route(
            "/results",
            get(|RawQuery(query): RawQuery| async move {
                let q = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                    .find(|(key, _)| key == "q")
                    .map(|(_, value)| value.into_owned())
                    .unwrap_or_default();
                page(
                    "Results",
                    &format!("<h1 id=\"heading\">Results for {}</h1>", escape(&q)),
                )
            }),
        )
        .route(
            "/console-error",
            // No policy here: the inline script must run.
            get(|| async {
                Html(
                    "<!doctype html><html><head><title>Console</title>\
                     <link rel=\"icon\" href=\"/icon.svg\"></head><body>\
                     <script>console.error('boom from the page');</script>\
                     <script>throw new Error('thrown by the page');</script></body></html>",
                )
            }),
        )
        .route(
            "/csp",
            get(|| async {
                page(
                    "CSP",
                    "<p id=\"status\">inline script did not run</p>\
                     <script>document.getElementById('status').textContent = 'inline script ran';</script>",
                )
            }),
        )
        .route(
            "/missing-image",
            get(|| async { page("Missing", "<img src=\"/missing.png\" alt=\"missing\">") }),
        )
        .route(
            "/download-page",
            get(|| async { page("Download", "<a id=\"get\" href=\"/download\">Get the CSV</a>") }),
        )
        .route(
            "/download",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "application/octet-stream"),
                        (
                            header::CONTENT_DISPOSITION,
                            "attachment; filename=\"daily-cis-results.csv\"",
                        ),
                    ],
                    DOWNLOAD,
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the test pages' port");
    let address = listener.local_addr().expect("the test pages' address");
    tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("serve the test pages");
    });
    format!("http://{address}")
}

fn mentions(entry: &ConsoleEntry, text: &str) -> bool {
    entry.message.contains(text)
}

#[tokio::test]
async fn console_errors_and_exceptions_are_reported_and_fail_the_assertion() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = serve().await;
    browser.goto(&format!("{base}/console-error")).await;
    let entry = browser
        .wait_for_console("saying boom", |e| mentions(e, "boom from the page"))
        .await;
    assert_eq!(entry.level, Level::Error, "{entry}");
    assert_eq!(entry.source, "console-api", "{entry}");
    let thrown = browser
        .wait_for_console("about the uncaught exception", |e| {
            mentions(e, "thrown by the page")
        })
        .await;
    assert_eq!(thrown.level, Level::Error, "{thrown}");

    // The assertion must fail here, and say why.
    let outcome = tokio::spawn(async move { browser.assert_no_console_errors().await }).await;
    let panic = outcome.expect_err("assert_no_console_errors passed a page that logged an error");
    let message = panic
        .into_panic()
        .downcast::<String>()
        .map(|m| *m)
        .unwrap_or_default();
    assert!(message.contains("boom from the page"), "{message}");
    assert!(message.contains("/console-error"), "{message}");
}

#[tokio::test]
async fn an_inline_script_refused_by_the_policy_is_reported() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = serve().await;
    browser.goto(&format!("{base}/csp")).await;
    let entry = browser
        .wait_for_console("about the Content Security Policy", |e| {
            mentions(e, "Content Security Policy")
        })
        .await;
    assert_eq!(entry.level, Level::Error, "{entry}");
    assert!(mentions(&entry, "inline script"), "{entry}");
    assert_eq!(browser.text("#status").await, "inline script did not run");
    assert!(!browser.console_problems().await.is_empty());
}

#[tokio::test]
async fn a_failed_load_is_reported() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = serve().await;
    browser.goto(&format!("{base}/missing-image")).await;
    let entry = browser
        .wait_for_console("about /missing.png", |e| mentions(e, "/missing.png"))
        .await;
    assert_eq!(entry.level, Level::Error, "{entry}");
    assert!(mentions(&entry, "404"), "{entry}");
}

#[tokio::test]
async fn a_clean_page_has_no_console_errors() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    eprintln!("browser started in {:?}", browser.startup_time());
    let base = serve().await;
    browser.goto(&format!("{base}/clean")).await;
    // The page's own script logs once it ran: the log is flowing, so silence means clean.
    let ready = browser
        .wait_for_console("saying the page is ready", |e| {
            mentions(e, "clean page ready")
        })
        .await;
    assert_eq!(ready.level, Level::Info, "{ready}");
    assert_eq!(browser.title().await, "Clean");
    assert_eq!(browser.text("h1").await, "Clean page");
    browser.assert_no_console_errors().await;
}

#[tokio::test]
async fn a_form_and_a_link_change_the_url() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = serve().await;
    browser.goto(&format!("{base}/clean")).await;
    assert_eq!(browser.current_url().await.path(), "/clean");

    browser.fill("input[name=q]", "kube-bench <1.8> & co").await;
    browser.submit("#search").await;
    let url = browser
        .wait_for_url("on /results", |url| url.path() == "/results")
        .await;
    let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(q, [("q".to_owned(), "kube-bench <1.8> & co".to_owned())]);
    assert_eq!(
        browser.text("#heading").await,
        "Results for kube-bench <1.8> & co"
    );

    browser.goto(&format!("{base}/clean")).await;
    assert_eq!(
        browser.attr("#next", "href").await.as_deref(),
        Some("/second")
    );
    browser.click("#next").await;
    browser
        .wait_for_url("on /second", |url| url.path() == "/second")
        .await;
    assert_eq!(browser.texts("h1").await, ["Second page"]);
    browser.assert_no_console_errors().await;
}

#[tokio::test]
async fn a_download_arrives_whole_in_the_download_directory() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = serve().await;
    browser.goto(&format!("{base}/download-page")).await;
    browser.click("#get").await;
    let path = browser.wait_for_download().await;
    assert_eq!(path.parent(), Some(browser.download_dir()));
    assert_eq!(
        path.file_name().and_then(|n| n.to_str()),
        Some("daily-cis-results.csv")
    );
    assert_eq!(fs::read(&path).expect("read the download"), DOWNLOAD);
    // The page stays where it was.
    assert_eq!(browser.current_url().await.path(), "/download-page");
}

#[tokio::test]
async fn a_screenshot_is_a_png_of_the_window() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = serve().await;
    browser.goto(&format!("{base}/clean")).await;
    let path = browser.screenshot("testkit-browser-clean").await;
    assert_eq!(path.extension().and_then(|e| e.to_str()), Some("png"));
    let png = fs::read(&path).expect("read the screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG: {}",
        path.display()
    );
    // The IHDR chunk comes first: width and height, big-endian, at bytes 16..24.
    let width = u32::from_be_bytes(png[16..20].try_into().expect("4 bytes"));
    let height = u32::from_be_bytes(png[20..24].try_into().expect("4 bytes"));
    assert_eq!(
        (width, height),
        (
            compliance_testkit::browser::WINDOW_WIDTH,
            compliance_testkit::browser::WINDOW_HEIGHT
        )
    );
}

/// The processes whose command line mentions `dir`: the browser's, since its profile is in
/// there.
fn processes_mentioning(dir: &Path) -> Vec<u32> {
    let marker = dir.as_os_str().as_encoded_bytes();
    fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = fs::read(entry.path().join("cmdline")).ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            let zombie = stat
                .rfind(')')
                .is_some_and(|i| stat[i + 1..].trim_start().starts_with('Z'));
            (!zombie && cmdline.windows(marker.len()).any(|w| w == marker)).then_some(pid)
        })
        .collect()
}

#[tokio::test]
async fn dropping_the_browser_leaves_no_process_or_file() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = serve().await;
    browser.goto(&format!("{base}/clean")).await;
    let dir = browser.dir().to_path_buf();
    let running = processes_mentioning(&dir);
    // ChromeDriver (by its log path) and Chromium's browser, renderer and helpers.
    assert!(
        running.len() >= 3,
        "processes of {}: {running:?}",
        dir.display()
    );
    drop(browser);
    assert_eq!(processes_mentioning(&dir), Vec::<u32>::new());
    assert!(!dir.exists(), "{} is still there", dir.display());
}
