//! The metrics contract for the tests: what `docs/metrics.md` documents, what a `/metrics`
//! answer exports, and where Debian's `prometheus` and `promtool` are.
//!
//! `docs/metrics.md` is the one list of metric names. Each component's test checks that its
//! `/metrics` exports exactly its table's names ([`exported_names`] against
//! [`documented`]); the rules and dashboard tests check that every query names only
//! documented metrics. So a metric renamed in code and not in the docs, or a dashboard
//! panel left on an old name, is a failing test rather than an empty graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use crate::fixtures::root;

/// One row of a table of `docs/metrics.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentedMetric {
    /// `compliance-server`, `compliance-controller` or `compliance-benchmarker`: the
    /// heading the table is under.
    pub component: String,
    /// The name as scraped (a histogram by its base name).
    pub name: String,
    /// `gauge`, `counter` or `histogram`.
    pub kind: String,
    pub labels: Vec<String>,
}

/// Every metric `docs/metrics.md` documents, in its order.
pub fn all_documented() -> Vec<DocumentedMetric> {
    let path = root().join("docs/metrics.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_doc(&text)
}

/// The metrics `docs/metrics.md` documents for `component` (`compliance-server`, ...).
pub fn documented(component: &str) -> Vec<DocumentedMetric> {
    let all = all_documented();
    let out: Vec<DocumentedMetric> = all
        .into_iter()
        .filter(|m| m.component == component)
        .collect();
    assert!(
        !out.is_empty(),
        "docs/metrics.md has no table under `## {component}`"
    );
    out
}

/// The rows of `text` (the format of `docs/metrics.md`): table rows whose first cell is
/// a backquoted name starting with `compliance_`, under a `## ` heading.
pub fn parse_doc(text: &str) -> Vec<DocumentedMetric> {
    let mut component = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            component = h.trim().to_string();
            continue;
        }
        let Some(row) = line.strip_prefix('|') else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let Some(name) = cells[0]
            .strip_prefix('`')
            .and_then(|c| c.strip_suffix('`'))
            .filter(|n| n.starts_with("compliance_"))
        else {
            continue;
        };
        let labels = cells[2]
            .split(',')
            .map(|l| l.trim().trim_matches('`').to_string())
            .filter(|l| !l.is_empty())
            .collect();
        out.push(DocumentedMetric {
            component: component.clone(),
            name: name.to_string(),
            kind: cells[1].to_string(),
            labels,
        });
    }
    out
}

/// One sample of a text exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, or "" when the sample has none.
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }
}

/// The samples of a Prometheus text or OpenMetrics exposition, comments skipped. Panics
/// on a line it cannot read: a test wants to know.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| parse_sample(l).unwrap_or_else(|| panic!("not a sample line: {l:?}")))
        .collect()
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut r) = rest.strip_prefix('{') {
        loop {
            r = r.trim_start_matches([',', ' ']);
            if let Some(after) = r.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = r.find('=')?;
            let key = r[..eq].trim().to_string();
            r = r[eq + 1..].strip_prefix('"')?;
            let mut value = String::new();
            let mut chars = r.char_indices();
            let close = loop {
                let (i, c) = chars.next()?;
                match c {
                    '"' => break i,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    other => value.push(other),
                }
            };
            labels.insert(key, value);
            r = &r[close + 1..];
        }
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// The metric names an exposition exports, as `docs/metrics.md` names them: a
/// histogram's `_bucket`, `_sum` and `_count` samples by its base name (from its `# TYPE`
/// line), an OpenMetrics counter's `_created` sample left out, everything else as scraped.
pub fn exported_names(text: &str) -> BTreeSet<String> {
    let mut histograms = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("#")
            && words.next() == Some("TYPE")
            && let (Some(name), Some("histogram")) = (words.next(), words.next())
        {
            histograms.insert(name.to_string());
        }
    }
    parse_exposition(text)
        .into_iter()
        .filter(|s| !s.name.ends_with("_created"))
        .map(|s| {
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(base) = s.name.strip_suffix(suffix)
                    && histograms.contains(base)
                {
                    return base.to_string();
                }
            }
            s.name
        })
        .collect()
}

/// Debian's `promtool` (PROMTOOL_BIN, else the PATH), or `None` after one SKIPPED line:
/// `scripts/prometheus.sh ensure` installs it.
pub fn promtool() -> Option<PathBuf> {
    program("PROMTOOL_BIN", "promtool")
}

/// Debian's `prometheus` server (PROMETHEUS_BIN, else the PATH), or `None` after one
/// SKIPPED line.
pub fn prometheus() -> Option<PathBuf> {
    program("PROMETHEUS_BIN", "prometheus")
}

fn program(var: &str, name: &str) -> Option<PathBuf> {
    let path = match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {name}"))
                .output()
                .ok()?;
            let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if p.is_empty() {
                eprintln!(
                    "SKIPPED: {name} is not installed ({var} unset, not on the PATH); run scripts/prometheus.sh ensure"
                );
                return None;
            }
            PathBuf::from(p)
        }
    };
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("SKIPPED: {name} not found at {}", path.display());
        None
    }
}

/// Runs `promtool check metrics` on `exposition` and returns its complaints (empty when it
/// has none): promtool's lint of names, units and help texts.
pub fn promtool_lint(promtool: &std::path::Path, exposition: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool check metrics");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool check metrics");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .trim()
    .to_string()
}
