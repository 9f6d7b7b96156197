//! The product catalog end to end: the real `licd serve` with `--products`, callbacks signed as
//! the marketplace signs them, tokens checked with `client-verifier`.

mod common;

use std::path::Path;
use std::process::Command;

use client_verifier::Timestamp;
use common::{Daemon, client, license_json, metric, v1};
use serde_json::json;

const PRODUCT: &str = "OFFI454488918838374";

const CATALOG: &str = r#"
[default]
name = "Basic"
[default.entitlements]
export_dxf = false

[[product]]
id = "OFFI454488918838374"
name = "CAD Standard"
[product.entitlements]
export_dxf = false
max_layers = 50

[[product]]
id = "OFFI454488918838374"
sku = "sku-pro"
name = "CAD Pro"
seats = 5
freeze_days = 3
[product.entitlements]
export_dxf = true
max_layers = 500
"#;

fn write_catalog(dir: &Path, text: &str) -> String {
    let path = dir.join("products.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn get_license<'a>(order: &'a str, sku: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("activity", "getLicense"),
        ("customerId", "cust-1"),
        ("businessId", order),
        ("orderId", order),
        ("productId", PRODUCT),
        ("skuCode", sku),
        ("expireTime", "20991231000000"),
    ]
}

fn sighup(d: &Daemon) {
    let ok = Command::new("kill")
        .args(["-HUP", &d.pid().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn licctl(d: &Daemon, args: &[&str]) -> std::process::Output {
    d.licctl(args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_skus_mint_different_entitlements_and_unlisted_products_get_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = write_catalog(dir.path(), CATALOG);
    let d = Daemon::start(dir.path(), &["--products", &catalog]);
    let c = client();
    let verifier = d.verifier();

    let pro = v1(&c, &d, &get_license("CS-PRO", "sku-pro")).await;
    assert_eq!(pro.code(), "000000", "{:?}", pro.json);
    let std = v1(&c, &d, &get_license("CS-STD", "sku-std")).await;
    assert_eq!(std.code(), "000000", "{:?}", std.json);
    let now = Timestamp::now();
    let pro_token = verifier
        .verify(pro.json["license"].as_str().unwrap(), None, now)
        .unwrap();
    let std_token = verifier
        .verify(std.json["license"].as_str().unwrap(), None, now)
        .unwrap();
    let e = &pro_token.claims().entitlements;
    assert_eq!(
        (e["export_dxf"].clone(), e["max_layers"].clone()),
        (json!(true), json!(500))
    );
    let e = &std_token.claims().entitlements;
    assert_eq!(
        (e["export_dxf"].clone(), e["max_layers"].clone()),
        (json!(false), json!(50))
    );
    // No `amount`: the catalog's seats. The SKU's freeze window, not the daemon's 15 days.
    assert_eq!(pro_token.claims().quantity, 5);
    assert_eq!(std_token.claims().quantity, 1);
    assert_eq!(
        pro_token.claims().freeze_until.to_rfc3339(),
        "2100-01-03T00:00:00Z"
    );
    assert_eq!(
        std_token.claims().freeze_until.to_rfc3339(),
        "2100-01-15T00:00:00Z"
    );
    assert_eq!(license_json(&c, &d, "CS-PRO").await["edition"], "CAD Pro");

    // A product the catalog does not list: the default, a warning, the metric.
    let mut other = get_license("CS-OTHER", "");
    other[4] = ("productId", "OFFI-NOT-LISTED");
    let a = v1(&c, &d, &other).await;
    assert_eq!(a.code(), "000000", "never refused: {:?}", a.json);
    let t = verifier
        .verify(a.json["license"].as_str().unwrap(), None, Timestamp::now())
        .unwrap();
    assert_eq!(t.claims().entitlements["export_dxf"], json!(false));
    d.wait_log("the catalog does not list");
    assert_eq!(
        metric(
            &c,
            &d,
            "licd_catalog_unlisted_purchases{product=\"OFFI-NOT-LISTED\"}"
        )
        .await,
        1.0
    );

    let o = licctl(&d, &["products", "show", PRODUCT, "--sku", "sku-pro"]);
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("CAD Pro") && text.contains("max_layers"),
        "{text}"
    );
    let o = licctl(&d, &["products", "list"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("unlisted product OFFI-NOT-LISTED"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_change_reaches_licenses_as_a_new_revision_and_a_broken_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = write_catalog(dir.path(), CATALOG);
    let d = Daemon::start(dir.path(), &["--products", &catalog]);
    let c = client();
    let verifier = d.verifier();
    let first = v1(&c, &d, &get_license("CS-1", "sku-pro")).await;
    let issued = first.json["license"].as_str().unwrap().to_string();

    // A broken catalog on SIGHUP: refused, the one in use stays.
    write_catalog(
        dir.path(),
        &CATALOG.replace("max_layers = 500", "max_layers = 5.5"),
    );
    sighup(&d);
    d.wait_log("the new catalog is not valid");
    let o = licctl(&d, &["products", "reload"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("products.toml") && err.contains("line"),
        "{err}"
    );
    let again = v1(&c, &d, &get_license("CS-2", "sku-pro")).await;
    let t = verifier
        .verify(
            again.json["license"].as_str().unwrap(),
            None,
            Timestamp::now(),
        )
        .unwrap();
    assert_eq!(t.claims().entitlements["max_layers"], json!(500));

    // A good one: the issued token is never rewritten (a repeat gets the same bytes), the
    // renewal carries the new entitlements, and so does a refresh of another license.
    write_catalog(
        dir.path(),
        &CATALOG.replace("max_layers = 500", "max_layers = 900"),
    );
    sighup(&d);
    d.wait_log("catalog reloaded");
    let repeat = v1(&c, &d, &get_license("CS-1", "sku-pro")).await;
    assert_eq!(repeat.json["license"], issued.as_str());
    let renew = [
        ("activity", "refreshLicense"),
        ("instanceId", "CS-1"),
        ("orderId", "CS-1-R"),
        ("expireTime", "21001231000000"),
    ];
    assert_eq!(v1(&c, &d, &renew).await.code(), "000000");
    let r = c
        .post(d.url("/v1/refresh"))
        .json(&json!({"token": issued}))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    let renewed = verifier
        .verify(body["token"].as_str().unwrap(), None, Timestamp::now())
        .unwrap();
    assert_eq!(renewed.claims().entitlements["max_layers"], json!(900));
    assert_eq!(renewed.claims().revision, 2);

    let token_2 = again.json["license"].as_str().unwrap();
    let r = c
        .post(d.url("/v1/refresh"))
        .json(&json!({"token": token_2}))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    let refreshed = verifier
        .verify(body["token"].as_str().unwrap(), None, Timestamp::now())
        .unwrap();
    assert_eq!(refreshed.claims().entitlements["max_layers"], json!(900));
    assert_eq!(refreshed.claims().revision, 2, "a new revision");
}

#[test]
fn an_invalid_catalog_stops_the_start_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = write_catalog(
        dir.path(),
        "[[product]]\nid = \"P\"\nbinding = \"sometimes\"\n",
    );
    let o = common::serve_refused(dir.path(), &["--products", &catalog]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("products.toml") && err.contains("line 3") && err.contains("sometimes"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_and_check_in_follow_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = write_catalog(
        dir.path(),
        r#"
[[product]]
id = "OFFI-BOUND"
binding = "required"
check_in_days = 30

[[product]]
id = "OFFI-FREE"
binding = "none"
"#,
    );
    let d = Daemon::start(dir.path(), &["--products", &catalog]);
    let c = client();
    let machine = "04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.|BOARD-A1|BFEBFBFF00090672";
    let post = |path: &'static str, body: serde_json::Value| {
        let c = c.clone();
        let url = d.url(path);
        async move {
            let r = c.post(url).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let buy = |order: &'static str, product: &'static str| {
        let mut p = get_license(order, "");
        p[4] = ("productId", product);
        p
    };

    // binding = "required": the unbound license refreshes nowhere; activation binds it, and
    // the bound token carries the check-in deadline.
    let a = v1(&c, &d, &buy("CS-B", "OFFI-BOUND")).await;
    let unbound = a.json["license"].as_str().unwrap().to_string();
    let (s, body) = post("/v1/refresh", json!({"token": unbound})).await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("/v1/activate"),
        "{body}"
    );
    let (s, body) = post(
        "/v1/activate",
        json!({"license": unbound, "fingerprint": machine}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let before = Timestamp::now();
    let v = client_verifier::Verifier::builder()
        .issuer("acme-isv")
        .binding(client_verifier::BindingRequirement::Required);
    let v = d
        .public_keys()
        .into_iter()
        .fold(v, |b, k| b.trust(k))
        .build();
    let fp = client_verifier::Fingerprint::parse(machine).unwrap();
    let bound = v
        .verify(body["token"].as_str().unwrap(), Some(&fp), Timestamp::now())
        .unwrap();
    let by = bound.claims().check_in_by.expect("a check-in deadline");
    let days = (by.unix() - before.unix()) as f64 / 86_400.0;
    assert!((29.99..=30.01).contains(&days), "{days}");
    // The deadline passes: "check in", not "expired"; a refresh gives a later deadline.
    let missed = v
        .verify(body["token"].as_str().unwrap(), Some(&fp), by)
        .unwrap();
    assert_eq!(
        missed.status(),
        client_verifier::LicenseStatus::CheckInRequired { since: by }
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (s, body) = post("/v1/refresh", json!({"token": body["token"]})).await;
    assert_eq!(s, 200, "{body}");
    let checked_in = v
        .verify(body["token"].as_str().unwrap(), Some(&fp), by)
        .unwrap();
    assert!(checked_in.is_active(), "{:?}", checked_in.status());
    assert!(checked_in.check_in_by().unwrap() > by);

    // binding = "none": nothing to activate; the license works as it is.
    let a = v1(&c, &d, &buy("CS-F", "OFFI-FREE")).await;
    let free = a.json["license"].as_str().unwrap().to_string();
    let (s, body) = post(
        "/v1/activate",
        json!({"license": free, "fingerprint": machine}),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("not bound"),
        "{body}"
    );
    let (s, body) = post("/v1/refresh", json!({"token": free})).await;
    assert_eq!(s, 200, "{body}");
    let t = v.verify(body["token"].as_str().unwrap(), None, Timestamp::now());
    assert!(
        matches!(t, Err(client_verifier::VerifyError::NotBound)),
        "an application that demands binding still refuses it: {t:?}"
    );
}

/// The interpreter with pyseto (`LICD_PYTHON`, else `python3`); run only when asked for, so a
/// missing pyseto is a failure, never a pass.
fn pyseto() -> String {
    let py = std::env::var("LICD_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import pyseto"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "pyseto is not importable by {py}: pip install pyseto, or set LICD_PYTHON"
    );
    py
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pyseto; CI runs it with --include-ignored"]
async fn two_skus_verified_by_pyseto_carry_their_own_entitlements() {
    let py = pyseto();
    let dir = tempfile::tempdir().unwrap();
    let catalog = write_catalog(dir.path(), CATALOG);
    let d = Daemon::start(dir.path(), &["--products", &catalog]);
    let c = client();
    let key = d.public_keys()[0].to_paserk();
    let peer = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/client-verifier/tests/interop/pyseto_peer.py"
    );
    let mut seen = Vec::new();
    for (order, sku) in [("CS-PY-PRO", "sku-pro"), ("CS-PY-STD", "sku-std")] {
        let a = v1(&c, &d, &get_license(order, sku)).await;
        let token = a.json["license"].as_str().unwrap().to_string();
        let out = Command::new(&py)
            .args([peer, "verify", &key, &token])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let out: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let payload: serde_json::Value =
            serde_json::from_str(out["payload"].as_str().unwrap()).unwrap();
        seen.push((payload["edition"].clone(), payload["entitlements"].clone()));
    }
    assert_eq!(
        seen,
        [
            (
                json!("CAD Pro"),
                json!({"export_dxf": true, "max_layers": 500})
            ),
            (
                json!("CAD Standard"),
                json!({"export_dxf": false, "max_layers": 50})
            ),
        ]
    );
}
