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
///
/// The payload and footer are decoded straight into the pre-authentication encoding that the
/// signature covers, `PAE(header, message, footer, implicit)`: one buffer, no copy of the message,
/// and the message and footer are read from it in place.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// The whole pre-authentication encoding.
    pae: Vec<u8>,
    message_len: usize,
    footer_len: usize,
    sig: [u8; SIG_LEN],
}

/// Where the message starts in the encoding: piece count, header length, header, message length.
const MESSAGE_AT: usize = 8 + 8 + HEADER.len() + 8;

impl Parsed {
    /// Splits and decodes `token`, rejecting anything that is not canonical v4.public, and lays it
    /// out for signing with the implicit assertion `implicit`.
    pub(crate) fn new(token: &str, implicit: &[u8]) -> Result<Self, VerifyError> {
        let rest = token.strip_prefix(HEADER).ok_or(VerifyError::Malformed {
            reason: "not a v4.public token",
        })?;
        // The footer is the short end: look for its dot from there. When the part before that
        // dot decodes it holds no dot, so this dot is also the first one and the split is the one
        // made below; anything else takes the path below, which decides as it always has.
        if let Some((p, f)) = rest.rsplit_once('.')
            && !f.is_empty()
            && let Ok(parsed) = Self::decode(p, f, implicit)
        {
            return Ok(parsed);
        }
        let (payload, footer) = match rest.split_once('.') {
            Some((p, f)) if !f.is_empty() => (p, f),
            // `v4.public.x.` would be a different string signing the same bytes: refuse it.
            Some(_) => {
                return Err(VerifyError::Malformed {
                    reason: "empty footer after a dot",
                });
            }
            None => (rest, ""),
        };
        Self::decode(payload, footer, implicit)
    }

    /// Decodes the token's `payload` and `footer` (base64url, without their dots) into the
    /// encoding.
    fn decode(payload: &str, footer: &str, implicit: &[u8]) -> Result<Self, VerifyError> {
        let invalid = VerifyError::Malformed {
            reason: "invalid base64url",
        };
        let payload_len = b64_decoded_len(payload.len()).ok_or(invalid.clone())?;
        // An impossible footer length is found when the footer is decoded, after the payload's
        // checks, as it always has been.
        let footer_len = b64_decoded_len(footer.len()).unwrap_or(0);
        let mut pae =
            Vec::with_capacity(MESSAGE_AT + payload_len + 8 + footer_len + 8 + implicit.len());
        pae.extend_from_slice(&le64(4));
        pae.extend_from_slice(&le64(HEADER.len()));
        pae.extend_from_slice(HEADER.as_bytes());
        pae.extend_from_slice(&le64(payload_len.saturating_sub(SIG_LEN)));
        // The payload is message then signature: decode both in place, then move the signature
        // out of the way of the footer's length.
        pae.resize(MESSAGE_AT + payload_len, 0);
        if !b64_decode_into(payload.as_bytes(), &mut pae[MESSAGE_AT..]) {
            return Err(invalid);
        }
        if payload_len <= SIG_LEN {
            return Err(VerifyError::Malformed {
                reason: "payload shorter than a signature",
            });
        }
        let message_len = payload_len - SIG_LEN;
        let mut sig = [0u8; SIG_LEN];
        sig.copy_from_slice(&pae[MESSAGE_AT + message_len..]);
        pae.truncate(MESSAGE_AT + message_len);
        let footer_len = b64_decoded_len(footer.len()).ok_or(invalid.clone())?;
        pae.extend_from_slice(&le64(footer_len));
        let footer_at = pae.len();
        pae.resize(footer_at + footer_len, 0);
        if !b64_decode_into(footer.as_bytes(), &mut pae[footer_at..]) {
            return Err(invalid);
        }
        pae.extend_from_slice(&le64(implicit.len()));
        pae.extend_from_slice(implicit);
        Ok(Parsed {
            pae,
            message_len,
            footer_len,
            sig,
        })
    }

    /// The message (the claims, for licd tokens), not yet verified.
    pub(crate) fn message(&self) -> &[u8] {
        &self.pae[MESSAGE_AT..MESSAGE_AT + self.message_len]
    }

    /// The footer, decoded; empty when the token has none.
    pub(crate) fn footer(&self) -> &[u8] {
        let at = MESSAGE_AT + self.message_len + 8;
        &self.pae[at..at + self.footer_len]
    }

    /// The message and footer with the signature dropped, unchecked.
    pub(crate) fn into_unverified(self) -> (Vec<u8>, Vec<u8>) {
        (self.message().to_vec(), self.footer().to_vec())
    }

    /// Checks the signature with `key` over the encoding laid out by [`Parsed::new`].
    pub(crate) fn check(&self, key: &VerifyingKey) -> Result<(), VerifyError> {
        key.verify_strict(&self.pae, &Signature::from_bytes(&self.sig))
            .map_err(|_| VerifyError::BadSignature)
    }

