//! Several licd on one PostgreSQL database: what must hold across nodes (one license per
//! purchase, one audit chain, shared nonces, one delivery per job, one key ring), the move from
//! the embedded database, and a restore from `pg_dump`.
//!
//! Needs a server: `LICD_TEST_DATABASE_URL` (`.ci/run` starts one with `scripts/pg-cluster.sh`).
//! Without it these tests are ignored, never passed; under CI a missing server fails them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client_verifier::Timestamp;
use common::fake_market::FakeMarket;
use common::{Daemon, client, get_license, pg, v1_at, v2_raw};
use licd::store::{PgStore, Store};
use serde_json::{Value, json};

/// Copies node `from`'s key directory into `to` (how keys reach a second node).
fn copy_keys(from: &Path, to: &Path) {
    let dst = to.join("keys");
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(from.join("keys")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// A password the test server (trust authentication) ignores, so the logs can be searched for it.
const PASSWORD: &str = "hunter2-never-logged";

/// `url` with [`PASSWORD`] as its password.
fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    match rest.split_once('@') {
        Some((user, host)) => format!(
            "{scheme}://{}:{PASSWORD}@{host}",
            user.split(':').next().unwrap()
        ),
        None => format!("{scheme}://postgres:{PASSWORD}@{rest}"),
    }
}

/// Two nodes on a fresh database, sharing node A's key ring. Their URL carries a password.
fn two_nodes(a: &Path, b: &Path, extra: &[&str]) -> (Daemon, Daemon, String) {
    let url = pg::fresh_database(&pg::require());
    let secret = with_password(&url);
    let mut flags = vec!["--database-url", &secret, "--database-migrate"];
    flags.extend_from_slice(extra);
    let na = Daemon::start(a, &flags);
    copy_keys(a, b);
    let nb = Daemon::start(b, &flags);
    (na, nb, url)
}

async fn open(url: &str) -> PgStore {
    PgStore::open(url, false).await.unwrap()
}

fn one(url: &str, sql: &str) -> String {
    pg::query(url, sql).pop().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn fifty_identical_calls_over_two_nodes_create_one_license_and_one_chain() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b, url) = two_nodes(da.path(), db.path(), &[]);
    let c = client();
    let calls = (0..50).map(|i| {
        let c = c.clone();
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        async move { v1_at(&c, addr, &get_license("CS-TWO", &format!("biz-{i}"))).await }
    });
    let answers = futures_util::future::join_all(calls).await;
    for x in &answers {
        x.check_body_sign();
        assert_eq!(x.code(), "000000", "{:?}", x.json);
        assert_eq!(x.json["license"], answers[0].json["license"]);
        assert_eq!(x.json["instanceId"], answers[0].json["instanceId"]);
    }
    assert_eq!(one(&url, "SELECT count(*) FROM licenses"), "1");
    assert_eq!(one(&url, "SELECT count(*) FROM orders"), "1");
    assert_eq!(
        one(
            &url,
            "SELECT count(*) FROM audit WHERE convert_from(body, 'UTF8')::jsonb #>> '{event,action}' = 'getLicense'"
        ),
        "1",
        "issued once"
    );

    // Distinct purchases from both nodes at once: one chain, no fork, counters that add up.
    let calls = (0..200).map(|i| {
        let c = c.clone();
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        async move {
            let order = format!("CS-MANY-{i}");
            v1_at(&c, addr, &get_license(&order, &format!("m-{i}"))).await
        }
    });
    for x in futures_util::future::join_all(calls).await {
        assert_eq!(x.code(), "000000", "{:?}", x.json);
    }
    let store = open(&url).await;
    assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(201));
    // Someone who reads the logs learns the database's address, never its password.
    for node in [&a, &b] {
        let log = node.wait_log("database=postgres://");
        assert!(!log.contains(PASSWORD), "{log}");
    }
    assert_eq!(store.counts().await.unwrap().active, 201);
    assert_eq!(
        one(&url, "SELECT count(*) FROM licenses WHERE status = 0"),
        "201"
    );
    drop(store);

    // The database itself refuses a fork: a second record continuing record 5.
    let forked = std::panic::catch_unwind(|| {
        pg::exec(
            &url,
            "INSERT INTO audit (seq, prev, hash, license_id, body) SELECT 1000, prev, 'x', license_id, body FROM audit WHERE seq = 6",
        )
    });
    assert!(forked.is_err(), "a fork must violate UNIQUE (prev)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn a_v2_nonce_seen_by_one_node_is_refused_by_the_other() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b, _url) = two_nodes(da.path(), db.path(), &[]);
    let c = client();
    let body = serde_json::to_vec(&json!({"activity": "newInstance", "businessId": "b-n",
        "orderId": "O-N", "orderLineId": "L-N"}))
    .unwrap();
    let now_ms = Timestamp::now().unix() * 1000;
    let first = v2_raw(&c, &a, &body, "nonce-shared-1", now_ms).await;
    assert_eq!(first.code(), "000000", "{:?}", first.json);
    let replay = v2_raw(&c, &b, &body, "nonce-shared-1", now_ms).await;
    replay.check_body_sign();
    assert_eq!(
        replay.code(),
        "000001",
        "replayed on the other node: {:?}",
        replay.json
    );
}

