//! Running an outside program (kube-bench, kubelet, kubectl) with a deadline.
//!
//! kube-bench runs its audits through `/bin/sh`, `ps`, `stat` and friends, so stopping it
//! must stop them too: each program starts in its own process group, and a timeout or a
//! shutdown kills the whole group, then reaps the leader, so nothing is left running and
//! no zombie stays behind. Output is read while the program runs (a full pipe would stall
//! it) and bounded, so a program that prints forever cannot exhaust memory.

use std::ffi::OsStr;
use std::io;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How much of standard error is kept for messages: the end, where the reason usually is.
pub const STDERR_TAIL: usize = 4096;

/// Bounds on one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The program and everything it started are killed after this long.
    pub timeout: Duration,
    /// More standard output than this is an error (the program is killed).
    pub max_stdout: usize,
}

/// What a finished program left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// The last [`STDERR_TAIL`] bytes of standard error, as text, trimmed.
    pub stderr: String,
}

/// Why a program did not finish on its own.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No such file, or a script whose interpreter is missing.
    #[error("{program}: not found")]
    NotFound { program: String },
    #[error("{program}: cannot be started: {error}")]
    Spawn { program: String, error: io::Error },
    #[error("{program} did not finish within {} and was stopped", humantime::format_duration(*after))]
    TimedOut {
        program: String,
        after: Duration,
        /// Standard error up to the kill, for the reason it hung.
        stderr: String,
    },
    #[error("{program} printed more than {limit} bytes and was stopped")]
    TooMuchOutput { program: String, limit: usize },
    #[error("{program}: reading its output failed: {error}")]
    Read { program: String, error: io::Error },
    /// The caller asked to stop (shutdown); the program was killed.
    #[error("{program} was stopped because the benchmarker is shutting down")]
    Cancelled { program: String },
}

/// A receiver that never fires, for callers that cannot be cancelled.
pub fn never_cancelled() -> watch::Receiver<bool> {
    // The sender is leaked deliberately: a dropped sender would end `wait_for` at once.
    let (tx, rx) = watch::channel(false);
    std::mem::forget(tx);
    rx
}

/// Runs `program` with `args` and no standard input, until it exits, `limits` are
/// exceeded or `cancel` turns true.
///
/// A non-zero exit is not an error here: the caller decides what the status means.
pub async fn run(
    program: &OsStr,
    args: &[String],
    limits: Limits,
    cancel: &mut watch::Receiver<bool>,
) -> Result<Captured, RunError> {
    let name = program.to_string_lossy().into_owned();
    let mut child = spawn(program, args).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => RunError::NotFound {
            program: name.clone(),
        },
        _ => RunError::Spawn {
            program: name.clone(),
            error,
        },
    })?;
    let group = child.id().and_then(|id| i32::try_from(id).ok());
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let mut tail = Vec::new();

    enum End {
        Finished(Result<(ExitStatus, Vec<u8>), RunError>),
        TimedOut,
        Cancelled,
    }
    let end = {
        let read_error = |error| RunError::Read {
            program: name.clone(),
            error,
        };
        // try_join: too much output ends the run at once, without waiting for the exit.
        let work = async {
            let out = async {
                match read_limited(&mut stdout, limits.max_stdout).await {
                    Ok(Some(out)) => Ok(out),
                    Ok(None) => Err(RunError::TooMuchOutput {
                        program: name.clone(),
                        limit: limits.max_stdout,
                    }),
                    Err(e) => Err(read_error(e)),
                }
            };
            let err = async { read_tail(&mut stderr, &mut tail).await.map_err(read_error) };
            let status = async { child.wait().await.map_err(read_error) };
            let (out, (), status) = tokio::try_join!(out, err, status)?;
            Ok((status, out))
        };
        tokio::select! {
            r = tokio::time::timeout(limits.timeout, work) => match r {
                Ok(done) => End::Finished(done),
                Err(_) => End::TimedOut,
            },
            _ = cancelled(cancel) => End::Cancelled,
        }
    };
    // Whatever happened, nothing the program started may outlive this call: on success
    // this only reaches stray background children.
    kill_group(group);
    let stderr_text = tail_text(&tail);
    match end {
        End::Finished(Ok((status, stdout))) => Ok(Captured {
            status,
            stdout,
            stderr: stderr_text,
        }),
        End::Finished(Err(e)) => {
            reap(&mut child).await;
            Err(e)
        }
        End::TimedOut => {
            reap(&mut child).await;
            Err(RunError::TimedOut {
                program: name,
                after: limits.timeout,
                stderr: stderr_text,
            })
        }
        End::Cancelled => {
            reap(&mut child).await;
            Err(RunError::Cancelled { program: name })
        }
    }
}

/// The benchmarker's own variables, kept from the programs it starts: kube-bench reads
/// every `KUBE_BENCH_*` variable as one of its settings (`KUBE_BENCH_VERSION` is its
/// `--version`), so a setting of ours must never be mistaken for one of its.
pub const NOT_PASSED_ON: [&str; 5] = [
    "KUBE_BENCH_PATH",
    "KUBE_BENCH_ARGS",
    "KUBE_BENCH_VERSION",
    "KUBE_BENCH_BENCHMARK",
    "KUBE_BENCH_CFG_DIR",
];

