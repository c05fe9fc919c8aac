//! compliance-server under load: a store holding one 10,000-node report and 1,000 small
//! ones, served by `compliance_server::router` on a loopback port until killed.
//! `scripts/bench-server.sh` measures it from outside (curl, wrk, /proc).
//!
//! Usage: `bench_server --store sqlite|fake-es [--nodes N] [--reports N] [--port P]`
//! (defaults 10000 nodes, 1000 small reports, a free port).
//!
//! Two processes, so that the server's memory is the server's alone: this one generates
//! the reports, stores them (a SQLite file in a temporary directory, or the in-process
//! fake Elasticsearch of `compliance_testkit::fake_es`, which then keeps serving from
//! here) and starts a copy of itself with `--serve-sqlite PATH` or `--serve-elastic URL`
//! that only opens the store and serves, with `Auth::Open`. Generating a 10,000-node
//! report and holding it in the fake take far more memory than serving it; in one process
//! they would be most of what `/proc/<pid>/status` says.
//!
//! What it prints: progress and the times of generation and storage on standard error,
//! then one line on standard output once the server answers:
//!
//! `BENCH_SERVER store=sqlite url=http://127.0.0.1:PORT pid=PID report=ID node=NAME
//! test=NUMBER small=ID reports=1001 nodes=10000 generate_s=S store_s=S`
//!
//! `pid` is the serving process (the one to measure), `report` the large report, `node`
//! and `test` one of its nodes and one of that node's tests, `small` one small report.
//! SIGTERM or SIGINT stops both processes and removes the temporary directory; if this
//! process dies without that, the server sees its standard input close and exits too.
//!
//! The small reports are real reports too: the report rules over the seven real
//! kube-bench outputs of `tests/fixtures/` (1 to 7 of them), for 25 GlobalReports (hourly,
//! daily and weekly, under varied names and thresholds) and 40 consecutive windows each,
//! so the list has 1,000 distinct names, windows and summaries to sort and page.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Utc};
use compliance_core::model::{BenchmarkDocument, GlobalReport, ReportDocument, TestStatus, time};
use compliance_core::report::{ReportRequest, compute_report};
use compliance_server::auth::Auth;
use compliance_server::clusters::Clusters;
use compliance_server::{Server, router};
use compliance_store::sqlite::{OpenMode, SqliteStore};
use compliance_store::{BlockingStore, Datastore, ElasticConfig, ElasticStore, Store};
use compliance_testkit::fake_es::FakeEs;
use compliance_testkit::fixtures::{cis_benchmark_type, daily_report};
use compliance_testkit::process::terminate;
use compliance_testkit::reports::{fixture_documents, synthetic_report};

/// The end of the large report's window; the small reports' windows end before it.
const END: &str = "2026-11-26T00:00:00Z";
/// The cluster every report belongs to (the default index suffix).
const CLUSTER: &str = "cluster";
/// GlobalReports among which the small reports are shared, each with this many windows.
const SMALL_REPORT_NAMES: usize = 25;

const USAGE: &str =
    "usage: bench_server --store sqlite|fake-es [--nodes N] [--reports N] [--port P]";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    FakeEs,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::FakeEs => "fake-es",
        }
    }
}

#[derive(Debug)]
enum Mode {
    /// Generate, store, start the server, wait.
    Prepare {
        backend: Backend,
        nodes: usize,
        reports: usize,
    },
    /// Serve the given store (the child process).
    Serve(Datastore),
}

fn main() -> anyhow::Result<()> {
    let (mode, port) = parse_args(std::env::args().skip(1))?;
    match mode {
        Mode::Prepare {
            backend,
            nodes,
            reports,
        } => prepare(backend, nodes, reports, port),
        Mode::Serve(datastore) => serve(datastore, port),
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<(Mode, u16)> {
    let mut backend = None;
    let mut nodes = 10_000;
    let mut reports = 1_000;
    let mut port = 0;
    let mut serve = None;
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{flag} needs a value; {USAGE}"))
        };
        match flag.as_str() {
            "--store" => {
                backend = Some(match value()?.as_str() {
                    "sqlite" => Backend::Sqlite,
                    "fake-es" => Backend::FakeEs,
                    other => bail!("unknown store {other:?}; {USAGE}"),
                })
            }
            "--nodes" => nodes = value()?.parse().context(USAGE)?,
            "--reports" => reports = value()?.parse().context(USAGE)?,
            "--port" => port = value()?.parse().context(USAGE)?,
            "--serve-sqlite" => serve = Some(Datastore::Sqlite(PathBuf::from(value()?))),
            "--serve-elastic" => {
                let url = url::Url::parse(&value()?).context("--serve-elastic needs a URL")?;
                serve = Some(Datastore::Elastic(Box::new(ElasticConfig::new(url))));
            }
            other => bail!("unknown argument {other:?}; {USAGE}"),
        }
    }
    if let Some(datastore) = serve {
        return Ok((Mode::Serve(datastore), port));
    }
    let backend = backend.context(USAGE)?;
    ensure!(nodes > 0, "--nodes must be positive");
    Ok((
        Mode::Prepare {
            backend,
            nodes,
            reports,
        },
        port,
    ))
}

