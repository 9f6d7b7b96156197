//! The web console on the admin listener, `/console/`: server-rendered HTML (askama templates
//! in `templates/console/`, compiled into the binary with the stylesheet), no JavaScript, no
//! request to anywhere else.
//!
//! - **Sign-in**: `GET`/`POST /console/login` with the admin token (compared in constant time,
//!   wrong ones slowed down like the admin API) and a name for the audit log. The session is a
//!   random id in an `HttpOnly; SameSite=Strict` cookie scoped to `/console`, `Secure` when the
//!   admin listener has TLS, expiring after 8 hours; sessions live in this process's memory
//!   (a restart signs everyone out).
//! - **CSRF**: every form carries the session's token in a hidden `csrf` field and every POST
//!   checks it; the sign-in form uses a double-submit token (`csrf_login`, matched against a
//!   short-lived cookie).
//! - **Pages**: dashboard, license search and detail (seats, audit timeline with its links
//!   checked), confirmations for reissue, revoke and freeing a seat, the outbox with retries, the
//!   product catalog. Every action goes through the service with the console user as actor.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use client_verifier::Timestamp;
use serde::Deserialize;

use super::AdminState;
use super::licenses::{SCAN_BUDGET, parse_status};
use crate::accounts::Principal;
use crate::http::error::ApiError;
use crate::http::pages::{cookie_value, lang_of, refusal_text};
use crate::i18n::Lang;

const SESSION_COOKIE: &str = "licd_console";
const LOGIN_COOKIE: &str = "licd_console_login";
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Sessions kept at once; the oldest goes when a new one would exceed it.
const MAX_SESSIONS: usize = 256;
const PAGE: usize = 50;

/// Signed-in console users of this process, and the operator's sign-in policy.
#[derive(Debug)]
pub struct ConsoleSessions {
    sessions: Mutex<HashMap<String, Session>>,
    /// Cookies get `Secure` when the admin listener speaks TLS.
    secure: bool,
    /// Whether the shared admin token signs in to the console (`console_token_sign_in`).
    token_sign_in: bool,
    /// Whether every account must have a second factor (`console_require_totp`): one without
    /// sees only its account page, to turn it on.
    require_totp: bool,
}

#[derive(Debug, Clone)]
struct Session {
    /// Who, as the service checks it (for an account, read again on every request).
    principal: Principal,
    /// An account's session: its name and generation, checked against the accounts on every
    /// request (a disable or reset ends it on every node). `None`: the shared admin token.
    account: Option<(String, u32)>,
    csrf: String,
    expires: Instant,
    /// When it began, for the account page's list.
    started: Timestamp,
    /// The account must turn on its second factor before anything else.
    needs_totp: bool,
    /// The language of the request the session was looked up for (not kept).
    lang: Lang,
}

/// One of an account's sessions, as its account page lists it.
struct SessionRow {
    /// A handle naming the session (a hash of its id, never the id).
    handle: String,
    started: String,
    this: bool,
}

impl ConsoleSessions {
    /// No one signed in; `secure` when the admin listener has TLS. The admin token signs in
    /// and a second factor is optional until [`ConsoleSessions::with_policy`] says otherwise.
    pub fn new(secure: bool) -> Self {
        ConsoleSessions {
            sessions: Mutex::default(),
            secure,
            token_sign_in: true,
            require_totp: false,
        }
    }

    /// The operator's policy: whether the shared admin token signs in to the console, and
    /// whether accounts must use a second factor.
    pub fn with_policy(mut self, token_sign_in: bool, require_totp: bool) -> Self {
        self.token_sign_in = token_sign_in;
        self.require_totp = require_totp;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn start(
        &self,
        principal: Principal,
        account: Option<(String, u32)>,
        needs_totp: bool,
        now: Instant,
    ) -> Option<(String, Session)> {
        let id = random_token()?;
        let session = Session {
            principal,
            account,
            csrf: random_token()?,
            expires: now + SESSION_TTL,
            started: Timestamp::now(),
            needs_totp,
            lang: Lang::En,
        };
        let mut all = self.lock();
        all.retain(|_, s| s.expires > now);
        if all.len() >= MAX_SESSIONS
            && let Some(oldest) = all
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
        {
            all.remove(&oldest);
        }
        all.insert(id.clone(), session.clone());
        Some((id, session))
    }

    fn get(&self, id: &str, now: Instant) -> Option<Session> {
        let mut all = self.lock();
        match all.get(id) {
            Some(s) if s.expires > now => Some(s.clone()),
            Some(_) => {
                all.remove(id);
                None
            }
            None => None,
        }
    }

    fn end(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Account `name`'s live sessions on this node, oldest first; `current` is marked.
    fn sessions_of(&self, name: &str, current: &str, now: Instant) -> Vec<SessionRow> {
        let all = self.lock();
        let mut rows: Vec<(Timestamp, SessionRow)> = all
            .iter()
            .filter(|(_, s)| s.expires > now && s.account.as_ref().is_some_and(|(n, _)| n == name))
            .map(|(id, s)| {
                (
                    s.started,
                    SessionRow {
                        handle: handle_of(id),
                        started: s.started.to_rfc3339(),
                        this: id == current,
                    },
                )
            })
            .collect();
        rows.sort_by_key(|(t, _)| *t);
        rows.into_iter().map(|(_, r)| r).collect()
    }

    /// Ends account `name`'s session named by `handle`; whether there was one.
    fn end_handle(&self, name: &str, handle: &str) -> bool {
        let mut all = self.lock();
        let found = all
            .iter()
            .find(|(id, s)| {
                s.account.as_ref().is_some_and(|(n, _)| n == name)
                    && crate::crypto::ct_eq(handle_of(id).as_bytes(), handle.as_bytes())
            })
            .map(|(id, _)| id.clone());
        found.is_some_and(|id| all.remove(&id).is_some())
    }

    fn cookie(&self, name: &str, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The public handle of session `id`: 16 hex digits of its hash. A page may show it; it signs
/// nobody in.
fn handle_of(id: &str) -> String {
    crate::crypto::hex(&crate::crypto::sha256(id.as_bytes())[..8])
}

fn random_token() -> Option<String> {
    crate::crypto::random_bytes::<32>()
        .ok()
        .map(|b| crate::crypto::hex(&b))
}

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        // Someone who opens the admin listener's address finds the console, not an empty 404.
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(dashboard))
        .route("/console/static/console.css", get(stylesheet))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/welcome", get(welcome_page).post(welcome))
        .route("/console/account", get(account))
        .route("/console/account/totp", post(totp_begin))
        .route("/console/account/totp/confirm", post(totp_confirm))
        .route("/console/account/sessions/{handle}/end", post(end_session))
        .route("/console/licenses", get(licenses))
        .route("/console/licenses.csv", get(licenses_csv))
        .route(
            "/console/licenses/new",
            get(new_license_page).post(new_license),
        )
        .route("/console/licenses/{id}/license", get(license_file))
        .route("/console/licenses/{id}", get(license))
        .route(
            "/console/licenses/{id}/revoke",
            get(confirm_revoke).post(revoke),
        )
        .route(
            "/console/licenses/{id}/reissue",
            get(confirm_reissue).post(reissue),
        )
        .route(
            "/console/licenses/{id}/seats/{seat}/free",
            get(confirm_free_seat).post(free_seat),
        )
        .route(
            "/console/licenses/{id}/extend",
            get(confirm_extend).post(extend),
        )
        .route(
            "/console/licenses/{id}/repair",
            get(confirm_repair).post(repair),
        )
        .route(
            "/console/licenses/{id}/leases/{lease}/release",
            get(confirm_release_lease).post(release_lease),
        )
        .route("/console/outbox", get(outbox))
        .route("/console/outbox/retry-all", post(retry_all))
        .route("/console/outbox/{id}/retry", post(retry))
        .route("/console/products", get(products))
        .route("/console/marketplace", get(marketplace))
        .route_layer(axum::middleware::from_fn(remember_lang))
}

// ---- plumbing: pages, sessions, CSRF ----

/// What every page's frame shows.
struct Chrome {
    signed_in: bool,
    actor: String,
    /// The signed-in role, for which buttons to show (the service decides what is done).
    role: Option<crate::accounts::Role>,
    /// Signed in with an account (it has an account page).
    account: bool,
    csrf: String,
    flash: String,
    /// The reader's language.
    l: Lang,
    /// The language switch's link: this page, in the other language ([`remember_lang`]).
    switch: String,
}

impl Chrome {
    fn of(s: &Session, flash: &str) -> Self {
        Chrome {
            signed_in: true,
            actor: s.principal.actor().to_string(),
            role: s.principal.role(),
            account: s.account.is_some(),
            csrf: s.csrf.clone(),
            flash: flash.to_string(),
            ..Chrome::anonymous(s.lang)
        }
    }

    /// The frame of a page for someone not signed in.
    fn anonymous(l: Lang) -> Self {
        Chrome {
            signed_in: false,
            actor: String::new(),
            role: None,
            account: false,
            csrf: String::new(),
            flash: String::new(),
            l,
            switch: format!("?{LANG_PARAM}={}", l.other().tag()),
        }
    }
}

impl Chrome {
    /// Whether the signed-in role may do the matrix's action `name` (`revoke`, `issue-direct`,
    /// …): templates hide what would be refused.
    fn may(&self, name: &str) -> bool {
        self.role.is_some_and(|r| {
            crate::accounts::ACTIONS
                .into_iter()
                .any(|a| a.name() == name && r.may(a))
        })
    }
}

/// The query parameter of the language switch: `?lang=zh-CN` on any console page.
const LANG_PARAM: &str = "lang";

/// The language switch: a console page asked for with `?lang=TAG` remembers the language in
/// the `licd_lang` cookie and shows the same page without the parameter (a redirect to this
/// request's own path, never elsewhere).
async fn remember_lang(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let chosen = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == LANG_PARAM)
            .and_then(|(_, v)| Lang::parse(&v))
    });
    let path = req.uri().path();
    match chosen {
        Some(l) if path.starts_with("/console") && !path.contains("//") => {
            let mut r = Redirect::to(path).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!(
                "{}={}; Path=/; SameSite=Lax; Max-Age=31536000",
                crate::i18n::LANG_COOKIE,
                l.tag()
            )) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        _ => next.run(req).await,
    }
}

