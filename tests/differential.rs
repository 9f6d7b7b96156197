//! One scripted sequence of operations on every backend, compared byte for byte.
//!
//! The service is the same; only the store differs. Each backend gets a fresh service (fixed
//! signing key, seeded ids, the same marketplace fake, the same times) and the same steps:
//! purchases and their repeats, renewals, freezes, stale and replayed callbacks, releases,
//! seats and transfers, refreshes, reissues, revokes, device licenses and their uploads,
//! License 2.0 codes (recorded before activation, then activated through the marketplace),
//! and air-gapped activation and deactivation. Their stores must then dump ([`Store::dump`],
//! the licd dump v1) the same bytes: licenses, indexes, seats, outbox, revocation list,
//! audit chain, counters and counts. A backend that derived a counter, a revocation entry or
//! an audit link differently fails here.

mod common;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use client_verifier::offline::state::OfflineState;
use client_verifier::{SecretKey, Timestamp};
use common::fake_market::{FakeCode, FakeMarket};
use licd::market_api::{ApiConfig, MarketplaceApi};
use licd::marketplace::{AccessKey, parse_v1, parse_v2, sign_v1_query, verify_v1};
use licd::service::{Service, Settings};
use licd::store::{MemStore, SledStore, Store};
use serde_json::{Value, json};
use zeroize::Zeroizing;

const KEY: &str = "differential-access-key-0123456789";
const A: &str = "04:7C:16:5E:E3:5D|SN-A|BOARD-A|BFEBFBFF00090672";
const B: &str = "0B:11:22:33:44:55|SN-B|BOARD-B|BFEBFBFF000A0671";
const C: &str = "0C:11:22:33:44:66|SN-C|BOARD-C|BFEBFBFF000A0671";

/// What the script makes once, on a machine, and hands every backend alike: an air-gapped
/// request and, after its activation, the machine's receipt (its device key is random).
#[derive(Default)]
struct Machine {
    state: Option<(tempfile::TempDir, OfflineState)>,
    request: Option<String>,
    receipt: Option<String>,
}

