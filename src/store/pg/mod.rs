//! The PostgreSQL implementation of [`Store`]: several licd on one database.
//!
//! The tables mirror sled's collections (`0001_initial.sql`); record bodies are the same JSON
//! bytes. What holds on one node holds across nodes because the database enforces it:
//!
//! - **Locks on what a step read, cluster-wide.** The service decides inside a [`Transaction`]
//!   ([`Store::begin`]) with a connection of its own, on which every keyed read first takes an
//!   advisory lock on its key (the license, the purchase, the applied key, the outbox job),
//!   held until the step's batch is committed. Steps on other licenses run in parallel, on
//!   this node and the others; two steps on one license or one purchase run one after the
//!   other, the second reading what the first committed. A node that dies mid-way loses its
//!   session and with it its locks.
//!   A step names what it reads first as it begins ([`Ahead`]: the purchase, the license it
//!   changes or would create); those locks and reads go out together then, asynchronously,
//!   so a step that reads nothing else blocks no thread.
//! - **One commit pipeline per node, one audit head per cluster.** A step's batch goes to this
//!   node's committer, which writes whatever batches are waiting in one transaction under a
//!   cluster-wide advisory lock: the audit chain and the counters are extended there, from the
//!   head read under that lock, so concurrent writers never fork the chain. The step's key
//!   locks go once its batch is committed.
//! - **Constraints as the last word.** One license per purchase is the `orders` primary key; the
//!   audit log cannot fork (`UNIQUE (prev)`) or dangle (a foreign key to the previous hash); the
//!   head moves by compare-and-set. A writer that somehow bypassed the locks fails, it does not
//!   corrupt.
//! - **Outbox leases.** A node runs a job only while it holds a session advisory lock on it, so
//!   two nodes never make the same call at once, and a node that dies lets go at once.
//! - **Durable before acknowledged, with group commit.** The committer commits with
//!   `synchronous_commit = off`, so the cluster lock is held for round trips, not for a disk
//!   flush. [`Store::flush`] then commits a small write of this node's own with the server's
//!   (synchronous) setting; PostgreSQL flushes the WAL in order, so once that returns, every
//!   commit this node (or any node whose data it read) made before is durable, on the standby
//!   too where one is synchronous. Concurrent callers share one such barrier, as with sled.
//!
//! The [`Store`] surface is synchronous (sled answers from memory); this store answers its calls
//! on a small runtime of its own and waits with `block_in_place`, so a slow database parks the
//! calling thread without starving the server's other tasks.

mod migrate;
mod tls;

pub use migrate::{ImportSummary, SCHEMA_VERSION, import_sled, migrate, schema_version};

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client_verifier::Timestamp;
use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;

use super::{
    Ahead, AuditRecord, Batch, BeginFuture, DeviceKey, OrderKey, Shape, StatusCounts, Store,
    StoreError, StoreFuture, Transaction, sled_store::encode, sled_store::link,
};
use crate::job::Job;
use crate::license::{Activation, DeviceLicense, License, Status};

/// The advisory lock every commit takes (`'licd'` as a number): the audit head's.
const WRITE_LOCK: i64 = 0x6c69_6364;
/// The advisory-lock class of outbox leases (`'lout'`), beside the job id's hash.
const LEASE_CLASS: i32 = 0x6c6f_7574;
/// Connections per node for reads and steps' transactions: also how many steps run at once.
/// (The outbox leases take one more, out of the pool; the committer and the durability
/// barrier two more.)
pub const POOL_SIZE: usize = 32;
/// A purchase's license id.
const ORDER_SQL: &str = "SELECT license_id FROM orders WHERE key = $1";
/// A license's body.
const LICENSE_SQL: &str = "SELECT body FROM licenses WHERE id = $1";
/// Batches one group commit takes at most.
const MAX_GROUP: usize = 64;
/// Longest wait for one database operation (a lost server must not hang a callback).
const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL store.
pub struct PgStore {
    /// Connections for reads and steps' transactions.
    pool: Pool,
    /// The store's own runtime (dropped without waiting), and a handle to it.
    rt: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    /// The committer's queue.
    commits: mpsc::UnboundedSender<Commit>,
    /// The group-flush task's queue.
    flushes: mpsc::UnboundedSender<oneshot::Sender<Result<(), StoreError>>>,
    /// This process, in `flush_marks` and `key_ring`; also marks this store's transactions.
    node: Arc<str>,
    /// The session holding this node's outbox leases (advisory locks). Taken out of the pool
    /// for good: however it is dropped (an error, a timeout), it closes, and its leases with
    /// it; pooled again, they would stay with whichever step used it next.
    lease_conn: Arc<tokio::sync::Mutex<Option<ClientWrapper>>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may carry a password.
        f.debug_struct("PgStore")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A batch on its way to the committer.
struct Commit {
    batch: Batch,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// What a record's lock is named after. A license's seats and device licenses share its lock.
enum Key<'a> {
    License(&'a str),
    Order(&'a OrderKey),
    Applied(&'a str),
    Job(&'a str),
}

impl Key<'_> {
    /// The advisory-lock key: 64 bits of a hash of the class and the key.
    fn lock_id(&self) -> i64 {
        let (class, key): (&[u8], Vec<u8>) = match self {
            Key::License(id) => (b"license", id.as_bytes().to_vec()),
            Key::Order(k) => (b"order", k.to_bytes()),
            Key::Applied(k) => (b"applied", k.as_bytes().to_vec()),
            Key::Job(id) => (b"job", id.as_bytes().to_vec()),
        };
        let mut h = Sha256::new();
        h.update(class);
        h.update([0]);
        h.update(&key);
        let d = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&d[..8]);
        i64::from_be_bytes(first)
    }
}

thread_local! {
    /// The step's transaction whose closure runs on this thread ([`Transaction::enter`]).
    static CURRENT: RefCell<Option<Arc<StepConn>>> = const { RefCell::new(None) };
}

/// A step's connection and the locks it holds. The locks are session advisory locks, taken
/// by the reads (which run as statements of their own, so each sees every commit made before
/// its lock was granted) and released together when the step ends: three statements for a
/// step that reads one record, where a transaction would need five.
struct StepConn {
    /// The node of the store it belongs to: a transaction of one store is no other's.
    node: Arc<str>,
    conn: Option<Object>,
    /// The lock keys taken so far.
    locked: Mutex<HashSet<i64>>,
    /// What the step read while it began ([`Store::begin`]), under its locks: only this
    /// step's own commit changes it, so its reads of these are answered from here.
    ahead: ReadAhead,
    /// Whether the session may hold locks: such a connection is never pooled.
    open: AtomicBool,
}

impl StepConn {
    fn client(&self) -> Result<&ClientWrapper, StoreError> {
        self.conn
            .as_deref()
            .ok_or_else(|| db("the transaction's connection is gone"))
    }
}

impl Drop for StepConn {
    fn drop(&mut self) {
        // A connection that may still hold locks is closed, which releases them, not pooled.
        if self.open.load(Ordering::SeqCst)
            && let Some(c) = self.conn.take()
        {
            let _ = Object::take(c);
        }
    }
}

/// The records a step read while it began.
#[derive(Default)]
struct ReadAhead {
    /// A purchase's key and the id of its license.
    order: Option<(Vec<u8>, Option<String>)>,
    /// A license's id and the license.
    license: Option<(String, Option<License>)>,
}

/// The connection a read runs on.
enum Conn {
    Pooled(Box<Object>),
    Step(Arc<StepConn>),
}

impl Conn {
    fn client(&self) -> Result<&ClientWrapper, StoreError> {
        match self {
            Conn::Pooled(c) => Ok(c),
            Conn::Step(s) => s.client(),
        }
    }
}

/// The step's transaction of this store running on this thread, if any.
fn current_step(node: &Arc<str>) -> Option<Arc<StepConn>> {
    CURRENT.with(|c| c.borrow().clone().filter(|s| Arc::ptr_eq(&s.node, node)))
}

/// A [`Transaction`] on [`PgStore`].
struct PgStep {
    step: Option<Arc<StepConn>>,
    handle: tokio::runtime::Handle,
    commits: mpsc::UnboundedSender<Commit>,
}

impl Transaction for PgStep {
    fn enter(&mut self, decide: &mut dyn FnMut()) {
        struct Leave(Option<Arc<StepConn>>);
        impl Drop for Leave {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = previous);
            }
        }
        let _leave =
            Leave(CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), self.step.clone())));
        // Each read that goes to the database blocks the thread on its own; what the step read
        // while it began ([`Ahead`]) is answered without blocking.
        decide()
    }

    fn commit(mut self: Box<Self>, batch: Batch) -> StoreFuture<'static> {
        let step = self.step.take();
        let handle = self.handle.clone();
        let (done, answer) = oneshot::channel();
        let sent = self.commits.send(Commit { batch, done });
        Box::pin(async move {
            sent.map_err(|_| db("the committer has stopped"))?;
            let committed = answer
                .await
                .unwrap_or_else(|_| Err(db("the committer has stopped")));
            // The batch is in (or failed): the step's locks go now.
            if let Some(s) = step {
                end_step(&handle, s);
            }
            committed
        })
    }
}

