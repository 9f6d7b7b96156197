//! Air-gapped activation: the request a machine without a network makes (`lor1.…`) and the
//! receipt it makes when it gives its seat back (`ldr1.…`).
//!
//! A **request** names the license, carries the device binding computed on the machine (salted
//! hashes, never raw serials) and the machine's device public key, proves that its maker holds
//! the license token without containing it, and is signed with the device key. licd answers it
//! with a token bound to that binding. At most [`MAX_REQUEST_LEN`] characters: it fits one QR code.
//!
//! A **receipt** names the license and the binding's salt (which identifies the seat) and is
//! signed with the same device key, so only the machine that took the seat can give it back, and
//! a seat once freed cannot be freed again.
//!
//! Both are base64url (no padding) of a small binary form after the prefix; see [`Request`] and
//! [`Receipt`]. [`state`] keeps the device key on the machine (feature `offline`).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use blake2::Blake2bVar;
use blake2::digest::{Update, VariableOutput};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use subtle::ConstantTimeEq;

use crate::fingerprint::Binding;
use crate::paseto::{b64_decode, b64_encode};

pub mod site;
#[cfg(feature = "offline")]
pub mod state;

/// What every request starts with.
pub const REQUEST_PREFIX: &str = "lor1.";
/// What every deactivation receipt starts with.
pub const RECEIPT_PREFIX: &str = "ldr1.";
/// The longest request: one QR code at error-correction level M holds 1,273 characters in byte
/// mode; 700 leaves room for a URL around it and for a lower-resolution print.
pub const MAX_REQUEST_LEN: usize = 700;
/// The longest license id a request or receipt carries (the marketplace's `instanceId` is at
/// most 64 characters).
pub const MAX_LICENSE_ID_LEN: usize = 128;

const PROOF_LEN: usize = 16;
const REQUEST_DOMAIN: &[u8] = b"licd-offline-request-v1\0";
const RECEIPT_DOMAIN: &[u8] = b"licd-offline-receipt-v1\0";
const POSSESSION_DOMAIN: &[u8] = b"licd-offline-possession-v1\0";

/// Why a request or receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OfflineError {
    /// Not a request or receipt of this version: prefix, encoding, length or layout.
    Malformed(&'static str),
    /// The device signature does not verify.
    BadSignature,
    /// The license token cannot be used to make a request: the reason.
    License(String),
    /// Reading or writing the device state failed: the reason.
    State(String),
}

impl fmt::Display for OfflineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OfflineError::Malformed(why) => write!(f, "malformed: {why}"),
            OfflineError::BadSignature => f.write_str("the device signature does not verify"),
            OfflineError::License(why) => write!(f, "license: {why}"),
            OfflineError::State(why) => write!(f, "device state: {why}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for OfflineError {}

impl OfflineError {
    /// A stable name for the language bindings' errors, as the C ABI's result names:
    /// `NotALicense`, `OfflineState`, `Malformed` or `BadSignature`.
    pub fn name(&self) -> &'static str {
        match self {
            OfflineError::Malformed(_) => "Malformed",
            OfflineError::BadSignature => "BadSignature",
            OfflineError::License(_) => "NotALicense",
            OfflineError::State(_) => "OfflineState",
        }
    }
}

/// How a device public key is written where it is stored or shown: base64url, no padding.
pub fn device_id(public: &[u8; 32]) -> String {
    b64_encode(public)
}

/// A machine's device key: an Ed25519 key pair made on the machine, never leaving it. Its public
/// half is registered with the seat; the private half signs the requests and the receipt.
pub struct DeviceKey(pub(crate) SigningKey);

impl DeviceKey {
    /// The key from its 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        DeviceKey(SigningKey::from_bytes(seed))
    }

    /// The seed, to keep on the machine (owner-only).
    pub fn seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    /// The public key, as registered with the seat.
    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }
}

impl fmt::Debug for DeviceKey {
    /// The public half only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceKey({})", b64_encode(&self.public()))
    }
}

/// An activation request, decoded.
///
/// Binary form: `u8 id length, id, u8 binding length, binding (its token form), 32-byte device
/// public key, 16-byte possession proof, 64-byte Ed25519 signature`. The proof is a BLAKE2b MAC of
/// everything before it, keyed by a hash of the license token; the signature, by the device key,
/// covers everything before it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Request {
    license: String,
    binding: Binding,
    device: [u8; 32],
    proof: [u8; PROOF_LEN],
}

