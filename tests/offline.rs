//! Air-gapped activation through the real service and store: requests made by the library on
//! the machine, answered with tokens the verifier accepts on that machine only; receipts that
//! free a seat once; transfers counted against the catalog; and the attacks a customer who wants
//! a second free seat would try.

mod common;

use std::path::Path;

use client_verifier::offline::state::OfflineState;
use client_verifier::offline::{DeviceKey, MAX_REQUEST_LEN, Receipt, Request};
use client_verifier::{Binding, Fingerprint, Timestamp, Verifier, VerifyError};
use licd::catalog::Catalog;
use licd::service::{Caller, Service, ServiceError};

const A: &str = "04:7C:16:5E:E3:5D|SN-A|BOARD-A|BFEBFBFF00090672";
const B: &str = "0B:11:22:33:44:55|SN-B|BOARD-B|BFEBFBFF000A0671";
const C: &str = "0C:11:22:33:44:66|SN-C|BOARD-C|BFEBFBFF000A0671";
const D: &str = "0D:11:22:33:44:77|SN-D|BOARD-D|BFEBFBFF000A0671";

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn fp(raw: &str) -> Fingerprint {
    Fingerprint::parse(raw).unwrap()
}

struct Setup {
    dir: tempfile::TempDir,
    service: Service,
    verifier: Verifier,
}

async fn setup(catalog: Option<&str>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (service, verifier) = common::acme_service(dir.path()).await;
    if let Some(text) = catalog {
        service.replace_catalog(Catalog::parse(text, Path::new("products.toml")).unwrap());
    }
    Setup {
        dir,
        service,
        verifier,
    }
}

impl Setup {
    /// A machine's offline state directory.
    fn machine(&self, name: &str) -> OfflineState {
        OfflineState::open(self.dir.path().join(name)).unwrap()
    }
}

fn caller(action: &str) -> Caller<'_> {
    Caller {
        action,
        test: false,
        signed_at: None,
    }
}

async fn purchase(s: &Setup, id: &str, quantity: u32) -> String {
    common::acme_purchase(&s.service, &format!("O-{id}"), id, quantity).await
}

const NOW: &str = "2026-02-01T00:00:00Z";

#[tokio::test]
async fn a_request_from_the_machine_gives_a_token_that_verifies_there_and_nowhere_else() {
    let s = setup(None).await;
    let unbound = purchase(&s, "lic-1", 1).await;
    let now = t(NOW);
    let a = s.machine("a");
    let request = a.request(&unbound, &fp(A)).unwrap();
    assert!(request.starts_with("lor1.") && request.len() <= MAX_REQUEST_LEN);
    // Raw serials never leave the machine, and the token is not in the request.
    for secret in ["SN-A", "BOARD-A", "04:7C:16:5E:E3:5D"] {
        assert!(!request.contains(secret));
    }
    assert!(!request.contains(&unbound[10..60]));

    let seat = s
        .service
        .offline_activate(
            &request,
            &licd::accounts::Principal::customer("client"),
            now,
        )
        .await
        .unwrap();
    assert!(seat.new && !seat.transfer);
    assert_eq!((seat.license.as_str(), seat.seat), ("lic-1", 0));
    let v = s.verifier.verify(&seat.token, Some(&fp(A)), now).unwrap();
    assert!(v.is_active());
    assert!(matches!(
        s.verifier.verify(&seat.token, Some(&fp(B)), now),
        Err(VerifyError::DeviceMismatch { .. })
    ));

    // The same request again: the same seat and an equivalent token, nothing more taken.
    let again = s
        .service
        .offline_activate(
            &request,
            &licd::accounts::Principal::customer("client"),
            now,
        )
        .await
        .unwrap();
    assert!(!again.new);
    assert_eq!(again.seat, seat.seat);
    let v2 = s.verifier.verify(&again.token, Some(&fp(A)), now).unwrap();
    assert_eq!(v2.claims().binding, v.claims().binding);
    assert_eq!(v2.claims().exp, v.claims().exp);
    // Asking again from the same machine makes the same request.
    assert_eq!(a.request(&unbound, &fp(A)).unwrap(), request);

    // Another machine finds the only seat taken.
    let b = s.machine("b").request(&unbound, &fp(B)).unwrap();
    assert!(matches!(
        s.service
            .offline_activate(&b, &licd::accounts::Principal::customer("client"), now)
            .await,
        Err(ServiceError::SeatsTaken { .. })
    ));
}

