//! Findings over time: what changed between two reports of a GlobalReport, and how long
//! each finding (node × test) has failed.
//!
//! Both come from the pure core (`compliance_core::report::{diff, Lifecycle}`) over a
//! compact index of each report ([`ReportFindings`]: node ratings and failures, no test
//! results), built from the store a page of nodes at a time and never from raw benchmark
//! documents. A report's index is kept with its other indexes ([`crate::index`]); a
//! GlobalReport's lifecycle is kept here for the most recently used GlobalReports, keyed
//! by the reports it was built from, so a node page of a 10,000-node report reads it
//! from memory and a newly stored (or re-stored, or pruned) report rebuilds it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use compliance_core::report::{Lifecycle, ReportDiff, ReportFindings, diff};
use compliance_store::{ReportHead, ReportQuery, SortField, SortKey, Store};

use crate::ApiError;
use crate::recent::Recent;

/// GlobalReports whose lifecycle is kept: the most recently used ones.
pub const CACHED_LIFECYCLES: usize = 4;

/// The most reports a lifecycle may be asked to span (`reports=`): a year of dailies.
pub const MAX_LIFECYCLE_REPORTS: u64 = 366;

/// Report heads read per store call when listing a GlobalReport's reports.
const HEADS_PAGE: u64 = 500;

/// Every report of GlobalReport `name` in `store`, oldest `endTime` first (ties by id).
pub async fn heads_of(store: &Store, name: &str) -> Result<Vec<ReportHead>, ApiError> {
    let mut out: Vec<ReportHead> = Vec::new();
    let mut page = 0;
    loop {
        let query = ReportQuery {
            report_names: vec![name.to_string()],
            sort: vec![SortKey::ascending(SortField::EndTime)],
            page,
            max_items: HEADS_PAGE,
            ..ReportQuery::default()
        };
        let got = store.list_reports(&query).await?;
        let n = got.reports.len() as u64;
        out.extend(got.reports);
        if n < HEADS_PAGE || out.len() as u64 >= got.total {
            break;
        }
        page += 1;
    }
    out.sort_by(|a, b| a.end_time.cmp(&b.end_time).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// The report of `heads` (one GlobalReport's) just before `head`: the latest whose
/// `endTime` is earlier than `head`'s. `None` for the first report.
pub fn previous<'a>(heads: &'a [ReportHead], head: &ReportHead) -> Option<&'a ReportHead> {
    heads
        .iter()
        .filter(|h| h.end_time < head.end_time && h.id != head.id)
        .max_by(|a, b| a.end_time.cmp(&b.end_time).then_with(|| a.id.cmp(&b.id)))
}

/// Checks that `other` (named by `against`) can be compared with `head`: a report of the
/// same GlobalReport, other than `head` itself. 400 naming `against` otherwise.
pub fn check_against(head: &ReportHead, other: &ReportHead) -> Result<(), ApiError> {
    if other.report_name != head.report_name {
        return Err(ApiError::bad(
            "against",
            &other.id,
            format!(
                "is a report of GlobalReport {:?}, not of {:?}: only reports of one GlobalReport are compared",
                other.report_name, head.report_name
            ),
        ));
    }
    if other.id == head.id {
        return Err(ApiError::bad(
            "against",
            &other.id,
            "is the report itself: name another report of the same GlobalReport",
        ));
    }
    Ok(())
}

/// The diff from the older of two reports to the newer (by `endTime`): the JSON and
/// pages always say what changed going forward in time.
pub fn diff_forward(a: &ReportFindings, b: &ReportFindings) -> ReportDiff {
    if (b.report.end_time, &b.report.id) < (a.report.end_time, &a.report.id) {
        diff(b, a)
    } else {
        diff(a, b)
    }
}

/// The findings index of `head`'s report, read from `store` a page of nodes at a time.
pub async fn build_findings(store: &Store, head: &ReportHead) -> Result<ReportFindings, ApiError> {
    store.report_findings(&head.id).await?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "report {:?} was deleted while it was being read",
            head.id
        ))
    })
}

/// Which reports a lifecycle was built from: every (id, generated_time), oldest first.
/// A new report, a re-stored one or a pruned one changes it.
type Stamp = Vec<(String, DateTime<Utc>)>;

fn stamp(heads: &[ReportHead]) -> Stamp {
    heads
        .iter()
        .map(|h| (h.id.clone(), h.generated_time))
        .collect()
}

#[derive(Debug, Default)]
struct LifecycleEntry {
    lifecycle: OnceCell<Arc<Lifecycle>>,
}

/// The lifecycles of the most recently used GlobalReports, shared by every request.
#[derive(Debug)]
pub struct LifecycleCache {
    entries: Recent<Stamp, LifecycleEntry>,
}

impl Default for LifecycleCache {
    fn default() -> Self {
        LifecycleCache {
            entries: Recent::new(CACHED_LIFECYCLES),
        }
    }
}

impl LifecycleCache {
    /// The lifecycle of every finding of GlobalReport `name` over `heads` (all its
    /// reports, oldest first, as [`heads_of`] lists them), built on first use and kept
    /// while those reports are unchanged. Concurrent first requests build it once.
    pub async fn lifecycle(
        &self,
        cluster: &str,
        store: &Store,
        name: &str,
        heads: &[ReportHead],
    ) -> Result<Arc<Lifecycle>, ApiError> {
        let entry = self.entries.entry(cluster, name, stamp(heads));
        entry
            .lifecycle
            .get_or_try_init(|| async {
                let mut lifecycle = Lifecycle::new();
                let mut last_end: Option<DateTime<Utc>> = None;
                for head in heads {
                    // Two reports ending at the same time (which report ids rule out
                    // for one GlobalReport) cannot both be observed: the first counts.
                    if last_end.is_some_and(|end| head.end_time <= end) {
                        tracing::warn!(
                            report = %head.id,
                            "left out of the lifecycle of {name}: it ends with an earlier report"
                        );
                        continue;
                    }
                    let findings = build_findings(store, head).await?;
                    lifecycle.observe(&findings).map_err(|e| {
                        ApiError::Page(format!("the lifecycle of {name} cannot be built: {e}"))
                    })?;
                    last_end = Some(head.end_time);
                }
                Ok::<_, ApiError>(Arc::new(lifecycle))
            })
            .await
            .cloned()
    }
}
