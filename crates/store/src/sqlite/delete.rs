//! Deleting one report from SQLite: its row of `reports` and every row of `report_nodes`
//! (each node's results blob with it), in one transaction.

use rusqlite::{OptionalExtension, TransactionBehavior};

use super::{SqliteStore, sql_error};
use crate::StoreError;

impl SqliteStore {
    /// Deletes report `id` and its nodes in one IMMEDIATE transaction: all of it or, on
    /// any failure, nothing. `false` when no report has this id.
    ///
    /// Runs on the calling thread, holding the write connection.
    pub fn delete_report(&self, id: &str) -> Result<bool, StoreError> {
        let path = self.path();
        let err = |e| sql_error(path, e);
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let key: Option<i64> = tx
            .query_row("SELECT report_key FROM reports WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?;
        let Some(key) = key else {
            return Ok(false);
        };
        tx.execute("DELETE FROM report_nodes WHERE report_key = ?1", [key])
            .map_err(err)?;
        tx.execute("DELETE FROM reports WHERE report_key = ?1", [key])
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(true)
    }
}
