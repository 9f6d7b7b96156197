//! The offline check: a token, the device it runs on and the time in, a verdict out.
//!
//! Order matters: the footer's key id picks the key, the signature is checked before any claim is
//! read, then issuer, product, revocation, time and device, and only then the status. Holding a
//! [`VerifiedLicense`] proves every step ran.

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::claims::{
    self, AllotmentClaims, Claims, Footer, LeaseClaims, RevocationClaims, TokenStatus,
};
use crate::fingerprint::{Binding, Fingerprint, MatchPolicy, MatchResult};
use crate::keys::{KeyId, PublicKey};
use crate::paseto::Parsed;
use crate::root::{Certificate, KeyRevocations, Purpose, Root};
use crate::time::{DAY, Timestamp};

/// Default tolerance for clocks: how far `now` may lie behind a time the verifier has already seen
/// (the last run, a token's issue time) before it is called a rollback. A day absorbs a machine
/// whose hardware clock keeps local time, without letting a set-back clock stretch a license.
pub const DEFAULT_CLOCK_TOLERANCE: i64 = DAY;

/// Why a token was not accepted. Each variant carries what a caller needs to explain it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a well-formed token: header, encoding, JSON, a missing claim.
    Malformed {
        /// What is wrong, for logs and support.
        reason: &'static str,
    },
    /// The signature does not verify with the key the footer names.
    BadSignature,
    /// The footer names a key this verifier does not trust.
    UnknownKey {
        /// The key id from the footer (at most 64 characters of it).
        kid: String,
    },
    /// Signed for another issuer.
    WrongIssuer {
        /// The issuer the verifier expects.
        expected: String,
        /// The token's `iss`.
        found: String,
    },
    /// A license for another product.
    WrongProduct {
        /// The product the verifier expects.
        expected: String,
        /// The token's `product`.
        found: String,
    },
    /// Valid only from a later time.
    NotYetValid {
        /// The token's `nbf`.
        not_before: Timestamp,
        /// The time it was checked at.
        now: Timestamp,
    },
    /// Bound to another device.
    DeviceMismatch {
        /// How the device matched the binding (`matched` is 0 when no fingerprint was given).
        result: MatchResult,
    },
    /// The verifier requires a device-bound license and this one is not bound yet.
    NotBound,
    /// The license is on the revocation list.
    Revoked {
        /// The license id.
        jti: String,
    },
    /// The clock is behind a time already seen, by more than the tolerance.
    ClockRollback {
        /// The latest time seen before.
        last_seen: Timestamp,
        /// The time given now.
        now: Timestamp,
    },
    /// A revocation list older than the one the verifier already has.
    StaleRevocationList {
        /// The sequence number the verifier has.
        current: u64,
        /// The sequence number offered.
        offered: u64,
    },
    /// Under a trusted root: the token's certificate does not chain to the root, or the token
    /// is outside what the certificate grants (product, purpose, `exp`, signing time).
    Uncertified {
        /// What is wrong, for logs and support.
        reason: &'static str,
    },
    /// A lease that has ended: the program's licensed features stop until it is renewed.
    LeaseEnded {
        /// The lease's `exp`.
        at: Timestamp,
    },
}

impl VerifyError {
    /// The variant's name, stable across releases: for logs, JSON output and test vectors.
    pub fn name(&self) -> &'static str {
        match self {
            VerifyError::Malformed { .. } => "Malformed",
            VerifyError::BadSignature => "BadSignature",
            VerifyError::UnknownKey { .. } => "UnknownKey",
            VerifyError::WrongIssuer { .. } => "WrongIssuer",
            VerifyError::WrongProduct { .. } => "WrongProduct",
            VerifyError::NotYetValid { .. } => "NotYetValid",
            VerifyError::DeviceMismatch { .. } => "DeviceMismatch",
            VerifyError::NotBound => "NotBound",
            VerifyError::Revoked { .. } => "Revoked",
            VerifyError::ClockRollback { .. } => "ClockRollback",
            VerifyError::StaleRevocationList { .. } => "StaleRevocationList",
            VerifyError::Uncertified { .. } => "Uncertified",
            VerifyError::LeaseEnded { .. } => "LeaseEnded",
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Malformed { reason } => write!(f, "malformed token: {reason}"),
            VerifyError::BadSignature => f.write_str("token signature is not valid"),
            VerifyError::UnknownKey { kid } => write!(f, "token signed by an unknown key {kid}"),
            VerifyError::WrongIssuer { expected, found } => {
                write!(f, "token issued by {found:?}, expected {expected:?}")
            }
            VerifyError::WrongProduct { expected, found } => {
                write!(f, "license is for product {found:?}, expected {expected:?}")
            }
            VerifyError::NotYetValid { not_before, now } => {
                write!(f, "license is valid from {not_before}, it is now {now}")
            }
            VerifyError::DeviceMismatch { result } if !result.anchored && result.matched > 0 => {
                write!(
                    f,
                    "license is bound to another device (no disk or mainboard serial matches; {} of {} components match)",
                    result.matched, result.bound
                )
            }
            VerifyError::DeviceMismatch { result } => write!(
                f,
                "license is bound to another device ({} of {} components match, {} needed)",
                result.matched, result.bound, result.required
            ),
            VerifyError::NotBound => f.write_str("license is not bound to a device yet"),
            VerifyError::Revoked { jti } => write!(f, "license {jti} has been revoked"),
            VerifyError::ClockRollback { last_seen, now } => write!(
                f,
                "system clock ({now}) is behind a time already seen ({last_seen}); correct the clock"
            ),
            VerifyError::StaleRevocationList { current, offered } => write!(
                f,
                "revocation list {offered} is older than the one in use ({current})"
            ),
            VerifyError::Uncertified { reason } => {
                write!(f, "not certified by the trusted root: {reason}")
            }
            VerifyError::LeaseEnded { at } => {
                write!(
                    f,
                    "the lease ended at {at}: renew it, or lease a seat again"
                )
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for VerifyError {}

/// Where a license stands at the time it was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LicenseStatus {
    /// In force until `expires_at`.
    Active {
        /// End of the paid period.
        expires_at: Timestamp,
    },
    /// Locked but data kept: past `exp` inside the freeze window, or frozen by the marketplace.
    /// A renewal before `until` unfreezes it.
    Frozen {
        /// End of the freeze window.
        until: Timestamp,
    },
    /// Past the freeze window.
    Expired {
        /// When the freeze window ended.
        since: Timestamp,
    },
    /// Paid for, but the machine has not checked in (refreshed with the issuer) by the
    /// deadline the product sets: the software should ask the user to connect to the internet,
    /// not to buy again. A refresh gives a token with a new deadline.
    CheckInRequired {
        /// The deadline that passed.
        since: Timestamp,
    },
    /// A floating (concurrent-use) license in force until `expires_at`: not permission to run
    /// by itself. The application leases a seat with it (`POST /v1/leases`) and runs while its
    /// lease verifies ([`Verifier::verify_lease`]).
    LeaseRequired {
        /// End of the paid period.
        expires_at: Timestamp,
    },
}

/// How much the verifier insists on device binding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindingRequirement {
    /// Only device-bound tokens are accepted; the secure default for shipped software.
    #[default]
    Required,
    /// Unbound tokens are accepted too (bound ones are still matched against the device).
    Optional,
}

/// A license that passed every check. Only [`Verifier::verify`] makes one.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedLicense {
    claims: Claims,
    status: LicenseStatus,
    kid: KeyId,
    device: Option<MatchResult>,
}

