//! The store contract: the same cases on every backend, through the async [`Store`].
//!
//! Each case runs on a SQLite file, on the fake Elasticsearch (which also checks every
//! request against `docs/elasticsearch.md`), and on a real cluster when
//! ELASTICSEARCH_URL is set (e.g. `http://elastic:changeme@localhost:9200` with the
//! repository's docker-compose.yml); without it those tests print SKIPPED and pass. Each
//! Elasticsearch test uses its own index suffix (`t<pid>-<n>-<case>`), so runs do not
//! interfere; delete `tigera_secure_ee_*.t*` indices to clean up.
//!
//! Cases run as tasks on a multi-threaded runtime, which also proves the store's futures
//! `Send`. The reads are checked against [`ReportQuery::apply`], the same rules over a
//! list in memory.

use std::future::Future;
use std::io::Write as _;

use compliance_core::model::ReportDocument;
use compliance_store::{
    Datastore, NodeRow, OpenMode, QueryWindow, ReportHead, ReportPage, ReportQuery, SortField,
    SortKey, Store, StoreError,
};
use compliance_testkit::fake_es::FakeEs;

use super::support::*;

/// Where a case runs; what it holds is dropped after the case (the fake then checks
/// that no request strayed from the protocol).
enum Backend {
    Sqlite,
    FakeEs,
    RealEs,
}

/// Elasticsearch settings of the contract: small pages, so that reads take several, and
/// a 1 MiB request limit, so that large reports are split into parts.
const ES_SETTINGS: &[(&str, &str)] = &[
    ("ELASTIC_PAGE_SIZE", "3"),
    ("ELASTIC_MAX_REQUEST_BYTES", "1MiB"),
];

fn run<F, Fut>(backend: Backend, name: &str, case: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let mut fake = None;
    let datastore = match backend {
        Backend::Sqlite => Datastore::Sqlite(dir.path().join("compliance.db")),
        Backend::FakeEs => {
            let f = FakeEs::start();
            let c = config(&f.url(), &unique_suffix(name), ES_SETTINGS);
            fake = Some(f);
            Datastore::Elastic(Box::new(c))
        }
        Backend::RealEs => match std::env::var("ELASTICSEARCH_URL") {
            Ok(url) if !url.trim().is_empty() => {
                Datastore::Elastic(Box::new(config(&url, &unique_suffix(name), ES_SETTINGS)))
            }
            _ => {
                // Written to the process's stderr directly: libtest captures only the
                // print macros, and a skip must be visible in a plain `cargo test` run.
                let _ = writeln!(
                    std::io::stderr(),
                    "contract::real_es::{name}: SKIPPED (set ELASTICSEARCH_URL to run it against a real cluster; see docker-compose.yml)"
                );
                return;
            }
        },
    };
    let store = Store::open(&datastore, OpenMode::Create).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Spawned, not blocked on: a future that is not `Send` would not compile here.
    let outcome = runtime.block_on(runtime.spawn(case(store)));
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    if let Some(fake) = fake {
        fake.assert_no_violations();
        assert_eq!(fake.open_pits(), 0, "every point in time is closed");
    }
}

/// One `#[test]` per case and backend: `contract::<backend>::<case>`.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $case() {
                super::run(super::Backend::Sqlite, stringify!($case), super::cases::$case);
            })*
        }
        mod fake_es {
            $(#[test]
            fn $case() {
                super::run(super::Backend::FakeEs, stringify!($case), super::cases::$case);
            })*
        }
        mod real_es {
            $(#[test]
            fn $case() {
                super::run(super::Backend::RealEs, stringify!($case), super::cases::$case);
            })*
        }
    };
}

contract!(
    an_empty_store_has_nothing,
    latest_per_node_follows_spec_4_2,
    window_ends_are_inclusive,
    a_node_with_only_errors_gets_its_latest_error,
    a_whitespace_error_is_no_error,
    reimporting_a_run_replaces_it,
    a_report_round_trips_exactly,
    a_report_without_nodes_round_trips,
    a_large_report_round_trips,
    a_waived_report_round_trips_exactly,
    a_large_waived_report_round_trips_exactly,
    restoring_a_report_id_replaces_it,
    unknown_ids_give_none,
    list_filters_by_name_and_type,
    list_time_range_matches_start_or_end,
    list_sorts_by_every_key_both_ways,
    list_pages_cover_the_list_and_count_it,
    all_reports_are_the_default_order,
    latest_report_is_the_newest_window,
    report_head_is_the_report_without_nodes,
    report_nodes_pages_concatenate_to_the_nodes,
    node_rows_are_the_nodes_without_results,
    a_node_cursor_reads_every_node_once_in_order,
    report_names_are_distinct_and_sorted,
    concurrent_reads_share_one_store,
    documents_keep_their_provenance,
    last_result_times_are_each_nodes_newest_document,
    previous_report_nodes_come_from_the_newest_report_by_end,
    previous_report_nodes_of_a_large_report,
);

