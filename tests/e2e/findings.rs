//! Findings over time through the real binaries: the canonical sequence of reports
//! ([`Sequence::story`]) stored in a SQLite file, read back by `compliancectl reports
//! diff`, `reports findings` and `reports show --fail-on new` as text, JSON and CSV; and
//! the reporter's COMPLIANCE_FAIL_ON=new over daily runs.

use std::io::Write;
use std::process::Output;

use compliance_store::{BlockingStore, Datastore, OpenMode};
use compliance_testkit::fixtures::{stderr, stdout};
use compliance_testkit::sequence::{STORY_ENDS, STORY_WAIVER, Sequence};
use serde_json::Value;

use super::cli::Env;

/// `compliancectl ARGS`, which must succeed; its standard output.
fn ok(env: &Env, args: &[&str]) -> String {
    let out = env.ctl(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

fn json(env: &Env, args: &[&str]) -> Value {
    serde_json::from_str(&ok(env, args)).unwrap()
}

/// The story's reports, stored as the reporter stores them.
fn store_story(env: &Env) -> Sequence {
    let story = Sequence::story();
    let store = BlockingStore::open(&Datastore::Sqlite(env.db()), OpenMode::Create).unwrap();
    for r in &story.reports {
        store.put_report(r).unwrap();
    }
    story
}

const NAME: &str = "daily-cis-results";
const D126: &str =
    "Ensure that the --kubelet-certificate-authority argument is set as appropriate (Automated)";
const D426: &str =
    "Ensure that the --make-iptables-util-chains argument is set to true (Automated)";

fn crlf(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

#[test]
fn the_latest_diff_of_the_story_in_text_json_and_csv() {
    let env = Env::new();
    let story = store_story(&env);
    let ids = story.ids();

    let d = json(&env, &["reports", "diff", "--latest", NAME, "--json"]);
    assert_eq!(d["old"]["id"], ids[3].as_str());
    assert_eq!(d["new"]["id"], ids[4].as_str());
    assert_eq!(
        d["counts"],
        serde_json::json!({"new": 1, "persisting": 1, "resolved": 0, "newNode": 0, "gone": 1,
            "nodesAdded": 0, "nodesRemoved": 1, "ratingDrops": 2, "ratingRises": 0,
            "newUnwaived": 1})
    );
    let changes: Vec<(&str, &str)> = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["node"].as_str().unwrap(), f["change"].as_str().unwrap()))
        .collect();
    assert_eq!(
        changes,
        [("cp-1", "new"), ("w-1", "persisting"), ("w-3", "gone")]
    );
    let nodes: Vec<(&str, &str, &Value, &Value)> = d["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node"].as_str().unwrap(),
                n["kind"].as_str().unwrap(),
                &n["oldStatus"],
                &n["newStatus"],
            )
        })
        .collect();
    assert_eq!(
        nodes,
        [
            ("cp-1", "rerated", &Value::from("HIGH"), &Value::from("MED")),
            ("w-1", "rerated", &Value::from("HIGH"), &Value::from("MED")),
            ("w-3", "removed", &Value::from("MED"), &Value::Null),
        ]
    );
    let text = ok(&env, &["reports", "diff", "--latest", NAME]);
    for line in [
        format!("old: {} (endTime {})", ids[3], STORY_ENDS[3]),
        format!("new: {} (endTime {})", ids[4], STORY_ENDS[4]),
        "failures: 1 new (1 not waived), 1 persisting, 0 resolved, 0 on new nodes, 1 gone".into(),
        "nodes: 0 added, 1 removed, 2 rated worse, 0 rated better".into(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }
    let row = |change: &str, node: &str| {
        text.lines()
            .find(|l| l.starts_with(change) && l.contains(node))
            .unwrap_or_else(|| panic!("no {change} row of {node} in\n{text}"))
            .to_string()
    };
    assert!(row("new ", "cp-1").contains("1.2.6"));
    // Persisting failures whose waiver did not change are listed with --all only.
    let all = ok(&env, &["reports", "diff", "--latest", NAME, "--all"]);
    assert!(
        all.lines()
            .any(|l| l.starts_with("persisting") && l.contains("w-1") && l.contains("4.2.6")),
        "{all}"
    );
    assert!(row("gone", "w-3").contains("4.2.6"));
    assert!(row("w-3", "removed").contains("MED → -"));
}

