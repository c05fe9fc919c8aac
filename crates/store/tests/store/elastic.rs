//! The Elasticsearch store against the fake cluster of `compliance_testkit::fake_es`:
//! what only Elasticsearch does (the split layout's parts, request sizes, points in time,
//! templates) and the failure paths only a fake can produce on demand. The behaviour
//! every store shares is in `contract.rs`. Every test ends by checking that no request
//! strayed from `docs/elasticsearch.md` (the fake checks when dropped).

use compliance_testkit::fake_es;

use fake_es::FakeEs;

use super::support::*;

fn fake_config(
    fake: &FakeEs,
    name: &str,
    extra: &[(&str, &str)],
) -> compliance_store::elastic::ElasticConfig {
    config(&fake.url(), &unique_suffix(name), extra)
}

#[test]
fn the_same_documents_give_the_same_report_as_sqlite() {
    let fake = FakeEs::start();
    // Three nodes a page: the 13 nodes take several pages in each pass.
    let es = blocking(&fake_config(&fake, "same", &[("ELASTIC_PAGE_SIZE", "3")]));
    let dir = tempfile::tempdir().unwrap();
    let sqlite = compliance_store::BlockingStore::new(
        compliance_store::SqliteStore::open(
            dir.path().join("c.db"),
            compliance_store::OpenMode::Create,
        )
        .unwrap()
        .into(),
    )
    .unwrap();
    for s in [&es, &sqlite] {
        s.put_benchmarks(cluster_docs().into_iter().map(Ok))
            .unwrap();
    }
    assert_eq!(compute_blocking(&es), compute_blocking(&sqlite));
    fake.assert_no_violations();
    assert_eq!(fake.open_pits(), 0, "every point in time is closed");
}

#[test]
fn a_missing_index_is_zero_nodes_without_a_point_in_time() {
    let fake = FakeEs::start();
    let es = blocking(&fake_config(&fake, "missing", &[]));
    let stats = es
        .latest_per_node(&window(), |_| panic!("no documents"))
        .unwrap();
    assert_eq!(stats.documents, 0);
    assert!(es.all_reports().unwrap().is_empty());
    fake.assert_no_violations();
    let pits = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/_pit"))
        .count();
    assert_eq!(pits, 0, "no point in time is opened on nothing");
}

/// A report larger than ELASTIC_MAX_REQUEST_BYTES, stored in parts.
fn split_report(es: &compliance_store::BlockingStore) -> compliance_core::model::ReportDocument {
    let report = large_report("big", END, nodes_over_one_mib());
    assert!(serde_json::to_vec(&report).unwrap().len() > 1 << 20);
    es.put_report(&report).unwrap();
    report
}

