//! Whole-reporter benchmark against Elasticsearch: a synthetic cluster loaded into the
//! in-process fake Elasticsearch of `compliance_testkit::fake_es`, then the release
//! `compliance-reporter` binary over it, reporting wall time, the reporter's peak memory,
//! the requests it made, the bytes it read and how the report was stored.
//!
//! Usage: `bench_elastic [NODES] [DOCS_PER_NODE]` (defaults 10000 and 24 hourly documents
//! per node). Run it through `scripts/bench-elastic.sh`, which builds everything in
//! release; the reporter binary is looked up next to this example's own directory.
//!
//! What is loaded: the store reads only each node's latest good document in the window
//! (collapse on `node_name`), so that document is full size (every check of the real
//! kube-bench fixture, as docs/spec.md §3 JSON) while the node's older documents are small but
//! valid (`tests: []`). The synthetic cluster's failures are kept: 1 node in 200 has only
//! errored runs, and 1 in 100 has its latest run errored, in which case the good document
//! before it is the full one. No two documents are identical (each has its own node and
//! timestamp), so every source is its own allocation, held once by the fake.
//!
//! What is measured: the reporter runs with `COMPLIANCE_OUTPUT_DIR` unset, so the figures
//! are the query, the report computation and the report write, without CSV downloads.
//! The fake serves from this process on one thread, so on a small machine it competes with
//! the reporter for CPU; wall time is an upper bound on what a real cluster would give.
//! Peak RSS is the reporter's own `ru_maxrss`, with care that it is not charged this
//! process's memory (see [`HeldReporter`]). All MB are 10^6 bytes.

use compliance_testkit::process::{self as rusage, Who};
use compliance_testkit::{fake_es, fixtures};

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Utc};
use compliance_core::model::{BenchmarkDocument, TextInterner, time};
use compliance_store::elastic::request::benchmark_doc_id;
use compliance_testkit::synth::{ClusterShape, cluster};
use fake_es::{FakeEs, Recorded};
use serde_json::Value;

const END: &str = "2026-11-26T00:00:00Z";
const BENCHMARK_INDEX: &str = "tigera_secure_ee_benchmark_results.cluster";
const REPORT_INDEX: &str = "tigera_secure_ee_compliance_reports.cluster.";
const PARTS_INDEX: &str = "tigera_secure_ee_compliance_report_parts.cluster.";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_elastic [NODES] [DOCS_PER_NODE]";
    let nodes: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()
        .context(usage)?
        .unwrap_or(10_000);
    let docs_per_node: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()
        .context(usage)?
        .unwrap_or(24);
    ensure!(
        nodes > 0 && docs_per_node > 0,
        "{usage}: both must be positive"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reporter = reporter_binary()?;

    let end = time::parse(END)?;
    // The whole history is in the window; only the latest documents count anyway.
    let start = end - chrono::Duration::hours(docs_per_node as i64);
    let shape = ClusterShape {
        nodes,
        docs_per_node,
        end,
        seed: 42,
    };
    let fake = FakeEs::start();
    let held = hold_reporter(&reporter, root, &fake.url(), &start, &end)?;
    let loaded = load(&fake, &shape)?;
    println!(
        "loaded {} documents into the fake in {:.1} s: {} full ({:.0} MB, {:.0} KB each), {} small ({:.0} MB)",
        loaded.full + loaded.small,
        loaded.took.as_secs_f64(),
        loaded.full,
        loaded.full_bytes as f64 / 1e6,
        loaded.full_bytes as f64 / loaded.full.max(1) as f64 / 1e3,
        loaded.small,
        loaded.small_bytes as f64 / 1e6,
    );

    let run = run_reporter(held)?;
    let requests = fake.requests();
    let tally = Tally::of(&requests);
    let stored = check_report(&fake, nodes)?;
    let violations = fake.violations();
    if !violations.is_empty() {
        bail!(
            "the reporter sent requests outside docs/elasticsearch.md:\n{}",
            violations.join("\n")
        );
    }
    ensure!(
        fake.open_pits() == 0,
        "the reporter left {} points in time open",
        fake.open_pits()
    );

    println!("reporter: {}", run.summary.trim_end());
    let query_requests = tally.resolve + tally.pit_open + tally.pit_close + tally.search_pages;
    let own = match parse_request_summary(&run.summary) {
        Some((n, mb))
            if n == query_requests && (mb - tally.query_bytes as f64 / 1e6).abs() < 0.1 =>
        {
            format!("the reporter counts the same: {n} requests, {mb:.1} MB")
        }
        Some((n, mb)) => {
            format!("MISMATCH: the reporter counts {n} requests, {mb:.1} MB")
        }
        None => "the reporter printed no request count".to_string(),
    };
    println!(
        "query: {query_requests} requests, {:.1} MB read ({own})",
        tally.query_bytes as f64 / 1e6
    );
    for r in &tally.failed {
        println!(
            "failed request: {} {} -> {} ({} bytes sent)",
            r.method, r.path, r.status, r.body_len
        );
    }
    println!(
        "{nodes} nodes: {:.1} s wall ({:.1} s CPU), {}{:.0} MB peak RSS (reporter), {} requests ({}), {:.0} MB read, report stored {} ({:.0} MB sent)",
        run.wall.as_secs_f64(),
        run.cpu.as_secs_f64(),
        if run.peak_is_floor { "at most " } else { "" },
        run.peak_rss_bytes as f64 / 1e6,
        requests.len(),
        tally.breakdown(),
        tally.response_bytes as f64 / 1e6,
        stored,
        tally.report_write_bytes as f64 / 1e6,
    );
    println!(
        "(COMPLIANCE_OUTPUT_DIR unset: query + compute + store, no CSV downloads; this process, fake included, peaked at {:.0} MB)",
        rusage::usage(Who::Myself).peak_rss_bytes as f64 / 1e6
    );
    Ok(())
}

