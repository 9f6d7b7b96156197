//! The ISV's team against a real licd: every role tried at every action through the admin API
//! (API tokens) and the console (accounts signed in with a password), and what an attacker on
//! the admin listener tries: a disabled account's live session, a one-time secret used twice,
//! a revoked API token, guessing passwords and codes, the shared token posing as an account.

mod common;

use common::console::Console;
use common::forms::hidden;
use common::{Daemon, admin, audit_events, client, get_license, v1};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ROLES: [&str; 5] = ["viewer", "support", "sales", "developer", "admin"];

/// The matrix as docs/operations.md states it, written out here rather than read from licd, so
/// a change to licd's matrix fails this test: (action, roles that may).
const MATRIX: [(&str, &[&str]); 9] = [
    ("read", &ROLES),
    ("see-secret", &["support", "admin"]),
    ("serve-customer", &["support", "admin"]),
    ("outbox", &["support", "admin"]),
    ("issue-direct", &["sales", "admin"]),
    ("revoke", &["admin"]),
    ("sites", &["support", "admin"]),
    ("integrations", &["developer", "admin"]),
    ("administer", &["admin"]),
];

fn allowed(action: &str, role: &str) -> bool {
    MATRIX
        .iter()
        .find(|(a, _)| *a == action)
        .unwrap()
        .1
        .contains(&role)
}

async fn buy(d: &Daemon, order: &str) -> String {
    let a = v1(&client(), d, &get_license(order, &format!("biz-{order}"))).await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    a.json["instanceId"].as_str().unwrap().to_string()
}