#[test]
fn a_large_report_is_split_into_parts_within_the_request_limit() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "split", &[("ELASTIC_MAX_REQUEST_BYTES", "1MiB")]);
    let es = blocking(&cfg);
    let report = split_report(&es);
    fake.assert_no_violations();
    let parts_index = format!(
        "tigera_secure_ee_compliance_report_parts.{}.",
        cfg.index_suffix
    );
    let parts = fake.count(&parts_index);
    assert!(parts >= 2, "{parts} parts");
    // Compact parts: the head says so, and each test text is stored once a part.
    let reports_index = format!("tigera_secure_ee_compliance_reports.{}.", cfg.index_suffix);
    let head = &fake.documents(&reports_index)[0].1;
    assert_eq!(head["cisBenchmarkLayout"], "compact");
    assert_eq!(head["cisBenchmark"], serde_json::json!([]));
    let stored: usize = fake
        .documents(&parts_index)
        .iter()
        .map(|(_, part)| {
            assert!(part["cisBenchmark"]["texts"].is_array(), "{part:.200}");
            part.to_string().len()
        })
        .sum();
    let full = serde_json::to_vec(&report.cis_benchmark).unwrap().len();
    assert!(
        stored * 3 < full,
        "{stored} bytes in parts, {full} as whole nodes"
    );
    // Read back, nodes share their test texts across parts, as when computed.
    let read = es.get_report(&report.id).unwrap().unwrap();
    assert_eq!(read, report);
    let first = &read.cis_benchmark[0].results[0].results[0];
    let last_node = read
        .cis_benchmark
        .iter()
        .rev()
        .find(|n| n.node_name.starts_with("big-"))
        .unwrap();
    let same = last_node
        .results
        .iter()
        .flat_map(|s| &s.results)
        .find(|t| t.test_number() == first.test_number())
        .expect("the last node has the first node's first test");
    assert!(std::sync::Arc::ptr_eq(&first.text, &same.text));
    // No request went over the limit.
    for r in fake.requests() {
        assert!(
            r.body_len <= 1 << 20,
            "{} {} sent {} bytes",
            r.method,
            r.path,
            r.body_len
        );
    }
    // A page of the first nodes reads the first part only.
    fake.clear_requests();
    let page = es.report_nodes(&report.id, 0, 5).unwrap().unwrap();
    assert_eq!(page, report.cis_benchmark[..5]);
    let part_reads: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.path
                .starts_with("/tigera_secure_ee_compliance_report_parts")
        })
        .collect();
    assert_eq!(part_reads.len(), 1, "{part_reads:?}");
    // A re-run of the window as one small document removes the parts.
    let mut small = report.clone();
    small.cis_benchmark.truncate(3);
    es.put_report(&small).unwrap();
    assert_eq!(fake.count(&parts_index), 0);
    assert_eq!(es.get_report(&small.id).unwrap(), Some(small));
    fake.assert_no_violations();
}

#[test]
fn setup_twice() {
    let fake = FakeEs::start();
    setup_is_idempotent(&fake_config(&fake, "setup", &[]));
    fake.assert_no_violations();
}

/// Setup installs the three templates once, then finds them unchanged.
pub fn setup_is_idempotent(config: &compliance_store::elastic::ElasticConfig) {
    let store = blocking(config);
    let first = store.block_on(es_of(&store).setup()).unwrap();
    assert_eq!(first.templates.len(), 3);
    assert!(first.conflicts.is_empty(), "{:?}", first.conflicts);
    let second = store.block_on(es_of(&store).setup()).unwrap();
    assert!(
        second
            .templates
            .iter()
            .all(|(_, a)| *a == compliance_store::elastic::TemplateAction::Unchanged),
        "{:?}",
        second.templates
    );
}

/// A report id in two indices (a rollover alias's old backing index and ours): reads
/// take the newest copy, the whole list shows it once, the paged list shows both.
#[test]
fn a_report_in_two_indices() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "twice", &[]);
    let es = blocking(&cfg);
    let mut old = report("daily", END);
    old.generated_time = t("2026-11-26T00:31:00Z");
    let mut new = old.clone();
    new.generated_time = t("2026-11-26T09:00:00Z");
    new.cis_benchmark.truncate(1);
    new.cis_benchmark_summary.high_count = 0;
    new.cis_benchmark_summary.low_count = 1;
    es.put_report(&new).unwrap();
    let rolled = format!(
        "tigera_secure_ee_compliance_reports.{}.lma-20240101-000000",
        cfg.index_suffix
    );
    fake.insert(&rolled, &old.id, serde_json::to_value(&old).unwrap());
    assert_eq!(es.get_report(&old.id).unwrap().as_ref(), Some(&new));
    let head = compliance_store::ReportHead::of(&new);
    assert_eq!(es.report_head(&old.id).unwrap().as_ref(), Some(&head));
    assert_eq!(
        es.report_nodes(&old.id, 0, 10).unwrap(),
        Some(new.cis_benchmark.clone())
    );
    assert_eq!(es.all_reports().unwrap(), vec![head]);
    let page = es
        .list_reports(&compliance_store::ReportQuery::default())
        .unwrap();
    assert_eq!(page.total, 2);
    assert!(page.reports.iter().all(|h| h.id == old.id));
}

