//! What the controller tests share: a scratch API group and namespace per test, the
//! controller binary as a child process, and polling with deadlines.

use std::collections::BTreeMap;
use std::fs::File;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use compliance_kube::crd::custom_resource_definitions;
use compliance_testkit::apiserver::{self, TestApiServer};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::api::core::v1::{Container, Namespace, PodSpec, PodTemplate, PodTemplateSpec};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::ObjectMeta;
use serde_json::{Value, json};

/// How long a test waits for the cluster to get somewhere: generous, because CI runs eight
/// controllers, the API server, etcd and the controller manager on two cores.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// One test's corner of the cluster.
pub struct Fixture {
    pub api: &'static TestApiServer,
    pub client: kube::Client,
    /// `<test>.compliance.test`: the CRDs are installed in this group for this test alone.
    pub group: String,
    /// The Jobs' namespace (TIGERA_COMPLIANCE_JOB_NAMESPACE).
    pub namespace: String,
    pub reports: Api<DynamicObject>,
    pub jobs: Api<Job>,
    pub dir: tempfile::TempDir,
}

/// The cluster with a controller manager, CRDs in a group of the test's own and a fresh
/// namespace; `None` (the test returns, after a SKIPPED line) when it cannot run here.
pub async fn fixture(test: &str) -> Option<Fixture> {
    let api = apiserver::shared_with_controllers()?;
    let client = api.client(api.admin_token()).await;
    let group = format!("{test}.compliance.test");
    let namespace = format!("ctl-{test}");
    install_crds(&client, &group).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    match namespaces.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("create namespace {namespace}: {e}"),
    }
    Some(Fixture {
        api,
        reports: Api::all_with(client.clone(), &report_resource(&group)),
        jobs: Api::namespaced(client.clone(), &namespace),
        client,
        group,
        namespace,
        dir: tempfile::tempdir().unwrap(),
    })
}

pub fn report_resource(group: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: "v3".into(),
        api_version: format!("{group}/v3"),
        kind: "GlobalReport".into(),
        plural: "globalreports".into(),
    }
}

async fn install_crds(client: &kube::Client, group: &str) {
    apiserver::install_crds(client, custom_resource_definitions(group)).await;
}

/// Midnight UTC `days` days ago.
pub fn midnight(days_ago: i64) -> DateTime<Utc> {
    Utc::now().duration_trunc(ChronoDuration::days(1)).unwrap() - ChronoDuration::days(days_ago)
}

impl Fixture {
    /// The reporter PodTemplate, named `name`, with `containers` (each a plain image).
    pub async fn put_template(
        &self,
        name: &str,
        containers: &[&str],
        node_selector: &[(&str, &str)],
    ) {
        let api: Api<PodTemplate> = Api::namespaced(self.client.clone(), &self.namespace);
        let template = PodTemplate {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            template: Some(PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(BTreeMap::from([("app".into(), "reporter".into())])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    node_selector: (!node_selector.is_empty()).then(|| {
                        node_selector
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect()
                    }),
                    containers: containers
                        .iter()
                        .map(|c| Container {
                            name: c.to_string(),
                            image: Some("cis-compliance:test".into()),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }),
            }),
        };
        let _ = api.delete(name, &Default::default()).await;
        eventually("the old PodTemplate to go", || async {
            api.get_opt(name).await.unwrap().is_none()
        })
        .await;
        api.create(&PostParams::default(), &template)
            .await
            .unwrap_or_else(|e| panic!("create PodTemplate {name}: {e}"));
    }

