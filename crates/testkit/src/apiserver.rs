//! A real Kubernetes API server for integration tests: kube-apiserver 1.20.2 built from
//! Debian's sources by `scripts/kube-apiserver.sh build`, over Debian's etcd 3.4; and, for
//! the tests that need Jobs run and deletions cascaded, kube-controller-manager 1.20.2
//! built from the same sources.
//!
//! Start each test with
//!
//! ```ignore
//! let Some(api) = apiserver::shared() else { return };
//! let client = api.client(api.admin_token()).await;
//! ```
//!
//! or, with the controllers, `apiserver::shared_with_controllers()` in place of `shared()`.
//!
//! # API
//!
//! - [`shared()`] starts one etcd and one kube-apiserver for the whole test process (lazily,
//!   on first use, whichever test thread gets there first) and returns them for the rest of
//!   it. It returns `None` when the servers are not available here (the apiserver binary is
//!   not built, or etcd or openssl is missing) after writing one `SKIPPED: ...` line for
//!   the calling test to the terminal; a test then returns early and passes. A binary that
//!   exists but does not come up is a failure: every caller panics with the log tail.
//! - [`shared_with_controllers()`] returns the same server, after starting (once, on first
//!   use) a kube-controller-manager beside it that runs the Job controller and the garbage
//!   collector ([`CONTROLLERS`]); see [The controllers](#the-controllers). `None` with a
//!   SKIPPED line, like `shared()`, when either binary is missing; a panic quoting
//!   `controller-manager.log` when the controller manager does not work.
//! - [`pods_of_job`] lists the Pods the Job controller made for a Job (by their `job-name`
//!   label), and [`set_pod_phase`] ends a Pod as `Succeeded` or `Failed` the way a kubelet
//!   would, through the `status` subresource.
//! - [`skip`] writes the same kind of line for a test that skips for a reason of its own
//!   (say, no `kubectl`).
//! - [`TestApiServer`]: [`url`](TestApiServer::url) (`https://127.0.0.1:<port>`),
//!   [`admin_token`](TestApiServer::admin_token) (user [`ADMIN_USER`], in `system:masters`),
//!   [`user_token`](TestApiServer::user_token) (user [`PLAIN_USER`], no rights beyond what
//!   RBAC gives every authenticated user, so good for checking 403s),
//!   [`token_of(user)`](TestApiServer::token_of) (the token of any user of the token file:
//!   the two above and the [`FIXED_USERS`], who start with no rights either and get them
//!   from RBAC objects a test creates),
//!   [`kubeconfig(token)`](TestApiServer::kubeconfig) (a kubeconfig file for kube-rs and
//!   `kubectl --kubeconfig`), [`client(token)`](TestApiServer::client) (a `kube::Client`
//!   built from that file, for the calling test's runtime) and
//!   [`dir`](TestApiServer::dir) (the scratch directory with the logs).
//!
//! Binaries: `KUBE_APISERVER_BIN` overrides the cached build
//! (`${CIS_KUBE_CACHE:-$HOME/.cache/cis-compliance}/kube-apiserver-1.20.2/kube-apiserver`),
//! `KUBE_CONTROLLER_MANAGER_BIN` the cached `kube-controller-manager` in the same
//! directory, `ETCD_BIN` overrides `etcd` on the PATH.
//!
//! # The cluster
//!
//! Everything listens on free 127.0.0.1 ports and lives in a fresh temporary directory
//! (etcd data, the apiserver's self-signed serving certificate, the token file, the
//! service-account key, logs, kubeconfigs). Authentication is by static bearer tokens,
//! authorization is RBAC alone. With [`shared()`] alone there is no controller manager or
//! scheduler: objects are stored and validated, but nothing acts on them (a Job never gets
//! pods, owner references are never followed, a namespace being deleted stays
//! Terminating, no service-account tokens are minted). For that reason the ServiceAccount
//! admission plugin is off, so tests may create pods directly. There is never a scheduler
//! or a kubelet. Kubernetes 1.20 predates CEL validation rules, `selectableFields` and the
//! like.
//!
//! Tests share the server, so each must use names of its own (a per-test prefix).
//!
//! # The controllers
//!
//! [`shared_with_controllers()`] adds kube-controller-manager, run as
//! `--controllers=job,garbagecollector --leader-elect=false
//! --use-service-account-credentials=false --port=0 --secure-port=0` with the admin's
//! kubeconfig, logging to `controller-manager.log` in [`dir`](TestApiServer::dir). Before
//! returning, it proves both controllers work: a Job in the namespace
//! `cis-testkit-controllers` must get a Pod, and once the Job is deleted with background
//! propagation, the Pod must go (60 s for both). No other controller runs: namespaces
//! still stay Terminating, ReplicaSets get no Pods, no tokens are minted.
//!
//! The controllers act on every object in the test binary, whichever test made it: a Job
//! gets Pods, and an object whose owner reference names a missing owner is deleted. Tests
//! that need "nothing acts" must live in a test binary (a separate process with its own
//! servers) where nothing calls `shared_with_controllers()`.
//!
//! What the 1.20 Job controller does, with no kubelet to run Pods:
//!
//! - It creates the Pods (labelled `job-name=<job>` and `controller-uid=<uid>` unless the
//!   Job sets `manualSelector`, owned by the Job with `controller: true` and
//!   `blockOwnerDeletion: true`). They stay `Pending` until a test ends them with
//!   [`set_pod_phase`].
//! - It counts Pods by `status.phase` alone: a `Succeeded` Pod raises `status.succeeded`,
//!   and a Job without `completions` is `Complete` (condition type `Complete`, status
//!   `True`) once one Pod succeeded and none is active. With `completions: n`, n must
//!   succeed.
//! - A `Failed` Pod raises `status.failed`. Once that exceeds `backoffLimit` the Job gets
//!   the condition `Failed` (reason `BackoffLimitExceeded`) and its active Pods are
//!   deleted; below the limit it makes a replacement Pod. It acts on the first failure at
//!   once, but on later ones only after its back-off (10 s, doubling, at most 6 minutes):
//!   with `backoffLimit: 3`, the 2nd, 3rd and 4th failed Pod were acted on after 10 s,
//!   20 s and 80 s. Tests should use `backoffLimit: 0` (the Job fails at the first failed
//!   Pod, within a second) or expect those delays.
//! - Deleting a `batch/v1` Job with no propagation policy *orphans* its Pods (the
//!   default kept for that API's compatibility); pass `DeleteParams::background()` or
//!   `foreground()` to have the garbage collector delete them. Pods that were never
//!   scheduled (here, none ever is) disappear at once when deleted.
//!
//! # Lifetime
//!
//! The children get `PR_SET_PDEATHSIG` = SIGKILL, which the kernel delivers when the
//! thread that forked them ends; so they are forked by a thread of their own that lives as
//! long as the process, not by the test thread that happened to start them (the
//! controller manager too: `shared_with_controllers()` hands its start to that thread,
//! which waits for it and then goes back to waiting for work). On a normal
//! exit (all tests passed or not) an `atexit` hook kills them and removes the directory
//! (set `CIS_APISERVER_KEEP=1` to keep it); if the process is killed, the kernel still
//! kills the children and only the directory is left behind. When startup fails (the
//! apiserver's or the controller manager's), the directory is kept and named in the panic
//! message.

