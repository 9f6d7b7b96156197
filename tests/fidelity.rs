//! Marketplace fidelity: what the marketplace's own judgement of a product depends on, end to
//! end against the real `licd serve`, with callbacks signed as the marketplace signs them and
//! the open API played by `common::fake_market` (which checks every APIG signature).
//!
//! - dial tests (`testFlag=1`) replayed in any order never fail for a state reason;
//! - `upgradeInstance` applies the upgrade order's quantity;
//! - a refunded renewal stays refunded, whatever the order query says later;
//! - a long license is delivered (as a file), never answered as retryable;
//! - a repeated `getLicense` that says something else is audited;
//! - `queryInstance` lists its instances; informational fields never refuse a purchase.

mod common;

use std::time::{Duration, Instant};

use client_verifier::{Fingerprint, Timestamp};
use common::fake_market::{FakeMarket, Upload};
use common::{
    Daemon, audit_events as audit, client, license_json as license, start_with_market, v1, v2,
};
use serde_json::{Value, json};

const MACHINE_A: &str = "04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.|BOARD-A1|BFEBFBFF00090672";
const MACHINE_B: &str = "0A:00:27:00:00:0B|WD-WCC4N0ABCDEF|BOARD-B2|AFEBFBFF000806EA";

/// An order (`orderInfo`) with one periodic line of `quantity` devices ending at `expire`.
fn order(id: &str, line: &str, kind: &str, quantity: u32, expire: &str) -> Value {
    json!({
        "orderId": id,
        "orderType": kind,
        "createTime": "20231123100000",
        "buyerInfo": {"customerId": "cust-9", "customerName": "Mill 9"},
        "orderLine": [{
            "orderLineId": line,
            "chargingMode": "PERIOD",
            "expireTime": expire,
            "productInfo": [{"productId": "OFFI999", "skuCode": "sku-up", "linearValue": quantity}]
        }]
    })
}

