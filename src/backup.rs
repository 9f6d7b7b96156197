//! Backups: the single-file snapshot format, writing one from a live store, checking one, and
//! restoring one into an empty data directory.
//!
//! Layout (all integers big-endian):
//!
//! ```text
//! header   "LICDBAK\n"  u32 version (2)  i64 created (unix seconds)
//! record*  0x01  u8 collection  u32 key length  key  u32 value length  value
//! changes  0x03
//! change*  0x01 record (the key's value at the end) | 0x02  u8 collection  u32 key length  key
//! trailer  0x00  u64 record count (records, changes)  SHA-256 over every byte before it
//! ```
//!
//! The records are the store's raw key/value bytes, collection by collection ([`COLLECTIONS`],
//! keys ascending), streamed **without** holding writes off; the store tracks every key written
//! meanwhile ([`Snapshot::track_changes`]). The changes section then re-reads each of those keys:
//! its value (`0x01`) or its removal (`0x02`, a tombstone). The last round of it runs with the
//! service's write lock held, briefly (milliseconds: only the keys changed since the previous
//! round, read into memory, the lock released before they are sent). A key nobody wrote during
//! the stream was streamed as it is at the end; a key somebody wrote is re-read at the end; so
//! the backup is the store exactly as it was when the lock was held, with no commit half in it.
//! Reading applies records in file order: a later record of a key replaces an earlier one, a
//! tombstone removes it.
//!
//! What a backup does not carry: the signing keys (`keys/`), the marketplace access key and
//! the admin token. They are secrets, and belong to an installation rather than to its data:
//! keep the key directory safe separately; a restored daemon generates a new admin token.
//!
//! Checking a file ([`check_file`]) verifies the header, every record, the record count, the
//! checksum and the audit log's hash chain over the state the file describes; restoring builds
//! the database in a temporary sibling directory, verifies the checksum while reading and the
//! audit chain from the built database, and renames it into place only if all of it holds, so
//! a failed restore leaves nothing behind.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::store::{AuditChain, SledStore, Snapshot, StoreError};

/// The first bytes of every backup.
pub const MAGIC: &[u8; 8] = b"LICDBAK\n";
/// The format version this build writes and reads.
pub const VERSION: u32 = 2;
/// The collections a backup carries; a record names its collection by index here.
pub const COLLECTIONS: [&str; 12] = [
    "licenses",
    "orders",
    "applied",
    "devices",
    "audit",
    "audit_idx",
    "meta",
    "revoked",
    "activations",
    "outbox",
    "nonces",
    "leases",
];
const LICENSES: u8 = 0;
const AUDIT: u8 = 4;
const END: u8 = 0x00;
const RECORD: u8 = 0x01;
const TOMBSTONE: u8 = 0x02;
const CHANGES: u8 = 0x03;
// Bounds a corrupted length so it cannot make the reader allocate gigabytes.
const MAX_KEY: u32 = 1 << 16;
const MAX_VALUE: u32 = 1 << 26;
/// Rounds of changes re-read without the lock before the last one, which holds it: each round
/// takes only the keys written since the previous one, so the last is short.
const UNLOCKED_ROUNDS: usize = 3;
/// Below this many changed keys, the next round is the last (under the lock).
const SMALL_ROUND: usize = 1_000;

/// One backup at a time per process: the store's change tracking is a single set.
static TAKING: Mutex<()> = Mutex::new(());

/// Why a backup could not be taken, checked or restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The file is not a complete, intact licd backup.
    #[error("not a valid licd backup: {0}")]
    Invalid(String),
    /// The checksum holds but the audit log's chain does not: the history was rewritten
    /// before the backup was taken.
    #[error("the audit log's hash chain is broken at record {0}: its history was rewritten")]
    ChainBroken(u64),
    /// The restore target has something in it.
    #[error(
        "{0} is not empty: restore only into an absent or empty data directory (stop licd and move the old one aside)"
    )]
    NotEmpty(PathBuf),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a backup holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// When it was taken (unix seconds).
    pub created: i64,
    /// Records in the file, changes included (a key written during the backup may be there
    /// twice).
    pub records: u64,
    /// Licenses.
    pub licenses: u64,
    /// Audit events (their chain checked).
    pub audit_events: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// What taking a backup did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Taken {
    /// Records written, changes included.
    pub records: u64,
    /// Of which changes: keys written while the records streamed, re-read.
    pub changes: u64,
    /// Size of the backup in bytes.
    pub bytes: u64,
    /// How long writes were held off, in total.
    pub held: Duration,
}

