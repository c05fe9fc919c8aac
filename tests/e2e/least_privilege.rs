//! Every program runs as its own ServiceAccount with exactly the rules its manifest
//! publishes (docs/security.md), on the real kube-apiserver: enough for its work, and
//! nothing beyond it. The controller's twin of these tests is tests/controller/rbac.rs.
//!
//! Each test copies its manifest's ServiceAccount, roles and bindings into a namespace and
//! API group of its own (`compliance_testkit::rbac::published`), takes a token of the
//! account from the TokenRequest API, and runs the program with nothing but that token.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use compliance_kube::crd::custom_resource_definitions;
use compliance_testkit::apiserver::{self, TestApiServer};
use compliance_testkit::fixtures::{root, stderr};
use compliance_testkit::{rbac, secrets};
use k8s_openapi::api::core::v1::{Namespace, Node, Secret};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use serde_json::{Value, json};

use crate::server::{Running, https_client, server_command};

const START: &str = "2026-11-25T00:00:00Z";
const END: &str = "2026-11-26T00:00:00Z";

/// A namespace and API group of the test's own, with the CRDs installed.
struct Scene {
    api: &'static TestApiServer,
    admin: kube::Client,
    namespace: String,
    group: String,
}

impl Scene {
    async fn new(name: &str) -> Option<Scene> {
        let api = apiserver::shared()?;
        let admin = api.client(api.admin_token()).await;
        let namespace = format!("lp-{name}");
        let group = format!("{name}.lp.compliance.test");
        let namespaces: Api<Namespace> = Api::all(admin.clone());
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": namespace}})).unwrap();
        match namespaces.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("create namespace {namespace}: {e}"),
        }
        apiserver::install_crds(&admin, custom_resource_definitions(&group)).await;
        Some(Scene {
            api,
            admin,
            namespace,
            group,
        })
    }

    /// Applies the manifest's RBAC and gives a client and token of `account`, once the
    /// authorizer's cache lets `ready` pass (RBAC reaches it through an informer).
    async fn account<F, Fut>(
        &self,
        manifest: &str,
        account: &str,
        ready: F,
    ) -> (kube::Client, String)
    where
        F: Fn(kube::Client) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let docs = rbac::published(manifest, &self.group, &self.namespace);
        rbac::apply_all(&self.admin, &docs).await;
        let token = rbac::service_account_token(&self.admin, &self.namespace, account).await;
        let client = self.api.client(&token).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready(client.clone()).await {
            assert!(
                Instant::now() < deadline,
                "the published RBAC of {manifest} did not take effect within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (client, token)
    }

    fn resource(&self, kind: &str, plural: &str) -> ApiResource {
        ApiResource {
            group: self.group.clone(),
            version: "v3".into(),
            api_version: format!("{}/v3", self.group),
            kind: kind.into(),
            plural: plural.into(),
        }
    }

    fn reports(&self, client: &kube::Client) -> Api<DynamicObject> {
        Api::all_with(
            client.clone(),
            &self.resource("GlobalReport", "globalreports"),
        )
    }

    async fn create(&self, kind: &str, plural: &str, name: &str, spec: Value) {
        let api: Api<DynamicObject> =
            Api::all_with(self.admin.clone(), &self.resource(kind, plural));
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{}/v3", self.group), "kind": kind,
            "metadata": {"name": name}, "spec": spec,
        }))
        .unwrap();
        match api.create(&PostParams::default(), &object).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("create {kind} {name}: {e}"),
        }
    }

    async fn create_node(&self, name: &str, labels: Value) {
        let nodes: Api<Node> = Api::all(self.admin.clone());
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"providerID": format!("aws:///eu-west-1a/i-{name}")},
        }))
        .unwrap();
        match nodes.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("create node {name}: {e}"),
        }
    }
}

fn daily_spec() -> Value {
    json!({"reportType": "cis-benchmark", "schedule": "0 0 * * *",
        "cis": {"highThreshold": 100, "medThreshold": 50, "includeUnscoredTests": true, "numFailedTests": 5}})
}

fn forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) {
    match result {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    }
}

