//! PASETO v4.public: the wire format of every token, as the public PASETO specification defines
//! it (ed25519 over the pre-authentication encoding of header, message, footer and implicit
//! assertion).
//!
//! This module knows bytes and keys only; what the message means is `claims`' business.
//! Parsing is strict: a token that is not exactly `v4.public.<payload>[.<footer>]` in unpadded,
//! canonical base64url is malformed, whatever its signature.

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};

use crate::VerifyError;

/// The header every v4.public token starts with.
pub const HEADER: &str = "v4.public.";

const SIG_LEN: usize = 64;

/// The parts of a token whose signature has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signed message (the claims, for licd tokens).
    pub message: Vec<u8>,
    /// The footer, decoded; empty when the token has none.
    pub footer: Vec<u8>,
}

/// A token split at its dots and decoded, signature not yet checked.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// Message followed by the 64-byte signature.
    payload: Vec<u8>,
    pub(crate) footer: Vec<u8>,
}

impl Parsed {
    /// Splits and decodes `token`, rejecting anything that is not canonical v4.public.
    pub(crate) fn new(token: &str) -> Result<Self, VerifyError> {
        let rest = token.strip_prefix(HEADER).ok_or(VerifyError::Malformed {
            reason: "not a v4.public token",
        })?;
        let (payload, footer) = match rest.split_once('.') {
            Some((p, f)) if !f.is_empty() => (p, Some(f)),
            // `v4.public.x.` would be a different string signing the same bytes: refuse it.
            Some(_) => {
                return Err(VerifyError::Malformed {
                    reason: "empty footer after a dot",
                });
            }
            None => (rest, None),
        };
        let payload = b64_decode(payload)?;
        if payload.len() <= SIG_LEN {
            return Err(VerifyError::Malformed {
                reason: "payload shorter than a signature",
            });
        }
        let footer = match footer {
            Some(f) => b64_decode(f)?,
            None => Vec::new(),
        };
        Ok(Parsed { payload, footer })
    }

    /// The message and footer with the signature dropped, unchecked.
    pub(crate) fn into_unverified(mut self) -> (Vec<u8>, Vec<u8>) {
        self.payload.truncate(self.payload.len() - SIG_LEN);
        (self.payload, self.footer)
    }

    /// Checks the signature with `key` and gives the message and footer back.
    pub(crate) fn verify(
        self,
        key: &VerifyingKey,
        implicit: &[u8],
    ) -> Result<Verified, VerifyError> {
        let split = self.payload.len() - SIG_LEN;
        let (message, sig) = self.payload.split_at(split);
        let sig: &[u8; SIG_LEN] = sig.try_into().map_err(|_| VerifyError::Malformed {
            reason: "signature length",
        })?;
        let sig = Signature::from_bytes(sig);
        let m2 = pae(&[HEADER.as_bytes(), message, &self.footer, implicit]);
        key.verify_strict(&m2, &sig)
            .map_err(|_| VerifyError::BadSignature)?;
        let mut message = self.payload;
        message.truncate(split);
        Ok(Verified {
            message,
            footer: self.footer,
        })
    }
}

/// Verifies a v4.public `token` with one public key and an implicit assertion.
///
/// This is the bare PASETO operation, for interoperability tests and for tokens that are not
/// licenses; applications use [`crate::Verifier`], which also checks the claims.
pub fn verify(
    key: &crate::PublicKey,
    token: &str,
    implicit: &[u8],
) -> Result<Verified, VerifyError> {
    Parsed::new(token)?.verify(key.verifying_key(), implicit)
}

/// Signs `message` with `footer` and `implicit` into a v4.public token.
#[cfg(feature = "sign")]
pub fn sign(key: &crate::SecretKey, message: &[u8], footer: &[u8], implicit: &[u8]) -> String {
    use ed25519_dalek::Signer as _;
    let m2 = pae(&[HEADER.as_bytes(), message, footer, implicit]);
    let sig = key.signing_key().sign(&m2);
    let mut payload = Vec::with_capacity(message.len() + SIG_LEN);
    payload.extend_from_slice(message);
    payload.extend_from_slice(&sig.to_bytes());
    let mut token =
        String::with_capacity(HEADER.len() + 4 * (payload.len() + footer.len()) / 3 + 4);
    token.push_str(HEADER);
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    if !footer.is_empty() {
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(footer, &mut token);
    }
    token
}

/// Pre-authentication encoding: the piece count, then each piece prefixed by its length, all as
/// 64-bit little-endian integers with the top bit clear.
pub fn pae(pieces: &[&[u8]]) -> Vec<u8> {
    let len = 8 + pieces.iter().map(|p| 8 + p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&le64(pieces.len()));
    for p in pieces {
        out.extend_from_slice(&le64(p.len()));
        out.extend_from_slice(p);
    }
    out
}

fn le64(n: usize) -> [u8; 8] {
    // usize is at most 64 bits on every supported target; clearing the top bit is the spec's rule.
    ((n as u64) & (u64::MAX >> 1)).to_le_bytes()
}

/// Decodes unpadded, canonical base64url; padding, other alphabets and non-zero trailing bits
/// are all rejected, so each token has exactly one spelling.
pub(crate) fn b64_decode(s: &str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| VerifyError::Malformed {
            reason: "invalid base64url",
        })
}

/// Encodes unpadded base64url.
pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_specification_examples() {
        assert_eq!(pae(&[]), b"\x00\x00\x00\x00\x00\x00\x00\x00");
        assert_eq!(
            pae(&[b""]),
            b"\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        );
        assert_eq!(
            pae(&[b"test"]),
            b"\x01\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00test"
        );
    }

    #[test]
    fn rejects_non_canonical_base64() {
        assert!(b64_decode("AAAA").is_ok());
        assert!(b64_decode("AAA=").is_err(), "padding");
        assert!(b64_decode("AA+/").is_err(), "standard alphabet");
        assert!(b64_decode("AB").is_err(), "non-zero trailing bits");
        assert!(b64_decode("A").is_err(), "impossible length");
        assert!(b64_decode("AA AA").is_err(), "whitespace");
    }
}
