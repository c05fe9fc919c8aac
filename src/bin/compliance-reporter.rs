//! compliance-reporter: computes and stores one CIS benchmark report, then exits.
//!
//! Configured entirely by the environment (docs/spec.md §7). The GlobalReport comes from the
//! Kubernetes API, or from YAML files when COMPLIANCE_RESOURCES is set. Exit codes: 0 stored, 1 runtime
//! failure, 2 configuration error, 3 stored but COMPLIANCE_FAIL_ON found failing nodes or new failures.
//! After storing, a regression since the previous report is sent to the receivers of
//! COMPLIANCE_NOTIFY_* (docs/notifications.md); that never changes the exit code.

use std::process::ExitCode;

use chrono::Utc;
use compliance::changes;
use compliance::failure::{self, EXIT_FAIL_ON, Failure};
use compliance::health::HealthServer;
use compliance::logging;
use compliance::notify;
use compliance::reporter;
use compliance::settings::reporter::{ReporterConfig, SpecSource};
use compliance::settings::{LogConfig, RawEnv};
use compliance_kube::{KubeSource, ReportSource, Resources};
use compliance_store::{BlockingStore, OpenMode};

fn main() -> ExitCode {
    failure::exit("compliance-reporter", "report failed", run())
}

fn run() -> Result<u8, Failure> {
    let env = RawEnv::from_os_vars(std::env::vars_os())?;
    // Logging first, so that with LOG_FORMAT=json even a bad variable is reported as JSON.
    logging::init(LogConfig::from_env(&env)?);
    let cfg = ReporterConfig::from_env(&env, Utc::now())?;
    // First, so a busy HEALTH_PORT is refused before any work; served until we return.
    let _health = match cfg.health {
        Some(addr) => {
            let server = HealthServer::start(addr)?;
            server.state().set_ready(true);
            tracing::debug!(address = %server.local_addr(), "serving /liveness");
            Some(server)
        }
        None => None,
    };
    let source: Box<dyn ReportSource> = match &cfg.source {
        SpecSource::Files(path) => Box::new(Resources::load(path).map_err(|e| {
            Failure::from(e).context(format!("COMPLIANCE_RESOURCES={}", path.display()))
        })?),
        SpecSource::Kubernetes(settings) => {
            Box::new(KubeSource::connect(settings.clone(), &cfg.report_name)?)
        }
    };
    // Prunes by COMPLIANCE_*_RETENTION once the report is stored (SQLite).
    let mut store =
        BlockingStore::open(&cfg.datastore, OpenMode::Create)?.with_retention(cfg.retention);
    tracing::debug!(datastore = %cfg.datastore.describe(), "store");
    // Report times are whole seconds (Go's RFC 3339), whichever store keeps them.
    let generation_time = compliance_core::time::truncate_to_seconds(Utc::now());
    let outcome = reporter::run(&cfg, source.as_ref(), &mut store, generation_time)?;
    println!("{}", reporter::summary_line(&outcome));
    // After storing: the report is kept whatever the notifications and the gate say. Both
    // compare with the previous report; they share one comparison.
    let mut previous = changes::PreviousDiff::new(&store, &outcome.report);
    notify::run(&store, &cfg.notify, &mut previous);
    let holds = changes::fail_on_holds_with(&mut previous, cfg.fail_on)?;
    for (condition, text) in &holds {
        print!("COMPLIANCE_FAIL_ON={condition}: {text}");
    }
    if !holds.is_empty() {
        return Ok(EXIT_FAIL_ON);
    }
    Ok(failure::EXIT_OK)
}
