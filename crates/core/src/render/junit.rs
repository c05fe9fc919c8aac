//! `junit.xml`: a report as JUnit XML, the Ant/Jenkins format that CI systems read
//! (docs/exports.md).
//!
//! One `<testsuite>` per report node, one `<testcase>` per included test. A FAIL is a
//! `<failure>`, WARN and INFO (and any other status kube-bench invents) are `<skipped>`:
//! neither passed, and neither is a failure a CI job should go red on. A node without
//! results (its run failed) is a suite holding one `<error>`.
//!
//! Every text comes from the benchmarked nodes and is escaped; characters XML 1.0 cannot
//! carry at all (most C0 controls) become U+FFFD. The output depends on the report only,
//! so the same report exports byte for byte the same.

use std::io::{self, BufWriter, Write};

use super::RenderError;
use crate::model::{CisBenchmarkNode, ReportDocument, TestResult, TestStatus};

/// How a test appears in JUnit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
    Skipped,
}

fn outcome(t: &TestResult) -> Outcome {
    match t.status {
        TestStatus::Pass => Outcome::Passed,
        TestStatus::Fail => Outcome::Failed,
        TestStatus::Warn | TestStatus::Info | TestStatus::Other(_) => Outcome::Skipped,
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
    fn of(node: &CisBenchmarkNode) -> Counts {
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
            match outcome(t) {
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

/// Why `node` has no results to show, if it has none.
fn not_assessed(node: &CisBenchmarkNode) -> Option<String> {
    if !node.error.is_empty() {
        return Some(format!("the benchmark run failed: {}", node.error));
    }
    if node.results.iter().all(|s| s.results.is_empty()) {
        return Some("the node has no results in the report window".to_string());
    }
    None
}

/// Writes `doc` as JUnit XML into `w` and flushes it.
pub fn write_junit<W: Write>(doc: &ReportDocument, w: W) -> Result<(), RenderError> {
    let mut out = BufWriter::new(w);
    write_document(doc, &mut out)?;
    out.flush()?;
    Ok(())
}

fn write_document(doc: &ReportDocument, out: &mut impl Write) -> io::Result<()> {
    let mut total = Counts::default();
    for node in &doc.cis_benchmark {
        total.add(Counts::of(node));
    }
    out.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"")?;
    attr(out, &doc.id)?;
    write_counts(out, total)?;
    out.write_all(b">\n")?;
    for (i, node) in doc.cis_benchmark.iter().enumerate() {
        write_suite(doc, i, node, out)?;
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
    index: usize,
    node: &CisBenchmarkNode,
    out: &mut impl Write,
) -> io::Result<()> {
    out.write_all(b"  <testsuite name=\"")?;
    attr(out, &node.node_name)?;
    write_counts(out, Counts::of(node))?;
    write!(out, " id=\"{index}\" hostname=\"")?;
    attr(out, &node.node_name)?;
    out.write_all(b"\">\n    <properties>\n")?;
    property(out, "kubernetesVersion", &node.kubernetes_version)?;
    property(out, "benchmarksVersion", &node.benchmarks_version)?;
    property(out, "rating", node.summary.status.as_str())?;
    property(out, "report", &doc.id)?;
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
                write_case(node, &section.section, t, out)?;
            }
        }
    }
    out.write_all(b"  </testsuite>\n")
}

fn write_case(
    node: &CisBenchmarkNode,
    section: &str,
    t: &TestResult,
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
    let tag = match outcome(t) {
        Outcome::Passed => return out.write_all(b"/>\n"),
        Outcome::Failed => "failure",
        Outcome::Skipped => "skipped",
    };
    write!(out, ">\n      <{tag} message=\"")?;
    if tag == "skipped" {
        attr(out, t.status.as_str())?;
        out.write_all(b": ")?;
    }
    attr(out, &t.text.test_desc)?;
    out.write_all(b"\"")?;
    if tag == "failure" {
        out.write_all(b" type=\"")?;
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