/// Polls `check` every 50 ms for up to 20 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- 1. dial tests ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn license_1_0_dial_test_cases_replayed_three_times_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let cases: [&[(&str, &str)]; 4] = [
        &[
            ("activity", "getLicense"),
            ("customerId", "cust-dial"),
            ("businessId", "dial-1"),
            ("orderId", "DIAL0001"),
            ("productId", "OFFI1"),
            ("expireTime", "20991231000000"),
            ("periodType", "year"),
            ("testFlag", "1"),
        ],
        &[
            ("activity", "refreshLicense"),
            ("instanceId", "dial-1"),
            ("orderId", "DIAL0002"),
            ("expireTime", "21001231000000"),
            ("testFlag", "1"),
        ],
        &[
            ("activity", "expireLicense"),
            ("instanceId", "dial-1"),
            ("orderId", "DIAL0001"),
            ("testFlag", "1"),
        ],
        &[
            ("activity", "releaseLicense"),
            ("instanceId", "dial-1"),
            ("orderId", "DIAL0001"),
            ("testFlag", "1"),
        ],
    ];
    for round in 1..=3 {
        for case in cases {
            let a = v1(&c, &d, case).await;
            a.check_body_sign();
            assert_eq!(a.code(), "000000", "round {round}, {case:?}: {:?}", a.json);
        }
    }
    // The replayed renewal is a repeat of an applied order (nothing to do). A dial test with a
    // new renewal order on the released license is answered, changes nothing, and support can
    // see why.
    let new_order = [
        ("activity", "refreshLicense"),
        ("instanceId", "dial-1"),
        ("orderId", "DIAL0005"),
        ("expireTime", "21011231000000"),
        ("testFlag", "1"),
    ];
    assert_eq!(v1(&c, &d, &new_order).await.code(), "000000");
    let l = license(&c, &d, "dial-1").await;
    assert_eq!(l["status"], "released");
    assert_eq!(l["exp"], "2100-12-31T00:00:00Z", "{l}");
    let events = audit(&c, &d, "dial-1").await;
    let absorbed: Vec<&Value> = events
        .iter()
        .filter(|e| e["detail"]["absorbed"].is_string())
        .collect();
    assert_eq!(absorbed.len(), 1, "{events:#?}");
    assert!(
        absorbed.iter().all(|e| e["action"] == "refreshLicense"
            && e["actor"] == "marketplace-test"
            && e["detail"]["absorbed"]
                .as_str()
                .unwrap()
                .contains("released")),
        "{absorbed:#?}"
    );

    // A real (testFlag=0) call on the released license still fails as before.
    let real = [
        ("activity", "refreshLicense"),
        ("instanceId", "dial-1"),
        ("orderId", "DIAL0003"),
        ("expireTime", "21011231000000"),
    ];
    assert_eq!(v1(&c, &d, &real).await.code(), "000003");
    // Malformed input and a bad signature still fail under testFlag=1.
    let bad_time = [
        ("activity", "refreshLicense"),
        ("instanceId", "dial-1"),
        ("orderId", "DIAL0004"),
        ("expireTime", "2100-13-01"),
        ("testFlag", "1"),
    ];
    assert_eq!(v1(&c, &d, &bad_time).await.code(), "000002");
    let unknown = [
        ("activity", "expireLicense"),
        ("instanceId", "never-sold"),
        ("testFlag", "1"),
    ];
    assert_eq!(v1(&c, &d, &unknown).await.code(), "000000");
    let forged = common::v1_raw(
        &c,
        &d,
        "activity=expireLicense&instanceId=dial-1&testFlag=1&timeStamp=20231123000000000&authToken=AAAA",
    )
    .await;
    assert_eq!(forged.code(), "000001", "{:?}", forged.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_activation_dial_test_cases_replayed_three_times_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let status = |s: &str| {
        json!({"activity": "updateInstanceStatus", "instanceId": "dial-2", "status": s,
               "testFlag": "1"})
    };
    let cases = [
        json!({"activity": "newInstance", "businessId": "dial-2", "orderId": "DIAL1001",
               "orderLineId": "DIAL1001-000001", "testFlag": "1"}),
        json!({"activity": "refreshInstance", "scene": "RENEWAL", "orderId": "DIAL1002",
               "orderLineId": "DIAL1002-000001", "instanceId": "dial-2",
               "expireTime": "20991124023618", "testFlag": "1"}),
        status("FREEZE"),
        status("UNFREEZE"),
        json!({"activity": "getLicenseAsync", "instanceId": "dial-2", "eventId": "DIAL-EV1",
               "deviceFingerprint": MACHINE_A, "effectiveTime": "2023-11-23 10:30:15 z",
               "expireTime": "2099-11-01 00:00:00 z", "testFlag": "1"}),
        json!({"activity": "releaseInstance", "instanceId": "dial-2", "testFlag": "1"}),
    ];
    for round in 1..=3 {
        for case in &cases {
            let a = v2(&c, &d, case).await;
            a.check_body_sign();
            // getLicenseAsync's documented success while the upload is on its way is 000004.
            let ok = a.code() == "000000"
                || (case["activity"] == "getLicenseAsync" && a.code() == "000004");
            assert!(ok, "round {round}, {}: {:?}", case["activity"], a.json);
        }
    }
    let events = audit(&c, &d, "dial-2").await;
    let absorbed = common::absorbed_actions(&events);
    // Rounds 2 and 3: the unfreeze of a released instance. The renewal and the device request
    // are repeats of ones applied (same order, same event), answered as such.
    assert_eq!(
        absorbed,
        ["updateInstanceStatus", "updateInstanceStatus"],
        "{events:#?}"
    );
    // A new device request on the released instance, as a dial test: answered, nothing minted.
    let late = json!({"activity": "getLicenseAsync", "instanceId": "dial-2", "eventId": "DIAL-EV2",
                      "deviceFingerprint": MACHINE_B, "effectiveTime": "2023-11-23 10:30:15 z",
                      "expireTime": "2099-11-01 00:00:00 z", "testFlag": "1"});
    assert_eq!(v2(&c, &d, &late).await.code(), "000000");
    let l = license(&c, &d, "dial-2").await;
    assert_eq!(l["devices"].as_array().unwrap().len(), 1, "{l}");
    assert_eq!(license(&c, &d, "dial-2").await["status"], "released");
    // The same unfreeze as a real call still says what is wrong.
    let real = json!({"activity": "updateInstanceStatus", "instanceId": "dial-2",
                      "status": "UNFREEZE", "testFlag": "0"});
    assert_eq!(v2(&c, &d, &real).await.code(), "000003");
}

