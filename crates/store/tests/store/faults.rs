//! The Elasticsearch store under network and cluster faults: connections reset
//! mid-body, truncated and non-JSON answers, answers slower than ELASTIC_TIMEOUT, 429
//! and 503 storms, a point in time expiring mid-read, writes whose answer is lost after
//! the cluster stored them, and a spent retry budget.
//!
//! Each scenario runs several times with cut points and positions drawn from a seeded
//! generator (the seed is printed; set FAULT_SEED to replay one). Every run ends in one
//! of two outcomes: the operation succeeded with the right result (a retry got past the
//! fault), or it failed with an error naming the operation. In every case the store
//! then holds exactly the previous report or exactly the new one: one head, all its
//! parts, no other parts, no second copy.

use std::time::{Duration, Instant};

use compliance_core::model::ReportDocument;
use compliance_store::elastic::{ElasticConfig, ElasticError};
use compliance_store::{BlockingStore, StoreError};
use compliance_testkit::fake_es::{FakeEs, RequestMatcher, es_error};
use compliance_testkit::fault_proxy::{Fault, FaultProxy, When};
use compliance_testkit::synth::{Rng, seed_from_env};
use serde_json::Value;

use super::support::*;

const REPORTS: &str = "tigera_secure_ee_compliance_reports";
const PARTS: &str = "tigera_secure_ee_compliance_report_parts";
const BENCH: &str = "tigera_secure_ee_benchmark_results";

/// Runs of each scenario.
const RUNS: usize = 6;

/// FAULT_SEED, or one from the clock; printed either way.
fn seeded(scenario: &str) -> Rng {
    let seed = seed_from_env("FAULT_SEED");
    println!("{scenario}: FAULT_SEED={seed}");
    Rng::new(seed)
}

/// How the runs of a scenario ended.
#[derive(Default)]
struct Tally {
    succeeded: usize,
    failed: Vec<String>,
}

impl Tally {
    fn print(&self, scenario: &str) {
        println!(
            "{scenario}: {} runs, {} succeeded after retries, {} failed with a clear error{}",
            self.succeeded + self.failed.len(),
            self.succeeded,
            self.failed.len(),
            self.failed
                .first()
                .map(|e| format!(" (e.g. {e})"))
                .unwrap_or_default()
        );
    }
}

/// One fake cluster with a fault proxy in front; `store` goes through the proxy,
/// `direct` does not (to prepare and to check).
struct Rig {
    fake: FakeEs,
    proxy: FaultProxy,
    suffix: String,
    store: BlockingStore,
    direct: BlockingStore,
}

impl Rig {
    fn new(name: &str, tune: impl FnOnce(&mut ElasticConfig)) -> Rig {
        let fake = FakeEs::start();
        let proxy = FaultProxy::start(&fake.url());
        let suffix = unique_suffix(name);
        let mut direct_cfg = config(
            &fake.url(),
            &suffix,
            &[("ELASTIC_MAX_REQUEST_BYTES", "1MiB")],
        );
        direct_cfg.retries = 0;
        let mut cfg = config(
            &proxy.url(),
            &suffix,
            &[
                ("ELASTIC_MAX_REQUEST_BYTES", "1MiB"),
                ("ELASTIC_PAGE_SIZE", "4"),
            ],
        );
        cfg.timeout = Duration::from_secs(5);
        tune(&mut cfg);
        Rig {
            store: blocking(&cfg),
            direct: blocking(&direct_cfg),
            fake,
            proxy,
            suffix,
        }
    }

    /// The benchmark documents of [`cluster_docs`], stored without faults.
    fn with_benchmarks(self) -> Rig {
        self.direct
            .put_benchmarks(cluster_docs().into_iter().map(Ok))
            .unwrap();
        self
    }

    /// The nodes and timestamps a read through the proxy gets, sorted.
    fn read(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut docs = Vec::new();
        self.store.latest_per_node(&window(), |d| {
            docs.push((d.node_name.clone(), d.timestamp.to_rfc3339()));
        })?;
        docs.sort();
        Ok(docs)
    }

    fn expected_read(&self) -> Vec<(String, String)> {
        let mut docs = Vec::new();
        self.direct
            .latest_per_node(&window(), |d| {
                docs.push((d.node_name.clone(), d.timestamp.to_rfc3339()))
            })
            .unwrap();
        docs.sort();
        docs
    }

    fn docs(&self, base: &str) -> Vec<(String, Value)> {
        self.fake.documents(&format!("{base}.{}*", self.suffix))
    }

