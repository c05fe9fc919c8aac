//! The reporter, `compliancectl reports status` and the manifests against a real
//! kube-apiserver (1.20, built by `scripts/kube-apiserver.sh build`); every test is
//! skipped, visibly, when it is not built.
//!
//! What only a real server can show: that the generated CRDs are accepted and enforce
//! their schema, that the alias `resultsFilter` survives pruning, that the published
//! ClusterRole is enough for the reporter and nothing less is, that 404s on an unserved or
//! shadowed group look the way `compliance_kube::diagnose` expects, and that the manifests apply.

use compliance_testkit::apiserver;
use compliance_testkit::fixtures::{root, stderr};
use compliance_testkit::secrets::Kept as _;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use apiserver::TestApiServer;
use compliance_kube::crd::{DEFAULT_GROUP, custom_resource_definitions};
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ObjectMeta;
use serde_json::{Value, json};

const START: &str = "2026-11-25T00:00:00Z";
const END: &str = "2026-11-26T00:00:00Z";
const AT: &str = "2026-11-25T10:00:00Z";

/// Creates the CRDs for `group` unless they exist, and waits until they are served.
async fn install_crds(client: &kube::Client, group: &str) {
    apiserver::install_crds(client, custom_resource_definitions(group)).await;
}

fn api_for(client: &kube::Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &ApiResource {
            group: group.into(),
            version: "v3".into(),
            api_version: format!("{group}/v3"),
            kind: kind.into(),
            plural: plural.into(),
        },
    )
}

fn object(group: &str, kind: &str, name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": format!("{group}/v3"), "kind": kind,
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap()
}

async fn create_report(
    client: &kube::Client,
    group: &str,
    name: &str,
    spec: Value,
) -> Result<DynamicObject, kube::Error> {
    api_for(client, group, "GlobalReport", "globalreports")
        .create(
            &PostParams::default(),
            &object(group, "GlobalReport", name, spec),
        )
        .await
}

fn daily_spec() -> Value {
    json!({"reportType": "cis-benchmark", "schedule": "0 0 * * *",
        "cis": {"highThreshold": 100, "medThreshold": 50, "includeUnscoredTests": true, "numFailedTests": 5}})
}

/// A scratch store with one real kube-bench run in the report window.
fn store_with_results(dir: &Path) -> String {
    let datastore = format!("sqlite:{}", dir.join("compliance.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_compliancectl"))
        .args(["import", "kube-bench"])
        .arg(root().join("tests/fixtures/cis-1.23-master-newrelic.json"))
        .args(["--node", "minikube", "--time", AT])
        .env_clear()
        .env("COMPLIANCE_DATASTORE", &datastore)
        // Fixed dates: no retention may prune them as the real clock moves on.
        .env("COMPLIANCE_BENCHMARK_RETENTION", "forever")
        .env("COMPLIANCE_REPORT_RETENTION", "forever")
        .output()
        .kept();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    datastore
}

/// Runs the reporter the way the pod does, but with a kubeconfig for `token`.
fn reporter(api: &TestApiServer, token: &str, datastore: &str, vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_compliance-reporter"));
    cmd.env_clear()
        .env("KUBECONFIG", api.kubeconfig(token))
        .env("COMPLIANCE_DATASTORE", datastore)
        .env("COMPLIANCE_BENCHMARK_RETENTION", "forever")
        .env("COMPLIANCE_REPORT_RETENTION", "forever")
        .env("TIGERA_COMPLIANCE_REPORT_START_TIME", START)
        .env("TIGERA_COMPLIANCE_REPORT_END_TIME", END)
        .env("COMPLIANCE_API_TIMEOUT", "10s");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().kept()
}

/// One reporter run as the admin, on a fresh store holding one node's results.
fn admin_run(api: &TestApiServer, vars: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    reporter(
        api,
        api.admin_token(),
        &store_with_results(dir.path()),
        vars,
    )
}

/// Asserts the run exited with `code` and its error says `needle`.
/// The stored report the reporter's summary line names (`report ID ...`), as
/// `compliancectl reports show --json` prints it from `datastore`.
fn stored_report(datastore: &str, summary: &str) -> Value {
    let id = summary
        .split_whitespace()
        .nth(1)
        .expect("the summary names the report");
    let show = Command::new(env!("CARGO_BIN_EXE_compliancectl"))
        .args(["reports", "show", id, "--json"])
        .env_clear()
        .env("COMPLIANCE_DATASTORE", datastore)
        .output()
        .kept();
    assert!(show.status.success(), "{}", stderr(&show));
    serde_json::from_slice(&show.stdout).unwrap()
}

