//! PostgreSQL for the tests: the server named by `LICD_TEST_DATABASE_URL` (`.ci/run` starts a
//! throwaway cluster with `scripts/pg-cluster.sh`), one fresh database per test.
//!
//! The PostgreSQL tests are `#[ignore]`d, so a plain `cargo test` on a machine without a server
//! lists them as ignored, never as passed; CI runs them with `--include-ignored` and the URL set.
//! Under CI (`CI` set) a missing URL fails the test.
//!
//! `LICD_TEST_BACKEND=postgres` makes [`super::Daemon::start`] put every daemon on a fresh
//! database (one per test directory, kept across restarts in that directory): how CI runs the
//! callback, idempotency and crash suites a second time, against PostgreSQL.

use std::path::Path;

/// The test server's URL. Without one: panics under CI, else `None`.
pub fn server_url() -> Option<String> {
    match std::env::var("LICD_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "LICD_TEST_DATABASE_URL is not set: CI must start PostgreSQL (scripts/pg-cluster.sh) for this test"
            )
        }
        _ => None,
    }
}

/// The test server's URL, or a panic that says how to get one (for `#[ignore]`d tests, which
/// only run when asked).
pub fn require() -> String {
    server_url().unwrap_or_else(|| {
        panic!("this test needs PostgreSQL: LICD_TEST_DATABASE_URL=$(scripts/pg-cluster.sh start /tmp/licd-pg) cargo test -- --include-ignored")
    })
}

/// The URL `base` with its database name replaced by `name`.
pub fn with_database(base: &str, name: &str) -> String {
    let (head, tail) = base.rsplit_once('/').expect("a URL with a database");
    let query = tail
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{head}/{name}{query}")
}

/// Runs `f` on a runtime of its own, on a thread of its own (callers may be async tests).
fn on_own_runtime<T: Send>(f: impl std::future::Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f)
        })
        .join()
        .unwrap()
    })
}

/// Runs `sql` on the server (autocommit, one statement at a time).
pub fn exec(url: &str, sql: &str) {
    on_own_runtime(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to the test PostgreSQL: {e}"));
        let task = tokio::spawn(conn);
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = task.await;
    });
}

/// Runs a query and returns the first column of every row, as text.
pub fn query(url: &str, sql: &str) -> Vec<String> {
    on_own_runtime(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(conn);
        let rows = client.simple_query(sql).await.unwrap();
        drop(client);
        let _ = task.await;
        rows.into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .collect()
    })
}

/// A new, empty database on the test server; returns its URL.
pub fn fresh_database(base: &str) -> String {
    let name = format!(
        "licd_t_{}_{}",
        std::process::id(),
        licd::crypto::hex(&licd::crypto::random_bytes::<6>().unwrap())
    );
    exec(base, &format!("CREATE DATABASE {name}"));
    with_database(base, &name)
}

/// The database a daemon in `dir` uses under `LICD_TEST_BACKEND=postgres`: created on first
/// use and remembered in `dir`, so a restart in the same directory finds its data.
pub fn database_for(dir: &Path) -> Option<String> {
    if std::env::var("LICD_TEST_BACKEND").as_deref() != Ok("postgres") {
        return None;
    }
    let file = dir.join("pg.url");
    if let Ok(url) = std::fs::read_to_string(&file) {
        return Some(url);
    }
    let url = fresh_database(&require());
    std::fs::write(&file, &url).unwrap();
    Some(url)
}

/// The store a test's daemon in `dir` used, opened in-process once it has stopped: its
/// PostgreSQL database under `LICD_TEST_BACKEND=postgres`, else the sled database at `sled`.
pub async fn open_store(dir: &Path, sled: &Path) -> std::sync::Arc<dyn licd::store::Store> {
    match std::fs::read_to_string(dir.join("pg.url")) {
        Ok(url) => std::sync::Arc::new(licd::store::PgStore::open(&url, false).await.unwrap()),
        Err(_) => std::sync::Arc::new(licd::store::SledStore::open(sled, 1 << 22).unwrap()),
    }
}

/// A store for an in-process service test in `dir`: a fresh PostgreSQL database under
/// `LICD_TEST_BACKEND=postgres`, else sled in `dir`.
pub async fn test_store(dir: &Path) -> std::sync::Arc<dyn licd::store::Store> {
    match database_for(dir) {
        Some(url) => std::sync::Arc::new(licd::store::PgStore::open(&url, true).await.unwrap()),
        None => std::sync::Arc::new(licd::store::SledStore::open(dir, 1 << 22).unwrap()),
    }
}