/// What the script needs to know of the data to build its URLs.
struct Generated {
    large: ReportDocument,
    small: Vec<ReportDocument>,
}

fn prepare(backend: Backend, nodes: usize, reports: usize, port: u16) -> anyhow::Result<()> {
    let end = time::parse(END)?;

    let started = Instant::now();
    let data = generate(nodes, reports, end)?;
    let generate_s = started.elapsed().as_secs_f64();
    eprintln!(
        "generated 1 report of {nodes} nodes and {} small reports in {generate_s:.1} s",
        data.small.len()
    );
    let (node, test) = sample_node_and_test(&data.large)?;
    let large_id = data.large.id.clone();
    let small_id = data
        .small
        .first()
        .map_or_else(|| large_id.clone(), |r| r.id.clone());
    let total_reports = data.small.len() + 1;

    let dir = tempfile::Builder::new().prefix("bench-server-").tempdir()?;
    let started = Instant::now();
    // The fake lives as long as this process: the server reads it from the other one.
    let (serve_args, _fake) = match backend {
        Backend::Sqlite => {
            let path = dir.path().join("reports.db");
            let store = SqliteStore::open(&path, OpenMode::Create)?;
            put_all(&BlockingStore::new(store.into())?, data)?;
            let size = std::fs::metadata(&path)?.len();
            eprintln!(
                "SQLite database {} ({:.0} MB)",
                path.display(),
                size as f64 / 1e6
            );
            (
                vec!["--serve-sqlite".to_string(), path.display().to_string()],
                None,
            )
        }
        Backend::FakeEs => {
            let fake = FakeEs::start();
            let url = fake.url();
            let config = ElasticConfig::new(url::Url::parse(&url)?);
            let store: Store = ElasticStore::connect(&config)?.into();
            put_all(&BlockingStore::new(store)?, data)?;
            let violations = fake.violations();
            ensure!(
                violations.is_empty(),
                "the store sent requests outside docs/elasticsearch.md:\n{}",
                violations.join("\n")
            );
            eprintln!(
                "fake Elasticsearch at {url} holds {} MB of responses served so far",
                fake.bytes_served() / 1_000_000
            );
            (vec!["--serve-elastic".to_string(), url], Some(fake))
        }
    };
    let store_s = started.elapsed().as_secs_f64();
    eprintln!("stored {total_reports} reports in {store_s:.1} s");

    let mut server = spawn_server(&serve_args, port)?;
    let pid = server.child.id();
    println!(
        "BENCH_SERVER store={} url={} pid={pid} report={} node={} test={} small={} reports={total_reports} nodes={nodes} generate_s={generate_s:.1} store_s={store_s:.1}",
        backend.name(),
        server.url,
        url_word(&large_id),
        url_word(&node),
        url_word(&test),
        url_word(&small_id),
    );
    std::io::stdout().flush()?;

    let outcome = wait_for_stop(&mut server.child);
    terminate(pid);
    let _ = server.child.wait();
    drop(dir);
    outcome
}

