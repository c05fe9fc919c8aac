//! Which kube-bench benchmark and targets a run uses, from the facts about its node.
//!
//! kube-bench detects the platform (EKS, GKE, AKS, OpenShift, k3s, RKE, RKE2) itself only
//! when neither `--benchmark` nor `--version` is given, and then from the API server's
//! version, not the node's. The benchmarker decides instead, here, as a pure function of
//! the node's facts, the configuration and the benchmarks of the bundled kube-bench cfg,
//! and always passes exactly one of `--benchmark B` or `--version MAJOR.MINOR`, plus the
//! targets that belong to the run's scope:
//!
//! - a node run checks `master` and `controlplane` where kube-apiserver runs, `etcd` where
//!   etcd runs, and `node` everywhere;
//! - the cluster run (one per cluster) checks `policies` and `managedservices`, which read
//!   the API rather than the node.
//!
//! Each target only when the benchmark's `target_mapping` lists it.
//!
//! The platform table is kube-bench's own (its `cmd/util.go`), as facts; a benchmark the
//! bundled cfg does not have falls back to `--version MAJOR.MINOR`, with the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use compliance_core::version::KubernetesVersion;

/// The node label that chooses the benchmark of a node (pool): its value is passed as
/// `--benchmark`, ahead of the platform's choice and of KUBE_BENCH_BENCHMARK.
pub const BENCHMARK_LABEL: &str = "compliance.tigera.io/cis-benchmark";

/// The targets a node run may check, in kube-bench's order.
pub const NODE_TARGETS: [&str; 4] = ["master", "controlplane", "etcd", "node"];
/// The targets of the cluster run: they list API objects with kubectl, the same from every
/// node, so they run once per cluster.
pub const CLUSTER_TARGETS: [&str; 2] = ["policies", "managedservices"];

/// The Kubernetes distribution of a node, as it decides the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Platform {
    Eks,
    Gke,
    Aks,
    Ocp,
    K3s,
    Rke,
    Rke2,
    /// Self-managed (kubeadm and the like) or not recognised: the generic CIS benchmark.
    Kubernetes,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Eks => "eks",
            Platform::Gke => "gke",
            Platform::Aks => "aks",
            Platform::Ocp => "ocp",
            Platform::K3s => "k3s",
            Platform::Rke => "rke",
            Platform::Rke2 => "rke2",
            Platform::Kubernetes => "kubernetes",
        }
    }

    /// Managed services run the control plane out of the customers' sight: a node of
    /// theirs that runs kube-apiserver is a self-managed cluster on the same build.
    fn is_managed(self) -> bool {
        matches!(self, Platform::Eks | Platform::Gke | Platform::Aks)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the run checks the node or the cluster (BENCHMARK_SCOPE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// One run per node (the DaemonSet): master, controlplane, etcd, node.
    #[default]
    Node,
    /// One run per cluster (the Deployment): policies, managedservices.
    Cluster,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Node => "node",
            Scope::Cluster => "cluster",
        }
    }
}

/// What the node's Node object says, when it could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeObject {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `spec.providerID` (`aws:///…`, `gce://…`, `azure:///…`), empty when unset.
    pub provider_id: String,
    /// The OpenShift release (`4.14.3`), when the cluster is OpenShift and it was readable.
    pub openshift_version: Option<String>,
}

/// Everything known about the node before a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    /// The kubelet's version with its build suffix (`v1.29.3-eks-1a2b3c`).
    pub kubelet_version: KubernetesVersion,
    /// `None`: the Node could not be read (no API access); decided from the version alone.
    pub node: Option<NodeObject>,
    /// kube-apiserver runs on this node (its processes, as kube-bench finds them).
    pub runs_apiserver: bool,
    /// etcd runs on this node.
    pub runs_etcd: bool,
}

/// The benchmarks of the kube-bench cfg the benchmarker runs with: `config.yaml`'s
/// `version_mapping` and `target_mapping`, and which `cfg/<benchmark>/` directories exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundledCfg {
    /// `version_mapping`: `1.29` → `cis-1.11`, `eks-1.7.0` → `eks-1.7.0`.
    pub versions: BTreeMap<String, String>,
    /// `target_mapping`: the targets each benchmark has.
    pub targets: BTreeMap<String, Vec<String>>,
    /// The benchmark directories present.
    pub directories: BTreeSet<String>,
}

