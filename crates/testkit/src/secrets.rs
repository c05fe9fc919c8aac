//! The secrets tests hand to the programs, and the programs' output kept for the log scan.
//!
//! Every password, API key and token a test gives a program is registered here, and
//! every run of a program keeps its stdout and stderr here; after the suite,
//! `scripts/secret-scan.sh` looks for each registered secret in each kept log and in the
//! test harness's own output, and fails the run when one shows (docs/security.md).
//!
//! Both live under COMPLIANCE_TEST_LOGS (set by `make test`; default
//! `target/test-logs` in the repository): `secrets/<pid>.txt` (one secret a line) and
//! `<test binary>-<pid>-<n>-<label>.log`. Writing is best effort: a test never fails
//! because its log could not be kept, but the scan fails when nothing was kept at all.

use std::io::Write;
use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The Elasticsearch password of the tests that run programs against a password-checking
/// fake Elasticsearch.
pub const ELASTIC_PASSWORD: &str = "s3cret-pw-Zq81";
/// The Elasticsearch API key (base64 of `id:key`) of the API-key tests.
pub const ELASTIC_API_KEY: &str = "c2NhbjprM3ktWTcyag==";
/// The secret part of the notification receivers' URLs and headers.
pub const NOTIFY_SECRET: &str = "S3CRET-T0KEN-h4Wp";

/// Where secrets and logs are kept: COMPLIANCE_TEST_LOGS, else `target/test-logs`.
pub fn dir() -> PathBuf {
    std::env::var_os("COMPLIANCE_TEST_LOGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::fixtures::root().join("target/test-logs"))
}

/// Registers `secret` for the scan and gives it back. Values shorter than 8 characters
/// are refused: they would match ordinary words, and a test should not use them.
pub fn register(secret: &str) -> &str {
    assert!(
        secret.len() >= 8 && !secret.contains('\n'),
        "a test secret must be one line of at least 8 characters: {} characters",
        secret.len()
    );
    append(
        &dir()
            .join("secrets")
            .join(format!("{}.txt", std::process::id())),
        &format!("{secret}\n"),
    );
    secret
}

/// Registers a secret minted at run time (a ServiceAccount token).
pub fn minted(secret: &str) {
    register(secret);
}

/// Registers the constants above: called by the tests that use them.
pub fn register_constants() {
    for s in [ELASTIC_PASSWORD, ELASTIC_API_KEY, NOTIFY_SECRET] {
        register(s);
    }
}

/// Keeps a finished program's stdout and stderr for the scan, and gives the output back.
pub fn keep(label: &str, out: Output) -> Output {
    keep_text(label, &out.stdout, &out.stderr);
    out
}

/// Keeps a running program's output read from elsewhere (a log file), for the scan.
pub fn keep_text(label: &str, stdout: &[u8], stderr: &[u8]) {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "test".into());
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let path = dir().join(format!("{binary}-{}-{n}-{label}.log", std::process::id()));
    let mut text = Vec::with_capacity(stdout.len() + stderr.len() + 32);
    text.extend_from_slice(b"--- stdout\n");
    text.extend_from_slice(stdout);
    text.extend_from_slice(b"\n--- stderr\n");
    text.extend_from_slice(stderr);
    append_bytes(&path, &text);
}

fn append(path: &std::path::Path, text: &str) {
    append_bytes(path, text.as_bytes());
}

fn append_bytes(path: &std::path::Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(bytes);
    }
}

/// `.output().kept()`: unwraps a finished program's output and keeps it for the scan.
pub trait Kept {
    /// The output, kept; panics when the program could not be started, as `unwrap` does.
    fn kept(self) -> Output;
}

impl Kept for std::io::Result<Output> {
    #[track_caller]
    fn kept(self) -> Output {
        match self {
            Ok(out) => keep("run", out),
            Err(e) => panic!("could not run the program: {e}"),
        }
    }
}