    /// Checks the signature with `key` and gives the message and footer back.
    pub(crate) fn verify(self, key: &VerifyingKey) -> Result<Verified, VerifyError> {
        self.check(key)?;
        let (message, footer) = self.into_unverified();
        Ok(Verified { message, footer })
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
    Parsed::new(token, implicit)?.verify(key.verifying_key())
}

/// The key id a licd token's footer names, **unverified**: what a server that keeps tokens it
/// minted uses to find those of one key. Nothing about the token is checked but its shape;
/// never trust it for a decision a signature should make.
pub fn footer_key_id(token: &str) -> Option<String> {
    let parsed = Parsed::new(token, b"").ok()?;
    let footer: crate::claims::Footer<'_> = crate::claims::from_json(parsed.footer(), "").ok()?;
    Some(footer.kid.into_owned())
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
    let invalid = VerifyError::Malformed {
        reason: "invalid base64url",
    };
    let mut out = alloc::vec![0u8; b64_decoded_len(s.len()).ok_or(invalid.clone())?];
    if b64_decode_into(s.as_bytes(), &mut out) {
        Ok(out)
    } else {
        Err(invalid)
    }
}

/// Decodes `s` as [`b64_decode`] does into exactly `N` bytes: `None` when it is not canonical
/// unpadded base64url or decodes to another length.
pub(crate) fn b64_decode_array<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    b64_decode_into(s, &mut out).then_some(out)
}

/// The length `len` characters of unpadded base64 decode to, or `None` for a length no
/// unpadded encoding has.
pub(crate) fn b64_decoded_len(len: usize) -> Option<usize> {
    let tail = match len % 4 {
        0 => 0,
        2 => 1,
        3 => 2,
        _ => return None,
    };
    Some(len / 4 * 3 + tail)
}

/// For each of the four positions in a group of four base64url characters, every byte's 6-bit
/// value already shifted to its place in the group's 24 bits; [`NOT_B64`] for a byte outside the
/// alphabet. A group decodes with four lookups and three ORs.
static B64URL: [[u32; 256]; 4] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut t = [[NOT_B64; 256]; 4];
    let mut i = 0;
    while i < 64 {
        let c = alphabet[i] as usize;
        let v = i as u32;
        t[0][c] = v << 18;
        t[1][c] = v << 12;
        t[2][c] = v << 6;
        t[3][c] = v;
        i += 1;
    }
    t
};

/// Not a base64url character: a bit no group of valid characters sets.
const NOT_B64: u32 = 1 << 31;

