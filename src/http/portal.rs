//! The customer portal on the public listener, `/portal/`: plain HTML without JavaScript, in
//! English or 简体中文 (`crate::i18n`), with the headers of `/activate`.
//!
//! - **Sign-in** (`GET`/`POST /portal/login`, field `license`, or the file in `license_file`):
//!   with what the customer already holds, a license token or a License 2.0 code; what each
//!   opens is `service::portal`. The form carries a double-submit token (`csrf_login`, matched
//!   against a short-lived cookie); attempts are limited per client address
//!   ([`LOGIN_BUDGET`]), and refusals reach the log rate-limited, never with what was pasted.
//! - **The session** is a cookie (`HttpOnly; SameSite=Strict; Path=/portal`, `Secure` over
//!   HTTPS) holding the license, the part of it opened and an expiry an hour on, sealed with an
//!   HMAC key derived from the signing key, so every node of a cluster reads it and nobody can
//!   make one. Signing out records the session's id in the store until it would have expired,
//!   so a copied cookie stops working on every node too. Every page checks the license again:
//!   a reissue, a revocation or a seat given up ends the session.
//! - **Actions** are POST forms behind a confirmation page, each with the session's `csrf`
//!   token: give a seat back (`/portal/seats/{seat}/free`), download the license file
//!   (`/portal/license`), and the offline request and receipt exchange (`/portal/exchange`).
//!   Each is audited as `portal:<license>`.

use std::time::Instant;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use client_verifier::Timestamp;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::pages::{
    Reader, attachment, cookie_value, field, is_https, pasted_or_file, refusal_text, render,
    switch_href, text_fields,
};
use super::{AppState, Client};
use crate::i18n::Lang;
use crate::license::Status;
use crate::ratelimit::{Budget, ClientLimits};
use crate::service::{PortalAccess, PortalScope, PortalView, ServiceError};

const SESSION_COOKIE: &str = "licd_portal";
const LOGIN_COOKIE: &str = "licd_portal_login";
/// A session lasts an hour.
const SESSION_SECS: i64 = 3600;
/// The most a sign-in field may hold: a license file is a token and a line or two.
const MAX_FIELD_BYTES: usize = 16 * 1024;

/// Sign-in attempts per client address: a few typing mistakes, then one a minute; a code is
/// about 2^100 guesses, a token unforgeable, so this bounds the log and the work, not the odds.
pub const LOGIN_BUDGET: Budget = Budget {
    burst: 10,
    every: std::time::Duration::from_secs(60),
};
/// Sign-in attempts from everyone together.
const LOGIN_TOTAL: Budget = Budget {
    burst: 200,
    every: std::time::Duration::from_millis(50),
};

/// The portal's session seal and sign-in limits, shared by the handlers.
#[derive(Debug)]
pub struct Portal {
    key: [u8; 32],
    logins: ClientLimits,
    /// Cookies get `Secure` when the public listener speaks TLS (or a proxy says HTTPS).
    secure: bool,
}

impl Portal {
    /// Sessions sealed with `key` (`Service::portal_secret`); `secure` when the public
    /// listener has TLS.
    pub fn new(key: [u8; 32], secure: bool) -> Self {
        Portal {
            key,
            logins: ClientLimits::new(LOGIN_BUDGET, LOGIN_TOTAL),
            secure,
        }
    }

    fn seal(&self, s: &Session) -> String {
        let payload = base64_url(&serde_json::to_vec(s).unwrap_or_default());
        let mac =
            crate::crypto::hmac_sha256(&self.key, &[b"licd-portal-session\0", payload.as_bytes()]);
        format!("{payload}.{}", crate::crypto::hex(&mac))
    }

    fn open(&self, cookie: &str, now: Timestamp) -> Option<Session> {
        let (payload, mac) = cookie.split_once('.')?;
        let expected =
            crate::crypto::hmac_sha256(&self.key, &[b"licd-portal-session\0", payload.as_bytes()]);
        if !crate::crypto::ct_eq(crate::crypto::hex(&expected).as_bytes(), mac.as_bytes()) {
            return None;
        }
        let bytes = base64_url_decode(payload)?;
        let s: Session = serde_json::from_slice(&bytes).ok()?;
        (s.exp > now.unix()).then_some(s)
    }

