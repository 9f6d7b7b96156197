//! The schema, its versions, and the copy of an embedded (sled) database into PostgreSQL.
//!
//! Migrations are SQL files compiled into the binary, applied in order, each in its own
//! transaction together with its row in `schema_migrations`. `licd migrate` holds a session
//! advisory lock while it works, so two nodes migrating at once apply each version once: the
//! second waits, then finds nothing left to do.

use tokio_postgres::{Client, GenericClient};

use super::{db, pg_config, status_code};
use crate::job::Job;
use crate::license::{Activation, License};
use crate::store::{AuditChain, AuditRecord, SledStore, Snapshot, StoreError};

/// The schema version this binary reads and writes.
pub const SCHEMA_VERSION: i32 = 5;

/// (version, name, SQL), in order.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "initial", include_str!("0001_initial.sql")),
    (2, "stats", include_str!("0002_stats.sql")),
    (3, "revocation_seq", include_str!("0003_revocation_seq.sql")),
    (4, "leases", include_str!("0004_leases.sql")),
    (5, "cursors", include_str!("0005_cursors.sql")),
];

/// The lock `licd migrate` holds (`'licm'`).
const MIGRATE_LOCK: i64 = 0x6c69_636d;

/// The schema version of the database `conn` reaches (0: none applied).
pub async fn schema_version(conn: &impl GenericClient) -> Result<i32, StoreError> {
    let exists: bool = conn
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await
        .map_err(db)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(conn
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .map_err(db)?
        .get(0))
}

/// Connects once, outside any pool.
async fn connect(url: &str) -> Result<Client, StoreError> {
    let (cfg, tls) = pg_config(url)?;
    let (client, connection) = cfg.connect(tls).await.map_err(db)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "migration connection closed");
        }
    });
    Ok(client)
}

/// Applies every migration the database at `url` lacks; returns the versions applied (none
/// when it was up to date). Safe to run on several nodes at once.
pub async fn migrate(url: &str) -> Result<Vec<i32>, StoreError> {
    let mut client = connect(url).await?;
    client
        .batch_execute(&format!("SELECT pg_advisory_lock({MIGRATE_LOCK})"))
        .await
        .map_err(db)?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .map_err(db)?;
    let current = schema_version(&client).await?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Db(format!(
            "the database has schema version {current}, newer than this licd ({SCHEMA_VERSION}): upgrade licd instead"
        )));
    }
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
        let tx = client.transaction().await.map_err(db)?;
        tx.batch_execute(sql)
            .await
            .map_err(|e| db(format!("migration {version} ({name}): {e}")))?;
        if *version == 2 {
            backfill_stats(&tx).await?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        tracing::info!(version, name, "schema migration applied");
        applied.push(*version);
    }
    client
        .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATE_LOCK})"))
        .await
        .map_err(db)?;
    Ok(applied)
}

/// Fills the counters of migration 2 from the licenses already stored: one pass in id order,
/// in the migration's transaction (a node of an older version writing meanwhile would not keep
/// them: stop the nodes, migrate, start the new version).
async fn backfill_stats(tx: &impl GenericClient) -> Result<(), StoreError> {
    let mut deltas = std::collections::BTreeMap::new();
    let mut after = String::new();
    loop {
        let rows = tx
            .query(
                "SELECT id, body FROM licenses WHERE id > $1 ORDER BY id LIMIT 1000",
                &[&after],
            )
            .await
            .map_err(db)?;
        let Some(last) = rows.last() else { break };
        after = last.get(0);
        for r in &rows {
            let l: License = json("licenses", r.get::<_, String>(0).as_bytes(), r.get(1))?;
            crate::store::Shape::tally(None, &crate::store::Shape::of(&l), &mut deltas);
        }
    }
    deltas.retain(|_, n| *n != 0);
    let (keys, ns): (Vec<String>, Vec<i64>) = deltas.into_iter().unzip();
    tx.execute(
        "INSERT INTO stats (key, n) SELECT * FROM unnest($1::text[], $2::int8[])",
        &[&keys, &ns],
    )
    .await
    .map_err(db)?;
    Ok(())
}

