//! When the next run starts.
//!
//! Each node runs at fixed slots: `offset + k × interval` from the Unix epoch, where the
//! offset is derived from the node's name. A thousand nodes therefore spread their runs
//! over the whole interval instead of all running (and all writing to Elasticsearch) in
//! the same minute, and the spread survives restarts: a rollout that restarts every
//! benchmarker at once still leaves each node at its own minute of the hour afterwards.
//! The offset is a hash rather than a random draw for that reason: it is "random" across
//! nodes but stable for one node.
//!
//! The run at start is the exception (a new pod should report at once); the first slot
//! after it is skipped when it is less than half an interval away, so a restart does not
//! run the checks twice in a few minutes.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The node's place within the interval: FNV-1a of its name, modulo the interval, in
/// whole milliseconds.
pub fn node_offset(node_name: &str, interval: Duration) -> Duration {
    let interval_ms = interval.as_millis().max(1) as u64;
    Duration::from_millis(fnv1a(node_name.as_bytes()) % interval_ms)
}

/// 64-bit FNV-1a: tiny, stable across versions and platforms (unlike std's hasher), and
/// good enough to spread names that differ only in a digit.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The start of the run after the one that started at `last_start`, seen at `now`
/// (after that run ended): the first slot later than both `now` and half an interval
/// after `last_start`.
///
/// A run that overran its slot (a slow kube-bench, a suspended machine) does not cause a
/// burst of catch-up runs: the missed slots are skipped.
pub fn next_run(
    last_start: DateTime<Utc>,
    now: DateTime<Utc>,
    interval: Duration,
    offset: Duration,
) -> DateTime<Utc> {
    let interval_ms = interval.as_millis().max(1) as i64;
    let offset_ms = offset.as_millis() as i64 % interval_ms;
    let not_before = now.max(last_start + chrono::Duration::milliseconds(interval_ms / 2));
    let t = not_before.timestamp_millis();
    // The first k with offset + k·interval > t.
    let k = (t - offset_ms).div_euclid(interval_ms) + 1;
    DateTime::from_timestamp_millis(offset_ms + k * interval_ms)
        .expect("a slot within a few intervals of now is a valid time")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, h, m, s).unwrap()
    }

    #[test]
    fn runs_fall_on_the_nodes_minute_of_every_hour() {
        let offset = Duration::from_secs(17 * 60);
        // Started at 10:00, finished at 10:01: 10:17 is less than half an hour away.
        assert_eq!(
            next_run(at(10, 0, 0), at(10, 1, 0), HOUR, offset),
            at(11, 17, 0)
        );
        // Started at 10:40: 11:17 is 37 minutes later.
        assert_eq!(
            next_run(at(10, 40, 0), at(10, 41, 0), HOUR, offset),
            at(11, 17, 0)
        );
        // A run at its slot leads to the next slot.
        assert_eq!(
            next_run(at(11, 17, 0), at(11, 17, 30), HOUR, offset),
            at(12, 17, 0)
        );
    }

    #[test]
    fn an_overrun_skips_missed_slots_instead_of_catching_up() {
        let offset = Duration::from_secs(0);
        assert_eq!(
            next_run(at(10, 0, 0), at(13, 30, 0), HOUR, offset),
            at(14, 0, 0)
        );
    }

    #[test]
    fn the_offset_is_stable_per_node_and_spreads_a_thousand_nodes_over_the_hour() {
        assert_eq!(node_offset("node-1", HOUR), node_offset("node-1", HOUR));
        assert!(node_offset("node-1", HOUR) < HOUR);
        let mut per_minute = [0u32; 60];
        for i in 0..1000 {
            let name = format!("ip-10-0-{}-{}.ec2.internal", i / 250, i % 250);
            per_minute[(node_offset(&name, HOUR).as_secs() / 60) as usize] += 1;
        }
        // 1000 nodes over 60 minutes is about 17 a minute; a fair hash keeps every minute
        // used and none crowded.
        assert!(per_minute.iter().all(|n| *n > 0), "{per_minute:?}");
        assert!(per_minute.iter().all(|n| *n < 40), "{per_minute:?}");
    }

    #[test]
    fn the_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
    }

    proptest! {
        #[test]
        fn the_next_run_is_a_slot_after_now_and_at_least_half_an_interval_later(
            last in 0i64..10_000_000_000,
            ran_for in 0i64..20_000_000,
            interval_s in 1u64..100_000,
            offset_s in 0u64..200_000,
        ) {
            let interval = Duration::from_secs(interval_s);
            let offset = Duration::from_secs(offset_s);
            let last_start = DateTime::from_timestamp_millis(last).unwrap();
            let now = last_start + chrono::Duration::milliseconds(ran_for);
            let next = next_run(last_start, now, interval, offset);
            let interval_ms = interval_s as i64 * 1000;
            prop_assert!(next > now);
            prop_assert!((next - last_start).num_milliseconds() >= interval_ms / 2);
            // On the node's slot.
            prop_assert_eq!(
                (next.timestamp_millis() - (offset_s as i64 * 1000) % interval_ms)
                    .rem_euclid(interval_ms),
                0
            );
            // And the first such slot: one interval earlier would be too early.
            let earlier = next - chrono::Duration::milliseconds(interval_ms);
            prop_assert!(
                earlier <= now || (earlier - last_start).num_milliseconds() < interval_ms / 2
            );
        }
    }
}