    fn csrf(&self, sid: &str) -> String {
        let mac = crate::crypto::hmac_sha256(&self.key, &[b"licd-portal-csrf\0", sid.as_bytes()]);
        crate::crypto::hex(&mac[..16])
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn base64_url_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

/// What the session cookie carries (sealed, so the customer cannot change it).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    /// The session's random id (sign-out records it).
    sid: String,
    license: String,
    /// `license`, `seat:N` or `device:<request id>`.
    scope: String,
    revision: Option<u32>,
    /// Unix seconds.
    exp: i64,
}

impl Session {
    fn access(&self) -> Option<PortalAccess> {
        let scope = match self.scope.split_once(':') {
            None if self.scope == "license" => PortalScope::License,
            Some(("seat", n)) => PortalScope::Seat(n.parse().ok()?),
            Some(("device", id)) => PortalScope::Device(id.to_string()),
            _ => return None,
        };
        Some(PortalAccess {
            license: self.license.clone(),
            scope,
            revision: self.revision,
        })
    }
}

fn scope_text(scope: &PortalScope) -> String {
    match scope {
        PortalScope::License => "license".into(),
        PortalScope::Seat(n) => format!("seat:{n}"),
        PortalScope::Device(id) => format!("device:{id}"),
    }
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/portal", get(|| async { Redirect::to("/portal/") }))
        .route("/portal/", get(home))
        .route("/portal/login", get(login_page).post(login))
        .route("/portal/logout", post(logout))
        .route(
            "/portal/seats/{seat}/free",
            get(confirm_free).post(free_seat),
        )
        .route("/portal/license", get(confirm_download).post(download))
        .route("/portal/exchange", get(exchange_page).post(exchange))
}

// ---- cookies and sessions ----

fn cookie(
    st: &AppState,
    headers: &HeaderMap,
    name: &str,
    value: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = if st.portal.secure || is_https(headers) {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/portal; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn random_token() -> Option<String> {
    crate::crypto::random_bytes::<32>()
        .ok()
        .map(|b| crate::crypto::hex(&b))
}

/// The signed-in customer: the session in the cookie, not signed out.
async fn session(st: &AppState, headers: &HeaderMap) -> Option<(Session, PortalAccess)> {
    let raw = cookie_value(headers, SESSION_COOKIE)?;
    let s = st.portal.open(&raw, Timestamp::now())?;
    let access = s.access()?;
    match st.service.portal_signed_out(&s.sid, Timestamp::now()).await {
        Ok(false) => Some((s, access)),
        Ok(true) => None,
        Err(e) => {
            tracing::warn!(error = %e, "could not check a portal session against sign-outs");
            None
        }
    }
}

/// The signed-in customer whose form carries the session's `csrf` token; otherwise the page
/// that says nothing was done.
#[allow(clippy::result_large_err)]
async fn actor(
    st: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    csrf: &str,
) -> Result<(Session, PortalAccess), Response> {
    let Some((s, access)) = session(st, headers).await else {
        return Err(login_form(
            st,
            headers,
            lang,
            StatusCode::FORBIDDEN,
            &lang.t("portal-error-session"),
        ));
    };
    if !crate::crypto::ct_eq(st.portal.csrf(&s.sid).as_bytes(), csrf.as_bytes()) {
        return Err(message_page(
            lang,
            StatusCode::FORBIDDEN,
            &lang.t("portal-error-csrf"),
            Some(&st.portal.csrf(&s.sid)),
        ));
    }
    Ok((s, access))
}

/// The license as the session sees it, or the sign-in page saying why the session ended.
#[allow(clippy::result_large_err)]
async fn view_of(
    st: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    access: &PortalAccess,
) -> Result<PortalView, Response> {
    match st.service.portal_view(access, Timestamp::now()).await {
        Ok(v) => Ok(v),
        Err(ServiceError::Store(e)) => {
            tracing::error!(error = %e, "store failure on a portal page");
            Err(message_page(
                lang,
                StatusCode::SERVICE_UNAVAILABLE,
                &crate::i18n::error_text(lang, "unavailable"),
                None,
            ))
        }
        Err(e) => {
            let e = ApiError::from(e);
            let mut r = login_form(
                st,
                headers,
                lang,
                StatusCode::OK,
                &lang.t1("portal-ended", "reason", refusal_text(lang, &e)),
            );
            r.headers_mut().append(
                header::SET_COOKIE,
                cookie(st, headers, SESSION_COOKIE, "", 0),
            );
            Err(r)
        }
    }
}

// ---- the frame every page shares ----

/// What every portal page's frame shows.
struct Chrome {
    l: Lang,
    /// The switch's link to this page in the other language.
    switch: String,
    /// The sign-out form's token, when signed in.
    csrf: Option<String>,
}

impl Chrome {
    fn new(l: Lang, here: &str, csrf: Option<&str>) -> Self {
        Chrome {
            l,
            switch: switch_href(l, here),
            csrf: csrf.map(str::to_string),
        }
    }
}

#[derive(Template)]
#[template(path = "portal/login.html")]
struct LoginPage {
    c: Chrome,
    l: Lang,
    login_csrf: String,
    error: String,
}

fn login_form(
    st: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    error: &str,
) -> Response {
    let Some(token) = random_token() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let page = LoginPage {
        c: Chrome::new(lang, "/portal/login", None),
        l: lang,
        login_csrf: token.clone(),
        error: error.to_string(),
    };
    let mut r = render(status, &page);
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie(st, headers, LOGIN_COOKIE, &token, 600),
    );
    r
}

#[derive(Template)]
#[template(path = "portal/message.html")]
struct MessagePage {
    c: Chrome,
    l: Lang,
    message: String,
}

fn message_page(lang: Lang, status: StatusCode, message: &str, csrf: Option<&str>) -> Response {
    render(
        status,
        &MessagePage {
            c: Chrome::new(lang, "/portal/", csrf),
            l: lang,
            message: message.to_string(),
        },
    )
}

// ---- sign-in and sign-out ----

async fn login_page(
    State(st): State<AppState>,
    Reader(lang): Reader,
    headers: HeaderMap,
) -> Response {
    if session(&st, &headers).await.is_some() {
        return Redirect::to("/portal/").into_response();
    }
    st.metrics.client("portal_login", 200);
    login_form(&st, &headers, lang, StatusCode::OK, "")
}

async fn login(
    State(st): State<AppState>,
    Reader(lang): Reader,
    client: Client,
    headers: HeaderMap,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let response = login_inner(&st, lang, &client, &headers, form).await;
    st.metrics
        .client("portal_login", response.status().as_u16());
    response
}

async fn login_inner(
    st: &AppState,
    lang: Lang,
    client: &Client,
    headers: &HeaderMap,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let fields = match text_fields(form, 8, MAX_FIELD_BYTES).await {
        Ok(f) => f,
        Err(e) => {
            let text = refusal_text(lang, &e);
            return login_form(st, headers, lang, e.status, &text);
        }
    };
    let expected = cookie_value(headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty()
        || !crate::crypto::ct_eq(expected.as_bytes(), field(&fields, "csrf_login").as_bytes())
    {
        return login_form(
            st,
            headers,
            lang,
            StatusCode::FORBIDDEN,
            &lang.t("portal-error-login-csrf"),
        );
    }
    if let Some(ip) = client.ip
        && let Err(wait) = st.portal.logins.check(ip)
    {
        refused_in_log(st, "too_many_requests", client);
        let mut r = login_form(
            st,
            headers,
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            &lang.t1("portal-error-too-many", "seconds", u64::from(wait)),
        );
        r.headers_mut().insert(header::RETRY_AFTER, wait.into());
        return r;
    }
    let credential = pasted_or_file(&fields, "license", "license_file");
    let now = Timestamp::now();
    let access = match st.service.portal_sign_in(&credential, now).await {
        Ok(a) => a,
        Err(e) => {
            let e = ApiError::from(e);
            refused_in_log(st, e.error, client);
            let status = if e.status == StatusCode::BAD_REQUEST {
                StatusCode::UNAUTHORIZED
            } else {
                e.status
            };
            let text = match e.error {
                "invalid" => lang.t("portal-error-not-opened"),
                _ => refusal_text(lang, &e),
            };
            return login_form(st, headers, lang, status, &text);
        }
    };
    let Some(sid) = random_token() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    if let Err(e) = st
        .service
        .portal_audit(&access, "portal-sign-in", now)
        .await
    {
        let e = ApiError::from(e);
        return login_form(st, headers, lang, e.status, &refusal_text(lang, &e));
    }
    let s = Session {
        sid,
        license: access.license.clone(),
        scope: scope_text(&access.scope),
        revision: access.revision,
        exp: now.unix() + SESSION_SECS,
    };
    tracing::info!(license = %access.license, scope = %s.scope, client = %client.label, "customer signed in to the portal");
    let mut r = Redirect::to("/portal/").into_response();
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookie(
            st,
            headers,
            SESSION_COOKIE,
            &st.portal.seal(&s),
            SESSION_SECS,
        ),
    );
    h.append(header::SET_COOKIE, cookie(st, headers, LOGIN_COOKIE, "", 0));
    r
}

/// One log line per refused sign-in, rate-limited; it names the kind and the address, never
/// what was pasted.
fn refused_in_log(st: &AppState, error: &str, client: &Client) {
    if let Some(suppressed) = st.refusals.admit(Instant::now()) {
        tracing::info!(route = "portal_login", error, client = %client.label, suppressed, "portal sign-in refused");
    }
}

#[derive(Deserialize, Default)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// A signed-in customer's form POST carrying the session's `csrf` token, as an extractor
/// (last, as it reads the body); otherwise the page that says nothing was done.
struct Acting {
    s: Session,
    access: PortalAccess,
    lang: Lang,
    headers: HeaderMap,
    csrf: String,
}

impl axum::extract::FromRequest<AppState> for Acting {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, st: &AppState) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let lang = super::pages::lang_of(&headers);
        let csrf = Form::<CsrfForm>::from_request(req, st)
            .await
            .map(|Form(f)| f.csrf)
            .unwrap_or_default();
        let (s, access) = actor(st, &headers, lang, &csrf).await?;
        Ok(Acting {
            s,
            access,
            lang,
            headers,
            csrf,
        })
    }
}