// Each test binary uses only part of this API.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, mpsc};
use std::time::{Duration, Instant};

/// The user behind [`TestApiServer::admin_token`], a member of `system:masters`.
pub const ADMIN_USER: &str = "cis-admin";
/// The user behind [`TestApiServer::user_token`], in no group but `system:authenticated`.
pub const PLAIN_USER: &str = "reporter";

/// More users of the token file, in no group but `system:authenticated` and granted
/// nothing: tests bind them to ClusterRoles of their own. Their tokens are deterministic,
/// `token-<user>` (see [`fixed_token`]), so a test can name one without a server; the
/// server only listens on 127.0.0.1 and lives as long as the test process.
///
/// The names say what compliance-server's tests make of them, but any test may use them
/// (each test binary has its own server): `reader-one` and `reader-all` (readers of one or
/// every GlobalReport), `no-types` (reports but no report types), `no-list` (no `list`),
/// `no-get` (`list` but no `get`), `impersonator` (allowed to impersonate),
/// `compliance-server` (the server's own least-privileged identity), `no-waivers` (a
/// reporter without `list` on GlobalReportWaivers), `metrics-reader` (a Prometheus
/// allowed to scrape `/metrics`).
pub const FIXED_USERS: &[&str] = &[
    "reader-one",
    "reader-all",
    "no-types",
    "no-list",
    "no-get",
    "impersonator",
    "compliance-server",
    "no-waivers",
    "metrics-reader",
];

/// The token of one of the [`FIXED_USERS`].
pub fn fixed_token(user: &str) -> String {
    format!("token-{user}")
}

/// The Kubernetes version `scripts/kube-apiserver.sh` builds.
pub const KUBERNETES_VERSION: &str = "v1.20.2";

/// The issuer and audience of service-account tokens.
const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// How long etcd and then the apiserver get to become ready.
const ETCD_TIMEOUT: Duration = Duration::from_secs(30);
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts at starting, when a port picked as free was taken before the server bound it.
const START_ATTEMPTS: usize = 3;
/// Lines of a log quoted in a startup failure.
const LOG_TAIL_LINES: usize = 40;

/// A running etcd + kube-apiserver pair; see the module documentation.
pub struct TestApiServer {
    url: String,
    admin_token: String,
    user_token: String,
    dir: PathBuf,
    children: Children,
}

/// The servers by name, in the order they were started (and are stopped in reverse).
type Children = Mutex<Vec<(&'static str, Child)>>;

enum Shared {
    Running(TestApiServer),
    /// Not available on this machine: the reason, for the SKIPPED line.
    Unavailable(String),
    /// Available but broken: the panic message, repeated for every caller.
    Failed(String),
}

static SHARED: OnceLock<Shared> = OnceLock::new();

/// The process-wide API server, started on first use; `None` (after one SKIPPED line on
/// the terminal) when it cannot run here. Panics when the binary exists but the server
/// does not come up.
pub fn shared() -> Option<&'static TestApiServer> {
    match SHARED.get_or_init(start_shared) {
        Shared::Running(server) => Some(server),
        Shared::Unavailable(reason) => {
            skip(reason);
            None
        }
        Shared::Failed(message) => {
            // The whole story once; the other tests just point at it.
            if FAILURE_TOLD.swap(true, Ordering::SeqCst) {
                panic!(
                    "the test kube-apiserver did not start (one failure of this binary quotes its logs)"
                )
            }
            panic!("{message}")
        }
    }
}

static FAILURE_TOLD: AtomicBool = AtomicBool::new(false);

