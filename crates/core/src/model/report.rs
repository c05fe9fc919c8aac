//! The stored report document (docs/spec.md §5).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::benchmark::{TestStatus, TestText};
use super::global_report::{CisParams, GlobalReportSpec, GlobalReportTypeSpec, NotObservedAs};
use super::waiver::WaiverOutcome;
use crate::time;

/// A node's or section's rating against the report's thresholds (docs/spec.md §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Rating {
    #[serde(rename = "HIGH")]
    High,
    #[serde(rename = "MED")]
    Med,
    #[serde(rename = "LOW")]
    Low,
}

impl Rating {
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::High => "HIGH",
            Rating::Med => "MED",
            Rating::Low => "LOW",
        }
    }

    /// Whether this rating is `level` or worse (LOW is worse than MED, MED than HIGH).
    pub fn at_or_below(self, level: Rating) -> bool {
        self >= level
    }
}

impl fmt::Display for Rating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Rating {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "high" => Ok(Rating::High),
            "med" | "medium" => Ok(Rating::Med),
            "low" => Ok(Rating::Low),
            _ => Err(format!("{s:?} is not one of high, med, low")),
        }
    }
}

/// One stored CIS benchmark report.
///
/// Reads every report Calico Enterprise wrote (docs/spec.md §5); see [`StoredReport`] for
/// what may be missing and what stands in for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredReport")]
pub struct ReportDocument {
    pub id: String,
    #[serde(rename = "reportName")]
    pub report_name: String,
    #[serde(rename = "reportTypeName")]
    pub report_type_name: String,
    #[serde(rename = "reportSpec")]
    pub report_spec: GlobalReportSpec,
    #[serde(rename = "reportTypeSpec")]
    pub report_type_spec: GlobalReportTypeSpec,
    #[serde(rename = "startTime", with = "time::seconds")]
    pub start_time: DateTime<Utc>,
    #[serde(rename = "endTime", with = "time::seconds")]
    pub end_time: DateTime<Utc>,
    #[serde(rename = "generationTime", with = "time::seconds")]
    pub generation_time: DateTime<Utc>,
    #[serde(rename = "cisBenchmarkSummary")]
    pub cis_benchmark_summary: CisBenchmarkSummary,
    #[serde(rename = "cisBenchmark")]
    pub cis_benchmark: Vec<CisBenchmarkNode>,
    /// The UI summary, itself a JSON document, stored as a string as Calico did.
    #[serde(rename = "uiSummary")]
    pub ui_summary: String,
    pub cluster: String,
    #[serde(with = "time::seconds")]
    pub generated_time: DateTime<Utc>,
    /// What produced the report and from what: absent from reports of earlier releases and
    /// of Calico Enterprise (and then omitted when written back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Every GlobalReportWaiver that concerned this report, as it was when the report was
    /// made, and what it did here (applied, expired, matched nothing): the record of who
    /// accepted which risk, until when. Not in Calico's schema; omitted when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<WaiverOutcome>,
}

/// How a report was made: the reporter, the rules as applied, and the data it read.
///
/// Auditors ask what was measured, when and with which tool; a report answers for itself
/// instead of relying on logs that are gone by the time someone asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The version of the reporter that computed the report.
    #[serde(rename = "reporterVersion")]
    pub reporter_version: String,
    /// The look-back actually queried (docs/spec.md §4.1), both ends inclusive: wider than
    /// the window when the window is shorter than 36 hours.
    #[serde(rename = "queryStart", with = "time::seconds")]
    pub query_start: DateTime<Utc>,
    #[serde(rename = "queryEnd", with = "time::seconds")]
    pub query_end: DateTime<Utc>,
    /// `spec.cis` with every default applied: the rules the counts follow.
    pub cis: AppliedCisParams,
    /// Where the nodes expected in the report came from (`nodes`: the Node API,
    /// `previous report`), so that a report without them says it could not check.
    #[serde(rename = "expectedNodesFrom", default)]
    pub expected_nodes_from: Vec<String>,
}

/// `spec.cis` as applied (defaults filled), recorded in [`Provenance`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedCisParams {
    #[serde(rename = "highThreshold")]
    pub high_threshold: u32,
    #[serde(rename = "medThreshold")]
    pub med_threshold: u32,
    #[serde(rename = "includeUnscoredTests")]
    pub include_unscored_tests: bool,
    #[serde(rename = "numFailedTests")]
    pub num_failed_tests: u64,
    #[serde(rename = "notObservedAs")]
    pub not_observed_as: NotObservedAs,
}

