//! Hostile input through the real binaries (docs/hostile-input.md): kube-bench files
//! with markup, formulas and control characters imported, reported and shown; files
//! past KUBE_BENCH_MAX_OUTPUT (1 GB with `COMPLIANCE_TEST_HUGE=1`, a smaller file under
//! a lowered limit otherwise) refused by `compliancectl import` and the benchmarker with
//! bounded memory; and a GlobalReport with 100,000 resultsFilters entries run by the
//! reporter. Peak memory is the child's VmHWM, polled from /proc while it runs.

use compliance_testkit::secrets::Kept as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use compliance_testkit::fixtures::{fixture, root, stderr, stdout};
use serde_json::{Value, json};
use tempfile::TempDir;

const START: &str = "2026-11-25T00:00:00Z";
const END: &str = "2026-11-26T00:00:00Z";
const AT: &str = "2026-11-25T23:00:00Z";

/// Texts a node could print; every one must come back unchanged or escaped.
const TEXTS: &[&str] = &[
    "esc \u{1b}[31mred\u{1b}[0m",
    "cr\r\nfake row",
    "nul\0byte",
    "bidi \u{202e}fdp.exe",
    "<script>window.__pwned=1</script>",
    "{{ 7*7 }}",
    "=HYPERLINK(\"http://evil.example/\",\"x\")",
    "'; DROP TABLE reports; --",
];

struct Env {
    dir: TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: TempDir::new().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, program: &str, vars: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env(
                "COMPLIANCE_DATASTORE",
                format!("sqlite:{}", self.path("compliance.db").display()),
            )
            .env("COMPLIANCE_BENCHMARK_RETENTION", "forever")
            .env("COMPLIANCE_REPORT_RETENTION", "forever")
            .envs(vars.iter().copied());
        cmd
    }

    fn ctl(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(env!("CARGO_BIN_EXE_compliancectl"), vars);
        cmd.args(args).output().kept()
    }

    fn import(&self, file: &Path, node: &str) -> Output {
        self.ctl(
            &[
                "import",
                "kube-bench",
                file.to_str().unwrap(),
                "--node",
                node,
                "--time",
                AT,
            ],
            &[],
        )
    }

    fn reporter(&self, resources: &Path, vars: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(env!("CARGO_BIN_EXE_compliance-reporter"), vars);
        cmd.env("COMPLIANCE_RESOURCES", resources)
            .env("TIGERA_COMPLIANCE_REPORT_NAME", "daily-cis-results")
            .env("TIGERA_COMPLIANCE_REPORT_START_TIME", START)
            .env("TIGERA_COMPLIANCE_REPORT_END_TIME", END)
            .output()
            .kept()
    }
}

/// kube-bench output with one result per text, each text in every text field.
fn hostile_kube_bench(texts: &[&str]) -> String {
    let results: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            json!({"test_number": format!("1.1.{}", i + 1), "test_desc": text,
                   "test_info": [text], "status": "FAIL", "scored": true})
        })
        .collect();
    json!({"Controls": [{"id": "1", "version": "cis-1.9", "detected_version": "1.29",
        "tests": [{"section": "1.1", "desc": texts[0], "results": results}]}]})
    .to_string()
}

