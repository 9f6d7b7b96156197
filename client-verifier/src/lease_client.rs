//! The lease client of a floating license (feature `lease-client`): an application leases a
//! seat when it starts ([`LeaseClient::acquire`]), a background thread renews the lease at about
//! half its length, and dropping the client gives the seat back.
//!
//! - **Offline trust.** Every lease the server answers is verified here, with the application's
//!   own [`Verifier`], against this machine's fingerprint, before it is used. A server (or a
//!   man in the middle) cannot hand out a lease the ISV's key did not sign.
//! - **A wrong clock cannot stretch a lease.** A lease is valid for its signed length
//!   (`exp - iat`) counted on the monotonic clock from the moment it was received; the verifier
//!   checks it at the server's signing time, so a client clock set wrong neither extends nor
//!   refuses it.
//! - **Outages.** A failed renewal is retried with backoff until the lease's own end; until then
//!   the program keeps running ([`LeaseState::Renewing`]). Once it ended, the client asks for a
//!   seat again in the background ([`LeaseState::Lost`]); a license that can no longer lease
//!   (revoked, frozen) stops it ([`LeaseState::Refused`]).
//! - **Transport.** Blocking HTTP/1.1 on the client's one thread (ureq). HTTPS with rustls
//!   (ring) and Mozilla's roots (webpki-roots), or only the application's own CA
//!   ([`LeaseConfig::ca_pem`]). Plain `http://` is accepted only for a loopback address, or when
//!   the application allows it ([`LeaseConfig::allow_plain_http`], for a LAN server): the lease
//!   is signed either way, but the license token sent with it is a credential.

use std::string::{String, ToString};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use std::vec::Vec;

use crate::{Fingerprint, Timestamp, VerifiedLease, Verifier, VerifyError};

/// What the client needs: where licd is, the floating license, and who is asking.
#[derive(Clone)]
pub struct LeaseConfig {
    /// licd's public base URL (`https://licenses.example.com`).
    pub server: String,
    /// The floating license's token (the credential that leases seats).
    pub license: String,
    /// This running program's name for itself: host and pid, or a container id. The same
    /// instance on the same machine gets its own lease back after a restart.
    pub instance: String,
    /// This machine's fingerprint ([`Fingerprint::collect`]).
    pub fingerprint: Fingerprint,
    /// A PEM file's contents: trust only these CA certificates for HTTPS (a private CA).
    pub ca_pem: Option<Vec<u8>>,
    /// Accept plain `http://` to a non-loopback address (a LAN license server).
    pub allow_plain_http: bool,
    /// How long one request may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for LeaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The license token is a credential: never printed.
        f.debug_struct("LeaseConfig")
            .field("server", &self.server)
            .field("instance", &self.instance)
            .field("allow_plain_http", &self.allow_plain_http)
            .finish_non_exhaustive()
    }
}

impl LeaseConfig {
    /// A configuration with the defaults: HTTPS with Mozilla's roots, 10 s per request.
    pub fn new(
        server: impl Into<String>,
        license: impl Into<String>,
        instance: impl Into<String>,
        fingerprint: Fingerprint,
    ) -> Self {
        LeaseConfig {
            server: server.into(),
            license: license.into(),
            instance: instance.into(),
            fingerprint,
            ca_pem: None,
            allow_plain_http: false,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Why no lease was had.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LeaseError {
    /// The configuration cannot be used (a URL, the CA file).
    Config(String),
    /// licd could not be reached, or failed (network, 5xx): try again later.
    Unreachable(String),
    /// Every seat is taken; one frees at `next_free_at` (try again after `retry_after`).
    SeatsTaken {
        /// The license's seats.
        seats: u32,
        /// Leases holding one.
        in_use: u32,
        /// When the first held seat frees, as the server said.
        next_free_at: Option<Timestamp>,
        /// How long to wait before asking again.
        retry_after: Duration,
    },
    /// licd refused for good: `code` is its error (`revoked`, `frozen`, `invalid`, …).
    Refused {
        /// The server's error kind.
        code: String,
        /// Its message.
        message: String,
    },
    /// The server's lease did not verify against this application's keys and machine.
    Invalid(VerifyError),
}

impl std::fmt::Display for LeaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeaseError::Config(m) => write!(f, "lease client configuration: {m}"),
            LeaseError::Unreachable(m) => write!(f, "license server unreachable: {m}"),
            LeaseError::SeatsTaken {
                seats,
                in_use,
                next_free_at,
                ..
            } => {
                write!(f, "all {seats} seat(s) are in use ({in_use} leased)")?;
                if let Some(at) = next_free_at {
                    write!(f, "; the next frees at {at}")?;
                }
                Ok(())
            }
            LeaseError::Refused { code, message } => {
                write!(f, "the license server refused ({code}): {message}")
            }
            LeaseError::Invalid(e) => write!(f, "the server's lease does not verify: {e}"),
        }
    }
}

