//! Retention in the SQLite store, on real files: documents and reports of known ages,
//! pruned at a fixed `now`, and exactly what remains.

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use compliance_core::model::{BenchmarkDocument, time};
use compliance_store::retention::{PRUNE_INTERVAL, node_prune_before};
use compliance_store::sqlite::{OpenMode, SqliteStore};
use compliance_store::{BlockingStore, Pruned, Retention};
use tempfile::TempDir;

use super::support::{self, END, doc, errored, report, t};

fn days(n: u64) -> Option<StdDuration> {
    Some(StdDuration::from_secs(n * 24 * 3600))
}

fn retention(benchmarks: u64, reports: u64) -> Retention {
    Retention {
        benchmarks: days(benchmarks),
        reports: days(reports),
    }
}

fn open(dir: &TempDir) -> BlockingStore {
    let s = SqliteStore::open(dir.path().join("compliance.db"), OpenMode::Create).unwrap();
    BlockingStore::new(s.into()).unwrap()
}

fn raw(dir: &TempDir) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.path().join("compliance.db")).unwrap()
}

fn put(store: &BlockingStore, docs: &[BenchmarkDocument]) {
    store.put_benchmarks(docs.iter().cloned().map(Ok)).unwrap();
}

/// `n` days before `at`, as RFC 3339.
fn ago(at: DateTime<Utc>, hours: i64) -> String {
    time::format(&(at - Duration::hours(hours)))
}

/// Every stored document as (node, RFC 3339 time).
fn stored_docs(dir: &TempDir) -> BTreeSet<(String, String)> {
    let conn = raw(dir);
    let mut stmt = conn
        .prepare("SELECT node_name, timestamp FROM benchmark_docs")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .unwrap()
        .map(|r| {
            let (node, ms) = r.unwrap();
            (
                node,
                time::format(&DateTime::from_timestamp_millis(ms).unwrap()),
            )
        })
        .collect()
}

fn stored_report_ids(store: &BlockingStore) -> BTreeSet<String> {
    store
        .all_reports()
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
}

fn orphan_rows(dir: &TempDir) -> i64 {
    raw(dir)
        .query_row(
            "SELECT count(*) FROM report_nodes \
             WHERE report_key NOT IN (SELECT report_key FROM reports)",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(n, at)| (n.to_string(), at.to_string()))
        .collect()
}

/// Documents of every age and kind, reports before, at and after the cutoff; `now` is
/// fixed, so is what remains.
#[test]
fn sqlite_prune_keeps_exactly_what_the_rules_keep() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let now = t("2026-12-01T00:00:00Z");
    let h = |hours| ago(now, hours);
    let day = 24;
    put(
        &store,
        &[
            // Reported daily, old and new.
            doc("live", &h(100 * day), 1),
            doc("live", &h(92 * day), 1),
            doc("live", &h(91 * day), 1),
            doc("live", &h(90 * day), 1),
            doc("live", &h(day), 2),
            // Stopped 200 days ago: its newest document stays.
            doc("gone", &h(300 * day), 1),
            doc("gone", &h(200 * day), 3),
            // Stopped after an error: its last good document and what follows stay.
            doc("failing", &h(300 * day), 1),
            doc("failing", &h(250 * day), 4),
            errored("failing", &h(240 * day)),
            errored("failing", &h(230 * day)),
            // Never ran successfully, long ago.
            errored("broken", &h(400 * day)),
            errored("broken", &h(399 * day)),
        ],
    );
    let end = |hours| ago(now, hours);
    for (name, hours) in [("old", 92 * day), ("edge", 91 * day), ("recent", 10 * day)] {
        store.put_report(&report(name, &end(hours))).unwrap();
    }
    let before_nodes: i64 = raw(&dir)
        .query_row("SELECT count(*) FROM report_nodes", [], |r| r.get(0))
        .unwrap();

    let pruned = store
        .prune(&Retention::default(), now, false)
        .unwrap()
        .unwrap();

    assert_eq!(
        stored_docs(&dir),
        set(&[
            ("live", &h(91 * day)),
            ("live", &h(90 * day)),
            ("live", &h(day)),
            ("gone", &h(200 * day)),
            ("failing", &h(250 * day)),
            ("failing", &h(240 * day)),
            ("failing", &h(230 * day)),
            ("broken", &h(399 * day)),
        ])
    );
    assert_eq!(
        stored_report_ids(&store),
        [
            &report("edge", &end(91 * day)).id,
            &report("recent", &end(10 * day)).id
        ]
        .into_iter()
        .cloned()
        .collect()
    );
    let nodes_per_report = report("old", &end(92 * day)).cis_benchmark.len() as u64;
    assert_eq!(
        pruned,
        Pruned {
            documents: 5,
            reports: 1,
            report_nodes: nodes_per_report,
            freed_bytes: pruned.freed_bytes,
        }
    );
    let after_nodes: i64 = raw(&dir)
        .query_row("SELECT count(*) FROM report_nodes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after_nodes, before_nodes - nodes_per_report as i64);
    assert_eq!(orphan_rows(&dir), 0);

    // Pruning again at the same time finds nothing more.
    let again = store
        .prune(&Retention::default(), now, false)
        .unwrap()
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn sqlite_reports_inside_retention_keep_all_their_node_data() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let kept = report("daily", "2026-11-20T00:00:00Z");
    let large = support::large_report("large", "2026-11-21T00:00:00Z", 2_000);
    store.put_report(&kept).unwrap();
    store.put_report(&large).unwrap();
    store
        .put_report(&report("daily", "2026-08-01T00:00:00Z"))
        .unwrap();
    let pruned = store
        .prune(&retention(91, 30), t("2026-12-01T00:00:00Z"), false)
        .unwrap()
        .unwrap();
    assert_eq!(pruned.reports, 1);
    assert_eq!(store.get_report(&kept.id).unwrap().unwrap(), kept);
    assert_eq!(store.get_report(&large.id).unwrap().unwrap(), large);
    assert_eq!(orphan_rows(&dir), 0);
}

