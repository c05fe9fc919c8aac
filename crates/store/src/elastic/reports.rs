//! Reports in Elasticsearch: storing one (whole, or split into parts when too large for
//! one request), and the reads of the server and the CLI.
//!
//! Every read but [`ElasticStore::get_report`] and [`ElasticStore::report_nodes`] asks for
//! the head fields only (`_source` filtering), so a list never moves node results.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use chrono::{DateTime, Utc};
use compliance_core::model::{
    CLUSTER_SCOPE_NODE_NAME, CisBenchmarkNode, ReportDocument, TextInterner,
};

use super::bulk::BulkBatch;
use super::compact::{self, PartBuilder};
use super::request::{self, PartsToDelete, REPORT_INDEX, REPORT_PARTS_INDEX, RESULT_WINDOW};
use super::response::{self, RawHit, ReportPart, SplitMarker};
use super::{ElasticError, ElasticStore};
use crate::query::{ReportHead, ReportPage, ReportQuery};

/// Largest JSON of a report stored as one document, Calico's layout; a larger report
/// is stored in compact parts ([`compact`]). Never more than the request limit
/// ([`single_document_limit`]).
///
/// Why 8 MiB ([`request::PART_BYTES`]), not the 50 MiB a request may carry: one document
/// repeats every test's description and remediation for every node, about 50 KB a node
/// with the 125 checks of cis-1.23, so 8 MiB is some 140 nodes. Up to there the
/// repetition costs little and the report stays readable by any tool that knew Calico's
/// layout. Above it the repetition is nearly all the report (a 10,000-node report was
/// 505 MB in parts of whole nodes, and is 6 MB in compact parts), and every page of a
/// single document costs a read of all of it.
pub const SINGLE_DOCUMENT_BYTES: usize = request::PART_BYTES;

/// Largest JSON of a report stored as one document under the request limit
/// `max_request_bytes`.
fn single_document_limit(max_request_bytes: usize) -> usize {
    SINGLE_DOCUMENT_BYTES.min(max_request_bytes)
}

impl ElasticStore {
    /// Stores `report` under its id ([`crate::Store::put_report`]): one document when
    /// its JSON is at most [`SINGLE_DOCUMENT_BYTES`], else in compact parts (see
    /// `docs/elasticsearch.md`).
    pub async fn put_report(&self, report: &ReportDocument) -> Result<(), ElasticError> {
        self.ensure_templates().await?;
        // Encoding stops as soon as the limit is passed: a 10,000-node report is ~500 MB
        // of JSON, which should never exist in memory at once; it goes out in parts.
        let single = to_vec_within(report, single_document_limit(self.max_request_bytes))
            .map_err(|e| encode_error("report", report, e))?;
        if let Some(single) = single {
            let put = request::put_document(
                "store report",
                &self.indices.report_write(),
                &report.id,
                single,
            );
            match self.send(&put).await {
                Ok(stored) => {
                    self.delete_other_copies(&report.id, &stored.body).await;
                    self.delete_parts_quietly(&report.id, PartsToDelete::All)
                        .await;
                    return Ok(());
                }
                Err(ElasticError::TooLarge { bytes, .. }) => {
                    tracing::warn!(
                        bytes,
                        "the cluster refused the report as one document (413); storing it in parts"
                    );
                    let limit = (bytes / 2).max(1);
                    return self.store_split_report(report, limit).await;
                }
                Err(e) => return Err(e),
            }
        }
        self.store_split_report(report, self.max_request_bytes)
            .await
    }

    /// The layout for reports larger than one request: parts first, then the head that
    /// names their generation (the commit point), then cleanup of older generations.
    async fn store_split_report(
        &self,
        report: &ReportDocument,
        request_limit: usize,
    ) -> Result<(), ElasticError> {
        let generation = uuid::Uuid::new_v4().simple().to_string();
        let parts = match self.write_parts(report, &generation, request_limit).await {
            Ok(parts) => parts,
            Err(e) => {
                self.delete_parts_quietly(&report.id, PartsToDelete::Only(&generation))
                    .await;
                return Err(e);
            }
        };
        let mut head =
            serde_json::to_value(head_of(report)).map_err(|e| encode_error("head", report, e))?;
        head["cisBenchmarkParts"] = Value::from(parts);
        head["cisBenchmarkGeneration"] = Value::from(generation.clone());
        head["cisBenchmarkNodeCount"] = Value::from(report.cis_benchmark.len() as u64);
        head["cisBenchmarkLayout"] = Value::from(compact::LAYOUT);
        let body = serde_json::to_vec(&head).map_err(|e| encode_error("head", report, e))?;
        let put = request::put_document(
            "store report",
            &self.indices.report_write(),
            &report.id,
            body,
        );
        let written = match self.send(&put).await {
            Ok(stored) => match response::parse_written_index(&stored.body) {
                Ok(index) => Some(index),
                Err(e) => {
                    tracing::warn!(report = %report.id, "cannot tell where the report was written: {e}");
                    None
                }
            },
            Err(e) => match self.head_generation(&report.id).await {
                // The cluster stored the head although its answer was lost (a timeout, a
                // connection cut after the write): the report is stored; finish.
                Ok(Some((g, index))) if g == generation => {
                    tracing::warn!(
                        report = %report.id,
                        "storing the report's head seemed to fail ({e}), but the cluster has it"
                    );
                    Some(index)
                }
                Ok(_) => {
                    self.delete_parts_quietly(&report.id, PartsToDelete::Only(&generation))
                        .await;
                    return Err(e);
                }
                // Unknown whether the head names the new parts: they stay (parts no head
                // names are never read, and the next store of this report deletes them).
                Err(check) => {
                    tracing::warn!(
                        report = %report.id,
                        "cannot tell whether the report's head was stored ({check}); its new parts are kept"
                    );
                    return Err(e);
                }
            },
        };
        if let Some(index) = written {
            self.delete_copies_except(&report.id, &index).await;
        }
        self.delete_parts_quietly(&report.id, PartsToDelete::AllBut(&generation))
            .await;
        tracing::info!(
            parts,
            nodes = report.cis_benchmark.len(),
            "stored the report in parts"
        );
        Ok(())
    }

