//! The production store: benchmark results and reports in Elasticsearch, with Calico
//! Enterprise's index names and document keys (docs/spec.md §3, §5, §7).
//!
//! One file per stage: [`config`] (environment), [`request`] (every request as data),
//! [`response`] (every response parsed), [`retry`] (what is retried), [`transport`] (the
//! only IO) and [`templates`] (mappings). This file holds the store and what both sides
//! share (templates, index names, points in time); [`benchmarks`] and [`reports`] string
//! the stages together for each kind of document. The protocol, and the layout of reports
//! too large for one request, are written down in `docs/elasticsearch.md`.
//!
//! Everything is async and `Send + Sync`: one store serves concurrent requests.

mod benchmarks;
mod bulk;
pub mod compact;
pub mod config;
pub mod error;
pub(crate) mod reports;
pub mod request;
pub mod response;
pub mod retry;
pub mod templates;
pub mod transport;

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

pub use config::ElasticConfig;
pub use error::ElasticError;
pub use reports::SINGLE_DOCUMENT_BYTES;
pub use transport::TransportStats;

use request::{EsRequest, Indices};
use templates::Template;
use transport::Transport;

/// What `compliancectl elastic setup` did to one template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateAction {
    Created,
    Updated,
    Unchanged,
}

/// The outcome of [`ElasticStore::setup`].
#[derive(Debug)]
pub struct SetupReport {
    pub templates: Vec<(String, TemplateAction)>,
    /// Existing indices whose mapping the store cannot work with.
    pub conflicts: Vec<ElasticError>,
}

/// Benchmark results and reports in one Elasticsearch cluster.
pub struct ElasticStore {
    transport: Transport,
    indices: Indices,
    page_size: usize,
    max_request_bytes: usize,
    /// Set once this process has made sure the templates exist (writers only).
    templates_ensured: AtomicBool,
    /// Where each part of recently read split reports starts (see
    /// [`reports::PartStarts`]).
    part_starts: reports::PartStarts,
    /// Turns to read a report part ([`PART_READS`]).
    part_reads: tokio::sync::Semaphore,
}

/// Report parts read at once, at most: 4.
///
/// Each read holds up to [`request::PART_BYTES`] of JSON and the nodes decoded from it;
/// twenty clients downloading a split report would otherwise hold twenty of them.
pub const PART_READS: usize = 4;

impl std::fmt::Debug for ElasticStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElasticStore")
            .field("url", &self.transport.url())
            .field("indices", &self.indices)
            .finish_non_exhaustive()
    }
}

impl ElasticStore {
    /// Builds the client; sends nothing (the first request shows whether the cluster is
    /// reachable).
    pub fn connect(config: &ElasticConfig) -> Result<ElasticStore, ElasticError> {
        Ok(ElasticStore {
            transport: Transport::new(config)?,
            indices: Indices::new(&config.index_suffix),
            page_size: config.page_size,
            max_request_bytes: config.max_request_bytes,
            templates_ensured: AtomicBool::new(false),
            part_starts: reports::PartStarts::default(),
            part_reads: tokio::sync::Semaphore::new(PART_READS),
        })
    }

    /// Requests made and bytes moved so far, by every caller of this store.
    pub fn stats(&self) -> TransportStats {
        self.transport.stats()
    }

    async fn send(&self, req: &EsRequest) -> Result<transport::EsResponse, ElasticError> {
        self.transport.send(req).await
    }

    /// Installs or updates the three index templates, then checks existing indices for
    /// mappings the store cannot use. Safe to repeat.
    pub async fn setup(&self) -> Result<SetupReport, ElasticError> {
        let mut report = SetupReport {
            templates: Vec::new(),
            conflicts: Vec::new(),
        };
        for t in templates::all() {
            let action = self.install_template(&t).await?;
            report.templates.push((t.name.to_string(), action));
            report.conflicts.extend(self.mapping_conflicts(&t).await?);
        }
        self.templates_ensured.store(true, Ordering::Relaxed);
        Ok(report)
    }

