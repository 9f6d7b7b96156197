//! The event feed (`GET /admin/v1/events`, `licctl events tail`) and signed webhooks, end to
//! end against the real daemon and a real HTTP receiver. Also run on PostgreSQL by `.ci/run`
//! (`LICD_TEST_BACKEND=postgres`).

mod common;

use std::path::Path;
use std::time::Duration;

use common::receiver::{Delivery, Mode, Receiver, verify};
use common::{Daemon, admin, client, get_license, v1, write_secret};
use reqwest::Method;
use serde_json::{Value, json};

const HOME: &str = "04:7C:16:5E:E3:5D|SN-HOME|BOARD-HOME|BFEBFBFF00090672";
const SECRET: &[u8] = b"whsec-0123456789abcdef-test";
/// The senders at normal priority: these tests check what is delivered, and a test machine busy
/// with other tests must not starve them (the default, low, is checked on its own below and
/// measured in BENCHMARKS.md).
const NORMAL: [&str; 2] = ["--webhooks-priority", "normal"];

/// A webhooks file under `dir` with `endpoints` as (name, url, events), each with [`SECRET`].
fn webhooks_file(dir: &Path, endpoints: &[(&str, &str, &[&str])]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    write_secret(&dir.join("hook.secret"), SECRET);
    let mut text = String::new();
    for (name, url, events) in endpoints {
        text.push_str(&format!(
            "[[webhook]]\nname = \"{name}\"\nurl = \"{url}\"\nsecret_file = \"hook.secret\"\nevents = {}\n\n",
            serde_json::to_string(events).unwrap()
        ));
    }
    let path = dir.join("webhooks.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn renew(instance: &str, order: &str) -> Vec<(&'static str, String)> {
    vec![
        ("activity", "refreshLicense".into()),
        ("instanceId", instance.into()),
        ("orderId", order.into()),
        ("expireTime", "21001231000000".into()),
    ]
}

async fn call(c: &reqwest::Client, d: &Daemon, params: &[(&'static str, String)]) {
    let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = v1(c, d, &p).await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);
}

async fn events(c: &reqwest::Client, d: &Daemon, query: &str) -> Value {
    let (status, body) = admin(c, d, Method::GET, &format!("/events?{query}"), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Every event of the feed, checking that it has no gap and that each links to the one before.
async fn whole_feed(c: &reqwest::Client, d: &Daemon) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    let mut after = 0;
    loop {
        let page = events(c, d, &format!("after={after}&limit=7")).await;
        let got = page["events"].as_array().unwrap().clone();
        if got.is_empty() {
            return all;
        }
        for e in got {
            assert_eq!(e["seq"], after + 1, "a gap before {e}");
            if let Some(prev) = all.last() {
                assert_eq!(e["prev"], prev["hash"], "event {} does not link", e["seq"]);
            }
            after = e["seq"].as_u64().unwrap();
            all.push(e);
        }
        assert_eq!(page["next"], after);
    }
}

/// The console's dashboard, signed in with the admin token, in `lang`.
async fn dashboard(d: &Daemon, lang: &str) -> String {
    use common::forms::{Jar, hidden, no_redirects};
    let c = no_redirects();
    let mut jar = Jar::default();
    let r = c
        .get(format!("{}/console/login", d.admin_url()))
        .send()
        .await
        .unwrap();
    jar.take(&r);
    let csrf = hidden(&r.text().await.unwrap(), "csrf_login");
    let r = c
        .post(format!("{}/console/login", d.admin_url()))
        .header("cookie", jar.header())
        .form(&[
            ("name", "ops"),
            ("token", d.admin_token().as_str()),
            ("csrf_login", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    jar.take(&r);
    let r = c
        .get(format!("{}/console/?lang={lang}", d.admin_url()))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    jar.take(&r);
    let r = c
        .get(format!("{}/console/", d.admin_url()))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

fn types(ds: &[Delivery]) -> Vec<String> {
    ds.iter()
        .map(|d| d.json()["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_verifies_signed_events_of_purchase_renewal_activation_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Mode::Ok).await;
    let file = webhooks_file(
        dir.path(),
        &[("crm", &rx.url(), &["license.*", "seat.activated"])],
    );
    let d = Daemon::start(dir.path(), &["--webhooks", &file, NORMAL[0], NORMAL[1]]);
    d.wait_log("webhook endpoint starts after the newest event");
    let c = client();

    let bought = v1(&c, &d, &get_license("EV-1", "ev-1")).await;
    assert_eq!(bought.code(), "000000");
    let token = bought.json["license"].as_str().unwrap().to_string();
    call(&c, &d, &renew("ev-1", "EV-2")).await;
    let r = c
        .post(d.url("/v1/activate"))
        .json(&json!({ "license": token, "fingerprint": HOME }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bound = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let o = d.licctl(&["licenses", "revoke", "ev-1", "--reason", "chargeback"]);
    assert!(o.status.success(), "{o:?}");

    let got = rx.wait_accepted(4, Duration::from_secs(20)).await;
    assert_eq!(
        types(&got),
        [
            "license.issued",
            "license.renewed",
            "seat.activated",
            "license.revoked"
        ]
    );
    let mut last_seq = 0;
    for g in &got {
        let t = verify(g, SECRET, 300).unwrap_or_else(|e| panic!("{e}: {g:?}"));
        assert!(t > 0);
        // A wrong secret does not verify: the check can fail.
        assert!(verify(g, b"another-secret-of-the-same-size", 300).is_err());
        let e = g.json();
        assert_eq!(g.header("licd-event-id"), e["id"].as_str().unwrap());
        assert_eq!(g.header("licd-event-type"), e["type"].as_str().unwrap());
        assert_eq!(e["license"], "ev-1");
        assert!(e["seq"].as_u64().unwrap() > last_seq, "out of order");
        last_seq = e["seq"].as_u64().unwrap();
        // What the receiver gets is what the ISV already holds, never a token.
        let text = String::from_utf8_lossy(&g.body);
        assert!(!text.contains(&token) && !text.contains(&bound) && !text.contains("v4.public."));
    }
    let revoked = got[3].json();
    assert_eq!(revoked["data"]["reason"], "chargeback");
    assert!(revoked["actor"].as_str().unwrap() != "");

    // A tampered body no longer verifies.
    let mut forged = got[1].clone();
    assert!(String::from_utf8_lossy(&forged.body).contains("2100-12-31"));
    forged.body = String::from_utf8(forged.body)
        .unwrap()
        .replace("2100-12-31", "2999-12-31")
        .into_bytes();
    assert!(verify(&forged, SECRET, 300).is_err());

    // The feed holds the same events, gap-free and linked, and more (nothing is filtered).
    let feed = whole_feed(&c, &d).await;
    for g in &got {
        let e = g.json();
        let same = &feed[e["seq"].as_u64().unwrap() as usize - 1];
        assert_eq!(same["id"], e["id"]);
        assert_eq!(same["hash"], e["hash"]);
    }

    // A replayed delivery is the same event (same id) at a new time: a receiver that keeps ids
    // and refuses old `t` tells it apart from a new event.
    let o = d.licctl(&["webhooks", "replay", "crm", "--after", "0"]);
    assert!(o.status.success(), "{o:?}");
    let again = rx.wait_accepted(8, Duration::from_secs(20)).await;
    assert_eq!(again.len(), 8, "{}", d.log());
    for (first, second) in got.iter().zip(&again[4..]) {
        assert_eq!(
            first.header("licd-event-id"),
            second.header("licd-event-id")
        );
    }

    // licctl lists it, and `events tail` prints the same types.
    let o = d.licctl(&["webhooks", "list"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("crm") && out.contains("ok"),
        "{out}"
    );
    let o = d.licctl(&["--json", "events", "tail", "--after", "0"]);
    assert!(o.status.success(), "{o:?}");
    let tailed: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(tailed.len(), feed.len());
    assert_eq!(tailed[0]["type"], "license.issued");

    // The metrics count the deliveries (the 2xx is counted once licd has read it, and the
    // cursor saved after the round: both a moment after the receiver saw the event).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let m = common::metrics_text(&c, &d).await;
        let done = m.contains("licd_webhook_deliveries_total{endpoint=\"crm\"} 8")
            && m.contains("licd_webhook_behind_events{endpoint=\"crm\"} 0");
        if done {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_endpoint_catches_up_in_order_without_holding_another_or_the_callbacks() {
    let dir = tempfile::tempdir().unwrap();
    let up = Receiver::start(Mode::Ok).await;
    let down = Receiver::start(Mode::Fail(503)).await;
    let hung = Receiver::start(Mode::Hang).await;
    let file = webhooks_file(
        dir.path(),
        &[
            ("up", &up.url(), &["*"]),
            ("down", &down.url(), &["license.*"]),
            ("hung", &hung.url(), &["*"]),
        ],
    );
    let d = Daemon::start(
        dir.path(),
        &[
            "--webhooks",
            &file,
            "--outbox-retry-secs",
            "1",
            NORMAL[0],
            NORMAL[1],
        ],
    );
    d.wait_log("webhook endpoint starts after the newest event");
    let c = client();
    for i in 0..5 {
        let started = std::time::Instant::now();
        let a = v1(&c, &d, &get_license(&format!("DN-{i}"), &format!("dn-{i}"))).await;
        assert_eq!(a.code(), "000000");
        // The hung and the failing endpoint cost a callback nothing (a loose bound: a
        // callback that waited for a delivery would take the 10 s delivery timeout).
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    // The healthy endpoint has everything while the others fail or hang.
    assert_eq!(up.wait_accepted(5, Duration::from_secs(20)).await.len(), 5);
    assert!(down.accepted().is_empty());
    // The failing one keeps retrying the first event only: its cursor holds.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while down.got().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tried: Vec<u64> = down
        .got()
        .iter()
        .map(|g| g.json()["seq"].as_u64().unwrap())
        .collect();
    assert!(tried.len() >= 2, "{tried:?}");
    assert!(tried.iter().all(|s| *s == tried[0]), "{tried:?}");
    let (_, listed) = admin(&c, &d, Method::GET, "/webhooks", None).await;
    let state = |name: &str| {
        listed["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(state("down")["state"], "retrying", "{listed}");
    assert!(
        state("down")["last_error"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 503"),
        "{listed}"
    );
    assert_eq!(state("up")["state"], "ok");
    // The console shows each endpoint's state and last error, the receiver's words escaped.
    let html = dashboard(&d, "en").await;
    assert!(
        html.contains("retrying since") && html.contains("HTTP 503"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;") && !html.contains("<script>"),
        "{html}"
    );
    let html = dashboard(&d, "zh-CN").await;
    assert!(
        html.contains("起重试中") && html.contains("Webhook 推送"),
        "{html}"
    );

    // Back up: it catches up, in order, every event once the first went through.
    down.set(Mode::Ok);
    let caught = down.wait_accepted(5, Duration::from_secs(30)).await;
    let seqs: Vec<u64> = caught
        .iter()
        .map(|g| g.json()["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 5, "{seqs:?}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(types(&caught), vec!["license.issued"; 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_committed_before_a_sigkill_are_delivered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Mode::Fail(500)).await;
    let file = webhooks_file(dir.path(), &[("erp", &rx.url(), &["*"])]);
    let flags = [
        "--webhooks",
        file.as_str(),
        "--outbox-retry-secs",
        "1",
        NORMAL[0],
        NORMAL[1],
    ];
    let d = Daemon::start(dir.path(), &flags);
    d.wait_log("webhook endpoint starts after the newest event");
    let c = client();
    for i in 0..3 {
        let a = v1(&c, &d, &get_license(&format!("SK-{i}"), &format!("sk-{i}"))).await;
        assert_eq!(a.code(), "000000");
    }
    // A change that did not commit (a renewal of an unknown instance) is no event.
    let refused = v1(
        &c,
        &d,
        &[
            ("activity", "refreshLicense"),
            ("instanceId", "no-such"),
            ("orderId", "SK-X"),
            ("expireTime", "21001231000000"),
        ],
    )
    .await;
    assert_ne!(refused.code(), "000000");
    let before = whole_feed(&c, &d).await;
    assert_eq!(before.len(), 3);
    // Wait until a delivery was attempted and refused, then kill licd outright.
    while rx.got().is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.kill();

    rx.set(Mode::Ok);
    let d = Daemon::start(dir.path(), &flags);
    let got = rx.wait_accepted(3, Duration::from_secs(30)).await;
    let seqs: Vec<u64> = got
        .iter()
        .map(|g| g.json()["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    // The feed goes on from where it was, still without gaps, after the restart.
    let a = v1(&c, &d, &get_license("SK-9", "sk-9")).await;
    assert_eq!(a.code(), "000000");
    let after = whole_feed(&c, &d).await;
    assert_eq!(after.len(), 4);
    assert_eq!(after[..3], before[..]);
    assert_eq!(rx.wait_accepted(4, Duration::from_secs(20)).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_long_polls_flags_test_calls_and_refuses_bad_queries() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    assert_eq!(
        events(&c, &d, "").await,
        json!({"events": [], "next": 0, "head": 0})
    );

    // A long poll answers with the event committed while it waited.
    let waiting = {
        let page = common::events_page(&c, &d, "after=0&wait=20");
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            (page.await, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let a = v1(&c, &d, &get_license("LP-1", "lp-1")).await;
    assert_eq!(a.code(), "000000");
    let (page, took) = waiting.await.unwrap();
    assert_eq!(page["events"][0]["type"], "license.issued", "{page}");
    assert!(took < Duration::from_secs(15), "{took:?}");

    // A dial test is an event flagged test, not a gap.
    let mut test = get_license("LP-T", "lp-t");
    test.push(("testFlag", "1"));
    assert_eq!(v1(&c, &d, &test).await.code(), "000000");
    let feed = whole_feed(&c, &d).await;
    assert_eq!(feed.len(), 2);
    assert_eq!(feed[1]["test"], true);
    assert_eq!(feed[0]["test"], false);

    for bad in ["limit=0", "limit=1001", "wait=31", "after=-1", "colour=red"] {
        let (status, body) = admin(&c, &d, Method::GET, &format!("/events?{bad}"), None).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // Without the token, nothing.
    let r = c
        .get(format!("{}/admin/v1/events", d.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed_and_a_huge_answer_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = Receiver::start(Mode::Ok).await;
    let redirecting = Receiver::start(Mode::Redirect(elsewhere.url())).await;
    let huge = Receiver::start(Mode::Huge(64 << 20)).await;
    let file = webhooks_file(
        dir.path(),
        &[
            ("redirecting", &redirecting.url(), &["*"]),
            ("huge", &huge.url(), &["*"]),
        ],
    );
    let d = Daemon::start(dir.path(), &["--webhooks", &file, NORMAL[0], NORMAL[1]]);
    d.wait_log("webhook endpoint starts after the newest event");
    let c = client();
    assert_eq!(
        v1(&c, &d, &get_license("RD-1", "rd-1")).await.code(),
        "000000"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let (_, listed) = admin(&c, &d, Method::GET, "/webhooks", None).await;
        let errors = listed["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["last_error"].is_string())
            .count();
        if errors == 2 || std::time::Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let error_of = |name: &str| {
        listed["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()["last_error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(error_of("redirecting").contains("HTTP 302"), "{listed}");
    assert!(error_of("redirecting").contains("not followed"), "{listed}");
    assert!(elsewhere.got().is_empty(), "the redirect was followed");
    assert!(error_of("huge").starts_with("HTTP 500"), "{listed}");
    assert!(error_of("huge").len() < 400, "{}", error_of("huge").len());

    // The test delivery says what happened, and fails as a command.
    let o = d.licctl(&["webhooks", "test", "redirecting"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("HTTP 302"));
    let o = d.licctl(&["webhooks", "test", "nobody"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
}

#[test]
fn a_webhooks_file_that_would_leak_or_mislead_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let good = |url: &str| webhooks_file(dir.path(), &[("crm", url, &["license.*"])]);

    // A secret other users can read.
    let file = good("https://crm.example.com/hook");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.path().join("hook.secret"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let o = common::serve_refused(dir.path(), &["--webhooks", &file]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("chmod 600"),
        "{o:?}"
    );

    // Plain HTTP beyond loopback; credentials in the URL; a pattern that names nothing.
    for (url, events, says) in [
        ("http://crm.example.com/hook", "license.*", "plain HTTP"),
        (
            "https://user:pw@crm.example.com/hook",
            "license.*",
            "no user name",
        ),
        (
            "https://crm.example.com/hook",
            "licence.*",
            "names no event type",
        ),
    ] {
        let file = webhooks_file(dir.path(), &[("crm", url, &[events])]);
        let o = common::serve_refused(dir.path(), &["--webhooks", &file]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{url} {events}: {err}");
        assert!(!err.contains("pw@"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_webhooks_and_a_bad_file_keeps_the_endpoints_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let first = Receiver::start(Mode::Ok).await;
    let second = Receiver::start(Mode::Ok).await;
    let file = webhooks_file(dir.path(), &[("first", &first.url(), &["*"])]);
    let d = Daemon::start(dir.path(), &["--webhooks", &file, NORMAL[0], NORMAL[1]]);
    d.wait_log("webhook endpoint starts after the newest event");
    let c = client();

    // A second endpoint, and SIGHUP: both get the next event.
    webhooks_file(
        dir.path(),
        &[
            ("first", &first.url(), &["*"]),
            ("second", &second.url(), &["*"]),
        ],
    );
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &d.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    d.wait_log("webhooks reloaded");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !d.log().matches("webhook endpoint starts").count().eq(&2) {
        assert!(std::time::Instant::now() < deadline, "{}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        v1(&c, &d, &get_license("HUP-1", "hup-1")).await.code(),
        "000000"
    );
    assert_eq!(
        first.wait_accepted(1, Duration::from_secs(20)).await.len(),
        1
    );
    assert_eq!(
        second.wait_accepted(1, Duration::from_secs(20)).await.len(),
        1
    );

    // A file that does not load is refused by `licctl webhooks reload`; both endpoints stay.
    std::fs::write(&file, "[[webhook]]\nname = \"x\"\n").unwrap();
    let o = d.licctl(&["webhooks", "reload"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("stay in use"),
        "{o:?}"
    );
    assert_eq!(
        v1(&c, &d, &get_license("HUP-2", "hup-2")).await.code(),
        "000000"
    );
    assert_eq!(
        first.wait_accepted(2, Duration::from_secs(20)).await.len(),
        2
    );
    assert_eq!(
        second.wait_accepted(2, Duration::from_secs(20)).await.len(),
        2
    );
}

#[cfg(target_os = "linux")]
#[test]
fn the_senders_run_below_the_callbacks_unless_told_otherwise() {
    // The nice value of licd's threads, by name, from /proc.
    fn nice_of(d: &Daemon) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{}/task", d.pid())).unwrap() {
            let path = task.unwrap().path();
            let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
            // Field 19 (nice), counted after the parenthesised command name.
            let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
            let nice = after
                .split_whitespace()
                .nth(16)
                .and_then(|n| n.parse().ok());
            if let Some(nice) = nice {
                out.push((comm.trim().to_string(), nice));
            }
        }
        out
    }
    for (flags, want) in [(&[][..], 19), (&NORMAL[..], 0)] {
        let dir = tempfile::tempdir().unwrap();
        let d = Daemon::start(dir.path(), flags);
        // The thread starts right after "listening": wait for it to be named and placed.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let threads = loop {
            let threads = nice_of(&d);
            let senders: Vec<i64> = threads
                .iter()
                .filter(|(name, _)| name == "licd-webhooks")
                .map(|(_, n)| *n)
                .collect();
            if senders == [want] {
                break threads;
            }
            assert!(std::time::Instant::now() < deadline, "{threads:?}");
            std::thread::sleep(Duration::from_millis(20));
        };
        // Everything else stays at normal priority.
        assert!(
            threads
                .iter()
                .filter(|(name, _)| name.starts_with("tokio-rt"))
                .all(|(_, n)| *n == 0),
            "{threads:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let o = common::serve_refused(dir.path(), &["--webhooks-priority", "urgent"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("expected low or normal"),
        "{o:?}"
    );
}
