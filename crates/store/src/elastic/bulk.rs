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
        let mut attempts = 1u32;
        let mut stored = 0u64;
        let mut delays = retry::delays(self.transport.retry_delay(), self.transport.retries());
        let started = std::time::Instant::now();
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
            stored += (pending.len() - outcome.failures.len()) as u64;
            let (busy, refused): (Vec<_>, Vec<_>) =
                outcome.failures.into_iter().partition(|f| f.is_retryable());
            failures.extend(refused);
            if busy.is_empty() {
                break;
            }
            let decision = self.transport.decide(true, delays.next(), started);
            let retry::RetryDecision::RetryAfter(wait) = decision else {
                self.transport.record_retrying(started);
                failures.extend(busy);
                let last = ElasticError::Bulk {
                    stored: stored_before + stored,
                    total: stored_before + total,
                    failures,
                };
                return Err(self.transport.given_up(decision, op, attempts, last));
            };
            tracing::warn!(
                documents = busy.len(),
                "Elasticsearch was busy (429, 502-504); sending those documents again"
            );
            tokio::time::sleep(wait).await;
            attempts += 1;
            pending = busy.iter().map(|f| pending[f.position]).collect();
        }
        if attempts > 1 {
            self.transport.record_retrying(started);
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
