//! The Elasticsearch store against the fake cluster of `tests/support/fake_es.rs`: the
//! shared scenarios (also run against a real cluster by `elastic_real.rs`), then the
//! failure paths only a fake can produce on demand. Every test ends by checking that no
//! request strayed from `docs/elasticsearch.md`.

#[path = "support/fake_es.rs"]
mod fake_es;
#[path = "support/elastic_scenarios.rs"]
mod scenarios;

use fake_es::FakeEs;
use scenarios::*;

fn fake_config(
    fake: &FakeEs,
    name: &str,
    extra: &[(&str, &str)],
) -> compliance::store::elastic::ElasticConfig {
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
    compliance::store::ReportStore::put_report(&mut es, &small).unwrap();
    assert_eq!(fake.count(&parts_index), 0);
    assert_eq!(
        compliance::store::ReportStore::get_report(&es, &small.id).unwrap(),
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
