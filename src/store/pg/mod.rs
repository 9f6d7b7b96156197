//! The PostgreSQL implementation of [`Store`]: several licd on one database.
//!
//! The tables mirror sled's collections (`0001_initial.sql`); record bodies are the same JSON
//! bytes. What holds on one node holds across nodes because the database enforces it:
//!
//! - **Locks on what a step read, cluster-wide.** The service decides inside a [`Tx`]
//!   ([`Store::begin`]) with a connection of its own, on which every keyed read first takes an
//!   advisory lock on its key (the license, the purchase, the applied key, the outbox job),
//!   held until the step's batch is committed. Steps on other licenses run in parallel, on
//!   this node and the others; two steps on one license or one purchase run one after the
//!   other, the second reading what the first committed. A node that dies mid-way loses its
//!   session and with it its locks.
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
//! Everything here is driven on the caller's runtime with tokio-postgres: a read that waits for
//! the database parks its task, never a thread.

mod migrate;
mod tls;

pub use migrate::{ImportSummary, SCHEMA_VERSION, import_sled, migrate, schema_version};

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use client_verifier::Timestamp;
use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;

use super::codec::{AuditChain, encode};
use super::plan::{Head, Plan, Prior, plan};
use super::{
    AuditRecord, Batch, DeviceKey, OrderKey, StatusCounts, Store, StoreError, Transaction, Tx,
};
use crate::job::Job;
use crate::license::lease::Lease;
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
    /// The committer's queue.
    commits: mpsc::UnboundedSender<Commit>,
    /// The group-flush task's queue.
    flushes: mpsc::UnboundedSender<oneshot::Sender<Result<(), StoreError>>>,
    /// This process, in `flush_marks` and `key_ring`.
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

/// A step's connection and the locks it holds. The locks are session advisory locks, taken
/// by the reads (which run as statements of their own, so each sees every commit made before
/// its lock was granted) and released together when the step ends: three statements for a
/// step that reads one record, where a transaction would need five.
struct StepConn {
    conn: Option<Object>,
    /// The lock keys taken so far.
    locked: HashSet<i64>,
    /// Whether the session may hold locks: such a connection is never pooled as it is.
    open: bool,
}

impl StepConn {
    fn client(&self) -> Result<&ClientWrapper, StoreError> {
        self.conn
            .as_deref()
            .ok_or_else(|| db("the transaction's connection is gone"))
    }

    /// Ends the step (its batch, if any, went to the committer): releases its locks in the
    /// background and pools the connection again; one that cannot release them is closed,
    /// which releases them too.
    fn end(mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if !self.open {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let released = tokio::time::timeout(
                        OP_TIMEOUT,
                        conn.batch_execute("SELECT pg_advisory_unlock_all()"),
                    )
                    .await
                    .is_ok_and(|r| r.is_ok());
                    if !released {
                        let _ = Object::take(conn);
                    }
                });
            }
            Err(_) => {
                let _ = Object::take(conn);
            }
        }
    }
}

/// A [`Tx`] on [`PgStore`]: a connection of its own, whose keyed reads lock what they read.
struct PgTx {
    step: Option<StepConn>,
    commits: mpsc::UnboundedSender<Commit>,
}

impl Drop for PgTx {
    fn drop(&mut self) {
        if let Some(s) = self.step.take() {
            s.end();
        }
    }
}

impl PgTx {
    /// Runs `read` on the step's session, taking its lock first (once per step).
    async fn rows(&mut self, read: Read) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let step = self
            .step
            .as_mut()
            .ok_or_else(|| db("the transaction has ended"))?;
        locked_query(step, read).await
    }
}

#[async_trait::async_trait]
impl Transaction for PgTx {
    async fn license(&mut self, id: &str) -> Result<Option<License>, StoreError> {
        one(self.rows(Read::license(id)).await?, id)
    }
    async fn order(&mut self, key: &OrderKey) -> Result<Option<String>, StoreError> {
        Ok(self.rows(Read::order(key)).await?.first().map(|r| r.get(0)))
    }
    async fn purchase_and_license(
        &mut self,
        key: &OrderKey,
        id: &str,
    ) -> Result<(Option<String>, Option<License>), StoreError> {
        let step = self
            .step
            .as_mut()
            .ok_or_else(|| db("the transaction has ended"))?;
        let mut rows = locked_queries(step, vec![Read::order(key), Read::license(id)])
            .await?
            .into_iter();
        let order = rows.next().unwrap_or_default().first().map(|r| r.get(0));
        let license = one(rows.next().unwrap_or_default(), id)?;
        Ok((order, license))
    }
    async fn applied(&mut self, key: &str) -> Result<bool, StoreError> {
        Ok(!self.rows(Read::applied(key)).await?.is_empty())
    }
    async fn device(&mut self, key: &DeviceKey) -> Result<Option<DeviceLicense>, StoreError> {
        one(self.rows(Read::device(key)).await?, "device")
    }
    async fn devices_for(&mut self, license_id: &str) -> Result<Vec<DeviceLicense>, StoreError> {
        all(self.rows(Read::devices_for(license_id)).await?, "device")
    }
    async fn activations(&mut self, license_id: &str) -> Result<Vec<Activation>, StoreError> {
        all(
            self.rows(Read::activations(license_id)).await?,
            "activation",
        )
    }
    async fn leases(&mut self, license_id: &str) -> Result<(Timestamp, Vec<Lease>), StoreError> {
        let step = self
            .step
            .as_mut()
            .ok_or_else(|| db("the transaction has ended"))?;
        // The clock is read after the license's lock is held (the reads go out in order), so
        // a step that waited for another sees a time after that one's commit.
        let mut rows = locked_queries(step, vec![Read::leases(license_id), Read::clock()])
            .await?
            .into_iter();
        let leases = all(rows.next().unwrap_or_default(), "lease")?;
        Ok((clock_of(rows.next().unwrap_or_default())?, leases))
    }
    async fn lease(
        &mut self,
        license_id: &str,
        id: &str,
    ) -> Result<(Timestamp, Option<Lease>), StoreError> {
        let step = self
            .step
            .as_mut()
            .ok_or_else(|| db("the transaction has ended"))?;
        let mut rows = locked_queries(step, vec![Read::lease(license_id, id), Read::clock()])
            .await?
            .into_iter();
        let lease = one(rows.next().unwrap_or_default(), "lease")?;
        Ok((clock_of(rows.next().unwrap_or_default())?, lease))
    }
    async fn job(&mut self, id: &str) -> Result<Option<Job>, StoreError> {
        one(self.rows(Read::job(id)).await?, id)
    }
    async fn is_revoked(&mut self, entry: &str) -> Result<bool, StoreError> {
        Ok(!self.rows(Read::is_revoked(entry)).await?.is_empty())
    }
    async fn counts(&mut self) -> Result<StatusCounts, StoreError> {
        counts_of(self.rows(Read::counts()).await?)
    }
    async fn stats(&mut self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(stat_rows(self.rows(Read::stats(prefix)).await?))
    }
    async fn commit(mut self: Box<Self>, batch: Batch) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.commits
            .send(Commit { batch, done })
            .map_err(|_| db("the committer has stopped"))?;
        // The step's locks go once the batch is in (or failed): dropping `self` ends it.
        answer
            .await
            .unwrap_or_else(|_| Err(db("the committer has stopped")))
    }
}

