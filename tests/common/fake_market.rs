//! A fake marketplace open API on 127.0.0.1:0: `order/query`, `market-event/{id}/file`, and the
//! License 2.0 code APIs `license/activate`, `license/heartbeat` and
//! `license/software-usage-info` with their documented envelopes and `9202xxxx` codes.
//!
//! It checks the `SDK-HMAC-SHA256` signature of every request with its own implementation of
//! protocol §3.6 (written from the spec, not shared with `licd::market_api::sign`, so a wrong signer
//! fails here), refusing bad ones with HTTP 403 `CBC.0150`. It runs on its own thread and
//! runtime, so sync tests driving the real `licd` binary (`--marketplace-api <url>`) can use it as
//! well as async tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{Request, Response, StatusCode};
use client_verifier::Timestamp;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const FAKE_AK: &str = "FAKEAK0123456789";
pub const FAKE_SK: &str = "fake-sk-Zx9+/=kq";

const ORDER_QUERY: &str = "/api/mkp-openapi-public/global/v1/order/query";
const CODE_ACTIVATE: &str = "/api/mkp-openapi-public/global/v1/license/activate";
const CODE_QUERY: &str = "/api/mkp-openapi-public/global/v1/license/heartbeat";
const CODE_USAGE: &str = "/api/mkp-openapi-public/global/v2/license/software-usage-info";

/// A License 2.0 code as the fake marketplace holds it.
#[derive(Debug, Clone)]
pub struct FakeCode {
    /// Shown to the customer yet (else activation answers `92020004`).
    pub delivered: bool,
    /// `ALIVE`, `EXPIRED`, `RELEASED`.
    pub status: String,
    /// `yyyyMMddHHmmss`.
    pub expire_time: String,
    pub amount: u32,
    pub product_id: String,
    pub order_id: String,
    /// Set by an activation.
    pub activated: bool,
}

impl FakeCode {
    /// A delivered, alive code for `amount` devices until `expire_time`.
    pub fn alive(amount: u32, expire_time: &str) -> FakeCode {
        FakeCode {
            delivered: true,
            status: "ALIVE".into(),
            expire_time: expire_time.into(),
            amount,
            product_id: "OFFI2000".into(),
            order_id: "CS-CODE-1".into(),
            activated: false,
        }
    }
}
const EVENT_PREFIX: &str = "/api/mkp-openapi-public/global/v1/market-event/";

/// One accepted upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub event_id: String,
    /// `type`: `CHARACTERS` or `FILE`.
    pub kind: String,
    pub characters: String,
}

#[derive(Default)]
struct State {
    /// orderId → the full response body to serve.
    orders: HashMap<String, Value>,
    uploads: Vec<Upload>,
    rejected: usize,
    requests: usize,
    /// Answers forced on the next uploads / queries: (HTTP status, body).
    upload_failures: VecDeque<(u16, Value)>,
    query_failures: VecDeque<(u16, Value)>,
    delay: Duration,
    /// Why the last signature was refused, for test failure messages.
    last_rejection: Option<String>,
    codes: HashMap<String, FakeCode>,
    /// Activations, queries and usage reports that reached the code APIs, signed.
    code_calls: Vec<&'static str>,
    /// What the next code calls do: `None` answers normally, `Some` with (HTTP status, body).
    code_failures: VecDeque<Option<(u16, Value)>>,
    usage: Vec<Value>,
    /// Usage reports answered HTTP 500 `92020001` while set.
    usage_down: bool,
    /// Codes matched regardless of ASCII letter case.
    codes_ignore_case: bool,
    /// Usage reports that arrived signed, answered or not.
    usage_attempts: usize,
    /// Seconds the clock in the answers' `Date` header is off by.
    clock_offset: i64,
}

