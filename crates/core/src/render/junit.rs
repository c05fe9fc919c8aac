//! `junit.xml`: a report as JUnit XML, the Ant/Jenkins format that CI systems read
//! (docs/exports.md).
//!
//! One `<testsuite>` per report node, one `<testcase>` per included test. A FAIL is a
//! `<failure>`, WARN and INFO (and any other status kube-bench invents) are `<skipped>`:
//! neither passed, and neither is a failure a CI job should go red on. NOT_OBSERVED is
//! never a pass: skipped, or a failure when the report counted it as one
//! (`notObservedAs: fail`). A node without results (its run failed, or it had none in
//! the look-back) is a suite holding one `<error>`.
//!
//! Every text comes from the benchmarked nodes and is escaped; characters XML 1.0 cannot
//! carry at all (most C0 controls) become U+FFFD. The output depends on the report only,
//! so the same report exports byte for byte the same.

use std::io::{self, BufWriter, Write};

use super::{RenderError, not_assessed, not_observed_as};
use crate::model::global_report::NotObservedAs;
use crate::model::{CisBenchmarkNode, ReportDocument, TestResult, TestStatus};
use crate::time;

/// How a test appears in JUnit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
    Skipped,
}

/// A NOT_OBSERVED test is never a pass here, whatever `notObservedAs` says: nothing was
/// observed that could pass. It is a failure when the report counted it as one, and
/// skipped otherwise.
fn outcome(t: &TestResult, not_observed_as: NotObservedAs) -> Outcome {
    match t.status {
        TestStatus::Pass => Outcome::Passed,
        TestStatus::Fail => Outcome::Failed,
        TestStatus::NotObserved if not_observed_as == NotObservedAs::Fail => Outcome::Failed,
        TestStatus::NotObserved | TestStatus::Warn | TestStatus::Info | TestStatus::Other(_) => {
            Outcome::Skipped
        }
    }
}

/// The counts of a `<testsuite>` or of the whole `<testsuites>`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    tests: u64,
    failures: u64,
    errors: u64,
    skipped: u64,
}

impl Counts {
    fn of(node: &CisBenchmarkNode, not_observed_as: NotObservedAs) -> Counts {
        if not_assessed(node).is_some() {
            return Counts {
                tests: 1,
                errors: 1,
                ..Counts::default()
            };
        }
        let mut c = Counts::default();
        for t in node.results.iter().flat_map(|s| &s.results) {
            c.tests += 1;
            match outcome(t, not_observed_as) {
                Outcome::Passed => {}
                Outcome::Failed => c.failures += 1,
                Outcome::Skipped => c.skipped += 1,
            }
        }
        c
    }

    fn add(&mut self, o: Counts) {
        self.tests += o.tests;
        self.failures += o.failures;
        self.errors += o.errors;
        self.skipped += o.skipped;
    }
}

/// Writes `doc` as JUnit XML into `w` and flushes it.
pub fn write_junit<W: Write>(doc: &ReportDocument, w: W) -> Result<(), RenderError> {
    let mut out = BufWriter::new(w);
    write_document(doc, &mut out)?;
    out.flush()?;
    Ok(())
}

fn write_document(doc: &ReportDocument, out: &mut impl Write) -> io::Result<()> {
    let not_observed_as = not_observed_as(doc);
    let mut total = Counts::default();
    for node in &doc.cis_benchmark {
        total.add(Counts::of(node, not_observed_as));
    }
    out.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"")?;
    attr(out, &doc.id)?;
    write_counts(out, total)?;
    out.write_all(b">\n")?;
    for (i, node) in doc.cis_benchmark.iter().enumerate() {
        write_suite(doc, not_observed_as, i, node, out)?;
    }
    out.write_all(b"</testsuites>\n")
}

fn write_counts(out: &mut impl Write, c: Counts) -> io::Result<()> {
    write!(
        out,
        "\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"0\"",
        c.tests, c.failures, c.errors, c.skipped
    )
}

fn write_suite(
    doc: &ReportDocument,
    not_observed_as: NotObservedAs,
    index: usize,
    node: &CisBenchmarkNode,
    out: &mut impl Write,
) -> io::Result<()> {
    out.write_all(b"  <testsuite name=\"")?;
    attr(out, &node.node_name)?;
    write_counts(out, Counts::of(node, not_observed_as))?;
    // When the suite ran: the result's time. A node without results shows its last
    // result ever as a property only, since that run is not in the report.
    if let Some(at) = node.last_result_time.as_ref().filter(|_| !node.no_results) {
        write!(out, " timestamp=\"{}\"", time::format(at))?;
    }
    write!(out, " id=\"{index}\" hostname=\"")?;
    attr(out, &node.node_name)?;
    out.write_all(b"\">\n    <properties>\n")?;
    property(out, "kubernetesVersion", &node.kubernetes_version)?;
    property(out, "benchmarksVersion", &node.benchmarks_version)?;
    property(out, "rating", node.summary.status.as_str())?;
    property(out, "report", &doc.id)?;
    // Provenance, where the benchmark document recorded it.
    for (name, value) in [
        ("platform", &node.platform),
        ("kubeBenchVersion", &node.kube_bench_version),
        ("benchmarkerVersion", &node.benchmarker_version),
        ("benchmarkChoice", &node.benchmark_choice),
    ] {
        if !value.is_empty() {
            property(out, name, value)?;
        }
    }
    if let Some(at) = &node.last_result_time {
        property(out, "lastResultTime", &time::format(at))?;
    }
    if node.no_results {
        property(out, "noResults", "true")?;
    }
    out.write_all(b"    </properties>\n")?;
    if let Some(why) = not_assessed(node) {
        out.write_all(b"    <testcase classname=\"")?;
        attr(out, &node.node_name)?;
        out.write_all(b"\" name=\"benchmark\" time=\"0\">\n      <error message=\"")?;
        attr(out, &why)?;
        out.write_all(b"\" type=\"NOT_ASSESSED\"/>\n    </testcase>\n")?;
    } else {
        for section in &node.results {
            for t in &section.results {
                write_case(node, &section.section, t, not_observed_as, out)?;
            }
        }
    }
    out.write_all(b"  </testsuite>\n")
}

