//! compliance-benchmarker: runs the CIS checks (kube-bench) on this node and stores one
//! benchmark document per run for the reporter.
//!
//! Without flags it runs at start and then every BENCHMARK_INTERVAL until SIGTERM (the
//! DaemonSet). `--once` runs once, stores the document and prints a summary; `--output
//! FILE` writes the document instead of storing it. Configured by the environment (see
//! `compliance::benchmarker::config`). Exit codes: 0 done, 1 runtime failure or an errored
//! run with `--once`, 2 configuration error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tokio::sync::watch;

use compliance::benchmarker::config::BenchmarkerConfig;
use compliance::benchmarker::version::VersionSearch;
use compliance::benchmarker::writer::{OpenStore, Writer, WriterSettings};
use compliance::benchmarker::{engine, service};
use compliance::config::{LogConfig, RawEnv};
use compliance::health::HealthServer;
use compliance::logging;
use compliance::model::BenchmarkDocument;
use compliance::store::{self, BenchmarkStore, OpenMode};

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
    ExitCode::from(run())
}

fn run() -> u8 {
    let args = Args::parse();
    let env = RawEnv::from_vars(std::env::vars());
    let log = match LogConfig::from_env(&env) {
        Ok(log) => log,
        Err(e) => return fail(false, 2, e.into()),
    };
    logging::init(log);
    let cfg = match BenchmarkerConfig::from_env(&env) {
        Ok(cfg) => cfg,
        Err(e) => return fail(log.json, 2, e.into()),
    };
    match benchmark(&args, &cfg) {
        Ok(code) => code,
        Err((code, err)) => fail(cfg.log.json, code, err),
    }
}

/// Everything after logging is set up; errors carry their exit code.
fn benchmark(args: &Args, cfg: &BenchmarkerConfig) -> Result<u8, (u8, anyhow::Error)> {
    // First, so that a busy HEALTH_PORT is refused before any work.
    let health = match cfg.health {
        Some(addr) => Some(HealthServer::start(addr).map_err(|e| (2, e.into()))?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            (
                1,
                anyhow::Error::new(e).context("cannot start the async runtime"),
            )
        })?;
    let search = VersionSearch::from_env();
    let (stop, cancel) = watch::channel(false);

    if args.once || args.output.is_some() {
        let doc = runtime
            .block_on(async {
                let _signals = tokio::spawn(stop_on_signal(stop));
                let mut cancel = cancel;
                service::run_once(cfg, &search, &mut cancel).await
            })
            .ok_or_else(|| {
                (
                    1,
                    anyhow::anyhow!("stopped by a signal before the run finished; nothing stored"),
                )
            })?
            .document;
        if let Some(h) = &health {
            h.state().set_ready(true);
        }
        // Outside the runtime: the Elasticsearch store runs its own.
        return finish_once(args, cfg, doc);
    }

    let datastore = cfg.datastore.clone();
    let open: OpenStore = Box::new(move || {
        store::open(&datastore, OpenMode::Create).map(|s| -> Box<dyn BenchmarkStore> { s })
    });
    let writer = Writer::start(open, WriterSettings::default()).map_err(|e| {
        (
            1,
            anyhow::Error::new(e).context("cannot start the store writer"),
        )
    })?;
    runtime.block_on(async {
        let _signals = tokio::spawn(stop_on_signal(stop));
        let state = health.as_ref().map(|h| h.state().clone());
        service::run_forever(cfg, &search, &writer, state, cancel).await;
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
    Ok(0)
}

/// Stores or writes the one document and prints the summary.
fn finish_once(
    args: &Args,
    cfg: &BenchmarkerConfig,
    doc: BenchmarkDocument,
) -> Result<u8, (u8, anyhow::Error)> {
    let summary = engine::describe(&doc);
    let errored = doc.is_errored();
    let place = match &args.output {
        Some(path) => {
            service::write_document(&doc, path).map_err(|e| {
                (
                    1,
                    anyhow::Error::new(e).context(format!("cannot write {}", path.display())),
                )
            })?;
            if path.as_os_str() == "-" {
                // The document is on standard output; the summary goes to the log only.
                tracing::info!("{summary}");
                return Ok(u8::from(errored));
            }
            format!("written to {}", path.display())
        }
        None => {
            let mut store = store::open(&cfg.datastore, OpenMode::Create)
                .map_err(|e| (e.exit_code(), e.into()))?;
            store
                .put_benchmarks(&mut std::iter::once(Ok(doc)))
                .map_err(|e| (e.exit_code(), e.into()))?;
            format!("stored in {}", cfg.datastore.describe())
        }
    };
    println!("{summary}; {place}");
    Ok(u8::from(errored))
}

/// Turns SIGTERM (the kubelet stopping the pod) or SIGINT into the stop signal.
async fn stop_on_signal(stop: watch::Sender<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot listen for SIGTERM; the benchmarker stops only when killed");
        // Keeps `stop` alive: a dropped sender would read as "stop now" to the run loop.
        std::future::pending::<()>().await;
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!("{name}: stopping (a running kube-bench is killed)");
    let _ = stop.send(true);
}

fn fail(json_logs: bool, code: u8, err: anyhow::Error) -> u8 {
    logging::report_failure(
        "compliance-benchmarker",
        "benchmarker failed",
        json_logs,
        code,
        err.as_ref(),
    )
}