/// A running fake marketplace. Stops when dropped.
pub struct FakeMarket {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeMarket {
    /// Starts on 127.0.0.1:0, credentials [`FAKE_AK`] / [`FAKE_SK`].
    pub fn start() -> FakeMarket {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(move |req: Request<Body>| {
                    let state = shared.clone();
                    async move { handle(state, req).await }
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        FakeMarket {
            addr,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// The base URL to give the client (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ak(&self) -> &'static str {
        FAKE_AK
    }

    pub fn sk(&self) -> &'static str {
        FAKE_SK
    }

    /// Serves `order_info` (an `orderInfo` object with `orderId`) wrapped in
    /// `{"resultCode":"000000","resultMsg":"success","orderInfo":…}`.
    pub fn add_order(&self, order_info: Value) {
        let id = order_info["orderId"]
            .as_str()
            .expect("orderInfo.orderId")
            .to_string();
        let body = json!({"resultCode": "000000", "resultMsg": "success", "orderInfo": order_info});
        self.state.lock().unwrap().orders.insert(id, body);
    }

    /// Serves `body` exactly as given for `order_id` (to test other response shapes).
    pub fn add_order_response(&self, order_id: &str, body: Value) {
        self.state
            .lock()
            .unwrap()
            .orders
            .insert(order_id.to_string(), body);
    }

    /// Uploads accepted so far, in order.
    pub fn uploads(&self) -> Vec<Upload> {
        self.state.lock().unwrap().uploads.clone()
    }

    /// Requests refused for a bad signature (or a stale `X-Sdk-Date`, or the wrong AK).
    pub fn rejected_signatures(&self) -> usize {
        self.state.lock().unwrap().rejected
    }

    /// Why the last refused signature was refused.
    pub fn last_rejection(&self) -> Option<String> {
        self.state.lock().unwrap().last_rejection.clone()
    }

    /// Every request that reached the server, signed or not.
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }

    /// The next `n` (validly signed) uploads get HTTP 500 `CBC.0999`.
    pub fn fail_next_uploads(&self, n: usize) {
        let mut s = self.state.lock().unwrap();
        for _ in 0..n {
            s.upload_failures.push_back((
                500,
                json!({"error_code": "CBC.0999", "error_msg": "internal error"}),
            ));
        }
    }

    /// The next upload gets this answer instead (e.g. 200 `91381037`).
    pub fn fail_next_upload_with(&self, status: u16, error_code: &str, error_msg: &str) {
        self.state.lock().unwrap().upload_failures.push_back((
            status,
            json!({"error_code": error_code, "error_msg": error_msg}),
        ));
    }

    /// The next `n` (validly signed) order queries get HTTP 500 `CBC.0999`.
    pub fn fail_next_queries(&self, n: usize) {
        let mut s = self.state.lock().unwrap();
        for _ in 0..n {
            s.query_failures.push_back((
                500,
                json!({"error_code": "CBC.0999", "error_msg": "internal error"}),
            ));
        }
    }

    /// Holds License 2.0 code `code`.
    pub fn add_code(&self, code: &str, c: FakeCode) {
        self.state.lock().unwrap().codes.insert(code.to_string(), c);
    }

    /// Changes what the marketplace says of `code` (a renewal, an expiry, a release).
    pub fn set_code(&self, code: &str, status: &str, expire_time: &str) {
        let mut s = self.state.lock().unwrap();
        let c = s.codes.get_mut(code).expect("known code");
        c.status = status.into();
        c.expire_time = expire_time.into();
    }

    pub fn code(&self, code: &str) -> FakeCode {
        self.state.lock().unwrap().codes[code].clone()
    }

    /// The activations and queries that arrived signed, in order: `activate`, `query` (usage
    /// reports are counted apart, since the outbox sends them whenever it likes).
    pub fn code_calls(&self) -> Vec<&'static str> {
        self.state.lock().unwrap().code_calls.clone()
    }

    /// Usage reports that arrived signed, delivered or refused.
    pub fn usage_attempts(&self) -> usize {
        self.state.lock().unwrap().usage_attempts
    }

    /// The next `n` activations or queries get HTTP 500 `92020001` (internal error): an outage.
    pub fn fail_next_code_calls(&self, n: usize) {
        let mut s = self.state.lock().unwrap();
        for _ in 0..n {
            s.code_failures.push_back(Some((
                500,
                json!({"error_code": "92020001", "error_msg": "internal error"}),
            )));
        }
    }

    /// The next code call is answered normally, the one after it gets HTTP 500 `92020001`: an
    /// outage that starts between an activation and its query.
    pub fn fail_second_code_call(&self) {
        let mut s = self.state.lock().unwrap();
        s.code_failures.push_back(None);
        s.code_failures.push_back(Some((
            500,
            json!({"error_code": "92020001", "error_msg": "internal error"}),
        )));
    }

    /// Usage reports fail (HTTP 500 `92020001`) until set back.
    pub fn set_usage_down(&self, down: bool) {
        self.state.lock().unwrap().usage_down = down;
    }

    /// The usage reports received (`usage_info` arrays), in order.
    pub fn usage_reports(&self) -> Vec<Value> {
        self.state.lock().unwrap().usage.clone()
    }

    /// Matches codes regardless of ASCII letter case from now on.
    pub fn match_codes_ignoring_case(&self) {
        self.state.lock().unwrap().codes_ignore_case = true;
    }

    /// Every answer waits this long first (zero to stop).
    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().unwrap().delay = delay;
    }