impl VerifiedLicense {
    /// The verdict.
    pub fn status(&self) -> LicenseStatus {
        self.status
    }

    /// The signed claims, read-only.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The key that signed the token.
    pub fn key_id(&self) -> &KeyId {
        &self.kid
    }

    /// How the device matched, for a bound token.
    pub fn device_match(&self) -> Option<MatchResult> {
        self.device
    }

    /// Whether the software should run with full function now.
    pub fn is_active(&self) -> bool {
        matches!(self.status, LicenseStatus::Active { .. })
    }

    /// Whether the feature flag `name` is on: the entitlement is the boolean `true`. A missing
    /// or non-boolean entitlement is off.
    pub fn feature(&self, name: &str) -> bool {
        self.claims.entitlements.get(name) == Some(&serde_json::Value::Bool(true))
    }

    /// The numeric limit `name`: an integer entitlement, `None` when absent or not an integer.
    pub fn limit(&self, name: &str) -> Option<i64> {
        self.claims.entitlements.get(name)?.as_i64()
    }

    /// The edition the license is for, when the issuer names one.
    pub fn edition(&self) -> Option<&str> {
        self.claims.edition.as_deref()
    }

    /// The time by which the machine must check in (refresh), when the product requires it.
    pub fn check_in_by(&self) -> Option<Timestamp> {
        self.claims.check_in_by
    }

    /// How the license was sold when not through the marketplace: `"direct"` or `"trial"`
    /// (see [`Claims::origin`]); `None` for a marketplace license.
    pub fn origin(&self) -> Option<&str> {
        self.claims.origin.as_deref()
    }

    /// An evaluation the ISV issued: show the user it is one.
    pub fn is_trial(&self) -> bool {
        self.origin() == Some("trial")
    }
}

/// A lease that passed every check: the program may run with the license's entitlements until
/// [`VerifiedLease::expires_at`]. Only [`Verifier::verify_lease`] makes one.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedLease {
    claims: LeaseClaims,
    kid: KeyId,
    device: Option<MatchResult>,
}

impl VerifiedLease {
    /// The signed claims, read-only.
    pub fn claims(&self) -> &LeaseClaims {
        &self.claims
    }

    /// When the lease ends unless renewed.
    pub fn expires_at(&self) -> Timestamp {
        self.claims.exp
    }

    /// The key that signed it.
    pub fn key_id(&self) -> &KeyId {
        &self.kid
    }

    /// How the device matched the lease's binding (`None` when the device check is skipped).
    pub fn device_match(&self) -> Option<MatchResult> {
        self.device
    }

    /// Whether the feature flag `name` is on (the entitlement is the boolean `true`).
    pub fn feature(&self, name: &str) -> bool {
        self.claims.entitlements.get(name) == Some(&serde_json::Value::Bool(true))
    }

    /// The numeric limit `name`, when it is an integer.
    pub fn limit(&self, name: &str) -> Option<i64> {
        self.claims.entitlements.get(name)?.as_i64()
    }
}

/// Checks tokens offline against trusted keys, product, device and revocations.
#[derive(Clone, Debug)]
pub struct Verifier {
    keys: Vec<PublicKey>,
    root: Option<Root>,
    certificates: CertificateCache,
    issuer: Option<String>,
    product: Option<String>,
    binding: BindingRequirement,
    policy: MatchPolicy,
    tolerance: i64,
    revoked: BTreeSet<String>,
    /// The newest list sequence number this application has accepted before (the builder's
    /// floor), raised by every list loaded: no older list is taken.
    revocation_seq: u64,
    /// The sequence number of the list actually loaded, apart from the floor: a verifier told
    /// that list 3 was seen before, but holding none, must not answer as if it held it (the
    /// list file deleted).
    loaded_seq: Option<u64>,
    /// The key id that signed the revocation list loaded.
    list_kid: Option<String>,
    /// The root's statement of revoked issuing keys, when one was loaded.
    key_revocations: Option<KeyRevocations>,
    skip_device: bool,
}

