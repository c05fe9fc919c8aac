//! `compliance-reporter` and `compliancectl` against a fake Elasticsearch behind the fault
//! proxy: connections reset mid-body, 429 storms, answers lost after the cluster stored
//! the write, and an unreachable cluster with the default retry budget, next to a
//! benchmarker that keeps its patience.
//!
//! Each run ends with the reporter's report stored (exit 0) or exit 1 with an error
//! naming the operation, and the cluster holding exactly one copy of the report.
//! Cut points are drawn from a seeded generator; the seed is printed (FAULT_SEED
//! replays it).

use compliance_testkit::secrets::Kept as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use compliance_testkit::fake_es::{FakeEs, RequestMatcher, es_error};
use compliance_testkit::fault_proxy::{Fault, FaultProxy, When};
use compliance_testkit::fixtures::{fixture, root, stderr, wait_until};
use compliance_testkit::synth::{Rng, seed_from_env};

use super::elastic::{END, ID, START, reporter_at};

const REPORTS: &str = "tigera_secure_ee_compliance_reports.cluster.";
const RUNS: usize = 3;

fn ctl(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_compliancectl"))
        .env_clear()
        .env("ELASTIC_URL", url)
        .env("ELASTIC_RETRY_DELAY", "10ms")
        .args(args)
        .output()
        .kept()
}

