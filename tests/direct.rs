//! Licenses the ISV issues itself (issue 38): `licctl licenses create` and `extend` against the
//! real daemon, the token checked by client-verifier, activated and refreshed like a
//! marketplace license; and what must be refused: extending what the marketplace sold, a
//! marketplace callback touching a direct license, a product the catalog does not list.

mod common;

use client_verifier::{DAY, Fingerprint, Timestamp};
use common::{Daemon, admin, client, events_page, get_license, license_json, v1};
use reqwest::Method;
use serde_json::{Value, json};

const MACHINE: &str = "04:7C:16:5E:E3:5D|SN-DIRECT|BOARD-DIRECT|BFEBFBFF00090672";
const PRODUCT: &str = "OFFI454488918838374";

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn post(d: &Daemon, path: &str, body: Value) -> (u16, Value) {
    let r = client().post(d.url(path)).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_trial_is_issued_verified_activated_and_converted_keeping_its_seat() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let issued_at = Timestamp::now();
    let o = d.licctl(&[
        "licenses",
        "create",
        "--product",
        PRODUCT,
        "--customer",
        "prospect-7",
        "--customer-name",
        "Prospect GmbH",
        "--days",
        "14",
        "--seats",
        "2",
        "--trial",
        "--note",
        "demo on 12 May",
    ]);
    assert!(o.status.success(), "{o:?}");
    let token = stdout(&o);
    assert!(stderr(&o).contains("(trial)"), "{}", stderr(&o));

    // The token verifies like a marketplace license, and says what it is.
    let v = d.verifier();
    let lic = v.verify(&token, None, Timestamp::now()).unwrap();
    let id = lic.claims().jti.clone();
    assert!(id.starts_with("dl-"), "{id}");
    assert_eq!(lic.claims().order, format!("direct-{id}"));
    assert_eq!(lic.origin(), Some("trial"));
    assert!(lic.is_trial() && lic.is_active());
    assert_eq!(lic.claims().quantity, 2);
    let days = (lic.claims().exp.unix() - issued_at.unix()) as f64 / DAY as f64;
    assert!((13.9..14.1).contains(&days), "{days}");

    // A machine activates it; the bound token is a trial too.
    let (s, body) = post(
        &d,
        "/v1/activate",
        json!({"license": token, "fingerprint": MACHINE}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let bound = body["token"].as_str().unwrap().to_string();
    let fp = Fingerprint::parse(MACHINE).unwrap();
    assert!(
        v.verify(&bound, Some(&fp), Timestamp::now())
            .unwrap()
            .is_trial()
    );

    let o = d.licctl(&["licenses", "list"]);
    assert!(stdout(&o).contains("classic (trial)"), "{}", stdout(&o));

    // The deal closes: a year more converts it, keeping its seats and the machine's seat.
    let o = d.licctl(&[
        "licenses", "extend", &id, "--days", "365", "--reason", "PO 4711",
    ]);
    assert!(o.status.success(), "{o:?}");
    let paid = v.verify(&stdout(&o), None, Timestamp::now()).unwrap();
    assert_eq!(paid.origin(), Some("direct"));
    assert!(!paid.is_trial());
    let days = (paid.claims().exp.unix() - issued_at.unix()) as f64 / DAY as f64;
    assert!(
        (378.9..379.1).contains(&days),
        "days count from the trial's end: {days}"
    );
    let (s, body) = post(&d, "/v1/refresh", json!({"token": bound})).await;
    assert_eq!(s, 200, "{body}");
    let refreshed = v
        .verify(body["token"].as_str().unwrap(), Some(&fp), Timestamp::now())
        .unwrap();
    assert_eq!(
        refreshed.origin(),
        Some("direct"),
        "the machine's token converts on refresh"
    );
    assert_eq!(refreshed.claims().exp, paid.claims().exp);
    let shown = license_json(&client(), &d, &id).await;
    assert_eq!(shown["origin"], "direct", "{shown}");
    assert_eq!(shown["quantity"], 2, "{shown}");
    assert_eq!(shown["customer_name"], "Prospect GmbH");

    // It lives beside marketplace licenses: listed, exported, and in the event feed.
    let o = d.licctl(&["licenses", "list", "--csv"]);
    assert!(
        stdout(&o).contains(&format!("{id},classic,direct,active")),
        "{}",
        stdout(&o)
    );
    let feed = events_page(&client(), &d, "after=0&limit=100").await;
    let mine: Vec<(&str, &str)> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["license"] == id.as_str())
        .map(|e| (e["type"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        mine,
        [
            ("license.issued", "createDirect"),
            ("seat.activated", "activate"),
            ("license.renewed", "extend"),
        ],
    );
    let renewed = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "extend")
        .unwrap();
    assert_eq!(renewed["data"]["was"], "trial", "{renewed}");
    assert_eq!(renewed["data"]["reason"], "PO 4711", "{renewed}");
}

#[tokio::test]
async fn extend_is_refused_for_what_the_marketplace_sold_and_callbacks_cannot_touch_a_direct_license()
 {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let a = v1(&c, &d, &get_license("CS-DIRECT-1", "CS-DIRECT-1")).await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);

    // The marketplace's license: its validity is the marketplace's.
    let o = d.licctl(&["licenses", "extend", "CS-DIRECT-1", "--days", "365"]);
    assert!(!o.status.success(), "{o:?}");
    assert!(stderr(&o).contains("marketplace"), "{}", stderr(&o));
    let (s, body) = admin(
        &c,
        &d,
        Method::POST,
        "/licenses/CS-DIRECT-1/extend",
        Some(&json!({"days": 365})),
    )
    .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (409, Some("marketplace_license")),
        "{body}"
    );
    assert_eq!(license_json(&c, &d, "CS-DIRECT-1").await["revision"], 1);

    // A license the ISV issued: the marketplace knows no such instance, so its callbacks
    // (a replayed signed request with the id swapped, a mistake) change nothing.
    let (s, body) = admin(
        &c,
        &d,
        Method::POST,
        "/licenses",
        Some(&json!({"product": PRODUCT, "customer": "c-9", "days": 30})),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let id = body["license"]["id"].as_str().unwrap().to_string();
    assert_eq!(body["license"]["origin"], "direct");
    for activity in [
        vec![
            ("activity", "refreshLicense"),
            ("instanceId", id.as_str()),
            ("orderId", "CS-R-1"),
            ("expireTime", "20991231000000"),
        ],
        vec![("activity", "expireLicense"), ("instanceId", id.as_str())],
        vec![("activity", "releaseLicense"), ("instanceId", id.as_str())],
    ] {
        let a = v1(&c, &d, &activity).await;
        assert_eq!(a.code(), "000003", "{activity:?}: {:?}", a.json);
        assert!(a.msg().contains("not found"), "{:?}", a.json);
    }
    let l = license_json(&c, &d, &id).await;
    assert_eq!(
        (l["status"].as_str(), l["revision"].as_u64()),
        (Some("active"), Some(1)),
        "{l}"
    );
}

#[tokio::test]
async fn create_refuses_what_would_issue_the_wrong_license() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("products.toml");
    std::fs::write(
        &catalog,
        format!("[[product]]\nid = \"{PRODUCT}\"\nname = \"CAD Pro\"\nseats = 3\n[product.entitlements]\nexport_dxf = true\n"),
    )
    .unwrap();
    let d = Daemon::start(dir.path(), &["--products", catalog.to_str().unwrap()]);
    let c = client();
    let create = |body: Value| {
        let c = c.clone();
        let d = &d;
        async move { admin(&c, d, Method::POST, "/licenses", Some(&body)).await }
    };
    // The catalog's terms apply: its seats and entitlements, its edition.
    let (s, body) = create(json!({"product": PRODUCT, "customer": "c-1", "days": 30})).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["license"]["quantity"], 3, "{body}");
    let lic = d
        .verifier()
        .verify(body["token"].as_str().unwrap(), None, Timestamp::now())
        .unwrap();
    assert!(lic.feature("export_dxf"));
    assert_eq!(lic.edition(), Some("CAD Pro"));

    let far = Timestamp::now().add_secs(400 * DAY).to_rfc3339();
    let past = Timestamp::now().add_secs(-DAY).to_rfc3339();
    for (body, why) in [
        (
            json!({"product": "OFFI-TYPO", "customer": "c-1", "days": 30}),
            "not in the catalog",
        ),
        (
            json!({"product": PRODUCT, "customer": "c-1"}),
            "days or expires",
        ),
        (
            json!({"product": PRODUCT, "customer": "c-1", "days": 30, "expires": far}),
            "days or expires",
        ),
        (
            json!({"product": PRODUCT, "customer": "c-1", "expires": past}),
            "after now",
        ),
        (
            json!({"product": PRODUCT, "customer": "c-1", "days": 0}),
            "days",
        ),
        (
            json!({"product": PRODUCT, "customer": "c-1", "days": 30, "seats": 0}),
            "seats",
        ),
        (
            json!({"product": PRODUCT, "customer": "", "days": 30}),
            "customer",
        ),
        (
            json!({"product": PRODUCT, "customer": "c-1\nforged log line", "days": 30}),
            "customer",
        ),
        (
            json!({"product": PRODUCT, "customer": "c-1", "days": 30, "order": "CS-STOLEN"}),
            "order",
        ),
    ] {
        let (s, answer) = create(body.clone()).await;
        assert_eq!(s, 400, "{body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(why),
            "{body}: {answer}"
        );
    }
    // Without an admin token nothing is issued.
    let r = c
        .post(format!("{}/admin/v1/licenses", d.admin_url()))
        .json(&json!({"product": PRODUCT, "customer": "c-1", "days": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // licctl: --days or --expires is required, and a date means through that day.
    let o = d.licctl(&[
        "licenses",
        "create",
        "--product",
        PRODUCT,
        "--customer",
        "c-2",
    ]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let o = d.licctl(&[
        "--json",
        "licenses",
        "create",
        "--product",
        PRODUCT,
        "--customer",
        "c-2",
        "--expires",
        "2099-06-30",
    ]);
    assert!(o.status.success(), "{o:?}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["license"]["exp"], "2099-07-01T00:00:00Z", "{v}");
}
