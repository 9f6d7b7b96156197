//! Persistence: the [`Store`] trait the service writes through, and its backends.
//!
//! Every change is a step ([`Tx`], from [`Store::begin`]): the service reads through it, decides
//! with the domain, and commits its writes as one [`Batch`], atomically. [`Store::flush`] then
//! makes everything committed so far durable, and the service answers only after it returns.
//! What a commit derives from its batch (status counts, counters, revocation entries, chained
//! audit records) is computed once, by the pure [`plan`]; backends only store the plan, in the
//! record format of [`codec`].
//!
//! Backends: [`SledStore`] (one process, embedded), [`MemStore`] (memory, for unit tests) and
//! [`PgStore`] (PostgreSQL, several licd behind a load balancer, where a step's reads lock what
//! they read, cluster-wide). The first two are synchronous inside and adapted in `store::local`.

pub mod codec;
pub mod dump;
pub(crate) mod local;
mod mem_store;
pub mod pg;
pub mod plan;
mod sled_store;

pub use codec::AuditChain;
pub use mem_store::MemStore;
pub use pg::PgStore;
pub use sled_store::SledStore;
#[cfg(test)]
pub(crate) use sled_store::reopen;

use client_verifier::Timestamp;
use serde::{Deserialize, Serialize};

use crate::job::Job;
use crate::license::lease::Lease;
use crate::license::{Activation, DeviceLicense, License, Status};

/// A store failure. The service answers `000005` and writes nothing more.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The embedded database failed (I/O, disk full, corruption).
    #[error("storage: {0}")]
    Db(String),
    /// Another process holds the embedded database (one process per database).
    #[error("storage: {path} is in use by another process")]
    InUse {
        /// The database directory.
        path: String,
    },
    /// A stored record could not be read back.
    #[error("stored record {key} is unreadable: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// What identifies a purchase for idempotency. `Debug` never shows a License 2.0 code.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum OrderKey {
    /// License 1.0 `getLicense`: the `orderId`.
    Classic(String),
    /// Online activation `newInstance`: (`orderId`, `orderLineId`).
    Online(String, String),
    /// License 2.0: the activation code. The index is the only place the code is a key; the
    /// license id is random, so nothing derived from the code leaves the store.
    Code(String),
}

impl std::fmt::Debug for OrderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderKey::Classic(o) => f.debug_tuple("Classic").field(o).finish(),
            OrderKey::Online(o, l) => f.debug_tuple("Online").field(o).field(l).finish(),
            OrderKey::Code(_) => f.write_str("Code(<redacted>)"),
        }
    }
}

impl OrderKey {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        match self {
            OrderKey::Classic(o) => [b"c\0", o.as_bytes()].concat(),
            OrderKey::Online(o, l) => [b"o\0", o.as_bytes(), b"\0", l.as_bytes()].concat(),
            OrderKey::Code(c) => [b"k\0", c.as_bytes()].concat(),
        }
    }
}

/// What identifies one `getLicenseAsync` request: (`instanceId`, `eventId`, `deviceFingerprint`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceKey {
    /// The instance.
    pub license_id: String,
    /// The marketplace's request serial number.
    pub event_id: String,
    /// The fingerprint as sent (empty when none was).
    pub fingerprint: String,
}

impl DeviceKey {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        [
            self.license_id.as_bytes(),
            b"\0",
            self.event_id.as_bytes(),
            b"\0",
            self.fingerprint.as_bytes(),
        ]
        .concat()
    }
}

/// The key of a lease in the stores that order records by key: license id, NUL, lease id.
pub(crate) fn lease_key(license_id: &str, id: &str) -> Vec<u8> {
    [license_id.as_bytes(), b"\0", id.as_bytes()].concat()
}

