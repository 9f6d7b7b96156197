//! `licd backup` / `licd restore` end to end: the real daemon under a load of signed callbacks,
//! a snapshot taken through the admin API while the load runs, and a daemon started on the
//! restored data that answers every order acknowledged before the snapshot with the very same
//! license.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Daemon, client, v1, v2};
use serde_json::json;

fn licd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_licd"))
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn get_license(order: &str) -> Vec<(&'static str, String)> {
    vec![
        ("activity", "getLicense".into()),
        ("customerId", "cust-68cbc86a".into()),
        ("businessId", format!("biz-{order}")),
        ("orderId", order.into()),
        ("productId", "OFFI454488918838374".into()),
        ("skuCode", "sku-pro".into()),
        ("expireTime", "20991231000000".into()),
    ]
}

fn new_instance(order: &str) -> serde_json::Value {
    json!({"activity": "newInstance", "businessId": format!("inst-{order}"), "orderId": order,
           "orderLineId": format!("{order}-000001"), "testFlag": "0"})
}

/// One acknowledged callback: what to resend, and what it answered.
#[derive(Debug, Clone)]
struct Ack {
    order: String,
    online: bool,
    instance: String,
    license: Option<String>,
    at: Instant,
}

async fn send(c: &reqwest::Client, d: &Daemon, order: &str, online: bool) -> common::Answer {
    if online {
        v2(c, d, &new_instance(order)).await
    } else {
        let params = get_license(order);
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        v1(c, d, &params).await
    }
}

/// Takes a backup of `d` into `file` with `licd backup`.
fn take_backup(d: &Daemon, file: &Path) -> Output {
    let token = d.dir.join("data/admin.token");
    licd(&[
        "backup",
        "--to",
        s(file),
        "--admin-url",
        &d.admin_url(),
        "--admin-token-file",
        s(&token),
    ])
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_load_restores_every_acknowledged_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = Arc::new(Daemon::start(&dir.path().join("old"), &[]));
    let acks = Arc::new(Mutex::new(Vec::<Ack>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..6 {
        let (d, acks, stop) = (d.clone(), acks.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let c = client();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let online = worker % 2 == 1;
                let order = format!("CS{worker}-{i:05}");
                let a = send(&c, &d, &order, online).await;
                assert_eq!(a.code(), "000000", "{order}: {:?}", a.json);
                acks.lock().unwrap().push(Ack {
                    order,
                    online,
                    instance: a.json["instanceId"].as_str().unwrap().to_string(),
                    license: a.json["license"].as_str().map(str::to_string),
                    at: Instant::now(),
                });
            }
        }));
    }
    while acks.lock().unwrap().len() < 300 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let file = dir.path().join("licd.backup");
    let started = Instant::now();
    let out = {
        let (d, file) = (d.clone(), file.clone());
        tokio::task::spawn_blocking(move || take_backup(&d, &file))
            .await
            .unwrap()
    };
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "licd backup: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Let the load run past the snapshot, so the snapshot was surely taken under load.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    let acks = acks.lock().unwrap().clone();
    let before: Vec<&Ack> = acks.iter().filter(|a| a.at < started).collect();
    let after = acks.len() - before.len();
    assert!(
        after > 0,
        "the load must still run while the backup is taken"
    );
    assert!(stdout.contains("backup written to"), "{stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a backup holds customer data: owner-only");
    }
    assert!(!PathBuf::from(format!("{}.partial", s(&file))).exists());
    assert!(
        d.wait_log("backup taken")
            .lines()
            .any(|l| l.contains("backup taken") && l.contains("actor=licd-backup")),
        "the daemon logs who took a backup"
    );

    // Restore into a fresh installation: keys copied over as an operator would (they are not
    // in the backup), data from the backup only.
    let new = dir.path().join("new");
    copy_dir(&dir.path().join("old/keys"), &new.join("keys"));
    let data = new.join("data");
    let out = licd(&["restore", "--from", s(&file), "--data-dir", s(&data)]);
    assert!(out.status.success(), "licd restore: {out:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
    assert!(
        !data.join("admin.token").exists(),
        "secrets are not in a backup"
    );
    {
        let store = licd::store::SledStore::open(&data.join("db"), 1 << 20).unwrap();
        use licd::store::Store;
        let n = store
            .verify_audit_chain()
            .await
            .unwrap()
            .expect("audit chain");
        assert!(n >= before.len() as u64, "{n} audit events");
        // No commit is half in the snapshot: the status counts (kept in `meta`, exported after
        // `licenses`) match the licenses, and each license has exactly one audit event.
        let licenses = store.licenses_page(None, usize::MAX).await.unwrap();
        let c = store.counts().await.unwrap();
        assert_eq!(c.active + c.frozen + c.released, licenses.len() as u64);
        assert_eq!(n, licenses.len() as u64);
    }

    let d2 = Daemon::start(&new, &[]);
    let c = client();
    for a in &before {
        let again = send(&c, &d2, &a.order, a.online).await;
        assert_eq!(again.code(), "000000", "{}: {:?}", a.order, again.json);
        assert_eq!(
            again.json["instanceId"].as_str(),
            Some(a.instance.as_str()),
            "{} acknowledged before the backup must be in it",
            a.order
        );
        assert_eq!(
            again.json["license"].as_str(),
            a.license.as_deref(),
            "{}: the same license, byte for byte",
            a.order
        );
    }
    eprintln!(
        "{} orders acknowledged before the backup checked, {after} after it; backup took {:?}",
        before.len(),
        started.elapsed()
    );
}

