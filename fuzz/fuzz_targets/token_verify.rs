//! Token parsing and verification in `client-verifier`.
//!
//! Each input is tried two ways: as a token string (reaches the PASETO parser, base64url, the
//! footer and the signature check), and, when it looks like a JSON object, as the claims of a
//! token signed with the fixture key (reaches the strict JSON reader and every claim check).
//!
//! Invariants:
//! - a token that verifies is the one canonical encoding of what it signs: signing its message
//!   and footer again with the same key gives the same string;
//! - claims that verify survive a round trip: minted again, they verify to the same claims;
//! - the strict claim reader accepts nothing serde_json's plain reading of `Claims` refuses or
//!   reads differently;
//! - nothing verifies both as a license and as a lease, and a lease that verifies is in force
//!   and bound.
#![no_main]

use client_verifier::{Claims, LicenseStatus, Timestamp, VerifiedLicense, danger, mint, paseto};
use libfuzzer_sys::fuzz_target;
use licd_fuzz::{DEVICE, NOW, looks_like_object, secret_for, sign_message, verifier};

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        as_token(token);
    }
    if looks_like_object(data) {
        as_claims(data);
    }
});

fn as_token(token: &str) {
    let _ = danger::decode_unverified(token);
    let v = verifier();
    for device in [Some(&*DEVICE), None] {
        as_lease(&v, token, device);
        match v.verify(token, device, NOW) {
            Ok(license) => {
                check_verified(&license, NOW);
                let parts = danger::decode_unverified(token).expect("a verified token decodes");
                let key = secret_for(license.key_id().as_str()).expect("verified by a fixture key");
                let again = paseto::sign(key, &parts.message, &parts.footer, b"");
                assert_eq!(again, token, "a verified token is not in canonical form");
                round_trip(license.claims(), device);
            }
            Err(e) => {
                let _ = (e.name(), e.to_string());
            }
        }
    }
}

/// A lease and a license are never one token; a verified lease is in force.
fn as_lease(
    v: &client_verifier::Verifier,
    token: &str,
    device: Option<&client_verifier::Fingerprint>,
) {
    match v.verify_lease(token, device, NOW) {
        Ok(lease) => {
            let c = lease.claims();
            assert!(c.nbf <= NOW && NOW < c.exp, "a verified lease is not in force");
            assert!(
                v.verify(token, device, NOW).is_err(),
                "a token verified as a lease and as a license"
            );
        }
        Err(e) => {
            let _ = (e.name(), e.to_string());
        }
    }
    // A site allotment is neither a license nor a lease.
    if let Ok(a) = v.verify_allotment(token, NOW) {
        assert!(a.nbf <= NOW && NOW < a.exp && a.seats > 0);
        assert!(v.verify(token, device, NOW).is_err());
        assert!(v.verify_lease(token, device, NOW).is_err());
    }
}

fn as_claims(message: &[u8]) {
    let token = sign_message(message);
    as_lease(&verifier(), &token, Some(&DEVICE));
    match verifier().verify(&token, Some(&DEVICE), NOW) {
        Ok(license) => {
            check_verified(&license, NOW);
            let lenient: Claims =
                serde_json::from_slice(message).expect("strict reader accepted what serde refuses");
            assert_eq!(
                &lenient,
                license.claims(),
                "strict and plain readings differ"
            );
            round_trip(license.claims(), Some(&DEVICE));
        }
        Err(e) => {
            let _ = (e.name(), e.to_string());
        }
    }
}

/// The status agrees with the claims' times.
fn check_verified(license: &VerifiedLicense, now: Timestamp) {
    let c = license.claims();
    assert!(c.nbf <= c.exp && c.exp <= c.freeze_until && c.revision >= 1);
    match license.status() {
        LicenseStatus::Active { expires_at } => assert!(now < expires_at && expires_at == c.exp),
        LicenseStatus::Frozen { until } => assert!(now < until && until == c.freeze_until),
        LicenseStatus::Expired { since } => assert!(now >= since && since == c.freeze_until),
        _ => {}
    }
}

/// Minted again with the fixture key, the claims verify to themselves.
fn round_trip(claims: &Claims, device: Option<&client_verifier::Fingerprint>) {
    let Ok(token) = mint(&licd_fuzz::CURRENT, claims) else {
        return; // too long for the marketplace: refused at minting, fine
    };
    let again = verifier()
        .verify(&token, device, NOW)
        .unwrap_or_else(|e| panic!("re-minted claims do not verify: {e}"));
    assert_eq!(again.claims(), claims, "claims changed across mint/verify");
}
