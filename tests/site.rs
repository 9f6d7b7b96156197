//! Site servers end to end: the real `licd serve` as the ISV and the real `licd site` as an
//! air-gapped plant's license server. The whole exchange through licctl (request, allotment,
//! receipt), seats shared between online leases and the site, leases racing the site's seat
//! count, a SIGKILL and restart of the site server, an application's lease client moving from
//! licd to the site, and the refusals an attacker meets (a copied site directory on another
//! machine, an edited allotment, two sites from one request, a replayed or forged receipt,
//! more seats than are left, a clock set back).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client_verifier::{Fingerprint, Timestamp};
use common::{Daemon, client};
use serde_json::{Value, json};

const PRODUCT: &str = "OFFI-FLOAT-1";
const CATALOG: &str = r#"
[[product]]
id = "OFFI-FLOAT-1"
name = "CAD Floating"
model = "floating"
lease_secs = 30
check_in_days = 30
transfers_per_year = 1
[product.entitlements]
export_dxf = true
"#;

const A: &str = "04:7C:16:5E:E3:5D|SN-A|BOARD-A|BFEBFBFF00090672";
const OTHER_MACHINE: &str = "0E:11:22:33:44:77|SN-PLANT-9|BOARD-PLANT-9|BFEBFBFF000A0673";

fn start(dir: &Path) -> Daemon {
    let path = dir.join("products.toml");
    std::fs::write(&path, CATALOG).unwrap();
    Daemon::start(dir, &["--products", path.to_str().unwrap()])
}

/// A floating license of `seats` seats: its token.
async fn buy(c: &reqwest::Client, d: &Daemon, order: &str, seats: &str) -> String {
    common::buy_floating(c, d, PRODUCT, order, seats).await
}