impl Request {
    /// A request for the license `license_id` whose token is `license_token`, bound to
    /// `binding`, signed with `key`.
    pub fn create(
        license_id: &str,
        license_token: &str,
        binding: Binding,
        key: &DeviceKey,
    ) -> Result<String, OfflineError> {
        check_license_id(license_id)?;
        let request = Request {
            license: license_id.to_string(),
            binding,
            device: key.public(),
            proof: [0; PROOF_LEN],
        };
        seal(
            REQUEST_PREFIX,
            REQUEST_DOMAIN,
            request.body(),
            Some(license_token),
            key,
        )
    }

    /// Reads `text` and checks its device signature. Whether its maker holds the license is
    /// checked separately, with the token the issuer knows ([`Request::proves_possession_of`]).
    pub fn open(text: &str) -> Result<Self, OfflineError> {
        let text = text.trim();
        if text.len() > MAX_REQUEST_LEN {
            return Err(OfflineError::Malformed("longer than 700 characters"));
        }
        let bytes = decode(REQUEST_PREFIX, text)?;
        let mut r = Reader(&bytes);
        let license = r.string(MAX_LICENSE_ID_LEN)?;
        let binding_text = r.string(usize::from(u8::MAX))?;
        let binding = Binding::decode(&binding_text)
            .filter(|b| b.encode() == binding_text)
            .ok_or(OfflineError::Malformed(
                "the device binding is not in its token form",
            ))?;
        let device = r.array::<32>()?;
        let signed_len = bytes.len() - r.0.len();
        let proof = r.array::<PROOF_LEN>()?;
        let signature = r.array::<64>()?;
        if !r.0.is_empty() {
            return Err(OfflineError::Malformed("bytes after the signature"));
        }
        let body = &bytes[..signed_len + PROOF_LEN];
        verify(&device, REQUEST_DOMAIN, body, &signature)?;
        Ok(Request {
            license,
            binding,
            device,
            proof,
        })
    }

    /// The license asked for.
    pub fn license(&self) -> &str {
        &self.license
    }

    /// The device binding the token is to carry.
    pub fn binding(&self) -> &Binding {
        &self.binding
    }

    /// The device public key that will sign this seat's receipt.
    pub fn device(&self) -> &[u8; 32] {
        &self.device
    }

    /// Whether the maker of this request held `license_token` (compared in constant time).
    pub fn proves_possession_of(&self, license_token: &str) -> bool {
        let expected = possession_proof(license_token, &self.body());
        bool::from(expected.ct_eq(&self.proof))
    }

    /// Everything the proof covers.
    fn body(&self) -> Vec<u8> {
        let binding = self.binding.encode();
        let mut body = Vec::with_capacity(2 + self.license.len() + binding.len() + 32);
        push_string(&mut body, &self.license);
        push_string(&mut body, &binding);
        body.extend_from_slice(&self.device);
        body
    }
}

/// A deactivation receipt, decoded.
///
/// Binary form: `u8 id length, id, 8-byte binding salt, 32-byte device public key, 64-byte
/// Ed25519 signature` over everything before it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Receipt {
    license: String,
    salt: [u8; 8],
    device: [u8; 32],
}

impl Receipt {
    /// The receipt giving back the seat of license `license_id` whose binding was made with
    /// `salt`, signed with `key`.
    pub fn create(
        license_id: &str,
        salt: [u8; 8],
        key: &DeviceKey,
    ) -> Result<String, OfflineError> {
        check_license_id(license_id)?;
        let receipt = Receipt {
            license: license_id.to_string(),
            salt,
            device: key.public(),
        };
        seal(RECEIPT_PREFIX, RECEIPT_DOMAIN, receipt.body(), None, key)
    }

