//! Device-bound delivery end to end: the real `licd serve` against the fake marketplace of
//! `common::fake_market` (which checks the APIG signature of every open-API call with its own
//! implementation of protocol §3.6 and records uploads), and the License 1.0 client API.
//!
//! Online-activation road: newInstance → order query → getLicenseAsync answered with the
//! quota/validity codes → the device license uploaded through the durable outbox (retried,
//! dead-lettered, surviving a SIGKILL). License 1.0 road: getLicense → `/v1/activate` →
//! `/v1/refresh` → revocation, each token checked with `client-verifier`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use client_verifier::{Fingerprint, Timestamp, VerifyError};
use common::fake_market::{FakeMarket, Upload};
use common::{Daemon, client, market_flags, metric, v1, v2, wait_metric};
use serde_json::{Value, json};

const ORDER: &str = "CS2311230001";
const LINE: &str = "CS2311230001-000001";
const MACHINE_A: &str = "04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.|BOARD-A1|BFEBFBFF00090672";
const MACHINE_B: &str = "0A:00:27:00:00:0B|WD-WCC4N0ABCDEF|BOARD-B2|AFEBFBFF000806EA";
const MACHINE_C: &str = "52:54:00:12:34:56|S3Z9NB0K123456|BOARD-C3|CFEBFBFF000A0671";

fn start(dir: &Path, base_url: &str, market: &FakeMarket) -> Daemon {
    let flags = market_flags(dir, base_url, market);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Daemon::start(dir, &flags)
}

/// A periodic order for `quantity` devices ending at `expire` (yyyyMMddHHmmss).
fn order(quantity: u32, expire: &str) -> Value {
    json!({
        "orderId": ORDER,
        "orderType": "NEW",
        "createTime": "20231123100000",
        "buyerInfo": {"customerId": "cust-77", "customerName": "Plant 7"},
        "orderLine": [{
            "orderLineId": LINE,
            "chargingMode": "PERIOD",
            "expireTime": expire,
            "productInfo": [{"productId": "OFFI777", "skuCode": "sku-floor", "linearValue": quantity}]
        }]
    })
}

fn new_instance() -> Value {
    json!({"activity": "newInstance", "businessId": "inst-77", "orderId": ORDER,
           "orderLineId": LINE, "testFlag": "0"})
}

fn device(event: &str, fingerprint: Option<&str>, expire: Option<&str>) -> Value {
    let mut b = json!({"activity": "getLicenseAsync", "instanceId": "inst-77", "eventId": event,
                       "effectiveTime": "2023-11-23 10:30:15 z"});
    if let Some(f) = fingerprint {
        b["deviceFingerprint"] = json!(f);
    }
    if let Some(e) = expire {
        b["expireTime"] = json!(e);
    }
    b
}

/// Waits until `market` has at least `n` uploads (or fails after `within`).
fn wait_uploads(market: &FakeMarket, n: usize, within: Duration) -> Vec<Upload> {
    let deadline = Instant::now() + within;
    loop {
        let ups = market.uploads();
        if ups.len() >= n {
            return ups;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} uploads after {within:?}: {ups:?}; rejected signatures: {:?}",
            ups.len(),
            market.last_rejection()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn upload_for<'a>(ups: &'a [Upload], event: &str) -> &'a Upload {
    ups.iter()
        .find(|u| u.event_id == event)
        .unwrap_or_else(|| panic!("no upload for {event}: {ups:?}"))
}