async fn logout(State(st): State<AppState>, acting: Acting) -> Response {
    let Acting {
        s,
        access,
        lang,
        headers,
        csrf,
    } = acting;
    let now = Timestamp::now();
    if let Err(e) = st
        .service
        .portal_sign_out(&s.sid, Timestamp::from_unix(s.exp))
        .await
    {
        let e = ApiError::from(e);
        return message_page(lang, e.status, &refusal_text(lang, &e), Some(&csrf));
    }
    if let Err(e) = st
        .service
        .portal_audit(&access, "portal-sign-out", now)
        .await
    {
        tracing::warn!(error = %e, "could not record a portal sign-out in the audit log");
    }
    let mut r = login_form(
        &st,
        &headers,
        lang,
        StatusCode::OK,
        &lang.t("portal-signed-out"),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie(&st, &headers, SESSION_COOKIE, "", 0),
    );
    r
}

/// A signed-in customer's page view, as an extractor: the session and the license as it sees
/// it now; otherwise the sign-in page (no session), or the page that says why the session
/// ended.
struct Viewing {
    s: Session,
    access: PortalAccess,
    view: PortalView,
    lang: Lang,
    csrf: String,
}

impl axum::extract::FromRequestParts<AppState> for Viewing {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        st: &AppState,
    ) -> Result<Self, Response> {
        let headers = &parts.headers;
        let lang = super::pages::lang_of(headers);
        let Some((s, access)) = session(st, headers).await else {
            return Err(Redirect::to("/portal/login").into_response());
        };
        let view = view_of(st, headers, lang, &access).await?;
        let csrf = st.portal.csrf(&s.sid);
        Ok(Viewing {
            s,
            access,
            view,
            lang,
            csrf,
        })
    }
}