/// A rendered page with the console's headers: nothing cached, nothing framed, nothing loaded
/// from elsewhere.
fn page(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => {
            let mut r = (status, html).into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            crate::http::page_headers(h, CSP);
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be drawn; see licd's log",
            )
                .into_response()
        }
    }
}

/// What the console's pages may load: its own stylesheet, nothing else.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The session of a request: an account's is read against the accounts, so a disabled or
/// reset account, or a changed role, ends or changes it at once (fails closed when the store
/// cannot say).
async fn session(st: &AdminState, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = cookie_value(headers, SESSION_COOKIE)?;
    let mut s = st.console.get(&id, Instant::now())?;
    s.lang = lang_of(headers);
    if let Some((name, generation)) = s.account.clone() {
        match st.service.session_principal(&name, generation).await {
            Ok(Some((principal, totp))) => {
                s.principal = principal;
                s.needs_totp = st.console.require_totp && !totp;
            }
            Ok(None) => {
                tracing::info!(account = %name, "console session ended: the account was disabled or reset");
                st.console.end(&id);
                return None;
            }
            Err(e) => {
                tracing::warn!(account = %name, error = %e, "console session not checked: the accounts could not be read");
                return None;
            }
        }
    }
    Some((id, s))
}

/// A refusal page: 403 for a missing session or CSRF token, with a way back.
fn refused(l: Lang, status: StatusCode, message: &str) -> Response {
    let t = Refused {
        c: Chrome::anonymous(l),
        message: message.to_string(),
        back: "/console/login".into(),
        back_label: l.t("console-sign-in"),
    };
    page(status, &t)
}

#[derive(Template)]
#[template(path = "console/refused.html", ext = "html")]
struct Refused {
    c: Chrome,
    message: String,
    back: String,
    back_label: String,
}

/// The session of a page view, or a redirect to sign in.
#[allow(clippy::result_large_err)]
async fn viewer(st: &AdminState, headers: &HeaderMap) -> Result<Session, Response> {
    let Some((_, s)) = session(st, headers).await else {
        return Err(Redirect::to("/console/login").into_response());
    };
    if s.needs_totp {
        return Err(Redirect::to("/console/account").into_response());
    }
    Ok(s)
}

/// The session of a form post whose `csrf` field matches it, or a refusal.
#[allow(clippy::result_large_err)]
async fn actor_of(st: &AdminState, headers: &HeaderMap, csrf: &str) -> Result<Session, Response> {
    let Some((_, s)) = session(st, headers).await else {
        let l = lang_of(headers);
        return Err(refused(
            l,
            StatusCode::FORBIDDEN,
            &l.t("console-error-session"),
        ));
    };
    if !crate::crypto::ct_eq(s.csrf.as_bytes(), csrf.as_bytes()) {
        return Err(refused(
            s.lang,
            StatusCode::FORBIDDEN,
            &s.lang.t("console-error-csrf"),
        ));
    }
    if s.needs_totp {
        return Err(Redirect::to("/console/account").into_response());
    }
    Ok(s)
}

/// What failed for a signed-in user, in the console's frame, with the way back to `back`.
fn failed(s: &Session, e: ApiError, back: &str) -> Response {
    let t = Refused {
        c: Chrome::of(s, ""),
        message: refusal_text(s.lang, &e),
        back: back.to_string(),
        back_label: s.lang.t("console-back"),
    };
    page(e.status, &t)
}

/// A license's status in the reader's language.
fn status_label(l: Lang, status: crate::license::Status) -> String {
    l.t(match status {
        crate::license::Status::Active => "console-status-active",
        crate::license::Status::Frozen => "console-status-frozen",
        crate::license::Status::Released => "console-status-released",
    })
}

