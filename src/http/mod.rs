//! HTTP: the routers and the server loop (plain or rustls TLS, with graceful shutdown).
//!
//! One router per concern, merged in [`router`]: the marketplace callback
//! (`marketplace.rs`), the client API (`client.rs`), health and metrics (`health.rs`). The
//! admin API ([`admin`]) has its own router and listener. Handlers stay thin: extract, call the
//! service, map the result.

pub mod admin;
mod client;
mod conns;
pub mod error;
mod health;
mod leases;
mod marketplace;
pub mod metrics;
pub(crate) mod offline;
pub(crate) mod pages;
pub mod portal;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::ConnLimits;
use crate::logsafe::RefusalLimiter;
use crate::marketplace::AccessKey;
use crate::net::Cidr;
use crate::service::Service;
use error::ApiError;
use metrics::Metrics;

/// The headers of an HTML page licd serves (the activation page, the console): its content
/// security policy `csp`, and never framed, sniffed, cached or followed by a referrer.
pub(crate) fn page_headers(h: &mut axum::http::HeaderMap, csp: &'static str) {
    use axum::http::{HeaderValue, header};
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

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
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<[Cidr]>,
    /// Bounds how many refusals of unauthenticated requests reach the log.
    pub refusals: Arc<RefusalLimiter>,
    /// The V2 signature readings accepted.
    pub v2_readings: Arc<[crate::marketplace::V2Reading]>,
    /// The customer portal's session seal and sign-in limits.
    pub portal: Arc<portal::Portal>,
}

/// The peer address of the connection a request came on, as a request extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// The address of who sent a request: the connection's peer, or behind a trusted proxy the
/// nearest `X-Forwarded-For` hop that is not one (`crate::net::client_ip`); `None` only where
/// the server recorded no peer (a test calling the router directly). Always an address, so
/// nothing a client writes reaches the log through it.
pub(crate) fn client_ip(
    addr: Option<&axum::Extension<ClientAddr>>,
    headers: &axum::http::HeaderMap,
    trusted: &[Cidr],
) -> Option<std::net::IpAddr> {
    let peer = addr.map(|a| a.0.0)?;
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() && trusted.is_empty() && peer.ip().is_loopback() {
        // A proxy on this machine that licd was not told of: every client then looks like
        // the proxy, in the log and in the per-address limits. Said once.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            tracing::warn!(proxy = %peer.ip(), "requests come through a proxy on this machine with X-Forwarded-For, but no --trusted-proxy is set: every client counts as the proxy (the log, and the per-address limit on new code activations); set --trusted-proxy {}/32", peer.ip());
        });
    }
    Some(crate::net::client_ip(peer.ip(), &forwarded, trusted))
}

/// Who sent a public request, as an extractor: its address ([`client_ip`]) and the label logs
/// carry. Every public handler takes one instead of the peer and headers.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    /// The address; `None` only where the server recorded no peer (a test calling the router).
    pub ip: Option<std::net::IpAddr>,
    /// The address as text, `?` when unknown.
    pub label: String,
}

impl axum::extract::FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        st: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ClientAddr>()
            .copied()
            .map(axum::Extension);
        let ip = client_ip(peer.as_ref(), &parts.headers, &st.trusted_proxies);
        Ok(Client {
            ip,
            label: ip.map_or_else(|| "?".to_string(), |ip| ip.to_string()),
        })
    }
}

/// A JSON body as an extractor whose rejection is already the API's error: 413 when too large,
/// else 400, the parser's words (which quote the client's text) escaped and cut short. Taken
/// as `Result<JsonBody<T>, ApiError>` so that the handler answers the refusal through its
/// counted, rate-limited path.
pub(crate) struct JsonBody<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = error::ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(t)) => Ok(JsonBody(t)),
            Err(e) => {
                let status = e.status();
                let text = crate::logsafe::quoted_max(&e.body_text(), 160);
                Err(if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    error::ApiError::new(status, "too_large", format!("request body: {text}"))
                } else {
                    error::ApiError::bad_request(format!("request body: {text}"))
                })
            }
        }
    }
}