// ---- 2. upgradeInstance -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_applies_the_upgrade_orders_quantity_once() {
    let market = FakeMarket::start();
    market.add_order(order("UP0001", "UP0001-000001", "NEW", 1, "20991123100000"));
    market.add_order(order(
        "UP0002",
        "UP0002-000001",
        "CHANGE",
        5,
        "20991123100000",
    ));
    let dir = tempfile::tempdir().unwrap();
    let d = start_with_market(dir.path(), &market, &[]);
    let c = client();
    let created = json!({"activity": "newInstance", "businessId": "up-1", "orderId": "UP0001",
                         "orderLineId": "UP0001-000001", "testFlag": "0"});
    assert_eq!(v2(&c, &d, &created).await.code(), "000000");
    let device = |event: &str, machine: &str| {
        json!({"activity": "getLicenseAsync", "instanceId": "up-1", "eventId": event,
               "deviceFingerprint": machine, "effectiveTime": "2023-11-23 10:30:15 z",
               "expireTime": "2099-11-01 00:00:00 z"})
    };
    assert_eq!(
        v2(&c, &d, &device("UP-EV1", MACHINE_A)).await.code(),
        "000004"
    );
    let a = v2(&c, &d, &device("UP-EV2", MACHINE_B)).await;
    assert_eq!(a.code(), "000900", "quota of 1: {:?}", a.json);

    let upgrade = json!({"activity": "upgradeInstance", "instanceId": "up-1", "orderId": "UP0002",
                         "orderLineId": "UP0002-000001", "testFlag": "0"});
    for _ in 0..2 {
        let a = v2(&c, &d, &upgrade).await;
        a.check_body_sign();
        assert_eq!(a.code(), "000000", "{:?}", a.json);
    }
    let l = license(&c, &d, "up-1").await;
    assert_eq!(l["quantity"], 5, "{l}");
    assert_eq!(l["sku"], "sku-up", "{l}");
    let a = v2(&c, &d, &device("UP-EV2", MACHINE_B)).await;
    assert_eq!(a.code(), "000004", "after the upgrade: {:?}", a.json);
    let events = audit(&c, &d, "up-1").await;
    let upgrades = events
        .iter()
        .filter(|e| e["action"] == "upgradeInstance")
        .count();
    assert_eq!(upgrades, 1, "applied once per order: {events:#?}");
    assert_eq!(
        market.rejected_signatures(),
        0,
        "{:?}",
        market.last_rejection()
    );
}

