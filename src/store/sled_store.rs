//! The sled implementation of [`Store`].
//!
//! Trees: `licenses` (id -> JSON record), `orders` (purchase -> id), `applied` (operation keys
//! applied once), `devices` (device request -> device license), `audit` (big-endian seq -> chained
//! record), `audit_idx` (license id, seq -> ()), `meta` (audit head, status counts), `revoked`
//! (revocation-list entry -> time), `activations` (license id, seat -> seat), `leases` (license
//! id, lease id -> lease), `outbox` (job id -> job), `nonces` (V2 nonce -> expiry). A commit is one sled transaction over all but the last;
//! nonces live outside it because a replay check must not wait for a callback's transaction.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread;

use client_verifier::Timestamp;
use serde::de::DeserializeOwned;
use sled::transaction::TransactionError;
use sled::{Db, Tree};
use tokio::sync::oneshot;

use super::codec::{AuditChain, decode, encode};
use super::plan::{Head, Plan, Prior, plan};
use super::{
    AuditRecord, Batch, DeviceKey, ExportVisitor, OrderKey, Snapshot, StatusCounts, StoreError,
};
use crate::job::Job;
use crate::license::lease::Lease;
use crate::license::{Activation, DeviceLicense, License};

const HEAD: &[u8] = b"audit_head";
const COUNTS: &[u8] = b"status_counts";
const REVOCATION_SEQ: &[u8] = b"revocation_seq";
/// Counters ([`crate::store::Shape`], [`Batch::stats`]) are checkpointed as `meta` entries
/// under this prefix ([`Counters`]).
const STAT_PREFIX: &str = "stat:";
/// The last audit record whose commit the checkpoint holds.
const COUNTERS_THROUGH: &[u8] = b"counters_through";
/// Commits between two checkpoints: what a restart after a crash replays at most (their audit
/// records: about 50 ms for all of them). Smaller in unit tests, which cross it.
#[cfg(not(test))]
const FOLD_EVERY: u64 = 16_384;
#[cfg(test)]
const FOLD_EVERY: u64 = 1024;
/// Written at a clean close by the versions of milestone 2 (the checkpoint was then valid
/// only after one); still honoured, so that such a database opens without a recount.
const STATS_CLEAN: &[u8] = b"stats_clean";
/// The checkpoint of a build between milestones 2 and 3 that logged the counters in a tree of
/// their own (`counter_log`): numbered by that log, so it is dropped with it and counted again.
const COUNTERS_AT_LOG: &[u8] = b"counters_at";

/// The embedded store: one process owns the database directory.
#[derive(Debug, Clone)]
pub struct SledStore {
    db: Db,
    licenses: Tree,
    orders: Tree,
    applied: Tree,
    devices: Tree,
    audit: Tree,
    audit_idx: Tree,
    meta: Tree,
    revoked: Tree,
    activations: Tree,
    leases: Tree,
    outbox: Tree,
    nonces: Tree,
    /// Consumers' cursors over the audit log (name -> bytes). Not a collection of backups or
    /// dumps: a restored log starts its consumers again at its head.
    cursors: Tree,
    flusher: Arc<Flusher>,
    /// The first write I/O error. sled refuses every later write after one (it keeps the
    /// error until the database is reopened), even once the disk has room again.
    broken: Arc<OnceLock<String>>,
    changes: Arc<Changes>,
    counters: Arc<Counters>,
    /// Steps take turns on it ([`super::local::LocalTx`]); a backup holds it to see one state.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// The audit head, status counts and revocation-list number as the last commit left them:
    /// read at open, then kept by the commits (which run one at a time), so a commit reads
    /// none of them back from `meta`.
    tip: Arc<Mutex<Tip>>,
    /// The pending outbox jobs by due time, kept in memory beside the `outbox` tree: built by
    /// one scan at open and kept on every commit, so a round of the outbox reads only the
    /// jobs it runs, however many dead ones wait for an operator.
    due: Arc<Mutex<DueIndex>>,
}

/// What every commit extends: the audit head, the status counts, the revocation-list number.
#[derive(Debug, Clone, Default)]
struct Tip {
    head: Head,
    counts: StatusCounts,
    revocation_seq: u64,
}

/// Pending (not dead) outbox jobs: (due time, id) in due order, and each id's due time.
#[derive(Debug, Default)]
struct DueIndex {
    order: std::collections::BTreeSet<(i64, String)>,
    at: std::collections::HashMap<String, i64>,
}

impl DueIndex {
    fn remove(&mut self, id: &str) {
        if let Some(t) = self.at.remove(id) {
            self.order.remove(&(t, id.to_string()));
        }
    }

    fn put(&mut self, job: &Job) {
        self.remove(&job.id);
        if !job.dead {
            let t = job.next_at.unix();
            self.order.insert((t, job.id.clone()));
            self.at.insert(job.id.clone(), t);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.order.len()
    }
}

super::local::local_store!(SledStore);

/// The counters, kept in memory; a commit adds to them after its transaction. What a commit
/// adds rides in its last audit record (a `counted` field the record's readers ignore), so it
/// costs no write of its own. Every [`FOLD_EVERY`] commits, in a commit without an audit
/// record, and at close, the values are checkpointed instead: the `stat:` entries changed
/// since the last checkpoint and [`COUNTERS_THROUGH`], in the transaction of the commit that
/// makes it. A restart after a crash loads the checkpoint and replays the audit records after
/// it: no scan of the licenses, so its time and memory do not grow with their number. (A log
/// entry per commit in a tree of its own cost the callback path 10 %, most of it sled removing
/// the folded entries; the totals themselves in every transaction cost 5 to 8 %.)
#[derive(Debug)]
struct Counters {
    state: Mutex<CounterState>,
    /// Nothing is saved at drop: the store is being built from a backup (whose records carry
    /// their own checkpoint, which this store's empty counters must not overwrite), or a test
    /// simulates a crash.
    discard: std::sync::atomic::AtomicBool,
    meta: Tree,
    db: Db,
}

/// The counters and what the next checkpoint needs. Changed only by commits (which take
/// turns) and at open.
#[derive(Debug, Default)]
struct CounterState {
    values: BTreeMap<String, i64>,
    /// The keys changed since the checkpoint: what the next one writes. After a count from
    /// the records, every key the old checkpoint had too, so that stale ones go.
    dirty: BTreeSet<String>,
    /// Commits since the checkpoint: at most the records a replay reads.
    since: u64,
    /// The last audit record committed: what a checkpoint written now holds.
    head: u64,
}

/// A checkpoint's writes to `meta`: each changed counter's value, or its removal at zero.
type CheckpointWrites = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// How an audit record carries its commit's counters (as stored in the `audit` tree only).
#[derive(serde::Serialize)]
struct CountedRecord<'a> {
    #[serde(flatten)]
    record: &'a AuditRecord,
    counted: &'a BTreeMap<String, i64>,
}

/// What a replay reads of a stored audit record.
#[derive(serde::Deserialize)]
struct Counted {
    #[serde(default)]
    counted: BTreeMap<String, i64>,
}