fn assert_fails(out: &Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

/// Binds the published ClusterRole (manifests/reporter-rbac.yaml) to the test's plain user.
async fn grant_reporter_role(client: &kube::Client, group: &str) {
    let text = std::fs::read_to_string(root().join("manifests/reporter-rbac.yaml")).unwrap();
    let mut role: Option<ClusterRole> = None;
    for doc in text.split("\n---") {
        let v: Value = match serde_saphyr::from_str(doc) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if v["kind"] == "ClusterRole" {
            role = Some(serde_json::from_value(v).unwrap());
        }
    }
    let mut role = role.expect("manifests/reporter-rbac.yaml has a ClusterRole");
    let name = format!("test-reporter-{}", group.replace('.', "-"));
    role.metadata = ObjectMeta {
        name: Some(name.clone()),
        ..Default::default()
    };
    // The GlobalReport rule moves to the test's group; nodes stay in the core group.
    for rule in role.rules.iter_mut().flatten() {
        if rule.api_groups.as_deref() == Some(&[DEFAULT_GROUP.to_string()]) {
            rule.api_groups = Some(vec![group.to_string()]);
        }
    }
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let _ = roles.create(&PostParams::default(), &role).await;
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name,
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: apiserver::PLAIN_USER.into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            ..Default::default()
        }]),
    };
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let _ = bindings.create(&PostParams::default(), &binding).await;
    wait_until_plain_user_may_read(group).await;
}

