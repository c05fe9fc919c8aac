//! kube-bench `--json` output → benchmark documents (docs/spec.md §3).
//!
//! kube-bench has printed its results in three shapes over the years, and all of them are
//! still found in CI artefacts and scanners' test data:
//!
//! - up to v0.3.x, one JSON object per controls file, one per line;
//! - v0.4.x, a bare array of controls;
//! - from v0.5.0, `{"Controls": [...], "Totals": {...}}`.
//!
//! The input is read as a stream of JSON values, so concatenated or line-separated values
//! of any of these shapes are accepted. Only the keys the document needs are read; the
//! many others (`audit`, `AuditEnv`, `reason`, ...) are ignored, and key order does not
//! matter.
//!
//! `actual_value` is read for one decision: kube-bench prints there what the check's
//! audit command printed. A PASS whose audit printed nothing observed nothing (the file
//! is not there, the process is not running: checks written "X is not present, or its
//! permissions are 600" pass on an empty output), and becomes [`TestStatus::NotObserved`]
//! (docs/spec.md §3). Releases before v0.5 left `actual_value` empty even where the
//! audit did print something, so the rule applies only to a run in which at least one
//! result has a non-empty `actual_value`: a run that never shows evidence cannot tell an
//! absent file from an old kube-bench, and its PASSes stay as kube-bench printed them.
//!
//! kube-bench does not print the node name or the time of the run, and only newer
//! versions print the Kubernetes version, so [`KubeBenchOptions`] supplies them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::ImportError;
use crate::model::benchmark::DEFAULT_CLUSTER;
use crate::model::{BenchmarkDocument, BenchmarkTest, TestStatus, TestText, TextInterner};
use crate::time::truncate_to_seconds;
use crate::version::KubernetesVersion;

/// The document `type` of every Kubernetes CIS run (docs/spec.md §3).
pub const KUBE_TYPE: &str = "kube";

/// How to label the document built from kube-bench output, which does not carry these
/// facts itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeBenchOptions {
    /// The node the checks ran on. Required: reports are per node. The CLI defaults it to
    /// this host's name.
    pub node_name: String,
    /// When the checks ran. Stored truncated to whole seconds, the precision every other
    /// time in the product has.
    pub timestamp: DateTime<Utc>,
    /// Kubernetes version to record instead of kube-bench's `detected_version`. Default
    /// `None`: use the detected version. Stored in its one spelling (`1.29.3`).
    pub kubernetes_version: Option<KubernetesVersion>,
    /// The `cluster` field. Default `cluster`, the ELASTIC_INDEX_SUFFIX default.
    pub cluster: String,
}

impl KubeBenchOptions {
    /// Options with no Kubernetes version override and the default cluster.
    pub fn new(node_name: impl Into<String>, timestamp: DateTime<Utc>) -> Self {
        Self {
            node_name: node_name.into(),
            timestamp,
            kubernetes_version: None,
            cluster: DEFAULT_CLUSTER.to_string(),
        }
    }
}

/// One kube-bench output file, parsed but not yet labelled with a node.
///
/// Kept separate from the document so that several files of one node (separate master
/// and node runs) can be merged by [`build_document`].
#[derive(Debug, Clone)]
pub struct KubeBenchRun {
    /// Where the output was read from, for messages.
    pub source: PathBuf,
    /// The benchmark version of the first control that has one, normalised by
    /// [`normalise_benchmark_version`]; empty when no control has one.
    pub benchmark_version: String,
    /// kube-bench's `detected_version` as printed by the first control that has the key
    /// (kube-bench v0.6.2 and later), e.g. `"1.25"` or `"none"`.
    pub detected_version: Option<String>,
    /// Every result, in file order.
    pub tests: Vec<BenchmarkTest>,
    /// Oddities found in this file that the caller should pass on to the user.
    pub warnings: Vec<ImportWarning>,
}

impl KubeBenchRun {
    /// The detected Kubernetes version when it is a version number (`1.25`, `v1.25.3`),
    /// without the leading `v`. kube-bench prints `"none"` when it was told which
    /// benchmark to run and so never asked the API server.
    pub fn detected_kubernetes_version(&self) -> Option<KubernetesVersion> {
        self.detected_version
            .as_deref()
            .and_then(|v| KubernetesVersion::parse(v).ok())
    }
}

/// A finished document and what the caller should tell the user about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub document: BenchmarkDocument,
    pub warnings: Vec<ImportWarning>,
}

/// Something that did not stop the import but makes the document less useful than it
/// could be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportWarning {
    /// No Kubernetes version was given or detected, so `kubernetesVersion` is empty and
    /// `resultsFilters` that select by Kubernetes version will not match the node.
    /// `detected` is kube-bench's `detected_version` when it printed one.
    UnknownKubernetesVersion { detected: Option<String> },
    /// No control carried a benchmark version, so `version` is empty.
    UnknownBenchmarkVersion,
    /// Controls of one node name different benchmark versions; the first is kept
    /// because a document has one version.
    BenchmarkVersionMismatch {
        path: PathBuf,
        kept: String,
        ignored: String,
    },
    /// Controls of one node detected different Kubernetes versions; the first is kept.
    KubernetesVersionMismatch {
        path: PathBuf,
        kept: String,
        ignored: String,
    },
}