impl std::error::Error for LeaseError {}

impl LeaseError {
    /// A stable name for the language bindings' errors, as the C ABI's result names:
    /// `SeatsTaken`, `LeaseRefused`, `ServerUnreachable`, `InvalidArgument` (configuration) or
    /// the verification error's name.
    pub fn name(&self) -> &'static str {
        match self {
            LeaseError::Config(_) => "InvalidArgument",
            LeaseError::Unreachable(_) => "ServerUnreachable",
            LeaseError::SeatsTaken { .. } => "SeatsTaken",
            LeaseError::Refused { .. } => "LeaseRefused",
            LeaseError::Invalid(e) => e.name(),
        }
    }
}

/// Where the client stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// A lease is held and the last renewal (or grant) succeeded.
    Leased,
    /// A lease is held, but renewing it failed; retrying until it ends.
    Renewing,
    /// The lease ended (expired through an outage, released or taken back by the seller);
    /// asking for a seat again in the background.
    Lost,
    /// The license cannot lease any more (revoked, frozen, released): the client stopped.
    Refused,
}

impl LeaseState {
    /// The state's name in the language bindings: `leased`, `renewing`, `lost` or `refused`.
    pub fn name(self) -> &'static str {
        match self {
            LeaseState::Leased => "leased",
            LeaseState::Renewing => "renewing",
            LeaseState::Lost => "lost",
            LeaseState::Refused => "refused",
        }
    }
}

/// A snapshot of the client ([`LeaseClient::status`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseStatus {
    /// The state.
    pub state: LeaseState,
    /// The lease id, once one was had.
    pub lease_id: String,
    /// The seat.
    pub seat: u32,
    /// How long the lease held now stays valid (zero when none is).
    pub valid_for: Duration,
    /// The last failure, for a log line or a status bar.
    pub last_error: Option<String>,
}

/// One lease as received.
#[derive(Clone)]
struct Held {
    token: String,
    lease_id: String,
    seat: u32,
    /// Valid until then (monotonic).
    until: Instant,
    /// Its signed length.
    length: Duration,
}

struct Inner {
    held: Option<Held>,
    state: LeaseState,
    last_error: Option<String>,
    stop: bool,
}

