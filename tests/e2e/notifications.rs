//! Notifications on regressions through the real reporter: the daily reports of
//! [`Sequence::story`] run one after the other against a local receiver (an HTTP server on
//! 127.0.0.1 that records every request and answers as a test scripts it), with a SQLite
//! file as the store and the notification ledger.

use std::collections::{BTreeSet, VecDeque};
use std::io::Write;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use compliance_testkit::fixtures::{stderr, stdout};
use compliance_testkit::sequence::{STORY_ENDS, Sequence};
use serde_json::Value;

use super::cli::Env;

const NAME: &str = "daily-cis-results";
/// In every receiver URL and header of these tests; no output may contain it.
const SECRET: &str = compliance_testkit::secrets::NOTIFY_SECRET;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Value,
}

#[derive(Default)]
struct Log {
    /// Statuses to answer, in order; when empty, `otherwise`.
    script: VecDeque<u16>,
    otherwise: u16,
    received: Vec<Received>,
}

/// A local receiver: an HTTP server on 127.0.0.1 in a thread of its own, stopped on drop.
struct Receiver {
    url: String,
    log: Arc<Mutex<Log>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

async fn receive(
    State(log): State<Arc<Mutex<Log>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
    log.received.push(Received {
        path: uri.path().to_string(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let status = log.script.pop_front().unwrap_or(log.otherwise);
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    /// A receiver answering `script` in order, then `otherwise`.
    fn start(script: &[u16], otherwise: u16) -> Receiver {
        let log = Arc::new(Mutex::new(Log {
            script: script.iter().copied().collect(),
            otherwise,
            received: Vec::new(),
        }));
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let state = Arc::clone(&log);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                url_tx
                    .send(format!("http://{}", listener.local_addr().unwrap()))
                    .unwrap();
                let app = axum::Router::new()
                    .fallback(axum::routing::post(receive))
                    .with_state(state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Receiver {
            url: url_rx.recv().unwrap(),
            log,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// The URL of a hook path on this receiver, with the secret in it.
    fn hook(&self, name: &str) -> String {
        compliance_testkit::secrets::register(SECRET);
        format!("{}/hooks/{name}/{SECRET}", self.url)
    }

    fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    fn answer(&self, status: u16) {
        self.lock().otherwise = status;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The story's days run by the reporter, each day's documents imported once.
struct Days<'a> {
    env: &'a Env,
    story: Sequence,
    imported: BTreeSet<usize>,
}

impl<'a> Days<'a> {
    fn new(env: &'a Env) -> Days<'a> {
        Days {
            env,
            story: Sequence::story(),
            imported: BTreeSet::new(),
        }
    }

    /// The reporter over day `day`'s window with `vars`.
    fn run(&mut self, day: usize, vars: &[(&str, &str)]) -> Output {
        if self.imported.insert(day) {
            let file = self.env.path(&format!("day{day}.jsonl"));
            let mut f = std::fs::File::create(&file).unwrap();
            for d in &self.story.documents[day] {
                writeln!(f, "{}", serde_json::to_string(d).unwrap()).unwrap();
            }
            drop(f);
            let out = self
                .env
                .ctl(&["import", "benchmarks", file.to_str().unwrap()]);
            assert!(out.status.success(), "{}", stderr(&out));
        }
        let end = compliance_testkit::fixtures::t(STORY_ENDS[day]);
        let start = compliance_core::time::format(&(end - chrono::Duration::days(1)));
        let mut all: Vec<(&str, &str)> = vec![
            ("TIGERA_COMPLIANCE_REPORT_NAME", NAME),
            ("TIGERA_COMPLIANCE_REPORT_START_TIME", &start),
            ("TIGERA_COMPLIANCE_REPORT_END_TIME", STORY_ENDS[day]),
            ("COMPLIANCE_NOTIFY_BACKOFF", "10ms"),
        ];
        all.extend_from_slice(vars);
        self.env.reporter(&all)
    }

    /// The reporter over day `day`, which must exit 0.
    fn ok(&mut self, day: usize, vars: &[(&str, &str)]) -> Output {
        let out = self.run(day, vars);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_no_secret(&out);
        out
    }
}

fn assert_no_secret(out: &Output) {
    for (name, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
        assert!(
            !text.contains(SECRET),
            "a secret is in the reporter's {name}:\n{text}"
        );
    }
}

fn report_ids(env: &Env) -> Vec<String> {
    let out = env.ctl(&["reports", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut reports: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["endTime"].as_str().unwrap().to_string(),
                r["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    reports.sort();
    reports.into_iter().map(|(_, id)| id).collect()
}

fn schema() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/notification.schema.json")
}

#[test]
fn one_notification_per_regression_and_none_when_nothing_got_worse() {
    let env = Env::new();
    let receiver = Receiver::start(&[], 200);
    let hook = receiver.hook("generic");
    let vars = [
        ("COMPLIANCE_NOTIFY_WEBHOOK_URL", hook.as_str()),
        ("COMPLIANCE_SERVER_URL", "https://compliance.example.com"),
    ];
    let mut days = Days::new(&env);

    // Day 1: nothing to compare with.
    let out = days.ok(0, &vars);
    assert!(
        stderr(&out).contains("no earlier report"),
        "{}",
        stderr(&out)
    );
    assert!(receiver.received().is_empty());

    // Day 2: cp-1 fails 1.2.6 for the first time and drops HIGH → MED.
    days.ok(1, &vars);
    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].path, format!("/hooks/generic/{SECRET}"));
    assert_eq!(got[0].content_type.as_deref(), Some("application/json"));
    let ids = report_ids(&env);
    let body = &got[0].body;
    assert_eq!(body["schemaVersion"], 1);
    assert_eq!(body["kind"], "complianceRegression");
    assert_eq!(body["reportName"], NAME);
    assert_eq!(body["cluster"], "cluster");
    assert_eq!(body["reports"]["old"]["id"], ids[0].as_str());
    assert_eq!(body["reports"]["new"]["id"], ids[1].as_str());
    assert_eq!(body["window"]["end"], STORY_ENDS[1]);
    assert_eq!(
        body["counts"],
        serde_json::json!({"newFailures": 1, "ratingDrops": 1, "missingNodes": 0})
    );
    assert_eq!(body["newFailures"][0]["node"], "cp-1");
    assert_eq!(body["newFailures"][0]["testNumber"], "1.2.6");
    assert_eq!(
        body["ratingDrops"],
        serde_json::json!([{"node": "cp-1", "oldStatus": "HIGH", "newStatus": "MED"}])
    );
    assert_eq!(body["missingNodes"], serde_json::json!([]));
    assert_eq!(
        body["links"]["diff"],
        format!("https://compliance.example.com/reports/{}/diff", ids[1])
    );
    assert!(
        body["fingerprint"].as_str().unwrap().starts_with("sha256:"),
        "{body}"
    );
    compliance_testkit::validators::json_schema(body, &schema());

    // Day 3: w-3 joins failing a test that already failed elsewhere; day 4: cp-1 is
    // fixed. Neither is a regression.
    let out = days.ok(2, &vars);
    assert!(stderr(&out).contains("no regression"), "{}", stderr(&out));
    days.ok(3, &vars);
    assert_eq!(receiver.received().len(), 1);

    // Day 2 again (a Job retried, the same window re-run): already delivered.
    let out = days.ok(1, &vars);
    assert!(
        stderr(&out).contains("already has this notification"),
        "{}",
        stderr(&out)
    );
    assert_eq!(receiver.received().len(), 1);

    // Day 5: cp-1 fails 1.2.6 again (new since day 4), w-3 is removed (not a
    // regression): one more notification.
    days.ok(4, &vars);
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1].body["counts"],
        serde_json::json!({"newFailures": 1, "ratingDrops": 1, "missingNodes": 0})
    );
    assert_ne!(got[1].body["fingerprint"], got[0].body["fingerprint"]);
    compliance_testkit::validators::json_schema(&got[1].body, &schema());
}

#[test]
fn two_server_errors_then_success_is_three_requests_and_one_delivery() {
    let env = Env::new();
    let receiver = Receiver::start(&[500, 500], 200);
    let hook = receiver.hook("generic");
    let vars = [("COMPLIANCE_NOTIFY_WEBHOOK_URL", hook.as_str())];
    let mut days = Days::new(&env);
    days.ok(0, &vars);
    let out = days.ok(1, &vars);
    let got = receiver.received();
    assert_eq!(got.len(), 3, "{}", stderr(&out));
    assert!(got.iter().all(|r| r.body == got[0].body));
    assert!(stderr(&out).contains("retrying"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("ERROR"), "{}", stderr(&out));
    // Delivered once: recorded, so a re-run sends nothing.
    days.ok(1, &vars);
    assert_eq!(receiver.received().len(), 3);
}

#[test]
fn constant_server_errors_give_up_loudly_keep_the_exit_code_and_are_retried_next_run() {
    let env = Env::new();
    let receiver = Receiver::start(&[], 500);
    let hook = receiver.hook("generic");
    let vars = [
        ("COMPLIANCE_NOTIFY_WEBHOOK_URL", hook.as_str()),
        ("COMPLIANCE_NOTIFY_ATTEMPTS", "3"),
    ];
    let mut days = Days::new(&env);
    days.ok(0, &vars);
    let started = Instant::now();
    let out = days.ok(1, &vars);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(receiver.received().len(), 3);
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("no ERROR line in\n{err}"));
    assert!(
        line.contains("giving up notifying receiver \"webhook\"")
            && line.contains("HTTP 500 after 3 attempts"),
        "{line}"
    );
    assert!(line.contains("http://127.0.0.1:"), "{line}");
    // COMPLIANCE_FAIL_ON decides the exit code as without notifications.
    let out = days.run(1, &[vars[0], vars[1], ("COMPLIANCE_FAIL_ON", "new")]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(receiver.received().len(), 6);
    // Nothing was recorded: once the receiver is back, the same window sends.
    receiver.answer(204);
    days.ok(1, &vars);
    assert_eq!(receiver.received().len(), 7);
    days.ok(1, &vars);
    assert_eq!(receiver.received().len(), 7);
}

#[test]
fn slack_gets_text_and_blocks() {
    let env = Env::new();
    let receiver = Receiver::start(&[], 200);
    let hook = receiver.hook("slack");
    let vars = [("COMPLIANCE_NOTIFY_SLACK_URL", hook.as_str())];
    let mut days = Days::new(&env);
    days.ok(0, &vars);
    days.ok(1, &vars);
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let body = &got[0].body;
    assert_eq!(
        body["text"],
        format!(
            "CIS compliance regression in {NAME} (cluster cluster): 1 new failure, 1 node rated worse, 0 nodes missing results"
        )
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(
        blocks[0]["text"]["text"],
        format!("CIS compliance regression: {NAME}")
    );
    let texts: Vec<&str> = blocks
        .iter()
        .filter_map(|b| b["text"]["text"].as_str())
        .collect();
    assert!(
        texts.iter().any(|t| t.starts_with(
            "*New failures*\n• `cp-1` 1.2.6 Ensure that the --kubelet-certificate-authority"
        )),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"*Nodes rated worse*\n• `cp-1` HIGH → MED"),
        "{texts:?}"
    );
    assert_eq!(blocks.last().unwrap()["type"], "context");
}

#[test]
fn secrets_never_reach_the_output_even_at_debug_level() {
    let env = Env::new();
    let receiver = Receiver::start(&[503], 200);
    let file = env.path("receivers.yaml");
    std::fs::write(
        &file,
        format!(
            "- name: siem\n  type: webhook\n  url: {}\n  headers:\n    Authorization: Bearer {SECRET}\n\
             - name: gone\n  type: slack\n  url: http://127.0.0.1:1/hooks/{SECRET}\n\
             - name: other-report\n  type: webhook\n  url: {}\n  reports: [weekly]\n",
            receiver.hook("siem"),
            receiver.hook("weekly"),
        ),
    )
    .unwrap();
    let vars = [
        ("COMPLIANCE_NOTIFY_RECEIVERS_FILE", file.to_str().unwrap()),
        ("COMPLIANCE_NOTIFY_ATTEMPTS", "2"),
        ("LOG_LEVEL", "debug"),
    ];
    let mut days = Days::new(&env);
    days.ok(0, &vars);
    let out = days.ok(1, &vars);
    let got = receiver.received();
    // 503 then 200 for siem; nothing for the receiver of another GlobalReport.
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got.iter()
            .all(|r| r.path == format!("/hooks/siem/{SECRET}"))
    );
    assert_eq!(
        got[1].authorization.as_deref(),
        Some(format!("Bearer {SECRET}").as_str())
    );
    let err = stderr(&out);
    assert!(
        err.contains("giving up notifying receiver \"gone\"")
            && err.contains("http://127.0.0.1:1/…"),
        "{err}"
    );

    // A bad URL is a configuration error naming the variable, not the URL.
    let out = days.run(
        1,
        &[(
            "COMPLIANCE_NOTIFY_SLACK_URL",
            &format!("hooks.slack.com/services/{SECRET}"),
        )],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("COMPLIANCE_NOTIFY_SLACK_URL"),
        "{}",
        stderr(&out)
    );
    assert_no_secret(&out);
    // So is a bad receivers file, named by receiver and field.
    std::fs::write(
        &file,
        format!("- name: siem\n  type: teams\n  url: https://h/{SECRET}\n"),
    )
    .unwrap();
    let out = days.run(
        1,
        &[("COMPLIANCE_NOTIFY_RECEIVERS_FILE", file.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("[0].type"), "{}", stderr(&out));
    assert_no_secret(&out);
}

fn yaml(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("manifests")
        .join(file);
    serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The reporter's containers in the shipped manifests read the receivers' URLs from the
/// example Secret's keys, each optional (a fresh install has no Secret), and the example
/// Secret's receivers file is one the reporter accepts.
#[test]
fn the_manifests_read_receivers_from_an_optional_secret_the_example_fills() {
    let secret = yaml("examples/notifications-secret.yaml");
    assert_eq!(secret["metadata"]["name"], "compliance-notifications");
    let data = secret["stringData"].as_object().unwrap();
    for (file, pod) in [
        (
            "report-podtemplate.yaml",
            yaml("report-podtemplate.yaml")["template"]["spec"].clone(),
        ),
        (
            "compliance-reporter-pod.yaml",
            yaml("compliance-reporter-pod.yaml")["spec"].clone(),
        ),
        (
            "compliance-reporter-pod-managed.yaml",
            yaml("compliance-reporter-pod-managed.yaml")["spec"].clone(),
        ),
    ] {
        let env = pod["containers"][0]["env"].as_array().unwrap();
        for (name, key) in [
            ("COMPLIANCE_NOTIFY_WEBHOOK_URL", "webhook-url"),
            ("COMPLIANCE_NOTIFY_SLACK_URL", "slack-url"),
        ] {
            let e = env
                .iter()
                .find(|e| e["name"] == name)
                .unwrap_or_else(|| panic!("{file}: no {name}"));
            let r = &e["valueFrom"]["secretKeyRef"];
            assert_eq!(r["name"], "compliance-notifications", "{file}: {name}");
            assert_eq!(r["key"], key, "{file}: {name}");
            assert_eq!(r["optional"], true, "{file}: {name}");
            assert!(data.contains_key(key), "the example Secret has no {key}");
        }
    }
    let dir = tempfile::TempDir::new().unwrap();
    let receivers = dir.path().join("receivers.yaml");
    std::fs::write(&receivers, data["receivers.yaml"].as_str().unwrap()).unwrap();
    let raw = compliance::settings::RawEnv::from_vars(
        [
            (
                "COMPLIANCE_NOTIFY_WEBHOOK_URL",
                data["webhook-url"].as_str().unwrap(),
            ),
            (
                "COMPLIANCE_NOTIFY_SLACK_URL",
                data["slack-url"].as_str().unwrap(),
            ),
            (
                "COMPLIANCE_NOTIFY_RECEIVERS_FILE",
                receivers.to_str().unwrap(),
            ),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let cfg = compliance::settings::notify::NotifyConfig::from_env(&raw.notify).unwrap();
    let names: Vec<&str> = cfg.receivers.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["webhook", "slack", "security-team", "siem"]);
}

/// A receiver that takes the connection and never answers: the run ends within the time
/// budget, gives up at ERROR, and still exits 0.
#[test]
fn a_receiver_that_never_answers_is_given_up_within_the_time_budget() {
    let env = Env::new();
    // Connections complete in the listen backlog; nothing ever reads or answers them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hook = format!("http://{}/hooks/{SECRET}", silent.local_addr().unwrap());
    let vars = [
        ("COMPLIANCE_NOTIFY_WEBHOOK_URL", hook.as_str()),
        ("COMPLIANCE_NOTIFY_TIMEOUT", "1s"),
    ];
    let mut days = Days::new(&env);
    days.ok(0, &vars);
    let started = Instant::now();
    let out = days.ok(1, &vars);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let err = stderr(&out);
    assert!(
        err.lines().any(|l| l.contains("ERROR")
            && l.contains("giving up notifying receiver \"webhook\"")
            && l.contains("timed out")),
        "{err}"
    );
    drop(silent);
}