/// A SQLite store holding one real kube-bench run of node `node` in the report window.
fn store_with_results(dir: &std::path::Path, node: &str) -> String {
    let datastore = format!("sqlite:{}", dir.join("compliance.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_compliancectl"))
        .args(["import", "kube-bench"])
        .arg(root().join("tests/fixtures/cis-1.23-master-newrelic.json"))
        .args(["--node", node, "--time", "2026-11-25T10:00:00Z"])
        .env_clear()
        .env("COMPLIANCE_DATASTORE", &datastore)
        .env("COMPLIANCE_BENCHMARK_RETENTION", "forever")
        .env("COMPLIANCE_REPORT_RETENTION", "forever")
        .output()
        .unwrap();
    let out = secrets::keep("import", out);
    assert!(out.status.success(), "{}", stderr(&out));
    datastore
}

fn reporter(scene: &Scene, token: &str, datastore: &str, report: &str) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_compliance-reporter"))
        .env_clear()
        .env("KUBECONFIG", scene.api.kubeconfig(token))
        .env("COMPLIANCE_DATASTORE", datastore)
        .env("COMPLIANCE_BENCHMARK_RETENTION", "forever")
        .env("COMPLIANCE_REPORT_RETENTION", "forever")
        .env("COMPLIANCE_API_GROUP", &scene.group)
        .env("TIGERA_COMPLIANCE_REPORT_NAME", report)
        .env("TIGERA_COMPLIANCE_REPORT_START_TIME", START)
        .env("TIGERA_COMPLIANCE_REPORT_END_TIME", END)
        .env("COMPLIANCE_API_TIMEOUT", "10s")
        .output()
        .unwrap();
    secrets::keep("reporter", out)
}

