//! compliance-server's /metrics scraped by a real Prometheus (Debian's 2.42): the values
//! Prometheus holds are the stored reports', and once `compliancectl reports delete`
//! removes a GlobalReport's reports its series go stale and leave instant queries.
//!
//! Skipped (with a SKIPPED line) where `prometheus` is not installed:
//! `scripts/prometheus.sh ensure` installs it.

use compliance_testkit::secrets::Kept as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use compliance_core::model::Rating;
use compliance_core::report::{ReportFindings, diff};
use compliance_store::{BlockingStore, Datastore, OpenMode};
use compliance_testkit::fixtures::{stderr, stdout, wait_until};
use compliance_testkit::prometheus::{Prometheus, QuerySample, Target};
use compliance_testkit::sequence::Sequence;
use tempfile::TempDir;

const STARTUP: Duration = Duration::from_secs(30);
/// Scrapes are every second; a few of them, on a loaded machine, fit in this.
const SCRAPED: Duration = Duration::from_secs(60);

/// compliance-server over HTTPS on a free loopback port without authentication; killed
/// on drop.
struct Served {
    child: Child,
    log: PathBuf,
    addr: String,
}

impl Served {
    fn start(dir: &Path, db: &Path, vars: &[(&str, &str)]) -> Served {
        let log = dir.join("server.log");
        let child = Command::new(env!("CARGO_BIN_EXE_compliance-server"))
            .env_clear()
            .env("COMPLIANCE_DATASTORE", format!("sqlite:{}", db.display()))
            .env("COMPLIANCE_SERVER_AUTH", "none")
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut served = Served {
            child,
            log,
            addr: String::new(),
        };
        let marker = "listening on https://";
        wait_until("compliance-server to listen", STARTUP, || {
            if let Some(status) = served.child.try_wait().unwrap() {
                panic!("exited with {status}: {}", served.log());
            }
            served.addr = served
                .log()
                .split_once(marker)
                .map(|(_, rest)| {
                    rest.chars()
                        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | ':'))
                        .collect()
                })
                .unwrap_or_default();
            served.addr.contains(':')
        });
        served
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        compliance_testkit::secrets::keep_text("server", b"", self.log().as_bytes());
    }
}

fn compliancectl(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_compliancectl"))
        .env_clear()
        .arg("--datastore")
        .arg(format!("sqlite:{}", db.display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .kept()
}

fn one(samples: &[QuerySample], what: &str) -> f64 {
    assert_eq!(samples.len(), 1, "{what}: {samples:?}");
    samples[0].value
}

#[test]
fn prometheus_scrapes_the_stored_reports_and_forgets_a_deleted_global_report() {
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("compliance.db");
    let story = Sequence::story();
    {
        let store = BlockingStore::open(&Datastore::Sqlite(db.clone()), OpenMode::Create).unwrap();
        for r in &story.reports {
            store.put_report(r).unwrap();
        }
    }
    let server = Served::start(dir.path(), &db, &[("COMPLIANCE_METRICS_PER_TEST", "true")]);
    let Some(prometheus) = Prometheus::start(&[Target::https("compliance-server", &server.addr)])
    else {
        return;
    };
    let latest = story.reports.last().unwrap();
    let before = &story.reports[story.reports.len() - 2];
    let report = latest.report_name.as_str();
    let sel = |name: &str, extra: &str| format!("{name}{{report=\"{report}\"{extra}}}");

    // The first scrape: the latest report's id.
    let info = prometheus.wait_for(
        "the first scrape of compliance-server",
        &sel("compliance_report_info", ""),
        SCRAPED,
        |s| !s.is_empty(),
    );
    assert_eq!(info[0].label("report_id"), latest.id, "{}", server.log());
    assert_eq!(info[0].label("cluster"), "cluster");

    // Node counts per rating are the stored summary's.
    let summary = &latest.cis_benchmark_summary;
    for (rating, count) in [
        ("high", summary.high_count),
        ("med", summary.med_count),
        ("low", summary.low_count),
    ] {
        let got = prometheus.query(&sel(
            "compliance_report_nodes",
            &format!(",rating=\"{rating}\""),
        ));
        assert_eq!(one(&got, rating), count as f64, "{rating}");
    }
    // Each node's rating is the stored node's, as 2/1/0.
    for node in &latest.cis_benchmark {
        let got = prometheus.query(&sel(
            "compliance_node_rating",
            &format!(",node=\"{}\"", node.node_name),
        ));
        let want = match node.summary.status {
            Rating::High => 2.0,
            Rating::Med => 1.0,
            Rating::Low => 0.0,
        };
        assert_eq!(one(&got, &node.node_name), want, "{}", node.node_name);
    }
    // New failures are the diff's from the report before.
    let d = diff(
        &ReportFindings::of_report(before),
        &ReportFindings::of_report(latest),
    );
    let got = prometheus.query(&sel("compliance_report_new_failures", ""));
    assert_eq!(one(&got, "new failures"), d.counts.new_unwaived as f64);
    assert!(d.counts.new_unwaived > 0, "the story has a new failure");
    // The per-test series of a failing test of a node.
    let got = prometheus.query(&sel(
        "compliance_node_test_failed",
        ",node=\"cp-1\",test=\"1.2.6\"",
    ));
    assert_eq!(one(&got, "cp-1 1.2.6"), 1.0);
    // Nothing of a node the latest report does not list (w-3 is in report 4 only).
    assert!(
        prometheus
            .query(&sel("compliance_node_rating", ",node=\"w-3\""))
            .is_empty()
    );

    // Without --yes and without a terminal nothing is deleted; an unknown id deletes
    // nothing either.
    let ids = story.ids();
    let refused = compliancectl(&db, &["reports", "delete", &ids[0]]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--yes"), "{}", stderr(&refused));
    let unknown = compliancectl(&db, &["reports", "delete", &ids[0], "no-such-id", "--yes"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("no-such-id"),
        "{}",
        stderr(&unknown)
    );
    {
        let store =
            BlockingStore::open(&Datastore::Sqlite(db.clone()), OpenMode::Existing).unwrap();
        assert!(store.report_head(&ids[0]).unwrap().is_some());
    }

    // Delete every report of the GlobalReport: its series go stale.
    let mut args = vec!["reports", "delete", "--yes"];
    args.extend(ids.iter().map(String::as_str));
    let deleted = compliancectl(&db, &args);
    assert_eq!(deleted.status.code(), Some(0), "{}", stderr(&deleted));
    for id in &ids {
        assert!(
            stdout(&deleted).contains(id.as_str()),
            "{}",
            stdout(&deleted)
        );
    }
    for name in [
        "compliance_report_info",
        "compliance_report_nodes",
        "compliance_node_rating",
        "compliance_node_test_failed",
    ] {
        prometheus.wait_for(
            &format!("{name} of the deleted GlobalReport to go"),
            &sel(name, ""),
            SCRAPED,
            |s| s.is_empty(),
        );
    }
    // The server still answers the scrapes: only the reports went.
    let up = prometheus.query("compliance_server_store_up");
    assert_eq!(one(&up, "store up"), 1.0);
    let target = prometheus.query("up{job=\"compliance-server\"}");
    assert_eq!(one(&target, "target up"), 1.0);
}