// ---- the license ----

/// A seat as the page lists it.
struct SeatRow {
    seat: u32,
    held: bool,
    how: String,
    taken: String,
    freed: String,
    last_seen: String,
    may_free: bool,
}

/// A device license (online activation) as the page lists it.
struct DeviceRow {
    taken: String,
    until: String,
    held: bool,
}

/// A floating lease as the page lists it.
struct LeaseRow {
    instance: String,
    seat: u32,
    until: String,
    borrowed: bool,
}

/// A site server as the page lists it.
struct SiteRow {
    id: String,
    seats: u32,
    until: String,
}

#[derive(Template)]
#[template(path = "portal/home.html")]
struct Home {
    c: Chrome,
    l: Lang,
    license: String,
    product: String,
    edition: String,
    status: String,
    status_class: &'static str,
    valid_from: String,
    valid_until: String,
    perpetual: bool,
    freeze_days: i64,
    freeze_until: String,
    whole: bool,
    seats_sold: u32,
    seats_held: usize,
    seats: Vec<SeatRow>,
    devices: Vec<DeviceRow>,
    transfers_used: u32,
    transfers_limit: u32,
    transfers_left: u32,
    floating: bool,
    leases: Vec<LeaseRow>,
    sites: Vec<SiteRow>,
    download: bool,
    notice: String,
}