    /// The template as the cluster stores it, or `None` when it has none by that name.
    async fn stored_template(&self, t: &Template) -> Result<Option<Value>, ElasticError> {
        let existing = self
            .transport
            .send_accepting(&request::get_index_template(t.name), &[404])
            .await?;
        if existing.status == 404 {
            Ok(None)
        } else {
            Ok(response::parse_index_template(&existing.body)?)
        }
    }

    async fn install_template(&self, t: &Template) -> Result<TemplateAction, ElasticError> {
        let action = match &self.stored_template(t).await? {
            Some(s) if templates::is_current(s, &t.body) => return Ok(TemplateAction::Unchanged),
            Some(_) => TemplateAction::Updated,
            None => TemplateAction::Created,
        };
        self.send(&request::put_index_template(t.name, &t.body))
            .await?;
        Ok(action)
    }

    async fn mapping_conflicts(&self, t: &Template) -> Result<Vec<ElasticError>, ElasticError> {
        let fields: Vec<&str> = t.required.iter().map(|(f, _, _)| *f).collect();
        let resp = self
            .send(&request::field_mappings(
                &self.indices.read_patterns(t.name),
                &fields,
            ))
            .await?;
        let mut conflicts = Vec::new();
        for m in response::parse_field_mappings(&resp.body)? {
            let Some((_, accepted, why)) = t.required.iter().find(|(f, _, _)| *f == m.field) else {
                continue;
            };
            if !accepted.contains(&m.kind.as_str()) {
                conflicts.push(ElasticError::MappingConflict {
                    index: m.index,
                    field: m.field,
                    found: m.kind,
                    expected: accepted.join(" or "),
                    hint: format!(
                        "{why}. Templates only apply to new indices: reindex into a new index \
                         (or delete this one) after `compliancectl elastic setup`"
                    ),
                });
            }
        }
        Ok(conflicts)
    }

    /// Writers make sure the templates exist before the first write, so an index created
    /// by that write gets the right mapping. A user without `manage_index_templates` gets
    /// a warning, not a failure: an administrator may have installed them.
    async fn ensure_templates(&self) -> Result<(), ElasticError> {
        if self.templates_ensured.load(Ordering::Relaxed) {
            return Ok(());
        }
        for t in templates::all() {
            let missing = match self.stored_template(&t).await {
                Ok(stored) => stored.is_none(),
                Err(ElasticError::Forbidden { reason, .. }) => {
                    tracing::warn!(
                        template = t.name,
                        "cannot check the index template (no manage_index_templates privilege): {reason}; \
                         run `compliancectl elastic setup` as an administrator"
                    );
                    false
                }
                Err(e) => return Err(e),
            };
            if missing {
                match self
                    .send(&request::put_index_template(t.name, &t.body))
                    .await
                {
                    Ok(_) => tracing::info!(template = t.name, "installed index template"),
                    Err(ElasticError::Forbidden { reason, .. }) => tracing::warn!(
                        template = t.name,
                        "cannot install the index template: {reason}; new indices get dynamic mappings"
                    ),
                    Err(e) => return Err(e),
                }
            }
        }
        // Two writers racing here both check, which is harmless.
        self.templates_ensured.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// The names this cluster owns under `base`; empty when no such index exists yet.
    async fn owned(&self, base: &str) -> Result<Vec<String>, ElasticError> {
        let resp = self
            .send(&request::resolve_index(&self.indices.resolve_pattern(base)))
            .await?;
        Ok(response::parse_resolve(&resp.body, &self.indices, base)?)
    }

    async fn open_pit(&self, base: &str, keep_alive: &str) -> Result<String, ElasticError> {
        let resp = self
            .send(&request::open_pit(
                &self.indices.read_patterns(base),
                keep_alive,
            ))
            .await?;
        Ok(response::parse_open_pit(&resp.body)?)
    }

    async fn close_pit(&self, pit: &str) {
        if let Err(e) = self.send(&request::close_pit(pit)).await {
            tracing::warn!("could not close the point in time (it expires by itself): {e}");
        }
    }
}
