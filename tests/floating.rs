//! Floating licenses end to end: the real `licd serve` with a floating product in its catalog,
//! leases asked for over HTTP and checked with client-verifier as an application would: seats
//! shared by leases and never more leases than seats (50 racing requests for 2 seats, a SIGKILL
//! and restart), a program's own lease back, borrowing, release, force release, and the
//! refusals an attacker meets (another machine, an altered token, a lease shown as a license,
//! a revoked or frozen license).

mod common;

use std::path::Path;

use client_verifier::{Fingerprint, LicenseStatus, Timestamp, VerifyError};
use common::{Daemon, client};
use serde_json::{Value, json};

const PRODUCT: &str = "OFFI-FLOAT-1";
const CATALOG: &str = r#"
[[product]]
id = "OFFI-FLOAT-1"
name = "CAD Floating"
model = "floating"
lease_secs = 60
borrow_max_days = 3
[product.entitlements]
export_dxf = true
"#;

const A: &str = "04:7C:16:5E:E3:5D|SN-A|BOARD-A|BFEBFBFF00090672";
const B: &str = "0B:11:22:33:44:55|SN-B|BOARD-B|BFEBFBFF000A0671";
const C: &str = "0C:11:22:33:44:66|SN-C|BOARD-C|BFEBFBFF000A0672";

fn start(dir: &Path) -> Daemon {
    let path = dir.join("products.toml");
    std::fs::write(&path, CATALOG).unwrap();
    Daemon::start(dir, &["--products", path.to_str().unwrap()])
}

/// A floating license of `seats` seats: its token.
async fn buy(c: &reqwest::Client, d: &Daemon, order: &str, seats: &str) -> String {
    common::buy_floating(c, d, PRODUCT, order, seats).await
}

/// POST `path` with `body`: (status, Retry-After, JSON).
async fn post(
    c: &reqwest::Client,
    d: &Daemon,
    path: &str,
    body: Value,
) -> (u16, Option<String>, Value) {
    let r = c.post(d.url(path)).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry, r.json().await.unwrap_or(Value::Null))
}

