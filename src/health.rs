//! Liveness and readiness endpoints for the kubelet's HTTP probes.
//!
//! Calico's reporter pod template probes `GET /liveness` on port 9099 (HEALTH_PORT), so a
//! process that runs under it has to answer there for as long as it works. The server is
//! deliberately separate from whatever the process does: [`HealthServer::start`] binds the
//! port on the calling thread (a port already in use is an error before any work starts),
//! then serves from its own thread on a single-threaded tokio runtime, so a busy or blocked
//! main thread does not make the probe fail.
//!
//! - `GET /liveness` is always `200 ok` while the server runs.
//! - `GET /readiness` is `503` until [`HealthState::set_ready`] is called, then `200`. A
//!   one-shot job sets it at start; a long-running service can flip it both ways.
//! - `GET /metrics` encodes the registry given to [`HealthServer::start_with_metrics`] in
//!   the OpenMetrics text format, on the health server's own thread, so a scrape never
//!   waits for a busy main thread (and a scrape that computes series at scrape time, through
//!   a `Collector`, never slows the main thread down). A client whose `Accept` asks for
//!   `text/plain` and not OpenMetrics gets the classic Prometheus text format (0.0.4)
//!   instead ([`MetricsFormat::negotiate`]); Prometheus itself asks for OpenMetrics first.
//!   Without a registry it is `404`.
//! - Every other path is `404`; other methods than GET and HEAD on these paths are `405`.
//!
//! Dropping the [`HealthServer`] (or calling [`HealthServer::shutdown`]) stops accepting
//! connections, lets requests in flight finish (for at most [`SHUTDOWN_GRACE`]), and joins
//! the thread; once it returns, the port is closed.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use compliance_core::error::{Classify, ErrorKind};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

/// The port Calico's pod templates probe when HEALTH_PORT is not set.
pub const DEFAULT_HEALTH_PORT: u16 = 9099;

/// How long shutdown waits for open connections before closing them regardless. Probe
/// requests take microseconds; this only bounds a client that connects and stalls.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The content type of a `/metrics` answer: OpenMetrics 1.0 text, which Prometheus asks
/// for first and reads natively.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of the classic Prometheus text format, for clients that ask for it.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The two text formats `/metrics` can answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsFormat {
    OpenMetrics,
    /// Prometheus text 0.0.4: a counter's `# HELP` and `# TYPE` name its `_total` sample,
    /// which tools that read only this format (`promtool check metrics`) expect.
    PrometheusText,
}

impl MetricsFormat {
    /// The format for a request's `Accept` header: OpenMetrics unless the header names
    /// `text/plain` and not `application/openmetrics-text` (no header, `*/*`, or both
    /// named: OpenMetrics, the format Prometheus prefers).
    pub fn negotiate(accept: Option<&str>) -> MetricsFormat {
        let Some(accept) = accept.map(str::to_ascii_lowercase) else {
            return MetricsFormat::OpenMetrics;
        };
        let names = |media: &str| {
            accept
                .split(',')
                .any(|part| part.split(';').next().is_some_and(|m| m.trim() == media))
        };
        if names("text/plain") && !names("application/openmetrics-text") {
            MetricsFormat::PrometheusText
        } else {
            MetricsFormat::OpenMetrics
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            MetricsFormat::OpenMetrics => METRICS_CONTENT_TYPE,
            MetricsFormat::PrometheusText => PROMETHEUS_TEXT_CONTENT_TYPE,
        }
    }
}

/// Why the health server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error(
        "cannot listen for health probes on {addr} (port {port} from HEALTH_PORT): {error}",
        port = addr.port()
    )]
    Bind {
        addr: SocketAddr,
        // Not a `#[source]`: the message already carries it, and error chains would
        // print it twice.
        error: io::Error,
    },
    #[error("cannot start the health server on {addr}: {error}")]
    Start { addr: SocketAddr, error: io::Error },
}

impl Classify for HealthError {
    /// A port that cannot be served (in use, not allowed) needs another HEALTH_PORT.
    fn kind(&self) -> ErrorKind {
        ErrorKind::Configuration
    }
}

/// What the probes report, shared between the server and the code whose health it is.
#[derive(Debug, Default)]
pub struct HealthState {
    ready: AtomicBool,
}