    /// Answers carry a `Date` header this many seconds off (a gateway whose clock, or rather
    /// the ISV server's, is wrong).
    pub fn set_clock_offset(&self, secs: i64) {
        self.state.lock().unwrap().clock_offset = secs;
    }
}

impl Drop for FakeMarket {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Graceful shutdown waits for delayed handlers; don't hold the test up for them.
        drop(self.thread.take());
    }
}

fn reply(status: u16, body: Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json;charset=UTF-8")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Body>) -> Response<Body> {
    let offset = state.lock().unwrap().clock_offset;
    let mut response = answer(state, req).await;
    if offset != 0 {
        let at = std::time::SystemTime::now()
            .checked_add(Duration::from_secs(offset.unsigned_abs()))
            .filter(|_| offset > 0)
            .or_else(|| {
                std::time::SystemTime::now().checked_sub(Duration::from_secs(offset.unsigned_abs()))
            })
            .unwrap();
        response
            .headers_mut()
            .insert("date", httpdate::fmt_http_date(at).parse().unwrap());
    }
    response
}

async fn answer(state: Arc<Mutex<State>>, req: Request<Body>) -> Response<Body> {
    let delay = {
        let mut s = state.lock().unwrap();
        s.requests += 1;
        s.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, 1 << 20).await else {
        return reply(
            400,
            json!({"error_code": "CBC.0101", "error_msg": "Invalid parameter"}),
        );
    };
    if let Err(why) = check_signature(&parts, &body) {
        let mut s = state.lock().unwrap();
        s.rejected += 1;
        s.last_rejection = Some(why);
        return reply(
            403,
            json!({"error_code": "CBC.0150", "error_msg": "Illegal operation"}),
        );
    }
    let path = parts.uri.path();
    let invalid = || {
        reply(
            400,
            json!({"error_code": "CBC.0101", "error_msg": "Invalid parameter"}),
        )
    };
    if path == ORDER_QUERY {
        if parts.method != "GET" {
            return reply(
                405,
                json!({"error_code": "95000002", "error_msg": "method not supported"}),
            );
        }
        let query = decode_query(parts.uri.query().unwrap_or(""));
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let mut s = state.lock().unwrap();
        if let Some((status, body)) = s.query_failures.pop_front() {
            return reply(status, body);
        }
        let Some(order_id) = get("orderId") else {
            return invalid();
        };
        let Some(order) = s.orders.get(&order_id).cloned() else {
            return invalid();
        };
        if let Some(line) = get("orderLineId") {
            let known = order["orderInfo"]["orderLine"]
                .as_array()
                .is_none_or(|lines| lines.iter().any(|l| l["orderLineId"] == line.as_str()));
            if !known {
                return invalid();
            }
        }
        return reply(200, order);
    }
    if [CODE_ACTIVATE, CODE_QUERY, CODE_USAGE].contains(&path) {
        return code_api(&state, &parts, path, &body);
    }
    if let Some(rest) = path.strip_prefix(EVENT_PREFIX)
        && let Some(event) = rest.strip_suffix("/file")
        && !event.is_empty()
        && !event.contains('/')
    {
        if parts.method != "POST" {
            return reply(
                405,
                json!({"error_code": "95000002", "error_msg": "method not supported"}),
            );
        }
        let event_id = String::from_utf8(percent_decode(event)).unwrap_or_default();
        let content_type = header(&parts, "content-type").unwrap_or_default();
        let Some(req) = multipart_json_part(&content_type, &body, "isvUpdateFileReq") else {
            return invalid();
        };
        let kind = req["type"].as_str().unwrap_or_default().to_string();
        let characters = match kind.as_str() {
            "CHARACTERS" => req["characters"].as_str().unwrap_or_default().to_string(),
            // A file: its part `file`, with the SHA-256 the JSON part states.
            "FILE" => {
                let Some(file) = multipart_part(&content_type, &body, "file") else {
                    return invalid();
                };
                let sha = {
                    use sha2::Digest;
                    let d = sha2::Sha256::digest(file.as_bytes());
                    d.iter().map(|b| format!("{b:02x}")).collect::<String>()
                };
                if req["sha256"].as_str() != Some(sha.as_str()) {
                    return invalid();
                }
                file.to_string()
            }
            _ => return invalid(),
        };
        if characters.is_empty() || (kind == "CHARACTERS" && characters.chars().count() > 1024) {
            return invalid();
        }
        let mut s = state.lock().unwrap();
        if let Some((status, body)) = s.upload_failures.pop_front() {
            return reply(status, body);
        }
        s.uploads.push(Upload {
            event_id,
            kind,
            characters,
        });
        return reply(
            200,
            json!({"error_code": "CBC.0000", "error_msg": "Success"}),
        );
    }
    reply(
        404,
        json!({"error_code": "APIG.0101", "error_msg": "The API does not exist"}),
    )
}

