//! The benchmark result document: one node's CIS run (docs/spec.md §3).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Default `cluster` value: the ELASTIC_INDEX_SUFFIX default.
pub const DEFAULT_CLUSTER: &str = "cluster";

/// The `node_name` of the cluster-scoped checks (kube-bench's `policies` and
/// `managedservices` targets), which run once per cluster instead of on every node.
///
/// Parentheses cannot appear in a Kubernetes node name (a DNS subdomain), so this entry
/// never collides with a real node.
pub const CLUSTER_SCOPE_NODE_NAME: &str = "(cluster)";

/// One node's benchmark run as stored in `tigera_secure_ee_benchmark_results.*`.
///
/// `version`, `kubernetesVersion`, `type`, `node_name` and `timestamp` are required:
/// a document without them cannot be placed in a report, so it is rejected rather than
/// guessed. `error`, `tests` and `cluster` default to empty / `cluster`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkDocument {
    pub version: String,
    #[serde(rename = "kubernetesVersion")]
    pub kubernetes_version: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub node_name: String,
    pub timestamp: DateTime<Utc>,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub tests: Vec<BenchmarkTest>,
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// Where the node runs: `eks`, `gke`, `aks`, `ocp`, `k3s`, `rke`, `rke2`, or
    /// `kubernetes` (self-managed). Provenance, not in Calico's schema: omitted when empty,
    /// and empty in documents from earlier releases or other writers.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub platform: String,
    /// kube-bench's own version, as `kube-bench version` printed it. Provenance.
    #[serde(
        rename = "kubeBenchVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub kube_bench_version: String,
    /// The version of the benchmarker that ran kube-bench. Provenance.
    #[serde(
        rename = "benchmarkerVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub benchmarker_version: String,
    /// How the benchmark was chosen, in words (`platform eks 1.29 → eks-1.7.0`, or why it
    /// fell back). Provenance.
    #[serde(
        rename = "benchmarkChoice",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub benchmark_choice: String,
}

fn default_cluster() -> String {
    DEFAULT_CLUSTER.to_string()
}

impl BenchmarkDocument {
    /// Whether the run itself failed (docs/spec.md §3: `error` is set).
    pub fn is_errored(&self) -> bool {
        !self.error.trim().is_empty()
    }

    /// Decodes one document from its JSON and checks it, or says why it is not usable:
    /// the message names the offending key (`tests[3].status: ...`), which serde alone
    /// does not. Shared by every reader of stored or exported documents, so the
    /// `kubernetesVersion` is put in its one spelling here ([`crate::version::canonical`]):
    /// an export from an earlier release imports as the benchmarker would store it.
    pub fn decode(json: &[u8]) -> Result<BenchmarkDocument, String> {
        let mut de = serde_json::Deserializer::from_slice(json);
        let mut doc: BenchmarkDocument =
            serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let inner = describe_json_error(e.inner());
                if e.path().iter().next().is_some() {
                    format!("{}: {inner}", e.path())
                } else {
                    inner
                }
            })?;
        de.end().map_err(|e| describe_json_error(&e))?;
        doc.validate()?;
        let kubernetes_version = std::mem::take(&mut doc.kubernetes_version);
        doc.kubernetes_version = crate::version::into_canonical(kubernetes_version);
        Ok(doc)
    }

    /// Checks what serde cannot: values that are present but unusable.
    pub fn validate(&self) -> Result<(), String> {
        if self.node_name.trim().is_empty() {
            return Err("node_name is empty".into());
        }
        for (i, t) in self.tests.iter().enumerate() {
            if t.text.test_number.trim().is_empty() {
                return Err(format!("tests[{i}].test_number is empty"));
            }
        }
        Ok(())
    }
}

/// serde_json's message with "line 1" dropped: readers of many lines count lines themselves.
fn describe_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(message) => format!("{message} (column {})", e.column()),
        None => text,
    }
}