impl Drop for PgStep {
    fn drop(&mut self) {
        if let Some(s) = self.step.take() {
            end_step(&self.handle, s);
        }
    }
}

/// Ends a step (it wrote nothing itself: its batch went to the committer), releasing its
/// locks, and pools the connection again; one that cannot release them is closed.
fn end_step(handle: &tokio::runtime::Handle, step: Arc<StepConn>) {
    if !step.open.load(Ordering::SeqCst) {
        return;
    }
    handle.spawn(async move {
        if let Ok(c) = step.client()
            && tokio::time::timeout(
                OP_TIMEOUT,
                c.batch_execute("SELECT pg_advisory_unlock_all()"),
            )
            .await
            .is_ok_and(|r| r.is_ok())
        {
            step.open.store(false, Ordering::SeqCst);
        }
    });
}

fn db<E: std::fmt::Display + 'static>(e: E) -> StoreError {
    // The driver's own message is just "db error"; the server's is in its source.
    let any: &dyn std::any::Any = &e;
    let server = any
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::as_db_error)
        .or_else(|| {
            any.downcast_ref::<deadpool_postgres::PoolError>()
                .and_then(|p| match p {
                    deadpool_postgres::PoolError::Backend(b) => b.as_db_error(),
                    _ => None,
                })
        });
    match server {
        Some(d) => StoreError::Db(format!(
            "postgresql: {} ({}){}",
            d.message(),
            d.code().code(),
            d.detail().map(|x| format!(": {x}")).unwrap_or_default()
        )),
        // The driver's words name only the kind of failure ("error connecting to server");
        // its causes say which: refused, timed out, a certificate for another name.
        None => {
            let source: Option<&dyn std::error::Error> = any
                .downcast_ref::<tokio_postgres::Error>()
                .map(|e| e as &dyn std::error::Error)
                .or_else(|| {
                    any.downcast_ref::<deadpool_postgres::PoolError>()
                        .map(|e| e as &dyn std::error::Error)
                });
            StoreError::Db(match source {
                Some(source) => format!("postgresql: {}", crate::logsafe::error_chain(source)),
                None => format!("postgresql: {e}"),
            })
        }
    }
}

fn status_code(s: Status) -> i16 {
    match s {
        Status::Active => 0,
        Status::Frozen => 1,
        Status::Released => 2,
    }
}

/// The URL without its password, for logs and errors.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".into();
    };
    // libpq also takes the password as a query parameter: `?password=…`.
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let mut out = match main.rsplit_once('@') {
        Some((auth, host)) => match auth.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => format!("{scheme}://{auth}@{host}"),
        },
        None => format!("{scheme}://{main}"),
    };
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// Parses a `postgres://` URL into the driver's configuration, with licd's timeouts, and the
/// TLS connector its `sslmode` and `sslrootcert` ask for (see [`tls`]): reads the root file.
pub(crate) fn pg_config(url: &str) -> Result<(tokio_postgres::Config, tls::PgTls), StoreError> {
    let (cfg, check) = parse_url(url)?;
    let connector = tls::PgTls::new(&check).map_err(StoreError::Db)?;
    Ok((cfg, connector))
}

/// Whether `url` is a database URL licd can use, without touching any file or the network.
pub(crate) fn check_url(url: &str) -> Result<(), StoreError> {
    parse_url(url).map(|_| ())
}

fn parse_url(url: &str) -> Result<(tokio_postgres::Config, tls::Check), StoreError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(StoreError::Db(format!(
            "the database URL {} is not a postgres:// URL",
            redacted_url(url)
        )));
    }
    let params = tls::split_url(url).map_err(StoreError::Db)?;
    let mut cfg: tokio_postgres::Config = params.rest.parse().map_err(|e| {
        StoreError::Db(format!(
            "the database URL {} does not parse: {e}",
            redacted_url(url)
        ))
    })?;
    cfg.ssl_mode(tls::ssl_mode(&params.check));
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(Duration::from_secs(5));
    }
    cfg.keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .application_name("licd");
    Ok((cfg, params.check))
}

