//! The benchmarker binary end to end: stand-in `kube-bench` and `kubelet` scripts print
//! the real kube-bench fixtures (or hang, crash, print garbage), the documents go into a
//! real SQLite file, and the real reporter turns them into a report.

use compliance_testkit::fixtures::{fixture, root, stderr, stdout, wait_until};
use compliance_testkit::secrets::Kept as _;
use compliance_testkit::{fake_es, process};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use compliance::settings::RawEnv;
use compliance::settings::benchmarker::BenchmarkerConfig;
use compliance_benchmarker::version::VersionSearch;
use compliance_benchmarker::{facts, platform, service};
use compliance_core::model::benchmark::CLUSTER_SCOPE_NODE_NAME;
use compliance_store::OpenMode;
use fake_es::{FakeEs, RequestMatcher, es_error};

const FIXTURES: [&str; 7] = [
    "cis-1.5-node-defectdojo.json",
    "eks-1.0-node-valancej.json",
    "cis-1.6-master-defectdojo.json",
    "cis-1.20-node-apxd.json",
    "cis-1.20-node-oakleysecurity.json",
    "cis-1.23-master-newrelic.json",
    "cis-1.12-node-mogamal.json",
];

/// A temporary node: a bin directory for stand-in programs and a SQLite file.
struct Node {
    dir: TempDir,
}

impl Node {
    fn new() -> Node {
        let node = Node {
            dir: TempDir::new().unwrap(),
        };
        std::fs::create_dir(node.bin()).unwrap();
        node
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn db(&self) -> PathBuf {
        self.path("compliance.db")
    }

    /// Writes an executable shell script into the bin directory. A `kube-bench` answers
    /// `kube-bench version` as the real one does (the benchmarker asks once at start).
    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.bin().join(name);
        let version = if name == "kube-bench" {
            "[ \"$1\" = version ] && { echo v0.16.0; exit 0; }\n"
        } else {
            ""
        };
        std::fs::write(&path, format!("#!/bin/sh\n{version}{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A kubelet that reports a distribution's version string.
    fn kubelet(&self) {
        self.script("kubelet", "echo 'Kubernetes v1.29.3-eks-1a2b3c'");
    }

    /// A kube-bench that records its arguments and prints `fixture`.
    fn kube_bench_printing(&self, fixture_name: &str) {
        self.script(
            "kube-bench",
            &format!(
                "echo \"$@\" > '{}'\ncat '{}'",
                self.path("kube-bench.args").display(),
                fixture(fixture_name).display()
            ),
        );
    }

    fn command(&self, node_name: &str, vars: &[(&str, &str)]) -> Command {
        // An empty process list: the machine's own processes (a test's kube-apiserver)
        // must not make every test node a control-plane node.
        let proc_root = self.path("proc");
        std::fs::create_dir_all(&proc_root).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_compliance-benchmarker"));
        cmd.env_clear()
            .env("NODENAME", node_name)
            .env("BENCHMARK_HOST_PROC", &proc_root)
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin().display()))
            .env(
                "COMPLIANCE_DATASTORE",
                format!("sqlite:{}", self.db().display()),
            );
        for (k, v) in vars {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        cmd
    }

    fn once(&self, node_name: &str, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(node_name, vars);
        cmd.arg("--once").args(args);
        cmd.output().kept()
    }

    /// Runs `--once --output` and returns the exit code and the document written.
    fn once_to_file(&self, vars: &[(&str, &str)]) -> (i32, Value, Output) {
        let file = self.path("doc.json");
        let _ = std::fs::remove_file(&file);
        let out = self.once("node-1", &["--output", file.to_str().unwrap()], vars);
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("no document written ({e}): {}", stderr(&out)));
        (
            out.status.code().unwrap(),
            serde_json::from_str(&text).unwrap(),
            out,
        )
    }

    fn reporter(&self) -> Output {
        Command::new(env!("CARGO_BIN_EXE_compliance-reporter"))
            .env_clear()
            .env(
                "COMPLIANCE_DATASTORE",
                format!("sqlite:{}", self.db().display()),
            )
            .env("COMPLIANCE_RESOURCES", root().join("examples/reports.yaml"))
            .env("TIGERA_COMPLIANCE_REPORT_NAME", "daily-cis-results")
            .env("TIGERA_COMPLIANCE_REPORT_START_TIME", "now-1h")
            .env("TIGERA_COMPLIANCE_REPORT_END_TIME", "now+1h")
            .output()
            .kept()
    }

    /// The stored report's nodes, by running the reporter and reading the report back.
    fn report_nodes(&self) -> Vec<Value> {
        let out = self.reporter();
        assert!(out.status.success(), "reporter: {}", stderr(&out));
        let ctl = |args: &[&str]| {
            let out = Command::new(env!("CARGO_BIN_EXE_compliancectl"))
                .args(args)
                .env_clear()
                .env(
                    "COMPLIANCE_DATASTORE",
                    format!("sqlite:{}", self.db().display()),
                )
                .output()
                .kept();
            assert!(out.status.success(), "compliancectl: {}", stderr(&out));
            serde_json::from_slice::<Value>(&out.stdout).unwrap()
        };
        let list = ctl(&["reports", "list", "--json"]);
        let id = list[0]["id"].as_str().unwrap().to_string();
        let report = ctl(&["reports", "show", &id, "--json"]);
        report["cisBenchmark"].as_array().unwrap().clone()
    }

    /// Every stored benchmark document as (node, benchmark version, error), oldest first.
    fn stored(&self) -> Vec<(String, String, String)> {
        stored_in(&self.db())
    }
}

fn stored_in(db: &Path) -> Vec<(String, String, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT node_name, version, error FROM benchmark_docs ORDER BY timestamp")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn once_stores_every_real_fixture_and_the_reporter_rates_each_node() {
    let node = Node::new();
    node.kubelet();
    for (i, f) in FIXTURES.iter().enumerate() {
        node.kube_bench_printing(f);
        let out = node.once(&format!("node-{i}"), &[], &[]);
        assert_eq!(out.status.code(), Some(0), "{f}: {}", stderr(&out));
        let summary = stdout(&out);
        assert!(
            summary.starts_with(&format!("node node-{i} at ")),
            "{summary}"
        );
        assert!(summary.contains("Kubernetes 1.29.3"), "{summary}");
        assert!(summary.contains("stored in sqlite:"), "{summary}");
        // The kubelet's `-eks-` build makes it an EKS node; without a readable cfg the
        // platform's benchmark is passed unchecked, and a node without kube-apiserver or
        // etcd runs the node target only.
        let args = std::fs::read_to_string(node.path("kube-bench.args")).unwrap();
        assert_eq!(
            args.trim(),
            "run --json --targets node --benchmark eks-1.7.0"
        );
    }
    let versions: Vec<String> = node.stored().into_iter().map(|(_, v, _)| v).collect();
    assert_eq!(
        versions
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        6,
        "the seven fixtures name six benchmarks: {versions:?}"
    );
    let nodes = node.report_nodes();
    assert_eq!(nodes.len(), 7);
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(n["nodeName"], format!("node-{i}"));
        assert_eq!(n["kubernetesVersion"], "1.29.3");
        assert!(
            n["results"].as_array().is_some_and(|r| !r.is_empty()),
            "{n}"
        );
        assert!(n.get("error").is_none_or(|e| e.as_str() == Some("")), "{n}");
    }
}