impl HealthState {
    /// A state that is live but not ready.
    pub fn new() -> Arc<HealthState> {
        Arc::new(HealthState::default())
    }

    /// Makes `/readiness` answer 200 (`true`) or 503 (`false`) from the next request on.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// A running health server; dropping it stops the server and joins its thread.
#[derive(Debug)]
pub struct HealthServer {
    addr: SocketAddr,
    state: Arc<HealthState>,
    /// Dropping the sender is the stop signal (every receiver sees the channel close).
    stop: Option<watch::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HealthServer {
    /// Binds `addr` and starts serving with a fresh, not-ready [`HealthState`].
    pub fn start(addr: SocketAddr) -> Result<HealthServer, HealthError> {
        HealthServer::start_with_state(addr, HealthState::new())
    }

    /// Binds `addr` and starts serving `state`, which the caller may already share.
    pub fn start_with_state(
        addr: SocketAddr,
        state: Arc<HealthState>,
    ) -> Result<HealthServer, HealthError> {
        HealthServer::serve_on(addr, state, None)
    }

    /// Binds `addr` and serves `state`, and `registry` at `GET /metrics`.
    pub fn start_with_metrics(
        addr: SocketAddr,
        state: Arc<HealthState>,
        registry: Arc<Registry>,
    ) -> Result<HealthServer, HealthError> {
        HealthServer::serve_on(addr, state, Some(registry))
    }

    fn serve_on(
        addr: SocketAddr,
        state: Arc<HealthState>,
        registry: Option<Arc<Registry>>,
    ) -> Result<HealthServer, HealthError> {
        let listener =
            std::net::TcpListener::bind(addr).map_err(|error| HealthError::Bind { addr, error })?;
        // Everything that can fail happens here, on the caller's thread.
        let start_err = |error| HealthError::Start { addr, error };
        let bound = listener.local_addr().map_err(start_err)?;
        listener.set_nonblocking(true).map_err(start_err)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(start_err)?;
        let listener = {
            let _context = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(start_err)?
        };
        let (stop, stopped) = watch::channel(());
        let app = router(Arc::clone(&state), registry);
        let thread = std::thread::Builder::new()
            .name("health-server".into())
            .spawn(move || runtime.block_on(serve(listener, app, stopped)))
            .map_err(start_err)?;
        tracing::debug!(addr = %bound, "health server listening");
        Ok(HealthServer {
            addr: bound,
            state,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address the server is bound to (the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The state the probes read; clone the `Arc` to hand it to the code that flips it.
    pub fn state(&self) -> &Arc<HealthState> {
        &self.state
    }

    /// Stops the server and waits for its thread; the same as dropping it.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(addr = %self.addr, "the health server thread panicked");
        }
    }
}

impl Drop for HealthServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn router(state: Arc<HealthState>, registry: Option<Arc<Registry>>) -> Router {
    let probes = Router::new()
        .route("/liveness", get(liveness))
        .route("/readiness", get(readiness))
        .with_state(state);
    match registry {
        Some(registry) => probes.merge(
            Router::new()
                .route("/metrics", get(metrics))
                .with_state(registry),
        ),
        None => probes,
    }
}

async fn metrics(State(registry): State<Arc<Registry>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = MetricsFormat::negotiate(accept);
    match encode_metrics(&registry, format) {
        Ok(body) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the metrics");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot encode the metrics",
            )
                .into_response()
        }
    }
}

/// The text of `registry` in `format` (OpenMetrics with its `# EOF`).
pub fn encode_metrics(
    registry: &Registry,
    format: MetricsFormat,
) -> Result<String, std::fmt::Error> {
    let mut body = String::new();
    match format {
        MetricsFormat::OpenMetrics => {
            prometheus_client::encoding::text::encode(&mut body, registry)?
        }
        MetricsFormat::PrometheusText => {
            prometheus_client::encoding::prometheus_text::encode(&mut body, registry)?
        }
    }
    Ok(body)
}

async fn liveness() -> &'static str {
    "ok"
}

async fn readiness(State(state): State<Arc<HealthState>>) -> (StatusCode, &'static str) {
    if state.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

/// Serves until the stop signal, then drains open connections for at most
/// [`SHUTDOWN_GRACE`]. Whatever is left is dropped with the runtime.
async fn serve(listener: tokio::net::TcpListener, app: Router, stopped: watch::Receiver<()>) {
    let addr = listener.local_addr().ok();
    let signal = |mut rx: watch::Receiver<()>| async move {
        // Nothing is ever sent: the only change is the sender going away.
        let _ = rx.changed().await;
    };
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(signal(stopped.clone()))
        .into_future();
    tokio::pin!(server);
    let result = tokio::select! {
        result = &mut server => result,
        () = signal(stopped) => match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
            Ok(result) => result,
            Err(_) => {
                tracing::debug!(?addr, "health server: closing connections still open after the grace period");
                Ok(())
            }
        },
    };
    if let Err(e) = result {
        tracing::error!(?addr, error = %e, "the health server stopped");
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, TcpStream};
    use std::time::Instant;

    use super::*;

    fn any_port() -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
    }

