//! What only Elasticsearch does, against a real cluster. Opt-in: runs only when
//! ELASTICSEARCH_URL is set (e.g. `http://elastic:changeme@localhost:9200` with the
//! repository's docker-compose.yml), and says on the terminal that it was skipped
//! otherwise. What every store does runs against a real cluster in `contract.rs`.

use std::io::Write as _;

use super::elastic::setup_is_idempotent;
use super::support::*;

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

#[test]
fn real_setup_twice() {
    if let Some(url) = cluster("real_setup_twice") {
        setup_is_idempotent(&config(&url, &unique_suffix("setup"), &[]));
    }
}

/// The split layout on a real cluster: several parts, none over the request limit, read
/// back whole and by pages.
#[test]
fn real_large_report_split_into_parts() {
    if let Some(url) = cluster("real_large_report_split_into_parts") {
        let cfg = config(
            &url,
            &unique_suffix("split"),
            &[("ELASTIC_MAX_REQUEST_BYTES", "1MiB")],
        );
        let es = blocking(&cfg);
        let report = large_report("big", END, nodes_over_one_mib());
        es.put_report(&report).unwrap();
        assert_eq!(es.get_report(&report.id).unwrap().as_ref(), Some(&report));
        let tail = es.report_nodes(&report.id, 390, 100).unwrap().unwrap();
        assert_eq!(tail, report.cis_benchmark[390..490]);
        assert_eq!(
            es.report_head(&report.id).unwrap().unwrap().node_count,
            report.cis_benchmark.len() as u64
        );
    }
}