#[tokio::test]
async fn the_reporter_works_as_its_service_account_with_exactly_the_published_rules() {
    let Some(scene) = Scene::new("reporter").await else {
        return;
    };
    scene
        .create("GlobalReport", "globalreports", "lp-daily", daily_spec())
        .await;
    // A waiver and a node: the two list rules are exercised, not just granted.
    scene
        .create(
            "GlobalReportWaiver",
            "globalreportwaivers",
            "lp-accept-1-1-1",
            json!({"tests": ["1.1.12"], "reason": "accepted for the least-privilege test",
                "owner": "security", "expires": "2099-01-01"}),
        )
        .await;
    scene
        .create_node("lp-reporter-node", json!({"kubernetes.io/os": "linux"}))
        .await;
    let reports_of = |c: kube::Client| {
        let api = scene.reports(&c);
        async move { api.get("lp-daily").await.is_ok() }
    };
    let (client, token) = scene
        .account(
            "manifests/reporter-rbac.yaml",
            "tigera-compliance-reporter",
            reports_of,
        )
        .await;

    let dir = tempfile::tempdir().unwrap();
    let datastore = store_with_results(dir.path(), "lp-reporter-node");
    let out = reporter(&scene, &token, &datastore, "lp-daily");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // Every rule was used and none refused: no warning about waivers or nodes.
    // Words, not "403": a timestamp's digits may hold it.
    assert!(
        !err.to_lowercase().contains("forbidden") && !err.contains("not allowed"),
        "{err}"
    );
    assert!(
        !err.contains("WARN"),
        "a warning with the published rules: {err}"
    );

    // Nothing beyond them: no writes, no watch, no Secrets, no single Node.
    let reports = scene.reports(&client);
    forbidden(
        reports.list(&ListParams::default()).await,
        "list GlobalReports",
    );
    forbidden(
        reports.delete("lp-daily", &Default::default()).await,
        "delete a GlobalReport",
    );
    let secrets_api: Api<Secret> = Api::namespaced(client.clone(), &scene.namespace);
    forbidden(
        secrets_api.list(&ListParams::default()).await,
        "list Secrets",
    );
    let nodes: Api<Node> = Api::all(client.clone());
    forbidden(nodes.get("lp-reporter-node").await, "get one Node");
    let waivers: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &scene.resource("GlobalReportWaiver", "globalreportwaivers"),
    );
    forbidden(
        waivers.delete("lp-accept-1-1-1", &Default::default()).await,
        "delete a waiver",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_works_as_its_service_account_with_exactly_the_published_rules() {
    let Some(scene) = Scene::new("server").await else {
        return;
    };
    scene
        .create(
            "GlobalReport",
            "globalreports",
            "lp-server-daily",
            daily_spec(),
        )
        .await;
    // A reader: may see that GlobalReport and its type, through a binding of the test's.
    let reader = "reader-all";
    let role_name = format!("lp-reader-{}", scene.namespace);
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": role_name},
        // In projectcalico.org, whatever group the CRDs are in: the server asks about it.
        "rules": [{"apiGroups": ["projectcalico.org"], "resources": ["globalreports", "globalreporttypes"],
            "verbs": ["get", "list"]}],
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": role_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
        "subjects": [{"kind": "User", "name": reader, "apiGroup": "rbac.authorization.k8s.io"}],
    });
    rbac::apply_all(&scene.admin, &[role, binding]).await;

    let may_review = |c: kube::Client| async move {
        let api: Api<k8s_openapi::api::authentication::v1::TokenReview> = Api::all(c);
        let review: k8s_openapi::api::authentication::v1::TokenReview =
            serde_json::from_value(json!({"spec": {"token": "probe"}})).unwrap();
        api.create(&PostParams::default(), &review).await.is_ok()
    };
    let (client, token) = scene
        .account(
            "manifests/compliance-server.yaml",
            "tigera-compliance-server",
            may_review,
        )
        .await;

    // A store with the GlobalReport's report, made by a reporter run as the admin.
    let dir = tempfile::tempdir().unwrap();
    let datastore = store_with_results(dir.path(), "lp-server-node");
    let out = reporter(
        &scene,
        scene.api.admin_token(),
        &datastore,
        "lp-server-daily",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let db = dir.path().join("compliance.db");

    let kubeconfig = scene.api.kubeconfig(&token);
    let vars = [
        ("KUBECONFIG", kubeconfig.to_str().unwrap()),
        ("COMPLIANCE_API_GROUP", scene.group.as_str()),
        ("LISTEN_ADDR", "127.0.0.1:0"),
    ];
    let mut server = Running::spawn(server_command(&db, &vars), dir.path(), "lp-server");
    let addr = server.address(
        "the server to listen",
        "listening on https://",
        Running::log,
    );
    // Blocking HTTP, off the runtime's worker.
    tokio::task::block_in_place(|| {
        let http = https_client();
        let reader_token = apiserver::fixed_token(reader);

        // Tokens reviewed, access reviewed, GlobalReports read: each rule in use.
        let deadline = Instant::now() + Duration::from_secs(30);
        let listed = loop {
            let answer = http
                .get(format!("https://{addr}/compliance/reports"))
                .bearer_auth(&reader_token)
                .send()
                .unwrap();
            let status = answer.status().as_u16();
            let body = answer.text().unwrap();
            if status == 200 && body.contains("lp-server-daily") {
                break body;
            }
            assert!(
                Instant::now() < deadline,
                "no list of lp-server-daily within 30 s: {status} {body}\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        assert!(listed.contains("lp-server-daily"), "{listed}");
        let page = http
            .get(format!("https://{addr}/"))
            .bearer_auth(&reader_token)
            .send()
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        let unknown = http
            .get(format!("https://{addr}/compliance/reports"))
            .bearer_auth("not-a-token-anyone-has")
            .send()
            .unwrap();
        assert_eq!(unknown.status().as_u16(), 401);
        let log = server.log();
        assert!(
            !log.to_lowercase().contains("forbidden") && !log.contains("\"status\":403"),
            "the server was refused something:\n{log}"
        );
    });

    // Nothing beyond: no Secrets, no GlobalReports at all, no Nodes.
    let secrets_api: Api<Secret> = Api::namespaced(client.clone(), &scene.namespace);
    forbidden(
        secrets_api.list(&ListParams::default()).await,
        "list Secrets",
    );
    forbidden(
        scene.reports(&client).list(&ListParams::default()).await,
        "list GlobalReports",
    );
    let nodes: Api<Node> = Api::all(client.clone());
    forbidden(nodes.list(&ListParams::default()).await, "list Nodes");
}

#[tokio::test]
async fn the_benchmarker_reads_its_node_as_its_service_account_and_nothing_more() {
    let Some(scene) = Scene::new("benchmarker").await else {
        return;
    };
    let node = "lp-benchmarker-node";
    scene
        .create_node(
            node,
            json!({"kubernetes.io/os": "linux", "eks.amazonaws.com/nodegroup": "ng-1"}),
        )
        .await;
    let may_get = |c: kube::Client| async move {
        Api::<Node>::all(c).get("lp-benchmarker-node").await.is_ok()
    };
    let (client, _token) = scene
        .account(
            "manifests/benchmarker-rbac.yaml",
            "tigera-compliance-benchmarker",
            may_get,
        )
        .await;
    // The benchmarker's own read, the code its daemon runs, with that token.
    let object = compliance::node::read(client.clone(), node)
        .await
        .expect("the benchmarker reads its Node with the published rules");
    assert_eq!(
        object
            .labels
            .get("eks.amazonaws.com/nodegroup")
            .map(String::as_str),
        Some("ng-1")
    );
    assert_eq!(object.provider_id, format!("aws:///eu-west-1a/i-{node}"));

    let nodes: Api<Node> = Api::all(client.clone());
    forbidden(nodes.list(&ListParams::default()).await, "list Nodes");
    let secrets_api: Api<Secret> = Api::namespaced(client.clone(), &scene.namespace);
    forbidden(
        secrets_api.list(&ListParams::default()).await,
        "list Secrets",
    );
    forbidden(
        scene.reports(&client).list(&ListParams::default()).await,
        "list GlobalReports",
    );
}

/// `kubectl` as the account of `kubeconfig`: kube-bench's policies checks call it so.
fn kubectl(kubectl: &std::path::Path, kubeconfig: &std::path::Path, args: &[&str]) -> Output {
    let out = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap();
    secrets::keep("kubectl", out)
}

#[tokio::test]
async fn the_cluster_benchmarker_may_list_what_the_policies_checks_list_and_no_secret() {
    let Some(scene) = Scene::new("cluster").await else {
        return;
    };
    let Some(kubectl_path) = apiserver::kubectl() else {
        apiserver::skip("kubectl is not installed");
        return;
    };
    let may_list = |c: kube::Client| async move {
        Api::<k8s_openapi::api::core::v1::Pod>::all(c)
            .list(&ListParams::default())
            .await
            .is_ok()
    };
    let (_client, token) = scene
        .account(
            "manifests/compliance-benchmarker-cluster.yaml",
            "tigera-compliance-benchmarker-cluster",
            may_list,
        )
        .await;
    let kubeconfig = scene.api.kubeconfig(&token);
    // What the CIS section 5 checks of kube-bench's policies target ask, by resource.
    for args in [
        &["get", "clusterrolebindings", "-o", "json"][..],
        &["get", "clusterroles", "-o", "json"],
        &["get", "rolebindings", "-A", "-o", "json"],
        &["get", "roles", "-A", "-o", "json"],
        &["get", "pods", "-A", "-o", "json"],
        &["get", "serviceaccounts", "-A", "-o", "json"],
        &["get", "namespaces", "-o", "json"],
        &["get", "networkpolicies", "-A", "-o", "json"],
        &[
            "get",
            "deployments,daemonsets,replicasets,statefulsets",
            "-A",
        ],
        &["get", "services,replicationcontrollers", "-A"],
        &["get", "jobs", "-A"],
        &["get", "csr"],
    ] {
        let out = kubectl(&kubectl_path, &kubeconfig, args);
        assert!(
            out.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            stderr(&out)
        );
    }
    for args in [
        &["get", "secrets", "-A"][..],
        &["get", "configmaps", "-A"],
        &[
            "create",
            "configmap",
            "lp-probe",
            "-n",
            "default",
            "--dry-run=server",
        ],
    ] {
        let out = kubectl(&kubectl_path, &kubeconfig, args);
        assert!(
            !out.status.success(),
            "kubectl {} was allowed",
            args.join(" ")
        );
        assert!(
            stderr(&out).contains("forbidden"),
            "kubectl {}: {}",
            args.join(" "),
            stderr(&out)
        );
    }
}

// --- What docs/security.md enumerates, against the manifests ----------------------------

/// One grant: (scope, API group, resource, verb, resource name or "").
type Grant = (String, String, String, String, String);

/// The cells of a Markdown table row, without backticks.
fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().replace('`', ""))
        .collect()
}

