//! A webhook receiver for tests: records every delivery, and answers as the test says (2xx, an
//! error, a redirect, a huge body, never).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// How the receiver answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// 200.
    Ok,
    /// This status, with a short body.
    Fail(u16),
    /// 302 to this URL.
    Redirect(String),
    /// 500 with a body of this many bytes, sent slowly enough that reading it all would show.
    Huge(usize),
    /// Never answers.
    Hang,
}

/// One delivery as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Whether it was answered 2xx.
    pub accepted: bool,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

#[derive(Clone, Default)]
struct Shared {
    mode: Arc<Mutex<Option<Mode>>>,
    got: Arc<Mutex<Vec<Delivery>>>,
}

/// A running receiver on 127.0.0.1.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
}

impl Receiver {
    pub async fn start(mode: Mode) -> Receiver {
        let shared = Shared::default();
        *shared.mode.lock().unwrap() = Some(mode);
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = Some(mode);
    }

    /// Every delivery so far, in arrival order.
    pub fn got(&self) -> Vec<Delivery> {
        self.shared.got.lock().unwrap().clone()
    }

    /// The deliveries it accepted.
    pub fn accepted(&self) -> Vec<Delivery> {
        self.got().into_iter().filter(|d| d.accepted).collect()
    }

    /// Waits up to `within` until `n` deliveries were accepted; the accepted ones.
    pub async fn wait_accepted(&self, n: usize, within: Duration) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.accepted();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mode = s.mode.lock().unwrap().clone().unwrap_or(Mode::Ok);
    let accepted = mode == Mode::Ok;
    s.got.lock().unwrap().push(Delivery {
        headers,
        body: body.to_vec(),
        accepted,
    });
    match mode {
        Mode::Ok => StatusCode::OK.into_response(),
        Mode::Fail(code) => (
            StatusCode::from_u16(code).unwrap(),
            "receiver says no <script>",
        )
            .into_response(),
        Mode::Redirect(to) => (StatusCode::FOUND, [("location", to)]).into_response(),
        Mode::Huge(n) => {
            let chunks = futures_util::stream::iter(
                (0..n / 65536 + 1).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 65536]))),
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::body::Body::from_stream(chunks),
            )
                .into_response()
        }
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
    }
}

/// Checks a delivery's `Licd-Signature` with `secret` as a receiver would (computed here with
/// the `hmac` crate, not licd's code): the time and the signature, or why it fails.
pub fn verify(d: &Delivery, secret: &[u8], max_age_secs: i64) -> Result<i64, String> {
    use hmac::{Hmac, Mac};
    let header = d.header("licd-signature");
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = Some(v.to_string()),
            _ => {}
        }
    }
    let (t, v1) = t
        .zip(v1)
        .ok_or_else(|| format!("malformed header {header:?}"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - t).abs() > max_age_secs {
        return Err(format!("t={t} is {} s away from now", now - t));
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&d.body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if want != v1 {
        return Err("signature mismatch".into());
    }
    Ok(t)
}
