//! The customer portal against a real licd: signing in with what a customer holds (the unbound
//! license, a device's license), what each opens, giving a seat back within the transfers, the
//! sign-out that holds on every request, both languages, and the attacks: forged, replaced,
//! revoked or foreign credentials, CSRF, one license's session on another's seat, a flood of
//! guesses, and HTML in what reaches a page.

mod common;

use common::forms::{Jar, hidden, no_redirects};
use common::{Daemon, client, get_license, v1};
use reqwest::StatusCode;

const MACHINE_A: &str = "04:7C:16:5E:E3:5D|SN-A|BOARD-A|BFEBFBFF00090672";
const MACHINE_B: &str = "0B:11:22:33:44:55|SN-B|BOARD-B|BFEBFBFF000A0671";

/// A browser for one origin: cookies by hand, redirects not followed.
struct Browser {
    c: reqwest::Client,
    base: String,
    jar: Jar,
    lang: &'static str,
}

struct Page {
    status: StatusCode,
    html: String,
    location: Option<String>,
    cookies: Vec<String>,
}

impl Browser {
    fn new(d: &Daemon, lang: &'static str) -> Browser {
        Browser {
            c: no_redirects(),
            base: d.url(""),
            jar: Jar::default(),
            lang,
        }
    }

    fn cookie_header(&self) -> String {
        self.jar.header()
    }

    async fn read(&mut self, r: reqwest::Response) -> Page {
        let cookies = self.jar.take(&r);
        let status = r.status();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        Page {
            status,
            html: r.text().await.unwrap_or_default(),
            location,
            cookies,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let r = self
            .c
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept-language", self.lang)
            .send()
            .await
            .unwrap();
        self.read(r).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .c
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept-language", self.lang)
            .form(form)
            .send()
            .await
            .unwrap();
        self.read(r).await
    }

    async fn post_multipart(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        let r = self
            .c
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept-language", self.lang)
            .multipart(form)
            .send()
            .await
            .unwrap();
        self.read(r).await
    }

    /// Signs in with `credential`; the answer to the sign-in form.
    async fn sign_in(&mut self, credential: &str) -> Page {
        let login = self.get("/portal/login").await;
        assert_eq!(login.status, 200, "{}", login.html);
        let csrf = hidden(&login.html, "csrf_login");
        self.post_multipart(
            "/portal/login",
            &[("license", credential), ("csrf_login", &csrf)],
        )
        .await
    }

    /// Signs in and opens the license page; returns it and its CSRF token.
    async fn open(&mut self, credential: &str) -> (Page, String) {
        let p = self.sign_in(credential).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
        assert_eq!(p.location.as_deref(), Some("/portal/"));
        let session = p
            .cookies
            .iter()
            .find(|c| c.starts_with("licd_portal="))
            .expect("a session cookie");
        for attr in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/portal",
            "Max-Age=3600",
        ] {
            assert!(session.contains(attr), "{session} lacks {attr}");
        }
        let home = self.get("/portal/").await;
        assert_eq!(home.status, 200, "{}", home.html);
        let csrf = hidden(&home.html, "csrf");
        (home, csrf)
    }
}

/// Buys a license of `quantity` seats; its unbound token.
async fn buy(d: &Daemon, order: &str, quantity: &str) -> (String, String) {
    let business = format!("biz-{order}");
    let mut params = get_license(order, &business);
    params.push(("amount", quantity));
    let a = v1(&client(), d, &params).await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    (
        a.json["instanceId"].as_str().unwrap().to_string(),
        a.json["license"].as_str().unwrap().to_string(),
    )
}