impl From<&CisParams> for AppliedCisParams {
    fn from(p: &CisParams) -> Self {
        AppliedCisParams {
            high_threshold: p.high_threshold,
            med_threshold: p.med_threshold,
            include_unscored_tests: p.include_unscored_tests,
            num_failed_tests: p.num_failed_tests as u64,
            not_observed_as: p.not_observed_as,
        }
    }
}

/// A report as stored, before the values a Calico Enterprise report may lack are filled:
///
/// - `id`: absent from Calico's documents, whose Elasticsearch `_id` is the id; empty
///   here until [`ReportDocument::fill_missing`] sets it;
/// - `cisBenchmark`: absent (or `null`) when the report has no nodes: no nodes;
/// - `cluster`: absent before 2023; empty here until [`ReportDocument::fill_missing`]
///   sets the store's cluster name;
/// - `generated_time`: absent before 2023: the `generationTime` stands in;
/// - any other key (Calico's empty `endpointsSummary`, `namespacesSummary`,
///   `servicesSummary`, `auditSummary`, or the data of other report types): ignored.
#[derive(Deserialize)]
struct StoredReport {
    #[serde(default)]
    id: String,
    #[serde(rename = "reportName")]
    report_name: String,
    #[serde(rename = "reportTypeName")]
    report_type_name: String,
    #[serde(rename = "reportSpec")]
    report_spec: GlobalReportSpec,
    #[serde(rename = "reportTypeSpec")]
    report_type_spec: GlobalReportTypeSpec,
    #[serde(rename = "startTime", with = "time::seconds")]
    start_time: DateTime<Utc>,
    #[serde(rename = "endTime", with = "time::seconds")]
    end_time: DateTime<Utc>,
    #[serde(rename = "generationTime", with = "time::seconds")]
    generation_time: DateTime<Utc>,
    #[serde(rename = "cisBenchmarkSummary")]
    cis_benchmark_summary: CisBenchmarkSummary,
    #[serde(
        rename = "cisBenchmark",
        default,
        deserialize_with = "super::null_as_default"
    )]
    cis_benchmark: Vec<CisBenchmarkNode>,
    #[serde(rename = "uiSummary", default)]
    ui_summary: String,
    #[serde(default)]
    cluster: String,
    #[serde(default, deserialize_with = "optional_time")]
    generated_time: Option<DateTime<Utc>>,
    #[serde(default)]
    provenance: Option<Provenance>,
    #[serde(default, deserialize_with = "super::null_as_default")]
    waivers: Vec<WaiverOutcome>,
}

fn optional_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => time::parse(&text)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format_args!("{text:?}: {e}"))),
    }
}

impl From<StoredReport> for ReportDocument {
    fn from(r: StoredReport) -> ReportDocument {
        ReportDocument {
            id: r.id,
            report_name: r.report_name,
            report_type_name: r.report_type_name,
            report_spec: r.report_spec,
            report_type_spec: r.report_type_spec,
            start_time: r.start_time,
            end_time: r.end_time,
            generation_time: r.generation_time,
            cis_benchmark_summary: r.cis_benchmark_summary,
            cis_benchmark: r.cis_benchmark,
            ui_summary: r.ui_summary,
            cluster: r.cluster,
            generated_time: r.generated_time.unwrap_or(r.generation_time),
            provenance: r.provenance,
            waivers: r.waivers,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CisBenchmarkSummary {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "highCount")]
    pub high_count: u64,
    #[serde(rename = "medCount")]
    pub med_count: u64,
    #[serde(rename = "lowCount")]
    pub low_count: u64,
    /// Nodes counted in `lowCount` because they have no result in the look-back
    /// (docs/spec.md §4.2). Not in Calico's schema; omitted when zero.
    #[serde(rename = "noResultsCount", default, skip_serializing_if = "is_zero")]
    pub no_results_count: u64,
    /// Failed tests a waiver accepted in this report, on every node. Not in Calico's
    /// schema; omitted when zero.
    #[serde(rename = "waivedCount", default, skip_serializing_if = "is_zero")]
    pub waived_count: u64,
    /// The node counts had no waiver applied: how much of the rating is accepted risk.
    /// Present only when a waiver changed something.
    #[serde(
        rename = "withoutWaivers",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub without_waivers: Option<RatingCounts>,
}

/// Nodes per rating.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingCounts {
    #[serde(rename = "highCount")]
    pub high_count: u64,
    #[serde(rename = "medCount")]
    pub med_count: u64,
    #[serde(rename = "lowCount")]
    pub low_count: u64,
}