// ---- 3. refunds ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refunded_renewal_stays_refunded_after_the_order_query() {
    let market = FakeMarket::start();
    market.add_order(order("RF0001", "RF0001-000001", "NEW", 1, "20990101000000"));
    market.add_order(order(
        "RF0002",
        "RF0002-000001",
        "RENEW",
        1,
        "21000101000000",
    ));
    // The refund order reads back with the renewed end: the query must not restore it.
    market.add_order(order(
        "RF0003",
        "RF0003-000001",
        "UNSUBSCRIBE",
        1,
        "21000101000000",
    ));
    let dir = tempfile::tempdir().unwrap();
    let d = start_with_market(dir.path(), &market, &[]);
    let c = client();
    let created = json!({"activity": "newInstance", "businessId": "rf-1", "orderId": "RF0001",
                         "orderLineId": "RF0001-000001", "testFlag": "0"});
    assert_eq!(v2(&c, &d, &created).await.code(), "000000");
    assert_eq!(license(&c, &d, "rf-1").await["exp"], "2099-01-01T00:00:00Z");

    let refresh = |order: &str, scene: &str, exp: &str| {
        json!({"activity": "refreshInstance", "scene": scene, "orderId": order,
               "orderLineId": format!("{order}-000001"), "instanceId": "rf-1",
               "expireTime": exp, "testFlag": "0"})
    };
    let a = v2(&c, &d, &refresh("RF0002", "RENEWAL", "21000101000000")).await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    assert_eq!(license(&c, &d, "rf-1").await["exp"], "2100-01-01T00:00:00Z");
    // The time format of getLicenseAsync in a refreshInstance field: accepted too.
    let a = v2(
        &c,
        &d,
        &refresh(
            "RF0003",
            "UNSUBSCRIBE_RENEWAL_PERIOD",
            "2099-01-01 00:00:00 z",
        ),
    )
    .await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    // Both refreshes queried their orders; the refund's query came back with the later end.
    eventually("both order queries applied", || async {
        audit(&c, &d, "rf-1")
            .await
            .iter()
            .filter(|e| e["action"] == "queryOrder")
            .count()
            >= 3
    })
    .await;
    assert_eq!(
        license(&c, &d, "rf-1").await["exp"],
        "2099-01-01T00:00:00Z",
        "the refund (the newest statement) wins over the order query"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn license_1_0_renewal_refund_moves_the_expiry_earlier_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let get = [
        ("activity", "getLicense"),
        ("customerId", "cust-r"),
        ("businessId", "ref-1"),
        ("orderId", "REF0001"),
        ("productId", "OFFI1"),
        ("expireTime", "21001231000000"),
    ];
    assert_eq!(v1(&c, &d, &get).await.code(), "000000");
    let refund = [
        ("activity", "refreshLicense"),
        ("instanceId", "ref-1"),
        ("orderId", "REF0002"),
        ("expireTime", "20991231000000"),
    ];
    for _ in 0..2 {
        let a = v1(&c, &d, &refund).await;
        assert_eq!(a.code(), "000000", "{:?}", a.json);
    }
    let l = license(&c, &d, "ref-1").await;
    assert_eq!(l["exp"], "2099-12-31T00:00:00Z");
    assert_eq!(l["revision"], 2, "applied once: {l}");
}

// ---- 4. long licenses ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_ids_and_issuer_give_a_license_never_a_retryable_refusal() {
    let market = FakeMarket::start();
    let id64 = |c: char| c.to_string().repeat(64);
    let (order_id, line) = (id64('O'), id64('L'));
    let mut o = order(&order_id, &line, "NEW", 2, "20991123100000");
    o["buyerInfo"]["customerId"] = json!(id64('C'));
    o["orderLine"][0]["productInfo"][0]["productId"] = json!(id64('P'));
    o["orderLine"][0]["productInfo"][0]["skuCode"] = json!(id64('S'));
    market.add_order(o);
    let dir = tempfile::tempdir().unwrap();
    let issuer = "i".repeat(200);
    let d = start_with_market(dir.path(), &market, &["--issuer", &issuer]);
    let c = client();

    // License 1.0: the license string of getLicense has no 1,024 limit.
    let get = [
        ("activity", "getLicense"),
        ("customerId", &*id64('C')),
        ("businessId", &*id64('B')),
        ("orderId", &*order_id),
        ("productId", &*id64('P')),
        ("skuCode", &*id64('S')),
        ("expireTime", "20991231000000"),
    ];
    let a = v1(&c, &d, &get).await;
    a.check_body_sign();
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    let token = a.json["license"].as_str().unwrap();
    assert!(
        token.len() > 1024,
        "the case this test is about: {}",
        token.len()
    );

    // Online activation: the device license is uploaded as a file.
    let created = json!({"activity": "newInstance", "businessId": id64('I'), "orderId": order_id,
                         "orderLineId": line, "testFlag": "0"});
    assert_eq!(v2(&c, &d, &created).await.code(), "000000");
    let event = id64('E');
    let device = json!({"activity": "getLicenseAsync", "instanceId": id64('I'), "eventId": event,
                        "deviceFingerprint": MACHINE_A, "effectiveTime": "2023-11-23 10:30:15 z",
                        "expireTime": "2099-11-01 00:00:00 z"});
    let a = v2(&c, &d, &device).await;
    assert_eq!(a.code(), "000004", "{:?}", a.json);
    let deadline = Instant::now() + Duration::from_secs(20);
    let up: Upload = loop {
        if let Some(u) = market.uploads().into_iter().find(|u| u.event_id == event) {
            break u;
        }
        assert!(
            Instant::now() < deadline,
            "no upload; {:?}",
            market.last_rejection()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(up.kind, "FILE");
    assert!(up.characters.len() > 1024);
    let verifier = client_verifier::Verifier::builder()
        .issuer(&issuer)
        .binding(client_verifier::BindingRequirement::Required);
    let verifier = d
        .public_keys()
        .into_iter()
        .fold(verifier, |b, k| b.trust(k))
        .build();
    let v = verifier
        .verify(
            &up.characters,
            Some(&Fingerprint::parse(MACHINE_A).unwrap()),
            Timestamp::now(),
        )
        .unwrap();
    assert_eq!(v.claims().jti, id64('I'));
    assert_eq!(
        market.rejected_signatures(),
        0,
        "{:?}",
        market.last_rejection()
    );
}

// ---- 6. conflicting repeats ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_get_license_that_differs_is_answered_the_same_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let get = |product: &'static str, exp: &'static str| {
        vec![
            ("activity", "getLicense"),
            ("customerId", "cust-c"),
            ("businessId", "conf-1"),
            ("orderId", "CONF0001"),
            ("productId", product),
            ("expireTime", exp),
        ]
    };
    let first = v1(&c, &d, &get("OFFI1", "20991231000000")).await;
    assert_eq!(first.code(), "000000");
    let same = v1(&c, &d, &get("OFFI1", "20991231000000")).await;
    assert_eq!(same.json["license"], first.json["license"]);
    let other = v1(&c, &d, &get("OFFI2", "21001231000000")).await;
    assert_eq!(other.code(), "000000");
    assert_eq!(
        other.json["license"], first.json["license"],
        "the idempotent answer"
    );

    let events = audit(&c, &d, "conf-1").await;
    let conflicts: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "conflicting_repeat")
        .collect();
    assert_eq!(
        conflicts.len(),
        1,
        "only the repeat that differs: {events:#?}"
    );
    let fields = &conflicts[0]["detail"]["fields"];
    assert_eq!(
        fields["productId"],
        json!({"recorded": "OFFI1", "repeated": "OFFI2"})
    );
    assert_eq!(
        fields["expireTime"],
        json!({"recorded": "2099-12-31T00:00:00Z", "repeated": "2100-12-31T00:00:00Z"})
    );
    assert!(fields.get("customerId").is_none(), "{fields}");
    d.wait_log("repeated getLicense differs");
}