/// The release reporter: this example lives in `<target>/release/examples/`.
fn reporter_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let release = exe
        .parent()
        .and_then(Path::parent)
        .context("cannot locate the target directory from this example's path")?;
    let reporter = release.join("compliance-reporter");
    if !reporter.exists() {
        bail!(
            "{} is missing: run `cargo build --release --bins` first",
            reporter.display()
        );
    }
    Ok(reporter)
}

struct Loaded {
    full: usize,
    full_bytes: usize,
    small: usize,
    small_bytes: usize,
    took: Duration,
}

/// Generates the cluster node by node and inserts each document as the store's bulk
/// import would have stored it, with the store's document ids.
fn load(fake: &FakeEs, shape: &ClusterShape) -> anyhow::Result<Loaded> {
    let started = Instant::now();
    let mut interner = TextInterner::new();
    let run = fixtures::kube_bench(fixtures::LARGEST_OUTPUT, &mut interner);
    let mut loaded = Loaded {
        full: 0,
        full_bytes: 0,
        small: 0,
        small_bytes: 0,
        took: Duration::ZERO,
    };
    // The generator yields each node's documents together, oldest first.
    let mut docs = cluster(shape, &run.tests, &run.benchmark_version);
    loop {
        let node: Vec<BenchmarkDocument> = docs.by_ref().take(shape.docs_per_node).collect();
        if node.is_empty() {
            break;
        }
        debug_assert!(node.iter().all(|d| d.node_name == node[0].node_name));
        let latest_good = node.iter().rposition(|d| !d.is_errored());
        for (k, mut doc) in node.into_iter().enumerate() {
            let full = Some(k) == latest_good;
            if !full {
                // Never read by the collapse; errored documents have no tests already.
                doc.tests = Vec::new();
            }
            let source: Arc<str> = serde_json::to_string(&doc)?.into();
            if full {
                loaded.full += 1;
                loaded.full_bytes += source.len();
            } else {
                loaded.small += 1;
                loaded.small_bytes += source.len();
            }
            let id = benchmark_doc_id(&doc.node_name, &doc.timestamp);
            fake.insert_raw(BENCHMARK_INDEX, &id, source);
        }
    }
    loaded.took = started.elapsed();
    Ok(loaded)
}

