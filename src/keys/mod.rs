//! The signing key ring: the ed25519 keys licd signs license tokens with, kept as PASERK
//! `k4.secret` files in the key directory (`--keys-dir`, default `./keys`), and which one signs.
//!
//! ```text
//! keys/
//!   20261123T115500Z-Ab3dEf9h.k4.secret   k4.secret.… on one line, mode 0600
//!   20270301T090000Z-Q7x_kZ2m.k4.secret   a newer key
//!   current                               the file name of the key that signs
//!   README.md                             anything else is left alone
//! ```
//!
//! A key file is named after its creation time (UTC) and the first 8 characters of its kid after
//! `k4.pid.`, so creation order survives copies and backups that lose modification times, and an
//! operator can match a file to the kid a token names. Keys are never deleted: after a rotation
//! the old keys keep being exported, so tokens already in the field keep verifying.
//!
//! Crash safety: every file is written to a hidden `*.tmp` in the same directory (mode 0600 from
//! the start), synced, renamed into place, and the directory is synced. A rotation writes the new
//! key before `current`, so `current` never names a key that is not on disk. What a crash can
//! leave behind is harmless: a `*.tmp` (ignored), a complete key that `current` does not name yet
//! (loaded as an older key), or, during the very first `generate`, a key and no `current` (the
//! newest key signs).
//!
//! Like ssh, the ring refuses private key files that group or others may read or write, and a key
//! directory that others may write to (they could plant a key that would then be exported as
//! trusted). This module owns the key directory only; it knows nothing of tokens or HTTP.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use client_verifier::{Certificate, KeyId, KeyRevocations, Purpose, Root, SecretKey, Timestamp};
use zeroize::Zeroizing;

/// The key directory used when none is configured.
pub const DEFAULT_DIR: &str = "./keys";

/// Ending of a private key file's name.
const KEY_SUFFIX: &str = ".k4.secret";
/// The file naming the key that signs.
const CURRENT: &str = "current";
/// A key's certificate from the root (`licd keys certify`): beside its key file, the key
/// file's name with this ending instead of [`KEY_SUFFIX`].
const CERT_SUFFIX: &str = ".cert";
/// Certificates a key keeps (one per root version it was certified under, the newest last).
const MAX_CERTS_PER_KEY: usize = 8;
/// The root document the ring is in rooted mode under (`licd keys trust-root`).
const ROOT_FILE: &str = "root.json";
/// The root's statement of revoked issuing keys (`licd keys revocations`).
const KEY_REVOCATIONS_FILE: &str = "key-revocations.json";
/// A certificate or root document is a few hundred bytes; a much larger file is not one.
const MAX_PUBLIC_FILE: u64 = 64 * 1024;
const PID_PREFIX: &str = "k4.pid.";
/// How many kid characters a file name carries: enough to tell keys apart at a glance.
const TAG_LEN: usize = 8;
/// `YYYYMMDDTHHMMSSZ`.
const STAMP_LEN: usize = 16;
/// A `k4.secret` PASERK is 96 characters; a much larger file is not a key, so it is not read whole.
const MAX_KEY_FILE: u64 = 1024;
/// `current` holds one file name.
const MAX_CURRENT_FILE: u64 = 256;

/// Why the key ring could not be opened or changed. Every message names the file or directory
/// and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRingError {
    /// The key directory does not exist.
    #[error(
        "{}: key directory does not exist; create it and a first key with `licd keys generate --keys-dir {}`",
        .dir.display(), .dir.display()
    )]
    NoDir {
        /// The directory looked for.
        dir: PathBuf,
    },
    /// The key directory holds no `*.k4.secret` file.
    #[error(
        "{}: no signing key (*.k4.secret) in the key directory; create one with `licd keys generate --keys-dir {}`",
        .dir.display(), .dir.display()
    )]
    NoKeys {
        /// The key directory.
        dir: PathBuf,
    },
    /// `generate` was asked for a directory that already holds keys.
    #[error(
        "{}: already holds signing keys; to sign with a new one, run `licd keys rotate --keys-dir {}`",
        .dir.display(), .dir.display()
    )]
    AlreadyExists {
        /// The key directory.
        dir: PathBuf,
    },
    /// A private key file that group or others may read or write.
    #[error(
        "{}: permissions {mode:04o} are too open; private keys must be readable by their owner only: chmod 600 {}",
        .path.display(), .path.display()
    )]
    PermissionsTooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key directory that others may write to, so they could add or replace keys.
    #[error(
        "{}: permissions {mode:04o} let other users add or replace keys; the key directory must be writable by its owner only: chmod 700 {}",
        .dir.display(), .dir.display()
    )]
    DirTooOpen {
        /// The key directory.
        dir: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file whose content is not a valid key, or not the key its name says.
    #[error(
        "{}: not a valid signing key ({reason}); restore the file from a backup",
        .path.display()
    )]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it, never its content.
        reason: String,
    },
    /// A `*.k4.secret` file whose name does not follow the ring's naming, so its age is unknown.
    #[error(
        "{}: not a key file name licd writes (YYYYMMDDTHHMMSSZ-<8 kid characters>.k4.secret); rename it or move it out of the key directory",
        .path.display()
    )]
    BadFileName {
        /// The file.
        path: PathBuf,
    },
    /// The same key stored twice, which would export it twice.
    #[error(
        "{}: same key as {}; remove one of the two files",
        .path.display(), .other.display()
    )]
    Duplicate {
        /// One copy.
        path: PathBuf,
        /// The other copy.
        other: PathBuf,
    },
    /// `current` names no key file in the directory.
    #[error(
        "{}: names {name:?}, which is not a key file in this directory; write the file name of an existing key into it, or restore that key from a backup",
        .path.display()
    )]
    CurrentMissing {
        /// The `current` file.
        path: PathBuf,
        /// What it names.
        name: String,
    },
    /// `activate` was given a kid that names no key, or several.
    #[error(
        "{}: {} key matches {kid:?}; give a full kid as `licd keys list --keys-dir {}` shows it",
        .dir.display(), if *.matches == 0 { "no" } else { "more than one" }, .dir.display()
    )]
    UnknownKid {
        /// The key directory.
        dir: PathBuf,
        /// What was asked for.
        kid: String,
        /// How many keys matched.
        matches: usize,
    },
    /// In rooted mode, a key that would sign has no valid certificate from the root; or a
    /// certificate or root document is refused.
    #[error("{}: {reason}", .path.display())]
    Uncertified {
        /// The key, certificate or root file.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: cannot {action}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done, e.g. `read the key file`.
        action: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// The operating system's random source failed, so no key could be generated.
    #[error("cannot generate a signing key: the operating system's random source failed: {0}")]
    Random(rand::Error),
}

