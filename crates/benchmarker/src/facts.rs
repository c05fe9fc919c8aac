//! Reading the facts [`crate::platform::decide`] needs from the node: which control-plane
//! processes run (from `/proc`, as kube-bench finds them with `ps -C`), the bundled
//! kube-bench cfg, and kube-bench's own version. The parsing is pure and tested here; the
//! reading is a thin layer over it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::KubeBenchCommand;
use crate::platform::BundledCfg;
use crate::process::{self, Limits};

/// kube-bench's program names for kube-apiserver (its config.yaml, `master.apiserver.bins`),
/// plus the k3s server, which runs the API server inside its own process.
const APISERVER_BINS: [&str; 7] = [
    "kube-apiserver",
    "hyperkube apiserver",
    "hyperkube kube-apiserver",
    "apiserver",
    "openshift start master api",
    "hypershift openshift-kube-apiserver",
    "k3s server",
];
/// kube-bench's program names for etcd (`master.etcd.bins`).
const ETCD_BINS: [&str; 2] = ["etcd", "openshift start etcd"];

/// One process: its `comm` (the kernel's name, at most 15 bytes, what `ps -C` matches) and
/// its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub comm: String,
    pub argv: Vec<String>,
}

/// Which control-plane components run on the node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ControlPlane {
    pub apiserver: bool,
    pub etcd: bool,
}

/// Whether `bin` (a program name, perhaps with leading arguments such as `hyperkube
/// apiserver`) runs, by kube-bench's rule: a process named after its first word whose
/// command line, path dropped from the program, begins with all of its words.
pub fn runs(processes: &[Process], bin: &str) -> bool {
    let words: Vec<&str> = bin.split_whitespace().collect();
    let Some(first) = words.first() else {
        return false;
    };
    // The kernel keeps 15 bytes of the name; k3s names its server process k3s-server.
    let short: String = first.chars().take(15).collect();
    let joined = words.join("-");
    processes.iter().any(|p| {
        if words.len() == 1 {
            return p.comm == short;
        }
        let program = p
            .argv
            .first()
            .map(|a| a.rsplit('/').next().unwrap_or(a))
            .unwrap_or_default();
        let arguments = p.argv.len() >= words.len() && p.argv[1..words.len()] == words[1..];
        p.comm == joined || ((p.comm == short || program == *first) && arguments)
    })
}

/// The control-plane components among `processes`.
pub fn control_plane(processes: &[Process]) -> ControlPlane {
    ControlPlane {
        apiserver: APISERVER_BINS.iter().any(|b| runs(processes, b)),
        etcd: ETCD_BINS.iter().any(|b| runs(processes, b)),
    }
}

/// Reads every process of `proc_root` (`/proc`; with hostPID, the node's). Processes that
/// end while being read, and unreadable entries, are skipped.
pub fn read_processes(proc_root: &Path) -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let dir = entry.path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        let argv = std::fs::read(dir.join("cmdline"))
            .map(|raw| {
                raw.split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        out.push(Process {
            comm: comm.trim_end_matches('\n').to_string(),
            argv,
        });
    }
    out
}

/// Where kube-bench reads its cfg: `--config-dir`/`-D` of KUBE_BENCH_ARGS, else
/// KUBE_BENCH_CFG_DIR (then passed on as `--config-dir`), else kube-bench's default `cfg`
/// of its working directory. Returns the directory and the arguments to add.
pub fn cfg_dir(args: &[String], cfg_dir_var: Option<&str>) -> (PathBuf, Vec<String>) {
    let mut iter = args.iter();
    while let Some(a) = iter.next() {
        if let Some(v) = a
            .strip_prefix("--config-dir=")
            .or_else(|| a.strip_prefix("-D="))
        {
            return (PathBuf::from(v), Vec::new());
        }
        if (a == "--config-dir" || a == "-D")
            && let Some(v) = iter.next()
        {
            return (PathBuf::from(v), Vec::new());
        }
    }
    match cfg_dir_var {
        Some(dir) => (
            PathBuf::from(dir),
            vec!["--config-dir".to_string(), dir.to_string()],
        ),
        None => (PathBuf::from("cfg"), Vec::new()),
    }
}

/// Reads `dir/config.yaml` and lists the benchmark directories beside it.
pub fn load_cfg(dir: &Path) -> Result<BundledCfg, String> {
    let config = dir.join("config.yaml");
    let text = std::fs::read_to_string(&config)
        .map_err(|e| format!("cannot read {}: {e}", config.display()))?;
    let dirs = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned());
    BundledCfg::parse(&text, dirs).map_err(|e| format!("{}: {e}", config.display()))
}