/// A fake cluster holding three nodes' results, and a proxy in front of it.
fn cluster() -> (FakeEs, FaultProxy) {
    let fake = FakeEs::start();
    for (file, node) in [
        ("cis-1.23-master-newrelic.json", "master-1"),
        ("cis-1.20-node-apxd.json", "worker-1"),
        ("eks-1.0-node-valancej.json", "worker-2"),
    ] {
        let out = ctl(
            &fake.url(),
            &[
                "import",
                "kube-bench",
                fixture(file).to_str().unwrap(),
                "--node",
                node,
                "--time",
                "2026-11-25T23:00:00Z",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{file}: {}", stderr(&out));
    }
    let proxy = FaultProxy::start(&fake.url());
    (fake, proxy)
}

/// One copy of the report, with its three nodes.
fn assert_one_report(fake: &FakeEs) {
    let copies: Vec<_> = fake
        .documents(REPORTS)
        .into_iter()
        .filter(|(id, _)| id == ID)
        .collect();
    assert_eq!(copies.len(), 1, "exactly one copy of the report");
    let nodes = copies[0].1["cisBenchmark"].as_array().unwrap().len();
    assert_eq!(nodes, 3, "the whole report");
}

#[test]
fn the_reporter_rides_out_resets_mid_body_on_reads_and_writes() {
    let seed = seed_from_env("FAULT_SEED");
    println!("FAULT_SEED={seed}");
    let mut rng = Rng::new(seed);
    let mut outcomes = Vec::new();
    for _ in 0..RUNS {
        let (fake, proxy) = cluster();
        let cut = rng.between(0, 150);
        let (method, path) = match rng.between(0, 2) {
            0 => ("POST", "/_search".to_string()),
            1 => (
                "POST",
                "/tigera_secure_ee_benchmark_results.cluster".to_string(),
            ),
            _ => (
                "PUT",
                "/tigera_secure_ee_compliance_reports.cluster.".to_string(),
            ),
        };
        proxy.inject(method, &path, When::Nth(1), Fault::ResetAfter(cut));
        let out = reporter_at(&proxy.url(), &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(proxy.faults_applied().len(), 1, "{:?}", proxy.log());
        assert_one_report(&fake);
        outcomes.push(format!("{method} {path} cut at {cut}: exit 0"));
        fake.assert_no_violations();
    }
    println!("resets: {RUNS} runs: {outcomes:?}");
}

#[test]
fn a_report_whose_stored_answer_was_lost_is_stored_once_on_the_rerun() {
    let (fake, proxy) = cluster();
    // The first run's write is stored but its answer never arrives, every time: the
    // run fails, and the report it stored is whole.
    proxy.inject(
        "PUT",
        "/tigera_secure_ee_compliance_reports.cluster.",
        When::Always,
        Fault::ResetAfter(0),
    );
    let out = reporter_at(&proxy.url(), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("store report"), "{err}");
    assert_one_report(&fake);
    // The Job runs it again: the same id, one copy.
    proxy.clear();
    let out = reporter_at(&proxy.url(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_one_report(&fake);
    fake.assert_no_violations();
}

#[test]
fn an_endless_429_storm_exits_1_naming_the_operation_and_keeps_the_previous_report() {
    let (fake, proxy) = cluster();
    let out = reporter_at(&proxy.url(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = fake.document(REPORTS, ID).unwrap();
    fake.fail_next(
        RequestMatcher::new("PUT", "/tigera_secure_ee_compliance_reports.cluster."),
        usize::MAX,
        429,
        es_error(429, "es_rejected_execution_exception", "rejected execution"),
    );
    let out = reporter_at(&proxy.url(), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("store report still failing after 4 attempts (ELASTIC_RETRIES)"),
        "{err}"
    );
    assert_one_report(&fake);
    assert_eq!(
        fake.document(REPORTS, ID).unwrap(),
        before,
        "the previous report"
    );
    fake.assert_no_violations();
}

#[test]
fn compliancectl_lists_reports_through_resets_and_a_502_page() {
    let (fake, proxy) = cluster();
    let out = reporter_at(&proxy.url(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    proxy.inject("POST", "/_search", When::Nth(1), Fault::ResetAfter(5));
    proxy.inject("POST", "/_search", When::Nth(2), Fault::html_502());
    let out = ctl(&proxy.url(), &["reports", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(ID));
    assert_eq!(proxy.faults_applied().len(), 2);
    fake.assert_no_violations();
}

/// A node directory with stand-in `kube-bench` and `kubelet` for a benchmarker daemon.
fn benchmarker_node() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::TempDir::new().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(dir.path().join("proc")).unwrap();
    let script = |name: &str, body: String| {
        use std::os::unix::fs::PermissionsExt;
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script(
        "kube-bench",
        format!(
            "[ \"$1\" = version ] && {{ echo v0.16.0; exit 0; }}\ncat '{}'",
            fixture("cis-1.20-node-apxd.json").display()
        ),
    );
    script("kubelet", "echo 'Kubernetes v1.29.3'".to_string());
    (dir, bin)
}

/// With every retry setting at its default, a reporter facing an unreachable cluster
/// gives up after its 60 s budget (it took some four minutes before the budget), while
/// a benchmarker daemon started with it is still retrying, as before.
#[test]
fn an_unreachable_cluster_ends_the_reporter_within_its_budget_and_not_the_benchmarker() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);

    let (node, bin) = benchmarker_node();
    let log = node.path().join("benchmarker.log");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_compliance-benchmarker"))
        .env_clear()
        .env("NODENAME", "node-1")
        .env("BENCHMARK_HOST_PROC", node.path().join("proc"))
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("ELASTIC_URL", &url)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let benchmarker_started = Instant::now();

    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_compliance-reporter"))
        .env_clear()
        .env("ELASTIC_URL", &url)
        .env("COMPLIANCE_RESOURCES", root().join("examples/reports.yaml"))
        .env("TIGERA_COMPLIANCE_REPORT_NAME", "daily-cis-results")
        .env("TIGERA_COMPLIANCE_REPORT_START_TIME", START)
        .env("TIGERA_COMPLIANCE_REPORT_END_TIME", END)
        .output()
        .kept();
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("retry budget of 1m (ELASTIC_RETRY_BUDGET)")
            && err.contains("cannot connect to Elasticsearch"),
        "{err}"
    );
    assert!(
        took >= Duration::from_secs(60) && took < Duration::from_secs(70),
        "the reporter gave up after {took:?}"
    );
    println!("reporter, defaults, unreachable cluster: exit 1 after {took:.1?}");

    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until("the benchmarker to retry", Duration::from_secs(30), || {
        read_log().contains("retrying")
    });
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the benchmarker is still running: {}",
        read_log()
    );
    let text = read_log();
    assert!(!text.contains("ELASTIC_RETRY_BUDGET"), "{text}");
    let retries = text.matches("retrying").count();
    println!(
        "benchmarker, defaults, unreachable cluster: still running after {:.1?}, {retries} retries logged, no budget",
        benchmarker_started.elapsed()
    );
    // Killed, not stopped: on SIGTERM it would try to store its queue, as patiently.
    let _ = daemon.kill();
    let _ = daemon.wait();
}
