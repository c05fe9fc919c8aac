//! What a read of reports asks for, and the pure rules of filtering, ordering and paging.
//!
//! Both stores implement these rules in their own query language (SQL, Elasticsearch's
//! query DSL); [`ReportQuery::apply`] is the same rules over a list in memory, the model
//! the store tests check both backends against.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};

use compliance_core::model::{
    CisBenchmarkNode, CisBenchmarkSummary, GlobalReportSpec, GlobalReportTypeSpec, NodeSummary,
    ReportDocument, WaiverOutcome,
};

/// Reports per page when a query does not say: 100, the server's default `maxItems`
/// (docs/spec.md §9).
pub const DEFAULT_MAX_ITEMS: u64 = 100;

/// A report field a list can be sorted by (docs/spec.md §9 `sortBy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortField {
    ReportName,
    ReportTypeName,
    GenerationTime,
    StartTime,
    EndTime,
}

impl SortField {
    pub const ALL: [SortField; 5] = [
        SortField::ReportName,
        SortField::ReportTypeName,
        SortField::GenerationTime,
        SortField::StartTime,
        SortField::EndTime,
    ];

    /// The report document's key (docs/spec.md §5), which is also the name `sortBy` uses.
    pub fn key(self) -> &'static str {
        match self {
            SortField::ReportName => "reportName",
            SortField::ReportTypeName => "reportTypeName",
            SortField::GenerationTime => "generationTime",
            SortField::StartTime => "startTime",
            SortField::EndTime => "endTime",
        }
    }

    /// The field named `key` (exact spelling), if it is one.
    pub fn from_key(key: &str) -> Option<SortField> {
        SortField::ALL.into_iter().find(|f| f.key() == key)
    }
}

/// One sort key: a field and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub field: SortField,
    pub descending: bool,
}

impl SortKey {
    pub fn ascending(field: SortField) -> SortKey {
        SortKey {
            field,
            descending: false,
        }
    }

    pub fn descending(field: SortField) -> SortKey {
        SortKey {
            field,
            descending: true,
        }
    }
}

/// A column of the order a store applies: a sort field, or the report id that breaks
/// every tie so that pages are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderColumn {
    Field(SortField),
    Id,
}

/// Which reports to list, in which order, and which page of them.
///
/// Filters combine with AND; the values of one filter with OR. The default lists every
/// report, newest window first, 100 to a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    /// GlobalReport names; empty: any.
    pub report_names: Vec<String>,
    /// Report type names; empty: any.
    pub report_type_names: Vec<String>,
    /// With `to`, the time range a report's window must touch: a report matches when its
    /// startTime or its endTime lies in `[from, to]` (both inclusive; docs/spec.md §9). Either end
    /// may be open; with neither there is no time filter.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Sort keys, most significant first; empty: [`ReportQuery::DEFAULT_ORDER`]. A field
    /// given twice counts once, where it first appears.
    pub sort: Vec<SortKey>,
    /// Page number, from 0.
    pub page: u64,
    /// Reports per page (default [`DEFAULT_MAX_ITEMS`]); 0 lists none, but still counts.
    pub max_items: u64,
}

impl Default for ReportQuery {
    fn default() -> Self {
        ReportQuery {
            report_names: Vec::new(),
            report_type_names: Vec::new(),
            from: None,
            to: None,
            sort: Vec::new(),
            page: 0,
            max_items: DEFAULT_MAX_ITEMS,
        }
    }
}

/// One page of reports and how many match in all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportPage {
    pub reports: Vec<ReportHead>,
    /// Every report matching the filters, on any page.
    pub total: u64,
}

impl ReportQuery {
    /// The order without sort keys: the newest window first, then by name (what `reports
    /// list` has always printed).
    pub const DEFAULT_ORDER: [SortKey; 2] = [
        SortKey {
            field: SortField::EndTime,
            descending: true,
        },
        SortKey {
            field: SortField::ReportName,
            descending: false,
        },
    ];