/// kube-bench's version: the first line of `kube-bench version`, or why there is none.
pub async fn kube_bench_version(command: &KubeBenchCommand) -> Result<String, String> {
    let limits = Limits {
        // It only prints a constant; a kube-bench that takes longer is not worth waiting for.
        timeout: Duration::from_secs(10),
        max_stdout: 64 << 10,
    };
    let mut cancel = process::never_cancelled();
    let args = ["version".to_string()];
    match process::run(OsStr::new(&command.program), &args, limits, &mut cancel).await {
        Ok(c) if c.status.success() => {
            let out = String::from_utf8_lossy(&c.stdout);
            out.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
                .ok_or_else(|| "kube-bench version printed nothing".to_string())
        }
        Ok(c) => Err(format!("kube-bench version ended with {}", c.status)),
        Err(e) => Err(format!("kube-bench version: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(comm: &str, argv: &str) -> Process {
        Process {
            comm: comm.into(),
            argv: argv.split_whitespace().map(String::from).collect(),
        }
    }

    #[test]
    fn control_plane_processes_are_found_as_kube_bench_finds_them() {
        #[rustfmt::skip]
        let table: Vec<(&str, Vec<Process>, ControlPlane)> = vec![
            ("kubeadm control plane", vec![
                p("kube-apiserver", "kube-apiserver --advertise-address=10.0.0.1"),
                p("etcd", "etcd --data-dir=/var/lib/etcd"),
                p("kubelet", "/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml"),
            ], ControlPlane { apiserver: true, etcd: true }),
            ("worker", vec![
                p("kubelet", "/usr/bin/kubelet"),
                p("kube-proxy", "/usr/local/bin/kube-proxy --config=/x"),
            ], ControlPlane::default()),
            ("hyperkube", vec![p("hyperkube", "/hyperkube kube-apiserver --x")],
             ControlPlane { apiserver: true, etcd: false }),
            ("hyperkube kubelet is not an API server", vec![p("hyperkube", "/hyperkube kubelet")],
             ControlPlane::default()),
            ("k3s server", vec![p("k3s-server", "/usr/local/bin/k3s server")],
             ControlPlane { apiserver: true, etcd: false }),
            ("k3s agent", vec![p("k3s-agent", "/usr/local/bin/k3s agent")], ControlPlane::default()),
            ("an etcd client is not etcd", vec![p("etcdctl", "etcdctl get /")], ControlPlane::default()),
            ("grep for it is not it", vec![p("grep", "grep kube-apiserver")], ControlPlane::default()),
        ];
        for (name, procs, want) in table {
            assert_eq!(control_plane(&procs), want, "{name}");
        }
    }

    #[test]
    fn processes_are_read_from_a_proc_tree() {
        let dir = tempfile::tempdir().unwrap();
        for (pid, comm, cmdline) in [
            ("1", "systemd\n", &b"/sbin/init\0"[..]),
            (
                "42",
                "kube-apiserver\n",
                b"kube-apiserver\0--secure-port=6443\0",
            ),
        ] {
            std::fs::create_dir(dir.path().join(pid)).unwrap();
            std::fs::write(dir.path().join(pid).join("comm"), comm).unwrap();
            std::fs::write(dir.path().join(pid).join("cmdline"), cmdline).unwrap();
        }
        std::fs::create_dir(dir.path().join("self")).unwrap();
        let procs = read_processes(dir.path());
        assert_eq!(procs.len(), 2);
        assert_eq!(
            control_plane(&procs),
            ControlPlane {
                apiserver: true,
                etcd: false
            }
        );
        assert!(read_processes(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn the_cfg_dir_comes_from_the_arguments_then_the_variable() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            cfg_dir(
                &args(&["--json", "--config-dir", "/opt/kb/cfg"]),
                Some("/x")
            ),
            (PathBuf::from("/opt/kb/cfg"), vec![])
        );
        assert_eq!(
            cfg_dir(&args(&["-D=/c"]), None),
            (PathBuf::from("/c"), vec![])
        );
        assert_eq!(
            cfg_dir(&args(&["--json"]), Some("/etc/kube-bench/cfg")),
            (
                PathBuf::from("/etc/kube-bench/cfg"),
                args(&["--config-dir", "/etc/kube-bench/cfg"])
            )
        );
        assert_eq!(
            cfg_dir(&args(&["--json"]), None),
            (PathBuf::from("cfg"), vec![])
        );
    }
}