fn io_error(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> KeyRingError {
    let path = path.to_path_buf();
    move |source| KeyRingError::Io {
        path,
        action,
        source,
    }
}

/// What may be shown about one key: everything but the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key id (`k4.pid.…`) that tokens signed by this key carry in their footer.
    pub kid: KeyId,
    /// The public key as PASERK `k4.public.…`, what licensed software embeds.
    pub public_paserk: String,
    /// When the key was generated, as recorded in its file name.
    pub created: Timestamp,
    /// Whether this key signs new tokens.
    pub current: bool,
    /// The key file.
    pub file: PathBuf,
    /// Its certificate from the root, when it has one (`licd keys certify`).
    pub certificate: Option<Arc<Certificate>>,
}

/// One key as loaded; shared between ring versions so a rotation copies no secret.
struct StoredKey {
    secret: SecretKey,
    /// File name inside the key directory.
    name: String,
    created: Timestamp,
    /// Its certificates, one per line of its `.cert` file, oldest first: a rotation of the root
    /// certifies the key again under the new root before the ring trusts it.
    certs: Vec<Arc<Certificate>>,
}

impl StoredKey {
    /// The certificate to sign with: under `root`, the newest that chains to it; without one,
    /// the newest.
    fn cert_for(&self, root: Option<&Root>) -> Option<Arc<Certificate>> {
        self.certs
            .iter()
            .rev()
            .find(|c| root.is_none_or(|r| r.check(c).is_ok()))
            .cloned()
    }
}

struct Inner {
    dir: PathBuf,
    /// Newest first.
    keys: Vec<Arc<StoredKey>>,
    /// Index into `keys`.
    current: usize,
    /// The root the ring is in rooted mode under: only a key certified by it signs.
    root: Option<Root>,
    /// The root's statement of revoked keys, served with the revocation list.
    key_revocations: Option<KeyRevocations>,
}

/// The signing keys of one key directory, loaded and checked.
///
/// Cloning is one reference-count increment, so request handlers can each hold the ring. A clone
/// is a snapshot: [`KeyRing::rotate`] changes only the ring it is called on (and the disk).
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

