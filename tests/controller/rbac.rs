//! The published RBAC of manifests/compliance-controller.yaml, granted to a real
//! ServiceAccount: enough for the controller to do all of its work, and nothing beyond.

use compliance_testkit::rbac;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::support::*;

const MANIFEST: &str = "manifests/compliance-controller.yaml";

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
    let docs = rbac::published(MANIFEST, &f.group, &f.namespace);
    rbac::apply_all(&f.client, &docs).await;
    let token =
        rbac::service_account_token(&f.client, &f.namespace, "tigera-compliance-controller").await;
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
        // Words, not "403": a timestamp's digits may hold it.
        !controller.log().to_lowercase().contains("forbidden"),
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