/// Creates ClusterRole `name` with `rules`, binds `user` to it, and gives the user's
/// token once the authorizer lets it get GlobalReport `probe` (RBAC reaches the
/// authorizer through an informer).
async fn grant_user(
    api: &TestApiServer,
    admin: &kube::Client,
    group: &str,
    name: &str,
    user: &str,
    rules: Vec<PolicyRule>,
    probe: &str,
) -> String {
    let role = ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        rules: Some(rules),
        ..Default::default()
    };
    let _ = Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &role)
        .await;
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: name.into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: user.into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            ..Default::default()
        }]),
    };
    let _ = Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &binding)
        .await;
    let token = apiserver::fixed_token(user);
    let reports = api_for(
        &api.client(&token).await,
        group,
        "GlobalReport",
        "globalreports",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while matches!(reports.get(probe).await, Err(kube::Error::Api(ref s)) if s.code == 403) {
        assert!(Instant::now() < deadline, "RBAC grant never took effect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    token
}

/// RBAC changes reach the authorizer through an informer; wait until they have.
async fn wait_until_plain_user_may_read(group: &str) {
    let Some(api) = apiserver::shared() else {
        return;
    };
    let client = api.client(api.user_token()).await;
    let reports = api_for(&client, group, "GlobalReport", "globalreports");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match reports.get("rbac-probe").await {
            Err(kube::Error::Api(s)) if s.code == 403 => {}
            _ => return,
        }
        assert!(Instant::now() < deadline, "RBAC grant never took effect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn reporter_reads_the_global_report_from_the_api_and_stores_the_report() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    let admin = api.client(api.admin_token()).await;
    install_crds(&admin, DEFAULT_GROUP).await;
    create_report(&admin, DEFAULT_GROUP, "api-daily", daily_spec())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let datastore = store_with_results(dir.path());
    let out = reporter(
        api,
        api.admin_token(),
        &datastore,
        &[("TIGERA_COMPLIANCE_REPORT_NAME", "api-daily")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.starts_with("report api-daily_cis-benchmark_"),
        "{summary}"
    );
    assert!(
        summary.contains("1 nodes") || summary.contains("1 node"),
        "{summary}"
    );
}

#[tokio::test]
async fn the_published_cluster_role_is_enough_and_nothing_less_is() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    let admin = api.client(api.admin_token()).await;
    let group = "rbac.compliance.test";
    install_crds(&admin, group).await;
    create_report(&admin, group, "rbac-daily", daily_spec())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let datastore = store_with_results(dir.path());
    let vars = [
        ("TIGERA_COMPLIANCE_REPORT_NAME", "rbac-daily"),
        ("COMPLIANCE_API_GROUP", group),
    ];

    let out = reporter(api, api.user_token(), &datastore, &vars);
    assert_fails(
        &out,
        2,
        &format!("not allowed to get GlobalReport \"rbac-daily\" in API group {group}/v3"),
    );
    // The API server's reason names the user.
    assert_fails(&out, 2, apiserver::PLAIN_USER);

    grant_reporter_role(&admin, group).await;
    let out = reporter(api, api.user_token(), &datastore, &vars);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[tokio::test]
async fn missing_report_exits_2_naming_it() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    let admin = api.client(api.admin_token()).await;
    install_crds(&admin, DEFAULT_GROUP).await;
    let out = admin_run(api, &[("TIGERA_COMPLIANCE_REPORT_NAME", "no-such-report")]);
    assert_fails(
        &out,
        2,
        "GlobalReport \"no-such-report\" not found in API group projectcalico.org/v3",
    );
}

#[tokio::test]
async fn unserved_group_exits_2_saying_so() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    let out = admin_run(
        api,
        &[
            ("TIGERA_COMPLIANCE_REPORT_NAME", "daily"),
            ("COMPLIANCE_API_GROUP", "nothing.compliance.test"),
        ],
    );
    assert_fails(
        &out,
        2,
        "API group nothing.compliance.test/v3 is not served by this cluster",
    );
}

#[tokio::test]
async fn a_group_served_by_something_else_is_reported_as_shadowed() {
    // Calico's aggregated API server cannot run here; a CRD of another kind in the group
    // produces the same discovery document: the group is served, ours is not in it.
    let Some(api) = apiserver::shared() else {
        return;
    };
    let admin = api.client(api.admin_token()).await;
    let group = "shadow.compliance.test";
    let tiers: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("tiers.{group}")},
        "spec": {"group": group, "scope": "Cluster", "names": {"kind": "Tier", "plural": "tiers", "singular": "tier"},
            "versions": [{"name": "v3", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    })).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    let _ = crds.create(&PostParams::default(), &tiers).await;
    let tier_api = api_for(&admin, group, "Tier", "tiers");
    let deadline = Instant::now() + Duration::from_secs(30);
    while tier_api.list(&Default::default()).await.is_err() {
        assert!(Instant::now() < deadline, "tiers not served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = admin_run(
        api,
        &[
            ("TIGERA_COMPLIANCE_REPORT_NAME", "daily"),
            ("COMPLIANCE_API_GROUP", group),
        ],
    );
    assert_fails(
        &out,
        2,
        &format!("API group {group}/v3 is served by another API server (it serves tiers)"),
    );
    assert_fails(&out, 2, "set COMPLIANCE_API_GROUP");
}

#[tokio::test]
async fn the_crd_schema_refuses_what_it_can_and_keeps_the_alias() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    let admin = api.client(api.admin_token()).await;
    install_crds(&admin, DEFAULT_GROUP).await;
    let refused = |spec: Value, name: &'static str, field: &'static str| {
        let admin = admin.clone();
        async move {
            match create_report(&admin, DEFAULT_GROUP, name, spec).await {
                Err(kube::Error::Api(s)) => {
                    assert_eq!(s.code, 422, "{name}: {s:?}");
                    assert!(
                        s.message.contains(field),
                        "{name}: expected {field} in {}",
                        s.message
                    );
                }
                other => panic!("{name}: expected a 422, got {other:?}"),
            }
        }
    };
    refused(
        json!({"reportType": "cis-benchmark", "cis": {"highThreshold": 150}}),
        "schema-high",
        "spec.cis.highThreshold",
    )
    .await;
    refused(
        json!({"reportType": "cis-benchmark", "cis": {"medThreshold": -1}}),
        "schema-med",
        "spec.cis.medThreshold",
    )
    .await;
    refused(
        json!({"reportType": "cis-benchmark", "cis": {"numFailedTests": 0}}),
        "schema-num",
        "spec.cis.numFailedTests",
    )
    .await;
    refused(
        json!({"schedule": "0 0 * * *"}),
        "schema-type",
        "spec.reportType",
    )
    .await;
    refused(
        json!({"reportType": "cis-benchmark", "cis": {"resultsFilters": ["1.1.1"]}}),
        "schema-filter",
        "spec.cis.resultsFilters",
    )
    .await;

    // The singular alias is in the schema, so the server keeps it for the reporter.
    let created = create_report(
        &admin,
        DEFAULT_GROUP,
        "schema-alias",
        json!({"reportType": "cis-benchmark", "cis": {"resultsFilter": [{"exclude": ["1.1.1"]}]}}),
    )
    .await
    .unwrap();
    assert_eq!(
        created.data["spec"]["cis"]["resultsFilter"][0]["exclude"][0],
        "1.1.1"
    );
    // Nothing is defaulted into the stored object.
    assert!(created.data["spec"]["cis"].get("highThreshold").is_none());

    // What the schema cannot say (1.20 has no CEL), the reporter refuses, naming the field.
    create_report(&admin, DEFAULT_GROUP, "schema-order",
        json!({"reportType": "cis-benchmark", "schedule": "0 0 * * *", "cis": {"highThreshold": 40, "medThreshold": 60}})).await.unwrap();
    let out = admin_run(api, &[("TIGERA_COMPLIANCE_REPORT_NAME", "schema-order")]);
    assert_fails(
        &out,
        2,
        "spec.cis.medThreshold: 60 must be lower than spec.cis.highThreshold (40)",
    );
}

#[tokio::test]
async fn a_custom_type_object_is_read_and_a_missing_one_named() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    let admin = api.client(api.admin_token()).await;
    install_crds(&admin, DEFAULT_GROUP).await;
    let types = api_for(
        &admin,
        DEFAULT_GROUP,
        "GlobalReportType",
        "globalreporttypes",
    );
    let _ = types.create(&PostParams::default(), &object(DEFAULT_GROUP, "GlobalReportType", "cis-nodes-only", json!({
        "includeCISBenchmarkData": true,
        "downloadTemplates": [{"name": "node-summary.csv", "description": "per node", "template": "builtin"}]
    }))).await;
    create_report(
        &admin,
        DEFAULT_GROUP,
        "typed-daily",
        json!({"reportType": "cis-nodes-only", "schedule": "0 0 * * *"}),
    )
    .await
    .unwrap();
    create_report(
        &admin,
        DEFAULT_GROUP,
        "untyped-daily",
        json!({"reportType": "cis-gone", "schedule": "0 0 * * *"}),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let datastore = store_with_results(dir.path());
    let out_dir = dir.path().join("out");
    let out = reporter(
        api,
        api.admin_token(),
        &datastore,
        &[
            ("TIGERA_COMPLIANCE_REPORT_NAME", "typed-daily"),
            ("COMPLIANCE_OUTPUT_DIR", out_dir.to_str().unwrap()),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut written: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        ["node-provenance.csv", "node-summary.csv"],
        "only the type's downloads, and the provenance every report offers"
    );

    let out = reporter(
        api,
        api.admin_token(),
        &datastore,
        &[("TIGERA_COMPLIANCE_REPORT_NAME", "untyped-daily")],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("GlobalReport \"untyped-daily\": spec.reportType: GlobalReportType \"cis-gone\" not found in API group projectcalico.org/v3"), "{err}");
}

#[tokio::test]
async fn crds_in_another_group_work_with_compliance_api_group() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    let admin = api.client(api.admin_token()).await;
    let group = "compliance.example.com";
    install_crds(&admin, group).await;
    create_report(&admin, group, "elsewhere-daily", daily_spec())
        .await
        .unwrap();
    let out = admin_run(
        api,
        &[
            ("TIGERA_COMPLIANCE_REPORT_NAME", "elsewhere-daily"),
            ("COMPLIANCE_API_GROUP", group),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// `compliancectl ARGS` as a user with a kubeconfig for `token` and nothing else set.
fn compliancectl(api: &TestApiServer, token: &str, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_compliancectl"));
    cmd.args(args)
        .env_clear()
        .env("KUBECONFIG", api.kubeconfig(token))
        .env("COMPLIANCE_API_TIMEOUT", "10s");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().kept()
}

#[tokio::test]
async fn reports_status_shows_what_the_controller_wrote() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    let admin = api.client(api.admin_token()).await;
    install_crds(&admin, DEFAULT_GROUP).await;
    let name = "status-daily";
    let _ = create_report(&admin, DEFAULT_GROUP, name, daily_spec()).await;
    // Windows relative to today (UTC): the status command's outlook depends on the clock.
    let today = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let day = |n: i64| today - chrono::Duration::days(n);
    let at = |t: chrono::DateTime<chrono::Utc>| compliance_core::time::format(&t);
    let job = |end: chrono::DateTime<chrono::Utc>| {
        format!("compliance-reporter.{name}-{}", end.timestamp())
    };
    let window = |start, end| {
        json!({"start": at(start), "end": at(end),
            "job": {"apiVersion": "batch/v1", "kind": "Job", "namespace": "tigera-compliance", "name": job(end)}})
    };
    let running = window(day(1), day(0));
    let mut succeeded = window(day(2), day(1));
    succeeded["jobCompletionTime"] = json!(at(day(1) + chrono::Duration::seconds(32 * 60 + 10)));
    let mut failed = window(day(3), day(2));
    failed["jobCompletionTime"] = json!(at(day(2) + chrono::Duration::seconds(41 * 60 + 2)));
    // What the controller writes: a merge patch of the status subresource.
    let status = json!({"status": {
        "lastScheduledReportJob": running,
        "activeReportJobs": [running],
        "lastSuccessfulReportJobs": [succeeded],
        "lastFailedReportJobs": [failed],
        "conditions": [{"type": "Scheduling", "status": "True", "reason": "Scheduling",
            "message": "the next window ends at 2026-11-27T00:00:00Z; its Job starts at 2026-11-27T00:30:00Z",
            "lastTransitionTime": "2026-11-20T08:00:03Z"}],
    }});
    api_for(&admin, DEFAULT_GROUP, "GlobalReport", "globalreports")
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();

    let out = compliancectl(api, api.admin_token(), &["reports", "status", name], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let needles = [
        "GlobalReport     status-daily\n".to_string(),
        "Schedule         0 0 * * *\n".to_string(),
        "Scheduling       True (reason Scheduling, since 2026-11-20T08:00:03Z)\n".to_string(),
        "the next window ends at 2026-11-27T00:00:00Z; its Job starts at 2026-11-27T00:30:00Z"
            .to_string(),
        format!(
            "Last scheduled   {} → {}  {}\n",
            at(day(1)),
            at(day(0)),
            job(day(0))
        ),
        format!(
            "\nActive Jobs\n  {} → {}  {}\n",
            at(day(1)),
            at(day(0)),
            job(day(0))
        ),
        format!(
            "{}  completed {}\n",
            job(day(1)),
            at(day(1) + chrono::Duration::seconds(32 * 60 + 10))
        ),
        format!(
            "{}  failed {}\n",
            job(day(2)),
            at(day(2) + chrono::Duration::seconds(41 * 60 + 2))
        ),
        format!(
            "Next window      {} → {}",
            at(day(0)),
            at(day(0) + chrono::Duration::days(1))
        ),
    ];
    for needle in &needles {
        assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
    }

    let out = compliancectl(
        api,
        api.admin_token(),
        &["reports", "status", name, "--json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(v["name"], name);
    assert_eq!(v["status"], status["status"], "the status as stored");

    // A missing report is named, with the kind's exit code (not found: 2).
    let out = compliancectl(
        api,
        api.admin_token(),
        &["reports", "status", "no-such-status-report"],
        &[],
    );
    assert_fails(
        &out,
        2,
        "GlobalReport \"no-such-status-report\" not found in API group projectcalico.org/v3",
    );
    assert!(out.stdout.is_empty(), "nothing printed on stdout");

    // COMPLIANCE_API_GROUP picks the group, as for the reporter.
    let group = "status.compliance.test";
    install_crds(&admin, group).await;
    let out = compliancectl(
        api,
        api.admin_token(),
        &["reports", "status", name],
        &[("COMPLIANCE_API_GROUP", group)],
    );
    assert_fails(
        &out,
        2,
        &format!("GlobalReport \"{name}\" not found in API group {group}/v3"),
    );

    // A user who may not read it is told what to ask for.
    let out = compliancectl(api, api.user_token(), &["reports", "status", name], &[]);
    assert_fails(
        &out,
        2,
        "Your Kubernetes user needs `get` on globalreports in projectcalico.org",
    );
}

/// `kubectl` (see [`apiserver::kubectl`]), or a visible skip.
fn kubectl() -> Option<Command> {
    match apiserver::kubectl() {
        Some(path) => Some(Command::new(path)),
        None => {
            apiserver::skip("no kubectl on PATH or in the test cache");
            None
        }
    }
}

fn manifest_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml")
                && path.file_name().is_some_and(|n| n != "kustomization.yaml")
            {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("manifests"), &mut files);
    files.sort();
    files
}

#[tokio::test]
async fn every_manifest_applies_with_kubectl_dry_run() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    if kubectl().is_none() {
        return;
    }
    let admin = api.client(api.admin_token()).await;
    install_crds(&admin, DEFAULT_GROUP).await;
    // The namespace exists for real, so that server dry-run validates the namespaced
    // objects too (the pods, the DaemonSet) instead of stopping at "namespace not found".
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "tigera-compliance"}})).unwrap();
    match namespaces.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("creating namespace tigera-compliance: {e}"),
    }
    let kubeconfig = api.kubeconfig(api.admin_token());
    let mut checked = 0;
    for file in manifest_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        if !text.lines().any(|l| l.starts_with("apiVersion:")) {
            // Prometheus rules files and their promtool tests (manifests/monitoring/) are
            // not Kubernetes objects; tests/e2e/monitoring.rs checks them with promtool.
            continue;
        }
        if text.contains("apiVersion: monitoring.coreos.com/") {
            // PrometheusRule, ServiceMonitor and PodMonitor need prometheus-operator's
            // CRDs, which this server does not have; tests/e2e/monitoring.rs checks them.
            continue;
        }
        if text.contains("kind: CronJob") {
            // batch/v1 CronJob arrived in Kubernetes 1.21; this server is 1.20.
            // tests/manifests.rs checks it against the k8s-openapi types instead.
            continue;
        }
        // Client dry-run checks kinds against the server's discovery; server dry-run also
        // runs the schema (our CRDs' for the examples) and admission, storing nothing.
        for mode in ["client", "server"] {
            let mut cmd = kubectl().unwrap();
            cmd.arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(["apply", &format!("--dry-run={mode}")]);
            if text.contains("x-kubernetes-validations") {
                // The CEL rule's key arrived in Kubernetes 1.23; kubectl validates against
                // this 1.20 server's OpenAPI and would refuse it, while the server itself
                // drops it. Newer clusters enforce it.
                cmd.arg("--validate=false");
            }
            let out = cmd.arg("-f").arg(&file).output().kept();
            let err = stderr(&out);
            assert!(
                out.status.success(),
                "kubectl apply --dry-run={mode} -f {}: {err}",
                file.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} manifests checked");
}

