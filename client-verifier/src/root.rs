//! The key hierarchy: an offline root, and certificates that delegate signing to issuing keys.
//!
//! An application that trusts a [`Root`] instead of issuing keys accepts a token when the
//! certificate in its footer is signed by at least the root's threshold of root keys, and the
//! token is within the certificate's scope: its product, its purpose, an `exp` no later than the
//! certificate allows. The root's secrets never touch a server; an issuing key that leaks is
//! answered by revoking it, and the application needs no new build.
//!
//! Two formats, both fixed here:
//!
//! - **The root document** (`root.json`), JSON for people to read and diff:
//!   `{"type":"licd-root","version":1,"threshold":1,"keys":["k4.public.…"],"signatures":["…"]}`.
//!   The signatures (base64url ed25519, in any order) sign
//!   `PAE("licd-root-v1", version as 4 bytes big-endian, threshold as 1 byte, each key's 32
//!   bytes)` ([`crate::paseto::pae`]), so no canonical JSON is needed. A document is valid on its
//!   own when its own keys' threshold signed it; version `n + 1` replaces version `n` only when
//!   the thresholds of both key sets signed it ([`Root::accept_next`]), as TUF does.
//! - **The certificate**, binary and compact (it rides in every token's footer, base64url):
//!
//!   | bytes | field |
//!   |---|---|
//!   | 1 | format, `1` |
//!   | 32 | the issuing public key |
//!   | 8 | `not_before`, Unix seconds, big-endian signed |
//!   | 8 | `not_after` |
//!   | 8 | `max_exp`: the latest `exp` a token it signs may carry |
//!   | 1 | purposes, a bit set ([`Purpose`]) |
//!   | 1 | the number of products, 0 for all |
//!   | each | its length (1 to 64), then its UTF-8 bytes |
//!   | 1 | the number of signatures (1 to 16) |
//!   | 64 each | ed25519 signatures of root keys over `PAE("licd-cert-v1", every byte above them)` |
//!
//!   With one product and one signature that is about 135 bytes, 180 characters.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use blake2::Digest as _;
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};

use crate::paseto::{b64_decode, b64_decode_array, b64_encode, pae};
use crate::{PublicKey, Timestamp, VerifyError};

/// The most root keys a root document lists.
pub const MAX_ROOT_KEYS: usize = 16;
/// The most products a certificate names.
pub const MAX_CERT_PRODUCTS: usize = 32;
/// The longest product id a certificate names, in bytes.
pub const MAX_PRODUCT_LEN: usize = 64;
const CERT_FORMAT: u8 = 1;
const CERT_CONTEXT: &[u8] = b"licd-cert-v1";
const ROOT_CONTEXT: &[u8] = b"licd-root-v1";
const ROOT_TYPE: &str = "licd-root";

/// What an issuing key may sign, as a certificate grants it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// License tokens (and device licenses).
    Licenses,
    /// Floating-license leases.
    Leases,
    /// A site server's allotment of seats.
    SiteAllotments,
    /// Revocation lists of licenses. (Revocations of issuing keys are signed by the root.)
    RevocationLists,
}

impl Purpose {
    /// Every purpose, in bit order.
    pub const ALL: [Purpose; 4] = [
        Purpose::Licenses,
        Purpose::Leases,
        Purpose::SiteAllotments,
        Purpose::RevocationLists,
    ];

    const fn bit(self) -> u8 {
        match self {
            Purpose::Licenses => 1,
            Purpose::Leases => 2,
            Purpose::SiteAllotments => 4,
            Purpose::RevocationLists => 8,
        }
    }

    /// Its name on command lines and in JSON: `licenses`, `leases`, `site-allotments`,
    /// `revocation-lists`.
    pub const fn name(self) -> &'static str {
        match self {
            Purpose::Licenses => "licenses",
            Purpose::Leases => "leases",
            Purpose::SiteAllotments => "site-allotments",
            Purpose::RevocationLists => "revocation-lists",
        }
    }

    /// The purpose named `name` ([`Purpose::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Purpose::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// A set of [`Purpose`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Purposes(u8);

