//! Backups: the single-file snapshot format, writing one from a store, checking one, and
//! restoring one into an empty data directory.
//!
//! Layout (all integers big-endian):
//!
//! ```text
//! header   "LICDBAK\n"  u32 version (1)  i64 created (unix seconds)
//! record*  0x01  u8 collection  u32 key length  key  u32 value length  value
//! trailer  0x00  u64 record count  SHA-256 over every byte before it
//! ```
//!
//! Records are the store's raw key/value bytes, collection by collection ([`COLLECTIONS`], the
//! audit log in sequence order), so a snapshot is written and read by streaming: the database
//! can be gigabytes and is never held in memory. Consistency is the caller's: the admin route
//! holds the service's write lock while [`write_snapshot`] runs, so no commit is half in it.
//!
//! What a backup does not carry: the signing keys (`keys/`), the marketplace access key and
//! the admin token. They are secrets, and belong to an installation rather than to its data:
//! keep the key directory safe separately; a restored daemon generates a new admin token.
//!
//! Restoring checks the whole file first (header, every record, the record count, the
//! checksum and the audit log's hash chain) and writes nothing unless all of it holds; it then
//! builds the database in a temporary sibling directory and renames it into place, so a failed
//! restore leaves no half-written data directory behind.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::store::{AuditChain, SledStore, Store, StoreError};

/// The first bytes of every backup.
pub const MAGIC: &[u8; 8] = b"LICDBAK\n";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// The collections a version-1 backup carries; a record names its collection by index here.
pub const COLLECTIONS: [&str; 11] = [
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
];
const AUDIT: u8 = 4;
const RECORD: u8 = 0x01;
const END: u8 = 0x00;
// Bounds a corrupted length so it cannot make the reader allocate gigabytes.
const MAX_KEY: u32 = 1 << 16;
const MAX_VALUE: u32 = 1 << 26;

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
    /// Records of every collection.
    pub records: u64,
    /// Licenses.
    pub licenses: u64,
    /// Audit events (their chain checked, when read back).
    pub audit_events: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
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