#[tokio::test]
async fn after_a_renewal_a_new_request_gets_the_new_validity_on_the_same_seat() {
    let s = setup(None).await;
    let unbound = purchase(&s, "lic-1", 1).await;
    let a = s.machine("a");
    let first = s
        .service
        .offline_activate(
            &a.request(&unbound, &fp(A)).unwrap(),
            &licd::accounts::Principal::customer("client"),
            t(NOW),
        )
        .await
        .unwrap();
    s.service
        .renew(
            "lic-1",
            "R1",
            t("2028-01-01T00:00:00Z"),
            None,
            caller("refreshLicense"),
            t(NOW),
        )
        .await
        .unwrap();
    let later = t("2026-06-01T00:00:00Z");
    let renewed = s
        .service
        .offline_activate(
            &a.request(&unbound, &fp(A)).unwrap(),
            &licd::accounts::Principal::customer("client"),
            later,
        )
        .await
        .unwrap();
    assert_eq!(renewed.seat, first.seat);
    assert!(!renewed.new && !renewed.transfer);
    let v = s
        .verifier
        .verify(&renewed.token, Some(&fp(A)), later)
        .unwrap();
    assert_eq!(v.claims().exp, t("2028-01-01T00:00:00Z"));
    assert_eq!(v.claims().revision, 2);
}

#[tokio::test]
async fn a_check_in_policy_reaches_offline_tokens_and_a_new_request_checks_in() {
    let s = setup(Some("[[product]]\nid = \"P1\"\ncheck_in_days = 30\n")).await;
    let unbound = purchase(&s, "lic-1", 1).await;
    let a = s.machine("a");
    let first = s
        .service
        .offline_activate(
            &a.request(&unbound, &fp(A)).unwrap(),
            &licd::accounts::Principal::customer("client"),
            t(NOW),
        )
        .await
        .unwrap();
    let claims = s
        .verifier
        .verify(&first.token, Some(&fp(A)), t(NOW))
        .unwrap()
        .claims()
        .clone();
    assert_eq!(claims.check_in_by, Some(t("2026-03-03T00:00:00Z")));
    let later = t("2026-03-01T00:00:00Z");
    let checked_in = s
        .service
        .offline_activate(
            &a.request(&unbound, &fp(A)).unwrap(),
            &licd::accounts::Principal::customer("client"),
            later,
        )
        .await
        .unwrap();
    let claims = s
        .verifier
        .verify(&checked_in.token, Some(&fp(A)), later)
        .unwrap()
        .claims()
        .clone();
    assert_eq!(claims.check_in_by, Some(t("2026-03-31T00:00:00Z")));
}

