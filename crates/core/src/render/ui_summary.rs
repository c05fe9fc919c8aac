//! `ui-summary.json`, the download of the UI summary that the report core built.

use std::io::Write;

use super::{RenderError, effective_params};
use crate::model::ReportDocument;
use crate::report::ui_summary_with;

/// `ui-summary.json`: the stored `uiSummary` exactly as stored, plus a final newline.
///
/// Written as stored rather than recomputed so the download matches what the dashboard
/// shows, including for reports written by Calico. A document with an empty `uiSummary`
/// gets a freshly computed one instead of an empty, invalid JSON file.
pub fn write_ui_summary<W: Write>(doc: &ReportDocument, mut w: W) -> Result<(), RenderError> {
    let computed;
    let text = if doc.ui_summary.trim().is_empty() {
        computed = ui_summary_with(doc, &effective_params(doc)?);
        computed.as_str()
    } else {
        doc.ui_summary.as_str()
    };
    w.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}
