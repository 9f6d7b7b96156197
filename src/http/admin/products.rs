//! `/admin/v1/products`: the product catalog as licd understands it, and its reload.

use axum::extract::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AdminState;
use crate::accounts::{Action, Principal};
use crate::catalog::{Catalog, Entry, Lookup};
use crate::http::error::ApiError;

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/products", get(list))
        .route("/products/reload", post(reload))
        .route("/products/{id}", get(show))
}

#[derive(Serialize)]
struct CatalogView {
    /// The file, `null` when no catalog is configured.
    source: Option<String>,
    /// The entry for products the catalog does not list.
    default: Option<Entry>,
    entries: Vec<Entry>,
    /// Purchases since start of products the catalog does not list.
    unlisted_purchases: Vec<Unlisted>,
}

#[derive(Serialize)]
struct Unlisted {
    product: String,
    purchases: u64,
}

fn view(st: &AdminState, c: &Catalog) -> CatalogView {
    CatalogView {
        source: c.source.as_ref().map(|p| p.display().to_string()),
        default: c.default.clone(),
        entries: c.entries.clone(),
        unlisted_purchases: st
            .service
            .unlisted_purchases()
            .into_iter()
            .map(|(product, purchases)| Unlisted { product, purchases })
            .collect(),
    }
}

async fn list(State(st): State<AdminState>) -> Json<CatalogView> {
    let catalog = st.service.catalog();
    Json(view(&st, &catalog))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowQuery {
    sku: Option<String>,
}

#[derive(Serialize)]
struct Resolved {
    /// `listed`, `default` or `none`: how the lookup went.
    matched: &'static str,
    entry: Option<Entry>,
}

/// The entry a purchase of product `id` (and `?sku=`) gets.
async fn show(
    State(st): State<AdminState>,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Json<Resolved> {
    let catalog = st.service.catalog();
    let found = catalog.lookup(&id, q.sku.as_deref().unwrap_or(""));
    let matched = match found {
        Lookup::Listed(_) => "listed",
        Lookup::Default(_) => "default",
        Lookup::Missing => "none",
    };
    Json(Resolved {
        matched,
        entry: found.entry().cloned(),
    })
}

async fn reload(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
) -> Result<Json<CatalogView>, ApiError> {
    by.require(Action::Integrations)
        .map_err(crate::service::ServiceError::from)?;
    let who = by.actor();
    tracing::info!(actor = %who, "catalog reload requested");
    let service = st.service.clone();
    let result = tokio::task::spawn_blocking(move || service.reload_catalog())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    match result {
        Ok(c) => Ok(Json(view(&st, &c))),
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_catalog",
            format!("{e}; the catalog loaded before stays in use"),
        )),
    }
}