/// Whether `text` holds a character a terminal would act on (other than line ends).
fn has_raw_control(text: &str) -> bool {
    text.chars()
        .any(|c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
}

#[test]
fn hostile_text_is_imported_reported_and_shown_escaped() {
    let env = Env::new();
    let file = env.path("evil.json");
    std::fs::write(&file, hostile_kube_bench(TEXTS)).unwrap();
    let out = env.import(&file, "<img src=x onerror=alert(1)>");
    assert!(out.status.success(), "{}", stderr(&out));

    // Node names a terminal or a log would act on are refused, the value escaped.
    for bad in ["esc\u{1b}[2J", "two\nlines", "x".repeat(254).as_str()] {
        let out = env.import(&file, bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("node name"), "{err}");
        assert!(!has_raw_control(&err), "raw control character in {err:?}");
    }

    let out_dir = env.path("out");
    let out = env.reporter(
        &root().join("examples/reports.yaml"),
        &[("COMPLIANCE_OUTPUT_DIR", out_dir.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!has_raw_control(&stdout(&out)), "{:?}", stdout(&out));

    let list = env.ctl(&["reports", "list"], &[]);
    assert!(list.status.success(), "{}", stderr(&list));
    let id = {
        let json = env.ctl(&["reports", "list", "--json"], &[]);
        let v: Value = serde_json::from_slice(&json.stdout).unwrap();
        v[0]["id"].as_str().unwrap().to_string()
    };
    let show = env.ctl(&["reports", "show", &id], &[]);
    assert!(show.status.success(), "{}", stderr(&show));
    let text = stdout(&show);
    assert!(!has_raw_control(&text), "raw control character in {text:?}");
    assert!(text.contains("esc \\u{1b}[31mred"), "{text}");
    assert!(text.contains("cr\\r\\nfake row"), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("fake row")), "{text}");
    assert!(text.contains("<img src=x onerror=alert(1)>"), "{text}");

    // JSON keeps every text exactly.
    let json = env.ctl(&["reports", "show", &id, "--json"], &[]);
    let doc: Value = serde_json::from_slice(&json.stdout).expect("show --json is JSON");
    let descs: Vec<&str> = doc["cisBenchmark"][0]["results"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["testDesc"].as_str().unwrap())
        .collect();
    assert_eq!(descs, TEXTS);

    // docs/spec.md §6: a formula cell gets a leading quote; other cells are as given.
    let csv = std::fs::read_to_string(out_dir.join("failed-tests.csv")).unwrap();
    assert!(
        csv.contains(",\"'=HYPERLINK(\"\"http://evil.example/\"\",\"\"x\"\")\","),
        "{csv}"
    );
    assert!(csv.contains(",<script>window.__pwned=1</script>,"), "{csv}");
}

/// Runs `cmd` to its end, sampling its peak resident memory (VmHWM) from /proc until it
/// exits: the output, the peak in KiB and the time taken.
fn run_measured(mut cmd: Command) -> (Output, u64, Duration) {
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = PathBuf::from(format!("/proc/{}/status", child.id()));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        loop {
            if let Ok(text) = std::fs::read_to_string(&status)
                && let Some(kib) = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
            match done_rx.recv_timeout(Duration::from_millis(5)) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                _ => return peak,
            }
        }
    });
    let output = child.wait_with_output().unwrap();
    done_tx.send(()).unwrap();
    (output, sampler.join().unwrap(), started.elapsed())
}

/// Writes a kube-bench-shaped file of `size` bytes: one control whose section
/// description is one huge string, as a runaway or hostile program could print.
fn write_huge_kube_bench(path: &Path, size: u64) {
    let head = br#"{"Controls":[{"id":"1","version":"cis-1.9","tests":[{"section":"1.1","desc":""#;
    let tail = br#"","results":[]}]}]}"#;
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    out.write_all(head).unwrap();
    let chunk = vec![b'A'; 1 << 20];
    let mut left = size - (head.len() + tail.len()) as u64;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        out.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    out.write_all(tail).unwrap();
    out.flush().unwrap();
    assert_eq!(std::fs::metadata(path).unwrap().len(), size);
}

/// The file size and limit of the size tests: 1 GB against the default 64 MiB with
/// `COMPLIANCE_TEST_HUGE=1`; otherwise 200 MiB against a 1 MiB limit, the same path in
/// a fraction of the time.
fn huge_case() -> (u64, Option<&'static str>, &'static str) {
    if std::env::var_os("COMPLIANCE_TEST_HUGE").is_some_and(|v| v == "1") {
        (1 << 30, None, "64 MiB")
    } else {
        (200 << 20, Some("1MiB"), "1 MiB")
    }
}