fn spawn(program: &OsStr, args: &[String]) -> io::Result<Child> {
    let mut attempts = 0;
    loop {
        let mut cmd = Command::new(program);
        for var in NOT_PASSED_ON {
            cmd.env_remove(var);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so that a kill reaches the shells and tools it started.
            .process_group(0)
            .kill_on_drop(true);
        match cmd.spawn() {
            // "Text file busy": another thread of this process still has a just-written
            // script open while forking (happens in tests that write stand-in programs).
            // The window is microseconds, so a few short retries settle it.
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 20 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(5 * attempts));
            }
            other => return other,
        }
    }
}

/// Resolves when `cancel` becomes true; never when its sender is gone.
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Kills the whole process group: the one unsafe call of the workspace (`unsafe_code` is
/// denied everywhere else). std offers no way to signal a group, and without it the shells
/// and `ps` calls kube-bench started would outlive a timed-out run.
#[allow(unsafe_code)]
fn kill_group(group: Option<i32>) {
    if let Some(pgid) = group.filter(|g| *g > 0) {
        // SAFETY: killpg only sends a signal; ESRCH (group already gone) is expected and
        // harmless.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

/// Waits for a killed leader so that it does not stay a zombie. Bounded: SIGKILL cannot
/// be ignored, but a process in uninterruptible sleep (a hung NFS read) may take a while.
async fn reap(child: &mut Child) {
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
}

/// Everything `reader` gives, or `None` once it exceeds `limit`.
async fn read_limited(
    reader: &mut (impl AsyncRead + Unpin),
    limit: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Some(out));
        }
        if out.len() + n > limit {
            return Ok(None);
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// Reads `reader` to the end, keeping at most about the last [`STDERR_TAIL`] bytes in
/// `tail` (kept outside so that a timeout still has what was read).
async fn read_tail(reader: &mut (impl AsyncRead + Unpin), tail: &mut Vec<u8>) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    loop {
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        tail.extend_from_slice(&chunk[..n]);
        if tail.len() > 2 * STDERR_TAIL {
            tail.drain(..tail.len() - STDERR_TAIL);
        }
    }
}

fn tail_text(tail: &[u8]) -> String {
    let start = tail.len().saturating_sub(STDERR_TAIL);
    String::from_utf8_lossy(&tail[start..]).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use compliance_testkit::fixtures::wait_until;
    use compliance_testkit::process::alive;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn sh(script: &str, limits: Limits) -> Result<Captured, RunError> {
        runtime().block_on(run(
            OsStr::new("/bin/sh"),
            &["-c".to_string(), script.to_string()],
            limits,
            &mut never_cancelled(),
        ))
    }

    const LIMITS: Limits = Limits {
        timeout: Duration::from_secs(10),
        max_stdout: 1 << 20,
    };

    #[test]
    fn output_status_and_stderr_are_captured() {
        let c = sh("echo out; echo err >&2; exit 3", LIMITS).unwrap();
        assert_eq!(c.stdout, b"out\n");
        assert_eq!(c.stderr, "err");
        assert_eq!(c.status.code(), Some(3));
    }

    #[test]
    fn a_missing_program_is_not_found() {
        let err = runtime()
            .block_on(run(
                OsStr::new("/nonexistent/kube-bench"),
                &[],
                LIMITS,
                &mut never_cancelled(),
            ))
            .unwrap_err();
        assert!(matches!(err, RunError::NotFound { .. }), "{err}");
    }

    #[test]
    fn a_timeout_kills_the_program_and_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let script = format!(
            "sleep 300 & echo $! > {p}; echo $$ >> {p}; echo started >&2; wait",
            p = pids.display()
        );
        let limits = Limits {
            timeout: Duration::from_millis(500),
            ..LIMITS
        };
        let err = sh(&script, limits).unwrap_err();
        match &err {
            RunError::TimedOut { stderr, .. } => assert_eq!(stderr, "started"),
            other => panic!("{other}"),
        }
        for pid in std::fs::read_to_string(&pids).unwrap().split_whitespace() {
            let pid: u32 = pid.parse().unwrap();
            // The group was sent SIGKILL and the leader reaped, but the kernel finishes off
            // the orphaned `sleep` on its own time: on a loaded machine it can still be
            // running a moment after `run` returns. Dead (gone, or a zombie about to be
            // reaped by init) within seconds is the promise; a survivor would run 300 s.
            wait_until(
                &format!("process {pid} to die"),
                Duration::from_secs(10),
                || !alive(pid),
            );
        }
    }

    #[test]
    fn too_much_output_is_stopped() {
        let limits = Limits {
            max_stdout: 1000,
            ..LIMITS
        };
        let err = sh("yes", limits).unwrap_err();
        assert!(
            matches!(err, RunError::TooMuchOutput { limit: 1000, .. }),
            "{err}"
        );
    }

    #[test]
    fn cancelling_stops_a_running_program() {
        let rt = runtime();
        let (tx, mut rx) = watch::channel(false);
        let err = rt
            .block_on(async {
                let args = ["-c".to_string(), "sleep 300".to_string()];
                let run = run(OsStr::new("/bin/sh"), &args, LIMITS, &mut rx);
                let cancel = async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    tx.send(true).unwrap();
                    std::future::pending::<()>().await
                };
                tokio::select! { r = run => r, _ = cancel => unreachable!() }
            })
            .unwrap_err();
        assert!(matches!(err, RunError::Cancelled { .. }), "{err}");
    }

    #[test]
    fn only_the_end_of_a_long_stderr_is_kept() {
        let c = sh(
            "i=0; while [ $i -lt 3000 ]; do echo line$i >&2; i=$((i+1)); done; echo last >&2",
            LIMITS,
        )
        .unwrap();
        assert!(c.stderr.len() <= STDERR_TAIL);
        assert!(c.stderr.ends_with("last"));
    }
}
