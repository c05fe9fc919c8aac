//! Findings over time for the terminal and for CI: a diff and a lifecycle as text, and
//! the `--fail-on` / COMPLIANCE_FAIL_ON check of a report (levels and new failures).

use std::fmt::Write as _;
use std::io::{self, Write};

use compliance_core::model::{Rating, ReportDocument};
use compliance_core::report::{
    Change, FindingChange, FindingLifecycle, NodeChange, ReportDiff, ReportFindings, diff,
};
use compliance_core::time;
use compliance_store::{BlockingStore, StoreError};

use crate::reporter::fail_on_report;
use crate::settings::FailOn;

fn opt_rating(r: Option<Rating>) -> &'static str {
    r.map(Rating::as_str).unwrap_or("-")
}

/// Whether a change is worth a line without `--all`: everything but a persisting
/// failure whose waiver stayed the same.
fn notable(f: &FindingChange) -> bool {
    f.change != Change::Persisting || f.old_waiver != f.new_waiver
}

fn waiver_cell(f: &FindingChange) -> String {
    match (&f.old_waiver, &f.new_waiver) {
        (None, None) => "-".to_string(),
        (Some(a), Some(b)) if a == b => a.clone(),
        (a, b) => format!(
            "{} → {}",
            a.as_deref().unwrap_or("none"),
            b.as_deref().unwrap_or("none")
        ),
    }
}

/// The diff as text: the two reports, the counts, the failures that changed (with
/// `all`, the persisting ones too; without, only those whose waiver changed) and the
/// nodes that changed.
pub fn write_diff(out: &mut impl Write, d: &ReportDiff, all: bool) -> io::Result<()> {
    let c = &d.counts;
    writeln!(out, "GlobalReport {}", d.new.report_name)?;
    writeln!(
        out,
        "old: {} (endTime {})",
        d.old.id,
        time::format(&d.old.end_time)
    )?;
    writeln!(
        out,
        "new: {} (endTime {})",
        d.new.id,
        time::format(&d.new.end_time)
    )?;
    writeln!(
        out,
        "failures: {} new ({} not waived), {} persisting, {} resolved, {} on new nodes, {} gone",
        c.new, c.new_unwaived, c.persisting, c.resolved, c.new_node, c.gone
    )?;
    writeln!(
        out,
        "nodes: {} added, {} removed, {} rated worse, {} rated better",
        c.nodes_added, c.nodes_removed, c.rating_drops, c.rating_rises
    )?;
    let rows: Vec<&FindingChange> = d.findings.iter().filter(|f| all || notable(f)).collect();
    if !rows.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{:<11} {:<30} {:<10} {:<25} DESCRIPTION",
            "CHANGE", "NODE", "TEST", "WAIVER"
        )?;
        for f in rows {
            writeln!(
                out,
                "{:<11} {:<30} {:<10} {:<25} {}",
                f.change.as_str(),
                f.node,
                f.test_number,
                waiver_cell(f),
                f.test_desc
            )?;
        }
    }
    if !d.nodes.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{:<30} {:<17} {:<14} WITHOUT WAIVERS",
            "NODE", "NODE CHANGE", "RATING"
        )?;
        for n in &d.nodes {
            write_node(out, n)?;
        }
    }
    Ok(())
}

fn write_node(out: &mut impl Write, n: &NodeChange) -> io::Result<()> {
    writeln!(
        out,
        "{:<30} {:<17} {:<14} {} → {}",
        n.node,
        n.kind.as_str(),
        format!(
            "{} → {}",
            opt_rating(n.old_status),
            opt_rating(n.new_status)
        ),
        opt_rating(n.old_status_without_waivers),
        opt_rating(n.new_status_without_waivers)
    )
}

/// The lifecycle of `findings` as a table; `reports` says over what.
pub fn write_lifecycle(
    out: &mut impl Write,
    report_name: &str,
    reports: &[compliance_core::report::ReportRef],
    findings: &[FindingLifecycle],
) -> io::Result<()> {
    match (reports.first(), reports.last()) {
        (Some(first), Some(last)) => writeln!(
            out,
            "GlobalReport {report_name}: {} reports, endTime {} to {}",
            reports.len(),
            time::format(&first.end_time),
            time::format(&last.end_time)
        )?,
        _ => return writeln!(out, "GlobalReport {report_name}: no reports stored"),
    }
    if findings.is_empty() {
        return writeln!(out, "no failures");
    }
    let t = |t: Option<&chrono::DateTime<chrono::Utc>>| t.map(time::format).unwrap_or("-".into());
    writeln!(
        out,
        "{:<30} {:<10} {:<9} {:<20} {:<20} {:<20} {:<20} {:>8} {:>7} WAIVER",
        "NODE",
        "TEST",
        "STATE",
        "FIRST FAILED",
        "FAILING SINCE",
        "RESOLVED AT",
        "LAST FAILED",
        "REOPENED",
        "REPORTS"
    )?;
    for f in findings {
        writeln!(
            out,
            "{:<30} {:<10} {:<9} {:<20} {:<20} {:<20} {:<20} {:>8} {:>7} {}",
            f.node,
            f.test_number,
            f.state.as_str(),
            t(Some(&f.first_failed)),
            t(f.failing_since.as_ref()),
            t(f.resolved_at.as_ref()),
            t(Some(&f.last_failed)),
            f.reopened,
            f.reports_failing,
            f.waiver.as_deref().unwrap_or("-")
        )?;
    }
    Ok(())
}