    /// Cuts the nodes, in order, into compact parts of at most [`request::PART_BYTES`]
    /// (in payload and in decoded memory, see [`PartBuilder`]) and sends them in bulk
    /// batches under `request_limit`. Returns the part count.
    async fn write_parts(
        &self,
        report: &ReportDocument,
        generation: &str,
        request_limit: usize,
    ) -> Result<u64, ElasticError> {
        let part_limit = request::PART_BYTES.min(request_limit / 2).max(1);
        let mut out = PartsOut {
            report,
            generation,
            index: self.indices.report_parts(),
            request_limit,
            batch: BulkBatch::default(),
            parts: 0,
        };
        let encode = |e| encode_error("node results", report, e);
        let mut part = PartBuilder::new(part_limit);
        for node in &report.cis_benchmark {
            if !part.try_add(node).map_err(encode)? {
                let full = std::mem::replace(&mut part, PartBuilder::new(part_limit));
                self.push_part(&mut out, &full.finish()).await?;
                // An empty part takes any node.
                part.try_add(node).map_err(encode)?;
            }
        }
        // The last part (an empty one for a report without nodes).
        self.push_part(&mut out, &part.finish()).await?;
        self.flush_bulk("store report parts", &mut out.batch, true, 0)
            .await?;
        Ok(out.parts)
    }

    /// Adds the next part to the batch, sending the batch first when the part would take
    /// it over the request limit.
    async fn push_part(&self, out: &mut PartsOut<'_>, payload: &[u8]) -> Result<(), ElasticError> {
        let (id, doc) = part_document(out.report, out.generation, out.parts, payload)?;
        if !out.batch.is_empty() && out.batch.len() + doc.len() + id.len() + 128 > out.request_limit
        {
            self.flush_bulk("store report parts", &mut out.batch, false, 0)
                .await?;
        }
        out.batch.push(&out.index, &id, &doc);
        out.parts += 1;
        Ok(())
    }

    /// Deletes the copies of report `id` that are not in the index the write just went
    /// to (`stored` is that write's answer). Running a window again must replace its
    /// report, but after a rollover the write lands in a newer index than the old copy,
    /// and a report from before the upgrade sits in the plain index. Readers take the
    /// newest copy anyway, so a failure here is logged, not fatal.
    async fn delete_other_copies(&self, id: &str, stored: &[u8]) {
        match response::parse_written_index(stored) {
            Ok(index) => self.delete_copies_except(id, &index).await,
            Err(e) => {
                tracing::warn!(report = id, "cannot tell where the report was written: {e}");
            }
        }
    }

    /// The generation of report `id`'s newest head and the index holding it; `None`
    /// when there is no such report or it is one document.
    ///
    /// The head is the commit point of a split report: when the answer to storing it is
    /// lost, this tells whether the cluster has it before its parts may be deleted.
    async fn head_generation(&self, id: &str) -> Result<Option<(String, String)>, ElasticError> {
        Ok(self
            .newest_copy_of(id)
            .await?
            .and_then(|(marker, index, _)| Some((marker.generation?, index))))
    }

    /// Deletes the copies of report `id` in any index but `written`.
    async fn delete_copies_except(&self, id: &str, written: &str) {
        let found = self
            .send(&request::report_copies(
                &self.indices.read_patterns(REPORT_INDEX),
                id,
            ))
            .await
            .and_then(|resp| {
                Ok(response::parse_hits("find report copies", &resp.body)?
                    .0
                    .iter()
                    .map(|h| h.index.to_string())
                    .collect::<Vec<_>>())
            });
        let indices = match found {
            Ok(indices) => indices,
            Err(e) => {
                tracing::warn!(
                    report = id,
                    "cannot look for older copies of the report: {e}"
                );
                return;
            }
        };
        for index in indices.iter().filter(|i| i.as_str() != written) {
            let req = request::delete_document("delete an older report copy", index, id);
            match self.send(&req).await {
                Ok(_) => tracing::info!(report = id, index, "deleted the report's older copy"),
                Err(e) => tracing::warn!(
                    report = id,
                    index,
                    "could not delete the report's older copy (readers take the newest): {e}"
                ),
            }
        }
    }