fn write_case(
    node: &CisBenchmarkNode,
    section: &str,
    t: &TestResult,
    not_observed_as: NotObservedAs,
    out: &mut impl Write,
) -> io::Result<()> {
    out.write_all(b"    <testcase classname=\"")?;
    attr(out, &node.node_name)?;
    out.write_all(b".")?;
    attr(out, section)?;
    out.write_all(b"\" name=\"")?;
    attr(out, &t.text.test_number)?;
    out.write_all(b" ")?;
    attr(out, &t.text.test_desc)?;
    out.write_all(b"\" time=\"0\"")?;
    let tag = match outcome(t, not_observed_as) {
        Outcome::Passed => return out.write_all(b"/>\n"),
        Outcome::Failed => "failure",
        Outcome::Skipped => "skipped",
    };
    write!(out, ">\n      <{tag} message=\"")?;
    if t.status == TestStatus::NotObserved {
        out.write_all(NOT_OBSERVED_MESSAGE.as_bytes())?;
    } else if tag == "skipped" {
        attr(out, t.status.as_str())?;
        out.write_all(b": ")?;
    }
    attr(out, &t.text.test_desc)?;
    out.write_all(b"\"")?;
    if tag == "failure" {
        out.write_all(b" type=\"")?;
        if t.status == TestStatus::NotObserved {
            out.write_all(b"NOT_OBSERVED ")?;
        }
        out.write_all(if t.scored { b"scored" } else { b"unscored" })?;
        out.write_all(b"\"")?;
    }
    if t.text.test_info.is_empty() {
        out.write_all(b"/>\n")?;
    } else {
        out.write_all(b">")?;
        text(out, &t.text.test_info)?;
        writeln!(out, "</{tag}>")?;
    }
    out.write_all(b"    </testcase>\n")
}

/// What a NOT_OBSERVED test's message starts with.
const NOT_OBSERVED_MESSAGE: &str =
    "not observed (kube-bench said PASS, but its audit produced no output): ";

fn property(out: &mut impl Write, name: &str, value: &str) -> io::Result<()> {
    out.write_all(b"      <property name=\"")?;
    attr(out, name)?;
    out.write_all(b"\" value=\"")?;
    attr(out, value)?;
    out.write_all(b"\"/>\n")
}

/// Whether XML 1.0 allows `c` in a document at all (its `Char` production).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escapes `s` for a double-quoted attribute value. Tabs and line breaks are written as
/// character references, which survive attribute-value normalisation.
fn attr(out: &mut impl Write, s: &str) -> io::Result<()> {
    escape(out, s, true)
}

/// Escapes `s` for element content. A carriage return is a character reference, so
/// that end-of-line handling does not turn it into a line feed.
fn text(out: &mut impl Write, s: &str) -> io::Result<()> {
    escape(out, s, false)
}

fn escape(out: &mut impl Write, s: &str, in_attr: bool) -> io::Result<()> {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let replacement: &str = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' if in_attr => "&quot;",
            '\r' => "&#13;",
            '\n' if in_attr => "&#10;",
            '\t' if in_attr => "&#9;",
            c if !xml_char(c) => "\u{FFFD}",
            _ => continue,
        };
        out.write_all(&s.as_bytes()[start..i])?;
        out.write_all(replacement.as_bytes())?;
        start = i + c.len_utf8();
    }
    out.write_all(&s.as_bytes()[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str, in_attr: bool) -> String {
        let mut buf = Vec::new();
        escape(&mut buf, s, in_attr).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escaped("a < b && \"c\" > 'd'", true),
            "a &lt; b &amp;&amp; &quot;c&quot; &gt; 'd'"
        );
        assert_eq!(escaped("\"c\"", false), "\"c\"");
    }

    #[test]
    fn keeps_line_breaks_and_tabs_through_attribute_normalisation() {
        assert_eq!(escaped("a\nb\tc\r\n", true), "a&#10;b&#9;c&#13;&#10;");
        assert_eq!(escaped("a\nb\tc\r\n", false), "a\nb\tc&#13;\n");
    }

    #[test]
    fn replaces_what_xml_cannot_carry() {
        assert_eq!(
            escaped("nul\u{0}bell\u{7}esc\u{1b}ff\u{c}end\u{FFFE}", false),
            "nul\u{FFFD}bell\u{FFFD}esc\u{FFFD}ff\u{FFFD}end\u{FFFD}"
        );
        assert_eq!(
            escaped("Überprüfen 日本語 😀", true),
            "Überprüfen 日本語 😀"
        );
    }
}