impl KeyRing {
    /// Loads every key in `dir` and checks permissions, file names and `current`.
    ///
    /// Files other than `*.k4.secret` and `current` are ignored, including `*.tmp` files left by
    /// an interrupted write. Without a `current` file (a crash during the first `generate`), the
    /// newest key signs.
    pub fn open(dir: impl AsRef<Path>) -> Result<KeyRing, KeyRingError> {
        let dir = dir.as_ref();
        check_dir(dir)?;
        let mut keys = Vec::new();
        for name in key_file_names(dir)? {
            keys.push(Arc::new(load_key(dir, name)?));
        }
        if keys.is_empty() {
            return Err(KeyRingError::NoKeys {
                dir: dir.to_path_buf(),
            });
        }
        let mut seen: BTreeMap<&KeyId, &str> = BTreeMap::new();
        for k in &keys {
            if let Some(other) = seen.insert(k.secret.public_key().id(), &k.name) {
                return Err(KeyRingError::Duplicate {
                    path: dir.join(&k.name),
                    other: dir.join(other),
                });
            }
        }
        keys.sort_by(|a, b| (b.created, &b.name).cmp(&(a.created, &a.name)));
        let current = match read_current(dir)? {
            Some(name) => keys.iter().position(|k| k.name == name).ok_or_else(|| {
                KeyRingError::CurrentMissing {
                    path: dir.join(CURRENT),
                    name,
                }
            })?,
            None => {
                tracing::warn!(
                    file = %dir.join(CURRENT).display(),
                    "no current-key file; the newest key signs"
                );
                0
            }
        };
        let root = read_root(dir)?;
        let key_revocations = read_key_revocations(dir, root.as_ref())?;
        let ring = KeyRing {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                keys,
                current,
                root,
                key_revocations,
            }),
        };
        Ok(ring)
    }

    /// Refuses to sign (at `licd serve`) in rooted mode unless the signing key's certificate
    /// chains to the root, grants licenses and is valid now. Opening the ring for the
    /// `licd keys` commands does not check it, so that a missing certificate can be repaired.
    pub fn check_signing_key(&self) -> Result<(), KeyRingError> {
        self.check_signer(self.inner.current, Timestamp::now())
    }

    /// In rooted mode, refuses key `i` as the signing key unless its certificate chains to the
    /// root, grants licenses and is valid at `now`.
    fn check_signer(&self, i: usize, now: Timestamp) -> Result<(), KeyRingError> {
        let Some(root) = &self.inner.root else {
            return Ok(());
        };
        let k = &self.inner.keys[i];
        let path = self.inner.dir.join(&k.name);
        let refuse = |reason: String| KeyRingError::Uncertified {
            path: path.clone(),
            reason,
        };
        let kid = k.secret.public_key().id();
        if self
            .inner
            .key_revocations
            .as_ref()
            .is_some_and(|r| r.revokes(kid.as_str()))
        {
            return Err(refuse(format!(
                "signing key {kid} is revoked by the root (key-revocations.json): activate another certified key (licd keys list)"
            )));
        }
        let Some(cert) = k.cert_for(Some(root)) else {
            return Err(refuse(format!(
                "the key directory trusts root version {} (root.json), and signing key {kid} has no certificate from it: run `licctl root certify --key {}` where the root secrets are, then `licd keys certify {kid} FILE`",
                root.version(),
                k.secret.public_key().to_paserk()
            )));
        };
        let g = cert.grant();
        if !g.purposes.contains(Purpose::Licenses) {
            return Err(refuse(format!(
                "the certificate of signing key {kid} does not grant licenses"
            )));
        }
        if now < g.not_before || now > g.not_after {
            return Err(refuse(format!(
                "the certificate of signing key {kid} is valid from {} to {}, not now ({now}): certify a key for now and activate it",
                g.not_before, g.not_after
            )));
        }
        Ok(())
    }

    /// Attaches `cert` (a certificate from `licctl root certify`, base64url) to the key `kid`
    /// (full, or an unambiguous prefix), beside the certificates it has. The ring signs with
    /// the newest one that chains to the root it trusts, so a certificate under the next root
    /// can be attached before `trust_root` moves to it. Takes effect at the next start.
    /// Returns the key, and whether the certificate chains to the root trusted now (always
    /// true when the ring is not rooted).
    pub fn certify(&mut self, kid: &str, cert: &str) -> Result<(KeyInfo, bool), KeyRingError> {
        let dir = self.inner.dir.clone();
        check_dir(&dir)?;
        let i = self.find(kid)?;
        let k = &self.inner.keys[i];
        let path = dir.join(cert_name(&k.name));
        let refuse = |reason: String| KeyRingError::Uncertified {
            path: path.clone(),
            reason,
        };
        let parsed = Certificate::decode(cert.trim())
            .map_err(|e| refuse(format!("not a certificate: {e}")))?;
        if parsed.key() != k.secret.public_key() {
            return Err(refuse(format!(
                "the certificate is for {}, not for {}",
                parsed.key().id(),
                k.secret.public_key().id()
            )));
        }
        let chains = self
            .inner
            .root
            .as_ref()
            .is_none_or(|r| r.check(&parsed).is_ok());
        let mut certs: Vec<Arc<Certificate>> = k
            .certs
            .iter()
            .filter(|c| c.as_bytes() != parsed.as_bytes())
            .cloned()
            .collect();
        certs.push(Arc::new(parsed));
        if certs.len() > MAX_CERTS_PER_KEY {
            certs.remove(0);
        }
        let text: String = certs.iter().map(|c| c.encode() + "\n").collect();
        write_atomic(&dir, &cert_name(&k.name), &[text.as_bytes()])?;
        let mut keys = self.inner.keys.clone();
        keys[i] = Arc::new(StoredKey {
            secret: k.secret.clone(),
            name: k.name.clone(),
            created: k.created,
            certs,
        });
        self.inner = Arc::new(Inner {
            dir,
            keys,
            current: self.inner.current,
            root: self.inner.root.clone(),
            key_revocations: self.inner.key_revocations.clone(),
        });
        Ok((self.info(i), chains))
    }

    /// Puts the ring in rooted mode under the root document `json` (or moves it to the next
    /// version of the root it trusts): from then on only a key certified by that root signs.
    /// Refused unless the signing key's certificate chains to it, so no node is left without
    /// a key to sign with. Takes effect at the next start.
    pub fn trust_root(&mut self, json: &str) -> Result<Root, KeyRingError> {
        let dir = self.inner.dir.clone();
        check_dir(&dir)?;
        let path = dir.join(ROOT_FILE);
        let refuse = |reason: String| KeyRingError::Uncertified {
            path: path.clone(),
            reason,
        };
        let root = Root::from_json(json).map_err(|e| refuse(e.to_string()))?;
        if let Some(old) = &self.inner.root {
            if old.version() == root.version() && old.keys() == root.keys() {
                // The same root again: nothing to change.
            } else if root.version() == old.version() + 1 {
                old.accept_next(json).map_err(|e| {
                    refuse(format!(
                        "version {} does not follow the trusted version {}: {e}",
                        root.version(),
                        old.version()
                    ))
                })?;
            } else {
                return Err(refuse(format!(
                    "the ring trusts root version {}; give it version {} next (each version in turn, as applications follow them)",
                    old.version(),
                    old.version() + 1
                )));
            }
        }
        let next = KeyRing {
            inner: Arc::new(Inner {
                dir: dir.clone(),
                keys: self.inner.keys.clone(),
                current: self.inner.current,
                root: Some(root.clone()),
                key_revocations: self.inner.key_revocations.clone(),
            }),
        };
        next.check_signer(next.inner.current, Timestamp::now())?;
        if let Some(old) = &self.inner.root
            && old.version() != root.version()
        {
            write_atomic(
                &dir,
                &format!("root.v{}.json", old.version()),
                &[old.to_json().as_bytes()],
            )?;
        }
        write_atomic(&dir, ROOT_FILE, &[root.to_json().as_bytes()])?;
        *self = next;
        Ok(root)
    }

    /// The root documents an application follows to the trusted root, oldest first: every
    /// earlier version the ring trusted (`root.vN.json`), then the current one. Empty when the
    /// ring is not rooted.
    pub fn root_chain(&self) -> Result<Vec<String>, KeyRingError> {
        let Some(root) = &self.inner.root else {
            return Ok(Vec::new());
        };
        let mut chain = Vec::new();
        for version in 1..root.version() {
            let path = self.inner.dir.join(format!("root.v{version}.json"));
            // A ring that began trusting at a later version has no earlier ones: the chain an
            // application can follow starts where the ring's did.
            if let Some(doc) = read_public(&path)? {
                chain.push(doc);
            }
        }
        chain.push(root.to_json().to_string());
        Ok(chain)
    }

    /// What every node of a cluster must agree on, as `licd keys publish` records it: each
    /// key id, and in rooted mode the root (version, threshold, keys) and the certificate the
    /// signing key's tokens carry, each as a short digest. Nodes that differ in any of them
    /// would mint tokens an application accepts from one node and refuses from another.
    pub fn published_ids(&self) -> Vec<String> {
        use sha2::{Digest, Sha256};
        let short = |bytes: &[u8]| -> String {
            Sha256::digest(bytes)[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        let mut ids: Vec<String> = self
            .inner
            .keys
            .iter()
            .map(|k| k.secret.public_key().id().to_string())
            .collect();
        if let Some(root) = &self.inner.root {
            let mut what = format!("{}:{}", root.version(), root.threshold()).into_bytes();
            for k in root.keys() {
                what.extend_from_slice(&k.to_bytes());
            }
            ids.push(format!("root:v{}:{}", root.version(), short(&what)));
            if let Some(cert) = self.current_certificate() {
                ids.push(format!("cert:{}", short(cert.as_bytes())));
            }
        }
        ids
    }

    /// Keeps the root's statement of revoked keys (`licctl root revoke-key`), which licd serves
    /// with its revocation list so that applications refuse what those keys signed. Refused
    /// unless the trusted root signed it, and when it is older than the one kept. When it
    /// revokes the signing key, the newest key with a valid certificate that it leaves signs
    /// instead (refused when there is none). Served, and signed with, from the next start.
    pub fn load_key_revocations(&mut self, json: &str) -> Result<KeyRevocations, KeyRingError> {
        let dir = self.inner.dir.clone();
        check_dir(&dir)?;
        let path = dir.join(KEY_REVOCATIONS_FILE);
        let refuse = |reason: String| KeyRingError::Uncertified {
            path: path.clone(),
            reason,
        };
        let Some(root) = &self.inner.root else {
            return Err(refuse(
                "key revocations are the root's: trust a root first (licd keys trust-root)".into(),
            ));
        };
        let statement = KeyRevocations::from_json(json, root).map_err(|e| refuse(e.to_string()))?;
        if let Some(kept) = &self.inner.key_revocations
            && statement.seq() < kept.seq()
        {
            return Err(refuse(format!(
                "statement {} is older than the one kept ({})",
                statement.seq(),
                kept.seq()
            )));
        }
        let previous = Arc::clone(&self.inner);
        self.inner = Arc::new(Inner {
            dir: dir.clone(),
            keys: previous.keys.clone(),
            current: previous.current,
            root: previous.root.clone(),
            key_revocations: Some(statement.clone()),
        });
        // When it revokes the signing key, the newest certified key the statement leaves
        // signs from now on; without one the statement is refused and nothing changes.
        let signing = self.current().public_key().id().clone();
        if statement.revokes(signing.as_str()) {
            let now = Timestamp::now();
            let Some(next) =
                (0..self.inner.keys.len()).find(|&i| self.check_signer(i, now).is_ok())
            else {
                self.inner = previous;
                return Err(refuse(format!(
                    "it revokes the signing key {signing}, and no other key has a valid certificate to sign in its place: certify one first (licd keys add, licctl root certify, licd keys certify), then load it"
                )));
            };
            write_atomic(
                &dir,
                CURRENT,
                &[self.inner.keys[next].name.as_bytes(), b"\n"],
            )?;
            self.inner = Arc::new(Inner {
                dir: dir.clone(),
                keys: self.inner.keys.clone(),
                current: next,
                root: self.inner.root.clone(),
                key_revocations: Some(statement.clone()),
            });
        }
        if let Err(e) = write_atomic(&dir, KEY_REVOCATIONS_FILE, &[json.as_bytes()]) {
            self.inner = previous;
            return Err(e);
        }
        Ok(statement)
    }

    /// The root's statement of revoked keys, as kept.
    pub fn key_revocations(&self) -> Option<&KeyRevocations> {
        self.inner.key_revocations.as_ref()
    }

    /// The root the ring trusts, in rooted mode.
    pub fn root(&self) -> Option<&Root> {
        self.inner.root.as_ref()
    }

    /// The signing key's certificate, when it has one.
    pub fn current_certificate(&self) -> Option<Arc<Certificate>> {
        self.inner.keys[self.inner.current].cert_for(self.inner.root.as_ref())
    }

    /// The index of the key `kid` names (full, or an unambiguous prefix).
    fn find(&self, kid: &str) -> Result<usize, KeyRingError> {
        let kid = kid.trim();
        let matches: Vec<usize> = (0..self.inner.keys.len())
            .filter(|&i| {
                let id = self.inner.keys[i].secret.public_key().id().as_str();
                !kid.is_empty() && (id == kid || id.starts_with(kid))
            })
            .collect();
        match matches[..] {
            [i] => Ok(i),
            _ => Err(KeyRingError::UnknownKid {
                dir: self.inner.dir.clone(),
                kid: kid.to_string(),
                matches: matches.len(),
            }),
        }
    }

    /// The daemon's start: opens `dir`, first creating it (mode 0700) and a signing key if it
    /// holds none, so `licd serve` runs with nothing configured.
    pub fn open_or_generate(dir: impl AsRef<Path>) -> Result<KeyRing, KeyRingError> {
        let dir = dir.as_ref();
        let ring = match Self::open(dir) {
            Err(KeyRingError::NoDir { .. } | KeyRingError::NoKeys { .. }) => Self::generate(dir)?,
            other => other?,
        };
        ring.check_signing_key()?;
        let current = ring.current_info();
        tracing::info!(
            kid = %current.kid,
            file = %current.file.display(),
            keys = ring.inner.keys.len(),
            "signing key loaded"
        );
        Ok(ring)
    }

    /// Creates `dir` (mode 0700) if needed and a first signing key in it. Refuses a directory
    /// that already holds keys: adding one is [`KeyRing::rotate`]'s job.
    pub fn generate(dir: impl AsRef<Path>) -> Result<KeyRing, KeyRingError> {
        Self::generate_at(dir.as_ref(), Timestamp::now())
    }

    fn generate_at(dir: &Path, now: Timestamp) -> Result<KeyRing, KeyRingError> {
        create_dir(dir)?;
        check_dir(dir)?;
        if !key_file_names(dir)?.is_empty() {
            return Err(KeyRingError::AlreadyExists {
                dir: dir.to_path_buf(),
            });
        }
        let key = store_new_key(dir, now, true)?;
        Ok(KeyRing {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                keys: vec![Arc::new(key)],
                current: 0,
                root: None,
                key_revocations: None,
            }),
        })
    }

    /// Generates a new key and makes it the one that signs. Older keys stay on disk and in
    /// [`KeyRing::public_keys`], so tokens they signed keep verifying. Returns the new key.
    pub fn rotate(&mut self) -> Result<KeyInfo, KeyRingError> {
        self.rotate_at(Timestamp::now())
    }

    fn rotate_at(&mut self, now: Timestamp) -> Result<KeyInfo, KeyRingError> {
        self.add_key(now, true)?;
        Ok(self.current_info())
    }

    /// Generates a new key that does **not** sign yet: the first half of a staged rotation.
    /// Its public key is exported at once, so it can ship in an application update; once the
    /// update is out, [`KeyRing::activate`] makes it sign. Returns the new key.
    pub fn add(&mut self) -> Result<KeyInfo, KeyRingError> {
        self.add_key(Timestamp::now(), false)?;
        Ok(self.info(0))
    }

    /// Makes the key whose kid is `kid` (or starts with it, if that is unambiguous) the one
    /// that signs. Other keys stay and keep verifying. Returns that key.
    pub fn activate(&mut self, kid: &str) -> Result<KeyInfo, KeyRingError> {
        let dir = &self.inner.dir;
        check_dir(dir)?;
        let i = self.find(kid)?;
        self.check_signer(i, Timestamp::now())?;
        write_atomic(dir, CURRENT, &[self.inner.keys[i].name.as_bytes(), b"\n"])?;
        self.inner = Arc::new(Inner {
            dir: dir.clone(),
            keys: self.inner.keys.clone(),
            current: i,
            root: self.inner.root.clone(),
            key_revocations: self.inner.key_revocations.clone(),
        });
        Ok(self.current_info())
    }

    fn add_key(&mut self, now: Timestamp, make_current: bool) -> Result<(), KeyRingError> {
        let dir = &self.inner.dir;
        check_dir(dir)?;
        if make_current && self.inner.root.is_some() {
            return Err(KeyRingError::Uncertified {
                path: dir.join(ROOT_FILE),
                reason: "the ring trusts a root, so a new key cannot sign before it is certified: `licd keys add`, certify it (`licctl root certify`, `licd keys certify`), then `licd keys activate`".into(),
            });
        }
        if !make_current {
            // Without a `current` file the newest key would sign: pin the present one first.
            let name = &self.inner.keys[self.inner.current].name;
            write_atomic(dir, CURRENT, &[name.as_bytes(), b"\n"])?;
        }
        // File names must order keys by age even when rotations come within one second or the
        // clock went back, so a new key is never dated before the newest one.
        let created = match self.inner.keys.first() {
            Some(newest) if newest.created >= now => newest.created.add_secs(1),
            _ => now,
        };
        let key = store_new_key(dir, created, make_current)?;
        let mut keys = Vec::with_capacity(self.inner.keys.len() + 1);
        keys.push(Arc::new(key));
        keys.extend(self.inner.keys.iter().cloned());
        let current = if make_current {
            0
        } else {
            self.inner.current + 1
        };
        self.inner = Arc::new(Inner {
            dir: dir.clone(),
            keys,
            current,
            root: self.inner.root.clone(),
            key_revocations: self.inner.key_revocations.clone(),
        });
        Ok(())
    }

    /// The key that signs new tokens.
    pub fn current(&self) -> &SecretKey {
        &self.inner.keys[self.inner.current].secret
    }

    /// Every key's public half, newest first, the signing one marked `current`.
    pub fn public_keys(&self) -> Vec<KeyInfo> {
        (0..self.inner.keys.len()).map(|i| self.info(i)).collect()
    }

    /// The key directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    fn current_info(&self) -> KeyInfo {
        self.info(self.inner.current)
    }

    fn info(&self, i: usize) -> KeyInfo {
        let k = &self.inner.keys[i];
        let public = k.secret.public_key();
        KeyInfo {
            kid: public.id().clone(),
            public_paserk: public.to_paserk(),
            created: k.created,
            current: i == self.inner.current,
            file: self.inner.dir.join(&k.name),
            certificate: k.cert_for(self.inner.root.as_ref()),
        }
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key ids only: the secret keys redact themselves, but a ring has no reason to try.
        let kids: Vec<&KeyId> = self
            .inner
            .keys
            .iter()
            .map(|k| k.secret.public_key().id())
            .collect();
        f.debug_struct("KeyRing")
            .field("dir", &self.inner.dir)
            .field("current", self.current().public_key().id())
            .field("keys", &kids)
            .finish()
    }
}

