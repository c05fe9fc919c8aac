//! What the server's HTTP tests share: a server over given reports, and requests.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use compliance_core::model::ReportDocument;
use compliance_server::Server;
use compliance_server::auth::Auth;
use compliance_server::clusters::Clusters;
use compliance_store::{OpenMode, SqliteStore, Store};

/// A server in local mode (no authentication) over a SQLite store of cluster `cluster`
/// holding `reports`. Keep the directory alive as long as the router.
pub async fn server_with(reports: &[ReportDocument]) -> (tempfile::TempDir, Router) {
    server_with_auth(reports, Auth::Open).await
}

/// [`server_with`], with `auth` deciding who may read what.
pub async fn server_with_auth(
    reports: &[ReportDocument],
    auth: Auth,
) -> (tempfile::TempDir, Router) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store: Store = SqliteStore::open(dir.path().join("reports.db"), OpenMode::Create)
        .expect("a new SQLite store")
        .into();
    for r in reports {
        store.put_report(r).await.expect("the report is stored");
    }
    let server = Server::new(Clusters::single("cluster", store), auth);
    (dir, compliance_server::router(Arc::new(server)))
}

/// The answer to a request: status, headers and the whole body as text.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// The body, for messages and assertions.
    pub fn text(&self) -> String {
        self.body.clone()
    }

    /// The body as JSON; panics (quoting it) when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A header's value as text; empty when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// `GET path`.
pub async fn get(app: &Router, path: &str) -> Answer {
    get_with(app, path, &[]).await
}

/// `GET path` with `headers`.
pub async fn get_with(app: &Router, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::get(path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("a request"))
        .await
        .expect("the router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("the whole body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}
