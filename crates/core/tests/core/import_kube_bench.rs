//! The kube-bench importer against the seven real kube-bench outputs in
//! `tests/fixtures/` (provenance in `tests/fixtures/SOURCES.md`).
//!
//! Expected counts are computed from each file's own per-group `pass`/`fail`/`warn`/
//! `info` numbers, read here with plain `serde_json`, so the assertions do not depend on
//! how the importer walks the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::Value;

use compliance_core::import::{
    ImportError, ImportWarning, KubeBenchOptions, KubeBenchRun, build_document, parse_kube_bench,
    read_all,
};
use compliance_core::model::{BenchmarkDocument, BenchmarkTest, TestStatus, TextInterner};

use compliance_testkit::fixtures::{KUBE_BENCH_OUTPUTS, fixture, t};

/// Reads and parses one output, as `compliancectl import kube-bench` does.
fn read_kube_bench(path: &Path, interner: &mut TextInterner) -> Result<KubeBenchRun, ImportError> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_kube_bench(path, &bytes, interner)
}

/// Reads every file as one node's results and builds its document.
fn import_files(
    paths: &[PathBuf],
    options: &KubeBenchOptions,
    interner: &mut TextInterner,
) -> Result<compliance_core::import::Imported, ImportError> {
    let runs = paths
        .iter()
        .map(|p| read_kube_bench(p, interner))
        .collect::<Result<Vec<_>, _>>()?;
    build_document(runs, options)
}

fn when() -> DateTime<Utc> {
    t("2026-11-26T10:00:00Z")
}

fn import(name: &str) -> compliance_core::import::Imported {
    let options = KubeBenchOptions::new("node-1", when());
    import_files(&[fixture(name)], &options, &mut TextInterner::new()).unwrap()
}

/// Per section: the file's own [pass, fail, warn, info] numbers for the group.
fn group_counts(name: &str) -> BTreeMap<String, [u64; 4]> {
    let raw: Value = serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap();
    let controls = match &raw {
        Value::Array(a) => a.clone(),
        other => other["Controls"].as_array().unwrap().clone(),
    };
    let mut out = BTreeMap::new();
    for control in &controls {
        for group in control["tests"].as_array().unwrap() {
            let n = |k: &str| group[k].as_u64().unwrap();
            let section = group["section"].as_str().unwrap().to_string();
            let previous = out.insert(section, [n("pass"), n("fail"), n("warn"), n("info")]);
            assert!(previous.is_none(), "{name}: a section appears twice");
        }
    }
    out
}

/// Per section: [pass, fail, warn, info] counted from the imported document, NOT_OBSERVED
/// with PASS as kube-bench counted it.
fn document_counts(doc: &BenchmarkDocument) -> BTreeMap<String, [u64; 4]> {
    let mut out: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for t in &doc.tests {
        let slot = match t.status {
            TestStatus::Pass | TestStatus::NotObserved => 0,
            TestStatus::Fail => 1,
            TestStatus::Warn => 2,
            TestStatus::Info => 3,
            TestStatus::Other(ref s) => panic!("unexpected status {s}"),
        };
        out.entry(t.text.section.clone()).or_default()[slot] += 1;
    }
    out
}

fn test<'d>(doc: &'d BenchmarkDocument, number: &str) -> &'d BenchmarkTest {
    let mut found = doc.tests.iter().filter(|t| t.text.test_number == number);
    let t = found.next().unwrap_or_else(|| panic!("no test {number}"));
    assert!(found.next().is_none(), "test {number} appears twice");
    t
}

/// The checks every fixture must pass: counts agree with the file's group numbers, the
/// document is valid and of type kube, and the tests come in file order.
fn check_counts(name: &str, doc: &BenchmarkDocument, total: usize) {
    assert_eq!(doc.tests.len(), total, "{name}");
    let expected = group_counts(name);
    let sum: u64 = expected.values().flatten().sum();
    assert_eq!(sum as usize, total, "{name}: the file's own counts");
    assert_eq!(document_counts(doc), expected, "{name}");
    assert!(doc.validate().is_ok(), "{name}");
    assert_eq!(doc.kind, "kube");
    assert_eq!(doc.error, "");
    assert_eq!(doc.node_name, "node-1");
    assert_eq!(doc.cluster, "cluster");
    assert_eq!(doc.timestamp, when());
}

