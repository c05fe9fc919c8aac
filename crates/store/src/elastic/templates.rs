//! Index templates for the three index families, and the field types the store relies on.
//!
//! Each cluster (ELASTIC_INDEX_SUFFIX `S`) has its own three templates, named `X.S` for
//! the indices `X.S.*` behind its rollover alias `X.S.`: the template carries that alias
//! and the cluster's lifecycle policy, which differ between clusters sharing one
//! Elasticsearch. Every index also uses the `best_compression` codec: stored documents
//! are mostly repeated test texts, which DEFLATE shrinks several times over.
//!
//! Benchmark documents follow the docs/spec.md §3 mapping. Report node results are kept in
//! `_source` but not indexed (`enabled: false`): indexing a 10,000-node report would
//! exceed Elasticsearch's nested-object and field limits, and nothing searches inside it.

use serde_json::{Value, json};

use super::lifecycle::{self, Kind};
use super::request::{BENCHMARK_INDEX, Indices, REPORT_INDEX, REPORT_PARTS_INDEX};
use crate::retention::Retention;

/// Priority above Elasticsearch's built-in templates, so ours decide the mapping, and
/// above the cluster-wide templates (`X` for `X.*`, priority 100) that earlier releases
/// installed: Elasticsearch refuses two overlapping templates of equal priority.
pub const PRIORITY: u64 = 110;

/// One index template and the field types the store cannot work without.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The base of the index names it applies to (`X`).
    pub base: &'static str,
    /// Template name, `X.S`; also the name of the cluster's lifecycle policy for `X`.
    pub name: String,
    /// Which lifecycle policy its indices follow.
    pub kind: Kind,
    pub body: Value,
    /// `(field, accepted types, why)`: checked against existing indices.
    pub required: &'static [(&'static str, &'static [&'static str], &'static str)],
}

/// Template body for `base`'s indices behind this cluster's rollover alias.
fn template(indices: &Indices, base: &str, properties: Value) -> Value {
    json!({
        "index_patterns": [format!("{}.*", indices.managed_name(base))],
        "priority": PRIORITY,
        "template": {
            "settings": { "index": {
                "codec": "best_compression",
                "lifecycle": {
                    "name": indices.managed_name(base),
                    "rollover_alias": indices.write_alias(base),
                },
            } },
            "mappings": { "properties": properties },
        },
        "_meta": { "managed_by": "cis-compliance" },
    })
}

pub fn benchmarks(indices: &Indices) -> Template {
    Template {
        base: BENCHMARK_INDEX,
        name: indices.managed_name(BENCHMARK_INDEX),
        kind: Kind::Benchmarks,
        body: template(
            indices,
            BENCHMARK_INDEX,
            json!({
                "version": { "type": "keyword" },
                "kubernetesVersion": { "type": "keyword" },
                "type": { "type": "keyword" },
                "node_name": { "type": "keyword" },
                "cluster": { "type": "keyword" },
                "timestamp": { "type": "date" },
                "generated_time": { "type": "date" },
                "error": { "type": "text" },
                // Provenance (not in Calico's schema): filtered on as exact values.
                "platform": { "type": "keyword" },
                "kubeBenchVersion": { "type": "keyword" },
                "benchmarkerVersion": { "type": "keyword" },
                "benchmarkChoice": { "type": "keyword" },
                "tests": {
                    "type": "nested",
                    "properties": {
                        "section": { "type": "keyword" },
                        "section_desc": { "type": "text" },
                        "test_number": { "type": "keyword" },
                        "test_desc": { "type": "text" },
                        "test_info": { "type": "text" },
                        "status": { "type": "keyword" },
                        "scored": { "type": "boolean" },
                    },
                },
            }),
        ),
        required: &[
            (
                "node_name",
                &["keyword"],
                "the latest document per node is found by collapsing on it",
            ),
            (
                "timestamp",
                &["date", "date_nanos"],
                "the report window is a range on it",
            ),
            (
                "error",
                &["text", "keyword", "match_only_text"],
                "errored runs are told apart by it",
            ),
        ],
    }
}

