//! GlobalReport and GlobalReportType resources (docs/spec.md §2), as written in YAML manifests.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;

/// The API version both resources are served under.
pub const API_VERSION: &str = "projectcalico.org/v3";

/// Name of the report type every installation has, even with no GlobalReportType object.
pub const CIS_BENCHMARK_TYPE: &str = "cis-benchmark";

/// The subset of Kubernetes object metadata the reporter uses; other keys are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A scheduled CIS benchmark report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalReport {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: GlobalReportSpec,
    /// Kept as written; the controller owns its shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

/// `GlobalReport.spec`, kept exactly as written so that the stored `reportSpec` shows what
/// the operator declared; [`GlobalReportSpec::cis_params`] resolves the defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schemars",
    schemars(description = "What to report on, when, and how to rate the nodes.")
)]
pub struct GlobalReportSpec {
    /// Name of the GlobalReportType; `cis-benchmark` is built in.
    #[serde(rename = "reportType")]
    #[cfg_attr(feature = "schemars", schemars(length(min = 1)))]
    pub report_type: String,
    /// Standard 5-field cron expression in UTC; the end of one report window is the
    /// start of the next. At most two reports an hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Node selector for the report Jobs.
    #[serde(
        rename = "jobNodeSelector",
        default,
        deserialize_with = "super::null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub job_node_selector: BTreeMap<String, String>,
    /// Stops new report Jobs; running ones finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Thresholds and test filters of CIS benchmark reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cis: Option<CisBenchmarkParams>,
}

/// `spec.cis`: thresholds and filters. Numbers are read as wide integers so that an
/// out-of-range value is reported with the value the operator wrote, not a parse error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct CisBenchmarkParams {
    /// Percentage of passed tests at or above which a node rates HIGH (0..100, default 100).
    #[cfg_attr(feature = "schemars", schemars(range(min = 0, max = 100)))]
    #[serde(
        rename = "highThreshold",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub high_threshold: Option<i64>,
    /// Percentage of passed tests at or above which a node rates MED (0..100, default 50;
    /// lower than highThreshold).
    #[cfg_attr(feature = "schemars", schemars(range(min = 0, max = 100)))]
    #[serde(
        rename = "medThreshold",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub med_threshold: Option<i64>,
    /// Whether tests that CIS marks as not scored count towards the ratings (default true).
    #[serde(
        rename = "includeUnscoredTests",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub include_unscored_tests: Option<bool>,
    /// Length of the Top-Failed-Tests list (greater than 0, default 5).
    #[cfg_attr(feature = "schemars", schemars(range(min = 1)))]
    #[serde(
        rename = "numFailedTests",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub num_failed_tests: Option<i64>,
    /// Per-version test filters; the first whose selection matches a node's results applies.
    /// `resultsFilter` is accepted as an alias.
    #[serde(
        rename = "resultsFilters",
        alias = "resultsFilter",
        default,
        deserialize_with = "super::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub results_filters: Vec<ResultsFilter>,
    /// How a check kube-bench passed without observing anything counts: `info` (the
    /// default: like WARN, outside the pass percentage), `fail`, or `pass` (kube-bench's
    /// own verdict). Not in Calico's schema.
    #[cfg_attr(feature = "schemars", schemars(extend("enum" = ["info", "fail", "pass"])))]
    #[serde(
        rename = "notObservedAs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub not_observed_as: Option<String>,
}

/// One entry of `resultsFilters`: which nodes it applies to and which tests it keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(expecting = "a results filter object with benchmarkSelection, include and exclude")]
pub struct ResultsFilter {
    /// Which nodes the filter applies to; absent means every node.
    #[serde(
        rename = "benchmarkSelection",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub benchmark_selection: Option<BenchmarkSelection>,
    /// Test or section numbers to keep; takes precedence over exclude.
    #[serde(
        default,
        deserialize_with = "super::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub include: Vec<String>,
    /// Test or section numbers to drop.
    #[serde(
        default,
        deserialize_with = "super::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct BenchmarkSelection {
    /// Kubernetes version the node's results must have, e.g. `1.29` or `1.29.3`.
    #[serde(
        rename = "kubernetesVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kubernetes_version: Option<String>,
}

/// `spec.cis` with every default applied and every value checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CisParams {
    pub high_threshold: u32,
    pub med_threshold: u32,
    pub include_unscored_tests: bool,
    pub num_failed_tests: usize,
    pub results_filters: Vec<ResultsFilter>,
    pub not_observed_as: NotObservedAs,
}