/// Streams every record of `store` into `out` as a backup taken at `created` (unix seconds).
/// The caller holds writes off for the duration, or the snapshot may not be consistent.
pub fn write_snapshot<W: Write>(
    store: &dyn Store,
    out: W,
    created: i64,
) -> Result<Summary, BackupError> {
    let mut w = Hashing {
        out: BufWriter::with_capacity(1 << 16, out),
        hash: Sha256::new(),
        bytes: 0,
    };
    let mut summary = Summary {
        created,
        ..Summary::default()
    };
    let fail = |e: io::Error| StoreError::Db(format!("writing the backup: {e}"));
    w.put(MAGIC).map_err(fail)?;
    w.put(&VERSION.to_be_bytes()).map_err(fail)?;
    w.put(&created.to_be_bytes()).map_err(fail)?;
    let records = store.export(&mut |name, key, value| {
        let id = COLLECTIONS
            .iter()
            .position(|c| *c == name)
            .ok_or_else(|| io::Error::other(format!("collection {name:?} has no backup id")))?;
        if key.len() > MAX_KEY as usize || value.len() > MAX_VALUE as usize {
            return Err(io::Error::other(format!(
                "a record of {name} is too large for a backup"
            )));
        }
        match name {
            "licenses" => summary.licenses += 1,
            "audit" => summary.audit_events += 1,
            _ => {}
        }
        w.put(&[RECORD, id as u8])?;
        w.put(&(key.len() as u32).to_be_bytes())?;
        w.put(key)?;
        w.put(&(value.len() as u32).to_be_bytes())?;
        w.put(value)
    })?;
    w.put(&[END]).map_err(fail)?;
    w.put(&records.to_be_bytes()).map_err(fail)?;
    let digest = w.hash.clone().finalize();
    w.out.write_all(&digest).map_err(fail)?;
    w.out.flush().map_err(fail)?;
    summary.records = records;
    summary.bytes = w.bytes + digest.len() as u64;
    Ok(summary)
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
                    "the file ends at byte {} inside {what}: it is truncated (an interrupted copy?)",
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

/// Reads a whole backup from `inp` and hands each record to `visit` as (collection, key,
/// value). Fails unless the header, every record, the record count, the checksum and the audit
/// chain all hold; a record is handed on before the end is checked, so a caller that writes
/// them must throw its work away on failure ([`restore`] does).
pub fn read_snapshot<R: Read>(
    inp: R,
    mut visit: impl FnMut(&str, &[u8], &[u8]) -> Result<(), BackupError>,
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
    // A broken chain is reported only if the checksum holds: a flipped byte is corruption,
    // not a rewritten history.
    let mut chain = AuditChain::default();
    let mut chain_broken: Option<u64> = None;
    loop {
        match r.byte("a record tag")? {
            RECORD => {}
            END => break,
            tag => {
                return Err(corrupted(format!(
                    "unknown record tag {tag:#04x} at byte {}",
                    r.at - 1
                )));
            }
        }
        let id = r.byte("a record")?;
        let name = *COLLECTIONS
            .get(id as usize)
            .ok_or_else(|| corrupted(format!("unknown collection {id} at byte {}", r.at - 1)))?;
        let klen = r.u32("a record")?;
        let key = r.bytes(klen, MAX_KEY, "a record key")?;
        let vlen = r.u32("a record")?;
        let value = r.bytes(vlen, MAX_VALUE, "a record value")?;
        summary.records += 1;
        match id {
            0 => summary.licenses += 1,
            AUDIT => {
                summary.audit_events += 1;
                if chain_broken.is_none() {
                    match chain.push(&key, &value) {
                        Ok(Ok(())) => {}
                        Ok(Err(seq)) => chain_broken = Some(seq),
                        Err(_) => chain_broken = Some(chain.len() + 1),
                    }
                }
            }
            _ => {}
        }
        visit(name, &key, &value)?;
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
    if let Some(seq) = chain_broken {
        return Err(BackupError::ChainBroken(seq));
    }
    summary.bytes = r.at + 32;
    Ok(summary)
}

/// Checks the backup file at `path` without writing anything.
pub fn check_file(path: &Path) -> Result<Summary, BackupError> {
    let f = File::open(path).map_err(io_at(path))?;
    read_snapshot(f, |_, _, _| Ok(()))
}

/// Restores the backup `from` into `data_dir`, which must be absent or empty and not in use.
/// The file is checked in full before anything is written; the database is then built in a
/// temporary directory next to `data_dir` and renamed into place (mode 0700).
pub fn restore(from: &Path, data_dir: &Path) -> Result<Summary, BackupError> {
    if let Ok(mut entries) = std::fs::read_dir(data_dir) {
        if entries.next().is_some() {
            return Err(BackupError::NotEmpty(data_dir.to_path_buf()));
        }
    } else if data_dir.exists() {
        return Err(BackupError::NotEmpty(data_dir.to_path_buf()));
    }
    check_file(from)?;

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
    let summary = read_snapshot(f, |name, key, value| {
        store.import(name, key, value).map_err(BackupError::from)
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(io_at(dir))?;
    runtime.block_on(store.flush())?;
    match store.verify_audit_chain()? {
        Ok(n) if n == summary.audit_events => {}
        Ok(n) => {
            return Err(BackupError::Invalid(format!(
                "restored {n} audit events of {}",
                summary.audit_events
            )));
        }
        Err(seq) => return Err(BackupError::ChainBroken(seq)),
    }
    Ok(summary)
}

fn create_private_dir(dir: &Path) -> Result<(), BackupError> {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(io_at(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::license::{Status, sample};
    use crate::store::{AuditEvent, Batch};

    fn store_with_history(dir: &Path) -> SledStore {
        let s = SledStore::open(&dir.join("src"), 1 << 20).unwrap();
        for (id, action) in [
            ("a", "getLicense"),
            ("b", "getLicense"),
            ("a", "expireLicense"),
        ] {
            s.commit(Batch {
                licenses: vec![sample(id, Status::Active)],
                audit: vec![AuditEvent {
                    at: client_verifier::Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
                    license_id: id.into(),
                    action: action.into(),
                    actor: "marketplace".into(),
                    detail: serde_json::json!({}),
                }],
                ..Batch::default()
            })
            .unwrap();
        }
        s
    }

    #[test]
    fn snapshot_round_trips_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let s = store_with_history(dir.path());
        let mut file = Vec::new();
        let written = write_snapshot(&s, &mut file, 1_700_000_000).unwrap();
        assert_eq!((written.licenses, written.audit_events), (2, 3));
        assert_eq!(written.bytes, file.len() as u64);
        let mut seen = Vec::new();
        let read = read_snapshot(&file[..], |c, k, v| {
            seen.push((c.to_string(), k.to_vec(), v.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(read, written);
        let mut exported = Vec::new();
        s.export(&mut |c, k, v| {
            exported.push((c.to_string(), k.to_vec(), v.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, exported);
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
        write_snapshot(&s, &mut file, 0).unwrap();
        let err = read_snapshot(&file[..], |_, _, _| Ok(())).unwrap_err();
        assert!(matches!(err, BackupError::ChainBroken(3)), "{err}");
    }

    #[test]
    fn trailing_bytes_and_other_versions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = store_with_history(dir.path());
        let mut file = Vec::new();
        write_snapshot(&s, &mut file, 0).unwrap();
        let mut longer = file.clone();
        longer.push(0);
        let err = read_snapshot(&longer[..], |_, _, _| Ok(())).unwrap_err();
        assert!(err.to_string().contains("appended"), "{err}");
        let mut v2 = file.clone();
        v2[11] = 2;
        let err = read_snapshot(&v2[..], |_, _, _| Ok(())).unwrap_err();
        assert!(err.to_string().contains("format version 2"), "{err}");
    }

    #[test]
    fn restore_builds_the_database_and_refuses_a_second_time() {
        let dir = tempfile::tempdir().unwrap();
        let s = store_with_history(dir.path());
        let path = dir.path().join("b.backup");
        write_snapshot(&s, File::create(&path).unwrap(), 0).unwrap();
        let data = dir.path().join("data");
        let summary = restore(&path, &data).unwrap();
        assert_eq!(summary.licenses, 2);
        {
            let r = SledStore::open(&data.join("db"), 1 << 20).unwrap();
            assert_eq!(r.verify_audit_chain().unwrap(), Ok(3));
            assert_eq!(r.counts().unwrap().active, 2);
        }
        assert!(matches!(
            restore(&path, &data),
            Err(BackupError::NotEmpty(_))
        ));
    }
}