/// The License 2.0 code APIs (protocol §6): POST JSON, `{error_code, error_msg, data}`.
fn code_api(
    state: &Arc<Mutex<State>>,
    parts: &axum::http::request::Parts,
    path: &str,
    body: &[u8],
) -> Response<Body> {
    let answer = |code: &str, msg: &str, data: Option<Value>| {
        let mut v = json!({"error_code": code, "error_msg": msg});
        if let Some(d) = data {
            v["data"] = d;
        }
        reply(200, v)
    };
    if parts.method != "POST" {
        return reply(
            405,
            json!({"error_code": "95000002", "error_msg": "method not supported"}),
        );
    }
    if !header(parts, "content-type").is_some_and(|c| c.starts_with("application/json")) {
        return reply(
            415,
            json!({"error_code": "95000003", "error_msg": "Content-Type not application/json"}),
        );
    }
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return reply(
            400,
            json!({"error_code": "95000004", "error_msg": "body is not JSON"}),
        );
    };
    let mut s = state.lock().unwrap();
    if path == CODE_USAGE {
        s.usage_attempts += 1;
        if s.usage_down {
            return reply(
                500,
                json!({"error_code": "92020001", "error_msg": "internal error"}),
            );
        }
        let Some(items) = req["usage_info"]
            .as_array()
            .filter(|i| !i.is_empty() && i.len() <= 100)
        else {
            return answer("92020002", "invalid param", None);
        };
        for item in items {
            let known = item["license"]
                .as_str()
                .is_some_and(|c| s.codes.contains_key(c));
            let info = &item["software_usage_Info"];
            let counted = info.as_array().is_some_and(|a| {
                a.len() == 1 && (a[0]["active_num"].is_u64() ^ a[0]["id"].is_string())
            });
            if !known || !counted {
                return answer("92020020", "invalid license code(s) in the batch", None);
            }
        }
        s.usage.push(Value::Array(items.clone()));
        return answer("92020000", "success", None);
    }
    s.code_calls.push(if path == CODE_ACTIVATE {
        "activate"
    } else {
        "query"
    });
    if let Some(Some((status, body))) = s.code_failures.pop_front() {
        return reply(status, body);
    }
    let Some(code) = req["license"]
        .as_str()
        .filter(|c| !c.is_empty() && c.len() <= 64)
    else {
        return reply(
            400,
            json!({"error_code": "95000001", "error_msg": "request parameter invalid"}),
        );
    };
    // The documents do not say whether codes match regardless of letter case; a test can
    // make this marketplace do so (its answers then spell the code as it was issued).
    let canonical = if s.codes_ignore_case {
        s.codes
            .keys()
            .find(|k| k.eq_ignore_ascii_case(code))
            .cloned()
    } else {
        s.codes.contains_key(code).then(|| code.to_string())
    };
    let Some(code) = canonical else {
        return answer("92020005", "license code does not exist", None);
    };
    let Some(c) = s.codes.get_mut(&code) else {
        return answer("92020005", "license code does not exist", None);
    };
    if path == CODE_ACTIVATE {
        if let Some(t) = req.get("real_effect_time") {
            let ok = t
                .as_str()
                .is_some_and(|t| t.len() == 14 && t.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                return answer("92020002", "invalid param", None);
            }
        }
        if !c.delivered {
            return answer(
                "92020004",
                "cannot activate before the user has received the code",
                None,
            );
        }
        if c.activated {
            return answer("92020003", "illegal state", None);
        }
        c.activated = true;
        let info = json!({"status": c.status, "expire_time": c.expire_time, "product_id": c.product_id,
                          "order_id": c.order_id, "amount": c.amount});
        return answer(
            "92020000",
            "success",
            Some(json!({"license_code_info": info.to_string()})),
        );
    }
    if !c.activated {
        return answer("92020011", "license code not activated", None);
    }
    let data = json!({"license_code": code, "status": c.status, "activate_time": "20231123100000",
                      "expire_time": c.expire_time});
    answer("92020000", "success", Some(data))
}

