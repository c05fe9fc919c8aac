//! The SQLite store against real database files: what only it does (exact times to the
//! nanosecond, the text catalogue, millisecond windows, row counts of replacements) and
//! damaged or foreign files. What every store does is in `contract.rs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use compliance_core::model::{
    BenchmarkDocument, BenchmarkTest, CisBenchmarkNode, NodeSummary, Rating, ReportDocument,
    SectionResult, TestResult, TestStatus, TestText,
};
use compliance_store::sqlite::{OpenMode, SqliteStore};
use compliance_store::{BlockingStore, QueryStats, QueryWindow, StoreError};
use tempfile::TempDir;

use super::support;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Section sizes of a CIS 1.9 control-plane run: 130 checks in all.
const SECTIONS: [(&str, &str, usize); 10] = [
    ("1.1", "Control Plane Node Configuration Files", 21),
    ("1.2", "API Server", 30),
    ("1.3", "Controller Manager", 7),
    ("1.4", "Scheduler", 2),
    ("2", "Etcd Node Configuration", 7),
    ("3.1", "Authentication and Authorization", 3),
    ("3.2", "Logging", 2),
    ("4.1", "Worker Node Configuration Files", 10),
    ("4.2", "Kubelet", 13),
    ("5.1", "RBAC and Service Accounts", 35),
];

/// The ~130 texts of one benchmark version, with realistic lengths: ~80-character
/// descriptions and 150+-character remediations.
fn catalogue(version: &str) -> Vec<Arc<TestText>> {
    let mut out = Vec::new();
    for (section, desc, n) in SECTIONS {
        for i in 1..=n {
            let number = format!("{section}.{i}");
            out.push(Arc::new(TestText {
                section: section.to_string(),
                section_desc: desc.to_string(),
                test_number: number.clone(),
                test_desc: format!(
                    "Ensure that the {number} configuration file permissions are set to 600 ({version})"
                ),
                test_info: format!(
                    "Run the below command (based on the file location on your system) on the \
                     control plane node. For example, chmod 600 /etc/kubernetes/manifests/{number}.yaml \
                     and restart the kubelet."
                ),
            }));
        }
    }
    out
}

fn status_for(seed: u64) -> TestStatus {
    match seed % 7 {
        0..=3 => TestStatus::Pass,
        4 => TestStatus::Fail,
        5 => TestStatus::Warn,
        _ => TestStatus::Info,
    }
}

fn doc(texts: &[Arc<TestText>], node: &str, ts: DateTime<Utc>, seed: u64) -> BenchmarkDocument {
    BenchmarkDocument {
        version: "cis-1.9".into(),
        kubernetes_version: "1.29.3".into(),
        kind: "kube".into(),
        node_name: node.into(),
        timestamp: ts,
        error: String::new(),
        tests: texts
            .iter()
            .enumerate()
            .map(|(i, text)| BenchmarkTest {
                text: text.clone(),
                status: status_for(seed.wrapping_mul(31).wrapping_add(i as u64)),
                scored: i % 5 != 0,
            })
            .collect(),
        cluster: "cluster".into(),
        platform: String::new(),
        kube_bench_version: String::new(),
        benchmarker_version: String::new(),
        benchmark_choice: String::new(),
    }
}

fn errored(node: &str, ts: DateTime<Utc>, error: &str) -> BenchmarkDocument {
    BenchmarkDocument {
        version: String::new(),
        kubernetes_version: String::new(),
        kind: "kube".into(),
        node_name: node.into(),
        timestamp: ts,
        error: error.into(),
        tests: Vec::new(),
        cluster: "cluster".into(),
        platform: String::new(),
        kube_bench_version: String::new(),
        benchmarker_version: String::new(),
        benchmark_choice: String::new(),
    }
}

fn blocking(store: SqliteStore) -> BlockingStore {
    BlockingStore::new(store.into()).unwrap()
}

fn open(dir: &TempDir) -> BlockingStore {
    blocking(SqliteStore::open(dir.path().join("compliance.db"), OpenMode::Create).unwrap())
}

fn put(store: &BlockingStore, docs: Vec<BenchmarkDocument>) -> u64 {
    store.put_benchmarks(docs.into_iter().map(Ok)).unwrap()
}

fn query(store: &BlockingStore, start: &str, end: &str) -> (Vec<BenchmarkDocument>, QueryStats) {
    let mut out = Vec::new();
    let window = QueryWindow {
        start: t(start),
        end: t(end),
    };
    let stats = store.latest_per_node(&window, |d| out.push(d)).unwrap();
    (out, stats)
}

fn raw(dir: &TempDir) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.path().join("compliance.db")).unwrap()
}