/// `licd site …` run to its end: (exit code, stdout, stderr).
fn site(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_licd"))
        .arg("site")
        .args(args)
        .env_remove("LICD_SITE_ID")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// `licd site init` in `dir`: the request.
fn init(dir: &Path, license: &str, extra: &[&str]) -> String {
    let mut args = vec!["init", "--license", license, "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, out, err) = site(&args);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("lsr1.") && out.len() < 700, "{out}");
    out
}

/// `licctl site allot` through `d`: the allotment, written to `file`.
fn allot(d: &Daemon, request: &str, file: &Path) -> String {
    let out = d.licctl(&["site", "allot", request]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let allotment = String::from_utf8(out.stdout).unwrap().trim().to_string();
    std::fs::write(file, format!("{allotment}\n")).unwrap();
    allotment
}

/// A running `licd site serve`.
struct SiteServer {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl SiteServer {
    fn start(dir: &Path, allotment: &Path, extra: &[&str]) -> Result<SiteServer, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_licd"))
            .args(["site", "serve", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir)
            .arg("--allotment")
            .arg(allotment)
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("LICD_SITE_ID")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (log, rx) = common::read_log(child.stderr.take().unwrap(), "site server listening");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(50)) {
                let addr = common::log_field(&line, "addr=").unwrap();
                return Ok(SiteServer {
                    child,
                    addr: addr.parse().unwrap(),
                    log,
                });
            }
            if let Some(status) = child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!("exited {status}: {}", log.lock().unwrap()));
            }
            assert!(Instant::now() < deadline, "the site server did not start");
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for it to exit by itself.
    fn wait_exit(mut self, within: Duration) -> String {
        let deadline = Instant::now() + within;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the site server did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.log.lock().unwrap().clone()
    }
}

impl Drop for SiteServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(c: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let r = c.post(url).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// A machine of the plant, by number: a fingerprint of its own.
fn machine(n: usize) -> String {
    format!("0A:00:00:00:00:{n:02X}|SN-WS-{n}|BOARD-WS-{n}|BFEBFBFF00090672")
}

async fn lease_at(c: &reqwest::Client, url: String, license: &str, n: usize) -> (u16, Value) {
    post(
        c,
        url,
        json!({ "license": license, "instance": format!("cad@ws{n}"), "fingerprint": machine(n) }),
    )
    .await
}

/// The path of a site directory `name` under `root`.
fn site_dir(root: &Path, name: &str) -> PathBuf {
    root.join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_exchange_from_request_to_return() {
    use client_verifier::lease_client::{LeaseClient, LeaseConfig};
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let c = client();
    let license = buy(&c, &d, "SITE-1", "5").await;
    let verifier = d.verifier();

    // The plant's server asks for 3 of the 5 seats, bound to this machine.
    let plant = site_dir(dir.path(), "plant");
    let request = init(&plant, &license, &["--seats", "3"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(plant.join("device.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the site key is owner-only");
    }
    let file = plant.join("allotment.txt");
    let allotment = allot(&d, &request, &file);
    let a = verifier
        .verify_allotment(&allotment, Timestamp::now())
        .unwrap();
    assert_eq!((a.seats, a.product.as_str()), (3, PRODUCT));
    // No later than the check-in deadline (30 days), far before the license's end.
    assert!(a.exp <= Timestamp::now().add_secs(30 * 86_400 + 5));
    let shown = d.licctl(&["licenses", "show", "SITE-1"]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("3 seat(s) until"), "{shown}");

    // Online, only the 2 seats the site left.
    for n in 1..=2 {
        let (s, v) = lease_at(&c, d.url("/v1/leases"), &license, n).await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = lease_at(&c, d.url("/v1/leases"), &license, 3).await;
    assert_eq!((s, v["error"].as_str()), (409, Some("seats_taken")), "{v}");
    let (_, status) = post(
        &c,
        d.url("/v1/leases/status"),
        json!({ "license": license }),
    )
    .await;
    assert_eq!(
        (status["seats"].as_u64(), status["in_use"].as_u64()),
        (Some(2), Some(2))
    );

    // The site server: 12 machines race for its 3 seats; exactly 3 win.
    let s1 = SiteServer::start(&plant, &file, &[]).unwrap();
    let mut racing = Vec::new();
    for n in 10..22 {
        let (c, url, license) = (c.clone(), s1.url("/v1/leases"), license.clone());
        racing.push(tokio::spawn(
            async move { lease_at(&c, url, &license, n).await },
        ));
    }
    let mut granted = Vec::new();
    for r in racing {
        let (s, v) = r.await.unwrap();
        match s {
            200 => granted.push(v),
            409 => assert_eq!(v["error"], "seats_taken", "{v}"),
            other => panic!("{other}: {v}"),
        }
    }
    assert_eq!(granted.len(), 3, "{granted:?}");
    // Each is a lease the application verifies with the ISV's keys alone, on its machine.
    let first = &granted[0];
    let token = first["lease"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &client_verifier::danger::decode_unverified(token)
            .unwrap()
            .message,
    )
    .unwrap();
    let instance = claims["instance"].as_str().unwrap();
    let n: usize = instance.trim_start_matches("cad@ws").parse().unwrap();
    let v = verifier
        .verify_lease(
            token,
            Some(&Fingerprint::parse(&machine(n)).unwrap()),
            Timestamp::now(),
        )
        .unwrap();
    assert_eq!(v.claims().lic, a.lic);
    assert!(v.expires_at() <= a.exp);
    assert_eq!(v.claims().entitlements["export_dxf"], json!(true));

    // SIGKILL and restart: the 3 leases still hold the seats; a renewal works.
    s1.kill();
    let s2 = SiteServer::start(&plant, &file, &[]).unwrap();
    let (s, v) = lease_at(&c, s2.url("/v1/leases"), &license, 40).await;
    assert_eq!((s, v["error"].as_str()), (409, Some("seats_taken")), "{v}");
    let (s, renewed) = post(&c, s2.url("/v1/leases/renew"), json!({ "lease": token })).await;
    assert_eq!(s, 200, "{renewed}");
    assert_eq!(renewed["lease_id"], first["lease_id"]);
    // A code is not a credential a site server takes.
    let (s, _) = post(
        &c,
        s2.url("/v1/leases"),
        json!({ "code": "ABCD-EFGH-IJKL-MNOP", "instance": "x", "fingerprint": machine(41) }),
    )
    .await;
    assert_eq!(s, 400);

    // The application's lease client: first against licd, then configured for the site.
    let (s, _) = post(&c, d.url("/v1/leases/release"), json!({ "lease": "x" })).await;
    assert_eq!(s, 400);
    for g in &granted[1..] {
        let (s, _) = post(
            &c,
            s2.url("/v1/leases/release"),
            json!({ "lease": g["lease"] }),
        )
        .await;
        assert_eq!(s, 200);
    }
    let fp = Fingerprint::parse(A).unwrap();
    // The lease the client takes at the site ends about 30 s after this (lease_secs).
    let leased_at = Timestamp::now();
    let online = d.url("");
    let at_site = s2.url("");
    let (l1, l2, v1c, v2c, fp2) = (
        license.clone(),
        license.clone(),
        verifier.clone(),
        verifier.clone(),
        fp.clone(),
    );
    let (from_licd, from_site) = tokio::task::spawn_blocking(move || {
        // Both online seats are held by machines 1 and 2: licd refuses, the site grants.
        let refused =
            LeaseClient::acquire(LeaseConfig::new(&online, &l1, "cad:1", fp.clone()), v1c);
        let leased =
            LeaseClient::acquire(LeaseConfig::new(&at_site, &l2, "cad:1", fp2), v2c).unwrap();
        let seat = leased.verified().unwrap().claims().seat;
        drop(leased);
        (refused.err().map(|e| e.to_string()), seat)
    })
    .await
    .unwrap();
    assert!(from_licd.unwrap().contains("seat"), "licd had no seat left");
    assert!(from_site < 3);

    // Someone who read the request in a proxy log has it answered again: licd now holds a
    // newer allotment than the one the site runs.
    let replayed = plant.join("replayed.txt");
    allot(&d, &request, &replayed);

    // Release: the running server stops, the receipt (naming the allotment the site ran) gives
    // the seats back all the same.
    let (code, receipt, err) = site(&["release", "--dir", plant.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(receipt.starts_with("lsd1."), "{receipt}");
    let log = s2.wait_exit(Duration::from_secs(10));
    assert!(log.contains("licd site release"), "{log}");
    let out = d.licctl(&["--json", "site", "return", &receipt]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let returned: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (returned["returned"].as_bool(), returned["seats"].as_u64()),
        (Some(true), Some(3))
    );
    // The seats are free once the site's last lease ends: the client's, about 30 s after it
    // was taken (however slow the steps since), and never later than a lease can last.
    let free_at = Timestamp::parse_rfc3339(returned["free_at"].as_str().unwrap()).unwrap();
    assert!(
        free_at >= leased_at.add_secs(29) && free_at <= Timestamp::now().add_secs(31),
        "{free_at}"
    );
    // Replayed: nothing changes.
    let out = d.licctl(&["--json", "site", "return", &receipt]);
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["returned"], false);
    // The allotment given back is never served again.
    let refused = SiteServer::start(&plant, &file, &[]).err().unwrap();
    assert!(refused.contains("was given back"), "{refused}");
    // The one the replay got, issued seconds before the release, is not refused by the site
    // (within the clock tolerance between licd and the site); one issued longer before is:
    // the unit test `an_allotment_issued_before_the_release_is_not_served`.
    assert!(replayed.exists());
    let audit =
        String::from_utf8_lossy(&d.licctl(&["licenses", "audit", "SITE-1"]).stdout).to_string();
    assert!(
        audit.contains("siteAllotted") && audit.contains("siteReturned"),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_license_allots_no_site() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let c = client();
    let license = buy(&c, &d, "SITE-7", "4").await;
    let request = init(&site_dir(dir.path(), "plant"), &license, &[]);
    let frozen = common::v1(
        &c,
        &d,
        &[
            ("activity", "expireLicense"),
            ("instanceId", "SITE-7"),
            ("orderId", "SITE-7"),
        ],
    )
    .await;
    assert_eq!(frozen.code(), "000000", "{:?}", frozen.json);
    let (s, v) = post(&c, d.url("/v1/site/allot"), json!({ "request": request })).await;
    assert_eq!((s, v["error"].as_str()), (410, Some("frozen")), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_directory_copied_to_another_machine_does_not_serve() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let c = client();
    let license = buy(&c, &d, "SITE-2", "4").await;
    // The request was made on the plant's server; its directory is copied here.
    let plant = site_dir(dir.path(), "copied");
    let request = init(
        &plant,
        &license,
        &["--fingerprint", OTHER_MACHINE, "--seats", "2"],
    );
    let file = plant.join("allotment.txt");
    allot(&d, &request, &file);
    let refused = SiteServer::start(&plant, &file, &[]).err().unwrap();
    assert!(refused.contains("bound to another machine"), "{refused}");

    // A site bound to an id its operator chose runs only with that id (documented as weaker).
    let boxed = site_dir(dir.path(), "container");
    let request = init(&boxed, &license, &["--site-id", "plant-7", "--seats", "1"]);
    let file = boxed.join("allotment.txt");
    allot(&d, &request, &file);
    let refused = SiteServer::start(&boxed, &file, &[]).err().unwrap();
    assert!(refused.contains("bound to another"), "{refused}");
    let refused = SiteServer::start(&boxed, &file, &["--site-id", "plant-8"])
        .err()
        .unwrap();
    assert!(refused.contains("another site id"), "{refused}");
    let s = SiteServer::start(&boxed, &file, &["--site-id", "plant-7"]).unwrap();
    let (status, v) = lease_at(&c, s.url("/v1/leases"), &license, 1).await;
    assert_eq!(status, 200, "{v}");

    // Another site's allotment in this directory: refused (the site key is not its).
    let other = boxed.join("other.txt");
    std::fs::copy(plant.join("allotment.txt"), &other).unwrap();
    drop(s);
    let refused = SiteServer::start(&boxed, &other, &["--site-id", "plant-7"])
        .err()
        .unwrap();
    assert!(refused.contains("for another site"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_allotments_and_a_clock_set_back_are_refused() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let c = client();
    let license = buy(&c, &d, "SITE-3", "4").await;
    let plant = site_dir(dir.path(), "plant");
    let request = init(&plant, &license, &["--seats", "2"]);
    let file = plant.join("allotment.txt");
    let allotment = allot(&d, &request, &file);

    // More seats and a later end, the signature kept: the site server refuses to start.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = allotment.split('.').collect();
    let raw = b64.decode(parts[2]).unwrap();
    let (body, sig) = raw.split_at(raw.len() - 64);
    let mut claims: Value = serde_json::from_slice(body).unwrap();
    claims["seats"] = json!(400);
    claims["exp"] = json!("2099-01-01T00:00:00Z");
    let mut forged = serde_json::to_vec(&claims).unwrap();
    forged.extend_from_slice(sig);
    let forged = format!("v4.public.{}.{}", b64.encode(forged), parts[3]);
    let edited = plant.join("edited.txt");
    std::fs::write(&edited, &forged).unwrap();
    let refused = SiteServer::start(&plant, &edited, &[]).err().unwrap();
    assert!(refused.contains("allotment"), "{refused}");

    // The clock set back a day behind what the site saw: refused until it is corrected.
    let ahead = Timestamp::now().add_secs(86_400).unix();
    std::fs::write(plant.join("clock"), ahead.to_string()).unwrap();
    let refused = SiteServer::start(&plant, &file, &[]).err().unwrap();
    assert!(refused.contains("clock was set back"), "{refused}");
    std::fs::write(plant.join("clock"), "0").unwrap();
    let s = SiteServer::start(&plant, &file, &[]).unwrap();
    let (status, _) = lease_at(&c, s.url("/v1/leases"), &license, 1).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seats_are_never_allotted_twice_and_receipts_prove_their_site() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let c = client();
    let license = buy(&c, &d, "SITE-4", "4").await;
    let status = async || {
        let (_, v) = post(
            &c,
            d.url("/v1/leases/status"),
            json!({ "license": license }),
        )
        .await;
        v["seats"].as_u64().unwrap()
    };

    // One request submitted twice (two site servers from one request): one site, 3 seats.
    let plant = site_dir(dir.path(), "plant");
    let request = init(&plant, &license, &["--seats", "3"]);
    let first = allot(&d, &request, &plant.join("a1.txt"));
    let out = d.licctl(&["--json", "site", "allot", &request]);
    let second: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(second["new"], false, "{second}");
    assert_ne!(second["allotment"].as_str().unwrap(), first);
    assert_eq!(status().await, 1, "the site's seats counted once");

    // Another site asks for more than is left: refused, nothing changes.
    let other = site_dir(dir.path(), "other");
    let more = init(
        &other,
        &license,
        &["--seats", "2", "--fingerprint", OTHER_MACHINE],
    );
    let out = d.licctl(&["site", "allot", &more]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 seat(s) are left"));
    // And on the public API, a 409 seats_taken.
    let (s, v) = post(&c, d.url("/v1/site/allot"), json!({ "request": more })).await;
    assert_eq!((s, v["error"].as_str()), (409, Some("seats_taken")), "{v}");
    assert_eq!(status().await, 1);
    // A request for this license made with another license's token proves nothing, and
    // says nothing about whether the license exists.
    let stranger = buy(&c, &d, "SITE-5", "4").await;
    let forged_request = client_verifier::offline::site::SiteRequest::create(
        "SITE-4",
        &stranger,
        client_verifier::Binding::new(&Fingerprint::parse(A).unwrap(), [3; 8]),
        1,
        &client_verifier::offline::DeviceKey::from_seed(&[7; 32]),
    )
    .unwrap();
    let (s, v) = post(
        &c,
        d.url("/v1/site/allot"),
        json!({ "request": forged_request }),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("not made with a license this server issued")
    );
    assert_eq!(status().await, 1);

    // A receipt signed by another site's key for this site's allotment frees nothing.
    let a: Value = serde_json::from_slice(
        &client_verifier::danger::decode_unverified(second["allotment"].as_str().unwrap())
            .unwrap()
            .message,
    )
    .unwrap();
    let allotment_id = a["jti"].as_str().unwrap();
    let forged = client_verifier::offline::state::OfflineState::open(&other)
        .unwrap()
        .site_receipt(allotment_id, Timestamp::now())
        .unwrap();
    let (s, v) = post(&c, d.url("/v1/site/return"), json!({ "receipt": forged })).await;
    assert_eq!(s, 400, "{v}");
    // A changed byte: refused.
    let own = client_verifier::offline::state::OfflineState::open(&plant)
        .unwrap()
        .site_receipt(allotment_id, Timestamp::now())
        .unwrap();
    let mut bent = own.clone().into_bytes();
    let i = bent.len() - 10;
    bent[i] = if bent[i] == b'A' { b'B' } else { b'A' };
    let (s, _) = post(
        &c,
        d.url("/v1/site/return"),
        json!({ "receipt": String::from_utf8(bent).unwrap() }),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(status().await, 1);
    // The request was sent twice (as anyone who read it in a proxy log can), so licd holds a
    // newer allotment than the one the site runs. The site's receipt names the one it runs:
    // it still gives the seats back, or they would be stranded until the newer one expires.
    let running: Value = serde_json::from_slice(
        &client_verifier::danger::decode_unverified(&first)
            .unwrap()
            .message,
    )
    .unwrap();
    let receipt = client_verifier::offline::state::OfflineState::open(&plant)
        .unwrap()
        .site_receipt(running["jti"].as_str().unwrap(), Timestamp::now())
        .unwrap();
    let (s, v) = post(&c, d.url("/v1/site/return"), json!({ "receipt": receipt })).await;
    assert_eq!((s, v["returned"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(
        status().await,
        4,
        "no lease was signed: the seats are free at once"
    );
    // The newer allotment's receipt, or the same one again: nothing more changes.
    for again in [&own, &receipt] {
        let (s, v) = post(&c, d.url("/v1/site/return"), json!({ "receipt": again })).await;
        assert_eq!((s, v["returned"].as_bool()), (200, Some(false)), "{v}");
    }
    assert_eq!(status().await, 4);

    // The next new site is a transfer (the product allows one a year); the one after that is
    // refused, while the same site renewing is not a transfer.
    let (s, v) = post(&c, d.url("/v1/site/allot"), json!({ "request": more })).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = post(&c, d.url("/v1/site/allot"), json!({ "request": more })).await;
    assert_eq!((s, v["new"].as_bool()), (200, Some(false)), "{v}");
    let own2 = client_verifier::offline::state::OfflineState::open(&other)
        .unwrap()
        .site_receipt(v["allotment_id"].as_str().unwrap(), Timestamp::now())
        .unwrap();
    let (s, _) = post(&c, d.url("/v1/site/return"), json!({ "receipt": own2 })).await;
    assert_eq!(s, 200, "a return is never refused");
    let third = init(
        &site_dir(dir.path(), "third"),
        &license,
        &["--seats", "1", "--fingerprint", A],
    );
    let (s, v) = post(&c, d.url("/v1/site/allot"), json!({ "request": third })).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("transfers_exhausted")),
        "{v}"
    );

    // A site request sent again and again: slowed down after a few (each writes the license
    // and an audit record).
    let busy = buy(&c, &d, "SITE-6", "4").await;
    let more = init(&site_dir(dir.path(), "busy"), &busy, &["--seats", "1"]);
    let mut limited = None;
    for _ in 0..12 {
        let r = c
            .post(d.url("/v1/site/allot"))
            .json(&json!({ "request": more }))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = r.headers().get("retry-after").cloned();
            break;
        }
    }
    assert!(
        limited.is_some(),
        "no 429 with Retry-After in 12 allotments"
    );
    let out = d.licctl(&["--json", "site", "allot", &more]);
    assert!(
        !out.status.success(),
        "the budget is the license's, whoever asks"
    );
}
