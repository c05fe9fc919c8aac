//! Downloads: names (docs/spec.md §9), and bodies streamed a page of nodes at a time.
//!
//! A 10,000-node `all-tests.csv` is hundreds of megabytes. It is written on a blocking
//! thread, [`NODE_PAGE`] nodes at a time, into a bounded channel of [`CHUNK`]-sized
//! pieces that the HTTP body drains: the server holds a page of nodes and a few chunks
//! per download, whatever the report's size, and a client that stops reading stops the
//! writer. A failure part way aborts the body, so the client sees a broken transfer,
//! never a short file that looks complete.

use std::io::{self, Write};

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use compliance_core::model::{CisBenchmarkNode, ReportDocument};
use compliance_core::render::{CsvStream, Download, NodeCsv, WaiversCsv, write_download};
use compliance_store::{ReportHead, Store};

use crate::ApiError;

/// Nodes read from the store per step of a streamed download.
pub const NODE_PAGE: u64 = 50;
/// Bytes per piece of a streamed body.
pub const CHUNK: usize = 64 * 1024;
/// Pieces a body may have waiting before the writer waits for the client.
const QUEUED: usize = 4;

/// `YYYYMMDDhhmmss`, the time format of download names.
pub fn stamp(t: &DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%S").to_string()
}

/// A name part that is safe in a file name and a header: anything but letters, digits,
/// `.`, `-` and `_` becomes `_` (report and type names are Kubernetes names, so this
/// only changes names no Kubernetes object could have).
fn safe(part: &str) -> String {
    part.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `<type>_<name>_<start>-<end>`: what every download of a report is named after.
pub fn base_name(head: &ReportHead) -> String {
    format!(
        "{}_{}_{}-{}",
        safe(&head.report_type_name),
        safe(&head.report_name),
        stamp(&head.start_time),
        stamp(&head.end_time)
    )
}

/// One format's file name: `<type>_<name>_<start>-<end>-<format>`.
pub fn file_name(head: &ReportHead, format: &str) -> String {
    format!("{}-{}", base_name(head), safe(format))
}

/// What a GlobalReport's downloads across its reports (`findings.csv`) are named after:
/// `<type>_<name>`, of its newest report `head`.
pub fn lifecycle_base_name(head: &ReportHead) -> String {
    format!(
        "{}_{}",
        safe(&head.report_type_name),
        safe(&head.report_name)
    )
}

/// A download rendered whole (a diff's or a lifecycle's CSV, kilobytes to a few
/// megabytes): `body` as the file `name`.
pub fn whole(name: String, format: &str, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(format)),
    );
    headers.insert(header::CONTENT_DISPOSITION, attachment(&safe(&name)));
    response
}

/// Several formats' zip: `<type>_<name>_<start>-<end>.zip`.
pub fn zip_name(head: &ReportHead) -> String {
    format!("{}.zip", base_name(head))
}

/// The media type of a download file.
pub fn content_type(format: &str) -> &'static str {
    if format.ends_with(".csv") {
        "text/csv; charset=utf-8"
    } else if format.ends_with(".xml") {
        "application/xml"
    } else if format.ends_with(".json") {
        "application/json"
    } else if format.ends_with(".zip") {
        "application/zip"
    } else if format.ends_with(".html") {
        "text/html; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

/// The downloads `head`'s report offers: those named by its type's templates, then the
/// exports (docs/exports.md), which every report offers.
pub fn offered(head: &ReportHead) -> Vec<Download> {
    let mut offered = Download::for_type(&head.report_type_spec);
    for &d in Download::exports() {
        if !offered.contains(&d) {
            offered.push(d);
        }
    }
    offered
}

/// The file of the waived failures, offered by every report with waivers.
pub const WAIVERS_CSV: &str = "waivers.csv";

/// One file of a report's downloads: one of the core's, or `waivers.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum File {
    Report(Download),
    /// One row per waived failure, with its waiver's reason, owner, ticket and expiry.
    Waivers,
}

impl File {
    pub fn file_name(self) -> &'static str {
        match self {
            File::Report(d) => d.file_name(),
            File::Waivers => WAIVERS_CSV,
        }
    }
}

/// Whether `head`'s report offers `waivers.csv`: it has waivers (applied, expired or
/// matching nothing; the file then lists what they accepted, maybe nothing).
pub fn offers_waivers(head: &ReportHead) -> bool {
    !head.waivers.is_empty()
}