fn row_count(dir: &TempDir, table: &str) -> i64 {
    raw(dir)
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn benchmark_documents_round_trip_exactly_and_share_texts() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let texts = catalogue("cis-1.9");
    let mut a = doc(&texts, "ip-10-0-1-7", t("2026-11-26T10:00:00.123Z"), 1);
    // Statuses kube-bench does not print, including one spelled like a known one.
    a.tests[3].status = TestStatus::Other(Arc::from("SKIP"));
    a.tests[4].status = TestStatus::Other(Arc::from(""));
    a.tests[5].status = TestStatus::Other(Arc::from("PASS "));
    a.cluster = "prod-eu".into();
    a.kubernetes_version = "v1.29.3-eks-ae9a62a".into();
    let mut unicode = (*texts[0]).clone();
    unicode.test_desc = "Vérifiez que les permissions — «600» — sont appliquées ✓".into();
    a.tests[0].text = Arc::new(unicode);
    let b = doc(&texts, "ip-10-0-1-8", t("2026-11-26T10:00:01Z"), 2);
    assert_eq!(put(&store, vec![a.clone(), b.clone()]), 2);

    let (got, stats) = query(&store, "2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z");
    assert_eq!(got, vec![a, b]);
    assert_eq!(
        stats,
        QueryStats {
            documents: 2,
            skipped: 0,
            ..QueryStats::default()
        }
    );
    // One allocation per distinct text for the whole query, however many nodes.
    assert!(Arc::ptr_eq(&got[0].tests[7].text, &got[1].tests[7].text));
    assert_eq!(row_count(&dir, "test_texts"), 131);
}

#[test]
fn window_is_inclusive_at_both_ends_and_drops_nodes_outside() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let texts = catalogue("cis-1.9");
    put(
        &store,
        vec![
            doc(&texts, "before", t("2026-11-25T23:59:59.999Z"), 1),
            doc(&texts, "at-start", t("2026-11-26T00:00:00Z"), 2),
            doc(&texts, "at-end", t("2026-11-27T00:00:00Z"), 3),
            doc(&texts, "after", t("2026-11-27T00:00:00.001Z"), 4),
            errored("errored-after", t("2026-11-27T00:00:01Z"), "late"),
        ],
    );
    let (got, _) = query(&store, "2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z");
    let names: Vec<_> = got.iter().map(|d| d.node_name.as_str()).collect();
    assert_eq!(names, ["at-end", "at-start"]);
}

#[test]
fn window_bounds_with_sub_millisecond_fractions_keep_stored_documents_inside() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let texts = catalogue("cis-1.9");
    put(
        &store,
        vec![
            doc(&texts, "a", t("2026-11-26T00:00:00.001Z"), 1),
            doc(&texts, "b", t("2026-11-26T00:00:00.002Z"), 1),
        ],
    );
    // 0.0015 s: "a" (0.001) lies before the start, "b" (0.002) after the end 0.0025 s.
    let (got, _) = query(
        &store,
        "2026-11-26T00:00:00.0015Z",
        "2026-11-26T00:00:00.0025Z",
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].node_name, "b");
}

#[test]
fn nodes_arrive_in_byte_order_of_their_names() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let texts = catalogue("cis-1.9");
    let names = [
        "node-9", "node-10", "Node-B", "node-a", "ñode", "node-a-1", "zz", "_x", "node",
    ];
    let ts = t("2026-11-26T10:00:00Z");
    put(
        &store,
        names
            .iter()
            .enumerate()
            .map(|(i, n)| doc(&texts, n, ts + Duration::minutes(i as i64), i as u64))
            .collect(),
    );
    let (got, _) = query(&store, "2026-11-26T00:00:00Z", "2026-11-26T23:00:00Z");
    let got: Vec<_> = got.iter().map(|d| d.node_name.clone()).collect();
    let mut want: Vec<_> = names.iter().map(|n| n.to_string()).collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn reimporting_the_same_run_replaces_it() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let texts = catalogue("cis-1.9");
    let ts = t("2026-11-26T10:00:00Z");
    put(
        &store,
        vec![doc(&texts, "n1", ts, 1), doc(&texts, "n2", ts, 1)],
    );
    let mut changed = doc(&texts, "n1", ts, 99);
    changed.kubernetes_version = "1.30.0".into();
    // Fresh Arcs with the same contents must map to the same catalogue rows.
    for test in &mut changed.tests {
        test.text = Arc::new((*test.text).clone());
    }
    put(&store, vec![changed.clone(), doc(&texts, "n2", ts, 1)]);
    assert_eq!(row_count(&dir, "benchmark_docs"), 2);
    assert_eq!(row_count(&dir, "test_texts"), 130);
    let (got, _) = query(&store, "2026-11-26T00:00:00Z", "2026-11-26T23:00:00Z");
    assert_eq!(got[0], changed);
}

#[test]
fn an_invalid_document_fails_the_whole_call_naming_the_node() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let texts = catalogue("cis-1.9");
    let ts = t("2026-11-26T10:00:00Z");
    let mut bad = doc(&texts, "broken-node", ts, 1);
    let mut text = (*bad.tests[2].text).clone();
    text.test_number = " ".into();
    bad.tests[2].text = Arc::new(text);
    let err = store
        .put_benchmarks(vec![doc(&texts, "fine", ts, 1), bad].into_iter().map(Ok))
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, StoreError::InvalidDocument { index: 1, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("broken-node") && msg.contains("tests[2]"),
        "{msg}"
    );
    assert!(msg.contains("compliance.db"), "{msg}");
    // All or nothing: the valid document before it is not stored either.
    assert_eq!(row_count(&dir, "benchmark_docs"), 0);
    assert_eq!(row_count(&dir, "test_texts"), 0);
}

