//! The exports (docs/exports.md) of reports computed from the real kube-bench fixtures:
//! what they count, that they are deterministic, that third-party validators accept
//! them, and that the examples in docs/exports.md are what the code writes today.

use std::path::{Path, PathBuf};

use chrono::Duration;
use compliance_core::model::{BenchmarkDocument, ReportDocument, TestStatus};
use compliance_core::render::{Download, write_download};
use compliance_testkit::fixtures::t;
use compliance_testkit::reports::{
    HOSTILE_TEXT, fixture_documents, fixture_report, hostile_report, report_from,
};
use compliance_testkit::validators::Validators;

fn render(download: Download, doc: &ReportDocument) -> String {
    let mut buf = Vec::new();
    write_download(download, doc, &mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

fn end() -> chrono::DateTime<chrono::Utc> {
    t("2026-11-25T00:00:00Z")
}

fn count(doc: &ReportDocument, status: TestStatus) -> usize {
    doc.cis_benchmark
        .iter()
        .flat_map(|n| n.results.iter().flat_map(|s| &s.results))
        .filter(|r| r.status == status)
        .count()
}

#[test]
fn junit_counts_every_included_test_of_every_node() {
    let doc = fixture_report(end());
    let xml = render(Download::Junit, &doc);
    let tests: usize = doc
        .cis_benchmark
        .iter()
        .flat_map(|n| &n.results)
        .map(|s| s.results.len())
        .sum();
    // NOT_OBSERVED counts as info by default: skipped, like WARN and INFO.
    let skipped = count(&doc, TestStatus::Warn)
        + count(&doc, TestStatus::Info)
        + count(&doc, TestStatus::NotObserved);
    let fails = count(&doc, TestStatus::Fail);
    let head = xml.lines().nth(1).unwrap();
    assert!(
        head.contains(&format!(
            "tests=\"{tests}\" failures=\"{fails}\" errors=\"0\" skipped=\"{skipped}\""
        )),
        "{head}"
    );
    assert_eq!(xml.matches("<testcase ").count(), tests);
    assert_eq!(xml.matches("<failure ").count(), fails);
    assert_eq!(xml.matches("<skipped ").count(), skipped);
    assert_eq!(xml.matches("<testsuite ").count(), doc.cis_benchmark.len());
}

#[test]
fn oscal_has_an_observation_per_node_and_test_and_a_finding_per_check() {
    let doc = fixture_report(end());
    let v: serde_json::Value =
        serde_json::from_str(&render(Download::OscalAssessmentResults, &doc)).unwrap();
    let result = &v["assessment-results"]["results"][0];
    let tests: usize = doc
        .cis_benchmark
        .iter()
        .flat_map(|n| &n.results)
        .map(|s| s.results.len())
        .sum();
    assert_eq!(result["observations"].as_array().unwrap().len(), tests);
    let findings = result["findings"].as_array().unwrap();
    let related: usize = findings
        .iter()
        .map(|f| f["related-observations"].as_array().unwrap().len())
        .sum();
    assert_eq!(related, tests, "every observation belongs to one finding");
    for f in findings {
        let state = f["target"]["status"]["state"].as_str().unwrap();
        let fails = f["props"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "nodes-fail")
            .unwrap()["value"]
            .as_str()
            .unwrap();
        if fails != "0" {
            assert_eq!(state, "not-satisfied", "{f}");
        }
    }
    assert_eq!(
        result["start"], "2026-11-24T00:00:00Z",
        "the result is the report's window"
    );
}

/// A NOT_OBSERVED test is never exported as a pass: skipped by default, a failure when
/// the report counted it as one; its check is never `satisfied`.
#[test]
fn not_observed_is_never_a_pass() {
    let mut doc = fixture_report(end());
    let node = &mut doc.cis_benchmark[0];
    let t = node
        .results
        .iter_mut()
        .flat_map(|s| s.results.iter_mut())
        .find(|t| t.status == TestStatus::Pass)
        .unwrap();
    t.status = TestStatus::NotObserved;
    let number = t.text.test_number.clone();
    let name = format!(
        "name=\"{number} {}\"",
        t.text.test_desc.replace('"', "&quot;")
    );
    let version = node.benchmarks_version.clone();
    let case = |xml: &str| -> String {
        let at = xml.find(&name).unwrap();
        let end = at + xml[at..].find("</testcase>").unwrap();
        xml[at..end].to_string()
    };
    let finding = |doc: &ReportDocument| -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&render(Download::OscalAssessmentResults, doc)).unwrap();
        let findings = v["assessment-results"]["results"][0]["findings"].clone();
        findings
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["target"]["target-id"] == format!("{version}_{number}"))
            .unwrap()["target"]["status"]
            .clone()
    };
    for not_observed_as in ["info", "pass"] {
        doc.provenance = None;
        doc.report_spec.cis.as_mut().unwrap().not_observed_as = Some(not_observed_as.into());
        let xml = render(Download::Junit, &doc);
        assert!(
            case(&xml).contains("<skipped message=\"not observed"),
            "{not_observed_as}: {}",
            case(&xml)
        );
        assert_eq!(finding(&doc)["state"], "not-satisfied", "{not_observed_as}");
    }
    doc.report_spec.cis.as_mut().unwrap().not_observed_as = Some("fail".into());
    let xml = render(Download::Junit, &doc);
    assert!(
        case(&xml).contains("<failure message=\"not observed")
            && case(&xml).contains("type=\"NOT_OBSERVED "),
        "{}",
        case(&xml)
    );
    assert_eq!(
        finding(&doc),
        serde_json::json!({"state": "not-satisfied", "reason": "fail"})
    );
}