struct Run {
    wall: Duration,
    /// The reporter's user + system CPU time.
    cpu: Duration,
    peak_rss_bytes: u64,
    /// The reporter used less than this process had when it spawned it, so the peak is
    /// this process's, not the reporter's (see [`HeldReporter`]).
    peak_is_floor: bool,
    /// The reporter's standard output: its one-line summary.
    summary: String,
}

/// The reporter, started before the cluster is loaded and held back until released.
///
/// Why: Linux counts in a process's `ru_maxrss` the resident set of the memory it had
/// before `exec`, and a child spawned with `posix_spawn` (vfork) runs in its parent's
/// memory until then. Spawned after the load, the reporter would be charged this
/// process's peak, fake Elasticsearch included (about 770 MB at 10,000 nodes, whatever
/// the reporter itself uses). So a shell is spawned while this process is still small and
/// waits for a line on its standard input before it `exec`s the reporter.
struct HeldReporter {
    child: Child,
    go: ChildStdin,
    /// This process's peak resident set when it spawned the shell: a floor of the figure.
    spawned_at_rss_bytes: u64,
}

fn hold_reporter(
    reporter: &Path,
    root: &Path,
    url: &str,
    start: &DateTime<Utc>,
    end: &DateTime<Utc>,
) -> anyhow::Result<HeldReporter> {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(r#"read -r go && exec "$0""#)
        .arg(reporter);
    // Only what is set here: an inherited ELASTIC_* or COMPLIANCE_OUTPUT_DIR would change
    // what is measured.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if ["ELASTIC_", "COMPLIANCE_", "TIGERA_COMPLIANCE_"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            command.env_remove(name.as_ref());
        }
    }
    command
        .env("ELASTIC_URL", url)
        .env("COMPLIANCE_RESOURCES", root.join("examples/reports.yaml"))
        .env("TIGERA_COMPLIANCE_REPORT_NAME", "daily-cis-results")
        .env("TIGERA_COMPLIANCE_REPORT_START_TIME", time::format(start))
        .env("TIGERA_COMPLIANCE_REPORT_END_TIME", time::format(end))
        .env("LOG_LEVEL", "warning")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let spawned_at_rss_bytes = rusage::usage(Who::Myself).peak_rss_bytes;
    let mut child = command
        .spawn()
        .with_context(|| format!("starting /bin/sh to run {}", reporter.display()))?;
    let go = child.stdin.take().expect("piped stdin");
    Ok(HeldReporter {
        child,
        go,
        spawned_at_rss_bytes,
    })
}

fn run_reporter(held: HeldReporter) -> anyhow::Result<Run> {
    let HeldReporter {
        mut child,
        mut go,
        spawned_at_rss_bytes,
    } = held;
    let started = Instant::now();
    go.write_all(b"go\n")?;
    drop(go);
    let mut summary = String::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut summary)?;
    let status = child.wait()?;
    let wall = started.elapsed();
    if !status.success() {
        bail!("compliance-reporter failed: {status}; its output: {summary}");
    }
    // The reporter is the only child this process ever starts, so the children's usage
    // is its usage (and the shell's, a few hundred KB before it became the reporter).
    let usage = rusage::usage(Who::Children);
    Ok(Run {
        wall,
        cpu: usage.cpu,
        peak_rss_bytes: usage.peak_rss_bytes,
        peak_is_floor: usage.peak_rss_bytes <= spawned_at_rss_bytes,
        summary,
    })
}

/// `(N requests, X MB read)` from the reporter's summary line.
fn parse_request_summary(line: &str) -> Option<(usize, f64)> {
    let at = line.find(" requests, ")?;
    let open = line[..at].rfind('(')?;
    let requests: usize = line[open + 1..at].parse().ok()?;
    let rest = &line[at + " requests, ".len()..];
    let mb = rest[..rest.find(" MB read)")?].parse().ok()?;
    Some((requests, mb))
}

/// The requests the fake received, by kind, with the bytes they moved.
#[derive(Default)]
struct Tally {
    resolve: usize,
    pit_open: usize,
    pit_close: usize,
    search_pages: usize,
    report_searches: usize,
    bulk: usize,
    put: usize,
    delete_by_query: usize,
    templates: usize,
    other: usize,
    /// Every response body.
    response_bytes: u64,
    /// Responses of the benchmark query (resolve, PIT, pages): what the reporter counts.
    query_bytes: u64,
    /// Bodies of bulk and document PUT requests: the report write.
    report_write_bytes: u64,
    /// Answered with an error, except the 404 of a template lookup.
    failed: Vec<Recorded>,
}

