//! The stored report document (docs/spec.md §5).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::benchmark::{TestStatus, TestText};
use super::global_report::{GlobalReportSpec, GlobalReportTypeSpec};
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

/// One node's results in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CisBenchmarkNode {
    #[serde(rename = "nodeName")]
    pub node_name: String,
    #[serde(rename = "kubernetesVersion")]
    pub kubernetes_version: String,
    #[serde(rename = "benchmarksVersion")]
    pub benchmarks_version: String,
    pub summary: NodeSummary,
    pub results: Vec<SectionResult>,
    /// Why the node has no results: its latest run in the window failed (docs/spec.md §4.2).
    /// Not in Calico's schema; omitted when empty so Calico readers see the same document.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
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
    pub results: Vec<TestResult>,
}

/// One included test of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    pub text: Arc<TestText>,
    pub status: TestStatus,
    pub scored: bool,
}

impl TestResult {
    pub fn test_number(&self) -> &str {
        &self.text.test_number
    }
}

impl Serialize for TestResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("TestResult", 5)?;
        st.serialize_field("testNumber", &self.text.test_number)?;
        st.serialize_field("testDesc", &self.text.test_desc)?;
        st.serialize_field("testInfo", &self.text.test_info)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("scored", &self.scored)?;
        st.end()
    }
}

impl Serialize for SectionResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("SectionResult", 7)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("section", &self.section)?;
        st.serialize_field("desc", &self.desc)?;
        st.serialize_field("pass", &self.pass)?;
        st.serialize_field("fail", &self.fail)?;
        st.serialize_field("info", &self.info)?;
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
            })
            .collect();
        Ok(SectionResult {
            status: w.status,
            section: w.section,
            desc: w.desc,
            pass: w.pass,
            fail: w.fail,
            info: w.info,
            results,
        })
    }
}

impl ReportDocument {
    /// Nodes rated `level` or worse, in report order.
    pub fn nodes_at_or_below(&self, level: Rating) -> impl Iterator<Item = &CisBenchmarkNode> {
        self.cis_benchmark
            .iter()
            .filter(move |n| n.summary.status.at_or_below(level))
    }
}
