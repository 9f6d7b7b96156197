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
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use client_verifier::Timestamp;
use client_verifier::offline::site::{SITE_RECEIPT_PREFIX, SITE_REQUEST_PREFIX};

use super::client::answer;
use super::error::ApiError;
use super::pages::{
    Reader, attachment, field, pasted_or_file, refusal_text, render, switch_href, text_fields,
};
use super::{AppState, Client, JsonBody};
use crate::admin_api::{
    ActivateRequest, ActivateResponse, AllotResponse, DeactivateRequest, DeactivateResponse,
    SiteReturnResponse,
};
use crate::i18n::Lang;
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
            .offline_activate(
                &req.request,
                &crate::accounts::Principal::customer(ACTOR),
                Timestamp::now(),
            )
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
            .offline_deactivate(
                &req.receipt,
                &crate::accounts::Principal::customer(ACTOR),
                Timestamp::now(),
            )
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
            .site_allot(
                &req.request,
                &crate::accounts::Principal::customer(ACTOR),
                Timestamp::now(),
            )
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
            .site_return(
                &req.receipt,
                &crate::accounts::Principal::customer(ACTOR),
                Timestamp::now(),
            )
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

async fn page(State(st): State<AppState>, Reader(l): Reader) -> Response {
    st.metrics.client("activate_page", 200);
    html(StatusCode::OK, &ActivatePage::new(l), None)
}

/// What the page's forms posted: `request` / `request_file`, `receipt` / `receipt_file` (a
/// pasted text wins over a file), `download`.
struct Posted {
    request: String,
    receipt: String,
    download: bool,
}

impl Posted {
    fn of(fields: &[(String, String)]) -> Self {
        Posted {
            request: pasted_or_file(fields, "request", "request_file"),
            receipt: pasted_or_file(fields, "receipt", "receipt_file"),
            download: field(fields, "download") == "1",
        }
    }
}

async fn page_post(
    State(st): State<AppState>,
    Reader(l): Reader,
    client: Client,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let client = client.label;
    let posted = text_fields(form, 8, MAX_FIELD_BYTES)
        .await
        .map(|f| Posted::of(&f));
    let refused = |e: ApiError, request: &str, receipt: &str| {
        refusal_page(&st, l, e, request, receipt, &client)
    };
    let response = match posted {
        Err(e) => refused(e, "", ""),
        Ok(p) if is_site(&p.request, SITE_REQUEST_PREFIX) => {
            match st
                .service
                .site_allot(
                    &p.request,
                    &crate::accounts::Principal::customer(ACTOR),
                    Timestamp::now(),
                )
                .await
            {
                Ok(a) if p.download => attachment(&a.license, "allotment", "txt", &a.token),
                Ok(a) => html(
                    StatusCode::OK,
                    &ActivatePage {
                        allotted: Some(&a),
                        request: &p.request,
                        ..ActivatePage::new(l)
                    },
                    None,
                ),
                Err(e) => refused(e.into(), &p.request, ""),
            }
        }
        Ok(p) if is_site(&p.receipt, SITE_RECEIPT_PREFIX) => {
            match st
                .service
                .site_return(
                    &p.receipt,
                    &crate::accounts::Principal::customer(ACTOR),
                    Timestamp::now(),
                )
                .await
            {
                Ok(r) => html(
                    StatusCode::OK,
                    &ActivatePage {
                        site_returned: Some(&r),
                        ..ActivatePage::new(l)
                    },
                    None,
                ),
                Err(e) => refused(e.into(), "", &p.receipt),
            }
        }
        Ok(p) if !p.request.is_empty() => {
            match st
                .service
                .offline_activate(
                    &p.request,
                    &crate::accounts::Principal::customer(ACTOR),
                    Timestamp::now(),
                )
                .await
            {
                Ok(seat) if p.download => attachment(&seat.license, "license", "lic", &seat.token),
                Ok(seat) => html(
                    StatusCode::OK,
                    &ActivatePage {
                        activated: Some(&seat),
                        request: &p.request,
                        ..ActivatePage::new(l)
                    },
                    None,
                ),
                Err(e) => refused(e.into(), &p.request, ""),
            }
        }
        Ok(p) if !p.receipt.is_empty() => {
            match st
                .service
                .offline_deactivate(
                    &p.receipt,
                    &crate::accounts::Principal::customer(ACTOR),
                    Timestamp::now(),
                )
                .await
            {
                Ok(d) => html(
                    StatusCode::OK,
                    &ActivatePage {
                        deactivated: Some(&d),
                        ..ActivatePage::new(l)
                    },
                    None,
                ),
                Err(e) => refused(e.into(), "", &p.receipt),
            }
        }
        Ok(_) => refused(
            ApiError::bad_request(
                "paste a request (lor1.… or a site's lsr1.…) or a receipt (ldr1.… or lsd1.…), or choose its file",
            ),
            "",
            "",
        ),
    };
    st.metrics
        .client("activate_page", response.status().as_u16());
    response
}

fn refusal_page(
    st: &AppState,
    l: Lang,
    e: ApiError,
    request: &str,
    receipt: &str,
    client: &str,
) -> Response {
    if let Some(suppressed) = st.refusals.admit(std::time::Instant::now()) {
        tracing::info!(route = "activate_page", status = e.status.as_u16(), error = e.error, reason = %crate::logsafe::quoted(&e.message), client = %client, suppressed, "client request refused");
    }
    let message = refusal_text(l, &e);
    let page = ActivatePage {
        error: Some(&message),
        request: request.trim(),
        receipt: receipt.trim(),
        ..ActivatePage::new(l)
    };
    html(e.status, &page, e.retry_after)
}

/// The page (askama, which escapes every value) in the reader's language: the forms, with an
/// error above them; or what an activation or a deactivation did.
#[derive(Template)]
#[template(path = "activate/page.html")]
struct ActivatePage<'a> {
    l: Lang,
    /// The language switch's link back to this page.
    switch: String,
    error: Option<&'a str>,
    activated: Option<&'a OfflineSeat>,
    deactivated: Option<&'a Deactivated>,
    allotted: Option<&'a Allotment>,
    site_returned: Option<&'a SiteReturned>,
    /// The request: kept in the forms after a refusal, and in the download form.
    request: &'a str,
    receipt: &'a str,
}

impl ActivatePage<'_> {
    fn new(l: Lang) -> Self {
        ActivatePage {
            l,
            switch: switch_href(l, "/activate"),
            error: None,
            activated: None,
            deactivated: None,
            allotted: None,
            site_returned: None,
            request: "",
            receipt: "",
        }
    }
}

/// A whole page, with the public pages' headers.
fn html(status: StatusCode, page: &ActivatePage<'_>, retry_after: Option<u32>) -> Response {
    let mut response = render(status, page);
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, secs.into());
    }
    response
}

/// Whether a form field holds a site request or receipt (`prefix`).
fn is_site(text: &str, prefix: &str) -> bool {
    text.trim_start().starts_with(prefix)
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
                ..ActivatePage::new(Lang::En)
            },
            ActivatePage {
                activated: Some(&seat),
                request: hostile,
                ..ActivatePage::new(Lang::Zh)
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