/// Builds a [`Verifier`].
#[derive(Clone, Debug, Default)]
pub struct VerifierBuilder {
    keys: Vec<PublicKey>,
    root: Option<Root>,
    issuer: Option<String>,
    product: Option<String>,
    binding: BindingRequirement,
    policy: MatchPolicy,
    tolerance: Option<i64>,
    min_seq: u64,
    skip_device: bool,
}

impl VerifierBuilder {
    /// Trusts tokens signed by `key`. Call once per key: keep old keys while tokens signed by
    /// them are in the field.
    #[must_use]
    pub fn trust(mut self, key: PublicKey) -> Self {
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
        self
    }

    /// Trusts tokens whose footer carries a certificate that `root` signed (at least its
    /// threshold of its keys), within what the certificate grants. The application embeds the
    /// root document (`root.json`) instead of issuing keys, and survives a stolen issuing key
    /// without a new build: licd revokes it and certifies another. Keys given to
    /// [`VerifierBuilder::trust`] as well are still trusted directly.
    #[must_use]
    pub fn trust_root(mut self, root: Root) -> Self {
        self.root = Some(root);
        self
    }

    /// Accepts only tokens whose `iss` is `issuer`.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Accepts only licenses for `product` (the marketplace `productId`).
    #[must_use]
    pub fn product(mut self, product: impl Into<String>) -> Self {
        self.product = Some(product.into());
        self
    }

    /// Whether tokens must be device-bound (default: required).
    #[must_use]
    pub fn binding(mut self, requirement: BindingRequirement) -> Self {
        self.binding = requirement;
        self
    }

    /// How tolerant device matching is (default: [`MatchPolicy::Tolerant`]).
    #[must_use]
    pub fn match_policy(mut self, policy: MatchPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Clock tolerance in seconds (default [`DEFAULT_CLOCK_TOLERANCE`]).
    #[must_use]
    pub fn clock_tolerance(mut self, secs: i64) -> Self {
        self.tolerance = Some(secs.max(0));
        self
    }

    /// The highest revocation-list sequence number this application has accepted before, as
    /// persisted by it. Lists below it are refused, and until a list at least this new is
    /// loaded ([`Verifier::load_revocations`]) every verification fails with
    /// [`VerifyError::StaleRevocationList`]: a list seen once cannot be deleted to un-revoke a
    /// license.
    #[must_use]
    pub fn min_revocation_seq(mut self, seq: u64) -> Self {
        self.min_seq = seq;
        self
    }

    pub(crate) fn skip_device_check(mut self) -> Self {
        self.skip_device = true;
        self
    }

    /// The verifier.
    pub fn build(self) -> Verifier {
        Verifier {
            keys: self.keys,
            root: self.root,
            certificates: CertificateCache::default(),
            issuer: self.issuer,
            product: self.product,
            binding: self.binding,
            policy: self.policy,
            tolerance: self.tolerance.unwrap_or(DEFAULT_CLOCK_TOLERANCE),
            revoked: BTreeSet::new(),
            revocation_seq: self.min_seq,
            loaded_seq: None,
            list_kid: None,
            key_revocations: None,
            skip_device: self.skip_device,
        }
    }
}

impl Verifier {
    /// A builder with no trusted key yet.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// Checks `token` for the device `device` (its fingerprint, or `None` when the application
    /// has none) at time `now`.
    pub fn verify(
        &self,
        token: &str,
        device: Option<&Fingerprint>,
        now: Timestamp,
    ) -> Result<VerifiedLicense, VerifyError> {
        self.require_list(self.revocation_seq)?;
        let (claims, kid, cert): (Claims, KeyId, _) =
            self.open(token, "license claims are malformed")?;
        claims.check_consistent()?;
        if let Some(cert) = &cert {
            license_in_scope(cert, &claims, self.tolerance)
                .map_err(|reason| VerifyError::Uncertified { reason })?;
        }
        self.check_claims(&claims, now)?;
        let device = self.check_device(&claims, device)?;
        let status = status_at(&claims, now);
        Ok(VerifiedLicense {
            claims,
            status,
            kid,
            device,
        })
    }

    /// [`Verifier::verify`] with the clock guarded: refuses a `now` behind the last time `guard`
    /// saw, and moves the guard forward on success. Persist the guard after the call.
    ///
    /// The guard also remembers the newest revocation list loaded through
    /// [`Verifier::load_revocations_guarded`]: a verifier holding an older list than that (an
    /// old list put back, or the list file deleted) is refused with
    /// [`VerifyError::StaleRevocationList`], so a revoked license cannot be revived offline by
    /// swapping files.
    pub fn verify_guarded(
        &self,
        token: &str,
        device: Option<&Fingerprint>,
        now: Timestamp,
        guard: &mut TimeGuard,
    ) -> Result<VerifiedLicense, VerifyError> {
        self.guarded(now, guard, || self.verify(token, device, now))
    }

    /// Runs `check` at `now` under `guard`: refused when the verifier holds less than the
    /// guard has seen (revocation list, root, key revocations) or the clock went back; on
    /// success the guard moves forward.
    fn guarded<T>(
        &self,
        now: Timestamp,
        guard: &mut TimeGuard,
        check: impl FnOnce() -> Result<T, VerifyError>,
    ) -> Result<T, VerifyError> {
        self.require_list(guard.revocation_seq)?;
        self.require_root(guard.root_version)?;
        self.require_key_revocations(guard.key_revocation_seq)?;
        guard.check(now)?;
        let verified = check()?;
        guard.observe(now);
        if let Some(root) = &self.root {
            guard.root_version = guard.root_version.max(root.version());
        }
        Ok(verified)
    }

