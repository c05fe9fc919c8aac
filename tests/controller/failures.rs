//! What goes wrong: a missing or bad PodTemplate, and a controller killed between
//! creating a Job and writing the status.

use std::collections::BTreeMap;

use chrono::Duration;
use compliance_controller::Settings;
use compliance_controller::template::{Owner, build_job};
use compliance_controller::window::Window;
use k8s_openapi::api::core::v1::PodTemplate;
use kube::api::{Api, PostParams};

use crate::support::*;

#[tokio::test]
async fn a_missing_or_bad_pod_template_is_a_condition_and_an_event_then_fixed_at_once() {
    let Some(f) = fixture("template").await else {
        return;
    };
    f.create_report("daily", daily(), Some(midnight(2))).await;
    let mut controller = f.controller("template", &[]);
    eventually("the TemplateNotFound condition", || async {
        let c = &f.status("daily").await["conditions"][0];
        c["reason"] == "TemplateNotFound"
            && c["status"] == "False"
            && c["message"]
                .as_str()
                .is_some_and(|m| m.contains("tigera.io.report.daily"))
    })
    .await;
    eventually("a TemplateNotFound event", || async {
        !f.events("daily", "TemplateNotFound").await.is_empty()
    })
    .await;

    // The report's own template, without the reporter container.
    f.put_template("tigera.io.report.daily", &["main"], &[])
        .await;
    eventually("the InvalidTemplate condition", || async {
        let c = &f.status("daily").await["conditions"][0];
        c["reason"] == "InvalidTemplate"
            && c["message"].as_str().is_some_and(|m| m.contains("main"))
    })
    .await;
    assert!(controller.alive(), "no crash loop:\n{}", controller.log());
    assert!(f.jobs_of("daily").await.is_empty());

    // Fixed: the waiting window starts without waiting for a resync.
    f.put_template("tigera.io.report.daily", &["reporter"], &[])
        .await;
    eventually("a Job once the template is fixed", || async {
        !f.jobs_of("daily").await.is_empty()
    })
    .await;
    eventually("the condition to turn True", || async {
        f.status("daily").await["conditions"][0]["status"] == "True"
    })
    .await;
}

#[tokio::test]
async fn killed_between_creating_a_job_and_writing_status_a_restart_converges() {
    let Some(f) = fixture("crash").await else {
        return;
    };
    f.put_template("tigera.io.report", &["reporter"], &[]).await;
    let last_end = midnight(3);
    let report = f.create_report("daily", daily(), Some(last_end)).await;

    // What a controller killed right after its create leaves: the window's Job exists,
    // the status still says the window before it was the last.
    let templates: Api<PodTemplate> = Api::namespaced(f.client.clone(), &f.namespace);
    let template = templates.get("tigera.io.report").await.unwrap();
    let orphan_window = Window {
        start: last_end,
        end: last_end + Duration::days(1),
    };
    let settings = Settings {
        namespace: f.namespace.clone(),
        ..Settings::default()
    };
    let orphan = build_job(
        &template,
        &Owner {
            api_version: format!("{}/v3", f.group),
            name: "daily".into(),
            uid: report.metadata.uid.clone().unwrap(),
        },
        &BTreeMap::new(),
        &job_name("daily", orphan_window.end),
        orphan_window,
        &settings,
    )
    .unwrap();
    f.jobs
        .create(&PostParams::default(), &orphan)
        .await
        .unwrap();

    let _controller = f.controller("restarted", &[]);
    // The restarted controller adopts the Job into status and plans after it.
    eventually("the existing Job in status", || async {
        let status = f.status("daily").await;
        names(&status["activeReportJobs"]).contains(&job_name("daily", orphan_window.end))
    })
    .await;
    let jobs = eventually_some("the windows after it", || async {
        let jobs = f.jobs_of("daily").await;
        (jobs.len() >= 2).then_some(jobs)
    })
    .await;
    let mut ends: Vec<String> = jobs.iter().map(|j| window(j).1).collect();
    let count = ends.len();
    ends.dedup();
    assert_eq!(ends.len(), count, "one Job per window");
    assert_eq!(window(&jobs[1]).0, window(&jobs[0]).1);
}