impl PgStore {
    /// Connects to the database at `url` and checks its schema is the one this binary writes
    /// (`licd migrate --to URL` applies it) and that its commits are durable.
    /// With `migrate`, applies the migrations it lacks first (as `licd migrate` does).
    pub fn open(url: &str, migrate: bool) -> Result<Self, StoreError> {
        let (cfg, tls) = pg_config(url)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("licd-pg")
            .enable_all()
            .build()
            .map_err(|e| db(format!("cannot start its runtime: {e}")))?;
        let build = |size: usize, cfg: &tokio_postgres::Config| {
            let manager = Manager::from_config(
                cfg.clone(),
                tls.clone(),
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            Pool::builder(manager)
                .max_size(size)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(OP_TIMEOUT))
                .create_timeout(Some(OP_TIMEOUT))
                .build()
                .map_err(db)
        };
        // A step waits for a lock no longer than for any other operation.
        let mut steps = cfg.clone();
        steps.options(format!(
            "{} -c lock_timeout={}s",
            cfg.get_options().unwrap_or_default(),
            OP_TIMEOUT.as_secs()
        ));
        let pool = build(POOL_SIZE, &steps)?;
        // The committer and the durability barrier have connections of their own: steps
        // waiting on them hold the others.
        let writer = build(2, &cfg)?;
        let node: Arc<str> = format!(
            "{}-{}",
            std::process::id(),
            crate::crypto::hex(&crate::crypto::random_bytes::<6>().map_err(db)?)
        )
        .into();
        let (flush_tx, flush_rx) = mpsc::unbounded_channel();
        let (commit_tx, commit_rx) = mpsc::unbounded_channel();
        let store = PgStore {
            pool: pool.clone(),
            handle: rt.handle().clone(),
            rt: Some(rt),
            commits: commit_tx,
            flushes: flush_tx,
            node: node.clone(),
            lease_conn: Arc::default(),
        };
        if migrate {
            let url = url.to_string();
            store.run(async move { self::migrate(&url).await.map(|_| ()) })?;
        }
        let version = store.run({
            let pool = pool.clone();
            async move {
                let conn = pool.get().await.map_err(db)?;
                let client: &tokio_postgres::Client = &conn;
                schema_version(client).await
            }
        })?;
        if version != SCHEMA_VERSION {
            return Err(StoreError::Db(format!(
                "the database has schema version {version}, this licd needs {SCHEMA_VERSION}: run `licd migrate --to URL` (or start with --database-migrate)"
            )));
        }
        let sync = store.run({
            let pool = pool.clone();
            async move {
                let conn = pool.get().await.map_err(db)?;
                let row = conn
                    .query_one("SHOW synchronous_commit", &[])
                    .await
                    .map_err(db)?;
                Ok(row.get::<_, String>(0))
            }
        })?;
        if sync == "off" {
            return Err(StoreError::Db(
                "the database's synchronous_commit is off: licd answers the marketplace only once a change is durable; set it to on (or local, remote_write, remote_apply) for licd's role or database".into(),
            ));
        }
        // Barrier rows of processes long gone (one per start).
        store.run({
            let pool = pool.clone();
            async move {
                let conn = pool.get().await.map_err(db)?;
                conn.execute(
                    "DELETE FROM flush_marks WHERE at < now() - interval '1 day'",
                    &[],
                )
                .await
                .map_err(db)?;
                Ok(())
            }
        })?;
        store.rt().spawn(group_commit(writer.clone(), commit_rx));
        store
            .rt()
            .spawn(group_flush(writer, node.to_string(), flush_rx));
        Ok(store)
    }

    fn rt(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Runs `fut` on the store's runtime and waits for it: `block_in_place` on a multi-thread
    /// runtime, a plain wait elsewhere (the CLI, tests).
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.rt().spawn(async move {
            let r = match tokio::time::timeout(OP_TIMEOUT, fut).await {
                Ok(r) => r,
                Err(_) => Err(db(format!("no answer within {} s", OP_TIMEOUT.as_secs()))),
            };
            let _ = tx.send(r);
        });
        let wait = move || {
            rx.recv()
                .unwrap_or_else(|_| Err(db("the database task stopped")))
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }

    /// Runs `fut` on the store's runtime without blocking the caller.
    fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + 'static {
        let handle = self.rt().spawn(async move {
            match tokio::time::timeout(OP_TIMEOUT, fut).await {
                Ok(r) => r,
                Err(_) => Err(db(format!("no answer within {} s", OP_TIMEOUT.as_secs()))),
            }
        });
        async move { handle.await.map_err(db)? }
    }

    /// Runs a read: inside a step's transaction on this thread, on its connection (a step
    /// holds one already, and waiting for a second could starve every step of the pool);
    /// elsewhere on a pooled connection.
    fn read<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let step = current_step(&self.node);
        let pool = self.pool.clone();
        self.run(async move {
            let conn = match step {
                Some(s) => Conn::Step(s),
                None => Conn::Pooled(Box::new(pool.get().await.map_err(db)?)),
            };
            f(conn).await
        })
    }

    /// Runs `f` on a pooled connection, never a step's: for writes that commit on their own.
    fn pooled<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let pool = self.pool.clone();
        self.run(async move {
            let conn = pool.get().await.map_err(db)?;
            f(conn).await
        })
    }

    /// Runs a keyed read: `sql` with `params`, returning its rows. Inside a step's
    /// transaction on this thread it first takes the lock of `key` (once per transaction),
    /// pipelined: the read is a statement of its own, so it sees every commit made before the
    /// lock was granted. Elsewhere it reads on a pooled connection, locking nothing.
    fn keyed(
        &self,
        key: Key<'_>,
        sql: &'static str,
        params: Vec<Box<dyn ToSql + Sync + Send>>,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let Some(step) = current_step(&self.node) else {
            return self.pooled(move |c: Object| async move {
                let stmt = c.prepare_cached(sql).await.map_err(db)?;
                query(&c, &stmt, &params).await
            });
        };
        let lock = key.lock_id();
        self.run(async move {
            let read = LockedRead { lock, sql, params };
            let mut rows = locked_queries(&step, &[read]).await?;
            Ok(rows.pop().unwrap_or_default())
        })
    }

    /// Every record a keyed read finds, decoded (`what` names them in an error).
    fn keyed_all<T: serde::de::DeserializeOwned>(
        &self,
        key: Key<'_>,
        what: &str,
        sql: &'static str,
        param: Box<dyn ToSql + Sync + Send>,
    ) -> Result<Vec<T>, StoreError> {
        self.keyed(key, sql, vec![param])?
            .iter()
            .map(|r| decode(what, r.get::<_, &[u8]>(0)))
            .collect()
    }

    /// The record a keyed read by its primary key finds, decoded.
    fn keyed_one<T: serde::de::DeserializeOwned>(
        &self,
        key: Key<'_>,
        what: &str,
        sql: &'static str,
        param: Box<dyn ToSql + Sync + Send>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.keyed_all(key, what, sql, param)?.pop())
    }

    /// Checks this node's key ring against the one recorded in the database (recording it if
    /// none is): every node must sign with the same keys, or a token one node mints would be
    /// refused by another. `active` is the signing key's id, `keys` every key id in the ring.
    pub fn check_key_ring(&self, active: &str, keys: &[String]) -> Result<(), StoreError> {
        let mut sorted = keys.to_vec();
        sorted.sort();
        let mine = sorted.join(",");
        let (active, node) = (active.to_string(), self.node.to_string());
        let recorded = self.pooled(move |c: Object| async move {
            c.execute(
                "INSERT INTO key_ring (id, active, keys, recorded_by) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING",
                &[&active, &mine, &node],
            )
            .await
            .map_err(db)?;
            let row = c
                .query_one(
                    "SELECT active, keys, recorded_by, recorded_at::text FROM key_ring WHERE id = 1",
                    &[],
                )
                .await
                .map_err(db)?;
            let got: (String, String, String, String) = (row.get(0), row.get(1), row.get(2), row.get(3));
            Ok((got, active, mine))
        })?;
        let ((rec_active, rec_keys, by, at), active, mine) = recorded;
        if rec_active == active && rec_keys == mine {
            return Ok(());
        }
        Err(StoreError::Db(format!(
            "this node's key ring (signing key {active}; keys {mine}) differs from the one the database records (signing key {rec_active}; keys {rec_keys}; recorded by node {by} at {at}). Every node must sign with the same keys: copy the key directory from a node that serves, or after rolling a new ring to every node's key directory run `licd keys publish --database-url URL` (docs/operations.md, several nodes)"
        )))
    }

    /// Records this node's key ring as the one every node must serve with (`licd keys publish`).
    pub fn publish_key_ring(&self, active: &str, keys: &[String]) -> Result<(), StoreError> {
        let mut sorted = keys.to_vec();
        sorted.sort();
        let mine = sorted.join(",");
        let (active, node) = (active.to_string(), self.node.to_string());
        self.pooled(move |c: Object| async move {
            c.execute(
                "INSERT INTO key_ring (id, active, keys, recorded_by) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET active = EXCLUDED.active, keys = EXCLUDED.keys, recorded_by = EXCLUDED.recorded_by, recorded_at = now()",
                &[&active, &mine, &node],
            )
            .await
            .map_err(db)?;
            Ok(())
        })
    }
}

