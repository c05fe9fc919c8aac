//! Checks that the controllers of `compliance_testkit::apiserver::shared_with_controllers`
//! (kube-controller-manager 1.20 running the Job controller and the garbage collector) do
//! what controller tests will rely on: a Job gets a Pod, the Pod's phase (set by the test,
//! since no kubelet runs) decides the Job's `Complete` or `Failed` condition, and deleting
//! a Job in the background takes its Pods with it. Every test passes with a visible
//! SKIPPED line when the binaries are not built (`scripts/kube-apiserver.sh build`).
//!
//! Sharing this test binary with `apiserver_smoke` is safe: those tests make no Jobs and
//! no owner references, so running controllers change nothing for them.

use compliance_testkit::apiserver;

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

/// Long enough for a loaded two-core machine; each step normally takes well under a second.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Calls `check` every 100 ms until it returns `Some`, panicking after [`TIMEOUT`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {TIMEOUT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn create_namespace(client: &Client, name: &str) {
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("a valid Namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
}

/// A one-Pod Job that fails at the first failed Pod (`backoffLimit: 0`), so no test waits
/// for the Job controller's 10 s back-off between retries.
async fn create_job(client: &Client, namespace: &str, name: &str) -> Job {
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {
                "restartPolicy": "Never",
                // Never pulled or run: there is no kubelet.
                "containers": [{"name": "work", "image": "busybox", "command": ["true"]}]
            }}
        }
    }))
    .expect("a valid Job");
    Api::<Job>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &job)
        .await
        .unwrap_or_else(|e| panic!("create Job {namespace}/{name}: {e}"))
}

/// Waits for the Job controller to make the Job's one Pod, and returns it.
async fn the_pod_of(client: &Client, namespace: &str, job: &str) -> Pod {
    let pod = eventually(&format!("a Pod for Job {namespace}/{job}"), || async {
        apiserver::pods_of_job(client, namespace, job).await.pop()
    })
    .await;
    assert_eq!(
        apiserver::pods_of_job(client, namespace, job).await.len(),
        1,
        "a one-Pod Job gets one Pod"
    );
    pod
}

/// Waits until the Job has the condition `type_` with status True, and returns the Job.
async fn wait_for_condition(client: &Client, namespace: &str, name: &str, type_: &str) -> Job {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    eventually(&format!("Job {namespace}/{name} to be {type_}"), || async {
        let job = jobs.get(name).await.expect("get the Job");
        let done = job
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == type_ && c.status == "True")
            });
        done.then_some(job)
    })
    .await
}

#[tokio::test]
async fn job_completes_when_its_pod_succeeds() {
    let Some(api) = apiserver::shared_with_controllers() else {
        return;
    };
    let client = api.client(api.admin_token()).await;
    let namespace = "kcm-smoke-complete";
    create_namespace(&client, namespace).await;
    let job = create_job(&client, namespace, "succeeds").await;

    let pod = the_pod_of(&client, namespace, "succeeds").await;
    let status = pod.status.clone().unwrap_or_default();
    assert_eq!(
        status.phase.as_deref(),
        Some("Pending"),
        "no kubelet runs it"
    );
    let owner = pod
        .metadata
        .owner_references
        .unwrap_or_default()
        .into_iter()
        .find(|o| o.kind == "Job")
        .expect("the Pod is owned by its Job");
    assert_eq!(Some(&owner.uid), job.metadata.uid.as_ref());
    assert_eq!(owner.controller, Some(true));

    let pod_name = pod.metadata.name.expect("a named Pod");
    let ended = apiserver::set_pod_phase(&client, namespace, &pod_name, "Succeeded").await;
    let ended = ended.status.unwrap_or_default();
    assert_eq!(ended.phase.as_deref(), Some("Succeeded"));
    let exit_code = ended.container_statuses.unwrap_or_default()[0]
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.exit_code);
    assert_eq!(exit_code, Some(0));

    let job = wait_for_condition(&client, namespace, "succeeds", "Complete").await;
    let status = job.status.expect("a Job status");
    assert_eq!(status.succeeded, Some(1));
    assert_eq!(status.active.unwrap_or(0), 0);
    assert!(status.completion_time.is_some());
}

#[tokio::test]
async fn job_fails_when_its_pod_fails_past_the_backoff_limit() {
    let Some(api) = apiserver::shared_with_controllers() else {
        return;
    };
    let client = api.client(api.admin_token()).await;
    let namespace = "kcm-smoke-failed";
    create_namespace(&client, namespace).await;
    create_job(&client, namespace, "fails").await;

    let pod = the_pod_of(&client, namespace, "fails").await;
    let pod_name = pod.metadata.name.expect("a named Pod");
    apiserver::set_pod_phase(&client, namespace, &pod_name, "Failed").await;

    let job = wait_for_condition(&client, namespace, "fails", "Failed").await;
    let status = job.status.expect("a Job status");
    assert_eq!(status.failed, Some(1));
    let condition = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Failed")
        .expect("the Failed condition");
    assert_eq!(condition.reason.as_deref(), Some("BackoffLimitExceeded"));
    // backoffLimit 0: no second Pod was made.
    assert_eq!(
        apiserver::pods_of_job(&client, namespace, "fails")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn background_deletion_of_a_job_deletes_its_pods() {
    let Some(api) = apiserver::shared_with_controllers() else {
        return;
    };
    let client = api.client(api.admin_token()).await;
    let namespace = "kcm-smoke-cascade";
    create_namespace(&client, namespace).await;
    create_job(&client, namespace, "cascades").await;
    let pod = the_pod_of(&client, namespace, "cascades").await;
    let pod_name = pod.metadata.name.expect("a named Pod");

    Api::<Job>::namespaced(client.clone(), namespace)
        .delete("cascades", &DeleteParams::background())
        .await
        .expect("delete the Job");
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    eventually(
        &format!("the garbage collector to delete Pod {namespace}/{pod_name}"),
        || async {
            match pods.get(&pod_name).await {
                Err(kube::Error::Api(status)) if status.code == 404 => Some(()),
                Ok(_) => None,
                Err(e) => panic!("get Pod {namespace}/{pod_name}: {e}"),
            }
        },
    )
    .await;
}