/// Tells the terminal that the calling test skipped, and why: one line naming the test
/// binary and the test. Written to the process's stderr directly, since libtest captures
/// only the print macros and a skip must show in a plain `cargo test` run.
pub fn skip(reason: &str) {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| match stem.rsplit_once('-') {
            // Cargo names test executables `<target>-<hash>`.
            Some((target, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => {
                target.to_owned()
            }
            _ => stem,
        })
        .unwrap_or_default();
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    let _ = writeln!(io::stderr(), "SKIPPED: {binary}::{test}: {reason}");
}

impl TestApiServer {
    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A bearer token for [`ADMIN_USER`] (`system:masters`: allowed everything).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// A bearer token for [`PLAIN_USER`]: authenticated, but granted nothing by RBAC beyond
    /// the discovery and `/version`-style paths every authenticated user may read.
    pub fn user_token(&self) -> &str {
        &self.user_token
    }

    /// The bearer token of `user`: [`ADMIN_USER`], [`PLAIN_USER`] or one of the
    /// [`FIXED_USERS`]. Panics for any other user: the token file has no other.
    pub fn token_of(&self, user: &str) -> String {
        match user {
            ADMIN_USER => self.admin_token.clone(),
            PLAIN_USER => self.user_token.clone(),
            _ if FIXED_USERS.contains(&user) => fixed_token(user),
            _ => panic!(
                "no user {user:?} in the test apiserver's token file                  (there are {ADMIN_USER}, {PLAIN_USER} and {FIXED_USERS:?})"
            ),
        }
    }

    /// The scratch directory: `etcd.log`, `apiserver.log`, certificates, kubeconfigs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes (or rewrites) a kubeconfig that reaches this server with `token`, and
    /// returns its path. The apiserver's serving certificate is self-signed, so the
    /// kubeconfig skips TLS verification. One file per token; the file is replaced
    /// atomically, so tests may call this concurrently.
    pub fn kubeconfig(&self, token: &str) -> PathBuf {
        let user = if token == self.admin_token {
            ADMIN_USER.to_owned()
        } else if token == self.user_token {
            PLAIN_USER.to_owned()
        } else if let Some(user) = FIXED_USERS.iter().find(|u| fixed_token(u) == token) {
            (*user).to_owned()
        } else {
            // Any other token (say, a service account's): named after a digest of it.
            // Not a prefix: every service-account JWT starts with the same header.
            let digest = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, token.as_bytes());
            format!("token-{}", &digest.simple().to_string()[..16])
        };
        let text = kubeconfig_yaml(&self.url, &user, token);
        let path = self.dir.join(format!("kubeconfig-{user}.yaml"));
        let tmp = self.dir.join(format!(
            "kubeconfig-{user}.{}.tmp",
            uuid::Uuid::new_v4().simple()
        ));
        fs::write(&tmp, text).expect("write a kubeconfig");
        fs::rename(&tmp, &path).expect("move a kubeconfig into place");
        path
    }

    /// A client acting with `token`, built from [`kubeconfig`](Self::kubeconfig) the way
    /// an application would build one. It belongs to the calling test's tokio runtime:
    /// make one per test, do not share them across tests.
    pub async fn client(&self, token: &str) -> kube::Client {
        client_from(&self.kubeconfig(token)).await
    }

    /// Kills the servers and removes the directory (unless `CIS_APISERVER_KEEP=1`, or the
    /// controller manager failed: its panic message names its log there).
    fn stop(&self) {
        stop_children(&self.children);
        if std::env::var_os("CIS_APISERVER_KEEP").is_some_and(|v| v == "1") {
            let _ = writeln!(
                io::stderr(),
                "apiserver: kept {} (CIS_APISERVER_KEEP=1)",
                self.dir.display()
            );
        } else if matches!(
            CONTROLLER_MANAGER_STATE.get(),
            Some(ControllerManager::Failed(_))
        ) {
            let _ = writeln!(
                io::stderr(),
                "apiserver: kept {} (kube-controller-manager failed)",
                self.dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn kubeconfig_yaml(url: &str, user: &str, token: &str) -> String {
    // Tokens are generated hex strings (or JWTs); quoted anyway, in YAML's single quotes.
    let token = token.replace('\'', "''");
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: cis-test
  cluster:
    server: {url}
    insecure-skip-tls-verify: true
users:
- name: {user}
  user:
    token: '{token}'
contexts:
- name: {user}@cis-test
  context:
    cluster: cis-test
    user: {user}
    namespace: default
current-context: {user}@cis-test
"
    )
}

async fn client_from(kubeconfig: &Path) -> kube::Client {
    try_client_from(kubeconfig)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn try_client_from(kubeconfig: &Path) -> Result<kube::Client, String> {
    let file = kube::config::Kubeconfig::read_from(kubeconfig)
        .map_err(|e| format!("read {}: {e}", kubeconfig.display()))?;
    let options = kube::config::KubeConfigOptions::default();
    let config = kube::Config::from_custom_kubeconfig(file, &options)
        .await
        .map_err(|e| format!("load {}: {e}", kubeconfig.display()))?;
    kube::Client::try_from(config).map_err(|e| format!("build a kube client: {e}"))
}

// --- starting --------------------------------------------------------------------------

/// Where the binaries are, or why the servers cannot run here.
struct Binaries {
    apiserver: PathBuf,
    etcd: PathBuf,
    openssl: PathBuf,
}

fn find_binaries() -> Result<Binaries, String> {
    const HINT: &str = "run scripts/kube-apiserver.sh build";
    let apiserver = match non_empty_env("KUBE_APISERVER_BIN") {
        Some(path) => PathBuf::from(path),
        None => cache_dir()
            .ok_or_else(|| format!("kube-apiserver not built: no HOME to find it in ({HINT})"))?
            .join("kube-apiserver-1.20.2/kube-apiserver"),
    };
    if !apiserver.is_file() {
        return Err(format!(
            "kube-apiserver not built: no {} ({HINT})",
            apiserver.display()
        ));
    }
    let etcd = match non_empty_env("ETCD_BIN") {
        Some(path) if Path::new(&path).is_file() => PathBuf::from(path),
        Some(path) => {
            return Err(format!(
                "etcd not found: ETCD_BIN={}",
                path.to_string_lossy()
            ));
        }
        None => on_path("etcd")
            .ok_or_else(|| format!("etcd not on the PATH (install etcd-server; {HINT})"))?,
    };
    let openssl = on_path("openssl").ok_or_else(|| format!("openssl not on the PATH ({HINT})"))?;
    Ok(Binaries {
        apiserver,
        etcd,
        openssl,
    })
}

/// The cache `scripts/kube-apiserver.sh build` fills, if there is a HOME to find it in.
fn cache_dir() -> Option<PathBuf> {
    non_empty_env("CIS_KUBE_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            non_empty_env("HOME").map(|home| PathBuf::from(home).join(".cache/cis-compliance"))
        })
}

fn non_empty_env(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

#[allow(unsafe_code)] // test support only: atexit to stop the servers with the test process
fn start_shared() -> Shared {
    let binaries = match find_binaries() {
        Ok(binaries) => binaries,
        Err(reason) => return Shared::Unavailable(reason),
    };
    // The keeper thread forks the servers and then outlives every test (see the module
    // documentation on PR_SET_PDEATHSIG); it reports how the start went over a channel.
    // Afterwards it runs the tasks sent to KEEPER, so that a server started later (the
    // controller manager) is forked by it too.
    let (sender, receiver) = mpsc::channel();
    let (tasks, task_receiver) = mpsc::channel::<KeeperTask>();
    std::thread::Builder::new()
        .name("apiserver-keeper".into())
        .spawn(move || {
            let _ = sender.send(start_with_retries(&binaries));
            for task in task_receiver {
                // A task that panics must not end this thread: its children would die.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
            }
            loop {
                std::thread::park();
            }
        })
        .expect("spawn the apiserver keeper thread");
    let _ = KEEPER.set(tasks);
    match receiver.recv() {
        Ok(Ok(server)) => {
            // SAFETY: registering a plain extern "C" function that never unwinds.
            unsafe { libc::atexit(stop_at_exit) };
            Shared::Running(server)
        }
        Ok(Err(message)) => Shared::Failed(message),
        Err(_) => Shared::Failed("the apiserver keeper thread died while starting".into()),
    }
}

/// Work for the keeper thread, which must fork every server (see `start_shared`).
type KeeperTask = Box<dyn FnOnce() + Send>;

/// Sends tasks to the keeper thread; set once that thread exists.
static KEEPER: OnceLock<mpsc::Sender<KeeperTask>> = OnceLock::new();

extern "C" fn stop_at_exit() {
    // Nothing may unwind out of an atexit hook.
    let _ = std::panic::catch_unwind(|| {
        if let Some(Shared::Running(server)) = SHARED.get() {
            server.stop();
        }
    });
}

fn start_with_retries(binaries: &Binaries) -> Result<TestApiServer, String> {
    let mut attempt = 1;
    loop {
        match start(binaries) {
            Ok(server) => return Ok(server),
            // A port that was free when picked may be taken by the time a server binds it.
            Err(failure) if failure.port_clash && attempt < START_ATTEMPTS => {
                let _ = fs::remove_dir_all(&failure.dir);
                attempt += 1;
            }
            Err(failure) => return Err(failure.message),
        }
    }
}

struct StartFailure {
    message: String,
    dir: PathBuf,
    port_clash: bool,
}

fn start(binaries: &Binaries) -> Result<TestApiServer, StartFailure> {
    let dir = tempfile::Builder::new()
        .prefix("cis-apiserver-")
        .tempdir()
        .map_err(|e| StartFailure {
            message: format!("create the apiserver's temporary directory: {e}"),
            dir: PathBuf::new(),
            port_clash: false,
        })?
        .keep();
    let children = Mutex::new(Vec::new());
    match start_in(binaries, &dir, &children) {
        Ok((url, admin_token, user_token)) => Ok(TestApiServer {
            url,
            admin_token,
            user_token,
            dir,
            children,
        }),
        Err(problem) => {
            stop_children(&children);
            let apiserver_log = log_tail(&dir.join("apiserver.log"));
            let etcd_log = log_tail(&dir.join("etcd.log"));
            let port_clash = [&apiserver_log, &etcd_log]
                .iter()
                .any(|log| log.contains("address already in use"));
            Err(StartFailure {
                message: format!(
                    "the test kube-apiserver did not start: {problem}\n\
                     (files kept in {dir})\n\
                     --- apiserver.log (last {LOG_TAIL_LINES} lines) ---\n{apiserver_log}\n\
                     --- etcd.log (last {LOG_TAIL_LINES} lines) ---\n{etcd_log}",
                    dir = dir.display()
                ),
                dir,
                port_clash,
            })
        }
    }
}

/// Starts etcd and the apiserver in `dir`, pushing each child onto `children` as soon as it
/// exists (so the caller can stop them whatever happens), and waits until the apiserver is
/// ready. Returns its URL and the two tokens.
fn start_in(
    binaries: &Binaries,
    dir: &Path,
    children: &Children,
) -> Result<(String, String, String), String> {
    let admin_token = uuid::Uuid::new_v4().simple().to_string();
    let user_token = uuid::Uuid::new_v4().simple().to_string();
    // token,user,uid[,"group,..."]
    let tokens = dir.join("tokens.csv");
    let mut lines = format!(
        "{admin_token},{ADMIN_USER},{ADMIN_USER}-uid,\"system:masters\"\n\
         {user_token},{PLAIN_USER},{PLAIN_USER}-uid\n"
    );
    for user in FIXED_USERS {
        lines.push_str(&format!("{},{user},{user}-uid\n", fixed_token(user)));
    }
    fs::write(&tokens, lines).map_err(|e| format!("write {}: {e}", tokens.display()))?;
    // Every token above is a secret no program may log (docs/security.md).
    crate::secrets::register(&admin_token);
    crate::secrets::register(&user_token);
    for user in FIXED_USERS {
        crate::secrets::register(&fixed_token(user));
    }

    // The key service-account tokens are signed with (and checked against).
    let sa_key = dir.join("service-account.key");
    let openssl = Command::new(&binaries.openssl)
        .arg("genrsa")
        .arg("-out")
        .arg(&sa_key)
        .arg("2048")
        .output()
        .map_err(|e| format!("run {}: {e}", binaries.openssl.display()))?;
    if !openssl.status.success() {
        return Err(format!(
            "openssl genrsa failed: {}",
            String::from_utf8_lossy(&openssl.stderr).trim()
        ));
    }

    let [etcd_port, etcd_peer_port, apiserver_port] = free_ports()?;
    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    let etcd_peer_url = format!("http://127.0.0.1:{etcd_peer_port}");

    let mut etcd = Command::new(&binaries.etcd);
    etcd.arg("--name=cis-test")
        .arg(format!("--data-dir={}", dir.join("etcd").display()))
        .arg(format!("--listen-client-urls={etcd_url}"))
        .arg(format!("--advertise-client-urls={etcd_url}"))
        .arg(format!("--listen-peer-urls={etcd_peer_url}"))
        .arg(format!("--initial-advertise-peer-urls={etcd_peer_url}"))
        .arg(format!("--initial-cluster=cis-test={etcd_peer_url}"))
        .arg("--logger=zap")
        .arg("--log-level=warn");
    spawn_into("etcd", etcd, &dir.join("etcd.log"), children)?;
    wait_for_etcd(etcd_port, children)?;

    let url = format!("https://127.0.0.1:{apiserver_port}");
    let mut apiserver = Command::new(&binaries.apiserver);
    apiserver
        .arg(format!("--etcd-servers={etcd_url}"))
        .arg("--bind-address=127.0.0.1")
        .arg("--advertise-address=127.0.0.1")
        .arg(format!("--secure-port={apiserver_port}"))
        // 1.20 still has a plain-HTTP port unless told otherwise.
        .arg("--insecure-port=0")
        // No --tls-cert-file: the apiserver makes a self-signed certificate here.
        .arg(format!("--cert-dir={}", dir.join("certs").display()))
        .arg(format!("--token-auth-file={}", tokens.display()))
        .arg("--authorization-mode=RBAC")
        .arg(format!("--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"))
        .arg(format!("--service-account-key-file={}", sa_key.display()))
        .arg(format!(
            "--service-account-signing-key-file={}",
            sa_key.display()
        ))
        .arg(format!("--api-audiences={SERVICE_ACCOUNT_ISSUER}"))
        .arg("--service-cluster-ip-range=10.0.0.0/24")
        // A single server with no nodes: do not keep the `kubernetes` endpoints in sync.
        .arg("--endpoint-reconciler-type=none")
        // No controller manager mints service-account tokens; see the module docs.
        .arg("--disable-admission-plugins=ServiceAccount")
        .arg("--allow-privileged=true")
        .arg("--profiling=false");
    spawn_into(
        "kube-apiserver",
        apiserver,
        &dir.join("apiserver.log"),
        children,
    )?;

    let admin_kubeconfig = dir.join(format!("kubeconfig-{ADMIN_USER}.yaml"));
    fs::write(
        &admin_kubeconfig,
        kubeconfig_yaml(&url, ADMIN_USER, &admin_token),
    )
    .map_err(|e| format!("write {}: {e}", admin_kubeconfig.display()))?;
    wait_until_ready(&admin_kubeconfig, children)?;
    Ok((url, admin_token, user_token))
}

/// Three distinct ports free on 127.0.0.1 right now (all held until all are found).
fn free_ports() -> Result<[u16; 3], String> {
    let listeners = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| format!("find a free port: {e}"))?;
    let port = |i: usize| {
        listeners[i]
            .local_addr()
            .map(|a| a.port())
            .map_err(|e| format!("find a free port: {e}"))
    };
    Ok([port(0)?, port(1)?, port(2)?])
}

/// Spawns `command` with its output in `log`, killed by the kernel if this process dies,
/// and adds it to `children`.
#[allow(unsafe_code)] // test support only: pre_exec to tie the servers' lives to this process
fn spawn_into(
    name: &'static str,
    mut command: Command,
    log: &Path,
    children: &Children,
) -> Result<(), String> {
    let out = File::create(log).map_err(|e| format!("create {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("open {}: {e}", log.display()))?;
    let parent = std::process::id() as libc::pid_t;
    command.stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent died before the line above took effect: nobody would kill us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let child = command.spawn().map_err(|e| {
        let program = command.get_program().to_string_lossy();
        format!("start {name} ({program}): {e}")
    })?;
    children
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((name, child));
    Ok(())
}

fn stop_children(children: &Children) {
    let mut children = children.lock().unwrap_or_else(PoisonError::into_inner);
    for (_, child) in children.iter_mut().rev() {
        let _ = child.kill();
        let _ = child.wait();
    }
    children.clear();
}

/// An error if any child has exited.
fn check_alive(children: &Children) -> Result<(), String> {
    let mut children = children.lock().unwrap_or_else(PoisonError::into_inner);
    for (name, child) in children.iter_mut() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{name} exited ({status})"));
        }
    }
    Ok(())
}

/// Polls etcd's `/health` until it reports healthy.
fn wait_for_etcd(port: u16, children: &Children) -> Result<(), String> {
    let deadline = Instant::now() + ETCD_TIMEOUT;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        check_alive(children)?;
        match http_get(port, "/health") {
            Ok(body) if body.contains(r#""health":"true""#) => return Ok(()),
            Ok(body) => last = body,
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "etcd was not healthy after {ETCD_TIMEOUT:?}: {last}"
    ))
}

/// A plain HTTP/1.0 GET on 127.0.0.1; the whole response, headers included.
fn http_get(port: u16, path: &str) -> io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// Runs `work` with a client of `kubeconfig` on a runtime of its own: for the keeper
/// thread, which has none.
fn with_client<T, F, Fut>(kubeconfig: &Path, work: F) -> Result<T, String>
where
    F: FnOnce(kube::Client) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("start a tokio runtime: {e}"))?;
    runtime.block_on(async {
        let client = try_client_from(kubeconfig).await?;
        work(client).await
    })
}

/// Polls `/readyz` as the admin until the apiserver answers `ok` (its post-start hooks,
/// RBAC's bootstrap roles among them, have all run). Runs on the keeper thread, with a
/// runtime of its own.
fn wait_until_ready(kubeconfig: &Path, children: &Children) -> Result<(), String> {
    with_client(kubeconfig, |client| async move {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            check_alive(children)?;
            let request = http::Request::get("/readyz")
                .body(Vec::new())
                .expect("a GET request");
            match tokio::time::timeout(Duration::from_secs(5), client.request_text(request)).await {
                Ok(Ok(body)) if body.trim() == "ok" => return Ok(()),
                Ok(Ok(body)) => last = body,
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "/readyz took more than 5 s".into(),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(format!(
            "kube-apiserver was not ready after {READY_TIMEOUT:?}: {last}"
        ))
    })
}

/// The last lines of a log file, or why it could not be read.
fn log_tail(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// The kubectl the tests use: one on the PATH, else the Debian 1.20 client that
/// `scripts/kube-apiserver.sh build` unpacks into the cache when the machine has none.
pub fn kubectl() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("kubectl"))
            .find(|k| k.is_file())
    });
    on_path.or_else(|| {
        Some(cache_dir()?.join("kube-apiserver-1.20.2/kubectl")).filter(|k| k.is_file())
    })
}

