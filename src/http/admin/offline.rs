//! Air-gapped activation for support staff (`licctl offline activate|deactivate`): the same as
//! the public routes, audited with the admin actor.
//!
//! - `POST /admin/v1/offline/activate {"request"}` → the device-bound token.
//! - `POST /admin/v1/offline/deactivate {"receipt"}` → the seat freed.
//! - `POST /admin/v1/site/allot {"request"}` → a site's allotment (`licctl site allot`).
//! - `POST /admin/v1/site/return {"receipt"}` → a site's seats given back (`licctl site return`).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, State};
use axum::routing::post;
use axum::{Json, Router};
use client_verifier::Timestamp;

use super::AdminState;
use crate::accounts::Principal;
use crate::admin_api::{
    ActivateRequest, ActivateResponse, AllotResponse, DeactivateRequest, DeactivateResponse,
    SiteReturnResponse,
};
use crate::http::error::ApiError;

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/offline/activate", post(activate))
        .route("/offline/deactivate", post(deactivate))
        .route("/site/allot", post(site_allot))
        .route("/site/return", post(site_return))
}

async fn site_allot(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    body: Result<Json<ActivateRequest>, JsonRejection>,
) -> Result<Json<AllotResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let a = st
        .service
        .site_allot(&req.request, &by, Timestamp::now())
        .await?;
    Ok(Json(a.into()))
}

async fn site_return(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    body: Result<Json<DeactivateRequest>, JsonRejection>,
) -> Result<Json<SiteReturnResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let r = st
        .service
        .site_return(&req.receipt, &by, Timestamp::now())
        .await?;
    Ok(Json(r.into()))
}

async fn activate(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    body: Result<Json<ActivateRequest>, JsonRejection>,
) -> Result<Json<ActivateResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let seat = st
        .service
        .offline_activate(&req.request, &by, Timestamp::now())
        .await?;
    Ok(Json(seat.into()))
}

async fn deactivate(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    body: Result<Json<DeactivateRequest>, JsonRejection>,
) -> Result<Json<DeactivateResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let d = st
        .service
        .offline_deactivate(&req.receipt, &by, Timestamp::now())
        .await?;
    Ok(Json(d.into()))
}