#[test]
fn a_page_beyond_the_result_window_is_refused_before_it_is_sent() {
    let fake = FakeEs::start();
    let es = blocking(&fake_config(&fake, "deep", &[]));
    let deep = compliance_store::ReportQuery {
        page: 100,
        max_items: 100,
        ..compliance_store::ReportQuery::default()
    };
    let e = es.list_reports(&deep).unwrap_err();
    assert_eq!(
        compliance_core::error::Classify::kind(&e),
        compliance_core::error::ErrorKind::Invalid
    );
    assert!(e.to_string().contains("max_result_window"), "{e}");
    assert!(fake.requests().is_empty());
    // The last page that fits is served.
    let last = compliance_store::ReportQuery {
        page: 99,
        max_items: 100,
        ..compliance_store::ReportQuery::default()
    };
    assert_eq!(es.list_reports(&last).unwrap().total, 0);
}

// ---- Failure paths: injected by the fake. ----

use compliance_store::StoreError;
use compliance_store::elastic::ElasticError;
use fake_es::{RequestMatcher, es_error};

fn elastic(e: StoreError) -> ElasticError {
    match e {
        StoreError::Elastic(e) => *e,
        other => panic!("expected an Elasticsearch error, got {other}"),
    }
}

#[test]
fn unavailable_for_a_while_then_recovers() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "flaky", &[("ELASTIC_PAGE_SIZE", "4")]);
    let es = blocking(&cfg);
    es.put_benchmarks(cluster_docs().into_iter().map(Ok))
        .unwrap();
    let expected = compute_blocking(&es);
    let body = es_error(
        503,
        "cluster_block_exception",
        "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];",
    );
    fake.fail_next(
        RequestMatcher::new("POST", "/_search"),
        2,
        503,
        body.clone(),
    );
    fake.fail_next(
        RequestMatcher::new("PUT", "/tigera_secure_ee_compliance_reports"),
        2,
        503,
        body,
    );
    let before = es_of(&es).stats();
    assert_eq!(compute_blocking(&es), expected);
    es.put_report(&expected).unwrap();
    assert_eq!(es_of(&es).stats().retries - before.retries, 4);
    let reports = fake.documents(&format!(
        "tigera_secure_ee_compliance_reports.{}.",
        cfg.index_suffix
    ));
    assert_eq!(reports.len(), 1, "stored once");
    fake.assert_no_violations();
}

#[test]
fn busy_bulk_items_are_sent_again_and_other_failures_are_listed() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "bulk", &[]);
    let es = blocking(&cfg);
    let docs = cluster_docs();
    let busy = format!("node-a@{}", "2026-11-25T23:00:00.000Z");
    fake.fail_bulk_items(
        &[&busy],
        429,
        "es_rejected_execution_exception",
        "rejected execution of coordinating operation",
        1,
    );
    assert_eq!(
        es.put_benchmarks(docs.clone().into_iter().map(Ok)).unwrap(),
        docs.len() as u64
    );

    let bad = "node-b@2026-11-25T10:00:00.000Z";
    fake.fail_bulk_items(
        &[bad],
        400,
        "document_parsing_exception",
        "[1:2] failed to parse field [timestamp] of type [date]",
        usize::MAX,
    );
    let e = elastic(
        es.put_benchmarks(docs.clone().into_iter().map(Ok))
            .unwrap_err(),
    );
    let text = e.to_string();
    assert!(
        text.contains("1 of 17 documents were not stored (16 were"),
        "{text}"
    );
    assert!(
        text.contains(bad) && text.contains("document_parsing_exception"),
        "{text}"
    );
    fake.assert_no_violations();
}