#[test]
fn cis_1_5_node_defectdojo_bare_array() {
    let name = "cis-1.5-node-defectdojo.json";
    let imported = import(name);
    let doc = &imported.document;
    check_counts(name, doc, 23);
    assert_eq!(doc.version, "cis-1.5", "bare \"1.5\" is normalised");
    assert_eq!(doc.kubernetes_version, "");
    assert_eq!(
        imported.warnings,
        [ImportWarning::UnknownKubernetesVersion { detected: None }]
    );

    let t = test(doc, "4.2.11");
    assert_eq!(t.text.section, "4.2");
    assert_eq!(t.text.section_desc, "Kubelet");
    assert_eq!(
        t.text.test_desc,
        "Ensure that the --rotate-certificates argument is not set to false (Scored)"
    );
    assert_eq!(t.status, TestStatus::Fail);
    assert!(t.scored);
    assert!(
        t.text.test_info.starts_with(
            "If using a Kubelet config file, edit the file to add the line rotateCertificates: \
             true or\nremove it altogether to use the default value.\n"
        ),
        "the whole first test_info element, not its first line"
    );
    assert!(
        t.text
            .test_info
            .ends_with("systemctl restart kubelet.service\n")
    );

    let t = test(doc, "4.2.8");
    assert!(!t.scored);
    assert_eq!(t.status, TestStatus::Pass);
    assert_eq!(doc.tests[0].text.test_number, "4.1.1");
    assert_eq!(doc.tests[22].text.test_number, "4.2.13");
}

#[test]
fn eks_1_0_node_valancej_compact_bare_array() {
    let name = "eks-1.0-node-valancej.json";
    let imported = import(name);
    let doc = &imported.document;
    check_counts(name, doc, 15);
    assert_eq!(doc.version, "eks-1.0", "non-numeric versions are kept");
    assert_eq!(doc.kubernetes_version, "");
    assert_eq!(
        imported.warnings,
        [ImportWarning::UnknownKubernetesVersion { detected: None }]
    );
    let t = test(doc, "3.1.1");
    assert_eq!(t.text.section, "3.1");
    assert_eq!(t.text.section_desc, "Worker Node Configuration Files");
    assert_eq!(t.status, TestStatus::Pass);
    assert_eq!(
        t.text.test_info,
        "Run the below command (based on the file location on your system) on each worker \
         node.\nFor example,\nchmod 644 /var/lib/kubelet/kubeconfig\n"
    );
    // The description says "(Scored)" but kube-bench's `scored` says otherwise; the key wins.
    let t = test(doc, "3.2.9");
    assert!(t.text.test_desc.ends_with("(Scored)"));
    assert!(!t.scored);
    assert_eq!(t.status, TestStatus::Warn);
    assert!(doc.tests.iter().all(|t| t.status != TestStatus::Fail));
}

#[test]
fn cis_1_6_master_defectdojo_wrapper_without_detected_version() {
    let name = "cis-1.6-master-defectdojo.json";
    let imported = import(name);
    let doc = &imported.document;
    check_counts(name, doc, 122);
    assert_eq!(doc.version, "cis-1.6", "bare \"1.6\" is normalised");
    assert_eq!(doc.kubernetes_version, "");
    assert_eq!(
        imported.warnings,
        [ImportWarning::UnknownKubernetesVersion { detected: None }]
    );
    let t = test(doc, "1.1.1");
    assert_eq!(t.text.section, "1.1");
    assert_eq!(t.text.section_desc, "Master Node Configuration Files");
    assert_eq!(t.status, TestStatus::Fail);
    assert!(t.scored);
    assert_eq!(
        t.text.test_info,
        "Run the below command (based on the file location on your system) on the\nmaster \
         node.\nFor example, chmod 644 /etc/kubernetes/manifests/kube-apiserver.yaml\n"
    );
    // The etcd group's section is a bare "2", not "2.1".
    let t = test(doc, "2.1");
    assert_eq!(t.text.section, "2");
    assert_eq!(t.text.section_desc, "Etcd Node Configuration Files");
    let sections: Vec<_> = group_counts(name).into_keys().collect();
    assert_eq!(sections.len(), 15);
}