impl CounterState {
    /// The checkpoint once `adding` is added: every changed key with its new value.
    fn checkpoint(&self, adding: &BTreeMap<String, i64>) -> CheckpointWrites {
        self.dirty
            .iter()
            .chain(adding.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|k| {
                let n =
                    self.values.get(k).copied().unwrap_or(0) + adding.get(k).copied().unwrap_or(0);
                let key = format!("{STAT_PREFIX}{k}").into_bytes();
                (key, (n != 0).then(|| encode(&n)))
            })
            .collect()
    }

    fn add(&mut self, deltas: BTreeMap<String, i64>) {
        for (k, d) in deltas {
            let n = self.values.entry(k.clone()).or_default();
            *n += d;
            if *n == 0 {
                self.values.remove(&k);
            }
            self.dirty.insert(k);
        }
    }
}

impl Counters {
    fn state(&self) -> std::sync::MutexGuard<'_, CounterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The checkpoint `plan`'s commit writes, if it makes one: when it has no audit record to
    /// carry its counters, or when [`FOLD_EVERY`] commits went by. `None` for a commit that
    /// carries them (or has none).
    fn checkpoint_for(&self, plan: &Plan) -> Option<CheckpointWrites> {
        let st = self.state();
        let audit_only = plan.stats.is_empty() && !plan.audit.is_empty();
        let uncarried = !plan.stats.is_empty() && plan.audit.is_empty();
        (uncarried || ((audit_only || !plan.stats.is_empty()) && st.since + 1 >= FOLD_EVERY))
            .then(|| st.checkpoint(&plan.stats))
    }

    /// After `plan`'s commit: its counters added, and the checkpoint it wrote if any.
    fn committed(&self, plan: &mut Plan, checkpointed: bool) {
        let mut st = self.state();
        let counted = !plan.stats.is_empty() || !plan.audit.is_empty();
        st.add(std::mem::take(&mut plan.stats));
        st.head = plan.head.seq;
        if checkpointed {
            st.dirty.clear();
            st.since = 0;
        } else if counted {
            st.since += 1;
        }
    }

