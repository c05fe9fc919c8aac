//! The series of a scrape written out in the OpenMetrics text format, through
//! prometheus-client's [`Collector`]: each scrape encodes what the refresh holds at that
//! moment, so the series of a deleted GlobalReport or of a node the latest report no
//! longer lists are simply not written.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::series::{RATINGS, ReportSeries, rating_label, rating_value};
use crate::BuildInfo;

/// The content type of `/metrics`' answer.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One cluster's series at a scrape.
#[derive(Debug, Clone)]
pub struct ClusterSnapshot {
    pub name: String,
    /// Whether the last read of the cluster's store worked.
    pub up: bool,
    pub refresh_seconds: f64,
    /// One per GlobalReport, by name.
    pub reports: Vec<Arc<ReportSeries>>,
}

/// Everything one scrape writes.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub build: BuildInfo,
    /// Whether the per-node-per-test family is written (`COMPLIANCE_METRICS_PER_TEST`).
    pub per_test: bool,
    pub clusters: Vec<ClusterSnapshot>,
}

/// `snapshot` as an OpenMetrics text exposition.
pub fn encode(snapshot: Snapshot) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
    out
}

/// Unix seconds, with the fraction.
fn seconds(t: &DateTime<Utc>) -> f64 {
    t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9
}

/// The samples of one gauge family.
struct Family<'m, 'e>(&'m mut MetricEncoder<'e>);

impl Family<'_, '_> {
    fn put(&mut self, labels: &[(&str, &str)], value: impl EncodeGaugeValue) -> fmt::Result {
        self.0.encode_family(&labels)?.encode_gauge(&value)
    }
}

fn family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    fill: impl FnOnce(&mut Family<'_, '_>) -> fmt::Result,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    fill(&mut Family(&mut metric))
}

impl Snapshot {
    /// Every (cluster, report) pair.
    fn reports(&self) -> impl Iterator<Item = (&str, &ReportSeries)> {
        self.clusters
            .iter()
            .flat_map(|c| c.reports.iter().map(move |r| (c.name.as_str(), &**r)))
    }

    /// A gauge with the labels `cluster` and `report` and one value per GlobalReport
    /// (`None`: no sample for that one).
    fn per_report(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: impl Fn(&ReportSeries) -> Option<f64>,
    ) -> fmt::Result {
        family(encoder, name, help, |f| {
            for (cluster, r) in self.reports() {
                if let Some(v) = value(r) {
                    f.put(&[("cluster", cluster), ("report", &r.report)], v)?;
                }
            }
            Ok(())
        })
    }

    /// A gauge per node of every report (`None`: no sample for that node).
    fn per_node(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: impl Fn(&super::series::NodeSeries) -> Option<f64>,
    ) -> fmt::Result {
        family(encoder, name, help, |f| {
            for (cluster, r) in self.reports() {
                for n in &r.node_series {
                    if let Some(v) = value(n) {
                        f.put(
                            &[
                                ("cluster", cluster),
                                ("report", &r.report),
                                ("node", &n.name),
                            ],
                            v,
                        )?;
                    }
                }
            }
            Ok(())
        })
    }