    /// Checks the lease `token` for this machine (`device`, its fingerprint) at `now`: the
    /// seat a floating license's application runs on. Signed by a trusted key (or, under a
    /// root, a key certified for leases and the lease's product, its `exp` within the bound),
    /// for this issuer and product, the license not revoked, bound to this machine, and `now`
    /// between its `nbf` and `exp` ([`VerifyError::LeaseEnded`] after). A license is not a
    /// lease, and a lease is not a license ([`Verifier::verify`] refuses it).
    pub fn verify_lease(
        &self,
        token: &str,
        device: Option<&Fingerprint>,
        now: Timestamp,
    ) -> Result<VerifiedLease, VerifyError> {
        self.require_list(self.revocation_seq)?;
        let parsed = Parsed::new(token, b"")?;
        let footer: Footer<'_> = claims::from_json(parsed.footer(), "footer is not {\"kid\":…}")?;
        let (claims, kid) = match &footer.site {
            None => {
                let (claims, kid, cert): (LeaseClaims, KeyId, _) =
                    self.open_parsed(&parsed, &footer, "lease claims are malformed")?;
                claims.check_consistent()?;
                if let Some(cert) = &cert {
                    lease_in_scope(cert, &claims, self.tolerance)
                        .map_err(|reason| VerifyError::Uncertified { reason })?;
                }
                (claims, kid)
            }
            // A site server's lease: its key is the one the allotment names, and only for
            // what the allotment covers.
            Some(allotment) => {
                let allotment = self.verify_allotment(allotment, now)?;
                let site = PublicKey::from_paserk(&allotment.site_key).map_err(|_| {
                    VerifyError::Malformed {
                        reason: "the allotment's site key is not a k4.public key",
                    }
                })?;
                if site.id().as_str() != footer.kid {
                    return Err(VerifyError::Uncertified {
                        reason: "the site lease is not signed by its allotment's site key",
                    });
                }
                parsed.check(site.verifying_key())?;
                let claims: LeaseClaims =
                    claims::from_json(parsed.message(), "lease claims are malformed")?;
                claims.check_consistent()?;
                allotment
                    .covers(&claims)
                    .map_err(|reason| VerifyError::Uncertified { reason })?;
                (claims, site.id().clone())
            }
        };
        self.check_issuer(&claims.iss)?;
        self.check_product(&claims.product)?;
        self.check_revoked(&claims.lic, Some(&claims.binding))?;
        self.check_times(claims.iat, claims.nbf, now)?;
        if now >= claims.exp {
            return Err(VerifyError::LeaseEnded { at: claims.exp });
        }
        let device = self.check_binding(&claims.binding, device)?;
        Ok(VerifiedLease {
            claims,
            kid,
            device,
        })
    }

    /// Checks the site allotment `token` at `now`: signed by a trusted key (or, under a root, a
    /// key certified for leases and the allotment's product, its `exp` within the bound), for
    /// this issuer and product, its license not revoked, and `now` before its `exp`
    /// ([`VerifyError::LeaseEnded`] after: no lease of that site holds any more). Its site
    /// binding is for the site server to check, not the application.
    pub fn verify_allotment(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<AllotmentClaims, VerifyError> {
        let (a, _, cert): (AllotmentClaims, KeyId, _) =
            self.open(token, "allotment claims are malformed")?;
        a.check_consistent()?;
        if let Some(cert) = &cert {
            allotment_in_scope(cert, &a, self.tolerance)
                .map_err(|reason| VerifyError::Uncertified { reason })?;
        }
        self.check_issuer(&a.iss)?;
        self.check_product(&a.product)?;
        self.check_revoked(&a.lic, None)?;
        self.check_times(a.iat, a.nbf, now)?;
        if now >= a.exp {
            return Err(VerifyError::LeaseEnded { at: a.exp });
        }
        Ok(a)
    }

    /// [`Verifier::verify_lease`] with the clock guarded, as [`Verifier::verify_guarded`].
    pub fn verify_lease_guarded(
        &self,
        token: &str,
        device: Option<&Fingerprint>,
        now: Timestamp,
        guard: &mut TimeGuard,
    ) -> Result<VerifiedLease, VerifyError> {
        self.guarded(now, guard, || self.verify_lease(token, device, now))
    }

    /// Refuses to answer for a license when a list at least as new as `seen` was accepted
    /// before (the builder's floor, or the guard's) but no list that new is loaded now.
    fn require_list(&self, seen: u64) -> Result<(), VerifyError> {
        let loaded = self.loaded_seq.unwrap_or(0);
        if loaded < seen {
            return Err(VerifyError::StaleRevocationList {
                current: seen,
                offered: loaded,
            });
        }
        Ok(())
    }

    /// Refuses to answer under a root older than version `seen`, which the application
    /// accepted before.
    fn require_root(&self, seen: u32) -> Result<(), VerifyError> {
        match &self.root {
            Some(root) if root.version() < seen => Err(VerifyError::Uncertified {
                reason: "the root in use is older than one this application already accepted: load the stored root, or follow GET /v1/root again",
            }),
            _ => Ok(()),
        }
    }

    /// Refuses to answer when a key revocation statement as new as `seen` was loaded before
    /// but is not now (its file deleted: that must not bring a revoked key back).
    fn require_key_revocations(&self, seen: u64) -> Result<(), VerifyError> {
        let loaded = self.key_revocations.as_ref().map_or(0, KeyRevocations::seq);
        if loaded < seen {
            return Err(VerifyError::Uncertified {
                reason: "the root's key revocations seen before are not loaded: load the stored statement, or fetch it again",
            });
        }
        Ok(())
    }

    /// Loads the root's statement of revoked issuing keys (`KeyRevocations`, as licd serves it
    /// with its revocation list): tokens and lists those keys signed are refused from then on.
    /// Refused when the root in use did not sign it with its threshold, or when it is older
    /// than one `guard` has seen. A newer statement resets the revocation list's floor to the
    /// one it states (a stolen key may have pushed it up) and drops a list a revoked key
    /// signed. Records it in `guard`; persist the guard and the statement.
    pub fn load_key_revocations_guarded(
        &mut self,
        json: &str,
        guard: &mut TimeGuard,
    ) -> Result<u64, VerifyError> {
        let Some(root) = &self.root else {
            return Err(VerifyError::Uncertified {
                reason: "key revocations are signed by a root, and this verifier trusts none",
            });
        };
        self.require_root(guard.root_version)?;
        let statement = KeyRevocations::from_json(json, root)?;
        let floor = guard
            .key_revocation_seq
            .max(self.key_revocations.as_ref().map_or(0, KeyRevocations::seq));
        if statement.seq() < floor {
            return Err(VerifyError::Uncertified {
                reason: "the key revocations are older than ones already seen",
            });
        }
        if statement.seq() > guard.key_revocation_seq {
            if self
                .list_kid
                .as_deref()
                .is_some_and(|kid| statement.revokes(kid))
            {
                self.revoked.clear();
                self.loaded_seq = None;
                self.list_kid = None;
            }
            let kept = self.loaded_seq.unwrap_or(0);
            let list_floor = statement.list_floor().max(kept);
            self.revocation_seq = list_floor;
            guard.revocation_seq = list_floor;
            guard.key_revocation_seq = statement.seq();
        }
        let seq = statement.seq();
        self.key_revocations = Some(statement);
        Ok(seq)
    }

    /// Moves the trusted root forward along `documents` (licd's `GET /v1/root`, oldest first;
    /// versions not newer than the trusted one are skipped): each must be signed by the
    /// threshold of the version before it and of its own keys. Records the version reached in
    /// `guard`, and returns the new root when it changed: store its document
    /// ([`Root::to_json`]) beside the guard and build the verifier with it next time. A
    /// verifier that trusts no root, or a chain that breaks, changes nothing.
    pub fn update_root<'a>(
        &mut self,
        documents: impl IntoIterator<Item = &'a str>,
        guard: &mut TimeGuard,
    ) -> Result<Option<&Root>, VerifyError> {
        let Some(current) = &self.root else {
            return Err(VerifyError::Uncertified {
                reason: "this verifier trusts keys, not a root: there is no root to update",
            });
        };
        self.require_root(guard.root_version)?;
        let next = current.follow(documents)?;
        let changed = next.version() > current.version();
        guard.root_version = guard.root_version.max(next.version());
        if !changed {
            return Ok(None);
        }
        self.root = Some(next);
        self.certificates = CertificateCache::default();
        Ok(self.root.as_ref())
    }

