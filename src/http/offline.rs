//! Air-gapped activation on the public listener.
//!
//! - `POST /v1/offline/activate {"request"}` → `{"token", …}`: for the ISV's portal or automation.
//! - `POST /v1/offline/deactivate {"receipt"}` → the seat freed.
//! - `POST /v1/site/allot {"request"}` → `{"allotment", …}`: seats for a site server
//!   (`lsr1.…`, `licd site init`).
//! - `POST /v1/site/return {"receipt"}` → the site's seats given back (`lsd1.…`).
//! - `GET /activate`: a self-service page for customers, plain HTML without JavaScript: paste
//!   or upload a request and download the license file, or paste or upload a receipt to give a
//!   seat back. The forms post to `POST /activate` (`multipart/form-data`).
//!
//! The page sets no cookie and acts only on what the request or receipt itself proves, so a
//! form posted from another site can do nothing a direct call could not: there is no session to
//! ride. Everything echoed is HTML-escaped; the page loads nothing from anywhere and may not be
//! framed.

use askama::Template;
use axum::Router;
use axum::extract::{Multipart, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use client_verifier::Timestamp;
use client_verifier::offline::site::{SITE_RECEIPT_PREFIX, SITE_REQUEST_PREFIX};

use super::client::answer;
use super::error::ApiError;
use super::{AppState, Client, JsonBody};
use crate::admin_api::{
    ActivateRequest, ActivateResponse, AllotResponse, DeactivateRequest, DeactivateResponse,
    SiteReturnResponse,
};
use crate::service::{Allotment, Deactivated, OfflineSeat, SiteReturned};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/offline/activate", post(activate))
        .route("/v1/offline/deactivate", post(deactivate))
        .route("/v1/site/allot", post(site_allot))
        .route("/v1/site/return", post(site_return))
        .route("/activate", get(page).post(page_post))
}

/// Who answers a request or receipt that reached licd through the public listener.
const ACTOR: &str = "client";

async fn activate(
    State(st): State<AppState>,
    client: Client,
    req: Result<JsonBody<ActivateRequest>, ApiError>,
) -> Response {
    let client = client.label;
    let result = async {
        let JsonBody(req) = req?;
        let seat = st
            .service
            .offline_activate(&req.request, ACTOR, Timestamp::now())
            .await?;
        Ok(ActivateResponse::from(seat))
    }
    .await;
    answer(&st, "offline_activate", result, &client)
}

async fn deactivate(
    State(st): State<AppState>,
    client: Client,
    req: Result<JsonBody<DeactivateRequest>, ApiError>,
) -> Response {
    let client = client.label;
    let result = async {
        let JsonBody(req) = req?;
        let d = st
            .service
            .offline_deactivate(&req.receipt, ACTOR, Timestamp::now())
            .await?;
        Ok(DeactivateResponse::from(d))
    }
    .await;
    answer(&st, "offline_deactivate", result, &client)
}

async fn site_allot(
    State(st): State<AppState>,
    client: Client,
    req: Result<JsonBody<ActivateRequest>, ApiError>,
) -> Response {
    let client = client.label;
    let result = async {
        let JsonBody(req) = req?;
        let a = st
            .service
            .site_allot(&req.request, ACTOR, Timestamp::now())
            .await?;
        Ok(AllotResponse::from(a))
    }
    .await;
    answer(&st, "site_allot", result, &client)
}

async fn site_return(
    State(st): State<AppState>,
    client: Client,
    req: Result<JsonBody<DeactivateRequest>, ApiError>,
) -> Response {
    let client = client.label;
    let result = async {
        let JsonBody(req) = req?;
        let r = st
            .service
            .site_return(&req.receipt, ACTOR, Timestamp::now())
            .await?;
        Ok(SiteReturnResponse::from(r))
    }
    .await;
    answer(&st, "site_return", result, &client)
}

// ---- the self-service page ----

/// The most a form field may hold: a request is at most 700 characters; a file may wrap it in
/// white space or a line or two of text.
const MAX_FIELD_BYTES: usize = 4096;