#[tokio::test]
async fn seats_move_by_receipt_and_transfers_stop_at_the_catalogs_limit() {
    let s = setup(Some("[[product]]\nid = \"P1\"\ntransfers_per_year = 2\n")).await;
    let unbound = purchase(&s, "lic-1", 1).await;
    let now = t(NOW);
    let mut holder = s.machine("a");
    let mut holder_fp = A;
    for (i, (name, raw)) in [("b", B), ("c", C)].into_iter().enumerate() {
        if i == 0 {
            let r = holder.request(&unbound, &fp(holder_fp)).unwrap();
            s.service
                .offline_activate(&r, &licd::accounts::Principal::customer("client"), now)
                .await
                .unwrap();
        }
        // The holder gives its seat back; its token goes on the revocation list.
        let receipt = holder.receipt().unwrap();
        let d = s
            .service
            .offline_deactivate(
                &receipt,
                &licd::accounts::Principal::customer("client"),
                now,
            )
            .await
            .unwrap();
        assert_eq!(d.transfers.used, u32::try_from(i).unwrap());
        let next = s.machine(name);
        let r = next.request(&unbound, &fp(raw)).unwrap();
        let seat = s
            .service
            .offline_activate(&r, &licd::accounts::Principal::customer("client"), now)
            .await
            .unwrap();
        assert!(seat.new && seat.transfer, "move {i}");
        holder = next;
        holder_fp = raw;
    }
    let _ = holder_fp;
    // Two transfers made: giving the seat back again is refused, and the seat stays.
    let receipt = holder.receipt().unwrap();
    match s
        .service
        .offline_deactivate(
            &receipt,
            &licd::accounts::Principal::customer("client"),
            now,
        )
        .await
    {
        Err(ServiceError::TransfersExhausted { used, limit, .. }) => {
            assert_eq!((used, limit), (2, 2));
        }
        other => panic!("expected TransfersExhausted, got {other:?}"),
    }
    let l = s.service.store().activations("lic-1").await.unwrap();
    assert_eq!(l.iter().filter(|a| a.revoked.is_none()).count(), 1);
    assert_eq!(l.iter().filter(|a| a.transfer).count(), 2);
    // A year later the window has moved on.
    let next_year = t("2027-02-02T00:00:00Z");
    s.service
        .offline_deactivate(
            &receipt,
            &licd::accounts::Principal::customer("client"),
            next_year,
        )
        .await
        .unwrap();
    let r = s.machine("d").request(&unbound, &fp(D)).unwrap();
    assert!(
        s.service
            .offline_activate(
                &r,
                &licd::accounts::Principal::customer("client"),
                next_year
            )
            .await
            .unwrap()
            .transfer
    );
}

#[tokio::test]
async fn a_deactivated_machines_token_is_revoked_and_its_old_request_cannot_come_back() {
    let s = setup(None).await;
    let unbound = purchase(&s, "lic-1", 1).await;
    let now = t(NOW);
    let a = s.machine("a");
    let request = a.request(&unbound, &fp(A)).unwrap();
    let seat = s
        .service
        .offline_activate(
            &request,
            &licd::accounts::Principal::customer("client"),
            now,
        )
        .await
        .unwrap();
    let receipt = a.receipt().unwrap();
    s.service
        .offline_deactivate(
            &receipt,
            &licd::accounts::Principal::customer("client"),
            now,
        )
        .await
        .unwrap();

    // Online verifiers see the old token revoked.
    let (_, list) = s.service.revocation_list(now).await.unwrap();
    let mut v = s.verifier.clone();
    v.load_revocations(&list).unwrap();
    assert!(matches!(
        v.verify(&seat.token, Some(&fp(A)), now),
        Err(VerifyError::Revoked { .. })
    ));
    // The receipt frees the seat once.
    assert!(matches!(
        s.service
            .offline_deactivate(
                &receipt,
                &licd::accounts::Principal::customer("client"),
                now
            )
            .await,
        Err(ServiceError::AlreadyDeactivated { .. })
    ));
    // The request kept from before the deactivation does not take the seat back (its salt
    // is on the revocation list): the machine makes a new one.
    assert!(matches!(
        s.service.offline_activate(&request, &licd::accounts::Principal::customer("client"), now).await,
        Err(ServiceError::Invalid(m)) if m.contains("given back")
    ));
    let fresh = a.request(&unbound, &fp(A)).unwrap();
    assert_ne!(fresh, request);
    let back = s
        .service
        .offline_activate(&fresh, &licd::accounts::Principal::customer("client"), now)
        .await
        .unwrap();
    assert!(back.new && back.transfer);
}