/// One event in a license's history, as the service records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When.
    pub at: Timestamp,
    /// The license it concerns.
    pub license_id: String,
    /// What happened: the activity (`getLicense`, `expireLicense`, …) or admin action.
    pub action: String,
    /// Who: `marketplace`, `marketplace-test` for `testFlag=1`, or an admin.
    pub actor: String,
    /// Details (order ids, new expiry, revision, result).
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// `actor` did `action` to license `license_id` at `at`; `detail` says with what.
    pub fn new(
        license_id: &str,
        action: &str,
        actor: &str,
        at: Timestamp,
        detail: serde_json::Value,
    ) -> Self {
        AuditEvent {
            at,
            license_id: license_id.to_string(),
            action: action.to_string(),
            actor: actor.to_string(),
            detail,
        }
    }
}

/// An audit event as stored: numbered and chained to its predecessor by hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, from 1.
    pub seq: u64,
    /// Hash of the previous record (all zeros for the first).
    pub prev: String,
    /// SHA-256 over `prev`, `seq` and the event's JSON: rewriting any record breaks every
    /// later link.
    pub hash: String,
    /// The event.
    pub event: AuditEvent,
}

impl AuditRecord {
    /// Whether the record's hash is the link of its `prev`, `seq` and event: a record edited in
    /// place fails this. (Whether `prev` is the previous record's hash is the whole chain's
    /// check, [`Store::verify_audit_chain`].)
    pub fn links_correctly(&self) -> bool {
        codec::link(&self.prev, self.seq, &codec::encode(&self.event)) == self.hash
    }
}

/// All the writes of one operation, applied atomically.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    /// Licenses to write (whole records).
    pub licenses: Vec<License>,
    /// Idempotency index entries: purchase -> license id.
    pub orders: Vec<(OrderKey, String)>,
    /// Operations applied once (renewal orders, upgrade orders): their keys.
    pub applied: Vec<String>,
    /// Device licenses minted.
    pub devices: Vec<(DeviceKey, DeviceLicense)>,
    /// Audit events to append.
    pub audit: Vec<AuditEvent>,
    /// License 1.0 seats to write (whole records).
    pub activations: Vec<Activation>,
    /// Outbox jobs to write (new, or updated after an attempt).
    pub jobs: Vec<Job>,
    /// Outbox jobs finished: removed.
    pub jobs_done: Vec<String>,
    /// Revocation-list entries to add besides released licenses (revoked bindings,
    /// `<jti>#<salt>`), each with when it was revoked.
    pub revocations: Vec<(String, Timestamp)>,
    /// Counters the service keeps (see [`Store::stats`]): key and what to add.
    pub stats: Vec<(String, i64)>,
    /// Floating-license leases to write (whole records): grants, renewals, releases.
    pub leases: Vec<Lease>,
    /// Leases to forget, as (license id, lease id): ones that ended long ago.
    pub leases_done: Vec<(String, String)>,
}

impl Batch {
    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.only_leases() && self.leases.is_empty() && self.leases_done.is_empty()
    }

    /// Whether the batch writes leases and nothing else (a renewal): it touches no other
    /// record and changes no count, chain or counter, so a store may write it on its own.
    pub fn only_leases(&self) -> bool {
        self.licenses.is_empty()
            && self.orders.is_empty()
            && self.applied.is_empty()
            && self.devices.is_empty()
            && self.audit.is_empty()
            && self.activations.is_empty()
            && self.jobs.is_empty()
            && self.jobs_done.is_empty()
            && self.revocations.is_empty()
            && self.stats.is_empty()
    }

    /// Adds `later`'s writes after this batch's: committing the result is committing the two
    /// in order (a later write to the same record wins).
    pub fn append(&mut self, later: Batch) {
        let Batch {
            licenses,
            orders,
            applied,
            devices,
            audit,
            activations,
            jobs,
            jobs_done,
            revocations,
            stats,
            leases,
            leases_done,
        } = later;
        // The store writes jobs before it removes finished ones: a job finished here and
        // written again later must not be removed.
        self.jobs_done
            .retain(|id| !jobs.iter().any(|j| &j.id == id));
        self.licenses.extend(licenses);
        self.orders.extend(orders);
        self.applied.extend(applied);
        self.devices.extend(devices);
        self.audit.extend(audit);
        self.activations.extend(activations);
        self.jobs.extend(jobs);
        self.jobs_done.extend(jobs_done);
        self.revocations.extend(revocations);
        self.stats.extend(stats);
        // As for jobs: a lease forgotten here and written again later stays.
        self.leases_done
            .retain(|(lic, id)| !leases.iter().any(|l| &l.license_id == lic && &l.id == id));
        self.leases.extend(leases);
        self.leases_done.extend(leases_done);
    }
}

