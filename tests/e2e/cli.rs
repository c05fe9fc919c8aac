//! End-to-end runs of the real binaries on a real SQLite file and the real kube-bench
//! fixtures: what a user does by hand, including every bad input the reporter refuses.

use compliance_testkit::secrets::Kept as _;
use std::path::PathBuf;
use std::process::{Command, Output};

use compliance_testkit::fixtures::{fixture, root, stderr, stdout};
use tempfile::TempDir;

const START: &str = "2026-11-25T00:00:00Z";
const END: &str = "2026-11-26T00:00:00Z";
const AT: &str = "2026-11-25T23:00:00Z";

/// A temporary directory holding a SQLite file, and the binaries run against it (also
/// used by the findings tests).
pub(super) struct Env {
    dir: TempDir,
}

impl Env {
    pub(super) fn new() -> Env {
        Env {
            dir: TempDir::new().unwrap(),
        }
    }

    pub(super) fn db(&self) -> PathBuf {
        self.dir.path().join("compliance.db")
    }

    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(super) fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_with(args, &[])
    }

    /// `compliancectl ARGS` with `vars` set on top (an empty value unsets one). The
    /// fixed dates of these tests would fall out of any retention as the real clock moves
    /// on, so retention is off unless a test sets it.
    fn ctl_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_compliancectl"));
        cmd.args(args)
            .env_clear()
            .env(
                "COMPLIANCE_DATASTORE",
                format!("sqlite:{}", self.db().display()),
            )
            .env("COMPLIANCE_BENCHMARK_RETENTION", "forever")
            .env("COMPLIANCE_REPORT_RETENTION", "forever");
        for (k, v) in vars {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        cmd.output().kept()
    }

    fn import(&self, file: &str, node: &str, k8s: Option<&str>) -> Output {
        let f = fixture(file);
        let mut args = vec![
            "import",
            "kube-bench",
            f.to_str().unwrap(),
            "--node",
            node,
            "--time",
            AT,
        ];
        if let Some(v) = k8s {
            args.extend(["--k8s-version", v]);
        }
        let out = self.ctl(&args);
        // Every test builds on its imports: one that failed would make it test nothing.
        assert!(out.status.success(), "{file}: {}", stderr(&out));
        out
    }

    fn import_all(&self) {
        for (file, node, k8s) in [
            (
                "cis-1.5-node-defectdojo.json",
                "dd-worker-1",
                Some("1.15.12"),
            ),
            (
                "eks-1.0-node-valancej.json",
                "ip-192-168-12-40.ec2.internal",
                Some("1.18.9"),
            ),
            (
                "cis-1.6-master-defectdojo.json",
                "dd-control-plane",
                Some("1.19.7"),
            ),
            ("cis-1.20-node-apxd.json", "hpe-worker-3", Some("1.22.4")),
            ("cis-1.20-node-oakleysecurity.json", "oakley-worker", None),
            ("cis-1.23-master-newrelic.json", "minikube", None),
            ("cis-1.12-node-mogamal.json", "minikube-m02", None),
        ] {
            self.import(file, node, k8s);
        }
    }

    pub(super) fn reporter(&self, vars: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_compliance-reporter"));
        cmd.env_clear()
            .env(
                "COMPLIANCE_DATASTORE",
                format!("sqlite:{}", self.db().display()),
            )
            // As in `ctl_with`: retention off unless a test sets it.
            .env("COMPLIANCE_BENCHMARK_RETENTION", "forever")
            .env("COMPLIANCE_REPORT_RETENTION", "forever")
            .env("COMPLIANCE_RESOURCES", root().join("examples/reports.yaml"))
            .env("TIGERA_COMPLIANCE_REPORT_NAME", "daily-cis-results")
            .env("TIGERA_COMPLIANCE_REPORT_START_TIME", START)
            .env("TIGERA_COMPLIANCE_REPORT_END_TIME", END);
        for (k, v) in vars {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        cmd.output().kept()
    }

    fn report_ids(&self) -> Vec<String> {
        let out = self.ctl(&["reports", "list", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    }
}

const ID: &str = "daily-cis-results_cis-benchmark_c6220b98-9113-5930-a610-83459f316228";

#[test]
fn seven_real_nodes_end_to_end() {
    let env = Env::new();
    env.import_all();
    let out_dir = env.path("out");
    let out = env.reporter(&[("COMPLIANCE_OUTPUT_DIR", out_dir.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stdout(&out);
    assert!(line.contains(ID), "{line}");
    assert!(line.contains("7 nodes"), "{line}");
    for f in [
        "total-summary.csv",
        "node-summary.csv",
        "failed-tests.csv",
        "all-tests.csv",
        "ui-summary.json",
        "node-provenance.csv",
    ] {
        assert!(out_dir.join(f).exists(), "{f} missing");
    }
    let nodes = std::fs::read_to_string(out_dir.join("node-summary.csv")).unwrap();
    assert_eq!(nodes.lines().count(), 8, "{nodes}");
    assert!(
        nodes
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("dd-control-plane,1.19.7,"),
        "{nodes}"
    );

    // The stored document matches what was written, and `show` reads it back.
    let show = env.ctl(&["reports", "show", ID, "--json"]);
    assert!(show.status.success(), "{}", stderr(&show));
    let doc: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(doc["cisBenchmark"].as_array().unwrap().len(), 7);
    assert_eq!(doc["startTime"], START);
    let ui = std::fs::read_to_string(out_dir.join("ui-summary.json")).unwrap();
    assert_eq!(ui.trim_end(), doc["uiSummary"].as_str().unwrap());

    // Downloads regenerate byte for byte from the stored report.
    let again = env.path("again");
    let dl = env.ctl(&[
        "reports",
        "download",
        ID,
        "--output",
        again.to_str().unwrap(),
    ]);
    assert!(dl.status.success(), "{}", stderr(&dl));
    for f in [
        "total-summary.csv",
        "node-summary.csv",
        "failed-tests.csv",
        "all-tests.csv",
        "ui-summary.json",
        "node-provenance.csv",
    ] {
        assert_eq!(
            std::fs::read(out_dir.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f} differs"
        );
    }
}

/// docs/exports.md: `--format` takes the groups csv, junit and oscal beside the download
/// names; the exports are the same bytes through a file or standard output.
#[test]
fn download_writes_the_exports_by_format() {
    let env = Env::new();
    env.import_all();
    assert_eq!(env.reporter(&[]).status.code(), Some(0));
    let dir = env.path("exports");
    let dl = env.ctl(&[
        "reports",
        "download",
        ID,
        "--format",
        "junit",
        "--format",
        "oscal",
        "--format",
        "csv",
        "--format",
        "junit.xml",
        "--output",
        dir.to_str().unwrap(),
    ]);
    assert!(dl.status.success(), "{}", stderr(&dl));
    let written: Vec<String> = stdout(&dl)
        .lines()
        .map(|l| l.rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(
        written,
        [
            "junit.xml",
            "oscal-assessment-results.json",
            "total-summary.csv",
            "node-summary.csv",
            "failed-tests.csv",
            "all-tests.csv",
        ]
    );
    assert!(!dir.join("ui-summary.json").exists());
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.starts_with("<?xml version=\"1.0\""), "{junit}");
    assert_eq!(junit.matches("<testsuite ").count(), 7);
    let oscal: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("oscal-assessment-results.json")).unwrap())
            .unwrap();
    assert_eq!(
        oscal["assessment-results"]["metadata"]["oscal-version"],
        "1.1.3"
    );
    assert_eq!(oscal["assessment-results"]["results"][0]["start"], START);

    let piped = env.ctl(&[
        "reports", "download", ID, "--format", "junit", "--output", "-",
    ]);
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(stdout(&piped), junit);
    // A group of several files cannot go to standard output.
    let csv = env.ctl(&[
        "reports", "download", ID, "--format", "csv", "--output", "-",
    ]);
    assert_eq!(csv.status.code(), Some(2), "{}", stderr(&csv));

    let bad = env.ctl(&["reports", "download", ID, "--format", "sarif"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let err = stderr(&bad);
    assert!(
        err.contains("--format") && err.contains("\"sarif\"") && err.contains("csv, junit, oscal"),
        "{err}"
    );
}

#[test]
fn same_window_twice_yields_one_report() {
    let env = Env::new();
    env.import_all();
    assert_eq!(env.reporter(&[]).status.code(), Some(0));
    assert_eq!(env.reporter(&[]).status.code(), Some(0));
    assert_eq!(env.report_ids(), [ID]);
}

#[test]
fn schedule_window_is_used_when_start_and_end_are_absent() {
    let env = Env::new();
    env.import("cis-1.23-master-newrelic.json", "minikube", None);
    let out = env.reporter(&[
        ("TIGERA_COMPLIANCE_REPORT_START_TIME", ""),
        ("TIGERA_COMPLIANCE_REPORT_END_TIME", ""),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The last completed daily window ends at a midnight no later than now - 30m.
    let line = stdout(&out);
    assert!(line.contains("T00:00:00Z – "), "{line}");
}

/// docs/spec.md §2: the twice-an-hour limit bounds scheduling. A run with an explicit
/// window does not use the schedule, so it runs and warns; a run that would derive its
/// window from the schedule is refused, as the controller refuses to schedule it.
#[test]
fn an_explicit_window_runs_even_when_the_schedule_fires_more_than_twice_an_hour() {
    let env = Env::new();
    env.import("cis-1.23-master-newrelic.json", "minikube", None);
    let frequent = env.path("frequent.yaml");
    let seed = std::fs::read_to_string(root().join("examples/reports.yaml")).unwrap();
    std::fs::write(
        &frequent,
        seed.replace("schedule: 0 0 * * *", "schedule: '*/10 * * * *'"),
    )
    .unwrap();
    let resources = frequent.to_str().unwrap();

    let out = env.reporter(&[("COMPLIANCE_RESOURCES", resources)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("fires 6 times an hour") && err.contains("running the explicit window"),
        "{err}"
    );
    assert_eq!(env.report_ids(), [ID]);

    // Derived from the schedule, the window is refused: a configuration error naming
    // the field, and nothing more stored.
    assert_config_error(
        &env,
        &[
            ("COMPLIANCE_RESOURCES", resources),
            ("TIGERA_COMPLIANCE_REPORT_START_TIME", ""),
            ("TIGERA_COMPLIANCE_REPORT_END_TIME", ""),
        ],
        "spec.schedule",
    );
    assert_eq!(env.report_ids(), [ID]);

    // `compliancectl validate` keeps refusing it, as the CRD and the controller do.
    let validate = env.ctl(&["validate", "-f", resources]);
    assert_eq!(validate.status.code(), Some(2), "{}", stderr(&validate));
    assert!(
        stderr(&validate).contains("at most 2 are allowed"),
        "{}",
        stderr(&validate)
    );
}

#[test]
fn fail_on_exits_3_after_storing_and_names_the_nodes() {
    let env = Env::new();
    env.import_all();
    let out = env.reporter(&[("COMPLIANCE_FAIL_ON", "med")]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("rate MED or below"), "{text}");
    assert!(text.contains("FAIL "), "{text}");
    assert_eq!(
        env.report_ids(),
        [ID],
        "the report is stored before failing"
    );
    let show = env.ctl(&["reports", "show", ID, "--fail-on", "low"]);
    assert_eq!(show.status.code(), Some(3), "{}", stderr(&show));
}

fn assert_config_error(env: &Env, vars: &[(&str, &str)], needle: &str) {
    let out = env.reporter(vars);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{vars:?}: {err}");
    assert!(
        err.contains(needle),
        "{vars:?}: expected {needle:?} in {err}"
    );
}

#[test]
fn configuration_errors_exit_2_name_the_value_and_store_nothing() {
    let env = Env::new();
    env.import("cis-1.23-master-newrelic.json", "minikube", None);
    assert_config_error(
        &env,
        &[("TIGERA_COMPLIANCE_REPORT_NAME", "")],
        "TIGERA_COMPLIANCE_REPORT_NAME",
    );
    assert_config_error(
        &env,
        &[("TIGERA_COMPLIANCE_REPORT_START_TIME", "yesterday")],
        "\"yesterday\"",
    );
    assert_config_error(
        &env,
        &[
            ("TIGERA_COMPLIANCE_REPORT_START_TIME", END),
            ("TIGERA_COMPLIANCE_REPORT_END_TIME", START),
        ],
        "TIGERA_COMPLIANCE_REPORT_END_TIME",
    );
    assert_config_error(
        &env,
        &[("TIGERA_COMPLIANCE_REPORT_NAME", "weekly")],
        "no GlobalReport named \"weekly\"",
    );
    assert_config_error(
        &env,
        &[("COMPLIANCE_DATASTORE", "postgres://db")],
        "COMPLIANCE_DATASTORE",
    );
    assert_config_error(
        &env,
        &[("COMPLIANCE_FAIL_ON", "high")],
        "COMPLIANCE_FAIL_ON",
    );
    assert_config_error(&env, &[("LOG_LEVEL", "loud")], "LOG_LEVEL");
    assert_config_error(
        &env,
        &[("ELASTIC_HOST", "es.example"), ("ELASTIC_PORT", "92OO")],
        "ELASTIC_PORT=\"92OO\"",
    );
    assert_config_error(
        &env,
        &[
            ("ELASTIC_URL", "https://es-a:9200"),
            ("ELASTIC_HOST", "es-b"),
        ],
        "disagrees with ELASTIC_HOST",
    );
    assert_config_error(
        &env,
        &[("COMPLIANCE_RESOURCES", "")],
        "COMPLIANCE_RESOURCES",
    );
    assert_config_error(
        &env,
        &[
            ("COMPLIANCE_RESOURCES", ""),
            ("KUBECONFIG", "/nonexistent/kubeconfig"),
        ],
        "/nonexistent/kubeconfig",
    );
    assert_config_error(
        &env,
        &[("COMPLIANCE_API_GROUP", "projectcalico")],
        "COMPLIANCE_API_GROUP=\"projectcalico\"",
    );
    assert_config_error(&env, &[("HEALTH_PORT", "99999")], "HEALTH_PORT=\"99999\"");
    assert_config_error(
        &env,
        &[("HEALTH_ENABLED", "sure")],
        "HEALTH_ENABLED=\"sure\"",
    );

    let bad = env.path("bad.yaml");
    let seed = std::fs::read_to_string(root().join("examples/reports.yaml")).unwrap();
    std::fs::write(&bad, seed.replace("medThreshold: 50", "medThreshold: 100")).unwrap();
    assert_config_error(
        &env,
        &[("COMPLIANCE_RESOURCES", bad.to_str().unwrap())],
        "spec.cis.medThreshold",
    );
    std::fs::write(
        &bad,
        seed.replace("reportType: cis-benchmark", "reportType: inventory"),
    )
    .unwrap();
    assert_config_error(
        &env,
        &[("COMPLIANCE_RESOURCES", bad.to_str().unwrap())],
        "unknown report type \"inventory\"",
    );

    let list = env.ctl(&["reports", "list"]);
    assert!(stdout(&list).contains("no reports"), "{}", stdout(&list));
}

#[test]
fn corrupt_database_is_a_runtime_error_and_left_alone() {
    let env = Env::new();
    std::fs::write(env.db(), b"this is not a database, it is a shopping list\n").unwrap();
    let out = env.reporter(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(env.db().to_str().unwrap()),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(env.db()).unwrap(),
        b"this is not a database, it is a shopping list\n"
    );
}

#[test]
fn bad_kube_bench_files_are_refused_and_nothing_is_stored() {
    let env = Env::new();
    let garbage = env.path("garbage.json");
    std::fs::write(
        &garbage,
        "[PASS] 1.1.1 Ensure that the API server pod specification file permissions",
    )
    .unwrap();
    let out = env.ctl(&[
        "import",
        "kube-bench",
        garbage.to_str().unwrap(),
        "--node",
        "n1",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("garbage.json"), "{}", stderr(&out));
    let empty = env.path("empty.json");
    std::fs::write(&empty, "{}").unwrap();
    let out = env.ctl(&[
        "import",
        "kube-bench",
        empty.to_str().unwrap(),
        "--node",
        "n1",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        !env.db().exists(),
        "no database is created for a refused import"
    );
}

#[test]
fn benchmark_documents_with_missing_keys_are_skipped_and_counted() {
    let env = Env::new();
    let file = env.path("docs.ndjson");
    let good = r#"{"version":"cis-1.9","kubernetesVersion":"1.29.3","type":"kube","node_name":"n1","timestamp":"2026-11-25T10:00:00Z","tests":[{"section":"1.1","section_desc":"Files","test_number":"1.1.1","test_desc":"d","test_info":"i","status":"FAIL","scored":true}],"cluster":"cluster"}"#;
    let no_node = good.replace(r#""node_name":"n1","#, "");
    std::fs::write(&file, format!("{good}\n{no_node}\n{{not json\n\n")).unwrap();
    let out = env.ctl(&["import", "benchmarks", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("imported 1 documents"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("skipped 2"), "{}", stdout(&out));
    let rep = env.reporter(&[]);
    assert_eq!(rep.status.code(), Some(0), "{}", stderr(&rep));
    assert!(stdout(&rep).contains("1 nodes"), "{}", stdout(&rep));
    assert!(
        stdout(&rep).contains("top failed: 1.1.1 (1)"),
        "{}",
        stdout(&rep)
    );
}

#[test]
fn validate_reports_problems_with_exit_2() {
    let env = Env::new();
    let ok = env.ctl(&["validate", "-f", root().join("examples").to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let bad = env.path("bad.yaml");
    let seed = std::fs::read_to_string(root().join("examples/reports.yaml")).unwrap();
    std::fs::write(
        &bad,
        seed.replace("numFailedTests: 5", "numFailedTests: -1"),
    )
    .unwrap();
    let out = env.ctl(&["validate", "-f", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("spec.cis.numFailedTests: -1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn reports_on_a_missing_database_say_so() {
    let env = Env::new();
    let out = env.ctl(&["reports", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert!(!env.db().exists());
}

#[test]
fn a_failure_while_storing_exits_1_and_keeps_the_previous_report() {
    let env = Env::new();
    env.import("cis-1.23-master-newrelic.json", "minikube", None);
    assert_eq!(env.reporter(&[]).status.code(), Some(0));
    env.import("cis-1.12-node-mogamal.json", "minikube-m02", None);

    // Make the store fail half way through writing the new report's nodes.
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER fail_second_node BEFORE INSERT ON report_nodes WHEN NEW.ordinal >= 1
         BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END;",
    )
    .unwrap();
    drop(conn);
    let out = env.reporter(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("disk quota exceeded"),
        "{}",
        stderr(&out)
    );

    let conn = rusqlite::Connection::open(env.db()).unwrap();
    conn.execute_batch("DROP TRIGGER fail_second_node").unwrap();
    drop(conn);
    let show = env.ctl(&["reports", "show", ID, "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let nodes: Vec<_> = doc["cisBenchmark"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["nodeName"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["minikube"], "the previous report is intact");
}

#[test]
fn json_logs_are_one_object_per_line_on_stderr() {
    let env = Env::new();
    env.import("cis-1.23-master-newrelic.json", "minikube", None);
    let out = env.reporter(&[("LOG_FORMAT", "json"), ("LOG_LEVEL", "info")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "report stored" && l["nodes"] == 1),
        "{err}"
    );
}

#[test]
fn with_json_logs_a_failure_is_reported_as_one_json_line() {
    let env = Env::new();
    let out = env.reporter(&[
        ("LOG_FORMAT", "json"),
        ("TIGERA_COMPLIANCE_REPORT_NAME", "weekly"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let failures: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "report failed")
        .collect();
    assert_eq!(failures.len(), 1, "{err}");
    assert!(
        failures[0]["error"]
            .as_str()
            .unwrap()
            .contains("no GlobalReport named \"weekly\""),
        "{err}"
    );
    assert_eq!(failures[0]["exit_code"], 2);
}

#[test]
fn an_unreachable_api_server_is_a_runtime_failure_after_bounded_attempts() {
    let env = Env::new();
    // Nothing listens on port 1; the kubeconfig is otherwise valid.
    let kubeconfig = env.path("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    )
    .unwrap();
    let out = env.reporter(&[
        ("COMPLIANCE_RESOURCES", ""),
        ("KUBECONFIG", kubeconfig.to_str().unwrap()),
        ("COMPLIANCE_API_TIMEOUT", "2s"),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the Kubernetes API server https://127.0.0.1:1/ did not answer while getting GlobalReport \"daily-cis-results\": gave up after 3 attempts"),
        "{err}"
    );
    assert!(
        !env.db().exists() || env.report_ids().is_empty(),
        "nothing stored"
    );
}

#[test]
fn reports_status_without_a_kubernetes_configuration_is_a_configuration_error() {
    let env = Env::new();
    // No KUBECONFIG, an empty HOME, not in a pod: nowhere to find an API server.
    let out = Command::new(env!("CARGO_BIN_EXE_compliancectl"))
        .args(["reports", "status", "daily-cis-results"])
        .env_clear()
        .env("HOME", env.dir.path())
        .output()
        .kept();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no Kubernetes API to read GlobalReport \"daily-cis-results\" from"),
        "{err}"
    );
    assert!(
        err.contains("Point KUBECONFIG at a kubeconfig file"),
        "{err}"
    );
    assert!(!env.db().exists(), "status needs no store and opens none");
}

#[test]
fn reports_status_with_an_unreachable_api_server_is_a_runtime_failure() {
    let env = Env::new();
    let kubeconfig = env.path("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_compliancectl"))
        .args(["reports", "status", "daily-cis-results", "--json"])
        .env_clear()
        .env("KUBECONFIG", &kubeconfig)
        .env("COMPLIANCE_API_TIMEOUT", "2s")
        .output()
        .kept();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the Kubernetes API server https://127.0.0.1:1/ did not answer while getting GlobalReport \"daily-cis-results\""),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// Rows of a table of the test's database.
fn rows(env: &Env, table: &str) -> i64 {
    rusqlite::Connection::open(env.db())
        .unwrap()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// Retention back on: the variables unset, so the defaults (91 days) apply.
const DEFAULT_RETENTION: [(&str, &str); 2] = [
    ("COMPLIANCE_BENCHMARK_RETENTION", ""),
    ("COMPLIANCE_REPORT_RETENTION", ""),
];

/// A store with a node last seen 200 days ago (two documents), a node seen an hour ago
/// and a report of a window 200 days ago. Times are relative to the real clock, so what
/// is older than 91 days does not depend on when the test runs.
fn store_with_old_data(env: &Env) {
    for (file, node, at) in [
        ("cis-1.23-master-newrelic.json", "minikube", "now-201d"),
        ("cis-1.23-master-newrelic.json", "minikube", "now-200d"),
        ("cis-1.20-node-apxd.json", "hpe-worker-3", "now-1h"),
    ] {
        let f = fixture(file);
        let out = env.ctl(&[
            "import",
            "kube-bench",
            f.to_str().unwrap(),
            "--node",
            node,
            "--time",
            at,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let old = env.reporter(&[
        ("TIGERA_COMPLIANCE_REPORT_START_TIME", "now-201d"),
        ("TIGERA_COMPLIANCE_REPORT_END_TIME", "now-200d"),
    ]);
    assert_eq!(old.status.code(), Some(0), "{}", stderr(&old));
    assert_eq!((rows(env, "benchmark_docs"), rows(env, "reports")), (3, 1));
}

#[test]
fn retention_the_reporter_prunes_after_writing() {
    let env = Env::new();
    store_with_old_data(&env);
    let mut vars = DEFAULT_RETENTION.to_vec();
    vars.extend([
        ("TIGERA_COMPLIANCE_REPORT_START_TIME", "now-1d"),
        ("TIGERA_COMPLIANCE_REPORT_END_TIME", "now"),
    ]);
    let out = env.reporter(&vars);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(log.contains("pruned what the retention lets go"), "{log}");
    // The old report went with its nodes; minikube keeps its newest document.
    assert_eq!(env.report_ids().len(), 1);
    assert!(stdout(&out).contains(&env.report_ids()[0]));
    assert_eq!(rows(&env, "benchmark_docs"), 2);
    let orphans: i64 = rusqlite::Connection::open(env.db())
        .unwrap()
        .query_row(
            "SELECT count(*) FROM report_nodes \
             WHERE report_key NOT IN (SELECT report_key FROM reports)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
}

#[test]
fn retention_prune_dry_run_changes_nothing_and_prune_deletes() {
    let env = Env::new();
    store_with_old_data(&env);
    let dry = env.ctl_with(&["prune", "--dry-run"], &DEFAULT_RETENTION);
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    let line = stdout(&dry);
    assert!(
        line.contains("would delete 1 benchmark documents and 1 reports (1 report nodes)"),
        "{line}"
    );
    assert_eq!(
        (rows(&env, "benchmark_docs"), rows(&env, "reports")),
        (3, 1)
    );

    // Flags win over the variables: forever deletes nothing.
    let none = env.ctl(&[
        "prune",
        "--benchmark-retention",
        "forever",
        "--report-retention",
        "forever",
    ]);
    assert_eq!(none.status.code(), Some(0), "{}", stderr(&none));
    assert!(stdout(&none).contains("deleted 0 benchmark documents and 0 reports"));
    assert_eq!(
        (rows(&env, "benchmark_docs"), rows(&env, "reports")),
        (3, 1)
    );

    let real = env.ctl_with(&["prune"], &DEFAULT_RETENTION);
    assert_eq!(real.status.code(), Some(0), "{}", stderr(&real));
    let line = stdout(&real);
    assert!(
        line.contains("deleted 1 benchmark documents and 1 reports (1 report nodes)"),
        "{line}"
    );
    assert!(line.contains("freed for reuse"), "{line}");
    assert_eq!(
        (rows(&env, "benchmark_docs"), rows(&env, "reports")),
        (2, 0)
    );
}

#[test]
fn retention_bad_values_exit_2_naming_the_variable() {
    let env = Env::new();
    env.import("cis-1.23-master-newrelic.json", "minikube", None);
    assert_config_error(
        &env,
        &[("COMPLIANCE_BENCHMARK_RETENTION", "1d")],
        "COMPLIANCE_BENCHMARK_RETENTION=\"1d\": must be at least 36h",
    );
    assert_config_error(
        &env,
        &[("COMPLIANCE_REPORT_RETENTION", "soon")],
        "COMPLIANCE_REPORT_RETENTION=\"soon\"",
    );
    assert!(env.report_ids().is_empty(), "nothing stored");
    let f = fixture("cis-1.20-node-apxd.json");
    let import = env.ctl_with(
        &["import", "kube-bench", f.to_str().unwrap(), "--node", "n"],
        &[("COMPLIANCE_REPORT_RETENTION", "-1d")],
    );
    assert_eq!(import.status.code(), Some(2), "{}", stderr(&import));
    assert!(stderr(&import).contains("COMPLIANCE_REPORT_RETENTION=\"-1d\""));
    assert_eq!(rows(&env, "benchmark_docs"), 1, "the import stored nothing");
    let flag = env.ctl(&["prune", "--benchmark-retention", "35h"]);
    assert_eq!(flag.status.code(), Some(2), "{}", stderr(&flag));
    assert!(stderr(&flag).contains("--benchmark-retention=\"35h\""));
    // Elasticsearch prunes by its lifecycle policies: prune says so, sending nothing.
    let es = env.ctl_with(
        &["--datastore", "elastic", "prune"],
        &[("ELASTIC_URL", "http://127.0.0.1:9")],
    );
    assert_eq!(es.status.code(), Some(2), "{}", stderr(&es));
    assert!(
        stderr(&es).contains("index lifecycle policies"),
        "{}",
        stderr(&es)
    );
}

/// docs/spec.md §4.2, expected nodes, with the embedded store and no API server: the
/// nodes of the previous report that have no result in the look-back are listed without
/// results, with the time of their last result, rated LOW and counted, downloads
/// included.
#[test]
fn spec_4_2_a_node_that_stopped_reporting_is_listed_without_results() {
    let env = Env::new();
    let earlier = "2026-11-24T10:00:00Z";
    for node in ["node-a", "node-b", "node-c"] {
        let f = fixture("cis-1.23-master-newrelic.json");
        let out = env.ctl(&[
            "import",
            "kube-bench",
            f.to_str().unwrap(),
            "--node",
            node,
            "--time",
            earlier,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // The previous day's report lists all three.
    let out = env.reporter(&[
        (
            "TIGERA_COMPLIANCE_REPORT_START_TIME",
            "2026-11-24T00:00:00Z",
        ),
        ("TIGERA_COMPLIANCE_REPORT_END_TIME", "2026-11-25T00:00:00Z"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stdout(&out);
    assert!(line.contains("3 nodes"), "{line}");
    assert!(
        line.contains("0 without results; expected nodes: none"),
        "{line}"
    );

    // Then node-c's benchmarker stops: a and b report again, c's last result falls out
    // of the look-back (2026-11-24T12:00:00Z onwards).
    env.import("cis-1.23-master-newrelic.json", "node-a", None);
    env.import("cis-1.23-master-newrelic.json", "node-b", None);
    let out_dir = env.path("out");
    let out = env.reporter(&[("COMPLIANCE_OUTPUT_DIR", out_dir.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stdout(&out);
    assert!(line.contains("3 nodes"), "{line}");
    assert!(
        line.contains("1 without results; expected nodes: previous report"),
        "{line}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("expected nodes have no result in the look-back"),
        "{err}"
    );

    let nodes = std::fs::read_to_string(out_dir.join("node-summary.csv")).unwrap();
    let rows: Vec<&str> = nodes.lines().collect();
    assert_eq!(rows.len(), 4, "{nodes}");
    assert_eq!(rows[3], "node-c,,LOW,0,0,0,0", "{nodes}");
    let total = std::fs::read_to_string(out_dir.join("total-summary.csv")).unwrap();
    let counts: Vec<&str> = total.lines().nth(1).unwrap().split(',').collect();
    let low: u64 = counts[7].parse().unwrap();
    assert!(low >= 1, "node-c counts as LOW: {total}");
    let ui: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("ui-summary.json")).unwrap())
            .unwrap();
    assert_eq!(ui["widgets"][0]["summary"]["total"], 3, "{ui}");

    // The stored report says the same.
    let show = env.ctl(&["reports", "show", ID, "--json"]);
    assert!(show.status.success(), "{}", stderr(&show));
    let doc: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let c = &doc["cisBenchmark"][2];
    assert_eq!(c["nodeName"], "node-c", "{doc}");
    assert_eq!(c["summary"]["status"], "LOW");
    assert_eq!(c["summary"]["total"], 0);
    assert_eq!(c["noResults"], true, "{c}");
    assert_eq!(c["lastResultTime"], earlier, "{c}");
    assert_eq!(doc["cisBenchmarkSummary"]["noResultsCount"], 1);
    assert_eq!(doc["cisBenchmarkSummary"]["lowCount"], low);
}

/// GlobalReportWaivers of the examples, and one of each problem, for the tests below.
const WAIVERS: &str = r#"apiVersion: projectcalico.org/v3
kind: GlobalReportWaiver
metadata: {name: etcd-perms}
spec: {tests: ["1.1.12"], reason: etcd runs as root here, owner: security, expires: "2027-03-31"}
---
apiVersion: projectcalico.org/v3
kind: GlobalReportWaiver
metadata: {name: api-section}
spec: {tests: ["1.2"], nodeNames: [minikube], reason: managed API server, owner: platform, ticket: PLAT-1, expires: "2027-03-31"}
---
apiVersion: projectcalico.org/v3
kind: GlobalReportWaiver
metadata: {name: expired}
spec: {tests: ["1.3.2"], reason: was accepted, owner: security, expires: "2026-11-26"}
---
apiVersion: projectcalico.org/v3
kind: GlobalReportWaiver
metadata: {name: stale}
spec: {tests: ["9.9"], reason: removed long ago, owner: security, expires: "2027-03-31"}
---
apiVersion: projectcalico.org/v3
kind: GlobalReportWaiver
metadata: {name: selector}
spec: {tests: ["1.4.1"], nodeSelector: {matchLabels: {pool: cp}}, reason: scheduler flags, owner: platform, expires: "2027-03-31"}
---
apiVersion: projectcalico.org/v3
kind: GlobalReportWaiver
metadata: {name: bad}
spec: {tests: ["1.1.11"], reason: no end in sight, owner: security, expires: next week}
"#;

/// docs/waivers.md: `validate` reads waiver documents, and names the waiver, the field
/// and the value of each problem, exiting 2.
#[test]
fn validate_checks_waivers_naming_field_and_value_with_exit_2() {
    let env = Env::new();
    let examples = root().join("manifests/examples/waivers.yaml");
    let ok = env.ctl(&["validate", "-f", examples.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(
        stdout(&ok).contains("GlobalReportWaiver etcd-data-dir-owner ("),
        "{}",
        stdout(&ok)
    );
    let bad = env.path("waivers.yaml");
    std::fs::write(&bad, WAIVERS).unwrap();
    let out = env.ctl(&["validate", "-f", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "(document 6): GlobalReportWaiver \"bad\": spec.expires: \"next week\" is neither"
        ),
        "{err}"
    );
    assert!(err.contains("1 problem(s) found"), "{err}");
}

/// docs/waivers.md, with COMPLIANCE_RESOURCES: waivers come from the same files as the
/// report; waived failures, expired and matching-nothing waivers are in the summary, the
/// invalid one is warned about and not applied, and the report is still made.
#[test]
fn reporter_applies_waivers_from_the_resource_files() {
    let env = Env::new();
    env.import("cis-1.23-master-newrelic.json", "minikube", None);
    let dir = env.path("resources");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(
        root().join("examples/reports.yaml"),
        dir.join("reports.yaml"),
    )
    .unwrap();
    std::fs::write(dir.join("waivers.yaml"), WAIVERS).unwrap();
    let out = env.reporter(&[("COMPLIANCE_RESOURCES", dir.to_str().unwrap())]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let summary = stdout(&out);
    // 1.1.12, and 1.2.6 and 1.2.18–1.2.22 of the fixture's twelve failures.
    assert!(
        summary.contains("; 7 failures waived (without waivers: HIGH 0, MED 1, LOW 0); waivers expired: expired; waivers matching nothing: selector, stale"),
        "{summary}"
    );
    assert!(
        err.contains("GlobalReportWaiver \"bad\" (")
            && err.contains("is not applied: spec.expires: \"next week\""),
        "{err}"
    );
    assert!(
        err.contains("GlobalReportWaivers selector have a nodeSelector"),
        "{err}"
    );
    assert!(
        err.contains("GlobalReportWaiver \"expired\" (owner security) expired at 2026-11-26"),
        "{err}"
    );
    // The top failed tests leave the waived ones out.
    assert!(!summary.contains("1.1.12 ("), "{summary}");
}

/// `compliancectl waivers list -f`: each waiver with its state at `--at` (a date expiry
/// is the start of that day, UTC), the invalid one with its problem.
#[test]
fn waivers_list_tells_in_force_expired_and_invalid_apart() {
    let env = Env::new();
    let file = env.path("waivers.yaml");
    std::fs::write(&file, WAIVERS).unwrap();
    let out = env.ctl(&[
        "waivers",
        "list",
        "-f",
        file.to_str().unwrap(),
        "--at",
        "2026-11-25T23:59:59Z",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("waivers at 2026-11-25T23:59:59Z:\n"),
        "{text}"
    );
    assert!(
        text.contains("  expired IN FORCE (expires 2026-11-26T00:00:00Z): owner security;"),
        "one second before its expiry: {text}"
    );
    assert!(
        text.contains("  api-section IN FORCE (expires 2027-03-31T00:00:00Z): owner platform, ticket PLAT-1; tests 1.2 on nodes minikube, every report;"),
        "{text}"
    );
    assert!(
        text.contains("  bad INVALID (") && text.contains("spec.expires: \"next week\""),
        "{text}"
    );
    let out = env.ctl(&[
        "waivers",
        "list",
        "-f",
        file.to_str().unwrap(),
        "--at",
        "2026-11-26T00:00:00Z",
    ]);
    assert!(
        stdout(&out).contains("  expired EXPIRED (expires 2026-11-26T00:00:00Z)"),
        "{}",
        stdout(&out)
    );
}