#[tokio::test]
async fn forged_and_cross_device_receipts_free_nothing() {
    let s = setup(None).await;
    let unbound = purchase(&s, "lic-1", 2).await;
    let now = t(NOW);
    let (a, b) = (s.machine("a"), s.machine("b"));
    for (m, raw) in [(&a, A), (&b, B)] {
        let r = m.request(&unbound, &fp(raw)).unwrap();
        s.service
            .offline_activate(&r, &licd::accounts::Principal::customer("client"), now)
            .await
            .unwrap();
    }
    let seats = s.service.store().activations("lic-1").await.unwrap();
    let a_salt = *Binding::decode(&seats[0].binding).unwrap().salt();
    // B signs a receipt naming A's seat: the key is not the one A's seat was taken with.
    let cross = Receipt::create("lic-1", a_salt, &b.device_key().unwrap()).unwrap();
    // A stranger's key, and a receipt for a license the stranger never held.
    let stranger = DeviceKey::from_seed(&[42; 32]);
    let forged = Receipt::create("lic-1", a_salt, &stranger).unwrap();
    let other_license = Receipt::create("lic-2", a_salt, &a.device_key().unwrap()).unwrap();
    // A's real receipt with its signature bent.
    let mut bent = a.receipt().unwrap().into_bytes();
    let last = bent.len() - 2;
    bent[last] = if bent[last] == b'A' { b'B' } else { b'A' };
    let bent = String::from_utf8(bent).unwrap();
    for r in [&cross, &forged, &other_license, &bent] {
        assert!(
            matches!(
                s.service
                    .offline_deactivate(r, &licd::accounts::Principal::customer("client"), now)
                    .await,
                Err(ServiceError::Invalid(_))
            ),
            "{r}"
        );
    }
    let live = s.service.store().activations("lic-1").await.unwrap();
    assert!(live.iter().all(|a| a.revoked.is_none()));
}