/// Writes a backup and hashes every byte on the way.
struct Hashing<W> {
    out: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.hash.update(b);
        self.bytes += b.len() as u64;
        self.out.write_all(b)
    }
}

fn collection_id(name: &str) -> io::Result<u8> {
    COLLECTIONS
        .iter()
        .position(|c| *c == name)
        .map(|i| i as u8)
        .ok_or_else(|| io::Error::other(format!("collection {name:?} has no backup id")))
}

/// Appends one record (`Some` value) or tombstone (`None`) to `out`.
fn encode_record(
    out: &mut Vec<u8>,
    name: &str,
    key: &[u8],
    value: Option<&[u8]>,
) -> io::Result<()> {
    let id = collection_id(name)?;
    if key.len() > MAX_KEY as usize || value.is_some_and(|v| v.len() > MAX_VALUE as usize) {
        return Err(io::Error::other(format!(
            "a record of {name} is too large for a backup"
        )));
    }
    out.push(if value.is_some() { RECORD } else { TOMBSTONE });
    out.push(id);
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    if let Some(v) = value {
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v);
    }
    Ok(())
}

/// Turns change tracking off however the backup ends.
struct Tracking<'a>(&'a dyn Snapshot);

impl Drop for Tracking<'_> {
    fn drop(&mut self) {
        self.0.track_changes(false);
    }
}

/// Streams a consistent backup of `store`, taken at `created` (unix seconds), into `out`.
/// `hold_writes` holds every commit off until the guard it returns is dropped (the store's
/// write lock): it is held twice, briefly, to start tracking changes and to re-read the keys
/// changed in between; never while `out` is written to, so a slow reader holds no one up. A
/// store that cannot track changes is held for the whole stream instead.
pub fn write_snapshot<W: Write, G>(
    store: &dyn Snapshot,
    out: W,
    created: i64,
    mut hold_writes: impl FnMut() -> G,
) -> Result<Taken, BackupError> {
    let _one_at_a_time = TAKING.lock().unwrap_or_else(|e| e.into_inner());
    let mut w = Hashing {
        out: BufWriter::with_capacity(1 << 16, out),
        hash: Sha256::new(),
        bytes: 0,
    };
    let mut taken = Taken::default();
    let fail = |e: io::Error| StoreError::Db(format!("writing the backup: {e}"));

    let whole = (!store.tracks_changes()).then(&mut hold_writes);
    let held_from = Instant::now();
    let _tracking = if whole.is_none() {
        let _held = hold_writes();
        let t = Instant::now();
        store.track_changes(true);
        let tracking = Tracking(store);
        taken.held += t.elapsed();
        Some(tracking)
    } else {
        None
    };

    w.put(MAGIC).map_err(fail)?;
    w.put(&VERSION.to_be_bytes()).map_err(fail)?;
    w.put(&created.to_be_bytes()).map_err(fail)?;
    let mut scratch = Vec::new();
    taken.records = store.export(&mut |name, key, value| {
        scratch.clear();
        encode_record(&mut scratch, name, key, Some(value))?;
        w.put(&scratch)
    })?;
    w.put(&[CHANGES]).map_err(fail)?;

    let mut changes = 0u64;
    let mut put_changes = |w: &mut Hashing<_>, buf: &[u8], n: u64| -> Result<(), BackupError> {
        w.put(buf).map_err(fail)?;
        changes += n;
        Ok(())
    };
    if whole.is_none() {
        // Rounds without the lock: whatever they read that changes again is taken again.
        let mut pending = store.changed_keys();
        for _ in 0..UNLOCKED_ROUNDS {
            if pending.len() < SMALL_ROUND {
                break;
            }
            // Straight to the client, record by record: this set can be large.
            for (name, key) in &pending {
                scratch.clear();
                let value = store.get_raw(name, key)?;
                encode_record(&mut scratch, name, key, value.as_deref()).map_err(fail)?;
                put_changes(&mut w, &scratch, 1)?;
            }
            pending = store.changed_keys();
        }
        // The last round, under the lock: into memory, then let go before sending.
        let (buf, n) = {
            let _held = hold_writes();
            let t = Instant::now();
            pending.extend(store.changed_keys());
            store.track_changes(false);
            pending.sort_unstable();
            pending.dedup();
            let read = read_changes(store, &pending);
            taken.held += t.elapsed();
            read?
        };
        put_changes(&mut w, &buf, n)?;
    }
    if whole.is_some() {
        taken.held = held_from.elapsed();
    }
    drop(whole);

    taken.records += changes;
    taken.changes = changes;
    w.put(&[END]).map_err(fail)?;
    w.put(&taken.records.to_be_bytes()).map_err(fail)?;
    let digest = w.hash.clone().finalize();
    w.out.write_all(&digest).map_err(fail)?;
    w.out.flush().map_err(fail)?;
    taken.bytes = w.bytes + digest.len() as u64;
    Ok(taken)
}