/// Generates a key, writes it, then points `current` at it, in that order so a crash in between
/// leaves `current` naming a key that exists.
fn store_new_key(
    dir: &Path,
    created: Timestamp,
    make_current: bool,
) -> Result<StoredKey, KeyRingError> {
    let secret = SecretKey::generate().map_err(KeyRingError::Random)?;
    let name = file_name(created, secret.public_key().id());
    let path = dir.join(&name);
    // The name carries a fresh kid, so a clash means something is badly wrong: never overwrite.
    if fs::symlink_metadata(&path).is_ok() {
        return Err(KeyRingError::Io {
            path,
            action: "create the key file",
            source: io::ErrorKind::AlreadyExists.into(),
        });
    }
    let paserk = secret.to_paserk();
    write_atomic(dir, &name, &[paserk.as_bytes(), b"\n"])?;
    if make_current {
        write_atomic(dir, CURRENT, &[name.as_bytes(), b"\n"])?;
    }
    tracing::info!(
        kid = %secret.public_key().id(),
        file = %path.display(),
        "generated signing key"
    );
    Ok(StoredKey {
        secret,
        name,
        created,
        certs: Vec::new(),
    })
}

/// `20261123T115500Z-Ab3dEf9h.k4.secret`.
fn file_name(created: Timestamp, kid: &KeyId) -> String {
    let (y, mo, d, h, mi, s) = created.to_civil();
    format!(
        "{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z-{}{KEY_SUFFIX}",
        kid_tag(kid)
    )
}