/// Account `name`'s audit history (admin token), oldest first.
async fn account_audit(d: &Daemon, name: &str) -> Vec<Value> {
    let (status, body) = admin(
        &client(),
        d,
        Method::GET,
        &format!("/users/{name}/audit"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["chain"]["intact"], true, "{body}");
    body["events"].as_array().unwrap().clone()
}

/// `method path` on the admin API with bearer `token`: (status, body).
async fn call(
    d: &Daemon,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client()
        .request(method, format!("{}/admin/v1{path}", d.admin_url()))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Adds account `name` with `role` (with the shared admin token): its one-time secret.
async fn add_user(d: &Daemon, name: &str, role: &str) -> String {
    let (status, body) = admin(
        &client(),
        d,
        Method::POST,
        "/users",
        Some(&json!({ "name": name, "role": role })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["secret"].as_str().unwrap().to_string()
}

/// An API token of account `name` with its role.
async fn api_token(d: &Daemon, name: &str) -> (String, String) {
    let (status, body) = admin(
        &client(),
        d,
        Method::POST,
        "/tokens",
        Some(&json!({ "user": name, "label": "test" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().unwrap().to_string(),
        body["token"].as_str().unwrap().to_string(),
    )
}

const PASSWORD: &str = "a long enough password";

/// Trades `name`'s one-time secret for [`PASSWORD`] on the welcome page: (status, location).
async fn welcome(con: &mut Console, name: &str, secret: &str) -> (StatusCode, String) {
    let (_, html, _) = con.get("/console/welcome").await;
    let csrf = hidden(&html, "csrf_login");
    let r = con
        .c
        .post(format!("{}/console/welcome", con.base))
        .header("cookie", con.jar.header())
        .form(&[
            ("name", name),
            ("secret", secret),
            ("password", PASSWORD),
            ("repeat", PASSWORD),
            ("csrf_login", &csrf),
        ])
        .send()
        .await
        .unwrap();
    con.jar.take(&r);
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status(), location)
}

/// Signs in with a password (and code): (status, location or page).
async fn sign_in(
    con: &mut Console,
    name: &str,
    password: &str,
    code: &str,
) -> (StatusCode, String) {
    let (_, html, _) = con.get("/console/login").await;
    let csrf = hidden(&html, "csrf_login");
    let r = con
        .c
        .post(format!("{}/console/login", con.base))
        .header("cookie", con.jar.header())
        .form(&[
            ("name", name),
            ("password", password),
            ("code", code),
            ("csrf_login", &csrf),
        ])
        .send()
        .await
        .unwrap();
    con.jar.take(&r);
    let status = r.status();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    match location {
        Some(l) => (status, l),
        None => (status, r.text().await.unwrap_or_default()),
    }
}

/// A console signed in as a new account `name` with `role`: (console, its CSRF token).
async fn member(d: &Daemon, name: &str, role: &str) -> (Console, String) {
    let secret = add_user(d, name, role).await;
    let mut con = Console::new(d);
    let (status, location) = welcome(&mut con, name, &secret).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console/account")
    );
    let (status, html, _) = con.get("/console/account").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("<strong id=\"role\">{role}</strong>")),
        "{html}"
    );
    let csrf = hidden(&html, "csrf");
    (con, csrf)
}

#[tokio::test]
async fn every_role_may_do_what_the_matrix_says_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let site_request = "lsr1.not-a-real-request";
    for role in ROLES {
        let name = format!("api-{role}");
        add_user(&d, &name, role).await;
        let (_, token) = api_token(&d, &name).await;
        let id = buy(&d, &format!("MTX-{role}")).await;
        // Each action once; what an allowed role meets next (a missing record, a bad
        // request) is not a refusal of the role.
        let tries: [(&str, Method, String, Option<Value>); 9] = [
            ("read", Method::GET, "/licenses".into(), None),
            (
                "see-secret",
                Method::GET,
                format!("/licenses/{id}/token"),
                None,
            ),
            (
                "serve-customer",
                Method::POST,
                "/leases/release".into(),
                Some(json!({ "lease": "no-such~lease", "reason": "matrix" })),
            ),
            (
                "outbox",
                Method::POST,
                "/outbox/no-such-job/retry".into(),
                None,
            ),
            (
                "issue-direct",
                Method::POST,
                "/licenses".into(),
                Some(
                    json!({ "product": "P-MTX", "customer": "prospect", "days": 7, "trial": true }),
                ),
            ),
            (
                "revoke",
                Method::POST,
                format!("/licenses/{id}/revoke"),
                Some(json!({ "reason": "matrix test" })),
            ),
            (
                "sites",
                Method::POST,
                "/site/allot".into(),
                Some(json!({ "request": site_request })),
            ),
            (
                "integrations",
                Method::POST,
                "/products/reload".into(),
                None,
            ),
            ("administer", Method::GET, "/users".into(), None),
        ];
        for (action, method, path, body) in tries {
            let (status, answer) = call(&d, &token, method, &path, body).await;
            if allowed(action, role) {
                assert_ne!(status, 403, "{role} may {action}: {answer}");
                assert_ne!(status, 401, "{role} {action}: {answer}");
            } else {
                assert_eq!(status, 403, "{role} may not {action}: {answer}");
                assert_eq!(answer["error"], "forbidden", "{answer}");
                assert!(
                    answer["message_zh"].as_str().unwrap().contains("角色"),
                    "{answer}"
                );
            }
        }
        // What a refused role tried changed nothing; what an allowed one did is audited
        // under its account and token.
        let events = audit_events(&client(), &d, &id).await;
        let revoked = events.iter().find(|e| e["action"] == "revoke");
        match allowed("revoke", role) {
            true => {
                let actor = revoked.unwrap()["actor"].as_str().unwrap().to_string();
                assert!(
                    actor.starts_with(&format!("user:{name} (token ")),
                    "{actor}"
                );
            }
            false => assert!(revoked.is_none(), "{events:?}"),
        }
    }
    // A role cannot hand out more than it has: only admins make accounts or tokens.
    let (_, sales) = api_token(&d, "api-sales").await;
    let (status, _) = call(
        &d,
        &sales,
        Method::POST,
        "/users",
        Some(json!({ "name": "mallory", "role": "admin" })),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &d,
        &sales,
        Method::POST,
        "/tokens",
        Some(json!({ "user": "api-admin" })),
    )
    .await;
    assert_eq!(status, 403);
    // A token of a sales account cannot be made an admin's.
    let (status, body) = admin(
        &client(),
        &d,
        Method::POST,
        "/tokens",
        Some(&json!({ "user": "api-sales", "role": "admin" })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn every_role_may_do_what_the_matrix_says_in_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    for role in ROLES {
        let (mut con, csrf) = member(&d, &format!("con-{role}"), role).await;
        let id = buy(&d, &format!("CMX-{role}")).await;

        // Reading is for everyone; buttons a role may not use are not shown.
        let (status, page, _) = con.get(&format!("/console/licenses/{id}")).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(
            page.contains(&format!("/console/licenses/{id}/revoke")),
            allowed("revoke", role),
            "{role}: revoke button"
        );
        assert_eq!(
            page.contains(&format!("/console/licenses/{id}/license\"")),
            allowed("see-secret", role),
            "{role}: download button"
        );

        // The service refuses what the page would not offer, whatever is posted.
        let (status, _, _) = con.get(&format!("/console/licenses/{id}/license")).await;
        assert_eq!(
            status == 403,
            !allowed("see-secret", role),
            "{role}: download"
        );
        let (status, html, _) = con
            .post(
                &format!("/console/licenses/{id}/reissue"),
                &[("csrf", &csrf), ("reason", "matrix")],
            )
            .await;
        assert_eq!(
            status == 403,
            !allowed("outbox", role),
            "{role}: reissue {html}"
        );
        let (status, html, _) = con
            .post(
                "/console/licenses/new",
                &[
                    ("csrf", &csrf),
                    ("product", "P-CMX"),
                    ("customer", "prospect"),
                    ("days", "7"),
                    ("trial", "on"),
                ],
            )
            .await;
        assert_eq!(
            status == 403,
            !allowed("issue-direct", role),
            "{role}: new license {html}"
        );
        // Extending a license the ISV issued (made with the admin token for every role).
        let (_, direct) = admin(
            &client(),
            &d,
            Method::POST,
            "/licenses",
            Some(&json!({ "product": "P-CMX", "customer": "c", "days": 7, "trial": true })),
        )
        .await;
        let direct_id = direct["license"]["id"].as_str().unwrap().to_string();
        let (_, page, _) = con.get(&format!("/console/licenses/{direct_id}")).await;
        assert_eq!(
            page.contains(&format!("/console/licenses/{direct_id}/extend")),
            allowed("issue-direct", role),
            "{role}: extend button"
        );
        let (status, html, _) = con
            .post(
                &format!("/console/licenses/{direct_id}/extend"),
                &[("csrf", &csrf), ("days", "30")],
            )
            .await;
        assert_eq!(
            status == 403,
            !allowed("issue-direct", role),
            "{role}: extend {html}"
        );
        let l = common::license_json(&client(), &d, &direct_id).await;
        assert_eq!(
            l["origin"] == "direct",
            allowed("issue-direct", role),
            "{role}: a refused extension converts nothing: {l}"
        );
        let (status, html, _) = con
            .post(
                &format!("/console/licenses/{id}/revoke"),
                &[("csrf", &csrf), ("reason", "matrix")],
            )
            .await;
        assert_eq!(
            status == 403,
            !allowed("revoke", role),
            "{role}: revoke {html}"
        );
        let (status, html, _) = con
            .post("/console/outbox/no-such-job/retry", &[("csrf", &csrf)])
            .await;
        assert_eq!(
            status == 403,
            !allowed("outbox", role),
            "{role}: retry {html}"
        );

        let events = audit_events(&client(), &d, &id).await;
        let actors: Vec<&str> = events
            .iter()
            .filter(|e| e["action"] == "revoke" || e["action"] == "reissue")
            .map(|e| e["actor"].as_str().unwrap())
            .collect();
        assert!(
            actors.iter().all(|a| *a == format!("user:con-{role}")),
            "{role}: {actors:?}"
        );
        assert_eq!(
            actors.is_empty(),
            !allowed("outbox", role) && !allowed("revoke", role)
        );
    }
}

#[tokio::test]
async fn a_disabled_or_reset_account_loses_its_live_session_and_tokens_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let (mut con, _) = member(&d, "carol", "support").await;
    let (_, token) = api_token(&d, "carol").await;
    assert_eq!(con.get("/console/licenses").await.0, 200);
    assert_eq!(
        call(&d, &token, Method::GET, "/licenses", None).await.0,
        200
    );

    let o = d.licctl(&["users", "disable", "carol"]);
    assert!(o.status.success(), "{o:?}");
    let (status, _, location) = con.get("/console/licenses").await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/console/login"))
    );
    assert_eq!(
        call(&d, &token, Method::GET, "/licenses", None).await.0,
        401
    );
    // The right password no longer signs in.
    let (status, page) = sign_in(&mut con, "carol", PASSWORD, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");

    // A reset enables it again with a new secret; the old password is gone.
    let o = d.licctl(&["users", "reset", "carol", "--json"]);
    assert!(o.status.success(), "{o:?}");
    let secret = serde_json::from_slice::<Value>(&o.stdout).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !d.log().contains(&secret),
        "a one-time secret reached the log"
    );
    let (status, _) = sign_in(&mut con, "carol", PASSWORD, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, location) = welcome(&mut con, "carol", &secret).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console/account")
    );
    // A session begun before the reset stays ended.
    let audit = account_audit(&d, "carol").await;
    let actions: Vec<&str> = audit
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "accountCreated",
            "accountPasswordSet",
            "apiTokenCreated",
            "accountDisabled",
            "accountReset",
            "accountPasswordSet",
        ]
    );
}