#[test]
fn output_writes_one_json_line_instead_of_storing() {
    let node = Node::new();
    node.kubelet();
    node.kube_bench_printing("cis-1.23-master-newrelic.json");
    let (code, doc, out) = node.once_to_file(&[]);
    assert_eq!(code, 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("written to "), "{}", stdout(&out));
    assert!(!node.db().exists(), "--output must not open the store");
    assert_eq!(doc["node_name"], "node-1");
    assert_eq!(doc["version"], "cis-1.23");
    assert_eq!(doc["kubernetesVersion"], "1.29.3");
    assert_eq!(doc["type"], "kube");
    assert_eq!(doc["cluster"], "cluster");
    assert_eq!(doc["error"], "");
    assert!(doc["tests"].as_array().unwrap().len() > 100);
    let text = std::fs::read_to_string(node.path("doc.json")).unwrap();
    assert_eq!(text.lines().count(), 1);

    // The file is what `compliancectl import benchmarks` reads.
    let import = Command::new(env!("CARGO_BIN_EXE_compliancectl"))
        .args([
            "import",
            "benchmarks",
            node.path("doc.json").to_str().unwrap(),
        ])
        .env_clear()
        .env(
            "COMPLIANCE_DATASTORE",
            format!("sqlite:{}", node.db().display()),
        )
        .output()
        .kept();
    assert!(import.status.success(), "{}", stderr(&import));
    assert_eq!(node.stored().len(), 1);
}

#[test]
fn a_hanging_kube_bench_is_stopped_at_the_timeout_and_stored_as_errored() {
    let node = Node::new();
    node.kubelet();
    node.script(
        "kube-bench",
        &format!(
            "echo $$ > '{}'\necho 'checking etcd' >&2\nsleep 300",
            node.path("pid").display()
        ),
    );
    let started = Instant::now();
    let (code, doc, out) = node.once_to_file(&[("BENCHMARK_TIMEOUT", "1s")]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(code, 1, "an errored run fails --once: {}", stderr(&out));
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.contains("did not finish within 1s (BENCHMARK_TIMEOUT)"),
        "{error}"
    );
    assert!(error.contains("checking etcd"), "{error}");
    assert_eq!(doc["tests"].as_array().map_or(0, Vec::len), 0);
    assert_eq!(doc["kubernetesVersion"], "1.29.3");
    let pid: u32 = std::fs::read_to_string(node.path("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Killed and reaped before the run returned; the kernel may still be finishing it.
    wait_until(
        &format!("kube-bench {pid} to be gone"),
        Duration::from_secs(10),
        || !process::alive(pid),
    );
}

#[test]
fn kube_bench_does_not_see_the_benchmarkers_own_variables() {
    // kube-bench reads KUBE_BENCH_* as its own settings.
    let node = Node::new();
    node.kubelet();
    let seen = node.path("kube-bench.env");
    let kube_bench = node.script(
        "kube-bench",
        &format!(
            "env > '{}'\ncat '{}'",
            seen.display(),
            fixture("cis-1.12-node-mogamal.json").display()
        ),
    );
    let (code, _, out) = node.once_to_file(&[
        ("KUBE_BENCH_PATH", kube_bench.to_str().unwrap()),
        ("KUBE_BENCH_ARGS", "--json"),
        ("LOG_LEVEL", "debug"),
    ]);
    assert_eq!(code, 0, "{}", stderr(&out));
    let env = std::fs::read_to_string(&seen).unwrap();
    assert!(env.contains("NODENAME=node-1"), "{env}");
    assert!(!env.contains("KUBE_BENCH_"), "{env}");
}

#[test]
fn a_crashing_kube_bench_is_stored_with_its_status_and_message() {
    let node = Node::new();
    node.kubelet();
    node.script(
        "kube-bench",
        "echo 'F1126 unable to load config.yaml' >&2\nexit 255",
    );
    let (code, doc, _) = node.once_to_file(&[]);
    assert_eq!(code, 1);
    assert_eq!(
        doc["error"].as_str().unwrap(),
        "kube-bench exited with status 255: kube-bench's output is empty (did kube-bench fail \
         before printing its results?); its last messages: F1126 unable to load config.yaml"
    );
}

#[test]
fn garbage_from_kube_bench_is_stored_as_errored() {
    let node = Node::new();
    node.kubelet();
    node.script("kube-bench", "echo '{\"Controls\": 42}'");
    let (code, doc, _) = node.once_to_file(&[]);
    assert_eq!(code, 1);
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.starts_with("kube-bench printed no usable results: "),
        "{error}"
    );
    assert!(error.contains("expected an array of controls"), "{error}");
}

#[test]
fn a_missing_kube_bench_names_kube_bench_path() {
    let node = Node::new();
    node.kubelet();
    let (code, doc, _) = node.once_to_file(&[("KUBE_BENCH_PATH", "/opt/nowhere/kube-bench")]);
    assert_eq!(code, 1);
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.starts_with("kube-bench not found: KUBE_BENCH_PATH=/opt/nowhere/kube-bench"),
        "{error}"
    );
    // A bare name is looked up in PATH, which the message shows.
    let (_, doc, _) = node.once_to_file(&[]);
    let error = doc["error"].as_str().unwrap();
    assert!(error.contains("is not in PATH ("), "{error}");
}

