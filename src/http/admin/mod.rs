//! The admin API: `/admin/v1/…` on its own listener (loopback by default), for `licctl` and
//! `licd backup`. Every request carries `Authorization: Bearer <token>`: the shared admin token
//! generated at first start into `data/admin.token` (0600, compared in constant time), which
//! acts as an admin naming itself in `X-Licd-Actor` (licctl sends the login name), or an
//! account's API token (`licctl tokens create`), which acts as that account with the token's
//! role. The middleware turns either into a [`Principal`] the handlers hand to the service,
//! which checks the role ([`crate::accounts`]); the audit log records who with the reason.
//!
//! Route groups live in submodules, each returning a `Router<AdminState>` merged here:
//! - `licenses`: list, show, token, audit, reissue, revoke, revocations, outbox.
//! - `backup`: the consistent online snapshot.
//! - `console`: the web console, `/console/` (its own sign-in and session; see there).
//! - `doctor`: the facts `licd doctor` needs from a running daemon.
//! - `events`: the event feed and the webhook endpoints.
//! - `offline`: air-gapped activation requests and deactivation receipts support staff handle.
//! - `users`: accounts and API tokens (admins).

mod backup;
mod console;
mod doctor;
mod events;
mod licenses;
mod offline;
mod products;
mod users;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::error::ApiError;
use crate::accounts::Principal;
use crate::service::Service;

pub use crate::admin_client::ACTOR_HEADER;
pub use console::ConsoleSessions;
pub use doctor::DaemonFacts;

/// Everything an admin handler needs; cheap to clone.
#[derive(Clone)]
pub struct AdminState {
    /// The license service: every read and change goes through it.
    pub service: Arc<Service>,
    /// The bearer token.
    pub token: Arc<AdminToken>,
    /// Recent wrong tokens, which slow down the next refusal.
    pub failures: Arc<AuthFailures>,
    /// Signed-in web console users.
    pub console: Arc<ConsoleSessions>,
    /// Callbacks per hour, for the console's dashboard.
    pub callback_hours: Arc<crate::http::metrics::CallbackHours>,
    /// The daemon's own facts (listeners, V2 readings seen), for doctor and the console.
    pub daemon: Arc<DaemonFacts>,
}

/// Wrong admin tokens seen lately. Each refusal waits before it answers, twice as long as the
/// one before (100 ms up to 5 s), until a minute passes without one: guessing costs time, while
/// a right token is never delayed.
#[derive(Debug, Default)]
pub struct AuthFailures {
    state: std::sync::Mutex<(u32, Option<std::time::Instant>)>,
    log: crate::logsafe::RefusalLimiter,
}

impl AuthFailures {
    const FORGET_AFTER: std::time::Duration = std::time::Duration::from_secs(60);
    const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(5);

    /// Records a wrong token at `now` and returns how long its refusal waits.
    pub fn record(&self, now: std::time::Instant) -> std::time::Duration {
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (count, last) = &mut *st;
        if last.is_some_and(|l| now.saturating_duration_since(l) > Self::FORGET_AFTER) {
            *count = 0;
        }
        *last = Some(now);
        let delay = std::time::Duration::from_millis(100)
            .saturating_mul(1u32 << (*count).min(6))
            .min(Self::MAX_DELAY);
        *count = count.saturating_add(1);
        delay
    }
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState").finish_non_exhaustive()
    }
}

/// The admin bearer token. Its `Debug` never shows it.
pub struct AdminToken(Zeroizing<String>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl AdminToken {
    /// Reads `path`, or creates it owner-only (0600) with 32 random bytes in hex when it does
    /// not exist. Refuses a file that others can read, as with the signing keys.
    pub fn load_or_generate(path: &Path) -> std::io::Result<Self> {
        if !path.exists() {
            let bytes =
                Zeroizing::new(crate::crypto::random_bytes::<32>().map_err(std::io::Error::other)?);
            let hex = Zeroizing::new(crate::crypto::hex(bytes.as_ref()));
            crate::private_file::write_private(path, hex.as_bytes())?;
        }
        crate::private_file::check_private(path, "the admin token")
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::PermissionDenied, e))?;
        let text = Zeroizing::new(std::fs::read_to_string(path)?);
        let token = text.trim();
        if token.len() < 16 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: the admin token is shorter than 16 characters",
                    path.display()
                ),
            ));
        }
        Ok(AdminToken(Zeroizing::new(token.to_string())))
    }

    /// Whether `presented` is the token, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// The admin router, every route behind the bearer token.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .nest(
            "/admin/v1",
            licenses::routes()
                .merge(backup::routes())
                .merge(offline::routes())
                .merge(products::routes())
                .merge(doctor::routes())
                .merge(events::routes())
                .merge(users::routes()),
        )
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        // The console authenticates with its own session cookie, not the bearer token.
        .merge(console::routes())
        .with_state(state)
}

async fn require_token(State(st): State<AdminState>, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let principal = match presented {
        Some(t) if st.token.matches(t) => Some(Principal::admin_token(&actor(req.headers()))),
        Some(t) => match st.service.api_token_principal(t).await {
            Ok(p) => p,
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing `Authorization: Bearer <token>`: the admin token is in the daemon's data/admin.token; an API token comes from `licctl tokens create`",
            )
            .into_response();
        }
    };
    match principal {
        Some(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        None => {
            let now = std::time::Instant::now();
            let delay = st.failures.record(now);
            if let Some(suppressed) = st.failures.log.admit(now) {
                tracing::warn!(path = %crate::logsafe::quoted(req.uri().path()), delay_ms = delay.as_millis() as u64, suppressed, "admin request with a wrong token");
            }
            tokio::time::sleep(delay).await;
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "wrong admin token: use the one in the daemon's data/admin.token, or a live API token of an enabled account (licctl tokens create)",
            )
            .into_response()
        }
    }
}

/// Who asked, from `X-Licd-Actor` (at most 64 printable characters), else `admin-api`.
pub fn actor(headers: &HeaderMap) -> String {
    headers
        .get(ACTOR_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|a| !a.is_empty() && a.len() <= 64 && a.chars().all(|c| !c.is_control()))
        .unwrap_or("admin-api")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn wrong_tokens_wait_longer_each_time_and_are_forgotten_after_a_quiet_minute() {
        let f = AuthFailures::default();
        let t0 = Instant::now();
        let delays: Vec<u128> = (0..9).map(|_| f.record(t0).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(f.record(t0 + Duration::from_secs(61)).as_millis(), 100);
    }
}