impl Purposes {
    const KNOWN: u8 = 0b1111;

    /// The purposes of a certificate that names none: all of them. licd signs its revocation
    /// lists with its signing key, so that key needs the revocation-lists purpose too.
    pub const DEFAULT: Purposes = Purposes(Purposes::KNOWN);

    /// A set of `purposes`.
    pub fn of(purposes: &[Purpose]) -> Self {
        Purposes(purposes.iter().fold(0, |bits, p| bits | p.bit()))
    }

    /// Whether `purpose` is in the set.
    pub fn contains(self, purpose: Purpose) -> bool {
        self.0 & purpose.bit() != 0
    }

    /// The purposes in the set, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Purpose> {
        Purpose::ALL.into_iter().filter(move |p| self.contains(*p))
    }

    /// Reads a comma-separated list of purpose names (`licenses,leases`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut set = Purposes(0);
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let p = Purpose::from_name(name).ok_or_else(|| {
                alloc::format!(
                    "unknown purpose {name:?}: licenses, leases, site-allotments or revocation-lists"
                )
            })?;
            set.0 |= p.bit();
        }
        if set.0 == 0 {
            return Err("no purpose named".to_string());
        }
        Ok(set)
    }
}

impl fmt::Display for Purposes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(p.name())?;
        }
        Ok(())
    }
}

/// What a certificate grants an issuing key, before the root signs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The issuing key.
    pub key: PublicKey,
    /// When the key may start signing.
    pub not_before: Timestamp,
    /// When it must stop: licd no longer signs with it after this. A token it signed stays
    /// valid until its own `exp` (licenses do not die with a key).
    pub not_after: Timestamp,
    /// The latest `exp` a token it signs may carry: what bounds a key that leaked, since its
    /// thief chooses `iat`.
    pub max_exp: Timestamp,
    /// What it may sign.
    pub purposes: Purposes,
    /// The products it may sign for; empty for all.
    pub products: Vec<String>,
}

impl Grant {
    /// The bytes the root signs (everything of the certificate but its signatures).
    #[cfg(feature = "sign")]
    fn body(&self) -> Result<Vec<u8>, &'static str> {
        if self.products.len() > MAX_CERT_PRODUCTS {
            return Err("a certificate names at most 32 products");
        }
        if self.purposes.0 == 0 || self.purposes.0 & !Purposes::KNOWN != 0 {
            return Err("a certificate needs at least one known purpose");
        }
        if self.not_after < self.not_before {
            return Err("the certificate ends before it begins");
        }
        let mut out =
            Vec::with_capacity(60 + self.products.iter().map(|p| 1 + p.len()).sum::<usize>());
        out.push(CERT_FORMAT);
        out.extend_from_slice(&self.key.to_bytes());
        for t in [self.not_before, self.not_after, self.max_exp] {
            out.extend_from_slice(&t.unix().to_be_bytes());
        }
        out.push(self.purposes.0);
        out.push(self.products.len() as u8);
        for p in &self.products {
            if p.is_empty() || p.len() > MAX_PRODUCT_LEN {
                return Err("a product id in a certificate is 1 to 64 bytes");
            }
            out.push(p.len() as u8);
            out.extend_from_slice(p.as_bytes());
        }
        Ok(out)
    }

    /// Whether the grant covers `product`.
    pub fn allows_product(&self, product: &str) -> bool {
        self.products.is_empty() || self.products.iter().any(|p| p == product)
    }
}

/// A certificate: a [`Grant`] with the root's signatures over it.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    grant: Grant,
    /// The signed bytes: the body, then the signatures.
    bytes: Vec<u8>,
    body_len: usize,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("grant", &self.grant)
            .field("signatures", &self.signatures().count())
            .finish()
    }
}

