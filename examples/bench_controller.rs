//! Controller scale benchmark: 1,000 GlobalReports owning 10,000 Jobs on a real
//! kube-apiserver (the test kit's 1.20 build), and the release `compliance-controller`
//! binary over them. Reports the time of a cold pass (start to every report's status
//! written), of a full pass that changes every status, the API requests of each pass
//! (the apiserver's own `apiserver_request_total`, watches excluded, minus the benchmark's
//! own requests), and the controller's peak memory.
//!
//! Usage: `bench_controller [REPORTS] [JOBS_PER_REPORT]` (default 1000 and 10); run it
//! through `scripts/bench-controller.sh`, which builds in release first.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DurationRound, Utc};
use compliance_controller::Settings;
use compliance_controller::template::{Owner, build_job};
use compliance_controller::window::Window;
use compliance_kube::crd::custom_resource_definitions;
use compliance_testkit::apiserver;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, Namespace, PodSpec, PodTemplate, PodTemplateSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::ObjectMeta;
use serde_json::json;
use tokio::task::JoinSet;

const GROUP: &str = "bench.compliance.test";
const NAMESPACE: &str = "bench-controller";
/// Requests the benchmark keeps in flight while it sets the cluster up.
const PARALLEL: usize = 32;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let reports: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let per_report: i64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
    let Some(api) = apiserver::shared() else {
        bail!("no kube-apiserver here: run scripts/kube-apiserver.sh build");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(bench(api, reports, per_report))
}

async fn bench(
    api: &'static apiserver::TestApiServer,
    reports: usize,
    per_report: i64,
) -> anyhow::Result<()> {
    let client = api.client(api.admin_token()).await;
    let setup = Instant::now();
    setup_cluster(&client, reports, per_report).await?;
    println!(
        "setup: {reports} GlobalReports, {} Jobs in {:.1} s",
        reports as i64 * per_report,
        setup.elapsed().as_secs_f64()
    );

    let resource = report_resource();
    let report_api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("controller.log");
    let mut child = Command::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/release/compliance-controller"),
    )
    .env_clear()
    .env("KUBECONFIG", api.kubeconfig(api.admin_token()))
    .env("COMPLIANCE_API_GROUP", GROUP)
    .env("TIGERA_COMPLIANCE_JOB_NAMESPACE", NAMESPACE)
    .env("COMPLIANCE_LEADER_ELECTION", "false")
    .env("LOG_FORMAT", "json")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log)?)
    .spawn()
    .context("start target/release/compliance-controller (build it with --release)")?;
    let pid = child.id();

    // Pass 1, cold: every report gets its Scheduling condition written.
    let before = requests(&client).await?;
    let started = Instant::now();
    let polls = wait_all(&report_api, reports, |status| {
        status["conditions"][0]["status"] == "True"
    })
    .await?;
    let cold = started.elapsed();
    let cold_requests = requests(&client).await? - before - polls - 1;
    let rss_cold = memory_kib(pid, "VmRSS:")?;

    // Pass 2, every status changes: the shared template loses its reporter container.
    let templates: Api<PodTemplate> = Api::namespaced(client.clone(), NAMESPACE);
    let before = requests(&client).await?;
    let started = Instant::now();
    templates
        .replace(
            "tigera.io.report",
            &PostParams::default(),
            &template(
                &["sidecar"],
                templates
                    .get("tigera.io.report")
                    .await?
                    .metadata
                    .resource_version,
            ),
        )
        .await?;
    let polls = wait_all(&report_api, reports, |status| {
        status["conditions"][0]["reason"] == "InvalidTemplate"
    })
    .await?;
    let broken = started.elapsed();
    let broken_requests = requests(&client).await? - before - polls - 3;
    let rss_broken = memory_kib(pid, "VmRSS:")?;

    // Pass 3, nothing changes: a template edit that does not matter (a label) re-plans
    // every report from the caches. Settled when the request count stays still.
    let before = requests(&client).await?;
    let mut fixed = templates.get("tigera.io.report").await?;
    fixed.metadata.labels = Some(BTreeMap::from([("touched".into(), "yes".into())]));
    templates
        .replace("tigera.io.report", &PostParams::default(), &fixed)
        .await?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle_requests = requests(&client).await? - before - 3;

    let rss_idle = memory_kib(pid, "VmRSS:")?;
    let rss = memory_kib(pid, "VmHWM:")?;
    compliance_testkit::process::terminate(pid);
    let status = child.wait()?;
    let text = std::fs::read_to_string(&log)?;
    let summary = text
        .lines()
        .rev()
        .find(|l| l.contains("compliance-controller stopped"))
        .unwrap_or("(no summary line)");
    println!("controller exit: {status}; summary: {summary}");
    println!(
        "cold pass (start, caches, {reports} status writes): {:.2} s, {cold_requests} API requests",
        cold.as_secs_f64()
    );
    println!(
        "full pass changing every status: {:.2} s, {broken_requests} API requests",
        broken.as_secs_f64()
    );
    println!("full pass changing nothing: {idle_requests} API requests");
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "controller RSS after each pass: {:.1}, {:.1}, {:.1} MiB; peak {:.1} MiB",
        mib(rss_cold),
        mib(rss_broken),
        mib(rss_idle),
        mib(rss)
    );
    Ok(())
}

fn report_resource() -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: "v3".into(),
        api_version: format!("{GROUP}/v3"),
        kind: "GlobalReport".into(),
        plural: "globalreports".into(),
    }
}