/// Polls the CRD until its Established condition is True.
pub async fn wait_established(
    crds: &kube::Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    >,
    name: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let crd = crds.get(name).await.expect("get the CRD");
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not Established after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// --- the controller manager ------------------------------------------------------------

/// The controllers [`shared_with_controllers`] runs, as kube-controller-manager's
/// `--controllers` names them: Jobs get Pods and Pod phases become Job conditions, and
/// deletions cascade to dependents through their owner references.
pub const CONTROLLERS: &[&str] = &["job", "garbagecollector"];

/// The name of the controller manager among the servers, in messages and `children`.
const CONTROLLER_MANAGER: &str = "kube-controller-manager";

/// How long the controller manager gets to prove it works (see `wait_for_controllers`).
const CONTROLLERS_TIMEOUT: Duration = Duration::from_secs(60);

/// Where `wait_for_controllers` runs its Job: a namespace of the kit's own, which stays
/// (empty) for the rest of the process.
const CONTROLLERS_CHECK_NAMESPACE: &str = "cis-testkit-controllers";
const CONTROLLERS_CHECK_JOB: &str = "controllers-ready";

enum ControllerManager {
    Running,
    /// Not available on this machine: the reason, for the SKIPPED line.
    Unavailable(String),
    /// Available but broken: the panic message, repeated for every caller.
    Failed(String),
}

static CONTROLLER_MANAGER_STATE: OnceLock<ControllerManager> = OnceLock::new();
static CONTROLLER_MANAGER_FAILURE_TOLD: AtomicBool = AtomicBool::new(false);

/// The process-wide API server of [`shared()`], plus a kube-controller-manager running the
/// [`CONTROLLERS`] against it (started on first use, once). `None` (after one SKIPPED line)
/// when the apiserver or the controller-manager binary is not available here; panics with
/// the log tail when the controller manager exists but does not work.
///
/// The controllers then act on every object of the test binary, including those of tests
/// that called [`shared()`]: call this only from a test binary whose tests all cope with
/// Jobs getting Pods and with objects whose owners are missing being garbage-collected.
pub fn shared_with_controllers() -> Option<&'static TestApiServer> {
    let server = shared()?;
    match CONTROLLER_MANAGER_STATE.get_or_init(|| start_controller_manager(server)) {
        ControllerManager::Running => Some(server),
        ControllerManager::Unavailable(reason) => {
            skip(reason);
            None
        }
        ControllerManager::Failed(message) => {
            if CONTROLLER_MANAGER_FAILURE_TOLD.swap(true, Ordering::SeqCst) {
                panic!(
                    "the test kube-controller-manager did not start (one failure of this binary quotes its log)"
                )
            }
            panic!("{message}")
        }
    }
}