#[test]
fn an_undecodable_document_is_skipped_counted_and_the_next_newest_used() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let texts = catalogue("cis-1.9");
    let older = doc(&texts, "n2", t("2026-11-26T09:00:00Z"), 2);
    put(
        &store,
        vec![
            doc(&texts, "n1", t("2026-11-26T10:00:00Z"), 1),
            older.clone(),
            doc(&texts, "n2", t("2026-11-26T10:00:00Z"), 3),
            doc(&texts, "n3", t("2026-11-26T10:00:00Z"), 4),
            doc(&texts, "n4", t("2026-11-26T10:00:00Z"), 5),
        ],
    );
    let db = raw(&dir);
    // A truncated blob, an unknown catalogue id, an unknown format version.
    db.execute(
        "UPDATE benchmark_docs SET tests = x'0105' WHERE node_name = 'n2' AND timestamp = ?1",
        [t("2026-11-26T10:00:00Z").timestamp_millis()],
    )
    .unwrap();
    db.execute(
        "UPDATE benchmark_docs SET tests = x'0101c8d00700' WHERE node_name = 'n3'",
        [],
    )
    .unwrap();
    db.execute(
        "UPDATE benchmark_docs SET tests = x'0200' WHERE node_name = 'n4'",
        [],
    )
    .unwrap();
    let (got, stats) = query(&store, "2026-11-26T00:00:00Z", "2026-11-26T23:00:00Z");
    let names: Vec<_> = got.iter().map(|d| d.node_name.as_str()).collect();
    assert_eq!(names, ["n1", "n2"]);
    assert_eq!(got[1], older);
    assert_eq!(
        stats,
        QueryStats {
            documents: 2,
            skipped: 3,
            ..QueryStats::default()
        }
    );
}

#[test]
fn an_undecodable_document_with_a_wrong_column_type_is_skipped() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let texts = catalogue("cis-1.9");
    put(
        &store,
        vec![doc(&texts, "n1", t("2026-11-26T10:00:00Z"), 1)],
    );
    raw(&dir)
        .execute(
            "UPDATE benchmark_docs SET version = x'ff', tests = 'text'",
            [],
        )
        .unwrap();
    let (got, stats) = query(&store, "2026-11-26T00:00:00Z", "2026-11-26T23:00:00Z");
    assert!(got.is_empty());
    assert_eq!(stats.skipped, 1);
}

#[test]
fn data_survives_reopening_in_existing_mode() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("compliance.db");
    let texts = catalogue("cis-1.9");
    let d = doc(&texts, "n1", t("2026-11-26T10:00:00Z"), 1);
    {
        let store = blocking(SqliteStore::open(&path, OpenMode::Create).unwrap());
        put(&store, vec![d.clone()]);
        store
            .put_report(&report("r", "2026-11-26T00:00:00Z"))
            .unwrap();
    }
    let sqlite = SqliteStore::open(&path, OpenMode::Existing).unwrap();
    assert_eq!(sqlite.path(), path);
    let store = blocking(sqlite);
    let (got, _) = query(&store, "2026-11-26T00:00:00Z", "2026-11-26T23:00:00Z");
    assert_eq!(got, vec![d]);
    assert_eq!(store.all_reports().unwrap().len(), 1);
    let mode: String = raw(&dir)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn existing_mode_on_a_missing_path_creates_nothing() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nope.db");
    let err = SqliteStore::open(&path, OpenMode::Existing).unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("nope.db"), "{err}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn create_mode_in_a_missing_directory_is_an_open_error_naming_the_path() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("no-such-dir").join("c.db");
    let err = SqliteStore::open(&path, OpenMode::Create).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

/// Opens `bytes` written to a file and checks the refusal names the file and leaves it be.
fn assert_refused(name: &str, bytes: &[u8], mode: OpenMode, expect: &str) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let err = SqliteStore::open(&path, mode).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{msg}");
    assert!(msg.contains(name), "{msg}");
    assert!(msg.contains(expect), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} was modified");
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "side files created next to {name}");
}

#[test]
fn a_text_file_is_refused_untouched() {
    let text = b"node_name,status\nip-10-0-1-7,PASS\n".repeat(200);
    for mode in [OpenMode::Create, OpenMode::Existing] {
        assert_refused("notes.txt", &text, mode, "not a database");
    }
}

#[test]
fn random_bytes_are_refused_untouched() {
    // A fixed xorshift sequence: reproducible, and nothing like an SQLite header.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..8192)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    assert_refused("random.db", &bytes, OpenMode::Create, "not a database");
}

fn sqlite_file(setup: &str) -> Vec<u8> {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("x.db");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(setup).unwrap();
    drop(c);
    std::fs::read(&path).unwrap()
}

#[test]
fn another_programs_database_is_refused_untouched() {
    let bytes = sqlite_file("CREATE TABLE users (name TEXT);");
    assert_refused("other.db", &bytes, OpenMode::Create, "another program");
    let bytes = sqlite_file("PRAGMA application_id = 1234; CREATE TABLE t (x);");
    assert_refused("other2.db", &bytes, OpenMode::Create, "another program");
}

#[test]
fn a_newer_schema_version_is_refused_untouched() {
    let bytes = sqlite_file(&format!(
        "PRAGMA application_id = {}; PRAGMA user_version = 7; CREATE TABLE future (x);",
        compliance_store::sqlite::APPLICATION_ID
    ));
    assert_refused("future.db", &bytes, OpenMode::Create, "schema version 7");
}