/// A path segment, percent-encoded.
fn seg(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

async fn stylesheet() -> Response {
    let mut r = include_str!("../../../templates/console/console.css").into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

// ---- sign-in ----

#[derive(Template)]
#[template(path = "console/login.html")]
struct Login {
    c: Chrome,
    login_csrf: String,
    name: String,
    error: String,
    /// The shared admin token signs in here (the operator's choice).
    token_sign_in: bool,
    /// The account has a second factor: ask for the code.
    ask_code: bool,
}

/// A form with the double-submit sign-in token (`csrf_login`) and its cookie.
fn with_login_csrf(
    st: &AdminState,
    l: Lang,
    status: StatusCode,
    draw: impl FnOnce(String) -> Response,
) -> Response {
    let Some(token) = random_token() else {
        return refused(
            l,
            StatusCode::SERVICE_UNAVAILABLE,
            "no randomness available",
        );
    };
    let mut r = draw(token.clone());
    *r.status_mut() = status;
    r.headers_mut().append(
        header::SET_COOKIE,
        st.console.cookie(LOGIN_COOKIE, &token, 600),
    );
    r
}

fn login_form(st: &AdminState, l: Lang, status: StatusCode, name: &str, error: &str) -> Response {
    login_form_asking(st, l, status, name, error, false)
}

fn login_form_asking(
    st: &AdminState,
    l: Lang,
    status: StatusCode,
    name: &str,
    error: &str,
    ask_code: bool,
) -> Response {
    with_login_csrf(st, l, status, |token| {
        page(
            StatusCode::OK,
            &Login {
                c: Chrome::anonymous(l),
                login_csrf: token,
                name: name.to_string(),
                error: error.to_string(),
                token_sign_in: st.console.token_sign_in,
                ask_code,
            },
        )
    })
}

async fn login_page(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    if session(&st, &headers).await.is_some() {
        return Redirect::to("/console/").into_response();
    }
    login_form(&st, lang_of(&headers), StatusCode::OK, "", "")
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    name: String,
    /// An account's password.
    #[serde(default)]
    password: String,
    /// An account's TOTP code.
    #[serde(default)]
    code: String,
    /// The shared admin token (DESIGN §9).
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf_login: String,
}

/// Whether the double-submit sign-in token of a form matches its cookie.
fn login_csrf_ok(headers: &HeaderMap, presented: &str) -> bool {
    let expected = cookie_value(headers, LOGIN_COOKIE).unwrap_or_default();
    !expected.is_empty() && crate::crypto::ct_eq(expected.as_bytes(), presented.as_bytes())
}

/// Slows down the answer to a wrong credential (shared with the admin API's wrong tokens:
/// 100 ms doubling to 5 s) and logs it, at most a few lines a second.
async fn wrong_credential(st: &AdminState, what: &'static str) {
    let now = Instant::now();
    let delay = st.failures.record(now);
    if let Some(suppressed) = st.failures.log.admit(now) {
        tracing::warn!(
            delay_ms = delay.as_millis() as u64,
            suppressed,
            "console sign-in with a wrong {what}"
        );
    }
    tokio::time::sleep(delay).await;
}

/// A new session's cookie on a redirect to `to` (a fresh id at every sign-in: no fixation).
fn signed_in(st: &AdminState, l: Lang, started: Option<(String, Session)>, to: &str) -> Response {
    let Some((id, _)) = started else {
        return refused(
            l,
            StatusCode::SERVICE_UNAVAILABLE,
            "no randomness available",
        );
    };
    let mut r = Redirect::to(to).into_response();
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        st.console
            .cookie(SESSION_COOKIE, &id, SESSION_TTL.as_secs()),
    );
    h.append(header::SET_COOKIE, st.console.cookie(LOGIN_COOKIE, "", 0));
    r
}

async fn login(
    State(st): State<AdminState>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let l = lang_of(&headers);
    let Ok(Form(f)) = form else {
        return login_form(
            &st,
            l,
            StatusCode::BAD_REQUEST,
            "",
            &l.t("console-error-form"),
        );
    };
    if !login_csrf_ok(&headers, &f.csrf_login) {
        return login_form(
            &st,
            l,
            StatusCode::FORBIDDEN,
            &f.name,
            &l.t("console-error-login-csrf"),
        );
    }
    let name: String = f
        .name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    if name.is_empty() {
        return login_form(
            &st,
            l,
            StatusCode::BAD_REQUEST,
            "",
            &l.t("console-error-name"),
        );
    }
    if !f.token.trim().is_empty() {
        return token_login(&st, l, &name, f.token.trim()).await;
    }
    let name = name.to_lowercase();
    let code = Some(f.code.as_str()).filter(|c| !c.trim().is_empty());
    use crate::service::SignInError as E;
    match st
        .service
        .sign_in(&name, &f.password, code, Timestamp::now())
        .await
    {
        Ok(signed) => {
            tracing::info!(account = %name, role = %signed.principal.role().map_or("", |r| r.name()), "console sign-in");
            let needs_totp = st.console.require_totp && !signed.totp;
            let started = st.console.start(
                signed.principal,
                Some((name, signed.generation)),
                needs_totp,
                Instant::now(),
            );
            let to = if needs_totp {
                "/console/account"
            } else {
                "/console/"
            };
            signed_in(&st, l, started, to)
        }
        Err(E::OneTime) => Redirect::to("/console/welcome").into_response(),
        Err(E::CodeRequired) => login_form_asking(
            &st,
            l,
            StatusCode::UNAUTHORIZED,
            &name,
            &l.t("console-error-code-required"),
            true,
        ),
        Err(E::Locked(until)) => login_form(
            &st,
            l,
            StatusCode::TOO_MANY_REQUESTS,
            &name,
            &l.t1("console-error-locked", "until", until.to_rfc3339()),
        ),
        Err(E::Disabled) => login_form(
            &st,
            l,
            StatusCode::FORBIDDEN,
            &name,
            &l.t("console-error-disabled"),
        ),
        Err(E::Wrong | E::Weak(_)) => {
            wrong_credential(&st, "password or code").await;
            login_form_asking(
                &st,
                l,
                StatusCode::UNAUTHORIZED,
                &name,
                &l.t("console-error-password"),
                code.is_some(),
            )
        }
        Err(E::Service(e)) => failed_anonymous(l, e),
    }
}

/// Sign-in with the shared admin token: an admin named `console:<name>`, unless the operator
/// turned it off for the console.
async fn token_login(st: &AdminState, l: Lang, name: &str, token: &str) -> Response {
    if !st.console.token_sign_in {
        return login_form(
            st,
            l,
            StatusCode::FORBIDDEN,
            name,
            &l.t("console-error-token-off"),
        );
    }
    if !st.token.matches(token) {
        wrong_credential(st, "token").await;
        return login_form(
            st,
            l,
            StatusCode::UNAUTHORIZED,
            name,
            &l.t("console-error-token"),
        );
    }
    tracing::info!(actor = %crate::logsafe::quoted(name), "console sign-in with the admin token");
    let started = st.console.start(
        Principal::admin_token(&format!("console:{name}")),
        None,
        false,
        Instant::now(),
    );
    signed_in(st, l, started, "/console/")
}

/// A refusal for someone not signed in, from the service.
fn failed_anonymous(l: Lang, e: crate::service::ServiceError) -> Response {
    let e = ApiError::from(e);
    refused(l, e.status, &refusal_text(l, &e))
}

// ---- an account's first sign-in, its second factor and sessions ----

#[derive(Template)]
#[template(path = "console/welcome.html")]
struct Welcome {
    c: Chrome,
    login_csrf: String,
    name: String,
    error: String,
}

fn welcome_form(st: &AdminState, l: Lang, status: StatusCode, name: &str, error: &str) -> Response {
    with_login_csrf(st, l, status, |token| {
        page(
            StatusCode::OK,
            &Welcome {
                c: Chrome::anonymous(l),
                login_csrf: token,
                name: name.to_string(),
                error: error.to_string(),
            },
        )
    })
}

async fn welcome_page(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    welcome_form(&st, lang_of(&headers), StatusCode::OK, "", "")
}

#[derive(Deserialize)]
struct WelcomeForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    repeat: String,
    #[serde(default)]
    csrf_login: String,
}

/// `POST /console/welcome`: the one-time secret traded for a chosen password, then signed in.
async fn welcome(
    State(st): State<AdminState>,
    headers: HeaderMap,
    form: Result<Form<WelcomeForm>, FormRejection>,
) -> Response {
    let l = lang_of(&headers);
    let Ok(Form(f)) = form else {
        return welcome_form(
            &st,
            l,
            StatusCode::BAD_REQUEST,
            "",
            &l.t("console-error-form"),
        );
    };
    let name = f.name.trim().to_lowercase();
    if !login_csrf_ok(&headers, &f.csrf_login) {
        return welcome_form(
            &st,
            l,
            StatusCode::FORBIDDEN,
            &name,
            &l.t("console-error-login-csrf"),
        );
    }
    if f.password != f.repeat {
        return welcome_form(
            &st,
            l,
            StatusCode::BAD_REQUEST,
            &name,
            &l.t("console-error-repeat"),
        );
    }
    use crate::service::SignInError as E;
    match st
        .service
        .welcome(&name, f.secret.trim(), &f.password, Timestamp::now())
        .await
    {
        Ok(signed) => {
            tracing::info!(account = %name, "console: account's password chosen");
            let needs_totp = st.console.require_totp && !signed.totp;
            let started = st.console.start(
                signed.principal,
                Some((name, signed.generation)),
                needs_totp,
                Instant::now(),
            );
            signed_in(&st, l, started, "/console/account")
        }
        Err(E::Weak(why)) => welcome_form(
            &st,
            l,
            StatusCode::BAD_REQUEST,
            &name,
            &l.t(why.message_id()),
        ),
        Err(E::Locked(until)) => welcome_form(
            &st,
            l,
            StatusCode::TOO_MANY_REQUESTS,
            &name,
            &l.t1("console-error-locked", "until", until.to_rfc3339()),
        ),
        Err(E::Disabled) => welcome_form(
            &st,
            l,
            StatusCode::FORBIDDEN,
            &name,
            &l.t("console-error-disabled"),
        ),
        Err(E::Service(e)) => failed_anonymous(l, e),
        Err(E::Wrong | E::OneTime | E::CodeRequired) => {
            wrong_credential(&st, "one-time secret").await;
            welcome_form(
                &st,
                l,
                StatusCode::UNAUTHORIZED,
                &name,
                &l.t("console-error-one-time"),
            )
        }
    }
}

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage {
    c: Chrome,
    name: String,
    role: String,
    totp: bool,
    required: bool,
    /// While enrolling: the otpauth URI and its QR code (SVG).
    enrol_uri: String,
    enrol_svg: String,
    sessions: Vec<SessionRow>,
}

/// The signed-in account's session (a second factor may still be missing), or a way out.
#[allow(clippy::result_large_err)]
async fn account_session(
    st: &AdminState,
    headers: &HeaderMap,
    csrf: Option<&str>,
) -> Result<(String, Session, String, u32), Response> {
    let Some((id, s)) = session(st, headers).await else {
        return Err(Redirect::to("/console/login").into_response());
    };
    if let Some(csrf) = csrf
        && !crate::crypto::ct_eq(s.csrf.as_bytes(), csrf.as_bytes())
    {
        return Err(refused(
            s.lang,
            StatusCode::FORBIDDEN,
            &s.lang.t("console-error-csrf"),
        ));
    }
    let Some((name, generation)) = s.account.clone() else {
        // The shared admin token has no account to show.
        return Err(Redirect::to("/console/").into_response());
    };
    Ok((id, s, name, generation))
}

