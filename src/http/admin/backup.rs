//! `/admin/v1/backup`: a consistent snapshot of the store, streamed to `licd backup`.

use axum::Router;

use super::AdminState;

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
}
