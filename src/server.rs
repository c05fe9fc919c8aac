//! compliance-server's run, and `compliancectl serve`: the reports over HTTP(S).
//!
//! The routes are the server crate's ([`compliance_server::router`]); this is what a
//! process adds around them: the store and the authorizer chosen by the settings, the
//! certificate, the accept loop, request logs, the health endpoint and a graceful stop.
//! SIGTERM (the kubelet) or SIGINT makes the server stop accepting, mark itself not ready,
//! and give requests in flight until the shutdown timeout; whatever is still open then is
//! closed.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use compliance_core::error::ErrorKind;
use compliance_server::Server;
use compliance_server::auth::Auth;
use compliance_server::auth::k8s::{AuthSettings, KubeAuth};
use compliance_server::clusters::Clusters;
use compliance_store::{Datastore, OpenMode, Store};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::failure::{EXIT_OK, Failure};
use crate::health::HealthServer;
use crate::settings::server::{AuthMode, ServerConfig, TlsSource};
use crate::{signals, tls};

/// A client gets this long to finish its TLS handshake; a stalled one is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until SIGTERM or SIGINT; 0 after a clean stop.
pub fn run(cfg: ServerConfig) -> Result<u8, Failure> {
    let health = match cfg.health {
        Some(addr) => Some(HealthServer::start(addr)?),
        None => None,
    };
    let certificate = match &cfg.tls {
        TlsSource::Files {
            cert,
            key,
            variables,
        } => {
            let loaded = tls::from_files(cert, key, *variables)?;
            tracing::info!(
                cert = %cert.display(),
                sha256 = %loaded.fingerprint,
                "serving the configured TLS certificate"
            );
            loaded
        }
        TlsSource::SelfSigned => {
            let made = tls::self_signed()?;
            tracing::warn!(
                sha256 = %made.fingerprint,
                names = %tls::SELF_SIGNED_NAMES.join(","),
                "no TLS certificate configured (TLS_CERT/TLS_KEY, or the Secret \
                 tigera-compliance-server-tls): serving a self-signed certificate that \
                 clients cannot verify"
            );
            made
        }
    };
    if cfg.auth == AuthMode::None {
        tracing::warn!(
            listen = %cfg.listen,
            "COMPLIANCE_SERVER_AUTH=none: every request may read every report"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::unavailable(e).context("cannot start the async runtime"))?;
    runtime.block_on(async {
        let clusters = clusters(&cfg.datastore, &cfg.cluster, cfg.extra_clusters.clone())?;
        let auth = match cfg.auth {
            AuthMode::None => Auth::Open,
            AuthMode::Kubernetes => {
                let client = kube::Client::try_default().await.map_err(|e| {
                    Failure::new(ErrorKind::Configuration, e).context(
                        "COMPLIANCE_SERVER_AUTH=kubernetes needs a Kubernetes configuration \
                         (in-cluster or KUBECONFIG)",
                    )
                })?;
                Auth::Kube(KubeAuth::new(client, AuthSettings::default()))
            }
        };
        let listener = bind("LISTEN_ADDR", cfg.listen).await?;
        let addr = listener.local_addr().map_err(Failure::unavailable)?;
        tracing::info!(
            store = %cfg.datastore.describe(),
            clusters = ?clusters.names(),
            auth = ?cfg.auth,
            "compliance-server listening on https://{addr}"
        );
        let app = app(Server::new(clusters, auth).with_metrics_per_test(cfg.metrics_per_test));
        if let Some(h) = &health {
            h.state().set_ready(true);
        }
        let stop = async {
            let name = signals::terminated("compliance-server").await;
            tracing::info!(
                "{name}: stopping; requests in flight get {:?}",
                cfg.shutdown_timeout
            );
            if let Some(h) = &health {
                h.state().set_ready(false);
            }
        };
        let acceptor = TlsAcceptor::from(Arc::clone(&certificate.config));
        serve(listener, app, Some(acceptor), stop, cfg.shutdown_timeout).await;
        tracing::info!("compliance-server stopped");
        Ok(EXIT_OK)
    })
}

/// `compliancectl serve`: the store over plain HTTP with no authentication, for a laptop.
/// `metrics_per_test` is `--metrics-per-test`; `announce` is told the address once it is
/// bound (the CLI prints the URL to open).
pub fn serve_local(
    datastore: &Datastore,
    cluster: &str,
    listen: SocketAddr,
    metrics_per_test: bool,
    announce: impl FnOnce(SocketAddr),
) -> Result<u8, Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::unavailable(e).context("cannot start the async runtime"))?;
    runtime.block_on(async {
        let clusters = clusters(datastore, cluster, Vec::new())?;
        let listener = bind("--listen", listen).await?;
        let addr = listener.local_addr().map_err(Failure::unavailable)?;
        announce(addr);
        let app = app(Server::new(clusters, Auth::Open).with_metrics_per_test(metrics_per_test));
        let stop = async {
            let name = signals::terminated("compliancectl serve").await;
            tracing::info!("{name}: stopping");
        };
        serve(listener, app, None, stop, Duration::from_secs(5)).await;
        Ok(EXIT_OK)
    })
}