async fn account_view(
    st: &AdminState,
    id: &str,
    s: &Session,
    name: &str,
    flash: &str,
    enrol: Option<(String, String)>,
) -> Response {
    let (enrol_uri, enrol_svg) = enrol.unwrap_or_default();
    let totp = st
        .service
        .session_principal(name, s.account.as_ref().map_or(0, |a| a.1))
        .await
        .ok()
        .flatten()
        .is_some_and(|(_, t)| t);
    let t = AccountPage {
        c: Chrome::of(s, flash),
        name: name.to_string(),
        role: s.principal.role().map_or("", |r| r.name()).to_string(),
        totp,
        required: s.needs_totp,
        enrol_uri,
        enrol_svg,
        sessions: st.console.sessions_of(name, id, Instant::now()),
    };
    page(StatusCode::OK, &t)
}

async fn account(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Query(q): Query<DoneQuery>,
) -> Response {
    match account_session(&st, &headers, None).await {
        Ok((id, s, name, _)) => {
            let flash = q
                .done
                .as_deref()
                .map(|d| s.lang.t(&format!("console-account-done-{}", done_key(d))))
                .unwrap_or_default();
            account_view(&st, &id, &s, &name, &flash, None).await
        }
        Err(r) => r,
    }
}

/// The flash keys the account page knows.
fn done_key(d: &str) -> &'static str {
    match d {
        "totp" => "totp",
        "ended" => "ended",
        _ => "saved",
    }
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

/// `POST /console/account/totp`: a new secret to enrol, shown as a QR code and a URI.
async fn totp_begin(
    State(st): State<AdminState>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    let (id, s, name, generation) = match account_session(&st, &headers, Some(&csrf)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match st
        .service
        .totp_begin(&name, generation, Timestamp::now())
        .await
    {
        Ok(enrol) => account_view(&st, &id, &s, &name, "", Some(enrol)).await,
        Err(e) => failed(&s, e.into(), "/console/account"),
    }
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

/// `POST /console/account/totp/confirm`: the second factor is on once a code from the app is
/// right.
async fn totp_confirm(
    State(st): State<AdminState>,
    headers: HeaderMap,
    form: Result<Form<CodeForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        let l = lang_of(&headers);
        return refused(l, StatusCode::BAD_REQUEST, &l.t("console-error-form"));
    };
    let (id, s, name, generation) = match account_session(&st, &headers, Some(&f.csrf)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match st
        .service
        .totp_confirm(&name, generation, &f.code, Timestamp::now())
        .await
    {
        Ok(true) => {
            tracing::info!(account = %name, "console: second factor turned on");
            Redirect::to("/console/account?done=totp").into_response()
        }
        Ok(false) => {
            let msg = s.lang.t("console-error-code");
            account_view(&st, &id, &s, &name, &msg, None).await
        }
        Err(e) => failed(&s, e.into(), "/console/account"),
    }
}

/// `POST /console/account/sessions/{handle}/end`: ends one of the account's own sessions.
async fn end_session(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(handle): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    let (_, _, name, _) = match account_session(&st, &headers, Some(&csrf)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if st.console.end_handle(&name, &handle) {
        tracing::info!(account = %name, "console: a session ended by its account");
    }
    Redirect::to("/console/account?done=ended").into_response()
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(st): State<AdminState>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if let Err(r) = actor_of(&st, &headers, &csrf).await {
        return r;
    }
    if let Some((id, _)) = session(&st, &headers).await {
        st.console.end(&id);
    }
    let mut r = Redirect::to("/console/login").into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, st.console.cookie(SESSION_COOKIE, "", 0));
    r
}

// ---- dashboard ----

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct Dashboard {
    c: Chrome,
    /// (status, its name in the reader's language, licenses).
    statuses: Vec<(&'static str, String, u64)>,
    status_chart: String,
    groups: Vec<(String, String, i64)>,
    callbacks_chart: String,
    callback_hours: Vec<(String, String, u64)>,
    activations_chart: String,
    activations: Vec<(String, i64)>,
    expiring: i64,
    expiring_days: Vec<(String, i64)>,
    pending: usize,
    dead: usize,
    /// (endpoint, its state in the reader's language, events behind, last error).
    webhooks: Vec<(String, String, u64, String)>,
}

/// The webhook endpoints' rows of the dashboard (none when none is configured or the store
/// did not answer: the rest of the page still shows).
async fn webhook_rows(
    st: &AdminState,
    l: Lang,
    now: Timestamp,
) -> Vec<(String, String, u64, String)> {
    let states = crate::webhooks::states(&st.service, now)
        .await
        .unwrap_or_default();
    states
        .into_iter()
        .map(|e| {
            let since = e
                .failing_since
                .as_deref()
                .and_then(Timestamp::parse_rfc3339)
                .map(|t| l.time(t))
                .unwrap_or_default();
            let state = match e.state.as_str() {
                "failing" => l.t1("console-webhook-failing", "since", since),
                "retrying" => l.t1("console-webhook-retrying", "since", since),
                "new" => l.t("console-webhook-new"),
                _ => l.t("console-webhook-ok"),
            };
            (e.name, state, e.behind, e.last_error.unwrap_or_default())
        })
        .collect()
}

/// The last `n` UTC days, oldest first, ending today.
fn last_days(n: i64, now: Timestamp) -> Vec<String> {
    (0..n)
        .rev()
        .map(|i| crate::store::day_of(now.add_secs(-i * client_verifier::DAY)))
        .collect()
}

async fn dashboard(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    let s = match viewer(&st, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = Timestamp::now();
    let (today, horizon) = (
        crate::store::day_of(now),
        crate::store::day_of(now.add_secs(30 * client_verifier::DAY)),
    );
    let board = match st
        .service
        .dashboard(&last_days(30, now), &today, &horizon)
        .await
    {
        Ok(b) => b,
        Err(e) => return failed(&s, e.into(), "/console/"),
    };
    let crate::service::Dashboard {
        counts,
        pending,
        dead,
        groups,
        activations,
        expiring: expiring_days,
    } = board;
    let l = s.lang;
    // Hours are counted in UTC; each is shown in the reader's zone, labelled.
    let hour = |h: &str| {
        Timestamp::parse_rfc3339(&format!("{h}:00:00Z"))
            .map(|t| l.time(t))
            .unwrap_or_else(|| h.to_string())
    };
    let hours = st.callback_hours.snapshot();
    // Every one of the last 48 hours gets a column, empty ones too, so the chart is a time axis.
    let totals: std::collections::HashMap<&str, u64> = hours
        .iter()
        .map(|(h, codes)| (h.as_str(), codes.values().sum()))
        .collect();
    let callbacks: Vec<(String, u64)> = (0..crate::http::metrics::CallbackHours::KEEP as i64)
        .rev()
        .map(|i| {
            let h = crate::store::hour_of(now.add_secs(-i * 3600));
            let n = totals.get(h.as_str()).copied().unwrap_or(0);
            (hour(&h), n)
        })
        .collect();
    let callback_hours = hours
        .iter()
        .rev()
        .map(|(h, codes)| {
            let by_code = codes
                .iter()
                .map(|(c, n)| format!("{c}: {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            (hour(h), by_code, codes.values().sum())
        })
        .collect();
    let statuses = vec![
        ("active", l.t("console-status-active"), counts.active),
        ("frozen", l.t("console-status-frozen"), counts.frozen),
        ("released", l.t("console-status-released"), counts.released),
    ];
    let t = Dashboard {
        c: Chrome::of(&s, ""),
        status_chart: bar_chart(&statuses, &l.t("console-by-status")),
        statuses,
        groups,
        callbacks_chart: column_chart(&callbacks, &l.t("console-callbacks-chart"), l),
        callback_hours,
        activations_chart: column_chart(
            &activations
                .iter()
                .map(|(d, n)| (d.clone(), u64::try_from(*n).unwrap_or(0)))
                .collect::<Vec<_>>(),
            &l.t("console-activations-chart"),
            l,
        ),
        activations,
        expiring: expiring_days.iter().map(|(_, n)| n).sum(),
        expiring_days,
        pending,
        dead,
        webhooks: webhook_rows(&st, l, now).await,
    };
    page(StatusCode::OK, &t)
}

/// A horizontal bar chart as inline SVG, drawn here: labels and numbers are in the table beside
/// it, so the chart is decoration (`aria-hidden`) and the page needs no script.
fn bar_chart(rows: &[(&str, String, u64)], title: &str) -> String {
    let max = rows.iter().map(|(_, _, n)| *n).max().unwrap_or(0).max(1);
    let height = 28 * rows.len() + 8;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 480 {height}\" role=\"img\" aria-label=\"{}\">",
        askama::filters::escape(title, askama::filters::Html)
            .map(|e| e.to_string())
            .unwrap_or_default()
    );
    for (i, (key, label, n)) in rows.iter().enumerate() {
        let y = 4 + i * 28;
        let w = (*n as f64 / max as f64 * 300.0).round() as u64;
        let label = askama::filters::escape(label, askama::filters::Html)
            .map(|e| e.to_string())
            .unwrap_or_default();
        let color = match *key {
            "active" => "#1e7e34",
            "frozen" => "#b58100",
            _ => "#a40e26",
        };
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"14\" fill=\"#1b1b1b\">{label}</text><rect x=\"90\" y=\"{y}\" width=\"{w}\" height=\"20\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\" font-size=\"14\" fill=\"#1b1b1b\">{n}</text>",
            y + 15,
            96 + w,
            y + 15
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// A column chart as inline SVG: one column per (label, value), first and last labels under
/// the axis; the numbers are in the table beside it.
fn column_chart(columns: &[(String, u64)], title: &str, l: Lang) -> String {
    let max = columns.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let width = 480usize;
    let step = if columns.is_empty() {
        width
    } else {
        width / columns.len().max(1)
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} 140\" role=\"img\" aria-label=\"{}\">",
        askama::filters::escape(title, askama::filters::Html)
            .map(|e| e.to_string())
            .unwrap_or_default()
    );
    svg.push_str("<line x1=\"0\" y1=\"110\" x2=\"480\" y2=\"110\" stroke=\"#8c959f\"/>");
    for (i, (_, n)) in columns.iter().enumerate() {
        let h = (*n as f64 / max as f64 * 100.0).round() as usize;
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{h}\" fill=\"#12355b\"/>",
            i * step + 1,
            110 - h,
            step.saturating_sub(2).max(1)
        ));
    }
    if let (Some((first, _)), Some((last, _))) = (columns.first(), columns.last()) {
        let esc = |s: &str| {
            askama::filters::escape(s, askama::filters::Html)
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        svg.push_str(&format!(
            "<text x=\"0\" y=\"128\" font-size=\"12\" fill=\"#1b1b1b\">{}</text><text x=\"480\" y=\"128\" font-size=\"12\" text-anchor=\"end\" fill=\"#1b1b1b\">{}</text><text x=\"0\" y=\"10\" font-size=\"12\" fill=\"#1b1b1b\">{}</text>",
            esc(first),
            esc(last),
            esc(&l.t1("console-chart-max", "max", max))
        ));
    }
    svg.push_str("</svg>");
    svg
}

// ---- licenses ----

#[derive(Template)]
#[template(path = "console/licenses.html")]
struct Licenses {
    c: Chrome,
    q: String,
    /// The same search as a CSV file of every match.
    export: String,
    status_options: Vec<Choice>,
    test_options: Vec<Choice>,
    rows: Vec<Row>,
    next: String,
}

/// One option of a select, marked when it is the current value.
struct Choice {
    value: &'static str,
    label: String,
    selected: bool,
}

/// The options `(value, message id)` in `l`.
fn choices(l: Lang, options: &[(&'static str, &'static str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|&(value, label)| Choice {
            value,
            label: l.t(label),
            selected: value == current,
        })
        .collect()
}

struct Row {
    id: String,
    href: String,
    status: String,
    test: bool,
    customer: String,
    product: String,
    edition: String,
    quantity: u32,
    exp: String,
}

#[derive(Deserialize, Default)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    test: String,
    #[serde(default)]
    after: String,
}

impl SearchQuery {
    /// The filters the search form sets: status, test or real, and the text as a customer id
    /// (when it is not an exact license or order id, [`exact_match`]).
    fn filter(&self) -> Result<crate::service::LicenseFilter, ApiError> {
        let status = match self.status.as_str() {
            "" => None,
            other => Some(parse_status(other)?),
        };
        let text = self.q.trim();
        Ok(crate::service::LicenseFilter {
            status,
            customer: (!text.is_empty()).then(|| text.to_string()),
            test: match self.test.as_str() {
                "real" => Some(false),
                "test" => Some(true),
                _ => None,
            },
            ..Default::default()
        })
    }
}

/// The license whose id or order id is exactly `text` (one lookup each), if any: the search
/// shows it alone.
async fn exact_match(
    service: &crate::service::Service,
    text: &str,
) -> Result<Option<crate::license::License>, crate::service::ServiceError> {
    if text.is_empty() {
        return Ok(None);
    }
    match service.license(text).await {
        Ok(l) => Ok(Some(l)),
        Err(crate::service::ServiceError::NotFound(_)) => service.license_of_order(text).await,
        Err(e) => Err(e),
    }
}

/// The search as a CSV file (`crate::license_csv`): every license the filters match, not one
/// page. Streamed a page of the store at a time, so an export of a million licenses does not sit
/// in memory; a UTF-8 byte order mark first, so that Excel reads Chinese names as written.
async fn licenses_csv(
    State(st): State<AdminState>,
    headers: HeaderMap,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let s = match viewer(&st, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return failed(&s, e, "/console/licenses"),
    };
    let exact = match exact_match(&st.service, q.q.trim()).await {
        Ok(found) => found,
        Err(e) => return failed(&s, e.into(), "/console/licenses"),
    };
    tracing::info!(actor = %crate::logsafe::quoted(s.principal.actor()), "console: license list exported as CSV");
    // (cursor, first page?, done?) through the store; each item one page of rows.
    let service = st.service.clone();
    let pages = futures_util::stream::unfold(
        (None::<String>, true, false),
        move |(after, first, done)| {
            let service = service.clone();
            let filter = filter.clone();
            let exact = exact.clone();
            async move {
                if done {
                    return None;
                }
                if let Some(l) = exact {
                    let chunk = format!(
                        "\u{feff}{}",
                        crate::license_csv::lines(&[crate::admin_api::Summary::from(&l)], true)
                    );
                    return Some((Ok(axum::body::Bytes::from(chunk)), (None, false, true)));
                }
                let page = match service.search(after, &filter, 1000, SCAN_BUDGET).await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "console: the CSV export stopped early");
                        return Some((
                            Err(std::io::Error::other("export failed")),
                            (None, false, true),
                        ));
                    }
                };
                let summaries: Vec<crate::admin_api::Summary> = page
                    .licenses
                    .iter()
                    .map(crate::admin_api::Summary::from)
                    .collect();
                let mut chunk = if first {
                    "\u{feff}".to_string()
                } else {
                    String::new()
                };
                chunk.push_str(&crate::license_csv::lines(&summaries, first));
                let done = page.next.is_none();
                Some((Ok(axum::body::Bytes::from(chunk)), (page.next, false, done)))
            }
        },
    );
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"licenses.csv\""),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        axum::body::Body::from_stream(pages),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "console/new_license.html")]
struct NewLicense {
    c: Chrome,
    /// The catalog's products, offered as the field's suggestions.
    products: Vec<String>,
    product: String,
}

