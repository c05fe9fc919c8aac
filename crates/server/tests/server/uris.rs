//! Arbitrary request URIs through the whole router (the fuzzing campaign's router part,
//! docs/fuzzing.md): every route with hostile path segments and query strings, and paths
//! of random bytes, over a store holding two reports.
//!
//! The rule: a malformed request is the client's mistake, answered 4xx (or a page that
//! says nothing matched), never a 5xx, and never a panic in a handler.

use axum::Router;
use proptest::prelude::*;

use compliance_testkit::fixtures::t;
use compliance_testkit::reports::{fixture_report, hostile_report};

use crate::support::{get, server_with};

/// The routes, `{}` standing for a path segment.
const ROUTES: &[&str] = &[
    "/",
    "/reports",
    "/reports/{}",
    "/reports/{}/nodes/{}",
    "/reports/{}/tests/{}",
    "/reports/{}/print",
    "/reports/{}/diff",
    "/assets/{}",
    "/compliance/version",
    "/compliance/reports",
    "/compliance/reports/{}/download",
    "/compliance/reports/{}/diff",
    "/compliance/findings",
    "/metrics",
];

/// Parameter names the handlers read, and one they do not.
const PARAMS: &[&str] = &[
    "reportName",
    "reportTypeName",
    "fromTime",
    "toTime",
    "sortBy",
    "page",
    "maxItems",
    "format",
    "show",
    "against",
    "cluster",
    "detail",
    "download",
    "node",
    "test",
    "all",
    "unknown",
];

/// A segment or value: text seen in reports, hostile text, or random bytes, each sent
/// raw or percent-encoded.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("daily-cis-results".to_string()),
        Just("cis-1.23-master-newrelic".to_string()),
        Just("1.1.12".to_string()),
        Just("node-summary.csv".to_string()),
        Just("2026-11-25T00:00:00Z".to_string()),
        Just("18446744073709551616".to_string()),
        Just("<img src=x onerror=alert(1)>".to_string()),
        Just("..".to_string()),
        Just("%".to_string()),
        Just("%ZZ".to_string()),
        Just("%C3%28".to_string()),
        "\\PC{0,24}",
        proptest::collection::vec(any::<u8>(), 0..24)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn encoded(s: String, raw: bool) -> String {
    if raw {
        s
    } else {
        percent_encoding::utf8_percent_encode(&s, percent_encoding::NON_ALPHANUMERIC).to_string()
    }
}

/// A URI: a route with segments and a query, or a path of random text.
fn uri() -> impl Strategy<Value = String> {
    let routed = (
        proptest::sample::select(ROUTES),
        proptest::collection::vec((text(), any::<bool>()), 2),
        proptest::collection::vec(
            (proptest::sample::select(PARAMS), text(), any::<bool>()),
            0..5,
        ),
    )
        .prop_map(|(route, segments, query)| {
            let mut path = route.to_string();
            for (s, raw) in segments {
                path = path.replacen("{}", &encoded(s, raw), 1);
            }
            let query: Vec<String> = query
                .into_iter()
                .map(|(k, v, raw)| format!("{k}={}", encoded(v, raw)))
                .collect();
            if query.is_empty() {
                path
            } else {
                format!("{path}?{}", query.join("&"))
            }
        });
    prop_oneof![
        4 => routed,
        1 => "/[ -~]{0,40}",
    ]
}

fn app() -> (tokio::runtime::Runtime, tempfile::TempDir, Router) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let reports = [
        fixture_report(t("2026-11-24T00:00:00Z")),
        hostile_report(t("2026-11-25T00:00:00Z")),
    ];
    let (dir, app) = rt.block_on(server_with(&reports));
    (rt, dir, app)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_request_uris_are_never_answered_with_a_server_error(
        uris in proptest::collection::vec(uri(), 8)
    ) {
        thread_local! {
            static APP: (tokio::runtime::Runtime, tempfile::TempDir, Router) = app();
        }
        APP.with(|(rt, _dir, app)| {
            for uri in &uris {
                // What the HTTP layer itself refuses never reaches the router.
                if uri.parse::<axum::http::Uri>().is_err() {
                    continue;
                }
                let a = rt.block_on(get(app, uri));
                prop_assert!(
                    a.status.as_u16() < 500,
                    "GET {uri} answered {}: {}",
                    a.status,
                    a.body
                );
            }
            Ok(())
        })?;
    }
}
