//! The attacks of the hardening review, each reproduced against the real daemon: a license
//! stretched, cloned or replayed past what was sold, and clients that try to stall licd or flood
//! its log. Each test failed on the code before the fix it names.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use client_verifier::{Fingerprint, Timestamp, VerifyError};
use common::{ACCESS_KEY, Daemon, admin, audit_events as audit, client, v1, v2};
use licd::marketplace::{AccessKey, sign_v1_query};
use serde_json::{Value, json};

const HOME: &str = "04:7C:16:5E:E3:5D|SN-HOME|BOARD-HOME|BFEBFBFF00090672";
const SECOND: &str = "0B:11:22:33:44:55|SN-TWO|BOARD-TWO|BFEBFBFF000A0671";
const THIRD: &str = "0C:11:22:33:44:66|SN-THREE|BOARD-THREE|BFEBFBFF000A0671";

fn fp(raw: &str) -> Fingerprint {
    Fingerprint::parse(raw).unwrap()
}

async fn post(c: &reqwest::Client, d: &Daemon, path: &str, body: &Value) -> (u16, Value) {
    let r = c.post(d.url(path)).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `POST /v1/activate` of `license` on the machine `fingerprint`.
async fn activate(
    c: &reqwest::Client,
    d: &Daemon,
    license: &str,
    fingerprint: &str,
) -> (u16, Value) {
    post(
        c,
        d,
        "/v1/activate",
        &json!({"license": license, "fingerprint": fingerprint}),
    )
    .await
}

fn get_license<'a>(order: &'a str, business: &'a str, amount: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("activity", "getLicense"),
        ("orderId", order),
        ("businessId", business),
        ("customerId", "cust-h"),
        ("productId", "OFFI-H"),
        ("expireTime", "20991231000000"),
        ("amount", amount),
        ("testFlag", "0"),
    ]
}

/// Buys a License 1.0 license (`getLicense`) and returns its unbound token.
async fn issue(
    c: &reqwest::Client,
    d: &Daemon,
    order: &str,
    business: &str,
    amount: &str,
) -> String {
    let issued = v1(c, d, &get_license(order, business, amount)).await;
    assert_eq!(issued.code(), "000000", "{:?}", issued.json);
    issued.json["license"].as_str().unwrap().to_string()
}

/// A License 1.0 callback signed at `at` (not now), as a logged request would be replayed.
async fn v1_signed_at(
    c: &reqwest::Client,
    d: &Daemon,
    params: &[(&str, &str)],
    at: Timestamp,
) -> (String, common::Answer) {
    let query = sign_v1_query(&AccessKey::new(ACCESS_KEY), params, at);
    (query.clone(), common::v1_raw(c, d, &query).await)
}

