//! SIGTERM and SIGINT, the way the daemons stop.
//!
//! The kubelet stops a pod with SIGTERM and waits its grace period before SIGKILL; a
//! person at a terminal presses Ctrl-C. Both mean: finish what is in flight, then exit.

/// Resolves with the signal's name on the first SIGTERM or SIGINT. When the handlers
/// cannot be installed, it warns (naming `program`) and never resolves: the process then
/// stops only when killed, rather than stopping at once for no reason.
pub async fn terminated(program: &str) -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot listen for SIGTERM; {program} stops only when killed");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