/// The controller-manager binary: `KUBE_CONTROLLER_MANAGER_BIN`, else the cached build;
/// or why there is none.
fn find_controller_manager() -> Result<PathBuf, String> {
    const HINT: &str = "run scripts/kube-apiserver.sh build";
    let binary = match non_empty_env("KUBE_CONTROLLER_MANAGER_BIN") {
        Some(path) => PathBuf::from(path),
        None => cache_dir()
            .ok_or_else(|| {
                format!("kube-controller-manager not built: no HOME to find it in ({HINT})")
            })?
            .join("kube-apiserver-1.20.2/kube-controller-manager"),
    };
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!(
            "kube-controller-manager not built: no {} ({HINT})",
            binary.display()
        ))
    }
}

fn start_controller_manager(server: &'static TestApiServer) -> ControllerManager {
    let binary = match find_controller_manager() {
        Ok(binary) => binary,
        Err(reason) => return ControllerManager::Unavailable(reason),
    };
    let Some(keeper) = KEEPER.get() else {
        return ControllerManager::Failed("the apiserver keeper thread is missing".into());
    };
    // Forked by the keeper thread, like the other servers, for PR_SET_PDEATHSIG's sake.
    let (reply, result) = mpsc::channel();
    let task: KeeperTask = Box::new(move || {
        let _ = reply.send(run_controller_manager(server, &binary));
    });
    if keeper.send(task).is_err() {
        return ControllerManager::Failed("the apiserver keeper thread has ended".into());
    }
    match result.recv() {
        Ok(Ok(())) => ControllerManager::Running,
        Ok(Err(message)) => ControllerManager::Failed(message),
        Err(_) => ControllerManager::Failed(
            "the apiserver keeper thread panicked while starting kube-controller-manager".into(),
        ),
    }
}

