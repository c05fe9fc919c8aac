//! Reading less: each node's statuses without the test texts, and each text once per
//! benchmark version.
//!
//! A benchmark document repeats the description and remediation of all its ~125 checks,
//! 57 KB a node, although every node of a benchmark version ran the same definitions. The
//! latest-per-node search therefore asks only for each test's number and status
//! ([`STATUS_FIELDS`]); the description, remediation, section and `scored` flag of each
//! (benchmark version, test number) come from the first document of the read that has
//! that test, fetched whole once. kube-bench takes them from the version's definition
//! files, so they are the same on every node running that version.
//!
//! Pure: [`TestTexts::to_fetch`] says which documents to fetch, [`TestTexts::learn`]
//! takes their tests in, [`TestTexts::complete`] puts a node's document back together.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use compliance_core::model::{BenchmarkDocument, BenchmarkTest, TestStatus, TestText};

/// The `_source` a node's latest document is read with: everything but the test texts.
pub const STATUS_FIELDS: [&str; 13] = [
    "version",
    "kubernetesVersion",
    "type",
    "node_name",
    "timestamp",
    "error",
    "cluster",
    "platform",
    "kubeBenchVersion",
    "benchmarkerVersion",
    "benchmarkChoice",
    "tests.test_number",
    "tests.status",
];

/// The `_source` of a document fetched for its texts.
pub const TEXT_FIELDS: [&str; 2] = ["version", "tests"];

/// A node's document as read with [`STATUS_FIELDS`]: its tests are numbers and statuses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SlimDocument {
    #[serde(skip)]
    pub index: String,
    #[serde(skip)]
    pub id: String,
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
    pub tests: Vec<SlimTest>,
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// Provenance, copied into a report's node: absent from documents of earlier
    /// releases and other writers.
    #[serde(default)]
    pub platform: String,
    #[serde(rename = "kubeBenchVersion", default)]
    pub kube_bench_version: String,
    #[serde(rename = "benchmarkerVersion", default)]
    pub benchmarker_version: String,
    #[serde(rename = "benchmarkChoice", default)]
    pub benchmark_choice: String,
}

