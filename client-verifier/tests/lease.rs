//! Floating licenses on the verifier's side: a floating license token is not permission to run
//! (`LeaseRequired`), a lease is checked like a license against its machine, and neither is
//! ever taken for the other. One test per attack.
#![cfg(feature = "sign")]

use client_verifier::{
    Binding, Certificate, Claims, Fingerprint, Grant, LeaseClaims, LicenseStatus, Purpose,
    Purposes, RevocationClaims, Root, SecretKey, TimeGuard, Timestamp, TokenStatus, Verifier,
    VerifyError, mint, mint_certified, mint_lease, sign_revocations,
};

const HOME: &str = "04:7C:16:5E:E3:5D|SN-HOME|BOARD-HOME|BFEBFBFF00090672";
const ELSEWHERE: &str = "0A:11:22:33:44:55|SN-ELSE|BOARD-ELSE|BFEBFBFF00090672";

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn now() -> Timestamp {
    t("2026-06-01T12:00:00Z")
}

fn fp(s: &str) -> Fingerprint {
    Fingerprint::parse(s).unwrap()
}

/// The floating license: 5 seats, unbound, status `floating`.
fn floating() -> Claims {
    let mut c = Claims::new(
        "acme",
        "cust",
        "lic-f",
        "P1",
        "sku",
        "order",
        t("2026-01-01T00:00:00Z"),
        t("2027-01-01T00:00:00Z"),
        t("2027-01-16T00:00:00Z"),
    );
    c.status = TokenStatus::Floating;
    c.quantity = 5;
    c.entitlements
        .insert("export".into(), serde_json::Value::Bool(true));
    c
}

/// A ten-minute lease of seat 2 of `lic-f` for instance `cad@ws7:4242` on HOME.
fn lease() -> LeaseClaims {
    let mut l = LeaseClaims::new(
        "acme",
        "lease-1",
        "lic-f",
        "P1",
        "sku",
        2,
        "cad@ws7:4242",
        Binding::new(&fp(HOME), [9; 8]),
        now(),
        now().add_secs(600),
    );
    l.entitlements
        .insert("export".into(), serde_json::Value::Bool(true));
    l
}

fn verifier(key: &SecretKey) -> Verifier {
    Verifier::builder()
        .trust(key.public_key().clone())
        .issuer("acme")
        .product("P1")
        .build()
}

#[test]
fn a_floating_license_is_not_permission_to_run_and_its_lease_is() {
    let key = SecretKey::generate().unwrap();
    let v = Verifier::builder()
        .trust(key.public_key().clone())
        .issuer("acme")
        .product("P1")
        .binding(client_verifier::BindingRequirement::Optional)
        .build();
    let license = v
        .verify(&mint(&key, &floating()).unwrap(), None, now())
        .unwrap();
    assert_eq!(
        license.status(),
        LicenseStatus::LeaseRequired {
            expires_at: t("2027-01-01T00:00:00Z")
        }
    );
    assert!(!license.is_active());
    // Past its paid period it freezes like any license.
    let later = v
        .verify(
            &mint(&key, &floating()).unwrap(),
            None,
            t("2027-01-05T00:00:00Z"),
        )
        .unwrap();
    assert!(matches!(later.status(), LicenseStatus::Frozen { .. }));

    let l = verifier(&key)
        .verify_lease(
            &mint_lease(&key, None, &lease()).unwrap(),
            Some(&fp(HOME)),
            now(),
        )
        .unwrap();
    assert_eq!(l.expires_at(), now().add_secs(600));
    assert_eq!((l.claims().lic.as_str(), l.claims().seat), ("lic-f", 2));
    assert!(l.feature("export"));
}