#[test]
fn an_errored_run_is_stored_and_reported_low_with_its_reason() {
    let node = Node::new();
    node.kubelet();
    node.script("kube-bench", "exit 3");
    let out = node.once("node-broken", &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("ERROR: kube-bench exited with status 3"),
        "{}",
        stdout(&out)
    );
    let nodes = node.report_nodes();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["nodeName"], "node-broken");
    assert!(
        nodes[0]["error"]
            .as_str()
            .unwrap()
            .contains("exited with status 3"),
        "{}",
        nodes[0]
    );
}

#[test]
fn a_node_whose_version_cannot_be_found_is_reported_low_saying_what_to_do() {
    // In process, with a search over empty directories: this machine's own /usr/bin may
    // hold a kubectl.
    let node = Node::new();
    node.kube_bench_printing("cis-1.20-node-apxd.json");
    let env = RawEnv::from_vars([
        ("NODENAME".to_string(), "kind-worker".to_string()),
        (
            "KUBE_BENCH_PATH".to_string(),
            node.bin().join("kube-bench").display().to_string(),
        ),
    ]);
    let cfg = BenchmarkerConfig::from_env(&env).unwrap();
    let search = VersionSearch {
        dirs: vec![node.bin(), node.path("host-bin")],
        timeout: Duration::from_secs(5),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let host = service::Host::new(
        None,
        node.path("proc"),
        Err("no cfg".into()),
        node.path("cfg"),
        Vec::new(),
        "kube-bench unknown".into(),
    );
    let outcome = runtime
        .block_on(service::run_once(
            &cfg.run,
            &search,
            &host,
            &mut compliance_benchmarker::process::never_cancelled(),
        ))
        .unwrap();
    let doc = outcome.document;
    assert!(doc.is_errored());
    assert!(
        !node.path("kube-bench.args").exists(),
        "kube-bench must not run"
    );
    assert!(
        doc.error.contains(&node.bin().display().to_string()),
        "{}",
        doc.error
    );
    assert!(
        doc.error.contains("/usr/local/mount-from-host/bin"),
        "{}",
        doc.error
    );
    assert!(doc.error.contains("/usr/bin"), "{}", doc.error);
    let db = compliance_store::sqlite::SqliteStore::open(node.db(), OpenMode::Create).unwrap();
    db.put_benchmarks(std::iter::once(Ok(doc.clone()))).unwrap();
    drop(db);
    let nodes = node.report_nodes();
    assert_eq!(nodes[0]["nodeName"], "kind-worker");
    assert_eq!(nodes[0]["error"], doc.error.as_str());
    let summary = node.reporter();
    assert!(
        stdout(&summary).contains("LOW 1; 1 errored"),
        "{}",
        stdout(&summary)
    );
}

#[test]
fn a_missing_node_name_exits_2_naming_nodename_and_stores_nothing() {
    let node = Node::new();
    node.kubelet();
    node.kube_bench_printing("cis-1.12-node-mogamal.json");
    for value in ["", "   "] {
        let mut cmd = node.command("x", &[("NODENAME", value)]);
        if value.is_empty() {
            cmd.env_remove("NODENAME");
        }
        let out = cmd.arg("--once").output().kept();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("NODENAME"), "{}", stderr(&out));
        assert!(stderr(&out).contains("spec.nodeName"), "{}", stderr(&out));
    }
    assert!(!node.path("kube-bench.args").exists());
    assert!(!node.db().exists());
}