impl Default for CisParams {
    /// highThreshold 100, medThreshold 50, includeUnscoredTests true, numFailedTests 5,
    /// notObservedAs info.
    fn default() -> Self {
        CisParams {
            high_threshold: 100,
            med_threshold: 50,
            include_unscored_tests: true,
            num_failed_tests: 5,
            results_filters: Vec::new(),
            not_observed_as: NotObservedAs::Info,
        }
    }
}

/// `spec.cis.notObservedAs`: what a NOT_OBSERVED test counts as (docs/spec.md §4.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotObservedAs {
    /// Like WARN and INFO: counted as info, outside the total and the percentage.
    #[default]
    Info,
    /// As a failure: in the total, against the percentage, and in Top Failed Tests.
    Fail,
    /// As kube-bench's PASS.
    Pass,
}

impl NotObservedAs {
    pub fn as_str(self) -> &'static str {
        match self {
            NotObservedAs::Info => "info",
            NotObservedAs::Fail => "fail",
            NotObservedAs::Pass => "pass",
        }
    }

    /// Reads `info`, `fail` or `pass` (any case).
    pub fn parse(text: &str) -> Option<NotObservedAs> {
        match text.trim().to_ascii_lowercase().as_str() {
            "info" => Some(NotObservedAs::Info),
            "fail" => Some(NotObservedAs::Fail),
            "pass" => Some(NotObservedAs::Pass),
            _ => None,
        }
    }
}

/// A rule of docs/spec.md §2 that a resource breaks, with the path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}

fn invalid(field: &str, message: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.to_string(),
        message: message.into(),
    }
}

impl GlobalReportSpec {
    /// Resolves `spec.cis` with defaults; fails on the first value out of range.
    pub fn cis_params(&self) -> Result<CisParams, ValidationError> {
        let d = CisParams::default();
        let Some(cis) = &self.cis else { return Ok(d) };
        let threshold = |v: Option<i64>, default: u32, field: &str| match v {
            None => Ok(default),
            Some(x) if (0..=100).contains(&x) => Ok(x as u32),
            Some(x) => Err(invalid(field, format!("{x} is outside 0..100"))),
        };
        let high = threshold(
            cis.high_threshold,
            d.high_threshold,
            "spec.cis.highThreshold",
        )?;
        let med = threshold(cis.med_threshold, d.med_threshold, "spec.cis.medThreshold")?;
        if med >= high {
            return Err(invalid(
                "spec.cis.medThreshold",
                format!("{med} must be lower than spec.cis.highThreshold ({high})"),
            ));
        }
        let num_failed_tests = match cis.num_failed_tests {
            None => d.num_failed_tests,
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            Some(n) => {
                return Err(invalid(
                    "spec.cis.numFailedTests",
                    format!("{n} must be greater than 0"),
                ));
            }
        };
        let not_observed_as = match &cis.not_observed_as {
            None => d.not_observed_as,
            Some(text) => NotObservedAs::parse(text).ok_or_else(|| {
                invalid(
                    "spec.cis.notObservedAs",
                    format!("{text:?} is not one of info, fail, pass"),
                )
            })?,
        };
        Ok(CisParams {
            high_threshold: high,
            med_threshold: med,
            include_unscored_tests: cis.include_unscored_tests.unwrap_or(true),
            num_failed_tests,
            results_filters: cis.results_filters.clone(),
            not_observed_as,
        })
    }
}

impl GlobalReport {
    /// Checks every rule of docs/spec.md §2 that does not need other objects, except the report
    /// type's existence, which `type_exists` answers. Returns all problems, not just the first.
    pub fn validate(&self, type_exists: &dyn Fn(&str) -> bool) -> Vec<ValidationError> {
        self.validate_with(type_exists, true)
    }

    /// [`GlobalReport::validate`] without the limit on how often the schedule fires: that
    /// rule bounds scheduling (CRD, `compliancectl validate`, the controller), not a
    /// reporter run, which checks it against its window (docs/spec.md §2).
    pub fn validate_for_run(&self, type_exists: &dyn Fn(&str) -> bool) -> Vec<ValidationError> {
        self.validate_with(type_exists, false)
    }

    fn validate_with(
        &self,
        type_exists: &dyn Fn(&str) -> bool,
        limit_frequency: bool,
    ) -> Vec<ValidationError> {
        let mut errors = Vec::new();
        if self.metadata.name.trim().is_empty() {
            errors.push(invalid("metadata.name", "must not be empty"));
        }
        if self.spec.report_type.trim().is_empty() {
            errors.push(invalid("spec.reportType", "is required"));
        } else if !type_exists(&self.spec.report_type) {
            errors.push(invalid(
                "spec.reportType",
                format!("unknown report type {:?}", self.spec.report_type),
            ));
        }
        let parse = if limit_frequency {
            Schedule::parse
        } else {
            Schedule::parse_any_frequency
        };
        if let Some(schedule) = &self.spec.schedule
            && let Err(e) = parse(schedule)
        {
            errors.push(invalid("spec.schedule", e.to_string()));
        }
        if let Err(e) = self.spec.cis_params() {
            errors.push(e);
        }
        errors
    }
}

