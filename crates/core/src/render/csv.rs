//! The four CSV downloads.
//!
//! Format: RFC 4180 with a header row, `,` separators, fields quoted only when they hold
//! a comma, a double quote or a line break, and CRLF after every record. CRLF is what
//! RFC 4180 prescribes and what spreadsheet programs (the audience of these files, hence
//! the injection guard) expect; line breaks inside a quoted field are kept as the
//! benchmark wrote them. The text is UTF-8 without a byte order mark.

use std::borrow::Cow;
use std::io::Write;

use csv::{Terminator, Writer, WriterBuilder};

use super::{RenderError, effective_params, not_observed_as};
use crate::model::{CisBenchmarkNode, NotObservedAs, ReportDocument, TestResult};
use crate::report::{Counted, counted_as};
use crate::time;

/// Neutralises spreadsheet formula injection by prefixing `'` to a cell that starts with
/// `=`, `+`, `-` or `@` (docs/spec.md §6), or with a tab or carriage return.
///
/// Spreadsheets evaluate such a cell as a formula; test descriptions and remediation
/// texts come from the benchmarked nodes, so they are untrusted. Tab and CR are added to
/// the spec's four because some spreadsheets skip leading whitespace before looking for a
/// formula (OWASP's CSV injection guidance lists all six). Only the first character
/// matters; the text is returned unchanged (and unallocated) otherwise.
pub fn guard_cell(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// A decimal number formatted on the stack, so numeric cells need no allocation.
struct Num {
    buf: [u8; 20],
    start: usize,
}

impl Num {
    fn new(mut n: u64) -> Num {
        let mut buf = [0u8; 20];
        let mut start = buf.len();
        loop {
            start -= 1;
            buf[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                return Num { buf, start };
            }
        }
    }
}

impl AsRef<[u8]> for Num {
    fn as_ref(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn csv_writer<W: Write>(w: W) -> Writer<W> {
    WriterBuilder::new()
        .terminator(Terminator::CRLF)
        .from_writer(w)
}

fn bool_cell(b: bool) -> &'static [u8] {
    if b { b"true" } else { b"false" }
}

/// `total-summary.csv`: the report window, the effective thresholds (defaults applied,
/// so a spec without `cis` prints 100 and 50) and the HIGH/MED/LOW node counts, in one row.
pub fn write_total_summary<W: Write>(doc: &ReportDocument, w: W) -> Result<(), RenderError> {
    let params = effective_params(doc)?;
    let summary = &doc.cis_benchmark_summary;
    let mut out = csv_writer(w);
    out.write_record([
        "startTime",
        "endTime",
        "type",
        "hiPercentThreshold",
        "medPercentThreshold",
        "hiNodeCount",
        "medNodeCount",
        "lowNodeCount",
    ])?;
    out.write_record([
        time::format(&doc.start_time).as_bytes(),
        time::format(&doc.end_time).as_bytes(),
        guard_cell(&summary.kind).as_bytes(),
        Num::new(params.high_threshold.into()).as_ref(),
        Num::new(params.med_threshold.into()).as_ref(),
        Num::new(summary.high_count).as_ref(),
        Num::new(summary.med_count).as_ref(),
        Num::new(summary.low_count).as_ref(),
    ])?;
    out.flush()?;
    Ok(())
}

/// `node-summary.csv`: one row per node in report order. `version` is the node's
/// Kubernetes version, as in Calico's `cis-benchmark` template (docs/spec.md leaves the
/// column's meaning open; existing readers of these files expect Calico's); `testsUnknown` counts WARN and INFO results,
/// which are not part of `testsTotal` (docs/spec.md §4.5).
pub fn write_node_summary<W: Write>(doc: &ReportDocument, w: W) -> Result<(), RenderError> {
    write_streamed(NodeCsv::NodeSummary, doc, w)
}

/// `failed-tests.csv`: the results of every node that count as failures, in report order
/// (nodes, then sections, then tests as stored): FAIL, and NOT_OBSERVED when the report
/// counted those as failures (`notObservedAs: fail`), so the file lists what Top Failed
/// Tests counts. The `status` column keeps the test's own status. `remediation` is the
/// test's `testInfo`.
pub fn write_failed_tests<W: Write>(doc: &ReportDocument, w: W) -> Result<(), RenderError> {
    write_streamed(NodeCsv::FailedTests, doc, w)
}

/// `node-provenance.csv`: one row per node in report order, saying where its result came
/// from: the platform, benchmark and versions of the run the report used, how the
/// benchmark was chosen, when the result was taken, and whether the node had no result
/// in the look-back. Empty cells are what the report did not record (reports of earlier
/// releases and of Calico Enterprise record none of it).
pub fn write_node_provenance<W: Write>(doc: &ReportDocument, w: W) -> Result<(), RenderError> {
    write_streamed(NodeCsv::NodeProvenance, doc, w)
}

/// `all-tests.csv`: every included result of every node, in report order, with the
/// columns of `failed-tests.csv`.
pub fn write_all_tests<W: Write>(doc: &ReportDocument, w: W) -> Result<(), RenderError> {
    write_streamed(NodeCsv::AllTests, doc, w)
}

fn write_streamed<W: Write>(kind: NodeCsv, doc: &ReportDocument, w: W) -> Result<(), RenderError> {
    let mut out = CsvStream::new(kind, w)?.counting(not_observed_as(doc));
    out.nodes(&doc.cis_benchmark)?;
    out.finish()?;
    Ok(())
}

/// The CSV downloads made of rows per node, which can be written a page of nodes at a
/// time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeCsv {
    /// `node-summary.csv`
    NodeSummary,
    /// `failed-tests.csv`
    FailedTests,
    /// `all-tests.csv`
    AllTests,
    /// `node-provenance.csv`
    NodeProvenance,
}

impl NodeCsv {
    /// The streamed form of `download`, if it has one (the total summary and the UI
    /// summary are made from the report's head alone).
    pub fn of(download: super::Download) -> Option<NodeCsv> {
        match download {
            super::Download::NodeSummary => Some(NodeCsv::NodeSummary),
            super::Download::FailedTests => Some(NodeCsv::FailedTests),
            super::Download::AllTests => Some(NodeCsv::AllTests),
            super::Download::NodeProvenance => Some(NodeCsv::NodeProvenance),
            super::Download::TotalSummary
            | super::Download::UiSummary
            | super::Download::Junit
            | super::Download::OscalAssessmentResults => None,
        }
    }
}

const TEST_HEADER: [&str; 6] = [
    "nodeName",
    "testIndex",
    "testDescription",
    "status",
    "scored",
    "remediation",
];

const NODE_HEADER: [&str; 7] = [
    "node",
    "version",
    "status",
    "testsPassing",
    "testsFailing",
    "testsUnknown",
    "testsTotal",
];

const PROVENANCE_HEADER: [&str; 9] = [
    "node",
    "platform",
    "benchmark",
    "kubernetesVersion",
    "kubeBenchVersion",
    "benchmarkerVersion",
    "benchmarkChoice",
    "lastResultTime",
    "noResults",
];

/// A per-node CSV written as pages of nodes arrive, so a server can stream a
/// 10,000-node `all-tests.csv` while holding one page: the header on [`CsvStream::new`],
/// the rows of each [`CsvStream::nodes`] call, byte for byte what the whole-report
/// writers produce for the same nodes in the same order.
pub struct CsvStream<W: Write> {
    kind: NodeCsv,
    out: Writer<W>,
    not_observed_as: NotObservedAs,
}

impl<W: Write> CsvStream<W> {
    /// Starts the file: writes its header row.
    pub fn new(kind: NodeCsv, w: W) -> Result<CsvStream<W>, RenderError> {
        let mut out = csv_writer(w);
        match kind {
            NodeCsv::NodeSummary => out.write_record(NODE_HEADER)?,
            NodeCsv::FailedTests | NodeCsv::AllTests => out.write_record(TEST_HEADER)?,
            NodeCsv::NodeProvenance => out.write_record(PROVENANCE_HEADER)?,
        }
        Ok(CsvStream {
            kind,
            out,
            not_observed_as: NotObservedAs::default(),
        })
    }

    /// Says how the report counted NOT_OBSERVED tests (its `notObservedAs`; `info` until
    /// told): `failed-tests.csv` lists them when they counted as failures.
    pub fn counting(mut self, not_observed_as: NotObservedAs) -> CsvStream<W> {
        self.not_observed_as = not_observed_as;
        self
    }

    /// Writes the rows of `nodes`, which follow the nodes of earlier calls in report
    /// order.
    pub fn nodes(&mut self, nodes: &[CisBenchmarkNode]) -> Result<(), RenderError> {
        match self.kind {
            NodeCsv::NodeSummary => {
                for node in nodes {
                    let s = &node.summary;
                    self.out.write_record([
                        guard_cell(&node.node_name).as_bytes(),
                        guard_cell(&node.kubernetes_version).as_bytes(),
                        s.status.as_str().as_bytes(),
                        Num::new(s.total_pass).as_ref(),
                        Num::new(s.total_fail).as_ref(),
                        Num::new(s.total_info).as_ref(),
                        Num::new(s.total).as_ref(),
                    ])?;
                }
                Ok(())
            }
            NodeCsv::FailedTests => {
                let as_ = self.not_observed_as;
                self.tests(nodes, |t| counted_as(&t.status, as_) == Counted::Fail)
            }
            NodeCsv::AllTests => self.tests(nodes, |_| true),
            NodeCsv::NodeProvenance => {
                for node in nodes {
                    let last = node
                        .last_result_time
                        .as_ref()
                        .map(time::format)
                        .unwrap_or_default();
                    self.out.write_record([
                        guard_cell(&node.node_name).as_bytes(),
                        guard_cell(&node.platform).as_bytes(),
                        guard_cell(&node.benchmarks_version).as_bytes(),
                        guard_cell(&node.kubernetes_version).as_bytes(),
                        guard_cell(&node.kube_bench_version).as_bytes(),
                        guard_cell(&node.benchmarker_version).as_bytes(),
                        guard_cell(&node.benchmark_choice).as_bytes(),
                        last.as_bytes(),
                        bool_cell(node.no_results),
                    ])?;
                }
                Ok(())
            }
        }
    }

    fn tests(
        &mut self,
        nodes: &[CisBenchmarkNode],
        keep: impl Fn(&TestResult) -> bool,
    ) -> Result<(), RenderError> {
        for node in nodes {
            // Guarded once per node rather than once per row.
            let node_name = guard_cell(&node.node_name);
            for section in &node.results {
                for t in section.results.iter().filter(|t| keep(t)) {
                    self.out.write_record([
                        node_name.as_bytes(),
                        guard_cell(&t.text.test_number).as_bytes(),
                        guard_cell(&t.text.test_desc).as_bytes(),
                        guard_cell(t.status.as_str()).as_bytes(),
                        bool_cell(t.scored),
                        guard_cell(&t.text.test_info).as_bytes(),
                    ])?;
                }
            }
        }
        Ok(())
    }

    /// Ends the file: flushes what is buffered and gives the writer back.
    pub fn finish(self) -> Result<W, RenderError> {
        self.out
            .into_inner()
            .map_err(|e| RenderError::Io(e.into_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_each_formula_prefix() {
        for (cell, guarded) in [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
        ] {
            assert_eq!(guard_cell(cell), guarded, "{cell:?}");
        }
    }

    #[test]
    fn leaves_other_cells_borrowed() {
        for cell in [
            "",
            "a=b",
            "1+1",
            "x-y",
            "user@example",
            " =1",
            "'=1",
            "Überprüfen",
        ] {
            assert!(
                matches!(guard_cell(cell), Cow::Borrowed(c) if c == cell),
                "{cell:?}"
            );
        }
    }

    #[test]
    fn formats_numbers() {
        for n in [0, 7, 10, 99, 100, 12345, u64::MAX] {
            assert_eq!(Num::new(n).as_ref(), n.to_string().as_bytes());
        }
    }

    #[test]
    fn quotes_only_when_needed_and_ends_records_with_crlf() {
        let mut buf = Vec::new();
        let mut out = csv_writer(&mut buf);
        out.write_record(["plain", "a,b", "say \"hi\"", "two\nlines", ""])
            .unwrap();
        out.flush().unwrap();
        drop(out);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n"
        );
    }
}