struct Shared {
    inner: Mutex<Inner>,
    wake: Condvar,
    config: LeaseConfig,
    verifier: Verifier,
    agent: ureq::Agent,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A floating license's lease, renewed in the background while the client lives. Dropping it
/// gives the seat back (a best-effort request; the seat frees by itself when the lease ends).
pub struct LeaseClient {
    shared: Arc<Shared>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for LeaseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseClient")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl LeaseClient {
    /// Leases a seat now (blocking, one request), then renews it on a thread of its own.
    /// `verifier` is the application's: every lease is checked with it against this machine.
    pub fn acquire(config: LeaseConfig, verifier: Verifier) -> Result<LeaseClient, LeaseError> {
        let agent = agent(&config)?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                held: None,
                state: LeaseState::Lost,
                last_error: None,
                stop: false,
            }),
            wake: Condvar::new(),
            config,
            verifier,
            agent,
        });
        let held = grant(&shared)?;
        {
            let mut inner = shared.lock();
            inner.held = Some(held);
            inner.state = LeaseState::Leased;
        }
        let worker_shared = shared.clone();
        let worker = std::thread::Builder::new()
            .name("lease-renewal".into())
            .spawn(move || run(&worker_shared))
            .map_err(|e| {
                LeaseError::Config(std::format!("cannot start the renewal thread: {e}"))
            })?;
        Ok(LeaseClient {
            shared,
            worker: Some(worker),
        })
    }

    /// Whether the program may use its licensed features now: a lease is held and, by the
    /// monotonic clock, has not ended.
    pub fn is_valid(&self) -> bool {
        let inner = self.shared.lock();
        matches!(inner.state, LeaseState::Leased | LeaseState::Renewing)
            && inner
                .held
                .as_ref()
                .is_some_and(|h| Instant::now() < h.until)
    }

    /// Where the client stands.
    pub fn status(&self) -> LeaseStatus {
        let inner = self.shared.lock();
        let now = Instant::now();
        LeaseStatus {
            state: inner.state,
            lease_id: inner
                .held
                .as_ref()
                .map(|h| h.lease_id.clone())
                .unwrap_or_default(),
            seat: inner.held.as_ref().map_or(0, |h| h.seat),
            valid_for: inner
                .held
                .as_ref()
                .map_or(Duration::ZERO, |h| h.until.saturating_duration_since(now)),
            last_error: inner.last_error.clone(),
        }
    }

    /// The lease token held (for entitlements: [`LeaseClient::verified`]).
    pub fn token(&self) -> Option<String> {
        self.shared.lock().held.as_ref().map(|h| h.token.clone())
    }

    /// The lease held, verified (as when it was received) with its claims: entitlements,
    /// edition, seat. `None` when no valid lease is held.
    pub fn verified(&self) -> Option<VerifiedLease> {
        if !self.is_valid() {
            return None;
        }
        let token = self.token()?;
        open(&self.shared, &token).ok().map(|(v, _)| v)
    }

    /// Gives the seat back now and stops renewing (as dropping the client does).
    pub fn release(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        {
            let mut inner = self.shared.lock();
            inner.stop = true;
        }
        self.shared.wake.notify_all();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Drop for LeaseClient {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The HTTP agent `config` asks for.
fn agent(config: &LeaseConfig) -> Result<ureq::Agent, LeaseError> {
    let server = config.server.trim_end_matches('/');
    let plain = if let Some(rest) = server.strip_prefix("http://") {
        let host = rest.split(['/', ':']).next().unwrap_or("");
        let loopback = host == "localhost" || host.starts_with("127.") || rest.starts_with("[::1]");
        if !loopback && !config.allow_plain_http {
            return Err(LeaseError::Config(std::format!(
                "{server}: plain http sends the license token in the clear; use https, or allow plain http for a LAN server explicitly"
            )));
        }
        true
    } else if server.starts_with("https://") {
        false
    } else {
        return Err(LeaseError::Config(std::format!(
            "{server}: expected an http:// or https:// URL"
        )));
    };
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(pem) = &config.ca_pem {
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                Ok(_) => {}
                Err(e) => return Err(LeaseError::Config(std::format!("CA PEM: {e}"))),
            }
        }
        if certs.is_empty() {
            return Err(LeaseError::Config("CA PEM: no certificate in it".into()));
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(config.timeout))
        .http_status_as_error(false)
        .https_only(!plain)
        .max_redirects(0)
        .tls_config(tls.build())
        .build()
        .into();
    Ok(agent)
}

/// POSTs `body` to `path`: (status, JSON answer, Retry-After seconds).
fn post(
    shared: &Shared,
    path: &str,
    body: &serde_json::Value,
) -> Result<(u16, serde_json::Value, Option<u64>), LeaseError> {
    let url = std::format!("{}{path}", shared.config.server.trim_end_matches('/'));
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = shared
        .agent
        .post(&url)
        .header("content-type", "application/json")
        .send(&bytes[..])
        .map_err(|e| LeaseError::Unreachable(e.to_string()))?;
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .map_err(|e| LeaseError::Unreachable(e.to_string()))?;
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Ok((status, json, retry))
}

/// The answer to a lease or renewal request, as a lease held, or why not.
fn held_from(
    shared: &Shared,
    status: u16,
    json: &serde_json::Value,
    retry: Option<u64>,
) -> Result<Held, LeaseError> {
    let text = |k: &str| json[k].as_str().unwrap_or("").to_string();
    match status {
        200 => {
            let token = text("lease");
            let received = Instant::now();
            let (v, length) = open(shared, &token)?;
            Ok(Held {
                lease_id: v.claims().jti.clone(),
                seat: v.claims().seat,
                token,
                until: received + length,
                length,
            })
        }
        409 if json["error"] == "seats_taken" => Err(LeaseError::SeatsTaken {
            seats: json["seats"].as_u64().unwrap_or(0) as u32,
            in_use: json["in_use"].as_u64().unwrap_or(0) as u32,
            next_free_at: json["next_free_at"]
                .as_str()
                .and_then(Timestamp::parse_rfc3339),
            retry_after: Duration::from_secs(retry.unwrap_or(30).clamp(1, 3600)),
        }),
        s if s >= 500 || s == 429 => Err(LeaseError::Unreachable(std::format!(
            "HTTP {s}: {}",
            text("message")
        ))),
        s => Err(LeaseError::Refused {
            code: match json["error"].as_str() {
                Some(e) => e.to_string(),
                None => std::format!("http-{s}"),
            },
            message: text("message"),
        }),
    }
}

/// Verifies `token` with the application's verifier on this machine, at the time the server
/// signed it (so the local clock plays no part), and returns it with its signed length.
fn open(shared: &Shared, token: &str) -> Result<(VerifiedLease, Duration), LeaseError> {
    let unverified = crate::danger::decode_unverified(token).map_err(LeaseError::Invalid)?;
    let times: serde_json::Value = serde_json::from_slice(&unverified.message).map_err(|_| {
        LeaseError::Invalid(VerifyError::Malformed {
            reason: "lease claims are malformed",
        })
    })?;
    let at = |k: &str| times[k].as_str().and_then(Timestamp::parse_rfc3339);
    let (Some(iat), Some(exp)) = (at("iat"), at("exp")) else {
        return Err(LeaseError::Invalid(VerifyError::Malformed {
            reason: "lease claims are malformed",
        }));
    };
    let v = shared
        .verifier
        .verify_lease(token, Some(&shared.config.fingerprint), iat)
        .map_err(LeaseError::Invalid)?;
    let secs = u64::try_from(exp.unix() - iat.unix()).unwrap_or(0);
    Ok((v, Duration::from_secs(secs)))
}

/// Asks for a seat (the same instance on this machine gets its own lease back).
fn grant(shared: &Shared) -> Result<Held, LeaseError> {
    let body = serde_json::json!({
        "license": shared.config.license,
        "instance": shared.config.instance,
        "fingerprint": shared.config.fingerprint.to_string(),
    });
    let (status, json, retry) = post(shared, "/v1/leases", &body)?;
    held_from(shared, status, &json, retry)
}

/// A pseudo-random fraction in [-0.1, 0.1] to spread renewals (not security-relevant).
fn jitter(seed: &mut u64) -> f64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    ((*seed % 2001) as f64 / 10_000.0) - 0.1
}

