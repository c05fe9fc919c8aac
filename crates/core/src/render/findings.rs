//! The CSV files of findings over time: a diff's `diff.csv` and `diff-nodes.csv`, a
//! lifecycle's `findings.csv`, and a report's `waivers.csv`.
//!
//! Same format as the report downloads ([`super::csv`]): RFC 4180, a header row, CRLF,
//! every text cell guarded against formula injection, times RFC 3339 in whole seconds UTC
//! and empty cells for what is absent.

use std::collections::HashMap;
use std::io::Write;

use csv::{Terminator, Writer, WriterBuilder};

use super::RenderError;
use super::csv::guard_cell;
use crate::model::{CisBenchmarkNode, Rating, ReportDocument, WaiverOutcome};
use crate::report::{FindingLifecycle, ReportDiff};
use crate::time;

fn writer<W: Write>(w: W) -> Writer<W> {
    WriterBuilder::new()
        .terminator(Terminator::CRLF)
        .from_writer(w)
}

fn rating(r: Option<Rating>) -> &'static str {
    r.map(Rating::as_str).unwrap_or("")
}

fn finish<W: Write>(out: Writer<W>) -> Result<(), RenderError> {
    out.into_inner()
        .map_err(|e| RenderError::Io(e.into_error()))?
        .flush()?;
    Ok(())
}

/// `diff.csv`: one row per failure of either report and what became of it, in the diff's
/// order (node, then test): `node,testNumber,section,testDesc,change,oldWaiver,newWaiver`.
pub fn write_diff_csv<W: Write>(d: &ReportDiff, w: W) -> Result<(), RenderError> {
    let mut out = writer(w);
    out.write_record([
        "node",
        "testNumber",
        "section",
        "testDesc",
        "change",
        "oldWaiver",
        "newWaiver",
    ])?;
    for f in &d.findings {
        out.write_record([
            &*guard_cell(&f.node),
            &*guard_cell(&f.test_number),
            &*guard_cell(&f.section),
            &*guard_cell(&f.test_desc),
            f.change.as_str(),
            &*guard_cell(f.old_waiver.as_deref().unwrap_or("")),
            &*guard_cell(f.new_waiver.as_deref().unwrap_or("")),
        ])?;
    }
    finish(out)
}

/// `diff-nodes.csv`: one row per node that changed, by node:
/// `node,change,oldStatus,newStatus,oldStatusWithoutWaivers,newStatusWithoutWaivers`,
/// a rating empty on the side where the node is absent.
pub fn write_diff_nodes_csv<W: Write>(d: &ReportDiff, w: W) -> Result<(), RenderError> {
    let mut out = writer(w);
    out.write_record([
        "node",
        "change",
        "oldStatus",
        "newStatus",
        "oldStatusWithoutWaivers",
        "newStatusWithoutWaivers",
    ])?;
    for n in &d.nodes {
        out.write_record([
            &*guard_cell(&n.node),
            n.kind.as_str(),
            rating(n.old_status),
            rating(n.new_status),
            rating(n.old_status_without_waivers),
            rating(n.new_status_without_waivers),
        ])?;
    }
    finish(out)
}

/// `findings.csv`: one row per finding of a lifecycle, in the order given:
/// `node,testNumber,section,testDesc,state,firstFailed,failingSince,resolvedAt,lastFailed,reopened,reportsFailing,waiver`.
pub fn write_findings_csv<W: Write>(
    findings: &[FindingLifecycle],
    w: W,
) -> Result<(), RenderError> {
    let mut out = writer(w);
    out.write_record([
        "node",
        "testNumber",
        "section",
        "testDesc",
        "state",
        "firstFailed",
        "failingSince",
        "resolvedAt",
        "lastFailed",
        "reopened",
        "reportsFailing",
        "waiver",
    ])?;
    let t = |t: Option<&chrono::DateTime<chrono::Utc>>| t.map(time::format).unwrap_or_default();
    for f in findings {
        out.write_record([
            &*guard_cell(&f.node),
            &*guard_cell(&f.test_number),
            &*guard_cell(&f.section),
            &*guard_cell(&f.test_desc),
            f.state.as_str(),
            &t(Some(&f.first_failed)),
            &t(f.failing_since.as_ref()),
            &t(f.resolved_at.as_ref()),
            &t(Some(&f.last_failed)),
            &f.reopened.to_string(),
            &f.reports_failing.to_string(),
            &*guard_cell(f.waiver.as_deref().unwrap_or("")),
        ])?;
    }
    finish(out)
}

/// `waivers.csv` of a whole report ([`WaiversCsv`] streams one a page of nodes at a time).
pub fn write_waivers_csv<W: Write>(doc: &ReportDocument, w: W) -> Result<(), RenderError> {
    let mut out = WaiversCsv::new(&doc.waivers, w)?;
    out.nodes(&doc.cis_benchmark)?;
    out.finish()?;
    Ok(())
}

/// `waivers.csv`: one row per waived failure of a report, in report order (nodes, then
/// sections, then tests as stored), with who accepted it, why and until when:
/// `node,testNumber,section,testDesc,waiver,reason,owner,ticket,expires`. `expires` is
/// as the waiver declared it. A waiver the report does not list (which a report never
/// does) leaves those four cells empty.
pub struct WaiversCsv<'a, W: Write> {
    out: Writer<W>,
    waivers: HashMap<&'a str, &'a WaiverOutcome>,
}

impl<'a, W: Write> WaiversCsv<'a, W> {
    /// Starts the file: writes its header row. `waivers` are the report's outcomes.
    pub fn new(waivers: &'a [WaiverOutcome], w: W) -> Result<Self, RenderError> {
        let mut out = writer(w);
        out.write_record([
            "node",
            "testNumber",
            "section",
            "testDesc",
            "waiver",
            "reason",
            "owner",
            "ticket",
            "expires",
        ])?;
        Ok(WaiversCsv {
            out,
            waivers: waivers.iter().map(|o| (o.name.as_str(), o)).collect(),
        })
    }

    /// Writes the waived failures of `nodes`, which follow the nodes of earlier calls.
    pub fn nodes(&mut self, nodes: &[CisBenchmarkNode]) -> Result<(), RenderError> {
        for node in nodes {
            let name = guard_cell(&node.node_name);
            for t in node.results.iter().flat_map(|s| &s.results) {
                let Some(waiver) = t.waiver.as_deref() else {
                    continue;
                };
                let spec = self.waivers.get(waiver).map(|o| &o.spec);
                let field = |f: fn(&crate::model::WaiverSpec) -> &str| spec.map(f).unwrap_or("");
                self.out.write_record([
                    &*name,
                    &*guard_cell(&t.text.test_number),
                    &*guard_cell(&t.text.section),
                    &*guard_cell(&t.text.test_desc),
                    &*guard_cell(waiver),
                    &*guard_cell(field(|s| &s.reason)),
                    &*guard_cell(field(|s| &s.owner)),
                    &*guard_cell(field(|s| &s.ticket)),
                    &*guard_cell(field(|s| &s.expires)),
                ])?;
            }
        }
        Ok(())
    }

    /// Ends the file: flushes it and gives the writer back.
    pub fn finish(self) -> Result<W, RenderError> {
        let mut w = self
            .out
            .into_inner()
            .map_err(|e| RenderError::Io(e.into_error()))?;
        w.flush()?;
        Ok(w)
    }
}
