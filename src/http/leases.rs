//! The floating-license API, on the public listener (the license or lease token is the
//! credential):
//!
//! - `POST /v1/leases {license | code, instance, fingerprint[, borrow_until]}` → `{lease, lease_id,
//!   seat, expires_at, renew_after, borrowed}`: a seat for this running program on this machine
//!   (its own lease back if it holds one). All seats held: `409 seats_taken` with `seats`,
//!   `in_use`, `next_free_at` and `Retry-After`.
//! - `POST /v1/leases/renew {lease}` → the same, later `expires_at`; `410` once the lease was
//!   released, taken back or expired, or its license frozen or revoked (`error` says which).
//! - `POST /v1/leases/release {lease}` → `{released: true}`: frees the seat (after the
//!   product's `linger_secs`).
//! - `POST /v1/leases/status {license | code}` → `{license, seats, in_use, next_free_at, lease_secs}`.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use client_verifier::Timestamp;
use serde::{Deserialize, Serialize};

use super::client::answer;
use super::error::ApiError;
use super::{AppState, Client, JsonBody};
use crate::service::{Granted, LeaseCredential, LeaseRequest};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/leases", post(lease))
        .route("/v1/leases/renew", post(renew))
        .route("/v1/leases/release", post(release))
        .route("/v1/leases/status", post(status))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaseBody {
    /// The floating license's token, or
    #[serde(default)]
    license: Option<String>,
    /// a License 2.0 code of a floating product (a secret: never logged).
    #[serde(default)]
    code: Option<String>,
    instance: String,
    fingerprint: String,
    #[serde(default)]
    borrow_until: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaseTokenBody {
    lease: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    #[serde(default)]
    license: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// The one credential a body carries: a license token or a code.
fn credential<'a>(
    license: &'a Option<String>,
    code: &'a Option<String>,
) -> Result<LeaseCredential<'a>, ApiError> {
    match (license, code) {
        (Some(l), None) => Ok(LeaseCredential::License(l)),
        (None, Some(c)) => Ok(LeaseCredential::Code(c)),
        _ => Err(ApiError::bad_request(
            "send either \"license\" (the floating license's token) or \"code\" (a License 2.0 activation code), not both",
        )),
    }
}

#[derive(Serialize)]
struct LeaseResponse {
    lease: String,
    lease_id: String,
    seat: u32,
    expires_at: Timestamp,
    renew_after: Timestamp,
    borrowed: bool,
}

impl From<Granted> for LeaseResponse {
    fn from(g: Granted) -> Self {
        LeaseResponse {
            lease: g.token,
            lease_id: g.lease_id,
            seat: g.seat,
            expires_at: g.expires_at,
            renew_after: g.renew_after,
            borrowed: g.borrowed,
        }
    }
}

#[derive(Serialize)]
struct ReleaseResponse {
    released: bool,
}

#[derive(Serialize)]
struct StatusResponse {
    license: String,
    seats: u32,
    in_use: u32,
    next_free_at: Option<Timestamp>,
    lease_secs: u32,
}

async fn lease(
    State(st): State<AppState>,
    client: Client,
    req: Result<JsonBody<LeaseBody>, ApiError>,
) -> Response {
    let ip = client
        .ip
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let client = client.label;
    let result = async {
        let JsonBody(req) = req?;
        let ask = LeaseRequest {
            instance: &req.instance,
            fingerprint: &req.fingerprint,
            borrow_until: req.borrow_until,
        };
        let now = Timestamp::now();
        let g = match credential(&req.license, &req.code)? {
            LeaseCredential::License(token) => st.service.lease(token, ask, now).await?,
            LeaseCredential::Code(code) => st.service.lease_code(code, ask, ip, now).await?,
        };
        // A program leasing again is not news; a new seat goes through the limiter on lines
        // clients cause (a flood of instances is capped by the seats, and so is this).
        if g.new && let Some(suppressed) = st.refusals.admit(std::time::Instant::now()) {
            tracing::info!(lease = %g.lease_id, seat = g.seat, borrowed = g.borrowed, client = %client, suppressed, "seat leased");
        }
        Ok(LeaseResponse::from(g))
    }
    .await;
    answer(&st, "leases", result, &client)
}

async fn renew(
    State(st): State<AppState>,
    client: Client,
    req: Result<JsonBody<LeaseTokenBody>, ApiError>,
) -> Response {
    let client = client.label;
    let result = async {
        let JsonBody(req) = req?;
        let g = st.service.renew_lease(&req.lease, Timestamp::now()).await?;
        Ok(LeaseResponse::from(g))
    }
    .await;
    answer(&st, "leases_renew", result, &client)
}

async fn release(
    State(st): State<AppState>,
    client: Client,
    req: Result<JsonBody<LeaseTokenBody>, ApiError>,
) -> Response {
    let client = client.label;
    let result = async {
        let JsonBody(req) = req?;
        st.service
            .release_lease(&req.lease, Timestamp::now())
            .await?;
        Ok(ReleaseResponse { released: true })
    }
    .await;
    answer(&st, "leases_release", result, &client)
}

async fn status(
    State(st): State<AppState>,
    client: Client,
    req: Result<JsonBody<StatusBody>, ApiError>,
) -> Response {
    let client = client.label;
    let result = async {
        let JsonBody(req) = req?;
        let o = st
            .service
            .lease_status(credential(&req.license, &req.code)?, Timestamp::now())
            .await?;
        Ok(StatusResponse {
            license: o.license,
            seats: o.seats,
            in_use: o.in_use,
            next_free_at: o.next_free_at,
            lease_secs: o.lease_secs,
        })
    }
    .await;
    answer(&st, "leases_status", result, &client)
}