/// Reporter Jobs of several GlobalReports may start together on a new file: each must
/// find or create the schema, none may take the other's half-made file for a foreign one.
#[test]
fn processes_creating_the_same_new_file_at_once_all_succeed() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("compliance.db");
    let texts = catalogue("cis-1.9");
    std::thread::scope(|s| {
        for i in 0..4 {
            let (path, texts) = (&path, &texts);
            s.spawn(move || {
                let store = SqliteStore::open(path, OpenMode::Create).unwrap();
                let d = doc(texts, &format!("n{i}"), t("2026-11-26T10:00:00Z"), i);
                store.put_benchmarks(std::iter::once(Ok(d))).unwrap();
            });
        }
    });
    let store = blocking(SqliteStore::open(&path, OpenMode::Existing).unwrap());
    let (got, _) = query(&store, "2026-11-26T00:00:00Z", "2026-11-26T23:00:00Z");
    assert_eq!(got.len(), 4);
    assert_eq!(row_count(&dir, "test_texts"), 130);
}

#[test]
fn an_empty_file_becomes_a_database() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").unwrap();
    let store = blocking(SqliteStore::open(&path, OpenMode::Existing).unwrap());
    put(&store, vec![errored("n", t("2026-11-26T10:00:00Z"), "x")]);
    assert!(store.all_reports().unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// Reports

/// The shared awkward report ([`support::report`]) with times a nanosecond apart from
/// whole seconds, which SQLite keeps exactly.
fn report(name: &str, end: &str) -> ReportDocument {
    let mut r = support::report(name, end);
    r.generation_time = r.end_time + Duration::nanoseconds(1_800_000_000_123);
    r.generated_time = r.end_time + Duration::milliseconds(1_800_500);
    r
}

#[test]
fn a_report_round_trips_to_the_nanosecond() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let r = report("daily-cis-results", "2026-11-26T00:00:00Z");
    store.put_report(&r).unwrap();
    assert_eq!(store.get_report(&r.id).unwrap(), Some(r.clone()));
    assert_eq!(store.get_report("no-such-report").unwrap(), None);
    // The serialised forms agree too, Arc sharing aside.
    let back = store.get_report(&r.id).unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        serde_json::to_value(&r).unwrap()
    );
}

#[test]
fn re_putting_a_report_id_replaces_it() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let first = report("daily", "2026-11-26T00:00:00Z");
    store.put_report(&first).unwrap();
    let mut second = first.clone();
    second.cis_benchmark.truncate(1);
    second.cis_benchmark_summary.low_count = 1;
    second.ui_summary = "{}".into();
    store.put_report(&second).unwrap();
    let list = store.all_reports().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].node_count, 1);
    assert_eq!(store.get_report(&first.id).unwrap(), Some(second));
    assert_eq!(row_count(&dir, "report_nodes"), 1);
}

#[test]
fn listing_does_not_read_node_rows() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let r = report("daily", "2026-11-26T00:00:00Z");
    store.put_report(&r).unwrap();
    raw(&dir)
        .execute("UPDATE report_nodes SET results = x'ff'", [])
        .unwrap();
    assert_eq!(store.all_reports().unwrap().len(), 1);
    assert_eq!(
        store.report_head(&r.id).unwrap().unwrap().node_count,
        r.cis_benchmark.len() as u64
    );
    let err = store.get_report(&r.id).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("ip-10-0-1-7"), "{err}");
}

#[test]
fn a_report_time_outside_the_storable_range_is_an_encode_error() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let old = report("daily", "2026-11-26T00:00:00Z");
    store.put_report(&old).unwrap();
    let mut r = old.clone();
    r.end_time = t("2300-01-01T00:00:00Z");
    let err = store.put_report(&r).unwrap_err();
    assert!(matches!(err, StoreError::Encode { .. }), "{err}");
    assert!(err.to_string().contains("endTime"), "{err}");
    assert_eq!(store.get_report(&old.id).unwrap(), Some(old));
}

// ---------------------------------------------------------------------------------------
// Scale

/// Builds the report a reporter would make of `docs`, for timing the report path.
fn report_of(docs: &[BenchmarkDocument]) -> ReportDocument {
    let mut r = report("scale", "2026-11-26T00:00:00Z");
    r.cis_benchmark = docs
        .iter()
        .map(|d| {
            let mut sections: BTreeMap<&str, SectionResult> = BTreeMap::new();
            for test in &d.tests {
                let s = sections
                    .entry(test.text.section.as_str())
                    .or_insert_with(|| SectionResult {
                        status: Rating::Low,
                        section: test.text.section.clone(),
                        desc: test.text.section_desc.clone(),
                        pass: 0,
                        fail: 0,
                        info: 0,
                        results: Vec::new(),
                        waived: 0,
                    });
                s.pass += u64::from(test.status == TestStatus::Pass);
                s.fail += u64::from(test.status == TestStatus::Fail);
                s.results.push(TestResult {
                    text: test.text.clone(),
                    status: test.status.clone(),
                    scored: test.scored,
                    waiver: None,
                });
            }
            CisBenchmarkNode {
                node_name: d.node_name.clone(),
                kubernetes_version: d.kubernetes_version.clone(),
                benchmarks_version: d.version.clone(),
                summary: NodeSummary {
                    status: Rating::Low,
                    total_pass: 70,
                    total_fail: 20,
                    total_info: 40,
                    total: 90,
                    waived: 0,
                    status_without_waivers: None,
                },
                results: sections.into_values().collect(),
                error: d.error.clone(),
                no_results: false,
                last_result_time: None,
                platform: String::new(),
                kube_bench_version: String::new(),
                benchmarker_version: String::new(),
                benchmark_choice: String::new(),
            }
        })
        .collect();
    r
}