    /// The root this verifier trusts, if any.
    pub fn root(&self) -> Option<&Root> {
        self.root.as_ref()
    }

    /// [`Verifier::verify_guarded`] at the system clock's time.
    #[cfg(feature = "std")]
    pub fn verify_now(
        &self,
        token: &str,
        device: Option<&Fingerprint>,
        guard: &mut TimeGuard,
    ) -> Result<VerifiedLicense, VerifyError> {
        self.verify_guarded(token, device, Timestamp::now(), guard)
    }

    /// Loads a signed revocation list, replacing the current one if it is newer.
    ///
    /// Returns its sequence number; persist it and pass it to
    /// [`VerifierBuilder::min_revocation_seq`] next time, so an old list cannot be swapped back in.
    /// A list with the current sequence number is accepted again (it is the same list, or the
    /// issuer's signature says it is).
    pub fn load_revocations(&mut self, token: &str) -> Result<u64, VerifyError> {
        self.load_revocations_above(token, self.revocation_seq)
    }

    /// Loads `token` if its sequence number is at least `floor` (and the current one).
    fn load_revocations_above(&mut self, token: &str, floor: u64) -> Result<u64, VerifyError> {
        let (list, kid, cert): (RevocationClaims, KeyId, _) =
            self.open(token, "revocation list claims are malformed")?;
        if cert.is_some_and(|c| !c.grant().purposes.contains(Purpose::RevocationLists)) {
            return Err(VerifyError::Uncertified {
                reason: "the certificate does not grant revocation lists",
            });
        }
        self.check_issuer(&list.iss)?;
        let floor = floor.max(self.revocation_seq);
        if list.seq < floor {
            return Err(VerifyError::StaleRevocationList {
                current: floor,
                offered: list.seq,
            });
        }
        self.revocation_seq = list.seq;
        self.loaded_seq = Some(list.seq);
        self.list_kid = Some(kid.as_str().into());
        self.revoked = list.revoked.into_iter().collect();
        Ok(self.revocation_seq)
    }

    /// [`Verifier::load_revocations`], refusing any list older than the newest one `guard` has
    /// seen and recording the one loaded in it. Persist the guard afterwards: it is the one blob
    /// that carries both the latest time and the newest revocation list seen.
    pub fn load_revocations_guarded(
        &mut self,
        token: &str,
        guard: &mut TimeGuard,
    ) -> Result<u64, VerifyError> {
        let seq = self.load_revocations_above(token, guard.revocation_seq)?;
        guard.revocation_seq = guard.revocation_seq.max(seq);
        Ok(seq)
    }

    /// The sequence number of the revocation list in use (or the minimum given to the builder).
    pub fn revocation_seq(&self) -> u64 {
        self.revocation_seq
    }

    /// The sequence number of the revocation list actually loaded, or `None` when none was
    /// (whatever the builder's minimum).
    pub fn loaded_revocation_seq(&self) -> Option<u64> {
        self.loaded_seq
    }

    /// Picks the key (through the footer's certificate when a root is trusted and the token
    /// carries one, else by the footer's kid among the keys trusted directly), checks the
    /// signature, and parses the claims. Gives the certificate back for the scope checks.
    fn open<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        what: &'static str,
    ) -> Result<(T, KeyId, Option<Arc<Certificate>>), VerifyError> {
        let parsed = Parsed::new(token, b"")?;
        let footer: Footer<'_> = claims::from_json(parsed.footer(), "footer is not {\"kid\":…}")?;
        if footer.site.is_some() {
            // A site server's key signs leases of its allotment and nothing else.
            return Err(VerifyError::Uncertified {
                reason: "signed by a site server, which signs leases only",
            });
        }
        self.open_parsed(&parsed, &footer, what)
    }

