//! Minting tokens and revocation lists (feature `sign`). The daemon mints through here, so issuer
//! and verifier share one definition of the format.

use alloc::string::String;
use core::fmt;

use crate::claims::{AllotmentClaims, Claims, Footer, LeaseClaims, RevocationClaims};
use crate::keys::SecretKey;
use crate::paseto;
use crate::root::{Certificate, Purpose};

/// The longest token minted. Not the marketplace's 1,024-character limit: that belongs to one
/// upload variant (`type=CHARACTERS`), and licd uploads longer device licenses as files, while a
/// License 1.0 `getLicense` answer has no such limit. This bound only stops entitlements from
/// growing a token past what fits in a QR code or an environment variable.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Why a token could not be minted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MintError {
    /// The claims contradict each other (for example `exp` after `freeze_until`).
    Inconsistent {
        /// What is wrong.
        reason: &'static str,
    },
    /// The token would be longer than [`MAX_TOKEN_LEN`]; shorten the entitlements.
    TooLong {
        /// Its length.
        len: usize,
    },
    /// The certificate given does not cover what is to be signed.
    Uncertified {
        /// Why.
        reason: &'static str,
    },
}

impl fmt::Display for MintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MintError::Inconsistent { reason } => write!(f, "cannot mint: {reason}"),
            MintError::TooLong { len } => write!(
                f,
                "token would be {len} characters, over the {MAX_TOKEN_LEN} licd mints; shorten the entitlements"
            ),
            MintError::Uncertified { reason } => {
                write!(f, "cannot mint under this certificate: {reason}")
            }
        }
    }
}

impl std::error::Error for MintError {}

/// Signs `claims` into a license token with `key`, its key id in the footer.
///
/// The same claims and key always give the same token: ed25519 signatures are deterministic and
/// the JSON is written in a fixed order (entitlement keys sorted).
pub fn mint(key: &SecretKey, claims: &Claims) -> Result<String, MintError> {
    consistent(claims.check_consistent(), "claims")?;
    sign_in_scope(key, None, claims, |_| Ok(()))
}

/// [`mint`] under a key hierarchy: `cert` (the root's certificate of `key`) rides in the
/// footer, so that a verifier trusting the root accepts the token. Refused when `cert` is not
/// `key`'s or does not cover the claims (product, purpose, `exp`, `iat`): licd must never mint
/// what a verifier would refuse.
pub fn mint_certified(
    key: &SecretKey,
    cert: &Certificate,
    claims: &Claims,
) -> Result<String, MintError> {
    consistent(claims.check_consistent(), "claims")?;
    sign_in_scope(key, Some(cert), claims, |c| {
        crate::verify::license_in_scope(c, claims, 0)
    })
}

/// Signs `lease` into a lease token with `key`, and under a key hierarchy its certificate
/// `cert` in the footer (refused when `cert` is not `key`'s, or does not grant leases for the
/// lease's product up to its `exp`).
pub fn mint_lease(
    key: &SecretKey,
    cert: Option<&Certificate>,
    lease: &LeaseClaims,
) -> Result<String, MintError> {
    consistent(lease.check_consistent(), "lease")?;
    sign_in_scope(key, cert, lease, |c| {
        crate::verify::lease_in_scope(c, lease, 0)
    })
}

/// Signs a site allotment with the ISV's `key` (and under a key hierarchy its certificate
/// `cert`, which must grant leases for the product up to the allotment's `exp`: the allotment
/// is what lets a site server sign leases).
pub fn mint_allotment(
    key: &SecretKey,
    cert: Option<&Certificate>,
    allotment: &AllotmentClaims,
) -> Result<String, MintError> {
    consistent(allotment.check_consistent(), "allotment")?;
    sign_in_scope(key, cert, allotment, |c| {
        crate::verify::allotment_in_scope(c, allotment, 0)
    })
}

