//! Scheduling on a real cluster: the first Job, outcomes into status, history limits,
//! suspend and resume, catch-up bounded at 168 h, the active limit, health and SIGTERM.

use chrono::{Duration, Utc};
use compliance_core::time;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_first_job_has_the_window_name_env_owner_and_merged_node_selector() {
    let Some(f) = fixture("first-job").await else {
        return;
    };
    f.put_template(
        "tigera.io.report",
        &["reporter"],
        &[("kubernetes.io/os", "linux")],
    )
    .await;
    let last_end = midnight(2);
    let mut spec = daily();
    spec["jobNodeSelector"] = json!({"kubernetes.io/os": "windows", "pool": "reports"});
    let report = f.create_report("daily", spec, Some(last_end)).await;
    let _controller = f.controller("first", &[]);

    let expected = job_name("daily", last_end + Duration::days(1));
    let job = eventually_some("the first report Job", || async {
        f.jobs_of("daily").await.into_iter().next()
    })
    .await;
    assert_eq!(job.metadata.name.as_deref(), Some(expected.as_str()));
    let env = env_of(&job);
    assert_eq!(env["TIGERA_COMPLIANCE_REPORT_NAME"], "daily");
    assert_eq!(
        env["TIGERA_COMPLIANCE_REPORT_START_TIME"],
        time::format(&last_end)
    );
    assert_eq!(
        env["TIGERA_COMPLIANCE_REPORT_END_TIME"],
        time::format(&(last_end + Duration::days(1)))
    );
    let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "GlobalReport");
    assert_eq!(owner.api_version, format!("{}/v3", f.group));
    assert_eq!(Some(owner.uid.clone()), report.metadata.uid);
    assert_eq!(owner.controller, Some(true));
    let spec = job.spec.as_ref().unwrap();
    assert_eq!(spec.backoff_limit, Some(6));
    let pod = spec.template.spec.as_ref().unwrap();
    let selector = pod.node_selector.as_ref().unwrap();
    assert_eq!(
        selector["kubernetes.io/os"], "linux",
        "the template's key wins"
    );
    assert_eq!(selector["pool"], "reports");
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));

    // Status: the Job is scheduled and active, and the condition says what comes next.
    eventually("status to list the active Job", || async {
        let status = f.status("daily").await;
        names(&status["activeReportJobs"]).contains(&expected)
            && status["lastScheduledReportJob"]["end"].as_str().is_some()
    })
    .await;
    let status = f.status("daily").await;
    assert_eq!(status["conditions"][0]["type"], "Scheduling");
    assert_eq!(status["conditions"][0]["status"], "True");
    eventually("a JobCreated event", || async {
        !f.events("daily", "JobCreated").await.is_empty()
    })
    .await;
}

#[tokio::test]
async fn outcomes_reach_status_and_history_limits_delete_old_jobs() {
    let Some(f) = fixture("outcomes").await else {
        return;
    };
    f.put_template("tigera.io.report", &["reporter"], &[]).await;
    f.create_report("daily", daily(), Some(midnight(4))).await;
    let _controller = f.controller(
        "outcomes",
        &[
            ("TIGERA_COMPLIANCE_MAX_SUCCESSFUL_JOBS_HISTORY", "1"),
            ("TIGERA_COMPLIANCE_MAX_FAILED_JOBS_HISTORY", "1"),
            ("TIGERA_COMPLIANCE_MAX_JOB_RETRIES", "1"),
        ],
    );
    let jobs = eventually_some("three report Jobs", || async {
        let jobs = f.jobs_of("daily").await;
        (jobs.len() >= 3).then_some(jobs)
    })
    .await;
    let name = |i: usize| jobs[i].metadata.name.clone().unwrap();
    assert_eq!(jobs[0].spec.as_ref().unwrap().backoff_limit, Some(1));

    f.end_pod(&name(0), "Succeeded").await;
    eventually("the first success in status", || async {
        names(&f.status("daily").await["lastSuccessfulReportJobs"]) == [name(0)]
    })
    .await;
    f.end_pod(&name(1), "Succeeded").await;
    // One successful Job is kept: the older one is deleted, the newer one listed.
    eventually("the second success to replace the first", || async {
        names(&f.status("daily").await["lastSuccessfulReportJobs"]) == [name(1)]
    })
    .await;
    eventually("the older successful Job to be deleted", || async {
        f.jobs.get_opt(&name(0)).await.unwrap().is_none()
    })
    .await;
    let status = f.status("daily").await;
    assert!(status["lastSuccessfulReportJobs"][0]["jobCompletionTime"].is_string());

    // A Job fails after its one retry (the Job controller waits ~10 s before it).
    f.end_pod(&name(2), "Failed").await;
    f.end_pod(&name(2), "Failed").await;
    eventually("the failure in status", || async {
        names(&f.status("daily").await["lastFailedReportJobs"]) == [name(2)]
    })
    .await;
    assert!(!names(&f.status("daily").await["activeReportJobs"]).contains(&name(2)));
    eventually("JobSucceeded and JobFailed events", || async {
        f.events("daily", "JobSucceeded").await.len() >= 2
            && !f.events("daily", "JobFailed").await.is_empty()
    })
    .await;
}