/// Where the reports are: one SQLite file (one cluster), or Elasticsearch with a store
/// per cluster opened on first use.
fn clusters(datastore: &Datastore, cluster: &str, extra: Vec<String>) -> Result<Clusters, Failure> {
    match datastore {
        Datastore::Elastic(config) => Ok(Clusters::elastic((**config).clone(), extra)),
        Datastore::Sqlite(_) => {
            let store = Store::open(datastore, OpenMode::Existing).map_err(|e| {
                Failure::from(e).context(format!("cannot open {}", datastore.describe()))
            })?;
            Ok(Clusters::single(cluster, store))
        }
    }
}

async fn bind(variable: &str, addr: SocketAddr) -> Result<TcpListener, Failure> {
    TcpListener::bind(addr).await.map_err(|e| {
        Failure::new(
            ErrorKind::Configuration,
            anyhow!("{variable}={addr}: cannot listen there: {e}"),
        )
    })
}

/// The server crate's routes with a log line per request.
fn app(server: Server) -> Router {
    compliance_server::router(Arc::new(server)).layer(axum::middleware::from_fn(log_request))
}

/// One line per request: debug when it went well, warn for a refused request, error when
/// the server failed. The path only: queries may carry report names, never credentials,
/// but they add nothing to a log.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_millis() as u64;
    if response.status().is_server_error() {
        tracing::error!(%method, %path, status, ms, "request failed");
    } else if response.status().is_client_error() {
        tracing::warn!(%method, %path, status, ms, "request refused");
    } else {
        tracing::debug!(%method, %path, status, ms, "request");
    }
    response
}

/// Accepts connections until `stop` resolves, each served on its own task (over TLS when
/// `tls` is given); then closes the listener and waits up to `grace` for the connections
/// to finish their requests. Idle keep-alive connections close at once.
async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    stop: impl Future<Output = ()>,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let builder = hyper::server::conn::http1::Builder::new();
        match &tls {
            None => {
                let conn = builder.serve_connection(TokioIo::new(tcp), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream =
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let conn =
                        watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                });
            }
        }
    }
    drop(listener);
    match tokio::time::timeout(grace, graceful.shutdown()).await {
        Ok(()) => tracing::debug!("every connection finished"),
        Err(_) => tracing::warn!("requests still in flight after {grace:?} are cut off"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::oneshot;

    use super::*;

    /// A router whose `/slow` says it started on `started`, then answers after `delay`.
    fn slow(delay: Duration) -> (Router, tokio::sync::mpsc::Receiver<()>) {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let router = Router::new().route(
            "/slow",
            get(move || {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(()).await;
                    tokio::time::sleep(delay).await;
                    "done"
                }
            }),
        );
        (router, rx)
    }

    /// Serves `app` on a loopback port until the returned sender fires.
    async fn start(
        app: Router,
        grace: Duration,
    ) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            listener,
            app,
            None,
            async move {
                let _ = stopped.await;
            },
            grace,
        ));
        (addr, stop, task)
    }

    async fn send(addr: SocketAddr, path: &str) -> tokio::net::TcpStream {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        s
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_in_flight_finishes_after_the_stop() {
        let (app, mut started) = slow(Duration::from_millis(300));
        let (addr, stop, task) = start(app, Duration::from_secs(10)).await;
        let mut client = send(addr, "/slow").await;
        // The request has reached the handler when the stop comes.
        started.recv().await.unwrap();
        stop.send(()).unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer))
            .await
            .expect("the answer, then the connection closed")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("done"), "{answer}");
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
        // No new connections once stopped.
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_longer_than_the_grace_period_is_cut_off() {
        let (app, mut handler) = slow(Duration::from_secs(60));
        let (addr, stop, task) = start(app, Duration::from_millis(200)).await;
        let _client = send(addr, "/slow").await;
        handler.recv().await.unwrap();
        let started = Instant::now();
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