#[test]
fn wrong_credentials_fail_at_once_without_showing_the_password() {
    let fake = FakeEs::start();
    fake.require_basic_auth("elastic", "right-password");
    let url = fake.url().replace("http://", "http://elastic:hunter2@");
    let es = blocking(&config(&url, &unique_suffix("auth"), &[]));
    let e = elastic(es.latest_per_node(&window(), |_| {}).unwrap_err());
    assert!(matches!(e, ElasticError::Authentication { .. }), "{e:?}");
    assert!(e.is_configuration());
    let text = format!("{e} {e:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert_eq!(fake.requests().len(), 1, "no retry of a 401");
    // The right password works.
    let url = fake
        .url()
        .replace("http://", "http://elastic:right-password@");
    let es = blocking(&config(&url, &unique_suffix("auth"), &[]));
    es.latest_per_node(&window(), |_| {}).unwrap();
}

#[test]
fn an_expired_point_in_time_is_reopened_and_the_read_resumes() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "pit", &[("ELASTIC_PAGE_SIZE", "2")]);
    let es = blocking(&cfg);
    es.put_benchmarks(cluster_docs().into_iter().map(Ok))
        .unwrap();
    let expected = compute_blocking(&es);
    let read = |interrupt: bool| {
        let mut docs = Vec::new();
        es.latest_per_node(&window(), |d| {
            docs.push((d.node_name.clone(), d.timestamp));
            // Expire the point in time after the first page (2 documents).
            if interrupt && docs.len() == 2 {
                fake.expire_pits();
            }
        })
        .unwrap();
        docs.sort();
        docs
    };
    let uninterrupted = read(false);
    fake.clear_requests();
    let report = read(true);
    assert_eq!(report.len(), 14);
    assert_eq!(
        report, uninterrupted,
        "the resumed read neither repeats nor skips a node"
    );
    let opened = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/_pit") && r.method == "POST")
        .count();
    assert_eq!(opened, 2, "one reopen");
    assert_eq!(compute_blocking(&es), expected);
    fake.assert_no_violations();
}

#[test]
fn documents_that_do_not_parse_are_skipped_and_counted() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "broken", &[]);
    let es = blocking(&cfg);
    es.put_benchmarks(cluster_docs().into_iter().map(Ok))
        .unwrap();
    let index = format!("tigera_secure_ee_benchmark_results.{}", cfg.index_suffix);
    fake.insert(
        &index,
        "junk",
        serde_json::json!({
            "node_name": "node-junk", "timestamp": "2026-11-25T12:00:00Z", "tests": "not a list"
        }),
    );
    let mut n = 0;
    let stats = es.latest_per_node(&window(), |_| n += 1).unwrap();
    assert_eq!((stats.documents, stats.skipped), (14, 1));
    assert_eq!(n, 14);
}

#[test]
fn a_mapping_that_cannot_collapse_names_the_fix() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "mapping", &[]);
    let es = blocking(&cfg);
    es.put_benchmarks(cluster_docs().into_iter().map(Ok))
        .unwrap();
    let mut body = es_error(400, "search_phase_execution_exception", "all shards failed");
    body["error"]["root_cause"] = serde_json::json!([{ "type": "illegal_argument_exception",
        "reason": "Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [node_name] in order to load field data by uninverting the inverted index." }]);
    fake.fail_next(RequestMatcher::new("POST", "/_search"), 1, 400, body);
    let e = elastic(es.latest_per_node(&window(), |_| {}).unwrap_err());
    assert!(matches!(e, ElasticError::MappingConflict { .. }), "{e:?}");
    assert!(e.to_string().contains("compliancectl elastic setup"), "{e}");
    assert_eq!(
        fake.open_pits(),
        0,
        "the point in time is closed on failure"
    );
}