    /// [`Verifier::open`] of a token already parsed, its footer read.
    fn open_parsed<T: serde::de::DeserializeOwned>(
        &self,
        parsed: &Parsed,
        footer: &Footer<'_>,
        what: &'static str,
    ) -> Result<(T, KeyId, Option<Arc<Certificate>>), VerifyError> {
        let direct = self.keys.iter().find(|k| k.id().as_str() == footer.kid);
        let certified = match (&self.root, &footer.cert) {
            (Some(root), Some(cert)) => match self.certificates.check(root, cert) {
                Ok(c) => Some(c),
                // A key the application trusts directly needs no certificate: a token it
                // signed under another root (before a rotation) still verifies by its key.
                Err(_) if direct.is_some() => None,
                Err(e) => return Err(e),
            },
            _ => None,
        };
        let key = match &certified {
            Some(cert) if cert.key().id().as_str() != footer.kid => {
                return Err(VerifyError::Uncertified {
                    reason: "the footer's key id is not the certified key's",
                });
            }
            Some(cert) => cert.key(),
            None => match direct {
                Some(key) => key,
                None if self.root.is_some() => {
                    return Err(VerifyError::Uncertified {
                        reason: "the token carries no certificate and its key is not trusted directly",
                    });
                }
                None => {
                    return Err(VerifyError::UnknownKey {
                        kid: footer.kid.chars().take(64).collect(),
                    });
                }
            },
        };
        if self
            .key_revocations
            .as_ref()
            .is_some_and(|r| r.revokes(key.id().as_str()))
        {
            return Err(VerifyError::Uncertified {
                reason: "signed by an issuing key the root has revoked",
            });
        }
        parsed.check(key.verifying_key())?;
        let claims = claims::from_json(parsed.message(), what)?;
        Ok((claims, key.id().clone(), certified))
    }

    fn check_issuer(&self, iss: &str) -> Result<(), VerifyError> {
        match &self.issuer {
            Some(expected) if iss != expected => Err(VerifyError::WrongIssuer {
                expected: expected.clone(),
                found: iss.into(),
            }),
            _ => Ok(()),
        }
    }

    fn check_claims(&self, c: &Claims, now: Timestamp) -> Result<(), VerifyError> {
        self.check_issuer(&c.iss)?;
        self.check_product(&c.product)?;
        self.check_revoked(&c.jti, c.binding.as_ref())?;
        self.check_times(c.iat, c.nbf, now)
    }

    fn check_product(&self, product: &str) -> Result<(), VerifyError> {
        match &self.product {
            Some(expected) if product != expected => Err(VerifyError::WrongProduct {
                expected: expected.clone(),
                found: product.into(),
            }),
            _ => Ok(()),
        }
    }

    /// Refuses license `jti` when it, or its device binding, is on the revocation list.
    fn check_revoked(&self, jti: &str, binding: Option<&Binding>) -> Result<(), VerifyError> {
        if self.revoked.contains(jti)
            || binding.is_some_and(|b| self.revoked.contains(&b.revocation_id(jti)))
        {
            return Err(VerifyError::Revoked { jti: jti.into() });
        }
        Ok(())
    }

    /// Refuses a clock far behind the signing time (`iat`: it was set back), and a time before
    /// `nbf`.
    fn check_times(
        &self,
        iat: Timestamp,
        nbf: Timestamp,
        now: Timestamp,
    ) -> Result<(), VerifyError> {
        if now.add_secs(self.tolerance) < iat {
            return Err(VerifyError::ClockRollback {
                last_seen: iat,
                now,
            });
        }
        if now < nbf {
            return Err(VerifyError::NotYetValid {
                not_before: nbf,
                now,
            });
        }
        Ok(())
    }

    fn check_device(
        &self,
        c: &Claims,
        device: Option<&Fingerprint>,
    ) -> Result<Option<MatchResult>, VerifyError> {
        match &c.binding {
            Some(binding) => self.check_binding(binding, device),
            None if self.skip_device => Ok(None),
            None => match self.binding {
                BindingRequirement::Required => Err(VerifyError::NotBound),
                BindingRequirement::Optional => Ok(None),
            },
        }
    }

    /// How `device` matches `binding` (`None` when the device check is skipped), or why not.
    fn check_binding(
        &self,
        binding: &Binding,
        device: Option<&Fingerprint>,
    ) -> Result<Option<MatchResult>, VerifyError> {
        if self.skip_device {
            return Ok(None);
        }
        let result = match device {
            Some(d) => binding.check(d, self.policy),
            None => MatchResult {
                matched: 0,
                bound: 0,
                required: 1,
                anchored: false,
            },
        };
        if result.holds() {
            Ok(Some(result))
        } else {
            Err(VerifyError::DeviceMismatch { result })
        }
    }
}

/// Whether `cert` covers the license `c`: the licenses purpose, its product, an `exp` no later
/// than the certificate allows, and a signing time (`iat`) within the certificate's validity
/// (give or take `tolerance` seconds). The `exp` bound is what limits a leaked key: its thief
/// chooses `iat`. The reason when not.
pub(crate) fn license_in_scope(
    cert: &Certificate,
    c: &Claims,
    tolerance: i64,
) -> Result<(), &'static str> {
    in_scope(cert, &LICENSE_SCOPE, &c.product, c.exp, c.iat, tolerance)
}