    async fn delete_parts_quietly(&self, id: &str, which: PartsToDelete<'_>) {
        let req = request::delete_parts(&self.indices.read_patterns(REPORT_PARTS_INDEX), id, which);
        if let Err(e) = self.send(&req).await {
            tracing::warn!(
                report = id,
                "could not delete report parts (they are never read): {e}"
            );
        }
    }

    /// The whole report ([`crate::Store::get_report`]): the newest copy of its document,
    /// completed from its parts when split. A missing part is an error, never a shorter
    /// report.
    pub async fn get_report(&self, id: &str) -> Result<Option<ReportDocument>, ElasticError> {
        let Some((marker, source)) = self.newest_document(id).await? else {
            return Ok(None);
        };
        let mut report: ReportDocument =
            serde_json::from_str(&source).map_err(|e| ElasticError::IncompleteReport {
                id: id.to_string(),
                detail: format!("the stored document does not parse: {e}"),
            })?;
        // Calico's reports have no id (the _id searched for is it) and, before 2023, no cluster.
        report.fill_missing(id, self.indices.cluster());
        let mut texts = TextInterner::new();
        texts.intern_nodes(&mut report.cis_benchmark);
        if let (Some(parts), Some(generation)) = (marker.parts, marker.generation) {
            let layout = PartLayout::of(id, marker.layout.as_deref())?;
            let mut reader = PartReader::new(id, &generation, parts, layout);
            report.cis_benchmark = self
                .read_parts_from(&mut reader, u64::MAX, &mut texts)
                .await?;
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

    /// A page of a report's nodes ([`crate::Store::report_nodes`]).
    ///
    /// What it costs: a single-document report is read whole (one request) for any page,
    /// then cut; a split report reads its parts in order from the first up to the one
    /// holding the page's last node, so early pages are cheap and the last page costs
    /// the whole report.
    pub async fn report_nodes(
        &self,
        id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Option<Vec<CisBenchmarkNode>>, ElasticError> {
        let Some(layout) = self.report_layout(id).await? else {
            return Ok(None);
        };
        let mut texts = TextInterner::new();
        let mut offset = offset;
        let mut end = offset.saturating_add(limit);
        let mut nodes = match layout {
            Layout::Split(mut reader) => {
                // Known part boundaries: start at the part holding `offset`.
                if let Some((part, first)) = self.part_starts.find(id, &reader.generation, offset) {
                    reader.next = part;
                    reader.counts = None;
                    offset -= first;
                    end -= first;
                }
                self.read_parts_from(&mut reader, end, &mut texts).await?
            }
            Layout::Whole(nodes) => nodes,
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(nodes.len());
        let end = usize::try_from(end).unwrap_or(usize::MAX).min(nodes.len());
        nodes.truncate(end);
        let mut page = nodes.split_off(start);
        texts.intern_nodes(&mut page);
        Ok(Some(page))
    }

    /// Reads the parts of a split report in order from wherever `reader` is, until at
    /// least `enough` nodes are in (`u64::MAX`: all of them, each checked to be there).
    async fn read_parts_from(
        &self,
        reader: &mut PartReader,
        enough: u64,
        texts: &mut TextInterner,
    ) -> Result<Vec<CisBenchmarkNode>, ElasticError> {
        let mut nodes = Vec::new();
        while let Some(part_nodes) = self.next_parts(reader, texts).await? {
            nodes.extend(part_nodes);
            if nodes.len() as u64 >= enough && !reader.done() {
                // Enough for the caller: the parts after these are not needed.
                break;
            }
        }
        Ok(nodes)
    }

    /// The nodes of the next page of parts, in order; `None` once every part is read
    /// (checked to be all of them).
    async fn next_parts(
        &self,
        reader: &mut PartReader,
        texts: &mut TextInterner,
    ) -> Result<Option<Vec<CisBenchmarkNode>>, ElasticError> {
        if reader.done() {
            return Ok(None);
        }
        let incomplete = |detail: String| ElasticError::IncompleteReport {
            id: reader.id.clone(),
            detail,
        };
        let after = reader.next.checked_sub(1);
        let _turn = self
            .part_reads
            .acquire()
            .await
            .map_err(|e| incomplete(format!("the store is shutting down: {e}")))?;
        let resp = self
            .send(&request::report_parts_page(
                &self.indices.read_patterns(REPORT_PARTS_INDEX),
                &reader.id,
                &reader.generation,
                after,
            ))
            .await?;
        let (hits, _) = response::parse_hits("read report parts", &resp.body)?;
        let count = hits.len();
        let mut nodes = Vec::new();
        for h in hits {
            let part: ReportPart = serde_json::from_str(h.source.get())
                .map_err(|e| incomplete(format!("part {} does not parse: {e}", h.id)))?;
            let bad = |e: String| incomplete(format!("part {} ({}): {e}", part.part, h.id));
            if part.part != reader.next
                || part.report_id != reader.id
                || part.generation != reader.generation
            {
                return Err(incomplete(format!(
                    "expected part {} of {}, found part {} ({})",
                    reader.next, reader.parts, part.part, h.id
                )));
            }
            // Texts are shared as each part arrives, so the copies never pile up.
            let part_nodes = match reader.layout {
                PartLayout::Compact => compact::decode(part.nodes.get(), texts).map_err(bad)?,
                PartLayout::Full => {
                    let mut nodes: Vec<CisBenchmarkNode> =
                        serde_json::from_str(part.nodes.get())
                            .map_err(|e| bad(format!("its nodes do not parse: {e}")))?;
                    texts.intern_nodes(&mut nodes);
                    nodes
                }
            };
            if let Some(counts) = &mut reader.counts {
                counts.push(part_nodes.len() as u64);
            }
            nodes.extend(part_nodes);
            reader.next += 1;
        }
        // A short page with parts still named: they are missing.
        if (count < request::PARTS_PAGE_SIZE || count == 0) && reader.next < reader.parts {
            return Err(incomplete(format!(
                "the head names {} parts of generation {}, {} were found",
                reader.parts, reader.generation, reader.next
            )));
        }
        if reader.done()
            && let Some(counts) = reader.counts.take()
        {
            self.part_starts
                .record(&reader.id, &reader.generation, &counts);
        }
        Ok(Some(nodes))
    }

    /// The newest copy of report `id`'s document: its parts marker and its JSON; `None`
    /// when no report has this id.
    async fn newest_document(
        &self,
        id: &str,
    ) -> Result<Option<(SplitMarker, String)>, ElasticError> {
        Ok(self
            .newest_copy_of(id)
            .await?
            .map(|(marker, _, source)| (marker, source)))
    }

    /// The newest copy of report `id`'s document, read by id: its parts marker, the index
    /// holding it and its JSON; `None` when no report has this id.
    async fn newest_copy_of(
        &self,
        id: &str,
    ) -> Result<Option<(SplitMarker, String, String)>, ElasticError> {
        let resp = self
            .send(&request::report_by_id(
                &self.indices.read_patterns(REPORT_INDEX),
                id,
            ))
            .await?;
        let (hits, _) = response::parse_hits("get report", &resp.body)?;
        Ok(newest_copy(id, &hits)?
            .map(|(marker, hit)| (marker, hit.index.clone(), hit.source.get().to_string())))
    }

    /// How report `id`'s nodes are stored, read with its newest document: the nodes
    /// themselves when they are in it, else a reader of its parts; `None` when no report
    /// has this id.
    async fn report_layout(&self, id: &str) -> Result<Option<Layout>, ElasticError> {
        #[derive(Deserialize)]
        struct Nodes {
            #[serde(rename = "cisBenchmark", default)]
            nodes: Vec<CisBenchmarkNode>,
        }
        let Some((marker, source)) = self.newest_document(id).await? else {
            return Ok(None);
        };
        Ok(Some(match (marker.parts, marker.generation) {
            (Some(parts), Some(generation)) => {
                let layout = PartLayout::of(id, marker.layout.as_deref())?;
                Layout::Split(PartReader::new(id, &generation, parts, layout))
            }
            _ => {
                let whole: Nodes =
                    serde_json::from_str(&source).map_err(|e| ElasticError::IncompleteReport {
                        id: id.to_string(),
                        detail: format!("the stored document does not parse: {e}"),
                    })?;
                Layout::Whole(whole.nodes)
            }
        }))
    }

    /// A cursor over the nodes of report `id` in report order ([`crate::NodeCursor`]):
    /// the report's document is read once, then a split report's parts a page at a
    /// time, so reading every node costs what reading the report once does.
    pub(crate) async fn open_nodes(&self, id: &str) -> Result<Option<ElasticNodes>, ElasticError> {
        let Some(layout) = self.report_layout(id).await? else {
            return Ok(None);
        };
        let mut texts = TextInterner::new();
        let (source, buffered) = match layout {
            Layout::Split(reader) => (NodeSource::Parts(reader), Vec::new()),
            Layout::Whole(mut nodes) => {
                texts.intern_nodes(&mut nodes);
                (NodeSource::Whole, nodes)
            }
        };
        Ok(Some(ElasticNodes {
            source,
            buffered: buffered.into(),
            texts,
        }))
    }

    /// Up to `limit` more nodes of `cursor`; empty at the end.
    pub(crate) async fn more_nodes(
        &self,
        cursor: &mut ElasticNodes,
        limit: usize,
    ) -> Result<Vec<CisBenchmarkNode>, ElasticError> {
        while cursor.buffered.len() < limit {
            let NodeSource::Parts(reader) = &mut cursor.source else {
                break;
            };
            match self.next_parts(reader, &mut cursor.texts).await? {
                Some(nodes) => cursor.buffered.extend(nodes),
                None => break,
            }
        }
        let n = limit.min(cursor.buffered.len());
        Ok(cursor.buffered.drain(..n).collect())
    }

    /// Everything of a report but its nodes ([`crate::Store::report_head`]): one search
    /// by id for the head fields; of several copies, the newest.
    pub async fn report_head(&self, id: &str) -> Result<Option<ReportHead>, ElasticError> {
        let resp = self
            .send(&request::report_head(
                &self.indices.read_patterns(REPORT_INDEX),
                id,
            ))
            .await?;
        let (hits, _) = response::parse_hits("get report head", &resp.body)?;
        let Some((_, hit)) = newest_copy(id, &hits)? else {
            return Ok(None);
        };
        head_of_hit(self.indices.cluster(), hit).map(Some)
    }

    /// The newest report of GlobalReport `name` ([`crate::Store::latest_report`]): a
    /// search for one hit.
    pub async fn latest_report(&self, name: &str) -> Result<Option<ReportHead>, ElasticError> {
        let resp = self
            .send(&request::latest_report(
                &self.indices.read_patterns(REPORT_INDEX),
                name,
            ))
            .await?;
        let (hits, _) = response::parse_hits("find the latest report", &resp.body)?;
        hits.first()
            .map(|h| head_of_hit(self.indices.cluster(), h))
            .transpose()
    }

    /// The node names of the newest report of `name` that ended by `end`
    /// ([`crate::Store::previous_report_nodes`]): one search for the report, its own
    /// nodes' names filtered from its `_source`; a split report's names then come from
    /// its parts, a hundred parts a request, each filtered to its names. A part missing
    /// or out of order is an error, never a shorter list.
    pub async fn previous_report_nodes(
        &self,
        name: &str,
        end: DateTime<Utc>,
    ) -> Result<Option<Vec<String>>, ElasticError> {
        let resp = self
            .send(&request::previous_report(
                &self.indices.read_patterns(REPORT_INDEX),
                name,
                &end,
            ))
            .await?;
        let (hits, _) = response::parse_hits("find the previous report", &resp.body)?;
        let Some(first) = hits.first() else {
            return Ok(None);
        };
        // The newest copy of the chosen id (a rollover may leave an older one behind).
        let id = first.id.clone();
        let copies: Vec<RawHit<'_>> = hits.into_iter().filter(|h| h.id == id).collect();
        let Some((marker, hit)) = newest_copy(&id, &copies)? else {
            return Ok(None);
        };
        let incomplete = |detail: String| ElasticError::IncompleteReport {
            id: id.clone(),
            detail,
        };
        let mut names = response::parse_node_names(hit.source.get())
            .map_err(|e| incomplete(format!("its node names do not parse: {e}")))?;
        if let (Some(parts), Some(generation)) = (marker.parts, &marker.generation) {
            names = self.part_node_names(&id, generation, parts).await?;
            if let Some(n) = marker.node_count
                && n != names.len() as u64
            {
                return Err(incomplete(format!(
                    "the head lists {n} nodes, its parts {}",
                    names.len()
                )));
            }
        }
        names.retain(|n| n != CLUSTER_SCOPE_NODE_NAME);
        Ok(Some(names))
    }

    /// The node names of a split report's `parts` parts of `generation`, in order.
    async fn part_node_names(
        &self,
        id: &str,
        generation: &str,
        parts: u64,
    ) -> Result<Vec<String>, ElasticError> {
        let incomplete = |detail: String| ElasticError::IncompleteReport {
            id: id.to_string(),
            detail,
        };
        let mut names = Vec::new();
        let mut next = 0u64;
        while next < parts {
            let resp = self
                .send(&request::report_part_names_page(
                    &self.indices.read_patterns(REPORT_PARTS_INDEX),
                    id,
                    generation,
                    next.checked_sub(1),
                ))
                .await?;
            let (hits, _) = response::parse_hits("read report node names", &resp.body)?;
            if hits.is_empty() {
                break;
            }
            for h in hits {
                let (part, part_names) = response::parse_part_names(h.source.get())
                    .map_err(|e| incomplete(format!("part {} does not parse: {e}", h.id)))?;
                if part != next {
                    return Err(incomplete(format!(
                        "expected part {next} of {parts}, found part {part} ({})",
                        h.id
                    )));
                }
                names.extend(part_names);
                next += 1;
            }
        }
        if next != parts {
            return Err(incomplete(format!(
                "the head names {parts} parts of generation {generation}, {next} were found"
            )));
        }
        Ok(names)
    }

    /// One page of the reports matching `query` ([`crate::Store::list_reports`]): one
    /// search with `from`/`size`, sorted and counted by the cluster.
    ///
    /// Elasticsearch serves `from + size` up to [`RESULT_WINDOW`] (its default
    /// `index.max_result_window`); a page beyond that is refused here with
    /// [`ElasticError::ResultWindow`] before anything is sent. A head that does not parse
    /// is left out of the page with a warning (the total still counts it).
    pub async fn list_reports(&self, query: &ReportQuery) -> Result<ReportPage, ElasticError> {
        let from = query
            .offset()
            .filter(|from| from.saturating_add(query.max_items) <= RESULT_WINDOW)
            .ok_or(ElasticError::ResultWindow {
                page: query.page,
                max_items: query.max_items,
                window: RESULT_WINDOW,
            })?;
        let resp = self
            .send(&request::list_reports(
                &self.indices.read_patterns(REPORT_INDEX),
                query,
                from,
            ))
            .await?;
        let (hits, total) = response::parse_counted_hits("list reports", &resp.body)?;
        let cluster = self.indices.cluster();
        let reports = hits
            .iter()
            .filter_map(|h| parsed_or_warned(cluster, h))
            .collect();
        Ok(ReportPage { reports, total })
    }

    /// Every report, each id once (its newest copy), newest window first
    /// ([`crate::Store::all_reports`]): pages of heads under a point in time.
    pub async fn all_reports(&self) -> Result<Vec<ReportHead>, ElasticError> {
        if self.owned(REPORT_INDEX).await?.is_empty() {
            return Ok(Vec::new());
        }
        let mut pit = self
            .open_pit(REPORT_INDEX, request::LIST_PIT_KEEP_ALIVE)
            .await?;
        let result = self.all_report_pages(&mut pit).await;
        self.close_pit(&pit).await;
        Ok(keep_newest_copies(result?))
    }

    async fn all_report_pages(&self, pit: &mut String) -> Result<Vec<ReportHead>, ElasticError> {
        let mut out = Vec::new();
        let mut after: Option<Vec<Value>> = None;
        loop {
            let resp = self
                .send(&request::all_reports_page(pit, after.as_deref()))
                .await?;
            let (hits, pit_id) = response::parse_hits("list reports", &resp.body)?;
            if let Some(p) = pit_id {
                *pit = p;
            }
            out.extend(
                hits.iter()
                    .filter_map(|h| parsed_or_warned(self.indices.cluster(), h)),
            );
            if hits.len() < request::LIST_PAGE_SIZE {
                break;
            }
            after = hits.last().map(|h| h.sort.clone());
        }
        Ok(out)
    }
}

/// The parts of one split report on their way out.
struct PartsOut<'a> {
    report: &'a ReportDocument,
    generation: &'a str,
    index: String,
    request_limit: usize,
    batch: BulkBatch,
    /// Parts added so far; the next part's number.
    parts: u64,
}

/// The newest copy of report `id` among `hits`, as an error the caller can return.
fn newest_copy<'h, 'a>(
    id: &str,
    hits: &'h [RawHit<'a>],
) -> Result<Option<(SplitMarker, &'h RawHit<'a>)>, ElasticError> {
    response::newest_copy(id, hits).map_err(|detail| ElasticError::IncompleteReport {
        id: id.to_string(),
        detail,
    })
}

/// A hit's head, or the error that its stored head does not parse. `cluster` stands in
/// for a head without one (see [`response::parse_head`]).
fn head_of_hit(cluster: &str, hit: &RawHit<'_>) -> Result<ReportHead, ElasticError> {
    response::parse_head(&hit.id, cluster, hit.source.get())
        .map(|(head, _)| head)
        .map_err(|e| ElasticError::IncompleteReport {
            id: hit.id.clone(),
            detail: format!("the stored head in {} does not parse: {e}", hit.index),
        })
}

/// A list entry, or `None` after a warning: one damaged document does not hide the rest.
fn parsed_or_warned(cluster: &str, hit: &RawHit<'_>) -> Option<ReportHead> {
    match response::parse_head(&hit.id, cluster, hit.source.get()) {
        Ok((head, _)) => Some(head),
        Err(e) => {
            tracing::warn!(index = %hit.index, id = %hit.id, "skipped a report that does not parse: {e}");
            None
        }
    }
}

/// One head per id, the copy with the latest `generated_time` (a report id found in two
/// indices), in the default list order.
fn keep_newest_copies(heads: Vec<ReportHead>) -> Vec<ReportHead> {
    let mut by_id: HashMap<String, ReportHead> = HashMap::new();
    for head in heads {
        match by_id.get(&head.id) {
            Some(kept) if kept.generated_time >= head.generated_time => {}
            _ => {
                by_id.insert(head.id.clone(), head);
            }
        }
    }
    let order = ReportQuery::default();
    let mut out: Vec<ReportHead> = by_id.into_values().collect();
    out.sort_by(|a, b| order.compare(a, b));
    out
}

/// Part `part` of a split report: its `_id` and document, the compact payload spliced
/// in as it is, under `cisBenchmark`.
///
/// Why under `cisBenchmark`, where the full layout has its array of nodes: every parts
/// index this store ever created maps that key `enabled: false`, so the payload is
/// stored and never indexed even in an index created before the compact layout. A new
/// key would be mapped dynamically there, and refused (the payload's arrays mix types).
fn part_document(
    report: &ReportDocument,
    generation: &str,
    part: u64,
    payload: &[u8],
) -> Result<(String, Vec<u8>), ElasticError> {
    let head = serde_json::json!({ "reportId": report.id, "generation": generation, "part": part });
    let mut doc = serde_json::to_vec(&head).map_err(|e| encode_error("part", report, e))?;
    doc.pop(); // the closing brace: the payload follows
    doc.extend_from_slice(b",\"cisBenchmark\":");
    doc.extend_from_slice(payload);
    doc.push(b'}');
    Ok((format!("{}~{generation}~{part}", report.id), doc))
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
        provenance: r.provenance.clone(),
        waivers: r.waivers.clone(),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use compliance_core::model::{
        CisBenchmarkSummary, GlobalReportSpec, GlobalReportTypeSpec, time,
    };

    #[test]
    fn a_report_is_one_document_up_to_8_mib_and_never_over_the_request_limit() {
        assert_eq!(SINGLE_DOCUMENT_BYTES, 8 << 20);
        assert_eq!(single_document_limit(50 << 20), 8 << 20);
        assert_eq!(single_document_limit(8 << 20), 8 << 20);
        assert_eq!(single_document_limit(1 << 20), 1 << 20);
    }

    #[test]
    fn a_head_without_a_layout_has_parts_of_whole_nodes() {
        assert_eq!(PartLayout::of("r", None).unwrap(), PartLayout::Full);
        assert_eq!(
            PartLayout::of("r", Some("compact")).unwrap(),
            PartLayout::Compact
        );
        let e = PartLayout::of("r", Some("Compact"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cisBenchmarkLayout \"Compact\""), "{e}");
    }

    #[test]
    fn the_compact_payload_is_under_a_key_the_parts_template_leaves_unindexed() {
        let report = ReportDocument {
            cis_benchmark: Vec::new(),
            ..compliance_testkit::reports::fixture_report(
                time::parse("2026-11-26T00:00:00Z").unwrap(),
            )
        };
        let (id, doc) = part_document(&report, "g", 3, br#"{"texts":[]}"#).unwrap();
        assert_eq!(id, format!("{}~g~3", report.id));
        let doc: Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({"reportId": report.id, "generation": "g", "part": 3,
                               "cisBenchmark": {"texts": []}})
        );
        let template =
            super::super::templates::report_parts(&super::request::Indices::new("cluster"));
        let mapped = &template.body["template"]["mappings"]["properties"]["cisBenchmark"];
        assert_eq!(mapped["enabled"], false);
    }

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

    fn head(id: &str, end: &str, generated: &str) -> ReportHead {
        let t = |s: &str| time::parse(s).unwrap();
        ReportHead {
            id: id.into(),
            report_name: "daily".into(),
            report_type_name: "cis-benchmark".into(),
            report_spec: GlobalReportSpec::default(),
            report_type_spec: GlobalReportTypeSpec::default(),
            start_time: t(end),
            end_time: t(end),
            generation_time: t(generated),
            generated_time: t(generated),
            summary: CisBenchmarkSummary {
                kind: "kube".into(),
                high_count: 0,
                med_count: 0,
                low_count: 0,
                no_results_count: 0,
                waived_count: 0,
                without_waivers: None,
            },
            ui_summary: "{}".into(),
            cluster: "cluster".into(),
            node_count: 0,
            provenance: None,
            waivers: Vec::new(),
        }
    }

    #[test]
    fn a_report_in_two_indices_is_listed_once_as_its_newest_copy() {
        let heads = vec![
            head("old", "2026-11-25T00:00:00Z", "2026-11-25T00:30:00Z"),
            head("twice", "2026-11-26T00:00:00Z", "2026-11-26T00:30:00Z"),
            head("twice", "2026-11-26T00:00:00Z", "2026-11-26T05:00:00Z"),
            head("twice", "2026-11-26T00:00:00Z", "2026-11-26T01:00:00Z"),
        ];
        let kept = keep_newest_copies(heads);
        let ids: Vec<(&str, String)> = kept
            .iter()
            .map(|h| (h.id.as_str(), time::format(&h.generated_time)))
            .collect();
        assert_eq!(
            ids,
            [
                ("twice", "2026-11-26T05:00:00Z".to_string()),
                ("old", "2026-11-25T00:30:00Z".to_string())
            ]
        );
    }
}

/// How a split report's parts hold their nodes: what its head's `cisBenchmarkLayout`
/// says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartLayout {
    /// No `cisBenchmarkLayout`: each part's `cisBenchmark` is an array of whole nodes,
    /// as every split report was stored before the compact layout.
    Full,
    /// `"compact"`: each part's `cisBenchmark` is a [`compact`] payload.
    Compact,
}

impl PartLayout {
    /// The layout a head names; a layout this version does not know is an error, never
    /// a report read wrong.
    fn of(id: &str, named: Option<&str>) -> Result<PartLayout, ElasticError> {
        match named {
            None => Ok(PartLayout::Full),
            Some(compact::LAYOUT) => Ok(PartLayout::Compact),
            Some(other) => Err(ElasticError::IncompleteReport {
                id: id.to_string(),
                detail: format!(
                    "its head names cisBenchmarkLayout {other:?}, which this version cannot read"
                ),
            }),
        }
    }
}

/// Where a split report's parts have been read up to.
#[derive(Debug)]
pub(crate) struct PartReader {
    id: String,
    generation: String,
    parts: u64,
    layout: PartLayout,
    /// The next part expected.
    next: u64,
    /// Nodes in each part read so far, when reading from the first part: recorded as
    /// [`PartStarts`] once every part is read.
    counts: Option<Vec<u64>>,
}

impl PartReader {
    fn new(id: &str, generation: &str, parts: u64, layout: PartLayout) -> PartReader {
        PartReader {
            id: id.to_string(),
            generation: generation.to_string(),
            parts,
            layout,
            next: 0,
            counts: Some(Vec::new()),
        }
    }

