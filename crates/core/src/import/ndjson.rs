//! Benchmark documents in the docs/spec.md §3 schema, one JSON object per line.
//!
//! This is how documents move between stores and clusters, and such files get large
//! (a day of 10,000 nodes is 240,000 lines). [`NdjsonReader`] is an iterator that holds
//! one line at a time, so a caller can hand documents to a store as they are read
//! instead of holding the file and its documents at once.
//!
//! A bad line is skipped with a warning rather than failing the import: an export
//! truncated by a full disk, or one hand-edited record, should not cost every other
//! node its results. Only a failure to read the input at all is an error.

use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::model::{BenchmarkDocument, TextInterner};

use super::ImportError;

/// How many skip reasons [`NdjsonStats`] keeps. Every skipped line is logged; the kept
/// ones are for a summary at the end, where thousands of lines would drown the point.
pub const REASONS_KEPT: usize = 10;

/// The longest line read by default: 64 MiB, the default limit of the kube-bench output
/// a document is made from ([`super::DEFAULT_MAX_SIZE`], KUBE_BENCH_MAX_OUTPUT).
///
/// A longer line is skipped, its bytes read and dropped as they come, so one runaway
/// line cannot take the importer's memory.
pub const DEFAULT_MAX_LINE: u64 = super::DEFAULT_MAX_SIZE;

/// What a read did: documents returned, lines skipped and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NdjsonStats {
    /// Documents returned to the caller.
    pub read: u64,
    /// Non-blank lines that were not usable documents.
    pub skipped: u64,
    /// The first [`REASONS_KEPT`] skipped lines with their reasons.
    pub reasons: Vec<SkippedLine>,
}

/// A line that was skipped, with its 1-based number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLine {
    pub line: u64,
    pub reason: String,
}

impl fmt::Display for SkippedLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Streams benchmark documents out of newline-delimited JSON.
///
/// Yields `Ok(document)` for every good line, interned through the caller's
/// [`TextInterner`]; blank lines are ignored; other lines are skipped, logged with
/// `tracing::warn!` and counted in [`NdjsonReader::stats`]. A read error (not a bad line)
/// is yielded once as `Err` and ends the iteration.
pub struct NdjsonReader<'i, R> {
    reader: R,
    source: PathBuf,
    interner: &'i mut TextInterner,
    /// Reused for every line, so memory stays at the longest line, not the file.
    line: Vec<u8>,
    line_number: u64,
    /// Lines longer than this many bytes (newline excluded) are skipped.
    max_line: u64,
    done: bool,
    stats: NdjsonStats,
}

/// What one read of a line found.
enum Line {
    End,
    Read,
    /// Longer than the limit; its bytes were dropped.
    TooLong,
}

impl<'i, R: BufRead> NdjsonReader<'i, R> {
    /// `source` names the input in messages (a path, or `-` for standard input).
    pub fn new(reader: R, source: impl Into<PathBuf>, interner: &'i mut TextInterner) -> Self {
        Self {
            reader,
            source: source.into(),
            interner,
            line: Vec::new(),
            line_number: 0,
            max_line: DEFAULT_MAX_LINE,
            done: false,
            stats: NdjsonStats::default(),
        }
    }

    /// Skips lines longer than `bytes` (default [`DEFAULT_MAX_LINE`]).
    pub fn with_max_line(mut self, bytes: u64) -> Self {
        self.max_line = bytes;
        self
    }

    /// What has been read so far.
    pub fn stats(&self) -> &NdjsonStats {
        &self.stats
    }

    /// The final statistics, once the caller is done iterating.
    pub fn into_stats(self) -> NdjsonStats {
        self.stats
    }