impl BundledCfg {
    /// Reads the two mappings from the text of kube-bench's `config.yaml`. Only what they
    /// are written as is understood: a top-level key, quoted or bare keys indented below
    /// it, and either a value after the colon or a list of `- item` lines.
    pub fn parse(
        config_yaml: &str,
        directories: impl IntoIterator<Item = String>,
    ) -> Result<BundledCfg, String> {
        let mut cfg = BundledCfg {
            directories: directories.into_iter().collect(),
            ..BundledCfg::default()
        };
        #[derive(PartialEq)]
        enum Section {
            Other,
            Versions,
            Targets,
        }
        let mut section = Section::Other;
        let mut current: Option<String> = None;
        for (n, raw) in config_yaml.lines().enumerate() {
            let line = strip_comment(raw);
            if line.trim().is_empty() || line.trim() == "---" {
                continue;
            }
            if !line.starts_with([' ', '\t', '-']) {
                section = match line.trim_end() {
                    "version_mapping:" => Section::Versions,
                    "target_mapping:" => Section::Targets,
                    _ => Section::Other,
                };
                current = None;
                continue;
            }
            if section == Section::Other {
                continue;
            }
            let item = line.trim();
            if let Some(value) = item.strip_prefix('-') {
                let Some(key) = &current else {
                    return Err(format!(
                        "config.yaml line {}: a list item without a key",
                        n + 1
                    ));
                };
                if section == Section::Targets {
                    cfg.targets
                        .entry(key.clone())
                        .or_default()
                        .push(unquote(value.trim()).to_string());
                }
                continue;
            }
            let Some((key, value)) = split_key(item) else {
                return Err(format!(
                    "config.yaml line {}: expected `key:` in {}",
                    n + 1,
                    if section == Section::Versions {
                        "version_mapping"
                    } else {
                        "target_mapping"
                    }
                ));
            };
            let key = unquote(key).to_string();
            let value = unquote(value.trim());
            match section {
                Section::Versions if !value.is_empty() => {
                    cfg.versions.insert(key, value.to_string());
                }
                Section::Targets => {
                    cfg.targets.entry(key.clone()).or_default();
                    current = Some(key);
                }
                _ => {}
            }
        }
        if cfg.targets.is_empty() {
            return Err("config.yaml has no target_mapping".to_string());
        }
        Ok(cfg)
    }

    /// Whether kube-bench can run `benchmark`: it has targets and a directory.
    pub fn has(&self, benchmark: &str) -> bool {
        self.targets.contains_key(benchmark) && self.directories.contains(benchmark)
    }

    /// The benchmark kube-bench runs for `--version V`: `version_mapping`, stepping the
    /// minor version down while there is no entry, as kube-bench does.
    pub fn benchmark_for_version(&self, version: &str) -> Option<&str> {
        let mut v = version.to_string();
        loop {
            if let Some(b) = self.versions.get(&v) {
                return Some(b);
            }
            let (major, minor) = v.split_once('.')?;
            let minor: u32 = minor.parse().ok()?;
            if minor == 0 {
                return None;
            }
            v = format!("{major}.{}", minor - 1);
        }
    }

    fn targets_of(&self, benchmark: &str) -> &[String] {
        self.targets
            .get(benchmark)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

fn strip_comment(line: &str) -> &str {
    match line.find(" #") {
        Some(i) => &line[..i],
        None if line.trim_start().starts_with('#') => "",
        None => line,
    }
}

/// `"1.29": "cis-1.11"` → (`"1.29"`, ` "cis-1.11"`), the colon outside quotes.
fn split_key(item: &str) -> Option<(&str, &str)> {
    if let Some(rest) = item.strip_prefix('"') {
        let end = rest.find('"')? + 1;
        let after = item[end + 1..].strip_prefix(':')?;
        return Some((&item[..=end], after));
    }
    item.split_once(':')
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(s)
}

/// What the configuration says about the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// KUBE_BENCH_ARGS already choose it (`--benchmark`, `--version`): nothing is added,
    /// and this is the benchmark (or version) they name, for the targets.
    pub in_args: Option<Choice>,
    /// KUBE_BENCH_ARGS already have `--targets`: none are added.
    pub targets_in_args: bool,
    /// KUBE_BENCH_BENCHMARK.
    pub benchmark: Option<String>,
    /// KUBE_BENCH_VERSION: an operator's `--version` value.
    pub version: Option<String>,
}

/// How the benchmark is chosen on kube-bench's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// `--benchmark B`
    Benchmark(String),
    /// `--version V` (kube-bench's `version_mapping` picks the benchmark)
    Version(String),
}

/// The decision for one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub platform: Platform,
    /// What to add to the arguments; `None` when KUBE_BENCH_ARGS choose already.
    pub choice: Option<Choice>,
    /// The benchmark kube-bench will run, when the bundled cfg tells.
    pub benchmark: Option<String>,
    /// `run --targets` (empty: none to add; for the cluster scope: nothing to run).
    pub targets: Vec<String>,
    /// Why, in a line: `platform eks 1.29 → eks-1.7.0`.
    pub reason: String,
}

