//! Third-party validators of the exports (docs/exports.md), for the tests: xmlschema
//! for `junit.xml` against `scripts/validators/junit.xsd`, and compliance-trestle's OSCAL
//! models for `oscal-assessment-results.json`; and Python's jsonschema for JSON documents
//! with a published schema (the notification payload, [`json_schema`]).
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

/// Checks `instance` against the JSON Schema in `schema` with Python's `jsonschema` (the
/// draft the schema names, formats included), from the validators' venv when it has the
/// package, else from `python3` on PATH. `None` after one SKIPPED line when neither has
/// it; panics with the validator's reasons when the instance or the schema is invalid.
pub fn json_schema(instance: &serde_json::Value, schema: &Path) -> Option<()> {
    const SCRIPT: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1], encoding="utf-8"))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
errors = sorted(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(json.load(sys.stdin)), key=str)
for e in errors[:10]:
    print(f"invalid at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
sys.exit(1 if errors else 0)
"#;
    let venv = Command::new("bash")
        .arg(repo_root().join("scripts/validators.sh"))
        .arg("python")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let has_jsonschema = |python: &Path| {
        Command::new(python)
            .args(["-c", "import jsonschema"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let Some(python) = venv
        .into_iter()
        .chain([PathBuf::from("python3")])
        .find(|p| has_jsonschema(p))
    else {
        eprintln!(
            "SKIPPED: no Python with jsonschema (the validators' venv or python3); pip install jsonschema"
        );
        return None;
    };
    let mut child = Command::new(&python)
        .args(["-c", SCRIPT])
        .arg(schema)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(instance.to_string().as_bytes())
            .expect("write the instance");
    }
    let out = child.wait_with_output().expect("jsonschema ran");
    assert!(
        out.status.success(),
        "{} does not accept the document:\n{}{}\n{instance:#}",
        schema.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(())
}
