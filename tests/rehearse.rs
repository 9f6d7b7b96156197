//! `licctl marketplace rehearse` against a running licd: it passes where the marketplace's
//! debugging would pass, and fails with a line that says what to fix where it would not: a
//! wrong access key, a pinned V2 reading it does not sign with, an expired certificate, an
//! answer slower than 5 s.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{ACCESS_KEY, CALLBACK, Daemon, write_secret};
use serde_json::Value;

/// `licctl marketplace rehearse --url URL --access-key-file KEY EXTRA…`.
fn rehearse(url: &str, key: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_licctl"))
        .args(["marketplace", "rehearse", "--url", url, "--access-key-file"])
        .arg(key)
        .args(extra)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn certificate(dir: &Path, not_before: (i32, u8, u8), not_after: (i32, u8, u8)) {
    common::tls::certificate(dir, not_before, not_after);
}

/// Rehearses against `url` with `key`, trusting `dir`'s certificate.
fn rehearse_tls(dir: &Path, url: &str, key: &Path) -> Output {
    let ca = dir.join("cert.pem");
    rehearse(url, key, &["--ca-file", ca.to_str().unwrap()])
}

fn tls_daemon(dir: &Path, extra: &[&str]) -> Daemon {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let mut args = vec![
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Daemon::start(dir, &args)
}

#[test]
fn a_rehearsal_over_tls_passes_every_debug_case_of_every_goods_and_replays_them() {
    let dir = tempfile::tempdir().unwrap();
    certificate(dir.path(), (2025, 1, 1), (2099, 1, 1));
    // Pinned to the Kit reading, and rehearsed under it: what an ISV does after the first match.
    let d = tls_daemon(dir.path(), &["--v2-signature", "kit"]);
    let url = format!("https://localhost:{}{CALLBACK}", d.addr.port());
    let key = dir.path().join("access.key");
    let ca = dir.path().join("cert.pem");
    let args = ["--ca-file", ca.to_str().unwrap(), "--reading", "kit"];
    for run in [
        "first",
        "second (the dial tests' replay of the saved cases)",
    ] {
        let out = rehearse(&url, &key, &[&args[..], &["--json"]].concat());
        assert!(out.status.success(), "{run} run: {}", text(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["passed"], true);
        assert_eq!(report["tls"]["passed"], true, "{report}");
        let checks = report["checks"].as_array().unwrap();
        // 4 + 6 + 4 cases, each sent twice, in two rounds.
        assert_eq!(checks.len(), (4 + 6 + 4) * 2 * 2, "{run}");
        for c in checks {
            assert_eq!(c["passed"], true, "{c}");
        }
        for goods in ["1.0", "online", "2.0"] {
            for round in ["debug", "dial test"] {
                assert!(
                    checks
                        .iter()
                        .any(|c| c["goods"] == goods && c["round"] == round),
                    "{goods} {round}"
                );
            }
        }
        let issued: Vec<&Value> = checks
            .iter()
            .filter(|c| c["activity"] == "getLicense")
            .map(|c| &c["answer"]["license"])
            .collect();
        assert!(issued.iter().all(|l| *l == issued[0] && l.is_string()));
        assert!(
            report["notes"][0]
                .as_str()
                .unwrap()
                .contains("cannot see that upload")
        );
    }
    // The table for people, with the certificate's days.
    let out = rehearse(&url, &key, &args);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("certificate for localhost: valid until 2099-01-01"),
        "{t}"
    );
    assert!(
        t.contains("dial test  2.0     releaseLicenseCode (resent)"),
        "{t}"
    );
    // The records are test records: the license list leaves them out unless asked (JSON
    // lines, one per license).
    let list = |flag: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_licctl"))
            .args(["--admin-url", &d.admin_url(), "--admin-token-file"])
            .arg(d.dir.join("data/admin.token"))
            .args(["licenses", "list", "--json"])
            .args(flag)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap().lines().count()
    };
    assert_eq!(list(&[]), 0);
    assert!(list(&["--test"]) >= 2);
}

#[test]
fn a_wrong_access_key_or_another_reading_fails_with_the_line_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &["--v2-signature", "license2"]);
    let url = format!("http://127.0.0.1:{}{CALLBACK}", d.addr.port());
    let wrong = dir.path().join("wrong.key");
    write_secret(&wrong, b"not-the-key-the-daemon-has");
    let out = rehearse(&url, &wrong, &["--goods", "1.0"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("FAIL: refused as wrongly signed (000001): the access key in"),
        "{t}"
    );
    assert!(t.contains("wrong.key is not the daemon's"), "{t}");
    // Plain http is a warning, not the failure.
    assert!(t.contains("warning: plain http://"), "{t}");

    let right = dir.path().join("access.key");
    assert_eq!(std::fs::read_to_string(&right).unwrap(), ACCESS_KEY);
    let out = rehearse(&url, &right, &["--goods", "2.0", "--reading", "saas"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("pinned (--v2-signature) to another reading"),
        "{t}"
    );
    let out = rehearse(&url, &right, &["--goods", "2.0"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn an_expired_certificate_fails_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    certificate(dir.path(), (2024, 1, 1), (2025, 1, 1));
    let d = tls_daemon(dir.path(), &[]);
    let key = dir.path().join("access.key");
    let url = format!("https://localhost:{}{CALLBACK}", d.addr.port());
    let out = rehearse_tls(dir.path(), &url, &key);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("TLS       the certificate has expired or is not valid yet; renew it"),
        "{t}"
    );
    assert!(!t.contains("debug "), "no call is sent: {t}");

    // Valid, but for another host than the one the marketplace calls.
    let other = dir.path().join("other");
    certificate(&other, (2025, 1, 1), (2099, 1, 1));
    let d2 = tls_daemon(&other, &[]);
    let url = format!("https://127.0.0.1:{}{CALLBACK}", d2.addr.port());
    let out = rehearse_tls(&other, &url, &key);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("not valid for host 127.0.0.1"), "{t}");
}

/// A TCP relay in front of `upstream` that holds back the first answer it relays by `delay`:
/// a licd behind a slow disk or a slow proxy, as the marketplace would meet it.
fn slow_relay(upstream: std::net::SocketAddr, delay: Duration) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let mut first = true;
            loop {
                let (client, _) = listener.accept().await.unwrap();
                let server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let hold = std::mem::take(&mut first).then_some(delay);
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    });
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut hold = hold;
                    loop {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if let Some(d) = hold.take() {
                            tokio::time::sleep(d).await;
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
    });
    addr
}

#[test]
fn an_answer_slower_than_five_seconds_fails_and_says_how_slow() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let relay = slow_relay(d.addr, Duration::from_millis(5300));
    let key = dir.path().join("access.key");
    let out = rehearse(
        &format!("http://{relay}{CALLBACK}"),
        &key,
        &["--goods", "1.0"],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let slow: Vec<&str> = t.lines().filter(|l| l.contains("FAIL")).collect();
    assert_eq!(slow.len(), 1, "only the held-back answer fails: {t}");
    assert!(
        slow[0].starts_with("debug      1.0     getLicense ")
            && slow[0].contains("FAIL: answered in 5.")
            && slow[0].contains("the marketplace gives up after 5 s"),
        "{t}"
    );
    assert!(t.contains("1 of 16 checks failed"), "{t}");
    assert!(
        t.contains("debug      1.0     releaseLicense (resent)"),
        "{t}"
    );
}