impl Selection {
    /// kube-bench's arguments: `run`, the configured ones, `--targets` and the choice.
    pub fn args(&self, configured: &[String], targets_in_args: bool) -> Vec<String> {
        let mut args = Vec::with_capacity(configured.len() + 5);
        if !configured.iter().any(|a| a == "run") {
            args.push("run".to_string());
        }
        args.extend(configured.iter().cloned());
        if !targets_in_args && !self.targets.is_empty() {
            args.push("--targets".to_string());
            args.push(self.targets.join(","));
        }
        match &self.choice {
            Some(Choice::Benchmark(b)) => args.extend(["--benchmark".to_string(), b.clone()]),
            Some(Choice::Version(v)) => args.extend(["--version".to_string(), v.clone()]),
            None => {}
        }
        args
    }
}

/// The platform of a node, and why.
pub fn detect(facts: &NodeFacts) -> (Platform, String) {
    let suffix = facts.kubelet_version.suffix().unwrap_or_default();
    let labels = facts.node.as_ref().map(|n| &n.labels);
    let has_label = |name: &str| labels.is_some_and(|l| l.contains_key(name));
    let label_is =
        |name: &str, value: &str| labels.is_some_and(|l| l.get(name).is_some_and(|v| v == value));
    let provider = facts
        .node
        .as_ref()
        .map(|n| n.provider_id.as_str())
        .unwrap_or_default();
    let annotated_rke = facts.node.as_ref().is_some_and(|n| {
        n.annotations.contains_key("rke.cattle.io/external-ip")
            || n.annotations.contains_key("rke.cattle.io/internal-ip")
    });
    let found = if has_label("node.openshift.io/os_id")
        || facts
            .node
            .as_ref()
            .is_some_and(|n| n.openshift_version.is_some())
    {
        Some((Platform::Ocp, "OpenShift node".to_string()))
    } else if has_label("eks.amazonaws.com/nodegroup")
        || has_label("eks.amazonaws.com/compute-type")
    {
        Some((Platform::Eks, "label eks.amazonaws.com/*".to_string()))
    } else if has_label("cloud.google.com/gke-nodepool") {
        Some((
            Platform::Gke,
            "label cloud.google.com/gke-nodepool".to_string(),
        ))
    } else if has_label("kubernetes.azure.com/cluster") {
        Some((
            Platform::Aks,
            "label kubernetes.azure.com/cluster".to_string(),
        ))
    } else if label_is("node.kubernetes.io/instance-type", "k3s") {
        Some((
            Platform::K3s,
            "label node.kubernetes.io/instance-type=k3s".to_string(),
        ))
    } else if label_is("node.kubernetes.io/instance-type", "rke2") {
        Some((
            Platform::Rke2,
            "label node.kubernetes.io/instance-type=rke2".to_string(),
        ))
    } else {
        None
    };
    let found = found.or_else(|| {
        let by_suffix = if suffix.starts_with("eks") {
            Some(Platform::Eks)
        } else if suffix.starts_with("gke") {
            Some(Platform::Gke)
        } else if suffix.starts_with("k3s") {
            Some(Platform::K3s)
        } else if suffix.starts_with("rke2") {
            Some(Platform::Rke2)
        } else if suffix.starts_with("rancher") {
            Some(Platform::Rke)
        } else {
            None
        };
        by_suffix.map(|p| (p, format!("kubelet version suffix {suffix}")))
    });
    let found = found.or_else(|| {
        if annotated_rke {
            Some((Platform::Rke, "annotation rke.cattle.io/*".to_string()))
        } else if provider.starts_with("azure://") {
            // kube-bench's own AKS test; aws:// and gce:// are also self-managed clusters
            // on those clouds, so they decide nothing alone.
            Some((Platform::Aks, "providerID azure://".to_string()))
        } else {
            None
        }
    });
    match found {
        Some((p, why)) if p.is_managed() && facts.runs_apiserver => (
            Platform::Kubernetes,
            format!("{why} but kube-apiserver runs on this node: self-managed control plane"),
        ),
        Some(found) => found,
        None => (
            Platform::Kubernetes,
            if facts.node.is_none() {
                "no platform in the kubelet version (Node not readable)".to_string()
            } else {
                "no platform in the node's labels or kubelet version".to_string()
            },
        ),
    }
}