fn peak_rss_mib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn file_mib(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / (1024.0 * 1024.0))
}

/// A day of a 10,000-node cluster: 240,000 documents of 130 tests, then the reporter's
/// read of the latest per node and a 10,000-node report stored and read back.
///
/// `cargo test --release -p compliance-store --test store -- --ignored --nocapture scale`
#[test]
#[ignore = "scale measurement: run in release mode with --ignored --nocapture"]
fn scale_a_day_of_ten_thousand_nodes() {
    const NODES: usize = 10_000;
    const HOURS: usize = 24;
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("compliance.db");
    let store = blocking(SqliteStore::open(&path, OpenMode::Create).unwrap());
    let texts = catalogue("cis-1.9");
    let day = t("2026-11-25T00:00:00Z");
    let names: Vec<String> = (0..NODES)
        .map(|i| {
            format!(
                "ip-10-{}-{}-{}.eu-west-1.compute.internal",
                i / 65536,
                (i / 256) % 256,
                i % 256
            )
        })
        .collect();

    // Generated lazily, hour by hour as benchmarkers would write them; every 50th node
    // fails its last run of the day.
    let docs = (0..HOURS).flat_map(|h| {
        let (texts, names) = (&texts, &names);
        (0..NODES).map(move |n| {
            let ts = day + Duration::hours(h as i64) + Duration::milliseconds(n as i64);
            if h == HOURS - 1 && n % 50 == 0 {
                errored(&names[n], ts, "kubelet not found")
            } else {
                doc(texts, &names[n], ts, (n * 7 + h) as u64)
            }
        })
    });
    let started = Instant::now();
    let stored = store.put_benchmarks(docs.map(Ok)).unwrap();
    let insert = started.elapsed();
    assert_eq!(stored, (NODES * HOURS) as u64);
    // Closing checkpoints the write-ahead log into the file, so this is the lasting size.
    drop(store);
    let size_after_insert = file_mib(&path);
    let store = blocking(SqliteStore::open(&path, OpenMode::Existing).unwrap());

    let window = QueryWindow {
        start: day - Duration::hours(12),
        end: day + Duration::hours(24),
    };
    let started = Instant::now();
    let mut latest = Vec::with_capacity(NODES);
    let stats = store.latest_per_node(&window, |d| latest.push(d)).unwrap();
    let query = started.elapsed();
    assert_eq!(stats.documents, NODES as u64);
    assert!(latest.iter().all(|d| !d.is_errored()));

    let r = report_of(&latest);
    drop(latest);
    let started = Instant::now();
    store.put_report(&r).unwrap();
    let put_report = started.elapsed();
    let started = Instant::now();
    let back = store.get_report(&r.id).unwrap().unwrap();
    let get_report = started.elapsed();
    assert_eq!(back, r);
    drop(store);

    println!(
        "insert {stored} documents: {insert:.2?} ({:.0} docs/s); file {size_after_insert:.1} MiB \
         ({:.0} bytes/document)",
        stored as f64 / insert.as_secs_f64(),
        size_after_insert * 1024.0 * 1024.0 / stored as f64,
    );
    println!("latest_per_node over {NODES} nodes: {query:.2?}");
    println!(
        "put_report {NODES} nodes x 130 tests: {put_report:.2?}; get_report: {get_report:.2?}"
    );
    println!(
        "file with the report: {:.1} MiB; peak RSS of the test process {}",
        file_mib(&path),
        peak_rss_mib()
    );
}

/// The schema the first release created (version 1), as it wrote it: the migration must
/// take exactly such a file.
const SCHEMA_V1: &str = "
CREATE TABLE test_texts (
    id           INTEGER PRIMARY KEY,
    section      TEXT NOT NULL,
    section_desc TEXT NOT NULL,
    test_number  TEXT NOT NULL,
    test_desc    TEXT NOT NULL,
    test_info    TEXT NOT NULL,
    UNIQUE (section, section_desc, test_number, test_desc, test_info)
);
CREATE TABLE benchmark_docs (
    id                 INTEGER PRIMARY KEY,
    node_name          TEXT    NOT NULL,
    timestamp          INTEGER NOT NULL,
    errored            INTEGER NOT NULL,
    version            TEXT    NOT NULL,
    kubernetes_version TEXT    NOT NULL,
    type               TEXT    NOT NULL,
    error              TEXT    NOT NULL,
    cluster            TEXT    NOT NULL,
    tests              BLOB    NOT NULL
);
CREATE UNIQUE INDEX benchmark_docs_node_time ON benchmark_docs (node_name, timestamp);
CREATE TABLE reports (
    report_key       INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    report_name      TEXT    NOT NULL,
    report_type_name TEXT    NOT NULL,
    start_time       INTEGER NOT NULL,
    end_time         INTEGER NOT NULL,
    generation_time  INTEGER NOT NULL,
    generated_time   INTEGER NOT NULL,
    summary_type     TEXT    NOT NULL,
    high_count       INTEGER NOT NULL,
    med_count        INTEGER NOT NULL,
    low_count        INTEGER NOT NULL,
    node_count       INTEGER NOT NULL,
    head             TEXT    NOT NULL
);
CREATE TABLE report_nodes (
    report_key         INTEGER NOT NULL,
    ordinal            INTEGER NOT NULL,
    node_name          TEXT    NOT NULL,
    kubernetes_version TEXT    NOT NULL,
    benchmarks_version TEXT    NOT NULL,
    error              TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    total_pass         INTEGER NOT NULL,
    total_fail         INTEGER NOT NULL,
    total_info         INTEGER NOT NULL,
    total              INTEGER NOT NULL,
    results            BLOB    NOT NULL,
    PRIMARY KEY (report_key, ordinal)
);
";