impl RatingCounts {
    /// Counts one more node rated `r`.
    pub fn add(&mut self, r: Rating) {
        match r {
            Rating::High => self.high_count += 1,
            Rating::Med => self.med_count += 1,
            Rating::Low => self.low_count += 1,
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One node's results in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CisBenchmarkNode {
    #[serde(rename = "nodeName")]
    pub node_name: String,
    #[serde(rename = "kubernetesVersion", default)]
    pub kubernetes_version: String,
    #[serde(rename = "benchmarksVersion", default)]
    pub benchmarks_version: String,
    pub summary: NodeSummary,
    /// Calico wrote `null` for a node without sections.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub results: Vec<SectionResult>,
    /// Why the node has no results: its latest run in the window failed (docs/spec.md §4.2).
    /// Not in Calico's schema; omitted when empty so Calico readers see the same document.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// The node is in the cluster (or was in the previous report) but has no result in the
    /// look-back: it rates LOW with nothing counted. Not in Calico's schema; omitted when
    /// false.
    #[serde(rename = "noResults", default, skip_serializing_if = "is_false")]
    pub no_results: bool,
    /// When the result this entry shows was taken; for a node with `noResults`, its last
    /// result ever, absent when it never had one. Provenance, omitted when unknown.
    #[serde(
        rename = "lastResultTime",
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::optional_seconds"
    )]
    pub last_result_time: Option<DateTime<Utc>>,
    /// Provenance of the result, from its benchmark document (empty when unknown).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub platform: String,
    #[serde(
        rename = "kubeBenchVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub kube_bench_version: String,
    #[serde(
        rename = "benchmarkerVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub benchmarker_version: String,
    #[serde(
        rename = "benchmarkChoice",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub benchmark_choice: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSummary {
    pub status: Rating,
    #[serde(rename = "totalPass")]
    pub total_pass: u64,
    #[serde(rename = "totalFail")]
    pub total_fail: u64,
    #[serde(rename = "totalInfo")]
    pub total_info: u64,
    pub total: u64,
    /// Failed tests a waiver accepted: left out of `totalFail` and `total`, which count
    /// what is not accepted. Not in Calico's schema; omitted when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub waived: u64,
    /// The rating had no waiver applied (its FAILs counted as failures); present only
    /// when a waiver accepted something on this node.
    #[serde(
        rename = "statusWithoutWaivers",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub status_without_waivers: Option<Rating>,
}

/// One section (kube-bench group) of a node's results.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionResult {
    pub status: Rating,
    pub section: String,
    pub desc: String,
    pub pass: u64,
    pub fail: u64,
    pub info: u64,
    /// Failed tests of the section a waiver accepted (left out of `fail`).
    pub waived: u64,
    pub results: Vec<TestResult>,
}

/// One included test of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    pub text: Arc<TestText>,
    pub status: TestStatus,
    pub scored: bool,
    /// The GlobalReportWaiver that accepted this failure; the status stays FAIL.
    pub waiver: Option<Arc<str>>,
}

impl TestResult {
    pub fn test_number(&self) -> &str {
        &self.text.test_number
    }
}

impl Serialize for TestResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let len = 5 + usize::from(self.waiver.is_some());
        let mut st = s.serialize_struct("TestResult", len)?;
        st.serialize_field("testNumber", &self.text.test_number)?;
        st.serialize_field("testDesc", &self.text.test_desc)?;
        st.serialize_field("testInfo", &self.text.test_info)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("scored", &self.scored)?;
        if let Some(w) = &self.waiver {
            st.serialize_field("waiver", &**w)?;
        }
        st.end()
    }
}

impl Serialize for SectionResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let len = 7 + usize::from(self.waived > 0);
        let mut st = s.serialize_struct("SectionResult", len)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("section", &self.section)?;
        st.serialize_field("desc", &self.desc)?;
        st.serialize_field("pass", &self.pass)?;
        st.serialize_field("fail", &self.fail)?;
        st.serialize_field("info", &self.info)?;
        if self.waived > 0 {
            st.serialize_field("waived", &self.waived)?;
        }
        st.serialize_field("results", &self.results)?;
        st.end()
    }
}

#[derive(Deserialize)]
struct WireSection {
    status: Rating,
    section: String,
    #[serde(default)]
    desc: String,
    pass: u64,
    fail: u64,
    info: u64,
    #[serde(default)]
    waived: u64,
    #[serde(default, deserialize_with = "super::null_as_default")]
    results: Vec<WireTestResult>,
}

#[derive(Deserialize)]
struct WireTestResult {
    #[serde(rename = "testNumber")]
    test_number: String,
    #[serde(rename = "testDesc", default)]
    test_desc: String,
    #[serde(rename = "testInfo", default)]
    test_info: String,
    status: TestStatus,
    scored: bool,
    #[serde(default)]
    waiver: Option<String>,
}

