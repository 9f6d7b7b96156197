//! Faults the daemon must survive: a full disk, SIGKILL under load, and a server clock that
//! jumps. The disk and kill tests run the real `licd` binary; the others serve the real router
//! or service in-process over a store that fails on demand, or pass `now` explicitly.

#[path = "common/chaos.rs"]
mod chaos;
mod common;

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chaos::{FaultyStore, Licd, serve_in_process, service, try_v1_at, try_v2_at};
use client_verifier::{BindingRequirement, SecretKey, Timestamp, Verifier};
use common::{ACCESS_KEY, client};
use licd::marketplace::{AccessKey, ResultCode, random_nonce, sign_v2_query, verify_v2};
use licd::service::{Caller, NewPurchase};
use licd::store::{OrderKey, SledStore, Store};
use serde_json::json;

fn get_license<'a>(order: &'a str, business: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("activity", "getLicense"),
        ("customerId", "cust-faults"),
        ("businessId", business),
        ("orderId", order),
        ("productId", "OFFI454488918838374"),
        ("skuCode", "sku-pro"),
        ("expireTime", "20991231000000"),
        ("periodType", "year"),
    ]
}

/// `getLicense` for `order` (instance `inst-<order>`), signed now: (code, license).
async fn issue(
    c: &reqwest::Client,
    addr: std::net::SocketAddr,
    order: &str,
) -> Option<(String, String)> {
    let business = format!("inst-{order}");
    let a = try_v1_at(c, addr, &get_license(order, &business), Timestamp::now()).await?;
    a.check_body_sign();
    let license = a.json["license"].as_str().unwrap_or("").to_string();
    Some((a.code().to_string(), license))
}

async fn ready_status(c: &reqwest::Client, url: String) -> u16 {
    c.get(url).send().await.unwrap().status().as_u16()
}

fn classic(order: &str) -> OrderKey {
    OrderKey::Classic(order.to_string())
}