    /// Reads `text` and checks its device signature. Whether the key is the one the seat was
    /// taken with is for the issuer to check ([`Receipt::device`]).
    pub fn open(text: &str) -> Result<Self, OfflineError> {
        let text = text.trim();
        if text.len() > MAX_REQUEST_LEN {
            return Err(OfflineError::Malformed("longer than 700 characters"));
        }
        let bytes = decode(RECEIPT_PREFIX, text)?;
        let mut r = Reader(&bytes);
        let license = r.string(MAX_LICENSE_ID_LEN)?;
        let salt = r.array::<8>()?;
        let device = r.array::<32>()?;
        let signed_len = bytes.len() - r.0.len();
        let signature = r.array::<64>()?;
        if !r.0.is_empty() {
            return Err(OfflineError::Malformed("bytes after the signature"));
        }
        verify(&device, RECEIPT_DOMAIN, &bytes[..signed_len], &signature)?;
        Ok(Receipt {
            license,
            salt,
            device,
        })
    }

    /// The license whose seat is given back.
    pub fn license(&self) -> &str {
        &self.license
    }

    /// The device public key that signed it.
    pub fn device(&self) -> &[u8; 32] {
        &self.device
    }

    /// Whether `binding` is the one this receipt gives back (the same salt).
    pub fn names(&self, binding: &Binding) -> bool {
        binding.salt() == &self.salt
    }

    fn body(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(1 + self.license.len() + 40);
        push_string(&mut body, &self.license);
        body.extend_from_slice(&self.salt);
        body.extend_from_slice(&self.device);
        body
    }
}

/// Refuses a license id a request or receipt cannot carry.
fn check_license_id(license_id: &str) -> Result<(), OfflineError> {
    if license_id.is_empty() || license_id.len() > MAX_LICENSE_ID_LEN {
        return Err(OfflineError::License(
            "its id is empty or longer than 128 bytes".to_string(),
        ));
    }
    Ok(())
}

/// `body` completed and encoded: the proof of possession of `license_token` (for a request),
/// then `key`'s signature under `domain` over everything before it, after `prefix`. Refused
/// when longer than [`MAX_REQUEST_LEN`] (one QR code).
fn seal(
    prefix: &str,
    domain: &[u8],
    mut body: Vec<u8>,
    license_token: Option<&str>,
    key: &DeviceKey,
) -> Result<String, OfflineError> {
    if let Some(token) = license_token {
        let proof = possession_proof(token, &body);
        body.extend_from_slice(&proof);
    }
    let signature = key.0.sign(&signed(domain, &body));
    body.extend_from_slice(&signature.to_bytes());
    let text = encode(prefix, &body);
    if text.len() > MAX_REQUEST_LEN {
        return Err(OfflineError::License(alloc::format!(
            "it would be {} characters, more than {MAX_REQUEST_LEN}",
            text.len()
        )));
    }
    Ok(text)
}

/// The MAC proving possession of `license_token` over `body`: BLAKE2b-128 of the body under a
/// key hashed from the whole token (BLAKE2b is not open to length extension, so a prefix key is
/// a MAC).
fn possession_proof(license_token: &str, body: &[u8]) -> [u8; PROOF_LEN] {
    let mut key = [0u8; 32];
    let mut h = Blake2bVar::new(32).unwrap_or_else(|_| unreachable!("32 is a valid length"));
    h.update(POSSESSION_DOMAIN);
    h.update(license_token.trim().as_bytes());
    h.finalize_variable(&mut key)
        .unwrap_or_else(|_| unreachable!("the buffer has the requested length"));
    let mut proof = [0u8; PROOF_LEN];
    let mut h = Blake2bVar::new(PROOF_LEN).unwrap_or_else(|_| unreachable!("16 is valid"));
    h.update(&key);
    h.update(body);
    h.finalize_variable(&mut proof)
        .unwrap_or_else(|_| unreachable!("the buffer has the requested length"));
    proof
}

fn signed(domain: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(domain.len() + body.len());
    m.extend_from_slice(domain);
    m.extend_from_slice(body);
    m
}

fn verify(
    device: &[u8; 32],
    domain: &[u8],
    body: &[u8],
    sig: &[u8; 64],
) -> Result<(), OfflineError> {
    let key = VerifyingKey::from_bytes(device).map_err(|_| OfflineError::BadSignature)?;
    key.verify(&signed(domain, body), &Signature::from_bytes(sig))
        .map_err(|_| OfflineError::BadSignature)
}

