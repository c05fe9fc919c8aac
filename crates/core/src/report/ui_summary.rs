//! The UI summary (`uiSummary`, download `ui-summary.json`): the dashboard's node rating
//! counts and top failed tests, in the JSON shape Calico's UI read (docs/spec.md §6).
//!
//! The shape and the wording follow Calico Enterprise's `cis-benchmark` report type
//! template: heading "Kubernetes CIS Benchmark", widgets "Node Failure Summary" and "Top
//! Failed Tests", band descriptions "Nodes with N% or more tests passing" / "Nodes with
//! less than N% tests passing", and "Nodes with 100% tests passing" for a HIGH threshold
//! of 100. Two deliberate differences: `failedCount` is a JSON number (Calico's template
//! quoted it), and the Top Failed Tests widget is always present, with an empty list for
//! a report without nodes, so a reader can rely on the structure.

use serde::Serialize;

use super::top_failed::{TopFailedTest, top_failed_tests};
use crate::model::global_report::CisParams;
use crate::model::{ReportDocument, ValidationError};

/// Field order of these structs is the key order of the JSON: keep it as docs/spec.md §6 lists it.
#[derive(Serialize)]
struct UiSummary<'a> {
    heading: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    widgets: (NodesWidget, TestsWidget<'a>),
}

#[derive(Serialize)]
struct NodesWidget {
    heading: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    summary: Total,
    data: [Band; 3],
}

#[derive(Serialize)]
struct Total {
    label: &'static str,
    total: u64,
}

#[derive(Serialize)]
struct Band {
    label: &'static str,
    value: u64,
    desc: String,
}

#[derive(Serialize)]
struct TestsWidget<'a> {
    heading: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "topFailedTests")]
    top_failed_tests: Tests<'a>,
}

#[derive(Serialize)]
struct Tests<'a> {
    tests: &'a [TopFailedTest],
}

/// Computes the UI summary of `doc` as compact JSON, for the reporter to store in
/// `uiSummary`.
///
/// Uses the doc's HIGH/MED/LOW counts, its node count as the total, the effective
/// thresholds of its spec (highThreshold 100 and medThreshold 50 by default) and the
/// `numFailedTests` (default 5) most failed tests of its nodes. The doc's current
/// `ui_summary` is ignored, so this works on a document before or after it is filled.
/// Fails only when the stored spec's `cis` values do not resolve.
pub fn ui_summary(doc: &ReportDocument) -> Result<String, ValidationError> {
    Ok(ui_summary_with(doc, &doc.report_spec.cis_params()?))
}

/// [`ui_summary`] with thresholds the caller has already resolved (the report core
/// validated them before computing, so nothing can fail here).
pub fn ui_summary_with(doc: &ReportDocument, params: &CisParams) -> String {
    let counts = &doc.cis_benchmark_summary;
    let top = top_failed_tests(
        &doc.cis_benchmark,
        params.num_failed_tests,
        params.not_observed_as,
    );
    let high_desc = if params.high_threshold == 100 {
        // "100% or more" would read oddly: nothing passes more than all of its tests.
        "Nodes with 100% tests passing".to_string()
    } else {
        format!(
            "Nodes with {}% or more tests passing",
            params.high_threshold
        )
    };
    let summary = UiSummary {
        heading: "Kubernetes CIS Benchmark",
        kind: "row",
        widgets: (
            NodesWidget {
                heading: "Node Failure Summary",
                kind: "cis-benchmark-nodes",
                summary: Total {
                    label: "Total",
                    total: doc.cis_benchmark.len() as u64,
                },
                data: [
                    Band {
                        label: "HIGH",
                        value: counts.high_count,
                        desc: high_desc,
                    },
                    Band {
                        label: "MED",
                        value: counts.med_count,
                        desc: format!("Nodes with {}% or more tests passing", params.med_threshold),
                    },
                    Band {
                        label: "LOW",
                        value: counts.low_count,
                        desc: format!(
                            "Nodes with less than {}% tests passing",
                            params.med_threshold
                        ),
                    },
                ],
            },
            TestsWidget {
                heading: "Top Failed Tests",
                kind: "cis-benchmark-tests",
                top_failed_tests: Tests { tests: &top },
            },
        ),
    };
    serde_json::to_string(&summary).expect("plain structs with string keys always serialise")
}
