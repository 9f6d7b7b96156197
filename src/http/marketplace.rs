//! The production address: every marketplace callback, both generations, on one path.
//!
//! The signature is checked on the raw query (and body) before anything is parsed. Every answer,
//! errors included, is HTTP 200 with a JSON body serialised once and signed with `Body-Sign`, so
//! the marketplace always sees a well-formed answer and the Seller Console shows the reason.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Router};
use client_verifier::Timestamp;

use super::{AppState, ClientAddr, client_label};
use crate::license::DomainError;
use crate::license::service::{Caller, DeviceRequest, NewPurchase, ServiceError};
use crate::marketplace::{
    Callback, InstanceStatus, ProtocolError, Response, ResultCode, parse_v1, parse_v2, verify_v1,
    verify_v2,
};

pub(super) fn router(path: &str) -> Router<AppState> {
    Router::new().route(path, get(v1_callback).post(v2_callback))
}

/// License 1.0: GET, signed with `authToken`/`timeStamp`.
async fn v1_callback(
    State(st): State<AppState>,
    peer: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> axum::response::Response {
    let started = Instant::now();
    let now = Timestamp::now();
    let (activity, response) = match verify_v1(
        &st.access_key,
        query.as_deref().unwrap_or(""),
        now,
        st.v1_window_secs,
    ) {
        Err(e) => ("unverified", Response::from_error(&e)),
        Ok(params) => match parse_v1(&params) {
            Err(e) => ("invalid", Response::from_error(&e)),
            Ok(cb) => {
                let signed_at = params.timestamp();
                (cb.activity(), dispatch(&st, cb, Some(signed_at), now).await)
            }
        },
    };
    let client = client_label(peer.as_ref(), &headers, &st.trusted_proxies);
    finish(&st, activity, response, started, &client)
}

/// Online activation: POST JSON, signed with `signature`/`timestamp`/`nonce`.
async fn v2_callback(
    State(st): State<AppState>,
    peer: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> axum::response::Response {
    let started = Instant::now();
    let now = Timestamp::now();
    let (activity, response) =
        match verify_v2(&st.access_key, query.as_deref().unwrap_or(""), &body, now) {
            Err(e) => ("unverified", Response::from_error(&e)),
            Ok(v) => match st
                .service
                .store()
                .remember_nonce(v.nonce(), v.remember_until())
            {
                Ok(false) => (
                    "unverified",
                    Response::from_error(&ProtocolError::new(
                        ResultCode::AuthFailed,
                        "nonce: already used (a replayed request)",
                    )),
                ),
                Err(e) => {
                    tracing::error!(error = %e, "cannot record the nonce");
                    ("unverified", internal_error())
                }
                Ok(true) => match parse_v2(&body) {
                    Err(e) => ("invalid", Response::from_error(&e)),
                    Ok(cb) => (
                        cb.activity(),
                        dispatch(&st, cb, Some(v.timestamp()), now).await,
                    ),
                },
            },
        };
    let client = client_label(peer.as_ref(), &headers, &st.trusted_proxies);
    finish(&st, activity, response, started, &client)
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

/// Runs one verified, parsed callback through the service. `signed_at` is the time the
/// marketplace signed it with: a state change older than the newest one applied is stale.
async fn dispatch(
    st: &AppState,
    cb: Callback,
    signed_at: Option<Timestamp>,
    now: Timestamp,
) -> Response {
    let svc = &st.service;
    let caller = Caller {
        action: cb.activity(),
        test: cb.test_flag(),
        signed_at,
    };
    let success = |_| Response::success();
    let result = match cb {
        Callback::GetLicense(g) => svc
            .issue_classic(NewPurchase::from(g), caller, now)
            .await
            .map(|(id, license)| {
                Response::new(ResultCode::Success, "success.", Some(&id), Some(&license))
            }),
        Callback::RefreshLicense(r) => svc
            .renew(&r.instance_id, &r.order_id, r.expire_time, r.product_id.as_deref(), caller, now)
            .await
            .map(success),
        Callback::ExpireLicense(e) => svc.freeze(&e.instance_id, caller, now).await.map(success),
        Callback::ReleaseLicense(r) => svc.release(&r.instance_id, caller, now).await.map(success),
        Callback::NewInstance(n) => {
            match svc
                .create_instance(&n.order_id, &n.order_line_id, &n.business_id, caller, now)
                .await
            {
                Ok(id) => {
                    // What was bought (customer, quota, validity) comes from the order query;
                    // a failure there is retried in the background, not by the marketplace.
                    sync_order(svc, &id, &n.order_id, &n.order_line_id, now).await;
                    Ok(Response::new(ResultCode::Success, "success.", Some(&id), None))
                }
                Err(e) => Err(e),
            }
        }
        Callback::RefreshInstance(r) => {
            let renewed = svc.renew_instance(&r, caller, now).await;
            if renewed.is_ok() {
                sync_order(svc, &r.instance_id, &r.order_id, &r.order_line_id, now).await;
            }
            renewed.map(success)
        }
        Callback::UpdateInstanceStatus(u) => match u.status {
            InstanceStatus::Freeze => svc.freeze(&u.instance_id, caller, now).await,
            InstanceStatus::Unfreeze => svc.unfreeze(&u.instance_id, caller, now).await,
        }
        .map(success),
        Callback::ReleaseInstance(r) => svc.release(&r.instance_id, caller, now).await.map(success),
        Callback::GetLicenseAsync(g) => svc
            .device_license(
                DeviceRequest {
                    instance: g.instance_id,
                    event: g.event_id,
                    fingerprint: g.device_fingerprint,
                    nbf: g.effective_time,
                    exp: g.expire_time,
                },
                caller,
                now,
            )
            .await
            .map(|_| {
                Response::new(
                    ResultCode::Processing,
                    "processing: the license is minted and will be delivered through the upload API",
                    None,
                    None,
                )
            }),
        Callback::QueryInstance(q) => {
            let ids: Vec<&str> = q.instance_ids.iter().map(String::as_str).collect();
            match svc.exists(&ids) {
                Ok(Ok(())) => Ok(Response::success()),
                Ok(Err(missing)) => Err(ServiceError::NotFound(missing)),
                Err(e) => Err(e),
            }
        }
        Callback::UpgradeInstance(u) => svc.upgrade(&u, caller, now).await.map(success),
    };
    result.unwrap_or_else(|e| refusal(&e))
}

/// How long a callback waits for the order query before leaving it to the outbox: the
/// marketplace's budget for an answer is 5 s.
const ORDER_QUERY_BUDGET: std::time::Duration = std::time::Duration::from_millis(2500);

async fn sync_order(
    svc: &crate::license::service::Service,
    id: &str,
    order: &str,
    line: &str,
    now: Timestamp,
) {
    if let Err(e) = svc
        .sync_order(id, order, line, ORDER_QUERY_BUDGET, now)
        .await
    {
        // The instance is created and acknowledged either way; the order is read again when
        // the marketplace renews it, or by an operator.
        tracing::error!(instance = id, order, error = %e, "cannot record the order query");
    }
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
        ServiceError::SeatsTaken { .. } | ServiceError::Superseded { .. } => {
            (ResultCode::InvalidParam, e.to_string())
        }
        ServiceError::OutsideValidity(m) => (ResultCode::OutsideOrderValidity, m.clone()),
        ServiceError::Invalid(m) => (ResultCode::InvalidParam, m.clone()),
        ServiceError::Domain(DomainError::Mint { .. }) | ServiceError::Store(_) => {
            tracing::error!(error = %e, "operation failed");
            return internal_error();
        }
    };
    Response::new(code, &message, None, None)
}