    /// The store holds exactly `previous` or exactly `new` under their id: one head,
    /// the parts of its generation and no others, read back equal. Returns which.
    fn assert_one_whole_report(&self, previous: &ReportDocument, new: &ReportDocument) -> &str {
        let id = &new.id;
        let heads: Vec<Value> = self
            .docs(REPORTS)
            .into_iter()
            .filter(|(doc_id, _)| doc_id == id)
            .map(|(_, d)| d)
            .collect();
        assert_eq!(heads.len(), 1, "exactly one copy of report {id}");
        let head = &heads[0];
        let parts: Vec<Value> = self
            .docs(PARTS)
            .into_iter()
            .map(|(_, p)| p)
            .filter(|p| p["reportId"] == id.as_str())
            .collect();
        match head["cisBenchmarkGeneration"].as_str() {
            Some(generation) => {
                assert!(
                    parts.iter().all(|p| p["generation"] == generation),
                    "only the head's generation has parts"
                );
                assert_eq!(
                    parts.len() as u64,
                    head["cisBenchmarkParts"].as_u64().unwrap(),
                    "every part of the head, once"
                );
            }
            None => assert!(parts.is_empty(), "a whole document leaves no parts"),
        }
        let read = self.direct.get_report(id).unwrap().expect("the report");
        if read == *new {
            "new"
        } else if read == *previous {
            "previous"
        } else {
            panic!("the stored report is neither the previous nor the new one")
        }
    }
}

/// A report too large for one 1 MiB request, and a second run of its window with
/// different results: both stored in parts.
fn two_runs_of_a_window() -> (ReportDocument, ReportDocument) {
    let previous = large_report("big", END, nodes_over_one_mib());
    let mut new = previous.clone();
    for n in &mut new.cis_benchmark {
        n.summary.total_pass += 1000;
    }
    (previous, new)
}

fn elastic(e: StoreError) -> ElasticError {
    match e {
        StoreError::Elastic(e) => *e,
        other => panic!("not an Elasticsearch error: {other}"),
    }
}

/// Runs a read scenario `RUNS` times: `inject` sets the fault of a run; each run must
/// read exactly what a read without faults does, or fail with an error naming `op`.
fn read_scenario(name: &str, op: &str, inject: impl Fn(&Rig, &mut Rng)) {
    let mut rng = seeded(name);
    let mut tally = Tally::default();
    for _ in 0..RUNS {
        let rig = Rig::new(name, |_| {}).with_benchmarks();
        let expected = rig.expected_read();
        inject(&rig, &mut rng);
        match rig.read() {
            Ok(got) => {
                assert_eq!(got, expected, "{name}: a retried read is the same read");
                tally.succeeded += 1;
            }
            Err(e) => {
                let text = e.to_string();
                assert!(text.contains(op), "{name}: the error names {op}: {text}");
                tally.failed.push(text);
            }
        }
        let faulted = rig.proxy.faults_applied().len()
            + rig
                .fake
                .requests()
                .iter()
                .filter(|r| r.status == 503)
                .count();
        assert!(faulted > 0, "{name}: the fault was reached");
        rig.fake.assert_no_violations();
    }
    tally.print(name);
}

/// Runs a write scenario `RUNS` times: the previous report is stored without faults,
/// `inject` sets the fault, the new one is stored through the proxy. Returns the tally.
fn write_scenario(
    name: &str,
    tune: impl Fn(&mut ElasticConfig),
    inject: impl Fn(&Rig, &mut Rng),
) -> Tally {
    let mut rng = seeded(name);
    let mut tally = Tally::default();
    let (previous, new) = two_runs_of_a_window();
    for _ in 0..RUNS {
        let rig = Rig::new(name, &tune);
        rig.direct.put_report(&previous).unwrap();
        inject(&rig, &mut rng);
        let result = rig.store.put_report(&new);
        let which = rig.assert_one_whole_report(&previous, &new);
        match result {
            Ok(()) => {
                assert_eq!(which, "new", "{name}: a stored report is the new one");
                tally.succeeded += 1;
            }
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.contains("store report"),
                    "{name}: the error names the operation: {text}"
                );
                tally.failed.push(format!("{which} report kept: {text}"));
            }
        }
        rig.fake.assert_no_violations();
    }
    tally.print(name);
    tally
}

#[test]
fn a_connection_reset_mid_body_on_a_search_is_retried() {
    read_scenario("reset on search", "search", |rig, rng| {
        let nth = rng.between(1, 3);
        let cut = rng.between(0, 300);
        rig.proxy
            .inject("POST", "/_search", When::Nth(nth), Fault::ResetAfter(cut));
    });
}