/// One read a step or a plain reader makes: its statement, its parameter and, for a keyed
/// read in a step, the lock it takes first.
struct Read {
    lock: Option<i64>,
    sql: &'static str,
    param: Box<dyn ToSql + Sync + Send>,
}

impl Read {
    fn keyed(key: Key<'_>, sql: &'static str, param: Box<dyn ToSql + Sync + Send>) -> Self {
        Read {
            lock: Some(key.lock_id()),
            sql,
            param,
        }
    }

    fn license(id: &str) -> Self {
        Read::keyed(Key::License(id), LICENSE_SQL, Box::new(id.to_string()))
    }
    fn order(key: &OrderKey) -> Self {
        Read::keyed(Key::Order(key), ORDER_SQL, Box::new(key.to_bytes()))
    }
    fn applied(key: &str) -> Self {
        Read::keyed(
            Key::Applied(key),
            "SELECT 1 FROM applied WHERE key = $1",
            Box::new(key.as_bytes().to_vec()),
        )
    }
    // A license's seats and device licenses share its lock.
    fn device(key: &DeviceKey) -> Self {
        Read::keyed(
            Key::License(&key.license_id),
            "SELECT body FROM devices WHERE key = $1",
            Box::new(key.to_bytes()),
        )
    }
    fn devices_for(license_id: &str) -> Self {
        Read::keyed(
            Key::License(license_id),
            "SELECT body FROM devices WHERE license_id = $1 ORDER BY key",
            Box::new(license_id.to_string()),
        )
    }
    fn activations(license_id: &str) -> Self {
        Read::keyed(
            Key::License(license_id),
            "SELECT body FROM activations WHERE license_id = $1 ORDER BY seat",
            Box::new(license_id.to_string()),
        )
    }
    fn leases(license_id: &str) -> Self {
        Read::keyed(
            Key::License(license_id),
            "SELECT body FROM leases WHERE license_id = $1 ORDER BY id",
            Box::new(license_id.to_string()),
        )
    }
    fn lease(license_id: &str, id: &str) -> Self {
        Read::keyed(
            Key::License(license_id),
            "SELECT body FROM leases WHERE license_id = ($1::text[])[1] AND id = ($1::text[])[2]",
            Box::new(vec![license_id.to_string(), id.to_string()]),
        )
    }
    /// The database's clock, in whole seconds (rounded down, as [`Timestamp::now`] is).
    fn clock() -> Self {
        Read {
            lock: None,
            sql: "SELECT floor(extract(epoch FROM clock_timestamp()))::int8 WHERE $1::text IS NOT NULL",
            param: Box::new(String::new()),
        }
    }
    fn job(id: &str) -> Self {
        Read::keyed(
            Key::Job(id),
            "SELECT body FROM outbox WHERE id = $1",
            Box::new(id.to_string()),
        )
    }
    fn is_revoked(entry: &str) -> Self {
        Read {
            lock: None,
            sql: "SELECT 1 FROM revoked WHERE entry = $1",
            param: Box::new(entry.to_string()),
        }
    }
    fn counts() -> Self {
        Read {
            lock: None,
            // `rows` binds one parameter, which this query does not need.
            sql: "SELECT active, frozen, released FROM meta WHERE id = 1 AND $1::text IS NOT NULL",
            param: Box::new(String::new()),
        }
    }
    fn stats(prefix: &str) -> Self {
        Read {
            lock: None,
            sql: "SELECT key, n FROM stats WHERE starts_with(key, $1) AND n <> 0 ORDER BY key",
            param: Box::new(prefix.to_string()),
        }
    }
}

/// The time [`Read::clock`] read.
fn clock_of(rows: Vec<tokio_postgres::Row>) -> Result<Timestamp, StoreError> {
    rows.first()
        .map(|r| Timestamp::from_unix(r.get::<_, i64>(0)))
        .ok_or_else(|| db("the database did not tell its time"))
}

/// The one record a read by primary key found, decoded (`what` names it in an error).
fn one<T: serde::de::DeserializeOwned>(
    rows: Vec<tokio_postgres::Row>,
    what: &str,
) -> Result<Option<T>, StoreError> {
    Ok(all(rows, what)?.pop())
}

