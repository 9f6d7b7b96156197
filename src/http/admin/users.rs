//! `/admin/v1/users…` and `/admin/v1/tokens…`: the ISV's team (`licctl users`, `licctl
//! tokens`). Admins only; the service checks that, and answers never carry a hash. A one-time
//! secret or a token is in the answer that created it and nowhere else.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use client_verifier::Timestamp;

use super::AdminState;
use crate::accounts::Principal;
use crate::admin_api::{
    AddUserRequest, AuditResponse, CreateTokenRequest, RoleRequest, SecretResponse,
    TokenCreatedResponse, UsersResponse,
};
use crate::http::error::ApiError;

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/users", get(list).post(add))
        .route("/users/{name}/disable", post(disable))
        .route("/users/{name}/reset", post(reset))
        .route("/users/{name}/role", post(set_role))
        .route("/users/{name}/audit", get(audit))
        .route("/tokens", post(create_token))
        .route("/tokens/{id}/revoke", post(revoke_token))
}

async fn list(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
) -> Result<Json<UsersResponse>, ApiError> {
    let (users, tokens) = st.service.list_users(&by, Timestamp::now()).await?;
    Ok(Json(UsersResponse { users, tokens }))
}

async fn add(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    body: Result<Json<AddUserRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<SecretResponse>), ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let name = req.name.trim().to_string();
    let secret = st
        .service
        .add_user(&by, &name, req.role, Timestamp::now())
        .await?;
    Ok((StatusCode::CREATED, Json(SecretResponse { name, secret })))
}

async fn disable(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    st.service
        .disable_user(&by, &name, Timestamp::now())
        .await?;
    Ok(Json(
        serde_json::json!({ "name": name, "state": "disabled" }),
    ))
}

async fn reset(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<SecretResponse>, ApiError> {
    let secret = st.service.reset_user(&by, &name, Timestamp::now()).await?;
    Ok(Json(SecretResponse { name, secret }))
}

async fn set_role(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
    body: Result<Json<RoleRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let revoked = st
        .service
        .set_role(&by, &name, req.role, Timestamp::now())
        .await?;
    Ok(Json(
        serde_json::json!({ "name": name, "role": req.role, "tokens_revoked": revoked }),
    ))
}

async fn audit(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<AuditResponse>, ApiError> {
    let trail = st.service.account_audit(&by, &name).await?;
    Ok(Json(AuditResponse::of(format!("account:{name}"), trail)))
}

async fn create_token(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    body: Result<Json<CreateTokenRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<TokenCreatedResponse>), ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (id, token) = st
        .service
        .create_api_token(&by, req.user.trim(), req.role, &req.label, Timestamp::now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreatedResponse { id, token }),
    ))
}

async fn revoke_token(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    st.service
        .revoke_api_token(&by, &id, Timestamp::now())
        .await?;
    Ok(Json(serde_json::json!({ "id": id, "revoked": true })))
}