/// Starts the controller manager beside `server` and waits until its controllers work; on
/// failure stops it again and returns the message to panic with. Runs on the keeper thread.
fn run_controller_manager(server: &TestApiServer, binary: &Path) -> Result<(), String> {
    let dir = server.dir();
    let log = dir.join("controller-manager.log");
    // A file of its own: the admin's kubeconfig is rewritten whenever a test asks for it.
    let kubeconfig = dir.join("controller-manager.kubeconfig");
    fs::write(
        &kubeconfig,
        kubeconfig_yaml(server.url(), ADMIN_USER, server.admin_token()),
    )
    .map_err(|e| format!("write {}: {e}", kubeconfig.display()))?;

    let mut command = Command::new(binary);
    command
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg(format!("--controllers={}", CONTROLLERS.join(",")))
        // The only instance: no lease to wait for.
        .arg("--leader-elect=false")
        // One client, the admin's, for every controller: no service accounts to mint
        // tokens for (no token controller runs).
        .arg("--use-service-account-credentials=false")
        // No HTTP or HTTPS serving (healthz, metrics): no ports to pick or clash on.
        .arg("--port=0")
        .arg("--secure-port=0");
    let outcome = spawn_into(CONTROLLER_MANAGER, command, &log, &server.children)
        .and_then(|()| wait_for_controllers(&kubeconfig, &server.children));
    outcome.map_err(|problem| {
        stop_child(&server.children, CONTROLLER_MANAGER);
        format!(
            "the test kube-controller-manager did not start: {problem}\n\
             (files kept in {dir})\n\
             --- controller-manager.log (last {LOG_TAIL_LINES} lines) ---\n{tail}",
            dir = dir.display(),
            tail = log_tail(&log),
        )
    })
}

