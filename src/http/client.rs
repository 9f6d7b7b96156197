//! The client API, on the public listener: what the licensed software calls when it is online.
//!
//! - `POST /v1/activate {license, fingerprint}`: binds an unbound License 1.0 license to this
//!   device, taking one of its seats (the same device gets its seat back).
//! - `POST /v1/codes/activate {code, fingerprint}`: activates a License 2.0 code (授权码) with
//!   the marketplace through licd and answers a token bound to this device.
//! - `POST /v1/refresh {token}`: the newest revision of that license for the same binding (for a
//!   code, after the daily check with the marketplace).
//! - `GET /v1/keys`: the public keys tokens are signed with, PASERK, with kid.
//! - `GET /v1/revocations`: the current signed revocation list (and in rooted mode the root's
//!   statement of revoked issuing keys, `keys`).
//! - `GET /v1/root`: in rooted mode, the root documents from the first the server trusted to the
//!   current one, for applications to follow (`Root::follow`); 404 `not_rooted` otherwise.
//!
//! Errors are `{error, message}` with a 4xx/5xx status ([`ApiError`]); a store failure is 503
//! and acknowledges nothing.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use client_verifier::Timestamp;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::{AppState, Client, JsonBody};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/activate", post(activate))
        .route("/v1/codes/activate", post(activate_code))
        .route("/v1/refresh", post(refresh))
        .route("/v1/keys", get(keys))
        .route("/v1/revocations", get(revocations))
        .route("/v1/root", get(root))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateRequest {
    license: String,
    fingerprint: String,
}

#[derive(Serialize)]
struct ActivateResponse {
    token: String,
    seat: u32,
    revision: u32,
    /// True when this call took the seat; false when the device already held it.
    activated: bool,
}

/// The code is a secret: this type has no `Debug`, and the handler logs neither field.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeActivateRequest {
    code: String,
    fingerprint: String,
}

#[derive(Serialize)]
struct CodeActivateResponse {
    token: String,
    /// The license id (the token's `jti`), for support: not the code.
    license: String,
    seat: u32,
    status: &'static str,
    /// `null` for a code without an end.
    exp: Option<Timestamp>,
    /// True when this call took the seat; false when the device already held it.
    activated: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    token: String,
}

#[derive(Serialize)]
struct RefreshResponse {
    token: String,
    revision: u32,
    status: &'static str,
}

#[derive(Serialize)]
struct KeyEntry {
    kid: String,
    public_key: String,
    current: bool,
}

#[derive(Serialize)]
struct KeysResponse {
    issuer: String,
    keys: Vec<KeyEntry>,
}

#[derive(Serialize)]
struct RevocationsResponse {
    seq: u64,
    list: String,
    /// In rooted mode, the root's statement of revoked issuing keys, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    keys: Option<String>,
}

/// Counts the answer under `route`, logs a refusal with who asked, and turns it into a
/// response.
pub(super) fn answer<T: Serialize>(
    st: &AppState,
    route: &'static str,
    result: Result<T, ApiError>,
    client: &str,
) -> Response {
    let response = match result {
        Ok(body) => (StatusCode::OK, Json(body)).into_response(),
        Err(e) => {
            // Anyone can send these: each line is bounded (the reason escaped and cut short,
            // the client an address) and a flood of them is rate-limited.
            if let Some(suppressed) = st.refusals.admit(std::time::Instant::now()) {
                tracing::info!(route, status = e.status.as_u16(), error = e.error, reason = %crate::logsafe::quoted(&e.message), client = %client, suppressed, "client request refused");
            }
            e.into_response()
        }
    };
    st.metrics.client(route, response.status().as_u16());
    response
}

/// A binding needs the machine's fingerprint: say how to get one.
fn require_fingerprint(fingerprint: &str) -> Result<(), ApiError> {
    if fingerprint.trim().is_empty() {
        return Err(ApiError::bad_request(
            "fingerprint: required; send this machine's fingerprint (client-verifier Fingerprint::collect)",
        ));
    }
    Ok(())
}

