//! `/admin/v1/licenses…`, `/admin/v1/revocations`, `/admin/v1/outbox…`: what licctl needs.

use axum::Router;

use super::AdminState;

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
}
