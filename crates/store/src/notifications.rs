//! The notification ledger: per (receiver, GlobalReport), what was last delivered.
//!
//! The reporter records an entry after a receiver accepted a notification, and skips a
//! receiver whose entry already holds the notification's fingerprint: a Job retried after
//! a crash, or a window run again, sends nothing twice. Only the last delivery per key is
//! kept; it is tiny (one row or document per receiver and GlobalReport) and nothing
//! prunes it. SQLite keeps it in the table `notification_ledger` (schema version 4),
//! Elasticsearch in the index `tigera_secure_ee_compliance_notifications.<cluster>`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Backend, BlockingStore, Store, StoreError};

/// What was last delivered to one receiver about one GlobalReport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub receiver: String,
    #[serde(rename = "reportName")]
    pub report_name: String,
    /// The delivered notification's fingerprint (`sha256:` and 64 hex digits).
    pub fingerprint: String,
    /// The report the notification was about.
    #[serde(rename = "reportId")]
    pub report_id: String,
    #[serde(rename = "deliveredAt", with = "compliance_core::time::seconds")]
    pub delivered_at: DateTime<Utc>,
}

impl Store {
    /// The ledger entry of (`receiver`, `report_name`), or `None` when nothing was
    /// delivered to it yet.
    pub async fn notification_ledger(
        &self,
        receiver: &str,
        report_name: &str,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.notification_ledger(receiver, report_name).await,
            Backend::Elastic(es) => Ok(es.notification_ledger(receiver, report_name).await?),
        }
    }

    /// Records a delivery, replacing the key's earlier entry.
    pub async fn record_notification(&self, entry: &LedgerEntry) -> Result<(), StoreError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.record_notification(entry),
            Backend::Elastic(es) => Ok(es.record_notification(entry).await?),
        }
    }
}

impl BlockingStore {
    /// [`Store::notification_ledger`].
    pub fn notification_ledger(
        &self,
        receiver: &str,
        report_name: &str,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        self.block_on(self.store().notification_ledger(receiver, report_name))
    }

    /// [`Store::record_notification`].
    pub fn record_notification(&self, entry: &LedgerEntry) -> Result<(), StoreError> {
        self.block_on(self.store().record_notification(entry))
    }
}