/// A version-1 file with what the first release stored: one text, a node's document
/// (one scored PASS) and a daily report of that node, its blobs in the version-1
/// formats. `extra` runs after, to damage the file on purpose.
fn version_1_file(path: &Path, extra: &str) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(SCHEMA_V1).unwrap();
    c.execute_batch(&format!(
        "PRAGMA application_id = {}; PRAGMA user_version = 1;",
        compliance_store::sqlite::APPLICATION_ID
    ))
    .unwrap();
    c.execute(
        "INSERT INTO test_texts VALUES (1, '1.1', 'Control Plane Node Configuration Files', \
         '1.1.1', 'Ensure that the API server pod specification file permissions are set to 600', \
         'chmod 600 /etc/kubernetes/manifests/kube-apiserver.yaml')",
        [],
    )
    .unwrap();
    // Tests blob: format 1, one test, id delta +1 (zigzag 2), PASS and scored.
    let tests: &[u8] = &[1, 1, 2, 0x08];
    c.execute(
        "INSERT INTO benchmark_docs VALUES (1, 'ip-10-0-1-7', ?1, 0, 'cis-1.9', '1.29.3', \
         'kube', '', 'cluster', ?2)",
        rusqlite::params![t("2026-11-25T12:00:00.250Z").timestamp_millis(), tests],
    )
    .unwrap();
    let nanos = |s: &str| t(s).timestamp_nanos_opt().unwrap();
    c.execute(
        "INSERT INTO reports VALUES (1, 'daily_cis-benchmark_x', 'daily', 'cis-benchmark', \
         ?1, ?2, ?3, ?4, 'kube', 1, 0, 0, 1, ?5)",
        rusqlite::params![
            nanos("2026-11-25T00:00:00Z"),
            nanos("2026-11-26T00:00:00Z"),
            nanos("2026-11-26T00:30:00Z"),
            nanos("2026-11-26T00:31:00Z"),
            // What version 1 wrote: the four head keys, nothing else.
            serde_json::json!({
                "reportSpec": compliance_core::model::GlobalReportSpec::default(),
                "reportTypeSpec": compliance_core::model::GlobalReportType::builtin_cis_benchmark().spec,
                "uiSummary": "{}",
                "cluster": "prod",
            })
            .to_string(),
        ],
    )
    .unwrap();
    // Node blob: format 1, one section (HIGH, named by its first test), pass 1, fail 0,
    // info 0, one test: id delta +1, PASS and scored.
    let results: &[u8] = &[1, 1, 0, 1, 0, 0, 1, 2, 0x08];
    c.execute(
        "INSERT INTO report_nodes VALUES (1, 0, 'ip-10-0-1-7', '1.29.3', 'cis-1.9', '', \
         'HIGH', 1, 0, 0, 1, ?1)",
        [results],
    )
    .unwrap();
    c.execute_batch(extra).unwrap();
}