impl fmt::Display for ImportWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportWarning::UnknownKubernetesVersion { detected } => {
                match detected {
                    Some(d) => write!(
                        f,
                        "kube-bench did not detect the Kubernetes version \
                         (detected_version {d:?})"
                    )?,
                    None => write!(
                        f,
                        "the kube-bench output has no detected_version (kube-bench before \
                         v0.6.2)"
                    )?,
                }
                write!(
                    f,
                    "; kubernetesVersion is left empty, so resultsFilters selecting a \
                     kubernetesVersion will not match this node; pass --k8s-version"
                )
            }
            ImportWarning::UnknownBenchmarkVersion => write!(
                f,
                "the kube-bench output names no benchmark version; the document's version \
                 is left empty"
            ),
            ImportWarning::BenchmarkVersionMismatch {
                path,
                kept,
                ignored,
            } => write!(
                f,
                "{}: benchmark version {ignored:?} differs from {kept:?} of the same node; \
                 the document keeps {kept:?}",
                path.display()
            ),
            ImportWarning::KubernetesVersionMismatch {
                path,
                kept,
                ignored,
            } => write!(
                f,
                "{}: detected Kubernetes version {ignored:?} differs from {kept:?} of the \
                 same node; the document keeps {kept:?}",
                path.display()
            ),
        }
    }
}

/// Gives one benchmark one name across kube-bench versions.
///
/// Until v0.6.2 kube-bench printed bare numbers: first the Kubernetes version a
/// benchmark was written for (`1.7`, `1.8`, `1.11`, `1.13`, later renamed `cis-1.1` to
/// `cis-1.4`), then the CIS version itself (`1.5`, `1.6`, later `cis-1.5`, `cis-1.6`).
/// The Kubernetes-numbered ones are mapped to the CIS name kube-bench later gave the
/// same checks (`1.11` must not become `cis-1.11`, a different, newer benchmark); other
/// bare numbers get a `cis-` prefix. Everything else (`cis-1.23`, `eks-1.0`, `gke-1.2.0`)
/// is kept as printed, trimmed.
pub fn normalise_benchmark_version(raw: &str) -> String {
    let v = raw.trim();
    match v {
        "1.7" => "cis-1.1".to_string(),
        "1.8" => "cis-1.2".to_string(),
        "1.11" => "cis-1.3".to_string(),
        "1.13" => "cis-1.4".to_string(),
        _ if is_dotted_number(v) => format!("cis-{v}"),
        _ => v.to_string(),
    }
}

fn is_dotted_number(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

/// Parses kube-bench `--json` output of any shape; `source` names it in messages.
///
/// Fails when the input is not kube-bench JSON, has no results, or a result lacks its
/// `test_number` or `status`: a silently shortened document would rate a node on checks
/// it did not pass. Never panics.
pub fn parse_kube_bench(
    source: &Path,
    input: &[u8],
    interner: &mut TextInterner,
) -> Result<KubeBenchRun, ImportError> {
    // Some Windows tools write a UTF-8 byte order mark, which JSON does not allow.
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let start = input.trim_ascii_start();
    if start.is_empty() {
        return Err(ImportError::Empty {
            path: source.to_path_buf(),
        });
    }
    if [b"[INFO]", b"[PASS]", b"[FAIL]", b"[WARN]"]
        .iter()
        .any(|tag| start.starts_with(*tag))
    {
        return Err(ImportError::TextOutput {
            path: source.to_path_buf(),
        });
    }

    let mut builder = RunBuilder::new(source, interner);
    // Why the input yielded no controls, for the error when none of its values did.
    let mut why_empty = "it holds no JSON value";
    let stream = serde_json::Deserializer::from_slice(input).into_iter::<Value>();
    for (index, value) in stream.enumerate() {
        let value = value.map_err(|e| json_error(source, &e))?;
        match value {
            Value::Array(controls) => {
                why_empty = "it is an empty array";
                for control in controls {
                    builder.add_control(control)?;
                }
            }
            Value::Object(mut map) => match map.remove("Controls") {
                Some(Value::Array(controls)) => {
                    why_empty = "its Controls list is empty";
                    for control in controls {
                        builder.add_control(control)?;
                    }
                }
                // Go prints a nil slice as null: a run that selected no targets.
                Some(Value::Null) => why_empty = "its Controls list is empty",
                Some(other) => {
                    return Err(ImportError::InvalidValue {
                        path: source.to_path_buf(),
                        location: format!("JSON value {}, at Controls", index + 1),
                        message: format!(
                            "expected an array of controls, found {}",
                            describe(&other)
                        ),
                    });
                }
                None if map.contains_key("tests") => builder.add_control(Value::Object(map))?,
                None => {
                    return Err(not_controls(source, index, &Value::Object(map)));
                }
            },
            other => return Err(not_controls(source, index, &other)),
        }
    }
    builder.finish(why_empty)
}

fn not_controls(source: &Path, index: usize, value: &Value) -> ImportError {
    ImportError::NoControls {
        path: source.to_path_buf(),
        detail: format!(
            "JSON value {} is {}, not kube-bench controls",
            index + 1,
            describe(value)
        ),
    }
}

/// What a JSON value is, in words, for messages.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(a) if a.is_empty() => "an empty array",
        Value::Array(_) => "an array",
        Value::Object(m) if m.is_empty() => "an empty object",
        Value::Object(_) => "an object without `Controls` or `tests`",
    }
}