/// One keyed read of a step: the lock it takes, then the statement it runs.
struct LockedRead {
    lock: i64,
    sql: &'static str,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

/// Runs `reads` on `step`'s session, each taking its lock first (unless the step holds it
/// already): all pipelined, in that order, so each read is a statement of its own that sees
/// every commit made before its lock was granted. Returns each read's rows.
async fn locked_queries(
    step: &StepConn,
    reads: &[LockedRead],
) -> Result<Vec<Vec<tokio_postgres::Row>>, StoreError> {
    let c = step.client()?;
    // Every statement prepared first, so that they all go out in this order.
    let lock_stmt = c
        .prepare_cached("SELECT pg_advisory_lock($1)")
        .await
        .map_err(db)?;
    let mut stmts = Vec::with_capacity(reads.len());
    for r in reads {
        stmts.push(c.prepare_cached(r.sql).await.map_err(db)?);
    }
    let takes: Vec<bool> = {
        let mut locked = step.locked.lock().unwrap_or_else(|e| e.into_inner());
        reads.iter().map(|r| locked.insert(r.lock)).collect()
    };
    if takes.contains(&true) {
        step.open.store(true, Ordering::SeqCst);
    }
    let client: &tokio_postgres::Client = c;
    type Call<'f> = Pin<
        Box<dyn Future<Output = Result<Option<Vec<tokio_postgres::Row>>, StoreError>> + Send + 'f>,
    >;
    let mut calls: Vec<Call<'_>> = Vec::with_capacity(2 * reads.len());
    for ((r, stmt), take) in reads.iter().zip(&stmts).zip(takes) {
        if take {
            let lock_stmt = &lock_stmt;
            calls.push(Box::pin(async move {
                client.execute(lock_stmt, &[&r.lock]).await.map_err(db)?;
                Ok(None)
            }));
        }
        calls.push(Box::pin(async move {
            query(client, stmt, &r.params).await.map(Some)
        }));
    }
    // `join_all` polls in order, and each request goes out on its first poll. Without its
    // lock, what a read returned proves nothing: the first failure, in order, fails the step.
    let mut rows = Vec::with_capacity(reads.len());
    for answer in futures_util::future::join_all(calls).await {
        if let Some(r) = answer? {
            rows.push(r);
        }
    }
    Ok(rows)
}

/// Runs a prepared statement; its request goes out when the future is first polled.
async fn query(
    c: &tokio_postgres::Client,
    stmt: &tokio_postgres::Statement,
    params: &[Box<dyn ToSql + Sync + Send>],
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let refs: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    c.query(stmt, &refs).await.map_err(db)
}

/// Serves flush requests: takes every request already queued and answers them all with one
/// durable commit, so a request that arrives during a barrier waits for the next one (which
/// covers its own commit).
async fn group_flush(
    pool: Pool,
    node: String,
    mut rx: mpsc::UnboundedReceiver<oneshot::Sender<Result<(), StoreError>>>,
) {
    while let Some(first) = rx.recv().await {
        let mut waiters = vec![first];
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        let result = match tokio::time::timeout(OP_TIMEOUT, barrier(&pool, &node)).await {
            Ok(r) => r,
            Err(_) => Err(db("the durability barrier did not finish in time")),
        };
        for w in waiters {
            let _ = w.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Db(e.to_string())),
            });
        }
    }
}

/// One synchronous commit of a write: returns once the WAL up to it (and so every commit
/// before it) is durable.
async fn barrier(pool: &Pool, node: &str) -> Result<(), StoreError> {
    let conn = pool.get().await.map_err(db)?;
    let stmt = conn
        .prepare_cached(
            "INSERT INTO flush_marks (node, n) VALUES ($1, 1) ON CONFLICT (node) DO UPDATE SET n = flush_marks.n + 1, at = now()",
        )
        .await
        .map_err(db)?;
    match conn.execute(&stmt, &[&node]).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let _ = Object::take(conn);
            Err(db(e))
        }
    }
}

/// The `meta` row: the audit head and the status counts.
#[derive(Debug, Clone)]
struct Meta {
    audit_seq: u64,
    audit_hash: String,
    counts: StatusCounts,
}

/// Begins the write transaction on `conn`: the lock, then the head it extends.
async fn begin_locked(conn: &Object) -> Result<Meta, StoreError> {
    let rows = conn
        .simple_query(&format!(
            "BEGIN; SET LOCAL synchronous_commit = off; SET LOCAL lock_timeout = '{}s'; SELECT pg_advisory_xact_lock({WRITE_LOCK}); SELECT audit_seq, audit_hash, active, frozen, released FROM meta WHERE id = 1",
            OP_TIMEOUT.as_secs()
        ))
        .await
        .map_err(db)?;
    let row = rows
        .iter()
        .rev()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) if r.len() == 5 => Some(r),
            _ => None,
        })
        .ok_or_else(|| db("the meta row is missing: was the schema applied?"))?;
    let num = |i: usize| -> Result<u64, StoreError> {
        row.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| db("the meta row is unreadable"))
    };
    Ok(Meta {
        audit_seq: num(0)?,
        audit_hash: row.get(1).unwrap_or_default().to_string(),
        counts: StatusCounts {
            active: num(2)?,
            frozen: num(3)?,
            released: num(4)?,
        },
    })
}

/// Keeps the last of several writes to one key, in first-seen order.
fn last_per_key<T, K: Eq + std::hash::Hash + Clone>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut seen = std::collections::HashMap::new();
    let mut out: Vec<Option<T>> = Vec::with_capacity(items.len());
    for item in items {
        match seen.get(&key(&item)) {
            Some(&i) => out[i] = Some(item),
            None => {
                seen.insert(key(&item), out.len());
                out.push(Some(item));
            }
        }
    }
    out.into_iter().flatten().collect()
}

