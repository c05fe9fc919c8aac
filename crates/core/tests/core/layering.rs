//! The core's promise, checked on its source: no IO, no clock, no environment, no async.
//!
//! The crate graph already keeps tokio, HTTP clients and SQLite out (`cargo tree -p
//! compliance-core` shows none of them); this catches what a dependency cannot show, such
//! as a call to the standard library's clock or file system slipping into a report rule.

use std::path::{Path, PathBuf};

/// What the core must not call, and why each would break its promise.
const FORBIDDEN: [(&str, &str); 9] = [
    ("Utc::now", "reads the clock: pass the time in"),
    ("Local::now", "reads the clock: pass the time in"),
    ("SystemTime::now", "reads the clock: pass the time in"),
    ("Instant::now", "reads the clock: pass the time in"),
    ("std::fs", "file IO: take bytes or a reader"),
    ("File::open", "file IO: take bytes or a reader"),
    ("std::env", "reads the environment: take settings"),
    ("std::net", "network IO belongs to the adapters"),
    ("tokio", "async runtime belongs to the adapters"),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The numbered lines of `text` outside `#[cfg(test)]` items: unit tests may use the
/// clock and temporary files, the code around them may not. Items are skipped by
/// counting braces, which the workspace's formatting keeps balanced per item.
fn outside_tests(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut skipping = false;
    let mut depth = 0i64;
    let mut opened = false;
    for (n, line) in text.lines().enumerate() {
        if !skipping && line.trim() == "#[cfg(test)]" {
            (skipping, depth, opened) = (true, 0, false);
            continue;
        }
        if skipping {
            depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
            opened |= line.contains('{');
            // An item without a body (`mod tests;`, `use ...;`) ends at its semicolon.
            if (opened && depth <= 0) || (!opened && line.trim_end().ends_with(';')) {
                skipping = false;
            }
            continue;
        }
        out.push((n + 1, line));
    }
    out
}

#[test]
fn code_outside_unit_tests_is_what_is_checked() {
    let text = "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn b() { x() }\n}\nfn c() {}\n#[cfg(test)]\nmod more;\nfn d() {}\n";
    let kept: Vec<&str> = outside_tests(text).into_iter().map(|(_, l)| l).collect();
    assert_eq!(kept, ["fn a() {}", "fn c() {}", "fn d() {}"]);
}

#[test]
fn the_core_does_no_io_reads_no_clock_and_no_environment() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 10, "found only {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in outside_tests(&text) {
            let line = line.split("//").next().unwrap_or_default();
            for (needle, why) in FORBIDDEN {
                if line.contains(needle) {
                    found.push(format!("{}:{}: {needle}: {why}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