fn user_version(path: &Path) -> i32 {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// A file of the first release opens, migrates in place, reads exactly what that release
/// stored (nothing of the new fields), and then keeps every new field.
#[test]
fn a_version_1_file_is_migrated_and_reads_as_before() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("v1.db");
    version_1_file(&path, "");
    let store =
        BlockingStore::new(SqliteStore::open(&path, OpenMode::Existing).unwrap().into()).unwrap();
    assert_eq!(
        user_version(&path),
        compliance_store::sqlite::SCHEMA_VERSION
    );
    assert_eq!(compliance_store::sqlite::SCHEMA_VERSION, 4);

    let text = Arc::new(TestText {
        section: "1.1".into(),
        section_desc: "Control Plane Node Configuration Files".into(),
        test_number: "1.1.1".into(),
        test_desc: "Ensure that the API server pod specification file permissions are set to 600"
            .into(),
        test_info: "chmod 600 /etc/kubernetes/manifests/kube-apiserver.yaml".into(),
    });
    let window = QueryWindow {
        start: t("2026-11-25T00:00:00Z"),
        end: t("2026-11-26T00:00:00Z"),
    };
    let mut docs = Vec::new();
    store.latest_per_node(&window, |d| docs.push(d)).unwrap();
    let old_doc = BenchmarkDocument {
        version: "cis-1.9".into(),
        kubernetes_version: "1.29.3".into(),
        kind: "kube".into(),
        node_name: "ip-10-0-1-7".into(),
        timestamp: t("2026-11-25T12:00:00.250Z"),
        error: String::new(),
        tests: vec![BenchmarkTest {
            text: text.clone(),
            status: TestStatus::Pass,
            scored: true,
        }],
        cluster: "cluster".into(),
        platform: String::new(),
        kube_bench_version: String::new(),
        benchmarker_version: String::new(),
        benchmark_choice: String::new(),
    };
    assert_eq!(docs, vec![old_doc.clone()]);

    let report = store.get_report("daily_cis-benchmark_x").unwrap().unwrap();
    assert_eq!(report.provenance, None);
    assert_eq!(report.cis_benchmark_summary.no_results_count, 0);
    assert_eq!(report.cis_benchmark_summary.waived_count, 0);
    assert_eq!(report.cis_benchmark_summary.without_waivers, None);
    assert!(report.waivers.is_empty());
    assert_eq!(report.cis_benchmark.len(), 1);
    let node = &report.cis_benchmark[0];
    assert_eq!(
        node,
        &CisBenchmarkNode {
            node_name: "ip-10-0-1-7".into(),
            kubernetes_version: "1.29.3".into(),
            benchmarks_version: "cis-1.9".into(),
            summary: NodeSummary {
                status: Rating::High,
                total_pass: 1,
                total_fail: 0,
                total_info: 0,
                total: 1,
                waived: 0,
                status_without_waivers: None,
            },
            results: vec![SectionResult {
                status: Rating::High,
                section: "1.1".into(),
                desc: "Control Plane Node Configuration Files".into(),
                pass: 1,
                fail: 0,
                info: 0,
                results: vec![TestResult {
                    text,
                    status: TestStatus::Pass,
                    scored: true,
                    waiver: None,
                }],
                waived: 0,
            }],
            error: String::new(),
            no_results: false,
            last_result_time: None,
            platform: String::new(),
            kube_bench_version: String::new(),
            benchmarker_version: String::new(),
            benchmark_choice: String::new(),
        }
    );
    assert_eq!(report.cluster, "prod");
    let rows = store
        .block_on(store.store().report_node_rows(&report.id))
        .unwrap()
        .unwrap();
    assert!(!rows[0].no_results && rows[0].last_result_time.is_none());
    assert_eq!(
        store
            .previous_report_nodes("daily", t("2026-11-26T00:00:00Z"))
            .unwrap(),
        Some(vec!["ip-10-0-1-7".to_string()])
    );
    assert_eq!(
        store
            .last_result_times(&["ip-10-0-1-7".to_string()])
            .unwrap()
            .get("ip-10-0-1-7"),
        Some(&t("2026-11-25T12:00:00.250Z"))
    );

    // The migrated file keeps what only version 2 can hold.
    let mut new_doc = old_doc;
    new_doc.timestamp = t("2026-11-25T18:00:00Z");
    new_doc.platform = "gke".into();
    new_doc.benchmark_choice = "platform gke → gke-1.6.0".into();
    store
        .put_benchmarks(std::iter::once(Ok(new_doc.clone())))
        .unwrap();
    let mut docs = Vec::new();
    store.latest_per_node(&window, |d| docs.push(d)).unwrap();
    assert_eq!(docs, vec![new_doc]);
    let full = support::report("daily", "2026-11-27T00:00:00Z");
    store.put_report(&full).unwrap();
    assert_eq!(store.get_report(&full.id).unwrap().as_ref(), Some(&full));
    drop(store);
    // Opening again finds the current version and changes nothing.
    let again =
        BlockingStore::new(SqliteStore::open(&path, OpenMode::Existing).unwrap().into()).unwrap();
    assert_eq!(again.get_report(&full.id).unwrap(), Some(full));
}

/// A migration that fails part way leaves the file exactly a version-1 file: here a
/// column of the last step already exists, so its ALTER fails after the others ran.
#[test]
fn a_failed_migration_leaves_the_version_1_file_as_it_was() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("v1.db");
    version_1_file(
        &path,
        "ALTER TABLE report_nodes ADD COLUMN provenance TEXT;",
    );
    let err = SqliteStore::open(&path, OpenMode::Existing).unwrap_err();
    assert!(err.to_string().contains("provenance"), "{err}");
    assert_eq!(user_version(&path), 1);
    let c = rusqlite::Connection::open(&path).unwrap();
    let columns: Vec<String> = c
        .prepare("SELECT name FROM pragma_table_info('benchmark_docs')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!columns.iter().any(|c| c == "provenance"), "{columns:?}");
}

/// What the second release added to version 1, as it ran it: its migration's statements.
const MIGRATE_V1_TO_V2: &str = "
ALTER TABLE benchmark_docs ADD COLUMN provenance TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN no_results_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE report_nodes ADD COLUMN no_results INTEGER NOT NULL DEFAULT 0;
ALTER TABLE report_nodes ADD COLUMN last_result_time INTEGER;
ALTER TABLE report_nodes ADD COLUMN provenance TEXT NOT NULL DEFAULT '';
";

/// A version-2 file: [`version_1_file`]'s rows migrated as the second release did, and
/// then what only version 2 holds: the node's provenance and last result time, and the
/// report's provenance and `noResultsCount`. Node blobs stay in format 1. `extra` runs
/// after, to damage the file on purpose.
fn version_2_file(path: &Path, extra: &str) {
    version_1_file(path, "");
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(MIGRATE_V1_TO_V2).unwrap();
    c.execute_batch("PRAGMA user_version = 2;").unwrap();
    let mut head: serde_json::Value = c
        .query_row("SELECT head FROM reports", [], |r| r.get::<_, String>(0))
        .map(|h| serde_json::from_str(&h).unwrap())
        .unwrap();
    head["provenance"] =
        serde_json::to_value(support::report("daily", support::END).provenance).unwrap();
    c.execute(
        "UPDATE reports SET head = ?1, no_results_count = 0",
        [head.to_string()],
    )
    .unwrap();
    c.execute(
        "UPDATE report_nodes SET provenance = '{\"platform\":\"eks\"}', last_result_time = ?1",
        [t("2026-11-25T12:00:00Z").timestamp_nanos_opt().unwrap()],
    )
    .unwrap();
    c.execute_batch(extra).unwrap();
}

