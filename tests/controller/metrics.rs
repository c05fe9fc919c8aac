//! The controller's `/metrics` on a real cluster: Jobs created and finishing show in the
//! counters, the due and success times follow the windows, a follower exports no report
//! series, a deleted GlobalReport's series vanish, and the names are docs/metrics.md's.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, DurationRound, Utc};
use compliance_testkit::metrics::{
    Sample, documented, exported_names, parse_exposition, promtool, promtool_lint,
};
use kube::api::DeleteParams;

use crate::support::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The body of `GET /metrics` (OpenMetrics), or `None` while nothing answers there with 200.
fn scrape(port: u16) -> Option<String> {
    scrape_as(port, None)
}

/// The body of `GET /metrics` with `accept` as the Accept header; checks the content type.
fn scrape_as(port: u16, accept: Option<&str>) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: x\r\n{accept}\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    if head.split_whitespace().nth(1) != Some("200") {
        return None;
    }
    let want = if accept.is_empty() {
        "content-type: application/openmetrics-text; version=1.0.0"
    } else {
        "content-type: text/plain; version=0.0.4"
    };
    assert!(head.to_ascii_lowercase().contains(want), "{head}");
    Some(body.to_string())
}

/// The value of the sample `name` with exactly `labels`, if exported.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.label(k) == *v)
        })
        .map(|s| s.value)
}

/// The end of the latest daily window due now: the latest midnight at least the default
/// start delay (30 minutes) ago.
fn latest_due_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    (now - Duration::minutes(30))
        .duration_trunc(Duration::days(1))
        .unwrap()
}

