//! Structured logs on standard error, configured by LOG_LEVEL and LOG_FORMAT.

use std::borrow::Cow;
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
        .with_ansi(ansi)
        .with_target(false);
    JSON.store(cfg.json, Ordering::Relaxed);
    // A second init (tests calling run twice) keeps the first subscriber. JSON escapes
    // its own strings; text lines are escaped on their way out.
    let _ = if cfg.json {
        builder
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .try_init()
    } else {
        builder
            .with_writer(move || Escaping {
                out: std::io::stderr(),
                keep_colours: ansi,
            })
            .try_init()
    };
}

/// A text log line with the characters a terminal or a log reader acts on escaped.
///
/// Log fields carry text from outside (node names, kube-bench output, a store's error
/// text), and a raw line feed or carriage return in one would start a forged log line;
/// ESC would clear or rewrite a terminal tailing the logs. Every such character but the
/// line's own final line feed is written as a Rust escape (`\n`, `\r`, `\u{1b}`), as
/// `compliancectl reports show` writes them. With `keep_colours` (a terminal), colour
/// sequences (`ESC [ digits ; m`, all the log's own codes are) stay: they can change
/// nothing but colours.
pub fn escape_line(line: &str, keep_colours: bool) -> Cow<'_, str> {
    let (body, end) = match line.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (line, ""),
    };
    let mut out = String::new();
    let mut rest = body;
    while let Some(at) = rest.find('\u{1b}').filter(|_| keep_colours) {
        let after = &rest[at + 1..];
        let colour = after.strip_prefix('[').and_then(|params| {
            let n = params.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
            (params[n..].starts_with('m')).then_some(n + 2)
        });
        match colour {
            Some(len) => {
                out.push_str(&crate::show::terminal(&rest[..at]));
                out.push_str(&rest[at..at + 1 + len]);
                rest = &rest[at + 1 + len..];
            }
            None => {
                out.push_str(&crate::show::terminal(&rest[..=at]));
                rest = after;
            }
        }
    }
    if out.is_empty() {
        return match crate::show::terminal(body) {
            Cow::Borrowed(_) => Cow::Borrowed(line),
            Cow::Owned(mut escaped) => {
                escaped.push_str(end);
                Cow::Owned(escaped)
            }
        };
    }
    out.push_str(&crate::show::terminal(rest));
    out.push_str(end);
    Cow::Owned(out)
}

/// Standard error for text log lines: each write (tracing-subscriber writes one whole
/// line at a time) goes out escaped by [`escape_line`], in one write.
struct Escaping<W> {
    out: W,
    keep_colours: bool,
}

impl<W: std::io::Write> std::io::Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.out
            .write_all(escape_line(&text, self.keep_colours).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
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
    use super::{Escaping, colours, escape_line};
    use std::ffi::OsStr;
    use std::io::Write;

    #[test]
    fn text_log_lines_escape_what_would_forge_a_line_or_drive_a_terminal() {
        for keep in [false, true] {
            assert_eq!(escape_line("plain line\n", keep), "plain line\n");
            assert!(matches!(
                escape_line("plain line\n", keep),
                std::borrow::Cow::Borrowed(_)
            ));
            assert_eq!(
                escape_line(" WARN skipping node=a\nFAKE ERROR x\n", keep),
                " WARN skipping node=a\\nFAKE ERROR x\n"
            );
            assert_eq!(
                escape_line("reason=\u{1b}[2J\r\u{202e}x\n", keep),
                "reason=\\u{1b}[2J\\r\\u{202e}x\n"
            );
            assert_eq!(escape_line("no end\r", keep), "no end\\r");
            assert_eq!(
                escape_line("osc \u{1b}]0;title\u{7}", keep),
                "osc \\u{1b}]0;title\\u{7}"
            );
        }
        // On a terminal the colours stay, and only they.
        let coloured =
            "\u{1b}[2m2026\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m node\u{1b}[2m=\u{1b}[0ma\u{1b}[1Kb\n";
        assert_eq!(
            escape_line(coloured, true),
            "\u{1b}[2m2026\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m node\u{1b}[2m=\u{1b}[0ma\\u{1b}[1Kb\n"
        );
        assert_eq!(
            escape_line(coloured, false),
            coloured
                .strip_suffix('\n')
                .unwrap()
                .replace('\u{1b}', "\\u{1b}")
                + "\n"
        );
        assert_eq!(escape_line("end \u{1b}[", true), "end \\u{1b}[");

        let mut out = Escaping {
            out: Vec::new(),
            keep_colours: false,
        };
        out.write_all(b"node=\xffa\nb\n").unwrap();
        assert_eq!(out.out, "node=\u{fffd}a\\nb\n".as_bytes());
    }

    #[test]
    fn text_logs_are_coloured_only_on_a_terminal_without_no_color() {
        assert!(colours(true, None));
        assert!(colours(true, Some(OsStr::new(""))));
        assert!(!colours(true, Some(OsStr::new("1"))));
        assert!(!colours(false, None));
        assert!(!colours(false, Some(OsStr::new(""))));
    }
}
