//! GlobalReport schedules: standard 5-field cron in UTC, and the windows they define.
//!
//! One report's end is the next one's start, so a schedule defines a sequence of windows
//! `[previous fire, fire]`. The time is always passed in: nothing here reads the clock.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// Most reports a schedule may start within any one hour (docs/spec.md §2).
pub const MAX_FIRES_PER_HOUR: usize = 2;

/// The Gregorian calendar, weekdays included, repeats every 400 years (146,097 days, exactly
/// 20,871 weeks): day fields that match no day of one such cycle match no day ever.
const CALENDAR_CYCLE_YEARS: i32 = 400;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("{0:?} is not a 5-field cron expression (minute hour day-of-month month day-of-week)")]
    FieldCount(String),
    #[error("{0:?} is not a valid cron expression: {1}")]
    Parse(String, String),
    #[error("{0:?} never fires")]
    NeverFires(String),
    #[error("{0:?} fires {1} times an hour; at most {MAX_FIRES_PER_HOUR} are allowed")]
    TooFrequent(String, usize),
}

/// A validated 5-field cron schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    cron: Cron,
}

impl Schedule {
    /// Parses and checks `text`: exactly five fields, fires at all, at most twice an hour.
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let schedule = Schedule::parse_any_frequency(text)?;
        let fires = schedule.max_fires_per_hour()?;
        if fires > MAX_FIRES_PER_HOUR {
            return Err(ScheduleError::TooFrequent(text.to_string(), fires));
        }
        Ok(schedule)
    }

    /// Parses `text` like [`Schedule::parse`] without the limit of
    /// [`MAX_FIRES_PER_HOUR`], which bounds *scheduling* only (docs/spec.md §2): a
    /// reporter run with an explicit window reads the schedule just to warn about it.
    pub fn parse_any_frequency(text: &str) -> Result<Schedule, ScheduleError> {
        let trimmed = text.trim();
        // Nicknames such as @daily are single fields that croner expands itself.
        let fields = trimmed.split_whitespace().count();
        if !(fields == 5 || (fields == 1 && trimmed.starts_with('@'))) {
            return Err(ScheduleError::FieldCount(text.to_string()));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .build()
            .parse(trimmed)
            .map_err(|e| ScheduleError::Parse(text.to_string(), e.to_string()))?;
        // Refuses a schedule that never fires, whatever the limit. croner says so itself
        // only after searching every day up to the year 5000, seconds of CPU for each
        // `0 0 30 2 *` checked; one calendar cycle of day checks answers in milliseconds.
        if !fires_at_some_time_of_day(&cron) || !fires_on_some_day(&cron) {
            return Err(ScheduleError::NeverFires(text.to_string()));
        }
        let schedule = Schedule {
            text: trimmed.to_string(),
            cron,
        };
        schedule.max_fires_per_hour()?;
        Ok(schedule)
    }

    /// The most times the schedule fires within one hour.
    pub fn fires_per_hour(&self) -> usize {
        self.max_fires_per_hour().unwrap_or(0)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Minutes fire identically in every hour that fires at all, so counting the fires
    /// in the first such hour gives the maximum for any hour.
    fn max_fires_per_hour(&self) -> Result<usize, ScheduleError> {
        let never = || ScheduleError::NeverFires(self.text.clone());
        let reference = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
        let first = self
            .cron
            .find_next_occurrence(&reference, true)
            .map_err(|_| never())?;
        let hour_start = first - Duration::seconds(first.timestamp().rem_euclid(3600));
        let hour_end = hour_start + Duration::hours(1);
        let mut count = 0;
        let mut t = hour_start;
        while let Ok(next) = self.cron.find_next_occurrence(&t, count == 0) {
            if next >= hour_end {
                break;
            }
            count += 1;
            t = next;
            if count > 60 {
                break;
            }
        }
        Ok(count)
    }

    /// The last fire time at or before `t`.
    pub fn previous_fire(&self, t: DateTime<Utc>, inclusive: bool) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&t, inclusive).ok()
    }

    /// The first fire time at or after `t`.
    pub fn next_fire(&self, t: DateTime<Utc>, inclusive: bool) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, inclusive).ok()
    }

    /// The last completed window whose end + `start_delay` is not after `now`.
    ///
    /// The delay leaves benchmarkers time to store results for the window's final hour
    /// before the report is computed (docs/spec.md §7, default 30 minutes).
    pub fn last_completed_window(
        &self,
        now: DateTime<Utc>,
        start_delay: Duration,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let end = self.previous_fire(now - start_delay, true)?;
        let start = self.previous_fire(end, false)?;
        Some((start, end))
    }
}