/// The failures of a diff that are new and accepted by no waiver, for CI output; `None`
/// when there are none.
pub fn fail_on_new(d: &ReportDiff) -> Option<String> {
    if d.counts.new_unwaived == 0 {
        return None;
    }
    let mut out = format!(
        "{} failures are new since report {} (endTime {}) and accepted by no waiver:\n",
        d.counts.new_unwaived,
        d.old.id,
        time::format(&d.old.end_time)
    );
    for f in d
        .findings
        .iter()
        .filter(|f| f.change == Change::New && f.new_waiver.is_none())
    {
        let _ = writeln!(out, "  {} FAIL {} {}", f.node, f.test_number, f.test_desc);
    }
    Some(out)
}

/// The diff of `report` against the report of its GlobalReport that ended last before
/// it; `None` when there is none (then nothing is new: there is nothing to compare).
pub fn diff_with_previous(
    store: &BlockingStore,
    report: &ReportDocument,
) -> Result<Option<ReportDiff>, StoreError> {
    let Some(previous) = store.previous_report(&report.report_name, report.end_time)? else {
        return Ok(None);
    };
    let Some(old) = store.report_findings(&previous.id)? else {
        // Deleted between the two reads: as if there were none.
        return Ok(None);
    };
    Ok(Some(diff(&old, &ReportFindings::of_report(report))))
}

/// The diff of a report with the previous report of its GlobalReport, computed on first
/// use and then shared: the CI gate and the notifications of one run compare once (at
/// 10,000 nodes a comparison reads both reports' nodes, about a second).
pub struct PreviousDiff<'a> {
    store: &'a BlockingStore,
    report: &'a ReportDocument,
    /// `None` until computed; a failed computation is tried again by the next caller.
    computed: Option<Option<ReportDiff>>,
}

impl<'a> PreviousDiff<'a> {
    pub fn new(store: &'a BlockingStore, report: &'a ReportDocument) -> PreviousDiff<'a> {
        PreviousDiff {
            store,
            report,
            computed: None,
        }
    }

    /// The report that is compared.
    pub fn report(&self) -> &'a ReportDocument {
        self.report
    }

    /// [`diff_with_previous`], computed once.
    pub fn get(&mut self) -> Result<Option<&ReportDiff>, StoreError> {
        if self.computed.is_none() {
            self.computed = Some(diff_with_previous(self.store, self.report)?);
        }
        Ok(self.computed.as_ref().and_then(Option::as_ref))
    }
}

/// What of `fail_on` holds for `report`, each as (the condition, `low`, `med` or `new`,
/// and its text); empty when nothing fails the run. `new` compares with the previous
/// report of the same GlobalReport ([`diff_with_previous`]); without one it holds for
/// nothing, and a warning says so.
pub fn fail_on_holds(
    store: &BlockingStore,
    report: &ReportDocument,
    fail_on: FailOn,
) -> Result<Vec<(&'static str, String)>, StoreError> {
    fail_on_holds_with(&mut PreviousDiff::new(store, report), fail_on)
}

/// [`fail_on_holds`] with the comparison shared with the rest of the run.
pub fn fail_on_holds_with(
    previous: &mut PreviousDiff<'_>,
    fail_on: FailOn,
) -> Result<Vec<(&'static str, String)>, StoreError> {
    let report = previous.report();
    let mut out = Vec::new();
    if let Some(level) = fail_on.level
        && let Some(text) = fail_on_report(report, level)
    {
        out.push((if level == Rating::Low { "low" } else { "med" }, text));
    }
    if fail_on.new {
        match previous.get()? {
            Some(d) => {
                if let Some(text) = fail_on_new(d) {
                    out.push(("new", text));
                }
            }
            None => tracing::warn!(
                report = %report.id,
                global_report = %report.report_name,
                "fail on new: no earlier report of this GlobalReport to compare with, so no failure counts as new"
            ),
        }
    }
    Ok(out)
}
