//! `oscal-assessment-results.json`: a report as a NIST OSCAL 1.1.3 `assessment-results`
//! document (docs/exports.md).
//!
//! The report is one `result`. Each node is an inventory item of the result's local
//! definitions; each included test of a node is an `observation` whose subject is that
//! node; each distinct check (benchmark version and test number) is one `finding` that
//! relates the observations of every node that ran it. A finding is `satisfied` only
//! when every node passed the check; any FAIL makes it `not-satisfied` with reason
//! `fail`, and a check no node failed but some node did not pass either (WARN, INFO,
//! NOT_OBSERVED) is `not-satisfied` with reason `other`: it needs a person to look. A
//! NOT_OBSERVED result is never a pass: with `notObservedAs: fail` it counts as a FAIL
//! here as in the report. A node whose run failed, or that had no result in the
//! look-back, has one observation saying so and no findings.
//!
//! Every UUID is a version 5 UUID of a stable text (the report id, node name, position),
//! so the same report exports byte for byte the same.

use std::collections::HashMap;
use std::io::{BufWriter, Write};

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
use uuid::Uuid;

use super::{RenderError, not_assessed, not_observed_as};
use crate::model::global_report::NotObservedAs;
use crate::model::{CisBenchmarkNode, ReportDocument, TestResult, TestStatus};
use crate::time;

/// The OSCAL version the document follows.
pub const OSCAL_VERSION: &str = "1.1.3";

/// The namespace the UUIDs are derived in (with the report id).
const UUID_NS: &str = "urn:cis-compliance:oscal";

/// Writes `doc` as OSCAL assessment results into `w` and flushes it.
pub fn write_oscal<W: Write>(doc: &ReportDocument, w: W) -> Result<(), RenderError> {
    let ids = Ids::new(&doc.id);
    let nodes = doc
        .cis_benchmark
        .iter()
        .enumerate()
        .map(|(i, n)| (n, ids.node(i, &n.node_name)))
        .collect::<Vec<_>>();
    // A node's results were collected when its result was taken; reports of earlier
    // releases do not say, and the window's end stands in.
    let collected: Vec<String> = doc
        .cis_benchmark
        .iter()
        .map(|n| time::format(n.last_result_time.as_ref().unwrap_or(&doc.end_time)))
        .collect();
    let (observations, findings) =
        observations_and_findings(&ids, &nodes, &collected, not_observed_as(doc));
    let provenance = doc.provenance.as_ref();
    let query_start = provenance.map(|p| time::format(&p.query_start));
    let query_end = provenance.map(|p| time::format(&p.query_end));
    let result = ResultOut {
        uuid: ids.of("result"),
        title: format!("CIS Kubernetes Benchmark: {}", one_line(&doc.report_name)),
        description: format!(
            "Report {} of GlobalReport {} ({}) in cluster {}: kube-bench results of {} nodes \
             from {} to {}.",
            doc.id,
            doc.report_name,
            doc.report_type_name,
            doc.cluster,
            doc.cis_benchmark.len(),
            time::format(&doc.start_time),
            time::format(&doc.end_time)
        ),
        props: props(&[
            ("report-id", &doc.id),
            ("report-name", &doc.report_name),
            ("report-type", &doc.report_type_name),
            ("cluster", &doc.cluster),
            (
                "high-count",
                &doc.cis_benchmark_summary.high_count.to_string(),
            ),
            (
                "med-count",
                &doc.cis_benchmark_summary.med_count.to_string(),
            ),
            (
                "low-count",
                &doc.cis_benchmark_summary.low_count.to_string(),
            ),
            (
                "no-results-count",
                &doc.cis_benchmark_summary.no_results_count.to_string(),
            ),
            ("not-observed-as", not_observed_as(doc).as_str()),
            (
                "reporter-version",
                provenance.map_or("", |p| p.reporter_version.as_str()),
            ),
            ("query-start", query_start.as_deref().unwrap_or("")),
            ("query-end", query_end.as_deref().unwrap_or("")),
        ]),
        start: time::format(&doc.start_time),
        end: time::format(&doc.end_time),
        local_definitions: LocalDefinitions {
            inventory_items: nodes
                .iter()
                .map(|(n, uuid)| inventory_item(n, uuid))
                .collect(),
        },
        reviewed_controls: ReviewedControls {
            description: "The checks of the CIS Kubernetes Benchmark that kube-bench ran on \
                          each node and the report's filters kept.",
            control_selections: [ControlSelection {
                include_all: IncludeAll {},
            }],
        },
        observations,
        findings,
    };
    let document = Document {
        assessment_results: AssessmentResults {
            uuid: ids.of("assessment-results"),
            metadata: Metadata {
                title: format!("CIS Kubernetes Benchmark report {}", one_line(&doc.id)),
                last_modified: time::format(&doc.generated_time),
                version: time::format(&doc.generated_time),
                oscal_version: OSCAL_VERSION,
            },
            import_ap: ImportAp {
                href: format!(
                    "urn:cis-compliance:assessment-plan:{}",
                    uri_part(&doc.report_name)
                ),
                remarks: "No assessment plan document exists: the plan is the GlobalReport \
                          named in the href, whose schedule and filters the result's props \
                          record.",
            },
            results: [result],
        },
    };
    let mut out = BufWriter::new(w);
    serde_json::to_writer_pretty(&mut out, &document)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

// The document's objects, their fields in the order OSCAL's model lists them.

#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "assessment-results")]
    assessment_results: AssessmentResults<'a>,
}