/// What the store's own counters count of a license, beside its status: which product and
/// edition it is, and on which day it expires. Kept on every commit from the record before and
/// after, so the console's dashboard needs no scan.
///
/// Counter keys: `grp:<product>\u{1f}<edition>` (licenses not released) and `exp:<YYYY-MM-DD>`
/// (licenses not released, by their expiry day; perpetual ones are not counted). The service
/// adds its own through [`Batch::stats`] (`act:<YYYY-MM-DD>`: seats and device licenses taken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    keys: Vec<String>,
}

impl Shape {
    /// The counters `l` adds one to.
    pub fn of(l: &License) -> Self {
        if l.status == Status::Released {
            return Shape { keys: Vec::new() };
        }
        let mut keys = vec![format!(
            "grp:{}\u{1f}{}",
            l.product,
            l.edition.as_deref().unwrap_or("")
        )];
        if l.exp < crate::license::PERPETUAL {
            keys.push(format!("exp:{}", day_of(l.exp)));
        }
        Shape { keys }
    }

    /// Adds to `deltas` what replacing a license shaped `old` (`None`: new) by one shaped
    /// `new` changes.
    pub fn tally(
        old: Option<&Shape>,
        new: &Shape,
        deltas: &mut std::collections::BTreeMap<String, i64>,
    ) {
        if old == Some(new) {
            return;
        }
        for k in old.map(|o| o.keys.as_slice()).unwrap_or_default() {
            *deltas.entry(k.clone()).or_default() -= 1;
        }
        for k in &new.keys {
            *deltas.entry(k.clone()).or_default() += 1;
        }
    }
}

/// A counter, as its key says ([`Shape`], [`activation_stat`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counter {
    /// Licenses not released of a product and edition (`""`: none).
    Group {
        /// The product.
        product: String,
        /// The catalog edition.
        edition: String,
    },
    /// Licenses not released expiring on a day (`YYYY-MM-DD`).
    Expiring {
        /// The day.
        day: String,
    },
    /// Devices activated on a day.
    Activated {
        /// The day.
        day: String,
    },
}

impl Counter {
    /// The counter keyed `key`; `None` for a key of another kind (the last backup's time).
    pub fn parse(key: &str) -> Option<Counter> {
        if let Some(rest) = key.strip_prefix("grp:") {
            let (product, edition) = rest.split_once('\u{1f}').unwrap_or((rest, ""));
            return Some(Counter::Group {
                product: product.to_string(),
                edition: edition.to_string(),
            });
        }
        if let Some(day) = key.strip_prefix("exp:") {
            return Some(Counter::Expiring {
                day: day.to_string(),
            });
        }
        key.strip_prefix("act:").map(|day| Counter::Activated {
            day: day.to_string(),
        })
    }
}

/// `YYYY-MM-DD` of `t` (UTC): the day a daily counter is keyed by.
pub fn day_of(t: client_verifier::Timestamp) -> String {
    t.to_rfc3339().chars().take(10).collect()
}

/// The counter of devices activated on `t`'s day (seats taken, device licenses minted): the
/// console's daily activations.
pub fn activation_stat(t: client_verifier::Timestamp) -> String {
    format!("act:{}", day_of(t))
}

/// `YYYY-MM-DDTHH` of `t` (UTC): the hour an hourly counter is keyed by.
pub fn hour_of(t: client_verifier::Timestamp) -> String {
    t.to_rfc3339().chars().take(13).collect()
}

/// Licenses per status, kept up to date on every commit so metrics need no scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// Active licenses.
    pub active: u64,
    /// Frozen licenses.
    pub frozen: u64,
    /// Released licenses.
    pub released: u64,
}

