//! What kind of failure an error is, and the one policy that turns a kind into an exit
//! code or an HTTP status.
//!
//! Every error type of the workspace says which [`ErrorKind`] it is ([`Classify`]); the
//! binaries and the server never decide codes case by case. The same failure then exits
//! the same way from every binary and answers the same status from the server: a missing
//! report is `NotFound` (exit 2, HTTP 404) whether the CLI or a browser asked for it.

use std::error::Error;
use std::fmt;

/// The kinds of failure, by what someone has to do about them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// What was asked for does not exist (a report id, a GlobalReport).
    NotFound,
    /// A dependency did not answer or failed in a way that may pass: retrying later can
    /// succeed (a store that is down, an API server timing out, a full disk).
    Unavailable,
    /// The installation must change: a bad variable, credentials or privileges refused,
    /// a missing CRD. Waiting does not help.
    Configuration,
    /// The input is wrong: a bad file, flag, manifest or request parameter.
    Invalid,
    /// A bug or a broken invariant: corrupt stored data, an encoding that cannot fail
    /// failing.
    Internal,
}

/// Exit code of a successful run.
pub const EXIT_OK: u8 = 0;
/// Exit code of a runtime failure: something may succeed when run again.
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code of bad input or configuration: nothing was read or written.
pub const EXIT_CONFIGURATION: u8 = 2;
/// Exit code when a report was stored (or shown) but `COMPLIANCE_FAIL_ON` / `--fail-on`
/// found nodes rated at or below the level.
pub const EXIT_FAIL_ON: u8 = 3;

impl ErrorKind {
    /// 2 when someone must change the input or the configuration (not found, invalid,
    /// configuration), 1 when running again may succeed (unavailable, internal).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::NotFound | ErrorKind::Invalid | ErrorKind::Configuration => {
                EXIT_CONFIGURATION
            }
            ErrorKind::Unavailable | ErrorKind::Internal => EXIT_RUNTIME,
        }
    }

    /// 404 not found, 400 invalid, 503 unavailable (the client may retry), and 500 for
    /// the server's own configuration or a bug: neither is the client's to fix.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::Invalid => 400,
            ErrorKind::Unavailable => 503,
            ErrorKind::Configuration | ErrorKind::Internal => 500,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Configuration => "configuration",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that knows its [`ErrorKind`].
pub trait Classify {
    fn kind(&self) -> ErrorKind;
}

/// An error and its causes on one line, each cause once.
///
/// Many messages already quote their cause (`cannot read x: No such file`) so that they
/// read well on their own, in logs for instance; printing the chain naively (`{:#}`) would
/// repeat it. A cause whose text is already in the line is skipped.
pub fn chain(err: &(dyn Error + 'static)) -> String {
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

    #[derive(Debug, thiserror::Error)]
    #[error("COMPLIANCE_RESOURCES=a.json")]
    struct Context(#[source] Quoting);

    #[test]
    fn error_chain_names_each_cause_once() {
        let quoting = || Quoting {
            path: "a.json",
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        };
        assert_eq!(chain(&quoting()), "cannot read a.json: no such file");
        let terse = Terse(std::io::Error::other("disk full"));
        assert_eq!(chain(&terse), "import failed: disk full");
        assert_eq!(
            chain(&Context(quoting())),
            "COMPLIANCE_RESOURCES=a.json: cannot read a.json: no such file"
        );
    }

    #[test]
    fn kinds_that_need_a_change_exit_2_and_kinds_that_may_pass_exit_1() {
        use ErrorKind::*;
        for (kind, code, status) in [
            (NotFound, 2, 404),
            (Invalid, 2, 400),
            (Configuration, 2, 500),
            (Unavailable, 1, 503),
            (Internal, 1, 500),
        ] {
            assert_eq!(kind.exit_code(), code, "{kind}");
            assert_eq!(kind.http_status(), status, "{kind}");
        }
    }
}
