//! Keys as PASERK strings: `k4.public.…`, `k4.secret.…`, and the key id `k4.pid.…` that a
//! token's footer names (PASERK specification, version 4).
//!
//! Weak (small-order) public keys are refused when a key is read, so no later check has to
//! remember to. Secret keys never print: their `Debug` is redacted and their memory is zeroed on
//! drop by ed25519-dalek.

use alloc::string::String;
use core::fmt;

use blake2::Blake2bVar;
use blake2::digest::{Update, VariableOutput};
use ed25519_dalek::VerifyingKey;

use crate::paseto::{b64_decode, b64_encode};

const PUBLIC_PREFIX: &str = "k4.public.";
const PID_PREFIX: &str = "k4.pid.";
#[cfg(feature = "sign")]
const SECRET_PREFIX: &str = "k4.secret.";

/// Why a key string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Not a PASERK string of the expected type and version.
    WrongType {
        /// What was expected, such as `k4.public`.
        expected: &'static str,
    },
    /// The key bytes are not valid base64url or have the wrong length.
    Encoding,
    /// The public key is not a valid ed25519 point, or is a weak (small-order) one.
    InvalidKey,
    /// A `k4.secret` whose public half does not belong to its seed.
    Inconsistent,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::WrongType { expected } => write!(f, "not a {expected} PASERK key"),
            KeyError::Encoding => f.write_str("key is not 32/64 bytes of unpadded base64url"),
            KeyError::InvalidKey => f.write_str("not a valid, non-weak ed25519 public key"),
            KeyError::Inconsistent => {
                f.write_str("k4.secret key: public half does not match the seed")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for KeyError {}

/// A PASERK `k4.pid` key id: which key signed a token, without revealing anything secret.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// The id as a string, `k4.pid.…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// An ed25519 public key that verifies tokens, with its key id computed once.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: KeyId,
}

impl PublicKey {
    /// Reads a `k4.public.…` PASERK string.
    pub fn from_paserk(s: &str) -> Result<Self, KeyError> {
        let body = s
            .trim()
            .strip_prefix(PUBLIC_PREFIX)
            .ok_or(KeyError::WrongType {
                expected: "k4.public",
            })?;
        let bytes: [u8; 32] = b64_decode(body)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::Encoding)?;
        Self::from_bytes(&bytes)
    }

    /// A public key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidKey)?;
        if key.is_weak() {
            return Err(KeyError::InvalidKey);
        }
        Ok(Self::from_verifying_key(key))
    }

    fn from_verifying_key(key: VerifyingKey) -> Self {
        let id = pid(&paserk_public(&key));
        PublicKey { key, id }
    }

    /// The `k4.public.…` PASERK string.
    pub fn to_paserk(&self) -> String {
        paserk_public(&self.key)
    }

    /// The `k4.pid.…` key id that tokens signed by this key carry in their footer.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("paserk", &self.to_paserk())
            .field("id", &self.id)
            .finish()
    }
}

fn paserk_public(key: &VerifyingKey) -> String {
    let mut s = String::from(PUBLIC_PREFIX);
    s.push_str(&b64_encode(key.as_bytes()));
    s
}

/// PASERK `k4.pid`: BLAKE2b with a 33-byte output over the id header and the public PASERK.
fn pid(public_paserk: &str) -> KeyId {
    let mut digest = [0u8; 33];
    // 33 is a valid BLAKE2b output size, so neither call can fail.
    if let Ok(mut h) = Blake2bVar::new(digest.len()) {
        h.update(PID_PREFIX.as_bytes());
        h.update(public_paserk.as_bytes());
        let _ = h.finalize_variable(&mut digest);
    }
    let mut s = String::from(PID_PREFIX);
    s.push_str(&b64_encode(&digest));
    KeyId(s)
}

/// An ed25519 signing key. Only the issuer (the daemon) has these; shipped software never should.
///
/// Cloning copies the secret; each copy is zeroed when dropped.
#[cfg(feature = "sign")]
#[derive(Clone)]
pub struct SecretKey {
    key: ed25519_dalek::SigningKey,
    public: PublicKey,
}

#[cfg(feature = "sign")]
impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self, rand::Error> {
        use rand::RngCore as _;
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        // try_fill_bytes, not SigningKey::generate: a failing source is an error, not a panic.
        rand::rngs::OsRng.try_fill_bytes(seed.as_mut())?;
        Ok(Self::from_seed(&seed))
    }

    /// The key whose 32-byte seed is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        let public = PublicKey::from_verifying_key(key.verifying_key());
        SecretKey { key, public }
    }

    /// Reads a `k4.secret.…` PASERK string (seed followed by public key, 64 bytes).
    pub fn from_paserk(s: &str) -> Result<Self, KeyError> {
        let body = s
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(KeyError::WrongType {
                expected: "k4.secret",
            })?;
        let bytes = zeroize::Zeroizing::new(b64_decode(body).map_err(|_| KeyError::Encoding)?);
        if bytes.len() != 64 {
            return Err(KeyError::Encoding);
        }
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&bytes[..32]);
        let key = Self::from_seed(&seed);
        if key.public.to_bytes()[..] != bytes[32..] {
            return Err(KeyError::Inconsistent);
        }
        Ok(key)
    }

    /// The `k4.secret.…` PASERK string. Handle with care: it is the signing key.
    pub fn to_paserk(&self) -> zeroize::Zeroizing<String> {
        let mut bytes = zeroize::Zeroizing::new([0u8; 64]);
        bytes[..32].copy_from_slice(self.key.as_bytes());
        bytes[32..].copy_from_slice(&self.public.to_bytes());
        let mut s = zeroize::Zeroizing::new(String::from(SECRET_PREFIX));
        s.push_str(&b64_encode(bytes.as_ref()));
        s
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub(crate) fn signing_key(&self) -> &ed25519_dalek::SigningKey {
        &self.key
    }
}

#[cfg(feature = "sign")]
impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", self.public.id())
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_other_paserk_types() {
        assert_eq!(
            PublicKey::from_paserk("k3.public.AAAA"),
            Err(KeyError::WrongType {
                expected: "k4.public"
            })
        );
        assert_eq!(
            PublicKey::from_paserk("k4.public.AAAA"),
            Err(KeyError::Encoding)
        );
    }

    #[test]
    fn refuses_weak_public_keys() {
        // The identity point: every signature under it is forgeable.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity), Err(KeyError::InvalidKey));
    }

    #[cfg(feature = "sign")]
    #[test]
    fn secret_paserk_round_trips_and_debug_hides_it() {
        let key = SecretKey::from_seed(&[7u8; 32]);
        let text = key.to_paserk();
        let back = SecretKey::from_paserk(&text).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        let debug = alloc::format!("{key:?}");
        assert!(!debug.contains(&text[SECRET_PREFIX.len()..]));
        assert!(debug.contains("redacted"));
    }

    #[cfg(feature = "sign")]
    #[test]
    fn refuses_secret_with_foreign_public_half() {
        let a = SecretKey::from_seed(&[1u8; 32]);
        let b = SecretKey::from_seed(&[2u8; 32]);
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&[1u8; 32]);
        bytes[32..].copy_from_slice(&b.public_key().to_bytes());
        let forged = alloc::format!("k4.secret.{}", b64_encode(&bytes));
        assert_eq!(
            SecretKey::from_paserk(&forged).map(|k| k.public_key().clone()),
            Err(KeyError::Inconsistent)
        );
        assert_ne!(a.public_key(), b.public_key());
    }
}
