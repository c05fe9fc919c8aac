//! `compliancectl reports show`: one report as text for a terminal.
//!
//! The summary, the report's provenance (or that it recorded none), the node table with
//! what each node's result is (a rating, a failed run, or no result since when), how many
//! tests were not observed and how the report counted them, then Top Failed Tests. A
//! report with waivers also says how many failures they accepted, the ratings without
//! them, each node's waived failures, and every waiver with what it did.
//! `--output json` prints the stored document instead, provenance included as stored.

use std::borrow::Cow;
use std::io::{self, Write};

use compliance_core::import::is_unprintable;
use compliance_core::model::waiver::parse_expiry;
use compliance_core::model::{CisBenchmarkNode, ReportDocument, TestStatus, WaiverState};
use compliance_core::render::not_observed_as;
use compliance_core::time;

/// `text` made safe for a terminal: control characters (ESC, CR, LF, NUL, ...) and
/// bidirectional-text controls are written as Rust escapes (`\u{1b}`, `\r`, `\n`,
/// `\0`, `\u{202e}`), so stored text cannot recolour, rewrite or reorder the screen
/// or break a table row. Everything else, non-ASCII letters included, is kept.
pub fn terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unprintable) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unprintable(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// What the text says of a provenance value the report did not record.
pub const NOT_RECORDED: &str = "not recorded";

fn or_not_recorded(value: &str) -> &str {
    if value.is_empty() {
        NOT_RECORDED
    } else {
        value
    }
}

/// What the node table says after a node's columns: why it has no counts, if it has none.
pub fn node_note(n: &CisBenchmarkNode) -> String {
    if n.no_results {
        return match &n.last_result_time {
            Some(t) => format!("no results since {}", time::format(t)),
            None => "never reported".to_string(),
        };
    }
    if !n.error.is_empty() {
        return format!("run failed: {}", terminal(&n.error));
    }
    String::new()
}

/// What the node table says of a node's waived failures: how many, and its rating
/// without them. Empty when nothing was waived on the node.
pub fn waived_note(n: &CisBenchmarkNode) -> String {
    if n.summary.waived == 0 {
        return String::new();
    }
    let rating = n.summary.status_without_waivers.unwrap_or(n.summary.status);
    format!(
        "{} waived ({} without waivers)",
        n.summary.waived,
        rating.as_str()
    )
}

/// Writes every waiver that concerned the report: what it did, what it names, who
/// accepted it, why, and until when. Nothing when the report has none.
pub fn write_waivers(out: &mut impl Write, r: &ReportDocument) -> io::Result<()> {
    if r.waivers.is_empty() {
        return Ok(());
    }
    let count = |s: WaiverState| r.waivers.iter().filter(|w| w.state == s).count();
    writeln!(
        out,
        "\nWaivers ({} applied, {} expired, {} matched nothing)",
        count(WaiverState::Applied),
        count(WaiverState::Expired),
        count(WaiverState::MatchedNothing)
    )?;
    for w in &r.waivers {
        let what = match w.state {
            WaiverState::Applied => format!(
                "applied: {} failed test(s) on {} node(s)",
                w.waived, w.nodes
            ),
            WaiverState::Expired => format!(
                "expired: accepts nothing (would cover {} failed test(s) on {} node(s))",
                w.waived, w.nodes
            ),
            WaiverState::MatchedNothing => "matched nothing: fix or remove it".to_string(),
        };
        writeln!(out, "  {}  {what}", terminal(&w.name))?;
        let s = &w.spec;
        let expires = parse_expiry(&s.expires)
            .map(|t| time::format(&t))
            .unwrap_or_else(|_| s.expires.clone());
        let ticket = if s.ticket.is_empty() {
            "none"
        } else {
            &s.ticket
        };
        writeln!(
            out,
            "      tests {}; owner {}; ticket {}; expires {}",
            terminal(&s.tests.join(", ")),
            terminal(&s.owner),
            terminal(ticket),
            terminal(&expires),
        )?;
        writeln!(out, "      reason: {}", terminal(&s.reason))?;
        if !w.note.is_empty() {
            writeln!(out, "      note: {}", terminal(&w.note))?;
        }
    }
    Ok(())
}

/// NOT_OBSERVED tests in the report, and on how many nodes.
fn not_observed(r: &ReportDocument) -> (u64, u64) {
    let mut tests = 0;
    let mut nodes = 0;
    for n in &r.cis_benchmark {
        let here = n
            .results
            .iter()
            .flat_map(|s| &s.results)
            .filter(|t| t.status == TestStatus::NotObserved)
            .count() as u64;
        tests += here;
        nodes += u64::from(here > 0);
    }
    (tests, nodes)
}

/// Writes the report-level provenance block: what made the report and from what.
pub fn write_provenance(out: &mut impl Write, r: &ReportDocument) -> io::Result<()> {
    let Some(p) = &r.provenance else {
        return writeln!(
            out,
            "Provenance  {NOT_RECORDED} (a report of Calico Enterprise or of an earlier release)"
        );
    };
    writeln!(
        out,
        "Provenance  reporter {}",
        terminal(or_not_recorded(&p.reporter_version))
    )?;
    writeln!(
        out,
        "            results read from {} – {}",
        time::format(&p.query_start),
        time::format(&p.query_end)
    )?;
    let c = &p.cis;
    writeln!(
        out,
        "            rules: HIGH at {}%, MED at {}%, unscored tests {}, top {} failed tests, not observed as {}",
        c.high_threshold,
        c.med_threshold,
        if c.include_unscored_tests {
            "counted"
        } else {
            "not counted"
        },
        c.num_failed_tests,
        c.not_observed_as.as_str()
    )?;
    writeln!(
        out,
        "            expected nodes from {}",
        if p.expected_nodes_from.is_empty() {
            NOT_RECORDED.to_string()
        } else {
            terminal(&p.expected_nodes_from.join(", ")).into_owned()
        }
    )
}

/// Writes `r` as `reports show` prints it.
pub fn write_report(out: &mut impl Write, r: &ReportDocument) -> io::Result<()> {
    let s = &r.cis_benchmark_summary;
    writeln!(out, "Report   {}", terminal(&r.id))?;
    writeln!(
        out,
        "Window   {} – {} (generated {})",
        time::format(&r.start_time),
        time::format(&r.end_time),
        time::format(&r.generation_time)
    )?;
    write!(
        out,
        "Nodes    {} (HIGH {}, MED {}, LOW {}",
        r.cis_benchmark.len(),
        s.high_count,
        s.med_count,
        s.low_count
    )?;
    if s.no_results_count > 0 {
        write!(out, ", of which {} without results", s.no_results_count)?;
    }
    writeln!(out, ")")?;
    if let Some(w) = &s.without_waivers {
        writeln!(
            out,
            "         without waivers: HIGH {}, MED {}, LOW {}",
            w.high_count, w.med_count, w.low_count
        )?;
    }
    if s.waived_count > 0 {
        writeln!(
            out,
            "Waived   {} failed test(s) accepted by waivers: still FAIL, left out of the ratings",
            s.waived_count
        )?;
    }
    let (tests, nodes) = not_observed(r);
    if tests > 0 {
        writeln!(
            out,
            "Tests    {tests} not observed on {nodes} node(s), counted as {} \
             (kube-bench passed them, but their audit printed nothing)",
            not_observed_as(r).as_str()
        )?;
    }
    write_provenance(out, r)?;
    writeln!(out)?;
    let names: Vec<Cow<'_, str>> = r
        .cis_benchmark
        .iter()
        .map(|n| terminal(&n.node_name))
        .collect();
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        out,
        "{:<width$}  {:<6} {:>5} {:>5} {:>5} {:>5}  {:<10} {:<10}",
        "NODE", "STATUS", "PASS", "FAIL", "INFO", "TOTAL", "K8S", "BENCHMARK"
    )?;
    for (n, name) in r.cis_benchmark.iter().zip(&names) {
        let m = &n.summary;
        write!(
            out,
            "{:<width$}  {:<6} {:>5} {:>5} {:>5} {:>5}  {:<10} {:<10}",
            name,
            m.status.as_str(),
            m.total_pass,
            m.total_fail,
            m.total_info,
            m.total,
            terminal(&n.kubernetes_version),
            terminal(&n.benchmarks_version)
        )?;
        let note = node_note(n);
        if !note.is_empty() {
            write!(out, "  {note}")?;
        }
        let waived = waived_note(n);
        if !waived.is_empty() {
            write!(out, "  {waived}")?;
        }
        writeln!(out)?;
    }
    write_waivers(out, r)?;
    let top = compliance_core::report::report_top_failed_tests(r);
    if !top.is_empty() {
        writeln!(out, "\nTop failed tests")?;
        for t in top {
            writeln!(
                out,
                "  {:>3} nodes  {:<8} {}",
                t.failed_count,
                terminal(&t.index),
                terminal(&t.description)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use compliance_core::model::{AppliedCisParams, NotObservedAs, Provenance, Rating};
    use compliance_testkit::fixtures::t;
    use compliance_testkit::reports::fixture_report;

    fn text(r: &ReportDocument) -> String {
        let mut out = Vec::new();
        write_report(&mut out, r).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn waivers_show_counts_ratings_without_them_and_every_outcome() {
        let r = compliance_testkit::reports::waived_fixture_report(t("2026-11-25T00:00:00Z"));
        let out = text(&r);
        let s = &r.cis_benchmark_summary;
        let w = s.without_waivers.as_ref().expect("a rating changed");
        for want in [
            format!(
                "without waivers: HIGH {}, MED {}, LOW {}",
                w.high_count, w.med_count, w.low_count
            ),
            format!("Waived   {} failed test(s) accepted by waivers", s.waived_count),
            "Waivers (1 applied, 1 expired, 1 matched nothing)".to_string(),
            "  accepted-cp  applied: 12 failed test(s) on 1 node(s)".to_string(),
            "      tests 1, 2, 3, 4, 5; owner security@example.com; ticket SEC-1; expires 2027-03-31T00:00:00Z"
                .to_string(),
            "      reason: accepted-cp: the distribution sets this up itself".to_string(),
            "without waivers: HIGH 1, MED 3, LOW 3".to_string(),
            "Nodes    7 (HIGH 2, MED 2, LOW 3)".to_string(),
            "  old-exception  expired: accepts nothing".to_string(),
            "  typo  matched nothing: fix or remove it".to_string(),
        ] {
            assert!(out.contains(&want), "{want:?} missing from\n{out}");
        }
        let node = r
            .cis_benchmark
            .iter()
            .find(|n| n.node_name == compliance_testkit::reports::WAIVED_NODE)
            .unwrap();
        let line = out
            .lines()
            .find(|l| l.starts_with(compliance_testkit::reports::WAIVED_NODE))
            .unwrap();
        assert!(
            line.ends_with(&format!(
                "  {} waived ({} without waivers)",
                node.summary.waived,
                node.summary.status_without_waivers.unwrap().as_str()
            )),
            "{line}"
        );
        assert!(line.contains(" HIGH ") && line.ends_with("12 waived (MED without waivers)"));
        assert!(s.waived_count > 0 && s.waived_count == node.summary.waived);
    }

    #[test]
    fn terminal_escapes_control_and_bidi_characters_and_keeps_the_rest() {
        assert!(matches!(terminal("node-1 ü <b>"), Cow::Borrowed(_)));
        assert_eq!(
            terminal("a\u{1b}[31mred\r\nb\0c\u{202e}d\u{7f}\u{9b}"),
            "a\\u{1b}[31mred\\r\\nb\\0c\\u{202e}d\\u{7f}\\u{9b}"
        );
    }

    #[test]
    fn show_writes_no_raw_control_character_of_stored_text() {
        let mut r = fixture_report(t("2026-11-26T00:00:00Z"));
        r.cis_benchmark[0].node_name = "esc\u{1b}[2Jnode\r\nfake-row".into();
        r.cis_benchmark[0].error = "bell\u{7}".into();
        let out = text(&r);
        assert!(
            !out.chars().any(|c| c != '\n' && is_unprintable(c)),
            "{out:?}"
        );
        assert!(out.contains("esc\\u{1b}[2Jnode\\r\\nfake-row"), "{out}");
        assert!(!out.lines().any(|l| l.starts_with("fake-row")), "{out}");
    }

    #[test]
    fn a_report_without_waivers_prints_nothing_of_them() {
        let out = text(&fixture_report(t("2026-11-25T00:00:00Z")));
        assert!(!out.contains("aiver"), "{out}");
    }

    #[test]
    fn a_report_without_provenance_says_not_recorded() {
        let mut r = fixture_report(t("2026-11-25T00:00:00Z"));
        r.provenance = None;
        let out = text(&r);
        assert!(
            out.contains("Provenance  not recorded (a report of Calico Enterprise"),
            "{out}"
        );
    }

    #[test]
    fn provenance_not_observed_and_nodes_without_results_are_shown() {
        let mut r = fixture_report(t("2026-11-25T00:00:00Z"));
        r.provenance = Some(Provenance {
            reporter_version: "1.4.0".into(),
            query_start: t("2026-11-22T12:00:00Z"),
            query_end: t("2026-11-24T00:00:00Z"),
            cis: AppliedCisParams {
                high_threshold: 100,
                med_threshold: 50,
                include_unscored_tests: true,
                num_failed_tests: 5,
                not_observed_as: NotObservedAs::Fail,
            },
            expected_nodes_from: vec!["nodes".into()],
        });
        let first = &mut r.cis_benchmark[0];
        first.results[0].results[0].status = TestStatus::NotObserved;
        let mut stale = r.cis_benchmark[1].clone();
        stale.node_name = "zz-stale".into();
        stale.results.clear();
        stale.no_results = true;
        stale.summary = compliance_core::model::NodeSummary {
            status: Rating::Low,
            total_pass: 0,
            total_fail: 0,
            total_info: 0,
            total: 0,
            waived: 0,
            status_without_waivers: None,
        };
        stale.last_result_time = Some(t("2026-11-20T06:00:00Z"));
        let mut never = stale.clone();
        never.node_name = "zz-never".into();
        never.last_result_time = None;
        r.cis_benchmark.push(never);
        r.cis_benchmark.push(stale);
        r.cis_benchmark_summary.no_results_count = 2;
        let out = text(&r);
        for want in [
            "Provenance  reporter 1.4.0",
            "results read from 2026-11-22T12:00:00Z – 2026-11-24T00:00:00Z",
            "not observed as fail",
            "expected nodes from nodes",
            "of which 2 without results",
            "not observed on",
            "node(s), counted as fail (kube-bench passed them",
            "no results since 2026-11-20T06:00:00Z",
            "never reported",
        ] {
            assert!(out.contains(want), "{want:?} missing from\n{out}");
        }
        // The JSON of `--output json` is the stored document: provenance included.
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["provenance"]["reporterVersion"], "1.4.0");
        assert_eq!(json["provenance"]["cis"]["notObservedAs"], "fail");
    }
}
