//! Third-party validators of the exports (docs/exports.md), for the tests: xmlschema
//! for `junit.xml` against `scripts/validators/junit.xsd`, and compliance-trestle's OSCAL
//! models for `oscal-assessment-results.json`.
//!
//! They live in a Python virtual environment that `scripts/validators.sh ensure` makes
//! (`make test` runs it). [`Validators::find`] returns `None` after one `SKIPPED: ...`
//! line when that environment is not there, as the browser and API-server harnesses do,
//! so the test returns early and passes; an installed validator that rejects an export
//! is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The root of the repository.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/testkit sits two levels below the root")
        .to_path_buf()
}

/// The validators' Python, found through `scripts/validators.sh check`.
pub struct Validators {
    python: PathBuf,
}

impl Validators {
    /// The installed validators, or `None` (after one SKIPPED line) when
    /// `scripts/validators.sh ensure` has not installed them here.
    pub fn find() -> Option<Validators> {
        let script = repo_root().join("scripts/validators.sh");
        let check = Command::new("bash").arg(&script).arg("check").output();
        match check {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                eprintln!(
                    "SKIPPED: the export validators are not installed ({}); run scripts/validators.sh ensure",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                return None;
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run {}: {e}", script.display());
                return None;
            }
        }
        let out = Command::new("bash")
            .arg(&script)
            .arg("python")
            .output()
            .expect("validators.sh python");
        let python = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Some(Validators { python })
    }

    /// Checks `file` against the JUnit schema; panics with the validator's reasons when it
    /// is not valid. Returns what the validator printed.
    pub fn junit(&self, file: &Path) -> String {
        let xsd = repo_root().join("scripts/validators/junit.xsd");
        self.run(&["junit".as_ref(), file.as_os_str(), xsd.as_os_str()])
    }

    /// Checks `file` as OSCAL assessment results; panics with the validator's reasons when
    /// it is not valid. Returns what the validator printed.
    pub fn oscal(&self, file: &Path) -> String {
        self.run(&["oscal".as_ref(), file.as_os_str()])
    }

    fn run(&self, args: &[&std::ffi::OsStr]) -> String {
        let script = repo_root().join("scripts/validators/validate.py");
        let out = Command::new(&self.python)
            .arg(&script)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.python.display()));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "the validator rejected {:?}:\n{stdout}{}",
            args,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}