pub fn reports(indices: &Indices) -> Template {
    Template {
        base: REPORT_INDEX,
        name: indices.managed_name(REPORT_INDEX),
        kind: Kind::Reports,
        body: template(
            indices,
            REPORT_INDEX,
            json!({
                "id": { "type": "keyword" },
                "reportName": { "type": "keyword" },
                "reportTypeName": { "type": "keyword" },
                "cluster": { "type": "keyword" },
                "startTime": { "type": "date" },
                "endTime": { "type": "date" },
                "generationTime": { "type": "date" },
                "generated_time": { "type": "date" },
                "cisBenchmarkSummary": { "properties": {
                    "type": { "type": "keyword" },
                    "highCount": { "type": "long" },
                    "medCount": { "type": "long" },
                    "lowCount": { "type": "long" },
                    "noResultsCount": { "type": "long" },
                    "waivedCount": { "type": "long" },
                    "withoutWaivers": { "properties": {
                        "highCount": { "type": "long" },
                        "medCount": { "type": "long" },
                        "lowCount": { "type": "long" },
                    } },
                } },
                // Read back with the report, never searched.
                "provenance": { "type": "object", "enabled": false },
                // The waivers' specs as they were: label selectors with any keys, which
                // dynamic mapping would turn into fields without end.
                "waivers": { "type": "object", "enabled": false },
                "reportSpec": { "type": "object", "enabled": false },
                "reportTypeSpec": { "type": "object", "enabled": false },
                "cisBenchmark": { "type": "object", "enabled": false },
                "uiSummary": { "type": "text", "index": false },
                "cisBenchmarkParts": { "type": "long" },
                "cisBenchmarkGeneration": { "type": "keyword" },
                "cisBenchmarkNodeCount": { "type": "long" },
                "cisBenchmarkLayout": { "type": "keyword" },
            }),
        ),
        required: &[
            (
                "endTime",
                &["date", "date_nanos"],
                "reports are listed newest window first",
            ),
            (
                "startTime",
                &["date", "date_nanos"],
                "reports are filtered and sorted by their window",
            ),
            (
                "generationTime",
                &["date", "date_nanos"],
                "reports are sorted by when they were generated",
            ),
            (
                "reportName",
                &["keyword"],
                "reports are filtered and sorted by their GlobalReport",
            ),
            (
                "reportTypeName",
                &["keyword"],
                "reports are filtered and sorted by their type",
            ),
            (
                "id",
                &["keyword"],
                "the id breaks ties between reports, so that pages are stable",
            ),
        ],
    }
}

pub fn report_parts(indices: &Indices) -> Template {
    Template {
        base: REPORT_PARTS_INDEX,
        name: indices.managed_name(REPORT_PARTS_INDEX),
        kind: Kind::ReportParts,
        body: template(
            indices,
            REPORT_PARTS_INDEX,
            json!({
                "reportId": { "type": "keyword" },
                "generation": { "type": "keyword" },
                "part": { "type": "long" },
                // A part's nodes, whole or as a compact payload (docs/elasticsearch.md,
                // "Large reports"): stored, never indexed. Both layouts keep them under
                // this one key, so indices made by older templates store either.
                "cisBenchmark": { "type": "object", "enabled": false },
            }),
        ),
        required: &[
            (
                "reportId",
                &["keyword"],
                "parts are found by their report id",
            ),
            (
                "generation",
                &["keyword"],
                "parts are matched to their report head",
            ),
            ("part", &["long", "integer"], "parts are read in order"),
        ],
    }
}

/// All three of a cluster, in the order setup installs them.
pub fn all(indices: &Indices) -> [Template; 3] {
    [benchmarks(indices), reports(indices), report_parts(indices)]
}

/// The lifecycle policy a template's indices follow, as `PUT /_ilm/policy` takes it.
pub fn policy_of(t: &Template, retention: &Retention) -> Value {
    lifecycle::policy(retention, t.kind)
}