/// Every record a read found, decoded from its first column.
fn all<T: serde::de::DeserializeOwned>(
    rows: Vec<tokio_postgres::Row>,
    what: &str,
) -> Result<Vec<T>, StoreError> {
    rows.iter()
        .map(|r| decode(what, r.get::<_, &[u8]>(0)))
        .collect()
}

fn counts_of(rows: Vec<tokio_postgres::Row>) -> Result<StatusCounts, StoreError> {
    let r = rows
        .first()
        .ok_or_else(|| db("the meta row is missing: was the schema applied?"))?;
    let n = |i: usize| u64::try_from(r.get::<_, i64>(i)).unwrap_or(0);
    Ok(StatusCounts {
        active: n(0),
        frozen: n(1),
        released: n(2),
    })
}

fn stat_rows(rows: Vec<tokio_postgres::Row>) -> Vec<(String, i64)> {
    rows.iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect()
}

/// `fut` within [`OP_TIMEOUT`]: a lost server must not hang a callback.
async fn timed<T>(fut: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    match tokio::time::timeout(OP_TIMEOUT, fut).await {
        Ok(r) => r,
        Err(_) => Err(db(format!("no answer within {} s", OP_TIMEOUT.as_secs()))),
    }
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
    /// With `migrate`, applies the migrations it lacks first (as `licd migrate` does). Starts
    /// the committer and the durability barrier on the current runtime.
    pub async fn open(url: &str, migrate: bool) -> Result<Self, StoreError> {
        let (cfg, tls) = pg_config(url)?;
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
        if migrate {
            timed(async { self::migrate(url).await.map(|_| ()) }).await?;
        }
        let conn = timed(async { pool.get().await.map_err(db) }).await?;
        let client: &tokio_postgres::Client = &conn;
        let version = timed(schema_version(client)).await?;
        if version != SCHEMA_VERSION {
            return Err(StoreError::Db(format!(
                "the database has schema version {version}, this licd needs {SCHEMA_VERSION}: run `licd migrate --to URL` (or start with --database-migrate)"
            )));
        }
        let sync: String = timed(async {
            let row = conn
                .query_one("SHOW synchronous_commit", &[])
                .await
                .map_err(db)?;
            Ok(row.get(0))
        })
        .await?;
        if sync == "off" {
            return Err(StoreError::Db(
                "the database's synchronous_commit is off: licd answers the marketplace only once a change is durable; set it to on (or local, remote_write, remote_apply) for licd's role or database".into(),
            ));
        }
        // Barrier rows of processes long gone (one per start).
        timed(async {
            conn.execute(
                "DELETE FROM flush_marks WHERE at < now() - interval '1 day'",
                &[],
            )
            .await
            .map_err(db)
        })
        .await?;
        drop(conn);
        let (flush_tx, flush_rx) = mpsc::unbounded_channel();
        let (commit_tx, commit_rx) = mpsc::unbounded_channel();
        // Both stop when the store (the senders) is dropped.
        tokio::spawn(group_commit(writer.clone(), commit_rx));
        tokio::spawn(group_flush(writer, node.to_string(), flush_rx));
        Ok(PgStore {
            pool,
            commits: commit_tx,
            flushes: flush_tx,
            node,
            lease_conn: Arc::default(),
        })
    }

    /// A pooled connection, within [`OP_TIMEOUT`].
    async fn conn(&self) -> Result<Object, StoreError> {
        timed(async { self.pool.get().await.map_err(db) }).await
    }

    /// Runs `read` on a pooled connection, locking nothing.
    async fn rows(&self, read: Read) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let c = self.conn().await?;
        timed(async {
            let stmt = c.prepare_cached(read.sql).await.map_err(db)?;
            query(&c, &stmt, read.param.as_ref()).await
        })
        .await
    }

    /// Checks this node's key ring against the one recorded in the database (recording it if
    /// none is): every node must sign with the same keys, or a token one node mints would be
    /// refused by another. `active` is the signing key's id, `keys` every key id in the ring.
    pub async fn check_key_ring(&self, active: &str, keys: &[String]) -> Result<(), StoreError> {
        let mut sorted = keys.to_vec();
        sorted.sort();
        let mine = sorted.join(",");
        let node = self.node.to_string();
        let c = self.conn().await?;
        let (rec_active, rec_keys, by, at): (String, String, String, String) = timed(async {
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
            Ok((row.get(0), row.get(1), row.get(2), row.get(3)))
        })
        .await?;
        if rec_active == active && rec_keys == mine {
            return Ok(());
        }
        Err(StoreError::Db(format!(
            "this node's key ring (signing key {active}; keys {mine}) differs from the one the database records (signing key {rec_active}; keys {rec_keys}; recorded by node {by} at {at}). Every node must sign with the same keys: copy the key directory from a node that serves, or after rolling a new ring to every node's key directory run `licd keys publish --database-url URL` (docs/operations.md, several nodes)"
        )))
    }

    /// Records this node's key ring as the one every node must serve with (`licd keys publish`).
    pub async fn publish_key_ring(&self, active: &str, keys: &[String]) -> Result<(), StoreError> {
        let mut sorted = keys.to_vec();
        sorted.sort();
        let mine = sorted.join(",");
        let node = self.node.to_string();
        let c = self.conn().await?;
        timed(async {
            c.execute(
                "INSERT INTO key_ring (id, active, keys, recorded_by) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET active = EXCLUDED.active, keys = EXCLUDED.keys, recorded_by = EXCLUDED.recorded_by, recorded_at = now()",
                &[&active, &mine, &node],
            )
            .await
            .map_err(db)?;
            Ok(())
        })
        .await
    }
}