/// Kills and forgets the child called `name`, leaving the others running.
fn stop_child(children: &Children, name: &str) {
    let mut children = children.lock().unwrap_or_else(PoisonError::into_inner);
    children.retain_mut(|(child_name, child)| {
        if *child_name != name {
            return true;
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    });
}

/// Waits until both controllers demonstrably work: a Job created in
/// [`CONTROLLERS_CHECK_NAMESPACE`] gets a Pod (the Job controller), and once the Job is
/// deleted in the background, the Pod goes too (the garbage collector). Runs on the keeper
/// thread, with a runtime of its own.
fn wait_for_controllers(kubeconfig: &Path, children: &Children) -> Result<(), String> {
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Api, DeleteParams, PostParams};

    with_client(kubeconfig, |client| async move {
        let deadline = Instant::now() + CONTROLLERS_TIMEOUT;
        let namespace: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": CONTROLLERS_CHECK_NAMESPACE}
        }))
        .expect("a valid Namespace");
        match Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => {
                return Err(format!(
                    "create namespace {CONTROLLERS_CHECK_NAMESPACE}: {e}"
                ));
            }
        }
        let jobs: Api<Job> = Api::namespaced(client.clone(), CONTROLLERS_CHECK_NAMESPACE);
        let job: Job = serde_json::from_value(serde_json::json!({
            "metadata": {"name": CONTROLLERS_CHECK_JOB},
            "spec": {
                "backoffLimit": 0,
                "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "check", "image": "busybox"}]
                }}
            }
        }))
        .expect("a valid Job");
        jobs.create(&PostParams::default(), &job)
            .await
            .map_err(|e| {
                format!("create Job {CONTROLLERS_CHECK_NAMESPACE}/{CONTROLLERS_CHECK_JOB}: {e}")
            })?;

        let job_controller = "the Job controller to create a Pod for a Job";
        poll_until(job_controller, deadline, children, || async {
            let pods = try_pods_of_job(&client, CONTROLLERS_CHECK_NAMESPACE, CONTROLLERS_CHECK_JOB)
                .await
                .map_err(|e| e.to_string())?;
            Ok((!pods.is_empty()).then_some(()))
        })
        .await?;

        jobs.delete(CONTROLLERS_CHECK_JOB, &DeleteParams::background())
            .await
            .map_err(|e| {
                format!("delete Job {CONTROLLERS_CHECK_NAMESPACE}/{CONTROLLERS_CHECK_JOB}: {e}")
            })?;
        let collector = "the garbage collector to delete the Pod of a deleted Job";
        poll_until(collector, deadline, children, || async {
            let pods = try_pods_of_job(&client, CONTROLLERS_CHECK_NAMESPACE, CONTROLLERS_CHECK_JOB)
                .await
                .map_err(|e| e.to_string())?;
            Ok(pods.is_empty().then_some(()))
        })
        .await
    })
}

