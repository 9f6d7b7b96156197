//! The access key shared with the marketplace (the HMAC every signature is built on lives in
//! `crate::crypto`).

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

use super::code::{ProtocolError, ResultCode};

/// The secret the marketplace signs callbacks with and licd signs answers with (protocol §3.1):
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

    /// The key as the EU Seller Console shows it: Base64 of the real key (protocol §3.1).
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

pub(super) use crate::crypto::{ct_eq, hmac_sha256};

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
}
