//! kill -9 of the real reporter at random points of its run, many times, on a SQLite
//! file and on the fake Elasticsearch: afterwards the store holds exactly the previous
//! reports, or those and exactly one complete new report; never a partial report, never
//! two. A run to completion for the same window then leaves exactly one new report.
//!
//! Runs per store: `COMPLIANCE_CRASH_RUNS` (default 20 on SQLite, 10 on Elasticsearch);
//! the kill points come from a seeded RNG, printed, and `COMPLIANCE_CRASH_SEED` repeats a
//! campaign. Every third run waits for the first write of the run (the SQLite log growing,
//! the first report part reaching the fake, whose answer is then held back 2 s so that the
//! kill lands between the parts and the head that commits them) and kills soon after it,
//! so the write phase is hit whatever the machine's speed; the others kill at a uniformly
//! random time across the run's measured duration.

use compliance_testkit::secrets::Kept as _;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use compliance::settings::{RawEnv, datastore};
use compliance_core::model::TextInterner;
use compliance_store::{BlockingStore, Datastore, OpenMode};
use compliance_testkit::fake_es::FakeEs;
use compliance_testkit::fixtures::{kube_bench, root, stderr, t};
use compliance_testkit::synth::{ClusterShape, Rng, cluster, seed_from_env};
use tempfile::TempDir;

/// When the synthetic results were taken; window `k` is the minute `k` minutes later,
/// so every window's look-back holds every node's result.
const RESULTS_END: &str = "2026-11-25T00:00:00Z";

fn window(k: u64) -> (String, String) {
    let start = t(RESULTS_END) + chrono::Duration::minutes(k as i64);
    let end = start + chrono::Duration::minutes(1);
    let f = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    (f(start), f(end))
}

fn runs(default: usize) -> usize {
    match std::env::var("COMPLIANCE_CRASH_RUNS") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("COMPLIANCE_CRASH_RUNS={v:?}: expected a count")),
        Err(_) => default,
    }
}

fn seed() -> u64 {
    seed_from_env("COMPLIANCE_CRASH_SEED")
}

/// The store under test, as the reporter and the checks reach it.
enum Target {
    Sqlite {
        _dir: TempDir,
        db: PathBuf,
    },
    /// The fake, and how many report parts it held when the run began.
    Elastic(FakeEs, std::cell::Cell<usize>),
}

/// Every index of report parts.
const PARTS: &str = "tigera_secure_ee_compliance_report_parts.*";

impl Target {
    fn datastore(&self) -> Datastore {
        match self {
            Target::Sqlite { db, .. } => Datastore::Sqlite(db.clone()),
            Target::Elastic(fake, _) => {
                datastore(&RawEnv::from_vars(self.elastic_env(fake))).unwrap()
            }
        }
    }