async fn page(State(st): State<AppState>) -> Response {
    st.metrics.client("activate_page", 200);
    html(StatusCode::OK, &ActivatePage::default(), None)
}

/// What the page's forms posted.
#[derive(Default)]
struct Posted {
    request: String,
    receipt: String,
    download: bool,
}

async fn page_post(
    State(st): State<AppState>,
    client: Client,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let client = client.label;
    let posted = match form {
        Ok(m) => read_form(m).await,
        Err(_) => Err(ApiError::bad_request(
            "the form must be sent as multipart/form-data (the page's own forms are)",
        )),
    };
    let response = match posted {
        Err(e) => refusal_page(&st, e, "", "", &client),
        Ok(p) if is_site(&p.request, SITE_REQUEST_PREFIX) => {
            match st
                .service
                .site_allot(&p.request, ACTOR, Timestamp::now())
                .await
            {
                Ok(a) if p.download => download_allotment(&a),
                Ok(a) => html(
                    StatusCode::OK,
                    &ActivatePage {
                        allotted: Some(&a),
                        request: p.request.trim(),
                        ..ActivatePage::default()
                    },
                    None,
                ),
                Err(e) => refusal_page(&st, e.into(), &p.request, "", &client),
            }
        }
        Ok(p) if is_site(&p.receipt, SITE_RECEIPT_PREFIX) => {
            match st
                .service
                .site_return(&p.receipt, ACTOR, Timestamp::now())
                .await
            {
                Ok(r) => html(
                    StatusCode::OK,
                    &ActivatePage {
                        site_returned: Some(&r),
                        ..ActivatePage::default()
                    },
                    None,
                ),
                Err(e) => refusal_page(&st, e.into(), "", &p.receipt, &client),
            }
        }
        Ok(p) if !p.request.trim().is_empty() => {
            match st
                .service
                .offline_activate(&p.request, ACTOR, Timestamp::now())
                .await
            {
                Ok(seat) if p.download => download(&seat),
                Ok(seat) => html(
                    StatusCode::OK,
                    &ActivatePage {
                        activated: Some(&seat),
                        request: p.request.trim(),
                        ..ActivatePage::default()
                    },
                    None,
                ),
                Err(e) => refusal_page(&st, e.into(), &p.request, "", &client),
            }
        }
        Ok(p) if !p.receipt.trim().is_empty() => {
            match st
                .service
                .offline_deactivate(&p.receipt, ACTOR, Timestamp::now())
                .await
            {
                Ok(d) => html(
                    StatusCode::OK,
                    &ActivatePage {
                        deactivated: Some(&d),
                        ..ActivatePage::default()
                    },
                    None,
                ),
                Err(e) => refusal_page(&st, e.into(), "", &p.receipt, &client),
            }
        }
        Ok(_) => refusal_page(
            &st,
            ApiError::bad_request(
                "paste a request (lor1.… or a site's lsr1.…) or a receipt (ldr1.… or lsd1.…), or choose its file",
            ),
            "",
            "",
            &client,
        ),
    };
    st.metrics
        .client("activate_page", response.status().as_u16());
    response
}

/// Reads the form's fields: `request` / `request_file`, `receipt` / `receipt_file` (a pasted
/// text wins over a file), `download`. Unknown fields are ignored, as browsers may add some.
async fn read_form(mut m: Multipart) -> Result<Posted, ApiError> {
    let mut p = Posted::default();
    let mut request_file = String::new();
    let mut receipt_file = String::new();
    let mut fields = 0;
    while let Some(field) = m.next_field().await.map_err(|e| {
        ApiError::bad_request(format!(
            "the form: {}",
            crate::logsafe::quoted_max(&e.body_text(), 120)
        ))
    })? {
        fields += 1;
        if fields > 8 {
            return Err(ApiError::bad_request("the form has too many fields"));
        }
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field.bytes().await.map_err(|e| {
            ApiError::bad_request(format!(
                "the form: {}",
                crate::logsafe::quoted_max(&e.body_text(), 120)
            ))
        })?;
        if bytes.len() > MAX_FIELD_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the field {} is longer than {MAX_FIELD_BYTES} bytes: is this the right file?",
                    crate::logsafe::quoted_max(&name, 40)
                ),
            ));
        }
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::bad_request("a request or receipt is text; this file is not"))?;
        match name.as_str() {
            "request" => p.request = text,
            "request_file" => request_file = text,
            "receipt" => p.receipt = text,
            "receipt_file" => receipt_file = text,
            "download" => p.download = text == "1",
            _ => {}
        }
    }
    if p.request.trim().is_empty() {
        p.request = request_file;
    }
    if p.receipt.trim().is_empty() {
        p.receipt = receipt_file;
    }
    Ok(p)
}