#[derive(Serialize)]
struct AssessmentResults<'a> {
    uuid: String,
    metadata: Metadata,
    #[serde(rename = "import-ap")]
    import_ap: ImportAp,
    results: [ResultOut<'a>; 1],
}

#[derive(Serialize)]
struct Metadata {
    title: String,
    #[serde(rename = "last-modified")]
    last_modified: String,
    version: String,
    #[serde(rename = "oscal-version")]
    oscal_version: &'static str,
}

#[derive(Serialize)]
struct ImportAp {
    href: String,
    remarks: &'static str,
}

#[derive(Serialize)]
struct ResultOut<'a> {
    uuid: String,
    title: String,
    description: String,
    props: Vec<Prop>,
    start: String,
    end: String,
    #[serde(rename = "local-definitions")]
    local_definitions: LocalDefinitions,
    #[serde(rename = "reviewed-controls")]
    reviewed_controls: ReviewedControls,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    observations: Vec<Observation<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    findings: Vec<Finding>,
}

#[derive(Serialize)]
struct ReviewedControls {
    description: &'static str,
    #[serde(rename = "control-selections")]
    control_selections: [ControlSelection; 1],
}

#[derive(Serialize)]
struct ControlSelection {
    #[serde(rename = "include-all")]
    include_all: IncludeAll,
}

#[derive(Serialize)]
struct IncludeAll {}

#[derive(Serialize)]
struct LocalDefinitions {
    #[serde(rename = "inventory-items", skip_serializing_if = "Vec::is_empty")]
    inventory_items: Vec<InventoryItem>,
}

#[derive(Serialize)]
struct InventoryItem {
    uuid: String,
    description: String,
    props: Vec<Prop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remarks: Option<String>,
}

/// A property. Our names carry no `ns`: OSCAL wants a URI there, its validators an
/// absolute URL with a host, and this project has no URL of its own to claim.
#[derive(Serialize, Debug, PartialEq)]
struct Prop {
    name: &'static str,
    value: String,
}

#[derive(Serialize)]
struct Subject<'a> {
    #[serde(rename = "subject-uuid")]
    subject_uuid: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    title: String,
}

#[derive(Serialize)]
struct ObservationOut<'a> {
    uuid: &'a str,
    title: String,
    description: String,
    props: Vec<Prop>,
    methods: [&'static str; 1],
    subjects: [Subject<'a>; 1],
    collected: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    remarks: Option<String>,
}

#[derive(Serialize)]
struct FindingOut<'a> {
    uuid: &'a str,
    title: &'a str,
    description: &'a str,
    props: Vec<Prop>,
    target: Target<'a>,
    #[serde(rename = "related-observations")]
    related_observations: RelatedObservations<'a>,
}

#[derive(Serialize)]
struct Target<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "target-id")]
    target_id: &'a str,
    status: Status,
}

#[derive(Serialize)]
struct Status {
    state: &'static str,
    reason: &'static str,
}

/// Deterministic UUIDs: version 5 in a namespace of the report.
struct Ids {
    report: Uuid,
}

impl Ids {
    fn new(report_id: &str) -> Ids {
        let ns = Uuid::new_v5(&Uuid::NAMESPACE_URL, UUID_NS.as_bytes());
        Ids {
            report: Uuid::new_v5(&ns, report_id.as_bytes()),
        }
    }

    fn of(&self, what: &str) -> String {
        Uuid::new_v5(&self.report, what.as_bytes()).to_string()
    }

    fn node(&self, index: usize, name: &str) -> String {
        self.of(&format!("node/{index}/{name}"))
    }
}

