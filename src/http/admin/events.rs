//! `/admin/v1/events` (the feed, with a long poll) and `/admin/v1/webhooks…` (the endpoints:
//! their state, a test delivery, moving a cursor, reloading the file).

use std::time::Duration;

use axum::extract::Extension;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use client_verifier::Timestamp;
use serde::Deserialize;

use super::AdminState;
use crate::accounts::{Action, Principal};
use crate::admin_api::{
    DEFAULT_LIMIT, EventsResponse, MAX_LIMIT, ReplayRequest, WebhookTestResponse, WebhooksResponse,
};
use crate::http::error::ApiError;
use crate::webhooks::Move;

use crate::admin_api::MAX_WAIT_SECS;

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/events", get(events))
        .route("/webhooks", get(webhooks))
        .route("/webhooks/reload", post(reload))
        .route("/webhooks/{name}/test", post(test))
        .route("/webhooks/{name}/replay", post(replay))
        .route("/webhooks/{name}/skip", post(skip))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    after: Option<u64>,
    limit: Option<usize>,
    wait: Option<u64>,
}

async fn events(
    State(st): State<AdminState>,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventsResponse>, ApiError> {
    let Query(q) = q.map_err(|e| {
        ApiError::bad_request(format!("{e}; expected ?after=SEQ&limit=N&wait=SECS"))
    })?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_LIMIT}"
        )));
    }
    let wait = q.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::bad_request(format!(
            "wait must be 0 to {MAX_WAIT_SECS} seconds"
        )));
    }
    let page = st
        .service
        .events(q.after.unwrap_or(0), limit, Duration::from_secs(wait))
        .await?;
    Ok(Json(EventsResponse {
        events: page.events,
        next: page.next,
        head: page.head,
    }))
}

async fn webhooks(State(st): State<AdminState>) -> Result<Json<WebhooksResponse>, ApiError> {
    let source = st.service.webhooks().config().source.clone();
    let endpoints = crate::webhooks::states(&st.service, Timestamp::now())
        .await
        .map_err(crate::service::ServiceError::from)?;
    Ok(Json(WebhooksResponse {
        source: source.map(|p| p.display().to_string()),
        endpoints,
    }))
}

async fn reload(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
) -> Result<Json<WebhooksResponse>, ApiError> {
    by.require(Action::Integrations)
        .map_err(crate::service::ServiceError::from)?;
    tracing::info!(actor = %by.actor(), "webhooks reload requested");
    let service = st.service.clone();
    let result = tokio::task::spawn_blocking(move || service.webhooks().reload())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    match result {
        Ok(_) => webhooks(State(st)).await,
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_webhooks",
            format!("{e}; the endpoints loaded before stay in use"),
        )),
    }
}

fn unknown(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "no webhook endpoint is named {} (licctl webhooks list shows them)",
        crate::logsafe::quoted(name)
    ))
}

async fn test(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    by.require(Action::Integrations)
        .map_err(crate::service::ServiceError::from)?;
    tracing::info!(actor = %by.actor(), endpoint = %crate::logsafe::quoted(&name), "webhook test requested");
    let started = std::time::Instant::now();
    let outcome = crate::webhooks::test(&st.service, &name)
        .await
        .ok_or_else(|| unknown(&name))?;
    let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (ok, status, error) = match outcome {
        Ok(status) => (true, Some(status), None),
        Err(e) => (false, None, Some(e)),
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    Ok((
        code,
        Json(WebhookTestResponse {
            ok,
            status,
            error,
            millis,
        }),
    )
        .into_response())
}

async fn replay(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
    body: Result<Json<ReplayRequest>, JsonRejection>,
) -> Result<Json<WebhooksResponse>, ApiError> {
    by.require(Action::Integrations)
        .map_err(crate::service::ServiceError::from)?;
    let Json(req) =
        body.map_err(|e| ApiError::bad_request(format!("{e}; expected {{\"after\": SEQ}}")))?;
    moved(st, &by, &name, Move::After(req.after)).await
}

async fn skip(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<WebhooksResponse>, ApiError> {
    by.require(Action::Integrations)
        .map_err(crate::service::ServiceError::from)?;
    moved(st, &by, &name, Move::ToHead).await
}

async fn moved(
    st: AdminState,
    by: &Principal,
    name: &str,
    to: Move,
) -> Result<Json<WebhooksResponse>, ApiError> {
    if st.service.webhooks().config().get(name).is_none() {
        return Err(unknown(name));
    }
    let cursor = crate::webhooks::move_cursor(&st.service, name, to)
        .await
        .map_err(crate::service::ServiceError::from)?;
    tracing::info!(actor = %by.actor(), endpoint = name, after = cursor.seq, "webhook cursor moved: the endpoint gets every wanted event after it");
    st.service.events_wake().notify_waiters();
    webhooks(State(st)).await
}