/// The guarantee of docs/spec.md §10: a report computed after a prune is the one computed
/// before it, for a window inside the benchmark retention; here the shortest retention
/// allowed (the 36-hour look-back), pruned at the moment the report's window ends.
#[test]
fn sqlite_never_prune_early_a_report_after_a_prune_equals_one_before() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let mut docs = support::cluster_docs();
    // Older documents of the same nodes, and a node seen only long before the window.
    for (node, at) in [
        ("node-a", "2026-11-01T00:00:00Z"),
        ("node-b", "2026-11-20T00:00:00Z"),
        ("node-c", "2026-11-24T11:59:59Z"),
        ("node-old", "2026-10-01T00:00:00Z"),
    ] {
        docs.push(doc(node, at, 2));
    }
    docs.push(errored("node-b", "2026-11-24T11:00:00Z"));
    put(&store, &docs);
    let before = support::compute_blocking(&store);
    assert_eq!(support::window().start, t("2026-11-24T12:00:00Z"));
    let short = Retention {
        benchmarks: Some(StdDuration::from_secs(36 * 3600)),
        reports: None,
    };
    let pruned = store.prune(&short, t(END), false).unwrap().unwrap();
    assert!(pruned.documents >= 3, "{pruned:?}");
    assert_eq!(support::compute_blocking(&store), before);
    // The prune did remove documents before the window, and kept node-old's last one.
    let remaining = stored_docs(&dir);
    assert!(!remaining.contains(&("node-a".into(), "2026-11-01T00:00:00Z".into())));
    assert!(remaining.contains(&("node-old".into(), "2026-10-01T00:00:00Z".into())));
}

#[test]
fn sqlite_a_dry_run_counts_what_a_prune_deletes_and_deletes_nothing() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let now = t("2026-12-01T00:00:00Z");
    let mut docs = Vec::new();
    for n in 0..20 {
        for d in 0..10 {
            docs.push(doc(
                &format!("node-{n:02}"),
                &ago(now, (d * 24 + n) as i64),
                n % 5,
            ));
        }
    }
    put(&store, &docs);
    store
        .put_report(&report("daily", "2026-11-01T00:00:00Z"))
        .unwrap();
    store
        .put_report(&report("daily", "2026-11-30T00:00:00Z"))
        .unwrap();
    let r = retention(3, 7);
    let docs_before = stored_docs(&dir);
    let reports_before = stored_report_ids(&store);
    let dry = store.prune(&r, now, true).unwrap().unwrap();
    assert_eq!(stored_docs(&dir), docs_before);
    assert_eq!(stored_report_ids(&store), reports_before);
    assert_eq!(dry.freed_bytes, 0);
    let real = store.prune(&r, now, false).unwrap().unwrap();
    assert_eq!(
        (dry.documents, dry.reports, dry.report_nodes),
        (real.documents, real.reports, real.report_nodes)
    );
    assert!(real.documents > 0 && real.reports == 1, "{real:?}");
    assert_eq!(
        stored_docs(&dir).len() as u64,
        docs_before.len() as u64 - real.documents
    );
}