#[test]
fn a_kube_bench_file_over_the_limit_is_refused_by_import_with_bounded_memory() {
    let env = Env::new();
    let (size, limit, limit_text) = huge_case();
    let file = env.path("huge.json");
    let written = Instant::now();
    write_huge_kube_bench(&file, size);
    let write_time = written.elapsed();
    let vars: Vec<(&str, &str)> = limit
        .map(|l| ("KUBE_BENCH_MAX_OUTPUT", l))
        .into_iter()
        .collect();
    let mut cmd = env.command(env!("CARGO_BIN_EXE_compliancectl"), &vars);
    cmd.args([
        "import",
        "kube-bench",
        file.to_str().unwrap(),
        "--node",
        "n1",
    ]);
    let (out, peak_kib, took) = run_measured(cmd);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "kube-bench output is larger than the limit of {limit_text} set by \
             KUBE_BENCH_MAX_OUTPUT"
        )),
        "{err}"
    );
    // Bounded by the limit plus the program itself, far below the file's size.
    let limit_kib = if limit.is_some() { 1 << 10 } else { 64 << 10 };
    assert!(
        peak_kib < limit_kib + (96 << 10),
        "peak {peak_kib} KiB for a {limit_text} limit"
    );
    assert!(!env.path("compliance.db").exists(), "nothing is stored");
    eprintln!(
        "MEASURE compliancectl import of a {} MiB file (written in {write_time:?}), limit \
         {limit_text}: exit 2 in {took:?}, peak RSS {peak_kib} KiB",
        size >> 20
    );
}

#[test]
fn the_benchmarker_stops_kube_bench_output_over_the_limit_with_bounded_memory() {
    let env = Env::new();
    let (size, limit, limit_text) = huge_case();
    let bin = env.path("bin");
    std::fs::create_dir(&bin).unwrap();
    let file = env.path("huge.json");
    write_huge_kube_bench(&file, size);
    let script = |name: &str, body: &str| {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script("kubelet", "echo 'Kubernetes v1.29.3'");
    script(
        "kube-bench",
        &format!(
            "[ \"$1\" = version ] && {{ echo v0.16.0; exit 0; }}\ncat '{}'",
            file.display()
        ),
    );
    let proc_root = env.path("proc");
    std::fs::create_dir(&proc_root).unwrap();
    let doc_file = env.path("doc.json");
    let mut vars = vec![
        ("NODENAME", "node-1"),
        ("BENCHMARK_HOST_PROC", proc_root.to_str().unwrap()),
    ];
    vars.extend(limit.map(|l| ("KUBE_BENCH_MAX_OUTPUT", l)));
    let path = format!("{}:/usr/bin:/bin", bin.display());
    vars.push(("PATH", &path));
    let mut cmd = env.command(env!("CARGO_BIN_EXE_compliance-benchmarker"), &vars);
    cmd.args(["--once", "--output", doc_file.to_str().unwrap()]);
    let (out, peak_kib, took) = run_measured(cmd);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&doc_file).unwrap()).unwrap();
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "kube-bench output is larger than the limit of {limit_text} set by \
             KUBE_BENCH_MAX_OUTPUT"
        )),
        "{error}"
    );
    assert_eq!(doc["tests"].as_array().map_or(0, Vec::len), 0);
    let limit_kib = if limit.is_some() { 1 << 10 } else { 64 << 10 };
    assert!(peak_kib < limit_kib + (96 << 10), "peak {peak_kib} KiB");
    eprintln!(
        "MEASURE benchmarker --once with kube-bench printing {} MiB, limit {limit_text}: \
         errored document in {took:?}, peak RSS {peak_kib} KiB",
        size >> 20
    );
}

/// `examples/reports.yaml`'s GlobalReport with `entries` resultsFilters that select no
/// node, then one that drops 1.1.1 and `excludes` test numbers no node has everywhere.
fn report_with_filters(path: &Path, entries: usize, excludes: usize) {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        out,
        "apiVersion: projectcalico.org/v3\nkind: GlobalReport\nmetadata:\n  name: \
         daily-cis-results\nspec:\n  reportType: cis-benchmark\n  schedule: 0 0 * * *\n  \
         cis:\n    resultsFilters:"
    )
    .unwrap();
    for i in 0..entries {
        writeln!(
            out,
            "    - benchmarkSelection: {{kubernetesVersion: \"9.{i}\"}}\n      exclude: [\"1.2.{i}\"]"
        )
        .unwrap();
    }
    writeln!(out, "    - exclude:\n      - \"1.1.1\"").unwrap();
    for i in 0..excludes {
        writeln!(out, "      - \"99.{i}\"").unwrap();
    }
    out.flush().unwrap();
}