/// Every license in the store is whole: reachable from its order, with its token and exactly
/// one audit event (these tests only issue); the status counts and the audit chain agree.
async fn assert_whole(s: &SledStore) -> usize {
    let all = s.licenses_page(None, usize::MAX).await.unwrap();
    for l in &all {
        assert_eq!(
            s.order(&classic(&l.order)).await.unwrap().as_deref(),
            Some(l.id.as_str())
        );
        assert!(l.issued_token.is_some(), "{} has no token", l.id);
        assert_eq!(s.audit_for(&l.id).await.unwrap().len(), 1, "{}", l.id);
    }
    assert_eq!(s.counts().await.unwrap().active, all.len() as u64);
    assert_eq!(s.verify_audit_chain().await.unwrap(), Ok(all.len() as u64));
    all.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_answers_000005_stops_licd_leaves_nothing_half_written_and_recovers_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c = client();
    let d = Licd::start(dir.path(), None);
    let (code, first) = issue(&c, d.addr, "DF-0000").await.unwrap();
    assert_eq!(code, "000000");
    d.kill();
    let size = std::fs::metadata(dir.path().join("data/db/db"))
        .unwrap()
        .len();

    // sled grows its file in 512 KiB segments and writes some on reopening: this leaves room
    // for startup and a few hundred licenses, then every write fails with EFBIG.
    let d = Licd::start(dir.path(), Some(size + 1_500_000));
    let mut acked = vec![("DF-0000".to_string(), first)];
    let mut failed = None;
    for i in 1..5000 {
        let order = format!("DF-{i:04}");
        let (code, license) = issue(&c, d.addr, &order).await.unwrap();
        match code.as_str() {
            "000000" => acked.push((order, license)),
            "000005" => {
                failed = Some(order);
                break;
            }
            other => panic!("{order}: unexpected {other}"),
        }
    }
    let failed = failed.expect("the file-size limit was never reached");
    // sled refuses every later write until the database is reopened, even once there is room:
    // licd stops by itself with a failure status, so its service manager starts it again.
    let status = d.wait_exit(Duration::from_secs(15));
    assert!(!status.success(), "{status:?}");

    {
        let s = Licd::open_store(dir.path());
        let n = assert_whole(&s).await;
        for (order, license) in &acked {
            let id = s
                .order(&classic(order))
                .await
                .unwrap()
                .expect("an acknowledged order was lost");
            let l = s.license(&id).await.unwrap().unwrap();
            assert_eq!(l.issued_token.as_deref(), Some(license.as_str()));
        }
        // The refused order is either wholly there (written but never acknowledged) or absent.
        assert!(
            n == acked.len() || n == acked.len() + 1,
            "{n} vs {}",
            acked.len()
        );
    }

    let d = Licd::start(dir.path(), None);
    assert_eq!(ready_status(&c, d.url("/readyz")).await, 200);
    let (code, retried) = issue(&c, d.addr, &failed).await.unwrap();
    assert_eq!(code, "000000");
    assert!(!retried.is_empty());
    assert_eq!(issue(&c, d.addr, &failed).await.unwrap(), (code, retried));
    for (order, license) in acked.iter().step_by(17) {
        let (code, again) = issue(&c, d.addr, order).await.unwrap();
        assert_eq!((code.as_str(), &again), ("000000", license), "{order}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_commit_or_flush_answers_000005_and_the_retry_gets_one_license() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FaultyStore::new(
        SledStore::open(dir.path(), 1 << 20).unwrap(),
    ));
    let addr = serve_in_process(dir.path(), store.clone()).await;
    let c = client();

    // The commit fails: nothing at all is written.
    store.fail_commit.store(true, Ordering::SeqCst);
    assert_eq!(issue(&c, addr, "FC-1").await.unwrap().0, "000005");
    assert_eq!(store.order(&classic("FC-1")).await.unwrap(), None);
    assert_eq!(
        store.license("inst-FC-1").await.unwrap().map(|l| l.id),
        None
    );
    assert_eq!(store.counts().await.unwrap().active, 0);
    assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(0));
    store.fail_commit.store(false, Ordering::SeqCst);
    let (code, token) = issue(&c, addr, "FC-1").await.unwrap();
    assert_eq!(code, "000000");
    assert_eq!(issue(&c, addr, "FC-1").await.unwrap(), (code, token));

    // The flush fails after the commit: the answer acknowledges nothing, the record is whole
    // (not yet durable), and the retry returns that very license once the disk is back.
    store.fail_flush.store(true, Ordering::SeqCst);
    assert_eq!(issue(&c, addr, "FC-2").await.unwrap().0, "000005");
    store.fail_flush.store(false, Ordering::SeqCst);
    let stored = store
        .license("inst-FC-2")
        .await
        .unwrap()
        .unwrap()
        .issued_token;
    let (code, token) = issue(&c, addr, "FC-2").await.unwrap();
    assert_eq!((code.as_str(), Some(&token)), ("000000", stored.as_ref()));
    assert_eq!(issue(&c, addr, "FC-2").await.unwrap(), (code, token));
    assert_eq!(store.counts().await.unwrap().active, 2);
    assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(2));
}

/// What a `000000` acknowledged: a getLicense license, or a newInstance instance id.
#[derive(Debug, Clone, PartialEq)]
enum Ack {
    License(String),
    Instance(String),
}

