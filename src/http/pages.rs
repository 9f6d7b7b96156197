//! What the public listener's pages share (`/activate`, the customer portal): the reader's
//! language, the switch between languages, cookies, rendering with the pages' headers, and
//! files handed out as downloads.

use askama::Template;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use crate::i18n::{LANG_COOKIE, Lang};

/// What the public pages may load: nothing but their inline style.
pub(crate) const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// How long the language switch is remembered: a year.
const LANG_COOKIE_SECS: u64 = 365 * 24 * 3600;

/// The reader's language, as an extractor: the switch's cookie, else `Accept-Language`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader(pub Lang);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Reader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Reader(lang_of(&parts.headers)))
    }
}

/// The language of a request's reader.
pub(crate) fn lang_of(headers: &HeaderMap) -> Lang {
    let cookie = cookie_value(headers, LANG_COOKIE);
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Lang::negotiate(cookie.as_deref(), accept)
}

/// The value of cookie `name`, if the request carries it.
pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The routes of the language switch: `GET /lang?to=zh-CN&back=/portal/`.
pub(super) fn router() -> Router<AppState> {
    Router::new().route("/lang", get(switch))
}

#[derive(Deserialize, Default)]
struct Switch {
    #[serde(default)]
    to: String,
    #[serde(default)]
    back: String,
}

/// Remembers the language chosen and goes back to the page it was chosen on. Only a page of
/// this listener is a way back, so the switch cannot send a reader elsewhere.
async fn switch(
    headers: HeaderMap,
    q: Result<Query<Switch>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let back = local_page(&q.back).unwrap_or("/portal/");
    let mut r = Redirect::to(back).into_response();
    if let Some(lang) = Lang::parse(&q.to) {
        let secure = if is_https(&headers) { "; Secure" } else { "" };
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age={LANG_COOKIE_SECS}{secure}",
            lang.tag()
        )) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

/// `back` when it is one of the public pages (`/activate`, `/portal/…`), else `None`.
pub(crate) fn local_page(back: &str) -> Option<&str> {
    let ok = (back == "/activate" || back == "/portal" || back.starts_with("/portal/"))
        && back.len() <= 200
        && back
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
        && !back.contains("//")
        && !back.contains("..");
    ok.then_some(back)
}

/// Whether the reader came over HTTPS: a TLS listener says so to a proxy in front of it, which
/// says `X-Forwarded-Proto: https`. A cookie marked `Secure` on a plain connection is only not
/// sent back, so believing the header costs nothing.
pub(crate) fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The switch's link for a page at `here`, in `lang`'s other language.
pub(crate) fn switch_href(lang: Lang, here: &str) -> String {
    format!("/lang?to={}&back={here}", lang.other().tag())
}

/// A rendered page with the public pages' headers: nothing cached, framed or loaded from
/// elsewhere.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    let body = match page.render() {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    super::page_headers(h, CSP);
    h.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    response
}

/// `text` as an attachment named `<what>-<license>.<ext>` (the id reduced to safe characters).
pub(crate) fn attachment(license: &str, what: &str, ext: &str, text: &str) -> Response {
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
    super::page_headers(h, CSP);
    response
}

/// The text fields of a page's `multipart/form-data` form (at most `max_fields`, each at most
/// `max_bytes`), in order; unknown fields are kept, as browsers add some. A file field's content
/// is its text.
pub(crate) async fn text_fields(
    form: Result<Multipart, MultipartRejection>,
    max_fields: usize,
    max_bytes: usize,
) -> Result<Vec<(String, String)>, ApiError> {
    let Ok(mut m) = form else {
        return Err(ApiError::bad_request(
            "the form must be sent as multipart/form-data (the page's own forms are)",
        ));
    };
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request(format!(
            "the form: {}",
            crate::logsafe::quoted_max(&e.body_text(), 120)
        ))
    };
    let mut out = Vec::new();
    while let Some(field) = m.next_field().await.map_err(unreadable)? {
        if out.len() >= max_fields {
            return Err(ApiError::bad_request("the form has too many fields"));
        }
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field.bytes().await.map_err(unreadable)?;
        if bytes.len() > max_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the field {} is longer than {max_bytes} bytes: is this the right file?",
                    crate::logsafe::quoted_max(&name, 40)
                ),
            ));
        }
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
            ApiError::bad_request("what the form carries is text; this file is not")
        })?;
        out.push((name, text));
    }
    Ok(out)
}

/// Field `name` of `fields`, empty when absent.
pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// What was pasted in field `text`, else the content of the file chosen in `file`, trimmed.
pub(crate) fn pasted_or_file(fields: &[(String, String)], text: &str, file: &str) -> String {
    let pasted = field(fields, text).trim();
    if pasted.is_empty() {
        field(fields, file).trim().to_string()
    } else {
        pasted.to_string()
    }
}

/// What a refusal says to a reader of `lang`: in English the sentence licd wrote (which names
/// the detail); in 简体中文 the catalog's sentence for its kind, then licd's sentence.
pub(crate) fn refusal_text(lang: Lang, e: &ApiError) -> String {
    match lang {
        Lang::En => e.message.clone(),
        // The catalog's sentence, and licd's own words after it: they name the detail (which
        // seat, which limit) that support will ask for.
        Lang::Zh => format!(
            "{}（{}）",
            crate::i18n::error_text(lang, e.error),
            e.message
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_goes_back_only_to_a_page_of_this_listener() {
        assert_eq!(local_page("/portal/"), Some("/portal/"));
        assert_eq!(
            local_page("/portal/seats/3/free"),
            Some("/portal/seats/3/free")
        );
        assert_eq!(local_page("/activate"), Some("/activate"));
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/portal/",
            "/portal//evil.example",
            "/portal/../admin",
            "/portal/\\evil",
            "/portal/?x=1",
            "/console/",
            "javascript:alert(1)",
            "/portal/%2f%2fevil",
        ] {
            assert_eq!(local_page(bad), None, "{bad}");
        }
    }
}
