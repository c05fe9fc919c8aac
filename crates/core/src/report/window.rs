//! The benchmark query window (docs/spec.md §4.1) and the report id (docs/spec.md §4.9).

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::time;

/// How far back a short report looks: benchmarkers store unchanged results only once a
/// day, so a one-hour report must still see the node that last changed 30 hours ago.
pub const LOOK_BACK: Duration = Duration::hours(36);

/// The benchmark query window, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl QueryWindow {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t <= self.end
    }
}

/// The window to query for a report over [start, end]: [end - 36h, end] when the report
/// is shorter than 36 hours, the report window itself otherwise.
pub fn query_window(start: DateTime<Utc>, end: DateTime<Utc>) -> QueryWindow {
    if end - start < LOOK_BACK {
        QueryWindow {
            start: end - LOOK_BACK,
            end,
        }
    } else {
        QueryWindow { start, end }
    }
}

/// `<reportName>_<reportTypeName>_<uuid v5 (URL namespace) of "<name>::<start>::<end>">`.
///
/// The same report over the same window always gets the same id, so a re-run replaces
/// the stored report instead of adding a second one. Times are spelled as Go's RFC 3339
/// layout prints them, which keeps ids equal to the ones Calico computed.
pub fn report_id(
    report_name: &str,
    report_type_name: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> String {
    let key = format!(
        "{report_name}::{}::{}",
        time::format(&start),
        time::format(&end)
    );
    let uuid = Uuid::new_v5(&Uuid::NAMESPACE_URL, key.as_bytes());
    format!("{report_name}_{report_type_name}_{uuid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        time::parse(s).unwrap()
    }

    #[test]
    fn rule_1_short_window_looks_back_36_hours() {
        let w = query_window(t("2026-11-25T00:00:00Z"), t("2026-11-26T00:00:00Z"));
        assert_eq!(w.start, t("2026-11-24T12:00:00Z"));
        assert_eq!(w.end, t("2026-11-26T00:00:00Z"));
    }

    #[test]
    fn rule_1_window_of_36_hours_or_more_is_kept() {
        let w = query_window(t("2026-11-20T00:00:00Z"), t("2026-11-26T00:00:00Z"));
        assert_eq!(w.start, t("2026-11-20T00:00:00Z"));
        let w = query_window(t("2026-11-24T12:00:00Z"), t("2026-11-26T00:00:00Z"));
        assert_eq!(w.start, t("2026-11-24T12:00:00Z"));
    }

    #[test]
    fn rule_1_both_ends_are_inclusive() {
        let w = query_window(t("2026-11-25T00:00:00Z"), t("2026-11-26T00:00:00Z"));
        assert!(w.contains(t("2026-11-24T12:00:00Z")));
        assert!(w.contains(t("2026-11-26T00:00:00Z")));
        assert!(!w.contains(t("2026-11-26T00:00:01Z")));
        assert!(!w.contains(t("2026-11-24T11:59:59Z")));
    }

    #[test]
    fn rule_9_report_id_is_uuid_v5_of_name_and_go_formatted_times() {
        // Expected value computed independently with Python's uuid.uuid5(NAMESPACE_URL, ...).
        let id = report_id(
            "daily-cis-results",
            "cis-benchmark",
            t("2026-11-25T00:00:00Z"),
            t("2026-11-26T01:00:00+01:00"),
        );
        assert_eq!(
            id,
            "daily-cis-results_cis-benchmark_c6220b98-9113-5930-a610-83459f316228"
        );
    }
}