fn json_error(source: &Path, e: &serde_json::Error) -> ImportError {
    let text = e.to_string();
    // serde_json appends the position to its message; it is reported in fields instead.
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text).to_string();
    ImportError::NotJson {
        path: source.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message,
    }
}

/// A kube-bench controls object (one benchmark target: master, node, etcd, ...).
///
/// Fields are optional so that a missing one is reported by name and place, which
/// serde's own "missing field" cannot do. Go prints nil slices as `null`, which `Option`
/// also absorbs.
#[derive(Deserialize)]
#[serde(rename = "kube-bench control")]
struct RawControl {
    version: Option<String>,
    detected_version: Option<String>,
    tests: Option<Vec<RawGroup>>,
}

/// A group of checks: one section of the benchmark.
#[derive(Deserialize)]
#[serde(rename = "kube-bench group")]
struct RawGroup {
    section: Option<String>,
    desc: Option<String>,
    results: Option<Vec<RawResult>>,
}

/// One check's result.
#[derive(Deserialize)]
#[serde(rename = "kube-bench result")]
struct RawResult {
    test_number: Option<String>,
    test_desc: Option<String>,
    test_info: Option<Vec<String>>,
    status: Option<String>,
    scored: Option<bool>,
    actual_value: Option<String>,
}

/// Accumulates the controls of one input into a [`KubeBenchRun`].
struct RunBuilder<'a> {
    source: &'a Path,
    interner: &'a mut TextInterner,
    controls: usize,
    run: KubeBenchRun,
    /// Indexes into `run.tests` of PASSes whose audit printed nothing.
    passed_unobserved: Vec<usize>,
    /// Whether any result of the run printed an `actual_value`: whether this kube-bench
    /// reports evidence at all.
    shows_evidence: bool,
}

impl<'a> RunBuilder<'a> {
    fn new(source: &'a Path, interner: &'a mut TextInterner) -> Self {
        Self {
            source,
            interner,
            controls: 0,
            passed_unobserved: Vec::new(),
            shows_evidence: false,
            run: KubeBenchRun {
                source: source.to_path_buf(),
                benchmark_version: String::new(),
                detected_version: None,
                tests: Vec::new(),
                warnings: Vec::new(),
            },
        }
    }

    fn add_control(&mut self, value: Value) -> Result<(), ImportError> {
        self.controls += 1;
        // Named by kube-bench's id ("1" = master, "4" = node) when it has one, else by
        // position, so that an error points at something the user can find in the file.
        let name = match value.get("id").and_then(Value::as_str) {
            Some(id) => format!("control {id}"),
            None => format!("control #{}", self.controls),
        };
        if value.is_object() && value.get("tests").is_none() {
            return Err(self.missing("tests", name));
        }
        let control: RawControl =
            serde_path_to_error::deserialize(value).map_err(|e| ImportError::InvalidValue {
                path: self.source.to_path_buf(),
                location: if e.path().iter().next().is_some() {
                    format!("{name}, at {}", e.path())
                } else {
                    name.clone()
                },
                message: e.inner().to_string(),
            })?;

        let version = control.version.as_deref().map(normalise_benchmark_version);
        if let Some(v) = version.filter(|v| !v.is_empty()) {
            if self.run.benchmark_version.is_empty() {
                self.run.benchmark_version = v;
            } else if self.run.benchmark_version != v {
                let w = ImportWarning::BenchmarkVersionMismatch {
                    path: self.source.to_path_buf(),
                    kept: self.run.benchmark_version.clone(),
                    ignored: v,
                };
                push_unique(&mut self.run.warnings, w);
            }
        }
        self.note_detected_version(control.detected_version);

        for (g, group) in control.tests.unwrap_or_default().into_iter().enumerate() {
            let section = match group.section {
                Some(s) if !s.trim().is_empty() => s,
                _ => return Err(self.missing("section", format!("{name}, group #{}", g + 1))),
            };
            let section_desc = group.desc.unwrap_or_default();
            for (r, result) in group.results.unwrap_or_default().into_iter().enumerate() {
                let test_number = match result.test_number {
                    Some(n) if !n.trim().is_empty() => n,
                    _ => {
                        let at = format!("{name}, group {section}, result #{}", r + 1);
                        return Err(self.missing("test_number", at));
                    }
                };
                let status = match result.status {
                    Some(s) if !s.trim().is_empty() => TestStatus::parse(&s),
                    _ => {
                        let at = format!("{name}, group {section}, test {test_number}");
                        return Err(self.missing("status", at));
                    }
                };
                match result.actual_value.as_deref().map(str::trim) {
                    Some("") if status == TestStatus::Pass => {
                        self.passed_unobserved.push(self.run.tests.len());
                    }
                    Some("") | None => {}
                    Some(_) => self.shows_evidence = true,
                }
                let test_desc = result.test_desc.unwrap_or_default();
                let scored = result
                    .scored
                    .unwrap_or_else(|| scored_from_description(&test_desc));
                // The first element is the whole remediation text, newlines included;
                // kube-bench only ever puts one element in the array.
                let test_info = result
                    .test_info
                    .and_then(|info| info.into_iter().next())
                    .unwrap_or_default();
                let text = self.interner.intern(Arc::new(TestText {
                    section: section.clone(),
                    section_desc: section_desc.clone(),
                    test_number,
                    test_desc,
                    test_info,
                }));
                self.run.tests.push(BenchmarkTest {
                    text,
                    status,
                    scored,
                });
            }
        }
        Ok(())
    }