/// Reports of several GlobalReports, types and windows, with ties to break.
fn reports() -> Vec<ReportDocument> {
    let mut out = Vec::new();
    for (name, end) in [
        ("daily", "2026-11-24T00:00:00Z"),
        ("daily", "2026-11-25T00:00:00Z"),
        ("daily", "2026-11-26T00:00:00Z"),
        ("weekly", "2026-11-26T00:00:00Z"),
        ("weekly", "2026-11-19T00:00:00Z"),
        ("hourly", "2026-11-25T12:00:00Z"),
        ("hourly", "2026-11-25T13:00:00Z"),
        ("Zeta", "2026-11-25T00:00:00Z"),
    ] {
        out.push(report(name, end));
    }
    // Another type; a window of a week; generated at other times.
    out[3].report_type_name = "cis-weekly".into();
    out[3].start_time = t("2026-11-19T00:00:00Z");
    out[4].report_type_name = "cis-weekly".into();
    out[4].start_time = t("2026-11-12T00:00:00Z");
    out[5].start_time = t("2026-11-25T11:00:00Z");
    out[6].start_time = t("2026-11-25T12:00:00Z");
    out[5].generation_time = t("2026-11-27T00:00:00Z");
    out[7].generation_time = t("2026-11-25T00:00:01Z");
    out
}

async fn store_all(store: &Store, reports: &[ReportDocument]) {
    for r in reports {
        store.put_report(r).await.unwrap();
    }
}

fn heads(reports: &[ReportDocument]) -> Vec<ReportHead> {
    reports.iter().map(ReportHead::of).collect()
}

fn ids(page: &ReportPage) -> Vec<&str> {
    page.reports.iter().map(|h| h.id.as_str()).collect()
}

/// Checks the store's answer to `q` against the model, naming the query on failure.
async fn check_list(store: &Store, all: &[ReportHead], q: ReportQuery) {
    let got = store.list_reports(&q).await.unwrap();
    let want = q.apply(all.iter().cloned());
    assert_eq!(ids(&got), ids(&want), "{q:?}");
    assert_eq!(got.total, want.total, "{q:?}");
    assert_eq!(got, want, "{q:?}");
}

async fn latest(store: &Store, window: &QueryWindow) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    store
        .latest_per_node(window, |d| {
            out.push((
                d.node_name.clone(),
                compliance_core::model::time::format(&d.timestamp),
                d.tests.len(),
            ))
        })
        .await
        .unwrap();
    out.sort();
    out
}

mod cases {
    use super::*;

    pub async fn an_empty_store_has_nothing(store: Store) {
        let stats = store
            .latest_per_node(&window(), |_| panic!("no documents"))
            .await
            .unwrap();
        assert_eq!((stats.documents, stats.skipped), (0, 0));
        let page = store.list_reports(&ReportQuery::default()).await.unwrap();
        assert_eq!(page, ReportPage::default());
        assert!(store.all_reports().await.unwrap().is_empty());
        assert_eq!(store.latest_report("daily").await.unwrap(), None);
    }

    pub async fn latest_per_node_follows_spec_4_2(store: Store) {
        let docs = cluster_docs();
        let stored = store
            .put_benchmarks(docs.clone().into_iter().map(Ok))
            .await
            .unwrap();
        assert_eq!(stored, docs.len() as u64);
        let report = compute(&store).await;
        assert_eq!(report, compute_from(&docs));
        let node = |name: &str| {
            report
                .cis_benchmark
                .iter()
                .find(|n| n.node_name == name)
                .unwrap()
        };
        assert_eq!(report.cis_benchmark.len(), 13);
        assert_eq!(node("node-a").summary.total_fail, 1, "node-a's latest run");
        assert!(
            node("node-b").error.is_empty(),
            "node-b keeps its good run over the later failure"
        );
        assert_eq!(
            node("node-c").error,
            "kube-bench: cannot find the kubelet binary"
        );
        assert_eq!(
            node("node-d").summary.total_fail,
            7,
            "node-d's run after the window is not used"
        );
    }

    pub async fn window_ends_are_inclusive(store: Store) {
        let docs = vec![
            doc("before", "2026-11-25T23:59:59Z", 0),
            doc("at-start", "2026-11-26T00:00:00Z", 0),
            doc("at-end", "2026-11-27T00:00:00Z", 0),
            doc("after", "2026-11-27T00:00:01Z", 0),
            errored("errored-after", "2026-11-27T00:00:02Z"),
            errored("errored-at-end", "2026-11-27T00:00:00Z"),
        ];
        store
            .put_benchmarks(docs.into_iter().map(Ok))
            .await
            .unwrap();
        let window = QueryWindow {
            start: t("2026-11-26T00:00:00Z"),
            end: t("2026-11-27T00:00:00Z"),
        };
        let names: Vec<String> = latest(&store, &window)
            .await
            .into_iter()
            .map(|(n, _, _)| n)
            .collect();
        assert_eq!(names, ["at-end", "at-start", "errored-at-end"]);
    }