    /// Creates a GlobalReport with `spec`; when `last_end` is given, its status says its last
    /// scheduled window ended then (as a status subresource write, the way the controller
    /// would have left it).
    pub async fn create_report(
        &self,
        name: &str,
        spec: Value,
        last_end: Option<DateTime<Utc>>,
    ) -> DynamicObject {
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{}/v3", self.group), "kind": "GlobalReport",
            "metadata": {"name": name}, "spec": spec,
        }))
        .unwrap();
        let created = self
            .reports
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("create GlobalReport {name}: {e}"));
        if let Some(end) = last_end {
            let start = end - ChronoDuration::days(1);
            self.reports
                .patch_status(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"lastScheduledReportJob": {
                        "start": compliance_core::time::format(&start),
                        "end": compliance_core::time::format(&end),
                    }}})),
                )
                .await
                .unwrap_or_else(|e| panic!("set the status of {name}: {e}"));
        }
        created
    }

    pub async fn status(&self, report: &str) -> Value {
        let object = self.reports.get(report).await.unwrap();
        object.data.get("status").cloned().unwrap_or(Value::Null)
    }

    /// The report's Jobs (with a controller owner reference to it), by window end.
    pub async fn jobs_of(&self, report: &str) -> Vec<Job> {
        let mut jobs: Vec<Job> = self
            .jobs
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|j| {
                j.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.name == report && o.controller == Some(true))
            })
            .filter(|j| j.metadata.deletion_timestamp.is_none())
            .collect();
        jobs.sort_by_key(|j| window(j).1);
        jobs
    }

    /// Events recorded on `report` with `reason`.
    pub async fn events(&self, report: &str, reason: &str) -> Vec<Event> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), "default");
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| {
                e.involved_object.name.as_deref() == Some(report)
                    && e.involved_object.api_version.as_deref()
                        == Some(&format!("{}/v3", self.group))
                    && e.reason.as_deref() == Some(reason)
            })
            .collect()
    }

    pub async fn lease_holder(&self) -> Option<String> {
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), &self.namespace);
        leases
            .get_opt("compliance-controller")
            .await
            .unwrap()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
    }

    /// Ends the first Pod of `job` with `phase` (`Succeeded` or `Failed`), once the Job
    /// controller has made it.
    pub async fn end_pod(&self, job: &str, phase: &str) {
        let pod = eventually_some(&format!("a Pod of Job {job}"), || async {
            apiserver::pods_of_job(&self.client, &self.namespace, job)
                .await
                .into_iter()
                .find(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.phase.as_deref())
                        .unwrap_or("Pending")
                        == "Pending"
                })
        })
        .await;
        apiserver::set_pod_phase(
            &self.client,
            &self.namespace,
            pod.metadata.name.as_deref().unwrap(),
            phase,
        )
        .await;
    }

    /// Starts compliance-controller for this test's group and namespace, as `identity`,
    /// with the admin's credentials and `env` on top.
    pub fn controller(&self, identity: &str, env: &[(&str, &str)]) -> Controller {
        let token = self.api.admin_token().to_string();
        self.controller_as(identity, &token, env)
    }

    pub fn controller_as(&self, identity: &str, token: &str, env: &[(&str, &str)]) -> Controller {
        let log = self.dir.path().join(format!("{identity}.log"));
        let out = File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_compliance-controller"));
        command
            .env_clear()
            .env("KUBECONFIG", self.api.kubeconfig(token))
            .env("COMPLIANCE_API_GROUP", &self.group)
            .env("TIGERA_COMPLIANCE_JOB_NAMESPACE", &self.namespace)
            .env("POD_NAME", identity)
            .env("COMPLIANCE_LEASE_DURATION", "3s")
            .env("LOG_LEVEL", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        let child = command.spawn().expect("start compliance-controller");
        Controller { child, log }
    }
}

/// The controller as a child process; killed when dropped.
pub struct Controller {
    pub child: Child,
    pub log: PathBuf,
}

impl Controller {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to release the Lease or finish anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (at most [`DEADLINE`]) for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        compliance_testkit::process::terminate(self.child.id());
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the controller ignored SIGTERM for {DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {} ---\n{}", self.log.display(), tail(&self.log(), 60));
        }
        self.kill();
        compliance_testkit::secrets::keep_text("controller", b"", self.log().as_bytes());
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Polls `check` until it holds, for at most [`DEADLINE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `get` until it gives a value, for at most [`DEADLINE`].
pub async fn eventually_some<T, F, Fut>(what: &str, mut get: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = get().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A Job's window, from its reporter container's environment.
pub fn window(job: &Job) -> (String, String) {
    let env = env_of(job);
    (
        env.get("TIGERA_COMPLIANCE_REPORT_START_TIME")
            .cloned()
            .unwrap_or_default(),
        env.get("TIGERA_COMPLIANCE_REPORT_END_TIME")
            .cloned()
            .unwrap_or_default(),
    )
}

pub fn env_of(job: &Job) -> BTreeMap<String, String> {
    job.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.iter().find(|c| c.name == "reporter"))
        .and_then(|c| c.env.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect()
}

pub fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|j| j["job"]["name"].as_str().map(str::to_string))
        .collect()
}

/// `compliance-reporter.<report>-<end as unix seconds>`.
pub fn job_name(report: &str, end: DateTime<Utc>) -> String {
    compliance_controller::name::job_name("compliance-reporter.", report, end)
}

pub fn daily() -> Value {
    json!({"reportType": "cis-benchmark", "schedule": "0 0 * * *"})
}
