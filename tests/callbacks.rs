//! The marketplace production interface end to end: the real `licd serve` on 127.0.0.1:0, and
//! callbacks signed exactly as the spec says (License 1.0 GET with `authToken`, online activation
//! POST with `signature`/`timestamp`/`nonce`). Every answer's `Body-Sign` is checked byte for
//! byte against an independent HMAC of the body.

mod common;

use client_verifier::{LicenseStatus, Timestamp};
use common::{Daemon, client, metric, v1, v1_raw, v2, v2_raw};
use serde_json::json;

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn get_license<'a>(order: &'a str, business: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("activity", "getLicense"),
        ("customerId", "cust-68cbc86a"),
        ("customerName", "Acme Tooling"),
        ("businessId", business),
        ("orderId", order),
        ("productId", "OFFI454488918838374"),
        ("skuCode", "sku-pro"),
        ("expireTime", "20991231000000"),
        ("periodType", "year"),
        ("testFlag", "1"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn license_1_0_full_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();

    // Issue.
    let a = v1(&c, &d, &get_license("CS0001", "biz-first")).await;
    a.check_body_sign();
    assert_eq!((a.status, a.code()), (200, "000000"), "{:?}", a.json);
    assert_eq!(a.json["instanceId"], "biz-first");
    let license = a.json["license"].as_str().unwrap().to_string();
    let verifier = d.verifier();
    let v = verifier.verify(&license, None, Timestamp::now()).unwrap();
    assert_eq!(v.claims().jti, "biz-first");
    assert_eq!(v.claims().sub, "cust-68cbc86a");
    assert_eq!(v.claims().order, "CS0001");
    assert_eq!(v.claims().product, "OFFI454488918838374");
    assert_eq!(v.claims().exp, t("2099-12-31T00:00:00Z"));
    assert_eq!(v.claims().freeze_until, t("2100-01-15T00:00:00Z"));
    assert!(
        v.claims().binding.is_none(),
        "a License 1.0 license starts unbound"
    );

    // A resend (new businessId, new timestamp) gets the very same bytes back.
    let again = v1(&c, &d, &get_license("CS0001", "biz-resend")).await;
    again.check_body_sign();
    assert_eq!(again.code(), "000000");
    assert_eq!(again.json["instanceId"], "biz-first");
    assert_eq!(again.json["license"].as_str(), Some(license.as_str()));

    // Renew (absolute expiry), once per renewal order.
    let renew = |order: &'static str, exp: &'static str| {
        vec![
            ("activity", "refreshLicense"),
            ("instanceId", "biz-first"),
            ("orderId", order),
            ("expireTime", exp),
        ]
    };
    let a = v1(&c, &d, &renew("CS0002", "21001231000000")).await;
    a.check_body_sign();
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    assert_eq!(
        v1(&c, &d, &renew("CS0002", "21001231000000")).await.code(),
        "000000"
    );

    // Freeze, twice; a renewal unfreezes.
    let expire = [
        ("activity", "expireLicense"),
        ("instanceId", "biz-first"),
        ("orderId", "CS0001"),
    ];
    for _ in 0..2 {
        let a = v1(&c, &d, &expire).await;
        a.check_body_sign();
        assert_eq!(a.code(), "000000", "{:?}", a.json);
    }
    assert_eq!(
        metric(&c, &d, "licd_licenses{status=\"frozen\"}").await,
        1.0
    );
    assert_eq!(
        v1(&c, &d, &renew("CS0003", "21011231000000")).await.code(),
        "000000"
    );
    assert_eq!(
        metric(&c, &d, "licd_licenses{status=\"active\"}").await,
        1.0
    );

    // Release, twice; then a renewal makes no sense and changes nothing.
    let release = [
        ("activity", "releaseLicense"),
        ("instanceId", "biz-first"),
        ("orderId", "CS0001"),
    ];
    for _ in 0..2 {
        let a = v1(&c, &d, &release).await;
        a.check_body_sign();
        assert_eq!(a.code(), "000000", "{:?}", a.json);
    }
    let a = v1(&c, &d, &renew("CS0004", "21021231000000")).await;
    a.check_body_sign();
    assert_eq!(a.code(), "000003", "{:?}", a.json);
    assert!(a.msg().contains("released"), "{}", a.msg());
    assert_eq!(
        metric(&c, &d, "licd_licenses{status=\"released\"}").await,
        1.0
    );

    // Unknown instance.
    let a = v1(
        &c,
        &d,
        &[("activity", "expireLicense"), ("instanceId", "nope")],
    )
    .await;
    a.check_body_sign();
    assert_eq!(a.code(), "000003");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_activation_full_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let new_instance = |business: &str| {
        json!({"activity": "newInstance", "businessId": business, "orderId": "CS2211180001",
               "orderLineId": "CS2211180001-000001", "testFlag": "0"})
    };
    let a = v2(&c, &d, &new_instance("87b947-first")).await;
    a.check_body_sign();
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    assert_eq!(a.json["instanceId"], "87b947-first");
    let a = v2(&c, &d, &new_instance("87b947-resend")).await;
    assert_eq!(
        a.json["instanceId"], "87b947-first",
        "same order line, same instance"
    );

    let fp = "04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.||BFEBFBFF00090672";
    let device = |event: &str, fingerprint: Option<&str>| {
        let mut b = json!({"activity": "getLicenseAsync", "instanceId": "87b947-first", "eventId": event,
                           "effectiveTime": "2023-10-27 10:30:15 z", "expireTime": "2099-10-27 10:30:15 z"});
        if let Some(f) = fingerprint {
            b["deviceFingerprint"] = json!(f);
        }
        b
    };
    let a = v2(&c, &d, &device("EV0001", Some(fp))).await;
    a.check_body_sign();
    assert_eq!(
        a.code(),
        "000004",
        "recorded for asynchronous delivery: {:?}",
        a.json
    );
    assert_eq!(
        v2(&c, &d, &device("EV0001", Some(fp))).await.code(),
        "000004"
    );
    let a = v2(&c, &d, &device("EV0002", None)).await;
    a.check_body_sign();
    assert_eq!(a.code(), "000903", "{:?}", a.json);

    let renew = json!({"activity": "refreshInstance", "scene": "RENEWAL", "orderId": "CS2211180002",
                       "orderLineId": "CS2211180002-000001", "instanceId": "87b947-first",
                       "expireTime": "20991124023618256", "testFlag": "0"});
    let a = v2(&c, &d, &renew).await;
    a.check_body_sign();
    assert_eq!(a.code(), "000000", "{:?}", a.json);

    let status = |s: &str| json!({"activity": "updateInstanceStatus", "instanceId": "87b947-first", "status": s});
    for _ in 0..2 {
        assert_eq!(v2(&c, &d, &status("FREEZE")).await.code(), "000000");
    }
    let a = v2(&c, &d, &device("EV0003", Some(fp))).await;
    assert_eq!(
        a.code(),
        "000901",
        "a frozen instance gets no new device license: {:?}",
        a.json
    );
    for _ in 0..2 {
        assert_eq!(v2(&c, &d, &status("UNFREEZE")).await.code(), "000000");
    }
    assert_eq!(
        v2(&c, &d, &device("EV0003", Some(fp))).await.code(),
        "000004"
    );

    let release = json!({"activity": "releaseInstance", "instanceId": "87b947-first"});
    for _ in 0..2 {
        let a = v2(&c, &d, &release).await;
        a.check_body_sign();
        assert_eq!(a.code(), "000000", "{:?}", a.json);
    }
    assert_eq!(v2(&c, &d, &status("UNFREEZE")).await.code(), "000003");
    let a = v2(
        &c,
        &d,
        &json!({"activity": "releaseInstance", "instanceId": "unknown-1"}),
    )
    .await;
    assert_eq!(a.code(), "000003");
    let a = v2(
        &c,
        &d,
        &json!({"activity": "queryInstance", "instanceId": "87b947-first"}),
    )
    .await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_bad_signatures_and_bad_input_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &["--max-body-bytes", "4096"]);
    let c = client();
    let key = licd::marketplace::AccessKey::new(common::ACCESS_KEY);
    let other = licd::marketplace::AccessKey::new("another-key");

    // V1 signed with another key; tampered after signing; no authToken at all.
    let q = licd::marketplace::sign_v1_query(&other, &get_license("CS9", "b9"), Timestamp::now());
    let a = v1_raw(&c, &d, &q).await;
    a.check_body_sign();
    assert_eq!((a.status, a.code()), (200, "000001"));
    let q = licd::marketplace::sign_v1_query(&key, &get_license("CS9", "b9"), Timestamp::now());
    let a = v1_raw(&c, &d, &q.replace("orderId=CS9", "orderId=CS8")).await;
    assert_eq!(a.code(), "000001", "tampered orderId");
    let a = v1_raw(
        &c,
        &d,
        "activity=getLicense&orderId=CS9&timeStamp=20230815083011123",
    )
    .await;
    a.check_body_sign();
    assert_eq!(a.code(), "000001");

    // Signed but wrong: unknown activity, missing field, bad time.
    let a = v1(&c, &d, &[("activity", "stealLicense"), ("orderId", "CS9")]).await;
    a.check_body_sign();
    assert_eq!(a.code(), "000002");
    assert!(a.msg().contains("stealLicense"), "{}", a.msg());
    let mut missing = get_license("CS9", "b9");
    missing.retain(|(k, _)| *k != "customerId");
    let a = v1(&c, &d, &missing).await;
    assert_eq!(a.code(), "000002");
    assert!(a.msg().contains("customerId"), "{}", a.msg());
    let mut bad_time = get_license("CS9", "b9");
    bad_time.retain(|(k, _)| *k != "expireTime");
    bad_time.push(("expireTime", "20991331000000"));
    let a = v1(&c, &d, &bad_time).await;
    assert_eq!(a.code(), "000002");
    assert!(a.msg().contains("expireTime"), "{}", a.msg());

    // V2: stale timestamp, replayed nonce, non-UTF-8 body, not JSON, oversize.
    let body = serde_json::to_vec(
        &json!({"activity": "newInstance", "businessId": "b", "orderId": "O",
                                          "orderLineId": "L"}),
    )
    .unwrap();
    let now_ms = Timestamp::now().unix() * 1000;
    let a = v2_raw(&c, &d, &body, "nonce-stale", now_ms - 120_000).await;
    a.check_body_sign();
    assert_eq!(a.code(), "000001", "stale timestamp: {:?}", a.json);
    let a = v2_raw(&c, &d, &body, "nonce-once", now_ms).await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    let a = v2_raw(&c, &d, &body, "nonce-once", now_ms).await;
    a.check_body_sign();
    assert_eq!(a.code(), "000001", "replayed nonce: {:?}", a.json);
    let a = v2_raw(
        &c,
        &d,
        b"{\"activity\":\"newInstance\xff\"}",
        "n-utf8",
        now_ms,
    )
    .await;
    a.check_body_sign();
    assert_eq!(a.code(), "000002");
    let a = v2_raw(&c, &d, b"[1,2,3]", "n-array", now_ms).await;
    assert_eq!(a.code(), "000002");
    let big = vec![b' '; 8192];
    let a = v2_raw(&c, &d, &big, "n-big", now_ms).await;
    assert_eq!(a.status, 413);

    // Only the one valid newInstance was written.
    assert_eq!(
        metric(&c, &d, "licd_licenses{status=\"active\"}").await,
        1.0
    );
    let a = v1(&c, &d, &get_license("CS9", "b9")).await;
    assert_eq!(a.code(), "000000");
    assert_eq!(
        a.json["instanceId"], "b9",
        "the rejected CS9 calls created nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_identical_calls_in_flight_create_one_license() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let addr = d.addr;
    let calls = (0..50).map(|i| {
        let c = c.clone();
        async move {
            let business = format!("biz-{i}");
            common::v1_at(&c, addr, &get_license("CS-CONCURRENT", &business)).await
        }
    });
    let answers = futures_join_all(calls).await;
    let first = &answers[0];
    for a in &answers {
        a.check_body_sign();
        assert_eq!(a.code(), "000000", "{:?}", a.json);
        assert_eq!(a.json["instanceId"], first.json["instanceId"]);
        assert_eq!(a.json["license"], first.json["license"]);
    }
    assert_eq!(
        metric(&c, &d, "licd_licenses{status=\"active\"}").await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_licenses_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    // Up to 3,200 distinct purchases, 16 at a time; kill the daemon while they are in flight.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..16 {
        let c = c.clone();
        let acked = acked.clone();
        let addr = d.addr;
        tasks.push(tokio::spawn(async move {
            for i in 0..200 {
                let order = format!("CS-KILL-{w}-{i}");
                let business = format!("b-{w}-{i}");
                let key = licd::marketplace::AccessKey::new(common::ACCESS_KEY);
                let q = licd::marketplace::sign_v1_query(
                    &key,
                    &get_license(&order, &business),
                    Timestamp::now(),
                );
                let url = format!("http://{addr}{}?{q}", common::CALLBACK);
                let Ok(resp) = c.get(url).send().await else {
                    return;
                };
                let Ok(body) = resp.bytes().await else { return };
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                if v["resultCode"] == "000000" {
                    acked.lock().unwrap().push((
                        order,
                        v["instanceId"].clone(),
                        v["license"].clone(),
                    ));
                }
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    d.kill();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        !acked.is_empty(),
        "nothing was acknowledged before the kill"
    );
    assert!(
        acked.len() < 3200,
        "every call finished before the kill: nothing was in flight"
    );
    eprintln!("{} calls acknowledged before SIGKILL", acked.len());

    let d = Daemon::start(dir.path(), &[]);
    for (order, instance, license) in &acked {
        let business = format!("after-restart-{order}");
        let a = v1(&c, &d, &get_license(order, &business)).await;
        assert_eq!(a.code(), "000000");
        assert_eq!(&a.json["instanceId"], instance, "{order} lost its instance");
        assert_eq!(
            &a.json["license"], license,
            "{order} came back with another license"
        );
    }
    let verifier = d.verifier();
    let license = acked[0].2.as_str().unwrap();
    let v = verifier.verify(license, None, Timestamp::now()).unwrap();
    assert!(matches!(v.status(), LicenseStatus::Active { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    assert_eq!(c.get(d.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(c.get(d.url("/readyz")).send().await.unwrap().status(), 200);
    v1(&c, &d, &get_license("CS-M", "b-m")).await;
    let text = common::metrics_text(&c, &d).await;
    assert!(
        text.contains("licd_callbacks_total{activity=\"getLicense\",code=\"000000\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("licd_callback_duration_seconds_bucket"),
        "{text}"
    );
    // A refused callback is logged with who sent it. X-Forwarded-For is anyone's to write: with
    // no --trusted-proxy the client is the peer, whatever the header claims.
    let refused = c
        .get(d.url(&format!(
            "{}?activity=getLicense&authToken=x",
            common::CALLBACK
        )))
        .header("x-forwarded-for", "198.51.100.7, 10.0.0.2")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 200);
    let log = d.wait_log("callback refused");
    assert!(log.contains("CS-M"), "logs name the order: {log}");
    assert!(
        log.lines()
            .any(|l| l.contains("callback refused") && l.contains("client=127.0.0.1 ")),
        "{log}"
    );
    assert!(!log.contains("198.51.100.7"), "{log}");
    assert!(
        !log.contains(common::ACCESS_KEY),
        "the access key never reaches the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let a = v1(&c, &d, &get_license("CS-TERM", "b-term")).await;
    assert_eq!(a.code(), "000000");
    assert!(d.terminate().success());
    let d = Daemon::start(dir.path(), &[]);
    let b = v1(&c, &d, &get_license("CS-TERM", "b-other")).await;
    assert_eq!(b.json["license"], a.json["license"]);
}

/// Runs futures concurrently and collects their outputs in order.
async fn futures_join_all<F>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// The marketplace's documents publish three readings of the V2 signature: a callback signed
/// under any of them is accepted and the reading counted and logged, until the ISV pins one.
/// A captured request re-split between its nonce and timestamp is the same request: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reading_of_the_v2_signature_is_accepted_until_one_is_pinned() {
    use licd::marketplace::{AccessKey, V2Reading, random_nonce, sign_v2_query_as};
    let c = client();
    let key = AccessKey::new(common::ACCESS_KEY);
    let body = |i: usize| {
        serde_json::to_vec(&json!({"activity": "newInstance", "businessId": format!("rd-{i}"),
            "orderId": format!("CS-RD-{i}"), "orderLineId": format!("CS-RD-{i}-1"), "testFlag": "1"}))
        .unwrap()
    };
    let now_ms = || Timestamp::now().unix() * 1000;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    for (i, reading) in V2Reading::ALL.into_iter().enumerate() {
        let b = body(i);
        let q = sign_v2_query_as(reading, &key, &b, &random_nonce(), now_ms());
        let a = common::v2_query(&c, &d, &b, &q).await;
        assert_eq!(a.code(), "000000", "{reading}: {:?}", a.json);
    }
    let metrics = common::metrics_text(&c, &d).await;
    for reading in V2Reading::ALL {
        assert!(
            metrics.contains(&format!(
                "licd_v2_signature_readings_total{{reading=\"{reading}\"}} 1"
            )),
            "{metrics}"
        );
        d.wait_log(&format!("reading=\"{reading}\""));
    }
    // The re-split replay: nonce `…0` + T sent again as nonce `…` + `0T`.
    let b = body(9);
    let ts = now_ms();
    let q = sign_v2_query_as(V2Reading::License2, &key, &b, "abc0", ts);
    assert_eq!(common::v2_query(&c, &d, &b, &q).await.code(), "000000");
    let sig = q.split('&').next().unwrap();
    let re_split = format!("{sig}&timestamp=0{ts}&nonce=abc");
    assert_ne!(
        common::v2_query(&c, &d, &b, &re_split).await.code(),
        "000000"
    );
    let replay = common::v2_query(&c, &d, &b, &q).await;
    assert_eq!(replay.code(), "000001", "{:?}", replay.json);
    drop(d);

    // Pinned: the others are refused as bad signatures.
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &["--v2-signature", "saas"]);
    for (i, reading) in V2Reading::ALL.into_iter().enumerate() {
        let b = body(10 + i);
        let q = sign_v2_query_as(reading, &key, &b, &random_nonce(), now_ms());
        let want = if reading == V2Reading::Saas {
            "000000"
        } else {
            "000001"
        };
        assert_eq!(
            common::v2_query(&c, &d, &b, &q).await.code(),
            want,
            "{reading}"
        );
    }
    let refused = common::serve_refused(dir.path(), &["--v2-signature", "hmac"]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("expected license2, saas, kit or any"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
