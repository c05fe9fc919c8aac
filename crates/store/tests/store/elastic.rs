//! The Elasticsearch store against the fake cluster of `compliance_testkit::fake_es`: the
//! shared scenarios (also run against a real cluster by `elastic_real.rs`), then the
//! failure paths only a fake can produce on demand. Every test ends by checking that no
//! request strayed from `docs/elasticsearch.md`.

use super::scenarios;
use compliance_testkit::fake_es;

use fake_es::FakeEs;
use scenarios::*;

fn fake_config(
    fake: &FakeEs,
    name: &str,
    extra: &[(&str, &str)],
) -> compliance_store::elastic::ElasticConfig {
    config(&fake.url(), &unique_suffix(name), extra)
}

#[test]
fn same_report_as_sqlite_across_pages() {
    let fake = FakeEs::start();
    // Three nodes a page: the 13 nodes take several pages in each pass.
    same_report_as_sqlite(&fake_config(&fake, "same", &[("ELASTIC_PAGE_SIZE", "3")]));
    fake.assert_no_violations();
    assert_eq!(fake.open_pits(), 0, "every point in time is closed");
}

#[test]
fn reimport_replaces_documents() {
    let fake = FakeEs::start();
    reimport_replaces(&fake_config(&fake, "reimport", &[]));
    fake.assert_no_violations();
}

#[test]
fn missing_index_is_zero_nodes() {
    let fake = FakeEs::start();
    missing_index_means_no_nodes(&fake_config(&fake, "missing", &[]));
    fake.assert_no_violations();
    let searches = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/_pit"))
        .count();
    assert_eq!(searches, 0, "no point in time is opened on nothing");
}

#[test]
fn report_round_trip_and_replacement() {
    let fake = FakeEs::start();
    report_round_trip(&fake_config(&fake, "roundtrip", &[]));
    fake.assert_no_violations();
}

#[test]
fn large_report_split_into_parts() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "split", &[("ELASTIC_MAX_REQUEST_BYTES", "1MiB")]);
    let report = large_report_is_split_and_read_back(&cfg);
    fake.assert_no_violations();
    let parts_index = format!(
        "tigera_secure_ee_compliance_report_parts.{}",
        cfg.index_suffix
    );
    let parts = fake.count(&parts_index);
    assert!(parts >= 2, "{parts} parts");
    // Read back, nodes share their test texts across parts, as when computed.
    let read = compliance_store::ReportStore::get_report(&store(&cfg), &report.id)
        .unwrap()
        .unwrap();
    let first = &read.cis_benchmark[0].results[0].results[0];
    let last_node = read.cis_benchmark.last().unwrap();
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
    // A re-run of the window as one small document removes the parts.
    let mut small = report.clone();
    small.cis_benchmark.truncate(3);
    let mut es = store(&cfg);
    compliance_store::ReportStore::put_report(&mut es, &small).unwrap();
    assert_eq!(fake.count(&parts_index), 0);
    assert_eq!(
        compliance_store::ReportStore::get_report(&es, &small.id).unwrap(),
        Some(small)
    );
    fake.assert_no_violations();
}

#[test]
fn setup_twice() {
    let fake = FakeEs::start();
    setup_is_idempotent(&fake_config(&fake, "setup", &[]));
    fake.assert_no_violations();
}

#[test]
fn open_from_datastore() {
    let fake = FakeEs::start();
    opens_from_env(&fake_config(&fake, "open", &[]));
    fake.assert_no_violations();
}

// ---- Failure paths: injected by the fake. ----

use compliance_store::elastic::ElasticError;
use compliance_store::{BenchmarkStore, ReportStore, StoreError};
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
    let mut es = store(&cfg);
    es.put_benchmarks(&mut cluster_docs().into_iter().map(Ok))
        .unwrap();
    let expected = compute(&es);
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
    let before = es.stats();
    assert_eq!(compute(&es), expected);
    es.put_report(&expected).unwrap();
    assert_eq!(es.stats().retries - before.retries, 4);
    let reports = fake.documents(&format!(
        "tigera_secure_ee_compliance_reports.{}",
        cfg.index_suffix
    ));
    assert_eq!(reports.len(), 1, "stored once");
    fake.assert_no_violations();
}

