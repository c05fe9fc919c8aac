//! `compliancectl` and `compliance-reporter` as a user runs them, against the fake
//! Elasticsearch: real kube-bench outputs imported, a report computed and stored, listed
//! and downloaded, with every request the reporter sends checked against the protocol.

use compliance_testkit::fake_es;
use compliance_testkit::fixtures::{fixture, root, stderr, stdout};
use compliance_testkit::secrets::{self, Kept as _};

use std::process::{Command, Output};

use fake_es::{FakeEs, RequestMatcher, es_error};

pub(crate) const START: &str = "2026-11-25T00:00:00Z";
pub(crate) const END: &str = "2026-11-26T00:00:00Z";
/// The id of daily-cis-results' report over [START, END].
pub(crate) const ID: &str = "daily-cis-results_cis-benchmark_c6220b98-9113-5930-a610-83459f316228";

fn base(cmd: &mut Command, fake: &FakeEs) {
    base_at(cmd, &fake.url());
}

/// A program's environment for the Elasticsearch at `url`: short retries, small pages.
fn base_at(cmd: &mut Command, url: &str) {
    cmd.env_clear()
        .env("ELASTIC_URL", url)
        .env("ELASTIC_RETRY_DELAY", "10ms")
        .env("ELASTIC_RETRIES", "3")
        .env("ELASTIC_PAGE_SIZE", "2");
}

fn ctl(fake: &FakeEs, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_compliancectl"));
    base(&mut cmd, fake);
    cmd.args(args).output().kept()
}

fn reporter(fake: &FakeEs, vars: &[(&str, &str)]) -> Output {
    reporter_at(&fake.url(), vars)
}

/// The reporter's daily-cis-results over [START, END] against the Elasticsearch at `url`
/// (the fake, or a fault proxy in front of it), `vars` added.
pub(crate) fn reporter_at(url: &str, vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_compliance-reporter"));
    base_at(&mut cmd, url);
    cmd.env("COMPLIANCE_RESOURCES", root().join("examples/reports.yaml"))
        .env("TIGERA_COMPLIANCE_REPORT_NAME", "daily-cis-results")
        .env("TIGERA_COMPLIANCE_REPORT_START_TIME", START)
        .env("TIGERA_COMPLIANCE_REPORT_END_TIME", END);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().kept()
}

