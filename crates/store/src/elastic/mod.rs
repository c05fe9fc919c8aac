//! The production store: benchmark results and reports in Elasticsearch, with Calico
//! Enterprise's index names and document keys (docs/spec.md §3, §5, §7).
//!
//! One file per stage: [`config`] (environment), [`request`] (every request as data),
//! [`response`] (every response parsed), [`retry`] (what is retried), [`transport`] (the
//! only IO), [`templates`] (mappings) and [`lifecycle`] (retention policies). This file holds the store and what both sides
//! share (templates, index names, points in time); [`benchmarks`] and [`reports`] string
//! the stages together for each kind of document. The protocol, and the layout of reports
//! too large for one request, are written down in `docs/elasticsearch.md`.
//!
//! Everything is async and `Send + Sync`: one store serves concurrent requests.

mod benchmarks;
mod bulk;
pub mod compact;
pub mod config;
mod delete;
pub mod error;
pub mod lifecycle;
pub mod notifications;
pub(crate) mod reports;
pub mod request;
pub mod response;
pub mod retry;
pub mod templates;
pub mod texts;
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

/// What `compliancectl elastic setup` did to one template, policy or write alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateAction {
    Created,
    Updated,
    Unchanged,
}

/// The outcome of [`ElasticStore::setup`].
#[derive(Debug)]
pub struct SetupReport {
    /// Lifecycle policies, by name.
    pub policies: Vec<(String, TemplateAction)>,
    pub templates: Vec<(String, TemplateAction)>,
    /// Rollover aliases (`Created` with its first index, or `Unchanged`).
    pub aliases: Vec<(String, TemplateAction)>,
    /// Plain indices earlier releases wrote (`X.S`): still read, but no policy deletes
    /// them; the user deletes each once its newest document is past the retention.
    pub legacy: Vec<String>,
    /// Existing indices whose mapping the store cannot work with.
    pub conflicts: Vec<ElasticError>,
}

/// Benchmark results and reports in one Elasticsearch cluster.
pub struct ElasticStore {
    transport: Transport,
    indices: Indices,
    page_size: usize,
    max_request_bytes: usize,
    retention: crate::retention::Retention,
    /// Set once this process has made sure the policies, templates and write aliases
    /// exist (writers only).
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
            retention: config.retention,
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

    /// Installs or updates the cluster's three lifecycle policies and index templates,
    /// creates the rollover aliases with their first index where missing, then checks
    /// existing indices for mappings the store cannot use. Safe to repeat.
    pub async fn setup(&self) -> Result<SetupReport, ElasticError> {
        let mut report = SetupReport {
            policies: Vec::new(),
            templates: Vec::new(),
            aliases: Vec::new(),
            legacy: Vec::new(),
            conflicts: Vec::new(),
        };
        for t in templates::all(&self.indices) {
            let policy = templates::policy_of(&t, &self.retention);
            let action = self.install_policy(&t.name, &policy).await?;
            report.policies.push((t.name.clone(), action));
            let action = self.install_template(&t).await?;
            report.templates.push((t.name.clone(), action));
            let action = self.ensure_write_alias(t.base).await?;
            report
                .aliases
                .push((self.indices.write_alias(t.base), action));
            let legacy = self.indices.legacy(t.base);
            if self.owned(t.base).await?.contains(&legacy) {
                report.legacy.push(legacy);
            }
            report.conflicts.extend(self.mapping_conflicts(&t).await?);
        }
        self.templates_ensured.store(true, Ordering::Relaxed);
        Ok(report)
    }

    /// The policy as the cluster stores it, or `None` when it has none by that name.
    async fn stored_policy(&self, name: &str) -> Result<Option<Value>, ElasticError> {
        let resp = self
            .transport
            .send_accepting(&request::get_lifecycle_policy(name), &[404])
            .await?;
        if resp.status == 404 {
            Ok(None)
        } else {
            Ok(response::parse_lifecycle_policy(&resp.body, name)?)
        }
    }

    async fn install_policy(
        &self,
        name: &str,
        policy: &Value,
    ) -> Result<TemplateAction, ElasticError> {
        let action = match &self.stored_policy(name).await? {
            Some(s) if lifecycle::is_current(s, policy) => return Ok(TemplateAction::Unchanged),
            Some(_) => TemplateAction::Updated,
            None => TemplateAction::Created,
        };
        self.send(&request::put_lifecycle_policy(name, policy))
            .await?;
        Ok(action)
    }