/// A report type: which downloads and UI summary a report of this type has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalReportType {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: GlobalReportTypeSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schemars",
    schemars(description = "The downloads and UI summary a report of this type has.")
)]
pub struct GlobalReportTypeSpec {
    /// The UI summary (`ui-summary.json` for CIS benchmark reports).
    #[serde(
        rename = "uiSummaryTemplate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ui_summary_template: Option<ReportTemplate>,
    /// The downloads; this program renders the CIS benchmark CSVs by name.
    #[serde(
        rename = "downloadTemplates",
        default,
        deserialize_with = "super::null_as_default"
    )]
    pub download_templates: Vec<ReportTemplate>,
    /// Whether reports of this type carry CIS benchmark results; must be true.
    #[serde(rename = "includeCISBenchmarkData", default)]
    pub include_cis_benchmark_data: bool,
}

/// One download or UI summary of a report type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ReportTemplate {
    /// File name of the download, e.g. `node-summary.csv`.
    #[cfg_attr(feature = "schemars", schemars(length(min = 1)))]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Calico's Go template; `builtin` for downloads this program renders itself.
    #[serde(default)]
    pub template: String,
}

/// Template body recorded for downloads this program renders itself.
///
/// Calico stored Go templates here; the built-in renderers replace them, and the marker
/// says so to anyone reading a stored `reportTypeSpec`.
pub const BUILTIN_TEMPLATE: &str = "builtin";

/// The names of the downloads the built-in renderers produce, in their usual order.
pub const CIS_DOWNLOADS: [(&str, &str); 4] = [
    (
        "total-summary.csv",
        "Total summary of the CIS benchmark results",
    ),
    (
        "node-summary.csv",
        "Per-node summary of the CIS benchmark results",
    ),
    ("failed-tests.csv", "Every failed test of every node"),
    ("all-tests.csv", "Every included test of every node"),
];

/// Name of the UI summary download.
pub const UI_SUMMARY: &str = "ui-summary.json";

impl GlobalReportType {
    /// The built-in `cis-benchmark` type (docs/spec.md §2): four CSVs and the UI summary.
    pub fn builtin_cis_benchmark() -> GlobalReportType {
        let template = |(name, description): (&str, &str)| ReportTemplate {
            name: name.to_string(),
            description: description.to_string(),
            template: BUILTIN_TEMPLATE.to_string(),
        };
        GlobalReportType {
            api_version: API_VERSION.to_string(),
            kind: "GlobalReportType".to_string(),
            metadata: ObjectMeta {
                name: CIS_BENCHMARK_TYPE.to_string(),
                labels: BTreeMap::new(),
            },
            spec: GlobalReportTypeSpec {
                ui_summary_template: Some(template((
                    UI_SUMMARY,
                    "Node failure summary and top failed tests",
                ))),
                download_templates: CIS_DOWNLOADS.iter().copied().map(template).collect(),
                include_cis_benchmark_data: true,
            },
        }
    }

    /// Checks that this program can produce the type's downloads.
    ///
    /// Calico's types carry Go templates; this program renders the CIS downloads itself,
    /// so a type must include CIS data and ask only for downloads it knows by name.
    pub fn validate(&self) -> Vec<ValidationError> {
        let mut errors = Vec::new();
        if self.metadata.name.trim().is_empty() {
            errors.push(invalid("metadata.name", "must not be empty"));
        }
        if !self.spec.include_cis_benchmark_data {
            errors.push(invalid(
                "spec.includeCISBenchmarkData",
                "must be true: only CIS benchmark report types are supported",
            ));
        }
        for (i, t) in self.spec.download_templates.iter().enumerate() {
            if !CIS_DOWNLOADS.iter().any(|(n, _)| *n == t.name) && t.name != UI_SUMMARY {
                errors.push(invalid(
                    &format!("spec.downloadTemplates[{i}].name"),
                    format!(
                        "{:?} is not a built-in download (known: {}, {UI_SUMMARY})",
                        t.name,
                        CIS_DOWNLOADS.map(|(n, _)| n).join(", ")
                    ),
                ));
            }
        }
        errors
    }
}