/// Runs `read` on `step`'s session, taking its lock first unless the step holds it already
/// ([`locked_queries`]).
async fn locked_query(
    step: &mut StepConn,
    read: Read,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    Ok(locked_queries(step, vec![read])
        .await?
        .pop()
        .unwrap_or_default())
}

/// Runs `reads` on `step`'s session, each taking its lock first (unless the step holds it
/// already): all pipelined, in this order, so they cost one round trip and each read is a
/// statement of its own that sees every commit made before its lock was granted. Returns
/// each read's rows.
async fn locked_queries(
    step: &mut StepConn,
    reads: Vec<Read>,
) -> Result<Vec<Vec<tokio_postgres::Row>>, StoreError> {
    let takes: Vec<Option<i64>> = reads
        .iter()
        .map(|r| r.lock.filter(|l| step.locked.insert(*l)))
        .collect();
    if takes.iter().any(Option::is_some) {
        step.open = true;
    }
    let c = step.client()?;
    timed(async {
        // Every statement prepared first, so that they all go out in this order.
        let lock_stmt = c
            .prepare_cached("SELECT pg_advisory_lock($1)")
            .await
            .map_err(db)?;
        let mut stmts = Vec::with_capacity(reads.len());
        for r in &reads {
            stmts.push(c.prepare_cached(r.sql).await.map_err(db)?);
        }
        let client: &tokio_postgres::Client = c;
        type Call<'f> = std::pin::Pin<
            Box<
                dyn Future<Output = Result<Option<Vec<tokio_postgres::Row>>, StoreError>>
                    + Send
                    + 'f,
            >,
        >;
        let mut calls: Vec<Call<'_>> = Vec::with_capacity(2 * reads.len());
        for ((r, stmt), take) in reads.iter().zip(&stmts).zip(&takes) {
            if let Some(id) = take {
                let lock_stmt = &lock_stmt;
                calls.push(Box::pin(async move {
                    client.execute(lock_stmt, &[id]).await.map_err(db)?;
                    Ok(None)
                }));
            }
            calls.push(Box::pin(async move {
                query(client, stmt, r.param.as_ref()).await.map(Some)
            }));
        }
        // `join_all` polls in order, and each request goes out on its first poll. Without its
        // lock, what a read returned proves nothing: the first failure, in order, fails the
        // step.
        let mut rows = Vec::with_capacity(reads.len());
        for answer in futures_util::future::join_all(calls).await {
            if let Some(r) = answer? {
                rows.push(r);
            }
        }
        Ok(rows)
    })
    .await
}