#[test]
fn cis_1_20_node_apxd_detected_version_none() {
    let name = "cis-1.20-node-apxd.json";
    let imported = import(name);
    let doc = &imported.document;
    check_counts(name, doc, 49);
    assert_eq!(doc.version, "cis-1.20");
    assert_eq!(doc.kubernetes_version, "", "\"none\" is not a version");
    assert_eq!(
        imported.warnings,
        [ImportWarning::UnknownKubernetesVersion {
            detected: Some("none".into())
        }]
    );
    assert!(imported.warnings[0].to_string().contains("--k8s-version"));
    let t = test(doc, "4.1.1");
    assert_eq!(t.status, TestStatus::Fail);
    assert_eq!(
        t.text.test_desc,
        "Ensure that the kubelet service file permissions are set to 644 or more restrictive \
         (Automated)"
    );
    let t = test(doc, "4.1.3");
    assert_eq!(t.status, TestStatus::Pass);
    assert!(!t.scored);
    assert_eq!(doc.tests.last().unwrap().text.test_number, "5.7.4");
}

#[test]
fn cis_1_20_node_oakleysecurity_sorted_keys() {
    let name = "cis-1.20-node-oakleysecurity.json";
    let imported = import(name);
    let doc = &imported.document;
    check_counts(name, doc, 49);
    assert_eq!(doc.version, "cis-1.20");
    assert_eq!(doc.kubernetes_version, "1.20");
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    let t = test(doc, "4.1.3");
    assert_eq!(t.text.section, "4.1");
    assert_eq!(t.text.section_desc, "Worker Node Configuration Files");
    assert_eq!(t.status, TestStatus::Warn);
    assert!(!t.scored);
    // Keys are sorted in this file, so the group's `desc` comes before `section` and a
    // result's `test_info` before `test_number`; file order of results is unchanged.
    let numbers: Vec<_> = doc.tests[..3]
        .iter()
        .map(|t| t.text.test_number.as_str())
        .collect();
    assert_eq!(numbers, ["4.1.1", "4.1.2", "4.1.3"]);
    let t = test(doc, "5.1.1");
    assert_eq!(t.text.section_desc, "RBAC and Service Accounts");
    assert!(t.text.test_info.starts_with(
        "Identify all clusterrolebindings to the cluster-admin role. Check if they are used \
         and\nif they need this role"
    ));
}

#[test]
fn cis_1_23_master_newrelic_detected_1_25() {
    let name = "cis-1.23-master-newrelic.json";
    let imported = import(name);
    let doc = &imported.document;
    check_counts(name, doc, 125);
    assert_eq!(doc.version, "cis-1.23");
    assert_eq!(doc.kubernetes_version, "1.25");
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    let t = test(doc, "1.1.11");
    assert_eq!(t.text.section, "1.1");
    assert_eq!(
        t.text.section_desc,
        "Control Plane Node Configuration Files"
    );
    assert_eq!(
        t.text.test_desc,
        "Ensure that the etcd data directory permissions are set to 700 or more restrictive \
         (Automated)"
    );
    assert_eq!(t.status, TestStatus::Fail);
    assert!(t.scored);
    assert_eq!(
        t.text.test_info,
        "On the etcd server node, get the etcd data directory, passed as an argument \
         --data-dir,\nfrom the command 'ps -ef | grep etcd'.\nRun the below command (based on \
         the etcd data directory found above). For example,\nchmod 700 /var/lib/etcd\n"
    );
    // Policies are described "(Automated)" yet kube-bench runs them as manual, unscored.
    let t = test(doc, "5.2.3");
    assert!(t.text.test_desc.ends_with("(Automated)"));
    assert!(!t.scored);
    let first: Vec<_> =
        doc.tests
            .iter()
            .map(|t| t.text.section.as_str())
            .fold(Vec::new(), |mut v, s| {
                if v.last() != Some(&s) {
                    v.push(s);
                }
                v
            });
    assert_eq!(
        first,
        [
            "1.1", "1.2", "1.3", "1.4", "2", "3.1", "3.2", "4.1", "4.2", "5.1", "5.2", "5.3",
            "5.4", "5.5", "5.7"
        ]
    );
}

#[test]
fn cis_1_12_node_mogamal_compact_wrapper() {
    let name = "cis-1.12-node-mogamal.json";
    let imported = import(name);
    let doc = &imported.document;
    check_counts(name, doc, 59);
    assert_eq!(doc.version, "cis-1.12");
    assert_eq!(doc.kubernetes_version, "1.35");
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    let t = test(doc, "4.1.1");
    assert_eq!(
        t.text.test_desc,
        "Ensure that the kubelet service file permissions are set to 600 or more restrictive \
         (Automated)"
    );
    assert_eq!(t.status, TestStatus::Fail);
    assert_eq!(t.text.section_desc, "Worker Node Configuration Files");
    let t = test(doc, "4.1.9");
    assert_eq!(t.status, TestStatus::Fail);
    let t = test(doc, "5.2.1");
    assert_eq!(t.text.section_desc, "Pod Security Standards");
    assert_eq!(t.status, TestStatus::Warn);
}