    /// Writes the checkpoint of the values now (at close).
    fn save(&self) -> Result<(), sled::Error> {
        let mut st = self.state();
        let mut batch = sled::Batch::default();
        for (k, v) in st.checkpoint(&BTreeMap::new()) {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        batch.insert(COUNTERS_THROUGH, encode(&st.head));
        self.meta.apply_batch(batch)?;
        st.dirty.clear();
        st.since = 0;
        drop(st);
        self.db.flush()?;
        Ok(())
    }
}

impl Drop for Counters {
    fn drop(&mut self) {
        if self.discard.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        if let Err(e) = self.save() {
            tracing::warn!(error = %e, "could not save the dashboard's counters; they are counted again at the next start");
        }
    }
}

/// The keys written while a backup streams ([`Snapshot::track_changes`]); `None` when off.
type Changes = Mutex<Option<HashSet<(&'static str, Vec<u8>)>>>;

type FlushRequest = oneshot::Sender<Result<(), String>>;

/// The group-commit thread. Dropping the last store stops it and waits for it, so the database
/// (which the thread also holds) is closed when the store is gone.
#[derive(Debug)]
struct Flusher {
    tx: Mutex<Option<mpsc::Sender<FlushRequest>>>,
    handle: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Drop for Flusher {
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(h) = self.handle.lock().ok().and_then(|mut h| h.take()) {
            let _ = h.join();
        }
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

impl SledStore {
    /// Opens (creating if needed) the database in `dir`, with at most `cache_bytes` of page
    /// cache.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|e| open_error(dir, e))?;
        let tree = |name: &str| db.open_tree(name);
        let (tx, rx) = mpsc::channel::<FlushRequest>();
        let flush_db = db.clone();
        let handle = thread::Builder::new()
            .name("licd-flush".into())
            .spawn(move || group_commit(&flush_db, &rx))
            .map_err(|e| StoreError::Db(format!("cannot start the flush thread: {e}")))?;
        let flusher = Arc::new(Flusher {
            tx: Mutex::new(Some(tx)),
            handle: Mutex::new(Some(handle)),
        });
        let store = SledStore {
            licenses: tree("licenses")?,
            orders: tree("orders")?,
            applied: tree("applied")?,
            devices: tree("devices")?,
            audit: tree("audit")?,
            audit_idx: tree("audit_idx")?,
            meta: tree("meta")?,
            revoked: tree("revoked")?,
            activations: tree("activations")?,
            leases: tree("leases")?,
            outbox: tree("outbox")?,
            nonces: tree("nonces")?,
            cursors: tree("cursors")?,
            flusher,
            broken: Arc::new(OnceLock::new()),
            changes: Arc::default(),
            counters: Arc::new(Counters {
                state: Mutex::default(),
                discard: std::sync::atomic::AtomicBool::new(false),
                meta: tree("meta")?,
                db: db.clone(),
            }),
            turn: Arc::default(),
            tip: Arc::default(),
            due: Arc::default(),
            db,
        };
        *store.tip.lock().unwrap_or_else(|e| e.into_inner()) = Tip {
            head: match Self::get::<(u64, String)>(&store.meta, HEAD)? {
                Some((seq, hash)) => Head { seq, hash },
                None => Head::default(),
            },
            counts: Self::get(&store.meta, COUNTS)?.unwrap_or_default(),
            revocation_seq: Self::get(&store.meta, REVOCATION_SEQ)?.unwrap_or(0),
        };
        {
            let mut due = store.due.lock().unwrap_or_else(|e| e.into_inner());
            for kv in store.outbox.iter() {
                due.put(&decode_entry::<Job>(kv)?);
            }
        }
        store.load_counters()?;
        Ok(store)
    }

    /// The counters: the last checkpoint with the audit records after it replayed over it,
    /// or (a database without a checkpoint: an older licd's after a crash, or a restored
    /// backup) counted from the records. Opening writes nothing, so a restored backup reopens
    /// as it was taken, except to convert the checkpoint of an older licd.
    fn load_counters(&self) -> Result<(), StoreError> {
        let head = self.tip.lock().unwrap_or_else(|e| e.into_inner()).head.seq;
        if self.meta.contains_key(STATS_CLEAN)? {
            // Milestone 2's clean close: its checkpoint holds everything up to the head.
            let mut batch = sled::Batch::default();
            batch.remove(STATS_CLEAN);
            batch.insert(COUNTERS_THROUGH, encode(&head));
            self.meta.apply_batch(batch)?;
        }
        if self.db.drop_tree("counter_log")? {
            self.meta.remove(COUNTERS_AT_LOG)?;
        }
        let mut st = CounterState {
            head,
            ..CounterState::default()
        };
        let stored = self
            .meta
            .scan_prefix(STAT_PREFIX.as_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                let n: i64 = decode(&k, &v)?;
                Ok((
                    String::from_utf8_lossy(&k[STAT_PREFIX.len()..]).into_owned(),
                    n,
                ))
            })
            .collect::<Result<BTreeMap<String, i64>, StoreError>>()?;
        if let Some(through) = Self::get::<u64>(&self.meta, COUNTERS_THROUGH)? {
            st.values = stored;
            let mut replayed = 0u64;
            for kv in self.audit.range(through.saturating_add(1).to_be_bytes()..) {
                let counted: Counted = decode_entry(kv)?;
                st.add(counted.counted);
                replayed += 1;
            }
            st.since = replayed;
            if replayed > 0 {
                tracing::info!(
                    replayed,
                    "dashboard counters: the last stop was not clean; the audit records since the last checkpoint were replayed"
                );
            }
        } else {
            let started = std::time::Instant::now();
            let mut values = BTreeMap::new();
            for kv in self.licenses.iter() {
                let l: License = decode_entry(kv)?;
                crate::store::Shape::tally(None, &crate::store::Shape::of(&l), &mut values);
            }
            for kv in self.activations.iter() {
                let a: Activation = decode_entry(kv)?;
                *values
                    .entry(crate::store::activation_stat(a.created))
                    .or_default() += 1;
            }
            for kv in self.devices.iter() {
                let d: DeviceLicense = decode_entry(kv)?;
                *values
                    .entry(crate::store::activation_stat(d.created))
                    .or_default() += 1;
            }
            values.retain(|_, n| *n != 0);
            // The next commit checkpoints what was counted (and drops what was stored).
            st.dirty = stored.into_keys().chain(values.keys().cloned()).collect();
            st.values = values;
            st.since = FOLD_EVERY;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            // Worth a line at 3 a.m. only when it delayed the start.
            if elapsed_ms >= 1000 {
                tracing::info!(
                    elapsed_ms,
                    "dashboard counters counted from the stored records (a database without a counter checkpoint: one written by an older licd, or restored from its backup)"
                );
            } else {
                tracing::debug!(
                    elapsed_ms,
                    "dashboard counters counted from the stored records"
                );
            }
        }
        *self.counters.state() = st;
        Ok(())
    }

    /// Remembers a failed write (so readiness fails) and converts the error.
    fn write_failed(&self, e: sled::Error) -> StoreError {
        if matches!(e, sled::Error::Io(_)) {
            self.broke(e.to_string());
        }
        e.into()
    }

    fn broke(&self, reason: String) {
        if self.broken.set(reason.clone()).is_ok() {
            tracing::error!(error = %reason, "a write failed: the store accepts no more writes until licd is restarted");
        }
    }

    /// Records the keys `keys` yields if changes are being tracked (computing them only then).
    fn note<I: IntoIterator<Item = (&'static str, Vec<u8>)>>(&self, keys: impl FnOnce() -> I) {
        // A poisoned lock still holds a usable set: a panic cannot leave it half-updated.
        let mut changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = changes.as_mut() {
            set.extend(keys());
        }
    }

    fn get<T: DeserializeOwned>(tree: &Tree, key: &[u8]) -> Result<Option<T>, StoreError> {
        match tree.get(key)? {
            Some(v) => decode(key, &v).map(Some),
            None => Ok(None),
        }
    }
}

/// Why `dir` did not open. sled says that another process holds the database's lock only in
/// its message (an `Other` I/O error quoting the lock call's `WouldBlock`): this is the one
/// place that reads it, and callers match [`StoreError::InUse`].
fn open_error(dir: &Path, e: sled::Error) -> StoreError {
    match &e {
        sled::Error::Io(io)
            if io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().contains("WouldBlock") =>
        {
            StoreError::InUse {
                path: dir.display().to_string(),
            }
        }
        _ => e.into(),
    }
}

/// Serves flush requests: waits for one, takes every other request already queued, flushes
/// once for all of them. A request that arrives during a flush waits for the next one, so its
/// own commit is always covered.
fn group_commit(db: &Db, rx: &mpsc::Receiver<FlushRequest>) {
    while let Ok(first) = rx.recv() {
        let mut waiters = vec![first];
        waiters.extend(rx.try_iter());
        let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
        for w in waiters {
            let _ = w.send(result.clone());
        }
    }
}

/// The expiry (Unix seconds) a nonce or claim is stored with; 0 for anything malformed.
fn expiry(v: &[u8]) -> i64 {
    <[u8; 8]>::try_from(v).map(i64::from_be_bytes).unwrap_or(0)
}

fn decode_entry<T: DeserializeOwned>(
    kv: Result<(sled::IVec, sled::IVec), sled::Error>,
) -> Result<T, StoreError> {
    let (k, v) = kv?;
    decode(&k, &v)
}

/// The key of a seat: license id, NUL, big-endian seat number (so seats list in order).
fn seat_key(license_id: &str, seat: u32) -> Vec<u8> {
    [license_id.as_bytes(), b"\0", &seat.to_be_bytes()].concat()
}

impl SledStore {
    pub(crate) fn license(&self, id: &str) -> Result<Option<License>, StoreError> {
        Self::get(&self.licenses, id.as_bytes())
    }

    pub(crate) fn order(&self, key: &OrderKey) -> Result<Option<String>, StoreError> {
        Ok(self
            .orders
            .get(key.to_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub(crate) fn applied(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.applied.contains_key(key.as_bytes())?)
    }

    pub(crate) fn device(&self, key: &DeviceKey) -> Result<Option<DeviceLicense>, StoreError> {
        Self::get(&self.devices, &key.to_bytes())
    }

    /// Commits `batch` (steps hold the turn; tests call it directly). What the plan needs is
    /// read first: under the turn no other commit runs, so it is still what the sled
    /// transaction that stores the plan finds.
    pub(crate) fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.only_leases() {
            return self.apply_leases(batch);
        }
        let mut priors = std::collections::HashMap::new();
        for l in &batch.licenses {
            if let Some(old) = Self::get::<License>(&self.licenses, l.id.as_bytes())? {
                priors.insert(l.id.clone(), Prior::of(&old));
            }
        }
        let tip = self.tip.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut plan = plan(batch, |id| priors.get(id).cloned(), tip.head, tip.counts);
        // Encoded outside the transaction: its closure may run more than once.
        let licenses: Vec<(Vec<u8>, Vec<u8>)> = plan
            .licenses
            .iter()
            .map(|l| (l.id.as_bytes().to_vec(), encode(l)))
            .collect();
        let orders: Vec<(Vec<u8>, Vec<u8>)> = plan
            .orders
            .iter()
            .map(|(k, id)| (k.to_bytes(), id.as_bytes().to_vec()))
            .collect();
        let devices: Vec<(Vec<u8>, Vec<u8>)> = plan
            .devices
            .iter()
            .map(|(k, d)| (k.to_bytes(), encode(d)))
            .collect();
        let activations: Vec<(Vec<u8>, Vec<u8>)> = plan
            .activations
            .iter()
            .map(|a| (seat_key(&a.license_id, a.seat), encode(a)))
            .collect();
        let leases: Vec<(Vec<u8>, Vec<u8>)> = plan
            .leases
            .iter()
            .map(|l| (super::lease_key(&l.license_id, &l.id), encode(l)))
            .collect();
        let leases_done: Vec<Vec<u8>> = plan
            .leases_done
            .iter()
            .map(|(lic, id)| super::lease_key(lic, id))
            .collect();
        let jobs: Vec<(Vec<u8>, Vec<u8>)> = plan
            .jobs
            .iter()
            .map(|j| (j.id.as_bytes().to_vec(), encode(j)))
            .collect();
        let revocations: Vec<(Vec<u8>, Vec<u8>)> = plan
            .revocations
            .iter()
            .map(|(e, at)| (e.as_bytes().to_vec(), encode(at)))
            .collect();
        // The counters ride in the last audit record, unless this commit checkpoints them.
        let checkpoint = self.counters.checkpoint_for(&plan);
        let carrier = (checkpoint.is_none() && !plan.stats.is_empty())
            .then(|| plan.audit.last().map(|r| r.seq))
            .flatten();
        let audit: Vec<(u64, Vec<u8>, Vec<u8>)> = plan
            .audit
            .iter()
            .map(|r| {
                let value = if Some(r.seq) == carrier {
                    encode(&CountedRecord {
                        record: r,
                        counted: &plan.stats,
                    })
                } else {
                    encode(r)
                };
                (r.seq, audit_idx_key(&r.event.license_id, r.seq), value)
            })
            .collect();
        let head = encode(&(plan.head.seq, &plan.head.hash));
        let counts = encode(&plan.counts);
        let through = encode(&plan.head.seq);
        let trees = (
            &self.licenses,
            &self.orders,
            &self.applied,
            &self.devices,
            &self.audit,
            &self.audit_idx,
            &self.meta,
            &self.revoked,
            &self.activations,
            &self.outbox,
            &self.leases,
        );
        // The revocation-list number the attempt that succeeded left.
        let revocation_seq_after = std::cell::Cell::new(tip.revocation_seq);
        let result = sled::Transactional::transaction(
            &trees,
            |(lic, ord, app, dev, aud, idx, meta, rev, act, out, lea)| {
                let mut revocation_seq = tip.revocation_seq;
                let seq_before = revocation_seq;
                for (entry, at) in &revocations {
                    // An entry keeps the time it was first revoked.
                    if rev.get(entry.as_slice())?.is_none() {
                        rev.insert(entry.as_slice(), at.as_slice())?;
                        revocation_seq += 1;
                    }
                }
                for (set, tree) in [
                    (&activations, act),
                    (&leases, lea),
                    (&jobs, out),
                    (&licenses, lic),
                    (&orders, ord),
                    (&devices, dev),
                ] {
                    for (k, v) in set {
                        tree.insert(k.as_slice(), v.as_slice())?;
                    }
                }
                for id in &plan.jobs_done {
                    out.remove(id.as_bytes())?;
                }
                for k in &leases_done {
                    lea.remove(k.as_slice())?;
                }
                for k in &plan.applied {
                    app.insert(k.as_bytes(), &[][..])?;
                }
                for (seq, idx_key, record) in &audit {
                    aud.insert(&seq.to_be_bytes(), record.as_slice())?;
                    idx.insert(idx_key.as_slice(), &[][..])?;
                }
                meta.insert(HEAD, head.as_slice())?;
                meta.insert(COUNTS, counts.as_slice())?;
                if let Some(writes) = &checkpoint {
                    for (k, v) in writes {
                        match v {
                            Some(v) => meta.insert(k.as_slice(), v.as_slice())?,
                            None => meta.remove(k.as_slice())?,
                        };
                    }
                    meta.insert(COUNTERS_THROUGH, through.as_slice())?;
                }
                if revocation_seq != seq_before {
                    meta.insert(REVOCATION_SEQ, encode(&revocation_seq))?;
                }
                revocation_seq_after.set(revocation_seq);
                Ok(())
            },
        );
        match result {
            Ok(()) => {
                *self.tip.lock().unwrap_or_else(|e| e.into_inner()) = Tip {
                    head: plan.head.clone(),
                    counts: plan.counts,
                    revocation_seq: revocation_seq_after.get(),
                };
                self.note(|| plan_keys(&plan));
                if !plan.jobs.is_empty() || !plan.jobs_done.is_empty() {
                    let mut due = self.due.lock().unwrap_or_else(|e| e.into_inner());
                    for j in &plan.jobs {
                        due.put(j);
                    }
                    for id in &plan.jobs_done {
                        due.remove(id);
                    }
                }
                if let Some(writes) = &checkpoint {
                    self.note(|| {
                        writes
                            .iter()
                            .map(|(k, _)| ("meta", k.clone()))
                            .chain([("meta", COUNTERS_THROUGH.to_vec())])
                            .collect::<Vec<_>>()
                    });
                }
                self.counters.committed(&mut plan, checkpoint.is_some());
                Ok(())
            }
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(self.write_failed(e)),
        }
    }

    /// Commits a batch of lease writes alone (a renewal): one atomic batch on the `leases`
    /// tree, without the transaction over every tree a commit with audit records needs. The
    /// plan of such a batch changes nothing else (no counts, chain or counters).
    fn apply_leases(&self, batch: Batch) -> Result<(), StoreError> {
        let plan = plan(batch, |_| None, Head::default(), StatusCounts::default());
        let mut writes = sled::Batch::default();
        for l in &plan.leases {
            writes.insert(super::lease_key(&l.license_id, &l.id), encode(l));
        }
        for (lic, id) in &plan.leases_done {
            writes.remove(super::lease_key(lic, id));
        }
        self.leases
            .apply_batch(writes)
            .map_err(|e| self.write_failed(e))?;
        self.note(|| plan_keys(&plan).into_iter().filter(|(c, _)| *c == "leases"));
        Ok(())
    }

    pub(crate) fn remember_nonce(
        &self,
        nonce: &str,
        expires: Timestamp,
    ) -> Result<bool, StoreError> {
        let swapped = self
            .nonces
            .compare_and_swap(
                nonce.as_bytes(),
                None as Option<&[u8]>,
                Some(&expires.unix().to_be_bytes()[..]),
            )
            .map_err(|e| self.write_failed(e))?;
        if swapped.is_ok() {
            self.note(|| [("nonces", nonce.as_bytes().to_vec())]);
        }
        Ok(swapped.is_ok())
    }

    pub(crate) fn remembered(&self, nonce: &str, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self
            .nonces
            .get(nonce.as_bytes())?
            .is_some_and(|v| expiry(&v) >= now.unix()))
    }

    pub(crate) fn claim(
        &self,
        key: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let held = self.nonces.get(key.as_bytes())?;
        if held.as_deref().is_some_and(|v| expiry(v) >= now.unix()) {
            return Ok(false);
        }
        // Taken only if nobody changed it since we looked: another taker wins the race.
        let swapped = self
            .nonces
            .compare_and_swap(key.as_bytes(), held, Some(&until.unix().to_be_bytes()[..]))
            .map_err(|e| self.write_failed(e))?;
        if swapped.is_ok() {
            self.note(|| [("nonces", key.as_bytes().to_vec())]);
        }
        Ok(swapped.is_ok())
    }

    pub(crate) fn release_claim(&self, key: &str, until: Timestamp) -> Result<(), StoreError> {
        let released = self
            .nonces
            .compare_and_swap(
                key.as_bytes(),
                Some(&until.unix().to_be_bytes()[..]),
                None as Option<&[u8]>,
            )
            .map_err(|e| self.write_failed(e))?;
        if released.is_ok() {
            self.note(|| [("nonces", key.as_bytes().to_vec())]);
        }
        Ok(())
    }

    pub(crate) fn prune_nonces(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut removed = 0;
        for item in self.nonces.iter() {
            let (k, v) = item?;
            if expiry(&v) < now.unix() {
                self.nonces.remove(&k)?;
                self.note(|| [("nonces", k.to_vec())]);
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn flush_async(&self) -> Result<(), StoreError> {
        {
            let (tx, rx) = oneshot::channel();
            let stopped = || StoreError::Db("the flush thread has stopped".into());
            let sender = self.flusher.tx.lock().map_err(|_| stopped())?.clone();
            sender
                .ok_or_else(stopped)?
                .send(tx)
                .map_err(|_| stopped())?;
            match rx.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => {
                    self.broke(e.clone());
                    Err(StoreError::Db(e))
                }
                Err(_) => Err(StoreError::Db("the flush thread has stopped".into())),
            }
        }
    }

    pub(crate) fn counts(&self) -> Result<StatusCounts, StoreError> {
        Ok(Self::get(&self.meta, COUNTS)?.unwrap_or_default())
    }

    pub(crate) fn stats(&self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let st = self.counters.state();
        Ok(st
            .values
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, n)| (k.clone(), *n))
            .collect())
    }

    pub(crate) fn revoked(&self) -> Result<(u64, Vec<String>), StoreError> {
        // Read the sequence number first: an entry committed in between is then listed under
        // the older number, and the next list (with a higher one) carries it too.
        let seq = Self::get(&self.meta, REVOCATION_SEQ)?.unwrap_or(0);
        let entries = self
            .revoked
            .iter()
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect::<Result<_, StoreError>>()?;
        Ok((seq, entries))
    }

    pub(crate) fn is_revoked(&self, entry: &str) -> Result<bool, StoreError> {
        Ok(self.revoked.contains_key(entry.as_bytes())?)
    }

    pub(crate) fn devices_for(&self, license_id: &str) -> Result<Vec<DeviceLicense>, StoreError> {
        let prefix = [license_id.as_bytes(), b"\0"].concat();
        self.devices
            .scan_prefix(&prefix)
            .map(decode_entry)
            .collect()
    }

    pub(crate) fn activations(&self, license_id: &str) -> Result<Vec<Activation>, StoreError> {
        let prefix = [license_id.as_bytes(), b"\0"].concat();
        self.activations
            .scan_prefix(&prefix)
            .map(decode_entry)
            .collect()
    }

    pub(crate) fn leases(&self, license_id: &str) -> Result<Vec<Lease>, StoreError> {
        let prefix = [license_id.as_bytes(), b"\0"].concat();
        self.leases.scan_prefix(&prefix).map(decode_entry).collect()
    }

    pub(crate) fn leases_in_use(
        &self,
        now: Timestamp,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        let leases = self
            .leases
            .iter()
            .map(decode_entry)
            .collect::<Result<Vec<Lease>, StoreError>>()?;
        Ok(crate::license::lease::in_use_by_product(&leases, now))
    }

    pub(crate) fn lease(&self, license_id: &str, id: &str) -> Result<Option<Lease>, StoreError> {
        Self::get(&self.leases, &super::lease_key(license_id, id))
    }

    pub(crate) fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.outbox.iter().map(decode_entry).collect()
    }

    pub(crate) fn due_jobs(&self, now: Timestamp, limit: usize) -> Result<super::Due, StoreError> {
        // The first `limit + 1` pending ids in due order: enough to tell the next one's time.
        let ids: Vec<String> = {
            let due = self.due.lock().unwrap_or_else(|e| e.into_inner());
            due.order
                .iter()
                .take(limit.saturating_add(1))
                .map(|(_, id)| id.clone())
                .collect()
        };
        let mut pending = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(job) = self.job(&id)? {
                pending.push(job);
            }
        }
        Ok(super::Due::split(pending, now, limit))
    }