/// One pipelined statement of a commit.
type Write<'a> = std::pin::Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// Commits `batch` on `conn` in a transaction of its own, under the cluster-wide write lock:
/// the audit records extend the head read under it, and the counters move from the statuses the
/// licenses had just before.
async fn write_batch(conn: &Object, batch: Batch) -> Result<(), StoreError> {
    let licenses = last_per_key(batch.licenses, |l| l.id.clone());
    let ids: Vec<&str> = licenses.iter().map(|l| l.id.as_str()).collect();
    // The statuses before this commit, read in the same round trip as the head: the statement
    // runs after the lock is granted, and only a committer holding it writes licenses.
    let before = conn
        .prepare_cached("SELECT id, body FROM licenses WHERE id = ANY($1)")
        .await
        .map_err(db)?;
    let client: &tokio_postgres::Client = conn;
    let (meta, old) = futures_util::future::join(begin_locked(conn), async {
        match ids.is_empty() {
            true => Ok(Vec::new()),
            false => client.query(&before, &[&ids]).await.map_err(db),
        }
    })
    .await;
    let meta = meta?;
    let mut old_rows = HashMap::new();
    for r in old? {
        let id: String = r.get(0);
        let l: License = decode(&id, r.get::<_, &[u8]>(1))?;
        old_rows.insert(id, (l.status, Shape::of(&l)));
    }
    let mut counts = meta.counts;
    let mut deltas: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for (k, n) in &batch.stats {
        *deltas.entry(k.clone()).or_default() += n;
    }
    let mut revocations: Vec<String> = batch.revocations;
    for l in &licenses {
        let before = old_rows.remove(&l.id);
        Shape::tally(before.as_ref().map(|(_, s)| s), &Shape::of(l), &mut deltas);
        let was = before.map(|(s, _)| s);
        if let Some(was) = was {
            *counts.slot(was) = counts.slot(was).saturating_sub(1);
        }
        *counts.slot(l.status) += 1;
        if l.status == Status::Released && was != Some(Status::Released) {
            revocations.push(l.id.clone());
        }
    }
    let stamp = encode(&Timestamp::now());

    let mut seq = meta.audit_seq;
    let mut prev = meta.audit_hash.clone();
    let (mut a_seq, mut a_prev, mut a_hash, mut a_lic, mut a_body) =
        (vec![], vec![], vec![], vec![], vec![]);
    for e in batch.audit {
        seq += 1;
        let json = encode(&e);
        let hash = link(&prev, seq, &json);
        let record = AuditRecord {
            seq,
            prev: prev.clone(),
            hash: hash.clone(),
            event: e,
        };
        a_seq.push(i64::try_from(seq).map_err(db)?);
        a_prev.push(prev);
        a_hash.push(hash.clone());
        a_lic.push(record.event.license_id.clone());
        a_body.push(encode(&record));
        prev = hash;
    }

    // Statements go out pipelined: one round trip for all of them, then COMMIT.
    let mut writes: Vec<Write<'_>> = Vec::new();
    let exec = |sql: &'static str,
                params: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>>,
                expect: Option<u64>| {
        Box::pin(async move {
            let stmt = conn.prepare_cached(sql).await.map_err(db)?;
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            let n = conn.execute(&stmt, &refs).await.map_err(db)?;
            match expect {
                Some(want) if n != want => Err(StoreError::Db(format!(
                    "postgresql: a concurrent writer changed what this commit relies on ({sql:.40}…: {n} of {want} rows)"
                ))),
                _ => Ok(()),
            }
        }) as Write<'_>
    };
    if !licenses.is_empty() {
        let ids: Vec<String> = licenses.iter().map(|l| l.id.clone()).collect();
        let st: Vec<i16> = licenses.iter().map(|l| status_code(l.status)).collect();
        let bodies: Vec<Vec<u8>> = licenses.iter().map(encode).collect();
        writes.push(exec(
            "INSERT INTO licenses (id, status, body) SELECT * FROM unnest($1::text[], $2::int2[], $3::bytea[]) ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, body = EXCLUDED.body",
            vec![Box::new(ids), Box::new(st), Box::new(bodies)],
            None,
        ));
    }
    deltas.retain(|_, d| *d != 0);
    if !deltas.is_empty() {
        let (keys, ns): (Vec<String>, Vec<i64>) = deltas.into_iter().unzip();
        writes.push(exec(
            "INSERT INTO stats (key, n) SELECT * FROM unnest($1::text[], $2::int8[]) ON CONFLICT (key) DO UPDATE SET n = stats.n + EXCLUDED.n",
            vec![Box::new(keys), Box::new(ns)],
            None,
        ));
    }
    let orders = last_per_key(batch.orders, |(k, _)| k.clone());
    if !orders.is_empty() {
        let n = orders.len() as u64;
        let keys: Vec<Vec<u8>> = orders.iter().map(|(k, _)| k.to_bytes()).collect();
        let ids: Vec<String> = orders.into_iter().map(|(_, id)| id).collect();
        // A purchase already recorded for another license is not overwritten: the commit fails.
        writes.push(exec(
            "INSERT INTO orders (key, license_id) SELECT * FROM unnest($1::bytea[], $2::text[]) ON CONFLICT (key) DO UPDATE SET license_id = EXCLUDED.license_id WHERE orders.license_id = EXCLUDED.license_id",
            vec![Box::new(keys), Box::new(ids)],
            Some(n),
        ));
    }
    if !batch.applied.is_empty() {
        writes.push(exec(
            "INSERT INTO applied (key) SELECT unnest($1::bytea[]) ON CONFLICT DO NOTHING",
            vec![Box::new(
                batch
                    .applied
                    .into_iter()
                    .map(String::into_bytes)
                    .collect::<Vec<_>>(),
            )],
            None,
        ));
    }
    let devices = last_per_key(batch.devices, |(k, _)| k.to_bytes());
    if !devices.is_empty() {
        let keys: Vec<Vec<u8>> = devices.iter().map(|(k, _)| k.to_bytes()).collect();
        let ids: Vec<String> = devices.iter().map(|(k, _)| k.license_id.clone()).collect();
        let bodies: Vec<Vec<u8>> = devices.iter().map(|(_, d)| encode(d)).collect();
        writes.push(exec(
            "INSERT INTO devices (key, license_id, body) SELECT * FROM unnest($1::bytea[], $2::text[], $3::bytea[]) ON CONFLICT (key) DO UPDATE SET body = EXCLUDED.body",
            vec![Box::new(keys), Box::new(ids), Box::new(bodies)],
            None,
        ));
    }
    let activations = last_per_key(batch.activations, |a| (a.license_id.clone(), a.seat));
    if !activations.is_empty() {
        let ids: Vec<String> = activations.iter().map(|a| a.license_id.clone()).collect();
        let seats: Vec<i32> = activations
            .iter()
            .map(|a| i32::try_from(a.seat).unwrap_or(i32::MAX))
            .collect();
        let bodies: Vec<Vec<u8>> = activations.iter().map(encode).collect();
        writes.push(exec(
            "INSERT INTO activations (license_id, seat, body) SELECT * FROM unnest($1::text[], $2::int4[], $3::bytea[]) ON CONFLICT (license_id, seat) DO UPDATE SET body = EXCLUDED.body",
            vec![Box::new(ids), Box::new(seats), Box::new(bodies)],
            None,
        ));
    }
    let jobs = last_per_key(batch.jobs, |j| j.id.clone());
    if !jobs.is_empty() {
        let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
        let bodies: Vec<Vec<u8>> = jobs.iter().map(encode).collect();
        let dead: Vec<bool> = jobs.iter().map(|j| j.dead).collect();
        let next: Vec<i64> = jobs.iter().map(|j| j.next_at.unix()).collect();
        writes.push(exec(
            "INSERT INTO outbox (id, body, dead, next_at) SELECT * FROM unnest($1::text[], $2::bytea[], $3::bool[], $4::int8[]) ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, dead = EXCLUDED.dead, next_at = EXCLUDED.next_at, lease_until = NULL",
            vec![Box::new(ids), Box::new(bodies), Box::new(dead), Box::new(next)],
            None,
        ));
    }
    if !batch.jobs_done.is_empty() {
        writes.push(exec(
            "DELETE FROM outbox WHERE id = ANY($1)",
            vec![Box::new(batch.jobs_done)],
            None,
        ));
    }
    if !revocations.is_empty() {
        let stamps: Vec<Vec<u8>> = revocations.iter().map(|_| stamp.clone()).collect();
        writes.push(exec(
            "INSERT INTO revoked (entry, at) SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING",
            vec![Box::new(revocations), Box::new(stamps)],
            None,
        ));
    }
    if !a_seq.is_empty() {
        writes.push(exec(
            "INSERT INTO audit (seq, prev, hash, license_id, body) SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::bytea[])",
            vec![Box::new(a_seq), Box::new(a_prev), Box::new(a_hash), Box::new(a_lic), Box::new(a_body)],
            None,
        ));
    }
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    writes.push(exec(
        "UPDATE meta SET audit_seq = $1, audit_hash = $2, active = $3, frozen = $4, released = $5 WHERE id = 1 AND audit_seq = $6",
        vec![
            Box::new(as_i64(seq)),
            Box::new(prev),
            Box::new(as_i64(counts.active)),
            Box::new(as_i64(counts.frozen)),
            Box::new(as_i64(counts.released)),
            Box::new(as_i64(meta.audit_seq)),
        ],
        Some(1),
    ));
    let results = futures_util::future::join_all(writes).await;
    for r in results {
        r?;
    }
    // Not pipelined with the writes: a write whose statement this connection has not prepared
    // yet goes out only once its prepare answers, so a COMMIT sent with them could overtake it
    // (the write would then run outside the transaction and its lock: a two-node test forked
    // the audit sequence that way); and the row counts above must be checked before it.
    conn.batch_execute("COMMIT").await.map_err(db)?;
    Ok(())
}

