//! PostgreSQL restarted under load: what could not be committed is answered `000005`, nothing is
//! half-written, and licd recovers without a restart of its own.
//!
//! Its own test binary, because it restarts the shared test server: no other test may run
//! meanwhile. Needs `LICD_TEST_DATABASE_URL` and `LICD_TEST_PG_DIR` (the cluster directory
//! `scripts/pg-cluster.sh start` made); ignored without them, failed under CI.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client_verifier::Timestamp;
use common::{Daemon, client, get_license, pg, v1_at};
use licd::store::{PgStore, Store};
use serde_json::Value;

/// One purchase sent: (order, worker, i, result code, license).
type Seen = (String, usize, usize, String, Value);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LICD_TEST_DATABASE_URL and LICD_TEST_PG_DIR (scripts/pg-cluster.sh start DIR)"]
async fn a_postgresql_restart_under_load_loses_nothing_acknowledged_and_licd_recovers() {
    let cluster = match std::env::var("LICD_TEST_PG_DIR") {
        Ok(d) => d,
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("LICD_TEST_PG_DIR is not set under CI")
        }
        Err(_) => panic!("set LICD_TEST_PG_DIR to the directory scripts/pg-cluster.sh started"),
    };
    let url = pg::fresh_database(&pg::require());
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &["--database-url", &url, "--database-migrate"]);
    let c = client();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (c, seen, stop, addr) = (c.clone(), seen.clone(), stop.clone(), d.addr);
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let order = format!("CS-R-{w}-{i}");
                let x = v1_at(&c, addr, &get_license(&order, &format!("r-{w}-{i}"))).await;
                seen.lock().unwrap().push((
                    order,
                    w,
                    i,
                    x.code().to_string(),
                    x.json["license"].clone(),
                ));
                i += 1;
            }
        }));
    }
    let count = |code: &str| seen.lock().unwrap().iter().filter(|s| s.3 == code).count();
    let deadline = Instant::now() + Duration::from_secs(30);
    while count("000000") < 50 {
        assert!(Instant::now() < deadline, "no load");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let restarted = std::process::Command::new("bash")
        .args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg-cluster.sh"),
            "restart",
            &cluster,
        ])
        .status()
        .unwrap();
    assert!(restarted.success());
    let after_restart = seen.lock().unwrap().len();
    // licd recovers by itself: new purchases succeed again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok_since = seen.lock().unwrap()[after_restart..]
            .iter()
            .filter(|s| s.3 == "000000")
            .count();
        if ok_since >= 50 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "licd did not recover:\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    let failed = seen.iter().filter(|s| s.3 == "000005").count();
    for (order, w, i, code, license) in &seen {
        assert!(code == "000000" || code == "000005", "{order}: {code}");
        // Asked again: an acknowledged purchase gets its license byte for byte; one that was
        // not gets exactly one now (nothing was half-written either way).
        let x = v1_at(&c, d.addr, &get_license(order, &format!("r-{w}-{i}"))).await;
        assert_eq!(x.code(), "000000", "{order}: {:?}", x.json);
        if code == "000000" {
            assert_eq!(&x.json["license"], license, "{order}");
        }
    }
    let store = PgStore::open(&url, false).await.unwrap();
    assert_eq!(store.counts().await.unwrap().active, seen.len() as u64);
    assert_eq!(
        store.verify_audit_chain().await.unwrap(),
        Ok(seen.len() as u64)
    );
    eprintln!(
        "{} purchases, {failed} answered 000005 during the restart; {}",
        seen.len(),
        Timestamp::now().to_rfc3339()
    );
}