    /// The name given to [`NdjsonReader::new`], for the caller's own messages.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Reads the next line into `self.line`, holding at most the limit and a byte.
    fn read_line(&mut self) -> std::io::Result<Line> {
        use std::io::Read;
        self.line.clear();
        let limit = self.max_line.saturating_add(1);
        if (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.line)?
            == 0
        {
            return Ok(Line::End);
        }
        if self.line.len() as u64 == limit && self.line.last() != Some(&b'\n') {
            self.line.clear();
            loop {
                let buf = match self.reader.fill_buf() {
                    Ok(buf) => buf,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if buf.is_empty() {
                    break;
                }
                match buf.iter().position(|&b| b == b'\n') {
                    Some(end) => {
                        self.reader.consume(end + 1);
                        break;
                    }
                    None => {
                        let all = buf.len();
                        self.reader.consume(all);
                    }
                }
            }
            return Ok(Line::TooLong);
        }
        Ok(Line::Read)
    }

    fn skip(&mut self, reason: String) {
        tracing::warn!(
            source = %self.source.display(),
            line = self.line_number,
            reason = %reason,
            "skipping benchmark document"
        );
        self.stats.skipped += 1;
        if self.stats.reasons.len() < REASONS_KEPT {
            self.stats.reasons.push(SkippedLine {
                line: self.line_number,
                reason,
            });
        }
    }
}

impl<R: BufRead> Iterator for NdjsonReader<'_, R> {
    type Item = Result<BenchmarkDocument, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.read_line() {
                Ok(Line::End) => self.done = true,
                Ok(Line::TooLong) => {
                    self.line_number += 1;
                    let limit = super::size_text(self.max_line);
                    self.skip(format!(
                        "longer than the limit of {limit} set by {}",
                        super::MAX_SIZE_VARIABLE
                    ));
                }
                Ok(Line::Read) => {
                    self.line_number += 1;
                    let mut text = self.line.as_slice();
                    if self.line_number == 1 {
                        text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
                    }
                    let text = text.trim_ascii();
                    if text.is_empty() {
                        continue;
                    }
                    // A node name the kube-bench import would refuse is refused here too.
                    let decoded = BenchmarkDocument::decode(text).and_then(|doc| {
                        super::check_node_name(&doc.node_name)
                            .map(|()| doc)
                            .map_err(|e| e.to_string())
                    });
                    match decoded {
                        Ok(mut doc) => {
                            self.interner.intern_document(&mut doc);
                            self.stats.read += 1;
                            return Some(Ok(doc));
                        }
                        Err(reason) => self.skip(reason),
                    }
                }
                // A signal arriving mid-read is not a failure of the input.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    self.done = true;
                    return Some(Err(ImportError::Read {
                        path: self.source.clone(),
                        source,
                    }));
                }
            }
        }
        None
    }
}

impl<R: BufRead> std::iter::FusedIterator for NdjsonReader<'_, R> {}

/// Reads every document of `reader`: the simple form of [`NdjsonReader`] for inputs
/// small enough to hold.
pub fn read_all<R: BufRead>(
    reader: R,
    source: impl Into<PathBuf>,
    interner: &mut TextInterner,
) -> Result<(Vec<BenchmarkDocument>, NdjsonStats), ImportError> {
    let mut documents = NdjsonReader::new(reader, source, interner);
    let mut out = Vec::new();
    for doc in documents.by_ref() {
        out.push(doc?);
    }
    Ok((out, documents.into_stats()))
}

#[cfg(test)]
mod tests {
    use std::io::{self, BufReader, Read};
    use std::sync::Arc;

    use super::*;
    use crate::model::TestStatus;

    fn doc_line(node: &str, status: &str) -> String {
        format!(
            concat!(
                r#"{{"version":"cis-1.23","kubernetesVersion":"1.25","type":"kube","#,
                r#""node_name":"{}","timestamp":"2026-11-26T10:00:00Z","error":"","#,
                r#""tests":[{{"section":"1.1","section_desc":"Control Plane Node Configuration Files","#,
                r#""test_number":"1.1.1","test_desc":"Ensure x (Automated)","#,
                r#""test_info":"chmod 600 f","status":"{}","scored":true}}],"cluster":"cluster"}}"#
            ),
            node, status
        )
    }

