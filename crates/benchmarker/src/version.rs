//! The node's Kubernetes version, for `kubernetesVersion` and for choosing the benchmark.
//!
//! Detected from `kubelet --version` (the node's own version) and, failing that, from
//! `kubectl version` (the cluster's version when the API server answers, the installed
//! client's otherwise), looked up in PATH, /usr/bin, /usr/local/bin and
//! [`HOST_BIN_MOUNT`]. The benchmarker runs in a container, so the node's kubelet is
//! usually only visible through that mount. When nothing gives a version, [`NotFound`]'s
//! text says what was searched and how to fix it; it is stored as the run's `error`, so
//! the report shows the node as LOW with that reason instead of leaving the node out.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fmt::{self, Write as _};
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use compliance_core::version::KubernetesVersion;
use serde_json::Value;
use tokio::sync::watch;

use crate::process::{self, Captured, Limits, RunError};

/// Where the DaemonSet mounts the node's /usr/bin (read-only), so that the node's own
/// kubelet and kubectl can be run from inside the container.
pub const HOST_BIN_MOUNT: &str = "/usr/local/mount-from-host/bin";

/// Default [`VersionSearch::timeout`]. `kubelet --version` answers at once; kubectl gets
/// half of it for the API server (`--request-timeout`), so a server that never answers
/// still leaves kubectl time to print its client version.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Searched after PATH's entries: where packages and kubeadm install kubelet and
/// kubectl, then the node's own /usr/bin.
const STANDARD_DIRS: [&str; 3] = ["/usr/bin", "/usr/local/bin", HOST_BIN_MOUNT];

/// Bound on a candidate's standard output. Version output is about a kilobyte, so a
/// megabyte means the program is not what its name says; it is stopped and passed over.
const MAX_OUTPUT: usize = 1 << 20;

/// Bound, in characters, on anything a candidate printed that is quoted in its reason,
/// so that the `error` stays readable in one cell of a report's CSV.
const QUOTE_LIMIT: usize = 200;

/// A full release version read by the one version rule, or why it cannot choose a
/// benchmark: `v1.29.3`, `1.29.3-eks-1a2b3c` and `v1.30.0+k3s1` are releases (the suffix is
/// kept apart, in [`KubernetesVersion::suffix`]); `v1.29` is refused rather than padded,
/// so nothing is invented, and so is a development build (`v0.0.0-master+...`), which
/// passing `0.0` to kube-bench would hide behind "no benchmark for this version".
pub fn release_version(token: &str) -> Result<KubernetesVersion, &'static str> {
    let version = KubernetesVersion::parse(token)
        .ok()
        .filter(|v| v.patch().is_some())
        .ok_or("not a MAJOR.MINOR.PATCH version")?;
    if version.major() == 0 {
        return Err("a development build without a release version");
    }
    Ok(version)
}

/// Where and how long to look for kubelet and kubectl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSearch {
    /// Searched in this order, for kubelet and then for kubectl.
    pub dirs: Vec<PathBuf>,
    /// How long each command may run before it is stopped and the search goes on
    /// (default [`DEFAULT_COMMAND_TIMEOUT`]).
    pub timeout: Duration,
}