/// The renewal thread: renew at about half the lease, retry through outages until it ends,
/// lease again once it is lost, give the seat back when told to stop.
fn run(shared: &Shared) {
    let mut seed =
        u64::from(std::process::id()) ^ (Timestamp::now().unix() as u64).rotate_left(17) | 1;
    let mut backoff = Duration::from_secs(1);
    let mut next = {
        let inner = shared.lock();
        let length = inner.held.as_ref().map_or(Duration::ZERO, |h| h.length);
        Instant::now() + length.mul_f64(0.5 + jitter(&mut seed))
    };
    loop {
        // Sleep until the next attempt, or until told to stop.
        let (token, state) = {
            let mut inner = shared.lock();
            while !inner.stop && Instant::now() < next {
                let wait = next.saturating_duration_since(Instant::now());
                inner = shared
                    .wake
                    .wait_timeout(inner, wait)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
            if inner.stop {
                let held = inner.held.take();
                drop(inner);
                if let Some(h) = held {
                    let _ = post(
                        shared,
                        "/v1/leases/release",
                        &serde_json::json!({ "lease": h.token }),
                    );
                }
                return;
            }
            // A lease that ended during an outage is lost: ask for a seat again.
            if let Some(h) = &inner.held
                && Instant::now() >= h.until
            {
                inner.state = LeaseState::Lost;
            }
            (inner.held.as_ref().map(|h| h.token.clone()), inner.state)
        };
        let result = match (state, token) {
            (LeaseState::Leased | LeaseState::Renewing, Some(token)) => post(
                shared,
                "/v1/leases/renew",
                &serde_json::json!({ "lease": token }),
            )
            .and_then(|(s, j, r)| held_from(shared, s, &j, r)),
            _ => grant(shared),
        };
        let mut inner = shared.lock();
        match result {
            Ok(held) => {
                next = Instant::now() + held.length.mul_f64(0.5 + jitter(&mut seed));
                inner.held = Some(held);
                inner.state = LeaseState::Leased;
                inner.last_error = None;
                backoff = Duration::from_secs(1);
            }
            Err(e) => {
                inner.last_error = Some(e.to_string());
                let now = Instant::now();
                let until = inner.held.as_ref().map(|h| h.until).filter(|u| now < *u);
                let wait = match &e {
                    // The lease ended on the server (released, taken back, expired): lease again.
                    LeaseError::Refused { code, .. }
                        if matches!(code.as_str(), "released" | "force_released" | "expired") =>
                    {
                        inner.state = LeaseState::Lost;
                        inner.held = None;
                        Duration::from_secs(1)
                    }
                    // Revoked, frozen, no longer floating: nothing to retry.
                    LeaseError::Refused { .. } | LeaseError::Config(_) => {
                        inner.state = LeaseState::Refused;
                        inner.held = None;
                        shared.wake.notify_all();
                        drop(inner);
                        park_until_stopped(shared);
                        return;
                    }
                    LeaseError::SeatsTaken { retry_after, .. } => {
                        inner.state = LeaseState::Lost;
                        *retry_after
                    }
                    LeaseError::Unreachable(_) | LeaseError::Invalid(_) => {
                        inner.state = if until.is_some() {
                            LeaseState::Renewing
                        } else {
                            LeaseState::Lost
                        };
                        let w = backoff;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        w
                    }
                };
                // Never sleep past the lease's end without trying once more before it.
                next = match until {
                    Some(u) if now + wait > u => now + u.saturating_duration_since(now) / 2,
                    _ => now + wait,
                };
            }
        }
    }
}

/// After a refusal for good: wait for the client to be dropped.
fn park_until_stopped(shared: &Shared) {
    let mut inner = shared.lock();
    while !inner.stop {
        inner = shared
            .wake
            .wait(inner)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
}