/// Whether a stored template (or lifecycle policy) already says what ours says. Elasticsearch may add
/// defaults when it stores a template, so only the keys we set are compared.
pub fn is_current(stored: &Value, ours: &Value) -> bool {
    match (stored, ours) {
        (Value::Object(s), Value::Object(o)) => o
            .iter()
            .all(|(k, v)| s.get(k).is_some_and(|sv| is_current(sv, v))),
        (Value::Array(s), Value::Array(o)) => {
            s.len() == o.len() && s.iter().zip(o).all(|(a, b)| is_current(a, b))
        }
        _ => stored == ours,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benchmark_mapping_follows_spec_section_3() {
        let t = benchmarks(&Indices::new("cluster"));
        let p = &t.body["template"]["mappings"]["properties"];
        for keyword in [
            "version",
            "kubernetesVersion",
            "type",
            "node_name",
            "cluster",
            "platform",
            "kubeBenchVersion",
            "benchmarkerVersion",
            "benchmarkChoice",
        ] {
            assert_eq!(p[keyword]["type"], "keyword", "{keyword}");
        }
        assert_eq!(p["timestamp"]["type"], "date");
        assert_eq!(p["generated_time"]["type"], "date");
        assert_eq!(p["error"]["type"], "text");
        assert_eq!(p["tests"]["type"], "nested");
        for text in ["section_desc", "test_desc", "test_info"] {
            assert_eq!(p["tests"]["properties"][text]["type"], "text", "{text}");
        }
        assert_eq!(p["tests"]["properties"]["scored"]["type"], "boolean");
        assert_eq!(
            t.body["index_patterns"],
            json!(["tigera_secure_ee_benchmark_results.cluster.*"])
        );
    }

    #[test]
    fn each_cluster_has_its_templates_with_its_alias_policy_and_compression() {
        let prod = all(&Indices::new("prod"));
        let names: Vec<&str> = prod.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "tigera_secure_ee_benchmark_results.prod",
                "tigera_secure_ee_compliance_reports.prod",
                "tigera_secure_ee_compliance_report_parts.prod",
            ]
        );
        let r = &prod[1].body;
        assert_eq!(
            r["index_patterns"],
            json!(["tigera_secure_ee_compliance_reports.prod.*"])
        );
        assert_eq!(
            r["template"]["settings"]["index"],
            json!({"codec": "best_compression", "lifecycle": {
                "name": "tigera_secure_ee_compliance_reports.prod",
                "rollover_alias": "tigera_secure_ee_compliance_reports.prod."}})
        );
        assert_eq!(r["priority"], 110);
    }

    #[test]
    fn report_node_results_are_stored_not_indexed() {
        let p = &reports(&Indices::new("cluster")).body["template"]["mappings"]["properties"];
        assert_eq!(p["cisBenchmark"]["enabled"], false);
        assert_eq!(p["provenance"]["enabled"], false);
        assert_eq!(p["waivers"]["enabled"], false);
        let summary = &p["cisBenchmarkSummary"]["properties"];
        assert_eq!(summary["waivedCount"]["type"], "long");
        for count in ["highCount", "medCount", "lowCount"] {
            assert_eq!(
                summary["withoutWaivers"]["properties"][count]["type"], "long",
                "{count}"
            );
        }
        assert_eq!(
            p["cisBenchmarkSummary"]["properties"]["noResultsCount"]["type"],
            "long"
        );
        assert_eq!(p["endTime"]["type"], "date");
    }

    #[test]
    fn a_stored_template_with_extra_defaults_is_current() {
        let ours = benchmarks(&Indices::new("cluster")).body;
        let mut stored = ours.clone();
        stored["template"]["settings"]["index"]["number_of_shards"] = json!("1");
        assert!(is_current(&stored, &ours));
        stored["template"]["mappings"]["properties"]["node_name"]["type"] = json!("text");
        assert!(!is_current(&stored, &ours));
    }
}