async fn call(c: &reqwest::Client, addr: std::net::SocketAddr, n: usize) -> Option<(String, Ack)> {
    if n.is_multiple_of(4) {
        let body = json!({"activity": "newInstance", "businessId": format!("ki-{n}-{}", random_nonce()),
                          "orderId": format!("KO-{n}"), "orderLineId": "L1", "testFlag": "0"});
        let a = try_v2_at(c, addr, &body).await?;
        a.check_body_sign();
        assert_eq!(a.code(), "000000", "{:?}", a.json);
        let id = a.json["instanceId"].as_str().unwrap().to_string();
        Some((format!("KO-{n}"), Ack::Instance(id)))
    } else {
        let order = format!("KL-{n}");
        let business = format!("kb-{n}-{}", random_nonce());
        let a = try_v1_at(c, addr, &get_license(&order, &business), Timestamp::now()).await?;
        a.check_body_sign();
        assert_eq!(a.code(), "000000", "{:?}", a.json);
        Some((
            order,
            Ack::License(a.json["license"].as_str().unwrap().to_string()),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_orders_survive_repeated_sigkill_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let c = client();
    let acked: Arc<Mutex<BTreeMap<usize, (String, Ack)>>> = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let mut delays = Vec::new();
    for _round in 0..4 {
        let d = Licd::start(dir.path(), None);
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (c, acked, next, stop, addr) =
                    (c.clone(), acked.clone(), next.clone(), stop.clone(), d.addr);
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let n = next.fetch_add(1, Ordering::SeqCst);
                        // No answer: the daemon was killed mid-request; nothing was acknowledged.
                        let Some(ack) = call(&c, addr, n).await else {
                            break;
                        };
                        acked.lock().unwrap().insert(n, ack);
                    }
                })
            })
            .collect();
        let delay = 300 + RandomState::new().build_hasher().finish() % 1200;
        delays.push(delay);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        d.kill();
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.await.unwrap();
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 100,
        "too little load: {} ({delays:?})",
        acked.len()
    );

    // Every acknowledged order, re-sent (with another businessId), gets the same answer.
    let d = Licd::start(dir.path(), None);
    let entries: Vec<_> = acked.into_iter().collect();
    let checks: Vec<_> = entries
        .chunks(entries.len().div_ceil(8))
        .map(|chunk| {
            let (c, chunk, addr) = (c.clone(), chunk.to_vec(), d.addr);
            tokio::spawn(async move {
                for (n, (order, ack)) in chunk {
                    let (again_order, again) = call(&c, addr, n).await.unwrap();
                    assert_eq!(again_order, order);
                    assert_eq!(again, ack, "{order} changed after a SIGKILL");
                }
            })
        })
        .collect();
    for ch in checks {
        ch.await.unwrap();
    }
    d.kill();
    let s = Licd::open_store(dir.path());
    let records = s.verify_audit_chain().await.unwrap();
    assert!(
        records.is_ok_and(|n| n >= entries.len() as u64),
        "{records:?} ({delays:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_callback_outside_the_timestamp_window_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path(), 1 << 20).unwrap());
    let addr = serve_in_process(dir.path(), store.clone()).await;
    let c = client();
    let now = Timestamp::now();
    // The server clock jumped a day and two minutes forward, then back, past the 1-day window.
    for skew in [-86_520, 86_520] {
        let params = get_license("CJ-1", "inst-CJ-1");
        let a = try_v1_at(&c, addr, &params, now.add_secs(skew))
            .await
            .unwrap();
        a.check_body_sign();
        assert_eq!(a.code(), "000001", "{:?}", a.json);
        assert!(a.msg().starts_with("timeStamp: "), "{}", a.msg());
        assert_eq!(store.order(&classic("CJ-1")).await.unwrap(), None);
    }
    // Inside the window either way it is accepted.
    let params = get_license("CJ-1", "inst-CJ-1");
    let a = try_v1_at(&c, addr, &params, now.add_secs(-86_000)).await;
    assert_eq!(a.unwrap().code(), "000000");
}

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