/// What [`import_sled`] copied.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ImportSummary {
    /// Licenses.
    pub licenses: u64,
    /// Purchase index entries.
    pub orders: u64,
    /// Operations applied once.
    pub applied: u64,
    /// Device licenses.
    pub devices: u64,
    /// Audit records, the chain checked on the way.
    pub audit_events: u64,
    /// Revocation-list entries.
    pub revoked: u64,
    /// License 1.0 seats.
    pub activations: u64,
    /// Outbox jobs (pending and dead).
    pub outbox: u64,
    /// Floating-license leases.
    pub leases: u64,
    /// V2 nonces still remembered.
    pub nonces: u64,
}

/// Audit rows: seq, prev, hash, license id, record.
type AuditRows = (
    Vec<i64>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<Vec<u8>>,
);

/// Rows collected for one multi-row insert.
#[derive(Default)]
struct Rows {
    licenses: (Vec<String>, Vec<i16>, Vec<Vec<u8>>),
    orders: (Vec<Vec<u8>>, Vec<String>),
    applied: Vec<Vec<u8>>,
    devices: (Vec<Vec<u8>>, Vec<String>, Vec<Vec<u8>>),
    audit: AuditRows,
    revoked: (Vec<String>, Vec<Vec<u8>>),
    activations: (Vec<String>, Vec<i32>, Vec<Vec<u8>>),
    outbox: (Vec<String>, Vec<Vec<u8>>, Vec<bool>, Vec<i64>),
    leases: (Vec<String>, Vec<String>, Vec<Vec<u8>>),
    nonces: (Vec<Vec<u8>>, Vec<i64>),
    pending: usize,
}

/// Rows held before they are written.
const CHUNK: usize = 2_000;

fn corrupt(collection: &str, key: &[u8], reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: format!("{collection}/{}", String::from_utf8_lossy(key)),
        reason: reason.to_string(),
    }
}

fn json<T: serde::de::DeserializeOwned>(c: &str, k: &[u8], v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|e| corrupt(c, k, e))
}

fn utf8(c: &str, k: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(k.to_vec()).map_err(|e| corrupt(c, k, e))
}

impl Rows {
    /// Takes one exported record.
    fn take(
        &mut self,
        chain: &mut AuditChain,
        meta: &mut Vec<(Vec<u8>, Vec<u8>)>,
        sum: &mut ImportSummary,
        c: &str,
        k: &[u8],
        v: &[u8],
    ) -> Result<(), StoreError> {
        match c {
            "licenses" => {
                let l: License = json(c, k, v)?;
                self.licenses.0.push(l.id.clone());
                self.licenses.1.push(status_code(l.status));
                self.licenses.2.push(v.to_vec());
                sum.licenses += 1;
            }
            "orders" => {
                self.orders.0.push(k.to_vec());
                self.orders.1.push(utf8(c, v)?);
                sum.orders += 1;
            }
            "applied" => {
                self.applied.push(k.to_vec());
                sum.applied += 1;
            }
            "devices" => {
                let id = k.split(|b| *b == 0).next().unwrap_or_default();
                self.devices.0.push(k.to_vec());
                self.devices.1.push(utf8(c, id)?);
                self.devices.2.push(v.to_vec());
                sum.devices += 1;
            }
            "audit" => {
                if let Err(seq) = chain.push(k, v)? {
                    return Err(StoreError::Db(format!(
                        "the audit chain of the source database is broken at record {seq}: nothing was copied; restore that database from a backup first"
                    )));
                }
                let r: AuditRecord = json(c, k, v)?;
                self.audit.0.push(i64::try_from(r.seq).map_err(db)?);
                self.audit.1.push(r.prev);
                self.audit.2.push(r.hash);
                self.audit.3.push(r.event.license_id);
                self.audit.4.push(v.to_vec());
                sum.audit_events += 1;
            }
            // Derived from the audit records.
            "audit_idx" => return Ok(()),
            "meta" => {
                meta.push((k.to_vec(), v.to_vec()));
                return Ok(());
            }
            "revoked" => {
                self.revoked.0.push(utf8(c, k)?);
                self.revoked.1.push(v.to_vec());
                sum.revoked += 1;
            }
            "activations" => {
                let a: Activation = json(c, k, v)?;
                self.activations.0.push(a.license_id);
                self.activations.1.push(i32::try_from(a.seat).map_err(db)?);
                self.activations.2.push(v.to_vec());
                sum.activations += 1;
            }
            "outbox" => {
                let j: Job = json(c, k, v)?;
                self.outbox.0.push(j.id);
                self.outbox.1.push(v.to_vec());
                self.outbox.2.push(j.dead);
                self.outbox.3.push(j.next_at.unix());
                sum.outbox += 1;
            }
            "leases" => {
                let l: crate::license::lease::Lease = json(c, k, v)?;
                self.leases.0.push(l.license_id);
                self.leases.1.push(l.id);
                self.leases.2.push(v.to_vec());
                sum.leases += 1;
            }
            "nonces" => {
                let exp = <[u8; 8]>::try_from(v)
                    .map(i64::from_be_bytes)
                    .map_err(|_| corrupt(c, k, "expiry is not 8 bytes"))?;
                self.nonces.0.push(k.to_vec());
                self.nonces.1.push(exp);
                sum.nonces += 1;
            }
            other => return Err(StoreError::Db(format!("unknown collection {other:?}"))),
        }
        self.pending += 1;
        Ok(())
    }