/// Whether the minute and hour fields match any time of day. croner accepts fields that
/// match nothing (a lone `,`), and then searches to the year 5000 for a fire, as for a
/// day that never comes.
fn fires_at_some_time_of_day(cron: &Cron) -> bool {
    let p = &cron.pattern;
    (0..24).any(|h| p.hour_match(h).unwrap_or(false))
        && (0..60).any(|m| p.minute_match(m).unwrap_or(false))
}

/// Whether the day fields (month, day of month, day of week, with croner's `L`, `W` and
/// `#`) match any day: checked over one whole calendar cycle, from 2000.
fn fires_on_some_day(cron: &Cron) -> bool {
    let p = &cron.pattern;
    for year in 2000..2000 + CALENDAR_CYCLE_YEARS {
        for month in 1..=12 {
            if !p.month_match(month).unwrap_or(false) {
                continue;
            }
            let mut day = NaiveDate::from_ymd_opt(year, month, 1);
            while let Some(d) = day.filter(|d| d.month() == month) {
                let weekday =
                    croner::Weekday::from_days_from_sunday(d.weekday().num_days_from_sunday());
                if p.day_match(year, month, d.day(), weekday).unwrap_or(false) {
                    return true;
                }
                day = d.succ_opt();
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::time::parse(s).unwrap()
    }

    #[test]
    fn daily_schedule_window_is_previous_midnight_to_midnight() {
        let s = Schedule::parse("0 0 * * *").unwrap();
        let w = s.last_completed_window(t("2026-11-26T17:40:00Z"), Duration::minutes(30));
        assert_eq!(
            w,
            Some((t("2026-11-25T00:00:00Z"), t("2026-11-26T00:00:00Z")))
        );
    }

    #[test]
    fn window_waits_for_job_start_delay() {
        let s = Schedule::parse("0 0 * * *").unwrap();
        // 00:10 is inside the 30 minute delay: today's window is not ready yet.
        let w = s.last_completed_window(t("2026-11-26T00:10:00Z"), Duration::minutes(30));
        assert_eq!(
            w,
            Some((t("2026-11-24T00:00:00Z"), t("2026-11-25T00:00:00Z")))
        );
        // At exactly end + delay it is.
        let w = s.last_completed_window(t("2026-11-26T00:30:00Z"), Duration::minutes(30));
        assert_eq!(
            w,
            Some((t("2026-11-25T00:00:00Z"), t("2026-11-26T00:00:00Z")))
        );
    }

    /// Found by the third fuzz campaign (`global_report_yaml`, after 3.4 million runs): a
    /// minute or hour field of a lone `,` matches no time, croner accepts it, and finding
    /// its first fire searched to the year 5000 (over 10 s in the fuzz build).
    #[test]
    fn schedules_whose_time_fields_match_nothing_are_refused_at_once() {
        for text in [",  * * * *", "* , * * *", ", , * * *", "0,, , * * *"] {
            // croner takes them: the time check, not croner's search, refuses them.
            let cron = CronParser::builder()
                .seconds(Seconds::Disallowed)
                .build()
                .parse(text);
            if let Ok(cron) = &cron {
                assert!(!fires_at_some_time_of_day(cron), "{text:?}");
            }
            let e = Schedule::parse_any_frequency(text);
            assert!(
                matches!(
                    e,
                    Err(ScheduleError::NeverFires(_)) | Err(ScheduleError::Parse(..))
                ),
                "{text:?}: {e:?}"
            );
            assert!(Schedule::parse(text).is_err(), "{text:?}");
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .build()
            .parse(",  * * * *")
            .expect("croner accepts a lone comma");
        assert!(!fires_at_some_time_of_day(&cron));
        for kept in ["0 0 * * *", "59 23 * * *", "0,30 * * * *"] {
            assert!(Schedule::parse(kept).is_ok(), "{kept:?}");
        }
    }

    #[test]
    fn hourly_and_twice_hourly_are_accepted() {
        assert!(Schedule::parse("0 * * * *").is_ok());
        assert!(Schedule::parse("0,30 * * * *").is_ok());
        assert!(Schedule::parse("@daily").is_ok());
    }

    #[test]
    fn more_than_twice_an_hour_is_rejected() {
        assert_eq!(
            Schedule::parse("*/20 9 * * *").unwrap_err(),
            ScheduleError::TooFrequent("*/20 9 * * *".into(), 3)
        );
        assert!(matches!(
            Schedule::parse("* * * * *"),
            Err(ScheduleError::TooFrequent(_, 60))
        ));
    }

    /// The limit bounds scheduling only (docs/spec.md §2): a run with an explicit window
    /// reads the schedule without it, to warn.
    #[test]
    fn a_run_reads_a_too_frequent_schedule_and_counts_its_fires() {
        let s = Schedule::parse_any_frequency("*/20 9 * * *").unwrap();
        assert_eq!(s.fires_per_hour(), 3);
        assert_eq!(Schedule::parse("0,30 * * * *").unwrap().fires_per_hour(), 2);
        assert!(matches!(
            Schedule::parse_any_frequency("0 0 30 2 *"),
            Err(ScheduleError::NeverFires(_))
        ));
        assert!(Schedule::parse_any_frequency("every hour").is_err());
    }

    #[test]
    fn seconds_field_and_garbage_are_rejected() {
        assert!(matches!(
            Schedule::parse("0 0 0 * * *"),
            Err(ScheduleError::FieldCount(_))
        ));
        assert!(matches!(
            Schedule::parse("61 0 * * *"),
            Err(ScheduleError::Parse(..))
        ));
        assert!(matches!(
            Schedule::parse("daily"),
            Err(ScheduleError::FieldCount(_))
        ));
    }

    /// Found by the global_report_yaml fuzz target: croner searched to the year 5000
    /// before saying `0 0 30 2 *` never fires, 5.6 s for one schedule in the fuzz build, so
    /// a few such GlobalReports held validation for longer than its 10 s limit. The day
    /// check decides over one 400-year calendar cycle; rare days still fire.
    #[test]
    fn schedules_that_never_fire_are_refused_by_the_day_check_and_rare_ones_kept() {
        for never in ["0 0 30 2 *", "0 0 31 4,6,9,11 *"] {
            let cron = CronParser::builder()
                .seconds(Seconds::Disallowed)
                .build()
                .parse(never)
                .expect("a valid expression");
            assert!(!fires_on_some_day(&cron), "{never}");
            assert!(matches!(
                Schedule::parse_any_frequency(never),
                Err(ScheduleError::NeverFires(_))
            ));
        }
        // February 29th comes every four years, the fifth Friday of a February once in 28.
        for rare in ["0 0 29 2 *", "0 0 * 2 5#5", "0 0 L 2 *"] {
            let s = Schedule::parse_any_frequency(rare).unwrap_or_else(|e| panic!("{rare}: {e}"));
            let now = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
            assert!(s.next_fire(now, false).is_some(), "{rare}");
        }
    }

    #[test]
    fn impossible_date_never_fires() {
        assert!(matches!(
            Schedule::parse("0 0 31 2 *"),
            Err(ScheduleError::NeverFires(_))
        ));
    }
}