fn kid_tag(kid: &KeyId) -> &str {
    kid.as_str()
        .strip_prefix(PID_PREFIX)
        .and_then(|s| s.get(..TAG_LEN))
        .unwrap_or_default()
}

/// The creation time and kid tag a key file name carries, or `None` if it is not one we write.
fn parse_file_name(name: &str) -> Option<(Timestamp, &str)> {
    let stem = name.strip_suffix(KEY_SUFFIX)?;
    let (stamp, rest) = (stem.get(..STAMP_LEN)?, stem.get(STAMP_LEN..)?);
    let tag = rest.strip_prefix('-')?;
    let tag_ok = tag.len() == TAG_LEN
        && tag
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    let b = stamp.as_bytes();
    if !tag_ok || !stamp.is_ascii() || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    // Timestamp's own parser checks the digits and the calendar.
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13],
        &stamp[13..15]
    );
    Some((Timestamp::parse_rfc3339(&rfc3339)?, tag))
}

/// Names of the `*.k4.secret` files in `dir`, sorted so errors are reported in a stable order.
fn key_file_names(dir: &Path) -> Result<Vec<String>, KeyRingError> {
    let entries = fs::read_dir(dir).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => KeyRingError::NoDir {
            dir: dir.to_path_buf(),
        },
        _ => io_error(dir, "list the key directory")(e),
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error(dir, "list the key directory"))?;
        // A name that is not UTF-8 was not written by us; `*.tmp` never ends in KEY_SUFFIX.
        if let Ok(name) = entry.file_name().into_string()
            && name.ends_with(KEY_SUFFIX)
        {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn load_key(dir: &Path, name: String) -> Result<StoredKey, KeyRingError> {
    let path = dir.join(&name);
    let Some((created, tag)) = parse_file_name(&name) else {
        return Err(KeyRingError::BadFileName { path });
    };
    let mut file = File::open(&path).map_err(io_error(&path, "open the key file"))?;
    // The permissions of the file actually opened, not of whatever the path names a moment later.
    let meta = file
        .metadata()
        .map_err(io_error(&path, "read the key file's permissions"))?;
    check_key_mode(&path, &meta)?;
    if !meta.is_file() || meta.len() > MAX_KEY_FILE {
        return Err(KeyRingError::Corrupt {
            path,
            reason: "not a small regular file".into(),
        });
    }
    // Sized up front so the buffer holding the secret never reallocates and leaves a copy behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE as usize + 1));
    (&mut file)
        .take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error(&path, "read the key file"))?;
    let corrupt = |reason: String| KeyRingError::Corrupt {
        path: path.clone(),
        reason,
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| corrupt("not UTF-8 text".into()))?;
    let secret = SecretKey::from_paserk(text).map_err(|e| corrupt(e.to_string()))?;
    let kid = secret.public_key().id();
    if kid_tag(kid) != tag {
        return Err(corrupt(format!(
            "the file name says a kid starting {PID_PREFIX}{tag}, the key is {kid}"
        )));
    }
    let certs = match read_public(&dir.join(cert_name(&name)))? {
        None => Vec::new(),
        Some(text) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let cert = Certificate::decode(line).map_err(|e| {
                    corrupt(format!("its certificate file {}: {e}", cert_name(&name)))
                })?;
                if cert.key() != secret.public_key() {
                    return Err(corrupt(format!(
                        "its certificate file {} holds one for another key ({})",
                        cert_name(&name),
                        cert.key().id()
                    )));
                }
                Ok(Arc::new(cert))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(StoredKey {
        secret,
        name,
        created,
        certs,
    })
}

/// The certificate file of the key file `name`.
fn cert_name(key_file: &str) -> String {
    format!(
        "{}{CERT_SUFFIX}",
        key_file.strip_suffix(KEY_SUFFIX).unwrap_or(key_file)
    )
}

/// A small public file of the key directory (a certificate, the root), or `None` if absent.
fn read_public(path: &Path) -> Result<Option<String>, KeyRingError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path, "open")(e)),
    };
    let mut text = String::new();
    file.take(MAX_PUBLIC_FILE)
        .read_to_string(&mut text)
        .map_err(io_error(path, "read"))?;
    Ok(Some(text))
}

