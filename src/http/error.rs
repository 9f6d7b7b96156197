//! The error body of the client and admin APIs: `{"error": "<kind>", "message": "<sentence>",
//! "message_zh": "<句子>"}` with a fitting 4xx/5xx status (DESIGN §8). `error` is the stable code
//! to act on; `message` says what happened in English, with the detail; `message_zh` is the
//! catalog's sentence for the kind in 简体中文 (`crate::i18n::error_text`), which an
//! application may show its user. Marketplace callbacks never use it: they always
//! get HTTP 200 with a result code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::service::ServiceError;

/// A JSON error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable kind, e.g. `not_found`, `seats_taken`.
    pub error: &'static str,
    /// One sentence for a person, saying what to do where there is something to do.
    pub message: String,
    /// Seconds to wait before trying again (`Retry-After`), for a 503 that will pass.
    pub retry_after: Option<u32>,
    /// Fields the body carries beside `error` and `message` (a full floating license's seats).
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
    message_zh: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    /// An error with the given status, kind and message.
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            message: message.into(),
            retry_after: None,
            extra: None,
        }
    }

    /// 503 with `Retry-After`: nothing was done, and the same request may succeed later.
    pub fn unavailable(message: impl Into<String>, retry_after: u32) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    /// 404: no such license (or other record).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: self.error,
            message: &self.message,
            message_zh: crate::i18n::error_text(crate::i18n::Lang::Zh, self.error),
            extra: self.extra.as_ref(),
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// How long a client waits on a code whose purchase details the ISV must repair: the ISV is
/// told at once (an error line), and a repair takes a person.
const CODE_INCOMPLETE_RETRY_SECS: u32 = 600;

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        let message = e.to_string();
        match e {
            E::NotFound(_) | E::JobNotFound(_) => Self::not_found(message),
            E::SeatsTaken { .. } | E::SiteSeats { .. } => {
                Self::new(StatusCode::CONFLICT, "seats_taken", message)
            }
            E::TransfersExhausted { .. } => {
                Self::new(StatusCode::CONFLICT, "transfers_exhausted", message)
            }
            E::AlreadyDeactivated { .. } => {
                Self::new(StatusCode::CONFLICT, "already_deactivated", message)
            }
            E::Revoked(_) => Self::new(StatusCode::GONE, "revoked", message),
            E::LeasesFull {
                seats,
                in_use,
                next_free_at,
                now,
                ..
            } => {
                let wait = (next_free_at.unix() - now.unix()).clamp(1, 3600);
                let extra = serde_json::json!({
                    "seats": seats,
                    "in_use": in_use,
                    "next_free_at": next_free_at,
                });
                ApiError {
                    retry_after: Some(u32::try_from(wait).unwrap_or(1)),
                    extra: extra.as_object().cloned(),
                    ..Self::new(StatusCode::CONFLICT, "seats_taken", message)
                }
            }
            E::LeaseEnded { why, .. } => Self::new(StatusCode::GONE, why, message),
            E::Superseded { .. } => Self::new(StatusCode::GONE, "superseded", message),
            E::Domain(crate::license::DomainError::Released { .. }) => {
                Self::new(StatusCode::GONE, "released", message)
            }
            E::Domain(crate::license::DomainError::MarketplaceValidity { .. }) => {
                Self::new(StatusCode::CONFLICT, "marketplace_license", message)
            }
            E::Forbidden(_) => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            E::Store(_) => {
                // The detail is for the log; the caller learns only that it may retry.
                tracing::error!(error = %message, "store failure answering an API call");
                Self::unavailable("the license store is unavailable; try again later", 5)
            }
            E::Unavailable(_) => Self::unavailable(message, 30),
            E::Busy { retry_after, .. } => Self::unavailable(message, retry_after),
            E::TooManyRequests { retry_after, .. } => ApiError {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
            },
            E::CodeIncomplete { .. } => ApiError {
                retry_after: Some(CODE_INCOMPLETE_RETRY_SECS),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "code_incomplete", message)
            },
            E::CodeRefused { kind, .. } => {
                use crate::service::CodeRefusal as R;
                let status = match kind {
                    R::UnknownCode => StatusCode::NOT_FOUND,
                    R::NotDelivered | R::NotActivated => StatusCode::CONFLICT,
                    R::InvalidCode => StatusCode::BAD_REQUEST,
                    R::Refused => StatusCode::BAD_GATEWAY,
                };
                Self::new(status, kind.as_str(), message)
            }
            _ => Self::bad_request(message),
        }
    }
}