    fn elastic_env(&self, fake: &FakeEs) -> Vec<(String, String)> {
        [
            ("ELASTIC_URL", fake.url()),
            ("ELASTIC_RETRY_DELAY", "10ms".to_string()),
            ("ELASTIC_RETRIES", "3".to_string()),
            // Small requests, so that a report is written in several parts.
            ("ELASTIC_MAX_REQUEST_BYTES", "1MiB".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn reporter(&self, k: u64) -> Command {
        let (start, end) = window(k);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_compliance-reporter"));
        cmd.env_clear()
            .env("COMPLIANCE_BENCHMARK_RETENTION", "forever")
            .env("COMPLIANCE_REPORT_RETENTION", "forever")
            .env("COMPLIANCE_RESOURCES", root().join("examples/reports.yaml"))
            .env("TIGERA_COMPLIANCE_REPORT_NAME", "daily-cis-results")
            .env("TIGERA_COMPLIANCE_REPORT_START_TIME", start)
            .env("TIGERA_COMPLIANCE_REPORT_END_TIME", end)
            .env("LOG_LEVEL", "warn");
        match self {
            Target::Sqlite { db, .. } => {
                cmd.env("COMPLIANCE_DATASTORE", format!("sqlite:{}", db.display()));
            }
            Target::Elastic(fake, _) => {
                cmd.envs(self.elastic_env(fake));
            }
        }
        cmd
    }

    /// Made ready for the next run: no write of it seen yet.
    fn reset_write_marker(&self) {
        if let Target::Elastic(fake, parts) = self {
            fake.clear_requests();
            parts.set(fake.count(PARTS));
        }
    }

    /// For a kill at the first write: on Elasticsearch the answer to the first `_bulk` of
    /// parts is held back for 2 s (its parts are stored at once), so that a kill soon
    /// after the first write lands between the parts and the head that commits them.
    fn widen_write_phase(&self) {
        if let Target::Elastic(fake, _) = self {
            fake.delay_next(
                compliance_testkit::fake_es::RequestMatcher::new("POST", "/_bulk"),
                1,
                Duration::from_secs(2),
            );
        }
    }

    /// Whether the running reporter has begun to write its report.
    fn write_started(&self) -> bool {
        match self {
            // The log file is removed by the last connection to close cleanly and the
            // reporter writes nothing before its report (retention is off).
            Target::Sqlite { db, .. } => {
                let mut wal = db.as_os_str().to_owned();
                wal.push("-wal");
                std::fs::metadata(PathBuf::from(wal)).is_ok_and(|m| m.len() > 0)
            }
            // Parts are the first thing a run writes; a report small enough for one
            // document is written with a PUT.
            Target::Elastic(fake, parts) => {
                fake.count(PARTS) != parts.get()
                    || fake
                        .requests()
                        .iter()
                        .any(|r| r.method == "PUT" && r.path.contains("/_doc/"))
            }
        }
    }
}

/// What the store shows a reader: each report's head fields that must not change, by id.
type Shown = BTreeMap<String, (DateTime<Utc>, u64)>;

/// The reports a reader sees, each checked whole: every report of `fully` is read with
/// all its nodes (node count as its head says, names unique); the store's own leftovers
/// are counted (`orphans`: SQLite node rows without a report, or Elasticsearch parts of
/// a generation no head names) and copies of a head (`copies`: must be one per id).
struct Seen {
    shown: Shown,
    orphans: usize,
    max_copies: usize,
}

fn look(target: &Target, fully: &[String]) -> Seen {
    let store = BlockingStore::open(&target.datastore(), OpenMode::Create).unwrap();
    let heads = store.all_reports().unwrap();
    let shown: Shown = heads
        .iter()
        .map(|h| (h.id.clone(), (h.generated_time, h.node_count)))
        .collect();
    assert_eq!(shown.len(), heads.len(), "a report id listed twice");
    for id in fully {
        let Some(&(_, count)) = shown.get(id) else {
            continue;
        };
        let report = store
            .get_report(id)
            .unwrap()
            .unwrap_or_else(|| panic!("report {id} listed but not readable"));
        assert_eq!(report.cis_benchmark.len() as u64, count, "report {id}");
        let names: HashSet<&str> = report
            .cis_benchmark
            .iter()
            .map(|n| n.node_name.as_str())
            .collect();
        assert_eq!(names.len() as u64, count, "report {id}: a node twice");
    }
    drop(store);
    let (orphans, max_copies) = match target {
        Target::Sqlite { db, .. } => {
            let conn = rusqlite::Connection::open(db).unwrap();
            let check: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(check, "ok");
            let orphans: i64 = conn
                .query_row(
                    "SELECT count(*) FROM report_nodes \
                     WHERE report_key NOT IN (SELECT report_key FROM reports)",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            (orphans as usize, 1)
        }
        Target::Elastic(fake, _) => {
            let heads = fake.documents("tigera_secure_ee_compliance_reports.*");
            let mut copies: BTreeMap<String, usize> = BTreeMap::new();
            let mut generations = HashSet::new();
            for (id, head) in &heads {
                *copies.entry(id.clone()).or_default() += 1;
                if let Some(g) = head["cisBenchmarkGeneration"].as_str() {
                    generations.insert((id.clone(), g.to_string()));
                }
            }
            let orphans = fake
                .documents(PARTS)
                .iter()
                .filter(|(_, p)| {
                    let key = (
                        p["reportId"].as_str().unwrap_or_default().to_string(),
                        p["generation"].as_str().unwrap_or_default().to_string(),
                    );
                    !generations.contains(&key)
                })
                .count();
            (orphans, copies.values().copied().max().unwrap_or(0))
        }
    };
    Seen {
        shown,
        orphans,
        max_copies,
    }
}

/// Where a run was when it was killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Opening, reading results, computing: nothing written yet.
    BeforeWrite,
    /// Writing, not yet committed: the previous reports only.
    Writing,
    /// The new report committed (readers see it), the process not yet done.
    AfterCommit,
    /// Exited on its own before the kill.
    Finished,
}

fn kill(child: &mut Child) -> bool {
    if child.try_wait().unwrap().is_some() {
        return false;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    true
}

/// Fills the store with `nodes` synthetic nodes' results and stores the first report
/// (the "previous report"); returns how long that run took.
fn prepare(target: &Target, nodes: usize) -> Duration {
    let mut interner = TextInterner::default();
    let run = kube_bench("cis-1.23-master-newrelic.json", &mut interner);
    let shape = ClusterShape {
        nodes,
        docs_per_node: 1,
        end: t(RESULTS_END),
        seed: 7,
    };
    let store = BlockingStore::open(&target.datastore(), OpenMode::Create).unwrap();
    let stored = store
        .put_benchmarks(cluster(&shape, &run.tests, &run.benchmark_version).map(Ok))
        .unwrap();
    assert_eq!(stored, nodes as u64);
    drop(store);
    let started = Instant::now();
    let out = target.reporter(0).output().kept();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    started.elapsed()
}

fn campaign(name: &str, target: &Target, nodes: usize, runs: usize) {
    let seed = seed();
    println!(
        "crash campaign {name}: seed {seed} (COMPLIANCE_CRASH_SEED), {runs} runs, {nodes} nodes"
    );
    let mut rng = Rng::new(seed);
    let began = Instant::now();
    let full_run = prepare(target, nodes);
    println!("{name}: a whole run takes {full_run:?}");
    if let Target::Elastic(fake, _) = target {
        let heads = fake.documents("tigera_secure_ee_compliance_reports.*");
        println!(
            "{name}: a report is stored in {} parts",
            heads[0].1["cisBenchmarkParts"]
        );
    }
    let mut seen = look(target, &[]);
    assert_eq!(seen.shown.len(), 1);
    let mut phases: BTreeMap<Phase, usize> = BTreeMap::new();
    let mut outcomes = [0usize; 2];
    let mut orphans_after_kill = 0;
    for k in 1..=runs as u64 {
        let (start, end) = window(k);
        let before = seen.shown.clone();
        target.reset_write_marker();
        if k % 3 == 0 {
            target.widen_write_phase();
        }
        let mut child = target
            .reporter(k)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let how = if k % 3 == 0 {
            // Wait for the first write, then a little longer (up to 50 ms).
            let deadline = started + full_run * 10 + Duration::from_secs(30);
            while !target.write_started() && child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "run {k}: no write seen");
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(rng.below(50)));
            "at the first write"
        } else {
            let span = full_run.as_micros() as u64 * 12 / 10;
            std::thread::sleep(Duration::from_micros(rng.below(span)));
            "at a random time"
        };
        let writing = target.write_started();
        let at = started.elapsed();
        let killed = kill(&mut child);

        let after = look(target, &[]);
        let new: Vec<&String> = after
            .shown
            .keys()
            .filter(|id| !before.contains_key(*id))
            .collect();
        // The previous reports, untouched.
        for (id, head) in &before {
            assert_eq!(
                after.shown.get(id),
                Some(head),
                "run {k}: report {id} changed"
            );
        }
        assert!(new.len() <= 1, "run {k}: {new:?}");
        let fully: Vec<String> = new.iter().map(|s| s.to_string()).collect();
        let after = look(target, &fully);
        assert!(after.max_copies <= 1, "run {k}: a report stored twice");
        if target_is_sqlite(target) {
            assert_eq!(after.orphans, 0, "run {k}: node rows without a report");
        }
        orphans_after_kill += usize::from(after.orphans > 0);
        if let Some(id) = new.first() {
            assert_eq!(after.shown[*id].1, nodes as u64, "run {k}");
        }
        let phase = match (killed, writing, new.is_empty()) {
            (false, _, _) => Phase::Finished,
            (true, _, false) => Phase::AfterCommit,
            (true, true, true) => Phase::Writing,
            (true, false, true) => Phase::BeforeWrite,
        };
        *phases.entry(phase).or_default() += 1;
        outcomes[usize::from(!new.is_empty())] += 1;
        println!(
            "{name} run {k} ({start} – {end}): killed {how} after {at:?}: {phase:?}, {} new report",
            new.len()
        );

        // Run again to completion: exactly one report of the window, whole, no leftovers.
        let out = target.reporter(k).output().kept();
        assert_eq!(out.status.code(), Some(0), "run {k}: {}", stderr(&out));
        let done = look(target, &[]);
        let new: Vec<String> = done
            .shown
            .keys()
            .filter(|id| !before.contains_key(*id))
            .cloned()
            .collect();
        assert_eq!(new.len(), 1, "run {k}: {new:?}");
        assert_eq!(done.shown.len(), before.len() + 1);
        let done = look(target, &new);
        assert_eq!(done.orphans, 0, "run {k}: leftovers after a whole run");
        assert_eq!(done.max_copies, 1, "run {k}: a report stored twice");
        seen = done;
    }
    println!(
        "{name}: {runs} runs in {:?}; kill phases {phases:?}; after the kill {} held the \
         previous reports only, {} one new complete report; {orphans_after_kill} kills left \
         unreferenced parts (invisible to readers, removed by the re-run); every re-run \
         stored exactly one report",
        began.elapsed(),
        outcomes[0],
        outcomes[1],
    );
    // Only the fake Elasticsearch can hold a write open (it delays the first `_bulk`
    // answer), so only there is a kill during the write certain. A SQLite commit takes
    // milliseconds: whether a kill lands in it is luck, which a test must not need
    // (the 200-run campaign, COMPLIANCE_CRASH_RUNS=200, hit it 67 times).
    assert!(
        runs < 6
            || target_is_sqlite(target)
            || phases.get(&Phase::Writing).copied().unwrap_or(0)
                + phases.get(&Phase::AfterCommit).copied().unwrap_or(0)
                > 0,
        "no kill hit the write phase: {phases:?}"
    );
}

fn target_is_sqlite(target: &Target) -> bool {
    matches!(target, Target::Sqlite { .. })
}

fn sqlite_target() -> Target {
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("compliance.db");
    Target::Sqlite { _dir: dir, db }
}

#[test]
fn a_reporter_killed_anywhere_leaves_the_previous_reports_or_one_new_whole_one_sqlite() {
    campaign("sqlite", &sqlite_target(), 500, runs(20));
}

#[test]
fn a_reporter_killed_anywhere_leaves_the_previous_reports_or_one_new_whole_one_elastic() {
    let target = Target::Elastic(FakeEs::start(), std::cell::Cell::new(0));
    campaign("elastic", &target, 150, runs(10));
    if let Target::Elastic(fake, _) = &target {
        fake.assert_no_violations();
    }
}

/// The benchmarker's daemon killed at random points and started again, many times: the
/// store ends with every stored result document whole (all the fixture's tests), no two
/// of one node at one time, and the same results stored once in all, not once a process
/// (crates/benchmarker/src/dedupe.rs: a restarted daemon compares its first run with
/// the node's last stored document); a daemon started last completes a run and stops
/// cleanly.
mod benchmarker_restarts {
    use super::*;

    const FIXTURE: &str = "cis-1.20-node-apxd.json";
    const NODE: &str = "node-1";

    /// Stand-in `kube-bench` and `kubelet`, a process list and the store's place.
    struct Host {
        dir: TempDir,
    }

    impl Host {
        fn new() -> Host {
            let host = Host {
                dir: TempDir::new().unwrap(),
            };
            std::fs::create_dir(host.path("bin")).unwrap();
            std::fs::create_dir(host.path("proc")).unwrap();
            host.script("kubelet", "echo 'Kubernetes v1.29.3'");
            // Marks that it is running, takes half a second, prints a real output.
            host.script(
                "kube-bench",
                &format!(
                    "[ \"$1\" = version ] && {{ echo v0.16.0; exit 0; }}\n\
                     echo $$ > '{}'\nsleep 0.5\ncat '{}'",
                    host.path("running").display(),
                    compliance_testkit::fixtures::fixture(FIXTURE).display()
                ),
            );
            host
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        fn script(&self, name: &str, body: &str) {
            use std::os::unix::fs::PermissionsExt;
            let path = self.path("bin").join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        fn daemon(&self, node: &str, store: &[(String, String)], log: &std::path::Path) -> Child {
            Command::new(env!("CARGO_BIN_EXE_compliance-benchmarker"))
                .env_clear()
                .env("NODENAME", node)
                .env("BENCHMARK_HOST_PROC", self.path("proc"))
                .env(
                    "PATH",
                    format!("{}:/usr/bin:/bin", self.path("bin").display()),
                )
                .env("BENCHMARK_INTERVAL", "2s")
                .envs(store.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log).unwrap())
                .spawn()
                .unwrap()
        }
    }

    /// The times of the stored documents of `node`, each read back whole through the
    /// store and checked; panics on a duplicate or a partial document.
    fn stored(target: &Target, node: &str, expected_tests: usize) -> Vec<DateTime<Utc>> {
        let mut times: Vec<DateTime<Utc>> = match target {
            Target::Sqlite { db, .. } => {
                if !db.exists() {
                    return Vec::new();
                }
                let conn = rusqlite::Connection::open(db).unwrap();
                let check: String = conn
                    .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                    .unwrap();
                assert_eq!(check, "ok");
                // A daemon killed while it opened a new file may leave it without the
                // schema, which the next open creates.
                let tables: i64 = conn
                    .query_row(
                        "SELECT count(*) FROM sqlite_master WHERE name = 'benchmark_docs'",
                        [],
                        |r| r.get(0),
                    )
                    .unwrap();
                if tables == 0 {
                    return Vec::new();
                }
                conn.prepare("SELECT timestamp FROM benchmark_docs WHERE node_name = ?1")
                    .unwrap()
                    .query_map([node], |r| r.get::<_, i64>(0))
                    .unwrap()
                    .map(|ms| DateTime::from_timestamp_millis(ms.unwrap()).unwrap())
                    .collect()
            }
            Target::Elastic(fake, _) => fake
                .documents("tigera_secure_ee_benchmark_results.*")
                .iter()
                .filter(|(_, d)| d["node_name"] == node)
                .map(|(_, d)| t(d["timestamp"].as_str().unwrap()))
                .collect(),
        };
        times.sort();
        let before = times.len();
        times.dedup();
        assert_eq!(times.len(), before, "two documents of {node} at one time");
        let store = BlockingStore::open(&target.datastore(), OpenMode::Create).unwrap();
        for at in &times {
            let mut docs = Vec::new();
            let window = compliance_store::QueryWindow {
                start: *at,
                end: *at,
            };
            store
                .latest_per_node(&window, |d| {
                    if d.node_name == node {
                        docs.push(d)
                    }
                })
                .unwrap();
            assert_eq!(docs.len(), 1, "document at {at}");
            assert_eq!(docs[0].error, "", "document at {at}");
            assert_eq!(docs[0].tests.len(), expected_tests, "document at {at}");
        }
        times
    }

    /// Where a daemon was when it was killed.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Phase {
        /// Before kube-bench started: starting up, detecting the version.
        Starting,
        /// kube-bench running or its output being parsed, nothing stored yet.
        Benchmarking,
        /// The process had stored its document.
        Stored,
        /// The process had finished its run and found the same results stored already.
        FoundStored,
    }

    pub(super) fn campaign(name: &str, target: &Target, store: &[(String, String)], runs: usize) {
        let seed = seed();
        println!("benchmarker restarts {name}: seed {seed} (COMPLIANCE_CRASH_SEED), {runs} kills");
        let mut rng = Rng::new(seed);
        let began = Instant::now();
        let expected_tests = kube_bench(FIXTURE, &mut TextInterner::default())
            .tests
            .len();
        let host = Host::new();
        let log = host.path("daemon.log");
        let mut phases: BTreeMap<Phase, usize> = BTreeMap::new();
        let mut stored_by = 0usize;
        let mut write_nodes: Vec<String> = Vec::new();
        for k in 0..runs {
            let _ = std::fs::remove_file(host.path("running"));
            // Every third round a node of its own, whose run is always stored, so that
            // kills land in the write; the others all the same node.
            let node = if k % 3 == 1 {
                format!("write-{k}")
            } else {
                NODE.to_string()
            };
            let before = stored(target, &node, expected_tests).len();
            let mut child = host.daemon(&node, store, &log);
            let started = Instant::now();
            let deadline = started + Duration::from_secs(60);
            let how = match k % 3 {
                0 => {
                    // During kube-bench's half second.
                    while !host.path("running").exists() {
                        assert!(Instant::now() < deadline, "kill {k}: kube-bench never ran");
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    std::thread::sleep(Duration::from_millis(rng.below(500)));
                    "during kube-bench"
                }
                1 => {
                    // As soon as the document is in the store: this round's daemon runs
                    // as a node of its own, which has nothing stored, so it stores.
                    while stored(target, &node, expected_tests).is_empty() {
                        assert!(
                            Instant::now() < deadline,
                            "kill {k}: nothing stored: {}",
                            std::fs::read_to_string(&log).unwrap_or_default()
                        );
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    "at the write"
                }

                _ => {
                    std::thread::sleep(Duration::from_millis(rng.below(1500)));
                    "at a random time"
                }
            };
            let ran = host.path("running").exists();
            assert!(kill(&mut child), "kill {k}: the daemon exited by itself");
            let after = stored(target, &node, expected_tests).len();
            assert!(
                after <= before + 1,
                "kill {k}: {before} -> {after} documents"
            );
            let skipped = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("not stored: same results");
            let phase = match (after > before, skipped, ran) {
                (true, _, _) => Phase::Stored,
                (false, true, _) => Phase::FoundStored,
                (false, false, true) => Phase::Benchmarking,
                (false, false, false) => Phase::Starting,
            };
            if node == NODE {
                stored_by += usize::from(after > before);
            } else {
                write_nodes.push(node);
            }
            *phases.entry(phase).or_default() += 1;
            println!(
                "{name} kill {k} {how} after {:?}: {phase:?}",
                started.elapsed()
            );
        }
        assert!(stored(target, NODE, expected_tests).len() <= runs);

        // Started once more: it completes a run (stored, or found stored already) and
        // stops cleanly.
        let mut child = host.daemon(NODE, store, &log);
        compliance_testkit::fixtures::wait_until(
            "the last daemon to finish its run",
            Duration::from_secs(60),
            || {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                text.contains("storing it") || text.contains("not stored: same results")
            },
        );
        if stored_by == 0 {
            compliance_testkit::fixtures::wait_until(
                "the last daemon to store its run",
                Duration::from_secs(60),
                || !stored(target, NODE, expected_tests).is_empty(),
            );
        }
        compliance_testkit::process::terminate(child.id());
        let status = child.wait().unwrap();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(status.code(), Some(0), "{text}");
        // The same results throughout: the first process stored them, and every later
        // one found them in the store and stored nothing (the regression of
        // a_restarted_daemon_compares_with_what_an_earlier_process_stored), the last one
        // included, unless no earlier process had got as far as storing.
        let total = stored(target, NODE, expected_tests).len();
        assert_eq!(total, 1, "{stored_by} kills came after a store");
        // Killed at the write, each of the other nodes has its document whole, or none.
        let mut written = 0;
        for node in &write_nodes {
            let docs = stored(target, node, expected_tests).len();
            assert!(docs <= 1, "{node}: {docs} documents");
            written += docs;
        }
        assert!(
            text.contains("not stored: same results") || stored_by == 0,
            "{text}"
        );
        println!(
            "benchmarker restarts {name}: {runs} kills in {:?}; phases {phases:?}; {total} \
             document of the restarted node and {written} of {} nodes killed at the write, \
             every one whole, none twice; the last daemon finished its run and stopped with \
             exit 0",
            began.elapsed(),
            write_nodes.len()
        );
    }
}

#[test]
fn a_benchmarker_killed_and_restarted_converges_sqlite() {
    let target = sqlite_target();
    let Target::Sqlite { db, .. } = &target else {
        unreachable!()
    };
    let store = vec![(
        "COMPLIANCE_DATASTORE".to_string(),
        format!("sqlite:{}", db.display()),
    )];
    benchmarker_restarts::campaign("sqlite", &target, &store, runs(15));
}

#[test]
fn a_benchmarker_killed_and_restarted_converges_elastic() {
    let fake = FakeEs::start();
    let target = Target::Elastic(fake, std::cell::Cell::new(0));
    let Target::Elastic(fake, _) = &target else {
        unreachable!()
    };
    let store = target.elastic_env(fake);
    benchmarker_restarts::campaign("elastic", &target, &store, runs(9));
    fake.assert_no_violations();
}