fn fp(raw: &str) -> Fingerprint {
    Fingerprint::parse(raw).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_query_sets_quota_and_validity_and_each_device_license_is_uploaded() {
    let market = FakeMarket::start();
    market.add_order(order(2, "20991123100000"));
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &market.url(), &market);
    let c = client();

    let a = v2(&c, &d, &new_instance()).await;
    a.check_body_sign();
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    let exp = "2099-11-23 10:00:00 z";

    // Two devices fit the quantity of 2; the answer is "processing", the license is uploaded.
    for (event, machine) in [("EV-A", MACHINE_A), ("EV-B", MACHINE_B)] {
        let a = v2(&c, &d, &device(event, Some(machine), Some(exp))).await;
        a.check_body_sign();
        assert_eq!(a.code(), "000004", "{event}: {:?}", a.json);
    }
    // A third machine is over the quota: 000900, and its message says how to free one.
    let a = v2(&c, &d, &device("EV-C", Some(MACHINE_C), Some(exp))).await;
    a.check_body_sign();
    assert_eq!(a.code(), "000900", "{:?}", a.json);
    assert!(a.msg().contains("reissue"), "{}", a.msg());
    // The first machine again (a reinstall: new event) takes no new quota.
    let a = v2(&c, &d, &device("EV-A2", Some(MACHINE_A), Some(exp))).await;
    assert_eq!(a.code(), "000004", "{:?}", a.json);
    // Periodic goods without expireTime: 000902. Beyond the order's end (+1 day): 000901.
    // No fingerprint: 000903.
    let a = v2(&c, &d, &device("EV-D", Some(MACHINE_A), None)).await;
    assert_eq!(a.code(), "000902", "{:?}", a.json);
    let a = v2(
        &c,
        &d,
        &device("EV-E", Some(MACHINE_A), Some("2099-11-25 10:00:00 z")),
    )
    .await;
    assert_eq!(a.code(), "000901", "{:?}", a.json);
    let a = v2(&c, &d, &device("EV-F", None, Some(exp))).await;
    assert_eq!(a.code(), "000903", "{:?}", a.json);

    let ups = wait_uploads(&market, 3, Duration::from_secs(20));
    assert_eq!(
        market.rejected_signatures(),
        0,
        "{:?}",
        market.last_rejection()
    );
    assert!(d.log().contains("over plain HTTP"), "the fake is http://");
    assert!(
        !d.log().contains(market.sk()),
        "the SK never reaches the log"
    );
    let verifier = d.verifier();
    let now = Timestamp::now();
    for (event, machine, other) in [
        ("EV-A", MACHINE_A, MACHINE_B),
        ("EV-B", MACHINE_B, MACHINE_A),
        ("EV-A2", MACHINE_A, MACHINE_C),
    ] {
        let up = upload_for(&ups, event);
        assert_eq!(up.kind, "CHARACTERS");
        assert!(up.characters.len() <= 1024);
        let v = verifier
            .verify(&up.characters, Some(&fp(machine)), now)
            .unwrap_or_else(|e| panic!("{event}: {e}"));
        assert!(v.is_active(), "{event}");
        let claims = v.claims();
        assert_eq!(claims.jti, "inst-77");
        assert_eq!(claims.sub, "cust-77", "customer from the order query");
        assert_eq!(claims.product, "OFFI777");
        assert_eq!(claims.exp.to_rfc3339(), "2099-11-23T10:00:00Z");
        assert!(matches!(
            verifier.verify(&up.characters, Some(&fp(other)), now),
            Err(VerifyError::DeviceMismatch { .. })
        ));
    }
    assert!(ups.iter().all(|u| u.event_id != "EV-C"));
    let log = d.log();
    assert!(
        ups.iter().all(|u| !log.contains(&u.characters)),
        "whole tokens never reach the log"
    );

    // Support can print a device license by hand (for a dead upload) with licctl.
    let licctl = |args: &[&str]| {
        let token_file = d.dir.join("data/admin.token");
        std::process::Command::new(env!("CARGO_BIN_EXE_licctl"))
            .args(["--admin-url", &d.admin_url(), "--admin-token-file"])
            .arg(&token_file)
            .args(args)
            .output()
            .unwrap()
    };
    let out = licctl(&["licenses", "token", "inst-77", "--event", "EV-B"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        upload_for(&ups, "EV-B").characters
    );
    let out = licctl(&["licenses", "token", "inst-77"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--event"),
        "{out:?}"
    );
    let out = licctl(&["licenses", "token", "inst-77", "--event", "EV-C"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "EV-C was refused (000900): no license"
    );

    // A repeated request yields the same token; a delivered one is delivered again, identical.
    let a = v2(&c, &d, &device("EV-A", Some(MACHINE_A), Some(exp))).await;
    assert_eq!(a.code(), "000004");
    let ups = wait_uploads(&market, 4, Duration::from_secs(20));
    let again: Vec<&Upload> = ups.iter().filter(|u| u.event_id == "EV-A").collect();
    assert_eq!(again.len(), 2, "{ups:?}");
    assert_eq!(again[0].characters, again[1].characters);
    assert_eq!(
        wait_metric(
            &c,
            &d,
            "licd_outbox_jobs{state=\"pending\"}",
            0.0,
            Duration::from_secs(10)
        )
        .await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_uploads_are_retried_with_backoff_and_a_refused_one_is_dead_lettered() {
    let market = FakeMarket::start();
    market.add_order(order(5, "20991123100000"));
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &market.url(), &market);
    let c = client();
    assert_eq!(v2(&c, &d, &new_instance()).await.code(), "000000");

    // The marketplace fails the first two uploads (500 CBC.0999); the outbox keeps trying.
    market.fail_next_uploads(2);
    let started = Instant::now();
    let exp = "2099-11-23 10:00:00 z";
    let a = v2(&c, &d, &device("EV-R", Some(MACHINE_A), Some(exp))).await;
    assert_eq!(a.code(), "000004", "{:?}", a.json);
    let ups = wait_uploads(&market, 1, Duration::from_secs(30));
    let waited = started.elapsed();
    // Backoff: ≥ 0.5 s after the first failure and ≥ 1 s after the second (1 s base, jitter).
    assert!(waited >= Duration::from_millis(1400), "{waited:?}");
    let token = &upload_for(&ups, "EV-R").characters;
    assert!(
        d.verifier()
            .verify(token, Some(&fp(MACHINE_A)), Timestamp::now())
            .unwrap()
            .is_active()
    );

    // A refusal that no retry can fix (400, bad parameter) parks the job as dead at once.
    market.fail_next_upload_with(400, "CBC.0100", "event does not exist");
    let a = v2(&c, &d, &device("EV-X", Some(MACHINE_B), Some(exp))).await;
    assert_eq!(a.code(), "000004");
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&c, &d, "licd_outbox_jobs{state=\"dead\"}").await < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the job never died:\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        metric(&c, &d, "licd_outbox_jobs{state=\"pending\"}").await,
        0.0
    );
    assert!(market.uploads().iter().all(|u| u.event_id != "EV-X"));
    // Every attempt is in the audit log and the dead job names its reason. The metric reads
    // the store, which shows a commit before its flush: stop licd cleanly (SIGTERM flushes)
    // rather than kill it, or the last attempt's audit event may be lost with the process.
    d.wait_log("CBC.0100");
    assert!(d.terminate().success());
    let store = common::pg::open_store(dir.path(), &dir.path().join("data/db")).await;
    let audit = store.audit_for("inst-77").await.unwrap();
    let attempts: Vec<&str> = audit
        .iter()
        .filter(|r| r.event.action == "upload")
        .filter_map(|r| r.event.detail["outcome"].as_str())
        .collect();
    assert_eq!(
        attempts,
        ["failed", "failed", "ok", "dead"],
        "every attempt is audited"
    );
    let dead: Vec<_> = store
        .jobs()
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.dead)
        .collect();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("CBC.0100")),
        "{:?}",
        dead[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_upload_survives_sigkill_and_is_delivered_after_restart() {
    let market = FakeMarket::start();
    market.add_order(order(1, "20991123100000"));
    let dir = tempfile::tempdir().unwrap();
    // First life: the open API points at a port nothing listens on, so the upload cannot go.
    let dead_end = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let d = start(dir.path(), &dead_end, &market);
    let c = client();
    assert_eq!(v2(&c, &d, &new_instance()).await.code(), "000000");
    let a = v2(
        &c,
        &d,
        &device("EV-K", Some(MACHINE_A), Some("2099-11-23 10:00:00 z")),
    )
    .await;
    assert_eq!(a.code(), "000004", "{:?}", a.json);
    d.wait_log("marketplace call failed; will retry");
    d.kill();
    assert!(market.uploads().is_empty());

    // Second life, same data, the marketplace reachable: the job is still there and goes out.
    let d = start(dir.path(), &market.url(), &market);
    let ups = wait_uploads(&market, 1, Duration::from_secs(20));
    let up = upload_for(&ups, "EV-K");
    assert!(
        d.verifier()
            .verify(&up.characters, Some(&fp(MACHINE_A)), Timestamp::now())
            .unwrap()
            .is_active()
    );
    // The instance existed before the kill; the order query was retried too.
    d.wait_log("order applied");
    let a = v2(
        &c,
        &d,
        &device("EV-K2", Some(MACHINE_B), Some("2099-11-23 10:00:00 z")),
    )
    .await;
    assert_eq!(
        a.code(),
        "000900",
        "quantity 1 from the order: {:?}",
        a.json
    );
}

async fn post(c: &reqwest::Client, d: &Daemon, path: &str, body: &Value) -> (u16, Value) {
    let r = c.post(d.url(path)).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(c: &reqwest::Client, d: &Daemon, path: &str) -> Value {
    let r = c.get(d.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

fn classic(order: &str, business: &str, amount: &'static str) -> Vec<(&'static str, String)> {
    vec![
        ("activity", "getLicense".into()),
        ("customerId", "cust-5".into()),
        ("businessId", business.into()),
        ("orderId", order.into()),
        ("productId", "OFFI555".into()),
        ("skuCode", "sku-std".into()),
        ("expireTime", "20991231000000".into()),
        ("periodType", "year".into()),
        ("amount", amount.into()),
        ("testFlag", "0".into()),
    ]
}

async fn call_v1(c: &reqwest::Client, d: &Daemon, params: &[(&str, String)]) -> common::Answer {
    let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = v1(c, d, &p).await;
    a.check_body_sign();
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn license_1_0_activation_refresh_and_revocation_through_the_client_api() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let a = call_v1(&c, &d, &classic("CS-L1", "lic-5", "2")).await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    let unbound = a.json["license"].as_str().unwrap().to_string();
    let verifier = d.verifier();
    let now = Timestamp::now();

    // Keys: what offline clients embed, the signing one marked current.
    let keys = get(&c, &d, "/v1/keys").await;
    assert_eq!(keys["issuer"], "acme-isv");
    let published: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["public_key"].as_str().unwrap())
        .collect();
    let exported: Vec<String> = d.public_keys().iter().map(|k| k.to_paserk()).collect();
    assert_eq!(published, exported);
    assert_eq!(keys["keys"][0]["current"], true);

    // Two seats: machine A, A again (same binding back), B; C is refused with 409.
    let activate =
        |license: &str, machine: &str| json!({"license": license, "fingerprint": machine});
    let (s, a1) = post(&c, &d, "/v1/activate", &activate(&unbound, MACHINE_A)).await;
    assert_eq!(s, 200, "{a1}");
    assert_eq!(a1["activated"], true);
    let token_a = a1["token"].as_str().unwrap().to_string();
    let v = verifier
        .verify(&token_a, Some(&fp(MACHINE_A)), now)
        .unwrap();
    assert!(v.is_active());
    assert!(v.claims().binding.is_some());
    assert!(matches!(
        verifier.verify(&token_a, Some(&fp(MACHINE_B)), now),
        Err(VerifyError::DeviceMismatch { .. })
    ));
    // The same machine with a replaced NIC still matches its seat.
    let a_new_nic = MACHINE_A.replacen("04:7C:16:5E:E3:5D", "04:7C:16:5E:FF:FF", 1);
    let (s, again) = post(&c, &d, "/v1/activate", &activate(&unbound, &a_new_nic)).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["activated"], false);
    assert_eq!(again["seat"], a1["seat"]);
    let (s, b) = post(&c, &d, "/v1/activate", &activate(&unbound, MACHINE_B)).await;
    assert_eq!((s, &b["activated"]), (200, &json!(true)), "{b}");
    assert_ne!(b["seat"], a1["seat"]);
    let (s, refused) = post(&c, &d, "/v1/activate", &activate(&unbound, MACHINE_C)).await;
    assert_eq!(s, 409, "{refused}");
    assert_eq!(refused["error"], "seats_taken");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("licctl licenses reissue lic-5"),
        "{refused}"
    );

    // Bad input: a clear 400, never a 500.
    let (s, e) = post(
        &c,
        &d,
        "/v1/activate",
        &json!({"license": "v4.public.AAAA", "fingerprint": MACHINE_A}),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid")), "{e}");
    let (s, e) = post(&c, &d, "/v1/activate", &json!({"license": unbound})).await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("fingerprint"),
        "{e}"
    );

    // A renewal: refresh hands machine A the new revision with the new end, still bound to A.
    let renew = vec![
        ("activity", "refreshLicense".to_string()),
        ("instanceId", "lic-5".into()),
        ("orderId", "CS-L1-R1".into()),
        ("expireTime", "21001231000000".into()),
    ];
    assert_eq!(call_v1(&c, &d, &renew).await.code(), "000000");
    let (s, r) = post(&c, &d, "/v1/refresh", &json!({"token": token_a})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["status"], "active");
    let renewed = r["token"].as_str().unwrap();
    let v = verifier.verify(renewed, Some(&fp(MACHINE_A)), now).unwrap();
    assert_eq!(v.claims().exp.to_rfc3339(), "2100-12-31T00:00:00Z");
    assert!(v.claims().revision > 1);
    assert_eq!(r["revision"], v.claims().revision);
    assert!(matches!(
        verifier.verify(renewed, Some(&fp(MACHINE_B)), now),
        Err(VerifyError::DeviceMismatch { .. })
    ));

    // Release: refresh says revoked (410), and the published list revokes the license offline.
    let before = get(&c, &d, "/v1/revocations").await["seq"]
        .as_u64()
        .unwrap();
    let release = vec![
        ("activity", "releaseLicense".to_string()),
        ("instanceId", "lic-5".into()),
        ("orderId", "CS-L1".into()),
    ];
    assert_eq!(call_v1(&c, &d, &release).await.code(), "000000");
    let (s, r) = post(&c, &d, "/v1/refresh", &json!({"token": renewed})).await;
    assert_eq!((s, r["error"].as_str()), (410, Some("revoked")), "{r}");
    let list = get(&c, &d, "/v1/revocations").await;
    assert!(list["seq"].as_u64().unwrap() > before, "{list}");
    let mut offline = d.verifier();
    offline
        .load_revocations(list["list"].as_str().unwrap())
        .unwrap();
    assert!(matches!(
        offline.verify(renewed, Some(&fp(MACHINE_A)), now),
        Err(VerifyError::Revoked { .. })
    ));
    let m = common::metrics_text(&c, &d).await;
    assert!(
        m.contains("licd_client_requests_total{route=\"activate\",status=\"409\"} 1"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_order_query_does_not_hold_up_the_callback() {
    let market = FakeMarket::start();
    market.add_order(order(2, "20991123100000"));
    market.set_delay(Duration::from_secs(4));
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &market.url(), &market);
    let c = client();
    let started = Instant::now();
    let a = v2(&c, &d, &new_instance()).await;
    let took = started.elapsed();
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    // The marketplace waits 5 s for an answer; licd gives the query 2.5 s, then moves it to
    // the outbox.
    assert!(took < Duration::from_millis(4000), "{took:?}");
    market.set_delay(Duration::ZERO);
    // Until the query lands the quota is unknown and not enforced: nobody who paid is refused
    // on a guess. Once it has landed, the quantity of 2 is.
    let exp = "2099-11-23 10:00:00 z";
    for (event, machine) in [("EV-1", MACHINE_A), ("EV-2", MACHINE_B)] {
        let a = v2(&c, &d, &device(event, Some(machine), Some(exp))).await;
        assert_eq!(a.code(), "000004", "{:?}", a.json);
    }
    d.wait_log("order applied");
    let a = v2(&c, &d, &device("EV-3", Some(MACHINE_C), Some(exp))).await;
    assert_eq!(a.code(), "000900", "{:?}", a.json);
    d.wait_log("order query too slow");
}