#[tokio::test]
async fn a_one_time_secret_works_once_and_a_revoked_token_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let secret = add_user(&d, "dave", "viewer").await;
    let mut first = Console::new(&d);
    assert_eq!(
        welcome(&mut first, "dave", &secret).await.0,
        StatusCode::SEE_OTHER
    );
    let mut second = Console::new(&d);
    let (status, _) = welcome(&mut second, "dave", &secret).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a one-time secret worked twice"
    );
    // Nor does it sign in as a password.
    let (status, _) = sign_in(&mut second, "dave", &secret, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (id, token) = api_token(&d, "dave").await;
    assert_eq!(
        call(&d, &token, Method::GET, "/licenses", None).await.0,
        200
    );
    let o = d.licctl(&["tokens", "revoke", &id]);
    assert!(o.status.success(), "{o:?}");
    let (status, body) = call(&d, &token, Method::GET, "/licenses", None).await;
    assert_eq!(status, 401, "{body}");
    // A token with its secret changed is no token.
    let (_, live) = api_token(&d, "dave").await;
    let last = if live.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &live[..live.len() - 1]);
    assert_ne!(forged, live);
    assert_eq!(
        call(&d, &forged, Method::GET, "/licenses", None).await.0,
        401
    );
    assert!(
        !d.log().contains(&live) && !d.log().contains(&token),
        "a token reached the log"
    );
}

