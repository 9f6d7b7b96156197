//! HTTP: the routers and the server loop (plain or rustls TLS, with graceful shutdown).
//!
//! One router per concern, merged in [`router`]: the marketplace callback
//! (`marketplace.rs`), the client API (`client.rs`), health and metrics (`health.rs`). The
//! admin API ([`admin`]) has its own router and listener. Handlers stay thin: extract, call the
//! service, map the result.

pub mod admin;
mod client;
pub mod error;
mod health;
mod marketplace;
pub mod metrics;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::license::service::Service;
use crate::marketplace::AccessKey;
use metrics::Metrics;

/// Everything a handler needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The license service.
    pub service: Arc<Service>,
    /// The marketplace access key (callback signatures and `Body-Sign`).
    pub access_key: Arc<AccessKey>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// V1 timestamp window.
    pub v1_window_secs: Option<i64>,
}

/// The peer address of the connection a request came on, as a request extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// Who sent a request, for logs: the peer address and, behind a proxy, the first
/// `X-Forwarded-For` entry (as sent; logged, never trusted for a decision).
pub(crate) fn client_label(
    addr: Option<&axum::Extension<ClientAddr>>,
    headers: &axum::http::HeaderMap,
) -> String {
    let peer = addr.map_or_else(|| "?".to_string(), |a| a.0.0.to_string());
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 64);
    match forwarded {
        Some(f) => format!("{f} via {peer}"),
        None => peer,
    }
}

/// The public router: marketplace callbacks on `callback_path`, the client API, health, metrics.
pub fn router(state: AppState, callback_path: &str, max_body_bytes: usize) -> Router {
    Router::new()
        .merge(marketplace::router(callback_path))
        .merge(client::router())
        .merge(health::router())
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// How long in-flight requests may take to finish after shutdown is asked for.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `router` on an already-bound `listener` until `shutdown` resolves, then stops
/// accepting and lets requests in flight finish (up to ten seconds). With `tls`, every
/// connection is a TLS connection.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The marketplace's documentation spells the header `Body-Sign`; header names are
    // case-insensitive, but a strict client should see the documented spelling.
    builder.title_case_headers(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Handlers log who called (a refused callback at 3 a.m. wants an address).
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ClientAddr(peer));
                req
            },
        ));
        let builder = builder.clone();
        match &tls {
            None => {
                let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(
                        Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {DRAIN:?}; closing them");
    }
    Ok(())
}

/// The local address of a bound listener, for the startup log.
pub fn local_addr(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}
