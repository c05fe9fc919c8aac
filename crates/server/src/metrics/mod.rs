//! `GET /metrics`: the stored reports as Prometheus series (docs/metrics.md, the
//! `compliance-server` table; docs/server.md, "Metrics").
//!
//! Three parts, as elsewhere in the server: [`series`] turns one GlobalReport's latest
//! report (its head, node rows and findings, and its previous report's findings) into
//! values, a pure function; [`refresh`] decides per scrape which GlobalReports changed
//! (also pure) and reads only those; [`encode`] writes what is held through
//! prometheus-client's `Collector`, so what is no longer held is no longer written.
//!
//! A scrape when nothing changed reads the report heads and nothing else; a new report
//! is read once (through the server's index cache, the same findings index the diff and
//! findings routes use).

pub mod encode;
pub mod refresh;
pub mod series;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::auth::{self, Access};
use crate::{ApiError, Server};

pub use refresh::MetricsCache;

/// `GET /metrics`: open in local mode; otherwise a bearer token whose user may `get` the
/// non-resource URL `/metrics` (401 without a token, 403 without the grant), as the
/// Kubernetes components ask of their scrapers.
pub async fn handler(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !server.auth.is_open() {
        let who = server.auth.authenticate(&headers).await?;
        auth::require(&server.auth, &who, Access::GetMetrics).await?;
    }
    let snapshot = server.metrics.refresh(&server).await;
    let body = tokio::task::spawn_blocking(move || encode::encode(snapshot))
        .await
        .map_err(|e| ApiError::Page(format!("encoding the metrics failed: {e}")))?;
    Ok(([(header::CONTENT_TYPE, encode::CONTENT_TYPE)], body).into_response())
}

#[cfg(test)]
mod tests;