#[derive(Deserialize, Default)]
struct HomeQuery {
    #[serde(default)]
    freed: Option<u32>,
}

async fn home(
    State(st): State<AppState>,
    q: Result<axum::extract::Query<HomeQuery>, axum::extract::rejection::QueryRejection>,
    Viewing {
        s,
        access,
        view: v,
        lang,
        ..
    }: Viewing,
) -> Response {
    let notice = match q.ok().and_then(|q| q.0.freed) {
        Some(n) => lang.t1("portal-freed-notice", "seat", n),
        None => String::new(),
    };
    st.metrics.client("portal_home", 200);
    render(
        StatusCode::OK,
        &home_page(&st, lang, &s, &access, &v, notice),
    )
}

fn home_page(
    st: &AppState,
    l: Lang,
    s: &Session,
    access: &PortalAccess,
    v: &PortalView,
    notice: String,
) -> Home {
    let lic = &v.license;
    let now = Timestamp::now();
    let whole = access.scope == PortalScope::License;
    let may_give_back = v.transfers.may_give_back();
    let seats = v
        .seats
        .iter()
        .map(|a| SeatRow {
            seat: a.seat,
            held: a.revoked.is_none(),
            how: l.t(match (a.device_key.is_some(), a.transfer) {
                (true, true) => "portal-how-offline-transfer",
                (true, false) => "portal-how-offline",
                (false, true) => "portal-how-online-transfer",
                (false, false) => "portal-how-online",
            }),
            taken: l.time(a.created),
            freed: a.revoked.map(|t| l.time(t)).unwrap_or_default(),
            last_seen: a
                .reported_day
                .map(|d| l.date(Timestamp::from_unix(d * client_verifier::DAY)))
                .unwrap_or_else(|| l.t("portal-not-recorded")),
            may_free: a.revoked.is_none() && may_give_back && lic.status != Status::Released,
        })
        .collect();
    let devices = v
        .devices
        .iter()
        .map(|d| DeviceRow {
            taken: l.time(d.created),
            until: until_text(l, d.exp),
            held: d.revoked.is_none(),
        })
        .collect();
    let leases = v
        .leases
        .iter()
        .map(|x| LeaseRow {
            instance: crate::logsafe::quoted_max(&x.instance, 64)
                .trim_matches('"')
                .to_string(),
            seat: x.seat,
            until: l.time(x.expires),
            borrowed: x.borrowed,
        })
        .collect();
    let sites = if whole {
        lic.sites
            .iter()
            .filter(|site| site.holds_seats(now))
            .map(|site| SiteRow {
                id: site.id.clone(),
                seats: site.seats,
                until: l.time(site.expires),
            })
            .collect()
    } else {
        Vec::new()
    };
    let perpetual = lic.exp >= crate::license::PERPETUAL;
    let (status, status_class) = match lic.status {
        Status::Active if lic.exp <= now => ("portal-status-expired", "bad"),
        Status::Active => ("portal-status-active", "good"),
        Status::Frozen => ("portal-status-frozen", "warn"),
        Status::Released => ("portal-status-released", "bad"),
    };
    let freeze_days = (v.freeze_until.unix() - lic.exp.unix()) / client_verifier::DAY;
    Home {
        c: Chrome::new(l, "/portal/", Some(&st.portal.csrf(&s.sid))),
        l,
        license: lic.id.clone(),
        product: lic.product.clone(),
        edition: v.edition.clone().unwrap_or_default(),
        status: l.t(status),
        status_class,
        valid_from: l.time(lic.nbf),
        valid_until: until_text(l, lic.exp),
        perpetual,
        freeze_days,
        freeze_until: l.time(v.freeze_until),
        whole,
        seats_sold: lic.quantity,
        seats_held: v.seats.iter().filter(|a| a.revoked.is_none()).count(),
        seats,
        devices,
        transfers_used: v.transfers.used,
        transfers_limit: v.transfers.limit,
        transfers_left: v
            .transfers
            .limit
            .saturating_sub(v.transfers.used.saturating_add(v.transfers.pending)),
        floating: lic.floating.is_some(),
        leases,
        sites,
        download: v.download,
        notice,
    }
}

fn until_text(l: Lang, t: Timestamp) -> String {
    if t >= crate::license::PERPETUAL {
        l.t("portal-perpetual")
    } else {
        l.time(t)
    }
}

// ---- giving a seat back ----

#[derive(Template)]
#[template(path = "portal/confirm.html")]
struct Confirm {
    c: Chrome,
    l: Lang,
    csrf: String,
    title: String,
    lines: Vec<String>,
    action: String,
    button: String,
}

