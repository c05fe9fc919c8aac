//! Kubernetes version detection against stand-in `kubelet` and `kubectl` shell scripts
//! written into temporary directories. The search is only ever given those directories,
//! never /usr/bin, so programs installed on the machine running the tests cannot
//! interfere.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use compliance_benchmarker::process::never_cancelled;
use compliance_benchmarker::version::{
    Attempt, DetectError, Detected, HOST_BIN_MOUNT, NotFound, VersionSearch,
};
use tempfile::TempDir;
use tokio::sync::watch;

/// Long enough never to fire on a slow machine; kubectl is then given 5s for the server.
const TIMEOUT: Duration = Duration::from_secs(10);

const SERVER_JSON: &str = r#"{
  "clientVersion": {"major": "1", "minor": "30", "gitVersion": "v1.30.2", "platform": "linux/amd64"},
  "kustomizeVersion": "v5.0.4-0.20230601165947-6ce0bf390ce3",
  "serverVersion": {"major": "1", "minor": "29+", "gitVersion": "v1.29.4-eks-036c24b", "platform": "linux/amd64"}
}"#;

const CLIENT_JSON: &str = r#"{
  "clientVersion": {"major": "1", "minor": "29", "gitVersion": "v1.29.3", "platform": "linux/amd64"},
  "kustomizeVersion": "v5.0.4-0.20230601165947-6ce0bf390ce3"
}"#;

const REFUSED: &str = "The connection to the server localhost:8080 was refused - did you specify the right host or port?";

fn tempdir() -> TempDir {
    tempfile::tempdir().unwrap()
}

/// Writes an executable `#!/bin/sh` script `dir/name` running `body`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A kubelet printing `line` as `kubelet --version` does.
fn kubelet(dir: &Path, line: &str) -> PathBuf {
    script(dir, "kubelet", &format!("echo '{line}'"))
}

/// A kubectl printing `json` on stdout, then exiting with `code` after `stderr`.
fn kubectl(dir: &Path, json: &str, stderr: &str, code: i32) -> PathBuf {
    script(
        dir,
        "kubectl",
        &format!("cat <<'EOF'\n{json}\nEOF\necho '{stderr}' >&2\nexit {code}"),
    )
}

fn search(dirs: &[&Path], timeout: Duration) -> VersionSearch {
    VersionSearch {
        dirs: dirs.iter().map(|d| d.to_path_buf()).collect(),
        timeout,
    }
}

async fn detect(dirs: &[&Path]) -> Result<Detected, DetectError> {
    search(dirs, TIMEOUT).detect(&mut never_cancelled()).await
}

