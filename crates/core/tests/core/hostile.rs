//! Hostile input through the core (docs/hostile-input.md): markup, formulas, control
//! characters, huge strings and deep JSON in kube-bench output and NDJSON, node names
//! past the Kubernetes limit, input past the size limit, and GlobalReports with
//! 100,000 filter entries. Each input is either refused with an error naming the field
//! and the (shortened) value, or carried unchanged into every download, escaped for the
//! download's format.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use compliance_core::import::kube_bench::{KubeBenchOptions, build_document, parse_kube_bench};
use compliance_core::import::{
    DEFAULT_MAX_SIZE, ImportError, MAX_NODE_NAME_BYTES, check_node_name, read_all, read_limited,
};
use compliance_core::model::{BenchmarkDocument, ReportDocument, ResultsFilter, TextInterner};
use compliance_core::render::{Download, write_download};
use compliance_core::report::{ReportRequest, compute_report};
use compliance_testkit::fixtures::{cis_benchmark_type, daily_report, t};
use compliance_testkit::reports::{fixture_documents, report_from};
use serde_json::json;

/// Text a node could put anywhere kube-bench prints text: markup that would run in a
/// page, template syntax, spreadsheet formulas, SQL, and characters that rewrite a
/// terminal or reorder text.
pub const HOSTILE_TEXTS: &[&str] = &[
    "<script>window.__pwned=1</script>",
    "\"><img src=x onerror=\"window.__pwned=2\">",
    "{{ 7*7 }}{% raw %}{# c #}",
    "=HYPERLINK(\"http://evil.example/\",\"click\")",
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(1+1)",
    "'; DROP TABLE reports; --",
    "nul\0byte",
    "\u{1b}[31mred\u{1b}[0m",
    "cr\r\nlf",
    "bidi \u{202e}txt.exe",
    "]]></x><!-- &amp; &lt;",
];

fn end() -> chrono::DateTime<chrono::Utc> {
    t("2026-11-25T00:00:00Z")
}

/// kube-bench v0.5+ output with one result per text of `texts`, each in every text
/// field (section description, description, remediation).
fn kube_bench_json(texts: &[&str]) -> String {
    let results: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            json!({
                "test_number": format!("1.1.{}", i + 1),
                "test_desc": text,
                "test_info": [text],
                "status": if i % 2 == 0 { "FAIL" } else { "PASS" },
                "scored": true,
                "actual_value": "x",
            })
        })
        .collect();
    json!({"Controls": [{
        "id": "1", "version": "cis-1.9", "detected_version": "1.29",
        "tests": [{"section": "1.1", "desc": texts[0], "results": results}]
    }]})
    .to_string()
}

fn import(node: &str, input: &[u8]) -> Result<BenchmarkDocument, ImportError> {
    let mut interner = TextInterner::new();
    let run = parse_kube_bench(Path::new("evil.json"), input, &mut interner)?;
    let options = KubeBenchOptions::new(node, end() - chrono::Duration::hours(1));
    Ok(build_document(vec![run], &options)?.document)
}