#[test]
fn sqlite_forever_prunes_nothing() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    put(
        &store,
        &[
            doc("a", "2001-01-01T00:00:00Z", 1),
            doc("a", "2001-01-02T00:00:00Z", 1),
        ],
    );
    store
        .put_report(&report("daily", "2001-01-02T00:00:00Z"))
        .unwrap();
    let p = store
        .prune(&Retention::FOREVER, t("2026-12-01T00:00:00Z"), false)
        .unwrap()
        .unwrap();
    assert!(p.is_empty());
    assert_eq!(stored_docs(&dir).len(), 2);
    assert_eq!(stored_report_ids(&store).len(), 1);
}

/// The store's deletes against the rule applied to the same documents in memory: many
/// nodes with pseudo-random histories of good and errored runs.
#[test]
fn sqlite_prune_deletes_what_the_pure_rule_lets_go() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let now = t("2026-12-01T00:00:00Z");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut docs = Vec::new();
    for n in 0..60 {
        let node = format!("node-{n:02}");
        let runs = next() % 12;
        let mut hour = (next() % 400) as i64;
        for _ in 0..runs {
            let at = ago(now, hour);
            docs.push(if next() % 3 == 0 {
                errored(&node, &at)
            } else {
                doc(&node, &at, (next() % 12) as usize)
            });
            hour += 1 + (next() % 60) as i64;
        }
    }
    put(&store, &docs);
    let r = Retention {
        benchmarks: Some(StdDuration::from_secs(200 * 3600)),
        reports: None,
    };
    let cutoff = r.benchmark_cutoff(now).unwrap();
    let mut expected = BTreeSet::new();
    let nodes: BTreeSet<&str> = docs.iter().map(|d| d.node_name.as_str()).collect();
    for node in nodes {
        let mine: Vec<&BenchmarkDocument> = docs.iter().filter(|d| d.node_name == node).collect();
        let newest = mine.iter().map(|d| d.timestamp).max().unwrap();
        let good = mine
            .iter()
            .filter(|d| !d.is_errored())
            .map(|d| d.timestamp)
            .max();
        let before = node_prune_before(cutoff, newest, good);
        for d in mine.iter().filter(|d| d.timestamp >= before) {
            expected.insert((node.to_string(), time::format(&d.timestamp)));
        }
    }
    let pruned = store.prune(&r, now, false).unwrap().unwrap();
    assert_eq!(stored_docs(&dir), expected);
    assert_eq!(pruned.documents, (docs.len() - expected.len()) as u64);
    assert!(pruned.documents > 0);
}

/// With a retention, a write prunes: the first one of a process, then at most once per
/// interval. The documents are decades old, so the real clock's reading cannot matter.
#[test]
fn sqlite_a_write_prunes_at_first_then_once_per_interval() {
    assert_eq!(PRUNE_INTERVAL, Duration::hours(1));
    let dir = TempDir::new().unwrap();
    let store = open(&dir).with_retention(retention(91, 91));
    put(
        &store,
        &[
            doc("a", "2001-01-01T00:00:00Z", 1),
            doc("a", "2001-01-02T00:00:00Z", 1),
        ],
    );
    assert_eq!(stored_docs(&dir), set(&[("a", "2001-01-02T00:00:00Z")]));
    // Within the interval the next write does not prune.
    put(
        &store,
        &[
            doc("b", "2001-01-01T00:00:00Z", 1),
            doc("b", "2001-01-02T00:00:00Z", 1),
        ],
    );
    assert_eq!(stored_docs(&dir).len(), 3);
    store
        .put_report(&report("daily", "2001-01-02T00:00:00Z"))
        .unwrap();
    assert_eq!(stored_report_ids(&store).len(), 1);
    // Another process (the next reporter Job) prunes after its write.
    let next = open(&dir).with_retention(retention(91, 91));
    next.put_report(&report("daily", "2001-01-03T00:00:00Z"))
        .unwrap();
    assert_eq!(stored_report_ids(&next).len(), 0);
    assert_eq!(
        stored_docs(&dir),
        set(&[("a", "2001-01-02T00:00:00Z"), ("b", "2001-01-02T00:00:00Z")])
    );
    // Without a retention nothing is pruned.
    let plain = open(&dir);
    put(
        &plain,
        &[
            doc("c", "2001-01-01T00:00:00Z", 1),
            doc("c", "2001-01-02T00:00:00Z", 1),
        ],
    );
    assert_eq!(stored_docs(&dir).len(), 4);
}