    /// The columns the stores order by, each with `true` when descending: the sort keys
    /// (or the default), each field once, then the id ascending.
    pub fn order(&self) -> Vec<(OrderColumn, bool)> {
        let keys: &[SortKey] = if self.sort.is_empty() {
            &Self::DEFAULT_ORDER
        } else {
            &self.sort
        };
        let mut out: Vec<(OrderColumn, bool)> = Vec::with_capacity(keys.len() + 1);
        for k in keys {
            let column = OrderColumn::Field(k.field);
            if !out.iter().any(|(c, _)| *c == column) {
                out.push((column, k.descending));
            }
        }
        out.push((OrderColumn::Id, false));
        out
    }

    /// Position of the page's first report (`page × max_items`); `None` when that does
    /// not fit in 64 bits.
    pub fn offset(&self) -> Option<u64> {
        self.page.checked_mul(self.max_items)
    }

    /// Whether `head` passes the filters.
    pub fn matches(&self, head: &ReportHead) -> bool {
        let listed =
            |values: &[String], v: &str| values.is_empty() || values.iter().any(|x| x == v);
        let in_range = |t: DateTime<Utc>| {
            self.from.is_none_or(|from| from <= t) && self.to.is_none_or(|to| t <= to)
        };
        listed(&self.report_names, &head.report_name)
            && listed(&self.report_type_names, &head.report_type_name)
            && (in_range(head.start_time) || in_range(head.end_time))
    }

    /// How `a` and `b` compare in [`ReportQuery::order`]. Names compare by bytes, as both
    /// stores do.
    pub fn compare(&self, a: &ReportHead, b: &ReportHead) -> Ordering {
        self.order()
            .into_iter()
            .map(|(column, descending)| {
                let o = match column {
                    OrderColumn::Id => a.id.as_bytes().cmp(b.id.as_bytes()),
                    OrderColumn::Field(f) => match f {
                        SortField::ReportName => {
                            a.report_name.as_bytes().cmp(b.report_name.as_bytes())
                        }
                        SortField::ReportTypeName => a
                            .report_type_name
                            .as_bytes()
                            .cmp(b.report_type_name.as_bytes()),
                        SortField::GenerationTime => a.generation_time.cmp(&b.generation_time),
                        SortField::StartTime => a.start_time.cmp(&b.start_time),
                        SortField::EndTime => a.end_time.cmp(&b.end_time),
                    },
                };
                if descending { o.reverse() } else { o }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }

    /// The query over reports held in memory: filter, order, count, cut out the page.
    pub fn apply(&self, heads: impl IntoIterator<Item = ReportHead>) -> ReportPage {
        let mut matching: Vec<ReportHead> = heads.into_iter().filter(|h| self.matches(h)).collect();
        matching.sort_by(|a, b| self.compare(a, b));
        let total = matching.len() as u64;
        let skip = usize::try_from(self.offset().unwrap_or(u64::MAX)).unwrap_or(usize::MAX);
        let take = usize::try_from(self.max_items).unwrap_or(usize::MAX);
        ReportPage {
            reports: matching.into_iter().skip(skip).take(take).collect(),
            total,
        }
    }
}

/// A node of a report without its test results: what a node table shows and sorts, a
/// few dozen bytes where the node with its results is kilobytes. Its `summary` is whole:
/// the failures waivers accepted (`waived`) and the rating without waivers
/// (`statusWithoutWaivers`) included.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    /// The node's position in the report (report order, from 0).
    pub position: u64,
    pub node_name: String,
    pub kubernetes_version: String,
    pub benchmarks_version: String,
    /// Set when the node's latest benchmark run failed (docs/spec.md §4.2).
    pub error: String,
    pub summary: NodeSummary,
    /// The node was expected but had no result in the look-back (`noResults`).
    pub no_results: bool,
    /// When the node's result was taken; for a node without results, its last result
    /// ever (`lastResultTime`).
    pub last_result_time: Option<DateTime<Utc>>,
    /// Provenance of the result (`platform`, `kubeBenchVersion`, `benchmarkerVersion`,
    /// `benchmarkChoice`), empty when unknown.
    pub platform: String,
    pub kube_bench_version: String,
    pub benchmarker_version: String,
    pub benchmark_choice: String,
}

impl NodeRow {
    /// The row of a whole node at `position`.
    pub fn of(position: u64, node: &CisBenchmarkNode) -> NodeRow {
        NodeRow {
            position,
            node_name: node.node_name.clone(),
            kubernetes_version: node.kubernetes_version.clone(),
            benchmarks_version: node.benchmarks_version.clone(),
            error: node.error.clone(),
            summary: node.summary.clone(),
            no_results: node.no_results,
            last_result_time: node.last_result_time,
            platform: node.platform.clone(),
            kube_bench_version: node.kube_bench_version.clone(),
            benchmarker_version: node.benchmarker_version.clone(),
            benchmark_choice: node.benchmark_choice.clone(),
        }
    }
}

/// A report without its node results: what lists, the dashboard and "the newest report of
/// a GlobalReport" need, at a fraction of the size.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportHead {
    pub id: String,
    pub report_name: String,
    pub report_type_name: String,
    pub report_spec: GlobalReportSpec,
    pub report_type_spec: GlobalReportTypeSpec,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub generation_time: DateTime<Utc>,
    /// When the document was written (docs/spec.md §5 `generated_time`).
    pub generated_time: DateTime<Utc>,
    pub summary: CisBenchmarkSummary,
    /// The UI summary as stored: a JSON document in a string.
    pub ui_summary: String,
    pub cluster: String,
    /// Nodes in the report.
    pub node_count: u64,
    /// How the report was made (docs/spec.md §5); `None` for Calico's reports and those of
    /// earlier releases.
    pub provenance: Option<compliance_core::model::Provenance>,
    /// The waivers that concerned the report, as they were, and what each did (the
    /// report's `waivers`); empty for reports without any, Calico's among them.
    pub waivers: Vec<WaiverOutcome>,
}