    /// Sends one request over a fresh connection and returns (status, body).
    fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
        let (status, _, body) = request_with_head(addr, method, path);
        (status, body)
    }

    /// Sends one request over a fresh connection and returns (status, head, body).
    fn request_with_head(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        let (head, body) = response
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no header end in {response:?}"));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        (status, head.to_string(), body.to_string())
    }

    #[test]
    fn liveness_is_ok() {
        let server = HealthServer::start(any_port()).unwrap();
        assert_ne!(server.local_addr().port(), 0);
        assert_eq!(
            request(server.local_addr(), "GET", "/liveness"),
            (200, "ok".into())
        );
        // HEAD answers like GET, without a body.
        assert_eq!(
            request(server.local_addr(), "HEAD", "/liveness"),
            (200, String::new())
        );
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        let server = HealthServer::start(any_port()).unwrap();
        let addr = server.local_addr();
        for path in ["/", "/healthz", "/liveness/", "/liveness/x", "/metrics"] {
            assert_eq!(request(addr, "GET", path).0, 404, "{path}");
        }
        for method in ["POST", "PUT", "DELETE"] {
            assert_eq!(request(addr, method, "/liveness").0, 405, "{method}");
        }
    }

    #[test]
    fn readiness_follows_the_state() {
        let server = HealthServer::start(any_port()).unwrap();
        let addr = server.local_addr();
        assert_eq!(
            request(addr, "GET", "/readiness"),
            (503, "not ready".into())
        );
        server.state().set_ready(true);
        assert_eq!(request(addr, "GET", "/readiness"), (200, "ready".into()));
        server.state().set_ready(false);
        assert_eq!(request(addr, "GET", "/readiness").0, 503);
        // Liveness does not depend on readiness.
        assert_eq!(request(addr, "GET", "/liveness").0, 200);
    }

    #[test]
    fn a_shared_state_is_served() {
        let state = HealthState::new();
        state.set_ready(true);
        let server = HealthServer::start_with_state(any_port(), Arc::clone(&state)).unwrap();
        assert_eq!(request(server.local_addr(), "GET", "/readiness").0, 200);
        state.set_ready(false);
        assert_eq!(request(server.local_addr(), "GET", "/readiness").0, 503);
    }

    #[test]
    fn a_port_in_use_is_an_error_naming_it() {
        let first = HealthServer::start(any_port()).unwrap();
        let addr = first.local_addr();
        let err = HealthServer::start(addr).unwrap_err();
        assert!(matches!(err, HealthError::Bind { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&addr.to_string()), "{message}");
        assert!(
            message.contains(&format!("port {} from HEALTH_PORT", addr.port())),
            "{message}"
        );
        // The first server is unaffected.
        assert_eq!(request(addr, "GET", "/liveness").0, 200);
    }

    #[test]
    fn drop_closes_the_port() {
        let server = HealthServer::start(any_port()).unwrap();
        let addr = server.local_addr();
        assert_eq!(request(addr, "GET", "/liveness").0, 200);
        drop(server);
        let err = TcpStream::connect(addr).expect_err("the port should be closed");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn shutdown_does_not_wait_for_idle_or_stalled_clients() {
        let server = HealthServer::start(any_port()).unwrap();
        let addr = server.local_addr();
        // A client that connected and never sent anything, and one that stopped halfway
        // through its request headers.
        let _silent = TcpStream::connect(addr).unwrap();
        let mut stalled = TcpStream::connect(addr).unwrap();
        stalled
            .write_all(b"GET /liveness HTTP/1.1\r\nHost: loc")
            .unwrap();
        // Let the server accept both before stopping it.
        assert_eq!(request(addr, "GET", "/liveness").0, 200);
        let started = Instant::now();
        server.shutdown();
        let took = started.elapsed();
        assert!(took < SHUTDOWN_GRACE + Duration::from_secs(2), "{took:?}");
        assert!(TcpStream::connect(addr).is_err());
    }

    fn registry_with_counter() -> (Arc<Registry>, prometheus_client::metrics::counter::Counter) {
        let mut registry = Registry::with_prefix("compliance");
        let counter = prometheus_client::metrics::counter::Counter::<u64>::default();
        registry.register("test_things", "Things counted by the test", counter.clone());
        (Arc::new(registry), counter)
    }

    #[test]
    fn metrics_are_served_as_openmetrics_text_with_current_values() {
        let (registry, counter) = registry_with_counter();
        let server =
            HealthServer::start_with_metrics(any_port(), HealthState::new(), registry).unwrap();
        let addr = server.local_addr();
        let (status, head, body) = request_with_head(addr, "GET", "/metrics");
        assert_eq!(status, 200, "{body}");
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("content-type: {METRICS_CONTENT_TYPE}")),
            "{head}"
        );
        assert!(body.contains("compliance_test_things_total 0\n"), "{body}");
        assert!(body.ends_with("# EOF\n"), "{body}");
        // The registry is live: a value changed after the start is what the next scrape sees.
        counter.inc_by(3);
        let (_, body) = request(addr, "GET", "/metrics");
        assert!(body.contains("compliance_test_things_total 3\n"), "{body}");
        // The probes still work beside it.
        assert_eq!(request(addr, "GET", "/liveness").0, 200);
        assert_eq!(request(addr, "POST", "/metrics").0, 405);
    }

    /// Records the name of the thread that encodes it.
    #[derive(Debug, Default)]
    struct ThreadProbe {
        seen: std::sync::Mutex<Vec<String>>,
    }

    impl prometheus_client::collector::Collector for ThreadProbe {
        fn encode(
            &self,
            _: prometheus_client::encoding::DescriptorEncoder,
        ) -> Result<(), std::fmt::Error> {
            let name = std::thread::current().name().unwrap_or("").to_string();
            self.seen.lock().unwrap().push(name);
            Ok(())
        }
    }

    #[test]
    fn metrics_are_encoded_on_the_health_servers_own_thread() {
        let probe = Arc::new(ThreadProbe::default());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Arc::clone(&probe)));
        let server =
            HealthServer::start_with_metrics(any_port(), HealthState::new(), Arc::new(registry))
                .unwrap();
        assert_eq!(request(server.local_addr(), "GET", "/metrics").0, 200);
        assert_eq!(*probe.seen.lock().unwrap(), ["health-server"]);
    }

    #[test]
    fn prometheus_text_only_when_asked_for_without_openmetrics() {
        use MetricsFormat::*;
        for (accept, want) in [
            (None, OpenMetrics),
            (Some("*/*"), OpenMetrics),
            (Some("text/plain"), PrometheusText),
            (Some("Text/Plain; version=0.0.4"), PrometheusText),
            (
                Some("text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
                PrometheusText,
            ),
            // What Prometheus 2.42 sends.
            (
                Some(
                    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ),
                OpenMetrics,
            ),
            (Some("application/json"), OpenMetrics),
        ] {
            assert_eq!(MetricsFormat::negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn a_client_asking_for_text_plain_gets_the_prometheus_text_format() {
        let (registry, _counter) = registry_with_counter();
        let server =
            HealthServer::start_with_metrics(any_port(), HealthState::new(), registry).unwrap();
        let mut stream = TcpStream::connect(server.local_addr()).unwrap();
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response
                .to_ascii_lowercase()
                .contains(&format!("content-type: {PROMETHEUS_TEXT_CONTENT_TYPE}")),
            "{response}"
        );
        assert!(
            response.contains("# TYPE compliance_test_things_total counter\n"),
            "{response}"
        );
        assert!(!response.contains("# EOF"), "{response}");
    }
}