/// [`license_in_scope`] for a lease: the leases purpose.
pub(crate) fn lease_in_scope(
    cert: &Certificate,
    c: &LeaseClaims,
    tolerance: i64,
) -> Result<(), &'static str> {
    in_scope(cert, &LEASE_SCOPE, &c.product, c.exp, c.iat, tolerance)
}

/// [`license_in_scope`] for a site allotment: the leases purpose (it lets a site sign leases).
pub(crate) fn allotment_in_scope(
    cert: &Certificate,
    a: &AllotmentClaims,
    tolerance: i64,
) -> Result<(), &'static str> {
    in_scope(cert, &ALLOTMENT_SCOPE, &a.product, a.exp, a.iat, tolerance)
}

/// What a kind of token needs from a certificate, and the reasons it gives.
struct Scope {
    purpose: Purpose,
    no_purpose: &'static str,
    no_product: &'static str,
    late_exp: &'static str,
    outside: &'static str,
}

const LICENSE_SCOPE: Scope = Scope {
    purpose: Purpose::Licenses,
    no_purpose: "the certificate does not grant licenses",
    no_product: "the certificate does not cover the license's product",
    late_exp: "the license's exp is later than its certificate allows",
    outside: "the license was signed outside its certificate's validity",
};

const ALLOTMENT_SCOPE: Scope = Scope {
    purpose: Purpose::Leases,
    no_purpose: "the certificate does not grant leases, nor site allotments",
    no_product: "the certificate does not cover the allotment's product",
    late_exp: "the allotment's exp is later than its certificate allows",
    outside: "the allotment was signed outside its certificate's validity",
};

const LEASE_SCOPE: Scope = Scope {
    purpose: Purpose::Leases,
    no_purpose: "the certificate does not grant leases",
    no_product: "the certificate does not cover the lease's product",
    late_exp: "the lease's exp is later than its certificate allows",
    outside: "the lease was signed outside its certificate's validity",
};

fn in_scope(
    cert: &Certificate,
    scope: &Scope,
    product: &str,
    exp: Timestamp,
    iat: Timestamp,
    tolerance: i64,
) -> Result<(), &'static str> {
    let g = cert.grant();
    if !g.purposes.contains(scope.purpose) {
        return Err(scope.no_purpose);
    }
    if !g.allows_product(product) {
        return Err(scope.no_product);
    }
    if exp > g.max_exp {
        return Err(scope.late_exp);
    }
    if iat < g.not_before.add_secs(-tolerance) || iat > g.not_after.add_secs(tolerance) {
        return Err(scope.outside);
    }
    Ok(())
}

/// The certificates a verifier has checked against its root, by a digest of their encoding:
/// a token whose certificate was seen costs a digest and a lookup, not the root's signatures.
/// Shared by every thread that verifies with the verifier, behind a spin lock (`no_std`); a
/// handful of entries, the oldest dropped first.
#[derive(Default)]
struct CertificateCache(spin::Mutex<Vec<([u8; 32], Arc<Certificate>)>>);

/// Certificates a verifier remembers: more than the issuing keys an ISV has in the field.
const CACHED_CERTIFICATES: usize = 16;

impl CertificateCache {
    fn check(&self, root: &Root, encoded: &str) -> Result<Arc<Certificate>, VerifyError> {
        let digest = Certificate::digest(encoded.as_bytes());
        if let Some((_, cert)) = self.0.lock().iter().find(|(d, _)| *d == digest) {
            return Ok(cert.clone());
        }
        let cert = Certificate::decode(encoded)?;
        root.check(&cert)?;
        let cert = Arc::new(cert);
        let mut cache = self.0.lock();
        if cache.len() >= CACHED_CERTIFICATES {
            cache.remove(0);
        }
        cache.push((digest, cert.clone()));
        Ok(cert)
    }
}

impl Clone for CertificateCache {
    fn clone(&self) -> Self {
        CertificateCache(spin::Mutex::new(self.0.lock().clone()))
    }
}

impl fmt::Debug for CertificateCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateCache")
            .field("checked", &self.0.lock().len())
            .finish()
    }
}

fn status_at(c: &Claims, now: Timestamp) -> LicenseStatus {
    if now >= c.freeze_until {
        LicenseStatus::Expired {
            since: c.freeze_until,
        }
    } else if c.status == TokenStatus::Frozen || now >= c.exp {
        LicenseStatus::Frozen {
            until: c.freeze_until,
        }
    } else if c.status == TokenStatus::Floating {
        // Check-ins are the leases' business: a floating license asks for a lease.
        LicenseStatus::LeaseRequired { expires_at: c.exp }
    } else if let Some(by) = c.check_in_by.filter(|&by| now >= by) {
        LicenseStatus::CheckInRequired { since: by }
    } else {
        LicenseStatus::Active { expires_at: c.exp }
    }
}

/// The verifier's persisted state: the latest time the application has seen, so a clock set
/// back is noticed, and the newest revocation list it has loaded, so an older one cannot be put
/// back.
///
/// The application persists it between runs ([`TimeGuard::encode`] / [`TimeGuard::decode`]),
/// ideally somewhere the user does not casually edit. Deleting the file resets it: the guard
/// catches a clock turned back or a list swapped on a machine that keeps its state; it is not
/// tamper-proof storage, and no offline check can be (the owner of the machine can restore a
/// whole disk image).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeGuard {
    last_seen: Timestamp,
    tolerance: i64,
    revocation_seq: u64,
    /// The newest root version the application accepted ([`Verifier::update_root`]).
    root_version: u32,
    /// The newest statement of the root's key revocations loaded.
    key_revocation_seq: u64,
}

impl Default for TimeGuard {
    fn default() -> Self {
        TimeGuard::new(Timestamp::from_unix(0))
    }
}

impl TimeGuard {
    /// A guard that has seen `last_seen`, with the default tolerance.
    pub fn new(last_seen: Timestamp) -> Self {
        TimeGuard {
            last_seen,
            tolerance: DEFAULT_CLOCK_TOLERANCE,
            revocation_seq: 0,
            root_version: 0,
            key_revocation_seq: 0,
        }
    }