#[test]
fn setup_reports_conflicting_existing_indices() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "conflict", &[]);
    let index = format!("tigera_secure_ee_benchmark_results.{}", cfg.index_suffix);
    fake.create_index(&index);
    fake.set_mapping(&index, serde_json::json!({ "properties": {
        "node_name": { "type": "text", "fields": { "keyword": { "type": "keyword", "ignore_above": 256 } } },
        "timestamp": { "type": "date" } } }));
    let store = blocking(&cfg);
    let report = store.block_on(es_of(&store).setup()).unwrap();
    assert_eq!(report.conflicts.len(), 1, "{:?}", report.conflicts);
    let text = report.conflicts[0].to_string();
    assert!(
        text.contains(&index) && text.contains("node_name is mapped as text"),
        "{text}"
    );
}

#[test]
fn unreachable_cluster_is_retried_then_reported() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let es = blocking(&config(
        &format!("http://127.0.0.1:{port}"),
        "x",
        &[("ELASTIC_RETRIES", "2")],
    ));
    let e = elastic(es.all_reports().unwrap_err());
    assert!(
        matches!(e, ElasticError::Exhausted { attempts: 3, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("cannot connect to Elasticsearch"),
        "{e}"
    );
    assert!(!e.is_configuration());
}

#[test]
fn https_to_a_plain_http_port_is_a_tls_error() {
    let fake = FakeEs::start();
    let es = blocking(&config(
        &fake.url().replace("http://", "https://"),
        "x",
        &[],
    ));
    let e = elastic(es.all_reports().unwrap_err());
    assert!(matches!(e, ElasticError::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("ELASTIC_CA"), "{e}");
}

#[test]
fn a_failed_report_write_leaves_the_previous_report_whole() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "atomic", &[("ELASTIC_MAX_REQUEST_BYTES", "1MiB")]);
    let es = blocking(&cfg);
    let first = split_report(&es);
    let parts_index = format!(
        "tigera_secure_ee_compliance_report_parts.{}.",
        cfg.index_suffix
    );
    let parts_before = fake.count(&parts_index);
    let mut second = first.clone();
    second.generation_time = t("2026-11-26T02:00:00Z");
    // The head (the commit point) fails for good after the parts were written.
    fake.fail_next(
        RequestMatcher::new("PUT", "/tigera_secure_ee_compliance_reports"),
        usize::MAX,
        400,
        es_error(400, "document_parsing_exception", "failed to parse"),
    );
    assert!(es.put_report(&second).is_err());
    assert_eq!(es.get_report(&first.id).unwrap(), Some(first));
    assert_eq!(
        fake.count(&parts_index),
        parts_before,
        "the failed run's parts are removed"
    );
}

fn index_names(cfg: &compliance_store::elastic::ElasticConfig) -> (String, String) {
    (
        format!("tigera_secure_ee_compliance_reports.{}.", cfg.index_suffix),
        format!(
            "tigera_secure_ee_compliance_report_parts.{}.",
            cfg.index_suffix
        ),
    )
}