fn import_fixtures(fake: &FakeEs) {
    for (file, node) in [
        ("cis-1.23-master-newrelic.json", "master-1"),
        ("cis-1.20-node-apxd.json", "worker-1"),
        ("eks-1.0-node-valancej.json", "worker-2"),
    ] {
        let out = ctl(
            fake,
            &[
                "import",
                "kube-bench",
                fixture(file).to_str().unwrap(),
                "--node",
                node,
                "--time",
                "2026-11-25T23:00:00Z",
                "--k8s-version",
                "1.29.3",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{file}: {}", stderr(&out));
    }
}

/// Method and path of every request, with the PIT/search details reduced to a label.
fn conversation(fake: &FakeEs) -> Vec<String> {
    fake.requests()
        .iter()
        .map(|r| {
            let q = r
                .query
                .as_deref()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            format!("{} {}{} -> {}", r.method, r.path, q, r.status)
        })
        .collect()
}

#[test]
fn import_report_list_and_download_against_elasticsearch() {
    let fake = FakeEs::start();
    import_fixtures(&fake);
    assert_eq!(fake.count("tigera_secure_ee_benchmark_results.cluster."), 3);
    fake.clear_requests();

    let out = reporter(&fake, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stdout(&out);
    assert!(line.contains("3 nodes"), "{line}");
    assert!(line.contains("requests"), "{line}");
    fake.assert_no_violations();

    // Every request, in order: resolve, one PIT, pages of two nodes for good documents
    // (the first followed by the fetch of the test texts its nodes need) and one page
    // for errored ones, close, the previous report's node names, then the report write
    // through the alias, the search for
    // older copies of the report and the cleanup of parts from any earlier run of the
    // window. Policies, templates and aliases were installed by the import.
    let conv = conversation(&fake);
    let pit_closed = conv
        .iter()
        .position(|c| c == "DELETE /_pit -> 200")
        .expect("{conv:#?}");
    assert_eq!(
        &conv[..2],
        [
            "GET /_resolve/index/tigera_secure_ee_benchmark_results.cluster* -> 200",
            "POST /tigera_secure_ee_benchmark_results.cluster,tigera_secure_ee_benchmark_results.cluster.*/_pit?keep_alive=5m&ignore_unavailable=true -> 200",
        ],
        "{conv:#?}"
    );
    assert!(
        conv[2..pit_closed]
            .iter()
            .all(|c| c.starts_with("POST /_search") && c.ends_with(" -> 200")),
        "{conv:#?}"
    );
    let rest: Vec<&String> = conv[pit_closed + 1..]
        .iter()
        .filter(|c| {
            !["GET /_index_template/", "GET /_ilm/policy/", "GET /_alias/"]
                .iter()
                .any(|p| c.starts_with(p))
        })
        .collect();
    assert_eq!(
        rest,
        [
            // The previous report's nodes, which the report must account for.
            &"POST /tigera_secure_ee_compliance_reports.cluster,tigera_secure_ee_compliance_reports.cluster.*/_search?ignore_unavailable=true -> 200".to_string(),
            &format!("PUT /tigera_secure_ee_compliance_reports.cluster./_doc/{ID}?refresh=wait_for -> 201"),
            &"POST /tigera_secure_ee_compliance_reports.cluster,tigera_secure_ee_compliance_reports.cluster.*/_search?ignore_unavailable=true -> 200".to_string(),
            &"POST /tigera_secure_ee_compliance_report_parts.cluster,tigera_secure_ee_compliance_report_parts.cluster.*/_delete_by_query?ignore_unavailable=true&conflicts=proceed&refresh=true -> 200".to_string(),
        ],
        "{conv:#?}"
    );
    // The pages asked for the window with the 36-hour look-back, two nodes at a time.
    let all_searches: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/_search")
        .map(|r| r.body_json().unwrap())
        .collect();
    // The test texts: at most one read a page, for the documents of a benchmark version
    // not seen on an earlier page.
    let (texts, searches): (Vec<_>, Vec<_>) = all_searches
        .into_iter()
        .partition(|s| s["_source"] == serde_json::json!(["version", "tests"]));
    assert!(
        !texts.is_empty() && texts.len() < searches.len(),
        "{texts:#?}"
    );
    assert!(texts[0]["query"]["ids"]["values"].is_array());
    assert_eq!(searches[0]["size"], 2);
    assert_eq!(
        searches[0]["query"]["bool"]["filter"][0]["range"]["timestamp"]["gte"],
        "2026-11-24T12:00:00Z"
    );
    assert_eq!(searches[1]["search_after"], serde_json::json!(["worker-1"]));
    assert!(searches[2]["query"]["bool"]["filter"][1]["regexp"].is_object());

    // The stored document is the docs/spec.md §5 report, listable and downloadable.
    let stored = fake
        .document("tigera_secure_ee_compliance_reports.cluster.", ID)
        .expect("report stored under its id");
    for key in [
        "reportName",
        "reportTypeName",
        "reportSpec",
        "reportTypeSpec",
        "startTime",
        "endTime",
        "generationTime",
        "cisBenchmarkSummary",
        "cisBenchmark",
        "uiSummary",
        "id",
        "cluster",
        "generated_time",
    ] {
        assert!(stored.get(key).is_some(), "missing {key}");
    }
    assert_eq!(stored["cisBenchmark"].as_array().unwrap().len(), 3);
    let list = ctl(&fake, &["reports", "list"]);
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    assert!(stdout(&list).contains(ID), "{}", stdout(&list));
    let csv = ctl(
        &fake,
        &[
            "reports",
            "download",
            ID,
            "--format",
            "node-summary.csv",
            "--output",
            "-",
        ],
    );
    assert_eq!(csv.status.code(), Some(0), "{}", stderr(&csv));
    let csv = stdout(&csv);
    assert!(csv.starts_with("node,version,status,testsPassing"), "{csv}");
    assert_eq!(csv.lines().count(), 4, "{csv}");

    // Running the window again replaces the report: still one document.
    let again = reporter(&fake, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(
        fake.count("tigera_secure_ee_compliance_reports.cluster."),
        1
    );
    fake.assert_no_violations();
}

#[test]
fn a_cluster_unavailable_for_a_while_still_gets_the_report_once() {
    let fake = FakeEs::start();
    import_fixtures(&fake);
    let body = es_error(503, "master_not_discovered_exception", "no master");
    fake.fail_next(RequestMatcher::any(), 3, 503, body);
    let out = reporter(&fake, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("retrying"), "{}", stderr(&out));
    assert_eq!(
        fake.count("tigera_secure_ee_compliance_reports.cluster."),
        1
    );
}

#[test]
fn no_benchmark_index_yet_is_a_report_with_no_nodes() {
    let fake = FakeEs::start();
    let out = reporter(&fake, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("0 nodes"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("no benchmark result index exists yet"),
        "{}",
        stderr(&out)
    );
    fake.assert_no_violations();
}

#[test]
fn wrong_credentials_exit_2_and_never_print_the_password() {
    secrets::register_constants();
    let fake = FakeEs::start();
    fake.require_basic_auth("elastic", "right");
    let out = reporter(
        &fake,
        &[
            ("ELASTIC_USER", "elastic"),
            ("ELASTIC_PASSWORD", secrets::ELASTIC_PASSWORD),
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("rejected the credentials"), "{err}");
    assert!(
        !err.contains(secrets::ELASTIC_PASSWORD)
            && !stdout(&out).contains(secrets::ELASTIC_PASSWORD),
        "{err}"
    );
    let debug = reporter(
        &fake,
        &[
            ("ELASTIC_USER", "elastic"),
            ("ELASTIC_PASSWORD", secrets::ELASTIC_PASSWORD),
            ("LOG_LEVEL", "debug"),
        ],
    );
    assert!(!stderr(&debug).contains(secrets::ELASTIC_PASSWORD));
}

/// docs/security.md: the credentials that work are as secret as those that do not; at
/// LOG_LEVEL=trace a whole run (import, report, listing) prints neither (the log scan
/// of `make test` checks the kept output too).
#[test]
fn working_credentials_never_reach_the_output_even_at_trace_level() {
    secrets::register_constants();
    for (vars, accepted) in [
        (
            vec![
                ("ELASTIC_USER", "elastic"),
                ("ELASTIC_PASSWORD", secrets::ELASTIC_PASSWORD),
            ],
            None,
        ),
        (
            vec![("ELASTIC_API_KEY", secrets::ELASTIC_API_KEY)],
            Some(secrets::ELASTIC_API_KEY),
        ),
    ] {
        let fake = FakeEs::start();
        match accepted {
            Some(key) => fake.require_api_key(key),
            None => fake.require_basic_auth("elastic", secrets::ELASTIC_PASSWORD),
        }
        let mut vars = vars;
        vars.push(("LOG_LEVEL", "trace"));
        let mut import = Command::new(env!("CARGO_BIN_EXE_compliancectl"));
        base(&mut import, &fake);
        let import = import
            .envs(vars.iter().copied())
            .args(["import", "kube-bench"])
            .arg(root().join("tests/fixtures/cis-1.23-master-newrelic.json"))
            .args(["--node", "minikube", "--time", "2026-11-25T10:00:00Z"])
            .output()
            .kept();
        assert!(import.status.success(), "{}", stderr(&import));
        let out = reporter(&fake, &vars);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        for text in [stderr(&import), stdout(&import), stderr(&out), stdout(&out)] {
            for secret in [secrets::ELASTIC_PASSWORD, secrets::ELASTIC_API_KEY] {
                assert!(
                    !text.contains(secret),
                    "a credential in the output:\n{text}"
                );
            }
        }
    }
}

#[test]
fn unreachable_cluster_exits_1_after_bounded_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let out = Command::new(env!("CARGO_BIN_EXE_compliance-reporter"))
        .env_clear()
        .env("ELASTIC_URL", &url)
        .env("ELASTIC_RETRIES", "2")
        .env("ELASTIC_RETRY_DELAY", "10ms")
        .env("COMPLIANCE_RESOURCES", root().join("examples/reports.yaml"))
        .env("TIGERA_COMPLIANCE_REPORT_NAME", "daily-cis-results")
        .env("TIGERA_COMPLIANCE_REPORT_START_TIME", START)
        .env("TIGERA_COMPLIANCE_REPORT_END_TIME", END)
        .output()
        .kept();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot connect to Elasticsearch") && err.contains("3 attempts"),
        "{err}"
    );
}

#[test]
fn a_bad_ca_file_exits_2_before_any_request() {
    let fake = FakeEs::start();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let out = reporter(&fake, &[("ELASTIC_CA", ca.to_str().unwrap())]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("ELASTIC_CA"), "{err}");
    assert!(fake.requests().is_empty());
}

/// Retention on Elasticsearch: the variables become the lifecycle policies' delete
/// phases; a bad value exits 2 naming the variable before any request.
#[test]
fn retention_setup_installs_the_configured_lifecycle_policies() {
    let fake = FakeEs::start();
    let setup = |vars: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_compliancectl"));
        base(&mut cmd, &fake);
        cmd.args(["elastic", "setup"]).envs(vars.iter().copied());
        cmd.output().kept()
    };
    let out = setup(&[
        ("COMPLIANCE_BENCHMARK_RETENTION", "14d"),
        ("COMPLIANCE_REPORT_RETENTION", "365d"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let delete =
        |name: &str| fake.ilm_policy(name).expect(name)["phases"]["delete"]["min_age"].clone();
    assert_eq!(delete("tigera_secure_ee_benchmark_results.cluster"), "14d");
    assert_eq!(
        delete("tigera_secure_ee_compliance_reports.cluster"),
        "365d"
    );
    assert_eq!(
        delete("tigera_secure_ee_compliance_report_parts.cluster"),
        "372d"
    );

    let out = setup(&[("COMPLIANCE_REPORT_RETENTION", "forever")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .contains("lifecycle policy tigera_secure_ee_compliance_reports.cluster: updated"),
        "{}",
        stdout(&out)
    );
    let reports = fake
        .ilm_policy("tigera_secure_ee_compliance_reports.cluster")
        .unwrap();
    assert!(reports["phases"].get("delete").is_none(), "{reports}");
    assert_eq!(delete("tigera_secure_ee_benchmark_results.cluster"), "91d");

    fake.clear_requests();
    let out = setup(&[("COMPLIANCE_BENCHMARK_RETENTION", "12h")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("COMPLIANCE_BENCHMARK_RETENTION"),
        "{}",
        stderr(&out)
    );
    assert!(fake.requests().is_empty(), "nothing sent");
    fake.assert_no_violations();
}

#[test]
fn elastic_setup_prints_what_it_did_and_is_idempotent() {
    let fake = FakeEs::start();
    let first = ctl(&fake, &["elastic", "setup"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let out = stdout(&first);
    for line in [
        "lifecycle policy tigera_secure_ee_benchmark_results.cluster: created",
        "index template tigera_secure_ee_compliance_reports.cluster: created",
        "write alias tigera_secure_ee_compliance_report_parts.cluster.: created",
    ] {
        assert!(out.contains(line), "{out}");
    }
    let second = ctl(&fake, &["elastic", "setup"]);
    let out = stdout(&second);
    assert_eq!(out.matches(": unchanged").count(), 9, "{out}");
    fake.assert_no_violations();

    // Without a cluster configured, setup says what is missing.
    let out = Command::new(env!("CARGO_BIN_EXE_compliancectl"))
        .env_clear()
        .args(["elastic", "setup"])
        .output()
        .kept();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("ELASTIC_URL"), "{}", stderr(&out));
}

#[test]
fn a_partially_failed_import_exits_1_and_lists_the_failed_documents() {
    let fake = FakeEs::start();
    let dir = tempfile::tempdir().unwrap();
    let ndjson = dir.path().join("docs.ndjson");
    let line = |node: &str| {
        format!(
            r#"{{"version":"cis-1.9","kubernetesVersion":"1.29.3","type":"kube","node_name":"{node}","timestamp":"2026-11-25T10:00:00Z","error":"","tests":[],"cluster":"cluster"}}"#
        )
    };
    std::fs::write(&ndjson, format!("{}\n{}\n", line("n1"), line("n2"))).unwrap();
    fake.fail_bulk_items(
        &["n2@2026-11-25T10:00:00.000Z"],
        400,
        "mapper_parsing_exception",
        "failed to parse",
        usize::MAX,
    );
    let out = ctl(&fake, &["import", "benchmarks", ndjson.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("1 of 2 documents were not stored")
            && err.contains("n2@2026-11-25T10:00:00.000Z"),
        "{err}"
    );
}

/// docs/spec.md §5: the reports Calico Enterprise stored (no `id`, no `cisBenchmark`,
/// `results: null`, no `cluster` / `generated_time`, empty versions, its empty summary
/// objects) are listed, shown and downloaded by `compliancectl` as they are.
#[test]
fn calicos_stored_reports_list_show_and_download_through_compliancectl() {
    let fake = FakeEs::start();
    let hits = compliance_testkit::fixtures::insert_calico_reports(&fake);

    let list = ctl(&fake, &["reports", "list", "--json"]);
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let mut ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    expected.sort();
    assert_eq!(ids, expected);

    let daily = &hits[0];
    let show = ctl(&fake, &["reports", "show", &daily.id]);
    assert_eq!(show.status.code(), Some(0), "{}", stderr(&show));
    let text = stdout(&show);
    assert!(text.contains(&format!("Report   {}", daily.id)), "{text}");
    assert!(text.contains("Nodes    3 (HIGH 0, MED 2, LOW 1)"), "{text}");
    assert!(text.contains("ip-10-0-1-23.ec2.internal"), "{text}");

    for hit in &hits {
        let dir = tempfile::tempdir().unwrap();
        let out = ctl(
            &fake,
            &[
                "reports",
                "download",
                &hit.id,
                "--output",
                dir.path().to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}: {}", hit.file, stderr(&out));
        let source: serde_json::Value = serde_json::from_str(&hit.source).unwrap();
        let ui = std::fs::read_to_string(dir.path().join("ui-summary.json")).unwrap();
        assert_eq!(ui, format!("{}\n", source["uiSummary"].as_str().unwrap()));
        let total = std::fs::read_to_string(dir.path().join("total-summary.csv")).unwrap();
        assert!(
            total.starts_with("startTime,endTime,type,hiPercentThreshold,"),
            "{}: {total}",
            hit.file
        );
        let nodes = std::fs::read_to_string(dir.path().join("node-summary.csv")).unwrap();
        let stored_nodes = source["cisBenchmark"].as_array().map_or(0, Vec::len);
        assert_eq!(
            nodes.lines().count(),
            1 + stored_nodes,
            "{}: {nodes}",
            hit.file
        );
        for csv in ["failed-tests.csv", "all-tests.csv"] {
            let text = std::fs::read_to_string(dir.path().join(csv)).unwrap();
            assert!(
                text.starts_with("nodeName,testIndex,"),
                "{}: {text}",
                hit.file
            );
        }
    }
    fake.assert_no_violations();
}