async fn new_license_page(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    let s = match viewer(&st, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut products: Vec<String> = st
        .service
        .catalog()
        .entries
        .iter()
        .map(|e| e.product.clone())
        .collect();
    products.dedup();
    let t = NewLicense {
        c: Chrome::of(&s, ""),
        product: products.first().cloned().unwrap_or_default(),
        products,
    };
    page(StatusCode::OK, &t)
}

#[derive(Deserialize)]
struct NewLicenseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    customer: String,
    #[serde(default)]
    customer_name: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    seats: String,
    /// Present (`on`) when the box is ticked.
    #[serde(default)]
    trial: String,
    #[serde(default)]
    note: String,
}

/// "New license": a license the ISV issues itself (`Service::create_direct`), then its page,
/// where the license file can be downloaded.
async fn new_license(
    State(st): State<AdminState>,
    headers: HeaderMap,
    form: Result<Form<NewLicenseForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        let l = lang_of(&headers);
        return refused(l, StatusCode::BAD_REQUEST, &l.t("console-error-form"));
    };
    let s = match actor_of(&st, &headers, &f.csrf).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let back = "/console/licenses/new";
    let now = Timestamp::now();
    let days = match f.days.trim().parse::<u32>() {
        Ok(d) if (1..=36_500).contains(&d) => d,
        _ => return failed(&s, ApiError::bad_request("days: 1 to 36500"), back),
    };
    let seats = match f.seats.trim() {
        "" => None,
        n => match n.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => return failed(&s, ApiError::bad_request("seats: a number"), back),
        },
    };
    let optional = |t: &str| (!t.trim().is_empty()).then(|| t.to_string());
    let created = st
        .service
        .create_direct(
            crate::license::NewDirect {
                customer: f.customer,
                customer_name: optional(&f.customer_name),
                product: f.product,
                sku: f.sku,
                exp: now.add_secs(i64::from(days) * client_verifier::DAY),
                seats,
                trial: f.trial == "on",
                note: optional(&f.note),
            },
            &s.principal,
            now,
        )
        .await;
    match created {
        Ok(l) => {
            Redirect::to(&format!("/console/licenses/{}?done=created", seg(&l.id))).into_response()
        }
        Err(e) => failed(&s, e.into(), back),
    }
}