/// The root the key directory trusts (`root.json`), if any.
fn read_root(dir: &Path) -> Result<Option<Root>, KeyRingError> {
    let path = dir.join(ROOT_FILE);
    read_public(&path)?
        .map(|text| {
            Root::from_json(&text).map_err(|e| KeyRingError::Uncertified {
                path: path.clone(),
                reason: format!("not a valid root document: {e}"),
            })
        })
        .transpose()
}

/// The root's statement of revoked keys kept in the key directory, checked against `root`.
fn read_key_revocations(
    dir: &Path,
    root: Option<&Root>,
) -> Result<Option<KeyRevocations>, KeyRingError> {
    let path = dir.join(KEY_REVOCATIONS_FILE);
    let Some(text) = read_public(&path)? else {
        return Ok(None);
    };
    let refuse = |reason: String| KeyRingError::Uncertified {
        path: path.clone(),
        reason,
    };
    let root = root.ok_or_else(|| refuse("key revocations without a root (root.json)".into()))?;
    match KeyRevocations::from_json(&text, root) {
        Ok(statement) => Ok(Some(statement)),
        // Kept from before a rotation: signed by the root version the ring trusted then,
        // whose document the ring keeps (`root.vN.json`), until the re-signed one is loaded.
        Err(first) => (1..root.version())
            .rev()
            .find_map(|v| {
                let older = read_public(&dir.join(format!("root.v{v}.json"))).ok()??;
                let older = Root::from_json(&older).ok()?;
                KeyRevocations::from_json(&text, &older).ok()
            })
            .map(Some)
            .ok_or_else(|| refuse(format!("not the trusted root's statement: {first}"))),
    }
}

/// The file name `current` holds, or `None` if there is no `current` file.
fn read_current(dir: &Path) -> Result<Option<String>, KeyRingError> {
    let path = dir.join(CURRENT);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(&path, "open")(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_CURRENT_FILE)
        .read_to_end(&mut bytes)
        .map_err(io_error(&path, "read"))?;
    let name = String::from_utf8_lossy(&bytes).trim().to_string();
    // Only a plain file name in this directory: `current` must not reach elsewhere.
    if !name.ends_with(KEY_SUFFIX) || name.contains(['/', '\\']) {
        return Err(KeyRingError::CurrentMissing { path, name });
    }
    Ok(Some(name))
}

/// Creates the key directory, owner-only, if it does not exist yet.
fn create_dir(dir: &Path) -> Result<(), KeyRingError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(io_error(dir, "create the key directory"))?;
    // The new directory's entry must be durable too, or a crash could lose it with the key.
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    sync_dir(parent)
}

/// Writes `dir/name` so that it either keeps its old content or has all of `parts`, whatever
/// the moment of a crash (owner-only, [`crate::private_file::write_private_parts`]).
fn write_atomic(dir: &Path, name: &str, parts: &[&[u8]]) -> Result<(), KeyRingError> {
    let path = dir.join(name);
    crate::private_file::write_private_parts(&path, parts).map_err(io_error(&path, "write"))
}

/// Makes renames and new entries in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), KeyRingError> {
    crate::private_file::sync_dir(dir).map_err(io_error(dir, "sync the directory"))
}

/// Refuses a missing key directory, or one others can write to.
fn check_dir(dir: &Path) -> Result<(), KeyRingError> {
    let meta = match fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(KeyRingError::NoDir {
                dir: dir.to_path_buf(),
            });
        }
        Err(e) => return Err(io_error(dir, "read the key directory")(e)),
    };
    if let Some(mode) = crate::private_file::open_mode(&meta, 0o002) {
        return Err(KeyRingError::DirTooOpen {
            dir: dir.to_path_buf(),
            mode,
        });
    }
    if !meta.is_dir() {
        return Err(io_error(dir, "use the key directory")(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a directory",
        )));
    }
    Ok(())
}

