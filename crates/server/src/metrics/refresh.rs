//! Keeping the series of every GlobalReport of every cluster up to date, scrape by scrape.
//!
//! Each GlobalReport's series are kept with the [`Stamp`] of what they were made from:
//! the latest report's id and `generated_time` (a re-run window is stored again under
//! the same id with a new one) and the previous report's id (the diff's other side,
//! which changes when that report is deleted or pruned). A scrape reads the latest two
//! report heads of each GlobalReport, [`plan`]s, and reads nodes only for the
//! GlobalReports whose stamp changed. With 10,000 nodes a scrape when nothing changed is
//! a few small queries.
//!
//! A store that fails is not a failed scrape: the cluster's series keep their last
//! values, `compliance_server_store_up{cluster}` says 0, and the failure is logged once
//! until the store answers again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use compliance_store::{ReportHead, Store};

use super::encode::{ClusterSnapshot, Snapshot};
use super::series::{self, ReportSeries};
use crate::{ApiError, Server};

/// What a GlobalReport's series were made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub id: String,
    pub generated_time: DateTime<Utc>,
    /// The id of the report before it, if there is one.
    pub previous: Option<String>,
}

impl Stamp {
    pub fn of(latest: &ReportHead, previous: Option<&ReportHead>) -> Stamp {
        Stamp {
            id: latest.id.clone(),
            generated_time: latest.generated_time,
            previous: previous.map(|p| p.id.clone()),
        }
    }
}

/// What a refresh does with each GlobalReport of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Stored series still true: nothing to read.
    pub keep: Vec<String>,
    /// New, or made from other reports: read and make again.
    pub build: Vec<String>,
    /// No stored report any more: their series go.
    pub drop: Vec<String>,
}

/// Compares the stamps of the series held (`held`) with those of the reports stored now
/// (`stored`), both by GlobalReport name.
pub fn plan(held: &BTreeMap<String, Stamp>, stored: &BTreeMap<String, Stamp>) -> Plan {
    let mut out = Plan::default();
    for (name, stamp) in stored {
        if held.get(name) == Some(stamp) {
            out.keep.push(name.clone());
        } else {
            out.build.push(name.clone());
        }
    }
    out.drop = held
        .keys()
        .filter(|n| !stored.contains_key(*n))
        .cloned()
        .collect();
    out
}

/// One cluster's series and how its last refresh went.
#[derive(Debug, Default)]
struct ClusterState {
    up: bool,
    /// Whether the failure of the last refresh was logged (once per streak).
    failing: bool,
    refresh_seconds: f64,
    reports: BTreeMap<String, (Stamp, Arc<ReportSeries>)>,
}

/// The series of every cluster's GlobalReports, shared by every scrape.
#[derive(Debug, Default)]
pub struct MetricsCache {
    per_test: bool,
    /// Held for a whole refresh: concurrent scrapes refresh once, one after the other.
    state: tokio::sync::Mutex<BTreeMap<String, ClusterState>>,
}

impl MetricsCache {
    /// `per_test`: whether to export a series per failing test of each node
    /// (`compliance_node_test_failed`; off by default, ~16 series a node).
    pub fn new(per_test: bool) -> MetricsCache {
        MetricsCache {
            per_test,
            state: Default::default(),
        }
    }

    pub fn per_test(&self) -> bool {
        self.per_test
    }

    /// Brings every cluster's series up to date and returns them for encoding.
    pub async fn refresh(&self, server: &Server) -> Snapshot {
        let mut state = self.state.lock().await;
        let names = server.clusters.names();
        state.retain(|c, _| names.contains(c));
        for cluster in &names {
            let cs = state.entry(cluster.clone()).or_default();
            let started = Instant::now();
            let result = self.refresh_cluster(server, cluster, cs).await;
            cs.refresh_seconds = started.elapsed().as_secs_f64();
            match result {
                Ok(()) => {
                    if cs.failing {
                        tracing::info!(cluster, "the store answers again: metrics refreshed");
                    }
                    cs.up = true;
                    cs.failing = false;
                }
                Err(e) => {
                    if !cs.failing {
                        tracing::warn!(
                            cluster,
                            "cannot read the store for metrics; the last values stay \
                             (compliance_server_store_up 0) until it answers: {e}"
                        );
                    }
                    cs.up = false;
                    cs.failing = true;
                }
            }
        }
        Snapshot {
            build: server.build.clone(),
            per_test: self.per_test,
            clusters: names
                .iter()
                .filter_map(|c| {
                    let cs = state.get(c)?;
                    Some(ClusterSnapshot {
                        name: c.clone(),
                        up: cs.up,
                        refresh_seconds: cs.refresh_seconds,
                        reports: cs.reports.values().map(|(_, s)| s.clone()).collect(),
                    })
                })
                .collect(),
        }
    }