    fn per_rating(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        counts: impl Fn(&ReportSeries) -> [u64; 3],
    ) -> fmt::Result {
        family(encoder, name, help, |f| {
            for (cluster, r) in self.reports() {
                for (rating, n) in RATINGS.iter().zip(counts(r)) {
                    f.put(
                        &[
                            ("cluster", cluster),
                            ("report", &r.report),
                            ("rating", rating_label(*rating)),
                        ],
                        n,
                    )?;
                }
            }
            Ok(())
        })
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let e = &mut e;
        family(
            e,
            "compliance_report_info",
            "The latest report of each GlobalReport: its id and type",
            |f| {
                for (cluster, r) in self.reports() {
                    f.put(
                        &[
                            ("cluster", cluster),
                            ("report", &r.report),
                            ("report_id", &r.report_id),
                            ("report_type", &r.report_type),
                        ],
                        1i64,
                    )?;
                }
                Ok(())
            },
        )?;
        self.per_report(
            e,
            "compliance_report_generated_timestamp_seconds",
            "When the latest report was made (its generationTime), in Unix seconds",
            |r| Some(seconds(&r.generated)),
        )?;
        self.per_report(
            e,
            "compliance_report_window_start_timestamp_seconds",
            "The start of the latest report's window, in Unix seconds",
            |r| Some(seconds(&r.window_start)),
        )?;
        self.per_report(
            e,
            "compliance_report_window_end_timestamp_seconds",
            "The end of the latest report's window, in Unix seconds",
            |r| Some(seconds(&r.window_end)),
        )?;
        self.per_rating(
            e,
            "compliance_report_nodes",
            "Nodes of the latest report per rating, waivers applied",
            |r| r.nodes,
        )?;
        self.per_rating(
            e,
            "compliance_report_nodes_without_waivers",
            "Nodes of the latest report per rating with no waiver applied",
            |r| r.nodes_without_waivers,
        )?;
        self.per_report(
            e,
            "compliance_report_nodes_missing_results",
            "Nodes listed in the latest report without results (noResults)",
            |r| Some(r.nodes_missing_results as f64),
        )?;
        family(
            e,
            "compliance_report_tests",
            "Tests of the latest report summed over its nodes, per result",
            |f| {
                for (cluster, r) in self.reports() {
                    let t = &r.tests;
                    for (result, n) in [
                        ("pass", t.pass),
                        ("fail", t.fail),
                        ("info", t.info),
                        ("waived", t.waived),
                    ] {
                        f.put(
                            &[
                                ("cluster", cluster),
                                ("report", &r.report),
                                ("result", result),
                            ],
                            n,
                        )?;
                    }
                }
                Ok(())
            },
        )?;
        self.per_report(
            e,
            "compliance_report_tests_counted",
            "Tests counted (the denominator of a node's pass ratio) summed over the nodes",
            |r| Some(r.tests.counted as f64),
        )?;
        self.per_report(
            e,
            "compliance_report_new_failures",
            "Failures new since the previous report that no waiver accepts",
            |r| r.diff.as_ref().map(|d| d.new_failures as f64),
        )?;
        self.per_report(
            e,
            "compliance_report_resolved_failures",
            "Failures of the previous report that pass now",
            |r| r.diff.as_ref().map(|d| d.resolved_failures as f64),
        )?;
        self.per_report(
            e,
            "compliance_report_rating_drops",
            "Nodes rated worse than in the previous report",
            |r| r.diff.as_ref().map(|d| d.rating_drops as f64),
        )?;
        self.per_report(
            e,
            "compliance_report_nodes_no_longer_assessed",
            "Nodes assessed in the previous report and without results in this one",
            |r| r.diff.as_ref().map(|d| d.nodes_no_longer_assessed as f64),
        )?;
        family(
            e,
            "compliance_test_failing_nodes",
            "Nodes failing the test with no waiver, for the tests failing somewhere",
            |f| {
                for (cluster, r) in self.reports() {
                    for t in &r.failing_tests {
                        f.put(
                            &[
                                ("cluster", cluster),
                                ("report", &r.report),
                                ("test", &t.text.test_number),
                                ("description", &t.text.test_desc),
                            ],
                            t.nodes,
                        )?;
                    }
                }
                Ok(())
            },
        )?;
        self.per_node(
            e,
            "compliance_node_rating",
            "The node's rating in the latest report: 2 HIGH, 1 MED, 0 LOW",
            |n| Some(f64::from(rating_value(n.rating))),
        )?;
        self.per_node(
            e,
            "compliance_node_pass_ratio",
            "Passed over counted tests of the node; absent without results",
            |n| n.pass_ratio,
        )?;
        self.per_node(
            e,
            "compliance_node_failed_tests",
            "Failed tests of the node that no waiver accepts (totalFail)",
            |n| Some(n.failed_tests as f64),
        )?;
        self.per_node(
            e,
            "compliance_node_results_missing",
            "1 when the node is listed without results, else 0",
            |n| Some(if n.results_missing { 1.0 } else { 0.0 }),
        )?;
        family(
            e,
            "compliance_node_rating_dropped",
            "1 for each node rated worse than in the previous report",
            |f| {
                for (cluster, r) in self.reports() {
                    for d in r.diff.iter().flat_map(|d| &d.dropped) {
                        f.put(
                            &[
                                ("cluster", cluster),
                                ("report", &r.report),
                                ("node", &d.node),
                                ("from", rating_label(d.from)),
                                ("to", rating_label(d.to)),
                            ],
                            1i64,
                        )?;
                    }
                }
                Ok(())
            },
        )?;
        if self.per_test {
            family(
                e,
                "compliance_node_test_failed",
                "1 for each failing test of each node (COMPLIANCE_METRICS_PER_TEST)",
                |f| {
                    for (cluster, r) in self.reports() {
                        for t in &r.node_test_failures {
                            f.put(
                                &[
                                    ("cluster", cluster),
                                    ("report", &r.report),
                                    ("node", &t.node),
                                    ("test", &t.text.test_number),
                                    ("waived", if t.waived { "true" } else { "false" }),
                                ],
                                1i64,
                            )?;
                        }
                    }
                    Ok(())
                },
            )?;
        }
        family(
            e,
            "compliance_server_store_up",
            "1 when the last read of the cluster's store for metrics worked, else 0",
            |f| {
                for c in &self.clusters {
                    f.put(&[("cluster", &c.name)], i64::from(c.up))?;
                }
                Ok(())
            },
        )?;
        family(
            e,
            "compliance_server_metrics_refresh_seconds",
            "How long the last refresh of the cluster's report series took",
            |f| {
                for c in &self.clusters {
                    f.put(&[("cluster", &c.name)], c.refresh_seconds)?;
                }
                Ok(())
            },
        )?;
        family(
            e,
            "compliance_server_build_info",
            "1, labelled with the server's build",
            |f| {
                f.put(
                    &[
                        ("version", &self.build.version),
                        ("git_commit", &self.build.git_commit),
                    ],
                    1i64,
                )
            },
        )
    }
}
