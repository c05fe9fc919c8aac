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
    let ansi = colours(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false);
    JSON.store(cfg.json, Ordering::Relaxed);
    // A second init (tests calling run twice) keeps the first subscriber.
    let _ = if cfg.json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Whether text log lines are coloured: only on a terminal, and not when `NO_COLOR` is set
/// to anything but the empty string (no-color.org).
///
/// In a pod, standard error is a pipe into the node's log files, and colour codes there
/// split every `key=value` in `kubectl logs` and in log search.
fn colours(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::colours;
    use std::ffi::OsStr;

    #[test]
    fn text_logs_are_coloured_only_on_a_terminal_without_no_color() {
        assert!(colours(true, None));
        assert!(colours(true, Some(OsStr::new(""))));
        assert!(!colours(true, Some(OsStr::new("1"))));
        assert!(!colours(false, None));
        assert!(!colours(false, Some(OsStr::new(""))));
    }
}