#[tokio::test]
async fn jobs_created_and_finished_show_in_the_metrics_until_the_report_is_deleted() {
    let Some(f) = fixture("metrics").await else {
        return;
    };
    f.put_template("tigera.io.report", &["reporter"], &[]).await;
    f.create_report("daily", daily(), Some(midnight(3))).await;
    let port = free_port();
    let env = [
        ("HEALTH_ENABLED", "true"),
        ("HEALTH_PORT", &port.to_string()),
        // One failed Pod fails its Job, with no retry to wait for.
        ("TIGERA_COMPLIANCE_MAX_JOB_RETRIES", "0"),
    ];
    let controller = f.controller("metrics-a", &env);
    eventually("the Lease to be held", || async {
        f.lease_holder().await.as_deref() == Some("metrics-a")
    })
    .await;
    // A second replica follows: its metrics say so and name no report.
    let follower_port = free_port();
    let follower_env = [
        ("HEALTH_ENABLED", "true"),
        ("HEALTH_PORT", &follower_port.to_string()),
    ];
    let follower = f.controller("metrics-b", &follower_env);

    // Each window due since the status's last one gets a Job: two or three, depending
    // on whether today's is due yet.
    let expected = (latest_due_midnight(Utc::now()) - midnight(3)).num_days() as usize;
    let jobs = eventually_some("a Job for each due window", || async {
        let jobs = f.jobs_of("daily").await;
        (jobs.len() == expected).then_some(jobs)
    })
    .await;
    let name = |i: usize| jobs[i].metadata.name.clone().unwrap();
    let end = |i: usize| {
        compliance_core::time::parse(&window(&jobs[i]).1)
            .unwrap()
            .timestamp() as f64
    };
    let created = expected as f64;
    let daily = [("report", "daily")];
    eventually("the Jobs created and running in the metrics", || async {
        let Some(text) = scrape(port) else {
            return false;
        };
        let s = parse_exposition(&text);
        value(&s, "compliance_controller_leader", &[]) == Some(1.0)
            && value(&s, "compliance_controller_jobs_created_total", &daily) == Some(created)
            && value(&s, "compliance_controller_jobs_active", &daily) == Some(created)
    })
    .await;
    let text = scrape(port).unwrap();
    let s = parse_exposition(&text);
    assert_eq!(
        value(
            &s,
            "compliance_controller_report_last_success_timestamp_seconds",
            &daily
        ),
        Some(0.0),
        "{text}"
    );
    // Today's window may have come due since the scrape (at 00:30 UTC).
    let due = value(
        &s,
        "compliance_controller_report_last_due_timestamp_seconds",
        &daily,
    )
    .unwrap();
    assert!(
        due == end(jobs.len() - 1) || due == latest_due_midnight(Utc::now()).timestamp() as f64,
        "{text}"
    );
    // The pass that created the Jobs goes on to write status and events before it counts.
    eventually("a reconcile counted", || async {
        scrape(port).is_some_and(|text| {
            value(
                &parse_exposition(&text),
                "compliance_controller_reconciles_total",
                &[("result", "ok")],
            )
            .is_some_and(|n| n >= 1.0)
        })
    })
    .await;

    f.end_pod(&name(0), "Succeeded").await;
    f.end_pod(&name(1), "Failed").await;
    let finished = |outcome: &'static str| [("report", "daily"), ("outcome", outcome)];
    eventually("one success and one failure in the metrics", || async {
        let Some(text) = scrape(port) else {
            return false;
        };
        let s = parse_exposition(&text);
        value(
            &s,
            "compliance_controller_jobs_finished_total",
            &finished("succeeded"),
        ) == Some(1.0)
            && value(
                &s,
                "compliance_controller_jobs_finished_total",
                &finished("failed"),
            ) == Some(1.0)
            && value(
                &s,
                "compliance_controller_report_last_success_timestamp_seconds",
                &daily,
            ) == Some(end(0))
            && value(&s, "compliance_controller_jobs_active", &daily) == Some(created - 2.0)
    })
    .await;

    // The names are the documented ones, and promtool finds nothing to complain about.
    let text = scrape(port).unwrap();
    let table = documented("compliance-controller");
    let names: BTreeSet<String> = table.iter().map(|m| m.name.clone()).collect();
    assert_eq!(exported_names(&text), names, "{text}");
    for m in &table {
        for sample in parse_exposition(&text).iter().filter(|s| s.name == m.name) {
            let labels: Vec<&String> = sample.labels.keys().collect();
            let mut want: Vec<&String> = m.labels.iter().collect();
            want.sort();
            assert_eq!(labels, want, "labels of {}", sample.name);
        }
    }
    // promtool reads the classic text format only (an OpenMetrics counter's `# HELP` names
    // it without `_total`): it lints the same registry in that format.
    let classic = scrape_as(port, Some("text/plain")).unwrap();
    assert_eq!(exported_names(&classic), names, "{classic}");
    if let Some(promtool) = promtool() {
        assert_eq!(promtool_lint(&promtool, &classic), "", "{classic}");
    }

    let follower_text =
        eventually_some("the follower's metrics", || async { scrape(follower_port) }).await;
    let fs = parse_exposition(&follower_text);
    assert_eq!(
        value(&fs, "compliance_controller_leader", &[]),
        Some(0.0),
        "{follower_text}"
    );
    assert!(
        fs.iter().all(|s| s.label("report").is_empty()),
        "{follower_text}"
    );

    // A real Prometheus scraping both replicas sees one leader, and the series the
    // overdue alert reads, as the leader exports them.
    let prometheus = compliance_testkit::prometheus::Prometheus::start(&[
        compliance_testkit::prometheus::Target::http("controller-a", &format!("127.0.0.1:{port}")),
        compliance_testkit::prometheus::Target::http(
            "controller-b",
            &format!("127.0.0.1:{follower_port}"),
        ),
    ]);
    if let Some(p) = &prometheus {
        p.wait_for(
            "one leader of two replicas",
            "sum(compliance_controller_leader) and count(compliance_controller_leader) == 2",
            std::time::Duration::from_secs(30),
            |answer| answer.len() == 1 && answer[0].value == 1.0,
        );
        p.wait_for(
            "the last success by report",
            "max by (report) (compliance_controller_report_last_success_timestamp_seconds)",
            std::time::Duration::from_secs(30),
            |answer| {
                answer.len() == 1
                    && answer[0].label("report") == "daily"
                    && answer[0].value == end(0)
            },
        );
    }

    // Deleted, the report's series go; the process series stay.
    f.reports
        .delete("daily", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the report's series to vanish", || async {
        scrape(port).is_some_and(|text| {
            let s = parse_exposition(&text);
            s.iter().all(|s| s.label("report").is_empty())
                && value(&s, "compliance_controller_leader", &[]) == Some(1.0)
        })
    })
    .await;
    if let Some(p) = &prometheus {
        p.wait_for(
            "the report's series to go stale",
            "compliance_controller_jobs_active{report=\"daily\"}",
            std::time::Duration::from_secs(30),
            |answer| answer.is_empty(),
        );
    }
    drop(follower);
    drop(controller);
}
