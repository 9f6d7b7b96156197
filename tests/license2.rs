//! License 2.0 (授权码) end to end: the real `licd serve` as the proxy between the licensed
//! software and the marketplace's code APIs (`common::fake_market`, which checks every APIG
//! signature and answers with the documented `9202xxxx` codes), and the three 2.0 callbacks
//! signed as the marketplace signs them.

mod common;

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use client_verifier::{BindingRequirement, Fingerprint, Timestamp, Verifier};
use common::fake_market::{FakeCode, FakeMarket};
use common::{Daemon, admin, client, v2};
use serde_json::{Value, json};

const MACHINE_A: &str = "04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.|BOARD-A1|BFEBFBFF00090672";
const MACHINE_B: &str = "0A:00:27:00:00:0B|WD-WCC4N0ABCDEF|BOARD-B2|AFEBFBFF000806EA";
const CODE: &str = "LC7Q-9XKD-2M4P-TT8W";

fn start(dir: &Path, market: &FakeMarket, extra: &[&str]) -> Daemon {
    common::start_with_market(dir, market, extra)
}

use common::activate_code as activate;

async fn refresh(c: &reqwest::Client, d: &Daemon, token: &str) -> (u16, Value) {
    let r = c
        .post(d.url("/v1/refresh"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn verifier(d: &Daemon) -> Verifier {
    d.public_keys()
        .into_iter()
        .fold(
            Verifier::builder()
                .issuer("acme-isv")
                .binding(BindingRequirement::Required),
            |b, k| b.trust(k),
        )
        .build()
}

fn fp(raw: &str) -> Fingerprint {
    Fingerprint::parse(raw).unwrap()
}

/// The claims of a token as JSON, read without checking anything (to look for the code).
fn payload(token: &str) -> String {
    let body = token.strip_prefix("v4.public.").unwrap();
    let body = body.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .unwrap();
    String::from_utf8_lossy(&bytes[..bytes.len() - 64]).into_owned()
}

fn renew(code: &str, order: &str, scene: &str, exp: &str) -> Value {
    json!({"activity": "refreshLicenseCode", "scene": scene, "orderId": order,
           "orderLineId": format!("{order}-000001"), "license": code, "expireTime": exp,
           "testFlag": "0"})
}

fn status(code: &str, s: &str) -> Value {
    json!({"activity": "updateLicenseCodeStatus", "license": code, "status": s, "testFlag": "0"})
}

fn release(code: &str) -> Value {
    json!({"activity": "releaseLicenseCode", "license": code, "testFlag": "0"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_refresh_renewal_freeze_release() {
    let market = FakeMarket::start();
    market.add_code(CODE, FakeCode::alive(1, "20991231000000"));
    let dir = tempfile::tempdir().unwrap();
    // The default daily check: within this test the callbacks are the only news.
    let d = start(dir.path(), &market, &[]);
    let c = client();
    let v = verifier(&d);

    let (status_code, _, body) = activate(&c, &d, CODE, MACHINE_A).await;
    assert_eq!(status_code, 200, "{body}");
    assert_eq!(body["status"], "active");
    assert_eq!(body["exp"], "2099-12-31T00:00:00Z");
    assert_eq!(body["activated"], true);
    let token = body["token"].as_str().unwrap().to_string();
    let license = body["license"].as_str().unwrap().to_string();
    let verified = v
        .verify(&token, Some(&fp(MACHINE_A)), Timestamp::now())
        .unwrap();
    assert!(verified.is_active());
    assert_eq!(verified.claims().jti, license);
    assert_eq!(verified.claims().product, "OFFI2000");
    assert_eq!(verified.claims().quantity, 1);
    assert!(
        v.verify(&token, Some(&fp(MACHINE_B)), Timestamp::now())
            .is_err()
    );
    // The code is a bearer secret: not in the token, the id or the log.
    assert!(!payload(&token).contains(CODE), "{}", payload(&token));
    assert!(!license.contains(CODE));
    assert_eq!(market.code_calls(), ["activate", "query"]);

    // The same device again: its seat back, no second activation at the marketplace.
    let (status_code, _, again) = activate(&c, &d, CODE, MACHINE_A).await;
    assert_eq!(status_code, 200, "{again}");
    assert_eq!(again["activated"], false);
    assert_eq!(again["seat"], body["seat"]);
    assert_eq!(market.code_calls(), ["activate", "query"]);

    // A renewal callback; the refresh shows the new expiry.
    let a = v2(&c, &d, &renew(CODE, "CS-R1", "RENEWAL", "21001231000000")).await;
    a.check_body_sign();
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    let (s, r) = refresh(&c, &d, &token).await;
    assert_eq!(s, 200, "{r}");
    let t = r["token"].as_str().unwrap();
    let claims = v.verify(t, Some(&fp(MACHINE_A)), Timestamp::now()).unwrap();
    assert_eq!(claims.claims().exp.to_rfc3339(), "2100-12-31T00:00:00Z");

    // A freeze; the refresh says frozen.
    assert_eq!(v2(&c, &d, &status(CODE, "FREEZE")).await.code(), "000000");
    let (s, r) = refresh(&c, &d, t).await;
    assert_eq!((s, r["status"].as_str()), (200, Some("frozen")), "{r}");
    assert_eq!(v2(&c, &d, &status(CODE, "UNFREEZE")).await.code(), "000000");
    let (s, r) = refresh(&c, &d, t).await;
    assert_eq!((s, r["status"].as_str()), (200, Some("active")), "{r}");

    // A release; the refresh says revoked, and the repeat of the release is a no-op.
    for _ in 0..2 {
        assert_eq!(v2(&c, &d, &release(CODE)).await.code(), "000000");
    }
    let (s, r) = refresh(&c, &d, t).await;
    assert_eq!((s, r["error"].as_str()), (410, Some("revoked")), "{r}");
    let (s, _, r) = activate(&c, &d, CODE, MACHINE_B).await;
    assert_eq!(s, 410, "{r}");

    assert_eq!(
        market.rejected_signatures(),
        0,
        "{:?}",
        market.last_rejection()
    );
    let log = d.log();
    assert!(!log.contains(CODE), "the code reached the log:\n{log}");
    let (_, list) = admin(&c, &d, reqwest::Method::GET, "/licenses", None).await;
    assert!(list.to_string().contains(&license), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_check_asks_once_per_interval_and_follows_the_marketplace() {
    let market = FakeMarket::start();
    market.add_code(CODE, FakeCode::alive(2, "20991231000000"));
    let dir = tempfile::tempdir().unwrap();
    // Long enough that the refreshes right after the activation never reach it, even on a
    // loaded machine.
    let d = start(dir.path(), &market, &["--code-check-secs", "5"]);
    let c = client();
    let (_, _, body) = activate(&c, &d, CODE, MACHINE_A).await;
    let token = body["token"].as_str().unwrap().to_string();
    let (_, _, body_b) = activate(&c, &d, CODE, MACHINE_B).await;
    let token_b = body_b["token"].as_str().unwrap().to_string();
    assert_eq!(market.code_calls(), ["activate", "query"]);
    // Within the interval: answered from what licd knows, for every device.
    for t in [&token, &token_b, &token] {
        let (s, r) = refresh(&c, &d, t).await;
        assert_eq!((s, r["status"].as_str()), (200, Some("active")), "{r}");
    }
    assert_eq!(market.code_calls(), ["activate", "query"]);

    // The marketplace says the code expired (no callback came): the next check follows.
    market.set_code(CODE, "EXPIRED", "20991231000000");
    tokio::time::sleep(Duration::from_millis(5100)).await;
    let (s, r) = refresh(&c, &d, &token).await;
    assert_eq!((s, r["status"].as_str()), (200, Some("frozen")), "{r}");
    let (s, r) = refresh(&c, &d, &token_b).await;
    assert_eq!((s, r["status"].as_str()), (200, Some("frozen")), "{r}");
    assert_eq!(market.code_calls(), ["activate", "query", "query"]);

    // An outage during the check: the last known state stands, nobody is locked out.
    market.set_code(CODE, "ALIVE", "21001231000000");
    tokio::time::sleep(Duration::from_millis(5100)).await;
    market.fail_next_code_calls(1);
    let (s, r) = refresh(&c, &d, &token).await;
    assert_eq!((s, r["status"].as_str()), (200, Some("frozen")), "{r}");
    // The next refresh asks again and sees the renewal.
    let (s, r) = refresh(&c, &d, &token).await;
    assert_eq!((s, r["status"].as_str()), (200, Some("active")), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_before_activation_are_recorded_and_never_fail() {
    let market = FakeMarket::start();
    market.add_code(CODE, FakeCode::alive(1, "21001231000000"));
    market.add_code("LC-GONE", FakeCode::alive(1, "20991231000000"));
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &market, &[]);
    let c = client();

    // A renewal of a code nobody activated through licd yet: success, recorded.
    let a = v2(&c, &d, &renew(CODE, "CS-R0", "RENEWAL", "21001231000000")).await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    let again = v2(&c, &d, &renew(CODE, "CS-R0", "RENEWAL", "21001231000000")).await;
    assert_eq!(again.code(), "000000");
    let (_, list) = admin(&c, &d, reqwest::Method::GET, "/licenses", None).await;
    let records = list["licenses"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{list}");
    let id = records[0]["id"].as_str().unwrap().to_string();

    // The activation finds that record and keeps its history.
    let (s, _, body) = activate(&c, &d, CODE, MACHINE_A).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["license"], id.as_str());
    assert_eq!(body["exp"], "2100-12-31T00:00:00Z");
    let audit = common::audit_events(&c, &d, &id).await;
    let actions: Vec<&str> = audit
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        // The usage report goes out whenever the outbox gets to it.
        .filter(|a| *a != "usage")
        .collect();
    // The record made by the first callback, the renewal (once), the activation, the seat.
    assert_eq!(
        actions,
        [
            "refreshLicenseCode",
            "refreshLicenseCode",
            "codeAnswer",
            "activateCode",
            "activate"
        ],
        "{audit:#?}"
    );

    // A code released before anyone activated it: recorded; an activation is refused even
    // though the marketplace still calls it alive.
    assert_eq!(v2(&c, &d, &release("LC-GONE")).await.code(), "000000");
    let (s, _, body) = activate(&c, &d, "LC-GONE", MACHINE_A).await;
    assert_eq!(s, 410, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_against_a_quantity_of_one() {
    let market = FakeMarket::start();
    market.add_code(CODE, FakeCode::alive(1, "20991231000000"));
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &market, &[]);
    let c = client();
    let (s, _, _) = activate(&c, &d, CODE, MACHINE_A).await;
    assert_eq!(s, 200);
    let (s, _, body) = activate(&c, &d, CODE, MACHINE_B).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (409, Some("seats_taken")),
        "{body}"
    );
    assert_eq!(market.code_calls(), ["activate", "query"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketplace_outage_mid_activation_leaves_nothing_half_done() {
    let market = FakeMarket::start();
    market.add_code(CODE, FakeCode::alive(1, "20991231000000"));
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &market, &[]);
    let c = client();

    // The activation reaches the marketplace, the query after it does not.
    market.fail_second_code_call();
    let (s, retry, body) = activate(&c, &d, CODE, MACHINE_A).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    assert_eq!(retry.as_deref(), Some("30"));
    assert!(
        market.code(CODE).activated,
        "the marketplace did activate it"
    );
    // What the activation answered is kept (the only place that states product, order and
    // quantity), but nothing is activated or minted.
    let (_, list) = admin(&c, &d, reqwest::Method::GET, "/licenses", None).await;
    let records = list["licenses"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{list}");
    let detail = common::license_json(&c, &d, records[0]["id"].as_str().unwrap()).await;
    assert!(detail["activated"].is_null(), "{detail}");
    assert_eq!(detail["activations"], json!([]), "{detail}");

    // The retry carries on from the kept answer without activating again; the customer gets
    // a token.
    let (s, _, body) = activate(&c, &d, CODE, MACHINE_A).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(market.code_calls(), ["activate", "query", "query"]);

    // Everything down: 503 again, never a 4xx the customer would read as "wrong code".
    market.add_code("LC-NEXT", FakeCode::alive(1, "20991231000000"));
    market.fail_next_code_calls(1);
    let (s, retry, body) = activate(&c, &d, "LC-NEXT", MACHINE_A).await;
    assert_eq!((s, retry.as_deref()), (503, Some("30")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketplace_refusals_become_clear_client_errors() {
    let market = FakeMarket::start();
    let mut undelivered = FakeCode::alive(1, "20991231000000");
    undelivered.delivered = false;
    market.add_code("LC-NOT-YET", undelivered);
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &market, &[]);
    let c = client();
    let (s, _, body) = activate(&c, &d, "LC-NO-SUCH", MACHINE_A).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (404, Some("unknown_code")),
        "{body}"
    );
    let (s, _, body) = activate(&c, &d, "LC-NOT-YET", MACHINE_A).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (409, Some("not_delivered")),
        "{body}"
    );
    // Bad input never reaches the marketplace.
    let calls = market.code_calls().len();
    let (s, _, body) = activate(&c, &d, "", MACHINE_A).await;
    assert_eq!(s, 400, "{body}");
    let (s, _, body) = activate(&c, &d, CODE, "aa:bb:cc:dd:ee:ff").await;
    assert_eq!(s, 400, "a MAC alone binds nothing: {body}");
    assert_eq!(market.code_calls().len(), calls);
    let (_, list) = admin(&c, &d, reqwest::Method::GET, "/licenses", None).await;
    assert_eq!(list["licenses"], json!([]), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_reported_once_per_device_and_day_and_survives_sigkill() {
    let market = FakeMarket::start();
    market.add_code(CODE, FakeCode::alive(2, "20991231000000"));
    market.set_usage_down(true);
    let dir = tempfile::tempdir().unwrap();
    // The market flags retry failed calls after 1 s.
    let d = start(dir.path(), &market, &[]);
    let c = client();
    let (_, _, a) = activate(&c, &d, CODE, MACHINE_A).await;
    let (_, _, b) = activate(&c, &d, CODE, MACHINE_B).await;
    let token_a = a["token"].as_str().unwrap().to_string();
    // The reports are owed, and failing: the marketplace's usage API is down.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while market.usage_attempts() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no usage report tried"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, outbox) = admin(&c, &d, reqwest::Method::GET, "/outbox", None).await;
    assert_eq!(outbox["jobs"].as_array().map(Vec::len), Some(2), "{outbox}");
    assert!(
        !outbox.to_string().contains(CODE),
        "the code stays out of the listing: {outbox}"
    );
    d.kill();

    market.set_usage_down(false);
    let d = start(dir.path(), &market, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let reported = loop {
        let items: Vec<Value> = market
            .usage_reports()
            .into_iter()
            .flat_map(|r| r.as_array().unwrap().clone())
            .collect();
        if items.len() >= 2 {
            break items;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reports not delivered: {items:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(reported.len(), 2, "{reported:?}");
    assert!(
        reported.iter().all(|i| i["license"] == CODE),
        "{reported:?}"
    );
    let ids: std::collections::BTreeSet<&str> = reported
        .iter()
        .map(|i| i["software_usage_Info"][0]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "one id per device: {reported:?}");
    // Batching (up to 100 per call) is the worker's, tested in src/outbox.rs: here the two
    // reports may go together or apart, depending on when each one's retry fell due.
    // The same device again the same day: nothing more is owed.
    let (s, _) = refresh(&c, &d, &token_a).await;
    assert_eq!(s, 200);
    let (_, outbox) = admin(&c, &d, reqwest::Method::GET, "/outbox", None).await;
    assert_eq!(outbox["jobs"], json!([]), "{outbox}");
    let _ = b;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licctl_codes_list_and_show() {
    let market = FakeMarket::start();
    market.add_code(CODE, FakeCode::alive(1, "20991231000000"));
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &market, &[]);
    let c = client();
    let (_, _, body) = activate(&c, &d, CODE, MACHINE_A).await;
    let id = body["license"].as_str().unwrap().to_string();
    let licctl = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_licctl"))
            .args(["--admin-url", &d.admin_url(), "--admin-token-file"])
            .arg(d.dir.join("data/admin.token"))
            .args(args)
            .output()
            .unwrap()
    };
    let o = licctl(&["codes", "show", CODE]);
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&id) && text.contains(CODE) && text.contains("activated"),
        "{text}"
    );
    let o = licctl(&["--json", "codes", "list"]);
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains(&id), "{text}");
    let o = licctl(&["codes", "show", "LC-NOT-SEEN"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    // Other kinds are not codes.
    let o = licctl(&["--json", "licenses", "list", "--kind", "online"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licctl_marketplace_send_signs_the_2_0_activities() {
    let market = FakeMarket::start();
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &market, &[]);
    let send = |activity: &str, params: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_licctl"));
        cmd.args(["--json", "marketplace", "send", activity, "--v2", "--url"])
            .arg(d.url(common::CALLBACK))
            .arg("--access-key-file")
            .arg(d.dir.join("access.key"));
        for p in params {
            cmd.args(["--param", p]);
        }
        let o = cmd.output().unwrap();
        let answer = serde_json::from_slice::<Value>(&o.stdout).unwrap();
        // licctl exits 1 on a refusal, 0 on success.
        let refused = answer["response"]["resultCode"] != "000000";
        assert_eq!(o.status.code(), Some(i32::from(refused)), "{o:?}");
        answer
    };
    let renew = send(
        "refreshLicenseCode",
        &[
            "license=LC-SENT",
            "scene=RENEWAL",
            "orderId=CS9",
            "orderLineId=CS9-000001",
            "expireTime=20991231000000",
        ],
    );
    assert_eq!(renew["response"]["resultCode"], "000000", "{renew}");
    assert_eq!(renew["body_sign_valid"], true);
    let freeze = send(
        "updateLicenseCodeStatus",
        &["license=LC-SENT", "status=FREEZE"],
    );
    assert_eq!(freeze["response"]["resultCode"], "000000", "{freeze}");
    let release = send("releaseLicenseCode", &["license=LC-SENT"]);
    assert_eq!(release["response"]["resultCode"], "000000", "{release}");
    let missing = send("releaseLicenseCode", &[]);
    assert_eq!(missing["response"]["resultCode"], "000002", "{missing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dial_test_cases_for_codes_replayed_three_times_all_succeed() {
    let market = FakeMarket::start();
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &market, &[]);
    let c = client();
    let test = |mut v: Value| {
        v["testFlag"] = json!("1");
        v
    };
    let cases = [
        test(renew("LC-DIAL", "CS-D1", "RENEWAL", "20991231000000")),
        test(status("LC-DIAL", "FREEZE")),
        test(status("LC-DIAL", "UNFREEZE")),
        test(release("LC-DIAL")),
    ];
    for round in 1..=3 {
        for case in &cases {
            let a = v2(&c, &d, case).await;
            a.check_body_sign();
            assert_eq!(
                a.code(),
                "000000",
                "round {round}, {}: {:?}",
                case["activity"],
                a.json
            );
        }
    }
    let (s, detail) = admin(
        &c,
        &d,
        reqwest::Method::POST,
        "/codes/lookup",
        Some(&json!({"code": "LC-DIAL"})),
    )
    .await;
    assert_eq!(s, 200, "{detail}");
    assert_eq!(detail["status"], "released");
    assert_eq!(detail["test"], true);
    let id = detail["id"].as_str().unwrap();
    let audit = common::audit_events(&c, &d, id).await;
    let absorbed = common::absorbed_actions(&audit);
    // Rounds 2 and 3 unfreeze a released code: answered, audited on the code's license.
    assert_eq!(
        absorbed,
        ["updateLicenseCodeStatus", "updateLicenseCodeStatus"],
        "{audit:#?}"
    );
    // The same as a real call says what is wrong.
    assert_eq!(
        v2(&c, &d, &status("LC-DIAL", "UNFREEZE")).await.code(),
        "000003"
    );
}

/// An anonymous client cannot make licd call the marketplace (signed with the ISV's AK/SK) as
/// fast as it can send requests: activations that need the marketplace are limited per address
/// (429) and capped in flight (503), and the rest are told to come back (Retry-After) without a
/// marketplace call. (`tests/hardening3.rs` has the flood from many addresses.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_codes_cannot_flood_the_marketplace_with_the_isvs_credentials() {
    let market = FakeMarket::start();
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &market, &[]);
    let c = client();
    // Each marketplace answer takes 2 s: the 40 guesses all arrive while the first are out.
    market.set_delay(Duration::from_secs(2));
    let before = market.requests();
    let guesses = (0..40).map(|i| {
        let c = c.clone();
        let d = &d;
        async move { activate(&c, d, &format!("GUESS-{i}"), MACHINE_A).await }
    });
    let answers = futures_util::future::join_all(guesses).await;
    let refused_unknown = answers.iter().filter(|(s, _, _)| *s == 404).count();
    let busy = answers
        .iter()
        .filter(|(s, retry, _)| matches!(s, 503 | 429) && retry.is_some())
        .count();
    assert_eq!(refused_unknown + busy, 40, "{answers:?}");
    assert!(busy > 0, "every guess reached the marketplace: {answers:?}");
    let calls = market.requests() - before;
    assert!(
        calls <= 8,
        "{calls} marketplace calls for 40 concurrent guesses"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_floating_code_leases_its_seats_and_the_first_lease_activates_it() {
    let market = FakeMarket::start();
    market.add_code(CODE, FakeCode::alive(2, "20991231000000"));
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("products.toml");
    std::fs::write(
        &catalog,
        "[[product]]\nid = \"OFFI2000\"\nmodel = \"floating\"\nlease_secs = 120\n",
    )
    .unwrap();
    let d = start(
        dir.path(),
        &market,
        &["--products", catalog.to_str().unwrap()],
    );
    let c = client();
    let lease = |instance: &str, machine: &str| {
        let body = json!({"code": CODE, "instance": instance, "fingerprint": machine});
        let (c, url) = (c.clone(), d.url("/v1/leases"));
        async move {
            let r = c.post(url).json(&body).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    // A status before any lease: the code is not known yet, and nothing is asked of the
    // marketplace for it.
    let r = c
        .post(d.url("/v1/leases/status"))
        .json(&json!({ "code": CODE }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(market.code_calls().is_empty());

    // The first lease activates the code (once); the code's amount is the seats.
    let (s, a) = lease("cad:1", MACHINE_A).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(market.code_calls(), ["activate", "query"]);
    let v = verifier(&d);
    let leased = v
        .verify_lease(
            a["lease"].as_str().unwrap(),
            Some(&fp(MACHINE_A)),
            Timestamp::now().add_secs(1),
        )
        .unwrap();
    assert_eq!(leased.claims().product, "OFFI2000");
    let (s, b) = lease("cad:2", MACHINE_B).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        market.code_calls(),
        ["activate", "query"],
        "no second activation"
    );
    let (s, full) = lease(
        "cad:3",
        "0C:00:27:00:00:0C|SN-C-1|BOARD-C3|AFEBFBFF000806EA",
    )
    .await;
    assert_eq!(
        (s, full["error"].as_str()),
        (409, Some("seats_taken")),
        "{full}"
    );
    assert_eq!(full["seats"], 2);
    // The code does not bind a machine for good: it leases.
    let (s, _, refused) = activate(&c, &d, CODE, MACHINE_A).await;
    assert_eq!(s, 400, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("/v1/leases"),
        "{refused}"
    );
    // A renewal works by the lease alone; a released code stops leasing.
    let renew = |token: Value| {
        let (c, url) = (c.clone(), d.url("/v1/leases/renew"));
        async move {
            let r = c
                .post(url)
                .json(&json!({ "lease": token }))
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (s, r) = renew(a["lease"].clone()).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(v2(&c, &d, &release(CODE)).await.code(), "000000");
    let (s, r) = renew(a["lease"].clone()).await;
    assert_eq!((s, r["error"].as_str()), (410, Some("revoked")), "{r}");
    // The code never appears in what the daemon logged.
    assert!(!d.log().contains(CODE));
}