fn inventory_item(node: &CisBenchmarkNode, uuid: &str) -> InventoryItem {
    let last_result_time = node
        .last_result_time
        .as_ref()
        .map(time::format)
        .unwrap_or_default();
    InventoryItem {
        uuid: uuid.to_string(),
        description: format!("Kubernetes node {}", one_line(&node.node_name)),
        props: props(&[
            ("node-name", &node.node_name),
            ("kubernetes-version", &node.kubernetes_version),
            ("benchmarks-version", &node.benchmarks_version),
            ("rating", node.summary.status.as_str()),
            ("total-pass", &node.summary.total_pass.to_string()),
            ("total-fail", &node.summary.total_fail.to_string()),
            ("total-info", &node.summary.total_info.to_string()),
            ("no-results", if node.no_results { "true" } else { "" }),
            ("last-result-time", &last_result_time),
            ("platform", &node.platform),
            ("kube-bench-version", &node.kube_bench_version),
            ("benchmarker-version", &node.benchmarker_version),
            ("benchmark-choice", &node.benchmark_choice),
        ]),
        remarks: not_assessed(node).map(|why| format!("Not assessed: {why}.")),
    }
}

/// One node's result of one check, or a node's missing results.
struct Observation<'a> {
    uuid: String,
    node: &'a CisBenchmarkNode,
    node_uuid: &'a str,
    test: Option<(&'a str, &'a TestResult)>,
    collected: &'a str,
}

impl Serialize for Observation<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let node_name = one_line(&self.node.node_name);
        let subjects = [Subject {
            subject_uuid: self.node_uuid,
            kind: "inventory-item",
            title: node_name.clone(),
        }];
        let out = match self.test {
            None => ObservationOut {
                uuid: &self.uuid,
                title: format!("{node_name}: not assessed"),
                description: format!(
                    "Node {node_name} was not assessed: {}.",
                    one_line(&not_assessed(self.node).unwrap_or_default())
                ),
                props: props(&[("assessed", "false")]),
                methods: ["TEST"],
                subjects,
                collected: self.collected,
                remarks: None,
            },
            Some((section, t)) => ObservationOut {
                uuid: &self.uuid,
                title: format!(
                    "{} {}",
                    one_line(&t.text.test_number),
                    one_line(&t.text.test_desc)
                ),
                description: format!(
                    "kube-bench reported {} for check {} on node {node_name}.",
                    one_line(t.status.as_str()),
                    one_line(&t.text.test_number)
                ),
                props: props(&[
                    ("status", t.status.as_str()),
                    ("test-number", &t.text.test_number),
                    ("section", section),
                    ("scored", if t.scored { "true" } else { "false" }),
                    ("benchmarks-version", &self.node.benchmarks_version),
                    ("kubernetes-version", &self.node.kubernetes_version),
                ]),
                methods: ["TEST"],
                subjects,
                collected: self.collected,
                remarks: remarks(t),
            },
        };
        out.serialize(s)
    }
}

/// An observation's remarks: that it was not observed, and the remediation.
fn remarks(t: &TestResult) -> Option<String> {
    let mut parts = Vec::new();
    if t.status == TestStatus::NotObserved {
        parts.push(
            "Not observed: kube-bench said PASS, but the check's audit produced no output, \
             so nothing was observed that could pass."
                .to_string(),
        );
    }
    if !t.text.test_info.trim().is_empty() {
        parts.push(format!("Remediation: {}", t.text.test_info));
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// One check across the nodes that ran it.
struct Finding {
    uuid: String,
    target_id: String,
    title: String,
    description: String,
    benchmarks_version: String,
    test_number: String,
    pass: u64,
    fail: u64,
    other: u64,
    observations: Vec<String>,
}

impl Finding {
    fn status(&self) -> Status {
        let (state, reason) = if self.fail > 0 {
            ("not-satisfied", "fail")
        } else if self.other > 0 {
            ("not-satisfied", "other")
        } else {
            ("satisfied", "pass")
        };
        Status { state, reason }
    }
}

impl Serialize for Finding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        FindingOut {
            uuid: &self.uuid,
            title: &self.title,
            description: &self.description,
            props: props(&[
                ("benchmarks-version", &self.benchmarks_version),
                ("test-number", &self.test_number),
                ("nodes-pass", &self.pass.to_string()),
                ("nodes-fail", &self.fail.to_string()),
                ("nodes-other", &self.other.to_string()),
            ]),
            target: Target {
                kind: "objective-id",
                target_id: &self.target_id,
                status: self.status(),
            },
            related_observations: RelatedObservations(&self.observations),
        }
        .serialize(s)
    }
}

struct RelatedObservations<'a>(&'a [String]);

#[derive(Serialize)]
struct RelatedObservation<'a> {
    #[serde(rename = "observation-uuid")]
    observation_uuid: &'a str,
}

impl Serialize for RelatedObservations<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for uuid in self.0 {
            seq.serialize_element(&RelatedObservation {
                observation_uuid: uuid,
            })?;
        }
        seq.end()
    }
}