#[test]
fn a_lease_is_refused_as_a_license_and_a_license_as_a_lease() {
    let key = SecretKey::generate().unwrap();
    let v = verifier(&key);
    let lease = mint_lease(&key, None, &lease()).unwrap();
    assert!(matches!(
        v.verify(&lease, Some(&fp(HOME)), now()),
        Err(VerifyError::Malformed { .. })
    ));
    // A license whose claims say "lease" is refused too, and cannot be minted.
    let mut disguised = floating();
    disguised.status = TokenStatus::Lease;
    assert!(mint(&key, &disguised).is_err());
    let forged = client_verifier::paseto::sign(
        &key,
        &serde_json::to_vec(&disguised).unwrap(),
        format!("{{\"kid\":\"{}\"}}", key.public_key().id().as_str()).as_bytes(),
        b"",
    );
    assert!(matches!(
        v.verify(&forged, None, now()),
        Err(VerifyError::Malformed { .. })
    ));
    for license in [
        mint(&key, &floating()).unwrap(),
        mint(
            &key,
            &Claims::new(
                "acme",
                "c",
                "lic-n",
                "P1",
                "s",
                "o",
                now(),
                now().add_secs(86_400),
                now().add_secs(2 * 86_400),
            ),
        )
        .unwrap(),
    ] {
        assert!(matches!(
            v.verify_lease(&license, Some(&fp(HOME)), now()),
            Err(VerifyError::Malformed { .. })
        ));
    }
}