/// Signs `lease` as a site server does: with the site's key `site_key`, the allotment token
/// `allotment` (whose claims are `terms`) in the footer. Refused when the key is not the
/// allotment's site key or the lease leaves the allotment's bounds ([`AllotmentClaims::covers`]).
/// A site lease may be up to twice [`MAX_TOKEN_LEN`]: it carries its allotment.
pub fn mint_site_lease(
    site_key: &SecretKey,
    allotment: &str,
    terms: &AllotmentClaims,
    lease: &LeaseClaims,
) -> Result<String, MintError> {
    consistent(lease.check_consistent(), "lease")?;
    if site_key.public_key().to_paserk() != terms.site_key {
        return Err(MintError::Uncertified {
            reason: "the allotment names another site key",
        });
    }
    terms
        .covers(lease)
        .map_err(|reason| MintError::Uncertified { reason })?;
    let token = sign_json(site_key, None, Some(allotment), lease);
    if token.len() > 2 * MAX_TOKEN_LEN {
        return Err(MintError::TooLong { len: token.len() });
    }
    Ok(token)
}

/// Signs a revocation list. It has no length limit: it is fetched, not pasted.
pub fn sign_revocations(key: &SecretKey, list: &RevocationClaims) -> String {
    sign_json(key, None, None, list)
}

/// [`sign_revocations`] under a key hierarchy, `cert` in the footer. Refused when `cert` is
/// not `key`'s or does not grant revocation lists.
pub fn sign_revocations_certified(
    key: &SecretKey,
    cert: &Certificate,
    list: &RevocationClaims,
) -> Result<String, MintError> {
    if cert.key() != key.public_key() {
        return Err(MintError::Uncertified {
            reason: "the certificate is for another key",
        });
    }
    if !cert.grant().purposes.contains(Purpose::RevocationLists) {
        return Err(MintError::Uncertified {
            reason: "the certificate does not grant revocation lists",
        });
    }
    Ok(sign_json(key, Some(cert), None, list))
}

/// A consistency check's refusal as a mint error (`what` names the claims when the check gives
/// no reason of its own).
fn consistent(check: Result<(), crate::VerifyError>, what: &'static str) -> Result<(), MintError> {
    check.map_err(|e| match e {
        crate::VerifyError::Malformed { reason } => MintError::Inconsistent { reason },
        _ => MintError::Inconsistent { reason: what },
    })
}

/// Signs `value` with `key`, and with `cert` in the footer when given: refused when `cert` is
/// not `key`'s or `in_scope` says it does not cover the value, and when the token would be
/// longer than [`MAX_TOKEN_LEN`].
fn sign_in_scope<T: serde::Serialize>(
    key: &SecretKey,
    cert: Option<&Certificate>,
    value: &T,
    in_scope: impl FnOnce(&Certificate) -> Result<(), &'static str>,
) -> Result<String, MintError> {
    if let Some(cert) = cert {
        if cert.key() != key.public_key() {
            return Err(MintError::Uncertified {
                reason: "the certificate is for another key",
            });
        }
        in_scope(cert).map_err(|reason| MintError::Uncertified { reason })?;
    }
    let token = sign_json(key, cert, None, value);
    if token.len() > MAX_TOKEN_LEN {
        return Err(MintError::TooLong { len: token.len() });
    }
    Ok(token)
}

fn sign_json<T: serde::Serialize>(
    key: &SecretKey,
    cert: Option<&Certificate>,
    site: Option<&str>,
    value: &T,
) -> String {
    // Serialising plain structs of strings, numbers and maps to memory cannot fail.
    let message = serde_json::to_vec(value).unwrap_or_default();
    let encoded = cert.map(Certificate::encode);
    let footer = Footer {
        kid: key.public_key().id().as_str().into(),
        cert: encoded.as_deref().map(Into::into),
        site: site.map(Into::into),
    };
    let footer = serde_json::to_vec(&footer).unwrap_or_default();
    paseto::sign(key, &message, &footer, b"")
}
