//! The printable report: one self-contained HTML file for auditors, streamed a page of
//! nodes at a time.
//!
//! Saved to disk, the file must carry its own look, so its stylesheet is inside it, in a
//! `<style>` element. The pages' CSP forbids inline style; rather than allow every
//! inline style (`'unsafe-inline'`, which a missed escape could use), this response's CSP
//! allows exactly that one stylesheet by its SHA-256 and nothing else: no script at all,
//! no other style, no forms, no framing. The summary (from the report's head and node
//! table) comes first; then each node, read [`NODE_PAGE`] at a time, so a 10,000-node
//! report is never held whole. `?detail=all` shows every test of each node instead of its
//! FAIL tests; `?download=1` sends it as a file.

use std::io;
use std::sync::{Arc, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use base64::Engine;
use chrono::Utc;
use serde::Serialize;
use sha2::{Digest, Sha256};

use compliance_core::model::CisBenchmarkNode;
use compliance_store::{NodeCursor, Store};

use super::view::{self, Links};
use super::{PageError, Reader, ReportSummary, assets, render, secure, top_failed};
use crate::download::{self, NODE_PAGE};
use crate::params::Pairs;
use crate::{ApiError, Server, api};

/// The CSP of the printable report: its embedded stylesheet, by hash, and nothing else.
pub fn print_csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = base64::engine::general_purpose::STANDARD
            .encode(Sha256::digest(assets::PRINT_CSS.as_bytes()));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src data:; \
             form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
        )
    })
}

#[derive(Serialize)]
struct PrintHead<'a> {
    page_title: String,
    report: ReportSummary,
    /// The stylesheet, trusted (ours, not the report's): the template writes it raw.
    css: &'static str,
    versions: Vec<view::VersionCount>,
    top_failed: Vec<view::TopFailed>,
    all: bool,
    printed: String,
    server_version: &'a str,
}

#[derive(Serialize)]
struct PrintNode {
    node: view::NodeLine,
    provenance: Vec<view::Fact>,
    groups: Vec<view::StatusGroup>,
}

#[derive(Serialize)]
struct PrintNodes {
    nodes: Vec<PrintNode>,
    all: bool,
}

/// What the end of the file says after the last node.
const TAIL: &str = "</section>\n</main>\n</body>\n</html>\n";

/// `GET /reports/{id}/print[?detail=all][&download=1]`.
pub(super) async fn print(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let p = Pairs::parse(raw.as_deref());
    let r = Reader::open(&server, &headers, &p).await?;
    let all = match p.one("detail")? {
        None | Some("fail") => false,
        Some("all") => true,
        Some(v) => return Err(ApiError::bad("detail", v, "must be fail or all").into()),
    };
    let as_file = match p.one("download")? {
        None | Some("0") => false,
        Some("1") => true,
        Some(v) => return Err(ApiError::bad("download", v, "must be 0 or 1").into()),
    };
    let head = api::readable_head(&server, &r.who, &r.store, &id).await?;
    let rows = server.indexes.rows(&r.cluster, &r.store, &head).await?;
    let first = render(
        "print_head.html",
        &PrintHead {
            page_title: format!("{} — CIS benchmark report", head.report_name),
            report: ReportSummary::of(&r.links, &head, super::report_waivers(&head), Utc::now()),
            css: assets::PRINT_CSS,
            versions: view::versions(&rows),
            top_failed: top_failed(&server, &r, &head).await?,
            all,
            printed: compliance_core::time::format(&Utc::now()),
            server_version: &server.build.version,
        },
    )?;
    let printer = Printer {
        store: r.store.clone(),
        id: head.id.clone(),
        links: r.links.clone(),
        all,
        not_observed_as: super::not_observed_as(&head),
        waivers: super::report_waivers(&head).to_vec(),
        offset: 0,
        nodes: None,
        first: Some(first),
        finished: false,
    };
    let stream = futures::stream::unfold(printer, |mut p| async move {
        p.next().await.map(|item| (item, p))
    });
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if as_file {
        h.insert(
            header::CONTENT_DISPOSITION,
            download::attachment(&download::file_name(&head, "report.html")),
        );
    }
    Ok(secure(response, print_csp()))
}

/// The body's writer: the summary, then a page of nodes per step, then the end.
struct Printer {
    store: Store,
    id: String,
    links: Links,
    all: bool,
    /// How the report counted NOT_OBSERVED: which tests the default view shows as failed.
    not_observed_as: compliance_core::model::NotObservedAs,
    /// The report's waiver outcomes: what a waived FAIL says of its waiver.
    waivers: Vec<compliance_core::model::WaiverOutcome>,
    offset: u64,
    /// Opened on the first page of nodes.
    nodes: Option<NodeCursor>,
    first: Option<String>,
    finished: bool,
}

impl Printer {
    /// The next piece of the body; an error aborts the transfer, so a failure part way
    /// never looks like a complete, shorter report.
    async fn next(&mut self) -> Option<Result<Bytes, io::Error>> {
        if let Some(first) = self.first.take() {
            return Some(Ok(Bytes::from(first)));
        }
        if self.finished {
            return None;
        }
        if self.nodes.is_none() {
            match self.store.nodes(&self.id).await {
                Ok(cursor) => self.nodes = Some(cursor),
                Err(e) => {
                    self.finished = true;
                    tracing::error!("printable report {} failed: {e}", self.id);
                    return Some(Err(io::Error::other(e.to_string())));
                }
            }
        }
        let cursor = self.nodes.as_mut()?;
        let page = match cursor.next(NODE_PAGE).await {
            Ok(page) => page,
            Err(e) => {
                self.finished = true;
                tracing::error!("printable report {} failed part way: {e}", self.id);
                return Some(Err(io::Error::other(e.to_string())));
            }
        };
        if page.is_empty() {
            self.finished = true;
            return Some(Ok(Bytes::from_static(TAIL.as_bytes())));
        }
        let start = self.offset;
        self.offset += page.len() as u64;
        match self.render(start, &page) {
            Ok(text) => Some(Ok(Bytes::from(text))),
            Err(e) => {
                self.finished = true;
                tracing::error!("printable report {} failed part way: {e}", self.id);
                Some(Err(io::Error::other(e.to_string())))
            }
        }
    }

    fn render(&self, start: u64, nodes: &[CisBenchmarkNode]) -> Result<String, ApiError> {
        let all = self.all;
        let counted = self.not_observed_as;
        let nodes = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| PrintNode {
                node: view::NodeLine::of_node(&self.links, &self.id, start + i as u64, n),
                provenance: view::node_provenance(n),
                groups: view::status_groups(&self.links, &self.id, n, &self.waivers, |s| {
                    all || super::is_fail(s, counted)
                }),
            })
            .collect();
        render("print_nodes.html", &PrintNodes { nodes, all })
    }
}