/// A file of the second release opens, migrates to version 3 in place, reads exactly what
/// that release stored (nothing waived), and then keeps every waiver field of a report.
#[test]
fn a_version_2_file_is_migrated_and_reads_as_before() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("v2.db");
    version_2_file(&path, "");
    let store =
        BlockingStore::new(SqliteStore::open(&path, OpenMode::Existing).unwrap().into()).unwrap();
    assert_eq!(
        user_version(&path),
        compliance_store::sqlite::SCHEMA_VERSION
    );

    let report = store.get_report("daily_cis-benchmark_x").unwrap().unwrap();
    assert_eq!(
        report.provenance,
        support::report("daily", support::END).provenance
    );
    let s = &report.cis_benchmark_summary;
    assert_eq!(
        (s.high_count, s.waived_count, s.without_waivers),
        (1, 0, None)
    );
    assert!(report.waivers.is_empty());
    let node = &report.cis_benchmark[0];
    assert_eq!(node.platform, "eks");
    assert_eq!(node.last_result_time, Some(t("2026-11-25T12:00:00Z")));
    assert_eq!(
        (node.summary.waived, node.summary.status_without_waivers),
        (0, None)
    );
    assert_eq!(node.results[0].waived, 0);
    assert_eq!(node.results[0].results[0].waiver, None);
    assert_eq!(node.results[0].results[0].status, TestStatus::Pass);
    let head = store.report_head(&report.id).unwrap().unwrap();
    assert!(head.waivers.is_empty());
    let rows = store
        .block_on(store.store().report_node_rows(&report.id))
        .unwrap()
        .unwrap();
    assert_eq!(rows[0].summary, node.summary);

    let waived = support::waived_report();
    store.put_report(&waived).unwrap();
    assert_eq!(
        store.get_report(&waived.id).unwrap().as_ref(),
        Some(&waived)
    );
    drop(store);
    let again =
        BlockingStore::new(SqliteStore::open(&path, OpenMode::Existing).unwrap().into()).unwrap();
    assert_eq!(again.get_report(&waived.id).unwrap(), Some(waived));
    assert_eq!(again.get_report(&report.id).unwrap(), Some(report));
}

/// A migration from version 2 that fails part way leaves the file exactly a version-2
/// file: here the last column version 3 adds already exists, so its ALTER fails after
/// the others ran.
#[test]
fn a_failed_migration_leaves_the_version_2_file_as_it_was() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("v2.db");
    version_2_file(
        &path,
        "ALTER TABLE report_nodes ADD COLUMN status_without_waivers TEXT;",
    );
    let schema = |path: &Path| -> Vec<String> {
        let c = rusqlite::Connection::open(path).unwrap();
        c.prepare("SELECT sql FROM sqlite_master ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get::<_, Option<String>>(0))
            .unwrap()
            .map(|r| r.unwrap().unwrap_or_default())
            .collect()
    };
    let before = schema(&path);
    let err = SqliteStore::open(&path, OpenMode::Existing).unwrap_err();
    assert!(err.to_string().contains("status_without_waivers"), "{err}");
    assert_eq!(user_version(&path), 2);
    assert_eq!(schema(&path), before);
    assert!(
        !before.iter().any(|sql| sql.contains("waived_count")),
        "{before:?}"
    );
    // The file still reads as version 2 once the obstacle is gone, and then migrates.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("ALTER TABLE report_nodes DROP COLUMN status_without_waivers;")
        .unwrap();
    drop(c);
    let store =
        BlockingStore::new(SqliteStore::open(&path, OpenMode::Existing).unwrap().into()).unwrap();
    assert_eq!(
        user_version(&path),
        compliance_store::sqlite::SCHEMA_VERSION
    );
    assert_eq!(
        store
            .get_report("daily_cis-benchmark_x")
            .unwrap()
            .unwrap()
            .cis_benchmark[0]
            .platform,
        "eks"
    );
}

/// A schema-3 row whose `withoutWaivers` is partly missing, or whose `waivers` or node
/// `statusWithoutWaivers` does not parse, is a corrupt report, never a report with less.
#[test]
fn damaged_waiver_columns_are_corrupt_reports() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("c.db");
    let store =
        BlockingStore::new(SqliteStore::open(&path, OpenMode::Create).unwrap().into()).unwrap();
    let r = support::waived_report();
    store.put_report(&r).unwrap();
    for (damage, named) in [
        (
            "UPDATE reports SET without_waivers_med = NULL",
            "withoutWaivers",
        ),
        ("UPDATE reports SET waivers = '[{\"name\": 1}]'", "waivers"),
        (
            "UPDATE report_nodes SET status_without_waivers = 'BAD' WHERE waived > 0",
            "statusWithoutWaivers",
        ),
    ] {
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(damage)
            .unwrap();
        let err = store.get_report(&r.id).unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { .. }) && err.to_string().contains(named),
            "{damage}: {err}"
        );
        store.put_report(&r).unwrap();
        assert_eq!(store.get_report(&r.id).unwrap().as_ref(), Some(&r));
    }
}
