//! One benchmark run: kube-bench's output, or the reason there is none, as a document.
//!
//! Every run ends in a document, so a node whose checks cannot run shows up in the
//! report as LOW with the reason (docs/spec.md §4 rates an errored node LOW) instead of silently
//! missing. The only exception is a run stopped by shutdown: that says nothing about the
//! node, so nothing is stored.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use compliance_core::import::kube_bench::{
    KUBE_TYPE, KubeBenchOptions, build_document, parse_kube_bench,
};
use compliance_core::import::{MAX_SIZE_VARIABLE, size_text};
use compliance_core::model::{BenchmarkDocument, TestStatus, TextInterner};
use compliance_core::time::truncate_to_seconds;
use compliance_core::version::KubernetesVersion;

use crate::config::KubeBenchCommand;
use crate::process::{self, Captured, Limits, RunError};

/// How much of kube-bench's standard error goes into an `error` field: enough for its
/// last message, short enough for a CSV cell.
const ERROR_DETAIL: usize = 400;

/// What is known about the node's Kubernetes version before the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeVersion {
    /// A release version; `source` says where it came from, for logs.
    Known {
        version: KubernetesVersion,
        source: String,
    },
    /// Not found; the text says what was searched and how to fix it.
    Unknown(String),
}

/// The facts kube-bench's output does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub node_name: String,
    pub cluster: String,
    /// When the run started: the document's `timestamp`.
    pub started: DateTime<Utc>,
}

/// A finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub document: BenchmarkDocument,
    /// Things worth a warning in the log that did not make the run fail.
    pub warnings: Vec<String>,
}

/// Runs kube-bench once with `args` (unless the version is unknown) and turns the result
/// into a document; `None` when `cancel` stopped it.
pub async fn run(
    command: &KubeBenchCommand,
    args: &[String],
    timeout: Duration,
    version: &KubeVersion,
    labels: &Labels,
    cancel: &mut watch::Receiver<bool>,
) -> Option<Outcome> {
    let known = match version {
        KubeVersion::Known { version, .. } => version,
        KubeVersion::Unknown(reason) => {
            // kube-bench would have to guess the benchmark, and the report could not
            // select the node by version: the node is reported with the reason instead.
            return Some(Outcome {
                document: errored(labels, "", reason.clone()),
                warnings: Vec::new(),
            });
        }
    };
    tracing::debug!(program = %command.program, ?args, "running kube-bench");
    let limits = Limits {
        timeout,
        max_stdout: usize::try_from(command.max_output).unwrap_or(usize::MAX),
    };
    let result = process::run(OsStr::new(&command.program), args, limits, cancel).await;
    if matches!(result, Err(RunError::Cancelled { .. })) {
        return None;
    }
    Some(outcome(command, known, labels, result))
}

/// The document for kube-bench's result: its parsed output when it printed usable
/// results, otherwise an errored document saying why.
///
/// A non-zero exit with complete results is kept (kube-bench's `--exit-code` makes it
/// exit non-zero whenever a check fails), with a warning.
pub fn outcome(
    command: &KubeBenchCommand,
    version: &KubernetesVersion,
    labels: &Labels,
    result: Result<Captured, RunError>,
) -> Outcome {
    let program = &command.program;
    let kubernetes_version = version.to_string();
    let captured = match result {
        Ok(c) => c,
        Err(e) => {
            let error = run_error_text(command, &e);
            return Outcome {
                document: errored(labels, &kubernetes_version, error),
                warnings: Vec::new(),
            };
        }
    };
    let mut interner = TextInterner::new();
    let parsed = parse_kube_bench(
        Path::new("kube-bench's output"),
        &captured.stdout,
        &mut interner,
    );
    let status = exit_text(&captured);
    let run = match parsed {
        Ok(run) => run,
        Err(e) => {
            let mut error = match &status {
                Some(status) => format!("{program} {status}"),
                None => format!("{program} printed no usable results"),
            };
            error.push_str(&format!(": {e}"));
            if !captured.stderr.is_empty() {
                error.push_str(&format!(
                    "; its last messages: {}",
                    one_line(&captured.stderr)
                ));
            }
            return Outcome {
                document: errored(labels, &kubernetes_version, error),
                warnings: Vec::new(),
            };
        }
    };
    let mut options = KubeBenchOptions::new(labels.node_name.clone(), labels.started);
    options.kubernetes_version = Some(version.clone());
    options.cluster = labels.cluster.clone();
    match build_document(vec![run], &options) {
        Ok(imported) => {
            let mut warnings: Vec<String> =
                imported.warnings.iter().map(ToString::to_string).collect();
            if let Some(status) = status {
                warnings.push(format!(
                    "{program} {status} but printed complete results; they are stored"
                ));
            }
            Outcome {
                document: imported.document,
                warnings,
            }
        }
        // Only an empty node name fails here, and the configuration refuses that; kept
        // as an errored document rather than a panic all the same.
        Err(e) => Outcome {
            document: errored(labels, &kubernetes_version, e.to_string()),
            warnings: Vec::new(),
        },
    }
}

