//! Deleting one report from Elasticsearch: every copy of its document (one per index
//! holding it, after rollovers), then its parts.
//!
//! Elasticsearch has no transaction over several documents, so the order is what keeps a
//! report whole for readers: every read starts from the report's document, so once the
//! copies are gone the report is gone, and parts left behind by a failure after that are
//! never read (the same as the leftovers of a re-stored report).

use super::request::{self, PartsToDelete, REPORT_INDEX, REPORT_PARTS_INDEX};
use super::{ElasticError, ElasticStore, response};

impl ElasticStore {
    /// Deletes report `id` ([`crate::Store::delete_report`]): `false` when no index
    /// holds it. A failure before the last copy is deleted leaves the report readable
    /// (the newest remaining copy); a failure deleting its parts is an error too, the
    /// report being gone already.
    pub async fn delete_report(&self, id: &str) -> Result<bool, ElasticError> {
        let found = self
            .send(&request::report_copies(
                &self.indices.read_patterns(REPORT_INDEX),
                id,
            ))
            .await?;
        let mut indices: Vec<String> = response::parse_hits("find report copies", &found.body)?
            .0
            .iter()
            .map(|h| h.index.to_string())
            .collect();
        if indices.is_empty() {
            return Ok(false);
        }
        // The oldest index first, the newest copy (the one readers take) last.
        indices.sort();
        for index in &indices {
            self.send(&request::delete_document("delete a report", index, id))
                .await?;
        }
        self.send(&request::delete_parts(
            &self.indices.read_patterns(REPORT_PARTS_INDEX),
            id,
            PartsToDelete::All,
        ))
        .await?;
        Ok(true)
    }
}