/// Decodes canonical unpadded base64url `input` into `out`, which must be exactly
/// [`b64_decoded_len`] long. False when a character is outside the alphabet, the length is
/// impossible, or the unused low bits of the last character are not zero.
fn b64_decode_into(input: &[u8], out: &mut [u8]) -> bool {
    if b64_decoded_len(input.len()) != Some(out.len()) {
        return false;
    }
    let [t0, t1, t2, t3] = &B64URL;
    let group = |q: &[u8]| {
        t0[usize::from(q[0])]
            | t1[usize::from(q[1])]
            | t2[usize::from(q[2])]
            | t3[usize::from(q[3])]
    };
    // The OR of every group: `NOT_B64` is set in it only by a character outside the alphabet.
    let mut seen = 0u32;
    // Eight characters at a time, written as one 8-byte store of which the last two bytes are
    // overwritten by what follows; so this stops while at least two bytes of output remain.
    let pairs = (input.len() / 8).min(out.len().saturating_sub(2) / 6);
    let (head, tail) = input.split_at(pairs * 8);
    for (k, q) in head.chunks_exact(8).enumerate() {
        let (a, b) = (group(&q[..4]), group(&q[4..]));
        seen |= a | b;
        let n = (u64::from(a) << 40) | (u64::from(b) << 16);
        out[k * 6..k * 6 + 8].copy_from_slice(&n.to_be_bytes());
    }
    let mut quads = tail.chunks_exact(4);
    let mut triples = out[pairs * 6..].chunks_exact_mut(3);
    for (q, t) in (&mut quads).zip(&mut triples) {
        let n = group(q);
        seen |= n;
        t[0] = (n >> 16) as u8;
        t[1] = (n >> 8) as u8;
        t[2] = n as u8;
    }
    let rest = triples.into_remainder();
    match *quads.remainder() {
        [] => {}
        [a, b] => {
            let n = t0[usize::from(a)] | t1[usize::from(b)];
            // The last character's low 4 bits are not part of the output: they must be zero.
            seen |= n | ((n & 0xf000) << 12);
            rest[0] = (n >> 16) as u8;
        }
        [a, b, c] => {
            let n = t0[usize::from(a)] | t1[usize::from(b)] | t2[usize::from(c)];
            // Likewise the last character's low 2 bits.
            seen |= n | ((n & 0xc0) << 18);
            rest[0] = (n >> 16) as u8;
            rest[1] = (n >> 8) as u8;
        }
        _ => return false,
    }
    seen < 1 << 24
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

    /// The parser before the encoding was built in place: split at the first dot, decode with
    /// the base64 crate, in the same order of checks.
    fn reference(token: &str) -> Result<(Vec<u8>, Vec<u8>), VerifyError> {
        let malformed = |reason| VerifyError::Malformed { reason };
        let rest = token
            .strip_prefix(HEADER)
            .ok_or(malformed("not a v4.public token"))?;
        let (payload, footer) = match rest.split_once('.') {
            Some((p, f)) if !f.is_empty() => (p, Some(f)),
            Some(_) => return Err(malformed("empty footer after a dot")),
            None => (rest, None),
        };
        let b64 = |s: &str| {
            URL_SAFE_NO_PAD
                .decode(s)
                .map_err(|_| malformed("invalid base64url"))
        };
        let mut payload = b64(payload)?;
        if payload.len() <= SIG_LEN {
            return Err(malformed("payload shorter than a signature"));
        }
        let footer = footer.map_or(Ok(Vec::new()), b64)?;
        payload.truncate(payload.len() - SIG_LEN);
        Ok((payload, footer))
    }

    #[test]
    fn parsing_agrees_with_the_reference_and_lays_out_the_encoding() {
        let check = |token: &str| {
            let ours = Parsed::new(token, b"implicit");
            let ours_parts = ours
                .as_ref()
                .map(|p| (p.message().to_vec(), p.footer().to_vec()));
            assert_eq!(
                ours_parts.map_err(Clone::clone),
                reference(token),
                "{token:?}"
            );
            if let Ok(p) = &ours {
                let (m, f) = (p.message(), p.footer());
                let mut payload = m.to_vec();
                payload.extend_from_slice(&p.sig);
                assert_eq!(p.pae, pae(&[HEADER.as_bytes(), m, f, b"implicit"]));
                assert!(token.contains(&URL_SAFE_NO_PAD.encode(&payload)));
            }
        };
        let long = URL_SAFE_NO_PAD.encode((0..100u8).collect::<Vec<_>>());
        let short = URL_SAFE_NO_PAD.encode([7u8; 64]);
        let footer = URL_SAFE_NO_PAD.encode(br#"{"kid":"k4.pid.x"}"#);
        let pieces = [
            long.as_str(),
            short.as_str(),
            footer.as_str(),
            "",
            "A",
            "AB",
            "AA=",
            "x.y",
        ];
        for a in pieces {
            check(&alloc::format!("v4.public.{a}"));
            check(&alloc::format!("v4.local.{a}"));
            for b in pieces {
                check(&alloc::format!("v4.public.{a}.{b}"));
                for c in pieces {
                    check(&alloc::format!("v4.public.{a}.{b}.{c}"));
                }
            }
        }
        // Dots and stray bytes anywhere in a good token.
        let good = alloc::format!("v4.public.{long}.{footer}");
        for at in 0..good.len() {
            for ins in [".", "=", "+", ""] {
                let mut t = String::from(&good[..at]);
                t.push_str(ins);
                t.push_str(&good[at + usize::from(ins.is_empty())..]);
                check(&t);
            }
        }
    }

    /// The hand-written decoder accepts exactly what the base64 crate's strict engine accepts,
    /// and decodes it to the same bytes.
    #[test]
    fn decoder_agrees_with_the_base64_crate() {
        fn agree(s: &str) {
            let ours = b64_decode(s).ok();
            let theirs = URL_SAFE_NO_PAD.decode(s).ok();
            assert_eq!(ours, theirs, "{s:?}");
            if let Some(bytes) = &theirs {
                assert_eq!(
                    b64_decode_array::<1>(s.as_bytes()).is_some(),
                    bytes.len() == 1,
                    "{s:?}"
                );
                assert_eq!(
                    b64_decode_array::<6>(s.as_bytes()).is_some(),
                    bytes.len() == 6,
                    "{s:?}"
                );
            } else {
                assert!(
                    b64_decode_array::<1>(s.as_bytes()).is_none()
                        && b64_decode_array::<6>(s.as_bytes()).is_none()
                );
            }
        }
        // Every string up to five characters over characters that probe each rule: trailing
        // bits (A, B, Q, g, w, E), both alphabets' extra characters, padding, other bytes.
        let probe = [
            b'A', b'B', b'E', b'Q', b'g', b'w', b'z', b'9', b'-', b'_', b'+', b'/',
        ];
        let probe: Vec<u8> = probe.iter().copied().chain(*b"= .\xc3").collect();
        let mut buf = Vec::new();
        for len in 0..=5u32 {
            for mut n in 0..probe.len().pow(len) {
                buf.clear();
                for _ in 0..len {
                    buf.push(probe[n % probe.len()]);
                    n /= probe.len();
                }
                if let Ok(s) = core::str::from_utf8(&buf) {
                    agree(s);
                }
            }
        }
        // Longer strings, random over the whole alphabet plus one stray byte now and then.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = (next() % 80) as usize;
            let mut s: Vec<u8> = (0..len).map(|_| alphabet[(next() % 64) as usize]).collect();
            if len > 0 && next() % 4 == 0 {
                let at = (next() as usize) % len;
                s[at] = b"=+/ .\n"[(next() % 6) as usize];
            }
            agree(core::str::from_utf8(&s).unwrap());
        }
    }
}
