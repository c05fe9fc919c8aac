//! The one failure policy of the binaries: an error's [`ErrorKind`] decides the exit
//! code, and the last line says what failed in the format of every other log line.

use std::process::ExitCode;

use compliance_core::error::{Classify, ErrorKind, chain};

pub use compliance_core::error::{EXIT_CONFIGURATION, EXIT_FAIL_ON, EXIT_OK, EXIT_RUNTIME};

/// Why a program stops: the error, and what kind of failure it is.
#[derive(Debug)]
pub struct Failure {
    pub kind: ErrorKind,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(kind: ErrorKind, error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            kind,
            error: error.into(),
        }
    }

    /// Bad input: a flag, a file, a manifest (exit 2).
    pub fn invalid(error: impl Into<anyhow::Error>) -> Failure {
        Failure::new(ErrorKind::Invalid, error)
    }

    /// Something that may succeed when run again: IO, a server (exit 1).
    pub fn unavailable(error: impl Into<anyhow::Error>) -> Failure {
        Failure::new(ErrorKind::Unavailable, error)
    }

    /// The error with `context` in front (`COMPLIANCE_RESOURCES=reports.yaml: ...`),
    /// keeping its kind.
    pub fn context(self, context: impl std::fmt::Display + Send + Sync + 'static) -> Failure {
        Failure {
            kind: self.kind,
            error: self.error.context(context),
        }
    }

    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
}

/// Every classified error converts with its own kind, so `?` is the whole policy.
impl<E> From<E> for Failure
where
    E: Classify + std::error::Error + Send + Sync + 'static,
{
    fn from(e: E) -> Failure {
        Failure::new(e.kind(), e)
    }
}

/// The end of every binary's `main`: the exit code of a finished `run` (0, or 3 for
/// `--fail-on`), or the failure reported and its kind's exit code.
///
/// The failure goes to standard error as one JSON log line (`message` = `what`) when
/// logs are JSON, so the stream stays machine-readable; otherwise as
/// `PROGRAM: error: CHAIN`, each cause once.
pub fn exit(program: &str, what: &str, result: Result<u8, Failure>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            let code = failure.exit_code();
            let error = chain(failure.error.as_ref());
            if crate::logging::json() {
                tracing::error!(%error, exit_code = code, kind = %failure.kind, "{what}");
            } else {
                // Lines are kept (some errors list what they refused, a line each); what
                // else a terminal acts on, from quoted outside text, is escaped.
                let error: Vec<_> = error.split('\n').map(crate::show::terminal).collect();
                eprintln!("{program}: error: {}", error.join("\n"));
            }
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("no report with id {0:?}")]
    struct Missing(String);

    impl Classify for Missing {
        fn kind(&self) -> ErrorKind {
            ErrorKind::NotFound
        }
    }

    #[test]
    fn a_classified_error_keeps_its_kind_through_question_mark_and_context() {
        fn run() -> Result<u8, Failure> {
            Err(Missing("r1".into()))?
        }
        let failure = run().unwrap_err().context("reports show");
        assert_eq!(failure.kind, ErrorKind::NotFound);
        assert_eq!(failure.exit_code(), 2);
        assert_eq!(
            chain(failure.error.as_ref()),
            "reports show: no report with id \"r1\""
        );
    }
}
