//! The notification ledger in Elasticsearch: one document per (receiver, GlobalReport)
//! in the plain index `tigera_secure_ee_compliance_notifications.<cluster>`, created by
//! the first write (a few documents: no rollover, no lifecycle policy). The requests are
//! in `docs/elasticsearch.md`.

use serde::Deserialize;

use super::ElasticStore;
use super::error::ElasticError;
use super::request::{Body, EsRequest, Method, encode_segment};
use super::response::ParseError;
use crate::notifications::LedgerEntry;

/// Base name of the ledger index (our addition; Calico has none).
pub const NOTIFICATIONS_INDEX: &str = "tigera_secure_ee_compliance_notifications";

/// The document id of a key: receiver names hold no `.`, so `<receiver>.<report name>`
/// is unambiguous.
pub fn ledger_id(receiver: &str, report_name: &str) -> String {
    format!("{receiver}.{report_name}")
}

/// `GET /<index>/_doc/<id>`: the entry, or 404 when it (or the index) does not exist.
pub fn get_ledger(index: &str, id: &str) -> EsRequest {
    EsRequest {
        op: "read the notification ledger",
        method: Method::Get,
        path: format!("/{index}/_doc/{}", encode_segment(id)),
        query: Vec::new(),
        body: Body::None,
    }
}

/// `PUT /<index>/_doc/<id>?refresh=wait_for`: records a delivery.
pub fn put_ledger(index: &str, id: &str, entry: &LedgerEntry) -> EsRequest {
    EsRequest {
        op: "record a notification",
        method: Method::Put,
        path: format!("/{index}/_doc/{}", encode_segment(id)),
        query: vec![("refresh", "wait_for".to_string())],
        body: Body::Json(
            serde_json::to_vec(entry)
                .expect("a ledger entry always serializes")
                .into(),
        ),
    }
}

#[derive(Deserialize)]
struct GetResponse {
    found: bool,
    #[serde(rename = "_source")]
    source: Option<LedgerEntry>,
}

impl ElasticStore {
    fn ledger_index(&self) -> String {
        self.indices.managed_name(NOTIFICATIONS_INDEX)
    }

    pub(crate) async fn notification_ledger(
        &self,
        receiver: &str,
        report_name: &str,
    ) -> Result<Option<LedgerEntry>, ElasticError> {
        let req = get_ledger(&self.ledger_index(), &ledger_id(receiver, report_name));
        let resp = self.transport.send_accepting(&req, &[404]).await?;
        if resp.status == 404 {
            return Ok(None);
        }
        let parsed: GetResponse = serde_json::from_slice(&resp.body).map_err(|e| ParseError {
            op: req.op,
            detail: e.to_string(),
        })?;
        Ok(if parsed.found { parsed.source } else { None })
    }

    pub(crate) async fn record_notification(
        &self,
        entry: &LedgerEntry,
    ) -> Result<(), ElasticError> {
        let req = put_ledger(
            &self.ledger_index(),
            &ledger_id(&entry.receiver, &entry.report_name),
            entry,
        );
        self.send(&req).await?;
        Ok(())
    }
}