/// The license's current token as a file to send the customer (`<id>.lic`).
async fn license_file(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let s = match viewer(&st, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let l = match st.service.license_detail(&s.principal, &id).await {
        Ok(d) => d.license,
        Err(e) => return failed(&s, e.into(), "/console/licenses"),
    };
    if let Err(e) = s.principal.require_tokens(l.direct.is_some()) {
        return failed(
            &s,
            crate::service::ServiceError::from(e).into(),
            &format!("/console/licenses/{}", seg(&id)),
        );
    }
    let Some(token) = l.current_token().map(str::to_string) else {
        return failed(
            &s,
            ApiError::bad_request(
                "this license has no token of its own (an online-activation instance: each device has its own)",
            ),
            &format!("/console/licenses/{}", seg(&id)),
        );
    };
    tracing::info!(actor = %crate::logsafe::quoted(s.principal.actor()), license = %l.id, "console: license file downloaded");
    // The id is the store's (letters, digits, `-`, `_`), safe in a header; anything else is
    // left out of the file name.
    let name: String =
        l.id.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
    let disposition = format!("attachment; filename=\"{name}.lic\"");
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        format!("{token}\n"),
    )
        .into_response()
}

async fn licenses(
    State(st): State<AdminState>,
    headers: HeaderMap,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let s = match viewer(&st, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return failed(&s, e, "/console/"),
    };
    let after = (!q.after.is_empty()).then(|| q.after.clone());
    let found: Result<_, crate::service::ServiceError> = async {
        if let Some(l) = exact_match(&st.service, q.q.trim()).await? {
            return Ok((vec![l], None));
        }
        // Otherwise a customer id, and the filters, in id order with a bounded scan per page.
        let page = st.service.search(after, &filter, PAGE, SCAN_BUDGET).await?;
        Ok((page.licenses, page.next))
    }
    .await;
    let (found, next) = match found {
        Ok(x) => x,
        Err(e) => return failed(&s, e.into(), "/console/"),
    };
    let rows = found
        .iter()
        .map(|l| Row {
            id: l.id.clone(),
            href: seg(&l.id),
            status: status_label(s.lang, l.status),
            test: l.test,
            customer: l.customer.clone(),
            product: l.product.clone(),
            edition: l.edition.clone().unwrap_or_default(),
            quantity: l.quantity,
            exp: if l.exp >= crate::license::PERPETUAL {
                s.lang.t("console-never")
            } else {
                s.lang.date(l.exp)
            },
        })
        .collect();
    let next = next
        .map(|n| {
            format!(
                "/console/licenses?q={}&status={}&test={}&after={}",
                seg(q.q.trim()),
                seg(&q.status),
                seg(&q.test),
                seg(&n)
            )
        })
        .unwrap_or_default();
    let export = format!(
        "/console/licenses.csv?q={}&status={}&test={}",
        seg(q.q.trim()),
        seg(&q.status),
        seg(&q.test)
    );
    let t = Licenses {
        c: Chrome::of(&s, ""),
        export,
        q: q.q.clone(),
        status_options: choices(
            s.lang,
            &[
                ("", "console-any"),
                ("active", "console-status-active"),
                ("frozen", "console-status-frozen"),
                ("released", "console-status-released"),
            ],
            &q.status,
        ),
        test_options: choices(
            s.lang,
            &[
                ("", "console-test-and-real"),
                ("real", "console-real-only"),
                ("test", "console-test-only"),
            ],
            &q.test,
        ),
        rows,
        next,
    };
    page(StatusCode::OK, &t)
}

#[derive(Template)]
#[template(path = "console/license.html")]
struct LicensePage {
    c: Chrome,
    id: String,
    href: String,
    status: &'static str,
    /// The status in the reader's language.
    status_label: String,
    /// A License 2.0 code: its purchase can be repaired.
    is_code: bool,
    /// A token of its own to download (not an online-activation instance's).
    has_token: bool,
    /// A license the ISV issued: it can be extended.
    is_direct: bool,
    fields: Vec<(String, String)>,
    seats: Vec<SeatRow>,
    devices: Vec<DeviceRow>,
    /// A floating license: its leases.
    floating: bool,
    leases: Vec<LeaseRow>,
    /// Site servers holding some of its seats: (site, seats, state).
    sites: Vec<(String, u32, String)>,
    transfers: String,
    chain: String,
    events: Vec<EventRow>,
}

struct SeatRow {
    seat: u32,
    created: String,
    how: String,
    state: String,
    live: bool,
}

/// A lease of a floating license.
struct LeaseRow {
    seat: u32,
    instance: String,
    granted: String,
    state: String,
    /// The part of its id after the license's, for the action's path.
    key: String,
    live: bool,
}

/// An online-activation device license.
struct DeviceRow {
    event: String,
    fingerprint: String,
    valid: String,
    created: String,
    state: String,
}

struct EventRow {
    at: String,
    action: String,
    actor: String,
    detail: String,
}

#[derive(Deserialize, Default)]
struct FlashQuery {
    #[serde(default)]
    done: String,
}