fn list(cell: &str) -> Vec<String> {
    let items: Vec<String> = cell
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        vec![String::new()]
    } else {
        items
    }
}

/// docs/security.md's rules per manifest file: its `### account (manifest)` tables and the
/// rows of the roles table, each naming its manifest in parentheses.
fn documented_grants() -> std::collections::BTreeMap<String, std::collections::BTreeSet<Grant>> {
    let text = std::fs::read_to_string(root().join("docs/security.md")).unwrap();
    let manifest_in = |s: &str| {
        s.split("(`")
            .nth(1)
            .and_then(|rest| rest.split('`').next())
            .filter(|m| m.starts_with("manifests/"))
            .map(str::to_string)
    };
    let mut out: std::collections::BTreeMap<String, std::collections::BTreeSet<Grant>> =
        Default::default();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with('#') {
            current = line
                .starts_with("### ")
                .then(|| manifest_in(line))
                .flatten();
            continue;
        }
        if !line.starts_with('|') || line.starts_with("|---") {
            continue;
        }
        let mut row = cells(line);
        // The roles table: the manifest is in the first cell, the rest as above.
        let manifest = match manifest_in(line).filter(|_| row[0].contains("(manifests/")) {
            Some(m) => {
                row.remove(0);
                m
            }
            None => match &current {
                Some(m) if row[0] != "scope" => m.clone(),
                _ => continue,
            },
        };
        if row[0] == "scope" {
            continue;
        }
        let set = out.entry(manifest).or_default();
        for group in list(&row[1]) {
            for resource in list(&row[2]) {
                for verb in list(&row[3]) {
                    for name in list(&row[4]) {
                        set.insert((
                            row[0].clone(),
                            group.clone(),
                            resource.clone(),
                            verb.clone(),
                            name,
                        ));
                    }
                }
            }
        }
    }
    out
}