async fn confirm_free(
    Path(seat): Path<String>,
    Viewing {
        access,
        view: v,
        lang,
        csrf,
        ..
    }: Viewing,
) -> Response {
    let held = seat
        .parse::<u32>()
        .ok()
        .and_then(|n| v.seats.iter().find(|a| a.seat == n && a.revoked.is_none()));
    let Some(a) = held else {
        return message_page(
            lang,
            StatusCode::NOT_FOUND,
            &lang.t("portal-error-no-seat"),
            Some(&csrf),
        );
    };
    let t = v.transfers;
    let mut lines = vec![
        lang.t2(
            "portal-free-what",
            "seat",
            a.seat,
            "taken",
            lang.time(a.created),
        ),
        lang.t("portal-free-stops"),
    ];
    if t.may_give_back() {
        lines.push(lang.t2(
            "portal-free-transfer",
            "used",
            t.used + t.pending + 1,
            "limit",
            t.limit,
        ));
    } else {
        lines.push(lang.t2("portal-free-no-transfers", "used", t.used, "limit", t.limit));
    }
    if matches!(access.scope, PortalScope::Seat(_)) {
        lines.push(lang.t("portal-free-own-seat"));
    }
    let page = Confirm {
        c: Chrome::new(lang, &format!("/portal/seats/{}/free", a.seat), Some(&csrf)),
        l: lang,
        csrf,
        title: lang.t1("portal-free-title", "seat", a.seat),
        lines,
        action: format!("/portal/seats/{}/free", a.seat),
        button: lang.t("portal-free-button"),
    };
    render(StatusCode::OK, &page)
}

async fn free_seat(
    State(st): State<AppState>,
    Path(seat): Path<String>,
    acting: Acting,
) -> Response {
    let Acting {
        s,
        access,
        lang,
        headers,
        csrf,
    } = acting;
    let Ok(seat) = seat.parse::<u32>() else {
        return message_page(
            lang,
            StatusCode::NOT_FOUND,
            &lang.t("portal-error-no-seat"),
            Some(&csrf),
        );
    };
    match st
        .service
        .portal_free_seat(&access, seat, Timestamp::now())
        .await
    {
        Ok(_) if matches!(access.scope, PortalScope::Seat(_)) => {
            // The seat that opened the session is given up: so is the session.
            if let Err(e) = st
                .service
                .portal_sign_out(&s.sid, Timestamp::from_unix(s.exp))
                .await
            {
                tracing::warn!(error = %e, "could not record the end of a portal session");
            }
            let mut r = message_page(
                lang,
                StatusCode::OK,
                &lang.t1("portal-freed-own", "seat", seat),
                None,
            );
            r.headers_mut().append(
                header::SET_COOKIE,
                cookie(&st, &headers, SESSION_COOKIE, "", 0),
            );
            r
        }
        Ok(_) => Redirect::to(&format!("/portal/?freed={seat}")).into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            let text = match e.error {
                "not_found" => lang.t("portal-error-no-seat"),
                _ => refusal_text(lang, &e),
            };
            message_page(lang, e.status, &text, Some(&csrf))
        }
    }
}

// ---- the license file ----

async fn confirm_download(
    Viewing {
        access,
        view: v,
        lang,
        csrf,
        ..
    }: Viewing,
) -> Response {
    if !v.download {
        return message_page(
            lang,
            StatusCode::NOT_FOUND,
            &lang.t("portal-no-file"),
            Some(&csrf),
        );
    }
    let what = match access.scope {
        PortalScope::License => lang.t("portal-download-unbound"),
        _ => lang.t("portal-download-bound"),
    };
    let page = Confirm {
        c: Chrome::new(lang, "/portal/license", Some(&csrf)),
        l: lang,
        csrf,
        title: lang.t("portal-download-title"),
        lines: vec![what, lang.t("portal-download-install")],
        action: "/portal/license".into(),
        button: lang.t("portal-download-button"),
    };
    render(StatusCode::OK, &page)
}

async fn download(State(st): State<AppState>, acting: Acting) -> Response {
    let Acting {
        access, lang, csrf, ..
    } = acting;
    match st
        .service
        .portal_license_file(&access, Timestamp::now())
        .await
    {
        Ok(Some(token)) => attachment(&access.license, "license", "lic", &token),
        Ok(None) => message_page(
            lang,
            StatusCode::NOT_FOUND,
            &lang.t("portal-no-file"),
            Some(&csrf),
        ),
        Err(e) => {
            let e = ApiError::from(e);
            message_page(lang, e.status, &refusal_text(lang, &e), Some(&csrf))
        }
    }
}

