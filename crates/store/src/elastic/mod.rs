//! The production store: benchmark results and reports in Elasticsearch, with Calico
//! Enterprise's index names and document keys (docs/spec.md §3, §5, §7).
//!
//! One file per stage: [`config`] (environment), [`request`] (every request as data),
//! [`response`] (every response parsed), [`retry`] (what is retried), [`transport`] (the
//! only IO) and [`templates`] (mappings). This file strings them together behind the same
//! traits as SQLite. The protocol, and the layout of reports too large for one request,
//! are written down in `docs/elasticsearch.md`.

pub mod config;
pub mod error;
pub mod request;
pub mod response;
pub mod retry;
pub mod templates;
pub mod transport;

use std::cell::Cell;
use std::collections::HashMap;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use compliance_core::model::{
    BenchmarkDocument, CisBenchmarkSummary, ReportDocument, TextInterner, time,
};

pub use config::ElasticConfig;
pub use error::ElasticError;
pub use transport::TransportStats;

use request::{BENCHMARK_INDEX, EsRequest, Indices, PartsToDelete, REPORT_INDEX};
use response::{ReportPart, SplitMarker};
use templates::Template;
use transport::Transport;

use super::{
    BenchmarkStore, InputError, QueryStats, QueryWindow, ReportListing, ReportStore, StoreError,
};

