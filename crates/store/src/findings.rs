//! Findings over time from stored reports: a report's [`ReportFindings`] and the
//! [`Lifecycle`] of a GlobalReport's findings, read a page of nodes at a time so that no
//! whole report is held.

use chrono::{DateTime, Utc};
use compliance_core::report::{
    FindingsBuilder, Lifecycle, ReportFindings, ReportRef, not_observed_as_of,
};

use crate::query::{ReportHead, ReportQuery, SortField, SortKey};
use crate::{BlockingStore, Store, StoreError};

/// Nodes read per page while indexing a report: enough to keep requests few, small
/// enough that a page of a 10,000-node report is a few megabytes.
pub const FINDINGS_PAGE: u64 = 500;

/// Reports a lifecycle reads when not told otherwise: a month of daily reports.
pub const DEFAULT_LIFECYCLE_REPORTS: u64 = 30;

impl ReportHead {
    /// What names this report in a diff or a lifecycle.
    pub fn report_ref(&self) -> ReportRef {
        ReportRef {
            id: self.id.clone(),
            report_name: self.report_name.clone(),
            start_time: self.start_time,
            end_time: self.end_time,
            generation_time: self.generation_time,
        }
    }
}

impl Store {
    /// The findings of report `id`, or `None` when no report has this id. Its nodes are
    /// read [`FINDINGS_PAGE`] at a time and reduced as they come.
    pub async fn report_findings(&self, id: &str) -> Result<Option<ReportFindings>, StoreError> {
        let Some(head) = self.report_head(id).await? else {
            return Ok(None);
        };
        self.findings_of(&head).await.map(Some)
    }

    async fn findings_of(&self, head: &ReportHead) -> Result<ReportFindings, StoreError> {
        let not_observed = not_observed_as_of(head.provenance.as_ref(), &head.report_spec);
        let mut builder = FindingsBuilder::new(head.report_ref(), not_observed);
        let mut cursor = self.nodes(&head.id).await?;
        loop {
            let page = cursor.next(FINDINGS_PAGE).await?;
            if page.is_empty() {
                break;
            }
            for node in &page {
                builder.add_node(node);
            }
        }
        Ok(builder.finish())
    }

    /// The heads of the latest `limit` reports of GlobalReport `report_name`, oldest
    /// first. Of reports with the same endTime (a window re-run with another start), the
    /// one generated last stands for it.
    pub async fn report_series(
        &self,
        report_name: &str,
        limit: u64,
    ) -> Result<Vec<ReportHead>, StoreError> {
        let query = ReportQuery {
            report_names: vec![report_name.to_string()],
            sort: latest_first(),
            max_items: limit,
            ..ReportQuery::default()
        };
        let mut heads = self.list_reports(&query).await?.reports;
        heads.dedup_by_key(|h| h.end_time);
        heads.reverse();
        Ok(heads)
    }

    /// The report of GlobalReport `report_name` that ended last before `end`: what a
    /// report is compared with to find what is new in it. `None` when there is none.
    pub async fn previous_report(
        &self,
        report_name: &str,
        end: DateTime<Utc>,
    ) -> Result<Option<ReportHead>, StoreError> {
        // A report touching `[.., end)` has its start before `end`; the filter keeps those
        // and the order puts the latest end first. Reports ending at or after `end` (the
        // report itself, later ones) are skipped; a page holds enough of them unless
        // dozens of windows overlap this one.
        let query = ReportQuery {
            report_names: vec![report_name.to_string()],
            to: Some(end),
            sort: latest_first(),
            max_items: 64,
            ..ReportQuery::default()
        };
        Ok(self
            .list_reports(&query)
            .await?
            .reports
            .into_iter()
            .find(|h| h.end_time < end))
    }

    /// The lifecycle of the findings of GlobalReport `report_name` over its latest
    /// `limit` reports ([`Store::report_series`]), read one report after the other,
    /// oldest first. No report: an empty lifecycle.
    pub async fn lifecycle(&self, report_name: &str, limit: u64) -> Result<Lifecycle, StoreError> {
        let mut lifecycle = Lifecycle::new();
        for head in self.report_series(report_name, limit).await? {
            let findings = self.findings_of(&head).await?;
            lifecycle
                .observe(&findings)
                .map_err(|e| StoreError::Query(e.to_string()))?;
        }
        Ok(lifecycle)
    }
}

impl BlockingStore {
    /// [`Store::report_findings`].
    pub fn report_findings(&self, id: &str) -> Result<Option<ReportFindings>, StoreError> {
        self.block_on(self.store().report_findings(id))
    }

    /// [`Store::report_series`].
    pub fn report_series(
        &self,
        report_name: &str,
        limit: u64,
    ) -> Result<Vec<ReportHead>, StoreError> {
        self.block_on(self.store().report_series(report_name, limit))
    }

    /// [`Store::previous_report`].
    pub fn previous_report(
        &self,
        report_name: &str,
        end: DateTime<Utc>,
    ) -> Result<Option<ReportHead>, StoreError> {
        self.block_on(self.store().previous_report(report_name, end))
    }

    /// [`Store::lifecycle`].
    pub fn lifecycle(&self, report_name: &str, limit: u64) -> Result<Lifecycle, StoreError> {
        self.block_on(self.store().lifecycle(report_name, limit))
    }
}

/// Latest `endTime` first, and of reports with the same end, the one generated last.
fn latest_first() -> Vec<SortKey> {
    vec![
        SortKey {
            field: SortField::EndTime,
            descending: true,
        },
        SortKey {
            field: SortField::GenerationTime,
            descending: true,
        },
    ]
}