async fn license(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<FlashQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let s = match viewer(&st, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let l10n = s.lang;
    let flash = match query.map(|Query(q)| q.done).ok().as_deref() {
        Some("created") => l10n.t("console-done-created"),
        Some("revoked") => l10n.t("console-done-revoked"),
        Some("reissued") => l10n.t("console-done-reissued"),
        Some("freed") => l10n.t("console-done-freed"),
        Some("repaired") => l10n.t("console-done-repaired"),
        Some("extended") => l10n.t("console-done-extended"),
        Some("taken-back") => l10n.t("console-done-taken-back"),
        _ => String::new(),
    };
    let (when, day) = (|t| l10n.time(t), |t| l10n.date(t));
    let read = async {
        let detail = st.service.license_detail(&s.principal, &id).await?;
        let audit = st.service.audit_records(&id).await?;
        Ok::<_, crate::service::ServiceError>((detail, audit))
    }
    .await;
    let (detail, audit) = match read {
        Ok(x) => x,
        Err(e) => return failed(&s, e.into(), "/console/"),
    };
    let crate::service::LicenseDetail {
        license: l,
        seats,
        transfers,
        devices,
        leases,
    } = detail;
    let now = Timestamp::now();
    let linger = l.floating.map_or(0, |f| i64::from(f.linger_secs));
    let leases: Vec<LeaseRow> = leases
        .iter()
        .map(|x| LeaseRow {
            seat: x.seat,
            instance: x.instance.clone(),
            granted: when(x.granted),
            state: match (x.holds_seat(now, linger), x.released, x.force_released) {
                (true, _, Some(_)) => {
                    l10n.t1("console-lease-taken-back", "at", when(x.frees_at(linger)))
                }
                (true, Some(_), _) => {
                    l10n.t1("console-lease-released", "at", when(x.frees_at(linger)))
                }
                (true, None, None) if x.borrowed => {
                    l10n.t1("console-lease-borrowed", "until", when(x.expires))
                }
                (true, None, None) => l10n.t1("console-lease-in-use", "until", when(x.expires)),
                (false, _, _) => l10n.t1("console-lease-ended", "at", when(x.frees_at(linger))),
            },
            key: x
                .id
                .rsplit_once('~')
                .map(|(_, k)| k.to_string())
                .unwrap_or_default(),
            live: x.holds_seat(now, linger) && x.released.is_none() && x.force_released.is_none(),
        })
        .collect();
    let broken: Vec<u64> = audit
        .iter()
        .filter(|r| !r.links_correctly())
        .map(|r| r.seq)
        .collect();
    let chain = if broken.is_empty() {
        l10n.t1("console-chain-ok", "count", audit.len())
    } else {
        l10n.t1("console-chain-broken", "records", format!("{broken:?}"))
    };
    let fields = vec![
        (
            "console-field-kind",
            l10n.t(match l.kind {
                _ if l.direct.as_ref().is_some_and(|d| d.trial) => "console-kind-trial",
                _ if l.direct.is_some() => "console-kind-direct",
                crate::license::Kind::Classic => "console-kind-classic",
                crate::license::Kind::Online => "console-kind-online",
                crate::license::Kind::Code => "console-kind-code",
            }),
        ),
        (
            "console-field-customer",
            match &l.customer_name {
                Some(n) => format!("{} ({n})", l.customer),
                None => l.customer.clone(),
            },
        ),
        (
            "console-field-product",
            if l.sku.is_empty() {
                l.product.clone()
            } else {
                format!("{} / {}", l.product, l.sku)
            },
        ),
        (
            "console-field-edition",
            l.edition.clone().unwrap_or_else(|| "-".into()),
        ),
        ("console-field-order", l.order.clone()),
        ("console-field-seats", l.quantity.to_string()),
        (
            "console-field-valid",
            l10n.t2(
                "console-from-to",
                "from",
                day(l.nbf),
                "to",
                if l.exp >= crate::license::PERPETUAL {
                    l10n.t("console-never")
                } else {
                    day(l.exp)
                },
            ),
        ),
        ("console-field-revision", l.revision.to_string()),
        (
            "console-field-test",
            l10n.t(if l.test { "console-yes" } else { "console-no" }),
        ),
        (
            "console-field-entitlements",
            serde_json::to_string(&l.entitlements).unwrap_or_default(),
        ),
        ("console-field-updated", when(l.updated)),
    ];
    let fields = fields.into_iter().map(|(k, v)| (l10n.t(k), v)).collect();
    let seats = seats
        .iter()
        .map(|a| SeatRow {
            seat: a.seat,
            created: when(a.created),
            how: l10n.t(match (a.device_key.is_some(), a.transfer) {
                (true, true) => "console-how-offline-transfer",
                (true, false) => "console-how-offline",
                (false, true) => "console-how-online-transfer",
                (false, false) => "console-how-online",
            }),
            state: match (a.revoked, a.deactivated) {
                (None, _) => l10n.t("console-in-use"),
                (Some(t), true) => l10n.t1("console-given-back", "at", when(t)),
                (Some(t), false) => l10n.t1("console-freed", "at", when(t)),
            },
            live: a.revoked.is_none(),
        })
        .collect();
    let devices = devices
        .iter()
        .map(|d| DeviceRow {
            event: d.event_id.clone(),
            fingerprint: d.fingerprint.clone(),
            valid: l10n.t2(
                "console-from-to",
                "from",
                day(d.nbf),
                "to",
                if d.exp >= crate::license::PERPETUAL {
                    l10n.t("console-never")
                } else {
                    day(d.exp)
                },
            ),
            created: when(d.created),
            state: match d.revoked {
                Some(t) => l10n.t1("console-revoked-at", "at", when(t)),
                None => l10n.t("console-in-use"),
            },
        })
        .collect();
    let events = audit
        .iter()
        .rev()
        .map(|r| EventRow {
            at: when(r.event.at),
            action: r.event.action.clone(),
            actor: r.event.actor.clone(),
            detail: r.event.detail.to_string(),
        })
        .collect();
    let t = LicensePage {
        c: Chrome::of(&s, &flash),
        href: seg(&l.id),
        id: l.id.clone(),
        status: l.status.as_str(),
        status_label: status_label(l10n, l.status),
        is_code: l.code.is_some(),
        has_token: l.current_token().is_some(),
        is_direct: l.direct.is_some(),
        fields,
        seats,
        devices,
        floating: l.floating.is_some(),
        leases,
        sites: l
            .sites
            .iter()
            .map(|x| {
                let state = match x.returned {
                    None if x.holds_seats(now) => {
                        l10n.t1("console-site-allotted", "until", when(x.expires))
                    }
                    None => l10n.t1("console-site-ended", "at", when(x.expires)),
                    Some(r) => l10n.t2(
                        "console-site-returned",
                        "at",
                        when(r),
                        "free",
                        when(x.leases_end.unwrap_or(r).min(x.expires)),
                    ),
                };
                (x.id.clone(), x.seats, state)
            })
            .collect(),
        transfers: l10n.t2(
            "console-transfers",
            "used",
            transfers.used,
            "limit",
            transfers.limit,
        ),
        chain,
        events,
    };
    page(StatusCode::OK, &t)
}

// ---- actions, each behind a confirmation ----

/// The actions on a license, each confirmed on a page of its own first.
#[derive(Clone)]
enum Action {
    Revoke,
    Reissue,
    FreeSeat(u32),
    RepairCode,
    /// Take a lease back: the part of its id after the license's.
    ReleaseLease(String),
    /// Extend a license the ISV issued.
    Extend,
}

impl Action {
    fn path(&self, id: &str) -> String {
        match self {
            Action::Revoke => format!("/console/licenses/{}/revoke", seg(id)),
            Action::Reissue => format!("/console/licenses/{}/reissue", seg(id)),
            Action::FreeSeat(n) => format!("/console/licenses/{}/seats/{n}/free", seg(id)),
            Action::RepairCode => format!("/console/licenses/{}/repair", seg(id)),
            Action::Extend => format!("/console/licenses/{}/extend", seg(id)),
            Action::ReleaseLease(k) => {
                format!("/console/licenses/{}/leases/{}/release", seg(id), seg(k))
            }
        }
    }

    /// The confirmation: what the customer will experience.
    fn confirm(self, c: Chrome, id: &str) -> Confirm {
        let l = c.l;
        let (title, consequence, button, needs_reason, needs_fingerprint) = match &self {
            Action::ReleaseLease(k) => (
                l.t1(
                    "console-confirm-release-title",
                    "lease",
                    format!("{id}~{k}"),
                ),
                "console-confirm-release",
                "console-confirm-release-button",
                true,
                false,
            ),
            Action::Extend => (
                l.t1("console-confirm-extend-title", "license", id),
                "console-confirm-extend",
                "console-confirm-extend-button",
                false,
                false,
            ),
            Action::RepairCode => (
                l.t1("console-confirm-repair-title", "license", id),
                "console-confirm-repair",
                "console-confirm-repair-button",
                false,
                false,
            ),
            Action::Revoke => (
                l.t1("console-confirm-revoke-title", "license", id),
                "console-confirm-revoke",
                "console-confirm-revoke-button",
                true,
                false,
            ),
            Action::Reissue => (
                l.t1("console-confirm-reissue-title", "license", id),
                "console-confirm-reissue",
                "console-confirm-reissue-button",
                true,
                true,
            ),
            &Action::FreeSeat(n) => (
                l.t2("console-confirm-free-title", "seat", n, "license", id),
                "console-confirm-free",
                "console-confirm-free-button",
                false,
                false,
            ),
        };
        let (consequence, button) = (l.t(consequence), l.t(button));
        Confirm {
            c,
            title,
            consequence,
            action: self.path(id),
            button,
            back: format!("/console/licenses/{}", seg(id)),
            needs_reason,
            needs_fingerprint,
            needs_purchase: matches!(self, Action::RepairCode),
            needs_extend: matches!(self, Action::Extend),
        }
    }

    /// Does it as `actor`; the flash the license page shows after.
    async fn run(
        self,
        st: &AdminState,
        id: &str,
        actor: &Principal,
        f: &ActionForm,
    ) -> Result<&'static str, ApiError> {
        // Whether a reason is needed, and what it may be, is the service's to say.
        let reason = f.reason.as_str();
        let now = Timestamp::now();
        if matches!(self, Action::Revoke | Action::Reissue) {
            // The API repeats a revoke as a no-op; a person clicking it deserves to hear that
            // there was nothing to do.
            let l = st.service.license(id).await?;
            if l.status == crate::license::Status::Released {
                return Err(ApiError::bad_request(format!(
                    "license {id} is released already: there is nothing to revoke or reissue"
                )));
            }
        }
        match self {
            Action::Revoke => {
                st.service.revoke(id, actor, reason, now).await?;
                Ok("revoked")
            }
            Action::Reissue => {
                let fingerprint = Some(f.fingerprint.trim()).filter(|f| !f.is_empty());
                st.service
                    .reissue(id, fingerprint, actor, reason, now)
                    .await?;
                Ok("reissued")
            }
            Action::FreeSeat(n) => {
                st.service.free_seat(id, n, actor, now).await?;
                Ok("freed")
            }
            Action::ReleaseLease(k) => {
                st.service
                    .force_release_lease(&format!("{id}~{k}"), reason, actor)
                    .await?;
                Ok("taken-back")
            }
            Action::Extend => {
                let days = f
                    .days
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|d| (1..=36_500).contains(d))
                    .ok_or_else(|| {
                        ApiError::bad_request("Days: a whole number from 1 to 36500.")
                    })?;
                let exp = st.service.license(id).await?.end_after_days(days, now);
                st.service
                    .extend_direct(id, exp, f.trial == "on", actor, reason, now)
                    .await?;
                Ok("extended")
            }
            Action::RepairCode => {
                let quantity =
                    f.quantity.trim().parse::<u32>().map_err(|_| {
                        ApiError::bad_request("Seats: a whole number of at least 1.")
                    })?;
                let repair = crate::service::CodeRepair {
                    product: f.product.clone(),
                    order: Some(f.order.clone()),
                    quantity,
                };
                st.service
                    .repair_code_license(id, repair, actor, now)
                    .await?;
                Ok("repaired")
            }
        }
    }
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
struct Confirm {
    c: Chrome,
    title: String,
    consequence: String,
    action: String,
    button: String,
    back: String,
    needs_reason: bool,
    needs_fingerprint: bool,
    needs_purchase: bool,
    needs_extend: bool,
}