/// The rules of the roles in a manifest, with their scope.
fn published_grants(manifest: &str) -> std::collections::BTreeSet<Grant> {
    let text = std::fs::read_to_string(root().join(manifest)).unwrap();
    let mut out = std::collections::BTreeSet::new();
    for doc in rbac::documents(&text) {
        let scope = match doc["kind"].as_str() {
            Some("ClusterRole") => "cluster".to_string(),
            Some("Role") => doc["metadata"]["namespace"].as_str().unwrap().to_string(),
            _ => continue,
        };
        for (group, resource, verb, name) in rbac::grants(std::slice::from_ref(&doc)) {
            out.insert((scope.clone(), group, resource, verb, name));
        }
    }
    out
}

/// docs/security.md: every rule of every manifest has its row (with why), and every row
/// its rule; every manifest with a role is on the page.
#[test]
fn security_md_enumerates_every_accounts_rules_exactly() {
    let documented = documented_grants();
    let mut with_roles = Vec::new();
    for entry in std::fs::read_dir(root().join("manifests")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let manifest = format!("manifests/{}", path.file_name().unwrap().to_str().unwrap());
        if !published_grants(&manifest).is_empty() {
            with_roles.push(manifest);
        }
    }
    assert!(with_roles.len() >= 7, "{with_roles:?}");
    for manifest in &with_roles {
        let published = published_grants(manifest);
        let written = documented.get(manifest).cloned().unwrap_or_default();
        let missing: Vec<_> = published.difference(&written).collect();
        let extra: Vec<_> = written.difference(&published).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{manifest}: rules without a row in docs/security.md: {missing:#?}\n\
             rows without a rule: {extra:#?}"
        );
    }
    let unknown: Vec<_> = documented
        .keys()
        .filter(|m| !with_roles.contains(m))
        .collect();
    assert!(unknown.is_empty(), "docs/security.md names {unknown:?}");
}

/// Every pod spec of the manifests, as (workload, pod spec).
fn pod_specs() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root().join("manifests")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in rbac::documents(&text) {
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            let spec = match kind.as_str() {
                "Deployment" | "DaemonSet" | "StatefulSet" | "Job" => {
                    doc["spec"]["template"]["spec"].clone()
                }
                "CronJob" => doc["spec"]["jobTemplate"]["spec"]["template"]["spec"].clone(),
                "Pod" => doc["spec"].clone(),
                "PodTemplate" => doc["template"]["spec"].clone(),
                _ => continue,
            };
            let name = doc["metadata"]["name"].as_str().unwrap_or_default();
            out.push((format!("{kind} {name}"), spec));
        }
    }
    for dir in ["manifests/alternatives"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for doc in rbac::documents(&text) {
                if doc["kind"] == "CronJob" {
                    let name = doc["metadata"]["name"].as_str().unwrap_or_default();
                    out.push((
                        format!("CronJob {name}"),
                        doc["spec"]["jobTemplate"]["spec"]["template"]["spec"].clone(),
                    ));
                }
            }
        }
    }
    out
}