// --- 1. /v1/refresh must not stretch an online-activation device license -----------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_keeps_a_device_license_to_its_own_validity_until_the_marketplace_says_more() {
    let dir = tempfile::tempdir().unwrap();
    // No AK/SK: the order is never read, so the instance's expiry stays a placeholder.
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let created = v2(
        &c,
        &d,
        &json!({"activity": "newInstance", "businessId": "inst-s", "orderId": "CS-S",
                                      "orderLineId": "CS-S-1", "testFlag": "0"}),
    )
    .await;
    assert_eq!(created.code(), "000000", "{:?}", created.json);
    let now = Timestamp::now();
    let in_30_days = now.add_secs(30 * 86_400);
    let civil = |t: Timestamp| {
        let (y, mo, da, h, mi, s) = t.to_civil();
        format!("{y:04}-{mo:02}-{da:02} {h:02}:{mi:02}:{s:02} z")
    };
    let asked = v2(&c, &d, &json!({"activity": "getLicenseAsync", "instanceId": "inst-s", "eventId": "ev-1",
                                    "deviceFingerprint": HOME, "effectiveTime": civil(now.add_secs(-60)),
                                    "expireTime": civil(in_30_days)})).await;
    assert_eq!(asked.code(), "000004", "{:?}", asked.json);
    let (status, body) = admin(
        &c,
        &d,
        reqwest::Method::GET,
        "/licenses/inst-s/token?event=ev-1",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let device_token = body["token"].as_str().unwrap().to_string();
    let verifier = d.verifier();
    let device_exp = verifier
        .verify(&device_token, Some(&fp(HOME)), now)
        .unwrap()
        .claims()
        .exp;
    assert_eq!(device_exp, in_30_days);

    // The attack: refresh the device token, and refresh what comes back.
    let mut token = device_token.clone();
    for _ in 0..2 {
        let (status, body) = post(&c, &d, "/v1/refresh", &json!({"token": token})).await;
        assert_eq!(status, 200, "{body}");
        token = body["token"].as_str().unwrap().to_string();
        let claims = verifier
            .verify(&token, Some(&fp(HOME)), now)
            .unwrap()
            .claims()
            .clone();
        assert_eq!(
            claims.exp, in_30_days,
            "a refresh never grants validity that was not sold"
        );
        assert!(claims.freeze_until < in_30_days.add_secs(20 * 86_400));
    }

    // A renewal callback states the validity: from then on, refresh carries it.
    let renewed = v2(
        &c,
        &d,
        &json!({"activity": "refreshInstance", "instanceId": "inst-s", "orderId": "CS-S-R",
                                      "orderLineId": "CS-S-R-1", "scene": "RENEWAL",
                                      "expireTime": "20300101000000", "testFlag": "0"}),
    )
    .await;
    assert_eq!(renewed.code(), "000000", "{:?}", renewed.json);
    let (status, body) = post(&c, &d, "/v1/refresh", &json!({"token": token})).await;
    assert_eq!(status, 200, "{body}");
    let claims = verifier
        .verify(body["token"].as_str().unwrap(), Some(&fp(HOME)), now)
        .unwrap()
        .claims()
        .clone();
    assert_eq!(
        claims.exp,
        Timestamp::parse_rfc3339("2030-01-01T00:00:00Z").unwrap()
    );
}

// --- 2. one seat must not bind every machine of a CPU model ------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_refuses_fingerprints_that_do_not_identify_a_machine() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let license = issue(&c, &d, "CS-FP", "lic-fp", "1").await;
    for (weak, why) in [
        (
            "|||178BFBFF00A10F11,BFEBFBFF000906EA,BFEBFBFF00090672",
            "1 of 4",
        ),
        ("04:7C:16:5E:E3:5D|||BFEBFBFF00090672", "2 of 4"),
        (
            "04:7C:16:5E:E3:5D,0A:0A:0A:0A:0A:0A|||BFEBFBFF00090672",
            "2 of 4",
        ),
        ("8a6f0e6034e2b160e1", "opaque"),
    ] {
        let (status, body) = activate(&c, &d, &license, weak).await;
        assert_eq!(status, 400, "{weak}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("fingerprint:"),
            "{why}: {body}"
        );
    }
    // A real machine binds; the token then holds on that machine (a new NIC too), and not on
    // another one that copied its MAC and shares its CPU model.
    let (status, body) = activate(&c, &d, &license, HOME).await;
    assert_eq!(status, 200, "{body}");
    let bound = body["token"].as_str().unwrap();
    let v = d.verifier();
    let now = Timestamp::now();
    assert!(v.verify(bound, Some(&fp(HOME)), now).unwrap().is_active());
    let new_nic = "0A:0A:0A:0A:0A:0A|SN-HOME|BOARD-HOME|BFEBFBFF00090672";
    assert!(
        v.verify(bound, Some(&fp(new_nic)), now)
            .unwrap()
            .is_active()
    );
    let clone = "04:7C:16:5E:E3:5D|SN-OTHER|BOARD-OTHER|BFEBFBFF00090672";
    assert!(matches!(
        v.verify(bound, Some(&fp(clone)), now),
        Err(VerifyError::DeviceMismatch { .. })
    ));

    // The marketplace's device licenses too: no binding that could never hold.
    let created = v2(
        &c,
        &d,
        &json!({"activity": "newInstance", "businessId": "inst-fp", "orderId": "CS-FP2",
                                      "orderLineId": "CS-FP2-1", "testFlag": "0"}),
    )
    .await;
    assert_eq!(created.code(), "000000");
    let weak = v2(
        &c,
        &d,
        &json!({"activity": "getLicenseAsync", "instanceId": "inst-fp", "eventId": "ev-w",
                                   "deviceFingerprint": "|||BFEBFBFF00090672",
                                   "effectiveTime": "2023-11-23 10:30:15 z"}),
    )
    .await;
    assert_eq!(weak.code(), "000002", "{:?}", weak.json);
    assert!(
        weak.msg().starts_with("deviceFingerprint:"),
        "{}",
        weak.msg()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_fingerprint_components_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &["--min-fingerprint-components", "4"]);
    let c = client();
    let license = issue(&c, &d, "CS-FP4", "lic-fp4", "1").await;
    let three = "04:7C:16:5E:E3:5D|SN-HOME||BFEBFBFF00090672";
    let (status, body) = activate(&c, &d, &license, three).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("at least 4"),
        "{body}"
    );
    let (status, _) = activate(&c, &d, &license, HOME).await;
    assert_eq!(status, 200);
}

