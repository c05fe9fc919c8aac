//! Two replicas: one leads, the other takes over when the leader dies, and no window is
//! ever given a second Job.

use std::collections::BTreeSet;

use crate::support::*;

#[tokio::test]
async fn a_second_replica_takes_over_and_no_window_runs_twice() {
    let Some(f) = fixture("replicas").await else {
        return;
    };
    f.put_template("tigera.io.report", &["reporter"], &[]).await;
    f.create_report("first", daily(), Some(midnight(3))).await;
    let mut a = f.controller("replica-a", &[]);
    let mut b = f.controller("replica-b", &[]);

    let leader = eventually_some("a leader", || async { f.lease_holder().await }).await;
    eventually("the first report's Jobs", || async {
        f.jobs_of("first").await.len() >= 2
    })
    .await;

    // The leader's pod is deleted (killed: no time to release its Lease).
    let (dead, survivor) = if leader == "replica-a" {
        (&mut a, "replica-b")
    } else {
        (&mut b, "replica-a")
    };
    dead.kill();
    eventually("the other replica to take the Lease", || async {
        f.lease_holder().await.as_deref() == Some(survivor)
    })
    .await;

    // The new leader schedules a report created after the takeover.
    f.create_report("second", daily(), Some(midnight(2))).await;
    eventually("the second report's Job", || async {
        !f.jobs_of("second").await.is_empty()
    })
    .await;

    for report in ["first", "second"] {
        let jobs = f.jobs_of(report).await;
        let windows: BTreeSet<_> = jobs.iter().map(window).collect();
        assert_eq!(windows.len(), jobs.len(), "{report}: a window got two Jobs");
        for pair in jobs.windows(2) {
            assert_eq!(
                window(&pair[0]).1,
                window(&pair[1]).0,
                "{report}: windows tile"
            );
        }
    }
    let survivor_process = if survivor == "replica-a" {
        &mut a
    } else {
        &mut b
    };
    assert!(survivor_process.alive(), "{}", survivor_process.log());
}