    /// Makes sure `base`'s rollover alias exists, creating it with its first index
    /// (`X.S.lma-YYYYMMDD-000000`) when missing. Two processes racing here both end with
    /// the one alias: the loser's create is refused and the alias is then found.
    async fn ensure_write_alias(&self, base: &str) -> Result<TemplateAction, ElasticError> {
        let alias = self.indices.write_alias(base);
        if self.alias_exists(&alias).await? {
            return Ok(TemplateAction::Unchanged);
        }
        let index = self
            .indices
            .bootstrap_index(base, chrono::Utc::now().date_naive());
        let created = self
            .transport
            .send_accepting(&request::create_write_index(&index, &alias), &[400])
            .await?;
        if created.status == 400 {
            if self.alias_exists(&alias).await? {
                return Ok(TemplateAction::Unchanged);
            }
            return Err(ElasticError::WriteAlias {
                alias,
                detail: format!(
                    "creating its first index {index} was refused: {}",
                    String::from_utf8_lossy(&created.body)
                ),
            });
        }
        tracing::info!(
            alias,
            index,
            "created the rollover alias and its first index"
        );
        Ok(TemplateAction::Created)
    }

    async fn alias_exists(&self, alias: &str) -> Result<bool, ElasticError> {
        let resp = self
            .transport
            .send_accepting(&request::get_alias(alias), &[404])
            .await?;
        Ok(resp.status != 404)
    }

    /// The template as the cluster stores it, or `None` when it has none by that name.
    async fn stored_template(&self, t: &Template) -> Result<Option<Value>, ElasticError> {
        let existing = self
            .transport
            .send_accepting(&request::get_index_template(&t.name), &[404])
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
        self.send(&request::put_index_template(&t.name, &t.body))
            .await?;
        Ok(action)
    }

    async fn mapping_conflicts(&self, t: &Template) -> Result<Vec<ElasticError>, ElasticError> {
        let fields: Vec<&str> = t.required.iter().map(|(f, _, _)| *f).collect();
        let resp = self
            .send(&request::field_mappings(
                &self.indices.read_patterns(t.base),
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

    /// Writers make sure the policies, templates and rollover aliases exist before the
    /// first write, so the index that write lands in has the right mapping and
    /// lifecycle. A user without the privileges to install policies or templates gets a
    /// warning, not a failure (an administrator may have installed them); without the
    /// alias nothing is written, since a write to its name would create a plain index
    /// that blocks the alias for good.
    async fn ensure_templates(&self) -> Result<(), ElasticError> {
        if self.templates_ensured.load(Ordering::Relaxed) {
            return Ok(());
        }
        for t in templates::all(&self.indices) {
            let policy = templates::policy_of(&t, &self.retention);
            match self.stored_policy(&t.name).await {
                Ok(Some(_)) => {}
                Ok(None) => self.warn_forbidden(
                    "lifecycle policy",
                    &t.name,
                    self.send(&request::put_lifecycle_policy(&t.name, &policy))
                        .await,
                )?,
                Err(e) => self.warn_forbidden::<()>("lifecycle policy", &t.name, Err(e))?,
            }
            match self.stored_template(&t).await {
                Ok(Some(_)) => {}
                Ok(None) => self.warn_forbidden(
                    "index template",
                    &t.name,
                    self.send(&request::put_index_template(&t.name, &t.body))
                        .await,
                )?,
                Err(e) => self.warn_forbidden::<()>("index template", &t.name, Err(e))?,
            }
            self.ensure_write_alias(t.base).await.map_err(|e| match e {
                ElasticError::Forbidden { reason, .. } => ElasticError::Forbidden {
                    op: "create the rollover alias",
                    reason: format!(
                        "{reason}; the alias {} must exist before anything is written: \
                             run `compliancectl elastic setup` as a user with the create_index \
                             privilege on its indices",
                        self.indices.write_alias(t.base)
                    ),
                },
                e => e,
            })?;
        }
        // Two writers racing here both check, which is harmless.
        self.templates_ensured.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// A 403 on installing `what` is a warning (an administrator may have done it); any
    /// other failure stops the write.
    fn warn_forbidden<T>(
        &self,
        what: &str,
        name: &str,
        result: Result<T, ElasticError>,
    ) -> Result<(), ElasticError> {
        match result {
            Ok(_) => {
                tracing::info!(name, "installed the {what}");
                Ok(())
            }
            Err(ElasticError::Forbidden { reason, .. }) => {
                tracing::warn!(
                    name,
                    "cannot check or install the {what}: {reason}; run `compliancectl elastic setup` as an administrator"
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
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
