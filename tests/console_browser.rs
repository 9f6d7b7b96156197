//! The web console in a real browser (Debian's headless Chromium through chromedriver): sign
//! in, find a license, revoke it through the confirmation, see it revoked and audited with the
//! console user's name; switch to 简体中文 and back; and a screenshot of every page in
//! `target/screenshots/console-*.png`.
//!
//! Needs `chromium` and `chromedriver`; `.ci/run` installs them and runs this with
//! `--include-ignored`. Without them the test is listed as ignored.

mod common;

use common::browser::{Browser, Driver, chromium_and_driver};
use common::{Daemon, client, get_license, v1};

const PASSWORD: &str = "a long enough password";

/// Signs in with the shared admin token, under the details of the sign-in page.
async fn token_sign_in(b: &Browser, name: &str, token: &str) {
    b.click("details summary").await;
    b.type_into("#token-name", name).await;
    b.type_into("#token", token).await;
    b.click("#sign-in-token").await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; CI runs it with --include-ignored"]
async fn sign_in_find_a_license_revoke_it_and_see_it_audited() {
    let (chromium, chromedriver) = chromium_and_driver();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    for (order, business) in [
        ("WEB-10", "biz-web-10"),
        ("WEB-11", "biz-web-11"),
        ("WEB-12", "biz-web-12"),
    ] {
        let a = v1(&c, &d, &get_license(order, business)).await;
        assert_eq!(a.code(), "000000");
    }
    let driver = Driver::start(&chromedriver);
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let b = Browser::open(&driver, &chromium, &downloads, &dir.path().join("profile")).await;

    // Any console page sends a stranger to the sign-in form.
    b.go(&format!("{}/console/licenses", d.admin_url())).await;
    b.wait_for("Admin token").await;
    b.screenshot("console-login").await;
    token_sign_in(&b, "alice", &d.admin_token()).await;
    b.wait_for("Licenses by status").await;
    b.screenshot("console-dashboard").await;

    // Find the license by its order id.
    b.go(&format!("{}/console/licenses", d.admin_url())).await;
    b.type_into("#q", "WEB-11").await;
    b.click(".search button").await;
    b.wait_for("biz-web-11</a>").await;
    b.screenshot("console-licenses").await;
    b.click("a[href='/console/licenses/biz-web-11']").await;
    b.wait_for("Audit timeline").await;
    b.screenshot("console-license").await;

    // Revoke it: the confirmation says what the customer will experience.
    b.click("a[href='/console/licenses/biz-web-11/revoke']")
        .await;
    b.wait_for("stops accepting this license").await;
    b.type_into("#reason", "chargeback 7731").await;
    b.screenshot("console-confirm-revoke").await;
    b.click("#confirm").await;
    let html = b
        .wait_for("Revoked. The license is on the revocation list.")
        .await;
    assert!(html.contains("status-released"), "{html}");
    assert!(
        html.contains("console:alice"),
        "the timeline names who revoked it"
    );
    b.screenshot("console-license-revoked").await;

    for (path, name, needle) in [
        ("/console/outbox", "console-outbox", "Calls licd owes"),
        ("/console/products", "console-products", "Products"),
        (
            "/console/marketplace",
            "console-marketplace",
            "V2 signature",
        ),
    ] {
        b.go(&format!("{}{path}", d.admin_url())).await;
        b.wait_for(needle).await;
        b.screenshot(name).await;
    }

    // On a tablet: the dashboard reflows into one column, the navigation stays usable.
    b.resize(800, 1100).await;
    b.go(&format!("{}/console/", d.admin_url())).await;
    b.wait_for("Licenses by status").await;
    b.screenshot("console-dashboard-tablet").await;
    b.resize(1280, 900).await;

    // The switch in the header: 简体中文, every page, times in Beijing time; then back.
    b.click("#lang-switch").await;
    b.wait_for("按状态统计许可证").await;
    b.screenshot("console-dashboard-zh").await;
    b.go(&format!("{}/console/licenses/biz-web-11", d.admin_url()))
        .await;
    let html = b.wait_for("审计时间线").await;
    assert!(html.contains("北京时间"), "{html}");
    b.screenshot("console-license-zh").await;
    b.click("#lang-switch").await;
    b.wait_for("Audit timeline").await;

    // Signing out ends the session.
    b.click(".signout button").await;
    b.wait_for("Admin token").await;
    b.close().await;

    let events = common::audit_events(&c, &d, "biz-web-11").await;
    let revoke = events
        .iter()
        .find(|e| e["action"] == "revoke")
        .expect("audited");
    assert_eq!(revoke["actor"], "console:alice");
    assert_eq!(revoke["detail"]["reason"], "chargeback 7731");
    let l = common::license_json(&c, &d, "biz-web-11").await;
    assert_eq!(l["status"], "released");
}

/// Issue 38: a sales account's first sign-in (one-time secret, password, TOTP enrolment, then a
/// sign-in with a code); a trial created with the console's "New license" form, its license file
/// downloaded by the browser and accepted by client-verifier as a trial, then converted by an
/// extension, keeping the machine that activated it.
#[tokio::test]
#[ignore = "needs chromium and chromedriver; CI runs it with --include-ignored"]
async fn a_sales_account_with_totp_creates_a_trial_that_verifies_and_converts() {
    let (chromium, chromedriver) = chromium_and_driver();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let driver = Driver::start(&chromedriver);
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let b = Browser::open(&driver, &chromium, &downloads, &dir.path().join("profile")).await;
    // The admin adds a sales account; its person chooses a password with the one-time
    // secret, turns on two-factor sign-in, and signs in again with a code.
    let o = d.licctl(&["users", "add", "sales-bo", "--role", "sales", "--json"]);
    assert!(o.status.success(), "{o:?}");
    let secret = serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    b.go(&format!("{}/console/login", d.admin_url())).await;
    b.click("a[href='/console/welcome']").await;
    b.wait_for("Choose your password").await;
    b.type_into("#name", "sales-bo").await;
    b.type_into("#secret", &secret).await;
    b.type_into("#password", PASSWORD).await;
    b.type_into("#repeat", PASSWORD).await;
    b.screenshot("console-welcome").await;
    b.click("#welcome").await;
    b.wait_for("Two-factor sign-in").await;
    b.click("#totp-begin").await;
    let html = b.wait_for("id=\"otpauth\"").await;
    assert!(html.contains("<svg"), "a QR code: {html}");
    b.screenshot("console-account-totp").await;
    let uri = html
        .split("<code id=\"otpauth\">")
        .nth(1)
        .and_then(|r| r.split("</code>").next())
        .unwrap()
        .replace("&amp;", "&");
    let totp_secret = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .unwrap()
        .to_string();
    let code = |t: client_verifier::Timestamp| {
        licd::accounts::totp_code(&totp_secret, "sales-bo", t).unwrap()
    };
    let now = client_verifier::Timestamp::now();
    b.type_into("#code", &code(now)).await;
    b.click("#totp-confirm").await;
    b.wait_for("Two-factor sign-in is on.").await;
    b.click(".signout button").await;
    b.wait_for("Account name").await;
    b.type_into("#name", "sales-bo").await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_for("Enter the 6-digit code").await;
    b.type_into("#password", PASSWORD).await;
    let next = client_verifier::Timestamp::from_unix(now.unix() + 30);
    b.type_into("#code", &code(next)).await;
    b.click("#sign-in").await;
    b.wait_for("Licenses by status").await;

    b.go(&format!("{}/console/licenses", d.admin_url())).await;
    b.click("a[href='/console/licenses/new']").await;
    b.wait_for("Issue the license").await;
    b.type_into("#product", "OFFI454488918838374").await;
    b.type_into("#customer", "prospect-77").await;
    b.type_into("#customer_name", "Prospect 株式会社").await;
    b.type_into("#seats", "2").await;
    b.screenshot("console-new-license").await;
    b.click("#create").await;
    let html = b.wait_for("License issued.").await;
    assert!(html.contains("evaluation (trial)"), "{html}");
    // Sales issues and delivers; revoking is an admin's.
    assert!(
        !html.contains("/revoke'") && !html.contains("/revoke\""),
        "{html}"
    );
    b.screenshot("console-license-created").await;
    b.click("a[download][href$='/license']").await;
    let file = common::browser::wait_for_download(&downloads);
    assert_eq!(file.extension().and_then(|e| e.to_str()), Some("lic"));
    let token = std::fs::read_to_string(&file).unwrap();

    let v = d.verifier();
    let now = client_verifier::Timestamp::now();
    let trial = v.verify(token.trim(), None, now).unwrap();
    assert!(trial.is_trial() && trial.is_active());
    assert_eq!(trial.claims().quantity, 2);
    let id = trial.claims().jti.clone();
    let machine = "04:7C:16:5E:E3:5D|SN-TRIAL|BOARD-TRIAL|BFEBFBFF00090672";
    let r = client()
        .post(d.url("/v1/activate"))
        .json(&serde_json::json!({"license": token.trim(), "fingerprint": machine}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bound: serde_json::Value = r.json().await.unwrap();

    // The sale closes: sales extends it in the console, which converts it.
    b.go(&format!("{}/console/licenses/{id}", d.admin_url()))
        .await;
    b.click(&format!("a[href='/console/licenses/{id}/extend']"))
        .await;
    b.wait_for("Days to add").await;
    b.screenshot("console-extend").await;
    b.click("#confirm").await;
    let html = b.wait_for("Extended.").await;
    assert!(html.contains("Issued by you"), "{html}");
    assert!(!html.contains("evaluation (trial)"), "converted: {html}");
    b.close().await;
    let r = client()
        .post(d.url("/v1/refresh"))
        .json(&serde_json::json!({"token": bound["token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let refreshed: serde_json::Value = r.json().await.unwrap();
    let fp = client_verifier::Fingerprint::parse(machine).unwrap();
    let paid = v
        .verify(refreshed["token"].as_str().unwrap(), Some(&fp), now)
        .unwrap();
    assert_eq!(
        paid.origin(),
        Some("direct"),
        "converted, on the same machine's seat"
    );
    let l = common::license_json(&client(), &d, &id).await;
    assert_eq!(l["customer_name"], "Prospect 株式会社");
}