/// A service as `licd serve` builds it, over `store`, talking to `market`.
fn service(store: Arc<dyn Store>, market: &FakeMarket) -> Service {
    let api = MarketplaceApi::new(ApiConfig {
        base_urls: vec![market.url()],
        ak: market.ak().to_string(),
        sk: Zeroizing::new(market.sk().to_string()),
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    Service::new(
        store,
        Arc::new(SecretKey::from_seed(&[11; 32])),
        Settings {
            issuer: "acme".into(),
            freeze_days: 15,
            require_fingerprint: false,
            min_fingerprint_components: 3,
        },
    )
    .with_marketplace(Some(api))
    .with_seeded_ids(1)
}

/// A marketplace that knows the script's order and its License 2.0 code.
fn market() -> FakeMarket {
    let market = FakeMarket::start();
    market.add_order(json!({
        "orderId": "CS-D2",
        "orderType": "NEW",
        "createTime": "20260101000000",
        "buyerInfo": {"customerId": "cust-d2", "customerName": "Plant 2"},
        "orderLine": [{
            "orderLineId": "CS-D2-1",
            "chargingMode": "PERIOD",
            "expireTime": "20270101000000",
            "productInfo": [{"productId": "OFFI-D2", "skuCode": "sku-d2", "linearValue": 2}]
        }]
    }));
    market.add_code("LC-DIFF-ALIVE", FakeCode::alive(2, "20271231000000"));
    market
}

/// The script's clock: step `n` happens `n` hours after the start.
struct Clock(i64);

impl Clock {
    fn next(&mut self) -> Timestamp {
        self.0 += 1;
        Timestamp::from_unix(1_767_225_600 + self.0 * 3600)
    }
}

/// A License 1.0 callback (`params`) signed at `now`, applied at `now`.
async fn v1(s: &Service, params: &[(&str, &str)], now: Timestamp) -> Value {
    let key = AccessKey::new(KEY);
    let query = sign_v1_query(&key, params, now);
    let verified = verify_v1(&key, &query, now, None).unwrap();
    let cb = parse_v1(&verified).unwrap();
    let signed = Some(licd::license::SignedTime::from_millis(
        verified.signed_millis(),
    ));
    outcome(s.apply_callback(cb, signed, now).await)
}

/// A V2 callback `body`, signed at `signed` (a stale replay signs earlier than it arrives).
async fn v2_at(s: &Service, body: Value, signed: Timestamp, now: Timestamp) -> Value {
    let cb = parse_v2(body.to_string().as_bytes()).unwrap();
    let signed = Some(licd::license::SignedTime::from_second(signed));
    outcome(s.apply_callback(cb, signed, now).await)
}

async fn v2(s: &Service, body: Value, now: Timestamp) -> Value {
    v2_at(s, body, now, now).await
}

/// An operation's outcome, as the script records it (so that a backend that refuses what
/// another accepts fails too).
fn outcome<T: std::fmt::Debug, E: std::fmt::Display>(r: Result<T, E>) -> Value {
    match r {
        Ok(v) => json!({ "ok": format!("{v:?}") }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// Runs the script on `s`; returns every outcome, in order.
async fn script(s: &Service, machine: &mut Machine) -> Vec<Value> {
    let mut clock = Clock(0);
    let mut out = Vec::new();
    let purchase = |order: &'static str, id: &'static str| {
        vec![
            ("activity", "getLicense"),
            ("customerId", "cust-d1"),
            ("customerName", "Acme Tooling"),
            ("businessId", id),
            ("orderId", order),
            ("productId", "OFFI-D1"),
            ("skuCode", "sku-d1"),
            ("expireTime", "20270101000000"),
            ("periodType", "year"),
            ("amount", "3"),
        ]
    };

    // License 1.0: a purchase of three seats, and its repeat.
    let now = clock.next();
    out.push(v1(s, &purchase("CS-D1", "lic-d1"), now).await);
    out.push(v1(s, &purchase("CS-D1", "lic-d1"), clock.next()).await);
    let token = s
        .store()
        .license("lic-d1")
        .await
        .unwrap()
        .and_then(|l| l.issued_token)
        .unwrap();

    // Seats on two machines, one given back and taken by a third (a transfer), a refresh.
    let now = clock.next();
    out.push(outcome(s.activate(&token, A, now).await));
    out.push(outcome(s.activate(&token, B, clock.next()).await));
    out.push(outcome(
        s.free_seat(
            "lic-d1",
            1,
            &licd::accounts::Principal::admin_token("admin:diff"),
            clock.next(),
        )
        .await,
    ));
    let seat_c = s.activate(&token, C, clock.next()).await;
    out.push(outcome(seat_c.as_ref().map(|x| x.seat)));
    if let Ok(seat) = &seat_c {
        out.push(outcome(
            s.refresh(&seat.token, clock.next())
                .await
                .map(|r| r.revision),
        ));
    }

    // Air-gapped: the request is made once, on the machine, and carried to every backend.
    if machine.request.is_none() {
        let dir = tempfile::tempdir().unwrap();
        let state = OfflineState::open(dir.path().join("machine")).unwrap();
        let fp = client_verifier::Fingerprint::parse(A).unwrap();
        machine.request = Some(state.request(&token, &fp).unwrap());
        machine.state = Some((dir, state));
    }
    let request = machine.request.clone().unwrap();
    out.push(outcome(
        s.offline_activate(
            &request,
            &licd::accounts::Principal::customer("client"),
            clock.next(),
        )
        .await
        .map(|seat| (seat.seat, seat.new)),
    ));
    if machine.receipt.is_none() {
        let (_, state) = machine.state.as_ref().unwrap();
        machine.receipt = Some(state.receipt().unwrap());
    }
    let receipt = machine.receipt.clone().unwrap();
    out.push(outcome(
        s.offline_deactivate(
            &receipt,
            &licd::accounts::Principal::customer("client"),
            clock.next(),
        )
        .await
        .map(|d| d.seat),
    ));

    // Renewal (twice: applied once), a freeze, a stale unfreeze, a reissue.
    let renew = [
        ("activity", "refreshLicense"),
        ("instanceId", "lic-d1"),
        ("orderId", "CS-D1-R1"),
        ("expireTime", "20280101000000"),
    ];
    out.push(v1(s, &renew, clock.next()).await);
    out.push(v1(s, &renew, clock.next()).await);
    let freeze = [("activity", "expireLicense"), ("instanceId", "lic-d1")];
    out.push(v1(s, &freeze, clock.next()).await);
    out.push(outcome(
        s.reissue(
            "lic-d1",
            None,
            &licd::accounts::Principal::admin_token("admin:diff"),
            "machine replaced",
            clock.next(),
        )
        .await
        .map(|r| r.token.len()),
    ));

    // A second purchase, revoked by the ISV; a third, released by the marketplace.
    out.push(v1(s, &purchase("CS-D3", "lic-d3"), clock.next()).await);
    out.push(outcome(
        s.revoke(
            "lic-d3",
            &licd::accounts::Principal::admin_token("admin:diff"),
            "chargeback",
            clock.next(),
        )
        .await
        .map(|l| l.status),
    ));
    out.push(v1(s, &purchase("CS-D4", "lic-d4"), clock.next()).await);
    let release = [("activity", "releaseLicense"), ("instanceId", "lic-d4")];
    out.push(v1(s, &release, clock.next()).await);
    out.push(v1(s, &release, clock.next()).await);

    // Online activation: an instance, its order read from the marketplace, a device license
    // and its upload (failed once, then done), renewal, freeze, a stale replay, release.
    out.push(
        v2(
            s,
            json!({"activity": "newInstance", "businessId": "inst-d2", "orderId": "CS-D2",
                   "orderLineId": "CS-D2-1", "testFlag": "0"}),
            clock.next(),
        )
        .await,
    );
    let device = json!({"activity": "getLicenseAsync", "instanceId": "inst-d2",
        "eventId": "EV-D2", "deviceFingerprint": B,
        "effectiveTime": "2026-01-02 00:00:00 z", "expireTime": "2026-12-31 00:00:00 z"});
    out.push(v2(s, device.clone(), clock.next()).await);
    out.push(v2(s, device, clock.next()).await);
    let jobs = s.store().jobs().await.unwrap();
    for job in jobs.into_iter().filter(|j| j.license_id == "inst-d2") {
        let now = clock.next();
        out.push(outcome(s.job_failed(job.clone(), now).await));
        let again = s.store().job(&job.id).await.unwrap().unwrap();
        out.push(outcome(s.job_succeeded(&again, None, clock.next()).await));
    }
    let renewed_at = clock.next();
    out.push(
        v2(
            s,
            json!({"activity": "refreshInstance", "scene": "RENEWAL", "orderId": "CS-D2-R",
                   "orderLineId": "CS-D2-R-1", "instanceId": "inst-d2",
                   "expireTime": "20280101000000", "testFlag": "0"}),
            renewed_at,
        )
        .await,
    );
    let status = |st: &str| json!({"activity": "updateInstanceStatus", "instanceId": "inst-d2", "status": st});
    out.push(v2(s, status("FREEZE"), clock.next()).await);
    // Signed before the freeze was applied: stale, audited, nothing changes.
    let now = clock.next();
    out.push(v2_at(s, status("UNFREEZE"), renewed_at, now).await);
    out.push(v2(s, status("UNFREEZE"), clock.next()).await);
    out.push(
        v2(
            s,
            json!({"activity": "releaseInstance", "instanceId": "inst-d2"}),
            clock.next(),
        )
        .await,
    );

    // License 2.0: a code the marketplace tells licd about before anyone activated it
    // (recorded under a seeded id), then one activated through the marketplace.
    for body in [
        json!({"activity": "refreshLicenseCode", "scene": "RENEWAL", "orderId": "CS-LC",
               "orderLineId": "CS-LC-1", "license": "LC-DIFF-EARLY",
               "expireTime": "20271231000000", "testFlag": "0"}),
        json!({"activity": "updateLicenseCodeStatus", "license": "LC-DIFF-EARLY",
               "status": "FREEZE", "testFlag": "0"}),
        json!({"activity": "releaseLicenseCode", "license": "LC-DIFF-EARLY", "testFlag": "0"}),
    ] {
        out.push(v2(s, body, clock.next()).await);
    }
    let client: IpAddr = "192.0.2.7".parse().unwrap();
    out.push(outcome(
        s.activate_code("LC-DIFF-ALIVE", A, client, clock.next())
            .await
            .map(|c| (c.seat.seat, c.status)),
    ));
    out.push(outcome(
        s.activate_code("LC-DIFF-ALIVE", B, client, clock.next())
            .await
            .map(|c| (c.seat.seat, c.status)),
    ));
    s.store().flush().await.unwrap();
    out
}

/// Runs the script on a fresh service over `store`; its outcomes and the store's dump.
async fn run(store: Arc<dyn Store>, machine: &mut Machine) -> (Vec<Value>, String) {
    let market = market();
    let s = service(store.clone(), &market);
    let outcomes = script(&s, machine).await;
    (outcomes, store.dump().await.unwrap().to_text())
}

/// The first line where two dumps differ, for the failure message.
fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  {x}\n  {y}", i + 1);
        }
    }
    format!(
        "one dump is longer: {} against {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

fn assert_same(name: &str, reference: &(Vec<Value>, String), other: &(Vec<Value>, String)) {
    assert_eq!(reference.0, other.0, "{name}: the outcomes differ");
    assert!(
        reference.1 == other.1,
        "{name}: the dumps differ at {}",
        first_difference(&reference.1, &other.1)
    );
}

/// The script touches every collection, and what it says happened is in the store.
fn assert_meaningful(dump: &str, outcomes: &[Value]) {
    for collection in [
        "licenses ",
        "orders ",
        "applied ",
        "devices ",
        "activations ",
        "revoked ",
        "audit ",
        "counters ",
        "meta ",
    ] {
        assert!(
            dump.lines().any(|l| l.starts_with(collection)),
            "no {collection}record in:\n{dump}"
        );
    }
    assert!(
        outcomes.iter().all(|o| o.get("ok").is_some()),
        "a step failed: {outcomes:#?}"
    );
}

/// The reference run: the script on sled in `dir`, checked to have done what it says.
async fn on_sled(dir: &std::path::Path, machine: &mut Machine) -> (Vec<Value>, String) {
    let sled = run(Arc::new(SledStore::open(dir, 1 << 22).unwrap()), machine).await;
    assert_meaningful(&sled.1, &sled.0);
    sled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_sled_store_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut machine = Machine::default();
    let sled = on_sled(dir.path(), &mut machine).await;
    let mem = run(Arc::new(MemStore::new()), &mut machine).await;
    assert_same("memory against sled", &sled, &mem);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn postgresql_stores_the_same_bytes_as_sled() {
    let dir = tempfile::tempdir().unwrap();
    let mut machine = Machine::default();
    let sled = on_sled(dir.path(), &mut machine).await;
    let url = common::pg::fresh_database(&common::pg::require());
    let pg = licd::store::PgStore::open(&url, true).await.unwrap();
    let pg = run(Arc::new(pg), &mut machine).await;
    assert_same("PostgreSQL against sled", &sled, &pg);
}