/// The descriptive part of a test, shared between every node that ran the same benchmark.
///
/// Ten thousand nodes run the same ~130 checks with the same long descriptions and
/// remediation texts; holding the text once behind an `Arc` keeps a whole report's
/// memory proportional to the number of results, not to the bytes of text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TestText {
    pub section: String,
    pub section_desc: String,
    pub test_number: String,
    pub test_desc: String,
    pub test_info: String,
}

/// One check's outcome within a benchmark document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BenchmarkTest {
    pub text: Arc<TestText>,
    pub status: TestStatus,
    pub scored: bool,
}

/// A test's status. kube-bench prints PASS, FAIL, WARN or INFO; anything else is kept
/// verbatim so it can be logged and reported, but counts nowhere (docs/spec.md §4.5).
///
/// `NOT_OBSERVED` is ours: kube-bench said PASS, but the check's audit produced no
/// output at all (the file it inspects does not exist, the process it reads is not
/// running), so nothing was observed that could pass. kube-bench passes such checks
/// because their tests read "X is not present"; on managed control planes that turns
/// every unreachable control-plane check into a PASS. A reader that knows only the four
/// kube-bench statuses (Calico's) counts it nowhere, which is not a pass either.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TestStatus {
    Pass,
    Fail,
    Warn,
    Info,
    NotObserved,
    Other(Arc<str>),
}

/// The status text of [`TestStatus::NotObserved`].
pub const NOT_OBSERVED: &str = "NOT_OBSERVED";

impl TestStatus {
    pub fn parse(s: &str) -> TestStatus {
        match s {
            "PASS" => TestStatus::Pass,
            "FAIL" => TestStatus::Fail,
            "WARN" => TestStatus::Warn,
            "INFO" => TestStatus::Info,
            NOT_OBSERVED => TestStatus::NotObserved,
            other => TestStatus::Other(Arc::from(other)),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            TestStatus::Pass => "PASS",
            TestStatus::Fail => "FAIL",
            TestStatus::Warn => "WARN",
            TestStatus::Info => "INFO",
            TestStatus::NotObserved => NOT_OBSERVED,
            TestStatus::Other(s) => s,
        }
    }
}

impl fmt::Display for TestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TestStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TestStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(TestStatus::parse(&s))
    }
}

impl Serialize for BenchmarkTest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("BenchmarkTest", 7)?;
        st.serialize_field("section", &self.text.section)?;
        st.serialize_field("section_desc", &self.text.section_desc)?;
        st.serialize_field("test_number", &self.text.test_number)?;
        st.serialize_field("test_desc", &self.text.test_desc)?;
        st.serialize_field("test_info", &self.text.test_info)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("scored", &self.scored)?;
        st.end()
    }
}

/// The wire form of a test; `section_desc` and `test_info` may be absent in old data.
#[derive(Deserialize)]
struct WireTest {
    section: String,
    #[serde(default)]
    section_desc: String,
    test_number: String,
    test_desc: String,
    #[serde(default)]
    test_info: String,
    status: TestStatus,
    scored: bool,
}

impl<'de> Deserialize<'de> for BenchmarkTest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WireTest::deserialize(d)?;
        if w.test_number.is_empty() {
            return Err(D::Error::custom("test_number is empty"));
        }
        Ok(BenchmarkTest {
            text: Arc::new(TestText {
                section: w.section,
                section_desc: w.section_desc,
                test_number: w.test_number,
                test_desc: w.test_desc,
                test_info: w.test_info,
            }),
            status: w.status,
            scored: w.scored,
        })
    }
}

/// Shares identical [`TestText`]s between documents.
///
/// Adapters that read many documents (import, stores) pass them through one interner so
/// that a 10,000-node report holds each description once.
#[derive(Debug, Default)]
pub struct TextInterner {
    texts: HashSet<Arc<TestText>>,
}

impl TextInterner {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn intern(&mut self, text: Arc<TestText>) -> Arc<TestText> {
        if let Some(existing) = self.texts.get(&text) {
            return existing.clone();
        }
        self.texts.insert(text.clone());
        text
    }

    /// Replaces every test text of `doc` by its shared copy.
    pub fn intern_document(&mut self, doc: &mut BenchmarkDocument) {
        for t in &mut doc.tests {
            t.text = self.intern(t.text.clone());
        }
    }