async fn activate(
    State(st): State<AppState>,
    client: Client,
    req: Result<JsonBody<ActivateRequest>, ApiError>,
) -> Response {
    let client = client.label;
    let result = async {
        let JsonBody(req) = req?;
        require_fingerprint(&req.fingerprint)?;
        let seat = st
            .service
            .activate(&req.license, &req.fingerprint, Timestamp::now())
            .await?;
        // A device activating again is not news, and a customer can repeat it at will: only
        // a new seat is logged, and through the limiter on lines clients cause.
        if seat.new && let Some(suppressed) = st.refusals.admit(std::time::Instant::now()) {
            tracing::info!(seat = seat.seat, revision = seat.revision, client = %client, suppressed, "activated");
        }
        Ok(ActivateResponse {
            token: seat.token,
            seat: seat.seat,
            revision: seat.revision,
            activated: seat.new,
        })
    }
    .await;
    answer(&st, "activate", result, &client)
}

async fn activate_code(
    State(st): State<AppState>,
    client: Client,
    req: Result<JsonBody<CodeActivateRequest>, ApiError>,
) -> Response {
    let ip = client
        .ip
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let client = client.label;
    let result = async {
        let JsonBody(req) = req?;
        require_fingerprint(&req.fingerprint)?;
        let c = st
            .service
            .activate_code(&req.code, &req.fingerprint, ip, Timestamp::now())
            .await?;
        if c.seat.new && let Some(suppressed) = st.refusals.admit(std::time::Instant::now()) {
            tracing::info!(license = %c.license, seat = c.seat.seat, status = c.status.as_str(), client = %client, suppressed, "code activated on a device");
        }
        Ok(CodeActivateResponse {
            token: c.seat.token,
            license: c.license,
            seat: c.seat.seat,
            status: c.status.as_str(),
            exp: (c.exp < crate::license::PERPETUAL).then_some(c.exp),
            activated: c.seat.new,
        })
    }
    .await;
    answer(&st, "codes_activate", result, &client)
}

async fn refresh(
    State(st): State<AppState>,
    client: Client,
    req: Result<JsonBody<RefreshRequest>, ApiError>,
) -> Response {
    let client = client.label;
    let result = async {
        let JsonBody(req) = req?;
        let r = st.service.refresh(&req.token, Timestamp::now()).await?;
        Ok(RefreshResponse {
            token: r.token,
            revision: r.revision,
            status: r.status.as_str(),
        })
    }
    .await;
    answer(&st, "refresh", result, &client)
}

async fn keys(State(st): State<AppState>) -> Response {
    let keys = st
        .service
        .public_keys()
        .map(|(k, current)| KeyEntry {
            kid: k.id().as_str().to_string(),
            public_key: k.to_paserk(),
            current,
        })
        .collect();
    let body = KeysResponse {
        issuer: st.service.issuer_name().to_string(),
        keys,
    };
    answer(&st, "keys", Ok(body), "")
}

#[derive(Serialize)]
struct RootResponse<'a> {
    /// The current root's version.
    version: u32,
    /// The documents, oldest first, the current last.
    roots: &'a [String],
}

async fn root(State(st): State<AppState>) -> Response {
    let chain = st.service.root_chain();
    let result = match chain.last() {
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_rooted",
            "this licd signs with keys it does not hold certificates for: there is no root to follow",
        )),
        Some(current) => client_verifier::Root::from_json(current)
            .map(|r| RootResponse {
                version: r.version(),
                roots: chain,
            })
            .map_err(|e| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            }),
    };
    answer(&st, "root", result, "")
}

async fn revocations(State(st): State<AppState>) -> Response {
    let result = st
        .service
        .revocation_list(Timestamp::now())
        .await
        .map(|(seq, list)| RevocationsResponse {
            seq,
            list,
            keys: st.service.key_revocations().map(str::to_string),
        })
        .map_err(ApiError::from);
    answer(&st, "revocations", result, "")
}
