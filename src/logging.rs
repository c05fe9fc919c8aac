//! Structured logs on standard error, configured by LOG_LEVEL and LOG_FORMAT.

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Installs the global subscriber. Standard output stays free for results (summary lines,
/// CSV on `-`), so every log line goes to standard error.
pub fn init(cfg: LogConfig) {
    // kube-client logs every failed request at ERROR before our retry decides anything;
    // our own messages say what failed and what happens next, so its lines are kept for
    // LOG_LEVEL=debug only.
    let directives = if cfg.level == "debug" {
        cfg.level.to_string()
    } else {
        format!("{},kube_client=off", cfg.level)
    };
    let filter = EnvFilter::new(directives);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second init (tests calling run twice) keeps the first subscriber.
    let _ = if cfg.json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
