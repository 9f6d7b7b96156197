//! Air-gapped activation on the public listener.
//!
//! - `POST /v1/offline/activate {"request"}` → `{"token", …}`: for the ISV's portal or automation.
//! - `POST /v1/offline/deactivate {"receipt"}` → the seat freed.
//! - `GET /activate`: a self-service page for customers, plain HTML without JavaScript: paste
//!   or upload a request and download the license file, or paste or upload a receipt to give a
//!   seat back. The forms post to `POST /activate` (`multipart/form-data`).
//!
//! The page sets no cookie and acts only on what the request or receipt itself proves, so a
//! form posted from another site can do nothing a direct call could not: there is no session to
//! ride. Everything echoed is HTML-escaped; the page loads nothing from anywhere and may not be
//! framed.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use client_verifier::Timestamp;

use super::client::{answer, body};
use super::error::ApiError;
use super::{AppState, ClientAddr, client_label};
use crate::admin_api::{ActivateRequest, ActivateResponse, DeactivateRequest, DeactivateResponse};
use crate::service::{Deactivated, OfflineSeat};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/offline/activate", post(activate))
        .route("/v1/offline/deactivate", post(deactivate))
        .route("/activate", get(page).post(page_post))
}

/// Who answers a request or receipt that reached licd through the public listener.
const ACTOR: &str = "client";

