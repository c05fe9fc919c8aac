//! Report windows: which ones are due, oldest first, and which are too old to start.
//!
//! Windows tile time: the first starts where the last scheduled one ended (or at the
//! GlobalReport's creation), each ends at the schedule's next fire time, and the next one
//! starts there. A window becomes due `start_delay` after its end. Windows that ended
//! more than `ignore_unstarted_after` ago are skipped, not caught up (docs/spec.md §8).

use chrono::{DateTime, Duration, Utc};
use compliance_core::schedule::Schedule;

/// One report window, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The windows due now, and what comes after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Due windows, oldest first, at most the limit asked for.
    pub windows: Vec<Window>,
    /// Windows that ended before `now - ignore_unstarted_after` were skipped: they covered
    /// `[from, until)`, and the first window considered starts at `until`.
    pub skipped: Option<Window>,
    /// The first window not returned, and when it is (or was) due. `None` when the
    /// schedule never fires again.
    pub next: Option<(Window, DateTime<Utc>)>,
}

/// The timing rules that decide when a window is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub start_delay: Duration,
    pub ignore_unstarted_after: Duration,
}

/// The windows after `last_end` that are due at `now`, at most `limit` of them.
pub fn due_windows(
    schedule: &Schedule,
    last_end: DateTime<Utc>,
    now: DateTime<Utc>,
    timing: Timing,
    limit: usize,
) -> Due {
    let mut due = Due {
        windows: Vec::new(),
        skipped: None,
        next: None,
    };
    let Some(mut window) = first_window(schedule, last_end) else {
        return due;
    };
    let cutoff = now - timing.ignore_unstarted_after;
    if window.end < cutoff {
        // Jump straight to the first window ending at or after the cutoff: a report
        // created years ago must not walk through every fire time since.
        let Some(end) = schedule.next_fire(cutoff, true) else {
            return due;
        };
        let start = schedule
            .previous_fire(end, false)
            .map_or(last_end, |previous| previous.max(last_end));
        due.skipped = Some(Window {
            start: last_end,
            end: start,
        });
        window = Window { start, end };
    }
    loop {
        let due_at = window.end + timing.start_delay;
        if due.windows.len() >= limit || now < due_at {
            due.next = Some((window, due_at));
            return due;
        }
        due.windows.push(window);
        match first_window(schedule, window.end) {
            Some(next) => window = next,
            None => return due,
        }
    }
}