/// A byte reader that refuses to read past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], VerifyError> {
        if self.0.len() < n {
            return Err(uncertified("the certificate is cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn byte(&mut self) -> Result<u8, VerifyError> {
        Ok(self.take(1)?[0])
    }
    fn time(&mut self) -> Result<Timestamp, VerifyError> {
        let b: [u8; 8] = self
            .take(8)?
            .try_into()
            .map_err(|_| uncertified("the certificate is cut short"))?;
        Ok(Timestamp::from_unix(i64::from_be_bytes(b)))
    }
}

fn uncertified(reason: &'static str) -> VerifyError {
    VerifyError::Uncertified { reason }
}

impl Certificate {
    /// Reads a certificate from its bytes, strictly (no trailing bytes, no unknown purpose,
    /// format 1 only). Says nothing about who signed it: see [`Root::check`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VerifyError> {
        let mut r = Reader(bytes);
        if r.byte()? != CERT_FORMAT {
            return Err(uncertified("unknown certificate format"));
        }
        let key: [u8; 32] = r
            .take(32)?
            .try_into()
            .map_err(|_| uncertified("the certificate is cut short"))?;
        let key = PublicKey::from_bytes(&key)
            .map_err(|_| uncertified("the certificate's key is not a valid ed25519 key"))?;
        let (not_before, not_after, max_exp) = (r.time()?, r.time()?, r.time()?);
        let purposes = r.byte()?;
        if purposes == 0 || purposes & !Purposes::KNOWN != 0 {
            return Err(uncertified("the certificate's purposes are unknown"));
        }
        let n = r.byte()? as usize;
        if n > MAX_CERT_PRODUCTS {
            return Err(uncertified("the certificate names too many products"));
        }
        let mut products = Vec::with_capacity(n);
        for _ in 0..n {
            let len = r.byte()? as usize;
            if len == 0 || len > MAX_PRODUCT_LEN {
                return Err(uncertified(
                    "a product id in the certificate is empty or too long",
                ));
            }
            let p = core::str::from_utf8(r.take(len)?)
                .map_err(|_| uncertified("a product id in the certificate is not UTF-8"))?;
            products.push(p.to_string());
        }
        let body_len = bytes.len() - r.0.len();
        let sigs = r.byte()? as usize;
        if sigs == 0 || sigs > MAX_ROOT_KEYS {
            return Err(uncertified("a certificate carries 1 to 16 signatures"));
        }
        r.take(sigs * 64)?;
        if !r.0.is_empty() {
            return Err(uncertified("bytes after the certificate's signatures"));
        }
        if not_after < not_before {
            return Err(uncertified("the certificate ends before it begins"));
        }
        Ok(Certificate {
            grant: Grant {
                key,
                not_before,
                not_after,
                max_exp,
                purposes: Purposes(purposes),
                products,
            },
            bytes: bytes.to_vec(),
            body_len,
        })
    }

    /// Reads the base64url form a token's footer carries.
    pub fn decode(s: &str) -> Result<Self, VerifyError> {
        let bytes = b64_decode(s).map_err(|_| uncertified("the certificate is not base64url"))?;
        Self::from_bytes(&bytes)
    }

    /// The base64url form.
    pub fn encode(&self) -> String {
        b64_encode(&self.bytes)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// What it grants.
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// The issuing key it certifies.
    pub fn key(&self) -> &PublicKey {
        &self.grant.key
    }

    fn signed_message(&self) -> Vec<u8> {
        pae(&[CERT_CONTEXT, &self.bytes[..self.body_len]])
    }

    fn signatures(&self) -> impl Iterator<Item = Signature> + '_ {
        self.bytes[self.body_len + 1..]
            .chunks_exact(64)
            .filter_map(|c| <[u8; 64]>::try_from(c).ok())
            .map(|b| Signature::from_bytes(&b))
    }

    /// Signs `grant` with `signers` (root secret keys; as many as the root's threshold).
    #[cfg(feature = "sign")]
    pub fn sign(grant: Grant, signers: &[&crate::SecretKey]) -> Result<Self, String> {
        use ed25519_dalek::Signer as _;
        if signers.is_empty() || signers.len() > MAX_ROOT_KEYS {
            return Err("a certificate is signed by 1 to 16 root keys".to_string());
        }
        let mut bytes = grant.body().map_err(ToString::to_string)?;
        let body_len = bytes.len();
        let message = pae(&[CERT_CONTEXT, &bytes]);
        bytes.push(signers.len() as u8);
        for s in signers {
            bytes.extend_from_slice(&s.signing_key().sign(&message).to_bytes());
        }
        Ok(Certificate {
            grant,
            bytes,
            body_len,
        })
    }

    /// A digest of the whole certificate, for caches of checked ones.
    pub(crate) fn digest(bytes: &[u8]) -> [u8; 32] {
        let mut h = blake2::Blake2b::<blake2::digest::consts::U32>::new();
        h.update(CERT_CONTEXT);
        h.update(bytes);
        h.finalize().into()
    }
}

