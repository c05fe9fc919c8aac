//! The shared Elasticsearch scenarios against a real cluster. Opt-in: they run only when
//! ELASTICSEARCH_URL is set (e.g. `http://elastic:changeme@localhost:9200` with the
//! repository's docker-compose.yml), and say on the terminal that they were skipped
//! otherwise. Each scenario uses its own index suffix (`t<pid>-<n>-<name>`), so runs do
//! not interfere; delete `tigera_secure_ee_*.t*` indices to clean up.

use super::scenarios;

use std::io::Write as _;

use scenarios::*;

/// The cluster URL, or `None` after telling the terminal (not the captured output) why
/// the test did nothing.
fn cluster(test: &str) -> Option<String> {
    match std::env::var("ELASTICSEARCH_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            // Written to the process's stderr directly: libtest captures only the print
            // macros, and a skip must be visible in a plain `cargo test` run.
            let _ = writeln!(
                std::io::stderr(),
                "elastic_real::{test}: SKIPPED (set ELASTICSEARCH_URL to run it against a real cluster; see docker-compose.yml)"
            );
            None
        }
    }
}

fn cfg(url: &str, name: &str, extra: &[(&str, &str)]) -> compliance_store::elastic::ElasticConfig {
    config(url, &unique_suffix(name), extra)
}

#[test]
fn real_same_report_as_sqlite_across_pages() {
    if let Some(url) = cluster("real_same_report_as_sqlite_across_pages") {
        same_report_as_sqlite(&cfg(&url, "same", &[("ELASTIC_PAGE_SIZE", "3")]));
    }
}

#[test]
fn real_reimport_replaces_documents() {
    if let Some(url) = cluster("real_reimport_replaces_documents") {
        reimport_replaces(&cfg(&url, "reimport", &[]));
    }
}

#[test]
fn real_missing_index_is_zero_nodes() {
    if let Some(url) = cluster("real_missing_index_is_zero_nodes") {
        missing_index_means_no_nodes(&cfg(&url, "missing", &[]));
    }
}

#[test]
fn real_report_round_trip_and_replacement() {
    if let Some(url) = cluster("real_report_round_trip_and_replacement") {
        report_round_trip(&cfg(&url, "roundtrip", &[]));
    }
}

#[test]
fn real_large_report_split_into_parts() {
    if let Some(url) = cluster("real_large_report_split_into_parts") {
        large_report_is_split_and_read_back(&cfg(
            &url,
            "split",
            &[("ELASTIC_MAX_REQUEST_BYTES", "1MiB")],
        ));
    }
}

#[test]
fn real_setup_twice() {
    if let Some(url) = cluster("real_setup_twice") {
        setup_is_idempotent(&cfg(&url, "setup", &[]));
    }
}

#[test]
fn real_open_from_datastore() {
    if let Some(url) = cluster("real_open_from_datastore") {
        opens_from_env(&cfg(&url, "open", &[]));
    }
}