async fn lease(
    c: &reqwest::Client,
    d: &Daemon,
    license: &str,
    instance: &str,
    fp: &str,
) -> (u16, Value) {
    let (s, _, v) = post(
        c,
        d,
        "/v1/leases",
        json!({ "license": license, "instance": instance, "fingerprint": fp }),
    )
    .await;
    (s, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seats_are_shared_by_leases_and_never_more_leases_than_seats() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let c = client();
    let verifier = d.verifier();
    let license = buy(&c, &d, "FL-1", "2").await;

    // The license token alone runs nothing: a new verifier says a lease is required.
    let v = verifier.verify(&license, None, Timestamp::now()).unwrap();
    assert!(
        matches!(v.status(), LicenseStatus::LeaseRequired { .. }),
        "{:?}",
        v.status()
    );
    assert!(!v.is_active());

    // Machine A's program gets seat 0; its lease verifies on A, offline, and nowhere else.
    let (s, a) = lease(&c, &d, &license, "cad:101", A).await;
    assert_eq!(s, 200, "{a}");
    let a_token = a["lease"].as_str().unwrap();
    let fa = Fingerprint::parse(A).unwrap();
    let fb = Fingerprint::parse(B).unwrap();
    let at = Timestamp::parse_rfc3339(a["expires_at"].as_str().unwrap()).unwrap();
    let checked_at = at.add_secs(-1);
    let ok = verifier
        .verify_lease(a_token, Some(&fa), checked_at)
        .unwrap();
    assert_eq!(ok.claims().seat, 0);
    assert_eq!(ok.claims().entitlements["export_dxf"], json!(true));
    assert!(matches!(
        verifier.verify_lease(a_token, Some(&fb), checked_at),
        Err(VerifyError::DeviceMismatch { .. })
    ));
    // A lease is not a license, to this verifier or any.
    assert!(verifier.verify(a_token, Some(&fa), checked_at).is_err());
    // It ends with its expiry.
    assert!(matches!(
        verifier.verify_lease(a_token, Some(&fa), at),
        Err(VerifyError::LeaseEnded { .. })
    ));

    // The same program on the same machine gets its own lease back, not a second seat.
    let (s, again) = lease(&c, &d, &license, "cad:101", A).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["lease_id"], a["lease_id"]);
    // The same instance name on another machine is another seat.
    let (s, b) = lease(&c, &d, &license, "cad:101", B).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["seat"], 1);
    assert_ne!(b["lease_id"], a["lease_id"]);

    // Both seats held: a third machine waits, told how many and until when.
    let (s, retry, full) = post(
        &c,
        &d,
        "/v1/leases",
        json!({ "license": license, "instance": "cad:7", "fingerprint": C }),
    )
    .await;
    assert_eq!(s, 409, "{full}");
    assert_eq!(full["error"], "seats_taken");
    assert_eq!(
        (full["seats"].clone(), full["in_use"].clone()),
        (json!(2), json!(2))
    );
    assert!(full["next_free_at"].is_string(), "{full}");
    let wait: u32 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // The ISV sees it: seats in use, and a customer who could use more.
    let sample = |name: &str| format!("licd_{name}{{product=\"{PRODUCT}\"}}");
    assert_eq!(common::metric(&c, &d, &sample("leases_in_use")).await, 2.0);
    assert_eq!(
        common::metric(&c, &d, &sample("lease_refusals_total")).await,
        1.0
    );
    let (s, _, status) = post(&c, &d, "/v1/leases/status", json!({ "license": license })).await;
    assert_eq!(s, 200, "{status}");
    assert_eq!(
        (status["seats"].clone(), status["in_use"].clone()),
        (json!(2), json!(2))
    );

    // A renews (a later or equal expiry), then gives its seat back: C gets it.
    let (s, _, renewed) = post(&c, &d, "/v1/leases/renew", json!({ "lease": a_token })).await;
    assert_eq!(s, 200, "{renewed}");
    assert_eq!(renewed["lease_id"], a["lease_id"]);
    let (s, _, _) = post(&c, &d, "/v1/leases/release", json!({ "lease": a_token })).await;
    assert_eq!(s, 200);
    let (s, _, refused) = post(&c, &d, "/v1/leases/renew", json!({ "lease": a_token })).await;
    assert_eq!(
        (s, refused["error"].as_str()),
        (410, Some("released")),
        "{refused}"
    );
    let (s, cl) = lease(&c, &d, &license, "cad:7", C).await;
    assert_eq!(s, 200, "{cl}");
    assert_eq!(cl["seat"], 0, "the freed seat is reused");

    // The seller takes C's lease back: its renewal is refused at once, but the seat stays
    // taken until the lease expires (the program may run on its token until then).
    let out = d.licctl(&[
        "leases",
        "release",
        cl["lease_id"].as_str().unwrap(),
        "--reason",
        "workstation reimaged",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (s, _, refused) = post(&c, &d, "/v1/leases/renew", json!({ "lease": cl["lease"] })).await;
    assert_eq!(
        (s, refused["error"].as_str()),
        (410, Some("force_released")),
        "{refused}"
    );
    let (s, _) = lease(&c, &d, &license, "cad:9", A).await;
    assert_eq!(
        s, 409,
        "a force-released seat counts until its lease expires"
    );
    let lic_id = a["lease_id"].as_str().unwrap().rsplit_once('~').unwrap().0;
    let out = d.licctl(&["leases", "list", lic_id]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && listing.contains("2 of 2 seat(s) in use"),
        "{listing}"
    );
    assert!(listing.contains("taken back"), "{listing}");
    let events = common::audit_events(&c, &d, lic_id).await;
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    for expected in ["leaseGranted", "leaseReleased", "leaseForceReleased"] {
        assert!(actions.contains(&expected), "{actions:?}");
    }
    // Renewals are not audited: grants, releases and the force release are.
    assert_eq!(
        actions.iter().filter(|a| a.starts_with("lease")).count(),
        5,
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_altered_and_misplaced_credentials_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let c = client();
    let license = buy(&c, &d, "FL-2", "1").await;
    let (s, a) = lease(&c, &d, &license, "cad:1", A).await;
    assert_eq!(s, 200, "{a}");
    let token = a["lease"].as_str().unwrap();

    // One character of the signed payload changed.
    let mut altered = token.to_string().into_bytes();
    let i = "v4.public.".len() + 20;
    altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for path in ["/v1/leases/renew", "/v1/leases/release"] {
        let (s, _, v) = post(&c, &d, path, json!({ "lease": altered })).await;
        assert_eq!(s, 400, "{path}: {v}");
    }
    // A lease is no license: it leases nothing.
    let (s, v) = lease(&c, &d, token, "cad:2", B).await;
    assert_eq!(s, 400, "{v}");
    // A license token is no lease.
    let (s, _, v) = post(&c, &d, "/v1/leases/renew", json!({ "lease": license })).await;
    assert_eq!(s, 400, "{v}");
    // A floating license does not bind a machine for good.
    let (s, _, v) = post(
        &c,
        &d,
        "/v1/activate",
        json!({ "license": license, "fingerprint": A }),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("/v1/leases"), "{v}");
    // Instance names are bounded and printable; borrowing beyond the product's days is refused.
    let (s, v) = lease(&c, &d, &license, &"x".repeat(129), B).await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = lease(&c, &d, &license, "a\nforged log line", B).await;
    assert_eq!(s, 400, "{v}");
    let far = Timestamp::now().add_secs(4 * 86_400);
    let (s, _, v) = post(
        &c,
        &d,
        "/v1/leases",
        json!({ "license": license, "instance": "laptop", "fingerprint": B, "borrow_until": far }),
    )
    .await;
    assert_eq!(s, 400, "{v}");

    // The license revoked: renewals and new leases end.
    let lic_id = a["lease_id"]
        .as_str()
        .unwrap()
        .rsplit_once('~')
        .unwrap()
        .0
        .to_string();
    let out = d.licctl(&["licenses", "revoke", &lic_id, "--reason", "refund"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (s, _, v) = post(&c, &d, "/v1/leases/renew", json!({ "lease": token })).await;
    assert_eq!((s, v["error"].as_str()), (410, Some("revoked")), "{v}");
    let (s, v) = lease(&c, &d, &license, "cad:1", A).await;
    assert_eq!(s, 410, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_racing_requests_for_two_seats_grant_exactly_two() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let c = client();
    let license = buy(&c, &d, "FL-3", "2").await;
    let machines: Vec<String> = (0..50)
        .map(|i| format!("0A:00:00:00:00:{i:02X}|SN-{i}|BOARD-{i}|BFEBFBFF000A{i:04X}"))
        .collect();
    let asks = machines.iter().enumerate().map(|(i, fp)| {
        let (c, d, license) = (&c, &d, &license);
        async move { lease(c, d, license, &format!("job:{i}"), fp).await }
    });
    let answers = futures_util::future::join_all(asks).await;
    let won: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, v)| v)
        .collect();
    let lost = answers.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((won.len(), lost), (2, 48), "{answers:?}");
    let mut seats: Vec<u64> = won.iter().map(|v| v["seat"].as_u64().unwrap()).collect();
    seats.sort_unstable();
    assert_eq!(seats, [0, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_survive_a_sigkill_and_the_seats_stay_counted() {
    let dir = tempfile::tempdir().unwrap();
    let c = client();
    let (license, a, b) = {
        let d = start(dir.path());
        let license = buy(&c, &d, "FL-4", "2").await;
        let (_, a) = lease(&c, &d, &license, "cad:1", A).await;
        let (_, b) = lease(&c, &d, &license, "cad:2", B).await;
        // Acknowledged means on disk: killed with no chance to flush.
        d.kill();
        (license, a, b)
    };
    let d = start(dir.path());
    let (s, v) = lease(&c, &d, &license, "cad:3", C).await;
    assert_eq!(s, 409, "both leases held across the crash: {v}");
    for held in [&a, &b] {
        let (s, _, v) = post(
            &c,
            &d,
            "/v1/leases/renew",
            json!({ "lease": held["lease"] }),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["lease_id"], held["lease_id"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_borrowed_seat_is_held_until_returned() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let c = client();
    let license = buy(&c, &d, "FL-5", "1").await;
    let until = Timestamp::now().add_secs(2 * 86_400);
    let (s, _, borrowed) = post(
        &c,
        &d,
        "/v1/leases",
        json!({ "license": license, "instance": "laptop", "fingerprint": A, "borrow_until": until }),
    )
    .await;
    assert_eq!(s, 200, "{borrowed}");
    assert_eq!(borrowed["borrowed"], true);
    assert_eq!(borrowed["expires_at"], json!(until));
    let token = borrowed["lease"].as_str().unwrap();
    // Offline on the laptop a day later, the borrowed lease still verifies.
    let v = d
        .verifier()
        .verify_lease(
            token,
            Some(&Fingerprint::parse(A).unwrap()),
            until.add_secs(-86_400),
        )
        .unwrap();
    assert!(v.claims().borrowed);
    // Renewing does not stretch a borrow.
    let (s, _, renewed) = post(&c, &d, "/v1/leases/renew", json!({ "lease": token })).await;
    assert_eq!(s, 200, "{renewed}");
    assert_eq!(renewed["expires_at"], json!(until));
    // The seat is taken while borrowed, and free once returned.
    let (s, _) = lease(&c, &d, &license, "cad:1", B).await;
    assert_eq!(s, 409);
    let (s, _, _) = post(&c, &d, "/v1/leases/release", json!({ "lease": token })).await;
    assert_eq!(s, 200);
    let (s, v) = lease(&c, &d, &license, "cad:1", B).await;
    assert_eq!(s, 200, "{v}");
}

/// A TCP relay on a fixed address in front of licd, which a test points at a restarted licd or
/// takes down: an outage as the application's lease client sees it.
struct Relay {
    addr: std::net::SocketAddr,
    target: std::sync::Arc<std::sync::Mutex<Option<std::net::SocketAddr>>>,
}

impl Relay {
    async fn start(to: std::net::SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let target = std::sync::Arc::new(std::sync::Mutex::new(Some(to)));
        let current = target.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let to = *current.lock().unwrap();
                tokio::spawn(async move {
                    // Down: the connection is dropped, as a dead server's would be refused.
                    let Some(to) = to else { return };
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay { addr, target }
    }

    fn point(&self, to: Option<std::net::SocketAddr>) {
        *self.target.lock().unwrap() = to;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_client_renews_through_a_licd_restart_and_gives_the_seat_back() {
    use client_verifier::lease_client::{LeaseClient, LeaseConfig, LeaseError, LeaseState};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("products.toml");
    // The shortest lease the catalog allows: renewed at about 15 s.
    std::fs::write(&path, CATALOG.replace("lease_secs = 60", "lease_secs = 30")).unwrap();
    let catalog = ["--products", path.to_str().unwrap()];
    let d = Daemon::start(dir.path(), &catalog);
    let c = client();
    let license = buy(&c, &d, "FL-6", "1").await;
    let verifier = d.verifier();
    let relay = Relay::start(d.addr).await;
    let server = format!("http://{}", relay.addr);

    let config = LeaseConfig::new(&server, &license, "cad:42", Fingerprint::parse(A).unwrap());
    let (cfg, ver) = (config.clone(), verifier.clone());
    let lease = tokio::task::spawn_blocking(move || LeaseClient::acquire(cfg, ver))
        .await
        .unwrap()
        .unwrap();
    let first = lease.status();
    assert_eq!(first.state, LeaseState::Leased);
    assert!(lease.is_valid());
    assert!(lease.verified().unwrap().claims().entitlements["export_dxf"] == json!(true));
    // Another machine finds the one seat taken, told when it frees.
    let other = LeaseConfig::new(&server, &license, "cad:43", Fingerprint::parse(B).unwrap());
    let ver = verifier.clone();
    let refused = tokio::task::spawn_blocking(move || LeaseClient::acquire(other, ver))
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(LeaseError::SeatsTaken { seats: 1, .. })),
        "{refused:?}"
    );
    // A plain-http server that is not loopback is refused unless the application allows it.
    let lan = LeaseConfig::new(
        "http://10.1.2.3:8080",
        &license,
        "x",
        Fingerprint::parse(A).unwrap(),
    );
    assert!(matches!(
        LeaseClient::acquire(lan, verifier.clone()),
        Err(LeaseError::Config(_))
    ));

    // licd is killed and stays down past the renewal time: the program keeps its lease.
    relay.point(None);
    d.kill();
    let wait_for = |want: fn(&client_verifier::lease_client::LeaseStatus) -> bool, secs: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let s = lease.status();
            if want(&s) {
                return s;
            }
            assert!(std::time::Instant::now() < deadline, "{s:?}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    let renewing = wait_for(|s| s.state == LeaseState::Renewing, 25);
    assert!(lease.is_valid(), "{renewing:?}");
    // licd comes back (a new process on the same data): the next retry renews the same lease.
    let d = Daemon::start(dir.path(), &catalog);
    relay.point(Some(d.addr));
    let back = wait_for(
        |s| s.state == LeaseState::Leased && s.valid_for.as_secs() > 20,
        25,
    );
    assert_eq!(back.lease_id, first.lease_id);
    assert!(lease.is_valid());

    // Dropping the client gives the seat back.
    tokio::task::spawn_blocking(move || drop(lease))
        .await
        .unwrap();
    let (s, _, status) = post(&c, &d, "/v1/leases/status", json!({ "license": license })).await;
    assert_eq!(s, 200);
    assert_eq!(status["in_use"], 0, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_of_lease_and_release_is_slowed_down() {
    // A customer cycles one seat as fast as it can: every grant is an audit record, so grants
    // per license are budgeted (renewals are not).
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let c = client();
    let license = buy(&c, &d, "FL-7", "1").await;
    let mut slowed = None;
    for i in 0..200 {
        let (s, v) = lease(&c, &d, &license, &format!("loop:{i}"), A).await;
        if s == 429 {
            slowed = Some((i, v));
            break;
        }
        assert_eq!(s, 200, "{v}");
        let (s, _, _) = post(&c, &d, "/v1/leases/release", json!({ "lease": v["lease"] })).await;
        assert_eq!(s, 200);
    }
    let (after, v) = slowed.expect("200 grants in a row were all accepted");
    assert!((100..=130).contains(&after), "slowed after {after}: {v}");
    assert_eq!(v["error"], "too_many_requests");
}