/// What depends on the store keeping each test's waiver and each node's rating without
/// waivers (SQLite schema 3): the waiver that expired on w-1's persisting failure, in
/// JSON, CSV and text, and w-1's rating without waivers.
#[test]
fn the_expired_waiver_shows_on_the_persisting_failure_in_json_csv_and_text() {
    let env = Env::new();
    let ids = store_story(&env).ids();
    let d = json(&env, &["reports", "diff", "--latest", NAME, "--json"]);
    assert_eq!(
        d["findings"],
        serde_json::json!([
            {"node": "cp-1", "testNumber": "1.2.6", "section": "1.2", "testDesc": D126, "change": "new"},
            {"node": "w-1", "testNumber": "4.2.6", "section": "4.2", "testDesc": D426,
             "change": "persisting", "oldWaiver": STORY_WAIVER},
            {"node": "w-3", "testNumber": "4.2.6", "section": "4.2", "testDesc": D426, "change": "gone"},
        ])
    );
    assert_eq!(
        d["nodes"],
        serde_json::json!([
            {"node": "cp-1", "kind": "rerated", "oldStatus": "HIGH", "newStatus": "MED",
             "oldStatusWithoutWaivers": "HIGH", "newStatusWithoutWaivers": "MED"},
            {"node": "w-1", "kind": "rerated", "oldStatus": "HIGH", "newStatus": "MED",
             "oldStatusWithoutWaivers": "MED", "newStatusWithoutWaivers": "MED"},
            {"node": "w-3", "kind": "removed", "oldStatus": "MED", "newStatus": null,
             "oldStatusWithoutWaivers": "MED", "newStatusWithoutWaivers": null},
        ])
    );
    // The same by ids, as CSV.
    let csv = ok(&env, &["reports", "diff", &ids[3], &ids[4], "--csv"]);
    assert_eq!(
        csv,
        crlf(&[
            "node,testNumber,section,testDesc,change,oldWaiver,newWaiver".into(),
            format!("cp-1,1.2.6,1.2,{D126},new,,"),
            format!("w-1,4.2.6,4.2,{D426},persisting,{STORY_WAIVER},"),
            format!("w-3,4.2.6,4.2,{D426},gone,,"),
        ])
    );

    let text = ok(&env, &["reports", "diff", "--latest", NAME]);
    let w1 = text
        .lines()
        .find(|l| l.starts_with("persisting") && l.contains("w-1"))
        .unwrap_or_else(|| panic!("no persisting row of w-1 in\n{text}"));
    assert!(w1.contains("iptables-chains → none"), "{w1}");
    // The lifecycle up to report 4 names the waiver of w-1's failure.
    let csv = ok(
        &env,
        &["reports", "findings", NAME, "--csv", "--node", "w-1"],
    );
    assert!(csv.contains(",0,5,\r\n"), "{csv}");
    let show = json(&env, &["reports", "show", &ids[3], "--json"]);
    let w1 = show["cisBenchmark"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["nodeName"] == "w-1")
        .unwrap();
    assert_eq!(w1["summary"]["status"], "HIGH");
    assert_eq!(w1["summary"]["statusWithoutWaivers"], "MED");
}

