//! The web console over plain HTTP, as an attacker on the admin listener would try it: pages and
//! actions without a session, forms without the CSRF token, wrong admin tokens; and the way it
//! is meant to be used: sign in, search, revoke behind a confirmation, see it audited.

mod common;

use std::time::{Duration, Instant};

use common::console::Console;
use common::forms::hidden;
use common::{Daemon, client, get_license, v1};
use reqwest::StatusCode;

async fn buy(d: &Daemon, order: &str, business: &str) -> String {
    let a = v1(&client(), d, &get_license(order, business)).await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    a.json["instanceId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn without_a_session_or_the_csrf_token_nothing_is_shown_or_changed() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let id = buy(&d, "CON-1", "biz-con-1").await;
    let mut anon = Console::new(&d);

    // Pages send a stranger to sign in; actions are refused and change nothing.
    for page in [
        "/console/",
        "/console/licenses",
        &format!("/console/licenses/{id}"),
        "/console/outbox",
    ] {
        let (status, _, location) = anon.get(page).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(location.as_deref(), Some("/console/login"), "{page}");
    }
    let (status, html, _) = anon
        .post(
            &format!("/console/licenses/{id}/revoke"),
            &[("csrf", "x"), ("reason", "x")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");

    // Signed in, a form without the session's CSRF token (a cross-site post) is refused.
    let mut user = Console::new(&d);
    let csrf = user.sign_in(&d, "alice").await;
    for token in ["", "0000", &format!("{csrf}0")] {
        let (status, html, _) = user
            .post(
                &format!("/console/licenses/{id}/revoke"),
                &[("csrf", token), ("reason", "fraud")],
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
        assert!(html.contains("nothing was changed"));
    }
    let l = common::license_json(&client(), &d, &id).await;
    assert_eq!(l["status"], "active");

    // The sign-in form needs its own token too, and a wrong admin token is refused slowly.
    let mut other = Console::new(&d);
    let (status, _, _) = other
        .post(
            "/console/login",
            &[
                ("name", "mallory"),
                ("token", &d.admin_token()),
                ("csrf_login", "guess"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, html, _) = other.get("/console/login").await;
    let mut login_csrf = hidden(&html, "csrf_login");
    let mut slowest = Duration::ZERO;
    for _ in 0..3 {
        let started = Instant::now();
        let (status, html, cookies) = other
            .post(
                "/console/login",
                &[
                    ("name", "mallory"),
                    ("token", "wrong-token-guess"),
                    ("csrf_login", &login_csrf),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(cookies.iter().all(|c| !c.starts_with("licd_console=")));
        slowest = slowest.max(started.elapsed());
        // The form comes back with a fresh sign-in token.
        let fresh = hidden(&html, "csrf_login");
        assert_ne!(fresh, login_csrf);
        login_csrf = fresh;
    }
    assert!(
        slowest >= Duration::from_millis(100),
        "wrong tokens are slowed down: {slowest:?}"
    );

    // Signing out ends the session: the old cookie opens nothing.
    let (status, _, _) = user.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = user.get("/console/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_signed_in_user_finds_a_license_revokes_it_and_the_audit_log_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let id = buy(&d, "CON-2", "biz-con-2").await;
    buy(&d, "CON-3", "biz-con-3").await;
    let mut u = Console::new(&d);
    let csrf = u.sign_in(&d, "alice").await;

    let (status, html, _) = u.get("/console/").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<svg") && html.contains("<td class=\"num\">2</td>"),
        "{html}"
    );

    // By order id, by license id, by customer.
    for q in ["CON-2", "biz-con-2"] {
        let (_, html, _) = u.get(&format!("/console/licenses?q={q}")).await;
        assert!(
            html.contains(&format!("/console/licenses/{id}\"")),
            "{q}: {html}"
        );
        assert!(!html.contains("biz-con-3"), "{q}");
    }
    let (_, html, _) = u.get("/console/licenses?q=cust-68cbc86a").await;
    assert!(html.contains("biz-con-2") && html.contains("biz-con-3"));

    let (_, html, _) = u.get(&format!("/console/licenses/{id}")).await;
    assert!(
        html.contains("every record&#39;s hash matches")
            || html.contains("every record's hash matches"),
        "{html}"
    );
    let (_, confirm, _) = u.get(&format!("/console/licenses/{id}/revoke")).await;
    assert!(
        confirm.contains("stops accepting this license"),
        "{confirm}"
    );
    let (status, _, _) = u
        .post(
            &format!("/console/licenses/{id}/revoke"),
            &[("csrf", &csrf), ("reason", "refund 4411")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html, _) = u.get(&format!("/console/licenses/{id}?done=revoked")).await;
    assert!(
        html.contains("Revoked.") && html.contains("status-released"),
        "{html}"
    );

    let events = common::audit_events(&client(), &d, &id).await;
    let revoke = events
        .iter()
        .find(|e| e["action"] == "revoke")
        .expect("a revoke event");
    assert_eq!(revoke["actor"], "console:alice");
    assert_eq!(revoke["detail"]["reason"], "refund 4411");
}

#[tokio::test]
async fn the_dashboard_counts_what_the_store_keeps_and_follows_changes() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    // One license expiring in ten days, two that run until 2099, one of them activated.
    let soon = licd::marketplace::format_time(
        client_verifier::Timestamp::now().add_secs(10 * client_verifier::DAY),
    );
    let mut params = get_license("DASH-1", "biz-dash-1");
    params.retain(|(k, _)| *k != "expireTime");
    params.push(("expireTime", &soon));
    assert_eq!(v1(&c, &d, &params).await.code(), "000000");
    let license = {
        let a = v1(&c, &d, &get_license("DASH-2", "biz-dash-2")).await;
        a.json["license"].as_str().unwrap().to_string()
    };
    buy(&d, "DASH-3", "biz-dash-3").await;
    let r = c
        .post(d.url("/v1/activate"))
        .json(&serde_json::json!({
            "license": license,
            "fingerprint": "04:7C:16:5E:E3:5D|SN-DASH|BOARD-DASH|BFEBFBFF00090672",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let mut u = Console::new(&d);
    let csrf = u.sign_in(&d, "alice").await;
    let (_, html, _) = u.get("/console/").await;
    let section = |name: &str| -> String {
        let at = html
            .find(&format!("id=\"{name}\""))
            .unwrap_or_else(|| panic!("no {name}"));
        let end = html[at..].find("</section>").map_or(html.len(), |e| at + e);
        html[at..end].to_string()
    };
    assert!(
        section("expiring").contains("<a href=\"/console/licenses?status=active\">1</a>"),
        "{}",
        section("expiring")
    );
    assert!(
        section("groups").contains("<td>OFFI454488918838374</td><td></td><td class=\"num\">3</td>"),
        "{}",
        section("groups")
    );
    // Summed over rows, so a run that crosses midnight or the hour still adds up.
    let numbers_after = |text: &str, marker: &str| -> u64 {
        text.match_indices(marker)
            .map(|(at, _)| {
                text[at + marker.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse::<u64>()
                    .unwrap_or(0)
            })
            .sum()
    };
    let activations = section("activations");
    let body = &activations[activations.find("<tbody>").unwrap()..];
    assert_eq!(
        numbers_after(body, "<td class=\"num\">"),
        1,
        "{activations}"
    );
    assert_eq!(
        numbers_after(&section("callbacks"), "000000: "),
        3,
        "{}",
        section("callbacks")
    );

    // Freeing the activated seat: confirmed, then done, audited, and not a transfer.
    let (_, confirm, _) = u.get("/console/licenses/biz-dash-2/seats/0/free").await;
    assert!(
        confirm.contains("does not count as one of the customer"),
        "{confirm}"
    );
    let (status, _, _) = u
        .post(
            "/console/licenses/biz-dash-2/seats/0/free",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page, _) = u.get("/console/licenses/biz-dash-2?done=freed").await;
    assert!(
        page.contains("Seat freed") && page.contains(" UTC</td>") && page.contains("<td>freed "),
        "{page}"
    );
    let events = common::audit_events(&c, &d, "biz-dash-2").await;
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "free-seat" && e["actor"] == "console:alice")
    );
    // Freeing it again is refused, with the reason on the page.
    let (status, page, _) = u
        .post(
            "/console/licenses/biz-dash-2/seats/0/free",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("already free"), "{page}");
    // Still signed in: the page leads back to the license, not to the sign-in form.
    assert!(
        page.contains("<a href=\"/console/licenses/biz-dash-2\">Back</a>")
            && page.contains("Sign out"),
        "{page}"
    );

    // Releasing the expiring license takes it out of both counts.
    let release = [
        ("activity", "releaseLicense"),
        ("instanceId", "biz-dash-1"),
        ("orderId", "DASH-1"),
    ];
    assert_eq!(v1(&c, &d, &release).await.code(), "000000");
    let (_, html, _) = u.get("/console/").await;
    let at = html.find("id=\"expiring\"").unwrap();
    assert!(html[at..].contains("<a href=\"/console/licenses?status=active\">0</a>"));
    let at = html.find("id=\"groups\"").unwrap();
    assert!(html[at..].contains("<td>OFFI454488918838374</td><td></td><td class=\"num\">2</td>"));
}

/// A code whose activation answer was lost is repaired from the console: the product, order and
/// seats from the Seller Console, behind a confirmation and the CSRF token, audited under the
/// signed-in name. The code itself never appears in a URL.
#[tokio::test]
async fn a_code_license_s_purchase_is_entered_from_its_page() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    // A renewal callback before any activation records the code without its purchase.
    let renewal = serde_json::json!({"activity": "refreshLicenseCode", "scene": "RENEWAL",
        "orderId": "CS-REP", "orderLineId": "CS-REP-1", "license": "LC-REPAIR-1",
        "expireTime": "20991231000000", "testFlag": "0"});
    assert_eq!(common::v2(&c, &d, &renewal).await.code(), "000000");
    let (_, list) = common::admin(&c, &d, reqwest::Method::GET, "/licenses", None).await;
    let id = list["licenses"][0]["id"].as_str().unwrap().to_string();

    let mut u = Console::new(&d);
    let csrf = u.sign_in(&d, "alice").await;
    let (_, page, _) = u.get(&format!("/console/licenses/{id}")).await;
    assert!(
        page.contains(&format!("/console/licenses/{id}/repair")),
        "{page}"
    );
    let (_, confirm, _) = u.get(&format!("/console/licenses/{id}/repair")).await;
    assert!(
        confirm.contains("Seller Console") && confirm.contains("name=\"quantity\""),
        "{confirm}"
    );
    // Without the CSRF token nothing changes.
    let form = [
        ("product", "OFFI2000"),
        ("quantity", "5"),
        ("order", "CS-REP"),
    ];
    let (status, _, _) = u
        .post(&format!("/console/licenses/{id}/repair"), &form)
        .await;
    assert_ne!(status, StatusCode::SEE_OTHER);
    let mut with_csrf = form.to_vec();
    with_csrf.push(("csrf", &csrf));
    let (status, body, _) = u
        .post(&format!("/console/licenses/{id}/repair"), &with_csrf)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let events = common::audit_events(&c, &d, &id).await;
    let repaired: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "codeAnswer")
        .collect();
    assert_eq!(repaired.len(), 1, "{events:#?}");
    assert_eq!(repaired[0]["actor"], "console:alice");
    assert_eq!(repaired[0]["detail"]["quantity"], 5);
    // A seat count that is not a number is refused on the page.
    let bad = [
        ("product", "P"),
        ("quantity", "five"),
        ("order", "O"),
        ("csrf", &csrf),
    ];
    let (status, page, _) = u
        .post(&format!("/console/licenses/{id}/repair"), &bad)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("whole number"), "{page}");
}

/// A new user's first hour (issue 29, §4): the admin address leads to the console, the log says
/// where it is and where its token lives, a released license offers no revoke or reissue (and a
/// second revoke says there was nothing to do), a product without SKU reads as itself, and an
/// outbox job that nothing can run says why.
#[tokio::test]
async fn the_console_tells_a_new_user_what_is_going_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let log = d.wait_log("the web console");
    assert!(
        log.contains(&format!("console=http://{}/console/", d.admin_addr))
            && log.contains("admin.token"),
        "{log}"
    );
    let mut u = Console::new(&d);
    let (status, _, location) = u.get("/").await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/console/"))
    );

    let c = client();
    let mut p = get_license("CON-REL", "biz-con-rel");
    p.retain(|(k, _)| *k != "skuCode");
    assert_eq!(v1(&c, &d, &p).await.code(), "000000");
    let csrf = u.sign_in(&d, "alice").await;
    let (_, page, _) = u.get("/console/licenses/biz-con-rel").await;
    assert!(page.contains("<dd>OFFI454488918838374</dd>"), "{page}");
    assert!(
        page.contains("/console/licenses/biz-con-rel/revoke"),
        "{page}"
    );
    let form = [("csrf", csrf.as_str()), ("reason", "refund")];
    let (status, _, _) = u.post("/console/licenses/biz-con-rel/revoke", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page, _) = u.get("/console/licenses/biz-con-rel").await;
    assert!(
        !page.contains("/console/licenses/biz-con-rel/revoke")
            && !page.contains("/console/licenses/biz-con-rel/reissue"),
        "{page}"
    );
    let (status, page, _) = u.post("/console/licenses/biz-con-rel/revoke", &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("released already"), "{page}");

    // A device license waits for an upload that nothing can make: no open API configured.
    let created = common::v2(
        &c,
        &d,
        &serde_json::json!({"activity": "newInstance", "businessId": "inst-con", "orderId": "CON-ON",
                            "orderLineId": "CON-ON-1", "testFlag": "0"}),
    )
    .await;
    assert_eq!(created.code(), "000000");
    let device = common::v2(
        &c,
        &d,
        &serde_json::json!({"activity": "getLicenseAsync", "instanceId": "inst-con", "eventId": "ev-con",
            "deviceFingerprint": "04:7C:16:5E:E3:5D|SN-C|BOARD-C|BFEBFBFF00090672",
            "effectiveTime": "2023-11-23 10:30:15 z"}),
    )
    .await;
    assert_eq!(device.code(), "000004", "{:?}", device.json);
    let (_, page, _) = u.get("/console/outbox").await;
    assert!(page.contains("open API is not configured"), "{page}");
}

#[tokio::test]
async fn the_marketplace_page_shows_which_v2_reading_the_marketplace_signs_with() {
    use licd::marketplace::{AccessKey, V2Reading, random_nonce, sign_v2_query_as};
    async fn send(d: &Daemon, reading: V2Reading, i: usize) -> String {
        let key = AccessKey::new(common::ACCESS_KEY);
        let body = serde_json::to_vec(&serde_json::json!({"activity": "newInstance",
            "businessId": format!("mk-{i}"), "orderId": format!("MK-{i}"),
            "orderLineId": format!("MK-{i}-1"), "testFlag": "1"}))
        .unwrap();
        let ms = client_verifier::Timestamp::now().unix() * 1000;
        let q = sign_v2_query_as(reading, &key, &body, &random_nonce(), ms);
        common::v2_query(&client(), d, &body, &q)
            .await
            .code()
            .to_string()
    }

    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let mut u = Console::new(&d);
    u.sign_in(&d, "alice").await;
    let (_, page, _) = u.get("/console/marketplace").await;
    assert!(page.contains("No V2 callback has been verified"), "{page}");
    assert!(page.contains("href=\"/console/marketplace\""), "{page}");
    for i in 0..2 {
        assert_eq!(send(&d, V2Reading::Saas, i).await, "000000");
    }
    let (status, page, _) = u.get("/console/marketplace").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<tr><td>saas</td><td class=\"num\">2</td>"),
        "{page}"
    );
    assert!(page.contains("pin it with --v2-signature saas"), "{page}");

    // Pinned: said so, and another reading is refused.
    let dir2 = tempfile::tempdir().unwrap();
    let d2 = Daemon::start(dir2.path(), &["--v2-signature", "kit"]);
    assert_eq!(send(&d2, V2Reading::Saas, 9).await, "000001");
    assert_eq!(send(&d2, V2Reading::Kit, 10).await, "000000");
    let mut u2 = Console::new(&d2);
    u2.sign_in(&d2, "alice").await;
    let (_, page, _) = u2.get("/console/marketplace").await;
    assert!(page.contains("pinned to kit (--v2-signature)"), "{page}");
    assert!(
        page.contains("<tr><td>kit</td><td class=\"num\">1</td>"),
        "{page}"
    );
    assert!(!page.contains("<tr><td>saas</td>"), "{page}");
}

#[tokio::test]
async fn a_floating_license_page_lists_its_leases_and_takes_one_back() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("products.toml");
    std::fs::write(
        &catalog,
        "[[product]]\nid = \"OFFI454488918838374\"\nmodel = \"floating\"\n",
    )
    .unwrap();
    let d = Daemon::start(dir.path(), &["--products", catalog.to_str().unwrap()]);
    let c = client();
    let bought = common::v1(&c, &d, &get_license("CON-F", "biz-con-f")).await;
    let license = bought.json["license"].as_str().unwrap().to_string();
    let lease: serde_json::Value = c
        .post(d.url("/v1/leases"))
        .json(
            &serde_json::json!({"license": license, "instance": "cad<script>:7",
            "fingerprint": "04:7C:16:5E:E3:5D|SN-A|BOARD-A|BFEBFBFF00090672"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lease_id = lease["lease_id"].as_str().unwrap();
    let (id, key) = lease_id.rsplit_once('~').unwrap();

    let mut u = Console::new(&d);
    let csrf = u.sign_in(&d, "carol").await;
    let (_, html, _) = u.get(&format!("/console/licenses/{id}")).await;
    assert!(html.contains("Leases (floating seats)"), "{html}");
    // The program's name is the client's: shown escaped.
    assert!(
        html.contains("cad&lt;script&gt;:7") || html.contains("cad&#60;script&#62;:7"),
        "{html}"
    );
    let action = format!("/console/licenses/{id}/leases/{key}/release");
    assert!(html.contains(&action), "{html}");
    let (_, confirm, _) = u.get(&action).await;
    assert!(
        confirm.contains("keeps running until the lease expires"),
        "{confirm}"
    );
    // A reason is required.
    let (status, _, _) = u.post(&action, &[("csrf", &csrf), ("reason", "")]).await;
    assert_ne!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = u
        .post(&action, &[("csrf", &csrf), ("reason", "hung on a dead VM")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html, _) = u
        .get(&format!("/console/licenses/{id}?done=taken-back"))
        .await;
    assert!(
        html.contains("Lease taken back") && html.contains("taken back; seat free at"),
        "{html}"
    );
    let renewed = c
        .post(d.url("/v1/leases/renew"))
        .json(&serde_json::json!({ "lease": lease["lease"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status().as_u16(), 410);
    let events = common::audit_events(&c, &d, id).await;
    let taken = events
        .iter()
        .find(|e| e["action"] == "leaseForceReleased")
        .expect("an audit event");
    assert_eq!(taken["actor"], "console:carol");
    assert_eq!(taken["detail"]["reason"], "hung on a dead VM");

    // A site server of the plant takes 2 of another license's 3 seats: the page lists it.
    let mut buy = get_license("CON-G", "biz-con-g");
    buy.push(("amount", "3"));
    let bought = common::v1(&c, &d, &buy).await;
    let license = bought.json["license"].as_str().unwrap().to_string();
    let site =
        client_verifier::offline::state::OfflineState::open(dir.path().join("site")).unwrap();
    let request = site
        .site_request(
            &license,
            &client_verifier::Fingerprint::parse("0A:11:22:33:44:55|SN-S|BOARD-S|CPU").unwrap(),
            2,
        )
        .unwrap();
    let allotted: serde_json::Value = c
        .post(d.url("/v1/site/allot"))
        .json(&serde_json::json!({ "request": request }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(allotted["seats"], 2, "{allotted}");
    let (_, html, _) = u.get("/console/licenses/biz-con-g").await;
    assert!(
        html.contains("Site servers") && html.contains("allotted until"),
        "{html}"
    );
}

#[tokio::test]
async fn the_console_speaks_chinese_from_its_switch_and_escapes_in_both_languages() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let mut p = get_license("CON-ZH", "biz-con-zh");
    for (k, v) in p.iter_mut() {
        if *k == "customerName" {
            *v = "<script>alert(1)</script>";
        }
    }
    let a = v1(&client(), &d, &p).await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    let mut u = Console::new(&d);
    u.sign_in(&d, "李雷").await;

    // The switch is a parameter on any page: remembered in a cookie, the same page shown again.
    let (status, _, location) = u.get("/console/licenses/biz-con-zh?lang=zh-CN").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/console/licenses/biz-con-zh"));
    let (_, page, _) = u.get("/console/licenses/biz-con-zh").await;
    assert!(page.contains("<html lang=\"zh-CN\">"), "{page}");
    assert!(
        page.contains("审计时间线") && page.contains("北京时间"),
        "{page}"
    );
    assert!(page.contains("李雷"), "{page}");
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    let (_, board, _) = u.get("/console/").await;
    assert!(board.contains("按状态统计许可证"), "{board}");
    let (_, confirm, _) = u.get("/console/licenses/biz-con-zh/revoke").await;
    assert!(confirm.contains("确认吊销许可证 biz-con-zh"), "{confirm}");
    // A refusal in Chinese keeps licd's own words for support.
    let (_, refused, _) = u
        .post("/console/licenses/biz-con-zh/revoke", &[("csrf", "wrong")])
        .await;
    assert!(refused.contains("CSRF"), "{refused}");

    // And back: English, escaped the same way. The switch never leaves the console.
    let (_, _, location) = u.get("/console/?lang=en").await;
    assert_eq!(location.as_deref(), Some("/console/"));
    let (_, page, _) = u.get("/console/licenses/biz-con-zh").await;
    assert!(
        page.contains("Audit timeline") && page.contains(" UTC"),
        "{page}"
    );
    assert!(!page.contains("<script>alert"), "{page}");
    let (status, _, _) = u.get("/console/?lang=xx").await;
    assert_eq!(status, StatusCode::OK, "an unknown language is ignored");
}

/// A callback's customer name chosen to run as a formula in whoever's spreadsheet opens the
/// export: the export needs a session, streams every match, and makes such a cell text.
#[tokio::test]
async fn the_csv_export_needs_a_session_and_turns_formulas_into_text() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let names = [
        (
            "CS-CSV-1",
            "=HYPERLINK(\"http://evil.example/\",\"Invoice\")",
        ),
        ("CS-CSV-2", "北京某某科技有限公司"),
        ("CS-CSV-3", "@SUM(1,1)"),
    ];
    for (order, name) in names {
        let mut p = get_license(order, order);
        p.retain(|(k, _)| *k != "customerName");
        p.push(("customerName", name));
        let a = v1(&client(), &d, &p).await;
        assert_eq!(a.code(), "000000", "{:?}", a.json);
    }
    let mut console = Console::new(&d);
    let (status, body, location) = console.get("/console/licenses.csv").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/console/login"));
    assert!(!body.contains("CS-CSV"), "{body}");

    console.sign_in(&d, "alice").await;
    let (_, page, _) = console.get("/console/licenses").await;
    assert!(
        page.contains("/console/licenses.csv?"),
        "the search page links the export"
    );
    let r = console
        .c
        .get(format!("{}/console/licenses.csv", console.base))
        .header("cookie", console.jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"),
    );
    let body = r.text().await.unwrap();
    let text = body
        .strip_prefix('\u{feff}')
        .expect("a byte order mark for Excel");
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rows.headers().unwrap().iter().map(String::from).collect();
    let name_at = header.iter().position(|h| h == "customer_name").unwrap();
    let got: Vec<(String, String)> = rows
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[name_at].to_string())
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("CS-CSV-1".into(), format!("'{}", names[0].1)),
            ("CS-CSV-2".into(), names[1].1.to_string()),
            ("CS-CSV-3".into(), format!("'{}", names[2].1)),
        ]
    );

    // An exact id exports that license alone, as the search page shows it alone.
    let (status, one, _) = console.get("/console/licenses.csv?q=CS-CSV-2").await;
    assert_eq!(status, 200);
    assert_eq!(one.lines().count(), 2, "{one}");
    assert!(one.contains("北京某某科技有限公司"));
}

/// The "New license" form as a browser posts it, for a 14-day trial.
fn trial_form(csrf: &str) -> [(&'static str, &str); 8] {
    [
        ("csrf", csrf),
        ("product", "OFFI454488918838374"),
        ("customer", "prospect-42"),
        ("customer_name", "Prospect AG"),
        ("days", "14"),
        ("seats", ""),
        ("trial", "on"),
        ("note", "demo"),
    ]
}

/// "New license": a trial issued from the console is a license client-verifier accepts as a
/// trial, its file downloads from its page, the audit names the console user, and extending
/// it converts it. A post without the session's CSRF token issues nothing.
#[tokio::test]
async fn a_trial_issued_in_the_console_verifies_and_converts() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let mut console = Console::new(&d);
    // Without a session: the form and a license's file send a stranger to sign in.
    buy(&d, "CS-FILE-1", "CS-FILE-1").await;
    for path in [
        "/console/licenses/new",
        "/console/licenses/CS-FILE-1/license",
    ] {
        let (status, body, location) = console.get(path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location.as_deref(), Some("/console/login"), "{path}");
        assert!(!body.contains("v4.public."), "{path}: {body}");
    }
    let csrf = console.sign_in(&d, "sales-anna").await;
    let (status, html, _) = console.get("/console/licenses/new").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("name=\"trial\""), "{html}");
    // Without the CSRF token (a forged cross-site post): refused, nothing issued.
    let (status, _, _) = console
        .post("/console/licenses/new", &trial_form("not-the-token"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, list, _) = console.get("/console/licenses").await;
    assert!(!list.contains("dl-"), "{list}");

    let (status, _, _) = console
        .post("/console/licenses/new", &trial_form(&csrf))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, list) = common::admin(&client(), &d, reqwest::Method::GET, "/licenses", None).await;
    let id = list["licenses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["id"].as_str())
        .find(|id| id.starts_with("dl-"))
        .unwrap_or_else(|| panic!("one license issued: {list}"))
        .to_string();
    let location = format!("/console/licenses/{id}?done=created");
    let (status, page, _) = console.get(&location).await;
    assert_eq!(status, 200);
    assert!(page.contains("evaluation (trial)"), "{page}");
    let id =
        location["/console/licenses/".len()..location.len() - "?done=created".len()].to_string();
    let (status, file, _) = console
        .get(&format!("/console/licenses/{id}/license"))
        .await;
    assert_eq!(status, 200);
    let v = d.verifier();
    let lic = v
        .verify(file.trim(), None, client_verifier::Timestamp::now())
        .unwrap();
    assert!(lic.is_trial(), "{:?}", lic.claims());
    assert_eq!(lic.claims().sub, "prospect-42");
    let (_, audit) = common::admin(
        &client(),
        &d,
        reqwest::Method::GET,
        &format!("/licenses/{id}/audit"),
        None,
    )
    .await;
    assert_eq!(audit["events"][0]["actor"], "console:sales-anna", "{audit}");
    assert_eq!(audit["events"][0]["action"], "createDirect", "{audit}");

    let o = d.licctl(&["licenses", "extend", &id, "--days", "365"]);
    assert!(o.status.success(), "{o:?}");
    let paid = v
        .verify(
            String::from_utf8_lossy(&o.stdout).trim(),
            None,
            client_verifier::Timestamp::now(),
        )
        .unwrap();
    assert_eq!(paid.origin(), Some("direct"));
}