fn observations_and_findings<'a>(
    ids: &Ids,
    nodes: &'a [(&'a CisBenchmarkNode, String)],
    collected: &'a [String],
    not_observed_as: NotObservedAs,
) -> (Vec<Observation<'a>>, Vec<Finding>) {
    let mut observations = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut by_check: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, (node, node_uuid)) in nodes.iter().enumerate() {
        let tests: Vec<(&str, &TestResult)> = node
            .results
            .iter()
            .flat_map(|s| s.results.iter().map(move |t| (s.section.as_str(), t)))
            .collect();
        let collected = collected[i].as_str();
        if not_assessed(node).is_some() || tests.is_empty() {
            observations.push(Observation {
                uuid: ids.of(&format!("observation/{i}/not-assessed")),
                node,
                node_uuid,
                test: None,
                collected,
            });
            continue;
        }
        for (j, (section, t)) in tests.into_iter().enumerate() {
            let uuid = ids.of(&format!(
                "observation/{i}/{j}/{}/{}",
                node.node_name, t.text.test_number
            ));
            let key = (
                node.benchmarks_version.as_str(),
                t.text.test_number.as_str(),
            );
            let at = *by_check.entry(key).or_insert_with(|| {
                findings.push(Finding {
                    uuid: ids.of(&format!("finding/{}/{}", key.0, key.1)),
                    target_id: target_id(key.0, key.1),
                    title: format!(
                        "{} {}",
                        one_line(&t.text.test_number),
                        one_line(&t.text.test_desc)
                    ),
                    description: format!(
                        "Check {} of benchmark {} across the nodes that ran it.",
                        t.text.test_number,
                        if key.0.is_empty() { "(unknown)" } else { key.0 }
                    ),
                    benchmarks_version: key.0.to_string(),
                    test_number: key.1.to_string(),
                    pass: 0,
                    fail: 0,
                    other: 0,
                    observations: Vec::new(),
                });
                findings.len() - 1
            });
            let f = &mut findings[at];
            // NOT_OBSERVED is never a pass: a failure when the report counted it as one,
            // something for a person to look at otherwise.
            match t.status {
                TestStatus::Pass => f.pass += 1,
                TestStatus::Fail => f.fail += 1,
                TestStatus::NotObserved if not_observed_as == NotObservedAs::Fail => f.fail += 1,
                _ => f.other += 1,
            }
            f.observations.push(uuid.clone());
            observations.push(Observation {
                uuid,
                node,
                node_uuid,
                test: Some((section, t)),
                collected,
            });
        }
    }
    (observations, findings)
}

/// Properties with a value: OSCAL values must be non-empty, one line, and not start or
/// end with white space, so empty ones are left out and the rest trimmed to one line.
fn props(pairs: &[(&'static str, &str)]) -> Vec<Prop> {
    pairs
        .iter()
        .filter_map(|&(name, value)| {
            let value = one_line(value);
            (!value.is_empty()).then_some(Prop { name, value })
        })
        .collect()
}

/// `s` on one line: runs of white space (line breaks included) become one space, and
/// the ends are trimmed.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An OSCAL token naming a check: `<benchmark version>_<test number>`, with anything a
/// token cannot hold replaced by `_`, and a leading `_` when it would not start with a
/// letter.
fn target_id(benchmarks_version: &str, test_number: &str) -> String {
    let version = if benchmarks_version.is_empty() {
        "unknown"
    } else {
        benchmarks_version
    };
    let raw = format!("{version}_{test_number}");
    let mut id: String = raw
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !id.starts_with(|c: char| c.is_alphabetic() || c == '_') {
        id.insert(0, '_');
    }
    id
}

/// A report name in a URI: Kubernetes names need no escaping, anything else becomes `_`.
fn uri_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_ids_are_tokens() {
        assert_eq!(target_id("cis-1.23", "1.1.1"), "cis-1.23_1.1.1");
        assert_eq!(target_id("", "4.2.1"), "unknown_4.2.1");
        assert_eq!(target_id("1.0", "a b"), "_1.0_a_b");
    }

    #[test]
    fn property_values_are_one_trimmed_line_or_absent() {
        let p = props(&[("a", "  x\n y  "), ("b", ""), ("c", " \n ")]);
        assert_eq!(
            p,
            [Prop {
                name: "a",
                value: "x y".into()
            }]
        );
    }

    #[test]
    fn uuids_are_stable_and_distinct_per_report() {
        let a = Ids::new("r1");
        assert_eq!(a.of("result"), Ids::new("r1").of("result"));
        assert_ne!(a.of("result"), Ids::new("r2").of("result"));
        assert_ne!(a.node(0, "n"), a.node(1, "n"));
        let u = Uuid::parse_str(&a.of("result")).unwrap();
        assert_eq!(u.get_version_num(), 5);
    }
}