fn refusal_page(
    st: &AppState,
    e: ApiError,
    request: &str,
    receipt: &str,
    client: &str,
) -> Response {
    if let Some(suppressed) = st.refusals.admit(std::time::Instant::now()) {
        tracing::info!(route = "activate_page", status = e.status.as_u16(), error = e.error, reason = %crate::logsafe::quoted(&e.message), client = %client, suppressed, "client request refused");
    }
    let page = ActivatePage {
        error: Some(&e.message),
        request: request.trim(),
        receipt: receipt.trim(),
        ..ActivatePage::default()
    };
    html(e.status, &page, e.retry_after)
}

/// The page (askama, which escapes every value): the forms, with an error above them; or what
/// an activation or a deactivation did.
#[derive(Template, Default)]
#[template(path = "activate/page.html")]
struct ActivatePage<'a> {
    error: Option<&'a str>,
    activated: Option<&'a OfflineSeat>,
    deactivated: Option<&'a Deactivated>,
    allotted: Option<&'a Allotment>,
    site_returned: Option<&'a SiteReturned>,
    /// The request: kept in the forms after a refusal, and in the download form.
    request: &'a str,
    receipt: &'a str,
}

/// A whole page, with headers that keep it from loading anything or being framed.
fn html(status: StatusCode, page: &ActivatePage<'_>, retry_after: Option<u32>) -> Response {
    let body = match page.render() {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "the activation page did not render");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    crate::http::page_headers(h, CSP);
    if let Some(secs) = retry_after {
        h.insert(header::RETRY_AFTER, secs.into());
    }
    response
}

/// What the page may load: nothing but its inline style.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether a form field holds a site request or receipt (`prefix`).
fn is_site(text: &str, prefix: &str) -> bool {
    text.trim_start().starts_with(prefix)
}

/// The license file: the token, as an attachment named after the license.
fn download(seat: &OfflineSeat) -> Response {
    attachment(&seat.license, "license", "lic", &seat.token)
}

/// The allotment file, for `licd site serve --allotment`.
fn download_allotment(a: &Allotment) -> Response {
    attachment(&a.license, "allotment", "txt", &a.token)
}

/// `text` as an attachment named `<what>-<license>.<ext>` (the id reduced to safe characters).
fn attachment(license: &str, what: &str, ext: &str, text: &str) -> Response {
    let name: String = license
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let mut response = (StatusCode::OK, format!("{text}\n")).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{what}-{name}.{ext}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    crate::http::page_headers(h, CSP);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_what_a_client_sent() {
        let hostile = r#"</textarea><script>alert("x")</script>"><img src=x onerror=y>&'"#;
        let seat = OfflineSeat {
            license: hostile.into(),
            token: hostile.into(),
            seat: 0,
            revision: 1,
            new: true,
            transfer: false,
        };
        for page in [
            ActivatePage {
                error: Some(hostile),
                request: hostile,
                receipt: hostile,
                ..ActivatePage::default()
            },
            ActivatePage {
                activated: Some(&seat),
                request: hostile,
                ..ActivatePage::default()
            },
        ] {
            let html = page.render().unwrap();
            assert!(
                !html.contains("<script>") && !html.contains("<img") && !html.contains("\"><img"),
                "{html}"
            );
            assert!(html.contains("&lt;script&gt;"), "{html}");
        }
    }
}