#[tokio::test]
async fn kubectl_get_globalreports_shows_the_printer_columns() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    if kubectl().is_none() {
        return;
    }
    let admin = api.client(api.admin_token()).await;
    install_crds(&admin, DEFAULT_GROUP).await;
    let _ = create_report(&admin, DEFAULT_GROUP, "columns-daily", daily_spec()).await;
    let out = kubectl()
        .unwrap()
        .arg("--kubeconfig")
        .arg(api.kubeconfig(api.admin_token()))
        .args(["get", "globalreports.projectcalico.org", "columns-daily"])
        .output()
        .kept();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = text
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "TYPE",
            "SCHEDULE",
            "SUSPEND",
            "LAST REPORT END",
            "ACTIVE JOBS",
            "LAST SUCCESS",
            "AGE"
        ]
    );
    assert!(
        text.contains("columns-daily   cis-benchmark   0 0 * * *"),
        "{text}"
    );
}

/// Creates a Node object (no kubelet behind it) labelled with `os`, unless it exists.
async fn create_node(client: &kube::Client, name: &str, os: &str) {
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/os": os, "kubernetes.io/hostname": name}},
    }))
    .unwrap();
    match Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("creating node {name}: {e}"),
    }
}

/// Imports a real kube-bench run for `node` at `at` into `datastore`.
fn import_at(datastore: &str, node: &str, at: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_compliancectl"))
        .args(["import", "kube-bench"])
        .arg(root().join("tests/fixtures/cis-1.23-master-newrelic.json"))
        .args(["--node", node, "--time", at])
        .env_clear()
        .env("COMPLIANCE_DATASTORE", datastore)
        .env("COMPLIANCE_BENCHMARK_RETENTION", "forever")
        .env("COMPLIANCE_REPORT_RETENTION", "forever")
        .output()
        .kept();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// docs/spec.md §4.2 against a real API server: the reporter lists the Linux Node objects,
/// and the one whose benchmarker stopped is in the report without results, counted LOW;
/// a Windows node is not expected. Without `list` on nodes the report is still made, with
/// one warning saying what to grant, from the previous report's nodes.
#[tokio::test]
async fn spec_4_2_a_node_that_stopped_reporting_is_listed_without_results() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    let admin = api.client(api.admin_token()).await;
    let group = "nodes.compliance.test";
    install_crds(&admin, group).await;
    create_report(&admin, group, "coverage-daily", daily_spec())
        .await
        .unwrap();
    create_node(&admin, "coverage-reporting", "linux").await;
    create_node(&admin, "coverage-stopped", "linux").await;
    create_node(&admin, "coverage-windows", "windows").await;

    // The window ends at the reporter's start, after the nodes were created.
    let now = chrono::Utc::now();
    let at = |hours: i64| compliance_core::time::format(&(now - chrono::Duration::hours(hours)));
    let dir = tempfile::tempdir().unwrap();
    let datastore = format!("sqlite:{}", dir.path().join("compliance.db").display());
    import_at(&datastore, "coverage-reporting", &at(1));
    // Three days ago: outside the 36-hour look-back.
    let stopped_at = at(72);
    import_at(&datastore, "coverage-stopped", &stopped_at);
    let out_dir = dir.path().join("out");
    let vars = [
        ("TIGERA_COMPLIANCE_REPORT_NAME", "coverage-daily"),
        ("COMPLIANCE_API_GROUP", group),
        ("TIGERA_COMPLIANCE_REPORT_START_TIME", "now-24h"),
        ("TIGERA_COMPLIANCE_REPORT_END_TIME", "now"),
        ("COMPLIANCE_OUTPUT_DIR", out_dir.to_str().unwrap()),
    ];
    let out = reporter(api, api.admin_token(), &datastore, &vars);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let summary = String::from_utf8_lossy(&out.stdout);
    // Other tests of this binary may add Linux nodes of their own: count only ours.
    assert!(
        summary.contains("without results; expected nodes: Node API)"),
        "{summary}"
    );
    let nodes = std::fs::read_to_string(out_dir.join("node-summary.csv")).unwrap();
    assert!(
        nodes.lines().any(|l| l == "coverage-stopped,,LOW,0,0,0,0"),
        "{nodes}"
    );
    assert!(
        nodes.lines().any(|l| l.starts_with("coverage-reporting,")),
        "{nodes}"
    );
    assert!(!nodes.contains("coverage-windows"), "{nodes}");

    // The stored report: the stopped node with its last result, counted LOW.
    let doc = stored_report(&datastore, &summary);
    let stopped = doc["cisBenchmark"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["nodeName"] == "coverage-stopped")
        .unwrap_or_else(|| panic!("coverage-stopped in {doc}"));
    assert_eq!(stopped["noResults"], true, "{stopped}");
    assert_eq!(stopped["summary"]["status"], "LOW");
    assert_eq!(stopped["lastResultTime"], stopped_at.as_str());
    let s = &doc["cisBenchmarkSummary"];
    assert!(s["noResultsCount"].as_u64().unwrap() >= 1, "{s}");
    let rated = s["highCount"].as_u64().unwrap()
        + s["medCount"].as_u64().unwrap()
        + s["lowCount"].as_u64().unwrap();
    assert_eq!(
        rated,
        doc["cisBenchmark"].as_array().unwrap().len() as u64,
        "every node is counted once: {s}"
    );

    // An account that may read GlobalReports but not list nodes: the report is made,
    // with one warning saying what to grant, from the previous report (the run above).
    let user = "no-list";
    let token = grant_user(
        api,
        &admin,
        group,
        "test-reporter-without-nodes",
        user,
        vec![PolicyRule {
            api_groups: Some(vec![group.into()]),
            resources: Some(vec!["globalreports".into(), "globalreporttypes".into()]),
            verbs: vec!["get".into()],
            ..Default::default()
        }],
        "coverage-daily",
    )
    .await;
    let out = reporter(api, &token, &datastore, &vars);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        err.matches("not allowed to list nodes").count(),
        1,
        "one warning: {err}"
    );
    assert!(
        err.contains(
            "`list` on nodes in the core API group (as manifests/reporter-rbac.yaml does)"
        ),
        "{err}"
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("without results; expected nodes: previous report)"),
        "{summary}"
    );
    let nodes = std::fs::read_to_string(out_dir.join("node-summary.csv")).unwrap();
    assert!(
        nodes.lines().any(|l| l == "coverage-stopped,,LOW,0,0,0,0"),
        "{nodes}"
    );
}