impl<'de> Deserialize<'de> for SectionResult {
    /// Rebuilds each test's shared text from the section it sits in, since the report
    /// schema keeps the section only once per group.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WireSection::deserialize(d)?;
        let results = w
            .results
            .into_iter()
            .map(|t| TestResult {
                text: Arc::new(TestText {
                    section: w.section.clone(),
                    section_desc: w.desc.clone(),
                    test_number: t.test_number,
                    test_desc: t.test_desc,
                    test_info: t.test_info,
                }),
                status: t.status,
                scored: t.scored,
                waiver: t.waiver.map(Arc::from),
            })
            .collect();
        Ok(SectionResult {
            status: w.status,
            section: w.section,
            desc: w.desc,
            pass: w.pass,
            fail: w.fail,
            info: w.info,
            waived: w.waived,
            results,
        })
    }
}

impl ReportDocument {
    /// Fills the keys a report Calico Enterprise wrote may lack (docs/spec.md §5): an
    /// empty `id` becomes `stored_id`, the Elasticsearch `_id` the report was read
    /// under, and an empty `cluster` becomes `cluster`, the name of the cluster whose
    /// indices hold it (ELASTIC_INDEX_SUFFIX).
    pub fn fill_missing(&mut self, stored_id: &str, cluster: &str) {
        if self.id.is_empty() {
            self.id = stored_id.to_string();
        }
        if self.cluster.is_empty() {
            self.cluster = cluster.to_string();
        }
    }

    /// Nodes rated `level` or worse, in report order.
    pub fn nodes_at_or_below(&self, level: Rating) -> impl Iterator<Item = &CisBenchmarkNode> {
        self.cis_benchmark
            .iter()
            .filter(move |n| n.summary.status.at_or_below(level))
    }
}

#[cfg(test)]
mod tests {
    //! One test per shape of docs/spec.md §5 "Reading old reports": what Calico Enterprise
    //! stored must read unchanged.

    use super::*;
    use serde_json::{Value, json};

    /// A report as Calico Enterprise stored it before 2023: no `id`, `cluster` or
    /// `generated_time`, the empty summaries of its other report types.
    fn calico_2022() -> Value {
        json!({
            "reportName": "daily-cis-results",
            "reportTypeName": "cis-benchmark",
            "reportSpec": {"reportType": "cis-benchmark", "schedule": "0 0 * * *"},
            "reportTypeSpec": {
                "uiSummaryTemplate": {"name": "ui-summary.json", "template": "{}"},
                "downloadTemplates": [{"name": "node-summary.csv", "description": "Nodes", "template": "node\n"}],
                "includeCISBenchmarkData": true
            },
            "startTime": "2022-03-01T00:00:00Z",
            "endTime": "2022-03-02T00:00:00Z",
            "generationTime": "2022-03-02T00:31:07Z",
            "endpointsSummary": {},
            "namespacesSummary": {},
            "servicesSummary": {},
            "auditSummary": {},
            "cisBenchmark": [{
                "nodeName": "n1", "kubernetesVersion": "1.18.9", "benchmarksVersion": "cis-1.5",
                "summary": {"status": "HIGH", "totalPass": 1, "totalFail": 0, "totalInfo": 0, "total": 1},
                "results": [{"status": "HIGH", "section": "4.1", "desc": "Worker Node Configuration Files",
                    "pass": 1, "fail": 0, "info": 0,
                    "results": [{"testNumber": "4.1.1", "testDesc": "d", "testInfo": "i", "status": "PASS", "scored": true}]}]
            }],
            "cisBenchmarkSummary": {"type": "kube", "highCount": 1, "medCount": 0, "lowCount": 0},
            "uiSummary": "{\"heading\": \"Kubernetes CIS Benchmark\"}"
        })
    }