/// The downloads `formats` name; they must all be [`offered`], or `waivers.csv` of a
/// report with waivers (400 naming the first that is not).
pub fn resolve(head: &ReportHead, formats: &[String]) -> Result<Vec<File>, ApiError> {
    let offered = offered(head);
    formats
        .iter()
        .map(|f| {
            if f == WAIVERS_CSV && offers_waivers(head) {
                return Ok(File::Waivers);
            }
            Download::from_name(f)
                .filter(|d| offered.contains(d))
                .map(File::Report)
                .ok_or_else(|| {
                    let mut names: Vec<&str> = offered.iter().map(|d| d.file_name()).collect();
                    if offers_waivers(head) {
                        names.push(WAIVERS_CSV);
                    }
                    ApiError::bad(
                        "format",
                        f,
                        format!("report {} offers {}", head.id, names.join(", ")),
                    )
                })
        })
        .collect()
}

/// The report of `head` without nodes: what the total summary and the stored UI summary
/// are rendered from.
pub fn headless(head: &ReportHead) -> ReportDocument {
    ReportDocument {
        id: head.id.clone(),
        report_name: head.report_name.clone(),
        report_type_name: head.report_type_name.clone(),
        report_spec: head.report_spec.clone(),
        report_type_spec: head.report_type_spec.clone(),
        start_time: head.start_time,
        end_time: head.end_time,
        generation_time: head.generation_time,
        cis_benchmark_summary: head.summary.clone(),
        cis_benchmark: Vec::new(),
        ui_summary: head.ui_summary.clone(),
        cluster: head.cluster.clone(),
        generated_time: head.generated_time,
        provenance: None,
        waivers: Vec::new(),
    }
}