/// This node's committer: takes every batch already waiting (up to [`MAX_GROUP`]) and commits
/// them in one transaction, so the cluster-wide write lock is taken once per group, not once
/// per step. Batches come from steps holding their own key locks, so no two in a group write
/// the same record unless one of them wrote it without reading it (and then the later wins,
/// as it would committed alone). If a group fails while the connection still stands (the
/// server refused something in one batch), each batch is committed alone, so one bad batch
/// fails only its own step.
async fn group_commit(pool: Pool, mut rx: mpsc::UnboundedReceiver<Commit>) {
    let mut conn: Option<Object> = None;
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(c) => group.push(c),
                Err(_) => break,
            }
        }
        if group.len() == 1 {
            let Commit { batch, done } = group.remove(0);
            let _ = done.send(
                commit_on(&pool, &mut conn, batch)
                    .await
                    .map_err(|f| f.error),
            );
            continue;
        }
        let mut merged = Batch::default();
        for c in &group {
            merged.append(c.batch.clone());
        }
        match commit_on(&pool, &mut conn, merged).await {
            Ok(()) => {
                for c in group {
                    let _ = c.done.send(Ok(()));
                }
            }
            Err(f) if f.lost => {
                for c in group {
                    let _ = c.done.send(Err(StoreError::Db(f.error.to_string())));
                }
            }
            Err(_) => {
                for Commit { batch, done } in group {
                    let _ = done.send(
                        commit_on(&pool, &mut conn, batch)
                            .await
                            .map_err(|f| f.error),
                    );
                }
            }
        }
    }
}

/// A commit's failure, and whether it lost the connection (so that trying each batch of the
/// group alone would only wait out the same timeout again).
struct Failed {
    error: StoreError,
    lost: bool,
}

/// Commits `batch` on the committer's connection (`conn`, opened when missing), within
/// [`OP_TIMEOUT`]. A connection whose commit failed is closed, which rolls the transaction back
/// and releases the lock, rather than reused.
async fn commit_on(pool: &Pool, conn: &mut Option<Object>, batch: Batch) -> Result<(), Failed> {
    let c = match conn.take() {
        Some(c) if !c.is_closed() => c,
        _ => pool.get().await.map_err(|e| Failed {
            error: db(e),
            lost: true,
        })?,
    };
    match tokio::time::timeout(OP_TIMEOUT, write_batch(&c, batch)).await {
        Ok(Ok(())) => {
            *conn = Some(c);
            Ok(())
        }
        Ok(Err(error)) => {
            let lost = c.is_closed();
            let _ = Object::take(c);
            Err(Failed { error, lost })
        }
        Err(_) => {
            let _ = Object::take(c);
            Err(Failed {
                error: db(format!(
                    "the commit did not finish within {} s",
                    OP_TIMEOUT.as_secs()
                )),
                lost: true,
            })
        }
    }
}

/// A stored record's JSON body, as sled's records are read (`what` names it in the error).
fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    super::sled_store::decode(what.as_bytes(), bytes)
}

impl Store for PgStore {
    fn license(&self, id: &str) -> Result<Option<License>, StoreError> {
        if let Some(step) = current_step(&self.node)
            && let Some((read, l)) = &step.ahead.license
            && read == id
        {
            return Ok(l.clone());
        }
        self.keyed_one(Key::License(id), id, LICENSE_SQL, Box::new(id.to_string()))
    }

    fn order(&self, key: &OrderKey) -> Result<Option<String>, StoreError> {
        let bytes = key.to_bytes();
        if let Some(step) = current_step(&self.node)
            && let Some((k, id)) = &step.ahead.order
            && *k == bytes
        {
            return Ok(id.clone());
        }
        let rows = self.keyed(Key::Order(key), ORDER_SQL, vec![Box::new(bytes)])?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn applied(&self, key: &str) -> Result<bool, StoreError> {
        let rows = self.keyed(
            Key::Applied(key),
            "SELECT 1 FROM applied WHERE key = $1",
            vec![Box::new(key.as_bytes().to_vec())],
        )?;
        Ok(!rows.is_empty())
    }

    fn device(&self, key: &DeviceKey) -> Result<Option<DeviceLicense>, StoreError> {
        self.keyed_one(
            Key::License(&key.license_id),
            "device",
            "SELECT body FROM devices WHERE key = $1",
            Box::new(key.to_bytes()),
        )
    }

    fn devices_for(&self, license_id: &str) -> Result<Vec<DeviceLicense>, StoreError> {
        self.keyed_all(
            Key::License(license_id),
            "device",
            "SELECT body FROM devices WHERE license_id = $1 ORDER BY key",
            Box::new(license_id.to_string()),
        )
    }

    fn activations(&self, license_id: &str) -> Result<Vec<Activation>, StoreError> {
        self.keyed_all(
            Key::License(license_id),
            "activation",
            "SELECT body FROM activations WHERE license_id = $1 ORDER BY seat",
            Box::new(license_id.to_string()),
        )
    }

    fn licenses_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<License>, StoreError> {
        let after = after.map(str::to_string);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c: Conn| async move {
            let c = c.client()?;
            let rows = match &after {
                Some(a) => {
                    c.query(
                        "SELECT body FROM licenses WHERE id > $1 ORDER BY id LIMIT $2",
                        &[a, &limit],
                    )
                    .await
                }
                None => {
                    c.query("SELECT body FROM licenses ORDER BY id LIMIT $1", &[&limit])
                        .await
                }
            }
            .map_err(db)?;
            rows.iter()
                .map(|r| decode("license", r.get::<_, &[u8]>(0)))
                .collect()
        })
    }