/// The window that starts at `start` and ends at the schedule's next fire after it.
fn first_window(schedule: &Schedule, start: DateTime<Utc>) -> Option<Window> {
    let end = schedule.next_fire(start, false)?;
    Some(Window { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> DateTime<Utc> {
        compliance_core::time::parse(s).unwrap()
    }

    fn timing() -> Timing {
        Timing {
            start_delay: Duration::minutes(30),
            ignore_unstarted_after: Duration::hours(168),
        }
    }

    fn daily() -> Schedule {
        Schedule::parse("0 0 * * *").unwrap()
    }

    #[test]
    fn first_window_starts_at_creation_and_ends_at_the_next_fire() {
        let due = due_windows(
            &daily(),
            t("2026-11-25T14:23:00Z"),
            t("2026-11-26T00:31:00Z"),
            timing(),
            5,
        );
        assert_eq!(
            due.windows,
            [Window {
                start: t("2026-11-25T14:23:00Z"),
                end: t("2026-11-26T00:00:00Z")
            }]
        );
        assert_eq!(due.skipped, None);
        assert_eq!(
            due.next.unwrap().1,
            t("2026-11-27T00:30:00Z"),
            "the next window is due after its end and the delay"
        );
    }

    #[test]
    fn a_window_is_due_only_after_its_end_plus_the_start_delay() {
        let last = t("2026-11-25T00:00:00Z");
        let early = due_windows(&daily(), last, t("2026-11-26T00:29:59Z"), timing(), 5);
        assert!(early.windows.is_empty());
        assert_eq!(early.next.unwrap().1, t("2026-11-26T00:30:00Z"));
        let on_time = due_windows(&daily(), last, t("2026-11-26T00:30:00Z"), timing(), 5);
        assert_eq!(on_time.windows.len(), 1);
    }

    #[test]
    fn catch_up_is_oldest_first_and_limited() {
        let due = due_windows(
            &daily(),
            t("2026-11-20T00:00:00Z"),
            t("2026-11-26T01:00:00Z"),
            timing(),
            3,
        );
        let ends: Vec<_> = due.windows.iter().map(|w| w.end).collect();
        assert_eq!(
            ends,
            [
                t("2026-11-21T00:00:00Z"),
                t("2026-11-22T00:00:00Z"),
                t("2026-11-23T00:00:00Z")
            ]
        );
        let (next, due_at) = due.next.unwrap();
        assert_eq!(next.start, t("2026-11-23T00:00:00Z"));
        assert!(
            due_at < t("2026-11-26T01:00:00Z"),
            "already due, held back by the limit"
        );
    }

    #[test]
    fn windows_older_than_ignore_unstarted_after_are_skipped() {
        // A month-long outage of a daily report: only the last 168 hours are caught up.
        let now = t("2026-11-30T06:00:00Z");
        let due = due_windows(&daily(), t("2026-10-30T00:00:00Z"), now, timing(), 100);
        let skipped = due.skipped.unwrap();
        assert_eq!(skipped.start, t("2026-10-30T00:00:00Z"));
        assert_eq!(skipped.end, t("2026-11-23T00:00:00Z"));
        assert_eq!(due.windows.len(), 7);
        assert_eq!(due.windows[0].start, t("2026-11-23T00:00:00Z"));
        assert!(
            due.windows
                .iter()
                .all(|w| w.end >= now - Duration::hours(168))
        );
    }

    #[test]
    fn a_window_ending_inside_the_catch_up_limit_is_not_skipped() {
        // The last end is between fires, and the first window ends after the cutoff
        // (now - 168h): it is caught up, from the last end.
        let now = t("2026-11-29T06:00:00Z");
        let last = t("2026-11-22T07:00:00Z");
        let due = due_windows(&daily(), last, now, timing(), 100);
        assert_eq!(due.skipped, None);
        assert_eq!(due.windows[0].start, last);
    }

    fn schedules() -> impl Strategy<Value = Schedule> {
        prop_oneof![
            Just("0 0 * * *"),
            Just("0 * * * *"),
            Just("0,30 * * * *"),
            Just("15 3 * * 1"),
            Just("0 12 1 * *"),
            Just("5 */6 * * *"),
        ]
        .prop_map(|s| Schedule::parse(s).unwrap())
    }

    proptest! {
        #[test]
        fn windows_tile_time_with_no_gap_and_no_overlap(
            schedule in schedules(),
            last in 1_700_000_000i64..1_800_000_000,
            after in 0i64..(30 * 86_400),
            limit in 0usize..50,
        ) {
            let last = DateTime::from_timestamp(last, 0).unwrap();
            let now = last + Duration::seconds(after);
            let due = due_windows(&schedule, last, now, timing(), limit);
            prop_assert!(due.windows.len() <= limit);
            let first_start = due.skipped.map_or(last, |s| s.end);
            if let Some(skipped) = due.skipped {
                prop_assert_eq!(skipped.start, last);
                prop_assert!(skipped.end > last);
            }
            let mut start = first_start;
            for w in &due.windows {
                prop_assert_eq!(w.start, start, "no gap, no overlap");
                prop_assert!(w.end > w.start);
                prop_assert!(w.end + timing().start_delay <= now, "only due windows");
                prop_assert!(w.end >= now - timing().ignore_unstarted_after, "none too old");
                start = w.end;
            }
            if let Some((next, _)) = due.next {
                prop_assert_eq!(next.start, start);
            }
        }

        #[test]
        fn planning_in_steps_gives_the_same_windows_as_at_once(
            schedule in schedules(),
            last in 1_700_000_000i64..1_800_000_000,
            after in 0i64..(10 * 86_400),
        ) {
            // Taking the windows one at a time (each pass starting where the last ended)
            // reaches the same windows as taking them all in one pass.
            let last = DateTime::from_timestamp(last, 0).unwrap();
            let now = last + Duration::seconds(after);
            let all = due_windows(&schedule, last, now, timing(), 1000).windows;
            let mut stepped = Vec::new();
            let mut from = last;
            loop {
                let due = due_windows(&schedule, from, now, timing(), 1);
                let Some(w) = due.windows.first() else { break };
                stepped.push(*w);
                from = w.end;
            }
            prop_assert_eq!(all, stepped);
        }
    }
}