#[test]
fn a_connection_reset_on_opening_the_point_in_time_is_retried() {
    read_scenario("reset on PIT open", "point in time", |rig, rng| {
        let times = rng.between(1, 3);
        let cut = rng.between(0, 20);
        rig.proxy.inject(
            "POST",
            &format!("/{BENCH}.{}", rig.suffix),
            When::First(times),
            Fault::ResetAfter(cut),
        );
    });
}

#[test]
fn a_truncated_search_answer_is_retried() {
    read_scenario("truncated search", "search", |rig, rng| {
        let nth = rng.between(1, 3);
        let cut = rng.between(0, 300);
        rig.proxy
            .inject("POST", "/_search", When::Nth(nth), Fault::Truncate(cut));
    });
}

#[test]
fn a_non_json_502_from_a_proxy_is_retried() {
    read_scenario("non-JSON 502", "search", |rig, rng| {
        let times = rng.between(1, 3);
        rig.proxy
            .inject("POST", "/_search", When::First(times), Fault::html_502());
    });
}

#[test]
fn a_503_storm_shorter_than_the_retries_is_ridden_out() {
    read_scenario("503 storm", "search", |rig, rng| {
        let times = rng.between(1, 3);
        rig.fake.fail_next(
            RequestMatcher::new("POST", "/_search"),
            times,
            503,
            es_error(
                503,
                "no_shard_available_action_exception",
                "No shard available",
            ),
        );
    });
}

#[test]
fn a_non_json_200_fails_the_read_naming_it() {
    let mut rng = seeded("non-JSON 200");
    let mut tally = Tally::default();
    for _ in 0..RUNS {
        let rig = Rig::new("garbage", |_| {}).with_benchmarks();
        let nth = rng.between(1, 2);
        rig.proxy
            .inject("POST", "/_search", When::Nth(nth), Fault::garbage_200());
        let e = elastic(rig.read().unwrap_err());
        let text = e.to_string();
        assert!(matches!(e, ElasticError::Parse(_)), "{text}");
        // The page search, or the fetch of test texts that follows it.
        assert!(
            text.contains("search") || text.contains("read test descriptions"),
            "{text}"
        );
        assert_eq!(rig.proxy.faults_applied().len(), 1, "not retried");
        tally.failed.push(text);
        rig.fake.assert_no_violations();
    }
    tally.print("non-JSON 200");
}

#[test]
fn a_point_in_time_expiring_mid_read_is_reopened_at_any_page() {
    let mut rng = seeded("PIT expiry");
    let mut tally = Tally::default();
    for _ in 0..RUNS {
        let rig = Rig::new("pit", |_| {}).with_benchmarks();
        let expected = rig.expected_read();
        let at = rng.between(1, expected.len() - 1);
        let mut got = Vec::new();
        rig.store
            .latest_per_node(&window(), |d| {
                got.push((d.node_name.clone(), d.timestamp.to_rfc3339()));
                if got.len() == at {
                    rig.fake.expire_pits();
                }
            })
            .unwrap();
        got.sort();
        assert_eq!(got, expected, "expired after {at} documents");
        tally.succeeded += 1;
        rig.fake.assert_no_violations();
    }
    tally.print("PIT expiry");
}

#[test]
fn a_reset_after_the_cluster_stored_a_bulk_write_duplicates_nothing() {
    let mut rng = seeded("reset on benchmark bulk");
    let mut tally = Tally::default();
    for _ in 0..RUNS {
        let rig = Rig::new("bulk", |_| {});
        let cut = rng.between(0, 60);
        rig.proxy
            .inject("POST", "/_bulk", When::Nth(1), Fault::ResetAfter(cut));
        let docs = cluster_docs();
        let stored = rig.store.put_benchmarks(docs.clone().into_iter().map(Ok));
        assert_eq!(stored.unwrap(), docs.len() as u64);
        assert_eq!(rig.docs(BENCH).len(), docs.len(), "each document once");
        assert_eq!(rig.proxy.faults_applied().len(), 1);
        tally.succeeded += 1;
        rig.fake.assert_no_violations();
    }
    tally.print("reset on benchmark bulk");
}

#[test]
fn a_reset_on_a_report_part_bulk_leaves_one_whole_report() {
    let tally = write_scenario(
        "reset on parts bulk",
        |_| {},
        |rig, rng| {
            let nth = rng.between(1, 2);
            let cut = rng.between(0, 200);
            rig.proxy
                .inject("POST", "/_bulk", When::Nth(nth), Fault::ResetAfter(cut));
        },
    );
    assert_eq!(tally.failed.len(), 0, "{:?}", tally.failed);
}