/// A daemon with a few licenses, and a good backup of it.
async fn small_backup(dir: &Path) -> (Daemon, PathBuf) {
    let d = Daemon::start(&dir.join("d"), &[]);
    let c = client();
    for i in 0..20 {
        let a = send(&c, &d, &format!("CS-{i}"), i % 2 == 0).await;
        assert_eq!(a.code(), "000000");
    }
    let file = dir.join("good.backup");
    let out = take_backup(&d, &file);
    assert!(out.status.success(), "{out:?}");
    (d, file)
}

fn refused(from: &Path, data: &Path, expect: &str) {
    let out = licd(&["restore", "--from", s(from), "--data-dir", s(data)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "restore of {from:?} must fail");
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    assert!(err.contains(expect), "{err}");
    assert!(
        !data.exists() || std::fs::read_dir(data).unwrap().next().is_none(),
        "a refused restore writes nothing into {data:?}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(data.parent().unwrap())
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().to_string();
            n.contains("restoring").then_some(n)
        })
        .collect();
    assert!(leftovers.is_empty(), "temporary dirs left: {leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_or_truncated_backup_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_d, good) = small_backup(dir.path()).await;
    let bytes = std::fs::read(&good).unwrap();

    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    let corrupt = dir.path().join("flipped.backup");
    std::fs::write(&corrupt, &flipped).unwrap();
    refused(&corrupt, &dir.path().join("r1"), "corrupted");

    let truncated = dir.path().join("truncated.backup");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    refused(&truncated, &dir.path().join("r2"), "truncated");

    // An empty target directory stays empty.
    let empty = dir.path().join("r3");
    std::fs::create_dir(&empty).unwrap();
    refused(&corrupt, &empty, "corrupted");

    // The good one restores.
    let out = licd(&["restore", "--from", s(&good), "--data-dir", s(&empty)]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("20 licenses"));
}

#[test]
fn restore_refuses_a_non_empty_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("keep.me"), "x").unwrap();
    let out = licd(&[
        "restore",
        "--from",
        s(&dir.path().join("any.backup")),
        "--data-dir",
        s(&data),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is not empty"), "{err}");
    assert_eq!(std::fs::read_to_string(data.join("keep.me")).unwrap(), "x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_with_wrong_admin_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&dir.path().join("d"), &[]);
    let token = dir.path().join("wrong.token");
    std::fs::write(&token, "0123456789abcdef0123456789abcdef").unwrap();
    let file = dir.path().join("x.backup");
    let out = licd(&[
        "backup",
        "--to",
        s(&file),
        "--admin-url",
        &d.admin_url(),
        "--admin-token-file",
        s(&token),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("wrong admin token"), "{err}");
    assert!(!file.exists());
    assert!(!PathBuf::from(format!("{}.partial", s(&file))).exists());
}

/// A daemon whose audit log holds about 30 MB (far more than the response channel and the
/// socket buffers hold), made in-process before it starts.
fn daemon_with_a_large_store(dir: &Path) -> Daemon {
    use licd::store::{AuditEvent, Batch, SledStore, Store};
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SledStore::open(&data.join("db"), 1 << 22).unwrap();
        let pad = "x".repeat(10_000);
        for batch in 0..30 {
            let audit = (0..100)
                .map(|i| AuditEvent {
                    at: client_verifier::Timestamp::now(),
                    license_id: format!("filler-{batch}-{i}"),
                    action: "filler".into(),
                    actor: "test".into(),
                    detail: json!({ "pad": pad }),
                })
                .collect();
            store
                .commit(Batch {
                    audit,
                    ..Batch::default()
                })
                .await
                .unwrap();
        }
        store.flush().await.unwrap();
    });
    Daemon::start(dir, &[])
}

/// A backup client that reads the body very slowly holds no callback up: the daemon streams
/// without the write lock, and the callback answered mid-backup is in the backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_backup_client_does_not_hold_callbacks() {
    let dir = tempfile::tempdir().unwrap();
    let d = tokio::task::spawn_blocking({
        let p = dir.path().join("d");
        move || daemon_with_a_large_store(&p)
    })
    .await
    .unwrap();
    let mut resp = reqwest::Client::new()
        .get(format!("{}/admin/v1/backup", d.admin_url()))
        .bearer_auth(d.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.chunk().await.unwrap().unwrap().to_vec();
    // Stop reading: the daemon fills the channel and the socket, then waits for us.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        !d.log().contains("backup taken"),
        "the backup must still be streaming: make the store larger"
    );

    let c = client();
    let started = Instant::now();
    let a = tokio::time::timeout(Duration::from_secs(5), send(&c, &d, "CS-mid", false))
        .await
        .expect("the callback waited for the backup");
    let took = started.elapsed();
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    assert!(took < Duration::from_secs(1), "the callback took {took:?}");
    assert!(!d.log().contains("backup taken"), "still streaming");

    while let Some(chunk) = resp.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let summary = licd::backup::check(|| Ok(&body[..])).unwrap();
    assert_eq!(
        summary.licenses, 1,
        "the license made mid-backup is in it (it committed before the end)"
    );
    assert_eq!(summary.audit_events, 3_001);
    let log = d.wait_log("backup taken");
    let line = log
        .lines()
        .find(|l| l.contains("backup taken"))
        .expect("backup taken");
    let held: f64 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("writes_held_ms="))
        .expect("writes_held_ms in the log")
        .parse()
        .unwrap();
    assert!(held < 1_000.0, "writes were held {held} ms: {line}");
    eprintln!("callback mid-backup took {took:?}; {line}");
}