    pub async fn a_node_with_only_errors_gets_its_latest_error(store: Store) {
        let mut second = errored("n2", "2026-11-26T10:00:00Z");
        second.error = "second failure".into();
        let docs = vec![
            errored("n2", "2026-11-26T09:00:00Z"),
            second.clone(),
            // A good document outside the window does not count.
            doc("n2", "2026-11-25T09:00:00Z", 0),
        ];
        store
            .put_benchmarks(docs.into_iter().map(Ok))
            .await
            .unwrap();
        let mut got = Vec::new();
        let window = QueryWindow {
            start: t("2026-11-26T00:00:00Z"),
            end: t("2026-11-26T23:00:00Z"),
        };
        let stats = store
            .latest_per_node(&window, |d| got.push(d))
            .await
            .unwrap();
        assert_eq!(got, vec![second]);
        assert_eq!(stats.documents, 1);
    }

    pub async fn a_whitespace_error_is_no_error(store: Store) {
        let mut d = doc("n", "2026-11-26T09:00:00Z", 2);
        d.error = "  ".into();
        let docs = vec![d.clone(), errored("n", "2026-11-26T08:00:00Z")];
        store
            .put_benchmarks(docs.into_iter().map(Ok))
            .await
            .unwrap();
        let mut got = Vec::new();
        let window = QueryWindow {
            start: t("2026-11-26T00:00:00Z"),
            end: t("2026-11-26T23:00:00Z"),
        };
        store
            .latest_per_node(&window, |d| got.push(d))
            .await
            .unwrap();
        assert_eq!(chosen(got).into_values().collect::<Vec<_>>(), vec![d]);
    }

    pub async fn reimporting_a_run_replaces_it(store: Store) {
        let docs = cluster_docs();
        store
            .put_benchmarks(docs.clone().into_iter().map(Ok))
            .await
            .unwrap();
        let mut changed = doc("node-a", "2026-11-25T23:00:00Z", 3);
        changed.kubernetes_version = "1.30.0".into();
        let again_docs: Vec<_> = docs
            .into_iter()
            .map(|d| {
                if d.node_name == changed.node_name && d.timestamp == changed.timestamp {
                    changed.clone()
                } else {
                    d
                }
            })
            .collect();
        store
            .put_benchmarks(again_docs.clone().into_iter().map(Ok))
            .await
            .unwrap();
        let mut got = Vec::new();
        let stats = store
            .latest_per_node(&window(), |d| got.push(d))
            .await
            .unwrap();
        assert_eq!(stats.documents, got.len() as u64);
        // Each node once, a run re-imported replaced rather than added.
        let chosen = chosen(got);
        assert_eq!(chosen.len(), 13);
        assert_eq!(chosen["node-a"], changed);
        assert_eq!(compute(&store).await, compute_from(&again_docs));
    }

    pub async fn a_report_round_trips_exactly(store: Store) {
        let r = report("daily-cis-results", END);
        store.put_report(&r).await.unwrap();
        let back = store.get_report(&r.id).await.unwrap();
        assert_eq!(back.as_ref(), Some(&r));
        // The serialised forms agree too, Arc sharing aside.
        assert_eq!(
            serde_json::to_value(back.unwrap()).unwrap(),
            serde_json::to_value(&r).unwrap()
        );
    }