/// docs/security.md, "Containers": the exceptions, as (workload, container) → (root
/// allowed, capabilities allowed).
fn container_exceptions() -> std::collections::BTreeMap<(String, String), (bool, Vec<String>)> {
    let text = std::fs::read_to_string(root().join("docs/security.md")).unwrap();
    let section = text
        .split("## Containers")
        .nth(1)
        .expect("a Containers section");
    section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .map(cells)
        .filter(|row| row[0] != "workload")
        .map(|row| {
            let caps = row[3]
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            ((row[0].clone(), row[1].clone()), (row[2] == "yes", caps))
        })
        .collect()
}

/// docs/security.md, "Containers": no privilege escalation, read-only root, all
/// capabilities dropped, the runtime's seccomp profile, and a non-root user, except where
/// the page's table allows root or a capability, and says why.
#[test]
fn every_container_is_hardened_unless_this_page_says_why() {
    let exceptions = container_exceptions();
    let specs = pod_specs();
    assert!(specs.len() >= 6, "{specs:?}");
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (workload, spec) in &specs {
        let pod_ctx = &spec["securityContext"];
        let containers = spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(spec["initContainers"].as_array().into_iter().flatten());
        for c in containers {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            let key = (workload.clone(), name.clone());
            let (root_ok, caps_ok) = exceptions.get(&key).cloned().unwrap_or_default();
            if exceptions.contains_key(&key) {
                seen.insert(key.clone());
            }
            let ctx = &c["securityContext"];
            let at = |field: &str| {
                let v = &ctx[field];
                if v.is_null() {
                    pod_ctx[field].clone()
                } else {
                    v.clone()
                }
            };
            let mut problem = |what: &str| problems.push(format!("{workload} / {name}: {what}"));
            if ctx["allowPrivilegeEscalation"] != json!(false) {
                problem("allowPrivilegeEscalation is not false");
            }
            if ctx["privileged"] == json!(true) {
                problem("privileged");
            }
            if ctx["readOnlyRootFilesystem"] != json!(true) {
                problem("readOnlyRootFilesystem is not true");
            }
            let dropped = ctx["capabilities"]["drop"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !dropped.contains(&json!("ALL")) {
                problem("capabilities are not all dropped");
            }
            for added in ctx["capabilities"]["add"].as_array().into_iter().flatten() {
                let added = added.as_str().unwrap_or_default();
                if !caps_ok.iter().any(|c| c == added) {
                    problem(&format!("adds capability {added}"));
                }
            }
            if at("seccompProfile")["type"] != json!("RuntimeDefault") {
                problem("no RuntimeDefault seccomp profile");
            }
            let non_root = at("runAsNonRoot") == json!(true)
                && at("runAsUser").as_u64().is_some_and(|u| u != 0);
            if !non_root && !root_ok {
                problem("may run as root");
            }
            if non_root && root_ok {
                problem("the page allows root but it runs as a user: update docs/security.md");
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    let unused: Vec<_> = exceptions.keys().filter(|k| !seen.contains(*k)).collect();
    assert!(
        unused.is_empty(),
        "docs/security.md lists containers that are not in the manifests: {unused:?}"
    );
}

/// The runtime image runs as 65532, the benchmarker's as root (docs/security.md).
#[test]
fn the_dockerfile_runs_the_programs_as_a_user_and_only_the_benchmarker_as_root() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let mut stage = String::new();
    let mut users = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("FROM ") {
            stage = rest
                .split(" AS ")
                .nth(1)
                .unwrap_or_default()
                .trim()
                .to_string();
        }
        if let Some(user) = line.strip_prefix("USER ") {
            users.push((stage.clone(), user.trim().to_string()));
        }
    }
    assert!(
        users.contains(&("runtime".into(), "65532:65532".into())),
        "{users:?}"
    );
    for (stage, user) in &users {
        if user.starts_with('0') {
            assert_eq!(
                stage, "benchmarker",
                "only the benchmarker runs as root: {users:?}"
            );
        }
    }
}
