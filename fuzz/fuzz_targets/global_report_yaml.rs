//! GlobalReport, GlobalReportType and GlobalReportWaiver YAML through the path a user's
//! COMPLIANCE_RESOURCES file takes: `Resources::add_text`, then `validate_all`, the
//! report types, `cis_params`, the schedules, the waivers and `load_report`.
//!
//! Checked: never panics or hangs; every validation problem names its object; a report
//! that `load_report` accepts has valid `cis` values and a schedule that parses; a
//! schedule that parses has a previous and a next fire and a window ordered in time.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Duration, TimeZone, Utc};
use compliance_core::schedule::Schedule;
use compliance_kube::{ClusterWaivers, ReportSource, Resources};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line alone as a cron expression: the schedule parser on short input.
    check_schedule(text.lines().next().unwrap_or(""));

    let mut res = Resources::default();
    if let Err(e) = res.add_text(Path::new("fuzz.yaml"), text) {
        let message = e.to_string();
        assert!(
            message.contains("fuzz.yaml"),
            "error does not name the file: {message}"
        );
        return;
    }
    for problem in res.validate_all() {
        assert!(
            problem.contains("fuzz.yaml"),
            "problem without its file: {problem}"
        );
    }
    let names: Vec<String> = res.reports.keys().cloned().collect();
    for name in &names {
        let (report, _) = &res.reports[name];
        let _ = res.report_type(&report.spec.report_type);
        let params = report.spec.cis_params();
        if let Some(s) = &report.spec.schedule {
            check_schedule(s);
        }
        if let Ok((report, _)) = res.load_report(name) {
            let params = params.expect("a loaded report has valid cis values");
            assert!(params.med_threshold < params.high_threshold);
            if let Some(s) = &report.spec.schedule {
                Schedule::parse_any_frequency(s).expect("a loaded report's schedule parses");
            }
        }
    }
    for name in res.types.keys() {
        let _ = res.report_type(name).expect("a defined type resolves");
    }
    let end = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
    let labels: BTreeMap<String, String> = [("role".to_string(), "worker".to_string())].into();
    match res.cluster_waivers() {
        ClusterWaivers::Listed { waivers, invalid } => {
            assert_eq!(waivers.len() + invalid.len(), res.waivers.len());
            for w in &waivers {
                let _ = w.in_force_at(end);
                let _ = w.covers_test("1.2.3", "1.2");
                let _ = w.covers_node("node-1", Some(&labels));
                let _ = w.covers_node("node-1", None);
                for name in &names {
                    let _ = w.concerns_report(name);
                }
            }
            for w in &invalid {
                assert!(!w.errors.is_empty(), "an invalid waiver without a reason");
            }
        }
        ClusterWaivers::NotServed(m) => panic!("files cannot refuse a list: {m}"),
    }
});

fn check_schedule(text: &str) {
    if text.len() > 200 {
        return;
    }
    let limited = Schedule::parse(text);
    let Ok(s) = Schedule::parse_any_frequency(text) else {
        assert!(
            limited.is_err(),
            "parse accepted what parse_any_frequency refused"
        );
        return;
    };
    let fires = s.fires_per_hour();
    assert!(fires >= 1, "an accepted schedule never fires: {text:?}");
    assert_eq!(
        limited.is_ok(),
        fires <= 2,
        "{text:?} fires {fires} times an hour"
    );
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 17, 40, 0).unwrap();
    let prev = s.previous_fire(now, true);
    let next = s.next_fire(now, false);
    if let (Some(p), Some(n)) = (prev, next) {
        assert!(p <= now && now < n, "{text:?}: {p} .. {now} .. {n}");
    }
    if let Some((start, end)) = s.last_completed_window(now, Duration::minutes(30)) {
        assert!(
            start < end && end <= now,
            "{text:?}: window {start} .. {end}"
        );
    }
}