impl VersionSearch {
    /// PATH's entries, then /usr/bin, /usr/local/bin and [`HOST_BIN_MOUNT`], with the
    /// [`DEFAULT_COMMAND_TIMEOUT`].
    ///
    /// PATH comes first so that the image decides which programs win; the standard
    /// directories follow so that a short PATH still finds what is installed there.
    /// Duplicates are removed keeping the first position (`/usr/bin/` is `/usr/bin`).
    /// Empty entries, which a shell reads as the working directory, are skipped: nothing
    /// worth running is there.
    pub fn standard(path_var: Option<&OsStr>) -> VersionSearch {
        let from_path = path_var.into_iter().flat_map(|p| std::env::split_paths(p));
        let mut dirs: Vec<PathBuf> = Vec::new();
        for dir in from_path.chain(STANDARD_DIRS.iter().map(PathBuf::from)) {
            if !dir.as_os_str().is_empty() && !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        VersionSearch {
            dirs,
            timeout: DEFAULT_COMMAND_TIMEOUT,
        }
    }

    /// Tries kubelet in every directory, then kubectl in every directory; the first
    /// usable version wins.
    ///
    /// kubelet goes first because the benchmark must match the node, and kubelet is the
    /// node's own version; kubectl reports the API server's (or, when the server cannot
    /// be reached, whatever client happens to be installed). A candidate that fails is
    /// recorded with its reason and the search goes on. The same file reached through two
    /// directories (/bin and /usr/bin where one links to the other) is run once, by the
    /// name it was found under: multi-call programs such as k3s choose what to be by it.
    ///
    /// `Cancelled` as soon as `cancel` turns true (shutdown); a command running then is
    /// killed and nothing more is tried.
    pub async fn detect(
        &self,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<Detected, DetectError> {
        let mut failed = Vec::new();
        let mut tried = HashSet::new();
        for tool in [Tool::Kubelet, Tool::Kubectl] {
            for dir in &self.dirs {
                if *cancel.borrow() {
                    return Err(DetectError::Cancelled);
                }
                let program = dir.join(tool.name());
                let identity = match inspect(&program) {
                    Ok(None) => continue,
                    Ok(Some(identity)) => identity,
                    Err(reason) => {
                        failed.push(Attempt { program, reason });
                        continue;
                    }
                };
                if !tried.insert((tool, identity)) {
                    continue;
                }
                match self.run(tool, &program, cancel).await {
                    Ok((version, which)) => {
                        return Ok(Detected {
                            version,
                            source: tool.source(&program, which),
                            failed,
                        });
                    }
                    Err(Failure::Cancelled) => return Err(DetectError::Cancelled),
                    Err(Failure::Reason(reason)) => failed.push(Attempt { program, reason }),
                }
            }
        }
        Err(DetectError::NotFound(NotFound {
            dirs: self.dirs.clone(),
            failed,
        }))
    }

    /// Runs one candidate: its version and, for kubectl, whose version it is.
    async fn run(
        &self,
        tool: Tool,
        program: &Path,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<(KubernetesVersion, Which), Failure> {
        let limits = Limits {
            timeout: self.timeout,
            max_stdout: MAX_OUTPUT,
        };
        let args = tool.args(self.timeout);
        match process::run(program.as_os_str(), &args, limits, cancel).await {
            Ok(captured) => match tool {
                Tool::Kubelet => kubelet_outcome(&captured),
                Tool::Kubectl => kubectl_outcome(&captured),
            }
            .map_err(Failure::Reason),
            Err(RunError::Cancelled { .. }) => Err(Failure::Cancelled),
            Err(e) => Err(Failure::Reason(run_error_reason(&e))),
        }
    }
}

/// A version found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// The release found; it prints as `1.29.3`, its distribution suffix kept apart.
    pub version: KubernetesVersion,
    /// The command that gave it, and for kubectl whose version it is, for the log:
    /// `/usr/bin/kubelet --version`, `/usr/bin/kubectl version (server)`.
    pub source: String,
    /// Candidates tried before, each with why it gave no version. Worth a warning when
    /// not empty: a kubelet that could not run means the version came from kubectl.
    pub failed: Vec<Attempt>,
}

/// A candidate that was found but gave no version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// `dir/kubelet` or `dir/kubectl`.
    pub program: PathBuf,
    /// Why, short and on one line.
    pub reason: String,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.program.display(), self.reason)
    }
}

/// Why no version was detected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetectError {
    /// Its text is the whole `error` of the run's document.
    #[error(transparent)]
    NotFound(NotFound),
    /// The benchmarker is shutting down; nothing is stored.
    #[error("Kubernetes version detection was stopped because the benchmarker is shutting down")]
    Cancelled,
}

/// No candidate gave a version. Displayed on one line (it lands in a CSV cell): what
/// was searched, each candidate that failed and why, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    /// The directories searched, in order.
    pub dirs: Vec<PathBuf>,
    /// The candidates found that gave no version, in the order tried.
    pub failed: Vec<Attempt>,
}

impl std::error::Error for NotFound {}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::from("cannot determine the Kubernetes version: ");
        if self.dirs.is_empty() {
            text.push_str("no directories were searched for kubelet or kubectl");
        } else {
            let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
            let _ = write!(text, "no usable kubelet or kubectl in {}", or_list(&dirs));
        }
        for attempt in &self.failed {
            let _ = write!(text, "; {attempt}");
        }
        let _ = write!(
            text,
            "; mount the host's /usr/bin at {HOST_BIN_MOUNT} (the DaemonSet in manifests/ \
             does), or, where the node runs inside a container (kind, k3d), put kubectl in \
             the node's /usr/bin, or set BENCHMARK_KUBERNETES_VERSION"
        );
        // Paths come from PATH and the file system, so they may hold anything.
        f.write_str(&one_line(&text))
    }
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The version `kubelet --version` printed (`Kubernetes v1.29.3` gives `1.29.3`).
///
/// `None` when no line starts with `Kubernetes` followed by a version, or when that
/// version is not a full release version (`v1.29`, or `v0.0.0-master+...` from a build
/// without release tags): no benchmark can be chosen from those.
pub fn parse_kubelet_version(output: &str) -> Option<KubernetesVersion> {
    kubelet_token(output).and_then(|t| release_version(t).ok())
}

