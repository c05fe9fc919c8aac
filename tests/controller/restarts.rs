//! The controller killed (SIGKILL) at random points while GlobalReports are due and
//! started again, many times: in the end every due window of every report has exactly
//! one Job (none twice, none missing, the windows tiling from where each report's status
//! began), and each report's status names its last window and lists its active Jobs.
//!
//! Each round creates a report with four hourly windows due, starts the controller and
//! kills it after a delay from a seeded RNG (printed; `COMPLIANCE_CRASH_SEED` repeats a
//! campaign, `COMPLIANCE_CRASH_RUNS` sets the rounds, default 12), so kills land before
//! the first Job, between Jobs, between the Jobs and the status, and after.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use compliance_core::time;
use compliance_testkit::synth::{Rng, seed_from_env};
use serde_json::json;

use crate::support::*;

/// Windows due for each new report: its status says its last window ended this many
/// hours before the current hour.
const DUE: i64 = 4;

fn hourly() -> serde_json::Value {
    json!({"reportType": "cis-benchmark", "schedule": "0 * * * *"})
}

fn this_hour() -> DateTime<Utc> {
    Utc::now().duration_trunc(ChronoDuration::hours(1)).unwrap()
}

/// Where a round was when its controller was killed, seen from the round's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// No Job of the report yet.
    BeforeJobs,
    /// Some of its Jobs created, not all.
    CreatingJobs,
    /// All its Jobs, the status not yet naming the last window.
    BeforeStatus,
    /// Jobs and status complete.
    Done,
}

#[tokio::test]
async fn a_controller_killed_at_random_points_leaves_one_job_per_due_window() {
    let Some(f) = fixture("restarts").await else {
        return;
    };
    let rounds: usize = std::env::var("COMPLIANCE_CRASH_RUNS")
        .ok()
        .map(|v| v.parse().expect("COMPLIANCE_CRASH_RUNS: a count"))
        .unwrap_or(12);
    let seed = seed_from_env("COMPLIANCE_CRASH_SEED");
    println!("controller restarts: seed {seed} (COMPLIANCE_CRASH_SEED), {rounds} rounds");
    let mut rng = Rng::new(seed);
    f.put_template("tigera.io.report", &["reporter"], &[]).await;
    let env = [
        ("TIGERA_COMPLIANCE_JOB_START_DELAY", "0s"),
        ("TIGERA_COMPLIANCE_MAX_ACTIVE_JOBS", "50"),
        ("COMPLIANCE_LEADER_ELECTION", "false"),
    ];
    let began = Instant::now();

    // The time from start to a round's report being complete, to spread the kills over.
    let first_end = this_hour() - ChronoDuration::hours(DUE);
    f.create_report("r0", hourly(), Some(first_end)).await;
    let mut starts: BTreeMap<String, DateTime<Utc>> = BTreeMap::from([("r0".into(), first_end)]);
    let started = Instant::now();
    let mut controller = f.controller("restarts", &env);
    eventually("the first report's Jobs and status", || async {
        complete(&f, "r0").await
    })
    .await;
    let span = started.elapsed();
    controller.kill();
    println!("controller restarts: a start takes {span:?} to complete a report's {DUE} Jobs");

    let mut phases: BTreeMap<Phase, usize> = BTreeMap::new();
    for round in 1..=rounds {
        let name = format!("r{round}");
        let last_end = this_hour() - ChronoDuration::hours(DUE);
        f.create_report(&name, hourly(), Some(last_end)).await;
        starts.insert(name.clone(), last_end);
        let mut controller = f.controller("restarts", &env);
        let delay = Duration::from_micros(rng.below(span.as_micros() as u64 * 3 / 2));
        tokio::time::sleep(delay).await;
        controller.kill();
        let jobs = f.jobs_of(&name).await.len();
        let phase = match jobs {
            0 => Phase::BeforeJobs,
            n if (n as i64) < hours_since(last_end) => Phase::CreatingJobs,
            _ if !complete(&f, &name).await => Phase::BeforeStatus,
            _ => Phase::Done,
        };
        *phases.entry(phase).or_default() += 1;
        println!(
            "controller restarts round {round}: killed after {delay:?}: {phase:?} ({jobs} Jobs)"
        );
        // Whatever the kill left: never two Jobs for one window.
        for report in starts.keys() {
            check_jobs(&f, report, starts[report], false).await;
        }
    }

    // Started once more, it completes every report.
    let mut controller = f.controller("restarts", &env);
    for report in starts.keys() {
        eventually(&format!("{report} to be complete"), || async {
            complete(&f, report).await
        })
        .await;
    }
    let mut jobs = 0;
    for (report, start) in &starts {
        jobs += check_jobs(&f, report, *start, true).await;
    }
    assert!(controller.alive(), "{}", controller.log());
    let status = controller.terminate();
    assert!(status.success(), "{}", controller.log());
    println!(
        "controller restarts: {rounds} kills in {:?}; phases {phases:?}; {} reports, {jobs} \
         Jobs, one per due window, none twice, statuses right",
        began.elapsed(),
        starts.len()
    );
}

/// Hours from `end` to the current hour: the windows due after a window that ended then.
fn hours_since(end: DateTime<Utc>) -> i64 {
    (this_hour() - end).num_hours()
}

/// Whether `report` has a Job for every due window and a status naming the last one.
async fn complete(f: &Fixture, report: &str) -> bool {
    let status = f.status(report).await;
    let due_end = time::format(&this_hour());
    let jobs = f.jobs_of(report).await;
    status["lastScheduledReportJob"]["end"].as_str() == Some(due_end.as_str())
        && jobs.last().map(|j| window(j).1) == Some(due_end)
        && names(&status["activeReportJobs"]).len() == jobs.len()
}

/// Checks the Jobs of `report`, whose status began at `start`: one Job per window, the
/// windows tiling from `start` on; when `all`, up to the current hour, with the status
/// naming the last window and listing exactly these Jobs as active. Returns the count.
async fn check_jobs(f: &Fixture, report: &str, start: DateTime<Utc>, all: bool) -> usize {
    let jobs = f.jobs_of(report).await;
    let windows: Vec<(String, String)> = jobs.iter().map(window).collect();
    let distinct: BTreeSet<_> = windows.iter().collect();
    assert_eq!(
        distinct.len(),
        windows.len(),
        "{report}: a window got two Jobs"
    );
    let mut expected_start = time::format(&start);
    for (s, e) in &windows {
        assert_eq!(
            s, &expected_start,
            "{report}: a window missing: {windows:?}"
        );
        expected_start = e.clone();
    }
    if all {
        assert_eq!(
            windows.len() as i64,
            hours_since(start),
            "{report}: {windows:?}"
        );
        let status = f.status(report).await;
        assert_eq!(
            status["lastScheduledReportJob"]["end"].as_str(),
            Some(expected_start.as_str()),
            "{report}: {status}"
        );
        let listed: BTreeSet<String> = names(&status["activeReportJobs"]).into_iter().collect();
        let made: BTreeSet<String> = jobs
            .iter()
            .map(|j| j.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(listed, made, "{report}: {status}");
    }
    jobs.len()
}