#[test]
fn wrapper_totals_agree_with_the_documents() {
    for name in [
        "cis-1.6-master-defectdojo.json",
        "cis-1.20-node-apxd.json",
        "cis-1.20-node-oakleysecurity.json",
        "cis-1.23-master-newrelic.json",
        "cis-1.12-node-mogamal.json",
    ] {
        let raw: Value = serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap();
        let totals = &raw["Totals"];
        let expected = ["total_pass", "total_fail", "total_warn", "total_info"]
            .map(|k| totals[k].as_u64().unwrap());
        let got =
            document_counts(&import(name).document)
                .into_values()
                .fold([0; 4], |mut acc, c| {
                    for i in 0..4 {
                        acc[i] += c[i];
                    }
                    acc
                });
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn merging_two_runs_of_one_node() {
    let mut interner = TextInterner::new();
    let a = read_kube_bench(&fixture("cis-1.20-node-apxd.json"), &mut interner).unwrap();
    let b = read_kube_bench(&fixture("cis-1.20-node-oakleysecurity.json"), &mut interner).unwrap();
    // The two runs share 48 of their 49 texts (4.2.13's remediation changed between
    // kube-bench versions); the interner keeps one copy of each.
    assert_eq!(interner.len(), 50);
    assert!(Arc::ptr_eq(&a.tests[0].text, &b.tests[0].text));

    let imported = build_document(vec![a, b], &KubeBenchOptions::new("node-1", when())).unwrap();
    let doc = &imported.document;
    assert_eq!(doc.tests.len(), 98);
    assert_eq!(doc.tests[0].status, TestStatus::Fail);
    assert_eq!(doc.tests[48].text.test_number, "5.7.4");
    assert_eq!(doc.tests[49].text.test_number, "4.1.1");
    // The first run said "none"; the second detected a real version, which is used.
    assert_eq!(doc.kubernetes_version, "1.20");
    assert_eq!(doc.version, "cis-1.20");
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
}

#[test]
fn merging_runs_that_disagree_keeps_the_first_and_warns() {
    let options = KubeBenchOptions::new("node-1", when());
    let imported = import_files(
        &[
            fixture("cis-1.23-master-newrelic.json"),
            fixture("cis-1.12-node-mogamal.json"),
        ],
        &options,
        &mut TextInterner::new(),
    )
    .unwrap();
    let doc = &imported.document;
    assert_eq!(doc.tests.len(), 125 + 59);
    assert_eq!(doc.version, "cis-1.23");
    assert_eq!(doc.kubernetes_version, "1.25");
    let mogamal = fixture("cis-1.12-node-mogamal.json");
    assert_eq!(
        imported.warnings,
        [
            ImportWarning::BenchmarkVersionMismatch {
                path: mogamal.clone(),
                kept: "cis-1.23".into(),
                ignored: "cis-1.12".into(),
            },
            ImportWarning::KubernetesVersionMismatch {
                path: mogamal,
                kept: "1.25".into(),
                ignored: "1.35".into(),
            },
        ]
    );
}

#[test]
fn the_override_beats_the_detected_version() {
    let mut options = KubeBenchOptions::new("node-1", when());
    options.kubernetes_version = Some("v1.25.16".parse().unwrap());
    let imported = import_files(
        &[fixture("cis-1.23-master-newrelic.json")],
        &options,
        &mut TextInterner::new(),
    )
    .unwrap();
    assert_eq!(imported.document.kubernetes_version, "1.25.16");
}

#[test]
fn reshaped_fixtures_give_the_same_document() {
    // kube-bench before v0.5 printed one controls object per line; v0.4 a bare array.
    let name = "cis-1.23-master-newrelic.json";
    let raw: Value = serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap();
    let controls = raw["Controls"].as_array().unwrap();
    let ndjson: String = controls
        .iter()
        .map(|c| format!("{}\n", serde_json::to_string(c).unwrap()))
        .collect();
    let concatenated: String = controls
        .iter()
        .map(|c| serde_json::to_string_pretty(c).unwrap())
        .collect();
    let array = serde_json::to_string(controls).unwrap();

    let expected = import(name).document;
    let options = KubeBenchOptions::new("node-1", when());
    for (shape, input) in [
        ("ndjson", ndjson),
        ("concatenated", concatenated),
        ("array", array),
    ] {
        let mut interner = TextInterner::new();
        let run = parse_kube_bench(Path::new(shape), input.as_bytes(), &mut interner).unwrap();
        let doc = build_document(vec![run], &options).unwrap().document;
        assert_eq!(doc, expected, "{shape}");
    }
}

#[test]
fn imported_documents_round_trip_through_ndjson() {
    let docs: Vec<_> = KUBE_BENCH_OUTPUTS
        .iter()
        .map(|n| import(n).document)
        .collect();
    let mut lines = String::new();
    for d in &docs {
        lines.push_str(&serde_json::to_string(d).unwrap());
        lines.push('\n');
    }
    let (back, stats) =
        read_all(lines.as_bytes(), "export.ndjson", &mut TextInterner::new()).unwrap();
    assert_eq!(stats.read, 7);
    assert_eq!(stats.skipped, 0);
    assert_eq!(back, docs);
}

#[test]
fn errors_name_the_file() {
    let mut interner = TextInterner::new();
    let path = Path::new("results/node-7.json");
    for (input, want) in [
        ("garbage", "not JSON (line 1, column 1)"),
        ("{}", "holds no kube-bench controls"),
        ("[]", "holds no kube-bench controls"),
    ] {
        let e = parse_kube_bench(path, input.as_bytes(), &mut interner).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("results/node-7.json"), "{text}");
        assert!(text.contains(want), "{text}");
    }

    // A real file with one test_number removed.
    let text = std::fs::read_to_string(fixture("cis-1.12-node-mogamal.json")).unwrap();
    let broken = text.replacen(r#""test_number":"4.2.1","#, "", 1);
    assert_ne!(broken, text);
    let e = parse_kube_bench(path, broken.as_bytes(), &mut interner).unwrap_err();
    assert_eq!(
        e.to_string(),
        "results/node-7.json: control 4, group 4.2, result #1 has no `test_number` (or it is \
         empty)"
    );

    // A real file cut short.
    let cut = &text.as_bytes()[..text.len() / 2];
    let e = parse_kube_bench(path, cut, &mut interner).unwrap_err();
    assert!(matches!(e, ImportError::NotJson { line: 1, .. }), "{e}");
}

/// A value that is usually what kube-bench prints for a string key, sometimes not.
fn mostly(good: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
    let good = prop::sample::select(good.to_vec()).prop_map(Value::from);
    let odd = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,6}".prop_map(Value::from),
        Just(Value::Array(Vec::new())),
    ];
    prop::option::weighted(0.97, prop_oneof![30 => good, 1 => odd])
}