fn default_cluster() -> String {
    compliance_core::model::benchmark::DEFAULT_CLUSTER.to_string()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SlimTest {
    pub test_number: String,
    pub status: TestStatus,
}

/// A document fetched whole for its texts ([`TEXT_FIELDS`]).
#[derive(Debug, Deserialize)]
pub struct TextDocument {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub tests: Vec<BenchmarkTest>,
}

/// The texts known so far, by (benchmark version, test number).
#[derive(Debug, Default)]
pub struct TestTexts {
    known: HashMap<(String, String), (Arc<TestText>, bool)>,
}

impl TestTexts {
    /// Documents of `docs` to fetch whole so that every test of every one of them has its
    /// texts: for each (version, test number) not known yet, the first document that has
    /// it. Typically one document per benchmark version and node role, on the first page
    /// only.
    pub fn to_fetch<'d>(&self, docs: &'d [SlimDocument]) -> Vec<&'d SlimDocument> {
        let mut coming: HashSet<(&str, &str)> = HashSet::new();
        let mut out = Vec::new();
        for d in docs {
            let lacks = d.tests.iter().any(|t| {
                !coming.contains(&(d.version.as_str(), t.test_number.as_str()))
                    && !self
                        .known
                        .contains_key(&(d.version.clone(), t.test_number.clone()))
            });
            if lacks {
                coming.extend(
                    d.tests
                        .iter()
                        .map(|t| (d.version.as_str(), t.test_number.as_str())),
                );
                out.push(d);
            }
        }
        out
    }

    /// Takes in a fetched document's tests; a (version, number) already known keeps its
    /// first texts, as the report keeps a test number's first occurrence.
    pub fn learn(&mut self, doc: TextDocument) {
        for t in doc.tests {
            self.known
                .entry((doc.version.clone(), t.text.test_number.clone()))
                .or_insert((t.text, t.scored));
        }
    }

    /// How many (version, test number) texts are known.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The whole document of a node, its tests given their texts; or why not (a test
    /// whose texts could not be read, or a value [`BenchmarkDocument::validate`] refuses).
    pub fn complete(&self, slim: SlimDocument) -> Result<BenchmarkDocument, String> {
        let mut tests = Vec::with_capacity(slim.tests.len());
        for (i, t) in slim.tests.into_iter().enumerate() {
            if t.test_number.trim().is_empty() {
                return Err(format!("tests[{i}].test_number is empty"));
            }
            let key = (slim.version.clone(), t.test_number);
            let Some((text, scored)) = self.known.get(&key) else {
                return Err(format!(
                    "tests[{i}] ({} of {}): its description could not be read",
                    key.1, key.0
                ));
            };
            tests.push(BenchmarkTest {
                text: Arc::clone(text),
                status: t.status,
                scored: *scored,
            });
        }
        let doc = BenchmarkDocument {
            version: slim.version,
            kubernetes_version: compliance_core::version::into_canonical(slim.kubernetes_version),
            kind: slim.kind,
            node_name: slim.node_name,
            timestamp: slim.timestamp,
            error: slim.error,
            tests,
            cluster: slim.cluster,
            platform: slim.platform,
            kube_bench_version: slim.kube_bench_version,
            benchmarker_version: slim.benchmarker_version,
            benchmark_choice: slim.benchmark_choice,
        };
        doc.validate()?;
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full(node: &str, version: &str, tests: &[(&str, &str, &str, bool)]) -> serde_json::Value {
        json!({
            "version": version, "kubernetesVersion": "v1.29.3", "type": "kube",
            "node_name": node, "timestamp": "2026-11-26T10:00:00Z", "error": "",
            "cluster": "cluster",
            "tests": tests.iter().map(|(n, status, desc, scored)| json!({
                "section": n.rsplit_once('.').map_or(*n, |(s, _)| s),
                "section_desc": format!("section of {n}"),
                "test_number": n, "test_desc": desc, "test_info": format!("fix {n}"),
                "status": status, "scored": scored,
            })).collect::<Vec<_>>(),
        })
    }

    fn slim(v: &serde_json::Value, index: &str) -> SlimDocument {
        let mut d: SlimDocument = serde_json::from_value(v.clone()).unwrap();
        d.index = index.into();
        d.id = v["node_name"].as_str().unwrap().into();
        d
    }

    fn text(v: &serde_json::Value) -> TextDocument {
        serde_json::from_value(v.clone()).unwrap()
    }

    #[test]
    fn a_document_read_slim_and_completed_equals_the_document_read_whole() {
        let master = full(
            "m1",
            "cis-1.23",
            &[
                ("1.1.1", "PASS", "perm", true),
                ("1.1.9", "WARN", "cni", false),
            ],
        );
        let worker = full(
            "w1",
            "cis-1.23",
            &[
                ("4.1.1", "FAIL", "kubelet", true),
                ("4.2.1", "SKIPPED", "anon", true),
            ],
        );
        let docs = vec![slim(&master, "i"), slim(&worker, "i")];
        let mut texts = TestTexts::default();
        let fetch: Vec<&str> = texts
            .to_fetch(&docs)
            .iter()
            .map(|d| d.node_name.as_str())
            .collect();
        assert_eq!(fetch, ["m1", "w1"], "a master and a worker share no tests");
        texts.learn(text(&master));
        texts.learn(text(&worker));
        assert!(texts.to_fetch(&docs).is_empty());
        for (s, whole) in docs.into_iter().zip([&master, &worker]) {
            let completed = texts.complete(s).unwrap();
            let expected = BenchmarkDocument::decode(whole.to_string().as_bytes()).unwrap();
            assert_eq!(completed, expected);
        }
    }

    #[test]
    fn each_text_is_fetched_once_per_benchmark_version() {
        let a = full("a", "cis-1.23", &[("1.1.1", "PASS", "x", true)]);
        let b = full("b", "cis-1.23", &[("1.1.1", "FAIL", "x", true)]);
        let c = full("c", "cis-1.9", &[("1.1.1", "PASS", "older text", true)]);
        let docs = vec![slim(&a, "i"), slim(&b, "i"), slim(&c, "i")];
        let mut texts = TestTexts::default();
        let fetch: Vec<&str> = texts
            .to_fetch(&docs)
            .iter()
            .map(|d| d.node_name.as_str())
            .collect();
        assert_eq!(fetch, ["a", "c"]);
        texts.learn(text(&a));
        texts.learn(text(&c));
        assert_eq!(texts.len(), 2);
        let c_done = texts.complete(docs[2].clone()).unwrap();
        assert_eq!(c_done.tests[0].text.test_desc, "older text");
        let b_done = texts.complete(docs[1].clone()).unwrap();
        assert_eq!(b_done.tests[0].status, TestStatus::Fail);
        assert!(Arc::ptr_eq(
            &b_done.tests[0].text,
            &texts.complete(docs[0].clone()).unwrap().tests[0].text
        ));
        // Later pages fetch nothing for texts already known.
        let later = vec![slim(
            &full("d", "cis-1.23", &[("1.1.1", "PASS", "x", true)]),
            "i",
        )];
        assert!(texts.to_fetch(&later).is_empty());
    }

    #[test]
    fn a_test_whose_texts_are_missing_is_named() {
        let a = full("a", "cis-1.23", &[("1.1.1", "PASS", "x", true)]);
        let err = TestTexts::default().complete(slim(&a, "i")).unwrap_err();
        assert!(err.contains("1.1.1 of cis-1.23"), "{err}");
    }

    #[test]
    fn an_errored_document_without_tests_needs_no_fetch() {
        let e = json!({"version": "", "kubernetesVersion": "", "type": "kube",
            "node_name": "n", "timestamp": "2026-11-26T10:00:00Z", "error": "kubelet not found"});
        let docs = vec![slim(&e, "i")];
        let texts = TestTexts::default();
        assert!(texts.to_fetch(&docs).is_empty());
        let d = texts.complete(docs[0].clone()).unwrap();
        assert!(d.is_errored());
        assert_eq!(d.cluster, "cluster");
    }
}
