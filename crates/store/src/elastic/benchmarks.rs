//! Benchmark documents in Elasticsearch: the bulk import, and each node's latest document
//! in a window through collapsed searches under a point in time.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use compliance_core::model::BenchmarkDocument;

use super::bulk::BulkBatch;
use super::request::{self, BENCHMARK_INDEX, Indices};
use super::texts::{SlimDocument, TestTexts};
use super::{ElasticError, ElasticStore, response};
use crate::{InputError, QueryStats, QueryWindow, StoreError};

/// Documents fetched for their test texts per request, at most.
const TEXT_FETCH_BATCH: usize = 50;

/// How often a read reopens an expired point in time before giving up.
const PIT_REOPENS: u32 = 3;

impl ElasticStore {
    /// Each node's latest documents in `window` ([`crate::Store::latest_per_node`]): a
    /// point in time and collapsed pages of good documents, then of errored ones.
    /// `requests` and `bytes_read` are what this store sent and read meanwhile.
    pub async fn latest_per_node<F>(
        &self,
        window: &QueryWindow,
        mut sink: F,
    ) -> Result<QueryStats, StoreError>
    where
        F: FnMut(BenchmarkDocument),
    {
        let before = self.stats();
        let mut stats = self.latest(window, &mut sink).await?;
        let after = self.stats();
        stats.requests = after.requests - before.requests;
        stats.bytes_read = after.bytes_received - before.bytes_received;
        Ok(stats)
    }

    /// Each named node's newest document time ([`crate::Store::last_result_times`]):
    /// one collapsed search per [`request::LAST_RESULT_BATCH`] names. No benchmark index
    /// yet: no node has a document.
    pub async fn last_result_times(
        &self,
        nodes: &[String],
    ) -> Result<HashMap<String, DateTime<Utc>>, ElasticError> {
        let mut out = HashMap::with_capacity(nodes.len());
        if nodes.is_empty() || self.owned(BENCHMARK_INDEX).await?.is_empty() {
            return Ok(out);
        }
        let patterns = self.indices.read_patterns(BENCHMARK_INDEX);
        for batch in nodes.chunks(request::LAST_RESULT_BATCH) {
            let asked: HashSet<&str> = batch.iter().map(String::as_str).collect();
            let resp = self
                .send(&request::last_result_times(&patterns, batch))
                .await
                .map_err(|e| explain_search_error(e, &self.indices))?;
            for (node, time) in response::parse_last_result_times(&resp.body)? {
                // Only the names asked for: a keyword matches exactly, but a wrong answer
                // must not invent a node.
                if asked.contains(node.as_str()) {
                    out.insert(node, time);
                }
            }
        }
        Ok(out)
    }

    async fn latest<F>(
        &self,
        window: &QueryWindow,
        sink: &mut F,
    ) -> Result<QueryStats, ElasticError>
    where
        F: FnMut(BenchmarkDocument),
    {
        let mut stats = QueryStats::default();
        if self.owned(BENCHMARK_INDEX).await?.is_empty() {
            tracing::warn!(
                index = %self.indices.benchmark_write(),
                url = self.transport.url(),
                "no benchmark result index exists yet: the report has no nodes"
            );
            return Ok(stats);
        }
        let mut pit = self
            .open_pit(BENCHMARK_INDEX, request::PIT_KEEP_ALIVE)
            .await?;
        let result = self
            .read_latest_pages(window, &mut pit, sink, &mut stats)
            .await;
        self.close_pit(&pit).await;
        result.map(|()| stats)
    }

    async fn read_latest_pages<F>(
        &self,
        window: &QueryWindow,
        pit: &mut String,
        sink: &mut F,
        stats: &mut QueryStats,
    ) -> Result<(), ElasticError>
    where
        F: FnMut(BenchmarkDocument),
    {
        let mut texts = TestTexts::default();
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
                let resp = match self.send(&req).await {
                    Ok(r) => r,
                    Err(e) if is_pit_expired(&e) && reopened < PIT_REOPENS => {
                        reopened += 1;
                        tracing::warn!(
                            after = after.as_deref().unwrap_or(""),
                            "the point in time expired; reopening it and resuming after the last node read"
                        );
                        *pit = self
                            .open_pit(BENCHMARK_INDEX, request::PIT_KEEP_ALIVE)
                            .await?;
                        continue;
                    }
                    Err(e) => return Err(explain_search_error(e, &self.indices)),
                };
                let (page, docs) = response::parse_latest_page(&resp.body)?;
                if let Some(p) = &page.pit_id {
                    pit.clone_from(p);
                }
                self.learn_texts(pit, &docs, &mut texts).await?;
                let mut skipped = page.skipped;
                for slim in docs {
                    let (index, id) = (slim.index.clone(), slim.id.clone());
                    match texts.complete(slim) {
                        Ok(doc) => {
                            stats.documents += 1;
                            sink(doc);
                        }
                        Err(reason) => {
                            skipped.push(response::SkippedDocument { index, id, reason })
                        }
                    }
                }
                for s in &skipped {
                    stats.skipped += 1;
                    tracing::warn!(index = %s.index, id = %s.id, "skipped a benchmark document that does not parse: {}", s.reason);
                }
                if page.hits < self.page_size || page.last_node.is_none() {
                    break;
                }
                after = page.last_node;
            }
        }
        Ok(())
    }

    /// Fetches whole, under the read's point in time, the documents of a page whose
    /// tests have no known texts yet ([`TestTexts::to_fetch`]): on a typical cluster one
    /// per benchmark version and node role, all on the first page.
    async fn learn_texts(
        &self,
        pit: &str,
        docs: &[SlimDocument],
        texts: &mut TestTexts,
    ) -> Result<(), ElasticError> {
        let wanted = texts.to_fetch(docs);
        for chunk in wanted.chunks(TEXT_FETCH_BATCH) {
            let ids: Vec<&str> = chunk.iter().map(|d| d.id.as_str()).collect();
            let resp = self.send(&request::text_documents(pit, &ids)).await?;
            for (index, id, doc) in response::parse_text_documents(&resp.body)? {
                // Only the copy asked for: the same id may sit in another index too.
                if !chunk.iter().any(|d| d.index == index && d.id == id) {
                    continue;
                }
                match doc {
                    Ok(doc) => texts.learn(doc),
                    Err(e) => tracing::warn!(
                        index,
                        id,
                        "the test descriptions of a benchmark document do not parse: {e}"
                    ),
                }
            }
        }
        Ok(())
    }

    /// Stores the documents with `_bulk` in batches under the request limit
    /// ([`crate::Store::put_benchmarks`]).
    pub async fn put_benchmarks<I>(&self, docs: I) -> Result<u64, StoreError>
    where
        I: Iterator<Item = Result<BenchmarkDocument, InputError>>,
    {
        self.ensure_templates().await?;
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
                stored += self
                    .flush_bulk("store benchmark results", &mut batch, false, stored)
                    .await?;
            }
            batch.push(&index, &id, &source);
        }
        if !batch.is_empty() {
            stored += self
                .flush_bulk("store benchmark results", &mut batch, true, stored)
                .await?;
        }
        Ok(stored)
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