// --- 3. a reissue supersedes the old token ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reissued_license_s_old_token_neither_activates_nor_refreshes() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let old = issue(&c, &d, "CS-RE", "lic-re", "3").await;
    let (status, _) = activate(&c, &d, &old, HOME).await;
    assert_eq!(status, 200);
    // The customer's machine is replaced (or the token leaked): the seller reissues.
    let (status, body) = admin(
        &c,
        &d,
        reqwest::Method::POST,
        "/licenses/lic-re/reissue",
        Some(&json!({"reason": "token leaked"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let new = body["token"].as_str().unwrap().to_string();
    // The attack: the old unbound token takes the seats on other machines.
    for machine in [SECOND, THIRD] {
        let (status, body) = activate(&c, &d, &old, machine).await;
        assert_eq!(status, 410, "{body}");
        assert_eq!(body["error"], "superseded", "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("reissued"),
            "{body}"
        );
    }
    // Nor does it fetch the new revision.
    let (status, body) = post(&c, &d, "/v1/refresh", &json!({"token": old})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (410, Some("superseded")),
        "{body}"
    );
    // The customer's new token has every seat.
    for machine in [HOME, SECOND, THIRD] {
        let (status, body) = activate(&c, &d, &new, machine).await;
        assert_eq!(status, 200, "{machine}: {body}");
    }
}

// --- 4. a V1 signature covers one reading of the parameters -----------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_renewal_re_split_through_an_ampersand_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    issue(&c, &d, "CS-SPLIT", "lic-split", "1").await;
    let renewal = [
        ("activity", "refreshLicense"),
        ("instanceId", "lic-split"),
        ("orderId", "CS-SPLIT-R1"),
        ("expireTime", "21000101000000"),
        ("testFlag", "0"),
    ];
    let (query, answer) = v1_signed_at(&c, &d, &renewal, Timestamp::now()).await;
    assert_eq!(answer.code(), "000000");
    // The same signature, with `orderId=CS-SPLIT-R1&testFlag=0` sent as one value: on the old
    // code a renewal order never seen, applied again (undoing any refund since).
    let resplit = query
        .replace("&testFlag=0", "")
        .replace("orderId=CS-SPLIT-R1", "orderId=CS-SPLIT-R1%26testFlag%3D0");
    assert_ne!(resplit, query);
    let replayed = common::v1_raw(&c, &d, &resplit).await;
    assert_eq!(replayed.code(), "000002", "{:?}", replayed.json);
    assert!(replayed.msg().contains("orderId"), "{}", replayed.msg());
    let renewals = audit(&c, &d, "lic-split")
        .await
        .into_iter()
        .filter(|e| e["action"] == "refreshLicense")
        .count();
    assert_eq!(renewals, 1, "the renewal was applied once");
}

// --- 5. stale callbacks replayed from a log ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_replayed_from_a_log_does_not_undo_a_later_renewal() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    issue(&c, &d, "CS-STALE", "lic-stale", "1").await;
    let now = Timestamp::now();
    let freeze = [
        ("activity", "expireLicense"),
        ("instanceId", "lic-stale"),
        ("testFlag", "0"),
    ];
    let (logged, frozen) = v1_signed_at(&c, &d, &freeze, now.add_secs(-600)).await;
    assert_eq!(frozen.code(), "000000");
    let renewal = [
        ("activity", "refreshLicense"),
        ("instanceId", "lic-stale"),
        ("orderId", "CS-STALE-R1"),
        ("expireTime", "21000101000000"),
        ("testFlag", "0"),
    ];
    let (_, renewed) = v1_signed_at(&c, &d, &renewal, now.add_secs(-300)).await;
    assert_eq!(renewed.code(), "000000");
    // Someone who read the proxy log replays the freeze, well inside the 24 h window.
    let replayed = common::v1_raw(&c, &d, &logged).await;
    assert_eq!(
        replayed.code(),
        "000000",
        "success, so the marketplace does not retry"
    );
    let (status, body) = admin(&c, &d, reqwest::Method::GET, "/licenses/lic-stale", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "active", "{body}");
    let events = audit(&c, &d, "lic-stale").await;
    let last = events.last().unwrap();
    assert_eq!(last["action"], "expireLicense");
    assert_eq!(last["detail"]["stale"], true, "{last}");
    // A newer freeze still applies.
    let (_, again) = v1_signed_at(&c, &d, &freeze, now).await;
    assert_eq!(again.code(), "000000");
    let (_, body) = admin(&c, &d, reqwest::Method::GET, "/licenses/lic-stale", None).await;
    assert_eq!(body["status"], "frozen", "{body}");
}

// --- 6. slow, idle and unfinished connections ---------------------------------------------------

/// Opens a connection and sends `prefix` (maybe nothing), then leaves it open.
fn hold(addr: std::net::SocketAddr, prefix: &[u8]) -> Option<TcpStream> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    if !prefix.is_empty() {
        s.write_all(prefix).ok()?;
    }
    Some(s)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_stalled_connections_do_not_hold_up_a_signed_callback() {
    let dir = tempfile::tempdir().unwrap();
    // The file limit of the review (1,024), with the default connection cap.
    let launcher: Vec<String> = ["prlimit", "--nofile=1024:1024", "--"]
        .map(String::from)
        .to_vec();
    let d = Daemon::start_via(dir.path(), &[], &launcher);
    let c = client();
    let body_head = format!(
        "POST /v1/activate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 61000\r\n\r\n{{\"license\":\"{}",
        "A".repeat(60_000)
    );
    let addr = d.addr;
    let before = rss_kb(d.pid());
    let held = tokio::task::spawn_blocking(move || {
        let mut held = Vec::new();
        for i in 0..2_000 {
            let prefix: &[u8] = match i % 3 {
                0 => b"",
                1 => b"GET /v1/keys HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                _ => body_head.as_bytes(),
            };
            if let Some(s) = hold(addr, prefix) {
                held.push(s);
            }
        }
        held
    })
    .await
    .unwrap();
    assert!(
        held.len() >= 1_900,
        "only {} connections opened",
        held.len()
    );
    let started = Instant::now();
    let answer = v1(&c, &d, &get_license("CS-STALL", "lic-stall", "1")).await;
    let took = started.elapsed();
    assert_eq!(answer.code(), "000000", "{:?}", answer.json);
    assert!(took < Duration::from_secs(1), "the callback took {took:?}");
    let after = rss_kb(d.pid());
    assert!(
        after < before + 120 * 1024,
        "RSS grew from {before} kB to {after} kB with 2,000 stalled connections"
    );
    assert!(
        d.log().contains("connection cap reached"),
        "the cap is visible in the log"
    );
    drop(held);
}

/// Reads until the peer closes (or `within` passes); returns what arrived and whether it closed.
fn read_until_closed(s: &mut TcpStream, within: Duration) -> (String, bool) {
    s.set_read_timeout(Some(within)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&out).into_owned(), true);
            }
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
        if Instant::now() > deadline {
            return (String::from_utf8_lossy(&out).into_owned(), false);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_half_sent_and_unfinished_connections_are_closed_by_their_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        dir.path(),
        &[
            "--header-timeout-secs",
            "1",
            "--body-timeout-secs",
            "1",
            "--idle-timeout-secs",
            "2",
        ],
    );
    let addr = d.addr;
    tokio::task::spawn_blocking(move || {
        // Half a request head: closed after the header timeout.
        let mut half = hold(addr, b"GET /v1/keys HTTP/1.1\r\nHost: x\r\n").unwrap();
        // Half a body: 408 after the body timeout.
        let mut body = hold(
            addr,
            b"POST /v1/refresh HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"tok",
        )
        .unwrap();
        // A kept-alive connection after one answered request, then silence: closed when idle.
        let mut idle = hold(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let started = Instant::now();
        let (_, closed) = read_until_closed(&mut half, Duration::from_secs(8));
        assert!(closed, "a half-sent head is cut off");
        let (text, closed) = read_until_closed(&mut body, Duration::from_secs(8));
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(
            text.to_ascii_lowercase().contains("connection: close") && closed,
            "the connection with the unfinished body is closed: {text}"
        );
        let (text, closed) = read_until_closed(&mut idle, Duration::from_secs(8));
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(closed, "an idle kept-alive connection is closed");
        assert!(started.elapsed() < Duration::from_secs(8));
    })
    .await
    .unwrap();
}