/// What `kubectl version` printed, each as `MAJOR.MINOR.PATCH`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubectlVersions {
    /// kubectl's own version.
    pub client: Option<KubernetesVersion>,
    /// The API server's, when it answered.
    pub server: Option<KubernetesVersion>,
}

impl KubectlVersions {
    /// The server's version, else the client's: the server's is the cluster's, while a
    /// kubectl may be any version.
    pub fn preferred(&self) -> Option<&KubernetesVersion> {
        self.server.as_ref().or(self.client.as_ref())
    }
}

/// The versions in `kubectl version`'s output, JSON (`-o json`) or text.
///
/// Text is read in both forms, `Client Version: v1.29.3` (kubectl 1.28 and later, and
/// `--short` before) and `Client Version: version.Info{..., GitVersion:"v1.20.2", ...}`
/// (older). Only the client and server versions are read, never `kustomizeVersion`.
/// A version that is not a full release version counts as absent, as in
/// [`parse_kubelet_version`].
pub fn parse_kubectl_version(output: &str) -> KubectlVersions {
    let printed = kubectl_tokens(output);
    KubectlVersions {
        client: printed.client.and_then(|t| release_version(&t).ok()),
        server: printed.server.and_then(|t| release_version(&t).ok()),
    }
}

/// The word after `Kubernetes` on the first line that starts with it and has a
/// version-like word next, as printed.
fn kubelet_token(output: &str) -> Option<&str> {
    output.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next() != Some("Kubernetes") {
            return None;
        }
        words
            .next()
            .filter(|w| w.starts_with(|c: char| c == 'v' || c == 'V' || c.is_ascii_digit()))
    })
}

/// Client and server versions as printed.
#[derive(Debug, Default)]
struct Printed {
    client: Option<String>,
    server: Option<String>,
}

fn kubectl_tokens(output: &str) -> Printed {
    json_tokens(output).unwrap_or_else(|| text_tokens(output))
}

/// From `-o json`. The object is cut out between the first `{` and the last `}`, so a
/// line printed before or after it (a wrapper's notice) does not hide it.
fn json_tokens(output: &str) -> Option<Printed> {
    let start = output.find('{')?;
    let end = output.rfind('}')?;
    let value: Value = serde_json::from_str(output.get(start..=end)?).ok()?;
    let version = |key: &str| -> Option<String> {
        let info = value.get(key)?;
        if let Some(git) = info.get("gitVersion").and_then(Value::as_str) {
            return Some(git.to_string());
        }
        // Without gitVersion, major and minor still say which version it was (and the
        // reason then says why that is not enough).
        let major = info.get("major")?.as_str()?;
        let minor = info.get("minor")?.as_str()?;
        Some(format!("{major}.{minor}"))
    };
    let printed = Printed {
        client: version("clientVersion"),
        server: version("serverVersion"),
    };
    (printed.client.is_some() || printed.server.is_some()).then_some(printed)
}

/// From text output; the first `Client Version:` and `Server Version:` lines count.
fn text_tokens(output: &str) -> Printed {
    let mut printed = Printed::default();
    for line in output.lines() {
        let line = line.trim();
        let (slot, rest) = if let Some(rest) = line.strip_prefix("Client Version:") {
            (&mut printed.client, rest)
        } else if let Some(rest) = line.strip_prefix("Server Version:") {
            (&mut printed.server, rest)
        } else {
            continue;
        };
        if slot.is_none() {
            *slot = text_token(rest).map(str::to_string);
        }
    }
    printed
}

fn text_token(rest: &str) -> Option<&str> {
    const GIT_VERSION: &str = "GitVersion:\"";
    if let Some(i) = rest.find(GIT_VERSION) {
        return rest[i + GIT_VERSION.len()..]
            .split('"')
            .next()
            .filter(|v| !v.is_empty());
    }
    rest.split_whitespace().next()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Tool {
    Kubelet,
    Kubectl,
}

/// Whose version kubectl gave; `None` for kubelet.
type Which = Option<&'static str>;

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Kubelet => "kubelet",
            Tool::Kubectl => "kubectl",
        }
    }

    /// The command as named in reasons.
    fn command(self) -> &'static str {
        match self {
            Tool::Kubelet => "kubelet --version",
            Tool::Kubectl => "kubectl version",
        }
    }

    fn args(self, timeout: Duration) -> Vec<String> {
        match self {
            Tool::Kubelet => vec!["--version".to_string()],
            Tool::Kubectl => vec![
                "version".to_string(),
                "-o".to_string(),
                "json".to_string(),
                format!("--request-timeout={}", request_timeout(timeout)),
            ],
        }
    }

    fn source(self, program: &Path, which: Which) -> String {
        match (self, which) {
            (Tool::Kubelet, _) => format!("{} --version", program.display()),
            (Tool::Kubectl, Some(which)) => format!("{} version ({which})", program.display()),
            (Tool::Kubectl, None) => format!("{} version", program.display()),
        }
    }
}