impl StatusCounts {
    pub(crate) fn slot(&mut self, s: Status) -> &mut u64 {
        match s {
            Status::Active => &mut self.active,
            Status::Frozen => &mut self.frozen,
            Status::Released => &mut self.released,
        }
    }
}

/// The outbox's due jobs ([`Store::due_jobs`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Due {
    /// Pending jobs due now, earliest first.
    pub jobs: Vec<Job>,
    /// When the first pending job not in `jobs` is due (now or earlier when the limit cut the
    /// list short); `None` when there is none.
    pub next: Option<Timestamp>,
}

impl Due {
    /// Splits pending jobs in due order (at least the first `limit + 1` of them) into the
    /// ones due at `now`, at most `limit`, and the time the next one is due.
    pub fn split(pending: impl IntoIterator<Item = Job>, now: Timestamp, limit: usize) -> Due {
        let mut due = Due::default();
        for job in pending {
            if job.next_at > now || due.jobs.len() == limit {
                due.next = Some(job.next_at);
                break;
            }
            due.jobs.push(job);
        }
        due
    }
}

/// A read-decide-commit step, as the service sees it ([`Store::begin`]): its reads go through
/// it, visibly, and its writes leave as one [`Batch`] ([`Tx::commit`]). What a step read is
/// still true when its batch commits: one process's stores (sled, memory) run steps one at a
/// time; a shared store (PostgreSQL) locks what a step reads, on every node, until it ends.
/// Dropping it without committing rolls it back and lets go of what it holds.
pub struct Tx(Box<dyn Transaction>);

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tx")
    }
}

impl Tx {
    /// A step over a backend's transaction.
    pub fn new(t: impl Transaction) -> Self {
        Tx(Box::new(t))
    }

