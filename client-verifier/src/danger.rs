//! Operations that give up a guarantee, for tools rather than licensed software.
//!
//! `licctl verify` uses these to show support staff what a token says even when it does not
//! verify on the machine at hand. An application that calls them to decide whether to run has
//! no license check.

use alloc::vec::Vec;

use crate::VerifyError;
use crate::paseto::Parsed;
use crate::verify::VerifierBuilder;

/// A token's message and footer, decoded but **not** verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    /// The claims JSON, as signed (or as forged).
    pub message: Vec<u8>,
    /// The footer, decoded.
    pub footer: Vec<u8>,
}

/// Decodes a v4.public token without checking its signature.
pub fn decode_unverified(token: &str) -> Result<Unverified, VerifyError> {
    let parsed = Parsed::new(token, b"")?;
    let (message, footer) = parsed.into_unverified();
    Ok(Unverified { message, footer })
}

/// A verifier that checks everything but the device binding: for inspecting a customer's token
/// on another machine.
#[must_use]
pub fn skip_device_check(builder: VerifierBuilder) -> VerifierBuilder {
    builder.skip_device_check()
}