/// An errored document (docs/spec.md §3: `error` set, no tests).
pub fn errored(labels: &Labels, kubernetes_version: &str, error: String) -> BenchmarkDocument {
    BenchmarkDocument {
        version: String::new(),
        kubernetes_version: kubernetes_version.to_string(),
        kind: KUBE_TYPE.to_string(),
        node_name: labels.node_name.clone(),
        timestamp: truncate_to_seconds(labels.started),
        error,
        tests: Vec::new(),
        cluster: labels.cluster.clone(),
        platform: String::new(),
        kube_bench_version: String::new(),
        benchmarker_version: String::new(),
        benchmark_choice: String::new(),
    }
}

/// `exited with status 2` / `was killed by signal 9`, or `None` for a clean exit.
fn exit_text(captured: &Captured) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    if captured.status.success() {
        return None;
    }
    Some(match (captured.status.code(), captured.status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(9)) => "was killed by signal 9 (SIGKILL; out of memory?)".to_string(),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended with {}", captured.status),
    })
}

/// The `error` text for a run that produced no output to parse.
fn run_error_text(command: &KubeBenchCommand, e: &RunError) -> String {
    let program = &command.program;
    match e {
        RunError::NotFound { .. } => {
            let place = if program.contains('/') {
                "does not exist (or its interpreter is missing)".to_string()
            } else {
                format!("is not in PATH ({})", command.path)
            };
            format!(
                "kube-bench not found: KUBE_BENCH_PATH={program} {place}; the benchmarker \
                 image installs it as /usr/local/bin/kube-bench, elsewhere install kube-bench \
                 or set KUBE_BENCH_PATH to its path"
            )
        }
        RunError::Spawn { error, .. } => {
            format!("kube-bench could not be started: KUBE_BENCH_PATH={program}: {error}")
        }
        RunError::TimedOut { after, stderr, .. } => {
            let mut text = format!(
                "kube-bench did not finish within {} (BENCHMARK_TIMEOUT) and was stopped",
                humantime::format_duration(*after)
            );
            if !stderr.is_empty() {
                text.push_str(&format!("; its last messages: {}", one_line(stderr)));
            }
            text
        }
        RunError::TooMuchOutput { limit, .. } => format!(
            "kube-bench output is larger than the limit of {} set by {} and kube-bench was \
             stopped; is KUBE_BENCH_PATH={program} kube-bench?",
            size_text(*limit as u64),
            MAX_SIZE_VARIABLE
        ),
        RunError::Read { error, .. } => format!("reading kube-bench's output failed: {error}"),
        RunError::Cancelled { .. } => "kube-bench was stopped by shutdown".to_string(),
    }
}

/// Text on one line (blanks and line breaks collapsed), at most [`ERROR_DETAIL`]
/// characters, keeping the end, where a program's final message is.
fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let count = joined.chars().count();
    if count <= ERROR_DETAIL {
        return joined;
    }
    let tail: String = joined.chars().skip(count - ERROR_DETAIL).collect();
    format!("…{tail}")
}