#[derive(Deserialize)]
struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    fingerprint: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    order: String,
    /// Extend: days to add.
    #[serde(default)]
    days: String,
    /// Extend: present (`on`) when it stays an evaluation.
    #[serde(default)]
    trial: String,
}

async fn confirm(st: &AdminState, headers: &HeaderMap, id: &str, action: Action) -> Response {
    match viewer(st, headers).await {
        Ok(s) => page(StatusCode::OK, &action.confirm(Chrome::of(&s, ""), id)),
        Err(r) => r,
    }
}

async fn perform(
    st: &AdminState,
    headers: &HeaderMap,
    id: &str,
    action: Action,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        let l = lang_of(headers);
        return refused(l, StatusCode::BAD_REQUEST, &l.t("console-error-form"));
    };
    let s = match actor_of(st, headers, &f.csrf).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match action.run(st, id, &s.principal, &f).await {
        Ok(done) => {
            Redirect::to(&format!("/console/licenses/{}?done={done}", seg(id))).into_response()
        }
        Err(e) => failed(&s, e, &format!("/console/licenses/{}", seg(id))),
    }
}

async fn confirm_revoke(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    confirm(&st, &headers, &id, Action::Revoke).await
}

async fn revoke(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    perform(&st, &headers, &id, Action::Revoke, form).await
}

async fn confirm_reissue(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    confirm(&st, &headers, &id, Action::Reissue).await
}

async fn reissue(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    perform(&st, &headers, &id, Action::Reissue, form).await
}

async fn confirm_free_seat(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path((id, seat)): Path<(String, u32)>,
) -> Response {
    confirm(&st, &headers, &id, Action::FreeSeat(seat)).await
}

async fn free_seat(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path((id, seat)): Path<(String, u32)>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    perform(&st, &headers, &id, Action::FreeSeat(seat), form).await
}

async fn confirm_release_lease(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path((id, lease)): Path<(String, String)>,
) -> Response {
    confirm(&st, &headers, &id, Action::ReleaseLease(lease)).await
}

async fn release_lease(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path((id, lease)): Path<(String, String)>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    perform(&st, &headers, &id, Action::ReleaseLease(lease), form).await
}

async fn confirm_extend(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    confirm(&st, &headers, &id, Action::Extend).await
}

async fn extend(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    perform(&st, &headers, &id, Action::Extend, form).await
}

async fn confirm_repair(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    confirm(&st, &headers, &id, Action::RepairCode).await
}

async fn repair(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    perform(&st, &headers, &id, Action::RepairCode, form).await
}

// ---- outbox ----

#[derive(Template)]
#[template(path = "console/outbox.html")]
struct Outbox {
    c: Chrome,
    jobs: Vec<JobRow>,
}

struct JobRow {
    id: String,
    href: String,
    license: String,
    kind: String,
    attempts: u32,
    state: String,
    error: String,
}

async fn outbox(
    State(st): State<AdminState>,
    headers: HeaderMap,
    query: Result<Query<FlashQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let s = match viewer(&st, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let l = s.lang;
    let flash = match query.map(|Query(q)| q.done).ok().as_deref() {
        Some("retried") => l.t("console-done-retried"),
        _ => String::new(),
    };
    let jobs = match st.service.jobs().await {
        Ok(j) => j,
        Err(e) => return failed(&s, e.into(), "/console/"),
    };
    let api = st.service.has_marketplace_api();
    let jobs = jobs
        .iter()
        .map(|j| JobRow {
            id: j.id.clone(),
            href: seg(&j.id),
            license: j.license_id.clone(),
            kind: j.task.action().to_string(),
            attempts: j.attempts,
            state: if j.dead {
                l.t("console-job-dead")
            } else if !api {
                // Its due time may be long past: nothing runs it until the API is configured.
                l.t("console-job-waiting")
            } else {
                l.t1("console-job-pending", "at", l.time(j.next_at))
            },
            error: j.last_error.clone().unwrap_or_default(),
        })
        .collect();
    page(
        StatusCode::OK,
        &Outbox {
            c: Chrome::of(&s, &flash),
            jobs,
        },
    )
}

async fn retry(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    let s = match actor_of(&st, &headers, &csrf).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match st
        .service
        .retry_job(&id, &s.principal, Timestamp::now())
        .await
    {
        Ok(_) => Redirect::to("/console/outbox?done=retried").into_response(),
        Err(e) => failed(&s, e.into(), "/console/outbox"),
    }
}

async fn retry_all(
    State(st): State<AdminState>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    let s = match actor_of(&st, &headers, &csrf).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let jobs = match st.service.jobs().await {
        Ok(j) => j,
        Err(e) => return failed(&s, e.into(), "/console/"),
    };
    for j in jobs.iter().filter(|j| j.dead) {
        if let Err(e) = st
            .service
            .retry_job(&j.id, &s.principal, Timestamp::now())
            .await
        {
            return failed(&s, e.into(), "/console/outbox");
        }
    }
    Redirect::to("/console/outbox?done=retried").into_response()
}

// ---- products ----

#[derive(Template)]
#[template(path = "console/products.html")]
struct Products {
    c: Chrome,
    source: String,
    rows: Vec<ProductRow>,
}

struct ProductRow {
    product: String,
    sku: String,
    name: String,
    binding: String,
    seats: String,
    check_in: u32,
    transfers: u32,
    entitlements: String,
}

async fn products(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    let s = match viewer(&st, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let catalog = st.service.catalog();
    let rows = catalog
        .default
        .iter()
        .chain(catalog.entries.iter())
        .map(|e| ProductRow {
            product: if e.product.is_empty() {
                s.lang.t("console-default-entry")
            } else {
                e.product.clone()
            },
            sku: e.sku.clone().unwrap_or_default(),
            name: e.name.clone(),
            binding: format!("{:?}", e.binding).to_lowercase(),
            seats: e.seats.map(|n| n.to_string()).unwrap_or_default(),
            check_in: e.check_in_days,
            transfers: e.transfers_per_year,
            entitlements: serde_json::to_string(&e.entitlements).unwrap_or_default(),
        })
        .collect();
    page(
        StatusCode::OK,
        &Products {
            c: Chrome::of(&s, ""),
            source: catalog
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            rows,
        },
    )
}

#[derive(Template)]
#[template(path = "console/marketplace.html")]
struct Marketplace {
    c: Chrome,
    callback_path: String,
    public_tls: bool,
    pinned: Option<String>,
    readings: Vec<ReadingRow>,
    started: String,
    advice: String,
    api: bool,
}

struct ReadingRow {
    name: &'static str,
    count: u64,
    first: String,
    last: String,
}

async fn marketplace(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    let s = match viewer(&st, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let d = &st.daemon;
    let pinned = (d.v2_accepted.len() == 1).then(|| d.v2_accepted[0].name());
    let readings: Vec<ReadingRow> = d
        .readings_seen
        .snapshot()
        .into_iter()
        .map(|(name, r)| ReadingRow {
            name,
            count: r.count,
            first: s.lang.time(r.first),
            last: s.lang.time(r.last),
        })
        .collect();
    let advice = match (pinned, readings.as_slice()) {
        (None, [only]) => s.lang.t1("console-v2-pin", "reading", only.name),
        (None, [_, _, ..]) => s.lang.t("console-v2-several"),
        _ => String::new(),
    };
    page(
        StatusCode::OK,
        &Marketplace {
            c: Chrome::of(&s, ""),
            callback_path: d.callback_path.clone(),
            public_tls: d.public_tls,
            pinned: pinned.map(str::to_string),
            readings,
            started: s.lang.time(d.started),
            advice,
            api: d.marketplace_api,
        },
    )
}
