//! compliance-reporter: computes and stores one CIS benchmark report, then exits.
//!
//! Configured entirely by the environment (SPEC §7). The GlobalReport comes from the
//! Kubernetes API, or from YAML files when COMPLIANCE_RESOURCES is set. Exit codes: 0 stored, 1 runtime
//! failure, 2 configuration error, 3 stored but COMPLIANCE_FAIL_ON found failing nodes.

use std::process::ExitCode;

use chrono::Utc;
use compliance::config::{LogConfig, RawEnv, ReporterConfig, SpecSource};
use compliance::health::HealthServer;
use compliance::k8s::KubeSource;
use compliance::reporter::{self, EXIT_FAIL_ON};
use compliance::resources::{ReportSource, Resources};
use compliance::{logging, store};

fn main() -> ExitCode {
    ExitCode::from(run())
}

fn run() -> u8 {
    let env = RawEnv::from_vars(std::env::vars());
    // Logging first, so that with LOG_FORMAT=json even a bad variable is reported as JSON.
    let log = match LogConfig::from_env(&env) {
        Ok(log) => log,
        Err(e) => return fail(false, 2, e.into()),
    };
    logging::init(log);
    let cfg = match ReporterConfig::from_env(&env, Utc::now()) {
        Ok(cfg) => cfg,
        Err(e) => return fail(log.json, 2, e.into()),
    };
    match report(&cfg) {
        Ok(code) => code,
        Err((code, err)) => fail(cfg.log.json, code, err),
    }
}

/// Everything after logging is set up; errors carry their exit code.
fn report(cfg: &ReporterConfig) -> Result<u8, (u8, anyhow::Error)> {
    // First, so a busy HEALTH_PORT is refused before any work; served until we return.
    let _health = match cfg.health {
        Some(addr) => {
            let server = HealthServer::start(addr).map_err(|e| (2, e.into()))?;
            server.state().set_ready(true);
            tracing::debug!(address = %server.local_addr(), "serving /liveness");
            Some(server)
        }
        None => None,
    };
    let source: Box<dyn ReportSource> = match &cfg.source {
        SpecSource::Files(path) => Box::new(Resources::load(path).map_err(|e| {
            let err =
                anyhow::Error::new(e).context(format!("COMPLIANCE_RESOURCES={}", path.display()));
            (2, err)
        })?),
        SpecSource::Kubernetes(settings) => Box::new(
            KubeSource::connect(settings.clone(), &cfg.report_name)
                .map_err(|e| (e.exit_code(), e.into()))?,
        ),
    };
    let mut store = store::open(&cfg.datastore, store::OpenMode::Create)
        .map_err(|e| (e.exit_code(), e.into()))?;
    tracing::debug!(datastore = %cfg.datastore.describe(), "store");
    // Report times are whole seconds (Go's RFC 3339), whichever store keeps them.
    let generation_time = compliance::model::time::truncate_to_seconds(Utc::now());
    let outcome = reporter::run(cfg, source.as_ref(), store.as_mut(), generation_time)
        .map_err(|e| (e.exit_code(), e.into()))?;
    println!("{}", reporter::summary_line(&outcome));
    if let Some(level) = cfg.fail_on
        && let Some(text) = reporter::fail_on_report(&outcome.report, level)
    {
        print!(
            "COMPLIANCE_FAIL_ON={}: {text}",
            level.as_str().to_ascii_lowercase()
        );
        return Ok(EXIT_FAIL_ON);
    }
    Ok(0)
}

fn fail(json_logs: bool, code: u8, err: anyhow::Error) -> u8 {
    logging::report_failure(
        "compliance-reporter",
        "report failed",
        json_logs,
        code,
        err.as_ref(),
    )
}