#[test]
fn bad_settings_exit_2_naming_the_variable_before_any_run() {
    let node = Node::new();
    node.kube_bench_printing("cis-1.12-node-mogamal.json");
    for (var, value) in [
        ("BENCHMARK_INTERVAL", "every hour"),
        ("BENCHMARK_TIMEOUT", "0s"),
        ("BENCHMARK_KUBERNETES_VERSION", "latest"),
        ("COMPLIANCE_DATASTORE", "postgres://x"),
        ("HEALTH_PORT", "70000"),
        ("LOG_LEVEL", "loud"),
    ] {
        let out = node.once("node-1", &[], &[(var, value)]);
        assert_eq!(out.status.code(), Some(2), "{var}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("{var}=\"{value}\"")),
            "{}",
            stderr(&out)
        );
    }
    assert!(!node.path("kube-bench.args").exists());
    // A usage error is clap's exit 2 too.
    let out = node.once("node-1", &["--bogus"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_store_error_with_once_exits_1_and_says_where() {
    let node = Node::new();
    node.kubelet();
    node.kube_bench_printing("cis-1.12-node-mogamal.json");
    let out = node.once(
        "node-1",
        &[],
        &[("COMPLIANCE_DATASTORE", "sqlite:/nonexistent/dir/c.db")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/nonexistent/dir/c.db"),
        "{}",
        stderr(&out)
    );
}

/// A free TCP port on loopback (free when asked; the test binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status code of `GET path` on the health port, or `None` when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

/// The daemon, started in the background with its standard error in a file.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(node: &Node, vars: &[(&str, &str)]) -> Daemon {
        let log = node.path("daemon.log");
        let mut cmd = node.command("node-1", vars);
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        Daemon {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn terminate(mut self) -> (std::process::ExitStatus, String, Duration) {
        process::terminate(self.child.id());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.log(), started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!("no exit 30s after SIGTERM: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        compliance_testkit::secrets::keep_text("benchmarker", b"", self.log().as_bytes());
    }
}

/// A kube-bench whose Nth run (N counted in a file) runs `cases[N-1]`, the last case for
/// every later run.
fn kube_bench_by_run(node: &Node, cases: &[String]) {
    let mut body = format!(
        "n=$(($(cat '{c}' 2>/dev/null || echo 0) + 1))\necho $n > '{c}'\ncase $n in\n",
        c = node.path("runs").display()
    );
    for (i, case) in cases.iter().enumerate() {
        let pattern = if i + 1 == cases.len() {
            "*".to_string()
        } else {
            (i + 1).to_string()
        };
        body.push_str(&format!("{pattern}) {case} ;;\n"));
    }
    body.push_str("esac");
    node.script("kube-bench", &body);
}

/// A shell command printing the fixture `name`.
fn cat_fixture(name: &str) -> String {
    format!("cat '{}'", fixture(name).display())
}

fn runs(node: &Node) -> u32 {
    std::fs::read_to_string(node.path("runs"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_daemon_runs_every_interval_stores_changes_only_and_stops_cleanly_on_sigterm() {
    let node = Node::new();
    node.kubelet();
    kube_bench_by_run(
        &node,
        &[
            // The first run is slow, so readiness can be seen to wait for it.
            format!("sleep 2; {}", cat_fixture("cis-1.20-node-apxd.json")),
            cat_fixture("cis-1.20-node-apxd.json"),
            cat_fixture("cis-1.12-node-mogamal.json"),
            format!("echo $$ > '{}'; sleep 300", node.path("pid").display()),
        ],
    );
    let port = free_port();
    let daemon = Daemon::start(
        &node,
        &[
            // Runs at least a second apart, so no two share a timestamp (whole seconds).
            ("BENCHMARK_INTERVAL", "2s"),
            ("HEALTH_ENABLED", "true"),
            ("HEALTH_PORT", &port.to_string()),
        ],
    );
    wait_until("the health server", Duration::from_secs(10), || {
        http_status(port, "/liveness") == Some(200)
    });
    assert_eq!(
        http_status(port, "/readiness"),
        Some(503),
        "{}",
        daemon.log()
    );
    wait_until("the first run", Duration::from_secs(20), || {
        http_status(port, "/readiness") == Some(200)
    });
    // The shell creates the file before it writes the number: wait for the number.
    let read_pid = || -> Option<u32> {
        std::fs::read_to_string(node.path("pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    wait_until("the fourth run to hang", Duration::from_secs(30), || {
        read_pid().is_some()
    });
    let pid = read_pid().unwrap();
    let (status, log, took) = daemon.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    wait_until(
        &format!("kube-bench {pid} to be gone after shutdown"),
        Duration::from_secs(10),
        || !process::alive(pid),
    );
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(log.contains("not stored: same results"), "{log}");
    assert_eq!(runs(&node), 4);
    // Run 2 repeated run 1, and the interrupted run 4 is not a result.
    let stored = node.stored();
    assert_eq!(
        stored,
        [
            ("node-1".into(), "cis-1.20".into(), String::new()),
            ("node-1".into(), "cis-1.12".into(), String::new()),
        ],
        "{log}"
    );
}

/// The body of `GET /metrics` on the health port (`accept` as the Accept header), or
/// `None` while nothing answers there with 200.
fn scrape_metrics(port: u16, accept: Option<&str>) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n{accept}\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    (head.split_whitespace().nth(1) == Some("200")).then(|| body.to_string())
}

#[test]
fn metrics_count_each_run_by_outcome_with_its_duration_and_times() {
    use compliance_testkit::metrics::{
        documented, exported_names, parse_exposition, promtool, promtool_lint,
    };
    let node = Node::new();
    node.kubelet();
    // The first run succeeds; every later one fails (no output, exit 3).
    kube_bench_by_run(
        &node,
        &[cat_fixture("cis-1.20-node-apxd.json"), "exit 3".to_string()],
    );
    let port = free_port();
    let daemon = Daemon::start(
        &node,
        &[
            ("BENCHMARK_INTERVAL", "2s"),
            ("HEALTH_ENABLED", "true"),
            ("HEALTH_PORT", &port.to_string()),
        ],
    );
    let value = |text: &str, name: &str, outcome: Option<&str>| -> Option<f64> {
        parse_exposition(text)
            .into_iter()
            .find(|s| {
                s.name == name
                    && s.label("node") == "node-1"
                    && outcome.is_none_or(|o| s.label("outcome") == o)
            })
            .map(|s| s.value)
    };
    const RUNS: &str = "compliance_benchmarker_runs_total";
    // Every series exists from the start, whether or not a run has ended yet.
    let mut first = String::new();
    wait_until("the metrics", Duration::from_secs(10), || {
        first = scrape_metrics(port, None).unwrap_or_default();
        !first.is_empty()
    });
    assert_eq!(
        exported_names(&first),
        documented("compliance-benchmarker")
            .into_iter()
            .map(|m| m.name)
            .collect(),
        "{first}"
    );
    let mut text = String::new();
    wait_until("a success and a failure", Duration::from_secs(30), || {
        text = scrape_metrics(port, None).unwrap_or_default();
        value(&text, RUNS, Some("success")) == Some(1.0)
            && value(&text, RUNS, Some("failure")).is_some_and(|n| n >= 1.0)
    });
    // A run is counted after its duration is observed, so the scrape may have caught
    // one more run's duration than its count, never fewer.
    let failures = value(&text, RUNS, Some("failure")).unwrap();
    let durations = value(
        &text,
        "compliance_benchmarker_run_duration_seconds_count",
        None,
    )
    .unwrap();
    assert!(
        durations == 1.0 + failures || durations == 2.0 + failures,
        "{text}"
    );
    let last_run = value(
        &text,
        "compliance_benchmarker_last_run_timestamp_seconds",
        None,
    )
    .unwrap();
    let last_success = value(
        &text,
        "compliance_benchmarker_last_success_timestamp_seconds",
        None,
    )
    .unwrap();
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(
        last_success > now - 60.0 && last_success < last_run && last_run <= now,
        "{text}"
    );
    // The writer stores in the background; the SQLite file takes what is queued at once.
    wait_until("no pending documents", Duration::from_secs(10), || {
        scrape_metrics(port, None).is_some_and(|text| {
            value(&text, "compliance_benchmarker_pending_documents", None) == Some(0.0)
        })
    });
    let table = documented("compliance-benchmarker");
    for sample in parse_exposition(&text) {
        let Some(row) = table.iter().find(|m| {
            sample.name == m.name
                || ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| sample.name == format!("{}{suffix}", m.name))
        }) else {
            panic!("{} is not documented", sample.name);
        };
        let mut want: Vec<&str> = row.labels.iter().map(String::as_str).collect();
        if sample.name.ends_with("_bucket") {
            want.push("le");
        }
        want.sort();
        let got: Vec<&str> = sample.labels.keys().map(String::as_str).collect();
        assert_eq!(got, want, "labels of {}", sample.name);
    }
    // promtool reads the classic text format only.
    let classic = scrape_metrics(port, Some("text/plain")).unwrap();
    assert_eq!(exported_names(&classic), exported_names(&text), "{classic}");
    if let Some(promtool) = promtool() {
        assert_eq!(promtool_lint(&promtool, &classic), "", "{classic}");
    }
    // A real Prometheus reads the same series off the health port: the success counted
    // once, labelled with the node, and the duration histogram usable in a quantile.
    if let Some(prometheus) = compliance_testkit::prometheus::Prometheus::start(&[
        compliance_testkit::prometheus::Target::http("benchmarker", &format!("127.0.0.1:{port}")),
    ]) {
        prometheus.wait_for(
            "the success scraped",
            "compliance_benchmarker_runs_total{outcome=\"success\",node=\"node-1\"}",
            Duration::from_secs(30),
            |answer| answer.len() == 1 && answer[0].value == 1.0,
        );
        prometheus.wait_for(
            "a duration quantile",
            "histogram_quantile(0.5, compliance_benchmarker_run_duration_seconds_bucket)",
            Duration::from_secs(30),
            |answer| answer.len() == 1 && answer[0].value > 0.0 && answer[0].value <= 300.0,
        );
    }
    let (status, log, _) = daemon.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn results_of_runs_while_the_store_is_down_are_stored_when_it_returns() {
    let node = Node::new();
    node.kubelet();
    kube_bench_by_run(
        &node,
        &[
            cat_fixture("cis-1.20-node-apxd.json"),
            cat_fixture("cis-1.12-node-mogamal.json"),
            cat_fixture("cis-1.20-node-oakleysecurity.json"),
            // Later runs repeat the last result, which is then skipped.
        ],
    );
    let data = node.path("data");
    let db = data.join("compliance.db");
    let daemon = Daemon::start(
        &node,
        &[
            ("BENCHMARK_INTERVAL", "2s"),
            ("COMPLIANCE_DATASTORE", &format!("sqlite:{}", db.display())),
        ],
    );
    // The directory does not exist yet: every attempt to store fails until it does.
    wait_until("three runs", Duration::from_secs(30), || runs(&node) >= 3);
    wait_until("a failed store", Duration::from_secs(10), || {
        daemon.log().contains("storing failed; will retry")
    });
    assert!(!db.exists());
    std::fs::create_dir(&data).unwrap();
    wait_until("the queue to be stored", Duration::from_secs(60), || {
        daemon.log().contains("the store is back")
    });
    let (status, log, _) = daemon.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    let versions: Vec<String> = stored_in(&db).into_iter().map(|(_, v, _)| v).collect();
    assert_eq!(versions, ["cis-1.20", "cis-1.12", "cis-1.20"], "{log}");
}

/// The store variables of a benchmarker or reporter talking to the fake Elasticsearch.
fn elastic_vars(fake: &FakeEs) -> Vec<(&'static str, String)> {
    vec![
        ("ELASTIC_URL", fake.url()),
        ("ELASTIC_RETRY_DELAY", "10ms".to_string()),
        ("ELASTIC_RETRIES", "1".to_string()),
        ("COMPLIANCE_DATASTORE", String::new()),
    ]
}

#[test]
fn once_stores_into_elasticsearch_and_the_reporter_reads_it_back() {
    let fake = FakeEs::start();
    let node = Node::new();
    node.kubelet();
    node.kube_bench_printing("cis-1.23-master-newrelic.json");
    let vars = elastic_vars(&fake);
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = node.once("ip-10-0-1-7", &[], &pairs);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("stored in elasticsearch"),
        "{}",
        stdout(&out)
    );
    let docs = fake.documents("tigera_secure_ee_benchmark_results.cluster.");
    assert_eq!(docs.len(), 1);
    let (id, doc) = &docs[0];
    // node@timestamp: a re-run of the same second replaces rather than duplicates.
    assert!(id.starts_with("ip-10-0-1-7@"), "{id}");
    assert_eq!(doc["version"], "cis-1.23");
    assert_eq!(doc["kubernetesVersion"], "1.29.3");
    assert!(!node.db().exists());

    let mut reporter = Command::new(env!("CARGO_BIN_EXE_compliance-reporter"));
    reporter
        .env_clear()
        .env("COMPLIANCE_RESOURCES", root().join("examples/reports.yaml"))
        .env("TIGERA_COMPLIANCE_REPORT_NAME", "daily-cis-results")
        .env("TIGERA_COMPLIANCE_REPORT_START_TIME", "now-1h")
        .env("TIGERA_COMPLIANCE_REPORT_END_TIME", "now+1h");
    for (k, v) in &vars {
        if !v.is_empty() {
            reporter.env(k, v);
        }
    }
    let out = reporter.output().kept();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 nodes"), "{}", stdout(&out));
    fake.assert_no_violations();
}

#[test]
fn a_daemon_keeps_its_results_while_elasticsearch_is_unavailable() {
    let fake = FakeEs::start();
    // More failures than the client's own retries (two attempts per request): the first
    // two store attempts of the writer fail, then its backoff (1s, 2s) brings it back.
    let unavailable = es_error(503, "master_not_discovered_exception", "no master");
    fake.fail_next(RequestMatcher::any(), 4, 503, unavailable);
    let node = Node::new();
    node.kubelet();
    kube_bench_by_run(
        &node,
        &[
            cat_fixture("cis-1.20-node-apxd.json"),
            cat_fixture("cis-1.12-node-mogamal.json"),
        ],
    );
    let vars = elastic_vars(&fake);
    let mut pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    pairs.push(("BENCHMARK_INTERVAL", "2s"));
    let daemon = Daemon::start(&node, &pairs);
    let deadline = Instant::now() + Duration::from_secs(60);
    while fake.count("tigera_secure_ee_benchmark_results.cluster.") < 2 {
        assert!(
            Instant::now() < deadline,
            "not stored in time: {}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, log, _) = daemon.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("storing failed; will retry"), "{log}");
    assert!(log.contains("the store is back"), "{log}");
    let versions: std::collections::BTreeSet<String> = fake
        .documents("tigera_secure_ee_benchmark_results.cluster.")
        .into_iter()
        .map(|(_, d)| d["version"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        versions,
        ["cis-1.12".to_string(), "cis-1.20".to_string()].into()
    );
    fake.assert_no_violations();
}

// --- The benchmark and targets per platform ----------------------------------------------

/// A kube-bench cfg in the shape of kube-bench's own (config.yaml with its
/// `version_mapping` and `target_mapping`, one directory per benchmark), with the
/// benchmarks below. eks-1.8.0 is missing on purpose: kube-bench's table picks it for
/// EKS 1.32 and later, so those nodes fall back to `--version`.
fn write_cfg(dir: &Path) {
    let full = ["master", "node", "controlplane", "etcd", "policies"];
    let managed = [
        "master",
        "node",
        "controlplane",
        "policies",
        "managedservices",
    ];
    let benchmarks: [(&str, &[&str]); 8] = [
        ("cis-1.11", &full),
        ("cis-1.12", &full),
        ("eks-1.7.0", &managed),
        ("gke-1.9.0", &managed),
        ("aks-1.7", &managed),
        ("rh-1.4", &full),
        ("k3s-cis-1.9", &full),
        ("rke2-cis-1.8", &full),
    ];
    let mut yaml = String::from(
        "---\nversion_mapping:\n  \"1.29\": \"cis-1.11\"\n  \"1.31\": \"cis-1.11\"\n  \
         \"1.32\": \"cis-1.12\"\n  \"1.34\": \"cis-1.12\"\n\ntarget_mapping:\n",
    );
    for (b, targets) in benchmarks {
        std::fs::create_dir_all(dir.join(b)).unwrap();
        yaml.push_str(&format!("  \"{b}\":\n"));
        for t in targets {
            yaml.push_str(&format!("    - \"{t}\"\n"));
        }
    }
    std::fs::write(dir.join("config.yaml"), yaml).unwrap();
}

/// A /proc with one process per (comm, command line).
fn write_proc(dir: &Path, processes: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (pid, (comm, cmdline)) in processes.iter().enumerate() {
        let p = dir.join((pid + 1).to_string());
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("comm"), format!("{comm}\n")).unwrap();
        std::fs::write(p.join("cmdline"), cmdline.replace(' ', "\0")).unwrap();
    }
}

/// One node to decide for: its kubelet version, its Node (`None`: not readable), its
/// processes and the benchmarker's extra variables.
struct PlatformCase {
    name: &'static str,
    version: &'static str,
    node: Option<platform::NodeObject>,
    processes: &'static [(&'static str, &'static str)],
    vars: &'static [(&'static str, &'static str)],
    /// kube-bench's arguments; CFG stands for the cfg directory.
    args: &'static str,
    platform: &'static str,
}

fn labelled(labels: &[(&str, &str)]) -> Option<platform::NodeObject> {
    Some(platform::NodeObject {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..platform::NodeObject::default()
    })
}

const CONTROL_PLANE: &[(&str, &str)] = &[
    ("kube-apiserver", "kube-apiserver --secure-port=6443"),
    ("etcd", "etcd --data-dir=/var/lib/etcd"),
    ("kubelet", "/usr/bin/kubelet"),
];
const WORKER: &[(&str, &str)] = &[("kubelet", "/usr/bin/kubelet")];

#[test]
fn each_platform_runs_kube_bench_with_its_exact_arguments() {
    let node = Node::new();
    node.kube_bench_printing("cis-1.12-node-mogamal.json");
    let cfg_dir = node.path("cfg");
    write_cfg(&cfg_dir);
    let eks = || labelled(&[("eks.amazonaws.com/nodegroup", "ng-1")]);
    let cases = vec![
        PlatformCase {
            name: "EKS worker",
            version: "1.29.3-eks-1a2b3c",
            node: eks(),
            processes: WORKER,
            vars: &[],
            args: "run --json --config-dir CFG --targets node --benchmark eks-1.7.0",
            platform: "eks",
        },
        PlatformCase {
            name: "EKS 1.33: eks-1.8.0 is not bundled",
            version: "1.33.1-eks-1a2b3c",
            node: eks(),
            processes: WORKER,
            vars: &[],
            args: "run --json --config-dir CFG --targets node --version 1.33",
            platform: "eks",
        },
        PlatformCase {
            name: "GKE",
            version: "1.31.1-gke.1678000",
            node: labelled(&[("cloud.google.com/gke-nodepool", "default-pool")]),
            processes: WORKER,
            vars: &[],
            args: "run --json --config-dir CFG --targets node --benchmark gke-1.9.0",
            platform: "gke",
        },
        PlatformCase {
            name: "AKS (no suffix)",
            version: "1.30.4",
            node: labelled(&[("kubernetes.azure.com/cluster", "MC_rg_aks_westeurope")]),
            processes: WORKER,
            vars: &[],
            args: "run --json --config-dir CFG --targets node --benchmark aks-1.7",
            platform: "aks",
        },
        PlatformCase {
            name: "OpenShift control plane",
            version: "1.25.7+eab9cc9",
            node: Some(platform::NodeObject {
                openshift_version: Some("4.12.9".into()),
                ..labelled(&[("node.openshift.io/os_id", "rhcos")]).unwrap()
            }),
            processes: CONTROL_PLANE,
            vars: &[],
            args: "run --json --config-dir CFG --targets master,controlplane,etcd,node \
                   --benchmark rh-1.4",
            platform: "ocp",
        },
        PlatformCase {
            name: "k3s server with embedded etcd",
            version: "1.28.5+k3s1",
            node: labelled(&[
                ("node.kubernetes.io/instance-type", "k3s"),
                ("node-role.kubernetes.io/etcd", "true"),
            ]),
            processes: &[("k3s-server", "/usr/local/bin/k3s server")],
            vars: &[],
            args: "run --json --config-dir CFG --targets master,controlplane,etcd,node \
                   --benchmark k3s-cis-1.9",
            platform: "k3s",
        },
        PlatformCase {
            name: "RKE2 agent, Node not readable",
            version: "1.27.10+rke2r1",
            node: None,
            processes: WORKER,
            vars: &[],
            args: "run --json --config-dir CFG --targets node --benchmark rke2-cis-1.8",
            platform: "rke2",
        },
        PlatformCase {
            name: "kubeadm control plane",
            version: "1.29.3",
            node: labelled(&[("node-role.kubernetes.io/control-plane", "")]),
            processes: CONTROL_PLANE,
            vars: &[],
            args: "run --json --config-dir CFG --targets master,controlplane,etcd,node \
                   --version 1.29",
            platform: "kubernetes",
        },
        PlatformCase {
            name: "kubeadm worker",
            version: "1.29.3",
            node: labelled(&[]),
            processes: WORKER,
            vars: &[],
            args: "run --json --config-dir CFG --targets node --version 1.29",
            platform: "kubernetes",
        },
        PlatformCase {
            name: "EKS-D: kube-apiserver on an -eks- build is self-managed",
            version: "1.29.3-eks-1a2b3c",
            node: None,
            processes: CONTROL_PLANE,
            vars: &[],
            args: "run --json --config-dir CFG --targets master,controlplane,etcd,node \
                   --version 1.29",
            platform: "kubernetes",
        },
        PlatformCase {
            name: "KUBE_BENCH_VERSION",
            version: "1.29.3-eks-1a2b3c",
            node: eks(),
            processes: WORKER,
            vars: &[("KUBE_BENCH_VERSION", "1.32")],
            args: "run --json --config-dir CFG --targets node --version 1.32",
            platform: "eks",
        },
        PlatformCase {
            name: "KUBE_BENCH_BENCHMARK",
            version: "1.31.1-gke.1678000",
            node: None,
            processes: WORKER,
            vars: &[("KUBE_BENCH_BENCHMARK", "cis-1.11")],
            args: "run --json --config-dir CFG --targets node --benchmark cis-1.11",
            platform: "gke",
        },
        PlatformCase {
            name: "the node label beats KUBE_BENCH_BENCHMARK",
            version: "1.29.3-eks-1a2b3c",
            node: labelled(&[("compliance.tigera.io/cis-benchmark", "cis-1.12")]),
            processes: WORKER,
            vars: &[("KUBE_BENCH_BENCHMARK", "cis-1.11")],
            args: "run --json --config-dir CFG --targets node --benchmark cis-1.12",
            platform: "eks",
        },
        PlatformCase {
            name: "KUBE_BENCH_ARGS that choose win",
            version: "1.29.3-eks-1a2b3c",
            node: eks(),
            processes: WORKER,
            vars: &[("KUBE_BENCH_ARGS", "--json --benchmark cis-1.11")],
            args: "run --json --benchmark cis-1.11 --config-dir CFG --targets node",
            platform: "eks",
        },
        PlatformCase {
            name: "cluster scope on EKS",
            version: "1.29.3-eks-1a2b3c",
            node: eks(),
            processes: CONTROL_PLANE,
            vars: &[("BENCHMARK_SCOPE", "cluster")],
            args: "run --json --config-dir CFG --targets policies,managedservices \
                   --benchmark eks-1.7.0",
            platform: "eks",
        },
        PlatformCase {
            name: "cluster scope, self-managed",
            version: "1.29.3",
            node: labelled(&[]),
            processes: WORKER,
            vars: &[("BENCHMARK_SCOPE", "cluster")],
            args: "run --json --config-dir CFG --targets policies --version 1.29",
            platform: "kubernetes",
        },
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let search = VersionSearch {
        dirs: vec![node.path("no-kubelet")],
        timeout: Duration::from_secs(5),
    };
    for (i, case) in cases.into_iter().enumerate() {
        let mut vars = vec![
            ("NODENAME".to_string(), "node-1".to_string()),
            (
                "KUBE_BENCH_PATH".to_string(),
                node.bin().join("kube-bench").display().to_string(),
            ),
            ("KUBE_BENCH_ARGS".to_string(), "--json".to_string()),
            (
                "KUBE_BENCH_CFG_DIR".to_string(),
                cfg_dir.display().to_string(),
            ),
            (
                "BENCHMARK_KUBERNETES_VERSION".to_string(),
                case.version.to_string(),
            ),
        ];
        for (k, v) in case.vars {
            vars.retain(|(name, _)| name != k);
            vars.push((k.to_string(), v.to_string()));
        }
        let cfg = BenchmarkerConfig::from_env(&RawEnv::from_vars(vars)).unwrap();
        let proc_root = node.path(&format!("proc-{i}"));
        write_proc(&proc_root, case.processes);
        let lookup: Option<service::NodeLookup> = Some(match case.node.clone() {
            Some(n) => std::sync::Arc::new(move || {
                let n = n.clone();
                Box::pin(async move { Ok(n) })
            }),
            None => std::sync::Arc::new(|| {
                Box::pin(async { Err("nodes \"node-1\" is forbidden".to_string()) })
            }),
        });
        let (dir, cfg_args) = facts::cfg_dir(&cfg.run.kube_bench.args, cfg.run.cfg_dir.as_deref());
        let host = service::Host::new(
            lookup,
            proc_root,
            facts::load_cfg(&dir),
            dir,
            cfg_args,
            "v0.16.0".into(),
        );
        host.check(&cfg.run).unwrap();
        let doc = runtime
            .block_on(service::run_once(
                &cfg.run,
                &search,
                &host,
                &mut compliance_benchmarker::process::never_cancelled(),
            ))
            .unwrap()
            .document;
        let args = std::fs::read_to_string(node.path("kube-bench.args")).unwrap();
        let want = case.args.replace("CFG", &cfg_dir.display().to_string());
        assert_eq!(args.trim(), want, "{}: {}", case.name, doc.benchmark_choice);
        assert_eq!(doc.platform, case.platform, "{}", case.name);
        assert!(!doc.is_errored(), "{}: {}", case.name, doc.error);
        assert_eq!(doc.kube_bench_version, "v0.16.0");
        assert_eq!(doc.benchmarker_version, env!("CARGO_PKG_VERSION"));
        let cluster = case.vars.contains(&("BENCHMARK_SCOPE", "cluster"));
        let want_node = if cluster {
            CLUSTER_SCOPE_NODE_NAME
        } else {
            "node-1"
        };
        assert_eq!(doc.node_name, want_node, "{}", case.name);
        if case.name == "EKS worker" {
            assert_eq!(doc.benchmark_choice, "platform eks 1.29 → eks-1.7.0");
        }
        if case.name.starts_with("EKS 1.33") {
            assert_eq!(
                doc.benchmark_choice,
                "platform eks 1.33: eks-1.8.0 is not in the bundled cfg; falling back to \
                 --version 1.33 (kube-bench maps it to cis-1.12)"
            );
        }
    }
}

#[test]
fn a_benchmark_the_bundled_cfg_lacks_exits_2_naming_the_variable() {
    let node = Node::new();
    node.kubelet();
    node.kube_bench_printing("cis-1.12-node-mogamal.json");
    write_cfg(&node.path("cfg"));
    let cfg_dir = node.path("cfg").display().to_string();
    for (var, value) in [
        ("KUBE_BENCH_BENCHMARK", "eks-1.8.0"),
        ("KUBE_BENCH_VERSION", "1.15"),
    ] {
        let out = node.once(
            "node-1",
            &[],
            &[("KUBE_BENCH_CFG_DIR", &cfg_dir), (var, value)],
        );
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(var) && err.contains(value), "{err}");
        assert!(
            !std::fs::read_to_string(node.path("kube-bench.args"))
                .unwrap_or_default()
                .contains("run"),
            "kube-bench must not run"
        );
    }
}

#[test]
fn the_binary_stores_the_provenance_of_its_choice() {
    let node = Node::new();
    node.kubelet();
    node.kube_bench_printing("eks-1.0-node-valancej.json");
    let (code, doc, out) = node.once_to_file(&[]);
    assert_eq!(code, 0, "{}", stderr(&out));
    assert_eq!(doc["platform"], "eks");
    assert_eq!(doc["kubeBenchVersion"], "v0.16.0");
    assert_eq!(doc["benchmarkerVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["benchmarkChoice"], "platform eks 1.29 → eks-1.7.0");
    // Outside a pod there is no Node to read: said once, not fatal.
    assert!(
        stderr(&out).contains("no access to the API"),
        "{}",
        stderr(&out)
    );
}