/// The signatures of a root document or statement (base64url, 64 bytes each; at most twice
/// the keys a root has, as a rotation carries both the old and the new root's).
fn read_signatures(signatures: &[String]) -> Result<Vec<Signature>, VerifyError> {
    if signatures.len() > 2 * MAX_ROOT_KEYS {
        return Err(uncertified("too many signatures on the document"));
    }
    signatures
        .iter()
        .map(|s| {
            b64_decode_array::<64>(s.as_bytes())
                .map(|b| Signature::from_bytes(&b))
                .ok_or(uncertified("a signature is not 64 bytes of base64url"))
        })
        .collect()
}

/// A root: its version, the threshold of signatures it requires, and its public keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    version: u32,
    threshold: u8,
    keys: Vec<PublicKey>,
    /// The document it was read from (signatures included), to hand on.
    document: String,
}

/// `root.json` as written.
#[derive(Serialize, Deserialize)]
struct RootDocument {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    threshold: u8,
    keys: Vec<String>,
    signatures: Vec<String>,
}

impl Root {
    /// Reads a root document and checks that its own keys' threshold signed it.
    pub fn from_json(json: &str) -> Result<Self, VerifyError> {
        let (root, signatures) = Self::parse(json)?;
        if root.count_signers(&root.message(), &signatures) < usize::from(root.threshold) {
            return Err(uncertified(
                "the root document lacks its threshold of signatures",
            ));
        }
        Ok(root)
    }

    fn parse(json: &str) -> Result<(Self, Vec<Signature>), VerifyError> {
        let doc: RootDocument =
            crate::claims::from_json(json.as_bytes(), "the root document is not licd-root JSON")?;
        if doc.kind != ROOT_TYPE {
            return Err(uncertified("the document is not a licd root"));
        }
        if doc.keys.is_empty() || doc.keys.len() > MAX_ROOT_KEYS {
            return Err(uncertified("a root lists 1 to 16 keys"));
        }
        if doc.threshold == 0 || usize::from(doc.threshold) > doc.keys.len() {
            return Err(uncertified(
                "the root's threshold is not between 1 and its number of keys",
            ));
        }
        if doc.version == 0 {
            return Err(uncertified("root versions start at 1"));
        }
        let mut keys: Vec<PublicKey> = Vec::with_capacity(doc.keys.len());
        for k in &doc.keys {
            let key = PublicKey::from_paserk(k)
                .map_err(|_| uncertified("a root key is not a k4.public key"))?;
            if keys.contains(&key) {
                return Err(uncertified("a root key is listed twice"));
            }
            keys.push(key);
        }
        let signatures = read_signatures(&doc.signatures)?;
        Ok((
            Root {
                version: doc.version,
                threshold: doc.threshold,
                keys,
                document: json.to_string(),
            },
            signatures,
        ))
    }

    /// What the root's signatures sign.
    fn message(&self) -> Vec<u8> {
        let version = self.version.to_be_bytes();
        let threshold = [self.threshold];
        let keys: Vec<[u8; 32]> = self.keys.iter().map(PublicKey::to_bytes).collect();
        let mut pieces: Vec<&[u8]> = alloc::vec![ROOT_CONTEXT, &version, &threshold];
        pieces.extend(keys.iter().map(|k| &k[..]));
        pae(&pieces)
    }

    /// How many of this root's keys made one of `signatures` over `message`.
    fn count_signers(&self, message: &[u8], signatures: &[Signature]) -> usize {
        self.keys
            .iter()
            .filter(|k| {
                signatures
                    .iter()
                    .any(|s| k.verifying_key().verify_strict(message, s).is_ok())
            })
            .count()
    }