#[test]
fn busy_bulk_items_are_sent_again_and_other_failures_are_listed() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "bulk", &[]);
    let mut es = store(&cfg);
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
        es.put_benchmarks(&mut docs.clone().into_iter().map(Ok))
            .unwrap(),
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
        es.put_benchmarks(&mut docs.clone().into_iter().map(Ok))
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
    let es = store(&config(&url, &unique_suffix("auth"), &[]));
    let e = elastic(es.latest_per_node(&window(), &mut |_| {}).unwrap_err());
    assert!(matches!(e, ElasticError::Authentication { .. }), "{e:?}");
    assert!(e.is_configuration());
    let text = format!("{e} {e:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert_eq!(fake.requests().len(), 1, "no retry of a 401");
    // The right password works.
    let url = fake
        .url()
        .replace("http://", "http://elastic:right-password@");
    let es = store(&config(&url, &unique_suffix("auth"), &[]));
    es.latest_per_node(&window(), &mut |_| {}).unwrap();
}

#[test]
fn an_expired_point_in_time_is_reopened_and_the_read_resumes() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "pit", &[("ELASTIC_PAGE_SIZE", "2")]);
    let mut es = store(&cfg);
    es.put_benchmarks(&mut cluster_docs().into_iter().map(Ok))
        .unwrap();
    let expected = compute(&es);
    let read = |interrupt: bool| {
        let mut docs = Vec::new();
        es.latest_per_node(&window(), &mut |d| {
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
    assert_eq!(compute(&es), expected);
    fake.assert_no_violations();
}

#[test]
fn documents_that_do_not_parse_are_skipped_and_counted() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "broken", &[]);
    let mut es = store(&cfg);
    es.put_benchmarks(&mut cluster_docs().into_iter().map(Ok))
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
    let stats = es.latest_per_node(&window(), &mut |_| n += 1).unwrap();
    assert_eq!((stats.documents, stats.skipped), (14, 1));
    assert_eq!(n, 14);
}

#[test]
fn a_mapping_that_cannot_collapse_names_the_fix() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "mapping", &[]);
    let mut es = store(&cfg);
    es.put_benchmarks(&mut cluster_docs().into_iter().map(Ok))
        .unwrap();
    let mut body = es_error(400, "search_phase_execution_exception", "all shards failed");
    body["error"]["root_cause"] = serde_json::json!([{ "type": "illegal_argument_exception",
        "reason": "Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [node_name] in order to load field data by uninverting the inverted index." }]);
    fake.fail_next(RequestMatcher::new("POST", "/_search"), 1, 400, body);
    let e = elastic(es.latest_per_node(&window(), &mut |_| {}).unwrap_err());
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
    let report = store(&cfg).setup().unwrap();
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
    let es = store(&config(
        &format!("http://127.0.0.1:{port}"),
        "x",
        &[("ELASTIC_RETRIES", "2")],
    ));
    let e = elastic(es.list_reports().unwrap_err());
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
    let es = store(&config(
        &fake.url().replace("http://", "https://"),
        "x",
        &[],
    ));
    let e = elastic(es.list_reports().unwrap_err());
    assert!(matches!(e, ElasticError::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("ELASTIC_CA"), "{e}");
}

#[test]
fn a_failed_report_write_leaves_the_previous_report_whole() {
    let fake = FakeEs::start();
    let cfg = fake_config(&fake, "atomic", &[("ELASTIC_MAX_REQUEST_BYTES", "1MiB")]);
    let first = large_report_is_split_and_read_back(&cfg);
    let parts_index = format!(
        "tigera_secure_ee_compliance_report_parts.{}",
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
    let mut es = store(&cfg);
    assert!(es.put_report(&second).is_err());
    assert_eq!(es.get_report(&first.id).unwrap(), Some(first));
    assert_eq!(
        fake.count(&parts_index),
        parts_before,
        "the failed run's parts are removed"
    );
}
