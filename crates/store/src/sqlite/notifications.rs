//! The notification ledger in SQLite: the table `notification_ledger` (schema version 4).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, sql_error};
use crate::StoreError;
use crate::notifications::LedgerEntry;

impl SqliteStore {
    pub(crate) async fn notification_ledger(
        &self,
        receiver: &str,
        report_name: &str,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let (receiver, report_name) = (receiver.to_string(), report_name.to_string());
        self.read(move |conn, path| {
            conn.query_row(
                "SELECT fingerprint, report_id, delivered_at FROM notification_ledger \
                 WHERE receiver = ?1 AND report_name = ?2",
                params![receiver, report_name],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| sql_error(path, e))
            .map(|row| {
                row.map(|(fingerprint, report_id, at)| LedgerEntry {
                    receiver,
                    report_name,
                    fingerprint,
                    report_id,
                    delivered_at: DateTime::<Utc>::from_timestamp_nanos(at),
                })
            })
        })
        .await
    }

    pub(crate) fn record_notification(&self, entry: &LedgerEntry) -> Result<(), StoreError> {
        let at = entry.delivered_at.timestamp_nanos_opt().ok_or_else(|| {
            StoreError::Query(format!(
                "delivery time {} is outside what the ledger stores",
                entry.delivered_at
            ))
        })?;
        self.writer()
            .execute(
                "INSERT INTO notification_ledger \
                 (receiver, report_name, fingerprint, report_id, delivered_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (receiver, report_name) DO UPDATE SET \
                 fingerprint = excluded.fingerprint, report_id = excluded.report_id, \
                 delivered_at = excluded.delivered_at",
                params![
                    entry.receiver,
                    entry.report_name,
                    entry.fingerprint,
                    entry.report_id,
                    at
                ],
            )
            .map_err(|e| sql_error(self.path(), e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::OpenMode;

    fn entry(receiver: &str, fingerprint: &str) -> LedgerEntry {
        LedgerEntry {
            receiver: receiver.into(),
            report_name: "daily".into(),
            fingerprint: fingerprint.into(),
            report_id: "daily_cis-benchmark_x".into(),
            delivered_at: compliance_core::time::parse("2026-11-26T00:31:00Z").unwrap(),
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn the_ledger_keeps_the_last_delivery_per_receiver_and_report() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path().join("c.db"), OpenMode::Create).unwrap();
        assert_eq!(
            block_on(store.notification_ledger("slack", "daily")).unwrap(),
            None
        );
        store
            .record_notification(&entry("slack", "sha256:1"))
            .unwrap();
        store
            .record_notification(&entry("slack", "sha256:2"))
            .unwrap();
        store
            .record_notification(&entry("siem", "sha256:1"))
            .unwrap();
        assert_eq!(
            block_on(store.notification_ledger("slack", "daily")).unwrap(),
            Some(entry("slack", "sha256:2"))
        );
        assert_eq!(
            block_on(store.notification_ledger("siem", "daily")).unwrap(),
            Some(entry("siem", "sha256:1"))
        );
        assert_eq!(
            block_on(store.notification_ledger("slack", "weekly")).unwrap(),
            None
        );
    }

    /// A version-3 file (what the release before the ledger wrote) gets the table when
    /// opened, and keeps what it held.
    #[test]
    fn a_version_3_file_is_migrated_to_the_ledger() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("v3.db");
        drop(SqliteStore::open(&path, OpenMode::Create).unwrap());
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch("DROP TABLE notification_ledger; PRAGMA user_version = 3;")
                .unwrap();
        }
        let store = SqliteStore::open(&path, OpenMode::Existing).unwrap();
        store
            .record_notification(&entry("slack", "sha256:1"))
            .unwrap();
        let c = rusqlite::Connection::open(&path).unwrap();
        let v: i32 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 4);
    }
}
