//! Arbitrary bytes through the NDJSON importer (`read_all`, the streaming reader).
//!
//! Checked: never panics; reading from memory never fails (a bad line is skipped, not an
//! error); the counts add up (read = documents returned, read + skipped ≤ lines, at most
//! `REASONS_KEPT` reasons, each on an existing line); every document read serialises and
//! reads back equal.
#![no_main]

use std::io::Cursor;

use compliance_core::import::ndjson::REASONS_KEPT;
use compliance_core::import::read_all;
use compliance_core::model::TextInterner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut interner = TextInterner::new();
    let (docs, stats) = read_all(Cursor::new(data), "fuzz.ndjson", &mut interner)
        .expect("reading from memory cannot fail");
    let lines = data.split(|b| *b == b'\n').count() as u64;
    assert_eq!(stats.read, docs.len() as u64);
    assert!(
        stats.read + stats.skipped <= lines,
        "{stats:?} over {lines} lines"
    );
    assert!(stats.reasons.len() <= REASONS_KEPT);
    assert_eq!(
        stats.reasons.len() as u64,
        stats.skipped.min(REASONS_KEPT as u64)
    );
    for r in &stats.reasons {
        assert!(
            r.line >= 1 && r.line <= lines,
            "reason on line {} of {lines}",
            r.line
        );
    }
    if docs.is_empty() {
        return;
    }
    let mut out = String::new();
    for d in &docs {
        out.push_str(&serde_json::to_string(d).expect("a document serialises"));
        out.push('\n');
    }
    let (back, again) = read_all(Cursor::new(out.as_bytes()), "-", &mut interner)
        .expect("reading from memory cannot fail");
    assert_eq!(
        again.skipped, 0,
        "a document read did not read back: {again:?}"
    );
    assert_eq!(back, docs, "documents changed through NDJSON");
});