#[test]
fn the_same_report_exports_byte_for_byte_the_same() {
    for &d in Download::exports() {
        let a = render(d, &fixture_report(end()));
        let b = render(d, &fixture_report(end()));
        assert!(a == b, "{d} differs between two renders of one report");
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The exports of the fixture report, of the hostile one (markup and quotes in names and
/// texts), of a report with a node whose run failed, and of a report with no nodes, as
/// xmlschema and compliance-trestle see them.
#[test]
fn third_party_validators_accept_the_exports() {
    let Some(validators) = Validators::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut failed = fixture_documents(end());
    failed[0].error = "kube-bench exited 1: \u{1b}[31mno config\u{1b}[0m <&>".into();
    failed[0].tests.clear();
    let mut empty = fixture_report(end());
    empty.cis_benchmark.clear();
    let hostile = hostile_report(end());
    assert!(
        render(Download::Junit, &hostile)
            .contains(&HOSTILE_TEXT.replace('<', "&lt;").replace('>', "&gt;"))
    );
    for (label, doc) in [
        ("fixture", fixture_report(end())),
        ("hostile", hostile),
        ("failed", report_from(failed, end())),
        ("empty", empty),
    ] {
        let xml = write(
            dir.path(),
            &format!("{label}.junit.xml"),
            &render(Download::Junit, &doc),
        );
        let said = validators.junit(&xml);
        assert!(said.starts_with("valid:"), "{said}");
        let json = write(
            dir.path(),
            &format!("{label}.oscal.json"),
            &render(Download::OscalAssessmentResults, &doc),
        );
        let said = validators.oscal(&json);
        assert!(said.starts_with("valid:"), "{said}");
    }
    // The golden files of render_golden.rs: control characters, a failed node.
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    validators.junit(&golden.join("junit.xml"));
    validators.oscal(&golden.join("oscal-assessment-results.json"));
}

// docs/exports.md's examples.

/// The report of the examples: one real node (a PASS, a FAIL and a WARN of its real
/// kube-bench output) and one node whose run failed, computed by the report rules.
fn example_report() -> ReportDocument {
    let end = end();
    let docs = fixture_documents(end);
    let mut node = docs
        .into_iter()
        .find(|d| d.node_name == "cis-1.20-node-apxd")
        .unwrap();
    let mut kept = Vec::new();
    for status in [TestStatus::Pass, TestStatus::Fail, TestStatus::Warn] {
        let test = node.tests.iter().find(|t| t.status == status).unwrap();
        kept.push(test.clone());
    }
    node.tests = kept;
    node.node_name = "worker-1".into();
    let failed = BenchmarkDocument {
        node_name: "worker-2".into(),
        error: "kube-bench did not finish within 5m0s".into(),
        tests: Vec::new(),
        timestamp: end - Duration::minutes(30),
        ..node.clone()
    };
    report_from(vec![node, failed], end)
}

fn docs_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/exports.md")
}

/// `docs` with the block between `<!-- begin NAME -->` and `<!-- end NAME -->` replaced
/// by a fenced block of `lang` holding `body`.
fn with_block(docs: &str, name: &str, lang: &str, body: &str) -> String {
    let begin = format!("<!-- begin {name} -->\n");
    let end = format!("<!-- end {name} -->");
    let from = docs
        .find(&begin)
        .unwrap_or_else(|| panic!("docs/exports.md has no {begin:?}"))
        + begin.len();
    let to = docs[from..]
        .find(&end)
        .unwrap_or_else(|| panic!("docs/exports.md has no {end:?}"))
        + from;
    format!("{}```{lang}\n{body}```\n{}", &docs[..from], &docs[to..])
}

/// The examples in docs/exports.md are the exports of [`example_report`] as the code
/// writes them now. `UPDATE_DOCS=1` rewrites them; review the diff.
#[test]
fn the_examples_in_the_docs_are_current() {
    let doc = example_report();
    let text = std::fs::read_to_string(docs_path()).unwrap();
    let mut expected = with_block(&text, "junit.xml", "xml", &render(Download::Junit, &doc));
    expected = with_block(
        &expected,
        "oscal-assessment-results.json",
        "json",
        &render(Download::OscalAssessmentResults, &doc),
    );
    if std::env::var_os("UPDATE_DOCS").is_some_and(|v| v != "0") {
        std::fs::write(docs_path(), &expected).unwrap();
        return;
    }
    assert!(
        text == expected,
        "docs/exports.md's examples are not what the exports write now; \
         rerun with UPDATE_DOCS=1 and review the change"
    );
}