    /// Checks that `cert` is signed by at least the threshold of this root's keys.
    pub fn check(&self, cert: &Certificate) -> Result<(), VerifyError> {
        let signatures: Vec<Signature> = cert.signatures().collect();
        if self.count_signers(&cert.signed_message(), &signatures) < usize::from(self.threshold) {
            return Err(uncertified(
                "the certificate is not signed by the trusted root's threshold of keys",
            ));
        }
        Ok(())
    }

    /// Reads `json`, the next version of this root, and accepts it only when it is exactly the
    /// next version and both this root's threshold and its own signed it: a stolen old key
    /// cannot make a root alone, and a new root cannot appoint itself.
    pub fn accept_next(&self, json: &str) -> Result<Root, VerifyError> {
        let (next, signatures) = Self::parse(json)?;
        if Some(next.version) != self.version.checked_add(1) {
            return Err(uncertified(
                "a root document must be the next version of the trusted one",
            ));
        }
        let message = next.message();
        if next.count_signers(&message, &signatures) < usize::from(next.threshold) {
            return Err(uncertified(
                "the new root lacks its own threshold of signatures",
            ));
        }
        if self.count_signers(&message, &signatures) < usize::from(self.threshold) {
            return Err(uncertified(
                "the new root lacks the threshold of the trusted root's signatures",
            ));
        }
        Ok(next)
    }

    /// Follows `documents` (each the next version, in order) from this root, and returns the
    /// newest root reached; documents not newer than this one are skipped, so the whole chain
    /// licd serves can be passed.
    pub fn follow<'a>(
        &self,
        documents: impl IntoIterator<Item = &'a str>,
    ) -> Result<Root, VerifyError> {
        let mut current = self.clone();
        for doc in documents {
            let (parsed, _) = Self::parse(doc)?;
            if parsed.version <= current.version {
                continue;
            }
            current = current.accept_next(doc)?;
        }
        Ok(current)
    }

    /// Its version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The number of its keys' signatures a certificate or the next root needs.
    pub fn threshold(&self) -> u8 {
        self.threshold
    }

    /// Its public keys.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// The document it was read from: what an application stores beside its state.
    pub fn to_json(&self) -> &str {
        &self.document
    }

    /// Writes and signs a root document: `version`, `threshold` of `keys`, signed by `signers`
    /// (secret keys of this root's keys and, for a rotation, of the previous root's).
    #[cfg(feature = "sign")]
    pub fn sign(
        version: u32,
        threshold: u8,
        keys: &[PublicKey],
        signers: &[&crate::SecretKey],
    ) -> Result<Root, String> {
        use ed25519_dalek::Signer as _;
        let unsigned = Root {
            version,
            threshold,
            keys: keys.to_vec(),
            document: String::new(),
        };
        let message = unsigned.message();
        let doc = RootDocument {
            kind: ROOT_TYPE.to_string(),
            version,
            threshold,
            keys: keys.iter().map(PublicKey::to_paserk).collect(),
            signatures: signers
                .iter()
                .map(|s| b64_encode(&s.signing_key().sign(&message).to_bytes()))
                .collect(),
        };
        let json = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        Root::parse(&json)
            .map(|(root, _)| root)
            .map_err(|e| e.to_string())
    }
}

const KEY_REVOCATIONS_CONTEXT: &[u8] = b"licd-key-revocations-v1";
const KEY_REVOCATIONS_TYPE: &str = "licd-key-revocations";
/// The most issuing keys one statement revokes.
pub const MAX_REVOKED_KEYS: usize = 256;

/// A statement of the root that issuing keys are revoked: tokens and revocation lists they
/// signed are refused from then on, whatever their certificates say. Cumulative (each lists
/// every key revoked so far) and numbered; signed by the threshold of the root version it
/// names. It also sets the floor of the license revocation list's sequence (`list_floor`): a
/// stolen key that may sign lists could publish one with an absurd sequence number, after which
/// no honest list would ever be newer; the root's statement puts the floor back where licd's
/// own lists are.
///
/// `{"type":"licd-key-revocations","root_version":1,"seq":1,"revoked":["k4.pid.…"],
/// "list_floor":12,"signatures":["…"]}`, the signatures over `PAE("licd-key-revocations-v1",
/// root version as 4 bytes, seq as 8 bytes, list floor as 8 bytes (all big-endian), each key id)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRevocations {
    root_version: u32,
    seq: u64,
    revoked: Vec<String>,
    list_floor: u64,
    document: String,
}