#[test]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
fn a_node_with_another_key_ring_refuses_to_serve_until_it_is_published() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let url = pg::fresh_database(&pg::require());
    let a = Daemon::start(da.path(), &["--database-url", &url, "--database-migrate"]);
    // Node B generated its own key: it would mint tokens node A refuses.
    let licd = env!("CARGO_BIN_EXE_licd");
    let out = Command::new(licd)
        .args(["keys", "generate", "--keys-dir"])
        .arg(db.path().join("keys"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = common::serve_refused(db.path(), &["--database-url", &url]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "started with a foreign key ring: {err}"
    );
    assert!(
        err.contains("differs from the one the database records"),
        "{err}"
    );
    assert!(err.contains("licd keys publish"), "{err}");
    drop(a);

    // Published, B's ring is the one; now A (whose ring differs) is the one refused.
    let out = Command::new(licd)
        .args(["keys", "publish", "--database-url", &url, "--keys-dir"])
        .arg(db.path().join("keys"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let b = Daemon::start(db.path(), &["--database-url", &url]);
    b.wait_log("listening");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn two_nodes_writing_at_once_answer_every_purchase_on_one_audit_chain() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b, url) = two_nodes(da.path(), db.path(), &[]);
    let c = client();
    // Concurrent writers on both nodes, from their first connections on: each node's commits
    // extend the chain the other's just extended.
    let calls = (0..16).map(|w| {
        let c = c.clone();
        let addr = if w % 2 == 0 { a.addr } else { b.addr };
        async move {
            let mut codes = Vec::new();
            for i in 0..25 {
                let (order, business) = (format!("CS-W-{w}-{i}"), format!("w-{w}-{i}"));
                let answer = v1_at(&c, addr, &get_license(&order, &business)).await;
                codes.push(answer.code().to_string());
            }
            codes
        }
    });
    let codes: Vec<String> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(codes.len(), 400);
    assert!(codes.iter().all(|c| c == "000000"), "{codes:?}");
    assert_eq!(one(&url, "SELECT count(*) FROM licenses"), "400");
    let store = open(&url).await;
    assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(400));
    assert_eq!(store.counts().await.unwrap().active, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn sigkill_one_node_under_load_and_the_other_returns_every_acknowledged_license() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b, url) = two_nodes(da.path(), db.path(), &[]);
    let c = client();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..16 {
        let (c, acked, addr) = (c.clone(), acked.clone(), a.addr);
        tasks.push(tokio::spawn(async move {
            for i in 0..400 {
                let order = format!("CS-K-{w}-{i}");
                let key = licd::marketplace::AccessKey::new(common::ACCESS_KEY);
                let q = licd::marketplace::sign_v1_query(
                    &key,
                    &get_license(&order, &format!("k-{w}-{i}")),
                    Timestamp::now(),
                );
                let Ok(resp) = c
                    .get(format!("http://{addr}{}?{q}", common::CALLBACK))
                    .send()
                    .await
                else {
                    return;
                };
                let Ok(body) = resp.bytes().await else { return };
                let v: Value = serde_json::from_slice(&body).unwrap();
                if v["resultCode"] == "000000" {
                    acked
                        .lock()
                        .unwrap()
                        .push((order, w, i, v["license"].clone()));
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 100 {
        assert!(Instant::now() < deadline, "too few acknowledged");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.kill();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    // Every acknowledged purchase, asked again of the surviving node: the same license.
    for (order, w, i, license) in &acked {
        let again = v1_at(&c, b.addr, &get_license(order, &format!("k-{w}-{i}"))).await;
        assert_eq!(again.code(), "000000", "{order}: {:?}", again.json);
        assert_eq!(&again.json["license"], license, "{order}");
    }
    let store = open(&url).await;
    let n = store
        .verify_audit_chain()
        .await
        .unwrap()
        .expect("an unbroken chain");
    assert!(n >= acked.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn two_nodes_deliver_each_device_license_once() {
    let market = FakeMarket::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let url = pg::fresh_database(&pg::require());
    let flags = |dir: &Path| -> Vec<String> {
        let mut f = common::market_flags(dir, &market.url(), &market);
        f.extend([
            "--database-url".into(),
            url.clone(),
            "--database-migrate".into(),
        ]);
        f
    };
    let fa = flags(da.path());
    let a = Daemon::start(
        da.path(),
        &fa.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    copy_keys(da.path(), db.path());
    let fb = flags(db.path());
    let b = Daemon::start(
        db.path(),
        &fb.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let c = client();
    // An instance, then 20 device licenses; the marketplace is down at first, so both nodes'
    // workers see every job due again and again.
    let create = json!({"activity": "newInstance", "businessId": "inst-d", "orderId": "O-D",
        "orderLineId": "L-D"});
    assert_eq!(common::v2(&c, &a, &create).await.code(), "000000");
    // The first 40 uploads fail, so both nodes' workers find the jobs due again and again.
    market.fail_next_uploads(40);
    for i in 0..20 {
        let d = if i % 2 == 0 { &a } else { &b };
        let ask = json!({"activity": "getLicenseAsync", "instanceId": "inst-d",
            "eventId": format!("EV-{i}"), "effectiveTime": "20260101000000",
            "expireTime": "20991231000000", "deviceFingerprint": format!("SN-{i:04}|aa:bb:cc:dd:ee:{i:02x}|C-1|D-1")});
        let x = common::v2(&c, d, &ask).await;
        assert_eq!(x.code(), "000004", "{:?}", x.json);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let distinct = |m: &FakeMarket| {
        let mut e: Vec<String> = m.uploads().iter().map(|u| u.event_id.clone()).collect();
        e.sort();
        e.dedup();
        e.len()
    };
    while distinct(&market) < 20 {
        assert!(
            Instant::now() < deadline,
            "not all delivered:\n{}\n{}",
            a.log(),
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time for a second delivery to show, if any were made.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(market.uploads().len(), 20, "an upload went out twice");
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn a_lease_is_one_nodes_until_released_or_until_that_node_is_gone() {
    use licd::outbox::{Job, Task};
    let url = pg::fresh_database(&pg::require());
    licd_migrate(&["--to", &url]);
    let (s1, s2) = (open(&url).await, open(&url).await);
    let job = Job::new(
        "oq-lease".into(),
        "inst",
        Task::QueryOrder {
            order: "O".into(),
            order_line: "L".into(),
        },
        Timestamp::from_unix(1_700_000_000),
    );
    s1.commit(licd::store::Batch {
        jobs: vec![job.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(s1.lease_jobs(vec![job.clone()]).await.unwrap().len(), 1);
    assert!(
        s2.lease_jobs(vec![job.clone()]).await.unwrap().is_empty(),
        "leased by s1"
    );
    s1.release_jobs(std::slice::from_ref(&job.id)).await;
    assert_eq!(
        s2.lease_jobs(vec![job.clone()]).await.unwrap().len(),
        1,
        "released"
    );
    assert!(
        s1.lease_jobs(vec![job.clone()]).await.unwrap().is_empty(),
        "leased by s2"
    );
    drop(s2); // the node is gone: its session, and the lease with it
    let deadline = Instant::now() + Duration::from_secs(10);
    while s1.lease_jobs(vec![job.clone()]).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the lease outlived its node");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A finished job is not leased again.
    s1.commit(licd::store::Batch {
        jobs_done: vec![job.id.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    s1.release_jobs(std::slice::from_ref(&job.id)).await;
    assert!(s1.lease_jobs(vec![job]).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn a_lease_that_fails_half_way_lets_go_of_what_it_took() {
    use std::io::Write;
    use std::process::Stdio;
    let url = pg::fresh_database(&pg::require());
    licd_migrate(&["--to", &url]);
    let (s1, s2) = (Arc::new(open(&url).await), open(&url).await);
    let job = job_with("oq-cancelled", 0);
    s1.commit(licd::store::Batch {
        jobs: vec![job.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    // Another session holds the outbox table, so that node 1's lease stops after it has taken
    // the job's lock, at its second query…
    let mut holder = Command::new(pg_tool("psql"))
        .args(["-q", "-v", "ON_ERROR_STOP=1", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut sql = holder.stdin.take().unwrap();
    sql.write_all(b"BEGIN;\nLOCK TABLE outbox IN ACCESS EXCLUSIVE MODE;\n")
        .unwrap();
    sql.flush().unwrap();
    let until = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    until("the table lock was never granted", &|| {
        one(
            &url,
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'outbox' AND l.mode = 'AccessExclusiveLock' AND l.granted",
        ) == "1"
    });
    let leasing = {
        let (s1, job) = (s1.clone(), job.clone());
        tokio::spawn(async move { s1.lease_jobs(vec![job]).await })
    };
    // …where it is cancelled, as a statement timeout or an operator would.
    let waiting =
        "FROM pg_stat_activity WHERE application_name = 'licd' AND wait_event_type = 'Lock'";
    until("the lease never waited on the table", &|| {
        one(&url, &format!("SELECT count(*) {waiting}")) == "1"
    });
    one(&url, &format!("SELECT pg_cancel_backend(pid) {waiting}"));
    assert!(
        leasing.await.unwrap().is_err(),
        "a cancelled lease reported success"
    );
    sql.write_all(b"ROLLBACK;\n").unwrap();
    drop(sql);
    holder.wait().unwrap();
    // The session that took the job's lock went with the failure: had it stayed open (or gone
    // back to the pool), the job would be node 1's until that connection closed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while s2.lease_jobs(vec![job.clone()]).await.unwrap().len() != 1 {
        assert!(Instant::now() < deadline, "the failed lease kept the job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And node 1 leases again, on a new session, once node 2 lets go.
    s2.release_jobs(std::slice::from_ref(&job.id)).await;
    assert_eq!(s1.lease_jobs(vec![job]).await.unwrap().len(), 1);
}

/// Runs `licd migrate ARGS` and returns its stdout; panics unless it succeeded.
fn licd_migrate(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_licd"))
        .arg("migrate")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
fn two_nodes_migrating_at_once_apply_each_version_once() {
    // Same database, four at once.
    let url = pg::fresh_database(&pg::require());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || licd_migrate(&["--to", &url]))
        })
        .collect();
    let outs: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        outs.iter().filter(|o| o.contains("applied schema")).count(),
        1,
        "{outs:?}"
    );
    assert_eq!(
        one(&url, "SELECT count(*) FROM schema_migrations"),
        licd::store::pg::SCHEMA_VERSION.to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn an_embedded_database_moves_to_postgresql_without_losing_an_order() {
    assert!(
        std::env::var_os("LICD_TEST_BACKEND").is_none(),
        "starts an embedded node: run without LICD_TEST_BACKEND"
    );
    let dir = tempfile::tempdir().unwrap();
    let sled_dir = dir.path().join("node");
    let d = Daemon::start(&sled_dir, &[]);
    let c = client();
    let mut issued = Vec::new();
    for i in 0..30 {
        let order = format!("CS-MOVE-{i}");
        let x = v1_at(&c, d.addr, &get_license(&order, &format!("mv-{i}"))).await;
        assert_eq!(x.code(), "000000", "{:?}", x.json);
        issued.push((order, i, x.json["license"].clone()));
    }
    let release = vec![
        ("activity", "releaseLicense"),
        ("instanceId", "mv-3"),
        ("orderId", "CS-MOVE-3"),
    ];
    assert_eq!(v1_at(&c, d.addr, &release).await.code(), "000000");
    let body = serde_json::to_vec(
        &json!({"activity": "newInstance", "businessId": "mv-online",
        "orderId": "O-MV", "orderLineId": "L-MV"}),
    )
    .unwrap();
    let now_ms = Timestamp::now().unix() * 1000;
    assert_eq!(
        v2_raw(&c, &d, &body, "nonce-moved", now_ms).await.code(),
        "000000"
    );
    assert!(d.terminate().success());

    let url = pg::fresh_database(&pg::require());
    let from = sled_dir.join("data");
    let out = licd_migrate(&["--to", &url, "--from-data-dir", from.to_str().unwrap()]);
    assert!(out.contains("31 licenses"), "{out}");
    assert!(out.contains("audit records (chain verified)"), "{out}");
    // Twice is refused: the target is no longer empty.
    let again = Command::new(env!("CARGO_BIN_EXE_licd"))
        .args([
            "migrate",
            "--to",
            &url,
            "--from-data-dir",
            from.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds"),
        "{again:?}"
    );

    let p = Daemon::start(&sled_dir, &["--database-url", &url]);
    for (order, i, license) in &issued {
        let x = v1_at(&c, p.addr, &get_license(order, &format!("mv-{i}"))).await;
        assert_eq!(x.code(), "000000", "{order}: {:?}", x.json);
        assert_eq!(&x.json["license"], license, "{order}: byte for byte");
    }
    // The nonce came along: a replay is still a replay.
    assert_eq!(
        v2_raw(&c, &p, &body, "nonce-moved", now_ms).await.code(),
        "000001"
    );
    let store = open(&url).await;
    assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(32));
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.active, counts.released), (30, 1));
    assert_eq!(store.revoked().await.unwrap().1, vec!["mv-3".to_string()]);
    // The dashboard's counters came along: every license not released, by product.
    let grouped: i64 = store
        .stats("grp:")
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert_eq!(grouped, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn a_pg_dump_restores_into_a_database_licd_serves_from() {
    let dir = tempfile::tempdir().unwrap();
    let url = pg::fresh_database(&pg::require());
    let d = Daemon::start(dir.path(), &["--database-url", &url, "--database-migrate"]);
    let c = client();
    let mut issued = Vec::new();
    for i in 0..10 {
        let order = format!("CS-DUMP-{i}");
        let x = v1_at(&c, d.addr, &get_license(&order, &format!("dp-{i}"))).await;
        assert_eq!(x.code(), "000000");
        issued.push((order, i, x.json["license"].clone()));
    }
    // licd backup refuses, and says what to use.
    let out = Command::new(env!("CARGO_BIN_EXE_licd"))
        .args(["backup", "--to"])
        .arg(dir.path().join("x.backup"))
        .args(["--admin-url", &d.admin_url(), "--admin-token-file"])
        .arg(dir.path().join("data/admin.token"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pg_dump"),
        "{out:?}"
    );

    // The runbook's commands: pg_dump -Fc, then pg_restore into an empty database.
    let dump = dir.path().join("licd.dump");
    let st = Command::new(pg_tool("pg_dump"))
        .args(["-Fc", "--no-owner", "-f"])
        .arg(&dump)
        .arg(&url)
        .status()
        .unwrap();
    assert!(st.success());
    drop(d);
    let restored = pg::fresh_database(&pg::require());
    let st = Command::new(pg_tool("pg_restore"))
        .args(["--no-owner", "--exit-on-error", "-d", &restored])
        .arg(&dump)
        .status()
        .unwrap();
    assert!(st.success());
    let r = Daemon::start(dir.path(), &["--database-url", &restored]);
    for (order, i, license) in &issued {
        let x = v1_at(&c, r.addr, &get_license(order, &format!("dp-{i}"))).await;
        assert_eq!(&x.json["license"], license, "{order}");
    }
    let x = v1_at(&c, r.addr, &get_license("CS-DUMP-NEW", "dp-new")).await;
    assert_eq!(
        x.code(),
        "000000",
        "new purchases after the restore: {:?}",
        x.json
    );
    assert_eq!(
        open(&restored).await.verify_audit_chain().await.unwrap(),
        Ok(11)
    );
}

/// A PostgreSQL client program: Debian's server directory first, then PATH.
fn pg_tool(name: &str) -> String {
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path().join("bin").join(name))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.into_iter()
        .rev()
        .find(|p: &std::path::PathBuf| p.exists())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| name.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn racing_two_nodes_for_a_second_seat_gets_one_seat() {
    // Customers who paid for one device each send activations for twenty machines to both
    // nodes at once, hoping each node counts seats on its own.
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b, url) = two_nodes(da.path(), db.path(), &[]);
    let c = client();
    let mut tries = Vec::new();
    for n in 0..5 {
        let (order, business) = (format!("CS-ONE-{n}"), format!("one-seat-{n}"));
        let mut buy = get_license(&order, &business);
        buy.push(("amount", "1"));
        let bought = v1_at(&c, a.addr, &buy).await;
        assert_eq!(bought.code(), "000000", "{:?}", bought.json);
        let license = bought.json["license"].as_str().unwrap().to_string();
        for i in 0..20 {
            let c = c.clone();
            let to = if i % 2 == 0 { &a } else { &b };
            let target = to.url("/v1/activate");
            let body = json!({"license": license,
                "fingerprint": format!("52:54:00:12:{n:02X}:{i:02X}|SERIAL-{n}-{i:04}|BOARD-{i}|CPU-{i}")});
            tries.push(async move {
                let r = c.post(target).json(&body).send().await.unwrap();
                (
                    n,
                    r.status().as_u16(),
                    r.json::<Value>().await.unwrap_or(Value::Null),
                )
            });
        }
    }
    let answers = futures_util::future::join_all(tries).await;
    for n in 0..5 {
        let granted = answers
            .iter()
            .filter(|(k, s, _)| *k == n && *s == 200)
            .count();
        assert_eq!(granted, 1, "license {n}: {answers:?}");
    }
    for (_, s, v) in &answers {
        assert!(
            *s == 200 || (*s == 409 && v["error"] == "seats_taken"),
            "{s} {v}"
        );
    }
    assert_eq!(one(&url, "SELECT count(*) FROM activations"), "5");
}

/// A job whose `attempts` say which write it is.
fn job_with(id: &str, attempts: u32) -> licd::outbox::Job {
    use licd::outbox::{Job, Task};
    let mut job = Job::new(
        id.into(),
        "inst",
        Task::QueryOrder {
            order: "O".into(),
            order_line: "L".into(),
        },
        Timestamp::from_unix(1_700_000_000),
    );
    job.attempts = attempts;
    job
}

/// Begins a step on `s`, reads job `id` in it and returns the step and what it read.
async fn step_reading(s: &PgStore, id: &str) -> (licd::store::Tx, Option<u32>) {
    let mut step = s.begin().await.unwrap();
    let read = step.job(id).await.unwrap().map(|j| j.attempts);
    (step, read)
}

/// What `task` returned, waiting up to 10 s.
async fn within_10s<T>(task: tokio::task::JoinHandle<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("no answer within 10 s")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn a_step_waits_for_the_step_holding_its_record_and_no_other() {
    let url = pg::fresh_database(&pg::require());
    licd_migrate(&["--to", &url]);
    let (s1, s2) = (Arc::new(open(&url).await), Arc::new(open(&url).await));
    s1.commit(licd::store::Batch {
        jobs: vec![job_with("j", 0), job_with("k", 0)],
        ..Default::default()
    })
    .await
    .unwrap();

    // Node 1 reads j: j is its step's until it commits.
    let (holder, read) = step_reading(&s1, "j").await;
    assert_eq!(read, Some(0));

    // Node 2 reading k goes ahead meanwhile…
    let s = s2.clone();
    let other = tokio::spawn(async move { step_reading(&s, "k").await.1 });
    assert_eq!(
        within_10s(other).await,
        Some(0),
        "a step on another record must not wait"
    );

    // …while node 2 reading j waits, and then reads what node 1 committed.
    let s = s2.clone();
    let same = tokio::spawn(async move {
        let (step, read) = step_reading(&s, "j").await;
        drop(step); // rolled back: its lock goes too
        read
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!same.is_finished(), "read j while another step held it");
    holder
        .commit(licd::store::Batch {
            jobs: vec![job_with("j", 7)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        within_10s(same).await,
        Some(7),
        "the waiting step must read the commit it waited for"
    );

    // The dropped step let go of j.
    let s = s1.clone();
    let after = tokio::spawn(async move { step_reading(&s, "j").await.1 });
    assert_eq!(within_10s(after).await, Some(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn a_refused_batch_in_a_group_commit_fails_alone() {
    use licd::store::{Batch, OrderKey};
    let url = pg::fresh_database(&pg::require());
    licd_migrate(&["--to", &url]);
    let s = Arc::new(open(&url).await);
    s.commit(Batch {
        orders: vec![(OrderKey::Classic("CS-1".into()), "lic-a".into())],
        ..Default::default()
    })
    .await
    .unwrap();

    // Hold the committer's cluster-wide lock, so that the batches below queue up and are
    // committed as one group once it is released.
    let (holder, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    holder
        .execute("SELECT pg_advisory_lock(x'6c696364'::int8)", &[])
        .await
        .unwrap();
    let commit = |batch: Batch| {
        let s = s.clone();
        tokio::spawn(async move { s.commit(batch).await })
    };
    let first = commit(Batch {
        jobs: vec![job_with("first", 0)],
        ..Default::default()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut group = vec![];
    for i in 0..4 {
        group.push(commit(Batch {
            jobs: vec![job_with(&format!("good-{i}"), 0)],
            ..Default::default()
        }));
    }
    // The same purchase for another license: the database refuses it.
    let bad = commit(Batch {
        orders: vec![(OrderKey::Classic("CS-1".into()), "lic-b".into())],
        jobs: vec![job_with("bad", 0)],
        ..Default::default()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    holder
        .execute("SELECT pg_advisory_unlock(x'6c696364'::int8)", &[])
        .await
        .unwrap();

    first.await.unwrap().unwrap();
    for g in group {
        g.await.unwrap().unwrap();
    }
    let refused = bad.await.unwrap().unwrap_err().to_string();
    assert!(refused.contains("concurrent writer"), "{refused}");
    let mut jobs: Vec<String> = s.jobs().await.unwrap().into_iter().map(|j| j.id).collect();
    jobs.sort();
    assert_eq!(jobs, ["first", "good-0", "good-1", "good-2", "good-3"]);
    assert_eq!(
        s.order(&OrderKey::Classic("CS-1".into()))
            .await
            .unwrap()
            .as_deref(),
        Some("lic-a")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn steps_holding_every_connection_still_read_what_they_need() {
    let url = pg::fresh_database(&pg::require());
    licd_migrate(&["--to", &url]);
    let s = open(&url).await;
    // As many steps as the pool has connections, each holding its own…
    let mut steps = Vec::new();
    for i in 0..licd::store::pg::POOL_SIZE {
        steps.push(step_reading(&s, &format!("job-{i}")).await.0);
    }
    // …and one of them reads what is not a keyed record: on its own connection, at once,
    // not after waiting out the pool's timeout for a connection none of them will give back.
    let started = Instant::now();
    let step = &mut steps[0];
    let (counts, revoked, stats) = (
        step.counts().await,
        step.is_revoked("x").await,
        step.stats("grp:").await,
    );
    assert_eq!(counts.unwrap().active, 0);
    assert!(!revoked.unwrap());
    assert!(stats.unwrap().is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(steps);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn what_a_step_reads_first_waits_for_the_step_holding_it() {
    use licd::store::{Batch, OrderKey};
    let url = pg::fresh_database(&pg::require());
    licd_migrate(&["--to", &url]);
    let (s1, s2) = (Arc::new(open(&url).await), Arc::new(open(&url).await));
    let purchase = OrderKey::Online("CS-AHEAD".into(), "L1".into());
    // Node 1's step reads the purchase and the license it would create: both absent, and now
    // its step's.
    let mut holder = s1.begin().await.unwrap();
    let read = (
        holder.order(&purchase).await.unwrap(),
        holder.license("lic-first").await.unwrap().is_some(),
    );
    assert_eq!(read, (None, false));
    // Node 2's steps reading the same purchase, or the same license, wait until node 1's has
    // committed…
    let mut waiting = Vec::new();
    for by_purchase in [true, false] {
        let (s, p) = (s2.clone(), purchase.clone());
        waiting.push(tokio::spawn(async move {
            let mut step = s.begin().await.unwrap();
            let read = match by_purchase {
                true => step.order(&p).await.unwrap(),
                false => step.license("lic-first").await.unwrap().map(|l| l.order),
            };
            (by_purchase, read)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        waiting.iter().all(|w| !w.is_finished()),
        "read while another step held what it reads"
    );
    let now = Timestamp::from_unix(1_800_000_000);
    holder
        .commit(Batch {
            licenses: vec![licd::license::License::online(
                "lic-first",
                "CS-AHEAD",
                "L1",
                false,
                now,
            )],
            orders: vec![(purchase.clone(), "lic-first".into())],
            ..Default::default()
        })
        .await
        .unwrap();
    // …and then each reads what that step created, not the absence it saw.
    let mut reads = Vec::new();
    for w in waiting {
        reads.push(within_10s(w).await);
    }
    reads.sort();
    assert_eq!(
        reads,
        [
            (false, Some("CS-AHEAD".to_string())),
            (true, Some("lic-first".to_string()))
        ]
    );
}

/// The test server with TLS on or off, its certificate and key in its own data directory (so a
/// restart of the cluster finds them whatever happens here). Turned off again when dropped.
struct ServerTls {
    base: String,
}

/// The settings [`ServerTls`] changes, reset to the cluster's own when it is done.
const TLS_SETTINGS: [&str; 3] = ["ssl", "ssl_cert_file", "ssl_key_file"];

/// Puts the TLS settings back as the cluster had them, and reloads.
fn reset_tls(base: &str) {
    for name in TLS_SETTINGS {
        pg::exec(base, &format!("ALTER SYSTEM RESET {name}"));
    }
    pg::exec(base, "SELECT pg_reload_conf()");
}

impl ServerTls {
    /// Turns TLS on or off and waits until new sessions see it.
    fn set(base: &str, on: bool) -> ServerTls {
        if on {
            for sql in [
                "ALTER SYSTEM SET ssl_cert_file = 'licd-test-server.crt'",
                "ALTER SYSTEM SET ssl_key_file = 'licd-test-server.key'",
                "ALTER SYSTEM SET ssl = on",
                "SELECT pg_reload_conf()",
            ] {
                pg::exec(base, sql);
            }
        } else {
            reset_tls(base);
        }
        let want = if on { "on" } else { "off" };
        let deadline = Instant::now() + Duration::from_secs(10);
        while one(base, "SHOW ssl") != want {
            assert!(
                Instant::now() < deadline,
                "the server did not turn ssl {want}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        ServerTls {
            base: base.to_string(),
        }
    }
}

impl Drop for ServerTls {
    fn drop(&mut self) {
        reset_tls(&self.base);
    }
}

/// A certificate authority called `ca_name` and a server certificate it signed for `names`, as
/// PEM: (CA certificate, server certificate, server key).
fn ca_and_server(ca_name: &str, names: &[&str]) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let server =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
    (ca.pem(), server.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn the_database_is_reached_over_tls_checked_as_the_url_says() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let base = pg::require();
    let url = pg::fresh_database(&base);
    licd_migrate(&["--to", &url]);
    let dir = tempfile::tempdir().unwrap();
    let (ca, server_cert, server_key) = ca_and_server("licd test database CA", &["localhost"]);
    let (other_ca, _, _) = ca_and_server("someone else's CA", &["localhost"]);
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let other_ca_file = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca_file, other_ca).unwrap();
    let with_tls = |host: &str, mode: &str, root: &Path| {
        format!(
            "{}?sslmode={mode}&sslrootcert={}",
            url.replacen("@127.0.0.1:", &format!("@{host}:"), 1),
            root.display()
        )
    };

    // A server without TLS is refused, not spoken to in plain text.
    let plain = ServerTls::set(&base, false);
    let e = PgStore::open(&with_tls("127.0.0.1", "require", &ca_file), false)
        .await
        .err()
        .unwrap_or_else(|| panic!("connected in plain text to a server without TLS"));
    assert!(e.to_string().contains("server does not support TLS"), "{e}");
    drop(plain);

    // The server's certificate and key, where the server reads them: its data directory, the
    // key its owner's alone.
    let data = PathBuf::from(one(&base, "SHOW data_directory"));
    let owner = std::fs::metadata(&data).expect("the test server runs on this machine");
    for (name, pem, mode) in [
        ("licd-test-server.crt", &server_cert, 0o644),
        ("licd-test-server.key", &server_key, 0o600),
    ] {
        let path = data.join(name);
        std::fs::write(&path, pem).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
    }
    let _tls = ServerTls::set(&base, true);

    // verify-full: the chain and the name. The certificate names localhost, not 127.0.0.1.
    let store = PgStore::open(&with_tls("localhost", "verify-full", &ca_file), false)
        .await
        .unwrap();
    let db = url.rsplit('/').next().unwrap();
    let sessions = |ssl: bool| {
        one(
            &base,
            &format!(
                "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.datname = '{db}' AND a.application_name = 'licd' AND s.ssl = {ssl}"
            ),
        )
    };
    assert_ne!(sessions(true), "0", "licd's sessions are not encrypted");
    assert_eq!(sessions(false), "0", "a licd session is in plain text");
    assert!(store.verify_audit_chain().await.unwrap().is_ok());
    drop(store);
    let e = PgStore::open(&with_tls("127.0.0.1", "verify-full", &ca_file), false)
        .await
        .err()
        .unwrap_or_else(|| panic!("verify-full accepted a certificate for another name"));
    assert!(e.to_string().contains("not valid for name"), "{e}");

    // verify-ca and require: the chain only.
    for mode in ["verify-ca", "require"] {
        PgStore::open(&with_tls("127.0.0.1", mode, &ca_file), false)
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let e = PgStore::open(&with_tls("127.0.0.1", mode, &other_ca_file), false)
            .await
            .err()
            .unwrap_or_else(|| panic!("{mode} accepted a certificate of another authority"));
        assert!(
            e.to_string().contains("invalid peer certificate"),
            "{mode}: {e}"
        );
    }

    // licd migrate takes the same URL.
    licd_migrate(&["--to", &with_tls("localhost", "verify-full", &ca_file)]);
}

/// The claim behind "one activation per code": held by one node, refused to the other until it
/// is let go or expires, and taken over once expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn a_claim_is_one_nodes_until_let_go_or_expired() {
    let url = pg::fresh_database(&pg::require());
    licd_migrate(&["--to", &url]);
    let (a, b) = (open(&url).await, open(&url).await);
    let now = Timestamp::from_unix(1_780_000_000);
    let until = now.add_secs(120);
    assert!(a.claim("claim:code:x", until, now).await.unwrap());
    assert!(
        !b.claim("claim:code:x", now.add_secs(130), now)
            .await
            .unwrap()
    );
    assert!(
        !a.claim("claim:code:x", until, now).await.unwrap(),
        "not twice"
    );
    assert!(
        b.claim("claim:code:y", until, now).await.unwrap(),
        "another key"
    );
    // Letting go of someone else's (by its expiry) does nothing.
    b.release_claim("claim:code:x", now.add_secs(5))
        .await
        .unwrap();
    assert!(!b.claim("claim:code:x", until, now).await.unwrap());
    a.release_claim("claim:code:x", until).await.unwrap();
    assert!(b.claim("claim:code:x", until, now).await.unwrap());
    // A holder that died: past its expiry, the other node takes it over.
    let later = until.add_secs(1);
    assert!(
        a.claim("claim:code:x", later.add_secs(120), later)
            .await
            .unwrap()
    );
}

/// Eight devices on two nodes activate one new 3-seat code at once: the marketplace is asked
/// to activate it once, and every token carries the product, order and quantity sold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn two_nodes_activate_a_new_code_once() {
    let market = FakeMarket::start();
    market.add_code(
        "LC-TWO-NODES",
        common::fake_market::FakeCode::alive(3, "20991231000000"),
    );
    market.set_delay(Duration::from_millis(300));
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let flags = common::market_flags(da.path(), &market.url(), &market);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (a, b, url) = two_nodes(da.path(), db.path(), &flags);
    let c = client();
    let tries = (0..8).map(|i| {
        let c = c.clone();
        let node = if i % 2 == 0 { &a } else { &b };
        async move {
            let body = json!({"code": "LC-TWO-NODES",
                "fingerprint": format!("0A:00:00:00:02:{i:02}|DISK-N{i}|BOARD-N{i}|BFEBFBFF000906EA")});
            for _ in 0..20 {
                let r = c
                    .post(node.url("/v1/codes/activate"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                if status == 503 {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                return (status, r.json::<Value>().await.unwrap());
            }
            panic!("device {i} stayed busy");
        }
    });
    let answers = futures_util::future::join_all(tries).await;
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let taken = answers.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((ok, taken), (3, 5), "{answers:?}");
    let activations = market
        .code_calls()
        .iter()
        .filter(|c| **c == "activate")
        .count();
    assert_eq!(activations, 1, "{:?}", market.code_calls());
    assert_eq!(
        one(
            &url,
            "SELECT convert_from(body, 'UTF8')::jsonb ->> 'product' FROM licenses"
        ),
        "OFFI2000"
    );
    assert_eq!(
        one(
            &url,
            "SELECT convert_from(body, 'UTF8')::jsonb ->> 'quantity' FROM licenses"
        ),
        "3"
    );
}

#[test]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
fn doctor_fails_a_database_without_the_current_schema_and_passes_it_once_migrated() {
    let url = pg::fresh_database(&pg::require());
    let dir = tempfile::tempdir().unwrap();
    let doctor = || {
        let out = Command::new(env!("CARGO_BIN_EXE_licd"))
            .args(["--json", "doctor", "--database-url", &url])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--keys-dir")
            .arg(dir.path().join("keys"))
            // No daemon: an admin port nothing listens on.
            .args(["--admin-listen", "127.0.0.1:1"])
            .env_remove("LICD_ADMIN_TOKEN")
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let db = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "database")
            .unwrap()
            .clone();
        let backup = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "backup")
            .unwrap()
            .clone();
        (out.status.code(), db, backup)
    };
    let (status, db, _) = doctor();
    assert_eq!(status, Some(2));
    assert_eq!(db["level"], "failure", "{db}");
    let detail = db["detail"].as_str().unwrap();
    assert!(detail.contains("schema version"), "{detail}");
    assert!(
        detail.contains("licd migrate"),
        "the fix is named: {detail}"
    );
    licd_migrate(&["--to", &url]);
    let (_, db, backup) = doctor();
    assert_eq!(db["level"], "ok", "{db}");
    assert!(
        db["detail"]
            .as_str()
            .unwrap()
            .starts_with("PostgreSQL, schema current"),
        "{db}"
    );
    assert_eq!(
        backup["level"], "skipped",
        "pg_dump's backups are not licd's to see"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn racing_two_nodes_for_floating_seats_grants_no_more_leases_than_seats() {
    // Forty machines ask both nodes at once for a seat of a 2-seat floating license; then the
    // node that granted is killed, and the other renews what it granted, on the database's clock.
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let catalog = da.path().join("products.toml");
    std::fs::write(
        &catalog,
        "[[product]]\nid = \"OFFI454488918838374\"\nmodel = \"floating\"\nlease_secs = 120\n",
    )
    .unwrap();
    let (a, b, url) = two_nodes(
        da.path(),
        db.path(),
        &["--products", catalog.to_str().unwrap()],
    );
    let c = client();
    let mut buy = get_license("CS-FLOAT", "float-2");
    buy.push(("amount", "2"));
    let bought = v1_at(&c, a.addr, &buy).await;
    assert_eq!(bought.code(), "000000", "{:?}", bought.json);
    let license = bought.json["license"].as_str().unwrap().to_string();
    let tries = (0..40).map(|i| {
        let c = c.clone();
        let target = if i % 2 == 0 {
            a.url("/v1/leases")
        } else {
            b.url("/v1/leases")
        };
        let body = json!({"license": license, "instance": format!("job-{i}"),
            "fingerprint": format!("52:54:00:12:34:{i:02X}|SERIAL-{i:04}|BOARD-{i}|CPU-{i}")});
        async move {
            let r = c.post(target).json(&body).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    });
    let answers = futures_util::future::join_all(tries).await;
    let won: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(won.len(), 2, "{answers:?}");
    for (s, v) in &answers {
        assert!(
            *s == 200 || (*s == 409 && v["error"] == "seats_taken"),
            "{s} {v}"
        );
    }
    assert_eq!(one(&url, "SELECT count(*) FROM leases"), "2");
    a.kill();
    for w in won {
        let r = c
            .post(b.url("/v1/leases/renew"))
            .json(&json!({ "lease": w["lease"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["lease_id"], w["lease_id"]);
    }
    let r = c
        .post(b.url("/v1/leases"))
        .json(&json!({"license": license, "instance": "late",
            "fingerprint": "52:54:00:12:35:00|SERIAL-LATE|BOARD-L|CPU-L"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL (scripts/pg-cluster.sh start DIR)"]
async fn two_nodes_serve_one_gap_free_feed_and_send_each_webhook_event_in_order() {
    use common::receiver::{Mode, Receiver};
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let rx = Receiver::start(Mode::Ok).await;
    // The same file on both nodes, as the operations guide says.
    let hooks = tempfile::tempdir().unwrap();
    common::write_secret(&hooks.path().join("s"), b"whsec-two-nodes-0123456789");
    let file = hooks.path().join("webhooks.toml");
    std::fs::write(
        &file,
        format!(
            "[[webhook]]\nname = \"crm\"\nurl = \"{}\"\nsecret_file = \"s\"\nevents = [\"*\"]\n",
            rx.url()
        ),
    )
    .unwrap();
    let file = file.display().to_string();
    let (a, b, _url) = two_nodes(
        da.path(),
        db.path(),
        &["--webhooks", &file, "--webhooks-priority", "normal"],
    );
    let c = client();
    // Wait for one node to hold the endpoint (its cursor is made at the head, 0).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !a.log().contains("webhook endpoint starts")
        && !b.log().contains("webhook endpoint starts")
    {
        assert!(Instant::now() < deadline, "no node took the endpoint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A long poll on B wakes for a commit on A.
    let waiting = tokio::spawn(common::events_page(&c, &b, "after=0&wait=20"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        v1_at(&c, a.addr, &get_license("EV-A0", "ev-a0"))
            .await
            .code(),
        "000000"
    );
    let page = waiting.await.unwrap();
    assert_eq!(page["events"][0]["license"], "ev-a0", "{page}");

    // Purchases on both nodes at once: one feed, from either node, without gaps.
    let calls = (0..8).map(|w| {
        let c = c.clone();
        let addr = if w % 2 == 0 { a.addr } else { b.addr };
        async move {
            for i in 0..5 {
                let order = format!("EV-{w}-{i}");
                let answer = v1_at(&c, addr, &get_license(&order, &order.to_lowercase())).await;
                assert_eq!(answer.code(), "000000");
            }
        }
    });
    futures_util::future::join_all(calls).await;
    for node in [&a, &b] {
        let page = common::events_page(&c, node, "after=0&limit=1000").await;
        let events = page["events"].as_array().unwrap();
        assert_eq!(events.len(), 41);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e["seq"], i as u64 + 1);
            if i > 0 {
                assert_eq!(e["prev"], events[i - 1]["hash"]);
            }
        }
    }
    // The endpoint gets every event, in order (at least once: a repeat keeps its id).
    let got = rx.wait_accepted(41, Duration::from_secs(30)).await;
    let mut seqs: Vec<u64> = got
        .iter()
        .map(|g| g.json()["seq"].as_u64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] <= w[1]),
        "out of order: {seqs:?}"
    );
    seqs.dedup();
    assert_eq!(seqs, (1..=41).collect::<Vec<u64>>());
    // One node sent them all: the other never took the endpoint while it was held.
    let senders = [&a, &b]
        .iter()
        .filter(|d| {
            d.log().contains("webhook endpoint starts")
                || d.log().contains("this node sends to the webhook endpoint")
        })
        .count();
    assert_eq!(senders, 1);
}