    fn done(&self) -> bool {
        self.next >= self.parts
    }
}

/// How a report's nodes are stored ([`ElasticStore::report_layout`]).
enum Layout {
    /// In the report's document: here they are.
    Whole(Vec<CisBenchmarkNode>),
    /// In parts, still to read.
    Split(PartReader),
}

/// What the nodes of an open report come from.
#[derive(Debug)]
pub(crate) enum NodeSource {
    /// A report stored as one document: its nodes were all read on opening.
    Whole,
    /// A split report: parts still to read.
    Parts(PartReader),
}

/// An open report's nodes, read in order ([`ElasticStore::open_nodes`]).
#[derive(Debug)]
pub(crate) struct ElasticNodes {
    source: NodeSource,
    buffered: std::collections::VecDeque<CisBenchmarkNode>,
    texts: TextInterner,
}

/// Split reports kept in [`PartStarts`]: enough for the reports a server has open.
const PART_STARTS_KEPT: usize = 64;

/// Where each part of a split report starts, for the reports read whole recently.
///
/// A part holds as many nodes as fit its bytes, so the part holding node 5,000 is only
/// known by reading the parts before it. Once a report has been read whole (the server
/// does so to index it), its boundaries are kept here, keyed by report id and generation
/// (a re-stored report has a new generation), and a page of nodes reads only the parts
/// that hold it: a node page of a 10,000-node report costs one part, not half the report.
#[derive(Debug, Default)]
pub(crate) struct PartStarts {
    known: std::sync::Mutex<HashMap<(String, String), Vec<u64>>>,
}

impl PartStarts {
    /// Records the node counts of every part of report `id`'s `generation`, in order.
    fn record(&self, id: &str, generation: &str, counts: &[u64]) {
        let mut starts = Vec::with_capacity(counts.len());
        let mut first = 0u64;
        for c in counts {
            starts.push(first);
            first += c;
        }
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= PART_STARTS_KEPT {
            known.clear();
        }
        known.insert((id.to_string(), generation.to_string()), starts);
    }