/// Calico's single document up to `SINGLE_DOCUMENT_BYTES` of JSON, however high the
/// request limit; compact parts from one byte more.
#[test]
fn a_report_is_one_document_up_to_its_threshold_and_compact_parts_above() {
    use compliance_store::elastic::SINGLE_DOCUMENT_BYTES;
    let fake = FakeEs::start();
    // The default request limit, 50 MiB, is far above the threshold.
    let cfg = fake_config(&fake, "threshold", &[]);
    assert!(cfg.max_request_bytes > SINGLE_DOCUMENT_BYTES);
    let (reports_index, parts_index) = index_names(&cfg);
    let es = blocking(&cfg);
    let node = serde_json::to_vec(&report("size", END).cis_benchmark[0]).unwrap();
    let mut r = large_report("edge", END, (SINGLE_DOCUMENT_BYTES - 100_000) / node.len());
    let len = serde_json::to_vec(&r).unwrap().len();
    r.ui_summary
        .push_str(&"x".repeat(SINGLE_DOCUMENT_BYTES - len));
    assert_eq!(serde_json::to_vec(&r).unwrap().len(), SINGLE_DOCUMENT_BYTES);

    es.put_report(&r).unwrap();
    assert_eq!(
        fake.count(&parts_index),
        0,
        "at the threshold: one document"
    );
    let head = &fake.documents(&reports_index)[0].1;
    assert_eq!(
        head["cisBenchmark"].as_array().unwrap().len(),
        r.cis_benchmark.len()
    );
    assert!(head.get("cisBenchmarkParts").is_none());
    assert_eq!(es.get_report(&r.id).unwrap().as_ref(), Some(&r));

    r.ui_summary.push('x');
    es.put_report(&r).unwrap();
    assert!(fake.count(&parts_index) >= 1, "one byte over: parts");
    let head = &fake.documents(&reports_index)[0].1;
    assert_eq!(head["cisBenchmarkLayout"], "compact");
    assert_eq!(head["cisBenchmark"], serde_json::json!([]));
    assert_eq!(es.get_report(&r.id).unwrap().as_ref(), Some(&r));
    fake.assert_no_violations();
}

/// Split reports stored before the compact layout (whole nodes in each part, a head
/// without `cisBenchmarkLayout`) read as they always did: an upgrade keeps them.
#[test]
fn parts_of_whole_nodes_stored_before_the_compact_layout_still_read() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "old-parts", &[]);
    // Where earlier releases wrote them: the plain indices, not the aliases.
    let (reports_index, parts_index) = index_names(&cfg);
    let reports_index = reports_index.trim_end_matches('.').to_string();
    let parts_index = parts_index.trim_end_matches('.').to_string();
    let es = blocking(&cfg);
    let r = large_report("old", END, 40);
    let generation = "0123456789abcdef0123456789abcdef";
    let parts: Vec<&[compliance_core::model::CisBenchmarkNode]> =
        r.cis_benchmark.chunks(15).collect();
    assert_eq!(parts.len(), 3);
    for (n, nodes) in parts.iter().enumerate() {
        fake.insert(
            &parts_index,
            &format!("{}~{generation}~{n}", r.id),
            serde_json::json!({
                "reportId": r.id, "generation": generation, "part": n, "cisBenchmark": nodes,
            }),
        );
    }
    let mut head = serde_json::to_value(&r).unwrap();
    head["cisBenchmark"] = serde_json::json!([]);
    head["cisBenchmarkParts"] = serde_json::json!(parts.len());
    head["cisBenchmarkGeneration"] = serde_json::json!(generation);
    head["cisBenchmarkNodeCount"] = serde_json::json!(r.cis_benchmark.len());
    fake.insert(&reports_index, &r.id, head.clone());

    assert_eq!(es.get_report(&r.id).unwrap().as_ref(), Some(&r));
    assert_eq!(
        es.report_nodes(&r.id, 14, 3).unwrap().unwrap(),
        r.cis_benchmark[14..17]
    );
    let all = es.block_on(async {
        let mut cursor = es.store().nodes(&r.id).await.unwrap();
        let mut all = Vec::new();
        loop {
            let page = cursor.next(7).await.unwrap();
            if page.is_empty() {
                break all;
            }
            all.extend(page);
        }
    });
    assert_eq!(all, r.cis_benchmark);

    // A layout this version does not know is refused, never read wrong.
    head["cisBenchmarkLayout"] = serde_json::json!("columnar");
    fake.insert(&reports_index, &r.id, head);
    let e = es.get_report(&r.id).unwrap_err().to_string();
    assert!(e.contains("cisBenchmarkLayout \"columnar\""), "{e}");
    fake.assert_no_violations();
}