// ---- 7. smaller points --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_instance_lists_info_and_informational_fields_never_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &["--v1-window-secs", "600"]);
    let c = client();
    // periodType=day (and anything else) is recorded, not refused.
    for (order, business, period) in [("PD0001", "pd-1", "day"), ("PD0002", "pd-2", "week")] {
        let get = [
            ("activity", "getLicense"),
            ("customerId", "cust-p"),
            ("businessId", business),
            ("orderId", order),
            ("productId", "OFFI1"),
            ("expireTime", "20991231000000"),
            ("periodType", period),
        ];
        let a = v1(&c, &d, &get).await;
        assert_eq!(a.code(), "000000", "{period}: {:?}", a.json);
    }
    for business in ["qi-1", "qi-2"] {
        let created = json!({"activity": "newInstance", "businessId": business,
                             "orderId": format!("Q-{business}"), "orderLineId": "1"});
        assert_eq!(v2(&c, &d, &created).await.code(), "000000");
    }
    let query = json!({"activity": "queryInstance", "instanceId": "qi-1,qi-2"});
    let a = v2(&c, &d, &query).await;
    a.check_body_sign();
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    assert_eq!(
        a.json["info"],
        json!([{"instanceId": "qi-1"}, {"instanceId": "qi-2"}])
    );

    // A V1 call outside the window: the refusal names the window and the setting.
    let key = licd::marketplace::AccessKey::new(common::ACCESS_KEY);
    let old = Timestamp::now().add_secs(-3600);
    let query = licd::marketplace::sign_v1_query(
        &key,
        &[("activity", "expireLicense"), ("instanceId", "pd-1")],
        old,
    );
    let a = common::v1_raw(&c, &d, &query).await;
    assert_eq!(a.code(), "000001", "{:?}", a.json);
    assert!(
        a.msg().contains("600 s") && a.msg().contains("--v1-window-secs"),
        "{}",
        a.msg()
    );
}