    /// The part holding node `position` of report `id`'s `generation`, and that part's
    /// first position; `None` when the boundaries are unknown.
    fn find(&self, id: &str, generation: &str, position: u64) -> Option<(u64, u64)> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let starts = known.get(&(id.to_string(), generation.to_string()))?;
        let part = starts.partition_point(|&s| s <= position).checked_sub(1)?;
        Some((part as u64, starts[part]))
    }
}

#[cfg(test)]
mod part_starts_tests {
    use super::*;

    #[test]
    fn a_position_is_found_in_the_part_that_holds_it() {
        let p = PartStarts::default();
        assert_eq!(p.find("r", "g1", 0), None);
        p.record("r", "g1", &[3, 2, 4]);
        assert_eq!(p.find("r", "g1", 0), Some((0, 0)));
        assert_eq!(p.find("r", "g1", 2), Some((0, 0)));
        assert_eq!(p.find("r", "g1", 3), Some((1, 3)));
        assert_eq!(p.find("r", "g1", 5), Some((2, 5)));
        // Beyond the last node: the last part, which reads as an empty page.
        assert_eq!(p.find("r", "g1", 99), Some((2, 5)));
        assert_eq!(
            p.find("r", "g2", 3),
            None,
            "another generation is another layout"
        );
    }
}