/// `Content-Disposition: attachment` for `name` (already safe: see [`file_name`]).
pub fn attachment(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// A writer into a streamed body: bytes gather into [`CHUNK`]s, each sent when full; a
/// gone client is a broken pipe.
struct BodyWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

impl BodyWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// What a streamed download writes, from the blocking thread it runs on.
struct Source {
    store: Store,
    head: ReportHead,
    runtime: Handle,
}

impl Source {
    /// Hands `f` the report's nodes a page at a time, in report order.
    fn each_node_page(
        &self,
        mut f: impl FnMut(&[CisBenchmarkNode]) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let mut nodes = self.runtime.block_on(self.store.nodes(&self.head.id))?;
        loop {
            let page = self.runtime.block_on(nodes.next(NODE_PAGE))?;
            if page.is_empty() {
                return Ok(());
            }
            f(&page)?;
        }
    }

    /// Writes one file of the report into `w`.
    fn write(&self, file: File, w: &mut dyn Write) -> Result<(), ApiError> {
        let download = match file {
            File::Report(d) => d,
            File::Waivers => {
                let mut out = WaiversCsv::new(&self.head.waivers, w)?;
                self.each_node_page(|page| Ok(out.nodes(page)?))?;
                out.finish()?
                    .flush()
                    .map_err(compliance_core::render::RenderError::from)?;
                return Ok(());
            }
        };
        match NodeCsv::of(download) {
            Some(kind) => {
                let counted = crate::pages::not_observed_as(&self.head);
                let mut out = CsvStream::new(kind, w)?.counting(counted);
                self.each_node_page(|page| Ok(out.nodes(page)?))?;
                out.finish()?
                    .flush()
                    .map_err(compliance_core::render::RenderError::from)?;
            }
            None if download.is_export()
                || (download == Download::UiSummary && self.head.ui_summary.trim().is_empty()) =>
            {
                // The exports total every node before the first one (JUnit's counts,
                // OSCAL's findings across nodes), so they read the whole report; so does
                // the UI summary of a report stored without one.
                let whole = self
                    .runtime
                    .block_on(self.store.get_report(&self.head.id))?
                    .ok_or_else(|| {
                        ApiError::NotFound(format!("report {} was deleted", self.head.id))
                    })?;
                write_download(download, &whole, w)?;
            }
            None => write_download(download, &headless(&self.head), w)?,
        }
        Ok(())
    }
}

/// Runs `produce` on a blocking thread, its output the body of the returned response.
fn streamed(
    content_type: &'static str,
    name: &str,
    produce: impl FnOnce(&mut BodyWriter) -> Result<(), ApiError> + Send + 'static,
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(QUEUED);
    tokio::task::spawn_blocking(move || {
        let mut w = BodyWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let result = produce(&mut w).and_then(|()| {
            w.flush()
                .map_err(|e| ApiError::Render(compliance_core::render::RenderError::Io(e)))
        });
        if let Err(e) = result
            && !is_gone(&e)
        {
            tracing::error!("download {} failed part way: {e}", "stream");
            let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_DISPOSITION, attachment(name));
    response
}

fn is_gone(e: &ApiError) -> bool {
    let text = e.to_string();
    text.contains("the client went away")
}

/// The response to a download of `downloads` of `head`'s report: the file itself for
/// one, a zip of them for several.
pub fn respond(store: Store, head: ReportHead, downloads: Vec<File>) -> Response {
    let source = Source {
        store,
        head,
        runtime: Handle::current(),
    };
    if let [one] = downloads[..] {
        let name = file_name(&source.head, one.file_name());
        return streamed(content_type(one.file_name()), &name, move |w| {
            source.write(one, w)
        });
    }
    let name = zip_name(&source.head);
    streamed("application/zip", &name, move |w| {
        let mut zip = zip::ZipWriter::new_stream(w);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        for d in downloads {
            zip.start_file(file_name(&source.head, d.file_name()), options)
                .map_err(zip_error)?;
            source.write(d, &mut zip)?;
        }
        zip.finish().map_err(zip_error)?;
        Ok(())
    })
}

fn zip_error(e: zip::result::ZipError) -> ApiError {
    ApiError::Render(compliance_core::render::RenderError::Io(io::Error::other(
        e,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use compliance_testkit::fixtures::t;
    use compliance_testkit::reports::fixture_report;

    fn head() -> ReportHead {
        ReportHead::of(&fixture_report(t("2026-11-25T00:00:00Z")))
    }

    #[test]
    fn names_follow_spec_9() {
        let h = head();
        assert_eq!(
            file_name(&h, "all-tests.csv"),
            "cis-benchmark_daily-cis-results_20261124000000-20261125000000-all-tests.csv"
        );
        assert_eq!(
            zip_name(&h),
            "cis-benchmark_daily-cis-results_20261124000000-20261125000000.zip"
        );
        assert_eq!(
            attachment(&file_name(&h, "node-summary.csv")),
            "attachment; filename=\"cis-benchmark_daily-cis-results_20261124000000-20261125000000-node-summary.csv\""
        );
    }

    #[test]
    fn names_no_kubernetes_object_could_have_cannot_break_the_header() {
        let mut h = head();
        h.report_name = "a\"b\r\nSet-Cookie: x/../é".into();
        let name = zip_name(&h);
        assert_eq!(
            name,
            "cis-benchmark_a_b__Set-Cookie__x_..___20261124000000-20261125000000.zip"
        );
        assert!(HeaderValue::from_str(&name).is_ok());
    }

    #[test]
    fn formats_the_report_does_not_offer_are_refused_by_name() {
        let h = head();
        let ok = resolve(&h, &["ui-summary.json".into(), "all-tests.csv".into()]).unwrap();
        assert_eq!(
            ok,
            [
                File::Report(Download::UiSummary),
                File::Report(Download::AllTests)
            ]
        );
        let e = resolve(&h, &["all-tests.pdf".into()]).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(
            e.to_string()
                .starts_with("invalid format \"all-tests.pdf\""),
            "{e}"
        );
        let mut narrow = head();
        narrow
            .report_type_spec
            .download_templates
            .retain(|t| t.name == "node-summary.csv");
        let e = resolve(&narrow, &["all-tests.csv".into()]).unwrap_err();
        assert!(
            e.to_string().contains(
                "offers node-summary.csv, ui-summary.json, node-provenance.csv, junit.xml, \
                 oscal-assessment-results.json"
            ),
            "{e}"
        );
        // A type that lists only some of Calico's downloads still offers the provenance.
        let ok = resolve(&narrow, &["node-provenance.csv".into()]).unwrap();
        assert_eq!(ok, [File::Report(Download::NodeProvenance)]);
        // The exports are offered whatever the type's templates.
        narrow.report_type_spec.download_templates.clear();
        narrow.report_type_spec.ui_summary_template = None;
        let ok = resolve(
            &narrow,
            &["oscal-assessment-results.json".into(), "junit.xml".into()],
        )
        .unwrap();
        assert_eq!(
            ok,
            [
                File::Report(Download::OscalAssessmentResults),
                File::Report(Download::Junit)
            ]
        );
    }

    #[test]
    fn only_a_report_with_waivers_offers_waivers_csv() {
        let plain = head();
        let e = resolve(&plain, &["waivers.csv".into()]).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(!e.to_string().ends_with("waivers.csv"), "{e}");
        let waived = ReportHead::of(&compliance_testkit::reports::waived_fixture_report(t(
            "2026-11-25T00:00:00Z",
        )));
        assert_eq!(
            resolve(&waived, &["waivers.csv".into()]).unwrap(),
            [File::Waivers]
        );
        let e = resolve(&waived, &["nope.csv".into()]).unwrap_err();
        assert!(e.to_string().ends_with(", waivers.csv"), "{e}");
    }
}