/// Refuses a private key file that anyone but its owner may read or write.
fn check_key_mode(path: &Path, meta: &fs::Metadata) -> Result<(), KeyRingError> {
    match crate::private_file::open_mode(meta, 0o077) {
        Some(mode) => Err(KeyRingError::PermissionsTooOpen {
            path: path.to_path_buf(),
            mode,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn only_key_file(dir: &Path) -> PathBuf {
        let names = key_file_names(dir).unwrap();
        assert_eq!(names.len(), 1, "{names:?}");
        dir.join(&names[0])
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn generate_then_open_loads_the_same_key() {
        let tmp = tempfile::tempdir().unwrap();
        let made = KeyRing::generate(tmp.path()).unwrap();
        let opened = KeyRing::open(tmp.path()).unwrap();
        assert_eq!(opened.current().public_key(), made.current().public_key());
        assert_eq!(
            opened.current().to_paserk().as_str(),
            made.current().to_paserk().as_str()
        );
        assert_eq!(opened.public_keys(), made.public_keys());
        let info = &opened.public_keys()[0];
        assert!(info.current);
        assert_eq!(info.file, only_key_file(tmp.path()));
    }

    #[test]
    fn file_name_records_creation_time_and_kid() {
        let tmp = tempfile::tempdir().unwrap();
        let ring = KeyRing::generate_at(tmp.path(), at("2026-11-23T11:55:00Z")).unwrap();
        let info = &ring.public_keys()[0];
        let name = info.file.file_name().unwrap().to_str().unwrap();
        let tag = &info.kid.as_str()[PID_PREFIX.len()..PID_PREFIX.len() + TAG_LEN];
        assert_eq!(name, format!("20261123T115500Z-{tag}.k4.secret"));
        assert_eq!(
            KeyRing::open(tmp.path()).unwrap().public_keys()[0].created,
            at("2026-11-23T11:55:00Z")
        );
        let current = fs::read_to_string(tmp.path().join(CURRENT)).unwrap();
        assert_eq!(current, format!("{name}\n"));
    }

    #[cfg(unix)]
    #[test]
    fn new_key_files_are_owner_only_and_new_dir_0700() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested").join("keys");
        KeyRing::generate(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&only_key_file(&dir)), 0o600);
        assert_eq!(mode(&dir.join(CURRENT)), 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn refuses_key_file_readable_by_others_and_says_chmod_600() {
        let tmp = tempfile::tempdir().unwrap();
        KeyRing::generate(tmp.path()).unwrap();
        let file = only_key_file(tmp.path());
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let err = KeyRing::open(tmp.path()).unwrap_err();
        assert!(
            matches!(&err, KeyRingError::PermissionsTooOpen { path, mode: 0o644 } if *path == file)
        );
        let msg = err.to_string();
        assert!(msg.starts_with(&format!(
            "{}: permissions 0644 are too open",
            file.display()
        )));
        assert!(
            msg.ends_with(&format!("chmod 600 {}", file.display())),
            "{msg}"
        );
        // Group access alone is refused as well, as ssh does.
        fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            KeyRing::open(tmp.path()),
            Err(KeyRingError::PermissionsTooOpen { mode: 0o640, .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn refuses_key_dir_writable_by_others() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ring = KeyRing::generate(tmp.path()).unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let err = KeyRing::open(tmp.path()).unwrap_err();
        assert!(matches!(err, KeyRingError::DirTooOpen { mode: 0o777, .. }));
        assert!(err.to_string().contains("chmod 700"));
        assert!(matches!(
            ring.rotate(),
            Err(KeyRingError::DirTooOpen { .. })
        ));
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        KeyRing::open(tmp.path()).unwrap();
    }

    #[test]
    fn rotate_keeps_old_key_and_new_one_signs_after_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ring = KeyRing::generate_at(tmp.path(), at("2026-01-01T00:00:00Z")).unwrap();
        let old = ring.current().public_key().clone();
        let snapshot = ring.clone();
        let new = ring.rotate_at(at("2026-06-01T00:00:00Z")).unwrap();
        assert!(new.current);
        assert_eq!(&new.kid, ring.current().public_key().id());
        assert_ne!(ring.current().public_key(), &old);
        // A clone taken before keeps signing with what it had.
        assert_eq!(snapshot.current().public_key(), &old);

        let reopened = KeyRing::open(tmp.path()).unwrap();
        assert_eq!(reopened.current().public_key().id(), &new.kid);
        let listed = reopened.public_keys();
        assert_eq!(listed, ring.public_keys());
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].kid, new.kid);
        assert!(listed[0].current);
        assert_eq!(&listed[1].kid, old.id());
        assert!(!listed[1].current);
    }

    #[test]
    fn staged_rotation_adds_a_key_that_signs_only_once_activated() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ring = KeyRing::generate(tmp.path()).unwrap();
        let old = ring.current().public_key().id().clone();
        // A crash during the first generate leaves no `current`; add must not let the new,
        // newest key take over by default.
        fs::remove_file(tmp.path().join(CURRENT)).unwrap();
        let staged = ring.add().unwrap();
        assert!(!staged.current);
        assert_eq!(ring.current().public_key().id(), &old);
        let reopened = KeyRing::open(tmp.path()).unwrap();
        assert_eq!(
            reopened.current().public_key().id(),
            &old,
            "still the old key"
        );
        let listed = reopened.public_keys();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].kid, staged.kid, "newest first, exported already");
        assert!(!listed[0].current && listed[1].current);

        // Unknown and ambiguous kids are refused and change nothing.
        let mut ring = reopened;
        for bad in ["k4.pid.nope", "k4.pid.", ""] {
            let err = ring.activate(bad).unwrap_err();
            assert!(
                matches!(err, KeyRingError::UnknownKid { .. }),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            KeyRing::open(tmp.path())
                .unwrap()
                .current()
                .public_key()
                .id(),
            &old
        );
        // A unique prefix is enough.
        let prefix = &staged.kid.as_str()[..16];
        let active = ring.activate(prefix).unwrap();
        assert_eq!(active.kid, staged.kid);
        assert!(active.current);
        let reopened = KeyRing::open(tmp.path()).unwrap();
        assert_eq!(reopened.current().public_key().id(), &staged.kid);
        // And back again: the old key is still there.
        ring.activate(old.as_str()).unwrap();
        assert_eq!(
            KeyRing::open(tmp.path())
                .unwrap()
                .current()
                .public_key()
                .id(),
            &old
        );
    }

    #[test]
    fn rotations_within_one_second_keep_creation_order() {
        let tmp = tempfile::tempdir().unwrap();
        let now = at("2026-03-01T12:00:00Z");
        let mut ring = KeyRing::generate_at(tmp.path(), now).unwrap();
        let second = ring.rotate_at(now).unwrap();
        // A clock set back must not date the new key before the others.
        let third = ring.rotate_at(at("2025-01-01T00:00:00Z")).unwrap();
        assert_eq!(second.created, now.add_secs(1));
        assert_eq!(third.created, now.add_secs(2));
        let listed = KeyRing::open(tmp.path()).unwrap().public_keys();
        let kids: Vec<_> = listed.iter().map(|k| &k.kid).collect();
        assert_eq!(kids[..2], [&third.kid, &second.kid]);
        assert!(listed[0].current);
    }

    #[test]
    fn refuses_corrupt_key_file_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        KeyRing::generate(tmp.path()).unwrap();
        let file = only_key_file(tmp.path());
        let text = fs::read_to_string(&file).unwrap();
        // A truncated write, the failure atomic replacement exists to prevent.
        fs::write(&file, &text[..40]).unwrap();
        let err = KeyRing::open(tmp.path()).unwrap_err();
        assert!(matches!(&err, KeyRingError::Corrupt { path, .. } if *path == file));
        let msg = err.to_string();
        assert!(msg.starts_with(&file.display().to_string()), "{msg}");
        assert!(
            !msg.contains(&text[..40]),
            "error must not echo key material"
        );
    }

    #[test]
    fn refuses_key_file_renamed_to_another_kid() {
        let tmp = tempfile::tempdir().unwrap();
        KeyRing::generate(tmp.path()).unwrap();
        let file = only_key_file(tmp.path());
        let wrong = tmp.path().join("20260101T000000Z-AAAAAAAA.k4.secret");
        fs::rename(&file, &wrong).unwrap();
        fs::write(
            tmp.path().join(CURRENT),
            "20260101T000000Z-AAAAAAAA.k4.secret\n",
        )
        .unwrap();
        assert!(matches!(
            KeyRing::open(tmp.path()),
            Err(KeyRingError::Corrupt { path, .. }) if path == wrong
        ));
    }

    #[test]
    fn refuses_key_file_with_foreign_name() {
        let tmp = tempfile::tempdir().unwrap();
        KeyRing::generate(tmp.path()).unwrap();
        let file = only_key_file(tmp.path());
        let odd = tmp.path().join("backup.k4.secret");
        fs::copy(&file, &odd).unwrap();
        assert!(matches!(
            KeyRing::open(tmp.path()),
            Err(KeyRingError::BadFileName { path }) if path == odd
        ));
    }

    #[test]
    fn refuses_same_key_stored_twice() {
        let tmp = tempfile::tempdir().unwrap();
        KeyRing::generate(tmp.path()).unwrap();
        let file = only_key_file(tmp.path());
        let name = file.file_name().unwrap().to_str().unwrap();
        let copy = tmp
            .path()
            .join(format!("20990101T000000Z{}", &name[STAMP_LEN..]));
        fs::copy(&file, &copy).unwrap();
        assert!(matches!(
            KeyRing::open(tmp.path()),
            Err(KeyRingError::Duplicate { .. })
        ));
    }

    #[test]
    fn leftover_tmp_from_crash_does_not_break_open() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ring = KeyRing::generate(tmp.path()).unwrap();
        let kid = ring.current().public_key().id().clone();
        // What a crash mid-write leaves: half a key, and half a `current`.
        fs::write(
            tmp.path()
                .join(".20270101T000000Z-AbCdEfGh.k4.secret.4242.tmp"),
            "k4.secret.AAAA",
        )
        .unwrap();
        fs::write(
            tmp.path()
                .join(format!(".current.{}.tmp", std::process::id())),
            "2027",
        )
        .unwrap();
        let opened = KeyRing::open(tmp.path()).unwrap();
        assert_eq!(opened.current().public_key().id(), &kid);
        assert_eq!(opened.public_keys().len(), 1);
        // A later write by a process with the same id replaces its own leftover.
        ring.rotate().unwrap();
        assert_eq!(KeyRing::open(tmp.path()).unwrap().public_keys().len(), 2);
    }

    #[test]
    fn ignores_unrelated_files_in_key_dir() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("README.md"), "# keys/\n").unwrap();
        let ring = KeyRing::open_or_generate(tmp.path()).unwrap();
        assert_eq!(
            KeyRing::open(tmp.path()).unwrap().public_keys(),
            ring.public_keys()
        );
    }

    #[test]
    fn refuses_current_naming_missing_key() {
        let tmp = tempfile::tempdir().unwrap();
        KeyRing::generate(tmp.path()).unwrap();
        let gone = "20260101T000000Z-AAAAAAAA.k4.secret";
        fs::write(tmp.path().join(CURRENT), format!("{gone}\n")).unwrap();
        let err = KeyRing::open(tmp.path()).unwrap_err();
        assert!(matches!(&err, KeyRingError::CurrentMissing { name, .. } if name == gone));
        assert!(err.to_string().contains(gone));
    }

    #[test]
    fn refuses_current_pointing_outside_key_dir() {
        let tmp = tempfile::tempdir().unwrap();
        KeyRing::generate(tmp.path()).unwrap();
        fs::write(tmp.path().join(CURRENT), "../other/x.k4.secret\n").unwrap();
        assert!(matches!(
            KeyRing::open(tmp.path()),
            Err(KeyRingError::CurrentMissing { .. })
        ));
    }

    #[test]
    fn missing_current_after_crash_in_first_generate_signs_with_newest() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ring = KeyRing::generate(tmp.path()).unwrap();
        let newest = ring.rotate().unwrap();
        fs::remove_file(tmp.path().join(CURRENT)).unwrap();
        let opened = KeyRing::open(tmp.path()).unwrap();
        assert_eq!(opened.current().public_key().id(), &newest.kid);
    }

    #[test]
    fn open_says_how_to_create_missing_dir_or_key() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("keys");
        let err = KeyRing::open(&missing).unwrap_err();
        assert!(matches!(err, KeyRingError::NoDir { .. }));
        assert!(err.to_string().contains("licd keys generate"));
        let err = KeyRing::open(tmp.path()).unwrap_err();
        assert!(matches!(err, KeyRingError::NoKeys { .. }));
        assert!(err.to_string().contains("licd keys generate"));
    }

    #[test]
    fn open_or_generate_creates_a_key_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("keys");
        let first = KeyRing::open_or_generate(&dir).unwrap();
        let again = KeyRing::open_or_generate(&dir).unwrap();
        assert_eq!(again.public_keys(), first.public_keys());
        assert_eq!(again.public_keys().len(), 1);
    }

    #[test]
    fn generate_refuses_dir_that_has_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let ring = KeyRing::generate(tmp.path()).unwrap();
        let err = KeyRing::generate(tmp.path()).unwrap_err();
        assert!(matches!(err, KeyRingError::AlreadyExists { .. }));
        assert!(err.to_string().contains("licd keys rotate"));
        assert_eq!(
            KeyRing::open(tmp.path()).unwrap().public_keys(),
            ring.public_keys()
        );
    }

    #[test]
    fn debug_of_ring_shows_no_secret() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ring = KeyRing::generate(tmp.path()).unwrap();
        ring.rotate().unwrap();
        let debug = format!("{ring:?} {:?}", ring.public_keys());
        assert!(!debug.contains("k4.secret."), "{debug}");
        for k in ring.public_keys() {
            let secret = fs::read_to_string(&k.file).unwrap();
            assert!(!debug.contains(&secret.trim()["k4.secret.".len()..]));
            assert!(debug.contains(k.kid.as_str()));
        }
    }

    #[test]
    fn clones_share_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let ring = KeyRing::generate(tmp.path()).unwrap();
        let clone = ring.clone();
        assert!(std::ptr::eq(ring.current(), clone.current()));
    }
}