/// Runs a prepared statement; its request goes out when the future is first polled.
async fn query(
    c: &tokio_postgres::Client,
    stmt: &tokio_postgres::Statement,
    param: &(dyn ToSql + Sync + Send),
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let p: &(dyn ToSql + Sync) = param;
    c.query(stmt, &[p]).await.map_err(db)
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

/// One statement of a commit: its SQL, its parameters, and what it means when it refuses a
/// row (its `NOT NULL` violation) because a writer that bypassed the locks changed what the
/// plan was made from.
struct Write {
    sql: &'static str,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
    guards: Option<&'static str>,
}

impl Write {
    fn new(sql: &'static str, params: Vec<Box<dyn ToSql + Sync + Send>>) -> Self {
        Write {
            sql,
            params,
            guards: None,
        }
    }

    /// A write that refuses a row (sets a `NOT NULL` column to NULL) where the plan no longer
    /// holds: `what` says which.
    fn guarding(mut self, what: &'static str) -> Self {
        self.guards = Some(what);
        self
    }

    async fn run(&self, conn: &Object, stmt: &tokio_postgres::Statement) -> Result<(), StoreError> {
        let refs: Vec<&(dyn ToSql + Sync)> = self
            .params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        match conn.execute(stmt, &refs).await {
            Ok(_) => Ok(()),
            Err(e)
                if self.guards.is_some()
                    && e.code() == Some(&tokio_postgres::error::SqlState::NOT_NULL_VIOLATION) =>
            {
                Err(StoreError::Db(format!(
                    "postgresql: a concurrent writer changed what this commit relies on ({})",
                    self.guards.unwrap_or_default()
                )))
            }
            Err(e) => Err(db(e)),
        }
    }
}

/// Commits `batch` on `conn` in a transaction of its own, under the cluster-wide write lock:
/// the plan ([`plan`]) is made from the head and the licenses as they are under that lock, so
/// the audit records extend the real head and the counters move from the real statuses.
async fn write_batch(conn: &Object, batch: Batch) -> Result<(), StoreError> {
    if batch.only_leases() {
        return write_leases(conn, batch).await;
    }
    let ids: Vec<String> = batch.licenses.iter().map(|l| l.id.clone()).collect();
    // The licenses before this commit, read in the same round trip as the head: the statement
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
    let mut priors = HashMap::new();
    for r in old? {
        let id: String = r.get(0);
        let l: License = decode(&id, r.get::<_, &[u8]>(1))?;
        priors.insert(id, Prior::of(&l));
    }
    let plan = plan(
        batch,
        |id| priors.get(id).cloned(),
        Head {
            seq: meta.audit_seq,
            hash: meta.audit_hash.clone(),
        },
        meta.counts,
    );
    let Plan {
        licenses,
        orders,
        applied,
        devices,
        activations,
        jobs,
        jobs_done,
        leases,
        leases_done,
        revocations,
        audit,
        head,
        counts,
        stats,
    } = plan;
    let (mut a_seq, mut a_prev, mut a_hash, mut a_lic, mut a_body) =
        (vec![], vec![], vec![], vec![], vec![]);
    for record in &audit {
        a_seq.push(i64::try_from(record.seq).map_err(db)?);
        a_prev.push(record.prev.clone());
        a_hash.push(record.hash.clone());
        a_lic.push(record.event.license_id.clone());
        a_body.push(encode(record));
    }

    let mut writes: Vec<Write> = Vec::new();
    if !licenses.is_empty() {
        let ids: Vec<String> = licenses.iter().map(|l| l.id.clone()).collect();
        let st: Vec<i16> = licenses.iter().map(|l| status_code(l.status)).collect();
        let bodies: Vec<Vec<u8>> = licenses.iter().map(encode).collect();
        writes.push(Write::new(
            "INSERT INTO licenses (id, status, body) SELECT * FROM unnest($1::text[], $2::int2[], $3::bytea[]) ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, body = EXCLUDED.body",
            vec![Box::new(ids), Box::new(st), Box::new(bodies)],
        ));
    }
    if !stats.is_empty() {
        let (keys, ns): (Vec<String>, Vec<i64>) = stats.into_iter().unzip();
        writes.push(Write::new(
            "INSERT INTO stats (key, n) SELECT * FROM unnest($1::text[], $2::int8[]) ON CONFLICT (key) DO UPDATE SET n = stats.n + EXCLUDED.n",
            vec![Box::new(keys), Box::new(ns)]
        ));
    }
    if !orders.is_empty() {
        let keys: Vec<Vec<u8>> = orders.iter().map(|(k, _)| k.to_bytes()).collect();
        let ids: Vec<String> = orders.into_iter().map(|(_, id)| id).collect();
        // A purchase already recorded for another license is not overwritten: the commit fails.
        writes.push(Write::new(
            "INSERT INTO orders (key, license_id) SELECT * FROM unnest($1::bytea[], $2::text[]) ON CONFLICT (key) DO UPDATE SET license_id = CASE WHEN orders.license_id = EXCLUDED.license_id THEN EXCLUDED.license_id END",
            vec![Box::new(keys), Box::new(ids)],
        ).guarding("a purchase recorded for another license"));
    }
    if !applied.is_empty() {
        writes.push(Write::new(
            "INSERT INTO applied (key) SELECT unnest($1::bytea[]) ON CONFLICT DO NOTHING",
            vec![Box::new(
                applied
                    .into_iter()
                    .map(String::into_bytes)
                    .collect::<Vec<_>>(),
            )],
        ));
    }
    if !devices.is_empty() {
        let keys: Vec<Vec<u8>> = devices.iter().map(|(k, _)| k.to_bytes()).collect();
        let ids: Vec<String> = devices.iter().map(|(k, _)| k.license_id.clone()).collect();
        let bodies: Vec<Vec<u8>> = devices.iter().map(|(_, d)| encode(d)).collect();
        writes.push(Write::new(
            "INSERT INTO devices (key, license_id, body) SELECT * FROM unnest($1::bytea[], $2::text[], $3::bytea[]) ON CONFLICT (key) DO UPDATE SET body = EXCLUDED.body",
            vec![Box::new(keys), Box::new(ids), Box::new(bodies)]
        ));
    }
    if !activations.is_empty() {
        let ids: Vec<String> = activations.iter().map(|a| a.license_id.clone()).collect();
        let seats: Vec<i32> = activations
            .iter()
            .map(|a| i32::try_from(a.seat).unwrap_or(i32::MAX))
            .collect();
        let bodies: Vec<Vec<u8>> = activations.iter().map(encode).collect();
        writes.push(Write::new(
            "INSERT INTO activations (license_id, seat, body) SELECT * FROM unnest($1::text[], $2::int4[], $3::bytea[]) ON CONFLICT (license_id, seat) DO UPDATE SET body = EXCLUDED.body",
            vec![Box::new(ids), Box::new(seats), Box::new(bodies)]
        ));
    }
    if !jobs.is_empty() {
        let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
        let bodies: Vec<Vec<u8>> = jobs.iter().map(encode).collect();
        let dead: Vec<bool> = jobs.iter().map(|j| j.dead).collect();
        let next: Vec<i64> = jobs.iter().map(|j| j.next_at.unix()).collect();
        writes.push(Write::new(
            "INSERT INTO outbox (id, body, dead, next_at) SELECT * FROM unnest($1::text[], $2::bytea[], $3::bool[], $4::int8[]) ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, dead = EXCLUDED.dead, next_at = EXCLUDED.next_at, lease_until = NULL",
            vec![Box::new(ids), Box::new(bodies), Box::new(dead), Box::new(next)]
        ));
    }
    if !jobs_done.is_empty() {
        writes.push(Write::new(
            "DELETE FROM outbox WHERE id = ANY($1)",
            vec![Box::new(jobs_done)],
        ));
    }
    writes.extend(lease_writes(&leases, leases_done));
    if !revocations.is_empty() {
        let (entries, stamps): (Vec<String>, Vec<Vec<u8>>) = revocations
            .into_iter()
            .map(|(e, at)| (e, encode(&at)))
            .unzip();
        // An entry keeps the time it was first revoked; the list's number grows by the
        // entries actually added.
        writes.push(Write::new(
            "WITH added AS (INSERT INTO revoked (entry, at) SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING RETURNING 1) UPDATE meta SET revocation_seq = revocation_seq + (SELECT count(*) FROM added) WHERE id = 1",
            vec![Box::new(entries), Box::new(stamps)]
        ));
    }
    if !a_seq.is_empty() {
        writes.push(Write::new(
            "INSERT INTO audit (seq, prev, hash, license_id, body) SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::bytea[])",
            vec![Box::new(a_seq), Box::new(a_prev), Box::new(a_hash), Box::new(a_lic), Box::new(a_body)]
        ));
    }
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    writes.push(Write::new(
        "UPDATE meta SET audit_seq = CASE WHEN audit_seq = $6::int8 THEN $1::int8 END, audit_hash = $2, active = $3, frozen = $4, released = $5 WHERE id = 1",
        vec![
            Box::new(as_i64(head.seq)),
            Box::new(head.hash),
            Box::new(as_i64(counts.active)),
            Box::new(as_i64(counts.frozen)),
            Box::new(as_i64(counts.released)),
            Box::new(as_i64(meta.audit_seq)),
        ],
    ).guarding("the audit head moved"));
    write_and_commit(conn, &writes).await
}

/// Sends `writes` and the COMMIT of the transaction open on `conn`.
async fn write_and_commit(conn: &Object, writes: &[Write]) -> Result<(), StoreError> {
    // Every statement prepared first (once per connection: later commits find them cached),
    // so that nothing waits on a prepare while the rest goes out: a COMMIT could otherwise
    // overtake a write, which would then run outside the transaction and its lock (a two-node
    // test forked the audit sequence that way).
    let stmts =
        futures_util::future::try_join_all(writes.iter().map(|w| conn.prepare_cached(w.sql)))
            .await
            .map_err(db)?;
    // Then the writes and the COMMIT in one round trip, in this order. A write the server
    // refuses aborts the transaction, so the COMMIT rolls it back; the guards turn what used
    // to be a row count checked before committing into such a refusal.
    let (written, committed) = futures_util::future::join(
        futures_util::future::join_all(writes.iter().zip(&stmts).map(|(w, st)| w.run(conn, st))),
        conn.batch_execute("COMMIT"),
    )
    .await;
    for r in written {
        r?;
    }
    committed.map_err(db)?;
    Ok(())
}

/// The statements that store `leases` and forget `done`.
fn lease_writes(leases: &[Lease], done: Vec<(String, String)>) -> Vec<Write> {
    let mut writes = Vec::new();
    if !leases.is_empty() {
        let lics: Vec<String> = leases.iter().map(|l| l.license_id.clone()).collect();
        let ids: Vec<String> = leases.iter().map(|l| l.id.clone()).collect();
        let bodies: Vec<Vec<u8>> = leases.iter().map(encode).collect();
        writes.push(Write::new(
            "INSERT INTO leases (license_id, id, body) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) ON CONFLICT (license_id, id) DO UPDATE SET body = EXCLUDED.body",
            vec![Box::new(lics), Box::new(ids), Box::new(bodies)],
        ));
    }
    if !done.is_empty() {
        let (lics, ids): (Vec<String>, Vec<String>) = done.into_iter().unzip();
        writes.push(Write::new(
            "DELETE FROM leases WHERE (license_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            vec![Box::new(lics), Box::new(ids)],
        ));
    }
    writes
}

/// Commits a batch of lease writes alone (renewals): no audit record, count or counter moves,
/// so it needs neither the cluster-wide write lock nor the head. The steps that made it hold
/// their licenses' locks until it is in, and the durability barrier follows as for any commit.
async fn write_leases(conn: &Object, batch: Batch) -> Result<(), StoreError> {
    let plan = plan(batch, |_| None, Head::default(), StatusCounts::default());
    let writes = lease_writes(&plan.leases, plan.leases_done);
    conn.batch_execute("BEGIN; SET LOCAL synchronous_commit = off")
        .await
        .map_err(db)?;
    write_and_commit(conn, &writes).await
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
    super::codec::decode(what.as_bytes(), bytes)
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn license(&self, id: &str) -> Result<Option<License>, StoreError> {
        one(self.rows(Read::license(id)).await?, id)
    }

    async fn order(&self, key: &OrderKey) -> Result<Option<String>, StoreError> {
        Ok(self.rows(Read::order(key)).await?.first().map(|r| r.get(0)))
    }

    async fn applied(&self, key: &str) -> Result<bool, StoreError> {
        Ok(!self.rows(Read::applied(key)).await?.is_empty())
    }

    async fn device(&self, key: &DeviceKey) -> Result<Option<DeviceLicense>, StoreError> {
        one(self.rows(Read::device(key)).await?, "device")
    }

    async fn devices_for(&self, license_id: &str) -> Result<Vec<DeviceLicense>, StoreError> {
        all(self.rows(Read::devices_for(license_id)).await?, "device")
    }

    async fn activations(&self, license_id: &str) -> Result<Vec<Activation>, StoreError> {
        all(
            self.rows(Read::activations(license_id)).await?,
            "activation",
        )
    }

    async fn leases_in_use(
        &self,
        now: Timestamp,
    ) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let c = self.conn().await?;
        timed(async {
            // Counted in the database: the bodies stay there.
            let rows = c
                .query(
                    "SELECT coalesce(b->>'product', ''), count(*)::int8 FROM (SELECT convert_from(body, 'UTF8')::jsonb AS b FROM leases) l WHERE (b->'released' IS NULL OR b->'released' = 'null'::jsonb) AND (b->>'expires')::timestamptz > to_timestamp($1::float8) GROUP BY 1",
                    &[&(now.unix() as f64)],
                )
                .await
                .map_err(db)?;
            let mut counts = std::collections::BTreeMap::new();
            for r in rows {
                *counts.entry(r.get::<_, String>(0)).or_default() +=
                    u64::try_from(r.get::<_, i64>(1)).unwrap_or(0);
            }
            Ok(counts)
        })
        .await
    }

    async fn leases(&self, license_id: &str) -> Result<Vec<Lease>, StoreError> {
        all(self.rows(Read::leases(license_id)).await?, "lease")
    }

    async fn licenses_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<License>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let c = self.conn().await?;
        let rows = timed(async {
            match after {
                Some(a) => {
                    c.query(
                        "SELECT body FROM licenses WHERE id > $1 ORDER BY id LIMIT $2",
                        &[&a, &limit],
                    )
                    .await
                }
                None => {
                    c.query("SELECT body FROM licenses ORDER BY id LIMIT $1", &[&limit])
                        .await
                }
            }
            .map_err(db)
        })
        .await?;
        all(rows, "license")
    }

    async fn stats(&self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(stat_rows(self.rows(Read::stats(prefix)).await?))
    }

    async fn counts(&self) -> Result<StatusCounts, StoreError> {
        counts_of(self.rows(Read::counts()).await?)
    }

    async fn revoked(&self) -> Result<(u64, Vec<String>), StoreError> {
        let c = self.conn().await?;
        timed(async {
            // The number first, as in sled: an entry added in between is listed under the
            // older number, and the next list carries it too.
            let seq: i64 = c
                .query_one("SELECT revocation_seq FROM meta WHERE id = 1", &[])
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
        .await
    }

    async fn is_revoked(&self, entry: &str) -> Result<bool, StoreError> {
        Ok(!self.rows(Read::is_revoked(entry)).await?.is_empty())
    }

    async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(Tx::new(PgTx {
            step: Some(StepConn {
                conn: Some(self.conn().await?),
                locked: HashSet::new(),
                open: false,
            }),
            commits: self.commits.clone(),
        }))
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.flushes
            .send(tx)
            .map_err(|_| db("the flush task has stopped"))?;
        rx.await.map_err(|_| db("the flush task has stopped"))?
    }

    async fn audit_for(&self, license_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = self
            .rows(Read {
                lock: None,
                sql: "SELECT body FROM audit WHERE license_id = $1 ORDER BY seq",
                param: Box::new(license_id.to_string()),
            })
            .await?;
        all(rows, "audit record")
    }

    async fn audit_after(&self, seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let c = self.conn().await?;
        let after = i64::try_from(seq).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = timed(async {
            let stmt = c
                .prepare_cached("SELECT body FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2")
                .await
                .map_err(db)?;
            c.query(&stmt, &[&after, &limit]).await.map_err(db)
        })
        .await?;
        all(rows, "audit record")
    }

    async fn audit_head(&self) -> Result<u64, StoreError> {
        let c = self.conn().await?;
        let row = timed(async {
            let stmt = c
                .prepare_cached("SELECT audit_seq FROM meta WHERE id = 1")
                .await
                .map_err(db)?;
            c.query_one(&stmt, &[]).await.map_err(db)
        })
        .await?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    async fn cursor(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let c = self.conn().await?;
        let row = timed(async {
            c.query_opt("SELECT body FROM cursors WHERE name = $1", &[&name])
                .await
                .map_err(db)
        })
        .await?;
        Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
    }

    async fn swap_cursor(
        &self,
        name: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let c = self.conn().await?;
        timed(async {
            // One statement each way: the row lock makes two swappers from one value one winner.
            let n = match old {
                None => c
                    .execute(
                        "INSERT INTO cursors (name, body) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                        &[&name, &new],
                    )
                    .await
                    .map_err(db)?,
                Some(old) => c
                    .execute(
                        "UPDATE cursors SET body = $3 WHERE name = $1 AND body = $2",
                        &[&name, &old, &new],
                    )
                    .await
                    .map_err(db)?,
            };
            Ok(n == 1)
        })
        .await
    }

    async fn first_audit_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let c = self.conn().await?;
        let rows = timed(async {
            c.query("SELECT body FROM audit ORDER BY seq LIMIT 1", &[])
                .await
                .map_err(db)
        })
        .await?;
        Ok(one::<AuditRecord>(rows, "audit record")?.map(|r| r.event.at))
    }

    async fn verify_audit_chain(&self) -> Result<Result<u64, u64>, StoreError> {
        use futures_util::StreamExt;
        let c = self.conn().await?;
        let rows = timed(async {
            c.query_raw(
                "SELECT seq, body FROM audit ORDER BY seq",
                std::iter::empty::<i64>(),
            )
            .await
            .map_err(db)
        })
        .await?;
        // The whole log streams past, however long it takes: no one timeout covers it.
        let mut rows = std::pin::pin!(rows);
        let mut chain = AuditChain::default();
        while let Some(row) = rows.next().await {
            let row = row.map_err(db)?;
            let seq = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
            if let Err(broken) = chain.push(&seq.to_be_bytes(), row.get::<_, &[u8]>(1))? {
                return Ok(Err(broken));
            }
        }
        Ok(Ok(chain.len()))
    }

    async fn remember_nonce(&self, nonce: &str, expires: Timestamp) -> Result<bool, StoreError> {
        let c = self.conn().await?;
        timed(async {
            let stmt = c
                .prepare_cached(
                    "INSERT INTO nonces (nonce, expires) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .await
                .map_err(db)?;
            Ok(c.execute(&stmt, &[&nonce.as_bytes(), &expires.unix()])
                .await
                .map_err(db)?
                == 1)
        })
        .await
    }

    async fn remembered(&self, nonce: &str, now: Timestamp) -> Result<bool, StoreError> {
        let c = self.conn().await?;
        timed(async {
            let stmt = c
                .prepare_cached("SELECT 1 FROM nonces WHERE nonce = $1 AND expires >= $2")
                .await
                .map_err(db)?;
            Ok(c.query_opt(&stmt, &[&nonce.as_bytes(), &now.unix()])
                .await
                .map_err(db)?
                .is_some())
        })
        .await
    }

    async fn claim(&self, key: &str, until: Timestamp, now: Timestamp) -> Result<bool, StoreError> {
        let c = self.conn().await?;
        timed(async {
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
            Ok(
                c.execute(&stmt, &[&key.as_bytes(), &until.unix(), &now.unix()])
                    .await
                    .map_err(db)?
                    == 1,
            )
        })
        .await
    }

    async fn release_claim(&self, key: &str, until: Timestamp) -> Result<(), StoreError> {
        let c = self.conn().await?;
        timed(async {
            c.execute(
                "DELETE FROM nonces WHERE nonce = $1 AND expires = $2",
                &[&key.as_bytes(), &until.unix()],
            )
            .await
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn prune_nonces(&self, now: Timestamp) -> Result<usize, StoreError> {
        let c = self.conn().await?;
        timed(async {
            let n = c
                .execute("DELETE FROM nonces WHERE expires < $1", &[&now.unix()])
                .await
                .map_err(db)?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
        .await
    }

    async fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        let c = self.conn().await?;
        let rows = timed(async {
            c.query("SELECT body FROM outbox ORDER BY id", &[])
                .await
                .map_err(db)
        })
        .await?;
        all(rows, "outbox job")
    }

    async fn job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        one(self.rows(Read::job(id)).await?, id)
    }

    async fn due_jobs(&self, now: Timestamp, limit: usize) -> Result<super::Due, StoreError> {
        // The partial index `outbox_due` (next_at, pending only) serves this in O(limit).
        let take = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let c = self.conn().await?;
        let rows = timed(async {
            c.query(
                "SELECT body FROM outbox WHERE NOT dead ORDER BY next_at, id LIMIT $1",
                &[&take],
            )
            .await
            .map_err(db)
        })
        .await?;
        Ok(super::Due::split(
            all::<Job>(rows, "outbox job")?,
            now,
            limit,
        ))
    }

    async fn lease_jobs(&self, due: Vec<Job>) -> Result<Vec<Job>, StoreError> {
        if due.is_empty() {
            return Ok(due);
        }
        let ids: Vec<String> = due.iter().map(|j| j.id.clone()).collect();
        let now = Timestamp::now().unix();
        let mut slot = self.lease_conn.lock().await;
        let conn = match slot.take() {
            Some(c) if !c.is_closed() => c,
            _ => Object::take(self.conn().await?),
        };
        let result = timed(async {
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
        })
        .await;
        // A session whose leases are uncertain is closed (dropped), never reused.
        let won: HashSet<String> = result?.into_iter().collect();
        *slot = Some(conn);
        Ok(due.into_iter().filter(|j| won.contains(&j.id)).collect())
    }

    async fn release_jobs(&self, ids: &[String]) {
        let mut slot = self.lease_conn.lock().await;
        // Best effort: a lease that cannot be released ends with the session.
        if let Some(conn) = slot.as_ref() {
            let released = timed(async {
                conn.execute(
                    &format!("SELECT pg_advisory_unlock({LEASE_CLASS}, hashtext(id)) FROM unnest($1::text[]) AS id"),
                    &[&ids],
                )
                .await
                .map_err(db)
            })
            .await;
            if let Err(e) = released {
                tracing::warn!(error = %e, "outbox: could not release a lease; closing the lease connection");
                drop(slot.take());
            }
        }
    }

    async fn disk_bytes(&self) -> Result<u64, StoreError> {
        let c = self.conn().await?;
        timed(async {
            let n: i64 = c
                .query_one("SELECT pg_database_size(current_database())", &[])
                .await
                .map_err(db)?
                .get(0);
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn dump(&self) -> Result<super::dump::Dump, StoreError> {
        use super::dump::push;
        let c = self.conn().await?;
        let mut r = Vec::new();
        let rows = |sql: &'static str| {
            let c = &c;
            async move { c.query(sql, &[]).await.map_err(db) }
        };
        for row in rows("SELECT id, body FROM licenses").await? {
            push(&mut r, "licenses", row.get::<_, String>(0), row.get(1));
        }
        for row in rows("SELECT key, license_id FROM orders").await? {
            push(
                &mut r,
                "orders",
                row.get::<_, Vec<u8>>(0),
                row.get::<_, String>(1).into_bytes(),
            );
        }
        for row in rows("SELECT key FROM applied").await? {
            push(&mut r, "applied", row.get::<_, Vec<u8>>(0), Vec::new());
        }
        for row in rows("SELECT key, body FROM devices").await? {
            push(&mut r, "devices", row.get::<_, Vec<u8>>(0), row.get(1));
        }
        for row in rows("SELECT license_id, seat, body FROM activations").await? {
            let (id, seat): (String, i32) = (row.get(0), row.get(1));
            let seat = u32::try_from(seat).unwrap_or(0);
            push(
                &mut r,
                "activations",
                [id.as_bytes(), b"\0", &seat.to_be_bytes()].concat(),
                row.get(2),
            );
        }
        for row in rows("SELECT license_id, id, body FROM leases").await? {
            let (lic, id): (String, String) = (row.get(0), row.get(1));
            push(&mut r, "leases", super::lease_key(&lic, &id), row.get(2));
        }
        for row in rows("SELECT id, body FROM outbox").await? {
            push(&mut r, "outbox", row.get::<_, String>(0), row.get(1));
        }
        for row in rows("SELECT entry, at FROM revoked").await? {
            push(&mut r, "revoked", row.get::<_, String>(0), row.get(1));
        }
        for row in rows("SELECT seq, body FROM audit").await? {
            let seq = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
            push(&mut r, "audit", seq.to_be_bytes(), row.get(1));
        }
        let meta = c
            .query_one(
                "SELECT audit_seq, audit_hash, active, frozen, released, revocation_seq FROM meta WHERE id = 1",
                &[],
            )
            .await
            .map_err(db)?;
        let n = |i: usize| u64::try_from(meta.get::<_, i64>(i)).unwrap_or(0);
        let head = Head {
            seq: n(0),
            hash: meta.get(1),
        };
        let counts = StatusCounts {
            active: n(2),
            frozen: n(3),
            released: n(4),
        };
        let counters = stat_rows(rows("SELECT key, n FROM stats").await?);
        super::dump::push_summary(&mut r, &head, counts, n(5), counters);
        Ok(super::dump::Dump::new(r))
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
}