impl ReportHead {
    /// The head of a whole report.
    pub fn of(report: &ReportDocument) -> ReportHead {
        ReportHead {
            id: report.id.clone(),
            report_name: report.report_name.clone(),
            report_type_name: report.report_type_name.clone(),
            report_spec: report.report_spec.clone(),
            report_type_spec: report.report_type_spec.clone(),
            start_time: report.start_time,
            end_time: report.end_time,
            generation_time: report.generation_time,
            generated_time: report.generated_time,
            summary: report.cis_benchmark_summary.clone(),
            ui_summary: report.ui_summary.clone(),
            cluster: report.cluster.clone(),
            node_count: report.cis_benchmark.len() as u64,
            provenance: report.provenance.clone(),
            waivers: report.waivers.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compliance_core::model::time;

    fn head(id: &str, name: &str, kind: &str, start: &str, end: &str) -> ReportHead {
        let t = |s: &str| time::parse(s).unwrap();
        ReportHead {
            id: id.into(),
            report_name: name.into(),
            report_type_name: kind.into(),
            report_spec: GlobalReportSpec::default(),
            report_type_spec: GlobalReportTypeSpec::default(),
            start_time: t(start),
            end_time: t(end),
            generation_time: t(end),
            generated_time: t(end),
            summary: CisBenchmarkSummary {
                kind: "kube".into(),
                high_count: 0,
                med_count: 0,
                low_count: 0,
                no_results_count: 0,
                waived_count: 0,
                without_waivers: None,
            },
            ui_summary: "{}".into(),
            cluster: "cluster".into(),
            node_count: 0,
            provenance: None,
            waivers: Vec::new(),
        }
    }

    fn ids(page: &ReportPage) -> Vec<&str> {
        page.reports.iter().map(|h| h.id.as_str()).collect()
    }

    fn sample() -> Vec<ReportHead> {
        vec![
            head(
                "b1",
                "b",
                "cis",
                "2026-11-24T00:00:00Z",
                "2026-11-25T00:00:00Z",
            ),
            head(
                "a1",
                "a",
                "cis",
                "2026-11-24T00:00:00Z",
                "2026-11-25T00:00:00Z",
            ),
            head(
                "a2",
                "a",
                "cis",
                "2026-11-25T00:00:00Z",
                "2026-11-26T00:00:00Z",
            ),
            head(
                "c1",
                "c",
                "other",
                "2026-11-20T00:00:00Z",
                "2026-11-21T00:00:00Z",
            ),
        ]
    }

    #[test]
    fn default_order_is_newest_window_then_name_then_id() {
        let q = ReportQuery::default();
        assert_eq!(
            q.order(),
            vec![
                (OrderColumn::Field(SortField::EndTime), true),
                (OrderColumn::Field(SortField::ReportName), false),
                (OrderColumn::Id, false),
            ]
        );
        assert_eq!(ids(&q.apply(sample())), ["a2", "a1", "b1", "c1"]);
    }

    #[test]
    fn a_repeated_sort_field_counts_where_it_first_appears() {
        let q = ReportQuery {
            sort: vec![
                SortKey::ascending(SortField::ReportName),
                SortKey::descending(SortField::ReportName),
            ],
            ..ReportQuery::default()
        };
        assert_eq!(
            q.order(),
            vec![
                (OrderColumn::Field(SortField::ReportName), false),
                (OrderColumn::Id, false)
            ]
        );
        assert_eq!(ids(&q.apply(sample())), ["a1", "a2", "b1", "c1"]);
    }

    #[test]
    fn a_report_matches_when_its_start_or_its_end_is_in_range() {
        let t = |s: &str| Some(time::parse(s).unwrap());
        // Only a2's start (and a1's, b1's end) lie on 2026-11-25.
        let q = ReportQuery {
            from: t("2026-11-25T00:00:00Z"),
            to: t("2026-11-25T00:00:00Z"),
            ..ReportQuery::default()
        };
        assert_eq!(ids(&q.apply(sample())), ["a2", "a1", "b1"]);
        let open_end = ReportQuery {
            from: t("2026-11-25T12:00:00Z"),
            ..ReportQuery::default()
        };
        assert_eq!(ids(&open_end.apply(sample())), ["a2"]);
        let open_start = ReportQuery {
            to: t("2026-11-21T00:00:00Z"),
            ..ReportQuery::default()
        };
        assert_eq!(ids(&open_start.apply(sample())), ["c1"]);
    }

    #[test]
    fn filters_combine_with_and_their_values_with_or() {
        let q = ReportQuery {
            report_names: vec!["a".into(), "c".into()],
            report_type_names: vec!["cis".into()],
            ..ReportQuery::default()
        };
        assert_eq!(ids(&q.apply(sample())), ["a2", "a1"]);
    }

    #[test]
    fn pages_cut_the_ordered_list_and_total_counts_every_match() {
        let q = |page, max_items| ReportQuery {
            page,
            max_items,
            ..ReportQuery::default()
        };
        let p = q(1, 3).apply(sample());
        assert_eq!((ids(&p), p.total), (vec!["c1"], 4));
        let p = q(0, 0).apply(sample());
        assert_eq!((ids(&p), p.total), (vec![], 4));
        let p = q(7, 3).apply(sample());
        assert_eq!((ids(&p), p.total), (vec![], 4));
        assert_eq!(q(u64::MAX, 2).offset(), None);
    }

    #[test]
    fn sort_fields_are_named_as_in_the_document() {
        for f in SortField::ALL {
            assert_eq!(SortField::from_key(f.key()), Some(f));
        }
        assert_eq!(SortField::from_key("endtime"), None);
    }
}