// ---- the offline exchange, signed in ----

#[derive(Template)]
#[template(path = "portal/exchange.html")]
struct Exchange {
    c: Chrome,
    l: Lang,
    csrf: String,
    license: String,
    error: String,
    token: String,
    request: String,
    done: String,
}

async fn exchange_page(
    Viewing {
        access, lang, csrf, ..
    }: Viewing,
) -> Response {
    if access.scope != PortalScope::License {
        return message_page(
            lang,
            StatusCode::FORBIDDEN,
            &lang.t("portal-exchange-whole-only"),
            Some(&csrf),
        );
    }
    render(
        StatusCode::OK,
        &exchange_view(
            lang,
            csrf,
            &access.license,
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ),
    )
}

#[allow(clippy::too_many_arguments)]
fn exchange_view(
    l: Lang,
    csrf: String,
    license: &str,
    error: String,
    token: String,
    request: String,
    done: String,
) -> Exchange {
    Exchange {
        c: Chrome::new(l, "/portal/exchange", Some(&csrf)),
        l,
        csrf,
        license: license.to_string(),
        error,
        token,
        request,
        done,
    }
}

async fn exchange(
    State(st): State<AppState>,
    Reader(lang): Reader,
    client: Client,
    headers: HeaderMap,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let fields = match text_fields(form, 8, MAX_FIELD_BYTES).await {
        Ok(f) => f,
        Err(e) => return message_page(lang, e.status, &refusal_text(lang, &e), None),
    };
    let (s, access) = match actor(&st, &headers, lang, field(&fields, "csrf")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let csrf = st.portal.csrf(&s.sid);
    if access.scope != PortalScope::License {
        return message_page(
            lang,
            StatusCode::FORBIDDEN,
            &lang.t("portal-exchange-whole-only"),
            Some(&csrf),
        );
    }
    let request = pasted_or_file(&fields, "request", "request_file");
    let receipt = pasted_or_file(&fields, "receipt", "receipt_file");
    let actor_name = access.actor();
    let now = Timestamp::now();
    let refuse = |e: ApiError, request: String| {
        if let Some(suppressed) = st.refusals.admit(Instant::now()) {
            tracing::info!(route = "portal_exchange", error = e.error, client = %client.label, suppressed, "portal exchange refused");
        }
        render(
            e.status,
            &exchange_view(
                lang,
                csrf.clone(),
                &access.license,
                refusal_text(lang, &e),
                String::new(),
                request,
                String::new(),
            ),
        )
    };
    let other_license = || {
        ApiError::bad_request(
            "this request or receipt is for another license than the one you signed in with",
        )
    };
    if !request.is_empty() {
        match client_verifier::offline::Request::open(&request) {
            Ok(r) if r.license() == access.license => {}
            Ok(_) => return refuse(other_license(), request.clone()),
            Err(e) => {
                return refuse(
                    ApiError::bad_request(format!("request: {e}")),
                    request.clone(),
                );
            }
        }
        return match st
            .service
            .offline_activate(
                &request,
                &crate::accounts::Principal::customer(actor_name.clone()),
                now,
            )
            .await
        {
            Ok(seat) if field(&fields, "download") == "1" => {
                attachment(&seat.license, "license", "lic", &seat.token)
            }
            Ok(seat) => render(
                StatusCode::OK,
                &exchange_view(
                    lang,
                    csrf.clone(),
                    &access.license,
                    String::new(),
                    seat.token.clone(),
                    request.clone(),
                    lang.t1("portal-exchange-activated", "seat", seat.seat),
                ),
            ),
            Err(e) => refuse(e.into(), request.clone()),
        };
    }
    if !receipt.is_empty() {
        match client_verifier::offline::Receipt::open(&receipt) {
            Ok(r) if r.license() == access.license => {}
            Ok(_) => return refuse(other_license(), String::new()),
            Err(e) => {
                return refuse(
                    ApiError::bad_request(format!("receipt: {e}")),
                    String::new(),
                );
            }
        }
        return match st
            .service
            .offline_deactivate(
                &receipt,
                &crate::accounts::Principal::customer(actor_name.clone()),
                now,
            )
            .await
        {
            Ok(d) => render(
                StatusCode::OK,
                &exchange_view(
                    lang,
                    csrf.clone(),
                    &access.license,
                    String::new(),
                    String::new(),
                    String::new(),
                    lang.t3(
                        "portal-exchange-deactivated",
                        "seat",
                        d.seat,
                        "used",
                        d.transfers.used + d.transfers.pending,
                        "limit",
                        d.transfers.limit,
                    ),
                ),
            ),
            Err(e) => refuse(e.into(), String::new()),
        };
    }
    refuse(
        ApiError::bad_request("paste a request (lor1.…) or a receipt (ldr1.…), or choose its file"),
        String::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_escapes_what_came_from_a_customer_or_the_marketplace_in_both_languages() {
        let hostile = r#"</td><script>alert("x")</script>"><img src=x onerror=y>&'"#;
        for l in Lang::ALL {
            let home = Home {
                c: Chrome::new(l, "/portal/", Some(hostile)),
                l,
                license: hostile.into(),
                product: hostile.into(),
                edition: hostile.into(),
                status: hostile.into(),
                status_class: "good",
                valid_from: hostile.into(),
                valid_until: hostile.into(),
                perpetual: false,
                freeze_days: 15,
                freeze_until: hostile.into(),
                whole: true,
                seats_sold: 2,
                seats_held: 1,
                seats: vec![SeatRow {
                    seat: 0,
                    held: false,
                    how: hostile.into(),
                    taken: hostile.into(),
                    freed: hostile.into(),
                    last_seen: hostile.into(),
                    may_free: false,
                }],
                devices: vec![DeviceRow {
                    taken: hostile.into(),
                    until: hostile.into(),
                    held: true,
                }],
                transfers_used: 0,
                transfers_limit: 3,
                transfers_left: 3,
                floating: true,
                leases: vec![LeaseRow {
                    instance: hostile.into(),
                    seat: 1,
                    until: hostile.into(),
                    borrowed: true,
                }],
                sites: vec![SiteRow {
                    id: hostile.into(),
                    seats: 1,
                    until: hostile.into(),
                }],
                download: true,
                notice: hostile.into(),
            };
            let pages = [
                home.render().unwrap(),
                exchange_view(
                    l,
                    hostile.into(),
                    hostile,
                    hostile.into(),
                    hostile.into(),
                    hostile.into(),
                    hostile.into(),
                )
                .render()
                .unwrap(),
                MessagePage {
                    c: Chrome::new(l, "/portal/", None),
                    l,
                    message: hostile.into(),
                }
                .render()
                .unwrap(),
                LoginPage {
                    c: Chrome::new(l, "/portal/login", None),
                    l,
                    login_csrf: hostile.into(),
                    error: hostile.into(),
                }
                .render()
                .unwrap(),
            ];
            for html in pages {
                assert!(
                    !html.contains("<script>")
                        && !html.contains("<img")
                        && !html.contains("</td><script"),
                    "{html}"
                );
                assert!(html.contains("&lt;script&gt;"), "{html}");
            }
        }
    }

    #[test]
    fn a_session_cookie_cannot_be_made_or_changed_without_the_key() {
        let p = Portal::new([7; 32], false);
        let now = Timestamp::parse_rfc3339("2027-01-01T00:00:00Z").unwrap();
        let s = Session {
            sid: "a".repeat(64),
            license: "LIC-A".into(),
            scope: "seat:2".into(),
            revision: Some(1),
            exp: now.unix() + 60,
        };
        let sealed = p.seal(&s);
        let opened = p.open(&sealed, now).unwrap();
        assert_eq!(opened.access().unwrap().scope, PortalScope::Seat(2));
        // Another license's id, or the whole license, in the same payload: the MAC no longer
        // matches.
        let (payload, mac) = sealed.split_once('.').unwrap();
        let mut forged = s.clone();
        forged.scope = "license".into();
        let forged_payload = base64_url(&serde_json::to_vec(&forged).unwrap());
        assert!(p.open(&format!("{forged_payload}.{mac}"), now).is_none());
        assert!(
            p.open(&format!("{payload}.{}", "0".repeat(64)), now)
                .is_none()
        );
        // Another key (another server) does not open it; nor does time past its expiry.
        assert!(Portal::new([8; 32], false).open(&sealed, now).is_none());
        assert!(p.open(&sealed, now.add_secs(61)).is_none());
        // CSRF tokens are per session.
        assert_ne!(p.csrf("a"), p.csrf("b"));
    }
}
