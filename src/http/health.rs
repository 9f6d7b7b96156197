//! Liveness, readiness and metrics.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
}

/// Ready when the store answers a read and has not stopped accepting writes.
async fn ready(State(st): State<AppState>) -> impl IntoResponse {
    match st.service.ready().await {
        Ok(_) => (StatusCode::OK, "ready\n".to_string()),
        Err(e) => {
            tracing::error!(error = %e, "store not usable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "store unavailable\n".to_string(),
            )
        }
    }
}

async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    let states = crate::webhooks::states(&st.service, client_verifier::Timestamp::now())
        .await
        .ok();
    st.metrics
        .record_webhooks(&st.service.webhooks().counts(), states.as_deref());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.render(
            &st.service.unlisted_purchases(),
            &st.service.lease_refusals(),
            st.service.gauges().await.ok(),
        ),
    )
}