/// A prune that cannot run (another connection holds the write lock past the busy
/// timeout would take 10 s; a read-only file is immediate) leaves the write that
/// preceded it successful.
#[test]
fn sqlite_a_failed_prune_does_not_fail_the_write() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).with_retention(retention(91, 91));
    // A trigger that refuses every delete stands in for any failure of the prune.
    raw(&dir)
        .execute_batch(
            "CREATE TRIGGER no_deletes BEFORE DELETE ON benchmark_docs \
             BEGIN SELECT RAISE(ABORT, 'deletes refused'); END;",
        )
        .unwrap();
    put(
        &store,
        &[
            doc("a", "2001-01-01T00:00:00Z", 1),
            doc("a", "2001-01-02T00:00:00Z", 1),
        ],
    );
    assert_eq!(stored_docs(&dir).len(), 2);
    // And the explicit prune reports the failure, deleting nothing.
    assert!(store.prune(&retention(91, 91), t(END), false).is_err());
    assert_eq!(stored_docs(&dir).len(), 2);
}

/// The numbers of docs/operations.md: 10,000 nodes storing one document a day for 93
/// days, then the daily prune, the hourly one that finds nothing, the next day's import
/// into the freed pages, and a first prune of a long backlog. Run by hand:
/// `cargo test --release -p compliance-store --test store sqlite_prune_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: about a million documents"]
fn sqlite_prune_cost_at_10000_nodes() {
    use std::time::Instant;
    const NODES: usize = 10_000;
    const DAYS: i64 = 93;
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let path = dir.path().join("compliance.db");
    let size = || {
        // The write-ahead log is folded in first, so the file shows every page.
        raw(&dir)
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        std::fs::metadata(&path).unwrap().len() as f64 / 1e6
    };
    let now = t("2026-12-01T00:00:00Z");
    let day_docs = |day: i64| {
        (0..NODES).map(move |n| {
            Ok(doc(
                &format!("ip-10-0-{}-{}.ec2.internal", n / 250, n % 250),
                &ago(now, day * 24),
                n % 4,
            ))
        })
    };
    let started = Instant::now();
    for day in (0..DAYS).rev() {
        store.put_benchmarks(day_docs(day)).unwrap();
    }
    println!(
        "stored {} documents in {:.1} s: {:.1} MB",
        NODES as i64 * DAYS,
        started.elapsed().as_secs_f64(),
        size()
    );
    let daily = Instant::now();
    let p = store
        .prune(&Retention::default(), now, false)
        .unwrap()
        .unwrap();
    println!(
        "daily prune: {} documents in {} ms, {:.1} MB of pages freed; file {:.1} MB",
        p.documents,
        daily.elapsed().as_millis(),
        p.freed_bytes as f64 / 1e6,
        size()
    );
    let idle = Instant::now();
    let p = store
        .prune(&Retention::default(), now, false)
        .unwrap()
        .unwrap();
    assert!(p.is_empty());
    println!(
        "prune with nothing to do: {} ms",
        idle.elapsed().as_millis()
    );
    let next = now + Duration::days(1);
    store
        .put_benchmarks((0..NODES).map(|n| {
            Ok(doc(
                &format!("ip-10-0-{}-{}.ec2.internal", n / 250, n % 250),
                &time::format(&next),
                n % 4,
            ))
        }))
        .unwrap();
    println!("the next day's documents stored: file {:.1} MB", size());
    let backlog = Instant::now();
    let p = store
        .prune(&retention(30, 30), next, false)
        .unwrap()
        .unwrap();
    println!(
        "first prune to 30 days: {} documents in {} ms, {:.1} MB of pages freed; file {:.1} MB",
        p.documents,
        backlog.elapsed().as_millis(),
        p.freed_bytes as f64 / 1e6,
        size()
    );
}