    fn stats(&self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let prefix = prefix.to_string();
        self.read(move |c: Conn| async move {
            let c = c.client()?;
            let stmt = c
                .prepare_cached("SELECT key, n FROM stats WHERE starts_with(key, $1) ORDER BY key")
                .await
                .map_err(db)?;
            Ok(c.query(&stmt, &[&prefix])
                .await
                .map_err(db)?
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
                .collect())
        })
    }

    fn counts(&self) -> Result<StatusCounts, StoreError> {
        self.read(move |c: Conn| async move {
            let c = c.client()?;
            let stmt = c
                .prepare_cached("SELECT active, frozen, released FROM meta WHERE id = 1")
                .await
                .map_err(db)?;
            let r = c.query_one(&stmt, &[]).await.map_err(db)?;
            let n = |i: usize| u64::try_from(r.get::<_, i64>(i)).unwrap_or(0);
            Ok(StatusCounts {
                active: n(0),
                frozen: n(1),
                released: n(2),
            })
        })
    }

    fn revoked(&self) -> Result<(u64, Vec<String>), StoreError> {
        self.read(move |c: Conn| async move {
            let c = c.client()?;
            // The number first, as in sled: an entry added in between is listed under the
            // older number, and the next list carries it too.
            let seq: i64 = c
                .query_one("SELECT coalesce(max(seq), 0)::int8 FROM revoked", &[])
                .await
                .map_err(db)?
                .get(0);
            let entries = c
                .query("SELECT entry FROM revoked ORDER BY entry", &[])
                .await
                .map_err(db)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            Ok((u64::try_from(seq).unwrap_or(0), entries))
        })
    }

    fn is_revoked(&self, entry: &str) -> Result<bool, StoreError> {
        let entry = entry.to_string();
        self.read(move |c: Conn| async move {
            let c = c.client()?;
            let stmt = c
                .prepare_cached("SELECT 1 FROM revoked WHERE entry = $1")
                .await
                .map_err(db)?;
            Ok(c.query_opt(&stmt, &[&entry]).await.map_err(db)?.is_some())
        })
    }