/// The public router: marketplace callbacks on `callback_path`, the client API, health, metrics.
pub fn router(state: AppState, callback_path: &str, max_body_bytes: usize) -> Router {
    Router::new()
        .merge(marketplace::router(callback_path))
        .merge(client::router())
        .merge(leases::router())
        .merge(offline::router())
        .merge(portal::router())
        .merge(pages::router())
        .merge(health::router())
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// How long in-flight requests may take to finish after shutdown is asked for.
/// The router of a site server (`licd site serve`): the lease API, health and metrics.
pub fn site_router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .merge(leases::router())
        .merge(health::router())
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

const DRAIN: Duration = Duration::from_secs(10);

/// Longest request head (request line and headers) accepted; a callback's query is far shorter.
const MAX_HEAD_BYTES: usize = 32 * 1024;

/// How one listener serves: TLS, the per-connection bounds, and the largest request body.
#[derive(Clone)]
pub struct ServeOptions {
    /// Every connection is TLS when set.
    pub tls: Option<TlsAcceptor>,
    /// Connection cap and timeouts.
    pub limits: ConnLimits,
    /// Largest request body; larger ones get 413 before a handler runs.
    pub max_body_bytes: usize,
}

/// Serves `router` on an already-bound `listener` until `shutdown` resolves, then stops
/// accepting and lets requests in flight finish (up to ten seconds).
///
/// Hostile clients are bounded: request heads must arrive within the header timeout and bodies
/// within the body timeout (408), bodies are read in full (up to `max_body_bytes`, else 413)
/// before a handler runs, a kept-alive connection idle past the idle timeout is closed, and at
/// the connection cap the oldest connection not answering a request makes room for a new one
/// (see `conns`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let ServeOptions {
        tls,
        limits,
        max_body_bytes,
    } = options;
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The marketplace's documentation spells the header `Body-Sign`; header names are
    // case-insensitive, but a strict client should see the documented spelling.
    builder
        .title_case_headers(true)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let body_timeout = limits.body_timeout;
    let router = router.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| read_body(req, next, body_timeout, max_body_bytes),
    ));
    let conns = conns::Conns::new(limits.max_connections);
    let sweeper = tokio::spawn({
        let conns = conns.clone();
        let idle = limits.idle_timeout;
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let closed = conns.sweep(idle);
                if closed > 0 {
                    tracing::debug!(closed, "closed idle connections");
                }
            }
        }
    });
    let crowded = RefusalLimiter::default();
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
        let slot = match conns.admit() {
            Ok((slot, evicted)) => {
                if evicted && let Some(held) = crowded.admit(std::time::Instant::now()) {
                    tracing::warn!(
                        max = limits.max_connections,
                        suppressed = held,
                        "connection cap reached: closed the oldest idle connection to make room"
                    );
                }
                slot
            }
            Err(conns::Refused::AllBusy) => {
                if let Some(held) = crowded.admit(std::time::Instant::now()) {
                    tracing::warn!(%peer, max = limits.max_connections, suppressed = held, "connection cap reached and every connection is answering a request: new connection closed");
                }
                continue;
            }
        };
        let conn = slot.conn().clone();
        // Handlers log who called (a refused callback at 3 a.m. wants an address), and the
        // body reader marks the connection busy once a request's body is in.
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ClientAddr(peer));
                req.extensions_mut().insert(ConnHandle(conn.clone()));
                req
            },
        ));
        let builder = builder.clone();
        let acceptor = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let slot = slot;
            let closed = slot.conn().clone();
            let serve_it = async {
                match acceptor {
                    None => {
                        let conn = builder.serve_connection(TokioIo::new(stream), service);
                        if let Err(e) = watcher.watch(conn).await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    }
                    Some(acceptor) => {
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
                    }
                }
            };
            tokio::select! {
                () = serve_it => {}
                () = closed.closed() => tracing::debug!(%peer, "connection closed: idle or making room"),
            }
            drop(slot);
        });
    }
    sweeper.abort();
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {DRAIN:?}; closing them");
    }
    Ok(())
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("tls", &self.tls.is_some())
            .field("limits", &self.limits)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

/// The connection a request came on, as a request extension.
#[derive(Debug, Clone)]
struct ConnHandle(Arc<conns::Conn>);

/// Reads the whole request body (bounded in size and time) before any handler runs, then marks
/// the connection busy until the response has been sent: a client that trickles a body holds
/// neither a handler nor more than `max` bytes, and stays the first to go when room is needed.
async fn read_body(req: Request, next: Next, timeout: Duration, max: usize) -> Response {
    let (parts, body) = req.into_parts();
    // A body left unread cannot be skipped reliably: the answer closes the connection, and
    // says so, so no client sends its next request down it.
    let closing = |e: ApiError| {
        let mut r = e.into_response();
        r.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        r
    };
    let too_large = || {
        closing(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("request body: larger than {max} bytes"),
        ))
    };
    if parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > max as u64)
    {
        return too_large();
    }
    let bytes = match tokio::time::timeout(
        timeout,
        http_body_util::Limited::new(body, max).collect(),
    )
    .await
    {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Ok(Err(_)) => {
            return closing(ApiError::bad_request(
                "request body: the connection broke while it was sent",
            ));
        }
        Err(_) => {
            return closing(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                format!("request body: not sent within {} s", timeout.as_secs()),
            ));
        }
    };
    let guard = parts.extensions.get::<ConnHandle>().map(|c| c.0.busy());
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    match guard {
        Some(guard) => response.map(|b| {
            Body::new(Guarded {
                inner: b,
                _guard: guard,
            })
        }),
        None => response,
    }
}

/// A response body that holds the connection busy until it is sent (a streamed backup too).
struct Guarded {
    inner: Body,
    _guard: conns::BusyGuard,
}

impl http_body::Body for Guarded {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The local address of a bound listener, for the startup log.
pub fn local_addr(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}

/// HTML escaping with named entities (`&lt;` `&gt;` `&amp;` `&quot;` `&#39;`), for every
/// page's askama templates (`askama.toml`): whatever a client sent is text in an element or a
/// double-quoted attribute, never markup.
#[derive(Clone, Copy, Debug, Default)]
pub struct NamedHtml;

impl askama::filters::Escaper for NamedHtml {
    fn write_escaped_str<W: std::fmt::Write>(&self, mut dest: W, s: &str) -> std::fmt::Result {
        let mut last = 0;
        for (i, b) in s.bytes().enumerate() {
            let entity = match b {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&#39;",
                _ => continue,
            };
            dest.write_str(&s[last..i])?;
            dest.write_str(entity)?;
            last = i + 1;
        }
        dest.write_str(&s[last..])
    }
}
