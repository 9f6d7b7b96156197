//! The access key shared with the marketplace, and the HMAC every signature is built on.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::code::{ProtocolError, ResultCode};

type HmacSha256 = Hmac<Sha256>;

/// The secret the marketplace signs callbacks with and licd signs answers with (spec §3.1):
/// the "Key值" / 访问密钥 from the Seller Console, not the IAM AK/SK.
///
/// The bytes are wiped when the value is dropped, and `Debug` never shows them.
#[derive(Clone)]
pub struct AccessKey(Zeroizing<Vec<u8>>);

/// The EU console's Base64: standard alphabet; padding optional, since a copy-paste may lose it.
const EU_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl AccessKey {
    /// The key as the Seller Console shows it (the key is the UTF-8 bytes of that text).
    ///
    /// Surrounding whitespace is dropped: console keys never contain any, and a key file's
    /// trailing newline is the commonest way to end up with a key that signs nothing right.
    pub fn new(text: &str) -> Self {
        AccessKey(Zeroizing::new(text.trim().as_bytes().to_vec()))
    }

    /// The key as the EU Seller Console shows it: Base64 of the real key (spec §3.1).
    ///
    /// Fails, with code `000005` and a message that quotes nothing of the input, when the text
    /// is not Base64 or decodes to nothing.
    pub fn from_eu_console(text: &str) -> Result<Self, ProtocolError> {
        let decoded = EU_BASE64
            .decode(text.trim())
            .map(Zeroizing::new)
            .map_err(|_| {
                // The decoder's error names the offending byte, which is part of the secret.
                ProtocolError::new(
                    ResultCode::InternalError,
                    "access key: not valid Base64 (the EU Seller Console shows the key \
                     Base64-encoded; paste it exactly)",
                )
            })?;
        if decoded.is_empty() {
            return Err(ProtocolError::new(
                ResultCode::InternalError,
                "access key: empty after Base64 decoding",
            ));
        }
        Ok(AccessKey(decoded))
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessKey(<redacted>)")
    }
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
pub(super) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
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
pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_KEY: &str = "ebf72724-bacc-414b-a86b-fda5bcc8153c";

    #[test]
    fn debug_never_shows_the_key() {
        let key = AccessKey::new(SPEC_KEY);
        let shown = format!("{key:?} {:?}", key.clone());
        assert_eq!(shown, "AccessKey(<redacted>) AccessKey(<redacted>)");
        assert!(!shown.contains("ebf7"));
    }

    #[test]
    fn key_file_whitespace_is_not_part_of_the_key() {
        assert_eq!(
            AccessKey::new(&format!("  {SPEC_KEY}\n")).bytes(),
            SPEC_KEY.as_bytes()
        );
    }

    #[test]
    fn eu_console_key_is_base64_decoded() {
        let standard = base64::engine::general_purpose::STANDARD;
        let wrapped = standard.encode(SPEC_KEY);
        let key = AccessKey::from_eu_console(&format!("{wrapped}\n")).unwrap();
        assert_eq!(key.bytes(), SPEC_KEY.as_bytes());
        // A key whose encoding is padded still decodes if the padding was lost in a copy.
        let odd = format!("{SPEC_KEY}x");
        let wrapped = standard.encode(&odd);
        let unpadded = wrapped.trim_end_matches('=');
        assert_ne!(unpadded, wrapped, "the test needs a padded encoding");
        assert_eq!(
            AccessKey::from_eu_console(unpadded).unwrap().bytes(),
            odd.as_bytes()
        );
    }

    #[test]
    fn rejects_eu_console_key_that_is_not_base64_without_quoting_it() {
        // A key shown by the non-EU console is not Base64 (it has '-').
        let err = AccessKey::from_eu_console(SPEC_KEY).unwrap_err();
        assert_eq!(err.code, ResultCode::InternalError);
        assert!(err.message.contains("Base64"), "{err}");
        assert!(
            !err.message.contains("ebf7") && !err.message.contains("bacc"),
            "{err}"
        );
        assert!(AccessKey::from_eu_console("").is_err());
        assert!(AccessKey::from_eu_console("  ").is_err());
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
}