fn reporter_over(env: &Env, yaml: &Path) -> (Output, u64, Duration) {
    let mut cmd = env.command(env!("CARGO_BIN_EXE_compliance-reporter"), &[]);
    cmd.env("COMPLIANCE_RESOURCES", yaml)
        .env("TIGERA_COMPLIANCE_REPORT_NAME", "daily-cis-results")
        .env("TIGERA_COMPLIANCE_REPORT_START_TIME", START)
        .env("TIGERA_COMPLIANCE_REPORT_END_TIME", END);
    run_measured(cmd)
}

/// 100,000 excludes in one entry run as fast as a short list; 100,000 entries of
/// resultsFilters exceed the YAML reader's budget of 250,000 nodes (its guard against
/// YAML bombs) and are refused naming the file and the line.
#[test]
fn a_global_report_with_100000_filter_entries_runs_or_is_refused_clearly() {
    let env = Env::new();
    for (i, name) in [
        "cis-1.20-node-apxd.json",
        "cis-1.23-master-newrelic.json",
        "cis-1.6-master-defectdojo.json",
    ]
    .iter()
    .cycle()
    .take(12)
    .enumerate()
    {
        let out = env.import(&fixture(name), &format!("node-{i:02}"));
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let mut measured = Vec::new();
    let mut nodes = Vec::new();
    for (label, entries, excludes) in [
        ("10 entries", 9, 0),
        ("1 entry of 100,001 excludes", 0, 100_000),
    ] {
        let yaml = env.path("filters.yaml");
        report_with_filters(&yaml, entries, excludes);
        let size = std::fs::metadata(&yaml).unwrap().len();
        let (out, peak_kib, took) = reporter_over(&env, &yaml);
        assert_eq!(out.status.code(), Some(0), "{label}: {}", stderr(&out));
        let show = env.ctl(
            &["reports", "show", "--latest", "daily-cis-results", "--json"],
            &[],
        );
        let doc: Value = serde_json::from_slice(&show.stdout).unwrap();
        let filters = &doc["reportSpec"]["cis"]["resultsFilters"];
        assert_eq!(filters.as_array().unwrap().len(), entries + 1);
        assert_eq!(
            filters[entries]["exclude"].as_array().unwrap().len(),
            excludes + 1
        );
        nodes.push(doc["cisBenchmark"].clone());
        measured.push(format!(
            "{label} ({} KiB of YAML): {took:?}, peak RSS {peak_kib} KiB, stored report {} KiB",
            size >> 10,
            show.stdout.len() >> 10
        ));
    }
    // Same nodes, same tests: the extra entries and excludes name nothing there is.
    assert_eq!(nodes[0], nodes[1]);
    assert!(!nodes[0].to_string().contains("\"testNumber\":\"1.1.1\""));

    let yaml = env.path("entries.yaml");
    report_with_filters(&yaml, 100_000, 0);
    let (out, peak_kib, took) = reporter_over(&env, &yaml);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("COMPLIANCE_RESOURCES="), "{err}");
    assert!(
        err.contains("too large: it has more than 250,000 values"),
        "{err}"
    );
    measured.push(format!(
        "100,001 entries: refused (exit 2) in {took:?}, peak RSS {peak_kib} KiB"
    ));
    eprintln!("MEASURE reporter over 12 nodes: {}", measured.join("; "));
}