    fn begin(&self, ahead: Ahead<'_>) -> Option<BeginFuture<'_>> {
        let pool = self.pool.clone();
        let node = self.node.clone();
        let order = ahead
            .purchase
            .map(|k| (Key::Order(k).lock_id(), k.to_bytes()));
        let license = ahead
            .license
            .map(|id| (Key::License(id).lock_id(), id.to_string()));
        // Dropped on failure or timeout: a connection that may hold the locks is closed.
        let begun = self.spawn(async move {
            let mut step = StepConn {
                node,
                conn: Some(pool.get().await.map_err(db)?),
                locked: Mutex::default(),
                ahead: ReadAhead::default(),
                open: AtomicBool::new(false),
            };
            // In the order every step locks: the purchase, then the license.
            let mut reads = Vec::with_capacity(2);
            if let Some((lock, key)) = &order {
                let params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(key.clone())];
                reads.push(LockedRead {
                    lock: *lock,
                    sql: ORDER_SQL,
                    params,
                });
            }
            if let Some((lock, id)) = &license {
                let params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(id.clone())];
                reads.push(LockedRead {
                    lock: *lock,
                    sql: LICENSE_SQL,
                    params,
                });
            }
            if reads.is_empty() {
                return Ok(step);
            }
            let mut rows = locked_queries(&step, &reads).await?.into_iter();
            if let Some((_, key)) = order {
                let id = rows.next().unwrap_or_default().first().map(|r| r.get(0));
                step.ahead.order = Some((key, id));
            }
            if let Some((_, id)) = license {
                let row = rows.next().unwrap_or_default();
                let l = row.first().map(|r| decode(&id, r.get::<_, &[u8]>(0)));
                step.ahead.license = Some((id, l.transpose()?));
            }
            Ok(step)
        });
        let (handle, commits) = (self.handle.clone(), self.commits.clone());
        Some(Box::pin(async move {
            Ok(Box::new(PgStep {
                step: Some(Arc::new(begun.await?)),
                handle,
                commits,
            }) as Box<dyn Transaction>)
        }))
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.commits
            .send(Commit { batch, done })
            .map_err(|_| db("the committer has stopped"))?;
        self.run(async move {
            answer
                .await
                .unwrap_or_else(|_| Err(db("the committer has stopped")))
        })
    }

    fn flush(&self) -> StoreFuture<'_> {
        let (tx, rx) = oneshot::channel();
        let sent = self.flushes.send(tx);
        Box::pin(async move {
            sent.map_err(|_| db("the flush task has stopped"))?;
            rx.await.map_err(|_| db("the flush task has stopped"))?
        })
    }

    fn audit_for(&self, license_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        self.bodies(
            "SELECT body FROM audit WHERE license_id = $1 ORDER BY seq",
            license_id,
        )
    }

    fn first_audit_at(&self) -> Result<Option<Timestamp>, StoreError> {
        // `bodies` binds one text parameter, which this query does not need.
        let first: Vec<AuditRecord> = self.bodies(
            "SELECT body FROM audit WHERE $1::text IS NOT NULL ORDER BY seq LIMIT 1",
            "",
        )?;
        Ok(first.into_iter().next().map(|r| r.event.at))
    }

    fn verify_audit_chain(&self) -> Result<Result<u64, u64>, StoreError> {
        self.read(move |c: Conn| async move {
            let c = c.client()?;
            use futures_util::StreamExt;
            let rows = c
                .query_raw(
                    "SELECT seq, body FROM audit ORDER BY seq",
                    std::iter::empty::<i64>(),
                )
                .await
                .map_err(db)?;
            let mut rows = std::pin::pin!(rows);
            let mut chain = super::AuditChain::default();
            while let Some(row) = rows.next().await {
                let row = row.map_err(db)?;
                let seq = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
                if let Err(broken) = chain.push(&seq.to_be_bytes(), row.get::<_, &[u8]>(1))? {
                    return Ok(Err(broken));
                }
            }
            Ok(Ok(chain.len()))
        })
    }

    fn remember_nonce(&self, nonce: &str, expires: Timestamp) -> Result<bool, StoreError> {
        let nonce = nonce.as_bytes().to_vec();
        self.pooled(move |c: Object| async move {
            let stmt = c
                .prepare_cached(
                    "INSERT INTO nonces (nonce, expires) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .await
                .map_err(db)?;
            Ok(c.execute(&stmt, &[&nonce, &expires.unix()])
                .await
                .map_err(db)?
                == 1)
        })
    }

    fn claim(&self, key: &str, until: Timestamp, now: Timestamp) -> Result<bool, StoreError> {
        let key = key.as_bytes().to_vec();
        self.pooled(move |c: Object| async move {
            // One statement: inserted, or taken over from a holder whose claim expired; the
            // row lock makes two takers of one expired claim one winner.
            let stmt = c
                .prepare_cached(
                    "INSERT INTO nonces (nonce, expires) VALUES ($1, $2) \
                     ON CONFLICT (nonce) DO UPDATE SET expires = EXCLUDED.expires \
                     WHERE nonces.expires < $3",
                )
                .await
                .map_err(db)?;
            Ok(c.execute(&stmt, &[&key, &until.unix(), &now.unix()])
                .await
                .map_err(db)?
                == 1)
        })
    }

    fn release_claim(&self, key: &str, until: Timestamp) -> Result<(), StoreError> {
        let key = key.as_bytes().to_vec();
        self.pooled(move |c: Object| async move {
            c.execute(
                "DELETE FROM nonces WHERE nonce = $1 AND expires = $2",
                &[&key, &until.unix()],
            )
            .await
            .map_err(db)?;
            Ok(())
        })
    }

    fn prune_nonces(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.pooled(move |c: Object| async move {
            let n = c
                .execute("DELETE FROM nonces WHERE expires < $1", &[&now.unix()])
                .await
                .map_err(db)?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.read(move |c: Conn| async move {
            let c = c.client()?;
            c.query("SELECT body FROM outbox ORDER BY id", &[])
                .await
                .map_err(db)?
                .iter()
                .map(|r| decode("outbox job", r.get::<_, &[u8]>(0)))
                .collect()
        })
    }

    fn job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        self.keyed_one(
            Key::Job(id),
            id,
            "SELECT body FROM outbox WHERE id = $1",
            Box::new(id.to_string()),
        )
    }

    fn lease_jobs(&self, due: Vec<Job>) -> Result<Vec<Job>, StoreError> {
        if due.is_empty() {
            return Ok(due);
        }
        let ids: Vec<String> = due.iter().map(|j| j.id.clone()).collect();
        let now = Timestamp::now().unix();
        let slot = self.lease_conn.clone();
        let pool = self.pool.clone();
        let won: std::collections::HashSet<String> = self.run(async move {
            let mut slot = slot.lock().await;
            let conn = match slot.take() {
                Some(c) if !c.is_closed() => c,
                _ => Object::take(pool.get().await.map_err(db)?),
            };
            let result = async {
                // A lease is a session advisory lock on the job: held by this node's lease
                // connection while the call runs, gone the moment the node (or its session)
                // dies, so the other node takes the job over at once.
                let locked: Vec<String> = conn
                    .query(
                        &format!("SELECT id FROM unnest($1::text[]) AS id WHERE pg_try_advisory_lock({LEASE_CLASS}, hashtext(id))"),
                        &[&ids],
                    )
                    .await
                    .map_err(db)?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                // Still due now that it is ours? Another node may have just finished it.
                let due: Vec<String> = conn
                    .query(
                        "SELECT id FROM outbox WHERE id = ANY($1) AND NOT dead AND next_at <= $2",
                        &[&locked, &now],
                    )
                    .await
                    .map_err(db)?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let stale: Vec<&String> = locked.iter().filter(|id| !due.contains(id)).collect();
                if !stale.is_empty() {
                    conn.execute(
                        &format!("SELECT pg_advisory_unlock({LEASE_CLASS}, hashtext(id)) FROM unnest($1::text[]) AS id"),
                        &[&stale],
                    )
                    .await
                    .map_err(db)?;
                }
                Ok::<_, StoreError>(due)
            }
            .await;
            if result.is_ok() {
                *slot = Some(conn);
            }
            result.map(|d| d.into_iter().collect())
        })?;
        Ok(due.into_iter().filter(|j| won.contains(&j.id)).collect())
    }

    fn release_jobs(&self, ids: &[String]) {
        let ids = ids.to_vec();
        let slot = self.lease_conn.clone();
        // Best effort: a lease that cannot be released ends with the session.
        let _ = self.run(async move {
            let mut slot = slot.lock().await;
            if let Some(conn) = slot.as_ref()
                && let Err(e) = conn
                    .execute(
                        &format!("SELECT pg_advisory_unlock({LEASE_CLASS}, hashtext(id)) FROM unnest($1::text[]) AS id"),
                        &[&ids],
                    )
                    .await
            {
                tracing::warn!(error = %db(e), "outbox: could not release a lease; closing the lease connection");
                drop(slot.take());
            }
            Ok(())
        });
    }

    fn disk_bytes(&self) -> Result<u64, StoreError> {
        self.read(move |c: Conn| async move {
            let c = c.client()?;
            let n: i64 = c
                .query_one("SELECT pg_database_size(current_database())", &[])
                .await
                .map_err(db)?
                .get(0);
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}

impl PgStore {
    /// The JSON bodies a one-parameter query returns, decoded.
    fn bodies<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        sql: &'static str,
        param: &str,
    ) -> Result<Vec<T>, StoreError> {
        let param = param.to_string();
        self.read(move |c: Conn| async move {
            let c = c.client()?;
            let stmt = c.prepare_cached(sql).await.map_err(db)?;
            c.query(&stmt, &[&param])
                .await
                .map_err(db)?
                .iter()
                .map(|r| decode(sql, r.get::<_, &[u8]>(0)))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(
            redacted_url("postgres://licd:s3cret@db.internal:5432/licd"),
            "postgres://licd:***@db.internal:5432/licd"
        );
        assert_eq!(
            redacted_url("postgres://db.internal/licd"),
            "postgres://db.internal/licd"
        );
        assert_eq!(
            redacted_url("postgres://a:b@c@host/db"),
            "postgres://a:***@host/db"
        );
        assert_eq!(
            redacted_url("postgres://licd@db/licd?sslmode=disable&password=s3cret"),
            "postgres://licd@db/licd?sslmode=disable&password=***"
        );
        assert_eq!(
            redacted_url("postgresql://db/licd?PASSWORD=s3cret@x"),
            "postgresql://db/licd?PASSWORD=***"
        );
        let e = pg_config("postgres://licd:s3cret@[::1/licd")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(pg_config("mysql://x/y").is_err());
        let e = pg_config("postgres://licd:s3cret@h/licd?sslmode=require")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sslrootcert") && !e.contains("s3cret"), "{e}");
        let e = pg_config(
            "postgres://licd:s3cret@h/licd?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("/nonexistent/ca.pem") && !e.contains("s3cret"),
            "{e}"
        );
    }

    #[test]
    fn the_last_write_to_a_key_wins_in_first_seen_order() {
        let v = vec![("a", 1), ("b", 2), ("a", 3)];
        assert_eq!(last_per_key(v, |p| p.0), vec![("a", 3), ("b", 2)]);
    }
}