    /// The number of the newest statement of the root's key revocations loaded.
    pub fn key_revocation_seq(&self) -> u64 {
        self.key_revocation_seq
    }

    /// The same guard having loaded key revocation statement `seq`.
    #[must_use]
    pub fn with_key_revocation_seq(mut self, seq: u64) -> Self {
        self.key_revocation_seq = seq;
        self
    }

    /// The newest root version accepted: a verifier with an older root is refused, so a stored
    /// root deleted (the application falls back to the one it embeds) does not bring back a
    /// root that was replaced, possibly because its keys were exposed.
    pub fn root_version(&self) -> u32 {
        self.root_version
    }

    /// The same guard having accepted root version `version`.
    #[must_use]
    pub fn with_root_version(mut self, version: u32) -> Self {
        self.root_version = version;
        self
    }

    /// The sequence number of the newest revocation list seen.
    pub fn revocation_seq(&self) -> u64 {
        self.revocation_seq
    }

    /// The same guard having seen revocation list `seq` (for state kept in another form, such
    /// as the C ABI's `CvState`).
    #[must_use]
    pub fn with_revocation_seq(mut self, seq: u64) -> Self {
        self.revocation_seq = seq;
        self
    }

    /// The same guard with another tolerance in seconds.
    #[must_use]
    pub fn with_tolerance(mut self, secs: i64) -> Self {
        self.tolerance = secs.max(0);
        self
    }

    /// The latest time seen.
    pub fn last_seen(&self) -> Timestamp {
        self.last_seen
    }

    /// Refuses `now` if it lies behind the latest time seen by more than the tolerance;
    /// otherwise records it.
    pub fn check(&mut self, now: Timestamp) -> Result<(), VerifyError> {
        if now.add_secs(self.tolerance) < self.last_seen {
            return Err(VerifyError::ClockRollback {
                last_seen: self.last_seen,
                now,
            });
        }
        self.observe(now);
        Ok(())
    }

    /// Records a time known to have passed (never moves backwards).
    pub fn observe(&mut self, t: Timestamp) {
        self.last_seen = self.last_seen.max(t);
    }

    /// The persisted form: `tg2.<unix seconds>.<revocation seq>` (`tg1.<unix seconds>` while no
    /// revocation list was loaded, as earlier versions wrote it); under a root,
    /// `tg3.<unix seconds>.<revocation seq>.<root version>.<key revocations seq>`.
    pub fn encode(&self) -> String {
        if self.root_version > 0 || self.key_revocation_seq > 0 {
            return alloc::format!(
                "tg3.{}.{}.{}.{}",
                self.last_seen.unix(),
                self.revocation_seq,
                self.root_version,
                self.key_revocation_seq
            );
        }
        if self.revocation_seq == 0 {
            return alloc::format!("tg1.{}", self.last_seen.unix());
        }
        alloc::format!("tg2.{}.{}", self.last_seen.unix(), self.revocation_seq)
    }

    /// Reads [`TimeGuard::encode`]'s forms back (`tg1`, `tg2` and `tg3`), with the default
    /// tolerance.
    pub fn decode(s: &str) -> Option<Self> {
        fn number<T: core::str::FromStr>(s: &str) -> Option<T> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        }
        let s = s.trim();
        if let Some(secs) = s.strip_prefix("tg1.") {
            return Some(TimeGuard::new(Timestamp::from_unix(number(secs)?)));
        }
        if let Some(rest) = s.strip_prefix("tg3.") {
            let mut parts = rest.split('.');
            let (secs, seq, root, keys) =
                (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() {
                return None;
            }
            return Some(
                TimeGuard::new(Timestamp::from_unix(number(secs)?))
                    .with_revocation_seq(number(seq)?)
                    .with_root_version(number(root)?)
                    .with_key_revocation_seq(number(keys)?),
            );
        }
        let (secs, seq) = s.strip_prefix("tg2.")?.split_once('.')?;
        Some(TimeGuard::new(Timestamp::from_unix(number(secs)?)).with_revocation_seq(number(seq)?))
    }
}

impl LicenseStatus {
    /// The status's name in the language bindings: `active`, `frozen`, `expired`,
    /// `check_in_required` or `lease_required`.
    pub fn name(&self) -> &'static str {
        match self {
            LicenseStatus::Active { .. } => "active",
            LicenseStatus::Frozen { .. } => "frozen",
            LicenseStatus::Expired { .. } => "expired",
            LicenseStatus::CheckInRequired { .. } => "check_in_required",
            LicenseStatus::LeaseRequired { .. } => "lease_required",
        }
    }

    /// The time the status names: the end of the paid period (`active`, `lease_required`), of
    /// the freeze window (`frozen`, `expired`), or the check-in deadline that passed.
    pub fn at(&self) -> Timestamp {
        match *self {
            LicenseStatus::Active { expires_at } | LicenseStatus::LeaseRequired { expires_at } => {
                expires_at
            }
            LicenseStatus::Frozen { until } => until,
            LicenseStatus::Expired { since } | LicenseStatus::CheckInRequired { since } => since,
        }
    }
}

impl fmt::Display for LicenseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LicenseStatus::Active { expires_at } => write!(f, "active until {expires_at}"),
            LicenseStatus::Frozen { until } => write!(f, "frozen until {until}"),
            LicenseStatus::Expired { since } => write!(f, "expired since {since}"),
            LicenseStatus::CheckInRequired { since } => {
                write!(
                    f,
                    "check-in required since {since}: connect to the internet"
                )
            }
            LicenseStatus::LeaseRequired { expires_at } => write!(
                f,
                "floating license until {expires_at}: runs on a lease of one of its seats"
            ),
        }
    }
}