// --- 7. anonymous requests cannot flood or forge the log ---------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_refusals_cannot_forge_log_lines_or_flood_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    // A token whose footer kid carries a newline and a whole forged line, and an ESC sequence.
    let forged_footer = base64_url(
        br#"{"kid":"k4.pid.x\n2026-11-29T00:00:00.000000Z  INFO licd: admin token accepted \u001b[2J"}"#,
    );
    let token = format!("v4.public.{}.{forged_footer}", base64_url(&[7u8; 100]));
    let (status, _) = post(&c, &d, "/v1/refresh", &json!({"token": token})).await;
    assert_eq!(status, 400);
    let log = d.wait_log("client request refused");
    assert!(
        !log.lines()
            .any(|l| l.contains("admin token accepted") && !l.contains("client request refused")),
        "a forged line: {log}"
    );
    assert!(!log.contains('\u{1b}'), "a raw ESC reached the log");

    // A flood of anonymous requests with a 60 KB unknown field name each.
    let base = d.log().len();
    let huge = "F".repeat(60_000);
    let body = format!("{{\"license\":\"x\",\"fingerprint\":\"y\",\"{huge}\":1}}");
    let c2 = c.clone();
    let url = d.url("/v1/activate");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (c, url, body) = (c2.clone(), url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..125 {
                let r = c
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 400);
                let text = r.text().await.unwrap();
                assert!(text.len() < 1_000, "the answer echoes {} bytes", text.len());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = d.log();
    let grown = &log[base..];
    for line in grown.lines() {
        assert!(line.len() <= 400, "a {}-byte line: {line}", line.len());
    }
    assert!(
        grown.len() < 300 * 1_000 / 10,
        "1,000 refusals wrote {} bytes to the log",
        grown.len()
    );
    // The flood is summarised, not silent: a later refusal reports how many were held back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _) = post(
        &c,
        &d,
        "/v1/activate",
        &json!({"license": "x", "fingerprint": "y"}),
    )
    .await;
    assert_eq!(status, 400);
    let log = d.wait_log("suppressed=");
    assert!(
        log.lines().any(|l| l.contains("client request refused")
            && l.split("suppressed=").nth(1).is_some_and(|n| n
                .trim_start()
                .chars()
                .next()
                .is_some_and(|ch| ch != '0'))),
        "{}",
        &log[base..]
    );
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

