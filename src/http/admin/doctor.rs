//! `GET /admin/v1/doctor`: what `licd doctor` cannot learn from the configuration while a
//! daemon holds the database: the database's facts, the outbox, the last backup, the V2
//! signature readings seen, and how the daemon actually listens.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use client_verifier::Timestamp;
use serde_json::{Value, json};

use super::AdminState;
use crate::http::error::ApiError;
use crate::http::metrics::ReadingsSeen;
use crate::marketplace::V2Reading;

/// What the daemon knows about itself that its configuration file does not say.
#[derive(Debug)]
pub struct DaemonFacts {
    /// When this process started.
    pub started: Timestamp,
    /// V2 readings verified since start.
    pub readings_seen: Arc<ReadingsSeen>,
    /// V2 readings accepted (one when pinned).
    pub v2_accepted: Vec<V2Reading>,
    /// The public listener serves TLS itself.
    pub public_tls: bool,
    /// The admin listener serves TLS.
    pub admin_tls: bool,
    /// `embedded` or `postgresql`.
    pub database: &'static str,
    /// Whether the marketplace open API is configured.
    pub marketplace_api: bool,
    /// The production address's path.
    pub callback_path: String,
}

impl DaemonFacts {
    /// The V2 part, as the console and doctor show it.
    pub fn v2_json(&self) -> Value {
        json!({
            "accepted": self.v2_accepted.iter().map(|r| r.name()).collect::<Vec<_>>(),
            "pinned": (self.v2_accepted.len() == 1).then(|| self.v2_accepted[0].name()),
            "seen": self.readings_seen.to_json(),
        })
    }
}

pub(super) fn routes() -> Router<AdminState> {
    Router::new().route("/doctor", get(facts))
}

async fn facts(State(st): State<AdminState>) -> Result<Json<Value>, ApiError> {
    let service = st.service.clone();
    let store = service.facts().await.map_err(ApiError::from)?;
    let team = service.accounts().await.map_err(ApiError::from)?;
    let enabled = team.users.values().filter(|a| a.disabled.is_none());
    let accounts = json!({
        "enabled": enabled.clone().count(),
        "admins": enabled.clone().filter(|a| a.role == crate::accounts::Role::Admin).count(),
        "totp": enabled.filter(|a| a.totp.is_some()).count(),
    });
    let d = &st.daemon;
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started": d.started.to_rfc3339(),
        "database": d.database,
        "store": store,
        "v2_signature": d.v2_json(),
        "public_tls": d.public_tls,
        "admin_tls": d.admin_tls,
        "marketplace_api": d.marketplace_api,
        "accounts": accounts,
    })))
}