/// kubectl's `--request-timeout`: half the command's timeout (see
/// [`DEFAULT_COMMAND_TIMEOUT`]), never 0, which kubectl reads as no timeout at all.
fn request_timeout(timeout: Duration) -> String {
    let ms = (timeout.as_millis() / 2).max(1);
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

enum Failure {
    Cancelled,
    Reason(String),
}

/// Whether `program` is a candidate: `Ok(None)` when nothing is there (the usual case,
/// not worth a reason), `Err` with the reason when something is there that cannot be
/// run, otherwise its resolved path, which identifies it across directories.
fn inspect(program: &Path) -> Result<Option<PathBuf>, String> {
    match fs::symlink_metadata(program) {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(format!("cannot be inspected: {e}")),
    }
    let meta = match fs::metadata(program) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(broken_link(program)),
        Err(e) => return Err(format!("cannot be inspected: {e}")),
    };
    if !meta.is_file() {
        return Err("not a regular file".to_string());
    }
    let mode = meta.permissions().mode();
    if mode & 0o111 == 0 {
        return Err(format!("not executable (mode {:04o})", mode & 0o7777));
    }
    Ok(Some(
        fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf()),
    ))
}

/// A link that resolves to nothing. Common in [`HOST_BIN_MOUNT`]: an absolute link on the
/// node (`/usr/bin/kubectl -> /etc/alternatives/kubectl`) resolves inside the container.
fn broken_link(program: &Path) -> String {
    match fs::read_link(program) {
        Ok(target) if target.is_absolute() => format!(
            "a symbolic link to {}, which does not exist in this container",
            target.display()
        ),
        Ok(target) => format!(
            "a symbolic link to {}, which does not exist",
            target.display()
        ),
        Err(e) => format!("cannot be inspected: {e}"),
    }
}

/// kubelet's version from a finished run, whatever its exit status.
fn kubelet_outcome(c: &Captured) -> Result<(KubernetesVersion, Which), String> {
    let stdout = String::from_utf8_lossy(&c.stdout);
    match kubelet_token(&stdout).or_else(|| kubelet_token(&c.stderr)) {
        Some(token) => release_version(token).map(|v| (v, None)).map_err(|why| {
            format!(
                "`{}` printed {}, {why}",
                Tool::Kubelet.command(),
                quote(token)
            )
        }),
        None => Err(no_version(Tool::Kubelet, c, &stdout)),
    }
}

/// kubectl's version from a finished run, whatever its exit status: it exits 1 when the
/// server cannot be reached, after printing a valid client version.
fn kubectl_outcome(c: &Captured) -> Result<(KubernetesVersion, Which), String> {
    let stdout = String::from_utf8_lossy(&c.stdout);
    let mut printed = kubectl_tokens(&stdout);
    if printed.client.is_none() && printed.server.is_none() {
        printed = kubectl_tokens(&c.stderr);
    }
    let mut refused = Vec::new();
    for (which, token) in [("server", &printed.server), ("client", &printed.client)] {
        let Some(token) = token else { continue };
        match release_version(token) {
            Ok(version) => return Ok((version, Some(which))),
            Err(why) => refused.push(format!("{which} version {}, {why}", quote(token))),
        }
    }
    if refused.is_empty() {
        Err(no_version(Tool::Kubectl, c, &stdout))
    } else {
        Err(format!(
            "`{}` printed {}",
            Tool::Kubectl.command(),
            refused.join(" and ")
        ))
    }
}

/// The reason for a run that printed no version: its exit status and the most telling
/// line it printed, standard error first (where programs explain themselves).
fn no_version(tool: Tool, c: &Captured, stdout: &str) -> String {
    let status = describe_status(c.status);
    match telling_line(&c.stderr).or_else(|| telling_line(stdout)) {
        Some(line) => format!("`{}` printed no version ({status}: {line})", tool.command()),
        None => format!("`{}` printed no version ({status})", tool.command()),
    }
}

fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

fn run_error_reason(e: &RunError) -> String {
    match e {
        // The file was there a moment ago, so this is execve's ENOENT for a missing
        // interpreter: a host program whose dynamic loader this image lacks.
        RunError::NotFound { .. } => "cannot be started: its interpreter or dynamic loader \
                                      is missing in this container"
            .to_string(),
        RunError::Spawn { error, .. } => format!("cannot be started: {error}"),
        RunError::TimedOut { after, stderr, .. } => {
            let base = format!(
                "did not finish within {} and was stopped",
                humantime::format_duration(*after)
            );
            match telling_line(stderr) {
                Some(line) => format!("{base} ({line})"),
                None => base,
            }
        }
        RunError::TooMuchOutput { limit, .. } => {
            format!("printed more than {limit} bytes and was stopped")
        }
        RunError::Read { error, .. } => format!("reading its output failed: {error}"),
        RunError::Cancelled { .. } => "stopped: the benchmarker is shutting down".to_string(),
    }
}

