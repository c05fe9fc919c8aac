//! kube-bench `--json` output of any shape through the importer: `parse_kube_bench`, then
//! `build_document`, then the document out as NDJSON and back in.
//!
//! Checked: never panics; an error names the file; a parsed run has results; the
//! document keeps every result; what the importer builds, the NDJSON reader reads back
//! unchanged (an import followed by an export must not lose a node).
#![no_main]

use std::io::Cursor;
use std::path::Path;

use chrono::{TimeZone, Utc};
use compliance_core::import::{KubeBenchOptions, build_document, parse_kube_bench, read_all};
use compliance_core::model::TextInterner;
use libfuzzer_sys::fuzz_target;

const SOURCE: &str = "fuzz-input.json";

fuzz_target!(|data: &[u8]| {
    let mut interner = TextInterner::new();
    let run = match parse_kube_bench(Path::new(SOURCE), data, &mut interner) {
        Ok(run) => run,
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains(SOURCE),
                "error does not name the file: {message}"
            );
            return;
        }
    };
    assert!(!run.tests.is_empty(), "a parsed run without results");
    let results = run.tests.len();
    let timestamp = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
    let imported = build_document(vec![run], &KubeBenchOptions::new("node-1", timestamp))
        .expect("one parsed run with a node name builds a document");
    let document = imported.document;
    assert_eq!(
        document.tests.len(),
        results,
        "results lost between run and document"
    );

    let line = serde_json::to_string(&document).expect("a document serialises");
    let (back, stats) = read_all(Cursor::new(line.as_bytes()), "-", &mut interner)
        .expect("reading from memory cannot fail");
    assert_eq!(
        stats.skipped, 0,
        "the NDJSON reader skipped an imported document: {stats:?}"
    );
    assert_eq!(back, vec![document], "the document changed through NDJSON");
});