/// How often a read reopens an expired point in time before giving up.
const PIT_REOPENS: u32 = 3;

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
    templates_ensured: Cell<bool>,
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
            templates_ensured: Cell::new(false),
        })
    }

    /// Requests made and bytes moved so far.
    pub fn stats(&self) -> TransportStats {
        self.transport.stats()
    }

    fn send(&self, req: &EsRequest) -> Result<transport::EsResponse, ElasticError> {
        self.transport.send(req)
    }

    /// Installs or updates the three index templates, then checks existing indices for
    /// mappings the store cannot use. Safe to repeat.
    pub fn setup(&self) -> Result<SetupReport, ElasticError> {
        let mut report = SetupReport {
            templates: Vec::new(),
            conflicts: Vec::new(),
        };
        for t in templates::all() {
            let action = self.install_template(&t)?;
            report.templates.push((t.name.to_string(), action));
            report.conflicts.extend(self.mapping_conflicts(&t)?);
        }
        self.templates_ensured.set(true);
        Ok(report)
    }

    /// The template as the cluster stores it, or `None` when it has none by that name.
    fn stored_template(&self, t: &Template) -> Result<Option<Value>, ElasticError> {
        let existing = self
            .transport
            .send_accepting(&request::get_index_template(t.name), &[404])?;
        if existing.status == 404 {
            Ok(None)
        } else {
            Ok(response::parse_index_template(&existing.body)?)
        }
    }

    fn install_template(&self, t: &Template) -> Result<TemplateAction, ElasticError> {
        let action = match &self.stored_template(t)? {
            Some(s) if templates::is_current(s, &t.body) => return Ok(TemplateAction::Unchanged),
            Some(_) => TemplateAction::Updated,
            None => TemplateAction::Created,
        };
        self.send(&request::put_index_template(t.name, &t.body))?;
        Ok(action)
    }

    fn mapping_conflicts(&self, t: &Template) -> Result<Vec<ElasticError>, ElasticError> {
        let fields: Vec<&str> = t.required.iter().map(|(f, _, _)| *f).collect();
        let resp = self.send(&request::field_mappings(
            &self.indices.read_patterns(t.name),
            &fields,
        ))?;
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
    fn ensure_templates(&self) -> Result<(), ElasticError> {
        if self.templates_ensured.get() {
            return Ok(());
        }
        for t in templates::all() {
            let missing = match self.stored_template(&t) {
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
                match self.send(&request::put_index_template(t.name, &t.body)) {
                    Ok(_) => tracing::info!(template = t.name, "installed index template"),
                    Err(ElasticError::Forbidden { reason, .. }) => tracing::warn!(
                        template = t.name,
                        "cannot install the index template: {reason}; new indices get dynamic mappings"
                    ),
                    Err(e) => return Err(e),
                }
            }
        }
        self.templates_ensured.set(true);
        Ok(())
    }

    /// The names this cluster owns under `base`; empty when no such index exists yet.
    fn owned(&self, base: &str) -> Result<Vec<String>, ElasticError> {
        let resp = self.send(&request::resolve_index(&self.indices.resolve_pattern(base)))?;
        Ok(response::parse_resolve(&resp.body, &self.indices, base)?)
    }

    fn open_pit(&self, base: &str, keep_alive: &str) -> Result<String, ElasticError> {
        let resp = self.send(&request::open_pit(
            &self.indices.read_patterns(base),
            keep_alive,
        ))?;
        Ok(response::parse_open_pit(&resp.body)?)
    }

    fn close_pit(&self, pit: &str) {
        if let Err(e) = self.send(&request::close_pit(pit)) {
            tracing::warn!("could not close the point in time (it expires by itself): {e}");
        }
    }

    fn latest(
        &self,
        window: &QueryWindow,
        sink: &mut dyn FnMut(BenchmarkDocument),
    ) -> Result<QueryStats, ElasticError> {
        let mut stats = QueryStats::default();
        if self.owned(BENCHMARK_INDEX)?.is_empty() {
            tracing::warn!(
                index = %self.indices.benchmark_write(),
                url = self.transport.url(),
                "no benchmark result index exists yet: the report has no nodes"
            );
            return Ok(stats);
        }
        let mut pit = self.open_pit(BENCHMARK_INDEX, request::PIT_KEEP_ALIVE)?;
        let result = self.read_latest_pages(window, &mut pit, sink, &mut stats);
        self.close_pit(&pit);
        result.map(|()| stats)
    }

    fn read_latest_pages(
        &self,
        window: &QueryWindow,
        pit: &mut String,
        sink: &mut dyn FnMut(BenchmarkDocument),
        stats: &mut QueryStats,
    ) -> Result<(), ElasticError> {
        let mut interner = TextInterner::new();
        let mut reopened = 0;
        // Good documents first, then errored ones; the report core keeps a node's good
        // document over its errors whichever arrives first (docs/spec.md §4.2).
        for errored in [false, true] {
            let mut after: Option<String> = None;
            loop {
                let req = request::latest_per_node_page(
                    window,
                    pit,
                    after.as_deref(),
                    errored,
                    self.page_size,
                );
                let resp = match self.send(&req) {
                    Ok(r) => r,
                    Err(e) if is_pit_expired(&e) && reopened < PIT_REOPENS => {
                        reopened += 1;
                        tracing::warn!(
                            after = after.as_deref().unwrap_or(""),
                            "the point in time expired; reopening it and resuming after the last node read"
                        );
                        *pit = self.open_pit(BENCHMARK_INDEX, request::PIT_KEEP_ALIVE)?;
                        continue;
                    }
                    Err(e) => return Err(explain_search_error(e, &self.indices)),
                };
                let page = response::parse_latest_page(&resp.body, &mut interner, sink)?;
                stats.documents += page.documents;
                for s in &page.skipped {
                    stats.skipped += 1;
                    tracing::warn!(index = %s.index, id = %s.id, "skipped a benchmark document that does not parse: {}", s.reason);
                }
                if let Some(p) = page.pit_id {
                    *pit = p;
                }
                if page.hits < self.page_size || page.last_node.is_none() {
                    break;
                }
                after = page.last_node;
            }
        }
        Ok(())
    }

    fn store_benchmarks(
        &self,
        docs: &mut dyn Iterator<Item = Result<BenchmarkDocument, InputError>>,
    ) -> Result<u64, StoreError> {
        self.ensure_templates()?;
        let index = self.indices.benchmark_write();
        let mut batch = BulkBatch::default();
        let mut stored = 0u64;
        for (read, item) in docs.enumerate() {
            let read = read as u64;
            let doc = item.map_err(|source| StoreError::Input { read, source })?;
            if let Err(detail) = doc.validate() {
                return Err(StoreError::InvalidDocument {
                    path: self.transport.url().into(),
                    index: read,
                    node: doc.node_name.clone(),
                    timestamp: doc.timestamp,
                    detail,
                });
            }
            let source = serde_json::to_vec(&doc).map_err(|e| StoreError::Encode {
                what: format!("benchmark document of {}", doc.node_name),
                detail: e.to_string(),
            })?;
            let id = request::benchmark_doc_id(&doc.node_name, &doc.timestamp);
            if !batch.is_empty()
                && batch.len() + source.len() + id.len() + 128 > self.max_request_bytes
            {
                stored += self.flush_bulk("store benchmark results", &mut batch, false, stored)?;
            }
            batch.push(&index, &id, &source);
        }
        if !batch.is_empty() {
            stored += self.flush_bulk("store benchmark results", &mut batch, true, stored)?;
        }
        Ok(stored)
    }

    /// Sends one bulk batch; items rejected as busy (429, 502–504) are sent again with backoff,
    /// any other failed item fails the write with the list of failures.
    fn flush_bulk(
        &self,
        op: &'static str,
        batch: &mut BulkBatch,
        refresh: bool,
        stored_before: u64,
    ) -> Result<u64, ElasticError> {
        let batch = batch.take();
        let total = batch.items.len() as u64;
        let mut pending: Vec<usize> = (0..batch.items.len()).collect();
        let mut failures = Vec::new();
        let mut attempt = 0u32;
        let mut stored = 0u64;
        let delays: Vec<std::time::Duration> = backon::BackoffBuilder::build(retry::backoff(
            self.transport.retry_delay(),
            self.transport.retries(),
        ))
        .collect();
        loop {
            let body = batch.body_for(&pending);
            let resp = self.send(&request::bulk(op, body, refresh))?;
            let outcome = response::parse_bulk(&resp.body)?;
            if outcome.items != pending.len() {
                return Err(ElasticError::Parse(response::ParseError {
                    op: "bulk write",
                    detail: format!(
                        "sent {} documents, the response lists {}",
                        pending.len(),
                        outcome.items
                    ),
                }));
            }
            let mut retry_next = Vec::new();
            stored += (pending.len() - outcome.failures.len()) as u64;
            for f in outcome.failures {
                let original = pending[f.position];
                if f.is_retryable() && (attempt as usize) < delays.len() {
                    retry_next.push(original);
                } else {
                    failures.push(f);
                }
            }
            if retry_next.is_empty() {
                break;
            }
            tracing::warn!(
                documents = retry_next.len(),
                "Elasticsearch was busy (429, 502-504); sending those documents again"
            );
            std::thread::sleep(delays[attempt as usize]);
            attempt += 1;
            pending = retry_next;
        }
        if failures.is_empty() {
            Ok(stored)
        } else {
            Err(ElasticError::Bulk {
                stored: stored_before + stored,
                total: stored_before + total,
                failures,
            })
        }
    }

    fn store_report(&self, report: &ReportDocument) -> Result<(), ElasticError> {
        self.ensure_templates()?;
        // Encoding stops as soon as the limit is passed: a 10,000-node report is ~1 GB of
        // JSON, which should never exist in memory at once; it goes out in parts instead.
        let single = to_vec_within(report, self.max_request_bytes)
            .map_err(|e| encode_error("report", report, e))?;
        if let Some(single) = single {
            let put = request::put_document(
                "store report",
                &self.indices.report_write(),
                &report.id,
                single,
            );
            match self.send(&put) {
                Ok(_) => {
                    self.delete_parts_quietly(&report.id, PartsToDelete::All);
                    return Ok(());
                }
                Err(ElasticError::TooLarge { bytes, .. }) => {
                    tracing::warn!(
                        bytes,
                        "the cluster refused the report as one document (413); storing it in parts"
                    );
                    let limit = (bytes / 2).max(1);
                    return self.store_split_report(report, limit);
                }
                Err(e) => return Err(e),
            }
        }
        self.store_split_report(report, self.max_request_bytes)
    }

    /// The layout for reports larger than one request: parts first, then the head that
    /// names their generation (the commit point), then cleanup of older generations.
    fn store_split_report(
        &self,
        report: &ReportDocument,
        request_limit: usize,
    ) -> Result<(), ElasticError> {
        let generation = uuid::Uuid::new_v4().simple().to_string();
        let parts = match self.write_parts(report, &generation, request_limit) {
            Ok(parts) => parts,
            Err(e) => {
                self.delete_parts_quietly(&report.id, PartsToDelete::Only(&generation));
                return Err(e);
            }
        };
        let mut head =
            serde_json::to_value(head_of(report)).map_err(|e| encode_error("head", report, e))?;
        head["cisBenchmarkParts"] = Value::from(parts);
        head["cisBenchmarkGeneration"] = Value::from(generation.clone());
        head["cisBenchmarkNodeCount"] = Value::from(report.cis_benchmark.len() as u64);
        let body = serde_json::to_vec(&head).map_err(|e| encode_error("head", report, e))?;
        let put = request::put_document(
            "store report",
            &self.indices.report_write(),
            &report.id,
            body,
        );
        if let Err(e) = self.send(&put) {
            self.delete_parts_quietly(&report.id, PartsToDelete::Only(&generation));
            return Err(e);
        }
        self.delete_parts_quietly(&report.id, PartsToDelete::AllBut(&generation));
        tracing::info!(
            parts,
            nodes = report.cis_benchmark.len(),
            "stored the report in parts"
        );
        Ok(())
    }

    /// Cuts the nodes, in order, into parts of at most [`request::PART_BYTES`] of JSON
    /// and sends them in bulk batches under `request_limit`. Returns the part count.
    fn write_parts(
        &self,
        report: &ReportDocument,
        generation: &str,
        request_limit: usize,
    ) -> Result<u64, ElasticError> {
        let parts_index = self.indices.report_parts();
        let part_limit = request::PART_BYTES.min(request_limit / 2).max(1);
        let mut batch = BulkBatch::default();
        let mut part = 0u64;
        let mut nodes_json: Vec<u8> = Vec::new();
        let mut add_part = |batch: &mut BulkBatch,
                            nodes_json: &mut Vec<u8>|
         -> Result<(), ElasticError> {
            let head = serde_json::json!({ "reportId": report.id, "generation": generation, "part": part });
            let mut doc = serde_json::to_vec(&head).map_err(|e| encode_error("part", report, e))?;
            doc.pop(); // the closing brace: the nodes follow
            doc.extend_from_slice(b",\"cisBenchmark\":[");
            doc.extend_from_slice(nodes_json);
            doc.extend_from_slice(b"]}");
            nodes_json.clear();
            let id = format!("{}~{generation}~{part}", report.id);
            if !batch.is_empty() && batch.len() + doc.len() + id.len() + 128 > request_limit {
                self.flush_bulk("store report parts", batch, false, 0)?;
            }
            batch.push(&parts_index, &id, &doc);
            part += 1;
            Ok(())
        };
        for node in &report.cis_benchmark {
            let json =
                serde_json::to_vec(node).map_err(|e| encode_error("node results", report, e))?;
            if !nodes_json.is_empty() && nodes_json.len() + json.len() + 1 > part_limit {
                add_part(&mut batch, &mut nodes_json)?;
            }
            if !nodes_json.is_empty() {
                nodes_json.push(b',');
            }
            nodes_json.extend_from_slice(&json);
        }
        add_part(&mut batch, &mut nodes_json)?;
        self.flush_bulk("store report parts", &mut batch, true, 0)?;
        Ok(part)
    }

    fn delete_parts_quietly(&self, id: &str, which: PartsToDelete<'_>) {
        let req = request::delete_parts(&self.indices.report_parts(), id, which);
        if let Err(e) = self.send(&req) {
            tracing::warn!(
                report = id,
                "could not delete report parts (they are never read): {e}"
            );
        }
    }

    fn get(&self, id: &str) -> Result<Option<ReportDocument>, ElasticError> {
        let resp = self.send(&request::report_by_id(
            &self.indices.read_patterns(REPORT_INDEX),
            id,
        ))?;
        let (hits, _) = response::parse_hits("get report", &resp.body)?;
        // The same id in two indices (a rollover alias): the newest generation wins.
        // A head whose split keys do not parse is an error, never a report with no nodes.
        let mut best: Option<(SplitMarker, &serde_json::value::RawValue)> = None;
        for h in &hits {
            let marker: SplitMarker = serde_json::from_str(h.source.get()).map_err(|e| {
                ElasticError::IncompleteReport {
                    id: id.to_string(),
                    detail: format!("the stored head in {} does not parse: {e}", h.index),
                }
            })?;
            if best
                .as_ref()
                .is_none_or(|(b, _)| marker.generated_time > b.generated_time)
            {
                best = Some((marker, h.source));
            }
        }
        let Some((marker, source)) = best else {
            return Ok(None);
        };
        let mut report: ReportDocument =
            serde_json::from_str(source.get()).map_err(|e| ElasticError::IncompleteReport {
                id: id.to_string(),
                detail: format!("the stored document does not parse: {e}"),
            })?;
        let mut texts = TextInterner::new();
        texts.intern_nodes(&mut report.cis_benchmark);
        if let (Some(parts), Some(generation)) = (marker.parts, marker.generation) {
            report.cis_benchmark = self.read_parts(id, &generation, parts, &mut texts)?;
            if let Some(n) = marker.node_count
                && n != report.cis_benchmark.len() as u64
            {
                return Err(ElasticError::IncompleteReport {
                    id: id.to_string(),
                    detail: format!(
                        "the head lists {n} nodes, its parts {}",
                        report.cis_benchmark.len()
                    ),
                });
            }
        }
        Ok(Some(report))
    }

    fn read_parts(
        &self,
        id: &str,
        generation: &str,
        parts: u64,
        texts: &mut TextInterner,
    ) -> Result<Vec<compliance_core::model::CisBenchmarkNode>, ElasticError> {
        let parts_index = self.indices.report_parts();
        let mut nodes = Vec::new();
        let mut next = 0u64;
        loop {
            let after = next.checked_sub(1);
            let resp = self.send(&request::report_parts_page(
                &parts_index,
                id,
                generation,
                after,
            ))?;
            let (hits, _) = response::parse_hits("read report parts", &resp.body)?;
            let count = hits.len();
            for h in hits {
                let part: ReportPart = serde_json::from_str(h.source.get()).map_err(|e| {
                    ElasticError::IncompleteReport {
                        id: id.to_string(),
                        detail: format!("part {} does not parse: {e}", h.id),
                    }
                })?;
                if part.part != next || part.report_id != id || part.generation != generation {
                    return Err(ElasticError::IncompleteReport {
                        id: id.to_string(),
                        detail: format!(
                            "expected part {next} of {parts}, found part {} ({})",
                            part.part, h.id
                        ),
                    });
                }
                // Shared as each part arrives, so the copies never pile up.
                let mut part_nodes = part.nodes;
                texts.intern_nodes(&mut part_nodes);
                nodes.extend(part_nodes);
                next += 1;
            }
            // A short page, or every named part read: nothing more to ask for.
            if count < request::PARTS_PAGE_SIZE || next >= parts {
                break;
            }
        }
        if next != parts {
            return Err(ElasticError::IncompleteReport {
                id: id.to_string(),
                detail: format!(
                    "the head names {parts} parts of generation {generation}, {next} were found"
                ),
            });
        }
        Ok(nodes)
    }

    fn list(&self) -> Result<Vec<ReportListing>, ElasticError> {
        if self.owned(REPORT_INDEX)?.is_empty() {
            return Ok(Vec::new());
        }
        let mut pit = self.open_pit(REPORT_INDEX, request::LIST_PIT_KEEP_ALIVE)?;
        let result = self.list_pages(&mut pit);
        self.close_pit(&pit);
        let mut by_id: HashMap<String, (String, ReportListing)> = HashMap::new();
        for (generated, listing) in result? {
            match by_id.get(&listing.id) {
                Some((g, _)) if *g >= generated => {}
                _ => {
                    by_id.insert(listing.id.clone(), (generated, listing));
                }
            }
        }
        let mut out: Vec<ReportListing> = by_id.into_values().map(|(_, l)| l).collect();
        out.sort_by(|a, b| {
            b.end_time
                .cmp(&a.end_time)
                .then_with(|| a.report_name.cmp(&b.report_name))
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(out)
    }

    fn list_pages(&self, pit: &mut String) -> Result<Vec<(String, ReportListing)>, ElasticError> {
        let mut out = Vec::new();
        let mut after: Option<Vec<Value>> = None;
        loop {
            let resp = self.send(&request::list_reports_page(pit, after.as_deref()))?;
            let (hits, pit_id) = response::parse_hits("list reports", &resp.body)?;
            if let Some(p) = pit_id {
                *pit = p;
            }
            let count = hits.len();
            for h in &hits {
                match parse_listing(&h.id, h.source.get()) {
                    Ok(l) => out.push(l),
                    Err(e) => {
                        tracing::warn!(index = %h.index, id = %h.id, "skipped a report that does not parse: {e}")
                    }
                }
            }
            if count < request::LIST_PAGE_SIZE {
                break;
            }
            after = hits.last().map(|h| h.sort.clone());
        }
        Ok(out)
    }
}

/// A 404 saying the point in time is gone (it outlived its keep-alive).
fn is_pit_expired(e: &ElasticError) -> bool {
    e.error_body().is_some_and(|(status, body)| {
        status == 404 && body.mentions("search_context_missing_exception")
    })
}

/// A search refused because `node_name` or `timestamp` has the wrong type gets the fix.
fn explain_search_error(e: ElasticError, indices: &Indices) -> ElasticError {
    let Some((400, body)) = e.error_body() else {
        return e;
    };
    let text = body.summary().to_ascii_lowercase();
    if text.contains("collapse")
        || text.contains("text fields are not optimised")
        || text.contains("fielddata")
    {
        return ElasticError::MappingConflict {
            index: indices.read_patterns(BENCHMARK_INDEX),
            field: "node_name".into(),
            found: "a type that cannot be collapsed on".into(),
            expected: "keyword".into(),
            hint: format!(
                "Elasticsearch said: {}. Run `compliancectl elastic setup`, then reindex the \
                 existing benchmark indices (templates only apply to new indices)",
                body.summary()
            ),
        };
    }
    e
}

/// The report without its node results, for a split report's head; the nodes are
/// not cloned (there may be 10,000 of them).
fn head_of(r: &ReportDocument) -> ReportDocument {
    ReportDocument {
        cis_benchmark: Vec::new(),
        id: r.id.clone(),
        report_name: r.report_name.clone(),
        report_type_name: r.report_type_name.clone(),
        report_spec: r.report_spec.clone(),
        report_type_spec: r.report_type_spec.clone(),
        start_time: r.start_time,
        end_time: r.end_time,
        generation_time: r.generation_time,
        cis_benchmark_summary: r.cis_benchmark_summary.clone(),
        ui_summary: r.ui_summary.clone(),
        cluster: r.cluster.clone(),
        generated_time: r.generated_time,
    }
}

/// The length of `value` as JSON, without building it.
/// `value` as JSON if it takes at most `limit` bytes, `None` (having written only a little
/// more than `limit`) if it does not.
fn to_vec_within<T: serde::Serialize>(
    value: &T,
    limit: usize,
) -> Result<Option<Vec<u8>>, serde_json::Error> {
    struct Bounded {
        buf: Vec<u8>,
        limit: usize,
        over: bool,
    }
    impl std::io::Write for Bounded {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.buf.len() + bytes.len() > self.limit {
                self.over = true;
                return Err(std::io::Error::other("over the request size limit"));
            }
            self.buf.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = Bounded {
        buf: Vec::new(),
        limit,
        over: false,
    };
    match serde_json::to_writer(&mut w, value) {
        Ok(()) => Ok(Some(w.buf)),
        Err(_) if w.over => Ok(None),
        Err(e) => Err(e),
    }
}

fn encode_error(what: &str, report: &ReportDocument, e: serde_json::Error) -> ElasticError {
    ElasticError::Encode {
        what: format!("{what} of report {}", report.id),
        detail: e.to_string(),
    }
}

/// A list entry from a report head's `_source` (fields of [`request::LISTING_FIELDS`]);
/// returns its `generated_time` alongside, to keep the newest of duplicated ids.
fn parse_listing(hit_id: &str, source: &str) -> Result<(String, ReportListing), String> {
    #[derive(Deserialize)]
    struct Listing {
        id: Option<String>,
        #[serde(rename = "reportName")]
        report_name: String,
        #[serde(rename = "reportTypeName")]
        report_type_name: String,
        #[serde(rename = "startTime")]
        start_time: String,
        #[serde(rename = "endTime")]
        end_time: String,
        #[serde(rename = "generationTime")]
        generation_time: String,
        generated_time: Option<String>,
        #[serde(rename = "cisBenchmarkSummary")]
        summary: CisBenchmarkSummary,
        #[serde(rename = "cisBenchmarkNodeCount")]
        node_count: Option<u64>,
    }
    let l: Listing = serde_json::from_str(source).map_err(|e| e.to_string())?;
    let t = |name: &str, v: &str| time::parse(v).map_err(|e| format!("{name} {v:?}: {e}"));
    let node_count = l
        .node_count
        .unwrap_or(l.summary.high_count + l.summary.med_count + l.summary.low_count);
    let generated = l
        .generated_time
        .clone()
        .unwrap_or_else(|| l.generation_time.clone());
    Ok((
        generated,
        ReportListing {
            id: l
                .id
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| hit_id.to_string()),
            report_name: l.report_name,
            report_type_name: l.report_type_name,
            start_time: t("startTime", &l.start_time)?,
            end_time: t("endTime", &l.end_time)?,
            generation_time: t("generationTime", &l.generation_time)?,
            summary: l.summary,
            node_count,
        },
    ))
}

/// A `_bulk` body under construction, remembering where each item's lines are so that
/// rejected items can be sent again alone.
#[derive(Default)]
struct BulkBatch {
    body: Vec<u8>,
    items: Vec<(usize, usize)>,
}

impl BulkBatch {
    fn push(&mut self, index: &str, id: &str, source: &[u8]) {
        let start = self.body.len();
        request::push_bulk_index(&mut self.body, index, id, source);
        self.items.push((start, self.body.len()));
    }

    fn len(&self) -> usize {
        self.body.len()
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Empties the batch into a frozen body that requests share without copying.
    fn take(&mut self) -> SentBatch {
        SentBatch {
            body: Bytes::from(std::mem::take(&mut self.body)),
            items: std::mem::take(&mut self.items),
        }
    }
}

/// A batch being sent: the whole body, and each item's lines for re-sending some.
struct SentBatch {
    body: Bytes,
    items: Vec<(usize, usize)>,
}

impl SentBatch {
    /// The lines of `items`: the shared body itself when all are wanted.
    fn body_for(&self, items: &[usize]) -> Bytes {
        if items.len() == self.items.len() {
            return self.body.clone();
        }
        let mut out = Vec::new();
        for &i in items {
            let (start, end) = self.items[i];
            out.extend_from_slice(&self.body[start..end]);
        }
        out.into()
    }
}

impl BenchmarkStore for ElasticStore {
    fn put_benchmarks(
        &mut self,
        docs: &mut dyn Iterator<Item = Result<BenchmarkDocument, InputError>>,
    ) -> Result<u64, StoreError> {
        self.store_benchmarks(docs)
    }

    fn latest_per_node(
        &self,
        window: &QueryWindow,
        sink: &mut dyn FnMut(BenchmarkDocument),
    ) -> Result<QueryStats, StoreError> {
        let before = self.stats();
        let mut stats = self.latest(window, sink)?;
        let after = self.stats();
        stats.requests = after.requests - before.requests;
        stats.bytes_read = after.bytes_received - before.bytes_received;
        Ok(stats)
    }
}

impl ReportStore for ElasticStore {
    fn put_report(&mut self, report: &ReportDocument) -> Result<(), StoreError> {
        Ok(self.store_report(report)?)
    }

    fn list_reports(&self) -> Result<Vec<ReportListing>, StoreError> {
        Ok(self.list()?)
    }

    fn get_report(&self, id: &str) -> Result<Option<ReportDocument>, StoreError> {
        Ok(self.get(id)?)
    }
}

#[cfg(test)]
mod tests {
    use super::to_vec_within;

    #[test]
    fn encoding_within_a_limit_stops_once_it_is_passed() {
        let value = vec!["x".repeat(10); 100];
        let full = serde_json::to_vec(&value).unwrap();
        assert_eq!(
            to_vec_within(&value, full.len()).unwrap(),
            Some(full.clone())
        );
        assert_eq!(to_vec_within(&value, full.len() - 1).unwrap(), None);
        assert_eq!(to_vec_within(&value, 0).unwrap(), None);
    }
}
