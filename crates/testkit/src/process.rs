//! What tests and benchmarks need of processes beyond std: sending SIGTERM, whether a
//! process still runs, and CPU time and peak memory for the benchmarks' figures.

use std::time::Duration;

/// Whose usage to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// This process.
    Myself,
    /// Every child this process has waited for.
    Children,
}

/// What `getrusage` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// User plus system CPU time.
    pub cpu: Duration,
    /// The peak resident set, in bytes (Linux reports `ru_maxrss` in KiB).
    pub peak_rss_bytes: u64,
}

/// The usage of `who` so far.
#[allow(unsafe_code)] // benchmark support only: std has no getrusage
pub fn usage(who: Who) -> Usage {
    let who = match who {
        Who::Myself => libc::RUSAGE_SELF,
        Who::Children => libc::RUSAGE_CHILDREN,
    };
    // SAFETY: getrusage only writes into the zeroed struct we pass it.
    let raw = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    Usage {
        cpu: seconds(raw.ru_utime) + seconds(raw.ru_stime),
        peak_rss_bytes: raw.ru_maxrss.max(0) as u64 * 1024,
    }
}

/// Sends SIGTERM to `pid`, as the kubelet does to stop a pod.
#[allow(unsafe_code)] // test support only: std can only SIGKILL its own children
pub fn terminate(pid: u32) {
    let pid = libc::pid_t::try_from(pid).expect("a Linux pid fits pid_t");
    // SAFETY: kill only sends a signal.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

/// Whether `pid` runs: it exists and is not a zombie waiting to be reaped.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}