async fn activate(
    State(st): State<AppState>,
    peer: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    req: Result<Json<ActivateRequest>, JsonRejection>,
) -> Response {
    let client = client_label(peer.as_ref(), &headers, &st.trusted_proxies);
    let result = async {
        let req = body(req)?;
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
    peer: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    req: Result<Json<DeactivateRequest>, JsonRejection>,
) -> Response {
    let client = client_label(peer.as_ref(), &headers, &st.trusted_proxies);
    let result = async {
        let req = body(req)?;
        let d = st
            .service
            .offline_deactivate(&req.receipt, ACTOR, Timestamp::now())
            .await?;
        Ok(DeactivateResponse::from(d))
    }
    .await;
    answer(&st, "offline_deactivate", result, &client)
}

// ---- the self-service page ----

/// The most a form field may hold: a request is at most 700 characters; a file may wrap it in
/// white space or a line or two of text.
const MAX_FIELD_BYTES: usize = 4096;

async fn page(State(st): State<AppState>) -> Response {
    st.metrics.client("activate_page", 200);
    html(StatusCode::OK, &forms("", ""), None)
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
    peer: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let client = client_label(peer.as_ref(), &headers, &st.trusted_proxies);
    let posted = match form {
        Ok(m) => read_form(m).await,
        Err(_) => Err(ApiError::bad_request(
            "the form must be sent as multipart/form-data (the page's own forms are)",
        )),
    };
    let response = match posted {
        Err(e) => refusal_page(&st, e, "", "", &client),
        Ok(p) if !p.request.trim().is_empty() => {
            match st
                .service
                .offline_activate(&p.request, ACTOR, Timestamp::now())
                .await
            {
                Ok(seat) if p.download => download(&seat),
                Ok(seat) => html(StatusCode::OK, &activated(&seat, p.request.trim()), None),
                Err(e) => refusal_page(&st, e.into(), &p.request, "", &client),
            }
        }
        Ok(p) if !p.receipt.trim().is_empty() => {
            match st
                .service
                .offline_deactivate(&p.receipt, ACTOR, Timestamp::now())
                .await
            {
                Ok(d) => html(StatusCode::OK, &deactivated(&d), None),
                Err(e) => refusal_page(&st, e.into(), "", &p.receipt, &client),
            }
        }
        Ok(_) => refusal_page(
            &st,
            ApiError::bad_request(
                "paste a request (lor1.…) or a receipt (ldr1.…), or choose its file",
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
    let body = format!(
        "<div class=\"error\" role=\"alert\"><h2>That did not work</h2><p>{}</p></div>\n{}",
        escape(&e.message),
        forms(request, receipt)
    );
    html(e.status, &body, e.retry_after)
}

fn activated(seat: &OfflineSeat, request: &str) -> String {
    let what = if seat.new {
        format!(
            "This machine now holds seat {} of license {}.",
            seat.seat,
            escape(&seat.license)
        )
    } else {
        format!(
            "This machine already holds seat {} of license {}: here is its license again, with the newest validity.",
            seat.seat,
            escape(&seat.license)
        )
    };
    let transfer = if seat.transfer {
        "<p>Taking this seat counted as a device transfer.</p>"
    } else {
        ""
    };
    format!(
        r#"<h2>Activated</h2>
<p>{what}</p>{transfer}
<p>Install the license on the machine: download the file, or copy the text below into the application.</p>
<form method="post" action="/activate" enctype="multipart/form-data">
<input type="hidden" name="request" value="{request}">
<input type="hidden" name="download" value="1">
<button type="submit" id="download">Download the license file</button>
</form>
<label for="token">License for this machine</label>
<textarea id="token" readonly rows="8">{token}</textarea>
<p><a href="/activate">Activate another machine</a></p>"#,
        request = escape(request),
        token = escape(&seat.token),
    )
}

fn deactivated(d: &Deactivated) -> String {
    format!(
        r#"<h2>Seat given back</h2>
<p>Seat {} of license {} is free: another machine can be activated with it.</p>
<p>Device transfers in the last 365 days: {} of {}.</p>
<p><a href="/activate">Activate a machine</a></p>"#,
        d.seat,
        escape(&d.license),
        d.transfers.used,
        d.transfers.limit
    )
}

fn forms(request: &str, receipt: &str) -> String {
    format!(
        r#"<h2>Activate a machine without internet access</h2>
<p>Your application shows an activation request that starts with <code>lor1.</code>, or saves it to a file. Paste it or choose the file, then download the license file and install it on that machine.</p>
<form method="post" action="/activate" enctype="multipart/form-data">
<label for="request">Activation request</label>
<textarea id="request" name="request" rows="6" spellcheck="false" autocomplete="off">{request}</textarea>
<label for="request_file">or its file</label>
<input type="file" id="request_file" name="request_file">
<button type="submit" id="activate">Get the license</button>
</form>
<h2>Give a seat back</h2>
<p>When you move the software to another machine, the application gives a deactivation receipt that starts with <code>ldr1.</code>. Paste it or choose its file to free the seat.</p>
<form method="post" action="/activate" enctype="multipart/form-data">
<label for="receipt">Deactivation receipt</label>
<textarea id="receipt" name="receipt" rows="4" spellcheck="false" autocomplete="off">{receipt}</textarea>
<label for="receipt_file">or its file</label>
<input type="file" id="receipt_file" name="receipt_file">
<button type="submit" id="deactivate">Free the seat</button>
</form>"#,
        request = escape(request.trim()),
        receipt = escape(receipt.trim()),
    )
}

/// A whole page around `body`, with headers that keep it from loading anything or being framed.
fn html(status: StatusCode, body: &str, retry_after: Option<u32>) -> Response {
    let page = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>License activation</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #1a1a1a; background: #fff; }}
label {{ display: block; font-weight: 600; margin-top: 1rem; }}
textarea {{ width: 100%; font: 14px/1.4 ui-monospace, monospace; box-sizing: border-box; }}
button {{ margin-top: 1rem; padding: .5rem 1rem; font-size: 1rem; }}
:focus {{ outline: 3px solid #0b57d0; outline-offset: 2px; }}
.error {{ border: 2px solid #a50e0e; padding: .5rem 1rem; background: #fce8e6; }}
code {{ background: #f1f3f4; padding: 0 .2rem; }}
</style>
</head>
<body>
<main>
<h1>License activation</h1>
{body}
</main>
</body>
</html>
"#
    );
    let mut response = (status, page).into_response();
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

/// The license file: the token, as an attachment named after the license.
fn download(seat: &OfflineSeat) -> Response {
    let name: String = seat
        .license
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
    let mut response = (StatusCode::OK, format!("{}\n", seat.token)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"license-{name}.lic\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    crate::http::page_headers(h, CSP);
    response
}

/// Text made safe inside HTML elements and double-quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_leaves_no_markup() {
        let e = escape(r#"<script>alert("x")</script>&'"#);
        assert!(!e.contains('<') && !e.contains('>') && !e.contains('"') && !e.contains('\''));
        assert_eq!(escape("lor1.abc-_"), "lor1.abc-_");
    }
}
