//! compliance-reporter: computes and stores one CIS benchmark report, then exits.
//!
//! Configured entirely by the environment (SPEC §7). Exit codes: 0 stored, 1 runtime
//! failure, 2 configuration error, 3 stored but COMPLIANCE_FAIL_ON found failing nodes.

use std::process::ExitCode;

use chrono::Utc;
use compliance::config::{RawEnv, ReporterConfig};
use compliance::reporter::{self, EXIT_FAIL_ON};
use compliance::resources::Resources;
use compliance::{logging, store};

fn main() -> ExitCode {
    ExitCode::from(run())
}

fn run() -> u8 {
    let env = RawEnv::from_vars(std::env::vars());
    let cfg = match ReporterConfig::from_env(&env, Utc::now()) {
        Ok(cfg) => cfg,
        Err(e) => return fail(2, e.into()),
    };
    logging::init(cfg.log);
    let Some(path) = &cfg.resources else {
        return fail(
            2,
            anyhow::anyhow!(
                "COMPLIANCE_RESOURCES is not set: point it at a GlobalReport manifest file or directory (reading GlobalReports from the Kubernetes API is not available in this build)"
            ),
        );
    };
    let source = match Resources::load(path) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                2,
                anyhow::Error::new(e).context(format!("COMPLIANCE_RESOURCES={}", path.display())),
            );
        }
    };
    let mut store = match store::open(&cfg.datastore, store::OpenMode::Create) {
        Ok(s) => s,
        Err(e) => return fail(1, e.into()),
    };
    // Report times are whole seconds (Go's RFC 3339), whichever store keeps them.
    let generation_time = compliance::model::time::truncate_to_seconds(Utc::now());
    match reporter::run(&cfg, &source, store.as_mut(), generation_time) {
        Ok(outcome) => {
            println!("{}", reporter::summary_line(&outcome));
            if let Some(level) = cfg.fail_on
                && let Some(text) = reporter::fail_on_report(&outcome.report, level)
            {
                print!(
                    "COMPLIANCE_FAIL_ON={}: {text}",
                    level.as_str().to_ascii_lowercase()
                );
                return EXIT_FAIL_ON;
            }
            0
        }
        Err(e) => {
            let code = e.exit_code();
            fail(code, e.into())
        }
    }
}

/// Prints the whole error chain and returns the exit code.
fn fail(code: u8, err: anyhow::Error) -> u8 {
    tracing::error!(error = %format!("{err:#}"), "report failed");
    eprintln!("compliance-reporter: error: {err:#}");
    code
}
