//! The attacks of hardening round 3, each reproduced against the real daemon (or the service,
//! where the route adds nothing): one seat on many machines, a code that loses what was sold,
//! code guesses that starve real customers, and secrets that reach the log. Each test failed on
//! the code before the fix it names.

mod common;

use client_verifier::offline::{DeviceKey, Request};
use client_verifier::{Binding, Fingerprint, Timestamp, Verifier};
use common::fake_market::{FakeCode, FakeMarket};
use common::{Daemon, admin, client, v1, v2};
use licd::service::ServiceError;
use serde_json::{Value, json};

/// The fingerprint of the finding: four machines' disks and four other machines' mainboards.
const POOLED: &str = "02:00:00:00:00:01,02:00:00:00:00:02,02:00:00:00:00:03,02:00:00:00:00:04|DISK-1,DISK-2,DISK-3,DISK-4|BOARD-5,BOARD-6,BOARD-7,BOARD-8|BFEBFBFF000906EA";

fn fp(raw: &str) -> Fingerprint {
    Fingerprint::parse(raw).unwrap()
}

/// The eight machines the pooled fingerprint was made from: 1–4 by their disks, 5–8 by their
/// mainboards, all with the same CPU model.
fn eight_machines() -> Vec<Fingerprint> {
    (1..=8)
        .map(|i| {
            if i <= 4 {
                fp(&format!(
                    "0A:00:00:00:00:0{i}|DISK-{i}|OWN-{i}|BFEBFBFF000906EA"
                ))
            } else {
                fp(&format!(
                    "0A:00:00:00:00:0{i}|OWN-{i}|BOARD-{i}|BFEBFBFF000906EA"
                ))
            }
        })
        .collect()
}

/// The machines of `machines` on which `token` verifies as active.
fn active_on(v: &Verifier, token: &str, machines: &[Fingerprint]) -> Vec<usize> {
    let now = Timestamp::now();
    machines
        .iter()
        .enumerate()
        .filter(|(_, m)| v.verify(token, Some(m), now).is_ok_and(|l| l.is_active()))
        .map(|(i, _)| i + 1)
        .collect()
}

async fn post(c: &reqwest::Client, d: &Daemon, path: &str, body: &Value) -> (u16, Value) {
    let r = c.post(d.url(path)).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_activation_cannot_bind_a_seat_to_eight_machines() {
    let market = FakeMarket::start();
    market.add_code("POOL-CODE-0001", FakeCode::alive(1, "20991231000000"));
    let dir = tempfile::tempdir().unwrap();
    let d = common::start_with_market(dir.path(), &market, &[]);
    let c = client();
    let v = d.verifier();
    let machines = eight_machines();

    // License 1.0, one seat: /v1/activate refuses the pooled fingerprint, naming why.
    let issued = v1(&c, &d, &common::get_license("CS-POOL", "lic-pool")).await;
    assert_eq!(issued.code(), "000000", "{:?}", issued.json);
    let license = issued.json["license"].as_str().unwrap().to_string();
    let (status, body) = post(
        &c,
        &d,
        "/v1/activate",
        &json!({"license": license, "fingerprint": POOLED}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("4 board values, more than one machine has"),
        "{body}"
    );
    // A machine of its own binds, and its token holds there and on none of the eight.
    let (status, body) = post(
        &c,
        &d,
        "/v1/activate",
        &json!({"license": license, "fingerprint": "0A:00:00:00:00:01|DISK-1|OWN-1|BFEBFBFF000906EA"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap();
    assert_eq!(active_on(&v, token, &machines), [1]);

    // An amount-1 License 2.0 code: refused before the marketplace is asked.
    let (status, body) = post(
        &c,
        &d,
        "/v1/codes/activate",
        &json!({"code": "POOL-CODE-0001", "fingerprint": POOLED}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(market.code_calls().is_empty(), "the marketplace was asked");

    // getLicenseAsync, a paid order the marketplace retries: bound, not refused, but to what
    // names one machine (the mainboards dropped, a majority of the disks needed): none of the
    // eight machines holds it.
    let created = v2(
        &c,
        &d,
        &json!({"activity": "newInstance", "businessId": "inst-pool", "orderId": "CS-POOL2",
                "orderLineId": "CS-POOL2-1", "testFlag": "0"}),
    )
    .await;
    assert_eq!(created.code(), "000000", "{:?}", created.json);
    let device = v2(
        &c,
        &d,
        &json!({"activity": "getLicenseAsync", "instanceId": "inst-pool", "eventId": "ev-pool",
                "deviceFingerprint": POOLED, "effectiveTime": "2023-11-23 10:30:15 z"}),
    )
    .await;
    // Minted and queued for upload: "processing", as the protocol has it.
    assert_eq!(device.code(), "000004", "{:?}", device.json);
    let (_, body) = admin(
        &c,
        &d,
        reqwest::Method::GET,
        "/licenses/inst-pool/token?event=ev-pool",
        None,
    )
    .await;
    let token = body["token"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert_eq!(active_on(&v, token, &machines), Vec::<usize>::new());

    // The ISV lists what verifiers built before the fix would accept on several machines.
    let (status, body) = admin(
        &c,
        &d,
        reqwest::Method::GET,
        "/licenses?wide_bindings=true&test=false",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let listed: Vec<&str> = body["licenses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["inst-pool"], "{body}");
}

#[tokio::test]
async fn an_offline_request_bound_to_several_mainboards_takes_no_seat() {
    let dir = tempfile::tempdir().unwrap();
    let (service, _) = common::acme_service(dir.path());
    let unbound = common::acme_purchase(&service, "O-pool", "lic-pool", 1).await;
    let now = Timestamp::parse_rfc3339("2026-02-01T00:00:00Z").unwrap();
    // `licctl offline request` refuses to make it; a hand-made one is refused by licd.
    let key = DeviceKey::from_seed(&[7; 32]);
    let pooled = Request::create(
        "lic-pool",
        &unbound,
        Binding::new(&fp(POOLED), [3; 8]),
        &key,
    )
    .unwrap();
    match service.offline_activate(&pooled, "client", now).await {
        Err(ServiceError::Invalid(m)) => assert!(m.contains("4 mainboard values"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(service.store().activations("lic-pool").unwrap().is_empty());
    let state = client_verifier::offline::state::OfflineState::open(dir.path().join("m")).unwrap();
    let refused = state.request(&unbound, &fp(POOLED)).unwrap_err();
    assert!(
        refused.to_string().contains("more than one machine has"),
        "{refused}"
    );
}