/// The line of `text` that best says what went wrong, quoted: the first that is not a
/// klog line (`E0101 12:00:00.000000 ...`), because kubectl logs each failed request
/// before its one-line summary ("The connection to the server ... was refused"), and
/// otherwise the last line.
fn telling_line(text: &str) -> Option<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = lines.iter().find(|l| !is_klog(l)).or(lines.last())?;
    Some(quote(line))
}

/// `I0101 `, `W0101 `, `E0101 ` or `F0101 `: klog's severity and date.
fn is_klog(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 5
        && matches!(b[0], b'I' | b'W' | b'E' | b'F')
        && b[1..5].iter().all(u8::is_ascii_digit)
        && b[5] == b' '
}

/// `text` on one line and at most [`QUOTE_LIMIT`] characters (`...` marks a cut).
fn quote(text: &str) -> String {
    let text = one_line(text);
    let text = text.trim();
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{}...", text[..cut].trim_end()),
        None => text.to_string(),
    }
}

/// Control characters (newlines, tabs, escapes) become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_version_keeps_major_minor_patch_and_sets_the_suffix_apart() {
        for (token, want) in [
            ("v1.29.3", "1.29.3"),
            ("1.29.3", "1.29.3"),
            ("V1.2.3", "1.2.3"),
            ("1.29.3-eks-1a2b3c", "1.29.3"),
            ("v1.30.0+k3s1", "1.30.0"),
            ("v1.28.2-gke.1157000", "1.28.2"),
            ("v1.31.0-rc.1", "1.31.0"),
            (" v1.29.3\n", "1.29.3"),
            ("v10.100.1000", "10.100.1000"),
        ] {
            let v = release_version(token).unwrap();
            assert_eq!(v.to_string(), want, "{token:?}");
        }
    }

    #[test]
    fn a_release_version_needs_three_numbers_and_a_release() {
        for token in [
            "",
            "v",
            "1.29",
            "v1.29",
            "1.2.3.4",
            "x1.2.3",
            "1..3",
            "1.2.",
            "1.2.x",
            "vv1.2.3",
            "-1.2.3",
            "1.2.34567.8",
            "v0.0.0-master+4c8b1a2",
        ] {
            assert!(release_version(token).is_err(), "{token:?}");
        }
    }

    #[test]
    fn kubelet_output_of_each_distribution_gives_major_minor_patch() {
        for (output, want) in [
            ("Kubernetes v1.29.3\n", "1.29.3"),
            ("Kubernetes v1.29.3-eks-1a2b3c\n", "1.29.3"),
            ("Kubernetes v1.30.0+k3s1\n", "1.30.0"),
            ("Kubernetes v1.28.2-gke.1157000\n", "1.28.2"),
            ("Kubernetes v1.31.0-rc.1\n", "1.31.0"),
            ("Kubernetes v1.27.9-1+a5e8e3a1d2f1c4\n", "1.27.9"),
            // A deprecation warning before the version line.
            (
                "Flag --cgroup-driver has been deprecated, set it in the config file\n\
                 Kubernetes v1.29.3\n",
                "1.29.3",
            ),
        ] {
            assert_eq!(
                parse_kubelet_version(output)
                    .map(|v| v.to_string())
                    .as_deref(),
                Some(want),
                "{output:?}"
            );
        }
    }

    #[test]
    fn kubelet_output_without_a_full_release_version_gives_none() {
        for output in [
            "",
            "\n",
            "Kubernetes\n",
            "Kubernetes v1.29\n",
            "Kubernetes v0.0.0-master+$Format:%H$\n",
            "Error: unknown flag: --version\n",
            "kubelet version v1.29.3\n",
            "the next Kubernetes release is v1.30.0\n",
        ] {
            assert_eq!(parse_kubelet_version(output), None, "{output:?}");
        }
    }

    const KUBECTL_JSON_WITH_SERVER: &str = r#"{
  "clientVersion": {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.2",
    "gitCommit": "0000000000000000000000000000000000000001",
    "gitTreeState": "clean",
    "buildDate": "2024-06-11T20:29:44Z",
    "goVersion": "go1.22.4",
    "compiler": "gc",
    "platform": "linux/amd64"
  },
  "kustomizeVersion": "v5.0.4-0.20230601165947-6ce0bf390ce3",
  "serverVersion": {
    "major": "1",
    "minor": "29+",
    "gitVersion": "v1.29.4-eks-036c24b",
    "gitCommit": "0000000000000000000000000000000000000002",
    "gitTreeState": "clean",
    "buildDate": "2024-04-30T23:53:10Z",
    "goVersion": "go1.21.9",
    "compiler": "gc",
    "platform": "linux/amd64"
  }
}
"#;

    const KUBECTL_JSON_CLIENT_ONLY: &str = r#"{
  "clientVersion": {
    "major": "1",
    "minor": "29",
    "gitVersion": "v1.29.3",
    "gitCommit": "0000000000000000000000000000000000000003",
    "gitTreeState": "clean",
    "buildDate": "2024-03-15T00:08:19Z",
    "goVersion": "go1.21.8",
    "compiler": "gc",
    "platform": "linux/arm64"
  },
  "kustomizeVersion": "v5.0.4-0.20230601165947-6ce0bf390ce3"
}
"#;

    /// The versions as stored: the one spelling, suffix apart.
    type Shown = (Option<String>, Option<String>);

    fn versions(client: Option<&str>, server: Option<&str>) -> Shown {
        (client.map(str::to_string), server.map(str::to_string))
    }

    fn shown(v: KubectlVersions) -> Shown {
        (
            v.client.map(|c| c.to_string()),
            v.server.map(|s| s.to_string()),
        )
    }

    #[test]
    fn kubectl_json_gives_client_and_server() {
        let v = parse_kubectl_version(KUBECTL_JSON_WITH_SERVER);
        assert_eq!(shown(v.clone()), versions(Some("1.30.2"), Some("1.29.4")));
        assert_eq!(
            v.preferred().map(|p| p.to_string()).as_deref(),
            Some("1.29.4")
        );
    }

    #[test]
    fn kubectl_json_without_a_server_gives_the_client_only() {
        let v = parse_kubectl_version(KUBECTL_JSON_CLIENT_ONLY);
        assert_eq!(shown(v.clone()), versions(Some("1.29.3"), None));
        assert_eq!(
            v.preferred().map(|p| p.to_string()).as_deref(),
            Some("1.29.3")
        );
    }

    #[test]
    fn kustomize_version_is_never_taken_for_kubernetes() {
        let json = r#"{"kustomizeVersion": "v5.0.4-0.20230601165947-6ce0bf390ce3"}"#;
        assert_eq!(parse_kubectl_version(json), KubectlVersions::default());
        let text = "Kustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3\n";
        assert_eq!(parse_kubectl_version(text), KubectlVersions::default());
    }

    #[test]
    fn kubectl_json_with_major_and_minor_only_is_not_enough() {
        let json = r#"{"clientVersion": {"major": "1", "minor": "29"}}"#;
        assert_eq!(parse_kubectl_version(json), KubectlVersions::default());
    }

    #[test]
    fn kubectl_json_after_a_notice_line_is_still_read() {
        let output =
            format!("kubectl wrapper: using the cluster's config\n{KUBECTL_JSON_CLIENT_ONLY}");
        assert_eq!(
            shown(parse_kubectl_version(&output)),
            versions(Some("1.29.3"), None)
        );
    }

    #[test]
    fn kubectl_text_in_the_current_format() {
        let output = "Client Version: v1.29.3\n\
                      Kustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3\n\
                      Server Version: v1.29.1-eks-508b6b3\n";
        assert_eq!(
            shown(parse_kubectl_version(output)),
            versions(Some("1.29.3"), Some("1.29.1"))
        );
        let client_only = "Client Version: v1.30.0+k3s1\n\
                           Kustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3\n";
        assert_eq!(
            shown(parse_kubectl_version(client_only)),
            versions(Some("1.30.0"), None)
        );
    }

    #[test]
    fn kubectl_text_in_the_old_version_info_format() {
        let output = "Client Version: version.Info{Major:\"1\", Minor:\"20\", \
                      GitVersion:\"v1.20.2\", GitCommit:\"0000000000000000000000000000000000000004\", \
                      GitTreeState:\"clean\", BuildDate:\"2021-01-13T13:28:09Z\", \
                      GoVersion:\"go1.15.5\", Compiler:\"gc\", Platform:\"linux/amd64\"}\n\
                      Server Version: version.Info{Major:\"1\", Minor:\"20+\", \
                      GitVersion:\"v1.20.4-eks-6b7464\", GitCommit:\"0000000000000000000000000000000000000005\", \
                      GitTreeState:\"clean\", BuildDate:\"2021-04-01T09:35:49Z\", \
                      GoVersion:\"go1.15.8\", Compiler:\"gc\", Platform:\"linux/amd64\"}\n";
        assert_eq!(
            shown(parse_kubectl_version(output)),
            versions(Some("1.20.2"), Some("1.20.4"))
        );
    }

    #[test]
    fn garbage_gives_no_kubectl_versions() {
        for output in [
            "",
            "{",
            "}{",
            "[1, 2, 3]",
            "{\"clientVersion\": 7}",
            "error: unknown shorthand flag: 'o' in -o\n",
            "Client Version:\n",
            "Client Version: v1.29\n",
            "Client Version: version.Info{Major:\"1\", Minor:\"20\"}\n",
            "\u{0}\u{1}binary\u{ff}",
        ] {
            assert_eq!(
                parse_kubectl_version(output),
                KubectlVersions::default(),
                "{output:?}"
            );
        }
    }

    fn captured(code: i32, stdout: &str, stderr: &str) -> Captured {
        Captured {
            status: ExitStatus::from_raw(code << 8),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.to_string(),
        }
    }

    const REFUSED: &str = "The connection to the server localhost:8080 was refused - did you specify the right host or port?";

    #[test]
    fn kubectl_exiting_1_with_a_client_version_is_used_and_says_client() {
        let c = captured(1, KUBECTL_JSON_CLIENT_ONLY, REFUSED);
        assert_eq!(
            kubectl_outcome(&c).map(|(v, w)| (v.to_string(), w)),
            Ok(("1.29.3".to_string(), Some("client")))
        );
        let c = captured(0, KUBECTL_JSON_WITH_SERVER, "");
        assert_eq!(
            kubectl_outcome(&c).map(|(v, w)| (v.to_string(), w)),
            Ok(("1.29.4".to_string(), Some("server")))
        );
    }

    #[test]
    fn a_server_version_that_is_not_full_falls_back_to_the_client() {
        let json = r#"{"clientVersion": {"gitVersion": "v1.29.3"},
                       "serverVersion": {"major": "1", "minor": "29"}}"#;
        assert_eq!(
            kubectl_outcome(&captured(0, json, "")).map(|(v, w)| (v.to_string(), w)),
            Ok(("1.29.3".to_string(), Some("client")))
        );
    }

    #[test]
    fn kubelet_version_on_stderr_is_read_when_stdout_has_none() {
        let c = captured(0, "", "Kubernetes v1.29.3\n");
        assert_eq!(
            kubelet_outcome(&c).map(|(v, w)| (v.to_string(), w)),
            Ok(("1.29.3".to_string(), None))
        );
    }

    #[test]
    fn reasons_say_what_was_printed_on_one_short_line() {
        let klog = "E0312 10:00:00.000000   12345 memcache.go:265] couldn't get current server \
                    API group list: Get \"http://localhost:8080/api?timeout=5s\": dial tcp \
                    [::1]:8080: connect: connection refused\n";
        let c = captured(1, "", &format!("{klog}{klog}{REFUSED}\n"));
        assert_eq!(
            kubectl_outcome(&c),
            Err(format!(
                "`kubectl version` printed no version (exit status 1: {REFUSED})"
            ))
        );
        assert_eq!(
            kubelet_outcome(&captured(1, "", "")),
            Err("`kubelet --version` printed no version (exit status 1)".to_string())
        );
        assert_eq!(
            kubelet_outcome(&captured(0, "Kubernetes v1.29\n", "")),
            Err("`kubelet --version` printed v1.29, not a MAJOR.MINOR.PATCH version".to_string())
        );
        assert_eq!(
            kubectl_outcome(&captured(0, "Client Version: v1.29\n", "")),
            Err(
                "`kubectl version` printed client version v1.29, not a MAJOR.MINOR.PATCH version"
                    .to_string()
            )
        );
        let long = "x".repeat(1000);
        let reason =
            kubelet_outcome(&captured(2, "", &format!("panic: {long}\n\tmore"))).unwrap_err();
        assert!(reason.ends_with("...)"), "{reason}");
        assert!(reason.len() < 300, "{reason}");
        let killed = Captured {
            status: ExitStatus::from_raw(9),
            ..captured(0, "", "")
        };
        assert_eq!(
            kubelet_outcome(&killed),
            Err("`kubelet --version` printed no version (killed by signal 9)".to_string())
        );
    }

    #[test]
    fn telling_line_skips_klog_lines_unless_there_is_nothing_else() {
        assert_eq!(
            telling_line("E0101 00:00:00.000000 1 x.go:1] a\nsummary\nafter").as_deref(),
            Some("summary")
        );
        assert_eq!(
            telling_line("W0101 00:00:00.000000 1 x.go:1] a\nE0101 00:00:00.000000 1 x.go:2] b")
                .as_deref(),
            Some("E0101 00:00:00.000000 1 x.go:2] b")
        );
        assert_eq!(telling_line(" \n\n"), None);
        assert_eq!(telling_line("a\tb\u{1b}[0m").as_deref(), Some("a b [0m"));
    }

    #[test]
    fn kubectl_gets_half_the_command_timeout_for_the_server() {
        assert_eq!(request_timeout(DEFAULT_COMMAND_TIMEOUT), "5s");
        assert_eq!(request_timeout(Duration::from_millis(500)), "250ms");
        assert_eq!(request_timeout(Duration::from_secs(3)), "1500ms");
        assert_eq!(request_timeout(Duration::ZERO), "1ms");
        assert_eq!(
            Tool::Kubectl.args(DEFAULT_COMMAND_TIMEOUT),
            ["version", "-o", "json", "--request-timeout=5s"]
        );
        assert_eq!(Tool::Kubelet.args(DEFAULT_COMMAND_TIMEOUT), ["--version"]);
    }

    fn paths(dirs: &[&str]) -> Vec<PathBuf> {
        dirs.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn standard_search_is_path_then_the_usual_places_without_duplicates() {
        let s = VersionSearch::standard(Some(OsStr::new(
            "/opt/bin::/usr/local/bin/:/usr/bin:/opt/bin:/sbin:",
        )));
        assert_eq!(
            s.dirs,
            paths(&[
                "/opt/bin",
                "/usr/local/bin/",
                "/usr/bin",
                "/sbin",
                HOST_BIN_MOUNT
            ])
        );
        assert_eq!(s.timeout, DEFAULT_COMMAND_TIMEOUT);

        let standard = paths(&["/usr/bin", "/usr/local/bin", HOST_BIN_MOUNT]);
        assert_eq!(VersionSearch::standard(None).dirs, standard);
        assert_eq!(VersionSearch::standard(Some(OsStr::new(""))).dirs, standard);
        // The image puts the host mount last in PATH; it stays where PATH has it.
        let s = VersionSearch::standard(Some(OsStr::new(&format!(
            "/usr/local/sbin:/usr/local/bin:/usr/bin:{HOST_BIN_MOUNT}"
        ))));
        assert_eq!(
            s.dirs,
            paths(&[
                "/usr/local/sbin",
                "/usr/local/bin",
                "/usr/bin",
                HOST_BIN_MOUNT
            ])
        );
    }

    const FIXES: &str = "mount the host's /usr/bin at /usr/local/mount-from-host/bin (the \
                         DaemonSet in manifests/ does), or, where the node runs inside a \
                         container (kind, k3d), put kubectl in the node's /usr/bin, or set \
                         BENCHMARK_KUBERNETES_VERSION";

    #[test]
    fn not_found_says_what_was_searched_why_candidates_failed_and_how_to_fix_it() {
        let not_found = NotFound {
            dirs: paths(&["/a", "/b", "/usr/bin", "/usr/local/bin", HOST_BIN_MOUNT]),
            failed: vec![
                Attempt {
                    program: "/a/kubelet".into(),
                    reason: "not executable (mode 0644)".into(),
                },
                Attempt {
                    program: "/usr/bin/kubectl".into(),
                    reason: format!(
                        "`kubectl version` printed no version (exit status 1: {REFUSED})"
                    ),
                },
            ],
        };
        assert_eq!(
            DetectError::NotFound(not_found).to_string(),
            format!(
                "cannot determine the Kubernetes version: no usable kubelet or kubectl in /a, \
                 /b, /usr/bin, /usr/local/bin or /usr/local/mount-from-host/bin; /a/kubelet: \
                 not executable (mode 0644); /usr/bin/kubectl: `kubectl version` printed no \
                 version (exit status 1: {REFUSED}); {FIXES}"
            )
        );
    }

    #[test]
    fn not_found_is_one_line_whatever_the_paths_hold() {
        let not_found = NotFound {
            dirs: paths(&["/odd\ndir"]),
            failed: vec![],
        };
        assert_eq!(
            not_found.to_string(),
            format!(
                "cannot determine the Kubernetes version: no usable kubelet or kubectl in \
                 /odd dir; {FIXES}"
            )
        );
        let nothing = NotFound {
            dirs: vec![],
            failed: vec![],
        };
        assert!(
            nothing
                .to_string()
                .contains("no directories were searched for kubelet or kubectl; mount"),
            "{nothing}"
        );
    }

    #[test]
    fn or_list_joins_like_a_sentence() {
        let s = |v: &[&str]| or_list(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&[]), "");
        assert_eq!(s(&["a"]), "a");
        assert_eq!(s(&["a", "b"]), "a or b");
        assert_eq!(s(&["a", "b", "c"]), "a, b or c");
    }
}