#[test]
fn a_reset_after_the_head_was_stored_leaves_one_whole_report() {
    let tally = write_scenario(
        "reset on report head",
        |_| {},
        |rig, rng| {
            let cut = rng.between(0, 100);
            rig.proxy.inject(
                "PUT",
                &format!("/{REPORTS}.{}", rig.suffix),
                When::Nth(1),
                Fault::ResetAfter(cut),
            );
        },
    );
    assert_eq!(tally.failed.len(), 0, "{:?}", tally.failed);
}

#[test]
fn a_head_answer_slower_than_the_timeout_is_retried() {
    let tally = write_scenario(
        "slow report head",
        |c| c.timeout = Duration::from_millis(400),
        |rig, _| {
            rig.proxy.inject(
                "PUT",
                &format!("/{REPORTS}.{}", rig.suffix),
                When::Nth(1),
                Fault::Delay(Duration::from_millis(900)),
            );
        },
    );
    assert_eq!(tally.failed.len(), 0, "{:?}", tally.failed);
}

/// Found by the fault runs: when every attempt to store a split report's head timed
/// out although the cluster stored it, the store deleted the parts the stored head
/// named, leaving a head without parts.
#[test]
fn a_head_stored_but_never_acknowledged_keeps_its_parts() {
    let tally = write_scenario(
        "head stored, answers lost",
        |c| {
            c.timeout = Duration::from_millis(300);
            c.retries = 2;
        },
        |rig, _| {
            rig.proxy.inject(
                "PUT",
                &format!("/{REPORTS}.{}", rig.suffix),
                When::Always,
                Fault::Delay(Duration::from_millis(700)),
            );
        },
    );
    assert_eq!(tally.succeeded, RUNS, "the head was stored: the report is");
}

#[test]
fn a_429_storm_shorter_than_the_retries_is_ridden_out() {
    let tally = write_scenario(
        "429 storm",
        |_| {},
        |rig, rng| {
            let times = rng.between(1, 3);
            rig.fake.fail_next(
                RequestMatcher::any(),
                times,
                429,
                es_error(429, "es_rejected_execution_exception", "rejected execution"),
            );
        },
    );
    assert_eq!(tally.failed.len(), 0, "{:?}", tally.failed);
}

#[test]
fn an_endless_429_storm_fails_naming_the_operation_and_keeps_the_previous_report() {
    let tally = write_scenario(
        "endless 429",
        |_| {},
        |rig, rng| {
            // On the parts, or on the head.
            let path = if rng.between(0, 1) == 0 {
                "/_bulk".to_string()
            } else {
                format!("/{REPORTS}.{}", rig.suffix)
            };
            let method = if path == "/_bulk" { "POST" } else { "PUT" };
            rig.fake.fail_next(
                RequestMatcher::new(method, &path),
                usize::MAX,
                429,
                es_error(429, "es_rejected_execution_exception", "rejected execution"),
            );
        },
    );
    assert_eq!(tally.succeeded, 0);
    assert!(
        tally
            .failed
            .iter()
            .all(|f| f.starts_with("previous") && f.contains("ELASTIC_RETRIES")),
        "{:?}",
        tally.failed
    );
}

#[test]
fn a_spent_retry_budget_fails_at_once_naming_the_variable() {
    let budget = Duration::from_millis(300);
    let rig = Rig::new("budget", |c| {
        c.retries = 100;
        c.retry_delay = Duration::from_millis(20);
        c.retry_budget = Some(budget);
    })
    .with_benchmarks();
    rig.fake.fail_next(
        RequestMatcher::new("POST", "/_search"),
        usize::MAX,
        503,
        es_error(503, "master_not_discovered_exception", "no master"),
    );
    let started = Instant::now();
    let e = elastic(rig.read().unwrap_err());
    let took = started.elapsed();
    let text = e.to_string();
    assert!(matches!(e, ElasticError::BudgetSpent { .. }), "{text}");
    assert!(
        text.contains("ELASTIC_RETRY_BUDGET") && text.contains("300ms"),
        "{text}"
    );
    assert!(took >= budget, "gave up after {took:?}");
    assert!(
        took < budget + Duration::from_secs(2),
        "gave up after {took:?}"
    );
    // The next transient failure of the process fails at once.
    let started = Instant::now();
    let again = elastic(rig.read().unwrap_err());
    assert!(
        matches!(again, ElasticError::BudgetSpent { attempts: 1, .. }),
        "{again}"
    );
    assert!(started.elapsed() < budget, "no more waiting");
    println!("budget of {budget:?}: gave up after {took:?}");
}
