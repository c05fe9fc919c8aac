//! `_bulk` writes: batches that remember where each item is, so that the items a busy
//! cluster rejected can be sent again alone.

use bytes::Bytes;

use super::{ElasticError, ElasticStore, request, response, retry};

/// A `_bulk` body under construction, remembering where each item's lines are so that
/// rejected items can be sent again alone.
#[derive(Default)]
pub(super) struct BulkBatch {
    body: Vec<u8>,
    items: Vec<(usize, usize)>,
}

impl BulkBatch {
    pub(super) fn push(&mut self, index: &str, id: &str, source: &[u8]) {
        let start = self.body.len();
        request::push_bulk_index(&mut self.body, index, id, source);
        self.items.push((start, self.body.len()));
    }

    pub(super) fn len(&self) -> usize {
        self.body.len()
    }

    pub(super) fn is_empty(&self) -> bool {
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

impl ElasticStore {
    /// Sends one bulk batch; items rejected as busy (429, 502–504) are sent again with backoff,
    /// any other failed item fails the write with the list of failures.
    pub(super) async fn flush_bulk(
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
            let resp = self.send(&request::bulk(op, body, refresh)).await?;
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
            tokio::time::sleep(delays[attempt as usize]).await;
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
}