/// `/v1/activate` of `token` on `fingerprint`: the device's token.
async fn activate(d: &Daemon, token: &str, fingerprint: &str) -> String {
    let r = client()
        .post(d.url("/v1/activate"))
        .json(&serde_json::json!({"license": token, "fingerprint": fingerprint}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

const CATALOG: &str = r#"
[default]
name = "Standard"
transfers_per_year = 1
"#;

fn start(dir: &std::path::Path) -> Daemon {
    let catalog = dir.join("products.toml");
    std::fs::write(&catalog, CATALOG).unwrap();
    Daemon::start(dir, &["--products", catalog.to_str().unwrap()])
}

#[tokio::test]
async fn the_unbound_license_opens_every_seat_and_frees_one_within_the_transfers() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let (id, unbound) = buy(&d, "POR-1", "2").await;
    let on_a = activate(&d, &unbound, MACHINE_A).await;
    activate(&d, &unbound, MACHINE_B).await;

    let mut b = Browser::new(&d, "en-US,en;q=0.9");
    let (home, csrf) = b.open(&unbound).await;
    assert!(home.html.contains(&id), "{}", home.html);
    assert!(home.html.contains("2 of 2 seats in use"), "{}", home.html);
    assert!(
        home.html.contains("Standard"),
        "edition name from the catalog"
    );
    assert!(home.html.contains(" UTC"), "times are labelled");
    assert!(home.html.contains("0 of 1 used, 1 left"), "{}", home.html);

    // The confirmation says what happens; the POST needs the session's CSRF token.
    let confirm = b.get("/portal/seats/0/free").await;
    assert_eq!(confirm.status, 200, "{}", confirm.html);
    assert!(confirm.html.contains("revocation list"), "{}", confirm.html);
    assert!(
        confirm.html.contains("device transfer: 1 of 1"),
        "{}",
        confirm.html
    );
    for bad in ["", "0000", &csrf[..csrf.len() - 1]] {
        let refused = b.post("/portal/seats/0/free", &[("csrf", bad)]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "csrf {bad:?}");
    }
    let freed = b.post("/portal/seats/0/free", &[("csrf", &csrf)]).await;
    assert_eq!(freed.status, StatusCode::SEE_OTHER, "{}", freed.html);
    let home = b.get(freed.location.as_deref().unwrap()).await;
    assert!(home.html.contains("Seat 0 is free"), "{}", home.html);
    assert!(home.html.contains("1 of 2 seats in use"), "{}", home.html);
    assert!(home.html.contains("0 of 1 used, 0 left"), "{}", home.html);

    // The transfer budget is spent: seat 1 cannot be freed, from the page or by a forged POST.
    assert!(!home.html.contains("/portal/seats/1/free"), "{}", home.html);
    let refused = b.post("/portal/seats/1/free", &[("csrf", &csrf)]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.html);
    assert!(refused.html.contains("transfer"), "{}", refused.html);

    // Audited as the customer; the freed binding is on the revocation list.
    let c = client();
    let events = common::audit_events(&c, &d, &id).await;
    let actors: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    let me = format!("portal:{id}");
    assert!(
        actors.contains(&("portal-sign-in", me.as_str())),
        "{actors:?}"
    );
    assert!(actors.contains(&("deactivate", me.as_str())), "{actors:?}");
    let refreshed = c
        .post(d.url("/v1/refresh"))
        .json(&serde_json::json!({ "token": on_a }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refreshed.status(),
        StatusCode::GONE,
        "machine A's license still refreshes"
    );

    // The license file: behind a confirmation, then the unbound token, newest validity.
    let confirm = b.get("/portal/license").await;
    assert_eq!(confirm.status, 200);
    let file = b.post("/portal/license", &[("csrf", &csrf)]).await;
    assert_eq!(file.status, 200);
    assert!(file.html.trim().starts_with("v4.public."), "{}", file.html);
    let opened = d
        .verifier()
        .verify(file.html.trim(), None, client_verifier::Timestamp::now());
    assert!(opened.is_ok(), "{opened:?}");

    // Sign-out ends the session for good: the same cookie, replayed, opens nothing.
    let cookie = b.cookie_header();
    let out = b.post("/portal/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 200);
    let r = client()
        .get(d.url("/portal/"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert!(
        r.url().path().ends_with("/portal/login"),
        "a signed-out cookie still opens the portal: {}",
        r.url()
    );
}

#[tokio::test]
async fn a_device_license_opens_only_its_own_seat_and_never_the_unbound_license() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let (_, unbound) = buy(&d, "POR-2", "2").await;
    let on_a = activate(&d, &unbound, MACHINE_A).await;
    activate(&d, &unbound, MACHINE_B).await;

    let mut b = Browser::new(&d, "en");
    let (home, csrf) = b.open(&on_a).await;
    assert!(
        home.html.contains("that machine&#39;s seat only") || home.html.contains("one machine"),
        "{}",
        home.html
    );
    assert!(home.html.contains("/portal/seats/0/free"), "{}", home.html);
    assert!(!home.html.contains("/portal/seats/1/free"), "{}", home.html);
    assert!(!home.html.contains("/portal/exchange"), "{}", home.html);
    // Another machine's seat: refused, whatever the form says.
    let other = b.post("/portal/seats/1/free", &[("csrf", &csrf)]).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.html);
    assert_eq!(
        b.get("/portal/seats/1/free").await.status,
        StatusCode::NOT_FOUND
    );
    // Its download is its own bound token, never the unbound license.
    let file = b.post("/portal/license", &[("csrf", &csrf)]).await;
    assert_eq!(file.status, 200);
    let token = file.html.trim();
    assert_ne!(token, unbound);
    let a = client_verifier::Fingerprint::parse(MACHINE_A).unwrap();
    let b_fp = client_verifier::Fingerprint::parse(MACHINE_B).unwrap();
    let v = d.verifier();
    let now = client_verifier::Timestamp::now();
    assert!(v.verify(token, Some(&a), now).is_ok());
    assert!(v.verify(token, Some(&b_fp), now).is_err());
    // The offline exchange needs the whole license.
    let ex = b.get("/portal/exchange").await;
    assert_eq!(ex.status, StatusCode::FORBIDDEN);

    // Freeing its own seat ends the session: the token that opened it is revoked.
    let freed = b.post("/portal/seats/0/free", &[("csrf", &csrf)]).await;
    assert_eq!(freed.status, 200, "{}", freed.html);
    assert!(freed.html.contains("signed out"), "{}", freed.html);
    let after = b.get("/portal/").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    let again = Browser::new(&d, "en").sign_in(&on_a).await;
    assert_eq!(again.status, StatusCode::GONE, "{}", again.html);
}

#[tokio::test]
async fn forged_replaced_revoked_and_foreign_credentials_open_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let (id, unbound) = buy(&d, "POR-3", "1").await;
    let (other_id, other) = buy(&d, "POR-3B", "1").await;
    let mut b = Browser::new(&d, "en");

    // Another server's license (another key), a tampered one, garbage, a code never activated.
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign = start(foreign_dir.path());
    let (_, theirs) = buy(&foreign, "POR-3", "1").await;
    let mut tampered = unbound.clone().into_bytes();
    let n = tampered.len();
    tampered[n / 2] = if tampered[n / 2] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for bad in [
        theirs.as_str(),
        tampered.as_str(),
        "v4.public.e30",
        "ABCD-EFGH-IJKL-MNOP",
        "<script>alert(1)</script>",
    ] {
        let p = b.sign_in(bad).await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{bad}: {}", p.html);
        assert!(
            p.html
                .contains("not a license or activation code this server issued")
        );
        assert!(!p.html.contains("<script>alert"), "echoed: {}", p.html);
        assert!(!p.cookies.iter().any(|c| c.starts_with("licd_portal=")));
    }
    // This server's own key, a token naming this license for another product: refused (a key
    // thief aside, only licd mints; the record decides what a license is).
    let key = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .find_map(|t| client_verifier::SecretKey::from_paserk(t.trim()).ok())
        .expect("the daemon's signing key");
    let mut claims = d
        .verifier()
        .verify(&unbound, None, client_verifier::Timestamp::now())
        .unwrap()
        .claims()
        .clone();
    claims.product = "ANOTHER-PRODUCT".into();
    let other_product = client_verifier::mint(&key, &claims).unwrap();
    let p = b.sign_in(&other_product).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{}", p.html);
    // Nothing pasted reaches the log.
    assert!(!d.log().contains("SN-A") && !d.log().contains(&tampered[10..40]));

    // Replaced: after a reissue the old license file opens nothing, and an open session ends.
    let (_, csrf) = b.open(&unbound).await;
    let _ = csrf;
    let out = d.licctl(&[
        "licenses",
        "reissue",
        &id,
        "--reason",
        "customer replaced the machine",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ended = b.get("/portal/").await;
    assert!(ended.html.contains("Your sign-in ended"), "{}", ended.html);
    let p = Browser::new(&d, "en").sign_in(&unbound).await;
    assert_eq!(p.status, StatusCode::GONE, "{}", p.html);

    // Revoked: refused at sign-in.
    let out = d.licctl(&[
        "licenses",
        "revoke",
        &other_id,
        "--reason",
        "refund of the order",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = Browser::new(&d, "en").sign_in(&other).await;
    assert_eq!(p.status, StatusCode::GONE, "{}", p.html);
}

#[tokio::test]
async fn a_session_cannot_reach_another_license_and_forms_need_their_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let (_, first) = buy(&d, "POR-4A", "1").await;
    let (second_id, second) = buy(&d, "POR-4B", "1").await;
    activate(&d, &second, MACHINE_B).await;
    let mut a = Browser::new(&d, "en");
    let (_, csrf_a) = a.open(&first).await;
    // License A's session, seat 0 of license B: the session names A, so B's seat is not
    // reachable (A has no seat 0 held, so the answer is the refusal).
    let p = a.post("/portal/seats/0/free", &[("csrf", &csrf_a)]).await;
    assert_ne!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let events = common::audit_events(&client(), &d, &second_id).await;
    assert!(
        !events.iter().any(|e| e["action"] == "deactivate"),
        "{events:?}"
    );
    // Another session's CSRF token does not work here.
    let mut b = Browser::new(&d, "en");
    let (_, csrf_b) = b.open(&second).await;
    let p = a.post("/portal/license", &[("csrf", &csrf_b)]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // The offline exchange is an action too: without the token, nothing is activated.
    let p = a
        .post_multipart("/portal/exchange", &[("request", "lor1.x"), ("csrf", "")])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.html);
    let p = a.post("/portal/logout", &[("csrf", &csrf_b)]).await;
    assert_eq!(
        p.status,
        StatusCode::FORBIDDEN,
        "another session's token signs nobody out"
    );
    assert_eq!(a.get("/portal/").await.status, StatusCode::OK);
    // A sign-in form without its cookie's token is refused.
    let mut c = Browser::new(&d, "en");
    let p = c
        .post_multipart("/portal/login", &[("license", &first), ("csrf_login", "x")])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.html);
    // A session cookie altered by hand opens nothing.
    let mut forged = Browser::new(&d, "en");
    forged.jar = a.jar.clone();
    for (n, v) in forged.jar.0.iter_mut() {
        if n == "licd_portal" {
            v.insert(0, 'e');
        }
    }
    assert_eq!(forged.get("/portal/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn guesses_are_limited_per_address_and_pages_speak_chinese() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let (_, unbound) = buy(&d, "POR-5", "1").await;
    activate(&d, &unbound, MACHINE_A).await;
    let mut b = Browser::new(&d, "zh-CN,zh;q=0.9,en;q=0.8");
    let login = b.get("/portal/login").await;
    assert!(
        login.html.contains("<html lang=\"zh-CN\">"),
        "{}",
        login.html
    );
    assert!(login.html.contains("授权码"), "{}", login.html);
    let (home, _) = b.open(&unbound).await;
    assert!(
        home.html.contains("我的许可证") && home.html.contains("北京时间"),
        "{}",
        home.html
    );
    assert!(home.html.contains("席位"), "{}", home.html);
    assert!(
        home.html.contains("/lang?to=en&amp;back=/portal/"),
        "{}",
        home.html
    );
    // The switch remembers English over the browser's Chinese.
    let switched = b.get("/lang?to=en&back=/portal/").await;
    assert_eq!(switched.location.as_deref(), Some("/portal/"));
    assert!(
        switched
            .cookies
            .iter()
            .any(|c| c.starts_with("licd_lang=en"))
    );
    let home = b.get("/portal/").await;
    assert!(home.html.contains("Your license") && home.html.contains(" UTC"));
    // It never sends the reader elsewhere.
    let away = b.get("/lang?to=zh-CN&back=https://evil.example/").await;
    assert_eq!(away.location.as_deref(), Some("/portal/"));

    // A flood of guesses from one address: ten, then 429 with Retry-After, logged boundedly.
    let mut guesser = Browser::new(&d, "zh-CN");
    let mut limited = 0;
    for i in 0..25 {
        let p = guesser.sign_in(&format!("CODE-GUESS-{i:04}")).await;
        if p.status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
            assert!(p.html.contains("秒后重试"), "{}", p.html);
        }
    }
    assert!(limited >= 14, "only {limited} of 25 guesses were limited");
    let lines = d
        .log()
        .lines()
        .filter(|l| l.contains("portal sign-in refused"))
        .count();
    assert!(lines < 25, "{lines} log lines for 25 guesses");
    assert!(!d.log().contains("CODE-GUESS-"));
}

#[tokio::test]
async fn api_errors_carry_a_chinese_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let (_, unbound) = buy(&d, "POR-6", "1").await;
    activate(&d, &unbound, MACHINE_A).await;
    let r = client()
        .post(d.url("/v1/activate"))
        .json(&serde_json::json!({"license": unbound, "fingerprint": MACHINE_B}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "seats_taken");
    assert_eq!(body["message_zh"], "此许可证的所有席位均已被占用。");
}
