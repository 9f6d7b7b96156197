//! The production address: every marketplace callback, both generations, on one path.
//!
//! The signature is checked on the raw query (and body) before anything is parsed. Every answer,
//! errors included, is HTTP 200 with a JSON body serialised once and signed with `Body-Sign`, so
//! the marketplace always sees a well-formed answer and the Seller Console shows the reason.

use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use client_verifier::Timestamp;

use super::{AppState, Client};
use crate::license::DomainError;
use crate::marketplace::{
    Callback, ProtocolError, RefusalKind, Response, ResultCode, parse_v1, parse_v2, verify_v1,
    verify_v2_as,
};
use crate::service::{Outcome, ServiceError};

pub(super) fn router(path: &str) -> Router<AppState> {
    Router::new().route(path, get(v1_callback).post(v2_callback))
}

/// License 1.0: GET, signed with `authToken`/`timeStamp`.
async fn v1_callback(
    State(st): State<AppState>,
    client: Client,
    RawQuery(query): RawQuery,
) -> axum::response::Response {
    let started = Instant::now();
    let now = Timestamp::now();
    let verified = verified_v1(&st, query.as_deref().unwrap_or(""), now);
    let (activity, response) = answer(&st, verified, now).await;
    finish(&st, activity, response, started, &client.label)
}

/// Online activation: POST JSON, signed with `signature`/`timestamp`/`nonce`.
async fn v2_callback(
    State(st): State<AppState>,
    client: Client,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> axum::response::Response {
    let started = Instant::now();
    let now = Timestamp::now();
    let verified = verified_v2(&st, query.as_deref().unwrap_or(""), &body, now).await;
    let (activity, response) = answer(&st, verified, now).await;
    finish(&st, activity, response, started, &client.label)
}

/// A callback whose signature checked out (and, for V2, whose nonce was new), parsed: holding
/// one proves the checks ran.
struct Verified {
    callback: Callback,
    /// The time the marketplace signed it with.
    signed_at: crate::license::SignedTime,
}

/// Why a request is not a verified callback: the activity label for metrics and the answer.
type Unverified = (&'static str, Response);

/// The signature on the raw query first, then the parameters.
fn verified_v1(st: &AppState, query: &str, now: Timestamp) -> Result<Verified, Unverified> {
    let params = verify_v1(&st.access_key, query, now, st.v1_window_secs).map_err(|mut e| {
        // The only signed-time refusal is the window: say which setting it is, so whoever
        // reads the Seller Console or the log at 3 a.m. knows what to check.
        if e.kind == RefusalKind::OutsideWindow {
            e.message.push_str(
                " (licd's V1 window: --v1-window-secs, LICD_V1_WINDOW_SECS; check both clocks; \
                 a callback re-sent with 重新启动 in the Seller Console carries a fresh timeStamp)",
            );
        }
        ("unverified", Response::from_error(&e))
    })?;
    let callback = parse_v1(&params).map_err(|e| ("invalid", Response::from_error(&e)))?;
    Ok(Verified {
        callback,
        signed_at: crate::license::SignedTime::from_millis(params.signed_millis()),
    })
}

/// The signature on the raw query and body first, then the nonce (a replay is refused), then
/// the body.
async fn verified_v2(
    st: &AppState,
    query: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<Verified, Unverified> {
    let v = verify_v2_as(&st.access_key, query, body, now, &st.v2_readings)
        .map_err(|e| ("unverified", Response::from_error(&e)))?;
    st.metrics.v2_reading(v.reading());
    match st
        .service
        .remember_nonce(&v.replay_key(), v.remember_until())
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            let replay = ProtocolError::new(
                ResultCode::AuthFailed,
                "signature: already used (a replayed request)",
            );
            return Err(("unverified", Response::from_error(&replay)));
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot record the nonce");
            return Err(("unverified", internal_error()));
        }
    }
    let callback = parse_v2(body).map_err(|e| ("invalid", Response::from_error(&e)))?;
    Ok(Verified {
        callback,
        signed_at: crate::license::SignedTime::from_millis(v.signed_millis()),
    })
}

/// The service's answer to a verified callback, or the refusal of an unverified one.
async fn answer(
    st: &AppState,
    verified: Result<Verified, Unverified>,
    now: Timestamp,
) -> (&'static str, Response) {
    let v = match verified {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let activity = v.callback.activity();
    let response = match st
        .service
        .apply_callback(v.callback, Some(v.signed_at), now)
        .await
    {
        Ok(Outcome::Issued { instance, license }) => Response::new(
            ResultCode::Success,
            "success.",
            Some(&instance),
            Some(&license),
        ),
        Ok(Outcome::Created { instance }) => {
            Response::new(ResultCode::Success, "success.", Some(&instance), None)
        }
        Ok(Outcome::Processing) => Response::new(
            ResultCode::Processing,
            "processing: the license is minted and will be delivered through the upload API",
            None,
            None,
        ),
        Ok(Outcome::Instances(ids)) => Response::instances(&ids),
        Ok(Outcome::Done) => Response::success(),
        Err(e) => refusal(&e),
    };
    (activity, response)
}

/// Signs the answer, counts it, logs a refusal.
fn finish(
    st: &AppState,
    activity: &str,
    response: Response,
    started: Instant,
    client: &str,
) -> axum::response::Response {
    let code = response.code();
    let sign = response.body_sign(&st.access_key);
    st.metrics
        .callback(activity, code.as_str(), started.elapsed().as_secs_f64());
    if !matches!(code, ResultCode::Success | ResultCode::Processing) {
        // An unverified request is anyone's: its refusals are rate-limited. A signed one is the
        // marketplace's, and every one of those is logged.
        let admitted = if activity == "unverified" {
            st.refusals.admit(Instant::now())
        } else {
            Some(0)
        };
        if let Some(suppressed) = admitted {
            tracing::warn!(
                activity,
                code = code.as_str(),
                message = %crate::logsafe::quoted(&String::from_utf8_lossy(response.body())),
                client = %client,
                suppressed,
                "callback refused"
            );
        }
    }
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                "application/json;charset=UTF-8".to_string(),
            ),
            // Sent as `Body-Sign`: the server writes title-case header names (see `http::serve`).
            (header::HeaderName::from_static("body-sign"), sign),
        ],
        response.into_body(),
    )
        .into_response()
}