#[tokio::test]
async fn renewal_expiry_does_not_follow_a_clock_that_jumps_back() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(Arc::new(SledStore::open(dir.path(), 1 << 20).unwrap()));
    let caller = |action| Caller {
        action,
        test: false,
        signed_at: None,
    };
    let now = t("2026-11-23T12:00:00Z");
    let purchase = NewPurchase {
        order: "RJ-1".into(),
        business_id: "inst-RJ".into(),
        customer: "cust".into(),
        customer_name: None,
        product: "P".into(),
        sku: "sku".into(),
        exp: Some(t("2027-11-23T00:00:00Z")),
        quantity: 1,
    };
    svc.issue_classic(purchase, caller("getLicense"), now)
        .await
        .unwrap();
    svc.renew(
        "inst-RJ",
        "RJ-2",
        t("2028-11-23T00:00:00Z"),
        None,
        caller("refreshLicense"),
        now,
    )
    .await
    .unwrap();

    // The clock jumps three years back. The renewal is repeated, and a new one arrives: the
    // expiry is the marketplace's absolute date, never derived from the server's clock.
    let back = t("2023-11-23T12:00:00Z");
    for (order, exp) in [
        ("RJ-2", "2028-11-23T00:00:00Z"),
        ("RJ-3", "2029-11-23T00:00:00Z"),
    ] {
        svc.renew(
            "inst-RJ",
            order,
            t(exp),
            None,
            caller("refreshLicense"),
            back,
        )
        .await
        .unwrap();
        let l = svc.store().license("inst-RJ").await.unwrap().unwrap();
        assert_eq!(l.exp, t(exp), "after {order}");
    }
    let l = svc.store().license("inst-RJ").await.unwrap().unwrap();
    assert_eq!(l.revision, 3, "the repeated renewal applied nothing");
    let verifier = Verifier::builder()
        .issuer(chaos::ISSUER)
        .binding(BindingRequirement::Optional)
        .trust(SecretKey::from_seed(&[7; 32]).public_key().clone())
        .build();
    let token = l.latest_token.or(l.issued_token).unwrap();
    let v = verifier.verify(&token, None, now).unwrap();
    assert_eq!(v.claims().exp, t("2029-11-23T00:00:00Z"));
    assert_eq!(v.claims().freeze_until, t("2029-12-08T00:00:00Z"));
}

#[tokio::test]
async fn replayed_v2_nonce_is_refused_inside_its_window_across_a_forward_clock_jump() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), 1 << 20).unwrap();
    let key = AccessKey::new(ACCESS_KEY);
    let body = br#"{"activity":"newInstance","businessId":"b","orderId":"O","orderLineId":"L"}"#;
    let sent = Timestamp::now();
    let query = sign_v2_query(&key, body, &random_nonce(), sent.unix() * 1000);
    // What the callback handler does: verify at the server's `now`, then record the nonce.
    let accept = async |now: Timestamp| match verify_v2(&key, &query, body, now) {
        Err(e) => Err(e.code),
        Ok(v) => match store
            .remember_nonce(v.nonce(), v.remember_until())
            .await
            .unwrap()
        {
            true => Ok(()),
            false => Err(ResultCode::AuthFailed),
        },
    };
    assert_eq!(accept(sent).await, Ok(()));
    assert_eq!(
        accept(sent.add_secs(30)).await,
        Err(ResultCode::AuthFailed),
        "replay"
    );

    // The clock jumps an hour forward and nonces are pruned: this one goes. A replay now is
    // outside its timestamp window, so it is still refused.
    let jumped = sent.add_secs(3600);
    assert_eq!(store.prune_nonces(jumped).await.unwrap(), 1);
    assert_eq!(accept(jumped).await, Err(ResultCode::AuthFailed));
    // Pruning at the true time keeps it while a replay could still pass the window.
    assert!(
        store
            .remember_nonce("n-kept", sent.add_secs(61))
            .await
            .unwrap()
    );
    assert_eq!(store.prune_nonces(sent.add_secs(61)).await.unwrap(), 0);
    assert!(
        !store
            .remember_nonce("n-kept", sent.add_secs(61))
            .await
            .unwrap()
    );
}