    /// Keeps the first `detected_version`; a later, different real version is reported
    /// because one node cannot run two Kubernetes versions at once.
    fn note_detected_version(&mut self, detected: Option<String>) {
        let Some(detected) = detected else { return };
        let Some(first) = &self.run.detected_version else {
            self.run.detected_version = Some(detected);
            return;
        };
        match (
            KubernetesVersion::parse(first).ok(),
            KubernetesVersion::parse(&detected).ok(),
        ) {
            // "none" first and a real version later: the real one is worth keeping.
            (None, Some(_)) => self.run.detected_version = Some(detected),
            (Some(kept), Some(ignored)) if kept.to_string() != ignored.to_string() => {
                let w = ImportWarning::KubernetesVersionMismatch {
                    path: self.source.to_path_buf(),
                    kept: kept.to_string(),
                    ignored: ignored.to_string(),
                };
                push_unique(&mut self.run.warnings, w);
            }
            _ => {}
        }
    }

    fn missing(&self, key: &'static str, location: String) -> ImportError {
        ImportError::MissingKey {
            path: self.source.to_path_buf(),
            key,
            location,
        }
    }

    fn finish(mut self, why_empty: &str) -> Result<KubeBenchRun, ImportError> {
        if self.controls == 0 {
            return Err(ImportError::NoControls {
                path: self.source.to_path_buf(),
                detail: why_empty.to_string(),
            });
        }
        if self.run.tests.is_empty() {
            return Err(ImportError::NoResults {
                path: self.source.to_path_buf(),
            });
        }
        if self.shows_evidence {
            for &i in &self.passed_unobserved {
                self.run.tests[i].status = TestStatus::NotObserved;
            }
        }
        self.run.tests.shrink_to_fit();
        Ok(self.run)
    }
}

/// kube-bench has printed `scored` since v0.0.27; earlier output only says it in the
/// description, as CIS writes it: "(Not Scored)" or, from CIS 1.6 on, "(Manual)".
/// Without either marker the check is taken as unscored, which is what kube-bench's own
/// Go types read from a missing key.
fn scored_from_description(desc: &str) -> bool {
    let desc = desc.trim_end();
    desc.ends_with("(Scored)") || desc.ends_with("(Automated)")
}

fn push_unique(warnings: &mut Vec<ImportWarning>, w: ImportWarning) {
    if !warnings.contains(&w) {
        warnings.push(w);
    }
}

/// The longest node name accepted, in bytes: Kubernetes names nodes with DNS-1123
/// subdomains, which are at most 253 characters.
pub const MAX_NODE_NAME_BYTES: usize = 253;

/// How much of a refused value an error quotes, in characters.
const QUOTED_CHARS: usize = 40;

/// Checks a node name before it labels a document: not blank, at most
/// [`MAX_NODE_NAME_BYTES`], and free of control characters and bidirectional-text
/// controls, which no Kubernetes node name has and which would reach terminals and logs.
///
/// Other characters, markup included, are carried as given: every output escapes them
/// for its format (docs/hostile-input.md), and names from other tools are not always
/// DNS-1123.
pub fn check_node_name(name: &str) -> Result<(), ImportError> {
    if name.trim().is_empty() {
        return Err(ImportError::EmptyNodeName);
    }
    let reason = if name.len() > MAX_NODE_NAME_BYTES {
        format!(
            "is {} bytes long; node names are at most {MAX_NODE_NAME_BYTES} bytes \
             (Kubernetes DNS-1123 subdomain names)",
            name.len()
        )
    } else if let Some(c) = name.chars().find(|&c| is_unprintable(c)) {
        format!("contains the control character {c:?}")
    } else {
        return Ok(());
    };
    Err(ImportError::InvalidNodeName {
        value: shorten(name),
        reason,
    })
}