fn waiver_api(client: &kube::Client, group: &str) -> Api<DynamicObject> {
    api_for(client, group, "GlobalReportWaiver", "globalreportwaivers")
}

/// Creates a GlobalReportWaiver unless one of that name exists.
async fn create_waiver(
    client: &kube::Client,
    group: &str,
    name: &str,
    spec: Value,
) -> Result<(), kube::Error> {
    match waiver_api(client, group)
        .create(
            &PostParams::default(),
            &object(group, "GlobalReportWaiver", name, spec),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// docs/waivers.md: the CRD's schema refuses a waiver without what it cannot do without,
/// naming the field, and takes a complete one as written.
#[tokio::test]
async fn the_waiver_crd_refuses_an_incomplete_waiver_naming_the_field() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    let admin = api.client(api.admin_token()).await;
    install_crds(&admin, DEFAULT_GROUP).await;
    let complete = json!({"tests": ["1.1.12"], "nodeNames": ["cp-1"],
        "nodeSelector": {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["cp"]}]},
        "reason": "etcd runs as root", "owner": "security", "ticket": "SEC-1",
        "expires": "2027-03-31T00:00:00Z"});
    create_waiver(&admin, DEFAULT_GROUP, "schema-complete", complete.clone())
        .await
        .unwrap();
    let stored = waiver_api(&admin, DEFAULT_GROUP)
        .get("schema-complete")
        .await
        .unwrap();
    assert_eq!(stored.data["spec"], complete, "kept as written");

    let refused = |change: Value, name: &'static str, field: &'static str| {
        let admin = admin.clone();
        let mut spec = complete.clone();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                spec.as_object_mut().unwrap().remove(k);
            } else {
                spec[k] = v.clone();
            }
        }
        async move {
            match create_waiver(&admin, DEFAULT_GROUP, name, spec).await {
                Err(kube::Error::Api(s)) => {
                    assert_eq!(s.code, 422, "{name}: {s:?}");
                    assert!(
                        s.message.contains(field),
                        "{name}: expected {field} in {}",
                        s.message
                    );
                }
                other => panic!("{name}: expected a 422, got {other:?}"),
            }
        }
    };
    refused(json!({"reason": null}), "schema-no-reason", "spec.reason").await;
    refused(json!({"owner": ""}), "schema-no-owner", "spec.owner").await;
    refused(json!({"tests": []}), "schema-no-tests", "spec.tests").await;
    refused(json!({"expires": null}), "schema-no-expiry", "spec.expires").await;
    refused(
        json!({"expires": "next week"}),
        "schema-bad-expiry",
        "spec.expires",
    )
    .await;
    refused(
        json!({"nodeSelector": {"matchExpressions": [{"key": "pool", "operator": "Near"}]}}),
        "schema-bad-operator",
        // 1.20 leaves the index out of the path.
        "spec.nodeSelector.matchExpressions",
    )
    .await;
}

