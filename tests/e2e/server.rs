//! compliance-server and `compliancectl serve` as processes: HTTPS with a self-signed or
//! a given certificate, the API over a real SQLite store, settings refused by name, and a
//! clean stop on SIGTERM.
//!
//! Each server listens on port 0 and the test reads the address from its log, so no two
//! tests race for a port.

use compliance_testkit::secrets::Kept as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use compliance_store::{BlockingStore, Datastore, OpenMode};
use compliance_testkit::fixtures::{stderr, wait_until};
use compliance_testkit::process;
use compliance_testkit::reports::fixture_report;
use serde_json::Value;
use tempfile::TempDir;

const STARTUP: Duration = Duration::from_secs(30);

/// A SQLite store holding one report, in a fresh directory.
fn store_with_a_report() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("compliance.db");
    let store = BlockingStore::open(&Datastore::Sqlite(db.clone()), OpenMode::Create).unwrap();
    let end = Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap();
    store.put_report(&fixture_report(end)).unwrap();
    (dir, db)
}

/// A server process with its standard output and error in files.
pub(crate) struct Running {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Running {
    pub(crate) fn spawn(mut cmd: Command, dir: &Path, name: &str) -> Running {
        let out = dir.join(format!("{name}.out"));
        let err = dir.join(format!("{name}.err"));
        cmd.stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .stdin(Stdio::null());
        Running {
            child: cmd.spawn().unwrap(),
            out,
            err,
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// The address after `marker` in `text` once it appears (the process must not exit
    /// first).
    pub(crate) fn address(
        &mut self,
        what: &str,
        marker: &str,
        text: impl Fn(&Running) -> String,
    ) -> String {
        let mut found = None;
        wait_until(what, STARTUP, || {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("exited with {status} before {what}: {}", self.log());
            }
            found = text(self).split_once(marker).map(|(_, rest)| {
                rest.chars()
                    .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | ':' | '[' | ']'))
                    .collect::<String>()
            });
            found.as_ref().is_some_and(|a| a.contains(':'))
        });
        found.unwrap()
    }

    /// SIGTERM, then the exit status and how long the process took to stop.
    fn terminate(mut self) -> (ExitStatus, Duration, String) {
        process::terminate(self.child.id());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed(), self.log());
            }
            if started.elapsed() > Duration::from_secs(30) {
                panic!("no exit 30s after SIGTERM: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        compliance_testkit::secrets::keep_text(
            "server",
            self.stdout().as_bytes(),
            self.log().as_bytes(),
        );
    }
}

pub(crate) fn server_command(db: &Path, vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_compliance-server"));
    cmd.env_clear()
        .env("COMPLIANCE_DATASTORE", format!("sqlite:{}", db.display()))
        .env("LOG_FORMAT", "json")
        .envs(vars.iter().copied());
    cmd
}

/// compliance-server on a free loopback port without authentication.
fn start_server(dir: &Path, db: &Path, vars: &[(&str, &str)]) -> (Running, String) {
    let mut all = vec![
        ("COMPLIANCE_SERVER_AUTH", "none"),
        ("LISTEN_ADDR", "127.0.0.1:0"),
    ];
    all.extend_from_slice(vars);
    let mut server = Running::spawn(server_command(db, &all), dir, "server");
    let addr = server.address(
        "the server to listen",
        "listening on https://",
        Running::log,
    );
    (server, addr)
}

/// The JSON log lines of a process.
fn log_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub(crate) fn https_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The DER certificate the server presented for `response`.
fn peer_certificate(response: &reqwest::blocking::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("the TLS information of the response")
        .to_vec()
}

