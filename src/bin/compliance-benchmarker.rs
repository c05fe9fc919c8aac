//! compliance-benchmarker: runs the CIS checks (kube-bench) on this node and stores one
//! benchmark document per run for the reporter.
//!
//! Without flags it runs at start and then every BENCHMARK_INTERVAL until SIGTERM (the
//! DaemonSet). `--once` runs once, stores the document and prints a summary; `--output
//! FILE` writes the document instead of storing it. Configured by the environment (see
//! `compliance::settings::benchmarker`). Exit codes: 0 done, 1 runtime failure or an errored
//! run with `--once`, 2 configuration error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tokio::sync::watch;

use compliance::failure::{self, Failure};
use compliance::health::{HealthServer, HealthState};
use compliance::settings::benchmarker::BenchmarkerConfig;
use compliance::settings::{ConfigError, LogConfig, RawEnv};
use compliance::{logging, node, output, signals};
use compliance_benchmarker::metrics::BenchmarkerMetrics;
use compliance_benchmarker::writer::{OpenStore, Writer, WriterSettings};
use compliance_benchmarker::{engine, service};
use compliance_core::model::BenchmarkDocument;
use compliance_store::{BenchmarkStore, BlockingStore, OpenMode};

/// Runs the CIS Kubernetes checks on this node and stores the results.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Run the checks once, store the document, print a summary and exit (exit 1 when the
    /// run itself failed).
    #[arg(long)]
    once: bool,
    /// Write the document to FILE as one JSON line instead of storing it (`-`: standard
    /// output); implies --once.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn main() -> ExitCode {
    failure::exit("compliance-benchmarker", "benchmarker failed", run())
}