/// kube-bench's platform table (`getPlatformBenchmarkVersion`): the benchmark for a
/// platform at a Kubernetes (or, for OpenShift, OpenShift) MAJOR.MINOR.
pub fn platform_benchmark(platform: Platform, version: &str) -> Option<String> {
    let b = match platform {
        Platform::Eks => match version {
            "1.15" | "1.16" | "1.17" | "1.18" | "1.19" => "eks-1.0.1",
            "1.29" | "1.30" | "1.31" => "eks-1.7.0",
            "1.32" | "1.33" | "1.34" => "eks-1.8.0",
            _ => "eks-1.5.0",
        },
        Platform::Aks => match version {
            "1.19" | "1.20" | "1.21" | "1.22" | "1.23" | "1.24" => "aks-1.0",
            "1.29" | "1.30" | "1.31" => "aks-1.7",
            _ => "aks-1.8",
        },
        Platform::Gke => match version {
            "1.15" | "1.16" | "1.17" | "1.18" | "1.19" => "gke-1.0",
            "1.20" | "1.21" | "1.22" | "1.23" | "1.24" | "1.25" | "1.26" | "1.27" => "gke-1.2.0",
            "1.28" | "1.29" => "gke-1.6.0",
            "1.30" => "gke-1.8.0",
            _ => "gke-1.9.0",
        },
        Platform::Ocp => return ocp_benchmark(version),
        Platform::K3s => match version {
            "1.22" | "1.23" => "k3s-cis-1.23",
            "1.24" => "k3s-cis-1.24",
            "1.25" => "k3s-cis-1.7",
            "1.26" => "k3s-cis-1.8",
            _ => "k3s-cis-1.9",
        },
        Platform::Rke => match version {
            "1.23" => "rke-cis-1.23",
            "1.24" => "rke-cis-1.24",
            _ => "rke-cis-1.7",
        },
        Platform::Rke2 => match version {
            "1.23" => "rke2-cis-1.23",
            "1.24" => "rke2-cis-1.24",
            "1.25" => "rke2-cis-1.7",
            _ => "rke2-cis-1.8",
        },
        Platform::Kubernetes => return None,
    };
    Some(b.to_string())
}

/// OpenShift: the newest benchmark release at or below the OpenShift MAJOR.MINOR, stepping
/// the minor version down as kube-bench does.
fn ocp_benchmark(version: &str) -> Option<String> {
    let (major, minor) = version.split_once('.')?;
    let minor: u32 = minor.split('.').next()?.parse().ok()?;
    for m in (0..=minor).rev() {
        let b = match (major, m) {
            ("3", 10) => "rh-0.7",
            ("4", 1) => "rh-1.0",
            ("4", 11) => "rh-1.4",
            ("4", 13) => "rh-1.8",
            _ => continue,
        };
        return Some(b.to_string());
    }
    None
}