fn version_is_calicos(body: &Value) {
    for key in ["version", "buildDate", "gitTagRef", "gitCommit"] {
        assert!(body[key].is_string(), "{key} in {body}");
    }
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn without_certificate_files_it_serves_https_self_signed_and_says_so() {
    let (dir, db) = store_with_a_report();
    let (server, addr) = start_server(dir.path(), &db, &[]);
    let client = https_client();

    let response = client
        .get(format!("https://{addr}/compliance/version"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let served = peer_certificate(&response);
    version_is_calicos(&response.json().unwrap());

    // The log warns and gives the fingerprint of the certificate actually served.
    let lines = log_lines(&server.log());
    let warning = lines
        .iter()
        .find(|l| {
            l["level"] == "WARN" && l["message"].as_str().unwrap_or("").contains("self-signed")
        })
        .unwrap_or_else(|| panic!("no warning about the self-signed certificate: {lines:?}"));
    assert_eq!(
        warning["sha256"].as_str(),
        Some(compliance::tls::fingerprint(&served).as_str())
    );

    let list: Value = client
        .get(format!("https://{addr}/compliance/reports"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list["count"], 1, "{list}");
    assert_eq!(list["reports"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["reports"][0]["name"], "daily-cis-results");

    // Plain HTTP on the HTTPS port gets nothing useful.
    let plain = reqwest::blocking::Client::new()
        .get(format!("http://{addr}/compliance/version"))
        .timeout(Duration::from_secs(10))
        .send();
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));

    let (status, took, log) = server.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(log.contains("SIGTERM"), "{log}");
}

#[test]
fn with_certificate_files_it_serves_that_certificate() {
    let (dir, db) = store_with_a_report();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let (server, addr) = start_server(
        dir.path(),
        &db,
        &[
            ("TLS_CERT", cert.to_str().unwrap()),
            ("TLS_KEY", key.to_str().unwrap()),
        ],
    );
    let port = addr.rsplit_once(':').unwrap().1;
    // Verified against the certificate as the only root: no "accept invalid" here.
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(made.cert.pem().as_bytes()).unwrap())
        .tls_info(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let response = client
        .get(format!("https://localhost:{port}/compliance/version"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(peer_certificate(&response), made.cert.der().to_vec());
    assert!(
        !server.log().contains("self-signed certificate that"),
        "{}",
        server.log()
    );
    let (status, _, log) = server.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn bad_settings_exit_2_naming_the_variable() {
    let (dir, db) = store_with_a_report();
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    for (vars, named) in [
        (
            vec![("LISTEN_ADDR", "nonsense")],
            vec!["LISTEN_ADDR", "nonsense"],
        ),
        (
            vec![
                ("COMPLIANCE_SERVER_AUTH", "none"),
                ("LISTEN_ADDR", "0.0.0.0:0"),
            ],
            vec![
                "LISTEN_ADDR",
                "0.0.0.0:0",
                "COMPLIANCE_SERVER_ALLOW_UNAUTHENTICATED",
            ],
        ),
        (
            vec![("COMPLIANCE_SERVER_AUTH", "maybe")],
            vec!["COMPLIANCE_SERVER_AUTH", "maybe"],
        ),
        (
            vec![
                ("COMPLIANCE_SERVER_AUTH", "none"),
                ("LISTEN_ADDR", "127.0.0.1:0"),
                ("TLS_CERT", missing),
                ("TLS_KEY", missing),
            ],
            vec!["TLS_CERT", missing],
        ),
    ] {
        let out = server_command(&db, &vars)
            .env("LOG_FORMAT", "text")
            .output()
            .kept();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{vars:?}: {err}");
        for n in named {
            assert!(err.contains(n), "{vars:?}: {n} not named in {err}");
        }
    }
}

#[test]
fn no_authentication_beyond_loopback_when_allowed_twice() {
    let (dir, db) = store_with_a_report();
    let mut server = Running::spawn(
        server_command(
            &db,
            &[
                ("COMPLIANCE_SERVER_AUTH", "none"),
                ("COMPLIANCE_SERVER_ALLOW_UNAUTHENTICATED", "true"),
                ("LISTEN_ADDR", "0.0.0.0:0"),
            ],
        ),
        dir.path(),
        "server",
    );
    let addr = server.address(
        "the server to listen",
        "listening on https://",
        Running::log,
    );
    let port = addr.rsplit_once(':').unwrap().1;
    let response = https_client()
        .get(format!("https://127.0.0.1:{port}/compliance/reports"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _, log) = server.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
}

fn ctl_serve(db: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_compliancectl"));
    cmd.env_clear()
        .arg("--datastore")
        .arg(format!("sqlite:{}", db.display()))
        .arg("serve")
        .args(args);
    cmd
}

#[test]
fn compliancectl_serve_serves_the_store_over_http_on_loopback() {
    let (dir, db) = store_with_a_report();
    let mut serve = Running::spawn(
        ctl_serve(&db, &["--listen", "127.0.0.1:0"]),
        dir.path(),
        "serve",
    );
    let addr = serve.address(
        "compliancectl serve to print its URL",
        "at http://",
        Running::stdout,
    );
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let list: Value = reqwest::blocking::Client::new()
        .get(format!("http://{addr}/compliance/reports"))
        .timeout(Duration::from_secs(30))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list["count"], 1, "{list}");
    let (status, took, log) = serve.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn compliancectl_serve_refuses_other_addresses_unless_told() {
    let (_dir, db) = store_with_a_report();
    let out = ctl_serve(&db, &["--listen", "0.0.0.0:0"]).output().kept();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--listen") && err.contains("0.0.0.0:0"),
        "{err}"
    );
    assert!(err.contains("--allow-remote-unauthenticated"), "{err}");
    let out = ctl_serve(&db, &["--listen", "somewhere"]).output().kept();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--listen"), "{}", stderr(&out));
}