fn internal_error() -> Response {
    Response::new(
        ResultCode::InternalError,
        "internal error: the change was not confirmed as saved; please retry (retrying is safe: a repeated call gets the same answer)",
        None,
        None,
    )
}

/// The answer for a refused operation.
fn refusal(e: &ServiceError) -> Response {
    let (code, message) = match e {
        ServiceError::NotFound(id) => (
            ResultCode::InstanceNotFound,
            format!("instanceId: {id} not found"),
        ),
        ServiceError::Domain(DomainError::Released { .. }) => {
            (ResultCode::InstanceNotFound, e.to_string())
        }
        ServiceError::FingerprintRequired => (ResultCode::FingerprintRequired, e.to_string()),
        ServiceError::ExpiryRequired => (ResultCode::ExpiryRequired, e.to_string()),
        ServiceError::QuotaExhausted { .. } => (ResultCode::QuotaExhausted, e.to_string()),
        ServiceError::Revoked(_) => (ResultCode::InstanceNotFound, e.to_string()),
        // Not reached by callbacks (client API and admin errors), mapped for completeness.
        ServiceError::SeatsTaken { .. }
        | ServiceError::SiteSeats { .. }
        | ServiceError::TransfersExhausted { .. }
        | ServiceError::AlreadyDeactivated { .. }
        | ServiceError::LeasesFull { .. }
        | ServiceError::LeaseEnded { .. }
        | ServiceError::Superseded { .. }
        | ServiceError::Unavailable(_)
        | ServiceError::Busy { .. }
        | ServiceError::TooManyRequests { .. }
        | ServiceError::CodeIncomplete { .. }
        | ServiceError::CodeRefused { .. }
        | ServiceError::JobNotFound(_)
        | ServiceError::Forbidden(_)
        | ServiceError::Domain(DomainError::MarketplaceValidity { .. }) => {
            (ResultCode::InvalidParam, e.to_string())
        }
        ServiceError::OutsideValidity(m) => (ResultCode::OutsideOrderValidity, m.clone()),
        ServiceError::Invalid(m) => (ResultCode::InvalidParam, m.clone()),
        // A retry would mint the same claims and fail the same way: `000005` ("retrying is
        // safe") would have the marketplace retry for hours and then fail the order.
        ServiceError::Domain(DomainError::Mint { .. }) => {
            tracing::error!(error = %e, "cannot mint the license; fix the configuration (entitlements) and re-trigger the call from the Seller Console");
            (ResultCode::InvalidParam, e.to_string())
        }
        // Only a storage failure is worth the marketplace's retry.
        ServiceError::Store(_) => {
            tracing::error!(error = %e, "operation failed");
            return internal_error();
        }
    };
    Response::new(code, &message, None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `000005` tells the marketplace that retrying is safe and useful: only a storage failure
    /// is that. Anything a retry would meet again is answered as what it is.
    #[test]
    fn only_a_storage_failure_is_answered_as_retryable() {
        let permanent = [
            ServiceError::Domain(DomainError::Mint {
                id: "i".into(),
                reason: "token would be 5000 characters".into(),
            }),
            ServiceError::Domain(DomainError::Released {
                id: "i".into(),
                action: "renewal",
            }),
            ServiceError::NotFound("i".into()),
            ServiceError::Invalid("x".into()),
            ServiceError::OutsideValidity("x".into()),
            ServiceError::QuotaExhausted {
                instance: "i".into(),
                quota: 1,
            },
            ServiceError::ExpiryRequired,
            ServiceError::FingerprintRequired,
        ];
        for e in &permanent {
            assert_ne!(refusal(e).code(), ResultCode::InternalError, "{e}");
        }
        let mint = refusal(&permanent[0]);
        assert_eq!(mint.code(), ResultCode::InvalidParam);
        assert!(String::from_utf8_lossy(mint.body()).contains("5000 characters"));
        let store = ServiceError::Store(crate::store::StoreError::Db("disk full".into()));
        assert_eq!(refusal(&store).code(), ResultCode::InternalError);
    }
}