    /// A license by id.
    pub async fn license(&mut self, id: &str) -> Result<Option<License>, StoreError> {
        self.0.license(id).await
    }
    /// The license a purchase created, if any.
    pub async fn order(&mut self, key: &OrderKey) -> Result<Option<String>, StoreError> {
        self.0.order(key).await
    }
    /// Purchase `key`'s license id and license `id` (the one the purchase would create),
    /// read together in the order every step locks them: the purchase, then the license. A
    /// shared store sends both in one round trip.
    pub async fn purchase_and_license(
        &mut self,
        key: &OrderKey,
        id: &str,
    ) -> Result<(Option<String>, Option<License>), StoreError> {
        self.0.purchase_and_license(key, id).await
    }
    /// Whether an operation with this key was applied.
    pub async fn applied(&mut self, key: &str) -> Result<bool, StoreError> {
        self.0.applied(key).await
    }
    /// A device license by request.
    pub async fn device(&mut self, key: &DeviceKey) -> Result<Option<DeviceLicense>, StoreError> {
        self.0.device(key).await
    }
    /// Device licenses minted for an instance.
    pub async fn devices_for(
        &mut self,
        license_id: &str,
    ) -> Result<Vec<DeviceLicense>, StoreError> {
        self.0.devices_for(license_id).await
    }
    /// The seats of a License 1.0 license, by seat number.
    pub async fn activations(&mut self, license_id: &str) -> Result<Vec<Activation>, StoreError> {
        self.0.activations(license_id).await
    }
    /// A floating license's leases, and the store's clock when it read them: the time every
    /// decision about those leases is made at. One process's stores read the system clock; a
    /// shared store reads the database's, after taking the license's lock, so that nodes whose
    /// clocks drift still decide on one clock, in the order they decide.
    pub async fn leases(
        &mut self,
        license_id: &str,
    ) -> Result<(Timestamp, Vec<Lease>), StoreError> {
        self.0.leases(license_id).await
    }
    /// One lease of a license, and the store's clock, as [`Tx::leases`] reads them: what a
    /// renewal or a release needs, without reading the license's other leases.
    pub async fn lease(
        &mut self,
        license_id: &str,
        id: &str,
    ) -> Result<(Timestamp, Option<Lease>), StoreError> {
        self.0.lease(license_id, id).await
    }
    /// One outbox job.
    pub async fn job(&mut self, id: &str) -> Result<Option<Job>, StoreError> {
        self.0.job(id).await
    }
    /// Whether this revocation-list entry is on the list.
    pub async fn is_revoked(&mut self, entry: &str) -> Result<bool, StoreError> {
        self.0.is_revoked(entry).await
    }
    /// Licenses per status.
    pub async fn counts(&mut self) -> Result<StatusCounts, StoreError> {
        self.0.counts().await
    }
    /// The counters whose key starts with `prefix`.
    pub async fn stats(&mut self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError> {
        self.0.stats(prefix).await
    }
    /// Commits `batch` atomically (all of it or none), then ends the step. Durable only once
    /// [`Store::flush`] returns.
    pub async fn commit(self, batch: Batch) -> Result<(), StoreError> {
        self.0.commit(batch).await
    }
}

/// A backend's side of a [`Tx`]: the reads a step makes, and its commit.
#[async_trait::async_trait]
pub trait Transaction: Send + 'static {
    /// See [`Tx::license`].
    async fn license(&mut self, id: &str) -> Result<Option<License>, StoreError>;
    /// See [`Tx::order`].
    async fn order(&mut self, key: &OrderKey) -> Result<Option<String>, StoreError>;
    /// See [`Tx::purchase_and_license`]; by default one read after the other.
    async fn purchase_and_license(
        &mut self,
        key: &OrderKey,
        id: &str,
    ) -> Result<(Option<String>, Option<License>), StoreError> {
        let order = self.order(key).await?;
        Ok((order, self.license(id).await?))
    }
    /// See [`Tx::applied`].
    async fn applied(&mut self, key: &str) -> Result<bool, StoreError>;
    /// See [`Tx::device`].
    async fn device(&mut self, key: &DeviceKey) -> Result<Option<DeviceLicense>, StoreError>;
    /// See [`Tx::devices_for`].
    async fn devices_for(&mut self, license_id: &str) -> Result<Vec<DeviceLicense>, StoreError>;
    /// See [`Tx::activations`].
    async fn activations(&mut self, license_id: &str) -> Result<Vec<Activation>, StoreError>;
    /// See [`Tx::leases`].
    async fn leases(&mut self, license_id: &str) -> Result<(Timestamp, Vec<Lease>), StoreError>;
    /// See [`Tx::lease`].
    async fn lease(
        &mut self,
        license_id: &str,
        id: &str,
    ) -> Result<(Timestamp, Option<Lease>), StoreError>;
    /// See [`Tx::job`].
    async fn job(&mut self, id: &str) -> Result<Option<Job>, StoreError>;
    /// See [`Tx::is_revoked`].
    async fn is_revoked(&mut self, entry: &str) -> Result<bool, StoreError>;
    /// See [`Tx::counts`].
    async fn counts(&mut self) -> Result<StatusCounts, StoreError>;
    /// See [`Tx::stats`].
    async fn stats(&mut self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError>;
    /// See [`Tx::commit`].
    async fn commit(self: Box<Self>, batch: Batch) -> Result<(), StoreError>;
}

/// Where licenses live. Reads outside a [`Tx`] see whole commits and lock nothing.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    // --- licenses and their indexes -------------------------------------------------------