    fn read(input: &str) -> (Vec<BenchmarkDocument>, NdjsonStats) {
        read_all(input.as_bytes(), "in.ndjson", &mut TextInterner::new()).unwrap()
    }

    #[test]
    fn good_blank_and_bad_lines() {
        let good = doc_line("n1", "PASS");
        let truncated = &good[..good.len() / 2];
        let no_node = good.replace(r#""node_name":"n1","#, "");
        let odd_status = doc_line("n3", "SKIP");
        let input = format!(
            "\u{feff}{good}\r\n\n   \n{truncated}\n{no_node}\n{}\nnot json\n{odd_status}",
            doc_line("", "PASS")
        );
        let (docs, stats) = read(&input);

        let nodes: Vec<_> = docs.iter().map(|d| d.node_name.as_str()).collect();
        assert_eq!(nodes, ["n1", "n3"]);
        assert_eq!(
            docs[1].tests[0].status,
            TestStatus::Other(Arc::from("SKIP"))
        );
        assert_eq!(stats.read, 2);
        assert_eq!(stats.skipped, 4);
        let lines: Vec<_> = stats.reasons.iter().map(|r| r.line).collect();
        assert_eq!(lines, [4, 5, 6, 7]);
        assert!(
            stats.reasons[0].reason.contains("EOF"),
            "{}",
            stats.reasons[0]
        );
        assert!(
            stats.reasons[1]
                .reason
                .contains("missing field `node_name`"),
            "{}",
            stats.reasons[1]
        );
        assert_eq!(stats.reasons[2].reason, "node_name is empty");
        assert!(stats.reasons[3].to_string().starts_with("line 7: expected"));
    }

    #[test]
    fn nested_errors_name_their_path() {
        let bad = doc_line("n1", "PASS").replace(r#""scored":true"#, r#""scored":"yes""#);
        let (_, stats) = read(&bad);
        assert!(
            stats.reasons[0]
                .reason
                .starts_with("tests[0].scored: invalid type"),
            "{}",
            stats.reasons[0]
        );
        let trailing = format!("{} x", doc_line("n1", "PASS"));
        let (docs, stats) = read(&trailing);
        assert!(docs.is_empty());
        assert!(
            stats.reasons[0].reason.contains("trailing"),
            "{}",
            stats.reasons[0]
        );
    }

    #[test]
    fn texts_are_interned_across_documents() {
        let input = format!("{}\n{}\n", doc_line("n1", "PASS"), doc_line("n2", "FAIL"));
        let mut interner = TextInterner::new();
        let (docs, _) = read_all(input.as_bytes(), "x", &mut interner).unwrap();
        assert!(Arc::ptr_eq(&docs[0].tests[0].text, &docs[1].tests[0].text));
        assert_eq!(interner.len(), 1);
    }

    #[test]
    fn only_the_first_reasons_are_kept() {
        let input = "x\n".repeat(REASONS_KEPT + 5);
        let (docs, stats) = read(&input);
        assert!(docs.is_empty());
        assert_eq!(stats.skipped, (REASONS_KEPT + 5) as u64);
        assert_eq!(stats.reasons.len(), REASONS_KEPT);
    }

    #[test]
    fn invalid_utf8_is_a_bad_line_not_a_read_error() {
        let mut input = doc_line("n1", "PASS").into_bytes();
        input.extend_from_slice(b"\n\xff\xfe{}\n");
        input.extend_from_slice(doc_line("n2", "PASS").as_bytes());
        let (docs, stats) = read_all(input.as_slice(), "x", &mut TextInterner::new()).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(stats.skipped, 1);
    }

    /// Reads `input` with a line limit, through a small buffer so lines span many fills.
    fn read_limited(input: &[u8], max_line: u64) -> (Vec<BenchmarkDocument>, NdjsonStats) {
        let mut interner = TextInterner::new();
        let mut reader = NdjsonReader::new(
            BufReader::with_capacity(7, input),
            "in.ndjson",
            &mut interner,
        )
        .with_max_line(max_line);
        let docs = reader.by_ref().map(Result::unwrap).collect();
        (docs, reader.into_stats())
    }

    /// Left out of the first reliability pass: one line of a gigabyte was held whole.
    #[test]
    fn a_line_longer_than_the_limit_is_skipped_by_number_and_the_next_read() {
        let good = doc_line("n1", "PASS");
        let limit = good.len() as u64;
        let input = format!(
            "{good}\n{}\n{}\n{good}",
            "x".repeat(limit as usize + 1),
            doc_line("n2-with-a-longer-name", "FAIL")
        );
        let (docs, stats) = read_limited(input.as_bytes(), limit);
        assert_eq!(docs.len(), 2);
        assert_eq!(stats.skipped, 2);
        assert_eq!(
            stats.reasons[0].to_string(),
            format!("line 2: longer than the limit of {limit} bytes set by KUBE_BENCH_MAX_OUTPUT")
        );
        assert_eq!(stats.reasons[1].line, 3);

        // The default is the kube-bench output limit, and a 64 MiB line says so.
        assert_eq!(DEFAULT_MAX_LINE, 64 << 20);
        let huge = vec![b'{'; (64 << 20) + 2];
        let (docs, stats) = read_limited(&huge, DEFAULT_MAX_LINE);
        assert!(docs.is_empty());
        assert_eq!(
            stats.reasons[0].reason,
            "longer than the limit of 64 MiB set by KUBE_BENCH_MAX_OUTPUT"
        );
    }

    proptest::proptest! {
        /// A line is kept exactly when it fits the limit (its newline aside), wherever the
        /// buffer's fills fall, and the lines after a long one are read as usual.
        #[test]
        fn lines_fit_the_limit_or_are_skipped_alone(
            pads in proptest::collection::vec(0usize..40, 1..6),
            slack in 0u64..30,
            last_newline: bool,
        ) {
            let lines: Vec<String> = pads
                .iter()
                .enumerate()
                .map(|(i, pad)| doc_line(&format!("n{i}{}", "x".repeat(*pad)), "PASS"))
                .collect();
            let limit = lines.iter().map(String::len).min().unwrap() as u64 + slack;
            let mut input = lines.join("\n");
            if last_newline {
                input.push('\n');
            }
            let (docs, stats) = read_limited(input.as_bytes(), limit);
            let kept: Vec<&str> = lines
                .iter()
                .filter(|l| l.len() as u64 <= limit)
                .map(String::as_str)
                .collect();
            proptest::prop_assert_eq!(docs.len(), kept.len());
            proptest::prop_assert_eq!(stats.skipped as usize, lines.len() - kept.len());
            for (doc, line) in docs.iter().zip(&kept) {
                let name = format!("\"node_name\":\"{}\"", doc.node_name);
                proptest::prop_assert!(line.contains(&name), "{} not in {}", name, line);
            }
        }
    }

    /// Fails after handing out its data once, like a disk going away mid-file.
    struct Failing(io::Cursor<Vec<u8>>);

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(io::Error::other("device gone")),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn a_read_error_ends_the_stream() {
        let line = format!("{}\n", doc_line("n1", "PASS")).into_bytes();
        let mut interner = TextInterner::new();
        let mut reader = NdjsonReader::new(
            BufReader::new(Failing(io::Cursor::new(line))),
            "x",
            &mut interner,
        );
        assert!(matches!(reader.next(), Some(Ok(_))));
        let e = reader.next().unwrap().unwrap_err();
        assert_eq!(e.to_string(), "cannot read x: device gone");
        assert!(reader.next().is_none());
        assert_eq!(reader.stats().read, 1);
    }
}