impl Tally {
    fn of(requests: &[Recorded]) -> Tally {
        let mut t = Tally::default();
        for r in requests {
            let path = r.path.as_str();
            let mut query = false;
            let mut expected_404 = false;
            match r.method.as_str() {
                "GET" if path.starts_with("/_resolve/index/") => {
                    t.resolve += 1;
                    query = true;
                }
                "POST" if path.ends_with("/_pit") => {
                    t.pit_open += 1;
                    query = true;
                }
                "DELETE" if path == "/_pit" => {
                    t.pit_close += 1;
                    query = true;
                }
                "POST" if path == "/_search" => {
                    t.search_pages += 1;
                    query = true;
                }
                "POST" if path.ends_with("/_search") => t.report_searches += 1,
                "POST" if path == "/_bulk" => {
                    t.bulk += 1;
                    t.report_write_bytes += r.body_len as u64;
                }
                "PUT" if path.contains("/_doc/") => {
                    t.put += 1;
                    t.report_write_bytes += r.body_len as u64;
                }
                "POST" if path.ends_with("/_delete_by_query") => t.delete_by_query += 1,
                "GET" | "PUT" if path.starts_with("/_index_template/") => {
                    t.templates += 1;
                    expected_404 = r.method == "GET";
                }
                _ => t.other += 1,
            }
            t.response_bytes += r.response_len as u64;
            if query {
                t.query_bytes += r.response_len as u64;
            }
            if r.status >= 400 && !(expected_404 && r.status == 404) {
                t.failed.push(r.clone());
            }
        }
        t
    }

    fn breakdown(&self) -> String {
        let kinds = [
            (self.resolve, "resolve"),
            (self.pit_open + self.pit_close, "PIT open/close"),
            (self.search_pages, "search pages"),
            (self.report_searches, "report searches"),
            (self.templates, "template get/put"),
            (self.bulk, "bulk"),
            (self.put, "put"),
            (self.delete_by_query, "delete_by_query"),
            (self.other, "other"),
        ];
        kinds
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Checks the stored report against the cluster and says how it was stored.
fn check_report(fake: &FakeEs, nodes: usize) -> anyhow::Result<String> {
    // A split report's head is small; a single document is at most
    // ELASTIC_MAX_REQUEST_BYTES, so parsing it here stays affordable.
    let reports = fake.documents(REPORT_INDEX);
    let [(id, head)] = reports.as_slice() else {
        bail!(
            "expected one report in {REPORT_INDEX}, found {}",
            reports.len()
        );
    };
    let count = |key: &str| head["cisBenchmarkSummary"][key].as_u64();
    let (Some(high), Some(med), Some(low)) =
        (count("highCount"), count("medCount"), count("lowCount"))
    else {
        bail!(
            "report {id} has no usable cisBenchmarkSummary: {}",
            head["cisBenchmarkSummary"]
        );
    };
    ensure!(
        high + med + low == nodes as u64,
        "report {id} rates {high} HIGH + {med} MED + {low} LOW nodes, expected {nodes} in all"
    );
    match head.get("cisBenchmarkParts").and_then(Value::as_u64) {
        Some(parts) => {
            let in_index = fake.count(PARTS_INDEX);
            ensure!(
                in_index as u64 == parts,
                "report {id} names {parts} parts, {PARTS_INDEX} holds {in_index}"
            );
            let listed = head["cisBenchmarkNodeCount"].as_u64();
            ensure!(
                listed == Some(nodes as u64),
                "report {id} lists {listed:?} nodes in cisBenchmarkNodeCount, expected {nodes}"
            );
            Ok(format!("in {parts} parts"))
        }
        None => {
            let listed = head["cisBenchmark"].as_array().map_or(0, Vec::len);
            ensure!(
                listed == nodes,
                "report {id} holds {listed} nodes, expected {nodes}"
            );
            Ok("as a single document".to_string())
        }
    }
}