    /// Every waiver field of a report comes back as written: the report's `waivedCount`,
    /// `withoutWaivers` and `waivers` (the specs as they were, and what each did), each
    /// node's `waived` and `statusWithoutWaivers`, each section's `waived`, each test's
    /// `waiver`; in the whole report, its head, its pages of nodes and its node rows.
    pub async fn a_waived_report_round_trips_exactly(store: Store) {
        let r = waived_report();
        store.put_report(&r).await.unwrap();
        let back = store.get_report(&r.id).await.unwrap().unwrap();
        assert_eq!(back, r);
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&r).unwrap()
        );
        let head = store.report_head(&r.id).await.unwrap().unwrap();
        assert_eq!(head, ReportHead::of(&r));
        assert_eq!(head.waivers, r.waivers);
        assert_eq!(
            store.latest_report(&r.report_name).await.unwrap(),
            Some(ReportHead::of(&r))
        );
        let page = store.list_reports(&ReportQuery::default()).await.unwrap();
        assert_eq!(page.reports, vec![ReportHead::of(&r)]);
        assert_eq!(
            store.report_nodes(&r.id, 1, 4).await.unwrap().unwrap(),
            r.cis_benchmark[1..5]
        );
        let rows = store.report_node_rows(&r.id).await.unwrap().unwrap();
        let expected: Vec<NodeRow> = r
            .cis_benchmark
            .iter()
            .enumerate()
            .map(|(i, n)| NodeRow::of(i as u64, n))
            .collect();
        assert_eq!(rows, expected);
        assert!(rows.iter().any(|n| n.summary.waived > 0));
    }

    /// The same for a report split into parts on Elasticsearch (compact layout).
    pub async fn a_large_waived_report_round_trips_exactly(store: Store) {
        let r = large_waived_report("big", END, nodes_over_one_mib());
        assert!(serde_json::to_vec(&r).unwrap().len() > 1 << 20);
        assert!(r.cis_benchmark_summary.waived_count > 100);
        store.put_report(&r).await.unwrap();
        assert_eq!(store.get_report(&r.id).await.unwrap().as_ref(), Some(&r));
        assert_eq!(
            store.report_head(&r.id).await.unwrap(),
            Some(ReportHead::of(&r))
        );
        let n = r.cis_benchmark.len() as u64;
        let page = store.report_nodes(&r.id, n - 7, 7).await.unwrap().unwrap();
        assert_eq!(page, r.cis_benchmark[(n - 7) as usize..]);
        let rows = store.report_node_rows(&r.id).await.unwrap().unwrap();
        assert_eq!(rows[0], NodeRow::of(0, &r.cis_benchmark[0]));
        assert_eq!(rows.len() as u64, n);
    }

    pub async fn a_report_without_nodes_round_trips(store: Store) {
        let mut r = report("empty", END);
        r.cis_benchmark.clear();
        r.cis_benchmark_summary.high_count = 0;
        r.cis_benchmark_summary.low_count = 0;
        r.report_spec.cis = None;
        store.put_report(&r).await.unwrap();
        assert_eq!(store.get_report(&r.id).await.unwrap().as_ref(), Some(&r));
        assert_eq!(
            store.report_head(&r.id).await.unwrap(),
            Some(ReportHead::of(&r))
        );
        assert_eq!(
            store.report_nodes(&r.id, 0, 10).await.unwrap(),
            Some(Vec::new())
        );
    }

    pub async fn a_large_report_round_trips(store: Store) {
        let r = large_report("big", END, nodes_over_one_mib());
        assert!(serde_json::to_vec(&r).unwrap().len() > 1 << 20);
        store.put_report(&r).await.unwrap();
        assert_eq!(store.get_report(&r.id).await.unwrap().as_ref(), Some(&r));
        let head = store.report_head(&r.id).await.unwrap().unwrap();
        assert_eq!(head, ReportHead::of(&r));
        assert_eq!(head.node_count, r.cis_benchmark.len() as u64);
        // A smaller run of the same window replaces it whole.
        let mut small = r.clone();
        small.cis_benchmark.truncate(3);
        small.cis_benchmark_summary.low_count = 2;
        store.put_report(&small).await.unwrap();
        assert_eq!(
            store.get_report(&r.id).await.unwrap().as_ref(),
            Some(&small)
        );
    }

    pub async fn restoring_a_report_id_replaces_it(store: Store) {
        let first = report("daily", END);
        store.put_report(&first).await.unwrap();
        let mut second = first.clone();
        second.cis_benchmark.truncate(1);
        second.cis_benchmark_summary.high_count = 0;
        second.cis_benchmark_summary.low_count = 1;
        second.ui_summary = "{}".into();
        second.generation_time = t("2026-11-26T01:00:00Z");
        second.generated_time = t("2026-11-26T01:00:05Z");
        store.put_report(&second).await.unwrap();
        assert_eq!(
            store.get_report(&first.id).await.unwrap().as_ref(),
            Some(&second)
        );
        let all = store.all_reports().await.unwrap();
        assert_eq!(all, vec![ReportHead::of(&second)]);
        let page = store.list_reports(&ReportQuery::default()).await.unwrap();
        assert_eq!(
            (page.total, page.reports),
            (1, vec![ReportHead::of(&second)])
        );
    }

    pub async fn unknown_ids_give_none(store: Store) {
        store.put_report(&report("daily", END)).await.unwrap();
        assert_eq!(store.get_report("no-such-report").await.unwrap(), None);
        assert_eq!(store.report_head("no-such-report").await.unwrap(), None);
        assert_eq!(
            store.report_nodes("no-such-report", 0, 10).await.unwrap(),
            None
        );
        assert_eq!(store.latest_report("no-such-name").await.unwrap(), None);
        // Ids are matched whole: neither a prefix nor another case finds one.
        assert_eq!(store.report_head("daily").await.unwrap(), None);
        let id = report("daily", END).id.to_uppercase();
        assert_eq!(store.report_head(&id).await.unwrap(), None);
    }

    pub async fn list_filters_by_name_and_type(store: Store) {
        let reports = reports();
        store_all(&store, &reports).await;
        let all = heads(&reports);
        let q = |names: &[&str], types: &[&str]| ReportQuery {
            report_names: names.iter().map(|s| s.to_string()).collect(),
            report_type_names: types.iter().map(|s| s.to_string()).collect(),
            ..ReportQuery::default()
        };
        check_list(&store, &all, q(&[], &[])).await;
        check_list(&store, &all, q(&["daily"], &[])).await;
        check_list(&store, &all, q(&["daily", "weekly"], &[])).await;
        check_list(&store, &all, q(&[], &["cis-weekly"])).await;
        check_list(&store, &all, q(&["weekly", "hourly"], &["cis-benchmark"])).await;
        check_list(&store, &all, q(&["nobody"], &[])).await;
        // Names are matched whole and by case.
        check_list(&store, &all, q(&["dail", "zeta", "Daily"], &[])).await;
        let daily = store.list_reports(&q(&["daily"], &[])).await.unwrap();
        assert_eq!(daily.total, 3);
    }

    pub async fn list_time_range_matches_start_or_end(store: Store) {
        let reports = reports();
        store_all(&store, &reports).await;
        let all = heads(&reports);
        let q = |from: Option<&str>, to: Option<&str>| ReportQuery {
            from: from.map(t),
            to: to.map(t),
            ..ReportQuery::default()
        };
        for (from, to) in [
            // Only ends lie in it; then only starts; both ends inclusive.
            (Some("2026-11-26T00:00:00Z"), Some("2026-11-26T00:00:00Z")),
            (Some("2026-11-25T11:00:00Z"), Some("2026-11-25T12:00:00Z")),
            (Some("2026-11-12T00:00:00Z"), Some("2026-11-18T00:00:00Z")),
            // A range inside a week-long window touches neither end.
            (Some("2026-11-20T00:00:00Z"), Some("2026-11-21T00:00:00Z")),
            (Some("2026-11-25T12:00:00Z"), None),
            (None, Some("2026-11-24T00:00:00Z")),
            (Some("2026-11-27T00:00:00Z"), Some("2026-11-20T00:00:00Z")),
            // Ends between whole seconds, where report times lie.
            (
                Some("2026-11-25T11:59:59.500Z"),
                Some("2026-11-25T12:00:00.500Z"),
            ),
            (Some("2026-11-25T12:00:00.500Z"), None),
            (None, Some("2026-11-24T23:59:59.999Z")),
        ] {
            check_list(&store, &all, q(from, to)).await;
        }
        let mut combined = q(Some("2026-11-25T00:00:00Z"), Some("2026-11-26T00:00:00Z"));
        combined.report_names = vec!["daily".into(), "Zeta".into()];
        check_list(&store, &all, combined).await;
        let touching = store
            .list_reports(&q(
                Some("2026-11-26T00:00:00Z"),
                Some("2026-11-26T00:00:00Z"),
            ))
            .await
            .unwrap();
        assert_eq!(touching.total, 2, "{touching:?}");
    }

    pub async fn list_sorts_by_every_key_both_ways(store: Store) {
        let reports = reports();
        store_all(&store, &reports).await;
        let all = heads(&reports);
        for field in SortField::ALL {
            for descending in [false, true] {
                let q = ReportQuery {
                    sort: vec![SortKey { field, descending }],
                    ..ReportQuery::default()
                };
                check_list(&store, &all, q).await;
            }
        }
        for sort in [
            vec![
                SortKey::ascending(SortField::ReportTypeName),
                SortKey::descending(SortField::StartTime),
            ],
            vec![
                SortKey::descending(SortField::ReportName),
                SortKey::ascending(SortField::GenerationTime),
            ],
            vec![
                SortKey::ascending(SortField::EndTime),
                SortKey::descending(SortField::EndTime),
            ],
        ] {
            check_list(
                &store,
                &all,
                ReportQuery {
                    sort,
                    ..ReportQuery::default()
                },
            )
            .await;
        }
    }

    pub async fn list_pages_cover_the_list_and_count_it(store: Store) {
        let reports = reports();
        store_all(&store, &reports).await;
        let all = heads(&reports);
        let everything = store
            .list_reports(&ReportQuery {
                max_items: 1000,
                ..ReportQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(everything.total, reports.len() as u64);
        let mut paged = Vec::new();
        for page in 0.. {
            let q = ReportQuery {
                page,
                max_items: 3,
                sort: vec![SortKey::ascending(SortField::StartTime)],
                ..ReportQuery::default()
            };
            let got = store.list_reports(&q).await.unwrap();
            assert_eq!(got.total, reports.len() as u64);
            check_list(&store, &all, q).await;
            if got.reports.is_empty() {
                break;
            }
            paged.extend(got.reports);
        }
        let sorted = ReportQuery {
            sort: vec![SortKey::ascending(SortField::StartTime)],
            max_items: 1000,
            ..ReportQuery::default()
        };
        assert_eq!(paged, sorted.apply(all.iter().cloned()).reports);
        // No items, still a count; a page far past the end, empty.
        let none = ReportQuery {
            max_items: 0,
            report_names: vec!["daily".into()],
            ..ReportQuery::default()
        };
        let got = store.list_reports(&none).await.unwrap();
        assert_eq!((got.reports.len(), got.total), (0, 3));
        check_list(
            &store,
            &all,
            ReportQuery {
                page: 40,
                max_items: 100,
                ..ReportQuery::default()
            },
        )
        .await;
    }

    pub async fn all_reports_are_the_default_order(store: Store) {
        let reports = reports();
        store_all(&store, &reports).await;
        let want = ReportQuery {
            max_items: u64::MAX,
            ..ReportQuery::default()
        }
        .apply(heads(&reports));
        assert_eq!(store.all_reports().await.unwrap(), want.reports);
        let first_page = store.list_reports(&ReportQuery::default()).await.unwrap();
        assert_eq!(first_page.reports, want.reports);
    }

    pub async fn latest_report_is_the_newest_window(store: Store) {
        let mut reports = reports();
        // Two runs of hourly's newest window, under different ids: the later generation
        // wins.
        let mut rerun = reports[6].clone();
        rerun.id = format!("{}-rerun", rerun.id);
        rerun.generation_time = reports[6].generation_time + chrono::Duration::hours(1);
        reports.push(rerun.clone());
        store_all(&store, &reports).await;
        let latest = |name: &'static str| {
            let store = store.clone();
            async move { store.latest_report(name).await.unwrap() }
        };
        assert_eq!(latest("daily").await, Some(ReportHead::of(&reports[2])));
        assert_eq!(latest("weekly").await, Some(ReportHead::of(&reports[3])));
        assert_eq!(latest("hourly").await, Some(ReportHead::of(&rerun)));
        assert_eq!(latest("Zeta").await, Some(ReportHead::of(&reports[7])));
        assert_eq!(latest("zeta").await, None);
    }

    pub async fn report_head_is_the_report_without_nodes(store: Store) {
        let reports = reports();
        store_all(&store, &reports).await;
        for r in &reports {
            let head = store.report_head(&r.id).await.unwrap();
            assert_eq!(head, Some(ReportHead::of(r)), "{}", r.id);
        }
    }

    pub async fn node_rows_are_the_nodes_without_results(store: Store) {
        let r = large_report("big", END, nodes_over_one_mib() + 50);
        store.put_report(&r).await.unwrap();
        let rows = store.report_node_rows(&r.id).await.unwrap().unwrap();
        let expected: Vec<NodeRow> = r
            .cis_benchmark
            .iter()
            .enumerate()
            .map(|(i, n)| NodeRow::of(i as u64, n))
            .collect();
        assert_eq!(rows, expected);
        assert_eq!(
            store.report_node_rows("no-such-report").await.unwrap(),
            None
        );
        let empty = report("empty", END);
        store.put_report(&empty).await.unwrap();
        let rows = store.report_node_rows(&empty.id).await.unwrap().unwrap();
        assert_eq!(rows.len(), empty.cis_benchmark.len());
    }

    pub async fn a_node_cursor_reads_every_node_once_in_order(store: Store) {
        let r = large_report("big", END, nodes_over_one_mib() + 50);
        store.put_report(&r).await.unwrap();
        for limit in [1, 7, 64, 100_000] {
            let mut cursor = store.nodes(&r.id).await.unwrap();
            let mut all = Vec::new();
            loop {
                let page = cursor.next(limit).await.unwrap();
                if page.is_empty() {
                    break;
                }
                assert!(page.len() as u64 <= limit);
                all.extend(page);
            }
            assert_eq!(all, r.cis_benchmark, "pages of {limit}");
            assert!(cursor.next(limit).await.unwrap().is_empty());
        }
        // Once read whole, pages anywhere in the report (Elasticsearch then starts at
        // the part that holds them) are still exactly the nodes there.
        let n = r.cis_benchmark.len() as u64;
        for (offset, limit) in [
            (0, 3),
            (200, 3),
            (n / 2, 70),
            (n - 1, 5),
            (n, 5),
            (n + 9, 1),
        ] {
            let page = store
                .report_nodes(&r.id, offset, limit)
                .await
                .unwrap()
                .unwrap();
            let from = (offset as usize).min(r.cis_benchmark.len());
            let to = ((offset + limit) as usize).min(r.cis_benchmark.len());
            assert_eq!(page, r.cis_benchmark[from..to], "{offset}+{limit}");
        }
        let small = report("small", END);
        store.put_report(&small).await.unwrap();
        let mut cursor = store.nodes(&small.id).await.unwrap();
        assert_eq!(cursor.next(1000).await.unwrap(), small.cis_benchmark);
        let missing = match store.nodes("no-such-report").await {
            Ok(mut c) => c.next(10).await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(
            matches!(missing, Err(StoreError::Gone { .. })),
            "{missing:?}"
        );
    }

    pub async fn report_names_are_distinct_and_sorted(store: Store) {
        assert!(store.report_names().await.unwrap().is_empty());
        store_all(&store, &reports()).await;
        assert_eq!(
            store.report_names().await.unwrap(),
            ["Zeta", "daily", "hourly", "weekly"]
        );
    }

    pub async fn report_nodes_pages_concatenate_to_the_nodes(store: Store) {
        let r = large_report("big", END, nodes_over_one_mib() + 50);
        store.put_report(&r).await.unwrap();
        let mut pages = Vec::new();
        let mut offset = 0;
        loop {
            let page = store
                .report_nodes(&r.id, offset, 64)
                .await
                .unwrap()
                .unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 64);
            offset += page.len() as u64;
            pages.extend(page);
        }
        assert_eq!(pages, r.cis_benchmark);
        assert!(serde_json::to_vec(&r).unwrap().len() > 1 << 20);
        let n = r.cis_benchmark.len() as u64;
        let last = store.report_nodes(&r.id, n - 1, 64).await.unwrap().unwrap();
        assert_eq!(last, r.cis_benchmark[r.cis_benchmark.len() - 1..]);
        let middle = store.report_nodes(&r.id, 200, 3).await.unwrap().unwrap();
        assert_eq!(middle, r.cis_benchmark[200..203]);
        let none = store.report_nodes(&r.id, 5, 0).await.unwrap().unwrap();
        assert!(none.is_empty());
        let beyond = store.report_nodes(&r.id, u64::MAX, u64::MAX).await.unwrap();
        assert_eq!(beyond, Some(Vec::new()));
        // The small layout too.
        let small = report("daily", END);
        store.put_report(&small).await.unwrap();
        let nodes = store.report_nodes(&small.id, 1, 5).await.unwrap().unwrap();
        assert_eq!(nodes, small.cis_benchmark[1..]);
    }

    pub async fn concurrent_reads_share_one_store(store: Store) {
        let reports = reports();
        store_all(&store, &reports).await;
        let mut tasks = Vec::new();
        for r in reports.iter().cloned() {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let same_name = ReportQuery {
                    report_names: vec![r.report_name.clone()],
                    ..ReportQuery::default()
                };
                let (head, nodes, page) = tokio::join!(
                    store.report_head(&r.id),
                    store.report_nodes(&r.id, 0, 2),
                    store.list_reports(&same_name),
                );
                assert_eq!(head.unwrap(), Some(ReportHead::of(&r)));
                assert_eq!(nodes.unwrap().unwrap(), r.cis_benchmark[..2]);
                assert!(page.unwrap().reports.iter().any(|h| h.id == r.id));
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    }

    pub async fn documents_keep_their_provenance(store: Store) {
        let mut bare = doc("bare", "2026-11-25T12:00:00Z", 1);
        bare.platform.clear();
        bare.kube_bench_version.clear();
        bare.benchmarker_version.clear();
        bare.benchmark_choice.clear();
        let mut partial = errored("partial", "2026-11-25T13:00:00Z");
        partial.platform.clear();
        partial.benchmark_choice = "unicode → ✓ \"quoted\"".into();
        let full = doc("full", "2026-11-25T14:00:00Z", 2);
        let docs = vec![bare, partial, full];
        store
            .put_benchmarks(docs.clone().into_iter().map(Ok))
            .await
            .unwrap();
        let mut got = Vec::new();
        store
            .latest_per_node(&window(), |d| got.push(d))
            .await
            .unwrap();
        got.sort_by(|a, b| a.node_name.cmp(&b.node_name));
        let mut want = docs;
        want.sort_by(|a, b| a.node_name.cmp(&b.node_name));
        assert_eq!(got, want);
        // The report copies a node's provenance from its document.
        let report = compute(&store).await;
        let full = report
            .cis_benchmark
            .iter()
            .find(|n| n.node_name == "full")
            .unwrap();
        assert_eq!(full.platform, "eks");
        assert_eq!(full.benchmark_choice, "platform eks 1.29 → eks-1.5.0");
    }

    pub async fn last_result_times_are_each_nodes_newest_document(store: Store) {
        assert!(store.last_result_times(&[]).await.unwrap().is_empty());
        let names = |ns: &[&str]| ns.iter().map(|n| (*n).to_string()).collect::<Vec<_>>();
        assert!(
            store
                .last_result_times(&names(&["node-a"]))
                .await
                .unwrap()
                .is_empty(),
            "no benchmark index or table rows yet"
        );
        store
            .put_benchmarks(cluster_docs().into_iter().map(Ok))
            .await
            .unwrap();
        let got = store
            .last_result_times(&names(&["node-a", "node-b", "node-c", "node-d", "ghost"]))
            .await
            .unwrap();
        let want: std::collections::HashMap<String, _> = [
            ("node-a", "2026-11-25T23:00:00Z"),
            // Errored documents count: node-b's newest is its failure.
            ("node-b", "2026-11-25T22:00:00Z"),
            ("node-c", "2026-11-25T06:00:00Z"),
            // Of any age: after the report window too.
            ("node-d", "2026-11-27T00:00:00Z"),
        ]
        .into_iter()
        .map(|(n, at)| (n.to_string(), t(at)))
        .collect();
        assert_eq!(got, want);
        // More names than one Elasticsearch request carries.
        let many: Vec<String> = (0..2500)
            .map(|i| format!("absent-{i}"))
            .chain(["node-z03".to_string()])
            .collect();
        let got = store.last_result_times(&many).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got["node-z03"], t("2026-11-25T12:00:00Z"));
    }

    pub async fn previous_report_nodes_come_from_the_newest_report_by_end(store: Store) {
        assert_eq!(
            store
                .previous_report_nodes("daily", t("2026-11-26T00:00:00Z"))
                .await
                .unwrap(),
            None
        );
        let mut reports = reports();
        // The report of the 25th also lists the cluster-scoped checks, which are no node.
        let mut cluster_entry = reports[1].cis_benchmark[1].clone();
        cluster_entry.node_name = compliance_core::model::CLUSTER_SCOPE_NODE_NAME.into();
        reports[1].cis_benchmark.insert(0, cluster_entry);
        reports[1].cis_benchmark.truncate(3);
        reports[1].cis_benchmark_summary.low_count = 2;
        store_all(&store, &reports).await;
        let names_of = |r: &ReportDocument| -> Vec<String> {
            r.cis_benchmark
                .iter()
                .map(|n| n.node_name.clone())
                .filter(|n| n != compliance_core::model::CLUSTER_SCOPE_NODE_NAME)
                .collect()
        };
        let previous = |name: &'static str, end: &'static str| {
            let store = store.clone();
            async move { store.previous_report_nodes(name, t(end)).await.unwrap() }
        };
        // Ending exactly at `end`: the same window's earlier run.
        assert_eq!(
            previous("daily", "2026-11-25T00:00:00Z").await,
            Some(names_of(&reports[1]))
        );
        assert_eq!(
            previous("daily", "2026-11-25T23:59:59Z").await,
            Some(names_of(&reports[1]))
        );
        // Every node, those without results included.
        let all = previous("daily", "2026-11-26T00:00:00Z").await.unwrap();
        assert_eq!(all, names_of(&reports[2]));
        assert!(all.iter().any(|n| n == "zz-silent"));
        assert_eq!(previous("daily", "2026-11-23T00:00:00Z").await, None);
        assert_eq!(
            previous("no-such-report", "2026-11-30T00:00:00Z").await,
            None
        );
        assert_eq!(
            previous("hourly", "2026-11-25T12:30:00Z").await,
            Some(names_of(&reports[5]))
        );
        // Of two reports ending together (stored under other ids), the one generated last.
        let first = report("twice", END);
        let mut later = first.clone();
        later.id = format!("{}-rerun", first.id);
        later.generation_time = first.generation_time + chrono::Duration::hours(1);
        later.cis_benchmark.truncate(1);
        later.cis_benchmark_summary.low_count = 0;
        store_all(&store, &[later.clone(), first]).await;
        assert_eq!(previous("twice", END).await, Some(names_of(&later)));
        // A report without nodes is a previous report with none.
        let mut empty = report("empty", END);
        empty.cis_benchmark.clear();
        empty.cis_benchmark_summary.high_count = 0;
        empty.cis_benchmark_summary.low_count = 0;
        empty.cis_benchmark_summary.no_results_count = 0;
        store.put_report(&empty).await.unwrap();
        assert_eq!(previous("empty", END).await, Some(Vec::new()));
    }

    pub async fn previous_report_nodes_of_a_large_report(store: Store) {
        let r = large_report("big", END, nodes_over_one_mib());
        store.put_report(&r).await.unwrap();
        let names: Vec<String> = r
            .cis_benchmark
            .iter()
            .map(|n| n.node_name.clone())
            .collect();
        assert_eq!(
            store.previous_report_nodes("big", t(END)).await.unwrap(),
            Some(names)
        );
    }
}