#[tokio::test]
async fn guessing_passwords_and_codes_is_slowed_locked_and_audited_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let (_, _) = member(&d, "erin", "sales").await;
    let mut attacker = Console::new(&d);
    let started = std::time::Instant::now();
    for _ in 0..5 {
        let (status, _) = sign_in(&mut attacker, "erin", "password123456", "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Each wrong guess waited longer than the one before (100, 200, 400, 800, 1600 ms).
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(3000),
        "{:?}",
        started.elapsed()
    );
    // Locked: even the right password is refused now, and says until when.
    let (status, page) = sign_in(&mut attacker, "erin", PASSWORD, "").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{page}");
    let audit = account_audit(&d, "erin").await;
    let locks = audit
        .iter()
        .filter(|e| e["action"] == "accountLocked")
        .count();
    assert_eq!(locks, 1, "{audit:?}");
    // The lock is an event too.
    let (_, feed) = admin(
        &client(),
        &d,
        Method::GET,
        "/events?after=0&limit=1000",
        None,
    )
    .await;
    assert!(
        feed["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "account.locked" && e["license"] == "account:erin"),
        "{feed}"
    );
    // The log says so in a bounded number of lines, and never with the guesses.
    let log = d.log();
    assert!(!log.contains("password123456"));
    assert!(log.matches("console sign-in with a wrong").count() <= 5);
    // An admin's reset is the way back.
    let o = d.licctl(&["users", "list"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("locked until"),
        "{o:?}"
    );
}

#[tokio::test]
async fn totp_sign_in_needs_a_fresh_code_and_the_operator_can_require_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        dir.path(),
        &[
            "--console-require-totp",
            "true",
            "--console-token-sign-in",
            "false",
        ],
    );
    let secret = add_user(&d, "frank", "developer").await;
    let mut con = Console::new(&d);
    welcome(&mut con, "frank", &secret).await;
    // Without a second factor, only the account page opens.
    let (status, _, location) = con.get("/console/licenses").await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/console/account"))
    );
    let (_, html, _) = con.get("/console/account").await;
    let csrf = hidden(&html, "csrf");
    let (status, html, _) = con.post("/console/account/totp", &[("csrf", &csrf)]).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<svg"), "a QR code");
    let uri = html
        .split("<code id=\"otpauth\">")
        .nth(1)
        .unwrap()
        .split("</code>")
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#x3d;", "=")
        .replace("&#61;", "=");
    assert!(uri.starts_with("otpauth://totp/licd:frank?"), "{uri}");
    let totp_secret = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .unwrap()
        .to_string();
    let now = client_verifier::Timestamp::now();
    let code = |t: client_verifier::Timestamp| {
        licd::accounts::totp_code(&totp_secret, "frank", t).unwrap()
    };
    let (status, _, _) = con
        .post(
            "/console/account/totp/confirm",
            &[("csrf", &csrf), ("code", "000000")],
        )
        .await;
    assert_eq!(status, 200, "a wrong code turns nothing on");
    let (status, _, _) = con
        .post(
            "/console/account/totp/confirm",
            &[("csrf", &csrf), ("code", &code(now))],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(con.get("/console/licenses").await.0, 200);

    // Signing in again: the password alone asks for the code; the code used at enrolment
    // is spent; the next one works once.
    let mut again = Console::new(&d);
    let (status, page) = sign_in(&mut again, "frank", PASSWORD, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("6-digit"), "{page}");
    let (status, _) = sign_in(&mut again, "frank", PASSWORD, &code(now)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a code worked twice");
    let next = client_verifier::Timestamp::from_unix(now.unix() + 30);
    let (status, location) = sign_in(&mut again, "frank", PASSWORD, &code(next)).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console/")
    );
    let mut third = Console::new(&d);
    let (status, _) = sign_in(&mut third, "frank", PASSWORD, &code(next)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a code worked twice");

    // The operator turned the shared token off for the console: refused even when right.
    let (_, html, _) = third.get("/console/login").await;
    assert!(
        !html.contains("name=\"token\""),
        "the token form is still offered"
    );
    let csrf = hidden(&html, "csrf_login");
    let (status, page, _) = third
        .post(
            "/console/login",
            &[
                ("name", "ops"),
                ("token", &d.admin_token()),
                ("csrf_login", &csrf),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    // The admin API still takes it.
    assert_eq!(
        admin(&client(), &d, Method::GET, "/users", None).await.0,
        200
    );

    // An account sees its sessions and ends another one.
    let (_, html, _) = con.get("/console/account").await;
    assert_eq!(html.matches("class=\"end-session\"").count(), 2, "{html}");
    // Each row: when it began, "(this browser)" for this one, and its End button.
    let other = html
        .split("<tr><td>")
        .skip(1)
        .find(|row| !row.contains("(this browser)"))
        .and_then(|row| row.split("/console/account/sessions/").nth(1))
        .map(|rest| rest.split('/').next().unwrap().to_string())
        .unwrap();
    let csrf = hidden(&html, "csrf");
    con.post(
        &format!("/console/account/sessions/{other}/end"),
        &[("csrf", &csrf)],
    )
    .await;
    let (status, _, location) = again.get("/console/licenses").await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/console/login"))
    );
    assert_eq!(con.get("/console/licenses").await.0, 200);
}

#[tokio::test]
async fn the_shared_token_cannot_pose_as_an_account() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let id = buy(&d, "POSE-1").await;
    let r = client()
        .post(format!("{}/admin/v1/licenses/{id}/revoke", d.admin_url()))
        .bearer_auth(d.admin_token())
        .header("x-licd-actor", "user:alice")
        .json(&json!({ "reason": "posing" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = audit_events(&client(), &d, &id).await;
    let revoke = events.iter().find(|e| e["action"] == "revoke").unwrap();
    assert_eq!(revoke["actor"], "claimed-user:alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_license_2_code_is_shown_only_to_roles_that_may_see_secrets() {
    const CODE: &str = "LC7Q-9XKD-2M4P-TT8W";
    let market = common::fake_market::FakeMarket::start();
    market.add_code(
        CODE,
        common::fake_market::FakeCode::alive(1, "20991231000000"),
    );
    let dir = tempfile::tempdir().unwrap();
    let d = common::start_with_market(dir.path(), &market, &[]);
    let (status, _, body) = common::activate_code(
        &client(),
        &d,
        CODE,
        "04:7C:16:5E:E3:5D|SN-CODE|BOARD-CODE|BFEBFBFF00090672",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["license"].as_str().unwrap().to_string();
    for role in ROLES {
        let name = format!("code-{role}");
        add_user(&d, &name, role).await;
        let (_, token) = api_token(&d, &name).await;
        let (status, detail) =
            call(&d, &token, Method::GET, &format!("/licenses/{id}"), None).await;
        assert_eq!(status, 200, "{detail}");
        assert_eq!(
            detail.to_string().contains(CODE),
            allowed("see-secret", role),
            "{role}: {detail}"
        );
        let (status, found) = call(
            &d,
            &token,
            Method::POST,
            "/codes/lookup",
            Some(json!({ "code": CODE })),
        )
        .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["id"], id.as_str());
        assert_eq!(
            found.get("code").is_some(),
            allowed("see-secret", role),
            "{role}: {found}"
        );
        // The console's license page never shows it, to anyone.
        let (mut con, _) = member(&d, &format!("page-{role}"), role).await;
        let (status, page, _) = con.get(&format!("/console/licenses/{id}")).await;
        assert_eq!(status, 200);
        assert!(!page.contains(CODE), "{role}");
    }
}

#[tokio::test]
async fn the_new_forms_refuse_forged_posts_and_sign_in_never_keeps_a_planted_session() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let secret = add_user(&d, "gina", "viewer").await;

    // The welcome form without its double-submit token (another site's form): refused, and
    // the secret is still unused.
    let mut forger = Console::new(&d);
    let (status, _, _) = forger
        .post(
            "/console/welcome",
            &[
                ("name", "gina"),
                ("secret", &secret),
                ("password", PASSWORD),
                ("repeat", PASSWORD),
                ("csrf_login", "forged"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A session id planted in the browser before sign-in is replaced, never adopted.
    let mut victim = Console::new(&d);
    victim.jar.set("licd_console", "planted0000");
    let (status, _) = welcome(&mut victim, "gina", &secret).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = victim.jar.get("licd_console").unwrap();
    assert_ne!(session, "planted0000");
    let mut attacker = Console::new(&d);
    attacker.jar.set("licd_console", "planted0000");
    let (status, _, location) = attacker.get("/console/account").await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/console/login"))
    );

    // The account page's forms need the session's CSRF token.
    let (_, html, _) = victim.get("/console/account").await;
    let csrf = hidden(&html, "csrf");
    for path in ["/console/account/totp", "/console/account/totp/confirm"] {
        let (status, _, _) = victim
            .post(path, &[("csrf", "forged"), ("code", "123456")])
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let handle = html
        .split("/console/account/sessions/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_string();
    let (status, _, _) = victim
        .post(
            &format!("/console/account/sessions/{handle}/end"),
            &[("csrf", "forged")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        victim.get("/console/account").await.0,
        200,
        "still signed in"
    );
    // With it, the session ends.
    victim
        .post(
            &format!("/console/account/sessions/{handle}/end"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        victim.get("/console/account").await.0,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_new_role_applies_to_live_sessions_and_revokes_stronger_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let (mut con, csrf) = member(&d, "hank", "admin").await;
    let (_, admin_token) = api_token(&d, "hank").await;
    let (status, body) = admin(
        &client(),
        &d,
        Method::POST,
        "/tokens",
        Some(&json!({ "user": "hank", "role": "viewer" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let viewer_token = body["token"].as_str().unwrap().to_string();

    let o = d.licctl(&["users", "role", "hank", "viewer"]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("1 API token(s)"),
        "{o:?}"
    );

    // The live session is a viewer's at its next request: reading works, revoking does not.
    let id = buy(&d, "ROLE-1").await;
    assert_eq!(con.get(&format!("/console/licenses/{id}")).await.0, 200);
    let (status, _, _) = con
        .post(
            &format!("/console/licenses/{id}/revoke"),
            &[("csrf", &csrf), ("reason", "demoted")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The admin token of the account is revoked; its viewer token still reads.
    assert_eq!(
        call(&d, &admin_token, Method::GET, "/licenses", None)
            .await
            .0,
        401
    );
    assert_eq!(
        call(&d, &viewer_token, Method::GET, "/licenses", None)
            .await
            .0,
        200
    );
    let audit = account_audit(&d, "hank").await;
    let change = audit
        .iter()
        .find(|e| e["action"] == "accountRoleChanged")
        .unwrap();
    assert_eq!(change["detail"]["from"], "admin");
    assert_eq!(change["detail"]["to"], "viewer");
}

#[tokio::test]
async fn a_weak_password_is_refused_in_the_readers_language_and_keeps_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let secret = add_user(&d, "ivy", "viewer").await;
    let mut con = Console::new(&d);
    con.jar.set("licd_lang", "zh-CN");
    let (_, html, _) = con.get("/console/welcome").await;
    let csrf = hidden(&html, "csrf_login");
    let (status, page, _) = con
        .post(
            "/console/welcome",
            &[
                ("name", "ivy"),
                ("secret", &secret),
                ("password", "short"),
                ("repeat", "short"),
                ("csrf_login", &csrf),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("密码少于 12 个字符"), "{page}");
    // Refused before the secret was spent: it still chooses a password.
    let (status, location) = welcome(&mut con, "ivy", &secret).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console/account")
    );
}