fn template(containers: &[&str], resource_version: Option<String>) -> PodTemplate {
    PodTemplate {
        metadata: ObjectMeta {
            name: Some("tigera.io.report".into()),
            resource_version,
            ..Default::default()
        },
        template: Some(PodTemplateSpec {
            metadata: None,
            spec: Some(PodSpec {
                restart_policy: Some("Never".into()),
                containers: containers
                    .iter()
                    .map(|c| Container {
                        name: c.to_string(),
                        image: Some("cis-compliance:bench".into()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
        }),
    }
}

/// CRDs, namespace, template, then the reports and their Jobs: per report, Jobs for the
/// last `per_report` daily windows (the oldest succeeded, the next failed, the rest
/// active), and a status that says the newest one was the last scheduled.
async fn setup_cluster(
    client: &kube::Client,
    reports: usize,
    per_report: i64,
) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in custom_resource_definitions(GROUP) {
        let name = crd.metadata.name.clone().unwrap();
        let _ = crds.create(&PostParams::default(), &crd).await;
        apiserver::wait_established(&crds, &name).await;
    }
    let report_api: Api<DynamicObject> = Api::all_with(client.clone(), &report_resource());
    while report_api
        .list(&ListParams::default().limit(1))
        .await
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let _ = namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?,
        )
        .await;
    let templates: Api<PodTemplate> = Api::namespaced(client.clone(), NAMESPACE);
    let template = templates
        .create(&PostParams::default(), &template(&["reporter"], None))
        .await?;
    let template = Arc::new(template);
    let today = Utc::now().duration_trunc(chrono::Duration::days(1))?;
    let settings = Arc::new(Settings {
        namespace: NAMESPACE.into(),
        ..Settings::default()
    });

    let mut tasks = JoinSet::new();
    for i in 0..reports {
        if tasks.len() >= PARALLEL {
            tasks.join_next().await.unwrap()??;
        }
        let client = client.clone();
        let template = template.clone();
        let settings = settings.clone();
        tasks.spawn(async move {
            let name = format!("report-{i:05}");
            let reports: Api<DynamicObject> = Api::all_with(client.clone(), &report_resource());
            let object: DynamicObject = serde_json::from_value(json!({
                "apiVersion": format!("{GROUP}/v3"), "kind": "GlobalReport",
                "metadata": {"name": name},
                "spec": {"reportType": "cis-benchmark", "schedule": "0 0 * * *"},
            }))?;
            let created = reports.create(&PostParams::default(), &object).await?;
            let owner = Owner {
                api_version: format!("{GROUP}/v3"),
                name: name.clone(),
                uid: created.metadata.uid.clone().unwrap_or_default(),
            };
            let jobs: Api<Job> = Api::namespaced(client.clone(), NAMESPACE);
            for k in 0..per_report {
                let end = today - chrono::Duration::days(per_report - 1 - k);
                let window = Window {
                    start: end - chrono::Duration::days(1),
                    end,
                };
                let job_name =
                    compliance_controller::name::job_name(&settings.job_name_prefix, &name, end);
                let job = build_job(
                    &template,
                    &owner,
                    &BTreeMap::new(),
                    &job_name,
                    window,
                    &settings,
                )?;
                jobs.create(&PostParams::default(), &job).await?;
                let finished = match k {
                    0 | 1 => Some(("Complete", true)),
                    2..=4 => Some(("Failed", false)),
                    _ => None,
                };
                if let Some((condition, ok)) = finished {
                    let at = compliance_core::time::format(&(end + chrono::Duration::hours(1)));
                    let mut status = json!({"conditions": [{
                        "type": condition, "status": "True",
                        "lastTransitionTime": at, "lastProbeTime": at,
                    }]});
                    if ok {
                        status["completionTime"] = json!(at);
                        status["startTime"] = json!(at);
                        status["succeeded"] = json!(1);
                    } else {
                        status["failed"] = json!(1);
                    }
                    jobs.patch_status(
                        &job_name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"status": status})),
                    )
                    .await?;
                }
            }
            let last = today;
            reports
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"lastScheduledReportJob": {
                        "start": compliance_core::time::format(&(last - chrono::Duration::days(1))),
                        "end": compliance_core::time::format(&last),
                    }}})),
                )
                .await?;
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Polls (one list a second) until every report's status satisfies `done`; returns the
/// number of list requests it made.
async fn wait_all(
    api: &Api<DynamicObject>,
    reports: usize,
    done: impl Fn(&serde_json::Value) -> bool,
) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut polls = 0;
    loop {
        polls += 1;
        let list = api.list(&ListParams::default()).await?;
        let ready = list
            .items
            .iter()
            .filter(|o| o.data.get("status").is_some_and(&done))
            .count();
        if ready >= reports {
            return Ok(polls);
        }
        if Instant::now() > deadline {
            bail!("only {ready} of {reports} reports done after 600 s");
        }
        // Each poll lists every report: once a second keeps the benchmark's own load on
        // the apiserver small, at the price of up to a second of resolution.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The apiserver's count of requests other than WATCH so far (its own /metrics, read by
/// the admin; the read itself is counted once).
async fn requests(client: &kube::Client) -> anyhow::Result<u64> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    let mut total = 0.0;
    for line in text.lines() {
        if line.starts_with("apiserver_request_total{")
            && !line.contains("verb=\"WATCH\"")
            && let Some(value) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok())
        {
            total += value;
        }
    }
    Ok(total as u64)
}

/// A memory figure of `pid` from /proc/PID/status (`VmRSS:` now, `VmHWM:` the peak), in KiB.
fn memory_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}
