//! Small primitives every layer uses, written once: hex, HMAC-SHA256, constant-time comparison
//! and randomness from the operating system. A leaf: it imports nothing from the crate.

use hmac::digest::{Digest, KeyInit, Mac};
use hmac::{Hmac, digest::Key};
use rand::RngCore as _;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

type HmacSha256 = Hmac<Sha256>;

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    encode_hex(bytes, b"0123456789abcdef")
}

/// Upper-case hex.
pub fn hex_upper(bytes: &[u8]) -> String {
    encode_hex(bytes, b"0123456789ABCDEF")
}

fn encode_hex(bytes: &[u8], digits: &[u8; 16]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(digits[usize::from(b >> 4)]));
        out.push(char::from(digits[usize::from(b & 0xf)]));
    }
    out
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    Sha256::digest(bytes).into()
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length (RFC 2104 §2: a longer key is hashed, a shorter one
    // zero-padded to the block). Doing that padding here, as `new_from_slice` does inside,
    // lets us use the constructor that cannot fail instead of unwrapping one that never does.
    let mut block = Key::<HmacSha256>::default();
    if key.len() > block.len() {
        let digest = Sha256::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut mac = <HmacSha256 as KeyInit>::new(&block);
    block.as_mut_slice().zeroize();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time equality; only the lengths, which are public, may leak.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// `N` bytes from the operating system's random source (keys, tokens, salts, nonces, ids).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| RandomError(e.to_string()))?;
    Ok(bytes)
}

/// The operating system gave no randomness.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no randomness from the operating system: {0}")]
pub struct RandomError(String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_in_both_cases() {
        assert_eq!(hex(&[0x00, 0x9f, 0xff]), "009fff");
        assert_eq!(hex_upper(&[0x00, 0x9f, 0xff]), "009FFF");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn hmac_matches_the_hmac_crate_for_every_key_length_class() {
        for len in [0, 1, 36, 63, 64, 65, 200] {
            let key: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
            let mut reference = <HmacSha256 as Mac>::new_from_slice(&key).unwrap();
            reference.update(b"hello, world");
            let expected: [u8; 32] = reference.finalize().into_bytes().into();
            assert_eq!(
                hmac_sha256(&key, &[b"hello", b", ", b"world"]),
                expected,
                "{len}"
            );
        }
    }

    #[test]
    fn ct_eq_compares_content_and_length() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn random_bytes_differ() {
        let (a, b) = (random_bytes::<16>().unwrap(), random_bytes::<16>().unwrap());
        assert_ne!(a, b);
    }
}
