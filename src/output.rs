//! Files the binaries write: report downloads and the benchmarker's `--output`, each
//! replaced atomically so a reader (or a crash) never sees half a file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use compliance_core::error::{Classify, ErrorKind};
use compliance_core::model::{BenchmarkDocument, ReportDocument};
use compliance_core::render::{Download, RenderError, write_download};

/// A download that could not be written, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct OutputError {
    pub path: PathBuf,
    #[source]
    pub source: RenderError,
}

impl Classify for OutputError {
    /// The disk or directory is the problem, not the report, except for a report whose
    /// stored spec cannot be resolved, which is invalid.
    fn kind(&self) -> ErrorKind {
        match self.source {
            RenderError::InvalidSpec { .. } => ErrorKind::Invalid,
            _ => ErrorKind::Unavailable,
        }
    }
}

/// Writes the `which` downloads of `doc` into `dir` (created if missing) and returns
/// their paths, in the order asked for.
///
/// Each file is written to a hidden temporary file in `dir`, synced, then renamed over
/// the destination: rename within a directory is atomic, so a download is either the
/// previous complete file or the new complete one, never a torn mix. On failure the
/// temporary file is removed and files already renamed stay (each is complete).
pub fn write_all(
    doc: &ReportDocument,
    dir: &Path,
    which: &[Download],
) -> Result<Vec<PathBuf>, OutputError> {
    let in_dir = |source: io::Error| OutputError {
        path: dir.to_path_buf(),
        source: RenderError::Io(source),
    };
    fs::create_dir_all(dir).map_err(in_dir)?;
    let mut written = Vec::with_capacity(which.len());
    for &download in which {
        let path = dir.join(download.file_name());
        write_atomically(download, doc, &path).map_err(|source| OutputError {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// Buffer for files written by [`write_all`]: large enough that a 400 MB download costs
/// a few thousand system calls, small enough not to matter next to the report.
const FILE_BUFFER: usize = 256 * 1024;

fn write_atomically(
    download: Download,
    doc: &ReportDocument,
    path: &Path,
) -> Result<(), RenderError> {
    replace_file(path, |out| write_download(download, doc, out))
}

/// Replaces `path` with what `write` writes, atomically: a reader sees the previous
/// complete file or the new complete one, never a torn mix.
///
/// The content goes to a hidden temporary file beside `path`, which is synced and then
/// renamed over it (rename within a directory is atomic). On failure the temporary file
/// is removed and `path` is left as it was.
pub fn replace_file<E: From<io::Error>>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), E>,
) -> Result<(), E> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{} names no file", path.display())))?;
    let (tmp_path, file) = create_temp(dir, &name.to_string_lossy())?;
    let result = (|| {
        let mut out = BufWriter::with_capacity(FILE_BUFFER, file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        // Synced before the rename so that after a crash the new name never points at
        // data that did not reach the disk.
        file.sync_all()?;
        fs::rename(&tmp_path, path)?;
        Ok(())
    })();
    if result.is_err() {
        // Best effort: the error being returned matters more than a leftover hidden file.
        let _ = fs::remove_file(&tmp_path);
    }
    result
}

/// Creates `.<name>.tmp-<pid>-<nanos>` in `dir`, exclusively.
///
/// The pid alone is not unique enough: in containers the reporter is often pid 1 in
/// every run, and two pods may share an output volume. `create_new` turns any remaining
/// clash into an error instead of two writers sharing one file.
fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp_path = dir.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp_path)?;
    Ok((tmp_path, file))
}

/// Writes `doc` as one JSON line (the NDJSON `compliancectl import benchmarks` reads) to
/// `path`, or to standard output for `-`. A file is replaced atomically
/// ([`replace_file`]), so a reader never sees half a document.
pub fn write_document(doc: &BenchmarkDocument, path: &Path) -> io::Result<()> {
    let mut line = serde_json::to_vec(doc).map_err(io::Error::other)?;
    line.push(b'\n');
    if path == Path::new("-") {
        let mut out = io::stdout().lock();
        out.write_all(&line)?;
        return out.flush();
    }
    replace_file(path, |out| out.write_all(&line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use compliance_core::model::TestStatus;
    use compliance_core::report::{ReportRequest, compute_report};
    use compliance_testkit::fixtures::{self, END, START, document, result, t, text};

    /// A small report with a failure, so that every download has rows.
    fn report() -> ReportDocument {
        let pass = text(
            "1.1",
            "1.1.1",
            "Ensure the pod spec file is 600",
            "chmod 600",
        );
        let fail = text(
            "1.1",
            "1.1.2",
            "Ensure the pod spec file is owned by root",
            "chown",
        );
        let docs = ["node-a", "node-b"].map(|node| {
            document(
                node,
                "2026-11-25T12:00:00Z",
                vec![
                    result(&pass, TestStatus::Pass),
                    result(&fail, TestStatus::Fail),
                ],
            )
        });
        let (report, report_type) = (fixtures::daily_report(), fixtures::cis_benchmark_type());
        let request = ReportRequest {
            report: &report,
            report_type: &report_type,
            start: t(START),
            end: t(END),
            generation_time: t(END),
            cluster: "cluster",
            reporter_version: "test",
        };
        compute_report(request, docs).unwrap().0
    }

    #[test]
    fn write_all_writes_complete_files_and_no_leftovers() {
        let doc = report();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("reports/daily");
        let paths = write_all(&doc, &out, Download::all()).unwrap();
        assert_eq!(paths.len(), 5);
        for (path, &download) in paths.iter().zip(Download::all()) {
            assert_eq!(path, &out.join(download.file_name()));
            let mut expected = Vec::new();
            write_download(download, &doc, &mut expected).unwrap();
            assert_eq!(std::fs::read(path).unwrap(), expected);
        }
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "all-tests.csv",
                "failed-tests.csv",
                "node-summary.csv",
                "total-summary.csv",
                "ui-summary.json"
            ]
        );
    }

    #[test]
    fn write_all_failure_names_the_file_and_removes_the_temporary() {
        let doc = report();
        let dir = tempfile::tempdir().unwrap();
        // A directory where the download should go makes the final rename fail after the
        // whole file was written: the worst moment for a leftover.
        std::fs::create_dir(dir.path().join("all-tests.csv")).unwrap();
        let err = write_all(
            &doc,
            dir.path(),
            &[Download::NodeSummary, Download::AllTests],
        )
        .unwrap_err();
        assert_eq!(err.path, dir.path().join("all-tests.csv"));
        assert!(err.to_string().contains("all-tests.csv"), "{err}");
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["all-tests.csv", "node-summary.csv"]);
        assert!(dir.path().join("all-tests.csv").is_dir());
    }
}