    pub(crate) fn job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        Self::get(&self.outbox, id.as_bytes())
    }

    pub(crate) fn licenses_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<License>, StoreError> {
        use std::ops::Bound;
        let start = match after {
            Some(a) => Bound::Excluded(a.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        self.licenses
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
            .take(limit)
            .map(decode_entry)
            .collect()
    }

    pub(crate) fn audit_for(&self, license_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        let prefix = [license_id.as_bytes(), b"\0"].concat();
        let mut out = Vec::new();
        for key in self.audit_idx.scan_prefix(&prefix).keys() {
            let key = key?;
            let seq = &key[prefix.len()..];
            if let Some(r) = Self::get(&self.audit, seq)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    pub(crate) fn disk_bytes(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    pub(crate) fn audit_after(
        &self,
        seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .audit
            .range(seq.saturating_add(1).to_be_bytes()..)
            .take(limit)
        {
            let (key, value) = item?;
            out.push(decode(&key, &value)?);
        }
        Ok(out)
    }

    pub(crate) fn audit_head(&self) -> Result<u64, StoreError> {
        Ok(self.tip.lock().unwrap_or_else(|e| e.into_inner()).head.seq)
    }

    pub(crate) fn cursor(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.cursors.get(name.as_bytes())?.map(|v| v.to_vec()))
    }

    pub(crate) fn swap_cursor(
        &self,
        name: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let swapped = self
            .cursors
            .compare_and_swap(name.as_bytes(), old, Some(new))
            .map_err(|e| self.write_failed(e))?;
        Ok(swapped.is_ok())
    }

    pub(crate) fn first_audit_at(&self) -> Result<Option<Timestamp>, StoreError> {
        match self.audit.first()? {
            Some((key, value)) => Ok(Some(decode::<AuditRecord>(&key, &value)?.event.at)),
            None => Ok(None),
        }
    }

    fn writable_now(&self) -> Result<(), StoreError> {
        match self.broken.get() {
            Some(reason) => Err(StoreError::Db(format!(
                "a write failed ({reason}); restart licd to reopen the database"
            ))),
            None => Ok(()),
        }
    }

    pub(crate) fn verify_audit_chain(&self) -> Result<Result<u64, u64>, StoreError> {
        let mut chain = AuditChain::default();
        for item in self.audit.iter() {
            let (k, v) = item?;
            if let Err(broken) = chain.push(&k, &v)? {
                return Ok(Err(broken));
            }
        }
        Ok(Ok(chain.len()))
    }

    pub(crate) fn dump(&self) -> Result<super::dump::Dump, StoreError> {
        let mut r = Vec::new();
        for (name, tree) in [
            ("licenses", &self.licenses),
            ("orders", &self.orders),
            ("applied", &self.applied),
            ("devices", &self.devices),
            ("activations", &self.activations),
            ("leases", &self.leases),
            ("outbox", &self.outbox),
            ("revoked", &self.revoked),
        ] {
            for kv in tree.iter() {
                let (k, v) = kv?;
                super::dump::push(&mut r, name, k.to_vec(), v.to_vec());
            }
        }
        // An audit record as its readers see it: the counters its commit added, which it may
        // carry for this store's own restart, are not part of it.
        for kv in self.audit.iter() {
            let (k, v) = kv?;
            let record: AuditRecord = decode(&k, &v)?;
            super::dump::push(&mut r, "audit", k.to_vec(), encode(&record));
        }
        let head = match Self::get::<(u64, String)>(&self.meta, HEAD)? {
            Some((seq, hash)) => Head { seq, hash },
            None => Head::default(),
        };
        let counters = self.stats("")?;
        super::dump::push_summary(
            &mut r,
            &head,
            self.counts()?,
            Self::get(&self.meta, REVOCATION_SEQ)?.unwrap_or(0),
            counters,
        );
        Ok(super::dump::Dump::new(r))
    }

    fn snapshot_side(&self) -> Option<&dyn Snapshot> {
        Some(self)
    }
}

impl Snapshot for SledStore {
    fn export(&self, visit: &mut ExportVisitor<'_>) -> Result<u64, StoreError> {
        let mut n = 0;
        for (name, tree) in self.collections() {
            for item in tree.iter() {
                let (k, v) = item?;
                visit(name, &k, &v)
                    .map_err(|e| StoreError::Db(format!("export of {name}: {e}")))?;
                n += 1;
            }
        }
        Ok(n)
    }

    fn track_changes(&self, on: bool) {
        *self.changes.lock().unwrap_or_else(|e| e.into_inner()) = on.then(HashSet::new);
    }

    fn tracks_changes(&self) -> bool {
        true
    }

    fn changed_keys(&self) -> Vec<(&'static str, Vec<u8>)> {
        self.changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .map(|set| set.drain().collect())
            .unwrap_or_default()
    }

    fn hold_writes_blocking(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.turn.clone().blocking_lock_owned()
    }

    fn get_raw(&self, collection: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree(collection)?.1.get(key)?.map(|v| v.to_vec()))
    }
}

impl SledStore {
    /// Every collection by name, in a fixed order (the audit log's chain can be checked as it
    /// streams past, since its keys are big-endian sequence numbers).
    fn collections(&self) -> [(&'static str, &Tree); 12] {
        [
            ("licenses", &self.licenses),
            ("orders", &self.orders),
            ("applied", &self.applied),
            ("devices", &self.devices),
            ("audit", &self.audit),
            ("audit_idx", &self.audit_idx),
            ("meta", &self.meta),
            ("revoked", &self.revoked),
            ("activations", &self.activations),
            ("outbox", &self.outbox),
            ("nonces", &self.nonces),
            ("leases", &self.leases),
        ]
    }

    /// Writes one record exported by [`Snapshot::export`] into collection `name`, as is. For
    /// `licd restore`, into a fresh database nothing else uses.
    pub fn import(&self, name: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.counters
            .discard
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let (name, tree) = self.tree(name)?;
        tree.insert(key, value)?;
        self.note(|| [(name, key.to_vec())]);
        Ok(())
    }

    /// Removes one record from collection `name`: a deletion recorded in a backup, for
    /// `licd restore`.
    pub fn import_removal(&self, name: &str, key: &[u8]) -> Result<(), StoreError> {
        self.counters
            .discard
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let (name, tree) = self.tree(name)?;
        tree.remove(key)?;
        self.note(|| [(name, key.to_vec())]);
        Ok(())
    }

    /// How many records collection `name` holds (a scan).
    pub fn count_of(&self, name: &str) -> Result<u64, StoreError> {
        Ok(self.tree(name)?.1.len() as u64)
    }

    /// Collection `name`, and its name as a static string.
    fn tree(&self, name: &str) -> Result<(&'static str, &Tree), StoreError> {
        self.collections()
            .into_iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| StoreError::Db(format!("unknown collection {name:?}")))
    }
}

/// Every key a commit of `plan` wrote or removed (a superset: a revocation entry is listed
/// whether or not it was new).
fn plan_keys(plan: &Plan) -> Vec<(&'static str, Vec<u8>)> {
    let mut keys: Vec<(&'static str, Vec<u8>)> = vec![
        ("meta", HEAD.to_vec()),
        ("meta", COUNTS.to_vec()),
        ("meta", REVOCATION_SEQ.to_vec()),
    ];
    let b = |s: &str| s.as_bytes().to_vec();
    keys.extend(plan.revocations.iter().map(|(e, _)| ("revoked", b(e))));
    keys.extend(
        plan.activations
            .iter()
            .map(|a| ("activations", seat_key(&a.license_id, a.seat))),
    );
    keys.extend(
        plan.leases
            .iter()
            .map(|l| ("leases", super::lease_key(&l.license_id, &l.id))),
    );
    keys.extend(
        plan.leases_done
            .iter()
            .map(|(lic, id)| ("leases", super::lease_key(lic, id))),
    );
    keys.extend(plan.jobs.iter().map(|j| ("outbox", b(&j.id))));
    keys.extend(plan.jobs_done.iter().map(|id| ("outbox", b(id))));
    keys.extend(plan.licenses.iter().map(|l| ("licenses", b(&l.id))));
    keys.extend(plan.orders.iter().map(|(k, _)| ("orders", k.to_bytes())));
    keys.extend(plan.applied.iter().map(|k| ("applied", b(k))));
    keys.extend(plan.devices.iter().map(|(k, _)| ("devices", k.to_bytes())));
    for r in &plan.audit {
        keys.push(("audit", r.seq.to_be_bytes().to_vec()));
        keys.push(("audit_idx", audit_idx_key(&r.event.license_id, r.seq)));
    }
    keys
}

/// The index entry of audit record `seq` under its license.
fn audit_idx_key(license_id: &str, seq: u64) -> Vec<u8> {
    [license_id.as_bytes(), b"\0", &seq.to_be_bytes()].concat()
}

/// Opens a database that was just closed in this process (tests). sled's own background threads
/// release its file lock shortly after the last handle is dropped, so on a loaded machine the
/// first attempt can find it still held (`WouldBlock`); a new process never meets this.
#[cfg(test)]
pub(crate) fn reopen(dir: &Path, cache_bytes: u64) -> SledStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match SledStore::open(dir, cache_bytes) {
            Ok(s) => return s,
            Err(StoreError::InUse { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("reopen {}: {e}", dir.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::license::Status;
    use crate::store::AuditEvent;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn license(id: &str, status: Status) -> License {
        crate::license::sample(id, status)
    }

    fn event(id: &str, action: &str) -> AuditEvent {
        AuditEvent {
            at: t("2026-01-01T00:00:00Z"),
            license_id: id.into(),
            action: action.into(),
            actor: "marketplace".into(),
            detail: serde_json::json!({}),
        }
    }

    #[tokio::test]
    async fn commit_is_atomic_and_durable_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SledStore::open(dir.path(), 1 << 20).unwrap();
            s.apply(Batch {
                licenses: vec![license("a", Status::Active)],
                orders: vec![(OrderKey::Classic("o1".into()), "a".into())],
                audit: vec![event("a", "getLicense")],
                ..Batch::default()
            })
            .unwrap();
            s.flush_async().await.unwrap();
        }
        let s = reopen(dir.path(), 1 << 20);
        assert_eq!(s.license("a").unwrap().unwrap().id, "a");
        assert_eq!(
            s.order(&OrderKey::Classic("o1".into())).unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(
            s.order(&OrderKey::Online("o1".into(), "".into())).unwrap(),
            None
        );
        assert_eq!(s.audit_for("a").unwrap().len(), 1);
        assert_eq!(s.counts().unwrap().active, 1);
    }

    #[test]
    fn status_counts_and_revocations_follow_changes() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path(), 1 << 20).unwrap();
        for (id, st) in [
            ("a", Status::Active),
            ("b", Status::Active),
            ("a", Status::Frozen),
        ] {
            s.apply(Batch {
                licenses: vec![license(id, st)],
                ..Batch::default()
            })
            .unwrap();
        }
        assert_eq!(
            s.counts().unwrap(),
            StatusCounts {
                active: 1,
                frozen: 1,
                released: 0
            }
        );
        s.apply(Batch {
            licenses: vec![license("a", Status::Released)],
            ..Batch::default()
        })
        .unwrap();
        assert_eq!(s.revoked().unwrap(), (1, vec!["a".to_string()]));
        s.apply(Batch {
            licenses: vec![license("a", Status::Released)],
            revocations: vec![("b#c2FsdA".into(), t("2026-01-01T00:00:00Z"))],
            ..Batch::default()
        })
        .unwrap();
        assert_eq!(
            s.revoked().unwrap(),
            (2, vec!["a".to_string(), "b#c2FsdA".to_string()]),
            "a repeated release adds nothing; a new binding entry moves the sequence"
        );
        assert_eq!(s.counts().unwrap().released, 1);
    }

    #[test]
    fn counters_follow_changes_and_are_rebuilt_for_an_older_database() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path(), 1 << 20).unwrap();
        let mut a = license("a", Status::Active);
        a.edition = Some("Pro".into());
        let b = license("b", Status::Active);
        s.apply(Batch {
            licenses: vec![a.clone(), b.clone()],
            stats: vec![("act:2026-01-01".into(), 1)],
            ..Batch::default()
        })
        .unwrap();
        let day = crate::store::day_of(a.exp);
        let grp = |e: &str| format!("grp:{}\u{1f}{e}", a.product);
        assert_eq!(
            s.stats("").unwrap(),
            vec![
                ("act:2026-01-01".to_string(), 1),
                (format!("exp:{day}"), 2),
                (grp(""), 1),
                (grp("Pro"), 1),
            ]
        );
        // Renewed a year on and released: the counts move and empty ones go.
        a.exp = a.exp.add_secs(365 * client_verifier::DAY);
        s.apply(Batch {
            licenses: vec![a.clone(), license("b", Status::Released)],
            ..Batch::default()
        })
        .unwrap();
        let later = crate::store::day_of(a.exp);
        assert_eq!(s.stats("exp:").unwrap(), vec![(format!("exp:{later}"), 1)]);
        assert_eq!(s.stats("grp:").unwrap(), vec![(grp("Pro"), 1)]);
        // Saved at close, loaded at open.
        let all = s.stats("").unwrap();
        drop(s);
        let s = reopen(dir.path(), 1 << 20);
        assert_eq!(s.stats("").unwrap(), all);
        drop(s);
        {
            // What an older licd's crash leaves: no mark, no checkpoint, and saved counters that
            // may be stale.
            let raw = loop {
                match sled::Config::new().path(dir.path()).open() {
                    Ok(db) => break db,
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            };
            let meta = raw.open_tree("meta").unwrap();
            meta.remove(STATS_CLEAN).unwrap();
            meta.remove(COUNTERS_THROUGH).unwrap();
            meta.insert(format!("{STAT_PREFIX}grp:stale"), encode(&7i64))
                .unwrap();
            raw.flush().unwrap();
        }
        // Counted again from the records: the stale one is gone, the activation day comes from
        // nothing stored here (no seat), so it goes too.
        let s = reopen(dir.path(), 1 << 20);
        assert_eq!(s.stats("grp:").unwrap(), vec![(grp("Pro"), 1)]);
        assert_eq!(s.stats("exp:").unwrap(), vec![(format!("exp:{later}"), 1)]);
        assert_eq!(s.stats("act:").unwrap(), vec![]);
    }

    /// A crash loses no counter and costs no scan: the checkpoint plus the counters the audit
    /// records after it carry, replayed at open; a commit without an audit record checkpoints.
    #[test]
    fn after_a_crash_the_counters_are_the_checkpoint_and_the_records_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path(), 1 << 20).unwrap();
        let day = |i: u32| format!("act:2026-01-{:02}", 1 + i % 28);
        let through = |s: &SledStore| SledStore::get::<u64>(&s.meta, COUNTERS_THROUGH).unwrap();
        // More commits than a checkpoint's worth, so that some are checkpointed and some only
        // carried by their records.
        for i in 0..(FOLD_EVERY as u32 + 300) {
            s.apply(Batch {
                stats: vec![(day(i), 1)],
                audit: vec![event("a", "seat")],
                ..Batch::default()
            })
            .unwrap();
        }
        // A new database has no checkpoint: its first commit writes one, and every
        // FOLD_EVERY-th after it.
        assert_eq!(
            through(&s),
            Some(1 + FOLD_EVERY),
            "checkpointed by the commit that crossed"
        );
        assert_eq!(s.counters.state().since, 299);
        let before = s.stats("").unwrap();
        // A license record the counters do not count: a scan of the records would change them.
        s.licenses
            .insert(
                "not-counted",
                encode(&license("not-counted", Status::Active)),
            )
            .unwrap();
        // What every reader of the log sees is the record, whatever it carries.
        let last = s.audit.last().unwrap().unwrap().1;
        assert!(String::from_utf8_lossy(&last).contains("\"counted\""));
        let chain = s.audit_for("a").unwrap();
        assert_eq!(chain.len(), FOLD_EVERY as usize + 300);
        assert!(s.verify_audit_chain().unwrap().is_ok());
        s.counters
            .discard
            .store(true, std::sync::atomic::Ordering::SeqCst);
        drop(s);
        let s = reopen(dir.path(), 1 << 20);
        assert_eq!(s.stats("").unwrap(), before, "replayed, not counted again");
        assert_eq!(s.counters.state().since, 299);
        // A commit with no record to carry its counters checkpoints in its own transaction.
        s.apply(Batch {
            stats: vec![(day(0), 5)],
            ..Batch::default()
        })
        .unwrap();
        assert_eq!(through(&s), Some(FOLD_EVERY + 300));
        s.counters
            .discard
            .store(true, std::sync::atomic::Ordering::SeqCst);
        drop(s);
        let s = reopen(dir.path(), 1 << 20);
        let first = s.stats(&day(0)).unwrap();
        let was = before.iter().find(|(k, _)| *k == day(0)).unwrap().1;
        assert_eq!(first, vec![(day(0), was + 5)]);
        assert_eq!(s.counters.state().since, 0, "nothing to replay");
    }

    /// The checkpoints older licds left: milestone 2's clean close is taken as it is; the
    /// counter log of the builds between is dropped and the counters counted again.
    #[test]
    fn older_checkpoints_are_converted_or_counted_again() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path(), 1 << 20).unwrap();
        s.apply(Batch {
            licenses: vec![license("a", Status::Active)],
            audit: vec![event("a", "getLicense")],
            ..Batch::default()
        })
        .unwrap();
        let counted = s.stats("").unwrap();
        assert!(!counted.is_empty());
        s.counters
            .discard
            .store(true, std::sync::atomic::Ordering::SeqCst);
        drop(s);
        let rewrite = |f: &dyn Fn(&sled::Db, &Tree)| {
            let raw = loop {
                match sled::Config::new().path(dir.path()).open() {
                    Ok(db) => break db,
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            };
            let meta = raw.open_tree("meta").unwrap();
            meta.remove(COUNTERS_THROUGH).unwrap();
            f(&raw, &meta);
            raw.flush().unwrap();
        };
        // Milestone 2's clean close: its `stat:` entries are believed, not counted again.
        rewrite(&|_, meta| {
            meta.insert(STATS_CLEAN, &[][..]).unwrap();
            meta.insert(format!("{STAT_PREFIX}grp:believed"), encode(&3i64))
                .unwrap();
        });
        let s = reopen(dir.path(), 1 << 20);
        assert_eq!(
            s.stats("grp:believed").unwrap(),
            vec![("grp:believed".into(), 3)]
        );
        assert_eq!(
            SledStore::get::<u64>(&s.meta, COUNTERS_THROUGH).unwrap(),
            Some(1)
        );
        assert!(!s.meta.contains_key(STATS_CLEAN).unwrap());
        s.counters
            .discard
            .store(true, std::sync::atomic::Ordering::SeqCst);
        drop(s);
        // A counter log: dropped with its checkpoint, and the counters counted from the records.
        rewrite(&|raw, meta| {
            meta.insert(COUNTERS_AT_LOG, encode(&7u64)).unwrap();
            raw.open_tree("counter_log")
                .unwrap()
                .insert(8u64.to_be_bytes(), &b"{}"[..])
                .unwrap();
        });
        let s = reopen(dir.path(), 1 << 20);
        assert_eq!(s.stats("").unwrap(), counted);
        assert!(!s.db.tree_names().iter().any(|n| &n[..] == b"counter_log"));
        assert!(!s.meta.contains_key(COUNTERS_AT_LOG).unwrap());
    }

    #[test]
    fn audit_chain_detects_a_rewritten_record() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path(), 1 << 20).unwrap();
        for action in ["getLicense", "expireLicense", "refreshLicense"] {
            s.apply(Batch {
                audit: vec![event("a", action)],
                ..Batch::default()
            })
            .unwrap();
        }
        assert_eq!(s.verify_audit_chain().unwrap(), Ok(3));
        let history = s.audit_for("a").unwrap();
        assert_eq!(history[1].prev, history[0].hash);
        // Rewrite history: change the action of record 2, keeping its stored hash.
        let mut forged = history[1].clone();
        forged.event.action = "releaseLicense".into();
        s.audit.insert(2u64.to_be_bytes(), encode(&forged)).unwrap();
        assert_eq!(s.verify_audit_chain().unwrap(), Err(2));
    }

    #[test]
    fn tracking_records_every_key_a_commit_or_nonce_writes() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path(), 1 << 20).unwrap();
        s.apply(Batch {
            audit: vec![event("a", "getLicense")],
            ..Batch::default()
        })
        .unwrap();
        assert!(s.changed_keys().is_empty(), "off until turned on");
        s.track_changes(true);
        s.apply(Batch {
            licenses: vec![license("a", Status::Released)],
            audit: vec![event("a", "releaseLicense")],
            ..Batch::default()
        })
        .unwrap();
        s.remember_nonce("n1", t("2026-01-01T00:02:00Z")).unwrap();
        let mut keys = s.changed_keys();
        keys.sort();
        let has = |c: &str, k: &[u8]| keys.iter().any(|(n, key)| *n == c && key == k);
        assert!(has("licenses", b"a"));
        assert!(has("revoked", b"a"));
        assert!(
            has("audit", &2u64.to_be_bytes()),
            "the seq this commit used"
        );
        assert!(has(
            "audit_idx",
            &[&b"a\0"[..], &2u64.to_be_bytes()].concat()
        ));
        assert!(has("meta", HEAD) && has("meta", COUNTS));
        assert!(has("nonces", b"n1"));
        assert!(
            !has("audit", &1u64.to_be_bytes()),
            "written before tracking began"
        );
        for (c, k) in &keys {
            assert!(
                s.get_raw(c, k).unwrap().is_some() || *c == "meta",
                "{c} {k:?}"
            );
        }
        assert!(s.changed_keys().is_empty(), "taken and cleared");
        assert_eq!(s.prune_nonces(t("2026-01-01T00:05:00Z")).unwrap(), 1);
        assert_eq!(s.changed_keys(), vec![("nonces", b"n1".to_vec())]);
        s.track_changes(false);
        s.remember_nonce("n2", t("2026-01-01T00:02:00Z")).unwrap();
        assert!(s.changed_keys().is_empty());
    }

    /// A round of the outbox reads the jobs it runs: 100,000 dead jobs waiting for an operator
    /// are neither in the due index nor read.
    #[test]
    fn due_jobs_read_only_the_due_ones_however_many_are_dead() {
        use crate::job::Task;
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path(), 64 << 20).unwrap();
        let now = t("2026-01-01T00:00:00Z");
        let job = |id: String, at: Timestamp, dead: bool| {
            let mut j = Job::new(
                id,
                "inst",
                Task::Upload {
                    event_id: "e".into(),
                    token: "t".into(),
                },
                at,
            );
            j.dead = dead;
            j
        };
        for chunk in 0..10 {
            let jobs = (0..10_000)
                .map(|i| job(format!("dead-{chunk}-{i:05}"), now, true))
                .collect();
            s.apply(Batch {
                jobs,
                ..Batch::default()
            })
            .unwrap();
        }
        let mut live: Vec<Job> = (0..10)
            .map(|i| job(format!("due-{i}"), now.add_secs(-i), false))
            .collect();
        live.push(job("later".into(), now.add_secs(60), false));
        s.apply(Batch {
            jobs: live,
            ..Batch::default()
        })
        .unwrap();
        assert_eq!(
            s.due.lock().unwrap().len(),
            11,
            "the index holds the pending jobs only"
        );
        let due = s.due_jobs(now, 100).unwrap();
        assert_eq!(
            due.jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            [
                "due-9", "due-8", "due-7", "due-6", "due-5", "due-4", "due-3", "due-2", "due-1",
                "due-0"
            ],
            "earliest first"
        );
        assert_eq!(due.next, Some(now.add_secs(60)));
        // A limit cuts the round short and says the rest are due now.
        let first = s.due_jobs(now, 3).unwrap();
        assert_eq!(first.jobs.len(), 3);
        assert_eq!(first.next, Some(now.add_secs(-6)));
        // Finished, dead or rescheduled jobs leave or move; an index built at open agrees.
        s.apply(Batch {
            jobs: vec![
                job("due-9".into(), now, true),
                job("due-8".into(), now.add_secs(120), false),
            ],
            jobs_done: vec!["due-7".into()],
            ..Batch::default()
        })
        .unwrap();
        let ids = |d: &super::super::Due| d.jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>();
        let before = ids(&s.due_jobs(now, 100).unwrap());
        assert_eq!(before.len(), 7);
        drop(s);
        let s = reopen(dir.path(), 64 << 20);
        assert_eq!(ids(&s.due_jobs(now, 100).unwrap()), before);
        assert_eq!(s.due.lock().unwrap().len(), 9);
    }

    #[test]
    fn a_nonce_is_accepted_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path(), 1 << 20).unwrap();
        let exp = t("2026-01-01T00:02:00Z");
        assert!(s.remember_nonce("n1", exp).unwrap());
        assert!(!s.remember_nonce("n1", exp).unwrap());
        assert_eq!(s.prune_nonces(t("2026-01-01T00:05:00Z")).unwrap(), 1);
        assert!(s.remember_nonce("n1", exp).unwrap());
    }
}