/// The large report and the small ones, computed by the real report rules.
fn generate(nodes: usize, reports: usize, end: DateTime<Utc>) -> anyhow::Result<Generated> {
    let large = synthetic_report(nodes, end, 42);
    ensure!(
        large.cis_benchmark.len() == nodes,
        "the synthetic report lost nodes"
    );

    let report_type = cis_benchmark_type();
    let fixtures = fixture_documents(end);
    let mut small = Vec::with_capacity(reports);
    for i in 0..reports {
        let k = i % SMALL_REPORT_NAMES;
        let window = (i / SMALL_REPORT_NAMES) as i64;
        let (every, schedule, kind) = match k % 3 {
            0 => (chrono::Duration::hours(1), "0 * * * *", "hourly"),
            1 => (chrono::Duration::days(1), "0 0 * * *", "daily"),
            _ => (chrono::Duration::weeks(1), "0 0 * * 0", "weekly"),
        };
        let mut report: GlobalReport = daily_report();
        report.metadata.name = format!(
            "{kind}-cis-{}-{k:02}",
            ["prod", "staging", "dev", "edge"][k % 4]
        );
        report.spec.schedule = Some(schedule.to_string());
        if let Some(cis) = report.spec.cis.as_mut() {
            cis.high_threshold = Some(100 - (k as i64 % 5) * 5);
            cis.med_threshold = Some(50 - (k as i64 % 4) * 5);
            cis.num_failed_tests = Some(5 + k as i64 % 6);
        }
        // Windows end on the hour, day or week before END and go back one at a time.
        let window_end = end - every * (window as i32 + 1);
        let start = window_end - every;
        // The node runs, moved into the window; 1 to 7 nodes per report.
        let docs: Vec<BenchmarkDocument> = fixtures
            .iter()
            .take(1 + i % fixtures.len())
            .map(|d| BenchmarkDocument {
                timestamp: window_end - chrono::Duration::minutes(10 + (i % 40) as i64),
                ..d.clone()
            })
            .collect();
        let request = ReportRequest {
            report: &report,
            report_type: &report_type,
            start,
            end: window_end,
            generation_time: window_end + chrono::Duration::minutes(5),
            cluster: CLUSTER,
            reporter_version: "test",
        };
        let (doc, _) = compute_report(request, docs).context("a small report")?;
        small.push(doc);
    }
    Ok(Generated { large, small })
}

/// One node of the large report with results (the middle one, or the first after it),
/// and its first failed test (or its first test).
fn sample_node_and_test(report: &ReportDocument) -> anyhow::Result<(String, String)> {
    let nodes = &report.cis_benchmark;
    let node = nodes[nodes.len() / 2..]
        .iter()
        .chain(nodes.iter())
        .find(|n| n.results.iter().any(|s| !s.results.is_empty()))
        .context("no node of the large report has results")?;
    let tests = || node.results.iter().flat_map(|s| s.results.iter());
    let test = tests()
        .find(|t| t.status == TestStatus::Fail)
        .or_else(|| tests().next())
        .context("the node has no tests")?;
    Ok((node.node_name.clone(), test.test_number().to_string()))
}

/// Stores every report: the large one first.
fn put_all(store: &BlockingStore, data: Generated) -> anyhow::Result<()> {
    let Generated { large, small } = data;
    let started = Instant::now();
    store
        .put_report(&large)
        .context("storing the large report")?;
    eprintln!(
        "stored the {}-node report in {:.1} s",
        large.cis_benchmark.len(),
        started.elapsed().as_secs_f64()
    );
    drop(large);
    for r in &small {
        store
            .put_report(r)
            .with_context(|| format!("storing report {}", r.id))?;
    }
    Ok(())
}

/// A value for the machine-readable line, which separates its fields with spaces: every
/// id, node name and test number this benchmark makes is free of spaces already.
fn url_word(s: &str) -> String {
    s.replace(|c: char| c.is_whitespace(), "_")
}

struct Running {
    child: Child,
    url: String,
}

/// Starts the serving copy of this program and waits until it listens.
fn spawn_server(serve_args: &[String], port: u16) -> anyhow::Result<Running> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(&exe)
        .args(serve_args)
        .args(["--port", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line)?;
    let Some(addr) = line.trim().strip_prefix("listening on ") else {
        let _ = child.kill();
        let status = child.wait()?;
        bail!("the server did not start ({status}); it said {line:?}");
    };
    Ok(Running {
        url: format!("http://{addr}"),
        child,
    })
}

/// Waits for SIGTERM or SIGINT (a normal stop), or for the server to exit (an error).
fn wait_for_stop(child: &mut Child) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        loop {
            tokio::select! {
                _ = term.recv() => return Ok(()),
                _ = int.recv() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    if let Some(status) = child.try_wait()? {
                        bail!("the server exited on its own: {status}");
                    }
                }
            }
        }
    })
}

/// The server process: opens the store and serves until its standard input closes.
fn serve(datastore: Datastore, port: u16) -> anyhow::Result<()> {
    let clusters = match &datastore {
        Datastore::Sqlite(path) => {
            Clusters::single(CLUSTER, SqliteStore::open(path, OpenMode::Existing)?.into())
        }
        Datastore::Elastic(config) => Clusters::elastic((**config).clone(), Vec::new()),
    };
    let server = Arc::new(Server::new(clusters, Auth::Open));
    // The parent holds the other end: when it goes, so does the server.
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        axum::serve(listener, router(server)).await?;
        Ok(())
    })
}
