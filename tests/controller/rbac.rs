//! The published RBAC of manifests/compliance-controller.yaml, granted to a real
//! ServiceAccount: enough for the controller to do all of its work, and nothing beyond.

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::support::*;

const MANIFEST: &str = "manifests/compliance-controller.yaml";

/// The manifest's RBAC documents, moved into the test's group and namespace, with names
/// of the test's own (ClusterRoles and the Role in `default` are shared by all tests).
fn rbac_documents(f: &Fixture) -> Vec<Value> {
    let path = compliance_testkit::fixtures::root().join(MANIFEST);
    let text = std::fs::read_to_string(&path).unwrap();
    let suffix = format!("-{}", f.namespace);
    text.split("\n---")
        .filter_map(|doc| serde_saphyr::from_str::<Value>(doc).ok())
        .filter(|v| {
            matches!(
                v["kind"].as_str(),
                Some(
                    "ServiceAccount"
                        | "ClusterRole"
                        | "ClusterRoleBinding"
                        | "Role"
                        | "RoleBinding"
                )
            )
        })
        .map(|mut v| {
            let text = serde_json::to_string(&v).unwrap();
            let text = text
                .replace("\"projectcalico.org\"", &format!("\"{}\"", f.group))
                .replace("\"tigera-compliance\"", &format!("\"{}\"", f.namespace));
            v = serde_json::from_str(&text).unwrap();
            let kind = v["kind"].as_str().unwrap().to_string();
            if kind != "ServiceAccount" {
                let name = v["metadata"]["name"].as_str().unwrap().to_string();
                v["metadata"]["name"] = json!(format!("{name}{suffix}"));
            }
            if kind.ends_with("Binding") {
                let role = v["roleRef"]["name"].as_str().unwrap().to_string();
                v["roleRef"]["name"] = json!(format!("{role}{suffix}"));
            }
            v
        })
        .collect()
}

/// Creates one of the manifest's documents as it is (an object already there is kept).
async fn apply(f: &Fixture, doc: &Value) {
    let kind = doc["kind"].as_str().unwrap();
    let (group, plural, namespaced) = match kind {
        "ServiceAccount" => ("", "serviceaccounts", true),
        "ClusterRole" => ("rbac.authorization.k8s.io", "clusterroles", false),
        "ClusterRoleBinding" => ("rbac.authorization.k8s.io", "clusterrolebindings", false),
        "Role" => ("rbac.authorization.k8s.io", "roles", true),
        "RoleBinding" => ("rbac.authorization.k8s.io", "rolebindings", true),
        other => panic!("unexpected kind {other}"),
    };
    let version = "v1";
    let resource = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: doc["apiVersion"].as_str().unwrap().into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    let api: Api<DynamicObject> = match doc["metadata"]["namespace"].as_str() {
        Some(ns) if namespaced => Api::namespaced_with(f.client.clone(), ns, &resource),
        _ => Api::all_with(f.client.clone(), &resource),
    };
    let object: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("create {kind} {}: {e}", doc["metadata"]["name"]),
    }
}

/// A token of the ServiceAccount, from the TokenRequest API.
async fn token(f: &Fixture, account: &str) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(f.client.clone(), &f.namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(3600),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer: TokenRequest = accounts
        .create_subresource("token", account, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("request a token for {account}: {e}"));
    answer.status.unwrap().token
}

fn forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) {
    match result {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    }
}

#[tokio::test]
async fn the_published_rbac_is_enough_for_the_controller_and_nothing_more() {
    let Some(f) = fixture("rbac").await else {
        return;
    };
    f.put_template("tigera.io.report", &["reporter"], &[]).await;
    for doc in rbac_documents(&f) {
        apply(&f, &doc).await;
    }
    let token = token(&f, "tigera-compliance-controller").await;
    let client = f.api.client(&token).await;
    let reports: Api<DynamicObject> = Api::all_with(client.clone(), &report_resource(&f.group));
    eventually("the RBAC grant to take effect", || async {
        reports.list(&ListParams::default()).await.is_ok()
    })
    .await;

    f.create_report("daily", daily(), Some(midnight(2))).await;
    // No successful Job kept: a finished one is deleted at once, which needs `delete`.
    let mut controller = f.controller_as(
        "rbac",
        &token,
        &[("TIGERA_COMPLIANCE_MAX_SUCCESSFUL_JOBS_HISTORY", "0")],
    );
    eventually(
        "a Job, a status and an event, made with the published RBAC",
        || async {
            !f.jobs_of("daily").await.is_empty()
                && f.status("daily").await["activeReportJobs"].is_array()
                && !f.events("daily", "JobCreated").await.is_empty()
        },
    )
    .await;
    // Leader election worked too: the Lease is held by this replica.
    assert_eq!(f.lease_holder().await.as_deref(), Some("rbac"));
    let job = f.jobs_of("daily").await[0].metadata.name.clone().unwrap();
    f.end_pod(&job, "Succeeded").await;
    eventually("the finished Job to be deleted", || async {
        f.jobs.get_opt(&job).await.unwrap().is_none()
    })
    .await;
    assert!(controller.alive(), "{}", controller.log());
    assert!(
        !controller.log().contains("403"),
        "the controller was refused something:\n{}",
        controller.log()
    );

    // Nothing more: no Secrets, no Pods, no Jobs elsewhere, no report specs.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &f.namespace);
    forbidden(secrets.list(&ListParams::default()).await, "list Secrets");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &f.namespace);
    forbidden(
        pods.create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}
            }))
            .unwrap(),
        )
        .await,
        "create a Pod",
    );
    let elsewhere: Api<Job> = Api::namespaced(client.clone(), "default");
    forbidden(
        elsewhere.list(&ListParams::default()).await,
        "list Jobs in default",
    );
    forbidden(
        reports
            .patch(
                "daily",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"suspend": true}})),
            )
            .await,
        "patch a GlobalReport's spec",
    );
    forbidden(
        reports.delete("daily", &Default::default()).await,
        "delete a GlobalReport",
    );
}