/// Decides the benchmark and the targets of one run. `cfg` is `None` when the bundled
/// cfg could not be read: a platform benchmark cannot be checked then, so `--version` is
/// used, and the targets are not filtered.
pub fn decide(
    facts: &NodeFacts,
    cfg: Option<&BundledCfg>,
    overrides: &Overrides,
    scope: Scope,
) -> Selection {
    let (platform, why) = detect(facts);
    let minor = facts.kubelet_version.minor_version();
    let label = facts
        .node
        .as_ref()
        .and_then(|n| n.labels.get(BENCHMARK_LABEL))
        .map(|v| v.trim())
        .filter(|v| !v.is_empty());
    let present = |b: &str| cfg.is_none_or(|c| c.has(b));
    let mut notes: Vec<String> = Vec::new();

    // The choice, and what it is called in the reason.
    let (choice, reason): (Option<Choice>, String) = 'choice: {
        if let Some(given) = &overrides.in_args {
            break 'choice (None, format!("KUBE_BENCH_ARGS choose {}", describe(given)));
        }
        if let Some(b) = label {
            if valid_name(b) && present(b) {
                break 'choice (
                    Some(Choice::Benchmark(b.to_string())),
                    format!("node label {BENCHMARK_LABEL}={b}"),
                );
            }
            notes.push(format!(
                "node label {BENCHMARK_LABEL}={b} ignored: not a benchmark of the bundled cfg"
            ));
        }
        if let Some(b) = &overrides.benchmark {
            // Checked against the cfg at start (a bad value stops the benchmarker).
            break 'choice (
                Some(Choice::Benchmark(b.clone())),
                format!("KUBE_BENCH_BENCHMARK={b}"),
            );
        }
        if let Some(v) = &overrides.version {
            break 'choice (
                Some(Choice::Version(v.clone())),
                format!("KUBE_BENCH_VERSION={v}"),
            );
        }
        let platform_version = match platform {
            Platform::Ocp => facts
                .node
                .as_ref()
                .and_then(|n| n.openshift_version.as_deref())
                .map(|v| v.split('.').take(2).collect::<Vec<_>>().join(".")),
            _ => Some(minor.clone()),
        };
        let tabled = platform_version
            .as_deref()
            .and_then(|v| platform_benchmark(platform, v));
        match (tabled, platform) {
            (_, Platform::Kubernetes) => (
                Some(Choice::Version(minor.clone())),
                format!("platform kubernetes ({why}) {minor} → --version {minor}"),
            ),
            (Some(b), _) if present(&b) => (
                Some(Choice::Benchmark(b.clone())),
                format!(
                    "platform {platform} {} → {b}",
                    platform_version.as_deref().unwrap_or_default()
                ),
            ),
            (Some(b), _) => (
                Some(Choice::Version(minor.clone())),
                format!(
                    "platform {platform} {}: {b} is not in the bundled cfg; falling back to \
                     --version {minor}",
                    platform_version.as_deref().unwrap_or_default()
                ),
            ),
            (None, _) => (
                Some(Choice::Version(minor.clone())),
                format!(
                    "platform {platform}: no benchmark for its version (OpenShift version \
                     unknown or too old); falling back to --version {minor}"
                ),
            ),
        }
    };

    let effective = choice.as_ref().or(overrides.in_args.as_ref());
    let benchmark = match (effective, cfg) {
        (Some(Choice::Benchmark(b)), _) => Some(b.clone()),
        (Some(Choice::Version(v)), Some(c)) => c.benchmark_for_version(v).map(str::to_string),
        _ => None,
    };
    let wanted: Vec<&str> = match scope {
        Scope::Node => {
            let mut t = Vec::new();
            if facts.runs_apiserver {
                t.extend(["master", "controlplane"]);
            }
            // k3s runs its embedded etcd inside the server process; it labels the
            // members node-role.kubernetes.io/etcd.
            let k3s_etcd = platform == Platform::K3s
                && facts.runs_apiserver
                && facts
                    .node
                    .as_ref()
                    .is_some_and(|n| n.labels.contains_key("node-role.kubernetes.io/etcd"));
            if facts.runs_etcd || k3s_etcd {
                t.push("etcd");
            }
            t.push("node");
            t
        }
        Scope::Cluster => CLUSTER_TARGETS.to_vec(),
    };
    let targets: Vec<String> = match (cfg, &benchmark) {
        (Some(c), Some(b)) => {
            let available = c.targets_of(b);
            wanted
                .into_iter()
                .filter(|t| available.iter().any(|a| a == t))
                .map(str::to_string)
                .collect()
        }
        _ => wanted.into_iter().map(str::to_string).collect(),
    };
    let mut reason = reason;
    if let Some(b) = &benchmark
        && !matches!(effective, Some(Choice::Benchmark(_)))
    {
        reason.push_str(&format!(" (kube-bench maps it to {b})"));
    }
    for note in notes {
        reason.push_str("; ");
        reason.push_str(&note);
    }
    Selection {
        platform,
        choice,
        benchmark,
        targets,
        reason,
    }
}

fn describe(choice: &Choice) -> String {
    match choice {
        Choice::Benchmark(b) => format!("--benchmark {b}"),
        Choice::Version(v) => format!("--version {v}"),
    }
}

/// A benchmark or version name as kube-bench names its directories: letters, digits,
/// dots and dashes.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
}