/// What a real kube-apiserver (with its etcd) does with GlobalReports of 100,000 filter
/// entries: one entry of 100,000 excludes, and 100,000 resultsFilters entries.
#[tokio::test]
async fn the_api_server_takes_or_refuses_100000_filter_entries() {
    use compliance_kube::crd::{DEFAULT_GROUP, custom_resource_definitions};
    use compliance_testkit::apiserver;
    use kube::api::{Api, ApiResource, DynamicObject, PostParams};

    let Some(server) = apiserver::shared() else {
        return;
    };
    let client = server.client(server.admin_token()).await;
    apiserver::install_crds(&client, custom_resource_definitions(DEFAULT_GROUP)).await;
    let api: Api<DynamicObject> = Api::all_with(
        client,
        &ApiResource {
            group: DEFAULT_GROUP.into(),
            version: "v3".into(),
            api_version: format!("{DEFAULT_GROUP}/v3"),
            kind: "GlobalReport".into(),
            plural: "globalreports".into(),
        },
    );
    let create = |name: &str, filters: Value| {
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{DEFAULT_GROUP}/v3"), "kind": "GlobalReport",
            "metadata": {"name": name},
            "spec": {"reportType": "cis-benchmark", "schedule": "0 0 * * *",
                     "cis": {"resultsFilters": filters}},
        }))
        .unwrap();
        let size = serde_json::to_vec(&object).unwrap().len();
        let api = api.clone();
        async move {
            let started = Instant::now();
            let result = api.create(&PostParams::default(), &object).await;
            (result, size, started.elapsed())
        }
    };

    let excludes: Vec<String> = (0..100_000).map(|i| format!("99.{i}")).collect();
    let (result, size, took) = create("hostile-excludes", json!([{"exclude": excludes}])).await;
    let stored = result.expect("one entry of 100,000 excludes fits the API server's limits");
    let back = api
        .get(&stored.metadata.name.clone().unwrap())
        .await
        .unwrap();
    assert_eq!(
        back.data["spec"]["cis"]["resultsFilters"][0]["exclude"]
            .as_array()
            .unwrap()
            .len(),
        100_000
    );
    eprintln!(
        "MEASURE API server: 100,000 excludes ({} KiB of JSON) created in {took:?}",
        size >> 10
    );
    api.delete("hostile-excludes", &Default::default())
        .await
        .unwrap();

    let entries: Vec<Value> = (0..100_000)
        .map(|i| {
            json!({"benchmarkSelection": {"kubernetesVersion": format!("9.{i}")},
                        "exclude": [format!("1.2.{i}")]})
        })
        .collect();
    let (result, size, took) = create("hostile-entries", Value::Array(entries)).await;
    match result {
        Err(kube::Error::Api(status)) => {
            eprintln!(
                "MEASURE API server: 100,000 resultsFilters entries ({} KiB of JSON) refused \
                 in {took:?}: {} {}",
                size >> 10,
                status.code,
                status.message
            );
            assert!(
                status.code == 413 || status.message.contains("too large"),
                "{status:?}"
            );
        }
        other => panic!("{} KiB accepted or failed otherwise: {other:?}", size >> 10),
    }
}

/// A variable the programs read holding bytes that are not UTF-8 (a Latin-1 value from an
/// old shell profile, say) is refused by name with exit 2 by every program, instead of the
/// panic `std::env::vars()` gave; a variable they do not read may hold such bytes.
#[test]
fn every_program_refuses_a_variable_that_is_not_utf8_by_name() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let env = Env::new();
    let latin1 = || OsString::from_vec(b"d\xe9bug".to_vec());
    for (program, args) in [
        (env!("CARGO_BIN_EXE_compliance-reporter"), &[][..]),
        (
            env!("CARGO_BIN_EXE_compliance-benchmarker"),
            &["--once"][..],
        ),
        (env!("CARGO_BIN_EXE_compliance-controller"), &[][..]),
        (env!("CARGO_BIN_EXE_compliance-server"), &[][..]),
        (
            env!("CARGO_BIN_EXE_compliancectl"),
            &["reports", "list"][..],
        ),
    ] {
        let out = env
            .command(program, &[])
            .args(args)
            .env("LOG_LEVEL", latin1())
            .env("SOME_OTHER_TOOLS_VARIABLE", latin1())
            .output()
            .kept();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{program}: {err}");
        assert!(
            err.contains("LOG_LEVEL=\"d\u{fffd}bug\": not UTF-8 text"),
            "{program}: {err}"
        );
        assert!(!err.contains("panicked"), "{program}: {err}");
        assert!(
            !err.contains("SOME_OTHER_TOOLS_VARIABLE"),
            "{program}: {err}"
        );
    }
}