    /// Reads the cluster's report heads and rebuilds what changed. On an error nothing
    /// changes.
    async fn refresh_cluster(
        &self,
        server: &Server,
        cluster: &str,
        cs: &mut ClusterState,
    ) -> Result<(), ApiError> {
        let (_, store) = server.clusters.store(Some(cluster))?;
        let mut latest: BTreeMap<String, (ReportHead, Option<ReportHead>)> = BTreeMap::new();
        for name in store.report_names().await? {
            // Oldest first: the latest report last, the one before it before.
            let mut heads = store.report_series(&name, 2).await?;
            if let Some(last) = heads.pop() {
                latest.insert(name, (last, heads.pop()));
            }
        }
        let stored: BTreeMap<String, Stamp> = latest
            .iter()
            .map(|(n, (h, p))| (n.clone(), Stamp::of(h, p.as_ref())))
            .collect();
        let held: BTreeMap<String, Stamp> = cs
            .reports
            .iter()
            .map(|(n, (s, _))| (n.clone(), s.clone()))
            .collect();
        let plan = plan(&held, &stored);
        let mut built = Vec::with_capacity(plan.build.len());
        let mut vanished = Vec::new();
        for name in plan.build {
            let (head, previous) = &latest[&name];
            match self
                .build(server, cluster, &store, head, previous.as_ref())
                .await
            {
                Ok(s) => built.push((name, Arc::new(s))),
                // Deleted while being read: the next scrape sees what is left.
                Err(ApiError::NotFound(why)) => {
                    tracing::debug!(cluster, report = %name, "{why}");
                    vanished.push(name);
                }
                Err(e) => return Err(e),
            }
        }
        for name in plan.drop.iter().chain(&vanished) {
            cs.reports.remove(name);
        }
        for (name, s) in built {
            let stamp = stored[&name].clone();
            cs.reports.insert(name, (stamp, s));
        }
        Ok(())
    }

    async fn build(
        &self,
        server: &Server,
        cluster: &str,
        store: &Store,
        head: &ReportHead,
        previous: Option<&ReportHead>,
    ) -> Result<ReportSeries, ApiError> {
        let rows = server.indexes.rows(cluster, store, head).await?;
        let findings = server.indexes.findings(cluster, store, head).await?;
        let previous = match previous {
            Some(p) => Some(server.indexes.findings(cluster, store, p).await?),
            None => None,
        };
        Ok(series::report_series(series::Inputs {
            head,
            rows: &rows,
            findings: &findings,
            previous: previous.as_deref(),
            per_test: self.per_test,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(id: &str, previous: Option<&str>) -> Stamp {
        Stamp {
            id: id.into(),
            generated_time: DateTime::UNIX_EPOCH,
            previous: previous.map(str::to_string),
        }
    }

    fn map(entries: &[(&str, Stamp)]) -> BTreeMap<String, Stamp> {
        entries
            .iter()
            .map(|(n, s)| (n.to_string(), s.clone()))
            .collect()
    }

    #[test]
    fn unchanged_global_reports_are_kept_and_not_read() {
        let held = map(&[("daily", stamp("d2", Some("d1")))]);
        let p = plan(&held, &held.clone());
        assert_eq!(p.keep, ["daily"]);
        assert!(p.build.is_empty() && p.drop.is_empty());
    }

    #[test]
    fn a_new_report_a_rerun_or_a_deleted_previous_report_rebuilds() {
        let held = map(&[("daily", stamp("d2", Some("d1")))]);
        let newer = map(&[("daily", stamp("d3", Some("d2")))]);
        let mut rerun = stamp("d2", Some("d1"));
        rerun.generated_time = DateTime::UNIX_EPOCH + chrono::Duration::seconds(1);
        let rerun = map(&[("daily", rerun)]);
        let previous_gone = map(&[("daily", stamp("d2", None))]);
        for stored in [newer, rerun, previous_gone] {
            assert_eq!(plan(&held, &stored).build, ["daily"], "{stored:?}");
        }
        assert_eq!(plan(&BTreeMap::new(), &held).build, ["daily"]);
    }

    #[test]
    fn a_deleted_global_reports_series_are_dropped() {
        let held = map(&[
            ("daily", stamp("d2", Some("d1"))),
            ("weekly", stamp("w1", None)),
        ]);
        let stored = map(&[("daily", stamp("d2", Some("d1")))]);
        let p = plan(&held, &stored);
        assert_eq!(p.drop, ["weekly"]);
        assert_eq!(p.keep, ["daily"]);
    }
}