fn push_string(out: &mut Vec<u8>, s: &str) {
    // Callers hold ids to MAX_LICENSE_ID_LEN and bindings are far below 255 bytes.
    out.push(u8::try_from(s.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&s.as_bytes()[..s.len().min(255)]);
}

fn encode(prefix: &str, body: &[u8]) -> String {
    let mut s = String::with_capacity(prefix.len() + body.len() * 4 / 3 + 4);
    s.push_str(prefix);
    s.push_str(&b64_encode(body));
    s
}

fn decode(prefix: &'static str, text: &str) -> Result<Vec<u8>, OfflineError> {
    let rest = text
        .strip_prefix(prefix)
        .ok_or(if prefix == REQUEST_PREFIX {
            OfflineError::Malformed("a request starts with lor1.")
        } else {
            OfflineError::Malformed("a receipt starts with ldr1.")
        })?;
    b64_decode(rest).map_err(|_| OfflineError::Malformed("not base64url without padding"))
}

/// Reads the binary form front to back.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], OfflineError> {
        if self.0.len() < N {
            return Err(OfflineError::Malformed("too short"));
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        let mut a = [0u8; N];
        a.copy_from_slice(head);
        Ok(a)
    }

    fn string(&mut self, max: usize) -> Result<String, OfflineError> {
        let [len] = self.array::<1>()?;
        let len = usize::from(len);
        if len == 0 || len > max || self.0.len() < len {
            return Err(OfflineError::Malformed("a field's length is out of range"));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        core::str::from_utf8(head)
            .map(str::to_string)
            .map_err(|_| OfflineError::Malformed("a field is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Fingerprint;

    fn key(n: u8) -> DeviceKey {
        DeviceKey::from_seed(&[n; 32])
    }

    fn binding(salt: u8) -> Binding {
        let fp = Fingerprint::parse("AA:BB|DISK-1|BOARD-1|CPU-1").unwrap();
        Binding::new(&fp, [salt; 8])
    }

    #[test]
    fn a_request_round_trips_and_proves_only_its_token() {
        let text = Request::create("lic-1", "v4.public.token", binding(1), &key(1)).unwrap();
        assert!(text.starts_with(REQUEST_PREFIX));
        let r = Request::open(&text).unwrap();
        assert_eq!(r.license(), "lic-1");
        assert_eq!(r.binding(), &binding(1));
        assert_eq!(r.device(), &key(1).public());
        assert!(r.proves_possession_of("v4.public.token"));
        assert!(!r.proves_possession_of("v4.public.other"));
    }

    #[test]
    fn a_changed_byte_anywhere_is_refused() {
        let text = Request::create("lic-1", "t", binding(1), &key(1)).unwrap();
        let bytes = decode(REQUEST_PREFIX, &text).unwrap();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(
                Request::open(&encode(REQUEST_PREFIX, &b)).is_err(),
                "byte {i}"
            );
        }
        let text = Receipt::create("lic-1", [7; 8], &key(1)).unwrap();
        let bytes = decode(RECEIPT_PREFIX, &text).unwrap();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(
                Receipt::open(&encode(RECEIPT_PREFIX, &b)).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn a_receipt_names_its_salt_and_key() {
        let text = Receipt::create("lic-1", [1; 8], &key(2)).unwrap();
        let r = Receipt::open(&text).unwrap();
        assert_eq!(r.license(), "lic-1");
        assert_eq!(r.device(), &key(2).public());
        assert!(r.names(&binding(1)));
        assert!(!r.names(&binding(2)));
        assert!(Request::open(&text).is_err(), "a receipt is not a request");
    }

    #[test]
    fn the_longest_request_fits_a_qr_code() {
        let fp = Fingerprint::parse(&alloc::format!("{0}|{0}|{0}|{0}", "A,B,C,D,E,F,G,H")).unwrap();
        let long_id = "x".repeat(MAX_LICENSE_ID_LEN);
        let text = Request::create(&long_id, "t", Binding::new(&fp, [9; 8]), &key(3)).unwrap();
        assert!(text.len() <= MAX_REQUEST_LEN, "{} characters", text.len());
        assert!(Request::open(&text).is_ok());
        let too_long = "x".repeat(MAX_LICENSE_ID_LEN + 1);
        assert!(Request::create(&too_long, "t", binding(1), &key(3)).is_err());
    }
}