fn render(download: Download, doc: &ReportDocument) -> String {
    let mut buf = Vec::new();
    write_download(download, doc, &mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

#[test]
fn hostile_texts_are_imported_unchanged() {
    let doc = import("evil-node", kube_bench_json(HOSTILE_TEXTS).as_bytes()).unwrap();
    let descs: Vec<&str> = doc
        .tests
        .iter()
        .map(|t| t.text.test_desc.as_str())
        .collect();
    assert_eq!(descs, HOSTILE_TEXTS);
    for t in &doc.tests {
        assert_eq!(t.text.test_desc, t.text.test_info);
    }
}

/// A report over the hostile node and the seven real ones.
fn hostile_report() -> ReportDocument {
    let mut docs = fixture_documents(end());
    docs.push(
        import(
            "<b>evil</b>-node",
            kube_bench_json(HOSTILE_TEXTS).as_bytes(),
        )
        .unwrap(),
    );
    report_from(docs, end())
}

#[test]
fn every_json_download_of_hostile_text_parses_back_to_the_same_text() {
    let doc = hostile_report();
    for download in [Download::UiSummary, Download::OscalAssessmentResults] {
        let text = render(download, &doc);
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{download:?} is not JSON: {e}"));
        let all = v.to_string();
        assert!(!all.contains('\u{1b}'), "{download:?}: a raw ESC survived");
        if download == Download::OscalAssessmentResults {
            // Observations carry each description; parse, do not search the escaped text.
            let mut found = Vec::new();
            collect_strings(&v, &mut found);
            for text in HOSTILE_TEXTS {
                assert!(
                    found.iter().any(|s| s.contains(text)),
                    "{download:?} lost {text:?}"
                );
            }
        }
    }
    // The stored document itself round-trips through JSON.
    let stored = serde_json::to_string(&doc).unwrap();
    let back: ReportDocument = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, doc);
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

#[test]
fn csv_cells_with_formula_prefixes_get_a_quote_and_other_text_stays_literal() {
    let doc = hostile_report();
    let csv = render(Download::AllTests, &doc);
    let mut reader = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
    // csv is the core's own dependency; reading back checks the quoting.
    let mut seen = Vec::new();
    for row in reader.records() {
        let row = row.expect("all-tests.csv is RFC 4180");
        if &row[0] == "<b>evil</b>-node" {
            seen.push((row[2].to_string(), row[5].to_string()));
        }
    }
    assert_eq!(seen.len(), HOSTILE_TEXTS.len());
    for (desc, remediation) in &seen {
        assert_eq!(desc, remediation);
        // docs/spec.md §6: a cell starting with = + - @ gets a leading '.
        assert!(
            !desc.starts_with(['=', '+', '-', '@']),
            "formula cell not neutralised: {desc:?}"
        );
        let original = desc
            .strip_prefix('\'')
            .filter(|rest| rest.starts_with(['=', '+', '-', '@']));
        assert!(
            HOSTILE_TEXTS.contains(&original.unwrap_or(desc)),
            "{desc:?}"
        );
    }
}

#[test]
fn junit_of_hostile_text_escapes_markup_and_carries_no_raw_control_character() {
    let doc = hostile_report();
    let xml = render(Download::Junit, &doc);
    // XML 1.0 cannot carry NUL or ESC at all: they must be replaced, not written raw.
    assert!(
        !xml.contains('\0') && !xml.contains('\u{1b}'),
        "raw control character in XML"
    );
    assert!(!xml.contains("<script>") && !xml.contains("<img ") && !xml.contains("<!--"));
    assert!(xml.contains("&lt;script&gt;window.__pwned=1&lt;/script&gt;"));
    assert!(xml.contains("]]&gt;&lt;/x&gt;&lt;!-- &amp;amp; &amp;lt;"));
    assert!(xml.contains("{{ 7*7 }}{% raw %}{# c #}"));
}

#[test]
fn node_names_longer_than_253_bytes_are_refused_naming_the_value_shortened() {
    let ok = "a".repeat(MAX_NODE_NAME_BYTES);
    check_node_name(&ok).unwrap();
    let long = "n".repeat(1 << 20);
    let e = import(&long, kube_bench_json(&["x"]).as_bytes()).unwrap_err();
    let message = e.to_string();
    assert!(matches!(e, ImportError::InvalidNodeName { .. }), "{e:?}");
    assert!(message.contains("1048576 bytes long"), "{message}");
    assert!(message.contains("at most 253 bytes"), "{message}");
    assert!(
        message.len() < 300,
        "the value is quoted whole: {} bytes",
        message.len()
    );
    let e = check_node_name(&"é".repeat(127)).unwrap_err();
    assert!(e.to_string().contains("254 bytes long"), "{e}");
}

#[test]
fn node_names_with_control_characters_are_refused_and_markup_is_carried() {
    for bad in [
        "esc\u{1b}[31m",
        "a\nb",
        "nul\0",
        "cr\r",
        "bidi\u{202e}",
        "del\u{7f}",
    ] {
        let e = import(bad, kube_bench_json(&["x"]).as_bytes()).unwrap_err();
        let message = e.to_string();
        assert!(message.contains("control character"), "{bad:?}: {message}");
        assert!(
            !message.chars().any(|c| c.is_control()),
            "the message itself carries the raw character: {message:?}"
        );
    }
    let doc = import("<script>x</script>", kube_bench_json(&["x"]).as_bytes()).unwrap();
    assert_eq!(doc.node_name, "<script>x</script>");
}

/// `depth` nested arrays around a value.
fn nested(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn deeply_nested_kube_bench_json_is_refused_without_overflowing_the_stack() {
    for input in [
        nested(10_000, ""),
        format!("{{\"Controls\": {}}}", nested(10_000, "")),
        format!("{{\"Controls\": [{{\"tests\": {}}}]}}", nested(10_000, "1")),
    ] {
        let e = import("node-1", input.as_bytes()).unwrap_err();
        let message = e.to_string();
        assert!(matches!(e, ImportError::NotJson { .. }), "{e:?}");
        assert!(message.contains("recursion limit exceeded"), "{message}");
        assert!(message.contains("line 1, column"), "{message}");
    }
}

#[test]
fn a_deeply_nested_ndjson_line_is_skipped_and_the_others_are_read() {
    let good = serde_json::to_string(&fixture_documents(end())[0]).unwrap();
    // Deep as the whole line (refused at its first bracket: a document is an object),
    // and deep under a key the reader does not know, which serde_json skips without
    // recursing, so the document is read and the unknown key dropped.
    let under_key = good.replacen('{', &format!("{{\"extra\":{},", nested(10_000, "")), 1);
    let input = format!("{good}\n{}\n{under_key}\n", nested(10_000, ""));
    let (docs, stats) =
        read_all(input.as_bytes(), "deep.ndjson", &mut TextInterner::new()).unwrap();
    assert_eq!(docs.len(), 2, "{:?}", stats.reasons);
    assert_eq!(docs[0], docs[1]);
    assert_eq!(stats.skipped, 1);
    assert_eq!(stats.reasons[0].line, 2);
}

#[test]
fn lone_surrogates_in_json_strings_are_refused_with_their_position() {
    let input = kube_bench_json(&["PLACEHOLDER"]).replace("PLACEHOLDER", "bad \\ud800 text");
    let e = import("node-1", input.as_bytes()).unwrap_err();
    // serde_json's words for it: the `\\u` escape of the second half is missing.
    assert!(matches!(e, ImportError::NotJson { .. }), "{e:?}");
    assert!(e.to_string().contains("column 78"), "{e}");

    let good = serde_json::to_string(&fixture_documents(end())[0]).unwrap();
    let bad = good.replacen("\"node_name\":\"", "\"node_name\":\"\\udc00", 1);
    assert_ne!(bad, good);
    let input = format!("{bad}\n{good}\n");
    let (docs, stats) = read_all(input.as_bytes(), "s.ndjson", &mut TextInterner::new()).unwrap();
    assert_eq!((docs.len(), stats.skipped), (1, 1));
    assert!(
        stats.reasons[0].reason.contains("surrogate"),
        "{:?}",
        stats.reasons
    );
}

#[test]
fn a_ten_megabyte_test_text_is_carried_through_import_report_and_csv() {
    let huge = "A".repeat(10 << 20);
    let started = Instant::now();
    let doc = import("node-1", kube_bench_json(&[&huge]).as_bytes()).unwrap();
    assert_eq!(doc.tests[0].text.test_desc.len(), 10 << 20);
    let report = report_from(vec![doc], end());
    let csv = render(Download::FailedTests, &report);
    // Description and remediation, each once.
    assert!(csv.len() > 2 * (10 << 20), "{}", csv.len());
    eprintln!(
        "MEASURE 10 MB test text: import + report + failed-tests.csv in {:?}",
        started.elapsed()
    );
}

#[test]
fn input_over_the_size_limit_is_refused_after_reading_one_byte_more() {
    let path = Path::new("big.json");
    assert_eq!(read_limited(&b"12345"[..], path, 5).unwrap(), b"12345");
    let e = read_limited(&b"123456"[..], path, 5).unwrap_err();
    assert_eq!(
        e.to_string(),
        "big.json: kube-bench output is larger than the limit of 5 bytes set by \
         KUBE_BENCH_MAX_OUTPUT"
    );
    // An endless input: refused once limit + 1 bytes were read, and only those.
    let mut endless = std::io::repeat(b' ');
    let e = read_limited(&mut endless, path, 2 << 20).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("larger than the limit of 2 MiB set by KUBE_BENCH_MAX_OUTPUT"),
        "{e}"
    );
    let mut rest = [0u8; 1];
    assert_eq!(endless.read(&mut rest).unwrap(), 1, "repeat never ends");
    assert_eq!(DEFAULT_MAX_SIZE, 64 << 20);
}

/// The report over `nodes` copies of the real fixture nodes with `filters` as its
/// resultsFilters, and how long computing it took.
fn report_with_filters(
    nodes: usize,
    filters: Vec<ResultsFilter>,
) -> (ReportDocument, std::time::Duration) {
    let templates = fixture_documents(end());
    let docs: Vec<BenchmarkDocument> = (0..nodes)
        .map(|i| {
            let mut d = templates[i % templates.len()].clone();
            d.node_name = format!("node-{i:05}");
            d
        })
        .collect();
    let mut report = daily_report();
    report.spec.cis.as_mut().unwrap().results_filters = filters;
    let report_type = cis_benchmark_type();
    let request = ReportRequest {
        report: &report,
        report_type: &report_type,
        start: end() - chrono::Duration::days(1),
        end: end(),
        generation_time: end(),
        cluster: "cluster",
        reporter_version: "test",
    };
    let started = Instant::now();
    let (doc, _) = compute_report(request, docs).expect("valid spec");
    (doc, started.elapsed())
}

fn selecting(version: &str, exclude: Vec<String>) -> ResultsFilter {
    ResultsFilter {
        benchmark_selection: Some(compliance_core::model::BenchmarkSelection {
            kubernetes_version: Some(version.to_string()),
        }),
        include: Vec::new(),
        exclude,
    }
}

/// 100,000 resultsFilters entries that select no node, then one that drops 1.1.1 on
/// every node; and one entry excluding 100,000 test numbers. Both give the report the
/// 10-entry spec gives, and the time of each is printed for docs/hostile-input.md.
#[test]
fn one_hundred_thousand_filter_entries_give_the_same_report_as_ten() {
    const NODES: usize = 200;
    let last = selecting("", vec!["1.1.1".to_string()]);
    let unmatched = |n: usize| -> Vec<ResultsFilter> {
        let mut v: Vec<_> = (0..n)
            .map(|i| selecting(&format!("9.{i}"), Vec::new()))
            .collect();
        v.push(last.clone());
        v
    };
    let (small, small_time) = report_with_filters(NODES, unmatched(10));
    let (large, large_time) = report_with_filters(NODES, unmatched(100_000));
    // The same filters over one node: what the filters cost once, whatever the nodes.
    let (_, once_time) = report_with_filters(1, unmatched(100_000));
    assert_eq!(small.cis_benchmark, large.cis_benchmark);
    assert!(
        small.cis_benchmark[0]
            .results
            .iter()
            .flat_map(|s| &s.results)
            .all(|t| t.test_number() != "1.1.1")
    );

    let mut many = vec!["1.1.1".to_string()];
    many.extend((0..100_000).map(|i| format!("99.{i}")));
    let (excluding, excluding_time) = report_with_filters(NODES, vec![selecting("", many)]);
    assert_eq!(excluding.cis_benchmark, small.cis_benchmark);
    eprintln!(
        "MEASURE {NODES} nodes: 11 resultsFilters {small_time:?}, 100,001 resultsFilters \
         {large_time:?} (over 1 node: {once_time:?}), one filter of 100,001 excludes \
         {excluding_time:?}"
    );
}

#[test]
fn ndjson_documents_with_node_names_the_import_refuses_are_skipped_naming_them() {
    let good = fixture_documents(end())[0].clone();
    let mut lines = String::new();
    for name in ["n".repeat(1 << 20), "esc\u{1b}[31m".to_string()] {
        let mut bad = good.clone();
        bad.node_name = name;
        lines.push_str(&serde_json::to_string(&bad).unwrap());
        lines.push('\n');
    }
    lines.push_str(&serde_json::to_string(&good).unwrap());
    let (docs, stats) = read_all(lines.as_bytes(), "n.ndjson", &mut TextInterner::new()).unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(stats.skipped, 2);
    assert!(
        stats.reasons[0].reason.contains("1048576 bytes long"),
        "{:?}",
        stats.reasons
    );
    assert!(stats.reasons[0].reason.len() < 300);
    assert!(
        stats.reasons[1]
            .reason
            .contains("control character '\\u{1b}'"),
        "{:?}",
        stats.reasons
    );
}