#[tokio::test]
async fn requests_that_do_not_prove_a_license_take_nothing() {
    let s = setup(None).await;
    let unbound = purchase(&s, "lic-1", 3).await;
    let other_unbound = purchase(&s, "lic-2", 1).await;
    let now = t(NOW);
    let key = DeviceKey::from_seed(&[5; 32]);
    let binding = Binding::new(&fp(A), [1; 8]);
    // Knowing the license id is not enough: the proof is keyed by the token.
    let guessed = Request::create("lic-1", "v4.public.guess", binding.clone(), &key).unwrap();
    // Another license's token does not prove this one.
    let crossed = Request::create("lic-1", &other_unbound, binding.clone(), &key).unwrap();
    // A token from another issuer with the same id.
    let unknown = Request::create("lic-9", &unbound, binding.clone(), &key).unwrap();
    for r in [&guessed, &crossed, &unknown] {
        match s
            .service
            .offline_activate(r, &licd::accounts::Principal::customer("client"), now)
            .await
        {
            Err(ServiceError::Invalid(m)) => assert!(m.contains("not made with a license"), "{m}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    // A request whose binding was swapped after signing.
    let good = Request::create("lic-1", &unbound, binding, &key).unwrap();
    let swapped = good.replacen('A', "B", 1);
    assert!(
        s.service
            .offline_activate(
                &swapped,
                &licd::accounts::Principal::customer("client"),
                now
            )
            .await
            .is_err()
    );
    // A binding without a disk or board serial, or with too few components.
    for weak in ["04:7C:16:5E:E3:5D|||BFEBFBFF00090672", "|SN-A||"] {
        let r = Request::create("lic-1", &unbound, Binding::new(&fp(weak), [2; 8]), &key).unwrap();
        assert!(matches!(
            s.service
                .offline_activate(&r, &licd::accounts::Principal::customer("client"), now)
                .await,
            Err(ServiceError::Invalid(_))
        ));
    }
    assert!(
        s.service
            .store()
            .activations("lic-1")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_revoked_or_reissued_license_takes_no_offline_seat() {
    let s = setup(None).await;
    let unbound = purchase(&s, "lic-1", 2).await;
    let now = t(NOW);
    // Reissued: the old unbound token is superseded, the new one works.
    let reissued = s
        .service
        .reissue(
            "lic-1",
            None,
            &licd::accounts::Principal::admin_token("admin"),
            "new machine",
            now,
        )
        .await
        .unwrap()
        .token;
    let old = s.machine("a").request(&unbound, &fp(A)).unwrap();
    assert!(matches!(
        s.service
            .offline_activate(&old, &licd::accounts::Principal::customer("client"), now)
            .await,
        Err(ServiceError::Superseded { .. })
    ));
    let new = s.machine("b").request(&reissued, &fp(B)).unwrap();
    s.service
        .offline_activate(&new, &licd::accounts::Principal::customer("client"), now)
        .await
        .unwrap();
    // Revoked: nothing more.
    s.service
        .revoke(
            "lic-1",
            &licd::accounts::Principal::admin_token("admin"),
            "refund",
            now,
        )
        .await
        .unwrap();
    let c = s.machine("c").request(&reissued, &fp(C)).unwrap();
    assert!(matches!(
        s.service
            .offline_activate(&c, &licd::accounts::Principal::customer("client"), now)
            .await,
        Err(ServiceError::Revoked(_))
    ));
}

#[test]
fn the_longest_request_fits_one_qr_code() {
    // Four values per component (the most a binding keeps), the longest id a request carries.
    let many = (0..4)
        .map(|i| format!("VALUE-{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let fingerprint = fp(&format!("{many}|{many}|{many}|{many}"));
    let id = "L".repeat(client_verifier::offline::MAX_LICENSE_ID_LEN);
    let text = Request::create(
        &id,
        "v4.public.token",
        Binding::new(&fingerprint, [0xff; 8]),
        &DeviceKey::from_seed(&[1; 32]),
    )
    .unwrap();
    // QR version 40 at error correction M holds 2,331 alphanumeric-mode or 1,273 byte-mode
    // characters; 700 is the contract, with room to spare for a lower version.
    assert!(text.len() <= MAX_REQUEST_LEN, "{} characters", text.len());
    println!("longest request: {} characters", text.len());
}

// ---- the daemon: JSON routes, the self-service page, licctl ----

fn licctl(d: &common::Daemon, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_licctl"))
        .env_remove("LICD_ADMIN_URL")
        .env_remove("LICD_ADMIN_TOKEN")
        .env("USER", "support-sam")
        .arg("--admin-url")
        .arg(d.admin_url())
        .arg("--admin-token-file")
        .arg(d.dir.join("data/admin.token"))
        .args(args)
        .output()
        .unwrap()
}

/// licctl's stdout, trimmed, after checking it succeeded.
fn ok_stdout(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "licctl failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// What `licctl offline request` prints for the unbound `license` on the machine `raw`.
fn request_via_licctl(d: &common::Daemon, license: &str, raw: &str, state: &Path) -> String {
    ok_stdout(&licctl(
        d,
        &[
            "offline",
            "request",
            "--license",
            license,
            "--fingerprint",
            raw,
            "--state",
            state.to_str().unwrap(),
        ],
    ))
}

async fn post_page(
    c: &reqwest::Client,
    d: &common::Daemon,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    c.post(d.url("/activate"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn requests_become_licenses_by_api_page_and_licctl_and_receipts_free_seats() {
    let dir = tempfile::tempdir().unwrap();
    let d = common::Daemon::start(dir.path(), &[]);
    let c = common::client();
    let bought = common::v1(&c, &d, &common::get_license("OFF-1", "biz-off-1")).await;
    assert_eq!(bought.code(), "000000", "{:?}", bought.json);
    let license = bought.json["license"].as_str().unwrap().to_string();
    let id = bought.json["instanceId"].as_str().unwrap().to_string();
    let verifier = d.verifier();
    let now = Timestamp::now();
    let state_a = dir.path().join("machine-a");

    // 1. The JSON route, with a request licctl made as the application would.
    let request = request_via_licctl(&d, &license, A, &state_a);
    let r = c
        .post(d.url("/v1/offline/activate"))
        .json(&serde_json::json!({ "request": request }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (v["activated"].as_bool(), v["seat"].as_u64()),
        (Some(true), Some(0))
    );
    let token = v["token"].as_str().unwrap();
    verifier.verify(token, Some(&fp(A)), now).unwrap();
    assert!(matches!(
        verifier.verify(token, Some(&fp(B)), now),
        Err(VerifyError::DeviceMismatch { .. })
    ));

    // 2. The page: paste, then download the license file.
    let page = post_page(&c, &d, &[("request", &request)]).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("already holds seat 0"), "{html}");
    let file = post_page(&c, &d, &[("request", &request), ("download", "1")]).await;
    assert_eq!(file.status(), 200);
    let disposition = file.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        disposition,
        "attachment; filename=\"license-biz-off-1.lic\""
    );
    let downloaded = file.text().await.unwrap();
    verifier
        .verify(downloaded.trim(), Some(&fp(A)), now)
        .unwrap();

    // 3. licctl for support staff: the same seat.
    let out = licctl(&d, &["offline", "activate", &request]);
    let support_token = ok_stdout(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already held"));
    verifier.verify(&support_token, Some(&fp(A)), now).unwrap();

    // The machine gives the seat back through licctl; the same receipt again is refused.
    let receipt = ok_stdout(&licctl(
        &d,
        &["offline", "receipt", "--state", state_a.to_str().unwrap()],
    ));
    assert!(receipt.starts_with("ldr1."));
    let said = ok_stdout(&licctl(&d, &["offline", "deactivate", &receipt]));
    assert!(said.contains("seat 0 given back"), "{said}");
    let again = c
        .post(d.url("/v1/offline/deactivate"))
        .json(&serde_json::json!({ "receipt": receipt }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["error"], "already_deactivated");

    // Machine B takes the seat through the page: a transfer.
    let request_b = request_via_licctl(&d, &license, B, &dir.path().join("machine-b"));
    let page = post_page(&c, &d, &[("request", &request_b)]).await;
    let html = page.text().await.unwrap();
    assert!(
        html.contains("now holds seat 1") && html.contains("transfer"),
        "{html}"
    );

    // Machine B gives its seat back through the page.
    let receipt_b = ok_stdout(&licctl(
        &d,
        &[
            "offline",
            "receipt",
            "--state",
            dir.path().join("machine-b").to_str().unwrap(),
        ],
    ));
    let page = post_page(&c, &d, &[("receipt", &receipt_b)]).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Seat 1 of license biz-off-1 is free"),
        "{html}"
    );
    assert!(
        html.contains("Device transfers in the last 365 days: 1 of 3"),
        "{html}"
    );
    let page = post_page(&c, &d, &[("receipt", &receipt_b)]).await;
    assert_eq!(page.status(), 409);

    // Support sees the count and the history; the audit log has who did what.
    let shown = ok_stdout(&licctl(&d, &["licenses", "show", &id]));
    assert!(shown.contains("1 of 3 in the last 365 days"), "{shown}");
    assert!(shown.contains("GIVEN BACK"), "{shown}");
    let events = common::audit_events(&c, &d, &id).await;
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(actions.contains(&("activate", "client")), "{actions:?}");
    assert!(
        actions
            .iter()
            .any(|(a, who)| *a == "deactivate" && who.contains("support-sam")),
        "{actions:?}"
    );
}

#[tokio::test]
async fn the_page_escapes_what_it_echoes_and_cannot_be_framed() {
    let dir = tempfile::tempdir().unwrap();
    let d = common::Daemon::start(dir.path(), &[]);
    let c = common::client();
    let page = c.get(d.url("/activate")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script"), "the page needs no JavaScript");
    assert!(html.contains("<label for=\"request\">"));

    let hostile = "lor1.<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
    let r = post_page(&c, &d, &[("request", hostile)]).await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("<img"),
        "{html}"
    );
    assert!(html.contains("&lt;script&gt;"), "{html}");

    // Too big to be a request: refused before it is read as one.
    let big = "A".repeat(10_000);
    let r = post_page(&c, &d, &[("request", &big)]).await;
    assert_eq!(r.status(), 413);
    // Not multipart: a clear refusal.
    let r = c
        .post(d.url("/activate"))
        .form(&[("request", "lor1.x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