// --- 8. secret files and the umask ----------------------------------------------------------

/// Runs `licd serve ARGS`, which must refuse to start: returns its stderr. A licd still running
/// after 10 s has started, and fails the test.
fn licd_fails(args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_licd"))
        .arg("serve")
        .args(args)
        .env_remove("LICD_ACCESS_KEY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("licd started with {args:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success(), "licd exited 0 with {args:?}: {err}");
    err
}

#[test]
fn secret_files_others_can_read_stop_startup_and_the_database_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let base = ["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"];
    let data = p("data").display().to_string();
    let keys = p("keys").display().to_string();
    // The access key file, group-readable.
    std::fs::write(p("access.key"), ACCESS_KEY).unwrap();
    std::fs::set_permissions(p("access.key"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let akf = p("access.key").display().to_string();
    let err = licd_fails(
        &[
            &base[..],
            &[
                "--data-dir",
                &data,
                "--keys-dir",
                &keys,
                "--access-key-file",
                &akf,
            ],
        ]
        .concat(),
    );
    assert!(
        err.contains("access.key") && err.contains("chmod 600"),
        "{err}"
    );
    // A TLS private key others can read.
    std::fs::set_permissions(p("access.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(p("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(p("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    std::fs::set_permissions(p("key.pem"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let (certf, keyf) = (
        p("cert.pem").display().to_string(),
        p("key.pem").display().to_string(),
    );
    let err = licd_fails(
        &[
            &base[..],
            &[
                "--data-dir",
                &data,
                "--keys-dir",
                &keys,
                "--access-key-file",
                &akf,
                "--tls-cert",
                &certf,
                "--tls-key",
                &keyf,
            ],
        ]
        .concat(),
    );
    assert!(
        err.contains("key.pem") && err.contains("chmod 600"),
        "{err}"
    );

    // A data directory created 0755 by hand: what licd creates in it is owner-only anyway.
    let root = p("d2");
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::set_permissions(root.join("data"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = Daemon::start(&root, &[]);
    drop(d);
    let mut checked = 0;
    let mut stack = vec![root.join("data")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            }
            let mode = meta.permissions().mode() & 0o777;
            assert_eq!(
                mode & 0o077,
                0,
                "{} is mode {mode:03o}",
                entry.path().display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} files checked");
}

// --- 9. the admin listener ------------------------------------------------------------------

#[test]
fn an_admin_listener_off_loopback_needs_tls_or_an_explicit_insecure_flag() {
    let dir = tempfile::tempdir().unwrap();
    common::write_secret(&dir.path().join("access.key"), ACCESS_KEY.as_bytes());
    let data = dir.path().join("data").display().to_string();
    let keys = dir.path().join("keys").display().to_string();
    let akf = dir.path().join("access.key").display().to_string();
    let err = licd_fails(&[
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "0.0.0.0:0",
        "--data-dir",
        &data,
        "--keys-dir",
        &keys,
        "--access-key-file",
        &akf,
    ]);
    assert!(
        err.contains("--admin-tls-cert") && err.contains("--admin-insecure-plaintext"),
        "{err}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "a refused start leaves nothing behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_admin_tokens_are_slowed_down_and_the_right_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let started = Instant::now();
    for _ in 0..5 {
        let r = c
            .get(format!("{}/admin/v1/licenses", d.admin_url()))
            .bearer_auth("0123456789abcdef0123456789abcdef")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    // 100 + 200 + 400 + 800 + 1600 ms at least.
    assert!(
        started.elapsed() >= Duration::from_millis(3_100),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let (status, _) = admin(&c, &d, reqwest::Method::GET, "/licenses", None).await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "the right token waited {:?}",
        started.elapsed()
    );
}

// --- 10. proxies, body limits, bidi ids ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy_and_oversize_bodies_get_413() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &["--trusted-proxy", "127.0.0.1/32"]);
    let c = client();
    // nginx appends the peer it saw to whatever the client wrote: the client is the
    // right-most address that is not a trusted proxy, not the left-most one it wrote itself.
    let r = c
        .post(d.url("/v1/refresh"))
        .header("x-forwarded-for", "6.6.6.6, 198.51.100.7")
        .json(&json!({"token": "v4.public.x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let log = d.wait_log("client request refused");
    let line = log
        .lines()
        .find(|l| l.contains("client request refused"))
        .unwrap();
    assert!(line.contains("client=198.51.100.7"), "{line}");
    assert!(!line.contains("6.6.6.6"), "{line}");

    let big = json!({"token": "x".repeat(70_000)});
    let r = c
        .post(d.url("/v1/refresh"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // The unread body stays on the connection: the answer closes it, and says so.
    assert_eq!(
        r.headers().get("connection").map(|v| v.to_str().unwrap()),
        Some("close")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "too_large");
    let (status, _) = post(
        &c,
        &d,
        "/v1/activate",
        &json!({"license": "x".repeat(70_000), "fingerprint": HOME}),
    )
    .await;
    assert_eq!(status, 413);

    // An id with a right-to-left override displays as another id: refused like a control
    // character.
    let bidi = v1(&c, &d, &get_license("CS-BIDI\u{202e}1", "lic-bidi", "1")).await;
    assert_eq!(bidi.code(), "000002", "{:?}", bidi.json);
    assert!(
        bidi.msg().contains("orderId: contains a control character"),
        "{}",
        bidi.msg()
    );
}