fn run() -> Result<u8, Failure> {
    let args = Args::parse();
    let env = RawEnv::from_os_vars(std::env::vars_os())?;
    // Logging first, so that with LOG_FORMAT=json even a bad variable is reported as JSON.
    logging::init(LogConfig::from_env(&env)?);
    let cfg = BenchmarkerConfig::from_env(&env)?;
    // First, so that a busy HEALTH_PORT is refused before any work.
    let metrics = BenchmarkerMetrics::new(&cfg.run.node_name);
    let health = match cfg.health {
        Some(addr) => {
            let mut registry = prometheus_client::registry::Registry::with_prefix("compliance");
            metrics.register(&mut registry, env!("CARGO_PKG_VERSION"));
            Some(HealthServer::start_with_metrics(
                addr,
                HealthState::new(),
                std::sync::Arc::new(registry),
            )?)
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::unavailable(e).context("cannot start the async runtime"))?;
    let search = &cfg.version_search;
    let (stop, cancel) = watch::channel(false);
    let host = runtime.block_on(async {
        let lookup = match node::lookup(&cfg.run.node_name) {
            Ok(lookup) => Some(lookup),
            Err(why) => {
                tracing::warn!(
                    "no access to the API, so the platform is decided from the kubelet \
                     version alone: {why}"
                );
                None
            }
        };
        service::Host::discover(&cfg.run, lookup).await
    });
    if let Err(why) = &host.cfg {
        tracing::warn!(
            "the bundled kube-bench cfg cannot be read, so platform benchmarks are passed \
             unchecked: {why}"
        );
    }
    host.check(&cfg.run)
        .map_err(|(variable, value, message)| ConfigError::new(variable, &value, message))?;

    if args.once || args.output.is_some() {
        let doc = runtime
            .block_on(async {
                let _signals = tokio::spawn(stop_on_signal(stop));
                let mut cancel = cancel;
                let clock = std::time::Instant::now();
                let outcome = service::run_once(&cfg.run, search, &host, &mut cancel).await;
                if let Some(outcome) = &outcome {
                    metrics.record_run(&outcome.document, clock.elapsed(), chrono::Utc::now());
                }
                outcome
            })
            .ok_or_else(|| {
                Failure::unavailable(anyhow::anyhow!(
                    "stopped by a signal before the run finished; nothing stored"
                ))
            })?
            .document;
        if let Some(h) = &health {
            h.state().set_ready(true);
        }
        // Outside the runtime: the blocking store runs its own.
        return finish_once(&args, &cfg, doc);
    }

    let datastore = cfg.datastore.clone();
    let retention = cfg.retention;
    let open: OpenStore = Box::new(move || {
        // On the writer's own thread, so the store's runtime is never inside another.
        // Prunes after its first write, then at most once an hour (SQLite).
        BlockingStore::open(&datastore, OpenMode::Create)
            .map(|s| -> Box<dyn BenchmarkStore> { Box::new(s.with_retention(retention)) })
    });
    let writer = Writer::start(open, WriterSettings::default())
        .map_err(|e| Failure::unavailable(e).context("cannot start the store writer"))?;
    metrics.watch_writer(writer.watch());
    let stored_before = stored_before(&cfg.datastore, service::stored_node_name(&cfg.run));
    runtime.block_on(async {
        let _signals = tokio::spawn(stop_on_signal(stop));
        let ready = || {
            if let Some(h) = &health {
                h.state().set_ready(true);
            }
        };
        service::run_forever(
            &cfg.run,
            search,
            &host,
            &writer,
            &metrics,
            &ready,
            stored_before,
            cancel,
        )
        .await;
    });
    let stats = writer.finish();
    if stats.pending > 0 {
        tracing::error!(
            lost = stats.pending,
            "stopped with results that could not be stored"
        );
    }
    tracing::info!(
        stored = stats.stored,
        failed_attempts = stats.failures,
        dropped = stats.dropped,
        "benchmarker stopped"
    );
    Ok(failure::EXIT_OK)
}

/// Stores or writes the one document and prints the summary.
fn finish_once(
    args: &Args,
    cfg: &BenchmarkerConfig,
    doc: BenchmarkDocument,
) -> Result<u8, Failure> {
    let summary = engine::describe(&doc);
    let errored = doc.is_errored();
    let place = match &args.output {
        Some(path) => {
            output::write_document(&doc, path).map_err(|e| {
                Failure::unavailable(e).context(format!("cannot write {}", path.display()))
            })?;
            if path.as_os_str() == "-" {
                // The document is on standard output; the summary goes to the log only.
                tracing::info!("{summary}");
                return Ok(u8::from(errored));
            }
            format!("written to {}", path.display())
        }
        None => {
            let store = BlockingStore::open(&cfg.datastore, OpenMode::Create)?
                .with_retention(cfg.retention);
            store.put_benchmarks(std::iter::once(Ok(doc)))?;
            format!("stored in {}", cfg.datastore.describe())
        }
    };
    println!("{summary}; {place}");
    Ok(u8::from(errored))
}

/// Turns SIGTERM (the kubelet stopping the pod) or SIGINT into the stop signal.
async fn stop_on_signal(stop: watch::Sender<bool>) {
    // Holding `stop` while waiting: a dropped sender would read as "stop now".
    let name = signals::terminated("the benchmarker").await;
    tracing::info!("{name}: stopping (a running kube-bench is killed)");
    let _ = stop.send(true);
}

/// Looks up, on a thread of its own, the newest document an earlier process stored for
/// `node`, and sends it when found; the daemon's first run takes it if it has arrived by
/// then ([`service::run_forever`]), so a store slow to answer never delays a run. Any
/// failure is logged and sends nothing: the first run is then stored.
fn stored_before(
    datastore: &compliance_store::Datastore,
    node: &str,
) -> std::sync::mpsc::Receiver<BenchmarkDocument> {
    let (send, receive) = std::sync::mpsc::channel();
    let datastore = datastore.clone();
    let node = node.to_string();
    let lookup = move || -> Result<Option<BenchmarkDocument>, compliance_store::StoreError> {
        let store = BlockingStore::open(&datastore, OpenMode::Create)?;
        let times = store.last_result_times(std::slice::from_ref(&node))?;
        let Some(at) = times.get(&node).copied() else {
            return Ok(None);
        };
        let mut found = Vec::new();
        let window = compliance_store::QueryWindow { start: at, end: at };
        store.latest_per_node(&window, |d| found.push(d))?;
        Ok(compliance_benchmarker::dedupe::last_stored_of(&node, found))
    };
    let spawned = std::thread::Builder::new()
        .name("stored-before".into())
        .spawn(move || match lookup() {
            Ok(Some(doc)) => {
                tracing::debug!(stored = %compliance_core::time::format(&doc.timestamp), "found this node's last stored document");
                let _ = send.send(doc);
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(
                %error,
                "cannot read this node's last stored document; the first run is stored"
            ),
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot look up this node's last stored document");
    }
    receive
}