fn object(fields: Vec<(&'static str, Option<Value>)>) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect(),
    )
}

/// kube-bench-shaped JSON with keys dropped and values of the wrong type now and then,
/// so that random inputs reach every branch of the walk over controls, groups and
/// results, and often succeed, not only the JSON parser's error paths.
fn kube_bench_like_json() -> impl Strategy<Value = Value> {
    let result = (
        mostly(&["4.1.1", "4.1.2", "1.2.10"]),
        mostly(&["Ensure x (Automated)", "Ensure y (Not Scored)"]),
        prop::option::weighted(
            0.9,
            prop::collection::vec(".{0,6}", 0..2)
                .prop_map(|v| Value::Array(v.into_iter().map(Value::from).collect())),
        ),
        mostly(&["PASS", "FAIL", "WARN", "INFO", "SKIP"]),
        prop::option::weighted(0.9, any::<bool>().prop_map(Value::Bool)),
    )
        .prop_map(|(n, d, i, s, sc)| {
            object(vec![
                ("test_number", n),
                ("test_desc", d),
                ("test_info", i),
                ("status", s),
                ("scored", sc),
            ])
        });
    let group = (
        mostly(&["4.1", "4.2", "2"]),
        mostly(&["Kubelet"]),
        prop::collection::vec(result, 0..4),
    )
        .prop_map(|(s, d, r)| {
            object(vec![
                ("section", s),
                ("desc", d),
                ("results", Some(Value::Array(r))),
            ])
        });
    let control = (
        mostly(&["1", "4"]),
        mostly(&["1.6", "cis-1.20", "eks-1.0", ""]),
        mostly(&["1.25", "none", "v1.29.3", ""]),
        prop::option::weighted(
            0.95,
            prop::collection::vec(group, 1..3).prop_map(Value::Array),
        ),
    )
        .prop_map(|(id, v, dv, t)| {
            object(vec![
                ("id", id),
                ("version", v),
                ("detected_version", dv),
                ("tests", t),
            ])
        });
    // Both the bare array (kube-bench v0.4) and the wrapper (v0.5 on).
    (prop::collection::vec(control, 1..4), any::<bool>()).prop_map(|(controls, wrapped)| {
        let controls = Value::Array(controls);
        if wrapped {
            object(vec![("Controls", Some(controls))])
        } else {
            controls
        }
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_kube_bench(Path::new("fuzz"), &bytes, &mut TextInterner::new());
    }

    #[test]
    fn arbitrary_kube_bench_like_json_never_panics(
        values in prop::collection::vec(kube_bench_like_json(), 1..3)
    ) {
        let input: String = values.iter().map(|v| v.to_string() + "\n").collect();
        let mut interner = TextInterner::new();
        if let Ok(run) = parse_kube_bench(Path::new("fuzz"), input.as_bytes(), &mut interner) {
            prop_assert!(!run.tests.is_empty());
            let doc = build_document(vec![run], &KubeBenchOptions::new("n", when())).unwrap();
            prop_assert!(doc.document.validate().is_ok());
        }
    }

    #[test]
    fn arbitrary_lines_never_panic_the_ndjson_reader(
        bytes in prop::collection::vec(any::<u8>(), 0..512)
    ) {
        let (docs, stats) = read_all(bytes.as_slice(), "fuzz", &mut TextInterner::new()).unwrap();
        prop_assert_eq!(docs.len() as u64, stats.read);
    }
}

#[test]
fn the_override_silences_disagreements_within_one_file() {
    // One run whose controls detected different versions: with --k8s-version the
    // detected ones are not used, so there is nothing to warn about.
    let text = std::fs::read_to_string(fixture("cis-1.23-master-newrelic.json"))
        .unwrap()
        .replacen(
            "\"detected_version\": \"1.25\"",
            "\"detected_version\": \"1.26\"",
            1,
        );
    assert!(
        text.contains("\"detected_version\": \"1.26\""),
        "fixture layout changed"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.json");
    std::fs::write(&file, text).unwrap();
    let without = import_files(
        std::slice::from_ref(&file),
        &KubeBenchOptions::new("node-1", when()),
        &mut TextInterner::new(),
    )
    .unwrap();
    assert!(
        without
            .warnings
            .iter()
            .any(|w| matches!(w, ImportWarning::KubernetesVersionMismatch { .. })),
        "{:?}",
        without.warnings
    );
    let mut options = KubeBenchOptions::new("node-1", when());
    options.kubernetes_version = Some("1.29.0".parse().unwrap());
    let with = import_files(&[file], &options, &mut TextInterner::new()).unwrap();
    assert_eq!(with.document.kubernetes_version, "1.29.0");
    assert!(with.warnings.is_empty(), "{:?}", with.warnings);
}

/// Which real runs hold PASSes without evidence, among those whose kube-bench printed any
/// `actual_value` at all.
#[test]
fn spec_3_not_observed_passes_in_the_real_outputs() {
    let unobserved = |name: &str| -> Vec<String> {
        import(name)
            .document
            .tests
            .iter()
            .filter(|t| t.status == TestStatus::NotObserved)
            .map(|t| t.text.test_number.clone())
            .collect()
    };
    assert_eq!(unobserved("cis-1.23-master-newrelic.json").len(), 2);
    assert_eq!(unobserved("cis-1.6-master-defectdojo.json").len(), 2);
    // kube-proxy's kubeconfig file is absent: "permissions ... OR not present" passed.
    assert!(unobserved("cis-1.23-master-newrelic.json").contains(&"4.1.3".to_string()));
    // EKS: `ps -fC kubelet` printed nothing to look for the flag in.
    assert_eq!(unobserved("eks-1.0-node-valancej.json"), ["3.2.8"]);
    // Runs whose every actual_value is empty cannot tell an absent file from a kube-bench
    // that does not print evidence.
    assert!(unobserved("cis-1.5-node-defectdojo.json").is_empty());
    assert!(unobserved("cis-1.20-node-apxd.json").is_empty());
    assert!(unobserved("cis-1.20-node-oakleysecurity.json").is_empty());
    assert!(unobserved("cis-1.12-node-mogamal.json").is_empty());
}