#[tokio::test]
async fn suspend_then_resume_catches_up_168h_oldest_first_within_the_active_limit() {
    let Some(f) = fixture("suspend").await else {
        return;
    };
    f.put_template("tigera.io.report", &["reporter"], &[]).await;
    let mut spec = daily();
    spec["suspend"] = json!(true);
    // Ten days without reports: only the windows of the last 168 hours are caught up.
    f.create_report("daily", spec, Some(midnight(10))).await;
    let _controller = f.controller("suspend", &[("TIGERA_COMPLIANCE_MAX_ACTIVE_JOBS", "3")]);
    eventually("the Suspended condition", || async {
        f.status("daily").await["conditions"][0]["reason"] == "Suspended"
    })
    .await;
    assert!(
        f.jobs_of("daily").await.is_empty(),
        "no Jobs while suspended"
    );

    f.reports
        .patch(
            "daily",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": false}})),
        )
        .await
        .unwrap();
    let jobs = eventually_some("three catch-up Jobs", || async {
        let jobs = f.jobs_of("daily").await;
        (jobs.len() >= 3).then_some(jobs)
    })
    .await;
    assert_eq!(
        jobs.len(),
        3,
        "never more than TIGERA_COMPLIANCE_MAX_ACTIVE_JOBS active"
    );
    let cutoff = Utc::now() - Duration::hours(168);
    let first_end = time::parse(&window(&jobs[0]).1).unwrap();
    assert!(
        first_end >= cutoff - Duration::minutes(5),
        "{first_end} is older than 168h"
    );
    assert!(
        first_end < cutoff + Duration::days(1),
        "the oldest window inside 168h comes first"
    );
    for pair in jobs.windows(2) {
        assert_eq!(window(&pair[0]).1, window(&pair[1]).0, "windows tile");
    }
    // The event is recorded after the pass that created the Jobs: wait for it, do not
    // race it.
    eventually("a WindowsSkipped event", || async {
        !f.events("daily", "WindowsSkipped").await.is_empty()
    })
    .await;
    eventually("the condition to say the next window waits", || async {
        f.status("daily").await["conditions"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("waits"))
    })
    .await;

    // A Job finishing frees a slot: the next window starts, where the last one ended.
    let first = jobs[0].metadata.name.clone().unwrap();
    f.end_pod(&first, "Succeeded").await;
    let fourth = eventually_some("a fourth Job", || async {
        let jobs = f.jobs_of("daily").await;
        (jobs.len() >= 4).then(|| jobs[3].clone())
    })
    .await;
    assert_eq!(window(&fourth).0, window(&jobs[2]).1);
}

#[tokio::test]
async fn health_endpoints_and_sigterm_release_the_lease() {
    let Some(f) = fixture("health").await else {
        return;
    };
    f.put_template("tigera.io.report", &["reporter"], &[]).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut controller = f.controller(
        "healthy",
        &[
            ("HEALTH_ENABLED", "true"),
            ("HEALTH_PORT", &port.to_string()),
        ],
    );
    eventually("/readiness to answer 200", || async {
        probe(port, "/readiness").await == Some(200)
    })
    .await;
    assert_eq!(probe(port, "/liveness").await, Some(200));
    eventually("the Lease to be held", || async {
        f.lease_holder().await.as_deref() == Some("healthy")
    })
    .await;
    let status = controller.terminate();
    assert!(status.success(), "{status}\n{}", controller.log());
    assert_eq!(f.lease_holder().await, None, "released on SIGTERM");
}

async fn probe(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}