    /// A license by id.
    async fn license(&self, id: &str) -> Result<Option<License>, StoreError>;
    /// The license a purchase created, if any.
    async fn order(&self, key: &OrderKey) -> Result<Option<String>, StoreError>;
    /// Whether an operation with this key was applied.
    async fn applied(&self, key: &str) -> Result<bool, StoreError>;
    /// A device license by request.
    async fn device(&self, key: &DeviceKey) -> Result<Option<DeviceLicense>, StoreError>;
    /// Device licenses minted for an instance.
    async fn devices_for(&self, license_id: &str) -> Result<Vec<DeviceLicense>, StoreError>;
    /// The seats of a License 1.0 license, by seat number.
    async fn activations(&self, license_id: &str) -> Result<Vec<Activation>, StoreError>;
    /// A floating license's leases (in lease id order), ended ones included until forgotten.
    async fn leases(&self, license_id: &str) -> Result<Vec<Lease>, StoreError>;
    /// Leases holding a seat at `now`, per product ([`crate::license::lease::in_use_by_product`]):
    /// a scan of every lease, for the metrics.
    async fn leases_in_use(
        &self,
        now: Timestamp,
    ) -> Result<std::collections::BTreeMap<String, u64>, StoreError>;
    /// Up to `limit` licenses in id order, starting after `after`: pages through any number of
    /// licenses without loading them all.
    async fn licenses_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<License>, StoreError>;
    /// Licenses per status.
    async fn counts(&self) -> Result<StatusCounts, StoreError>;
    /// The counters whose key starts with `prefix` ([`Shape`] lists them), in key order.
    async fn stats(&self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError>;
    /// The revocation list: its sequence number (which grows with every entry added) and its
    /// entries (released license ids and revoked bindings).
    async fn revoked(&self) -> Result<(u64, Vec<String>), StoreError>;
    /// Whether this revocation-list entry (a license id or `<jti>#<salt>`) is on the list.
    async fn is_revoked(&self, entry: &str) -> Result<bool, StoreError>;

    // --- writing ----------------------------------------------------------------------------

    /// Begins a read-decide-commit step ([`Tx`]). Every write goes through one.
    async fn begin(&self) -> Result<Tx, StoreError>;
    /// Commits `batch` in a step of its own that reads nothing.
    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        self.begin().await?.commit(batch).await
    }
    /// Makes everything committed so far durable. Concurrent callers share one disk flush.
    async fn flush(&self) -> Result<(), StoreError>;
    /// Whether writes can still succeed. A store that stops accepting writes after an I/O
    /// error until it is reopened (sled does) says so here, and readiness fails.
    fn writable(&self) -> Result<(), StoreError> {
        Ok(())
    }

    // --- the audit log ----------------------------------------------------------------------