fn header(parts: &axum::http::request::Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

// ---- the independent §3.6 check ----------------------------------------------------------

/// Verifies `Authorization: SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…` against
/// the request as received. Returns why it fails.
fn check_signature(parts: &axum::http::request::Parts, body: &[u8]) -> Result<(), String> {
    let auth = header(parts, "authorization").ok_or("no Authorization")?;
    let rest = auth
        .strip_prefix("SDK-HMAC-SHA256 ")
        .ok_or("Authorization is not SDK-HMAC-SHA256")?;
    let mut access = None;
    let mut signed = None;
    let mut given = None;
    for item in rest.split(',') {
        let (k, v) = item
            .trim()
            .split_once('=')
            .ok_or("Authorization item without =")?;
        match k {
            "Access" => access = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => given = Some(v),
            _ => return Err(format!("unknown Authorization item {k}")),
        }
    }
    let (access, signed, given) = (
        access.ok_or("no Access")?,
        signed.ok_or("no SignedHeaders")?,
        given.ok_or("no Signature")?,
    );
    if access != FAKE_AK {
        return Err(format!("unknown AK {access}"));
    }
    let names: Vec<&str> = signed.split(';').collect();
    for must in ["host", "x-sdk-date"] {
        if !names.contains(&must) {
            return Err(format!("{must} not signed"));
        }
    }
    let mut sorted = names.clone();
    sorted.sort_unstable();
    if sorted != names {
        return Err("SignedHeaders not sorted".into());
    }
    let date = header(parts, "x-sdk-date").ok_or("no X-Sdk-Date")?;
    let when = sdk_date_to_unix(&date).ok_or_else(|| format!("bad X-Sdk-Date {date}"))?;
    if (Timestamp::now().unix() - when).abs() > 15 * 60 {
        return Err(format!("X-Sdk-Date {date} more than 15 minutes off"));
    }

    let mut canonical_headers = String::new();
    for name in &names {
        let values: Vec<&str> = parts
            .headers
            .get_all(*name)
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .collect();
        if values.len() != 1 {
            return Err(format!(
                "signed header {name} present {} times",
                values.len()
            ));
        }
        canonical_headers += &format!("{name}:{}\n", values[0].trim());
    }
    let mut uri: String = parts
        .uri
        .path()
        .split('/')
        .map(|s| escape(&percent_decode(s)))
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri += "/";
    }
    let mut pairs = decode_query(parts.uri.query().unwrap_or(""));
    pairs.sort();
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k.as_bytes()), escape(v.as_bytes())))
        .collect::<Vec<_>>()
        .join("&");
    let canonical = [
        parts.method.as_str().to_string(),
        uri,
        query,
        canonical_headers,
        signed.to_string(),
        to_hex(&Sha256::digest(body)),
    ]
    .join("\n");
    let to_sign = format!(
        "SDK-HMAC-SHA256\n{date}\n{}",
        to_hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(FAKE_SK.as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    let expected = to_hex(&mac.finalize().into_bytes());
    if expected != given {
        return Err(format!(
            "signature mismatch; canonical request was:\n{canonical}"
        ));
    }
    Ok(())
}

/// `yyyyMMddTHHmmssZ` → Unix seconds, via RFC 3339.
fn sdk_date_to_unix(d: &str) -> Option<i64> {
    let b = d.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let rfc = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[9..11],
        &d[11..13],
        &d[13..15]
    );
    Timestamp::parse_rfc3339(&rfc).map(Timestamp::unix)
}

fn escape(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            let c = b as char;
            if c.is_ascii_alphanumeric() || "-_.~".contains(c) {
                c.to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex_follows =
            b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
        if b[i] == b'%' && hex_follows {
            let digits = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(digits, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn decode_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                String::from_utf8_lossy(&percent_decode(k)).into_owned(),
                String::from_utf8_lossy(&percent_decode(v)).into_owned(),
            )
        })
        .collect()
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---- minimal multipart ----------------------------------------------------------------------

/// The JSON body of the part named `name` in a `multipart/form-data` body.
fn multipart_json_part(content_type: &str, body: &[u8], name: &str) -> Option<Value> {
    serde_json::from_str(multipart_part(content_type, body, name)?).ok()
}

/// The content of the part named `name` in a `multipart/form-data` body (text parts only).
fn multipart_part<'a>(content_type: &str, body: &'a [u8], name: &str) -> Option<&'a str> {
    let boundary = content_type
        .strip_prefix("multipart/form-data")?
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let text = std::str::from_utf8(body).ok()?;
    let delimiter = format!("--{boundary}");
    for part in text.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n")?;
        let (head, content) = part.split_once("\r\n\r\n")?;
        let content = content.strip_suffix("\r\n")?;
        let named = head.lines().any(|l| {
            l.to_ascii_lowercase().starts_with("content-disposition:")
                && l.contains(&format!("name=\"{name}\""))
        });
        if named {
            return Some(content);
        }
    }
    None
}