/// What a verifier built before floating licenses does with both: it reads the status claim as
/// a closed set, so it refuses the floating license and the lease alike.
#[test]
fn verifiers_built_before_leases_refuse_both_tokens() {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    #[serde(rename_all = "lowercase")]
    enum OldStatus {
        Active,
        Frozen,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct OldClaims {
        status: OldStatus,
    }
    let key = SecretKey::generate().unwrap();
    for token in [
        mint(&key, &floating()).unwrap(),
        mint_lease(&key, None, &lease()).unwrap(),
    ] {
        let message = client_verifier::paseto::verify(key.public_key(), &token, b"")
            .unwrap()
            .message;
        assert!(serde_json::from_slice::<OldClaims>(&message).is_err());
    }
}

#[test]
fn a_lease_on_another_machine_for_another_product_or_ended_is_refused() {
    let key = SecretKey::generate().unwrap();
    let token = mint_lease(&key, None, &lease()).unwrap();
    let v = verifier(&key);
    assert!(matches!(
        v.verify_lease(&token, Some(&fp(ELSEWHERE)), now()),
        Err(VerifyError::DeviceMismatch { .. })
    ));
    assert!(matches!(
        v.verify_lease(&token, None, now()),
        Err(VerifyError::DeviceMismatch { .. })
    ));
    let other_product = Verifier::builder()
        .trust(key.public_key().clone())
        .issuer("acme")
        .product("P2")
        .build();
    assert!(matches!(
        other_product.verify_lease(&token, Some(&fp(HOME)), now()),
        Err(VerifyError::WrongProduct { .. })
    ));
    assert_eq!(
        v.verify_lease(&token, Some(&fp(HOME)), now().add_secs(600)),
        Err(VerifyError::LeaseEnded {
            at: now().add_secs(600)
        })
    );
    // A clock set back to before the lease was signed is caught.
    assert!(matches!(
        v.verify_lease(&token, Some(&fp(HOME)), now().add_secs(-2 * 86_400)),
        Err(VerifyError::ClockRollback { .. })
    ));
    let mut guard = TimeGuard::new(now().add_secs(300));
    assert!(
        v.verify_lease_guarded(&token, Some(&fp(HOME)), now(), &mut guard)
            .is_ok()
    );
    assert_eq!(
        guard.last_seen(),
        now().add_secs(300),
        "the guard never moves back"
    );
    let mut guard = TimeGuard::new(now().add_secs(3 * 86_400));
    assert!(matches!(
        v.verify_lease_guarded(&token, Some(&fp(HOME)), now(), &mut guard),
        Err(VerifyError::ClockRollback { .. })
    ));
}

#[test]
fn forged_altered_or_revoked_leases_are_refused() {
    let key = SecretKey::generate().unwrap();
    let token = mint_lease(&key, None, &lease()).unwrap();
    // Another key's lease.
    let thief = SecretKey::generate().unwrap();
    let forged = mint_lease(&thief, None, &lease()).unwrap();
    let v = verifier(&key);
    assert!(v.verify_lease(&forged, Some(&fp(HOME)), now()).is_err());
    // One byte of the claims changed (the seat, the expiry: the signature no longer holds).
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut body = parts[2].clone().into_bytes();
    body[20] = if body[20] == b'A' { b'B' } else { b'A' };
    parts[2] = String::from_utf8(body).unwrap();
    assert!(
        v.verify_lease(&parts.join("."), Some(&fp(HOME)), now())
            .is_err()
    );
    // The license revoked: its leases stop too.
    let mut v = verifier(&key);
    let list = sign_revocations(
        &key,
        &RevocationClaims::new("acme", now(), 3, vec!["lic-f".into()]),
    );
    v.load_revocations(&list).unwrap();
    assert_eq!(
        v.verify_lease(&token, Some(&fp(HOME)), now()),
        Err(VerifyError::Revoked {
            jti: "lic-f".into()
        })
    );
}

#[test]
fn under_a_root_a_lease_needs_a_certificate_that_grants_leases() {
    let root_key = SecretKey::generate().unwrap();
    let root = Root::sign(1, 1, &[root_key.public_key().clone()], &[&root_key]).unwrap();
    let root = Root::from_json(root.to_json()).unwrap();
    let issuing = SecretKey::generate().unwrap();
    let grant = |purposes: Purposes| Grant {
        key: issuing.public_key().clone(),
        not_before: t("2026-01-01T00:00:00Z"),
        not_after: t("2027-01-01T00:00:00Z"),
        max_exp: t("2028-01-01T00:00:00Z"),
        purposes,
        products: vec!["P1".into()],
    };
    let v = Verifier::builder()
        .trust_root(root)
        .issuer("acme")
        .product("P1")
        .build();
    let with_leases = Certificate::sign(grant(Purposes::DEFAULT), &[&root_key]).unwrap();
    let token = mint_lease(&issuing, Some(&with_leases), &lease()).unwrap();
    assert!(v.verify_lease(&token, Some(&fp(HOME)), now()).is_ok());
    // A certificate for licenses only: licd will not mint the lease, and a forger's is refused.
    let licenses_only =
        Certificate::sign(grant(Purposes::of(&[Purpose::Licenses])), &[&root_key]).unwrap();
    assert!(matches!(
        mint_lease(&issuing, Some(&licenses_only), &lease()),
        Err(client_verifier::MintError::Uncertified { .. })
    ));
    let forged = client_verifier::paseto::sign(
        &issuing,
        &serde_json::to_vec(&lease()).unwrap(),
        format!(
            "{{\"kid\":\"{}\",\"cert\":\"{}\"}}",
            issuing.public_key().id().as_str(),
            licenses_only.encode()
        )
        .as_bytes(),
        b"",
    );
    assert!(matches!(
        v.verify_lease(&forged, Some(&fp(HOME)), now()),
        Err(VerifyError::Uncertified { .. })
    ));
    // The floating license itself verifies through a licenses certificate, as LeaseRequired.
    let license = mint_certified(&issuing, &licenses_only, &floating()).unwrap();
    let v = Verifier::builder()
        .trust_root(
            Root::from_json(
                Root::sign(1, 1, &[root_key.public_key().clone()], &[&root_key])
                    .unwrap()
                    .to_json(),
            )
            .unwrap(),
        )
        .binding(client_verifier::BindingRequirement::Optional)
        .build();
    assert!(matches!(
        v.verify(&license, None, now()).unwrap().status(),
        LicenseStatus::LeaseRequired { .. }
    ));
}
