//! A real Prometheus server (Debian's `prometheus`, 2.42) scraping the components under
//! test, and instant queries over its HTTP API.
//!
//! Each [`Prometheus`] has its own temporary TSDB and configuration, listens on a free
//! loopback port and scrapes its targets every second; it is killed when dropped. Where
//! `prometheus` is not installed, [`Prometheus::start`] prints a SKIPPED line (through
//! [`crate::metrics::prometheus`]) and returns `None`, and the test returns early.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long Prometheus may take to start answering `/-/ready`.
const STARTUP: Duration = Duration::from_secs(60);

/// One endpoint to scrape.
#[derive(Debug, Clone)]
pub struct Target {
    pub job: String,
    /// `host:port`.
    pub address: String,
    /// `http` or `https`; an HTTPS target's certificate is not verified (tests serve
    /// self-signed ones).
    pub scheme: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub bearer_token: Option<String>,
}

impl Target {
    /// A plain HTTP target without credentials.
    pub fn http(job: &str, address: &str) -> Target {
        Target {
            job: job.to_string(),
            address: address.to_string(),
            scheme: "http".to_string(),
            bearer_token: None,
        }
    }

    /// An HTTPS target without credentials, its certificate not verified.
    pub fn https(job: &str, address: &str) -> Target {
        Target {
            scheme: "https".to_string(),
            ..Target::http(job, address)
        }
    }
}

/// One series of an instant query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl QuerySample {
    /// The value of label `name`, or "" when the series has none.
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }
}

/// A running Prometheus; killed on drop.
pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The configuration of a Prometheus scraping `targets` every second.
pub fn config(targets: &[Target]) -> String {
    let mut out = String::from(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
    );
    for t in targets {
        out.push_str(&format!(
            "  - job_name: {job}\n    scheme: {scheme}\n    tls_config:\n      insecure_skip_verify: true\n    static_configs:\n      - targets: [{address}]\n",
            job = serde_json::to_string(&t.job).expect("a string"),
            scheme = t.scheme,
            address = serde_json::to_string(&t.address).expect("a string"),
        ));
        if let Some(token) = &t.bearer_token {
            out.push_str(&format!(
                "    authorization:\n      type: Bearer\n      credentials: {}\n",
                serde_json::to_string(token).expect("a string")
            ));
        }
    }
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `GET path` over HTTP/1.0 (the answer ends with the connection): status and body.
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {head:?}")))?;
    Ok((status, body.to_string()))
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` every second and waits until it is ready;
    /// `None` (after a SKIPPED line) when it is not installed. Panics, with its log,
    /// when it does not start.
    pub fn start(targets: &[Target]) -> Option<Prometheus> {
        let bin = crate::metrics::prometheus()?;
        let mut last_log = String::new();
        // A port found free may be taken before Prometheus binds it: then it exits at
        // once, and another port is tried.
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let config_path = dir.path().join("prometheus.yml");
            std::fs::write(&config_path, config(targets)).expect("write prometheus.yml");
            let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
            let log = dir.path().join("prometheus.log");
            let child = Command::new(&bin)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("create the log"))
                .spawn()
                .expect("run prometheus");
            let mut p = Prometheus {
                child,
                addr,
                log,
                _dir: dir,
            };
            match p.wait_ready() {
                Ok(()) => return Some(p),
                Err(log) => last_log = log,
            }
        }
        panic!("prometheus did not start: {last_log}");
    }

    /// Waits for `/-/ready`; `Err(log)` when the process exits first. Panics at the
    /// deadline.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll prometheus") {
                return Err(format!("exited with {status}: {}", self.log()));
            }
            if matches!(http_get(self.addr, "/-/ready"), Ok((200, _))) {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready after {STARTUP:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What Prometheus logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The answer of an instant query of `promql` at the current time. Panics when the
    /// query fails (a test wants to know).
    pub fn query(&self, promql: &str) -> Vec<QuerySample> {
        let path = format!(
            "/api/v1/query?query={}",
            percent_encoding::utf8_percent_encode(promql, percent_encoding::NON_ALPHANUMERIC)
        );
        let (status, body) = http_get(self.addr, &path)
            .unwrap_or_else(|e| panic!("query {promql:?}: {e}; log: {}", self.log()));
        let answer: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("query {promql:?}: {status} not JSON ({e}): {body}"));
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("success")),
            "query {promql:?}: {body}"
        );
        answer["data"]["result"]
            .as_array()
            .unwrap_or_else(|| panic!("query {promql:?}: no result array: {body}"))
            .iter()
            .map(|r| QuerySample {
                labels: r["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
                value: r["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("query {promql:?}: no value in {r}")),
            })
            .collect()
    }

    /// Queries `promql` until `done` holds of the answer, for at most `limit`; the answer
    /// that held. Panics naming `what`, with the last answer, at the deadline.
    pub fn wait_for(
        &self,
        what: &str,
        promql: &str,
        limit: Duration,
        done: impl Fn(&[QuerySample]) -> bool,
    ) -> Vec<QuerySample> {
        let deadline = Instant::now() + limit;
        loop {
            let answer = self.query(promql);
            if done(&answer) {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what} ({promql}); last answer: {answer:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