/// A waived report is stored as the JSON of docs/spec.md §5 with the waiver keys a reader
/// of the index sees: the summary's `waivedCount` and `withoutWaivers`, the `waivers`
/// with their specs, each node's `waived` and `statusWithoutWaivers`, each section's
/// `waived`, each test's `waiver`.
#[test]
fn a_waived_report_is_stored_with_its_waiver_keys() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "waived", &[]);
    let (reports_index, _) = index_names(&cfg);
    let es = blocking(&cfg);
    let r = waived_report();
    es.put_report(&r).unwrap();
    let doc = &fake.documents(&reports_index)[0].1;
    let summary = &doc["cisBenchmarkSummary"];
    assert_eq!(summary["waivedCount"], r.cis_benchmark_summary.waived_count);
    assert!(summary["withoutWaivers"]["lowCount"].is_u64(), "{summary}");
    let states: Vec<&str> = doc["waivers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["state"].as_str().unwrap())
        .collect();
    assert!(states.contains(&"expired") && states.contains(&"matchedNothing"));
    let gpu = doc["waivers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "gpu-api")
        .unwrap();
    assert_eq!(
        gpu["spec"]["nodeSelector"]["matchLabels"]["pool"], "gpu",
        "{gpu}"
    );
    let nodes = doc["cisBenchmark"].as_array().unwrap();
    let waived_node = nodes
        .iter()
        .find(|n| n["summary"].get("waived").is_some())
        .expect("a node with waived failures");
    assert!(waived_node["summary"]["statusWithoutWaivers"].is_string());
    let section = waived_node["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s.get("waived").is_some())
        .unwrap();
    assert!(
        section["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["status"] == "FAIL" && t["waiver"].is_string()),
        "{section}"
    );
    assert_eq!(es.get_report(&r.id).unwrap().as_ref(), Some(&r));
    fake.assert_no_violations();
}

/// A report document with waivers as another writer of the index would store it (the
/// JSON text, keys in any order, `waivers` with a ticketless spec) reads with every
/// waiver field, whole and as a head.
#[test]
fn a_stored_report_with_waivers_reads_every_waiver_field() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "waived-json", &[]);
    let (reports_index, _) = index_names(&cfg);
    let es = blocking(&cfg);
    es.put_report(&report("seed", END)).unwrap();
    let json = r#"{
      "reportName": "daily-cis-results", "reportTypeName": "cis-benchmark",
      "reportSpec": {"reportType": "cis-benchmark", "schedule": "0 0 * * *"},
      "reportTypeSpec": {},
      "startTime": "2026-11-25T00:00:00Z", "endTime": "2026-11-26T00:00:00Z",
      "generationTime": "2026-11-26T00:30:00Z", "generated_time": "2026-11-26T00:30:02Z",
      "cluster": "prod",
      "cisBenchmarkSummary": {"type": "kube", "highCount": 1, "medCount": 0, "lowCount": 0,
        "waivedCount": 1, "withoutWaivers": {"highCount": 0, "medCount": 0, "lowCount": 1}},
      "cisBenchmark": [{
        "nodeName": "cp-1", "kubernetesVersion": "1.29.3", "benchmarksVersion": "cis-1.9",
        "summary": {"status": "HIGH", "totalPass": 1, "totalFail": 0, "totalInfo": 0,
          "total": 1, "waived": 1, "statusWithoutWaivers": "LOW"},
        "results": [{"status": "HIGH", "section": "1.1", "desc": "Control Plane Node Configuration Files",
          "pass": 1, "fail": 0, "info": 0, "waived": 1, "results": [
            {"testNumber": "1.1.1", "testDesc": "d1", "testInfo": "i1", "status": "PASS", "scored": true},
            {"testNumber": "1.1.12", "testDesc": "d12", "testInfo": "i12", "status": "FAIL",
             "scored": true, "waiver": "etcd-perms"}]}]
      }],
      "uiSummary": "{}",
      "waivers": [
        {"name": "etcd-perms", "state": "applied", "waived": 1, "nodes": 1,
         "spec": {"tests": ["1.1.12"], "nodeNames": ["cp-1"], "reason": "etcd runs as root",
                  "owner": "security@example.com", "expires": "2027-03-31"}},
        {"name": "old", "state": "expired", "waived": 0, "nodes": 0,
         "spec": {"tests": ["4.2"], "reason": "r", "owner": "o", "ticket": "SEC-1",
                  "expires": "2026-01-01"}},
        {"name": "sel", "state": "matchedNothing", "waived": 0, "nodes": 0,
         "note": "no node labels: the nodeSelector selected nothing",
         "spec": {"tests": ["5.1"], "nodeSelector": {"matchLabels": {"pool": "gpu"}},
                  "reason": "r", "owner": "o", "expires": "2030-01-01"}}
      ]
    }"#;
    let id = "daily-cis-results_cis-benchmark_2026-11-26T00:00:00Z";
    fake.insert_raw(&reports_index, id, json);
    let r = es.get_report(id).unwrap().unwrap();
    let s = &r.cis_benchmark_summary;
    assert_eq!(s.waived_count, 1);
    assert_eq!(s.without_waivers.map(|w| w.low_count), Some(1));
    let node = &r.cis_benchmark[0];
    assert_eq!(node.summary.waived, 1);
    assert_eq!(
        node.summary.status_without_waivers,
        Some(compliance_core::model::Rating::Low)
    );
    assert_eq!(node.results[0].waived, 1);
    assert_eq!(
        node.results[0].results[1].waiver.as_deref(),
        Some("etcd-perms")
    );
    assert_eq!(node.results[0].results[0].waiver, None);
    let names: Vec<(&str, &str)> = r
        .waivers
        .iter()
        .map(|w| (w.name.as_str(), w.state.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("etcd-perms", "applied"),
            ("old", "expired"),
            ("sel", "matchedNothing")
        ]
    );
    assert_eq!(r.waivers[1].spec.ticket, "SEC-1");
    assert_eq!(
        r.waivers[2]
            .spec
            .node_selector
            .as_ref()
            .unwrap()
            .match_labels["pool"],
        "gpu"
    );
    let head = es.report_head(id).unwrap().unwrap();
    assert_eq!(head, compliance_store::ReportHead::of(&r));
    // What the store writes back reads the same.
    es.put_report(&r).unwrap();
    assert_eq!(es.get_report(id).unwrap(), Some(r));
    fake.assert_no_violations();
}