/// What KUBE_BENCH_ARGS say about the benchmark: its choice (`--benchmark B`, `-b B`,
/// `--benchmark=B`, `--version V`) and whether they name targets (`--targets`, `-s`).
pub fn from_args(args: &[String]) -> (Option<Choice>, bool) {
    let mut choice = None;
    let mut targets = false;
    let mut iter = args.iter().peekable();
    while let Some(a) = iter.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| iter.next().cloned())
                .unwrap_or_default()
        };
        match name {
            "--benchmark" | "-b" => choice = Some(Choice::Benchmark(value())),
            "--version" | "-V" => choice = Some(Choice::Version(value())),
            "--targets" | "-s" => targets = true,
            _ => {}
        }
    }
    (choice, targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cfg with the benchmarks of kube-bench v0.16 that the tests need, written in the
    /// shape of its config.yaml.
    const CONFIG: &str = r#"---
## a comment
master:
  components:
    - apiserver

version_mapping:
  "1.27": "cis-1.9"
  "1.28": "cis-1.10"
  "1.29": "cis-1.11"
  "1.31": "cis-1.11"
  "eks-1.7.0": "eks-1.7.0"

target_mapping:
  "cis-1.9":
    - "master"
    - "node"
    - "controlplane"
    - "etcd"
    - "policies"
  "cis-1.10":
    - "master"
    - "node"
    - "controlplane"
    - "etcd"
    - "policies"
  "cis-1.11":
    - "master"
    - "node"
    - "controlplane"
    - "etcd"
    - "policies"
  "eks-1.7.0":
    - "master"
    - "node"
    - "controlplane"
    - "policies"
    - "managedservices"
  "gke-1.9.0":
    - "master"
    - "node"
    - "controlplane"
    - "policies"
    - "managedservices"
  "aks-1.7":
    - "master"
    - "node"
    - "controlplane"
    - "policies"
    - "managedservices"
  "rh-1.4":
    - "master"
    - "node"
    - "controlplane"
    - "policies"
    - "etcd"
  "k3s-cis-1.9":
    - "master"
    - "etcd"
    - "controlplane"
    - "node"
    - "policies"
  "rke2-cis-1.8":
    - "master"
    - "etcd"
    - "controlplane"
    - "node"
    - "policies"
  "rke-cis-1.7":
    - "master"
    - "etcd"
    - "controlplane"
    - "node"
    - "policies"
  "custom-1.0":
    - "node"
"#;

    fn cfg() -> BundledCfg {
        let dirs = [
            "cis-1.9",
            "cis-1.10",
            "cis-1.11",
            "eks-1.7.0",
            "gke-1.9.0",
            "aks-1.7",
            "rh-1.4",
            "k3s-cis-1.9",
            "rke2-cis-1.8",
            "rke-cis-1.7",
            "custom-1.0",
        ];
        BundledCfg::parse(CONFIG, dirs.map(String::from)).unwrap()
    }

    fn node(labels: &[(&str, &str)]) -> Option<NodeObject> {
        Some(NodeObject {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..NodeObject::default()
        })
    }

    fn facts(version: &str, node: Option<NodeObject>, apiserver: bool, etcd: bool) -> NodeFacts {
        NodeFacts {
            kubelet_version: version.parse().unwrap(),
            node,
            runs_apiserver: apiserver,
            runs_etcd: etcd,
        }
    }

    #[test]
    fn the_cfg_mappings_are_read() {
        let c = cfg();
        assert_eq!(c.versions["1.29"], "cis-1.11");
        assert_eq!(c.versions["eks-1.7.0"], "eks-1.7.0");
        assert_eq!(
            c.targets["eks-1.7.0"],
            [
                "master",
                "node",
                "controlplane",
                "policies",
                "managedservices"
            ]
        );
        assert!(!c.targets.contains_key("master"));
        assert_eq!(c.benchmark_for_version("1.30"), Some("cis-1.11"));
        assert_eq!(c.benchmark_for_version("1.26"), None);
        assert!(c.has("eks-1.7.0") && !c.has("eks-1.8.0"));
        assert!(BundledCfg::parse("master:\n  a: b\n", []).is_err());
    }

    #[test]
    fn each_platform_gets_its_benchmark_and_node_targets() {
        let ocp = NodeObject {
            openshift_version: Some("4.12.9".into()),
            ..node(&[("node.openshift.io/os_id", "rhcos")]).unwrap()
        };
        let rke = NodeObject {
            annotations: [(
                "rke.cattle.io/external-ip".to_string(),
                "1.2.3.4".to_string(),
            )]
            .into(),
            ..NodeObject::default()
        };
        let aks_by_provider = NodeObject {
            provider_id: "azure:///subscriptions/x/vm-0".into(),
            ..NodeObject::default()
        };
        #[rustfmt::skip]
        let table: Vec<(&str, NodeFacts, Platform, Choice, &[&str])> = vec![
            ("eks by suffix, Node unreadable",
             facts("v1.29.3-eks-1a2b3c", None, false, false),
             Platform::Eks, Choice::Benchmark("eks-1.7.0".into()), &["node"]),
            ("eks by label",
             facts("v1.30.1", node(&[("eks.amazonaws.com/nodegroup", "ng-1")]), false, false),
             Platform::Eks, Choice::Benchmark("eks-1.7.0".into()), &["node"]),
            ("gke",
             facts("v1.31.1-gke.1678000", node(&[("cloud.google.com/gke-nodepool", "p")]), false, false),
             Platform::Gke, Choice::Benchmark("gke-1.9.0".into()), &["node"]),
            ("aks by label",
             facts("v1.29.7", node(&[("kubernetes.azure.com/cluster", "mc_x")]), false, false),
             Platform::Aks, Choice::Benchmark("aks-1.7".into()), &["node"]),
            ("aks by providerID",
             facts("v1.30.2", Some(aks_by_provider), false, false),
             Platform::Aks, Choice::Benchmark("aks-1.7".into()), &["node"]),
            ("openshift master",
             facts("v1.25.7+eab9cc9", Some(ocp), true, true),
             Platform::Ocp, Choice::Benchmark("rh-1.4".into()), &["master", "controlplane", "etcd", "node"]),
            ("k3s server with embedded etcd",
             facts("v1.28.5+k3s1", node(&[("node.kubernetes.io/instance-type", "k3s"), ("node-role.kubernetes.io/etcd", "true")]), true, false),
             Platform::K3s, Choice::Benchmark("k3s-cis-1.9".into()), &["master", "controlplane", "etcd", "node"]),
            ("rke2 agent",
             facts("v1.27.10+rke2r1", None, false, false),
             Platform::Rke2, Choice::Benchmark("rke2-cis-1.8".into()), &["node"]),
            ("rke by annotation",
             facts("v1.27.10", Some(rke), false, false),
             Platform::Rke, Choice::Benchmark("rke-cis-1.7".into()), &["node"]),
            ("kubeadm control plane",
             facts("v1.29.3", node(&[]), true, true),
             Platform::Kubernetes, Choice::Version("1.29".into()), &["master", "controlplane", "etcd", "node"]),
            ("kubeadm worker",
             facts("v1.28.2", node(&[]), false, false),
             Platform::Kubernetes, Choice::Version("1.28".into()), &["node"]),
            ("eks-d control plane: self-managed",
             facts("v1.29.3-eks-1a2b3c", None, true, true),
             Platform::Kubernetes, Choice::Version("1.29".into()), &["master", "controlplane", "etcd", "node"]),
            ("self-managed on AWS",
             facts("v1.29.3", Some(NodeObject { provider_id: "aws:///eu-west-1a/i-1".into(), ..NodeObject::default() }), false, false),
             Platform::Kubernetes, Choice::Version("1.29".into()), &["node"]),
        ];
        for (name, f, platform, choice, targets) in table {
            let s = decide(&f, Some(&cfg()), &Overrides::default(), Scope::Node);
            assert_eq!(s.platform, platform, "{name}: {}", s.reason);
            assert_eq!(s.choice, Some(choice), "{name}: {}", s.reason);
            assert_eq!(s.targets, targets, "{name}: {}", s.reason);
        }
    }

    #[test]
    fn the_cluster_scope_runs_only_the_api_targets_of_the_benchmark() {
        let eks = decide(
            &facts("v1.29.3-eks-1a2b3c", None, false, false),
            Some(&cfg()),
            &Overrides::default(),
            Scope::Cluster,
        );
        assert_eq!(eks.targets, ["policies", "managedservices"]);
        let kubeadm = decide(
            &facts("v1.29.3", node(&[]), false, false),
            Some(&cfg()),
            &Overrides::default(),
            Scope::Cluster,
        );
        assert_eq!(kubeadm.targets, ["policies"]);
        assert_eq!(kubeadm.benchmark.as_deref(), Some("cis-1.11"));
        let custom = decide(
            &facts(
                "v1.29.3",
                node(&[(BENCHMARK_LABEL, "custom-1.0")]),
                false,
                false,
            ),
            Some(&cfg()),
            &Overrides::default(),
            Scope::Cluster,
        );
        assert!(custom.targets.is_empty(), "{custom:?}");
    }

    #[test]
    fn reasons_say_what_was_chosen_and_why() {
        let s = decide(
            &facts("v1.29.3-eks-1a2b3c", None, false, false),
            Some(&cfg()),
            &Overrides::default(),
            Scope::Node,
        );
        assert_eq!(s.reason, "platform eks 1.29 → eks-1.7.0");
        // kube-bench's table says eks-1.8.0 for 1.33; this cfg does not have it.
        let s = decide(
            &facts("v1.33.1-eks-1a2b3c", None, false, false),
            Some(&cfg()),
            &Overrides::default(),
            Scope::Node,
        );
        assert_eq!(s.choice, Some(Choice::Version("1.33".into())));
        assert_eq!(
            s.reason,
            "platform eks 1.33: eks-1.8.0 is not in the bundled cfg; falling back to \
             --version 1.33 (kube-bench maps it to cis-1.11)"
        );
        assert_eq!(s.targets, ["node"]);
        // OpenShift without its version: --version.
        let s = decide(
            &facts(
                "v1.27.6+f67aeb3",
                node(&[("node.openshift.io/os_id", "rhcos")]),
                false,
                false,
            ),
            Some(&cfg()),
            &Overrides::default(),
            Scope::Node,
        );
        assert_eq!(
            (s.platform, s.choice),
            (Platform::Ocp, Some(Choice::Version("1.27".into())))
        );
        assert!(
            s.reason.contains("falling back to --version 1.27"),
            "{}",
            s.reason
        );
    }

    #[test]
    fn overrides_win_in_order_args_label_benchmark_version() {
        let f = |labels: &[(&str, &str)]| facts("v1.29.3-eks-1a2b3c", node(labels), false, false);
        let env = Overrides {
            benchmark: Some("cis-1.10".into()),
            version: None,
            ..Overrides::default()
        };
        let version = Overrides {
            version: Some("1.27".into()),
            ..Overrides::default()
        };
        let args = Overrides {
            in_args: Some(Choice::Benchmark("cis-1.9".into())),
            ..env.clone()
        };
        let label = [(BENCHMARK_LABEL, "custom-1.0")];
        let bad_label = [(BENCHMARK_LABEL, "eks-9.9.9")];
        #[rustfmt::skip]
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a Overrides, Option<Choice>, &'a str);
        let table: Vec<Case> = vec![
            (
                "args",
                &label,
                &args,
                None,
                "KUBE_BENCH_ARGS choose --benchmark cis-1.9",
            ),
            (
                "label",
                &label,
                &env,
                Some(Choice::Benchmark("custom-1.0".into())),
                "node label compliance.tigera.io/cis-benchmark=custom-1.0",
            ),
            (
                "env",
                &[],
                &env,
                Some(Choice::Benchmark("cis-1.10".into())),
                "KUBE_BENCH_BENCHMARK=cis-1.10",
            ),
            (
                "bad label",
                &bad_label,
                &env,
                Some(Choice::Benchmark("cis-1.10".into())),
                "KUBE_BENCH_BENCHMARK=cis-1.10; node label compliance.tigera.io/cis-benchmark=eks-9.9.9 \
              ignored: not a benchmark of the bundled cfg",
            ),
            (
                "version",
                &[],
                &version,
                Some(Choice::Version("1.27".into())),
                "KUBE_BENCH_VERSION=1.27 (kube-bench maps it to cis-1.9)",
            ),
        ];
        for (name, labels, o, choice, reason) in table {
            let s = decide(&f(labels), Some(&cfg()), o, Scope::Node);
            assert_eq!(s.platform, Platform::Eks, "{name}");
            assert_eq!(s.choice, choice, "{name}");
            assert_eq!(s.reason, reason, "{name}");
        }
    }

    #[test]
    fn without_a_cfg_platform_benchmarks_are_used_unchecked_and_targets_unfiltered() {
        let s = decide(
            &facts("v1.31.1-gke.1678000", None, false, false),
            None,
            &Overrides::default(),
            Scope::Cluster,
        );
        assert_eq!(s.choice, Some(Choice::Benchmark("gke-1.9.0".into())));
        assert_eq!(s.targets, ["policies", "managedservices"]);
    }

    #[test]
    fn arguments_put_run_first_and_the_choice_last() {
        let s = decide(
            &facts("v1.29.3-eks-1a2b3c", None, false, false),
            Some(&cfg()),
            &Overrides::default(),
            Scope::Node,
        );
        let configured = ["--json".to_string()];
        assert_eq!(
            s.args(&configured, false),
            [
                "run",
                "--json",
                "--targets",
                "node",
                "--benchmark",
                "eks-1.7.0"
            ]
        );
        let configured: Vec<String> = ["run", "--json", "-s", "node"].map(String::from).to_vec();
        assert_eq!(
            s.args(&configured, true),
            ["run", "--json", "-s", "node", "--benchmark", "eks-1.7.0"]
        );
    }

    #[test]
    fn arguments_that_choose_are_recognised() {
        let parse = |a: &[&str]| from_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(parse(&["--json"]), (None, false));
        assert_eq!(
            parse(&["--benchmark", "cis-1.9", "--targets=node"]),
            (Some(Choice::Benchmark("cis-1.9".into())), true)
        );
        assert_eq!(
            parse(&["--version=1.27"]),
            (Some(Choice::Version("1.27".into())), false)
        );
    }

    #[test]
    fn the_platform_table_is_kube_benchs() {
        #[rustfmt::skip]
        let table = [
            (Platform::Eks, "1.19", "eks-1.0.1"), (Platform::Eks, "1.25", "eks-1.5.0"),
            (Platform::Eks, "1.34", "eks-1.8.0"), (Platform::Gke, "1.27", "gke-1.2.0"),
            (Platform::Gke, "1.29", "gke-1.6.0"), (Platform::Gke, "1.30", "gke-1.8.0"),
            (Platform::Aks, "1.24", "aks-1.0"), (Platform::Aks, "1.33", "aks-1.8"),
            (Platform::Ocp, "4.12", "rh-1.4"), (Platform::Ocp, "4.16", "rh-1.8"),
            (Platform::Ocp, "3.11", "rh-0.7"), (Platform::K3s, "1.26", "k3s-cis-1.8"),
            (Platform::Rke, "1.24", "rke-cis-1.24"), (Platform::Rke2, "1.25", "rke2-cis-1.7"),
        ];
        for (p, v, b) in table {
            assert_eq!(platform_benchmark(p, v).as_deref(), Some(b), "{p} {v}");
        }
        assert_eq!(platform_benchmark(Platform::Ocp, "4.0"), None);
        assert_eq!(platform_benchmark(Platform::Kubernetes, "1.29"), None);
    }

    #[test]
    fn names_are_checked() {
        for ok in ["eks-1.7.0", "cis-1.11", "1.29", "k3s-cis-1.9"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-x", "eks 1.7", "../etc", "a/b", "x;rm"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
