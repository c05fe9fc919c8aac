//! Structured logs on standard error, configured by LOG_LEVEL and LOG_FORMAT.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;

use crate::settings::LogConfig;

/// Whether log lines are JSON: set once by [`init`], read by the failure policy so that
/// the line a failing program ends with is written like every other line.
static JSON: AtomicBool = AtomicBool::new(false);

/// Whether [`init`] chose JSON lines (LOG_FORMAT=json).
pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Installs the global subscriber. Standard output stays free for results (summary lines,
/// CSV on `-`), so every log line goes to standard error.
pub fn init(cfg: LogConfig) {
    // kube-client logs every failed request at ERROR before our retry decides anything;
    // our own messages say what failed and what happens next, so its lines are kept for
    // LOG_LEVEL=debug (or trace) only.
    let directives = if matches!(cfg.level, "debug" | "trace") {
        cfg.level.to_string()
    } else {
        format!("{},kube_client=off", cfg.level)
    };
    let filter = EnvFilter::new(directives);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    JSON.store(cfg.json, Ordering::Relaxed);
    // A second init (tests calling run twice) keeps the first subscriber.
    let _ = if cfg.json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
