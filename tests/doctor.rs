//! `licd doctor` with the configuration of a real daemon: a healthy server passes every line,
//! and each problem planted (a wrong SK, a skewed clock, a bad catalog, files others can read,
//! an exposed admin API, a certificate near or past its end, no backup, no daemon) is named on
//! its own line with the level it deserves and the exit status that follows.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use client_verifier::Timestamp;
use common::fake_market::FakeMarket;
use common::tls::ymd;
use common::{CALLBACK, Daemon, market_flags, write_secret};
use serde_json::Value;

/// `licd doctor --json` with the daemon's own settings (`dir`'s data, keys and access key, the
/// daemon's addresses) and `extra`: its exit status and its checks by name.
fn doctor(dir: &Path, addrs: Option<&Daemon>, extra: &[String]) -> (i32, Vec<Value>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_licd"));
    cmd.args(["--json", "doctor"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--keys-dir")
        .arg(dir.join("keys"))
        .env_remove("LICD_ADMIN_TOKEN")
        .env_remove("LICD_ADMIN_URL")
        .env_remove("LICD_ADMIN_TOKEN_FILE")
        .env_remove("LICD_PUBLIC_URL")
        .env_remove("LICD_ACCESS_KEY");
    if dir.join("access.key").exists() && !extra.iter().any(|a| a == "--access-key-file") {
        cmd.arg("--access-key-file").arg(dir.join("access.key"));
    }
    if let Some(d) = addrs {
        if !extra.iter().any(|a| a == "--listen") {
            cmd.arg("--listen").arg(d.addr.to_string());
        }
        if !extra.iter().any(|a| a == "--admin-listen") {
            cmd.arg("--admin-listen").arg(d.admin_addr.to_string());
        }
    }
    let out = cmd.args(extra).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(report["status"], out.status.code().unwrap());
    (
        out.status.code().unwrap(),
        report["checks"].as_array().unwrap().clone(),
    )
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no {name:?} line in {checks:#?}"))
}

fn level<'a>(checks: &'a [Value], name: &str) -> &'a str {
    check(checks, name)["level"].as_str().unwrap()
}

/// A certificate for `localhost` from a year ago to `days` from now, in `dir`.
fn certificate(dir: &Path, days: i64) -> (PathBuf, PathBuf) {
    let now = Timestamp::now();
    common::tls::certificate(
        dir,
        ymd(now.add_secs(-365 * 86_400)),
        ymd(now.add_secs(days * 86_400)),
    )
}

/// `licctl marketplace rehearse` of `goods` against `url` (trusting `ca`, if any); must pass.
fn rehearse(root: &Path, url: &str, ca: Option<&Path>, goods: &str, reading: &str) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_licctl"));
    cmd.args([
        "marketplace",
        "rehearse",
        "--goods",
        goods,
        "--reading",
        reading,
    ])
    .args([
        "--url",
        url,
        "--access-key-file",
        &s(&root.join("access.key")),
    ]);
    if let Some(ca) = ca {
        cmd.args(["--ca-file", &s(ca)]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| (*a).to_string()).collect()
}

#[test]
fn a_healthy_server_passes_and_each_planted_problem_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let market = FakeMarket::start();
    let (cert, key) = certificate(&root.join("tls"), 365);
    let mut flags = market_flags(root, &market.url(), &market);
    flags.extend(args(&["--tls-cert", &s(&cert), "--tls-key", &s(&key)]));
    let flag_refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let d = Daemon::start(root, &flag_refs);

    // A backup, and V2 callbacks signed under the Kit reading.
    let token = root.join("data/admin.token");
    let backup = Command::new(env!("CARGO_BIN_EXE_licd"))
        .args(["backup", "--to", &s(&root.join("b.backup"))])
        .args([
            "--admin-url",
            &d.admin_url(),
            "--admin-token-file",
            &s(&token),
        ])
        .output()
        .unwrap();
    assert!(backup.status.success(), "{backup:?}");
    let url = format!("https://localhost:{}{CALLBACK}", d.addr.port());
    rehearse(root, &url, Some(&cert), "2.0", "kit");

    // The console: the shared token still signs in, which doctor warns of; an admin
    // account and the token turned off for the console are what it wants.
    let (_, checks) = doctor(root, Some(&d), &flags);
    let sign_in = check(&checks, "console sign-in");
    assert_eq!(sign_in["level"], "warning", "{sign_in}");
    assert!(
        sign_in["fix"]
            .as_str()
            .unwrap()
            .contains("console_token_sign_in = false"),
        "{sign_in}"
    );
    let mut no_token = flags.clone();
    no_token.extend(args(&["--console-token-sign-in", "false"]));
    let (_, checks) = doctor(root, Some(&d), &no_token);
    let sign_in = check(&checks, "console sign-in");
    assert_eq!(sign_in["level"], "warning", "no admin account: {sign_in}");
    let o = d.licctl(&["users", "add", "root-admin", "--role", "admin"]);
    assert!(o.status.success(), "{o:?}");

    let mut healthy = no_token;
    healthy.extend(args(&["--public-url", &url, "--ca-file", &s(&cert)]));
    let (status, checks) = doctor(root, Some(&d), &healthy);
    for name in [
        "configuration",
        "signing keys",
        "access key",
        "open API",
        "clock",
        "catalog",
        "webhooks",
        "database",
        "outbox",
        "backup",
        "public listener",
        "public TLS",
        "public address",
        "admin listener",
        "console sign-in",
        "V2 signature",
    ] {
        assert_eq!(level(&checks, name), "ok", "{name}: {checks:#?}");
    }
    // Free space depends on the machine; the rest is this server's.
    let disk = level(&checks, "disk");
    assert!(disk == "ok" || disk == "warning", "{checks:#?}");
    assert_eq!(status, i32::from(disk == "warning"), "{checks:#?}");
    assert!(
        check(&checks, "database")["detail"]
            .as_str()
            .unwrap()
            .contains("from the running licd")
    );
    assert_eq!(
        check(&checks, "V2 signature")["fix"],
        "pin it: --v2-signature kit"
    );
    assert!(
        check(&checks, "open API")["detail"]
            .as_str()
            .unwrap()
            .contains("answered CBC.0101")
    );

    // The gateway's clock two minutes ahead of ours: V2 callbacks would be refused.
    market.set_clock_offset(120);
    let (status, checks) = doctor(root, Some(&d), &flags);
    assert_eq!(status, 2);
    assert_eq!(level(&checks, "clock"), "failure");
    assert!(
        check(&checks, "clock")["detail"]
            .as_str()
            .unwrap()
            .contains("behind the marketplace's"),
        "{checks:#?}"
    );
    market.set_clock_offset(-30);
    let (_, checks) = doctor(root, Some(&d), &flags);
    assert_eq!(level(&checks, "clock"), "warning", "{checks:#?}");
    market.set_clock_offset(0);

    // A secret key the marketplace refuses.
    let wrong_sk = root.join("wrong.sk");
    write_secret(&wrong_sk, b"not-the-secret");
    let mut wrong = flags.clone();
    let at = wrong
        .iter()
        .position(|a| a == "--marketplace-sk-file")
        .unwrap();
    wrong[at + 1] = s(&wrong_sk);
    let (status, checks) = doctor(root, Some(&d), &wrong);
    assert_eq!(status, 2);
    assert_eq!(level(&checks, "open API"), "failure");
    let detail = check(&checks, "open API")["detail"].as_str().unwrap();
    assert!(
        detail.contains("refused the AK/SK") && detail.contains("CBC.0150"),
        "{detail}"
    );
    assert!(
        !detail.contains("not-the-secret"),
        "the secret is never shown"
    );

    // A catalog that does not parse.
    let bad = root.join("products.toml");
    std::fs::write(&bad, "[[product]]\nid = \n").unwrap();
    let mut catalog = flags.clone();
    catalog.extend(args(&["--products", &s(&bad)]));
    let (_, checks) = doctor(root, Some(&d), &catalog);
    assert_eq!(level(&checks, "catalog"), "failure", "{checks:#?}");

    // A webhook secret others can read.
    let hook_secret = root.join("hook.secret");
    std::fs::write(&hook_secret, "whsec-doctor-0123456789").unwrap();
    std::fs::set_permissions(&hook_secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let hooks = root.join("webhooks.toml");
    std::fs::write(
        &hooks,
        "[[webhook]]\nname = \"crm\"\nurl = \"https://crm.example.com/h\"\nsecret_file = \"hook.secret\"\nevents = [\"*\"]\n",
    )
    .unwrap();
    let mut webhooks = flags.clone();
    webhooks.extend(args(&["--webhooks", &s(&hooks)]));
    let (_, checks) = doctor(root, Some(&d), &webhooks);
    assert_eq!(level(&checks, "webhooks"), "failure", "{checks:#?}");
    std::fs::set_permissions(&hook_secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, checks) = doctor(root, Some(&d), &webhooks);
    assert_eq!(level(&checks, "webhooks"), "ok", "{checks:#?}");

    // Secrets others can read.
    let ak = root.join("access.key");
    std::fs::set_permissions(&ak, std::fs::Permissions::from_mode(0o644)).unwrap();
    let secret = std::fs::read_dir(root.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".k4.secret"))
        .unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (status, checks) = doctor(root, Some(&d), &flags);
    assert_eq!(status, 2);
    assert_eq!(level(&checks, "access key"), "failure", "{checks:#?}");
    assert_eq!(level(&checks, "signing keys"), "failure", "{checks:#?}");
    std::fs::set_permissions(&ak, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();

    // The admin API beyond loopback in clear text.
    let mut exposed = flags.clone();
    exposed.extend(args(&[
        "--admin-listen",
        &format!("0.0.0.0:{}", d.admin_addr.port()),
        "--admin-insecure-plaintext",
    ]));
    let (_, checks) = doctor(root, Some(&d), &exposed);
    assert_eq!(level(&checks, "admin listener"), "failure", "{checks:#?}");

    // The public port not answering while the admin API does.
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = elsewhere.local_addr().unwrap().to_string();
    drop(elsewhere);
    let mut moved = flags.clone();
    moved.extend(args(&["--listen", &closed]));
    let (_, checks) = doctor(root, Some(&d), &moved);
    assert_eq!(level(&checks, "public listener"), "failure", "{checks:#?}");

    // A device license the marketplace refuses for good: a dead letter.
    market.fail_next_upload_with(200, "91381037", "Invalid license format.");
    rehearse(root, &url, Some(&cert), "online", "license2");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, checks) = doctor(root, Some(&d), &flags);
        if level(&checks, "outbox") == "failure" {
            assert_eq!(status, 2);
            assert!(
                check(&checks, "outbox")["fix"]
                    .as_str()
                    .unwrap()
                    .contains("licctl outbox list --dead")
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no dead letter: {checks:#?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // Certificates near and past their end.
    for (days, expected) in [(10, "failure"), (20, "warning"), (-3, "failure")] {
        let (c, k) = certificate(&root.join(format!("tls{days}")), days);
        let mut ending = flags.clone();
        let at = ending.iter().position(|a| a == "--tls-cert").unwrap();
        ending[at + 1] = s(&c);
        ending[at + 3] = s(&k);
        let (_, checks) = doctor(root, Some(&d), &ending);
        assert_eq!(
            level(&checks, "public TLS"),
            expected,
            "{days} days: {checks:#?}"
        );
    }
}

#[test]
fn without_a_daemon_doctor_opens_the_store_and_says_what_it_could_not_check() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let d = Daemon::start(root, &[]);
    let url = format!("http://{}{CALLBACK}", d.addr);
    rehearse(root, &url, None, "1.0", "license2");

    // Running, but doctor has the wrong token: the database is held, and it says by whom.
    let wrong = root.join("wrong.token");
    write_secret(&wrong, b"not-the-token");
    let (status, checks) = doctor(root, Some(&d), &args(&["--admin-token-file", &s(&wrong)]));
    assert_eq!(status, 2);
    let db = check(&checks, "database");
    assert_eq!(db["level"], "failure");
    assert!(
        db["detail"].as_str().unwrap().contains("is using")
            && db["detail"].as_str().unwrap().contains("did not answer"),
        "{db}"
    );

    let addrs = (d.addr, d.admin_addr);
    assert!(d.terminate().success());
    let listen = args(&[
        "--listen",
        &addrs.0.to_string(),
        "--admin-listen",
        &addrs.1.to_string(),
    ]);
    let (status, checks) = doctor(root, None, &listen);
    let db = check(&checks, "database");
    assert_eq!(db["level"], "ok", "{checks:#?}");
    assert!(
        db["detail"].as_str().unwrap().contains("1 licenses"),
        "{db}"
    );
    assert!(
        db["detail"].as_str().unwrap().contains("opened by doctor"),
        "{db}"
    );
    assert_eq!(level(&checks, "backup"), "warning");
    assert_eq!(level(&checks, "public listener"), "skipped");
    assert_eq!(level(&checks, "V2 signature"), "skipped");
    assert_eq!(level(&checks, "open API"), "skipped");
    assert_eq!(status, 1, "warnings only: {checks:#?}");
}

#[test]
fn a_server_with_nothing_configured_is_told_what_licd_would_make_up() {
    let dir = tempfile::tempdir().unwrap();
    let (status, checks) = doctor(dir.path(), None, &[]);
    assert_eq!(status, 1, "{checks:#?}");
    assert_eq!(level(&checks, "signing keys"), "warning");
    assert!(
        check(&checks, "signing keys")["fix"]
            .as_str()
            .unwrap()
            .contains("licd keys generate")
    );
    assert_eq!(level(&checks, "access key"), "warning");
    assert_eq!(level(&checks, "database"), "warning");
    assert!(
        !dir.path().join("data").exists(),
        "doctor creates nothing: {checks:#?}"
    );

    // A configuration licd serve would refuse is the one failure.
    let out = Command::new(env!("CARGO_BIN_EXE_licd"))
        .args(["doctor", "--freeze-days", "99999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("FAILURE  configuration"), "{text}");
}