    /// Writes what was collected and empties it.
    async fn write(&mut self, tx: &impl GenericClient) -> Result<(), StoreError> {
        let r = std::mem::take(self);
        let run = async |sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]| {
            tx.execute(sql, params).await.map_err(db).map(|_| ())
        };
        if !r.licenses.0.is_empty() {
            run("INSERT INTO licenses (id, status, body) SELECT * FROM unnest($1::text[], $2::int2[], $3::bytea[])", &[&r.licenses.0, &r.licenses.1, &r.licenses.2]).await?;
        }
        if !r.orders.0.is_empty() {
            run("INSERT INTO orders (key, license_id) SELECT * FROM unnest($1::bytea[], $2::text[])", &[&r.orders.0, &r.orders.1]).await?;
        }
        if !r.applied.is_empty() {
            run(
                "INSERT INTO applied (key) SELECT unnest($1::bytea[])",
                &[&r.applied],
            )
            .await?;
        }
        if !r.devices.0.is_empty() {
            run("INSERT INTO devices (key, license_id, body) SELECT * FROM unnest($1::bytea[], $2::text[], $3::bytea[])", &[&r.devices.0, &r.devices.1, &r.devices.2]).await?;
        }
        if !r.audit.0.is_empty() {
            run("INSERT INTO audit (seq, prev, hash, license_id, body) SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::bytea[])", &[&r.audit.0, &r.audit.1, &r.audit.2, &r.audit.3, &r.audit.4]).await?;
        }
        if !r.revoked.0.is_empty() {
            run(
                "INSERT INTO revoked (entry, at) SELECT * FROM unnest($1::text[], $2::bytea[])",
                &[&r.revoked.0, &r.revoked.1],
            )
            .await?;
        }
        if !r.activations.0.is_empty() {
            run("INSERT INTO activations (license_id, seat, body) SELECT * FROM unnest($1::text[], $2::int4[], $3::bytea[])", &[&r.activations.0, &r.activations.1, &r.activations.2]).await?;
        }
        if !r.outbox.0.is_empty() {
            run("INSERT INTO outbox (id, body, dead, next_at) SELECT * FROM unnest($1::text[], $2::bytea[], $3::bool[], $4::int8[])", &[&r.outbox.0, &r.outbox.1, &r.outbox.2, &r.outbox.3]).await?;
        }
        if !r.leases.0.is_empty() {
            run("INSERT INTO leases (license_id, id, body) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])", &[&r.leases.0, &r.leases.1, &r.leases.2]).await?;
        }
        if !r.nonces.0.is_empty() {
            run(
                "INSERT INTO nonces (nonce, expires) SELECT * FROM unnest($1::bytea[], $2::int8[])",
                &[&r.nonces.0, &r.nonces.1],
            )
            .await?;
        }
        Ok(())
    }
}