#[test]
fn each_step_of_the_story_diffs_as_expected() {
    let env = Env::new();
    let ids = store_story(&env).ids();
    let changes = |a: usize, b: usize| -> Vec<String> {
        let d = json(&env, &["reports", "diff", &ids[a], &ids[b], "--json"]);
        d["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{} {} {}",
                    f["node"].as_str().unwrap(),
                    f["testNumber"].as_str().unwrap(),
                    f["change"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(changes(0, 1), ["cp-1 1.2.6 new", "w-1 4.2.6 persisting"]);
    assert_eq!(
        changes(1, 2),
        [
            "cp-1 1.2.6 persisting",
            "w-1 4.2.6 persisting",
            "w-3 4.2.6 newNode"
        ]
    );
    assert_eq!(
        changes(2, 3),
        [
            "cp-1 1.2.6 resolved",
            "w-1 4.2.6 persisting",
            "w-3 4.2.6 persisting"
        ]
    );
    // A failure spreading to a new node is not new: the gate passes.
    let out = env.ctl(&["reports", "diff", &ids[1], &ids[2], "--fail-on", "new"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A failure that came back is: exit 3, the failure named.
    let out = env.ctl(&[
        "reports",
        "diff",
        "--latest",
        NAME,
        "--fail-on",
        "new",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("cp-1 FAIL 1.2.6"), "{}", stderr(&out));
    serde_json::from_str::<Value>(&stdout(&out)).expect("standard output stays JSON");
    // Only `new` applies to a diff.
    let out = env.ctl(&["reports", "diff", "--latest", NAME, "--fail-on", "med"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("accepts only new"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_lifecycle_of_the_story_in_text_json_and_csv() {
    let env = Env::new();
    let ids = store_story(&env).ids();

    let csv = ok(&env, &["reports", "findings", NAME, "--csv"]);
    let [d1, d2, d3, d4, d5] = STORY_ENDS;
    assert_eq!(
        csv,
        crlf(&[
            "node,testNumber,section,testDesc,state,firstFailed,failingSince,resolvedAt,lastFailed,reopened,reportsFailing,waiver".into(),
            format!("cp-1,1.2.6,1.2,{D126},failing,{d2},{d5},,{d5},1,3,"),
            format!("w-1,4.2.6,4.2,{D426},failing,{d1},{d1},,{d5},0,5,"),
            format!("w-3,4.2.6,4.2,{D426},unknown,{d3},{d3},,{d4},0,2,"),
        ])
    );

    let j = json(
        &env,
        &["reports", "findings", NAME, "--json", "--node", "cp-1"],
    );
    assert_eq!(j["reports"].as_array().unwrap().len(), 5);
    assert_eq!(j["reports"][0]["id"], ids[0].as_str());
    assert_eq!(
        j["findings"],
        serde_json::json!([{"node": "cp-1", "testNumber": "1.2.6", "section": "1.2",
            "testDesc": D126, "state": "failing", "firstFailed": d2,
            "firstFailedReport": ids[1], "failingSince": d5, "lastFailed": d5,
            "reopened": 1, "reportsFailing": 3}])
    );

    // Over the first four reports only (the latest two of them: --reports 2 reads 4 and 5).
    let j = json(
        &env,
        &[
            "reports",
            "findings",
            NAME,
            "--json",
            "--test",
            "4.2.6",
            "--reports",
            "2",
        ],
    );
    let nodes: Vec<&str> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["w-1", "w-3"]);
    assert_eq!(j["findings"][0]["firstFailed"], d4);

    let text = ok(&env, &["reports", "findings", NAME]);
    assert!(
        text.starts_with(&format!(
            "GlobalReport {NAME}: 5 reports, endTime {d1} to {d5}\n"
        )),
        "{text}"
    );
    let cp = text.lines().find(|l| l.starts_with("cp-1")).unwrap();
    let cells: Vec<&str> = cp.split_whitespace().collect();
    assert_eq!(
        cells,
        ["cp-1", "1.2.6", "failing", d2, d5, "-", d5, "1", "3", "-"]
    );

    let out = env.ctl(&["reports", "findings", "weekly"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("\"weekly\""), "{}", stderr(&out));
}

#[test]
fn show_fail_on_new_compares_with_the_report_before() {
    let env = Env::new();
    let ids = store_story(&env).ids();
    // Report 5 brings cp-1's 1.2.6 back: new, not waived.
    let out = env.ctl(&["reports", "show", "--latest", NAME, "--fail-on", "new"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "--fail-on new: 1 failures are new since report {}",
            ids[3]
        )),
        "{text}"
    );
    assert!(text.contains(&format!("cp-1 FAIL 1.2.6 {D126}")), "{text}");
    // Report 4 only resolved one: nothing new.
    let out = env.ctl(&["reports", "show", &ids[3], "--fail-on", "new"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The first report has nothing before it: nothing is new.
    let out = env.ctl(&["reports", "show", &ids[0], "--fail-on", "new"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Levels and new together: report 4 rates w-3 MED.
    let out = env.ctl(&["reports", "show", &ids[3], "--fail-on", "med,new"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).contains("--fail-on med: "), "{}", stdout(&out));
    let out = env.ctl(&["reports", "show", &ids[3], "--fail-on", "new,high"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("\"high\""), "{}", stderr(&out));
}

#[test]
fn the_reporter_fails_on_new_failures_after_storing() {
    let env = Env::new();
    let story = Sequence::story();
    let run = |day: usize, fail_on: &str| -> Output {
        // Each day's documents imported as a user would.
        let file = env.path(&format!("day{day}.jsonl"));
        let mut f = std::fs::File::create(&file).unwrap();
        for d in &story.documents[day] {
            writeln!(f, "{}", serde_json::to_string(d).unwrap()).unwrap();
        }
        drop(f);
        ok(&env, &["import", "benchmarks", file.to_str().unwrap()]);
        let end = compliance_testkit::fixtures::t(STORY_ENDS[day]);
        let start = end - chrono::Duration::days(1);
        let start = compliance_core::time::format(&start);
        env.reporter(&[
            ("TIGERA_COMPLIANCE_REPORT_NAME", NAME),
            ("TIGERA_COMPLIANCE_REPORT_START_TIME", &start),
            ("TIGERA_COMPLIANCE_REPORT_END_TIME", STORY_ENDS[day]),
            ("COMPLIANCE_FAIL_ON", fail_on),
        ])
    };
    // Day 1: nothing before it, so nothing is new.
    let out = run(0, "new");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Day 2: cp-1 fails 1.2.6 for the first time.
    let out = run(1, "new");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("COMPLIANCE_FAIL_ON=new: 1 failures are new"),
        "{text}"
    );
    assert!(text.contains("cp-1 FAIL 1.2.6"), "{text}");
    // Day 3: w-3 joins failing a test that already failed elsewhere: not new.
    let out = run(2, "new");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // ... but the level still holds when asked for too.
    let out = run(3, "med,new");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("COMPLIANCE_FAIL_ON=med: "),
        "{}",
        stdout(&out)
    );
    assert!(
        !stdout(&out).contains("COMPLIANCE_FAIL_ON=new"),
        "{}",
        stdout(&out)
    );
    // Every run was stored, failing or not.
    let list = json(&env, &["reports", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 4);
    // A bad value names the variable and the value, and nothing runs.
    let out = run(4, "new,sometimes");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("COMPLIANCE_FAIL_ON"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("sometimes"), "{}", stderr(&out));
}