/// Calls `attempt` every 250 ms until it returns `Ok(Some(_))`, the deadline passes or a
/// child exits. An `Err` from an attempt is remembered for the timeout message and retried.
async fn poll_until<T, F, Fut>(
    waiting_for: &str,
    deadline: Instant,
    children: &Children,
    mut attempt: F,
) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, String>>,
{
    let mut last = None;
    loop {
        check_alive(children)?;
        match tokio::time::timeout(Duration::from_secs(5), attempt()).await {
            Ok(Ok(Some(value))) => return Ok(value),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => last = Some(e),
            Err(_) => last = Some("a request took more than 5 s".into()),
        }
        if Instant::now() >= deadline {
            let last = last
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default();
            return Err(format!(
                "timed out after {CONTROLLERS_TIMEOUT:?} waiting for {waiting_for}{last}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn try_pods_of_job(
    client: &kube::Client,
    namespace: &str,
    job_name: &str,
) -> kube::Result<Vec<k8s_openapi::api::core::v1::Pod>> {
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), namespace);
    let params = kube::api::ListParams::default().labels(&format!("job-name={job_name}"));
    Ok(pods.list(&params).await?.items)
}

/// The Pods the Job controller made for the Job `job_name`: those labelled
/// `job-name=<job_name>` (the label 1.20 puts on a Job's Pod template), in name order.
/// Panics when the list fails.
pub async fn pods_of_job(
    client: &kube::Client,
    namespace: &str,
    job_name: &str,
) -> Vec<k8s_openapi::api::core::v1::Pod> {
    try_pods_of_job(client, namespace, job_name)
        .await
        .unwrap_or_else(|e| panic!("list the Pods of Job {namespace}/{job_name}: {e}"))
}

/// Plays the kubelet that the test cluster lacks: ends the Pod with `phase`, `"Succeeded"`
/// or `"Failed"`, through the `status` subresource, and returns the updated Pod. Every
/// container gets a terminated state, with exit code 0 (reason `Completed`) or 1 (`Error`).
/// The 1.20 Job controller counts Pods by `status.phase` alone; the container states are
/// there for code that reads them (and for `kubectl get pods`). Panics on any other phase
/// and when the Pod cannot be read or updated.
pub async fn set_pod_phase(
    client: &kube::Client,
    namespace: &str,
    pod_name: &str,
    phase: &str,
) -> k8s_openapi::api::core::v1::Pod {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, Patch, PatchParams};

    let (exit_code, reason) = match phase {
        "Succeeded" => (0, "Completed"),
        "Failed" => (1, "Error"),
        other => {
            panic!("set_pod_phase: {other:?} is not a phase a Pod ends in (Succeeded, Failed)")
        }
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = pods
        .get(pod_name)
        .await
        .unwrap_or_else(|e| panic!("get Pod {namespace}/{pod_name}: {e}"));
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let statuses: Vec<serde_json::Value> = pod
        .spec
        .iter()
        .flat_map(|spec| &spec.containers)
        .map(|container| {
            serde_json::json!({
                "name": container.name,
                "image": container.image.clone().unwrap_or_default(),
                "imageID": "",
                "ready": false,
                "restartCount": 0,
                "state": {"terminated": {
                    "exitCode": exit_code,
                    "reason": reason,
                    "startedAt": now,
                    "finishedAt": now
                }}
            })
        })
        .collect();
    let patch = serde_json::json!({
        "status": {"phase": phase, "containerStatuses": statuses}
    });
    pods.patch_status(pod_name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("set the phase of Pod {namespace}/{pod_name} to {phase}: {e}"))
}

/// Creates each CRD unless it exists, waits until it is Established, and then until a list
/// of its objects works (discovery lags establishment by a moment).
pub async fn install_crds(
    client: &kube::Client,
    crds: Vec<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    >,
) {
    use kube::api::{Api, ApiResource, DynamicObject, PostParams};
    let api = Api::all(client.clone());
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        match api.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => panic!("creating CRD {name}: {e}"),
        }
        wait_established(&api, &name).await;
        let version = &crd.spec.versions[0].name;
        let resource = ApiResource {
            group: crd.spec.group.clone(),
            version: version.clone(),
            api_version: format!("{}/{version}", crd.spec.group),
            kind: crd.spec.names.kind.clone(),
            plural: crd.spec.names.plural.clone(),
        };
        let objects: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let deadline = Instant::now() + Duration::from_secs(30);
        while objects.list(&Default::default()).await.is_err() {
            assert!(Instant::now() < deadline, "{name} not served after 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