/// One NDJSON line of 100 MiB between two good documents, under a 1 MiB
/// KUBE_BENCH_MAX_OUTPUT: `compliancectl import benchmarks` skips that line by number
/// with its reason, stores the other two and never holds the long line.
#[test]
fn an_ndjson_line_over_the_limit_is_skipped_with_bounded_memory() {
    let env = Env::new();
    let doc = |node: &str| {
        json!({
            "version": "cis-1.23", "kubernetesVersion": "1.25", "type": "kube",
            "node_name": node, "timestamp": AT, "error": "", "cluster": "cluster",
            "tests": [{
                "section": "1.1", "section_desc": "Control Plane Node Configuration Files",
                "test_number": "1.1.1", "test_desc": "Ensure x (Automated)",
                "test_info": "chmod 600 f", "status": "FAIL", "scored": true
            }]
        })
        .to_string()
    };
    let file = env.path("docs.ndjson");
    {
        let mut w = BufWriter::new(std::fs::File::create(&file).unwrap());
        writeln!(w, "{}", doc("n1")).unwrap();
        let chunk = vec![b'x'; 1 << 20];
        w.write_all(b"{\"node_name\":\"").unwrap();
        for _ in 0..100 {
            w.write_all(&chunk).unwrap();
        }
        w.write_all(b"\"}\n").unwrap();
        writeln!(w, "{}", doc("n2")).unwrap();
    }
    let mut cmd = env.command(
        env!("CARGO_BIN_EXE_compliancectl"),
        &[("KUBE_BENCH_MAX_OUTPUT", "1MiB")],
    );
    cmd.args(["import", "benchmarks", file.to_str().unwrap()]);
    let (out, peak_kib, took) = run_measured(cmd);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        stdout(&out).contains("imported 2 documents from") && stdout(&out).contains("skipped 1"),
        "{}",
        stdout(&out)
    );
    assert!(
        err.contains("longer than the limit of 1 MiB set by KUBE_BENCH_MAX_OUTPUT"),
        "{err}"
    );
    // Piped standard error is not a terminal: no colour codes between `line` and `=2`.
    assert!(err.contains("line=2") && !err.contains('\u{1b}'), "{err}");
    assert!(peak_kib < (1 << 10) + (96 << 10), "peak {peak_kib} KiB");
    eprintln!(
        "MEASURE compliancectl import benchmarks with a 100 MiB line, limit 1 MiB: {took:?}, \
         peak RSS {peak_kib} KiB"
    );
}

/// Text from outside reaches log fields and error messages (here a file name; elsewhere
/// node names, kube-bench output, a store's answer): in a log line a line feed, carriage
/// return or ESC in it is escaped, so it can neither start a forged log line nor drive a
/// terminal; in a failing program's last line all but line feeds are.
#[test]
fn outside_text_in_text_logs_and_errors_cannot_forge_a_line_or_drive_a_terminal() {
    let env = Env::new();
    let forged = "x\n1999-01-01T00:00:00Z ERROR forged\u{1b}[2J\r.ndjson";
    let file = env.path(forged);
    std::fs::write(&file, "not a document\n").unwrap();
    let out = env.ctl(&["import", "benchmarks", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let missing = env.path(&format!("missing-{forged}"));
    let failed = env.ctl(
        &[
            "import",
            "kube-bench",
            missing.to_str().unwrap(),
            "--node",
            "n1",
        ],
        &[],
    );
    assert_ne!(failed.status.code(), Some(0), "{}", stderr(&failed));
    // A log line is one line, whatever its fields hold.
    let log = stderr(&out);
    assert!(
        log.contains("x\\n1999-01-01T00:00:00Z ERROR forged\\u{1b}[2J\\r"),
        "{log}"
    );
    assert!(!has_raw_control(&log), "{log:?}");
    assert!(!log.lines().any(|l| l.starts_with("1999-01-01")), "{log}");
    // The last line of a failing program keeps its own line breaks (some errors list
    // what they refused, a line each) and escapes everything else.
    let err = stderr(&failed);
    assert!(err.contains("ERROR forged\\u{1b}[2J\\r.ndjson"), "{err}");
    assert!(!has_raw_control(&err), "{err:?}");
}