/// Copies the embedded database `source` into the (migrated, empty) PostgreSQL database at
/// `url`, in one transaction: all of it, or nothing. The audit chain is checked record by
/// record on the way, and the head and counters are checked against the copy before commit.
pub async fn import_sled(source: &SledStore, url: &str) -> Result<ImportSummary, StoreError> {
    let mut client = connect(url).await?;
    let version = schema_version(&client).await?;
    if version != SCHEMA_VERSION {
        return Err(StoreError::Db(format!(
            "the target database has schema version {version}, not {SCHEMA_VERSION}: apply the schema first (licd migrate --to URL)"
        )));
    }
    let tx = client.transaction().await.map_err(db)?;
    // Nobody else writes while the copy runs, and a second copy waits, then finds data.
    tx.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock({})",
        super::WRITE_LOCK
    ))
    .await
    .map_err(db)?;
    let used: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM licenses) OR EXISTS (SELECT 1 FROM audit) OR EXISTS (SELECT 1 FROM outbox)",
            &[],
        )
        .await
        .map_err(db)?
        .get(0);
    if used {
        return Err(StoreError::Db(
            "the target database already holds licenses, audit records or jobs: copy into a freshly migrated, empty database".into(),
        ));
    }

    let mut rows = Rows::default();
    let mut chain = AuditChain::default();
    let mut meta = Vec::new();
    let mut sum = ImportSummary::default();
    // sled exports synchronously: a thread streams the records through a bounded channel, so
    // a database of any size is copied in constant memory.
    let (send, mut recv) = tokio::sync::mpsc::channel::<(String, Vec<u8>, Vec<u8>)>(4 * CHUNK);
    let exporter = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || {
            let snapshot: &dyn Snapshot = &source;
            snapshot.export(&mut |c, k, v| {
                send.blocking_send((c.to_string(), k.to_vec(), v.to_vec()))
                    .map_err(|_| std::io::Error::other("the copy stopped"))
            })
        })
    };
    while let Some((c, k, v)) = recv.recv().await {
        rows.take(&mut chain, &mut meta, &mut sum, &c, &k, &v)?;
        if rows.pending >= CHUNK {
            rows.write(&tx).await?;
        }
    }
    exporter.await.map_err(db)??;
    rows.write(&tx).await?;

    // The head and counters: sled's, checked against what was copied.
    let find = |key: &[u8]| meta.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let (head_seq, head_hash): (u64, String) = match find(b"audit_head") {
        Some(v) => json("meta", b"audit_head", &v)?,
        None => (0, super::super::codec::GENESIS.to_string()),
    };
    if head_seq != chain.len() {
        return Err(StoreError::Db(format!(
            "the source's audit head says {head_seq} records, its chain has {}: nothing was copied",
            chain.len()
        )));
    }
    let counts: crate::store::StatusCounts = match find(b"status_counts") {
        Some(v) => json("meta", b"status_counts", &v)?,
        None => crate::store::StatusCounts::default(),
    };
    let revocation_seq: u64 = match find(b"revocation_seq") {
        Some(v) => json("meta", b"revocation_seq", &v)?,
        None => 0,
    };
    let n = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
    // The counters, as the open sled store holds them (its saved copy may predate a crash).
    let (stat_keys, stat_ns): (Vec<String>, Vec<i64>) = source.stats("")?.into_iter().unzip();
    tx.execute(
        "INSERT INTO stats (key, n) SELECT * FROM unnest($1::text[], $2::int8[])",
        &[&stat_keys, &stat_ns],
    )
    .await
    .map_err(db)?;
    tx.execute(
        "UPDATE meta SET audit_seq = $1, audit_hash = $2, active = $3, frozen = $4, released = $5, revocation_seq = $6 WHERE id = 1",
        &[&n(head_seq), &head_hash, &n(counts.active), &n(counts.frozen), &n(counts.released), &n(revocation_seq)],
    )
    .await
    .map_err(db)?;
    // The revocation list's number never goes down for a verifier that cached the last one.
    tx.execute(
        "SELECT setval(pg_get_serial_sequence('revoked', 'seq'), greatest($1, (SELECT coalesce(max(seq), 0) FROM revoked), 1))",
        &[&n(revocation_seq)],
    )
    .await
    .map_err(db)?;
    let copied: (i64, i64, i64, i64) = {
        let r = tx
            .query_one(
                "SELECT count(*) FILTER (WHERE status = 0), count(*) FILTER (WHERE status = 1), count(*) FILTER (WHERE status = 2), (SELECT count(*) FROM audit) FROM licenses",
                &[],
            )
            .await
            .map_err(db)?;
        (r.get(0), r.get(1), r.get(2), r.get(3))
    };
    if copied
        != (
            n(counts.active),
            n(counts.frozen),
            n(counts.released),
            n(chain.len()),
        )
    {
        return Err(StoreError::Db(format!(
            "the copy does not add up (active, frozen, released, audit): source {:?}, copied {copied:?}; nothing was copied",
            (counts.active, counts.frozen, counts.released, chain.len())
        )));
    }
    tx.commit().await.map_err(db)?;
    Ok(sum)
}