/// The current value (or absence) of each key, as change records; and how many.
fn read_changes(
    store: &dyn Snapshot,
    keys: &[(&'static str, Vec<u8>)],
) -> Result<(Vec<u8>, u64), BackupError> {
    let mut buf = Vec::new();
    for (name, key) in keys {
        let value = store.get_raw(name, key)?;
        encode_record(&mut buf, name, key, value.as_deref())
            .map_err(|e| StoreError::Db(format!("writing the backup: {e}")))?;
    }
    Ok((buf, keys.len() as u64))
}

/// Reads a backup, hashing every byte but the checksum itself.
struct Reading<R> {
    inp: R,
    hash: Sha256,
    at: u64,
}

impl<R: Read> Reading<R> {
    fn take(&mut self, buf: &mut [u8], what: &str) -> Result<(), BackupError> {
        self.inp.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                BackupError::Invalid(format!(
                    "the file ends at byte {} inside {what}: it is truncated (an interrupted copy?), or a corrupted length points past its end",
                    self.at
                ))
            } else {
                BackupError::Invalid(format!("reading {what} at byte {}: {e}", self.at))
            }
        })?;
        self.hash.update(&*buf);
        self.at += buf.len() as u64;
        Ok(())
    }

    fn byte(&mut self, what: &str) -> Result<u8, BackupError> {
        let mut b = [0u8; 1];
        self.take(&mut b, what)?;
        Ok(b[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, BackupError> {
        let mut b = [0u8; 4];
        self.take(&mut b, what)?;
        Ok(u32::from_be_bytes(b))
    }

    fn u64(&mut self, what: &str) -> Result<u64, BackupError> {
        let mut b = [0u8; 8];
        self.take(&mut b, what)?;
        Ok(u64::from_be_bytes(b))
    }

    fn bytes(&mut self, len: u32, max: u32, what: &str) -> Result<Vec<u8>, BackupError> {
        if len > max {
            return Err(corrupted(format!(
                "{what} at byte {} claims {len} bytes",
                self.at
            )));
        }
        let mut v = vec![0u8; len as usize];
        self.take(&mut v, what)?;
        Ok(v)
    }
}

fn corrupted(detail: String) -> BackupError {
    BackupError::Invalid(format!("{detail}: the file is corrupted"))
}

/// One record as read: where it is in the file, and what it says.
#[derive(Debug)]
pub struct Record<'a> {
    /// Whether it is in the changes section (applied after every streamed record).
    pub change: bool,
    /// The collection's index in [`COLLECTIONS`].
    pub collection: u8,
    /// The key.
    pub key: &'a [u8],
    /// The value, or `None` for a tombstone (the key was removed).
    pub value: Option<&'a [u8]>,
}

/// Reads a whole backup from `inp` and hands each record to `visit` in file order: applying
/// them in that order (later ones replace, tombstones remove) gives the state the backup
/// holds. Fails unless the header, every record, their order, the record count and the
/// checksum hold; a record is handed on before the end is checked, so a caller that writes
/// them must throw its work away on failure ([`restore`] does). The returned summary counts
/// records and bytes only; [`check`] counts licenses and checks the audit chain.
pub fn read_snapshot<R: Read>(
    inp: R,
    mut visit: impl FnMut(Record<'_>) -> Result<(), BackupError>,
) -> Result<Summary, BackupError> {
    let mut r = Reading {
        inp: BufReader::with_capacity(1 << 16, inp),
        hash: Sha256::new(),
        at: 0,
    };
    let mut magic = [0u8; 8];
    r.take(&mut magic, "the header")?;
    if &magic != MAGIC {
        return Err(BackupError::Invalid(
            "it does not start with a licd backup header (made by `licd backup`?)".into(),
        ));
    }
    let version = r.u32("the header")?;
    if version == 1 {
        return Err(BackupError::Invalid(
            "format version 1 was written only by development builds, which held writes for the whole backup; this licd reads version 2: take a new backup".into(),
        ));
    }
    if version != VERSION {
        return Err(BackupError::Invalid(format!(
            "format version {version}; this licd reads version {VERSION} (restore with the licd that took it, or a newer one)"
        )));
    }
    let created = r.u64("the header")? as i64;
    let mut summary = Summary {
        created,
        ..Summary::default()
    };
    let mut in_changes = false;
    // The streamed records come collection by collection, keys ascending.
    let mut last: Option<(u8, Vec<u8>)> = None;
    loop {
        let at = r.at;
        let tag = r.byte("a record tag")?;
        match tag {
            END if in_changes => break,
            CHANGES if !in_changes => {
                in_changes = true;
                continue;
            }
            RECORD => {}
            TOMBSTONE if in_changes => {}
            END => {
                return Err(corrupted(format!(
                    "the changes section is missing at byte {at}"
                )));
            }
            tag => {
                return Err(corrupted(format!(
                    "unexpected record tag {tag:#04x} at byte {at}"
                )));
            }
        }
        let id = r.byte("a record")?;
        if COLLECTIONS.get(id as usize).is_none() {
            return Err(corrupted(format!(
                "unknown collection {id} at byte {}",
                r.at - 1
            )));
        }
        let klen = r.u32("a record")?;
        let key = r.bytes(klen, MAX_KEY, "a record key")?;
        let value = if tag == RECORD {
            let vlen = r.u32("a record")?;
            Some(r.bytes(vlen, MAX_VALUE, "a record value")?)
        } else {
            None
        };
        if !in_changes
            && let Some((lid, lkey)) = &last
            && (*lid, lkey.as_slice()) >= (id, key.as_slice())
        {
            return Err(corrupted(format!("a record out of order at byte {at}")));
        }
        summary.records += 1;
        visit(Record {
            change: in_changes,
            collection: id,
            key: &key,
            value: value.as_deref(),
        })?;
        if !in_changes {
            last = Some((id, key));
        }
    }
    let count = r.u64("the trailer")?;
    let computed = r.hash.clone().finalize();
    let mut stored = [0u8; 32];
    r.inp.read_exact(&mut stored).map_err(|_| {
        BackupError::Invalid(format!(
            "the file ends at byte {} inside the checksum: it is truncated",
            r.at
        ))
    })?;
    if stored[..] != computed[..] {
        return Err(corrupted("the SHA-256 checksum does not match".into()));
    }
    if count != summary.records {
        return Err(corrupted(format!(
            "the trailer counts {count} records, the file holds {}",
            summary.records
        )));
    }
    let mut rest = [0u8; 1];
    if r.inp.read(&mut rest).map_err(io_at(Path::new("backup")))? != 0 {
        return Err(BackupError::Invalid(
            "bytes follow the trailer: the file was appended to".into(),
        ));
    }
    summary.bytes = r.at + 32;
    Ok(summary)
}

/// Counts the licenses and checks the audit chain of the state a backup holds, fed that state
/// collection by collection, keys ascending.
#[derive(Default)]
struct Tally {
    licenses: u64,
    audit_events: u64,
    chain: AuditChain,
    broken: Option<u64>,
}

impl Tally {
    fn see(&mut self, id: u8, key: &[u8], value: &[u8]) {
        match id {
            LICENSES => self.licenses += 1,
            AUDIT => {
                self.audit_events += 1;
                if self.broken.is_none() {
                    match self.chain.push(key, value) {
                        Ok(Ok(())) => {}
                        Ok(Err(seq)) => self.broken = Some(seq),
                        Err(_) => self.broken = Some(self.chain.len() + 1),
                    }
                }
            }
            _ => {}
        }
    }
}

type Overrides = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Merges the streamed records (ascending) of the collections [`Tally`] looks at with their
/// changes, so it sees each key once, in order, with its final value.
struct Merge {
    changed: [Overrides; 2],
    tally: Tally,
}

impl Merge {
    fn slot(id: u8) -> Option<usize> {
        match id {
            LICENSES => Some(0),
            AUDIT => Some(1),
            _ => None,
        }
    }

    fn streamed(&mut self, id: u8, key: &[u8], value: &[u8]) {
        let Some(slot) = Self::slot(id) else { return };
        // Changed keys before this one, that the stream did not carry.
        while let Some(entry) = self.changed[slot].first_entry() {
            if entry.key().as_slice() >= key {
                break;
            }
            let (k, v) = entry.remove_entry();
            if let Some(v) = v {
                self.tally.see(id, &k, &v);
            }
        }
        match self.changed[slot].remove(key) {
            Some(Some(v)) => self.tally.see(id, key, &v),
            Some(None) => {}
            None => self.tally.see(id, key, value),
        }
    }

    /// After the last streamed record of collection `id`: the changed keys past it.
    fn finish(&mut self, id: u8) {
        let Some(slot) = Self::slot(id) else { return };
        for (k, v) in std::mem::take(&mut self.changed[slot]) {
            if let Some(v) = v {
                self.tally.see(id, &k, &v);
            }
        }
    }

    /// Reads the backup `inp`, feeding the merge: the summary of the state it holds, where
    /// the audit chain broke if it did, and the license and audit changes the file carries.
    fn run<R: Read>(
        mut self,
        inp: R,
    ) -> Result<(Summary, Option<u64>, [Overrides; 2]), BackupError> {
        let mut changes: [Overrides; 2] = Default::default();
        let mut current = 0u8;
        let mut finished = false;
        let mut summary = read_snapshot(inp, |rec| {
            if rec.change {
                if !finished {
                    (current..COLLECTIONS.len() as u8).for_each(|id| self.finish(id));
                    finished = true;
                }
                if let Some(slot) = Self::slot(rec.collection) {
                    changes[slot].insert(rec.key.to_vec(), rec.value.map(<[u8]>::to_vec));
                }
            } else {
                while current < rec.collection {
                    self.finish(current);
                    current += 1;
                }
                self.streamed(rec.collection, rec.key, rec.value.unwrap_or_default());
            }
            Ok(())
        })?;
        if !finished {
            (current..COLLECTIONS.len() as u8).for_each(|id| self.finish(id));
        }
        summary.licenses = self.tally.licenses;
        summary.audit_events = self.tally.audit_events;
        Ok((summary, self.tally.broken, changes))
    }
}

/// Checks a whole backup, read from what `open` returns (once, or twice if licenses or audit
/// events changed while it was taken), without writing anything: the structure and checksum,
/// then the audit chain and the counts of the state it holds. A broken chain is reported only
/// if the checksum holds: a flipped byte is corruption, not a rewritten history.
pub fn check<R: Read>(mut open: impl FnMut() -> io::Result<R>) -> Result<Summary, BackupError> {
    let first = Merge {
        changed: Default::default(),
        tally: Tally::default(),
    };
    let inp = open().map_err(io_at(Path::new("backup")))?;
    // The first pass assumes no license or audit record changed; if some did, the second
    // merges them in.
    let (mut summary, mut broken, changed) = first.run(inp)?;
    if changed.iter().any(|c| !c.is_empty()) {
        let second = Merge {
            changed,
            tally: Tally::default(),
        };
        let inp = open().map_err(io_at(Path::new("backup")))?;
        (summary, broken, _) = second.run(inp)?;
    }
    match broken {
        Some(seq) => Err(BackupError::ChainBroken(seq)),
        None => Ok(summary),
    }
}

/// Checks the backup file at `path` without writing anything.
pub fn check_file(path: &Path) -> Result<Summary, BackupError> {
    check(|| File::open(path)).map_err(|e| match e {
        BackupError::Io { source, .. } => BackupError::Io {
            path: path.to_path_buf(),
            source,
        },
        e => e,
    })
}

/// Restores the backup `from` into `data_dir`, which must be absent or empty and not in use.
/// The database is built in a temporary directory next to `data_dir` while the file is read;
/// it is renamed into place (mode 0700) only once the file's structure and checksum, and the
/// built database's audit chain, hold; otherwise it is deleted.
pub fn restore(from: &Path, data_dir: &Path) -> Result<Summary, BackupError> {
    if let Ok(mut entries) = std::fs::read_dir(data_dir) {
        if entries.next().is_some() {
            return Err(BackupError::NotEmpty(data_dir.to_path_buf()));
        }
    } else if data_dir.exists() {
        return Err(BackupError::NotEmpty(data_dir.to_path_buf()));
    }
    let name = data_dir
        .file_name()
        .ok_or_else(|| {
            BackupError::Invalid(format!("{}: not a directory name", data_dir.display()))
        })?
        .to_string_lossy()
        .into_owned();
    let parent = match data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io_at(&parent))?;
    let tmp = parent.join(format!(".{name}.restoring-{}", std::process::id()));
    let built = build(from, &tmp);
    let placed = built.and_then(|summary| {
        if data_dir.exists() {
            std::fs::remove_dir(data_dir).map_err(io_at(data_dir))?;
        }
        std::fs::rename(&tmp, data_dir).map_err(io_at(data_dir))?;
        File::open(&parent)
            .and_then(|d| d.sync_all())
            .map_err(io_at(&parent))?;
        Ok(summary)
    });
    if placed.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    placed
}

/// Builds the database of backup `from` in the new directory `dir`.
fn build(from: &Path, dir: &Path) -> Result<Summary, BackupError> {
    create_private_dir(dir)?;
    let store = SledStore::open(&dir.join("db"), 64 << 20)?;
    let f = File::open(from).map_err(io_at(from))?;
    let mut summary = read_snapshot(f, |rec| {
        let name = COLLECTIONS[rec.collection as usize];
        match rec.value {
            Some(value) => store.import(name, rec.key, value)?,
            None => store.import_removal(name, rec.key)?,
        }
        Ok(())
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(io_at(dir))?;
    runtime.block_on(crate::store::Store::flush(&store))?;
    // The same record may be in the file twice (streamed, then changed): the chain and the
    // counts are those of the database as built.
    summary.audit_events = match store.verify_audit_chain()? {
        Ok(n) => n,
        Err(seq) => return Err(BackupError::ChainBroken(seq)),
    };
    summary.licenses = store.count_of("licenses")?;
    Ok(summary)
}

fn create_private_dir(dir: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    let b = {
        use std::os::unix::fs::DirBuilderExt;
        let mut b = std::fs::DirBuilder::new();
        b.mode(0o700);
        b
    };
    #[cfg(not(unix))]
    let b = std::fs::DirBuilder::new();
    b.create(dir).map_err(io_at(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Job, Task};
    use crate::license::{Status, sample};
    use crate::store::{AuditEvent, Batch};
    use client_verifier::Timestamp;

    fn event(id: &str, action: &str) -> AuditEvent {
        AuditEvent {
            at: Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
            license_id: id.into(),
            action: action.into(),
            actor: "marketplace".into(),
            detail: serde_json::json!({}),
        }
    }

    fn store_with_history(dir: &Path) -> SledStore {
        let s = SledStore::open(&dir.join("src"), 1 << 20).unwrap();
        for (id, action) in [
            ("a", "getLicense"),
            ("b", "getLicense"),
            ("a", "expireLicense"),
        ] {
            s.apply(Batch {
                licenses: vec![sample(id, Status::Active)],
                audit: vec![event(id, action)],
                ..Batch::default()
            })
            .unwrap();
        }
        s
    }

    fn check_bytes(file: &[u8]) -> Result<Summary, BackupError> {
        check(|| Ok(file))
    }

    fn exported(s: &dyn Snapshot) -> Vec<(String, Vec<u8>, Vec<u8>)> {
        let mut all = Vec::new();
        s.export(&mut |c, k, v| {
            all.push((c.to_string(), k.to_vec(), v.to_vec()));
            Ok(())
        })
        .unwrap();
        all
    }

    #[test]
    fn snapshot_round_trips_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let s = store_with_history(dir.path());
        let mut file = Vec::new();
        let written = write_snapshot(&s, &mut file, 1_700_000_000, || ()).unwrap();
        assert_eq!(written.changes, 0, "nothing was written meanwhile");
        assert_eq!(written.bytes, file.len() as u64);
        let mut seen = Vec::new();
        let read = read_snapshot(&file[..], |r| {
            assert!(!r.change);
            seen.push((
                COLLECTIONS[r.collection as usize].to_string(),
                r.key.to_vec(),
                r.value.unwrap().to_vec(),
            ));
            Ok(())
        })
        .unwrap();
        assert_eq!((read.records, read.bytes), (written.records, written.bytes));
        assert_eq!(seen, exported(&s));
        let checked = check_bytes(&file).unwrap();
        assert_eq!((checked.licenses, checked.audit_events), (2, 3));
        assert_eq!(checked.created, 1_700_000_000);
    }

    /// A backup whose checksum is right but whose audit log was rewritten (as someone with
    /// access to the database could do before the backup) is refused.
    #[test]
    fn rewritten_audit_history_is_refused_even_with_a_valid_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let s = store_with_history(dir.path());
        let record = s.audit_for("a").unwrap().remove(1);
        let mut forged = record.clone();
        forged.event.action = "releaseLicense".into();
        s.import(
            "audit",
            &record.seq.to_be_bytes(),
            &serde_json::to_vec(&forged).unwrap(),
        )
        .unwrap();
        let mut file = Vec::new();
        write_snapshot(&s, &mut file, 0, || ()).unwrap();
        let err = check_bytes(&file).unwrap_err();
        assert!(matches!(err, BackupError::ChainBroken(3)), "{err}");
    }

    #[test]
    fn trailing_bytes_and_other_versions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = store_with_history(dir.path());
        let mut file = Vec::new();
        write_snapshot(&s, &mut file, 0, || ()).unwrap();
        let mut longer = file.clone();
        longer.push(0);
        let err = check_bytes(&longer).unwrap_err();
        assert!(err.to_string().contains("appended"), "{err}");
        let mut v3 = file.clone();
        v3[11] = 3;
        let err = check_bytes(&v3).unwrap_err();
        assert!(err.to_string().contains("format version 3"), "{err}");
        let mut v1 = file.clone();
        v1[11] = 1;
        let err = check_bytes(&v1).unwrap_err();
        assert!(err.to_string().contains("take a new backup"), "{err}");
    }

    #[test]
    fn restore_builds_the_database_and_refuses_a_second_time() {
        let dir = tempfile::tempdir().unwrap();
        let s = store_with_history(dir.path());
        let path = dir.path().join("b.backup");
        write_snapshot(&s, File::create(&path).unwrap(), 0, || ()).unwrap();
        let data = dir.path().join("data");
        let summary = restore(&path, &data).unwrap();
        assert_eq!((summary.licenses, summary.audit_events), (2, 3));
        {
            let r = crate::store::reopen(&data.join("db"), 1 << 20);
            assert_eq!(r.verify_audit_chain().unwrap(), Ok(3));
            assert_eq!(r.counts().unwrap().active, 2);
        }
        assert!(matches!(
            restore(&path, &data),
            Err(BackupError::NotEmpty(_))
        ));
    }

    /// Hands what it is given to `out`; on the first write, runs `during` on another thread
    /// and waits for it (a bounded time: it must not wait for the backup to end).
    struct Interrupting<F: FnOnce() + Send + 'static> {
        out: Vec<u8>,
        during: Option<F>,
    }

    impl<F: FnOnce() + Send + 'static> Write for Interrupting<F> {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if let Some(during) = self.during.take() {
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    during();
                    let _ = tx.send(());
                });
                rx.recv_timeout(Duration::from_secs(10))
                    .expect("commits made while the backup streams must not wait for it");
            }
            self.out.extend_from_slice(b);
            Ok(b.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Commits run while the records stream (each under the same write lock the snapshot
    /// takes, as the service's commits do), changing keys already streamed, adding keys and
    /// removing keys: they complete at once, and the restored database equals the live one
    /// afterwards, every collection, byte for byte.
    #[test]
    fn commits_during_the_stream_do_not_wait_and_the_backup_holds_their_result() {
        let dir = tempfile::tempdir().unwrap();
        let s = store_with_history(dir.path());
        let job = |id: &str| {
            Job::new(
                id.into(),
                "a",
                Task::QueryOrder {
                    order: "o".into(),
                    order_line: "l".into(),
                },
                Timestamp::now(),
            )
        };
        s.apply(Batch {
            jobs: vec![job("j1"), job("j2")],
            ..Batch::default()
        })
        .unwrap();
        // Enough nonces (streamed last) that the first write to the sink (the writer buffers
        // 64 kB) comes after the licenses, audit and outbox were streamed; half expired.
        let old = Timestamp::parse_rfc3339("2020-01-01T00:00:00Z").unwrap();
        let later = Timestamp::parse_rfc3339("2099-01-01T00:00:00Z").unwrap();
        for i in 0..4_000 {
            let exp = if i % 2 == 0 { old } else { later };
            assert!(s.remember_nonce(&format!("nonce-{i:05}"), exp).unwrap());
        }
        let writes = std::sync::Arc::new(Mutex::new(()));
        let during = {
            let (s, writes) = (s.clone(), writes.clone());
            move || {
                {
                    let _w = writes.lock().unwrap();
                    s.apply(Batch {
                        // An update of a streamed key, a new license with its audit event.
                        licenses: vec![sample("a", Status::Frozen), sample("c", Status::Active)],
                        audit: vec![event("c", "getLicense")],
                        // A streamed job removed, another updated.
                        jobs_done: vec!["j1".into()],
                        jobs: vec![Job {
                            attempts: 3,
                            ..job("j2")
                        }],
                        ..Batch::default()
                    })
                    .unwrap();
                }
                // Outside the lock, as V2 callbacks and the pruner do.
                assert!(s.remember_nonce("nonce-new", later).unwrap());
                assert_eq!(s.prune_nonces(Timestamp::now()).unwrap(), 2_000);
            }
        };
        let mut sink = Interrupting {
            out: Vec::new(),
            during: Some(during),
        };
        let taken = write_snapshot(&s, &mut sink, 0, || writes.lock().unwrap()).unwrap();
        assert!(sink.during.is_none(), "the commits ran during the stream");
        assert!(taken.changes >= 2_000, "{taken:?}");
        assert!(taken.held < Duration::from_secs(1), "{taken:?}");

        let path = dir.path().join("b.backup");
        std::fs::write(&path, &sink.out).unwrap();
        let checked = check_file(&path).unwrap();
        assert_eq!((checked.licenses, checked.audit_events), (3, 4));
        let data = dir.path().join("data");
        let restored = restore(&path, &data).unwrap();
        assert_eq!((restored.licenses, restored.audit_events), (3, 4));
        let r = crate::store::reopen(&data.join("db"), 1 << 20);
        let (live, back) = (exported(&s), exported(&r));
        assert_eq!(live.len(), back.len());
        for (l, b) in live.iter().zip(&back) {
            assert_eq!(l, b, "{} {:?}", l.0, String::from_utf8_lossy(&l.1));
        }
        assert_eq!(r.license("a").unwrap().unwrap().status, Status::Frozen);
        assert!(r.job("j1").unwrap().is_none());
        assert_eq!(r.counts().unwrap().active, 2);
        // The dashboard's counters too: the checkpoint the backup carries and what its audit
        // records carry after it, not the empty counters of the store the restore built them with.
        assert!(!s.stats("").unwrap().is_empty());
        assert_eq!(r.stats("").unwrap(), s.stats("").unwrap());
    }
}
