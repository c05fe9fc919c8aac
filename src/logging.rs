//! Structured logs on standard error, configured by LOG_LEVEL and LOG_FORMAT.

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

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
    // A second init (tests calling run twice) keeps the first subscriber.
    let _ = if cfg.json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Reports a failure that ends the program and returns its exit `code`: as one JSON log
/// line (`message` = `what`) when logs are JSON, so the stream stays machine-readable,
/// otherwise as `PROGRAM: error: CHAIN` on standard error.
pub fn report_failure(
    program: &str,
    what: &str,
    json_logs: bool,
    code: u8,
    err: &(dyn std::error::Error + 'static),
) -> u8 {
    let error = error_chain(err);
    if json_logs {
        tracing::error!(%error, exit_code = code, "{what}");
    } else {
        eprintln!("{program}: error: {error}");
    }
    code
}

/// An error and its causes on one line, each cause once.
///
/// Many messages already quote their cause (`cannot read x: No such file`) so that they
/// read well on their own, in logs for instance; printing the chain naively (`{:#}`) would
/// repeat it. A cause whose text is already in the line is skipped.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {path}: {source}")]
    struct Quoting {
        path: &'static str,
        #[source]
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("import failed")]
    struct Terse(#[source] std::io::Error);

    #[test]
    fn error_chain_names_each_cause_once() {
        let quoting = Quoting {
            path: "a.json",
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        };
        assert_eq!(error_chain(&quoting), "cannot read a.json: no such file");
        let terse = Terse(std::io::Error::other("disk full"));
        assert_eq!(error_chain(&terse), "import failed: disk full");
        let wrapped = anyhow::Error::new(quoting).context("COMPLIANCE_RESOURCES=a.json");
        assert_eq!(
            error_chain(wrapped.as_ref()),
            "COMPLIANCE_RESOURCES=a.json: cannot read a.json: no such file"
        );
    }
}