    /// A license's audit history, oldest first.
    async fn audit_for(&self, license_id: &str) -> Result<Vec<AuditRecord>, StoreError>;
    /// Checks the whole audit chain; returns the number of records, or the first broken seq.
    async fn verify_audit_chain(&self) -> Result<Result<u64, u64>, StoreError>;
    /// The audit records after `seq`, oldest first, at most `limit`: a page of the event feed.
    async fn audit_after(&self, seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError>;
    /// The newest audit record's seq; 0 while the log is empty.
    async fn audit_head(&self) -> Result<u64, StoreError>;

    // --- consumers' cursors over the audit log (webhook endpoints) ----------------------------

    /// Cursor `name` as last saved. Cursors are not in dumps or backups: like nonces, no
    /// commit writes them.
    async fn cursor(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Saves `new` as cursor `name` if it still holds `old` (`None`: no cursor yet), in one
    /// atomic step; whether it did. Two writers (a node's sender, an operator's replay) cannot
    /// overwrite each other unseen.
    async fn swap_cursor(
        &self,
        name: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError>;

    // --- V2 nonces --------------------------------------------------------------------------

    /// Records a V2 nonce until `expires`; false if it was already recorded (a replay).
    async fn remember_nonce(&self, nonce: &str, expires: Timestamp) -> Result<bool, StoreError>;
    /// Whether `nonce` is recorded with an expiry at or after `now` (a read; it records
    /// nothing).
    async fn remembered(&self, nonce: &str, now: Timestamp) -> Result<bool, StoreError>;
    /// Forgets nonces that expired before `now`; returns how many.
    async fn prune_nonces(&self, now: Timestamp) -> Result<usize, StoreError>;

    // --- claims -------------------------------------------------------------------------------

    /// Takes the claim `key` until `until`, unless another holder's claim on it is live at `now`:
    /// true when taken. One holder at a time across every node on the database. Claims live
    /// beside the V2 nonces (their keys start with `claim:`, which no nonce does) and are pruned
    /// with them; a holder that dies lets go when its claim expires.
    async fn claim(&self, key: &str, until: Timestamp, now: Timestamp) -> Result<bool, StoreError>;
    /// Lets go of the claim `key` taken until `until`; nothing if another holder took it since.
    async fn release_claim(&self, key: &str, until: Timestamp) -> Result<(), StoreError>;

    // --- the outbox -------------------------------------------------------------------------

    /// Every outbox job (pending and dead; finished ones are gone).
    async fn jobs(&self) -> Result<Vec<Job>, StoreError>;
    /// Up to `limit` pending jobs due at `now`, in due order, and when the next pending job
    /// not returned is due: what one round of the outbox needs, read in O(due), however
    /// many jobs wait dead for an operator.
    async fn due_jobs(&self, now: Timestamp, limit: usize) -> Result<Due, StoreError>;
    /// One outbox job.
    async fn job(&self, id: &str) -> Result<Option<Job>, StoreError>;

    /// Of the due jobs `due`, the ones this process may run now: each is leased to it, so
    /// another process sharing the store skips it until [`Store::release_jobs`] or until this
    /// process dies. One process needs no lease.
    async fn lease_jobs(&self, due: Vec<Job>) -> Result<Vec<Job>, StoreError> {
        Ok(due)
    }
    /// Gives up the leases on these jobs once their attempts are recorded.
    async fn release_jobs(&self, ids: &[String]) {
        let _ = ids;
    }

    // --- operations -------------------------------------------------------------------------

    /// Bytes the database occupies on disk (for metrics); 0 where it has no disk.
    async fn disk_bytes(&self) -> Result<u64, StoreError>;
    /// When the first audit event was recorded: how long this database has been growing
    /// (`licd doctor` estimates a week's growth from it). None for an empty log.
    async fn first_audit_at(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(None)
    }
    /// The backup side of this store ([`Snapshot`]), if it has one; `licd backup` refuses a
    /// store without.
    fn snapshot(&self) -> Option<&dyn Snapshot> {
        None
    }
    /// Every record commits wrote, in the backend-neutral [`dump`] format: two stores given
    /// the same steps dump the same bytes. Reads everything: for tests and inspection.
    async fn dump(&self) -> Result<dump::Dump, StoreError>;
}

/// What `licd backup` needs from a store besides [`Store`]: its records as raw bytes, and
/// tracking of the keys writes touch so a backup can stream without holding writes off
/// (`crate::backup`). Optional for a backend: [`Store::snapshot`].
pub trait Snapshot {
    /// Hands every stored record to `visit` as (collection, key, value), collection by
    /// collection, keys ascending: the raw bytes a backup carries. Returns the number of
    /// records. Not consistent across collections by itself: a backup tracks the keys changed
    /// meanwhile and re-reads them with writes held off. A `visit` error stops the export.
    fn export(&self, visit: &mut ExportVisitor<'_>) -> Result<u64, StoreError>;
    /// Starts (`true`) or stops (`false`) recording which keys every write touches. Starting
    /// clears what was recorded. The default records nothing: a store that does not track
    /// cannot serve a streaming backup ([`Snapshot::tracks_changes`] says so).
    fn track_changes(&self, on: bool) {
        let _ = on;
    }
    /// Whether this store implements [`Snapshot::track_changes`].
    fn tracks_changes(&self) -> bool {
        false
    }
    /// Takes the keys written or removed since tracking started (or since the last call), as
    /// (collection, key), and clears them; tracking stays as it is. May hold more keys than
    /// were changed, never fewer.
    fn changed_keys(&self) -> Vec<(&'static str, Vec<u8>)> {
        Vec::new()
    }
    /// The raw value of one record, as [`Snapshot::export`] hands it over; `None` if absent.
    /// Waits for the commit in flight (if any) and holds every later one off until the guard
    /// is dropped: whoever holds it sees the store in one consistent state. Call from a
    /// blocking thread, never from async code.
    fn hold_writes_blocking(&self) -> tokio::sync::OwnedMutexGuard<()>;
    fn get_raw(&self, collection: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let _ = key;
        Err(StoreError::Db(format!(
            "raw reads of {collection} are not supported by this store"
        )))
    }
}

/// What [`Snapshot::export`] hands each record to: (collection, key, value).
pub type ExportVisitor<'a> = dyn FnMut(&str, &[u8], &[u8]) -> std::io::Result<()> + 'a;