/// docs/waivers.md against a real API server: waivers created there are read by the
/// reporter, which marks the failures they cover, lists the expired one and the one
/// matching nothing, matches a nodeSelector against the Node objects' labels, and warns
/// about the invalid one (naming field and value) without applying it. An account that
/// may not list waivers still gets its report, without them, after one warning.
#[tokio::test]
async fn waivers_in_the_api_server_mark_the_failures_they_accept() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    let admin = api.client(api.admin_token()).await;
    let group = "waivers.compliance.test";
    install_crds(&admin, group).await;
    create_report(&admin, group, "waived-daily", daily_spec())
        .await
        .unwrap();
    create_node(&admin, "waiver-cp", "linux").await;
    let dir = tempfile::tempdir().unwrap();
    let datastore = format!("sqlite:{}", dir.path().join("compliance.db").display());
    // The fixture fails 1.1.11, 1.1.12, 1.1.19, 1.2.6, 1.2.18–1.2.22, 1.3.2, 1.4.1, 4.2.6.
    import_at(&datastore, "waiver-cp", AT);
    let spec = |tests: Value, expires: &str| {
        json!({"tests": tests, "reason": "accepted in the test", "owner": "security",
            "expires": expires})
    };
    create_waiver(&admin, group, "etcd", spec(json!(["1.1.12"]), "2027-03-31"))
        .await
        .unwrap();
    let mut by_label = spec(json!(["1.2"]), "2027-03-31");
    by_label["nodeSelector"] = json!({"matchLabels": {"kubernetes.io/hostname": "waiver-cp"}});
    create_waiver(&admin, group, "api-by-label", by_label)
        .await
        .unwrap();
    create_waiver(&admin, group, "expired", spec(json!(["1.3.2"]), END))
        .await
        .unwrap();
    create_waiver(&admin, group, "stale", spec(json!(["9.9"]), "2027-03-31"))
        .await
        .unwrap();
    // What the schema lets through and the reporter refuses: `In` without values.
    let mut invalid = spec(json!(["1.1.11"]), "2027-03-31");
    invalid["nodeSelector"] = json!({"matchExpressions": [{"key": "pool", "operator": "In"}]});
    create_waiver(&admin, group, "invalid", invalid)
        .await
        .unwrap();

    let vars = [
        ("TIGERA_COMPLIANCE_REPORT_NAME", "waived-daily"),
        ("COMPLIANCE_API_GROUP", group),
    ];
    let out = reporter(api, api.admin_token(), &datastore, &vars);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let summary = String::from_utf8_lossy(&out.stdout);
    // 1.1.12 and the six failures of section 1.2; 1.3.2 counts again.
    assert!(
        summary.contains("; 7 failures waived (without waivers: HIGH 0, MED 1, LOW 0); waivers expired: expired; waivers matching nothing: stale; top failed: "),
        "{summary}"
    );
    assert!(summary.contains("1.3.2 (1)"), "{summary}");
    assert!(!summary.contains("1.1.12 (1)"), "{summary}");
    assert!(
        err.contains("GlobalReportWaiver \"invalid\" (the API server) is not applied: spec.nodeSelector.matchExpressions[0].values: operator In needs at least one value"),
        "{err}"
    );
    assert!(
        err.contains(
            "GlobalReportWaiver \"expired\" (owner security) expired at 2026-11-26T00:00:00Z"
        ),
        "{err}"
    );
    assert!(
        !err.contains("have a nodeSelector"),
        "the node labels were read: {err}"
    );

    // The stored report: each waived FAIL keeps its status and names its waiver, and the
    // report lists every waiver that concerned it with what it did.
    let doc = stored_report(&datastore, &summary);
    let node = &doc["cisBenchmark"][0];
    assert_eq!(node["nodeName"], "waiver-cp");
    let results: Vec<&Value> = node["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["results"].as_array().unwrap())
        .collect();
    let test = |n: &str| {
        *results
            .iter()
            .find(|t| t["testNumber"] == n)
            .unwrap_or_else(|| panic!("no test {n} in the stored report"))
    };
    assert_eq!(test("1.1.12")["status"], "FAIL");
    assert_eq!(test("1.1.12")["waiver"], "etcd");
    assert_eq!(test("1.2.6")["waiver"], "api-by-label");
    assert!(test("1.3.2").get("waiver").is_none(), "expired");
    assert!(
        test("1.1.11").get("waiver").is_none(),
        "invalid: not applied"
    );
    assert_eq!(node["summary"]["waived"], 7);
    assert!(
        node["summary"]["statusWithoutWaivers"].is_string(),
        "{node}"
    );
    let s = &doc["cisBenchmarkSummary"];
    assert_eq!(s["waivedCount"], 7, "{s}");
    assert!(s["withoutWaivers"]["medCount"].is_u64(), "{s}");
    let outcomes: Vec<(String, String, u64)> = doc["waivers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap().to_string(),
                w["state"].as_str().unwrap().to_string(),
                w["waived"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, String, u64)> = [
        ("api-by-label", "applied", 6),
        ("etcd", "applied", 1),
        ("expired", "expired", 1),
        ("stale", "matchedNothing", 0),
    ]
    .into_iter()
    .map(|(n, st, w)| (n.to_string(), st.to_string(), w))
    .collect();
    assert_eq!(outcomes, expected);

    // `compliancectl waivers list` reads the same waivers, each with its state at --at.
    let list = compliancectl(
        api,
        api.admin_token(),
        &["waivers", "list", "--json", "--at", END],
        &[("COMPLIANCE_API_GROUP", group)],
    );
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    let states: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["name"].as_str().unwrap(), w["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("api-by-label", "inForce"),
            ("etcd", "inForce"),
            ("expired", "expired"),
            ("invalid", "invalid"),
            ("stale", "inForce"),
        ]
    );

    // An account with the reporter's rights but for the waivers: the report is made,
    // without them, and one warning says what to grant.
    let user = "no-waivers";
    let token = grant_user(
        api,
        &admin,
        group,
        "test-reporter-without-waivers",
        user,
        vec![
            PolicyRule {
                api_groups: Some(vec![group.into()]),
                resources: Some(vec!["globalreports".into(), "globalreporttypes".into()]),
                verbs: vec!["get".into()],
                ..Default::default()
            },
            PolicyRule {
                api_groups: Some(vec!["".into()]),
                resources: Some(vec!["nodes".into()]),
                verbs: vec!["list".into()],
                ..Default::default()
            },
        ],
        "waived-daily",
    )
    .await;
    let out = reporter(api, &token, &datastore, &vars);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        err.matches("not allowed to list GlobalReportWaivers")
            .count(),
        1,
        "one warning: {err}"
    );
    assert!(
        err.contains(&format!("`list` on globalreportwaivers in API group {group} (as manifests/reporter-rbac.yaml does)")),
        "{err}"
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(!summary.contains("failures waived"), "{summary}");
    assert!(summary.contains("1.1.12 (1)"), "{summary}");
}