fn not_found(result: Result<Detected, DetectError>) -> NotFound {
    match result {
        Err(DetectError::NotFound(n)) => n,
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn attempt(program: &Path, reason: &str) -> Attempt {
    Attempt {
        program: program.to_path_buf(),
        reason: reason.to_string(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn kubelet_gives_the_version_with_its_suffix_apart() {
    let dir = tempdir();
    let program = kubelet(dir.path(), "Kubernetes v1.29.3-eks-1a2b3c");
    let found = detect(&[dir.path()]).await.unwrap();
    assert_eq!(found.version.to_string(), "1.29.3");
    assert_eq!(found.version.suffix(), Some("eks-1a2b3c"));
    assert_eq!(
        found,
        Detected {
            version: "1.29.3-eks-1a2b3c".parse().unwrap(),
            source: format!("{} --version", program.display()),
            failed: vec![],
        }
    );
}

#[tokio::test(flavor = "current_thread")]
async fn only_kubectl_with_a_reachable_server_gives_the_servers_version() {
    let dir = tempdir();
    // Refuses anything but the arguments detection is meant to pass.
    let program = script(
        dir.path(),
        "kubectl",
        &format!(
            "[ \"$*\" = 'version -o json --request-timeout=5s' ] || \
             {{ echo \"unexpected arguments: $*\" >&2; exit 2; }}\n\
             cat <<'EOF'\n{SERVER_JSON}\nEOF"
        ),
    );
    let found = detect(&[dir.path()]).await.unwrap();
    assert_eq!(found.version.to_string(), "1.29.4");
    assert_eq!(
        found.source,
        format!("{} version (server)", program.display())
    );
    assert_eq!(found.failed, vec![]);
}

#[tokio::test(flavor = "current_thread")]
async fn kubectl_without_a_server_gives_its_client_version_despite_exit_1() {
    let dir = tempdir();
    let program = kubectl(dir.path(), CLIENT_JSON, REFUSED, 1);
    let found = detect(&[dir.path()]).await.unwrap();
    assert_eq!(found.version.to_string(), "1.29.3");
    assert_eq!(
        found.source,
        format!("{} version (client)", program.display())
    );
}

#[tokio::test(flavor = "current_thread")]
async fn kubelet_wins_even_when_kubectl_is_in_an_earlier_directory() {
    let (first, second) = (tempdir(), tempdir());
    kubectl(first.path(), SERVER_JSON, "", 0);
    let program = kubelet(second.path(), "Kubernetes v1.28.9");
    let found = detect(&[first.path(), second.path()]).await.unwrap();
    assert_eq!(found.version.to_string(), "1.28.9");
    assert_eq!(found.source, format!("{} --version", program.display()));
}

#[tokio::test(flavor = "current_thread")]
async fn a_broken_kubelet_falls_through_to_kubectl_and_its_reason_is_kept() {
    let dir = tempdir();
    let broken = script(dir.path(), "kubelet", "exit 1");
    kubectl(dir.path(), CLIENT_JSON, REFUSED, 1);
    let found = detect(&[dir.path()]).await.unwrap();
    assert_eq!(found.version.to_string(), "1.29.3");
    assert_eq!(
        found.failed,
        vec![attempt(
            &broken,
            "`kubelet --version` printed no version (exit status 1)"
        )]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_kubelet_that_cannot_be_run_is_passed_over_with_the_reason() {
    let (plain, directory, dangling, later) = (tempdir(), tempdir(), tempdir(), tempdir());
    // Would give 1.99.0 if it were run.
    let not_executable = kubelet(plain.path(), "Kubernetes v1.99.0");
    fs::set_permissions(&not_executable, fs::Permissions::from_mode(0o644)).unwrap();
    let a_directory = directory.path().join("kubelet");
    fs::create_dir(&a_directory).unwrap();
    // What an absolute link on the node looks like through the host bin mount.
    let broken_link = dangling.path().join("kubelet");
    std::os::unix::fs::symlink("/nonexistent/etc/alternatives/kubelet", &broken_link).unwrap();
    kubelet(later.path(), "Kubernetes v1.29.3");

    let found = detect(&[
        plain.path(),
        directory.path(),
        dangling.path(),
        later.path(),
    ])
    .await
    .unwrap();
    assert_eq!(found.version.to_string(), "1.29.3");
    assert_eq!(
        found.failed,
        vec![
            attempt(&not_executable, "not executable (mode 0644)"),
            attempt(&a_directory, "not a regular file"),
            attempt(
                &broken_link,
                "a symbolic link to /nonexistent/etc/alternatives/kubelet, which does not \
                 exist in this container"
            ),
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_hanging_kubelet_is_stopped_by_the_timeout_and_the_search_goes_on() {
    let dir = tempdir();
    let hanging = script(
        dir.path(),
        "kubelet",
        "echo 'waiting for the lock' >&2\nsleep 100",
    );
    kubectl(dir.path(), CLIENT_JSON, REFUSED, 1);
    let started = Instant::now();
    let found = search(&[dir.path()], Duration::from_millis(500))
        .detect(&mut never_cancelled())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(found.version.to_string(), "1.29.3");
    assert_eq!(
        found.failed,
        vec![attempt(
            &hanging,
            "did not finish within 500ms and was stopped (waiting for the lock)"
        )]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn nothing_usable_is_not_found_naming_every_directory_and_the_fixes() {
    let (empty, with_kubectl) = (tempdir(), tempdir());
    let unreachable = script(
        with_kubectl.path(),
        "kubectl",
        &format!("echo '{REFUSED}' >&2\nexit 1"),
    );
    let missing = empty.path().join("no-such-dir");
    let n = not_found(detect(&[empty.path(), &missing, with_kubectl.path()]).await);
    assert_eq!(
        n.failed,
        vec![attempt(
            &unreachable,
            &format!("`kubectl version` printed no version (exit status 1: {REFUSED})")
        )]
    );

    let message = DetectError::NotFound(n).to_string();
    assert!(!message.contains('\n'), "{message}");
    assert!(
        message.starts_with(
            "cannot determine the Kubernetes version: no usable kubelet or kubectl in "
        ),
        "{message}"
    );
    let dirs = format!(
        "in {}, {} or {};",
        empty.path().display(),
        missing.display(),
        with_kubectl.path().display()
    );
    assert!(message.contains(&dirs), "{message}");
    assert!(
        message.contains(&format!("; {}: `kubectl version`", unreachable.display())),
        "{message}"
    );
    for fix in [
        &format!("mount the host's /usr/bin at {HOST_BIN_MOUNT}"),
        "put kubectl in the node's /usr/bin",
        "set BENCHMARK_KUBERNETES_VERSION",
    ] {
        assert!(message.contains(fix), "{fix:?} missing from {message}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn distribution_version_strings_are_normalised() {
    let k3s = tempdir();
    kubelet(k3s.path(), "Kubernetes v1.30.0+k3s1");
    assert_eq!(
        detect(&[k3s.path()]).await.unwrap().version.to_string(),
        "1.30.0"
    );

    // A kubectl printing text whatever it is asked, as a wrapper might.
    let gke = tempdir();
    script(
        gke.path(),
        "kubectl",
        "echo 'Client Version: v1.29.3'\n\
         echo 'Kustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3'\n\
         echo 'Server Version: v1.28.2-gke.1157000'",
    );
    let found = detect(&[gke.path()]).await.unwrap();
    assert_eq!(found.version.to_string(), "1.28.2");
    assert!(
        found.source.ends_with("version (server)"),
        "{}",
        found.source
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_version_without_a_patch_is_refused_with_the_reason() {
    let dir = tempdir();
    let short = kubelet(dir.path(), "Kubernetes v1.29");
    let n = not_found(detect(&[dir.path()]).await);
    assert_eq!(
        n.failed,
        vec![attempt(
            &short,
            "`kubelet --version` printed v1.29, not a MAJOR.MINOR.PATCH version"
        )]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_same_file_through_two_directories_is_run_once() {
    let (real, links) = (tempdir(), tempdir());
    let count = real.path().join("runs");
    script(
        real.path(),
        "kubelet",
        &format!("echo run >> '{}'\nexit 1", count.display()),
    );
    let linked_dir = links.path().join("bin");
    std::os::unix::fs::symlink(real.path(), &linked_dir).unwrap();
    let n = not_found(detect(&[real.path(), &linked_dir]).await);
    assert_eq!(n.failed.len(), 1, "{:?}", n.failed);
    assert_eq!(fs::read_to_string(&count).unwrap(), "run\n");
}

#[tokio::test(flavor = "current_thread")]
async fn a_multi_call_program_is_run_by_the_name_it_was_found_under() {
    let dir = tempdir();
    // Like k3s: one binary, kubectl through a link, behaving by the name it is run as.
    script(
        dir.path(),
        "k3s",
        "case \"$(basename \"$0\")\" in\n\
         kubectl) echo '{\"clientVersion\": {\"gitVersion\": \"v1.30.0+k3s1\"}}' ;;\n\
         *) echo \"k3s: unknown command $*\" >&2; exit 1 ;;\n\
         esac",
    );
    std::os::unix::fs::symlink("k3s", dir.path().join("kubectl")).unwrap();
    let found = detect(&[dir.path()]).await.unwrap();
    assert_eq!(found.version.to_string(), "1.30.0");
    assert_eq!(
        found.source,
        format!("{} version (client)", dir.path().join("kubectl").display())
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_program_whose_interpreter_is_missing_is_passed_over() {
    let dir = tempdir();
    let program = dir.path().join("kubelet");
    fs::write(&program, "#!/nonexistent/sh\necho 'Kubernetes v1.29.3'\n").unwrap();
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    let n = not_found(detect(&[dir.path()]).await);
    assert_eq!(
        n.failed,
        vec![attempt(
            &program,
            "cannot be started: its interpreter or dynamic loader is missing in this container"
        )]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn cancelling_stops_the_running_command_and_the_search() {
    let dir = tempdir();
    let ran = dir.path().join("kubectl-ran");
    script(dir.path(), "kubelet", "sleep 100");
    script(
        dir.path(),
        "kubectl",
        &format!("touch '{}'\ncat <<'EOF'\n{CLIENT_JSON}\nEOF", ran.display()),
    );
    let (tx, mut rx) = watch::channel(false);
    let search = search(&[dir.path()], Duration::from_secs(60));
    let started = Instant::now();
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.send(true).unwrap();
        std::future::pending::<()>().await
    };
    let result = tokio::select! {
        r = search.detect(&mut rx) => r,
        _ = cancel => unreachable!(),
    };
    assert_eq!(result, Err(DetectError::Cancelled));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(!ran.exists(), "kubectl was run after the cancel");
}

#[tokio::test(flavor = "current_thread")]
async fn an_already_cancelled_search_runs_nothing() {
    let dir = tempdir();
    let ran = dir.path().join("kubelet-ran");
    script(
        dir.path(),
        "kubelet",
        &format!("touch '{}'\necho 'Kubernetes v1.29.3'", ran.display()),
    );
    let (_tx, mut rx) = watch::channel(true);
    let result = search(&[dir.path()], TIMEOUT).detect(&mut rx).await;
    assert_eq!(result, Err(DetectError::Cancelled));
    assert!(!ran.exists());
}