    fn read(v: &Value) -> ReportDocument {
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("does not read: {e}"))
    }

    #[test]
    fn a_report_without_id_takes_the_id_it_is_stored_under() {
        let mut r = read(&calico_2022());
        assert_eq!(r.id, "");
        r.fill_missing("daily-cis-results_cis-benchmark_x", "cluster");
        assert_eq!(r.id, "daily-cis-results_cis-benchmark_x");
        // A stored id wins over the document's _id.
        let mut with_id = calico_2022();
        with_id["id"] = json!("stored");
        let mut r = read(&with_id);
        r.fill_missing("other", "cluster");
        assert_eq!(r.id, "stored");
    }

    #[test]
    fn a_report_without_nodes_has_no_cis_benchmark_key() {
        let mut v = calico_2022();
        v.as_object_mut().unwrap().remove("cisBenchmark");
        assert!(read(&v).cis_benchmark.is_empty());
        v["cisBenchmark"] = Value::Null;
        assert!(read(&v).cis_benchmark.is_empty());
    }

    #[test]
    fn a_node_whose_results_are_null_has_no_sections() {
        let mut v = calico_2022();
        v["cisBenchmark"][0]["results"] = Value::Null;
        let r = read(&v);
        assert_eq!(r.cis_benchmark.len(), 1);
        assert!(r.cis_benchmark[0].results.is_empty());
        // A section whose tests are null, likewise.
        let mut v = calico_2022();
        v["cisBenchmark"][0]["results"][0]["results"] = Value::Null;
        assert!(read(&v).cis_benchmark[0].results[0].results.is_empty());
    }

    #[test]
    fn a_report_before_2023_has_no_cluster_and_its_generation_time_stands_in() {
        let mut r = read(&calico_2022());
        assert_eq!(r.generated_time, r.generation_time);
        assert_eq!(r.cluster, "");
        r.fill_missing("id", "east");
        assert_eq!(r.cluster, "east");
        // Written since: both kept.
        let mut v = calico_2022();
        v["cluster"] = json!("west");
        v["generated_time"] = json!("2022-03-02T00:31:09Z");
        let mut r = read(&v);
        r.fill_missing("id", "east");
        assert_eq!(r.cluster, "west");
        assert_eq!(time::format(&r.generated_time), "2022-03-02T00:31:09Z");
        v["generated_time"] = json!("soon");
        let e = serde_json::from_value::<ReportDocument>(v).unwrap_err();
        assert!(e.to_string().contains("soon"), "{e}");
    }

    #[test]
    fn empty_node_versions_are_read_as_empty() {
        let mut v = calico_2022();
        v["cisBenchmark"][0]["kubernetesVersion"] = json!("");
        v["cisBenchmark"][0]["benchmarksVersion"] = json!("");
        let r = read(&v);
        assert_eq!(r.cis_benchmark[0].kubernetes_version, "");
        assert_eq!(r.cis_benchmark[0].benchmarks_version, "");
    }

    #[test]
    fn calicos_empty_summaries_and_other_keys_are_ignored() {
        let mut v = calico_2022();
        v["auditSummary"] = json!({"numTotal": 3});
        v["flows"] = json!([{"source": {"kind": "Pod", "name": "a"}}]);
        let r = read(&v);
        assert_eq!(r.report_name, "daily-cis-results");
        // Written back, the report has only the keys of docs/spec.md §5.
        let back = serde_json::to_value(&r).unwrap();
        for key in ["endpointsSummary", "auditSummary", "flows"] {
            assert!(back.get(key).is_none(), "{key}");
        }
    }

    #[test]
    fn calicos_report_spec_with_omitted_and_null_fields_is_read() {
        let mut v = calico_2022();
        // Go's omitempty leaves out `cis`, `includeUnscoredTests` and `jobNodeSelector`;
        // a nil slice or map is written as null.
        v["reportSpec"] = json!({
            "reportType": "cis-benchmark",
            "jobNodeSelector": null,
            "cis": {"resultsFilters": null, "numFailedTests": 3,
                    "highThreshold": 90, "medThreshold": 60},
        });
        v["reportTypeSpec"]["downloadTemplates"] = Value::Null;
        let r = read(&v);
        let cis = r.report_spec.cis.as_ref().unwrap();
        assert!(cis.results_filters.is_empty());
        assert_eq!(cis.include_unscored_tests, None);
        assert!(r.report_spec.job_node_selector.is_empty());
        assert!(r.report_type_spec.download_templates.is_empty());
        let params = r.report_spec.cis_params().unwrap();
        assert_eq!((params.high_threshold, params.med_threshold), (90, 60));
        v["reportSpec"] = json!({"reportType": "cis-benchmark",
            "cis": {"resultsFilters": [{"benchmarkSelection": null, "include": null, "exclude": ["1.1.1"]}]}});
        let r = read(&v);
        let f = &r.report_spec.cis.as_ref().unwrap().results_filters[0];
        assert!(f.include.is_empty() && f.benchmark_selection.is_none());
        assert_eq!(f.exclude, ["1.1.1"]);
    }

    #[test]
    fn our_reports_read_back_unchanged() {
        let mut r = read(&calico_2022());
        r.fill_missing("daily_cis-benchmark_x", "cluster");
        let again: ReportDocument =
            serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(again, r);
    }
}