/// Whether `c` is a control character (C0, DEL, C1) or a bidirectional-text control
/// (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069), which reorder the text around them.
pub fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `value` quoted for a message: escaped (Rust's `{:?}`), and cut to its first
/// [`QUOTED_CHARS`] characters with the full length said when longer.
pub fn shorten(value: &str) -> String {
    let count = value.chars().count();
    if count <= QUOTED_CHARS {
        return format!("{value:?}");
    }
    let head: String = value.chars().take(QUOTED_CHARS).collect();
    format!("{head:?}… ({} bytes)", value.len())
}

/// Builds one node's document from one or more parsed kube-bench outputs.
///
/// Tests keep input order, file after file; a test number that appears twice stays
/// twice (the report counts it once). The benchmark version and detected Kubernetes
/// version are the first found, with a warning for each file that disagrees. The
/// Kubernetes version is `options.kubernetes_version` when given, else the detected
/// one, else empty with [`ImportWarning::UnknownKubernetesVersion`].
pub fn build_document(
    runs: Vec<KubeBenchRun>,
    options: &KubeBenchOptions,
) -> Result<Imported, ImportError> {
    check_node_name(&options.node_name)?;
    let mut runs = runs.into_iter();
    let first = runs.next().ok_or_else(|| ImportError::NothingToMerge {
        node: options.node_name.clone(),
    })?;

    let mut warnings = Vec::new();
    let mut version = String::new();
    let mut detected: Option<KubernetesVersion> = None;
    let mut detected_raw: Option<String> = None;
    let mut tests = Vec::new();
    for run in std::iter::once(first).chain(runs) {
        for w in run.warnings.iter().cloned() {
            // --k8s-version decides the version, so disagreements among detected ones
            // (across files here, or within a file) do not matter.
            if options.kubernetes_version.is_some()
                && matches!(w, ImportWarning::KubernetesVersionMismatch { .. })
            {
                continue;
            }
            push_unique(&mut warnings, w);
        }
        if !run.benchmark_version.is_empty() {
            if version.is_empty() {
                version = run.benchmark_version.clone();
            } else if version != run.benchmark_version {
                let w = ImportWarning::BenchmarkVersionMismatch {
                    path: run.source.clone(),
                    kept: version.clone(),
                    ignored: run.benchmark_version.clone(),
                };
                push_unique(&mut warnings, w);
            }
        }
        match (&detected, run.detected_kubernetes_version()) {
            (None, Some(v)) => detected = Some(v),
            (Some(kept), Some(v))
                if kept.to_string() != v.to_string() && options.kubernetes_version.is_none() =>
            {
                let w = ImportWarning::KubernetesVersionMismatch {
                    path: run.source.clone(),
                    kept: kept.to_string(),
                    ignored: v.to_string(),
                };
                push_unique(&mut warnings, w);
            }
            _ => {}
        }
        if detected_raw.is_none() {
            detected_raw = run.detected_version.clone();
        }
        // Moving the first vector saves a copy in the common one-file case.
        if tests.is_empty() {
            tests = run.tests;
        } else {
            tests.extend(run.tests);
        }
    }

    let kubernetes_version = match options.kubernetes_version.clone().or(detected) {
        Some(v) => v.to_string(),
        None => {
            warnings.push(ImportWarning::UnknownKubernetesVersion {
                detected: detected_raw,
            });
            String::new()
        }
    };
    if version.is_empty() {
        warnings.push(ImportWarning::UnknownBenchmarkVersion);
    }

    let document = BenchmarkDocument {
        version,
        kubernetes_version,
        kind: KUBE_TYPE.to_string(),
        node_name: options.node_name.clone(),
        timestamp: truncate_to_seconds(options.timestamp),
        error: String::new(),
        tests,
        cluster: options.cluster.clone(),
        platform: String::new(),
        kube_bench_version: String::new(),
        benchmarker_version: String::new(),
        benchmark_choice: String::new(),
    };
    Ok(Imported { document, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Result<KubeBenchRun, ImportError> {
        parse_kube_bench(
            Path::new("in.json"),
            input.as_bytes(),
            &mut TextInterner::new(),
        )
    }

    fn control(id: &str, version: &str, tests: &[(&str, &str)]) -> String {
        let results: Vec<String> = tests
            .iter()
            .map(|(n, s)| {
                format!(
                    r#"{{"test_number":"{n}","test_desc":"d {n}","test_info":["fix {n}\nline 2"],"status":"{s}","scored":true}}"#
                )
            })
            .collect();
        format!(
            r#"{{"id":"{id}","version":"{version}","text":"t","node_type":"node","tests":[{{"section":"{id}.1","desc":"Section {id}.1","results":[{}]}}]}}"#,
            results.join(",")
        )
    }

    #[test]
    fn bare_numeric_benchmark_versions_get_their_later_names() {
        assert_eq!(normalise_benchmark_version("1.5"), "cis-1.5");
        assert_eq!(normalise_benchmark_version("1.6"), "cis-1.6");
        assert_eq!(normalise_benchmark_version(" 1.20 "), "cis-1.20");
        assert_eq!(normalise_benchmark_version("1.11"), "cis-1.3");
        assert_eq!(normalise_benchmark_version("1.13"), "cis-1.4");
        assert_eq!(normalise_benchmark_version("cis-1.23"), "cis-1.23");
        assert_eq!(normalise_benchmark_version("eks-1.0"), "eks-1.0");
        assert_eq!(normalise_benchmark_version("gke-1.2.0"), "gke-1.2.0");
        assert_eq!(normalise_benchmark_version(""), "");
    }

    #[test]
    fn detected_versions_follow_the_one_version_rule() {
        let detected = |d: &str| {
            let input = control("4", "cis-1.20", &[("4.1.1", "PASS")])
                .replace(r#""text":"t""#, &format!(r#""detected_version":"{d}""#));
            parse(&input)
                .unwrap()
                .detected_kubernetes_version()
                .map(|v| v.to_string())
        };
        assert_eq!(detected("1.25").as_deref(), Some("1.25"));
        assert_eq!(detected("v1.29.3").as_deref(), Some("1.29.3"));
        assert_eq!(detected("1.29.3-eks-1").as_deref(), Some("1.29.3"));
        assert_eq!(detected("1.29+").as_deref(), Some("1.29"));
        assert_eq!(detected("none"), None);
        assert_eq!(detected(""), None);
        assert_eq!(detected("1..2"), None);
    }

    #[test]
    fn one_controls_object_per_line() {
        let input = format!(
            "{}\n{}\n",
            control("1", "1.6", &[("1.1.1", "PASS"), ("1.1.2", "FAIL")]),
            control("4", "1.6", &[("4.1.1", "WARN")])
        );
        let run = parse(&input).unwrap();
        let numbers: Vec<_> = run
            .tests
            .iter()
            .map(|t| t.text.test_number.as_str())
            .collect();
        assert_eq!(numbers, ["1.1.1", "1.1.2", "4.1.1"]);
        assert_eq!(run.benchmark_version, "cis-1.6");
        assert_eq!(run.tests[2].text.section, "4.1");
        assert_eq!(run.tests[2].text.section_desc, "Section 4.1");
        assert_eq!(run.tests[2].text.test_info, "fix 4.1.1\nline 2");
        assert!(run.warnings.is_empty());
    }

    #[test]
    fn concatenated_values_of_mixed_shapes() {
        let input = format!(
            "[{}]{{\"Controls\":[{}],\"Totals\":{{}}}}{}",
            control("1", "cis-1.6", &[("1.1.1", "PASS")]),
            control("2", "cis-1.6", &[("2.1", "PASS")]),
            control("4", "cis-1.6", &[("4.1.1", "INFO")]),
        );
        let run = parse(&input).unwrap();
        assert_eq!(run.tests.len(), 3);
        assert_eq!(run.tests[2].status, TestStatus::Info);
    }

    #[test]
    fn null_slices_are_empty() {
        let input = format!(
            r#"{{"Controls":[{{"id":"1","tests":null}},{}]}}"#,
            control("4", "cis-1.20", &[("4.1.1", "PASS")]).replace(
                r#""test_info":["fix 4.1.1\nline 2"]"#,
                r#""test_info":null"#
            )
        );
        let run = parse(&input).unwrap();
        assert_eq!(run.tests.len(), 1);
        assert_eq!(run.tests[0].text.test_info, "");
    }

    #[test]
    fn controls_of_one_file_with_different_versions_warn() {
        let input = format!(
            "{}{}",
            control("1", "cis-1.6", &[("1.1.1", "PASS")]),
            control("4", "cis-1.20", &[("4.1.1", "PASS")])
        );
        let run = parse(&input).unwrap();
        assert_eq!(run.benchmark_version, "cis-1.6");
        assert_eq!(
            run.warnings,
            [ImportWarning::BenchmarkVersionMismatch {
                path: "in.json".into(),
                kept: "cis-1.6".into(),
                ignored: "cis-1.20".into(),
            }]
        );
    }

    #[test]
    fn a_real_detected_version_beats_none_and_disagreement_warns() {
        let with = |id: &str, detected: &str| {
            control(id, "cis-1.23", &[(&format!("{id}.1.1"), "PASS")]).replace(
                r#""text":"t""#,
                &format!(r#""detected_version":"{detected}""#),
            )
        };
        let run = parse(&format!("{}{}", with("1", "none"), with("2", "v1.25"))).unwrap();
        assert_eq!(
            run.detected_kubernetes_version()
                .map(|v| v.to_string())
                .as_deref(),
            Some("1.25")
        );
        assert!(run.warnings.is_empty());

        let run = parse(&format!("{}{}", with("1", "1.25"), with("2", "1.26"))).unwrap();
        assert_eq!(
            run.detected_kubernetes_version()
                .map(|v| v.to_string())
                .as_deref(),
            Some("1.25")
        );
        assert_eq!(
            run.warnings,
            [ImportWarning::KubernetesVersionMismatch {
                path: "in.json".into(),
                kept: "1.25".into(),
                ignored: "1.26".into(),
            }]
        );
    }

    #[test]
    fn missing_scored_is_read_from_the_description() {
        let input = r#"[{"id":"1","version":"1.11","tests":[{"section":"1.1","desc":"API Server","results":[
            {"test_number":"1.1.1","test_desc":"Ensure x (Scored)","status":"PASS"},
            {"test_number":"1.1.2","test_desc":"Ensure y (Not Scored)","status":"FAIL"},
            {"test_number":"1.1.3","test_desc":"Ensure z","status":"WARN"}]}]}]"#;
        let run = parse(input).unwrap();
        let scored: Vec<_> = run.tests.iter().map(|t| t.scored).collect();
        assert_eq!(scored, [true, false, false]);
        assert_eq!(run.benchmark_version, "cis-1.3");
    }

    #[test]
    fn texts_are_shared_through_the_interner() {
        let input = control("4", "cis-1.20", &[("4.1.1", "PASS")]);
        let mut interner = TextInterner::new();
        let a = parse_kube_bench(Path::new("a"), input.as_bytes(), &mut interner).unwrap();
        let b = parse_kube_bench(Path::new("b"), input.as_bytes(), &mut interner).unwrap();
        assert!(Arc::ptr_eq(&a.tests[0].text, &b.tests[0].text));
        assert_eq!(interner.len(), 1);
    }

    #[test]
    fn empty_and_text_output_are_told_apart_from_garbage() {
        assert!(matches!(parse(" \n"), Err(ImportError::Empty { .. })));
        assert!(matches!(
            parse("[INFO] 4 Worker Node Security Configuration\n[PASS] 4.1.1 ..."),
            Err(ImportError::TextOutput { .. })
        ));
        let e = parse("{\"Controls\": [\n  {\"id\": ").unwrap_err();
        match e {
            ImportError::NotJson { line, message, .. } => {
                assert_eq!(line, 2);
                assert!(message.contains("EOF"), "{message}");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn json_without_controls() {
        for input in [
            "{}",
            "[]",
            r#"{"Totals":{}}"#,
            "42",
            "null",
            r#"{"Controls":null}"#,
        ] {
            let e = parse(input).unwrap_err();
            assert!(matches!(e, ImportError::NoControls { .. }), "{input}: {e}");
        }
        let e = parse(r#"{"Controls":[{"id":"1","tests":[]}]}"#).unwrap_err();
        assert!(matches!(e, ImportError::NoResults { .. }), "{e}");
    }

    #[test]
    fn missing_keys_are_named_with_their_place() {
        let no_number =
            control("4", "cis-1.20", &[("4.1.1", "PASS")]).replace(r#""test_number":"4.1.1","#, "");
        let e = parse(&no_number).unwrap_err();
        assert_eq!(
            e.to_string(),
            "in.json: control 4, group 4.1, result #1 has no `test_number` (or it is empty)"
        );

        let no_status =
            control("4", "cis-1.20", &[("4.1.1", "PASS")]).replace(r#""status":"PASS","#, "");
        let e = parse(&no_status).unwrap_err();
        assert!(
            matches!(&e, ImportError::MissingKey { key: "status", location, .. }
                if location == "control 4, group 4.1, test 4.1.1"),
            "{e}"
        );

        let no_section =
            control("4", "cis-1.20", &[("4.1.1", "PASS")]).replace(r#""section":"4.1","#, "");
        let e = parse(&no_section).unwrap_err();
        assert!(
            matches!(&e, ImportError::MissingKey { key: "section", .. }),
            "{e}"
        );

        let e = parse(r#"{"Controls":[{"id":"1","version":"cis-1.6"}]}"#).unwrap_err();
        assert!(
            matches!(&e, ImportError::MissingKey { key: "tests", .. }),
            "{e}"
        );
    }

    #[test]
    fn wrong_types_are_named_by_path() {
        let input = control("4", "cis-1.20", &[("4.1.1", "PASS")])
            .replace(r#""scored":true"#, r#""scored":"yes""#);
        let e = parse(&input).unwrap_err();
        match &e {
            ImportError::InvalidValue { location, .. } => {
                assert_eq!(location, "control 4, at tests[0].results[0].scored")
            }
            other => panic!("{other}"),
        }
        let e = parse("[1]").unwrap_err();
        assert!(matches!(e, ImportError::InvalidValue { .. }), "{e}");
        let e = parse(r#"{"Controls":{}}"#).unwrap_err();
        assert!(matches!(e, ImportError::InvalidValue { .. }), "{e}");
    }

    #[test]
    fn merge_keeps_order_and_the_first_versions() {
        let mut interner = TextInterner::new();
        let master = control("1", "cis-1.23", &[("1.1.1", "PASS")])
            .replace(r#""text":"t""#, r#""detected_version":"1.25""#);
        let node = control("4", "cis-1.24", &[("4.1.1", "FAIL"), ("1.1.1", "FAIL")])
            .replace(r#""text":"t""#, r#""detected_version":"none""#);
        let runs = vec![
            parse_kube_bench(Path::new("master.json"), master.as_bytes(), &mut interner).unwrap(),
            parse_kube_bench(Path::new("node.json"), node.as_bytes(), &mut interner).unwrap(),
        ];
        let ts = DateTime::parse_from_rfc3339("2026-11-26T10:00:00.750Z")
            .unwrap()
            .with_timezone(&Utc);
        let imported = build_document(runs, &KubeBenchOptions::new("cp-1", ts)).unwrap();
        let doc = &imported.document;
        let numbers: Vec<_> = doc
            .tests
            .iter()
            .map(|t| t.text.test_number.as_str())
            .collect();
        assert_eq!(numbers, ["1.1.1", "4.1.1", "1.1.1"]);
        assert_eq!(doc.version, "cis-1.23");
        assert_eq!(doc.kubernetes_version, "1.25");
        assert_eq!(doc.node_name, "cp-1");
        assert_eq!(doc.kind, "kube");
        assert_eq!(doc.error, "");
        assert_eq!(doc.cluster, "cluster");
        assert_eq!(crate::time::format(&doc.timestamp), "2026-11-26T10:00:00Z");
        assert_eq!(
            imported.warnings,
            [ImportWarning::BenchmarkVersionMismatch {
                path: "node.json".into(),
                kept: "cis-1.23".into(),
                ignored: "cis-1.24".into(),
            }]
        );
        assert!(doc.validate().is_ok());
    }

    #[test]
    fn kubernetes_version_override_and_its_absence() {
        let input = control("4", "cis-1.20", &[("4.1.1", "PASS")])
            .replace(r#""text":"t""#, r#""detected_version":"none""#);
        let run = parse(&input).unwrap();
        let mut options = KubeBenchOptions::new("n1", Utc::now());

        let imported = build_document(vec![run.clone()], &options).unwrap();
        assert_eq!(imported.document.kubernetes_version, "");
        assert_eq!(
            imported.warnings,
            [ImportWarning::UnknownKubernetesVersion {
                detected: Some("none".into())
            }]
        );
        assert!(imported.warnings[0].to_string().contains("--k8s-version"));

        options.kubernetes_version = Some("v1.29.3-eks-1a2b".parse().unwrap());
        options.cluster = "prod".into();
        let imported = build_document(vec![run], &options).unwrap();
        assert_eq!(imported.document.kubernetes_version, "1.29.3");
        assert_eq!(imported.document.cluster, "prod");
        assert!(imported.warnings.is_empty());
    }

    #[test]
    fn merge_needs_a_node_and_input() {
        let options = KubeBenchOptions::new(" ", Utc::now());
        assert!(matches!(
            build_document(Vec::new(), &options),
            Err(ImportError::EmptyNodeName)
        ));
        let options = KubeBenchOptions::new("n1", Utc::now());
        assert!(matches!(
            build_document(Vec::new(), &options),
            Err(ImportError::NothingToMerge { .. })
        ));
    }

    fn with_actual_values(results: &[(&str, &str, Option<&str>)]) -> String {
        let results: Vec<String> = results
            .iter()
            .map(|(n, status, actual)| {
                let actual = match actual {
                    Some(a) => format!(r#","actual_value":{}"#, serde_json::json!(a)),
                    None => String::new(),
                };
                format!(
                    r#"{{"test_number":"{n}","test_desc":"d {n}","status":"{status}","scored":true{actual}}}"#
                )
            })
            .collect();
        format!(
            r#"{{"Controls":[{{"id":"4","version":"cis-1.20","tests":[{{"section":"4.1","desc":"files","results":[{}]}}]}}]}}"#,
            results.join(",")
        )
    }

    #[test]
    fn spec_3_a_pass_whose_audit_printed_nothing_is_not_observed() {
        let run = parse(&with_actual_values(&[
            ("4.1.1", "PASS", Some("permissions=600")),
            ("4.1.3", "PASS", Some("")),
            ("4.1.4", "PASS", Some("  \n")),
            ("4.1.5", "FAIL", Some("")),
            ("4.1.6", "WARN", Some("")),
        ]))
        .unwrap();
        let statuses: Vec<&str> = run.tests.iter().map(|t| t.status.as_str()).collect();
        assert_eq!(
            statuses,
            ["PASS", "NOT_OBSERVED", "NOT_OBSERVED", "FAIL", "WARN"]
        );
    }

    #[test]
    fn spec_3_a_run_that_never_shows_evidence_keeps_its_passes() {
        // kube-bench before v0.5 printed an empty actual_value everywhere.
        let run = parse(&with_actual_values(&[
            ("4.1.1", "PASS", Some("")),
            ("4.1.2", "PASS", Some("")),
            ("4.1.3", "FAIL", Some("")),
        ]))
        .unwrap();
        assert!(run.tests[..2].iter().all(|t| t.status == TestStatus::Pass));
        // Without the key at all, nothing can be told either.
        let run = parse(&with_actual_values(&[
            ("4.1.1", "PASS", None),
            ("4.1.2", "FAIL", Some("x")),
        ]))
        .unwrap();
        assert_eq!(run.tests[0].status, TestStatus::Pass);
    }
}