    /// Replaces every test text of report nodes by its shared copy: a report read back
    /// from JSON otherwise holds one copy per node and test.
    pub fn intern_nodes(&mut self, nodes: &mut [crate::model::CisBenchmarkNode]) {
        for t in nodes
            .iter_mut()
            .flat_map(|n| &mut n.results)
            .flat_map(|s| &mut s.results)
        {
            t.text = self.intern(t.text.clone());
        }
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{
      "version": "cis-1.9", "kubernetesVersion": "1.29.3", "type": "kube",
      "node_name": "ip-10-0-1-7", "timestamp": "2026-11-26T10:00:00Z", "error": "",
      "tests": [ { "section": "1.1", "section_desc": "Control Plane Node Configuration Files",
                   "test_number": "1.1.1",
                   "test_desc": "Ensure that the API server pod specification file permissions are set to 600 or more restrictive (Automated)",
                   "test_info": "Run the below command (based on the file location on your system) on the control plane node.",
                   "status": "PASS", "scored": true },
                 { "section": "1.1", "section_desc": "Control Plane Node Configuration Files",
                   "test_number": "1.1.9", "test_desc": "Ensure that the CNI file permissions are set (Manual)",
                   "test_info": "chmod 600 <path/to/cni/files>", "status": "WARN", "scored": false } ],
      "cluster": "cluster" }"#;

    #[test]
    fn round_trips_the_spec_document() {
        let doc: BenchmarkDocument = serde_json::from_str(DOC).unwrap();
        assert_eq!(doc.node_name, "ip-10-0-1-7");
        assert_eq!(doc.kubernetes_version, "1.29.3");
        assert_eq!(doc.tests[1].status, TestStatus::Warn);
        assert!(!doc.tests[1].scored);
        let back = serde_json::to_value(&doc).unwrap();
        let orig: serde_json::Value = serde_json::from_str(DOC).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn decoding_puts_the_kubernetes_version_in_its_one_spelling() {
        let text = DOC.replace("\"1.29.3\"", "\"v1.29.3-eks-1a2b\"");
        let doc = BenchmarkDocument::decode(text.as_bytes()).unwrap();
        assert_eq!(doc.kubernetes_version, "1.29.3");
        let doc = BenchmarkDocument::decode(DOC.as_bytes()).unwrap();
        assert_eq!(doc.kubernetes_version, "1.29.3");
    }

    #[test]
    fn missing_required_key_is_named() {
        let mut v: serde_json::Value = serde_json::from_str(DOC).unwrap();
        v.as_object_mut().unwrap().remove("node_name");
        let err = serde_json::from_value::<BenchmarkDocument>(v).unwrap_err();
        assert!(err.to_string().contains("node_name"), "{err}");
    }

    #[test]
    fn errored_document_needs_no_tests() {
        let doc: BenchmarkDocument = serde_json::from_str(
            r#"{"version":"","kubernetesVersion":"","type":"kube","node_name":"n1",
                "timestamp":"2026-11-26T10:00:00Z","error":"kubelet not found"}"#,
        )
        .unwrap();
        assert!(doc.is_errored());
        assert!(doc.tests.is_empty());
        assert_eq!(doc.cluster, "cluster");
    }

    #[test]
    fn unknown_status_is_kept_verbatim() {
        assert_eq!(TestStatus::parse("SKIP").as_str(), "SKIP");
        assert_eq!(TestStatus::parse("FAIL"), TestStatus::Fail);
    }

    #[test]
    fn interner_shares_equal_texts() {
        let a: BenchmarkDocument = serde_json::from_str(DOC).unwrap();
        let mut b = a.clone();
        b.tests = a
            .tests
            .iter()
            .map(|t| BenchmarkTest {
                text: Arc::new((*t.text).clone()),
                ..t.clone()
            })
            .collect();
        let mut i = TextInterner::new();
        let (mut a, mut b) = (a, b);
        i.intern_document(&mut a);
        i.intern_document(&mut b);
        assert!(Arc::ptr_eq(&a.tests[0].text, &b.tests[0].text));
        assert_eq!(i.len(), 2);
    }
}
