//! Offline verification of licd license tokens.
//!
//! A licd license is a PASETO v4.public token: JSON claims signed with ed25519, the signing key's
//! PASERK id in the footer. This crate is what the licensed software links: it checks a token's
//! signature, issuer and product, validity, the freeze window, the device binding, revocation and
//! clock rollback, with no network.
//!
//! ```
//! use client_verifier::{Fingerprint, LicenseStatus, PublicKey, TimeGuard, Timestamp, Verifier};
//! # #[cfg(feature = "sign")] {
//! # use client_verifier::{Binding, Claims, SecretKey, mint};
//! # let issuer_key = SecretKey::from_seed(&[42; 32]);
//! # let mut claims = Claims::new("acme", "customer-1", "lic-1", "prod-1", "sku-1", "order-1",
//! #     Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
//! #     Timestamp::parse_rfc3339("2027-01-01T00:00:00Z").unwrap(),
//! #     Timestamp::parse_rfc3339("2027-01-16T00:00:00Z").unwrap());
//! # let bound_to = Fingerprint::parse("04:7C:16:5E:E3:5D|SN1|BOARD1|BFEBFBFF00090672").unwrap();
//! # claims.binding = Some(Binding::new(&bound_to, [1; 8]));
//! # let token = mint(&issuer_key, &claims).unwrap();
//! # let public_paserk = issuer_key.public_key().to_paserk();
//! // Shipped with the application: the ISV's public key(s), from `licd keys export`.
//! let key = PublicKey::from_paserk(&public_paserk)?;
//! let verifier = Verifier::builder().trust(key).issuer("acme").product("prod-1").build();
//!
//! // At start: this machine (usually `Fingerprint::collect()`; here with a new disk), and the
//! // state saved last run.
//! let device = Fingerprint::parse("04:7C:16:5E:E3:5D|SN2|BOARD1|BFEBFBFF00090672")?;
//! let mut guard = TimeGuard::decode("tg1.1780000000").unwrap_or_default();
//! let now = Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
//!
//! let license = verifier.verify_guarded(&token, Some(&device), now, &mut guard)?;
//! match license.status() {
//!     LicenseStatus::Active { expires_at } => println!("licensed until {expires_at}"),
//!     LicenseStatus::Frozen { until } => println!("renew before {until} to unlock"),
//!     LicenseStatus::Expired { since } => println!("expired since {since}"),
//!     _ => {}
//! }
//! assert!(license.is_active());
//! // Save `guard.encode()` for the next run.
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules:
//! - `paseto`: the v4.public wire format (PAE, ed25519, strict base64url); the official test
//!   vectors pass through [`paseto::verify`] and [`paseto::sign`].
//! - `keys`: PASERK `k4.public` / `k4.secret` strings and `k4.pid` key ids.
//! - [`root`]: the key hierarchy: a root document, and certificates of issuing keys.
//! - `claims`: what a license token and a revocation list say, read strictly.
//! - `fingerprint`: the marketplace's `MAC|disk|board|CPU` device string, collection on this
//!   machine, the salted binding a token carries and tolerant matching.
//! - `verify`: [`Verifier`], [`VerifiedLicense`], [`TimeGuard`].
//! - [`danger`]: decoding without verifying and skipping the device check, for support tools.
//! - `issue` (feature `sign`): minting, for the daemon.
//! - `ffi` (feature `ffi`): the stable C ABI (`cv_*` functions, `include/client_verifier.h`).
//!
//! Features: `std` (default; clock access and `std::error::Error`), `fingerprint` (default;
//! [`Fingerprint::collect`]), `sign` (minting and key generation), `ffi` (the C ABI; see the
//! crate's README for building the shared and static libraries). With
//! `--no-default-features` the crate is `no_std` + `alloc`.

#![cfg_attr(not(feature = "std"), no_std)]
// Only the C ABI (feature `ffi`, module `ffi`) and the Windows collector (its Win32 calls, module
// `fingerprint::collect::windows_sys_calls`) need `unsafe`, and each allows it there alone.
#![cfg_attr(
    not(any(feature = "ffi", all(windows, feature = "fingerprint"))),
    forbid(unsafe_code)
)]
#![cfg_attr(
    any(feature = "ffi", all(windows, feature = "fingerprint")),
    deny(unsafe_code)
)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

extern crate alloc;

/// Entry points for the fuzz targets (`fuzz/`) into parsers that are not public API. Not for
/// applications: the feature `__fuzz` may change or go away in any release.
#[cfg(feature = "__fuzz")]
#[doc(hidden)]
pub mod __fuzz {
    /// Windows' binary answers (SMBIOS table, storage descriptor, disk extents) through their
    /// parsers.
    pub fn windows_tables(data: &[u8]) {
        crate::fingerprint::fuzz_windows_tables(data);
    }
}

mod claims;
pub mod danger;
#[cfg(feature = "ffi")]
pub mod ffi;
pub mod fingerprint;
#[cfg(feature = "sign")]
mod issue;
mod keys;
#[cfg(feature = "lease-client")]
pub mod lease_client;
pub mod offline;
pub mod paseto;
pub mod root;
pub mod strict_json;
mod time;
mod verify;

pub use claims::{
    AllotmentClaims, Claims, Entitlements, LeaseClaims, RevocationClaims, TokenStatus,
};
pub use fingerprint::{
    Binding, Fingerprint, FingerprintError, MAX_BOARD_VALUES, MAX_DISK_SERIALS, MatchPolicy,
    MatchResult,
};
#[cfg(feature = "sign")]
pub use issue::{
    MAX_TOKEN_LEN, MintError, mint, mint_allotment, mint_certified, mint_lease, mint_site_lease,
    sign_revocations, sign_revocations_certified,
};
#[cfg(feature = "sign")]
pub use keys::SecretKey;
pub use keys::{KeyError, KeyId, PublicKey};
pub use root::{Certificate, Grant, KeyRevocations, Purpose, Purposes, Root};
pub use time::{DAY, Timestamp};
pub use verify::{
    BindingRequirement, DEFAULT_CLOCK_TOLERANCE, LicenseStatus, TimeGuard, VerifiedLease,
    VerifiedLicense, Verifier, VerifierBuilder, VerifyError,
};