#[derive(Serialize, Deserialize)]
struct KeyRevocationsDocument {
    #[serde(rename = "type")]
    kind: String,
    root_version: u32,
    seq: u64,
    revoked: Vec<String>,
    list_floor: u64,
    signatures: Vec<String>,
}

impl KeyRevocations {
    fn message(root_version: u32, seq: u64, list_floor: u64, revoked: &[String]) -> Vec<u8> {
        let (v, s, f) = (
            root_version.to_be_bytes(),
            seq.to_be_bytes(),
            list_floor.to_be_bytes(),
        );
        let mut pieces: Vec<&[u8]> = alloc::vec![KEY_REVOCATIONS_CONTEXT, &v, &s, &f];
        pieces.extend(revoked.iter().map(String::as_bytes));
        pae(&pieces)
    }

    /// Reads a statement and checks that `root` (the version it names) signed it with its
    /// threshold.
    pub fn from_json(json: &str, root: &Root) -> Result<Self, VerifyError> {
        let doc: KeyRevocationsDocument = crate::claims::from_json(
            json.as_bytes(),
            "the key revocations are not licd-key-revocations JSON",
        )?;
        if doc.kind != KEY_REVOCATIONS_TYPE {
            return Err(uncertified(
                "the document is not a licd key revocation statement",
            ));
        }
        if doc.root_version != root.version {
            return Err(uncertified(
                "the key revocations are signed under another root version than the one trusted",
            ));
        }
        if doc.revoked.len() > MAX_REVOKED_KEYS {
            return Err(uncertified(
                "the key revocation statement names too many keys",
            ));
        }
        let signatures = read_signatures(&doc.signatures)?;
        let message = Self::message(doc.root_version, doc.seq, doc.list_floor, &doc.revoked);
        if root.count_signers(&message, &signatures) < usize::from(root.threshold) {
            return Err(uncertified(
                "the key revocations lack the trusted root's threshold of signatures",
            ));
        }
        Ok(KeyRevocations {
            root_version: doc.root_version,
            seq: doc.seq,
            revoked: doc.revoked,
            list_floor: doc.list_floor,
            document: json.to_string(),
        })
    }

    /// Writes and signs a statement under `root_version` with `signers` (root secrets).
    #[cfg(feature = "sign")]
    pub fn sign(
        root_version: u32,
        seq: u64,
        revoked: Vec<String>,
        list_floor: u64,
        signers: &[&crate::SecretKey],
    ) -> Result<String, String> {
        use ed25519_dalek::Signer as _;
        if revoked.len() > MAX_REVOKED_KEYS {
            return Err("a statement revokes at most 256 keys".to_string());
        }
        let message = Self::message(root_version, seq, list_floor, &revoked);
        let doc = KeyRevocationsDocument {
            kind: KEY_REVOCATIONS_TYPE.to_string(),
            root_version,
            seq,
            revoked,
            list_floor,
            signatures: signers
                .iter()
                .map(|s| b64_encode(&s.signing_key().sign(&message).to_bytes()))
                .collect(),
        };
        serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())
    }

    /// Its number: a newer statement has a higher one.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The key ids revoked.
    pub fn revoked(&self) -> &[String] {
        &self.revoked
    }

    /// Whether key `kid` is revoked.
    pub fn revokes(&self, kid: &str) -> bool {
        self.revoked.iter().any(|k| k == kid)
    }

    /// The floor it sets for the license revocation list's sequence.
    pub fn list_floor(&self) -> u64 {
        self.list_floor
    }

    /// The root version that signed it.
    pub fn root_version(&self) -> u32 {
        self.root_version
    }

    /// The document, as read.
    pub fn to_json(&self) -> &str {
        &self.document
    }
}