/// A waived report split into compact parts: the head keeps the waivers, each part
/// names the waivers its nodes use once, and the report reads back whole.
#[test]
fn a_split_waived_report_keeps_its_waivers_in_head_and_parts() {
    let fake = FakeEs::start();
    let cfg = fake_config(
        &fake,
        "split-waived",
        &[("ELASTIC_MAX_REQUEST_BYTES", "1MiB")],
    );
    let (reports_index, parts_index) = index_names(&cfg);
    let es = blocking(&cfg);
    let r = large_waived_report("big", END, nodes_over_one_mib());
    es.put_report(&r).unwrap();
    let head = &fake.documents(&reports_index)[0].1;
    assert_eq!(head["cisBenchmarkLayout"], "compact");
    assert_eq!(head["waivers"], serde_json::to_value(&r.waivers).unwrap());
    assert_eq!(
        head["cisBenchmarkSummary"]["waivedCount"],
        r.cis_benchmark_summary.waived_count
    );
    let parts = fake.documents(&parts_index);
    assert!(parts.len() >= 2, "{} parts", parts.len());
    for (id, part) in &parts {
        assert_eq!(
            part["cisBenchmark"]["waiverNames"],
            serde_json::json!(["etcd-perms"]),
            "{id}"
        );
        let text = part.to_string();
        assert_eq!(text.matches("etcd-perms").count(), 1, "{id}");
    }
    assert_eq!(es.get_report(&r.id).unwrap().as_ref(), Some(&r));
    fake.assert_no_violations();
}
