//! Retention in Elasticsearch: the index lifecycle policy of each kind of index, built as
//! data (docs/spec.md §10).
//!
//! Every write goes through a rollover alias (`X.S.`), so data sits in a run of backing
//! indices; the policy rolls the write index over when it is a week old or its primary
//! shard reaches 50 GB, and deletes a backing index once it is older than the retention,
//! counted from its rollover. A document is therefore deleted between the retention and
//! the retention plus a week after it was written: deletion is per index, never per
//! document.

use std::time::Duration;

use serde_json::{Value, json};

use crate::retention::Retention;

/// A week: how old a write index gets before it is rolled over, so retention is kept to
/// within a week and a cluster holds about `retention / 7 days` indices of each kind.
pub const ROLLOVER_MAX_AGE: Duration = Duration::from_secs(7 * 86_400);
/// Elasticsearch's own advice for a shard's largest size.
pub const ROLLOVER_MAX_PRIMARY_SHARD_SIZE: &str = "50gb";

/// The kinds of index this project writes, each with its own policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Benchmarks,
    Reports,
    /// The parts of split reports. Deleted a rollover period after the reports: a head
    /// and its parts are written together but may sit in indices rolled over up to
    /// [`ROLLOVER_MAX_AGE`] apart, and a head must never outlive its parts.
    ReportParts,
}

/// When an index of `kind` is deleted under `retention` (`None`: keep forever),
/// counted from its rollover; `None`: never.
pub fn delete_after(retention: &Retention, kind: Kind) -> Option<Duration> {
    match kind {
        Kind::Benchmarks => retention.benchmarks,
        Kind::Reports => retention.reports,
        Kind::ReportParts => retention.reports.map(|r| r + ROLLOVER_MAX_AGE),
    }
}

/// The `policy` object of `PUT /_ilm/policy/<name>` for `kind` under `retention`.
pub fn policy(retention: &Retention, kind: Kind) -> Value {
    let mut phases = json!({
        "hot": {
            "min_age": "0ms",
            "actions": { "rollover": {
                "max_age": time_value(ROLLOVER_MAX_AGE),
                "max_primary_shard_size": ROLLOVER_MAX_PRIMARY_SHARD_SIZE,
            } },
        },
    });
    if let Some(after) = delete_after(retention, kind) {
        phases["delete"] = json!({
            "min_age": time_value(after),
            "actions": { "delete": {} },
        });
    }
    json!({ "phases": phases, "_meta": { "managed_by": "cis-compliance" } })
}

/// A duration as an Elasticsearch time value in the largest whole unit: `91d`, `36h`.
pub fn time_value(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_millis() != 0 || secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    for (unit, per) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs.is_multiple_of(per) {
            return format!("{}{unit}", secs / per);
        }
    }
    format!("{secs}s")
}

/// Whether the cluster's copy of a policy says what ours says: Elasticsearch adds
/// defaults to what it stores (`delete_searchable_snapshot`), which do not count, but a
/// phase it has and we do not (a delete phase after retention became "forever") does.
pub fn is_current(stored: &Value, ours: &Value) -> bool {
    let phases = |v: &Value| -> Vec<String> {
        v.get("phases")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    };
    phases(stored) == phases(ours) && super::templates::is_current(stored, ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_keep_91_days_and_roll_over_weekly() {
        let l = Retention::default();
        let p = policy(&l, Kind::Reports);
        assert_eq!(
            p["phases"]["hot"]["actions"]["rollover"],
            json!({"max_age": "7d", "max_primary_shard_size": "50gb"})
        );
        assert_eq!(p["phases"]["delete"]["min_age"], "91d");
        assert_eq!(p["phases"]["delete"]["actions"], json!({"delete": {}}));
        assert_eq!(
            policy(&l, Kind::Benchmarks)["phases"]["delete"]["min_age"],
            "91d"
        );
    }

    #[test]
    fn report_parts_are_deleted_a_rollover_period_after_their_reports() {
        let l = Retention {
            benchmarks: Some(Duration::from_secs(2 * 86_400)),
            reports: Some(Duration::from_secs(30 * 86_400)),
        };
        assert_eq!(
            policy(&l, Kind::ReportParts)["phases"]["delete"]["min_age"],
            "37d"
        );
        assert_eq!(
            policy(&l, Kind::Benchmarks)["phases"]["delete"]["min_age"],
            "2d"
        );
    }

    #[test]
    fn keeping_forever_rolls_over_and_never_deletes() {
        let l = Retention {
            benchmarks: None,
            reports: None,
        };
        for kind in [Kind::Benchmarks, Kind::Reports, Kind::ReportParts] {
            let p = policy(&l, kind);
            assert!(p["phases"].get("delete").is_none(), "{p}");
            assert!(p["phases"]["hot"]["actions"].get("rollover").is_some());
        }
    }

    #[test]
    fn time_values_use_the_largest_whole_unit() {
        assert_eq!(time_value(Duration::from_secs(91 * 86_400)), "91d");
        assert_eq!(time_value(Duration::from_secs(36 * 3_600)), "36h");
        assert_eq!(time_value(Duration::from_secs(90)), "90s");
        assert_eq!(time_value(Duration::from_millis(1_500)), "1500ms");
        assert_eq!(time_value(Duration::ZERO), "0ms");
    }

    #[test]
    fn a_stored_policy_with_added_defaults_is_current() {
        let ours = policy(&Retention::default(), Kind::Reports);
        let mut stored = ours.clone();
        stored["phases"]["delete"]["actions"]["delete"] =
            json!({"delete_searchable_snapshot": true});
        assert!(is_current(&stored, &ours));
        let mut changed = ours.clone();
        changed["phases"]["delete"]["min_age"] = json!("30d");
        assert!(!is_current(&changed, &ours));
        let forever = policy(&Retention::FOREVER, Kind::Reports);
        assert!(
            !is_current(&stored, &forever),
            "a phase to drop is a change"
        );
    }
}