/// Counts of each status, for summaries: (pass, fail, warn, info, not observed).
pub fn status_counts(doc: &BenchmarkDocument) -> (usize, usize, usize, usize, usize) {
    let mut counts = (0, 0, 0, 0, 0);
    for t in &doc.tests {
        match t.status {
            TestStatus::Pass => counts.0 += 1,
            TestStatus::Fail => counts.1 += 1,
            TestStatus::Warn => counts.2 += 1,
            TestStatus::Info => counts.3 += 1,
            TestStatus::NotObserved => counts.4 += 1,
            TestStatus::Other(_) => {}
        }
    }
    counts
}

/// A one-line description of a document, for the log and `--once`.
pub fn describe(doc: &BenchmarkDocument) -> String {
    if doc.is_errored() {
        return format!(
            "node {} at {}: ERROR: {}",
            doc.node_name,
            compliance_core::time::format(&doc.timestamp),
            doc.error
        );
    }
    let (pass, fail, warn, info, unobserved) = status_counts(doc);
    format!(
        "node {} at {}: benchmark {}, Kubernetes {}, {} tests: {pass} PASS, {fail} FAIL, \
         {warn} WARN, {info} INFO, {unobserved} NOT_OBSERVED",
        doc.node_name,
        compliance_core::time::format(&doc.timestamp),
        if doc.version.is_empty() {
            "unknown"
        } else {
            &doc.version
        },
        doc.kubernetes_version,
        doc.tests.len(),
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    use chrono::TimeZone;

    use super::*;

    fn labels() -> Labels {
        Labels {
            node_name: "node-1".into(),
            cluster: "cluster".into(),
            started: Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
                + chrono::Duration::milliseconds(250),
        }
    }

    fn command() -> KubeBenchCommand {
        KubeBenchCommand {
            program: "kube-bench".into(),
            args: vec!["--json".into()],
            path: "/usr/local/bin:/usr/bin".into(),
            max_output: compliance_core::import::DEFAULT_MAX_SIZE,
        }
    }

    fn captured(code: i32, stdout: &str, stderr: &str) -> Captured {
        Captured {
            status: ExitStatus::from_raw(code << 8),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.into(),
        }
    }

    fn release() -> KubernetesVersion {
        "v1.29.3-eks-1a2b3c".parse().unwrap()
    }

    const ONE_CONTROL: &str = r#"{"Controls":[{"id":"4","version":"cis-1.9","detected_version":"1.29","text":"Worker Node Security Configuration","node_type":"node","tests":[{"section":"4.1","desc":"Worker Node Configuration Files","results":[{"test_number":"4.1.1","test_desc":"Ensure that the kubelet service file permissions are set to 600","test_info":["chmod 600 /etc/systemd/system/kubelet.service.d/10-kubeadm.conf"],"status":"PASS","scored":true},{"test_number":"4.1.2","test_desc":"Ensure that the kubelet service file ownership is set to root:root","test_info":["chown root:root x"],"status":"FAIL","scored":true}]}]}],"Totals":{}}"#;

    #[test]
    fn good_output_becomes_the_nodes_document_with_the_detected_version() {
        let o = outcome(
            &command(),
            &release(),
            &labels(),
            Ok(captured(0, ONE_CONTROL, "")),
        );
        let d = &o.document;
        assert!(!d.is_errored());
        assert_eq!(d.node_name, "node-1");
        assert_eq!(d.version, "cis-1.9");
        // Ours, not kube-bench's MAJOR.MINOR detected_version.
        assert_eq!(d.kubernetes_version, "1.29.3");
        assert_eq!(
            d.timestamp,
            Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
        );
        assert_eq!(d.tests.len(), 2);
        assert_eq!(status_counts(d), (1, 1, 0, 0, 0));
        assert!(o.warnings.is_empty(), "{:?}", o.warnings);
    }

    #[test]
    fn a_non_zero_exit_with_complete_results_keeps_them_with_a_warning() {
        let o = outcome(
            &command(),
            &release(),
            &labels(),
            Ok(captured(1, ONE_CONTROL, "")),
        );
        assert!(!o.document.is_errored());
        assert!(
            o.warnings[0].contains("exited with status 1"),
            "{:?}",
            o.warnings
        );
    }

    #[test]
    fn a_crash_is_an_errored_document_with_the_status_and_last_message() {
        let o = outcome(
            &command(),
            &release(),
            &labels(),
            Ok(captured(
                2,
                "",
                "I1126 loading\nF1126 config file not found:\n  cfg/config.yaml",
            )),
        );
        let d = &o.document;
        assert!(d.is_errored());
        assert!(d.tests.is_empty());
        assert_eq!(d.kubernetes_version, "1.29.3");
        assert!(
            d.error.starts_with("kube-bench exited with status 2: "),
            "{}",
            d.error
        );
        assert!(
            d.error.ends_with("config file not found: cfg/config.yaml"),
            "{}",
            d.error
        );
        assert!(!d.error.contains('\n'));
    }

    #[test]
    fn garbage_output_is_an_errored_document_naming_the_problem() {
        let o = outcome(
            &command(),
            &release(),
            &labels(),
            Ok(captured(0, "<html>oops", "")),
        );
        assert!(
            o.document.error.contains("printed no usable results"),
            "{}",
            o.document.error
        );
        assert!(
            o.document.error.contains("not JSON"),
            "{}",
            o.document.error
        );
        let o = outcome(
            &command(),
            &release(),
            &labels(),
            Ok(captured(0, "[PASS] 1.1.1 x", "")),
        );
        assert!(o.document.error.contains("--json"), "{}", o.document.error);
    }

    #[test]
    fn a_timeout_is_an_errored_document_naming_benchmark_timeout() {
        let err = RunError::TimedOut {
            program: "kube-bench".into(),
            after: Duration::from_secs(300),
            stderr: "waiting for etcd".into(),
        };
        let o = outcome(&command(), &release(), &labels(), Err(err));
        assert_eq!(
            o.document.error,
            "kube-bench did not finish within 5m (BENCHMARK_TIMEOUT) and was stopped; its \
             last messages: waiting for etcd"
        );
    }

    #[test]
    fn output_over_the_limit_is_stored_as_an_error_naming_the_limit_and_its_variable() {
        let err = RunError::TooMuchOutput {
            program: "kube-bench".into(),
            limit: 2 << 20,
        };
        let o = outcome(&command(), &release(), &labels(), Err(err));
        assert!(o.document.tests.is_empty());
        assert!(
            o.document.error.starts_with(
                "kube-bench output is larger than the limit of 2 MiB set by \
                 KUBE_BENCH_MAX_OUTPUT"
            ),
            "{}",
            o.document.error
        );
    }

    #[test]
    fn a_missing_kube_bench_names_kube_bench_path() {
        let cmd = KubeBenchCommand {
            program: "/opt/none/kube-bench".into(),
            ..command()
        };
        let err = RunError::NotFound {
            program: cmd.program.clone(),
        };
        let o = outcome(&cmd, &release(), &labels(), Err(err));
        assert!(
            o.document.error.starts_with(
                "kube-bench not found: KUBE_BENCH_PATH=/opt/none/kube-bench does not exist"
            ),
            "{}",
            o.document.error
        );
    }

    #[test]
    fn an_unknown_version_stores_the_reason_without_running_kube_bench() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cmd = KubeBenchCommand {
            // Would fail loudly if it were run.
            program: "/nonexistent".into(),
            ..command()
        };
        let o = rt
            .block_on(run(
                &cmd,
                &[],
                Duration::from_secs(5),
                &KubeVersion::Unknown("no kubelet or kubectl found".into()),
                &labels(),
                &mut process::never_cancelled(),
            ))
            .unwrap();
        assert_eq!(o.document.error, "no kubelet or kubectl found");
        assert_eq!(o.document.kubernetes_version, "");
    }

    #[test]
    fn long_messages_keep_their_end_on_one_line() {
        let long = format!("{}\nthe real reason", "x ".repeat(1000));
        let line = one_line(&long);
        assert!(line.chars().count() <= ERROR_DETAIL + 1);
        assert!(line.ends_with("the real reason"));
        assert!(line.starts_with('…'));
    }
}
